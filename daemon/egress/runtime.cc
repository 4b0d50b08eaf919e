#include "egress/runtime.h"

#include <algorithm>

namespace fts::egress {

uint64_t Totals::add(uint64_t job_id, const Address& daddr, uint64_t bytes) {
  return totals_[{job_id, daddr}] += bytes;
}

uint64_t Totals::add_flow(uint64_t job_id, const Address& daddr, uint64_t cookie, uint64_t bytes_so_far,
                          bool closed, uint64_t* delta) {
  auto& c = counted_[cookie];
  c.first = job_id;
  *delta = bytes_so_far > c.second ? bytes_so_far - c.second : 0;
  c.second = std::max(c.second, bytes_so_far);
  if (closed) counted_.erase(cookie);
  return add(job_id, daddr, *delta);
}

void Totals::forget_job(uint64_t job_id) {
  std::erase_if(totals_, [&](const auto& kv) { return kv.first.first == job_id; });
  std::erase_if(counted_, [&](const auto& kv) { return kv.second.first == job_id; });
}

void Names::learn(uint64_t job_id, const Address& addr, const std::string& name, uint32_t ttl_s, uint64_t now_ns) {
  auto& m = jobs_[job_id];
  if (m.size() >= kPerJob && !m.count(addr)) {
    std::erase_if(m, [&](const auto& kv) { return kv.second.expires_ns <= now_ns; });
    if (m.size() >= kPerJob)  // still full: the one that would go first
      m.erase(std::min_element(m.begin(), m.end(), [](const auto& a, const auto& b) {
        return a.second.expires_ns < b.second.expires_ns;
      }));
  }
  m[addr] = Known{name, now_ns + uint64_t{ttl_s} * 1'000'000'000 + kGraceNs};
}

std::string Names::lookup(uint64_t job_id, const Address& addr, uint64_t now_ns) const {
  auto j = jobs_.find(job_id);
  if (j == jobs_.end()) return "";
  auto it = j->second.find(addr);
  return it != j->second.end() && it->second.expires_ns > now_ns ? it->second.name : "";
}

void Names::remember_socket(uint64_t cookie, uint64_t job_id, const std::string& name) {
  if (sockets_.size() >= 65536) sockets_.clear();  // bounded; a lost socket is only less attributed
  sockets_[cookie] = {job_id, name};
}

std::string Names::socket_name(uint64_t cookie) const {
  auto it = sockets_.find(cookie);
  return it == sockets_.end() ? "" : it->second.second;
}

void Names::remember_sni(uint64_t cookie, uint64_t job_id, const std::string& sni) {
  if (snis_.size() >= 65536) snis_.clear();  // bounded like sockets_
  snis_[cookie] = {job_id, sni};
}

std::string Names::socket_sni(uint64_t cookie) const {
  auto it = snis_.find(cookie);
  return it == snis_.end() ? "" : it->second.second;
}

void Names::forget_job(uint64_t job_id) {
  jobs_.erase(job_id);
  std::erase_if(sockets_, [&](const auto& kv) { return kv.second.first == job_id; });
  std::erase_if(snis_, [&](const auto& kv) { return kv.second.first == job_id; });
}

}  // namespace fts::egress
