#pragma once
// A bounded on-disk FIFO of records for one remote sink: appended before a
// record is sent, removed only once the peer has it. It survives a SIEM
// outage and a daemon restart; when full, the oldest records are dropped and
// counted (the caller reports the loss).
//
// Layout: DIR/NNNNNNNNNNNNNNNN.seg files, each a run of records
//   [u32 length][u32 crc32 of payload][payload]
// and DIR/head ("SEGMENT OFFSET"): the first record not yet acknowledged.
// A torn tail (crash mid-append) is cut at the first bad record on open. The
// head is persisted after each ack without fsync: a crash re-sends a little,
// which the receiver drops by alert id (at-least-once, never at-most-once).
//
// Not thread-safe: one sink thread owns it.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace fts::spool {

struct Options {
  std::string dir;
  uint64_t max_bytes = 256ull << 20;
  uint64_t segment_bytes = 0;  // 0: max_bytes / 8, at least 64 KiB
};

class Spool {
 public:
  static Result<std::unique_ptr<Spool>> open(const Options& o);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appends records (oldest first), dropping the oldest records when the
  // bound would be crossed. A record larger than the whole bound is dropped.
  // On an error (a full disk) the spool holds records[0, *appended) and none
  // of the rest: the caller keeps those.
  Status append(const std::vector<std::string>& records, size_t* appended = nullptr);
  // Up to `max_records` / about `max_bytes` of the oldest records, not removed.
  std::vector<std::string> peek(size_t max_records, size_t max_bytes);
  // Removes the `n` oldest records, which the last peek returned.
  void ack(size_t n);

  uint64_t records() const { return records_; }
  uint64_t bytes() const;  // on disk, including acknowledged bytes of the head segment
  uint64_t dropped() const { return dropped_; }
  bool empty() const { return records_ == 0; }

 private:
  struct Segment {
    uint64_t seq = 0;
    uint64_t size = 0;
    uint64_t records = 0;
  };
  struct Pos {
    uint64_t seq = 0;
    uint64_t offset = 0;
  };

  explicit Spool(Options o) : opts_(std::move(o)) {}
  Status load();
  std::string seg_path(uint64_t seq) const;
  Status open_tail(bool create);
  void drop_oldest();
  void save_head();
  void remove_consumed();

  Options opts_;
  std::deque<Segment> segs_;
  Pos head_;                  // first unacknowledged record
  uint64_t head_index_ = 0;   // records of the head segment before head_
  int tail_fd_ = -1;
  uint64_t records_ = 0;
  uint64_t dropped_ = 0;
  std::vector<Pos> peeked_;   // end of each record of the last peek
};

// CRC-32 (IEEE) of a record's payload.
uint32_t crc32(std::string_view data);

}  // namespace fts::spool
