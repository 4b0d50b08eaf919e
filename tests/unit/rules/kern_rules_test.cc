// The rules fed by kernel sensing added for issue 5: preload-injection,
// job-memory-access and sensor-tamper from records. Synthetic records: each
// fires, stays quiet when it should, and a repeat is counted, not raised.
#include <csignal>

#include <gtest/gtest.h>

#include "rules/rules.h"
#include "support/rules_fixture.h"
#include "support/fixtures.h"

namespace fts::rules {
namespace {

using fts::testing::exec_of;
using fts::testing::task;

class KernRulesTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    policy::Policy p = base_policy();
    p.spec.mutable_data()->add_training("/data/approved/**");
    p.spec.mutable_process()->add_allow_preload("/usr/lib/**/libtcmalloc*.so*");
    start(std::move(p));
    // a process outside any job
    state::Process outsider;
    outsider.key = {200, 2'000'000'000 / decode::kNsPerTick};
    outsider.start_ns = 2'000'000'000;
    outsider.exe = "/usr/bin/gdb";
    procs_.add(outsider);
  }

  decode::ProcessAccess access(uint32_t pid, uint64_t start, uint64_t job, decode::AccessOp op, int64_t result) {
    decode::ProcessAccess a;
    a.hdr = fts::testing::header(decode::Kind::kProcessAccess, task(pid, start), job);
    a.op = op;
    a.target = task(100, kRootStart);
    a.target_job = id_;
    a.target_tid = 100;
    a.result = result;
    a.arg = 16;  // PTRACE_ATTACH
    return a;
  }

