// One record, one shape: a job's file read and connect go through the whole
// pipeline (rules on), and every field reads the same in the event, the alert
// and each of their renderings (native JSON, OCSF, syslog, Splunk HEC).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <thread>

#include "pipeline/pipeline.h"
#include "sinks/format.h"
#include "support/fake_kernel.h"
#include "support/fixtures.h"

namespace fts::pipeline {
namespace {

namespace pb = google::protobuf;
using fts::testing::exec_of;
using fts::testing::fork_of;
using fts::testing::sec;
using fts::testing::task;

const decode::TaskId kShell = task(999, sec(50));
const decode::TaskId kLauncher = task(1000, sec(100));
const decode::TaskId kWorker = task(1001, sec(101));
const uint64_t kJob = decode::job_id_for(kLauncher.tgid, kLauncher.start_ns);
constexpr uint64_t kKernelDev = (259ull << 20) | 3;  // nvme0n1p3 as the kernel encodes it

class Capture : public sinks::Sink {
 public:
  Capture(std::vector<v1::Event>* e, std::vector<v1::Alert>* a) : events_(e), alerts_(a) {}
  void write(const v1::Event& e) override { events_->push_back(e); }
  void write_alert(const v1::Alert& a) override { alerts_->push_back(a); }
  void flush() override {}

 private:
  std::vector<v1::Event>* events_;
  std::vector<v1::Alert>* alerts_;
};

pb::Struct parse(const std::string& json) {
  pb::Struct s;
  auto st = pb::util::JsonStringToMessage(json, &s);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << json;
  return s;
}

const pb::Value& at(const pb::Struct& s, const std::string& dotted) {
  static pb::Value missing;
  const pb::Struct* cur = &s;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    std::string k = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    auto it = cur->fields().find(k);
    if (it == cur->fields().end()) {
      ADD_FAILURE() << "no " << dotted;
      return missing;
    }
    if (dot == std::string::npos) return it->second;
    cur = &it->second.struct_value();
    start = dot + 1;
  }
}

class OneShapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sinks_.push_back(std::make_unique<Capture>(&events_, &alerts_));
    auto set = std::make_shared<policy::PolicySet>();
    policy::Policy p;
    p.spec.set_name("llm");
    p.spec.set_mode(v1::monitor);
    p.spec.mutable_jobs()->add_exec("**/torchrun");
    p.spec.mutable_data()->add_training("/data/approved/**");
    p.file = "llm.yaml";
    set->add(std::move(p));
    std::vector<jobs::JobChange> changes;
    jobs_.apply(set, &changes);
    auto e = exec_of(kLauncher, kShell, "/usr/bin/torchrun", {"torchrun", "train.py"}, kJob);
    e.job_started = true;
    e.policy = 0;
    push(e);
    push(fork_of(kWorker, kLauncher, kJob));
    push(exec_of(kWorker, kLauncher, "/usr/bin/python3", {"python3", "train.py"}, kJob));
  }
  void push(const decode::Record& r) { pipeline_.push(decode::build(r)); }

  decode::File unapproved_read() {
    decode::File f;
    f.hdr = fts::testing::header(decode::Kind::kFile, kWorker, kJob, sec(200));
    f.op = decode::FileOp::kOpen;
    f.access = decode::access::kRead;
    f.result = 3;
    f.dev = kKernelDev;
    f.ino = 1ull << 40;
    f.path = "/srv/scratch/unvetted.jsonl";
    return f;
  }
  decode::Net denied_flow(decode::NetOp op, uint64_t bytes) {
    decode::Net n;
    n.hdr = fts::testing::header(decode::Kind::kNet, kWorker, kJob, sec(201));
    n.op = op;
    n.cookie = 77;
    n.daddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9};
    n.dport = 443;
    n.protocol = 6;
    n.v4 = true;
    n.bytes = bytes;
    n.policy = 0;
    return n;
  }
  const v1::Event& event(const std::string& kind) {
    for (const auto& e : events_)
      if (e.kind() == kind && e.process().pid() == kWorker.tgid) return e;
    ADD_FAILURE() << "no " << kind << " event";
    return events_.front();
  }
  const v1::Alert& alert(const std::string& rule) {
    for (const auto& a : alerts_)
      if (a.rule() == rule) return a;
    ADD_FAILURE() << "no " << rule << " alert";
    static v1::Alert none;
    return none;
  }

  fts::testing::TempDir proc_root_;
  fts::testing::FakeKernel kernel_;
  state::ProcessTable procs_;
  state::CgroupTable cgroups_{""};
  jobs::JobManager jobs_{&kernel_, &procs_, &cgroups_, proc_root_.path()};
  std::vector<v1::Event> events_;
  std::vector<v1::Alert> alerts_;
  std::vector<std::unique_ptr<sinks::Sink>> sinks_;
  Stats stats_;
  rules::Engine rules_;
  Pipeline pipeline_ = Pipeline::standard(Context{.host = "node-7",
                                                  .procs = &procs_,
                                                  .cgroups = &cgroups_,
                                                  .jobs = &jobs_,
                                                  .proc_root = proc_root_.path(),
                                                  .sinks = &sinks_,
                                                  .stats = &stats_,
                                                  .rules = &rules_});
};

