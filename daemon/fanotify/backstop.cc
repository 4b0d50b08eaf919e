#include "fanotify/backstop.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>

#include "common/fanotify_info.h"
#include "common/glob.h"
#include "common/time.h"
#include "state/proc.h"

namespace fts::fanotify {
namespace {

constexpr uint64_t kMarkMask = FAN_MODIFY | FAN_CLOSE_WRITE | FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_ATTRIB |
                               FAN_ONDIR;

// fsid as fanotify reports it and as statfs(2) does: the same two ints.
template <typename Fsid>
std::pair<uint64_t, uint64_t> fsid_key(const Fsid& f) {
  int v[2];
  static_assert(sizeof(f) == sizeof(v));
  std::memcpy(v, &f, sizeof(v));
  return {static_cast<uint32_t>(v[0]), static_cast<uint32_t>(v[1])};
}

std::string fd_path(int fd) {
  char buf[PATH_MAX];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

struct Change {
  uint64_t bit;
  decode::FileOp op;
  decode::FileOp dir_op;
};
// One record per kind of change in an event's mask, most telling first.
constexpr Change kChanges[] = {
    {FAN_RENAME, decode::FileOp::kRename, decode::FileOp::kRename},
    {FAN_CREATE, decode::FileOp::kCreate, decode::FileOp::kMkdir},
    {FAN_DELETE, decode::FileOp::kDelete, decode::FileOp::kRmdir},
    {FAN_ATTRIB, decode::FileOp::kChmod, decode::FileOp::kChmod},
    {FAN_MODIFY, decode::FileOp::kModify, decode::FileOp::kModify},
    {FAN_CLOSE_WRITE, decode::FileOp::kCloseWrite, decode::FileOp::kCloseWrite},
};

}  // namespace

Result<std::unique_ptr<Backstop>> Backstop::start(std::string proc_root, uint32_t self_tgid, ExitedLookup exited) {
  int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_PIDFD,
                         O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fd < 0) return make_error(std::string("fanotify_init: ") + std::strerror(errno));
  return std::unique_ptr<Backstop>(new Backstop(fd, std::move(proc_root), self_tgid, std::move(exited)));
}

Backstop::~Backstop() {
  for (auto& [k, mfd] : mount_fds_) close(mfd);
  if (fd_ >= 0) close(fd_);
}

Status Backstop::watch_filesystems(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    int dfd = open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) continue;  // not there yet; the next rescan tries again
    struct statfs sfs {};
    fstatfs(dfd, &sfs);
    auto key = fsid_key(sfs.f_fsid);
    if (mount_fds_.count(key)) {
      close(dfd);
      continue;
    }
    if (fanotify_mark(fd_, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kMarkMask, AT_FDCWD, p.c_str()) != 0) {
      int err = errno;
      close(dfd);
      return make_error("fanotify mark on the filesystem of " + p + ": " + std::strerror(err));
    }
    mount_fds_[key] = dfd;
    spdlog::info("fanotify: watching the filesystem of {}", p);
  }
  return {};
}

size_t Backstop::ignore_own(const std::vector<std::string>& dirs, const std::vector<std::string>& watched) {
  auto within = [](const std::string& a, const std::string& b) { return a == b || path_under(a, b); };
  size_t n = 0;
  for (const auto& d : dirs) {
    bool overlaps = std::any_of(watched.begin(), watched.end(),
                                [&](const std::string& w) { return within(d, w) || within(w, d); });
    if (overlaps) continue;
    if (fanotify_mark(fd_, FAN_MARK_ADD | FAN_MARK_IGNORE_SURV, kMarkMask | FAN_EVENT_ON_CHILD, AT_FDCWD,
                      d.c_str()) != 0) {
      spdlog::warn("fanotify: cannot ignore the daemon's own changes in {}: {}", d, std::strerror(errno));
      continue;
    }
    ++n;
  }
  return n;
}

