// Network records: decoding from kernel-format bytes, both address families.
#include <gtest/gtest.h>
#include <linux/types.h>

#include <cstring>

#include "support/build.h"
#include "decode/records.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::decode {
namespace {

TEST(NetRecord, FlowRoundTripsEveryField) {
  Net n;
  n.hdr.kind = Kind::kNet;
  n.hdr.job_id = 9;
  n.hdr.task = {1234, 5678};
  n.op = NetOp::kFlow;
  n.cookie = 77;
  n.bytes = 1 << 20;
  n.saddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  n.daddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  n.sport = 40000;
  n.dport = 29500;
  n.protocol = 6;
  n.v4 = true;
  n.allowed = true;
  n.policy = 2;
  auto r = decode(build(n));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& g = std::get<Net>(*r);
  EXPECT_EQ(g.op, NetOp::kFlow);
  EXPECT_EQ(g.hdr.job_id, 9u);
  EXPECT_EQ(g.hdr.task.tgid, 1234u);
  EXPECT_EQ(g.cookie, 77u);
  EXPECT_EQ(g.bytes, 1u << 20);
  EXPECT_EQ(address_string(g.saddr), "127.0.0.1");
  EXPECT_EQ(address_string(g.daddr), "10.1.2.3");
  EXPECT_EQ(g.sport, 40000);
  EXPECT_EQ(g.dport, 29500);
  EXPECT_EQ(g.protocol, 6);
  EXPECT_TRUE(g.v4);
  EXPECT_TRUE(g.allowed);
  EXPECT_FALSE(g.blocked);
  EXPECT_EQ(g.policy, 2u);
  EXPECT_STREQ(to_string(g.op), "flow");
}

TEST(NetRecord, AnOpenFlowFromTheFlowsMapKeepsItsDirection) {
  fts_flow f{};
  f.job_id = 9;
  f.bytes = 4096;
  f.task.tgid = 1234;
  f.task.start_ns = 5678;
  f.daddr[10] = f.daddr[11] = 0xff;
  f.daddr[12] = 127;
  f.daddr[15] = 1;
  f.saddr[10] = f.saddr[11] = 0xff;
  f.saddr[12] = 127;
  f.saddr[15] = 2;
  f.dport = 51000;
  f.sport = 8080;
  f.protocol = 6;
  f.policy = 3;
  f.flags = FTS_NET_INBOUND | FTS_NET_V4;
  auto r = decode_flow(77, {reinterpret_cast<const uint8_t*>(&f), sizeof(f)}, 42);
  ASSERT_TRUE(r.ok()) << r.error();
  const Net& n = *r;
  EXPECT_EQ(n.hdr.kind, Kind::kNet);
  EXPECT_EQ(n.op, NetOp::kFlowUpdate);
  EXPECT_EQ(n.hdr.ts_ns, 42u);
  EXPECT_EQ(n.hdr.job_id, 9u);
  EXPECT_EQ(n.hdr.task.tgid, 1234u);
  EXPECT_EQ(n.hdr.task.start_ns, 5678u);
  EXPECT_EQ(n.cookie, 77u);
  EXPECT_EQ(n.bytes, 4096u);
  EXPECT_EQ(address_string(n.daddr), "127.0.0.1");
  EXPECT_EQ(address_string(n.saddr), "127.0.0.2");
  EXPECT_EQ(n.dport, 51000);
  EXPECT_EQ(n.sport, 8080);
  EXPECT_EQ(n.protocol, 6);
  EXPECT_EQ(n.policy, 3u);
  EXPECT_TRUE(n.v4);
  EXPECT_TRUE(n.inbound) << "an accepted connection's flow stays inbound";
  EXPECT_FALSE(n.allowed);

  f.flags = FTS_NET_ALLOWED | FTS_NET_BY_DNS;
  auto out = decode_flow(78, {reinterpret_cast<const uint8_t*>(&f), sizeof(f)}, 42);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->inbound);
  EXPECT_TRUE(out->allowed);
  EXPECT_TRUE(out->by_dns);
  EXPECT_FALSE(decode_flow(79, {reinterpret_cast<const uint8_t*>(&f), sizeof(f) - 1}, 42).ok());
}

TEST(NetRecord, BlockedIpv6Connect) {
  fts_net_event e{};
  e.hdr.kind = FTS_EV_NET;
  e.hdr.size = sizeof(e);
  e.op = FTS_NET_CONNECT;
  e.flags = FTS_NET_BLOCKED;
  e.daddr[15] = 1;  // ::1
  e.dport = 8080;
  e.protocol = 6;
  std::vector<uint8_t> b(sizeof(e));
  std::memcpy(b.data(), &e, sizeof(e));
  auto r = decode(b);
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& g = std::get<Net>(*r);
  EXPECT_EQ(address_string(g.daddr), "::1");
  EXPECT_TRUE(g.blocked);
  EXPECT_FALSE(g.allowed);
  EXPECT_FALSE(g.v4);
}

TEST(NetRecord, ListenNamesTheLocalEndpoint) {
  Net n;
  n.hdr.kind = Kind::kNet;
  n.op = NetOp::kListen;
  n.saddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
  n.sport = 8888;
  n.protocol = 6;
  n.v4 = true;
  auto r = decode(build(n));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& g = std::get<Net>(*r);
  EXPECT_EQ(g.op, NetOp::kListen);
  EXPECT_STREQ(to_string(g.op), "listen");
  EXPECT_EQ(address_string(g.saddr), "0.0.0.0");
  EXPECT_EQ(g.sport, 8888);
}

