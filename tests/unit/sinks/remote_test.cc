// Remote sinks against a scripted transport: delivered records leave the
// spool, failures are retried with backoff, 4xx-style rejections are counted
// and not retried, a hung peer never blocks the writer, and a restart sends
// what was left.
#include "sinks/remote.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "sinks/format.h"
#include "support/fixtures.h"

namespace fts::sinks {
namespace {

using namespace std::chrono_literals;

// What the fake peer does with each batch, in order; then `then`.
struct Script {
  std::mutex mu;
  std::deque<Outcome> steps;
  Outcome then = Outcome::kDelivered;
  bool hang = false;  // never answer (a dead SIEM that accepted the connection)
  std::vector<std::string> received;  // records of delivered batches
  int attempts = 0;
  size_t records_sent = 0;            // over all attempts
};

class FakeTransport : public Transport {
 public:
  explicit FakeTransport(Script* s) : s_(s) {}
  void send(const std::vector<std::string>& batch, Done done) override {
    std::lock_guard lock(s_->mu);
    s_->attempts++;
    s_->records_sent += batch.size();
    if (s_->hang) {
      held_ = std::move(done);  // never called
      return;
    }
    Outcome o = s_->steps.empty() ? s_->then : s_->steps.front();
    if (!s_->steps.empty()) s_->steps.pop_front();
    if (o == Outcome::kDelivered) s_->received.insert(s_->received.end(), batch.begin(), batch.end());
    done({o, o == Outcome::kDelivered ? "" : "scripted failure"});
  }
  void close() override {}
  bool connected() const override { return true; }

 private:
  Script* s_;
  Done held_;
};

RemoteOptions options(const std::string& dir) {
  RemoteOptions o;
  o.name = "test";
  o.type = "syslog";
  o.target = "fake";
  o.spool.dir = dir;
  o.spool.max_bytes = 1 << 20;
  o.retry_min = 5ms;
  o.retry_max = 20ms;
  o.batch_records = 7;
  o.render_event = [](const v1::Event& e) { return "event " + std::to_string(e.id()); };
  o.render_alert = [](const v1::Alert& a) { return a.id(); };
  return o;
}

std::unique_ptr<RemoteSink> make(Script* s, RemoteOptions o) {
  auto r = RemoteSink::create(std::move(o), [s](boost::asio::io_context&) -> Result<std::unique_ptr<Transport>> {
    return std::unique_ptr<Transport>(std::make_unique<FakeTransport>(s));
  });
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error());
  return r.ok() ? std::move(*r) : nullptr;
}

v1::Alert alert(int i) {
  v1::Alert a;
  a.set_id("a" + std::to_string(i));
  a.set_severity("high");
  return a;
}

std::vector<std::string> ids(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back("a" + std::to_string(i));
  return out;
}

TEST(RemoteSink, DeliversInOrderAndEmptiesTheSpool) {
  fts::testing::TempDir d;
  Script s;
  auto sink = make(&s, options(d / "sp"));
  for (int i = 0; i < 50; ++i) sink->write_alert(alert(i));
  ASSERT_TRUE(sink->wait_idle(5s));
  std::lock_guard lock(s.mu);
  EXPECT_EQ(s.received, ids(0, 50));
  auto st = sink->stats();
  EXPECT_EQ(st.written, 50u);
  EXPECT_EQ(st.delivered, 50u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.spooled, 0u);
}

TEST(RemoteSink, FailuresAreRetriedUntilDelivered) {
  fts::testing::TempDir d;
  Script s;
  s.steps = {Outcome::kRetry, Outcome::kRetry, Outcome::kRetry};
  auto sink = make(&s, options(d / "sp"));
  for (int i = 0; i < 5; ++i) sink->write_alert(alert(i));
  ASSERT_TRUE(sink->wait_idle(5s));
  std::lock_guard lock(s.mu);
  EXPECT_EQ(s.received, ids(0, 5)) << "nothing lost, nothing reordered";
  EXPECT_EQ(sink->stats().failed, 3u);
  EXPECT_EQ(sink->stats().last_error, "scripted failure");
}

TEST(RemoteSink, RejectedBatchesAreCountedNotRetried) {
  fts::testing::TempDir d;
  Script s;
  s.steps = {Outcome::kRejected};
  auto sink = make(&s, options(d / "sp"));
  for (int i = 0; i < 10; ++i) sink->write_alert(alert(i));
  ASSERT_TRUE(sink->wait_idle(5s));
  auto st = sink->stats();
  std::lock_guard lock(s.mu);
  EXPECT_EQ(st.rejected + st.delivered, 10u);
  EXPECT_GE(st.rejected, 1u);
  EXPECT_EQ(s.received.size(), st.delivered);
  EXPECT_EQ(st.failed, 1u);
  EXPECT_EQ(s.records_sent, 10u) << "each record went out once: a rejection is not retried";
}

TEST(RemoteSink, AHungPeerNeverBlocksTheWriter) {
  fts::testing::TempDir d;
  Script s;
  s.hang = true;
  auto o = options(d / "sp");
  auto sink = make(&s, o);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20000; ++i) sink->write_alert(alert(i));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 2s) << "the pipeline thread only enqueues";
  // Everything reaches the disk even though nothing is delivered.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (sink->stats().spooled < 20000 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(sink->stats().spooled, 20000u);
  EXPECT_EQ(sink->stats().delivered, 0u);
  sink.reset();  // and stopping does not wait for the dead peer
}

