#include "jobs/jobs.h"

#include <pwd.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "common/glob.h"
#include "common/time.h"
#include "jobs/run_identity.h"
#include "state/proc.h"

namespace fts::jobs {
namespace {

constexpr size_t kEndedKept = 256;

// execve's file name made absolute against the caller's cwd, "." and ".." folded.
std::string absolute(const std::string& filename, const std::string& cwd) {
  if (filename.empty()) return "";
  std::filesystem::path p(filename);
  if (p.is_relative()) p = std::filesystem::path(cwd) / p;
  return p.lexically_normal().string();
}

std::vector<uint32_t> children_of(const std::string& proc_root, uint32_t pid) {
  std::vector<uint32_t> out;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(proc_root + "/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(t.path() / "children");
    uint32_t c;
    while (in >> c) out.push_back(c);
  }
  return out;
}

// What a running process was started as: argv[0], or for a script run by
// its interpreter (torchrun is python running /usr/bin/torchrun) the script,
// which is what execve was given and what the kernel matches at exec.
std::string launched_as(const state::Process& p) {
  if (p.args.empty()) return "";
  static const char* kInterpreters[] = {"python", "sh", "bash", "dash", "perl", "ruby", "node"};
  std::string exe = path_basename(p.exe);
  bool interpreter = false;
  for (const char* i : kInterpreters)
    if (exe.rfind(i, 0) == 0) interpreter = true;
  if (interpreter && p.args.size() > 1 && !p.args[1].empty() && p.args[1][0] != '-') return p.args[1];
  return p.args[0];
}

std::string label(const Job& j, const char* name) {
  auto it = j.labels.find(name);
  return it == j.labels.end() ? std::string() : it->second;
}

}  // namespace

const char* to_string(StartedBy s) {
  switch (s) {
    case StartedBy::kRun: return "run";
    case StartedBy::kExec: return "exec";
    case StartedBy::kCgroup: return "cgroup";
  }
  return "?";
}

const std::string& run_of(const Job& j, const state::Process* p) {
  if (j.run_source == "cgroup" || !p || p->run_env.empty()) return j.run;
  thread_local std::string env_run;  // the common case returns j.run without a copy
  env_run = run_of_env(p->run_env);
  return env_run.empty() ? j.run : env_run;
}

std::string job_id_string(uint64_t id) {
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

JobManager::JobManager(KernelJobs* kernel, state::ProcessTable* procs, state::CgroupTable* cgroups,
                       std::string proc_root)
    : kernel_(kernel), procs_(procs), cgroups_(cgroups), proc_root_(std::move(proc_root)),
      policies_(std::make_shared<policy::PolicySet>()) {}

void JobManager::apply(std::shared_ptr<const policy::PolicySet> policies, std::vector<JobChange>* changes) {
  policies_ = std::move(policies);
  std::map<std::string, uint32_t> launchers;
  user_space_launchers_ = false;
  for (const auto& p : policies_->all())
    for (const auto& g : p.spec.jobs().exec()) {
      std::string base = glob_literal_basename(g);
      if (base.empty()) user_space_launchers_ = true;
      else launchers.emplace(base, p.index);
    }
  if (auto st = kernel_->set_launchers(launchers); !st) spdlog::error("launchers: {}", st.error());
  if (auto st = kernel_->set_report_all_exec(user_space_launchers_); !st) spdlog::error("settings: {}", st.error());

  for (const auto& [id, path] : cgroups_->scan()) match_cgroup(id, path, changes);

  // Launchers that were already running when we started: the topmost process
  // of each matching chain is a job root.
  std::vector<state::ProcKey> roots;
  for (uint32_t pid : state::list_pids(proc_root_)) {
    state::Process* p = procs_->find_tgid(pid);
    if (!p || p->job_id) continue;
    decode::Exec probe;
    probe.exe = p->exe;
    probe.filename = launched_as(*p);
    probe.cwd = p->cwd;
    const policy::Policy* pol = exec_policy(probe);
    if (!pol) continue;
    const state::Process* parent = procs_->find(p->parent);
    if (parent && parent->job_id) continue;
    uint64_t id = decode::job_id_for(pid, p->start_ns);
    if (!kernel_->track(pid, p->key.start_ticks, id, pol->index)) continue;
    p->job_id = id;
    Job& j = start_job(id, *pol, StartedBy::kExec, p->key, path_basename(p->exe), changes);
    join(id, p->key);
    track_tree(pid, id, pol->index, j);
  }
}

std::vector<std::shared_ptr<const policy::Policy>> JobManager::orphaned_policies(
    const policy::PolicySet& next) const {
  std::vector<std::shared_ptr<const policy::Policy>> out;
  std::set<uint32_t> seen;
  for (const auto& [id, j] : jobs_) {
    if (j->ended || next.find(j->policy) || !seen.insert(j->policy_index).second) continue;
    if (const policy::Policy* p = policies_->at(j->policy_index))
      out.emplace_back(policies_, p);  // shares ownership of the set that holds it
  }
  return out;
}

void JobManager::rebind(std::shared_ptr<const policy::PolicySet> next, std::vector<JobChange>* changes,
                        std::vector<std::string>* notes) {
  // Every kernel entry under a policy that has a successor moves to it, even
  // one whose job this daemon has not heard of yet (a launcher exec still in
  // the ring buffer).
  const std::map<uint32_t, uint32_t>& ids = next->aliases();
  for (auto& [id, j] : jobs_) {
    if (j->ended) continue;
    const policy::Policy* p = next->find(j->policy);
    if (!p) {
      std::string why = "job " + job_id_string(id) + " (" + j->name + "): policy '" + j->policy +
                        "' is gone; the job keeps it until it ends";
      spdlog::warn("reload: {}", why);
      notes->push_back(why);
      continue;
    }
    j->policy_index = p->index;
    j->mode = p->spec.mode() == v1::enforce ? "enforce" : "monitor";
    notes->push_back("job " + job_id_string(id) + " (" + j->name + "): now under the reloaded policy '" + j->policy + "'");
  }
  // Ended jobs keep their old id; nothing reads it but `jobs --all`.
  if (auto st = kernel_->retag(ids); !st) spdlog::error("reload: retag running jobs: {}", st.error());
  apply(std::move(next), changes);
}

const policy::Policy* JobManager::exec_policy(const decode::Exec& e) const {
  std::string as_run = absolute(e.filename, e.cwd);
  for (const auto& p : policies_->all())
    for (const auto& g : p.spec.jobs().exec())
      if (glob_match(g, e.exe) || (!as_run.empty() && glob_match(g, as_run))) return &p;
  return nullptr;
}

Job& JobManager::start_job(uint64_t id, const policy::Policy& p, StartedBy by, state::ProcKey root,
                           const std::string& name, std::vector<JobChange>* changes) {
  auto& slot = jobs_[id];
  if (slot) std::erase(live_, slot.get());
  slot = std::make_unique<Job>();
  Job& j = *slot;
  j.id = id;
  j.policy = p.spec.name();
  j.policy_index = p.index;
  j.mode = p.spec.mode() == v1::enforce ? "enforce" : "monitor";
  j.name = name;
  j.started_by = by;
  j.start_wall_ns = now_wall_ns();
  j.root = root;
  j.labels["policy"] = j.policy;
  j.labels["name"] = j.name;
  if (root.valid()) add_labels(j, root.tgid);
  name_run(j, label(j, "cgroup"), "");
  if (changes) changes->push_back({JobChange::kStarted, &j});
  live_.push_back(&j);
  return j;
}

void JobManager::add_labels(Job& j, uint32_t pid) {
  if (const state::Process* p = procs_->find(j.root)) {
    if (passwd* pw = getpwuid(p->uid)) j.labels["user"] = pw->pw_name;
    else j.labels["user"] = std::to_string(p->uid);
  }
  std::string cg = state::read_cgroup_path(proc_root_, pid);
  if (!cg.empty()) j.labels["cgroup"] = cg;
}

// The job's run, from its cgroup, its root's environment (as the kernel read
// it at exec; /proc only for a root no exec of which was seen), or --run-id.
void JobManager::name_run(Job& j, const std::string& cgroup, const std::string& run_id) {
  CgroupRun c = run_of_cgroup(cgroup);
  for (const auto& [k, v] : c.labels) j.labels[k] = v;
  RunEnv env;
  std::string from_args;
  if (state::Process* p = procs_->find(j.root)) {
    if (!p->run_env_seen) {
      p->run_env = state::read_environ(proc_root_, j.root.tgid, run_variable_names());
      p->run_env_seen = true;
    }
    env = p->run_env;
    from_args = run_of_args(p->args);
  }
  for (const auto& [k, v] : env_labels(env)) j.labels.try_emplace(k, v);  // the cgroup's slurm_job_id wins
  std::string from_env = run_of_env(env);
  if (from_env.empty()) from_env = from_args;
  if (!c.run.empty()) j.run = c.run, j.run_source = "cgroup";
  else if (!from_env.empty()) j.run = from_env, j.run_source = "env";
  else if (!run_id.empty()) j.run = run_id, j.run_source = "run_id";
  else j.run = "job:" + job_id_string(j.id), j.run_source = "job";
}

std::string run_of(const Job& j) { return j.run.empty() ? j.name : j.run; }

void JobManager::on_device(const decode::Device& d) {
  auto it = jobs_.find(d.hdr.job_id);
  if (it == jobs_.end() || it->second->ended) return;
  JobDevice& held = it->second->devices[{d.major, d.minor}];
  if (held.opens++ == 0) {
    held.path = d.path;
    held.cls = d.cls;
    held.major = d.major;
    held.minor = d.minor;
    held.first_wall_ns = now_wall_ns();
  }
}

void JobManager::end_job(Job& j, std::vector<JobChange>* changes) {
  if (j.ended) return;
  j.ended = true;
  j.end_wall_ns = now_wall_ns();
  if (j.started_by == StartedBy::kCgroup) (void)kernel_->clear_cgroup_job(j.cgroup_id);  // best effort: gone anyway
  changes->push_back({JobChange::kEnded, &j});
  ended_order_.push_back(j.id);
  std::erase(live_, &j);
}

void JobManager::forget_ended() {
  while (ended_order_.size() > kEndedKept) {
    jobs_.erase(ended_order_.front());
    ended_order_.erase(ended_order_.begin());
  }
}

void JobManager::join(uint64_t job_id, const state::ProcKey& k) {
  auto it = jobs_.find(job_id);
  if (it != jobs_.end() && !it->second->ended) it->second->members.insert(k);
}

void JobManager::leave(uint64_t job_id, const state::ProcKey& k, std::vector<JobChange>* changes) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  Job& j = *it->second;
  j.members.erase(k);
  bool waits_for_cgroup = j.started_by == StartedBy::kCgroup && !j.cgroup_removed;
  if (j.members.empty() && !waits_for_cgroup) end_job(j, changes);
}

// The kernel matched a launcher by basename; a glob that says more (a
// directory) can refuse it. Its members are dropped as they show up.
bool JobManager::rejected(uint64_t job_id, uint32_t tgid) {
  if (!rejected_.count(job_id)) return false;
  (void)kernel_->untrack(tgid);  // cannot fail: a missing entry is the goal
  return true;
}

void JobManager::track_tree(uint32_t root_pid, uint64_t job_id, uint32_t policy, Job& j) {
  std::vector<uint32_t> stack = children_of(proc_root_, root_pid);
  for (size_t guard = 0; !stack.empty() && guard < 65536; ++guard) {
    uint32_t pid = stack.back();
    stack.pop_back();
    state::load_with_ancestors(proc_root_, pid, procs_);
    state::Process* p = procs_->find_tgid(pid);
    if (!p || p->job_id) continue;
    if (!kernel_->track(pid, p->key.start_ticks, job_id, policy)) continue;
    p->job_id = job_id;
    j.members.insert(p->key);
    for (uint32_t c : children_of(proc_root_, pid)) stack.push_back(c);
  }
}

Result<const Job*> JobManager::register_run(uint32_t pid, uint64_t start_ticks, const std::string& policy,
                                            const std::string& name, std::vector<JobChange>* changes,
                                            const std::string& run_id) {
  const policy::Policy* p = policies_->find(policy);
  if (!p) {
    std::string known;
    for (const auto& q : policies_->all()) known += (known.empty() ? "" : ", ") + q.spec.name();
    return make_error("unknown policy '" + policy + "' (loaded: " + (known.empty() ? "none" : known) + ")");
  }
  uint64_t id = decode::job_id_for(pid, start_ticks * decode::kNsPerTick);
  if (auto st = kernel_->track(pid, start_ticks, id, p->index); !st)
    return make_error("cannot watch process " + std::to_string(pid) + ": " + st.error());
  state::load_with_ancestors(proc_root_, pid, procs_);
  state::ProcKey key{pid, start_ticks};
  if (state::Process* proc = procs_->find(key)) proc->job_id = id;
  Job& j = start_job(id, *p, StartedBy::kRun, key, name, changes);
  if (!run_id.empty()) name_run(j, label(j, "cgroup"), run_id);
  join(id, key);
  return &j;
}

void JobManager::on_exec(decode::Exec& e, std::vector<JobChange>* changes) {
  state::ProcKey k = state::key_of(e.hdr.task);
  uint64_t id = e.hdr.job_id;
  if (id && rejected(id, k.tgid)) return;
  if (e.job_started) {
    const policy::Policy* p = policies_->at(e.policy);
    const policy::Policy* match = exec_policy(e);
    if (!p || match != p) {
      rejected_.insert(id);
      (void)kernel_->untrack(k.tgid);
      if (state::Process* proc = procs_->find(k)) proc->job_id = 0;
      return;
    }
    Job& j = start_job(id, *p, StartedBy::kExec, k, path_basename(absolute(e.filename, e.cwd)), changes);
    join(id, k);
    (void)j;
    return;
  }
  if (!id && user_space_launchers_) {
    // A child that exec'd before the daemon caught up with its user-space
    // launcher: the kernel reported the exec as outside any job, then
    // track_tree found the child under the new job's root.
    if (const state::Process* proc = procs_->find(k); proc && proc->job_id) {
      e.hdr.job_id = proc->job_id;
      join(proc->job_id, k);
      return;
    }
    const policy::Policy* p = exec_policy(e);
    if (!p) return;
    id = decode::job_id_for(k.tgid, e.hdr.task.start_ns);
    if (auto st = kernel_->track(k.tgid, k.start_ticks, id, p->index); !st) {
      spdlog::error("launcher {} (pid {}): cannot watch: {}", e.exe, k.tgid, st.error());
      return;
    }
    if (state::Process* proc = procs_->find(k)) proc->job_id = id;
    e.hdr.job_id = id;  // so this exec is reported as the job's first event
    Job& j = start_job(id, *p, StartedBy::kExec, k, path_basename(absolute(e.filename, e.cwd)), changes);
    join(id, k);
    track_tree(k.tgid, id, p->index, j);  // children forked before we caught up
    return;
  }
  if (id) join(id, k);
}

void JobManager::on_fork(const decode::Fork& f, std::vector<JobChange>*) {
  uint64_t id = f.hdr.job_id;
  if (!id || rejected(id, f.hdr.task.tgid)) return;
  join(id, state::key_of(f.hdr.task));
}

void JobManager::on_exit(const decode::Exit& e, std::vector<JobChange>* changes) {
  if (e.hdr.job_id) leave(e.hdr.job_id, state::key_of(e.hdr.task), changes);
  forget_ended();
}

void JobManager::match_cgroup(uint64_t id, const std::string& path, std::vector<JobChange>* changes) {
  uint64_t job_id = decode::kCgroupJobBit | id;
  if (jobs_.count(job_id)) return;
  for (const auto& p : policies_->all())
    for (const auto& g : p.spec.jobs().cgroup()) {
      if (!glob_match(g, path)) continue;
      if (!kernel_->set_cgroup_job(id, job_id, p.index)) return;
      Job& j = start_job(job_id, p, StartedBy::kCgroup, {}, path_basename(path), changes);
      j.cgroup_id = id;
      j.labels["cgroup"] = path;
      name_run(j, path, "");
      // Tasks already inside: from now on the kernel adds newcomers itself.
      std::ifstream procs(cgroups_->mount() + path + "/cgroup.procs");
      uint32_t pid;
      while (procs >> pid) {
        auto st = state::read_stat(proc_root_, pid);
        if (!st) continue;
        state::load_with_ancestors(proc_root_, pid, procs_);
        if (!kernel_->track(pid, st->start_ticks, job_id, p.index)) continue;
        state::ProcKey k{pid, st->start_ticks};
        if (state::Process* proc = procs_->find(k)) proc->job_id = job_id;
        j.members.insert(k);
        track_tree(pid, job_id, p.index, j);
      }
      return;
    }
}

void JobManager::on_cgroup(const decode::Cgroup& c, std::vector<JobChange>* changes) {
  switch (c.hdr.kind) {
    case decode::Kind::kCgroupMkdir:
      cgroups_->set(c.id, c.path);
      match_cgroup(c.id, c.path, changes);
      break;
    case decode::Kind::kCgroupRmdir: {
      cgroups_->erase(c.id);
      auto it = jobs_.find(decode::kCgroupJobBit | c.id);
      if (it != jobs_.end() && !it->second->ended) {
        it->second->cgroup_removed = true;
        if (it->second->members.empty()) end_job(*it->second, changes);
      }
      break;
    }
    case decode::Kind::kCgroupAttach:
      cgroups_->set(c.id, c.path);
      if (c.hdr.job_id && !rejected(c.hdr.job_id, c.hdr.task.tgid)) {
        state::load_with_ancestors(proc_root_, c.hdr.task.tgid, procs_);
        if (state::Process* p = procs_->find(state::key_of(c.hdr.task))) {
          p->job_id = c.hdr.job_id;
          p->cgroup_id = c.id;
        }
        join(c.hdr.job_id, state::key_of(c.hdr.task));
      }
      break;
    default:
      break;
  }
}

v1::JobRegistry JobManager::saved() const {
  v1::JobRegistry r;
  for (const Job* j : live_) {
    v1::SavedJob& s = *r.add_jobs();
    s.set_id(j->id);
    s.set_policy(j->policy);
    s.set_name(j->name);
    s.set_started_by(to_string(j->started_by));
    s.set_start_wall_ns(j->start_wall_ns);
    s.mutable_root()->set_tgid(j->root.tgid);
    s.mutable_root()->set_start_ticks(j->root.start_ticks);
    s.set_cgroup_id(j->cgroup_id);
    for (const auto& [k, v] : j->labels) (*s.mutable_labels())[k] = v;
    s.set_run(j->run);
    s.set_run_source(j->run_source);
    std::vector<state::ProcKey> members(j->members.begin(), j->members.end());
    std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.tgid < b.tgid; });
    for (const auto& m : members) {
      v1::SavedProcess& p = *s.add_members();
      p.set_tgid(m.tgid);
      p.set_start_ticks(m.start_ticks);
    }
  }
  return r;
}

