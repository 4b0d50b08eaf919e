#include "hash/tracker.h"

#include <string_view>

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

Tracker::Digest Tracker::Digest::of(const std::string& hex) {
  Digest d;
  if (hex.size() != 2 * d.bytes.size()) return d;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < d.bytes.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Digest{};
    d.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  d.set = true;
  return d;
}

std::string Tracker::Digest::hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  if (!set) return out;
  out.reserve(2 * bytes.size());
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

Tracker::Entry* Tracker::entry(uint64_t job, const std::string& path, bool create) {
  auto it = files_.find(path);
  if (it != files_.end())
    for (Entry& e : it->second)
      if (e.job == job) return &e;
  if (!create) return nullptr;
  if (entries_ >= opts_.max_files) {
    if (untracked_++ % 10000 == 0)
      spdlog::warn("hashing: following {} files already; {} more not hashed", entries_, untracked_);
    return nullptr;
  }
  if (it == files_.end()) it = files_.try_emplace(path).first;
  Entry& e = it->second.emplace_back();
  e.job = job;
  ++entries_;
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
        submit(*e, path, "read");
      }
      return;
    }
    if (write_open && in_outputs(policy, path, f.classes)) return follow_write(f, path, job->id);
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
  follow_write(f, path, job->id);
}

// The job writes this file: hashed once the write has settled (or ended).
void Tracker::follow_write(const decode::File& f, const std::string& path, uint64_t job) {
  Entry* e = entry(job, path, true);
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
  auto it = files_.find(path);
  if (it == files_.end()) return;
  for (Entry& e : it->second) {
    if (f.op == FileOp::kCloseWrite || f.op == FileOp::kRename || f.op == FileOp::kLink) {
      // The write ended (or a whole file landed at the name): hash it now.
      e.dirty_ns = 0;
      submit(e, path, e.output && !e.read ? "write" : "change");
    } else {
      e.dirty_ns = f.hdr.ts_ns ? f.hdr.ts_ns : now_boot_ns();
    }
  }
}

void Tracker::on_job_end(uint64_t job_id) {
  ended_.insert(job_id);
  for (auto& [path, entries] : files_)
    for (Entry& e : entries) {
      if (e.job != job_id || !(e.output || e.dirty_ns)) continue;
      e.dirty_ns = 0;
      submit(e, path, "job_end");
    }
}

size_t Tracker::settling() const {
  size_t n = 0;
  for (const auto& [path, entries] : files_)
    for (const Entry& e : entries) n += e.dirty_ns != 0;
  return n;
}

void Tracker::tick(uint64_t now) {
  for (auto& [path, entries] : files_)
    for (Entry& e : entries) {
      if (!e.dirty_ns || now < e.dirty_ns + opts_.settle_ns) continue;
      e.dirty_ns = 0;
      submit(e, path, e.output && !e.read ? "write" : "change");
    }
}

void Tracker::submit(Entry& e, const std::string& path, const char* reason) {
  if (e.inflight) {
    e.again = reason;
    return;
  }
  Request r;
  r.path = path;
  if (std::string_view(reason) == "read") {  // the file the kernel saw opened, not another one since put at the name
    r.dev = e.dev;
    r.ino = e.ino;
  }
  if (e.read) r.manifest = e.manifest;
  r.tag = next_tag_++;
  if (!hasher_->submit(r)) {
    // Counted by the hasher; said once per file in its record, retried later.
    if (!e.overflowed) {
      decode::FileHash h = record(e, path, reason);
      h.error = "not hashed: the hash queue is full";
      ready_.push_back(std::move(h));
      e.overflowed = true;
    }
    e.dirty_ns = now_boot_ns();
    return;
  }
  e.inflight = true;
  pending_[r.tag] = Pending{e.job, path, reason};
}

decode::FileHash Tracker::record(const Entry& e, const std::string& path, const char* reason) const {
  decode::FileHash h;
  h.hdr.kind = decode::Kind::kFileHash;
  h.hdr.ts_ns = now_boot_ns();
  h.hdr.job_id = e.job;
  h.hdr.task = e.task;
  h.hdr.tid = e.tid;
  h.path = path;
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
    Pending done = std::move(p->second);
    pending_.erase(p);
    Entry* found = entry(done.job, done.path, false);
    if (!found) continue;
    Entry& e = *found;
    e.inflight = false;
    e.overflowed = false;
    decode::FileHash h = record(e, done.path, done.reason);
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
      Digest sha = Digest::of(h.sha256);
      report = sha != e.last_sha || h.dev != e.last_dev || h.ino != e.last_ino;
      if (!e.first_sha.set && e.read && std::string_view(done.reason) == "read") e.first_sha = sha;
      if (e.first_sha.set && sha != e.first_sha && !e.output) h.first_sha256 = e.first_sha.hex();
      e.last_sha = sha;
      e.last_dev = h.dev;
      e.last_ino = h.ino;
      e.last_error.clear();
    }
    if (report) out.push_back(std::move(h));
    if (e.again) {
      const char* again = e.again;
      e.again = nullptr;
      submit(e, done.path, again);
    }
  }
  forget_ended();
  return out;
}

// Ended jobs: their files forgotten once none of them is in flight.
void Tracker::forget_ended() {
  if (ended_.empty()) return;
  std::set<uint64_t> busy;
  for (const auto& [path, entries] : files_)
    for (const Entry& e : entries)
      if (e.inflight && ended_.count(e.job)) busy.insert(e.job);
  for (auto it = files_.begin(); it != files_.end();) {
    auto& entries = it->second;
    size_t before = entries.size();
    std::erase_if(entries, [&](const Entry& e) { return ended_.count(e.job) && !busy.count(e.job); });
    entries_ -= before - entries.size();
    it = entries.empty() ? files_.erase(it) : std::next(it);
  }
  for (auto j = ended_.begin(); j != ended_.end();) j = busy.count(*j) ? std::next(j) : ended_.erase(j);
}

}  // namespace fts::hash
