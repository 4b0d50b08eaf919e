#include "egress/egress.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>
#include <variant>

#include "config/config.h"

namespace fts::egress {
namespace {

Address v4_mapped(const in_addr& a) {
  Address out{};
  out[10] = out[11] = 0xff;
  std::memcpy(out.data() + 12, &a, 4);
  return out;
}

bool parse_u16(const std::string& s, uint16_t* out) {
  if (s.empty() || s.size() > 5) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

// "443", "29500-29600"; `at` is where the ports start in the entry.
std::optional<ParseError> parse_ports(const std::string& s, size_t at, std::vector<PortRange>* out) {
  size_t dash = s.find('-');
  PortRange r;
  if (dash == std::string::npos) {
    if (!parse_u16(s, &r.lo) || r.lo == 0) return ParseError{"bad port '" + s + "' (expected 1-65535)", at};
    r.hi = r.lo;
  } else {
    if (!parse_u16(s.substr(0, dash), &r.lo) || r.lo == 0)
      return ParseError{"bad port '" + s.substr(0, dash) + "' (expected 1-65535)", at};
    if (!parse_u16(s.substr(dash + 1), &r.hi) || r.hi == 0)
      return ParseError{"bad port '" + s.substr(dash + 1) + "' (expected 1-65535)", at + dash + 1};
    if (r.lo > r.hi) return ParseError{"empty port range '" + s + "' (low > high)", at};
  }
  out->push_back(r);
  return std::nullopt;
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return label > 0 || n.back() == '.';
}

// Keeps only the first `bits` bits of an address.
Address mask(Address a, uint8_t bits) {
  for (size_t i = 0; i < 16; ++i) {
    int keep = std::clamp(static_cast<int>(bits) - static_cast<int>(i) * 8, 0, 8);
    a[i] &= static_cast<uint8_t>(keep == 8 ? 0xff : (0xff << (8 - keep)) & 0xff);
  }
  return a;
}

bool contains(const Address& net, uint8_t bits, const Address& a) { return mask(a, bits) == net; }

// Sorted, overlapping and adjacent ranges joined.
std::vector<PortRange> normalize(std::vector<PortRange> v) {
  std::sort(v.begin(), v.end());
  std::vector<PortRange> out;
  for (const auto& r : v) {
    if (!out.empty() && static_cast<uint32_t>(r.lo) <= static_cast<uint32_t>(out.back().hi) + 1)
      out.back().hi = std::max(out.back().hi, r.hi);
    else out.push_back(r);
  }
  return out;
}

std::vector<PortRange> all_ports_if_empty(const std::vector<PortRange>& p) {
  return p.empty() ? std::vector<PortRange>{PortRange{}} : p;
}

}  // namespace

std::string to_string(const Address& a) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(a.data(), kMapped, 12) == 0) inet_ntop(AF_INET, a.data() + 12, buf, sizeof(buf));
  else inet_ntop(AF_INET6, a.data(), buf, sizeof(buf));
  return buf;
}

std::variant<Entry, ParseError> parse(const std::string& text) {
  Entry e;
  e.text = text;
  if (text.empty()) return ParseError{"empty egress entry", 0};
  std::string host;
  size_t host_at = 0;
  std::string ports;
  size_t ports_at = 0;
  bool bracketed = false;
  if (text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) return ParseError{"'[' without ']'", 0};
    bracketed = true;
    host = text.substr(1, close - 1);
    host_at = 1;
    std::string rest = text.substr(close + 1);
    size_t at = close + 1;
    if (!rest.empty() && rest[0] == '/') {
      size_t colon = rest.find(':');
      host += rest.substr(0, colon);
      if (colon != std::string::npos) {
        ports = rest.substr(colon + 1);
        ports_at = at + colon + 1;
      }
    } else if (!rest.empty() && rest[0] == ':') {
      ports = rest.substr(1);
      ports_at = at + 1;
    } else if (!rest.empty()) {
      return ParseError{"expected ':port' or '/prefix' after ']'", at};
    }
    if (ports_at && ports.empty()) return ParseError{"empty port after ':'", ports_at};
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    host = text;  // a bare IPv6 CIDR: no port without brackets
  } else {
    size_t colon = text.find(':');
    host = text.substr(0, colon);
    if (colon != std::string::npos) {
      ports = text.substr(colon + 1);
      ports_at = colon + 1;
      if (ports.empty()) return ParseError{"empty port after ':'", ports_at};
    }
  }
  if (!ports.empty()) {
    size_t start = 0;
    while (true) {
      size_t comma = ports.find(',', start);
      std::string one = ports.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (auto err = parse_ports(one, ports_at + start, &e.ports)) return *err;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (e.ports.size() > kMaxRanges)
      return ParseError{"more than " + std::to_string(kMaxRanges) + " port ranges", ports_at};
  }
  size_t slash = host.find('/');
  std::string addr = host.substr(0, slash);
  std::optional<uint32_t> plen;
  if (slash != std::string::npos) {
    std::string len = host.substr(slash + 1);
    uint16_t v;
    if (!parse_u16(len, &v)) return ParseError{"bad prefix length '" + len + "'", host_at + slash + 1};
    plen = v;
  }
  in_addr a4{};
  in6_addr a6{};
  if (!bracketed && inet_pton(AF_INET, addr.c_str(), &a4) == 1) {
    uint32_t n = plen.value_or(32);
    if (n > 32) return ParseError{"IPv4 prefix length " + std::to_string(n) + " is over 32", host_at + slash + 1};
    e.addr = v4_mapped(a4);
    e.prefix = static_cast<uint8_t>(96 + n);
  } else if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) {
    uint32_t n = plen.value_or(128);
    if (n > 128) return ParseError{"IPv6 prefix length " + std::to_string(n) + " is over 128", host_at + slash + 1};
    Address x;
    std::memcpy(x.data(), &a6, 16);
    e.addr = x;
    e.prefix = static_cast<uint8_t>(n);
  } else {
    if (bracketed) return ParseError{"bad IPv6 address '" + addr + "'", host_at};
    if (plen) return ParseError{"bad address '" + addr + "' in a CIDR", host_at};
    bool looks_numeric = !addr.empty() && std::all_of(addr.begin(), addr.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
    });
    if (looks_numeric || !valid_name(addr))
      return ParseError{"'" + addr + "' is neither an IP address, a CIDR nor a DNS name", host_at};
    if (!dns_wire(addr))
      return ParseError{"DNS name longer than " + std::to_string(kMaxWireName - 2) +
                            " characters (the kernel matches answers by at most that much)",
                        host_at};
    e.name = addr;
    return e;
  }
  if (mask(*e.addr, e.prefix) != *e.addr)
    return ParseError{"host bits set after the prefix (did you mean " + to_string(mask(*e.addr, e.prefix)) + "/" +
                          std::to_string(e.prefix >= 96 && e.addr->at(10) == 0xff ? e.prefix - 96 : e.prefix) + "?)",
                      host_at};
  return e;
}

