#pragma once
// The grammar of a policy's `network.egress` entries: a CIDR or a DNS name,
// with ports. Parsed here once, for the config check and for the egress
// compiler alike.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/address.h"

namespace fts::policy {

struct PortRange {
  uint16_t lo = 0, hi = 65535;
  bool operator==(const PortRange&) const = default;
  bool operator<(const PortRange& o) const { return lo != o.lo ? lo < o.lo : hi < o.hi; }
};

// At most this many port ranges per kernel entry (the kernel's fts_egress_ports).
constexpr size_t kMaxRanges = 8;
// The longest DNS name in wire format the kernel matches answers by (FTS_DNS_NAME).
constexpr size_t kMaxWireName = 128;

// One egress entry: a CIDR or a DNS name, with ports (all when none given).
struct EgressEntry {
  std::string text;
  std::optional<Address> addr;  // a CIDR...
  uint8_t prefix = 128;         // ...of this many bits of the 128 (v4: 96 + n)
  std::string name;             // ...or a DNS name
  std::vector<PortRange> ports; // empty: every port
};

// What is wrong with an entry, and at which character (0-based).
struct EgressError {
  std::string what;
  size_t offset = 0;
};

// Parses "10.0.0.0/8:29500-29600", "127.0.0.1", "[::1]/128:8080", "::1",
// "hub.internal:443".
std::variant<EgressEntry, EgressError> parse_egress(const std::string& text);

// A resolver a policy trusts (`network.resolvers`): one address and one port.
struct ResolverAddr {
  Address addr{};
  uint16_t port = 53;
  bool operator==(const ResolverAddr&) const = default;
  auto operator<=>(const ResolverAddr&) const = default;
};

// Parses "10.0.0.2", "10.0.0.2:5353", "::1", "[::1]:53" (the egress grammar,
// narrowed to one address and at most one port).
std::variant<ResolverAddr, EgressError> parse_resolver(const std::string& text);

// "Hub.Internal." -> "\3hub\10internal\0"; nullopt when longer than kMaxWireName.
std::optional<std::string> dns_wire(const std::string& name);

// Keeps only the first `bits` bits of an address.
Address prefix_of(Address a, uint8_t bits);

}  // namespace fts::policy
