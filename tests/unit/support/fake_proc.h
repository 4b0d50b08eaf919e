#pragma once
// A fake /proc tree in a temp dir: stat, cmdline, status, cgroup, environ,
// and exe/cwd as real symlinks, as the kernel lays them out.
#include <filesystem>
#include <string>
#include <vector>

#include "support/fixtures.h"

namespace fts::testing {

struct FakeProc {
  uint32_t pid;
  uint32_t ppid;
  uint64_t start_ticks;
  std::string comm = "proc";
  std::string cmdline;  // NUL-separated
  std::string exe;      // symlink target ("" for none, as for kernel threads)
  std::string cwd = "/";
  uint32_t uid = 0, euid = 0, gid = 0, egid = 0;
  std::string cgroup = "0::/user.slice\n";
  std::string environ;
  std::vector<uint32_t> children;  // task/<pid>/children
};

// The stat line of proc(5): pid (comm) state ppid ... starttime(22) ...
inline std::string stat_line(const FakeProc& p) {
  return std::to_string(p.pid) + " (" + p.comm + ") S " + std::to_string(p.ppid) +
         " 1 1 0 -1 4194560 1234 0 0 0 10 5 0 0 20 0 1 0 " + std::to_string(p.start_ticks) +
         " 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
}

inline void add_fake_proc(const TempDir& root, const FakeProc& p) {
  std::string d = root / std::to_string(p.pid);
  auto id4 = [](uint32_t real, uint32_t eff) {
    return std::to_string(real) + "\t" + std::to_string(eff) + "\t" + std::to_string(eff) + "\t" +
           std::to_string(eff) + "\n";
  };
  write_file(d + "/stat", stat_line(p));
  write_file(d + "/cmdline", p.cmdline);
  write_file(d + "/status", "Name:\t" + p.comm + "\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t" +
                                std::to_string(p.pid) + "\nPPid:\t" + std::to_string(p.ppid) +
                                "\nUid:\t" + id4(p.uid, p.euid) + "Gid:\t" + id4(p.gid, p.egid) +
                                "Groups:\t4 24\n");
  write_file(d + "/cgroup", p.cgroup);
  write_file(d + "/environ", p.environ);
  std::string kids;
  for (uint32_t c : p.children) kids += std::to_string(c) + " ";
  write_file(d + "/task/" + std::to_string(p.pid) + "/children", kids);
  if (!p.exe.empty()) std::filesystem::create_symlink(p.exe, d + "/exe");
  std::filesystem::create_symlink(p.cwd, d + "/cwd");
}

}  // namespace fts::testing
