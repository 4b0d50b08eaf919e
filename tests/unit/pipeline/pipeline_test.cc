// The whole pipeline after the sensor, driven by built records: a job's tree
// comes out as the events a SIEM would see, in order, with ancestry.
#include "pipeline/pipeline.h"

#include <gtest/gtest.h>

#include <array>

#include <algorithm>

#include "support/build.h"
#include "support/fake_kernel.h"
#include "support/fake_proc.h"
#include "support/fixtures.h"

namespace fts::pipeline {
namespace {

using fts::testing::exec_of;
using fts::testing::exit_of;
using fts::testing::fork_of;
using fts::testing::sec;
using fts::testing::task;
using std::string_literals::operator""s;

// The launcher's parent (a shell the daemon never saw), the launcher, its
// worker and the worker's child.
const decode::TaskId kShell = task(999, sec(50));
const decode::TaskId kLauncher = task(1000, sec(100));
const decode::TaskId kWorker = task(1001, sec(101));
const decode::TaskId kTool = task(1002, sec(102));
const uint64_t kJob = decode::job_id_for(kLauncher.tgid, kLauncher.start_ns);

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override { sinks_.push_back(std::make_unique<fts::testing::CaptureSink>(&events_)); }

  // One policy "llm" (monitor) whose jobs.exec are `globs`.
  void install(std::vector<std::string> globs) {
    auto set = std::make_shared<policy::PolicySet>();
    policy::Policy p;
    p.spec.set_name("llm");
    p.spec.set_mode(v1::monitor);
    for (const auto& g : globs) p.spec.mutable_jobs()->add_exec(g);
    p.file = "llm.yaml";
    set->add(std::move(p));
    std::vector<jobs::JobChange> changes;
    jobs_.apply(set, &changes);
    EXPECT_TRUE(changes.empty());
  }

  void push(const decode::Record& r) {
    auto bytes = decode::build(r);
    pipeline_.push(bytes);
  }

  decode::Exec launcher_exec(const std::string& exe) {
    auto e = exec_of(kLauncher, kShell, exe, {"torchrun", "--nproc_per_node=2", "train.py"}, kJob);
    e.job_started = true;  // the kernel matched the basename
    e.policy = 0;
    return e;
  }

  std::vector<std::string> kinds() const {
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.kind());
    return out;
  }

  fts::testing::TempDir proc_root_;  // a fake /proc; empty unless a test fills it
  fts::testing::FakeKernel kernel_;
  state::ProcessTable procs_;
  state::CgroupTable cgroups_{""};
  jobs::JobManager jobs_{&kernel_, &procs_, &cgroups_, proc_root_.path()};
  std::vector<v1::Event> events_;
  std::vector<std::unique_ptr<sinks::Sink>> sinks_;
  Stats stats_;
  egress::Totals totals_;
  egress::Names names_;
  Pipeline pipeline_ = Pipeline::standard(Context{.host = "node-7",
                                                  .procs = &procs_,
                                                  .cgroups = &cgroups_,
                                                  .jobs = &jobs_,
                                                  .proc_root = proc_root_.path(),
                                                  .sinks = &sinks_,
                                                  .stats = &stats_,
                                                  .totals = &totals_,
                                                  .names = &names_});
};

TEST_F(PipelineTest, StagesRunInTheDocumentedOrder) {
  // decode -> state -> render -> sinks -> reap (other stages may sit between).
  auto names = pipeline_.stage_names();
  auto at = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "decode");
  EXPECT_EQ(names.back(), "reap") << "the table forgets a process only after everything used it";
  EXPECT_LT(at("decode"), at("state"));
  EXPECT_LT(at("state"), at("render"));
  EXPECT_LT(at("render"), at("sinks"));
  EXPECT_LT(at("sinks"), static_cast<long>(names.size()));
}

