// Decoding what issue 12's network sensor adds: sockets the egress hooks
// cannot account for, and DNS answers the kernel did not believe.
#include <linux/types.h>

#include <gtest/gtest.h>

#include "decode/records.h"
#include "support/build.h"
#include "support/fixtures.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::decode {
namespace {

using fts::testing::task;

TEST(NetEvasionRecords, SocketRoundTripsEveryField) {
  Socket k;
  k.hdr = fts::testing::header(Kind::kSocket, task(300, 7'000), 0x55);
  k.cookie = 0xabcdef;
  k.family = 17;
  k.type = 3;
  k.protocol = 0x0300;
  k.refused = true;
  k.killed = true;
  k.policy = 4;
  auto bytes = build(k);
  ASSERT_EQ(bytes.size(), sizeof(fts_socket_event));
  auto r = decode(bytes);
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& x = std::get<Socket>(*r);
  EXPECT_EQ(x.hdr.kind, Kind::kSocket);
  EXPECT_EQ(x.hdr.task.tgid, 300u);
  EXPECT_EQ(x.hdr.job_id, 0x55u);
  EXPECT_EQ(x.cookie, 0xabcdefu);
  EXPECT_EQ((x.family << 16) | x.type, (17 << 16) | 3);
  EXPECT_EQ(x.protocol, 0x0300);
  EXPECT_TRUE(x.refused);
  EXPECT_TRUE(x.killed);
  EXPECT_EQ(x.policy, 4u);
  EXPECT_STREQ(socket_family_name(x.family), "packet");
  EXPECT_STREQ(socket_type_name(x.type), "raw");
  EXPECT_STREQ(socket_family_name(2), "inet");
  EXPECT_STREQ(socket_family_name(999), "other");
  EXPECT_STREQ(socket_type_name(2), "dgram");
  EXPECT_STREQ(socket_type_name(99), "other");
}

TEST(NetEvasionRecords, ShortSocketRecordIsRefused) {
  Socket k;
  k.hdr = fts::testing::header(Kind::kSocket, task(300, 7'000));
  auto bytes = build(k);
  bytes.resize(sizeof(fts_socket_event) - 1);
  EXPECT_FALSE(decode(bytes).ok());
}

TEST(NetEvasionRecords, AnswerSaysWhyItWasNotBelieved) {
  DnsAnswer a;
  a.hdr = fts::testing::header(Kind::kDnsAnswer, task(300, 7'000), 0x55);
  a.name = "hub.internal";
  a.id = 7;
  a.unmatched = true;
  a.egress_name = true;
  auto r = decode(build(a));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& x = std::get<DnsAnswer>(*r);
  EXPECT_TRUE(x.unmatched);
  EXPECT_FALSE(x.untrusted);
  EXPECT_TRUE(x.egress_name);
  EXPECT_FALSE(x.believed());
  a.unmatched = false;
  a.untrusted = true;
  auto u = decode(build(a));
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(std::get<DnsAnswer>(*u).untrusted);
  EXPECT_FALSE(std::get<DnsAnswer>(*u).believed());
  a.untrusted = false;
  EXPECT_TRUE(std::get<DnsAnswer>(*decode(build(a))).believed());
}

}  // namespace
}  // namespace fts::decode
