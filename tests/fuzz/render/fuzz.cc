// Every output rendering is valid UTF-8 JSON whatever bytes a process put in
// its argv, exe or file names: a strict collector rejects a whole batch for
// one bad byte. The input fills every field of an Event and of an Alert (by
// reflection, so new fields are fuzzed too), then each JSON format is parsed
// by nlohmann::json, which rejects ill-formed UTF-8 (overlong forms,
// surrogates, code points past U+10FFFF) as RFC 8259 does. A first byte of 0
// fuzzes the escaper alone: valid UTF-8 must come back unchanged.
#include <fuzzer/FuzzedDataProvider.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/common.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "render/json.h"
#include "sinks/format.h"

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

void fill(FuzzedDataProvider& in, Message* m, int depth);

void fill_field(FuzzedDataProvider& in, Message* m, const FieldDescriptor* f, int depth) {
  const auto* r = m->GetReflection();
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s = in.ConsumeRandomLengthString(48);
      rep ? r->AddString(m, f, s) : r->SetString(m, f, s);
      break;
    }
#define FTS_NUM(CPP, T, Set, Add)                \
  case FieldDescriptor::CPP: {                   \
    T v = in.ConsumeIntegral<T>();               \
    rep ? r->Add(m, f, v) : r->Set(m, f, v);     \
    break;                                       \
  }
      FTS_NUM(CPPTYPE_INT32, int32_t, SetInt32, AddInt32)
      FTS_NUM(CPPTYPE_INT64, int64_t, SetInt64, AddInt64)
      FTS_NUM(CPPTYPE_UINT32, uint32_t, SetUInt32, AddUInt32)
      FTS_NUM(CPPTYPE_UINT64, uint64_t, SetUInt64, AddUInt64)
      FTS_NUM(CPPTYPE_ENUM, int32_t, SetEnumValue, AddEnumValue)
#undef FTS_NUM
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v = in.ConsumeFloatingPoint<double>();
      rep ? r->AddDouble(m, f, v) : r->SetDouble(m, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float v = in.ConsumeFloatingPoint<float>();
      rep ? r->AddFloat(m, f, v) : r->SetFloat(m, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v = in.ConsumeBool();
      rep ? r->AddBool(m, f, v) : r->SetBool(m, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      fill(in, rep ? r->AddMessage(m, f) : r->MutableMessage(m, f), depth + 1);
      break;
  }
}

void fill(FuzzedDataProvider& in, Message* m, int depth) {
  const auto* d = m->GetDescriptor();
  for (int i = 0; i < d->field_count() && in.remaining_bytes() > 0; ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && depth >= 4) continue;
    int n = f->is_repeated() ? in.ConsumeIntegralInRange(0, 2) : in.ConsumeBool();
    for (int k = 0; k < n; ++k) fill_field(in, m, f, depth);
  }
}

[[noreturn]] void fail(const char* what, const std::string& out, const char* why) {
  std::fprintf(stderr, "%s: %s\n%s\n", what, why, out.c_str());
  std::abort();
}

void check_json(const char* what, const std::string& out) {
  try {
    (void)nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception& e) {
    fail(what, out, e.what());
  }
}

void check_escaper(std::string_view bytes) {
  std::string out = "\"";
  fts::render::append_escaped(bytes, &out);
  out += '"';
  std::string back;
  try {
    back = nlohmann::json::parse(out).get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail("append_escaped", out, e.what());
  }
  // Valid UTF-8 passes through unchanged (nlohmann's own dump validates it).
  try {
    (void)nlohmann::json(std::string(bytes)).dump();
  } catch (const nlohmann::json::exception&) {
    return;  // not UTF-8: kept as \xNN text, checked above to be valid JSON
  }
  if (back != bytes) fail("append_escaped", out, "changed valid UTF-8");
}

// A time as the daemon writes them (RFC 3339), any year: the HEC envelope
// turns it into epoch seconds.
std::string rfc3339(FuzzedDataProvider& in) {
  char t[64];
  std::snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", in.ConsumeIntegralInRange(0, 9999),
                in.ConsumeIntegralInRange(1, 12), in.ConsumeIntegralInRange(1, 28), in.ConsumeIntegralInRange(0, 23),
                in.ConsumeIntegralInRange(0, 59), in.ConsumeIntegralInRange(0, 59), in.ConsumeIntegralInRange(0, 999999));
  return t;
}

template <typename M>
void check_all(const M& m) {
  using fts::sinks::Format;
  check_json("json", fts::sinks::render(m, Format::kJson));
  check_json("ocsf", fts::sinks::render(m, Format::kOcsf));
  check_json("splunk_hec", fts::sinks::render(m, Format::kSplunkHec));
  (void)fts::sinks::render(m, Format::kRfc5424);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Strings that are not UTF-8 are the point here: protobuf would log each
  // serialization the JSON renderer makes of them.
  static google::protobuf::LogSilencer quiet;
  if (size == 0) return 0;
  if (data[0] == 0) {
    check_escaper(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
    return 0;
  }
  FuzzedDataProvider in(data + 1, size - 1);
  if (data[0] & 1) {
    fts::v1::Event e;
    if (in.ConsumeBool()) e.set_time(rfc3339(in));
    fill(in, &e, 0);
    check_all(e);
  } else {
    fts::v1::Alert a;
    if (in.ConsumeBool()) a.set_time(rfc3339(in));
    fill(in, &a, 0);
    check_all(a);
  }
  return 0;
}
