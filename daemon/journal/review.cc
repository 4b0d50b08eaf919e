#include "journal/review.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "common/time.h"
#include "sinks/format.h"
#include "sinks/json_writer.h"

namespace fts::journal {
namespace {

namespace pb = google::protobuf;

std::string ms_time(int64_t ms) { return ms > 0 ? rfc3339(static_cast<uint64_t>(ms) * 1000000ull) : ""; }

void add_unique(pb::RepeatedPtrField<std::string>* to, const std::string& v) {
  if (v.empty()) return;
  for (const auto& x : *to)
    if (x == v) return;
  to->Add()->assign(v);
}
void add_unique(pb::RepeatedField<uint32_t>* to, uint32_t v) {
  for (auto x : *to)
    if (x == v) return;
  to->Add(v);
}

// The content digest of a file_hash event, read by name so that a schema that
// carries the digest as bytes or the mtime as a number reads the same.
bool read_file_hash(const v1::Event& e, v1::DataFile* out) {
  const auto* f = e.GetDescriptor()->FindFieldByName("hash");
  if (!f || f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) return false;
  const auto* r = e.GetReflection();
  if (!r->HasField(e, f)) return false;
  const pb::Message& h = r->GetMessage(e, f);
  const auto* hd = h.GetDescriptor();
  const auto* hr = h.GetReflection();
  for (int i = 0; i < hd->field_count(); ++i) {
    const auto* x = hd->field(i);
    if (x->is_repeated()) continue;
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
  return !out->sha256().empty();
}

bool is_write(const v1::FileInfo& f) {
  for (const auto& a : f.access())
    if (a == "write" || a == "create" || a == "truncate" || a == "append") return true;
  static const std::set<std::string> kOps = {"truncate", "rename", "link", "symlink", "unlink", "rmdir", "mkdir",
                                             "chmod", "chown", "modify", "close_write", "create", "delete"};
  return kOps.count(f.op()) > 0;
}
bool is_read(const v1::FileInfo& f) {
  for (const auto& a : f.access())
    if (a == "read" || a == "exec") return true;
  return false;
}

std::string join(const pb::RepeatedPtrField<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string endpoint(const std::string& addr, uint32_t port) {
  return addr.find(':') != std::string::npos ? "[" + addr + "]:" + std::to_string(port) : addr + ":" + std::to_string(port);
}

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) snprintf(buf, sizeof(buf), "%.1f GiB", static_cast<double>(b) / (1ull << 30));
  else if (b >= (1ull << 20)) snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(b) / (1ull << 20));
  else if (b >= 1024) snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(b) / 1024);
  else snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

// One line saying what a record is.
std::string summarize(const v1::TimelineEntry& t) {
  if (t.has_alert()) {
    const auto& a = t.alert();
    return a.severity() + " " + a.rule() + (a.action() == "blocked" ? " (blocked)" : "") + ": " + a.message();
  }
  const auto& e = t.event();
  const std::string& k = e.kind();
  if (k == "exec") return e.process().exe() + " " + join(e.process().args(), " ");
  if (k == "fork") return "pid " + std::to_string(e.process().pid()) + " from " + std::to_string(e.process().ppid());
  if (k == "exit") {
    std::string s = "pid " + std::to_string(e.process().pid());
    if (e.exit().signal()) return s + " killed by signal " + std::to_string(e.exit().signal());
    return s + " exit " + std::to_string(e.exit().code());
  }
  if (k == "file") {
    const auto& f = e.file();
    std::string s = f.op() + " " + join(f.access(), ",") + " " + f.path();
    if (!f.new_path().empty()) s += " -> " + f.new_path();
    if (f.classes_size()) s += " [" + join(f.classes(), ",") + "]";
    return s;
  }
  if (k == "file_hash") {
    v1::DataFile d;
    read_file_hash(e, &d);
    return e.file().path() + " sha256 " + d.sha256() + " (" + std::to_string(d.size()) + " bytes)";
  }
  if (k == "network") {
    const auto& n = e.network();
    if (n.op() == "dns_query") return "dns " + n.dns();
    if (n.op() == "bind" || n.op() == "listen") return n.op() + " " + n.protocol() + " " + endpoint(n.saddr(), n.sport());
    std::string s = n.op() + " " + n.protocol() + " " + endpoint(n.daddr(), n.dport());
    if (n.has_bytes()) s += " " + std::to_string(n.bytes()) + " bytes";
    if (!n.verdict().empty()) s += " " + n.verdict();
    if (n.action() == "blocked") s += " blocked";
    return s;
  }
  if (k == "io_uring") return "io_uring " + e.io_uring().op();
  if (k == "cgroup_move") return "to cgroup " + e.cgroup().path();
  if (k == "job_start" || k == "job_end")
    return e.job_info().policy() + " " + e.job_info().name() + " root pid " + std::to_string(e.job_info().root_pid());
  return "";
}

std::string proc_key(uint32_t pid, const std::string& start) { return std::to_string(pid) + "@" + start; }

}  // namespace

