#include "config/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/glob.h"

namespace fts::config {
namespace {

namespace fs = std::filesystem;

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

void fill_defaults(v1::DaemonConfig* c) {
  if (c->state_dir().empty()) c->set_state_dir("/var/lib/ftsentinel");
  if (c->policies_dir().empty()) c->set_policies_dir("/etc/ftsentinel/policies.d");
  auto* ctl = c->mutable_control();
  if (ctl->socket().empty()) ctl->set_socket("/run/ftsentinel/control.sock");
  if (ctl->group().empty()) ctl->set_group("ftsentinel");
  auto* s = c->mutable_sensor();
  if (s->ringbuf_mb() == 0) s->set_ringbuf_mb(16);
  if (s->pin_dir().empty()) s->set_pin_dir("/sys/fs/bpf/ftsentinel");
  if (s->proc_root().empty()) s->set_proc_root("/proc");
  if (c->outputs_size() == 0) c->add_outputs()->set_type("stdout");
  for (auto& o : *c->mutable_outputs()) {
    if (o.format().empty()) o.set_format("json");
    if (o.events().empty()) o.set_events("all");
  }
  if (c->log().level().empty()) c->mutable_log()->set_level("info");
}

void check_daemon(const YAML::Node& root, const std::string& file, const v1::DaemonConfig& c,
                  std::vector<Diagnostic>* errors) {
  uint32_t mb = c.sensor().ringbuf_mb();
  if (mb & (mb - 1))
    errors->push_back(diag_at(root, file, "sensor.ringbuf_mb", "must be a power of two"));
  for (int i = 0; i < c.outputs_size(); ++i) {
    const auto& o = c.outputs(i);
    std::string at = "outputs[" + std::to_string(i) + "]";
    if (o.type() != "stdout" && o.type() != "file")
      errors->push_back(diag_at(root, file, at + ".type",
                                "unknown output type '" + o.type() + "' (expected stdout or file)"));
    if (o.type() == "file" && o.path().empty())
      errors->push_back(diag_at(root, file, at, "a file output needs a path"));
    if (o.format() != "json")
      errors->push_back(diag_at(root, file, at + ".format", "unknown format '" + o.format() + "' (expected json)"));
    if (o.events() != "all" && o.events() != "alerts")
      errors->push_back(diag_at(root, file, at + ".events", "expected all or alerts"));
  }
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
  for (int i = 0; i < s.jobs().cgroup_size(); ++i)
    if (s.jobs().cgroup(i).empty() || s.jobs().cgroup(i)[0] != '/')
      errors->push_back(diag_at(root, p.file, "jobs.cgroup[" + std::to_string(i) + "]",
                                "a cgroup glob is an absolute cgroup v2 path ('/system.slice/…')"));
  // These sections are read and type-checked; the rules that use them come with
  // the file/network sensors and the rule engine. Say so rather than pretend.
  for (const char* section : {"data", "network", "process"}) {
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
  for (auto& o : *d.mutable_outputs())
    if (o.type() == "file") o.set_path(resolve(d.state_dir(), o.path()));
  out.policies = load_policies(d.policies_dir(), &out.errors, &out.warnings);
  return out;
}

}  // namespace fts::config