TEST_F(PipelineTest, NetworkFlowsCarryTheJobsRunningTotalPerDestination) {
  install({"**/torchrun"});
  push(launcher_exec("/usr/local/bin/torchrun"));
  auto flow = [&](uint64_t job, uint8_t last, uint64_t bytes) {
    decode::Net n;
    n.hdr.kind = decode::Kind::kNet;
    n.hdr.job_id = job;
    n.hdr.task = job ? kLauncher : kShell;
    n.op = decode::NetOp::kFlow;
    n.daddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, last};
    n.dport = 443;
    n.protocol = 6;
    n.v4 = true;
    n.bytes = bytes;
    n.policy = 0;
    return n;
  };
  push(flow(kJob, 1, 100));
  push(flow(kJob, 1, 250));
  push(flow(kJob, 2, 7));
  push(flow(0, 1, 1000));  // outside every job: not reported, not counted
  pipeline_.flush();
  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec", "network", "network", "network"}));
  EXPECT_EQ(events_[2].network().op(), "flow");
  EXPECT_EQ(events_[2].network().daddr(), "10.0.0.1");
  EXPECT_EQ(events_[2].network().protocol(), "tcp");
  EXPECT_EQ(events_[2].network().total_bytes(), 100u);
  EXPECT_EQ(events_[3].network().bytes(), 250u);
  EXPECT_EQ(events_[3].network().total_bytes(), 350u);
  EXPECT_EQ(events_[4].network().daddr(), "10.0.0.2");
  EXPECT_EQ(events_[4].network().total_bytes(), 7u);
  EXPECT_EQ(events_[4].job().id(), jobs::job_id_string(kJob));
}

TEST_F(PipelineTest, ConnectsAndFlowsCarryTheNameTheJobResolvedTheirAddressFrom) {
  install({"**/torchrun"});
  push(launcher_exec("/usr/local/bin/torchrun"));
  const std::array<uint8_t, 16> hub = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 9};
  decode::DnsAnswer a;
  a.hdr.kind = decode::Kind::kDnsAnswer;
  a.hdr.job_id = kJob;
  a.hdr.task = kLauncher;
  a.hdr.ts_ns = sec(200);
  a.saddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 53};
  a.sport = 53;
  a.name = "hub.internal";
  a.ancount = 2;
  a.addresses = {decode::DnsAnswer::Address{hub, 30, false}};
  a.allowed = true;
  push(a);
  auto net = [&](decode::NetOp op, uint64_t cookie, uint64_t ts_s) {
    decode::Net n;
    n.hdr.kind = decode::Kind::kNet;
    n.hdr.job_id = kJob;
    n.hdr.task = kLauncher;
    n.hdr.ts_ns = sec(ts_s);
    n.op = op;
    n.cookie = cookie;
    n.daddr = hub;
    n.dport = 443;
    n.protocol = 6;
    n.v4 = true;
    n.allowed = n.by_dns = true;
    n.bytes = op == decode::NetOp::kFlow ? 10 : 0;
    n.policy = 0;
    return n;
  };
  push(net(decode::NetOp::kConnect, 1, 201));
  push(net(decode::NetOp::kFlow, 1, 5000));  // long after the TTL: the socket keeps its connect's name
  push(net(decode::NetOp::kConnect, 2, 5000));  // a new connect after TTL and grace: no name
  pipeline_.flush();
  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec", "network", "network", "network", "network"}));
  const auto& ans = events_[2].network();
  EXPECT_EQ(ans.op(), "dns_answer");
  EXPECT_EQ(ans.dns(), "hub.internal");
  EXPECT_EQ(ans.daddr(), "10.0.0.53");
  ASSERT_EQ(ans.dns_answers_size(), 1);
  EXPECT_EQ(ans.dns_answers(0).address(), "10.0.0.9");
  EXPECT_EQ(ans.dns_answers(0).ttl(), 30u);
  EXPECT_EQ(ans.dns_rcode(), "noerror");
  EXPECT_TRUE(ans.dns_allowed());
  EXPECT_EQ(events_[3].network().op(), "connect");
  EXPECT_EQ(events_[3].network().dns(), "hub.internal");
  EXPECT_TRUE(events_[3].network().allowed_by_dns());
  EXPECT_EQ(events_[4].network().op(), "flow");
  EXPECT_EQ(events_[4].network().dns(), "hub.internal");
  EXPECT_EQ(events_[5].network().dns(), "");
}

