#include "common/units.h"

#include <cctype>
#include <map>

namespace fts {

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

}  // namespace fts
