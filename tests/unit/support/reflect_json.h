#pragma once
// The daemon's JSON renderer as it was before it read the wire form: field by
// field through protobuf reflection (ListFields). Kept in the tests as the
// reference the wire renderer must match byte for byte (render/json_test.cc,
// the render fuzz target).
#include <google/protobuf/message.h>

#include <string>

namespace fts::testing {

std::string reflect_json(const google::protobuf::Message& m);

}  // namespace fts::testing
