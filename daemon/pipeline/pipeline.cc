#include "pipeline/pipeline.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <unordered_map>

#include "common/time.h"
#include "rules/classify.h"
#include "rules/remote_code.h"
#include "sinks/format.h"
#include "state/proc.h"

namespace fts::pipeline {

namespace {

// The latest job processes the reap stage let go: a fanotify record read
// after its writer exited (and was reaped) still names what it ran and its job.
class Reaped {
 public:
  void keep(const state::Process& p) {
    if (q_.size() >= kKept) q_.pop_front();
    q_.push_back(p);
  }
  const state::Process* find(uint32_t tgid) const {
    for (auto it = q_.rbegin(); it != q_.rend(); ++it)
      if (it->key.tgid == tgid) return &*it;
    return nullptr;
  }

 private:
  static constexpr size_t kKept = 256;  // the writers of one fanotify read, and more
  std::deque<state::Process> q_;
};

// The latest job processes the kernel reported opening a device: fanotify's
// report of the same open may be read after the process is gone from the
// table (a short `nvidia-smi` in the job), and is the job's, not an outsider's.
class DeviceOpeners {
 public:
  void note(const decode::TaskId& t, uint64_t job) {
    if (q_.size() >= kKept) q_.pop_front();
    q_.push_back({t, job});
  }
  uint64_t job_of(const decode::TaskId& t) const {
    for (auto it = q_.rbegin(); it != q_.rend(); ++it)
      if (it->first.tgid == t.tgid && (!t.start_ns || it->first.start_ticks() == t.start_ticks())) return it->second;
    return 0;
  }

 private:
  static constexpr size_t kKept = 1024;
  std::deque<std::pair<decode::TaskId, uint64_t>> q_;
};

}  // namespace

// What stages share and the pipeline owns: the one sequence of event ids,
// the process views, and the egress state when the caller keeps none.
struct Pipeline::Shared {
  explicit Shared(const Context& ctx)
      : stats(ctx.stats), event_seq(ctx.first_event_id), views(ctx.procs, ctx.cgroups, 1 << 16, ctx.redact) {}
  uint64_t next_event_id() { return ++event_seq; }
  // Two vDSO clock reads at most once per millisecond of `ts_ns` (boot clock):
  // a wall-clock step (ntpd -g, `date -s`) is followed within a millisecond,
  // by records and by the daemon's own events (a job registered) alike.
  void check_clock(uint64_t ts_ns) {
    if (ts_ns - last_clock_check_ns < 1'000'000ull) return;
    last_clock_check_ns = ts_ns;
    if (resample_clock_offset()) {
      spdlog::warn("the wall clock stepped: times from now on use the new offset");
      views.invalidate_all();
    }
  }
  Stats* stats;
  uint64_t last_clock_check_ns = 0;
  uint64_t event_seq = 0;
  render::ProcessViews views;
  Reaped reaped;
  egress::Totals own_totals;
  egress::Names own_names;
};

void Item::reset() {
  bytes = {};
  record.reset();
  job_changes.clear();
  facts.process = nullptr;
  facts.job = nullptr;
  facts.file_path.clear();
  facts.total_bytes = facts.max_bytes = 0;
  facts.dns_name.clear();
  facts.sni.clear();
  policy = nullptr;
  process_view = nullptr;
  event_id = 0;
  events.clear();
  alerts.clear();
}

namespace {

// bytes -> typed record
class DecodeStage : public Stage {
 public:
  explicit DecodeStage(Stats* stats) : stats_(stats) {}
  Step step() const override { return Step::kDecode; }
  const char* name() const override { return "decode"; }
  bool run(Item& item) override {
    stats_->records++;
    auto r = decode::decode(item.bytes);
    if (!r) {
      stats_->decode_errors++;
      // The kernel and this build share one header, so this is a bug or a
      // corrupt replay; say so, but not once per record.
      auto now = std::chrono::steady_clock::now();
      if (now - last_log_ > std::chrono::seconds(10)) {
        spdlog::error("undecodable record ({} so far): {}", stats_->decode_errors, r.error());
        last_log_ = now;
      }
      return false;
    }
    item.record = std::move(*r);
    return true;
  }

