// The control socket: good clients are answered; a client that sends
// garbage, an oversized length or stalls is dropped alone, and the next good
// client is still served. Non-root peers outside the group are refused.
#include "control/server.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>

#include <chrono>
#include <future>
#include <cstring>
#include <optional>
#include <thread>

#include "control/protocol.h"
#include "support/control_fixture.h"
#include "support/fixtures.h"

namespace fts::control {
namespace {

using namespace std::chrono_literals;
using fts::testing::FakeDaemon;
using fts::testing::TempDir;

v1::Request status_request() {
  v1::Request r;
  r.mutable_status();
  return r;
}

v1::Response answer_status(const v1::Request& req, const Peer&) {
  v1::Response resp;
  if (req.body_case() != v1::Request::kStatus) {
    resp.set_ok(false);
    resp.set_error("only status here");
    return resp;
  }
  resp.set_ok(true);
  resp.mutable_status()->set_version("test-1.2.3");
  resp.mutable_status()->set_pid(4242);
  return resp;
}

// A raw client for the misbehaving cases.
class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  // Bytes until EOF (or reset), or nullopt when the peer neither answers nor
  // closes within `timeout`.
  std::optional<std::string> read_to_eof(std::chrono::milliseconds timeout) {
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return got;
      if (n < 0) return std::nullopt;
      got.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string be32(uint32_t n) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(n >> 24), s[1] = static_cast<char>(n >> 16);
  s[2] = static_cast<char>(n >> 8), s[3] = static_cast<char>(n);
  return s;
}

// The one Response framed in `bytes`, if that is exactly what they hold.
std::optional<v1::Response> parse_frame(const std::string& bytes) {
  if (bytes.size() < 4) return std::nullopt;
  uint32_t n = read_length(reinterpret_cast<const uint8_t*>(bytes.data()));
  if (bytes.size() != 4 + n) return std::nullopt;
  v1::Response r;
  if (!r.ParseFromString(bytes.substr(4))) return std::nullopt;
  return r;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.path = dir_ / "control.sock";
    o.read_timeout = 200ms;
    ASSERT_TRUE(daemon_.start(o, answer_status)) << daemon_.error();
  }

  // A good client is answered with the daemon's status.
  void expect_good_client_served() {
    auto c = Client::connect(daemon_.path());
    ASSERT_TRUE(c.ok()) << c.error();
    v1::Response resp;
    auto st = c->call(status_request(), &resp, 2000);
    ASSERT_TRUE(st.ok()) << st.error();
    EXPECT_TRUE(resp.ok());
    EXPECT_EQ(resp.status().version(), "test-1.2.3");
  }

