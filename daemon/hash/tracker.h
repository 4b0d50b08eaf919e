#pragma once
// Which files get hashed, and when (the pipeline thread's side of hashing):
//
// - what a job reads as data: every read-only open by a job process that the
//   kernel reports (outside the base list) except `sensitive` files (a hash
//   of a short secret would help guess it): hashed at the job's first read of
//   that file, checked against the policy's `data.manifest` when it covers it;
// - what a job writes under `outputs`: hashed when the write ends, that is on
//   the fanotify close_write, after a second without further changes (a
//   writer that keeps the file open, mmap), and once more at job end;
// - a file a job has read and hashed that anyone then changes (a fanotify
//   modify/close_write, an open for writing, a truncate, a rename onto it):
//   hashed again when the change ends, so a change during the run shows
//   even though the kernel reports a process's re-read of a file only once.
//
// Each (job, file) gives a `file_hash` record when its content is first known
// and whenever it differs from the last one reported; a later hash that
// differs from the job's first carries that first hash (dataset-drift reads it).
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <memory_resource>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/policy.h"
#include "decode/records.h"
#include "hash/hasher.h"
#include "jobs/jobs.h"

namespace fts::hash {

struct TrackerOptions {
  uint64_t settle_ns = 1'000'000'000;  // quiet time after a change before it is hashed (no close_write seen)
  size_t max_files = 200000;           // (job, file) pairs followed at most
};

class Tracker {
 public:
  explicit Tracker(Hasher* hasher, TrackerOptions o = {}) : hasher_(hasher), opts_(o) {}

  // A file record after the state stage (its job known), with its canonical path.
  void on_file(const decode::File& f, const std::string& path, const jobs::Job* job, const policy::Policy* policy);
  // A write open by a job of a file outside `outputs` whose content a rule
  // needs (remote code): hashed when the write ends, like an output.
  void on_write_followed(const decode::File& f, const std::string& path, const jobs::Job* job);
  // The job ended: its outputs and changed files are hashed a last time, then forgotten.
  void on_job_end(uint64_t job_id);
  // Files changed at least settle_ns ago and not hashed since.
  void tick(uint64_t now_boot_ns);
  // Finished hashes as records for the pipeline.
  std::vector<decode::FileHash> collect();

  size_t files() const { return entries_; }
  // Hashes asked for and not collected yet (the sync barrier waits on them).
  size_t pending() const { return pending_.size(); }
  // Files changed and waiting for their quiet time before they are hashed.
  size_t settling() const;
  uint64_t untracked() const { return untracked_; }

