#include "common/glob.h"

namespace fts {
namespace {

// Match one bracket class at p (pointing after '['); returns the position after ']'
// or npos when unclosed. Sets *hit when c is in the class.
size_t match_class(std::string_view p, size_t i, char c, bool* hit) {
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    negate = true;
    ++i;
  }
  bool in = false;
  bool first = true;
  while (i < p.size() && (p[i] != ']' || first)) {
    first = false;
    char lo = p[i];
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      char hi = p[i + 2];
      if (lo <= c && c <= hi) in = true;
      i += 3;
    } else {
      if (lo == c) in = true;
      ++i;
    }
  }
  if (i >= p.size()) return std::string_view::npos;
  *hit = (in != negate) && c != '/';
  return i + 1;
}

bool match_from(std::string_view p, size_t pi, std::string_view s, size_t si) {
  while (pi < p.size()) {
    char c = p[pi];
    if (c == '*') {
      bool dbl = pi + 1 < p.size() && p[pi + 1] == '*';
      if (dbl) {
        size_t next = pi + 2;
        // "**/" also matches zero directories.
        if (next < p.size() && p[next] == '/' && match_from(p, next + 1, s, si)) return true;
        for (size_t k = si; k <= s.size(); ++k)
          if (match_from(p, next, s, k)) return true;
        return false;
      }
      for (size_t k = si; k <= s.size(); ++k) {
        if (match_from(p, pi + 1, s, k)) return true;
        if (k < s.size() && s[k] == '/') break;
      }
      return false;
    }
    if (si >= s.size()) return false;
    if (c == '?') {
      if (s[si] == '/') return false;
    } else if (c == '[') {
      bool hit = false;
      size_t end = match_class(p, pi + 1, s[si], &hit);
      if (end == std::string_view::npos) return false;
      if (!hit) return false;
      pi = end;
      ++si;
      continue;
    } else if (c != s[si]) {
      return false;
    }
    ++pi;
    ++si;
  }
  return si == s.size();
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  return match_from(pattern, 0, path, 0);
}

std::string glob_check(std::string_view pattern) {
  if (pattern.empty()) return "empty glob";
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '[') {
      bool hit = false;
      if (match_class(pattern, i + 1, 'a', &hit) == std::string_view::npos)
        return "unclosed '[' in glob";
    }
    if (pattern[i] == '*' && i + 2 < pattern.size() && pattern[i + 1] == '*' &&
        pattern[i + 2] == '*')
      return "'***' is not a glob";
  }
  return "";
}

std::string glob_literal_basename(std::string_view pattern) {
  size_t slash = pattern.rfind('/');
  std::string_view last = slash == std::string_view::npos ? pattern : pattern.substr(slash + 1);
  if (last.empty() || last.find_first_of("*?[") != std::string_view::npos) return "";
  return std::string(last);
}

std::string path_basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace fts
