#pragma once
// The BPF sensor: loads, attaches and owns the programs and maps of the
// ftsentinel skeleton. The only module that touches libbpf.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "decode/records.h"
#include "devices/devices.h"
#include "egress/egress.h"
#include "jobs/kernel_jobs.h"
#include "watch/watch.h"
#include "writers/identity.h"

namespace fts::sensor {

// How often the daemon drains the ring buffer on its own: the kernel wakes it
// only once a backlog waits (FTS_RING_POLL_MS in events.h; sensor.cc checks
// they agree).
inline constexpr int kRingPollMs = 10;

struct Options {
  uint32_t ringbuf_mb = 16;
  uint32_t tasks_max = 65536;  // capacity of the tasks map: processes of jobs tracked at once
  uint32_t flows_max = 65536;  // capacity of the flows map: open job sockets counted at once
  bool pin = false;
  std::string pin_dir = "/sys/fs/bpf/ftsentinel";
  std::string cgroup2_root;  // where the egress hooks attach; found in /proc/self/mountinfo when empty
  uint32_t daemon_tgid = 0;
};

struct Program {
  std::string name;
  std::string attach;  // section, e.g. tp_btf/sched_process_exec
  uint32_t id = 0;
};

struct Counters {
  std::vector<uint64_t> ringbuf_drops_per_cpu;
  uint64_t ringbuf_drops = 0;
  uint64_t tasks_full = 0;
  uint64_t untracked_refused = 0;  // connects/sends of untracked children of enforce-mode jobs refused
  uint64_t flows_started = 0;      // entries added to the flows map
  uint64_t flows_ended = 0;        // entries a socket's release removed
  uint64_t events = 0;
};

using RecordHandler = std::function<void(std::span<const uint8_t>)>;

// Checks what loading needs (root, BTF, bpffs) and says what is missing.
Status preflight(const Options& opts);

class Sensor : public jobs::KernelJobs,
               public watch::KernelWatch,
               public egress::KernelEgress,
               public writers::KernelWriters,
               public devices::KernelDevices {
 public:
  // Opens, loads and attaches everything; on failure, the error names the
  // program and carries the verifier's last lines.
  static Result<std::unique_ptr<Sensor>> start(const Options& opts, RecordHandler on_record);
  ~Sensor() override;

  int ring_fd() const;
  // Drains the ring buffer, calling the handler per record; returns records.
  int consume();

  std::vector<Program> programs() const;
  Counters counters() const;
  // Flows the LRU flows map evicted (their bytes lost), at least: entries
  // added before the count, less those removed after it, less those there
  // during it. Never more than the truth, so no alarm is false.
  uint64_t flows_evicted() const;
  size_t tasks_tracked() const;
  // A process outside every job that has exited: what the kernel saw it run.
  Result<decode::ExitedExe> exited_exe(uint32_t tgid) const;
  // The job sockets still open, as flow_update records (bytes sent so far).
  std::vector<decode::Net> open_flows() const;

  // jobs::KernelJobs
  Status track(uint32_t tgid, uint64_t start_ticks, uint64_t job_id, uint32_t policy) override;
  Status untrack(uint32_t tgid) override;
  std::optional<uint64_t> job_of(uint32_t tgid, uint64_t start_ticks) const override;
  Status set_launchers(const std::map<std::string, uint32_t>& names) override;
  Status set_cgroup_job(uint64_t cgroup_id, uint64_t job_id, uint32_t policy) override;
  Status clear_cgroup_job(uint64_t cgroup_id) override;
  Status set_report_all_exec(bool on) override;
  Status retag(const std::map<uint32_t, uint32_t>& ids) override;

  // watch::KernelWatch
  Status set_watched(const std::map<watch::InodeKey, watch::WatchValue>& inodes) override;
  Status set_watched_names(const std::map<std::string, watch::WatchValue>& names) override;

  // devices::KernelDevices
  Status set_device_classes(const devices::Table& table) override;
  // egress::KernelEgress
  Status set_egress(const std::vector<egress::LpmEntry>& entries) override;
  Status set_policy_enforce(uint32_t policy, bool enforce) override;
  Status set_dns_names(const std::vector<egress::NameEntry>& names) override;
  Status set_dns_resolvers(const std::vector<egress::ResolverEntry>& resolvers) override;
  size_t expire_dns_allowed(uint64_t now_boot_ns, bool all) override;

  // writers::KernelWriters
  Status set_writer_names(const std::set<std::string>& names) override;
  std::optional<decode::WriterExec> writer_exec(uint32_t tgid) const override;
  Status seed_writer_exec(const decode::WriterExec& w) override;

 private:
  struct Impl;
  explicit Sensor(std::unique_ptr<Impl> impl);
  Status write_settings();
  std::unique_ptr<Impl> impl_;
};

}  // namespace fts::sensor
