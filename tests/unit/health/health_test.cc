// The daemon's view of itself: lost records become records of their own,
// and status/metrics count every record that went out, rule alerts included.
#include "health/health.h"

#include <gtest/gtest.h>

#include <utility>

#include "pipeline/pipeline.h"
#include "rules/rules.h"
#include "support/fake_kernel.h"
#include "support/fixtures.h"

namespace fts::health {
namespace {

using fts::testing::exec_of;
using fts::testing::sec;
using fts::testing::task;

sensor::Counters drops(std::vector<uint64_t> per_cpu, uint64_t tasks_full = 0) {
  sensor::Counters c;
  c.ringbuf_drops_per_cpu = per_cpu;
  for (auto v : per_cpu) c.ringbuf_drops += v;
  c.tasks_full = tasks_full;
  return c;
}

TEST(LossWatch, RingBufferDropsAreAnEventAndASensorTamperAlertOncePerLoss) {
  LossWatch w;
  EXPECT_TRUE(w.sensor(drops({0, 0})).empty()) << "nothing lost, nothing said";
  Emitted e = w.sensor(drops({3, 4}));
  ASSERT_EQ(e.events.size(), 1u);
  EXPECT_EQ(e.events[0].kind(), "sensor_drops");
  EXPECT_EQ(e.events[0].sensor().ringbuf_drops(), 7u);
  EXPECT_EQ(e.events[0].sensor().ringbuf_drops_total(), 7u);
  EXPECT_EQ(e.events[0].sensor().ringbuf_drops_per_cpu_size(), 2);
  EXPECT_FALSE(e.events[0].time().empty());
  ASSERT_EQ(e.alerts.size(), 1u);
  const v1::Alert& a = e.alerts[0];
  EXPECT_EQ(a.rule(), "sensor-tamper");
  EXPECT_EQ(a.severity(), "high");
  EXPECT_EQ(a.action(), "alerted");
  EXPECT_EQ(a.mitre().attack(0), "T1562.001");
  EXPECT_EQ(a.message(), "the sensor's ring buffer overflowed: 7 records lost (7 since start)");
  EXPECT_TRUE(w.sensor(drops({3, 4})).empty()) << "the same loss is said once";
  Emitted more = w.sensor(drops({3, 6}));
  ASSERT_EQ(more.alerts.size(), 1u);
  EXPECT_EQ(more.events[0].sensor().ringbuf_drops(), 2u) << "what was lost since the last look";
  EXPECT_EQ(more.alerts[0].message(), "the sensor's ring buffer overflowed: 2 records lost (9 since start)");
  Emitted full = w.sensor(drops({3, 6}, 1));
  ASSERT_EQ(full.alerts.size(), 1u);
  EXPECT_NE(full.alerts[0].message().find("the tasks map is full"), std::string::npos) << full.alerts[0].message();
  EXPECT_EQ(w.ringbuf_drops(), 9u);
}

class LossySink : public sinks::Sink {
 public:
  LossySink(std::string name, uint64_t lost) : name_(std::move(name)), lost_(lost) {}
  void write(const v1::Event&) override {}
  void flush() override {}
  sinks::SinkStats stats() const override {
    sinks::SinkStats s;
    s.name = name_;
    s.type = "http";
    s.target = "https://siem.example/hec";
    s.dropped = 40;
    return s;
  }
  uint64_t take_lost() override { return std::exchange(lost_, 0); }

 private:
  std::string name_;
  uint64_t lost_;
};

TEST(LossWatch, AnOutputOrTheJournalThatLostRecordsSaysSoInAnAlert) {
  std::vector<std::unique_ptr<sinks::Sink>> out;
  out.push_back(std::make_unique<LossySink>("splunk", 3));
  out.push_back(std::make_unique<LossySink>("fine", 0));
  out.push_back(std::make_unique<LossySink>("journal", 2));
  LossWatch w;
  Emitted e = w.outputs(out, out[2].get());
  ASSERT_EQ(e.alerts.size(), 2u);
  EXPECT_TRUE(e.events.empty());
  EXPECT_EQ(e.alerts[0].rule(), "sensor-tamper");
  EXPECT_EQ(e.alerts[0].message(),
            "output splunk (https://siem.example/hec) dropped 3 undelivered records, oldest first: its spool was full "
            "(40 in total)");
  EXPECT_EQ(e.alerts[1].message(),
            "journal loss: 2 records did not reach the journal https://siem.example/hec (writer queue full or write "
            "failed; 40 dropped in total)");
  EXPECT_TRUE(w.outputs(out, out[2].get()).empty()) << "taken once";
}

// One job (a torchrun launcher whose policy denies curl) through the real
// pipeline and rules, plus the daemon's own loss records through health::emit.
class AlertsOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sinks_.push_back(std::make_unique<sinks::CountingSink>());
    counting_ = static_cast<sinks::CountingSink*>(sinks_.back().get());
    auto set = std::make_shared<policy::PolicySet>();
    policy::Policy p;
    p.spec.set_name("llm");
    p.spec.set_mode(v1::monitor);
    p.spec.mutable_jobs()->add_exec("**/torchrun");
    p.spec.mutable_process()->add_deny_exec("**/curl");
    set->add(std::move(p));
    std::vector<jobs::JobChange> changes;
    jobs_.apply(set, &changes);
  }

