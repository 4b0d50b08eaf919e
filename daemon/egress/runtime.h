#pragma once
// Per-job egress state the pipeline keeps while jobs run: bytes sent per
// destination (what `network.max_bytes_per_destination` is checked against)
// and the names each job resolved.
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "common/address.h"

namespace fts::egress {

// Running bytes sent per job and destination address.
class Totals {
 public:
  // Adds bytes to (job, address); returns the new total.
  uint64_t add(uint64_t job_id, const Address& daddr, uint64_t bytes);
  // A flow's bytes so far (a periodic report, or its close): adds what was not
  // counted yet; *delta says how much that was. A closed flow is forgotten.
  uint64_t add_flow(uint64_t job_id, const Address& daddr, uint64_t cookie, uint64_t bytes_so_far, bool closed,
                    uint64_t* delta);
  void forget_job(uint64_t job_id);

 private:
  std::map<std::pair<uint64_t, Address>, uint64_t> totals_;
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> counted_;  // cookie -> (job, bytes counted)
};

// What each job resolved: address -> the name it asked for, kept for the
// answer's TTL (and a grace after it: programs cache answers), so connects,
// flows and alerts can say which name an address came from. A socket keeps
// the name it had at its connect for its whole life.
class Names {
 public:
  static constexpr uint64_t kGraceNs = 60'000'000'000;  // past the TTL
  static constexpr size_t kPerJob = 4096;
  void learn(uint64_t job_id, const Address& addr, const std::string& name, uint32_t ttl_s, uint64_t now_ns);
  // The name of addr for this job, or "".
  std::string lookup(uint64_t job_id, const Address& addr, uint64_t now_ns) const;
  void remember_socket(uint64_t cookie, uint64_t job_id, const std::string& name);
  std::string socket_name(uint64_t cookie) const;
  void forget_socket(uint64_t cookie) {
    sockets_.erase(cookie);
    snis_.erase(cookie);
  }
  // The server name a socket's TLS ClientHello asked for: the name of an
  // HTTPS destination however its address was found (DoH, a hard-coded IP).
  void remember_sni(uint64_t cookie, uint64_t job_id, const std::string& sni);
  std::string socket_sni(uint64_t cookie) const;
  void forget_job(uint64_t job_id);

 private:
  struct Known {
    std::string name;
    uint64_t expires_ns = 0;
  };
  std::map<uint64_t, std::map<Address, Known>> jobs_;
  std::map<uint64_t, std::pair<uint64_t, std::string>> sockets_;  // cookie -> (job, name)
  std::map<uint64_t, std::pair<uint64_t, std::string>> snis_;     // cookie -> (job, SNI)
};

}  // namespace fts::egress
