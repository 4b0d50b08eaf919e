#pragma once
// What the job manager needs from the kernel side: the sensor implements it,
// tests fake it.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"

namespace fts::jobs {

class KernelJobs {
 public:
  virtual ~KernelJobs() = default;
  virtual Status track(uint32_t tgid, uint64_t start_ticks, uint64_t job_id, uint32_t policy) = 0;
  virtual Status untrack(uint32_t tgid) = 0;
  // The job the kernel holds the process (tgid, start_ticks) in; nothing for
  // a task it does not track, or for a recycled pid (another start time).
  virtual std::optional<uint64_t> job_of(uint32_t tgid, uint64_t start_ticks) const = 0;
  // Replaces the launcher basenames (exec of one starts a job of its policy).
  virtual Status set_launchers(const std::map<std::string, uint32_t>& names) = 0;
  virtual Status set_cgroup_job(uint64_t cgroup_id, uint64_t job_id, uint32_t policy) = 0;
  virtual Status clear_cgroup_job(uint64_t cgroup_id) = 0;
  // Untracked execs are sent only when some launcher glob needs user space.
  virtual Status set_report_all_exec(bool on) = 0;
  // Reload: every tracked task and cgroup job whose policy id is a key of
  // `ids` gets the mapped id, each in one map update.
  virtual Status retag(const std::map<uint32_t, uint32_t>& ids) = 0;
};

}  // namespace fts::jobs
