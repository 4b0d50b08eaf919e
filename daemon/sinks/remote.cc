#include "sinks/remote.h"

#include <spdlog/spdlog.h>

#include <random>

namespace fts::sinks {

namespace asio = boost::asio;

Result<std::unique_ptr<RemoteSink>> RemoteSink::create(RemoteOptions o, TransportFactory transport) {
  std::unique_ptr<RemoteSink> s(new RemoteSink(std::move(o)));
  auto sp = spool::Spool::open(s->opts_.spool);
  if (!sp) return make_error("output " + s->opts_.name + ": " + sp.error());
  s->spool_ = std::move(*sp);
  auto t = transport(s->io_);
  if (!t) return make_error("output " + s->opts_.name + ": " + t.error());
  s->transport_ = std::move(*t);
  s->update_spool_stats();
  if (!s->spool_->empty())
    spdlog::info("output {}: {} records spooled from before, delivering", s->opts_.name, s->spool_->records());
  s->thread_ = std::thread([p = s.get()] {
    pthread_setname_np(pthread_self(), "fts-sink");
    p->io_.run();
  });
  // Whatever the spool holds from an earlier run goes first.
  asio::post(s->io_, [p = s.get()] { p->pump(); });
  return s;
}

RemoteSink::RemoteSink(RemoteOptions o)
    : opts_(std::move(o)), work_(asio::make_work_guard(io_)), retry_timer_(io_), hold_timer_(io_) {}

RemoteSink::~RemoteSink() {
  if (thread_.joinable()) {
    asio::post(io_, [this] {
      stopping_ = true;
      drain();  // the queue reaches the disk; the next start sends it
      retry_timer_.cancel();
      hold_timer_.cancel();
      transport_->close();
      work_.reset();
      io_.stop();
    });
    thread_.join();
  }
  transport_.reset();
}

void RemoteSink::write(const v1::Event& e) { enqueue(opts_.render_event(e)); }

void RemoteSink::write_alert(const v1::Alert& a) { enqueue(opts_.render_alert(a)); }

void RemoteSink::enqueue(std::string record) {
  written_++;
  bool post = false;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= opts_.queue_max) {
      // The sink thread is stuck on the disk: lose the oldest, never block.
      queue_.pop_front();
      queue_dropped_++;
    }
    queue_.push_back(std::move(record));
    if (!drain_posted_) post = drain_posted_ = true;
  }
  if (post) asio::post(io_, [this] { drain(); });
}

void RemoteSink::drain() {
  std::vector<std::string> batch;
  {
    std::lock_guard lock(mu_);
    drain_posted_ = false;
    batch.reserve(queue_.size());
    for (auto& r : queue_) batch.push_back(std::move(r));
    queue_.clear();
    moving_ = batch.size();
  }
  if (!batch.empty()) {
    size_t done = 0;
    if (auto st = spool_->append(batch, &done); !st) {
      batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(done));
      hold(std::move(batch), st.error());
    } else if (holding_) {
      holding_ = false;
      spdlog::info("output {}: spooling again", opts_.name);
    }
    update_spool_stats();
  }
  moving_ = 0;
  pump();
}

void RemoteSink::hold(std::vector<std::string> rest, const std::string& error) {
  set_error(error);
  if (!holding_) spdlog::error("output {}: {}; holding records in memory (up to {})", opts_.name, error,
                               opts_.queue_max);
  holding_ = true;
  {
    std::lock_guard lock(mu_);
    queue_.insert(queue_.begin(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
    while (queue_.size() > opts_.queue_max) {  // the oldest go first, counted
      queue_.pop_front();
      queue_dropped_++;
    }
    drain_posted_ = true;  // the timer drains; new records need not
  }
  hold_timer_.expires_after(std::chrono::milliseconds(500));
  hold_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopping_) drain();
  });
}

void RemoteSink::pump() {
  if (sending_ || waiting_ || stopping_ || spool_->empty()) return;
  auto batch = spool_->peek(opts_.batch_records, opts_.batch_bytes);
  if (batch.empty()) return;
  sending_ = true;
  size_t n = batch.size();
  // Completion always goes through the loop: a transport that answers at
  // once (UDP) must not recurse into the next send.
  transport_->send(batch, [this, n](SendResult r) {
    asio::post(io_, [this, n, r = std::move(r)]() mutable { on_sent(n, std::move(r)); });
  });
}

