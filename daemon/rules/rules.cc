#include "rules/rules.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "common/glob.h"
#include "common/redact.h"
#include "common/time.h"
#include "render/fields.h"
#include "render/process_view.h"
#include "rules/classify.h"
#include "rules/data_reads.h"
#include "rules/dns_tunnel.h"
#include "state/loader.h"
#include "watch/watch.h"
#include "common/utf8.h"

namespace fts::rules {
namespace {

using google::protobuf::RepeatedPtrField;

std::string who(const Input& in) {
  const decode::Header& h = decode::header(in.record);
  std::string exe = in.process && !in.process->exe.empty() ? in.process->exe : "?";
  return exe + " (pid " + std::to_string(h.task.tgid) + ")";
}

std::string job_name(const jobs::Job* j) {
  return j ? "job " + j->name + " (" + jobs::job_id_string(j->id) + ")" : "a process outside any job";
}

using decode::is_change;

// The names a change makes or alters: both of a rename or a hard link (a
// second name of a protected file is a way to change it), but only the new
// name of a symlink: its target is a string that may name anything.
std::vector<const std::string*> changed_names(const decode::File& f, const std::string& file_path) {
  if (f.op == decode::FileOp::kSymlink) return {&f.path2};
  // The destination first: a temp file renamed over a shard changes the shard.
  if (f.path2.empty()) return {&file_path};
  return {&f.path2, &file_path};
}

void file_ref(const Finding& f, const Input& in, v1::Alert* a) {
  if (const auto* h = std::get_if<decode::FileHash>(&in.record)) {
    auto* fr = a->mutable_file();
    fr->set_path(h->path);
    fr->set_dev(render::dev_number(h->dev));
    fr->set_ino(h->ino);
    fr->set_access(h->reason == "write" ? "write" : "read");
  }
  if (const auto* file = std::get_if<decode::File>(&in.record)) {
    auto* fr = a->mutable_file();
    fr->set_path(f.object.empty() ? in.file_path : f.object);
    fr->set_dev(render::dev_number(file->dev));
    fr->set_ino(file->ino);
    fr->set_access(render::file_access_word(*file));
  }
}

// Is the actor an approved writer of a policy with these `writers`? Its exe
// path must match one, and the kernel must have seen it exec that very file
// with a clean loader (writers/identity.h). `why_not` is set, for a process
// named like a writer that is not one, to what the alert says.
bool approved_writer(const Input& in, const RepeatedPtrField<std::string>& writers, const std::string& exe,
                     std::string* why_not) {
  if (exe.empty() || !matches(writers, exe)) return false;
  if (!in.writers) {
    *why_not = "no kernel record of its exec";
    return false;
  }
  writers::Verdict v = in.writers->check(decode::header(in.record).task, exe);
  if (!v.approved) *why_not = v.why_not;
  return v.approved;
}

std::string not_the_writer(const std::string& why_not) {
  return why_not.empty() ? "" : " (named like an approved writer, but not one: " + why_not + ")";
}

// --- the rules ---

class CredentialRead : public Rule {
 public:
  const char* id() const override { return "credential-read"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kFile}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& f = std::get<decode::File>(in.record);
    if (!in.job || !in.policy || f.op != decode::FileOp::kOpen || !(f.access & decode::access::kRead)) return;
    if (!matches(in.policy->spec.data().sensitive(), in.file_path)) return;
    std::string how = f.result < 0 ? "tried to read (denied)" : "read";
    out->push_back({id(), "high", job_name(in.job) + " " + how + " credentials " + in.file_path + ": " + who(in),
                    in.file_path, nullptr, true});
  }
};

class UnapprovedDataRead : public Rule {
 public:
  const char* id() const override { return "unapproved-data-read"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kFile}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& f = std::get<decode::File>(in.record);
    if (!in.job || !in.policy || f.op != decode::FileOp::kOpen || f.result < 0) return;
    if (!(f.access & decode::access::kRead) || is_change(f)) return;
    if (f.access & decode::access::kDirectory) return;  // a listing is not data
    if (f.classes & kCodeClass) return;                  // the job's own program (classify.h)
    // A script launcher's interpreter reads the script it was exec'd as: code, not data.
    if (in.process && !in.process->script.empty() && in.process->script == in.file_path) return;
    const auto& d = in.policy->spec.data();
    if (matches(d.training(), in.file_path) || matches(d.caches(), in.file_path) || matches(d.outputs(), in.file_path) ||
        matches(d.sensitive(), in.file_path) || in_base(in.policy, in.file_path))
      return;
    out->push_back({id(), "medium",
                    job_name(in.job) + " read " + in.file_path + ", outside its approved data: " + who(in),
                    in.file_path, nullptr, true});
  }
};

