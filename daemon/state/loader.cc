#include "state/loader.h"

#include <array>
#include <filesystem>

#include "common/glob.h"

namespace fts::state {
namespace {

// rtld's options that take a value; the others (--list, --verify, …) stand alone.
constexpr std::array<std::string_view, 7> kWithValue = {
    "--library-path", "--inhibit-rpath", "--audit", "--preload", "--argv0", "--glibc-hwcaps-prepend",
    "--glibc-hwcaps-mask"};

bool takes_value(std::string_view a) {
  for (std::string_view o : kWithValue)
    if (a == o) return true;
  return false;
}

std::string resolve(const std::string& program, const std::string& cwd) {
  // rtld searches the library path for a bare name, not PATH: keep it as given.
  if (program.find('/') == std::string::npos) return program;
  std::filesystem::path p(program);
  if (p.is_relative() && !cwd.empty()) p = std::filesystem::path(cwd) / p;
  return p.lexically_normal().string();
}

}  // namespace

bool is_dynamic_loader(std::string_view exe) {
  std::string name(exe.substr(exe.rfind('/') + 1));
  return glob_match("ld-linux*.so*", name) || glob_match("ld.so*", name) || glob_match("ld-[0-9]*.so", name) ||
         glob_match("ld64.so*", name);
}

std::optional<LoaderRun> loader_run(const decode::Exec& e) {
  if (!is_dynamic_loader(e.exe)) return std::nullopt;
  LoaderRun out;
  const auto& a = e.args;
  for (size_t i = 1; i < a.size(); ++i) {
    if (takes_value(a[i]) && i + 1 < a.size()) {
      if (a[i] == "--preload") out.preload.push_back(a[i + 1]);
      if (a[i] == "--audit") out.audit.push_back(a[i + 1]);
      ++i;
      continue;
    }
    if (a[i] == "--") {  // the end of the options: the program follows
      if (i + 1 < a.size()) out.program = resolve(a[i + 1], e.cwd);
      break;
    }
    if (a[i].rfind("--", 0) == 0) continue;  // a flag (--list, --verify, …)
    out.program = resolve(a[i], e.cwd);
    break;
  }
  return out;
}

}  // namespace fts::state
