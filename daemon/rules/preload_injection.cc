// preload-injection: a job process starts with LD_PRELOAD or LD_AUDIT, runs a
// program through `ld.so --preload/--audit`, or hides its environment from the
// kernel's scan; or anyone changes the loader's preload list
// (/etc/ld.so.preload): a library injected into every process that runs after
// it (T1574.006).
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "common/glob.h"
#include "rules/rules.h"
#include "state/loader.h"

namespace fts::rules {
namespace {

constexpr const char* kPreloadList = "/etc/ld.so.preload";

std::string actor(const Input& in) {
  const decode::Header& h = decode::header(in.record);
  std::string exe = in.process && !in.process->exe.empty() ? in.process->exe : "?";
  return exe + " (pid " + std::to_string(h.task.tgid) + ")";
}


class PreloadInjection : public Rule {
 public:
  const char* id() const override { return "preload-injection"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kExec, decode::Kind::kFile}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    if (const auto* e = std::get_if<decode::Exec>(&in.record)) return on_exec(in, *e, out);
    on_file(in, std::get<decode::File>(in.record), out);
  }

 private:
  // Every library of a list (LD_PRELOAD and --preload separate them by spaces
  // or colons) is in the policy's process.allow_preload.
  static bool allowed(const policy::Policy* p, const std::string& list) {
    if (!p) return false;
    const auto& allow = p->spec.process().allow_preload();
    size_t i = 0;
    while (i < list.size()) {
      size_t j = list.find_first_of(": ", i);
      if (j == std::string::npos) j = list.size();
      std::string lib = list.substr(i, j - i);
      if (!lib.empty() && std::none_of(allow.begin(), allow.end(), [&](const std::string& g) { return glob_match(g, lib); }))
        return false;
      i = j + 1;
    }
    return true;
  }

  // What the loader injects into this exec, each as (how, value): the
  // environment's LD_PRELOAD (glibc's: the last) and LD_AUDIT, and the
  // --preload/--audit options of `ld.so … PROGRAM`. An auditor is code run at
  // every symbol binding: never allow-listed.
  static std::vector<std::pair<std::string, std::string>> injected(const Input& in, const decode::Exec& e) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!e.preload.empty() && (e.preload_truncated || !allowed(in.policy, e.preload)))
      out.emplace_back("LD_PRELOAD=", e.preload + (e.preload_truncated ? "…" : ""));
    if (!e.audit.empty()) out.emplace_back("LD_AUDIT=", e.audit + (e.audit_truncated ? "…" : ""));
    if (auto run = state::loader_run(e)) {
      for (const auto& v : run->preload)
        if (!allowed(in.policy, v)) out.emplace_back("ld.so --preload ", v);
      for (const auto& v : run->audit) out.emplace_back("ld.so --audit ", v);
    }
    return out;
  }

  void on_exec(const Input& in, const decode::Exec& e, std::vector<Finding>* out) {
    if (!in.job) return;
    std::string started = "job " + in.job->name + " (" + jobs::job_id_string(in.job->id) + ") started " + e.exe +
                          " (pid " + std::to_string(e.hdr.task.tgid) + ")";
    for (const auto& [how, value] : injected(in, e))
      out->push_back({id(), "high", started + " with " + how + value, how + value});
    // The kernel gave up on the environment: a later LD_PRELOAD would be
    // unseen, so an environment too large to read is itself the finding.
    if (e.env_truncated)
      out->push_back({id(), "medium",
                      started + " with an environment too large for the kernel to scan to its end: "
                                "an LD_PRELOAD or LD_AUDIT after its first 8192 chunks is unseen (env_scan_truncated)",
                      "env_scan_truncated"});
  }

  void on_file(const Input& in, const decode::File& f, std::vector<Finding>* out) {
    if (!decode::is_change(f) || (f.source == decode::Source::kSyscall && f.result < 0)) return;
    // The kernel matches any file of that name; only the loader's own list counts.
    const std::string* hit = nullptr;
    for (const std::string* p : {&in.file_path, &f.path, &f.path2})
      if (*p == kPreloadList) hit = p;
    if (!hit) return;
    std::string op = f.op == decode::FileOp::kOpen ? "write" : decode::to_string(f.op);
    Finding x{id(), "critical",
              op + " of " + kPreloadList + " by " + actor(in) + (in.job ? " in job " + in.job->name : "") +
                  ": every process started after it loads what it names",
              kPreloadList};
    x.file = true;
    out->push_back(x);
  }
};

}  // namespace

std::unique_ptr<Rule> make_preload_injection() { return std::make_unique<PreloadInjection>(); }

}  // namespace fts::rules
