// Rules on synthetic records: each fires, stays quiet when it should, and a
// repeat is counted instead of raised again.
#include "rules/rules.h"

#include <gtest/gtest.h>

#include "support/rules_fixture.h"
#include "support/fixtures.h"

namespace fts::rules {
namespace {

using fts::testing::exec_of;
using fts::testing::task;

class RulesTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    policy::Policy p = base_policy();
    auto* d = p.spec.mutable_data();
    d->add_training("/data/approved/**");
    d->add_outputs("/ckpt/**");
    d->add_protected_("/data/**");
    d->add_protected_("/ckpt/**");
    // A real file: a writer is the file the kernel saw it exec (writers/identity.h).
    fts::testing::write_file(sync_tool(), "#!/bin/sh\n");
    d->add_writers(sync_tool());
    d->add_sensitive("/root/.aws/**");
    d->add_base("/opt/code/**");
    p.spec.mutable_process()->add_deny_exec("**/curl");
    start(std::move(p));
  }

  decode::File file(uint32_t pid, uint64_t job, decode::FileOp op, uint16_t access, const std::string& path) {
    decode::File f;
    f.hdr = fts::testing::header(decode::Kind::kFile, task(pid, pid == 100 ? 1'000'000'000 : 2'000'000'000), job);
    f.op = op;
    f.access = access;
    f.path = path;
    f.result = 3;
    return f;
  }

  std::string sync_tool() const { return dir_ / "bin/dataset-sync"; }

  // Process 300 runs the approved writer's path; what the kernel saw it exec is the test's to set.
  decode::File write_by_writer(const std::string& path) {
    state::Process writer;
    writer.key = {300, 3};
    writer.exe = sync_tool();
    procs_.add(writer);
    auto w = file(300, 0, decode::FileOp::kCreate, decode::access::kWrite, path);
    w.hdr.task = task(300, 3 * decode::kNsPerTick);
    return w;
  }

};

TEST_F(RulesTest, CredentialReadFiresOnceWithItsCatalogueEntry) {
  auto f = file(100, id_, decode::FileOp::kOpen, decode::access::kRead, "/root/.aws/credentials");
  auto al = run(f, f.path);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"credential-read"});
  EXPECT_EQ(al[0].severity(), "high");
  EXPECT_EQ(al[0].mitre().attack(0), "T1552.001");
  EXPECT_EQ(al[0].mitre().atlas(0), "AML.T0055");
  EXPECT_EQ(al[0].job().id(), jobs::job_id_string(id_));
  EXPECT_EQ(al[0].file().path(), "/root/.aws/credentials");
  EXPECT_EQ(al[0].evidence(0), 42u);
  EXPECT_EQ(al[0].process().exe(), "/usr/bin/torchrun");
  EXPECT_TRUE(run(f, f.path).empty()) << "a repeat is counted, not raised";
  EXPECT_EQ(engine_.suppressed(), 1u);
}

TEST_F(RulesTest, ReadsOfApprovedOutputsAndBaseAreQuiet) {
  for (const char* p : {"/data/approved/a.jsonl", "/ckpt/step-1/model.bin", "/usr/lib/python3/x.py", "/opt/code/train.py"}) {
    auto f = file(100, id_, decode::FileOp::kOpen, decode::access::kRead, p);
    EXPECT_TRUE(run(f, f.path).empty()) << p;
  }
  auto dir = file(100, id_, decode::FileOp::kOpen, decode::access::kRead | decode::access::kDirectory, "/work");
  EXPECT_TRUE(run(dir, dir.path).empty()) << "a directory listing is not data";
}

TEST_F(RulesTest, UnapprovedReadFiresOutsideTrainingAndOutputs) {
  auto f = file(100, id_, decode::FileOp::kOpen, decode::access::kRead, "/data/unapproved/x.jsonl");
  EXPECT_EQ(rules_of(run(f, f.path)), std::vector<std::string>{"unapproved-data-read"});
  auto outsider = file(200, 0, decode::FileOp::kOpen, decode::access::kRead, "/data/unapproved/y.jsonl");
  EXPECT_TRUE(run(outsider, outsider.path).empty()) << "only jobs' reads";
}