  const decode::TaskId launcher_ = task(1000, sec(100));
  const uint64_t job_ = decode::job_id_for(launcher_.tgid, launcher_.start_ns);
  fts::testing::TempDir dir_;
  fts::testing::FakeKernel kernel_;
  state::ProcessTable procs_;
  state::CgroupTable cgroups_{""};
  jobs::JobManager jobs_{&kernel_, &procs_, &cgroups_, dir_.path()};
  std::vector<std::unique_ptr<sinks::Sink>> sinks_;
  sinks::CountingSink* counting_ = nullptr;
  pipeline::Stats stats_;
  rules::Engine rules_;
  pipeline::Pipeline pipeline_ = pipeline::Pipeline::standard(pipeline::Context{.host = "node-7",
                                                                                .procs = &procs_,
                                                                                .cgroups = &cgroups_,
                                                                                .jobs = &jobs_,
                                                                                .proc_root = dir_.path(),
                                                                                .sinks = &sinks_,
                                                                                .stats = &stats_,
                                                                                .rules = &rules_});
};

TEST_F(AlertsOutTest, StatusCountsRuleAlertsAndTheDaemonsOwnInOnePlace) {
  auto root = exec_of(launcher_, task(1, 0), "/usr/local/bin/torchrun", {"torchrun"}, job_);
  root.job_started = true;
  root.policy = 0;
  pipeline_.push_record(root);
  pipeline_.push_record(exec_of(task(1001, sec(101)), launcher_, "/usr/bin/curl", {"curl", "x"}, job_));
  ASSERT_EQ(stats_.alerts, 1u) << "the rule alert";
  LossWatch w;
  Emitted loss = w.sensor(drops({5}));
  emit(pipeline_, std::move(loss));

  Snapshot s;
  s.pipeline = stats_;
  s.counts = counting_;
  v1::Status st;
  fill_status(s, &st);
  EXPECT_EQ(st.alerts_emitted(), 2u) << "the rule alert and the sensor-tamper alert";
  EXPECT_EQ(st.events_emitted(), stats_.events);
  EXPECT_EQ(counting_->alerts(), 2u) << "what the outputs got is what status says";
  EXPECT_EQ(counting_->events_by_kind().at("sensor_drops"), 1u);
  std::string text = prometheus(s);
  EXPECT_NE(text.find("ftsentinel_alerts_total{rule=\"transfer-tool-exec\",severity=\"high\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("ftsentinel_alerts_total{rule=\"sensor-tamper\",severity=\"high\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("ftsentinel_events_total{kind=\"sensor_drops\"} 1\n"), std::string::npos) << text;
}

TEST_F(AlertsOutTest, DaemonRecordsLeaveWithTheHostAndKeepAGivenAlertId) {
  std::vector<v1::Event> got_events;
  std::vector<v1::Alert> got_alerts;
  struct Capture : sinks::Sink {
    std::vector<v1::Event>* e;
    std::vector<v1::Alert>* a;
    void write(const v1::Event& ev) override { e->push_back(ev); }
    void write_alert(const v1::Alert& al) override { a->push_back(al); }
    void flush() override {}
  };
  auto cap = std::make_unique<Capture>();
  cap->e = &got_events;
  cap->a = &got_alerts;
  sinks_.push_back(std::move(cap));
  v1::Alert given, fresh;
  given.set_id("test-id-1");
  given.set_rule("test-alert");
  fresh.set_rule("sensor-tamper");
  v1::Event ev;
  ev.set_kind("sensor_drops");
  emit(pipeline_, Emitted{{ev}, {given, fresh}});
  ASSERT_EQ(got_alerts.size(), 2u);
  EXPECT_EQ(got_alerts[0].id(), "test-id-1");
  EXPECT_FALSE(got_alerts[1].id().empty());
  EXPECT_EQ(got_alerts[1].host(), "node-7");
  ASSERT_EQ(got_events.size(), 1u);
  EXPECT_EQ(got_events[0].host(), "node-7");
  EXPECT_EQ(stats_.alerts, 2u);
  EXPECT_EQ(stats_.events, 1u);
}

TEST(Status, SnapshotFillsEveryPart) {
  Snapshot s;
  s.pid = 42;
  s.started = "2026-12-01T19:00:00Z";
  s.programs = {{"fts_exec", "tp_btf/sched_process_exec", 7}};
  s.sensor = drops({1, 2}, 3);
  s.tasks_tracked = 12;
  s.pipeline.records = 100;
  s.pipeline.events = 80;
  s.pipeline.decode_errors = 1;
  s.pipeline.alerts = 4;
  s.jobs_live = 2;
  s.policies = {"llm", "slurm"};
  s.reloads.generation = 3;
  v1::ReloadState last;
  last.set_applied(false);
  last.set_first_error("x.yaml:1:1: bad");
  s.reloads.last = last;
  s.hash = HashState{hash::Stats{.hashed = 9}, 5};
  s.alert_repeats = 6;
  s.journal = JournalState{"/var/lib/ftsentinel/journal.db", sinks::SinkStats{.written = 70, .dropped = 2}, 1, 0};
  s.outputs = {sinks::SinkStats{.name = "file", .type = "file", .target = "/x.jsonl", .written = 80}};
  v1::Status st;
  fill_status(s, &st);
  EXPECT_EQ(st.pid(), 42u);
  ASSERT_EQ(st.programs_size(), 1);
  EXPECT_EQ(st.programs(0).id(), 7u);
  EXPECT_EQ(st.events_seen(), 100u);
  EXPECT_EQ(st.events_emitted(), 80u);
  EXPECT_EQ(st.decode_errors(), 1u);
  EXPECT_EQ(st.alerts_emitted(), 4u);
  EXPECT_EQ(st.ringbuf_drops(), 3u);
  EXPECT_EQ(st.ringbuf_drops_per_cpu_size(), 2);
  EXPECT_EQ(st.tasks_map_full(), 3u);
  EXPECT_EQ(st.tasks_tracked(), 12u);
  EXPECT_EQ(st.jobs_live(), 2u);
  EXPECT_EQ(st.policies_size(), 2);
  EXPECT_EQ(st.policy_generation(), 3u);
  EXPECT_EQ(st.last_reload().first_error(), "x.yaml:1:1: bad");
  EXPECT_EQ(st.hash().hashed(), 9u);
  EXPECT_EQ(st.hash().files_followed(), 5u);
  EXPECT_EQ(st.alert_repeats(), 6u);
  EXPECT_EQ(st.journal_path(), "/var/lib/ftsentinel/journal.db");
  EXPECT_EQ(st.journal().written(), 70u);
  EXPECT_EQ(st.journal().dropped(), 2u);
  ASSERT_EQ(st.sinks_size(), 1);
  EXPECT_EQ(st.sinks(0).written(), 80u);
  Snapshot off;
  v1::Status st2;
  fill_status(off, &st2);
  EXPECT_FALSE(st2.has_hash()) << "hashing off: no hash section";
  EXPECT_TRUE(st2.journal_path().empty()) << "journal off";
  EXPECT_FALSE(st2.has_last_reload()) << "no reload yet";
}

TEST(Prometheus, EveryFamilyHasItsHeaderBeforeItsSamples) {
  Snapshot s;
  s.sensor = drops({1, 2});
  s.outputs = {sinks::SinkStats{.name = "file", .type = "file", .connected = true, .written = 8}};
  s.hash = HashState{};
  std::string text = prometheus(s);
  EXPECT_NE(text.find("ftsentinel_ringbuf_drops_total{cpu=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ftsentinel_sink_written_total{sink=\"file\",type=\"file\"} 8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ftsentinel_sink_up{sink=\"file\",type=\"file\"} 1\n"), std::string::npos) << text;
  // Each sample follows its own family's TYPE line.
  std::string family;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
    } else if (line[0] != '#') {
      EXPECT_EQ(line.rfind(family, 0), 0u) << line << " after # TYPE " << family;
    }
  }
}

}  // namespace
}  // namespace fts::health
