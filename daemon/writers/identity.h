#pragma once
// Who an approved writer is. A policy names its writers by path
// (`data.writers`); a path alone is what a process can fake: the same name
// in its own mount namespace (a tmpfs over the writer's directory), or the
// real binary with a library preloaded into it. So the kernel records, at
// each exec of a file named like a writer, the file's dev/inode and whether
// the loader's environment was clean (bpf/process.bpf.c, writer_execs), and
// a process is the approved writer only when that record names the very
// file its path names here, in the daemon's mount namespace.
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "common/result.h"
#include "decode/records.h"
#include "policy/policy.h"

namespace fts::writers {

// The kernel side: the sensor implements it, tests fake it.
class KernelWriters {
 public:
  virtual ~KernelWriters() = default;
  // Replaces the basenames whose execs the kernel records.
  virtual Status set_writer_names(const std::set<std::string>& names) = 0;
  virtual std::optional<decode::WriterExec> writer_exec(uint32_t tgid) const = 0;
  // A writer that predates the daemon: recorded only where the kernel has
  // no record of its own for the pid.
  virtual Status seed_writer_exec(const decode::WriterExec& w) = 0;
};

struct Verdict {
  bool approved = false;
  std::string why_not;  // when not: what a responder reads in the alert
};

// The basenames of every policy's writers: what the kernel watches execs of.
std::set<std::string> writer_names(const policy::PolicySet& set);

class Identity {
 public:
  // `kernel` null: no writer can be verified, so none is approved.
  Identity(KernelWriters* kernel, std::string proc_root) : kernel_(kernel), proc_root_(std::move(proc_root)) {}

  // The set's writer names go to the kernel; writers already running are
  // seeded from /proc (their exe's inode, their environment now).
  void apply(const policy::PolicySet& set);
  // Is the process `task`, running the executable at `exe`, the writer that
  // path names? Its exec record must be its own (same start), clean, and of
  // the file at `exe` here.
  Verdict check(const decode::TaskId& task, const std::string& exe) const;

 private:
  void seed_running(const std::set<std::string>& names) const;
  KernelWriters* kernel_;
  std::string proc_root_;
};

}  // namespace fts::writers
