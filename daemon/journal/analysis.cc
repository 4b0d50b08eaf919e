// Reading a run back and what it adds up to: the process tree, the data read
// and written with their digests, the peers, the DNS names, the alerts.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include "common/time.h"
#include "journal/review.h"
#include "journal/summary.h"
#include "sinks/format.h"
#include "common/utf8.h"

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

// When a process started, as exactly as its record says. The kernel's tick
// count is exact; the wall-clock rendering of older rows (no ticks) jitters
// by microseconds between records, so those match within kWallSlackMs.
struct Start {
  uint64_t ticks = 0;   // 0: the record has none
  int64_t wall_ms = 0;  // <= 0: none

  static Start of(const v1::Process& p) { return {p.start_ticks(), sinks::rfc3339_to_ms(p.start_time())}; }
  bool known() const { return ticks || wall_ms > 0; }
  bool same(const Start& o) const {
    if (ticks && o.ticks) return ticks == o.ticks;
    if (wall_ms <= 0 || o.wall_ms <= 0) return true;  // one side is bare: cannot tell them apart
    return std::llabs(wall_ms - o.wall_ms) < kWallSlackMs;
  }
  bool not_after(const Start& o) const {
    if (ticks && o.ticks) return ticks <= o.ticks;
    if (wall_ms <= 0 || o.wall_ms <= 0) return true;
    return wall_ms <= o.wall_ms + kWallSlackMs;
  }
  static constexpr int64_t kWallSlackMs = 20;
};

// The run's processes by identity (pid, start), and the tree by ppid.
// Across nodes a pid is only unique per host: processes are keyed by both.
class ProcessIndex {
 public:
  v1::ProcessNode& node(const v1::Process& p, const std::string& host);
  void add_tree(v1::Review* rv);

 private:
  using HostPid = std::pair<std::string, uint32_t>;
  struct Known {
    Start start;
    size_t index;
  };
  ptrdiff_t find(const HostPid& pid, const Start& start) const;
  void fill_bare(size_t i, const v1::Process& p, const Start& start);
  void build(size_t i, v1::ProcessNode* out, int depth) const;

  std::vector<v1::ProcessNode> nodes_;  // first-seen order
  std::vector<Start> starts_;
  std::vector<std::string> hosts_;  // each node's key host
  std::map<HostPid, std::vector<Known>> by_pid_;  // in first-seen order
  std::map<size_t, std::vector<size_t>> children_;
};

// A record without a start (rendered without the process table) is the latest
// process with that pid.
ptrdiff_t ProcessIndex::find(const HostPid& pid, const Start& start) const {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return -1;
  for (auto k = it->second.rbegin(); k != it->second.rend(); ++k)
    if (!start.known() || k->start.same(start)) return static_cast<ptrdiff_t>(k->index);
  return -1;
}

// First seen bare: what the fuller record knows.
void ProcessIndex::fill_bare(size_t i, const v1::Process& p, const Start& start) {
  v1::ProcessNode& n = nodes_[i];
  starts_[i] = start;
  for (auto& k : by_pid_[{hosts_[i], p.pid()}])
    if (k.index == i) k.start = start;
  n.set_start_time(p.start_time());
  n.set_ppid(p.ppid());
  if (n.exe().empty()) n.set_exe(p.exe());
  if (n.args().empty())
    for (const auto& a : p.args()) n.add_args(a);
}

v1::ProcessNode& ProcessIndex::node(const v1::Process& p, const std::string& host) {
  Start start = Start::of(p);
  ptrdiff_t found = find({host, p.pid()}, start);
  if (found < 0) {
    found = static_cast<ptrdiff_t>(nodes_.size());
    by_pid_[{host, p.pid()}].push_back({start, nodes_.size()});
    starts_.push_back(start);
    hosts_.push_back(host);
    auto& n = nodes_.emplace_back();
    n.set_pid(p.pid());
    n.set_ppid(p.ppid());
    n.set_start_time(p.start_time());
    n.set_exe(p.exe());
    for (const auto& a : p.args()) n.add_args(a);
  }
  size_t i = static_cast<size_t>(found);
  if (!starts_[i].known() && start.known()) fill_bare(i, p, start);
  if (p.has_rank()) nodes_[i].set_rank(p.rank());
  return nodes_[i];
}

