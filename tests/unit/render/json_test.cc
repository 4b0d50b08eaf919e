// The native JSON printer: schema names, proto3 defaults left out, and 64-bit
// integers as JSON numbers (protobuf's printer quotes them).
#include "render/json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "common/v1.h"
#include "ftsentinel/v1/alert.pb.h"
#include "ftsentinel/v1/event.pb.h"
#include "support/reflect_json.h"

#include <cmath>
#include <memory>
#include <random>

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

// Every field a message can have, set at random (strings with any bytes,
// extreme numbers, unknown enum values, repeated fields and maps), to a
// depth of four.
void fill(std::mt19937_64& rng, pb::Message* m, int depth) {
  using F = pb::FieldDescriptor;
  const auto* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  auto pick = [&](uint64_t n) { return rng() % n; };
  auto str = [&] {
    static const char* kinds[] = {"", "/data/shard-0001.pt", "a\"b\\c\n", "\xff\xfe\xc3\xa9", "\xed\xa0\x80", "\x01\x7f"};
    std::string s = kinds[pick(6)];
    for (size_t i = 0, n = pick(4); i < n; ++i) s += static_cast<char>(rng());
    return s;
  };
  for (int i = 0; i < d->field_count(); ++i) {
    const F* f = d->field(i);
    if (pick(3) == 0) continue;
    if (f->cpp_type() == F::CPPTYPE_MESSAGE && depth >= 4) continue;
    int n = f->is_repeated() ? static_cast<int>(pick(4)) : 1;
    for (int k = 0; k < n; ++k) {
      bool rep = f->is_repeated();
      uint64_t x = pick(4) == 0 ? 0 : rng() >> pick(64);
      switch (f->cpp_type()) {
        case F::CPPTYPE_INT32: rep ? r->AddInt32(m, f, int32_t(x)) : r->SetInt32(m, f, int32_t(x)); break;
        case F::CPPTYPE_INT64: rep ? r->AddInt64(m, f, int64_t(x)) : r->SetInt64(m, f, int64_t(x)); break;
        case F::CPPTYPE_UINT32: rep ? r->AddUInt32(m, f, uint32_t(x)) : r->SetUInt32(m, f, uint32_t(x)); break;
        case F::CPPTYPE_UINT64: rep ? r->AddUInt64(m, f, x) : r->SetUInt64(m, f, x); break;
        case F::CPPTYPE_ENUM: rep ? r->AddEnumValue(m, f, int(x % 5)) : r->SetEnumValue(m, f, int(x % 5)); break;
        case F::CPPTYPE_BOOL: rep ? r->AddBool(m, f, x & 1) : r->SetBool(m, f, x & 1); break;
        case F::CPPTYPE_DOUBLE: {
          double v = pick(5) == 0 ? NAN : pick(5) == 0 ? -INFINITY : double(int64_t(x)) / 7.0;
          rep ? r->AddDouble(m, f, v) : r->SetDouble(m, f, v);
          break;
        }
        case F::CPPTYPE_FLOAT: {
          float v = float(int64_t(x)) / 3.0f;
          rep ? r->AddFloat(m, f, v) : r->SetFloat(m, f, v);
          break;
        }
        case F::CPPTYPE_STRING: rep ? r->AddString(m, f, str()) : r->SetString(m, f, str()); break;
        case F::CPPTYPE_MESSAGE:
          if (f->is_map()) {  // distinct keys: a real map has no key twice
            pb::Message* e = r->AddMessage(m, f);
            fill(rng, e, depth + 1);
            const F* key = f->message_type()->map_key();
            if (key->cpp_type() == F::CPPTYPE_STRING)
              e->GetReflection()->SetString(e, key, str() + "#" + std::to_string(k));
            break;
          }
          fill(rng, rep ? r->AddMessage(m, f) : r->MutableMessage(m, f), depth + 1);
          break;
      }
    }
  }
}

// The renderer reads the wire form; field by field through reflection (the
// renderer it replaced) must give the same bytes, for every message type of
// the schema: key order, defaults, optional zeros, packed repeated numbers,
// maps sorted, unknown enum values, NaN, bytes as base64, non-UTF-8 as \xNN.
TEST(Json, TheWireRendererMatchesReflectionOnEveryMessageType) {
  pb::LogSilencer quiet;  // proto3 strings that are not UTF-8: protobuf logs each serialization
  int types = 0, maps = 0;
  for (const char* file : {"ftsentinel/v1/event.proto", "ftsentinel/v1/alert.proto", "ftsentinel/v1/state.proto",
                           "ftsentinel/v1/journal.proto", "ftsentinel/v1/control.proto", "ftsentinel/v1/config.proto"}) {
    const auto* fd = pb::DescriptorPool::generated_pool()->FindFileByName(file);
    ASSERT_NE(fd, nullptr) << file;
    for (int t = 0; t < fd->message_type_count(); ++t) {
      const auto* d = fd->message_type(t);
      ++types;
      std::mt19937_64 rng(t * 7919 + 1);
      for (int round = 0; round < 60; ++round) {
        std::unique_ptr<pb::Message> m(pb::MessageFactory::generated_factory()->GetPrototype(d)->New());
        fill(rng, m.get(), 0);
        std::string want = fts::testing::reflect_json(*m);
        for (int i = 0; i < d->field_count(); ++i)
          if (d->field(i)->is_map() && m->GetReflection()->FieldSize(*m, d->field(i)) > 1) ++maps;
        ASSERT_EQ(json(*m), want) << d->full_name() << " round " << round;
      }
    }
  }
  EXPECT_GT(types, 20);
  EXPECT_GT(maps, 0);
}

TEST(Json, PackedAndNegativeNumbersAndEmptyMessages) {
  v1::Event e;
  e.mutable_process();  // set, empty: {}
  e.mutable_exit()->set_code(-1);
  e.mutable_file()->set_result(-13);
  std::string j = json(e);
  EXPECT_EQ(j, fts::testing::reflect_json(e));
  EXPECT_NE(j.find("\"process\":{}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"code\":-1"), std::string::npos) << j;
  EXPECT_NE(j.find("\"result\":-13"), std::string::npos) << j;
}

}  // namespace
}  // namespace fts::render
