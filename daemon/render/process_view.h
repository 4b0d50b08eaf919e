#pragma once
// A process's identity as every record shows it (pid, ppid, exe, args, uid,
// start_time, cgroup, ancestry with start times), rendered once per process
// and then copied: a job's workers make thousands of records each, and the
// ancestry walk with a time string per ancestor was most of an event's cost.
//
// A view is dropped when its process changes: exec (and then its
// descendants' too, whose ancestry names the old exe), a cgroup move, exit;
// and when the clock offset moves (every start_time changes). A view whose
// process changed behind the pipeline's back (exe learned later, an ancestor
// read from /proc later) is noticed on use and rendered again.
#include <cstdint>
#include <unordered_map>

#include "common/v1.h"
#include "ftsentinel/v1/event.pb.h"
#include "state/cgroups.h"
#include "state/process_table.h"

namespace fts::render {

// Renders `p`'s identity into `out` (what a view holds: no tid). Returns the
// parent at which the ancestry stopped for want of a known process (invalid
// when it did not). `cgroups` null: the cgroup's id without its path.
state::ProcKey render_process(const state::Process& p, const state::ProcessTable& procs,
                              state::CgroupTable* cgroups, v1::Process* out);

class ProcessViews {
 public:
  // `redact`: secrets in args are replaced before any view is lent out
  // (common/redact.h), and the view says `redacted`.
  ProcessViews(const state::ProcessTable* procs, state::CgroupTable* cgroups, size_t capacity = 1 << 16,
               bool redact = true)
      : procs_(procs), cgroups_(cgroups), capacity_(capacity), redact_(redact) {}
  bool redacting() const { return redact_; }

  // The view of `p`; valid until the next trim(). Its tid is whatever the
  // last event that lent it set (mutable_of): copies for other records set
  // or clear it.
  const v1::Process& of(const state::Process& p) { return *mutable_of(p); }
  v1::Process* mutable_of(const state::Process& p);
  // `k` exec'd (or moved cgroup: with_descendants false).
  void changed(const state::ProcKey& k, bool with_descendants);
  void forget(const state::ProcKey& k) { views_.erase(k); }
  // Everything is stale (the wall clock stepped).
  void invalidate_all() { ++generation_; }
  // Between records: keeps the cache bounded.
  void trim();
  size_t size() const { return views_.size(); }
  uint64_t renders() const { return renders_; }

 private:
  struct View {
    v1::Process process;
    uint64_t generation = 0;
    state::ProcKey parent;
    std::string exe;
    state::ProcKey unknown_ancestor;  // where the ancestry stopped for want of a known parent
  };
  bool fresh(const View& v, const state::Process& p) const;
  void render(const state::Process& p, View* v);

  const state::ProcessTable* procs_;
  state::CgroupTable* cgroups_;
  size_t capacity_;
  bool redact_ = true;
  uint64_t generation_ = 0;
  uint64_t renders_ = 0;
  std::unordered_map<state::ProcKey, View, state::ProcKeyHash> views_;
};

}  // namespace fts::render
