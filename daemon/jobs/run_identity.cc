#include "jobs/run_identity.h"

#include <algorithm>
#include <charconv>
#include <regex>
#include <vector>

namespace fts::jobs {
namespace {

std::optional<uint32_t> number(const RunEnv& env, const char* name) {
  auto it = env.find(name);
  if (it == env.end() || it->second.empty()) return std::nullopt;
  uint32_t v = 0;
  const char* end = it->second.data() + it->second.size();
  auto [p, ec] = std::from_chars(it->second.data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

std::string value(const RunEnv& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

bool digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

CgroupRun run_of_cgroup(const std::string& path) {
  CgroupRun out;
  // cgroup/v2 plugin: /system.slice/[NODE_]slurmstepd.scope/job_N/step_S/user/task_T
  static const std::regex kSlurm("slurmstepd\\.scope/job_([0-9]+)(?:/step_([A-Za-z0-9_]+))?");
  // systemd driver: kubepods[-QOS]-pod<UID with _>.slice; cgroupfs driver: /kubepods/QOS/pod<UID>
  static const std::regex kPod("pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})");
  static const std::regex kContainer("(?:cri-containerd-|crio-|docker-|/)([0-9a-f]{64})(?:\\.scope)?(?:/|$)");
  std::smatch m;
  if (std::regex_search(path, m, kSlurm)) {
    out.run = "slurm:" + m[1].str();
    out.labels["slurm_job_id"] = m[1];
    if (m[2].matched) out.labels["slurm_step"] = m[2];
    return out;
  }
  if (std::regex_search(path, m, kPod)) {
    std::string uid = m[1];
    std::replace(uid.begin(), uid.end(), '_', '-');
    out.labels["k8s_pod_uid"] = uid;
    if (std::regex_search(path, m, kContainer)) out.labels["k8s_container_id"] = m[1];
  }
  return out;
}

std::string run_of_env(const RunEnv& env) {
  if (std::string j = value(env, "SLURM_JOB_ID"); digits(j)) return "slurm:" + j;
  if (std::string t = value(env, "TORCHELASTIC_RUN_ID"); !t.empty() && t != "none") return "torchelastic:" + t;
  return "";
}

std::string run_of_args(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string id;
    for (const char* flag : {"--rdzv_id", "--rdzv-id"}) {
      std::string f = flag;
      if (a == f && i + 1 < args.size()) id = args[i + 1];
      else if (a.rfind(f + "=", 0) == 0) id = a.substr(f.size() + 1);
    }
    if (!id.empty() && id != "none") return "torchelastic:" + id;
  }
  return "";
}

std::map<std::string, std::string> env_labels(const RunEnv& env) {
  static const std::pair<const char*, const char*> kLabels[] = {{"SLURM_JOB_ID", "slurm_job_id"},
                                                                 {"SLURM_CLUSTER_NAME", "slurm_cluster"},
                                                                 {"TORCHELASTIC_RUN_ID", "torchelastic_run_id"},
                                                                 {"MASTER_ADDR", "master_addr"},
                                                                 {"MASTER_PORT", "master_port"}};
  std::map<std::string, std::string> out;
  for (const auto& [var, label] : kLabels)
    if (std::string v = value(env, var); !v.empty()) out[label] = v;
  return out;
}

Rank rank_of_env(const RunEnv& env) {
  Rank r;
  r.rank = number(env, "RANK");
  if (!r.rank) r.rank = number(env, "SLURM_PROCID");
  r.local_rank = number(env, "LOCAL_RANK");
  r.world_size = number(env, "WORLD_SIZE");
  return r;
}

const std::vector<std::string>& run_variable_names() {
  static const std::vector<std::string> kNames = {"SLURM_JOB_ID", "SLURM_CLUSTER_NAME", "SLURM_PROCID",
                                                  "TORCHELASTIC_RUN_ID", "RANK", "LOCAL_RANK",
                                                  "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                                                  "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "HF_MODULES_CACHE",
                                                  "HF_HOME", "HOME"};
  return kNames;
}

}  // namespace fts::jobs