void ProcessIndex::build(size_t i, v1::ProcessNode* out, int depth) const {
  *out = nodes_[i];
  if (depth > 256) return;
  if (auto it = children_.find(i); it != children_.end())
    for (size_t c : it->second) build(c, out->add_children(), depth + 1);
}

// Each process goes under the latest process with its ppid that started
// before it.
void ProcessIndex::add_tree(v1::Review* rv) {
  std::vector<size_t> roots;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const auto& n = nodes_[i];
    ptrdiff_t parent = -1;
    auto it = by_pid_.find({hosts_[i], n.ppid()});
    if (it != by_pid_.end() && n.ppid() != n.pid())
      for (const auto& k : it->second)
        if (k.start.not_after(starts_[i])) parent = static_cast<ptrdiff_t>(k.index);
    if (parent < 0) roots.push_back(i);
    else children_[static_cast<size_t>(parent)].push_back(i);
  }
  for (size_t r : roots) build(r, rv->add_processes(), 0);
}

// Folds a run's records, one handler per kind, into the review.
class RunAnalysis {
 public:
  // per_host: records of several nodes (a pid, a path, a peer are per host).
  explicit RunAnalysis(bool per_host) : per_host_(per_host) {}
  void add(const v1::TimelineEntry& t);
  v1::Review finish(const v1::RunSummary& run);

 private:
  void on_alert(const v1::Alert& a);
  void on_process(const v1::Event& e);
  void on_file(const v1::Event& e);
  void on_file_hash(const v1::Event& e);
  void on_network(const v1::Event& e);
  void on_dns(const v1::Event& e);
  // Files and peers are per node: (host, path), (host, "proto addr:port").
  using Key = std::pair<std::string, std::string>;
  v1::DataFile& file(const std::string& path, const v1::Event& e);
  void add_files(v1::Review* rv);
  void flag_hash_differences(v1::Review* rv) const;
  void add_peers_dns_alerts(v1::Review* rv);

  // The host part of a key: one journal's records are one node's, whatever
  // host each says (rows from before records had one say none).
  std::string host_of(const std::string& h) const { return per_host_ ? h : std::string(); }

  bool per_host_;
  ProcessIndex procs_;
  std::map<Key, v1::DataFile> files_;
  std::map<Key, std::pair<bool, bool>> rw_;  // (host, path) -> (read, written)
  std::map<Key, v1::DataFile> last_hash_;     // (host, path) -> last digest
  std::map<Key, v1::DataFile> first_hash_;    // (host, path) -> first digest
  std::map<Key, v1::Peer> peers_;
  std::map<std::string, v1::DnsName> dns_;
  std::vector<v1::Alert> alerts_;
};

void RunAnalysis::add(const v1::TimelineEntry& t) {
  using Handler = void (RunAnalysis::*)(const v1::Event&);
  static const std::unordered_map<std::string_view, Handler> kHandlers = {
      {"file", &RunAnalysis::on_file},
      {"file_hash", &RunAnalysis::on_file_hash},
      {"network", &RunAnalysis::on_network},
  };
  if (t.has_alert()) return on_alert(t.alert());
  if (!t.has_event()) return;
  const v1::Event& e = t.event();
  if (e.process().pid() && e.kind() != "job_end") on_process(e);
  if (auto h = kHandlers.find(e.kind()); h != kHandlers.end()) (this->*h->second)(e);
}

void RunAnalysis::on_alert(const v1::Alert& a) {
  alerts_.push_back(a);
  if (a.process().pid()) {
    v1::ProcessNode& n = procs_.node(a.process(), host_of(a.host()));
    if (n.host().empty()) n.set_host(a.host());
    n.set_alerts(n.alerts() + 1);
  }
}