  decode::SensorTouch signal(uint32_t sig) {
    decode::SensorTouch t;
    t.hdr = fts::testing::header(decode::Kind::kSensor, task(200, 2'000'000'000));
    t.op = decode::SensorOp::kSignal;
    t.arg = sig;
    t.target = 999;
    return t;
  }

};

TEST_F(KernRulesTest, PreloadInAJobProcessFiresOncePerLibrary) {
  decode::Exec e = exec_of(task(101, 1'500'000'000), task(100, kRootStart), "/usr/bin/python3", {"python3"}, id_);
  e.preload = "/tmp/evil.so";
  auto al = run(e);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"preload-injection"});
  EXPECT_EQ(al[0].severity(), "high");
  EXPECT_EQ(al[0].mitre().attack(0), "T1574.006");
  EXPECT_EQ(al[0].job().id(), jobs::job_id_string(id_));
  EXPECT_NE(al[0].message().find("LD_PRELOAD=/tmp/evil.so"), std::string::npos) << al[0].message();
  EXPECT_TRUE(run(e).empty()) << "a repeat is counted, not raised";
  EXPECT_EQ(engine_.suppressed(), 1u);
}

TEST_F(KernRulesTest, NoPreloadOrNoJobIsQuiet) {
  decode::Exec plain = exec_of(task(102, 1'600'000'000), task(100, kRootStart), "/usr/bin/python3", {"python3"}, id_);
  EXPECT_TRUE(run(plain).empty());
  decode::Exec outside = exec_of(task(300, 3'000'000'000), task(1, 0), "/usr/bin/python3", {"python3"});
  outside.preload = "/tmp/evil.so";  // the kernel sends none for untracked tasks; if one came, not a job's
  EXPECT_TRUE(run(outside).empty());
}

TEST_F(KernRulesTest, PreloadsThePolicyAllowsAreQuietUnlessOneIsNot) {
  decode::Exec e = exec_of(task(103, 1'700'000'000), task(100, kRootStart), "/usr/bin/python3", {"python3"}, id_);
  e.preload = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";
  EXPECT_TRUE(run(e).empty()) << "an allowed allocator";
  e.hdr.task = task(104, 1'800'000'000);
  e.preload = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4:/tmp/evil.so";
  EXPECT_EQ(rules_of(run(e)), std::vector<std::string>{"preload-injection"}) << "one library outside the list";
  e.hdr.task = task(105, 1'900'000'000);
  e.preload = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";
  e.preload_truncated = true;
  EXPECT_EQ(rules_of(run(e)), std::vector<std::string>{"preload-injection"}) << "a value cut short is not known allowed";
}

TEST_F(KernRulesTest, WritingTheLoadersPreloadListFiresForAnyone) {
  decode::File f;
  f.hdr = fts::testing::header(decode::Kind::kFile, task(200, 2'000'000'000));
  f.op = decode::FileOp::kOpen;
  f.access = decode::access::kWrite | decode::access::kCreate;
  f.classes = decode::cls::kPreload;
  f.matched_by_name = true;
  f.path = "/etc/ld.so.preload";
  f.result = 3;
  auto al = run(f, f.path);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"preload-injection"});
  EXPECT_EQ(al[0].severity(), "critical");
  EXPECT_EQ(al[0].file().path(), "/etc/ld.so.preload");
  EXPECT_EQ(al[0].process().exe(), "/usr/bin/gdb");
  EXPECT_FALSE(al[0].has_job());

  decode::File read = f;
  read.access = decode::access::kRead;
  read.hdr.task = task(201, 2'100'000'000);
  EXPECT_TRUE(run(read, read.path).empty()) << "the loader reads it at every exec";
  decode::File other = f;
  other.hdr.task = task(202, 2'200'000'000);
  other.path = "/home/u/ld.so.preload";  // the kernel matches the name; only the loader's list counts
  EXPECT_TRUE(run(other, other.path).empty());
  decode::File failed = f;
  failed.hdr.task = task(203, 2'300'000'000);
  failed.result = -13;
  EXPECT_TRUE(run(failed, failed.path).empty());
  decode::File renamed = f;
  renamed.hdr.task = task(204, 2'400'000'000);
  renamed.op = decode::FileOp::kRename;
  renamed.path = "/etc/x.tmp";
  renamed.path2 = "/etc/ld.so.preload";
  EXPECT_EQ(rules_of(run(renamed, renamed.path)), std::vector<std::string>{"preload-injection"});
}

TEST_F(KernRulesTest, AnOutsiderAttachingToAJobProcessNamesTheTargetJob) {
  auto a = access(200, 2'000'000'000, 0, decode::AccessOp::kPtrace, 0);
  auto al = run(a);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"job-memory-access"});
  EXPECT_EQ(al[0].severity(), "high");
  EXPECT_EQ(al[0].mitre().attack(0), "T1055.008");
  EXPECT_EQ(al[0].job().id(), jobs::job_id_string(id_)) << "the alert is about the job reached into";
  EXPECT_EQ(al[0].process().pid(), 200u) << "the process is the accessor";
  EXPECT_EQ(al[0].process().exe(), "/usr/bin/gdb");
  EXPECT_NE(al[0].message().find("ptrace attach"), std::string::npos) << al[0].message();
  EXPECT_TRUE(run(a).empty()) << "a repeat is counted, not raised";

  auto mem = access(200, 2'000'000'000, 0, decode::AccessOp::kMemOpen, 4);
  EXPECT_EQ(rules_of(run(mem)), std::vector<std::string>{"job-memory-access"}) << "another kind of access";
  auto refused = access(201, 2'100'000'000, 0, decode::AccessOp::kVmRead, -1);
  al = run(refused);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"job-memory-access"});
  EXPECT_EQ(al[0].severity(), "medium") << "a refused attempt is said, one step lower";
}

TEST_F(KernRulesTest, TheJobReachingIntoItselfOrAnEndedJobIsQuiet) {
  auto sibling = access(101, 1'500'000'000, id_, decode::AccessOp::kMemOpen, 4);
  EXPECT_TRUE(run(sibling).empty()) << "the job's own tree is one trust domain";
  auto unknown = access(200, 2'000'000'000, 0, decode::AccessOp::kPtrace, 0);
  unknown.target_job = 12345;  // no such job (ended, or never registered)
  EXPECT_TRUE(run(unknown).empty());
}

TEST_F(KernRulesTest, SignalsToTheDaemon) {
  auto stop = run(signal(SIGSTOP));
  ASSERT_EQ(rules_of(stop), std::vector<std::string>{"sensor-tamper"});
  EXPECT_EQ(stop[0].severity(), "high");
  EXPECT_NE(stop[0].message().find("SIGSTOP"), std::string::npos) << stop[0].message();
  EXPECT_EQ(stop[0].mitre().attack(0), "T1562.001");
  auto cont = run(signal(SIGCONT));
  ASSERT_EQ(rules_of(cont), std::vector<std::string>{"sensor-tamper"}) << "another signal, another alert";
  EXPECT_EQ(cont[0].severity(), "low");
  auto hup = run(signal(SIGHUP));
  ASSERT_EQ(hup.size(), 1u);
  EXPECT_EQ(hup[0].severity(), "info") << "SIGHUP asks for a reload";
  EXPECT_EQ(run(signal(SIGTERM)).at(0).severity(), "medium");
  EXPECT_TRUE(run(signal(SIGSTOP)).empty()) << "a repeat is counted, not raised";
  auto by_systemd = signal(SIGTERM);
  by_systemd.hdr.task = task(1, 0);
  auto stop_service = run(by_systemd);
  ASSERT_EQ(stop_service.size(), 1u) << "a service stop is still said";
  EXPECT_EQ(stop_service[0].severity(), "info") << stop_service[0].message();
  EXPECT_NE(stop_service[0].message().find("service manager"), std::string::npos);
}

TEST_F(KernRulesTest, TakingAPinnedMap) {
  decode::SensorTouch t;
  t.hdr = fts::testing::header(decode::Kind::kSensor, task(200, 2'000'000'000));
  t.op = decode::SensorOp::kObjGet;
  t.arg = 77;
  t.name = "tasks";
  auto al = run(t);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"sensor-tamper"});
  EXPECT_EQ(al[0].severity(), "high");
  EXPECT_NE(al[0].message().find("tasks"), std::string::npos);
}

}  // namespace
}  // namespace fts::rules
