#include "common/scheduler.h"

#include <algorithm>

namespace fts {

void Scheduler::every(std::string name, uint32_t period, std::function<void()> run) {
  tasks_.push_back({std::move(name), std::max<uint32_t>(1, period), std::move(run)});
}

void Scheduler::start() {
  stopped_ = false;
  arm();
}

void Scheduler::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Scheduler::arm() {
  timer_.expires_after(tick_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    run_tick();
    if (!stopped_) arm();
  });
}

std::vector<std::string> Scheduler::run_tick() {
  ++ticks_;
  std::vector<std::string> ran;
  for (const Task& t : tasks_) {
    if (ticks_ % t.period != 0) continue;
    t.run();
    ran.push_back(t.name);
  }
  return ran;
}

}  // namespace fts