  TempDir dir_;
  FakeDaemon daemon_;
};

TEST_F(ServerTest, GoodClientGetsAnswerAndItsIdentityIsChecked) {
  expect_good_client_served();
  ASSERT_EQ(daemon_.calls(), 1u);
  Peer p = daemon_.last_peer();
  EXPECT_EQ(p.pid, getpid());
  EXPECT_EQ(p.uid, geteuid());
  EXPECT_EQ(daemon_.dropped(), 0u);
}

TEST_F(ServerTest, SeveralRequestsOnOneConnection) {
  auto c = Client::connect(daemon_.path());
  ASSERT_TRUE(c.ok()) << c.error();
  for (int i = 0; i < 3; ++i) {
    v1::Response resp;
    ASSERT_TRUE(c->call(status_request(), &resp, 2000).ok());
    EXPECT_EQ(resp.status().pid(), 4242u);
  }
  EXPECT_EQ(daemon_.calls(), 3u);
}

TEST_F(ServerTest, HandlerErrorsReachTheClient) {
  auto c = Client::connect(daemon_.path());
  ASSERT_TRUE(c.ok());
  v1::Request req;
  req.mutable_list_jobs();
  v1::Response resp;
  ASSERT_TRUE(c->call(req, &resp, 2000).ok());
  EXPECT_FALSE(resp.ok());
  EXPECT_EQ(resp.error(), "only status here");
}

TEST_F(ServerTest, GarbageBodyIsRefusedThenDropped) {
  RawClient bad(daemon_.path());
  ASSERT_TRUE(bad.connected());
  ASSERT_TRUE(bad.send(be32(5) + "\xff\xff\xff\xff\xff"));  // a varint that never ends
  auto got = bad.read_to_eof(2s);
  ASSERT_TRUE(got.has_value()) << "the server neither answered nor closed";
  auto resp = parse_frame(*got);
  ASSERT_TRUE(resp.has_value()) << "expected one framed error response, got " << got->size() << " bytes";
  EXPECT_FALSE(resp->ok());
  EXPECT_EQ(resp->error(), "unreadable request");
  EXPECT_EQ(daemon_.calls(), 0u) << "garbage must not reach the handler";
  EXPECT_EQ(daemon_.dropped(), 1u);
  expect_good_client_served();
}

TEST_F(ServerTest, RequestWithoutABodyIsRefused) {
  RawClient bad(daemon_.path());
  ASSERT_TRUE(bad.send(be32(0)));  // parses as an empty Request: no body set
  auto got = bad.read_to_eof(2s);
  ASSERT_TRUE(got.has_value());
  auto resp = parse_frame(*got);
  ASSERT_TRUE(resp.has_value());
  EXPECT_FALSE(resp->ok());
  EXPECT_EQ(daemon_.calls(), 0u);
  expect_good_client_served();
}

TEST_F(ServerTest, OversizedLengthIsDropped) {
  RawClient bad(daemon_.path());
  ASSERT_TRUE(bad.send(be32(0xFFFFFFFFu)));
  auto got = bad.read_to_eof(2s);
  ASSERT_TRUE(got.has_value()) << "the server kept a client that claimed 4 GiB";
  auto resp = parse_frame(*got);
  ASSERT_TRUE(resp.has_value());
  EXPECT_FALSE(resp->ok());
  EXPECT_EQ(resp->error(), "message too large");
  EXPECT_EQ(daemon_.dropped(), 1u);
  expect_good_client_served();
}

TEST_F(ServerTest, LengthJustOverTheLimitIsDropped) {
  RawClient bad(daemon_.path());
  ASSERT_TRUE(bad.send(be32(kMaxMessageBytes + 1)));
  auto got = bad.read_to_eof(2s);
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(parse_frame(*got).has_value());
  EXPECT_EQ(parse_frame(*got)->error(), "message too large");
  expect_good_client_served();
}

TEST_F(ServerTest, ClientStalledMidHeaderIsDroppedAfterTheReadTimeout) {
  RawClient bad(daemon_.path());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(bad.send(std::string("\0\0", 2)));
  // While it stalls, others are served.
  expect_good_client_served();
  auto got = bad.read_to_eof(3s);
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(got.has_value()) << "a stalled client was never dropped";
  EXPECT_TRUE(got->empty()) << "a dropped client gets no answer";
  EXPECT_GE(waited, 150ms) << "dropped before the read timeout";
  EXPECT_EQ(daemon_.dropped(), 1u) << "one stalled client is one drop";
  expect_good_client_served();
}

TEST_F(ServerTest, ClientStalledMidBodyIsDropped) {
  RawClient bad(daemon_.path());
  ASSERT_TRUE(bad.send(be32(100) + "xy"));  // promises 100 bytes, sends 2
  auto got = bad.read_to_eof(3s);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(daemon_.calls(), 0u);
  EXPECT_EQ(daemon_.dropped(), 1u);
  expect_good_client_served();
}

TEST_F(ServerTest, IdleClientIsNotDropped) {
  // The timeout is for a message once started; a connected, silent CLI is fine.
  auto c = Client::connect(daemon_.path());
  ASSERT_TRUE(c.ok());
  std::this_thread::sleep_for(400ms);
  v1::Response resp;
  auto st = c->call(status_request(), &resp, 2000);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_TRUE(resp.ok());
  EXPECT_EQ(daemon_.dropped(), 0u);
}

TEST_F(ServerTest, ClientThatHangsUpMidMessageDoesNotHurtOthers) {
  {
    RawClient bad(daemon_.path());
    ASSERT_TRUE(bad.send(be32(50) + "abc"));
  }  // closed here
  expect_good_client_served();
}

TEST_F(ServerTest, BodyArrivesInPiecesAndIsReadWhole) {
  // 300 KiB of argv: read in chunks as it arrives (a length alone reserves
  // nothing), then parsed as one request.
  v1::Request req;
  for (int i = 0; i < 300; ++i) req.mutable_register_job()->add_argv(std::string(1024, 'a' + i % 26));
  std::string bytes = frame(req);
  RawClient c(daemon_.path());
  ASSERT_TRUE(c.send(bytes.substr(0, 100000)));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(c.send(bytes.substr(100000)));
  auto got = c.read_to_eof(300ms);
  EXPECT_FALSE(got.has_value()) << "the session stays open after an answer";
  EXPECT_EQ(daemon_.requests().size(), 1u);
  EXPECT_EQ(daemon_.requests().at(0).register_job().argv_size(), 300);
  EXPECT_EQ(daemon_.dropped(), 0u);
}

class LimitsTest : public ::testing::Test {
 protected:
  void start(ServerOptions o) {
    o.path = dir_ / "control.sock";
    ASSERT_TRUE(daemon_.start(o, answer_status)) << daemon_.error();
  }
  // Waits until the server counts `n` sessions open (accept runs on its thread).
  bool live_is(uint64_t n) {
    for (int i = 0; i < 200; ++i) {
      if (daemon_.stats().live == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  TempDir dir_;
  FakeDaemon daemon_;
};

TEST_F(LimitsTest, SilentClientIsClosedAfterTheIdleTimeout) {
  start({.idle_timeout = 300ms});
  RawClient idle(daemon_.path());
  auto t0 = std::chrono::steady_clock::now();
  auto got = idle.read_to_eof(3s);
  auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(got.has_value()) << "an idle client was kept past the idle timeout";
  EXPECT_EQ(*got, "") << "closed, not answered";
  EXPECT_GE(waited, 250ms) << "closed before the idle timeout";
  auto st = daemon_.stats();
  EXPECT_EQ(st.idle_closed, 1u);
  EXPECT_EQ(st.dropped, 0u) << "idle is not a fault";
  EXPECT_TRUE(live_is(0));
}

TEST_F(LimitsTest, ClientIdleBetweenRequestsIsClosedToo) {
  start({.idle_timeout = 300ms});
  auto c = Client::connect(daemon_.path());
  ASSERT_TRUE(c.ok());
  v1::Response resp;
  ASSERT_TRUE(c->call(status_request(), &resp, 2000).ok());
  EXPECT_TRUE(resp.ok());
  std::this_thread::sleep_for(600ms);
  EXPECT_FALSE(c->call(status_request(), &resp, 2000).ok()) << "the session outlived its idle timeout";
  EXPECT_EQ(daemon_.stats().idle_closed, 1u);
}

TEST_F(LimitsTest, SessionCapRefusesTheNextUntilOneCloses) {
  start({.max_sessions = 3, .root_reserve = 0});
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 3; ++i) held.push_back(std::make_unique<RawClient>(daemon_.path()));
  ASSERT_TRUE(live_is(3));
  auto c = Client::connect(daemon_.path());
  ASSERT_TRUE(c.ok());
  v1::Response resp;
  ASSERT_TRUE(c->call(status_request(), &resp, 2000).ok());
  EXPECT_FALSE(resp.ok());
  EXPECT_NE(resp.error().find("busy"), std::string::npos) << resp.error();
  EXPECT_EQ(daemon_.calls(), 0u) << "a refused session must not reach the handler";
  EXPECT_EQ(daemon_.stats().refused_busy, 1u);
  held.pop_back();
  ASSERT_TRUE(live_is(2));
  auto again = Client::connect(daemon_.path());
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->call(status_request(), &resp, 2000).ok());
  EXPECT_TRUE(resp.ok()) << resp.error();
}

// A handler may answer later (the sync barrier waits for hashes in flight):
// that client waits for its answer while other clients are served.
TEST(ControlServerAsync, LateAnswerReachesItsClientAndOthersAreServedMeanwhile) {
  TempDir d;
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  Respond held;  // touched only on io's thread
  Server server(io, [&](const v1::Request& req, const Peer& peer, Respond respond) {
    if (req.body_case() == v1::Request::kSync) {
      held = std::move(respond);
      return;
    }
    respond(answer_status(req, peer));
  });
  ServerOptions o;
  o.path = d / "control.sock";
  ASSERT_TRUE(server.listen(o).ok());
  std::thread loop([&] { io.run(); });

  auto waiting = Client::connect(o.path);
  ASSERT_TRUE(waiting.ok()) << waiting.error();
  v1::Response late;
  std::promise<Status> sync_done;
  auto sync_future = sync_done.get_future();
  std::thread sync_client([&] {
    v1::Request req;
    req.mutable_sync()->set_timeout_ms(100);
    sync_done.set_value(waiting->call(req, &late, 5000));
  });
  // Not answered yet, and the loop still serves everyone else.
  EXPECT_EQ(sync_future.wait_for(200ms), std::future_status::timeout);
  auto other = Client::connect(o.path);
  ASSERT_TRUE(other.ok());
  v1::Response resp;
  ASSERT_TRUE(other->call(status_request(), &resp, 2000).ok());
  EXPECT_EQ(resp.status().pid(), 4242u);
  EXPECT_EQ(sync_future.wait_for(0ms), std::future_status::timeout);

  boost::asio::post(io, [&] {
    v1::Response r;
    r.set_ok(true);
    r.mutable_sync()->set_records(17);
    held(std::move(r));
  });
  ASSERT_EQ(sync_future.wait_for(5s), std::future_status::ready);
  auto st = sync_future.get();
  EXPECT_TRUE(st.ok()) << st.error();
  EXPECT_TRUE(late.ok());
  EXPECT_EQ(late.sync().records(), 17u);
  sync_client.join();
  io.stop();
  loop.join();
}

TEST(ControlClient, MissingSocketSaysTheDaemonIsNotRunning) {
  TempDir d;
  auto c = Client::connect(d / "nope.sock");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("not running"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find(d / "nope.sock"), std::string::npos) << c.error();
}

TEST(ControlClient, StaleSocketFileSaysTheDaemonIsNotRunning) {
  TempDir d;
  std::string path = d / "stale.sock";
  {
    boost::asio::io_context io;
    boost::asio::local::stream_protocol::acceptor a(io, boost::asio::local::stream_protocol::endpoint(path));
  }  // closed: the file stays, nobody listens
  ASSERT_TRUE(fts::testing::exists(path));
  auto c = Client::connect(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("not running"), std::string::npos) << c.error();
}

TEST(ControlClient, AnswerSentBeforeTheRequestIsStillRead) {
  // A daemon that refuses a peer answers at once and closes without reading:
  // the client's send then fails (EPIPE), but the answer is what to report.
  TempDir d;
  std::string path = d / "refusing.sock";
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(lfd, 1), 0);
  auto c = Client::connect(path);
  ASSERT_TRUE(c.ok()) << c.error();
  int cfd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(cfd, 0);
  v1::Response refusal;
  refusal.set_ok(false);
  refusal.set_error("permission denied: root only");
  std::string out = frame(refusal);
  ASSERT_EQ(write(cfd, out.data(), out.size()), static_cast<ssize_t>(out.size()));
  close(cfd);
  close(lfd);