 private:
  Stats* stats_;
  std::chrono::steady_clock::time_point last_log_{};
};

// typed record -> process table and job state (and the process views that
// show what changed)
class StateStage : public Stage {
 public:
  StateStage(const Context& ctx, render::ProcessViews* views, Reaped* reaped)
      : procs_(*ctx.procs), jobs_(*ctx.jobs), proc_root_(ctx.proc_root), views_(*views), reaped_(*reaped),
        exited_(ctx.exited) {}
  Step step() const override { return Step::kState; }
  const char* name() const override { return "state"; }
  bool run(Item& item) override {
    std::visit([&](auto& r) { apply(r, item); }, *item.record);
    // A job process's open of a marked device node: its kernel record said it.
    const auto* d = std::get_if<decode::Device>(&*item.record);
    return !(d && d->source == decode::Source::kFanotify && d->hdr.job_id);
  }

 private:
  void apply(decode::Exec& e, Item& item) {
    procs_.on_exec(e);
    views_.changed(state::key_of(e.hdr.task), true);
    jobs_.on_exec(e, &item.job_changes);
  }
  void apply(decode::Fork& f, Item& item) {
    procs_.on_fork(f);
    jobs_.on_fork(f, &item.job_changes);
  }
  void apply(const decode::Exit& e, Item& item) {
    jobs_.on_exit(e, &item.job_changes);  // the table forgets it in the reap stage
  }
  void apply(const decode::Cgroup& c, Item& item) {
    views_.changed(state::key_of(c.hdr.task), false);
    jobs_.on_cgroup(c, &item.job_changes);
  }
  // Who reached into a job, or touched the daemon: often a process outside
  // any job, known only from /proc.
  void apply(const decode::ProcessAccess& a, Item&) { know(a.hdr.task); }
  void apply(const decode::SensorTouch& t, Item&) { know(t.hdr.task); }
  void apply(decode::File& f, Item&) { writer(f); }
  void apply(decode::Device& d, Item&) {
    if (d.source == decode::Source::kFanotify) opener(d);
    else device_openers_.note(d.hdr.task, d.hdr.job_id);
    // Held by what the job's own processes open; an outsider's open holds nothing.
    if (d.source == decode::Source::kSyscall && d.hdr.job_id) jobs_.on_device(d);
  }
  template <typename R>
  void apply(const R&, Item&) {}  // io_uring, DNS, network, hashes: nothing to keep here