std::string to_json(const pb::Message& m, bool pretty) {
  std::string out;
  pb::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = pretty;
  (void)pb::util::MessageToJsonString(m, &out, o);
  return out;
}

Result<Loaded> load_run(Reader& r, const std::string& job) {
  auto run = r.run(job);
  if (!run) return make_error(run.error());
  Loaded out;
  out.run = std::move(*run);
  uint64_t bad = 0;
  auto st = r.each(out.run.job().id(), [&](const Reader::Record& rec) {
    v1::TimelineEntry t;
    t.set_seq(static_cast<uint64_t>(rec.seq));
    t.set_time(ms_time(rec.time_ms));
    bool ok = rec.type == RecordType::kAlert ? t.mutable_alert()->ParseFromString(rec.body)
                                             : t.mutable_event()->ParseFromString(rec.body);
    if (!ok) {
      bad++;
      t.clear_alert();
      t.clear_event();
      t.set_kind("undecodable");
    } else {
      t.set_kind(rec.type == RecordType::kAlert ? "alert" : rec.kind);
      if (t.has_alert() && !t.alert().time().empty()) t.set_time(t.alert().time());
      if (t.has_event() && !t.event().time().empty()) t.set_time(t.event().time());
    }
    out.entries.push_back(std::move(t));
  });
  if (!st) return make_error(st.error());
  return out;
}

