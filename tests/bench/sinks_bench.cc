// Alerts per second through the file sink and a remote sink (spool on).
//   fts_bench_sinks file PATH [COUNT]
//   fts_bench_sinks syslog tls://127.0.0.1:PORT CA_FILE STATE_DIR [COUNT]
// Prints the caller-side rate (what the pipeline thread pays per alert: for a
// remote sink only an enqueue) and the end-to-end rate (until the peer has
// every alert and the spool is empty).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sinks/factory.h"
#include "sinks/format.h"
#include "sinks/remote.h"

using namespace fts;
using Clock = std::chrono::steady_clock;

namespace {

v1::Alert sample(int i) {
  v1::Alert a;
  a.set_id(sinks::make_alert_id());
  a.set_time("2026-11-27T21:40:28.873771Z");
  a.set_host("gpu-node-7");
  a.set_rule("egress-not-allowed");
  a.set_severity("high");
  a.set_action("alerted");
  a.mutable_job()->set_id("000000d0140031ee");
  a.mutable_job()->set_policy("llm-finetune");
  a.mutable_job()->set_name("sft-7b");
  auto* p = a.mutable_process();
  p->set_pid(4242 + i % 100);
  p->set_exe("/usr/bin/python3");
  p->add_args("python3");
  p->add_args("train.py");
  a.mutable_network()->set_protocol("tcp");
  a.mutable_network()->set_daddr("203.0.113.9");
  a.mutable_network()->set_dport(443);
  a.mutable_mitre()->add_attack("T1041");
  a.set_message("connect to 203.0.113.9:443 outside egress");
  return a;
}

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s file PATH [COUNT] | syslog URL CA STATE_DIR [COUNT]\n", argv[0]);
    return 2;
  }
  std::string kind = argv[1];
  v1::Output o;
  o.set_name("bench");
  o.set_format("json");
  o.set_events("all");
  int count = 100000;
  std::string state = "/tmp";
  if (kind == "file") {
    o.set_type("file");
    o.set_path(argv[2]);
    o.set_max_size_mb(1024);
    if (argc > 3) count = atoi(argv[3]);
  } else {
    if (argc < 5) return 2;
    o.set_type("syslog");
    o.set_address(argv[2]);
    o.set_ca_file(argv[3]);
    state = argv[4];
    if (argc > 5) count = atoi(argv[5]);
  }
  auto s = sinks::make_sink(o, state);
  if (!s) {
    fprintf(stderr, "%s\n", s.error().c_str());
    return 1;
  }
  std::vector<v1::Alert> alerts;
  for (int i = 0; i < 1000; ++i) alerts.push_back(sample(i));
  auto t0 = Clock::now();
  for (int i = 0; i < count; ++i) {
    (*s)->write_alert(alerts[i % 1000]);
    if (i % 256 == 255) (*s)->flush();  // the pipeline flushes per ring-buffer batch
  }
  (*s)->flush();
  auto t1 = Clock::now();
  auto* f = dynamic_cast<sinks::FilteredSink*>(s->get());
  auto* remote = f ? dynamic_cast<sinks::RemoteSink*>(f->inner()) : nullptr;
  if (remote && !remote->wait_idle(std::chrono::seconds(120))) {
    fprintf(stderr, "not delivered within 120 s\n");
    return 1;
  }
  auto t2 = Clock::now();
  printf("%s: %d alerts; caller %.0f alerts/s (%.2f us each); end-to-end %.0f alerts/s\n", kind.c_str(), count,
         count / secs(t1 - t0), 1e6 * secs(t1 - t0) / count, count / secs(t2 - t0));
  return 0;
}
