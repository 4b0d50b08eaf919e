#include "render/process_view.h"

#include "common/redact.h"
#include "jobs/run_identity.h"
#include "render/fields.h"

namespace fts::render {

namespace {
constexpr size_t kMaxAncestry = 16;
}

bool ProcessViews::fresh(const View& v, const state::Process& p) const {
  if (v.generation != generation_ || v.parent != p.parent || v.exe != p.exe) return false;
  // An ancestor the table learned since (from /proc) lengthens the ancestry.
  return !v.unknown_ancestor.valid() || !procs_->find(v.unknown_ancestor);
}

v1::Process* ProcessViews::mutable_of(const state::Process& p) {
  View& v = views_[p.key];
  if (!fresh(v, p)) render(p, &v);
  return &v.process;
}

state::ProcKey render_process(const state::Process& p, const state::ProcessTable& procs,
                              state::CgroupTable* cgroups, v1::Process* out) {
  out->Clear();
  out->set_pid(p.key.tgid);
  out->set_start_time(boot_time(p.start_ns));
  out->set_start_ticks(p.key.start_ticks);  // exact: the journal review's identity key
  out->set_ppid(p.parent.tgid);
  out->set_exe(p.exe);
  if (!p.loaded_program.empty()) out->set_loaded_program(p.loaded_program);
  for (const auto& a : p.args) out->add_args(a);
  out->set_uid(p.uid);
  out->set_gid(p.gid);
  out->set_euid(p.euid);
  out->set_egid(p.egid);
  out->set_cwd(p.cwd);
  if (p.cgroup_id) {
    out->mutable_cgroup()->set_id(p.cgroup_id);
    if (cgroups) out->mutable_cgroup()->set_path(cgroups->path(p.cgroup_id));
  }
  for (const auto& f : p.flags) out->add_flags(f);
  if (!p.run_env.empty()) {
    jobs::Rank r = jobs::rank_of_env(p.run_env);
    if (r.rank) out->set_rank(*r.rank);
    if (r.local_rank) out->set_local_rank(*r.local_rank);
    if (r.world_size) out->set_world_size(*r.world_size);
  }
  // ProcessTable::ancestry's walk, without its vector, telling where it stopped.
  state::ProcKey next = p.parent;
  for (size_t n = 0; n < kMaxAncestry && next.valid(); ++n) {
    const state::Process* a = procs.find(next);
    if (!a) return next;
    auto* anc = out->add_ancestry();
    anc->set_pid(a->key.tgid);
    anc->set_exe(a->exe);
    anc->set_start_time(boot_time(a->start_ns));
    if (a->parent == a->key) break;
    next = a->parent;
  }
  return {};
}

void ProcessViews::render(const state::Process& p, View* v) {
  ++renders_;
  v->generation = generation_;
  v->parent = p.parent;
  v->exe = p.exe;
  v->unknown_ancestor = render_process(p, *procs_, cgroups_, &v->process);
  if (!redact_ || v->process.args().empty()) return;
  std::vector<std::string> args(v->process.args().begin(), v->process.args().end());
  if (!redact_args(&args)) return;
  v->process.clear_args();
  for (auto& a : args) v->process.add_args(std::move(a));
  v->process.set_redacted(true);
}

void ProcessViews::changed(const state::ProcKey& k, bool with_descendants) {
  const state::Process* p = with_descendants ? procs_->find(k) : nullptr;
  if (p && p->live_children > 0) {
    ++generation_;  // descendants' ancestry names it: rare enough to start over
    return;
  }
  views_.erase(k);
}

void ProcessViews::trim() {
  if (views_.size() > capacity_) views_.clear();  // processes outside jobs leave no exit record
}

}  // namespace fts::render
