#include "pipeline/pipeline.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "common/time.h"

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

// typed record -> process table and job state
class StateStage : public Stage {
 public:
  explicit StateStage(const Context& ctx) : ctx_(ctx) {}
  const char* name() const override { return "state"; }
  bool run(Item& item) override {
    std::visit([&](const auto& r) { apply(r, item); }, *item.record);
    return true;
  }

 private:
  void apply(const decode::Exec& e, Item& item) {
    ctx_.procs->on_exec(e);
    ctx_.jobs->on_exec(e, &item.job_changes);
  }
  void apply(const decode::Fork& f, Item& item) {
    ctx_.procs->on_fork(f);
    ctx_.jobs->on_fork(f, &item.job_changes);
  }
  void apply(const decode::Exit& e, Item& item) {
    ctx_.jobs->on_exit(e, &item.job_changes);  // the table forgets it in the reap stage
  }
  void apply(const decode::Cgroup& c, Item& item) { ctx_.jobs->on_cgroup(c, &item.job_changes); }

  Context ctx_;
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
      if (job && record_wanted(h.kind)) item.events.push_back(record_event(*item.record, *job));
    }
    job_events(jobs::JobChange::kEnded);
    return true;
  }

 private:
  static bool record_wanted(decode::Kind k) {
    return k == decode::Kind::kExec || k == decode::Kind::kFork || k == decode::Kind::kExit ||
           k == decode::Kind::kCgroupAttach;
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

  v1::Event record_event(const decode::Record& r, const jobs::Job& job) {
    const decode::Header& h = decode::header(r);
    static const char* kKinds[] = {"", "exec", "fork", "exit", "cgroup_mkdir", "cgroup_rmdir", "cgroup_move"};
    v1::Event e = base(boot_to_wall_ns(h.ts_ns), kKinds[static_cast<uint32_t>(h.kind)]);
    set_job_ref(job, e.mutable_job());
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
    if (const auto* c = std::get_if<decode::Cgroup>(&r)) {
      e.mutable_cgroup()->set_id(c->id);
      e.mutable_cgroup()->set_path(c->path);
      e.mutable_process()->mutable_cgroup()->set_id(c->id);
      e.mutable_process()->mutable_cgroup()->set_path(c->path);
    }
    return e;
  }

  Context ctx_;
  uint64_t seq_ = 0;
};

// events -> every configured sink
class SinkStage : public Stage {
 public:
  explicit SinkStage(const Context& ctx) : ctx_(ctx) {}
  const char* name() const override { return "sinks"; }
  bool run(Item& item) override {
    for (const auto& e : item.events) {
      for (auto& s : *ctx_.sinks) s->write(e);
      ctx_.stats->events++;
    }
    return true;
  }
  void flush() override {
    for (auto& s : *ctx_.sinks) s->flush();
  }

 private:
  Context ctx_;
};

// exits -> the process table forgets, once everything after state has used it
class ReapStage : public Stage {
 public:
  explicit ReapStage(const Context& ctx) : ctx_(ctx) {}
  const char* name() const override { return "reap"; }
  bool run(Item& item) override {
    if (item.record)
      if (const auto* x = std::get_if<decode::Exit>(&*item.record)) ctx_.procs->on_exit(state::key_of(x->hdr.task));
    return true;
  }

 private:
  Context ctx_;
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
  p.add(std::make_unique<StateStage>(ctx));
  p.add(std::make_unique<RenderStage>(ctx));
  p.add(std::make_unique<SinkStage>(ctx));
  p.add(std::make_unique<ReapStage>(ctx));
  return p;
}

void Pipeline::push(std::span<const uint8_t> bytes) {
  Item item;
  item.bytes = bytes;
  for (auto& s : stages_)
    if (!s->run(item)) return;
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

void Pipeline::flush() {
  for (auto& s : stages_) s->flush();
}

std::vector<std::string> Pipeline::stage_names() const {
  std::vector<std::string> out;
  for (const auto& s : stages_) out.push_back(s->name());
  return out;
}

}  // namespace fts::pipeline