TEST_F(PipelineTest, ATlsClientHelloNamesItsFlowByTheServerNameItAsked) {
  install({"**/torchrun"});
  push(launcher_exec("/usr/local/bin/torchrun"));
  const std::array<uint8_t, 16> ip = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  auto net = [&](decode::NetOp op, uint64_t cookie, uint64_t bytes) {
    decode::Net n;
    n.hdr.kind = decode::Kind::kNet;
    n.hdr.job_id = kJob;
    n.hdr.task = kLauncher;
    n.op = op;
    n.cookie = cookie;
    n.daddr = ip;
    n.dport = 8443;
    n.protocol = 6;
    n.v4 = n.allowed = true;
    n.bytes = bytes;
    n.policy = 0;
    return n;
  };
  decode::TlsHello t;
  t.hdr.kind = decode::Kind::kTlsHello;
  t.hdr.job_id = kJob;
  t.hdr.task = kLauncher;
  t.cookie = 1;
  t.daddr = ip;
  t.dport = 8443;
  t.sni = "uploads.example.test";  // a hard-coded IP: no DNS answer names it
  push(net(decode::NetOp::kConnect, 1, 0));
  push(t);
  push(net(decode::NetOp::kFlowUpdate, 1, 100));
  push(net(decode::NetOp::kFlow, 1, 300));
  push(net(decode::NetOp::kFlow, 2, 10));  // another socket: not named by it
  pipeline_.flush();
  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec", "network", "network", "network", "network",
                                               "network"}));
  EXPECT_EQ(events_[2].network().sni(), "") << "the connect comes before the hello";
  const auto& hello = events_[3].network();
  EXPECT_EQ(hello.op(), "tls_client_hello");
  EXPECT_EQ(hello.sni(), "uploads.example.test");
  EXPECT_EQ(hello.daddr(), "127.0.0.1");
  EXPECT_EQ(hello.dport(), 8443u);
  EXPECT_EQ(hello.cookie(), 1u);
  EXPECT_EQ(hello.protocol(), "tcp");
  EXPECT_EQ(events_[3].job().id(), jobs::job_id_string(kJob));
  EXPECT_EQ(events_[4].network().op(), "flow_update");
  EXPECT_EQ(events_[4].network().sni(), "uploads.example.test");
  EXPECT_EQ(events_[5].network().op(), "flow");
  EXPECT_EQ(events_[5].network().sni(), "uploads.example.test");
  EXPECT_EQ(events_[6].network().sni(), "");
}

TEST_F(PipelineTest, AnAnswerTheKernelDidNotBelieveNamesNothing) {
  install({"**/torchrun"});
  push(launcher_exec("/usr/local/bin/torchrun"));
  const std::array<uint8_t, 16> forged = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 66};
  decode::DnsAnswer a;
  a.hdr.kind = decode::Kind::kDnsAnswer;
  a.hdr.job_id = kJob;
  a.hdr.task = kLauncher;
  a.hdr.ts_ns = sec(200);
  a.saddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  a.sport = 40000;
  a.name = "hub.internal";
  a.addresses = {decode::DnsAnswer::Address{forged, 30, false}};
  a.unmatched = a.egress_name = true;
  push(a);
  decode::Net n;
  n.hdr.kind = decode::Kind::kNet;
  n.hdr.job_id = kJob;
  n.hdr.task = kLauncher;
  n.hdr.ts_ns = sec(201);
  n.op = decode::NetOp::kConnect;
  n.daddr = forged;
  n.dport = 443;
  n.protocol = 6;
  n.v4 = true;
  n.policy = 0;
  push(n);
  pipeline_.flush();
  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec", "network", "network"}));
  const auto& ans = events_[2].network();
  EXPECT_EQ(ans.op(), "dns_answer");
  EXPECT_EQ(ans.dport(), 40000u);
  EXPECT_TRUE(ans.dns_unmatched());
  EXPECT_FALSE(ans.dns_untrusted());
  EXPECT_TRUE(ans.dns_egress_name());
  EXPECT_FALSE(ans.dns_allowed());
  EXPECT_EQ(events_[3].network().dns(), "") << "the connect is not attributed to a forged name";
}

