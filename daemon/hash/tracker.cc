#include "hash/tracker.h"

#include <spdlog/spdlog.h>

#include "common/glob.h"
#include "common/time.h"

namespace fts::hash {
namespace {

using decode::FileOp;
namespace access = decode::access;
namespace cls = decode::cls;

bool in_outputs(const policy::Policy* p, const std::string& path, uint32_t classes) {
  if (classes & cls::kOutputs) return true;
  if (!p) return false;
  for (const auto& g : p->spec.data().outputs()) {
    if (glob_match(g, path)) return true;
    if (g.size() > 3 && g.compare(g.size() - 3, 3, "/**") == 0 && path == g.substr(0, g.size() - 3)) return true;
  }
  return false;
}

constexpr uint16_t kWriteBits = access::kWrite | access::kCreate | access::kTruncate | access::kAppend;

}  // namespace

Tracker::Entry* Tracker::entry(uint64_t job, const std::string& path, bool create) {
  Key k{job, path};
  auto it = files_.find(k);
  if (it != files_.end()) return &it->second;
  if (!create) return nullptr;
  if (files_.size() >= opts_.max_files) {
    if (untracked_++ % 10000 == 0)
      spdlog::warn("hashing: following {} files already; {} more not hashed", files_.size(), untracked_);
    return nullptr;
  }
  Entry& e = files_[k];
  e.job = job;
  e.path = path;
  by_path_[path].insert(job);
  return &e;
}

void Tracker::on_file(const decode::File& f, const std::string& path, const jobs::Job* job,
                      const policy::Policy* policy) {
  // Only what can be opened again by its name: no memfds, deleted or cut paths.
  if (path.empty() || path[0] != '/' || f.path_flags.internal || f.path_flags.deleted || f.path_flags.truncated)
    return;
  bool write_open = f.op == FileOp::kOpen && (f.access & kWriteBits);
  if (job && policy && f.op == FileOp::kOpen && f.result >= 0 && !(f.access & access::kDirectory) &&
      !job->ended && !ended_.count(job->id)) {
    if (!write_open && (f.access & access::kRead) && !(f.classes & (cls::kSensitive | cls::kBase))) {
      Entry* e = entry(job->id, path, true);
      if (!e) return;
      bool fresh = !e->read || e->dev != f.dev || e->ino != f.ino;
      if (!e->read || e->task.tgid == 0) {
        e->task = f.hdr.task;
        e->tid = f.hdr.tid;
      }
      e->classes |= f.classes;
      e->read = true;
      if (fresh) {
        e->dev = f.dev;
        e->ino = f.ino;
        const std::string& m = policy->spec.data().manifest();
        e->manifest = m;
        submit(*e, "read");
      }
      return;
    }
    if (write_open && in_outputs(policy, path, f.classes)) {
      Entry* e = entry(job->id, path, true);
      if (!e) return;
      if (e->task.tgid == 0) {
        e->task = f.hdr.task;
        e->tid = f.hdr.tid;
      }
      e->classes |= f.classes;
      e->output = true;
      e->dev = f.dev;
      e->ino = f.ino;
      e->dirty_ns = f.hdr.ts_ns ? f.hdr.ts_ns : now_boot_ns();
      return;
    }
  }
  bool change = write_open || f.op == FileOp::kModify || f.op == FileOp::kCloseWrite || f.op == FileOp::kTruncate ||
                f.op == FileOp::kRename || f.op == FileOp::kCreate || f.op == FileOp::kLink;
  if (!change || (f.source == decode::Source::kSyscall && f.result < 0)) return;
  // A rename or link names the changed file by its new name.
  changed(f.op == FileOp::kRename || f.op == FileOp::kLink ? (f.path2.empty() ? path : f.path2) : path, f);
  if (f.op == FileOp::kRename && !f.path2.empty()) changed(path, f);
}

void Tracker::on_write_followed(const decode::File& f, const std::string& path, const jobs::Job* job) {
  bool write_open = f.op == FileOp::kOpen && (f.access & kWriteBits);
  if (!job || !write_open || f.result < 0 || job->ended || ended_.count(job->id) || path.empty() || path[0] != '/')
    return;
  Entry* e = entry(job->id, path, true);
  if (!e) return;
  if (e->task.tgid == 0) {
    e->task = f.hdr.task;
    e->tid = f.hdr.tid;
  }
  e->classes |= f.classes;
  e->output = true;
  e->dev = f.dev;
  e->ino = f.ino;
  e->dirty_ns = f.hdr.ts_ns ? f.hdr.ts_ns : now_boot_ns();
}

void Tracker::changed(const std::string& path, const decode::File& f) {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return;
  for (uint64_t job : it->second) {
    Entry* e = entry(job, path, false);
    if (!e) continue;
    if (f.op == FileOp::kCloseWrite || f.op == FileOp::kRename || f.op == FileOp::kLink) {
      // The write ended (or a whole file landed at the name): hash it now.
      e->dirty_ns = 0;
      submit(*e, e->output && !e->read ? "write" : "change");
    } else {
      e->dirty_ns = f.hdr.ts_ns ? f.hdr.ts_ns : now_boot_ns();
    }
  }
}

void Tracker::on_job_end(uint64_t job_id) {
  ended_.insert(job_id);
  for (auto it = files_.lower_bound({job_id, ""}); it != files_.end() && it->first.first == job_id; ++it) {
    Entry& e = it->second;
    if (e.output || e.dirty_ns) {
      e.dirty_ns = 0;
      submit(e, "job_end");
    }
  }
}

size_t Tracker::settling() const {
  size_t n = 0;
  for (const auto& [k, e] : files_) n += e.dirty_ns != 0;
  return n;
}

void Tracker::tick(uint64_t now) {
  for (auto& [k, e] : files_) {
    if (!e.dirty_ns || now < e.dirty_ns + opts_.settle_ns) continue;
    e.dirty_ns = 0;
    submit(e, e.output && !e.read ? "write" : "change");
  }
}

void Tracker::submit(Entry& e, const std::string& reason) {
  if (e.inflight) {
    e.again = reason;
    return;
  }
  Request r;
  r.path = e.path;
  if (reason == "read") {  // the file the kernel saw opened, not another one since put at the name
    r.dev = e.dev;
    r.ino = e.ino;
  }
  if (e.read) r.manifest = e.manifest;
  r.tag = next_tag_++;
  if (!hasher_->submit(r)) {
    // Counted by the hasher; said once per file in its record, retried later.
    if (!e.overflowed) {
      decode::FileHash h = record(e, reason);
      h.error = "not hashed: the hash queue is full";
      ready_.push_back(std::move(h));
      e.overflowed = true;
    }
    e.dirty_ns = now_boot_ns();
    return;
  }
  e.inflight = true;
  pending_[r.tag] = {{e.job, e.path}, reason};
}

decode::FileHash Tracker::record(const Entry& e, const std::string& reason) const {
  decode::FileHash h;
  h.hdr.kind = decode::Kind::kFileHash;
  h.hdr.ts_ns = now_boot_ns();
  h.hdr.job_id = e.job;
  h.hdr.task = e.task;
  h.hdr.tid = e.tid;
  h.path = e.path;
  h.dev = e.dev;
  h.ino = e.ino;
  h.classes = e.classes;
  h.reason = reason;
  return h;
}

std::vector<decode::FileHash> Tracker::collect() {
  std::vector<decode::FileHash> out;
  out.swap(ready_);
  for (Result& r : hasher_->drain()) {
    auto p = pending_.find(r.req.tag);
    if (p == pending_.end()) continue;
    auto [key, reason] = std::move(p->second);
    pending_.erase(p);
    auto it = files_.find(key);
    if (it == files_.end()) continue;
    Entry& e = it->second;
    e.inflight = false;
    e.overflowed = false;
    decode::FileHash h = record(e, reason);
    if (!r.sha256.empty() && (r.dev || r.ino)) {  // what was hashed (a replaced file: still the one read)
      h.dev = r.dev;
      h.ino = r.ino;
    }
    h.sha256 = r.sha256;
    h.size = r.size;
    h.mtime_wall_ns = r.mtime_ns > 0 ? static_cast<uint64_t>(r.mtime_ns) : 0;
    h.cached = r.cached;
    h.error = r.error;
    if (!r.manifest.verdict.empty()) {
      h.manifest = r.req.manifest;
      h.manifest_verdict = r.manifest.verdict;
      h.manifest_sha256 = r.manifest.expected;
    }
    if (!r.manifest.error.empty() && h.error.empty()) h.error = r.manifest.error;
    bool report;
    if (h.sha256.empty()) {
      report = h.error != e.last_error;  // the same failure again says nothing new
      e.last_error = h.error;
    } else {
      report = h.sha256 != e.last_sha || h.dev != e.last_dev || h.ino != e.last_ino;
      if (e.first_sha.empty() && e.read && reason == "read") e.first_sha = h.sha256;
      if (!e.first_sha.empty() && h.sha256 != e.first_sha && !e.output) h.first_sha256 = e.first_sha;
      e.last_sha = h.sha256;
      e.last_dev = h.dev;
      e.last_ino = h.ino;
      e.last_error.clear();
    }
    if (report) out.push_back(std::move(h));
    if (!e.again.empty()) {
      std::string again = std::move(e.again);
      e.again.clear();
      submit(e, again);
    }
  }
  // Ended jobs: forget their files once nothing is in flight.
  for (auto j = ended_.begin(); j != ended_.end();) {
    bool busy = false;
    for (auto it = files_.lower_bound({*j, ""}); it != files_.end() && it->first.first == *j; ++it)
      busy |= it->second.inflight;
    if (busy) {
      ++j;
      continue;
    }
    for (auto it = files_.lower_bound({*j, ""}); it != files_.end() && it->first.first == *j;) {
      auto bp = by_path_.find(it->first.second);
      if (bp != by_path_.end()) {
        bp->second.erase(*j);
        if (bp->second.empty()) by_path_.erase(bp);
      }
      it = files_.erase(it);
    }
    j = ended_.erase(j);
  }
  return out;
}

}  // namespace fts::hash
