// YAML -> proto: a daemon config or a policy file of any bytes is read into
// diagnostics (file:line:column), never a crash or an escaping exception.
// The first byte picks which: the daemon config (config::load) or one policy
// in a directory (config::load_policies, which also runs the policy checks).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"

namespace {

namespace fs = std::filesystem;

const std::string& scratch() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/fts-fuzz-config-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    fs::create_directory(std::string(tmpl) + "/policies");
    return std::string(tmpl);
  }();
  return dir;
}

void write(const std::string& path, std::string_view text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(text.data(), static_cast<std::streamsize>(text.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string& dir = scratch();
  if (data[0] & 1) {
    // Its policies_dir, if it names one, may be anywhere: only *.yaml there is read.
    write(dir + "/ftsentinel.yaml", text);
    (void)fts::config::load(dir + "/ftsentinel.yaml");
  } else {
    write(dir + "/policies/p.yaml", text);
    std::vector<fts::config::Diagnostic> errors, warnings;
    (void)fts::config::load_policies(dir + "/policies", &errors, &warnings);
    for (const auto& d : errors) (void)d.str();
  }
  return 0;
}