TEST_F(OneShapeTest, AProcessHasOneStartTimeInEveryEventAndAlert) {
  push(unapproved_read());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the wall clock moves on between the two
  auto later = unapproved_read();
  later.hdr.ts_ns = sec(260);
  later.path = "/srv/scratch/other.jsonl";
  push(later);
  std::vector<std::string> starts;
  for (const auto& e : events_)
    if (e.process().pid() == kWorker.tgid) starts.push_back(e.process().start_time());
  for (const auto& a : alerts_) starts.push_back(a.process().start_time());
  ASSERT_GE(starts.size(), 5u) << "fork, exec, two reads, two alerts";
  for (const auto& s : starts) EXPECT_EQ(s, starts[0]);
  EXPECT_FALSE(starts[0].empty());
  // The launcher's start, as the worker's ancestry shows it, is its own.
  const auto& read = event("file");
  ASSERT_EQ(read.process().ancestry_size(), 1);
  EXPECT_EQ(read.process().ancestry(0).start_time(), events_[1].process().start_time());
}

TEST_F(OneShapeTest, FileFieldsReadTheSameInEveryRendering) {
  push(unapproved_read());
  const v1::Event& e = event("file");
  const v1::Alert& a = alert("unapproved-data-read");
  const uint64_t st_dev = makedev(259, 3);
  EXPECT_EQ(e.file().dev(), st_dev);
  EXPECT_EQ(a.file().dev(), st_dev);
  EXPECT_EQ(e.file().ino(), a.file().ino());
  EXPECT_EQ(e.process().exe(), a.process().exe());
  EXPECT_EQ(e.process().ppid(), a.process().ppid());

  for (const std::string& j : {sinks::render(e, sinks::Format::kJson), sinks::render(a, sinks::Format::kJson)}) {
    auto s = parse(j);
    EXPECT_EQ(at(s, "file.dev").kind_case(), pb::Value::kNumberValue) << j;
    EXPECT_EQ(at(s, "file.dev").number_value(), static_cast<double>(st_dev));
    EXPECT_EQ(at(s, "file.ino").number_value(), static_cast<double>(1ull << 40));
    EXPECT_EQ(at(s, "process.start_time").string_value(), e.process().start_time());
    EXPECT_EQ(at(s, "process.pid").number_value(), kWorker.tgid);
  }
  for (const std::string& j : {sinks::render(e, sinks::Format::kSplunkHec), sinks::render(a, sinks::Format::kSplunkHec)}) {
    auto s = parse(j);
    EXPECT_EQ(at(s, "event.file.dev").number_value(), static_cast<double>(st_dev)) << j;
    EXPECT_EQ(at(s, "event.file.ino").number_value(), static_cast<double>(1ull << 40));
  }
  auto oe = parse(sinks::render(e, sinks::Format::kOcsf));
  auto oa = parse(sinks::render(a, sinks::Format::kOcsf));
  const auto& alert_file = at(oa, "evidences").list_value().values(0).struct_value().fields().at("file").struct_value();
  EXPECT_EQ(at(oe, "file.dev").number_value(), static_cast<double>(st_dev));
  EXPECT_EQ(alert_file.fields().at("dev").number_value(), static_cast<double>(st_dev));
  EXPECT_EQ(at(oe, "file.uid").string_value(), alert_file.fields().at("uid").string_value());
  EXPECT_EQ(at(oe, "process.created_time_dt").string_value(), e.process().start_time());
  EXPECT_EQ(at(oa, "actor.process.created_time_dt").string_value(), e.process().start_time());
  for (const std::string& line : {sinks::render(e, sinks::Format::kRfc5424), sinks::render(a, sinks::Format::kRfc5424)}) {
    EXPECT_NE(line.find(" dev=\"" + std::to_string(st_dev) + "\""), std::string::npos) << line;
    EXPECT_NE(line.find(" ino=\"" + std::to_string(1ull << 40) + "\""), std::string::npos) << line;
    EXPECT_NE(line.find(" start_time=\"" + e.process().start_time() + "\""), std::string::npos) << line;
  }
}

