// A policy's data.manifest (sha256sum format): any text parses into entries
// and line:column errors, and lookups on what it listed find it.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "policy/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<fts::policy::ManifestError> errors;
  auto m = fts::policy::Manifest::parse(text, "/nonexistent/fts-fuzz/approved", &errors);
  for (const auto& e : errors) {
    if (e.line == 0 || e.line > size + 1) {
      std::fprintf(stderr, "error at line %u of a %zu-byte manifest: %s\n", e.line, size, e.what.c_str());
      std::abort();
    }
  }
  // Each line's name, as a path under the manifest's directory.
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.size() : nl + 1;
    if (line.size() > 66) {
      std::string path = m.dir() + "/" + line.substr(66);
      (void)m.covers(path);
      (void)m.find(path);
    }
  }
  (void)m.find("/nonexistent/fts-fuzz/approved/../x");
  return 0;
}
