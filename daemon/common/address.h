#pragma once
// A network address as the kernel reports it and egress lists hold it: 16
// bytes, network order, IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d), so one type
// and one formatter cover both families.
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>

namespace fts {

using Address = std::array<uint8_t, 16>;

// "10.0.0.1" for v4-mapped addresses, "::1" for the rest.
std::string address_string(const Address& a);

// ::ffff:a.b.c.d
Address address_from_v4(const in_addr& a);

}  // namespace fts
