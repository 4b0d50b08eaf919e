// The self-contained HTML report: the page (report.html, embedded at build
// time) with the review and a timeline digest inlined as JSON.
#include <algorithm>

#include "common/time.h"
#include "journal/review.h"
#include "journal/summary.h"
#include "sinks/format.h"
#include "sinks/json_writer.h"

namespace fts::journal {

extern const std::string_view kReportPage;  // report.html (cmake/embed.cmake)

namespace {

constexpr int kMaxItems = 20000;  // the page stays usable; the CLI has the rest

// JSON inside <script>: "</" would end the element.
std::string script_safe(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else out += c;
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

void replace(std::string& s, const std::string& from, const std::string& to, bool last = false) {
  auto pos = last ? s.rfind(from) : s.find(from);
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
}

void count_procs(const v1::ProcessNode& n, uint64_t* c) {
  ++*c;
  for (const auto& ch : n.children()) count_procs(ch, c);
}

void timeline_item(sinks::JsonWriter& w, const v1::TimelineEntry& e) {
  w.begin_object();
  w.key("seq").value(e.seq());
  w.key("time").value(e.time());
  w.key("ms").value(static_cast<uint64_t>(std::max<int64_t>(0, sinks::rfc3339_to_ms(e.time()))));
  w.key("kind").value(e.kind());
  w.key("pid").value(static_cast<uint64_t>(subject_pid(e)));
  w.key("alert").value(e.has_alert());
  w.key("host").value(e.has_alert() ? e.alert().host() : e.event().host());
  w.key("text").value(summarize(e));
  w.end_object();
}

// What the page's strip and timeline table draw: one line per record.
std::string timeline_json(const v1::Review& r, const v1::Timeline& t) {
  sinks::JsonWriter w;
  uint64_t procs = 0;
  for (const auto& p : r.processes()) count_procs(p, &procs);
  w.begin_object();
  w.key("total").value(static_cast<uint64_t>(t.entries_size()));
  w.key("truncated").value(t.entries_size() > kMaxItems);
  w.key("procs").value(procs);
  w.key("items").begin_array();
  int n = 0;
  for (const auto& e : t.entries()) {
    if (n++ >= kMaxItems) break;
    timeline_item(w, e);
  }
  w.end_array();
  w.end_object();
  return w.take();
}

}  // namespace

std::string html_report(const v1::Review& r, const v1::Timeline& t) {
  std::string page(kReportPage);
  // Across nodes the page is the run's; its review (embedded) names every host.
  replace(page, "@TITLE@", html_escape(r.run_id().empty() ? r.run().job().id() : r.run_id()));
  replace(page, "@JOURNAL@", html_escape(r.journal()));
  replace(page, "@NOW@", rfc3339(now_wall_ns()));
  // The last placeholder first: inserted data then cannot be taken for one.
  replace(page, "@EVENTS@", script_safe(timeline_json(r, t)), true);
  replace(page, "@REVIEW@", script_safe(to_json(r, false)));
  return page;
}

}  // namespace fts::journal
