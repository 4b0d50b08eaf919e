#pragma once
// Clocks: the kernel stamps records with CLOCK_BOOTTIME; people read RFC 3339.
//
// One boot-to-wall offset per daemon: sampled at the first use and re-sampled
// only when the wall clock steps (settimeofday, an NTP step), so one process's
// start time reads the same in every event and alert, and a record costs no
// clock reads.
#include <cstdint>
#include <string>

namespace fts {

// Wall-clock ns for a CLOCK_BOOTTIME ns, with the daemon's offset.
uint64_t boot_to_wall_ns(uint64_t boot_ns);
// Compares the offset with the clocks now; when they drifted apart by more
// than `step_ns` (the wall clock was set), takes the new offset and returns
// true. Cheap (two vDSO reads): the renderer calls it at most once per millisecond of
// records.
bool resample_clock_offset(uint64_t step_ns = 10'000'000);
uint64_t now_boot_ns();
uint64_t now_wall_ns();
// "2026-11-27T21:26:22.123456Z"
std::string rfc3339(uint64_t wall_ns);
// The same, appended to `out` (no allocation when `out` has room).
void append_rfc3339(uint64_t wall_ns, std::string* out);

}  // namespace fts
