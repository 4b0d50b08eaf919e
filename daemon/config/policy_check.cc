// The policy files: each read onto the schema, then checked for what types
// cannot say (names, globs, addresses, sizes, contradictions between sections).
#include <algorithm>
#include <filesystem>
#include <variant>

#include "common/glob.h"
#include "common/units.h"
#include "config/config.h"
#include "policy/egress_entry.h"
#include "policy/manifest.h"

namespace fts::config {
namespace {

namespace fs = std::filesystem;
using Strings = google::protobuf::RepeatedPtrField<std::string>;

// One policy's checks: where it is, and where its findings go.
class PolicyCheck {
 public:
  PolicyCheck(const YAML::Node& root, const policy::Policy& p, std::vector<Diagnostic>* errors,
              std::vector<Diagnostic>* warnings)
      : root_(root), p_(p), s_(p.spec), errors_(errors), warnings_(warnings) {}

  void run() {
    identity();
    globs();
    data_paths();
    manifest();
    network();
    executables();
    contradictions();
    emptiness();
  }

 private:
  static std::string at(const std::string& list, int i) { return list + "[" + std::to_string(i) + "]"; }
  void error(const std::string& field, const std::string& what) {
    errors_->push_back(diag_at(root_, p_.file, field, what));
  }
  void warning(const std::string& field, const std::string& what) {
    warnings_->push_back(diag_at(root_, p_.file, field, what));
  }

  void identity() {
    if (s_.name().empty()) error("name", "a policy needs a name");
    else if (s_.name().find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
             std::string::npos)
      error("name", "a policy name is letters, digits, '-', '_' and '.'");
    if (s_.mode() == v1::MODE_UNSPECIFIED) error("mode", "a policy needs a mode (monitor or enforce)");
  }

  void globs_of(const Strings& list, const std::string& field) {
    for (int i = 0; i < list.size(); ++i)
      if (std::string why = glob_check(list[i]); !why.empty()) error(at(field, i), why);
  }

  void globs() {
    globs_of(s_.jobs().exec(), "jobs.exec");
    globs_of(s_.jobs().cgroup(), "jobs.cgroup");
    globs_of(s_.process().allow_preload(), "process.allow_preload");
    globs_of(s_.process().remote_code(), "process.remote_code");
    absolute(s_.process().remote_code(), "process.remote_code");
    remote_code_hashes();
    for (int i = 0; i < s_.jobs().cgroup_size(); ++i)
      if (s_.jobs().cgroup(i).empty() || s_.jobs().cgroup(i)[0] != '/')
        error(at("jobs.cgroup", i), "a cgroup glob is an absolute cgroup v2 path ('/system.slice/…')");
    const auto& d = s_.data();
    globs_of(d.training(), "data.training");
    globs_of(d.outputs(), "data.outputs");
    globs_of(d.protected_(), "data.protected");
    globs_of(d.writers(), "data.writers");
    globs_of(d.sensitive(), "data.sensitive");
    globs_of(d.base(), "data.base");
    globs_of(d.code(), "data.code");
    globs_of(d.caches(), "data.caches");
  }

