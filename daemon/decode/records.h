#pragma once
// Typed records from the kernel, decoded. The rest of the daemon sees only
// these; the ABI header stays inside this module.
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace fts::decode {

enum class Kind : uint32_t {
  kExec = 1,
  kFork = 2,
  kExit = 3,
  kCgroupMkdir = 4,
  kCgroupRmdir = 5,
  kCgroupAttach = 6,
};

constexpr uint64_t kNsPerTick = 10'000'000;  // USER_HZ = 100, as /proc/PID/stat counts

struct TaskId {
  uint32_t tgid = 0;
  uint64_t start_ns = 0;
  uint64_t start_ticks() const { return start_ns / kNsPerTick; }
};

struct Header {
  Kind kind{};
  uint64_t ts_ns = 0;  // CLOCK_BOOTTIME
  uint64_t job_id = 0;
  uint64_t cgroup_id = 0;
  TaskId task;
  uint32_t tid = 0;
  uint32_t cpu = 0;
};

struct PathFlags {
  bool truncated = false;
  bool internal = false;  // memfd, pipe, anonymous inode
  bool deleted = false;
};

struct Exec {
  Header hdr;
  TaskId parent;
  uint32_t uid = 0, gid = 0, euid = 0, egid = 0;
  std::string exe;
  PathFlags exe_flags;
  std::string cwd;
  PathFlags cwd_flags;
  std::string filename;  // as given to execve
  std::vector<std::string> args;
  uint32_t argc = 0;
  bool args_truncated = false;
  bool job_started = false;      // a launcher: a job begins here
  bool joined_by_cgroup = false;
  uint32_t policy = ~0u;
};

struct Fork {
  Header hdr;  // the child
  TaskId parent;
  bool joined_by_cgroup = false;
};

struct Exit {
  Header hdr;
  uint32_t status = 0;  // wait(2) status
};

struct Cgroup {
  Header hdr;  // kind: mkdir, rmdir or attach (hdr.task moved there)
  uint64_t id = 0;
  uint32_t level = 0;
  std::string path;
};

using Record = std::variant<Exec, Fork, Exit, Cgroup>;

const Header& header(const Record& r);

// Decodes one ring-buffer record. Every length is checked against the bytes
// actually there; a malformed record is an error, never a crash.
Result<Record> decode(std::span<const uint8_t> bytes);

// The id of a job rooted at this process, as the kernel computes it.
uint64_t job_id_for(uint32_t tgid, uint64_t start_ns);
constexpr uint64_t kCgroupJobBit = 1ull << 63;

// "b\0a\0" (leaf first, `depth` components) -> "/a/b".
std::string path_from_components(std::string_view encoded, uint16_t depth);

}  // namespace fts::decode
