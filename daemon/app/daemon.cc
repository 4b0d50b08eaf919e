#include "app/daemon.h"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it
#include <boost/asio.hpp>
#include <csignal>
#include <ctime>
#include <filesystem>

#include "common/time.h"
#include "control/server.h"
#include "egress/egress.h"
#include "egress/runtime.h"
#include "fanotify/backstop.h"
#include "hash/hasher.h"
#include "hash/tracker.h"
#include "jobs/jobs.h"
#include "journal/sink.h"
#include "metrics/metrics.h"
#include "pipeline/pipeline.h"
#include "reload/reload.h"
#include "rules/rules.h"
#include "sensor/sensor.h"
#include "sinks/factory.h"
#include "sinks/sink.h"
#include "state/cgroups.h"
#include "state/proc.h"
#include "state/process_table.h"
#include "watch/watch.h"

namespace fts::app {
namespace {

namespace asio = boost::asio;

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// The configured outputs, then a counter of what passes (for metrics).
Result<std::vector<std::unique_ptr<sinks::Sink>>> make_sinks(const v1::DaemonConfig& c,
                                                             sinks::CountingSink** counting) {
  auto out = sinks::make_sinks(c);
  if (!out) return out;
  auto cs = std::make_unique<sinks::CountingSink>();
  *counting = cs.get();
  out->push_back(std::move(cs));
  return out;
}

// Everything the daemon holds while it runs.
class Daemon {
 public:
  explicit Daemon(config::Loaded cfg)
      : cfg_(std::move(cfg)),
        cgroups_(cfg_.daemon.sensor().cgroup_root().empty() ? state::find_cgroup2_mount()
                                                           : cfg_.daemon.sensor().cgroup_root()),
        signals_(io_, SIGINT, SIGTERM, SIGHUP),
        ticker_(io_),
        control_(io_, [this](const v1::Request& r, const control::Peer& p) { return handle(r, p); }) {}

