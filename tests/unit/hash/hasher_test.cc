// The content hasher: right SHA-256s, a file hashed once while unchanged, a
// change (mtime) hashed again, a file replaced at its name not taken for the
// other, a full queue counted, big files streamed, results off the thread.
#include "hash/hasher.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "decode/records.h"
#include "policy/manifest.h"
#include "support/fixtures.h"

namespace fts::hash {
namespace {

using fts::testing::TempDir;
using policy::Manifest;
using policy::ManifestError;
using fts::testing::write_file;

constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string sha256_of(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    snprintf(buf, sizeof(buf), "%02x", md[i]);
    out += buf;
  }
  return out;
}

struct Ino {
  uint64_t dev, ino;
};
Ino inode(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0);
  return {decode::kernel_dev(st.st_dev), st.st_ino};
}

// Synchronous hasher; files count as settled at once (no racy window).
Options sync_opts() {
  Options o;
  o.thread = false;
  o.racy_ns = -1;
  return o;
}

Result one(Hasher& h, Request r) {
  EXPECT_TRUE(h.submit(std::move(r)));
  h.run_pending();
  auto out = h.drain();
  EXPECT_EQ(out.size(), 1u);
  return out.empty() ? Result{} : out[0];
}

TEST(Hasher, HashesAFileAndCachesItByInodeSizeAndTimes) {
  TempDir d;
  write_file(d / "a", "abc");
  Hasher h(sync_opts());
  auto i = inode(d / "a");
  Result r = one(h, {d / "a", i.dev, i.ino, "", 7});
  EXPECT_EQ(r.sha256, kAbc);
  EXPECT_EQ(r.size, 3u);
  EXPECT_EQ(r.req.tag, 7u);
  EXPECT_EQ(r.ino, i.ino);
  EXPECT_FALSE(r.cached);
  EXPECT_EQ(r.error, "");
  Result again = one(h, {d / "a", i.dev, i.ino, "", 8});
  EXPECT_EQ(again.sha256, kAbc);
  EXPECT_TRUE(again.cached);
  auto s = h.stats();
  EXPECT_EQ(s.hashed, 1u) << "an unchanged file is read once";
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.bytes, 3u);
  EXPECT_EQ(s.cache_entries, 1u);
}

// A full cache forgets the file used least recently, not the one just asked
// for again: the hashes a node keeps are the ones its jobs keep reading.
TEST(Hasher, AFullCacheForgetsTheLeastRecentlyUsedFile) {
  TempDir d;
  write_file(d / "a", "abc");
  write_file(d / "b", "b");
  write_file(d / "c", "c");
  Options o = sync_opts();
  o.cache = 2;
  Hasher h(o);
  EXPECT_FALSE(one(h, {d / "a"}).cached);
  EXPECT_FALSE(one(h, {d / "b"}).cached);
  Result a = one(h, {d / "a"});  // a is now the most recent
  EXPECT_TRUE(a.cached);
  EXPECT_EQ(a.sha256, kAbc) << "the digest kept as bytes comes back as the same hex";
  EXPECT_FALSE(one(h, {d / "c"}).cached);  // the third: b, the least recent, goes
  EXPECT_EQ(h.stats().cache_entries, 2u);
  EXPECT_TRUE(one(h, {d / "a"}).cached);
  EXPECT_TRUE(one(h, {d / "c"}).cached);
  Result b = one(h, {d / "b"});
  EXPECT_FALSE(b.cached) << "forgotten, so read again";
  EXPECT_EQ(b.sha256, sha256_of("b"));
  EXPECT_EQ(h.stats().hashed, 4u);
}

TEST(Hasher, AChangedMtimeIsHashedAgain) {
  TempDir d;
  write_file(d / "a", "abc");
  Hasher h(sync_opts());
  EXPECT_EQ(one(h, {d / "a"}).sha256, kAbc);
  // Same size, other content, then the old mtime put back: ctime still moves.
  struct stat before {};
  stat((d / "a").c_str(), &before);
  write_file(d / "a", "abd");
  struct timespec ts[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, (d / "a").c_str(), ts, 0), 0);
  Result r = one(h, {d / "a"});
  EXPECT_EQ(r.sha256, sha256_of("abd"));
  EXPECT_FALSE(r.cached);
  // Only the mtime changes: hashed again (same content, same hash).
  struct timespec later[2] = {{0, UTIME_OMIT}, {before.st_mtim.tv_sec + 100, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (d / "a").c_str(), later, 0), 0);
  Result m = one(h, {d / "a"});
  EXPECT_FALSE(m.cached);
  EXPECT_EQ(m.sha256, sha256_of("abd"));
  EXPECT_EQ(m.mtime_ns, (before.st_mtim.tv_sec + 100) * 1'000'000'000LL);
  EXPECT_EQ(h.stats().hashed, 3u);
}

