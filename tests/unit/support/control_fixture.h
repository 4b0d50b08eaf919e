#pragma once
// A fake daemon for control-socket and CLI tests: a real control::Server on
// its own io_context thread, answering with a handler the test gives, and
// remembering what it was asked.
#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/server.h"

namespace fts::testing {

class FakeDaemon {
 public:
  FakeDaemon() = default;
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;
  ~FakeDaemon() { stop(); }

  bool start(const control::ServerOptions& opts, control::Handler handler) {
    path_ = opts.path;
    handler_ = std::move(handler);
    server_ = std::make_unique<control::Server>(io_, [this](const v1::Request& req, const control::Peer& peer) {
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(req);
        last_peer_ = peer;
      }
      calls_++;
      return handler_(req, peer);
    });
    auto st = server_->listen(opts);
    if (!st) {
      error_ = st.error();
      return false;
    }
    thread_ = std::thread([this] { io_.run(); });
    return true;
  }

  void stop() {
    if (thread_.joinable()) {
      io_.stop();
      thread_.join();
    }
    server_.reset();
  }

  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }
  size_t calls() const { return calls_; }
  control::Peer last_peer() {
    std::lock_guard<std::mutex> l(mu_);
    return last_peer_;
  }
  std::vector<v1::Request> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  control::Stats stats() {
    std::promise<control::Stats> p;
    auto f = p.get_future();
    boost::asio::post(io_, [&] { p.set_value(server_->stats()); });
    return f.get();
  }
  // Read on the server's own thread: the counter is not shared otherwise.
  uint64_t dropped() {
    std::promise<uint64_t> p;
    auto f = p.get_future();
    boost::asio::post(io_, [&] { p.set_value(server_->clients_dropped()); });
    return f.get();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{io_.get_executor()};
  std::unique_ptr<control::Server> server_;
  control::Handler handler_;
  std::thread thread_;
  std::string path_, error_;
  std::atomic<size_t> calls_{0};
  std::mutex mu_;
  control::Peer last_peer_;
  std::vector<v1::Request> requests_;
};

}  // namespace fts::testing
