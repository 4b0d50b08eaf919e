#include <linux/types.h>

#include <sys/sysmacros.h>

#include <array>
#include <filesystem>
#include <cstring>

#include "decode/records.h"

#include "common/tls_sni.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::decode {
namespace {

// A bounded reader over one record's bytes.
class Bytes {
 public:
  explicit Bytes(std::span<const uint8_t> b) : b_(b) {}
  template <typename T>
  bool fixed(T* out) const {
    if (b_.size() < sizeof(T)) return false;
    std::memcpy(out, b_.data(), sizeof(T));
    return true;
  }
  // The next `len` bytes after the fixed part, or false if they are not there.
  bool take(size_t* pos, size_t len, std::string_view* out) const {
    if (*pos > b_.size() || len > b_.size() - *pos) return false;
    *out = std::string_view(reinterpret_cast<const char*>(b_.data()) + *pos, len);
    *pos += len;
    return true;
  }

 private:
  std::span<const uint8_t> b_;
};

TaskId task_id(const fts_task_id& t) { return TaskId{t.tgid, t.start_ns}; }

Header header_of(const fts_event_header& h) {
  Header out;
  out.kind = static_cast<Kind>(h.kind);
  out.ts_ns = h.ts_ns;
  out.job_id = h.job_id;
  out.cgroup_id = h.cgroup_id;
  out.task = task_id(h.task);
  out.tid = h.tid;
  out.cpu = h.cpu;
  return out;
}

PathFlags path_flags(uint32_t bits) {
  return PathFlags{(bits & FTS_PATH_TRUNCATED) != 0, (bits & FTS_PATH_INTERNAL) != 0,
                   (bits & FTS_PATH_DELETED) != 0};
}

std::string until_nul(std::string_view s) { return std::string(s.substr(0, s.find('\0'))); }

// "NAME=value\0" strings; one cut at the kernel's limit has no NUL and ends the list.
std::map<std::string, std::string> run_variables(std::string_view s) {
  std::map<std::string, std::string> out;
  while (!s.empty()) {
    size_t nul = s.find('\0');
    std::string_view kv = s.substr(0, nul);
    if (size_t eq = kv.find('='); eq != std::string_view::npos && eq > 0)
      out[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
    if (nul == std::string_view::npos) break;
    s.remove_prefix(nul + 1);
  }
  return out;
}

Result<Record> decode_exec(std::span<const uint8_t> b) {
  fts_exec_event e;
  Bytes in(b);
  if (!in.fixed(&e)) return make_error("exec record shorter than its fixed part");
  Exec x;
  x.hdr = header_of(e.hdr);
  x.parent = task_id(e.parent);
  x.uid = e.uid, x.gid = e.gid, x.euid = e.euid, x.egid = e.egid;
  x.exe_flags = path_flags(e.flags);
  x.cwd_flags = path_flags(e.flags >> FTS_PATH_FLAG_BITS);
  x.args_truncated = e.flags & FTS_EXEC_ARGS_TRUNCATED;
  x.job_started = e.flags & FTS_EXEC_JOB_STARTED;
  x.joined_by_cgroup = e.flags & FTS_EXEC_JOINED_BY_CGROUP;
  x.preload_truncated = e.flags & FTS_EXEC_PRELOAD_TRUNCATED;
  x.audit_truncated = e.flags & FTS_EXEC_AUDIT_TRUNCATED;
  x.env_truncated = e.flags & FTS_EXEC_ENV_TRUNCATED;
  x.policy = e.policy;
  x.argc = e.argc;
  size_t pos = sizeof(e);
  std::string_view exe, cwd, filename, args, preload, audit, run_env;
  if (!in.take(&pos, e.exe_len, &exe) || !in.take(&pos, e.cwd_len, &cwd) ||
      !in.take(&pos, e.filename_len, &filename) || !in.take(&pos, e.args_len, &args) ||
      !in.take(&pos, e.preload_len, &preload) || !in.take(&pos, e.audit_len, &audit) ||
      !in.take(&pos, e.run_env_len, &run_env))
    return make_error("exec record: string lengths run past its end");
  if (e.flags & FTS_EXEC_PRELOAD) x.preload = until_nul(preload);
  if (e.flags & FTS_EXEC_AUDIT) x.audit = until_nul(audit);
  if (e.flags & FTS_EXEC_RUN_ENV) x.run_env = run_variables(run_env);
  x.run_env_truncated = e.flags & FTS_EXEC_RUN_ENV_TRUNCATED;
  x.exe = path_from_components(exe, e.exe_depth);
  x.cwd = path_from_components(cwd, e.cwd_depth);
  x.filename = until_nul(filename);
  while (!args.empty()) {
    size_t nul = args.find('\0');
    x.args.emplace_back(args.substr(0, nul));
    if (nul == std::string_view::npos) break;
    args.remove_prefix(nul + 1);
  }
  return Record{std::move(x)};
}

Result<Record> decode_fork(std::span<const uint8_t> b) {
  fts_fork_event e;
  if (!Bytes(b).fixed(&e)) return make_error("fork record too short");
  Fork f;
  f.hdr = header_of(e.hdr);
  f.parent = task_id(e.parent);
  f.joined_by_cgroup = e.flags & FTS_FORK_JOINED_BY_CGROUP;
  return Record{f};
}

Result<Record> decode_exit(std::span<const uint8_t> b) {
  fts_exit_event e;
  if (!Bytes(b).fixed(&e)) return make_error("exit record too short");
  return Record{Exit{header_of(e.hdr), e.exit_code}};
}

Result<Record> decode_cgroup(std::span<const uint8_t> b) {
  fts_cgroup_event e;
  Bytes in(b);
  if (!in.fixed(&e)) return make_error("cgroup record too short");
  size_t pos = sizeof(e);
  std::string_view path;
  if (!in.take(&pos, e.path_len, &path)) return make_error("cgroup record: path runs past its end");
  return Record{Cgroup{header_of(e.hdr), e.id, e.level, until_nul(path)}};
}

Result<Record> decode_file(std::span<const uint8_t> b) {
  fts_file_event e;
  Bytes in(b);
  if (!in.fixed(&e)) return make_error("file record too short");
  File f;
  f.hdr = header_of(e.hdr);
  if (e.op == 0 || e.op >= FTS_FILE_OP_MAX) return make_error("file record: unknown op " + std::to_string(e.op));
  f.op = static_cast<FileOp>(e.op);
  f.access = e.access;
  f.open_flags = e.open_flags;
  f.result = e.result;
  f.dev = e.dev;
  f.ino = e.ino;
  f.mnt_id = e.mnt_id;
  f.classes = e.classes;
  f.watch_id = e.watch_id;
  f.match_depth = e.match_depth;
  f.path_flags = path_flags(e.flags);
  f.path_from_user = e.flags & FTS_FILE_PATH_FROM_USER;
  f.path2_from_user = e.flags & FTS_FILE_PATH2_FROM_USER;
  f.path_raw = e.flags & FTS_FILE_PATH_RAW;
  f.matched_by_name = e.flags & FTS_FILE_MATCHED_BY_NAME;
  size_t pos = sizeof(e);
  std::string_view p1, p2, exe;
  if (!in.take(&pos, e.path_len, &p1) || !in.take(&pos, e.path2_len, &p2) || !in.take(&pos, e.exe_len, &exe))
    return make_error("file record: path lengths run past its end");
  if (e.exe_len) f.exe = path_from_components(exe, e.exe_depth);
  if (f.path_raw) f.path = until_nul(p1);
  else if (e.path_len) f.path = path_from_components(p1, e.path_depth, f.path_from_user);
  if (e.path2_len) f.path2 = path_from_components(p2, e.path2_depth, f.path2_from_user);
  return Record{std::move(f)};
}

Result<Record> decode_io_uring(std::span<const uint8_t> b) {
  fts_io_uring_event e;
  if (!Bytes(b).fixed(&e)) return make_error("io_uring record too short");
  return Record{IoUring{header_of(e.hdr), e.opcode, e.fd}};
}

// FTS_NET_* flags, the same for records and for the flows map's values.
void net_flags(uint32_t flags, Net* n) {
  n->v4 = flags & FTS_NET_V4;
  n->allowed = flags & FTS_NET_ALLOWED;
  n->blocked = flags & FTS_NET_BLOCKED;
  n->by_dns = flags & FTS_NET_BY_DNS;
  n->inbound = flags & FTS_NET_INBOUND;
  n->untracked = flags & FTS_NET_UNTRACKED;
}

// What a ring-buffer network record and a flows-map value share: bytes,
// both ends, protocol, flags and policy, read the same way from either.
template <typename K>
void endpoints(const K& k, Net* n) {
  n->bytes = k.bytes;
  std::memcpy(n->saddr.data(), k.saddr, 16);
  std::memcpy(n->daddr.data(), k.daddr, 16);
  n->sport = k.sport;
  n->dport = k.dport;
  n->protocol = k.protocol;
  net_flags(k.flags, n);
  n->policy = k.policy;
}

Result<Record> decode_net(std::span<const uint8_t> b) {
  fts_net_event e;
  if (!Bytes(b).fixed(&e)) return make_error("network record too short");
  if (e.op == 0 || e.op >= FTS_NET_OP_MAX) return make_error("network record: unknown op " + std::to_string(e.op));
  Net n;
  n.hdr = header_of(e.hdr);
  n.op = static_cast<NetOp>(e.op);
  n.cookie = e.cookie;
  endpoints(e, &n);
  return Record{n};
}

Result<Record> decode_dns(std::span<const uint8_t> b) {
  fts_dns_event e;
  if (!Bytes(b).fixed(&e)) return make_error("dns record too short");
  if (e.qname_len > FTS_DNS_NAME) return make_error("dns record: name length past its buffer");
  Dns d;
  d.hdr = header_of(e.hdr);
  d.cookie = e.cookie;
  std::memcpy(d.daddr.data(), e.daddr, 16);
  d.dport = e.dport;
  d.id = e.id;
  d.name = dns_name_from_wire(std::string_view(reinterpret_cast<const char*>(e.qname), e.qname_len), &d.truncated);
  d.tcp = e.flags & FTS_DNS_TCP;
  return Record{std::move(d)};
}

Result<Record> decode_dns_answer(std::span<const uint8_t> b) {
  fts_dns_answer_event e;
  if (!Bytes(b).fixed(&e)) return make_error("dns answer record too short");
  if (e.qname_len > FTS_DNS_NAME) return make_error("dns answer record: name length past its buffer");
  if (e.count > FTS_DNS_ANSWERS) return make_error("dns answer record: more addresses than it holds");
  DnsAnswer d;
  d.hdr = header_of(e.hdr);
  d.cookie = e.cookie;
  std::memcpy(d.saddr.data(), e.saddr, 16);
  d.sport = e.sport;
  d.id = e.id;
  d.rcode = e.rcode;
  d.ancount = e.ancount;
  d.tcp = e.flags & FTS_DNS_TCP;
  d.cut = e.flags & FTS_DNS_CUT;
  d.allowed = e.flags & FTS_DNS_ALLOWED;
  d.unmatched = e.flags & FTS_DNS_UNMATCHED;
  d.untrusted = e.flags & FTS_DNS_UNTRUSTED;
  d.egress_name = e.flags & FTS_DNS_EGRESS_NAME;
  d.name = dns_name_from_wire(std::string_view(reinterpret_cast<const char*>(e.qname), e.qname_len), &d.truncated);
  for (uint8_t i = 0; i < e.count; ++i) {
    DnsAnswer::Address a;
    std::memcpy(a.addr.data(), e.addrs[i].addr, 16);
    a.ttl = e.addrs[i].ttl;
    a.v6 = e.addrs[i].type == 28;
    d.addresses.push_back(a);
  }
  return Record{std::move(d)};
}

Result<Record> decode_socket(std::span<const uint8_t> b) {
  fts_socket_event e;
  if (!Bytes(b).fixed(&e)) return make_error("socket record too short");
  Socket k;
  k.hdr = header_of(e.hdr);
  k.cookie = e.cookie;
  k.family = e.family;
  k.type = e.type;
  k.protocol = e.protocol;
  k.refused = e.net_flags & FTS_NET_BLOCKED;
  k.killed = e.flags & FTS_SOCKET_KILLED;
  k.policy = e.policy;
  return Record{k};
}

Result<Record> decode_access(std::span<const uint8_t> b) {
  fts_process_access_event e;
  if (!Bytes(b).fixed(&e)) return make_error("access record too short");
  if (e.op == 0 || e.op >= FTS_ACCESS_OP_MAX) return make_error("access record: unknown op " + std::to_string(e.op));
  ProcessAccess a;
  a.hdr = header_of(e.hdr);
  a.op = static_cast<AccessOp>(e.op);
  a.target = task_id(e.target);
  a.target_job = e.target_job;
  a.target_tid = e.target_tid;
  a.result = e.result;
  a.arg = e.arg;
  return Record{a};
}

Result<Record> decode_sensor(std::span<const uint8_t> b) {
  fts_sensor_event e;
  if (!Bytes(b).fixed(&e)) return make_error("sensor record too short");
  if (e.op == 0 || e.op >= FTS_SENSOR_OP_MAX) return make_error("sensor record: unknown op " + std::to_string(e.op));
  SensorTouch t;
  t.hdr = header_of(e.hdr);
  t.op = static_cast<SensorOp>(e.op);
  t.arg = e.arg;
  t.result = e.result;
  if (t.op == SensorOp::kSignal) {
    t.code = e.code;
  } else {
    if (e.code < 0 || e.code >= FTS_OBJ_TYPE_MAX) return make_error("sensor record: unknown object type " + std::to_string(e.code));
    t.object = static_cast<ObjType>(e.code);
  }
  t.target = e.target;
  t.name = std::string(e.name, strnlen(e.name, sizeof(e.name)));
  return Record{std::move(t)};
}

Result<Record> decode_device(std::span<const uint8_t> b) {
  fts_device_event e;
  Bytes in(b);
  if (!in.fixed(&e)) return make_error("device record too short");
  if (e.cls == 0 || e.cls >= FTS_DEV_CLASS_MAX) return make_error("device record: unknown class " + std::to_string(e.cls));
  Device d;
  d.hdr = header_of(e.hdr);
  d.cls = static_cast<DeviceClass>(e.cls);
  d.major = e.major;
  d.minor = e.minor;
  d.dev = e.dev;
  d.ino = e.ino;
  d.access = e.access;
  d.result = e.result;
  d.path_flags = path_flags(e.flags);
  size_t pos = sizeof(e);
  std::string_view p;
  if (!in.take(&pos, e.path_len, &p)) return make_error("device record: path length runs past its end");
  if (e.path_len) d.path = path_from_components(p, e.path_depth);
  return Record{std::move(d)};
}

Result<Record> decode_model(std::span<const uint8_t> b) {
  fts_model_event e;
  Bytes in(b);
  if (!in.fixed(&e)) return make_error("model record too short");
  if (e.op == 0 || e.op >= FTS_MODEL_OP_MAX) return make_error("model record: unknown op " + std::to_string(e.op));
  Model m;
  m.hdr = header_of(e.hdr);
  m.op = static_cast<ModelOp>(e.op);
  m.fd = e.fd;
  m.dev = e.dev;
  m.ino = e.ino;
  m.path_flags = path_flags(e.flags);
  m.close_unseen = e.flags & FTS_MODEL_CLOSE_UNSEEN;
  m.repeat = e.flags & FTS_MODEL_REPEAT;
  m.held = e.flags & FTS_MODEL_HELD;
  size_t pos = sizeof(e);
  std::string_view p;
  if (!in.take(&pos, e.path_len, &p)) return make_error("model record: path length runs past its end");
  if (e.path_len) m.path = path_from_components(p, e.path_depth);
  return Record{std::move(m)};
}

Result<Record> decode_tls_hello(std::span<const uint8_t> b) {
  fts_tls_hello_event e;
  if (!Bytes(b).fixed(&e)) return make_error("tls hello record too short");
  if (e.len > FTS_TLS_HELLO_MAX) return make_error("tls hello record: length past its buffer");
  TlsHello t;
  t.hdr = header_of(e.hdr);
  t.cookie = e.cookie;
  std::memcpy(t.daddr.data(), e.daddr, 16);
  t.dport = e.dport;
  t.cut = e.flags & FTS_TLS_CUT;
  auto sni = tls::client_hello_sni(std::span<const uint8_t>(e.data, e.len));
  if (sni) t.sni = std::move(*sni);
  else t.sni_error = sni.error();
  return Record{std::move(t)};
}

using Decoder = Result<Record> (*)(std::span<const uint8_t>);

// One decoder per record kind, indexed by enum fts_event_kind.
constexpr std::array<Decoder, FTS_EV_KIND_MAX> kDecoders = [] {
  std::array<Decoder, FTS_EV_KIND_MAX> t{};
  t[FTS_EV_EXEC] = decode_exec;
  t[FTS_EV_FORK] = decode_fork;
  t[FTS_EV_EXIT] = decode_exit;
  t[FTS_EV_CGROUP_MKDIR] = decode_cgroup;
  t[FTS_EV_CGROUP_RMDIR] = decode_cgroup;
  t[FTS_EV_CGROUP_ATTACH] = decode_cgroup;
  t[FTS_EV_FILE] = decode_file;
  t[FTS_EV_IO_URING] = decode_io_uring;
  t[FTS_EV_NET] = decode_net;
  t[FTS_EV_DNS] = decode_dns;
  t[FTS_EV_PROCESS_ACCESS] = decode_access;
  t[FTS_EV_SENSOR] = decode_sensor;
  t[FTS_EV_DNS_ANSWER] = decode_dns_answer;
  t[FTS_EV_SOCKET] = decode_socket;
  t[FTS_EV_DEVICE] = decode_device;
  t[FTS_EV_MODEL] = decode_model;
  t[FTS_EV_TLS_HELLO] = decode_tls_hello;
  return t;
}();

static_assert(static_cast<uint32_t>(Kind::kExec) == FTS_EV_EXEC);
static_assert(static_cast<uint32_t>(Kind::kCgroupAttach) == FTS_EV_CGROUP_ATTACH);
static_assert(static_cast<uint32_t>(Kind::kNet) == FTS_EV_NET);
static_assert(static_cast<uint32_t>(Kind::kDns) == FTS_EV_DNS);
static_assert(static_cast<uint32_t>(Kind::kProcessAccess) == FTS_EV_PROCESS_ACCESS);
static_assert(static_cast<uint32_t>(Kind::kSensor) == FTS_EV_SENSOR);
static_assert(static_cast<uint32_t>(Kind::kModel) == FTS_EV_MODEL);
static_assert(static_cast<uint16_t>(ModelOp::kClose) == FTS_MODEL_CLOSE);
static_assert(static_cast<uint16_t>(AccessOp::kMemOpen) == FTS_ACCESS_MEM_OPEN);
static_assert(static_cast<uint32_t>(SensorOp::kObjGet) == FTS_SENSOR_OBJ_GET);
static_assert(static_cast<uint32_t>(SensorOp::kFdById) == FTS_SENSOR_FD_BY_ID);
static_assert(static_cast<uint32_t>(SensorOp::kLinkDetach) == FTS_SENSOR_LINK_DETACH);
static_assert(static_cast<uint32_t>(SensorOp::kLinkUpdate) == FTS_SENSOR_LINK_UPDATE);
static_assert(static_cast<uint32_t>(ObjType::kMap) == FTS_OBJ_MAP && static_cast<uint32_t>(ObjType::kProg) == FTS_OBJ_PROG &&
              static_cast<uint32_t>(ObjType::kLink) == FTS_OBJ_LINK);
static_assert(cls::kPreload == FTS_CLASS_PRELOAD);
static_assert(cls::kCache == FTS_CLASS_CACHE);
static_assert(static_cast<uint32_t>(Kind::kDnsAnswer) == FTS_EV_DNS_ANSWER);
static_assert(static_cast<uint16_t>(NetOp::kAccept) == FTS_NET_ACCEPT);
static_assert(static_cast<uint16_t>(NetOp::kFlow) == FTS_NET_FLOW);
static_assert(static_cast<uint32_t>(Kind::kSocket) == FTS_EV_SOCKET);
static_assert(static_cast<uint16_t>(NetOp::kListen) == FTS_NET_LISTEN);
static_assert(static_cast<uint16_t>(NetOp::kFlowUpdate) == FTS_NET_FLOW_UPDATE);
static_assert(kNsPerTick == FTS_NS_PER_TICK);
static_assert(static_cast<uint32_t>(Kind::kDevice) == FTS_EV_DEVICE);
static_assert(static_cast<uint32_t>(Kind::kTlsHello) == FTS_EV_TLS_HELLO);
static_assert(static_cast<uint32_t>(DeviceClass::kGpu) == FTS_DEV_GPU &&
              static_cast<uint32_t>(DeviceClass::kRdma) == FTS_DEV_RDMA);

}  // namespace

const Header& header(const Record& r) {
  return std::visit([](const auto& x) -> const Header& { return x.hdr; }, r);
}

uint64_t job_id_for(uint32_t tgid, uint64_t start_ns) { return fts_job_id(tgid, start_ns); }

static_assert(kCgroupJobBit == FTS_JOB_CGROUP_BIT);

std::string path_from_components(std::string_view encoded, uint16_t depth, bool fold) {
  std::vector<std::string_view> parts;
  while (!encoded.empty() && parts.size() < depth) {
    size_t nul = encoded.find('\0');
    parts.push_back(encoded.substr(0, nul));
    if (nul == std::string_view::npos) break;
    encoded.remove_prefix(nul + 1);
  }
  if (parts.empty()) return "/";
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (it == parts.rbegin() && !it->empty() && it->front() == '/') {
      out = std::string(*it);  // a caller's absolute string: nothing above it
      continue;
    }
    if (out.empty() || out.back() != '/') out += '/';
    out += *it;
  }
  if (fold) out = std::filesystem::path(out).lexically_normal().string();
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

const char* to_string(FileOp op) {
  static const char* kNames[] = {"",       "open",   "truncate", "rename", "link",        "symlink", "unlink", "rmdir",
                                 "mkdir",  "chmod",  "chown",    "modify", "close_write", "create",  "delete"};
  auto i = static_cast<size_t>(op);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "?";
}

std::string dns_name_from_wire(std::string_view wire, bool* truncated) {
  std::string out;
  size_t pos = 0;
  *truncated = true;
  while (pos < wire.size()) {
    auto len = static_cast<uint8_t>(wire[pos]);
    if (len == 0) {
      *truncated = false;
      break;
    }
    if (len & 0xc0) break;  // a compression pointer has no place in a question
    if (pos + 1 + len > wire.size()) {
      if (!out.empty()) out += '.';
      out.append(wire.substr(pos + 1));
      break;
    }
    if (!out.empty()) out += '.';
    out.append(wire.substr(pos + 1, len));
    pos += 1 + len;
  }
  return out;
}

const char* to_string(NetOp op) {
  switch (op) {
    case NetOp::kConnect: return "connect";
    case NetOp::kSendmsg: return "sendmsg";
    case NetOp::kFlow: return "flow";
    case NetOp::kBind: return "bind";
    case NetOp::kListen: return "listen";
    case NetOp::kFlowUpdate: return "flow_update";
    case NetOp::kAccept: return "accept";
  }
  return "?";
}

const char* to_string(DeviceClass c) { return c == DeviceClass::kRdma ? "rdma" : "gpu"; }

const char* to_string(AccessOp op) {
  switch (op) {
    case AccessOp::kPtrace: return "ptrace";
    case AccessOp::kVmRead: return "process_vm_readv";
    case AccessOp::kVmWrite: return "process_vm_writev";
    case AccessOp::kMemOpen: return "mem_open";
  }
  return "?";
}

const char* to_string(ObjType t) {
  static constexpr const char* kNames[] = {"map", "prog", "link"};
  auto i = static_cast<uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::string ptrace_request_name(uint64_t request) {
  switch (request) {
    case 1: return "peektext";
    case 2: return "peekdata";
    case 3: return "peekuser";
    case 4: return "poketext";
    case 5: return "pokedata";
    case 6: return "pokeuser";
    case 7: return "cont";
    case 8: return "kill";
    case 12: return "getregs";
    case 13: return "setregs";
    case 16: return "attach";
    case 17: return "detach";
    case 0x4204: return "getregset";
    case 0x4205: return "setregset";
    case 0x4206: return "seize";
    case 0x4207: return "interrupt";
  }
  return "request " + std::to_string(request);
}

const char* dns_rcode_name(uint8_t rcode) {
  static const char* kNames[] = {"noerror", "formerr", "servfail", "nxdomain", "notimp", "refused"};
  return rcode < sizeof(kNames) / sizeof(kNames[0]) ? kNames[rcode] : "other";
}

const char* socket_family_name(uint16_t family) {
  // The families a job might open; the rest by number.
  static const std::pair<uint16_t, const char*> kNames[] = {
      {1, "unix"},  {2, "inet"},      {10, "inet6"}, {16, "netlink"}, {17, "packet"}, {21, "rds"},
      {29, "can"},  {30, "tipc"},     {31, "bluetooth"}, {38, "alg"}, {40, "vsock"}, {41, "kcm"},
      {42, "qipcrtr"}, {43, "smc"},   {44, "xdp"},   {45, "mctp"}};
  for (const auto& [n, name] : kNames)
    if (n == family) return name;
  return "other";
}

const char* socket_type_name(uint16_t type) {
  static const char* kNames[] = {"?", "stream", "dgram", "raw", "rdm", "seqpacket", "dccp"};
  return type < sizeof(kNames) / sizeof(kNames[0]) ? kNames[type] : "other";
}

uint64_t kernel_dev(uint64_t st_dev) { return (uint64_t{major(st_dev)} << 20) | minor(st_dev); }
uint64_t user_dev(uint64_t kdev) { return makedev(kdev >> 20, kdev & 0xfffff); }

bool is_change(const File& f) {
  if (f.op != FileOp::kOpen) return true;
  return f.access & (access::kWrite | access::kCreate | access::kTruncate | access::kAppend);
}

Result<Net> decode_flow(uint64_t cookie, std::span<const uint8_t> value, uint64_t now_ns) {
  fts_flow f;
  if (!Bytes(value).fixed(&f)) return make_error("flows map value too short");
  Net n;
  n.hdr.kind = Kind::kNet;
  n.hdr.ts_ns = now_ns;
  n.hdr.job_id = f.job_id;
  n.hdr.task = task_id(f.task);
  n.hdr.tid = f.task.tgid;
  n.op = NetOp::kFlowUpdate;
  n.cookie = cookie;
  endpoints(f, &n);
  return n;
}

Result<ExitedExe> decode_exited_exe(uint32_t tgid, std::span<const uint8_t> value) {
  fts_exited_exe x;
  if (!Bytes(value).fixed(&x)) return make_error("exited_exes value too short");
  if (x.path_len == 0 || x.path_len > sizeof(x.path)) return make_error("exited_exes path length out of range");
  if (x.path_flags & (FTS_PATH_TRUNCATED | FTS_PATH_INTERNAL)) return make_error("exited_exes path not a file's");
  ExitedExe out;
  out.task.tgid = tgid;
  out.task.start_ns = x.start_ns;
  out.exe = path_from_components({x.path, x.path_len}, x.path_depth);
  return out;
}

Result<WriterExec> decode_writer_exec(uint32_t tgid, std::span<const uint8_t> value) {
  fts_writer_exec x;
  if (!Bytes(value).fixed(&x)) return make_error("writer_execs value too short");
  WriterExec out;
  out.task.tgid = tgid;
  out.task.start_ns = x.start_ns;
  out.dev = x.dev;
  out.ino = x.ino;
  out.clean = x.flags & FTS_WRITER_CLEAN;
  out.from_proc = x.flags & FTS_WRITER_FROM_PROC;
  out.forked = x.flags & FTS_WRITER_FORKED;
  return out;
}

Result<Record> decode(std::span<const uint8_t> bytes) {
  fts_event_header h;
  if (bytes.size() < sizeof(h)) return make_error("record shorter than a header");
  std::memcpy(&h, bytes.data(), sizeof(h));
  if (h.kind == 0 || h.kind >= kDecoders.size() || !kDecoders[h.kind])
    return make_error("unknown record kind " + std::to_string(h.kind));
  if (h.size > bytes.size()) return make_error("record claims more bytes than it has");
  return kDecoders[h.kind](bytes.first(h.size));
}

}  // namespace fts::decode
