#include <algorithm>
#include <linux/types.h>

#include <cstring>
#include <string>

#include "support/build.h"

extern "C" {
#include <ftsentinel/events.h>
}

namespace fts::decode {
namespace {

fts_task_id raw(const TaskId& t) { return fts_task_id{t.tgid, 0, t.start_ns}; }

fts_event_header raw(const Header& h, uint32_t size) {
  fts_event_header r{};
  r.kind = static_cast<uint32_t>(h.kind);
  r.size = size;
  r.ts_ns = h.ts_ns;
  r.job_id = h.job_id;
  r.cgroup_id = h.cgroup_id;
  r.task = raw(h.task);
  r.tid = h.tid;
  r.cpu = h.cpu;
  return r;
}

// "/a/b" -> "b\0a\0", as the kernel's dentry walk writes it.
std::string encode_path(const std::string& path, uint16_t* depth) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    out += *it;
    out += '\0';
  }
  *depth = static_cast<uint16_t>(parts.size());
  return out;
}

uint32_t bits(const PathFlags& f) {
  return (f.truncated ? FTS_PATH_TRUNCATED : 0) | (f.internal ? FTS_PATH_INTERNAL : 0) |
         (f.deleted ? FTS_PATH_DELETED : 0);
}

template <typename T>
void put(std::vector<uint8_t>* out, const T& v) {
  std::memcpy(out->data(), &v, sizeof(T));
}

}  // namespace

std::vector<uint8_t> build(const Exec& e) {
  fts_exec_event r{};
  std::string exe = encode_path(e.exe, &r.exe_depth);
  std::string cwd = encode_path(e.cwd, &r.cwd_depth);
  std::string filename = e.filename + '\0';
  std::string args;
  for (const auto& a : e.args) args += a + '\0';
  r.exe_len = exe.size(), r.cwd_len = cwd.size();
  r.filename_len = filename.size(), r.args_len = args.size();
  r.parent = raw(e.parent);
  r.uid = e.uid, r.gid = e.gid, r.euid = e.euid, r.egid = e.egid;
  r.flags = bits(e.exe_flags) | (bits(e.cwd_flags) << FTS_PATH_FLAG_BITS) |
            (e.args_truncated ? FTS_EXEC_ARGS_TRUNCATED : 0) |
            (e.job_started ? FTS_EXEC_JOB_STARTED : 0) |
            (e.joined_by_cgroup ? FTS_EXEC_JOINED_BY_CGROUP : 0) |
            (e.preload.empty() ? 0 : FTS_EXEC_PRELOAD) | (e.preload_truncated ? FTS_EXEC_PRELOAD_TRUNCATED : 0) |
            (e.audit.empty() ? 0 : FTS_EXEC_AUDIT) | (e.audit_truncated ? FTS_EXEC_AUDIT_TRUNCATED : 0) |
            (e.env_truncated ? FTS_EXEC_ENV_TRUNCATED : 0) | (e.run_env.empty() ? 0 : FTS_EXEC_RUN_ENV) |
            (e.run_env_truncated ? FTS_EXEC_RUN_ENV_TRUNCATED : 0);
  r.policy = e.policy;
  r.argc = e.argc ? e.argc : e.args.size();
  std::string preload = e.preload.empty() ? "" : e.preload + '\0';
  r.preload_len = preload.size();
  std::string audit = e.audit.empty() ? "" : e.audit + '\0';
  r.audit_len = audit.size();
  std::string run_env;
  for (const auto& [k, v] : e.run_env) run_env += k + '=' + v + '\0';
  r.run_env_len = run_env.size();
  std::string tail = exe + cwd + filename + args + preload + audit + run_env;
  uint32_t size = sizeof(r) + tail.size();
  r.hdr = raw(e.hdr, size);
  r.hdr.kind = FTS_EV_EXEC;
  std::vector<uint8_t> out(size);
  put(&out, r);
  std::memcpy(out.data() + sizeof(r), tail.data(), tail.size());
  return out;
}

