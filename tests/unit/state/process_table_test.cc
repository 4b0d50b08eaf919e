// The process table: identity is (tgid, start), ancestry survives a double
// fork, and exited processes go once nothing needs them.
#include "state/process_table.h"

#include <gtest/gtest.h>

#include <set>

#include "support/fixtures.h"

namespace fts::state {
namespace {

using fts::testing::exec_of;
using fts::testing::fork_of;
using fts::testing::sec;
using fts::testing::task;

const decode::TaskId kInit = task(1, 0);
const decode::TaskId kRoot = task(100, sec(10));
const decode::TaskId kChild = task(200, sec(20));
const decode::TaskId kGrand = task(300, sec(30));

std::vector<uint32_t> pids(const std::vector<const Process*>& v) {
  std::vector<uint32_t> out;
  for (const auto* p : v) out.push_back(p->key.tgid);
  return out;
}

// root execs a launcher, forks a child that execs python, which forks a grandchild.
void build_tree(ProcessTable& t) {
  t.on_exec(exec_of(kRoot, kInit, "/usr/bin/torchrun", {"torchrun", "train.py"}));
  t.on_fork(fork_of(kChild, kRoot));
  t.on_exec(exec_of(kChild, kRoot, "/usr/bin/python3", {"python3", "train.py"}));
  t.on_fork(fork_of(kGrand, kChild));
}

TEST(ProcessTable, ForkExecBuildAncestry) {
  ProcessTable t;
  build_tree(t);
  ASSERT_EQ(t.size(), 3u);
  const Process* g = t.find(key_of(kGrand));
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->parent, key_of(kChild));
  EXPECT_EQ(pids(t.ancestry(*g)), (std::vector<uint32_t>{200, 100}));  // parent first, stops at unknown init
  EXPECT_EQ(t.ancestry(*g)[0]->exe, "/usr/bin/python3");
  EXPECT_EQ(t.ancestry(*g)[1]->exe, "/usr/bin/torchrun");
  EXPECT_EQ(pids(t.ancestry(*g, 1)), (std::vector<uint32_t>{200}));
  EXPECT_EQ(t.find(key_of(kRoot))->live_children, 1u);
  EXPECT_EQ(t.find(key_of(kChild))->live_children, 1u);
}

TEST(ProcessTable, ForkedChildRunsParentImageUntilExec) {
  ProcessTable t;
  auto e = exec_of(kRoot, kInit, "/usr/bin/torchrun", {"torchrun", "train.py"});
  e.uid = 1000, e.euid = 1000, e.gid = 50, e.egid = 50;
  e.cwd = "/home/u";
  t.on_exec(e);
  Process& c = t.on_fork(fork_of(kChild, kRoot, /*job_id=*/7));
  EXPECT_EQ(c.exe, "/usr/bin/torchrun");
  EXPECT_EQ(c.args, (std::vector<std::string>{"torchrun", "train.py"}));
  EXPECT_EQ(c.cwd, "/home/u");
  EXPECT_EQ(c.uid, 1000u);
  EXPECT_EQ(c.gid, 50u);
  EXPECT_EQ(c.job_id, 7u);
  EXPECT_EQ(c.start_ns, kChild.start_ns);

  auto ce = exec_of(kChild, kRoot, "/usr/bin/python3", {"python3"});
  ce.exe_flags.deleted = true;
  ce.args_truncated = true;
  Process& after = t.on_exec(ce);
  EXPECT_EQ(after.exe, "/usr/bin/python3");
  EXPECT_EQ(after.job_id, 7u);  // an exec record without a job id does not drop the job
  EXPECT_EQ(after.flags, (std::vector<std::string>{"exe_deleted", "args_truncated"}));
  EXPECT_EQ(t.find(key_of(kRoot))->live_children, 1u);  // the exec did not count the child twice
}

TEST(ProcessTable, ExecOfUnseenProcessLinksItsParent) {
  ProcessTable t;
  t.on_exec(exec_of(kRoot, kInit, "/usr/bin/bash", {"bash"}));
  t.on_exec(exec_of(kChild, kRoot, "/usr/bin/ls", {"ls"}));
  EXPECT_EQ(t.find(key_of(kChild))->parent, key_of(kRoot));
  EXPECT_EQ(t.find(key_of(kRoot))->live_children, 1u);
}

TEST(ProcessTable, ExitReapsAChildlessProcess) {
  ProcessTable t;
  build_tree(t);
  t.on_exit(key_of(kGrand));
  EXPECT_EQ(t.find(key_of(kGrand)), nullptr);
  EXPECT_EQ(t.find_tgid(300), nullptr);
  EXPECT_EQ(t.find(key_of(kChild))->live_children, 0u);
  EXPECT_EQ(t.size(), 2u);
  t.on_exit(key_of(kGrand));  // a second exit of the same process is harmless
  EXPECT_EQ(t.size(), 2u);
}

TEST(ProcessTable, DoubleForkKeepsExitedParentWhileChildLives) {
  ProcessTable t;
  build_tree(t);
  // The middle process exits (the classic daemonizing double fork).
  t.on_exit(key_of(kChild));
  const Process* mid = t.find(key_of(kChild));
  ASSERT_NE(mid, nullptr) << "an exited parent with a live child must stay for ancestry";
  EXPECT_TRUE(mid->exited);
  EXPECT_EQ(t.find_tgid(200), nullptr) << "find_tgid returns live processes only";
  const Process* g = t.find(key_of(kGrand));
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(pids(t.ancestry(*g)), (std::vector<uint32_t>{200, 100}));

  // The root exits too; both stay while the grandchild lives.
  t.on_exit(key_of(kRoot));
  EXPECT_NE(t.find(key_of(kRoot)), nullptr);
  EXPECT_EQ(t.size(), 3u);

  // The last one goes: the whole exited chain is reaped.
  t.on_exit(key_of(kGrand));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.find(key_of(kChild)), nullptr);
  EXPECT_EQ(t.find(key_of(kRoot)), nullptr);
}

