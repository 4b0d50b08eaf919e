// The snapshot as Prometheus text (GET /metrics).
#include "health/health.h"
#include "metrics/metrics.h"

namespace fts::health {
namespace {

double num(uint64_t v) { return static_cast<double>(v); }

void pipeline_families(const Snapshot& s, metrics::Exposition& x) {
  x.family("ftsentinel_records_total", "counter", "Records read from the kernel ring buffer.");
  x.sample("ftsentinel_records_total", num(s.pipeline.records));
  x.family("ftsentinel_decode_errors_total", "counter", "Records that could not be decoded.");
  x.sample("ftsentinel_decode_errors_total", num(s.pipeline.decode_errors));
  x.family("ftsentinel_events_total", "counter", "Events emitted, by kind.");
  if (s.counts)
    for (const auto& [kind, n] : s.counts->events_by_kind())
      x.sample("ftsentinel_events_total", {{"kind", kind}}, num(n));
  x.family("ftsentinel_alerts_total", "counter", "Alerts raised, by rule and severity.");
  if (s.counts)
    for (const auto& [key, n] : s.counts->alerts_by_rule())
      x.sample("ftsentinel_alerts_total", {{"rule", key.first}, {"severity", key.second}}, num(n));
}

void sensor_families(const Snapshot& s, metrics::Exposition& x) {
  x.family("ftsentinel_ringbuf_drops_total", "counter", "Records the kernel could not queue (ring buffer full), by CPU.");
  for (size_t i = 0; i < s.sensor.ringbuf_drops_per_cpu.size(); ++i)
    x.sample("ftsentinel_ringbuf_drops_total", {{"cpu", std::to_string(i)}}, num(s.sensor.ringbuf_drops_per_cpu[i]));
  x.family("ftsentinel_tasks_map_full_total", "counter", "Tasks the kernel could not track (map full).");
  x.sample("ftsentinel_tasks_map_full_total", num(s.sensor.tasks_full));
  x.family("ftsentinel_tasks_map_capacity", "gauge", "Entries of the kernel's job map (sensor.tasks_max).");
  x.sample("ftsentinel_tasks_map_capacity", num(s.tasks_capacity));
  x.family("ftsentinel_untracked_refused_total", "counter",
           "Connects and sends of untracked children of enforce-mode jobs refused (after the map was full).");
  x.sample("ftsentinel_untracked_refused_total", num(s.sensor.untracked_refused));
  x.family("ftsentinel_fanotify_overflows_total", "counter",
           "Times the fanotify queue overflowed: changes on watched filesystems lost.");
  x.sample("ftsentinel_fanotify_overflows_total", num(s.fanotify_overflows));
  x.family("ftsentinel_flows_evicted_total", "counter",
           "Job flows the full flows map evicted before their sockets closed (their bytes lost), at least.");
  x.sample("ftsentinel_flows_evicted_total", num(s.flows_evicted));
  x.family("ftsentinel_policy_generation", "gauge", "Policy generation in force (1 at start, +1 per applied reload).");
  x.sample("ftsentinel_policy_generation", num(s.reloads.generation));
  x.family("ftsentinel_reloads_total", "counter", "Reloads asked for (SIGHUP, ftsentinel reload), by result.");
  x.sample("ftsentinel_reloads_total", {{"result", "applied"}}, num(s.reloads.applied));
  x.sample("ftsentinel_reloads_total", {{"result", "refused"}}, num(s.reloads.refused));
  x.family("ftsentinel_jobs_live", "gauge", "Jobs running now.");
  x.sample("ftsentinel_jobs_live", num(s.jobs_live));
  x.family("ftsentinel_job_devices", "gauge", "GPU and RDMA devices each live job holds (1 per device node).");
  for (const auto& d : s.job_devices)
    x.sample("ftsentinel_job_devices", {{"job", d.job}, {"run", d.run}, {"device", d.device}, {"class", d.cls}}, 1.0);
  x.family("ftsentinel_tasks_tracked", "gauge", "Tasks in the kernel's job map.");
  x.sample("ftsentinel_tasks_tracked", num(s.tasks_tracked));
}

void hash_families(const HashState& h, metrics::Exposition& x) {
  x.family("ftsentinel_hash_files_total", "counter", "Files whose content hash was asked for, by outcome.");
  x.sample("ftsentinel_hash_files_total", {{"outcome", "hashed"}}, num(h.stats.hashed));
  x.sample("ftsentinel_hash_files_total", {{"outcome", "cached"}}, num(h.stats.cache_hits));
  x.sample("ftsentinel_hash_files_total", {{"outcome", "error"}}, num(h.stats.errors));
  x.sample("ftsentinel_hash_files_total", {{"outcome", "overflow"}}, num(h.stats.overflow));
  x.family("ftsentinel_hash_bytes_total", "counter", "Bytes read to hash files.");
  x.sample("ftsentinel_hash_bytes_total", num(h.stats.bytes));
  x.family("ftsentinel_hash_queue_depth", "gauge", "Files waiting to be hashed.");
  x.sample("ftsentinel_hash_queue_depth", num(h.stats.queued));
  x.family("ftsentinel_hash_cache_entries", "gauge", "Hashes of unchanged files kept.");
  x.sample("ftsentinel_hash_cache_entries", num(h.stats.cache_entries));
}

// One family per output counter: (name, type, help, field).
struct OutputFamily {
  const char* name;
  const char* type;
  const char* help;
  uint64_t (*get)(const sinks::SinkStats&);
};

const OutputFamily kOutputFamilies[] = {
    {"ftsentinel_sink_written_total", "counter", "Records accepted by the output.",
     [](const sinks::SinkStats& s) { return s.written; }},
    {"ftsentinel_sink_delivered_total", "counter", "Records the destination has.",
     [](const sinks::SinkStats& s) { return s.delivered; }},
    {"ftsentinel_sink_deliveries_failed_total", "counter",
     "Delivery attempts that failed (connect, TLS, write, non-2xx, timeout).",
     [](const sinks::SinkStats& s) { return s.failed; }},
    {"ftsentinel_sink_rejected_total", "counter", "Records the destination refused for good (HTTP 4xx).",
     [](const sinks::SinkStats& s) { return s.rejected; }},
    {"ftsentinel_sink_dropped_total", "counter", "Records lost because the spool or queue was full.",
     [](const sinks::SinkStats& s) { return s.dropped; }},
    {"ftsentinel_sink_queue_depth", "gauge", "Records waiting in memory for the spool.",
     [](const sinks::SinkStats& s) { return s.queued; }},
    {"ftsentinel_sink_spool_records", "gauge", "Records on disk, not yet delivered.",
     [](const sinks::SinkStats& s) { return s.spooled; }},
    {"ftsentinel_sink_spool_bytes", "gauge", "Bytes of the on-disk spool.",
     [](const sinks::SinkStats& s) { return s.spool_bytes; }},
    {"ftsentinel_sink_up", "gauge", "1 when the output has a live connection (or an open file).",
     [](const sinks::SinkStats& s) { return uint64_t{s.connected ? 1u : 0u}; }},
};

void control_families(const Snapshot& s, metrics::Exposition& x) {
  const auto& c = s.control;
  x.family("ftsentinel_control_sessions", "gauge", "Control-socket sessions open now.");
  x.sample("ftsentinel_control_sessions", num(c.live));
  x.family("ftsentinel_control_closed_total", "counter", "Control-socket sessions refused or closed, by why.");
  for (const auto& [why, n] : {std::pair{"busy", c.refused_busy}, {"peer", c.refused_peer}, {"bad_client", c.dropped},
                               {"idle", c.idle_closed}})
    x.sample("ftsentinel_control_closed_total", {{"why", why}}, num(n));
  x.family("ftsentinel_control_accept_failures_total", "counter", "accept(2) failures (out of fds or memory).");
  x.sample("ftsentinel_control_accept_failures_total", num(c.accept_failures));
  x.family("ftsentinel_fanotify_unresolved_total", "counter",
           "fanotify changes whose directory could not be opened by handle.");
  x.sample("ftsentinel_fanotify_unresolved_total", num(s.fanotify_unresolved));
}

}  // namespace

std::string prometheus(const Snapshot& s) {
  metrics::Exposition x;
  pipeline_families(s, x);
  sensor_families(s, x);
  if (s.hash) hash_families(*s.hash, x);
  control_families(s, x);
  x.family("ftsentinel_alert_repeats_total", "counter", "Alerts counted as repeats instead of raised.");
  x.sample("ftsentinel_alert_repeats_total", num(s.alert_repeats));
  for (const auto& f : kOutputFamilies) {
    x.family(f.name, f.type, f.help);
    for (const auto& o : s.outputs) x.sample(f.name, {{"sink", o.name}, {"type", o.type}}, num(f.get(o)));
  }
  return x.take();
}

}  // namespace fts::health