// Is `path` an output of a live job the actor is not part of?
bool live_job_output(const Input& in, const std::string& path) {
  for (const jobs::Job* j : in.jobs.live()) {
    const policy::Policy* p = in.policies.at(j->policy_index);
    if (p && !(in.job && in.job->id == j->id) && matches(p->spec.data().outputs(), path)) return true;
  }
  return false;
}

class ProtectedDataWrite : public Rule {
 public:
  const char* id() const override { return "protected-data-write"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kFile}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& f = std::get<decode::File>(in.record);
    if (!is_change(f) || (f.source == decode::Source::kSyscall && f.result < 0)) return;
    std::string exe = in.process ? in.process->exe : "";
    std::string why_not;
    for (const auto& p : in.policies.all()) {
      const auto& d = p.spec.data();
      for (const std::string* path : changed_names(f, in.file_path)) {
        bool cache = !path->empty() && matches(d.caches(), *path);
        if (path->empty() || !(cache || matches(d.protected_(), *path))) continue;
        if (approved_writer(in, d.writers(), exe, &why_not)) return;
        // The job's own outputs, and its own downloads into its dataset caches.
        if (in.job && in.policy == &p && (cache || matches(d.outputs(), *path))) return;
        if (live_job_output(in, *path)) return;  // checkpoint-tamper says it, about that job
        out->push_back({id(), "high",
                        std::string(decode::to_string(f.op)) + (cache ? " of dataset cache " : " of protected ") +
                            *path + " by " + who(in) +
                            (in.job ? " in " + job_name(in.job) : "") + not_the_writer(why_not),
                        *path, nullptr, true});
        return;
      }
    }
  }
};

class CheckpointTamper : public Rule {
 public:
  const char* id() const override { return "checkpoint-tamper"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kFile}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& f = std::get<decode::File>(in.record);
    if (!is_change(f) || (f.source == decode::Source::kSyscall && f.result < 0)) return;
    std::string exe = in.process ? in.process->exe : "";
    const std::string& path = *changed_names(f, in.file_path).front();
    for (const jobs::Job* j : in.jobs.live()) {
      const policy::Policy* p = in.policies.at(j->policy_index);
      if (!p || (in.job && in.job->id == j->id)) continue;
      if (path.empty() || !matches(p->spec.data().outputs(), path)) continue;
      std::string why_not;
      if (approved_writer(in, p->spec.data().writers(), exe, &why_not)) continue;
      out->push_back({id(), "high",
                      "checkpoint " + path + " of " + job_name(j) + " changed from outside it by " + who(in) +
                          not_the_writer(why_not),
                      path, j, true});
    }
  }
};

class TransferToolExec : public Rule {
 public:
  const char* id() const override { return "transfer-tool-exec"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kExec}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& e = std::get<decode::Exec>(in.record);
    if (!in.job || !in.policy) return;
    const auto& deny = in.policy->spec.process().deny_exec();
    // `ld.so /usr/bin/curl`: the exe is the loader, the tool is its program.
    if (auto run = state::loader_run(e); run && !run->program.empty() && matches(deny, run->program)) {
      out->push_back({id(), "high",
                      job_name(in.job) + " ran transfer tool " + run->program + " through the dynamic loader " + e.exe +
                          ": " + who(in),
                      run->program});
      return;
    }
    if (!matches(deny, e.exe) && !(e.filename.size() && e.filename[0] == '/' && matches(deny, e.filename))) return;
    out->push_back({id(), "high", job_name(in.job) + " ran transfer tool " + e.exe + ": " + who(in), e.exe});
  }
};

