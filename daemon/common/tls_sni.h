#pragma once
// The server name (SNI) a TLS client asks for in its ClientHello, read from
// the first bytes of its connection as the kernel copied them (a job's
// TLS destination by name, whatever it resolved the address through: DoH,
// a hard-coded IP). A bounded reader: every length is checked against the
// bytes there, so any input gives a name or an error, never a crash.
#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"

namespace fts::tls {

// The bytes a ClientHello record starts with: content type handshake (22),
// a 3.x record version, then (byte 5) handshake type client_hello (1).
bool looks_like_client_hello(std::span<const uint8_t> bytes);

// The host_name of the server_name extension (RFC 6066), lower-cased; an
// error when the bytes are not a ClientHello, end before the extension
// (a hello cut at the kernel's copy), carry none, or name no valid host
// (empty, longer than 255, a byte outside letters, digits, '-', '_', '.').
Result<std::string> client_hello_sni(std::span<const uint8_t> bytes);

}  // namespace fts::tls
