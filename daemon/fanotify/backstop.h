#pragma once
// The VFS backstop for protected trees: fanotify filesystem marks report
// every create, write, rename, delete and attribute change on the
// filesystems that hold protected or outputs trees — including writes no
// syscall tracepoint sees (mmap, io_uring, copy_file_range, splice) — with a
// pidfd for the writer. Changes outside watched trees are dropped here.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "decode/records.h"
#include "watch/watch.h"

struct fanotify_event_metadata;
struct fanotify_event_info_fid;

namespace fts::fanotify {

// A directory's class: the watched tree it lies in (cached per directory).
struct Dir {
  uint32_t classes = 0;
  uint32_t watch_id = ~0u;
  std::string path;
};

// A name an event reports: its directory (opened by handle) and class.
struct Named {
  int dirfd = -1;
  std::string name;
  const Dir* dir = nullptr;
};

// One event's info records; owns the fds they carry.
struct Parsed {
  int pidfd = -1;
  Named old_name, new_name, plain;
  Parsed() = default;
  Parsed(const Parsed&) = delete;
  Parsed& operator=(const Parsed&) = delete;
  ~Parsed();
};

// What the kernel kept of an exited process outside the jobs (its exe), by tgid.
using ExitedLookup = std::function<Result<decode::ExitedExe>(uint32_t tgid)>;

class Backstop {
 public:
  static Result<std::unique_ptr<Backstop>> start(std::string proc_root, uint32_t self_tgid,
                                                 ExitedLookup exited = {});
  ~Backstop();

  int fd() const { return fd_; }
  // Marks the filesystems holding `paths` (once each).
  Status watch_filesystems(const std::vector<std::string>& paths);
  // The daemon's own directories (its state: journal, outputs, spools): an
  // ignore mark on each, so the kernel does not queue the changes of every
  // batch the daemon writes only for it to read and drop them. A directory
  // inside or around one of `watched` (a protected or outputs tree) is left
  // marked. Returns how many were ignored; one that cannot be is logged.
  size_t ignore_own(const std::vector<std::string>& dirs, const std::vector<std::string>& watched);
  // Reads pending events; calls on_change for each change under a protected
  // or outputs tree. Returns the number of events read.
  size_t read(const watch::Watcher& watcher, const std::function<void(decode::File&&)>& on_change);
  // Directory classifications are cached; a rescan or a directory rename clears them.
  void forget_directories() { dirs_.clear(); }
  uint64_t events_read() const { return events_read_; }
  // Names whose directory could not be opened by its handle for want of fds
  // or memory: counted, and raised by the loss watch.
  uint64_t unresolved() const { return unresolved_; }
  // FAN_Q_OVERFLOW events read: each says the queue was full and changes were lost.
  uint64_t overflows() const { return overflows_; }

 private:
  Backstop(int fd, std::string proc_root, uint32_t self_tgid, ExitedLookup exited)
      : fd_(fd), proc_root_(std::move(proc_root)), self_tgid_(self_tgid), exited_(std::move(exited)) {}
  const Dir* classify_dir(const watch::Watcher& w, int dirfd);
  void handle(const fanotify_event_metadata* m, const watch::Watcher& watcher,
              const std::function<void(decode::File&&)>& on_change);
  void parse(const fanotify_event_metadata* m, const watch::Watcher& watcher, Parsed* out);
  static void close_pidfd(const fanotify_event_metadata* m);
  Named resolve(const fanotify_event_info_fid* fid, const watch::Watcher& watcher);
  void identify_writer(uint32_t pid, int pidfd, decode::File* f) const;
  void identify_exited(uint32_t pid, decode::File* f) const;

  int fd_;
  std::string proc_root_;
  uint32_t self_tgid_;
  ExitedLookup exited_;
  std::map<std::pair<uint64_t, uint64_t>, int> mount_fds_;  // fsid -> an fd on that filesystem
  std::map<std::pair<uint64_t, uint64_t>, Dir> dirs_;       // (kdev, ino) of a directory -> class
  uint64_t events_read_ = 0;
  uint64_t unresolved_ = 0;
  uint64_t overflows_ = 0;
};

}  // namespace fts::fanotify