class ShellInJob : public Rule {
 public:
  const char* id() const override { return "shell-in-job"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kExec}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& e = std::get<decode::Exec>(in.record);
    static const char* kShells[] = {"sh", "bash", "dash", "zsh", "ksh", "ash", "csh", "tcsh", "fish"};
    if (!in.job || !in.process) return;
    std::string name = path_basename(e.exe);
    if (std::none_of(std::begin(kShells), std::end(kShells), [&](const char* s) { return name == s; })) return;
    // Under the training process: a Python ancestor inside the same job. A
    // shell the launcher itself runs (a wrapper script) has none.
    for (const state::Process* a : in.procs.ancestry(*in.process, 8)) {
      if (a->job_id != in.job->id) break;
      if (path_basename(a->exe).rfind("python", 0) == 0) {
        out->push_back({id(), "medium",
                        "a shell (" + e.exe + ") started under " + a->exe + " (pid " + std::to_string(a->key.tgid) +
                            ") in " + job_name(in.job),
                        e.exe});
        return;
      }
    }
  }
};

class FilelessExec : public Rule {
 public:
  const char* id() const override { return "fileless-exec"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kExec}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& e = std::get<decode::Exec>(in.record);
    if (!in.job) return;
    std::string why;
    if (e.exe_flags.internal || e.exe.rfind("/memfd:", 0) == 0) why = "a memfd";
    else if (e.exe_flags.deleted) why = "a deleted file";
    else if (e.exe.rfind("/dev/shm/", 0) == 0) why = "/dev/shm";
    if (why.empty()) return;
    out->push_back({id(), "high", job_name(in.job) + " executed " + e.exe + " from " + why + ": " + who(in), e.exe});
  }
};

class IoUringInJob : public Rule {
 public:
  const char* id() const override { return "io-uring-in-job"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kIoUring}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& u = std::get<decode::IoUring>(in.record);
    // file and network operations: a channel the syscall hooks do not see
    static const uint32_t kOps[] = {1, 2, 4, 5, 9, 10, 13, 16, 18, 22, 23, 26, 27, 28, 30, 33, 35, 36, 37, 38, 39, 45, 47, 48};
    if (!in.job || std::find(std::begin(kOps), std::end(kOps), u.opcode) == std::end(kOps)) return;
    out->push_back({id(), "medium",
                    job_name(in.job) + " submitted io_uring operation " + std::to_string(u.opcode) + ": " + who(in),
                    "op" + std::to_string(u.opcode)});
  }
};

bool outbound(const decode::Net& n) {
  return n.op == decode::NetOp::kConnect || n.op == decode::NetOp::kSendmsg;
}

std::string destination(const decode::Net& n) {
  std::string a = address_string(n.daddr);
  return (n.v4 || a.find(':') == std::string::npos ? a : "[" + a + "]") + ":" + std::to_string(n.dport);
}

class EgressNotAllowed : public Rule {
 public:
  const char* id() const override { return "egress-not-allowed"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kNet}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& n = std::get<decode::Net>(in.record);
    if (!in.job || !outbound(n) || n.allowed) return;
    Finding f{id(), "high",
              job_name(in.job) + (n.blocked ? " was refused " : " connected to ") + destination(n) +
                  ", outside its egress list: " + who(in),
              destination(n)};
    if (n.blocked) f.action = "blocked";
    out->push_back(f);
  }
};