const Dir* Backstop::classify_dir(const watch::Watcher& w, int dirfd) {
  struct stat st {};
  if (fstat(dirfd, &st) != 0) return nullptr;
  std::pair<uint64_t, uint64_t> key{decode::kernel_dev(st.st_dev), st.st_ino};
  auto it = dirs_.find(key);
  if (it != dirs_.end()) return &it->second;
  if (dirs_.size() > 100000) dirs_.clear();
  Dir d;
  d.path = fd_path(dirfd);
  // Walk up by "..": the nearest watched ancestor names the tree; classes add up.
  int cur = dup(dirfd);
  for (int depth = 0; depth < 64 && cur >= 0; ++depth) {
    struct stat cs {};
    if (fstat(cur, &cs) != 0) break;
    if (auto v = w.lookup({decode::kernel_dev(cs.st_dev), cs.st_ino})) {
      if (d.watch_id == ~0u) d.watch_id = v->id;
      d.classes |= v->classes;
    }
    int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat us {};
    bool top = up < 0 || fstat(up, &us) != 0 || (us.st_ino == cs.st_ino && us.st_dev == cs.st_dev);
    close(cur);
    cur = up;
    if (top) break;
  }
  if (cur >= 0) close(cur);
  return &(dirs_[key] = std::move(d));
}

Parsed::~Parsed() {
  for (int fd : {old_name.dirfd, new_name.dirfd, plain.dirfd})
    if (fd >= 0) close(fd);
  if (pidfd >= 0) close(pidfd);
}

// The directory of a reported name, opened by its handle on the marked
// filesystem, and its class.
Named Backstop::resolve(const fanotify_event_info_fid* fid, const watch::Watcher& watcher) {
  auto* fh = reinterpret_cast<file_handle*>(const_cast<unsigned char*>(fid->handle));
  Named nm;
  nm.name = reinterpret_cast<const char*>(fh->f_handle + fh->handle_bytes);
  auto mit = mount_fds_.find(fsid_key(fid->fsid));
  if (mit != mount_fds_.end()) nm.dirfd = open_by_handle_at(mit->second, fh, O_PATH | O_CLOEXEC);
  if (nm.dirfd >= 0) {
    nm.dir = classify_dir(watcher, nm.dirfd);
  } else if (mit != mount_fds_.end()) {
    // Out of fds or memory hides changes to protected trees: counted, and
    // the loss watch raises it. A directory already gone (ESTALE) is not a loss.
    int err = errno;
    if (err == EMFILE || err == ENFILE || err == ENOMEM) unresolved_++;
    spdlog::debug("fanotify: cannot open the directory of '{}' by its handle: {}", nm.name, std::strerror(err));
  }
  return nm;
}

void Backstop::close_pidfd(const fanotify_event_metadata* m) {
  for_each_info(m, [](const fanotify_event_info_header* h) {
    if (h->info_type != FAN_EVENT_INFO_TYPE_PIDFD) return;
    int fd = reinterpret_cast<const fanotify_event_info_pidfd*>(h)->pidfd;
    if (fd >= 0) close(fd);
  });
}

void Backstop::parse(const fanotify_event_metadata* m, const watch::Watcher& watcher, Parsed* out) {
  for_each_info(m, [&](const fanotify_event_info_header* h) {
    if (h->info_type == FAN_EVENT_INFO_TYPE_PIDFD) {
      out->pidfd = reinterpret_cast<const fanotify_event_info_pidfd*>(h)->pidfd;
    } else if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME || h->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
               h->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
      Named nm = resolve(reinterpret_cast<const fanotify_event_info_fid*>(h), watcher);
      Named& slot = h->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME   ? out->old_name
                    : h->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME ? out->new_name
                                                                        : out->plain;
      if (slot.dirfd >= 0) close(slot.dirfd);
      slot = std::move(nm);
    }
  });
}

// Identity from /proc while the pidfd pins the process, and its executable
// now: a short-lived writer (an approved ingest tool) may be gone when the
// pipeline looks it up, and a create is queued before the syscall's own
// record is written.
void Backstop::identify_writer(uint32_t pid, int pidfd, decode::File* f) const {
  auto alive = [&] { return pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0; };
  auto st = state::read_stat(proc_root_, pid);
  if (st && alive()) {
    f->hdr.task.start_ns = st->start_ticks * decode::kNsPerTick;
    char exe[PATH_MAX];
    std::string link = proc_root_ + "/" + std::to_string(pid) + "/exe";
    ssize_t n = readlink(link.c_str(), exe, sizeof(exe));
    if (n > 0 && alive()) f->exe.assign(exe, static_cast<size_t>(n));
  }
  if (f->exe.empty()) identify_exited(pid, f);
}

