#pragma once
// Policy reload (SIGHUP, `ftsentinel reload`): the config and every policy
// are loaded anew and checked, the kernel-side content compiled, all before
// anything running is touched; then the new set goes in at once. Any error
// leaves the running policies exactly as they were.
//
// Kernel side: the new set gets kernel ids the running one does not use. Its
// egress entries and modes are written next to the old ones, then every
// tracked task and cgroup job is retagged to its policy's new id (one map
// update each), then the old ids' entries go. A task's lookups therefore see
// its old policy or its new one, complete, never a mix.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "egress/egress.h"
#include "jobs/jobs.h"
#include "watch/watch.h"
#include "writers/identity.h"

namespace fts::reload {

struct Outcome {
  bool applied = false;
  std::vector<std::string> errors;    // file:line:column: field: what
  std::vector<std::string> warnings;  // same; and settings that need a restart
  std::vector<std::string> notes;     // what happened to running jobs
  std::vector<std::string> policies;  // running after the reload (applied or not)
  std::vector<std::string> policy_files;  // "NAME FILE sha256:HEX" of the same
  v1::DaemonConfig daemon;            // the config read (when applied)
};

// Daemon settings a reload cannot change live: one "needs restart" warning each.
std::vector<std::string> needs_restart(const v1::DaemonConfig& running, const v1::DaemonConfig& next);

class Reloader {
 public:
  struct Parts {
    jobs::JobManager* jobs;
    egress::Egress* egress;
    watch::Watcher* watcher;
    writers::Identity* writers = nullptr;  // null: the writer names stay as they are
  };
  explicit Reloader(Parts parts) : parts_(parts) {}

  // Loads `config_file` and switches to it. `running` is the daemon config in
  // use (compared for settings that need a restart). Jobs that started or
  // ended with the new policies are appended to `changes`.
  Outcome reload(const std::string& config_file, const v1::DaemonConfig& running,
                 std::vector<jobs::JobChange>* changes);

  // Writes a checked set to the kernel and moves the jobs to it, in the
  // order above. Start-up installs its first set through here too; on error
  // the caller refuses (reload) or stops (start-up).
  Status install(std::shared_ptr<const policy::PolicySet> set, std::vector<jobs::JobChange>* changes,
                 std::vector<std::string>* notes);
  uint64_t generation() const { return generation_; }
  size_t watched_inodes() const { return watched_; }  // after the last install

 private:
  Parts parts_;
  uint64_t generation_ = 1;
  size_t watched_ = 0;
};

}  // namespace fts::reload
