#pragma once
// The rules' test bench: one policy and one running job (a `torchrun` launcher,
// pid 100) over a fake kernel, and an engine to feed synthetic records.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "rules/rules.h"
#include "support/fake_kernel.h"
#include "support/fixtures.h"

namespace fts::testing {

class RulesFixture : public ::testing::Test {
 protected:
  static constexpr uint64_t kRootStart = 1'000'000'000;

  // Policy "ft", monitor mode, whose jobs are `**/torchrun`: what each test extends.
  static policy::Policy base_policy() {
    policy::Policy p;
    p.spec.set_name("ft");
    p.spec.set_mode(v1::monitor);
    p.spec.mutable_jobs()->add_exec("**/torchrun");
    return p;
  }

  // Installs `p` and starts its job: the launcher's exec, matched by the kernel.
  void start(policy::Policy p) {
    set_->add(std::move(p));
    jobs_ = std::make_unique<jobs::JobManager>(&kernel_, &procs_, &cgroups_, dir_.path());
    std::vector<jobs::JobChange> changes;
    jobs_->apply(set_, &changes);
    decode::Exec root = exec_of(task(100, kRootStart), task(1, 0), "/usr/bin/torchrun", {"torchrun"});
    root.job_started = true;
    root.policy = 0;
    id_ = decode::job_id_for(100, kRootStart);
    root.hdr.job_id = id_;
    procs_.on_exec(root);
    jobs_->on_exec(root, &changes);
    ASSERT_NE(jobs_->find(id_), nullptr);
  }

  // The rules' alerts for one record; `path` is the file's canonical path.
  std::vector<v1::Alert> run(const decode::Record& r, const std::string& path = "") {
    const decode::Header& h = decode::header(r);
    const jobs::Job* job = h.job_id ? jobs_->find(h.job_id) : nullptr;
    rules::Input in{r, procs_.find(state::key_of(h.task)), job, job ? set_->at(job->policy_index) : nullptr,
                    *set_, *jobs_, procs_, path, kEvidence};
    in.writers = &writers_;
    return engine_.run(in);
  }

  static std::vector<std::string> rules_of(const std::vector<v1::Alert>& al) {
    std::vector<std::string> out;
    for (const auto& a : al) out.push_back(a.rule());
    return out;
  }

  static constexpr uint64_t kEvidence = 42;  // the event id every record is said to be
  TempDir dir_;
  FakeKernel kernel_;
  FakeWriters writer_execs_;  // what the kernel saw writers exec
  writers::Identity writers_{&writer_execs_, "/proc"};
  state::ProcessTable procs_;
  state::CgroupTable cgroups_;
  std::shared_ptr<policy::PolicySet> set_ = std::make_shared<policy::PolicySet>();
  std::unique_ptr<jobs::JobManager> jobs_;
  rules::Engine engine_;
  uint64_t id_ = 0;
};

}  // namespace fts::testing
