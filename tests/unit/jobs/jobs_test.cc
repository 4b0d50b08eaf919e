// Jobs: how each kind starts (launcher in the kernel or in user space, a
// process found at start-up, a cgroup), who belongs, and when it ends.
#include "jobs/jobs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "state/proc.h"
#include "support/fake_kernel.h"
#include "support/fake_proc.h"
#include "support/fixtures.h"

namespace fts::jobs {
namespace {

using fts::testing::exec_of;
using fts::testing::exit_of;
using fts::testing::fork_of;
using fts::testing::sec;
using fts::testing::task;
using std::string_literals::operator""s;

policy::Policy policy(const std::string& name, std::vector<std::string> exec, std::vector<std::string> cgroup = {},
                      v1::Mode mode = v1::monitor) {
  policy::Policy p;
  p.spec.set_name(name);
  p.spec.set_mode(mode);
  for (const auto& g : exec) p.spec.mutable_jobs()->add_exec(g);
  for (const auto& g : cgroup) p.spec.mutable_jobs()->add_cgroup(g);
  return p;
}

class JobsTest : public ::testing::Test {
 protected:
  // `cgroup_mount` "" means no cgroup v2.
  void make(const std::string& cgroup_mount = "") {
    cgroups_ = std::make_unique<state::CgroupTable>(cgroup_mount);
    jobs_ = std::make_unique<JobManager>(&kernel_, &procs_, cgroups_.get(), proc_root_.path());
  }
  void install(std::vector<policy::Policy> ps) {
    auto set = std::make_shared<policy::PolicySet>();
    for (auto& p : ps) set->add(std::move(p));
    jobs_->apply(set, &changes_);
  }
  // What the pipeline's state stage does with each record.
  void exec(decode::Exec e) {
    procs_.on_exec(e);
    jobs_->on_exec(e, &changes_);
  }
  void fork(const decode::Fork& f) {
    procs_.on_fork(f);
    jobs_->on_fork(f, &changes_);
  }
  void exit(const decode::Exit& x) {
    jobs_->on_exit(x, &changes_);
    procs_.on_exit(state::key_of(x.hdr.task));
  }
  std::vector<std::pair<JobChange::Kind, uint64_t>> changes() {
    std::vector<std::pair<JobChange::Kind, uint64_t>> out;
    for (const auto& c : changes_) out.emplace_back(c.kind, c.job->id);
    changes_.clear();
    return out;
  }

  fts::testing::TempDir proc_root_;
  fts::testing::FakeKernel kernel_;
  state::ProcessTable procs_;
  std::unique_ptr<state::CgroupTable> cgroups_;
  std::unique_ptr<JobManager> jobs_;
  std::vector<JobChange> changes_;
};

TEST(JobIdString, SixteenHexDigits) {
  EXPECT_EQ(job_id_string(0xdeadbeef), "00000000deadbeef");
  EXPECT_EQ(job_id_string(decode::kCgroupJobBit | 5), "8000000000000005");
}

TEST_F(JobsTest, ApplyInstallsLauncherBasenames) {
  make();
  install({policy("a", {"**/torchrun", "/opt/x/accelerate"}), policy("b", {"**/deepspeed"})});
  EXPECT_EQ(kernel_.launchers,
            (std::map<std::string, uint32_t>{{"torchrun", 0}, {"accelerate", 0}, {"deepspeed", 1}}));
  EXPECT_FALSE(kernel_.report_all_exec) << "every launcher is matched in the kernel";
  EXPECT_TRUE(changes().empty());
}

TEST_F(JobsTest, WildcardLauncherNeedsUserSpaceMatching) {
  make();
  install({policy("a", {"**/torchrun", "/opt/*/bin/train-*"})});
  EXPECT_EQ(kernel_.launchers, (std::map<std::string, uint32_t>{{"torchrun", 0}}));
  EXPECT_TRUE(kernel_.report_all_exec);

  // An untracked exec that matches starts a job from user space.
  const auto t = task(1000, sec(100));
  exec(exec_of(t, task(1, 0), "/opt/a/bin/train-llm", {"train-llm"}));
  const uint64_t id = decode::job_id_for(1000, sec(100));
  EXPECT_EQ(changes(), (std::vector<std::pair<JobChange::Kind, uint64_t>>{{JobChange::kStarted, id}}));
  ASSERT_EQ(kernel_.tracked.size(), 1u);
  EXPECT_EQ(kernel_.tracked[0].tgid, 1000u);
  EXPECT_EQ(kernel_.tracked[0].start_ticks, 10000u);
  EXPECT_EQ(kernel_.tracked[0].job_id, id);
  const Job* j = jobs_->find(id);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->started_by, StartedBy::kExec);
  EXPECT_EQ(j->name, "train-llm");
  EXPECT_EQ(procs_.find(state::key_of(t))->job_id, id);

