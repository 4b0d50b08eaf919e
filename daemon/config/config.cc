#include "config/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>


namespace fts::config {
namespace {

namespace fs = std::filesystem;

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

// Outputs (sinks): a remote output ships alerts only unless told otherwise;
// its name keys its spool directory and its metrics.
void fill_output_defaults(v1::DaemonConfig* c) {
  for (int i = 0; i < c->outputs_size(); ++i) {
    auto& o = *c->mutable_outputs(i);
    bool remote = o.type() == "syslog" || o.type() == "http";
    if (o.format().empty()) o.set_format("json");
    if (o.events().empty()) o.set_events(remote ? "alerts" : "all");
    if (o.name().empty()) o.set_name(o.type() + "-" + std::to_string(i));
  }
  if (c->metrics().listen().empty()) c->mutable_metrics()->set_listen("127.0.0.1:9477");
}

bool loopback_host(const std::string& url) {
  auto start = url.find("://");
  std::string rest = start == std::string::npos ? url : url.substr(start + 3);
  return rest.rfind("127.", 0) == 0 || rest.rfind("localhost", 0) == 0 || rest.rfind("[::1]", 0) == 0;
}

bool port_ok(const std::string& p, bool zero_ok) {
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned long n = std::stoul(p);
  return n <= 65535 && (zero_ok || n > 0);
}

bool ip_ok(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    in6_addr a6;
    return inet_pton(AF_INET6, host.c_str(), &a6) == 1;
  }
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1;
}

// HOST:PORT; a bracketed IPv6 address; with ip_only, HOST must be an address
// (what a listener binds), else also a DNS name.
bool host_port_ok(const std::string& hp, bool ip_only) {
  auto colon = hp.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
  if (!port_ok(port, ip_only)) return false;
  if (ip_ok(host)) return true;
  if (ip_only || host.front() == '[') return false;
  for (char ch : host)
    if (!isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '.') return false;
  return true;
}

bool url_ok(const std::string& u) {
  auto start = u.find("://");
  std::string rest = u.substr(start + 3);
  std::string authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) return false;
  bool has_port = authority.back() != ']' && authority.rfind(':') != std::string::npos;
  return has_port ? host_port_ok(authority, false) : host_port_ok(authority + ":443", false);
}

