// glob_match against two references: fnmatch(3) with FNM_PATHNAME where the
// grammars agree (no "**", no escapes, no [:class:]), and for every pattern a
// plain backtracking matcher of the same grammar, on a step budget (it is
// exponential; inputs past the budget are compared with fnmatch only). The
// matcher itself must stay within O(pattern x path): libFuzzer's -timeout
// catches one that does not.
#include <fnmatch.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/glob.h"

namespace {

struct Budget {
  size_t steps = 0;
  bool spent() { return ++steps > 200000; }
};

// A class at p[i] (after '['): the position after ']' (npos: unclosed),
// *hit when c is in it. Bytes compare as unsigned, as in fnmatch.
size_t ref_class(std::string_view p, size_t i, unsigned char c, bool* hit) {
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) ++i;
  bool in = false;
  for (bool first = true; i < p.size() && (p[i] != ']' || first); first = false) {
    auto lo = static_cast<unsigned char>(p[i]);
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      in |= lo <= c && c <= static_cast<unsigned char>(p[i + 2]);
      i += 3;
    } else {
      in |= lo == c;
      ++i;
    }
  }
  if (i >= p.size()) return std::string_view::npos;
  *hit = (in != negate) && c != '/';
  return i + 1;
}

// -1: over budget.
int ref_match(std::string_view p, size_t pi, std::string_view s, size_t si, Budget* b) {
  while (pi < p.size()) {
    if (b->spent()) return -1;
    char c = p[pi];
    if (c == '*') {
      bool dbl = pi + 1 < p.size() && p[pi + 1] == '*';
      size_t next = pi + (dbl ? 2 : 1);
      if (dbl && next < p.size() && p[next] == '/') {
        if (int r = ref_match(p, next + 1, s, si, b); r != 0) return r;
      }
      for (size_t k = si; k <= s.size(); ++k) {
        if (int r = ref_match(p, next, s, k, b); r != 0) return r;
        if (!dbl && k < s.size() && s[k] == '/') break;
      }
      return 0;
    }
    if (si >= s.size()) return 0;
    if (c == '?') {
      if (s[si] == '/') return 0;
      ++pi;
    } else if (c == '[') {
      bool hit = false;
      size_t end = ref_class(p, pi + 1, static_cast<unsigned char>(s[si]), &hit);
      if (end == std::string_view::npos || !hit) return 0;
      pi = end;
    } else {
      if (c != s[si]) return 0;
      ++pi;
    }
    ++si;
  }
  return si == s.size() ? 1 : 0;
}

// Where fnmatch(FNM_PATHNAME | FNM_NOESCAPE) reads the pattern as we do.
bool fnmatch_comparable(std::string_view p, std::string_view s) {
  if (p.find('\0') != p.npos || s.find('\0') != s.npos) return false;
  if (p.find("**") != p.npos || !fts::glob_check(p).empty()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '[') continue;
    bool hit = false;
    size_t end = ref_class(p, i + 1, 'a', &hit);
    std::string_view cls = p.substr(i, end - i);
    // POSIX classes, and '/' inside brackets (which FNM_PATHNAME treats specially).
    if (cls.find("[:") != cls.npos || cls.find("[=") != cls.npos || cls.find("[.") != cls.npos ||
        cls.find('/') != cls.npos)
      return false;
    i = end - 1;
  }
  return true;
}

[[noreturn]] void mismatch(const char* ref, bool want, std::string_view p, std::string_view s) {
  std::fprintf(stderr, "glob_match(\"%.*s\", \"%.*s\") = %d, %s says %d\n", static_cast<int>(p.size()), p.data(),
               static_cast<int>(s.size()), s.data(), !want, ref, want);
  std::abort();
}

}  // namespace

// Input: the pattern, a NUL, the path.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  if (nul == in.npos) return 0;
  std::string_view p = in.substr(0, nul), s = in.substr(nul + 1);
  bool got = fts::glob_match(p, s);
  Budget budget;
  if (int want = ref_match(p, 0, s, 0, &budget); want >= 0 && got != (want == 1)) mismatch("backtracking", want, p, s);
  if (fnmatch_comparable(p, s)) {
    bool want = fnmatch(std::string(p).c_str(), std::string(s).c_str(), FNM_PATHNAME | FNM_NOESCAPE) == 0;
    if (got != want) mismatch("fnmatch", want, p, s);
  }
  return 0;
}