TEST_F(RulesTest, AScriptLaunchersOwnScriptIsCodeNotData) {
  // `exec ./launch.sh`: the kernel runs /usr/bin/dash, which then reads the script.
  decode::Exec sh = exec_of(task(300, 3'000'000'000), task(100, 1'000'000'000), "/usr/bin/dash",
                            {"/bin/sh", "./launch.sh"}, id_);
  sh.filename = "./launch.sh";
  sh.cwd = "/home/alice/run";
  procs_.on_exec(sh);
  std::vector<jobs::JobChange> changes;
  jobs_->on_exec(sh, &changes);
  auto own = file(300, id_, decode::FileOp::kOpen, decode::access::kRead, "/home/alice/run/launch.sh");
  own.hdr.task = task(300, 3'000'000'000);
  EXPECT_TRUE(run(own, own.path).empty());
  auto other = own;
  other.path = "/home/alice/run/notes.jsonl";
  EXPECT_EQ(rules_of(run(other, other.path)), std::vector<std::string>{"unapproved-data-read"});
}

TEST_F(RulesTest, ProtectedWriteByAnOutsiderButNotByTheWriterOrTheJobsOutputs) {
  auto f = file(200, 0, decode::FileOp::kOpen, decode::access::kWrite | decode::access::kAppend, "/data/approved/a.jsonl");
  EXPECT_EQ(rules_of(run(f, f.path)), std::vector<std::string>{"protected-data-write"});

  auto w = write_by_writer("/data/approved/new.jsonl");
  writer_execs_.exec_of(w.hdr.task, sync_tool());
  EXPECT_TRUE(run(w, w.path).empty()) << "an approved writer";

  auto own = file(100, id_, decode::FileOp::kOpen, decode::access::kWrite | decode::access::kCreate, "/ckpt/s/m.bin");
  EXPECT_TRUE(run(own, own.path).empty()) << "the job writes its outputs";
  auto bad = file(100, id_, decode::FileOp::kOpen, decode::access::kWrite, "/data/approved/a.jsonl");
  EXPECT_EQ(rules_of(run(bad, bad.path)), std::vector<std::string>{"protected-data-write"}) << "not its outputs";
}

// The writer's path is not enough: the kernel must have seen that process
// exec that very file with a clean loader.
TEST_F(RulesTest, ANameLikeTheWritersIsNotTheWriter) {
  auto message_of = [&](const std::string& path) {
    auto w = write_by_writer(path);
    auto al = run(w, w.path);
    EXPECT_EQ(rules_of(al), std::vector<std::string>{"protected-data-write"}) << path;
    return al.empty() ? std::string() : al[0].message();
  };
  const decode::TaskId t = task(300, 3 * decode::kNsPerTick);

  writer_execs_.execs.clear();
  EXPECT_NE(message_of("/data/a1.jsonl").find("the kernel saw it exec no file named like an approved writer"),
            std::string::npos);

  writer_execs_.exec_of(t, sync_tool(), /*clean=*/false);  // LD_PRELOAD=evil.so dataset-sync
  EXPECT_NE(message_of("/data/a2.jsonl").find("LD_PRELOAD or LD_AUDIT"), std::string::npos);

  fts::testing::write_file(dir_ / "tmpfs/dataset-sync", "other");  // the same name over a tmpfs
  writer_execs_.exec_of(t, dir_ / "tmpfs/dataset-sync");
  EXPECT_NE(message_of("/data/a3.jsonl").find("another file by that name"), std::string::npos);

  writer_execs_.exec_of(task(300, 9 * decode::kNsPerTick), sync_tool());  // the pid's earlier process
  EXPECT_NE(message_of("/data/a4.jsonl").find("no file named like an approved writer"), std::string::npos);

  writer_execs_.exec_of(t, sync_tool());  // positive control: the writer itself
  auto w = write_by_writer("/data/a5.jsonl");
  EXPECT_TRUE(run(w, w.path).empty());
}

TEST_F(RulesTest, CheckpointTamperNamesTheJobWhoseOutputsChanged) {
  auto f = file(200, 0, decode::FileOp::kOpen, decode::access::kWrite | decode::access::kCreate, "/ckpt/step-2.bin");
  auto al = run(f, f.path);
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"checkpoint-tamper"}) << "not also protected-data-write";
  EXPECT_EQ(al[0].job().id(), jobs::job_id_string(id_));
  EXPECT_EQ(al[0].process().pid(), 200u);
}

TEST_F(RulesTest, TransferToolShellAndFilelessExec) {
  auto curl = exec_of(task(101, 1'100'000'000), task(100, 1'000'000'000), "/usr/bin/curl", {"curl"}, id_);
  procs_.on_exec(curl);
  EXPECT_EQ(rules_of(run(curl)), std::vector<std::string>{"transfer-tool-exec"});

  auto py = exec_of(task(102, 1'200'000'000), task(100, 1'000'000'000), "/usr/bin/python3.11", {"python3"}, id_);
  procs_.on_exec(py);
  procs_.find({102, 120})->job_id = id_;
  EXPECT_TRUE(run(py).empty());
  auto sh = exec_of(task(103, 1'300'000'000), task(102, 1'200'000'000), "/usr/bin/dash", {"sh", "-c", "x"}, id_);
  procs_.on_exec(sh);
  EXPECT_EQ(rules_of(run(sh)), std::vector<std::string>{"shell-in-job"});
  auto wrapper = exec_of(task(104, 1'400'000'000), task(100, 1'000'000'000), "/usr/bin/dash", {"sh"}, id_);
  procs_.on_exec(wrapper);
  EXPECT_TRUE(run(wrapper).empty()) << "a shell under the launcher is its wrapper";

  auto memfd = exec_of(task(105, 1'500'000'000), task(102, 1'200'000'000), "/memfd:payload", {"payload"}, id_);
  memfd.exe_flags.internal = true;
  procs_.on_exec(memfd);
  EXPECT_EQ(rules_of(run(memfd)), std::vector<std::string>{"fileless-exec"});
}

TEST_F(RulesTest, IoUringFileOpsInAJob) {
  decode::IoUring u;
  u.hdr = fts::testing::header(decode::Kind::kIoUring, task(100, 1'000'000'000), id_);
  u.opcode = ~0u;  // a ring created: not an operation yet
  EXPECT_TRUE(run(u).empty());
  u.opcode = 23;  // IORING_OP_WRITE
  EXPECT_EQ(rules_of(run(u)), std::vector<std::string>{"io-uring-in-job"});
}

TEST(Catalogue, EveryRuleOfTheDesignHasItsTechniques) {
  for (const char* r : {"unapproved-data-read", "protected-data-write", "checkpoint-tamper", "dataset-drift",
                        "egress-not-allowed", "egress-volume", "exfil-chain", "transfer-tool-exec", "credential-read",
                        "shell-in-job", "dns-tunnel", "io-uring-in-job", "fileless-exec", "preload-injection",
                        "job-memory-access", "sensor-tamper", "gpu-access-outside-job", "rdma-egress",
                        "exfil-to-allowed"}) {
    const Catalogue* c = catalogue(r);
    ASSERT_NE(c, nullptr) << r;
    EXPECT_FALSE(c->attack.empty() && c->atlas.empty()) << r;
  }
}

}  // namespace
}  // namespace fts::rules
