// remote-code-in-job: a job writes or imports a Python module under the
// Hugging Face modules cache (`trust_remote_code`) whose SHA-256 is not on
// the policy's process.allow_remote_code. Decided on the module's file_hash
// record (the hash stage follows both its writes and its reads): the hash
// is the verdict, and the alert keeps it with the content's size.
#include <pwd.h>
#include <strings.h>

#include <algorithm>
#include <set>

#include "common/glob.h"
#include "rules/classify.h"
#include "rules/remote_code.h"
#include "rules/rules.h"

namespace fts::rules {
namespace {

std::string env(const state::Process& p, const char* name) {
  auto it = p.run_env.find(name);
  return it == p.run_env.end() ? "" : it->second;
}

std::string home_of(const state::Process& p) {
  std::string home = env(p, "HOME");
  if (!home.empty()) return home;
  struct passwd pw, *found = nullptr;
  char buf[4096];
  if (getpwuid_r(p.uid, &pw, buf, sizeof(buf), &found) == 0 && found && found->pw_dir) return found->pw_dir;
  return "";
}

std::string without_trailing_slash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

class RemoteCodeInJob : public Rule {
 public:
  const char* id() const override { return "remote-code-in-job"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kFileHash}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& h = std::get<decode::FileHash>(in.record);
    if (!in.job || !in.policy || !remote_code_path(in.process, in.policy, h.path)) return;
    const auto& allow = in.policy->spec.process().allow_remote_code();
    auto same = [&](const std::string& a) { return strcasecmp(a.c_str(), h.sha256.c_str()) == 0; };
    if (!h.sha256.empty() && std::any_of(allow.begin(), allow.end(), same)) return;
    std::string did = h.reason == "read" ? "imported" : "wrote";
    std::string content = h.sha256.empty() ? "not hashed: " + h.error
                                           : "sha256 " + h.sha256 + ", " + std::to_string(h.size) + " bytes";
    Finding f{id(), "high",
              "job " + in.job->name + " " + did + " remote code " + h.path + " (" + content +
                  "), not on its policy's process.allow_remote_code",
              h.path + "\n" + h.sha256, nullptr, true};
    v1::FileHash hash;
    hash.set_sha256(h.sha256);
    if (!h.sha256.empty()) hash.set_size(h.size);
    hash.set_reason(h.reason);
    hash.set_error(h.error);
    f.hash = hash;
    out->push_back(std::move(f));
  }
};

}  // namespace

std::string modules_cache(const state::Process& p) {
  if (std::string m = env(p, "HF_MODULES_CACHE"); !m.empty()) return without_trailing_slash(m);
  if (std::string h = env(p, "HF_HOME"); !h.empty()) return without_trailing_slash(h) + "/modules";
  std::string home = home_of(p);
  return home.empty() ? "" : without_trailing_slash(home) + "/.cache/huggingface/modules";
}

bool remote_code_path(const state::Process* p, const policy::Policy* policy, const std::string& path) {
  if (path.size() < 4 || path.compare(path.size() - 3, 3, ".py") != 0) return false;
  if (policy && matches(policy->spec.process().remote_code(), path)) return true;
  if (!p) return false;
  std::string dir = modules_cache(*p);
  return !dir.empty() && dir[0] == '/' && path_under(path, dir);
}

std::unique_ptr<Rule> make_remote_code_in_job() { return std::make_unique<RemoteCodeInJob>(); }

}  // namespace fts::rules
