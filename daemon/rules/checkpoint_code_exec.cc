// checkpoint-code-exec: a model file whose pickle runs code when loaded.
// A load window opens when a job process opens a pickle-based model file for
// reading (the kernel's model record) and ends at its close, at the
// process's exit, or `model_window_ns` after the open, whichever comes
// first. A child forked in the window inherits it (os.system forks the
// shell), until the bound. While it is open, an exec, an outbound connect
// or send, a change outside `outputs`, or an open of a shared object the
// job wrote or that was written since the window opened is the rule.
//
// The alert names the file's SHA-256. The hash is computed off the event
// path (hash/tracker.h) and usually lands after the code ran: a finding
// waits for the file's file_hash record, at most kHashWaitNs, then is
// raised without it (saying why) rather than lost.
#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "common/address.h"
#include "common/glob.h"
#include "common/model_file.h"
#include "common/time.h"
#include "rules/classify.h"
#include "rules/rules.h"

namespace fts::rules {
namespace {

constexpr uint64_t kHashWaitNs = 10'000'000'000;
constexpr size_t kMaxPending = 1024;
constexpr size_t kMaxKnown = 20000;

using ProcKey = std::pair<uint32_t, uint64_t>;  // tgid, start ticks
using FileKey = std::pair<uint64_t, std::string>;  // job, path

ProcKey key_of(const decode::TaskId& t) { return {t.tgid, t.start_ticks()}; }

struct Window {
  int32_t fd = -1;
  std::string path;
  uint64_t job = 0;
  uint64_t opened_ns = 0;  // boot time
  bool weights_only_disabled = false;
  bool inherited = false;  // copied at fork: ends by the bound only
};

// A model file a process loaded: repeated loads name only its inode.
struct Loaded {
  uint64_t dev = 0, ino = 0;
  std::string path;
};
constexpr size_t kMaxLoadedPerProcess = 64;
constexpr size_t kMaxLoaders = 100000;

struct Pending {
  Finding finding;
  FileKey file;
  uint64_t since_ns = 0;
};

bool weights_only_disabled(const state::Process* p) {
  if (!p) return false;
  auto it = p->run_env.find("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD");
  return it != p->run_env.end() && fts::weights_only_disabled(it->second);
}

bool shared_object(const std::string& path) {
  std::string base = path_basename(path);
  size_t so = base.find(".so");
  return so != std::string::npos && so > 0 && (so + 3 == base.size() || base[so + 3] == '.');
}

class CheckpointCodeExec : public Rule {
 public:
  const char* id() const override { return "checkpoint-code-exec"; }
  std::vector<decode::Kind> kinds() const override {
    using K = decode::Kind;
    return {K::kModel, K::kFork, K::kExit, K::kExec, K::kNet, K::kFile, K::kFileHash};
  }
  void on(const Input& in, std::vector<Finding>* out) override {
    const decode::Header& h = decode::header(in.record);
    overdue(in, h.ts_ns, out);
    if (const auto* m = std::get_if<decode::Model>(&in.record)) return on_model(*m, in);
    if (const auto* f = std::get_if<decode::Fork>(&in.record)) return on_fork(*f, in);
    if (std::holds_alternative<decode::Exit>(in.record)) {
      windows_.erase(key_of(h.task));
      loaded_.erase(key_of(h.task));
      return;
    }
    if (const auto* fh = std::get_if<decode::FileHash>(&in.record)) return on_hash(*fh, in, out);
    if (const auto* f = std::get_if<decode::File>(&in.record)) remember_write(*f, in);
    if (!in.job) return;
    const Window* w = open_window(key_of(h.task), h.ts_ns, in.model_window_ns);
    if (!w) return;
    std::string what = violation(in, *w);
    if (!what.empty()) raise(in, *w, what, out);
  }

