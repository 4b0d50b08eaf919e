#include "writers/identity.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>

#include <spdlog/spdlog.h>

#include "common/glob.h"
#include "state/proc.h"

namespace fts::writers {

std::set<std::string> writer_names(const policy::PolicySet& set) {
  std::set<std::string> out;
  for (const auto& p : set.all())
    for (const auto& w : p.spec.data().writers())
      if (std::string base = glob_literal_basename(w); !base.empty()) out.insert(base);
  return out;
}

void Identity::apply(const policy::PolicySet& set) {
  if (!kernel_) return;
  std::set<std::string> names = writer_names(set);
  if (auto st = kernel_->set_writer_names(names); !st) spdlog::error("writer names: {}", st.error());
  seed_running(names);
}

namespace {

// The loader variables glibc honours, in the environment a process shows now.
bool clean_environment(const std::string& root, uint32_t pid) {
  return state::read_environ(root, pid, {"LD_PRELOAD", "LD_AUDIT"}).empty();
}

}  // namespace

// What the kernel could not see: writers exec'd before the daemon loaded.
// Their exe's inode comes from /proc/PID/exe (the file itself, whatever
// namespace named it) and their environment from /proc/PID/environ, which
// the process could have rewritten: said in the README, and only for
// processes that predate the daemon (the kernel's own record wins).
void Identity::seed_running(const std::set<std::string>& names) const {
  if (names.empty()) return;
  for (uint32_t pid : state::list_pids(proc_root_)) {
    std::string link = proc_root_ + "/" + std::to_string(pid) + "/exe";
    char exe[PATH_MAX];
    ssize_t n = readlink(link.c_str(), exe, sizeof(exe));
    if (n <= 0 || !names.count(path_basename(std::string(exe, static_cast<size_t>(n))))) continue;
    struct stat st {};
    auto ps = state::read_stat(proc_root_, pid);
    if (!ps || stat(link.c_str(), &st) != 0) continue;
    decode::WriterExec w;
    w.task = {pid, ps->start_ticks * decode::kNsPerTick};
    w.dev = decode::kernel_dev(st.st_dev);
    w.ino = st.st_ino;
    w.clean = clean_environment(proc_root_, pid);
    w.from_proc = true;
    if (auto s = kernel_->seed_writer_exec(w); !s) spdlog::debug("writer {} not seeded: {}", pid, s.error());
  }
}

Verdict Identity::check(const decode::TaskId& task, const std::string& exe) const {
  if (!kernel_) return {false, "no kernel record of its exec (sensor not loaded)"};
  auto w = kernel_->writer_exec(task.tgid);
  if (!w || !task.start_ns || w->task.start_ticks() != task.start_ticks())
    return {false, "the kernel saw it exec no file named like an approved writer"};
  if (!w->clean) return {false, "LD_PRELOAD or LD_AUDIT in its environment when it exec'd"};
  struct stat st {};
  if (stat(exe.c_str(), &st) != 0) return {false, "no file at " + exe + " here"};
  if (decode::kernel_dev(st.st_dev) != w->dev || st.st_ino != w->ino)
    return {false, "the file it exec'd is not the one at " + exe + " (another file by that name)"};
  return {true, {}};
}

}  // namespace fts::writers
