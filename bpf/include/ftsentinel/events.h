/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel <-> user ABI of ftsentinel: every record the BPF programs put in
 * the ring buffer, and the values of the maps the daemon writes.
 *
 * This is the only definition. The BPF side includes it after vmlinux.h; the
 * daemon's decoder includes it after <linux/types.h>. Sizes are pinned with
 * _Static_assert so a change that would shift a field fails to build on both
 * sides instead of decoding garbage.
 *
 * Variable-length strings follow a record's fixed part in `data[]`, in the
 * order and with the lengths the fixed part gives. Paths are written by the
 * kernel leaf first, one NUL-terminated component after another ("b\0a\0"
 * for /a/b), because a dentry walk goes upwards; the decoder reverses them.
 */
#ifndef FTSENTINEL_EVENTS_H
#define FTSENTINEL_EVENTS_H

#define FTS_ABI_VERSION 1

#define FTS_PATH_MAX 4096   /* bytes of one encoded path in a record */
#define FTS_PATH_DEPTH 48   /* dentries walked before a path is cut short */
#define FTS_ARGS_MAX 4096   /* bytes of argv copied at exec */
#define FTS_NAME_MAX 256    /* one path component, as the kernel's NAME_MAX+1 */
#define FTS_FILENAME_MAX 512 /* bytes of bprm->filename kept */
#define FTS_LAUNCHER_NAME 64 /* key of the launcher-basename map */
#define FTS_CGROUP_PATH_MAX 512
#define FTS_PRELOAD_MAX 256  /* bytes of an LD_PRELOAD value kept (NUL included) */
#define FTS_RUN_ENV_MAX 128  /* bytes of one run variable kept, "NAME=value" with its NUL */
#define FTS_RING_POLL_MS 10  /* the daemon drains the ring this often; the kernel wakes it only for a backlog */

enum fts_event_kind {
	FTS_EV_EXEC = 1,          /* struct fts_exec_event */
	FTS_EV_FORK = 2,          /* struct fts_fork_event */
	FTS_EV_EXIT = 3,          /* struct fts_exit_event */
	FTS_EV_CGROUP_MKDIR = 4,  /* struct fts_cgroup_event */
	FTS_EV_CGROUP_RMDIR = 5,  /* struct fts_cgroup_event */
	FTS_EV_CGROUP_ATTACH = 6, /* struct fts_cgroup_event, a tracked task moved */
	FTS_EV_FILE = 7,          /* struct fts_file_event */
	FTS_EV_IO_URING = 8,      /* struct fts_io_uring_event */
	FTS_EV_NET = 9,           /* struct fts_net_event */
	FTS_EV_DNS = 10,          /* struct fts_dns_event */
	FTS_EV_PROCESS_ACCESS = 11, /* struct fts_process_access_event: a process reached into a job task's memory */
	FTS_EV_DNS_ANSWER = 12,   /* struct fts_dns_answer_event */
	FTS_EV_SENSOR = 13,       /* struct fts_sensor_event: the daemon signalled, a pinned map taken */
	FTS_EV_SOCKET = 14,       /* struct fts_socket_event: a job made a socket the egress hooks cannot account for */
	FTS_EV_DEVICE = 16,       /* struct fts_device_event: a job opened a GPU or RDMA character device */
	FTS_EV_MODEL = 19,        /* struct fts_model_event: a job process opened or closed a pickle-based model file */
	FTS_EV_TLS_HELLO = 20,    /* struct fts_tls_hello_event: the first bytes of a job flow's TLS ClientHello */
	FTS_EV_KIND_MAX,
};

/* A process: its thread-group id and the group leader's start time
 * (task->start_boottime, ns since boot). /proc/PID/stat field 22 is the same
 * clock in USER_HZ ticks, so /proc-bootstrapped processes share the identity. */
struct fts_task_id {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns;
};

struct fts_event_header {
	__u32 kind;       /* enum fts_event_kind */
	__u32 size;       /* bytes of the whole record, header included */
	__u64 ts_ns;      /* bpf_ktime_get_boot_ns() */
	__u64 job_id;     /* 0 when the task is in no job */
	__u64 cgroup_id;  /* cgroup v2 id of the task */
	struct fts_task_id task;
	__u32 tid;        /* the thread that did it */
	__u32 cpu;
};

/* Path flags, one pair of bits per path in a record. */
#define FTS_PATH_TRUNCATED 0x1u /* deeper than FTS_PATH_DEPTH or longer than FTS_PATH_MAX */
#define FTS_PATH_INTERNAL 0x2u  /* on a kernel-internal mount (memfd, pipe, socket) */
#define FTS_PATH_DELETED 0x4u   /* the dentry was unlinked */
#define FTS_PATH_FLAG_BITS 4    /* exe flags in bits 0-3, cwd flags in bits 4-7 */

