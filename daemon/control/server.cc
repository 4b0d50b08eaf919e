#include <utility>  // boost 1.74 asio needs std::exchange declared first

#include "control/server.h"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <utility>
#include <filesystem>

#include "control/protocol.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace fts::control {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

Peer peer_of(int fd) {
  Peer p;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    p.pid = cred.pid;
    p.uid = cred.uid;
    p.gid = cred.gid;
  } else {
    p.uid = static_cast<uid_t>(-1);
    p.gid = static_cast<gid_t>(-1);
  }
  int pidfd = -1;
  len = sizeof(pidfd);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0) p.pidfd = pidfd;
  return p;
}

bool peer_in_group(int fd, gid_t gid) {
  std::array<gid_t, 256> groups{};
  socklen_t len = sizeof(groups);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) return false;
  for (size_t i = 0; i < len / sizeof(gid_t); ++i)
    if (groups[i] == gid) return true;
  return false;
}

}  // namespace

class Server::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server* server, local::socket socket, Peer peer)
      : server_(server), socket_(std::move(socket)), timer_(socket_.get_executor()), peer_(peer) {}
  ~Session() {
    if (peer_.pidfd >= 0) ::close(peer_.pidfd);
  }

  void start() { read_header(); }

  void refuse(const std::string& why) {
    v1::Response r;
    r.set_ok(false);
    r.set_error(why);
    auto self = shared_from_this();
    out_ = frame(r);
    asio::async_write(socket_, asio::buffer(out_), [self](boost::system::error_code, size_t) { self->close(); });
  }

 private:
  void arm_timer() {
    timer_.expires_after(server_->opts_.read_timeout);
    auto self = shared_from_this();
    timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->drop("stalled mid-message");
    });
  }

  void read_header() {
    auto self = shared_from_this();
    header_read_ = false;
    socket_.async_read_some(asio::buffer(header_.data(), 1), [self](boost::system::error_code ec, size_t n) {
      // The first byte may come any time (an idle client is fine); the rest
      // of the message must follow promptly.
      if (ec || n == 0) return self->close();
      self->arm_timer();
      asio::async_read(self->socket_, asio::buffer(self->header_.data() + 1, 3),
                       [self](boost::system::error_code ec2, size_t) {
                         if (ec2) return self->drop("closed mid-header");
                         self->read_body();
                       });
    });
  }

  void read_body() {
    uint32_t n = read_length(header_.data());
    if (n > kMaxMessageBytes) {
      timer_.cancel();
      server_->dropped_++;
      spdlog::warn("control: client pid {} sent a {}-byte length; dropped", peer_.pid, n);
      return refuse("message too large");
    }
    body_.resize(n);
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(body_), [self](boost::system::error_code ec, size_t) {
      self->timer_.cancel();
      if (ec) return self->drop("closed mid-message");
      self->dispatch();
    });
  }

  void dispatch() {
    v1::Request req;
    if (!req.ParseFromString(body_) || req.body_case() == v1::Request::BODY_NOT_SET) {
      server_->dropped_++;
      spdlog::warn("control: client pid {} sent an unreadable request; dropped", peer_.pid);
      return refuse("unreadable request");
    }
    auto self = shared_from_this();
    // The session lives until its answer is written, however late it comes.
    server_->handler_(req, peer_, [self](v1::Response resp) { self->answer(resp); });
  }

  void answer(const v1::Response& resp) {
    if (!socket_.is_open()) return;  // the client left while the answer was pending
    out_ = frame(resp);
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_), [self](boost::system::error_code ec, size_t) {
      if (ec) return self->close();
      self->read_header();
    });
  }

  void drop(const char* why) {
    // The timer's drop closes the socket, which fails the pending read with
    // operation_aborted: that is the same client, counted once.
    if (!socket_.is_open()) return;
    server_->dropped_++;
    spdlog::warn("control: client pid {} {}; dropped", peer_.pid, why);
    close();
  }

  void close() {
    boost::system::error_code ec;
    timer_.cancel();
    socket_.close(ec);
  }

  Server* server_;
  local::socket socket_;
  asio::steady_timer timer_;
  Peer peer_;
  std::array<uint8_t, 4> header_{};
  bool header_read_ = false;
  std::string body_;
  std::string out_;
};

Server::Server(asio::io_context& io, Handler handler)
    : Server(io, AsyncHandler([h = std::move(handler)](const v1::Request& req, const Peer& peer, Respond respond) {
        respond(h(req, peer));
      })) {}

Server::Server(asio::io_context& io, AsyncHandler handler) : io_(io), handler_(std::move(handler)) {}

Server::~Server() { stop(); }

Status Server::listen(const ServerOptions& opts) {
  opts_ = opts;
  if (!opts.group.empty()) {
    if (group* g = getgrnam(opts.group.c_str())) {
      group_gid_ = g->gr_gid;
      have_group_ = true;
    } else {
      spdlog::warn("control: group '{}' does not exist; the socket is root-only", opts.group);
    }
  }
  std::error_code fec;
  auto dir = std::filesystem::path(opts.path).parent_path();
  if (!dir.empty() && !std::filesystem::exists(dir)) {
    std::filesystem::create_directories(dir, fec);
    chmod(dir.c_str(), 0755);
  }
  ::unlink(opts.path.c_str());
  try {
    acceptor_ = std::make_unique<local::acceptor>(io_, local::endpoint(opts.path));
  } catch (const boost::system::system_error& e) {
    return make_error("control socket " + opts.path + ": " + e.what());
  }
  // root and the group only; the peer check below is the real gate.
  if (chown(opts.path.c_str(), 0, have_group_ ? group_gid_ : 0) != 0 || chmod(opts.path.c_str(), 0660) != 0)
    spdlog::warn("control: cannot set owner/mode of {}", opts.path);
  accept();
  return {};
}

void Server::stop() {
  if (!acceptor_) return;
  boost::system::error_code ec;
  acceptor_->close(ec);
  acceptor_.reset();
  ::unlink(opts_.path.c_str());
}

bool Server::allowed(const Peer& p) const {
  if (p.uid == 0) return true;
  return have_group_ && p.gid == group_gid_;
}

void Server::accept() {
  acceptor_->async_accept([this](boost::system::error_code ec, local::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      spdlog::warn("control: accept failed: {}", ec.message());
    } else {
      Peer peer = peer_of(socket.native_handle());
      bool ok = allowed(peer) || (have_group_ && peer_in_group(socket.native_handle(), group_gid_));
      auto session = std::make_shared<Session>(this, std::move(socket), peer);
      if (ok) {
        session->start();
      } else {
        dropped_++;
        std::string who = have_group_ ? "root or group " + opts_.group + " only" : "root only";
        spdlog::warn("control: refused uid {} (pid {}): {}", peer.uid, peer.pid, who);
        session->refuse("permission denied: " + who);
      }
    }
    if (acceptor_) accept();
  });
}

}  // namespace fts::control
