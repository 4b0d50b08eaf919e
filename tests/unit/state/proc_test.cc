// /proc reading, against a fake /proc tree built in a temp dir.
#include "state/proc.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "support/fake_proc.h"
#include "support/fixtures.h"

namespace fts::state {
namespace {

using fts::testing::TempDir;
using fts::testing::write_file;
using std::string_literals::operator""s;

using fts::testing::FakeProc;

void add(const TempDir& root, const FakeProc& p) { fts::testing::add_fake_proc(root, p); }

// init(1) -> launcher(50) -> worker(60); 70 is a sibling of 50 with a deleted exe.
void fake_tree(const TempDir& root) {
  add(root, {.pid = 1, .ppid = 0, .start_ticks = 0, .comm = "systemd", .cmdline = "/sbin/init\0splash\0"s,
             .exe = "/usr/lib/systemd/systemd"});
  add(root, {.pid = 50, .ppid = 1, .start_ticks = 5000, .comm = "pt_main_thread", .cmdline = "torchrun\0train.py\0"s,
             .exe = "/opt/conda/bin/python3.11", .cwd = "/home/alice/run", .uid = 1000, .euid = 1000, .gid = 100,
             .egid = 100, .cgroup = "0::/system.slice/finetune-1.scope\n",
             .environ = "PATH=/usr/bin\0SLURM_JOB_ID=4242\0TORCHELASTIC_RUN_ID=run=7\0NOEQUALS\0"s});
  add(root, {.pid = 60, .ppid = 50, .start_ticks = 6000, .comm = "a b) (c", .cmdline = "python3\0-c\0print(1)\0"s,
             .exe = "/usr/bin/python3", .cwd = "/home/alice/run", .uid = 1000, .euid = 0, .gid = 100, .egid = 0});
  add(root, {.pid = 70, .ppid = 1, .start_ticks = 7000, .comm = "evil", .cmdline = "/tmp/evil\0"s,
             .exe = "/tmp/evil (deleted)"});
  // Not processes: ignored by list_pids.
  std::filesystem::create_directories(root / "sys");
  std::filesystem::create_directories(root / "self");
  write_file(root / "123abc", "");
}

TEST(ProcStat, CommWithSpacesAndParens) {
  TempDir root;
  fake_tree(root);
  auto st = read_stat(root.path(), 60);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_EQ(st->ppid, 50u);
  EXPECT_EQ(st->start_ticks, 6000u);
}

TEST(ProcStat, MissingProcessIsAnError) {
  TempDir root;
  auto st = read_stat(root.path(), 4242);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("4242"), std::string::npos);
}

TEST(ProcStat, MalformedStatIsAnErrorNotACrash) {
  TempDir root;
  write_file(root / "7/stat", "7 (x)");  // cut right after comm
  EXPECT_FALSE(read_stat(root.path(), 7).ok());
  write_file(root / "8/stat", "8 (x) S notanumber 1 1");
  EXPECT_FALSE(read_stat(root.path(), 8).ok());
  write_file(root / "9/stat", "9 (x) S 1 1 1 0");  // ends before starttime
  EXPECT_FALSE(read_stat(root.path(), 9).ok());
  write_file(root / "10/stat", "10 no parens here");
  EXPECT_FALSE(read_stat(root.path(), 10).ok());
}

TEST(ProcRead, WholeProcess) {
  TempDir root;
  fake_tree(root);
  auto p = read_process(root.path(), 60);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->key, (ProcKey{60, 6000}));
  EXPECT_EQ(p->parent, (ProcKey{50, 5000}));
  EXPECT_EQ(p->start_ns, 6000 * decode::kNsPerTick);
  EXPECT_EQ(p->exe, "/usr/bin/python3");
  EXPECT_EQ(p->cwd, "/home/alice/run");
  EXPECT_EQ(p->args, (std::vector<std::string>{"python3", "-c", "print(1)"}));
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_EQ(p->euid, 0u);
  EXPECT_EQ(p->gid, 100u);
  EXPECT_EQ(p->egid, 0u);
  EXPECT_TRUE(p->flags.empty());
  EXPECT_EQ(p->cgroup_id, 0u);  // the caller resolves cgroup paths
  EXPECT_EQ(p->job_id, 0u);
}

TEST(ProcRead, DeletedExeLosesSuffixAndIsFlagged) {
  TempDir root;
  fake_tree(root);
  auto p = read_process(root.path(), 70);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->exe, "/tmp/evil");
  EXPECT_EQ(p->flags, (std::vector<std::string>{"exe_deleted"}));
}

TEST(ProcRead, NoExeLinkAndEmptyCmdline) {
  TempDir root;
  add(root, {.pid = 2, .ppid = 0, .start_ticks = 0, .comm = "kthreadd"});  // kernel thread
  auto p = read_process(root.path(), 2);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->exe, "");
  EXPECT_TRUE(p->args.empty());
  EXPECT_FALSE(p->parent.valid());
}