// The saved processes that are still the same processes (pid and start time).
std::vector<state::ProcKey> JobManager::alive(const v1::SavedJob& s) const {
  std::vector<state::ProcKey> out;
  auto check = [&](const v1::SavedProcess& p) {
    auto st = state::read_stat(proc_root_, p.tgid());
    state::ProcKey k{p.tgid(), p.start_ticks()};
    if (p.tgid() && st && st->start_ticks == p.start_ticks() && std::find(out.begin(), out.end(), k) == out.end())
      out.push_back(k);
  };
  check(s.root());
  for (const auto& m : s.members()) check(m);
  return out;
}

const Job* JobManager::restore(const v1::SavedJob& s, std::string* why) {
  auto refuse = [why](std::string because) -> const Job* {
    *why = std::move(because);
    return nullptr;
  };
  if (const Job* found = find(s.id()); found && !found->ended) return found;
  if (s.started_by() == "cgroup") return refuse("its cgroup no longer matches a policy");
  const policy::Policy* p = policies_->find(s.policy());
  if (!p) return refuse("its policy '" + s.policy() + "' is gone");
  std::vector<state::ProcKey> keys = alive(s);
  if (keys.empty()) return refuse("it ended while the daemon was down");
  StartedBy by = s.started_by() == "exec" ? StartedBy::kExec : StartedBy::kRun;
  Job& j = start_job(s.id(), *p, by, {s.root().tgid(), s.root().start_ticks()}, s.name(), nullptr);
  j.start_wall_ns = s.start_wall_ns();
  for (const auto& [k, v] : s.labels()) j.labels[k] = v;
  if (!s.run().empty()) j.run = s.run(), j.run_source = s.run_source();
  for (const auto& k : keys) {
    state::load_with_ancestors(proc_root_, k.tgid, procs_);
    state::Process* proc = procs_->find(k);
    if (proc && proc->job_id && proc->job_id != j.id) continue;  // a job of its own now (a launcher)
    if (auto st = kernel_->track(k.tgid, k.start_ticks, j.id, p->index); !st) {
      spdlog::error("job {}: cannot watch process {} again: {}", job_id_string(j.id), k.tgid, st.error());
      continue;
    }
    if (proc) proc->job_id = j.id;
    j.members.insert(k);
    track_tree(k.tgid, j.id, p->index, j);  // children forked while no daemon ran
  }
  if (j.members.empty()) {
    std::erase(live_, &j);
    jobs_.erase(s.id());
    return refuse("none of its processes could be watched again");
  }
  return &j;
}

const Job* JobManager::member_of(uint32_t pid, uint64_t start_ticks) const {
  uint64_t id = kernel_->job_of(pid, start_ticks).value_or(0);
  if (!id)
    if (const state::Process* p = procs_->find({pid, start_ticks})) id = p->job_id;
  const Job* j = id ? find(id) : nullptr;
  return j && !j->ended ? j : nullptr;
}

const Job* JobManager::find(uint64_t id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second.get();
}

std::vector<const Job*> JobManager::list(bool include_ended) const {
  if (!include_ended) return live_;
  std::vector<const Job*> out;
  for (const auto& [id, j] : jobs_)
    if (include_ended || !j->ended) out.push_back(j.get());
  std::sort(out.begin(), out.end(), [](const Job* a, const Job* b) { return a->start_wall_ns < b->start_wall_ns; });
  return out;
}

size_t JobManager::live_count() const { return live_.size(); }

}  // namespace fts::jobs