v1::Review review(const Loaded& run) {
  v1::Review rv;
  *rv.mutable_run() = run.run;

  // Processes, by identity (pid, start time); the tree by ppid. Start times
  // of one process differ by microseconds between records (boot-to-wall
  // offset sampled per record; /proc's 10 ms ticks at registration), so one
  // pid within a second of a known start is that process.
  std::map<std::string, v1::ProcessNode> procs;
  std::vector<std::string> order;
  std::map<uint32_t, std::vector<std::pair<int64_t, std::string>>> by_pid;  // pid -> (start ms, key)
  auto find_proc = [&](uint32_t pid, int64_t start) -> std::string {
    auto it = by_pid.find(pid);
    if (it == by_pid.end()) return "";
    // A record rendered without the process table has no start time: the
    // latest process with that pid.
    if (start <= 0) return it->second.back().second;
    for (auto k = it->second.rbegin(); k != it->second.rend(); ++k)
      if (k->first <= 0 || std::llabs(k->first - start) < 1000) return k->second;
    return "";
  };
  auto node = [&](const v1::Process& p) -> v1::ProcessNode& {
    int64_t start = sinks::rfc3339_to_ms(p.start_time());
    std::string k = find_proc(p.pid(), start);
    if (k.empty()) {
      k = proc_key(p.pid(), p.start_time());
      by_pid[p.pid()].emplace_back(start, k);
      order.push_back(k);
      auto& n = procs[k];
      n.set_pid(p.pid());
      n.set_ppid(p.ppid());
      n.set_start_time(p.start_time());
      n.set_exe(p.exe());
      for (const auto& a : p.args()) n.add_args(a);
    }
    auto& n = procs[k];
    if (n.start_time().empty() && start > 0) {
      // First seen bare: what the fuller record knows.
      for (auto& e : by_pid[p.pid()])
        if (e.second == k) e.first = start;
      n.set_start_time(p.start_time());
      n.set_ppid(p.ppid());
      if (n.exe().empty()) n.set_exe(p.exe());
      if (n.args().empty())
        for (const auto& a : p.args()) n.add_args(a);
    }
    return n;
  };
  std::map<std::string, v1::DataFile> files;
  std::map<std::string, std::pair<bool, bool>> rw;  // path -> (read, written)
  std::map<std::string, v1::DataFile> hashes;        // path -> last digest
  std::map<std::string, v1::DataFile> first_hash;    // path -> first digest
  std::map<std::string, v1::Peer> peers;
  std::map<std::string, v1::DnsName> dns;
  std::vector<v1::Alert> alerts;

  for (const auto& t : run.entries) {
    if (t.has_alert()) {
      alerts.push_back(t.alert());
      if (t.alert().process().pid()) node(t.alert().process()).set_alerts(node(t.alert().process()).alerts() + 1);
      continue;
    }
    if (!t.has_event()) continue;
    const v1::Event& e = t.event();
    const std::string& k = e.kind();
    if (e.process().pid() && k != "job_end") {
      v1::ProcessNode& n = node(e.process());
      if (k == "exec") {
        n.set_exe(e.process().exe());
        n.clear_args();
        for (const auto& a : e.process().args()) n.add_args(a);
        n.set_exec_time(e.time());
        n.set_ppid(e.process().ppid());
      } else if (k == "exit" && e.process().tid() == e.process().pid()) {
        n.set_exit_time(e.time());
        if (e.exit().has_code()) n.set_exit_code(e.exit().code());
        if (e.exit().has_signal()) n.set_exit_signal(e.exit().signal());
      }
    }
    if (k == "file") {
      const auto& f = e.file();
      v1::DataFile& d = files[f.path()];
      if (d.path().empty()) {
        d.set_path(f.path());
        d.set_first_access(e.time());
        d.set_dev(f.dev());
        d.set_ino(f.ino());
      }
      d.set_last_access(e.time());
      for (const auto& c : f.classes()) add_unique(d.mutable_classes(), c);
      for (const auto& a : f.access()) add_unique(d.mutable_access(), a);
      add_unique(d.mutable_ops(), f.op());
      add_unique(d.mutable_pids(), e.process().pid());
      if (f.op() == "open") d.set_opens(d.opens() + 1);
      auto& flags = rw[f.path()];
      flags.first |= is_read(f);
      flags.second |= is_write(f);
      if (!f.new_path().empty()) {
        // A rename's destination was written too.
        v1::DataFile& n = files[f.new_path()];
        if (n.path().empty()) {
          n.set_path(f.new_path());
          n.set_first_access(e.time());
        }
        n.set_last_access(e.time());
        add_unique(n.mutable_ops(), f.op() + "_target");
        rw[f.new_path()].second = true;
      }
    } else if (k == "file_hash") {
      // What was read is its first digest; what was written, its last.
      v1::DataFile d;
      if (read_file_hash(e, &d)) {
        first_hash.try_emplace(e.file().path(), d);
        hashes[e.file().path()] = d;
      }
    } else if (k == "network") {
      const auto& n = e.network();
      if (n.op() == "dns_query") {
        v1::DnsName& d = dns[n.dns()];
        if (d.name().empty()) {
          d.set_name(n.dns());
          d.set_first_time(e.time());
        }
        d.set_queries(d.queries() + 1);
        continue;
      }
      if (n.op() == "bind" || n.op() == "listen" || n.daddr().empty()) continue;
      std::string key = n.protocol() + " " + endpoint(n.daddr(), n.dport());
      v1::Peer& p = peers[key];
      if (p.daddr().empty()) {
        p.set_protocol(n.protocol());
        p.set_daddr(n.daddr());
        p.set_dport(n.dport());
        p.set_first_time(e.time());
        p.set_verdict("allowed");
        p.set_action("allowed");
      }
      p.set_last_time(e.time());
      if (n.op() == "connect") p.set_connects(p.connects() + 1);
      if (n.op() == "flow" || n.op() == "flow_update") {
        // flows carry the job's running total to this destination; a flow
        // without one (older record) adds its own bytes.
        if (n.has_total_bytes()) p.set_bytes(std::max<uint64_t>(p.bytes(), n.total_bytes()));
        else if (n.has_bytes()) p.set_bytes(p.bytes() + n.bytes());
      }
      if (n.verdict() == "not_allowed") p.set_verdict("not_allowed");
      if (n.action() == "blocked") p.set_action("blocked");
      add_unique(p.mutable_dns(), n.dns());
      add_unique(p.mutable_pids(), e.process().pid());
    }
  }

  // The tree: each process under the latest process with its ppid that
  // started before it.
  std::map<std::string, std::vector<std::string>> children;
  std::vector<std::string> roots;
  for (const auto& k : order) {
    const auto& n = procs[k];
    int64_t start = sinks::rfc3339_to_ms(n.start_time());
    std::string parent;
    auto it = by_pid.find(n.ppid());
    if (it != by_pid.end() && n.ppid() != n.pid())
      for (const auto& [pstart, pk] : it->second)
        if (pstart <= start + 1000) parent = pk;
    if (parent.empty()) roots.push_back(k);
    else children[parent].push_back(k);
  }
  std::function<void(const std::string&, v1::ProcessNode*, int)> build = [&](const std::string& k, v1::ProcessNode* out,
                                                                              int depth) {
    *out = procs[k];
    if (depth > 256) return;
    for (const auto& c : children[k]) build(c, out->add_children(), depth + 1);
  };
  for (const auto& r : roots) build(r, rv.add_processes(), 0);

  std::map<std::string, uint32_t> by_class;
  for (auto& [path, d] : files) {
    auto with = [&](const std::map<std::string, v1::DataFile>& m) {
      v1::DataFile x = d;
      if (auto h = m.find(path); h != m.end()) {
        x.set_sha256(h->second.sha256());
        x.set_size(h->second.size());
        x.set_mtime(h->second.mtime());
      }
      return x;
    };
    const auto& flags = rw[path];
    if (flags.first) {
      *rv.add_read() = with(first_hash);
      if (d.classes_size() == 0) by_class["unclassified"]++;
      for (const auto& c : d.classes()) by_class[c]++;
    }
    if (flags.second) *rv.add_written() = with(hashes);
  }
  // A digest for a file with no open event of its own (hashed on read elsewhere).
  for (const auto& [path, h] : first_hash)
    if (!files.count(path)) {
      v1::DataFile d = h;
      d.set_path(path);
      *rv.add_read() = d;
    }
  for (const auto& [c, n] : by_class) {
    auto* x = rv.add_read_by_class();
    x->set_class_(c);
    x->set_files(n);
  }
  std::vector<v1::Peer> pv;
  for (auto& [_, p] : peers) pv.push_back(p);
  std::stable_sort(pv.begin(), pv.end(), [](const auto& a, const auto& b) { return a.bytes() > b.bytes(); });
  for (auto& p : pv) *rv.add_peers() = std::move(p);
  for (auto& [_, d] : dns) *rv.add_dns() = d;
  std::stable_sort(alerts.begin(), alerts.end(),
                   [](const auto& a, const auto& b) { return sinks::rfc3339_to_ms(a.time()) < sinks::rfc3339_to_ms(b.time()); });
  for (auto& a : alerts) *rv.add_alerts() = std::move(a);
  return rv;
}

