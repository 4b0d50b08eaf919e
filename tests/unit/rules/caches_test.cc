// data.caches: training data kept outside `training` (the Hugging Face
// datasets cache). The job's reads are training data; a write there by
// anyone but the policy's own jobs or writers is protected-data-write.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "rules/classify.h"
#include "rules/rules.h"
#include "support/fixtures.h"
#include "support/rules_fixture.h"
#include "watch/watch.h"

namespace fts::rules {
namespace {

using fts::testing::task;
namespace cls = decode::cls;

constexpr const char* kCache = "/root/.cache/huggingface/datasets/**";
constexpr const char* kArrow = "/root/.cache/huggingface/datasets/squad/0.0.0/abc/squad-train.arrow";

class CachesTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    policy::Policy p = base_policy();
    auto* d = p.spec.mutable_data();
    d->add_training("/data/approved/**");
    d->add_outputs("/ckpt/**");
    d->add_protected_("/data/**");
    d->add_caches(kCache);
    start(std::move(p));
  }

  decode::File file(uint32_t pid, uint64_t job, decode::FileOp op, uint16_t access, const std::string& path) {
    decode::File f;
    f.hdr = fts::testing::header(decode::Kind::kFile, task(pid, pid == 100 ? kRootStart : 2'000'000'000), job);
    f.op = op;
    f.access = access;
    f.path = path;
    f.result = 3;
    return f;
  }
};

TEST_F(CachesTest, TheJobsReadOfItsCacheIsTrainingDataNotAnUnapprovedRead) {
  auto f = file(100, id_, decode::FileOp::kOpen, decode::access::kRead, kArrow);
  EXPECT_TRUE(run(f, f.path).empty());
  EXPECT_EQ(classify(f, f.path, *set_->at(0), procs_, procs_.find(state::key_of(f.hdr.task)), id_),
            cls::kTraining | cls::kCache);
  // Control: the same job reading beside the cache is still unapproved.
  auto beside = file(100, id_, decode::FileOp::kOpen, decode::access::kRead, "/root/.cache/huggingface/other.arrow");
  EXPECT_EQ(rules_of(run(beside, beside.path)), std::vector<std::string>{"unapproved-data-read"});
}

TEST_F(CachesTest, AnOutsidersWriteIsProtectedDataWriteTheJobsOwnDownloadIsNot) {
  auto outsider = file(200, 0, decode::FileOp::kOpen, decode::access::kWrite | decode::access::kCreate, kArrow);
  auto al = run(outsider, outsider.path);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"protected-data-write"});
  EXPECT_EQ(al[0].file().path(), kArrow);
  EXPECT_NE(al[0].message().find("dataset cache"), std::string::npos) << al[0].message();

  auto own = file(100, id_, decode::FileOp::kOpen, decode::access::kWrite | decode::access::kCreate, kArrow);
  EXPECT_TRUE(run(own, own.path).empty()) << "the job's own downloader";
  // A rename of a downloaded temp file into place by the job is its download too.
  auto rename = file(100, id_, decode::FileOp::kRename, 0, "/root/.cache/huggingface/datasets/tmp123");
  rename.path2 = kArrow;
  EXPECT_TRUE(run(rename, rename.path).empty());
  // Another outsider renaming a file over a cached shard changes it.
  auto swap = file(201, 0, decode::FileOp::kRename, 0, "/tmp/poison.arrow");
  swap.path2 = kArrow;
  EXPECT_EQ(rules_of(run(swap, swap.path)), std::vector<std::string>{"protected-data-write"});
}

TEST_F(CachesTest, AJobOfAnotherPolicyIsAnOutsider) {
  policy::Policy other = base_policy();
  other.spec.set_name("other");
  other.spec.mutable_jobs()->clear_exec();
  other.spec.mutable_jobs()->add_exec("**/other-launcher");
  set_->add(std::move(other));
  // The job as if it were of "other", a policy that declares no cache.
  auto f = file(100, id_, decode::FileOp::kOpen, decode::access::kWrite, kArrow);
  const jobs::Job* job = jobs_->find(id_);
  rules::Input in{f, procs_.find(state::key_of(f.hdr.task)), job, set_->at(1), *set_, *jobs_, procs_, kArrow, 1};
  in.writers = &writers_;
  EXPECT_EQ(rules_of(engine_.run(in)), std::vector<std::string>{"protected-data-write"});
}

TEST(CachePatterns, ACacheIsProtectedInTheKernelAndMarkedCache) {
  policy::PolicySet set;
  policy::Policy p;
  p.spec.set_name("x");
  p.spec.mutable_data()->add_caches("/c/hf/datasets/**");
  set.add(p);
  uint32_t c = 0;
  for (const auto& x : watch::patterns_of(set))
    if (x.glob == "/c/hf/datasets/**") c |= x.classes;
  EXPECT_EQ(c, cls::kProtected | cls::kCache);
}

TEST(CachePolicy, ARelativeOrLeafNameCacheIsAnErrorAtItsPosition) {
  auto dir = std::filesystem::temp_directory_path() / ("fts-caches-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "p.yaml") << "name: p\nmode: monitor\ndata:\n  caches: [\"/root/.cache/hf/**\", "
                                   "\"**/huggingface/datasets/**\", \"/a/[b/**\"]\n";
  std::vector<config::Diagnostic> errors, warnings;
  config::load_policies(dir.string(), &errors, &warnings);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].field, "data.caches[2]");  // the bad glob (globs are checked first)
  EXPECT_EQ(errors[1].field, "data.caches[1]");
  EXPECT_EQ(errors[1].line, 4);
  EXPECT_EQ(errors[1].column, 34);  // the opening quote of the second entry
  EXPECT_NE(errors[1].message.find("absolute"), std::string::npos) << errors[1].message;
  EXPECT_TRUE(warnings.empty()) << "a policy with only caches checks something";
}

}  // namespace
}  // namespace fts::rules
