// sensor-tamper from the network sensor: a job trying to fool it rather than
// pass it. Two ways the egress hooks could be gone around, each raised when
// the kernel saw it:
//
// - a DNS answer that the kernel did not believe (it matched no query of
//   the socket by id, question and resolver address:port, or came from a
//   resolver the policy does not name) for a name of the job's egress list:
//   believed, it would have opened that name's addresses to the job. Answers
//   for other names allow nothing and are only events (a late duplicate of a
//   real answer is one).
// - a socket the egress hooks cannot account for (ICMP echo, raw IP, SCTP,
//   AF_PACKET and other non-IP families): blocked in enforce mode.
#include <memory>
#include <string>

#include "common/address.h"
#include "rules/rules.h"

namespace fts::rules {
namespace {

std::string who(const Input& in) {
  const decode::Header& h = decode::header(in.record);
  return (in.process && !in.process->exe.empty() ? in.process->exe : "?") + " (pid " + std::to_string(h.task.tgid) +
         ")";
}

class ForgedDnsAnswer : public Rule {
 public:
  const char* id() const override { return "sensor-tamper"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kDnsAnswer}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& a = std::get<decode::DnsAnswer>(in.record);
    if (!in.job || a.believed() || !a.egress_name) return;
    std::string from = address_string(a.saddr) + ":" + std::to_string(a.sport);
    std::string why = a.unmatched
                          ? "it matches no query the socket sent (id " + std::to_string(a.id) +
                                ", question and resolver address:port)"
                          : "the query went to " + from + ", not a resolver the policy names (network.resolvers)";
    // The answer still reaches the socket; what it claimed is not allowed (a
    // connect there is egress-not-allowed, blocked in enforce mode).
    out->push_back({id(), "high",
                    "a DNS answer for " + a.name + " from " + from + " to " + who(in) + " was not believed: " + why +
                        "; it allowed nothing",
                    "dns:" + a.name + "@" + from + "#" + std::to_string(a.id)});
  }
};

class UnseenSocket : public Rule {
 public:
  const char* id() const override { return "sensor-tamper"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kSocket}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& k = std::get<decode::Socket>(in.record);
    if (!in.job) return;
    std::string what = std::string(decode::socket_family_name(k.family)) + "/" + decode::socket_type_name(k.type) +
                       " socket (protocol " + std::to_string(k.protocol) + ")";
    std::string then = k.killed    ? ": refused, the process killed (no hook can refuse that family)"
                       : k.refused ? ": refused (EPERM)"
                                   : ": allowed (monitor mode); its sends are counted from its packets";
    Finding f{id(), "high", who(in) + " created a " + what + " that the egress hooks cannot check" + then,
              "socket:" + what};
    if (k.refused) f.action = "blocked";
    out->push_back(std::move(f));
  }
};

}  // namespace

std::unique_ptr<Rule> make_forged_dns_answer() { return std::make_unique<ForgedDnsAnswer>(); }
std::unique_ptr<Rule> make_unseen_socket() { return std::make_unique<UnseenSocket>(); }

}  // namespace fts::rules
