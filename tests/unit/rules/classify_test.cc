// A job's records in its own policy's terms, and what is its code: the
// program it launched is not data, a dataset beside it still is.
#include "rules/classify.h"

#include <gtest/gtest.h>

#include <map>
#include <sys/stat.h>

#include "rules/rules.h"
#include "support/fixtures.h"
#include "support/rules_fixture.h"

namespace fts::rules {
namespace {

using fts::testing::exec_of;
using fts::testing::task;
namespace cls = decode::cls;

class ClassifyTest : public fts::testing::RulesFixture {
 protected:
  void SetUp() override {
    proj_ = dir_.path() + "/proj";
    fts::testing::write_file(proj_ + "/train.py", "import mypkg\n");
    fts::testing::write_file(proj_ + "/mypkg/__init__.py", "");
    fts::testing::write_file(proj_ + "/mypkg/__pycache__/__init__.cpython-311.pyc", "x");
    fts::testing::write_file(proj_ + "/configs/run.yaml", "lr: 0.1\n");
    fts::testing::write_file(proj_ + "/extra.jsonl", "{}\n");
    fts::testing::write_file(proj_ + "/big.json", std::string(2 << 20, ' '));
    policy::Policy p = base_policy();
    auto* d = p.spec.mutable_data();
    d->add_training("/data/approved/**");
    d->add_outputs("/ckpt/**");
    d->add_protected_("/data/**");
    d->add_sensitive(proj_ + "/secrets/**");
    d->add_code("/opt/shared-code/**");
    start(std::move(p));
    // torchrun's worker: `python3 -u train.py` from the project directory.
    decode::Exec w = exec_of(task(300, 3'000'000'000), task(100, kRootStart), "/usr/bin/python3.11",
                             {"/usr/bin/python3", "-u", "train.py", "--config", "configs/run.yaml"}, id_);
    w.cwd = proj_;
    procs_.on_exec(w);
    std::vector<jobs::JobChange> changes;
    jobs_->on_exec(w, &changes);
  }

  decode::File read(const std::string& path, uint32_t pid = 300) {
    decode::File f;
    f.hdr = fts::testing::header(decode::Kind::kFile, task(pid, pid == 100 ? kRootStart : 3'000'000'000), id_);
    f.op = decode::FileOp::kOpen;
    f.access = decode::access::kRead;
    f.path = path;
    f.result = 3;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) f.ino = st.st_ino;
    return f;
  }

  uint32_t classes(const decode::File& f) {
    const jobs::Job* job = jobs_->find(id_);
    return classify(f, f.path, *set_->at(job->policy_index), procs_, procs_.find(state::key_of(f.hdr.task)), id_);
  }

  // What the pipeline does: classify, then the rules.
  std::vector<std::string> judged(decode::File f) {
    f.classes = classes(f);
    return rules_of(run(f, f.path));
  }

  std::string proj_;
};

TEST(LaunchedScript, PythonsScriptArgumentAgainstItsWorkingDirectory) {
  state::Process p;
  p.exe = "/usr/bin/python3.11";
  p.cwd = "/home/u/proj";
  p.args = {"python3", "-u", "-X", "dev", "-Wignore::DeprecationWarning", "train.py", "--lr", "1"};
  EXPECT_EQ(launched_script(p), "/home/u/proj/train.py");
  p.args = {"python3", "../other/./run.py"};
  EXPECT_EQ(launched_script(p), "/home/u/other/run.py");
  p.args = {"python3", "-c", "print(1)", "x.py"};
  EXPECT_EQ(launched_script(p), "") << "inline code has no script";
  p.args = {"python3", "-um", "torch.distributed.run", "train.py"};
  EXPECT_EQ(launched_script(p), "") << "a module";
  p.script = "/usr/bin/torchrun";  // a #! script: what the kernel exec'd
  EXPECT_EQ(launched_script(p), "/usr/bin/torchrun");
  state::Process cat;
  cat.exe = "/usr/bin/cat";
  cat.args = {"cat", "x.py"};
  EXPECT_EQ(launched_script(cat), "") << "not an interpreter";
}

TEST_F(ClassifyTest, TheLaunchedScriptItsPackageAndConfigsAreCode) {
  for (const std::string& p : {proj_ + "/train.py", proj_ + "/mypkg/__init__.py",
                               proj_ + "/mypkg/__pycache__/__init__.cpython-311.pyc", proj_ + "/configs/run.yaml",
                               std::string("/opt/shared-code/lib/util.py")}) {
    EXPECT_EQ(classes(read(p)), kCodeClass) << p;
    EXPECT_TRUE(judged(read(p)).empty()) << p;
  }
}

TEST_F(ClassifyTest, ADatasetBesideTheCodeIsStillData) {
  EXPECT_EQ(classes(read(proj_ + "/extra.jsonl")), 0u);
  EXPECT_EQ(judged(read(proj_ + "/extra.jsonl")), std::vector<std::string>{"unapproved-data-read"});
  EXPECT_EQ(classes(read(proj_ + "/big.json")), 0u) << "a 2 MiB .json is a dataset, not a config";
  EXPECT_EQ(judged(read(proj_ + "/big.json")), std::vector<std::string>{"unapproved-data-read"});
  auto swapped = read(proj_ + "/configs/run.yaml");
  swapped.ino += 1;  // the name now holds another file than the one read
  EXPECT_EQ(classes(swapped), 0u);
  EXPECT_EQ(classes(read(proj_ + "/secrets/key.json")), cls::kSensitive) << "a secret is never code";
}

TEST_F(ClassifyTest, TheLauncherSeesItsWorkingDirectoryAndTheWorkerItsLaunchersCode) {
  // The launcher (pid 100, cwd /work) runs nothing from the project: its own
  // reads there are code only through the worker's launch, not the other way.
  EXPECT_EQ(classes(read(proj_ + "/mypkg/__init__.py", 100)), 0u);
  EXPECT_EQ(classes(read("/work/launch_helper.py", 300)), kCodeClass) << "the launcher's working directory";
  EXPECT_EQ(classes(read("/work/data.csv", 300)), 0u);
}

TEST_F(ClassifyTest, ClassesAreTheJobsPolicysNotEveryPolicys) {
  auto f = read("/tmp/run/x.bin");
  f.access = decode::access::kWrite | decode::access::kCreate;
  f.classes = cls::kOutputs;  // the kernel's map: another policy's `/tmp/**` outputs
  EXPECT_EQ(classes(f), 0u);
  auto shard = read("/data/approved/s.jsonl");
  shard.classes = cls::kTraining | cls::kProtected | cls::kSensitive;
  EXPECT_EQ(classes(shard), cls::kTraining | cls::kProtected);
  auto preload = read("/etc/ld.so.preload");
  preload.classes = cls::kPreload;
  EXPECT_EQ(classes(preload) & cls::kPreload, cls::kPreload) << "built in, not a policy's";
}

TEST_F(ClassifyTest, ASymlinkToProtectedDataIsNotAChangeOfIt) {
  auto link = read("/data/approved/x.jsonl");  // the target string
  link.op = decode::FileOp::kSymlink;
  link.access = decode::access::kWrite;
  link.path2 = "/tmp/y";
  link.ino = 0;
  EXPECT_TRUE(run(link, link.path).empty());
  auto inside = link;  // a link made in the protected tree
  inside.path = "/etc/passwd";
  inside.path2 = "/data/approved/z";
  EXPECT_EQ(rules_of(run(inside, inside.path)), std::vector<std::string>{"protected-data-write"});
  auto hard = link;  // a second name of a protected file
  hard.op = decode::FileOp::kLink;
  hard.path2 = "/tmp/h";
  EXPECT_EQ(rules_of(run(hard, hard.path)), std::vector<std::string>{"protected-data-write"});
}

decode::Net net(decode::NetOp op, uint64_t job, uint64_t cookie, uint64_t bytes, bool inbound = false) {
  decode::Net n;
  n.hdr = fts::testing::header(decode::Kind::kNet, task(300, 3'000'000'000), job);
  n.op = op;
  n.cookie = cookie;
  n.bytes = bytes;
  n.daddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
  n.dport = 443;
  n.v4 = true;
  n.protocol = 6;
  n.inbound = inbound;
  return n;
}

TEST_F(ClassifyTest, ExfilChainWhenTheReadComesAfterTheConnect) {
  EXPECT_EQ(rules_of(run(net(decode::NetOp::kConnect, id_, 7, 0))), std::vector<std::string>{"egress-not-allowed"});
  auto shard = read("/data/approved/s.jsonl");
  shard.classes = classes(shard);
  EXPECT_TRUE(run(shard, shard.path).empty());
  EXPECT_TRUE(run(net(decode::NetOp::kFlowUpdate, id_, 7, 0)).empty()) << "no bytes left yet";
  auto al = run(net(decode::NetOp::kFlowUpdate, id_, 7, 4096));
  ASSERT_EQ(rules_of(al), std::vector<std::string>{"exfil-chain"});
  EXPECT_NE(al[0].message().find("4096 bytes"), std::string::npos) << al[0].message();
  // A connection the peer opened: the job answering it is not egress.
  EXPECT_TRUE(run(net(decode::NetOp::kAccept, id_, 9, 0, true)).empty());
  auto in = net(decode::NetOp::kFlowUpdate, id_, 9, 100);
  in.daddr[15] = 8;
  EXPECT_TRUE(run(in).empty());
}

// A restart: what exfil-chain remembers of the job (its first data read) is
// saved with the job and recalled by the next daemon's engine, which then
// raises the chain on the first connect; an engine without it does not.
TEST_F(ClassifyTest, ExfilChainRemembersTheReadAcrossARestart) {
  auto shard = read("/data/approved/s.jsonl");
  shard.classes = classes(shard);
  EXPECT_TRUE(run(shard, shard.path).empty());
  std::map<std::string, std::string> memory = engine_.remembered(id_);
  EXPECT_EQ(memory, (std::map<std::string, std::string>{{"exfil-chain", "/data/approved/s.jsonl"}}));
  EXPECT_TRUE(engine_.remembered(id_ + 1).empty());

  engine_ = rules::Engine();  // the control: a daemon that forgot
  EXPECT_EQ(rules_of(run(net(decode::NetOp::kConnect, id_, 7, 0))), std::vector<std::string>{"egress-not-allowed"});
  engine_ = rules::Engine();
  engine_.recall(id_, memory);
  auto al = run(net(decode::NetOp::kConnect, id_, 7, 0));
  ASSERT_EQ(rules_of(al), (std::vector<std::string>{"egress-not-allowed", "exfil-chain"}));
  EXPECT_NE(al[1].message().find("/data/approved/s.jsonl"), std::string::npos) << al[1].message();
}

}  // namespace
}  // namespace fts::rules