Result<TimelineFilter> parse_time_bounds(TimelineFilter f, const std::string& since, const std::string& until) {
  auto parse = [](const std::string& s, int64_t* out) -> Status {
    if (s.empty()) return {};
    int64_t ms = sinks::rfc3339_to_ms(s);
    if (ms <= 0) return make_error("'" + s + "' is not an RFC 3339 time (2026-11-28T01:02:03Z)");
    *out = ms;
    return {};
  };
  if (auto st = parse(since, &f.since_ms); !st) return make_error("--since: " + st.error());
  if (auto st = parse(until, &f.until_ms); !st) return make_error("--until: " + st.error());
  return f;
}

v1::Timeline timeline(const Loaded& run, const TimelineFilter& f) {
  v1::Timeline t;
  t.set_job(run.run.job().id());
  for (const auto& e : run.entries) {
    if (!f.kinds.empty() && std::find(f.kinds.begin(), f.kinds.end(), e.kind()) == f.kinds.end()) continue;
    if (f.pid) {
      uint32_t pid = e.has_alert() ? e.alert().process().pid() : e.event().process().pid();
      if (pid != *f.pid) continue;
    }
    int64_t ms = sinks::rfc3339_to_ms(e.time());
    if (f.since_ms && ms < f.since_ms) continue;
    if (f.until_ms && ms > f.until_ms) continue;
    *t.add_entries() = e;
  }
  return t;
}

