#include "app/duties.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "app/survival.h"
#include "common/time.h"
#include "state/proc.h"

namespace fts::app {
namespace {

// systemd (Type=notify): the loop's heartbeat, and a one-line status.
void watchdog() { sd_notify(0, "WATCHDOG=1"); }

void notify_status(Parts& p) {
  uint64_t spooled = 0;
  for (const auto& s : p.sinks) spooled += s->stats().spooled;
  sd_notifyf(0, "STATUS=watching; %u jobs live; %llu events, %llu alerts out; %llu spooled",
             static_cast<unsigned>(p.jobs->live_count()), static_cast<unsigned long long>(p.stats.events),
             static_cast<unsigned long long>(p.stats.alerts), static_cast<unsigned long long>(spooled));
}

// Lost records are never silent: an event and an alert each, out through the pipeline.
void report_loss(Parts& p) {
  p.emit(p.loss.outputs(p.sinks, p.journal));
  health::LossWatch::Blind blind;
  blind.tasks_capacity = p.cfg.daemon.sensor().tasks_max();
  if (p.backstop) blind.fanotify_overflows = p.backstop->overflows();
  if (p.device_watch) blind.fanotify_overflows += p.device_watch->overflows();
  blind.flows_evicted = p.sensor->flows_evicted();
  p.emit(p.loss.sensor(p.sensor->counters(), blind));
  if (p.backstop) p.emit(p.loss.fanotify(p.backstop->unresolved()));
}

// New directories under watched globs, new sensitive files, new hard links.
void rescan_watched(Parts& p) {
  auto changed = p.watcher->rescan();
  if (!changed) return spdlog::error("watched data rescan: {}", changed.error());
  if (!*changed) return;
  p.backstop->forget_directories();
  if (auto st = p.backstop->watch_filesystems(p.watcher->change_watched_paths()); !st) spdlog::error("{}", st.error());
}

// Long flows: bytes so far, so a slow exfiltration shows before the socket closes.
void report_flows(Parts& p, Inputs& in) {
  in.drain_ring();  // closes already in the ring first
  for (auto& n : p.sensor->open_flows()) p.pipeline.push_record(std::move(n));
  p.pipeline.flush();
}

// Files changed a while ago without a close_write (mmap, a writer that keeps them open).
void settle_hashes(Parts& p, Inputs& in) {
  p.hashes->tick(now_boot_ns());
  in.drain_hashes();
  p.loss.hashes(p.hasher->stats());
}

// Memory freed after a burst (the first pass over a job's new files: the
// hasher's queue and its results, records waiting in the pipeline) stays in
// glibc's heap, counted in RSS, until handed back. Checked every second, so a
// burst's free pages go back while it lasts (its peak is what a soak's RSS
// limit sees). Trimmed when over 4 MiB lies free and 1 MiB more than at the
// last trim (or the least since): mallinfo2 still counts as free what a trim
// handed back, so the total alone would trim every second once a burst has
// passed (~110 madvise calls a second in the soak). A trim walks the free
// lists (under a millisecond here). One heap per process: one record of it.
void trim_heap() {
  constexpr size_t kFreeBeforeTrim = 4u << 20, kFreedBeforeTrim = 1u << 20;
  static size_t low = 0;  // free bytes after the last trim, or fewer since
  size_t free_now = mallinfo2().fordblks;
  if (free_now > kFreeBeforeTrim && free_now > low + kFreedBeforeTrim) {
    malloc_trim(0);
    low = mallinfo2().fordblks;
  } else if (free_now < low) {
    low = free_now;
  }
}

// Repeats counted instead of raised: one summary per alert that repeated,
// out in batches (an alert flood has 4,096 at once: ~14 MiB of whole alerts
// and their renderings when built together, tests/bench/soak.py), then the
// freed heap handed back at once (trim_heap), not at the next heap-trim tick.
void summarize_repeats(Parts& p) {
  constexpr size_t kBatch = 256;
  size_t n = 0;
  for (auto batch = p.rules.summaries(0, kBatch); !batch.empty(); batch = p.rules.summaries(0, kBatch)) {
    n += batch.size();
    p.emit({{}, std::move(batch)});
  }
  if (n > kBatch) trim_heap();
}

// What DNS answers allowed, past its TTL (the connect hook already ignores it).
void expire_dns(Parts& p) {
  if (size_t gone = p.egress->expire(now_boot_ns())) spdlog::debug("{} DNS-allowed addresses expired", gone);
}

// Names in egress lists: their addresses change (DNS load balancing, failover).
void refresh_egress(Parts& p) {
  if (auto st = p.egress->refresh(); !st) spdlog::error("egress names: {}", st.error());
}

// Processes whose exit the ring buffer lost: /proc says who is still there.
void sweep_processes(Parts& p) {
  const std::string root = p.proc_root();
  p.procs.sweep([&](const state::ProcKey& k) {
    auto st = state::read_stat(root, k.tgid);
    return st && st->start_ticks == k.start_ticks;
  });
}

uint32_t or_default(uint32_t v, uint32_t d) { return v ? v : d; }

}  // namespace

void schedule_duties(Scheduler& s, Parts& p, Inputs& in) {
  const auto& d = p.cfg.daemon;
  s.every("watchdog", 1, watchdog);
  s.every("loss-report", 1, [&p] { report_loss(p); });
  s.every("notify-status", 5, [&p] { notify_status(p); });
  s.every("watched-rescan", 10, [&p] { rescan_watched(p); });
  s.every("flow-report", or_default(d.sensor().flow_report_seconds(), 1), [&p, &in] { report_flows(p, in); });
  if (p.hashes) s.every("hash-settle", 1, [&p, &in] { settle_hashes(p, in); });
  s.every("repeat-summary", or_default(d.detection().repeat_summary_seconds(), 60), [&p] { summarize_repeats(p); });
  s.every("heap-trim", 1, trim_heap);
  s.every("dns-expire", 2, [&p] { expire_dns(p); });
  s.every("egress-refresh", 30, [&p] { refresh_egress(p); });
  s.every("process-sweep", 30, [&p] { sweep_processes(p); });
  s.every("jobs-save", 1, [&p] { save_jobs(p); });
}

}  // namespace fts::app
