// The user-space pipeline on one core: decode -> state -> resolve -> egress ->
// merge -> render -> detect (sinks off) over a replayed stream of
// kernel-format records shaped like real training jobs. Prints records per
// second of the thread's CPU; the target is at least 1,000,000/s with every
// event rendered (the default: the journal takes every event).
// tests/bench/compare_pipeline.sh runs it side by side with a base commit's.
//
//   fts_bench_pipeline [--jobs N] [--rounds R] [--cpu C] [--render 1|0]
//
// The stream, per job (what the kernel reports after its in-kernel filter):
// the launcher's exec (a jobs.exec match), 4 DataLoader-style workers forked
// and exec'd, each reading distinct training shards (the kernel reports each
// (process, file, access) once), writing checkpoint files, a rendezvous
// connect and its flow summary, a few unapproved reads and a transfer-tool
// exec (so rules fire and dedup), then every exit. The stream is built before
// the clock starts; each round replays fresh jobs (new pids), so state grows
// and is reaped as in a daemon that runs for hours.
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "support/build.h"
#include "decode/records.h"
#include "egress/egress.h"
#include "jobs/jobs.h"
#include "jobs/kernel_jobs.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"
#include "state/cgroups.h"
#include "state/process_table.h"

namespace {

using namespace fts;

// The job manager's view of the kernel: the bench has no BPF maps.
class NoKernel : public jobs::KernelJobs {
 public:
  Status track(uint32_t, uint64_t, uint64_t, uint32_t) override { return {}; }
  Status untrack(uint32_t) override { return {}; }
  std::optional<uint64_t> job_of(uint32_t, uint64_t) const override { return std::nullopt; }
  Status set_launchers(const std::map<std::string, uint32_t>&) override { return {}; }
  Status set_cgroup_job(uint64_t, uint64_t, uint32_t) override { return {}; }
  Status clear_cgroup_job(uint64_t) override { return {}; }
  Status set_report_all_exec(bool) override { return {}; }
  Status retag(const std::map<uint32_t, uint32_t>&) override { return {}; }
};

// CPU time of this thread: on a shared machine the wall clock also counts
// the time other processes held the core.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

constexpr uint64_t kSec = 1'000'000'000ull;
using decode::cls::kOutputs;
using decode::cls::kProtected;
using decode::cls::kTraining;

class NoEgressMaps : public egress::KernelEgress {
 public:
  Status set_egress(const std::vector<egress::LpmEntry>&) override { return {}; }
  Status set_policy_enforce(uint32_t, bool) override { return {}; }
  Status set_dns_names(const std::vector<egress::NameEntry>&) override { return {}; }
  Status set_dns_resolvers(const std::vector<egress::ResolverEntry>&) override { return {}; }
  size_t expire_dns_allowed(uint64_t, bool) override { return 0; }
};

decode::Header header(decode::Kind kind, decode::TaskId t, uint64_t job, uint64_t ts) {
  decode::Header h;
  h.kind = kind;
  h.task = t;
  h.tid = t.tgid;
  h.job_id = job;
  h.ts_ns = ts;
  h.cgroup_id = 1;
  return h;
}

struct Stream {
  std::vector<std::vector<uint8_t>> records;
  size_t bytes = 0;
  void add(const decode::Record& r) {
    records.push_back(decode::build(r));
    bytes += records.back().size();
  }
};

// One job's records; pids from `next_pid`, times from `clock`.
void add_job(Stream* s, uint32_t* next_pid, uint64_t* clock, int shards_per_worker) {
  auto tick = [&] { return *clock += 1000; };
  decode::TaskId shell{(*next_pid)++, *clock};
  decode::TaskId launcher{(*next_pid)++, tick()};
  uint64_t job = decode::job_id_for(launcher.tgid, launcher.start_ns);

  decode::Exec le;
  le.hdr = header(decode::Kind::kExec, launcher, job, tick());
  le.parent = shell;
  le.exe = le.filename = "/usr/bin/torchrun";
  le.cwd = "/home/alice/ft";
  le.args = {"torchrun", "--nproc_per_node=4", "train.py", "--config", "llama-lora.yaml"};
  le.job_started = true;
  le.policy = 0;
  s->add(le);

  std::vector<decode::TaskId> workers;
  for (int w = 0; w < 4; ++w) {
    decode::TaskId t{(*next_pid)++, tick()};
    workers.push_back(t);
    decode::Fork f;
    f.hdr = header(decode::Kind::kFork, t, job, t.start_ns);
    f.parent = launcher;
    s->add(f);
    decode::Exec e;
    e.hdr = header(decode::Kind::kExec, t, job, tick());
    e.parent = launcher;
    e.exe = e.filename = "/usr/bin/python3.11";
    e.cwd = "/home/alice/ft";
    e.args = {"/usr/bin/python3", "-u", "train.py", "--local_rank=" + std::to_string(w)};
    s->add(e);
  }
  uint64_t ino = 1000;
  for (size_t w = 0; w < workers.size(); ++w) {
    const auto& t = workers[w];
    for (int i = 0; i < shards_per_worker; ++i) {
      decode::File f;
      f.hdr = header(decode::Kind::kFile, t, job, tick());
      f.op = decode::FileOp::kOpen;
      f.access = decode::access::kRead;
      f.result = 3 + i % 60;
      f.dev = (259u << 20) | 1;
      f.ino = ino++;
      f.mnt_id = 31;
      f.classes = kTraining | kProtected;
      f.watch_id = 0;
      f.path = "/data/approved/c4-en/train-" + std::to_string(w * shards_per_worker + i) + "-of-04096.jsonl";
      s->add(f);
    }
    // checkpoint shards written by rank 0's workers
    decode::File c;
    c.hdr = header(decode::Kind::kFile, t, job, tick());
    c.op = decode::FileOp::kOpen;
    c.access = decode::access::kWrite | decode::access::kCreate;
    c.dev = (259u << 20) | 2;
    c.ino = ino++;
    c.classes = kOutputs | kProtected;
    c.watch_id = 1;
    c.path = "/ckpt/run-42/checkpoint-100/model-0000" + std::to_string(w) + "-of-00004.safetensors";
    s->add(c);
    // a read outside the approved data: unapproved-data-read (once per file)
    decode::File u = c;
    u.hdr = header(decode::Kind::kFile, t, job, tick());
    u.access = decode::access::kRead;
    u.ino = 77;
    u.classes = 0;
    u.watch_id = ~0u;
    u.path = "/srv/scratch/unvetted.jsonl";
    s->add(u);
    // rendezvous: connect and the socket's flow at close
    decode::Net n;
    n.hdr = header(decode::Kind::kNet, t, job, tick());
    n.op = decode::NetOp::kConnect;
    n.cookie = (static_cast<uint64_t>(t.tgid) << 8) | 1;
    n.daddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2};
    n.dport = 29500;
    n.protocol = 6;
    n.v4 = true;
    n.allowed = true;
    n.policy = 0;
    s->add(n);
    n.hdr = header(decode::Kind::kNet, t, job, tick());
    n.op = decode::NetOp::kFlow;
    n.bytes = 1 << 20;
    s->add(n);
  }
  // a transfer tool run by rank 0: transfer-tool-exec
  decode::TaskId tool{(*next_pid)++, tick()};
  decode::Fork tf;
  tf.hdr = header(decode::Kind::kFork, tool, job, tool.start_ns);
  tf.parent = workers[0];
  s->add(tf);
  decode::Exec te;
  te.hdr = header(decode::Kind::kExec, tool, job, tick());
  te.parent = workers[0];
  te.exe = te.filename = "/usr/bin/curl";
  te.args = {"curl", "-sS", "https://hub.internal/api/ping"};
  s->add(te);
  for (auto t : {tool, workers[3], workers[2], workers[1], workers[0], launcher}) {
    decode::Exit x;
    x.hdr = header(decode::Kind::kExit, t, job, tick());
    s->add(x);
  }
  *clock += kSec / 1000;
}

