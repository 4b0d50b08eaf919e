#include "common/time.h"

#include <atomic>
#include <cstdio>
#include <ctime>

namespace fts {
namespace {

uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

int64_t sample_offset() { return static_cast<int64_t>(now_wall_ns() - now_boot_ns()); }

// The daemon's one offset (wall - boot). Atomic: the hash and control threads
// read it too.
std::atomic<int64_t>& offset() {
  static std::atomic<int64_t> o{sample_offset()};
  return o;
}

}  // namespace

uint64_t now_boot_ns() { return clock_ns(CLOCK_BOOTTIME); }
uint64_t now_wall_ns() { return clock_ns(CLOCK_REALTIME); }

uint64_t boot_to_wall_ns(uint64_t boot_ns) {
  return static_cast<uint64_t>(offset().load(std::memory_order_relaxed) + static_cast<int64_t>(boot_ns));
}

bool resample_clock_offset(uint64_t step_ns) {
  int64_t now = sample_offset();
  int64_t old = offset().load(std::memory_order_relaxed);
  uint64_t drift = static_cast<uint64_t>(now > old ? now - old : old - now);
  if (drift <= step_ns) return false;  // the two reads' own jitter, or slew: keep the offset
  offset().store(now, std::memory_order_relaxed);
  return true;
}

void append_rfc3339(uint64_t wall_ns, std::string* out) {
  // Events come in bursts within one second: format the date and time once
  // per second per thread, then only the microseconds.
  thread_local time_t cached_secs = -1;
  thread_local char prefix[80];  // room for any int the format can print
  thread_local size_t prefix_len = 0;
  time_t secs = static_cast<time_t>(wall_ns / 1000000000ull);
  unsigned micros = static_cast<unsigned>((wall_ns % 1000000000ull) / 1000);
  if (secs != cached_secs) {
    tm t{};
    gmtime_r(&secs, &t);
    int n = snprintf(prefix, sizeof(prefix), "%04d-%02d-%02dT%02d:%02d:%02d.", t.tm_year + 1900, t.tm_mon + 1,
                     t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
    prefix_len = n > 0 ? static_cast<size_t>(n) : 0;
    cached_secs = secs;
  }
  out->append(prefix, prefix_len);
  char frac[7] = {'0', '0', '0', '0', '0', '0', 'Z'};
  for (int i = 5; i >= 0; --i, micros /= 10) frac[i] = static_cast<char>('0' + micros % 10);
  out->append(frac, 7);
}

std::string rfc3339(uint64_t wall_ns) {
  std::string out;
  append_rfc3339(wall_ns, &out);
  return out;
}

}  // namespace fts
