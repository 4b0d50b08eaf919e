#pragma once
// The event pipeline, one explicit list of stages (Pipeline::standard):
//
//   decode -> state -> resolve -> classify -> egress -> [hash] -> merge -> render|ids -> [detect] -> sinks -> reap
//
//   kernel record bytes enter at decode (push); typed records from sources
//   that do not speak the kernel ABI (fanotify, finished file hashes, open
//   flows) at state (push_record); job changes from the control socket and
//   reloads at render (push_job_changes); the daemon's own health records
//   (sensor drops, journal and spool loss, sensor-tamper, test alerts, repeat
//   summaries) at render or sinks (push_event, push_alert). Every record
//   leaves through the one sink stage and is counted once, in Stats.
//
// Each stage fills the Item with what it resolved (the process, job and
// policy; the canonical path; the flow's totals; the rendered events), so
// later stages read it instead of looking it up again. A stage that has
// nothing to do in this configuration (no hashing, no rules, no sink that
// takes events) is not in the list.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/v1.h"
#include "decode/records.h"
#include "egress/egress.h"
#include "egress/runtime.h"
#include "ftsentinel/v1/alert.pb.h"
#include "ftsentinel/v1/event.pb.h"
#include "hash/tracker.h"
#include "jobs/jobs.h"
#include "render/event.h"
#include "rules/rules.h"
#include "sinks/sink.h"
#include "state/cgroups.h"
#include "state/process_table.h"
#include "watch/watch.h"
#include "writers/identity.h"

namespace fts::pipeline {

// The events of one item. Cleared by count only: the Event objects, with
// their submessages and strings, stay for the next item, whose renderer
// reuses their memory (a protobuf Clear() would free the submessages).
class EventList {
 public:
  EventList() = default;
  EventList(const EventList&) = delete;
  EventList& operator=(const EventList&) = delete;
  ~EventList() { clear(); }
  v1::Event* add() {
    if (n_ == all_.size()) {
      all_.push_back(std::make_unique<v1::Event>());
      borrowed_.push_back(false);
    }
    borrowed_[n_] = false;
    return all_[n_++].get();
  }
  // The last event's process is a cached view it does not own (render's
  // ProcessViews): it is handed back, never freed, when the list is cleared.
  void mark_borrowed_process() { borrowed_[n_ - 1] = true; }
  void clear() {
    for (size_t i = 0; i < n_; ++i)
      if (borrowed_[i]) (void)all_[i]->unsafe_arena_release_process();
    n_ = 0;
  }
  size_t size() const { return n_; }
  v1::Event& operator[](size_t i) { return *all_[i]; }
  template <typename F>
  void for_each(F f) {
    for (size_t i = 0; i < n_; ++i) f(*all_[i]);
  }

