#include "config/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/glob.h"
#include "egress/egress.h"
#include "hash/manifest.h"

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

}  // namespace

// Is everything `inner` names also named by `outer`? Judged on inner's
// literal directory (what precedes its first wildcard): "/data/a/ckpt/**" is
// within "/data/**". A pattern that starts with a wildcard cannot be judged.
bool glob_within(const std::string& inner, const std::string& outer) {
  if (inner == outer) return true;
  size_t wild = inner.find_first_of("*?[");
  std::string dir = wild == std::string::npos ? inner : inner.substr(0, inner.rfind('/', wild));
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty() || dir == "/") return false;
  if (glob_match(outer, dir)) return true;
  bool whole_tree = outer.size() >= 3 && outer.compare(outer.size() - 3, 3, "/**") == 0;
  return whole_tree && glob_match(outer, dir + "/x");
}

namespace {

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
  // The journal: 0 keeps the default, like the outputs' numbers.
  auto* j = c->mutable_journal();
  if (j->path().empty()) j->set_path("journal.db");
  if (j->key_file().empty()) j->set_key_file("journal.key");
  if (j->retention_days() == 0) j->set_retention_days(30);
  if (j->max_size_mb() == 0) j->set_max_size_mb(4096);
  if (j->seal_interval_seconds() == 0) j->set_seal_interval_seconds(10);
  if (j->queue() == 0) j->set_queue(262144);
}

void check_daemon(const YAML::Node& root, const std::string& file, const v1::DaemonConfig& c,
                  std::vector<Diagnostic>* errors) {
  uint32_t mb = c.sensor().ringbuf_mb();
  if (mb & (mb - 1))
    errors->push_back(diag_at(root, file, "sensor.ringbuf_mb", "must be a power of two"));
  else if (mb > 1024)
    errors->push_back(diag_at(root, file, "sensor.ringbuf_mb", "at most 1024 (MiB per ring buffer)"));
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!kLevels.count(c.log().level()))
    errors->push_back(diag_at(root, file, "log.level",
                              "expected trace, debug, info, warn, error, critical or off, got '" + c.log().level() + "'"));
  if (c.control().group().find_first_of(" :/") != std::string::npos)
    errors->push_back(diag_at(root, file, "control.group", "a group name, got '" + c.control().group() + "'"));
  check_outputs(root, file, c, errors);
  const auto& j = c.journal();
  if (j.seal_interval_seconds() > 3600)
    errors->push_back(diag_at(root, file, "journal.seal_interval_seconds", "at most 3600 (records stay unsealed that long)"));
  if (j.queue() < 1024 || j.queue() > (1u << 24))
    errors->push_back(diag_at(root, file, "journal.queue", "between 1024 and 16777216 records"));
  if (j.path() != "off" && j.path().back() == '/')
    errors->push_back(diag_at(root, file, "journal.path", "names a file (SQLite database), not a directory"));
}

}  // namespace

const Policy* PolicySet::find(const std::string& name) const {
  for (const auto& p : policies_)
    if (p.spec.name() == name) return &p;
  return nullptr;
}

const Policy* PolicySet::at(uint32_t index) const {
  for (const auto& p : policies_)
    if (p.index == index) return &p;
  for (const auto& p : retained_)
    if (p->index == index) return p.get();
  if (auto it = aliases_.find(index); it != aliases_.end())
    for (const auto& p : policies_)
      if (p.index == it->second) return &p;
  return nullptr;
}

std::vector<const Policy*> PolicySet::in_force() const {
  std::vector<const Policy*> out;
  for (const auto& p : policies_) out.push_back(&p);
  for (const auto& p : retained_) out.push_back(p.get());
  return out;
}

void PolicySet::add(Policy p) {
  p.index = policies_.empty() ? 0 : policies_.back().index + 1;
  policies_.push_back(std::move(p));
}

bool PolicySet::renumber(const std::vector<uint32_t>& taken) {
  std::set<uint32_t> used(taken.begin(), taken.end());
  uint32_t next = 0;
  for (auto& p : policies_) {
    while (next < kMaxKernelIds && used.count(next)) ++next;
    if (next >= kMaxKernelIds) return false;
    p.index = next++;
  }
  return true;
}