class EgressVolume : public Rule {
 public:
  explicit EgressVolume(std::shared_ptr<const DataReads> reads) : reads_(std::move(reads)) {}
  const char* id() const override { return "egress-volume"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kNet}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    const auto& n = std::get<decode::Net>(in.record);
    bool flow = n.op == decode::NetOp::kFlow || n.op == decode::NetOp::kFlowUpdate;
    if (!in.job || !flow || !in.net_max_bytes || in.net_total_bytes <= in.net_max_bytes) return;
    // To an allowed destination, bytes that match data the job read are
    // exfil-to-allowed's alert, which says the limit too: one upload, one alert.
    if (n.allowed && !n.inbound && !reads_->match(in.job->id, in.net_total_bytes, in.net_max_bytes).empty()) return;
    out->push_back({id(), "medium",
                    job_name(in.job) + " sent " + std::to_string(in.net_total_bytes) + " bytes to " +
                        address_string(n.daddr) + ", over its limit of " + std::to_string(in.net_max_bytes),
                    address_string(n.daddr)});
  }

 private:
  std::shared_ptr<const DataReads> reads_;
};

// Data read, and bytes out of bounds: per job, which protected, training or
// sensitive file its processes read first; a connect or send outside the
// list after it, or a flow outside the list that carried bytes once it was
// read (the socket may have been opened first: what counts is what leaves).
class ExfilChain : public Rule {
 public:
  explicit ExfilChain(std::shared_ptr<DataReads> reads) : reads_(std::move(reads)) {}
  const char* id() const override { return "exfil-chain"; }
  std::vector<decode::Kind> kinds() const override { return {decode::Kind::kFile, decode::Kind::kNet}; }
  void on(const Input& in, std::vector<Finding>* out) override {
    if (!in.job) return;
    if (const auto* f = std::get_if<decode::File>(&in.record)) {
      on_file(*f, in);
      return;
    }
    const auto& n = std::get<decode::Net>(in.record);
    if (!carries_out(n) || n.allowed) return;
    std::string first = reads_->first(in.job->id);
    if (first.empty()) return;
    bool flow = n.op == decode::NetOp::kFlow || n.op == decode::NetOp::kFlowUpdate;
    // A flow says it once per job and destination, and not after a connect or
    // send said it (a flow may be reported after its process is gone).
    bool fresh = raised_.emplace(in.job->id, destination(n)).second;
    if (flow && !fresh) return;
    out->push_back({id(), "critical",
                    job_name(in.job) + " read " + first + (flow ? " and sent " + std::to_string(n.bytes) + " bytes to "
                                                                      : " and then sent to ") +
                        destination(n) + ", outside its egress list: " + who(in),
                    destination(n)});
  }

 private:
  void on_file(const decode::File& f, const Input& in) {
    constexpr uint32_t kData = decode::cls::kTraining | decode::cls::kProtected | decode::cls::kSensitive;
    if (f.op != decode::FileOp::kOpen || !(f.access & decode::access::kRead) || f.result < 0 ||
        !(f.classes & kData) || (f.access & decode::access::kDirectory))
      return;
    if (raised_.size() > 10000) raised_.clear();  // bounded: jobs come and go
    reads_->on_read(in.job->id, in.file_path);
  }
  std::string remembered(uint64_t job) const override { return reads_->first(job); }
  void recall(uint64_t job, const std::string& memory) override { reads_->recall_first(job, memory); }
  // A connect or send to the destination, or a flow that sent bytes there;
  // not a connection the peer opened (accepted sockets' flows, whose
  // periodic updates do not say so themselves).
  bool carries_out(const decode::Net& n) {
    if (n.inbound || n.op == decode::NetOp::kAccept) {
      if (inbound_.size() > 100000) inbound_.clear();
      if (n.op == decode::NetOp::kFlow) inbound_.erase(n.cookie);
      else inbound_.insert(n.cookie);
      return false;
    }
    if (outbound(n)) return true;
    bool flow = n.op == decode::NetOp::kFlow || n.op == decode::NetOp::kFlowUpdate;
    return flow && n.bytes > 0 && !inbound_.count(n.cookie);
  }

  std::shared_ptr<DataReads> reads_;      // job -> the data it read (the first file: here)
  std::set<uint64_t> inbound_;            // cookies of accepted sockets still open
  std::set<std::pair<uint64_t, std::string>> raised_;  // (job, destination) chains raised
};

}  // namespace