  v1::Response resp;
  auto st = c->call(status_request(), &resp, 2000);
  ASSERT_TRUE(st.ok()) << st.error();
  EXPECT_FALSE(resp.ok());
  EXPECT_EQ(resp.error(), "permission denied: root only");
}

TEST(ControlClient, PathTooLong) {
  auto c = Client::connect("/tmp/" + std::string(200, 'x'));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("too long"), std::string::npos);
}

TEST(ControlProtocol, FrameIsBigEndianLengthThenBody) {
  v1::Request req;
  req.mutable_register_job()->set_policy("p");
  std::string f = frame(req);
  std::string body = req.SerializeAsString();
  ASSERT_EQ(f.size(), 4 + body.size());
  EXPECT_EQ(read_length(reinterpret_cast<const uint8_t*>(f.data())), body.size());
  EXPECT_EQ(f.substr(4), body);
  const uint8_t h[4] = {0x01, 0x02, 0x03, 0x04};
  EXPECT_EQ(read_length(h), 0x01020304u);
}

TEST(ControlProtocol, SocketPathPrecedence) {
  const char* old = getenv("FTSENTINEL_SOCKET");
  std::string saved = old ? old : "";
  unsetenv("FTSENTINEL_SOCKET");
  EXPECT_EQ(socket_path(""), "/run/ftsentinel/control.sock");
  setenv("FTSENTINEL_SOCKET", "/env.sock", 1);
  EXPECT_EQ(socket_path(""), "/env.sock");
  EXPECT_EQ(socket_path("/flag.sock"), "/flag.sock");
  if (old) setenv("FTSENTINEL_SOCKET", saved.c_str(), 1);
  else unsetenv("FTSENTINEL_SOCKET");
}

