#pragma once
// The journal as an output: the pipeline thread only serializes and enqueues
// (bounded); a writer thread commits batches in transactions, seals the
// chains and applies retention. A full queue drops the record, counts it and
// reports it through take_lost() (the daemon raises sensor-tamper): never silent.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "journal/journal.h"
#include "sinks/sink.h"

namespace fts::journal {

struct SinkOptions {
  std::string path;
  std::string key;                       // the HMAC key's bytes
  uint32_t retention_days = 30;
  uint64_t max_bytes = 0;
  uint32_t seal_interval_ms = 10000;
  uint32_t prune_interval_ms = 60000;
  size_t queue = 262144;
  size_t batch_max = 8192;               // records per transaction
};

class JournalSink : public sinks::Sink {
 public:
  static Result<std::unique_ptr<JournalSink>> open(SinkOptions o);
  ~JournalSink() override;  // drains, seals, checkpoints

  void write(const v1::Event& e) override;       // job-scoped events only
  void write_alert(const v1::Alert& a) override; // every alert
  void flush() override;                         // wakes the writer; never blocks
  sinks::SinkStats stats() const override;
  uint64_t take_lost() override { return lost_.exchange(0); }

  void enqueue(Entry e);
  // Blocks until everything enqueued so far is committed (tests, bench).
  void drain();
  // Seal now (a job ended; tests).
  void seal_soon();
  uint64_t seals() const { return seals_.load(); }
  uint64_t pruned_runs() const { return pruned_.load(); }

 private:
  JournalSink(SinkOptions o, std::unique_ptr<Writer> w) : opts_(std::move(o)), writer_(std::move(w)) {}
  void run();

  SinkOptions opts_;
  std::unique_ptr<Writer> writer_;
  mutable std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<Entry> queue_;
  bool stop_ = false;
  bool seal_now_ = false;
  uint64_t enqueued_ = 0;   // under mu_
  uint64_t committed_ = 0;  // under mu_ (attempted, written or failed)
  std::atomic<uint64_t> written_{0}, dropped_{0}, lost_{0}, failed_{0}, seals_{0}, pruned_{0};
  std::string last_error_;  // under mu_
  std::thread thread_;
};

}  // namespace fts::journal
