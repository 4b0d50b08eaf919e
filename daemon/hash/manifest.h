#pragma once
// A policy's `data.manifest`: approved content hashes in sha256sum format
// ("<64 hex>  <name>", names relative to the manifest's directory). Parsed
// strictly (a bad line is an error with its line and column), looked up by
// the absolute path of a file.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace fts::hash {

struct ManifestError {
  uint32_t line = 0;
  uint32_t column = 0;
  std::string what;
};

class Manifest {
 public:
  // `text` is the manifest's content; `dir` where its names are relative to.
  static Manifest parse(const std::string& text, const std::string& dir, std::vector<ManifestError>* errors);
  // Reads and parses a manifest file ("" dir: the file's own directory).
  static Result<Manifest> load(const std::string& file, std::vector<ManifestError>* errors);

  // The approved sha256 (lowercase hex) of `path`, if listed.
  std::optional<std::string> find(const std::string& path) const;
  // Is `path` under the manifest's directory (so the manifest speaks for it)?
  bool covers(const std::string& path) const;
  size_t size() const { return entries_.size(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string relative(const std::string& path) const;  // "" when outside
  std::string dir_;
  std::string real_dir_;  // the directory with symlinks resolved
  std::map<std::string, std::string> entries_;  // normalized relative name -> hex
};

// Manifests by path, re-read when the file changes on disk (compared by
// device, inode, size, mtime and ctime on each use; a stat is cheap). A
// manifest that stops parsing keeps its last good version.
class ManifestCache {
 public:
  struct Verdict {
    std::string verdict;   // match | mismatch | unlisted | "" (not covered)
    std::string expected;  // the manifest's sha256, when listed
    std::string error;     // the manifest could not be read
  };
  Verdict check(const std::string& manifest, const std::string& path, const std::string& sha256);

 private:
  struct Entry {
    bool seen = false;
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    std::optional<Manifest> m;
    std::string error;
  };
  std::map<std::string, Entry> cache_;
};

}  // namespace fts::hash
