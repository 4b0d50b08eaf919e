// A run's records as the outputs render them, and any journal message as JSON.
#include <google/protobuf/util/json_util.h>

#include "journal/review.h"
#include "sinks/format.h"

namespace fts::journal {

std::string to_json(const google::protobuf::Message& m, bool pretty) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.add_whitespace = pretty;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

std::string export_run(const Loaded& run, bool ocsf) {
  std::string out;
  auto f = ocsf ? sinks::Format::kOcsf : sinks::Format::kJson;
  for (const auto& e : run.entries) {
    if (e.has_alert()) out += sinks::render(e.alert(), f);
    else if (e.has_event()) out += sinks::render(e.event(), f);
    else continue;
    out += '\n';
  }
  return out;
}

}  // namespace fts::journal
