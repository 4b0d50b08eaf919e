// Clocks: RFC 3339 in UTC with microseconds, and boot time mapped to wall time.
#include "common/time.h"

#include <gtest/gtest.h>

namespace fts {
namespace {

TEST(Rfc3339, UtcWithMicroseconds) {
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(rfc3339(1'700'000'000'123'456'789ull), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(rfc3339(951'782'400'000'000'000ull), "2000-02-29T00:00:00.000000Z");  // leap day
}

TEST(BootToWall, NowMapsToNow) {
  uint64_t wall = boot_to_wall_ns(now_boot_ns());
  uint64_t now = now_wall_ns();
  EXPECT_LE(wall, now);
  EXPECT_LT(now - wall, 1'000'000'000ull) << "within a second";
  uint64_t b = now_boot_ns();
  int64_t d = static_cast<int64_t>(boot_to_wall_ns(b + 5'000'000'000ull) - boot_to_wall_ns(b));
  EXPECT_NEAR(d, 5'000'000'000ll, 10'000'000ll) << "a boot-time offset stays an offset";
}

TEST(BootToWall, OneOffsetPerDaemonUntilTheClockSteps) {
  // The same boot time reads the same later: a process's start_time is one
  // string in every record that names it.
  uint64_t b = now_boot_ns() - 3'000'000'000ull;
  uint64_t first = boot_to_wall_ns(b);
  for (int i = 0; i < 1000; ++i) (void)now_wall_ns();
  EXPECT_EQ(boot_to_wall_ns(b), first);
  EXPECT_FALSE(resample_clock_offset()) << "no step: the offset stays";
  EXPECT_EQ(boot_to_wall_ns(b), first);
  // A step too small to tell from the two reads' jitter is none either; with
  // a zero threshold any drift counts, and the new offset still maps now to now.
  (void)resample_clock_offset(0);
  EXPECT_NEAR(static_cast<double>(boot_to_wall_ns(now_boot_ns())), static_cast<double>(now_wall_ns()), 1e6);
}

TEST(Time, Rfc3339IsRightWithinAndAcrossSeconds) {
  // The formatter reuses the date of the last second it saw; each value must
  // still come out whole, in any order.
  EXPECT_EQ(rfc3339(1'700'000'000'000'000'001ull), "2023-11-14T22:13:20.000000Z");
  EXPECT_EQ(rfc3339(1'700'000'000'999'999'999ull), "2023-11-14T22:13:20.999999Z");
  EXPECT_EQ(rfc3339(1'700'000'001'000'007'000ull), "2023-11-14T22:13:21.000007Z");
  EXPECT_EQ(rfc3339(1'700'000'000'500'000'000ull), "2023-11-14T22:13:20.500000Z");
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000000Z");
}

}  // namespace
}  // namespace fts
