#include "egress/compile.h"

#include <algorithm>

namespace fts::egress {
namespace {

using policy::dns_wire;
using policy::kMaxRanges;
using policy::kMaxWireName;
using policy::prefix_of;

bool contains(const Address& net, uint8_t bits, const Address& a) { return prefix_of(a, bits) == net; }

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

Result<std::vector<LpmEntry>> compile(const std::map<uint32_t, std::vector<EgressEntry>>& entries, const Resolved& names) {
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
        return make_error("policy " + std::to_string(policy) + ": " + address_string(key.second) + "/" +
                          std::to_string(key.first) + " needs " + std::to_string(all.size()) +
                          " port ranges with the entries that contain it; at most " + std::to_string(kMaxRanges));
      out.push_back(LpmEntry{policy, key.second, key.first, std::move(all)});
    }
  }
  return out;
}

Result<std::vector<NameEntry>> compile_names(const std::map<uint32_t, std::vector<EgressEntry>>& entries) {
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

}  // namespace fts::egress
