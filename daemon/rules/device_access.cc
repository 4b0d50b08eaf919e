// GPU and RDMA devices (daemon/devices):
//
// gpu-access-outside-job (T1005, AML.T0025): a process outside a running
// job opens a GPU or RDMA device the job holds, or reaches into a process
// of a job that holds a GPU (ptrace, process_vm_*, /proc/PID/mem: a GPU
// process's memory maps its device buffers). The job's policy names the
// monitoring agents that may (devices.agents) by executable path: a copy
// of nvidia-smi elsewhere is not the agent.
//
// rdma-egress (T1048, AML.T0025): a job whose policy says network.rdma:
// deny opens an RDMA device and has read protected, training or sensitive
// data, in either order: RDMA sends bypass every socket hook, so the open
// is the last thing the host sees of that path.
#include <map>
#include <memory>
#include <set>
#include <string>

#include "render/fields.h"
#include "rules/classify.h"
#include "rules/rules.h"

namespace fts::rules {
namespace {

// The policy's agents, or the default ones when it names none.
bool agent(const policy::Policy* p, const std::string& exe) {
  static const google::protobuf::RepeatedPtrField<std::string> kDefault = [] {
    google::protobuf::RepeatedPtrField<std::string> d;
    for (const char* x : {"/usr/bin/nvidia-smi", "/usr/bin/nv-hostengine", "/usr/bin/dcgm-exporter",
                          "/usr/local/bin/nvidia-smi", "/usr/local/bin/nv-hostengine", "/usr/local/bin/dcgm-exporter"})
      d.Add(x);
    return d;
  }();
  if (exe.empty()) return false;
  bool own = p && p->spec.devices().agents_size() > 0;
  return matches(own ? p->spec.devices().agents() : kDefault, exe);
}

std::string opener(const Input& in, const std::string& exe) {
  return (exe.empty() ? "?" : exe) + " (pid " + std::to_string(decode::header(in.record).task.tgid) + ")";
}

std::string holder_name(const jobs::Job& j) {
  return "job " + j.name + " (" + jobs::job_id_string(j.id) + ", run " + jobs::run_of(j) + ")";
}

// The same run: the opener's own job, or another job of the holder's run.
bool same_run(const Input& in, const jobs::Job& holder) {
  return in.job && (in.job->id == holder.id || jobs::run_of(*in.job) == jobs::run_of(holder));
}

class GpuAccessOutsideJob : public Rule {
 public:
  const char* id() const override { return "gpu-access-outside-job"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kDevice, decode::Kind::kProcessAccess}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    if (const auto* a = std::get_if<decode::ProcessAccess>(&in.record)) return on_access(*a, in, out);
    const auto& d = std::get<decode::Device>(in.record);
    std::string exe = !d.exe.empty() ? d.exe : in.process ? in.process->exe : "";
    for (const jobs::Job* j : in.jobs.live()) {
      if (!j->holds(d.major, d.minor) || same_run(in, *j) || agent(in.policies.at(j->policy_index), exe)) continue;
      out->push_back({id(), "high",
                      opener(in, exe) + (in.job ? " of job " + in.job->name : ", outside any job,") + " opened " +
                          decode::to_string(d.cls) + " device " + d.path + " (" + std::to_string(d.major) + ":" +
                          std::to_string(d.minor) + ") held by " + holder_name(*j),
                      d.path, j});
    }
  }

 private:
  void on_access(const decode::ProcessAccess& a, const Input& in, std::vector<Finding>* out) {
    const jobs::Job* target = in.jobs.find(a.target_job);
    if (!target || same_run(in, *target)) return;
    const jobs::JobDevice* gpu = nullptr;
    for (const auto& [num, dev] : target->devices)
      if (dev.cls == decode::DeviceClass::kGpu) gpu = &dev;
    std::string exe = in.process ? in.process->exe : "";
    if (!gpu || agent(in.policies.at(target->policy_index), exe)) return;
    out->push_back({id(), "high",
                    opener(in, exe) + " reached into pid " + std::to_string(a.target.tgid) + " (" +
                        decode::to_string(a.op) + ") of " + holder_name(*target) + ", which holds GPU " + gpu->path,
                    std::string(decode::to_string(a.op)) + ":" + std::to_string(a.target.tgid), target});
  }
};

class RdmaEgress : public Rule {
 public:
  const char* id() const override { return "rdma-egress"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kDevice, decode::Kind::kFile}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    if (!in.job || !in.policy || in.policy->spec.network().rdma() != "deny") return;
    State& s = state_[in.job->id];
    if (const auto* f = std::get_if<decode::File>(&in.record)) {
      constexpr uint32_t kData = decode::cls::kTraining | decode::cls::kProtected | decode::cls::kSensitive;
      if (f->op != decode::FileOp::kOpen || !(f->access & decode::access::kRead) || f->result < 0 ||
          !(f->classes & kData) || (f->access & decode::access::kDirectory) || !s.data.empty())
        return;
      s.data = in.file_path;
    } else {
      const auto& d = std::get<decode::Device>(in.record);
      if (d.cls != decode::DeviceClass::kRdma || d.source != decode::Source::kSyscall || !s.device.empty()) return;
      s.device = d.path;
    }
    if (s.data.empty() || s.device.empty() || s.raised) return;
    s.raised = true;
    if (state_.size() > 10000) state_.clear();  // bounded: jobs come and go
    out->push_back({id(), "critical",
                    "job " + in.job->name + " (" + jobs::job_id_string(in.job->id) + ") read " + s.data +
                        " and opened RDMA device " + s.device +
                        " while its policy says network.rdma: deny (RDMA sends bypass the socket hooks)",
                    s.device});
  }

 private:
  struct State {
    std::string data, device;
    bool raised = false;
  };
  std::map<uint64_t, State> state_;
};

}  // namespace

std::unique_ptr<Rule> make_gpu_access_outside_job() { return std::make_unique<GpuAccessOutsideJob>(); }
std::unique_ptr<Rule> make_rdma_egress() { return std::make_unique<RdmaEgress>(); }

}  // namespace fts::rules