TEST(ProcessTable, ReapStopsAtALiveAncestor) {
  ProcessTable t;
  build_tree(t);
  t.on_exit(key_of(kChild));
  t.on_exit(key_of(kGrand));
  EXPECT_EQ(t.find(key_of(kChild)), nullptr);
  ASSERT_NE(t.find(key_of(kRoot)), nullptr);
  EXPECT_FALSE(t.find(key_of(kRoot))->exited);
  EXPECT_EQ(t.find(key_of(kRoot))->live_children, 0u);
  EXPECT_EQ(t.size(), 1u);
}

TEST(ProcessTable, PidReuseIsADifferentProcess) {
  ProcessTable t;
  const auto old_p = task(500, sec(10));
  const auto new_p = task(500, sec(99));
  t.on_exec(exec_of(old_p, kInit, "/bin/old", {"old"}));
  t.on_exit(key_of(old_p));
  t.on_exec(exec_of(new_p, kInit, "/bin/new", {"new"}));
  EXPECT_EQ(t.find(key_of(old_p)), nullptr);
  ASSERT_NE(t.find(key_of(new_p)), nullptr);
  EXPECT_EQ(t.find(key_of(new_p))->exe, "/bin/new");
  ASSERT_NE(t.find_tgid(500), nullptr);
  EXPECT_EQ(t.find_tgid(500)->key, key_of(new_p));
  EXPECT_EQ(t.find(ProcKey{500, sec(10) / decode::kNsPerTick + 1}), nullptr);  // start must match exactly
}

TEST(ProcessTable, FindTgidReturnsNewestWhileOldOneLingers) {
  ProcessTable t;
  const auto old_p = task(500, sec(10));
  const auto old_child = task(501, sec(11));
  const auto new_p = task(500, sec(99));
  t.on_exec(exec_of(old_p, kInit, "/bin/old", {"old"}));
  t.on_fork(fork_of(old_child, old_p));
  t.on_exit(key_of(old_p));  // kept: its child lives
  t.on_exec(exec_of(new_p, kInit, "/bin/new", {"new"}));

  ASSERT_NE(t.find(key_of(old_p)), nullptr);
  EXPECT_TRUE(t.find(key_of(old_p))->exited);
  ASSERT_NE(t.find_tgid(500), nullptr);
  EXPECT_EQ(t.find_tgid(500)->exe, "/bin/new");

  // Reaping the old one must not forget the new one's pid.
  t.on_exit(key_of(old_child));
  EXPECT_EQ(t.find(key_of(old_p)), nullptr);
  ASSERT_NE(t.find_tgid(500), nullptr);
  EXPECT_EQ(t.find_tgid(500)->key, key_of(new_p));
}

