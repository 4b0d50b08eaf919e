#include "sinks/format.h"

#include <unistd.h>

#include <array>
#include <memory>
#include <cstdio>
#include <ctime>
#include <random>

#include "render/json.h"
#include "sinks/json_writer.h"

namespace fts::sinks {
namespace {

constexpr std::array<std::string_view, 5> kSeverities = {"info", "low", "medium", "high", "critical"};
// RFC 5424 facility: security/authorization messages (private).
constexpr int kFacilityAuthpriv = 10;
// Documentation enterprise number (RFC 5612) until ftsentinel has its own PEN.
constexpr std::string_view kSdId = "ftsentinel@32473";

// The native JSON: render/json.h (64-bit counters as numbers, non-UTF-8
// bytes kept as \xNN text).
std::string proto_json(const google::protobuf::Message& m) { return render::json(m); }

std::string join_args(const v1::Process& p) {
  std::string s;
  for (const auto& a : p.args()) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

std::string_view basename(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

void ocsf_metadata(JsonWriter& w, const std::string& uid, const std::string& time) {
  w.key("metadata").begin_object();
  w.field("version", "1.1.0");
  w.field("uid", uid);
  w.field("original_time", time);
  w.key("product").begin_object().field("name", "ftsentinel").field("vendor_name", "ftsentinel");
  w.field("version", FTS_VERSION).end_object();
  w.end_object();
}

void ocsf_process(JsonWriter& w, const v1::Process& p) {
  w.begin_object();
  w.number("pid", p.pid());
  w.field("cmd_line", join_args(p));
  w.field("created_time_dt", p.start_time());
  if (!p.exe().empty()) {
    w.key("file").begin_object().field("path", p.exe()).field("name", basename(p.exe()));
    w.number("type_id", 1).end_object();
  }
  if (p.has_uid()) w.key("user").begin_object().field("uid", std::to_string(p.uid())).end_object();
  if (p.has_ppid()) w.key("parent_process").begin_object().number("pid", p.ppid()).end_object();
  if (p.ancestry_size() > 0) {
    w.key("lineage").begin_array();
    for (const auto& a : p.ancestry()) w.value(a.exe().empty() ? std::to_string(a.pid()) : a.exe());
    w.end_array();
  }
  w.field("cwd", p.cwd());
  w.end_object();
}

// The same file and endpoint objects for events and alerts: dev and ino as
// numbers (file.uid "dev:ino" is OCSF's string id for the inode).
void ocsf_file(JsonWriter& w, const std::string& path, uint64_t dev, uint64_t ino) {
  w.key("file").begin_object().field("path", path).field("name", basename(path));
  w.number("type_id", 1).field("uid", std::to_string(dev) + ":" + std::to_string(ino));
  if (dev || ino) w.number("dev", dev).number("ino", ino);
  w.end_object();
}

void ocsf_network(JsonWriter& w, const std::string& protocol, const std::string& daddr, uint32_t dport,
                  const std::string& dns, uint64_t bytes) {
  w.key("dst_endpoint").begin_object().field("ip", daddr).field("hostname", dns);
  if (dport) w.number("port", dport);
  w.end_object();
  if (!protocol.empty()) w.key("connection_info").begin_object().field("protocol_name", protocol).end_object();
  if (bytes) w.key("traffic").begin_object().number("bytes_out", bytes).end_object();
}

void ocsf_device(JsonWriter& w, const std::string& host) {
  w.key("device").begin_object().field("hostname", host).number("type_id", 1).field("type", "Server");
  w.end_object();
}

// The job as a resource; its run is a label, so one query finds a run's
// findings from every node.
void ocsf_job(JsonWriter& w, const v1::JobRef& j, const std::string& run) {
  if (j.id().empty()) return;
  w.key("resources").begin_array().begin_object();
  w.field("uid", j.id()).field("name", j.name()).field("type", "training_job");
  if (!j.policy().empty() || !run.empty()) {
    w.key("labels").begin_array();
    if (!j.policy().empty()) w.value("policy:" + j.policy());
    if (!run.empty()) w.value("run:" + run);
    w.end_array();
  }
  w.end_object().end_array();
}

std::string ocsf(const v1::Alert& a) {
  int rank = severity_rank(a.severity());
  static const char* kOcsfSeverity[] = {"Informational", "Low", "Medium", "High", "Critical"};
  bool blocked = a.action() == "blocked";
  JsonWriter w;
  w.begin_object();
  w.number("class_uid", 2004).field("class_name", "Detection Finding");
  w.number("category_uid", 2).field("category_name", "Findings");
  w.number("activity_id", 1).field("activity_name", "Create");
  w.number("type_uid", 200401).field("type_name", "Detection Finding: Create");
  w.number("time", rfc3339_to_ms(a.time()));
  w.number("severity_id", rank < 0 ? 0 : rank + 1);
  w.field("severity", rank < 0 ? "Unknown" : kOcsfSeverity[rank]);
  w.number("status_id", 1).field("status", "New");
  w.number("action_id", blocked ? 2 : 1).field("action", blocked ? "Denied" : "Allowed");
  w.number("disposition_id", blocked ? 2 : 15).field("disposition", blocked ? "Blocked" : "Detected");
  w.field("message", a.message());
  ocsf_metadata(w, a.id(), a.time());
  w.key("finding_info").begin_object();
  w.field("uid", a.id()).field("title", a.rule()).field("desc", a.message());
  w.key("types").begin_array().value(a.rule()).end_array();
  w.key("analytic").begin_object().field("uid", a.rule()).field("name", a.rule());
  w.number("type_id", 1).field("type", "Rule").end_object();
  if (a.mitre().attack_size() + a.mitre().atlas_size() > 0) {
    w.key("attacks").begin_array();
    for (const auto& t : a.mitre().attack())
      w.begin_object().key("technique").begin_object().field("uid", t).end_object().field("version", "ATT&CK").end_object();
    for (const auto& t : a.mitre().atlas())
      w.begin_object().key("technique").begin_object().field("uid", t).end_object().field("version", "ATLAS").end_object();
    w.end_array();
  }
  if (a.evidence_size() > 0) {
    w.key("related_events").begin_array();
    for (auto id : a.evidence()) w.begin_object().field("uid", std::to_string(id)).end_object();
    w.end_array();
  }
  w.end_object();
  ocsf_device(w, a.host());
  if (a.has_process()) {
    w.key("actor").begin_object().key("process");
    ocsf_process(w, a.process());
    w.end_object();
  }
  w.key("evidences").begin_array().begin_object();
  if (a.has_process()) {
    w.key("process");
    ocsf_process(w, a.process());
  }
  if (a.has_file()) ocsf_file(w, a.file().path(), a.file().dev(), a.file().ino());
  if (a.has_network()) {
    const auto& n = a.network();
    ocsf_network(w, n.protocol(), n.daddr(), n.dport(), n.dns(), n.bytes());
    if (!n.dns().empty()) w.key("query").begin_object().field("hostname", n.dns()).end_object();
  }
  w.end_object().end_array();
  ocsf_job(w, a.job(), a.run());
  w.key("unmapped").begin_object().field("rule", a.rule()).field("action", a.action());
  if (!a.run().empty()) w.field("run", a.run());
  if (a.has_file()) w.field("file_access", a.file().access());
  if (a.has_network() && a.network().bytes()) w.number("network_bytes", a.network().bytes());
  if (!a.job().id().empty()) w.key("job").raw(proto_json(a.job()));
  w.end_object();
  w.end_object();
  return w.take();
}

std::string ocsf(const v1::Event& e) {
  // exec/fork start a process (Launch), exit ends one (Terminate); the rest
  // (job_start, cgroup_move, sensor_drops…) are Other, with the kind kept.
  int activity = e.kind() == "exec" || e.kind() == "fork" ? 1 : e.kind() == "exit" ? 2 : 99;
  static const char* kNames[] = {"", "Launch", "Terminate"};
  JsonWriter w;
  w.begin_object();
  w.number("class_uid", 1007).field("class_name", "Process Activity");
  w.number("category_uid", 1).field("category_name", "System Activity");
  w.number("activity_id", activity).field("activity_name", activity == 99 ? "Other" : kNames[activity]);
  w.number("type_uid", 1007 * 100 + activity);
  w.number("time", rfc3339_to_ms(e.time()));
  w.number("severity_id", 1).field("severity", "Informational");
  ocsf_metadata(w, std::to_string(e.id()), e.time());
  ocsf_device(w, e.host());
  if (e.has_process()) {
    w.key("process");
    ocsf_process(w, e.process());
  }
  if (e.has_exit() && e.exit().has_code()) w.number("exit_code", e.exit().code());
  if (e.has_file()) ocsf_file(w, e.file().path(), e.file().dev(), e.file().ino());
  if (e.has_network()) {
    const auto& n = e.network();
    ocsf_network(w, n.protocol(), n.daddr(), n.dport(), n.dns(), n.bytes());
  }
  ocsf_job(w, e.job(), e.run());
  w.key("unmapped").begin_object().field("kind", e.kind());
  if (!e.run().empty()) w.field("run", e.run());
  if (e.has_job_info()) w.key("job_info").raw(proto_json(e.job_info()));
  if (e.has_sensor()) w.key("sensor").raw(proto_json(e.sensor()));
  w.end_object();
  w.end_object();
  return w.take();
}

// PRINTUSASCII without spaces, bounded: RFC 5424's rule for header fields.
std::string header_token(std::string_view s, size_t max) {
  if (s.empty()) return "-";
  std::string out;
  for (char c : s.substr(0, max)) out += (c > 32 && c < 127) ? c : '_';
  return out;
}

std::string sd_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

std::string header(int severity, const std::string& time, const std::string& host, std::string_view msgid) {
  char pri[16];
  snprintf(pri, sizeof(pri), "<%d>1 ", kFacilityAuthpriv * 8 + severity);
  std::string out = pri;
  out += header_token(time, 64) + ' ' + header_token(host, 255) + " ftsentinel " + std::to_string(getpid()) + ' ' +
         header_token(msgid, 32) + ' ';
  return out;
}

void sd_param(std::string* out, std::string_view name, std::string_view v) {
  if (v.empty()) return;
  *out += ' ';
  *out += name;
  *out += "=\"";
  *out += sd_value(v);
  *out += '"';
}

void sd_number(std::string* out, std::string_view name, uint64_t v) {
  if (v) sd_param(out, name, std::to_string(v));
}

// What a record says of its process, file and destination, the same params
// for events and alerts (numbers in decimal, times as in the JSON).
template <typename File, typename Net>
void sd_record(std::string* out, const v1::Process& p, const File& f, const Net& n) {
  sd_number(out, "pid", p.pid());
  if (p.has_rank()) sd_param(out, "rank", std::to_string(p.rank()));
  sd_param(out, "exe", p.exe());
  sd_param(out, "start_time", p.start_time());
  sd_param(out, "path", f.path());
  sd_number(out, "dev", f.dev());
  sd_number(out, "ino", f.ino());
  sd_param(out, "protocol", n.protocol());
  sd_param(out, "daddr", n.daddr());
  sd_number(out, "dport", n.dport());
  sd_number(out, "bytes", n.bytes());
}

std::string text(const v1::Alert& a) {
  std::string s = a.rule() + " (" + a.severity() + ", " + (a.action().empty() ? "alerted" : a.action()) + ")";
  if (!a.message().empty()) s += ": " + a.message();
  if (!a.job().id().empty()) s += " [job " + a.job().id() + " " + a.job().name() + " policy " + a.job().policy() + "]";
  return s;
}

std::string text(const v1::Event& e) {
  std::string s = e.kind();
  if (e.has_process()) s += " pid " + std::to_string(e.process().pid()) + " " + e.process().exe();
  if (!e.job().id().empty()) s += " [job " + e.job().id() + "]";
  return s;
}

// HEC wants epoch seconds, with milliseconds as a fraction.
std::string hec_time(const std::string& rfc3339) {
  int64_t ms = rfc3339_to_ms(rfc3339);
  // Sign and magnitude: before 1970 "-1.-500" was no JSON number.
  auto mag = static_cast<unsigned long long>(ms < 0 ? -ms : ms);
  char t[32];
  snprintf(t, sizeof(t), "%s%llu.%03llu", ms < 0 ? "-" : "", mag / 1000, mag % 1000);
  return t;
}

}  // namespace

std::optional<Format> parse_format(std::string_view s) {
  if (s == "json") return Format::kJson;
  if (s == "ocsf") return Format::kOcsf;
  if (s == "rfc5424") return Format::kRfc5424;
  if (s == "splunk_hec") return Format::kSplunkHec;
  return std::nullopt;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::kJson: return "json";
    case Format::kOcsf: return "ocsf";
    case Format::kRfc5424: return "rfc5424";
    case Format::kSplunkHec: return "splunk_hec";
  }
  return "?";
}

std::string make_alert_id() {
  static thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  uint64_t hi = rng(), lo = rng();
  hi = (hi & ~0xf000ull) | 0x4000ull;                    // version 4
  lo = (lo & ~(0xc000ull << 48)) | (0x8000ull << 48);    // variant 10
  char buf[40];
  snprintf(buf, sizeof(buf), "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
           static_cast<unsigned long long>((hi >> 16) & 0xffff), static_cast<unsigned long long>(hi & 0xffff),
           static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffull));
  return buf;
}

int severity_rank(std::string_view s) {
  for (size_t i = 0; i < kSeverities.size(); ++i)
    if (kSeverities[i] == s) return static_cast<int>(i);
  return -1;
}

bool valid_severity(std::string_view s) { return severity_rank(s) >= 0; }

int64_t rfc3339_to_ms(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.frac]Z, as common/time.h writes it.
  if (t.size() < 20) return 0;
  std::string s(t);
  struct tm tm {};
  if (!strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  if (s.size() > 20 && s[19] == '.') {
    int64_t frac = 0, digits = 0;
    for (size_t i = 20; i < s.size() && isdigit(static_cast<unsigned char>(s[i])) && digits < 3; ++i, ++digits)
      frac = frac * 10 + (s[i] - '0');
    for (; digits < 3; ++digits) frac *= 10;
    ms += frac;
  }
  return ms;
}

std::string syslog_message(const v1::Alert& a, const std::string& body) {
  // critical=2 crit, high=3 err, medium=4 warning, low=5 notice, info=6 info
  int rank = severity_rank(a.severity());
  int sev = rank < 0 ? 5 : 6 - rank;
  std::string out = header(sev, a.time(), a.host(), a.rule());
  out += '[';
  out += kSdId;
  sd_param(&out, "id", a.id());
  sd_param(&out, "rule", a.rule());
  sd_param(&out, "severity", a.severity());
  sd_param(&out, "action", a.action());
  sd_param(&out, "job", a.job().id());
  sd_param(&out, "policy", a.job().policy());
  sd_param(&out, "job_name", a.job().name());
  sd_param(&out, "run", a.run());
  std::string attack;
  for (const auto& t : a.mitre().attack()) attack += (attack.empty() ? "" : ",") + t;
  for (const auto& t : a.mitre().atlas()) attack += (attack.empty() ? "" : ",") + t;
  sd_param(&out, "mitre", attack);
  sd_record(&out, a.process(), a.file(), a.network());
  out += "] ";
  out += body;
  return out;
}

std::string syslog_message(const v1::Event& e, const std::string& body) {
  std::string out = header(6, e.time(), e.host(), e.kind());
  out += '[';
  out += kSdId;
  sd_param(&out, "event", std::to_string(e.id()));
  sd_param(&out, "kind", e.kind());
  sd_param(&out, "job", e.job().id());
  sd_param(&out, "run", e.run());
  sd_record(&out, e.process(), e.file(), e.network());
  out += "] ";
  out += body;
  return out;
}

namespace {
// HEC indexed fields: a run is searched across hosts without parsing events.
void hec_fields(JsonWriter& w, const std::string& run) {
  if (!run.empty()) w.key("fields").begin_object().field("run", run).end_object();
}
}  // namespace

std::string render(const v1::Event& e, Format f) {
  switch (f) {
    case Format::kJson: return proto_json(e);
    case Format::kOcsf: return ocsf(e);
    case Format::kRfc5424: return syslog_message(e, text(e));
    case Format::kSplunkHec: {
      JsonWriter w;
      w.begin_object().key("time").raw(hec_time(e.time()));
      w.field("host", e.host()).field("source", "ftsentinel").field("sourcetype", "ftsentinel:event");
      hec_fields(w, e.run());
      w.key("event").raw(proto_json(e)).end_object();
      return w.take();
    }
  }
  return {};
}

void render_to(const v1::Event& e, Format f, std::string* out) {
  if (f == Format::kJson) return render::append_json(e, out);
  *out += render(e, f);
}

void render_to(const v1::Alert& a, Format f, std::string* out) {
  if (f == Format::kJson) return render::append_json(a, out);
  *out += render(a, f);
}

std::string render(const v1::Alert& a, Format f) {
  switch (f) {
    case Format::kJson: return proto_json(a);
    case Format::kOcsf: return ocsf(a);
    case Format::kRfc5424: return syslog_message(a, text(a));
    case Format::kSplunkHec: {
      JsonWriter w;
      w.begin_object().key("time").raw(hec_time(a.time()));
      w.field("host", a.host()).field("source", "ftsentinel").field("sourcetype", "ftsentinel:alert");
      hec_fields(w, a.run());
      w.key("event").raw(proto_json(a)).end_object();
      return w.take();
    }
  }
  return {};
}

}  // namespace fts::sinks
