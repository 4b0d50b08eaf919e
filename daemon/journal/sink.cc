#include "journal/sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <iterator>

#include "common/time.h"

namespace fts::journal {
namespace {
int64_t now_ms() { return static_cast<int64_t>(now_wall_ns() / 1000000); }
}  // namespace

Result<std::unique_ptr<JournalSink>> JournalSink::open(SinkOptions o) {
  auto w = Writer::open(o.path, o.key);
  if (!w) return make_error(w.error());
  std::unique_ptr<JournalSink> s(new JournalSink(std::move(o), std::move(*w)));
  s->queue_.reserve(4096);
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

JournalSink::~JournalSink() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JournalSink::write(const v1::Event& e) {
  if (e.job().id().empty()) return;  // the journal keeps runs; host-wide events go to the outputs
  enqueue(entry_of(e));
}

void JournalSink::write_alert(const v1::Alert& a) {
  enqueue(entry_of(a));
}

void JournalSink::enqueue(Entry e) {
  bool seal = e.kind == "job_end" && e.type == RecordType::kEvent;
  std::unique_lock<std::mutex> l(mu_);
  if (queue_.size() >= opts_.queue) {
    dropped_++;
    lost_++;
    return;
  }
  queue_.push_back(std::move(e));
  enqueued_++;
  if (seal) seal_now_ = true;  // a finished run is sealed at once
}

void JournalSink::flush() { wake_.notify_one(); }

void JournalSink::seal_soon() {
  {
    std::lock_guard<std::mutex> l(mu_);
    seal_now_ = true;
  }
  wake_.notify_one();
}

void JournalSink::drain() {
  std::unique_lock<std::mutex> l(mu_);
  uint64_t target = enqueued_;
  wake_.notify_one();
  done_.wait(l, [&] { return committed_ >= target || stop_; });
}

sinks::SinkStats JournalSink::stats() const {
  sinks::SinkStats s;
  s.name = "journal";
  s.type = "journal";
  s.target = opts_.path;
  s.connected = true;
  s.written = written_.load();
  s.delivered = written_.load();
  s.failed = failed_.load();
  s.dropped = dropped_.load() + failed_.load();  // records lost: the queue was full, or the write failed (a full disk)
  std::lock_guard<std::mutex> l(mu_);
  s.queued = queue_.size();
  s.last_error = last_error_;
  return s;
}

void JournalSink::run() {
  using namespace std::chrono;
  auto last_seal = steady_clock::now();
  auto last_prune = steady_clock::time_point{};  // prune at start
  std::vector<Entry> batch;
  std::vector<Entry> chunk;
  for (;;) {
    bool stopping, seal_now;
    {
      std::unique_lock<std::mutex> l(mu_);
      wake_.wait_for(l, milliseconds(200), [&] { return stop_ || !queue_.empty() || seal_now_; });
      batch.swap(queue_);
      stopping = stop_;
      seal_now = seal_now_;
      seal_now_ = false;
    }
    uint64_t n = batch.size();
    if (!batch.empty()) {
      // Large backlogs in bounded transactions, so readers are not starved.
      Status st;
      for (size_t i = 0; i < batch.size(); i += opts_.batch_max) {
        size_t end = std::min(batch.size(), i + opts_.batch_max);
        chunk.assign(std::make_move_iterator(batch.begin() + static_cast<long>(i)),
                     std::make_move_iterator(batch.begin() + static_cast<long>(end)));
        st = writer_->append(chunk);
        if (st) written_ += chunk.size();
        else {
          failed_ += chunk.size();
          lost_ += chunk.size();
          std::lock_guard<std::mutex> l(mu_);
          last_error_ = st.error();
          spdlog::error("journal: {} records not written: {}", chunk.size(), st.error());
        }
      }
      batch.clear();
    }
    auto now = steady_clock::now();
    if (seal_now || stopping || now - last_seal >= milliseconds(opts_.seal_interval_ms)) {
      if (auto st = writer_->seal(now_ms()); !st) {
        std::lock_guard<std::mutex> l(mu_);
        last_error_ = st.error();
        spdlog::error("journal seal: {}", st.error());
      }
      seals_ = writer_->seals();
      last_seal = now;
    }
    if (!stopping && now - last_prune >= milliseconds(opts_.prune_interval_ms)) {
      auto dropped = writer_->prune(now_ms(), opts_.retention_days, opts_.max_bytes);
      if (!dropped) spdlog::error("journal retention: {}", dropped.error());
      else if (*dropped) spdlog::info("journal retention: dropped {} whole run(s)", *dropped);
      pruned_ = writer_->pruned();
      last_prune = now;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      committed_ += n;
      if (stopping && queue_.empty()) {
        done_.notify_all();
        break;
      }
    }
    done_.notify_all();
  }
  writer_->checkpoint();
  spdlog::info("journal {}: {} records, {} seals (last seal is the chain head to keep off-host)", opts_.path,
               writer_->records(), writer_->seals());
}

}  // namespace fts::journal
