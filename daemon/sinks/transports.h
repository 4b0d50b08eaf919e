#pragma once
// The wire protocols of the remote sinks, and the TLS client context they
// share. Each runs on its sink's io_context.
#include <chrono>
#include <memory>
#include <string>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "common/result.h"
#include "sinks/remote.h"

namespace fts::sinks {

struct TlsOptions {
  std::string ca_file;      // "" : the system's trust store
  std::string cert_file;    // optional client certificate
  std::string key_file;
};

// A client context that verifies the server's chain (TLS 1.2 or later).
Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const TlsOptions& o);

struct Endpoint {
  std::string scheme;  // udp | tcp | tls | http | https
  std::string host;
  std::string port;
  std::string path;    // http(s) only
};

// "tls://siem.example:6514", "https://splunk:8088/services/collector".
Result<Endpoint> parse_endpoint(const std::string& s);

struct SyslogOptions {
  Endpoint endpoint;                                  // udp, tcp or tls
  std::shared_ptr<boost::asio::ssl::context> tls;     // tls only
  std::string server_name;                            // to verify; default endpoint.host
  std::chrono::milliseconds timeout{10000};
};

// RFC 5424 messages; TCP and TLS with RFC 6587/5425 octet-counting framing
// ("LEN SP MSG"), UDP one message per datagram (RFC 5426). A batch is
// delivered once it is written to the connection.
std::unique_ptr<Transport> make_syslog_transport(boost::asio::io_context& io, SyslogOptions o);

struct HttpOptions {
  Endpoint endpoint;                                  // http or https
  std::shared_ptr<boost::asio::ssl::context> tls;     // https only
  std::string server_name;
  std::string content_type = "application/json";
  std::string authorization;                          // e.g. "Splunk TOKEN"; never logged
  bool json_array = true;                             // [a,b]; false: one object per line (HEC)
  std::chrono::milliseconds timeout{10000};
};

// POSTs each batch; 2xx delivers it, 408/429/5xx and timeouts retry, other
// 4xx rejects it for good (retrying cannot help).
std::unique_ptr<Transport> make_http_transport(boost::asio::io_context& io, HttpOptions o);

}  // namespace fts::sinks
