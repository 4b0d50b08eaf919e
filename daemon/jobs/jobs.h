#pragma once
// Jobs: which process trees are watched, under which policy. A job starts by
// `ftsentinel run`, by a launcher exec (`jobs.exec`), or by a cgroup
// (`jobs.cgroup`); membership is inherited in the kernel, and this module
// keeps the user-space view: ids, labels, live members, start and end.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "policy/policy.h"
#include "decode/records.h"
#include "ftsentinel/v1/state.pb.h"
#include "jobs/kernel_jobs.h"
#include "state/cgroups.h"
#include "state/process_table.h"

namespace fts::jobs {

enum class StartedBy { kRun, kExec, kCgroup };
const char* to_string(StartedBy s);

// A GPU or RDMA device a job's processes opened; held until the job ends.
struct JobDevice {
  std::string path;  // the node as first opened
  decode::DeviceClass cls = decode::DeviceClass::kGpu;
  uint32_t major = 0, minor = 0;
  uint64_t opens = 0;  // (process, node, access) opens reported
  uint64_t first_wall_ns = 0;
};

struct Job {
  uint64_t id = 0;
  std::string policy;
  uint32_t policy_index = 0;
  std::string mode;
  std::string name;
  StartedBy started_by = StartedBy::kRun;
  uint64_t start_wall_ns = 0;
  uint64_t end_wall_ns = 0;
  state::ProcKey root;
  uint64_t cgroup_id = 0;  // cgroup jobs
  std::map<std::string, std::string> labels;
  std::string run;         // the cluster-wide run (jobs/run_identity.h)
  std::string run_source;  // cgroup | env | run_id | job: which rule named it
  std::unordered_set<state::ProcKey, state::ProcKeyHash> members;  // live processes
  bool cgroup_removed = false;
  bool ended = false;
  std::map<std::pair<uint32_t, uint32_t>, JobDevice> devices;  // (major, minor) -> what it holds
  size_t live() const { return members.size(); }
  bool holds(uint32_t major, uint32_t minor) const { return devices.count({major, minor}) > 0; }
};

// The run a job is part of, for metrics and device reports: Job::run
// (jobs/run_identity.h), else its name.
std::string run_of(const Job& j);

std::string job_id_string(uint64_t id);  // 16 hex digits

// The run a record of `p` (null: unknown) in job `j` belongs to: the job's
// when its cgroup named it, else the run p's own environment named at exec,
// else the job's (jobs/run_identity.h).
const std::string& run_of(const Job& j, const state::Process* p);

// What changed, for the pipeline to report.
struct JobChange {
  enum Kind { kStarted, kEnded } kind;
  const Job* job;
};

class JobManager {
 public:
  JobManager(KernelJobs* kernel, state::ProcessTable* procs, state::CgroupTable* cgroups,
             std::string proc_root);

  // Installs a policy set: launcher names into the kernel, cgroup jobs for
  // existing cgroups that match, and existing launcher processes from /proc.
  void apply(std::shared_ptr<const policy::PolicySet> policies, std::vector<JobChange>* changes);
  const policy::PolicySet& policies() const { return *policies_; }
  std::shared_ptr<const policy::PolicySet> policies_ptr() const { return policies_; }

  // Reload: the policies of the new set that running jobs must keep because
  // their name is gone from it (to be retained by the set before it is used).
  std::vector<std::shared_ptr<const policy::Policy>> orphaned_policies(const policy::PolicySet& next) const;
  // Reload: running jobs move to the policy of the same name in `next`, and
  // the kernel's tasks and cgroup jobs are retagged by next->aliases() (old
  // id -> new id); then `next` is applied like at start. `notes` says what
  // happened to each running job.
  void rebind(std::shared_ptr<const policy::PolicySet> next, std::vector<JobChange>* changes,
              std::vector<std::string>* notes);

  // `ftsentinel run`: `pid` (verified by the caller) becomes the root of a new job.
  // `run_id`: `--run-id`, the run when neither the cgroup nor the environment names one.
  Result<const Job*> register_run(uint32_t pid, uint64_t start_ticks, const std::string& policy,
                                  const std::string& name, std::vector<JobChange>* changes,
                                  const std::string& run_id = "");

  // The live job the process (pid, start_ticks) is already in, or null: the
  // kernel's membership (inherited at fork, never late), else the table's.
  // `ftsentinel run` from inside a job stays in that job (app/registration.cc).
  const Job* member_of(uint32_t pid, uint64_t start_ticks) const;

  // Kernel records, after the process table saw them. An exec that starts a
  // job in user space (a launcher glob the kernel cannot match) gets its job id.
  void on_exec(decode::Exec& e, std::vector<JobChange>* changes);
  void on_fork(const decode::Fork& f, std::vector<JobChange>* changes);
  void on_exit(const decode::Exit& e, std::vector<JobChange>* changes);
  void on_cgroup(const decode::Cgroup& c, std::vector<JobChange>* changes);
  // A job process opened a GPU or RDMA device: the job holds it from now on.
  void on_device(const decode::Device& d);

  // Restart: the live jobs as they are saved under the state dir, and a
  // saved job put back (after apply): its live processes and their children
  // (forked while no daemon ran) tracked again under its id and policy. An
  // exec or cgroup job that apply found again is returned as it is; null:
  // the job ended while the daemon was down, or its policy is gone (`why`).
  v1::JobRegistry saved() const;
  const Job* restore(const v1::SavedJob& s, std::string* why);

  const Job* find(uint64_t id) const;
  std::vector<const Job*> list(bool include_ended) const;
  // The live jobs, oldest first, without a copy: what rules scan per event.
  const std::vector<const Job*>& live() const { return live_; }
  size_t live_count() const;

 private:
  // `changes` null: a restored job, not reported as started again.
  Job& start_job(uint64_t id, const policy::Policy& p, StartedBy by, state::ProcKey root,
                 const std::string& name, std::vector<JobChange>* changes);
  std::vector<state::ProcKey> alive(const v1::SavedJob& s) const;
  void end_job(Job& j, std::vector<JobChange>* changes);
  void add_labels(Job& j, uint32_t pid);
  void name_run(Job& j, const std::string& cgroup, const std::string& run_id);
  void track_tree(uint32_t root_pid, uint64_t job_id, uint32_t policy, Job& j);
  void match_cgroup(uint64_t id, const std::string& path, std::vector<JobChange>* changes);
  const policy::Policy* exec_policy(const decode::Exec& e) const;
  void forget_ended();
  void join(uint64_t job_id, const state::ProcKey& k);
  void leave(uint64_t job_id, const state::ProcKey& k, std::vector<JobChange>* changes);
  bool rejected(uint64_t job_id, uint32_t tgid);

  KernelJobs* kernel_;
  state::ProcessTable* procs_;
  state::CgroupTable* cgroups_;
  std::string proc_root_;
  std::shared_ptr<const policy::PolicySet> policies_;
  bool user_space_launchers_ = false;
  std::unordered_map<uint64_t, std::unique_ptr<Job>> jobs_;
  std::vector<uint64_t> ended_order_;
  std::vector<const Job*> live_;  // started, not ended; in start order
  std::unordered_set<uint64_t> rejected_;  // kernel launcher matches the full glob refused  // ended jobs kept for `jobs --all`, oldest first
};

}  // namespace fts::jobs
