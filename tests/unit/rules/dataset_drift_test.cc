// dataset-drift on synthetic file hashes, and the engine's repeat summaries.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "rules/rules.h"
#include "support/rules_fixture.h"
#include "support/fixtures.h"

namespace fts::rules {
namespace {

using fts::testing::exec_of;
using fts::testing::task;

const std::string kA(64, 'a'), kB(64, 'b');

class DriftTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    policy::Policy p = base_policy();
    auto* d = p.spec.mutable_data();
    d->add_training("/data/approved/**");
    d->add_outputs("/ckpt/**");
    d->add_protected_("/data/**");
    d->add_sensitive("/root/.aws/**");
    d->set_manifest("/data/approved/SHA256SUMS");
    start(std::move(p));
  }

  decode::FileHash hash(const std::string& path, const std::string& sha, const std::string& verdict = "",
                        const std::string& expected = "", const std::string& first = "", uint64_t job = ~0ull) {
    decode::FileHash h;
    h.hdr = fts::testing::header(decode::Kind::kFileHash, task(100, 1'000'000'000), job == ~0ull ? id_ : job);
    h.path = path;
    h.dev = (8ull << 20) | 1;
    h.ino = 1234;
    h.classes = decode::cls::kTraining | decode::cls::kProtected;
    h.reason = first.empty() ? "read" : "change";
    h.sha256 = sha;
    h.size = 100;
    if (!verdict.empty()) h.manifest = "/data/approved/SHA256SUMS";
    h.manifest_verdict = verdict;
    h.manifest_sha256 = expected;
    h.first_sha256 = first;
    return h;
  }

  std::vector<v1::Alert> drift(const decode::FileHash& h) {
    std::vector<v1::Alert> out;
    for (auto& a : run(h, h.path))
      if (a.rule() == "dataset-drift") out.push_back(std::move(a));
    return out;
  }

};

TEST_F(DriftTest, ManifestMismatchFiresWithBothHashes) {
  auto al = run(hash("/data/approved/s0.jsonl", kB, "mismatch", kA), "/data/approved/s0.jsonl");
  ASSERT_EQ(al.size(), 1u);
  const auto& a = al[0];
  EXPECT_EQ(a.rule(), "dataset-drift");
  EXPECT_EQ(a.severity(), "high");
  EXPECT_EQ(a.job().id(), jobs::job_id_string(id_));
  EXPECT_EQ(a.file().path(), "/data/approved/s0.jsonl");
  EXPECT_EQ(a.file().ino(), 1234u);
  EXPECT_EQ(a.file().dev(), decode::user_dev((8ull << 20) | 1));
  EXPECT_EQ(a.process().exe(), "/usr/bin/torchrun");
  EXPECT_NE(a.message().find(kA), std::string::npos) << a.message();
  EXPECT_NE(a.message().find(kB), std::string::npos) << a.message();
  EXPECT_EQ(a.mitre().atlas(0), "AML.T0020");
  EXPECT_EQ(a.mitre().atlas(1), "AML.T0059");
  EXPECT_EQ(a.evidence(0), 42u);
}

TEST_F(DriftTest, MatchingAndUncoveredFilesAreQuiet) {
  EXPECT_TRUE(drift(hash("/data/approved/s0.jsonl", kA, "match", kA)).empty());
  EXPECT_TRUE(drift(hash("/data/other/x.jsonl", kA)).empty()) << "no manifest speaks for it";
  EXPECT_TRUE(drift(hash("/data/approved/s1.jsonl", "", "")).empty()) << "not hashed (an error): nothing to compare";
  EXPECT_TRUE(drift(hash("/data/approved/s0.jsonl", kB, "mismatch", kA, "", 0)).empty()) << "outside any job";
}

TEST_F(DriftTest, UnlistedFileIsMedium) {
  auto al = drift(hash("/data/approved/new.jsonl", kA, "unlisted"));
  ASSERT_EQ(al.size(), 1u);
  EXPECT_EQ(al[0].severity(), "medium");
  EXPECT_NE(al[0].message().find("does not list"), std::string::npos) << al[0].message();
}

TEST_F(DriftTest, ContentChangedDuringTheRunFiresOnceWithBothHashes) {
  auto al = drift(hash("/data/approved/s0.jsonl", kB, "mismatch", kA, kA));
  ASSERT_EQ(al.size(), 1u) << "one alert, not one for the change and one for the manifest";
  EXPECT_NE(al[0].message().find("changed during"), std::string::npos) << al[0].message();
  EXPECT_NE(al[0].message().find(kA), std::string::npos);
  EXPECT_NE(al[0].message().find(kB), std::string::npos);
  // Without a manifest: the change alone.
  EXPECT_EQ(drift(hash("/data/other/x", kB, "", "", kA)).size(), 1u);
}

TEST_F(DriftTest, TheSameContentIsOneAlertAnotherContentAnother) {
  EXPECT_EQ(drift(hash("/data/approved/s0.jsonl", kB, "mismatch", kA)).size(), 1u);
  EXPECT_TRUE(drift(hash("/data/approved/s0.jsonl", kB, "mismatch", kA)).empty()) << "a repeat is counted";
  EXPECT_EQ(engine_.suppressed(), 1u);
  std::string kC(64, 'c');
  EXPECT_EQ(drift(hash("/data/approved/s0.jsonl", kC, "mismatch", kA)).size(), 1u) << "new content, new alert";
}

// --- repeat summaries ---

decode::File read_of(uint64_t job, const std::string& path, uint64_t ts) {
  decode::File f;
  f.hdr = fts::testing::header(decode::Kind::kFile, task(100, 1'000'000'000), job, ts);
  f.op = decode::FileOp::kOpen;
  f.access = decode::access::kRead;
  f.path = path;
  f.result = 3;
  return f;
}

TEST_F(DriftTest, SuppressedRepeatsAreSummedUpOnce) {
  EXPECT_EQ(run(read_of(id_, "/root/.aws/credentials", 2'000'000'000), "/root/.aws/credentials").size(), 1u);
  EXPECT_TRUE(engine_.summaries().empty()) << "nothing repeated yet";
  for (uint64_t i = 0; i < 3; ++i)
    EXPECT_TRUE(run(read_of(id_, "/root/.aws/credentials", 3'000'000'000 + i * 1'000'000'000),
                    "/root/.aws/credentials")
                    .empty());
  auto s = engine_.summaries();
  ASSERT_EQ(s.size(), 1u);
  const auto& a = s[0];
  EXPECT_EQ(a.rule(), "credential-read");
  EXPECT_EQ(a.severity(), "high");
  EXPECT_EQ(a.repeats(), 3u);
  EXPECT_EQ(a.job().id(), jobs::job_id_string(id_));
  EXPECT_EQ(a.process().pid(), 100u);
  EXPECT_EQ(a.file().path(), "/root/.aws/credentials");
  EXPECT_FALSE(a.repeats_since().empty());
  EXPECT_LT(a.repeats_since(), a.time()) << "first repeat, then the last one";
  EXPECT_NE(a.message().find("repeated 3 more times since " + a.repeats_since()), std::string::npos) << a.message();
  EXPECT_TRUE(engine_.summaries().empty()) << "each repeat is summed up once";
  // More repeats later: a new summary counts only those.
  run(read_of(id_, "/root/.aws/credentials", 9'000'000'000), "/root/.aws/credentials");
  s = engine_.summaries();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].repeats(), 1u);
  EXPECT_NE(s[0].message().find("repeated 1 more time since"), std::string::npos) << s[0].message();
}

TEST_F(DriftTest, JobEndSumsUpThatJobsRepeatsOnly) {
  run(read_of(id_, "/root/.aws/a", 2'000'000'000), "/root/.aws/a");
  run(read_of(id_, "/root/.aws/a", 3'000'000'000), "/root/.aws/a");
  auto outsider = read_of(0, "/data/approved/x", 2'000'000'000);
  outsider.hdr.task = task(200, 2'000'000'000);
  outsider.access = decode::access::kWrite;
  EXPECT_EQ(run(outsider, outsider.path).size(), 1u);  // protected-data-write, outside any job
  EXPECT_TRUE(run(outsider, outsider.path).empty());
  auto s = engine_.summaries(id_);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].rule(), "credential-read");
  // The job is forgotten: a straggler of it is raised anew.
  EXPECT_EQ(run(read_of(id_, "/root/.aws/a", 4'000'000'000), "/root/.aws/a").size(), 1u);
  auto rest = engine_.summaries();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].rule(), "protected-data-write");
  EXPECT_FALSE(rest[0].has_job());
}

// An alert flood of many distinct repeats holds a bounded table: every repeat
// is counted, the first 4096 keys are summed up, the rest counted only.
TEST_F(DriftTest, AFloodOfDistinctRepeatsIsCountedInABoundedTable) {
  constexpr int kKeys = 5000;
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < kKeys; ++i) {
      std::string path = "/root/.aws/f" + std::to_string(i);
      auto raised = run(read_of(id_, path, 2'000'000'000ull + pass * 1'000'000'000ull + i), path);
      EXPECT_EQ(raised.size(), pass == 0 ? 1u : 0u) << path;
    }
  EXPECT_EQ(engine_.suppressed(), static_cast<uint64_t>(kKeys)) << "every repeat counted";
  auto s = engine_.summaries();
  EXPECT_EQ(s.size(), 4096u);
  for (const auto& a : s) ASSERT_EQ(a.repeats(), 1u);
  EXPECT_TRUE(engine_.summaries().empty());
}

// Summaries come out in batches (the daemon emits 256 at a time): each repeat
// once, none lost between batches; a job's are forgotten only with its last.
TEST_F(DriftTest, SummariesComeOutInBatches) {
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < 5; ++i) {
      std::string path = "/root/.aws/b" + std::to_string(i);
      run(read_of(id_, path, 2'000'000'000ull + pass * 1'000'000'000ull + i), path);
    }
  std::set<std::string> paths;
  auto first = engine_.summaries(id_, 2);
  ASSERT_EQ(first.size(), 2u);
  for (const auto& a : first) paths.insert(a.file().path());
  // The job's other repeats wait: its alerts are not forgotten yet.
  EXPECT_TRUE(run(read_of(id_, "/root/.aws/b4", 5'000'000'000), "/root/.aws/b4").empty());
  size_t total = first.size();
  for (int call = 0; call < 10; ++call) {
    auto s = engine_.summaries(id_, 2);
    if (s.empty()) break;
    EXPECT_LE(s.size(), 2u);
    total += s.size();
    for (const auto& a : s) paths.insert(a.file().path());
  }
  EXPECT_GE(total, 5u);
  EXPECT_EQ(paths.size(), 5u);
  EXPECT_TRUE(engine_.summaries(id_, 2).empty());
  // All out: the job is forgotten, a straggler is raised anew.
  EXPECT_EQ(run(read_of(id_, "/root/.aws/b0", 6'000'000'000), "/root/.aws/b0").size(), 1u);
}

}  // namespace
}  // namespace fts::rules
