// Loss since the last look, as records: never blind silently.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/time.h"
#include "health/health.h"
#include "rules/rules.h"

namespace fts::health {

Emitted LossWatch::sensor(const sensor::Counters& c, const Blind& b) {
  Emitted out;
  if (c.ringbuf_drops <= last_drops_ && c.tasks_full <= last_tasks_full_ &&
      b.fanotify_overflows <= last_fan_overflows_ && b.flows_evicted <= last_flows_evicted_)
    return out;
  uint64_t lost = c.ringbuf_drops - last_drops_;
  uint64_t untracked = c.tasks_full - last_tasks_full_;
  uint64_t overflows = b.fanotify_overflows - last_fan_overflows_;
  // A lower bound read twice may go down: only what it adds is new.
  uint64_t evicted = b.flows_evicted > last_flows_evicted_ ? b.flows_evicted - last_flows_evicted_ : 0;
  spdlog::error("sensor lost {} records (ring buffer full; {} in total); tasks map refusals: {} ({} in total); "
                "fanotify queue overflows: {}; flows evicted: {}",
                lost, c.ringbuf_drops, untracked, c.tasks_full, overflows, evicted);
  v1::Event e;
  e.set_time(rfc3339(now_wall_ns()));
  e.set_kind("sensor_drops");
  auto* h = e.mutable_sensor();
  h->set_ringbuf_drops(lost);
  h->set_ringbuf_drops_total(c.ringbuf_drops);
  for (auto v : c.ringbuf_drops_per_cpu) h->add_ringbuf_drops_per_cpu(v);
  h->set_tasks_map_full(c.tasks_full);
  h->set_tasks_map_full_new(untracked);
  h->set_tasks_map_capacity(b.tasks_capacity);
  h->set_fanotify_overflows(overflows);
  h->set_untracked_refused(c.untracked_refused);
  h->set_flows_evicted(evicted);
  out.events.push_back(std::move(e));
  // Blind spots are alerts too, one per kind of loss: the security team sees them in the SIEM.
  if (lost) out.alerts.push_back(rules::sensor_loss_alert(lost, c.ringbuf_drops, "the sensor's ring buffer overflowed"));
  if (untracked) out.alerts.push_back(rules::tasks_full_alert(untracked, c.tasks_full, b.tasks_capacity));
  if (overflows) out.alerts.push_back(rules::fanotify_overflow_alert(overflows, b.fanotify_overflows));
  if (evicted) out.alerts.push_back(rules::flows_evicted_alert(evicted, b.flows_evicted));
  last_drops_ = c.ringbuf_drops;
  last_tasks_full_ = c.tasks_full;
  last_fan_overflows_ = b.fanotify_overflows;
  last_flows_evicted_ = std::max(last_flows_evicted_, b.flows_evicted);
  return out;
}

Emitted LossWatch::outputs(const std::vector<std::unique_ptr<sinks::Sink>>& sinks, const sinks::Sink* journal) {
  Emitted out;
  for (const auto& sink : sinks) {
    uint64_t lost = sink->take_lost();
    if (!lost) continue;
    auto st = sink->stats();
    bool is_journal = sink.get() == journal;
    bool is_file = st.type == "file" || st.type == "stdout";
    if (is_journal)
      spdlog::error("journal {}: {} records lost ({} dropped in total: writer queue full; last error: {})", st.target,
                    lost, st.dropped, st.last_error.empty() ? "none" : st.last_error);
    else if (is_file)
      spdlog::error("output {}: {} records not written ({}; {} in total)", st.name, lost, st.last_error, st.dropped);
    else
      spdlog::error("output {}: {} records dropped (spool full; {} in total)", st.name, lost, st.dropped);
    out.alerts.push_back(is_file ? rules::file_loss_alert(st.name, st.target, lost, st.dropped, st.last_error)
                                 : rules::output_loss_alert(st.name, st.target, lost, st.dropped, is_journal));
  }
  return out;
}

Emitted LossWatch::fanotify(uint64_t unresolved_total) {
  Emitted out;
  if (unresolved_total <= last_unresolved_) return out;
  uint64_t lost = unresolved_total - last_unresolved_;
  last_unresolved_ = unresolved_total;
  spdlog::error("fanotify: {} changes under watched filesystems could not be placed ({} in total)", lost,
                unresolved_total);
  out.alerts.push_back(rules::control_alert(
      "high", "fanotify backstop: " + std::to_string(lost) +
                  " changes could not be resolved to their directory (open_by_handle_at failed: out of file "
                  "descriptors or memory); changes to protected trees may be unreported (" +
                  std::to_string(unresolved_total) + " since start)"));
  return out;
}

void emit(pipeline::Pipeline& pipeline, Emitted e) {
  if (e.empty()) return;
  for (auto& ev : e.events) pipeline.push_event(std::move(ev));
  for (auto& a : e.alerts) pipeline.push_alert(std::move(a));
  pipeline.flush();
}

void LossWatch::hashes(const hash::Stats& s) {
  if (s.overflow <= last_hash_overflow_) return;
  spdlog::error("hashing: {} files not hashed, the queue ({}) was full ({} in total)", s.overflow - last_hash_overflow_,
                s.capacity, s.overflow);
  last_hash_overflow_ = s.overflow;
}

}  // namespace fts::health
