// The ClientHello reader (common/tls_sni.h) on whatever a job's first TCP
// payload may be: a name that is a host name, or an error; never a crash, a
// read past the input, or a name the input does not hold.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "common/tls_sni.h"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

}  // namespace

// Input: the bytes the kernel copied of a flow's first payload.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto sni = fts::tls::client_hello_sni(in);
  if (!sni) return 0;
  if (!fts::tls::looks_like_client_hello(in)) fail("a name from bytes that do not open a ClientHello");
  if (sni->empty() || sni->size() > 255) fail("a server name of length " + std::to_string(sni->size()));
  for (char c : *sni)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      fail("a server name with a byte outside a lower-case host name: " + *sni);
  // The name is in the input (lower-cased), as the bytes of one extension.
  std::string lowered(reinterpret_cast<const char*>(data), size);
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lowered.find(*sni) == std::string::npos) fail("a server name the input does not hold: " + *sni);
  return 0;
}
