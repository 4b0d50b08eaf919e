#pragma once
// Processes as /proc shows them, for what started before the daemon, for a
// job root's ancestors, and to check that a pid still names the same process.
// `root` is "/proc" in production and a fake tree in tests.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "state/process_table.h"

namespace fts::state {

struct ProcStat {
  uint32_t ppid = 0;
  uint64_t start_ticks = 0;
};

Result<ProcStat> read_stat(const std::string& root, uint32_t pid);
// The cgroup v2 path ("0::/a/b" -> "/a/b"), or "" on a v1-only host.
std::string read_cgroup_path(const std::string& root, uint32_t pid);
std::map<std::string, std::string> read_environ(const std::string& root, uint32_t pid,
                                                const std::vector<std::string>& names);
// A whole process; cgroup_id is left 0 (the caller resolves the path).
Result<Process> read_process(const std::string& root, uint32_t pid);
std::vector<uint32_t> list_pids(const std::string& root);
// The pid behind a pidfd (fanotify's), from its fdinfo; -1 once the process is gone.
int pidfd_pid(int pidfd);

// Loads every process of `root` into the table; returns how many.
size_t bootstrap(const std::string& root, ProcessTable* table);
// Loads `pid` and its ancestors that the table does not know yet.
void load_with_ancestors(const std::string& root, uint32_t pid, ProcessTable* table);

// A record says `p` runs `exe` when the table says otherwise: it exec'd in
// place since the table learned it (outside jobs no exec record comes). The
// process becomes what it is now: args and ids from /proc while the pid is
// still the same process, else the executable alone.
void exec_seen(const std::string& root, const std::string& exe, Process* p);

}  // namespace fts::state
