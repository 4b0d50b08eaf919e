#include "pipeline/pipeline.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <deque>

#include "common/time.h"
#include "rules/classify.h"
#include "sinks/format.h"
#include "state/proc.h"

#include <unordered_map>

namespace fts::pipeline {
namespace {

// bytes -> typed record
class DecodeStage : public Stage {
 public:
  explicit DecodeStage(Stats* stats) : stats_(stats) {}
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

// typed record -> process table and job state
class StateStage : public Stage {
 public:
  StateStage(const Context& ctx, std::shared_ptr<Reaped> reaped) : ctx_(ctx), reaped_(std::move(reaped)) {}
  const char* name() const override { return "state"; }
  bool run(Item& item) override {
    return std::visit([&](auto& r) { return apply(r, item); }, *item.record);
  }

 private:
  bool apply(decode::Exec& e, Item& item) {
    ctx_.procs->on_exec(e);
    ctx_.jobs->on_exec(e, &item.job_changes);
    return true;
  }
  bool apply(decode::Fork& f, Item& item) {
    ctx_.procs->on_fork(f);
    ctx_.jobs->on_fork(f, &item.job_changes);
    return true;
  }
  bool apply(const decode::Exit& e, Item& item) {
    ctx_.jobs->on_exit(e, &item.job_changes);  // the table forgets it in the reap stage
    return true;
  }
  bool apply(const decode::Cgroup& c, Item& item) {
    ctx_.jobs->on_cgroup(c, &item.job_changes);
    return true;
  }
  bool apply(const decode::IoUring&, Item&) { return true; }
  bool apply(const decode::Dns&, Item&) { return true; }
  bool apply(const decode::FileHash&, Item&) { return true; }
  // Who reached into a job, or touched the daemon: often a process outside
  // any job, known only from /proc.
  bool apply(const decode::ProcessAccess& a, Item&) {
    know(a.hdr.task);
    return true;
  }
  bool apply(const decode::SensorTouch& t, Item&) {
    know(t.hdr.task);
    return true;
  }
  void know(const decode::TaskId& t) {
    state::ProcKey k = state::key_of(t);
    if (k.tgid && !ctx_.procs->find(k)) state::load_with_ancestors(ctx_.proc_root, k.tgid, ctx_.procs);
  }
  bool apply(const decode::DnsAnswer& a, Item&) {
    if (!ctx_.names || !a.hdr.job_id || a.rcode != 0) return true;
    for (const auto& x : a.addresses) ctx_.names->learn(a.hdr.job_id, x.addr, a.name, x.ttl, a.hdr.ts_ns);
    return true;
  }
  // Which name the job resolved this destination from: at the connect, and
  // for the socket's whole life after it.
  void attribute(const decode::Net& n, Item& item) {
    if (!ctx_.names || !n.hdr.job_id || n.op == decode::NetOp::kBind || n.op == decode::NetOp::kListen) return;
    bool flow = n.op == decode::NetOp::kFlow || n.op == decode::NetOp::kFlowUpdate;
    std::string name = flow ? ctx_.names->socket_name(n.cookie) : "";
    if (name.empty()) name = ctx_.names->lookup(n.hdr.job_id, n.daddr, n.hdr.ts_ns);
    if (n.op == decode::NetOp::kConnect && !name.empty()) ctx_.names->remember_socket(n.cookie, n.hdr.job_id, name);
    if (n.op == decode::NetOp::kFlow) ctx_.names->forget_socket(n.cookie);
    item.dns_name = std::move(name);
  }
  bool apply(const decode::Net& n, Item& item) {
    attribute(n, item);
    bool flow = n.op == decode::NetOp::kFlow || n.op == decode::NetOp::kFlowUpdate;
    if (!flow || !ctx_.totals || !n.hdr.job_id) return true;
    uint64_t delta = 0;
    item.total_bytes =
        ctx_.totals->add_flow(n.hdr.job_id, n.daddr, n.cookie, n.bytes, n.op == decode::NetOp::kFlow, &delta);
    // A long flow is reported again only when it sent something since.
    return n.op == decode::NetOp::kFlow || delta > 0;
  }
  bool apply(decode::File& f, Item&) {
    // Outside jobs the kernel reports only what matters (protected writes,
    // sensitive reads): know the writer, from /proc if need be.
    state::ProcKey k = state::key_of(f.hdr.task);
    state::Process* p = ctx_.procs->find(k);
    if (!p && k.tgid) {
      state::load_with_ancestors(ctx_.proc_root, k.tgid, ctx_.procs);
      p = ctx_.procs->find(k);
      // A fanotify record read after its writer exited: /proc shows a zombie
      // (no exe) or nothing; what the table knew of it is what it ran, and its job.
      const state::Process* reaped = nullptr;
      if ((!p || p->exe.empty()) && f.exe.empty() && (reaped = reaped_->find(k.tgid)) &&
          !(f.hdr.task.start_ns == 0 || reaped->key == k))
        reaped = nullptr;  // that pid is another process now
      if (reaped) {
        f.hdr.task.start_ns = reaped->start_ns;
        f.exe = reaped->exe;
        if (!f.hdr.job_id) f.hdr.job_id = reaped->job_id;
        k = state::key_of(f.hdr.task);
        p = ctx_.procs->find(k);
        if (p && p->exe.empty()) p->exe = reaped->exe, p->args = reaped->args;
      }
      if (!p && !f.exe.empty()) {
        // Gone already: what the kernel said of it is all there is.
        state::Process gone;
        gone.key = k;
        gone.start_ns = f.hdr.task.start_ns;
        gone.exe = f.exe;
        if (reaped) gone.args = reaped->args;
        p = &ctx_.procs->add(std::move(gone));
      }
      if (!p) p = ctx_.procs->find_tgid(k.tgid);  // fanotify without a pidfd: best effort
      // Found by pid alone (a writer gone before its fanotify report was read):
      // the record names it by its full identity, so later stages find it too.
      if (p && p->key.tgid == k.tgid && f.hdr.task.start_ns == 0) f.hdr.task.start_ns = p->start_ns;
    }
    // The record says what the process runs as it acts: a syscall record
    // outside jobs carries the kernel's exe, a fanotify record the exe read
    // when it was. A process exec'd in place (`sh -c '… && exec writer'`)
    // is judged by what it is now, not by what the table learned before. In
    // jobs the exec records (drained before fanotify is read) are the truth.
    bool says_exe = f.source == decode::Source::kSyscall || (p && !p->job_id);
    if (p && p->exe.empty() && !f.exe.empty()) p->exe = f.exe;  // a zombie's /proc has no exe
    else if (p && !f.exe.empty() && p->exe != f.exe && says_exe) state::exec_seen(ctx_.proc_root, f.exe, p);
    if (!f.hdr.job_id && p) f.hdr.job_id = p->job_id;
    return true;
  }

