#include "journal/summary.h"

#include <functional>
#include <string_view>
#include <unordered_map>

#include "common/time.h"
#include "journal/journal.h"

namespace fts::journal {
namespace {

namespace pb = google::protobuf;

void read_hash_field(const pb::Message& h, const pb::FieldDescriptor* x, v1::DataFile* out) {
  const auto* hr = h.GetReflection();
  const std::string& name = x->name();
  if (name == "sha256") {
    std::string v = hr->GetString(h, x);
    out->set_sha256(x->type() == pb::FieldDescriptor::TYPE_BYTES && v.size() == 32 ? hex(v) : v);
  } else if (name == "size" && x->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64) {
    out->set_size(hr->GetUInt64(h, x));
  } else if (name == "mtime") {
    if (x->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) out->set_mtime(hr->GetString(h, x));
    else if (x->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64) out->set_mtime(rfc3339(hr->GetUInt64(h, x)));
    else if (x->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64)
      out->set_mtime(rfc3339(static_cast<uint64_t>(hr->GetInt64(h, x))));
  }
}

std::string exit_text(const v1::Event& e) {
  std::string s = "pid " + std::to_string(e.process().pid());
  if (e.exit().signal()) return s + " killed by signal " + std::to_string(e.exit().signal());
  return s + " exit " + std::to_string(e.exit().code());
}

std::string file_text(const v1::Event& e) {
  const auto& f = e.file();
  std::string s = f.op() + " " + join(f.access(), ",") + " " + f.path();
  if (!f.new_path().empty()) s += " -> " + f.new_path();
  if (f.classes_size()) s += " [" + join(f.classes(), ",") + "]";
  return s;
}

std::string file_hash_text(const v1::Event& e) {
  v1::DataFile d;
  read_file_hash(e, &d);
  return e.file().path() + " sha256 " + d.sha256() + " (" + std::to_string(d.size()) + " bytes)";
}

std::string network_text(const v1::Event& e) {
  const auto& n = e.network();
  if (n.op() == "dns_query") return "dns " + n.dns();
  if (n.op() == "bind" || n.op() == "listen") return n.op() + " " + n.protocol() + " " + endpoint(n.saddr(), n.sport());
  if (n.op() == "socket")
    return "socket " + n.family() + "/" + n.socket_type() + " " + n.protocol() +
           (n.action() == "blocked" ? " blocked" : "");
  std::string s = n.op() + " " + n.protocol() + " " + endpoint(n.daddr(), n.dport());
  if (n.has_bytes()) s += " " + std::to_string(n.bytes()) + " bytes";
  if (!n.verdict().empty()) s += " " + n.verdict();
  if (n.action() == "blocked") s += " blocked";
  return s;
}

std::string job_text(const v1::Event& e) {
  return e.job_info().policy() + " " + e.job_info().name() + " root pid " + std::to_string(e.job_info().root_pid());
}

// One summarizer per event kind.
const std::unordered_map<std::string_view, std::function<std::string(const v1::Event&)>>& event_texts() {
  static const std::unordered_map<std::string_view, std::function<std::string(const v1::Event&)>> kTexts = {
      {"exec", [](const v1::Event& e) { return e.process().exe() + " " + join(e.process().args(), " "); }},
      {"fork",
       [](const v1::Event& e) {
         return "pid " + std::to_string(e.process().pid()) + " from " + std::to_string(e.process().ppid());
       }},
      {"exit", exit_text},
      {"file", file_text},
      {"file_hash", file_hash_text},
      {"network", network_text},
      {"io_uring", [](const v1::Event& e) { return "io_uring " + e.io_uring().op(); }},
      {"cgroup_move", [](const v1::Event& e) { return "to cgroup " + e.cgroup().path(); }},
      {"device",
       [](const v1::Event& e) {
         const auto& d = e.device();
         return "device " + d.class_() + " " + d.path() + " (" + std::to_string(d.major()) + ":" +
                std::to_string(d.minor()) + ")" + (d.source() == "fanotify" ? " opened from outside the job" : "");
       }},
      {"job_start", job_text},
      {"job_end", job_text},
  };
  return kTexts;
}

}  // namespace

std::string summarize(const v1::TimelineEntry& t) {
  if (t.has_alert()) {
    const auto& a = t.alert();
    return a.severity() + " " + a.rule() + (a.action() == "blocked" ? " (blocked)" : "") + ": " + a.message();
  }
  const auto& texts = event_texts();
  auto it = texts.find(t.event().kind());
  return it == texts.end() ? "" : it->second(t.event());
}

uint32_t subject_pid(const v1::TimelineEntry& t) {
  return t.has_alert() ? t.alert().process().pid() : t.event().process().pid();
}

// Read by name so that a schema that carries the digest as bytes or the mtime
// as a number reads the same.
bool read_file_hash(const v1::Event& e, v1::DataFile* out) {
  const auto* f = e.GetDescriptor()->FindFieldByName("hash");
  if (!f || f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) return false;
  const auto* r = e.GetReflection();
  if (!r->HasField(e, f)) return false;
  const pb::Message& h = r->GetMessage(e, f);
  const auto* hd = h.GetDescriptor();
  for (int i = 0; i < hd->field_count(); ++i)
    if (!hd->field(i)->is_repeated()) read_hash_field(h, hd->field(i), out);
  return !out->sha256().empty();
}

std::string endpoint(const std::string& addr, uint32_t port) {
  return addr.find(':') != std::string::npos ? "[" + addr + "]:" + std::to_string(port) : addr + ":" + std::to_string(port);
}

std::string join(const pb::RepeatedPtrField<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

}  // namespace fts::journal
