#include "common/address.h"

#include <arpa/inet.h>

#include <cstring>

namespace fts {

std::string address_string(const Address& a) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(a.data(), kMapped, 12) == 0) inet_ntop(AF_INET, a.data() + 12, buf, sizeof(buf));
  else inet_ntop(AF_INET6, a.data(), buf, sizeof(buf));
  return buf;
}

Address address_from_v4(const in_addr& a) {
  Address out{};
  out[10] = out[11] = 0xff;
  std::memcpy(out.data() + 12, &a, 4);
  return out;
}

}  // namespace fts
