// checkpoint-code-exec and remote-code-in-job from synthetic records: the
// load window (opened by a model record, ended by its close, the process's
// exit or the bound), what raises the rule inside it, the hash that arrives
// after the finding; remote code by where it lives and the allow list.
#include <gtest/gtest.h>

#include "rules/remote_code.h"
#include "rules/rules.h"
#include "support/fixtures.h"
#include "support/rules_fixture.h"

namespace fts::rules {
namespace {

using fts::testing::exec_of;
using fts::testing::fork_of;
using fts::testing::header;
using fts::testing::task;

constexpr uint64_t kSec = 1'000'000'000;
const std::string kModel = "/models/evil.pt";
const std::string kSha = std::string(64, 'a');

class ModelRulesTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    policy::Policy p = base_policy();
    p.spec.mutable_data()->add_outputs("/ckpt/**");
    p.spec.mutable_process()->add_allow_remote_code(std::string(64, 'b'));
    p.spec.mutable_process()->add_remote_code("/opt/remote/**");
    start(std::move(p));
    decode::Exec e = exec_of(loader_, task(100, kRootStart), "/usr/bin/python3", {"python3", "load.py"}, id_);
    e.run_env = {{"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1"}, {"HOME", "/home/u"}};
    procs_.on_exec(e);
  }

  decode::Model model(decode::ModelOp op, uint64_t ts, int32_t fd = 7) {
    decode::Model m;
    m.hdr = header(decode::Kind::kModel, loader_, id_, ts);
    m.op = op;
    m.fd = fd;
    if (op == decode::ModelOp::kOpen) m.path = kModel;
    return m;
  }

  decode::FileHash hash_of(const std::string& path, const std::string& sha, uint64_t ts, const std::string& reason = "read") {
    decode::FileHash h;
    h.hdr = header(decode::Kind::kFileHash, loader_, id_, ts);
    h.path = path;
    h.sha256 = sha;
    h.size = 1234;
    h.reason = reason;
    return h;
  }

  decode::Net connect(decode::TaskId who, uint64_t ts) {
    decode::Net n;
    n.hdr = header(decode::Kind::kNet, who, id_, ts);
    n.op = decode::NetOp::kConnect;
    n.v4 = true;
    n.daddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    n.dport = 4444;
    n.protocol = 6;
    return n;
  }

  decode::File write(const std::string& path, uint64_t ts) {
    decode::File f;
    f.hdr = header(decode::Kind::kFile, loader_, id_, ts);
    f.op = decode::FileOp::kOpen;
    f.access = decode::access::kWrite | decode::access::kCreate;
    f.path = path;
    return f;
  }

  std::vector<v1::Alert> of_rule(const std::vector<v1::Alert>& al, const std::string& rule) {
    std::vector<v1::Alert> out;
    for (const auto& a : al)
      if (a.rule() == rule) out.push_back(a);
    return out;
  }

