#include <utility>  // boost 1.74 asio needs std::exchange declared first

#include "control/server.h"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <unordered_map>
#include <utility>
#include <filesystem>

#include "control/protocol.h"
#include "common/utf8.h"

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

struct Server::Counts {
  size_t total = 0;
  std::unordered_map<uid_t, size_t> per_uid;
};

class Server::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server* server, local::socket socket, Peer peer)
      : server_(server),
        opts_(server->opts_),
        stats_(server->stats_),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        peer_(peer) {}
  ~Session() {
    if (peer_.pidfd >= 0) ::close(peer_.pidfd);
    if (!counts_) return;
    counts_->total--;
    if (--counts_->per_uid[peer_.uid] == 0) counts_->per_uid.erase(peer_.uid);
    stats_->live--;
  }

  // Counted against the caps until it is gone.
  void count(std::shared_ptr<Counts> counts) {
    counts_ = std::move(counts);
    counts_->total++;
    counts_->per_uid[peer_.uid]++;
    stats_->live++;
  }

  void start() { read_header(); }

  void refuse(const std::string& why) {
    v1::Response r;
    r.set_ok(false);
    r.set_error(why);
    auto self = shared_from_this();
    out_ = frame(r);
    arm_timer(opts_.read_timeout, "did not read its refusal");
    asio::async_write(socket_, asio::buffer(out_), [self](boost::system::error_code, size_t) { self->close(); });
  }

 private:
  // `why` null: the peer was idle (closed, not a fault); else why it is dropped.
  void arm_timer(std::chrono::milliseconds after, const char* why) {
    timer_.expires_after(after);
    auto self = shared_from_this();
    timer_.async_wait([self, why](boost::system::error_code ec) {
      if (ec) return;
      if (!why) return self->idle();
      self->drop(why);
    });
  }

  void read_header() {
    auto self = shared_from_this();
    // Silence before a request is bounded too: a session holds fds and a
    // place under the caps.
    arm_timer(opts_.idle_timeout, nullptr);
    socket_.async_read_some(asio::buffer(header_.data(), 1), [self](boost::system::error_code ec, size_t n) {
      if (ec || n == 0) return self->close();
      // The rest of the message must follow promptly.
      self->arm_timer(self->opts_.read_timeout, "stalled mid-message");
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
      stats_->dropped++;
      spdlog::warn("control: client pid {} sent a {}-byte length; dropped", peer_.pid, n);
      return refuse("message too large");
    }
    want_ = n;
    body_.clear();
    read_chunk();
  }

  // The body grows as bytes arrive: a length alone reserves no memory.
  void read_chunk() {
    if (body_.size() == want_) {
      timer_.cancel();
      return dispatch();
    }
    size_t have = body_.size();
    body_.resize(have + std::min<size_t>(want_ - have, kChunk));
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(body_.data() + have, body_.size() - have),
                     [self](boost::system::error_code ec, size_t) {
                       if (ec) return self->drop("closed mid-message");
                       self->read_chunk();
                     });
  }

  void dispatch() {
    v1::Request req;
    if (!parse_any_text(&req, body_) || req.body_case() == v1::Request::BODY_NOT_SET) {
      stats_->dropped++;
      spdlog::warn("control: client pid {} sent an unreadable request; dropped", peer_.pid);
      return refuse("unreadable request");
    }
    body_.clear();
    body_.shrink_to_fit();
    auto self = shared_from_this();
    // The session lives until its answer is written, however late it comes.
    server_->handler_(req, peer_, [self](v1::Response resp) { self->answer(resp); });
  }

  void answer(const v1::Response& resp) {
    if (!socket_.is_open()) return;  // the client left while the answer was pending
    out_ = frame(resp);
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(out_), [self](boost::system::error_code ec, size_t) {
      self->out_.clear();
      if (ec) return self->close();
      self->read_header();
    });
  }

  void idle() {
    if (!socket_.is_open()) return;
    stats_->idle_closed++;
    spdlog::debug("control: client pid {} idle for {} ms; closed", peer_.pid, opts_.idle_timeout.count());
    close();
  }

  void drop(const char* why) {
    // The timer's drop closes the socket, which fails the pending read with
    // operation_aborted: that is the same client, counted once.
    if (!socket_.is_open()) return;
    stats_->dropped++;
    spdlog::warn("control: client pid {} {}; dropped", peer_.pid, why);
    close();
  }

  void close() {
    boost::system::error_code ec;
    timer_.cancel();
    socket_.close(ec);
  }

  static constexpr size_t kChunk = 64 * 1024;
  Server* server_;
  ServerOptions opts_;
  std::shared_ptr<Stats> stats_;
  std::shared_ptr<Counts> counts_;
  local::socket socket_;
  asio::steady_timer timer_;
  Peer peer_;
  std::array<uint8_t, 4> header_{};
  size_t want_ = 0;
  std::string body_;
  std::string out_;
};

