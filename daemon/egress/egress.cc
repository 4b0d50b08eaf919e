#include "egress/egress.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <variant>

#include "common/units.h"
#include "policy/egress_entry.h"
#include "policy/policy.h"

namespace fts::egress {

std::vector<Address> resolve_getaddrinfo(const std::string& name) {
  std::vector<Address> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* p = res; p; p = p->ai_next) {
    if (p->ai_family == AF_INET) out.push_back(address_from_v4(reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr));
    else if (p->ai_family == AF_INET6) {
      Address a;
      std::memcpy(a.data(), &reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr, 16);
      out.push_back(a);
    }
  }
  freeaddrinfo(res);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<policy::ResolverAddr> host_resolvers(const std::string& resolv_conf) {
  std::vector<policy::ResolverAddr> out;
  std::ifstream in(resolv_conf);
  std::string line, word, addr;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    if (!(words >> word) || word != "nameserver" || !(words >> addr)) continue;
    if (auto pos = addr.find('%'); pos != std::string::npos) addr.resize(pos);  // fe80::1%eth0
    auto r = policy::parse_resolver(addr.find(':') != std::string::npos ? "[" + addr + "]" : addr);
    if (auto* a = std::get_if<policy::ResolverAddr>(&r)) out.push_back(*a);
  }
  return out;
}

// A policy's `network.resolvers`, or the host's when it names none.
Status Egress::resolvers_of(const policy::Policy& p, const std::vector<policy::ResolverAddr>& host,
                            State* st) const {
  const auto& named = p.spec.network().resolvers();
  if (named.empty()) {
    for (const auto& r : host) st->resolvers.push_back({p.index, r});
    return {};
  }
  for (const auto& text : named) {
    auto r = policy::parse_resolver(text);
    if (auto* err = std::get_if<policy::EgressError>(&r))
      return make_error("policy " + p.spec.name() + ": resolver '" + text + "': " + err->what);
    st->resolvers.push_back({p.index, std::get<policy::ResolverAddr>(r)});
  }
  return {};
}

Result<Egress::State> Egress::build(const policy::PolicySet& policies) const {
  State st;
  const auto host = host_resolvers(resolv_conf_);
  for (const policy::Policy* p : policies.in_force()) {
    if (auto r = resolvers_of(*p, host, &st); !r) return make_error(r.error());
    auto& list = st.entries[p->index];
    for (const auto& text : p->spec.network().egress()) {
      auto r = policy::parse_egress(text);
      if (auto* err = std::get_if<policy::EgressError>(&r))
        return make_error("policy " + p->spec.name() + ": egress '" + text + "': " + err->what);
      list.push_back(std::get<policy::EgressEntry>(r));
    }
    if (!p->spec.network().max_bytes_per_destination().empty())
      if (auto b = parse_bytes(p->spec.network().max_bytes_per_destination())) st.max_bytes[p->index] = *b;
    st.enforce[p->index] = p->spec.mode() == v1::enforce;
  }
  // Flows opened before a reload carry the previous id of their policy.
  for (const auto& [old_id, id] : policies.aliases()) {
    if (auto it = st.max_bytes.find(id); it != st.max_bytes.end()) st.max_bytes[old_id] = it->second;
    for (size_t i = 0, n = st.resolvers.size(); i < n; ++i)
      if (st.resolvers[i].policy == id) st.resolvers.push_back({old_id, st.resolvers[i].resolver});
  }
  for (const auto& [policy, list] : st.entries)
    for (const auto& e : list)
      if (!e.name.empty() && !st.names.count(e.name)) st.names[e.name] = resolver_(e.name);
  auto compiled = compile(st.entries, st.names);
  if (!compiled) return make_error(compiled.error());
  st.compiled = std::move(*compiled);
  auto names = compile_names(st.entries);
  if (!names) return make_error(names.error());
  st.compiled_names = std::move(*names);
  return st;
}

Status Egress::apply(const policy::PolicySet& policies) {
  if (auto st = prepare(policies); !st) return st;
  return switch_to_staged();
}

Status Egress::prepare(const policy::PolicySet& policies) {
  auto st = build(policies);
  if (!st) return make_error(st.error());
  staged_ = std::move(*st);
  return {};
}

Status Egress::install_staged() {
  if (!staged_) return make_error("no staged egress policy");
  for (const auto& [policy, enforce] : staged_->enforce)
    if (auto st = kernel_->set_policy_enforce(policy, enforce); !st) return st;
  std::vector<LpmEntry> both = current_.compiled;
  both.insert(both.end(), staged_->compiled.begin(), staged_->compiled.end());
  if (auto st = kernel_->set_egress(both); !st) return st;
  std::vector<NameEntry> names = current_.compiled_names;
  names.insert(names.end(), staged_->compiled_names.begin(), staged_->compiled_names.end());
  if (auto st = kernel_->set_dns_names(names); !st) return st;
  std::vector<ResolverEntry> resolvers = current_.resolvers;
  resolvers.insert(resolvers.end(), staged_->resolvers.begin(), staged_->resolvers.end());
  return kernel_->set_dns_resolvers(resolvers);
}

Status Egress::switch_to_staged() {
  if (!staged_) return make_error("no staged egress policy");
  for (const auto& [policy, enforce] : staged_->enforce)
    if (auto st = kernel_->set_policy_enforce(policy, enforce); !st) return st;
  if (auto st = kernel_->set_egress(staged_->compiled); !st) return st;
  if (auto st = kernel_->set_dns_names(staged_->compiled_names); !st) return st;
  if (auto st = kernel_->set_dns_resolvers(staged_->resolvers); !st) return st;
  // What answers allowed is keyed by the old ids: it goes with them. The new
  // ids allow again from the job's next answer.
  kernel_->expire_dns_allowed(0, true);
  current_ = std::move(*staged_);
  staged_.reset();
  return {};
}

Status Egress::refresh() {
  Resolved now;
  for (const auto& [name, _] : current_.names) now[name] = resolver_(name);
  if (now == current_.names) return {};
  current_.names = std::move(now);
  return write();
}

Status Egress::write() {
  auto compiled = compile(current_.entries, current_.names);
  if (!compiled) return make_error(compiled.error());
  if (auto st = kernel_->set_egress(*compiled); !st) return st;
  current_.compiled = std::move(*compiled);
  return {};
}

uint64_t Egress::max_bytes(uint32_t policy) const {
  auto it = current_.max_bytes.find(policy);
  return it == current_.max_bytes.end() ? 0 : it->second;
}

}  // namespace fts::egress
