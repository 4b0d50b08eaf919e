#include "common/redact.h"

#include <cctype>
#include <regex>
#include <string_view>

namespace fts {
namespace {

// A key that names a secret: it ends in one of these words (`--hf_token`,
// `AWS_SECRET_ACCESS_KEY`), so `--tokenizer` and `--max_tokens` are not one.
// The patterns start at the word, never with a run of key characters before
// it: libstdc++'s regex backtracks, and `[A-Za-z0-9_.-]*word` costs the
// square of an argument's length (a 3 KiB argv stalled the daemon for
// seconds per process).
constexpr const char* kSecretWord =
    "(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|"
    "private[_-]?key|credentials?)";
constexpr std::string_view kSecretWords[] = {"password", "passwd", "passphrase", "secret", "token",
                                             "api_key", "api-key", "apikey", "access_key", "access-key",
                                             "secret_key", "secret-key", "private_key", "private-key",
                                             "credential", "credentials"};

struct Shape {
  std::regex re;
  const char* replacement;
};

const std::vector<Shape>& shapes() {
  static const auto kFlags = std::regex::ECMAScript | std::regex::icase | std::regex::optimize;
  static const std::vector<Shape> kShapes = {
      // key=value, key: value (`--password=…`, `token: …`, `"api_key": "…"`)
      {std::regex(std::string("(") + kSecretWord + "\"?\\s*[=:]\\s*)(\"[^\"]*\"|'[^']*'|[^\\s&,;\"']+)", kFlags),
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

// `--password` alone: its value is the next argument. A flag of key
// characters that ends in a secret word (compared, not matched by a regex).
bool secret_flag(const std::string& arg) {
  if (arg.size() < 3 || arg[0] != '-') return false;
  std::string lower;
  lower.reserve(arg.size());
  for (char c : std::string_view(arg).substr(arg[1] == '-' ? 2 : 1)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (std::string_view w : kSecretWords)
    if (lower.ends_with(w)) return true;
  return false;
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