void check_outputs(const YAML::Node& root, const std::string& file, const v1::DaemonConfig& c,
                   std::vector<Diagnostic>* errors) {
  static const std::set<std::string> kSeverities = {"info", "low", "medium", "high", "critical"};
  std::set<std::string> names;
  auto err = [&](const std::string& at, const std::string& what) { errors->push_back(diag_at(root, file, at, what)); };
  for (int i = 0; i < c.outputs_size(); ++i) {
    const auto& o = c.outputs(i);
    std::string at = "outputs[" + std::to_string(i) + "]";
    const std::string& t = o.type();
    std::set<std::string> formats;
    if (t == "stdout" || t == "file") formats = {"json", "ocsf", "rfc5424"};
    else if (t == "syslog") formats = {"json", "ocsf", "rfc5424"};
    else if (t == "http") formats = {"json", "ocsf", "splunk_hec"};
    else err(at + ".type", "unknown output type '" + t + "' (expected stdout, file, syslog or http)");
    if (t == "file" && o.path().empty()) err(at, "a file output needs a path");
    if (!formats.empty() && !formats.count(o.format())) {
      std::string list;
      for (const auto& f : formats) list += (list.empty() ? "" : ", ") + f;
      err(at + ".format", "unknown format '" + o.format() + "' for a " + t + " output (expected " + list + ")");
    }
    if (o.events() != "all" && o.events() != "alerts") err(at + ".events", "expected all or alerts");
    if (!o.min_severity().empty() && !kSeverities.count(o.min_severity()))
      err(at + ".min_severity", "expected info, low, medium, high or critical");
    bool name_ok = !o.name().empty() && o.name() != "." && o.name() != "..";
    for (char ch : o.name())
      if (!isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') name_ok = false;
    if (!name_ok) err(at + ".name", "a name is letters, digits, '-', '_' and '.' (it names the spool directory)");
    else if (!names.insert(o.name()).second) err(at + ".name", "duplicate output name '" + o.name() + "'");
    if (t == "syslog") {
      const std::string& a = o.address();
      if (a.rfind("udp://", 0) != 0 && a.rfind("tcp://", 0) != 0 && a.rfind("tls://", 0) != 0)
        err(at + (a.empty() ? "" : ".address"), "a syslog output needs an address udp://, tcp:// or tls://HOST:PORT");
      else if (!host_port_ok(a.substr(6), false))
        err(at + ".address", "expected " + a.substr(0, 6) + "HOST:PORT with a port 1-65535, got '" + a + "'");
    }
    if (t == "http") {
      const std::string& u = o.url();
      if (u.rfind("https://", 0) != 0 && !(u.rfind("http://", 0) == 0 && loopback_host(u)))
        err(at + (u.empty() ? "" : ".url"), "an http output needs an https:// url (plain http:// only to loopback)");
      else if (!url_ok(u))
        err(at + ".url", "expected SCHEME://HOST[:PORT][/PATH] with a port 1-65535, got '" + u + "'");
      if (o.format() == "splunk_hec" && o.token_file().empty()) err(at, "a splunk_hec output needs a token_file");
    }
    if (!o.key_file().empty() && o.cert_file().empty())
      err(at + ".key_file", "a client key needs its cert_file");
    for (const auto& [key, path] : {std::pair{"ca_file", o.ca_file()}, {"cert_file", o.cert_file()},
                                    {"key_file", o.key_file()}, {"token_file", o.token_file()}}) {
      if (path.empty()) continue;
      std::string full = resolve(fs::path(file).parent_path().string(), path);
      if (access(full.c_str(), R_OK) != 0) err(at + "." + key, "cannot read " + full);
    }
    if (o.retry_min_ms() && o.retry_max_ms() && o.retry_min_ms() > o.retry_max_ms())
      err(at + ".retry_min_ms", "is larger than retry_max_ms");
  }
  const std::string& m = c.metrics().listen();
  if (m != "off" && !host_port_ok(m, /*ip_only=*/true))
    err("metrics.listen", "expected IP:PORT ('127.0.0.1:9477', '[::1]:9477', port 0-65535) or off, got '" + m + "'");
}

v1::DeviceClass make_class(const char* cls, std::vector<const char*> names, std::vector<const char*> misc,
                           uint32_t minor_min = 0) {
  v1::DeviceClass c;
  c.set_class_(cls);
  for (const char* n : names) c.add_proc_devices(n);
  for (const char* n : misc) c.add_misc(n);
  c.set_minor_min(minor_min);
  return c;
}

// The devices of devices.classes when the config names none: the names
// these drivers register in /proc/devices and /proc/misc.
std::vector<v1::DeviceClass> default_device_classes() {
  return {
      // NVIDIA: nvidia/nvidiactl (195; "nvidia-frontend" before 470), UVM,
      // capabilities (MIG, IMEX channels), NVLink and NVSwitch management.
      make_class("gpu",
                 {"nvidia", "nvidiactl", "nvidia-frontend", "nvidia-uvm", "nvidia-caps", "nvidia-caps-imex-channels",
                  "nvidia-nvlink", "nvidia-nvswitch", "kfd"},
                 {}),
      // DRM render nodes (renderD128…): compute without a display; the
      // card/control minors below 128 are display devices.
      make_class("gpu", {"drm"}, {}, 128),
      // InfiniBand/RoCE verbs (/dev/infiniband/uverbs*) and the RDMA
      // connection manager (/dev/infiniband/rdma_cm, a misc device).
      make_class("rdma", {"infiniband_verbs"}, {"rdma_cm"}),
  };
}

std::string check_device_class(const v1::DeviceClass& c) {
  if (c.class_() != "gpu" && c.class_() != "rdma") return "class must be gpu or rdma, got '" + c.class_() + "'";
  if (c.proc_devices_size() == 0 && c.misc_size() == 0) return "names no device (proc_devices or misc)";
  if (c.minor_max() && c.minor_max() < c.minor_min()) return "minor_max is below minor_min";
  return {};
}

void fill_defaults(v1::DaemonConfig* c) {
  if (c->state_dir().empty()) c->set_state_dir("/var/lib/ftsentinel");
  if (c->policies_dir().empty()) c->set_policies_dir("/etc/ftsentinel/policies.d");
  auto* ctl = c->mutable_control();
  if (ctl->socket().empty()) ctl->set_socket("/run/ftsentinel/control.sock");
  if (ctl->group().empty()) ctl->set_group("ftsentinel");
  if (ctl->idle_timeout_seconds() == 0) ctl->set_idle_timeout_seconds(30);
  if (ctl->max_sessions() == 0) ctl->set_max_sessions(128);
  if (ctl->max_sessions_per_uid() == 0) ctl->set_max_sessions_per_uid(16);
  auto* s = c->mutable_sensor();
  if (s->ringbuf_mb() == 0) s->set_ringbuf_mb(16);
  if (s->tasks_max() == 0) s->set_tasks_max(65536);
  if (s->flows_max() == 0) s->set_flows_max(65536);
  if (s->flow_report_seconds() == 0) s->set_flow_report_seconds(60);
  if (s->pin_dir().empty()) s->set_pin_dir("/sys/fs/bpf/ftsentinel");
  if (s->proc_root().empty()) s->set_proc_root("/proc");
  if (c->outputs_size() == 0) c->add_outputs()->set_type("stdout");
  fill_output_defaults(c);
  if (c->log().level().empty()) c->mutable_log()->set_level("info");
  // The journal: 0 keeps the default, like the outputs' numbers.
  auto* j = c->mutable_journal();
  if (j->path().empty()) j->set_path("journal.db");
  if (j->key_file().empty()) j->set_key_file("journal.key");
  if (c->metrics().token_file().empty()) c->mutable_metrics()->set_token_file("metrics.token");
  if (j->retention_days() == 0) j->set_retention_days(30);
  if (j->max_size_mb() == 0) j->set_max_size_mb(4096);
  if (j->seal_interval_seconds() == 0) j->set_seal_interval_seconds(10);
  if (j->queue() == 0) j->set_queue(262144);
  auto* dv = c->mutable_devices();
  if (dv->dev_dir().empty()) dv->set_dev_dir("/dev");
  if (dv->classes_size() == 0)
    for (auto& cls : default_device_classes()) *dv->add_classes() = std::move(cls);
}

void check_daemon(const YAML::Node& root, const std::string& file, const v1::DaemonConfig& c,
                  std::vector<Diagnostic>* errors) {
  uint32_t mb = c.sensor().ringbuf_mb();
  if (mb & (mb - 1))
    errors->push_back(diag_at(root, file, "sensor.ringbuf_mb", "must be a power of two"));
  else if (mb > 1024)
    errors->push_back(diag_at(root, file, "sensor.ringbuf_mb", "at most 1024 (MiB per ring buffer)"));
  // A hash map of 24-byte entries: 4M is ~200 MiB of kernel memory, past any node's process count.
  if (c.sensor().tasks_max() < 16 || c.sensor().tasks_max() > (1u << 22))
    errors->push_back(diag_at(root, file, "sensor.tasks_max", "between 16 and 4194304 (processes of jobs tracked at once)"));
  if (c.sensor().flows_max() < 16 || c.sensor().flows_max() > (1u << 22))
    errors->push_back(diag_at(root, file, "sensor.flows_max", "between 16 and 4194304 (open job sockets counted at once)"));
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!kLevels.count(c.log().level()))
    errors->push_back(diag_at(root, file, "log.level",
                              "expected trace, debug, info, warn, error, critical or off, got '" + c.log().level() + "'"));
  if (c.control().group().find_first_of(" :/") != std::string::npos)
    errors->push_back(diag_at(root, file, "control.group", "a group name, got '" + c.control().group() + "'"));
  if (c.control().max_sessions() <= 16)
    errors->push_back(diag_at(root, file, "control.max_sessions", "more than 16 (16 are kept for root)"));
  check_outputs(root, file, c, errors);
  const auto& j = c.journal();
  if (j.seal_interval_seconds() > 3600)
    errors->push_back(diag_at(root, file, "journal.seal_interval_seconds", "at most 3600 (records stay unsealed that long)"));
  if (j.queue() < 1024 || j.queue() > (1u << 24))
    errors->push_back(diag_at(root, file, "journal.queue", "between 1024 and 16777216 records"));
  for (int i = 0; i < c.devices().classes_size(); ++i)
    if (std::string bad = check_device_class(c.devices().classes(i)); !bad.empty())
      errors->push_back(diag_at(root, file, "devices.classes[" + std::to_string(i) + "]", bad));
  if (j.path() != "off" && j.path().back() == '/')
    errors->push_back(diag_at(root, file, "journal.path", "names a file (SQLite database), not a directory"));
}

}  // namespace

