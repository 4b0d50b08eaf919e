#pragma once
// The inverse of decode(): kernel-format records from typed values, for the
// tests and benchmarks that drive the pipeline without a kernel.
#include <cstdint>
#include <vector>

#include "decode/records.h"

namespace fts::decode {

std::vector<uint8_t> build(const Exec& e);
std::vector<uint8_t> build(const Fork& e);
std::vector<uint8_t> build(const Exit& e);
std::vector<uint8_t> build(const Cgroup& e);
std::vector<uint8_t> build(const File& e);
std::vector<uint8_t> build(const IoUring& e);
std::vector<uint8_t> build(const Net& e);
std::vector<uint8_t> build(const Dns& e);
std::vector<uint8_t> build(const FileHash& e);  // empty: not a kernel record
std::vector<uint8_t> build(const ProcessAccess& e);
std::vector<uint8_t> build(const SensorTouch& e);
std::vector<uint8_t> build(const DnsAnswer& e);
std::vector<uint8_t> build(const Socket& e);
std::vector<uint8_t> build(const TlsHello& e);  // its hello: client_hello(e.sni)
std::vector<uint8_t> build(const Record& r);

// A TLS 1.3 ClientHello record as a client sends it first: `sni` in a
// server_name extension (none when empty), after `padding` bytes of a
// padding extension (a hello whose name comes late).
std::vector<uint8_t> client_hello(const std::string& sni, size_t padding = 0);

}  // namespace fts::decode
