// Reload: a bad config or policy changes nothing (user space and the kernel
// keep the old policy); a good one switches everything, and the kernel sees
// the old ids' entries until every task carries a new id.
#include "reload/reload.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "support/fake_kernel.h"
#include "support/fake_proc.h"
#include "support/fixtures.h"

namespace fts::reload {
namespace {

using fts::testing::TempDir;
using fts::testing::write_file;

// One log for every kernel write, so the test can check their order.
struct KernelLog {
  std::vector<std::string> steps;
};

class FakeEgress : public egress::KernelEgress {
 public:
  explicit FakeEgress(KernelLog* log) : log_(log) {}
  std::vector<egress::NameEntry> names;
  Status set_egress(const std::vector<egress::LpmEntry>& e) override {
    entries = e;
    std::set<uint32_t> ids;
    for (const auto& x : e) ids.insert(x.policy);
    std::string s = "egress";
    for (uint32_t id : ids) s += " " + std::to_string(id);
    log_->steps.push_back(s);
    return {};
  }
  Status set_dns_names(const std::vector<egress::NameEntry>& n) override {
    names = n;
    return {};
  }
  Status set_dns_resolvers(const std::vector<egress::ResolverEntry>&) override { return {}; }
  size_t expire_dns_allowed(uint64_t, bool) override { return 0; }
  Status set_policy_enforce(uint32_t policy, bool enforce) override {
    enforce_[policy] = enforce;
    return {};
  }
  std::set<uint32_t> ids() const {
    std::set<uint32_t> out;
    for (const auto& e : entries) out.insert(e.policy);
    return out;
  }
  std::vector<egress::LpmEntry> entries;
  std::map<uint32_t, bool> enforce_;

 private:
  KernelLog* log_;
};

class FakeWatch : public watch::KernelWatch {
 public:
  Status set_watched(const std::map<watch::InodeKey, watch::WatchValue>& inodes) override {
    inodes_ = inodes;
    return {};
  }
  Status set_watched_names(const std::map<std::string, watch::WatchValue>&) override { return {}; }
  std::map<watch::InodeKey, watch::WatchValue> inodes_;
};

class LoggingJobsKernel : public fts::testing::FakeKernel {
 public:
  explicit LoggingJobsKernel(KernelLog* log) : log_(log) {}
  Status retag(const std::map<uint32_t, uint32_t>& ids) override {
    std::string s = "retag";
    for (const auto& [from, to] : ids) s += " " + std::to_string(from) + "->" + std::to_string(to);
    log_->steps.push_back(s);
    return FakeKernel::retag(ids);
  }

 private:
  KernelLog* log_;
};

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = dir_ / "etc/ftsentinel.yaml";
    write_file(cfg_, "policies_dir: policies\ncontrol:\n  socket: /run/fts-test/control.sock\n");
    write_file(dir_ / "data/approved/a.jsonl", "{}\n");
    write_file(dir_ / "home/.aws/credentials", "secret\n");
    policy("ft.yaml", "name: ft\nmode: enforce\nnetwork:\n  egress: [\"10.0.0.0/8:443\"]\n"
                      "data:\n  training: [\"" + dir_ / "data/approved/**" + "\"]\n");
    config::Loaded l = config::load(cfg_);
    ASSERT_TRUE(l.ok());
    running_ = l.daemon;
    cgroups_ = std::make_unique<state::CgroupTable>("");
    jobs_ = std::make_unique<jobs::JobManager>(&kjobs_, &procs_, cgroups_.get(), proc_root_.path());
    egress_ = std::make_unique<egress::Egress>(&kegress_, [](const std::string&) { return std::vector<Address>{}; });
    watcher_ = std::make_unique<watch::Watcher>(&kwatch_);
    ASSERT_TRUE(egress_->apply(*l.policies));
    ASSERT_TRUE(watcher_->apply(watch::patterns_of(*l.policies)));
    std::vector<jobs::JobChange> changes;
    jobs_->apply(l.policies, &changes);
    // A job running under ft.
    fts::testing::add_fake_proc(proc_root_, {.pid = 4242, .ppid = 1, .start_ticks = 500, .cmdline = std::string("python3\0train.py\0", 17)});
    auto job = jobs_->register_run(4242, 500, "ft", "train", &changes);
    ASSERT_TRUE(job) << job.error();
    job_id_ = (*job)->id;
    reloader_ = std::make_unique<Reloader>(Reloader::Parts{jobs_.get(), egress_.get(), watcher_.get()});
    log_.steps.clear();
  }

