#pragma once
// A program run through the dynamic loader: `ld.so [OPTIONS] PROGRAM ARGS…`.
// The kernel sees ld-linux as the exe; what runs is PROGRAM, with whatever
// libraries the options inject. Parsed from argv as glibc's rtld does
// (elf/rtld.c, dl_main: options until the first non-option).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "decode/records.h"

namespace fts::state {

struct LoaderRun {
  std::string program;               // resolved against the cwd when relative; "" when none (ld.so --list …)
  std::vector<std::string> preload;  // each --preload value (a list, as LD_PRELOAD)
  std::vector<std::string> audit;    // each --audit value
};

// Is this executable the dynamic loader (ld-linux-x86-64.so.2, ld.so, ld-2.36.so…)?
bool is_dynamic_loader(std::string_view exe);

// The program and options of an exec of the dynamic loader; nullopt for any other exec.
std::optional<LoaderRun> loader_run(const decode::Exec& e);

}  // namespace fts::state
