#include "render/event.h"

#include "common/model_file.h"
#include "common/redact.h"
#include "common/time.h"
#include "render/fields.h"

namespace fts::render {
namespace {

const char* kind_name(decode::Kind k) {
  static const char* kKinds[] = {"",     "exec",     "fork",    "exit",    "cgroup_mkdir",   "cgroup_rmdir", "cgroup_move",
                                 "file", "io_uring", "network", "network", "process_access", "network",      "sensor_touch",
                                 "network"};
  if (k == decode::Kind::kFileHash) return "file_hash";
  if (k == decode::Kind::kDevice) return "device";
  if (k == decode::Kind::kModel) return "model_load";
  if (k == decode::Kind::kTlsHello) return "network";
  auto i = static_cast<uint32_t>(k);
  return i < std::size(kKinds) ? kKinds[i] : "unknown";
}

void file_identity(uint64_t kdev, uint64_t ino, uint32_t classes, v1::FileInfo* out) {
  if (kdev || ino) {
    out->set_dev(dev_number(kdev));
    out->set_ino(ino);
  }
  class_names(classes, [&](const char* n) { out->add_classes(n); });
}

void file(const decode::File& f, const Facts& facts, v1::FileInfo* out) {
  out->set_path(facts.file_path);
  if (!f.path.empty() && f.path != facts.file_path) out->set_kernel_path(f.path);
  if (!f.path2.empty()) out->set_new_path(f.path2);
  if (f.mnt_id) out->set_mnt_id(f.mnt_id);
  out->set_op(decode::to_string(f.op));
  access_names(f.access, [&](const char* n) { out->add_access(n); });
  if (f.source == decode::Source::kSyscall) out->set_result(f.result);
  file_identity(f.dev, f.ino, f.classes, out);
  out->set_source(f.source == decode::Source::kFanotify ? "fanotify" : "syscall");
  if (f.path_from_user) out->add_flags("path_from_user");
  if (f.path_flags.truncated) out->add_flags("path_truncated");
  if (f.path_flags.deleted) out->add_flags("path_deleted");
  if (f.path_flags.internal) out->add_flags("path_internal");
  if (f.matched_by_name) out->add_flags("matched_by_name");
}

void hash(const decode::FileHash& h, v1::Event* e) {
  auto* f = e->mutable_file();
  f->set_path(h.path);
  file_identity(h.dev, h.ino, h.classes, f);
  auto* out = e->mutable_hash();
  out->set_sha256(h.sha256);
  if (!h.sha256.empty()) out->set_size(h.size);
  if (h.mtime_wall_ns) out->set_mtime(rfc3339(h.mtime_wall_ns));
  out->set_reason(h.reason);
  out->set_cached(h.cached);
  out->set_manifest(h.manifest);
  out->set_manifest_verdict(h.manifest_verdict);
  out->set_manifest_sha256(h.manifest_sha256);
  out->set_first_sha256(h.first_sha256);
  out->set_error(h.error);
}

// A model file a job loaded, as the ML-BOM lists it: the loader's own
// environment says whether weights-only loading was off.
void model(const std::string& path, const state::Process* loader, v1::ModelFile* out) {
  out->set_path(path);
  out->set_format(to_string(model_format(path)));
  if (!loader) return;
  auto it = loader->run_env.find("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD");
  out->set_weights_only_disabled(it != loader->run_env.end() && weights_only_disabled(it->second));
}

void endpoint_local(const decode::Net& n, v1::NetworkInfo* out) {
  out->set_saddr(address_string(n.saddr));
  out->set_sport(n.sport);
}

void net(const decode::Net& n, const Facts& facts, v1::NetworkInfo* out) {
  out->set_op(decode::to_string(n.op));
  out->set_protocol(protocol_name(n.protocol));
  out->set_cookie(n.cookie);
  if (n.op == decode::NetOp::kBind || n.op == decode::NetOp::kListen) {
    endpoint_local(n, out);  // a local endpoint: no destination, nothing for the egress list to say
    return;
  }
  if (n.op == decode::NetOp::kFlow || n.op == decode::NetOp::kFlowUpdate) {
    endpoint_local(n, out);
    out->set_bytes(n.bytes);
    out->set_total_bytes(facts.total_bytes);
    if (facts.max_bytes) {
      out->set_max_bytes_per_destination(facts.max_bytes);
      out->set_over_max_bytes(facts.total_bytes > facts.max_bytes);
    }
  }
  if (n.op == decode::NetOp::kAccept) endpoint_local(n, out);
  out->set_daddr(address_string(n.daddr));
  out->set_dport(n.dport);
  if (!facts.dns_name.empty()) out->set_dns(facts.dns_name);
  if (!facts.sni.empty()) out->set_sni(facts.sni);
  if (n.inbound) {
    out->set_direction("inbound");  // the peer came to the job: the egress list does not judge it
    return;
  }
  out->set_verdict(n.allowed ? "allowed" : "not_allowed");
  out->set_action(n.blocked ? "blocked" : "allowed");
  if (n.by_dns) out->set_allowed_by_dns(true);
  if (n.untracked) out->set_untracked(true);
}

void dns_query(const decode::Dns& d, v1::NetworkInfo* out) {
  out->set_op("dns_query");
  out->set_protocol(protocol_name(d.tcp ? 6 : 17));
  out->set_daddr(address_string(d.daddr));
  out->set_dport(d.dport);
  out->set_cookie(d.cookie);
  out->set_dns(d.name);
  out->set_dns_id(d.id);
  if (d.truncated) out->set_dns_truncated(true);
}

void dns_answer(const decode::DnsAnswer& a, v1::NetworkInfo* out) {
  out->set_op("dns_answer");
  out->set_protocol(protocol_name(a.tcp ? 6 : 17));
  out->set_daddr(address_string(a.saddr));  // the job's peer: the resolver
  out->set_dport(a.sport);
  out->set_cookie(a.cookie);
  out->set_dns(a.name);
  out->set_dns_id(a.id);
  out->set_dns_rcode(decode::dns_rcode_name(a.rcode));
  for (const auto& x : a.addresses) {
    auto* o = out->add_dns_answers();
    o->set_address(address_string(x.addr));
    o->set_ttl(x.ttl);
  }
  if (a.allowed) out->set_dns_allowed(true);
  if (a.unmatched) out->set_dns_unmatched(true);
  if (a.untrusted) out->set_dns_untrusted(true);
  if (a.egress_name) out->set_dns_egress_name(true);
  if (a.cut) out->set_dns_cut(true);
  if (a.truncated) out->set_dns_truncated(true);
}

// The start of a job flow's TLS handshake: the name it asked the server for.
void tls_hello(const decode::TlsHello& t, const Facts& facts, v1::NetworkInfo* out) {
  out->set_op("tls_client_hello");
  out->set_protocol(protocol_name(6));
  out->set_daddr(address_string(t.daddr));
  out->set_dport(t.dport);
  out->set_cookie(t.cookie);
  if (!facts.dns_name.empty()) out->set_dns(facts.dns_name);
  if (!t.sni.empty()) out->set_sni(t.sni);
  else out->set_sni_error(t.sni_error);
}

// A socket no egress hook accounts for: what it is, and whether it was refused.
void socket(const decode::Socket& k, v1::NetworkInfo* out) {
  out->set_op("socket");
  out->set_family(decode::socket_family_name(k.family));
  out->set_socket_type(decode::socket_type_name(k.type));
  bool ip = k.family == 2 || k.family == 10;
  out->set_protocol(ip ? protocol_name(static_cast<uint8_t>(k.protocol)) : std::to_string(k.protocol));
  if (k.cookie) out->set_cookie(k.cookie);
  out->set_action(k.refused ? "blocked" : "allowed");
  if (k.killed) out->set_killed(true);
}

void sensor_touch(const decode::SensorTouch& t, v1::SensorTouch* out) {
  out->set_daemon_pid(t.target);
  if (t.op == decode::SensorOp::kSignal) {
    out->set_op("signal");
    out->set_signal(t.arg);
    out->set_signal_name(signal_name(static_cast<uint32_t>(t.arg)));
    out->set_si_code(t.code);
    return;
  }
  static constexpr const char* kOps[] = {"", "signal", "obj_get", "fd_by_id", "link_detach", "link_update"};
  auto op = static_cast<uint32_t>(t.op);
  out->set_op(op < std::size(kOps) ? kOps[op] : "?");
  if (t.object == decode::ObjType::kMap) {
    out->set_map_id(t.arg);
    out->set_map_name(t.name);
  }
  out->set_object_type(decode::to_string(t.object));
  out->set_object_id(t.arg);
  out->set_object_name(t.name);
  out->set_result(t.result);
}

template <class... F>
struct Overload : F... {
  using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

}  // namespace

void job_ref(const jobs::Job& j, v1::JobRef* out) {
  out->set_id(jobs::job_id_string(j.id));
  out->set_policy(j.policy);
  out->set_name(j.name);
}

void job_info(const jobs::Job& j, v1::Job* out) {
  out->set_id(jobs::job_id_string(j.id));
  out->set_policy(j.policy);
  out->set_name(j.name);
  out->set_mode(j.mode);
  out->set_started_by(jobs::to_string(j.started_by));
  out->set_start_time(rfc3339(j.start_wall_ns));
  if (j.ended) out->set_end_time(rfc3339(j.end_wall_ns));
  out->set_root_pid(j.root.tgid);
  for (const auto& [k, v] : j.labels) (*out->mutable_labels())[k] = v;
  out->set_live_processes(static_cast<uint32_t>(j.live()));
  out->set_run(j.run);
  out->set_run_source(j.run_source);
  for (const auto& [num, d] : j.devices) {
    auto* o = out->add_devices();
    o->set_device(d.path);
    o->set_class_(decode::to_string(d.cls));
    o->set_number(std::to_string(d.major) + ":" + std::to_string(d.minor));
    o->set_opens(d.opens);
    o->set_first_time(rfc3339(d.first_wall_ns));
  }
}

void EventRenderer::recycle(v1::Event* e) {
  if (e->has_process() && !spare_.process) spare_.process.reset(e->release_process());
  if (e->has_job() && !spare_.job) spare_.job.reset(e->release_job());
  if (e->has_file() && !spare_.file) spare_.file.reset(e->release_file());
  if (e->has_network() && !spare_.network) spare_.network.reset(e->release_network());
}

template <typename M>
M* EventRenderer::reuse(std::unique_ptr<M>& spare, bool has, void (v1::Event::*adopt)(M*), M* (v1::Event::*mut)(),
                        v1::Event* e) {
  if (!has && spare) {
    spare->Clear();  // keeps its strings' and repeated fields' memory
    (e->*adopt)(spare.release());
  }
  return (e->*mut)();
}

v1::Process* EventRenderer::process_of(v1::Event* e) {
  return reuse(spare_.process, e->has_process(), &v1::Event::set_allocated_process, &v1::Event::mutable_process, e);
}
v1::FileInfo* EventRenderer::file_of(v1::Event* e) {
  return reuse(spare_.file, e->has_file(), &v1::Event::set_allocated_file, &v1::Event::mutable_file, e);
}
v1::NetworkInfo* EventRenderer::network_of(v1::Event* e) {
  return reuse(spare_.network, e->has_network(), &v1::Event::set_allocated_network, &v1::Event::mutable_network, e);
}

void EventRenderer::set_job(const jobs::Job& j, v1::Event* e) {
  if (job_ref_id_ != j.id || job_ref_.policy() != j.policy || job_ref_.name() != j.name) {
    job_ref(j, &job_ref_);  // the id's hex string once per job, not per event
    job_ref_id_ = j.id;
  }
  *reuse(spare_.job, e->has_job(), &v1::Event::set_allocated_job, &v1::Event::mutable_job, e) = job_ref_;
}

void EventRenderer::base(uint64_t id, uint64_t wall_ns, const char* kind, v1::Event* e) {
  recycle(e);
  e->Clear();
  last_view_ = nullptr;
  e->set_id(id);
  append_rfc3339(wall_ns, e->mutable_time());
  e->set_host(host_);
  e->set_kind(kind);
}

void EventRenderer::job_change(const jobs::JobChange& c, uint64_t id, v1::Event* e) {
  const jobs::Job& j = *c.job;
  bool started = c.kind == jobs::JobChange::kStarted;
  base(id, started ? j.start_wall_ns : j.end_wall_ns, started ? "job_start" : "job_end", e);
  set_job(j, e);
  e->set_run(j.run);
  job_info(j, e->mutable_job_info());
  e->mutable_job_info()->set_host(host_);  // the journal's runs say which node a job ran on
  if (const state::Process* p = procs_->find(j.root)) {
    v1::Process* out = process_of(e);
    *out = views_->of(*p);
    out->clear_tid();
  }
}

bool EventRenderer::process(const decode::Record& r, const Facts& facts, v1::Event* e) {
  const decode::Header& h = decode::header(r);
  if (!facts.process) {
    v1::Process* out = process_of(e);
    out->set_pid(h.task.tgid);
    out->set_tid(h.tid);
    return false;
  }
  v1::Process* view = views_->mutable_of(*facts.process);
  view->set_tid(h.tid);
  last_view_ = view;
  // Records that add to their process (an exec's LD_PRELOAD, a cgroup move)
  // get a copy; the others lend the view itself: no copy of args and ancestry.
  const auto* x = std::get_if<decode::Exec>(&r);
  if ((x && (!x->preload.empty() || !x->audit.empty())) || std::holds_alternative<decode::Cgroup>(r)) {
    *process_of(e) = *view;
    return false;
  }
  e->unsafe_arena_set_allocated_process(view);
  return true;
}

void EventRenderer::access(const decode::ProcessAccess& a, v1::ProcessAccess* out) {
  out->set_op(decode::to_string(a.op));
  if (a.op == decode::AccessOp::kPtrace) out->set_request(decode::ptrace_request_name(a.arg));
  out->set_target_pid(a.target.tgid);
  out->set_target_tid(a.target_tid);
  const state::Process* p = procs_->find(state::key_of(a.target));
  // The target's identity as its own events show it.
  if (p) out->set_target_start_time(views_->of(*p).start_time());
  else out->set_target_start_time(boot_time(a.target.start_ns));
  if (p) out->set_target_exe(p->exe);
  if (const jobs::Job* j = jobs_->find(a.target_job)) job_ref(*j, out->mutable_target_job());
  out->set_result(a.result);
}

void EventRenderer::detail(const decode::Record& r, const Facts& facts, v1::Event* e) {
  std::visit(Overload{
                 [&](const decode::Exit& x) {
                   // wait(2) status: exit code in bits 8-15, terminating signal in 0-6
                   e->mutable_exit()->set_code(static_cast<int32_t>((x.status >> 8) & 0xff));
                   e->mutable_exit()->set_signal(static_cast<int32_t>(x.status & 0x7f));
                 },
                 [&](const decode::File& f) { file(f, facts, file_of(e)); },
                 [&](const decode::IoUring& u) {
                   auto* out = e->mutable_io_uring();
                   out->set_opcode(u.opcode);
                   out->set_op(io_uring_op_name(u.opcode));
                   if (u.fd >= 0) out->set_fd(u.fd);
                 },
                 [&](const decode::Net& n) { net(n, facts, network_of(e)); },
                 [&](const decode::FileHash& h) {
                   hash(h, e);
                   if (model_format(h.path) == ModelFormat::kNone) return;
                   model(h.path, facts.process, e->mutable_model());
                   e->mutable_model()->set_sha256(h.sha256);
                   if (!h.sha256.empty()) e->mutable_model()->set_size(h.size);
                 },
                 [&](const decode::Model& m) { model(m.path, facts.process, e->mutable_model()); },
                 [&](const decode::Dns& d) { dns_query(d, network_of(e)); },
                 [&](const decode::DnsAnswer& a) { dns_answer(a, network_of(e)); },
                 [&](const decode::Socket& k) { socket(k, network_of(e)); },
                 [&](const decode::TlsHello& t) { tls_hello(t, facts, network_of(e)); },
                 [&](const decode::ProcessAccess& a) { access(a, e->mutable_access()); },
                 [&](const decode::SensorTouch& t) { sensor_touch(t, e->mutable_sensor_touch()); },
                 [&](const decode::Device& d) { device_info(d, e->mutable_device()); },
                 [&](const decode::Exec& x) {
                   // A value may carry a token (…/hf_…/x.so): redacted like args.
                   auto loader_var = [&](const std::string& value, const char* flag) {
                     e->mutable_process()->add_flags(flag);
                     std::string v = value;
                     if (views_->redacting() && redact_secrets(&v)) e->mutable_process()->set_redacted(true);
                     return v;
                   };
                   if (!x.preload.empty()) e->mutable_process()->set_ld_preload(loader_var(x.preload, "ld_preload"));
                   if (!x.audit.empty()) e->mutable_process()->set_ld_audit(loader_var(x.audit, "ld_audit"));
                 },
                 [&](const decode::Cgroup& c) {
                   e->mutable_cgroup()->set_id(c.id);
                   e->mutable_cgroup()->set_path(c.path);
                   e->mutable_process()->mutable_cgroup()->set_id(c.id);
                   e->mutable_process()->mutable_cgroup()->set_path(c.path);
                 },
                 [&](const auto&) {},
             },
             r);
}

bool EventRenderer::record(const decode::Record& r, const Facts& facts, const jobs::Job* job, uint64_t id,
                           v1::Event* e) {
  const decode::Header& h = decode::header(r);
  base(id, boot_to_wall_ns(h.ts_ns), kind_name(h.kind), e);
  if (job) {
    set_job(*job, e);
    // An access is about the job reached into: the accessor is not its member.
    e->set_run(jobs::run_of(*job, job == facts.job ? facts.process : nullptr));
  }
  bool lent = process(r, facts, e);
  detail(r, facts, e);
  return lent;
}

}  // namespace fts::render
