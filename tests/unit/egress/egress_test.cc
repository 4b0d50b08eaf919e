#include "egress/egress.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>

#include "config/config.h"

namespace fts::egress {
namespace {

Address v6(const char* s) {
  Address a{};
  in6_addr x{};
  EXPECT_EQ(inet_pton(AF_INET6, s, &x), 1) << s;
  std::memcpy(a.data(), &x, 16);
  return a;
}
Address v4(const char* s) { return v6((std::string("::ffff:") + s).c_str()); }

Entry ok(const std::string& text) {
  auto r = parse(text);
  if (auto* e = std::get_if<ParseError>(&r)) ADD_FAILURE() << text << ": " << e->what;
  return std::get_if<Entry>(&r) ? std::get<Entry>(r) : Entry{};
}

ParseError bad(const std::string& text) {
  auto r = parse(text);
  if (std::holds_alternative<Entry>(r)) ADD_FAILURE() << text << " parsed";
  return std::get_if<ParseError>(&r) ? std::get<ParseError>(r) : ParseError{};
}

TEST(EgressParse, Ipv4CidrWithPortRange) {
  Entry e = ok("10.0.0.0/8:29500-29600");
  ASSERT_TRUE(e.addr);
  EXPECT_EQ(*e.addr, v4("10.0.0.0"));
  EXPECT_EQ(e.prefix, 96 + 8);
  ASSERT_EQ(e.ports.size(), 1u);
  EXPECT_EQ(e.ports[0], (PortRange{29500, 29600}));
}

TEST(EgressParse, BareAddressesAreHostRoutesOnEveryPort) {
  Entry a = ok("127.0.0.1");
  EXPECT_EQ(a.prefix, 128);
  EXPECT_TRUE(a.ports.empty());
  Entry b = ok("127.0.0.1/32");
  EXPECT_EQ(b.prefix, 128);
  EXPECT_EQ(*b.addr, v4("127.0.0.1"));
  Entry c = ok("::1");
  EXPECT_EQ(*c.addr, v6("::1"));
  EXPECT_EQ(c.prefix, 128);
  Entry d = ok("fd00::/8");
  EXPECT_EQ(d.prefix, 8);
}

TEST(EgressParse, BracketedIpv6WithPortsAndLists) {
  Entry e = ok("[::1]/128:8080");
  EXPECT_EQ(*e.addr, v6("::1"));
  EXPECT_EQ(e.prefix, 128);
  ASSERT_EQ(e.ports.size(), 1u);
  EXPECT_EQ(e.ports[0], (PortRange{8080, 8080}));
  Entry f = ok("[fd00::1]:80,443,8000-8100");
  EXPECT_EQ(f.ports.size(), 3u);
}

TEST(EgressParse, DnsNames) {
  Entry e = ok("hub.internal:443");
  EXPECT_FALSE(e.addr);
  EXPECT_EQ(e.name, "hub.internal");
  EXPECT_EQ(e.ports[0], (PortRange{443, 443}));
  EXPECT_EQ(ok("localhost").name, "localhost");
}

TEST(EgressParse, BadEntriesSayWhatAndWhere) {
  EXPECT_EQ(bad("10.0.0.0/33").offset, 9u);
  EXPECT_NE(bad("10.0.0.0/33").what.find("over 32"), std::string::npos);
  EXPECT_NE(bad("[::1]/129").what.find("over 128"), std::string::npos);
  auto p0 = bad("127.0.0.1:0");
  EXPECT_EQ(p0.offset, 10u);
  EXPECT_NE(p0.what.find("bad port '0'"), std::string::npos);
  EXPECT_NE(bad("127.0.0.1:70000").what.find("bad port"), std::string::npos);
  EXPECT_NE(bad("127.0.0.1:9-3").what.find("empty port range"), std::string::npos);
  auto hi = bad("127.0.0.1:9-x");
  EXPECT_EQ(hi.offset, 12u);
  EXPECT_NE(bad("127.0.0.1:").what.find("empty port"), std::string::npos);
  EXPECT_NE(bad("[::1").what.find("without ']'"), std::string::npos);
  EXPECT_NE(bad("[nothost]:80").what.find("bad IPv6"), std::string::npos);
  EXPECT_NE(bad("300.1.1.1").what.find("neither"), std::string::npos);
  EXPECT_NE(bad("hub..internal").what.find("neither"), std::string::npos);
  EXPECT_NE(bad("10.0.0.1/8").what.find("host bits"), std::string::npos);
  EXPECT_NE(bad("").what.find("empty"), std::string::npos);
  EXPECT_NE(bad("a:1,2,3,4,5,6,7,8,9").what.find("more than 8"), std::string::npos);
}

TEST(EgressBytes, Units) {
  EXPECT_EQ(parse_bytes("1048576"), 1048576u);
  EXPECT_EQ(parse_bytes("64MiB"), 64u << 20);
  EXPECT_EQ(parse_bytes("10 GB"), 10'000'000'000u);
  EXPECT_EQ(parse_bytes("1KiB"), 1024u);
  EXPECT_FALSE(parse_bytes("MiB"));
  EXPECT_FALSE(parse_bytes("12 parsecs"));
  EXPECT_FALSE(parse_bytes("99999999999999999999"));
}

TEST(EgressCompile, ContainedPrefixesCarryTheOuterPorts) {
  std::map<uint32_t, std::vector<Entry>> in;
  in[0] = {ok("10.0.0.0/8:29500-29600"), ok("10.1.0.0/16:443"), ok("10.1.0.0/16:444")};
  in[1] = {ok("10.1.2.3")};
  auto out = compile(in, {});
  ASSERT_TRUE(out) << out.error();
  ASSERT_EQ(out->size(), 3u);
  // sorted by (policy, prefix, address)
  EXPECT_EQ((*out)[0].policy, 0u);
  EXPECT_EQ((*out)[0].prefix, 104);
  EXPECT_EQ((*out)[0].ports, (std::vector<PortRange>{{29500, 29600}}));
  EXPECT_EQ((*out)[1].prefix, 112);
  EXPECT_EQ((*out)[1].addr, v4("10.1.0.0"));
  // 443 and 444 joined, and the /8's range added
  EXPECT_EQ((*out)[1].ports, (std::vector<PortRange>{{443, 444}, {29500, 29600}}));
  // another policy's prefixes never leak in
  EXPECT_EQ((*out)[2].policy, 1u);
  EXPECT_EQ((*out)[2].ports, (std::vector<PortRange>{{0, 65535}}));
}

TEST(EgressCompile, NamesBecomeTheirAddresses) {
  std::map<uint32_t, std::vector<Entry>> in;
  in[2] = {ok("hub.internal:443"), ok("gone.internal:80")};
  Resolved names = {{"hub.internal", {v4("10.9.9.9"), v6("fd00::9")}}};
  auto out = compile(in, names);
  ASSERT_TRUE(out) << out.error();
  ASSERT_EQ(out->size(), 2u);  // an unresolved name allows nothing
  EXPECT_EQ((*out)[0].addr, v4("10.9.9.9"));  // ::ffff:… sorts before fd00::
  EXPECT_EQ((*out)[1].addr, v6("fd00::9"));
  for (const auto& e : *out) {
    EXPECT_EQ(e.prefix, 128);
    EXPECT_EQ(e.ports, (std::vector<PortRange>{{443, 443}}));
  }
}

TEST(EgressCompile, TooManyRangesIsAnError) {
  std::map<uint32_t, std::vector<Entry>> in;
  in[0] = {ok("10.0.0.0/8:1,3,5,7,9"), ok("10.1.0.0/16:11,13,15,17")};
  auto out = compile(in, {});
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().find("at most 8"), std::string::npos) << out.error();
}

class FakeKernel : public KernelEgress {
 public:
  Status set_egress(const std::vector<LpmEntry>& e) override {
    entries = e;
    ++writes;
    return {};
  }
  Status set_policy_enforce(uint32_t policy, bool enforce) override {
    enforce_[policy] = enforce;
    return {};
  }
  std::vector<LpmEntry> entries;
  std::map<uint32_t, bool> enforce_;
  int writes = 0;
};

TEST(Egress, AppliesPoliciesAndRefreshesNames) {
  config::PolicySet set;
  config::Policy p;
  p.spec.set_name("ft");
  p.spec.set_mode(v1::enforce);
  p.spec.mutable_network()->add_egress("127.0.0.1/32:8080");
  p.spec.mutable_network()->add_egress("hub.internal:443");
  p.spec.mutable_network()->set_max_bytes_per_destination("1MiB");
  set.add(p);
  config::Policy q;
  q.spec.set_name("mon");
  q.spec.set_mode(v1::monitor);
  set.add(q);
  FakeKernel k;
  Address answer = v4("10.0.0.1");
  Egress eg(&k, [&](const std::string& name) {
    return name == "hub.internal" ? std::vector<Address>{answer} : std::vector<Address>{};
  });
  ASSERT_TRUE(eg.apply(set));
  EXPECT_TRUE(k.enforce_.at(0));
  EXPECT_FALSE(k.enforce_.at(1));
  EXPECT_EQ(eg.max_bytes(0), 1u << 20);
  EXPECT_EQ(eg.max_bytes(1), 0u);
  ASSERT_EQ(k.entries.size(), 2u);
  EXPECT_EQ(k.writes, 1);
  ASSERT_TRUE(eg.refresh());
  EXPECT_EQ(k.writes, 1);  // nothing changed: no rewrite
  answer = v4("10.0.0.2");
  ASSERT_TRUE(eg.refresh());
  EXPECT_EQ(k.writes, 2);
  bool found = false;
  for (const auto& e : k.entries) found |= e.addr == v4("10.0.0.2");
  EXPECT_TRUE(found);
}

TEST(Totals, PerJobAndDestination) {
  Totals t;
  EXPECT_EQ(t.add(1, v4("127.0.0.1"), 100), 100u);
  EXPECT_EQ(t.add(1, v4("127.0.0.1"), 50), 150u);
  EXPECT_EQ(t.add(1, v6("::1"), 7), 7u);
  EXPECT_EQ(t.add(2, v4("127.0.0.1"), 1), 1u);
  t.forget_job(1);
  EXPECT_EQ(t.add(1, v4("127.0.0.1"), 1), 1u);
}

TEST(Totals, AFlowIsCountedOnceAcrossUpdatesAndItsClose) {
  Totals t;
  uint64_t delta = 0;
  EXPECT_EQ(t.add_flow(1, v4("10.0.0.1"), 77, 100, false, &delta), 100u);
  EXPECT_EQ(delta, 100u);
  EXPECT_EQ(t.add_flow(1, v4("10.0.0.1"), 77, 100, false, &delta), 100u);
  EXPECT_EQ(delta, 0u);  // nothing new: the pipeline drops the update
  EXPECT_EQ(t.add_flow(1, v4("10.0.0.1"), 78, 5, true, &delta), 105u);  // another socket, same destination
  EXPECT_EQ(t.add_flow(1, v4("10.0.0.1"), 77, 160, true, &delta), 165u);
  EXPECT_EQ(delta, 60u);
  // closed: a reused cookie starts from zero
  EXPECT_EQ(t.add_flow(1, v4("10.0.0.1"), 77, 1, true, &delta), 166u);
}

}  // namespace
}  // namespace fts::egress