  void know(const decode::TaskId& t) {
    state::ProcKey k = state::key_of(t);
    if (!k.tgid) return;
    state::Process* p = procs_.find(k);
    if (!p) state::load_with_ancestors(proc_root_, k.tgid, &procs_);
    if (!(p = procs_.find(k)) || p->exe.empty()) know_exited(t, p);
  }
  // A process outside jobs gone (or a zombie) before its record was read, a
  // short-lived bpftool: what the kernel kept of it at its exit, when that is
  // the same process.
  void know_exited(const decode::TaskId& t, state::Process* p) {
    if (!exited_) return;
    auto x = exited_(t.tgid);
    if (!x || x->task.start_ticks() != t.start_ticks()) return;
    if (p) {
      p->exe = std::move(x->exe);
      return;
    }
    state::Process gone;
    gone.key = state::key_of(t);
    gone.start_ns = t.start_ns;
    gone.exe = std::move(x->exe);
    procs_.add(std::move(gone));
  }
  // Outside jobs the kernel reports only what matters (protected writes,
  // sensitive reads): know the writer, from /proc if need be.
  void writer(decode::File& f) {
    state::ProcKey k = state::key_of(f.hdr.task);
    state::Process* p = procs_.find(k);
    if (!p && k.tgid) p = load_writer(f, k);
    // The record says what the process runs as it acts: a syscall record
    // outside jobs carries the kernel's exe, a fanotify record the exe read
    // when it was. A process exec'd in place (`sh -c '… && exec writer'`)
    // is judged by what it is now, not by what the table learned before. In
    // jobs the exec records (drained before fanotify is read) are the truth.
    bool says_exe = f.source == decode::Source::kSyscall || (p && !p->job_id);
    if (p && p->exe.empty() && !f.exe.empty()) p->exe = f.exe;  // a zombie's /proc has no exe
    else if (p && !f.exe.empty() && p->exe != f.exe && says_exe) {
      state::exec_seen(proc_root_, f.exe, p);
      views_.changed(p->key, true);
    }
    if (!f.hdr.job_id && p) f.hdr.job_id = p->job_id;
  }
  // Outside jobs: the opener from the table or /proc, else as fanotify named
  // it (gone already); a job process (gone too) by its kernel record.
  void opener(decode::Device& d) {
    state::ProcKey k = state::key_of(d.hdr.task);
    state::Process* p = procs_.find(k);
    if (!p && k.tgid) {
      state::load_with_ancestors(proc_root_, k.tgid, &procs_);
      p = procs_.find(k);
    }
    if (!p && !d.exe.empty()) {
      state::Process gone;
      gone.key = k;
      gone.start_ns = d.hdr.task.start_ns;
      gone.exe = d.exe;
      p = &procs_.add(std::move(gone));
    }
    if (p && p->exe.empty() && !d.exe.empty()) p->exe = d.exe;  // a zombie's /proc has no exe
    if (p) d.hdr.job_id = p->job_id;
    if (!d.hdr.job_id) d.hdr.job_id = device_openers_.job_of(d.hdr.task);
  }
  state::Process* load_writer(decode::File& f, state::ProcKey k) {
    state::load_with_ancestors(proc_root_, k.tgid, &procs_);
    state::Process* p = procs_.find(k);
    // A fanotify record read after its writer exited: /proc shows a zombie
    // (no exe) or nothing; what the table knew of it is what it ran, and its job.
    const state::Process* reaped = nullptr;
    if ((!p || p->exe.empty()) && f.exe.empty() && (reaped = reaped_.find(k.tgid)) &&
        !(f.hdr.task.start_ns == 0 || reaped->key == k))
      reaped = nullptr;  // that pid is another process now
    if (reaped) {
      f.hdr.task.start_ns = reaped->start_ns;
      f.exe = reaped->exe;
      if (!f.hdr.job_id) f.hdr.job_id = reaped->job_id;
      k = state::key_of(f.hdr.task);
      p = procs_.find(k);
      if (p && p->exe.empty()) p->exe = reaped->exe, p->args = reaped->args;
    }
    if (!p && !f.exe.empty()) {
      // Gone already: what the kernel said of it is all there is.
      state::Process gone;
      gone.key = k;
      gone.start_ns = f.hdr.task.start_ns;
      gone.exe = f.exe;
      if (reaped) gone.args = reaped->args;
      p = &procs_.add(std::move(gone));
    }
    if (!p) p = procs_.find_tgid(k.tgid);  // fanotify without a pidfd: best effort
    // Found by pid alone (a writer gone before its fanotify report was read):
    // the record names it by its full identity, so later stages find it too.
    if (p && p->key.tgid == k.tgid && f.hdr.task.start_ns == 0) f.hdr.task.start_ns = p->start_ns;
    return p;
  }

  state::ProcessTable& procs_;
  jobs::JobManager& jobs_;
  std::string proc_root_;
  render::ProcessViews& views_;
  Reaped& reaped_;
  std::function<Result<decode::ExitedExe>(uint32_t)> exited_;
  DeviceOpeners device_openers_;
};

// file records of a job -> the classes its own policy gives them (the
// kernel's are every policy's at once; rules/classify.h), code among them
class ClassifyStage : public Stage {
 public:
  explicit ClassifyStage(const Context& ctx) : procs_(*ctx.procs), jobs_(*ctx.jobs) {}
  Step step() const override { return Step::kClassify; }
  const char* name() const override { return "classify"; }
  bool run(Item& item) override {
    auto* f = std::get_if<decode::File>(&*item.record);
    // Outside jobs: what any policy says of it is what matters.
    if (!f || !item.policy || !item.facts.job) return true;
    // A symlink is classed by where it is made, not by the target it names.
    const std::string& subject = f->op == decode::FileOp::kSymlink ? f->path2 : item.facts.file_path;
    f->classes = rules::classify_with(policy_classes(*item.policy, subject), *f, subject, *item.policy, procs_,
                                      item.facts.process, item.facts.job->id);
    return true;
  }

