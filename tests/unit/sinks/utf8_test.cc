// File names and argv are bytes, JSON is UTF-8: such an event is rendered
// with the bad bytes escaped, never as an empty line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "render/json.h"
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

// Bytes a process may put in argv that are not UTF-8, each a way a lax
// escaper lets through: a lone high byte, an overlong '/', a UTF-16
// surrogate, a code point past U+10FFFF, a sequence cut short.
const char* const kBadUtf8[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};

// A strict collector's parse (nlohmann::json rejects ill-formed UTF-8):
// the value of process.args[1] as the collector reads it.
std::string parsed_arg(const std::string& out, const char* pointer) {
  try {
    return nlohmann::json::parse(out).at(nlohmann::json::json_pointer(pointer)).get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << e.what() << "\n" << out;
    return "";
  }
}

// Found by tests/fuzz/render: the OCSF and Splunk HEC writers copied bytes
// >= 0x80 as they were (a strict collector answers 400 and the whole batch is
// dropped), and the native JSON let overlong forms and surrogates through.
TEST(Utf8, EveryJsonFormatIsStrictUtf8WhateverTheArgv) {
  for (const char* bad : kBadUtf8) {
    v1::Event e;
    e.set_kind("exec");
    e.mutable_process()->set_exe("/usr/bin/python3");
    e.mutable_process()->add_args("python3");
    e.mutable_process()->add_args(std::string("--x=") + bad);
    v1::Alert a;
    a.set_rule("exfiltration");
    *a.mutable_process() = e.process();
    std::string escaped;
    render::append_escaped(std::string("--x=") + bad, &escaped);  // "\\xNN" text for each bad byte
    std::string want = nlohmann::json::parse("\"" + escaped + "\"").get<std::string>();
    EXPECT_NE(want.find("\\x"), std::string::npos) << "kept as \\xNN text, not dropped: " << want;
    EXPECT_EQ(parsed_arg(render(e, Format::kJson), "/process/args/1"), want);
    EXPECT_EQ(parsed_arg(render(e, Format::kSplunkHec), "/event/process/args/1"), want);
    EXPECT_EQ(parsed_arg(render(a, Format::kJson), "/process/args/1"), want);
    std::string ocsf = render(e, Format::kOcsf);
    EXPECT_NE(parsed_arg(ocsf, "/process/cmd_line").find(want), std::string::npos) << ocsf;
    std::string finding = render(a, Format::kOcsf);
    EXPECT_NE(parsed_arg(finding, "/actor/process/cmd_line").find(want), std::string::npos) << finding;
  }
}

TEST(Utf8, WellFormedUtf8IsKeptAsIs) {
  // 2, 3 and 4 bytes, and the edges of the ranges that are excluded above.
  const std::string good = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xed\x9f\xbf \xee\x80\x80 \xf4\x8f\xbf\xbf";
  std::string out;
  render::append_escaped(good, &out);
  EXPECT_EQ(out, good);
}

}  // namespace
}  // namespace fts::sinks