  int run() {
    const auto& d = cfg_.daemon;
    host_ = d.host().empty() ? hostname() : d.host();
    started_wall_ns_ = now_wall_ns();
    sensor::Options so;
    so.ringbuf_mb = d.sensor().ringbuf_mb();
    so.pin = d.sensor().pin();
    so.pin_dir = d.sensor().pin_dir();
    so.daemon_tgid = static_cast<uint32_t>(getpid());
    so.cgroup2_root = d.sensor().cgroup_root();
    auto sensor = sensor::Sensor::start(so, [this](std::span<const uint8_t> b) { pipeline_.push(b); });
    if (!sensor) return fail(sensor.error());
    sensor_ = std::move(*sensor);
    auto s = make_sinks(d, &counting_);
    if (!s) return fail(s.error());
    sinks_ = std::move(*s);
    if (auto st = open_journal(); !st) return fail(st.error());

    jobs_ = std::make_unique<jobs::JobManager>(sensor_.get(), &procs_, &cgroups_, d.sensor().proc_root());
    watcher_ = std::make_unique<watch::Watcher>(sensor_.get());
    egress_ = std::make_unique<egress::Egress>(sensor_.get());
    if (auto st = egress_->apply(*cfg_.policies); !st) return fail("egress policy: " + st.error());
    pipeline::Context ctx{host_, &procs_, &cgroups_, jobs_.get(), watcher_.get(), d.sensor().proc_root(), &sinks_,
                          &stats_};
    ctx.totals = &totals_;
    ctx.names = &names_;
    ctx.egress = egress_.get();
    ctx.rules = &rules_;
    // Events are built only when the journal or an output takes them (`events: all`).
    ctx.render_events = journal_ != nullptr ||
                        std::any_of(d.outputs().begin(), d.outputs().end(),
                                    [](const v1::Output& o) { return o.events() != "alerts"; });
    const auto& det = d.detection();
    if (!det.hash_off()) {
      hash::Options ho;
      if (det.hash_queue()) ho.queue = det.hash_queue();
      if (det.hash_cache()) ho.cache = det.hash_cache();
      hasher_ = std::make_unique<hash::Hasher>(ho);
      hashes_ = std::make_unique<hash::Tracker>(hasher_.get());
      ctx.hashes = hashes_.get();
    }
    pipeline_ = pipeline::Pipeline::standard(ctx);
    reloader_ = std::make_unique<reload::Reloader>(reload::Reloader::Parts{jobs_.get(), egress_.get(), watcher_.get()});
    auto watched = watcher_->apply(watch::patterns_of(*cfg_.policies));
    if (!watched) return fail("watched data: " + watched.error());
    auto backstop = fanotify::Backstop::start(d.sensor().proc_root(), static_cast<uint32_t>(getpid()));
    if (!backstop) return fail("fanotify backstop: " + backstop.error());
    backstop_ = std::move(*backstop);
    if (auto st = backstop_->watch_filesystems(watcher_->change_watched_paths()); !st) return fail(st.error());

    size_t n = state::bootstrap(d.sensor().proc_root(), &procs_);
    std::vector<jobs::JobChange> changes;
    jobs_->apply(cfg_.policies, &changes);
    pipeline_.push_job_changes(std::move(changes));
    pipeline_.flush();

    if (auto st = control_.listen({d.control().socket(), d.control().group()}); !st) return fail(st.error());
    start_metrics();

    ring_ = std::make_unique<asio::posix::stream_descriptor>(io_, dup(sensor_->ring_fd()));
    wait_ring();
    fan_ = std::make_unique<asio::posix::stream_descriptor>(io_, dup(backstop_->fd()));
    wait_fanotify();
    if (hasher_) {
      hash_fd_ = std::make_unique<asio::posix::stream_descriptor>(io_, dup(hasher_->notify_fd()));
      wait_hashes();
    }
    wait_signal();
    tick();

    std::string names;
    for (const auto& p : sensor_->programs()) names += (names.empty() ? "" : ", ") + p.attach;
    spdlog::info("ftsentineld ready: {} programs attached; {} processes from /proc; {} policies; {} watched inodes; "
                 "control socket {}; cgroup v2 at {}",
                 sensor_->programs().size(), n, cfg_.policies->all().size(), *watched, d.control().socket(),
                 cgroups_.mount().empty() ? "(none)" : cgroups_.mount());
    spdlog::debug("programs: {}", names);
    // systemd (Type=notify): ready once programs are attached and the socket listens.
    sd_notifyf(0, "READY=1\nSTATUS=watching; %zu policies", cfg_.policies->all().size());
    io_.run();
    sd_notify(0, "STOPPING=1");
    if (metrics_) metrics_->stop();

    control_.stop();
    ring_.reset();
    fan_.reset();
    hash_fd_.reset();
    backstop_.reset();
    pipeline_.flush();
    sensor_.reset();  // destroys links: nothing stays attached
    spdlog::info("ftsentineld stopped: {} records, {} events out, {} alerts, {} ring-buffer drops", stats_.records,
                 stats_.events, alerts_emitted_, last_drops_);
    journal_ = nullptr;
    sinks_.clear();  // remote sinks stop and keep what is undelivered in their spools; the journal drains and seals
    return 0;
  }

 private:
  // The journal is one more consumer of events and alerts: it only enqueues
  // on this thread.
  Status open_journal() {
    const auto& j = cfg_.daemon.journal();
    if (j.path() == "off") return {};
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(j.path()).parent_path(), ec);
    auto key = journal::load_or_create_key(j.key_file());
    if (!key) return make_error(key.error());
    journal::SinkOptions o;
    o.path = j.path();
    o.key = std::move(*key);
    o.retention_days = j.retention_days();
    o.max_bytes = static_cast<uint64_t>(j.max_size_mb()) << 20;
    o.seal_interval_ms = j.seal_interval_seconds() * 1000;
    o.queue = j.queue();
    auto sink = journal::JournalSink::open(std::move(o));
    if (!sink) return make_error(sink.error());
    journal_ = sink->get();
    sinks_.push_back(std::move(*sink));
    return {};
  }

  int fail(const std::string& why) {
    spdlog::critical("{}", why);
    return 1;
  }