 private:
  // A SHA-256 kept as its 32 bytes, not 64 hex characters on the heap: a job
  // that reads a million shards keeps one entry per shard (tests/bench/soak.py
  // measures the daemon's RSS with 100,000).
  struct Digest {
    std::array<uint8_t, 32> bytes{};
    bool set = false;
    static Digest of(const std::string& hex);
    std::string hex() const;
    bool operator==(const Digest&) const = default;
  };
  // What is rarely needed of a (job, file): most are read-only data files,
  // hashed once, whose content never changes, failing or asked again.
  struct Rare {
    Digest first_sha;  // the job's first hash, once a later one differs (until then it is last_sha)
    std::string last_error;
    const char* again = nullptr;  // hash again when the one in flight returns, for this reason
    // A file hashed later than when it was seen (written, changed, refused by
    // a full queue): its name, for tick and job end, and since when it waits.
    std::string path;
    uint64_t dirty_ns = 0;
    uint64_t last_dev = 0, last_ino = 0;  // the last hash's file, when not (dev, ino)
  };
  // What is followed of one (job, file), found by its path's key. Kept small
  // (fields ordered so nothing pads, flags as bits): one per shard a job
  // reads (tests/bench/soak.py: 100,000). 88 bytes, so a map node with its
  // key is 112, one of the pool's block sizes (104 made it 128).
  struct Entry {
    uint64_t job = 0;
    uint64_t ino = 0;
    uint64_t start_ns = 0;  // the reading process (decode::TaskId, kept unpadded)
    uint32_t dev = 0;       // the kernel's dev_t: 32 bits (MKDEV's encoding)
    uint32_t tgid = 0;
    uint32_t classes = 0;
    uint32_t tid : 22 = 0;        // a thread id: pid_max is at most 2^22
    bool first_set : 1 = false;   // a first hash was read (it is rare->first_sha if set there, else last_sha)
    bool last_set : 1 = false;    // last_bytes holds a hash
    bool last_other : 1 = false;  // the last hash was of another file than (dev, ino): rare->last_dev/ino
    bool output : 1 = false;      // the job writes it
    bool read : 1 = false;        // the job read it as data
    bool inflight : 1 = false;
    bool overflowed : 1 = false;  // refused by a full queue: waits in refused_
    bool said_full : 1 = false;   // its queue-full record went out (once until it is hashed)
    std::array<uint8_t, 32> last_bytes{};  // the last hash (last_sha())
    std::unique_ptr<Rare> rare;
    std::unique_ptr<Entry> next;  // another job following the same path
    decode::TaskId task() const { return {tgid, start_ns}; }
    void set_task(const decode::TaskId& t, uint32_t thread) {
      tgid = t.tgid;
      start_ns = t.start_ns;
      tid = thread & ((1u << 22) - 1);
    }
    Digest last_sha() const {
      Digest d;
      d.bytes = last_bytes;
      d.set = last_set;
      return d;
    }
    void set_last_sha(const Digest& d) {
      last_bytes = d.bytes;
      last_set = d.set;
    }
    Rare& side() {
      if (!rare) rare = std::make_unique<Rare>();
      return *rare;
    }
    Digest first_sha() const { return rare && rare->first_sha.set ? rare->first_sha : last_sha(); }
    const char* again() const { return rare ? rare->again : nullptr; }
    uint64_t dirty_ns() const { return rare ? rare->dirty_ns : 0; }
    // Now (dev, ino): the last hash, of the file before, keeps its own.
    void move_to(uint64_t d, uint64_t i) {
      if (last_set && !last_other && (d != dev || i != ino)) {
        side().last_dev = dev;
        rare->last_ino = ino;
        last_other = true;
      }
      dev = static_cast<uint32_t>(d);
      ino = i;
    }
    // Hashed and settled: a file only read needs its name no more (a change
    // names it again), and a side record left with nothing in it goes. A
    // first pass that overflows the hash queue would otherwise keep ~200
    // bytes more for every file retried (tests/bench/soak.py).
    void trim() {
      if (!rare || inflight || output || rare->dirty_ns) return;
      std::string().swap(rare->path);
      if (!rare->first_sha.set && rare->last_error.empty() && !rare->again && !last_other) rare.reset();
    }
    void set_dirty(const std::string& path, uint64_t ns) {
      side().dirty_ns = ns;
      if (rare->path.empty()) rare->path = path;
    }
  };
  static_assert(sizeof(Entry) == 88, "an Entry grew: its map node leaves the pool's 112-byte blocks (LP64)");
  // A path's key: 16 bytes of its SHA-256. The path itself is kept only where
  // it is needed again (Rare::path), and no two paths share a key.
  using PathKey = std::array<uint8_t, 16>;
  struct PathKeyHash {
    size_t operator()(const PathKey& k) const noexcept;  // noexcept: the node keeps no hash code
  };
  static PathKey key_of(const std::string& path);
  template <typename F>
  void each(F&& f);  // every entry with its path's key
  struct Pending {  // the name travels with the request (Result::req)
    uint64_t job;
    const char* reason;
  };

  Entry* entry(uint64_t job, const std::string& path, bool create);
  // false: the hash queue is full (the entry waits for a tick).
  bool submit(Entry& e, const std::string& path, const char* reason);
  void follow_write(const decode::File& f, const std::string& path, uint64_t job);
  void changed(const std::string& path, const decode::File& f);
  decode::FileHash record(const Entry& e, const std::string& path, const char* reason) const;
  void forget_ended();

  Hasher* hasher_;
  TrackerOptions opts_;
  // The entries live in pages of their own, packed without malloc's header:
  // they stay for the job's life, and among the short-lived allocations of a
  // first pass (records, hash requests and results) they would pin the pages
  // those free, so a burst's peak would stay in RSS (tests/bench/soak.py).
  std::pmr::unsynchronized_pool_resource nodes_;
  std::pmr::unordered_map<PathKey, Entry, PathKeyHash> files_{&nodes_};  // path -> the jobs following it (mostly one: next)
  size_t entries_ = 0;
  std::unordered_map<uint64_t, Pending> pending_;  // tag -> what it hashes
  std::set<uint64_t> ended_;
  std::set<std::string> manifests_;  // every data.manifest (a few; never moved)
  // Each job's data.manifest as its policy said at its last new read (null:
  // none): what a read file's hash is checked against, kept per job, not
  // per file.
  std::unordered_map<uint64_t, const std::string*> job_manifests_;
  std::vector<decode::FileHash> ready_;  // records not from the hasher (queue full)
  // Hashes the queue refused, oldest first, retried by tick: a name and a
  // job each (~100 bytes), not a side record per file.
  struct Refused {
    uint64_t job;
    const char* reason;
    std::string path;
  };
  std::deque<Refused> refused_;
  uint64_t next_tag_ = 1;
  uint64_t untracked_ = 0;
};

}  // namespace fts::hash