 private:
  // A policy's classes of a path, matched once: every worker of every job
  // reads the same shards. Kept while the policy set they belong to is the
  // one in force (held, so its policies' addresses are not reused meanwhile).
  uint32_t policy_classes(const policy::Policy& p, const std::string& path) {
    auto set = jobs_.policies_ptr();
    if (set != held_ || cache_.size() >= kMaxCached) {
      held_ = std::move(set);
      cache_.clear();
    }
    const policy::Policy* which = &p;
    key_.assign(reinterpret_cast<const char*>(&which), sizeof(which));
    key_ += path;
    auto [it, fresh] = cache_.try_emplace(key_, 0);
    if (fresh) it->second = rules::policy_classes(p, path, 0);
    return it->second;
  }

  // Workers of a job open the same shards at about the same time; a bigger
  // cache only holds more paths read once (~170 bytes each, cleared when full).
  static constexpr size_t kMaxCached = 8192;
  state::ProcessTable& procs_;
  jobs::JobManager& jobs_;
  std::shared_ptr<const policy::PolicySet> held_;
  std::unordered_map<std::string, uint32_t> cache_;  // policy address + path -> classes
  std::string key_;
};

// record -> the process, job and policy it is about, and a file's canonical
// path: looked up once, read by every later stage. Also keeps the clock
// offset honest (Shared::check_clock).
class ResolveStage : public Stage {
 public:
  ResolveStage(const Context& ctx, Pipeline::Shared* shared)
      : procs_(*ctx.procs), jobs_(*ctx.jobs), watcher_(ctx.watcher), shared_(*shared) {}
  Step step() const override { return Step::kResolve; }
  const char* name() const override { return "resolve"; }
  bool run(Item& item) override {
    const decode::Header& h = decode::header(*item.record);
    shared_.check_clock(h.ts_ns);
    item.facts.process = procs_.find(state::key_of(h.task));
    item.facts.job = h.job_id ? jobs_.find(h.job_id) : nullptr;
    item.policy = item.facts.job ? jobs_.policies().at(item.facts.job->policy_index) : nullptr;
    if (const auto* f = std::get_if<decode::File>(&*item.record)) {
      std::string canonical = watcher_ ? watcher_->canonical(*f) : "";
      item.facts.file_path = canonical.empty() ? f->path : std::move(canonical);
    } else if (const auto* fh = std::get_if<decode::FileHash>(&*item.record)) {
      item.facts.file_path = fh->path;
    }
    return true;
  }

 private:
  state::ProcessTable& procs_;
  jobs::JobManager& jobs_;
  const watch::Watcher* watcher_;
  Pipeline::Shared& shared_;
};

// network records -> the name the job resolved the destination from, the
// job's running total to it, the policy's limit; DNS answers -> names learned
class EgressStage : public Stage {
 public:
  EgressStage(egress::Totals* totals, egress::Names* names, const egress::Egress* limits)
      : totals_(*totals), names_(*names), limits_(limits) {}
  Step step() const override { return Step::kEgress; }
  const char* name() const override { return "egress"; }
  bool run(Item& item) override {
    if (const auto* a = std::get_if<decode::DnsAnswer>(&*item.record)) learn(*a);
    if (const auto* t = std::get_if<decode::TlsHello>(&*item.record)) hello(*t, item);
    const auto* n = std::get_if<decode::Net>(&*item.record);
    if (!n || !n->hdr.job_id) return true;
    attribute(*n, item);
    item.facts.max_bytes = limits_ ? limits_->max_bytes(n->policy) : 0;
    if (!is_flow(*n)) return true;
    uint64_t delta = 0;
    item.facts.total_bytes =
        totals_.add_flow(n->hdr.job_id, n->daddr, n->cookie, n->bytes, n->op == decode::NetOp::kFlow, &delta);
    // A long flow is reported again only when it sent something since.
    return n->op == decode::NetOp::kFlow || delta > 0;
  }

