#pragma once
// `ftsentinel sync`: the answer comes once every record the kernel produced
// before the request has gone through the pipeline, rules and outputs. The
// ring buffer and the fanotify queue are drained at once; content hashes in
// flight are waited for on the loop (which keeps serving everything else)
// until they are in or the request's timeout runs out.
#include <chrono>
#include <memory>

#include "app/inputs.h"
#include "app/parts.h"
#include "control/server.h"

namespace fts::app {

class Barrier {
 public:
  Barrier(boost::asio::io_context& io, Parts& parts, Inputs& inputs) : io_(io), p_(parts), inputs_(inputs) {}
  void sync(const v1::SyncRequest& r, control::Respond respond);

 private:
  struct Pending {
    std::chrono::steady_clock::time_point started, deadline;
    uint64_t in_flight = 0;  // hashes asked for and not in when the sync came
    v1::SyncReply reply;
    control::Respond respond;
  };
  void await_hashes(std::shared_ptr<Pending> p);
  void answer(Pending& p);

  boost::asio::io_context& io_;
  Parts& p_;
  Inputs& inputs_;
};

}  // namespace fts::app
