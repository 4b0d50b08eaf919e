#include "app/barrier.h"

#include "app/survival.h"

#include <algorithm>
#include <cstdint>

namespace fts::app {

namespace {
constexpr uint32_t kDefaultTimeoutMs = 5000;
constexpr uint32_t kMaxTimeoutMs = 60000;
constexpr auto kPoll = std::chrono::milliseconds(5);
}  // namespace

void Barrier::sync(const v1::SyncRequest& r, control::Respond respond) {
  auto p = std::make_shared<Pending>();
  p->started = std::chrono::steady_clock::now();
  p->deadline = p->started + std::chrono::milliseconds(std::min(r.timeout_ms() ? r.timeout_ms() : kDefaultTimeoutMs,
                                                                kMaxTimeoutMs));
  p->respond = std::move(respond);
  // The order the fanotify handler keeps; then whatever the ring got since.
  auto drained = inputs_.read_fanotify();
  p->reply.set_fanotify_events(drained.fanotify);
  p->reply.set_records(drained.records + inputs_.drain_ring());
  // Files changed without a close_write are hashed now rather than once quiet.
  if (p_.hashes && r.settle()) p_.hashes->tick(UINT64_MAX);
  // Hashes in flight now, the drained records' among them: the ones waited for.
  p->in_flight = p_.hashes ? p_.hashes->pending() : 0;
  await_hashes(std::move(p));
}

void Barrier::await_hashes(std::shared_ptr<Pending> p) {
  inputs_.drain_hashes();
  if (!p_.hashes || p_.hashes->pending() == 0 || std::chrono::steady_clock::now() >= p->deadline) return answer(*p);
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, kPoll);
  timer->async_wait([this, timer, p](boost::system::error_code ec) {
    if (!ec) await_hashes(p);
  });
}

void Barrier::answer(Pending& p) {
  if (p_.hashes) {
    // Those in flight at the call that are in now (the hash fd's own handler
    // may have collected some while this waited).
    uint64_t left = p_.hashes->pending();
    p.reply.set_hashes_finished(p.in_flight > left ? p.in_flight - left : 0);
    p.reply.set_hashes_pending(left);
    p.reply.set_hashes_settling(p_.hashes->settling());
  }
  for (auto& s : p_.sinks) s->flush();
  save_jobs(p_);  // what the barrier saw survives a restart from here
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - p.started);
  p.reply.set_waited_ms(static_cast<uint32_t>(waited.count()));
  v1::Response resp;
  resp.set_ok(true);
  *resp.mutable_sync() = std::move(p.reply);
  p.respond(std::move(resp));
}

}  // namespace fts::app