  decode::TaskId loader_ = task(101, 1'500'000'000);
};

TEST_F(ModelRulesTest, ShellForkedDuringALoadRaisesWithTheHashThatArrivesAfter) {
  uint64_t t0 = 10 * kSec;
  EXPECT_TRUE(run(model(decode::ModelOp::kOpen, t0)).empty());
  decode::TaskId child = task(102, t0 + 1000);
  run(fork_of(child, loader_, id_));
  decode::Exec sh = exec_of(child, loader_, "/usr/bin/dash", {"sh", "-c", "id"}, id_);
  sh.hdr.ts_ns = t0 + 2000;
  EXPECT_TRUE(of_rule(run(sh), "checkpoint-code-exec").empty()) << "waits for the file's hash";
  auto al = of_rule(run(hash_of(kModel, kSha, t0 + 3000)), "checkpoint-code-exec");
  ASSERT_EQ(al.size(), 1u);
  EXPECT_EQ(al[0].severity(), "critical");
  EXPECT_EQ(al[0].model().path(), kModel);
  EXPECT_EQ(al[0].model().sha256(), kSha);
  EXPECT_EQ(al[0].model().format(), "pickle");
  EXPECT_TRUE(al[0].model().weights_only_disabled());
  EXPECT_EQ(al[0].job().id(), jobs::job_id_string(id_));
  EXPECT_NE(al[0].message().find("executed /usr/bin/dash while its parent was loading the model file " + kModel),
            std::string::npos)
      << al[0].message();
  EXPECT_EQ(al[0].mitre().atlas(0), "AML.T0018");
}

TEST_F(ModelRulesTest, ConnectDuringALoadRaisesAtOnceWhenTheHashIsKnown) {
  uint64_t t0 = 10 * kSec;
  run(hash_of(kModel, kSha, t0 - 1000));
  run(model(decode::ModelOp::kOpen, t0));
  auto al = of_rule(run(connect(loader_, t0 + 100)), "checkpoint-code-exec");
  ASSERT_EQ(al.size(), 1u);
  EXPECT_EQ(al[0].model().sha256(), kSha);
  EXPECT_NE(al[0].message().find("connected to 127.0.0.1:4444"), std::string::npos) << al[0].message();
  EXPECT_EQ(al[0].network().dport(), 4444u);
}

// A repeated load comes from the kernel with the file's inode and no path
// (bpf/lib/model.h): its window is still a window, named by the first load's path.
TEST_F(ModelRulesTest, ARepeatedLoadWithoutItsPathIsAWindowNamedByTheFirstLoad) {
  uint64_t t0 = 10 * kSec;
  run(hash_of(kModel, kSha, t0 - 1000));
  decode::Model first = model(decode::ModelOp::kOpen, t0);
  first.dev = 42, first.ino = 4242;
  run(first);
  EXPECT_TRUE(of_rule(run(model(decode::ModelOp::kClose, t0 + 100)), "checkpoint-code-exec").empty());
  EXPECT_TRUE(of_rule(run(connect(loader_, t0 + 200)), "checkpoint-code-exec").empty()) << "between loads";
  decode::Model again = model(decode::ModelOp::kOpen, t0 + 300);
  again.path.clear();
  again.dev = 42, again.ino = 4242;
  again.repeat = true;
  run(again);
  auto al = of_rule(run(connect(loader_, t0 + 400)), "checkpoint-code-exec");
  ASSERT_EQ(al.size(), 1u);
  EXPECT_EQ(al[0].model().path(), kModel);
  EXPECT_EQ(al[0].model().sha256(), kSha);
}

// A repeated load the kernel held back arrives right before what the process
// did next, stamped with the open's time: the window runs from the open, so
// a connect within the bound of the open is in it, one past it is not.
TEST_F(ModelRulesTest, AHeldRepeatedLoadIsAWindowFromItsOpen) {
  uint64_t t0 = 10 * kSec;
  run(hash_of(kModel, kSha, t0 - 1000));
  decode::Model first = model(decode::ModelOp::kOpen, t0, 7);
  first.dev = 42, first.ino = 4242;
  run(first);
  run(model(decode::ModelOp::kClose, t0 + 100, 7));
  auto held = [&](uint64_t opened, int32_t fd) {
    decode::Model m = model(decode::ModelOp::kOpen, opened, fd);
    m.path.clear();
    m.dev = 42, m.ino = 4242;
    m.repeat = m.held = true;
    return m;
  };
  // sent 20 s after its open, with the connect: in the window
  run(held(t0 + 1 * kSec, 8));
  auto al = of_rule(run(connect(loader_, t0 + 21 * kSec)), "checkpoint-code-exec");
  ASSERT_EQ(al.size(), 1u);
  EXPECT_EQ(al[0].model().path(), kModel);
  run(model(decode::ModelOp::kClose, t0 + 22 * kSec, 8));
  // sent 31 s after its open (the bound is 30 s): over before the connect
  run(held(t0 + 40 * kSec, 9));
  decode::Net late = connect(loader_, t0 + 71 * kSec);
  late.dport = 4445;
  EXPECT_TRUE(of_rule(run(late), "checkpoint-code-exec").empty());
}

TEST_F(ModelRulesTest, TheWindowEndsAtTheCloseTheExitOrTheBound) {
  uint64_t t0 = 10 * kSec;
  run(hash_of(kModel, kSha, t0 - 1000));
  // closed: nothing after it
  run(model(decode::ModelOp::kOpen, t0, 7));
  run(model(decode::ModelOp::kClose, t0 + 10, 7));
  EXPECT_TRUE(of_rule(run(connect(loader_, t0 + 20)), "checkpoint-code-exec").empty());
  // a close of another fd ends nothing (the control)
  run(model(decode::ModelOp::kOpen, t0 + 30, 8));
  run(model(decode::ModelOp::kClose, t0 + 40, 9));
  decode::Net n = connect(loader_, t0 + 50);
  n.dport = 4445;
  EXPECT_EQ(of_rule(run(n), "checkpoint-code-exec").size(), 1u);
  // past the bound (30 s by default): over
  n = connect(loader_, t0 + 31 * kSec);
  n.dport = 4446;
  EXPECT_TRUE(of_rule(run(n), "checkpoint-code-exec").empty());
  // the process exited: over
  run(model(decode::ModelOp::kOpen, t0 + 40 * kSec, 10));
  run(fts::testing::exit_of(loader_, 0, id_));
  n = connect(loader_, t0 + 40 * kSec + 10);
  n.dport = 4447;
  EXPECT_TRUE(of_rule(run(n), "checkpoint-code-exec").empty());
}

TEST_F(ModelRulesTest, WritesOutsideOutputsOnly) {
  uint64_t t0 = 10 * kSec;
  run(hash_of(kModel, kSha, t0 - 1000));
  run(model(decode::ModelOp::kOpen, t0));
  EXPECT_TRUE(of_rule(run(write("/ckpt/step-1/model.pt", t0 + 10), "/ckpt/step-1/model.pt"), "checkpoint-code-exec").empty());
  EXPECT_TRUE(of_rule(run(write("/dev/null", t0 + 15), "/dev/null"), "checkpoint-code-exec").empty());
  EXPECT_EQ(of_rule(run(write("/dev/shm/payload", t0 + 16), "/dev/shm/payload"), "checkpoint-code-exec").size(), 1u);
  auto al = of_rule(run(write("/home/u/.bashrc", t0 + 20), "/home/u/.bashrc"), "checkpoint-code-exec");
  ASSERT_EQ(al.size(), 1u);
  EXPECT_NE(al[0].message().find("changed /home/u/.bashrc outside outputs"), std::string::npos) << al[0].message();
}

TEST_F(ModelRulesTest, ASharedObjectTheJobWroteOpenedDuringALoad) {
  uint64_t t0 = 10 * kSec;
  run(hash_of(kModel, kSha, t0 - 1000));
  run(write("/tmp/x/libpayload.so", t0 - 500), "/tmp/x/libpayload.so");  // before the load: written by the job
  run(model(decode::ModelOp::kOpen, t0));
  decode::File open = write("/tmp/x/libpayload.so", t0 + 10);
  open.access = decode::access::kRead;
  auto al = of_rule(run(open, "/tmp/x/libpayload.so"), "checkpoint-code-exec");
  ASSERT_EQ(al.size(), 1u);
  EXPECT_NE(al[0].message().find("opened the shared object /tmp/x/libpayload.so, written by the job"),
            std::string::npos)
      << al[0].message();
  // a library nobody wrote (and that does not exist here): not new
  open.path = "/opt/lib/libold.so.1";
  EXPECT_TRUE(of_rule(run(open, "/opt/lib/libold.so.1"), "checkpoint-code-exec").empty());
}

TEST_F(ModelRulesTest, AFindingWhoseHashNeverComesIsRaisedWithoutIt) {
  uint64_t t0 = 10 * kSec;
  run(model(decode::ModelOp::kOpen, t0));
  EXPECT_TRUE(of_rule(run(connect(loader_, t0 + 10)), "checkpoint-code-exec").empty());
  decode::Net later = connect(task(150, 9 * kSec), t0 + 11 * kSec);  // any later record
  auto al = of_rule(run(later), "checkpoint-code-exec");
  ASSERT_EQ(al.size(), 1u);
  EXPECT_EQ(al[0].model().path(), kModel);
  EXPECT_EQ(al[0].model().sha256(), "");
  EXPECT_NE(al[0].message().find("its SHA-256 is not known"), std::string::npos) << al[0].message();
}

TEST_F(ModelRulesTest, RemoteCodeNotOnTheAllowListRaisesWithItsHashAndSize) {
  const std::string path = "/home/u/.cache/huggingface/modules/transformers_modules/org/repo/modeling.py";
  auto al = of_rule(run(hash_of(path, kSha, 10 * kSec, "write"), path), "remote-code-in-job");
  ASSERT_EQ(al.size(), 1u);
  EXPECT_EQ(al[0].hash().sha256(), kSha);
  EXPECT_EQ(al[0].hash().size(), 1234u);
  EXPECT_EQ(al[0].file().path(), path);
  EXPECT_NE(al[0].message().find("wrote remote code " + path), std::string::npos) << al[0].message();
  // on the allow list: nothing
  const std::string other = "/home/u/.cache/huggingface/modules/transformers_modules/org/repo/config.py";
  EXPECT_TRUE(of_rule(run(hash_of(other, std::string(64, 'b'), 11 * kSec), other), "remote-code-in-job").empty());
  // the policy's glob counts too; a .py elsewhere does not
  EXPECT_EQ(of_rule(run(hash_of("/opt/remote/x.py", kSha, 12 * kSec), "/opt/remote/x.py"), "remote-code-in-job").size(),
            1u);
  EXPECT_TRUE(of_rule(run(hash_of("/work/train.py", kSha, 13 * kSec), "/work/train.py"), "remote-code-in-job").empty());
}

TEST(RemoteCodePath, TheModulesCacheFollowsTheEnvironment) {
  state::Process p;
  p.run_env = {{"HOME", "/home/u"}};
  EXPECT_EQ(modules_cache(p), "/home/u/.cache/huggingface/modules");
  p.run_env["HF_HOME"] = "/hf/";
  EXPECT_EQ(modules_cache(p), "/hf/modules");
  p.run_env["HF_MODULES_CACHE"] = "/mods";
  EXPECT_EQ(modules_cache(p), "/mods");
  EXPECT_TRUE(remote_code_path(&p, nullptr, "/mods/transformers_modules/a/b.py"));
  EXPECT_FALSE(remote_code_path(&p, nullptr, "/mods/transformers_modules/a/b.pyc"));
  EXPECT_FALSE(remote_code_path(&p, nullptr, "/modsx/a.py"));
  EXPECT_FALSE(remote_code_path(nullptr, nullptr, "/mods/a.py"));
}

}  // namespace
}  // namespace fts::rules