void RemoteSink::on_sent(size_t n, SendResult r) {
  sending_ = false;
  connected_ = transport_->connected();
  if (stopping_) return;
  auto now = std::chrono::steady_clock::now();
  // The network can make this loud: one line per 10 s, with a count.
  auto log_limited = [&](spdlog::level::level_enum lvl, const std::string& what) {
    if (now - last_log_ >= std::chrono::seconds(10)) {
      spdlog::log(lvl, "output {}: {}{}", opts_.name, what,
                  suppressed_logs_ ? fmt::format(" ({} similar messages suppressed)", suppressed_logs_) : "");
      last_log_ = now;
      suppressed_logs_ = 0;
    } else {
      suppressed_logs_++;
    }
  };
  switch (r.outcome) {
    case Outcome::kDelivered:
      spool_->ack(n);
      delivered_ += n;
      if (attempt_ > 0) spdlog::info("output {}: delivering again", opts_.name);
      attempt_ = 0;
      break;
    case Outcome::kRejected:
      spool_->ack(n);
      rejected_ += n;
      failed_++;
      set_error(r.error);
      log_limited(spdlog::level::err, fmt::format("{} records rejected, not retried: {}", n, r.error));
      attempt_ = 0;
      break;
    case Outcome::kRetry: {
      failed_++;
      set_error(r.error);
      static thread_local std::mt19937_64 rng{std::random_device{}()};
      auto delay = backoff(attempt_, opts_.retry_min, opts_.retry_max, rng());
      attempt_ = std::min<uint32_t>(attempt_ + 1, 30);
      log_limited(spdlog::level::warn, fmt::format("delivery failed ({}); {} records spooled; retrying in {} ms",
                                                   r.error, spool_->records(), delay.count()));
      waiting_ = true;
      retry_timer_.expires_after(delay);
      retry_timer_.async_wait([this](boost::system::error_code ec) {
        waiting_ = false;
        if (!ec) pump();
      });
      break;
    }
  }
  update_spool_stats();
  pump();
}

std::chrono::milliseconds RemoteSink::backoff(uint32_t attempt, std::chrono::milliseconds min,
                                              std::chrono::milliseconds max, uint64_t random) {
  int64_t lo = std::max<int64_t>(min.count(), 1), hi = std::max<int64_t>(max.count(), lo);
  int64_t d = lo;
  for (uint32_t i = 0; i < attempt && d < hi; ++i) d *= 2;
  d = std::min(d, hi);
  int64_t half = d / 2;
  return std::chrono::milliseconds(half + static_cast<int64_t>(random % static_cast<uint64_t>(d - half + 1)));
}

void RemoteSink::update_spool_stats() {
  spooled_ = spool_->records();
  spool_bytes_ = spool_->bytes();
  spool_dropped_ = spool_->dropped();
}

void RemoteSink::set_error(const std::string& e) {
  std::lock_guard lock(mu_);
  last_error_ = e;
}

SinkStats RemoteSink::stats() const {
  SinkStats s;
  s.name = opts_.name;
  s.type = opts_.type;
  s.target = opts_.target;
  s.connected = connected_;
  s.written = written_;
  s.delivered = delivered_;
  s.failed = failed_;
  s.rejected = rejected_;
  s.spooled = spooled_;
  s.spool_bytes = spool_bytes_;
  std::lock_guard lock(mu_);
  s.queued = queue_.size();
  s.dropped = spool_dropped_ + queue_dropped_;
  s.last_error = last_error_;
  return s;
}

uint64_t RemoteSink::take_lost() {
  uint64_t total;
  {
    std::lock_guard lock(mu_);
    total = spool_dropped_ + queue_dropped_;
  }
  return total - lost_reported_.exchange(total);
}

bool RemoteSink::wait_idle(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = stats();
    if (s.queued == 0 && s.spooled == 0 && moving_ == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace fts::sinks