  // One that does not match is left alone.
  exec(exec_of(task(1100, sec(110)), task(1, 0), "/opt/a/bin/other", {"other"}));
  EXPECT_EQ(kernel_.tracked.size(), 1u);
  EXPECT_TRUE(changes().empty());
}

TEST_F(JobsTest, MembersComeAndGoAndTheLastOneEndsTheJob) {
  make();
  install({policy("a", {"**/torchrun"})});
  const auto root = task(1000, sec(100)), kid = task(1001, sec(101));
  const uint64_t id = decode::job_id_for(1000, sec(100));
  auto e = exec_of(root, task(1, 0), "/usr/bin/torchrun", {"torchrun"}, id);
  e.job_started = true;
  e.policy = 0;
  exec(e);
  fork(fork_of(kid, root, id));
  EXPECT_EQ(jobs_->find(id)->live(), 2u);
  EXPECT_EQ(jobs_->live_count(), 1u);
  exit(exit_of(root, 0, id));
  EXPECT_EQ(jobs_->find(id)->live(), 1u);
  EXPECT_FALSE(jobs_->find(id)->ended);
  exit(exit_of(kid, 0, id));
  EXPECT_TRUE(jobs_->find(id)->ended);
  EXPECT_NE(jobs_->find(id)->end_wall_ns, 0u);
  EXPECT_EQ(changes(), (std::vector<std::pair<JobChange::Kind, uint64_t>>{{JobChange::kStarted, id},
                                                                          {JobChange::kEnded, id}}));
  EXPECT_EQ(jobs_->live_count(), 0u);
  EXPECT_TRUE(jobs_->list(false).empty());
  EXPECT_EQ(jobs_->list(true).size(), 1u) << "an ended job is remembered for `jobs --all`";
}

// `ftsentinel run` from inside a job: the kernel's membership says which job
// the caller is in (its child, forked before the daemon saw the fork, too);
// a recycled pid (another start time) is in no job.
TEST_F(JobsTest, MemberOfAsksTheKernelFirstAndChecksTheStartTime) {
  make();
  install({policy("a", {"**/torchrun"})});
  const auto root = task(1000, sec(100)), kid = task(1001, sec(101));
  const uint64_t id = decode::job_id_for(1000, sec(100));
  auto e = exec_of(root, task(1, 0), "/usr/bin/torchrun", {"torchrun"}, id);
  e.job_started = true;
  e.policy = 0;
  exec(e);
  EXPECT_EQ(jobs_->member_of(1000, 10000), jobs_->find(id)) << "known from the process table";
  // The kid's fork record is not read yet; the kernel already has it.
  ASSERT_TRUE(kernel_.track(1001, 10100, id, 0).ok());
  EXPECT_EQ(jobs_->member_of(1001, 10100), jobs_->find(id));
  EXPECT_EQ(jobs_->member_of(1001, 10200), nullptr) << "same pid, another process";
  EXPECT_EQ(jobs_->member_of(4242, 10000), nullptr);
  fork(fork_of(kid, root, id));
  exit(exit_of(root, 0, id));
  exit(exit_of(kid, 0, id));
  ASSERT_TRUE(jobs_->find(id)->ended);
  EXPECT_EQ(jobs_->member_of(1001, 10100), nullptr) << "an ended job holds no one";
}

TEST_F(JobsTest, LauncherRunningBeforeTheDaemonIsFoundInProc) {
  using fts::testing::add_fake_proc;
  add_fake_proc(proc_root_, {.pid = 1, .ppid = 0, .start_ticks = 0, .exe = "/sbin/init", .children = {3000}});
  add_fake_proc(proc_root_, {.pid = 3000, .ppid = 1, .start_ticks = 30000, .cmdline = "torchrun\0train.py\0"s,
                             .exe = "/opt/x/bin/torchrun", .children = {3001}});
  add_fake_proc(proc_root_, {.pid = 3001, .ppid = 3000, .start_ticks = 30010, .cmdline = "python3\0train.py\0"s,
                             .exe = "/usr/bin/python3", .children = {3002}});
  add_fake_proc(proc_root_, {.pid = 3002, .ppid = 3001, .start_ticks = 30020, .exe = "/usr/bin/python3"});
  add_fake_proc(proc_root_, {.pid = 4000, .ppid = 1, .start_ticks = 40000, .exe = "/usr/bin/bash"});
  make();
  state::bootstrap(proc_root_.path(), &procs_);
  install({policy("a", {"**/torchrun"})});

  const uint64_t id = decode::job_id_for(3000, 30000 * decode::kNsPerTick);
  EXPECT_EQ(changes(), (std::vector<std::pair<JobChange::Kind, uint64_t>>{{JobChange::kStarted, id}}));
  const Job* j = jobs_->find(id);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->root, (state::ProcKey{3000, 30000}));
  EXPECT_EQ(j->live(), 3u) << "the launcher and its whole tree";
  std::set<uint32_t> tracked;
  for (const auto& t : kernel_.tracked) {
    EXPECT_EQ(t.job_id, id);
    tracked.insert(t.tgid);
  }
  EXPECT_EQ(tracked, (std::set<uint32_t>{3000, 3001, 3002}));
  EXPECT_EQ(procs_.find_tgid(3002)->job_id, id);
  EXPECT_EQ(procs_.find_tgid(4000)->job_id, 0u);
}

