#pragma once
// Manifests (policy/manifest.h) by path, for the hash tracker: each file's
// hash checked against the manifest of its policy as it is now on disk.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "policy/manifest.h"

namespace fts::hash {

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
    std::optional<policy::Manifest> m;
    std::string error;
  };
  std::map<std::string, Entry> cache_;
};

}  // namespace fts::hash
