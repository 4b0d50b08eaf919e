// The ring-buffer record decoder: whatever bytes the ring buffer (or a map
// value) holds, decode() returns a record or an error, reading only inside
// them (ASan), and what it returns is bounded by what it read.
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <variant>

#include "decode/records.h"

namespace {

[[noreturn]] void fail(const char* what, size_t got, size_t size) {
  std::fprintf(stderr, "%s: %zu bytes out of a %zu-byte record\n", what, got, size);
  std::abort();
}

// No decoded string is longer than the record could spell (a path gains at
// most one '/' per component).
void check_bounded(const fts::decode::Record& r, size_t size) {
  size_t limit = 2 * size + 1;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, fts::decode::Exec>) {
          size_t args = 0;
          for (const auto& a : x.args) args += a.size() + 1;
          if (x.exe.size() > limit || x.cwd.size() > limit || args > limit + 1) fail("exec strings", args, size);
        } else if constexpr (std::is_same_v<T, fts::decode::File>) {
          if (x.path.size() > limit || x.path2.size() > limit || x.exe.size() > limit) fail("file paths", x.path.size(), size);
        } else if constexpr (std::is_same_v<T, fts::decode::Dns> || std::is_same_v<T, fts::decode::DnsAnswer>) {
          if (x.name.size() > size) fail("dns name", x.name.size(), size);
        }
      },
      r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  if (auto r = fts::decode::decode(bytes)) {
    (void)fts::decode::header(*r);
    check_bounded(*r, size);
  }
  (void)fts::decode::decode_flow(1, bytes, 0);
  if (auto x = fts::decode::decode_exited_exe(1, bytes); x && x->exe.size() > 2 * size + 1)
    fail("exited exe", x->exe.size(), size);
  return 0;
}