/* exec flags */
#define FTS_EXEC_JOB_STARTED 0x0100u /* this exec matched a launcher: a new job, rooted here */
#define FTS_EXEC_ARGS_TRUNCATED 0x0200u
#define FTS_EXEC_JOINED_BY_CGROUP 0x0400u /* task joined a job because of its cgroup */
#define FTS_EXEC_PRELOAD 0x0800u /* a job task's new environment holds LD_PRELOAD (value in data) */
#define FTS_EXEC_PRELOAD_TRUNCATED 0x1000u
#define FTS_EXEC_ENV_TRUNCATED 0x2000u /* the environment scan could not reach its end: a later LD_* is unseen */
#define FTS_EXEC_AUDIT 0x4000u /* a job task's new environment holds LD_AUDIT (value in data, after preload) */
#define FTS_EXEC_AUDIT_TRUNCATED 0x8000u
#define FTS_EXEC_RUN_ENV 0x10000u /* a job task's new environment names its run or rank (run_env in data) */
#define FTS_EXEC_RUN_ENV_TRUNCATED 0x20000u /* a run variable was longer than FTS_RUN_ENV_MAX: cut */

/* The run variables the exec scan keeps of a job task's environment (the
 * cluster-wide run and the task's rank), in this order in run_env, each as
 * "NAME=value\0"; the last of a name wins, as in Python's os.environ. */
enum fts_run_var {
	FTS_RUN_SLURM_JOB_ID = 0,
	FTS_RUN_SLURM_CLUSTER_NAME,
	FTS_RUN_SLURM_PROCID,
	FTS_RUN_TORCHELASTIC_RUN_ID,
	FTS_RUN_RANK,
	FTS_RUN_LOCAL_RANK,
	FTS_RUN_WORLD_SIZE,
	FTS_RUN_MASTER_ADDR,
	FTS_RUN_MASTER_PORT,
	/* not the run's, but what its loaders do: torch.load's weights-only
	 * switch, and where Hugging Face keeps the remote code it imports */
	FTS_RUN_TORCH_NO_WEIGHTS_ONLY, /* TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD */
	FTS_RUN_HF_MODULES_CACHE,
	FTS_RUN_HF_HOME,
	FTS_RUN_HOME,
	FTS_RUN_VARS,
};

struct fts_exec_event {
	struct fts_event_header hdr;
	struct fts_task_id parent;
	__u32 uid, gid, euid, egid;
	__u32 flags;        /* FTS_EXEC_*, exe path flags in bits 0-3, cwd path flags in 4-7 */
	__u32 policy;       /* policy index of a job started here, else ~0 */
	__u32 argc;
	__u16 exe_len;      /* encoded path of the executed file (bprm->file) */
	__u16 exe_depth;    /* number of components in exe */
	__u16 cwd_len;      /* encoded path of the working directory */
	__u16 cwd_depth;
	__u16 filename_len; /* bprm->filename as given to execve (kernel copy), NUL included */
	__u16 args_len;     /* argv strings, each NUL-terminated */
	__u16 preload_len;  /* the last LD_PRELOAD's value (job tasks only; glibc's), NUL included; 0 when absent */
	__u16 audit_len;    /* the last LD_AUDIT's value (job tasks only), NUL included; 0 when absent */
	__u16 run_env_len;  /* the run variables (job tasks only): "NAME=value\0" each, enum fts_run_var order */
	__u16 _pad2;
	char data[];        /* exe, cwd, filename, args, preload, audit, run_env */
};

#define FTS_FORK_JOINED_BY_CGROUP 0x1u

struct fts_fork_event {
	struct fts_event_header hdr; /* the child */
	struct fts_task_id parent;
	__u32 flags;
	__u32 _pad;
};

struct fts_exit_event {
	struct fts_event_header hdr;
	__u32 exit_code;    /* wait(2) status: (code << 8) | signal */
	__u32 _pad;
};

struct fts_cgroup_event {
	struct fts_event_header hdr; /* for attach, the task that moved */
	__u64 id;           /* the cgroup (v2 hierarchy) */
	__u32 level;
	__u16 path_len;     /* NUL included */
	__u16 _pad;
	char path[];        /* as the kernel names it, relative to the hierarchy root */
};

/* What a file record is about. */
enum fts_file_op {
	FTS_FILE_OPEN = 1,     /* open, openat, openat2, creat, open_by_handle_at */
	FTS_FILE_TRUNCATE = 2, /* truncate, ftruncate */
	FTS_FILE_RENAME = 3,   /* rename, renameat, renameat2 (path2: the new name) */
	FTS_FILE_LINK = 4,     /* link, linkat (path2: the new name) */
	FTS_FILE_SYMLINK = 5,  /* symlink, symlinkat (path: target text, path2: the new name) */
	FTS_FILE_UNLINK = 6,   /* unlink, unlinkat */
	FTS_FILE_RMDIR = 7,
	FTS_FILE_MKDIR = 8,
	FTS_FILE_CHMOD = 9,
	FTS_FILE_CHOWN = 10,
	/* reported by the daemon's fanotify backstop, never by BPF */
	FTS_FILE_MODIFY = 11,
	FTS_FILE_CLOSE_WRITE = 12,
	FTS_FILE_CREATE = 13,
	FTS_FILE_DELETE = 14,
	FTS_FILE_OP_MAX,
};

