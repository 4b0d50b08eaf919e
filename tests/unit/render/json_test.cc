// The native JSON printer: schema names, proto3 defaults left out, and 64-bit
// integers as JSON numbers (protobuf's printer quotes them).
#include "render/json.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "common/v1.h"
#include "ftsentinel/v1/alert.pb.h"
#include "ftsentinel/v1/event.pb.h"

namespace fts::render {
namespace {

namespace pb = google::protobuf;

pb::Struct parse(const std::string& json) {
  pb::Struct s;
  auto st = pb::util::JsonStringToMessage(json, &s);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << json;
  return s;
}

TEST(Json, CountersInodesAndIdsAreNumbers) {
  v1::Event e;
  e.set_id(42);
  e.set_kind("network");
  e.mutable_network()->set_bytes(1ull << 40);
  e.mutable_network()->set_total_bytes(3);
  e.mutable_network()->set_cookie(9007199254740993ull);  // 2^53 + 1: exact, not rounded
  e.mutable_file()->set_dev(2049);
  e.mutable_file()->set_ino(77);
  std::string j = json(e);
  EXPECT_NE(j.find("\"bytes\":1099511627776"), std::string::npos) << j;
  EXPECT_NE(j.find("\"cookie\":9007199254740993"), std::string::npos) << j;
  EXPECT_NE(j.find("\"id\":42,"), std::string::npos) << j;
  auto s = parse(j);
  EXPECT_EQ(s.fields().at("file").struct_value().fields().at("dev").kind_case(), pb::Value::kNumberValue);
  EXPECT_EQ(s.fields().at("file").struct_value().fields().at("ino").number_value(), 77);
}

TEST(Json, MatchesProtobufsOwnPrinterButForQuotedIntegers) {
  v1::Alert a;
  a.set_id("6f1c2a1e-0d2b-4c7e-9a55-1f0e2d3c4b5a");
  a.set_rule("exfil-chain");
  a.mutable_process()->set_pid(4242);
  a.mutable_process()->set_uid(0);  // optional: present though zero
  a.mutable_process()->add_args("python3");
  a.mutable_process()->add_args("up \"load\".py\n");
  a.mutable_process()->add_ancestry()->set_exe("/usr/bin/torchrun");
  a.mutable_mitre()->add_attack("T1048");
  a.add_evidence(12);
  std::string ours = json(a);
  std::string theirs;
  pb::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  ASSERT_TRUE(pb::util::MessageToJsonString(a, &theirs, o).ok());
  // Same object once both are parsed: only the quoting of 64-bit integers differs.
  auto s1 = parse(ours), s2 = parse(theirs);
  EXPECT_EQ(s1.fields().at("evidence").list_value().values(0).number_value(), 12);
  EXPECT_EQ(s2.fields().at("evidence").list_value().values(0).string_value(), "12");
  s2.mutable_fields()->erase("evidence");
  s1.mutable_fields()->erase("evidence");
  EXPECT_EQ(s1.DebugString(), s2.DebugString());
  EXPECT_NE(ours.find("\"uid\":0"), std::string::npos) << "an optional field set to 0 is printed";
  EXPECT_EQ(ours.find("severity"), std::string::npos) << "proto3 defaults stay out";
}

TEST(Json, BytesThatAreNotUtf8AreKeptAsText) {
  v1::Event e;
  e.mutable_file()->set_path(std::string("/data/\xff\xfe-\xc3\xa9.bin"));
  auto s = parse(json(e));
  EXPECT_EQ(s.fields().at("file").struct_value().fields().at("path").string_value(), "/data/\\xff\\xfe-\xc3\xa9.bin");
}

TEST(Json, MapsAreObjectsWithSortedKeys) {
  v1::Job j;
  (*j.mutable_labels())["user"] = "u";
  (*j.mutable_labels())["policy"] = "llm";
  std::string out = json(j);
  EXPECT_EQ(out, "{\"labels\":{\"policy\":\"llm\",\"user\":\"u\"}}");
}

}  // namespace
}  // namespace fts::render