const Catalogue* catalogue(const std::string& rule) {
  static const std::vector<Catalogue> kCatalogue = {
      {"unapproved-data-read", {}, {"AML.T0020", "AML.T0010.002"}},
      {"protected-data-write", {"T1565.001"}, {"AML.T0020"}},
      {"checkpoint-tamper", {}, {"AML.T0018"}},
      {"dataset-drift", {}, {"AML.T0020", "AML.T0059"}},
      {"egress-not-allowed", {"T1041"}, {"AML.T0025"}},
      {"egress-volume", {"T1030", "T1048"}, {}},
      {"exfil-chain", {"T1048"}, {"AML.T0025", "AML.T0035"}},
      {"transfer-tool-exec", {"T1105", "T1048"}, {}},
      {"credential-read", {"T1552.001"}, {"AML.T0055"}},
      {"shell-in-job", {"T1059.004"}, {}},
      {"dns-tunnel", {"T1048.003", "T1071.004"}, {}},
      {"io-uring-in-job", {"T1562.001"}, {}},
      {"fileless-exec", {"T1620"}, {}},
      {"preload-injection", {"T1574.006"}, {}},
      {"job-memory-access", {"T1055.008"}, {}},
      {"sensor-tamper", {"T1562.001"}, {}},
      {"gpu-access-outside-job", {"T1005"}, {"AML.T0025"}},
      {"rdma-egress", {"T1048"}, {"AML.T0025"}},
      {"checkpoint-code-exec", {"T1059"}, {"AML.T0018", "AML.T0011"}},
      {"remote-code-in-job", {"T1195"}, {"AML.T0010.003"}},
      {"exfil-to-allowed", {"T1567"}, {"AML.T0025"}},
  };
  for (const auto& c : kCatalogue)
    if (rule == c.rule) return &c;
  return nullptr;
}

// Rules in files of their own (daemon/rules/<rule-id>.cc).
std::unique_ptr<Rule> make_dataset_drift();
std::unique_ptr<Rule> make_preload_injection();
std::unique_ptr<Rule> make_job_memory_access();
std::unique_ptr<Rule> make_sensor_tamper();
std::unique_ptr<Rule> make_forged_dns_answer();
std::unique_ptr<Rule> make_unseen_socket();
std::unique_ptr<Rule> make_gpu_access_outside_job();
std::unique_ptr<Rule> make_rdma_egress();
std::unique_ptr<Rule> make_checkpoint_code_exec();
std::unique_ptr<Rule> make_remote_code_in_job();
std::unique_ptr<Rule> make_exfil_to_allowed(std::shared_ptr<DataReads> reads);

Engine::Engine() {
  add(std::make_unique<UnapprovedDataRead>());
  add(std::make_unique<ProtectedDataWrite>());
  add(std::make_unique<CheckpointTamper>());
  add(std::make_unique<TransferToolExec>());
  add(std::make_unique<CredentialRead>());
  add(std::make_unique<ShellInJob>());
  add(std::make_unique<IoUringInJob>());
  add(std::make_unique<FilelessExec>());
  add(std::make_unique<EgressNotAllowed>());
  // One account of what each job read, for the rules about data leaving.
  auto reads = std::make_shared<DataReads>();
  add(std::make_unique<EgressVolume>(reads));
  add(std::make_unique<ExfilChain>(reads));
  add(make_exfil_to_allowed(reads));
  add(make_dataset_drift());
  add(make_preload_injection());
  add(make_job_memory_access());
  add(make_sensor_tamper());
  add(make_forged_dns_answer());
  add(make_unseen_socket());
  add(make_gpu_access_outside_job());
  add(make_rdma_egress());
  add(make_checkpoint_code_exec());
  add(make_remote_code_in_job());
  add(dns_tunnel::make());
}

void Engine::add(std::unique_ptr<Rule> rule) {
  for (decode::Kind k : rule->kinds()) by_kind_.at(static_cast<size_t>(k)).push_back(rule.get());
  rules_.push_back(std::move(rule));
}

std::vector<std::string> Engine::rule_ids() const {
  std::vector<std::string> out;
  for (const auto& r : rules_) out.push_back(r->id());
  return out;
}

