#pragma once
// Control-socket framing: a 4-byte big-endian length, then that many bytes of
// one protobuf message. Shared by the daemon and the CLI.
#include <cstdint>
#include <string>

#include <google/protobuf/message.h>

#include "common/result.h"

namespace fts::control {

constexpr uint32_t kMaxMessageBytes = 1u << 20;

std::string frame(const google::protobuf::MessageLite& m);
uint32_t read_length(const uint8_t header[4]);

// Blocking client side: connect, send one request, read one response.
class Client {
 public:
  static Result<Client> connect(const std::string& socket_path);
  Client(Client&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ~Client();
  // Waits up to timeout_ms for the answer.
  Status call(const google::protobuf::MessageLite& request, google::protobuf::Message* response,
              int timeout_ms = 10000);

 private:
  explicit Client(int fd) : fd_(fd) {}
  int fd_;
};

// The CLI's socket: --socket, else $FTSENTINEL_SOCKET, else the default.
std::string socket_path(const std::string& flag);

}  // namespace fts::control
