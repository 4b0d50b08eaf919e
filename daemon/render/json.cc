#include "render/json.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <deque>
#include <vector>

namespace fts::render {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 table 3-7),
// 0 when it is not one: overlong forms, surrogates and code points past
// U+10FFFF are not UTF-8, and a strict collector rejects the whole batch.
size_t utf8_len(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = at(0);
  size_t len = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  // The second byte's range narrows after E0, ED, F0 and F4.
  unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
  unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
  if (len > 1 && (at(1) < lo || at(1) > hi)) return 0;
  for (size_t k = 2; k < len; ++k)
    if ((at(k) & 0xc0) != 0x80) return 0;
  return len;
}

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

}  // namespace

// Bytes that go out as they are: printable ASCII but the quote and the
// backslash (a table: this is the renderer's hottest loop).
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

void append_escaped(std::string_view s, std::string* out) {
  static const char* hex = "0123456789abcdef";
  size_t i = 0;
  auto plain = [](unsigned char c) { return kPlain[c]; };
  while (i < s.size()) {
    unsigned char c = s[i];
    if (plain(c)) {  // the common case first: a run of plain ASCII, appended at once
      size_t end = i + 1;
      while (end < s.size() && plain(static_cast<unsigned char>(s[end]))) ++end;
      out->append(s.data() + i, end - i);
      i = end;
      continue;
    }
    size_t len = c < 0x80 ? 1 : utf8_len(s, i);
    if (len > 1) {
      out->append(s.data() + i, len);
      i += len;
      continue;
    }
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c >= 0x80) {  // not UTF-8: the byte as text, "\xNN" (escaped backslash)
          *out += "\\\\x";
        } else {
          *out += "\\u00";
        }
        *out += hex[c >> 4];
        *out += hex[c & 15];
    }
    ++i;
  }
}

void append_json(const Message& m, std::string* out) {
  // The set fields' list, one per nesting depth, kept from record to record
  // on this thread, not allocated for every (sub)message.
  thread_local std::deque<std::vector<const FieldDescriptor*>> lists;  // grows at the end: a parent's list stays put
  thread_local size_t depth = 0;
  if (lists.size() <= depth) lists.resize(depth + 1);
  std::vector<const FieldDescriptor*>& fields = lists[depth];
  struct Nest {
    ~Nest() { --depth; }
  } nest;
  ++depth;
  fields.clear();
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

std::string json(const Message& m) {
  std::string out;
  out.reserve(512);
  append_json(m, &out);
  return out;
}

}  // namespace fts::render
