#pragma once
// Remote sinks (syslog, HTTPS): at-least-once delivery that never blocks the
// sensor. The pipeline thread renders a record and appends it to a bounded
// in-memory queue; the sink's own thread moves the queue into the on-disk
// spool, then sends the spool's head through a Transport and removes records
// only once the peer has them. Failures back off exponentially (capped,
// jittered); the spool keeps everything through outages and restarts.
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <utility>  // Boost 1.74 Asio uses std::exchange without including it
#include <boost/asio.hpp>

#include "sinks/sink.h"
#include "spool/spool.h"

namespace fts::sinks {

// How one batch went.
enum class Outcome {
  kDelivered,  // the peer has every record of the batch
  kRetry,      // not delivered; try again later (connection, timeout, 5xx)
  kRejected,   // the peer refused them for good (HTTP 4xx): dropped, counted
};

struct SendResult {
  Outcome outcome = Outcome::kRetry;
  std::string error;
};

// The wire side of a remote sink, on the sink's io_context. It connects
// lazily, keeps the connection between batches, and reports each batch once.
class Transport {
 public:
  using Done = std::function<void(SendResult)>;
  virtual ~Transport() = default;
  virtual void send(const std::vector<std::string>& batch, Done done) = 0;
  virtual void close() = 0;
  virtual bool connected() const = 0;
};

using TransportFactory = std::function<Result<std::unique_ptr<Transport>>(boost::asio::io_context&)>;

struct RemoteOptions {
  std::string name;
  std::string type;
  std::string target;
  spool::Options spool;
  size_t queue_max = 100000;           // in memory, between two spool appends
  size_t batch_records = 500;
  size_t batch_bytes = 1u << 20;
  std::chrono::milliseconds retry_min{500};
  std::chrono::milliseconds retry_max{30000};
  // One record as the wire carries it (already formatted).
  std::function<std::string(const v1::Event&)> render_event;
  std::function<std::string(const v1::Alert&)> render_alert;
};

class RemoteSink : public Sink {
 public:
  static Result<std::unique_ptr<RemoteSink>> create(RemoteOptions o, TransportFactory transport);
  // Stops sending; what is queued goes to the spool for the next start.
  ~RemoteSink() override;

  void write(const v1::Event& e) override;
  void write_alert(const v1::Alert& a) override;
  void flush() override {}
  SinkStats stats() const override;
  uint64_t take_lost() override;

  // Waits (bounded) until queue and spool are empty: tests and benchmarks.
  bool wait_idle(std::chrono::milliseconds timeout);

  // The delay before retry number `attempt` (0-based): min·2^attempt capped at
  // max, then drawn uniformly from [delay/2, delay] so nodes that lost the
  // same SIEM do not reconnect in lockstep.
  static std::chrono::milliseconds backoff(uint32_t attempt, std::chrono::milliseconds min,
                                           std::chrono::milliseconds max, uint64_t random);

 private:
  explicit RemoteSink(RemoteOptions o);
  void enqueue(std::string record);
  void drain();  // sink thread: queue -> spool, then pump
  // Sink thread: records the spool could not take (a full disk) go back to the
  // queue's front, bounded by queue_max, and the drain is tried again later.
  void hold(std::vector<std::string> rest, const std::string& error);
  void pump();   // sink thread: spool head -> transport
  void on_sent(size_t n, SendResult r);
  void update_spool_stats();
  void set_error(const std::string& e);

  RemoteOptions opts_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer hold_timer_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<spool::Spool> spool_;
  std::thread thread_;

  // Shared with the pipeline thread.
  mutable std::mutex mu_;
  std::deque<std::string> queue_;
  bool drain_posted_ = false;
  std::string last_error_;
  uint64_t queue_dropped_ = 0;

  // Sink thread only.
  bool sending_ = false;
  bool waiting_ = false;
  bool stopping_ = false;
  uint32_t attempt_ = 0;
  std::chrono::steady_clock::time_point last_log_{};
  uint64_t suppressed_logs_ = 0;
  bool holding_ = false;  // the spool refused the last append

  std::atomic<uint64_t> written_{0}, delivered_{0}, failed_{0}, rejected_{0}, spool_dropped_{0}, spooled_{0},
      spool_bytes_{0}, lost_reported_{0}, moving_{0};
  std::atomic<bool> connected_{false};
};

}  // namespace fts::sinks