/* access bits of a file record */
#define FTS_ACC_READ 0x1u
#define FTS_ACC_WRITE 0x2u
#define FTS_ACC_CREAT 0x4u
#define FTS_ACC_TRUNC 0x8u
#define FTS_ACC_APPEND 0x10u
#define FTS_ACC_EXEC 0x20u
#define FTS_ACC_DIR 0x40u      /* the file is a directory (a listing, not data) */

/* classes of watched data (a policy's data section, and the base list) */
#define FTS_CLASS_TRAINING 0x1u
#define FTS_CLASS_OUTPUTS 0x2u
#define FTS_CLASS_PROTECTED 0x4u
#define FTS_CLASS_SENSITIVE 0x8u
#define FTS_CLASS_BASE 0x10u   /* what any Python/CUDA process reads: not reported for reads */
#define FTS_CLASS_PRELOAD 0x20u /* the dynamic loader's preload list: a change is reported for everyone */
/* a policy's data.caches tree; always set with FTS_CLASS_PROTECTED, which is
 * all the kernel acts on (the daemon tells a cache from other protected data) */
#define FTS_CLASS_CACHE 0x40000000u

/* file record flags */
#define FTS_FILE_PATH_FROM_USER 0x100u /* path is the caller's string (the kernel object was gone or absent) */
#define FTS_FILE_MATCHED_BY_NAME 0x200u /* classes came from the leaf-name map (a glob on a literal name) */
#define FTS_FILE_PATH2_FROM_USER 0x400u /* the same for path2 */
#define FTS_FILE_PATH_RAW 0x800u        /* path is text, not a location (a symlink's target) */
/* A path "from user" is encoded like a kernel path whose leaf component is the
 * caller's whole string: "a/../b\0dir\0cwd\0" for a relative name under the
 * task's cwd or the dirfd, or just "/abs/name\0". The decoder joins and folds "..". */

struct fts_file_event {
	struct fts_event_header hdr;
	__u64 dev;          /* kernel dev_t of the inode's superblock (MAJOR << 20 | MINOR) */
	__u64 ino;
	__u32 mnt_id;
	__u32 open_flags;   /* O_* as passed */
	__s32 result;       /* fd or 0 on success, -errno on failure */
	__u16 op;           /* enum fts_file_op */
	__u16 access;       /* FTS_ACC_* */
	__u32 classes;      /* FTS_CLASS_* of the nearest watched ancestor (or the inode itself) */
	__u32 watch_id;     /* which watched entry matched (daemon's index), ~0 if none */
	__u16 match_depth;  /* components of `path` below the watched entry */
	__u16 flags;        /* path flags (FTS_PATH_*) | FTS_FILE_* */
	__u16 path_len, path_depth;   /* encoded like exe paths; from user: one plain string, depth 0 */
	__u16 path2_len, path2_depth;
	__u16 exe_len, exe_depth;     /* the task's executable, for tasks outside jobs (whose exec we never saw) */
	char data[];        /* path, path2, exe */
};

struct fts_io_uring_event {
	struct fts_event_header hdr;
	__u32 opcode;       /* IORING_OP_*; ~0 for a ring's creation */
	__s32 fd;           /* the request's fd, -1 when none */
	__u32 flags;
	__u32 _pad;
};

/* What a network record is about. */
enum fts_net_op {
	FTS_NET_CONNECT = 1, /* connect(2) (TCP, or UDP/raw choosing a peer) */
	FTS_NET_SENDMSG = 2, /* sendto/sendmsg/sendmmsg with an address on an unconnected socket */
	FTS_NET_FLOW = 3,    /* a job socket closed: bytes it sent */
	FTS_NET_BIND = 4,    /* bind(2): saddr/sport are the address asked for */
	FTS_NET_LISTEN = 5,  /* listen(2) on a TCP socket: saddr/sport are where */
	/* made by the daemon from the flows map, never by BPF */
	FTS_NET_FLOW_UPDATE = 6, /* a long flow still open: bytes sent so far */
	FTS_NET_ACCEPT = 7,  /* a job listener's connection established (accept queue): daddr/dport the peer */
	FTS_NET_OP_MAX,
};

/* network record flags */
#define FTS_NET_ALLOWED 0x1u /* the destination is in the policy's egress list */
#define FTS_NET_BLOCKED 0x2u /* enforce mode refused it: the syscall got EPERM */
#define FTS_NET_V4 0x4u      /* an AF_INET socket; addresses are v4-mapped (::ffff:a.b.c.d) */
#define FTS_NET_BY_DNS 0x8u  /* allowed by a name in egress, through a DNS answer the job received */
#define FTS_NET_INBOUND 0x10u /* a connection the job accepted (the peer connected to it) */
#define FTS_NET_DNS 0x20u    /* flows: the socket sent to port 53 or to a resolver of its policy: its packets are read as DNS */
#define FTS_NET_RAW 0x40u    /* an ICMP echo or raw IP socket: its destinations are read from its packets (no sendmsg hook runs) */
#define FTS_NET_UNTRACKED 0x80u /* the task was not in the tasks map (it was full): its job was found through its parents */
#define FTS_NET_TLS_LOOKED (1u << 29) /* flows map only: the flow's first payload was looked at for a ClientHello */

