#pragma once
// Path globs of policies: `*` and `?` stop at '/', `**` crosses it
// ("**/torchrun" matches "/usr/bin/torchrun"), `[abc]` / `[!a-z]` classes.
#include <string>
#include <string_view>

namespace fts {

bool glob_match(std::string_view pattern, std::string_view path);

// An error message if the pattern is malformed (unclosed class, empty), else "".
std::string glob_check(std::string_view pattern);

// The literal last component of a glob ("torchrun" for "**/torchrun"), or ""
// when the last component has wildcards.
std::string glob_literal_basename(std::string_view pattern);

// The last component of a path ("torchrun" for "/usr/bin/torchrun").
std::string path_basename(const std::string& path);

// Does `path` name an entry below directory `dir` ("/a/b/c" is below "/a/b",
// "/a/bc" and "/a/b" are not)? Both canonical, `dir` without a trailing slash.
bool path_under(std::string_view path, std::string_view dir);

}  // namespace fts