 private:
  std::vector<std::unique_ptr<v1::Event>> all_;
  std::vector<bool> borrowed_;
  size_t n_ = 0;
};

struct Item {
  std::span<const uint8_t> bytes;
  std::optional<decode::Record> record;
  std::vector<jobs::JobChange> job_changes;
  render::Facts facts;                       // resolve, egress: process, job, path, totals, name
  const policy::Policy* policy = nullptr;    // resolve: the job's policy
  const v1::Process* process_view = nullptr; // render/detect: the acting process as records show it
  uint64_t event_id = 0;                     // the record's event (render), the evidence of its alerts
  EventList events;  // reused from item to item: a warm pipeline builds events without malloc
  std::vector<v1::Alert> alerts;
  void reset();
};

// Where a stage sits; entry points start at a step, not at a stage's name.
enum class Step { kDecode, kState, kResolve, kClassify, kEgress, kHash, kMerge, kRender, kDetect, kSinks, kReap };

class Stage {
 public:
  virtual ~Stage() = default;
  virtual Step step() const = 0;
  virtual const char* name() const = 0;
  // Returns false to stop the item here.
  virtual bool run(Item& item) = 0;
  virtual void flush() {}
};

struct Stats {
  uint64_t records = 0;  // kernel records in (push)
  uint64_t pushed = 0;   // typed records the daemon pushed itself (push_record): hashes, fanotify, open flows
  uint64_t decode_errors = 0;
  uint64_t events = 0;   // events out, the daemon's own included
  uint64_t merged = 0;   // file reports folded into an earlier one
  uint64_t alerts = 0;   // alerts out: rules', summaries and the daemon's own
  uint64_t record_events = 0;  // records that became an event
  uint64_t filtered = 0;       // records that became none: no output wants them
};

// What the pipeline is built from: the daemon's state, owned by the caller.
// Optional parts decide which stages are in the list.
struct Context {
  std::string host;
  state::ProcessTable* procs;
  state::CgroupTable* cgroups;
  jobs::JobManager* jobs;
  const watch::Watcher* watcher = nullptr;  // null: paths as the kernel gave them (replays)
  std::string proc_root;
  std::vector<std::unique_ptr<sinks::Sink>>* sinks;
  Stats* stats;
  egress::Totals* totals = nullptr;        // per-job, per-destination bytes; null: the pipeline keeps its own
  const egress::Egress* egress = nullptr;  // the policies' byte limits; null: none
  egress::Names* names = nullptr;          // what each job resolved; null: the pipeline keeps its own
  rules::Engine* rules = nullptr;          // null: no detect stage (replays of events only)
  const writers::Identity* writers = nullptr;  // null: no writer is approved
  // What the kernel kept of a process outside jobs at its exit (exited_exes):
  // the actor of a record read after it was gone. Empty: /proc only.
  std::function<Result<decode::ExitedExe>(uint32_t tgid)> exited;
  // False when no sink takes events (every output is `events: alerts`):
  // records still get event ids and alerts, but no Event is built.
  bool render_events = true;
  hash::Tracker* hashes = nullptr;  // null: no hash stage
  bool redact = true;  // secrets in args and LD_PRELOAD replaced before any sink (common/redact.h)
  uint64_t first_event_id = 0;  // event ids count up from the one after this
  uint64_t model_window_ns = 30'000'000'000;  // checkpoint-code-exec's bound of a load window whose close is unseen
};

class Pipeline {
 public:
  // The standard stages for what `ctx` configures.
  static Pipeline standard(Context ctx);
  Pipeline();
  Pipeline(Pipeline&&) noexcept;
  Pipeline& operator=(Pipeline&&) noexcept;
  ~Pipeline();

  void push(std::span<const uint8_t> bytes);
  // A typed record from a source that does not speak the kernel ABI (fanotify).
  void push_record(decode::Record record);
  // Job changes that did not come from a record (control socket, reload).
  void push_job_changes(std::vector<jobs::JobChange> changes);
  // The daemon's own health records: an Event (kind sensor_drops, …) gets an
  // id from the one sequence; an Alert it raises itself (sensor-tamper for
  // ring-buffer, journal or spool loss; test alerts; repeat summaries) goes
  // straight to the sinks. Empty time, host and (alerts) id and action are
  // filled in: now, this host, a fresh UUID, "alerted". Counted in Stats like
  // every record; the caller flushes, as after push().
  void push_event(v1::Event event);
  void push_alert(v1::Alert alert);
  void flush();
  std::vector<std::string> stage_names() const;

  struct Shared;  // what stages share and the pipeline owns (ids, process views, default egress state)

 private:
  class Lease;  // the reused Item, or a fresh one when a push re-enters (a sink that pushes)
  void add(std::unique_ptr<Stage> stage) { stages_.push_back(std::move(stage)); }
  void run_from(Step first, Item& item);

  std::unique_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Stage>> stages_;
  std::unique_ptr<Item> item_;  // reused for every push (not re-entered: see begin_item)
  int depth_ = 0;
};

// The JSON-ready view of a job (control replies and job_start/job_end).
inline void render_job(const jobs::Job& j, v1::Job* out) { render::job_info(j, out); }

}  // namespace fts::pipeline