void RunAnalysis::on_process(const v1::Event& e) {
  v1::ProcessNode& n = procs_.node(e.process(), host_of(e.host()));
  if (n.host().empty()) n.set_host(e.host());
  if (e.kind() == "exec") {
    n.set_exe(e.process().exe());
    n.clear_args();
    for (const auto& a : e.process().args()) n.add_args(a);
    n.set_exec_time(e.time());
    n.set_ppid(e.process().ppid());
  } else if (e.kind() == "exit" && e.process().tid() == e.process().pid()) {
    n.set_exit_time(e.time());
    if (e.exit().has_code()) n.set_exit_code(e.exit().code());
    if (e.exit().has_signal()) n.set_exit_signal(e.exit().signal());
  }
}

v1::DataFile& RunAnalysis::file(const std::string& path, const v1::Event& e) {
  v1::DataFile& d = files_[{host_of(e.host()), path}];
  if (d.path().empty()) {
    d.set_path(path);
    d.set_host(e.host());
    d.set_first_access(e.time());
  }
  d.set_last_access(e.time());
  return d;
}

void RunAnalysis::on_file(const v1::Event& e) {
  const auto& f = e.file();
  bool first = !files_.count({host_of(e.host()), f.path()});
  v1::DataFile& d = file(f.path(), e);
  if (first) {
    d.set_dev(f.dev());
    d.set_ino(f.ino());
  }
  for (const auto& c : f.classes()) add_unique(d.mutable_classes(), c);
  for (const auto& a : f.access()) add_unique(d.mutable_access(), a);
  add_unique(d.mutable_ops(), f.op());
  add_unique(d.mutable_pids(), e.process().pid());
  if (f.op() == "open") d.set_opens(d.opens() + 1);
  auto& flags = rw_[{host_of(e.host()), f.path()}];
  flags.first |= is_read(f);
  flags.second |= is_write(f);
  if (!f.new_path().empty()) {
    // A rename's destination was written too.
    add_unique(file(f.new_path(), e).mutable_ops(), f.op() + "_target");
    rw_[{host_of(e.host()), f.new_path()}].second = true;
  }
}

// What was read is its first digest; what was written, its last.
void RunAnalysis::on_file_hash(const v1::Event& e) {
  v1::DataFile d;
  if (!read_file_hash(e, &d)) return;
  d.set_host(e.host());
  first_hash_.try_emplace({host_of(e.host()), e.file().path()}, d);
  last_hash_[{host_of(e.host()), e.file().path()}] = d;
}

void RunAnalysis::on_dns(const v1::Event& e) {
  v1::DnsName& d = dns_[e.network().dns()];
  if (d.name().empty()) {
    d.set_name(e.network().dns());
    d.set_first_time(e.time());
  }
  d.set_queries(d.queries() + 1);
}

