// Reload (the request, SIGHUP) around reload::Reloader: records in the ring
// are handled under the policies they were written with, the job changes go
// out, the fanotify marks follow the new trees, and status remembers it.
#include <spdlog/spdlog.h>

#include "app/control_plane.h"
#include "common/time.h"

namespace fts::app {
namespace {

void follow_new_policies(Parts& p, const reload::Outcome& o) {
  p.backstop->forget_directories();  // classified under the old policies
  if (auto st = p.backstop->watch_filesystems(p.watcher->change_watched_paths()); !st)
    spdlog::error("reload: fanotify marks: {}", st.error());
  // The one daemon setting that applies live.
  if (o.daemon.log().level() != p.cfg.daemon.log().level()) {
    p.cfg.daemon.mutable_log()->set_level(o.daemon.log().level());
    spdlog::set_level(spdlog::level::from_str(o.daemon.log().level()));
  }
}

void remember(health::Reloads& r, const reload::Outcome& o) {
  v1::ReloadState st;
  st.set_time(rfc3339(now_wall_ns()));
  st.set_applied(o.applied);
  st.set_errors(static_cast<uint32_t>(o.errors.size()));
  st.set_first_error(o.errors.empty() ? "" : o.errors.front());
  r.last = std::move(st);
  (o.applied ? r.applied : r.refused)++;
}

}  // namespace

v1::ReloadReply reload_policies(Parts& p, Inputs& in) {
  in.drain_ring();
  std::vector<jobs::JobChange> changes;
  reload::Outcome o = p.reloader->reload(p.cfg.config_file, p.cfg.daemon, &changes);
  p.pipeline.push_job_changes(std::move(changes));
  p.pipeline.flush();
  if (o.applied) follow_new_policies(p, o);
  remember(p.reloads, o);
  v1::ReloadReply r;
  r.set_applied(o.applied);
  for (auto& e : o.errors) r.add_errors(e);
  for (auto& w : o.warnings) r.add_warnings(w);
  for (auto& n : o.notes) r.add_notes(n);
  for (auto& name : o.policies) r.add_policies(name);
  for (auto& f : o.policy_files) r.add_policy_files(f);
  r.set_generation(p.reloader->generation());
  return r;
}

}  // namespace fts::app
