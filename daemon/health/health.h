#pragma once
// The daemon's view of itself. One Snapshot of its counters, rendered two
// ways: `ftsentinel status` (v1::Status) and the Prometheus text. And the
// loss watch, which turns what was lost (ring buffer, tasks map, an output's
// spool, the journal) into records of their own that go out through the
// pipeline like any other: loss reaches the SIEM, never silently.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/v1.h"
#include "control/server.h"
#include "ftsentinel/v1/alert.pb.h"
#include "ftsentinel/v1/control.pb.h"
#include "ftsentinel/v1/event.pb.h"
#include "hash/hasher.h"
#include "pipeline/pipeline.h"
#include "sensor/sensor.h"
#include "sinks/factory.h"
#include "sinks/sink.h"

namespace fts::health {

// Policy reloads, as status and metrics show them.
struct Reloads {
  uint64_t generation = 1;
  uint64_t applied = 0, refused = 0;
  std::optional<v1::ReloadState> last;  // unset until the first reload
};

struct JournalState {
  std::string path;
  sinks::SinkStats stats;
  uint64_t seals = 0, pruned_runs = 0;
};

struct HashState {
  hash::Stats stats;
  uint64_t files_followed = 0;
};

// A GPU or RDMA device a live job holds (ftsentinel_job_devices).
struct JobDeviceHeld {
  std::string job, run, device, cls;
};

// Everything status and metrics show, read at one moment.
struct Snapshot {
  uint32_t pid = 0;
  std::string started;  // RFC 3339
  std::vector<sensor::Program> programs;
  sensor::Counters sensor;
  uint64_t tasks_tracked = 0;
  uint32_t tasks_capacity = 0;      // sensor.tasks_max
  uint64_t fanotify_overflows = 0;  // FAN_Q_OVERFLOW events read
  uint64_t flows_evicted = 0;       // at least
  pipeline::Stats pipeline;  // records, events and alerts out: the one count of each
  uint32_t jobs_live = 0;
  std::vector<std::string> policies;
  Reloads reloads;
  std::optional<HashState> hash;  // unset: hashing off
  uint64_t alert_repeats = 0;
  std::optional<JournalState> journal;  // unset: journal off
  std::vector<sinks::SinkStats> outputs;  // the named outputs (and the journal)
  const sinks::CountingSink* counts = nullptr;  // events by kind, alerts by rule (may be null)
  control::Stats control;                       // the control socket
  uint64_t fanotify_unresolved = 0;             // fanotify names whose directory could not be opened
  std::vector<JobDeviceHeld> job_devices;       // per live job, the devices it holds
};

void fill_status(const Snapshot& s, v1::Status* out);
std::string prometheus(const Snapshot& s);

// Records the daemon raises about itself, for the pipeline.
struct Emitted {
  std::vector<v1::Event> events;
  std::vector<v1::Alert> alerts;
  bool empty() const { return events.empty() && alerts.empty(); }
};

// Into the pipeline's sink stage, counted in its Stats with every record; flushed.
void emit(pipeline::Pipeline& pipeline, Emitted e);

// What was lost since the last look. Logged here (rate: once per look with
// loss), emitted as records for the pipeline.
class LossWatch {
 public:
  // What else blinds the sensor, counted outside the kernel's counters.
  struct Blind {
    uint32_t tasks_capacity = 0;      // sensor.tasks_max, said in the alert
    uint64_t fanotify_overflows = 0;  // FAN_Q_OVERFLOW events read so far
    uint64_t flows_evicted = 0;       // Sensor::flows_evicted(): job flows whose bytes were lost
  };
  // The sensor's drop counters: a sensor_drops event, and a sensor-tamper
  // alert per kind of loss (ring buffer, tasks map full, fanotify overflow).
  Emitted sensor(const sensor::Counters& c, const Blind& b);
  Emitted sensor(const sensor::Counters& c) { return sensor(c, Blind()); }
  // Each output's records lost since the last call (its spool or queue was
  // full): a sensor-tamper alert each. `journal` is the journal's sink, if on.
  Emitted outputs(const std::vector<std::unique_ptr<sinks::Sink>>& sinks, const sinks::Sink* journal);
  // fanotify names whose directory could not be opened by handle (out of
  // fds, or the directory went away): a sensor-tamper alert with the count.
  Emitted fanotify(uint64_t unresolved_total);
  // Files not hashed because the hasher's queue was full: logged.
  void hashes(const hash::Stats& s);
  uint64_t ringbuf_drops() const { return last_drops_; }
  uint64_t flows_evicted() const { return last_flows_evicted_; }

 private:
  uint64_t last_drops_ = 0;
  uint64_t last_tasks_full_ = 0;
  uint64_t last_fan_overflows_ = 0;
  uint64_t last_flows_evicted_ = 0;
  uint64_t last_hash_overflow_ = 0;
  uint64_t last_unresolved_ = 0;
};

}  // namespace fts::health
