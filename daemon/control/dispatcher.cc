#include "control/dispatcher.h"

#include <utility>

namespace fts::control {

void Dispatcher::on(v1::Request::BodyCase body, AsyncHandler handler) { handlers_[body] = std::move(handler); }

void Dispatcher::on(v1::Request::BodyCase body, Handler handler) {
  handlers_[body] = [h = std::move(handler)](const v1::Request& req, const Peer& peer, Respond respond) {
    respond(h(req, peer));
  };
}

void Dispatcher::guard(v1::Request::BodyCase body, Guard guard) { guards_[body] = std::move(guard); }

void Dispatcher::operator()(const v1::Request& req, const Peer& peer, Respond respond) const {
  auto it = handlers_.find(req.body_case());
  if (it == handlers_.end()) return respond(error_response("unknown request"));
  if (auto g = guards_.find(req.body_case()); g != guards_.end())
    if (std::string why = g->second(peer); !why.empty()) return respond(error_response(std::move(why)));
  it->second(req, peer, std::move(respond));
}

v1::Response error_response(std::string why) {
  v1::Response r;
  r.set_ok(false);
  r.set_error(std::move(why));
  return r;
}

}  // namespace fts::control
