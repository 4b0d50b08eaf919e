#pragma once
// Detection: the rule catalogue of DESIGN.md, each rule a small unit fed by
// one engine that dispatches records by kind (a table, not a switch). Rules
// see typed records with their process, job and policy; they return findings
// the engine turns into alerts, once per (rule, job, process, object).
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <set>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "common/v1.h"
#include "policy/policy.h"
#include "decode/records.h"
#include "ftsentinel/v1/alert.pb.h"
#include "ftsentinel/v1/event.pb.h"
#include "jobs/jobs.h"
#include "state/process_table.h"
#include "writers/identity.h"

namespace fts::rules {

// What a rule is shown about one record.
struct Input {
  const decode::Record& record;
  const state::Process* process;     // may be null
  const jobs::Job* job;              // the record's job, or null
  const policy::Policy* policy;      // the job's policy, or null
  const policy::PolicySet& policies; // all of them (outsiders' writes)
  const jobs::JobManager& jobs;      // live jobs (checkpoint-tamper)
  const state::ProcessTable& procs;
  const std::string& file_path;      // file records: canonical path
  uint64_t event_id;                 // the rendered event that is the evidence (0: none)
  uint64_t net_total_bytes = 0;      // flow records: the job's bytes to this destination so far
  uint64_t net_max_bytes = 0;        // the policy's max_bytes_per_destination (0: none)
  std::string net_dns;               // network records: the name the destination was resolved from
  std::string net_sni;               // flow records: the server name of the socket's TLS ClientHello
  const v1::Process* process_view = nullptr;  // the process as its events show it (render/process_view.h)
  const writers::Identity* writers = nullptr;  // who `data.writers` names (null: nobody is approved)
  uint64_t model_window_ns = 30'000'000'000;  // checkpoint-code-exec: a load window's bound when its close is unseen
};

struct Finding {
  std::string rule;
  std::string severity;  // info | low | medium | high | critical
  std::string message;
  std::string object;    // what repeats are keyed by (a path, an exe, an opcode)
  const jobs::Job* job = nullptr;  // the job the alert is about (default: the record's)
  bool file = false;     // fill the alert's file from the record
  std::string action = "alerted";  // or "blocked" when the kernel refused it
  std::optional<v1::ModelFile> model;  // checkpoint-code-exec: the file being loaded
  std::optional<v1::FileHash> hash;    // remote-code-in-job: the module's content
  // What the alert says beyond the record's fields (merged last): an alert
  // raised by one record about another (a file hash completing an upload's
  // match names the upload's destination), or fields only its rule has.
  std::optional<v1::Alert> extra;
};

class Rule {
 public:
  virtual ~Rule() = default;
  virtual const char* id() const = 0;
  virtual std::vector<decode::Kind> kinds() const = 0;
  virtual void on(const Input& in, std::vector<Finding>* out) = 0;
  // What the rule keeps about a job that must outlive a daemon restart (the
  // jobs saved under the state dir), and putting it back; empty: nothing.
  virtual std::string remembered(uint64_t /*job*/) const { return {}; }
  virtual void recall(uint64_t /*job*/, const std::string& /*memory*/) {}
};

// The rule's catalogue entry: ATT&CK and ATLAS ids.
struct Catalogue {
  const char* rule;
  std::vector<const char*> attack;
  std::vector<const char*> atlas;
};
const Catalogue* catalogue(const std::string& rule);

class Engine {
 public:
  Engine();  // every rule of the catalogue implemented so far
  void add(std::unique_ptr<Rule> rule);
  // Runs the rules for this record's kind; returns the new alerts (repeats
  // of a (rule, job, process, object) are counted, not raised again).
  std::vector<v1::Alert> run(const Input& in);
  uint64_t suppressed() const { return suppressed_; }
  // One summary alert per (rule, job, process, object) with repeats counted
  // since its last summary: "… repeated N more times since T" (Alert.repeats,
  // repeats_since). `job` 0: every job's (the periodic summary); otherwise
  // that job's only, which are then forgotten (the job ended) once all of
  // them are out. At most `max` at a time: the rest wait for the next call,
  // so 4,096 whole alerts need not be in memory at once.
  std::vector<v1::Alert> summaries(uint64_t job = 0, size_t max = SIZE_MAX);
  std::vector<std::string> rule_ids() const;
  // Secrets in alert messages replaced (common/redact.h); on by default.
  void set_redact(bool on) { redact_ = on; }
  // Per rule id, what each rule keeps about `job` across a restart.
  std::map<std::string, std::string> remembered(uint64_t job) const;
  void recall(uint64_t job, const std::map<std::string, std::string>& memory);

 private:
  v1::Alert to_alert(const Finding& f, const Input& in) const;
  std::vector<std::unique_ptr<Rule>> rules_;
  std::array<std::vector<Rule*>, 64> by_kind_{};  // kernel kinds, then user-space ones from 32
  // What a repeat is keyed by: rule, job, process and object, the object as
  // 16 bytes of its SHA-256 (a path may be long; an alert flood keeps 100,000
  // keys). Ordered by rule name first, so summaries come out by rule.
  struct Key {
    const std::string* rule;  // interned: rule_names_
    uint64_t job;
    uint32_t tgid;
    uint64_t start;
    std::array<uint8_t, 16> object;
    bool operator==(const Key&) const = default;
    bool operator<(const Key& o) const;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  // A repeat counted for its summary: the first repeat's alert kept
  // serialized (without its time and evidence), the rest as counts and times.
  struct Repeats {
    std::string alert;
    uint64_t count = 0;
    uint64_t first_ns = 0, last_ns = 0;  // wall clock of the first and the last repeat
    uint64_t last_event = 0;             // the last repeat's event: the summary's evidence
  };
  Key key_of(const Finding& f, const jobs::Job* job, const decode::TaskId& task);
  void count_repeat(const Key& key, const Finding& f, const Input& in);
  std::set<std::string> rule_names_;
  std::unordered_set<Key, KeyHash> seen_;
  std::map<Key, Repeats> repeats_;  // keys with repeats not summed up yet
  uint64_t suppressed_ = 0;
  bool redact_ = true;
};

// sensor-tamper outside any record (rules/sensor_tamper.cc, with the rule):
// the control plane's own (a nested run, fd exhaustion, lost fanotify events)...
v1::Alert control_alert(const std::string& severity, std::string message);
// ...the sensor lost records (ring buffer full, tasks map full)...
v1::Alert sensor_loss_alert(uint64_t lost, uint64_t total, const std::string& why);
// ...the tasks map (of `capacity` entries) refused `refused` processes of jobs...
v1::Alert tasks_full_alert(uint64_t refused, uint64_t total, uint32_t capacity);
// ...the fanotify queue overflowed: changes on watched filesystems were dropped...
v1::Alert fanotify_overflow_alert(uint64_t overflows, uint64_t total);
// ...or the flows map evicted job flows before their sockets closed.
v1::Alert flows_evicted_alert(uint64_t evicted, uint64_t total);
// ...or an output did (its spool or queue was full; `journal`: the journal's writer).
v1::Alert output_loss_alert(const std::string& output, const std::string& target, uint64_t lost,
                            uint64_t dropped_total, bool journal);
// ...or a file output could not write them (a full disk: `error` says why).
v1::Alert file_loss_alert(const std::string& output, const std::string& target, uint64_t lost,
                          uint64_t dropped_total, const std::string& error);

}  // namespace fts::rules