 private:
  static bool is_flow(const decode::Net& n) { return n.op == decode::NetOp::kFlow || n.op == decode::NetOp::kFlowUpdate; }
  void learn(const decode::DnsAnswer& a) {
    if (!a.hdr.job_id || a.rcode != 0 || !a.believed()) return;  // a forged answer names nothing
    for (const auto& x : a.addresses) names_.learn(a.hdr.job_id, x.addr, a.name, x.ttl, a.hdr.ts_ns);
  }
  // Which name the job resolved this destination from: at the connect, and
  // for the socket's whole life after it.
  void attribute(const decode::Net& n, Item& item) {
    if (n.op == decode::NetOp::kBind || n.op == decode::NetOp::kListen) return;
    std::string name = is_flow(n) ? names_.socket_name(n.cookie) : "";
    if (name.empty()) name = names_.lookup(n.hdr.job_id, n.daddr, n.hdr.ts_ns);
    if (n.op == decode::NetOp::kConnect && !name.empty()) names_.remember_socket(n.cookie, n.hdr.job_id, name);
    if (is_flow(n)) item.facts.sni = names_.socket_sni(n.cookie);
    if (n.op == decode::NetOp::kFlow) names_.forget_socket(n.cookie);
    item.facts.dns_name = std::move(name);
  }
  // A TLS client's first bytes: the socket's server name from now on, and
  // the name its destination was resolved from, for the hello's own event.
  void hello(const decode::TlsHello& t, Item& item) {
    if (!t.hdr.job_id) return;
    if (!t.sni.empty()) names_.remember_sni(t.cookie, t.hdr.job_id, t.sni);
    item.facts.sni = t.sni;
    item.facts.dns_name = names_.socket_name(t.cookie);
  }

  egress::Totals& totals_;
  egress::Names& names_;
  const egress::Egress* limits_;
};

// file records -> content hashes asked for (what jobs read, what they write,
// what changes under them: hash/tracker.h); every change is seen, before the
// merge folds repeats.
class HashStage : public Stage {
 public:
  explicit HashStage(hash::Tracker* hashes) : hashes_(*hashes) {}
  Step step() const override { return Step::kHash; }
  const char* name() const override { return "hash"; }
  bool run(Item& item) override {
    if (const auto* f = std::get_if<decode::File>(&*item.record)) {
      hashes_.on_file(*f, item.facts.file_path, item.facts.job, item.policy);
      if (item.facts.job && rules::remote_code_path(item.facts.process, item.policy, item.facts.file_path))
        hashes_.on_write_followed(*f, item.facts.file_path, item.facts.job);
    }
    if (const auto* m = std::get_if<decode::Model>(&*item.record)) model_read(*m, item);
    for (const auto& c : item.job_changes)
      if (c.kind == jobs::JobChange::kEnded) hashes_.on_job_end(c.job->id);
    return true;
  }

 private:
  // A load is a read of the model file, whatever the kernel's file record
  // said of it (once per process and file, none under the base list).
  void model_read(const decode::Model& m, const Item& item) {
    if (m.op != decode::ModelOp::kOpen || m.repeat) return;  // the first load asked for it
    decode::File f;
    f.hdr = m.hdr;
    f.hdr.kind = decode::Kind::kFile;
    f.op = decode::FileOp::kOpen;
    f.access = decode::access::kRead;
    f.result = m.fd;
    f.dev = m.dev;
    f.ino = m.ino;
    f.path = m.path;
    f.path_flags = m.path_flags;
    hashes_.on_file(f, m.path, item.facts.job, item.policy);
  }
  hash::Tracker& hashes_;
};

// file records -> one report per change: the syscall and fanotify views of
// the same change, and fanotify's repeats (a write per write(2)), are folded
// into the first report for a while.
class MergeStage : public Stage {
 public:
  explicit MergeStage(Stats* stats) : stats_(*stats) {}
  Step step() const override { return Step::kMerge; }
  const char* name() const override { return "merge"; }
  bool run(Item& item) override {
    auto* f = std::get_if<decode::File>(&*item.record);
    // Only changes have a second view (fanotify) or repeats; the kernel
    // already reports a read once per (process, file).
    if (!f || f->hdr.task.tgid == 0 || !decode::is_change(*f)) return true;
    uint64_t now = f->hdr.ts_ns;
    if (now - last_sweep_ > kWindowNs) {
      std::erase_if(recent_, [&](const auto& kv) { return now - kv.second > kWindowNs; });
      last_sweep_ = now;
    }
    // A symlink's change is its new name (fanotify's view of it), not its target.
    const std::string& changed = f->op == decode::FileOp::kSymlink ? f->path2 : item.facts.file_path;
    std::string key = std::to_string(f->hdr.task.tgid) + '\0' + group(f->op) + '\0' + changed;
    auto [it, fresh] = recent_.try_emplace(key, now);
    if (!fresh && now - it->second <= kWindowNs) {
      stats_.merged++;
      return false;
    }
    it->second = now;
    return true;
  }

