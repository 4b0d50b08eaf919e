// exfil-to-allowed on synthetic records: bytes to an allowed destination held
// against the data the job read (sizes from file_hash records), the overlap
// with egress-volume, outputs that explain an upload, and either order of a
// file's hash and the upload's flow.
#include <gtest/gtest.h>

#include "rules/data_reads.h"
#include "support/rules_fixture.h"

namespace fts::rules {
namespace {

using fts::testing::header;
using fts::testing::task;

constexpr uint64_t kMiB = 1 << 20;
const std::string kShard = "/data/approved/shard-0.bin";
const std::string kCkpt = "/ckpt/model.safetensors";

class ExfilToAllowedTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    policy::Policy p = base_policy();
    p.spec.mutable_data()->add_training("/data/approved/**");
    p.spec.mutable_data()->add_protected_("/data/**");
    p.spec.mutable_data()->add_outputs("/ckpt/**");
    start(std::move(p));
  }
  decode::TaskId worker() const { return task(100, kRootStart); }

  std::vector<v1::Alert> read(const std::string& path) {
    decode::File f;
    f.hdr = header(decode::Kind::kFile, worker(), id_);
    f.op = decode::FileOp::kOpen;
    f.access = decode::access::kRead;
    f.classes = decode::cls::kTraining | decode::cls::kProtected;
    f.path = path;
    return run(f, path);
  }
  std::vector<v1::Alert> hashed(const std::string& path, uint64_t size, const std::string& reason = "read",
                                uint32_t classes = decode::cls::kTraining | decode::cls::kProtected,
                                const std::string& sha = "aa") {
    decode::FileHash h;
    h.hdr = header(decode::Kind::kFileHash, worker(), id_);
    h.path = path;
    h.size = size;
    h.reason = reason;
    h.classes = classes;
    h.sha256 = sha;
    return run(h, path);
  }
  // A flow to 127.0.0.1:443; `total`: the job's bytes there so far.
  std::vector<v1::Alert> flow(uint64_t total, bool allowed = true, uint64_t limit = 0, const std::string& sni = "") {
    decode::Net n;
    n.hdr = header(decode::Kind::kNet, worker(), id_);
    n.op = decode::NetOp::kFlow;
    n.cookie = 7;
    n.bytes = total;
    n.daddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    n.dport = 443;
    n.protocol = 6;
    n.v4 = true;
    n.allowed = allowed;
    n.policy = 0;
    const jobs::Job* job = jobs_->find(id_);
    Input in{n, procs_.find(state::key_of(n.hdr.task)), job, set_->at(0), *set_, *jobs_, procs_, "", kEvidence};
    in.net_total_bytes = total;
    in.net_max_bytes = limit;
    in.net_sni = sni;
    return engine_.run(in);
  }
};

TEST_F(ExfilToAllowedTest, AnUploadTheSizeOfAShardItReadNamesTheShardAndTheServerName) {
  EXPECT_TRUE(read(kShard).empty());
  EXPECT_TRUE(hashed(kShard, 4 * kMiB, "read", decode::cls::kTraining | decode::cls::kProtected, "5ha").empty());
  auto al = flow(4 * kMiB + 9000, true, 0, "uploads.example.test");  // TLS records and HTTP headers on top
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"exfil-to-allowed"});
  const v1::Alert& a = al[0];
  EXPECT_EQ(a.severity(), "high");
  EXPECT_EQ(a.network().sni(), "uploads.example.test");
  EXPECT_EQ(a.network().daddr(), "127.0.0.1");
  EXPECT_EQ(a.network().dport(), 443u);
  EXPECT_EQ(a.network().total_bytes(), 4 * kMiB + 9000);
  EXPECT_EQ(a.file().path(), kShard);
  ASSERT_EQ(a.matched_files_size(), 1);
  EXPECT_EQ(a.matched_files(0).path(), kShard);
  EXPECT_EQ(a.matched_files(0).size(), 4 * kMiB);
  EXPECT_EQ(a.matched_files(0).sha256(), "5ha");
  EXPECT_NE(a.message().find("uploads.example.test"), std::string::npos) << a.message();
  EXPECT_NE(a.message().find(kShard), std::string::npos) << a.message();
  EXPECT_EQ(std::vector<std::string>(a.mitre().attack().begin(), a.mitre().attack().end()),
            std::vector<std::string>{"T1567"});
  EXPECT_EQ(std::vector<std::string>(a.mitre().atlas().begin(), a.mitre().atlas().end()),
            std::vector<std::string>{"AML.T0025"});
  // Once per job and destination: the next flow there adds nothing.
  EXPECT_TRUE(flow(8 * kMiB + 20000, true, 0, "uploads.example.test").empty());
}

TEST_F(ExfilToAllowedTest, SmallMetricsOrBytesUnlikeAnyFileAreNothing) {
  read(kShard);
  hashed(kShard, 4 * kMiB);
  EXPECT_TRUE(flow(2000).empty());          // metrics
  EXPECT_TRUE(flow(3 * kMiB).empty());      // under 90% of the shard
  EXPECT_TRUE(flow(6 * kMiB).empty());      // past 140% + 64 KiB
}