Loaded load(const std::string& config_file) {
  Loaded out;
  out.config_file = config_file;
  // One read: the config mapped and the tree its errors point into are the same version.
  auto text = read_settled(config_file, &out.errors);
  if (!text) return out;
  YAML::Node root = load_yaml_text(*text, config_file, &out.daemon, &out.errors);
  if (!out.ok()) return out;
  fill_defaults(&out.daemon);
  check_daemon(root, config_file, out.daemon, &out.errors);
  std::string base = fs::path(config_file).parent_path().string();
  if (base.empty()) base = ".";
  auto& d = out.daemon;
  d.set_state_dir(resolve(base, d.state_dir()));
  d.set_policies_dir(resolve(base, d.policies_dir()));
  d.mutable_control()->set_socket(resolve(base, d.control().socket()));
  if (d.journal().path() != "off") d.mutable_journal()->set_path(resolve(d.state_dir(), d.journal().path()));
  d.mutable_journal()->set_key_file(resolve(d.state_dir(), d.journal().key_file()));
  d.mutable_metrics()->set_token_file(resolve(d.state_dir(), d.metrics().token_file()));
  for (auto& o : *d.mutable_outputs()) {
    if (o.type() == "file") o.set_path(resolve(d.state_dir(), o.path()));
    for (auto* f : {o.mutable_ca_file(), o.mutable_cert_file(), o.mutable_key_file(), o.mutable_token_file()})
      *f = resolve(base, *f);
  }
  out.policies = load_policies(d.policies_dir(), &out.errors, &out.warnings);
  return out;
}

}  // namespace fts::config