TEST_F(PipelineTest, ASocketNoHookAccountsForIsANetworkEvent) {
  install({"**/torchrun"});
  push(launcher_exec("/usr/local/bin/torchrun"));
  decode::Socket k;
  k.hdr.kind = decode::Kind::kSocket;
  k.hdr.job_id = kJob;
  k.hdr.task = kLauncher;
  k.cookie = 77;
  k.family = 2;
  k.type = 2;
  k.protocol = 1;
  k.refused = true;
  push(k);
  decode::Socket p = k;
  p.cookie = 0;
  p.family = 17;
  p.type = 3;
  p.protocol = 0x0300;
  p.killed = true;
  push(p);
  pipeline_.flush();
  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec", "network", "network"}));
  const auto& icmp = events_[2].network();
  EXPECT_EQ(icmp.op(), "socket");
  EXPECT_EQ(icmp.family(), "inet");
  EXPECT_EQ(icmp.socket_type(), "dgram");
  EXPECT_EQ(icmp.protocol(), "icmp");
  EXPECT_EQ(icmp.cookie(), 77u);
  EXPECT_EQ(icmp.action(), "blocked");
  EXPECT_FALSE(icmp.killed());
  const auto& packet = events_[3].network();
  EXPECT_EQ((packet.family() + "/" + packet.socket_type() + " " + packet.protocol()), "packet/raw 768");
  EXPECT_TRUE(packet.killed());
  EXPECT_EQ(events_[3].job().id(), jobs::job_id_string(kJob));
}

