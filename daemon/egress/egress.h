#pragma once
// Egress policy: a policy's `network.egress` list parsed, compiled into the
// kernel's LPM trie (per policy, v4-mapped IPv6 prefixes -> port ranges),
// with DNS names resolved at load and again periodically; and the per-job,
// per-destination running byte totals that `network.max_bytes_per_destination`
// is checked against.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace fts::config {
class PolicySet;
}

namespace fts::egress {

using Address = std::array<uint8_t, 16>;  // IPv6; IPv4 as ::ffff:a.b.c.d

struct PortRange {
  uint16_t lo = 0, hi = 65535;
  bool operator==(const PortRange&) const = default;
  bool operator<(const PortRange& o) const { return lo != o.lo ? lo < o.lo : hi < o.hi; }
};

// One egress entry: a CIDR or a DNS name, with ports (all when none given).
struct Entry {
  std::string text;
  std::optional<Address> addr;  // a CIDR...
  uint8_t prefix = 128;         // ...of this many bits of the 128 (v4: 96 + n)
  std::string name;             // ...or a DNS name
  std::vector<PortRange> ports; // empty: every port
};

// Parses "10.0.0.0/8:29500-29600", "127.0.0.1", "[::1]/128:8080", "::1",
// "hub.internal:443". On error, says what and at which character (0-based).
struct ParseError {
  std::string what;
  size_t offset = 0;
};
std::variant<Entry, ParseError> parse(const std::string& text);

// Bytes like "10GiB", "500MB", "1048576". nullopt when malformed.
std::optional<uint64_t> parse_bytes(const std::string& text);

// One LPM trie entry: (policy, prefix) -> up to kMaxRanges port ranges.
constexpr size_t kMaxRanges = 8;
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
Result<std::vector<LpmEntry>> compile(const std::map<uint32_t, std::vector<Entry>>& entries, const Resolved& names);

// A DNS name of an egress list, as the kernel matches the questions of the
// answers a job gets: (policy, lower-case wire name) -> ports. When an
// answer's name is one of these, the kernel allows its addresses for their TTL.
constexpr size_t kMaxWireName = 128;  // the kernel's key (FTS_DNS_NAME)
struct NameEntry {
  uint32_t policy = 0;
  std::string wire;  // "\3hub\10internal\0"
  std::vector<PortRange> ports;
  bool operator==(const NameEntry&) const = default;
};

// "Hub.Internal." -> "\3hub\10internal\0"; nullopt when longer than kMaxWireName.
std::optional<std::string> dns_wire(const std::string& name);

// The names of every policy's entries, one per (policy, name), ports merged.
// Errors when a name does not fit the kernel's key or needs more than
// kMaxRanges ranges.
Result<std::vector<NameEntry>> compile_names(const std::map<uint32_t, std::vector<Entry>>& entries);

// The kernel side: the sensor implements it, tests fake it.
class KernelEgress {
 public:
  virtual ~KernelEgress() = default;
  virtual Status set_egress(const std::vector<LpmEntry>& entries) = 0;  // replaces the whole trie
  virtual Status set_policy_enforce(uint32_t policy, bool enforce) = 0;
  virtual Status set_dns_names(const std::vector<NameEntry>& names) = 0;  // replaces the whole map
  // Removes the addresses answers allowed that expired by now_boot_ns
  // (CLOCK_BOOTTIME), or all of them; returns how many went.
  virtual size_t expire_dns_allowed(uint64_t now_boot_ns, bool all) = 0;
};

using Resolver = std::function<std::vector<Address>(const std::string& name)>;
std::vector<Address> resolve_getaddrinfo(const std::string& name);

class Egress {
 public:
  explicit Egress(KernelEgress* kernel, Resolver resolver = resolve_getaddrinfo)
      : kernel_(kernel), resolver_(std::move(resolver)) {}
  // Parses every policy's egress list, resolves names, writes the maps.
  Status apply(const config::PolicySet& policies);
  // Resolves the names again; rewrites the trie when an address changed.
  Status refresh();
  // Drops what DNS answers allowed and has expired; returns how many.
  size_t expire(uint64_t now_boot_ns) { return kernel_->expire_dns_allowed(now_boot_ns, false); }
  uint64_t max_bytes(uint32_t policy) const;  // 0: no limit

  // A reload in three steps, so no task ever sees half a policy. prepare:
  // parse, resolve and compile the new set (its own kernel ids), touching
  // nothing. install_staged: write the new ids' entries and modes next to
  // the running ones. switch_to_staged: take the new set and drop the old
  // ids' entries (call it once every task carries a new id).
  Status prepare(const config::PolicySet& policies);
  Status install_staged();
  Status switch_to_staged();
  void drop_staged() { staged_.reset(); }

 private:
  struct State {
    std::map<uint32_t, std::vector<Entry>> entries;
    std::map<uint32_t, uint64_t> max_bytes;
    std::map<uint32_t, bool> enforce;
    Resolved names;
    std::vector<LpmEntry> compiled;
    std::vector<NameEntry> compiled_names;  // the kernel's dns_names
  };
  Result<State> build(const config::PolicySet& policies) const;
  Status write();
  KernelEgress* kernel_;
  Resolver resolver_;
  State current_;
  std::optional<State> staged_;
};

// Running bytes sent per job and destination address.
class Totals {
 public:
  // Adds bytes to (job, address); returns the new total.
  uint64_t add(uint64_t job_id, const Address& daddr, uint64_t bytes);
  // A flow's bytes so far (a periodic report, or its close): adds what was not
  // counted yet; *delta says how much that was. A closed flow is forgotten.
  uint64_t add_flow(uint64_t job_id, const Address& daddr, uint64_t cookie, uint64_t bytes_so_far, bool closed,
                    uint64_t* delta);
  void forget_job(uint64_t job_id);

 private:
  std::map<std::pair<uint64_t, Address>, uint64_t> totals_;
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> counted_;  // cookie -> (job, bytes counted)
};

// What each job resolved: address -> the name it asked for, kept for the
// answer's TTL (and a grace after it: programs cache answers), so connects,
// flows and alerts can say which name an address came from. A socket keeps
// the name it had at its connect for its whole life.
class Names {
 public:
  static constexpr uint64_t kGraceNs = 60'000'000'000;  // past the TTL
  static constexpr size_t kPerJob = 4096;
  void learn(uint64_t job_id, const Address& addr, const std::string& name, uint32_t ttl_s, uint64_t now_ns);
  // The name of addr for this job, or "".
  std::string lookup(uint64_t job_id, const Address& addr, uint64_t now_ns) const;
  void remember_socket(uint64_t cookie, uint64_t job_id, const std::string& name);
  std::string socket_name(uint64_t cookie) const;
  void forget_socket(uint64_t cookie) { sockets_.erase(cookie); }
  void forget_job(uint64_t job_id);

 private:
  struct Known {
    std::string name;
    uint64_t expires_ns = 0;
  };
  std::map<uint64_t, std::map<Address, Known>> jobs_;
  std::map<uint64_t, std::pair<uint64_t, std::string>> sockets_;  // cookie -> (job, name)
};

std::string to_string(const Address& a);

}  // namespace fts::egress
