#include "hash/manifest_cache.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace fts::hash {

using policy::Manifest;
using policy::ManifestError;

ManifestCache::Verdict ManifestCache::check(const std::string& manifest, const std::string& path,
                                            const std::string& sha256) {
  Verdict v;
  if (manifest.empty() || path == manifest) return v;
  Entry& e = cache_[manifest];
  struct stat st {};
  if (stat(manifest.c_str(), &st) != 0) {
    v.error = "cannot read manifest " + manifest + ": " + std::strerror(errno);
    if (!e.m) return v;  // never read: nothing to say; a vanished manifest keeps its last version
  } else if (!e.seen || e.dev != st.st_dev || e.ino != st.st_ino || e.size != static_cast<uint64_t>(st.st_size) ||
             e.mtime_ns != st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec ||
             e.ctime_ns != st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec) {
    // Remember the stat even when it fails to parse: one error per change, not per file.
    e.seen = true;
    e.dev = st.st_dev;
    e.ino = st.st_ino;
    e.size = static_cast<uint64_t>(st.st_size);
    e.mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
    e.ctime_ns = st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec;
    std::vector<ManifestError> errors;
    auto m = Manifest::load(manifest, &errors);
    if (!m || !errors.empty()) {
      e.error = !m ? m.error()
                   : manifest + ":" + std::to_string(errors[0].line) + ":" + std::to_string(errors[0].column) +
                         ": data.manifest: " + errors[0].what;
      spdlog::error("{}{}", e.error, e.m ? "; keeping its previous version" : "");
    } else {
      e.m = std::move(*m);
      e.error.clear();
      spdlog::info("manifest {}: {} entries", manifest, e.m->size());
    }
  }
  if (!e.m) {
    v.error = e.error;
    return v;
  }
  if (!e.m->covers(path)) return v;
  auto want = e.m->find(path);
  if (!want) {
    v.verdict = "unlisted";
  } else {
    v.expected = *want;
    v.verdict = *want == sha256 ? "match" : "mismatch";
  }
  if (v.error.empty()) v.error = e.error;
  return v;
}

}  // namespace fts::hash
