#include "app/daemon.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it
#include <boost/asio.hpp>
#include <csignal>

#include "common/time.h"
#include "control/server.h"
#include "jobs/jobs.h"
#include "pipeline/pipeline.h"
#include "sensor/sensor.h"
#include "sinks/sink.h"
#include "state/cgroups.h"
#include "state/proc.h"
#include "state/process_table.h"

namespace fts::app {
namespace {

namespace asio = boost::asio;

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

Result<std::vector<std::unique_ptr<sinks::Sink>>> make_sinks(const v1::DaemonConfig& c) {
  std::vector<std::unique_ptr<sinks::Sink>> out;
  for (const auto& o : c.outputs()) {
    if (o.type() == "stdout") {
      out.push_back(sinks::JsonLinesSink::to_stdout());
    } else if (o.type() == "file") {
      auto f = sinks::JsonLinesSink::to_file(o.path());
      if (!f) return make_error(f.error());
      out.push_back(std::move(*f));
    }
  }
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
    auto sensor = sensor::Sensor::start(so, [this](std::span<const uint8_t> b) { pipeline_.push(b); });
    if (!sensor) return fail(sensor.error());
    sensor_ = std::move(*sensor);
    auto s = make_sinks(d);
    if (!s) return fail(s.error());
    sinks_ = std::move(*s);

    jobs_ = std::make_unique<jobs::JobManager>(sensor_.get(), &procs_, &cgroups_, d.sensor().proc_root());
    pipeline_ = pipeline::Pipeline::standard(
        pipeline::Context{host_, &procs_, &cgroups_, jobs_.get(), &sinks_, &stats_});

    size_t n = state::bootstrap(d.sensor().proc_root(), &procs_);
    std::vector<jobs::JobChange> changes;
    jobs_->apply(cfg_.policies, &changes);
    pipeline_.push_job_changes(std::move(changes));
    pipeline_.flush();

    if (auto st = control_.listen({d.control().socket(), d.control().group()}); !st) return fail(st.error());

    ring_ = std::make_unique<asio::posix::stream_descriptor>(io_, dup(sensor_->ring_fd()));
    wait_ring();
    wait_signal();
    tick();

    std::string names;
    for (const auto& p : sensor_->programs()) names += (names.empty() ? "" : ", ") + p.attach;
    spdlog::info("ftsentineld ready: {} programs attached ({}); {} processes from /proc; {} policies; "
                 "control socket {}; cgroup v2 at {}",
                 sensor_->programs().size(), names, n, cfg_.policies->all().size(), d.control().socket(),
                 cgroups_.mount().empty() ? "(none)" : cgroups_.mount());
    // systemd (Type=notify): ready once programs are attached and the socket listens.
    sd_notifyf(0, "READY=1\nSTATUS=watching; %zu policies", cfg_.policies->all().size());
    io_.run();
    sd_notify(0, "STOPPING=1");

    control_.stop();
    ring_.reset();
    pipeline_.flush();
    sensor_.reset();  // destroys links: nothing stays attached
    spdlog::info("ftsentineld stopped: {} records, {} events out, {} ring-buffer drops", stats_.records,
                 stats_.events, last_drops_);
    return 0;
  }

 private:
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

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        spdlog::warn("SIGHUP: policy reload is not implemented in this version; keeping the loaded policies");
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
        last_drops_ = c.ringbuf_drops;
        last_tasks_full_ = c.tasks_full;
      }
      if (++ticks_ % 30 == 0) {
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
    for (const auto& p : cfg_.policies->all()) s->add_policies(p.spec.name());
  }

  config::Loaded cfg_;
  asio::io_context io_;
  std::string host_;
  uint64_t started_wall_ns_ = 0;
  state::ProcessTable procs_;
  state::CgroupTable cgroups_;
  std::vector<std::unique_ptr<sinks::Sink>> sinks_;
  pipeline::Stats stats_;
  pipeline::Pipeline pipeline_;
  std::unique_ptr<sensor::Sensor> sensor_;
  std::unique_ptr<jobs::JobManager> jobs_;
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
