#include "render/json.h"

#include "common/utf8.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fts::render {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

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

void append_base64(std::string_view s, std::string* out) {
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

// The record is rendered from its wire form, not field by field through
// reflection: protobuf's generated code serializes it (fields in number order,
// proto3 defaults left out, a repeated field's elements together: what
// ListFields gives), and one pass over those bytes writes the JSON with each
// message type's keys looked up by field number in a plan made once. By
// callgrind reflection was over half of a rendering (ListFields, HasBit,
// GetFieldOffset per field), and rendering ~40 % of the pipeline thread in a
// first pass (tests/bench/soak.py).
struct Plan;

struct FieldPlan {
  const FieldDescriptor* f = nullptr;
  std::string key;  // "name":
  const Plan* message = nullptr;  // a message field's type; a map field's entry type
  bool repeated = false;
  bool map = false;
};

struct Plan {
  const google::protobuf::Descriptor* d = nullptr;
  std::vector<FieldPlan> by_number;  // index: field number (a few hundred at most)
  const FieldPlan* field(uint64_t n) const { return n < by_number.size() && by_number[n].f ? &by_number[n] : nullptr; }
};

// Plans by message type, made on first use on each thread (no lock on the
// hot path; a handful of types).
const Plan* plan_of(const google::protobuf::Descriptor* d) {
  thread_local std::unordered_map<const google::protobuf::Descriptor*, std::unique_ptr<Plan>> plans;
  auto& slot = plans[d];
  if (slot) return slot.get();
  slot = std::make_unique<Plan>();
  Plan* p = slot.get();
  p->d = d;
  int max = 0;
  for (int i = 0; i < d->field_count(); ++i) max = std::max(max, d->field(i)->number());
  p->by_number.resize(static_cast<size_t>(max) + 1);
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    FieldPlan& fp = p->by_number[static_cast<size_t>(f->number())];
    fp.f = f;
    fp.key = "\"" + f->name() + "\":";
    fp.repeated = f->is_repeated();
    fp.map = f->is_map();
  }
  // Submessages after this plan is complete: a type may contain itself.
  for (auto& fp : p->by_number)
    if (fp.f && fp.f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) fp.message = plan_of(fp.f->message_type());
  return p;
}

// A reader of wire-format bytes; any malformed input stops it (ok false).
struct Wire {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;
  bool more() const { return ok && p < end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) break;
      uint8_t b = *p++;
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  template <typename T>
  T fixed() {
    T v{};
    if (end - p < static_cast<ptrdiff_t>(sizeof(T))) {
      ok = false;
      return v;
    }
    std::memcpy(&v, p, sizeof(T));  // little-endian, as x86 and arm64 are
    p += sizeof(T);
    return v;
  }
  std::string_view bytes() {
    uint64_t n = varint();
    if (!ok || n > static_cast<uint64_t>(end - p)) {
      ok = false;
      return {};
    }
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: fixed<uint64_t>(); break;
      case 2: bytes(); break;
      case 5: fixed<uint32_t>(); break;
      default: ok = false;  // groups: not in the schema
    }
  }
};

void append_message(const Plan& plan, std::string_view bytes, std::string* out);

// One scalar of field f from the wire (the element of a packed run too).
void append_scalar(const FieldDescriptor* f, Wire& w, std::string* out) {
  switch (f->type()) {
    case FieldDescriptor::TYPE_INT32: append_number(static_cast<int32_t>(w.varint()), out); break;
    case FieldDescriptor::TYPE_INT64: append_number(static_cast<int64_t>(w.varint()), out); break;
    case FieldDescriptor::TYPE_UINT32: append_number(static_cast<uint32_t>(w.varint()), out); break;
    case FieldDescriptor::TYPE_UINT64: append_number(w.varint(), out); break;
    case FieldDescriptor::TYPE_SINT32: {
      auto u = static_cast<uint32_t>(w.varint());
      append_number(static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1)), out);
      break;
    }
    case FieldDescriptor::TYPE_SINT64: {
      uint64_t u = w.varint();
      append_number(static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1)), out);
      break;
    }
    case FieldDescriptor::TYPE_BOOL: *out += w.varint() ? "true" : "false"; break;
    case FieldDescriptor::TYPE_ENUM: {
      int v = static_cast<int32_t>(w.varint());
      const auto* ev = f->enum_type()->FindValueByNumber(v);
      if (ev) append_string(ev->name(), out);
      else append_number(v, out);
      break;
    }
    case FieldDescriptor::TYPE_FIXED32: append_number(w.fixed<uint32_t>(), out); break;
    case FieldDescriptor::TYPE_SFIXED32: append_number(w.fixed<int32_t>(), out); break;
    case FieldDescriptor::TYPE_FLOAT: append_double(w.fixed<float>(), out); break;
    case FieldDescriptor::TYPE_FIXED64: append_number(w.fixed<uint64_t>(), out); break;
    case FieldDescriptor::TYPE_SFIXED64: append_number(w.fixed<int64_t>(), out); break;
    case FieldDescriptor::TYPE_DOUBLE: append_double(w.fixed<double>(), out); break;
    default: w.ok = false;
  }
}

// One value of field f whose tag was just read with wire type wt.
void append_value(const FieldPlan& fp, int wt, Wire& w, std::string* out) {
  switch (fp.f->type()) {
    case FieldDescriptor::TYPE_STRING: append_string(w.bytes(), out); break;
    case FieldDescriptor::TYPE_BYTES:
      *out += '"';
      append_base64(w.bytes(), out);
      *out += '"';
      break;
    case FieldDescriptor::TYPE_MESSAGE: append_message(*fp.message, w.bytes(), out); break;
    default:
      if (wt == 2) {  // a packed run of a repeated scalar: its elements, comma-separated
        std::string_view run = w.bytes();
        Wire r{reinterpret_cast<const uint8_t*>(run.data()), reinterpret_cast<const uint8_t*>(run.data() + run.size())};
        bool first = true;
        while (r.more()) {
          if (!first) *out += ',';
          first = false;
          append_scalar(fp.f, r, out);
        }
        w.ok = w.ok && r.ok;
      } else {
        append_scalar(fp.f, w, out);
      }
  }
}

