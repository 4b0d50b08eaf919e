#pragma once
// The daemon config and the policies, loaded and checked. Paths in a config
// are relative to the file that names them.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/yaml_proto.h"
#include "common/v1.h"
#include "ftsentinel/v1/config.pb.h"

namespace fts::config {

struct Policy {
  v1::Policy spec;
  std::string file;
  uint32_t index = 0;  // position in the set; what the kernel maps carry
};

// All policies of one load, immutable once built; a reload builds a new set.
class PolicySet {
 public:
  const Policy* find(const std::string& name) const;
  const Policy* at(uint32_t index) const;
  const std::vector<Policy>& all() const { return policies_; }
  void add(Policy p);

 private:
  std::vector<Policy> policies_;
};

struct Loaded {
  v1::DaemonConfig daemon;
  std::string config_file;
  std::shared_ptr<const PolicySet> policies;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  bool ok() const { return errors.empty(); }
};

// Reads the daemon config, fills defaults, then every *.yaml in policies_dir.
Loaded load(const std::string& config_file);

// The policies of one directory (sorted by file name).
std::shared_ptr<const PolicySet> load_policies(const std::string& dir, std::vector<Diagnostic>* errors,
                                               std::vector<Diagnostic>* warnings);

// Checks of one policy that are not about types (names, globs, sections not
// yet enforced), appended to errors / warnings.
void check_policy(const YAML::Node& root, const Policy& p, std::vector<Diagnostic>* errors,
                  std::vector<Diagnostic>* warnings);

}  // namespace fts::config