// A writer gone (or a zombie) before its event was read: what the kernel kept
// at its exit, when that is the same process. Without a start time of its own
// the record takes the last process with that pid to exit; the pid was
// still pinned by the event until the writer's exit, so that is the writer
// unless the pid came round again in between.
void Backstop::identify_exited(uint32_t pid, decode::File* f) const {
  if (!exited_) return;
  auto x = exited_(pid);
  if (!x) return;
  uint64_t ticks = f->hdr.task.start_ticks();
  if (ticks && ticks != x->task.start_ticks()) return;  // another process with that pid
  if (!ticks) f->hdr.task.start_ns = x->task.start_ns;
  f->exe = std::move(x->exe);
}

namespace {

bool watched(const Named& x) {
  return x.dir && (x.dir->classes & (decode::cls::kProtected | decode::cls::kOutputs));
}

// The writer: the pidfd's process while it lives, else the pid fanotify saw.
uint32_t writer_pid(const fanotify_event_metadata* m, int pidfd) {
  uint32_t pid = m->pid > 0 ? static_cast<uint32_t>(m->pid) : 0;
  if (pidfd >= 0) {
    int live = state::pidfd_pid(pidfd);
    if (live > 0) pid = static_cast<uint32_t>(live);
  }
  return pid;
}

// The changed entry's inode: under its old name, else under its new one.
void stat_subject(const Named& subject, const Named& new_name, decode::File* f) {
  struct stat st {};
  for (const Named* x : {&subject, &new_name}) {
    if (x->dirfd >= 0 && fstatat(x->dirfd, x->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      f->dev = decode::kernel_dev(st.st_dev);
      f->ino = st.st_ino;
      return;
    }
  }
}

std::string full_path(const Named& x) { return x.dir ? x.dir->path + "/" + x.name : x.name; }

}  // namespace

// One event: a change under a protected or outputs tree, by anyone but the
// daemon, becomes one file record per kind of change in its mask.
void Backstop::handle(const fanotify_event_metadata* m, const watch::Watcher& watcher,
                      const std::function<void(decode::File&&)>& on_change) {
  if (m->pid > 0 && static_cast<uint32_t>(m->pid) == self_tgid_) {
    // The daemon's own write outside its ignored directories: dropped before
    // its directory is opened by handle; only its pidfd is closed.
    close_pidfd(m);
    return;
  }
  Parsed ev;
  parse(m, watcher, &ev);
  bool rename = m->mask & FAN_RENAME;
  const Named& subject = rename ? ev.old_name : ev.plain;
  bool relevant = watched(subject) || (rename && watched(ev.new_name));
  uint32_t pid = writer_pid(m, ev.pidfd);
  if (!relevant || pid == self_tgid_) return;
  decode::File f;
  f.source = decode::Source::kFanotify;
  f.hdr.kind = decode::Kind::kFile;
  f.hdr.ts_ns = now_boot_ns();
  f.hdr.task.tgid = pid;
  f.hdr.tid = pid;
  identify_writer(pid, ev.pidfd, &f);
  const Named& where = watched(subject) ? subject : ev.new_name;
  f.classes = where.dir->classes;
  f.watch_id = where.dir->watch_id;
  f.path = full_path(subject);
  if (rename) f.path2 = full_path(ev.new_name);
  f.access = decode::access::kWrite;
  stat_subject(subject, ev.new_name, &f);
  bool ondir = m->mask & FAN_ONDIR;
  for (const auto& c : kChanges) {
    if (!(m->mask & c.bit)) continue;
    decode::File one = f;
    one.op = ondir ? c.dir_op : c.op;
    on_change(std::move(one));
  }
  if (ondir && (m->mask & (FAN_RENAME | FAN_DELETE))) forget_directories();
}

size_t Backstop::read(const watch::Watcher& watcher, const std::function<void(decode::File&&)>& on_change) {
  alignas(fanotify_event_metadata) char buf[65536];
  size_t events = 0;
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n <= 0) break;  // EAGAIN: drained
    for (auto* m = reinterpret_cast<fanotify_event_metadata*>(buf); FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      ++events;
      // The queue was full: the kernel dropped changes it never names
      // (counted; the loss watch raises sensor-tamper).
      if (m->mask & FAN_Q_OVERFLOW) ++overflows_;
      else if (m->vers == FANOTIFY_METADATA_VERSION) handle(m, watcher, on_change);
    }
  }
  events_read_ += events;
  return events;
}

}  // namespace fts::fanotify
