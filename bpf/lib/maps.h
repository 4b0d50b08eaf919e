/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every map of the sensor, declared once. Each .bpf.c includes this header;
 * the definitions are __weak so the static linker (bpftool gen object) folds
 * the copies of all hook families into one map each.
 */
#ifndef FTS_BPF_MAPS_H
#define FTS_BPF_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <ftsentinel/events.h>

#define FTS_MAX_TASKS 65536
#define FTS_MAX_LAUNCHERS 256
#define FTS_MAX_JOB_CGROUPS 4096

/* Records to user space. Size is set by the daemon before load (sensor.ringbuf_mb). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps") __weak;

/* tgid -> job membership of every task in a job (inherited at fork, in here). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_TASKS);
	__type(key, __u32);
	__type(value, struct fts_task_state);
} tasks SEC(".maps") __weak;

/* basename of an executed file -> policy index: exec of it starts a job. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_LAUNCHERS);
	__type(key, struct fts_launcher_key);
	__type(value, __u32);
} launchers SEC(".maps") __weak;

/* cgroup v2 id -> job: tasks that fork, exec or arrive there join it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_JOB_CGROUPS);
	__type(key, __u64);
	__type(value, struct fts_cgroup_job);
} job_cgroups SEC(".maps") __weak;

#define FTS_MAX_WATCHED 262144
#define FTS_MAX_WATCHED_NAMES 1024
#define FTS_MAX_SEEN 65536

/* (dev, ino) of watched directories and files -> classes; the kernel walks a
 * file's d_parent chain through it. Written by the daemon from the policies. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_WATCHED);
	__type(key, struct fts_inode_key);
	__type(value, struct fts_watch);
} watched SEC(".maps") __weak;

/* leaf names of globs that end in a literal name, anywhere -> classes (user space checks the whole glob). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_WATCHED_NAMES);
	__type(key, struct fts_name_key);
	__type(value, struct fts_watch);
} watched_names SEC(".maps") __weak;

/* Opens already reported, per process, file and access: reported once. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FTS_MAX_SEEN);
	__type(key, struct fts_seen_key);
	__type(value, __u8);
} seen_opens SEC(".maps") __weak;

#define FTS_MAX_DEVICE_CLASSES 256

/* (major, minor) of GPU and RDMA character devices -> class (lib/device.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_DEVICE_CLASSES);
	__type(key, struct fts_device_key);
	__type(value, struct fts_device_class_value);
} device_classes SEC(".maps") __weak;

#define FTS_MAX_EGRESS 16384
#define FTS_MAX_POLICIES 256
#define FTS_MAX_FLOWS 65536

/* (policy, address prefix) -> allowed ports: the policies' egress lists,
 * CIDRs and the resolved addresses of names. Written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FTS_MAX_EGRESS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fts_egress_key);
	__type(value, struct fts_egress_ports);
} egress SEC(".maps") __weak;

/* policy index -> network settings (enforce or monitor). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FTS_MAX_POLICIES);
	__type(key, __u32);
	__type(value, struct fts_policy_net);
} policy_net SEC(".maps") __weak;

/* socket cookie -> a job socket's destination and bytes sent; reported and
 * removed when the socket closes. LRU: a socket whose close we miss ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FTS_MAX_FLOWS);
	__type(key, __u64);
	__type(value, struct fts_flow);
} flows SEC(".maps") __weak;

/* (socket, destination) already reported for unconnected sends: a UDP
 * socket sends thousands of datagrams to one peer; one record says it. */
struct fts_net_seen_key {
	__u64 cookie;
	__u8 daddr[16];
	__u16 dport;
	__u16 _pad[3];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FTS_MAX_FLOWS);
	__type(key, struct fts_net_seen_key);
	__type(value, __u8);
} net_seen SEC(".maps") __weak;

/* (type, id) of the daemon's own maps, programs and links -> 1: another
 * process taking an fd to one, or detaching a link, is tampering. Written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct fts_obj_key);
	__type(value, __u8);
} own_objects SEC(".maps") __weak;

/* (accessor, target, op) already reported: a debugger's thousand PEEKs are one record. */
struct fts_access_seen_key {
	__u32 tgid;
	__u32 target;
	__u32 op;
	__u32 _pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fts_access_seen_key);
	__type(value, __u8);
} access_seen SEC(".maps") __weak;
#define FTS_MAX_DNS_NAMES 4096
#define FTS_MAX_DNS_ALLOWED 16384
#define FTS_MAX_DNS_PENDING 4096
#define FTS_MAX_LISTENERS 4096
#define FTS_MAX_DNS_RESOLVERS 1024

