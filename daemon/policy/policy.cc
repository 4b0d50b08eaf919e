#include "policy/policy.h"

#include <set>

namespace fts::policy {

const Policy* PolicySet::find(const std::string& name) const {
  for (const auto& p : policies_)
    if (p.spec.name() == name) return &p;
  return nullptr;
}

const Policy* PolicySet::at(uint32_t index) const {
  for (const auto& p : policies_)
    if (p.index == index) return &p;
  for (const auto& p : retained_)
    if (p->index == index) return p.get();
  if (auto it = aliases_.find(index); it != aliases_.end())
    for (const auto& p : policies_)
      if (p.index == it->second) return &p;
  return nullptr;
}

std::vector<const Policy*> PolicySet::in_force() const {
  std::vector<const Policy*> out;
  for (const auto& p : policies_) out.push_back(&p);
  for (const auto& p : retained_) out.push_back(p.get());
  return out;
}

void PolicySet::add(Policy p) {
  p.index = policies_.empty() ? 0 : policies_.back().index + 1;
  policies_.push_back(std::move(p));
}

bool PolicySet::renumber(const std::vector<uint32_t>& taken) {
  std::set<uint32_t> used(taken.begin(), taken.end());
  uint32_t next = 0;
  for (auto& p : policies_) {
    while (next < kMaxKernelIds && used.count(next)) ++next;
    if (next >= kMaxKernelIds) return false;
    p.index = next++;
  }
  return true;
}

}  // namespace fts::policy
