#pragma once
// Where events and alerts go. The pipeline hands each sink one record at a
// time (an Event, or an Alert from the rules) and flushes after each batch the
// sensor delivers. Local sinks write in place; remote sinks only enqueue, and
// deliver from their own thread through an on-disk spool (sinks/remote.h), so
// a slow or dead SIEM never blocks the sensor.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/v1.h"
#include "ftsentinel/v1/alert.pb.h"
#include "ftsentinel/v1/event.pb.h"
#include "sinks/format.h"

namespace fts::sinks {

// What a sink reports to status and metrics. Counters only grow.
struct SinkStats {
  std::string name;
  std::string type;
  std::string target;
  bool connected = false;
  uint64_t written = 0;    // records accepted
  uint64_t delivered = 0;  // records the destination has
  uint64_t failed = 0;     // failed delivery attempts
  uint64_t rejected = 0;   // records refused for good (HTTP 4xx)
  uint64_t dropped = 0;    // records lost (spool or queue full)
  uint64_t queued = 0;     // in memory, not yet spooled
  uint64_t spooled = 0;    // on disk, not yet delivered
  uint64_t spool_bytes = 0;
  std::string last_error;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const v1::Event& e) = 0;
  // Sinks that only observe events (test captures) may keep this default;
  // every output sink overrides it.
  virtual void write_alert(const v1::Alert&) {}
  virtual void flush() = 0;
  virtual SinkStats stats() const { return {}; }
  // Records this sink lost since the last call (spool full): the daemon
  // reports the loss as an alert, so it reaches the SIEM too.
  virtual uint64_t take_lost() { return 0; }
};

// Lines, one rendered record per line (JSON by default), to stdout or appended
// to a file that is rotated by size: PATH -> PATH.1 -> … -> PATH.N.
struct LineOptions {
  Format format = Format::kJson;
  uint64_t max_bytes = 0;  // 0: never rotate
  uint32_t max_files = 5;  // rotated files kept
  std::string name;
};

class JsonLinesSink : public Sink {
 public:
  using Options = LineOptions;
  static std::unique_ptr<JsonLinesSink> to_stdout(Options o = {});
  static Result<std::unique_ptr<JsonLinesSink>> to_file(const std::string& path, Options o = {});
  ~JsonLinesSink() override;
  void write(const v1::Event& e) override;
  void write_alert(const v1::Alert& a) override;
  // Writes the batch with write(2); what a full disk refuses is cut from the
  // file (whole lines only), counted as dropped and reported by take_lost().
  void flush() override;
  SinkStats stats() const override;
  uint64_t take_lost() override;
  uint64_t written() const { return written_; }

 private:
  JsonLinesSink(int fd, bool owned, std::string path, Options o, uint64_t size)
      : fd_(fd), owned_(owned), path_(std::move(path)), opts_(std::move(o)), size_(size) {}
  // Renders one record at the end of the buffer (rotating first when it
  // would cross max_size), then writes the batch once it is large.
  template <typename R>
  void put(const R& record);
  void rotate();
  void lose(int err);

  int fd_;
  bool owned_;
  std::string path_;
  Options opts_;
  uint64_t size_ = 0;  // bytes in the file
  std::string buf_;    // whole lines not written yet
  uint64_t pending_ = 0;
  uint64_t written_ = 0;
  uint64_t delivered_ = 0;
  uint64_t failed_ = 0;
  uint64_t dropped_ = 0;
  uint64_t lost_reported_ = 0;
  std::string last_error_;
};

// Passes events only when `events` is all, and alerts at or above
// `min_severity`: each output has its own filter.
class FilteredSink : public Sink {
 public:
  FilteredSink(std::unique_ptr<Sink> inner, bool events, int min_severity)
      : inner_(std::move(inner)), events_(events), min_severity_(min_severity) {}
  void write(const v1::Event& e) override {
    if (events_) inner_->write(e);
  }
  void write_alert(const v1::Alert& a) override {
    if (severity_rank(a.severity()) >= min_severity_) inner_->write_alert(a);
  }
  void flush() override { inner_->flush(); }
  SinkStats stats() const override { return inner_->stats(); }
  uint64_t take_lost() override { return inner_->take_lost(); }
  Sink* inner() { return inner_.get(); }

 private:
  std::unique_ptr<Sink> inner_;
  bool events_;
  int min_severity_;
};

std::string to_json(const v1::Event& e);
std::string to_json(const v1::Alert& a);

}  // namespace fts::sinks