std::map<std::string, std::string> Engine::remembered(uint64_t job) const {
  std::map<std::string, std::string> out;
  for (const auto& r : rules_)
    if (std::string m = r->remembered(job); !m.empty()) out.emplace(r->id(), std::move(m));
  return out;
}

void Engine::recall(uint64_t job, const std::map<std::string, std::string>& memory) {
  for (const auto& r : rules_)
    if (auto it = memory.find(r->id()); it != memory.end()) r->recall(job, it->second);
}

std::vector<v1::Alert> Engine::run(const Input& in) {
  std::vector<v1::Alert> out;
  const decode::Header& h = decode::header(in.record);
  size_t kind = static_cast<size_t>(h.kind);
  if (kind >= by_kind_.size()) return out;
  std::vector<Finding> findings;
  for (Rule* r : by_kind_[kind]) r->on(in, &findings);
  for (const auto& f : findings) {
    Key key = key_of(f, f.job ? f.job : in.job, h.task);
    if (!seen_.insert(key).second) {
      ++suppressed_;
      count_repeat(key, f, in);
      continue;
    }
    if (seen_.size() > 100000) seen_.clear();  // bounded; a repeat after this is raised again
    out.push_back(to_alert(f, in));
  }
  return out;
}

bool Engine::Key::operator<(const Key& o) const {
  if (rule != o.rule) return *rule < *o.rule;
  return std::tie(job, tgid, start, object) < std::tie(o.job, o.tgid, o.start, o.object);
}

size_t Engine::KeyHash::operator()(const Key& k) const {
  uint64_t obj;
  std::memcpy(&obj, k.object.data(), sizeof(obj));  // a digest's bytes are already well mixed
  return std::hash<uint64_t>()(obj ^ k.job * 1000003u ^ (uint64_t{k.tgid} << 32) ^ k.start ^
                               reinterpret_cast<uintptr_t>(k.rule));
}

Engine::Key Engine::key_of(const Finding& f, const jobs::Job* job, const decode::TaskId& task) {
  Key k{&*rule_names_.insert(f.rule).first, job ? job->id : 0, task.tgid, task.start_ticks(), {}};
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(f.object.data()), f.object.size(), md);
  std::memcpy(k.object.data(), md, k.object.size());
  return k;
}

// Counted for the summary, for 4096 keys at once (beyond them a repeat is
// counted only, in suppressed()). A flood costs a count, a time and an id per
// repeat, not an alert; the summaries, whole alerts, are built all at once
// (job end, the periodic summary): 4096 of them are ~10 MiB for that moment.
void Engine::count_repeat(const Key& key, const Finding& f, const Input& in) {
  constexpr size_t kMaxKeys = 4096;
  auto it = repeats_.find(key);
  if (it == repeats_.end() && repeats_.size() < kMaxKeys) it = repeats_.emplace(key, Repeats{}).first;
  if (it == repeats_.end()) return;
  Repeats& r = it->second;
  r.last_ns = boot_to_wall_ns(decode::header(in.record).ts_ns);
  r.last_event = in.event_id;
  if (r.count++ > 0) return;
  r.first_ns = r.last_ns;
  v1::Alert a = to_alert(f, in);
  a.clear_time();
  a.clear_evidence();
  r.alert = a.SerializeAsString();
}

std::vector<v1::Alert> Engine::summaries(uint64_t job, size_t max) {
  std::vector<v1::Alert> out;
  auto it = repeats_.begin();
  for (; it != repeats_.end() && out.size() < max;) {
    if (job && it->first.job != job) {
      ++it;
      continue;
    }
    const Repeats& r = it->second;
    v1::Alert a;
    parse_any_text(&a, r.alert);
    a.set_time(rfc3339(r.last_ns));
    if (r.last_event) a.add_evidence(r.last_event);
    std::string since = rfc3339(r.first_ns);
    a.set_repeats(r.count);
    a.set_repeats_since(since);
    a.set_message(a.message() + "; repeated " + std::to_string(r.count) + " more time" + (r.count == 1 ? "" : "s") +
                  " since " + since);
    out.push_back(std::move(a));
    it = repeats_.erase(it);
  }
  bool rest = false;  // this job's repeats left for the next call
  for (; job && it != repeats_.end() && !rest; ++it) rest = it->first.job == job;
  if (job && !rest) std::erase_if(seen_, [&](const Key& k) { return k.job == job; });
  return out;
}

