#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/fanotify.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>

#include "common/fanotify_info.h"
#include "common/time.h"
#include "devices/devices.h"
#include "state/proc.h"

namespace fts::devices {
namespace {

// The key of a file id: fsid, handle type and handle bytes, as fanotify
// reports them and as name_to_handle_at(2) + statfs(2) give them.
std::string fid_key(const void* fsid, int type, const unsigned char* handle, unsigned bytes) {
  std::string k(static_cast<const char*>(fsid), 8);
  k.append(reinterpret_cast<const char*>(&type), sizeof(type));
  k.append(reinterpret_cast<const char*>(handle), bytes);
  return k;
}

std::optional<std::string> node_fid(const std::string& path) {
  struct statfs sfs {};
  if (statfs(path.c_str(), &sfs) != 0) return std::nullopt;
  alignas(file_handle) unsigned char buf[sizeof(file_handle) + MAX_HANDLE_SZ];
  auto* fh = reinterpret_cast<file_handle*>(buf);
  fh->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  if (name_to_handle_at(AT_FDCWD, path.c_str(), fh, &mount_id, 0) != 0) return std::nullopt;
  return fid_key(&sfs.f_fsid, fh->handle_type, fh->f_handle, fh->handle_bytes);
}

}  // namespace

Result<std::unique_ptr<Watch>> Watch::start(std::string proc_root, uint32_t self_tgid, ExitedLookup exited) {
  int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_FID | FAN_REPORT_PIDFD,
                         O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fd < 0) return make_error(std::string("fanotify_init (devices): ") + std::strerror(errno));
  return std::unique_ptr<Watch>(new Watch(fd, std::move(proc_root), self_tgid, std::move(exited)));
}

Watch::~Watch() {
  if (fd_ >= 0) close(fd_);
}

size_t Watch::mark(const std::vector<Node>& nodes) {
  size_t n = 0;
  for (const auto& node : nodes) {
    auto key = node_fid(node.path);
    if (!key || by_fid_.count(*key)) continue;
    if (fanotify_mark(fd_, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, node.path.c_str()) != 0) {
      spdlog::warn("devices: cannot mark {} for opens: {}", node.path, std::strerror(errno));
      continue;
    }
    by_fid_[*key] = nodes_.size();
    nodes_.push_back(node);
    ++n;
  }
  return n;
}

// The opener from /proc while the pidfd pins it; gone already (a short
// `nvidia-smi`), what the kernel kept at its exit.
void Watch::identify(uint32_t pid, int pidfd, decode::Device* d) const {
  auto alive = [&] { return pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0; };
  auto st = state::read_stat(proc_root_, pid);
  if (st && alive()) {
    d->hdr.task.start_ns = st->start_ticks * decode::kNsPerTick;
    char exe[PATH_MAX];
    std::string link = proc_root_ + "/" + std::to_string(pid) + "/exe";
    ssize_t n = readlink(link.c_str(), exe, sizeof(exe));
    if (n > 0 && alive()) d->exe.assign(exe, static_cast<size_t>(n));
  }
  if (!d->exe.empty() || !exited_) return;
  auto x = exited_(pid);
  if (!x) return;
  uint64_t ticks = d->hdr.task.start_ticks();
  if (ticks && ticks != x->task.start_ticks()) return;  // another process with that pid
  if (!ticks) d->hdr.task.start_ns = x->task.start_ns;
  d->exe = std::move(x->exe);
}

size_t Watch::read(const std::function<void(decode::Device&&)>& on_open) {
  alignas(fanotify_event_metadata) char buf[16384];
  size_t events = 0;
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n <= 0) break;  // EAGAIN: drained
    for (auto* m = reinterpret_cast<fanotify_event_metadata*>(buf); FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      ++events;
      if (m->mask & FAN_Q_OVERFLOW) {
        ++overflows_;
        continue;
      }
      int pidfd = -1;
      const Node* node = nullptr;
      for_each_info(m, [&](const fanotify_event_info_header* h) {
        if (h->info_type == FAN_EVENT_INFO_TYPE_PIDFD) {
          pidfd = reinterpret_cast<const fanotify_event_info_pidfd*>(h)->pidfd;
        } else if (h->info_type == FAN_EVENT_INFO_TYPE_FID) {
          auto* fid = reinterpret_cast<const fanotify_event_info_fid*>(h);
          auto* fh = reinterpret_cast<const file_handle*>(fid->handle);
          auto it = by_fid_.find(fid_key(&fid->fsid, fh->handle_type, fh->f_handle, fh->handle_bytes));
          if (it != by_fid_.end()) node = &nodes_[it->second];
        }
      });
      uint32_t pid = m->pid > 0 ? static_cast<uint32_t>(m->pid) : 0;
      if (int live = pidfd >= 0 ? state::pidfd_pid(pidfd) : -1; live > 0) pid = static_cast<uint32_t>(live);
      if (node && pid && pid != self_tgid_) {
        decode::Device d;
        d.hdr.kind = decode::Kind::kDevice;
        d.hdr.ts_ns = now_boot_ns();
        d.hdr.task.tgid = d.hdr.tid = pid;
        d.source = decode::Source::kFanotify;
        d.cls = node->cls;
        d.major = node->major;
        d.minor = node->minor;
        d.dev = node->dev;
        d.ino = node->ino;
        d.path = node->path;
        identify(pid, pidfd, &d);
        on_open(std::move(d));
      }
      if (pidfd >= 0) close(pidfd);
    }
  }
  return events;
}

}  // namespace fts::devices