std::string format_runs(const std::vector<v1::RunSummary>& runs) {
  std::string out;
  char line[512];
  snprintf(line, sizeof(line), "%-16s  %-16s  %-20s  %-27s  %-27s  %6s  %7s  %6s\n", "JOB", "POLICY", "NAME", "STARTED",
           "ENDED", "EXIT", "RECORDS", "ALERTS");
  out += line;
  for (const auto& r : runs) {
    std::string exit = r.has_exit_signal() && r.exit_signal() ? "sig" + std::to_string(r.exit_signal())
                       : r.has_exit_code()                     ? std::to_string(r.exit_code())
                                                               : "-";
    snprintf(line, sizeof(line), "%-16s  %-16s  %-20s  %-27s  %-27s  %6s  %7llu  %6llu\n", r.job().id().c_str(),
             r.job().policy().c_str(), r.job().name().c_str(), r.job().start_time().c_str(),
             r.job().end_time().empty() ? (r.job().id().rfind("host-", 0) == 0 ? "" : "(running)") : r.job().end_time().c_str(),
             exit.c_str(), static_cast<unsigned long long>(r.records()), static_cast<unsigned long long>(r.alerts()));
    out += line;
  }
  return out;
}

namespace {
void format_tree(const v1::ProcessNode& n, const std::string& indent, bool last, bool top, std::string* out) {
  std::string line = indent + (top ? "" : (last ? "`- " : "|- ")) + std::to_string(n.pid()) + " " + n.exe();
  std::string args = join(n.args(), " ");
  if (!args.empty()) line += "  [" + args + "]";
  if (n.has_exit_signal() && n.exit_signal()) line += "  (signal " + std::to_string(n.exit_signal()) + ")";
  else if (n.has_exit_code()) line += "  (exit " + std::to_string(n.exit_code()) + ")";
  if (n.alerts()) line += "  !" + std::to_string(n.alerts()) + " alert(s)";
  *out += "  " + line + "\n";
  std::string next = top ? indent : indent + (last ? "   " : "|  ");
  for (int i = 0; i < n.children_size(); ++i) format_tree(n.children(i), next, i + 1 == n.children_size(), false, out);
}

void format_files(const pb::RepeatedPtrField<v1::DataFile>& files, std::string* out) {
  if (files.empty()) *out += "  (none)\n";
  for (const auto& d : files) {
    *out += "  " + d.path();
    if (d.classes_size()) *out += "  [" + join(d.classes(), ",") + "]";
    *out += "\n    sha256 " + (d.sha256().empty() ? std::string("(not hashed)") : d.sha256());
    if (!d.sha256().empty()) *out += "  " + std::to_string(d.size()) + " bytes";
    *out += "  first " + d.first_access() + "  last " + d.last_access();
    std::string pids;
    for (auto p : d.pids()) pids += (pids.empty() ? "" : ",") + std::to_string(p);
    if (!pids.empty()) *out += "  pids " + pids;
    *out += "\n";
  }
}
}  // namespace

std::string format_review(const v1::Review& r) {
  std::string out;
  const auto& run = r.run();
  const auto& j = run.job();
  out += "job " + j.id() + "  policy " + j.policy() + "  name " + j.name() + "  mode " + j.mode() + "  started by " +
         j.started_by() + "\n";
  out += "  started " + j.start_time() + "  ended " + (j.end_time().empty() ? "(running)" : j.end_time());
  if (run.has_exit_signal() && run.exit_signal()) out += "  killed by signal " + std::to_string(run.exit_signal());
  else if (run.has_exit_code()) out += "  exit " + std::to_string(run.exit_code());
  out += "\n  " + std::to_string(run.records()) + " records, " + std::to_string(r.alerts_size()) + " alerts\n";
  if (j.labels_size()) {
    out += "  labels:";
    std::map<std::string, std::string> sorted(j.labels().begin(), j.labels().end());
    for (const auto& [k, v] : sorted) out += " " + k + "=" + v;
    out += "\n";
  }
  out += "\nProcess tree\n";
  for (int i = 0; i < r.processes_size(); ++i) format_tree(r.processes(i), "", i + 1 == r.processes_size(), true, &out);
  out += "\nData read";
  std::string classes;
  for (const auto& c : r.read_by_class()) classes += (classes.empty() ? "" : ", ") + c.class_() + " " + std::to_string(c.files());
  out += classes.empty() ? "\n" : " (" + classes + ")\n";
  format_files(r.read(), &out);
  out += "\nOutputs written\n";
  format_files(r.written(), &out);
  out += "\nNetwork destinations\n";
  if (r.peers().empty()) out += "  (none)\n";
  for (const auto& p : r.peers()) {
    out += "  " + p.protocol() + " " + endpoint(p.daddr(), p.dport());
    if (p.dns_size()) out += " (" + join(p.dns(), ", ") + ")";
    out += "  " + std::to_string(p.bytes()) + " bytes sent (" + human_bytes(p.bytes()) + "), " +
           std::to_string(p.connects()) + " connect(s), " + p.verdict() + (p.action() == "blocked" ? ", blocked" : "") +
           "\n";
  }
  if (r.dns_size()) {
    out += "\nDNS names asked\n";
    for (const auto& d : r.dns()) out += "  " + d.name() + "  x" + std::to_string(d.queries()) + "  first " + d.first_time() + "\n";
  }
  out += "\nAlerts\n";
  if (r.alerts().empty()) out += "  (none)\n";
  for (const auto& a : r.alerts()) {
    out += "  " + a.time() + "  " + a.severity() + "  " + a.rule() + (a.action() == "blocked" ? " (blocked)" : "") +
           "  pid " + std::to_string(a.process().pid()) + " " + a.process().exe() + "\n    " + a.message() + "\n";
  }
  return out;
}