 private:
  static constexpr uint64_t kWindowNs = 2'000'000'000;
  // Changes that are one change whichever source saw them.
  static const char* group(decode::FileOp op) {
    using O = decode::FileOp;
    switch (op) {
      case O::kOpen: case O::kModify: case O::kCloseWrite: case O::kTruncate: return "write";
      case O::kCreate: case O::kMkdir: case O::kLink: case O::kSymlink: return "create";
      case O::kUnlink: case O::kRmdir: case O::kDelete: return "delete";
      case O::kRename: return "rename";
      case O::kChmod: case O::kChown: return "attr";
    }
    return "?";
  }
  Stats& stats_;
  std::unordered_map<std::string, uint64_t> recent_;
  uint64_t last_sweep_ = 0;
};

// Which records become events: a job's, and outside jobs what the kernel
// already filtered to what matters (file changes and sensitive reads,
// accesses to jobs, touches of the daemon).
bool wanted(const Item& item, const jobs::Job* job) {
  decode::Kind k = decode::header(*item.record).kind;
  // A model file's close only bounds a load window (checkpoint-code-exec);
  // a process's repeated load of one file is a window, not another event.
  if (const auto* m = std::get_if<decode::Model>(&*item.record))
    return job && m->op == decode::ModelOp::kOpen && !m->repeat;
  if (job) return k != decode::Kind::kCgroupMkdir && k != decode::Kind::kCgroupRmdir;
  return k == decode::Kind::kFile || k == decode::Kind::kProcessAccess || k == decode::Kind::kSensor;
}

// An access is about the job reached into, whoever did it; an outsider's
// device open about the job that holds the device (none: no event, so a
// monitoring agent polling idle GPUs makes no noise).
const jobs::Job* event_job(const Item& item, const jobs::JobManager& jobs) {
  if (item.facts.job) return item.facts.job;
  if (!item.record) return nullptr;
  if (const auto* d = std::get_if<decode::Device>(&*item.record)) {
    for (const jobs::Job* j : jobs.live())
      if (j->holds(d->major, d->minor)) return j;
    return nullptr;
  }
  const auto* a = std::get_if<decode::ProcessAccess>(&*item.record);
  return a ? jobs.find(a->target_job) : nullptr;
}

// record + job changes -> events of the output schema (render/event.h)
class RenderStage : public Stage {
 public:
  RenderStage(const Context& ctx, Pipeline::Shared* shared)
      : jobs_(*ctx.jobs), shared_(*shared), stats_(*ctx.stats),
        renderer_(ctx.host, &shared->views, ctx.procs, ctx.jobs) {}
  Step step() const override { return Step::kRender; }
  const char* name() const override { return "render"; }
  bool run(Item& item) override {
    if (!item.record) shared_.check_clock(now_boot_ns());  // records were checked at resolve
    shared_.views.trim();
    item.events.for_each([&](v1::Event& e) {  // the daemon's own (push_event): one sequence of ids
      if (!e.id()) e.set_id(shared_.next_event_id());
    });
    job_events(item, jobs::JobChange::kStarted);
    if (item.record) record_event(item);
    job_events(item, jobs::JobChange::kEnded);
    return true;
  }

 private:
  void job_events(Item& item, jobs::JobChange::Kind kind) {
    for (const auto& c : item.job_changes)
      if (c.kind == kind) renderer_.job_change(c, shared_.next_event_id(), item.events.add());
  }
  void record_event(Item& item) {
    const jobs::Job* job = event_job(item, jobs_);
    if (!wanted(item, job)) {
      stats_.filtered++;
      return;
    }
    stats_.record_events++;
    item.event_id = shared_.next_event_id();
    if (renderer_.record(*item.record, item.facts, job, item.event_id, item.events.add()))
      item.events.mark_borrowed_process();
    item.process_view = renderer_.last_process_view();  // detect's alerts show the same
  }

  jobs::JobManager& jobs_;
  Pipeline::Shared& shared_;
  Stats& stats_;
  render::EventRenderer renderer_;
};

// records -> event ids only, when no sink takes events: the id still names
// the evidence of an alert (and the journal's rows), no Event is built.
class IdStage : public Stage {
 public:
  IdStage(const Context& ctx, Pipeline::Shared* shared) : jobs_(*ctx.jobs), shared_(*shared), stats_(*ctx.stats) {}
  Step step() const override { return Step::kRender; }
  const char* name() const override { return "ids"; }
  bool run(Item& item) override {
    shared_.views.trim();
    item.events.for_each([&](v1::Event& e) {
      if (!e.id()) e.set_id(shared_.next_event_id());
    });
    if (!item.record) return true;
    if (!wanted(item, event_job(item, jobs_))) {
      stats_.filtered++;
      return true;
    }
    stats_.record_events++;
    item.event_id = shared_.next_event_id();
    return true;
  }

