#pragma once
// A run: what one training run is across the cluster (a Slurm job, a torchrun
// rendezvous, a Kubernetes pod), the key a SIEM and `ftsentinel review` group
// every node's records by. Derived, in this order of trust:
//   1. the cgroup the kernel put the job in, where it names the run: Slurm's
//      `…/slurmstepd.scope/job_<N>/step_<S>` is "slurm:<N>". A Kubernetes pod
//      (`…pod<UID>…/cri-containerd-<ID>.scope`) is one pod of a run: its UID
//      and container id are labels, and the run only when 2. names none;
//   2. the environment the kernel read at exec: SLURM_JOB_ID ("slurm:<N>"),
//      else TORCHELASTIC_RUN_ID when not "none" ("torchelastic:<ID>"); for a
//      job's root, else torchrun's --rdzv_id in its argv (the same run);
//   3. `ftsentinel run --run-id ID` (as given);
//   4. the job alone ("job:<job id>").
// A process's rank comes from its own environment at exec: RANK, else
// SLURM_PROCID.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fts::jobs {

using RunEnv = std::map<std::string, std::string>;

// What a cgroup v2 path says: the run (Slurm only) and labels (slurm_job_id,
// slurm_step, k8s_pod_uid, k8s_container_id). Empty labels: neither.
struct CgroupRun {
  std::string run;
  std::map<std::string, std::string> labels;
};
CgroupRun run_of_cgroup(const std::string& path);

// The run an environment names (2. above); empty: none.
std::string run_of_env(const RunEnv& env);
// The run a torchrun launcher's argv names (--rdzv_id/--rdzv-id, not
// "none"): its workers' TORCHELASTIC_RUN_ID, so the launcher's own records
// carry the run its workers do. Empty: none.
std::string run_of_args(const std::vector<std::string>& args);
// Labels an environment adds to a job: slurm_job_id, slurm_cluster,
// torchelastic_run_id, master_addr, master_port (what it has of them).
std::map<std::string, std::string> env_labels(const RunEnv& env);

struct Rank {
  std::optional<uint32_t> rank, local_rank, world_size;
};
Rank rank_of_env(const RunEnv& env);

// The variables the kernel keeps (bpf/process.bpf.c's scan), for reading the
// same ones from /proc/PID/environ where no exec was seen.
const std::vector<std::string>& run_variable_names();

}  // namespace fts::jobs