// A field's value when the wire leaves it out (a map entry's key or value).
void append_default(const FieldPlan& fp, std::string* out) {
  std::string_view none;
  switch (fp.f->type()) {
    case FieldDescriptor::TYPE_STRING: append_string(none, out); break;
    case FieldDescriptor::TYPE_BYTES: *out += "\"\""; break;
    case FieldDescriptor::TYPE_MESSAGE: append_message(*fp.message, none, out); break;
    case FieldDescriptor::TYPE_BOOL: *out += "false"; break;
    case FieldDescriptor::TYPE_ENUM: {
      const auto* ev = fp.f->enum_type()->FindValueByNumber(0);
      if (ev) append_string(ev->name(), out);
      else *out += '0';
      break;
    }
    case FieldDescriptor::TYPE_FLOAT:
    case FieldDescriptor::TYPE_DOUBLE: append_double(0.0, out); break;
    default: *out += '0';
  }
}

// A map field's entries (consecutive on the wire, as the map serializes them)
// as an object, keys sorted (a stable line for the same record). `w` stands
// after the first entry's tag; it is left after the last entry.
void append_map(const FieldPlan& fp, Wire& w, std::string* out) {
  const Plan& entry = *fp.message;
  const FieldPlan* kf = entry.field(1);
  const FieldPlan* vf = entry.field(2);
  struct Item {
    std::string key;  // a string key as it is; another as its JSON number
    std::string_view value;  // the value's wire bytes: a field 2 (tag and all), or empty
  };
  std::vector<Item> items;
  uint64_t tag = (uint64_t(fp.f->number()) << 3) | 2;
  for (;;) {
    std::string_view e = w.bytes();
    Wire in{reinterpret_cast<const uint8_t*>(e.data()), reinterpret_cast<const uint8_t*>(e.data() + e.size())};
    Item it;
    while (in.more()) {
      const uint8_t* at = in.p;
      uint64_t t = in.varint();
      int wt = static_cast<int>(t & 7);
      if ((t >> 3) == 1 && kf) {
        if (kf->f->type() == FieldDescriptor::TYPE_STRING) it.key = std::string(in.bytes());
        else {
          it.key.clear();
          append_value(*kf, wt, in, &it.key);
        }
      } else if ((t >> 3) == 2 && vf) {
        in.skip(wt);
        it.value = std::string_view(reinterpret_cast<const char*>(at), static_cast<size_t>(in.p - at));
      } else {
        in.skip(wt);
      }
    }
    if (!in.ok) w.ok = false;
    if (it.key.empty() && kf && kf->f->type() != FieldDescriptor::TYPE_STRING) append_default(*kf, &it.key);
    items.push_back(std::move(it));
    // The next entry of the same map follows directly, or nothing of it does.
    if (!w.more()) break;
    Wire peek = w;
    if (peek.varint() != tag) break;
    w = peek;
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.key < b.key; });
  *out += '{';
  for (size_t i = 0; i < items.size(); ++i) {
    // A key given twice keeps its last value, as the map does.
    if (i + 1 < items.size() && items[i + 1].key == items[i].key) continue;
    if (out->back() != '{') *out += ',';
    append_string(items[i].key, out);
    *out += ':';
    if (items[i].value.empty() || !vf) {
      if (vf) append_default(*vf, out);
      else *out += "null";
      continue;
    }
    Wire v{reinterpret_cast<const uint8_t*>(items[i].value.data()),
           reinterpret_cast<const uint8_t*>(items[i].value.data() + items[i].value.size())};
    int wt = static_cast<int>(v.varint() & 7);
    append_value(*vf, wt, v, out);
  }
  *out += '}';
}

// One message's bytes as a JSON object: its fields in wire order (number
// order), each repeated field one array of its consecutive elements.
void append_message(const Plan& plan, std::string_view bytes, std::string* out) {
  Wire w{reinterpret_cast<const uint8_t*>(bytes.data()), reinterpret_cast<const uint8_t*>(bytes.data() + bytes.size())};
  *out += '{';
  const FieldPlan* open = nullptr;  // the repeated field whose array is open
  bool first = true;
  while (w.more()) {
    uint64_t tag = w.varint();
    int wt = static_cast<int>(tag & 7);
    const FieldPlan* fp = plan.field(tag >> 3);
    if (!fp) {  // not in the schema (an unknown field): ListFields leaves it out too
      w.skip(wt);
      continue;
    }
    if (open && open != fp) {
      *out += ']';
      open = nullptr;
    }
    if (fp == open) {
      *out += ',';
    } else {
      if (!first) *out += ',';
      first = false;
      *out += fp->key;
      if (fp->map) {
        append_map(*fp, w, out);
        continue;
      }
      if (fp->repeated) {
        *out += '[';
        open = fp;
      }
    }
    append_value(*fp, wt, w, out);
  }
  if (open) *out += ']';
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
  thread_local std::string wire;  // the serialization buffer, kept from record to record
  wire.clear();
  m.AppendToString(&wire);
  append_message(*plan_of(m.GetDescriptor()), wire, out);
}

std::string json(const Message& m) {
  std::string out;
  out.reserve(512);
  append_json(m, &out);
  return out;
}

}  // namespace fts::render