/* (policy, lower-case wire name) -> ports: the DNS names of the egress lists. Written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_DNS_NAMES);
	__type(key, struct fts_dns_name_key);
	__type(value, struct fts_egress_ports);
} dns_names SEC(".maps") __weak;

/* (policy, address) -> expiry and ports: what answers for those names
 * allowed. The kernel adds at ingress (no round trip through user space
 * before the connect that follows); the daemon removes what expired. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FTS_MAX_DNS_ALLOWED);
	__type(key, struct fts_dns_allowed_key);
	__type(value, struct fts_dns_allowed);
} dns_allowed SEC(".maps") __weak;

/* (socket, query id) of a DNS query a job socket sent -> where it went and
 * what it asked: an answer counts only if it matches one (no allowing by a
 * forged answer). */
struct fts_dns_pending_key {
	__u64 cookie;
	__u16 id;
	__u16 _pad[3];
};
#define FTS_DNS_QUESTION (FTS_DNS_NAME + 4) /* name, type, class */
struct fts_dns_pending {
	__u8 addr[16];   /* the resolver */
	__u16 port;
	__u16 len;       /* bytes of question held (the message's, from its name on) */
	__u32 _pad;
	__u8 question[FTS_DNS_QUESTION];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FTS_MAX_DNS_PENDING);
	__type(key, struct fts_dns_pending_key);
	__type(value, struct fts_dns_pending);
} dns_pending SEC(".maps") __weak;

/* (policy, address, port) of the resolvers each policy trusts. Written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_DNS_RESOLVERS);
	__type(key, struct fts_dns_resolver_key);
	__type(value, __u8);
} dns_resolvers SEC(".maps") __weak;

/* Parsing room for the ingress program only (softirq: it must not share
 * scratch space with programs it can interrupt). */
struct fts_dns_scratch {
	__u8 buf[FTS_DNS_BUF + 32];  /* reads at a masked offset may run 32 past the end */
	struct fts_dns_pending query; /* the query an answer claims to match */
	struct fts_dns_name_key key;
	struct fts_dns_addr addrs[FTS_DNS_ANSWERS];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fts_dns_scratch);
} dns_scratch SEC(".maps") __weak;

/* (netns, port) of a job's TCP listener -> the job: its accepted connections are the job's. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_LISTENERS);
	__type(key, struct fts_listener_key);
	__type(value, struct fts_listener);
} listeners SEC(".maps") __weak;

/* Per-CPU counters (enum fts_counter): drops are never silent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FTS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps") __weak;

/* Run-time settings written by the daemon (array of one). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fts_settings);
} settings SEC(".maps") __weak;

/* The executables of processes outside every job, at their exit (events.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FTS_EXITED_EXES);
	__type(key, __u32);
	__type(value, struct fts_exited_exe);
} exited_exes SEC(".maps") __weak;

/* Approved writers' basenames (any policy's data.writers): an exec of a file
 * so named is recorded in writer_execs. Value unused (1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_WRITER_NAMES);
	__type(key, struct fts_launcher_key);
	__type(value, __u32);
} writer_names SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FTS_WRITER_EXECS);
	__type(key, __u32);
	__type(value, struct fts_writer_exec);
} writer_execs SEC(".maps") __weak;

/* Pickle-based model files' extensions (events.h): an open of one by a job
 * process for reading opens a load window. Written by the daemon at start. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct fts_model_ext_key);
	__type(value, __u32);
} model_exts SEC(".maps") __weak;

/* tgid -> the model files it has open for a load, so a close can end the
 * window. Only loaders have an entry; the close hook reads it only while
 * some process has one (fts_model_loaders, lib/model.h). */
#define FTS_MAX_MODEL_LOADERS 4096
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FTS_MAX_MODEL_LOADERS);
	__type(key, __u32);
	__type(value, struct fts_model_fds);
} model_fds SEC(".maps") __weak;

/* Scratch space to build a variable-length record before bpf_ringbuf_output. */
#define FTS_SCRATCH_SIZE 32768 /* offsets are masked to half of it */
#define FTS_SCRATCH_MASK 16383
struct fts_scratch {
	char buf[FTS_SCRATCH_SIZE];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fts_scratch);
} scratch SEC(".maps") __weak;

#endif /* FTS_BPF_MAPS_H */