TEST(NetRecord, UnknownOpAndShortRecordAreErrors) {
  fts_net_event e{};
  e.hdr.kind = FTS_EV_NET;
  e.hdr.size = sizeof(e);
  e.op = 99;
  std::vector<uint8_t> b(sizeof(e));
  std::memcpy(b.data(), &e, sizeof(e));
  EXPECT_FALSE(decode(b).ok());
  e.op = FTS_NET_CONNECT;
  e.hdr.size = sizeof(e) - 8;
  std::memcpy(b.data(), &e, sizeof(e));
  b.resize(sizeof(e) - 8);
  EXPECT_FALSE(decode(b).ok());
}

}  // namespace
}  // namespace fts::decode

namespace fts::decode {
namespace {

TEST(DnsRecord, WireNameToDots) {
  bool cut = false;
  EXPECT_EQ(dns_name_from_wire(std::string_view("\3hub\10internal\0", 14), &cut), "hub.internal");
  EXPECT_FALSE(cut);
  EXPECT_EQ(dns_name_from_wire(std::string_view("\3hub\10inte", 9), &cut), "hub.inte");
  EXPECT_TRUE(cut);
  EXPECT_EQ(dns_name_from_wire(std::string_view("\0", 1), &cut), "");
  EXPECT_FALSE(cut);
  EXPECT_EQ(dns_name_from_wire(std::string_view("\3abc\xc0\x0c", 6), &cut), "abc");
  EXPECT_TRUE(cut);  // a pointer in a question is not followed
}

TEST(DnsRecord, RoundTrips) {
  Dns d;
  d.hdr.kind = Kind::kDns;
  d.hdr.job_id = 4;
  d.cookie = 12;
  d.daddr[15] = 1;
  d.dport = 53;
  d.id = 0xbeef;
  d.name = "mfrggzdf.exfil.test";
  auto r = decode(build(d));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& g = std::get<Dns>(*r);
  EXPECT_EQ(g.name, "mfrggzdf.exfil.test");
  EXPECT_FALSE(g.truncated);
  EXPECT_EQ(g.id, 0xbeef);
  EXPECT_EQ(g.dport, 53);
  EXPECT_EQ(g.cookie, 12u);
  EXPECT_EQ(address_string(g.daddr), "::1");
}

TEST(DnsRecord, AnswerRoundTripsItsAddresses) {
  DnsAnswer a;
  a.hdr.kind = Kind::kDnsAnswer;
  a.hdr.job_id = 9;
  a.cookie = 33;
  a.saddr[10] = a.saddr[11] = 0xff;
  a.saddr[12] = 10;
  a.saddr[15] = 53;
  a.sport = 53;
  a.id = 0x1234;
  a.rcode = 0;
  a.ancount = 3;  // a CNAME and two addresses
  a.name = "hub.internal";
  a.tcp = true;
  a.allowed = true;
  DnsAnswer::Address x4;
  x4.addr[10] = x4.addr[11] = 0xff;
  x4.addr[12] = 127;
  x4.addr[15] = 2;
  x4.ttl = 30;
  DnsAnswer::Address x6;
  x6.addr[15] = 1;
  x6.ttl = 5;
  x6.v6 = true;
  a.addresses = {x4, x6};
  auto r = decode(build(a));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& g = std::get<DnsAnswer>(*r);
  EXPECT_EQ(g.name, "hub.internal");
  EXPECT_EQ(g.addresses, a.addresses);
  EXPECT_EQ(address_string(g.addresses[0].addr), "127.0.0.2");
  EXPECT_EQ(address_string(g.saddr), "10.0.0.53");
  EXPECT_EQ(g.cookie, 33u);
  EXPECT_EQ(g.id, 0x1234);
  EXPECT_EQ(g.ancount, 3);
  EXPECT_EQ(g.hdr.job_id, 9u);
  EXPECT_TRUE(g.tcp);
  EXPECT_TRUE(g.allowed);
  EXPECT_FALSE(g.cut);
  EXPECT_EQ(dns_rcode_name(3), std::string("nxdomain"));
}

TEST(DnsRecord, AnswerWithMoreAddressesThanItHoldsIsAnError) {
  DnsAnswer a;
  a.hdr.kind = Kind::kDnsAnswer;
  a.name = "x.y";
  auto b = build(a);
  b[offsetof(fts_dns_answer_event, count)] = FTS_DNS_ANSWERS + 1;
  EXPECT_FALSE(decode(b).ok());
}

TEST(NetRecord, AcceptIsInbound) {
  Net n;
  n.hdr.kind = Kind::kNet;
  n.op = NetOp::kAccept;
  n.inbound = true;
  n.v4 = true;
  n.sport = 8080;
  n.dport = 40000;
  auto r = decode(build(n));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& g = std::get<Net>(*r);
  EXPECT_EQ(g.op, NetOp::kAccept);
  EXPECT_TRUE(g.inbound);
  EXPECT_FALSE(g.by_dns);
  EXPECT_STREQ(to_string(g.op), "accept");
}

}  // namespace
}  // namespace fts::decode
