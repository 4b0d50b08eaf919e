// TLS ClientHello records: decoded from kernel-format bytes, the server name
// read from the copied hello, and lengths that lie refused.
#include <gtest/gtest.h>
#include <linux/types.h>

#include <cstddef>
#include <cstring>

#include "decode/records.h"
#include "support/build.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::decode {
namespace {

TlsHello hello(const std::string& sni) {
  TlsHello t;
  t.hdr.kind = Kind::kTlsHello;
  t.hdr.job_id = 9;
  t.hdr.task = {1234, 5678};
  t.cookie = 77;
  t.daddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  t.dport = 8443;
  t.sni = sni;
  return t;
}

TEST(TlsRecord, TheServerNameAndTheFlowRoundTrip) {
  auto r = decode(build(hello("uploads.example.test")));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& g = std::get<TlsHello>(*r);
  EXPECT_EQ(g.hdr.kind, Kind::kTlsHello);
  EXPECT_EQ(g.hdr.job_id, 9u);
  EXPECT_EQ(g.hdr.task.tgid, 1234u);
  EXPECT_EQ(g.cookie, 77u);
  EXPECT_EQ(g.daddr[15], 1);
  EXPECT_EQ(g.dport, 8443);
  EXPECT_EQ(g.sni, "uploads.example.test");
  EXPECT_TRUE(g.sni_error.empty());
  EXPECT_FALSE(g.cut);
}

TEST(TlsRecord, AHelloWithoutANameSaysWhy) {
  auto r = decode(build(hello("")));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& g = std::get<TlsHello>(*r);
  EXPECT_EQ(g.sni, "");
  EXPECT_FALSE(g.sni_error.empty());
}

TEST(TlsRecord, ALengthPastItsBufferOrAShortRecordIsAnError) {
  auto b = build(hello("x.example"));
  uint16_t len = FTS_TLS_HELLO_MAX + 1;
  std::memcpy(b.data() + offsetof(fts_tls_hello_event, len), &len, sizeof(len));
  EXPECT_FALSE(decode(b).ok());
  auto s = build(hello("x.example"));
  s.resize(sizeof(fts_event_header) + 8);
  uint32_t size = static_cast<uint32_t>(s.size());
  std::memcpy(s.data() + offsetof(fts_event_header, size), &size, sizeof(size));
  EXPECT_FALSE(decode(s).ok());
}

}  // namespace
}  // namespace fts::decode
