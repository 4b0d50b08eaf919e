#pragma once
// A policy set's egress entries compiled into what the kernel matches: the
// LPM trie (per policy, v4-mapped IPv6 prefixes -> port ranges) and the DNS
// names whose answers allow their addresses.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/result.h"
#include "policy/egress_entry.h"

namespace fts::egress {

using policy::EgressEntry;
using policy::PortRange;

// One LPM trie entry: (policy, prefix) -> up to policy::kMaxRanges port ranges.
struct LpmEntry {
  uint32_t policy = 0;
  Address addr{};
  uint8_t prefix = 0;  // of the 128 address bits
  std::vector<PortRange> ports;
  bool operator==(const LpmEntry&) const = default;
};

// A name's addresses, from the resolver.
using Resolved = std::map<std::string, std::vector<Address>>;

// Compiles the entries of every policy into trie entries: names become their
// resolved /128s, equal prefixes merge their ports, and a prefix carries the
// ports of every shorter prefix of its policy that contains it (an LPM lookup
// returns only the longest match). Errors when an entry needs more than
// kMaxRanges ranges.
Result<std::vector<LpmEntry>> compile(const std::map<uint32_t, std::vector<EgressEntry>>& entries,
                                      const Resolved& names);

// A DNS name of an egress list, as the kernel matches the questions of the
// answers a job gets: (policy, lower-case wire name) -> ports. When an
// answer's name is one of these, the kernel allows its addresses for their TTL.
struct NameEntry {
  uint32_t policy = 0;
  std::string wire;  // "\3hub\10internal\0"
  std::vector<PortRange> ports;
  bool operator==(const NameEntry&) const = default;
};

// The names of every policy's entries, one per (policy, name), ports merged.
// Errors when a name does not fit the kernel's key or needs more than
// kMaxRanges ranges.
Result<std::vector<NameEntry>> compile_names(const std::map<uint32_t, std::vector<EgressEntry>>& entries);

}  // namespace fts::egress