TEST_F(JobsTest, ScriptLauncherRunningBeforeTheDaemonIsFoundByItsScript) {
  using fts::testing::add_fake_proc;
  add_fake_proc(proc_root_, {.pid = 1, .ppid = 0, .start_ticks = 0, .exe = "/sbin/init", .children = {5000, 6000}});
  // torchrun is a Python script: the kernel saw execve("/usr/local/bin/torchrun").
  add_fake_proc(proc_root_, {.pid = 5000, .ppid = 1, .start_ticks = 50000,
                             .cmdline = "/usr/bin/python3\0/usr/local/bin/torchrun\0train.py\0"s,
                             .exe = "/usr/bin/python3.11"});
  // an editor with the launcher open is not a launcher
  add_fake_proc(proc_root_, {.pid = 6000, .ppid = 1, .start_ticks = 60000,
                             .cmdline = "vim\0/usr/local/bin/torchrun\0"s, .exe = "/usr/bin/vim.basic"});
  make();
  state::bootstrap(proc_root_.path(), &procs_);
  install({policy("a", {"**/torchrun"})});
  const uint64_t id = decode::job_id_for(5000, 50000 * decode::kNsPerTick);
  EXPECT_EQ(changes(), (std::vector<std::pair<JobChange::Kind, uint64_t>>{{JobChange::kStarted, id}}));
  EXPECT_EQ(procs_.find_tgid(6000)->job_id, 0u);
}

