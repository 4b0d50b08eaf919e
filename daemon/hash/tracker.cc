#include "hash/tracker.h"

#include <openssl/evp.h>

#include <cstring>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/glob.h"
#include "common/sha256.h"
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

size_t Tracker::PathKeyHash::operator()(const PathKey& k) const noexcept {
  size_t h;
  std::memcpy(&h, k.data(), sizeof(h));  // a digest's bytes are already well mixed
  return h;
}

Tracker::PathKey Tracker::key_of(const std::string& path) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(path.data(), path.size(), md, &len, sha256_md(), nullptr);
  PathKey k;
  std::memcpy(k.data(), md, k.size());
  return k;
}

template <typename F>
void Tracker::each(F&& f) {
  for (auto& [key, head] : files_)
    for (Entry* e = &head; e; e = e->next.get()) f(*e);
}

Tracker::Entry* Tracker::entry(uint64_t job, const std::string& path, bool create) {
  PathKey key = key_of(path);
  auto it = files_.find(key);
  Entry* last = nullptr;
  if (it != files_.end())
    for (Entry* e = &it->second; e; e = e->next.get()) {
      if (e->job == job) return e;
      last = e;
    }
  if (!create) return nullptr;
  if (entries_ >= opts_.max_files) {
    if (untracked_++ % 10000 == 0)
      spdlog::warn("hashing: following {} files already; {} more not hashed", entries_, untracked_);
    return nullptr;
  }
  Entry* e = last ? (last->next = std::make_unique<Entry>()).get() : &files_.try_emplace(key).first->second;
  e->job = job;
  ++entries_;
  return e;
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
      if (!e->read || e->tgid == 0) e->set_task(f.hdr.task, f.hdr.tid);
      e->classes |= f.classes;
      e->read = true;
      if (fresh) {
        e->move_to(f.dev, f.ino);
        const std::string& m = policy->spec.data().manifest();
        job_manifests_[job->id] = m.empty() ? nullptr : &*manifests_.insert(m).first;
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
  if (e->tgid == 0) e->set_task(f.hdr.task, f.hdr.tid);
  e->classes |= f.classes;
  e->output = true;
  e->move_to(f.dev, f.ino);
  e->set_dirty(path, f.hdr.ts_ns ? f.hdr.ts_ns : now_boot_ns());
}

void Tracker::changed(const std::string& path, const decode::File& f) {
  auto it = files_.find(key_of(path));
  if (it == files_.end()) return;
  for (Entry* e = &it->second; e; e = e->next.get()) {
    if (f.op == FileOp::kCloseWrite || f.op == FileOp::kRename || f.op == FileOp::kLink) {
      // The write ended (or a whole file landed at the name): hash it now.
      if (e->rare) e->rare->dirty_ns = 0;
      submit(*e, path, e->output && !e->read ? "write" : "change");
    } else {
      e->set_dirty(path, f.hdr.ts_ns ? f.hdr.ts_ns : now_boot_ns());
    }
  }
}

// An output or a dirty file has its name in Rare (follow_write, set_dirty).
void Tracker::on_job_end(uint64_t job_id) {
  ended_.insert(job_id);
  each([&](Entry& e) {
    if (e.job != job_id || !(e.output || e.dirty_ns()) || !e.rare) return;
    e.rare->dirty_ns = 0;
    submit(e, std::string(e.rare->path), "job_end");
  });
}

size_t Tracker::settling() const {
  size_t n = 0;
  for (const auto& [key, head] : files_)
    for (const Entry* e = &head; e; e = e->next.get()) n += e->dirty_ns() != 0;
  return n;
}

// Files changed a while ago, then the hashes the queue refused, oldest
// first, until the queue is full again: the rest wait for the next tick (a
// first pass over a large data set refuses thousands of files; trying each
// again every second would be that many refusals a second on the pipeline
// thread).
void Tracker::tick(uint64_t now) {
  bool room = true;
  each([&](Entry& e) {
    if (!room || !e.dirty_ns() || now < e.dirty_ns() + opts_.settle_ns) return;
    e.rare->dirty_ns = 0;
    room = submit(e, std::string(e.rare->path), e.output && !e.read ? "write" : "change");
  });
  while (room && !refused_.empty()) {
    Refused& r = refused_.front();
    Entry* e = entry(r.job, r.path, false);  // gone: its job ended
    if (e && e->overflowed) {
      room = submit(*e, r.path, r.reason);
      if (!room) break;  // it waits at the front, as it was
    }
    refused_.pop_front();
  }
}

bool Tracker::submit(Entry& e, const std::string& path, const char* reason) {
  if (e.inflight) {
    e.side().again = reason;
    return true;
  }
  Request r;
  r.path = path;
  if (std::string_view(reason) == "read") {  // the file the kernel saw opened, not another one since put at the name
    r.dev = e.dev;
    r.ino = e.ino;
  }
  if (e.read)  // data the job read: checked against its manifest, if it has one
    if (auto m = job_manifests_.find(e.job); m != job_manifests_.end() && m->second) r.manifest = *m->second;
  r.tag = next_tag_++;
  if (!hasher_->submit(r)) {
    // Counted by the hasher; said once per file in its record, retried by
    // tick with the reason it was asked for (a refused read is still the
    // job's first read of the file: the hash a later change is held against).
    if (e.said_full) return false;  // tick's retry: it stays at the front
    decode::FileHash h = record(e, path, reason);
    h.error = "not hashed: the hash queue is full";
    ready_.push_back(std::move(h));
    e.said_full = e.overflowed = true;
    refused_.push_back(Refused{e.job, reason, path});
    return false;
  }
  e.said_full = e.overflowed = false;
  e.inflight = true;
  pending_[r.tag] = Pending{e.job, reason};
  return true;
}

decode::FileHash Tracker::record(const Entry& e, const std::string& path, const char* reason) const {
  decode::FileHash h;
  h.hdr.kind = decode::Kind::kFileHash;
  h.hdr.ts_ns = now_boot_ns();
  h.hdr.job_id = e.job;
  h.hdr.task = e.task();
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
    Pending done = p->second;
    pending_.erase(p);
    const std::string& path = r.req.path;  // the name it was asked for
    Entry* found = entry(done.job, path, false);
    if (!found) continue;
    Entry& e = *found;
    e.inflight = false;
    decode::FileHash h = record(e, path, done.reason);
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
      static const std::string kNone;
      report = h.error != (e.rare ? e.rare->last_error : kNone);  // the same failure again says nothing new
      if (report) e.side().last_error = h.error;
    } else {
      Digest sha = Digest::of(h.sha256);
      uint64_t last_dev = e.last_other ? e.rare->last_dev : e.dev, last_ino = e.last_other ? e.rare->last_ino : e.ino;
      Digest last = e.last_sha();
      report = sha != last || !last.set || h.dev != last_dev || h.ino != last_ino;
      if (!e.first_set && e.read && std::string_view(done.reason) == "read") {
        e.first_set = true;
        e.set_last_sha(sha);  // the first is the last until one differs
      }
      if (e.first_set && sha != e.first_sha()) {
        if (!e.rare || !e.rare->first_sha.set) e.side().first_sha = e.last_sha();  // moved aside, kept
        if (!e.output) h.first_sha256 = e.first_sha().hex();
      }
      e.set_last_sha(sha);
      e.last_other = h.dev != e.dev || h.ino != e.ino;
      if (e.last_other) {
        e.side().last_dev = h.dev;
        e.side().last_ino = h.ino;
      }
      if (e.rare) e.rare->last_error.clear();
    }
    if (report) out.push_back(std::move(h));
    if (const char* again = e.again()) {
      e.rare->again = nullptr;
      submit(e, path, again);
    } else {
      e.trim();
    }
  }
  forget_ended();
  return out;
}