Server::Server(asio::io_context& io, Handler handler)
    : Server(io, AsyncHandler([h = std::move(handler)](const v1::Request& req, const Peer& peer, Respond respond) {
        respond(h(req, peer));
      })) {}

Server::Server(asio::io_context& io, AsyncHandler handler)
    : io_(io), handler_(std::move(handler)), counts_(std::make_shared<Counts>()), backoff_(io) {}

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
  backoff_.cancel();
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
    if (ec == asio::error::operation_aborted || !acceptor_) return;
    if (ec) return accept_failed(ec);
    backoff_delay_ = std::chrono::milliseconds(0);
    accepted(std::move(socket));
    accept();
  });
}

// Out of fds (or memory): the pending connection stays in the backlog, so an
// immediate retry fails again at once; wait, doubling up to a second, and
// say so once per episode.
void Server::accept_failed(const boost::system::error_code& ec) {
  stats_->accept_failures++;
  bool first = backoff_delay_.count() == 0;
  backoff_delay_ = std::clamp(backoff_delay_ * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  if (first) {
    spdlog::error("control: accept failed: {}; backing off ({} failures so far)", ec.message(),
                  stats_->accept_failures);
    if (on_exhausted_) on_exhausted_(ec.message(), stats_->accept_failures);
  }
  backoff_.expires_after(backoff_delay_);
  backoff_.async_wait([this](boost::system::error_code tec) {
    if (!tec && acceptor_) accept();
  });
}

void Server::accepted(local::socket socket) {
  stats_->accepted++;
  Peer peer = peer_of(socket.native_handle());
  bool ok = allowed(peer) || (have_group_ && peer_in_group(socket.native_handle(), group_gid_));
  auto session = std::make_shared<Session>(this, std::move(socket), peer);
  if (!ok) {
    stats_->refused_peer++;
    std::string who = have_group_ ? "root or group " + opts_.group + " only" : "root only";
    spdlog::warn("control: refused uid {} (pid {}): {}", peer.uid, peer.pid, who);
    return session->refuse("permission denied: " + who);
  }
  if (std::string why = over_cap(peer); !why.empty()) {
    stats_->refused_busy++;
    spdlog::warn("control: refused uid {} (pid {}): {}", peer.uid, peer.pid, why);
    return session->refuse("busy: " + why + "; try again later");
  }
  session->count(counts_);
  session->start();
}

// Root keeps a reserve, so an operator (and `ftsentinel run`) gets in while a
// group member holds every session it may.
std::string Server::over_cap(const Peer& p) const {
  if (counts_->total >= opts_.max_sessions) return std::to_string(counts_->total) + " sessions open";
  if (p.uid == 0) return "";
  if (counts_->total + opts_.root_reserve >= opts_.max_sessions)
    return "the remaining sessions are kept for root";
  auto it = counts_->per_uid.find(p.uid);
  if (it != counts_->per_uid.end() && it->second >= opts_.max_sessions_per_uid)
    return "uid " + std::to_string(p.uid) + " has " + std::to_string(it->second) + " sessions open";
  return "";
}

}  // namespace fts::control
