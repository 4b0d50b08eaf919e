#pragma once
// Where a job's remote code lives: the Python modules Hugging Face fetches
// for `trust_remote_code` and imports (remote-code-in-job). The hash stage
// follows writes there like outputs, so the rule gets each module's hash.
#include <string>

#include "policy/policy.h"
#include "state/process_table.h"

namespace fts::rules {

// The process's modules cache, from its environment at exec (the kernel's
// scan, jobs/run_identity.h): $HF_MODULES_CACHE, else $HF_HOME/modules,
// else $HOME/.cache/huggingface/modules (HOME from the passwd entry of its
// uid when unset). Hugging Face puts transformers_modules/ under it.
std::string modules_cache(const state::Process& p);

// Is `path` a Python module under the process's modules cache, or matched
// by the policy's process.remote_code globs?
bool remote_code_path(const state::Process* p, const policy::Policy* policy, const std::string& path);

}  // namespace fts::rules
