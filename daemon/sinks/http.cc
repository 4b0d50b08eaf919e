// HTTPS POST of batches (generic JSON arrays, or Splunk HEC) with Boost.Beast.
#include <openssl/ssl.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "sinks/transports.h"

namespace fts::sinks {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

class HttpTransport : public Transport {
 public:
  HttpTransport(asio::io_context& io, HttpOptions o) : io_(io), opts_(std::move(o)), resolver_(io) {
    if (opts_.server_name.empty()) opts_.server_name = opts_.endpoint.host;
  }
  ~HttpTransport() override { close(); }

  bool connected() const override { return up_; }

  void close() override {
    ++gen_;
    up_ = false;
    resolver_.cancel();
    if (tls_) beast::get_lowest_layer(*tls_).close();
    if (plain_) plain_->close();
  }

  void send(const std::vector<std::string>& batch, Done done) override {
    std::string body;
    if (opts_.json_array) body += '[';
    for (size_t i = 0; i < batch.size(); ++i) {
      if (i) body += opts_.json_array ? "," : "\n";
      body += batch[i];
    }
    if (opts_.json_array) body += ']';
    ex_ = std::make_shared<Exchange>();
    auto& req = ex_->req;
    req.method(http::verb::post);
    req.target(opts_.endpoint.path);
    req.version(11);
    req.set(http::field::host, opts_.endpoint.host + ":" + opts_.endpoint.port);
    req.set(http::field::user_agent, "ftsentinel/" FTS_VERSION);
    req.set(http::field::content_type, opts_.content_type);
    if (!opts_.authorization.empty()) req.set(http::field::authorization, opts_.authorization);
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    done_ = std::move(done);
    reused_ = up_;
    if (up_) return write();
    connect();
  }

 private:
  bool tls() const { return opts_.endpoint.scheme == "https"; }
  beast::tcp_stream& lowest() { return tls() ? beast::get_lowest_layer(*tls_) : *plain_; }

  void finish(SendResult r, bool keep) {
    if (!keep) close();
    auto d = std::move(done_);
    done_ = nullptr;
    if (d) d(std::move(r));
  }
  void retry(const std::string& why) {
    // The server may have closed an idle keep-alive connection: one fresh
    // connection before this counts as a failure.
    if (reused_) {
      reused_ = false;
      return connect();
    }
    finish({Outcome::kRetry, why}, false);
  }

  void connect() {
    close();
    uint64_t g = gen_;
    if (tls()) {
      tls_ = std::make_shared<beast::ssl_stream<beast::tcp_stream>>(io_, *opts_.tls);
      plain_.reset();
    } else {
      plain_ = std::make_shared<beast::tcp_stream>(io_);
      tls_.reset();
    }
    lowest().expires_after(opts_.timeout);
    resolver_.async_resolve(opts_.endpoint.host, opts_.endpoint.port,
                            [this, g](error_code ec, tcp::resolver::results_type r) {
                              if (g != gen_) return;
                              if (ec) return retry("resolve " + opts_.endpoint.host + ": " + ec.message());
                              lowest().async_connect(r, [this, g, keep = std::make_pair(plain_, tls_)](
                                                            error_code ec, const tcp::endpoint&) {
                                if (g != gen_) return;
                                if (ec) return retry("connect: " + ec.message());
                                if (!tls()) return ready();
                                handshake();
                              });
                            });
  }

  void handshake() {
    uint64_t g = gen_;
    error_code ec;
    asio::ip::make_address(opts_.server_name, ec);
    if (ec) SSL_set_tlsext_host_name(tls_->native_handle(), opts_.server_name.c_str());
    tls_->set_verify_mode(ssl::verify_peer);
    tls_->set_verify_callback(ssl::host_name_verification(opts_.server_name));
    lowest().expires_after(opts_.timeout);
    tls_->async_handshake(ssl::stream_base::client, [this, g, keep = tls_](error_code ec) {
      if (g != gen_) return;
      if (ec) return retry("TLS handshake: " + ec.message());
      ready();
    });
  }

  void ready() {
    up_ = true;
    write();
  }

  template <typename Stream>
  void exchange(std::shared_ptr<Stream> s) {
    uint64_t g = gen_;
    auto ex = ex_;
    http::async_write(*s, ex->req, [this, g, s, ex](error_code ec, size_t) {
      if (g != gen_) return;
      if (ec) return retry("write: " + ec.message());
      ex->res.emplace();
      ex->res->body_limit(1 << 20);
      http::async_read(*s, ex->buf, *ex->res, [this, g, s, ex](error_code ec, size_t) {
        if (g != gen_) return;
        if (ec) return retry("response: " + ec.message());
        lowest().expires_never();
        on_response();
      });
    });
  }

  void write() {
    lowest().expires_after(opts_.timeout);
    if (tls()) exchange(tls_);
    else exchange(plain_);
  }

  void on_response() {
    const auto& res = ex_->res->get();
    unsigned code = res.result_int();
    bool keep = res.keep_alive();
    std::string body = res.body().substr(0, 200);
    for (auto& c : body)
      if (c == '\n' || c == '\r') c = ' ';
    std::string why = "HTTP " + std::to_string(code) + (body.empty() ? "" : ": " + body);
    if (code >= 200 && code < 300) return finish({Outcome::kDelivered, {}}, keep);
    // Busy or down (408, 429, 5xx): the same batch may succeed later.
    if (code == 408 || code == 429 || code >= 500) return finish({Outcome::kRetry, why}, false);
    // Other 4xx (bad token, malformed batch): retrying cannot help.
    return finish({Outcome::kRejected, why}, keep);
  }

  asio::io_context& io_;
  HttpOptions opts_;
  tcp::resolver resolver_;
  // One request/response; shared with the handlers in flight, as are the
  // streams, so a closed connection's objects outlive its aborted operations.
  struct Exchange {
    http::request<http::string_body> req;
    std::optional<http::response_parser<http::string_body>> res;
    beast::flat_buffer buf;
  };
  std::shared_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::shared_ptr<beast::tcp_stream> plain_;
  std::shared_ptr<Exchange> ex_;
  Done done_;
  uint64_t gen_ = 0;
  bool up_ = false;
  bool reused_ = false;
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(asio::io_context& io, HttpOptions o) {
  return std::make_unique<HttpTransport>(io, std::move(o));
}

}  // namespace fts::sinks