// A restart (upgrade, watchdog, OOM kill): the registry one daemon saved puts
// the `ftsentinel run` job back in the next one, with its id, policy, name and
// start, its live processes and their children forked while no daemon ran;
// members that died or whose pid was reused are not taken back.
TEST_F(JobsTest, ARunJobSurvivesARestart) {
  using fts::testing::add_fake_proc;
  add_fake_proc(proc_root_, {.pid = 1, .ppid = 0, .start_ticks = 0, .exe = "/sbin/init", .children = {7000}});
  add_fake_proc(proc_root_, {.pid = 7000, .ppid = 1, .start_ticks = 70000, .exe = "/usr/bin/python3",
                             .children = {7001}});
  // 7001's children file already names 7002, which is only made after the save.
  add_fake_proc(proc_root_, {.pid = 7001, .ppid = 7000, .start_ticks = 70010, .exe = "/usr/bin/python3",
                             .children = {7002}});
  make();
  state::bootstrap(proc_root_.path(), &procs_);
  install({policy("a", {}), policy("b", {})});
  auto j = jobs_->register_run(7000, 70000, "b", "train", &changes_);
  ASSERT_TRUE(j) << j.error();
  const uint64_t id = (*j)->id;
  jobs_->on_fork(fork_of(task(7001, 70010 * decode::kNsPerTick), task(7000, 70000 * decode::kNsPerTick), id), &changes_);
  v1::JobRegistry saved = jobs_->saved();
  ASSERT_EQ(saved.jobs_size(), 1);
  EXPECT_EQ(saved.jobs(0).members_size(), 2);

  // The next daemon: 7001 forked 7002 meanwhile; pid 7009 was a member once
  // and now names another process.
  auto* m = saved.mutable_jobs(0)->add_members();
  m->set_tgid(7009);
  m->set_start_ticks(70090);
  add_fake_proc(proc_root_, {.pid = 7002, .ppid = 7001, .start_ticks = 70020, .exe = "/usr/bin/python3"});
  add_fake_proc(proc_root_, {.pid = 7009, .ppid = 1, .start_ticks = 99999, .exe = "/usr/bin/bash"});
  kernel_ = fts::testing::FakeKernel();
  procs_ = state::ProcessTable();
  changes_.clear();
  make();
  state::bootstrap(proc_root_.path(), &procs_);
  install({policy("b", {}), policy("a", {})});  // another order: policy indexes differ
  std::string why;
  const Job* r = jobs_->restore(saved.jobs(0), &why);
  ASSERT_NE(r, nullptr) << why;
  EXPECT_EQ(r->id, id);
  EXPECT_EQ(r->policy, "b");
  EXPECT_EQ(r->name, "train");
  EXPECT_EQ(r->started_by, StartedBy::kRun);
  EXPECT_EQ(r->start_wall_ns, saved.jobs(0).start_wall_ns());
  EXPECT_EQ(r->live(), 3u);
  EXPECT_TRUE(changes().empty()) << "a restored job is not reported as started again";
  std::set<uint32_t> tracked;
  for (const auto& t : kernel_.tracked) {
    EXPECT_EQ(t.job_id, id);
    EXPECT_EQ(t.policy, jobs_->policies().find("b")->index);
    tracked.insert(t.tgid);
  }
  EXPECT_EQ(tracked, (std::set<uint32_t>{7000, 7001, 7002}));
  EXPECT_EQ(procs_.find_tgid(7002)->job_id, id);
  EXPECT_EQ(procs_.find_tgid(7009)->job_id, 0u) << "a reused pid is not the member it was";
}

TEST_F(JobsTest, ASavedJobThatEndedOrLostItsPolicyIsNotRestored) {
  using fts::testing::add_fake_proc;
  add_fake_proc(proc_root_, {.pid = 1, .ppid = 0, .start_ticks = 0, .exe = "/sbin/init", .children = {8000}});
  add_fake_proc(proc_root_, {.pid = 8000, .ppid = 1, .start_ticks = 80000, .exe = "/usr/bin/python3"});
  make();
  state::bootstrap(proc_root_.path(), &procs_);
  install({policy("a", {})});
  v1::SavedJob gone;
  gone.set_id(1);
  gone.set_policy("a");
  gone.set_started_by("run");
  gone.mutable_root()->set_tgid(8000);
  gone.mutable_root()->set_start_ticks(12345);  // pid reused since
  std::string why;
  EXPECT_EQ(jobs_->restore(gone, &why), nullptr);
  EXPECT_EQ(why, "it ended while the daemon was down");
  v1::SavedJob orphan = gone;
  orphan.mutable_root()->set_start_ticks(80000);
  orphan.set_policy("removed");
  EXPECT_EQ(jobs_->restore(orphan, &why), nullptr);
  EXPECT_EQ(why, "its policy 'removed' is gone");
  EXPECT_TRUE(kernel_.tracked.empty());
  orphan.set_policy("a");
  EXPECT_NE(jobs_->restore(orphan, &why), nullptr) << "the positive control: " << why;
}

