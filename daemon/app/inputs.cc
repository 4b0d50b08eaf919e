#include "app/inputs.h"

#include <unistd.h>

#include <chrono>

namespace fts::app {

void Inputs::start() {
  ring_ = std::make_unique<Fd>(io_, dup(p_.sensor->ring_fd()));
  wait(ring_.get(), &Inputs::on_ring);
  ring_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  poll_ring();
  fan_ = std::make_unique<Fd>(io_, dup(p_.backstop->fd()));
  wait(fan_.get(), &Inputs::on_fanotify);
  if (p_.device_watch) {
    dev_fd_ = std::make_unique<Fd>(io_, dup(p_.device_watch->fd()));
    wait(dev_fd_.get(), &Inputs::on_fanotify);
  }
  if (p_.hasher) {
    hash_fd_ = std::make_unique<Fd>(io_, dup(p_.hasher->notify_fd()));
    wait(hash_fd_.get(), &Inputs::on_hashes);
  }
}

void Inputs::stop() {
  ring_timer_.reset();
  ring_.reset();
  fan_.reset();
  dev_fd_.reset();
  hash_fd_.reset();
}

void Inputs::wait(Fd* fd, void (Inputs::*on_ready)()) {
  fd->async_wait(Fd::wait_read, [this, fd, on_ready](boost::system::error_code ec) {
    if (ec) return;
    (this->*on_ready)();
    wait(fd, on_ready);
  });
}

void Inputs::on_ring() {
  p_.sensor->consume();
  p_.pipeline.flush();
}

// A drain every FTS_RING_POLL_MS besides the ring's wakeups: the kernel's
// notification is adaptive (bpf/lib/task.h), and a record left without one
// waits at most one period.
void Inputs::poll_ring() {
  ring_timer_->expires_after(std::chrono::milliseconds(sensor::kRingPollMs));
  ring_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (p_.sensor->consume() > 0) p_.pipeline.flush();
    poll_ring();
  });
}

void Inputs::on_fanotify() { read_fanotify(); }

void Inputs::on_hashes() { drain_hashes(); }

uint64_t Inputs::drain_ring() {
  uint64_t total = 0;
  for (int round = 0; round < 1024; ++round) {  // up to 1024 budgets of consume() (1024 records each)
    int n = p_.sensor->consume();
    if (n <= 0) break;
    total += static_cast<uint64_t>(n);
  }
  p_.pipeline.flush();
  return total;
}

// Read the changes, then drain the ring, then judge the changes: every exec
// that came before a change is in the process table by then (a process exec'd
// in place is judged by what it is when it acts), and the richer syscall
// report of a change is the one the merge keeps.
Inputs::Drained Inputs::read_fanotify() {
  std::vector<decode::File> changes;
  std::vector<decode::Device> opens;
  Drained d;
  d.fanotify = p_.backstop->read(*p_.watcher, [&changes](decode::File&& f) { changes.push_back(std::move(f)); });
  if (p_.device_watch)
    d.fanotify += p_.device_watch->read([&opens](decode::Device&& o) { opens.push_back(std::move(o)); });
  d.records = drain_ring();
  for (auto& f : changes) p_.pipeline.push_record(std::move(f));
  for (auto& o : opens) p_.pipeline.push_record(std::move(o));
  p_.pipeline.flush();
  return d;
}

size_t Inputs::drain_hashes() {
  if (!p_.hashes) return 0;
  auto done = p_.hashes->collect();
  if (done.empty()) return 0;
  for (auto& h : done) p_.pipeline.push_record(std::move(h));
  p_.pipeline.flush();
  return done.size();
}

}  // namespace fts::app