TEST_F(ExfilToAllowedTest, ABigUploadButTheJobReadNoDataIsNothing) {
  EXPECT_TRUE(flow(4 * kMiB).empty());
}

TEST_F(ExfilToAllowedTest, FilesUnder64KiBMatchNothing) {
  read(kShard);
  hashed(kShard, 2000);
  EXPECT_TRUE(flow(2000).empty());
  EXPECT_FALSE(volume_matches(2000, 2000));
  EXPECT_TRUE(volume_matches(kMinMatchSize, kMinMatchSize));
}

TEST_F(ExfilToAllowedTest, ToADestinationOutsideEgressItIsExfilChainsNotThisRules) {
  read(kShard);
  hashed(kShard, 4 * kMiB);
  auto al = flow(4 * kMiB, false);
  EXPECT_EQ(std::count_if(al.begin(), al.end(), [](const auto& a) { return a.rule() == "exfil-to-allowed"; }), 0);
  EXPECT_NE(std::find_if(al.begin(), al.end(), [](const auto& a) { return a.rule() == "exfil-chain"; }), al.end());
}

TEST_F(ExfilToAllowedTest, TheHashAfterTheFlowStillMatches) {
  read(kShard);
  EXPECT_TRUE(flow(4 * kMiB + 5000, true, 0, "uploads.example.test").empty());  // size not known yet
  auto al = hashed(kShard, 4 * kMiB);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"exfil-to-allowed"});
  EXPECT_EQ(al[0].network().sni(), "uploads.example.test");
  EXPECT_EQ(al[0].network().daddr(), "127.0.0.1");
  EXPECT_EQ(al[0].network().total_bytes(), 4 * kMiB + 5000);
  ASSERT_EQ(al[0].matched_files_size(), 1);
  EXPECT_EQ(al[0].matched_files(0).path(), kShard);
  EXPECT_TRUE(hashed("/data/approved/other.bin", 4 * kMiB).empty());  // raised once
}

TEST_F(ExfilToAllowedTest, OverTheLimitAfterReadingDataIsThisRuleAndNotEgressVolumeToo) {
  read(kShard);
  hashed(kShard, 4 * kMiB);
  auto al = flow(50 * kMiB, true, 32 * kMiB, "uploads.example.test");
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"exfil-to-allowed"});
  EXPECT_NE(al[0].message().find("over its limit of " + std::to_string(32 * kMiB)), std::string::npos) << al[0].message();
  EXPECT_EQ(al[0].matched_files(0).path(), kShard);
}

TEST_F(ExfilToAllowedTest, OverTheLimitWithOnlySmallFilesReadIsEgressVolumeAlone) {
  read(kShard);
  hashed(kShard, 1300);
  EXPECT_EQ(rules_of(flow(200000, true, 100000)), std::vector<std::string>{"egress-volume"});
}

TEST_F(ExfilToAllowedTest, AnOutputOfTheSameSizeExplainsTheUploadUnlessItIsACopy) {
  read(kShard);
  hashed(kShard, 4 * kMiB, "read", decode::cls::kTraining | decode::cls::kProtected, "base");
  hashed(kCkpt, 4 * kMiB, "write", decode::cls::kOutputs, "tuned");
  EXPECT_TRUE(flow(4 * kMiB + 3000).empty());  // the checkpoint going to the object store
}

TEST_F(ExfilToAllowedTest, AnOutputThatIsACopyOfTheShardExplainsNothing) {
  read(kShard);
  hashed(kShard, 4 * kMiB, "read", decode::cls::kTraining | decode::cls::kProtected, "same");
  hashed(kCkpt, 4 * kMiB, "write", decode::cls::kOutputs, "same");
  EXPECT_EQ(rules_of(flow(4 * kMiB + 3000)), std::vector<std::string>{"exfil-to-allowed"});
}

TEST(DataReadsMatch, ClosestFileFirstAtMostEight) {
  DataReads r;
  auto hash = [&](const std::string& path, uint64_t size) {
    decode::FileHash h;
    h.hdr.job_id = 1;
    h.path = path;
    h.size = size;
    h.reason = "read";
    h.classes = decode::cls::kTraining;
    h.sha256 = path;
    r.on_hash(h);
  };
  for (int i = 0; i < 12; ++i) hash("/d/" + std::to_string(i), (1 + i) * kMiB);
  UploadMatch m = r.match(1, 100 * kMiB, 10 * kMiB);
  ASSERT_EQ(m.files.size(), DataReads::kMaxMatched);
  EXPECT_TRUE(m.over_limit);
  EXPECT_EQ(m.files[0].path, "/d/11");  // 12 MiB: the closest to 100
  EXPECT_TRUE(r.match(2, 100 * kMiB, 10 * kMiB).empty());  // another job read nothing
}

}  // namespace
}  // namespace fts::rules
