#pragma once
// Routes each control request to the handler registered for its body: a
// table, so a new request is one line where the daemon is wired, not one more
// case in a switch. A body nobody registered is answered "unknown request".
// A guard on a body (who may ask it) answers its refusal before the handler.
#include <functional>
#include <string>
#include <unordered_map>

#include "control/server.h"

namespace fts::control {

class Dispatcher {
 public:
  // A handler that may answer later (it calls `respond` once).
  void on(v1::Request::BodyCase body, AsyncHandler handler);
  // A handler that answers at once.
  void on(v1::Request::BodyCase body, Handler handler);
  // Who may ask for `body`: the guard returns why the peer may not ("": may).
  using Guard = std::function<std::string(const Peer&)>;
  void guard(v1::Request::BodyCase body, Guard guard);
  void operator()(const v1::Request& req, const Peer& peer, Respond respond) const;
  bool handles(v1::Request::BodyCase body) const { return handlers_.contains(body); }

 private:
  std::unordered_map<int, AsyncHandler> handlers_;
  std::unordered_map<int, Guard> guards_;
};

// A refusal: ok false, with why.
v1::Response error_response(std::string why);

}  // namespace fts::control
