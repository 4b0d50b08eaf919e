// Syslog over UDP, TCP and TLS (RFC 5424 messages, RFC 5425/6587 framing).
#include <openssl/ssl.h>

#include <array>

#include "sinks/transports.h"

namespace fts::sinks {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using error_code = boost::system::error_code;

bool is_ip(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// TCP or TLS. One connection at a time; a generation number makes the
// handlers of a closed connection harmless.
class StreamSyslog : public Transport {
 public:
  StreamSyslog(asio::io_context& io, SyslogOptions o)
      : io_(io), opts_(std::move(o)), resolver_(io), timer_(io) {
    if (opts_.server_name.empty()) opts_.server_name = opts_.endpoint.host;
  }
  ~StreamSyslog() override { close(); }

  bool connected() const override { return up_; }

  void close() override {
    ++gen_;
    up_ = false;
    timer_.cancel();
    resolver_.cancel();
    error_code ec;
    if (tls_) tls_->lowest_layer().close(ec);
    if (tcp_) tcp_->close(ec);
  }

  void send(const std::vector<std::string>& batch, Done done) override {
    // Octet counting: "LEN SP MSG" per message, the whole batch in one write.
    out_ = std::make_shared<std::string>();
    for (const auto& m : batch) {
      *out_ += std::to_string(m.size());
      *out_ += ' ';
      *out_ += m;
    }
    done_ = std::move(done);
    if (up_) return write();
    connect();
  }

 private:
  bool tls() const { return opts_.endpoint.scheme == "tls"; }
  tcp::socket& sock() { return tls() ? tls_->next_layer() : *tcp_; }

  void finish(SendResult r) {
    timer_.cancel();
    if (r.outcome != Outcome::kDelivered) close();
    auto d = std::move(done_);
    done_ = nullptr;
    if (d) d(std::move(r));
  }

  // Every step runs under one deadline; when it fires the socket is closed,
  // which completes the pending operation with an error.
  void arm(const char* what) {
    timer_.expires_after(opts_.timeout);
    timer_.async_wait([this, g = gen_, what](error_code ec) {
      if (ec || g != gen_) return;
      finish({Outcome::kRetry, std::string(what) + ": timed out"});
    });
  }

  void connect() {
    close();
    uint64_t g = gen_;
    if (tls()) {
      tls_ = std::make_shared<ssl::stream<tcp::socket>>(io_, *opts_.tls);
      tcp_.reset();
    } else {
      tcp_ = std::make_shared<tcp::socket>(io_);
      tls_.reset();
    }
    arm("connect");
    resolver_.async_resolve(opts_.endpoint.host, opts_.endpoint.port,
                            [this, g](error_code ec, tcp::resolver::results_type r) {
                              if (g != gen_) return;
                              if (ec) return finish({Outcome::kRetry, "resolve " + opts_.endpoint.host + ": " + ec.message()});
                              asio::async_connect(sock(), r, [this, g, keep = std::make_pair(tcp_, tls_)](error_code ec, const tcp::endpoint&) {
                                if (g != gen_) return;
                                if (ec) return finish({Outcome::kRetry, "connect: " + ec.message()});
                                error_code ignored;
                                sock().set_option(tcp::no_delay(true), ignored);
                                sock().set_option(asio::socket_base::keep_alive(true), ignored);
                                if (!tls()) return connected_now();
                                handshake();
                              });
                            });
  }

  void handshake() {
    uint64_t g = gen_;
    if (!is_ip(opts_.server_name)) SSL_set_tlsext_host_name(tls_->native_handle(), opts_.server_name.c_str());
    tls_->set_verify_mode(ssl::verify_peer);
    tls_->set_verify_callback(ssl::host_name_verification(opts_.server_name));
    tls_->async_handshake(ssl::stream_base::client, [this, g, keep = tls_](error_code ec) {
      if (g != gen_) return;
      if (ec) return finish({Outcome::kRetry, "TLS handshake: " + ec.message()});
      connected_now();
    });
  }

  void connected_now() {
    up_ = true;
    watch();
    write();
  }

  // A syslog receiver never talks back, so anything readable is the end of
  // the connection: notice it while idle, before the next batch is written
  // into a socket the peer has already closed (that data would be lost).
  void watch() {
    uint64_t g = gen_;
    auto handler = [this, g, keep = std::make_pair(tcp_, tls_)](error_code ec, size_t) {
      if (g != gen_) return;
      if (!ec) return watch();
      up_ = false;
      if (!done_) close();  // a write in flight reports the failure itself
    };
    auto buf = std::make_shared<std::array<char, 64>>();
    auto h = [handler, buf](error_code ec, size_t n) { handler(ec, n); };
    if (tls()) tls_->async_read_some(asio::buffer(*buf), h);
    else tcp_->async_read_some(asio::buffer(*buf), h);
  }

  void write() {
    uint64_t g = gen_;
    arm("write");
    auto handler = [this, g, keep = std::make_pair(tcp_, tls_), out = out_](error_code ec, size_t) {
      if (g != gen_) return;
      if (ec) return finish({Outcome::kRetry, "write: " + ec.message()});
      if (!up_) return finish({Outcome::kRetry, "connection closed by the receiver"});
      finish({Outcome::kDelivered, {}});
    };
    if (tls()) asio::async_write(*tls_, asio::buffer(*out_), handler);
    else asio::async_write(*tcp_, asio::buffer(*out_), handler);
  }

  asio::io_context& io_;
  SyslogOptions opts_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  // Shared with the handlers in flight, so a closed connection's objects
  // outlive its aborted operations.
  std::shared_ptr<tcp::socket> tcp_;
  std::shared_ptr<ssl::stream<tcp::socket>> tls_;
  std::shared_ptr<std::string> out_;
  Done done_;
  uint64_t gen_ = 0;
  bool up_ = false;
};

// UDP: nothing to connect, nothing acknowledges; a datagram handed to the
// kernel counts as sent (RFC 5426 offers no more).
class UdpSyslog : public Transport {
 public:
  UdpSyslog(asio::io_context& io, SyslogOptions o) : io_(io), opts_(std::move(o)), sock_(io) {}
  bool connected() const override { return sock_.is_open(); }
  void close() override {
    error_code ec;
    sock_.close(ec);
  }
  void send(const std::vector<std::string>& batch, Done done) override {
    if (!sock_.is_open()) {
      udp::resolver r(io_);
      error_code ec;
      auto res = r.resolve(opts_.endpoint.host, opts_.endpoint.port, ec);
      if (ec || res.empty()) return done({Outcome::kRetry, "resolve " + opts_.endpoint.host + ": " + ec.message()});
      peer_ = *res.begin();
      sock_.open(peer_.protocol(), ec);
      if (!ec) sock_.connect(peer_, ec);
      if (ec) {
        close();
        return done({Outcome::kRetry, "udp: " + ec.message()});
      }
    }
    for (const auto& m : batch) {
      error_code ec;
      sock_.send(asio::buffer(m), 0, ec);
      // ECONNREFUSED comes back from an earlier datagram's ICMP: the
      // receiver is down now; keep the batch for later.
      if (ec == asio::error::message_size) continue;  // can never fit: drop this one
      if (ec) {
        close();
        return done({Outcome::kRetry, "udp send: " + ec.message()});
      }
    }
    done({Outcome::kDelivered, {}});
  }

 private:
  asio::io_context& io_;
  SyslogOptions opts_;
  udp::socket sock_;
  udp::endpoint peer_;
};

}  // namespace

std::unique_ptr<Transport> make_syslog_transport(asio::io_context& io, SyslogOptions o) {
  if (o.endpoint.scheme == "udp") return std::make_unique<UdpSyslog>(io, std::move(o));
  return std::make_unique<StreamSyslog>(io, std::move(o));
}

Result<std::shared_ptr<ssl::context>> make_tls_context(const TlsOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (o.ca_file.empty()) ctx->set_default_verify_paths(ec);
  else ctx->load_verify_file(o.ca_file, ec);
  if (ec) return make_error("CA file " + o.ca_file + ": " + ec.message());
  if (!o.cert_file.empty()) {
    ctx->use_certificate_chain_file(o.cert_file, ec);
    if (ec) return make_error("client certificate " + o.cert_file + ": " + ec.message());
    ctx->use_private_key_file(o.key_file.empty() ? o.cert_file : o.key_file, ssl::context::pem, ec);
    if (ec) return make_error("client key " + o.key_file + ": " + ec.message());
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

Result<Endpoint> parse_endpoint(const std::string& s) {
  Endpoint e;
  auto sep = s.find("://");
  if (sep == std::string::npos) return make_error("expected SCHEME://HOST:PORT, got '" + s + "'");
  e.scheme = s.substr(0, sep);
  std::string rest = s.substr(sep + 3);
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  e.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!hostport.empty() && hostport[0] == '[') {  // [::1]:6514
    auto close = hostport.find(']');
    if (close == std::string::npos) return make_error("unclosed '[' in '" + s + "'");
    e.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') e.port = hostport.substr(close + 2);
  } else {
    auto colon = hostport.rfind(':');
    e.host = hostport.substr(0, colon);
    if (colon != std::string::npos) e.port = hostport.substr(colon + 1);
  }
  if (e.host.empty()) return make_error("no host in '" + s + "'");
  if (e.port.empty()) {
    if (e.scheme == "https") e.port = "443";
    else if (e.scheme == "http") e.port = "80";
    else if (e.scheme == "tls") e.port = "6514";
    else e.port = "514";
  }
  for (char c : e.port)
    if (c < '0' || c > '9') return make_error("bad port in '" + s + "'");
  if (e.port.size() > 5 || std::stoul(e.port) == 0 || std::stoul(e.port) > 65535)
    return make_error("bad port in '" + s + "'");
  return e;
}

}  // namespace fts::sinks