TEST_F(PipelineTest, LauncherJobTreeFromStartToEnd) {
  install({"**/torchrun"});
  EXPECT_EQ(kernel_.launchers, (std::map<std::string, uint32_t>{{"torchrun", 0}}));
  EXPECT_FALSE(kernel_.report_all_exec);

  push(launcher_exec("/usr/local/bin/torchrun"));
  push(fork_of(kWorker, kLauncher, kJob));
  push(exec_of(kWorker, kLauncher, "/usr/bin/python3.11", {"python3", "train.py"}, kJob));
  push(fork_of(kTool, kWorker, kJob));
  push(exec_of(kTool, kWorker, "/usr/bin/nvidia-smi", {"nvidia-smi", "-L"}, kJob));
  push(exit_of(kTool, 0, kJob));
  push(exit_of(kWorker, 3 << 8, kJob));
  push(exit_of(kLauncher, 0, kJob));
  pipeline_.flush();

  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec", "fork", "exec", "fork", "exec", "exit", "exit",
                                               "exit", "job_end"}));
  const std::string id = jobs::job_id_string(kJob);
  EXPECT_EQ(id.size(), 16u);
  uint64_t last_id = 0;
  for (const auto& e : events_) {
    EXPECT_EQ(e.job().id(), id) << e.kind();
    EXPECT_EQ(e.job().policy(), "llm");
    EXPECT_EQ(e.job().name(), "torchrun");
    EXPECT_EQ(e.host(), "node-7");
    EXPECT_FALSE(e.time().empty());
    EXPECT_GT(e.id(), last_id) << "event ids increase";
    last_id = e.id();
  }

  const v1::Event& start = events_[0];
  EXPECT_EQ(start.job_info().started_by(), "exec");
  EXPECT_EQ(start.job_info().root_pid(), 1000u);
  EXPECT_EQ(start.job_info().mode(), "monitor");
  EXPECT_EQ(start.job_info().labels().at("policy"), "llm");
  EXPECT_EQ(start.process().exe(), "/usr/local/bin/torchrun");

  const v1::Event& launcher = events_[1];
  EXPECT_EQ(launcher.process().pid(), 1000u);
  EXPECT_EQ(launcher.process().ppid(), 999u);
  EXPECT_EQ(launcher.process().args_size(), 3);
  EXPECT_EQ(launcher.process().cwd(), "/work");
  EXPECT_EQ(launcher.process().ancestry_size(), 0) << "the shell was never seen";

  const v1::Event& fork = events_[2];
  EXPECT_EQ(fork.process().pid(), 1001u);
  EXPECT_EQ(fork.process().exe(), "/usr/local/bin/torchrun") << "before exec a child runs its parent's image";

  const v1::Event& tool = events_[5];
  EXPECT_EQ(tool.process().pid(), 1002u);
  EXPECT_EQ(tool.process().ppid(), 1001u);
  EXPECT_EQ(tool.process().exe(), "/usr/bin/nvidia-smi");
  ASSERT_EQ(tool.process().ancestry_size(), 2);
  EXPECT_EQ(tool.process().ancestry(0).pid(), 1001u);
  EXPECT_EQ(tool.process().ancestry(0).exe(), "/usr/bin/python3.11");
  EXPECT_EQ(tool.process().ancestry(1).pid(), 1000u);
  EXPECT_EQ(tool.process().ancestry(1).exe(), "/usr/local/bin/torchrun");

  EXPECT_EQ(events_[6].process().pid(), 1002u);
  ASSERT_TRUE(events_[6].exit().has_code());
  EXPECT_EQ(events_[6].exit().code(), 0);
  EXPECT_EQ(events_[7].process().pid(), 1001u);
  EXPECT_EQ(events_[7].exit().code(), 3);  // wait status 3<<8
  EXPECT_EQ(events_[7].exit().signal(), 0);
  EXPECT_EQ(events_[8].process().pid(), 1000u);

  const v1::Event& end = events_[9];
  EXPECT_FALSE(end.job_info().end_time().empty());
  EXPECT_EQ(end.job_info().live_processes(), 0u);

  EXPECT_EQ(stats_.records, 8u);
  EXPECT_EQ(stats_.events, 10u);
  EXPECT_EQ(stats_.decode_errors, 0u);
  EXPECT_EQ(procs_.size(), 0u) << "every exited process was reaped";
  EXPECT_EQ(jobs_.live_count(), 0u);
  ASSERT_NE(jobs_.find(kJob), nullptr);
  EXPECT_TRUE(jobs_.find(kJob)->ended);
  EXPECT_TRUE(kernel_.untracked.empty());
  EXPECT_GE(static_cast<fts::testing::CaptureSink&>(*sinks_[0]).flushes, 1);
}

TEST_F(PipelineTest, JobOutlivesItsLauncherUntilTheLastMemberExits) {
  install({"**/torchrun"});
  push(launcher_exec("/usr/local/bin/torchrun"));
  push(fork_of(kWorker, kLauncher, kJob));
  push(exit_of(kLauncher, 0, kJob));
  EXPECT_EQ(kinds().back(), "exit");
  EXPECT_EQ(jobs_.live_count(), 1u);
  push(exit_of(kWorker, 0, kJob));
  EXPECT_EQ(kinds().back(), "job_end");
}

TEST_F(PipelineTest, SignalledExit) {
  install({"**/torchrun"});
  push(launcher_exec("/usr/local/bin/torchrun"));
  push(exit_of(kLauncher, 9, kJob));  // SIGKILL
  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec", "exit", "job_end"}));
  EXPECT_EQ(events_[2].exit().signal(), 9);
  EXPECT_EQ(events_[2].exit().code(), 0);
}

TEST_F(PipelineTest, RecordsOutsideJobsEmitNothing) {
  install({"**/torchrun"});
  push(exec_of(kShell, task(1, 0), "/usr/bin/bash", {"bash"}));
  push(fork_of(kWorker, kShell));
  push(exec_of(kWorker, kShell, "/usr/bin/ls", {"ls"}));
  push(exit_of(kWorker, 0));
  push(decode::Cgroup{fts::testing::header(decode::Kind::kCgroupAttach, kShell), 5, 1, "/user.slice"});
  EXPECT_TRUE(events_.empty()) << kinds()[0];
  EXPECT_EQ(stats_.records, 5u);
  EXPECT_EQ(stats_.events, 0u);
  EXPECT_TRUE(kernel_.tracked.empty());
}

