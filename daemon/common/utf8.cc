#include "common/utf8.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <cstdint>

namespace fts {

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

bool is_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_or_escaped(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    if (size_t n = utf8_len(s, i)) {
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    auto c = static_cast<unsigned char>(s[i++]);
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
      uint8_t b = *p++;
      *v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
};

void put_varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    *out += static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *out += static_cast<char>(v);
}

// `in` re-encoded with every string field of type d (nested too) made UTF-8;
// false when it is not wire format.
bool mend(const Descriptor* d, std::string_view in, std::string* out, int depth) {
  if (depth > 64) return false;  // deeper than any record of the schema
  Reader r{reinterpret_cast<const uint8_t*>(in.data()), reinterpret_cast<const uint8_t*>(in.data() + in.size())};
  while (r.p < r.end) {
    const uint8_t* start = r.p;
    uint64_t tag, v;
    if (!r.varint(&tag)) return false;
    switch (tag & 7) {
      case 0:
        if (!r.varint(&v)) return false;
        break;
      case 1:
      case 5: {
        size_t n = (tag & 7) == 1 ? 8 : 4;
        if (static_cast<size_t>(r.end - r.p) < n) return false;
        r.p += n;
        break;
      }
      case 2: {
        uint64_t len;
        if (!r.varint(&len) || len > static_cast<uint64_t>(r.end - r.p)) return false;
        std::string_view body(reinterpret_cast<const char*>(r.p), len);
        r.p += len;
        const FieldDescriptor* f = d->FindFieldByNumber(static_cast<int>(tag >> 3));
        if (f && f->type() == FieldDescriptor::TYPE_STRING && !is_utf8(body)) {
          std::string text = utf8_or_escaped(body);
          put_varint(tag, out);
          put_varint(text.size(), out);
          *out += text;
          continue;
        }
        if (f && f->type() == FieldDescriptor::TYPE_MESSAGE) {
          std::string inner;
          if (!mend(f->message_type(), body, &inner, depth + 1)) return false;
          put_varint(tag, out);
          put_varint(inner.size(), out);
          *out += inner;
          continue;
        }
        break;
      }
      default:
        return false;  // groups: not in the schema
    }
    out->append(reinterpret_cast<const char*>(start), static_cast<size_t>(r.p - start));
  }
  return true;
}

}  // namespace

bool parse_any_text(google::protobuf::Message* m, std::string_view wire) {
  if (m->ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return true;
  std::string mended;
  if (!mend(m->GetDescriptor(), wire, &mended, 0)) return false;
  return m->ParseFromString(mended);
}

void route_protobuf_log() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel level, const char* file, int line,
                                     const std::string& msg) {
    if (msg.find("contains invalid UTF-8 data") != std::string::npos) return;
    auto l = level >= google::protobuf::LOGLEVEL_ERROR ? spdlog::level::err
             : level == google::protobuf::LOGLEVEL_WARNING ? spdlog::level::warn
                                                           : spdlog::level::info;
    spdlog::log(l, "protobuf {}:{}: {}", file, line, msg);
  });
}

}  // namespace fts
