#pragma once
// The daemon's control socket (Boost.Asio, on the daemon's event loop).
// Only root and members of the control group get in; a client that sends
// garbage, an oversized length, stalls mid-message or idles too long is
// dropped alone. Sessions are capped per user and in all (root keeps a
// reserve), and running out of fds slows accept down instead of spinning.
#include <sys/types.h>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it
#include <boost/asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/v1.h"
#include "ftsentinel/v1/control.pb.h"

namespace fts::control {

struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  int pidfd = -1;  // the peer process itself (SO_PEERPIDFD), -1 on kernels without it
};

using Handler = std::function<v1::Response(const v1::Request&, const Peer&)>;
// A handler that answers later (a barrier that waits on work in flight):
// it calls `respond` once, on the server's io_context.
using Respond = std::function<void(v1::Response)>;
using AsyncHandler = std::function<void(const v1::Request&, const Peer&, Respond respond)>;

struct ServerOptions {
  std::string path;
  std::string group;  // "" or unknown: root only
  std::chrono::milliseconds read_timeout{5000};    // the rest of a message, once its first byte came
  std::chrono::milliseconds idle_timeout{30000};   // before a first byte, and between requests
  size_t max_sessions = 128;                       // every peer together
  size_t max_sessions_per_uid = 16;                // one non-root user
  size_t root_reserve = 16;                        // of max_sessions, only root may take these
};

// What the socket did, for status and metrics (read on the server's thread).
struct Stats {
  uint64_t accepted = 0;
  uint64_t live = 0;             // sessions open now
  uint64_t refused_busy = 0;     // over a session cap: answered "busy", closed
  uint64_t refused_peer = 0;     // neither root nor the group
  uint64_t dropped = 0;          // garbage, oversized, stalled mid-message
  uint64_t idle_closed = 0;      // silent past idle_timeout
  uint64_t accept_failures = 0;  // accept(2) failed (EMFILE, ENFILE, ENOMEM…)
};

// accept(2) failed for want of fds or memory: called once per episode (the
// first failure after an accept that worked), with the failures so far.
using OnExhausted = std::function<void(const std::string& why, uint64_t failures)>;

class Server {
 public:
  Server(boost::asio::io_context& io, Handler handler);
  Server(boost::asio::io_context& io, AsyncHandler handler);
  ~Server();
  Status listen(const ServerOptions& opts);
  void stop();
  // Clients turned away or dropped, for whatever reason.
  uint64_t clients_dropped() const { return stats_->dropped + stats_->refused_peer + stats_->refused_busy; }
  const Stats& stats() const { return *stats_; }
  void on_exhausted(OnExhausted f) { on_exhausted_ = std::move(f); }

 private:
  class Session;
  struct Counts;
  void accept();
  void accepted(boost::asio::local::stream_protocol::socket socket);
  void accept_failed(const boost::system::error_code& ec);
  bool allowed(const Peer& p) const;
  std::string over_cap(const Peer& p) const;

  boost::asio::io_context& io_;
  AsyncHandler handler_;
  ServerOptions opts_;
  gid_t group_gid_ = 0;
  bool have_group_ = false;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  // Shared with the sessions, which may outlive the server in the io_context.
  std::shared_ptr<Stats> stats_ = std::make_shared<Stats>();
  std::shared_ptr<Counts> counts_;
  boost::asio::steady_timer backoff_;
  std::chrono::milliseconds backoff_delay_{0};
  OnExhausted on_exhausted_;
};

}  // namespace fts::control