TEST_F(PipelineTest, UndecodableRecordIsCountedAndTheNextStillFlows) {
  install({"**/torchrun"});
  std::vector<uint8_t> junk(10, 0xee);
  pipeline_.push(junk);
  EXPECT_EQ(stats_.decode_errors, 1u);
  EXPECT_TRUE(events_.empty());
  push(launcher_exec("/usr/local/bin/torchrun"));
  EXPECT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec"}));
  EXPECT_EQ(stats_.records, 2u);
}

// Every record ends in exactly one counter, whether the kernel sent it or the
// daemon made it (fanotify's view of a change, a still-open flow, a hash): a
// user (the soak bench) checks that records read + the daemon's own =
// undecodable + merged + filtered + events.
TEST_F(PipelineTest, EveryRecordKernelOrTheDaemonsOwnEndsInExactlyOneCounter) {
  install({"**/torchrun"});
  auto change = [&](const std::string& path) {
    decode::File f;
    f.hdr = fts::testing::header(decode::Kind::kFile, kLauncher, kJob, sec(200));
    f.op = decode::FileOp::kCloseWrite;
    f.access = decode::access::kWrite;
    f.path = path;
    return f;
  };
  std::vector<uint8_t> junk(10, 0xee);
  pipeline_.push(junk);                                   // kernel: undecodable
  push(launcher_exec("/usr/local/bin/torchrun"));         // kernel: an event
  push(exec_of(kShell, task(1, 0), "/usr/bin/bash", {"bash"}));  // kernel: outside jobs, filtered
  push(change("/ckpt/step1.pt"));                         // kernel: an event
  pipeline_.push_record(change("/ckpt/step1.pt"));        // fanotify's view of the same change: merged
  pipeline_.push_record(change("/ckpt/step2.pt"));        // fanotify alone saw this one: an event
  pipeline_.push_record(fork_of(kWorker, kShell));        // the daemon's, outside jobs: filtered
  pipeline_.flush();

  EXPECT_EQ(stats_.records, 4u) << "kernel records read";
  EXPECT_EQ(stats_.pushed, 3u) << "records the daemon made itself";
  EXPECT_EQ(stats_.decode_errors, 1u);
  EXPECT_EQ(stats_.merged, 1u);
  EXPECT_EQ(stats_.filtered, 2u);
  EXPECT_EQ(stats_.record_events, 3u);
  EXPECT_EQ(stats_.records + stats_.pushed,
            stats_.decode_errors + stats_.merged + stats_.filtered + stats_.record_events);
  auto k = kinds();
  EXPECT_EQ(std::count(k.begin(), k.end(), "file"), 2) << "the merged change is one event";
}

TEST_F(PipelineTest, LauncherOutsideTheGlobsDirectoryIsRejected) {
  // The kernel matches launchers by basename only; the full glob decides.
  install({"/opt/x/torchrun"});
  EXPECT_EQ(kernel_.launchers, (std::map<std::string, uint32_t>{{"torchrun", 0}}));
  auto e = launcher_exec("/tmp/torchrun");
  e.cwd = "/tmp";
  e.filename = "./torchrun";
  push(e);
  EXPECT_TRUE(events_.empty()) << kinds()[0];
  EXPECT_EQ(jobs_.find(kJob), nullptr);
  EXPECT_EQ(kernel_.untracked, (std::vector<uint32_t>{1000}));
  EXPECT_EQ(procs_.find(state::key_of(kLauncher))->job_id, 0u);

  // Children the kernel put in the refused job before the daemon caught up
  // are untracked as they show up, and emit nothing.
  push(fork_of(kWorker, kLauncher, kJob));
  push(exec_of(kWorker, kLauncher, "/usr/bin/python3", {"python3"}, kJob));
  push(exit_of(kWorker, 0, kJob));
  push(exit_of(kLauncher, 0, kJob));
  EXPECT_TRUE(events_.empty());
  EXPECT_EQ(kernel_.untracked, (std::vector<uint32_t>{1000, 1001, 1001}));
  EXPECT_EQ(jobs_.live_count(), 0u);
}