 private:
  void on_model(const decode::Model& m, const Input& in) {
    auto k = key_of(m.hdr.task);
    if (m.op == decode::ModelOp::kClose) {
      auto it = windows_.find(k);
      if (it == windows_.end()) return;
      std::erase_if(it->second, [&](const Window& w) { return !w.inherited && w.fd == m.fd; });
      if (it->second.empty()) windows_.erase(it);
      return;
    }
    if (!in.job || windows_.size() > kMaxLoaders) return;  // bounded: a flood of loaders is not a window each
    auto& ws = windows_[k];
    std::erase_if(ws, [&](const Window& w) { return !w.inherited && w.fd == m.fd; });  // an fd closed unseen
    ws.push_back({m.fd, loaded_path(k, m, in), in.job->id, m.hdr.ts_ns, weights_only_disabled(in.process), false});
  }

  // The path of a load: the record's, or for a repeated load (the kernel
  // sends its inode only) the one the process's first load of it named.
  std::string loaded_path(const ProcKey& k, const decode::Model& m, const Input& in) {
    std::string path = in.file_path.empty() ? m.path : in.file_path;
    if (!loaded_.count(k) && loaded_.size() >= kMaxLoaders) return path.empty() ? inode_name(m) : path;
    auto& files = loaded_[k];
    auto same = [&](const Loaded& l) { return l.dev == m.dev && l.ino == m.ino; };
    auto it = std::find_if(files.begin(), files.end(), same);
    if (!path.empty()) {
      if (it != files.end()) files.erase(it);
      if (files.size() >= kMaxLoadedPerProcess) files.pop_front();
      files.push_back({m.dev, m.ino, path});
      return path;
    }
    return it != files.end() ? it->path : inode_name(m);
  }

  static std::string inode_name(const decode::Model& m) {
    return "(inode " + std::to_string(m.ino) + " on device " + std::to_string(m.dev) + ")";
  }

  void on_fork(const decode::Fork& f, const Input& in) {
    auto it = windows_.find(key_of(f.parent));
    if (it == windows_.end()) return;
    std::vector<Window> copy;
    for (const Window& w : it->second)
      if (f.hdr.ts_ns - w.opened_ns <= in.model_window_ns) copy.push_back(w), copy.back().inherited = true;
    if (!copy.empty()) windows_[key_of(f.hdr.task)] = std::move(copy);
  }

  // The process's latest window still open at `ts`, or null.
  const Window* open_window(const ProcKey& k, uint64_t ts, uint64_t bound) {
    auto it = windows_.find(k);
    if (it == windows_.end()) return nullptr;
    std::erase_if(it->second, [&](const Window& w) { return ts > w.opened_ns && ts - w.opened_ns > bound; });
    if (it->second.empty()) {
      windows_.erase(it);
      return nullptr;
    }
    return &it->second.back();
  }

  // What the record did that a load must not; "" for nothing.
  std::string violation(const Input& in, const Window& w) {
    if (const auto* e = std::get_if<decode::Exec>(&in.record)) return "executed " + e->exe;
    if (const auto* n = std::get_if<decode::Net>(&in.record)) {
      if (n->op != decode::NetOp::kConnect && n->op != decode::NetOp::kSendmsg) return "";
      std::string a = address_string(n->daddr);
      if (!n->v4 && a.find(':') != std::string::npos) a = "[" + a + "]";
      return (n->op == decode::NetOp::kConnect ? "connected to " : "sent to ") + a + ":" + std::to_string(n->dport);
    }
    const auto& f = std::get<decode::File>(in.record);
    if (f.result < 0 && f.source == decode::Source::kSyscall) return "";
    const std::string& path = in.file_path;
    if (decode::is_change(f)) {
      // Device nodes (/dev/null) keep nothing; /dev/shm is a filesystem.
      bool device = path.rfind("/dev/", 0) == 0 && path.rfind("/dev/shm/", 0) != 0;
      if (device || (in.policy && matches(in.policy->spec.data().outputs(), path))) return "";
      return "changed " + path + " outside outputs";
    }
    if (f.op == decode::FileOp::kOpen && shared_object(path) && new_shared_object(w, path))
      return "opened the shared object " + path + ", written " +
             (written_.count({w.job, path}) ? "by the job" : "during the load");
    return "";
  }

