#include "policy/egress_entry.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace fts::policy {
namespace {

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
std::optional<EgressError> parse_ports(const std::string& s, size_t at, std::vector<PortRange>* out) {
  size_t dash = s.find('-');
  PortRange r;
  if (dash == std::string::npos) {
    if (!parse_u16(s, &r.lo) || r.lo == 0) return EgressError{"bad port '" + s + "' (expected 1-65535)", at};
    r.hi = r.lo;
  } else {
    if (!parse_u16(s.substr(0, dash), &r.lo) || r.lo == 0)
      return EgressError{"bad port '" + s.substr(0, dash) + "' (expected 1-65535)", at};
    if (!parse_u16(s.substr(dash + 1), &r.hi) || r.hi == 0)
      return EgressError{"bad port '" + s.substr(dash + 1) + "' (expected 1-65535)", at + dash + 1};
    if (r.lo > r.hi) return EgressError{"empty port range '" + s + "' (low > high)", at};
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

}  // namespace

// Keeps only the first `bits` bits of an address.
Address prefix_of(Address a, uint8_t bits) {
  for (size_t i = 0; i < 16; ++i) {
    int keep = std::clamp(static_cast<int>(bits) - static_cast<int>(i) * 8, 0, 8);
    a[i] &= static_cast<uint8_t>(keep == 8 ? 0xff : (0xff << (8 - keep)) & 0xff);
  }
  return a;
}

namespace {

// An entry cut in two: the host (address, CIDR or name) and its port list.
struct Parts {
  std::string host;
  size_t host_at = 0;
  bool bracketed = false;  // "[v6]...": the host can only be an IPv6 address
  std::string ports;
  size_t ports_at = 0;  // 0: no port list
};

std::optional<EgressError> split_bracketed(const std::string& text, Parts* p) {
  size_t close = text.find(']');
  if (close == std::string::npos) return EgressError{"'[' without ']'", 0};
  p->bracketed = true;
  p->host = text.substr(1, close - 1);
  p->host_at = 1;
  std::string rest = text.substr(close + 1);
  size_t at = close + 1;
  if (!rest.empty() && rest[0] == '/') {
    size_t colon = rest.find(':');
    p->host += rest.substr(0, colon);
    if (colon != std::string::npos) {
      p->ports = rest.substr(colon + 1);
      p->ports_at = at + colon + 1;
    }
  } else if (!rest.empty() && rest[0] == ':') {
    p->ports = rest.substr(1);
    p->ports_at = at + 1;
  } else if (!rest.empty()) {
    return EgressError{"expected ':port' or '/prefix' after ']'", at};
  }
  return std::nullopt;
}

std::variant<Parts, EgressError> split(const std::string& text) {
  Parts p;
  if (text[0] == '[') {
    if (auto err = split_bracketed(text, &p)) return *err;
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    p.host = text;  // a bare IPv6 CIDR: no port without brackets
  } else {
    size_t colon = text.find(':');
    p.host = text.substr(0, colon);
    if (colon != std::string::npos) {
      p.ports = text.substr(colon + 1);
      p.ports_at = colon + 1;
    }
  }
  if (p.ports_at && p.ports.empty()) return EgressError{"empty port after ':'", p.ports_at};
  return p;
}

// "443,8000-8100"
std::optional<EgressError> parse_port_list(const Parts& p, std::vector<PortRange>* out) {
  if (p.ports.empty()) return std::nullopt;
  size_t start = 0;
  while (true) {
    size_t comma = p.ports.find(',', start);
    std::string one = p.ports.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (auto err = parse_ports(one, p.ports_at + start, out)) return err;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out->size() > kMaxRanges) return EgressError{"more than " + std::to_string(kMaxRanges) + " port ranges", p.ports_at};
  return std::nullopt;
}

// Not an address: a DNS name the kernel can match answers by.
std::optional<EgressError> parse_name(const std::string& addr, const Parts& p, bool has_prefix, EgressEntry* e) {
  if (p.bracketed) return EgressError{"bad IPv6 address '" + addr + "'", p.host_at};
  if (has_prefix) return EgressError{"bad address '" + addr + "' in a CIDR", p.host_at};
  bool looks_numeric = !addr.empty() && std::all_of(addr.begin(), addr.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
  });
  if (looks_numeric || !valid_name(addr))
    return EgressError{"'" + addr + "' is neither an IP address, a CIDR nor a DNS name", p.host_at};
  if (!dns_wire(addr))
    return EgressError{"DNS name longer than " + std::to_string(kMaxWireName - 2) +
                           " characters (the kernel matches answers by at most that much)",
                       p.host_at};
  e->name = addr;
  return std::nullopt;
}

// "10.0.0.0/8", "::1", or a name.
std::optional<EgressError> parse_host(const Parts& p, EgressEntry* e) {
  size_t slash = p.host.find('/');
  std::string addr = p.host.substr(0, slash);
  std::optional<uint32_t> plen;
  if (slash != std::string::npos) {
    std::string len = p.host.substr(slash + 1);
    uint16_t v;
    if (!parse_u16(len, &v)) return EgressError{"bad prefix length '" + len + "'", p.host_at + slash + 1};
    plen = v;
  }
  in_addr a4{};
  in6_addr a6{};
  if (!p.bracketed && inet_pton(AF_INET, addr.c_str(), &a4) == 1) {
    uint32_t n = plen.value_or(32);
    if (n > 32) return EgressError{"IPv4 prefix length " + std::to_string(n) + " is over 32", p.host_at + slash + 1};
    e->addr = address_from_v4(a4);
    e->prefix = static_cast<uint8_t>(96 + n);
  } else if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) {
    uint32_t n = plen.value_or(128);
    if (n > 128) return EgressError{"IPv6 prefix length " + std::to_string(n) + " is over 128", p.host_at + slash + 1};
    Address x;
    std::memcpy(x.data(), &a6, 16);
    e->addr = x;
    e->prefix = static_cast<uint8_t>(n);
  } else {
    return parse_name(addr, p, plen.has_value(), e);
  }
  if (prefix_of(*e->addr, e->prefix) != *e->addr)
    return EgressError{"host bits set after the prefix (did you mean " + address_string(prefix_of(*e->addr, e->prefix)) +
                           "/" + std::to_string(e->prefix >= 96 && e->addr->at(10) == 0xff ? e->prefix - 96 : e->prefix) +
                           "?)",
                       p.host_at};
  return std::nullopt;
}

}  // namespace