  std::string policy(const std::string& name, const std::string& body) {
    std::string f = dir_ / ("etc/policies/" + name);
    write_file(f, body);
    return f;
  }
  Outcome reload() {
    std::vector<jobs::JobChange> changes;
    return reloader_->reload(cfg_, running_, &changes);
  }
  const jobs::Job& job() { return *jobs_->find(job_id_); }
  uint32_t kernel_policy_of_task() {
    for (auto it = kjobs_.tracked.rbegin(); it != kjobs_.tracked.rend(); ++it)
      if (it->tgid == 4242) return it->policy;
    return ~0u;
  }
  bool allows(uint32_t policy, const std::string& v4_prefix_start) {
    for (const auto& e : kegress_.entries)
      if (e.policy == policy && address_string(e.addr) == v4_prefix_start) return true;
    return false;
  }

  TempDir dir_, proc_root_;
  std::string cfg_;
  v1::DaemonConfig running_;
  KernelLog log_;
  LoggingJobsKernel kjobs_{&log_};
  FakeEgress kegress_{&log_};
  FakeWatch kwatch_;
  state::ProcessTable procs_;
  std::unique_ptr<state::CgroupTable> cgroups_;
  std::unique_ptr<jobs::JobManager> jobs_;
  std::unique_ptr<egress::Egress> egress_;
  std::unique_ptr<watch::Watcher> watcher_;
  std::unique_ptr<Reloader> reloader_;
  uint64_t job_id_ = 0;
};

TEST_F(ReloadTest, ABrokenPolicyKeepsTheOldOneEverywhere) {
  uint32_t id = job().policy_index;
  auto before_entries = kegress_.entries;
  auto before_inodes = kwatch_.inodes_;
  std::string f = policy("ft.yaml", "name: ft\nmode: enforce\nnetwork:\n  egress: [\"10.0.0.0/8:443\", \"192.168.0.0/33\"]\n");
  Outcome o = reload();
  EXPECT_FALSE(o.applied);
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_EQ(o.errors[0].rfind(f + ":4:30: network.egress[1]: bad egress entry '192.168.0.0/33'", 0), 0u) << o.errors[0];
  EXPECT_EQ(o.policies, std::vector<std::string>{"ft"});
  EXPECT_EQ(reloader_->generation(), 1u);
  // Nothing was written to the kernel, and user space still runs the old set.
  EXPECT_TRUE(log_.steps.empty()) << log_.steps[0];
  EXPECT_EQ(kegress_.entries, before_entries);
  EXPECT_EQ(kwatch_.inodes_.size(), before_inodes.size());
  EXPECT_EQ(job().policy_index, id);
  EXPECT_EQ(kernel_policy_of_task(), id);
  EXPECT_EQ(jobs_->policies().find("ft")->spec.network().egress_size(), 1);
  EXPECT_TRUE(allows(id, "10.0.0.0"));
}

TEST_F(ReloadTest, ABrokenDaemonConfigKeepsTheOldPolicies) {
  write_file(cfg_, "policies_dir: policies\nsensor:\n  ringbuf_mb: 3\n");
  policy("ft.yaml", "name: ft\nmode: enforce\nnetwork:\n  egress: [\"192.168.0.0/16\"]\n");
  Outcome o = reload();
  EXPECT_FALSE(o.applied);
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_EQ(o.errors[0], cfg_ + ":3:15: sensor.ringbuf_mb: must be a power of two");
  EXPECT_TRUE(allows(job().policy_index, "10.0.0.0"));
  EXPECT_FALSE(allows(job().policy_index, "192.168.0.0"));
}