/* Addresses are 16 bytes, network order; IPv4 as v4-mapped IPv6 so one LPM
 * trie and one decoder cover both. Ports are host order. */
struct fts_net_event {
	struct fts_event_header hdr;
	__u64 cookie;        /* bpf_get_socket_cookie: the socket, for its whole life */
	__u64 bytes;         /* flow: bytes sent (sock_send_length) */
	__u8 saddr[16];      /* flow: the bound source; connect: usually still unbound (zero) */
	__u8 daddr[16];
	__u16 sport, dport;
	__u16 protocol;      /* IPPROTO_TCP / IPPROTO_UDP / ... */
	__u16 op;            /* enum fts_net_op */
	__u32 flags;         /* FTS_NET_* */
	__u32 policy;        /* the job's policy index */
};

/* A DNS query a job socket sent (cgroup_skb egress, UDP or TCP to port 53): the
 * question's name in wire format (length-prefixed labels), cut at FTS_DNS_NAME. */
#define FTS_DNS_NAME 128
#define FTS_DNS_TCP 0x1u      /* over TCP (the message after its 2-byte length) */
#define FTS_DNS_ALLOWED 0x2u  /* answer: the name is in the policy's egress; its addresses were allowed */
#define FTS_DNS_CUT 0x4u      /* answer: more A/AAAA records than FTS_DNS_ANSWERS, or past FTS_DNS_BUF */
#define FTS_DNS_UNMATCHED 0x8u  /* answer: no query of this socket has its id, question and resolver address:port */
#define FTS_DNS_UNTRUSTED 0x10u /* answer: it matches a query, but that went to a resolver the policy does not name */
#define FTS_DNS_EGRESS_NAME 0x20u /* answer: the question is a name of the policy's egress list */
struct fts_dns_event {
	struct fts_event_header hdr;
	__u64 cookie;
	__u8 daddr[16];      /* the resolver, v4-mapped for IPv4 */
	__u16 dport;
	__u16 qname_len;     /* bytes of qname copied */
	__u16 id;            /* the query's id */
	__u16 flags;         /* FTS_DNS_TCP */
	__u8 qname[FTS_DNS_NAME];
};

/* A DNS answer to a job socket that sent DNS queries (cgroup_skb ingress, from
 * any port): its A and AAAA records, whatever CNAMEs led there, are attributed
 * to the question's name. Only an answer that matches a query (id, question,
 * the resolver address:port it went to) from a resolver the policy names can
 * allow addresses; any other is flagged UNMATCHED or UNTRUSTED. Parsed from
 * the first FTS_DNS_BUF bytes of the message. */
#define FTS_DNS_ANSWERS 8
#define FTS_DNS_BUF 512
#define FTS_DNS_TTL_MIN 5      /* seconds an answer allows at least: a TTL of 0 still lets the connect that follows through */
#define FTS_DNS_TTL_MAX 86400
struct fts_dns_addr {
	__u8 addr[16];       /* A as v4-mapped */
	__u32 ttl;           /* seconds, as answered */
	__u16 type;          /* 1 (A) or 28 (AAAA) */
	__u16 _pad;
};
struct fts_dns_answer_event {
	struct fts_event_header hdr;
	__u64 cookie;
	__u8 saddr[16];      /* the resolver that answered */
	__u16 sport;
	__u16 qname_len;
	__u16 id;
	__u16 flags;         /* FTS_DNS_* */
	__u8 rcode;
	__u8 count;          /* records in addrs[] */
	__u16 ancount;       /* answer records in the message */
	__u32 _pad;
	__u8 qname[FTS_DNS_NAME];
	struct fts_dns_addr addrs[FTS_DNS_ANSWERS];
};

/* A socket a job process created that no egress hook can account for: ICMP
 * echo ("ping") and raw IP sockets (cgroup/sock_create, refused with EPERM in
 * enforce mode), AF_PACKET and other non-IP families (sys_enter_socket; the
 * process is killed in enforce mode: no hook can refuse them). */
#define FTS_SOCKET_KILLED 0x1u /* enforce mode: the process got SIGKILL before the socket was usable */
struct fts_socket_event {
	struct fts_event_header hdr;
	__u64 cookie;        /* the socket (0 for the families seen at the syscall) */
	__u16 family;        /* AF_* */
	__u16 type;          /* SOCK_* */
	__u16 protocol;      /* as passed (IPPROTO_* for IP, the ethertype in network order for AF_PACKET) */
	__u16 net_flags;     /* FTS_NET_BLOCKED when refused */
	__u32 policy;
	__u32 flags;         /* FTS_SOCKET_* */
};