std::optional<uint64_t> parse_bytes(const std::string& text) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(text[i++] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1},          {"B", 1},           {"K", 1000},       {"KB", 1000},         {"M", 1000000},
      {"MB", 1000000},  {"G", 1000000000},  {"GB", 1000000000}, {"T", 1000000000000}, {"TB", 1000000000000},
      {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return std::nullopt;
  if (v > UINT64_MAX / it->second) return std::nullopt;
  return v * it->second;
}

Result<std::vector<LpmEntry>> compile(const std::map<uint32_t, std::vector<Entry>>& entries, const Resolved& names) {
  std::vector<LpmEntry> out;
  for (const auto& [policy, list] : entries) {
    // (prefix, address) -> ports, equal prefixes merged
    std::map<std::pair<uint8_t, Address>, std::vector<PortRange>> prefixes;
    for (const auto& e : list) {
      auto ports = all_ports_if_empty(e.ports);
      if (e.addr) {
        auto& p = prefixes[{e.prefix, *e.addr}];
        p.insert(p.end(), ports.begin(), ports.end());
        continue;
      }
      auto it = names.find(e.name);
      if (it == names.end()) continue;  // not resolved (yet): allows nothing
      for (const auto& a : it->second) {
        auto& p = prefixes[{128, a}];
        p.insert(p.end(), ports.begin(), ports.end());
      }
    }
    for (const auto& [key, ports] : prefixes) {
      std::vector<PortRange> all = ports;
      for (const auto& [outer, outer_ports] : prefixes)
        if (outer.first < key.first && contains(outer.second, outer.first, key.second))
          all.insert(all.end(), outer_ports.begin(), outer_ports.end());
      all = normalize(std::move(all));
      if (all.size() > kMaxRanges)
        return make_error("policy " + std::to_string(policy) + ": " + to_string(key.second) + "/" +
                          std::to_string(key.first) + " needs " + std::to_string(all.size()) +
                          " port ranges with the entries that contain it; at most " + std::to_string(kMaxRanges));
      out.push_back(LpmEntry{policy, key.second, key.first, std::move(all)});
    }
  }
  return out;
}

std::optional<std::string> dns_wire(const std::string& name) {
  std::string n = name;
  if (!n.empty() && n.back() == '.') n.pop_back();
  std::string wire;
  size_t start = 0;
  while (!n.empty()) {
    size_t dot = n.find('.', start);
    std::string label = n.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63) return std::nullopt;
    wire += static_cast<char>(label.size());
    for (char c : label) wire += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  wire += '\0';
  if (wire.size() > kMaxWireName) return std::nullopt;
  return wire;
}