 private:
  jobs::JobManager& jobs_;
  Pipeline::Shared& shared_;
  Stats& stats_;
};

// record + state -> alerts of the rule catalogue
class DetectStage : public Stage {
 public:
  DetectStage(const Context& ctx, Pipeline::Shared* shared)
      : rules_(*ctx.rules), jobs_(*ctx.jobs), procs_(*ctx.procs), views_(shared->views), writers_(ctx.writers),
        model_window_ns_(ctx.model_window_ns) {}
  Step step() const override { return Step::kDetect; }
  const char* name() const override { return "detect"; }
  bool run(Item& item) override {
    if (item.record) detect(item);
    // A job that ended: what it repeated, summed up once, after its last alerts.
    for (const auto& c : item.job_changes)
      if (c.kind == jobs::JobChange::kEnded)
        for (auto& a : rules_.summaries(c.job->id)) item.alerts.push_back(std::move(a));
    return true;
  }

 private:
  void detect(Item& item) {
    const render::Facts& f = item.facts;
    rules::Input in{*item.record, f.process, f.job,         item.policy, jobs_.policies(),
                    jobs_,        procs_,    f.file_path,   item.event_id};
    in.net_dns = f.dns_name;
    in.net_sni = f.sni;
    in.net_total_bytes = f.total_bytes;
    in.net_max_bytes = f.max_bytes;
    in.writers = writers_;
    in.model_window_ns = model_window_ns_;
    if (f.process) in.process_view = item.process_view ? item.process_view : &views_.of(*f.process);
    for (auto& a : rules_.run(in)) item.alerts.push_back(std::move(a));
  }

  rules::Engine& rules_;
  jobs::JobManager& jobs_;
  state::ProcessTable& procs_;
  render::ProcessViews& views_;
  const writers::Identity* writers_;
  uint64_t model_window_ns_;
};

// events and alerts -> every configured sink; counted here, once
class SinkStage : public Stage {
 public:
  explicit SinkStage(const Context& ctx) : host_(ctx.host), sinks_(*ctx.sinks), stats_(*ctx.stats) {}
  Step step() const override { return Step::kSinks; }
  const char* name() const override { return "sinks"; }
  bool run(Item& item) override {
    item.events.for_each([&](v1::Event& e) {
      if (e.time().empty()) e.set_time(rfc3339(now_wall_ns()));
      if (e.host().empty()) e.set_host(host_);
      for (auto& s : sinks_) s->write(e);
      stats_.events++;
    });
    for (auto& a : item.alerts) {
      // The id is what a receiver de-duplicates by (delivery is at-least-once).
      if (a.id().empty()) a.set_id(sinks::make_alert_id());
      if (a.time().empty()) a.set_time(rfc3339(now_wall_ns()));
      if (a.host().empty()) a.set_host(host_);
      if (a.action().empty()) a.set_action("alerted");
      for (auto& s : sinks_) s->write_alert(a);
      stats_.alerts++;
    }
    return true;
  }
  void flush() override {
    for (auto& s : sinks_) s->flush();
  }

 private:
  std::string host_;
  std::vector<std::unique_ptr<sinks::Sink>>& sinks_;
  Stats& stats_;
};

// exits -> the process table forgets, once everything after state has used it;
// ended jobs -> their byte totals and names go
class ReapStage : public Stage {
 public:
  ReapStage(const Context& ctx, egress::Totals* totals, egress::Names* names, render::ProcessViews* views,
            Reaped* reaped)
      : procs_(*ctx.procs), totals_(*totals), names_(*names), views_(*views), reaped_(*reaped) {}
  Step step() const override { return Step::kReap; }
  const char* name() const override { return "reap"; }
  bool run(Item& item) override {
    if (item.record)
      if (const auto* x = std::get_if<decode::Exit>(&*item.record)) {
        if (const state::Process* p = procs_.find(state::key_of(x->hdr.task))) reaped_.keep(*p);
        procs_.on_exit(state::key_of(x->hdr.task));
        views_.forget(state::key_of(x->hdr.task));
      }
    for (const auto& c : item.job_changes) {
      if (c.kind != jobs::JobChange::kEnded) continue;
      totals_.forget_job(c.job->id);
      names_.forget_job(c.job->id);
    }
    return true;
  }