  void wait_ring() {
    ring_->async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
      if (ec) return;
      sensor_->consume();
      pipeline_.flush();
      wait_ring();
    });
  }

  void wait_fanotify() {
    fan_->async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
      if (ec) return;
      // The kernel's record of a change is written at syscall exit, before
      // fanotify queues the change: drain it first, so the richer syscall
      // report is the one the merge keeps.
      sensor_->consume();
      backstop_->read(*watcher_, [this](decode::File&& f) { pipeline_.push_record(std::move(f)); });
      pipeline_.flush();
      wait_fanotify();
    });
  }

  // Finished content hashes: file_hash events (and dataset-drift) through the pipeline.
  void wait_hashes() {
    hash_fd_->async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
      if (ec) return;
      drain_hashes();
      wait_hashes();
    });
  }

  void drain_hashes() {
    if (!hashes_) return;
    auto done = hashes_->collect();
    if (done.empty()) return;
    for (auto& h : done) pipeline_.push_record(std::move(h));
    pipeline_.flush();
  }

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reloading {}", cfg_.config_file);
        // systemd (Type=notify): RELOADING=1 with the monotonic time, READY=1 when done.
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   static_cast<unsigned long long>(ts.tv_sec) * 1000000ull + static_cast<unsigned long long>(ts.tv_nsec) / 1000);
        v1::ReloadReply r = reload();
        sd_notifyf(0, "READY=1\nSTATUS=watching; policy generation %llu%s",
                   static_cast<unsigned long long>(r.generation()), r.applied() ? "" : " (last reload refused)");
        return wait_signal();
      }
      spdlog::info("signal {}: stopping", sig);
      io_.stop();
    });
  }

  // Once a second: sensor health. Drops are logged, counted and reported as
  // an event; never silent.
  void tick() {
    ticker_.expires_after(std::chrono::seconds(1));
    ticker_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      sd_notify(0, "WATCHDOG=1");  // from the event loop: a stuck loop misses it
      report_sink_loss();
      if (ticks_ % 5 == 0) notify_status();
      auto c = sensor_->counters();
      if (c.ringbuf_drops > last_drops_ || c.tasks_full > last_tasks_full_) {
        uint64_t lost = c.ringbuf_drops - last_drops_;
        spdlog::error("sensor lost {} records (ring buffer full; {} in total); tasks map refusals: {}", lost,
                      c.ringbuf_drops, c.tasks_full);
        v1::Event e;
        e.set_time(rfc3339(now_wall_ns()));
        e.set_host(host_);
        e.set_kind("sensor_drops");
        auto* h = e.mutable_sensor();
        h->set_ringbuf_drops(lost);
        h->set_ringbuf_drops_total(c.ringbuf_drops);
        for (auto v : c.ringbuf_drops_per_cpu) h->add_ringbuf_drops_per_cpu(v);
        h->set_tasks_map_full(c.tasks_full);
        for (auto& s : sinks_) {
          s->write(e);
          s->flush();
        }
        // Blind spots are alerts too: the security team sees them in the SIEM.
        raise(rules_.sensor_tamper(lost, c.ringbuf_drops,
                                   lost ? "the sensor's ring buffer overflowed" : "the tasks map is full"));
        last_drops_ = c.ringbuf_drops;
        last_tasks_full_ = c.tasks_full;
      }
      if (++ticks_ % 10 == 0) {
        // New directories under watched globs, new sensitive files, new hard links.
        auto changed = watcher_->rescan();
        if (!changed) spdlog::error("watched data rescan: {}", changed.error());
        else if (*changed) {
          backstop_->forget_directories();
          if (auto st = backstop_->watch_filesystems(watcher_->change_watched_paths()); !st)
            spdlog::error("{}", st.error());
        }
      }
      if (ticks_ % std::max<uint32_t>(1, cfg_.daemon.sensor().flow_report_seconds()) == 0) {
        // Long flows: bytes so far, so a slow exfiltration shows before the socket closes.
        sensor_->consume();  // closes already in the ring first
        for (auto& n : sensor_->open_flows()) pipeline_.push_record(std::move(n));
        pipeline_.flush();
      }
      if (hashes_) {
        // Files changed a while ago without a close_write (mmap, a writer that keeps them open).
        hashes_->tick(now_boot_ns());
        drain_hashes();
        auto hs = hasher_->stats();
        if (hs.overflow > last_hash_overflow_) {
          spdlog::error("hashing: {} files not hashed, the queue ({}) was full ({} in total)",
                        hs.overflow - last_hash_overflow_, hs.capacity, hs.overflow);
          last_hash_overflow_ = hs.overflow;
        }
      }
      uint32_t every = cfg_.daemon.detection().repeat_summary_seconds();
      if (ticks_ % (every ? every : 60) == 0) {
        // Repeats counted instead of raised: one summary per alert that repeated.
        auto sums = rules_.summaries();
        for (auto& a : sums) raise(std::move(a));
        if (!sums.empty())
          for (auto& s : sinks_) s->flush();
      }
      if (ticks_ % 2 == 0) {
        // What DNS answers allowed, past its TTL (the connect hook already ignores it).
        size_t gone = egress_->expire(now_boot_ns());
        if (gone) spdlog::debug("{} DNS-allowed addresses expired", gone);
      }
      if (ticks_ % 30 == 0) {
        // Names in egress lists: their addresses change (DNS load balancing, failover).
        if (auto st = egress_->refresh(); !st) spdlog::error("egress names: {}", st.error());
      }
      if (ticks_ % 30 == 0) {
        const std::string root = cfg_.daemon.sensor().proc_root();
        procs_.sweep([&](const state::ProcKey& k) {
          auto st = state::read_stat(root, k.tgid);
          return st && st->start_ticks == k.start_ticks;
        });
      }
      tick();
    });
  }

  v1::Response handle(const v1::Request& req, const control::Peer& peer) {
    v1::Response resp;
    resp.set_ok(true);
    switch (req.body_case()) {
      case v1::Request::kRegisterJob: register_job(req.register_job(), peer, &resp); break;
      case v1::Request::kStatus: status(resp.mutable_status()); break;
      case v1::Request::kTestAlert: test_alert(req.test_alert(), &resp); break;
      case v1::Request::kReload: {
        auto* r = resp.mutable_reload();
        *r = reload();
        if (!r->applied()) {
          resp.set_ok(false);
          resp.set_error("reload refused (" + std::to_string(r->errors_size()) +
                         " error(s)); the running policies are unchanged");
        }
        break;
      }
      case v1::Request::kListJobs:
        for (const auto* j : jobs_->list(req.list_jobs().all())) pipeline::render_job(*j, resp.mutable_jobs()->add_jobs());
        break;
      default:
        resp.set_ok(false);
        resp.set_error("unknown request");
    }
    return resp;
  }

  // The peer registers itself: its identity comes from the kernel (SO_PEERCRED
  // and a pidfd that pins the process), never from the message.
  void register_job(const v1::RegisterJobRequest& r, const control::Peer& peer, v1::Response* resp) {
    auto refuse = [&](std::string why) {
      resp->set_ok(false);
      resp->set_error(std::move(why));
    };
    if (peer.pid <= 0) return refuse("cannot identify the calling process");
    const std::string root = cfg_.daemon.sensor().proc_root();
    auto st = state::read_stat(root, static_cast<uint32_t>(peer.pid));
    if (!st) return refuse("the calling process is gone");
    // Still the same process? A live pidfd means the pid was not recycled.
    if (peer.pidfd < 0 || syscall(SYS_pidfd_send_signal, peer.pidfd, 0, nullptr, 0) != 0)
      return refuse("cannot pin the calling process (pidfd)");
    std::string name = r.name();
    if (name.empty() && r.argv_size() > 0) {
      name = r.argv(0);
      if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
    }
    std::vector<jobs::JobChange> changes;
    auto job = jobs_->register_run(static_cast<uint32_t>(peer.pid), st->start_ticks, r.policy(), name, &changes);
    if (!job) return refuse(job.error());
    pipeline_.push_job_changes(std::move(changes));
    pipeline_.flush();
    resp->mutable_register_job()->set_job_id(jobs::job_id_string((*job)->id));
  }

  // The config and policies anew; on any error nothing changes. Records
  // already in the ring buffer are handled under the policies they were
  // written with, before the switch.
  v1::ReloadReply reload() {
    sensor_->consume();
    pipeline_.flush();
    std::vector<jobs::JobChange> changes;
    reload::Outcome o = reloader_->reload(cfg_.config_file, cfg_.daemon, &changes);
    pipeline_.push_job_changes(std::move(changes));
    pipeline_.flush();
    if (o.applied) {
      backstop_->forget_directories();  // classified under the old policies
      if (auto st = backstop_->watch_filesystems(watcher_->change_watched_paths()); !st)
        spdlog::error("reload: fanotify marks: {}", st.error());
      // The one daemon setting that applies live.
      if (o.daemon.log().level() != cfg_.daemon.log().level()) {
        cfg_.daemon.mutable_log()->set_level(o.daemon.log().level());
        spdlog::set_level(spdlog::level::from_str(o.daemon.log().level()));
      }
    }
    v1::ReloadReply r;
    r.set_applied(o.applied);
    for (auto& e : o.errors) r.add_errors(e);
    for (auto& w : o.warnings) r.add_warnings(w);
    for (auto& n : o.notes) r.add_notes(n);
    for (auto& p : o.policies) r.add_policies(p);
    r.set_generation(reloader_->generation());
    auto* st = &last_reload_;
    st->set_time(rfc3339(now_wall_ns()));
    st->set_applied(o.applied);
    st->set_errors(static_cast<uint32_t>(o.errors.size()));
    st->set_first_error(o.errors.empty() ? "" : o.errors.front());
    reloaded_ = true;
    (o.applied ? reloads_applied_ : reloads_refused_)++;
    return r;
  }

  void status(v1::Status* s) {
    s->set_version(FTS_VERSION);
    s->set_pid(static_cast<uint32_t>(getpid()));
    s->set_started(rfc3339(started_wall_ns_));
    for (const auto& p : sensor_->programs()) {
      auto* ps = s->add_programs();
      ps->set_name(p.name);
      ps->set_attach(p.attach);
      ps->set_id(p.id);
    }
    auto c = sensor_->counters();
    s->set_events_seen(stats_.records);
    s->set_events_emitted(stats_.events);
    s->set_decode_errors(stats_.decode_errors);
    s->set_ringbuf_drops(c.ringbuf_drops);
    for (auto v : c.ringbuf_drops_per_cpu) s->add_ringbuf_drops_per_cpu(v);
    s->set_tasks_map_full(c.tasks_full);
    s->set_jobs_live(static_cast<uint32_t>(jobs_->live_count()));
    s->set_tasks_tracked(static_cast<uint32_t>(sensor_->tasks_tracked()));
    for (const auto& p : jobs_->policies().all()) s->add_policies(p.spec.name());
    s->set_policy_generation(reloader_->generation());
    if (reloaded_) *s->mutable_last_reload() = last_reload_;
    s->set_alerts_emitted(alerts_emitted_);
    if (hasher_) {
      auto hs = hasher_->stats();
      auto* h = s->mutable_hash();
      h->set_submitted(hs.submitted);
      h->set_hashed(hs.hashed);
      h->set_cache_hits(hs.cache_hits);
      h->set_overflow(hs.overflow);
      h->set_errors(hs.errors);
      h->set_bytes(hs.bytes);
      h->set_queued(hs.queued);
      h->set_queue_capacity(hs.capacity);
      h->set_cache_entries(hs.cache_entries);
      h->set_files_followed(hashes_->files());
    }
    s->set_alert_repeats(rules_.suppressed());
    if (journal_) {
      s->set_journal_path(cfg_.daemon.journal().path());
      auto st = journal_->stats();
      auto* js = s->mutable_journal();
      js->set_written(st.written);
      js->set_dropped(st.dropped);
      js->set_queued(st.queued);
      js->set_seals(journal_->seals());
      js->set_pruned_runs(journal_->pruned_runs());
      js->set_last_error(st.last_error);
    }
    for (const auto& sink : sinks_) {
      auto st = sink->stats();
      if (st.name.empty()) continue;
      auto* o = s->add_sinks();
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
  }

  // Every alert goes through here to every output (each filters by its own
  // severity threshold). The id is what a receiver de-duplicates by.
  void raise(v1::Alert a) {
    if (a.id().empty()) a.set_id(sinks::make_alert_id());
    if (a.time().empty()) a.set_time(rfc3339(now_wall_ns()));
    if (a.host().empty()) a.set_host(host_);
    if (a.action().empty()) a.set_action("alerted");
    for (auto& s : sinks_) s->write_alert(a);
    alerts_emitted_++;
  }

  void test_alert(const v1::TestAlertRequest& r, v1::Response* resp) {
    uint32_t n = r.count() ? r.count() : 1;
    std::string sev = r.severity().empty() ? "low" : r.severity();
    if (n > 100000 || !sinks::valid_severity(sev)) {
      resp->set_ok(false);
      resp->set_error(n > 100000 ? "at most 100000 test alerts at once"
                                 : "unknown severity '" + sev + "' (info, low, medium, high, critical)");
      return;
    }
    auto* out = resp->mutable_test_alert();
    for (uint32_t i = 0; i < n; ++i) {
      v1::Alert a;
      a.set_id(sinks::make_alert_id());
      a.set_rule("test-alert");
      a.set_severity(sev);
      a.set_message(r.message().empty() ? "ftsentinel test alert " + std::to_string(i + 1) + "/" + std::to_string(n) +
                                              ": checking the SIEM wiring"
                                        : r.message());
      auto* p = a.mutable_process();
      p->set_pid(static_cast<uint32_t>(getpid()));
      p->set_exe("/proc/self/exe");
      if (n <= 1000) out->add_ids(a.id());
      raise(std::move(a));
    }
    for (auto& s : sinks_) s->flush();
    out->set_raised(n);
    spdlog::info("raised {} test alert(s), severity {}", n, sev);
  }

  // A remote sink that dropped records (spool full) says so in an alert of
  // its own, which reaches the SIEM once it is back: loss is never silent.
  void report_sink_loss() {
    for (auto& sink : sinks_) {
      uint64_t lost = sink->take_lost();
      if (!lost) continue;
      auto st = sink->stats();
      v1::Alert a;
      a.set_rule("sensor-tamper");
      a.set_severity("high");
      if (sink.get() == journal_) {
        // Journal loss: the forensic record of a run has a hole.
        spdlog::error("journal {}: {} records lost ({} dropped in total: writer queue full; last error: {})", st.target,
                      lost, st.dropped, st.last_error.empty() ? "none" : st.last_error);
        a.set_message("journal loss: " + std::to_string(lost) + " records did not reach the journal " + st.target +
                      " (writer queue full or write failed; " + std::to_string(st.dropped) + " dropped in total)");
      } else {
        spdlog::error("output {}: {} records dropped (spool full; {} in total)", st.name, lost, st.dropped);
        a.set_message("output " + st.name + " (" + st.target + ") dropped " + std::to_string(lost) +
                      " undelivered records, oldest first: its spool was full (" + std::to_string(st.dropped) +
                      " in total)");
      }
      a.mutable_mitre()->add_attack("T1562.001");
      raise(std::move(a));
    }
    for (auto& s : sinks_) s->flush();
  }

  void notify_status() {
    uint64_t spooled = 0;
    for (const auto& s : sinks_) spooled += s->stats().spooled;
    sd_notifyf(0, "STATUS=watching; %u jobs live; %llu events, %llu alerts out; %llu spooled", 
               static_cast<unsigned>(jobs_->live_count()), static_cast<unsigned long long>(stats_.events),
               static_cast<unsigned long long>(alerts_emitted_), static_cast<unsigned long long>(spooled));
  }

  void start_metrics() {
    const std::string& listen = cfg_.daemon.metrics().listen();
    if (listen.empty() || listen == "off") return;
    metrics_ = std::make_unique<metrics::Server>(io_, [this] { return render_metrics(); });
    // Not fatal: a node runs without its metrics rather than without its sensor.
    if (auto st = metrics_->listen(listen); !st) {
      spdlog::error("{}; metrics are off", st.error());
      metrics_.reset();
    }
  }

  std::string render_metrics() {
    metrics::Exposition x;
    x.family("ftsentinel_records_total", "counter", "Records read from the kernel ring buffer.");
    x.sample("ftsentinel_records_total", static_cast<double>(stats_.records));
    x.family("ftsentinel_decode_errors_total", "counter", "Records that could not be decoded.");
    x.sample("ftsentinel_decode_errors_total", static_cast<double>(stats_.decode_errors));
    x.family("ftsentinel_events_total", "counter", "Events emitted, by kind.");
    for (const auto& [kind, n] : counting_->events_by_kind())
      x.sample("ftsentinel_events_total", {{"kind", kind}}, static_cast<double>(n));
    x.family("ftsentinel_alerts_total", "counter", "Alerts raised, by rule and severity.");
    for (const auto& [key, n] : counting_->alerts_by_rule())
      x.sample("ftsentinel_alerts_total", {{"rule", key.first}, {"severity", key.second}}, static_cast<double>(n));
    auto c = sensor_->counters();
    x.family("ftsentinel_ringbuf_drops_total", "counter", "Records the kernel could not queue (ring buffer full), by CPU.");
    for (size_t i = 0; i < c.ringbuf_drops_per_cpu.size(); ++i)
      x.sample("ftsentinel_ringbuf_drops_total", {{"cpu", std::to_string(i)}},
               static_cast<double>(c.ringbuf_drops_per_cpu[i]));
    x.family("ftsentinel_tasks_map_full_total", "counter", "Tasks the kernel could not track (map full).");
    x.sample("ftsentinel_tasks_map_full_total", static_cast<double>(c.tasks_full));
    x.family("ftsentinel_policy_generation", "gauge", "Policy generation in force (1 at start, +1 per applied reload).");
    x.sample("ftsentinel_policy_generation", static_cast<double>(reloader_->generation()));
    x.family("ftsentinel_reloads_total", "counter", "Reloads asked for (SIGHUP, ftsentinel reload), by result.");
    x.sample("ftsentinel_reloads_total", {{"result", "applied"}}, static_cast<double>(reloads_applied_));
    x.sample("ftsentinel_reloads_total", {{"result", "refused"}}, static_cast<double>(reloads_refused_));
    x.family("ftsentinel_jobs_live", "gauge", "Jobs running now.");
    x.sample("ftsentinel_jobs_live", static_cast<double>(jobs_->live_count()));
    x.family("ftsentinel_tasks_tracked", "gauge", "Tasks in the kernel's job map.");
    x.sample("ftsentinel_tasks_tracked", static_cast<double>(sensor_->tasks_tracked()));
    if (hasher_) {
      auto hs = hasher_->stats();
      x.family("ftsentinel_hash_files_total", "counter", "Files whose content hash was asked for, by outcome.");
      x.sample("ftsentinel_hash_files_total", {{"outcome", "hashed"}}, static_cast<double>(hs.hashed));
      x.sample("ftsentinel_hash_files_total", {{"outcome", "cached"}}, static_cast<double>(hs.cache_hits));
      x.sample("ftsentinel_hash_files_total", {{"outcome", "error"}}, static_cast<double>(hs.errors));
      x.sample("ftsentinel_hash_files_total", {{"outcome", "overflow"}}, static_cast<double>(hs.overflow));
      x.family("ftsentinel_hash_bytes_total", "counter", "Bytes read to hash files.");
      x.sample("ftsentinel_hash_bytes_total", static_cast<double>(hs.bytes));
      x.family("ftsentinel_hash_queue_depth", "gauge", "Files waiting to be hashed.");
      x.sample("ftsentinel_hash_queue_depth", static_cast<double>(hs.queued));
      x.family("ftsentinel_hash_cache_entries", "gauge", "Hashes of unchanged files kept.");
      x.sample("ftsentinel_hash_cache_entries", static_cast<double>(hs.cache_entries));
    }
    x.family("ftsentinel_alert_repeats_total", "counter", "Alerts counted as repeats instead of raised.");
    x.sample("ftsentinel_alert_repeats_total", static_cast<double>(rules_.suppressed()));
    std::vector<sinks::SinkStats> st;
    for (const auto& s : sinks_)
      if (auto one = s->stats(); !one.name.empty()) st.push_back(std::move(one));
    auto per_sink = [&](const char* name, const char* type, const char* help, auto get) {
      x.family(name, type, help);
      for (const auto& s : st)
        x.sample(name, {{"sink", s.name}, {"type", s.type}}, static_cast<double>(get(s)));
    };
    per_sink("ftsentinel_sink_written_total", "counter", "Records accepted by the output.",
             [](const sinks::SinkStats& s) { return s.written; });
    per_sink("ftsentinel_sink_delivered_total", "counter", "Records the destination has.",
             [](const sinks::SinkStats& s) { return s.delivered; });
    per_sink("ftsentinel_sink_deliveries_failed_total", "counter",
             "Delivery attempts that failed (connect, TLS, write, non-2xx, timeout).",
             [](const sinks::SinkStats& s) { return s.failed; });
    per_sink("ftsentinel_sink_rejected_total", "counter", "Records the destination refused for good (HTTP 4xx).",
             [](const sinks::SinkStats& s) { return s.rejected; });
    per_sink("ftsentinel_sink_dropped_total", "counter", "Records lost because the spool or queue was full.",
             [](const sinks::SinkStats& s) { return s.dropped; });
    per_sink("ftsentinel_sink_queue_depth", "gauge", "Records waiting in memory for the spool.",
             [](const sinks::SinkStats& s) { return s.queued; });
    per_sink("ftsentinel_sink_spool_records", "gauge", "Records on disk, not yet delivered.",
             [](const sinks::SinkStats& s) { return s.spooled; });
    per_sink("ftsentinel_sink_spool_bytes", "gauge", "Bytes of the on-disk spool.",
             [](const sinks::SinkStats& s) { return s.spool_bytes; });
    per_sink("ftsentinel_sink_up", "gauge", "1 when the output has a live connection (or an open file).",
             [](const sinks::SinkStats& s) { return s.connected ? 1 : 0; });
    return x.take();
  }

  config::Loaded cfg_;
  asio::io_context io_;
  std::string host_;
  uint64_t started_wall_ns_ = 0;
  state::ProcessTable procs_;
  state::CgroupTable cgroups_;
  std::vector<std::unique_ptr<sinks::Sink>> sinks_;
  sinks::CountingSink* counting_ = nullptr;  // owned by sinks_
  journal::JournalSink* journal_ = nullptr;  // owned by sinks_; null when off
  std::unique_ptr<metrics::Server> metrics_;
  uint64_t alerts_emitted_ = 0;
  pipeline::Stats stats_;
  pipeline::Pipeline pipeline_;
  std::unique_ptr<sensor::Sensor> sensor_;
  std::unique_ptr<jobs::JobManager> jobs_;
  std::unique_ptr<watch::Watcher> watcher_;
  rules::Engine rules_;
  std::unique_ptr<egress::Egress> egress_;
  egress::Totals totals_;
  egress::Names names_;

  std::unique_ptr<hash::Hasher> hasher_;
  std::unique_ptr<hash::Tracker> hashes_;
  std::unique_ptr<asio::posix::stream_descriptor> hash_fd_;
  uint64_t last_hash_overflow_ = 0;
  std::unique_ptr<reload::Reloader> reloader_;
  v1::ReloadState last_reload_;
  bool reloaded_ = false;
  uint64_t reloads_applied_ = 0, reloads_refused_ = 0;

  std::unique_ptr<fanotify::Backstop> backstop_;
  std::unique_ptr<asio::posix::stream_descriptor> fan_;
  std::unique_ptr<asio::posix::stream_descriptor> ring_;
  asio::signal_set signals_;
  asio::steady_timer ticker_;
  control::Server control_;
  uint64_t last_drops_ = 0;
  uint64_t last_tasks_full_ = 0;
  uint64_t ticks_ = 0;
};

}  // namespace

int run_daemon(DaemonOptions opts) {
  Daemon d(std::move(opts.config));
  return d.run();
}

}  // namespace fts::app