Result<std::vector<NameEntry>> compile_names(const std::map<uint32_t, std::vector<Entry>>& entries) {
  std::vector<NameEntry> out;
  for (const auto& [policy, list] : entries) {
    std::map<std::string, std::vector<PortRange>> names;  // wire -> ports
    for (const auto& e : list) {
      if (e.name.empty()) continue;
      auto wire = dns_wire(e.name);
      if (!wire)
        return make_error("policy " + std::to_string(policy) + ": egress name '" + e.name + "' is longer than the " +
                          std::to_string(kMaxWireName - 2) + " characters the kernel matches answers by");
      auto ports = all_ports_if_empty(e.ports);
      auto& p = names[*wire];
      p.insert(p.end(), ports.begin(), ports.end());
    }
    for (auto& [wire, ports] : names) {
      auto merged = normalize(std::move(ports));
      if (merged.size() > kMaxRanges)
        return make_error("policy " + std::to_string(policy) + ": egress name needs " + std::to_string(merged.size()) +
                          " port ranges; at most " + std::to_string(kMaxRanges));
      out.push_back(NameEntry{policy, wire, std::move(merged)});
    }
  }
  return out;
}

std::vector<Address> resolve_getaddrinfo(const std::string& name) {
  std::vector<Address> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* p = res; p; p = p->ai_next) {
    if (p->ai_family == AF_INET) out.push_back(v4_mapped(reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr));
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

Result<Egress::State> Egress::build(const config::PolicySet& policies) const {
  State st;
  for (const config::Policy* p : policies.in_force()) {
    auto& list = st.entries[p->index];
    for (const auto& text : p->spec.network().egress()) {
      auto r = parse(text);
      if (auto* err = std::get_if<ParseError>(&r))
        return make_error("policy " + p->spec.name() + ": egress '" + text + "': " + err->what);
      list.push_back(std::get<Entry>(r));
    }
    if (!p->spec.network().max_bytes_per_destination().empty())
      if (auto b = parse_bytes(p->spec.network().max_bytes_per_destination())) st.max_bytes[p->index] = *b;
    st.enforce[p->index] = p->spec.mode() == v1::enforce;
  }
  // Flows opened before a reload carry the previous id of their policy.
  for (const auto& [old_id, id] : policies.aliases())
    if (auto it = st.max_bytes.find(id); it != st.max_bytes.end()) st.max_bytes[old_id] = it->second;
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

Status Egress::apply(const config::PolicySet& policies) {
  if (auto st = prepare(policies); !st) return st;
  return switch_to_staged();
}

Status Egress::prepare(const config::PolicySet& policies) {
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
  return kernel_->set_dns_names(names);
}

Status Egress::switch_to_staged() {
  if (!staged_) return make_error("no staged egress policy");
  for (const auto& [policy, enforce] : staged_->enforce)
    if (auto st = kernel_->set_policy_enforce(policy, enforce); !st) return st;
  if (auto st = kernel_->set_egress(staged_->compiled); !st) return st;
  if (auto st = kernel_->set_dns_names(staged_->compiled_names); !st) return st;
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

uint64_t Totals::add(uint64_t job_id, const Address& daddr, uint64_t bytes) {
  return totals_[{job_id, daddr}] += bytes;
}

uint64_t Totals::add_flow(uint64_t job_id, const Address& daddr, uint64_t cookie, uint64_t bytes_so_far,
                          bool closed, uint64_t* delta) {
  auto& c = counted_[cookie];
  c.first = job_id;
  *delta = bytes_so_far > c.second ? bytes_so_far - c.second : 0;
  c.second = std::max(c.second, bytes_so_far);
  if (closed) counted_.erase(cookie);
  return add(job_id, daddr, *delta);
}

void Totals::forget_job(uint64_t job_id) {
  std::erase_if(totals_, [&](const auto& kv) { return kv.first.first == job_id; });
  std::erase_if(counted_, [&](const auto& kv) { return kv.second.first == job_id; });
}

void Names::learn(uint64_t job_id, const Address& addr, const std::string& name, uint32_t ttl_s, uint64_t now_ns) {
  auto& m = jobs_[job_id];
  if (m.size() >= kPerJob && !m.count(addr)) {
    std::erase_if(m, [&](const auto& kv) { return kv.second.expires_ns <= now_ns; });
    if (m.size() >= kPerJob)  // still full: the one that would go first
      m.erase(std::min_element(m.begin(), m.end(), [](const auto& a, const auto& b) {
        return a.second.expires_ns < b.second.expires_ns;
      }));
  }
  m[addr] = Known{name, now_ns + uint64_t{ttl_s} * 1'000'000'000 + kGraceNs};
}

std::string Names::lookup(uint64_t job_id, const Address& addr, uint64_t now_ns) const {
  auto j = jobs_.find(job_id);
  if (j == jobs_.end()) return "";
  auto it = j->second.find(addr);
  return it != j->second.end() && it->second.expires_ns > now_ns ? it->second.name : "";
}

void Names::remember_socket(uint64_t cookie, uint64_t job_id, const std::string& name) {
  if (sockets_.size() >= 65536) sockets_.clear();  // bounded; a lost socket is only less attributed
  sockets_[cookie] = {job_id, name};
}

std::string Names::socket_name(uint64_t cookie) const {
  auto it = sockets_.find(cookie);
  return it == sockets_.end() ? "" : it->second.second;
}

void Names::forget_job(uint64_t job_id) {
  jobs_.erase(job_id);
  std::erase_if(sockets_, [&](const auto& kv) { return kv.second.first == job_id; });
}

}  // namespace fts::egress
