// Journal throughput: events per second into the journal (enqueue on the
// caller's thread, hash + insert in batched transactions on the writer
// thread), the caller's cost per event, and bytes per event on disk.
// Rounds alternate batched and one-transaction-per-record writers, and the
// JSON-lines file sink as the baseline of what an output already costs.
//   fts_bench_journal [--events N] [--rounds R] [--dir DIR]
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/time.h"
#include "journal/sink.h"
#include "sinks/sink.h"

using namespace fts;
using Clock = std::chrono::steady_clock;

namespace {

// A job's typical record mix: mostly file opens, some network, a few execs.
std::vector<v1::Event> make_events(size_t n) {
  std::vector<v1::Event> out;
  out.reserve(n);
  uint64_t t = now_wall_ns();
  for (size_t i = 0; i < n; ++i) {
    v1::Event e;
    e.set_id(i + 1);
    e.set_time(rfc3339(t + i * 1000));
    e.set_host("node-17");
    e.mutable_job()->set_id("00000a1b2c3d4e5f");
    e.mutable_job()->set_policy("llm-finetune");
    e.mutable_job()->set_name("sft-7b");
    auto* p = e.mutable_process();
    p->set_pid(4000 + static_cast<uint32_t>(i % 8));
    p->set_tid(p->pid());
    p->set_start_time(rfc3339(t));
    p->set_ppid(3999);
    p->set_exe("/usr/bin/python3.11");
    p->add_args("python3");
    p->add_args("train.py");
    p->add_args("--config");
    p->add_args("sft.yaml");
    p->set_uid(1000);
    p->set_gid(1000);
    p->set_cwd("/home/alice/run");
    auto* a = p->add_ancestry();
    a->set_pid(3999);
    a->set_exe("/usr/bin/torchrun");
    a->set_start_time(rfc3339(t));
    if (i % 10 < 8) {
      e.set_kind("file");
      auto* f = e.mutable_file();
      f->set_path("/data/approved/shard-" + std::to_string(i % 1000) + ".jsonl");
      f->set_dev(makedev(254, 0));
      f->set_ino(100000 + i % 1000);
      f->set_op("open");
      f->add_access("read");
      f->add_classes("training");
      f->set_source("syscall");
      f->set_result(7);
    } else if (i % 10 == 8) {
      e.set_kind("network");
      auto* nw = e.mutable_network();
      nw->set_op("connect");
      nw->set_protocol("tcp");
      nw->set_daddr("10.0.3.17");
      nw->set_dport(29500);
      nw->set_cookie(i);
      nw->set_verdict("allowed");
      nw->set_action("allowed");
    } else {
      e.set_kind("exec");
    }
    out.push_back(std::move(e));
  }
  return out;
}

double cpu_ns(clockid_t c) {
  timespec ts{};
  clock_gettime(c, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct Measure {
  double caller_cpu_ns = 0;  // CPU per event on the calling (pipeline) thread
  double writer_cpu_ns = 0;  // CPU per event everywhere else (the writer thread, SQLite)
  double caller_ns = 0;   // per event, on the calling (pipeline) thread
  double per_sec = 0;     // end to end, committed
  double bytes_per = 0;
  uint64_t dropped = 0;
};

Measure run_journal(const std::vector<v1::Event>& evs, const std::string& dir, size_t batch_max) {
  std::string path = dir + "/bench-journal.db";
  for (const char* sfx : {"", "-wal", "-shm"}) std::filesystem::remove(path + sfx);
  journal::SinkOptions o;
  o.path = path;
  o.key = std::string(32, 'k');
  o.queue = evs.size() + 1;
  o.batch_max = batch_max;
  o.seal_interval_ms = 1000;
  auto s = journal::JournalSink::open(o);
  if (!s) {
    fprintf(stderr, "%s\n", s.error().c_str());
    exit(1);
  }
  Measure r;
  double p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID), c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  auto t0 = Clock::now();
  for (size_t i = 0; i < evs.size(); ++i) {
    (*s)->write(evs[i]);
    if (i % 256 == 255) (*s)->flush();  // as the pipeline does after each ring-buffer batch
  }
  auto t1 = Clock::now();
  double c1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  (*s)->drain();
  auto t2 = Clock::now();
  double p1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
  r.caller_cpu_ns = (c1 - c0) / static_cast<double>(evs.size());
  r.writer_cpu_ns = ((p1 - p0) - (c1 - c0)) / static_cast<double>(evs.size());
  r.dropped = (*s)->stats().dropped;
  s->reset();  // seals and checkpoints
  r.caller_ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(evs.size());
  r.per_sec = static_cast<double>(evs.size()) / std::chrono::duration<double>(t2 - t0).count();
  r.bytes_per = static_cast<double>(std::filesystem::file_size(path)) / static_cast<double>(evs.size());
  return r;
}

Measure run_json_file(const std::vector<v1::Event>& evs, const std::string& dir) {
  std::string path = dir + "/bench-events.jsonl";
  std::filesystem::remove(path);
  auto s = sinks::JsonLinesSink::to_file(path);
  Measure r;
  double c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  auto t0 = Clock::now();
  for (size_t i = 0; i < evs.size(); ++i) {
    (*s)->write(evs[i]);
    if (i % 256 == 255) (*s)->flush();
  }
  (*s)->flush();
  auto t1 = Clock::now();
  r.caller_cpu_ns = (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / static_cast<double>(evs.size());
  r.caller_ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(evs.size());
  r.per_sec = static_cast<double>(evs.size()) / std::chrono::duration<double>(t1 - t0).count();
  r.bytes_per = static_cast<double>(std::filesystem::file_size(path)) / static_cast<double>(evs.size());
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void row(const char* name, const std::vector<Measure>& rs) {
  std::vector<double> ps, cc, wc, bs;
  uint64_t dropped = 0;
  for (const auto& r : rs) {
    ps.push_back(r.per_sec);
    cc.push_back(r.caller_cpu_ns);
    wc.push_back(r.writer_cpu_ns);
    bs.push_back(r.bytes_per);
    dropped += r.dropped;
  }
  auto mm = [](std::vector<double>& v) {
    char buf[96];
    snprintf(buf, sizeof(buf), "%.0f [%.0f..%.0f]", median(v), *std::min_element(v.begin(), v.end()),
             *std::max_element(v.begin(), v.end()));
    return std::string(buf);
  };
  double w = median(wc);
  printf("| %s | %s | %s | %s | %s | %.0f | %llu |\n", name, mm(ps).c_str(), mm(cc).c_str(), mm(wc).c_str(),
         w > 0 ? std::to_string(static_cast<long long>(1e9 / w)).c_str() : "-", median(bs),
         static_cast<unsigned long long>(dropped));
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = 500000, unbatched_n = 20000;
  int rounds = 3;
  std::string dir = "/tmp/fts-bench-journal-" + std::to_string(getpid());
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--events") n = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
  }
  std::filesystem::create_directories(dir);
  auto evs = make_events(n);
  std::vector<v1::Event> few(evs.begin(), evs.begin() + static_cast<long>(std::min(unbatched_n, n)));
  std::vector<Measure> batched, single, json;
  for (int r = 0; r < rounds; ++r) {
    json.push_back(run_json_file(evs, dir));
    batched.push_back(run_journal(evs, dir, 8192));
    single.push_back(run_journal(few, dir, 1));
    fprintf(stderr, "round %d: journal %.0f ev/s, %.0f ns/ev caller; one txn per record %.0f ev/s; json file %.0f ev/s\n",
            r + 1, batched.back().per_sec, batched.back().caller_ns, single.back().per_sec, json.back().per_sec);
  }
  printf("%zu events per round (%zu for one transaction per record), %d rounds, median [min..max]\n\n", n,
         few.size(), rounds);
  printf("| writer | events/s committed (wall) | caller CPU ns/event | writer CPU ns/event | events per writer CPU-second | bytes/event on disk | dropped |\n|---|---|---|---|---|---|---|\n");
  row("journal, batched (<= 8192 per transaction)", batched);
  row("journal, one transaction per record", single);
  row("baseline: JSON-lines file sink (in place)", json);
  std::filesystem::remove_all(dir);
  return 0;
}
