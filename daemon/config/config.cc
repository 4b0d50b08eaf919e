#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/glob.h"
#include "egress/egress.h"

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
    }
    if (t == "http") {
      const std::string& u = o.url();
      if (u.rfind("https://", 0) != 0 && !(u.rfind("http://", 0) == 0 && loopback_host(u)))
        err(at + (u.empty() ? "" : ".url"), "an http output needs an https:// url (plain http:// only to loopback)");
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
  if (m != "off" && (m.rfind(':') == std::string::npos || m.rfind(':') + 1 == m.size()))
    err("metrics.listen", "expected HOST:PORT (an IP address, 127.0.0.1 by default) or off");
}

void fill_defaults(v1::DaemonConfig* c) {
  if (c->state_dir().empty()) c->set_state_dir("/var/lib/ftsentinel");
  if (c->policies_dir().empty()) c->set_policies_dir("/etc/ftsentinel/policies.d");
  auto* ctl = c->mutable_control();
  if (ctl->socket().empty()) ctl->set_socket("/run/ftsentinel/control.sock");
  if (ctl->group().empty()) ctl->set_group("ftsentinel");
  auto* s = c->mutable_sensor();
  if (s->ringbuf_mb() == 0) s->set_ringbuf_mb(16);
  if (s->flow_report_seconds() == 0) s->set_flow_report_seconds(60);
  if (s->pin_dir().empty()) s->set_pin_dir("/sys/fs/bpf/ftsentinel");
  if (s->proc_root().empty()) s->set_proc_root("/proc");
  if (c->outputs_size() == 0) c->add_outputs()->set_type("stdout");
  fill_output_defaults(c);
  if (c->log().level().empty()) c->mutable_log()->set_level("info");
}

void check_daemon(const YAML::Node& root, const std::string& file, const v1::DaemonConfig& c,
                  std::vector<Diagnostic>* errors) {
  uint32_t mb = c.sensor().ringbuf_mb();
  if (mb & (mb - 1))
    errors->push_back(diag_at(root, file, "sensor.ringbuf_mb", "must be a power of two"));
  check_outputs(root, file, c, errors);
}

}  // namespace

const Policy* PolicySet::find(const std::string& name) const {
  for (const auto& p : policies_)
    if (p.spec.name() == name) return &p;
  return nullptr;
}

const Policy* PolicySet::at(uint32_t index) const {
  return index < policies_.size() ? &policies_[index] : nullptr;
}

void PolicySet::add(Policy p) {
  p.index = static_cast<uint32_t>(policies_.size());
  policies_.push_back(std::move(p));
}

