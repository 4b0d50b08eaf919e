#include "common/redact.h"

#include <cctype>
#include <memory>
#include <stdexcept>
#include <re2/re2.h>
#include <string_view>

namespace fts {
namespace {

// A key that names a secret: it ends in one of these words (`--hf_token`,
// `AWS_SECRET_ACCESS_KEY`), so `--tokenizer` and `--max_tokens` are not one.
// RE2, not <regex>: RE2 matches in time linear in the input, where
// libstdc++'s backtracking regex cost the square of a long argument's length
// and ~200 µs per alert message (a third of the daemon's CPU under an alert
// flood, tests/bench/soak.py).
constexpr const char* kSecretWord =
    "(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|"
    "private[_-]?key|credentials?)";
constexpr std::string_view kSecretWords[] = {"password", "passwd", "passphrase", "secret", "token",
                                             "api_key", "api-key", "apikey", "access_key", "access-key",
                                             "secret_key", "secret-key", "private_key", "private-key",
                                             "credential", "credentials"};

struct Shape {
  std::unique_ptr<RE2> re;
  const char* replacement;  // RE2's rewrite: \1 is the first group
};

Shape shape(const std::string& pattern, const char* replacement) {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_encoding(RE2::Options::EncodingLatin1);  // bytes, as a process wrote them: argv need not be UTF-8
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok()) throw std::logic_error("redact: bad pattern " + pattern + ": " + re->error());
  return Shape{std::move(re), replacement};
}

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> kShapes = [] {
    std::vector<Shape> v;
    // key=value, key: value (`--password=…`, `token: …`, `"api_key": "…"`)
    v.push_back(shape(std::string("(?i)(") + kSecretWord + "\"?\\s*[=:]\\s*)(\"[^\"]*\"|'[^']*'|[^\\s&,;\"']+)",
                      "\\1[REDACTED]"));
    // HTTP authorization: Bearer … / Basic …
    v.push_back(shape("(?i)(bearer\\s+)[A-Za-z0-9._~+/=-]{8,}", "\\1[REDACTED]"));
    v.push_back(shape("(?i)(authorization:\\s*basic\\s+)[A-Za-z0-9+/=]{8,}", "\\1[REDACTED]"));
    // user:password@ in a URL
    v.push_back(shape("(://[^/\\s:@]+:)[^@\\s/]+@", "\\1[REDACTED]@"));
    // AWS access key ids (the secret key goes with a key name above)
    v.push_back(shape("\\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\\b", "[REDACTED]"));
    // Hugging Face, GitHub and Slack tokens
    v.push_back(shape("\\bhf_[A-Za-z0-9]{20,}", "[REDACTED]"));
    v.push_back(shape("\\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,})", "[REDACTED]"));
    v.push_back(shape("\\bxox[abprs]-[A-Za-z0-9-]{10,}", "[REDACTED]"));
    return v;
  }();
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
  for (const Shape& shape : shapes())
    if (RE2::GlobalReplace(s, *shape.re, shape.replacement) > 0) changed = true;
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
