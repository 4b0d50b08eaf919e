#include "rules/classify.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <string_view>

#include "common/glob.h"
#include "watch/watch.h"

namespace fts::rules {
namespace {

namespace cls = decode::cls;

// Not ".pth" (also a PyTorch checkpoint) nor ".txt" (also a corpus).
constexpr std::array<std::string_view, 7> kProgram = {".py", ".pyc", ".pyi", ".pyx", ".pxd", ".so", ".sh"};
// A config is small; a dataset that happens to be one JSON document
// (alpaca_data.json) is not, and stays data.
constexpr std::array<std::string_view, 6> kConfig = {".yaml", ".yml", ".json", ".toml", ".cfg", ".ini"};
constexpr off_t kMaxConfigBytes = 1 << 20;

bool under(const std::string& dir, const std::string& path) {
  if (dir.empty() || dir == "/") return false;  // "/": everything, so nothing in particular
  return path_under(path, dir);
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

// Python's options before the script: clusters of one-letter flags ("-uB");
// -W and -X take a value (attached or next); -c and -m mean there is no script.
enum class Opt { kFlag, kTakesNext, kNoScript };
Opt python_option(std::string_view a) {
  for (size_t i = 1; i < a.size(); ++i) {
    if (a[i] == 'c' || a[i] == 'm') return Opt::kNoScript;
    if (a[i] == 'W' || a[i] == 'X') return i + 1 == a.size() ? Opt::kTakesNext : Opt::kFlag;
  }
  return Opt::kFlag;
}

std::string python_script(const state::Process& p) {
  for (size_t i = 1; i < p.args.size(); ++i) {
    const std::string& a = p.args[i];
    if (a == "-") return "";  // the program comes from stdin
    if (a == "--") return i + 1 < p.args.size() ? p.args[i + 1] : "";
    if (a.rfind("--", 0) == 0) continue;  // --version, --help, … (no script then anyway)
    if (a.size() > 1 && a[0] == '-') {
      Opt o = python_option(a);
      if (o == Opt::kNoScript) return "";
      if (o == Opt::kTakesNext) ++i;
      continue;
    }
    return a;
  }
  return "";
}

}  // namespace

bool matches(const google::protobuf::RepeatedPtrField<std::string>& globs, const std::string& path) {
  for (const auto& g : globs) {
    if (glob_match(g, path)) return true;
    if (g.size() > 3 && g.compare(g.size() - 3, 3, "/**") == 0 && path == g.substr(0, g.size() - 3)) return true;
  }
  return false;
}

bool in_base(const policy::Policy* p, const std::string& path) {
  for (const auto& g : watch::base_list())
    if (glob_match(g, path)) return true;
  return p && matches(p->spec.data().base(), path);
}

uint32_t policy_classes(const policy::Policy& policy, const std::string& path, uint32_t kernel) {
  const auto& d = policy.spec.data();
  uint32_t out = kernel & cls::kPreload;
  if (matches(d.training(), path)) out |= cls::kTraining;
  if (matches(d.outputs(), path)) out |= cls::kOutputs;
  if (matches(d.protected_(), path)) out |= cls::kProtected;
  if (matches(d.caches(), path)) out |= cls::kTraining | cls::kCache;  // training data kept elsewhere
  if (matches(d.sensitive(), path)) out |= cls::kSensitive;
  if (in_base(&policy, path)) out |= cls::kBase;
  return out;
}

bool code_file_name(const std::string& path) {
  std::string name = path_basename(path);
  size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return false;
  std::string_view ext(name.c_str() + dot, name.size() - dot);
  return std::find(kProgram.begin(), kProgram.end(), ext) != kProgram.end() ||
         std::find(kConfig.begin(), kConfig.end(), ext) != kConfig.end();
}

namespace {

bool small_config(const decode::File& f, const std::string& path) {
  std::string name = path_basename(path);
  size_t dot = name.rfind('.');
  if (dot == std::string::npos) return true;
  std::string_view ext(name.c_str() + dot, name.size() - dot);
  if (std::find(kConfig.begin(), kConfig.end(), ext) == kConfig.end()) return true;
  // The file the record is about (its inode), not whatever the name holds now.
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && st.st_ino == f.ino && st.st_size <= kMaxConfigBytes;
}

}  // namespace

std::string launched_script(const state::Process& p) {
  if (!p.script.empty()) return p.script;
  if (path_basename(p.exe).rfind("python", 0) != 0) return "";
  std::string s = python_script(p);
  if (s.empty()) return "";
  std::filesystem::path run(s);
  if (run.is_relative()) {
    if (p.cwd.empty()) return "";
    run = std::filesystem::path(p.cwd) / run;
  }
  return run.lexically_normal().string();
}

bool is_code(const policy::Policy& policy, const state::ProcessTable& procs, const state::Process* proc,
             uint64_t job_id, const std::string& path) {
  if (matches(policy.spec.data().code(), path)) return true;
  if (!proc) return false;
  bool code_name = code_file_name(path);
  // The process and its ancestors in the job: a worker reads what its launcher launched.
  std::vector<const state::Process*> chain{proc};
  for (const state::Process* a : procs.ancestry(*proc, 8)) {
    if (a->job_id != job_id) break;
    chain.push_back(a);
  }
  for (const state::Process* p : chain) {
    std::string script = launched_script(*p);
    if (!script.empty() && script == path) return true;
    if (!code_name) continue;
    if (!script.empty() && under(parent_dir(script), path)) return true;
    if (under(p->cwd, path)) return true;
  }
  return false;
}

uint32_t classify(const decode::File& f, const std::string& path, const policy::Policy& policy,
                  const state::ProcessTable& procs, const state::Process* proc, uint64_t job_id) {
  return classify_with(policy_classes(policy, path, 0), f, path, policy, procs, proc, job_id);
}

uint32_t classify_with(uint32_t policy_cls, const decode::File& f, const std::string& path,
                       const policy::Policy& policy, const state::ProcessTable& procs, const state::Process* proc,
                       uint64_t job_id) {
  uint32_t c = policy_cls | (f.classes & cls::kPreload);
  constexpr uint32_t kClaimed = cls::kTraining | cls::kOutputs | cls::kProtected | cls::kSensitive | cls::kBase;
  bool read = f.op == decode::FileOp::kOpen && (f.access & decode::access::kRead);
  if (read && !(c & kClaimed) && is_code(policy, procs, proc, job_id, path) &&
      (matches(policy.spec.data().code(), path) || small_config(f, path)))
    c |= kCodeClass;
  return c;
}

}  // namespace fts::rules