void RunAnalysis::on_network(const v1::Event& e) {
  const auto& n = e.network();
  if (n.op() == "dns_query") return on_dns(e);
  if (n.op() == "bind" || n.op() == "listen" || n.daddr().empty()) return;
  v1::Peer& p = peers_[{host_of(e.host()), n.protocol() + " " + endpoint(n.daddr(), n.dport())}];
  if (p.daddr().empty()) {
    p.set_host(e.host());
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

void RunAnalysis::add_files(v1::Review* rv) {
  std::map<std::string, uint32_t> by_class;
  auto with = [](v1::DataFile x, const Key& key, const std::map<Key, v1::DataFile>& digests) {
    if (auto h = digests.find(key); h != digests.end()) {
      x.set_sha256(h->second.sha256());
      x.set_size(h->second.size());
      x.set_mtime(h->second.mtime());
    }
    return x;
  };
  for (auto& [key, d] : files_) {
    const auto& flags = rw_[key];
    if (flags.first) {
      *rv->add_read() = with(d, key, first_hash_);
      if (d.classes_size() == 0) by_class["unclassified"]++;
      for (const auto& c : d.classes()) by_class[c]++;
    }
    if (flags.second) *rv->add_written() = with(d, key, last_hash_);
  }
  // A digest for a file with no open event of its own (hashed on read elsewhere).
  for (const auto& [key, h] : first_hash_)
    if (!files_.count(key)) {
      v1::DataFile d = h;  // its host is the hash event's
      d.set_path(key.second);
      *rv->add_read() = d;
    }
  for (const auto& [c, n] : by_class) {
    auto* x = rv->add_read_by_class();
    x->set_class_(c);
    x->set_files(n);
  }
}

void RunAnalysis::add_peers_dns_alerts(v1::Review* rv) {
  std::vector<v1::Peer> pv;
  for (auto& [_, p] : peers_) pv.push_back(p);
  std::stable_sort(pv.begin(), pv.end(), [](const auto& a, const auto& b) { return a.bytes() > b.bytes(); });
  for (auto& p : pv) *rv->add_peers() = std::move(p);
  for (auto& [_, d] : dns_) *rv->add_dns() = d;
  std::stable_sort(alerts_.begin(), alerts_.end(), [](const auto& a, const auto& b) {
    return sinks::rfc3339_to_ms(a.time()) < sinks::rfc3339_to_ms(b.time());
  });
  for (auto& a : alerts_) *rv->add_alerts() = std::move(a);
}

// The same path read with different first digests on two nodes: each such
// read says what the others hashed.
void RunAnalysis::flag_hash_differences(v1::Review* rv) const {
  std::map<std::string, std::map<std::string, std::string>> by_path;  // path -> host -> sha256
  for (const auto& d : rv->read())
    if (!d.sha256().empty()) by_path[d.path()][d.host()] = d.sha256();
  for (auto& d : *rv->mutable_read()) {
    const auto& hosts = by_path[d.path()];
    if (d.sha256().empty() || hosts.size() < 2) continue;
    for (const auto& [host, sha] : hosts)
      if (host != d.host() && sha != d.sha256()) {
        d.set_hash_differs(true);
        d.add_other_hosts_sha256(host + " " + sha);
      }
  }
}

v1::Review RunAnalysis::finish(const v1::RunSummary& run) {
  v1::Review rv;
  *rv.mutable_run() = run;
  procs_.add_tree(&rv);
  add_files(&rv);
  flag_hash_differences(&rv);
  add_peers_dns_alerts(&rv);
  return rv;
}

v1::TimelineEntry decode_record(const Reader::Record& rec, uint64_t* bad) {
  v1::TimelineEntry t;
  t.set_seq(static_cast<uint64_t>(rec.seq));
  t.set_time(ms_time(rec.time_ms));
  bool ok = rec.type == RecordType::kAlert ? parse_any_text(t.mutable_alert(), rec.body)
                                           : parse_any_text(t.mutable_event(), rec.body);
  if (!ok) {
    ++*bad;
    t.clear_alert();
    t.clear_event();
    t.set_kind("undecodable");
    return t;
  }
  t.set_kind(rec.type == RecordType::kAlert ? "alert" : rec.kind);
  if (t.has_alert() && !t.alert().time().empty()) t.set_time(t.alert().time());
  if (t.has_event() && !t.event().time().empty()) t.set_time(t.event().time());
  return t;
}

}  // namespace

Result<Loaded> load_run(Reader& r, const std::string& job) {
  auto run = r.run(job);
  if (!run) return make_error(run.error());
  Loaded out;
  out.run = std::move(*run);
  uint64_t bad = 0;
  auto st = r.each(out.run.job().id(), [&](const Reader::Record& rec) { out.entries.push_back(decode_record(rec, &bad)); });
  if (!st) return make_error(st.error());
  return out;
}

namespace {

void add_host(std::vector<std::string>* hosts, const std::string& h) {
  if (!h.empty() && std::find(hosts->begin(), hosts->end(), h) == hosts->end()) hosts->push_back(h);
}

// One job of the run, from one journal, into `out`.
Status load_job(Reader& r, v1::RunSummary job, Loaded* out) {
  uint64_t bad = 0;
  size_t first = out->entries.size();
  auto st = r.each(job.job().id(), [&](const Reader::Record& rec) { out->entries.push_back(decode_record(rec, &bad)); });
  if (!st) return st;
  if (job.job().host().empty())  // journals from before job_info had a host: the records say it
    for (size_t i = first; i < out->entries.size() && job.job().host().empty(); ++i)
      if (out->entries[i].has_event()) job.mutable_job()->set_host(out->entries[i].event().host());
  add_host(&out->hosts, job.job().host());
  out->jobs.push_back(std::move(job));
  return {};
}

}  // namespace

Result<Loaded> load_across(const std::vector<Reader*>& readers, const std::string& id) {
  Loaded out;
  for (Reader* r : readers) {
    out.journals.push_back(r->path());
    auto runs = r->runs();
    if (!runs) return make_error(runs.error());
    for (auto& s : *runs)
      if (s.job().run() == id)
        if (auto st = load_job(*r, s, &out); !st) return make_error(st.error());
  }
  if (out.jobs.empty()) {  // a job id: the journal that has it
    std::string why;
    for (Reader* r : readers) {
      auto one = r->run(id);
      if (!one) {
        why = one.error();
        continue;
      }
      if (auto st = load_job(*r, *one, &out); !st) return make_error(st.error());
      break;
    }
    if (out.jobs.empty()) return make_error(readers.size() == 1 ? why : "no run or job '" + id + "' in these journals");
  } else {
    out.run_id = id;
  }
  std::sort(out.jobs.begin(), out.jobs.end(),
            [](const auto& a, const auto& b) { return a.job().start_time() < b.job().start_time(); });
  out.run = out.jobs.front();
  if (out.jobs.size() > 1) {
    uint64_t records = 0, alerts = 0;
    for (const auto& j : out.jobs) records += j.records(), alerts += j.alerts();
    out.run.set_records(records);
    out.run.set_alerts(alerts);
    // One RFC 3339 shape (render/fields.h, microseconds): text order is time order.
    std::stable_sort(out.entries.begin(), out.entries.end(),
                     [](const auto& a, const auto& b) { return a.time() < b.time(); });
  }
  return out;
}

std::vector<v1::RunGroup> group_by_run(const std::vector<v1::RunSummary>& runs) {
  std::map<std::string, v1::RunGroup> groups;
  for (const auto& r : runs) {
    if (r.job().run().empty()) continue;  // alerts outside jobs (host-DATE), journals from before runs
    v1::RunGroup& g = groups[r.job().run()];
    g.set_run(r.job().run());
    if (!r.job().host().empty() && std::find(g.hosts().begin(), g.hosts().end(), r.job().host()) == g.hosts().end())
      g.add_hosts(r.job().host());
    g.add_jobs(r.job().id());
    g.set_records(g.records() + r.records());
    g.set_alerts(g.alerts() + r.alerts());
    if (g.first_start().empty() || r.job().start_time() < g.first_start()) g.set_first_start(r.job().start_time());
    if (r.last_time() > g.last_time()) g.set_last_time(r.last_time());
  }
  std::vector<v1::RunGroup> out;
  for (auto& [_, g] : groups) out.push_back(std::move(g));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first_start() > b.first_start(); });
  return out;
}

v1::Review review(const Loaded& run) {
  RunAnalysis a(run.hosts.size() > 1);
  for (const auto& t : run.entries) a.add(t);
  v1::Review rv = a.finish(run.run);
  rv.set_run_id(run.run_id);
  for (const auto& h : run.hosts) rv.add_hosts(h);
  if (run.jobs.size() > 1)
    for (const auto& j : run.jobs) *rv.add_jobs() = j;
  for (const auto& j : run.journals) rv.add_journals(j);
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
  t.set_run_id(run.run_id);
  for (const auto& j : run.journals) t.add_journals(j);
  for (const auto& e : run.entries) {
    if (!f.kinds.empty() && std::find(f.kinds.begin(), f.kinds.end(), e.kind()) == f.kinds.end()) continue;
    if (f.pid && subject_pid(e) != *f.pid) continue;
    int64_t ms = sinks::rfc3339_to_ms(e.time());
    if (f.since_ms && ms < f.since_ms) continue;
    if (f.until_ms && ms > f.until_ms) continue;
    *t.add_entries() = e;
  }
  return t;
}

}  // namespace fts::journal
