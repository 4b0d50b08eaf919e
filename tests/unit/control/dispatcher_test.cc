// The control dispatcher: each request body goes to the handler registered
// for it; a body nobody handles is refused, not dropped.
#include "control/dispatcher.h"

#include <gtest/gtest.h>

namespace fts::control {
namespace {

TEST(Dispatcher, RoutesByBodyAndRefusesTheUnknown) {
  Dispatcher d;
  std::vector<std::string> calls;
  d.on(v1::Request::kStatus, Handler([&](const v1::Request&, const Peer& p) {
         calls.push_back("status from " + std::to_string(p.pid));
         v1::Response r;
         r.set_ok(true);
         r.mutable_status()->set_pid(7);
         return r;
       }));
  Respond later;
  d.on(v1::Request::kSync, AsyncHandler([&](const v1::Request& req, const Peer&, Respond respond) {
         calls.push_back("sync " + std::to_string(req.sync().timeout_ms()));
         later = std::move(respond);
       }));
  EXPECT_TRUE(d.handles(v1::Request::kSync));
  EXPECT_FALSE(d.handles(v1::Request::kReload));

  std::vector<v1::Response> answers;
  auto collect = [&](v1::Response r) { answers.push_back(std::move(r)); };
  v1::Request status;
  status.mutable_status();
  d(status, Peer{.pid = 12}, collect);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].ok());
  EXPECT_EQ(answers[0].status().pid(), 7u);

  v1::Request sync;
  sync.mutable_sync()->set_timeout_ms(250);
  d(sync, Peer{}, collect);
  EXPECT_EQ(answers.size(), 1u) << "an async handler answers when it is ready";
  v1::Response done;
  done.set_ok(true);
  later(done);
  EXPECT_EQ(answers.size(), 2u);

  v1::Request reload;
  reload.mutable_reload();
  d(reload, Peer{}, collect);
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_FALSE(answers[2].ok());
  EXPECT_EQ(answers[2].error(), "unknown request");
  EXPECT_EQ(calls, (std::vector<std::string>{"status from 12", "sync 250"}));
}

TEST(Dispatcher, GuardAnswersItsRefusalBeforeTheHandler) {
  Dispatcher d;
  int calls = 0;
  d.on(v1::Request::kReload, Handler([&](const v1::Request&, const Peer&) {
         calls++;
         v1::Response r;
         r.set_ok(true);
         return r;
       }));
  d.guard(v1::Request::kReload, [](const Peer& p) { return p.uid == 0 ? "" : std::string("root only"); });
  std::vector<v1::Response> answers;
  auto collect = [&](v1::Response r) { answers.push_back(std::move(r)); };
  v1::Request reload;
  reload.mutable_reload();
  d(reload, Peer{.pid = 5, .uid = 1000}, collect);
  d(reload, Peer{.pid = 6, .uid = 0}, collect);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_FALSE(answers[0].ok());
  EXPECT_EQ(answers[0].error(), "root only");
  EXPECT_TRUE(answers[1].ok());
  EXPECT_EQ(calls, 1) << "the refused peer never reached the handler";
}

}  // namespace
}  // namespace fts::control
