#pragma once
// What a responder reads from the journal: a run's summary (process tree,
// data read and written with content hashes, network peers, alerts), its
// timeline, exports, and a self-contained HTML report.
// analysis.cc loads and adds up, text.cc prints tables, html.cc fills
// report.html, export.cc renders records as the outputs do.
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "journal/journal.h"

namespace fts::journal {

// The run's records, decoded.
struct Loaded {
  v1::RunSummary run;
  std::vector<v1::TimelineEntry> entries;  // journal order (across journals: time order)
  // Across nodes: the run id, the jobs it is made of in every journal (one
  // per node and job), the hosts they ran on, the journals read.
  std::string run_id;
  std::vector<v1::RunSummary> jobs;
  std::vector<std::string> hosts;
  std::vector<std::string> journals;
};
Result<Loaded> load_run(Reader& r, const std::string& job);
// `id` is a run (jobs/run_identity.h: slurm:42, torchelastic:ID…): every job
// of it in every journal, records merged in time order; else a job id (or
// prefix) that exactly one of the journals holds.
Result<Loaded> load_across(const std::vector<Reader*>& readers, const std::string& id);

// The runs of several journals grouped by run, newest first.
std::vector<v1::RunGroup> group_by_run(const std::vector<v1::RunSummary>& runs);

// A process is (pid, kernel start time): two processes that share a pid are
// two nodes however close their starts; one process is one node.
v1::Review review(const Loaded& run);

struct TimelineFilter {
  std::vector<std::string> kinds;  // event kinds, or "alert"
  std::optional<uint32_t> pid;
  int64_t since_ms = 0, until_ms = 0;  // 0: open
};
Result<TimelineFilter> parse_time_bounds(TimelineFilter f, const std::string& since, const std::string& until);
v1::Timeline timeline(const Loaded& run, const TimelineFilter& f);

// Human tables.
std::string format_runs(const std::vector<v1::RunSummary>& runs);
std::string format_run_groups(const std::vector<v1::RunGroup>& groups);
std::string format_review(const v1::Review& r);
std::string format_timeline(const v1::Timeline& t);
std::string format_verify(const v1::VerifyReport& r);

// One record per line: native JSON (the outputs' own rendering) or OCSF.
std::string export_run(const Loaded& run, bool ocsf);

// One HTML page, no network fetches: tree, timeline with the alerts marked,
// data read/written, peers.
std::string html_report(const v1::Review& r, const v1::Timeline& t);

std::string to_json(const google::protobuf::Message& m, bool pretty);

}  // namespace fts::journal