TEST(ProcRead, ExeNamedOnlyDeletedIsNotTrimmedToNothing) {
  TempDir root;
  add(root, {.pid = 3, .ppid = 0, .start_ticks = 1, .exe = " (deleted)"});
  auto p = read_process(root.path(), 3);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->exe, " (deleted)");
  EXPECT_TRUE(p->flags.empty());
}

TEST(ProcRead, CgroupPath) {
  TempDir root;
  fake_tree(root);
  EXPECT_EQ(read_cgroup_path(root.path(), 50), "/system.slice/finetune-1.scope");
  add(root, {.pid = 80, .ppid = 1, .start_ticks = 8,
             .cgroup = "12:cpu,cpuacct:/x\n11:memory:/x\n0::/a/b\n"});  // hybrid host: v2 line last
  EXPECT_EQ(read_cgroup_path(root.path(), 80), "/a/b");
  add(root, {.pid = 81, .ppid = 1, .start_ticks = 9, .cgroup = "12:cpu,cpuacct:/x\n1:name=systemd:/y\n"});
  EXPECT_EQ(read_cgroup_path(root.path(), 81), "");  // v1-only
  EXPECT_EQ(read_cgroup_path(root.path(), 9999), "");
}

TEST(ProcRead, Environ) {
  TempDir root;
  fake_tree(root);
  auto env = read_environ(root.path(), 50, {"SLURM_JOB_ID", "TORCHELASTIC_RUN_ID", "MISSING", "NOEQUALS"});
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"SLURM_JOB_ID", "4242"}, {"TORCHELASTIC_RUN_ID", "run=7"}}));
  EXPECT_TRUE(read_environ(root.path(), 60, {"SLURM_JOB_ID"}).empty());
  EXPECT_TRUE(read_environ(root.path(), 9999, {"PATH"}).empty());
}

TEST(ProcList, OnlyNumericEntries) {
  TempDir root;
  fake_tree(root);
  auto pids = list_pids(root.path());
  std::sort(pids.begin(), pids.end());
  EXPECT_EQ(pids, (std::vector<uint32_t>{1, 50, 60, 70}));
  EXPECT_TRUE(list_pids(root / "nonexistent").empty());
}

TEST(ProcBootstrap, LoadsEveryProcessAndLinksParents) {
  TempDir root;
  fake_tree(root);
  ProcessTable t;
  EXPECT_EQ(bootstrap(root.path(), &t), 4u);
  EXPECT_EQ(t.size(), 4u);
  const Process* worker = t.find(ProcKey{60, 6000});
  ASSERT_NE(worker, nullptr);
  auto anc = t.ancestry(*worker);
  ASSERT_EQ(anc.size(), 2u);
  EXPECT_EQ(anc[0]->key, (ProcKey{50, 5000}));
  EXPECT_EQ(anc[0]->exe, "/opt/conda/bin/python3.11");
  EXPECT_EQ(anc[1]->key, (ProcKey{1, 0}));
  EXPECT_EQ(t.find(ProcKey{1, 0})->live_children, 2u);  // 50 and 70, whichever was read first
  EXPECT_EQ(t.find(ProcKey{50, 5000})->live_children, 1u);
  ASSERT_NE(t.find_tgid(70), nullptr);
  EXPECT_EQ(t.find_tgid(70)->flags, (std::vector<std::string>{"exe_deleted"}));
}

TEST(ProcBootstrap, SkipsProcessesThatVanished) {
  TempDir root;
  fake_tree(root);
  std::filesystem::create_directories(root / "99");  // exited between readdir and read
  ProcessTable t;
  EXPECT_EQ(bootstrap(root.path(), &t), 4u);
  EXPECT_EQ(t.find_tgid(99), nullptr);
}

TEST(ProcAncestors, LoadsTheChainUpToInit) {
  TempDir root;
  fake_tree(root);
  ProcessTable t;
  load_with_ancestors(root.path(), 60, &t);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_NE(t.find(ProcKey{60, 6000}), nullptr);
  EXPECT_NE(t.find(ProcKey{50, 5000}), nullptr);
  EXPECT_NE(t.find(ProcKey{1, 0}), nullptr);
  EXPECT_EQ(t.find_tgid(70), nullptr);  // not an ancestor
}

TEST(ProcAncestors, StopsAtAKnownAncestor) {
  TempDir root;
  fake_tree(root);
  ProcessTable t;
  auto launcher = read_process(root.path(), 50);
  ASSERT_TRUE(launcher.ok());
  launcher->job_id = 77;
  t.add(*launcher);
  load_with_ancestors(root.path(), 60, &t);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find(ProcKey{1, 0}), nullptr);  // above a known process: not reread
  EXPECT_EQ(t.find(ProcKey{50, 5000})->job_id, 77u);
  EXPECT_EQ(t.find(ProcKey{50, 5000})->live_children, 1u);
}

TEST(ProcAncestors, MissingPidLoadsNothing) {
  TempDir root;
  fake_tree(root);
  ProcessTable t;
  load_with_ancestors(root.path(), 4242, &t);
  EXPECT_EQ(t.size(), 0u);
}

}  // namespace
}  // namespace fts::state
