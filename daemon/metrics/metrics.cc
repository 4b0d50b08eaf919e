#include "metrics/metrics.h"

#include <spdlog/spdlog.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <grp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace fts::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[32];
  snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

constexpr int kMaxSessions = 8;

// Compares without an early exit: the time taken says nothing about the token.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Result<std::string> make_token(const std::string& path, const std::string& group) {
  std::array<unsigned char, 32> raw{};
  if (getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size()))
    return make_error("metrics token: getrandom failed");
  std::string token;
  for (unsigned char b : raw) token += fmt::format("{:02x}", b);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return make_error("metrics token " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, (token + "\n").data(), token.size() + 1) == static_cast<ssize_t>(token.size() + 1);
  if (struct group* g = getgrnam(group.c_str()); ok && g) ok = fchown(fd, 0, g->gr_gid) == 0 && fchmod(fd, 0640) == 0;
  ::close(fd);
  if (!ok) return make_error("metrics token " + path + ": cannot write it");
  return token;
}

}  // namespace

Result<std::string> load_token(const std::string& path, const std::string& group) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) return make_token(path, group);
  if (fd < 0) return make_error("metrics token " + path + ": " + std::strerror(errno));
  struct stat st {};
  std::string text(4096, '\0');
  ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? ::read(fd, text.data(), text.size()) : -1;
  ::close(fd);
  if (n < 0) return make_error("metrics token " + path + ": not a readable regular file");
  if (st.st_mode & S_IROTH) return make_error("metrics token " + path + ": readable by everyone (chmod o-r)");
  text.resize(static_cast<size_t>(n));
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (text.empty()) return make_error("metrics token " + path + ": empty");
  return text;
}

void Exposition::family(const std::string& name, const std::string& type, const std::string& help) {
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void Exposition::sample(const std::string& name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += labels[i].first + "=\"" + label_value(labels[i].second) + "\"";
    }
    out_ += '}';
  }
  out_ += ' ' + number(value) + '\n';
}

// One scrape: read a request (bounded in size and time), answer, close.
class Server::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, Render render, const std::string& token, std::shared_ptr<int> live)
      : stream_(std::move(s)), render_(std::move(render)), token_(token), live_(std::move(live)) {
    ++*live_;
  }
  ~Session() { --*live_; }
  void start() {
    parser_.header_limit(8192);
    parser_.body_limit(0);
    stream_.expires_after(std::chrono::seconds(5));
    http::async_read(stream_, buf_, parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      self->answer();
    });
  }

 private:
  void answer() {
    const auto& req = parser_.get();
    res_.version(req.version());
    res_.keep_alive(false);
    res_.set(http::field::server, "ftsentinel");
    auto auth = req[http::field::authorization];
    if (!same_secret(std::string_view(auth.data(), auth.size()), "Bearer " + token_)) {
      res_.result(http::status::unauthorized);
      res_.set(http::field::www_authenticate, "Bearer realm=\"ftsentinel\"");
      res_.set(http::field::content_type, "text/plain");
      res_.body() = "a bearer token is required (metrics.token_file)\n";
    } else if (req.method() == http::verb::get && (req.target() == "/metrics" || req.target().starts_with("/metrics?"))) {
      res_.result(http::status::ok);
      res_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res_.body() = render_();
    } else {
      res_.result(http::status::not_found);
      res_.set(http::field::content_type, "text/plain");
      res_.body() = "try /metrics\n";
    }
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code, size_t) {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

  beast::tcp_stream stream_;
  Render render_;
  std::string token_;
  std::shared_ptr<int> live_;
  beast::flat_buffer buf_;
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> res_;
};

Server::Server(asio::io_context& io, Render render) : io_(io), render_(std::move(render)) {}

Server::~Server() { stop(); }

Status Server::listen(const std::string& host_port, std::string token) {
  if (token.empty()) return make_error("metrics endpoint " + host_port + ": no token");
  token_ = std::move(token);
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return make_error("metrics.listen: expected HOST:PORT, got '" + host_port + "'");
  std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return make_error("metrics.listen: '" + host + "' is not an IP address");
  unsigned long p = 0;
  try {
    p = std::stoul(port);
  } catch (...) {
  }
  if (p > 65535 || port.empty()) return make_error("metrics.listen: bad port '" + port + "'");
  auto a = std::make_unique<tcp::acceptor>(io_);
  tcp::endpoint ep(addr, static_cast<uint16_t>(p));
  a->open(ep.protocol(), ec);
  if (!ec) a->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a->bind(ep, ec);
  if (!ec) a->listen(16, ec);
  if (ec) return make_error("metrics endpoint " + host_port + ": " + ec.message());
  acceptor_ = std::move(a);
  accept();
  return {};
}

uint16_t Server::port() const {
  boost::system::error_code ec;
  return acceptor_ ? acceptor_->local_endpoint(ec).port() : 0;
}

void Server::accept() {
  acceptor_->async_accept([this](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_) return;
    if (!ec && *live_sessions_ < kMaxSessions)
      std::make_shared<Session>(std::move(s), render_, token_, live_sessions_)->start();
    accept();
  });
}

void Server::stop() {
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
  }
}

}  // namespace fts::metrics
