#pragma once
// Every module the daemon runs, built from the config in dependency order and
// owned in one place. The event loop's pieces (inputs, duties, control plane)
// borrow them. Nothing outside app/ includes this.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "control/server.h"
#include "devices/devices.h"
#include "egress/egress.h"
#include "fanotify/backstop.h"
#include "hash/hasher.h"
#include "hash/tracker.h"
#include "health/health.h"
#include "jobs/jobs.h"
#include "journal/sink.h"
#include "pipeline/pipeline.h"
#include "reload/reload.h"
#include "rules/rules.h"
#include "sensor/sensor.h"
#include "sinks/factory.h"
#include "sinks/sink.h"
#include "state/cgroups.h"
#include "state/process_table.h"
#include "watch/watch.h"
#include "writers/identity.h"

namespace fts::app {

struct Parts {
  explicit Parts(config::Loaded c);
  Parts(const Parts&) = delete;  // the pipeline holds pointers into it
  Parts& operator=(const Parts&) = delete;

  // Builds and starts everything, in order; the error names the step.
  Status start();
  // Records the daemon raises about itself (loss, test alerts) go out
  // through the pipeline's sink stage, counted with every other record.
  void emit(health::Emitted e);
  health::Snapshot snapshot() const;
  const std::string& proc_root() const { return cfg.daemon.sensor().proc_root(); }

  config::Loaded cfg;
  std::string host;
  uint64_t started_wall_ns = 0;
  state::ProcessTable procs;
  state::CgroupTable cgroups;
  std::unique_ptr<sensor::Sensor> sensor;
  std::vector<std::unique_ptr<sinks::Sink>> sinks;
  sinks::CountingSink* counting = nullptr;  // owned by sinks
  journal::JournalSink* journal = nullptr;  // owned by sinks; null when off
  std::unique_ptr<jobs::JobManager> jobs;
  std::unique_ptr<watch::Watcher> watcher;
  std::unique_ptr<egress::Egress> egress;
  std::unique_ptr<writers::Identity> writers;
  egress::Totals totals;
  egress::Names names;
  rules::Engine rules;
  std::unique_ptr<hash::Hasher> hasher;  // null: hashing off
  std::unique_ptr<hash::Tracker> hashes;
  pipeline::Stats stats;
  pipeline::Pipeline pipeline;
  std::unique_ptr<reload::Reloader> reloader;
  std::unique_ptr<fanotify::Backstop> backstop;
  devices::Table device_table;                  // GPU and RDMA device numbers (devices.classes)
  std::unique_ptr<devices::Watch> device_watch; // opens of their nodes by anyone; null: devices.dev_dir off
  health::LossWatch loss;
  health::Reloads reloads;
  const control::Stats* control_stats = nullptr;  // the control socket's (set by the control plane)
  size_t bootstrapped = 0;  // processes found in /proc at start
  std::string jobs_saved;   // the job registry as last written (app/survival.h)

 private:
  Status start_sensor();
  Status start_outputs();
  Status open_journal();
  void start_state();
  Status install_policies();
  Status start_backstop();
  Status start_devices();
};

}  // namespace fts::app
