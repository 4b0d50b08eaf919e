// The composition root: construct, start, run the loop, stop.
#include "app/daemon.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it
#include <boost/asio.hpp>
#include <chrono>
#include <csignal>
#include <ctime>

#include "app/barrier.h"
#include "app/control_plane.h"
#include "app/duties.h"
#include "app/inputs.h"
#include "app/parts.h"
#include "app/survival.h"
#include "common/scheduler.h"
#include "metrics/metrics.h"

namespace fts::app {
namespace {

namespace asio = boost::asio;

class Daemon {
 public:
  explicit Daemon(config::Loaded cfg)
      : parts_(std::move(cfg)),
        inputs_(io_, parts_),
        barrier_(io_, parts_, inputs_),
        control_(io_, parts_, inputs_, barrier_),
        duties_(io_, std::chrono::seconds(1)),
        signals_(io_, SIGINT, SIGTERM, SIGHUP) {}

  int run() {
    if (auto st = start(); !st) {
      spdlog::critical("{}", st.error());
      return 1;
    }
    announce_ready();
    io_.run();
    stop();
    return 0;
  }

 private:
  Status start() {
    if (auto st = parts_.start(); !st) return st;
    if (auto st = control_.listen(); !st) return st;
    start_metrics();
    inputs_.start();
    wait_signal();
    schedule_duties(duties_, parts_, inputs_);
    duties_.start();
    return {};
  }

  void announce_ready() {
    const auto& d = parts_.cfg.daemon;
    std::string names;
    for (const auto& p : parts_.sensor->programs()) names += (names.empty() ? "" : ", ") + p.attach;
    size_t policies = parts_.cfg.policies->all().size();
    spdlog::info("ftsentineld ready: {} programs attached; {} processes from /proc; {} policies; {} watched inodes; "
                 "control socket {}; cgroup v2 at {}",
                 parts_.sensor->programs().size(), parts_.bootstrapped, policies, parts_.reloader->watched_inodes(),
                 d.control().socket(), parts_.cgroups.mount().empty() ? "(none)" : parts_.cgroups.mount());
    spdlog::debug("programs: {}", names);
    // systemd (Type=notify): ready once programs are attached and the socket listens.
    sd_notifyf(0, "READY=1\nSTATUS=watching; %zu policies", policies);
  }

  void stop() {
    sd_notify(0, "STOPPING=1");
    if (metrics_) metrics_->stop();
    control_.stop();
    duties_.stop();
    inputs_.stop();
    drain();
    parts_.backstop.reset();
    parts_.sensor.reset();  // destroys links: nothing stays attached
    spdlog::info("ftsentineld stopped: {} records, {} events out, {} alerts, {} ring-buffer drops", parts_.stats.records,
                 parts_.stats.events, parts_.stats.alerts, parts_.loss.ringbuf_drops());
    parts_.journal = nullptr;
    parts_.sinks.clear();  // remote sinks keep what is undelivered in their spools; the journal drains and seals
  }

  // What the kernel said before the stop goes out before the exit: the
  // record of the signal that stops us (a job's SIGTERM is sensor-tamper),
  // the last changes, finished hashes and what was lost. Then the jobs are
  // saved for the next daemon.
  void drain() {
    inputs_.read_fanotify();  // fanotify, then the ring buffer, in the order the loop keeps
    inputs_.drain_hashes();
    parts_.emit(parts_.loss.sensor(parts_.sensor->counters()));
    parts_.emit(parts_.loss.outputs(parts_.sinks, parts_.journal));
    parts_.pipeline.flush();
    save_jobs(parts_);
  }

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig != SIGHUP) {
        spdlog::info("signal {}: stopping", sig);
        return io_.stop();
      }
      spdlog::info("SIGHUP: reloading {}", parts_.cfg.config_file);
      // systemd (Type=notify): RELOADING=1 with the monotonic time, READY=1 when done.
      timespec ts{};
      clock_gettime(CLOCK_MONOTONIC, &ts);
      sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                 static_cast<unsigned long long>(ts.tv_sec) * 1000000ull +
                     static_cast<unsigned long long>(ts.tv_nsec) / 1000);
      v1::ReloadReply r = reload_policies(parts_, inputs_);
      sd_notifyf(0, "READY=1\nSTATUS=watching; policy generation %llu%s",
                 static_cast<unsigned long long>(r.generation()), r.applied() ? "" : " (last reload refused)");
      wait_signal();
    });
  }

  void start_metrics() {
    const std::string& listen = parts_.cfg.daemon.metrics().listen();
    if (listen.empty() || listen == "off") return;
    // Not fatal: a node runs without its metrics rather than without its sensor.
    const auto& d = parts_.cfg.daemon;
    auto token = metrics::load_token(d.metrics().token_file(), d.control().group());
    if (!token) return spdlog::error("{}; metrics are off", token.error());
    metrics_ = std::make_unique<metrics::Server>(io_, [this] { return health::prometheus(parts_.snapshot()); });
    if (auto st = metrics_->listen(listen, *token); !st) {
      spdlog::error("{}; metrics are off", st.error());
      metrics_.reset();
    }
  }

  asio::io_context io_;
  Parts parts_;
  Inputs inputs_;
  Barrier barrier_;
  ControlPlane control_;
  Scheduler duties_;
  asio::signal_set signals_;
  std::unique_ptr<metrics::Server> metrics_;
};

}  // namespace

int run_daemon(DaemonOptions opts) {
  Daemon d(std::move(opts.config));
  return d.run();
}

}  // namespace fts::app