/* A job process opened a model file of a pickle-based format for reading
 * (its extension is in model_exts), or closed it: a load window, during
 * which the file's pickle may run code (checkpoint-code-exec). The open
 * carries the path; a close only the fd. One record per open, not per
 * (process, file) like file records: every load opens a window. */
enum fts_model_op {
	FTS_MODEL_OPEN = 1,
	FTS_MODEL_CLOSE = 2,
	FTS_MODEL_OP_MAX,
};
#define FTS_MODEL_CLOSE_UNSEEN 0x100u /* open: no slot in model_fds was free: its close will not be reported */
/* open: this process opened this file before; its first open made the event
 * and named the path, this one names the inode only (no path) */
#define FTS_MODEL_REPEAT 0x200u
/* open: a repeated load the kernel held back (model_fds.held) and sent only
 * because the process then did something else (the record right after it):
 * its time is the open's. A repeated load followed by nothing but its close
 * sends no record at all. */
#define FTS_MODEL_HELD 0x400u
#define FTS_MODEL_EXT_MAX 16          /* bytes of a model_exts key: ".pt", lower case, NUL-padded */
#define FTS_MODEL_FDS 6               /* model files one process can have open with their closes reported */
struct fts_model_event {
	struct fts_event_header hdr;
	__u64 dev;           /* open: the file's (kernel dev_t) */
	__u64 ino;
	__s32 fd;
	__u16 op;            /* enum fts_model_op */
	__u16 flags;         /* path flags (FTS_PATH_*) | FTS_MODEL_* */
	__u16 path_len;      /* open: encoded like every path, leaf first */
	__u16 path_depth;
	__u32 _pad;
	char data[];
};

/* model_exts: a pickle-based model file's extension -> FTS_MODEL_EXT_*
 * (written by the daemon from common/model_file's table: one classification
 * for both sides) */
#define FTS_MODEL_EXT_ANY 1u          /* a model file wherever it is */
#define FTS_MODEL_EXT_NOT_PACKAGES 2u /* unless its directory's name ends in "-packages" (site.py's .pth files) */
struct fts_model_ext_key {
	char ext[FTS_MODEL_EXT_MAX];
};

/* model_fds: tgid -> the fds of the model files it has open for a load (-1: free slot) */
struct fts_model_fds {
	__u64 start_ns;      /* task->group_leader->start_boottime */
	__s32 fd[FTS_MODEL_FDS];
	__u32 held;          /* bit i: fd[i] is a repeated load whose open is not sent yet (FTS_MODEL_HELD) */
	__u32 _pad;
	__u64 dev[FTS_MODEL_FDS];       /* a held load's file (kernel dev_t) */
	__u64 ino[FTS_MODEL_FDS];
	__u64 opened_ns[FTS_MODEL_FDS]; /* and when it was opened (boot clock) */
};

/* The start of a ClientHello a job's TCP socket sent (cgroup_skb egress): the
 * first payload of an outbound flow that opens a TLS handshake record (0x16
 * 0x03 .., handshake type 1), cut at FTS_TLS_HELLO_MAX bytes. Once per flow:
 * the server name (SNI) is read from it in user space. */
#define FTS_TLS_HELLO_MAX 2048
#define FTS_TLS_CUT 0x1u /* the packet's payload was longer than the copy */
struct fts_tls_hello_event {
	struct fts_event_header hdr;
	__u64 cookie;        /* the flow's socket */
	__u8 daddr[16];      /* v4-mapped for IPv4 */
	__u16 dport;
	__u16 len;           /* bytes of data copied */
	__u32 flags;         /* FTS_TLS_* */
	__u8 data[FTS_TLS_HELLO_MAX];
};

/* What an access record is about: another process reaching into a job task. */
enum fts_access_op {
	FTS_ACCESS_PTRACE = 1,    /* ptrace(2); arg: the request */
	FTS_ACCESS_VM_READ = 2,   /* process_vm_readv */
	FTS_ACCESS_VM_WRITE = 3,  /* process_vm_writev */
	FTS_ACCESS_MEM_OPEN = 4,  /* open of /proc/PID/mem or /proc/PID/task/TID/mem; arg: open flags */
	FTS_ACCESS_OP_MAX,
};

/* hdr is the accessor (its job, if any, in hdr.job_id). A task that touches
 * its own process is never reported. */
struct fts_process_access_event {
	struct fts_event_header hdr;
	struct fts_task_id target; /* the job process reached */
	__u64 target_job;
	__u32 target_tid;          /* the thread the caller named */
	__u16 op;                  /* enum fts_access_op */
	__u16 _pad;
	__s64 result;              /* the syscall's return: 0/fd/bytes, or -errno */
	__u64 arg;
};

