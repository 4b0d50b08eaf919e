#pragma once
// The daemon config and the policy files, read and checked; what a loaded
// policy is lives in policy/. Paths in a config are relative to the file
// that names them.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/v1.h"
#include "config/yaml_proto.h"
#include "ftsentinel/v1/config.pb.h"
#include "policy/policy.h"

namespace fts::config {

struct Loaded {
  v1::DaemonConfig daemon;
  std::string config_file;
  std::shared_ptr<const policy::PolicySet> policies;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
  bool ok() const { return errors.empty(); }
};

// Reads the daemon config, fills defaults, then every *.yaml in policies_dir.
Loaded load(const std::string& config_file);

// The policies of one directory (sorted by file name).
std::shared_ptr<const policy::PolicySet> load_policies(const std::string& dir, std::vector<Diagnostic>* errors,
                                               std::vector<Diagnostic>* warnings);

// Checks of one policy that are not about types (names, globs, addresses,
// sizes, contradictions between sections), appended to errors / warnings.
void check_policy(const YAML::Node& root, const policy::Policy& p, std::vector<Diagnostic>* errors,
                  std::vector<Diagnostic>* warnings);

// Is every path `inner` matches also matched by `outer` (judged on inner's
// literal directory part)? For contradictions between data sections.
bool glob_within(const std::string& inner, const std::string& outer);

}  // namespace fts::config
