#include "egress/egress.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <fstream>

#include "common/units.h"
#include "config/config.h"
#include "egress/runtime.h"
#include "policy/egress_entry.h"
#include "support/fixtures.h"

namespace fts::egress {
namespace {

// The entry grammar lives in policy/ (the config check parses with it too).
using Entry = policy::EgressEntry;
using ParseError = policy::EgressError;
using policy::dns_wire;
using policy::kMaxWireName;
auto parse(const std::string& text) { return policy::parse_egress(text); }

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
  Status set_dns_names(const std::vector<NameEntry>& n) override {
    names = n;
    return {};
  }
  Status set_dns_resolvers(const std::vector<ResolverEntry>& r) override {
    resolvers = r;
    return {};
  }
  std::vector<ResolverEntry> resolvers;
  size_t expire_dns_allowed(uint64_t now, bool all) override {
    expired_all += all;
    last_expire = now;
    return 0;
  }
  std::vector<NameEntry> names;
  int expired_all = 0;
  uint64_t last_expire = 0;
  std::vector<LpmEntry> entries;
  std::map<uint32_t, bool> enforce_;
  int writes = 0;
};

TEST(Egress, AppliesPoliciesAndRefreshesNames) {
  policy::PolicySet set;
  policy::Policy p;
  p.spec.set_name("ft");
  p.spec.set_mode(v1::enforce);
  p.spec.mutable_network()->add_egress("127.0.0.1/32:8080");
  p.spec.mutable_network()->add_egress("hub.internal:443");
  p.spec.mutable_network()->set_max_bytes_per_destination("1MiB");
  set.add(p);
  policy::Policy q;
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
  // the name goes to the kernel too, for the answers the job gets
  ASSERT_EQ(k.names.size(), 1u);
  EXPECT_EQ(k.names[0].wire, std::string("\3hub\10internal\0", 14));
  EXPECT_EQ(k.names[0].ports, (std::vector<PortRange>{{443, 443}}));
  EXPECT_EQ(k.expired_all, 1);  // what earlier answers allowed goes with the old policies
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

TEST(EgressNames, WireFormatIsLowerCaseLabels) {
  EXPECT_EQ(dns_wire("Hub.Internal"), std::string("\3hub\10internal\0", 14));
  EXPECT_EQ(dns_wire("hub.internal."), std::string("\3hub\10internal\0", 14));  // rooted: the same name
  EXPECT_EQ(dns_wire("a..b"), std::nullopt);
  EXPECT_EQ(dns_wire(std::string(64, 'a') + ".x"), std::nullopt);  // a label is at most 63
  std::string longest = std::string(63, 'a') + "." + std::string(62, 'b');  // 126 characters: 128 bytes of wire
  ASSERT_TRUE(dns_wire(longest));
  EXPECT_EQ(dns_wire(longest)->size(), kMaxWireName);
  EXPECT_EQ(dns_wire(longest + "c"), std::nullopt);
}

TEST(EgressNames, ParseRefusesNamesTheKernelCannotMatch) {
  auto e = bad(std::string(63, 'a') + "." + std::string(63, 'b') + ":443");
  EXPECT_NE(e.what.find("longer than 126"), std::string::npos) << e.what;
  EXPECT_EQ(e.offset, 0u);
}

TEST(EgressNames, CompileMergesPortsPerPolicyAndName) {
  std::map<uint32_t, std::vector<Entry>> in;
  in[0] = {ok("hub.internal:443"), ok("HUB.internal:8443"), ok("10.0.0.0/8"), ok("pypi.org")};
  in[3] = {ok("hub.internal:443-444")};
  auto out = compile_names(in);
  ASSERT_TRUE(out) << out.error();
  ASSERT_EQ(out->size(), 3u);
  std::map<std::pair<uint32_t, std::string>, std::vector<PortRange>> got;
  for (const auto& n : *out) got[{n.policy, n.wire}] = n.ports;
  std::string hub("\3hub\10internal\0", 14), pypi("\4pypi\3org\0", 10);
  EXPECT_EQ(got.at({0, hub}), (std::vector<PortRange>{{443, 443}, {8443, 8443}}));
  EXPECT_EQ(got.at({0, pypi}), (std::vector<PortRange>{{0, 65535}}));  // no ports: every port
  EXPECT_EQ(got.at({3, hub}), (std::vector<PortRange>{{443, 444}}));
}

TEST(EgressNames, CompileRefusesMoreRangesThanTheKernelHolds) {
  std::map<uint32_t, std::vector<Entry>> in;
  for (int i = 0; i < 9; ++i) in[0].push_back(ok("hub.internal:" + std::to_string(1000 + 2 * i)));
  auto out = compile_names(in);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().find("at most 8"), std::string::npos) << out.error();
}

TEST(Names, AnAddressIsTheNameItWasResolvedFromUntilItsTtlAndGrace) {
  Names n;
  const uint64_t s = 1'000'000'000;
  n.learn(1, v4("10.0.0.5"), "hub.internal", 30, 100 * s);
  EXPECT_EQ(n.lookup(1, v4("10.0.0.5"), 101 * s), "hub.internal");
  EXPECT_EQ(n.lookup(2, v4("10.0.0.5"), 101 * s), "");  // another job did not resolve it
  EXPECT_EQ(n.lookup(1, v4("10.0.0.6"), 101 * s), "");
  EXPECT_EQ(n.lookup(1, v4("10.0.0.5"), 100 * s + 30 * s + Names::kGraceNs - 1), "hub.internal");
  EXPECT_EQ(n.lookup(1, v4("10.0.0.5"), 100 * s + 30 * s + Names::kGraceNs), "");
  // a newer answer for the address wins
  n.learn(1, v4("10.0.0.5"), "cdn.example", 30, 200 * s);
  EXPECT_EQ(n.lookup(1, v4("10.0.0.5"), 201 * s), "cdn.example");
  // a socket keeps the name of its connect after the answer expired
  n.remember_socket(77, 1, "cdn.example");
  EXPECT_EQ(n.socket_name(77), "cdn.example");
  n.forget_socket(77);
  EXPECT_EQ(n.socket_name(77), "");
  n.remember_socket(78, 1, "cdn.example");
  n.forget_job(1);
  EXPECT_EQ(n.lookup(1, v4("10.0.0.5"), 201 * s), "");
  EXPECT_EQ(n.socket_name(78), "");
}

TEST(Names, BoundedPerJob) {
  Names n;
  for (uint32_t i = 0; i < Names::kPerJob + 10; ++i) {
    Address a = v4("10.0.0.0");
    a[13] = static_cast<uint8_t>(i >> 8);
    a[14] = static_cast<uint8_t>(i);
    n.learn(1, a, "n" + std::to_string(i), 10 + i, 0);
  }
  Address last = v4("10.0.0.0");
  last[13] = static_cast<uint8_t>((Names::kPerJob + 9) >> 8);
  last[14] = static_cast<uint8_t>(Names::kPerJob + 9);
  EXPECT_EQ(n.lookup(1, last, 1), "n" + std::to_string(Names::kPerJob + 9));
  EXPECT_EQ(n.lookup(1, v4("10.0.0.0"), 1), "");  // the earliest to expire went
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

TEST(EgressResolvers, ParseIsOneAddressAndOnePort) {
  auto one = [](const std::string& t) { return std::get<policy::ResolverAddr>(policy::parse_resolver(t)); };
  EXPECT_EQ(one("10.0.0.2"), (policy::ResolverAddr{v4("10.0.0.2"), 53}));
  EXPECT_EQ(one("10.0.0.2:5353"), (policy::ResolverAddr{v4("10.0.0.2"), 5353}));
  Address loopback6{};
  loopback6[15] = 1;
  EXPECT_EQ(one("[::1]:54"), (policy::ResolverAddr{loopback6, 54}));
  EXPECT_EQ(one("::1"), (policy::ResolverAddr{loopback6, 53}));
  for (const char* bad : {"dns.internal", "10.0.0.0/8", "10.0.0.2:53-54", "10.0.0.2:53,54", "", "10.0.0.300"})
    EXPECT_TRUE(std::holds_alternative<ParseError>(policy::parse_resolver(bad))) << bad;
}

TEST(EgressResolvers, HostResolversAreResolvConfNameservers) {
  fts::testing::TempDir dir;
  std::string conf = dir.path() + "/resolv.conf";
  {
    std::ofstream f(conf);
    f << "# generated\nsearch example.internal\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n"
         "nameserver   127.0.0.53 # stub\noptions edns0\nnameserver not-an-address\n";
  }
  Address ll{};
  ll[0] = 0xfe;
  ll[1] = 0x80;
  ll[15] = 1;
  EXPECT_EQ(host_resolvers(conf), (std::vector<policy::ResolverAddr>{
                                      {v4("10.0.0.2"), 53}, {ll, 53}, {v4("127.0.0.53"), 53}}));
  EXPECT_TRUE(host_resolvers(dir.path() + "/none").empty());
}

TEST(EgressResolvers, APolicyTrustsItsResolversOrElseTheHosts) {
  fts::testing::TempDir dir;
  std::string conf = dir.path() + "/resolv.conf";
  std::ofstream(conf) << "nameserver 10.9.9.9\n";
  policy::PolicySet set;
  policy::Policy named;
  named.spec.set_name("named");
  named.spec.mutable_network()->add_resolvers("127.0.0.1:5300");
  named.spec.mutable_network()->add_resolvers("10.0.0.2");
  set.add(named);
  policy::Policy host;
  host.spec.set_name("host");
  set.add(host);
  FakeKernel k;
  Egress eg(&k, [](const std::string&) { return std::vector<Address>{}; }, conf);
  ASSERT_TRUE(eg.apply(set));
  EXPECT_EQ(k.resolvers, (std::vector<ResolverEntry>{{0, {v4("127.0.0.1"), 5300}},
                                                      {0, {v4("10.0.0.2"), 53}},
                                                      {1, {v4("10.9.9.9"), 53}}}));
  policy::PolicySet bad;
  policy::Policy b;
  b.spec.set_name("bad");
  b.spec.mutable_network()->add_resolvers("dns.internal");
  bad.add(b);
  auto st = eg.apply(bad);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("resolver 'dns.internal'"), std::string::npos) << st.error();
  EXPECT_EQ(k.resolvers.size(), 3u) << "a bad set leaves the kernel as it was";
}

}  // namespace
}  // namespace fts::egress
