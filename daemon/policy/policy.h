#pragma once
// The policies in force: what each says (its spec) and the kernel id records
// carry. Built by config/ from the policy files, read by every module that
// judges a job.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/v1.h"
#include "ftsentinel/v1/config.pb.h"

namespace fts::policy {

struct Policy {
  v1::Policy spec;
  std::string file;
  std::string sha256;  // hex, of the file's content as read
  uint32_t index = 0;  // the policy's kernel id: what the kernel maps and records carry
};

// At most this many policies per set: a reload gives the new set kernel ids
// the running one does not use (the kernel has kMaxKernelIds), so tasks
// switch from one complete policy to another, never see a half-written one.
constexpr size_t kMaxPolicies = 128;
constexpr uint32_t kMaxKernelIds = 256;

// All policies of one load, immutable once built; a reload builds a new set.
class PolicySet {
 public:
  const Policy* find(const std::string& name) const;
  // By kernel id: this set's policies, then the retained ones.
  const Policy* at(uint32_t index) const;
  const std::vector<Policy>& all() const { return policies_; }
  // This set's policies and the retained ones: what the kernel must hold.
  std::vector<const Policy*> in_force() const;
  void add(Policy p);  // the next id after the last one

  // Reload: gives the policies the lowest ids not in `taken`; false when
  // there are not enough free ids.
  bool renumber(const std::vector<uint32_t>& taken);
  // Reload: a policy of an older set that running jobs still use (its name
  // is gone from this set); kept alive and in force until they end.
  void retain(std::shared_ptr<const Policy> p) { retained_.push_back(std::move(p)); }
  const std::vector<std::shared_ptr<const Policy>>& retained() const { return retained_; }
  // Reload: records the kernel wrote under the previous set's id of a policy
  // (still in the ring buffer) resolve to the new policy of the same name.
  void alias(uint32_t old_index, uint32_t index) { aliases_[old_index] = index; }
  const std::map<uint32_t, uint32_t>& aliases() const { return aliases_; }

 private:
  std::vector<Policy> policies_;
  std::vector<std::shared_ptr<const Policy>> retained_;
  std::map<uint32_t, uint32_t> aliases_;
};

}  // namespace fts::policy