TEST_F(PipelineTest, LauncherMatchedByTheNameItWasRunAs) {
  // /opt/x/torchrun is a symlink to the real file: the glob names the link.
  install({"/opt/x/torchrun"});
  auto e = launcher_exec("/usr/lib/torch/bin/torchrun");
  e.cwd = "/opt/x";
  e.filename = "./torchrun";
  push(e);
  EXPECT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec"}));
  EXPECT_TRUE(kernel_.untracked.empty());
}

TEST_F(PipelineTest, LauncherWithAnUnknownPolicyIndexIsRejected) {
  install({"**/torchrun"});
  auto e = launcher_exec("/usr/bin/torchrun");
  e.policy = 3;  // a stale kernel map after a reload shrank the set
  push(e);
  EXPECT_TRUE(events_.empty());
  EXPECT_EQ(kernel_.untracked, (std::vector<uint32_t>{1000}));
}

TEST_F(PipelineTest, RegisteredRunJob) {
  install({"**/torchrun"});
  // `ftsentinel run` (pid 2000) registers itself, then execs the command.
  fts::testing::add_fake_proc(
      proc_root_, {.pid = 2000, .ppid = 1, .start_ticks = 5000, .comm = "ftsentinel",
                   .cmdline = "ftsentinel\0run\0--policy\0llm\0--\0python3\0train.py\0"s,
                   .exe = "/usr/bin/ftsentinel", .cwd = "/home/u", .uid = 4242, .euid = 4242,
                   .cgroup = "0::/kubepods.slice/kubepods-burstable.slice/"
                             "kubepods-burstable-pod12345678_1234_1234_1234_123456789abc.slice/cri-containerd-1.scope\n",
                   .environ = "HOME=/home/u\0SLURM_JOB_ID=99\0TORCHELASTIC_RUN_ID=abc\0"s});
  fts::testing::add_fake_proc(proc_root_, {.pid = 1, .ppid = 0, .start_ticks = 0, .exe = "/sbin/init"});
  std::vector<jobs::JobChange> changes;
  auto job = jobs_.register_run(2000, 5000, "llm", "nightly", &changes);
  ASSERT_TRUE(job.ok()) << job.error();
  const uint64_t id = decode::job_id_for(2000, 5000 * decode::kNsPerTick);
  EXPECT_EQ((*job)->id, id);
  ASSERT_EQ(kernel_.tracked.size(), 1u);
  EXPECT_EQ(kernel_.tracked[0].tgid, 2000u);
  EXPECT_EQ(kernel_.tracked[0].start_ticks, 5000u);
  EXPECT_EQ(kernel_.tracked[0].job_id, id);
  EXPECT_EQ(kernel_.tracked[0].policy, 0u);
  pipeline_.push_job_changes(std::move(changes));

  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start"}));
  const v1::Event& start = events_[0];
  EXPECT_EQ(start.job().id(), jobs::job_id_string(id));
  EXPECT_EQ(start.job().name(), "nightly");
  EXPECT_EQ(start.job_info().started_by(), "run");
  EXPECT_EQ(start.job_info().root_pid(), 2000u);
  const auto& labels = start.job_info().labels();
  EXPECT_EQ(labels.at("policy"), "llm");
  EXPECT_EQ(labels.at("name"), "nightly");
  EXPECT_EQ(labels.at("user"), "4242");  // no passwd entry: the uid
  EXPECT_EQ(labels.at("slurm_job_id"), "99");
  EXPECT_EQ(labels.at("torchelastic_run_id"), "abc");
  EXPECT_EQ(labels.at("k8s_pod_uid"), "12345678-1234-1234-1234-123456789abc");
  EXPECT_NE(labels.at("cgroup").find("/kubepods.slice/"), std::string::npos);
  EXPECT_EQ(start.process().exe(), "/usr/bin/ftsentinel");
  ASSERT_EQ(start.process().ancestry_size(), 1);
  EXPECT_EQ(start.process().ancestry(0).exe(), "/sbin/init");

  // The same process execs the command; the kernel tags its records.
  const auto run = task(2000, 5000 * decode::kNsPerTick);
  push(exec_of(run, task(1, 0), "/usr/bin/python3", {"python3", "train.py"}, id));
  push(exit_of(run, 1 << 8, id));
  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec", "exit", "job_end"}));
  EXPECT_EQ(events_[1].process().exe(), "/usr/bin/python3");
  EXPECT_EQ(events_[1].job().id(), jobs::job_id_string(id));
  EXPECT_EQ(events_[2].exit().code(), 1);
}

