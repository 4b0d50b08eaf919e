#pragma once
// The daemon's periodic duties on its event loop: each a named task with its
// period in ticks of one timer. One timer for all: a stuck loop misses every
// duty (the watchdog ping among them), which is what systemd should see.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace fts {

class Scheduler {
 public:
  struct Task {
    std::string name;
    uint32_t period = 1;  // in ticks; 0 is taken as 1
    std::function<void()> run;
  };

  Scheduler(boost::asio::io_context& io, std::chrono::milliseconds tick) : timer_(io), tick_(tick) {}
  // Tasks run in the order they were added, each on the ticks that are a
  // multiple of its period (the first tick is 1).
  void every(std::string name, uint32_t period, std::function<void()> run);
  void start();
  // Also from inside a task: no tick follows.
  void stop();
  // One tick, now (the timer calls it; tests too). Returns the tasks run.
  std::vector<std::string> run_tick();
  const std::vector<Task>& tasks() const { return tasks_; }
  uint64_t ticks() const { return ticks_; }

 private:
  void arm();

  boost::asio::steady_timer timer_;
  bool stopped_ = true;
  std::chrono::milliseconds tick_;
  std::vector<Task> tasks_;
  uint64_t ticks_ = 0;
};

}  // namespace fts