TEST(Hasher, AReplacedFileIsNotHashedAsTheOther) {
  TempDir d;
  write_file(d / "a", "abc");
  auto old = inode(d / "a");
  Hasher h(sync_opts());
  EXPECT_EQ(one(h, {d / "a", old.dev, old.ino}).sha256, kAbc);
  write_file(d / "b", "poison");
  std::filesystem::rename(d / "b", d / "a");
  Result r = one(h, {d / "a", old.dev, old.ino});
  EXPECT_EQ(r.sha256, "") << "the name now holds another file";
  EXPECT_NE(r.error.find("replaced"), std::string::npos) << r.error;
  EXPECT_NE(r.ino, old.ino);
  // Asked for whatever is at the name: the new file's hash.
  Result any = one(h, {d / "a"});
  EXPECT_EQ(any.sha256, sha256_of("poison"));
  EXPECT_EQ(h.stats().errors, 1u);
}

TEST(Hasher, QueueOverflowIsCountedNotSilent) {
  TempDir d;
  write_file(d / "a", "abc");
  Options o = sync_opts();
  o.queue = 2;
  Hasher h(o);
  EXPECT_TRUE(h.submit({d / "a"}));
  EXPECT_TRUE(h.submit({d / "a"}));
  EXPECT_FALSE(h.submit({d / "a"}));
  auto s = h.stats();
  EXPECT_EQ(s.overflow, 1u);
  EXPECT_EQ(s.queued, 2u);
  EXPECT_EQ(s.capacity, 2u);
  h.run_pending();
  EXPECT_EQ(h.drain().size(), 2u);
  EXPECT_TRUE(h.submit({d / "a"})) << "room again once drained";
}

TEST(Hasher, LargeFilesAreStreamedInChunks) {
  TempDir d;
  std::string big;
  for (int i = 0; i < 300000; ++i) big += static_cast<char>('a' + i % 26) + std::to_string(i % 7);
  write_file(d / "big", big);
  Options o = sync_opts();
  o.chunk = 4096;
  Hasher h(o);
  Result r = one(h, {d / "big"});
  EXPECT_EQ(r.sha256, sha256_of(big));
  EXPECT_EQ(r.size, big.size());
  EXPECT_EQ(h.stats().bytes, big.size());
}

TEST(Hasher, RecentlyChangedFilesAreNotCached) {
  TempDir d;
  write_file(d / "a", "abc");
  Options o = sync_opts();
  o.racy_ns = 3600'000'000'000LL;  // anything changed in the last hour is racy
  Hasher h(o);
  EXPECT_FALSE(one(h, {d / "a"}).cached);
  EXPECT_FALSE(one(h, {d / "a"}).cached) << "a write within the timestamp granularity would go unseen";
  EXPECT_EQ(h.stats().hashed, 2u);
}

TEST(Hasher, WhatCannotBeHashedSaysWhy) {
  TempDir d;
  Hasher h(sync_opts());
  EXPECT_NE(one(h, {d / "missing"}).error.find("cannot open"), std::string::npos);
  std::filesystem::create_directories(d / "dir");
  EXPECT_EQ(one(h, {d / "dir"}).error, "not a regular file");
  ASSERT_EQ(mkfifo((d / "fifo").c_str(), 0600), 0);
  EXPECT_EQ(one(h, {d / "fifo"}).error, "not a regular file") << "a FIFO does not hang the worker";
  EXPECT_EQ(h.stats().errors, 3u);
}