std::variant<EgressEntry, EgressError> parse_egress(const std::string& text) {
  if (text.empty()) return EgressError{"empty egress entry", 0};
  auto parts = split(text);
  if (auto* err = std::get_if<EgressError>(&parts)) return *err;
  const Parts& p = std::get<Parts>(parts);
  EgressEntry e;
  e.text = text;
  if (auto err = parse_port_list(p, &e.ports)) return *err;
  if (auto err = parse_host(p, &e)) return *err;
  return e;
}

std::variant<ResolverAddr, EgressError> parse_resolver(const std::string& text) {
  auto r = parse_egress(text);
  if (auto* err = std::get_if<EgressError>(&r)) return *err;
  const EgressEntry& e = std::get<EgressEntry>(r);
  if (!e.addr) return EgressError{"a resolver is an address, not a name (its answers are what names resolve by)", 0};
  if (e.prefix != 128) return EgressError{"a resolver is one address, not a network", 0};
  if (e.ports.size() > 1 || (e.ports.size() == 1 && e.ports[0].lo != e.ports[0].hi))
    return EgressError{"a resolver has one port", 0};
  ResolverAddr out;
  out.addr = *e.addr;
  if (!e.ports.empty()) out.port = e.ports[0].lo;
  if (out.port == 0) return EgressError{"port 0 is no resolver's", 0};
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

}  // namespace fts::policy
