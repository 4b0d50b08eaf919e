#pragma once
// A KernelJobs that records what the job manager asked of the kernel, and a
// Sink that keeps every event: the pipeline without BPF.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "jobs/kernel_jobs.h"
#include "writers/identity.h"
#include "sinks/sink.h"

namespace fts::testing {

class FakeKernel : public jobs::KernelJobs {
 public:
  struct Track {
    uint32_t tgid;
    uint64_t start_ticks;
    uint64_t job_id;
    uint32_t policy;
  };
  struct CgroupJob {
    uint64_t job_id;
    uint32_t policy;
  };

  Status track(uint32_t tgid, uint64_t start_ticks, uint64_t job_id, uint32_t policy) override {
    if (fail_track) return make_error("tasks map full");
    tracked.push_back({tgid, start_ticks, job_id, policy});
    return {};
  }
  Status untrack(uint32_t tgid) override {
    untracked.push_back(tgid);
    return {};
  }
  // The last track of the tgid, unless untracked since.
  std::optional<uint64_t> job_of(uint32_t tgid, uint64_t start_ticks) const override {
    for (auto it = tracked.rbegin(); it != tracked.rend(); ++it) {
      if (it->tgid != tgid) continue;
      if (std::count(untracked.begin(), untracked.end(), tgid)) return std::nullopt;
      return it->start_ticks == start_ticks ? std::optional<uint64_t>(it->job_id) : std::nullopt;
    }
    return std::nullopt;
  }
  Status set_launchers(const std::map<std::string, uint32_t>& names) override {
    launchers = names;
    return {};
  }
  Status set_cgroup_job(uint64_t cgroup_id, uint64_t job_id, uint32_t policy) override {
    cgroup_jobs[cgroup_id] = {job_id, policy};
    return {};
  }
  Status clear_cgroup_job(uint64_t cgroup_id) override {
    cleared_cgroups.push_back(cgroup_id);
    cgroup_jobs.erase(cgroup_id);
    return {};
  }
  Status set_report_all_exec(bool on) override {
    report_all_exec = on;
    return {};
  }
  // Like the sensor: every tracked task and cgroup job with a remapped id.
  Status retag(const std::map<uint32_t, uint32_t>& ids) override {
    retags.push_back(ids);
    for (auto& t : tracked)
      if (auto it = ids.find(t.policy); it != ids.end()) t.policy = it->second;
    for (auto& [cg, j] : cgroup_jobs)
      if (auto it = ids.find(j.policy); it != ids.end()) j.policy = it->second;
    return {};
  }

  bool fail_track = false;
  std::vector<Track> tracked;
  std::vector<uint32_t> untracked;
  std::map<std::string, uint32_t> launchers;
  std::map<uint64_t, CgroupJob> cgroup_jobs;
  std::vector<uint64_t> cleared_cgroups;
  bool report_all_exec = false;
  std::vector<std::map<uint32_t, uint32_t>> retags;
};

// What the kernel recorded of writers' execs (writer_execs), set by tests.
class FakeWriters : public writers::KernelWriters {
 public:
  Status set_writer_names(const std::set<std::string>& n) override {
    names = n;
    return {};
  }
  std::optional<decode::WriterExec> writer_exec(uint32_t tgid) const override {
    auto it = execs.find(tgid);
    return it == execs.end() ? std::nullopt : std::optional<decode::WriterExec>(it->second);
  }
  Status seed_writer_exec(const decode::WriterExec& w) override {
    execs.emplace(w.task.tgid, w);
    return {};
  }
  // The clean exec of the file at `path` by `task`, as the kernel would record it.
  void exec_of(const decode::TaskId& task, const std::string& path, bool clean = true) {
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    decode::WriterExec w;
    w.task = task;
    w.dev = decode::kernel_dev(st.st_dev);
    w.ino = st.st_ino;
    w.clean = clean;
    execs[task.tgid] = w;
  }

  std::set<std::string> names;
  std::map<uint32_t, decode::WriterExec> execs;
};

class CaptureSink : public sinks::Sink {
 public:
  explicit CaptureSink(std::vector<v1::Event>* out) : out_(out) {}
  void write(const v1::Event& e) override { out_->push_back(e); }
  void flush() override { ++flushes; }
  int flushes = 0;

 private:
  std::vector<v1::Event>* out_;
};

}  // namespace fts::testing