void check_policy(const YAML::Node& root, const Policy& p, std::vector<Diagnostic>* errors,
                  std::vector<Diagnostic>* warnings) {
  const auto& s = p.spec;
  if (s.name().empty()) errors->push_back(diag_at(root, p.file, "name", "a policy needs a name"));
  else if (s.name().find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
           std::string::npos)
    errors->push_back(diag_at(root, p.file, "name", "a policy name is letters, digits, '-', '_' and '.'"));
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
  globs(d.code(), "data.code");
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
  absolute(d.code(), "data.code");
  if (!d.manifest().empty()) {
    // sha256sum format, names relative to its directory; read again whenever it changes.
    if (d.manifest()[0] != '/') {
      errors->push_back(diag_at(root, p.file, "data.manifest", "a manifest path is absolute"));
    } else {
      std::vector<hash::ManifestError> bad;
      auto m = hash::Manifest::load(d.manifest(), &bad);
      if (!m)
        warnings->push_back(diag_at(root, p.file, "data.manifest",
                                    m.error() + "; files are hashed but not checked against it until it is there"));
      for (const auto& b : bad)
        errors->push_back(Diagnostic{d.manifest(), static_cast<int>(b.line), static_cast<int>(b.column),
                                     "data.manifest", b.what});
    }
  }
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
  globs(s.process().deny_exec(), "process.deny_exec");
  // Executables are matched by their absolute path: a bare "torchrun" never matches.
  auto executables = [&](const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& at) {
    for (int i = 0; i < list.size(); ++i)
      if (!list[i].empty() && list[i][0] != '/' && list[i].rfind("**/", 0) != 0)
        errors->push_back(diag_at(root, p.file, at + "[" + std::to_string(i) + "]",
                                  "an executable is matched by its absolute path: write '**/" + list[i] +
                                      "' or '/usr/bin/" + list[i] + "'"));
  };
  executables(s.jobs().exec(), "jobs.exec");
  executables(d.writers(), "data.writers");
  executables(s.process().deny_exec(), "process.deny_exec");
  // Contradictions: where the job writes cannot also be what it learns from
  // or a secret it must not touch.
  auto inside = [&](const google::protobuf::RepeatedPtrField<std::string>& outer, const std::string& outer_at,
                    const char* what) {
    for (int i = 0; i < d.outputs_size(); ++i)
      for (int j = 0; j < outer.size(); ++j)
        if (glob_within(d.outputs(i), outer[j]))
          errors->push_back(diag_at(root, p.file, "data.outputs[" + std::to_string(i) + "]",
                                    "'" + d.outputs(i) + "' is inside " + outer_at + "[" + std::to_string(j) + "] '" +
                                        outer[j] + "' (line " +
                                        std::to_string(diag_at(root, p.file, outer_at + "[" + std::to_string(j) + "]", "").line) +
                                        "): the job would write " + what));
  };
  inside(d.training(), "data.training", "into its own training data");
  inside(d.sensitive(), "data.sensitive", "where secrets are");
  bool matches_jobs = s.jobs().exec_size() || s.jobs().cgroup_size();
  bool checks = d.training_size() || d.outputs_size() || d.protected__size() || d.sensitive_size() ||
                net.egress_size() || !net.max_bytes_per_destination().empty() || s.process().deny_exec_size();
  if (!matches_jobs && !checks)
    warnings->push_back(diag_at(root, p.file, "name",
                                "policy '" + s.name() + "' is empty: it matches no jobs (jobs.exec, jobs.cgroup) and "
                                "checks nothing (data, network, process)"));
  if (s.mode() == v1::enforce && net.egress_size() == 0)
    warnings->push_back(diag_at(root, p.file, "mode",
                                "enforce mode with no network.egress: every connection of its jobs is refused"));
}

std::shared_ptr<const PolicySet> load_policies(const std::string& dir, std::vector<Diagnostic>* errors,
                                               std::vector<Diagnostic>* warnings) {
  auto set = std::make_shared<PolicySet>();
  std::vector<fs::path> files;
  std::error_code ec;
  // A fresh package install ships no policy: the daemon runs (and watches its
  // own objects) with zero policies and says so, rather than refusing to start.
  if (!fs::exists(dir, ec) && !ec) {
    warnings->push_back(Diagnostic{dir, 0, 0, "", "policies directory does not exist: no policies loaded"});
    return set;
  }
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && (e.path().extension() == ".yaml" || e.path().extension() == ".yml"))
      files.push_back(e.path());
  if (ec) {
    errors->push_back(Diagnostic{dir, 0, 0, "", "cannot read policies directory: " + ec.message()});
    return set;
  }
  std::sort(files.begin(), files.end());
  if (files.empty())
    warnings->push_back(Diagnostic{dir, 0, 0, "", "no policies (*.yaml) in the policies directory: no job is "
                                                  "watched; examples are in /usr/share/ftsentinel/policies"});
  std::map<std::string, std::string> names;  // name -> file
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
    if (!p.spec.name().empty()) {
      auto [it, fresh] = names.emplace(p.spec.name(), p.file);
      if (!fresh) {
        errors->push_back(diag_at(root, p.file, "name",
                                  "duplicate policy name '" + p.spec.name() + "' (also in " + it->second + ")"));
        continue;
      }
    }
    if (set->all().size() == kMaxPolicies) {
      errors->push_back(diag_at(root, p.file, "name", "more than " + std::to_string(kMaxPolicies) + " policies"));
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
  if (d.journal().path() != "off") d.mutable_journal()->set_path(resolve(d.state_dir(), d.journal().path()));
  d.mutable_journal()->set_key_file(resolve(d.state_dir(), d.journal().key_file()));
  for (auto& o : *d.mutable_outputs()) {
    if (o.type() == "file") o.set_path(resolve(d.state_dir(), o.path()));
    for (auto* f : {o.mutable_ca_file(), o.mutable_cert_file(), o.mutable_key_file(), o.mutable_token_file()})
      *f = resolve(base, *f);
  }
  out.policies = load_policies(d.policies_dir(), &out.errors, &out.warnings);
  return out;
}

}  // namespace fts::config
