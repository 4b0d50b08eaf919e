#include "app/control_plane.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "common/time.h"
#include "sinks/format.h"

namespace fts::app {

namespace {
constexpr uint32_t kMaxTestAlerts = 100000;
constexpr uint32_t kMaxIdsReturned = 1000;

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
    : p_(parts), inputs_(inputs), server_(io, [this](const v1::Request& r, const control::Peer& peer,
                                                      control::Respond respond) { dispatch_(r, peer, std::move(respond)); }) {
  using R = v1::Request;
  using control::Peer;
  dispatch_.on(R::kStatus, control::Handler([this](const R&, const Peer&) { return status(); }));
  dispatch_.on(R::kListJobs, control::Handler([this](const R& r, const Peer&) { return list_jobs(r.list_jobs()); }));
  dispatch_.on(R::kRegisterJob, control::Handler([this](const R& r, const Peer& peer) {
                 return register_job(p_, r.register_job(), peer);
               }));
  dispatch_.on(R::kReload, control::Handler([this](const R&, const Peer&) { return reload_request(); }));
  dispatch_.on(R::kTestAlert, control::Handler([this](const R& r, const Peer&) { return test_alert(r.test_alert()); }));
  dispatch_.on(R::kSync, control::AsyncHandler([&barrier](const R& r, const Peer&, control::Respond respond) {
                 barrier.sync(r.sync(), std::move(respond));
               }));
}

Status ControlPlane::listen() {
  const auto& c = p_.cfg.daemon.control();
  return server_.listen({c.socket(), c.group()});
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

// Synthetic alerts through the same pipeline as real ones: what the SIEM
// receives from alert-test is what it will receive from a rule.
v1::Response ControlPlane::test_alert(const v1::TestAlertRequest& r) {
  uint32_t n = r.count() ? r.count() : 1;
  std::string sev = r.severity().empty() ? "low" : r.severity();
  if (n > kMaxTestAlerts) return control::error_response("at most 100000 test alerts at once");
  if (!sinks::valid_severity(sev))
    return control::error_response("unknown severity '" + sev + "' (info, low, medium, high, critical)");
  v1::Response resp;
  resp.set_ok(true);
  auto* out = resp.mutable_test_alert();
  health::Emitted e;
  for (uint32_t i = 0; i < n; ++i) {
    e.alerts.push_back(test_alert_of(r, sev, i, n));
    if (n <= kMaxIdsReturned) out->add_ids(e.alerts.back().id());
  }
  p_.emit(std::move(e));
  out->set_raised(n);
  spdlog::info("raised {} test alert(s), severity {}", n, sev);
  return resp;
}

}  // namespace fts::app