 private:
  state::ProcessTable& procs_;
  egress::Totals& totals_;
  egress::Names& names_;
  render::ProcessViews& views_;
  Reaped& reaped_;
};

}  // namespace

// The reused Item; a push from inside a push (a sink that pushes) gets a
// fresh one, so the outer item is not cleared under its stages.
class Pipeline::Lease {
 public:
  explicit Lease(Pipeline* p) : p_(p) {
    if (p_->depth_++ == 0) {
      item_ = p_->item_.get();
      item_->reset();
    } else {
      own_ = std::make_unique<Item>();
      item_ = own_.get();
    }
  }
  ~Lease() { --p_->depth_; }
  Item& item() { return *item_; }

 private:
  Pipeline* p_;
  Item* item_;
  std::unique_ptr<Item> own_;
};

Pipeline::Pipeline() : item_(std::make_unique<Item>()) {}
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;
Pipeline::~Pipeline() = default;

Pipeline Pipeline::standard(Context ctx) {
  Pipeline p;
  p.shared_ = std::make_unique<Shared>(ctx);
  Shared* sh = p.shared_.get();
  egress::Totals* totals = ctx.totals ? ctx.totals : &sh->own_totals;
  egress::Names* names = ctx.names ? ctx.names : &sh->own_names;
  p.add(std::make_unique<DecodeStage>(ctx.stats));
  p.add(std::make_unique<StateStage>(ctx, &sh->views, &sh->reaped));
  p.add(std::make_unique<ResolveStage>(ctx, sh));
  p.add(std::make_unique<ClassifyStage>(ctx));
  p.add(std::make_unique<EgressStage>(totals, names, ctx.egress));
  if (ctx.hashes) p.add(std::make_unique<HashStage>(ctx.hashes));
  p.add(std::make_unique<MergeStage>(ctx.stats));
  if (ctx.render_events) p.add(std::make_unique<RenderStage>(ctx, sh));
  else p.add(std::make_unique<IdStage>(ctx, sh));
  if (ctx.rules) p.add(std::make_unique<DetectStage>(ctx, sh));
  p.add(std::make_unique<SinkStage>(ctx));
  p.add(std::make_unique<ReapStage>(ctx, totals, names, &sh->views, &sh->reaped));
  return p;
}

void Pipeline::run_from(Step first, Item& item) {
  for (auto& s : stages_) {
    if (s->step() < first) continue;
    if (!s->run(item)) return;
  }
}

void Pipeline::push(std::span<const uint8_t> bytes) {
  Lease lease(this);
  lease.item().bytes = bytes;
  run_from(Step::kDecode, lease.item());
}

void Pipeline::push_record(decode::Record record) {
  if (shared_ && shared_->stats) shared_->stats->pushed++;  // the other side of the sum with `records` (Stats)
  Lease lease(this);
  lease.item().record = std::move(record);
  run_from(Step::kState, lease.item());
}

void Pipeline::push_job_changes(std::vector<jobs::JobChange> changes) {
  if (changes.empty()) return;
  Lease lease(this);
  lease.item().job_changes = std::move(changes);
  run_from(Step::kRender, lease.item());  // no record: nothing to decode, keep or resolve
}

void Pipeline::push_event(v1::Event event) {
  Lease lease(this);
  *lease.item().events.add() = std::move(event);  // all of it: nothing of a reused event stays
  run_from(Step::kRender, lease.item());  // an id from the one sequence; nothing to detect
}

void Pipeline::push_alert(v1::Alert alert) {
  Lease lease(this);
  lease.item().alerts.push_back(std::move(alert));
  run_from(Step::kSinks, lease.item());
}

void Pipeline::flush() {
  for (auto& s : stages_) s->flush();
}

std::vector<std::string> Pipeline::stage_names() const {
  std::vector<std::string> out;
  for (const auto& s : stages_) out.push_back(s->name());
  return out;
}

}  // namespace fts::pipeline
