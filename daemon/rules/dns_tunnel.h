#pragma once
// dns-tunnel: a job's DNS query names that look like data, not hosts.
//
// Tunnels (iodine, dnscat2, DNSExfiltrator, a few lines of Python) put the
// data in the labels under a domain the attacker's server answers for:
// long labels of base32/base64/hex, a new name per chunk. Resolvers of
// normal jobs ask for few names, short labels of words: hub.internal,
// files.pythonhosted.org, dualstack.python.map.fastly.net, and Kubernetes
// search-list expansions like pypi.org.ml.svc.cluster.local.
//
// Per job and parent domain (the last two labels; three under a two-letter
// TLD with a short second level, like co.uk), over a sliding window:
//   - a name is *encoded-looking* when the part under the parent has a label
//     of at least min_label characters whose Shannon entropy is at least
//     min_entropy bits per character and which has a digit (base32, base64
//     and hex chunks do; words joined by dashes don't), or when that part is
//     at least long_name characters (data stuffed into many labels);
//   - the rule fires when suspicious_names unique encoded-looking names, or
//     unique_names unique names of any kind, fall under one parent within
//     the window. Once per job and parent.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rules/rules.h"

namespace fts::rules::dns_tunnel {

struct Thresholds {
  size_t min_label = 24;
  double min_entropy = 3.5;
  size_t long_name = 100;
  size_t suspicious_names = 8;
  size_t unique_names = 500;
  uint64_t window_ns = 60'000'000'000;
};

// "a.b.exfil.test" -> "exfil.test"; "x.y.example.co.uk" -> "example.co.uk".
std::string parent_domain(std::string_view name);
// Shannon entropy of the characters of s, bits per character (case folded).
double entropy(std::string_view s);
// Does the name under `parent` look like encoded data?
bool looks_encoded(std::string_view name, std::string_view parent, const Thresholds& t);

std::unique_ptr<Rule> make(Thresholds t = {});

}  // namespace fts::rules::dns_tunnel
