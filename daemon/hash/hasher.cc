#include "hash/hasher.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <memory>

#include "common/sha256.h"
#include "decode/records.h"

namespace fts::hash {
namespace {

int64_t ns(const struct timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; }

int64_t now_real_ns() {
  struct timespec t {};
  clock_gettime(CLOCK_REALTIME, &t);
  return ns(t);
}

std::string hex(const unsigned char* d, unsigned n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (unsigned i = 0; i < n; ++i) {
    out[2 * i] = kDigits[d[i] >> 4];
    out[2 * i + 1] = kDigits[d[i] & 15];
  }
  return out;
}

// An O_PATH fd on `path` that opens nothing: no symlink followed in any
// component (openat2 RESOLVE_NO_SYMLINKS; the last one at least where openat2
// is missing), no device or FIFO opened.
int pin(const std::string& path) {
  struct open_how how {};
  how.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how)));
  if (fd < 0 && errno == ENOSYS) fd = open(path.c_str(), O_PATH | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    struct stat st {};
    if (fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {  // O_NOFOLLOW with O_PATH pins the link itself
      close(fd);
      errno = ELOOP;
      return -1;
    }
  }
  return fd;
}

// The pinned regular file opened for reading, through its fd, not its name:
// the name may have changed since it was checked.
int reopen(int pinned) {
  std::string self = "/proc/self/fd/" + std::to_string(pinned);
  int fd = open(self.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open(self.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  return fd;
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

// One context reused: EVP_MD_CTX_new() allocates.
Hasher::Hasher(Options o) : opts_(o), ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  stats_.capacity = opts_.queue;
  buf_.resize(opts_.chunk ? opts_.chunk : 1 << 20);
  if (opts_.thread) thread_ = std::thread([this] { loop(); });
}

Hasher::~Hasher() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (efd_ >= 0) close(efd_);
}

bool Hasher::submit(Request r) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (queue_.size() >= opts_.queue) {
      stats_.overflow++;
      return false;
    }
    stats_.submitted++;
    queue_.push_back(std::move(r));
  }
  cv_.notify_one();
  return true;
}

std::vector<Result> Hasher::drain() {
  uint64_t v;
  if (efd_ >= 0) (void)!read(efd_, &v, sizeof(v));
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Result> out;
  out.swap(done_);
  return out;
}

Stats Hasher::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  Stats s = stats_;
  s.queued = queue_.size();
  return s;
}

void Hasher::loop() {
  for (;;) {
    Request r;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      r = std::move(queue_.front());
      queue_.pop_front();
    }
    Result res = work(r);
    res.req = std::move(r);  // one copy of the name per file in flight, not two
    bool first;
    {
      std::lock_guard<std::mutex> l(mu_);
      first = done_.empty();
      done_.push_back(std::move(res));
    }
    // One wakeup per batch: results that join a batch not yet drained ride
    // on its signal (drain() reads the eventfd before it takes the batch).
    uint64_t one = 1;
    if (first && efd_ >= 0) (void)!write(efd_, &one, sizeof(one));
  }
}

void Hasher::run_pending() {
  for (;;) {
    Request r;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (queue_.empty()) break;
      r = std::move(queue_.front());
      queue_.pop_front();
    }
    Result res = work(r);
    res.req = std::move(r);
    std::lock_guard<std::mutex> l(mu_);
    done_.push_back(std::move(res));
  }
  uint64_t one = 1;
  if (efd_ >= 0) (void)!write(efd_, &one, sizeof(one));
}

