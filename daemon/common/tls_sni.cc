#include "common/tls_sni.h"

#include <algorithm>

namespace fts::tls {
namespace {

constexpr uint8_t kHandshake = 22, kClientHello = 1;
constexpr uint16_t kServerName = 0, kHostName = 0;
constexpr size_t kMaxName = 255;

// A cursor over bytes that never reads past their end: a short read sets
// ok_ false and returns zeros, so the parse below reads straight through and
// checks once per step.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  uint32_t u8() { return take(1) ? b_[pos_ - 1] : 0; }
  uint32_t u16() { return take(2) ? (uint32_t{b_[pos_ - 2]} << 8) | b_[pos_ - 1] : 0; }
  uint32_t u24() { return take(3) ? (uint32_t{b_[pos_ - 3]} << 16) | (uint32_t{b_[pos_ - 2]} << 8) | b_[pos_ - 1] : 0; }
  bool skip(size_t n) { return take(n); }
  // The next n bytes as a reader of their own (a length-prefixed vector).
  Reader sub(size_t n) {
    if (!take(n)) return Reader({});
    return Reader(b_.subspan(pos_ - n, n));
  }
  std::span<const uint8_t> bytes(size_t n) { return take(n) ? b_.subspan(pos_ - n, n) : std::span<const uint8_t>{}; }
  bool ok() const { return ok_; }
  bool done() const { return pos_ >= b_.size(); }
  size_t left() const { return b_.size() - pos_; }

 private:
  bool take(size_t n) {
    if (!ok_ || n > b_.size() - pos_) return ok_ = false;
    pos_ += n;
    return true;
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

bool host_byte(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}

Result<std::string> host_name(std::span<const uint8_t> raw) {
  if (raw.empty() || raw.size() > kMaxName) return make_error("server name of a length outside 1..255");
  std::string out;
  for (uint8_t c : raw) {
    if (!host_byte(c)) return make_error("server name with a byte that is not a host name's");
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return out;
}

// server_name's body: a list of (type, name); the first host_name counts.
Result<std::string> server_name(Reader ext) {
  Reader list = ext.sub(ext.u16());
  while (list.ok() && !list.done()) {
    uint32_t type = list.u8();
    std::span<const uint8_t> name = list.bytes(list.u16());
    if (!list.ok()) break;
    if (type == kHostName) return host_name(name);
  }
  return make_error("server_name extension without a host name");
}

// ClientHello body: version, random, session id, cipher suites, compression
// methods, then the extensions (RFC 8446 4.1.2; TLS 1.2 is the same shape).
Result<std::string> hello_body(Reader h) {
  h.skip(2 + 32);
  h.skip(h.u8());   // legacy_session_id
  h.skip(h.u16());  // cipher_suites
  h.skip(h.u8());   // legacy_compression_methods
  if (!h.ok()) return make_error("ClientHello ends before its extensions");
  if (h.done()) return make_error("ClientHello without extensions");
  Reader exts = h.sub(h.u16());
  if (!h.ok()) return make_error("ClientHello extensions cut short");
  while (!exts.done()) {
    uint32_t type = exts.u16();
    Reader body = exts.sub(exts.u16());
    if (!exts.ok()) return make_error("ClientHello extension cut short");
    if (type == kServerName) return server_name(body);
  }
  return make_error("ClientHello without a server name");
}

}  // namespace

bool looks_like_client_hello(std::span<const uint8_t> b) {
  return b.size() >= 6 && b[0] == kHandshake && b[1] == 3 && b[5] == kClientHello;
}

Result<std::string> client_hello_sni(std::span<const uint8_t> bytes) {
  if (!looks_like_client_hello(bytes)) return make_error("not a TLS ClientHello");
  Reader rec(bytes);
  rec.skip(3);
  // The record or the hello may be cut by the kernel's copy: parse what is
  // there, within both lengths.
  size_t rec_len = rec.u16();
  Reader hs = rec.sub(std::min(rec_len, rec.left()));
  hs.u8();  // client_hello
  size_t len = hs.u24();
  if (!hs.ok()) return make_error("TLS record too short for a handshake header");
  return hello_body(hs.sub(std::min(len, hs.left())));
}

}  // namespace fts::tls