std::string format_timeline(const v1::Timeline& t) {
  std::string out;
  for (const auto& e : t.entries()) {
    uint32_t pid = e.has_alert() ? e.alert().process().pid() : e.event().process().pid();
    char head[128];
    snprintf(head, sizeof(head), "%-27s  %8llu  %-10s  %7u  ", e.time().c_str(), static_cast<unsigned long long>(e.seq()),
             e.kind().c_str(), pid);
    out += std::string(e.has_alert() ? "!" : " ") + head + summarize(e) + "\n";
  }
  return out;
}

std::string format_verify(const v1::VerifyReport& r) {
  std::string out;
  if (r.intact()) {
    out += "journal " + r.journal() + ": intact\n";
  } else {
    out += "journal " + r.journal() + ": TAMPERED\n";
    for (const auto& p : r.problems()) out += "  " + p.message() + "\n";
  }
  out += "  " + std::to_string(r.records()) + " records in " + std::to_string(r.runs()) + " runs; " +
         std::to_string(r.seals()) + " seals" + (r.last_seal().empty() ? "" : " (last " + r.last_seal() + ")") + "; " +
         std::to_string(r.pruned_runs()) + " runs dropped by retention\n";
  if (r.unsealed()) out += "  " + std::to_string(r.unsealed()) + " newest records not sealed yet (hash-chained only)\n";
  if (!r.macs_checked()) out += "  seal HMACs NOT checked: the journal key was not readable (--key FILE)\n";
  return out;
}

std::string export_run(const Loaded& run, bool ocsf) {
  std::string out;
  auto f = ocsf ? sinks::Format::kOcsf : sinks::Format::kJson;
  for (const auto& e : run.entries) {
    if (e.has_alert()) out += sinks::render(e.alert(), f);
    else if (e.has_event()) out += sinks::render(e.event(), f);
    else continue;
    out += '\n';
  }
  return out;
}

}  // namespace fts::journal

