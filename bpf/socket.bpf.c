// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sockets of job processes that the egress hooks cannot account for.
 *
 * The sock_addr hooks (net.bpf.c) see TCP connects and UDP sends. An ICMP
 * echo socket (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), open to
 * unprivileged users through ping_group_range), a raw IP socket or an SCTP
 * one passes none of them, and AF_PACKET and the other non-IP families
 * leave the IP stack altogether. A job creating one is reported:
 *
 * - IP sockets at cgroup/sock_create (attached at the cgroup v2 root like the
 *   other cgroup hooks; it runs only for AF_INET/AF_INET6, in inet_create):
 *   returning 0 refuses the socket with EPERM in enforce mode. Allowed (in
 *   monitor mode), the socket gets a flow marked FTS_NET_RAW: cgroup_skb
 *   egress reads each destination from its packets (lib/raw.h) and
 *   sock_send_length counts its bytes, reported at its release.
 * - Other families at sys_enter_socket (no cgroup hook runs for them, and a
 *   tracepoint cannot refuse): in enforce mode the process is sent SIGKILL,
 *   which it gets before its next instruction, the socket unused.
 *
 * AF_UNIX, AF_NETLINK (route and interface queries) and AF_ALG stay on the
 * host and are never reported; TCP and UDP are the sock_addr hooks' own.
 * Outside jobs each hook costs one tasks lookup (sock_create) or a compare
 * and one lookup (socket(2) of a non-IP, non-local family).
 */
#include "lib/maps.h"
#include "lib/net.h"
#include "lib/task.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_UNIX_ 1
#define AF_NETLINK_ 16
#define AF_ALG_ 38
#define SOCK_STREAM_ 1
#define SOCK_DGRAM_ 2
#define SOCK_TYPE_MASK_ 0xf
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_UDPLITE_ 136
#define IPPROTO_MPTCP_ 262
#define SIGKILL_ 9

/* TCP (and MPTCP) streams and UDP datagrams: what connect4/6 and sendmsg4/6 see. */
static __always_inline bool socket__hooked(__u32 type, __u32 protocol)
{
	if (type == SOCK_STREAM_)
		return protocol == 0 || protocol == IPPROTO_TCP_ || protocol == IPPROTO_MPTCP_;
	if (type == SOCK_DGRAM_)
		return protocol == 0 || protocol == IPPROTO_UDP_ || protocol == IPPROTO_UDPLITE_;
	return false;
}

static __always_inline bool policy__enforces(__u32 policy)
{
	struct fts_policy_net *pn = bpf_map_lookup_elem(&policy_net, &policy);

	return pn && (pn->flags & FTS_POLICY_NET_ENFORCE);
}

static __always_inline void socket__report(struct task_struct *task, const struct fts_task_state *st, __u64 cookie,
					   __u16 family, __u16 type, __u16 protocol, bool refused, __u32 flags)
{
	struct fts_socket_event *e = event__reserve(sizeof(*e));

	if (!e)
		return;
	event__header(&e->hdr, FTS_EV_SOCKET, sizeof(*e), task, st->job_id, bpf_get_current_cgroup_id());
	e->cookie = cookie;
	e->family = family;
	e->type = type;
	e->protocol = protocol;
	e->net_flags = refused ? FTS_NET_BLOCKED : 0;
	e->policy = st->policy;
	e->flags = flags;
	event__submit(e);
}

/* The allowed socket's flow: its destinations and bytes are counted from its packets. */
static __always_inline void socket__flow(struct task_struct *task, const struct fts_task_state *st, __u64 cookie,
					 __u16 family, __u16 protocol)
{
	struct fts_flow f = {
		.job_id = st->job_id,
		.protocol = protocol,
		.policy = st->policy,
		.flags = FTS_NET_RAW | (family == AF_INET ? FTS_NET_V4 : 0),
	};

	task__id(task, &f.task);
	flow__add(cookie, &f);
}

SEC("cgroup/sock_create")
int fts_sock_create(struct bpf_sock *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fts_task_state *st;
	__u32 type, protocol;
	__u64 cookie;
	bool refused;

	type = ctx->type;
	protocol = ctx->protocol;
	if (socket__hooked(type, protocol))
		return 1;
	st = task__tracked(BPF_CORE_READ(task, tgid), task__start_ns(task));
	if (!st)
		return 1;
	refused = policy__enforces(st->policy);
	cookie = bpf_get_socket_cookie(ctx);
	if (!refused)
		socket__flow(task, st, cookie, ctx->family, protocol);
	socket__report(task, st, cookie, ctx->family, type, protocol, refused, 0);
	return refused ? 0 : 1;
}

SEC("tracepoint/syscalls/sys_enter_socket")
int fts_sys_enter_socket(struct trace_event_raw_sys_enter *ctx)
{
	__u32 family = ctx->args[0];
	struct task_struct *task;
	struct fts_task_state *st;
	bool refused;

	if (family == AF_UNIX_ || family == AF_INET || family == AF_INET6 || family == AF_NETLINK_ || family == AF_ALG_)
		return 0;
	task = bpf_get_current_task_btf();
	st = task__tracked(BPF_CORE_READ(task, tgid), task__start_ns(task));
	if (!st)
		return 0;
	refused = policy__enforces(st->policy);
	if (refused)
		bpf_send_signal(SIGKILL_);
	socket__report(task, st, 0, family, ctx->args[1] & SOCK_TYPE_MASK_, ctx->args[2], refused,
		       refused ? FTS_SOCKET_KILLED : 0);
	return 0;
}