  // process.allow_remote_code: SHA-256s, as `sha256sum` prints them.
  void remote_code_hashes() {
    const auto& list = s_.process().allow_remote_code();
    for (int i = 0; i < list.size(); ++i)
      if (list[i].size() != 64 || list[i].find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        error(at("process.allow_remote_code", i), "a SHA-256 is 64 hexadecimal digits, as sha256sum prints it");
  }

  void absolute(const Strings& list, const std::string& field) {
    for (int i = 0; i < list.size(); ++i)
      if (!list[i].empty() && list[i][0] != '/' && list[i].rfind("**/", 0) != 0)
        error(at(field, i), "a data path is absolute ('/data/…') or starts with '**/'");
  }

  void data_paths() {
    const auto& d = s_.data();
    absolute(d.training(), "data.training");
    absolute(d.outputs(), "data.outputs");
    absolute(d.protected_(), "data.protected");
    absolute(d.sensitive(), "data.sensitive");
    absolute(d.base(), "data.base");
    absolute(d.code(), "data.code");
    // A cache is a tree the kernel watches by its directory's inode: no "**/name".
    for (int i = 0; i < d.caches_size(); ++i)
      if (!d.caches(i).empty() && d.caches(i)[0] != '/')
        error(at("data.caches", i), "a cache is an absolute directory tree ('/root/.cache/huggingface/datasets/**')");
  }

  // sha256sum format, names relative to its directory; read again whenever it changes.
  void manifest() {
    const std::string& file = s_.data().manifest();
    if (file.empty()) return;
    if (file[0] != '/') return error("data.manifest", "a manifest path is absolute");
    std::vector<policy::ManifestError> bad;
    auto m = policy::Manifest::load(file, &bad);
    if (!m) warning("data.manifest", m.error() + "; files are hashed but not checked against it until it is there");
    for (const auto& b : bad)
      errors_->push_back(
          Diagnostic{file, static_cast<int>(b.line), static_cast<int>(b.column), "data.manifest", b.what});
  }

  void network() {
    const auto& net = s_.network();
    for (int i = 0; i < net.egress_size(); ++i) {
      auto r = policy::parse_egress(net.egress(i));
      if (const auto* bad = std::get_if<policy::EgressError>(&r))
        error(at("network.egress", i), "bad egress entry '" + net.egress(i) + "': " + bad->what +
                                           " (at character " + std::to_string(bad->offset + 1) + ")");
    }
    for (int i = 0; i < net.resolvers_size(); ++i) {
      auto r = policy::parse_resolver(net.resolvers(i));
      if (const auto* bad = std::get_if<policy::EgressError>(&r))
        error(at("network.resolvers", i), "bad resolver '" + net.resolvers(i) + "': " + bad->what +
                                              " (at character " + std::to_string(bad->offset + 1) + ")");
    }
    if (!net.rdma().empty() && net.rdma() != "allow" && net.rdma() != "deny")
      error("network.rdma", "expected allow or deny, got '" + net.rdma() + "'");
    if (!net.max_bytes_per_destination().empty() && !parse_bytes(net.max_bytes_per_destination()))
      error("network.max_bytes_per_destination",
            "bad size '" + net.max_bytes_per_destination() +
                "' (expected a number with an optional unit: B, KB, MB, GB, KiB, MiB, GiB)");
  }

  // Executables are matched by their absolute path: a bare "torchrun" never matches.
  void executables_of(const Strings& list, const std::string& field) {
    for (int i = 0; i < list.size(); ++i)
      if (!list[i].empty() && list[i][0] != '/' && list[i].rfind("**/", 0) != 0)
        error(at(field, i), "an executable is matched by its absolute path: write '**/" + list[i] + "' or '/usr/bin/" +
                                list[i] + "'");
  }

  void executables() {
    globs_of(s_.process().deny_exec(), "process.deny_exec");
    executables_of(s_.jobs().exec(), "jobs.exec");
    executables_of(s_.data().writers(), "data.writers");
    executables_of(s_.process().deny_exec(), "process.deny_exec");
    executables_of(s_.devices().agents(), "devices.agents");
    named_writers();
  }

  // The kernel recognises a writer's exec by the file's name (writers/identity.h).
  void named_writers() {
    const auto& w = s_.data().writers();
    for (int i = 0; i < w.size(); ++i)
      if (!w[i].empty() && (w[i][0] == '/' || w[i].rfind("**/", 0) == 0) && glob_literal_basename(w[i]).empty())
        error(at("data.writers", i), "an approved writer ends in its file name ('/opt/sync/bin/dataset-sync'), "
                                     "not a pattern: list each writer");
  }

  // Where the job writes cannot also be what it learns from or a secret it must not touch.
  void outputs_inside(const Strings& outer, const std::string& outer_field, const char* what) {
    const auto& d = s_.data();
    for (int i = 0; i < d.outputs_size(); ++i)
      for (int j = 0; j < outer.size(); ++j)
        if (glob_within(d.outputs(i), outer[j]))
          error(at("data.outputs", i), "'" + d.outputs(i) + "' is inside " + at(outer_field, j) + " '" + outer[j] +
                                           "' (line " + std::to_string(diag_at(root_, p_.file, at(outer_field, j), "").line) +
                                           "): the job would write " + what);
  }

  void contradictions() {
    outputs_inside(s_.data().training(), "data.training", "into its own training data");
    outputs_inside(s_.data().sensitive(), "data.sensitive", "where secrets are");
  }

  void emptiness() {
    const auto& d = s_.data();
    const auto& net = s_.network();
    bool matches_jobs = s_.jobs().exec_size() || s_.jobs().cgroup_size();
    bool checks = d.training_size() || d.outputs_size() || d.protected__size() || d.sensitive_size() || d.caches_size() ||
                  net.egress_size() || !net.max_bytes_per_destination().empty() || s_.process().deny_exec_size();
    if (!matches_jobs && !checks)
      warning("name", "policy '" + s_.name() + "' is empty: it matches no jobs (jobs.exec, jobs.cgroup) and "
                      "checks nothing (data, network, process)");
    if (s_.mode() == v1::enforce && net.egress_size() == 0)
      warning("mode", "enforce mode with no network.egress: every connection of its jobs is refused");
  }

  const YAML::Node& root_;
  const policy::Policy& p_;
  const v1::Policy& s_;
  std::vector<Diagnostic>* errors_;
  std::vector<Diagnostic>* warnings_;
};

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

void check_policy(const YAML::Node& root, const policy::Policy& p, std::vector<Diagnostic>* errors,
                  std::vector<Diagnostic>* warnings) {
  PolicyCheck(root, p, errors, warnings).run();
}

std::shared_ptr<const policy::PolicySet> load_policies(const std::string& dir, std::vector<Diagnostic>* errors,
                                               std::vector<Diagnostic>* warnings) {
  auto set = std::make_shared<policy::PolicySet>();
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
    policy::Policy p;
    p.file = f.string();
    size_t before = errors->size();
    // One read: the text mapped, the tree errors point into and the digest are the same version.
    auto text = read_settled(p.file, errors, &p.sha256);
    if (!text) continue;
    YAML::Node root = load_yaml_text(*text, p.file, &p.spec, errors);
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
    if (set->all().size() == policy::kMaxPolicies) {
      errors->push_back(diag_at(root, p.file, "name", "more than " + std::to_string(policy::kMaxPolicies) + " policies"));
      continue;
    }
    set->add(std::move(p));
  }
  return set;
}


}  // namespace fts::config