TEST_F(JobsTest, CgroupJobFromMkdirLivesUntilRmdir) {
  make();
  install({policy("a", {}, {"/system.slice/finetune-*.scope"})});
  decode::Cgroup mk{fts::testing::header(decode::Kind::kCgroupMkdir, task(1, 0)), 77, 2,
                    "/system.slice/finetune-9.scope"};
  jobs_->on_cgroup(mk, &changes_);
  const uint64_t id = decode::kCgroupJobBit | 77;
  EXPECT_EQ(changes(), (std::vector<std::pair<JobChange::Kind, uint64_t>>{{JobChange::kStarted, id}}));
  ASSERT_EQ(kernel_.cgroup_jobs.count(77), 1u);
  EXPECT_EQ(kernel_.cgroup_jobs[77].job_id, id);
  EXPECT_EQ(cgroups_->path(77), "/system.slice/finetune-9.scope");
  const Job* j = jobs_->find(id);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->started_by, StartedBy::kCgroup);
  EXPECT_EQ(j->name, "finetune-9.scope");
  EXPECT_EQ(j->labels.at("cgroup"), "/system.slice/finetune-9.scope");

  // A task moved in, and left by exiting: the job waits for its cgroup.
  const auto t = task(5000, sec(500));
  decode::Cgroup attach{fts::testing::header(decode::Kind::kCgroupAttach, t, id), 77, 2,
                        "/system.slice/finetune-9.scope"};
  jobs_->on_cgroup(attach, &changes_);
  EXPECT_EQ(j->live(), 1u);
  exit(exit_of(t, 0, id));
  EXPECT_FALSE(j->ended) << "an empty cgroup job lasts until its cgroup goes";

  decode::Cgroup rm{fts::testing::header(decode::Kind::kCgroupRmdir, task(1, 0)), 77, 2, ""};
  jobs_->on_cgroup(rm, &changes_);
  EXPECT_TRUE(j->ended);
  EXPECT_EQ(changes(), (std::vector<std::pair<JobChange::Kind, uint64_t>>{{JobChange::kEnded, id}}));
  EXPECT_EQ(kernel_.cleared_cgroups, (std::vector<uint64_t>{77}));
  EXPECT_EQ(cgroups_->path(77), "");
}

// The run, in its order of trust: a Slurm cgroup over the environment, the
// environment the kernel read at exec over --run-id, and a rank's own
// environment over its job's for its own records.
TEST_F(JobsTest, ASlurmCgroupJobIsItsSlurmRunWhateverTheEnvironmentSays) {
  make();
  install({policy("a", {}, {"/system.slice/slurmstepd.scope/job_*/step_*"})});
  decode::Cgroup mk{fts::testing::header(decode::Kind::kCgroupMkdir, task(1, 0)), 91, 4,
                    "/system.slice/slurmstepd.scope/job_42/step_0"};
  jobs_->on_cgroup(mk, &changes_);
  const Job* j = jobs_->find(decode::kCgroupJobBit | 91);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->run, "slurm:42");
  EXPECT_EQ(j->run_source, "cgroup");
  EXPECT_EQ(j->labels.at("slurm_step"), "0");
  state::Process liar;
  liar.run_env = {{"SLURM_JOB_ID", "7"}, {"RANK", "3"}};
  EXPECT_EQ(run_of(*j, &liar), "slurm:42") << "a task cannot move itself to another Slurm job by its environment";
}

TEST_F(JobsTest, ALauncherRunIsItsEnvironmentAtExecThenRunIdThenTheJob) {
  make();
  install({policy("a", {"**/torchrun"})});
  const auto t = task(6000, sec(600));
  const uint64_t id = decode::job_id_for(t.tgid, t.start_ns);
  auto e = exec_of(t, task(1, 0), "/usr/bin/torchrun", {"torchrun", "train.py"}, id);
  e.job_started = true;
  e.policy = 0;
  e.run_env = {{"TORCHELASTIC_RUN_ID", "ft-9"}, {"MASTER_ADDR", "10.1.2.3"}};
  exec(e);
  const Job* j = jobs_->find(id);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->run, "torchelastic:ft-9");
  EXPECT_EQ(j->run_source, "env");
  EXPECT_EQ(j->labels.at("master_addr"), "10.1.2.3");
  // A worker whose own exec named another run keeps it on its records; one
  // that named none carries the job's.
  state::Process worker;
  worker.run_env = {{"TORCHELASTIC_RUN_ID", "other"}, {"RANK", "1"}};
  EXPECT_EQ(run_of(*j, &worker), "torchelastic:other");
  worker.run_env = {{"RANK", "1"}};
  EXPECT_EQ(run_of(*j, &worker), "torchelastic:ft-9");
  EXPECT_EQ(run_of(*j, nullptr), "torchelastic:ft-9");

  // No variable: the job alone is its run.
  const auto u = task(6001, sec(601));
  const uint64_t id2 = decode::job_id_for(u.tgid, u.start_ns);
  auto bare = exec_of(u, task(1, 0), "/usr/bin/torchrun", {"torchrun"}, id2);
  bare.job_started = true;
  bare.policy = 0;
  exec(bare);
  ASSERT_NE(jobs_->find(id2), nullptr);
  EXPECT_EQ(jobs_->find(id2)->run, "job:" + job_id_string(id2));
  EXPECT_EQ(jobs_->find(id2)->run_source, "job");
}

