#pragma once
// Typed records from the kernel, decoded. The rest of the daemon sees only
// these; the ABI header stays inside this module.
#include <array>
#include <cstdint>
#include <span>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "common/address.h"
#include "common/result.h"

namespace fts::decode {

enum class Kind : uint32_t {
  kExec = 1,
  kFork = 2,
  kExit = 3,
  kCgroupMkdir = 4,
  kCgroupRmdir = 5,
  kCgroupAttach = 6,
  kFile = 7,
  kIoUring = 8,
  kNet = 9,
  kDns = 10,
  // Records that do not come from the kernel start at 32, clear of its kinds.
  kFileHash = 32,
  kProcessAccess = 11,  // another process reached into a job task (FTS_EV_PROCESS_ACCESS, "process_access")
  kSensor = 13,  // someone touched the daemon: a signal, a pinned map
  kDnsAnswer = 12,
  kSocket = 14,  // a job made a socket the egress hooks cannot account for (FTS_EV_SOCKET)
  kDevice = 16,  // a GPU or RDMA device opened (FTS_EV_DEVICE; fanotify for processes outside jobs)
  kModel = 19,   // a job process opened or closed a pickle-based model file (FTS_EV_MODEL)
  kTlsHello = 20,  // a job flow's TLS ClientHello (FTS_EV_TLS_HELLO): its server name
};

enum class FileOp : uint16_t {
  kOpen = 1,
  kTruncate = 2,
  kRename = 3,
  kLink = 4,
  kSymlink = 5,
  kUnlink = 6,
  kRmdir = 7,
  kMkdir = 8,
  kChmod = 9,
  kChown = 10,
  kModify = 11,      // fanotify
  kCloseWrite = 12,  // fanotify
  kCreate = 13,      // fanotify
  kDelete = 14,      // fanotify
};
const char* to_string(FileOp op);

// Access bits and data classes, as the kernel sets them.
namespace access {
constexpr uint16_t kRead = 0x1, kWrite = 0x2, kCreate = 0x4, kTruncate = 0x8, kAppend = 0x10, kExec = 0x20,
                   kDirectory = 0x40;
}
namespace cls {
constexpr uint32_t kTraining = 0x1, kOutputs = 0x2, kProtected = 0x4, kSensitive = 0x8, kBase = 0x10,
                   kPreload = 0x20;  // the loader's preload list (/etc/ld.so.preload): changes reported for everyone
// A policy's data.caches tree (with kProtected in the kernel; with kTraining for its own jobs' reads).
constexpr uint32_t kCache = 0x40000000;
// Set in user space only: the job's own program (rules/classify.h), never a kernel class.
constexpr uint32_t kCode = 0x100;
}

constexpr uint64_t kNsPerTick = 10'000'000;  // USER_HZ = 100, as /proc/PID/stat counts

struct TaskId {
  uint32_t tgid = 0;
  uint64_t start_ns = 0;
  uint64_t start_ticks() const { return start_ns / kNsPerTick; }
};

struct Header {
  Kind kind{};
  uint64_t ts_ns = 0;  // CLOCK_BOOTTIME
  uint64_t job_id = 0;
  uint64_t cgroup_id = 0;
  TaskId task;
  uint32_t tid = 0;
  uint32_t cpu = 0;
};

struct PathFlags {
  bool truncated = false;
  bool internal = false;  // memfd, pipe, anonymous inode
  bool deleted = false;
};

struct Exec {
  Header hdr;
  TaskId parent;
  uint32_t uid = 0, gid = 0, euid = 0, egid = 0;
  std::string exe;
  PathFlags exe_flags;
  std::string cwd;
  PathFlags cwd_flags;
  std::string filename;  // as given to execve
  std::vector<std::string> args;
  uint32_t argc = 0;
  bool args_truncated = false;
  bool job_started = false;      // a launcher: a job begins here
  bool joined_by_cgroup = false;
  uint32_t policy = ~0u;
  std::string preload;  // the last LD_PRELOAD's value in the new environment, glibc's (job tasks only; empty: none)
  bool preload_truncated = false;
  std::string audit;    // the same for LD_AUDIT
  bool audit_truncated = false;
  bool env_truncated = false;  // the kernel could not scan the whole environment: a later LD_* is unseen
  // The run variables of a job task's new environment as the kernel read them
  // at exec (SLURM_JOB_ID, TORCHELASTIC_RUN_ID, RANK…: name -> value).
  std::map<std::string, std::string> run_env;
  bool run_env_truncated = false;  // a value was cut at the kernel's limit
};

struct Fork {
  Header hdr;  // the child
  TaskId parent;
  bool joined_by_cgroup = false;
};

struct Exit {
  Header hdr;
  uint32_t status = 0;  // wait(2) status
};

struct Cgroup {
  Header hdr;  // kind: mkdir, rmdir or attach (hdr.task moved there)
  uint64_t id = 0;
  uint32_t level = 0;
  std::string path;
};

enum class Source : uint8_t { kSyscall, kFanotify };

struct File {
  Header hdr;
  FileOp op = FileOp::kOpen;
  uint16_t access = 0;
  uint32_t open_flags = 0;
  int32_t result = 0;
  uint64_t dev = 0;  // kernel dev_t (MAJOR << 20 | MINOR)
  uint64_t ino = 0;
  uint32_t mnt_id = 0;
  uint32_t classes = 0;
  uint32_t watch_id = ~0u;
  uint16_t match_depth = 0;
  std::string path;   // canonical unless path_from_user
  std::string path2;  // rename/link/symlink: the new name
  std::string exe;    // the task's executable, sent for tasks outside jobs
  PathFlags path_flags;
  bool path_from_user = false;
  bool path2_from_user = false;
  bool path_raw = false;  // a symlink's target text
  bool matched_by_name = false;
  Source source = Source::kSyscall;
};

struct IoUring {
  Header hdr;
  uint32_t opcode = 0;  // ~0: a ring was created
  int32_t fd = -1;
};

enum class NetOp : uint16_t {
  kConnect = 1,
  kSendmsg = 2,
  kFlow = 3,
  kBind = 4,
  kListen = 5,
  kFlowUpdate = 6,
  kAccept = 7,  // a connection to a job listener, established: daddr/dport are the peer
};
const char* to_string(NetOp op);

struct Net {
  Header hdr;
  NetOp op = NetOp::kConnect;
  uint64_t cookie = 0;  // the socket, for its whole life
  uint64_t bytes = 0;   // flow: bytes sent
  std::array<uint8_t, 16> saddr{};  // IPv6, or v4-mapped when v4
  std::array<uint8_t, 16> daddr{};
  uint16_t sport = 0, dport = 0;
  uint16_t protocol = 0;  // IPPROTO_*
  bool v4 = false;        // an AF_INET socket
  bool allowed = false;   // in the policy's egress list
  bool blocked = false;   // enforce mode refused it (EPERM)
  bool by_dns = false;    // allowed through a DNS answer for a name in the egress list
  bool inbound = false;   // an accepted connection (and its flow): the peer connected to the job
  bool untracked = false; // the task was missing from the full tasks map; its job was found through its parents
  uint32_t policy = ~0u;
};

// A DNS question a job socket sent.
struct Dns {
  Header hdr;
  uint64_t cookie = 0;
  std::array<uint8_t, 16> daddr{};  // the resolver
  uint16_t dport = 0;
  uint16_t id = 0;         // the query id
  std::string name;        // "hub.internal", from the wire labels
  bool truncated = false;  // the name was longer than the kernel copies
  bool tcp = false;
};

// A DNS answer a job socket got, for a query it sent: the question's name
// and the A/AAAA addresses (behind any CNAMEs) it resolved to.
struct DnsAnswer {
  Header hdr;
  uint64_t cookie = 0;
  std::array<uint8_t, 16> saddr{};  // the resolver
  uint16_t sport = 0;
  uint16_t id = 0;
  uint8_t rcode = 0;       // 0 NOERROR, 3 NXDOMAIN, ...
  uint16_t ancount = 0;    // answer records in the message
  std::string name;
  bool truncated = false;  // the name was longer than the kernel copies
  bool tcp = false;
  bool cut = false;        // more addresses than the kernel keeps (or past its buffer)
  bool allowed = false;    // the name is in the job's egress list: the kernel allowed these addresses
  bool unmatched = false;  // no query of the socket has its id, question and resolver address:port
  bool untrusted = false;  // it matches a query, sent to a resolver the policy does not name
  bool egress_name = false;  // the question is a name of the policy's egress list
  bool believed() const { return !unmatched && !untrusted; }
  struct Address {
    std::array<uint8_t, 16> addr{};  // A as v4-mapped
    uint32_t ttl = 0;                // seconds
    bool v6 = false;                 // AAAA
    bool operator==(const Address&) const = default;
  };
  std::vector<Address> addresses;
};
const char* dns_rcode_name(uint8_t rcode);

// A socket a job process made that no egress hook can account for: ICMP
// echo, raw IP, SCTP (refused with EPERM in enforce mode), AF_PACKET and
// other non-IP families (the process killed in enforce mode).
struct Socket {
  Header hdr;
  uint64_t cookie = 0;  // 0 for the families seen at the syscall
  uint16_t family = 0;  // AF_*
  uint16_t type = 0;    // SOCK_*
  uint16_t protocol = 0;
  bool refused = false;  // enforce mode: EPERM, or the process killed
  bool killed = false;   // refused by SIGKILL (no hook can refuse that family)
  uint32_t policy = ~0u;
};
const char* socket_family_name(uint16_t family);  // "inet", "packet", … or "other"
const char* socket_type_name(uint16_t type);      // "stream", "dgram", "raw", … or "other"

// Wire-format labels ("\3hub\8internal\0") -> "hub.internal"; sets *truncated
// when the bytes end before the root label.
std::string dns_name_from_wire(std::string_view wire, bool* truncated);

// The content hash of a file a job read or wrote (daemon/hash, not the
// kernel): hdr.task is the job process whose access asked for it.
struct FileHash {
  Header hdr;
  std::string path;           // canonical
  uint64_t dev = 0, ino = 0;  // kernel dev_t, inode of what was hashed (or was to be)
  uint32_t classes = 0;       // cls:: bits of the access
  std::string reason;         // read | write | change | job_end
  std::string sha256;         // lowercase hex; "" when not hashed (error says why)
  uint64_t size = 0;
  uint64_t mtime_wall_ns = 0;
  bool cached = false;
  std::string error;
  std::string manifest;          // the policy's manifest, when it covers the file
  std::string manifest_verdict;  // match | mismatch | unlisted | ""
  std::string manifest_sha256;   // what the manifest says, when it lists the file
  std::string first_sha256;      // the job's first hash of this file, when this one differs
};

enum class AccessOp : uint16_t { kPtrace = 1, kVmRead = 2, kVmWrite = 3, kMemOpen = 4 };
const char* to_string(AccessOp op);

// Another process reaching into a job task's memory; hdr is the accessor.
struct ProcessAccess {
  Header hdr;
  AccessOp op = AccessOp::kPtrace;
  TaskId target;
  uint64_t target_job = 0;
  uint32_t target_tid = 0;
  int64_t result = 0;  // the syscall's return: 0/fd/bytes, or -errno
  uint64_t arg = 0;    // ptrace: the request; mem open: the open flags
};

// "attach" for PTRACE_ATTACH, "peekdata" …, or "request N".
std::string ptrace_request_name(uint64_t request);

enum class SensorOp : uint32_t { kSignal = 1, kObjGet = 2, kFdById = 3, kLinkDetach = 4, kLinkUpdate = 5 };
enum class ObjType : uint32_t { kMap = 0, kProg = 1, kLink = 2 };
const char* to_string(ObjType t);  // map | prog | link

// Someone touching the daemon itself; hdr is who.
struct SensorTouch {
  Header hdr;
  SensorOp op = SensorOp::kSignal;
  uint32_t arg = 0;    // signal number, or the object's id
  int32_t result = 0;  // signal: delivery result; the others: the syscall's return (a new fd, 0, -errno)
  int32_t code = 0;    // signal: si_code
  ObjType object = ObjType::kMap;  // every op but signal: what kind of object arg names
  uint32_t target = 0; // the daemon's tgid
  std::string name;    // the object's name (a link: its program's)
};

enum class DeviceClass : uint32_t { kGpu = 1, kRdma = 2 };
const char* to_string(DeviceClass c);  // gpu | rdma

// A GPU or RDMA character device opened: by a job process (the kernel's
// open hook, source syscall) or by anyone else (fanotify on the nodes found
// at start, source fanotify). hdr is who opened it.
struct Device {
  Header hdr;
  DeviceClass cls = DeviceClass::kGpu;
  uint32_t major = 0, minor = 0;  // of the device
  uint64_t dev = 0, ino = 0;      // the node: its filesystem (kernel dev_t) and inode
  uint16_t access = 0;            // access:: bits
  int64_t result = 0;             // syscall: the fd
  std::string path;               // the node
  std::string exe;                // fanotify: the opener's executable (read while its pidfd pinned it)
  PathFlags path_flags;
  Source source = Source::kSyscall;
};

enum class ModelOp : uint16_t { kOpen = 1, kClose = 2 };

// A job process opened a pickle-based model file for reading, or closed it:
// the bounds of a load window (checkpoint-code-exec). hdr is the loader.
struct Model {
  Header hdr;
  ModelOp op = ModelOp::kOpen;
  int32_t fd = -1;
  uint64_t dev = 0, ino = 0;  // open: the file (kernel dev_t)
  std::string path;           // open
  PathFlags path_flags;
  bool close_unseen = false;  // open: the kernel will not report its close
  bool repeat = false;        // open: the process opened this file before (no event again)
  bool held = false;          // open: a repeat the kernel sent late, with the process's next record;
                              // hdr.ts_ns is still the open's time
};

// The ClientHello a job's TCP socket sent first (cgroup_skb egress), and the
// server name (SNI) read from it (common/tls_sni.h).
struct TlsHello {
  Header hdr;
  uint64_t cookie = 0;              // the flow's socket
  std::array<uint8_t, 16> daddr{};  // v4-mapped for IPv4
  uint16_t dport = 0;
  std::string sni;                  // "" when none could be read (sni_error says why)
  std::string sni_error;
  bool cut = false;                 // the hello was longer than the kernel's copy
};

using Record = std::variant<Exec, Fork, Exit, Cgroup, File, IoUring, Net, Dns, DnsAnswer, ProcessAccess, SensorTouch, FileHash,
                            Socket, Device, Model, TlsHello>;

const Header& header(const Record& r);

// Decodes one ring-buffer record. Every length is checked against the bytes
// actually there; a malformed record is an error, never a crash.
Result<Record> decode(std::span<const uint8_t> bytes);

// Does this file record change the file: an open for writing, creating,
// truncating or appending, or any other operation (truncate, rename, link,
// unlink, mkdir, chmod, and every change fanotify reports)? The one answer
// for the pipeline's merge, the rules and the review.
bool is_change(const File& f);

// A still-open flow, read from the kernel's flows map (socket cookie -> struct
// fts_flow), as a flow_update record at now_ns (CLOCK_BOOTTIME). It keeps the
// flags of its connect or accept: an accepted connection stays inbound.
Result<Net> decode_flow(uint64_t cookie, std::span<const uint8_t> value, uint64_t now_ns);

// A process outside every job as it exited, from the kernel's exited_exes map
// (tgid -> struct fts_exited_exe): its start and its executable's path. An
// error for a value that is short, cut off or not a path.
struct ExitedExe {
  TaskId task;
  std::string exe;
};
Result<ExitedExe> decode_exited_exe(uint32_t tgid, std::span<const uint8_t> value);

// How a process last exec'd a file named like an approved writer, from the
// kernel's writer_execs map (tgid -> struct fts_writer_exec). An error for a
// value that is short.
struct WriterExec {
  TaskId task;
  uint64_t dev = 0;  // the executed file's, kernel dev_t (MAJOR << 20 | MINOR)
  uint64_t ino = 0;
  bool clean = false;      // no LD_PRELOAD/LD_AUDIT, and the environment was read to its end
  bool from_proc = false;  // seeded by the daemon from /proc: the process predates it
  bool forked = false;     // inherited at fork from a writer, no exec since
};
Result<WriterExec> decode_writer_exec(uint32_t tgid, std::span<const uint8_t> value);

// The id of a job rooted at this process, as the kernel computes it.
uint64_t job_id_for(uint32_t tgid, uint64_t start_ns);
constexpr uint64_t kCgroupJobBit = 1ull << 63;

// Kernel dev_t <-> stat's st_dev.
uint64_t kernel_dev(uint64_t st_dev);
uint64_t user_dev(uint64_t kdev);

// "b\0a\0" (leaf first, `depth` components) -> "/a/b". A root-most component
// that is a caller's absolute string ("/x/y") is not prefixed again; a
// relative one is joined under the rest, and ".." is folded when `fold`.
std::string path_from_components(std::string_view encoded, uint16_t depth, bool fold = false);

}  // namespace fts::decode
