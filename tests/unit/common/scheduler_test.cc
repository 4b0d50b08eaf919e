// The periodic duties: each named task runs on the ticks that are a multiple
// of its period, in the order they were added; the timer drives the ticks.
#include "common/scheduler.h"

#include <gtest/gtest.h>

namespace fts {
namespace {

using namespace std::chrono_literals;

TEST(Scheduler, EachTaskRunsOnItsPeriod) {
  boost::asio::io_context io;
  Scheduler s(io, 1s);
  std::vector<std::string> log;
  s.every("each", 1, [&] { log.push_back("each"); });
  s.every("third", 3, [&] { log.push_back("third"); });
  s.every("zero-means-each", 0, [&] { log.push_back("zero"); });
  EXPECT_EQ(s.run_tick(), (std::vector<std::string>{"each", "zero-means-each"}));
  EXPECT_EQ(s.run_tick(), (std::vector<std::string>{"each", "zero-means-each"}));
  EXPECT_EQ(s.run_tick(), (std::vector<std::string>{"each", "third", "zero-means-each"}));
  EXPECT_EQ(log, (std::vector<std::string>{"each", "zero", "each", "zero", "each", "third", "zero"}));
  ASSERT_EQ(s.tasks().size(), 3u);
  EXPECT_EQ(s.tasks()[2].period, 1u);
}

TEST(Scheduler, TheTimerTicksUntilStopped) {
  boost::asio::io_context io;
  Scheduler s(io, 1ms);
  int runs = 0;
  s.every("count", 2, [&] {
    if (++runs == 3) s.stop();
  });
  s.start();
  io.run_for(5s);  // returns early once stopped: nothing else is pending
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(s.ticks(), 6u);
}

}  // namespace
}  // namespace fts
