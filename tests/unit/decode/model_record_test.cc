// Model records (FTS_EV_MODEL): a load window's open and close, decoded from
// kernel-format bytes; a malformed one is an error, never a crash.
#include <gtest/gtest.h>
#include <linux/types.h>

#include <cstring>

#include "decode/records.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::decode {
namespace {

std::vector<uint8_t> raw_model(uint16_t op, const std::string& encoded, uint16_t depth, uint16_t flags) {
  fts_model_event e{};
  e.hdr.kind = FTS_EV_MODEL;
  e.hdr.task = {4242, 0, 5 * kNsPerTick};
  e.hdr.job_id = 77;
  e.dev = (8ull << 20) | 1;
  e.ino = 1234;
  e.fd = 5;
  e.op = op;
  e.flags = flags;
  e.path_len = encoded.size();
  e.path_depth = depth;
  std::vector<uint8_t> b(sizeof(e) + encoded.size());
  e.hdr.size = b.size();
  std::memcpy(b.data(), &e, sizeof(e));
  std::memcpy(b.data() + sizeof(e), encoded.data(), encoded.size());
  return b;
}

TEST(DecodeModel, AnOpenCarriesThePathAndTheFile) {
  std::string enc("evil.pt\0ckpt\0", 13);
  auto r = decode(raw_model(FTS_MODEL_OPEN, enc, 2, FTS_MODEL_REPEAT));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& m = std::get<Model>(*r);
  EXPECT_EQ(m.hdr.kind, Kind::kModel);
  EXPECT_EQ(m.hdr.job_id, 77u);
  EXPECT_EQ(m.op, ModelOp::kOpen);
  EXPECT_EQ(m.path, "/ckpt/evil.pt");
  EXPECT_EQ(m.fd, 5);
  EXPECT_EQ(m.dev, (8ull << 20) | 1);
  EXPECT_EQ(m.ino, 1234u);
  EXPECT_TRUE(m.repeat);
  EXPECT_FALSE(m.held);
  EXPECT_FALSE(m.close_unseen);
}

TEST(DecodeModel, AHeldRepeatNamesTheInodeAtTheOpensTime) {
  auto raw = raw_model(FTS_MODEL_OPEN, "", 0, FTS_MODEL_REPEAT | FTS_MODEL_HELD);
  reinterpret_cast<fts_model_event*>(raw.data())->hdr.ts_ns = 123456789;
  auto r = decode(raw);
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& m = std::get<Model>(*r);
  EXPECT_EQ(m.op, ModelOp::kOpen);
  EXPECT_TRUE(m.repeat);
  EXPECT_TRUE(m.held);
  EXPECT_EQ(m.path, "");
  EXPECT_EQ(m.ino, 1234u);
  EXPECT_EQ(m.hdr.ts_ns, 123456789u) << "the window opened when the file was opened, not when it was sent";
}

TEST(DecodeModel, ACloseCarriesTheFdOnly) {
  auto r = decode(raw_model(FTS_MODEL_CLOSE, "", 0, FTS_MODEL_CLOSE_UNSEEN));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& m = std::get<Model>(*r);
  EXPECT_EQ(m.op, ModelOp::kClose);
  EXPECT_EQ(m.fd, 5);
  EXPECT_EQ(m.path, "");
  EXPECT_TRUE(m.close_unseen);
}

TEST(DecodeModel, MalformedRecordsAreErrors) {
  auto bad_op = decode(raw_model(0, "", 0, 0));
  ASSERT_FALSE(bad_op.ok());
  EXPECT_NE(bad_op.error().find("unknown op"), std::string::npos) << bad_op.error();
  auto b = raw_model(FTS_MODEL_OPEN, std::string("a.pt\0", 5), 1, 0);
  b.resize(b.size() - 3);  // the path runs past the record's end
  reinterpret_cast<fts_model_event*>(b.data())->hdr.size = b.size();
  auto cut = decode(b);
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.error().find("path length runs past"), std::string::npos) << cut.error();
  std::vector<uint8_t> short_one(sizeof(fts_event_header) + 4);
  fts_event_header h{};
  h.kind = FTS_EV_MODEL;
  h.size = short_one.size();
  std::memcpy(short_one.data(), &h, sizeof(h));
  EXPECT_FALSE(decode(short_one).ok());
}

}  // namespace
}  // namespace fts::decode
