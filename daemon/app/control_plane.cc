#include "app/control_plane.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/time.h"
#include "rules/rules.h"
#include "state/proc.h"
#include "sinks/format.h"

namespace fts::app {

namespace {
constexpr uint32_t kMaxTestAlerts = 100000;
constexpr uint32_t kMaxIdsReturned = 1000;
constexpr uint32_t kTestAlertChunk = 500;

v1::Alert test_alert_of(const v1::TestAlertRequest& r, const std::string& severity, uint32_t i, uint32_t n) {
  v1::Alert a;
  a.set_id(sinks::make_alert_id());
  a.set_time(rfc3339(now_wall_ns()));
  a.set_rule("test-alert");
  a.set_severity(severity);
  a.set_action("alerted");
  a.set_message(r.message().empty() ? "ftsentinel test alert " + std::to_string(i + 1) + "/" + std::to_string(n) +
                                          ": checking the SIEM wiring"
                                    : r.message());
  auto* p = a.mutable_process();
  p->set_pid(static_cast<uint32_t>(getpid()));
  p->set_exe("/proc/self/exe");
  return a;
}

}  // namespace

ControlPlane::ControlPlane(boost::asio::io_context& io, Parts& parts, Inputs& inputs, Barrier& barrier)
    : io_(io), p_(parts), inputs_(inputs), server_(io, [this](const v1::Request& r, const control::Peer& peer,
                                                               control::Respond respond) {
        dispatch_(r, peer, std::move(respond));
      }) {
  using R = v1::Request;
  using control::Peer;
  dispatch_.on(R::kStatus, control::Handler([this](const R&, const Peer&) { return status(); }));
  dispatch_.on(R::kListJobs, control::Handler([this](const R& r, const Peer&) { return list_jobs(r.list_jobs()); }));
  dispatch_.on(R::kRegisterJob, control::Handler([this](const R& r, const Peer& peer) {
                 return register_job(p_, r.register_job(), peer);
               }));
  dispatch_.on(R::kReload, control::Handler([this](const R&, const Peer&) { return reload_request(); }));
  dispatch_.on(R::kTestAlert, control::AsyncHandler([this](const R& r, const Peer&, control::Respond respond) {
                 test_alert(r.test_alert(), std::move(respond));
               }));
  dispatch_.on(R::kSync, control::AsyncHandler([&barrier](const R& r, const Peer&, control::Respond respond) {
                 barrier.sync(r.sync(), std::move(respond));
               }));
  for (auto body : {R::kReload, R::kTestAlert})
    dispatch_.guard(body, [this](const Peer& peer) { return admin_only(peer); });
  server_.on_exhausted([this](const std::string& why, uint64_t n) { fds_exhausted(why, n); });
  p_.control_stats = &server_.stats();
}

Status ControlPlane::listen() {
  const auto& c = p_.cfg.daemon.control();
  control::ServerOptions o{.path = c.socket(), .group = c.group()};
  o.idle_timeout = std::chrono::seconds(c.idle_timeout_seconds());
  o.max_sessions = c.max_sessions();
  o.max_sessions_per_uid = c.max_sessions_per_uid();
  return server_.listen(o);
}

// reload rescans every data tree and changes what every job is held to;
// alert-test floods the SIEM: root's, and never from inside a job (a root
// job included: what it may not change it may not reload either).
std::string ControlPlane::admin_only(const control::Peer& peer) const {
  if (peer.uid != 0) return "permission denied: root only";
  if (peer.pid <= 0) return "";
  auto st = state::read_stat(p_.proc_root(), static_cast<uint32_t>(peer.pid));
  if (st && p_.jobs->member_of(static_cast<uint32_t>(peer.pid), st->start_ticks))
    return "permission denied: not from inside a job";
  return "";
}

// accept(2) ran out of fds: what else needs one (fanotify's handles, the
// hasher's files) may be failing too. Loud, once per episode.
void ControlPlane::fds_exhausted(const std::string& why, uint64_t failures) {
  health::Emitted e;
  e.alerts.push_back(rules::control_alert(
      "high", "ftsentineld cannot accept control connections: " + why + " (" + std::to_string(failures) +
                  " failures so far); it backs off, but other work that needs a file descriptor may fail too"));
  p_.emit(std::move(e));
}

v1::Response ControlPlane::status() const {
  v1::Response resp;
  resp.set_ok(true);
  health::fill_status(p_.snapshot(), resp.mutable_status());
  return resp;
}

v1::Response ControlPlane::list_jobs(const v1::ListJobsRequest& r) const {
  v1::Response resp;
  resp.set_ok(true);
  auto* out = resp.mutable_jobs();
  for (const auto* j : p_.jobs->list(r.all())) pipeline::render_job(*j, out->add_jobs());
  return resp;
}

v1::Response ControlPlane::reload_request() {
  v1::Response resp;
  resp.set_ok(true);
  auto* r = resp.mutable_reload();
  *r = reload_policies(p_, inputs_);
  if (!r->applied()) {
    resp.set_ok(false);
    resp.set_error("reload refused (" + std::to_string(r->errors_size()) +
                   " error(s)); the running policies are unchanged");
  }
  return resp;
}

struct TestAlerts {
  v1::TestAlertRequest request;
  std::string severity;
  uint32_t count = 0, done = 0;
  v1::Response response;
  control::Respond respond;
};

// Synthetic alerts through the same pipeline as real ones: what the SIEM
// receives from alert-test is what it will receive from a rule. One at a
// time; each chunk is one turn of the event loop.
void ControlPlane::test_alert(const v1::TestAlertRequest& r, control::Respond respond) {
  uint32_t n = r.count() ? r.count() : 1;
  std::string sev = r.severity().empty() ? "low" : r.severity();
  if (n > kMaxTestAlerts) return respond(control::error_response("at most 100000 test alerts at once"));
  if (!sinks::valid_severity(sev))
    return respond(control::error_response("unknown severity '" + sev + "' (info, low, medium, high, critical)"));
  if (test_alert_running_) return respond(control::error_response("busy: an alert-test is running; try again later"));
  test_alert_running_ = true;
  auto run = std::make_shared<TestAlerts>(TestAlerts{r, sev, n, 0, {}, std::move(respond)});
  run->response.set_ok(true);
  raise_test_alerts(std::move(run));
}

void ControlPlane::raise_test_alerts(std::shared_ptr<TestAlerts> run) {
  auto* out = run->response.mutable_test_alert();
  health::Emitted e;
  uint32_t end = std::min(run->count, run->done + kTestAlertChunk);
  for (; run->done < end; ++run->done) {
    e.alerts.push_back(test_alert_of(run->request, run->severity, run->done, run->count));
    if (run->count <= kMaxIdsReturned) out->add_ids(e.alerts.back().id());
  }
  p_.emit(std::move(e));
  if (run->done < run->count) {
    boost::asio::post(io_, [this, run] { raise_test_alerts(run); });
    return;
  }
  out->set_raised(run->count);
  spdlog::info("raised {} test alert(s), severity {}", run->count, run->severity);
  test_alert_running_ = false;
  run->respond(std::move(run->response));
}

}  // namespace fts::app