TEST(RemoteSink, WhatWasNotDeliveredIsSentAfterARestart) {
  fts::testing::TempDir d;
  Script s;
  s.then = Outcome::kRetry;  // the SIEM is down
  {
    auto o = options(d / "sp");
    o.retry_min = 1000ms;
    auto sink = make(&s, o);
    for (int i = 0; i < 30; ++i) sink->write_alert(alert(i));
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (sink->stats().spooled < 30 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  }  // the daemon stops while the SIEM is down
  Script up;
  auto sink = make(&up, options(d / "sp"));
  ASSERT_TRUE(sink->wait_idle(5s));
  std::lock_guard lock(up.mu);
  EXPECT_EQ(up.received, ids(0, 30));
}

TEST(RemoteSink, FullSpoolLosesOldestAndReportsItOnce) {
  fts::testing::TempDir d;
  Script s;
  s.hang = true;
  auto o = options(d / "sp");
  o.spool.max_bytes = 64 << 10;
  o.render_alert = [](const v1::Alert& a) { return a.id() + std::string(1000, '.'); };
  auto sink = make(&s, o);
  for (int i = 0; i < 500; ++i) sink->write_alert(alert(i));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (sink->stats().spooled + sink->stats().dropped < 500 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  auto st = sink->stats();
  EXPECT_GT(st.dropped, 0u);
  EXPECT_EQ(st.spooled + st.dropped, 500u);
  EXPECT_LE(st.spool_bytes, 64u << 10);
  EXPECT_EQ(sink->take_lost(), st.dropped);
  EXPECT_EQ(sink->take_lost(), 0u) << "each loss is reported once";
}

TEST(Backoff, DoublesCapsAndJitters) {
  using ms = std::chrono::milliseconds;
  for (uint64_t r : {0ull, 1ull, 12345ull, ~0ull}) {
    auto d0 = RemoteSink::backoff(0, ms(500), ms(30000), r);
    EXPECT_GE(d0, ms(250));
    EXPECT_LE(d0, ms(500));
    auto d3 = RemoteSink::backoff(3, ms(500), ms(30000), r);
    EXPECT_GE(d3, ms(2000));
    EXPECT_LE(d3, ms(4000));
    auto d30 = RemoteSink::backoff(30, ms(500), ms(30000), r);
    EXPECT_GE(d30, ms(15000));
    EXPECT_LE(d30, ms(30000)) << "capped";
  }
  EXPECT_NE(RemoteSink::backoff(5, ms(500), ms(30000), 1), RemoteSink::backoff(5, ms(500), ms(30000), 7777))
      << "jitter spreads nodes apart";
}

}  // namespace
}  // namespace fts::sinks
