#pragma once
// Prometheus metrics: the text exposition format, and a small HTTP endpoint
// (GET /metrics) on the daemon's event loop. Loopback by default, and only
// with the bearer token: the numbers say which jobs run and when their
// probes raise alerts, which a job must not learn.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio.hpp>

#include "common/result.h"

namespace fts::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Builds one scrape: a family header, then its samples.
class Exposition {
 public:
  void family(const std::string& name, const std::string& type, const std::string& help);
  void sample(const std::string& name, const Labels& labels, double value);
  void sample(const std::string& name, double value) { sample(name, {}, value); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// The scrape token: read from `path`, or made there (random, 0640, owner
// root, group `group` when it exists) when missing. A file anyone may read,
// or an empty one, is an error.
Result<std::string> load_token(const std::string& path, const std::string& group);

class Server {
 public:
  using Render = std::function<std::string()>;
  Server(boost::asio::io_context& io, Render render);
  ~Server();
  // "127.0.0.1:9477", "[::1]:9477"; a scrape must carry "Authorization:
  // Bearer TOKEN" (401 otherwise).
  Status listen(const std::string& host_port, std::string token);
  void stop();
  uint16_t port() const;

 private:
  class Session;
  void accept();

  boost::asio::io_context& io_;
  Render render_;
  std::string token_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::shared_ptr<int> live_sessions_ = std::make_shared<int>(0);
};

}  // namespace fts::metrics