// --- who may connect: needs root to become someone else ---

// Runs `ftsentinel --socket PATH status` as uid/gid 65534 and returns
// (exit status, stderr).
std::pair<int, std::string> cli_status_as_nobody(const std::string& path, gid_t gid) {
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) return {-1, "pipe"};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], 2);
    dup2(err[1], 1);
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(65534) != 0) _exit(99);
    execl(FTS_CLI_BIN, FTS_CLI_BIN, "--socket", path.c_str(), "status", static_cast<char*>(nullptr));
    _exit(98);
  }
  close(err[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = read(err[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class PeerCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
    chmod(dir_.path().c_str(), 0755);  // let the other user reach the socket
  }
  TempDir dir_;
};

TEST_F(PeerCheckTest, SocketModeKeepsOtherUsersOut) {
  FakeDaemon d;
  ServerOptions o;
  o.path = dir_ / "control.sock";
  ASSERT_TRUE(d.start(o, answer_status)) << d.error();
  auto [rc, err] = cli_status_as_nobody(o.path, 65534);
  EXPECT_EQ(rc, 1) << err;
  EXPECT_NE(err.find("permission denied"), std::string::npos) << err;
  EXPECT_EQ(d.calls(), 0u);
}

TEST_F(PeerCheckTest, PeerCredentialsAreTheRealGate) {
  // Even with the socket file open to all, the server refuses by SO_PEERCRED.
  FakeDaemon d;
  ServerOptions o;
  o.path = dir_ / "control.sock";
  ASSERT_TRUE(d.start(o, answer_status)) << d.error();
  ASSERT_EQ(chmod(o.path.c_str(), 0666), 0);
  auto [rc, err] = cli_status_as_nobody(o.path, 65534);
  EXPECT_EQ(rc, 1) << err;
  EXPECT_NE(err.find("permission denied: root only"), std::string::npos) << err;
  EXPECT_EQ(d.calls(), 0u) << "a refused peer must not reach the handler";
  EXPECT_EQ(d.dropped(), 1u);
  // Root is still served.
  auto c = Client::connect(o.path);
  ASSERT_TRUE(c.ok());
  v1::Response resp;
  ASSERT_TRUE(c->call(status_request(), &resp, 2000).ok());
  EXPECT_TRUE(resp.ok());
}

TEST_F(PeerCheckTest, MembersOfTheControlGroupAreServed) {
  group* g = getgrgid(65534);
  if (!g) GTEST_SKIP() << "no group 65534 on this host";
  FakeDaemon d;
  ServerOptions o;
  o.path = dir_ / "control.sock";
  o.group = g->gr_name;
  ASSERT_TRUE(d.start(o, answer_status)) << d.error();
  auto [rc, out] = cli_status_as_nobody(o.path, 65534);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("ftsentineld test-1.2.3"), std::string::npos) << out;
  EXPECT_EQ(d.calls(), 1u);
  EXPECT_EQ(d.last_peer().uid, 65534u);
}

// Opens `sessions` connections as uid/gid 65534 and sends status on each,
// keeping them open; returns how many got "busy" (-1: setup failed).
int busy_answers_as_nobody(const std::string& path, gid_t gid, int sessions) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(65534) != 0) _exit(255);
    // A refused session is answered "busy" and closed at once, maybe before
    // our request is sent: the send then fails (EPIPE, not a SIGPIPE death)
    // and the answer already waiting is still read below.
    signal(SIGPIPE, SIG_IGN);
    std::vector<std::unique_ptr<RawClient>> held;
    int busy = 0;
    for (int i = 0; i < sessions; ++i) {
      held.push_back(std::make_unique<RawClient>(path));
      if (!held.back()->connected()) _exit(254);
      held.back()->send(frame(status_request()));
      char buf[4096];
      ssize_t n = -1;
      for (int tries = 0; tries < 200 && n <= 0; ++tries) {
        n = recv(held.back()->fd(), buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) std::this_thread::sleep_for(10ms);
      }
      if (n <= 4) _exit(253);
      v1::Response r;
      if (!r.ParseFromArray(buf + 4, static_cast<int>(n - 4))) _exit(252);
      if (!r.ok() && r.error().find("busy") != std::string::npos) busy++;
    }
    _exit(busy);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) < 250 ? WEXITSTATUS(status) : -1;
}

TEST_F(PeerCheckTest, OneUserGetsItsShareOfSessionsAndRootStillGetsIn) {
  group* g = getgrgid(65534);
  if (!g) GTEST_SKIP() << "no group 65534 on this host";
  FakeDaemon d;
  ServerOptions o;
  o.path = dir_ / "control.sock";
  o.group = g->gr_name;
  o.max_sessions_per_uid = 4;
  ASSERT_TRUE(d.start(o, answer_status)) << d.error();
  EXPECT_EQ(busy_answers_as_nobody(o.path, 65534, 6), 2) << "sessions 5 and 6 of one user are refused";
  EXPECT_EQ(d.stats().refused_busy, 2u);
  EXPECT_EQ(d.calls(), 4u);
  auto c = Client::connect(o.path);
  ASSERT_TRUE(c.ok());
  v1::Response resp;
  ASSERT_TRUE(c->call(status_request(), &resp, 2000).ok());
  EXPECT_TRUE(resp.ok()) << resp.error();
}

}  // namespace
}  // namespace fts::control