/* What a sensor record is about: someone touching the daemon or its BPF objects. */
enum fts_sensor_op {
	FTS_SENSOR_SIGNAL = 1,      /* a signal sent to the daemon; arg: the signal */
	FTS_SENSOR_OBJ_GET = 2,     /* bpf(BPF_OBJ_GET) of a pinned object of the daemon; arg: its id */
	FTS_SENSOR_FD_BY_ID = 3,    /* bpf(BPF_{MAP,PROG,LINK}_GET_FD_BY_ID) of the daemon's object; arg: its id */
	FTS_SENSOR_LINK_DETACH = 4, /* bpf(BPF_LINK_DETACH) of one of the daemon's links; arg: the link id */
	FTS_SENSOR_LINK_UPDATE = 5, /* bpf(BPF_LINK_UPDATE): another program put behind the daemon's link */
	FTS_SENSOR_OP_MAX,
};

/* Which kind of BPF object a sensor record names (its code, for every op but signal). */
enum fts_obj_type {
	FTS_OBJ_MAP = 0,
	FTS_OBJ_PROG = 1,
	FTS_OBJ_LINK = 2,
	FTS_OBJ_TYPE_MAX,
};

struct fts_sensor_event {
	struct fts_event_header hdr; /* who did it */
	__u32 op;            /* enum fts_sensor_op */
	__u32 arg;
	__s32 result;        /* signal: the tracepoint's delivery result; the others: the syscall's return */
	__s32 code;          /* signal: si_code (<= 0: sent from user space); the others: enum fts_obj_type */
	__u32 target;        /* the daemon's tgid */
	__u32 _pad;
	char name[16];       /* the object's name (a link: its program's) */
};

/* own_objects: (type, id) of each of the daemon's maps, programs and links ->
 * 1. The three id spaces are separate: an id alone names nothing. */
struct fts_obj_key {
	__u32 type;          /* enum fts_obj_type */
	__u32 id;
};

/* --- map values the daemon reads or writes --- */

/* egress: LPM trie over (policy, v4-mapped or v6 address) -> allowed ports.
 * prefixlen counts the 32 policy bits too. A more specific entry carries the
 * ports of the entries that contain it (the daemon merges them), because an
 * LPM lookup returns only the longest match. */
#define FTS_EGRESS_RANGES 8
struct fts_egress_key {
	__u32 prefixlen;
	__u32 policy;        /* big-endian, so it is matched as the leading bits */
	__u8 addr[16];
};
struct fts_egress_ports {
	__u16 lo[FTS_EGRESS_RANGES]; /* inclusive; an unused slot has lo > hi */
	__u16 hi[FTS_EGRESS_RANGES];
};

/* policy_net: policy index -> network settings */
#define FTS_POLICY_NET_ENFORCE 0x1u /* mode: enforce: refuse what egress does not allow */
struct fts_policy_net {
	__u32 flags;
	__u32 _pad;
};

/* flows: socket cookie -> the job socket's destination and bytes sent so far */
struct fts_flow {
	__u64 job_id;
	__u64 bytes;
	struct fts_task_id task; /* the task that connected */
	__u8 daddr[16];
	__u8 saddr[16];      /* the bound source, filled at the first send */
	__u16 dport;
	__u16 protocol;
	__u32 policy;
	__u32 flags;         /* FTS_NET_* of the connect */
	__u16 sport;
	__u16 _pad;
};

/* dns_names: (policy, a name of its egress list in lower-case wire format,
 * zero-padded) -> the ports the entry allows */
struct fts_dns_name_key {
	__u32 policy;
	__u8 name[FTS_DNS_NAME];
};

/* dns_allowed: (job, policy, address the job got in an answer for a name of
 * its egress list) -> until when and which ports. Written by the kernel at
 * ingress, expired by the daemon (and ignored by the connect hook once past).
 * Keyed by the job: another job of the policy did not ask. */
struct fts_dns_allowed_key {
	__u64 job_id;
	__u32 policy;
	__u8 addr[16];
	__u32 _pad;
};

/* dns_resolvers: (policy, address, port) of a resolver the policy trusts
 * (network.resolvers, else the host's resolv.conf) -> 1 */
struct fts_dns_resolver_key {
	__u32 policy;
	__u16 port;          /* host order */
	__u16 _pad;
	__u8 addr[16];       /* v4-mapped for IPv4 */
};
struct fts_dns_allowed {
	__u64 expires_ns;    /* bpf_ktime_get_boot_ns() */
	struct fts_egress_ports ports;
};

/* listeners: (network namespace, local port) of a job's TCP listener -> whose */
struct fts_listener_key {
	__u32 netns;         /* ns.inum */
	__u16 port;
	__u16 _pad;
};
struct fts_listener {
	__u64 job_id;
	struct fts_task_id task;
	__u32 policy;
	__u32 _pad;
};

/* watched: (dev, ino) of a directory or file -> its classes */
struct fts_inode_key {
	__u64 dev;
	__u64 ino;
};
struct fts_watch {
	__u32 classes;
	__u32 id;
};

