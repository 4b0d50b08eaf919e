#include "common/time.h"

#include <ctime>
#include <cstdio>

namespace fts {
namespace {

uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

uint64_t now_boot_ns() { return clock_ns(CLOCK_BOOTTIME); }
uint64_t now_wall_ns() { return clock_ns(CLOCK_REALTIME); }

uint64_t boot_to_wall_ns(uint64_t boot_ns) {
  // The offset moves only when someone sets the clock; sampling it per call
  // costs two vDSO reads and follows such steps.
  return now_wall_ns() - now_boot_ns() + boot_ns;
}

std::string rfc3339(uint64_t wall_ns) {
  time_t secs = static_cast<time_t>(wall_ns / 1000000000ull);
  unsigned micros = static_cast<unsigned>((wall_ns % 1000000000ull) / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[80];  // room for any int the format can print
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", t.tm_year + 1900, t.tm_mon + 1,
           t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, micros);
  return buf;
}

}  // namespace fts