  bool new_shared_object(const Window& w, const std::string& path) const {
    if (written_.count({w.job, path})) return true;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return false;
    uint64_t mtime = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000ull + st.st_mtim.tv_nsec;
    return mtime >= boot_to_wall_ns(w.opened_ns);
  }

  void remember_write(const decode::File& f, const Input& in) {
    if (!in.job || !decode::is_change(f) || in.file_path.empty()) return;
    if (written_.size() >= kMaxKnown) written_.clear();
    written_.insert({in.job->id, in.file_path});
  }

  void raise(const Input& in, const Window& w, const std::string& what, std::vector<Finding>* out) {
    const decode::Header& h = decode::header(in.record);
    std::string actor = (in.process && !in.process->exe.empty() ? in.process->exe : "?") + " (pid " +
                        std::to_string(h.task.tgid) + ")";
    Finding f{id(), "critical",
              actor + " " + what + " while " + (w.inherited ? "its parent was " : "") + "loading the model file " +
                  w.path + " in job " + in.job->name,
              w.path + "\n" + what};
    f.job = in.job;
    v1::ModelFile m;
    m.set_path(w.path);
    m.set_format(to_string(ModelFormat::kPickle));
    m.set_weights_only_disabled(w.weights_only_disabled);
    f.model = m;
    FileKey file{w.job, w.path};
    if (auto it = known_.find(file); it != known_.end()) {
      finish(f, it->second);
      out->push_back(std::move(f));
      return;
    }
    if (pending_.size() >= kMaxPending) {  // never dropped: raised without its hash
      f.message += " (its SHA-256 is not known: too many alerts wait for hashes)";
      out->push_back(std::move(f));
      return;
    }
    pending_.push_back({std::move(f), std::move(file), h.ts_ns});
  }

  static void finish(Finding& f, const decode::FileHash& fh) {
    if (!fh.sha256.empty()) {
      f.model->set_sha256(fh.sha256);
      f.model->set_size(fh.size);
      f.message += " (sha256 " + fh.sha256 + ")";
    } else {
      f.message += " (its SHA-256 is not known: " + fh.error + ")";
    }
  }

  void on_hash(const decode::FileHash& fh, const Input& in, std::vector<Finding>* out) {
    if (!fh.hdr.job_id || model_format(fh.path) != ModelFormat::kPickle) return;
    FileKey file{fh.hdr.job_id, fh.path};
    if (known_.size() >= kMaxKnown) known_.clear();
    known_[file] = fh;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->file != file) {
        ++it;
        continue;
      }
      finish(it->finding, fh);
      it->finding.job = in.jobs.find(file.first);
      out->push_back(std::move(it->finding));
      it = pending_.erase(it);
    }
  }

  // Findings whose hash did not come in time: raised without it.
  void overdue(const Input& in, uint64_t now, std::vector<Finding>* out) {
    while (!pending_.empty() && now > pending_.front().since_ns && now - pending_.front().since_ns > kHashWaitNs) {
      Pending& p = pending_.front();
      p.finding.message += " (its SHA-256 is not known: no hash within " + std::to_string(kHashWaitNs / 1'000'000'000) + "s)";
      p.finding.job = in.jobs.find(p.file.first);
      out->push_back(std::move(p.finding));
      pending_.pop_front();
    }
  }

  std::map<ProcKey, std::vector<Window>> windows_;
  std::map<ProcKey, std::deque<Loaded>> loaded_;  // each process's model files, by first load (bounded)
  std::set<FileKey> written_;                   // what each job changed (a shared object it then maps)
  std::map<FileKey, decode::FileHash> known_;   // model files' latest hashes, per job
  std::deque<Pending> pending_;                 // findings waiting for their file's hash
};

}  // namespace

std::unique_ptr<Rule> make_checkpoint_code_exec() { return std::make_unique<CheckpointCodeExec>(); }

}  // namespace fts::rules
