#include "common/redact.h"

#include <regex>

namespace fts {
namespace {

// A key that names a secret: it ends in one of these words (`--hf_token`,
// `AWS_SECRET_ACCESS_KEY`), so `--tokenizer` and `--max_tokens` are not one.
constexpr const char* kSecretKey =
    "[A-Za-z0-9_.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|"
    "private[_-]?key|credentials?)";

struct Shape {
  std::regex re;
  const char* replacement;
};

const std::vector<Shape>& shapes() {
  static const auto kFlags = std::regex::ECMAScript | std::regex::icase | std::regex::optimize;
  static const std::vector<Shape> kShapes = {
      // key=value, key: value (`--password=…`, `token: …`, `"api_key": "…"`)
      {std::regex(std::string("(") + kSecretKey + "\"?\\s*[=:]\\s*)(\"[^\"]*\"|'[^']*'|[^\\s&,;\"']+)", kFlags),
       "$1[REDACTED]"},
      // HTTP authorization: Bearer … / Basic …
      {std::regex("(bearer\\s+)[A-Za-z0-9._~+/=-]{8,}", kFlags), "$1[REDACTED]"},
      {std::regex("(authorization:\\s*basic\\s+)[A-Za-z0-9+/=]{8,}", kFlags), "$1[REDACTED]"},
      // user:password@ in a URL
      {std::regex("(://[^/\\s:@]+:)[^@\\s/]+@", kFlags), "$1[REDACTED]@"},
      // AWS access key ids (the secret key goes with a key name above)
      {std::regex("\\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\\b", std::regex::ECMAScript), "[REDACTED]"},
      // Hugging Face, GitHub and Slack tokens
      {std::regex("\\bhf_[A-Za-z0-9]{20,}", std::regex::ECMAScript), "[REDACTED]"},
      {std::regex("\\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,})", std::regex::ECMAScript),
       "[REDACTED]"},
      {std::regex("\\bxox[abprs]-[A-Za-z0-9-]{10,}", std::regex::ECMAScript), "[REDACTED]"},
  };
  return kShapes;
}

// `--password` alone: its value is the next argument.
bool secret_flag(const std::string& arg) {
  static const std::regex kFlag(std::string("^--?") + kSecretKey + "$", std::regex::ECMAScript | std::regex::icase);
  return arg.size() > 2 && arg[0] == '-' && std::regex_match(arg, kFlag);
}

}  // namespace

bool redact_secrets(std::string* s) {
  if (s->size() < 8) return false;  // no shape is shorter
  bool changed = false;
  for (const Shape& shape : shapes()) {
    if (!std::regex_search(*s, shape.re)) continue;
    std::string out = std::regex_replace(*s, shape.re, shape.replacement);
    if (out != *s) {
      *s = std::move(out);
      changed = true;
    }
  }
  return changed;
}

bool redact_args(std::vector<std::string>* args) {
  bool changed = false;
  for (size_t i = 0; i < args->size(); ++i) {
    std::string& a = (*args)[i];
    if (i > 0 && secret_flag((*args)[i - 1]) && a != kRedacted && !a.empty() && a[0] != '-') {
      a = kRedacted;
      changed = true;
      continue;
    }
    changed |= redact_secrets(&a);
  }
  return changed;
}

}  // namespace fts