TEST_F(OneShapeTest, NetworkFieldsReadTheSameInEveryRendering) {
  push(denied_flow(decode::NetOp::kConnect, 0));
  push(denied_flow(decode::NetOp::kFlow, 4096));
  const v1::Alert& a = alert("egress-not-allowed");
  const v1::Event* flow = nullptr;
  for (const auto& e : events_)
    if (e.network().op() == "flow") flow = &e;
  ASSERT_NE(flow, nullptr);
  const v1::Event& connect = event("network");
  EXPECT_EQ(connect.network().protocol(), "tcp");
  EXPECT_EQ(a.network().protocol(), "tcp");
  EXPECT_EQ(a.network().daddr(), connect.network().daddr());

  auto fe = parse(sinks::render(*flow, sinks::Format::kJson));
  EXPECT_EQ(at(fe, "network.bytes").number_value(), 4096);
  EXPECT_EQ(at(fe, "network.total_bytes").kind_case(), pb::Value::kNumberValue);
  EXPECT_EQ(at(fe, "network.total_bytes").number_value(), 4096);
  EXPECT_EQ(at(fe, "network.cookie").number_value(), 77);
  EXPECT_EQ(at(fe, "id").kind_case(), pb::Value::kNumberValue);
  auto ja = parse(sinks::render(a, sinks::Format::kJson));
  EXPECT_EQ(at(ja, "network.protocol").string_value(), "tcp");
  EXPECT_EQ(at(ja, "network.dport").number_value(), 443);
  EXPECT_EQ(at(ja, "evidence").list_value().values(0).kind_case(), pb::Value::kNumberValue);
  EXPECT_EQ(at(ja, "evidence").list_value().values(0).number_value(), static_cast<double>(connect.id()));
  auto ho = parse(sinks::render(*flow, sinks::Format::kSplunkHec));
  EXPECT_EQ(at(ho, "event.network.bytes").number_value(), 4096);
  auto oe = parse(sinks::render(*flow, sinks::Format::kOcsf));
  EXPECT_EQ(at(oe, "connection_info.protocol_name").string_value(), "tcp");
  EXPECT_EQ(at(oe, "traffic.bytes_out").number_value(), 4096);
  auto oa = parse(sinks::render(a, sinks::Format::kOcsf));
  const auto& ev = at(oa, "evidences").list_value().values(0).struct_value();
  EXPECT_EQ(ev.fields().at("connection_info").struct_value().fields().at("protocol_name").string_value(), "tcp");
  for (const std::string& line :
       {sinks::render(*flow, sinks::Format::kRfc5424), sinks::render(a, sinks::Format::kRfc5424)}) {
    EXPECT_NE(line.find(" protocol=\"tcp\""), std::string::npos) << line;
    EXPECT_NE(line.find(" daddr=\"203.0.113.9\""), std::string::npos) << line;
  }
  EXPECT_NE(sinks::render(*flow, sinks::Format::kRfc5424).find(" bytes=\"4096\""), std::string::npos);
}

