// job-memory-access: another process ptraces a job process, reads or writes
// its memory with process_vm_readv/writev, or opens its /proc/PID/mem
// (T1055.008). The job's own processes reaching into each other are not
// alerted: the job is one trust domain (a profiler it starts, py-spy, a
// torch elastic agent); the event is still journalled. A failed attempt
// (the kernel refused it) is alerted too, one severity lower.
#include <memory>

#include "rules/rules.h"

namespace fts::rules {
namespace {

class JobMemoryAccess : public Rule {
 public:
  const char* id() const override { return "job-memory-access"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kProcessAccess}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& a = std::get<decode::ProcessAccess>(in.record);
    const jobs::Job* target = in.jobs.find(a.target_job);
    if (!target || (in.job && in.job->id == target->id)) return;
    std::string what;
    switch (a.op) {
      case decode::AccessOp::kPtrace: what = "ptrace " + decode::ptrace_request_name(a.arg) + " of"; break;
      case decode::AccessOp::kVmRead: what = "process_vm_readv of"; break;
      case decode::AccessOp::kVmWrite: what = "process_vm_writev into"; break;
      case decode::AccessOp::kMemOpen: what = "open of /proc/" + std::to_string(a.target_tid) + "/mem of"; break;
    }
    std::string target_exe = "?";
    if (const state::Process* p = in.procs.find(state::key_of(a.target))) target_exe = p->exe;
    const decode::Header& h = a.hdr;
    std::string accessor = (in.process && !in.process->exe.empty() ? in.process->exe : "?") + " (pid " +
                           std::to_string(h.task.tgid) + ")";
    bool failed = a.result < 0;
    out->push_back({id(), failed ? "medium" : "high",
                    accessor + (in.job ? " of job " + in.job->name : "") + (failed ? " tried " : " did ") + what +
                        " " + target_exe + " (pid " + std::to_string(a.target.tgid) + ") in job " + target->name +
                        " (" + jobs::job_id_string(target->id) + ")" +
                        (failed ? ", refused (" + std::to_string(a.result) + ")" : ""),
                    std::string(decode::to_string(a.op)) + ":" + std::to_string(a.target.tgid), target});
  }
};

}  // namespace

std::unique_ptr<Rule> make_job_memory_access() { return std::make_unique<JobMemoryAccess>(); }

}  // namespace fts::rules