Process proc(uint32_t pid, uint64_t ticks, ProcKey parent, std::string exe) {
  Process p;
  p.key = ProcKey{pid, ticks};
  p.parent = parent;
  p.start_ns = ticks * decode::kNsPerTick;
  p.exe = std::move(exe);
  return p;
}

TEST(ProcessTable, AddCountsChildrenReadBeforeTheirParent) {
  ProcessTable t;
  const ProcKey parent{10, 100}, child{11, 110};
  t.add(proc(11, 110, parent, "/bin/child"));
  t.add(proc(10, 100, ProcKey{1, 0}, "/bin/parent"));
  EXPECT_EQ(t.find(parent)->live_children, 1u);
  t.on_exit(parent);
  EXPECT_NE(t.find(parent), nullptr) << "kept for the child read earlier";
  t.on_exit(child);
  EXPECT_EQ(t.size(), 0u);
}

TEST(ProcessTable, AddRefreshKeepsJobAndChildren) {
  ProcessTable t;
  t.add(proc(10, 100, ProcKey{1, 0}, "/bin/a"));
  t.find(ProcKey{10, 100})->job_id = 42;
  t.add(proc(11, 110, ProcKey{10, 100}, "/bin/kid"));
  t.add(proc(10, 100, ProcKey{1, 0}, "/bin/a-refreshed"));
  const Process* p = t.find(ProcKey{10, 100});
  EXPECT_EQ(p->exe, "/bin/a-refreshed");
  EXPECT_EQ(p->job_id, 42u);
  EXPECT_EQ(p->live_children, 1u);
  EXPECT_EQ(t.size(), 2u);
}

TEST(ProcessTable, SweepDropsDeadNonJobProcessesOnly) {
  ProcessTable t;
  t.add(proc(10, 100, ProcKey{1, 0}, "/bin/alive"));
  t.add(proc(11, 110, ProcKey{1, 0}, "/bin/dead"));
  auto in_job = proc(12, 120, ProcKey{1, 0}, "/bin/dead-but-in-job");
  in_job.job_id = 9;  // the kernel reports job exits; sweep leaves them alone
  t.add(in_job);
  std::set<uint32_t> alive = {10};
  size_t n = t.sweep([&](const ProcKey& k) { return alive.count(k.tgid) != 0; });
  EXPECT_EQ(n, 1u);
  EXPECT_NE(t.find(ProcKey{10, 100}), nullptr);
  EXPECT_EQ(t.find(ProcKey{11, 110}), nullptr);
  EXPECT_NE(t.find(ProcKey{12, 120}), nullptr);
  EXPECT_EQ(t.sweep([](const ProcKey&) { return true; }), 0u);
}

TEST(ProcessTable, SweepKeepsADeadParentForALiveChild) {
  ProcessTable t;
  t.add(proc(10, 100, ProcKey{1, 0}, "/bin/dead-parent"));
  t.add(proc(11, 110, ProcKey{10, 100}, "/bin/live-child"));
  t.sweep([](const ProcKey& k) { return k.tgid == 11; });
  ASSERT_NE(t.find(ProcKey{10, 100}), nullptr);
  EXPECT_TRUE(t.find(ProcKey{10, 100})->exited);
  EXPECT_EQ(pids(t.ancestry(*t.find(ProcKey{11, 110}))), (std::vector<uint32_t>{10}));
}

TEST(ProcessTable, AncestryStopsOnSelfParentCycle) {
  ProcessTable t;
  t.add(proc(1, 0, ProcKey{1, 0}, "/sbin/init"));  // a bogus self-parent must not loop
  t.add(proc(5, 50, ProcKey{1, 0}, "/bin/x"));
  EXPECT_EQ(pids(t.ancestry(*t.find(ProcKey{5, 50}))), (std::vector<uint32_t>{1}));
}

}  // namespace
}  // namespace fts::state
