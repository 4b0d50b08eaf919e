#pragma once
// The control socket's requests, each a handler in the dispatcher's table:
// status, jobs, run (register), reload, sync, alert-test. reload and
// alert-test are root's, never a job's; alert-test's alerts go out in
// chunks, so jobs' records keep flowing between them.
#include <utility>  // Boost 1.74 Asio uses std::exchange without including it
#include <boost/asio.hpp>
#include <memory>
#include <string>

#include "app/barrier.h"
#include "app/inputs.h"
#include "app/parts.h"
#include "control/dispatcher.h"
#include "control/server.h"

namespace fts::app {

struct TestAlerts;  // an alert-test in progress (control_plane.cc)

class ControlPlane {
 public:
  ControlPlane(boost::asio::io_context& io, Parts& parts, Inputs& inputs, Barrier& barrier);
  Status listen();
  void stop() { server_.stop(); }

 private:
  v1::Response status() const;
  v1::Response list_jobs(const v1::ListJobsRequest& r) const;
  v1::Response reload_request();
  void test_alert(const v1::TestAlertRequest& r, control::Respond respond);
  void raise_test_alerts(std::shared_ptr<TestAlerts> run);
  std::string admin_only(const control::Peer& peer) const;
  void fds_exhausted(const std::string& why, uint64_t failures);

  boost::asio::io_context& io_;
  Parts& p_;
  Inputs& inputs_;
  control::Dispatcher dispatch_;
  control::Server server_;
  bool test_alert_running_ = false;
};

// `ftsentinel run`: the peer registers itself as a job root (app/registration.cc).
v1::Response register_job(Parts& p, const v1::RegisterJobRequest& r, const control::Peer& peer);

// The config and policies anew, for the request and for SIGHUP (app/reload_glue.cc).
v1::ReloadReply reload_policies(Parts& p, Inputs& in);

}  // namespace fts::app
