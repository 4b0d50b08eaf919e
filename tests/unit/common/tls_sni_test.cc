// The ClientHello reader (common/tls_sni.h): the server name of real and
// built hellos, and an error, never a crash, for every cut or bent one.
#include "common/tls_sni.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/build.h"

namespace fts::tls {
namespace {

using decode::client_hello;

std::vector<uint8_t> from_hex(const std::string& h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

// What Debian 12's Python (OpenSSL 3.0) sends first for
// wrap_bio(server_hostname="Uploads.Example.test") (tests/fuzz/tls/corpus/python-openssl).
const std::vector<uint8_t> kPythonHello = from_hex(
    "1603010200010001fc0303e77db895568c3376e973ca53ceac5209fa1a2b94dc7fa07ff111e65b890d091c2067393a58117c"
    "1678e15a6b7507e2ffab7431851de34e1506d58a059fc089a12b003e130213031301c02cc030009fcca9cca8ccaac02bc02f"
    "009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff01000175000000190017"
    "00001455706c6f6164732e4578616d706c652e74657374000b000403000102000a00160014001d0017001e00190018010001"
    "01010201030104002300000016000000170000000d002a0028040305030603080708080809080a080b080408050806040105"
    "010601030303010302040205020602002b0009080304030303020301002d00020101003300260024001d00207e75174ac996"
    "3f6a5106ecacdd9f976a1c3fb0db107f102993af29b596aba85d001500bb0000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000"
);

TEST(ClientHelloSni, APythonClientsHelloNamesItsServerLowerCased) {
  ASSERT_EQ(kPythonHello.size(), 517u);
  EXPECT_TRUE(looks_like_client_hello(kPythonHello));
  auto sni = client_hello_sni(kPythonHello);
  ASSERT_TRUE(sni) << sni.error();
  EXPECT_EQ(*sni, "uploads.example.test");
}

TEST(ClientHelloSni, TheNameAfterOtherExtensions) {
  auto sni = client_hello_sni(client_hello("hub.internal", 700));
  ASSERT_TRUE(sni) << sni.error();
  EXPECT_EQ(*sni, "hub.internal");
}

TEST(ClientHelloSni, EveryCutOfAHelloIsAnErrorOrTheName) {
  // Cut anywhere (the kernel copies a bounded prefix): the name when it is
  // all there, an error before; never a wrong name.
  for (const auto& hello : {kPythonHello, client_hello("uploads.example.test", 300)}) {
    for (size_t n = 0; n <= hello.size(); ++n) {
      auto sni = client_hello_sni(std::span<const uint8_t>(hello.data(), n));
      if (sni) EXPECT_EQ(*sni, "uploads.example.test") << n;
    }
    EXPECT_TRUE(client_hello_sni(hello));
  }
  std::vector<uint8_t> h = client_hello("a.example", 0);
  EXPECT_FALSE(client_hello_sni(std::span<const uint8_t>(h.data(), h.size() - 12)));
}

TEST(ClientHelloSni, NotAHelloOrNoNameIsAnError) {
  EXPECT_FALSE(client_hello_sni(client_hello("")));  // no server_name
  std::vector<uint8_t> http = {'P', 'O', 'S', 'T', ' ', '/'};
  EXPECT_FALSE(looks_like_client_hello(http));
  EXPECT_FALSE(client_hello_sni(http));
  std::vector<uint8_t> server_hello = client_hello("x.example");
  server_hello[5] = 2;
  EXPECT_FALSE(client_hello_sni(server_hello));
  EXPECT_FALSE(client_hello_sni({}));
}

TEST(ClientHelloSni, ANameThatIsNoHostNameIsRefused) {
  EXPECT_FALSE(client_hello_sni(client_hello(std::string("evil\0.example", 13))));
  EXPECT_FALSE(client_hello_sni(client_hello("a b.example")));
  EXPECT_FALSE(client_hello_sni(client_hello(std::string(256, 'a'))));
  EXPECT_TRUE(client_hello_sni(client_hello(std::string(255, 'a'))));
}

TEST(ClientHelloSni, LengthsThatLieStayInsideTheBytes) {
  std::vector<uint8_t> h = client_hello("uploads.example.test");
  // Every length field pointed past the end, one at a time.
  for (size_t i = 3; i < h.size(); ++i) {
    std::vector<uint8_t> bent = h;
    bent[i] = 0xff;
    auto sni = client_hello_sni(bent);
    if (sni) EXPECT_FALSE(sni->empty());
  }
}

}  // namespace
}  // namespace fts::tls
