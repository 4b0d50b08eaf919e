// `ftsentinel run`: the calling process becomes a job root.
#include <sys/syscall.h>
#include <unistd.h>

#include "app/control_plane.h"
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
  std::vector<jobs::JobChange> changes;
  auto job = p.jobs->register_run(static_cast<uint32_t>(peer.pid), st->start_ticks, r.policy(), job_name(r), &changes);
  if (!job) return control::error_response(job.error());
  p.pipeline.push_job_changes(std::move(changes));
  p.pipeline.flush();
  v1::Response resp;
  resp.set_ok(true);
  resp.mutable_register_job()->set_job_id(jobs::job_id_string((*job)->id));
  return resp;
}

}  // namespace fts::app
