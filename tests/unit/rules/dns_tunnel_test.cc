// dns-tunnel on synthetic query names: fires on base32 chunks of a file
// under one domain, stays quiet for the names normal jobs resolve, once.
#include "rules/dns_tunnel.h"

#include <gtest/gtest.h>

#include <random>

#include "support/rules_fixture.h"
#include "support/fixtures.h"

namespace fts::rules {
namespace {

using fts::testing::exec_of;
using fts::testing::task;

// RFC 4648 base32, lower-case, no padding: what DNS tunnels put in labels.
std::string base32(const std::string& data) {
  static const char* kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : data) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buf >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits) out += kAlphabet[(buf << (5 - bits)) & 31];
  return out;
}

// A shard's lines, as the kernel tests' fixture writes them.
std::string shard() {
  std::string s;
  for (int j = 0; j < 50; ++j) s += "{\"text\": \"example 0-" + std::to_string(j) + "\"}\n";
  return s;
}

// The shard as query names: two 48-character labels of base32 per name.
std::vector<std::string> tunnel_names(const std::string& domain) {
  std::string b = base32(shard());
  std::vector<std::string> out;
  for (size_t i = 0; i < b.size(); i += 96) {
    std::string chunk = b.substr(i, 96);
    std::string name = chunk.substr(0, 48);
    if (chunk.size() > 48) name += "." + chunk.substr(48);
    out.push_back(name + "." + domain);
  }
  return out;
}

class DnsTunnelTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    policy::Policy p = base_policy();
    start(std::move(p));
  }

  decode::Dns query(const std::string& name, uint64_t ts_s, uint64_t job = ~0ull) {
    decode::Dns d;
    d.hdr = fts::testing::header(decode::Kind::kDns, task(100, 1'000'000'000), job == ~0ull ? id_ : job,
                                 fts::testing::sec(ts_s));
    d.daddr[10] = d.daddr[11] = 0xff;
    d.daddr[12] = 10;
    d.daddr[15] = 53;
    d.dport = 53;
    d.name = name;
    return d;
  }

  // Sends every name (one a second from `t0`); returns the alerts.
  std::vector<v1::Alert> ask(const std::vector<std::string>& names, uint64_t t0 = 100, uint64_t job = ~0ull) {
    std::vector<v1::Alert> out;
    uint64_t t = t0;
    for (const auto& n : names)
      for (auto& a : run(query(n, t++, job))) out.push_back(std::move(a));
    return out;
  }

};

TEST(DnsTunnelParts, ParentDomainAndEntropy) {
  EXPECT_EQ(dns_tunnel::parent_domain("a.b.exfil.test"), "exfil.test");
  EXPECT_EQ(dns_tunnel::parent_domain("X.Y.Example.co.uk."), "example.co.uk");
  EXPECT_EQ(dns_tunnel::parent_domain("hub.internal"), "hub.internal");
  EXPECT_EQ(dns_tunnel::parent_domain("pypi.org.ml.svc.cluster.local"), "cluster.local");
  EXPECT_DOUBLE_EQ(dns_tunnel::entropy("aaaa"), 0.0);
  EXPECT_DOUBLE_EQ(dns_tunnel::entropy("abcd"), 2.0);
  EXPECT_GT(dns_tunnel::entropy(base32(shard()).substr(0, 48)), 3.5);
}

TEST_F(DnsTunnelTest, FiresOnBase32ChunksOfAFileOnceWithItsCatalogueEntry) {
  auto names = tunnel_names("exfil.test");
  ASSERT_GT(names.size(), 12u);
  auto al = ask(names);
  ASSERT_EQ(al.size(), 1u) << "once per job and parent domain";
  EXPECT_EQ(al[0].rule(), "dns-tunnel");
  EXPECT_EQ(al[0].severity(), "high");
  EXPECT_EQ(std::vector<std::string>(al[0].mitre().attack().begin(), al[0].mitre().attack().end()),
            (std::vector<std::string>{"T1048.003", "T1071.004"}));
  EXPECT_EQ(al[0].job().id(), jobs::job_id_string(id_));
  EXPECT_NE(al[0].message().find("exfil.test"), std::string::npos) << al[0].message();
  EXPECT_EQ(al[0].network().daddr(), "10.0.0.53");
  EXPECT_EQ(al[0].network().dport(), 53u);
  EXPECT_EQ(al[0].network().dns(), names[7]);  // the query that crossed the threshold
  EXPECT_TRUE(ask(tunnel_names("exfil.test"), 200).empty()) << "no second alert for the same domain";
}

TEST_F(DnsTunnelTest, HexChunksAndManyLabelsFireToo) {
  // 32 bytes of data per name, hex-encoded in two labels (the bytes: a fixed pseudo-random stream)
  std::mt19937 gen(42);
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) {
    std::string hex;
    for (int j = 0; j < 64; ++j) hex += "0123456789abcdef"[gen() % 16];
    names.push_back(hex.substr(0, 32) + "." + hex.substr(32) + ".t.example.net");
  }
  EXPECT_EQ(ask(names).size(), 1u);
}

TEST_F(DnsTunnelTest, NormalResolversAreQuiet) {
  std::vector<std::string> names = {
      "hub.internal", "pypi.org", "files.pythonhosted.org", "dualstack.python.map.fastly.net",
      "huggingface.co", "cdn-lfs-us-1.hf.co", "cas-bridge.xethub.hf.co",
      "my-company-training-data-bucket-prod.s3.us-east-1.amazonaws.com",
      "sts.us-east-1.amazonaws.com", "internal-ml-elb-1234567890.us-east-1.elb.amazonaws.com",
      "ip-10-0-1-23.ec2.internal", "wandb.ai", "api.wandb.ai", "storage.googleapis.com",
  };
  // Kubernetes: every name through the search list (ndots:5), and the services of the namespace
  std::vector<std::string> k8s;
  for (const char* base : {"pypi.org", "files.pythonhosted.org", "huggingface.co", "hub.internal", "wandb.ai",
                           "api.wandb.ai", "storage.googleapis.com", "github.com", "objects.githubusercontent.com"})
    for (const char* suffix : {".ml-team.svc.cluster.local", ".svc.cluster.local", ".cluster.local"})
      k8s.push_back(std::string(base) + suffix);
  for (int i = 0; i < 40; ++i)
    k8s.push_back("trainer-worker-" + std::to_string(i) + ".trainer-headless.ml-team.svc.cluster.local");
  k8s.push_back("minio.storage.svc.cluster.local");
  // A data loader asking for shards of a CDN by number, twice each
  std::vector<std::string> cdn;
  for (int i = 0; i < 60; ++i) cdn.push_back("shard-" + std::to_string(i % 30) + ".datasets.example.com");
  for (auto* list : {&names, &k8s, &cdn}) EXPECT_TRUE(ask(*list).empty()) << (*list)[0];
}

TEST_F(DnsTunnelTest, OnlyWithinTheWindow) {
  auto names = tunnel_names("slow.test");
  std::vector<v1::Alert> al;
  uint64_t t = 100;
  for (const auto& n : names) {
    for (auto& a : run(query(n, t))) al.push_back(a);
    t += 15;  // one name every 15 s: fewer than 8 in any minute
  }
  EXPECT_TRUE(al.empty());
}

TEST_F(DnsTunnelTest, ProcessesOutsideJobsAreNotJudged) {
  EXPECT_TRUE(ask(tunnel_names("exfil.test"), 100, 0).empty());
}

}  // namespace
}  // namespace fts::rules