TEST_F(ReloadTest, AGoodPolicySwapsUserSpaceAndKernelInOrder) {
  uint32_t old_id = job().policy_index;
  policy("ft.yaml", "name: ft\nmode: monitor\nnetwork:\n  egress: [\"10.0.0.0/8:443\", \"192.168.0.0/16\"]\n"
                    "  max_bytes_per_destination: 1MiB\n"
                    "data:\n  sensitive: [\"" + dir_ / "home/.aws/**" + "\"]\n");
  policy("other.yaml", "name: other\nmode: monitor\njobs:\n  exec: [\"**/torchrun\"]\n");
  Outcome o = reload();
  ASSERT_TRUE(o.applied) << (o.errors.empty() ? "" : o.errors[0]);
  EXPECT_EQ(reloader_->generation(), 2u);
  EXPECT_EQ(o.policies, (std::vector<std::string>{"ft", "other"}));

  const policy::Policy* ft = jobs_->policies().find("ft");
  ASSERT_NE(ft, nullptr);
  EXPECT_NE(ft->index, old_id) << "a new set takes ids the running one does not use";
  // The running job is re-bound to the new ft, in user space and in the kernel.
  EXPECT_EQ(job().policy_index, ft->index);
  EXPECT_EQ(job().mode, "monitor");
  EXPECT_EQ(kernel_policy_of_task(), ft->index);
  EXPECT_EQ(kegress_.enforce_[ft->index], false);
  EXPECT_TRUE(allows(ft->index, "192.168.0.0"));
  EXPECT_EQ(kegress_.ids().count(old_id), 0u) << "the old id's entries are gone";
  EXPECT_EQ(kjobs_.launchers.at("torchrun"), jobs_->policies().find("other")->index);
  // A record the kernel wrote before the switch names the new ft, and a
  // flow opened before it gets the new byte limit.
  EXPECT_EQ(jobs_->policies().at(old_id), ft);
  EXPECT_EQ(egress_->max_bytes(old_id), 1u << 20);
  EXPECT_EQ(egress_->max_bytes(ft->index), 1u << 20);
  // The new sensitive directory is watched.
  EXPECT_TRUE(kwatch_.inodes_.count(*watch::inode_of(dir_ / "home/.aws")));

  // Kernel order: both sets' entries, then the tasks, then the new set only.
  ASSERT_EQ(log_.steps.size(), 3u);
  EXPECT_EQ(log_.steps[0], "egress " + std::to_string(old_id) + " " + std::to_string(ft->index));
  EXPECT_EQ(log_.steps[1], "retag " + std::to_string(old_id) + "->" + std::to_string(ft->index));
  EXPECT_EQ(log_.steps[2], "egress " + std::to_string(ft->index));
  ASSERT_EQ(o.notes.size(), 1u);
  EXPECT_NE(o.notes[0].find("now under the reloaded policy 'ft'"), std::string::npos);
}

TEST_F(ReloadTest, AJobWhosePolicyIsGoneKeepsItUntilItEnds) {
  uint32_t old_id = job().policy_index;
  std::filesystem::remove(dir_ / "etc/policies/ft.yaml");
  policy("other.yaml", "name: other\nmode: monitor\nnetwork:\n  egress: [\"172.16.0.0/12\"]\n");
  Outcome o = reload();
  ASSERT_TRUE(o.applied) << (o.errors.empty() ? "" : o.errors[0]);
  EXPECT_EQ(o.policies, std::vector<std::string>{"other"});
  ASSERT_EQ(o.notes.size(), 1u);
  EXPECT_NE(o.notes[0].find("policy 'ft' is gone; the job keeps it until it ends"), std::string::npos) << o.notes[0];
  EXPECT_EQ(job().policy_index, old_id);
  EXPECT_EQ(kernel_policy_of_task(), old_id);
  const policy::Policy* kept = jobs_->policies().at(old_id);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->spec.name(), "ft");
  EXPECT_EQ(jobs_->policies().find("ft"), nullptr) << "no new job can start under it";
  EXPECT_TRUE(allows(old_id, "10.0.0.0")) << "its egress entries stay in the kernel";
  EXPECT_TRUE(kegress_.enforce_[old_id]);

  // A second reload while the job still runs keeps it again, without id clashes.
  policy("third.yaml", "name: third\nmode: monitor\n");
  Outcome o2 = reload();
  ASSERT_TRUE(o2.applied);
  EXPECT_EQ(jobs_->policies().at(old_id)->spec.name(), "ft");
  for (const auto& p : jobs_->policies().all()) EXPECT_NE(p.index, old_id);
}

TEST_F(ReloadTest, DaemonSettingsThatNeedARestartAreWarnings) {
  write_file(cfg_, "policies_dir: policies\ncontrol:\n  socket: /run/fts-test/other.sock\nsensor:\n  ringbuf_mb: 32\n");
  Outcome o = reload();
  ASSERT_TRUE(o.applied);
  std::vector<std::string> restart;
  for (const auto& w : o.warnings)
    if (w.find("needs restart") != std::string::npos) restart.push_back(w);
  ASSERT_EQ(restart.size(), 2u);
  EXPECT_EQ(restart[0], cfg_ + ": control: changed; needs restart (the running daemon keeps the old setting)");
  EXPECT_EQ(restart[1].rfind(cfg_ + ": sensor: changed; needs restart", 0), 0u);
}

}  // namespace
}  // namespace fts::reload