  Context ctx_;
  std::shared_ptr<Reaped> reaped_;
};

// file records -> their canonical path, and the classes the job's own policy
// gives them (the kernel's are every policy's at once; rules/classify.h)
class ClassifyStage : public Stage {
 public:
  explicit ClassifyStage(const Context& ctx) : ctx_(ctx) {}
  const char* name() const override { return "classify"; }
  bool run(Item& item) override {
    auto* f = item.record ? std::get_if<decode::File>(&*item.record) : nullptr;
    if (!f) return true;
    std::string canonical = ctx_.watcher ? ctx_.watcher->canonical(*f) : "";
    item.file_path = canonical.empty() ? f->path : canonical;
    const jobs::Job* job = f->hdr.job_id ? ctx_.jobs->find(f->hdr.job_id) : nullptr;
    const policy::Policy* policy = job ? ctx_.jobs->policies().at(job->policy_index) : nullptr;
    if (!policy) return true;  // outside jobs: what any policy says of it is what matters
    // A symlink is classed by where it is made, not by the target it names.
    const std::string& subject = f->op == decode::FileOp::kSymlink ? f->path2 : item.file_path;
    f->classes = rules::classify(*f, subject, *policy, *ctx_.procs, ctx_.procs->find(state::key_of(f->hdr.task)),
                                 job->id);
    return true;
  }

