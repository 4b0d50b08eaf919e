#include "sinks/factory.h"

#include <fstream>
#include <sstream>

#include "sinks/remote.h"
#include "sinks/transports.h"

namespace fts::sinks {
namespace {

std::string read_token(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read token_file " + path;
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string t = ss.str();
  while (!t.empty() && isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  size_t start = 0;
  while (start < t.size() && isspace(static_cast<unsigned char>(t[start]))) ++start;
  t = t.substr(start);
  if (t.empty()) *error = "token_file " + path + " is empty";
  return t;
}

RemoteOptions remote_options(const v1::Output& o, const std::string& state_dir, Format f) {
  RemoteOptions r;
  r.name = o.name();
  r.type = o.type();
  r.target = o.type() == "http" ? o.url() : o.address();
  r.spool.dir = state_dir + "/spool/" + o.name();
  r.spool.max_bytes = uint64_t{o.spool_mb() ? o.spool_mb() : 256} << 20;
  if (o.batch_max()) r.batch_records = o.batch_max();
  if (o.retry_min_ms()) r.retry_min = std::chrono::milliseconds(o.retry_min_ms());
  if (o.retry_max_ms()) r.retry_max = std::chrono::milliseconds(o.retry_max_ms());
  if (o.type() == "syslog") {
    // The syslog header always comes from the record; the format picks MSG.
    if (f == Format::kRfc5424) {
      r.render_event = [](const v1::Event& e) { return render(e, Format::kRfc5424); };
      r.render_alert = [](const v1::Alert& a) { return render(a, Format::kRfc5424); };
    } else {
      r.render_event = [f](const v1::Event& e) { return syslog_message(e, render(e, f)); };
      r.render_alert = [f](const v1::Alert& a) { return syslog_message(a, render(a, f)); };
    }
  } else {
    r.render_event = [f](const v1::Event& e) { return render(e, f); };
    r.render_alert = [f](const v1::Alert& a) { return render(a, f); };
  }
  return r;
}

}  // namespace

Result<std::unique_ptr<Sink>> make_sink(const v1::Output& o, const std::string& state_dir) {
  auto fmt = parse_format(o.format().empty() ? "json" : o.format());
  if (!fmt) return make_error("output " + o.name() + ": unknown format " + o.format());
  std::unique_ptr<Sink> inner;
  if (o.type() == "stdout" || o.type() == "file") {
    JsonLinesSink::Options lo;
    lo.format = *fmt;
    lo.name = o.name();
    lo.max_bytes = uint64_t{o.max_size_mb() ? o.max_size_mb() : 100} << 20;
    lo.max_files = o.max_files() ? o.max_files() : 5;
    if (o.type() == "stdout") {
      inner = JsonLinesSink::to_stdout(lo);
    } else {
      auto f = JsonLinesSink::to_file(o.path(), lo);
      if (!f) return make_error(f.error());
      inner = std::move(*f);
    }
  } else if (o.type() == "syslog" || o.type() == "http") {
    bool syslog = o.type() == "syslog";
    auto ep = parse_endpoint(syslog ? o.address() : o.url());
    if (!ep) return make_error("output " + o.name() + ": " + ep.error());
    std::shared_ptr<boost::asio::ssl::context> tls;
    if (ep->scheme == "tls" || ep->scheme == "https") {
      auto ctx = make_tls_context({o.ca_file(), o.cert_file(), o.key_file()});
      if (!ctx) return make_error("output " + o.name() + ": " + ctx.error());
      tls = *ctx;
    }
    std::chrono::milliseconds timeout(o.timeout_ms() ? o.timeout_ms() : 10000);
    TransportFactory tf;
    if (syslog) {
      SyslogOptions so{*ep, tls, o.server_name(), timeout};
      tf = [so](boost::asio::io_context& io) -> Result<std::unique_ptr<Transport>> {
        return make_syslog_transport(io, so);
      };
    } else {
      HttpOptions ho;
      ho.endpoint = *ep;
      ho.tls = tls;
      ho.server_name = o.server_name();
      ho.timeout = timeout;
      if (*fmt == Format::kSplunkHec) {
        std::string err;
        std::string token = read_token(o.token_file(), &err);
        if (!err.empty()) return make_error("output " + o.name() + ": " + err);
        ho.authorization = "Splunk " + token;
        ho.json_array = false;  // HEC takes events one after another
      } else if (!o.token_file().empty()) {
        std::string err;
        std::string token = read_token(o.token_file(), &err);
        if (!err.empty()) return make_error("output " + o.name() + ": " + err);
        ho.authorization = "Bearer " + token;
      }
      tf = [ho](boost::asio::io_context& io) -> Result<std::unique_ptr<Transport>> {
        return make_http_transport(io, ho);
      };
    }
    auto r = RemoteSink::create(remote_options(o, state_dir, *fmt), tf);
    if (!r) return make_error(r.error());
    inner = std::move(*r);
  } else {
    return make_error("unknown output type " + o.type());
  }
  int min = o.min_severity().empty() ? -1 : severity_rank(o.min_severity());
  return std::unique_ptr<Sink>(std::make_unique<FilteredSink>(std::move(inner), o.events() != "alerts", min));
}

Result<std::vector<std::unique_ptr<Sink>>> make_sinks(const v1::DaemonConfig& c) {
  std::vector<std::unique_ptr<Sink>> out;
  for (const auto& o : c.outputs()) {
    auto s = make_sink(o, c.state_dir());
    if (!s) return make_error(s.error());
    out.push_back(std::move(*s));
  }
  return out;
}

}  // namespace fts::sinks