Result Hasher::work(const Request& r) {
  Result res;  // res.req is moved in by the caller, after the work
  auto fail = [&](std::string why) {
    res.error = std::move(why);
    std::lock_guard<std::mutex> l(mu_);
    stats_.errors++;
    return res;
  };
  // Never follow what a job may have put in place of its file: pin the name
  // without opening it, check what it is, and only then read it.
  Fd pinned{pin(r.path)};
  if (pinned.fd < 0)
    return fail(errno == ELOOP ? "a symbolic link: not followed" : std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(pinned.fd, &st) != 0) return fail(std::string("fstat: ") + std::strerror(errno));
  res.dev = decode::kernel_dev(st.st_dev);
  res.ino = st.st_ino;
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");  // a FIFO or device node is never opened
  if ((r.dev || r.ino) && (res.dev != r.dev || res.ino != r.ino))
    return fail("replaced: the path now names another file (inode " + std::to_string(res.ino) + ")");
  Fd f{reopen(pinned.fd)};
  if (f.fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat again {};
  if (fstat(f.fd, &again) != 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino)
    return fail("replaced while opened");
  Key key{res.dev, res.ino, static_cast<uint64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim)};
  res.size = key.size;
  res.mtime_ns = key.mtime_ns;
  if (cache_find(key, &res.sha256)) {
    res.cached = true;
    std::lock_guard<std::mutex> l(mu_);
    stats_.cache_hits++;
  } else {
    // Changed while being read: read again, a few times at most.
    for (int attempt = 0;; ++attempt) {
      EVP_MD_CTX* ctx = ctx_.get();
      if (!ctx || EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1)
        return fail("EVP_DigestInit_ex failed");
      if (static_cast<size_t>(st.st_size) > buf_.size()) posix_fadvise(f.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
      uint64_t total = 0;
      off_t off = 0;
      for (;;) {
        ssize_t n = pread(f.fd, buf_.data(), buf_.size(), off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(std::string("read: ") + std::strerror(errno));
        if (n == 0) break;
        if (stopping_) return fail("the daemon is stopping");
        EVP_DigestUpdate(ctx, buf_.data(), static_cast<size_t>(n));
        off += n;
        total += static_cast<uint64_t>(n);
      }
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned len = 0;
      EVP_DigestFinal_ex(ctx, md, &len);
      res.sha256 = hex(md, len);
      {
        std::lock_guard<std::mutex> l(mu_);
        stats_.hashed++;
        stats_.bytes += total;
      }
      struct stat after {};
      fstat(f.fd, &after);
      Key now{res.dev, res.ino, static_cast<uint64_t>(after.st_size), ns(after.st_mtim), ns(after.st_ctim)};
      res.size = now.size;
      res.mtime_ns = now.mtime_ns;
      bool stable = now == key && total == key.size;
      if (stable) {
        if (now_real_ns() - key.ctime_ns > opts_.racy_ns) cache_put(key, md, len);
        break;
      }
      key = now;
      if (attempt == 2) {
        res.error = "changing while hashed; the hash is of one read";
        break;
      }
    }
  }
  if (!r.manifest.empty()) res.manifest = manifests_.check(r.manifest, r.path, res.sha256);
  return res;
}

bool Hasher::cache_find(const Key& k, std::string* out) {
  auto it = cache_.find(k);
  if (it == cache_.end()) return false;
  unlink(&*it);
  link_newest(&*it);
  *out = hex(it->second.sha.data(), static_cast<unsigned>(it->second.sha.size()));
  return true;
}

void Hasher::unlink(Node* n) {
  Slot& s = n->second;
  (s.newer ? s.newer->second.older : newest_) = s.older;
  (s.older ? s.older->second.newer : oldest_) = s.newer;
  s.newer = s.older = nullptr;
}

void Hasher::link_newest(Node* n) {
  n->second.older = newest_;
  n->second.newer = nullptr;
  (newest_ ? newest_->second.newer : oldest_) = n;
  newest_ = n;
}

void Hasher::cache_put(const Key& k, const unsigned char* sha, unsigned len) {
  if (opts_.cache == 0 || len != 32) return;
  auto [it, fresh] = cache_.try_emplace(k);
  std::copy(sha, sha + len, it->second.sha.begin());
  if (!fresh) unlink(&*it);
  link_newest(&*it);
  while (cache_.size() > opts_.cache) {
    Node* old = oldest_;
    unlink(old);
    cache_.erase(old->first);
  }
  std::lock_guard<std::mutex> l(mu_);
  stats_.cache_entries = cache_.size();
}

}  // namespace fts::hash
