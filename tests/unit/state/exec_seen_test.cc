// A process that exec'd in place outside any job (no exec record comes):
// the record's exe corrects the table, from /proc while it is the same process.
#include <gtest/gtest.h>

#include "state/proc.h"
#include "support/fake_proc.h"

namespace fts::state {
namespace {

using fts::testing::FakeProc;

TEST(ExecSeen, TheProcessBecomesWhatItRunsNow) {
  fts::testing::TempDir root;
  FakeProc now{.pid = 40, .ppid = 1, .start_ticks = 500};
  constexpr char kCmdline[] = "/usr/local/bin/dataset-sync\0a\0b";  // NUL-separated, as /proc shows it
  now.cmdline = std::string(kCmdline, sizeof(kCmdline));
  now.exe = "/usr/local/bin/dataset-sync";
  now.cwd = "/srv";
  fts::testing::add_fake_proc(root, now);
  Process p;
  p.key = {40, 500};
  p.exe = "/usr/bin/dash";
  p.args = {"/bin/sh", "-c", "exec dataset-sync a b"};
  exec_seen(root.path(), "/usr/local/bin/dataset-sync", &p);
  EXPECT_EQ(p.exe, "/usr/local/bin/dataset-sync");
  EXPECT_EQ(p.args, (std::vector<std::string>{"/usr/local/bin/dataset-sync", "a", "b"}));
  EXPECT_EQ(p.cwd, "/srv");
}

TEST(ExecSeen, AReusedPidOrAGoneProcessKeepsOnlyTheRecordsExe) {
  fts::testing::TempDir root;
  FakeProc other{.pid = 41, .ppid = 1, .start_ticks = 900};  // pid 41 is another process now
  constexpr char kCmdline[] = "/usr/bin/sleep\0" "9";
  other.cmdline = std::string(kCmdline, sizeof(kCmdline));
  other.exe = "/usr/bin/sleep";
  fts::testing::add_fake_proc(root, other);
  Process p;
  p.key = {41, 500};
  p.exe = "/usr/bin/dash";
  p.args = {"/bin/sh"};
  exec_seen(root.path(), "/usr/bin/cp", &p);
  EXPECT_EQ(p.exe, "/usr/bin/cp");
  EXPECT_TRUE(p.args.empty()) << "not the other process's args";
  Process gone;
  gone.key = {42, 7};
  gone.exe = "/usr/bin/bash";
  exec_seen(root.path(), "/usr/local/bin/dataset-sync", &gone);
  EXPECT_EQ(gone.exe, "/usr/local/bin/dataset-sync");
}

}  // namespace
}  // namespace fts::state
