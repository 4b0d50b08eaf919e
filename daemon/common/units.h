#pragma once
// Sizes as people write them in configs and policies.
#include <cstdint>
#include <optional>
#include <string>

namespace fts {

// Bytes like "10GiB", "500MB", "1048576". nullopt when malformed or too large.
std::optional<uint64_t> parse_bytes(const std::string& text);

}  // namespace fts
