#pragma once
// Egress policy in the kernel: every policy's `network.egress` list parsed,
// its DNS names resolved at load and again periodically, compiled
// (egress/compile.h) and written to the kernel's maps; reloads staged so no
// task sees half a policy. The per-job running state of flows and names is
// egress/runtime.h.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/result.h"
#include "egress/compile.h"

namespace fts::policy {
class Policy;
class PolicySet;
}

namespace fts::egress {

// A resolver a policy trusts: only its answers (matching a query the job
// sent it) can allow the addresses of the policy's egress names.
struct ResolverEntry {
  uint32_t policy = 0;
  policy::ResolverAddr resolver;
  bool operator==(const ResolverEntry&) const = default;
};

// The `nameserver` lines of a resolv.conf (port 53), in order; none when it
// cannot be read.
std::vector<policy::ResolverAddr> host_resolvers(const std::string& resolv_conf);

// The kernel side: the sensor implements it, tests fake it.
class KernelEgress {
 public:
  virtual ~KernelEgress() = default;
  virtual Status set_egress(const std::vector<LpmEntry>& entries) = 0;  // replaces the whole trie
  virtual Status set_policy_enforce(uint32_t policy, bool enforce) = 0;
  virtual Status set_dns_names(const std::vector<NameEntry>& names) = 0;  // replaces the whole map
  virtual Status set_dns_resolvers(const std::vector<ResolverEntry>& resolvers) = 0;  // replaces the whole map
  // Removes the addresses answers allowed that expired by now_boot_ns
  // (CLOCK_BOOTTIME), or all of them; returns how many went.
  virtual size_t expire_dns_allowed(uint64_t now_boot_ns, bool all) = 0;
};

using Resolver = std::function<std::vector<Address>(const std::string& name)>;
std::vector<Address> resolve_getaddrinfo(const std::string& name);

class Egress {
 public:
  // resolv_conf: whose nameservers a policy without `network.resolvers` trusts.
  explicit Egress(KernelEgress* kernel, Resolver resolver = resolve_getaddrinfo,
                  std::string resolv_conf = "/etc/resolv.conf")
      : kernel_(kernel), resolver_(std::move(resolver)), resolv_conf_(std::move(resolv_conf)) {}
  // Parses every policy's egress list, resolves names, writes the maps.
  Status apply(const policy::PolicySet& policies);
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
  Status prepare(const policy::PolicySet& policies);
  Status install_staged();
  Status switch_to_staged();
  void drop_staged() { staged_.reset(); }

 private:
  struct State {
    std::map<uint32_t, std::vector<EgressEntry>> entries;
    std::map<uint32_t, uint64_t> max_bytes;
    std::map<uint32_t, bool> enforce;
    Resolved names;
    std::vector<LpmEntry> compiled;
    std::vector<NameEntry> compiled_names;  // the kernel's dns_names
    std::vector<ResolverEntry> resolvers;   // the kernel's dns_resolvers
  };
  Status resolvers_of(const policy::Policy& p, const std::vector<policy::ResolverAddr>& host, State* st) const;
  Result<State> build(const policy::PolicySet& policies) const;
  Status write();
  KernelEgress* kernel_;
  Resolver resolver_;
  std::string resolv_conf_;
  State current_;
  std::optional<State> staged_;
};

}  // namespace fts::egress
