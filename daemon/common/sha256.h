#pragma once
// SHA-256 for EVP, looked up once for the process: OpenSSL 3 fetches the
// algorithm again on every EVP_sha256() use (a lock and a lookup per digest),
// which the hot digests (the hasher's files, the tracker's path keys, the
// journal's chain) would pay per record.
#include <openssl/evp.h>

namespace fts {

inline const EVP_MD* sha256_md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md ? md : EVP_sha256();
}

}  // namespace fts