std::shared_ptr<policy::PolicySet> policies() {
  auto set = std::make_shared<policy::PolicySet>();
  policy::Policy p;
  p.spec.set_name("llm-finetune");
  p.spec.set_mode(v1::monitor);
  p.spec.mutable_jobs()->add_exec("**/torchrun");
  auto* d = p.spec.mutable_data();
  d->add_training("/data/approved/**");
  d->add_outputs("/ckpt/**");
  d->add_protected_("/data/**");
  d->add_protected_("/ckpt/**");
  d->add_sensitive("/root/.ssh/**");
  p.spec.mutable_network()->add_egress("10.0.0.0/8:29500-29600");
  p.spec.mutable_network()->set_max_bytes_per_destination("64GiB");
  p.spec.mutable_process()->add_deny_exec("**/curl");
  p.file = "llm-finetune.yaml";
  set->add(std::move(p));
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  int jobs_per_round = 2000, rounds = 5, cpu = 0, shards = 48;
  bool render = true;  // --render 0: event ids only, as when no sink takes events (no journal)
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--jobs")) jobs_per_round = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--cpu")) cpu = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--shards")) shards = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--render")) render = atoi(argv[i + 1]) != 0;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity (running unpinned)");

  NoKernel kernel;
  state::ProcessTable procs;
  state::CgroupTable cgroups("");
  jobs::JobManager jobs(&kernel, &procs, &cgroups, "/nonexistent-proc");
  std::vector<jobs::JobChange> changes;
  auto pol = policies();
  jobs.apply(pol, &changes);
  NoEgressMaps egress_maps;
  egress::Egress egress(&egress_maps);
  egress::Totals totals;
  rules::Engine engine;
  std::vector<std::unique_ptr<sinks::Sink>> no_sinks;
  pipeline::Stats stats;
  auto pipe = pipeline::Pipeline::standard(pipeline::Context{.host = "gpu-node-7",
                                                             .procs = &procs,
                                                             .cgroups = &cgroups,
                                                             .jobs = &jobs,
                                                             .watcher = nullptr,
                                                             .proc_root = "/nonexistent-proc",
                                                             .sinks = &no_sinks,
                                                             .stats = &stats,
                                                             .totals = &totals,
                                                             .egress = &egress,
                                                             .rules = &engine,
                                                             .render_events = render});
  if (auto st = egress.apply(*pol); !st) {
    fprintf(stderr, "egress: %s\n", st.error().c_str());
    return 1;
  }

  uint32_t next_pid = 10'000;
  uint64_t clock = 1000 * kSec;
  std::vector<double> rates, wall_rates;
  uint64_t total_records = 0;
  double total_bytes = 0;
  for (int r = 0; r < rounds; ++r) {
    Stream s;
    s.records.reserve(static_cast<size_t>(jobs_per_round) * (4 * shards + 40));
    for (int j = 0; j < jobs_per_round; ++j) add_job(&s, &next_pid, &clock, shards);
    if (next_pid > 4'000'000'000u) next_pid = 10'000;
    auto t0 = std::chrono::steady_clock::now();
    double c0 = thread_cpu_seconds();
    for (const auto& rec : s.records) pipe.push(rec);
    pipe.flush();
    double cpu = thread_cpu_seconds() - c0;
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(s.records.size()) / cpu);
    wall_rates.push_back(static_cast<double>(s.records.size()) / wall);
    total_records += s.records.size();
    total_bytes += static_cast<double>(s.bytes);
    printf("round %d: %zu records, %.3f s on the cpu (%.3f s wall) = %.0f events/s (wall: %.0f/s)\n", r + 1,
           s.records.size(), cpu, wall, rates.back(), wall_rates.back());
  }
  std::sort(rates.begin(), rates.end());
  std::sort(wall_rates.begin(), wall_rates.end());
  printf("pipeline (decode -> state -> merge -> %s -> detect, sinks off), one core:\n",
         render ? "render" : "event ids (no Event built)");
  printf("  median %.0f events/s of cpu time (min %.0f, max %.0f; wall clock median %.0f/s) over %d rounds;\n"
         "  %.0f bytes/record; "
         "%llu events, %llu alerts, %llu repeats suppressed, %zu processes left\n",
         rates[rates.size() / 2], rates.front(), rates.back(), wall_rates[wall_rates.size() / 2], rounds, total_bytes / total_records,
         static_cast<unsigned long long>(stats.events), static_cast<unsigned long long>(stats.alerts),
         static_cast<unsigned long long>(engine.suppressed()), procs.size());
  return 0;
}