TEST_F(PipelineTest, RunWithAnUnknownPolicyIsRefusedBeforeTheKernelIsTouched) {
  install({"**/torchrun"});
  std::vector<jobs::JobChange> changes;
  auto job = jobs_.register_run(2000, 5000, "nope", "", &changes);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error(), "unknown policy 'nope' (loaded: llm)");
  EXPECT_TRUE(kernel_.tracked.empty());
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(jobs_.live_count(), 0u);
}

TEST_F(PipelineTest, RunThatTheKernelCannotWatchIsRefused) {
  install({"**/torchrun"});
  kernel_.fail_track = true;
  std::vector<jobs::JobChange> changes;
  auto job = jobs_.register_run(2000, 5000, "llm", "", &changes);
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.error().find("cannot watch process 2000"), std::string::npos) << job.error();
  EXPECT_NE(job.error().find("tasks map full"), std::string::npos) << job.error();
  EXPECT_TRUE(changes.empty());
}

// The daemon's own records (sensor drops, journal/spool loss, tamper) leave
// through the same sink stage as the sensor's, counted in the same Stats.
class AlertCapture : public fts::testing::CaptureSink {
 public:
  AlertCapture(std::vector<v1::Event>* e, std::vector<v1::Alert>* a) : CaptureSink(e), alerts_(a) {}
  void write_alert(const v1::Alert& a) override { alerts_->push_back(a); }

 private:
  std::vector<v1::Alert>* alerts_;
};

TEST_F(PipelineTest, HealthRecordsLeaveThroughTheSinksAndAreCounted) {
  std::vector<v1::Alert> alerts;
  sinks_[0] = std::make_unique<AlertCapture>(&events_, &alerts);
  install({"**/torchrun"});
  push(launcher_exec("/usr/local/bin/torchrun"));  // a sensor record first: the same counters

  v1::Event drops;
  drops.set_kind("sensor_drops");
  drops.mutable_sensor()->set_ringbuf_drops(7);
  pipeline_.push_event(drops);
  v1::Alert tamper;
  tamper.set_rule("sensor-tamper");
  tamper.set_severity("high");
  tamper.set_message("journal loss: 3 records");
  pipeline_.push_alert(tamper);
  pipeline_.flush();

  ASSERT_EQ(kinds(), (std::vector<std::string>{"job_start", "exec", "sensor_drops"}));
  const v1::Event& e = events_[2];
  EXPECT_EQ(e.host(), "node-7");
  EXPECT_FALSE(e.time().empty());
  EXPECT_GT(e.id(), events_[1].id()) << "one sequence of event ids";
  EXPECT_EQ(e.sensor().ringbuf_drops(), 7u);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rule(), "sensor-tamper");
  EXPECT_EQ(alerts[0].host(), "node-7");
  EXPECT_EQ(alerts[0].action(), "alerted");
  EXPECT_EQ(alerts[0].id().size(), 36u) << "a fresh UUID to de-duplicate by";
  EXPECT_FALSE(alerts[0].time().empty());
  EXPECT_EQ(stats_.events, 3u);
  EXPECT_EQ(stats_.alerts, 1u);
  EXPECT_EQ(stats_.records, 1u) << "health records are not sensor records";
}

}  // namespace
}  // namespace fts::pipeline