// Ended jobs: their files forgotten once none of them is in flight.
void Tracker::forget_ended() {
  if (ended_.empty()) return;
  std::set<uint64_t> busy;
  each([&](Entry& e) {
    if ((e.inflight || e.overflowed) && ended_.count(e.job)) busy.insert(e.job);  // a refused hash still goes
  });
  auto gone = [&](const Entry& e) { return ended_.count(e.job) && !busy.count(e.job); };
  for (auto it = files_.begin(); it != files_.end();) {
    Entry* head = &it->second;
    for (std::unique_ptr<Entry>* link = &head->next; *link;) {  // the chain after the head
      if (!gone(**link)) {
        link = &(*link)->next;
        continue;
      }
      *link = std::move((*link)->next);
      --entries_;
    }
    if (!gone(*head)) {
      ++it;
      continue;
    }
    --entries_;
    if (!head->next) {
      it = files_.erase(it);
      continue;
    }
    std::unique_ptr<Entry> second = std::move(head->next);
    *head = std::move(*second);  // the next job's entry takes the head's place
    ++it;
  }
  for (auto j = ended_.begin(); j != ended_.end();) {
    if (busy.count(*j)) {
      ++j;
      continue;
    }
    job_manifests_.erase(*j);
    j = ended_.erase(j);
  }
}

}  // namespace fts::hash
