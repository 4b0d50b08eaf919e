// Which files are hashed and when: a job's data reads once per file, changes
// under the job hashed again when they end (carrying the first hash), the
// job's outputs after their writes and at job end; a full queue is reported.
#include "hash/tracker.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <initializer_list>

#include "support/fixtures.h"

namespace fts::hash {
namespace {

using fts::testing::TempDir;
using fts::testing::write_file;
namespace cls = decode::cls;
namespace access = decode::access;

class TrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_ / "data/s0", "abc");
    write_file(dir_ / "data/s1", "xyz");
    write_file(dir_ / "data/SHA256SUMS",
               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  s0\n" + std::string(64, '0') +
                   "  s1\n");
    policy_.spec.set_name("ft");
    policy_.spec.mutable_data()->add_training(dir_ / "data/**");
    policy_.spec.mutable_data()->add_outputs(dir_ / "ckpt/**");
    policy_.spec.mutable_data()->set_manifest(dir_ / "data/SHA256SUMS");
    job_.id = 77;
    job_.name = "j";
  }

  decode::File open(const std::string& path, uint16_t acc, uint32_t classes, uint32_t pid = 100) {
    decode::File f;
    f.hdr = fts::testing::header(decode::Kind::kFile, fts::testing::task(pid, 5'000'000'000), job_.id, now_);
    f.op = decode::FileOp::kOpen;
    f.access = acc;
    f.classes = classes;
    f.path = path;
    f.result = 3;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) {
      f.dev = decode::kernel_dev(st.st_dev);
      f.ino = st.st_ino;
    }
    return f;
  }

  decode::File change(const std::string& path, decode::FileOp op, uint32_t pid = 200) {
    decode::File f = open(path, access::kWrite, cls::kProtected | cls::kTraining, pid);
    f.hdr.job_id = 0;
    f.op = op;
    f.source = decode::Source::kFanotify;
    return f;
  }

  void feed(const decode::File& f, bool in_job = true) {
    tracker_.on_file(f, f.path, in_job ? &job_ : nullptr, in_job ? &policy_ : nullptr);
  }

  std::vector<decode::FileHash> done() {
    hasher_.run_pending();
    return tracker_.collect();
  }

  void opened_by_job(Tracker& t, std::initializer_list<const char*> files, uint16_t acc, uint32_t classes);

  static Options one_slot() {  // a hash queue that takes one file
    Options o = opts();
    o.queue = 1;
    return o;
  }

  static Options opts() {
    Options o;
    o.thread = false;
    o.racy_ns = -1;
    o.queue = 8;
    return o;
  }

  TempDir dir_;
  Hasher hasher_{opts()};
  Tracker tracker_{&hasher_};
  policy::Policy policy_;
  jobs::Job job_;
  uint64_t now_ = 10'000'000'000;
};

TEST_F(TrackerTest, AJobsReadIsHashedOnceAndCheckedAgainstTheManifest) {
  feed(open(dir_ / "data/s0", access::kRead, cls::kTraining | cls::kProtected));
  feed(open(dir_ / "data/s0", access::kRead, cls::kTraining | cls::kProtected, 101));  // another worker
  auto out = done();
  ASSERT_EQ(out.size(), 1u);
  const auto& h = out[0];
  EXPECT_EQ(h.hdr.kind, decode::Kind::kFileHash);
  EXPECT_EQ(h.hdr.job_id, 77u);
  EXPECT_EQ(h.hdr.task.tgid, 100u) << "the first reader";
  EXPECT_EQ(h.path, dir_ / "data/s0");
  EXPECT_EQ(h.reason, "read");
  EXPECT_EQ(h.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(h.size, 3u);
  EXPECT_EQ(h.classes, cls::kTraining | cls::kProtected);
  EXPECT_EQ(h.manifest_verdict, "match");
  EXPECT_EQ(h.manifest, dir_ / "data/SHA256SUMS");
  EXPECT_EQ(hasher_.stats().submitted, 1u);

  feed(open(dir_ / "data/s1", access::kRead, cls::kTraining));
  out = done();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].manifest_verdict, "mismatch");
  EXPECT_EQ(out[0].manifest_sha256, std::string(64, '0'));
}

TEST_F(TrackerTest, CredentialsBaseFilesWritesAndOutsidersAreNotHashedAsReads) {
  write_file(dir_ / "home/.aws/credentials", "secret");
  feed(open(dir_ / "home/.aws/credentials", access::kRead, cls::kSensitive));
  feed(open(dir_ / "data/s0", access::kRead, cls::kBase));
  feed(open(dir_ / "data/s0", access::kRead | access::kDirectory, cls::kTraining));
  feed(open(dir_ / "data/s0", access::kRead, cls::kTraining), false);  // outside any job
  auto failed = open(dir_ / "data/s0", access::kRead, cls::kTraining);
  failed.result = -13;
  feed(failed);
  EXPECT_TRUE(done().empty());
  EXPECT_EQ(hasher_.stats().submitted, 0u);
}

