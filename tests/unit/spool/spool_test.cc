// The on-disk spool: FIFO, survives a restart, bounded (oldest dropped and
// counted), and a torn tail from a crash is cut, not replayed as garbage.
#include "spool/spool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include <filesystem>
#include <fstream>

#include "support/fixtures.h"

namespace fts::spool {
namespace {

std::vector<std::string> recs(int from, int to, size_t pad = 0) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back("alert-" + std::to_string(i) + std::string(pad, 'x'));
  return out;
}

std::unique_ptr<Spool> open_ok(const std::string& dir, uint64_t max = 1 << 20) {
  auto s = Spool::open({dir, max, 0});
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
  return s.ok() ? std::move(*s) : nullptr;
}

// Segments written by earlier builds carry CRC-32/ISO-HDLC (Boost's
// crc_32_type): the catalogue's check value keeps them readable.
TEST(Spool, RecordChecksumIsCrc32IsoHdlc) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32(""), 0u);
}

TEST(Spool, FifoPeekThenAck) {
  fts::testing::TempDir d;
  auto s = open_ok(d / "sp");
  ASSERT_TRUE(s->append(recs(0, 5)).ok());
  EXPECT_EQ(s->records(), 5u);
  auto p = s->peek(3, 1 << 20);
  EXPECT_EQ(p, recs(0, 3));
  EXPECT_EQ(s->peek(100, 1 << 20).size(), 5u) << "peek removes nothing";
  s->peek(3, 1 << 20);
  s->ack(3);
  EXPECT_EQ(s->records(), 2u);
  EXPECT_EQ(s->peek(100, 1 << 20), recs(3, 5));
  s->ack(2);
  EXPECT_TRUE(s->empty());
  EXPECT_TRUE(s->peek(10, 1 << 20).empty());
  EXPECT_EQ(s->bytes(), 0u) << "a delivered spool gives its disk back";
  struct stat st {};
  ASSERT_EQ(stat((d / "sp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "alerts are not for everyone";
}

TEST(Spool, PeekRespectsByteBudgetButAlwaysMakesProgress) {
  fts::testing::TempDir d;
  auto s = open_ok(d / "sp");
  ASSERT_TRUE(s->append(recs(0, 10, 1000)).ok());
  EXPECT_EQ(s->peek(100, 1).size(), 1u);
  EXPECT_EQ(s->peek(100, 2500).size(), 3u);
}

TEST(Spool, UnacknowledgedRecordsSurviveARestart) {
  fts::testing::TempDir d;
  {
    auto s = open_ok(d / "sp");
    ASSERT_TRUE(s->append(recs(0, 10)).ok());
    s->peek(4, 1 << 20);
    s->ack(4);
  }
  auto s = open_ok(d / "sp");
  EXPECT_EQ(s->records(), 6u);
  EXPECT_EQ(s->peek(100, 1 << 20), recs(4, 10)) << "acked records are not resent; the rest are";
  ASSERT_TRUE(s->append(recs(10, 12)).ok());
  EXPECT_EQ(s->peek(100, 1 << 20), recs(4, 12));
}

TEST(Spool, FullDropsOldestAndCountsThem) {
  fts::testing::TempDir d;
  auto s = open_ok(d / "sp", 64 << 10);  // 64 KiB, 32 KiB segments
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(s->append(recs(i, i + 1, 500)).ok());
  EXPECT_LE(s->bytes(), 64u << 10);
  EXPECT_GT(s->dropped(), 0u);
  EXPECT_EQ(s->records() + s->dropped(), 400u) << "every record is either kept or counted as dropped";
  auto p = s->peek(1000, 1 << 30);
  ASSERT_EQ(p.size(), s->records());
  EXPECT_EQ(p.back(), recs(399, 400, 500)[0]) << "the newest are kept";
  EXPECT_EQ(p.front(), recs(s->dropped(), s->dropped() + 1, 500)[0]) << "the oldest went first, in order";
  // and the count survives in the numbers after a restart too
  s.reset();
  auto again = open_ok(d / "sp", 64 << 10);
  EXPECT_EQ(again->peek(1000, 1 << 30), p);
}

TEST(Spool, DropWhileABatchIsInFlightNeverUnderflows) {
  fts::testing::TempDir d;
  auto s = open_ok(d / "sp", 64 << 10);
  ASSERT_TRUE(s->append(recs(0, 40, 500)).ok());
  auto inflight = s->peek(10, 1 << 30);
  for (int i = 40; i < 400; ++i) ASSERT_TRUE(s->append(recs(i, i + 1, 500)).ok());
  s->ack(inflight.size());  // their segment is long gone
  EXPECT_EQ(s->records() + s->dropped(), 400u);
  EXPECT_EQ(s->peek(1000, 1 << 30).size(), s->records());
}

TEST(Spool, TornTailIsCutOnOpen) {
  fts::testing::TempDir d;
  {
    auto s = open_ok(d / "sp");
    ASSERT_TRUE(s->append(recs(0, 3)).ok());
  }
  std::string seg;
  for (const auto& e : std::filesystem::directory_iterator(d / "sp"))
    if (e.path().extension() == ".seg") seg = e.path();
  ASSERT_FALSE(seg.empty());
  {
    std::ofstream out(seg, std::ios::app | std::ios::binary);
    out.write("\x40\x00\x00\x00\x12\x34", 6);  // a header cut short by a crash
  }
  auto s = open_ok(d / "sp");
  EXPECT_EQ(s->peek(100, 1 << 20), recs(0, 3));
  ASSERT_TRUE(s->append(recs(3, 4)).ok());
  EXPECT_EQ(s->peek(100, 1 << 20), recs(0, 4)) << "appends after the cut are readable";
}

TEST(Spool, CorruptRecordIsNotDelivered) {
  fts::testing::TempDir d;
  {
    auto s = open_ok(d / "sp");
    ASSERT_TRUE(s->append(recs(0, 3)).ok());
  }
  std::string seg;
  for (const auto& e : std::filesystem::directory_iterator(d / "sp"))
    if (e.path().extension() == ".seg") seg = e.path();
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8 + 7 + 8 + 2);  // inside the second record's payload
    f.put('#');
  }
  auto s = open_ok(d / "sp");
  EXPECT_EQ(s->peek(100, 1 << 20), recs(0, 1)) << "a CRC mismatch ends what can be trusted";
}

TEST(Spool, OversizedRecordIsDroppedAndCounted) {
  fts::testing::TempDir d;
  auto s = open_ok(d / "sp", 64 << 10);
  ASSERT_TRUE(s->append({std::string(40 << 10, 'x'), "small"}).ok());
  EXPECT_EQ(s->dropped(), 1u);
  EXPECT_EQ(s->peek(10, 1 << 20), std::vector<std::string>{"small"});
}

TEST(Spool, UnusableDirectoryIsAnError) {
  fts::testing::TempDir d;
  fts::testing::write_file(d / "file", "x");
  auto s = Spool::open({d / "file/sp", 1 << 20, 0});
  EXPECT_FALSE(s.ok());
}

// A full disk (here: RLIMIT_FSIZE, which fails writes past it with EFBIG as
// ENOSPC would) takes part of a batch: the spool keeps whole records only,
// says how many it took, and takes the rest once there is room.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old_);
    struct rlimit r = old_;
    r.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &r);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  struct rlimit old_ {};
  sighandler_t old_handler_;
};

TEST(Spool, AFullDiskTakesWholeRecordsAndSaysHowMany) {
  fts::testing::TempDir d;
  auto s = open_ok(d / "sp");
  ASSERT_TRUE(s->append(recs(0, 2, 100)).ok());
  size_t appended = 99;
  {
    FileSizeLimit full(1000);
    auto st = s->append(recs(2, 20, 100), &appended);
    ASSERT_FALSE(st.ok());
  }
  EXPECT_EQ(appended, 0u) << "one write per batch: none of it landed";
  EXPECT_EQ(s->records(), 2u);
  EXPECT_EQ(s->peek(100, 1 << 20), recs(0, 2, 100));
  ASSERT_TRUE(s->append(recs(2, 20, 100), &appended).ok()) << "room again";
  EXPECT_EQ(appended, 18u);
  s.reset();
  auto again = open_ok(d / "sp");
  EXPECT_EQ(again->peek(100, 1 << 20), recs(0, 20, 100)) << "no torn record on disk, nothing twice";
}

}  // namespace
}  // namespace fts::spool