 private:
  Context ctx_;
};

// file records -> content hashes asked for (what jobs read, what they write,
// what changes under them: hash/tracker.h); every change is seen, before the
// merge folds repeats. File hashes coming back get their path.
class HashStage : public Stage {
 public:
  explicit HashStage(const Context& ctx) : ctx_(ctx) {}
  const char* name() const override { return "hash"; }
  bool run(Item& item) override {
    if (!ctx_.hashes || !item.record) return true;
    if (const auto* h = std::get_if<decode::FileHash>(&*item.record)) {
      item.file_path = h->path;
      return true;
    }
    if (const auto* f = std::get_if<decode::File>(&*item.record)) {
      std::string canonical = ctx_.watcher ? ctx_.watcher->canonical(*f) : "";
      const jobs::Job* job = f->hdr.job_id ? ctx_.jobs->find(f->hdr.job_id) : nullptr;
      const policy::Policy* policy = job ? ctx_.jobs->policies().at(job->policy_index) : nullptr;
      ctx_.hashes->on_file(*f, canonical.empty() ? f->path : canonical, job, policy);
    }
    for (const auto& c : item.job_changes)
      if (c.kind == jobs::JobChange::kEnded) ctx_.hashes->on_job_end(c.job->id);
    return true;
  }

 private:
  Context ctx_;
};

// file records -> one report per change: the syscall and fanotify views of
// the same change, and fanotify's repeats (a write per write(2)), are folded
// into the first report for a while.
class MergeStage : public Stage {
 public:
  explicit MergeStage(const Context& ctx) : ctx_(ctx) {}
  const char* name() const override { return "merge"; }
  bool run(Item& item) override {
    auto* f = item.record ? std::get_if<decode::File>(&*item.record) : nullptr;
    if (!f) return true;  // (file hashes: their path is set by the hash stage)
    std::string canonical = ctx_.watcher ? ctx_.watcher->canonical(*f) : "";
    item.file_path = canonical.empty() ? f->path : canonical;
    if (f->hdr.task.tgid == 0) return true;
    // Only changes have a second view (fanotify) or repeats; the kernel
    // already reports a read once per (process, file).
    if (!decode::is_change(*f)) return true;
    uint64_t now = f->hdr.ts_ns;
    if (now - last_sweep_ > kWindowNs) {
      std::erase_if(recent_, [&](const auto& kv) { return now - kv.second > kWindowNs; });
      last_sweep_ = now;
    }
    // A symlink's change is its new name (fanotify's view of it), not its target.
    const std::string& changed = f->op == decode::FileOp::kSymlink ? f->path2 : item.file_path;
    std::string key = std::to_string(f->hdr.task.tgid) + '\0' + group(f->op) + '\0' + changed;
    auto [it, fresh] = recent_.try_emplace(key, now);
    if (!fresh && now - it->second <= kWindowNs) {
      ctx_.stats->merged++;
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
  Context ctx_;
  std::unordered_map<std::string, uint64_t> recent_;
  uint64_t last_sweep_ = 0;
};

// record + job changes -> events of the output schema
class RenderStage : public Stage {
 public:
  explicit RenderStage(const Context& ctx) : ctx_(ctx) {}
  const char* name() const override { return "render"; }

  bool run(Item& item) override {
    auto job_events = [&](jobs::JobChange::Kind kind) {
      for (const auto& c : item.job_changes)
        if (c.kind == kind) item.events.push_back(job_event(c));
    };
    job_events(jobs::JobChange::kStarted);
    if (item.record) {
      const decode::Header& h = decode::header(*item.record);
      const jobs::Job* job = h.job_id ? ctx_.jobs->find(h.job_id) : nullptr;
      // An access is about the job reached into, whoever did it.
      if (const auto* a = std::get_if<decode::ProcessAccess>(&*item.record); a && !job)
        job = ctx_.jobs->find(a->target_job);
      // File records outside jobs are already filtered to what matters; so
      // are accesses to jobs and touches of the daemon.
      bool wanted = job ? record_wanted(h.kind)
                        : h.kind == decode::Kind::kFile || h.kind == decode::Kind::kProcessAccess ||
                              h.kind == decode::Kind::kSensor;
      if (wanted && ctx_.render_events) {
        item.events.push_back(record_event(*item.record, job, item));
        item.event_id = item.events.back().id();
      } else if (wanted) {
        item.event_id = ++seq_;  // nothing reads events: the id still names the evidence
      }
    }
    job_events(jobs::JobChange::kEnded);
    return true;
  }

 private:
  static bool record_wanted(decode::Kind k) {
    return k == decode::Kind::kExec || k == decode::Kind::kFork || k == decode::Kind::kExit ||
           k == decode::Kind::kCgroupAttach || k == decode::Kind::kFile || k == decode::Kind::kIoUring ||
           k == decode::Kind::kNet || k == decode::Kind::kDns || k == decode::Kind::kProcessAccess ||
           k == decode::Kind::kSensor || k == decode::Kind::kFileHash || k == decode::Kind::kDnsAnswer;
  }

  v1::Event base(uint64_t wall_ns, const char* kind) {
    v1::Event e;
    e.set_id(++seq_);
    e.set_time(rfc3339(wall_ns));
    e.set_host(ctx_.host);
    e.set_kind(kind);
    return e;
  }

  v1::Event job_event(const jobs::JobChange& c) {
    const jobs::Job& j = *c.job;
    bool started = c.kind == jobs::JobChange::kStarted;
    v1::Event e = base(started ? j.start_wall_ns : j.end_wall_ns, started ? "job_start" : "job_end");
    set_job_ref(j, e.mutable_job());
    render_job(j, e.mutable_job_info());
    if (const state::Process* p = ctx_.procs->find(j.root)) render_process(*p, 0, e.mutable_process());
    return e;
  }

  static void set_job_ref(const jobs::Job& j, v1::JobRef* ref) {
    ref->set_id(jobs::job_id_string(j.id));
    ref->set_policy(j.policy);
    ref->set_name(j.name);
  }

  void render_process(const state::Process& p, uint32_t tid, v1::Process* out) {
    out->set_pid(p.key.tgid);
    if (tid) out->set_tid(tid);
    out->set_start_time(rfc3339(boot_to_wall_ns(p.start_ns)));
    out->set_start_ticks(p.key.start_ticks);
    out->set_ppid(p.parent.tgid);
    out->set_exe(p.exe);
    for (const auto& a : p.args) out->add_args(a);
    out->set_uid(p.uid);
    out->set_gid(p.gid);
    out->set_euid(p.euid);
    out->set_egid(p.egid);
    out->set_cwd(p.cwd);
    if (p.cgroup_id) {
      out->mutable_cgroup()->set_id(p.cgroup_id);
      out->mutable_cgroup()->set_path(ctx_.cgroups->path(p.cgroup_id));
    }
    for (const auto& f : p.flags) out->add_flags(f);
    for (const state::Process* a : ctx_.procs->ancestry(p)) {
      auto* anc = out->add_ancestry();
      anc->set_pid(a->key.tgid);
      anc->set_exe(a->exe);
      anc->set_start_time(rfc3339(boot_to_wall_ns(a->start_ns)));
    }
  }

  v1::Event record_event(const decode::Record& r, const jobs::Job* job, const Item& item) {
    const decode::Header& h = decode::header(r);
    static const char* kKinds[] = {"",         "exec", "fork", "exit", "cgroup_mkdir", "cgroup_rmdir", "cgroup_move",
                                   "file", "io_uring", "network", "network", "process_access", "network",
                                   "sensor_touch"};
    uint32_t k = static_cast<uint32_t>(h.kind);
    v1::Event e = base(boot_to_wall_ns(h.ts_ns), h.kind == decode::Kind::kFileHash ? "file_hash"
                                                 : k < std::size(kKinds)             ? kKinds[k]
                                                                                     : "unknown");
    if (job) set_job_ref(*job, e.mutable_job());
    if (const state::Process* p = ctx_.procs->find(state::key_of(h.task))) {
      render_process(*p, h.tid, e.mutable_process());
    } else {
      e.mutable_process()->set_pid(h.task.tgid);
      e.mutable_process()->set_tid(h.tid);
    }
    if (const auto* x = std::get_if<decode::Exit>(&r)) {
      // wait(2) status: exit code in bits 8-15, terminating signal in 0-6
      e.mutable_exit()->set_code(static_cast<int32_t>((x->status >> 8) & 0xff));
      e.mutable_exit()->set_signal(static_cast<int32_t>(x->status & 0x7f));
    }
    if (const auto* f = std::get_if<decode::File>(&r)) render_file(*f, item, e.mutable_file());
    if (const auto* u = std::get_if<decode::IoUring>(&r)) {
      auto* out = e.mutable_io_uring();
      out->set_opcode(u->opcode);
      out->set_op(io_uring_op_name(u->opcode));
      if (u->fd >= 0) out->set_fd(u->fd);
    }
    if (const auto* n = std::get_if<decode::Net>(&r)) render_net(*n, item, e.mutable_network());
    if (const auto* fh = std::get_if<decode::FileHash>(&r)) render_hash(*fh, e);
    if (const auto* d = std::get_if<decode::Dns>(&r)) {
      auto* out = e.mutable_network();
      out->set_op("dns_query");
      out->set_protocol(d->tcp ? "tcp" : "udp");
      out->set_daddr(address_string(d->daddr));
      out->set_dport(d->dport);
      out->set_cookie(d->cookie);
      out->set_dns(d->name);
      out->set_dns_id(d->id);
      if (d->truncated) out->set_dns_truncated(true);
    }
    if (const auto* a = std::get_if<decode::ProcessAccess>(&r)) render_access(*a, e.mutable_access());
    if (const auto* t = std::get_if<decode::SensorTouch>(&r)) render_sensor_touch(*t, e.mutable_sensor_touch());
    if (const auto* x = std::get_if<decode::Exec>(&r); x && !x->preload.empty()) {
      e.mutable_process()->add_flags("ld_preload");
      e.mutable_process()->set_ld_preload(x->preload);
    }
    if (const auto* a = std::get_if<decode::DnsAnswer>(&r)) {
      auto* out = e.mutable_network();
      out->set_op("dns_answer");
      out->set_protocol(a->tcp ? "tcp" : "udp");
      out->set_daddr(address_string(a->saddr));  // the job's peer: the resolver
      out->set_dport(a->sport);
      out->set_cookie(a->cookie);
      out->set_dns(a->name);
      out->set_dns_id(a->id);
      out->set_dns_rcode(decode::dns_rcode_name(a->rcode));
      for (const auto& x : a->addresses) {
        auto* o = out->add_dns_answers();
        o->set_address(address_string(x.addr));
        o->set_ttl(x.ttl);
      }
      if (a->allowed) out->set_dns_allowed(true);
      if (a->cut) out->set_dns_cut(true);
      if (a->truncated) out->set_dns_truncated(true);
    }
    if (const auto* c = std::get_if<decode::Cgroup>(&r)) {
      e.mutable_cgroup()->set_id(c->id);
      e.mutable_cgroup()->set_path(c->path);
      e.mutable_process()->mutable_cgroup()->set_id(c->id);
      e.mutable_process()->mutable_cgroup()->set_path(c->path);
    }
    return e;
  }

  static void render_file(const decode::File& f, const Item& item, v1::FileInfo* out) {
    out->set_path(item.file_path);
    if (!f.path.empty() && f.path != item.file_path) out->set_kernel_path(f.path);
    if (!f.path2.empty()) out->set_new_path(f.path2);
    if (f.dev || f.ino) {
      out->set_dev(std::to_string(f.dev >> 20) + ":" + std::to_string(f.dev & 0xfffff));
      out->set_ino(f.ino);
    }
    if (f.mnt_id) out->set_mnt_id(f.mnt_id);
    out->set_op(decode::to_string(f.op));
    static const std::pair<uint16_t, const char*> kAccess[] = {
        {decode::access::kRead, "read"},       {decode::access::kWrite, "write"},   {decode::access::kCreate, "create"},
        {decode::access::kTruncate, "truncate"}, {decode::access::kAppend, "append"}, {decode::access::kExec, "exec"},
        {decode::access::kDirectory, "directory"}};
    for (const auto& [bit, name] : kAccess)
      if (f.access & bit) out->add_access(name);
    if (f.source == decode::Source::kSyscall) out->set_result(f.result);
    add_classes(f.classes, out);
    out->set_source(f.source == decode::Source::kFanotify ? "fanotify" : "syscall");
    if (f.path_from_user) out->add_flags("path_from_user");
    if (f.path_flags.truncated) out->add_flags("path_truncated");
    if (f.path_flags.deleted) out->add_flags("path_deleted");
    if (f.path_flags.internal) out->add_flags("path_internal");
    if (f.matched_by_name) out->add_flags("matched_by_name");
  }

  static void render_hash(const decode::FileHash& h, v1::Event& e) {
    auto* f = e.mutable_file();
    f->set_path(h.path);
    if (h.dev || h.ino) {
      f->set_dev(std::to_string(h.dev >> 20) + ":" + std::to_string(h.dev & 0xfffff));
      f->set_ino(h.ino);
    }
    add_classes(h.classes, f);
    auto* out = e.mutable_hash();
    out->set_sha256(h.sha256);
    if (!h.sha256.empty()) out->set_size(h.size);
    if (h.mtime_wall_ns) out->set_mtime(rfc3339(h.mtime_wall_ns));
    out->set_reason(h.reason);
    out->set_cached(h.cached);
    out->set_manifest(h.manifest);
    out->set_manifest_verdict(h.manifest_verdict);
    out->set_manifest_sha256(h.manifest_sha256);
    out->set_first_sha256(h.first_sha256);
    out->set_error(h.error);
  }

  static void add_classes(uint32_t classes, v1::FileInfo* out) {
    static const std::pair<uint32_t, const char*> kClasses[] = {{decode::cls::kTraining, "training"},
                                                                 {decode::cls::kOutputs, "outputs"},
                                                                 {decode::cls::kProtected, "protected"},
                                                                 {decode::cls::kSensitive, "sensitive"},
                                                                 {decode::cls::kBase, "base"},
                                                                 {rules::kCodeClass, "code"}};
    for (const auto& [bit, name] : kClasses)
      if (classes & bit) out->add_classes(name);
  }

  void render_access(const decode::ProcessAccess& a, v1::ProcessAccess* out) {
    out->set_op(decode::to_string(a.op));
    if (a.op == decode::AccessOp::kPtrace) out->set_request(decode::ptrace_request_name(a.arg));
    out->set_target_pid(a.target.tgid);
    out->set_target_tid(a.target_tid);
    out->set_target_start_time(rfc3339(boot_to_wall_ns(a.target.start_ns)));
    if (const state::Process* p = ctx_.procs->find(state::key_of(a.target))) out->set_target_exe(p->exe);
    if (const jobs::Job* j = ctx_.jobs->find(a.target_job)) set_job_ref(*j, out->mutable_target_job());
    out->set_result(a.result);
  }

  static void render_sensor_touch(const decode::SensorTouch& t, v1::SensorTouch* out) {
    out->set_daemon_pid(t.target);
    if (t.op == decode::SensorOp::kSignal) {
      out->set_op("signal");
      out->set_signal(t.arg);
      out->set_signal_name(sigabbrev_np(static_cast<int>(t.arg)) ? std::string("SIG") + sigabbrev_np(static_cast<int>(t.arg)) : "");
      out->set_si_code(t.code);
    } else {
      out->set_op("obj_get");
      out->set_map_id(t.arg);
      out->set_map_name(t.name);
    }
  }

  void render_net(const decode::Net& n, const Item& item, v1::NetworkInfo* out) {
    out->set_op(decode::to_string(n.op));
    out->set_protocol(n.protocol == 6 ? "tcp" : n.protocol == 17 ? "udp" : "ip_" + std::to_string(n.protocol));
    if (n.op == decode::NetOp::kBind || n.op == decode::NetOp::kListen) {
      // A local endpoint: no destination, nothing for the egress list to say.
      out->set_saddr(address_string(n.saddr));
      out->set_sport(n.sport);
      out->set_cookie(n.cookie);
      return;
    }
    if (n.op == decode::NetOp::kFlow || n.op == decode::NetOp::kFlowUpdate) {
      out->set_saddr(address_string(n.saddr));
      out->set_sport(n.sport);
      out->set_bytes(n.bytes);
      out->set_total_bytes(item.total_bytes);
      uint64_t max = ctx_.egress ? ctx_.egress->max_bytes(n.policy) : 0;
      if (max) {
        out->set_max_bytes_per_destination(max);
        out->set_over_max_bytes(item.total_bytes > max);
      }
    }
    if (n.op == decode::NetOp::kAccept) {
      out->set_saddr(address_string(n.saddr));
      out->set_sport(n.sport);
    }
    out->set_daddr(address_string(n.daddr));
    out->set_dport(n.dport);
    out->set_cookie(n.cookie);
    if (!item.dns_name.empty()) out->set_dns(item.dns_name);
    if (n.inbound) {
      // The peer came to the job: the egress list does not judge it.
      out->set_direction("inbound");
      return;
    }
    out->set_verdict(n.allowed ? "allowed" : "not_allowed");
    out->set_action(n.blocked ? "blocked" : "allowed");
    if (n.by_dns) out->set_allowed_by_dns(true);
  }

  static std::string io_uring_op_name(uint32_t opcode) {
    static const char* kOps[] = {
        "nop",        "readv",       "writev",       "fsync",          "read_fixed",    "write_fixed",   "poll_add",
        "poll_remove", "sync_file_range", "sendmsg", "recvmsg",        "timeout",       "timeout_remove", "accept",
        "async_cancel", "link_timeout", "connect",   "fallocate",      "openat",        "close",         "files_update",
        "statx",      "read",        "write",        "fadvise",        "madvise",       "send",          "recv",
        "openat2",    "epoll_ctl",   "splice",       "provide_buffers", "remove_buffers", "tee",         "shutdown",
        "renameat",   "unlinkat",    "mkdirat",      "symlinkat",      "linkat",        "msg_ring",      "fsetxattr",
        "setxattr",   "fgetxattr",   "getxattr",     "socket",         "uring_cmd",     "send_zc",       "sendmsg_zc",
        "read_multishot", "waitid",  "futex_wait",   "futex_wake",     "futex_waitv",   "fixed_fd_install", "ftruncate",
        "bind",       "listen"};
    if (opcode == ~0u) return "create";
    if (opcode < sizeof(kOps) / sizeof(kOps[0])) return kOps[opcode];
    return "op_" + std::to_string(opcode);
  }

  Context ctx_;
  uint64_t seq_ = 0;
};

// record + state -> alerts of the rule catalogue
class DetectStage : public Stage {
 public:
  explicit DetectStage(const Context& ctx) : ctx_(ctx) {}
  const char* name() const override { return "detect"; }
  bool run(Item& item) override {
    if (!ctx_.rules) return true;
    if (item.record) detect(item);
    // A job that ended: what it repeated, summed up once, after its last alerts.
    for (const auto& c : item.job_changes)
      if (c.kind == jobs::JobChange::kEnded)
        for (auto& a : ctx_.rules->summaries(c.job->id)) item.alerts.push_back(std::move(a));
    return true;
  }

 private:
  void detect(Item& item) {
    const decode::Header& h = decode::header(*item.record);
    const state::Process* p = ctx_.procs->find(state::key_of(h.task));
    const jobs::Job* job = h.job_id ? ctx_.jobs->find(h.job_id) : nullptr;
    const auto& policies = ctx_.jobs->policies();
    const policy::Policy* policy = job ? policies.at(job->policy_index) : nullptr;
    uint64_t evidence = item.event_id;
    rules::Input in{*item.record, p, job, policy, policies, *ctx_.jobs, *ctx_.procs, item.file_path, evidence};
    in.net_dns = item.dns_name;
    if (const auto* n = std::get_if<decode::Net>(&*item.record)) {
      in.net_total_bytes = item.total_bytes;
      in.net_max_bytes = ctx_.egress ? ctx_.egress->max_bytes(n->policy) : 0;
    }
    for (auto& a : ctx_.rules->run(in)) item.alerts.push_back(std::move(a));
  }

  Context ctx_;
};

// events and alerts -> every configured sink
class SinkStage : public Stage {
 public:
  explicit SinkStage(const Context& ctx) : ctx_(ctx) {}
  const char* name() const override { return "sinks"; }
  bool run(Item& item) override {
    for (auto& e : item.events) {
      if (e.host().empty()) e.set_host(ctx_.host);
      for (auto& s : *ctx_.sinks) s->write(e);
      ctx_.stats->events++;
    }
    for (auto& a : item.alerts) {
      // The id is what a receiver de-duplicates by (delivery is at-least-once);
      // a test alert comes with the id its caller was told.
      if (a.id().empty()) a.set_id(sinks::make_alert_id());
      a.set_host(ctx_.host);
      for (auto& s : *ctx_.sinks) s->write_alert(a);
      ctx_.stats->alerts++;
    }
    return true;
  }
  void flush() override {
    for (auto& s : *ctx_.sinks) s->flush();
  }

 private:
  Context ctx_;
};

// exits -> the process table forgets, once everything after state has used it;
// ended jobs -> their byte totals go
class ReapStage : public Stage {
 public:
  ReapStage(const Context& ctx, std::shared_ptr<Reaped> reaped) : ctx_(ctx), reaped_(std::move(reaped)) {}
  const char* name() const override { return "reap"; }
  bool run(Item& item) override {
    if (item.record)
      if (const auto* x = std::get_if<decode::Exit>(&*item.record)) {
        if (const state::Process* p = ctx_.procs->find(state::key_of(x->hdr.task))) reaped_->keep(*p);
        ctx_.procs->on_exit(state::key_of(x->hdr.task));
      }
    for (const auto& c : item.job_changes) {
      if (c.kind != jobs::JobChange::kEnded) continue;
      if (ctx_.totals) ctx_.totals->forget_job(c.job->id);
      if (ctx_.names) ctx_.names->forget_job(c.job->id);
    }
    return true;
  }

 private:
  Context ctx_;
  std::shared_ptr<Reaped> reaped_;
};

}  // namespace

void render_job(const jobs::Job& j, v1::Job* out) {
  out->set_id(jobs::job_id_string(j.id));
  out->set_policy(j.policy);
  out->set_name(j.name);
  out->set_mode(j.mode);
  out->set_started_by(jobs::to_string(j.started_by));
  out->set_start_time(rfc3339(j.start_wall_ns));
  if (j.ended) out->set_end_time(rfc3339(j.end_wall_ns));
  out->set_root_pid(j.root.tgid);
  for (const auto& [k, v] : j.labels) (*out->mutable_labels())[k] = v;
  out->set_live_processes(static_cast<uint32_t>(j.live()));
}

Pipeline Pipeline::standard(Context ctx) {
  Pipeline p;
  p.add(std::make_unique<DecodeStage>(ctx.stats));
  auto reaped = std::make_shared<Reaped>();
  p.add(std::make_unique<StateStage>(ctx, reaped));
  p.add(std::make_unique<ClassifyStage>(ctx));
  p.add(std::make_unique<HashStage>(ctx));
  p.add(std::make_unique<MergeStage>(ctx));
  p.add(std::make_unique<RenderStage>(ctx));
  p.add(std::make_unique<DetectStage>(ctx));
  p.add(std::make_unique<SinkStage>(ctx));
  p.add(std::make_unique<ReapStage>(ctx, reaped));
  return p;
}

void Pipeline::push(std::span<const uint8_t> bytes) {
  Item item;
  item.bytes = bytes;
  for (auto& s : stages_)
    if (!s->run(item)) return;
}

void Pipeline::push_record(decode::Record record) {
  Item item;
  item.record = std::move(record);
  bool started = false;
  for (auto& s : stages_) {
    if (!started && std::string_view(s->name()) == "decode") continue;
    started = true;
    if (!s->run(item)) return;
  }
}

void Pipeline::push_job_changes(std::vector<jobs::JobChange> changes) {
  if (changes.empty()) return;
  Item item;
  item.job_changes = std::move(changes);
  // No record: skip decode and state, start at render.
  bool started = false;
  for (auto& s : stages_) {
    if (!started && std::string_view(s->name()) != "render") continue;
    started = true;
    if (!s->run(item)) return;
  }
}

void Pipeline::push_out(std::vector<v1::Event> events, std::vector<v1::Alert> alerts) {
  if (events.empty() && alerts.empty()) return;
  Item item;
  item.events = std::move(events);
  item.alerts = std::move(alerts);
  // Already rendered and decided: straight to the sinks.
  bool started = false;
  for (auto& s : stages_) {
    if (!started && std::string_view(s->name()) != "sinks") continue;
    started = true;
    if (!s->run(item)) return;
  }
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
