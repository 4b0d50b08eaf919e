#include "common/glob.h"

#include <algorithm>
#include <cstdint>
#include <vector>

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
    // Bytes compare unsigned, as fnmatch's do: "[a-\xff]" holds 0x80.
    auto lo = static_cast<unsigned char>(p[i]), uc = static_cast<unsigned char>(c);
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      auto hi = static_cast<unsigned char>(p[i + 2]);
      if (lo <= uc && uc <= hi) in = true;
      i += 3;
    } else {
      if (lo == uc) in = true;
      ++i;
    }
  }
  if (i >= p.size()) return std::string_view::npos;
  *hit = (in != negate) && c != '/';
  return i + 1;
}

// One step of a pattern: what kind it is and where the next one starts.
enum class Step { kLiteral, kAny, kClass, kStar, kDoubleStar };
struct Token {
  Step step;
  size_t next;  // npos: an unclosed class
};

Token token_at(std::string_view p, size_t i) {
  switch (p[i]) {
    case '*':
      if (i + 1 < p.size() && p[i + 1] == '*') return {Step::kDoubleStar, i + 2};
      return {Step::kStar, i + 1};
    case '?': return {Step::kAny, i + 1};
    case '[': {
      bool hit = false;
      return {Step::kClass, match_class(p, i + 1, 'a', &hit)};
    }
    default: return {Step::kLiteral, i + 1};
  }
}

// The set of pattern positions a path prefix can have reached (an NFA's
// states): matching walks the path once, O(pattern x path) steps whatever
// the stars, where backtracking was exponential ("/scratch/*-*-*-*/**"
// against a long run of '-'). A "**" is either just reached (kAt: it may
// still match zero directories, skipping "**/") or already inside a match
// (kInside: it has consumed characters, so the '/' after it must come).
constexpr uint8_t kAt = 1, kInside = 2;

class Positions {
 public:
  explicit Positions(size_t n) {
    if (2 * (n + 1) > sizeof(inline_)) heap_.resize(2 * (n + 1));
    cur_ = heap_.empty() ? inline_ : heap_.data();
    next_ = cur_ + n + 1;
    std::fill(cur_, cur_ + 2 * (n + 1), 0);
  }
  uint8_t at(size_t i) const { return cur_[i]; }
  bool empty() const { return lo_ > hi_; }
  size_t lo() const { return lo_; }
  size_t hi() const { return hi_; }
  void add(size_t i, uint8_t how = kAt) { add_to(cur_, i, how, &lo_, &hi_); }
  void add_next(size_t i, uint8_t how = kAt) { add_to(next_, i, how, &next_lo_, &next_hi_); }
  // The next positions become the current ones.
  void advance() {
    if (!empty()) std::fill(cur_ + lo_, cur_ + hi_ + 1, 0);
    std::swap(cur_, next_);
    lo_ = next_lo_, hi_ = next_hi_;
    next_lo_ = SIZE_MAX, next_hi_ = 0;
  }

 private:
  static void add_to(uint8_t* set, size_t i, uint8_t how, size_t* lo, size_t* hi) {
    set[i] |= how;
    *lo = std::min(*lo, i);
    *hi = std::max(*hi, i);
  }
  uint8_t inline_[256];
  std::vector<uint8_t> heap_;
  uint8_t* cur_;
  uint8_t* next_;
  size_t lo_ = SIZE_MAX, hi_ = 0, next_lo_ = SIZE_MAX, next_hi_ = 0;
};

// Adds what the current positions reach without consuming a character: past
// a star (which may match nothing), and past "**/" just reached (zero
// directories). Such moves only go forward: one ascending pass closes the set.
void close_over_empty(std::string_view p, Positions* at) {
  for (size_t i = at->lo(); i <= at->hi() && i < p.size(); ++i) {
    uint8_t how = at->at(i);
    if (!how) continue;
    Token t = token_at(p, i);
    if (t.step != Step::kStar && t.step != Step::kDoubleStar) continue;
    at->add(t.next);
    if (t.step == Step::kDoubleStar && (how & kAt) && t.next < p.size() && p[t.next] == '/') at->add(t.next + 1);
  }
}

// Moves every current position over the path character c.
void step_over(std::string_view p, char c, Positions* at) {
  for (size_t i = at->lo(); i <= at->hi() && i < p.size(); ++i) {
    if (!at->at(i)) continue;
    Token t = token_at(p, i);
    bool hit = false;
    switch (t.step) {
      case Step::kStar:
        if (c != '/') at->add_next(i);  // '*' stays within one component
        break;
      case Step::kDoubleStar: at->add_next(i, kInside); break;
      case Step::kAny:
        if (c != '/') at->add_next(t.next);
        break;
      case Step::kClass:
        match_class(p, i + 1, c, &hit);
        if (hit) at->add_next(t.next);
        break;
      case Step::kLiteral:
        if (p[i] == c) at->add_next(t.next);
        break;
    }
  }
  at->advance();
}

bool has_unclosed_class(std::string_view p) {
  for (size_t i = 0; i < p.size(); i = token_at(p, i).next)
    if (token_at(p, i).next == std::string_view::npos) return true;
  return false;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  // The pattern's literal head ("/usr/" of "/usr/**") compared as bytes
  // first: most paths leave a base-list glob there, without the NFA (the
  // classify stage matches every new path against ~80 globs). The rest
  // starts fresh where the head ends, as a literal step leaves it.
  size_t head = 0;
  while (head < pattern.size() && pattern[head] != '*' && pattern[head] != '?' && pattern[head] != '[') {
    if (head >= path.size() || pattern[head] != path[head]) return false;
    ++head;
  }
  if (head == pattern.size()) return head == path.size();
  pattern.remove_prefix(head);
  path.remove_prefix(head);
  if (has_unclosed_class(pattern)) return false;  // a match would have to pass it
  Positions at(pattern.size());
  at.add(0);
  close_over_empty(pattern, &at);
  for (char c : path) {
    step_over(pattern, c, &at);
    if (at.empty()) return false;
    close_over_empty(pattern, &at);
  }
  return at.at(pattern.size()) != 0;
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

bool path_under(std::string_view path, std::string_view dir) {
  return path.size() > dir.size() + 1 && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

}  // namespace fts