namespace {

// What an alert says of its record, each field as the record's event says it
// (render/fields.h): the process identity, the file, the destination.
void record_fields(const Finding& f, const Input& in, v1::Alert* a) {
  if (in.process_view) *a->mutable_process() = *in.process_view;  // rendered once per process
  else if (in.process) render::render_process(*in.process, in.procs, nullptr, a->mutable_process());
  else a->mutable_process()->set_pid(decode::header(in.record).task.tgid);
  // The journal review's identity key, whatever view the alert shows.
  a->mutable_process()->set_start_ticks(decode::header(in.record).task.start_ticks());
  if (f.file) file_ref(f, in, a);
  if (const auto* n = std::get_if<decode::Net>(&in.record)) {
    auto* nr = a->mutable_network();
    nr->set_protocol(render::protocol_name(n->protocol));
    nr->set_daddr(address_string(n->daddr));
    nr->set_dport(n->dport);
    if (!in.net_dns.empty()) nr->set_dns(in.net_dns);
    if (!in.net_sni.empty()) nr->set_sni(in.net_sni);
    if (in.net_total_bytes) {
      nr->set_bytes(in.net_total_bytes);
      nr->set_total_bytes(in.net_total_bytes);
    }
  }
  if (const auto* d = std::get_if<decode::Dns>(&in.record)) {
    auto* nr = a->mutable_network();
    nr->set_protocol(render::protocol_name(d->tcp ? 6 : 17));
    nr->set_daddr(address_string(d->daddr));
    nr->set_dport(d->dport);
    nr->set_dns(d->name);
  }
  if (const auto* d = std::get_if<decode::DnsAnswer>(&in.record)) {
    auto* nr = a->mutable_network();
    nr->set_protocol(render::protocol_name(d->tcp ? 6 : 17));
    nr->set_daddr(address_string(d->saddr));  // the answer's source
    nr->set_dport(d->sport);
    nr->set_dns(d->name);
  }
  if (const auto* d = std::get_if<decode::Device>(&in.record)) render::device_info(*d, a->mutable_device());
  if (f.model) *a->mutable_model() = *f.model;
  if (f.hash) *a->mutable_hash() = *f.hash;
  if (const auto* k = std::get_if<decode::Socket>(&in.record))
    if (k->family == 2 || k->family == 10) a->mutable_network()->set_protocol(render::protocol_name(k->protocol));
}

}  // namespace

v1::Alert Engine::to_alert(const Finding& f, const Input& in) const {
  v1::Alert a;
  const decode::Header& h = decode::header(in.record);
  a.set_time(rfc3339(boot_to_wall_ns(h.ts_ns)));
  a.set_rule(f.rule);
  a.set_severity(f.severity);
  a.set_action(f.action);
  a.set_message(f.message);
  const jobs::Job* job = f.job ? f.job : in.job;
  if (job) {
    a.mutable_job()->set_id(jobs::job_id_string(job->id));
    a.mutable_job()->set_policy(job->policy);
    a.mutable_job()->set_name(job->name);
    a.set_run(jobs::run_of(*job, job == in.job ? in.process : nullptr));
  }
  record_fields(f, in, &a);
  // The message may quote what the process view redacted (an LD_PRELOAD value).
  if (redact_ && redact_secrets(a.mutable_message())) a.set_redacted(true);
  if (a.process().redacted()) a.set_redacted(true);
  if (const Catalogue* c = catalogue(f.rule)) {
    for (const char* t : c->attack) a.mutable_mitre()->add_attack(t);
    for (const char* t : c->atlas) a.mutable_mitre()->add_atlas(t);
  }
  if (in.event_id) a.add_evidence(in.event_id);
  if (f.extra) a.MergeFrom(*f.extra);
  return a;
}

}  // namespace fts::rules