void check_policy(const YAML::Node& root, const Policy& p, std::vector<Diagnostic>* errors,
                  std::vector<Diagnostic>* warnings) {
  const auto& s = p.spec;
  if (s.name().empty()) errors->push_back(diag_at(root, p.file, "name", "a policy needs a name"));
  if (s.mode() == v1::MODE_UNSPECIFIED)
    errors->push_back(diag_at(root, p.file, "mode", "a policy needs a mode (monitor or enforce)"));
  auto globs = [&](const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& at) {
    for (int i = 0; i < list.size(); ++i) {
      std::string why = glob_check(list[i]);
      if (!why.empty())
        errors->push_back(diag_at(root, p.file, at + "[" + std::to_string(i) + "]", why));
    }
  };
  globs(s.jobs().exec(), "jobs.exec");
  globs(s.jobs().cgroup(), "jobs.cgroup");
  globs(s.process().allow_preload(), "process.allow_preload");
  for (int i = 0; i < s.jobs().cgroup_size(); ++i)
    if (s.jobs().cgroup(i).empty() || s.jobs().cgroup(i)[0] != '/')
      errors->push_back(diag_at(root, p.file, "jobs.cgroup[" + std::to_string(i) + "]",
                                "a cgroup glob is an absolute cgroup v2 path ('/system.slice/…')"));
  const auto& d = s.data();
  globs(d.training(), "data.training");
  globs(d.outputs(), "data.outputs");
  globs(d.protected_(), "data.protected");
  globs(d.writers(), "data.writers");
  globs(d.sensitive(), "data.sensitive");
  globs(d.base(), "data.base");
  auto absolute = [&](const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& at) {
    for (int i = 0; i < list.size(); ++i)
      if (!list[i].empty() && list[i][0] != '/' && list[i].rfind("**/", 0) != 0)
        errors->push_back(diag_at(root, p.file, at + "[" + std::to_string(i) + "]",
                                  "a data path is absolute ('/data/…') or starts with '**/'"));
  };
  absolute(d.training(), "data.training");
  absolute(d.outputs(), "data.outputs");
  absolute(d.protected_(), "data.protected");
  absolute(d.sensitive(), "data.sensitive");
  absolute(d.base(), "data.base");
  const auto& net = s.network();
  for (int i = 0; i < net.egress_size(); ++i) {
    auto r = egress::parse(net.egress(i));
    if (const auto* bad = std::get_if<egress::ParseError>(&r))
      errors->push_back(diag_at(root, p.file, "network.egress[" + std::to_string(i) + "]",
                                "bad egress entry '" + net.egress(i) + "': " + bad->what + " (at character " +
                                    std::to_string(bad->offset + 1) + ")"));
  }
  if (!net.max_bytes_per_destination().empty() && !egress::parse_bytes(net.max_bytes_per_destination()))
    errors->push_back(diag_at(root, p.file, "network.max_bytes_per_destination",
                              "bad size '" + net.max_bytes_per_destination() +
                                  "' (expected a number with an optional unit: B, KB, MB, GB, KiB, MiB, GiB)"));
  // The process section is read and type-checked; the rules that use it come
  // with the rule engine. Say so rather than pretend.
  for (const char* section : {"process"}) {
    if (root.IsMap() && root[section])
      warnings->push_back(diag_at(root, p.file, section,
                                  "parsed, not yet enforced by this version of ftsentineld"));
  }
}

std::shared_ptr<const PolicySet> load_policies(const std::string& dir, std::vector<Diagnostic>* errors,
                                               std::vector<Diagnostic>* warnings) {
  auto set = std::make_shared<PolicySet>();
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && (e.path().extension() == ".yaml" || e.path().extension() == ".yml"))
      files.push_back(e.path());
  if (ec) {
    errors->push_back(Diagnostic{dir, 0, 0, "", "cannot read policies directory: " + ec.message()});
    return set;
  }
  std::sort(files.begin(), files.end());
  std::set<std::string> names;
  for (const auto& f : files) {
    Policy p;
    p.file = f.string();
    size_t before = errors->size();
    load_yaml_file(p.file, &p.spec, errors);
    YAML::Node root;
    try {
      root = YAML::LoadFile(p.file);
    } catch (const YAML::Exception&) {
    }
    if (errors->size() != before) continue;
    check_policy(root, p, errors, warnings);
    if (!p.spec.name().empty() && !names.insert(p.spec.name()).second) {
      errors->push_back(diag_at(root, p.file, "name", "duplicate policy name '" + p.spec.name() + "'"));
      continue;
    }
    set->add(std::move(p));
  }
  return set;
}

Loaded load(const std::string& config_file) {
  Loaded out;
  out.config_file = config_file;
  load_yaml_file(config_file, &out.daemon, &out.errors);
  if (!out.ok()) return out;
  YAML::Node root = YAML::LoadFile(config_file);
  fill_defaults(&out.daemon);
  check_daemon(root, config_file, out.daemon, &out.errors);
  std::string base = fs::path(config_file).parent_path().string();
  if (base.empty()) base = ".";
  auto& d = out.daemon;
  d.set_state_dir(resolve(base, d.state_dir()));
  d.set_policies_dir(resolve(base, d.policies_dir()));
  d.mutable_control()->set_socket(resolve(base, d.control().socket()));
  for (auto& o : *d.mutable_outputs()) {
    if (o.type() == "file") o.set_path(resolve(d.state_dir(), o.path()));
    for (auto* f : {o.mutable_ca_file(), o.mutable_cert_file(), o.mutable_key_file(), o.mutable_token_file()})
      *f = resolve(base, *f);
  }
  out.policies = load_policies(d.policies_dir(), &out.errors, &out.warnings);
  return out;
}

}  // namespace fts::config
