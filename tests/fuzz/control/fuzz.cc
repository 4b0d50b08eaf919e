// The control socket's frame reader (control/server.cc), through a real
// socket: whatever bytes a client sends, the server answers exactly as the
// protocol says and then closes, and every answer is a well-formed frame.
// The model: a run of whole frames holding requests gets one ok answer
// each; an oversized length or an unreadable request gets one refusal and
// the end; a frame cut short gets nothing.
#include <google/protobuf/stubs/logging.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "control/protocol.h"
#include "control/server.h"

namespace {

using fts::control::kMaxMessageBytes;
using fts::control::read_length;
namespace v1 = fts::v1;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "control: %s\n", what.c_str());
  std::abort();
}

// A server on its own thread, answering every request ok.
struct World {
  World() {
    spdlog::set_level(spdlog::level::off);
    // Requests with strings that are not UTF-8 do not parse, and protobuf says so each time.
    google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    if (geteuid() != 0) fail("run as root: the socket admits root (or its group) only");
    char tmpl[] = "/tmp/fts-fuzz-control-XXXXXX";
    if (!mkdtemp(tmpl)) fail("mkdtemp");
    path = std::string(tmpl) + "/control.sock";
    server = std::make_unique<fts::control::Server>(io, [](const v1::Request&, const fts::control::Peer&) {
      v1::Response r;
      r.set_ok(true);
      return r;
    });
    fts::control::ServerOptions o;
    o.path = path;
    if (auto st = server->listen(o); !st) fail("listen: " + st.error());
    thread = std::thread([this] {
      auto work = boost::asio::make_work_guard(io);
      io.run();
    });
    thread.detach();
  }
  boost::asio::io_context io;
  std::unique_ptr<fts::control::Server> server;
  std::thread thread;
  std::string path;
};

// What the server must answer to `in`: ok flags, in order.
std::vector<bool> expected(std::string_view in) {
  std::vector<bool> out;
  while (in.size() >= 4) {
    uint32_t n = read_length(reinterpret_cast<const uint8_t*>(in.data()));
    if (n > kMaxMessageBytes) return out.push_back(false), out;
    if (in.size() - 4 < n) return out;
    v1::Request req;
    if (!req.ParseFromString(std::string(in.substr(4, n))) || req.body_case() == v1::Request::BODY_NOT_SET)
      return out.push_back(false), out;
    out.push_back(true);
    in.remove_prefix(4 + n);
  }
  return out;
}

std::string talk(const std::string& path, std::string_view in) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    fail(std::string("connect: ") + std::strerror(errno));
  // The server may refuse and close before reading it all: the rest is moot.
  for (size_t sent = 0; sent < in.size();) {
    ssize_t k = send(fd, in.data() + sent, in.size() - sent, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    sent += static_cast<size_t>(k);
  }
  shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, 30000);
    if (ready < 0 && errno == EINTR) continue;  // libFuzzer's own timer signals (SIGALRM)
    if (ready <= 0) fail("the server neither answered nor closed within 30 s");
    ssize_t k = read(fd, buf, sizeof(buf));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;  // closed (or reset after a refusal: its answer came first)
    out.append(buf, static_cast<size_t>(k));
  }
  close(fd);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World;  // lives as long as the process: the io thread uses it
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string out = talk(world->path, in);
  std::vector<bool> want = expected(in);
  std::vector<bool> got;
  std::string_view rest = out;
  while (!rest.empty()) {
    if (rest.size() < 4) fail("a torn frame header in the answer");
    uint32_t n = read_length(reinterpret_cast<const uint8_t*>(rest.data()));
    if (n > kMaxMessageBytes || rest.size() - 4 < n) fail("an answer frame longer than what came: " + std::to_string(n) + " of " + std::to_string(rest.size()));
    v1::Response r;
    if (!r.ParseFromString(std::string(rest.substr(4, n)))) fail("an answer that does not parse");
    got.push_back(r.ok());
    rest.remove_prefix(4 + n);
  }
  if (got != want)
    fail("answers " + std::to_string(got.size()) + " (last ok " + std::to_string(!got.empty() && got.back()) +
         "), the protocol says " + std::to_string(want.size()) + " (last ok " +
         std::to_string(!want.empty() && want.back()) + ")");
  return 0;
}