TEST_F(JobsTest, RunIdNamesTheRunOnlyWhenTheEnvironmentDoesNot) {
  using fts::testing::add_fake_proc;
  add_fake_proc(proc_root_, {.pid = 7100, .ppid = 1, .start_ticks = 71000, .exe = "/usr/bin/ftsentinel"});
  add_fake_proc(proc_root_, {.pid = 7200, .ppid = 1, .start_ticks = 72000, .exe = "/usr/bin/ftsentinel",
                             .environ = "PATH=/bin\0SLURM_JOB_ID=77\0SLURM_PROCID=2\0"s});
  make();
  state::bootstrap(proc_root_.path(), &procs_);
  install({policy("a", {})});
  auto plain = jobs_->register_run(7100, 71000, "a", "x", &changes_, "sweep-3");
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ((*plain)->run, "sweep-3");
  EXPECT_EQ((*plain)->run_source, "run_id");
  auto slurm = jobs_->register_run(7200, 72000, "a", "y", &changes_, "sweep-3");
  ASSERT_TRUE(slurm) << slurm.error();
  EXPECT_EQ((*slurm)->run, "slurm:77");
  EXPECT_EQ((*slurm)->run_source, "env");
  EXPECT_EQ(procs_.find_tgid(7200)->run_env.at("SLURM_PROCID"), "2");
  // Saved and restored with the job.
  v1::JobRegistry saved = jobs_->saved();
  ASSERT_EQ(saved.jobs_size(), 2);
  EXPECT_EQ(saved.jobs(0).run(), "sweep-3");
}

TEST_F(JobsTest, CgroupOutsideTheGlobsIsNoJob) {
  make();
  install({policy("a", {}, {"/system.slice/finetune-*.scope"})});
  decode::Cgroup mk{fts::testing::header(decode::Kind::kCgroupMkdir, task(1, 0)), 78, 2,
                    "/system.slice/sshd.service"};
  jobs_->on_cgroup(mk, &changes_);
  EXPECT_TRUE(changes().empty());
  EXPECT_TRUE(kernel_.cgroup_jobs.empty());
}

TEST_F(JobsTest, ExistingCgroupWithTasksBecomesAJobAtApply) {
  fts::testing::TempDir mount;
  std::string scope = mount / "system.slice/finetune-1.scope";
  std::filesystem::create_directories(scope);
  fts::testing::write_file(scope + "/cgroup.procs", "6000\n");
  fts::testing::add_fake_proc(proc_root_, {.pid = 6000, .ppid = 1, .start_ticks = 600, .exe = "/usr/bin/python3",
                                           .children = {6001}});
  fts::testing::add_fake_proc(proc_root_, {.pid = 6001, .ppid = 6000, .start_ticks = 601, .exe = "/usr/bin/python3"});
  make(mount.path());
  install({policy("a", {}, {"/system.slice/finetune-*.scope"})});

  struct stat st {};
  ASSERT_EQ(stat(scope.c_str(), &st), 0);
  const uint64_t id = decode::kCgroupJobBit | st.st_ino;
  EXPECT_EQ(changes(), (std::vector<std::pair<JobChange::Kind, uint64_t>>{{JobChange::kStarted, id}}));
  ASSERT_EQ(kernel_.cgroup_jobs.count(st.st_ino), 1u);
  const Job* j = jobs_->find(id);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->cgroup_id, st.st_ino);
  EXPECT_EQ(j->live(), 2u) << "the task inside and its child";
  std::set<uint32_t> tracked;
  for (const auto& t : kernel_.tracked) tracked.insert(t.tgid);
  EXPECT_EQ(tracked, (std::set<uint32_t>{6000, 6001}));
}

}  // namespace
}  // namespace fts::jobs
