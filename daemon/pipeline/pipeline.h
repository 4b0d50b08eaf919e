#pragma once
// The event pipeline, one explicit list of stages:
//
//   kernel record bytes -> decode -> state (processes, jobs) -> hash -> merge -> render -> detect -> sinks -> reap
//   fanotify changes ----------------^                          |
//   file hashes (hash::Tracker::collect) ---------------------^ (asks the hasher; every change, before merge)
//
// A source (the BPF ring buffer, or a replay of recorded/synthetic records)
// pushes bytes; each stage reads and fills the Item and may stop it.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "decode/records.h"
#include "egress/egress.h"
#include "egress/runtime.h"
#include "hash/tracker.h"
#include "common/v1.h"
#include "ftsentinel/v1/event.pb.h"
#include "ftsentinel/v1/alert.pb.h"
#include "jobs/jobs.h"
#include "rules/rules.h"
#include "sinks/sink.h"
#include "state/cgroups.h"
#include "state/process_table.h"
#include "watch/watch.h"

namespace fts::pipeline {

struct Item {
  std::span<const uint8_t> bytes;
  std::optional<decode::Record> record;
  std::vector<jobs::JobChange> job_changes;
  std::string file_path;   // file records: the canonical path (merge)
  uint64_t total_bytes = 0; // flow records: the job's bytes to this destination so far (state)
  uint64_t event_id = 0;     // the record's event (render), the evidence of its alerts
  std::string dns_name;     // network records: the name the job resolved the destination from (state)
  std::vector<v1::Event> events;
  std::vector<v1::Alert> alerts;
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual const char* name() const = 0;
  // Returns false to stop the item here.
  virtual bool run(Item& item) = 0;
  virtual void flush() {}
};

struct Stats {
  uint64_t records = 0;
  uint64_t decode_errors = 0;
  uint64_t events = 0;
  uint64_t merged = 0;  // file reports folded into an earlier one
  uint64_t alerts = 0;
};

// What the stages share: the daemon's state. Owned by the caller.
struct Context {
  std::string host;
  state::ProcessTable* procs;
  state::CgroupTable* cgroups;
  jobs::JobManager* jobs;
  const watch::Watcher* watcher;  // may be null (replays without watched data)
  std::string proc_root;
  std::vector<std::unique_ptr<sinks::Sink>>* sinks;
  Stats* stats;
  egress::Totals* totals = nullptr;        // per-job, per-destination bytes; may be null
  const egress::Egress* egress = nullptr;  // the policies' byte limits; may be null
  egress::Names* names = nullptr;          // what each job resolved; may be null
  rules::Engine* rules = nullptr;  // null: no detection (replays of events only)
  // False when no sink takes events (every output is `events: alerts`):
  // records still get event ids and alerts, but no Event is built.
  bool render_events = true;
  hash::Tracker* hashes = nullptr; // null: no content hashes
};

class Pipeline {
 public:
  // The standard stages over `ctx`.
  static Pipeline standard(Context ctx);

  void add(std::unique_ptr<Stage> stage) { stages_.push_back(std::move(stage)); }
  void push(std::span<const uint8_t> bytes);
  // A typed record from a source that does not speak the kernel ABI (fanotify).
  void push_record(decode::Record record);
  // Job changes that did not come from a record (control socket, reload).
  void push_job_changes(std::vector<jobs::JobChange> changes);
  void flush();
  std::vector<std::string> stage_names() const;

 private:
  std::vector<std::unique_ptr<Stage>> stages_;
};

// The JSON-ready view of a job (control replies and job_start/job_end).
void render_job(const jobs::Job& j, v1::Job* out);

}  // namespace fts::pipeline
