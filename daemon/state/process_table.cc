#include "state/process_table.h"

#include <filesystem>

#include "state/loader.h"

namespace fts::state {

Process* ProcessTable::find(const ProcKey& k) {
  auto it = procs_.find(k);
  return it == procs_.end() ? nullptr : &it->second;
}

const Process* ProcessTable::find(const ProcKey& k) const {
  auto it = procs_.find(k);
  return it == procs_.end() ? nullptr : &it->second;
}

Process* ProcessTable::find_tgid(uint32_t tgid) {
  auto it = by_tgid_.find(tgid);
  if (it == by_tgid_.end()) return nullptr;
  Process* p = find(it->second);
  return p && !p->exited ? p : nullptr;
}

Process& ProcessTable::insert(const ProcKey& k) {
  auto [it, fresh] = procs_.try_emplace(k);
  if (fresh) {
    it->second.key = k;
    by_tgid_[k.tgid] = k;
  }
  return it->second;
}

void ProcessTable::link_parent(Process& child) {
  if (Process* parent = find(child.parent)) parent->live_children++;
}

Process& ProcessTable::on_fork(const decode::Fork& f) {
  ProcKey k = key_of(f.hdr.task);
  bool known = procs_.count(k) != 0;
  Process& p = insert(k);
  p.parent = key_of(f.parent);
  p.start_ns = f.hdr.task.start_ns;
  p.cgroup_id = f.hdr.cgroup_id;
  p.job_id = f.hdr.job_id;
  // A child runs its parent's image until it execs.
  if (const Process* parent = find(p.parent)) {
    p.exe = parent->exe;
    p.args = parent->args;
    p.cwd = parent->cwd;
    p.uid = parent->uid, p.gid = parent->gid, p.euid = parent->euid, p.egid = parent->egid;
    p.flags = parent->flags;
    p.run_env = parent->run_env;
    p.run_env_seen = parent->run_env_seen;
  }
  if (!known) link_parent(p);
  return p;
}

Process& ProcessTable::on_exec(const decode::Exec& e) {
  ProcKey k = key_of(e.hdr.task);
  bool known = procs_.count(k) != 0;
  Process& p = insert(k);
  if (!known || !p.parent.valid()) {
    p.parent = key_of(e.parent);
    if (!known) link_parent(p);
  }
  p.start_ns = e.hdr.task.start_ns;
  p.exe = e.exe;
  p.script.clear();
  if (!e.filename.empty() && e.filename != e.exe) {
    std::filesystem::path run(e.filename);
    if (run.is_relative() && !e.cwd.empty()) run = std::filesystem::path(e.cwd) / run;
    p.script = run.lexically_normal().string();
    if (p.script == e.exe) p.script.clear();
  }
  p.loaded_program.clear();
  if (auto run = loader_run(e); run && !run->program.empty()) p.script = p.loaded_program = run->program;
  p.args = e.args;
  p.cwd = e.cwd;
  p.uid = e.uid, p.gid = e.gid, p.euid = e.euid, p.egid = e.egid;
  p.cgroup_id = e.hdr.cgroup_id;
  if (e.hdr.job_id) p.job_id = e.hdr.job_id;
  p.run_env = e.run_env;  // the kernel scans job tasks only: outside a job, unknown
  p.run_env_seen = e.hdr.job_id != 0;
  p.flags.clear();
  if (e.exe_flags.truncated) p.flags.push_back("exe_truncated");
  if (e.exe_flags.deleted) p.flags.push_back("exe_deleted");
  if (e.exe_flags.internal) p.flags.push_back("exe_internal");
  if (e.args_truncated) p.flags.push_back("args_truncated");
  if (e.env_truncated) p.flags.push_back("env_scan_truncated");
  return p;
}

void ProcessTable::on_exit(const ProcKey& k) {
  Process* p = find(k);
  if (!p) return;
  p->exited = true;
  if (p->live_children == 0) reap(k);
}

void ProcessTable::reap(ProcKey k) {
  // Walk up: a parent that already exited goes once its last child has.
  for (int guard = 0; guard < 4096; ++guard) {
    auto it = procs_.find(k);
    if (it == procs_.end()) return;
    ProcKey parent = it->second.parent;
    auto bt = by_tgid_.find(k.tgid);
    if (bt != by_tgid_.end() && bt->second == k) by_tgid_.erase(bt);
    procs_.erase(it);
    Process* pp = find(parent);
    if (!pp) return;
    if (pp->live_children) pp->live_children--;
    if (!pp->exited || pp->live_children) return;
    k = parent;
  }
}

Process& ProcessTable::add(Process p) {
  bool known = procs_.count(p.key) != 0;
  Process& slot = insert(p.key);
  uint32_t children = slot.live_children;
  uint64_t job = slot.job_id;
  slot = std::move(p);
  slot.live_children = children;
  if (!slot.job_id) slot.job_id = job;
  if (!known) {
    link_parent(slot);
    // Children read before their parent: count them now.
    for (auto& [k, other] : procs_)
      if (other.parent == slot.key && !other.exited) slot.live_children++;
  }
  return slot;
}

std::vector<const Process*> ProcessTable::ancestry(const Process& p, size_t max) const {
  std::vector<const Process*> out;
  ProcKey k = p.parent;
  while (out.size() < max && k.valid()) {
    const Process* q = find(k);
    if (!q) break;
    out.push_back(q);
    if (q->parent == q->key) break;
    k = q->parent;
  }
  return out;
}

size_t ProcessTable::sweep(const std::function<bool(const ProcKey&)>& alive) {
  std::vector<ProcKey> gone;
  for (const auto& [k, p] : procs_)
    if (!p.job_id && !p.exited && !alive(k)) gone.push_back(k);
  for (const auto& k : gone) on_exit(k);
  return gone.size();
}

}  // namespace fts::state
