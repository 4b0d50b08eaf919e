// The snapshot as `ftsentinel status` shows it.
#include "health/health.h"

namespace fts::health {
namespace {

void fill_hash(const HashState& h, v1::HashStatus* out) {
  out->set_submitted(h.stats.submitted);
  out->set_hashed(h.stats.hashed);
  out->set_cache_hits(h.stats.cache_hits);
  out->set_overflow(h.stats.overflow);
  out->set_errors(h.stats.errors);
  out->set_bytes(h.stats.bytes);
  out->set_queued(h.stats.queued);
  out->set_queue_capacity(h.stats.capacity);
  out->set_cache_entries(h.stats.cache_entries);
  out->set_files_followed(h.files_followed);
}

void fill_journal(const JournalState& j, v1::Status* out) {
  out->set_journal_path(j.path);
  auto* js = out->mutable_journal();
  js->set_written(j.stats.written);
  js->set_dropped(j.stats.dropped);
  js->set_queued(j.stats.queued);
  js->set_seals(j.seals);
  js->set_pruned_runs(j.pruned_runs);
  js->set_last_error(j.stats.last_error);
}

void fill_output(const sinks::SinkStats& st, v1::SinkStatus* o) {
  o->set_name(st.name);
  o->set_type(st.type);
  o->set_target(st.target);
  o->set_connected(st.connected);
  o->set_written(st.written);
  o->set_delivered(st.delivered);
  o->set_failed(st.failed);
  o->set_rejected(st.rejected);
  o->set_dropped(st.dropped);
  o->set_queued(st.queued);
  o->set_spooled(st.spooled);
  o->set_spool_bytes(st.spool_bytes);
  o->set_last_error(st.last_error);
}

}  // namespace

void fill_status(const Snapshot& s, v1::Status* out) {
  out->set_version(FTS_VERSION);
  out->set_pid(s.pid);
  out->set_started(s.started);
  for (const auto& p : s.programs) {
    auto* ps = out->add_programs();
    ps->set_name(p.name);
    ps->set_attach(p.attach);
    ps->set_id(p.id);
  }
  out->set_events_seen(s.pipeline.records);
  out->set_events_emitted(s.pipeline.events);
  out->set_decode_errors(s.pipeline.decode_errors);
  out->set_alerts_emitted(s.pipeline.alerts);
  out->set_ringbuf_drops(s.sensor.ringbuf_drops);
  for (auto v : s.sensor.ringbuf_drops_per_cpu) out->add_ringbuf_drops_per_cpu(v);
  out->set_tasks_map_full(s.sensor.tasks_full);
  out->set_tasks_map_capacity(s.tasks_capacity);
  out->set_untracked_refused(s.sensor.untracked_refused);
  out->set_fanotify_overflows(s.fanotify_overflows);
  out->set_flows_evicted(s.flows_evicted);
  out->set_jobs_live(s.jobs_live);
  out->set_tasks_tracked(static_cast<uint32_t>(s.tasks_tracked));
  for (const auto& p : s.policies) out->add_policies(p);
  out->set_policy_generation(s.reloads.generation);
  if (s.reloads.last) *out->mutable_last_reload() = *s.reloads.last;
  if (s.hash) fill_hash(*s.hash, out->mutable_hash());
  out->set_alert_repeats(s.alert_repeats);
  if (s.journal) fill_journal(*s.journal, out);
  for (const auto& st : s.outputs) fill_output(st, out->add_sinks());
  auto* c = out->mutable_control();
  c->set_accepted(s.control.accepted);
  c->set_live(s.control.live);
  c->set_refused_busy(s.control.refused_busy);
  c->set_refused_peer(s.control.refused_peer);
  c->set_dropped(s.control.dropped);
  c->set_idle_closed(s.control.idle_closed);
  c->set_accept_failures(s.control.accept_failures);
  out->set_fanotify_unresolved(s.fanotify_unresolved);
  out->set_kernel_records(s.sensor.events);
  out->set_record_events(s.pipeline.record_events);
  out->set_records_filtered(s.pipeline.filtered);
  out->set_records_merged(s.pipeline.merged);
  out->set_daemon_records(s.pipeline.pushed);
}

}  // namespace fts::health