std::vector<uint8_t> build(const Fork& e) {
  fts_fork_event r{};
  r.hdr = raw(e.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_FORK;
  r.parent = raw(e.parent);
  r.flags = e.joined_by_cgroup ? FTS_FORK_JOINED_BY_CGROUP : 0;
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

std::vector<uint8_t> build(const Exit& e) {
  fts_exit_event r{};
  r.hdr = raw(e.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_EXIT;
  r.exit_code = e.status;
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

std::vector<uint8_t> build(const Cgroup& e) {
  fts_cgroup_event r{};
  std::string path = e.path + '\0';
  uint32_t size = sizeof(r) + path.size();
  r.hdr = raw(e.hdr, size);
  r.id = e.id;
  r.level = e.level;
  r.path_len = path.size();
  std::vector<uint8_t> out(size);
  put(&out, r);
  std::memcpy(out.data() + sizeof(r), path.data(), path.size());
  return out;
}

std::vector<uint8_t> build(const File& f) {
  fts_file_event r{};
  std::string p1, p2;
  if (f.path_raw) {
    p1 = f.path + '\0';
    r.path_depth = 1;
  } else if (f.path_from_user) {
    p1 = f.path + '\0';  // an absolute caller string: one component
    r.path_depth = 1;
  } else {
    p1 = encode_path(f.path, &r.path_depth);
  }
  if (!f.path2.empty()) {
    p2 = f.path2_from_user ? f.path2 + '\0' : encode_path(f.path2, &r.path2_depth);
    if (f.path2_from_user) r.path2_depth = 1;
  }
  r.dev = f.dev;
  r.ino = f.ino;
  r.mnt_id = f.mnt_id;
  r.open_flags = f.open_flags;
  r.result = f.result;
  r.op = static_cast<uint16_t>(f.op);
  r.access = f.access;
  r.classes = f.classes;
  r.watch_id = f.watch_id;
  r.match_depth = f.match_depth;
  r.flags = bits(f.path_flags) | (f.path_from_user ? FTS_FILE_PATH_FROM_USER : 0) |
            (f.path2_from_user ? FTS_FILE_PATH2_FROM_USER : 0) | (f.path_raw ? FTS_FILE_PATH_RAW : 0) |
            (f.matched_by_name ? FTS_FILE_MATCHED_BY_NAME : 0);
  std::string exe = f.exe.empty() ? "" : encode_path(f.exe, &r.exe_depth);
  r.path_len = p1.size();
  r.path2_len = p2.size();
  r.exe_len = exe.size();
  p2 += exe;
  uint32_t size = sizeof(r) + p1.size() + p2.size();
  r.hdr = raw(f.hdr, size);
  r.hdr.kind = FTS_EV_FILE;
  std::vector<uint8_t> out(size);
  put(&out, r);
  std::memcpy(out.data() + sizeof(r), p1.data(), p1.size());
  std::memcpy(out.data() + sizeof(r) + p1.size(), p2.data(), p2.size());
  return out;
}

std::vector<uint8_t> build(const IoUring& e) {
  fts_io_uring_event r{};
  r.hdr = raw(e.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_IO_URING;
  r.opcode = e.opcode;
  r.fd = e.fd;
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

std::vector<uint8_t> build(const Net& n) {
  fts_net_event r{};
  r.hdr = raw(n.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_NET;
  r.cookie = n.cookie;
  r.bytes = n.bytes;
  std::memcpy(r.saddr, n.saddr.data(), 16);
  std::memcpy(r.daddr, n.daddr.data(), 16);
  r.sport = n.sport;
  r.dport = n.dport;
  r.protocol = n.protocol;
  r.op = static_cast<uint16_t>(n.op);
  r.flags = (n.v4 ? FTS_NET_V4 : 0) | (n.allowed ? FTS_NET_ALLOWED : 0) | (n.blocked ? FTS_NET_BLOCKED : 0) |
            (n.by_dns ? FTS_NET_BY_DNS : 0) | (n.inbound ? FTS_NET_INBOUND : 0);
  r.policy = n.policy;
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

namespace {
// "a.b" -> "\1a\1b\0", as the kernel copies it (cut to its buffer)
size_t wire_name(const std::string& name, bool truncated, uint8_t out[FTS_DNS_NAME]) {
  std::string wire;
  size_t start = 0;
  while (start <= name.size() && !name.empty()) {
    size_t dot = name.find('.', start);
    std::string label = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    wire += static_cast<char>(label.size());
    wire += label;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!truncated) wire += '\0';
  size_t n = std::min<size_t>(wire.size(), FTS_DNS_NAME);
  std::memcpy(out, wire.data(), n);
  return n;
}
}  // namespace

std::vector<uint8_t> build(const Dns& d) {
  fts_dns_event r{};
  r.hdr = raw(d.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_DNS;
  r.cookie = d.cookie;
  std::memcpy(r.daddr, d.daddr.data(), 16);
  r.dport = d.dport;
  r.id = d.id;
  r.flags = d.tcp ? FTS_DNS_TCP : 0;
  r.qname_len = static_cast<uint16_t>(wire_name(d.name, d.truncated, r.qname));
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

std::vector<uint8_t> build(const DnsAnswer& d) {
  fts_dns_answer_event r{};
  r.hdr = raw(d.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_DNS_ANSWER;
  r.cookie = d.cookie;
  std::memcpy(r.saddr, d.saddr.data(), 16);
  r.sport = d.sport;
  r.id = d.id;
  r.rcode = d.rcode;
  r.ancount = d.ancount;
  r.flags = (d.tcp ? FTS_DNS_TCP : 0) | (d.cut ? FTS_DNS_CUT : 0) | (d.allowed ? FTS_DNS_ALLOWED : 0) |
            (d.unmatched ? FTS_DNS_UNMATCHED : 0) | (d.untrusted ? FTS_DNS_UNTRUSTED : 0) |
            (d.egress_name ? FTS_DNS_EGRESS_NAME : 0);
  r.qname_len = static_cast<uint16_t>(wire_name(d.name, d.truncated, r.qname));
  for (const auto& a : d.addresses) {
    if (r.count == FTS_DNS_ANSWERS) break;
    auto& x = r.addrs[r.count++];
    std::memcpy(x.addr, a.addr.data(), 16);
    x.ttl = a.ttl;
    x.type = a.v6 ? 28 : 1;
  }
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

// Not a kernel record: nothing to replay as kernel bytes.
std::vector<uint8_t> build(const FileHash&) { return {}; }
std::vector<uint8_t> build(const ProcessAccess& a) {
  fts_process_access_event r{};
  r.hdr = raw(a.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_PROCESS_ACCESS;
  r.target = raw(a.target);
  r.target_job = a.target_job;
  r.target_tid = a.target_tid;
  r.op = static_cast<uint16_t>(a.op);
  r.result = a.result;
  r.arg = a.arg;
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

std::vector<uint8_t> build(const SensorTouch& t) {
  fts_sensor_event r{};
  r.hdr = raw(t.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_SENSOR;
  r.op = static_cast<uint32_t>(t.op);
  r.arg = t.arg;
  r.result = t.result;
  r.code = t.op == SensorOp::kSignal ? t.code : static_cast<int32_t>(t.object);
  r.target = t.target;
  std::memcpy(r.name, t.name.data(), std::min(t.name.size(), sizeof(r.name) - 1));
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

std::vector<uint8_t> build(const Socket& k) {
  fts_socket_event r{};
  r.hdr = raw(k.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_SOCKET;
  r.cookie = k.cookie;
  r.family = k.family;
  r.type = k.type;
  r.protocol = k.protocol;
  r.net_flags = k.refused ? FTS_NET_BLOCKED : 0;
  r.policy = k.policy;
  r.flags = k.killed ? FTS_SOCKET_KILLED : 0;
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

namespace {
void u16(std::vector<uint8_t>* b, size_t v) {
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}
void extension(std::vector<uint8_t>* b, uint16_t type, const std::vector<uint8_t>& body) {
  u16(b, type);
  u16(b, body.size());
  b->insert(b->end(), body.begin(), body.end());
}
}  // namespace

std::vector<uint8_t> client_hello(const std::string& sni, size_t padding) {
  std::vector<uint8_t> exts;
  if (padding) extension(&exts, 21, std::vector<uint8_t>(padding, 0));
  if (!sni.empty()) {
    std::vector<uint8_t> name;
    u16(&name, sni.size() + 3);
    name.push_back(0);  // host_name
    u16(&name, sni.size());
    name.insert(name.end(), sni.begin(), sni.end());
    extension(&exts, 0, name);
  }
  extension(&exts, 43, {2, 3, 4});  // supported_versions: TLS 1.3
  std::vector<uint8_t> body = {3, 3};
  body.insert(body.end(), 32, 0xab);  // random
  body.push_back(32);
  body.insert(body.end(), 32, 0xcd);  // legacy_session_id
  u16(&body, 2);
  body.insert(body.end(), {0x13, 0x01});  // TLS_AES_128_GCM_SHA256
  body.insert(body.end(), {1, 0});        // compression: null
  u16(&body, exts.size());
  body.insert(body.end(), exts.begin(), exts.end());
  std::vector<uint8_t> out = {22, 3, 1};
  u16(&out, body.size() + 4);
  out.push_back(1);  // client_hello
  out.push_back(static_cast<uint8_t>(body.size() >> 16));
  u16(&out, body.size() & 0xffff);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::vector<uint8_t> build(const TlsHello& t) {
  fts_tls_hello_event r{};
  r.hdr = raw(t.hdr, sizeof(r));
  r.hdr.kind = FTS_EV_TLS_HELLO;
  r.cookie = t.cookie;
  std::memcpy(r.daddr, t.daddr.data(), 16);
  r.dport = t.dport;
  r.flags = t.cut ? FTS_TLS_CUT : 0;
  std::vector<uint8_t> hello = client_hello(t.sni);
  r.len = static_cast<uint16_t>(std::min<size_t>(hello.size(), FTS_TLS_HELLO_MAX));
  std::memcpy(r.data, hello.data(), r.len);
  std::vector<uint8_t> out(sizeof(r));
  put(&out, r);
  return out;
}

std::vector<uint8_t> build(const Record& rec) {
  return std::visit([](const auto& x) { return build(x); }, rec);
}

}  // namespace fts::decode
