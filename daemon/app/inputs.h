#pragma once
// The daemon's sources on its event loop: the BPF ring buffer, the fanotify
// queues (protected trees, device opens) and finished content hashes. Each is
// drained into the pipeline when its fd is readable, and on demand (sync,
// reload, flow reports); the ring also every FTS_RING_POLL_MS, since the
// kernel wakes us only for a backlog.
#include <cstdint>
#include <memory>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it
#include <boost/asio.hpp>

#include "app/parts.h"

namespace fts::app {

class Inputs {
 public:
  Inputs(boost::asio::io_context& io, Parts& parts) : io_(io), p_(parts) {}
  // Starts waiting on each source's fd.
  void start();
  void stop();
  // Consumes the ring buffer until it is empty (bounded: a producer faster
  // than the pipeline cannot hold the loop); returns the records.
  uint64_t drain_ring();
  struct Drained {
    size_t fanotify = 0;
    uint64_t records = 0;
  };
  // The fanotify queue and the ring buffer, in the order that judges a change
  // by what its writer was when it acted.
  Drained read_fanotify();
  // Finished hashes: file_hash records (and dataset-drift) through the pipeline.
  size_t drain_hashes();

 private:
  using Fd = boost::asio::posix::stream_descriptor;
  void wait(Fd* fd, void (Inputs::*on_ready)());
  void on_ring();
  void poll_ring();
  void on_fanotify();
  void on_hashes();

  boost::asio::io_context& io_;
  Parts& p_;
  std::unique_ptr<Fd> ring_, fan_, dev_fd_, hash_fd_;
  std::unique_ptr<boost::asio::steady_timer> ring_timer_;
};

}  // namespace fts::app
