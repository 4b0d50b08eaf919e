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

namespace fts::policy {

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

}  // namespace fts::policy
