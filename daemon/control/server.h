#pragma once
// The daemon's control socket (Boost.Asio, on the daemon's event loop).
// Only root and members of the control group get in; a client that sends
// garbage, an oversized length, or stalls mid-message is dropped alone.
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
  std::chrono::milliseconds read_timeout{5000};
};

class Server {
 public:
  Server(boost::asio::io_context& io, Handler handler);
  Server(boost::asio::io_context& io, AsyncHandler handler);
  ~Server();
  Status listen(const ServerOptions& opts);
  void stop();
  uint64_t clients_dropped() const { return dropped_; }

 private:
  class Session;
  void accept();
  bool allowed(const Peer& p) const;

  boost::asio::io_context& io_;
  AsyncHandler handler_;
  ServerOptions opts_;
  gid_t group_gid_ = 0;
  bool have_group_ = false;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  uint64_t dropped_ = 0;
};

}  // namespace fts::control
