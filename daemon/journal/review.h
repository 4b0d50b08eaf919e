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
  std::vector<v1::TimelineEntry> entries;  // journal order
};
Result<Loaded> load_run(Reader& r, const std::string& job);

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