// The daemon hashes as root what jobs write: a job that swaps its output for
// a symlink (to a FIFO that would block a reader forever, to a device node, or
// to a secret) must not make the daemon open or read it.
TEST(Hasher, SymlinksAreNeverFollowed) {
  TempDir d;
  write_file(d / "secret", "abc");
  ASSERT_EQ(mkfifo((d / "fifo").c_str(), 0600), 0);
  std::filesystem::create_symlink(d / "fifo", d / "to-fifo");
  std::filesystem::create_symlink(d / "secret", d / "to-secret");
  std::filesystem::create_symlink("/dev/null", d / "to-dev");
  std::filesystem::create_directories(d / "real");
  write_file(d / "real/a", "abc");
  std::filesystem::create_directory_symlink(d / "real", d / "linked-dir");
  Hasher h(sync_opts());
  for (const char* name : {"to-fifo", "to-secret", "to-dev"}) {
    Result r = one(h, {d / name});
    EXPECT_EQ(r.error, "a symbolic link: not followed") << name;
    EXPECT_EQ(r.sha256, "") << name;
  }
  EXPECT_EQ(one(h, {d / "linked-dir/a"}).error, "a symbolic link: not followed") << "nor in a directory of the path";
  EXPECT_EQ(one(h, {d / "real/a"}).sha256, kAbc) << "the positive control";
  EXPECT_EQ(h.stats().bytes, 3u) << "only the real file was read";
}

TEST(Hasher, TheWorkerThreadSignalsResults) {
  TempDir d;
  write_file(d / "a", "abc");
  Hasher h;  // a real worker thread
  ASSERT_TRUE(h.submit({d / "a", 0, 0, "", 1}));
  ASSERT_TRUE(h.submit({d / "a", 0, 0, "", 2}));
  std::vector<Result> got;
  for (int i = 0; i < 100 && got.size() < 2; ++i) {
    struct pollfd p {h.notify_fd(), POLLIN, 0};
    poll(&p, 1, 100);
    for (auto& r : h.drain()) got.push_back(std::move(r));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].req.tag, 1u);
  EXPECT_EQ(got[1].sha256, kAbc);
}

TEST(Hasher, ChecksTheManifestAndRereadsItWhenItChanges) {
  TempDir d;
  write_file(d / "data/s0", "abc");
  write_file(d / "data/s1", "xyz");
  write_file(d / "data/SHA256SUMS", std::string(kAbc) + "  s0\n" + sha256_of("other") + " *./s1\n");
  Hasher h(sync_opts());
  std::string m = d / "data/SHA256SUMS";
  Result r0 = one(h, {d / "data/s0", 0, 0, m});
  EXPECT_EQ(r0.manifest.verdict, "match");
  Result r1 = one(h, {d / "data/s1", 0, 0, m});
  EXPECT_EQ(r1.manifest.verdict, "mismatch");
  EXPECT_EQ(r1.manifest.expected, sha256_of("other"));
  write_file(d / "data/s2", "new");
  EXPECT_EQ(one(h, {d / "data/s2", 0, 0, m}).manifest.verdict, "unlisted");
  write_file(d / "elsewhere", "abc");
  EXPECT_EQ(one(h, {d / "elsewhere", 0, 0, m}).manifest.verdict, "") << "outside the manifest's directory";
  // The writer adds the shard to the manifest: re-read.
  write_file(d / "data/SHA256SUMS", std::string(kAbc) + "  s0\n" + sha256_of("new") + "  s2\n");
  EXPECT_EQ(one(h, {d / "data/s2", 0, 0, m}).manifest.verdict, "match");
  // A manifest that stops parsing keeps its last good version, and says so.
  write_file(d / "data/SHA256SUMS", "garbage\n");
  Result bad = one(h, {d / "data/s2", 0, 0, m});
  EXPECT_EQ(bad.manifest.verdict, "match");
  EXPECT_NE(bad.manifest.error.find("SHA256SUMS:1:1: data.manifest:"), std::string::npos) << bad.manifest.error;
}

TEST(Manifest, ParsesSha256sumFormatAndReportsBadLines) {
  std::vector<ManifestError> errors;
  std::string h(64, 'a');
  Manifest m = Manifest::parse(h + "  a/b.jsonl\n# comment\n\n" + std::string(63, 'b') + "  short\n" + h +
                                   " nospace\n" + h + "  ../escape\n" + "\\" + h + "  back\\\\slash\n",
                               "/data/approved", &errors);
  EXPECT_EQ(m.find("/data/approved/a/b.jsonl"), h);
  EXPECT_EQ(m.find("/data/approved/back\\slash"), h);
  EXPECT_FALSE(m.find("/data/approved/short"));
  EXPECT_TRUE(m.covers("/data/approved/zzz"));
  EXPECT_FALSE(m.covers("/data/approvedx/a"));
  EXPECT_FALSE(m.covers("/data/approved"));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].line, 4u);
  EXPECT_EQ(errors[0].column, 1u);
  EXPECT_EQ(errors[1].line, 5u);
  EXPECT_EQ(errors[1].column, 65u);
  EXPECT_EQ(errors[2].line, 6u);
}

}  // namespace
}  // namespace fts::hash
