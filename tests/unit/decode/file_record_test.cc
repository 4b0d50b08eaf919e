// File and io_uring records: decoding from kernel-format bytes.
#include <gtest/gtest.h>
#include <linux/types.h>

#include <sys/sysmacros.h>

#include <cstring>

#include "support/build.h"
#include "decode/records.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::decode {
namespace {

std::vector<uint8_t> raw_file(const std::string& p1, uint16_t d1, const std::string& p2, uint16_t d2, uint16_t flags) {
  fts_file_event e{};
  e.hdr.kind = FTS_EV_FILE;
  e.hdr.task = {4242, 0, 5 * kNsPerTick};
  e.hdr.job_id = 77;
  e.dev = (8ull << 20) | 1;
  e.ino = 1234;
  e.mnt_id = 31;
  e.open_flags = 02001;  // O_WRONLY | O_APPEND
  e.result = 3;
  e.op = FTS_FILE_OPEN;
  e.access = FTS_ACC_WRITE | FTS_ACC_APPEND;
  e.classes = FTS_CLASS_PROTECTED | FTS_CLASS_TRAINING;
  e.watch_id = 2;
  e.match_depth = 1;
  e.flags = flags;
  e.path_len = p1.size();
  e.path_depth = d1;
  e.path2_len = p2.size();
  e.path2_depth = d2;
  e.hdr.size = sizeof(e) + p1.size() + p2.size();
  std::vector<uint8_t> out(e.hdr.size);
  std::memcpy(out.data(), &e, sizeof(e));
  std::memcpy(out.data() + sizeof(e), p1.data(), p1.size());
  std::memcpy(out.data() + sizeof(e) + p1.size(), p2.data(), p2.size());
  return out;
}

TEST(FileRecord, KernelPathIsReversedAndEveryFieldKept) {
  std::string p("a.jsonl\0approved\0data\0", 22);
  auto r = decode(raw_file(p, 3, "", 0, 0));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& f = std::get<File>(*r);
  EXPECT_EQ(f.path, "/data/approved/a.jsonl");
  EXPECT_EQ(f.hdr.task.tgid, 4242u);
  EXPECT_EQ(f.hdr.job_id, 77u);
  EXPECT_EQ(f.dev, (8ull << 20) | 1);
  EXPECT_EQ(user_dev(f.dev), makedev(8, 1));
  EXPECT_EQ(f.ino, 1234u);
  EXPECT_EQ(f.mnt_id, 31u);
  EXPECT_EQ(f.op, FileOp::kOpen);
  EXPECT_EQ(f.access, access::kWrite | access::kAppend);
  EXPECT_EQ(f.classes, cls::kProtected | cls::kTraining);
  EXPECT_EQ(f.watch_id, 2u);
  EXPECT_EQ(f.match_depth, 1);
  EXPECT_EQ(f.result, 3);
  EXPECT_FALSE(f.path_from_user);
}

TEST(FileRecord, CallerStringsAreJoinedUnderTheirDirectoryAndFolded) {
  // "../unapproved/x.jsonl" relative to a dirfd at /t/data/approved
  std::string p1("../unapproved/x.jsonl\0approved\0data\0t\0", 38);
  std::string p2("/abs/new\0", 9);
  auto r = decode(raw_file(p1, 4, p2, 1, FTS_FILE_PATH_FROM_USER | FTS_FILE_PATH2_FROM_USER));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& f = std::get<File>(*r);
  EXPECT_EQ(f.path, "/t/data/unapproved/x.jsonl");
  EXPECT_EQ(f.path2, "/abs/new");
  EXPECT_TRUE(f.path_from_user);
}

TEST(FileRecord, SymlinkTargetIsKeptAsText) {
  std::string p1("../../etc/passwd\0", 17);
  auto r = decode(raw_file(p1, 1, "", 0, FTS_FILE_PATH_FROM_USER | FTS_FILE_PATH_RAW));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<File>(*r).path, "../../etc/passwd");
}

TEST(FileRecord, MalformedRecordsAreErrors) {
  auto bytes = raw_file(std::string("a\0", 2), 1, "", 0, 0);
  auto bad_len = bytes;
  reinterpret_cast<fts_file_event*>(bad_len.data())->path_len = 5000;
  EXPECT_FALSE(decode(bad_len).ok());
  auto bad_op = bytes;
  reinterpret_cast<fts_file_event*>(bad_op.data())->op = 999;
  EXPECT_FALSE(decode(bad_op).ok());
  bytes.resize(sizeof(fts_file_event) - 4);
  reinterpret_cast<fts_event_header*>(bytes.data())->size = bytes.size();
  EXPECT_FALSE(decode(bytes).ok());
}

TEST(FileRecord, BuildRoundTrips) {
  File f;
  f.hdr.kind = Kind::kFile;
  f.hdr.task = {9, 10 * kNsPerTick};
  f.op = FileOp::kRename;
  f.access = access::kWrite;
  f.path = "/a/b";
  f.path2 = "/a/c";
  f.path_from_user = true;
  f.path2_from_user = true;
  f.dev = 5;
  f.ino = 6;
  auto r = decode(build(f));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& g = std::get<File>(*r);
  EXPECT_EQ(g.op, FileOp::kRename);
  EXPECT_EQ(g.path, "/a/b");
  EXPECT_EQ(g.path2, "/a/c");
  EXPECT_EQ(g.ino, 6u);
}

TEST(IoUringRecord, OpcodeAndFd) {
  IoUring u;
  u.hdr.kind = Kind::kIoUring;
  u.hdr.job_id = 3;
  u.opcode = 23;  // IORING_OP_WRITE
  u.fd = 7;
  auto r = decode(build(u));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<IoUring>(*r).opcode, 23u);
  EXPECT_EQ(std::get<IoUring>(*r).fd, 7);
}

}  // namespace
}  // namespace fts::decode
