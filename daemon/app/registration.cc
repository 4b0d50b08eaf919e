// `ftsentinel run`: the calling process becomes a job root; from a process
// already in a job, it stays in that job and is reported.
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "app/control_plane.h"
#include "common/time.h"
#include "render/event.h"
#include "render/process_view.h"
#include "rules/rules.h"
#include "state/proc.h"

namespace fts::app {
namespace {

// The job's name: given, else the command's basename.
std::string job_name(const v1::RegisterJobRequest& r) {
  std::string name = r.name();
  if (name.empty() && r.argv_size() > 0) {
    name = r.argv(0);
    if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  }
  return name;
}

// The nested run as the job's event and a sensor-tamper alert: the same job,
// the caller as the process. Asking for another policy is an attempt to
// leave the watch (high); the same policy is a wrapper nesting (medium).
health::Emitted nested_run_records(const jobs::Job& outer, const v1::RegisterJobRequest& r,
                                   const v1::Process& caller) {
  health::Emitted out;
  v1::Event e;
  e.set_time(rfc3339(now_wall_ns()));
  e.set_kind("nested_run");
  render::job_ref(outer, e.mutable_job());
  *e.mutable_process() = caller;
  auto* n = e.mutable_nested_run();
  n->set_policy(r.policy());
  n->set_name(job_name(r));
  for (const auto& a : r.argv()) n->add_argv(a);
  n->set_outcome("stayed");
  out.events.push_back(std::move(e));

  bool other_policy = r.policy() != outer.policy;
  std::string asked = "ftsentinel run --policy " + r.policy() + (r.name().empty() ? "" : " --name " + r.name());
  v1::Alert a = rules::control_alert(
      other_policy ? "high" : "medium",
      caller.exe() + " (pid " + std::to_string(caller.pid()) + ") in job " + jobs::job_id_string(outer.id) +
          " (policy " + outer.policy + ", " + outer.mode + ") ran '" + asked + "'" +
          (other_policy ? ": a job cannot leave its job or change its policy" : "") + "; the command stays in job " +
          jobs::job_id_string(outer.id) + " under policy " + outer.policy);
  render::job_ref(outer, a.mutable_job());
  *a.mutable_process() = caller;
  out.alerts.push_back(std::move(a));
  return out;
}

v1::Response nested_run(Parts& p, const jobs::Job& outer, const v1::RegisterJobRequest& r, state::ProcKey key) {
  v1::Process caller;
  if (const state::Process* proc = p.procs.find(key))
    render::render_process(*proc, p.procs, &p.cgroups, &caller);
  else
    caller.set_pid(key.tgid);
  spdlog::warn("pid {} in job {} (policy {}) asked for a new job under policy '{}': it stays in its job", key.tgid,
               jobs::job_id_string(outer.id), outer.policy, r.policy());
  p.emit(nested_run_records(outer, r, caller));
  v1::Response resp;
  resp.set_ok(true);
  auto* reply = resp.mutable_register_job();
  reply->set_job_id(jobs::job_id_string(outer.id));
  reply->set_nested(true);
  reply->set_policy(outer.policy);
  return resp;
}

}  // namespace

// The peer registers itself: its identity comes from the kernel (SO_PEERCRED
// and a pidfd that pins the process), never from the message.
v1::Response register_job(Parts& p, const v1::RegisterJobRequest& r, const control::Peer& peer) {
  if (peer.pid <= 0) return control::error_response("cannot identify the calling process");
  auto st = state::read_stat(p.proc_root(), static_cast<uint32_t>(peer.pid));
  if (!st) return control::error_response("the calling process is gone");
  // Still the same process? A live pidfd means the pid was not recycled.
  if (peer.pidfd < 0 || syscall(SYS_pidfd_send_signal, peer.pidfd, 0, nullptr, 0) != 0)
    return control::error_response("cannot pin the calling process (pidfd)");
  auto pid = static_cast<uint32_t>(peer.pid);
  // A job never leaves its job: the kernel entry of the outer job stays.
  if (const jobs::Job* outer = p.jobs->member_of(pid, st->start_ticks)) {
    state::load_with_ancestors(p.proc_root(), pid, &p.procs);
    return nested_run(p, *outer, r, {pid, st->start_ticks});
  }
  std::vector<jobs::JobChange> changes;
  auto job = p.jobs->register_run(pid, st->start_ticks, r.policy(), job_name(r), &changes, r.run_id());
  if (!job) return control::error_response(job.error());
  p.pipeline.push_job_changes(std::move(changes));
  p.pipeline.flush();
  v1::Response resp;
  resp.set_ok(true);
  resp.mutable_register_job()->set_job_id(jobs::job_id_string((*job)->id));
  return resp;
}

}  // namespace fts::app
