#include "control/protocol.h"
#include "common/utf8.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace fts::control {

std::string frame(const google::protobuf::MessageLite& m) {
  std::string body = m.SerializeAsString();
  uint32_t n = static_cast<uint32_t>(body.size());
  std::string out(4, '\0');
  out[0] = static_cast<char>(n >> 24);
  out[1] = static_cast<char>(n >> 16);
  out[2] = static_cast<char>(n >> 8);
  out[3] = static_cast<char>(n);
  return out + body;
}

uint32_t read_length(const uint8_t h[4]) {
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

std::string socket_path(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("FTSENTINEL_SOCKET"); env && *env) return env;
  return "/run/ftsentinel/control.sock";
}

Result<Client> Client::connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    close(fd);
    return make_error("socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    if (err == ENOENT || err == ECONNREFUSED)
      return make_error("ftsentineld is not running (no daemon at " + path + ")");
    if (err == EACCES) return make_error("permission denied on " + path + " (root or group ftsentinel only)");
    return make_error("cannot reach ftsentineld at " + path + ": " + std::strerror(err));
  }
  return Client(fd);
}

Client::~Client() {
  if (fd_ >= 0) close(fd_);
}

namespace {

bool read_exact(int fd, uint8_t* buf, size_t n, int timeout_ms) {
  size_t got = 0;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, timeout_ms);
    if (r <= 0) return false;
    ssize_t k = read(fd, buf + got, n - got);
    if (k <= 0) {
      if (k < 0 && errno == EINTR) continue;
      return false;
    }
    got += static_cast<size_t>(k);
  }
  return true;
}

}  // namespace

Status Client::call(const google::protobuf::MessageLite& request, google::protobuf::Message* response,
                    int timeout_ms) {
  std::string out = frame(request);
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t k = send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      // The daemon may answer (a refusal) and close before reading the
      // request; its answer is still there to read, and says more than EPIPE.
      if (errno == EPIPE || errno == ECONNRESET) break;
      return make_error(std::string("sending to ftsentineld: ") + std::strerror(errno));
    }
    sent += static_cast<size_t>(k);
  }
  uint8_t h[4];
  if (!read_exact(fd_, h, 4, timeout_ms)) return make_error("ftsentineld closed the connection or did not answer");
  uint32_t n = read_length(h);
  if (n > kMaxMessageBytes) return make_error("ftsentineld sent an oversized answer");
  std::string body(n, '\0');
  if (!read_exact(fd_, reinterpret_cast<uint8_t*>(body.data()), n, timeout_ms))
    return make_error("ftsentineld's answer was cut short");
  if (!parse_any_text(response, body)) return make_error("ftsentineld's answer does not parse");
  return {};
}

}  // namespace fts::control
