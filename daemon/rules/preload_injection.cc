// preload-injection: a job process starts with LD_PRELOAD, or anyone changes
// the loader's preload list (/etc/ld.so.preload): a library injected into
// every process that runs after it (T1574.006).
#include <algorithm>
#include <memory>

#include "common/glob.h"
#include "rules/rules.h"

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
  // Every library the loader would preload (LD_PRELOAD separates them by
  // spaces or colons) is in the policy's process.allow_preload.
  static bool allowed(const policy::Policy* p, const decode::Exec& e) {
    if (!p || e.preload_truncated) return false;
    const auto& allow = p->spec.process().allow_preload();
    size_t i = 0;
    while (i < e.preload.size()) {
      size_t j = e.preload.find_first_of(": ", i);
      if (j == std::string::npos) j = e.preload.size();
      std::string lib = e.preload.substr(i, j - i);
      if (!lib.empty() && std::none_of(allow.begin(), allow.end(), [&](const std::string& g) { return glob_match(g, lib); }))
        return false;
      i = j + 1;
    }
    return true;
  }

  void on_exec(const Input& in, const decode::Exec& e, std::vector<Finding>* out) {
    if (!in.job || e.preload.empty() || allowed(in.policy, e)) return;
    out->push_back({id(), "high",
                    "job " + in.job->name + " (" + jobs::job_id_string(in.job->id) + ") started " + e.exe +
                        " (pid " + std::to_string(e.hdr.task.tgid) + ") with LD_PRELOAD=" + e.preload +
                        (e.preload_truncated ? "…" : ""),
                    e.preload});
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
