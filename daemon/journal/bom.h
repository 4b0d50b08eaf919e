#pragma once
// The observed ML-BOM of a run (`ftsentinel export RUN --format cyclonedx`):
// a CycloneDX 1.6 JSON document of what the run actually used, from its
// journal: the datasets and shards it read, the models and checkpoints it
// loaded, the remote code it fetched or imported, the outputs it wrote, and
// the executables it ran, each with the host and time it was seen.
#include <functional>
#include <optional>
#include <string>

#include "journal/review.h"

namespace fts::journal {

struct BomOptions {
  std::string serial_number;  // "urn:uuid:…"; empty: a random (version 4) one
  std::string timestamp;      // RFC 3339; empty: now
  // A written file the journal holds no digest of and no reason for it (the
  // daemon never hashed it): its SHA-256 now, at export, or nullopt when it
  // cannot be read. Unset: such a file is listed without a hash.
  std::function<std::optional<std::string>(const std::string& path)> hash_now;
};

// `rv` is review(run). Pretty-printed JSON, one trailing newline.
std::string cyclonedx_bom(const Loaded& run, const v1::Review& rv, const BomOptions& o);

}  // namespace fts::journal
