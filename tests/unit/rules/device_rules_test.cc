// gpu-access-outside-job and rdma-egress on synthetic records: each fires,
// stays quiet when it should (the job itself, the policy's agent by path,
// a device no job holds, rdma allowed), and names the job that holds it.
#include <gtest/gtest.h>

#include "rules/rules.h"
#include "support/fixtures.h"
#include "support/rules_fixture.h"

namespace fts::rules {
namespace {

using fts::testing::task;

class DeviceRulesTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    policy::Policy p = base_policy();
    p.spec.mutable_data()->add_training("/data/approved/**");
    p.spec.mutable_devices()->add_agents("/opt/monitor/bin/nvidia-smi");
    if (deny_) p.spec.mutable_network()->set_rdma("deny");
    start(std::move(p));
  }

  decode::Device device(uint32_t tgid, uint64_t job, decode::Source source, uint32_t minor = 0,
                        decode::DeviceClass c = decode::DeviceClass::kGpu, const std::string& exe = "") {
    decode::Device d;
    d.hdr.kind = decode::Kind::kDevice;
    d.hdr.task = task(tgid, 3'000'000'000ull + tgid);
    d.hdr.job_id = job;
    d.cls = c;
    d.major = c == decode::DeviceClass::kGpu ? 195 : 231;
    d.minor = minor;
    d.path = c == decode::DeviceClass::kGpu ? "/dev/nvidia" + std::to_string(minor) : "/dev/infiniband/uverbs0";
    d.source = source;
    d.exe = exe;
    return d;
  }
  // The job (its root, pid 100) opens the device: it holds it from now on.
  void job_opens(const decode::Device& d) {
    jobs_->on_device(d);
    run(d);
  }
  decode::File read(const std::string& path, uint32_t classes) {
    decode::File f;
    f.hdr.kind = decode::Kind::kFile;
    f.hdr.task = task(100, kRootStart);
    f.hdr.job_id = id_;
    f.op = decode::FileOp::kOpen;
    f.access = decode::access::kRead;
    f.classes = classes;
    f.path = path;
    return f;
  }
  bool deny_ = false;
};

TEST_F(DeviceRulesTest, AnOutsiderOpeningAHeldGpuNamesTheHolder) {
  auto outsider = device(300, 0, decode::Source::kFanotify, 0, decode::DeviceClass::kGpu, "/usr/bin/python3.11");
  EXPECT_TRUE(run(outsider).empty()) << "no job holds it yet";
  job_opens(device(100, id_, decode::Source::kSyscall));
  auto al = run(outsider);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"gpu-access-outside-job"});
  EXPECT_EQ(al[0].job().id(), jobs::job_id_string(id_)) << "the alert is about the job that holds the GPU";
  EXPECT_EQ(al[0].severity(), "high");
  EXPECT_EQ(al[0].mitre().attack(0), "T1005");
  EXPECT_EQ(al[0].mitre().atlas(0), "AML.T0025");
  EXPECT_EQ(al[0].device().path(), "/dev/nvidia0");
  EXPECT_EQ(al[0].device().source(), "fanotify");
  EXPECT_EQ(al[0].process().pid(), 300u);
  EXPECT_NE(al[0].message().find("/usr/bin/python3.11"), std::string::npos) << al[0].message();
  EXPECT_TRUE(run(outsider).empty()) << "a repeat is counted, not raised";
  EXPECT_TRUE(run(device(301, 0, decode::Source::kFanotify, 1, decode::DeviceClass::kGpu, "/usr/bin/cat")).empty())
      << "another GPU, which the job does not hold";
}

TEST_F(DeviceRulesTest, TheAgentByPathAndTheJobItselfAreQuiet) {
  job_opens(device(100, id_, decode::Source::kSyscall));
  EXPECT_TRUE(run(device(310, 0, decode::Source::kFanotify, 0, decode::DeviceClass::kGpu,
                         "/opt/monitor/bin/nvidia-smi")).empty());
  auto impostor = device(311, 0, decode::Source::kFanotify, 0, decode::DeviceClass::kGpu, "/tmp/x/nvidia-smi");
  EXPECT_EQ(rules_of(run(impostor)), std::vector<std::string>{"gpu-access-outside-job"}) << "a name is not a path";
  auto default_agent = device(312, 0, decode::Source::kFanotify, 0, decode::DeviceClass::kGpu, "/usr/bin/nvidia-smi");
  EXPECT_EQ(rules_of(run(default_agent)), std::vector<std::string>{"gpu-access-outside-job"})
      << "a policy that names its agents replaces the default list";
  EXPECT_TRUE(run(device(101, id_, decode::Source::kSyscall)).empty()) << "the job's own process";
}

TEST_F(DeviceRulesTest, ReachingIntoAJobThatHoldsAGpu) {
  decode::ProcessAccess a;
  a.hdr.kind = decode::Kind::kProcessAccess;
  a.hdr.task = task(320, 4'000'000'000);
  a.op = decode::AccessOp::kPtrace;
  a.target = task(100, kRootStart);
  a.target_job = id_;
  EXPECT_EQ(rules_of(run(a)), std::vector<std::string>{"job-memory-access"}) << "no GPU held yet";
  job_opens(device(100, id_, decode::Source::kSyscall));
  a.hdr.task = task(321, 4'100'000'000);
  auto al = run(a);
  EXPECT_EQ(rules_of(al), (std::vector<std::string>{"job-memory-access", "gpu-access-outside-job"}));
}

class RdmaDenyTest : public DeviceRulesTest {
 protected:
  void SetUp() override {
    deny_ = true;
    DeviceRulesTest::SetUp();
  }
};

TEST_F(RdmaDenyTest, DataReadAndAVerbsDeviceInEitherOrder) {
  auto verbs = device(100, id_, decode::Source::kSyscall, 192, decode::DeviceClass::kRdma);
  EXPECT_TRUE(run(verbs).empty()) << "no data read yet";
  for (const auto& a : run(read("/usr/lib/x.so", decode::cls::kBase))) EXPECT_NE(a.rule(), "rdma-egress") << "not data";
  auto al = run(read("/data/approved/shard-0", decode::cls::kTraining), "/data/approved/shard-0");
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"rdma-egress"});
  EXPECT_EQ(al[0].severity(), "critical");
  EXPECT_EQ(al[0].mitre().attack(0), "T1048");
  EXPECT_NE(al[0].message().find("/dev/infiniband/uverbs0"), std::string::npos) << al[0].message();
  EXPECT_NE(al[0].message().find("/data/approved/shard-0"), std::string::npos) << al[0].message();
  EXPECT_TRUE(run(read("/data/approved/shard-1", decode::cls::kTraining), "/data/approved/shard-1").empty())
      << "once per job";
}

TEST_F(DeviceRulesTest, RdmaAllowedByDefault) {
  run(read("/data/approved/shard-0", decode::cls::kTraining), "/data/approved/shard-0");
  EXPECT_TRUE(run(device(100, id_, decode::Source::kSyscall, 192, decode::DeviceClass::kRdma)).empty());
}

}  // namespace
}  // namespace fts::rules
