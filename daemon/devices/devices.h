#pragma once
// GPU and RDMA character devices, recognised by device number, never by
// path: the classes of devices.classes are resolved at start from the names
// drivers register in /proc/devices (whole majors) and /proc/misc (one minor
// of major 10) into a table the kernel matches job opens against
// (bpf/lib/device.h); the nodes of those devices under devices.dev_dir get
// fanotify FAN_OPEN marks, which report opens by every other process with a
// pidfd (Watch). A node made elsewhere (a container's own /dev) is seen when
// a job opens it, not when an outsider does: README, "GPU and RDMA devices".
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/v1.h"
#include "decode/records.h"
#include "ftsentinel/v1/config.pb.h"

namespace fts::devices {

// The minors of one major that are a class. One exact minor for a misc
// device; a range (maybe every minor) for a /proc/devices name.
struct Range {
  uint32_t major = 0;
  uint32_t minor_min = 0, minor_max = UINT32_MAX;
  bool exact = false;  // minor_min only (a misc device): the kernel keys it by (major, minor)
  decode::DeviceClass cls = decode::DeviceClass::kGpu;
  std::string name;    // the driver's name it came from
};

struct Table {
  std::vector<Range> ranges;
  std::vector<std::string> absent;  // configured names this kernel does not have (no such driver loaded)
  // The class of device (major, minor), if any; a misc (exact) entry wins.
  const Range* find(uint32_t major, uint32_t minor) const;
};

// Resolves the configured classes against /proc/devices and /proc/misc text.
Table resolve(const std::vector<v1::DeviceClass>& classes, std::string_view proc_devices, std::string_view proc_misc);
// The same, reading PROC_ROOT/devices and PROC_ROOT/misc.
Table resolve_from(const std::vector<v1::DeviceClass>& classes, const std::string& proc_root);

// What the kernel is told: the table, keyed as bpf/lib/device.h looks it up.
class KernelDevices {
 public:
  virtual ~KernelDevices() = default;
  virtual Status set_device_classes(const Table& table) = 0;
};

// A character-device node of a class, found under dev_dir.
struct Node {
  std::string path;
  uint32_t major = 0, minor = 0;
  decode::DeviceClass cls = decode::DeviceClass::kGpu;
  uint64_t dev = 0, ino = 0;  // the node itself (kernel dev_t of its filesystem)
};
// Char-device nodes under `dir` (recursively, symlinks not followed, at most
// `limit`) whose device is in the table.
std::vector<Node> scan(const std::string& dir, const Table& table, size_t limit = 4096);

// What the kernel kept of an exited process outside the jobs (its exe), by tgid.
using ExitedLookup = std::function<Result<decode::ExitedExe>(uint32_t tgid)>;

// fanotify FAN_OPEN marks on device nodes: an open by anyone becomes a
// Device record (source fanotify) with the opener's identity read while its
// pidfd pins it. The group reports file ids, not fds: an event fd would be
// the daemon opening the GPU itself.
class Watch {
 public:
  static Result<std::unique_ptr<Watch>> start(std::string proc_root, uint32_t self_tgid, ExitedLookup exited = {});
  ~Watch();
  int fd() const { return fd_; }
  // Marks each node; returns how many are marked (a node that vanished is skipped).
  size_t mark(const std::vector<Node>& nodes);
  const std::vector<Node>& marked() const { return nodes_; }
  // Reads pending events; calls on_open per open. Returns events read.
  size_t read(const std::function<void(decode::Device&&)>& on_open);
  uint64_t overflows() const { return overflows_; }

 private:
  Watch(int fd, std::string proc_root, uint32_t self_tgid, ExitedLookup exited)
      : fd_(fd), proc_root_(std::move(proc_root)), self_tgid_(self_tgid), exited_(std::move(exited)) {}
  void identify(uint32_t pid, int pidfd, decode::Device* d) const;

  int fd_;
  std::string proc_root_;
  uint32_t self_tgid_;
  ExitedLookup exited_;
  std::vector<Node> nodes_;
  std::map<std::string, size_t> by_fid_;  // fsid and file handle bytes -> index in nodes_
  uint64_t overflows_ = 0;
};

}  // namespace fts::devices
