// Content hashes through the whole pipeline: a job's read asks for a hash,
// the hash comes back as a file_hash event of that job, dataset-drift reads
// it, and the job's end sums up its repeated alerts.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>

#include "hash/hasher.h"
#include "hash/tracker.h"
#include "pipeline/pipeline.h"
#include "support/fake_kernel.h"
#include "support/fixtures.h"

namespace fts::pipeline {
namespace {

using fts::testing::exec_of;
using fts::testing::exit_of;
using fts::testing::sec;
using fts::testing::task;

const decode::TaskId kLauncher = task(1000, sec(100));
const uint64_t kJob = decode::job_id_for(kLauncher.tgid, kLauncher.start_ns);

class Capture : public sinks::Sink {
 public:
  Capture(std::vector<v1::Event>* e, std::vector<v1::Alert>* a) : e_(e), a_(a) {}
  void write(const v1::Event& e) override { e_->push_back(e); }
  void write_alert(const v1::Alert& a) override { a_->push_back(a); }
  void flush() override {}

 private:
  std::vector<v1::Event>* e_;
  std::vector<v1::Alert>* a_;
};

class HashPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fts::testing::write_file(dir_ / "data/s0.jsonl", "abc");
    fts::testing::write_file(dir_ / "data/SHA256SUMS", std::string(64, 'f') + "  s0.jsonl\n");
    sinks_.push_back(std::make_unique<Capture>(&events_, &alerts_));
    auto set = std::make_shared<policy::PolicySet>();
    policy::Policy p;
    p.spec.set_name("llm");
    p.spec.set_mode(v1::monitor);
    p.spec.mutable_jobs()->add_exec("**/torchrun");
    p.spec.mutable_data()->add_training(dir_ / "data/**");
    p.spec.mutable_data()->set_manifest(dir_ / "data/SHA256SUMS");
    set->add(std::move(p));
    std::vector<jobs::JobChange> changes;
    jobs_.apply(set, &changes);
    auto e = exec_of(kLauncher, task(1, 0), "/usr/local/bin/torchrun", {"torchrun"}, kJob);
    e.job_started = true;
    e.policy = 0;
    pipeline_.push_record(e);
  }

  decode::File read(const std::string& path) {
    decode::File f;
    f.hdr = fts::testing::header(decode::Kind::kFile, kLauncher, kJob);
    f.op = decode::FileOp::kOpen;
    f.access = decode::access::kRead;
    f.classes = decode::cls::kTraining;
    f.path = path;
    f.result = 3;
    struct stat st {};
    stat(path.c_str(), &st);
    f.dev = decode::kernel_dev(st.st_dev);
    f.ino = st.st_ino;
    return f;
  }

  void hashes_done() {
    hasher_.run_pending();
    for (auto& h : tracker_.collect()) pipeline_.push_record(std::move(h));
  }

  std::vector<const v1::Event*> of_kind(const std::string& k) const {
    std::vector<const v1::Event*> out;
    for (const auto& e : events_)
      if (e.kind() == k) out.push_back(&e);
    return out;
  }

  static hash::Options sync() {
    hash::Options o;
    o.thread = false;
    return o;
  }

  fts::testing::TempDir dir_;
  fts::testing::FakeKernel kernel_;
  state::ProcessTable procs_;
  state::CgroupTable cgroups_{""};
  jobs::JobManager jobs_{&kernel_, &procs_, &cgroups_, dir_.path()};
  std::vector<v1::Event> events_;
  std::vector<v1::Alert> alerts_;
  std::vector<std::unique_ptr<sinks::Sink>> sinks_;
  Stats stats_;
  rules::Engine rules_;
  hash::Hasher hasher_{sync()};
  hash::Tracker tracker_{&hasher_};
  Pipeline pipeline_ = Pipeline::standard(Context{.host = "node-7",
                                                  .procs = &procs_,
                                                  .cgroups = &cgroups_,
                                                  .jobs = &jobs_,
                                                  .proc_root = dir_.path(),
                                                  .sinks = &sinks_,
                                                  .stats = &stats_,
                                                  .rules = &rules_,
                                                  .hashes = &tracker_});
};

TEST_F(HashPipelineTest, AReadBecomesAFileHashEventOfTheJobAndDriftReadsIt) {
  auto names = pipeline_.stage_names();
  auto at = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
  EXPECT_LT(at("state"), at("hash"));
  EXPECT_LT(at("hash"), at("merge")) << "changes are seen before the merge folds them";

  pipeline_.push_record(read(dir_ / "data/s0.jsonl"));
  EXPECT_TRUE(of_kind("file_hash").empty()) << "hashed off the event path";
  hashes_done();
  auto h = of_kind("file_hash");
  ASSERT_EQ(h.size(), 1u);
  const v1::Event& e = *h[0];
  EXPECT_EQ(e.job().id(), jobs::job_id_string(kJob));
  EXPECT_EQ(e.process().pid(), kLauncher.tgid);
  EXPECT_EQ(e.file().path(), dir_ / "data/s0.jsonl");
  EXPECT_EQ(e.file().classes(0), "training");
  EXPECT_EQ(e.hash().sha256(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(e.hash().size(), 3u);
  EXPECT_EQ(e.hash().reason(), "read");
  EXPECT_FALSE(e.hash().mtime().empty());
  EXPECT_EQ(e.hash().manifest_verdict(), "mismatch");
  EXPECT_EQ(e.hash().manifest_sha256(), std::string(64, 'f'));
  ASSERT_EQ(alerts_.size(), 1u);
  EXPECT_EQ(alerts_[0].rule(), "dataset-drift");
  EXPECT_EQ(alerts_[0].file().path(), dir_ / "data/s0.jsonl");
  EXPECT_EQ(alerts_[0].evidence(0), e.id());
  EXPECT_EQ(alerts_[0].process().exe(), "/usr/local/bin/torchrun");
}

TEST_F(HashPipelineTest, TheJobsEndSumsUpItsRepeats) {
  // Two credential-less repeats: the same unlisted-content alert for the same file, twice.
  for (int i = 0; i < 3; ++i) {
    decode::FileHash h;
    h.hdr = fts::testing::header(decode::Kind::kFileHash, kLauncher, kJob, sec(200 + i));
    h.path = dir_ / "data/x";
    h.sha256 = std::string(64, 'a');
    h.manifest = dir_ / "data/SHA256SUMS";
    h.manifest_verdict = "unlisted";
    pipeline_.push_record(h);
  }
  ASSERT_EQ(alerts_.size(), 1u);
  EXPECT_EQ(rules_.suppressed(), 2u);
  pipeline_.push_record(exit_of(kLauncher, 0, kJob));
  ASSERT_EQ(of_kind("job_end").size(), 1u);
  ASSERT_EQ(alerts_.size(), 2u);
  EXPECT_EQ(alerts_[1].rule(), "dataset-drift");
  EXPECT_EQ(alerts_[1].repeats(), 2u);
  EXPECT_NE(alerts_[1].message().find("repeated 2 more times since"), std::string::npos);
  EXPECT_FALSE(alerts_[1].id().empty());
}

}  // namespace
}  // namespace fts::pipeline