/* watched_names: the leaf name of a glob like "**" "/token" -> its classes */
struct fts_name_key {
	char name[FTS_LAUNCHER_NAME];
};

/* seen_opens: one report per process, file and kind of access */
struct fts_seen_key {
	__u32 tgid;
	__u32 access;
	__u64 dev;
	__u64 ino;
};

/* A job process opened a character device of a configured class (GPU,
 * RDMA), recognised by the opened inode's i_rdev, never by its path: a node
 * the job made itself (mknod in a container's /dev) is the same device.
 * Once per (process, device node, access). data[]: the node's path. */
enum fts_device_class {
	FTS_DEV_GPU = 1,  /* nvidia*, nvidia-uvm, nvidia-caps, DRM render nodes */
	FTS_DEV_RDMA = 2, /* infiniband_verbs (uverbs), rdma_cm: kernel-bypass egress */
	FTS_DEV_CLASS_MAX,
};
#define FTS_DEVICE_ANY_MINOR 0xffffffffu /* device_classes key: every minor of the major in [min, max] */
struct fts_device_event {
	struct fts_event_header hdr;
	__u32 major, minor;  /* of the device (i_rdev) */
	__u64 dev, ino;      /* the node's own filesystem and inode */
	__s64 result;        /* the new fd */
	__u32 cls;           /* enum fts_device_class */
	__u16 access;        /* FTS_ACC_* */
	__u16 flags;         /* FTS_PATH_* of the path */
	__u16 path_len;      /* encoded like every path, leaf first */
	__u16 path_depth;
	__u32 _pad;
	char data[];
};

/* device_classes: (major, minor or FTS_DEVICE_ANY_MINOR) -> class. Written by
 * the daemon at start from /proc/devices and /proc/misc names. */
struct fts_device_key {
	__u32 major, minor;
};
struct fts_device_class_value {
	__u32 cls;       /* enum fts_device_class */
	__u32 minor_min; /* for FTS_DEVICE_ANY_MINOR keys: the minors that count */
	__u32 minor_max;
	__u32 _pad;
};
/* seen_opens access bit of a device record, apart from the file record of the same open */
#define FTS_ACC_DEVICE_SEEN 0x100000u
/* seen_opens access bit of a model record (a repeated load is marked, not dropped) */
#define FTS_ACC_MODEL_SEEN 0x10000000u

/* Start times in the tasks map are in USER_HZ ticks, the unit of /proc/PID/stat,
 * so the daemon can register a process it only knows from /proc. */
#define FTS_NS_PER_TICK 10000000ULL

/* tasks: tgid -> membership. start_ticks guards against pid reuse. */
struct fts_task_state {
	__u64 start_ticks;
	__u64 job_id;
	__u32 policy;
	__u32 flags;
};

/* exited_exes: tgid -> the executable of a process outside every job, kept
 * (LRU) when it exits. fanotify reports a change by a process outside the
 * jobs (a rename, a link, a write through a mapping or io_uring) with a pid
 * the daemon reads after the fact; a writer already gone has no /proc exe,
 * and this is what the kernel saw it run. */
#define FTS_EXITED_EXES 2048
#define FTS_EXITED_EXE_MAX 480 /* bytes of the encoded path; longer ones are not kept */
struct fts_exited_exe {
	__u64 start_ns;   /* task->group_leader->start_boottime */
	__u32 path_len;   /* bytes of path, encoded leaf first like a record's */
	__u16 path_depth;
	__u16 path_flags; /* FTS_PATH_* */
	char path[FTS_EXITED_EXE_MAX];
};

/* writer_execs: tgid -> how the process last exec'd a file named like an
 * approved writer (writer_names, keyed by basename). The daemon approves a
 * change under `protected` only when the executable it names has this
 * record's dev/inode and the loader was clean: the kernel's word, not the
 * path a process can fake with a mount namespace or LD_PRELOAD. */
#define FTS_WRITER_EXECS 4096
#define FTS_WRITER_NAMES 1024
#define FTS_WRITER_CLEAN 0x1u     /* no LD_PRELOAD/LD_AUDIT, and the environment scan reached its end */
#define FTS_WRITER_FROM_PROC 0x2u /* seeded by the daemon from /proc: the process predates it */
#define FTS_WRITER_FORKED 0x4u    /* inherited at fork from a writer (no exec since) */
struct fts_writer_exec {
	__u64 start_ns; /* task->group_leader->start_boottime */
	__u64 dev;      /* the executed file's inode->i_sb->s_dev (MAJOR << 20 | MINOR) */
	__u64 ino;
	__u32 flags;    /* FTS_WRITER_* */
	__u32 _pad;
};

/* launchers: basename of an executed file -> the policy that makes it a job. */
struct fts_launcher_key {
	char name[FTS_LAUNCHER_NAME];
};

/* job_cgroups: cgroup id -> the job whose members are the tasks inside. */
struct fts_cgroup_job {
	__u64 job_id;
	__u32 policy;
	__u32 _pad;
};