TEST_F(TrackerTest, AChangeUnderTheJobIsHashedWhenItEndsWithTheFirstHash) {
  feed(open(dir_ / "data/s0", access::kRead, cls::kTraining));
  auto first = done();
  ASSERT_EQ(first.size(), 1u);
  // An outsider appends: the kernel will not report the job's re-read, so the change itself asks.
  write_file(dir_ / "data/s0", "abc poison");
  feed(change(dir_ / "data/s0", decode::FileOp::kModify));
  EXPECT_TRUE(done().empty()) << "not while the write goes on";
  feed(change(dir_ / "data/s0", decode::FileOp::kCloseWrite));
  auto out = done();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "change");
  EXPECT_EQ(out[0].first_sha256, first[0].sha256);
  EXPECT_NE(out[0].sha256, first[0].sha256);
  EXPECT_EQ(out[0].manifest_verdict, "mismatch");
  // Same content again (a touch): nothing new to say.
  feed(change(dir_ / "data/s0", decode::FileOp::kCloseWrite));
  EXPECT_TRUE(done().empty());
  // A change with no close_write (mmap): hashed once it has been quiet for a while.
  write_file(dir_ / "data/s0", "abc");
  feed(change(dir_ / "data/s0", decode::FileOp::kModify));
  tracker_.tick(now_ + 500'000'000);
  EXPECT_TRUE(done().empty());
  tracker_.tick(now_ + 1'000'000'000);
  out = done();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sha256, first[0].sha256);
  EXPECT_EQ(out[0].first_sha256, "") << "back to the first content";
}

TEST_F(TrackerTest, AFileReplacedAtItsNameIsNotHashedAsTheOneRead) {
  feed(open(dir_ / "data/s0", access::kRead, cls::kTraining));
  write_file(dir_ / "data/evil", "evil");
  std::filesystem::rename(dir_ / "data/evil", dir_ / "data/s0");
  auto out = done();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sha256, "");
  EXPECT_NE(out[0].error.find("replaced"), std::string::npos) << out[0].error;
  // The rename onto the name is a change: the new content is hashed and reported.
  auto r = change(dir_ / "data/tmp", decode::FileOp::kRename);
  r.path2 = dir_ / "data/s0";
  feed(r);
  out = done();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "change");
  EXPECT_EQ(out[0].manifest_verdict, "mismatch");
}

TEST_F(TrackerTest, OutputsAreHashedAfterTheWriteAndAtJobEnd) {
  write_file(dir_ / "ckpt/model.bin", "weights-1");
  feed(open(dir_ / "ckpt/model.bin", access::kWrite | access::kCreate, cls::kOutputs | cls::kProtected));
  EXPECT_TRUE(done().empty()) << "not while being written";
  auto cw = change(dir_ / "ckpt/model.bin", decode::FileOp::kCloseWrite, 100);
  cw.hdr.job_id = job_.id;
  feed(cw);
  auto out = done();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "write");
  EXPECT_EQ(out[0].manifest_verdict, "") << "outputs are not data the manifest speaks for";
  EXPECT_EQ(out[0].first_sha256, "");
  write_file(dir_ / "ckpt/model.bin", "weights-2");
  tracker_.on_job_end(job_.id);
  out = done();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "job_end");
  EXPECT_EQ(out[0].first_sha256, "") << "a job's own output changing is no drift";
  EXPECT_EQ(tracker_.files(), 0u) << "an ended job's files are forgotten";
}

// Two jobs reading one file follow it each; the first job's end forgets its
// entry only, and a change then reaches the job still running.
TEST_F(TrackerTest, TwoJobsFollowOneFileAndTheFirstJobsEndLeavesTheOther) {
  jobs::Job other;
  other.id = 88;
  other.name = "k";
  feed(open(dir_ / "data/s0", access::kRead, cls::kTraining));
  auto second = open(dir_ / "data/s0", access::kRead, cls::kTraining, 300);
  second.hdr.job_id = other.id;
  tracker_.on_file(second, second.path, &other, &policy_);
  auto out = done();
  ASSERT_EQ(out.size(), 2u) << "one hash per (job, file)";
  EXPECT_EQ(tracker_.files(), 2u);
  tracker_.on_job_end(job_.id);
  EXPECT_TRUE(done().empty()) << "a file only read needs no last hash";
  EXPECT_EQ(tracker_.files(), 1u) << "the ended job's entry forgotten, the other kept";
  write_file(dir_ / "data/s0", "abc changed");
  feed(change(dir_ / "data/s0", decode::FileOp::kCloseWrite));
  out = done();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].hdr.job_id, other.id);
  EXPECT_EQ(out[0].hdr.task.tgid, 300u);
  EXPECT_EQ(out[0].first_sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(TrackerTest, AFullQueueIsReportedInTheRecord) {
  Options o = opts();
  o.queue = 1;
  Hasher small(o);
  Tracker t(&small);
  for (const char* f : {"data/s0", "data/s1"}) {
    auto r = open(dir_ / f, access::kRead, cls::kTraining);
    t.on_file(r, r.path, &job_, &policy_);
  }
  auto out = t.collect();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, dir_ / "data/s1");
  EXPECT_EQ(out[0].error, "not hashed: the hash queue is full");
  EXPECT_EQ(small.stats().overflow, 1u);
  small.run_pending();
  out = t.collect();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, dir_ / "data/s0");
  // Retried once things settle.
  t.tick(~0ull >> 1);
  small.run_pending();
  out = t.collect();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, dir_ / "data/s1");
  EXPECT_FALSE(out[0].sha256.empty());
}

