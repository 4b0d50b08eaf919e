#pragma once
// Content hashes of the files jobs read and write: SHA-256 (OpenSSL EVP),
// computed on a worker thread off the event path. A bounded queue (a request
// that does not fit is counted, never silently lost); files streamed in
// chunks; each file opened by path and checked with fstat against the
// (dev, inode) the sensor saw, so a file replaced in between is not hashed as
// the other; results cached by (dev, inode, size, mtime, ctime), so an
// unchanged file is read once. Results wait for the pipeline thread, which
// drains them when notify_fd() is readable.
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <openssl/evp.h>

#include "hash/manifest_cache.h"

namespace fts::hash {

struct Request {
  std::string path;
  uint64_t dev = 0;  // kernel dev_t the file must have (0 with ino 0: whatever is at path)
  uint64_t ino = 0;
  std::string manifest;  // check the hash against this manifest ("" none)
  uint64_t tag = 0;      // the caller's
};

struct Result {
  Request req;
  std::string sha256;  // lowercase hex; "" when not hashed (see error)
  uint64_t size = 0;
  uint64_t dev = 0, ino = 0;  // what was hashed (kernel dev_t)
  int64_t mtime_ns = 0;
  bool cached = false;
  std::string error;  // gone, replaced, not a regular file, unreadable, changing
  ManifestCache::Verdict manifest;
};

struct Options {
  size_t queue = 4096;      // requests waiting at most
  // Cached hashes at most (least recently used go first; ~120 bytes each).
  // The tracker already keeps each (job, file)'s hash, so this serves another
  // job reading the same files at about the same time; a pool read
  // round-robin that is larger than the cache gets no hit at any size.
  size_t cache = 16384;
  size_t chunk = 1 << 20;   // bytes read at a time
  bool thread = true;       // false: run_pending() does the work (tests)
  // Files changed this recently are hashed but not cached: a write within the
  // filesystem's timestamp granularity leaves mtime and ctime as they were.
  int64_t racy_ns = 2'000'000'000;
};

struct Stats {
  uint64_t submitted = 0;
  uint64_t hashed = 0;      // files read and hashed
  uint64_t cache_hits = 0;  // answered from the cache
  uint64_t overflow = 0;    // requests refused: the queue was full
  uint64_t errors = 0;      // files that could not be hashed
  uint64_t bytes = 0;       // bytes read
  uint64_t queued = 0;      // waiting now
  uint64_t capacity = 0;
  uint64_t cache_entries = 0;
};

class Hasher {
 public:
  explicit Hasher(Options o = {});
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  // false: the queue is full; the request is dropped and counted.
  bool submit(Request r);
  // Finished results, oldest first (clears notify_fd's readiness).
  std::vector<Result> drain();
  // An eventfd, readable while results wait.
  int notify_fd() const { return efd_; }
  Stats stats() const;
  // Without a thread: does every queued request now.
  void run_pending();

 private:
  struct Key {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>()(k.ino * 1000003u ^ k.dev ^ (k.size << 7) ^ static_cast<uint64_t>(k.mtime_ns) ^
                                   (static_cast<uint64_t>(k.ctime_ns) << 1));
    }
  };
  // One node per cached file: its digest as 32 bytes (not 64 hex characters
  // on the heap) and its place in the recency list, linked through the map's
  // own nodes (stable across rehashes), newest at head_.
  struct Slot;
  using Node = std::pair<const Key, Slot>;
  struct Slot {
    std::array<unsigned char, 32> sha{};
    Node* newer = nullptr;
    Node* older = nullptr;
  };
  void loop();
  Result work(const Request& r);
  bool cache_find(const Key& k, std::string* hex);
  void cache_put(const Key& k, const unsigned char* sha, unsigned len);
  void unlink(Node* n);
  void link_newest(Node* n);

  Options opts_;
  int efd_ = -1;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;
  std::vector<Result> done_;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};  // read between chunks: a huge file does not hold up shutdown
  Stats stats_;
  // worker-only state
  std::unordered_map<Key, Slot, KeyHash> cache_;
  Node* newest_ = nullptr;
  Node* oldest_ = nullptr;
  ManifestCache manifests_;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
  std::vector<unsigned char> buf_;
  std::thread thread_;
};

}  // namespace fts::hash