/* counters: per-CPU array indexed by enum fts_counter. */
enum fts_counter {
	FTS_CNT_RINGBUF_DROPS = 0, /* bpf_ringbuf_reserve/output failed */
	FTS_CNT_TASKS_FULL = 1,    /* tasks map refused a new member */
	FTS_CNT_EVENTS = 2,        /* records submitted */
	FTS_CNT_UNTRACKED_REFUSED = 3, /* a connect/send of an untracked child of an enforce-mode job refused */
	FTS_CNT_FLOWS_STARTED = 4, /* entries added to the flows map */
	FTS_CNT_FLOWS_ENDED = 5,   /* entries a socket's release found and removed (the rest: evicted, bytes lost) */
	FTS_CNT_MODEL_CLOSE_UNSEEN = 6, /* model-file opens whose close the kernel cannot report (model_fds full) */
	FTS_CNT_MAX,
};

/* settings: array[0], written by the daemon at start and on reload. (The
 * daemon's own tgid never changes: it is read-only data, lib/task.h.) */
#define FTS_SET_REPORT_ALL_EXEC 0x1u /* send execs of untracked tasks (user-space launcher globs) */
struct fts_settings {
	__u32 flags;
};

/* A job id is the root process's identity folded into 64 bits: the start
 * time in ~4 ms units above a 22-bit pid (PID_MAX_LIMIT is 2^22). Two
 * processes with one pid cannot start within 4 ms of each other, so ids are
 * unique per boot, sort by start, and both sides compute them alike.
 * Jobs defined by a cgroup have the top bit set over the cgroup id. */
#define FTS_JOB_CGROUP_BIT (1ULL << 63)
static inline __u64 fts_job_id(__u32 tgid, __u64 start_ns)
{
	return ((start_ns & ~0x3fffffULL) & ~FTS_JOB_CGROUP_BIT) | (tgid & 0x3fffffULL);
}

#ifdef __cplusplus
#define FTS_STATIC_ASSERT static_assert
#else
#define FTS_STATIC_ASSERT _Static_assert
#endif
FTS_STATIC_ASSERT(sizeof(struct fts_task_id) == 16, "fts_task_id ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_event_header) == 56, "fts_event_header ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_exec_event) == 56 + 16 + 16 + 12 + 12 + 8, "fts_exec_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_fork_event) == 56 + 24, "fts_fork_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_exit_event) == 56 + 8, "fts_exit_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_cgroup_event) == 56 + 16, "fts_cgroup_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_task_state) == 24, "fts_task_state ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_file_event) == 56 + 16 + 8 + 8 + 8 + 8 + 8, "fts_file_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_io_uring_event) == 56 + 16, "fts_io_uring_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_net_event) == 56 + 16 + 32 + 16, "fts_net_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_dns_event) == 56 + 8 + 16 + 8 + FTS_DNS_NAME, "fts_dns_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_process_access_event) == 56 + 16 + 8 + 8 + 8 + 8, "fts_process_access_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_sensor_event) == 56 + 24 + 16, "fts_sensor_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_obj_key) == 8, "fts_obj_key ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_dns_addr) == 24, "fts_dns_addr ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_dns_answer_event) == 56 + 8 + 16 + 8 + 8 + FTS_DNS_NAME + 24 * FTS_DNS_ANSWERS,
		  "fts_dns_answer_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_dns_name_key) == 4 + FTS_DNS_NAME, "fts_dns_name_key ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_dns_allowed_key) == 32, "fts_dns_allowed_key ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_dns_resolver_key) == 24, "fts_dns_resolver_key ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_tls_hello_event) == 56 + 8 + 16 + 8 + FTS_TLS_HELLO_MAX, "fts_tls_hello_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_socket_event) == 56 + 8 + 8 + 8, "fts_socket_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_dns_allowed) == 8 + 4 * FTS_EGRESS_RANGES, "fts_dns_allowed ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_listener_key) == 8, "fts_listener_key ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_listener) == 32, "fts_listener ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_egress_key) == 24, "fts_egress_key ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_egress_ports) == 4 * FTS_EGRESS_RANGES, "fts_egress_ports ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_policy_net) == 8, "fts_policy_net ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_flow) == 16 + 16 + 16 + 16 + 16, "fts_flow ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_device_event) == 56 + 8 + 16 + 8 + 8 + 8, "fts_device_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_device_key) == 8, "fts_device_key ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_device_class_value) == 16, "fts_device_class_value ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_exited_exe) == 16 + FTS_EXITED_EXE_MAX, "fts_exited_exe ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_writer_exec) == 32, "fts_writer_exec ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_model_event) == 56 + 32, "fts_model_event ABI");
FTS_STATIC_ASSERT(sizeof(struct fts_model_fds) == 16 + 28 * FTS_MODEL_FDS, "fts_model_fds ABI");

#endif /* FTSENTINEL_EVENTS_H */
