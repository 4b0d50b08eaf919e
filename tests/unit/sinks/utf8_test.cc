// File names and argv are bytes, JSON is UTF-8: such an event is rendered
// with the bad bytes escaped, never as an empty line.
#include <gtest/gtest.h>

#include "sinks/format.h"

namespace fts::sinks {
namespace {

TEST(Utf8, InvalidBytesAreEscapedNotDropped) {
  v1::Event e;
  e.set_kind("exec");
  e.mutable_process()->set_exe("/tmp/evil\xff\xfe");
  e.mutable_process()->add_args("caf\xc3\xa9");  // valid: kept as is
  e.mutable_process()->add_args("\x80x");
  std::string out = render(e, Format::kJson);
  ASSERT_FALSE(out.empty());
  EXPECT_NE(out.find("/tmp/evil\\\\xff\\\\xfe"), std::string::npos) << out;
  EXPECT_NE(out.find("caf\xc3\xa9"), std::string::npos) << out;
  EXPECT_NE(out.find("\\\\x80x"), std::string::npos) << out;
  EXPECT_NE(out.find("\"kind\":\"exec\""), std::string::npos) << out;
}

}  // namespace
}  // namespace fts::sinks