// A tick long after everything (every wait is over), the hasher's work, and
// the records that gives.
// Opens of `files` (under the test's directory) by the job, fed to `t`.
void TrackerTest::opened_by_job(Tracker& t, std::initializer_list<const char*> files, uint16_t acc, uint32_t classes) {
  for (const char* f : files) {
    auto r = open(dir_ / f, acc, classes);
    t.on_file(r, r.path, &job_, &policy_);
  }
}

std::vector<decode::FileHash> after_tick(Tracker& t, Hasher& h) {
  t.tick(~0ull >> 1);
  h.run_pending();
  return t.collect();
}

// A first pass larger than the queue: the refused files are retried a few
// at a time as reads (their hash is the one a later change is held against),
// and a retry that finds the queue full again waits for the next tick.
TEST_F(TrackerTest, ARefusedReadIsRetriedAsTheFirstRead) {
  write_file(dir_ / "data/s2", "pqr");
  write_file(dir_ / "data/s3", "stu");
  Hasher small(one_slot());
  Tracker t(&small);
  opened_by_job(t, {"data/s0", "data/s1", "data/s2", "data/s3"}, access::kRead, cls::kTraining);
  auto out = t.collect();
  ASSERT_EQ(out.size(), 3u) << "s1, s2 and s3 refused, each said once";
  EXPECT_EQ(small.stats().overflow, 3u);
  small.run_pending();
  ASSERT_EQ(t.collect().size(), 1u);  // s0
  out = after_tick(t, small);  // room for one: the second retry stops the tick
  EXPECT_EQ(small.stats().overflow, 4u) << "one refusal ends the tick, not one per waiting file";
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "read");
  EXPECT_FALSE(out[0].sha256.empty());
  std::string retried = out[0].path;
  out = after_tick(t, small);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].path, retried);
  EXPECT_EQ(out[0].reason, "read");
  out = after_tick(t, small);
  ASSERT_EQ(out.size(), 1u) << "the last of the three";
  EXPECT_EQ(out[0].reason, "read");
  EXPECT_TRUE(after_tick(t, small).empty()) << "nothing waits any more";
  EXPECT_EQ(small.stats().overflow, 5u) << "one refusal a tick while more wait than fit (s3 at the second)";
  EXPECT_EQ(t.settling(), 0u);

  // The retried file changes: the record carries the hash of what the job read.
  write_file(dir_ / "data/s1", "xyz changed");
  auto c = change(dir_ / "data/s1", decode::FileOp::kCloseWrite);
  t.on_file(c, c.path, nullptr, nullptr);
  small.run_pending();
  out = t.collect();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "change");
  EXPECT_EQ(out[0].first_sha256, "3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282");  // sha256("xyz")
}

// An output's last hash at job end that the full queue refused is still
// taken once there is room: the ended job's files are kept until then.
TEST_F(TrackerTest, AnOutputsJobEndHashRefusedByAFullQueueStillGoes) {
  write_file(dir_ / "ckpt/a.bin", "weights-a");
  write_file(dir_ / "ckpt/b.bin", "weights-b");
  Hasher small(one_slot());
  Tracker t(&small);
  opened_by_job(t, {"ckpt/a.bin", "ckpt/b.bin"}, access::kWrite | access::kCreate, cls::kOutputs | cls::kProtected);
  t.on_job_end(job_.id);
  auto out = t.collect();
  ASSERT_EQ(out.size(), 1u) << "one of the two refused";
  EXPECT_EQ(out[0].error, "not hashed: the hash queue is full");
  std::string refused = out[0].path;
  small.run_pending();
  out = t.collect();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "job_end");
  EXPECT_NE(out[0].path, refused);
  EXPECT_EQ(t.files(), 2u) << "the ended job's files wait for the refused hash";
  out = after_tick(t, small);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, refused);
  EXPECT_EQ(out[0].reason, "job_end");
  EXPECT_FALSE(out[0].sha256.empty());
  EXPECT_EQ(t.files(), 0u) << "then the ended job's files are forgotten";
}

}  // namespace
}  // namespace fts::hash
