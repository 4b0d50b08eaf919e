#include "support/reflect_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "render/json.h"

namespace fts::testing {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using render::append_escaped;

void append_json(const Message& m, std::string* out);

template <typename N>
void append_number(N v, std::string* out) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void append_double(double v, std::string* out) {
  if (std::isnan(v)) *out += "\"NaN\"";
  else if (std::isinf(v)) *out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  else append_number(v, out);
}

void append_base64(const std::string& s, std::string* out) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t n = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    for (int sh : {18, 12, 6, 0}) *out += k[(n >> sh) & 63];
  }
  if (size_t rest = s.size() - i) {
    uint32_t n = (uint8_t(s[i]) << 16) | (rest == 2 ? uint8_t(s[i + 1]) << 8 : 0);
    *out += k[(n >> 18) & 63];
    *out += k[(n >> 12) & 63];
    *out += rest == 2 ? k[(n >> 6) & 63] : '=';
    *out += '=';
  }
}

void append_string(std::string_view s, std::string* out) {
  *out += '"';
  append_escaped(s, out);
  *out += '"';
}

void append_value(const Message& m, const Reflection* r, const FieldDescriptor* f, int i, std::string* out);

// One value of a scalar or message field; i < 0: a singular field.
void append_value(const Message& m, const Reflection* r, const FieldDescriptor* f, int i, std::string* out) {
  bool rep = i >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: append_number(rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f), out); break;
    case FieldDescriptor::CPPTYPE_INT64: append_number(rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f), out); break;
    case FieldDescriptor::CPPTYPE_UINT32: append_number(rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f), out); break;
    case FieldDescriptor::CPPTYPE_UINT64: append_number(rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f), out); break;
    case FieldDescriptor::CPPTYPE_DOUBLE: append_double(rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f), out); break;
    case FieldDescriptor::CPPTYPE_FLOAT: append_double(rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f), out); break;
    case FieldDescriptor::CPPTYPE_BOOL: *out += (rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f)) ? "true" : "false"; break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      int v = rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
      const auto* ev = f->enum_type()->FindValueByNumber(v);
      if (ev) append_string(ev->name(), out);
      else append_number(v, out);
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, i, &scratch) : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        *out += '"';
        append_base64(s, out);
        *out += '"';
      } else {
        append_string(s, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      append_json(rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f), out);
      break;
  }
}

// A map field as an object, keys sorted (a stable line for the same record).
void append_map(const Message& m, const Reflection* r, const FieldDescriptor* f, std::string* out) {
  const FieldDescriptor* kf = f->message_type()->map_key();
  const FieldDescriptor* vf = f->message_type()->map_value();
  std::vector<std::pair<std::string, const Message*>> entries;
  for (int i = 0; i < r->FieldSize(m, f); ++i) {
    const Message& e = r->GetRepeatedMessage(m, f, i);
    std::string key;
    if (kf->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      key = e.GetReflection()->GetString(e, kf);
    } else {
      append_value(e, e.GetReflection(), kf, -1, &key);
    }
    entries.emplace_back(std::move(key), &e);
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  *out += '{';
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i) *out += ',';
    append_string(entries[i].first, out);
    *out += ':';
    append_value(*entries[i].second, entries[i].second->GetReflection(), vf, -1, out);
  }
  *out += '}';
}


void append_json(const Message& m, std::string* out) {
  std::vector<const FieldDescriptor*> fields;
  const Reflection* r = m.GetReflection();
  r->ListFields(m, &fields);  // set fields only, by number: proto3's defaults stay out
  *out += '{';
  bool first = true;
  for (const FieldDescriptor* f : fields) {
    if (!first) *out += ',';
    first = false;
    *out += '"';
    *out += f->name();
    *out += "\":";
    if (f->is_map()) {
      append_map(m, r, f, out);
    } else if (f->is_repeated()) {
      *out += '[';
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        if (i) *out += ',';
        append_value(m, r, f, i, out);
      }
      *out += ']';
    } else {
      append_value(m, r, f, -1, out);
    }
  }
  *out += '}';
}

}  // namespace

std::string reflect_json(const Message& m) {
  std::string out;
  append_json(m, &out);
  return out;
}

}  // namespace fts::testing
