#pragma once
// Secrets that ride in command lines and loader variables (cloud keys,
// bearer tokens, `--password=`, Hugging Face and GitHub tokens, passwords in
// URLs) replaced by "[REDACTED]" before any record leaves the host: argv,
// LD_PRELOAD values and /proc command lines go to the SIEM, journald and the
// journal otherwise. Known shapes only: a secret of no known shape passes.
#include <string>
#include <vector>

namespace fts {

inline constexpr const char* kRedacted = "[REDACTED]";

// Redacts `s` in place; true when something was.
bool redact_secrets(std::string* s);
// Each argument, and the value after a lone `--password`/`--token`-like flag.
bool redact_args(std::vector<std::string>* args);

}  // namespace fts
