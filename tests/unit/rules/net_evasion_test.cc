// sensor-tamper from the network sensor (rules/net_evasion.cc): DNS answers
// the kernel did not believe, for a name of the egress list, and sockets the
// egress hooks cannot account for. Synthetic records: each fires with what a
// SIEM reads, and stays quiet when it should.
#include <gtest/gtest.h>

#include "rules/rules.h"
#include "support/fixtures.h"
#include "support/rules_fixture.h"

namespace fts::rules {
namespace {

using fts::testing::task;

class NetEvasionTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override { start(base_policy()); }

  decode::DnsAnswer answer(uint16_t id, uint16_t sport) {
    decode::DnsAnswer a;
    a.hdr = fts::testing::header(decode::Kind::kDnsAnswer, task(100, kRootStart), id_);
    a.saddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    a.sport = sport;
    a.id = id;
    a.name = "hub.internal";
    a.egress_name = true;
    return a;
  }

  decode::Socket sock(uint16_t family, uint16_t type, uint16_t protocol) {
    decode::Socket k;
    k.hdr = fts::testing::header(decode::Kind::kSocket, task(100, kRootStart), id_);
    k.family = family;
    k.type = type;
    k.protocol = protocol;
    return k;
  }
};

TEST_F(NetEvasionTest, AnUnmatchedAnswerForAnEgressNameIsRaised) {
  decode::DnsAnswer a = answer(0x8101, 40000);
  a.unmatched = true;
  auto al = run(a);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"sensor-tamper"});
  EXPECT_EQ(al[0].action(), "alerted");
  EXPECT_EQ(al[0].severity(), "high");
  EXPECT_EQ(al[0].mitre().attack(0), "T1562.001");
  EXPECT_EQ(al[0].job().id(), jobs::job_id_string(id_));
  EXPECT_EQ(al[0].network().dport(), 40000u);
  EXPECT_EQ(al[0].network().daddr(), "127.0.0.1");
  EXPECT_EQ(al[0].network().dns(), "hub.internal");
  EXPECT_NE(al[0].message().find("matches no query"), std::string::npos) << al[0].message();
  EXPECT_TRUE(run(a).empty()) << "the same answer again is a repeat";
  decode::DnsAnswer other = answer(0x8102, 40000);
  other.unmatched = true;
  EXPECT_EQ(run(other).size(), 1u) << "another forged answer is another alert";
}

TEST_F(NetEvasionTest, AnAnswerFromAResolverThePolicyDoesNotNameIsRaised) {
  decode::DnsAnswer a = answer(0x404, 53);
  a.untrusted = true;
  auto al = run(a);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"sensor-tamper"});
  EXPECT_NE(al[0].message().find("not a resolver the policy names"), std::string::npos) << al[0].message();
}

TEST_F(NetEvasionTest, BelievedAnswersAndOtherNamesAreQuiet) {
  decode::DnsAnswer real = answer(0x1234, 53);
  real.allowed = true;
  EXPECT_TRUE(run(real).empty()) << "a real answer";
  decode::DnsAnswer late = answer(0x1235, 53);
  late.unmatched = true;
  late.egress_name = false;
  late.name = "pypi.org";
  EXPECT_TRUE(run(late).empty()) << "a late duplicate for a name that allows nothing";
  decode::DnsAnswer outside = answer(0x1236, 53);
  outside.unmatched = true;
  outside.hdr.job_id = 0;
  EXPECT_TRUE(run(outside).empty()) << "not a job's";
}

TEST_F(NetEvasionTest, AnUnseenSocketIsRaisedBlockedWhenRefused) {
  decode::Socket icmp = sock(2, 2, 1);
  auto al = run(icmp);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"sensor-tamper"});
  EXPECT_EQ(al[0].action(), "alerted");
  EXPECT_EQ(al[0].network().protocol(), "icmp");
  EXPECT_NE(al[0].message().find("inet/dgram socket (protocol 1)"), std::string::npos) << al[0].message();
  EXPECT_NE(al[0].message().find("counted from its packets"), std::string::npos) << al[0].message();
  decode::Socket raw = sock(10, 3, 253);
  raw.refused = true;
  al = run(raw);
  ASSERT_EQ(al.size(), 1u);
  EXPECT_EQ(al[0].action(), "blocked");
  EXPECT_NE(al[0].message().find("inet6/raw socket"), std::string::npos) << al[0].message();
  EXPECT_NE(al[0].message().find("refused (EPERM)"), std::string::npos) << al[0].message();
  decode::Socket packet = sock(17, 3, 0x0300);
  packet.refused = packet.killed = true;
  al = run(packet);
  ASSERT_EQ(al.size(), 1u);
  EXPECT_EQ(al[0].action(), "blocked");
  EXPECT_NE(al[0].message().find("packet/raw socket"), std::string::npos) << al[0].message();
  EXPECT_NE(al[0].message().find("process killed"), std::string::npos) << al[0].message();
  decode::Socket outside = sock(2, 3, 1);
  outside.hdr.job_id = 0;
  EXPECT_TRUE(run(outside).empty()) << "not a job's";
}

}  // namespace
}  // namespace fts::rules
