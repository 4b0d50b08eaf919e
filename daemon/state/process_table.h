#pragma once
// Every process the daemon knows, by identity (tgid, start): job processes
// from kernel records, their ancestors from /proc. Exited processes stay while
// they have live descendants, so ancestry survives a double fork.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "decode/records.h"

namespace fts::state {

struct ProcKey {
  uint32_t tgid = 0;
  uint64_t start_ticks = 0;  // /proc/PID/stat field 22
  bool operator==(const ProcKey&) const = default;
  bool valid() const { return tgid != 0; }
};

struct ProcKeyHash {
  size_t operator()(const ProcKey& k) const {
    return std::hash<uint64_t>()((uint64_t{k.tgid} << 40) ^ k.start_ticks);
  }
};

inline ProcKey key_of(const decode::TaskId& t) { return ProcKey{t.tgid, t.start_ticks()}; }

struct Process {
  ProcKey key;
  ProcKey parent;
  uint64_t start_ns = 0;  // boot-time ns (tick precision when read from /proc)
  std::string exe;
  std::string script;  // the file exec'd, when it is not exe: a script its interpreter reads
  std::string loaded_program;  // the exe is the dynamic loader: the program it runs (state/loader.h)
  std::vector<std::string> args;
  std::string cwd;
  uint32_t uid = 0, gid = 0, euid = 0, egid = 0;
  uint64_t cgroup_id = 0;
  uint64_t job_id = 0;
  std::vector<std::string> flags;  // exe_deleted, exe_memfd, args_truncated, …
  // The run variables of its environment as the kernel read them at its exec
  // in a job (inherited at fork); never re-read from /proc, so a process that
  // writes over its environment keeps its run and rank (jobs/run_identity.h).
  std::map<std::string, std::string> run_env;
  bool run_env_seen = false;  // run_env is the kernel's (possibly empty), not unknown
  bool exited = false;
  uint32_t live_children = 0;
};

class ProcessTable {
 public:
  explicit ProcessTable(size_t capacity = 1 << 16) : capacity_(capacity) {}

  Process* find(const ProcKey& k);
  const Process* find(const ProcKey& k) const;
  // The live process with this pid, if known.
  Process* find_tgid(uint32_t tgid);

  // Kernel records. Each returns the process it is about.
  Process& on_fork(const decode::Fork& f);
  Process& on_exec(const decode::Exec& e);
  // Marks the process exited and reaps what no live descendant needs.
  void on_exit(const ProcKey& k);

  // Adds or refreshes a process read from /proc (parent linked if known).
  Process& add(Process p);

  // Parent first, at most `max` entries; stops at the first unknown parent.
  std::vector<const Process*> ancestry(const Process& p, size_t max = 16) const;

  // Drops processes that are neither in a job nor alive per `alive`
  // (used with /proc: the kernel does not report exits outside jobs).
  size_t sweep(const std::function<bool(const ProcKey&)>& alive);

  size_t size() const { return procs_.size(); }

 private:
  Process& insert(const ProcKey& k);
  void link_parent(Process& child);
  void reap(ProcKey k);

  size_t capacity_;
  std::unordered_map<ProcKey, Process, ProcKeyHash> procs_;
  std::unordered_map<uint32_t, ProcKey> by_tgid_;  // the newest process with a pid
};

}  // namespace fts::state