// A rank's environment at exec names the run (torchrun's TORCHELASTIC_RUN_ID)
// and its rank: `run` and `host` read the same in the event, the alert and
// every rendering, so a SIEM groups one run from every node by one key.
TEST_F(OneShapeTest, RunHostAndRankReadTheSameInEveryRendering) {
  const decode::TaskId rank1 = task(1003, sec(150));
  push(fork_of(rank1, kLauncher, kJob));
  auto x = exec_of(rank1, kLauncher, "/usr/bin/python3", {"python3", "train.py"}, kJob);
  x.run_env = {{"TORCHELASTIC_RUN_ID", "ft-7"}, {"RANK", "1"}, {"LOCAL_RANK", "1"}, {"WORLD_SIZE", "4"}};
  push(x);
  auto read = unapproved_read();
  read.hdr.task = rank1;
  push(read);
  const v1::Event* e = nullptr;
  for (const auto& ev : events_)
    if (ev.kind() == "file" && ev.process().pid() == rank1.tgid) e = &ev;
  ASSERT_NE(e, nullptr);
  const v1::Alert& a = alert("unapproved-data-read");
  EXPECT_EQ(e->run(), "torchelastic:ft-7");
  EXPECT_EQ(a.run(), "torchelastic:ft-7");
  EXPECT_EQ(e->host(), "node-7");
  EXPECT_EQ(a.host(), "node-7");
  EXPECT_EQ(e->process().rank(), 1u);
  EXPECT_EQ(e->process().local_rank(), 1u);
  EXPECT_EQ(e->process().world_size(), 4u);
  EXPECT_EQ(a.process().rank(), 1u);
  // The launcher's environment names no run: its records carry the job's own.
  const std::string job_run = "job:" + jobs::job_id_string(kJob);
  EXPECT_EQ(events_.front().run(), job_run);
  EXPECT_EQ(events_.front().job_info().run(), job_run);
  EXPECT_FALSE(events_.front().process().has_rank());

  for (const std::string& j : {sinks::render(*e, sinks::Format::kJson), sinks::render(a, sinks::Format::kJson)}) {
    auto s = parse(j);
    EXPECT_EQ(at(s, "run").string_value(), "torchelastic:ft-7") << j;
    EXPECT_EQ(at(s, "host").string_value(), "node-7");
    EXPECT_EQ(at(s, "process.rank").number_value(), 1);
  }
  for (const std::string& j : {sinks::render(*e, sinks::Format::kSplunkHec), sinks::render(a, sinks::Format::kSplunkHec)}) {
    auto s = parse(j);
    EXPECT_EQ(at(s, "host").string_value(), "node-7") << j;
    EXPECT_EQ(at(s, "fields.run").string_value(), "torchelastic:ft-7");
    EXPECT_EQ(at(s, "event.run").string_value(), "torchelastic:ft-7");
  }
  for (const std::string& j : {sinks::render(*e, sinks::Format::kOcsf), sinks::render(a, sinks::Format::kOcsf)}) {
    auto s = parse(j);
    EXPECT_EQ(at(s, "device.hostname").string_value(), "node-7") << j;
    EXPECT_EQ(at(s, "unmapped.run").string_value(), "torchelastic:ft-7");
    const auto& labels = at(s, "resources").list_value().values(0).struct_value().fields().at("labels").list_value();
    ASSERT_EQ(labels.values_size(), 2);
    EXPECT_EQ(labels.values(1).string_value(), "run:torchelastic:ft-7");
  }
  for (const std::string& line : {sinks::render(*e, sinks::Format::kRfc5424), sinks::render(a, sinks::Format::kRfc5424)}) {
    EXPECT_NE(line.find(" node-7 ftsentinel "), std::string::npos) << line;
    EXPECT_NE(line.find(" run=\"torchelastic:ft-7\""), std::string::npos) << line;
    EXPECT_NE(line.find(" rank=\"1\""), std::string::npos) << line;
  }
}

TEST_F(OneShapeTest, AnExecRendersTheProcessAgainAndItsChildrenSeeTheNewExe) {
  const decode::TaskId child = task(1002, sec(150));
  push(fork_of(child, kWorker, kJob));
  push(exec_of(kWorker, kLauncher, "/usr/bin/python3.12", {"python3.12"}, kJob));  // exec in place
  push(exec_of(child, kWorker, "/usr/bin/nvidia-smi", {"nvidia-smi"}, kJob));
  ASSERT_GE(events_.size(), 2u);
  const v1::Event& last = events_.back();
  EXPECT_EQ(last.process().exe(), "/usr/bin/nvidia-smi");
  ASSERT_GE(last.process().ancestry_size(), 1);
  EXPECT_EQ(last.process().ancestry(0).exe(), "/usr/bin/python3.12");
  EXPECT_EQ(events_[events_.size() - 2].process().args(0), "python3.12");
}

}  // namespace
}  // namespace fts::pipeline