namespace fts::journal {
namespace {

// JSON inside <script>: "</" would end the element.
std::string script_safe(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<') out += "\\u003c";
    else if (s[i] == '>') out += "\\u003e";
    else if (s[i] == '&') out += "\\u0026";
    else out += s[i];
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

const char* kPage = R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>ftsentinel run @TITLE@</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2330;background:#fafbfc}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #d0d7de}
.meta{color:#57606a} .card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.6em 1em}
table{border-collapse:collapse;width:100%;font-size:13px} td,th{padding:3px 6px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{background:#f3f5f7} code,.mono{font-family:ui-monospace,monospace;font-size:12px}
ul.tree,ul.tree ul{list-style:none;margin:0;padding-left:1.2em} ul.tree{padding-left:0}
ul.tree li{position:relative;padding-left:.9em;border-left:1px solid #c8d1da} ul.tree li::before{content:"";position:absolute;left:0;top:.75em;width:.7em;border-top:1px solid #c8d1da}
.pid{color:#0550ae;font-weight:600} .args{color:#57606a} .bad{color:#cf222e;font-weight:600}
.sev-critical,.sev-high{color:#fff;background:#cf222e;border-radius:3px;padding:0 4px} .sev-medium{background:#fb8f44;border-radius:3px;padding:0 4px} .sev-low,.sev-info{background:#ddf4ff;border-radius:3px;padding:0 4px}
tr.alert{background:#fff1f0} #strip{width:100%;height:70px;background:#fff;border:1px solid #d0d7de;border-radius:6px}
.counts span{margin-right:1.2em}
</style></head><body>
<h1>Run <span id="job-id"></span></h1>
<div class="meta" id="job-meta"></div>
<div class="counts card" id="counts"></div>
<h2>Alerts</h2><div id="alerts"></div>
<h2>Timeline</h2>
<svg id="strip" role="img" aria-label="timeline"></svg>
<div class="meta" id="timeline-note"></div>
<div id="timeline"></div>
<h2>Process tree</h2><div class="card"><ul class="tree" id="tree"></ul></div>
<h2>Data read</h2><div id="read"></div>
<h2>Outputs written</h2><div id="written"></div>
<h2>Network peers</h2><div id="peers"></div>
<h2>DNS names</h2><div id="dns"></div>
<p class="meta">Generated by ftsentinel from journal @JOURNAL@ at @NOW@. This page loads nothing from the network.</p>
<script id="review" type="application/json">@REVIEW@</script>
<script id="events" type="application/json">@EVENTS@</script>
<script>
"use strict";
const R = JSON.parse(document.getElementById("review").textContent);
const E = JSON.parse(document.getElementById("events").textContent);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) { if (k === "class") e.className = v; else e.setAttribute(k, v); }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k ?? "")));
  return e;
}
function table(id, head, rows, rowClass) {
  const box = document.getElementById(id);
  if (!rows.length) { box.append(el("p", {class: "meta"}, "(none)")); return; }
  const t = el("table", {}, el("tr", {}, ...head.map(h => el("th", {}, h))));
  rows.forEach((r, i) => { const tr = el("tr", rowClass ? {class: rowClass(i)} : {}, ...r.map(c => el("td", {}, c))); t.append(tr); });
  box.append(t);
}
const run = R.run || {}; const job = run.job || {};
document.getElementById("job-id").textContent = job.id || "?";
document.title = "ftsentinel run " + (job.id || "");
document.getElementById("job-meta").textContent =
  `policy ${job.policy || "-"} · name ${job.name || "-"} · mode ${job.mode || "-"} · started ${job.start_time || "?"} · ` +
  (job.end_time ? `ended ${job.end_time}` : "still running") +
  (run.exit_signal ? ` · killed by signal ${run.exit_signal}` : (run.exit_code !== undefined ? ` · exit ${run.exit_code}` : ""));
const alerts = R.alerts || [];
const c = document.getElementById("counts");
for (const [k, v] of [["records", run.records || 0], ["alerts", alerts.length], ["processes", E.procs],
                      ["files read", (R.read || []).length], ["files written", (R.written || []).length],
                      ["peers", (R.peers || []).length]])
  c.append(el("span", {}, el("b", {}, v), " " + k));
table("alerts", ["time", "severity", "rule", "process", "message"],
  alerts.map(a => [a.time, el("span", {class: "sev-" + a.severity}, a.severity), el("b", {}, a.rule + (a.action === "blocked" ? " (blocked)" : "")),
                   `${(a.process || {}).pid || ""} ${(a.process || {}).exe || ""}`, a.message]));
// The strip: every record as a tick on the run's time axis, alerts as red marks.
(function () {
  const svg = document.getElementById("strip"); const NS = "http://www.w3.org/2000/svg";
  const W = svg.clientWidth || 1000, H = 70;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const ts = E.items.map(x => x.ms).filter(x => x > 0);
  if (!ts.length) return;
  const t0 = Math.min(...ts), t1 = Math.max(...ts), span = Math.max(1, t1 - t0);
  const x = ms => 10 + (W - 20) * (ms - t0) / span;
  const colors = {exec: "#0969da", fork: "#8c959f", exit: "#8c959f", file: "#1a7f37", file_hash: "#4ac26b", network: "#8250df"};
  for (const it of E.items) {
    const m = document.createElementNS(NS, it.alert ? "path" : "line");
    if (it.alert) { const cx = x(it.ms); m.setAttribute("d", `M${cx - 6},8 L${cx + 6},8 L${cx},20 Z`); m.setAttribute("fill", "#cf222e"); m.setAttribute("class", "alert-mark"); }
    else { m.setAttribute("x1", x(it.ms)); m.setAttribute("x2", x(it.ms)); m.setAttribute("y1", 28); m.setAttribute("y2", 52); m.setAttribute("stroke", colors[it.kind] || "#57606a"); }
    const tt = document.createElementNS(NS, "title"); tt.textContent = `${it.time} ${it.kind} ${it.text}`; m.append(tt);
    svg.append(m);
  }
  const lab = (tx, anchor, s) => { const t = document.createElementNS(NS, "text"); t.setAttribute("x", tx); t.setAttribute("y", 66); t.setAttribute("font-size", "11"); t.setAttribute("text-anchor", anchor); t.textContent = s; svg.append(t); };
  lab(10, "start", E.items[0].time); lab(W - 10, "end", E.items[E.items.length - 1].time);
})();
document.getElementById("timeline-note").textContent =
  E.truncated ? `first ${E.items.length} of ${E.total} records shown (ftsentinel review --timeline has them all)` : `${E.total} records`;
table("timeline", ["time", "seq", "kind", "pid", "what"],
  E.items.map(it => [it.time, it.seq, it.alert ? el("b", {class: "bad"}, "ALERT") : it.kind, it.pid || "", el("span", {class: "mono"}, it.text)]),
  i => E.items[i].alert ? "alert" : "");
function node(p) {
  const li = el("li", {class: "proc"}, el("span", {class: "pid"}, p.pid), " ", el("code", {}, p.exe || "?"), " ",
                el("span", {class: "args mono"}, (p.args || []).join(" ")));
  if (p.exit_signal) li.append(el("span", {class: "meta"}, ` signal ${p.exit_signal}`));
  else if (p.exit_code !== undefined) li.append(el("span", {class: "meta"}, ` exit ${p.exit_code}`));
  if (p.alerts) li.append(" ", el("span", {class: "bad"}, `⚠ ${p.alerts} alert(s)`));
  if (p.children && p.children.length) { const ul = el("ul"); p.children.forEach(ch => ul.append(node(ch))); li.append(ul); }
  return li;
}
(R.processes || []).forEach(p => document.getElementById("tree").append(node(p)));
const fileRow = d => [el("code", {}, d.path), (d.classes || []).join(", "), el("span", {class: "mono"}, d.sha256 || "(not hashed)"),
                      d.size || "", d.first_access || "", d.last_access || "", (d.pids || []).join(", ")];
const fileHead = ["path", "classes", "sha256", "bytes", "first", "last", "pids"];
table("read", fileHead, (R.read || []).map(fileRow));
table("written", fileHead, (R.written || []).map(fileRow));
table("peers", ["destination", "dns", "bytes sent", "connects", "verdict", "first", "last"],
  (R.peers || []).map(p => [`${p.protocol} ${p.daddr}:${p.dport}`, (p.dns || []).join(", "), p.bytes || 0, p.connects || 0,
                            p.verdict === "not_allowed" ? el("span", {class: "bad"}, "not allowed" + (p.action === "blocked" ? ", blocked" : "")) : p.verdict,
                            p.first_time, p.last_time]));
table("dns", ["name", "queries", "first"], (R.dns || []).map(d => [d.name, d.queries, d.first_time]));
document.body.setAttribute("data-rendered", "1");
</script></body></html>
)html";

void replace(std::string& s, const std::string& from, const std::string& to, bool last = false) {
  auto pos = last ? s.rfind(from) : s.find(from);
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
}

void count_procs(const v1::ProcessNode& n, uint64_t* c) {
  ++*c;
  for (const auto& ch : n.children()) count_procs(ch, c);
}

}  // namespace

std::string html_report(const v1::Review& r, const v1::Timeline& t) {
  constexpr int kMaxItems = 20000;  // the page stays usable; the CLI has the rest
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
    w.begin_object();
    w.key("seq").value(e.seq());
    w.key("time").value(e.time());
    w.key("ms").value(static_cast<uint64_t>(std::max<int64_t>(0, sinks::rfc3339_to_ms(e.time()))));
    w.key("kind").value(e.kind());
    w.key("pid").value(static_cast<uint64_t>(e.has_alert() ? e.alert().process().pid() : e.event().process().pid()));
    w.key("alert").value(e.has_alert());
    w.key("text").value(summarize(e));
    w.end_object();
  }
  w.end_array();
  w.end_object();
  std::string page = kPage;
  replace(page, "@TITLE@", html_escape(r.run().job().id()));
  replace(page, "@JOURNAL@", html_escape(r.journal()));
  replace(page, "@NOW@", rfc3339(now_wall_ns()));
  // The last placeholder first: inserted data then cannot be taken for one.
  replace(page, "@EVENTS@", script_safe(w.take()), true);
  replace(page, "@REVIEW@", script_safe(to_json(r, false)));
  return page;
}

}  // namespace fts::journal
