#pragma once
// Clocks: the kernel stamps records with CLOCK_BOOTTIME; people read RFC 3339.
#include <cstdint>
#include <string>

namespace fts {

// Wall-clock ns for a CLOCK_BOOTTIME ns, using the offset sampled at the call.
uint64_t boot_to_wall_ns(uint64_t boot_ns);
uint64_t now_boot_ns();
uint64_t now_wall_ns();
// "2026-11-27T21:26:22.123456Z"
std::string rfc3339(uint64_t wall_ns);

}  // namespace fts
