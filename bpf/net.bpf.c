// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Egress of job processes.
 *
 * cgroup sock_addr hooks (connect4/6, sendmsg4/6) attached at the cgroup v2
 * root see every connect(2) and every send with an address on an unconnected
 * socket, with the kernel's copy of the address (no TOCTOU), and can refuse
 * it: returning 0 makes the syscall fail with EPERM. Attached at the root
 * they run for every task on the host, so a task outside a job costs one
 * hash lookup and is always allowed.
 *
 * Bytes are counted per job socket (keyed by socket cookie) from
 * sock:sock_send_length, which also sees sendfile, splice and io_uring sends,
 * and reported when the socket is released.
 *
 * A destination is allowed by the policy's CIDRs (the egress LPM trie), or
 * by an unexpired address that a DNS answer for one of its names gave this
 * job (dns_allowed, filled at ingress by dns.bpf.c). A socket that sends to
 * port 53 or to a resolver of the policy is marked FTS_NET_DNS: dns.bpf.c
 * reads its packets.
 */
#include "lib/maps.h"
#include "lib/net.h"
#include "lib/task.h"
#include "lib/model.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct net_dest {
	__u8 addr[16]; /* v4-mapped for AF_INET */
	__u16 port;    /* host order */
	__u16 protocol;
	__u32 flags;
};

/* The destination of a sock_addr call, as the kernel copied it. */
static __always_inline void dest__read(struct bpf_sock_addr *ctx, struct net_dest *d, bool v6)
{
	__u32 *w = (__u32 *)d->addr;

	if (v6) {
		w[0] = ctx->user_ip6[0];
		w[1] = ctx->user_ip6[1];
		w[2] = ctx->user_ip6[2];
		w[3] = ctx->user_ip6[3];
		d->flags = 0;
	} else {
		w[0] = 0;
		w[1] = 0;
		w[2] = bpf_htonl(0xffff);
		w[3] = ctx->user_ip4;
		d->flags = FTS_NET_V4;
	}
	d->port = bpf_ntohs((__u16)ctx->user_port);
	d->protocol = ctx->protocol;
}

/* Did an answer for a name in the egress list give this job this address, still valid? */
static __always_inline bool dns__allowed(const struct fts_task_state *st, struct net_dest *d)
{
	struct fts_dns_allowed_key key = { .job_id = st->job_id, .policy = st->policy };
	struct fts_dns_allowed *a;

	__builtin_memcpy(key.addr, d->addr, sizeof(key.addr));
	a = bpf_map_lookup_elem(&dns_allowed, &key);
	return a && a->expires_ns > bpf_ktime_get_boot_ns() && ports__contain(&a->ports, d->port);
}

static __always_inline void net__report(struct task_struct *task, struct fts_task_state *st, __u16 op,
					__u64 cookie, struct net_dest *d)
{
	struct fts_net_event *e;

	model__flush(task, BPF_CORE_READ(task, tgid), st->job_id); /* a connect inside a held load window */
	e = event__reserve(sizeof(*e));
	if (!e)
		return;
	event__header(&e->hdr, FTS_EV_NET, sizeof(*e), task, st->job_id, bpf_get_current_cgroup_id());
	e->cookie = cookie;
	e->bytes = 0;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memcpy(e->daddr, d->addr, sizeof(e->daddr));
	e->sport = 0;
	e->dport = d->port;
	e->protocol = d->protocol;
	e->op = op;
	e->flags = d->flags;
	e->policy = st->policy;
	/* The kernel decided already (allowed, blocked): nothing waits on the
	 * daemon's reading of it, so it does not wake the daemon by itself. */
	event__submit_lazy(e);
}

/* Remember a job socket's destination so its bytes can be counted and reported. */
static __always_inline void flow__start(__u64 cookie, struct task_struct *task, struct fts_task_state *st,
					struct net_dest *d)
{
	struct fts_flow f = {
		.job_id = st->job_id,
		.dport = d->port,
		.protocol = d->protocol,
		.policy = st->policy,
		.flags = d->flags,
	};
	struct fts_flow *old;

	task__id(task, &f.task);
	__builtin_memcpy(f.daddr, d->addr, sizeof(f.daddr));
	if (d->port == 53 || resolver__named(st->policy, d->addr, d->port))
		f.flags |= FTS_NET_DNS;
	/* BPF_NOEXIST: a UDP socket sending to many peers keeps its first... */
	if (flow__add(cookie, &f) || !(f.flags & FTS_NET_DNS))
		return;
	/* ...but one that turns to a resolver later has its packets read as DNS. */
	old = bpf_map_lookup_elem(&flows, &cookie);
	if (old)
		__sync_fetch_and_or(&old->flags, FTS_NET_DNS);
}

static __always_inline int net__check(struct bpf_sock_addr *ctx, __u16 op, bool v6)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fts_task_state *st = task__tracked(BPF_CORE_READ(task, tgid), task__start_ns(task));
	struct fts_policy_net *pn;
	struct net_dest d;
	__u64 cookie;
	__u32 policy, untracked = 0;
	bool blocked;

	if (!st) {
		/* A job's child the full tasks map left out is still checked as the job's. */
		st = task__job_by_parents(task);
		if (!st)
			return 1;
		untracked = FTS_NET_UNTRACKED;
	}
	policy = st->policy;
	dest__read(ctx, &d, v6);
	d.flags |= untracked;
	if (egress__allowed(policy, d.addr, d.port))
		d.flags |= FTS_NET_ALLOWED;
	else if (dns__allowed(st, &d))
		d.flags |= FTS_NET_ALLOWED | FTS_NET_BY_DNS;
	pn = bpf_map_lookup_elem(&policy_net, &policy);
	blocked = !(d.flags & FTS_NET_ALLOWED) && pn && (pn->flags & FTS_POLICY_NET_ENFORCE);
	if (blocked) {
		d.flags |= FTS_NET_BLOCKED;
		if (untracked)
			counter__inc(FTS_CNT_UNTRACKED_REFUSED);
	}
	cookie = bpf_get_socket_cookie(ctx);
	if (op == FTS_NET_SENDMSG) {
		struct fts_net_seen_key seen = { .cookie = cookie, .dport = d.port };
		__u8 one = 1;

		__builtin_memcpy(seen.daddr, d.addr, sizeof(seen.daddr));
		if (bpf_map_lookup_elem(&net_seen, &seen))
			return blocked ? 0 : 1;
		bpf_map_update_elem(&net_seen, &seen, &one, BPF_ANY);
	}
	if (!blocked)
		flow__start(cookie, task, st, &d);
	net__report(task, st, op, cookie, &d);
	return blocked ? 0 : 1;
}

SEC("cgroup/connect4")
int fts_connect4(struct bpf_sock_addr *ctx)
{
	return net__check(ctx, FTS_NET_CONNECT, false);
}

SEC("cgroup/connect6")
int fts_connect6(struct bpf_sock_addr *ctx)
{
	return net__check(ctx, FTS_NET_CONNECT, true);
}

SEC("cgroup/sendmsg4")
int fts_sendmsg4(struct bpf_sock_addr *ctx)
{
	return net__check(ctx, FTS_NET_SENDMSG, false);
}

SEC("cgroup/sendmsg6")
int fts_sendmsg6(struct bpf_sock_addr *ctx)
{
	return net__check(ctx, FTS_NET_SENDMSG, true);
}

/* bind(2) by a job process: a job opening a listener is worth knowing. Never refused. */
static __always_inline int net__bind(struct bpf_sock_addr *ctx, bool v6)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fts_task_state *st = task__tracked(BPF_CORE_READ(task, tgid), task__start_ns(task));
	struct fts_net_event *e;
	struct net_dest d;

	if (!st)
		return 1;
	dest__read(ctx, &d, v6);
	e = event__reserve(sizeof(*e));
	if (!e)
		return 1;
	event__header(&e->hdr, FTS_EV_NET, sizeof(*e), task, st->job_id, bpf_get_current_cgroup_id());
	e->cookie = bpf_get_socket_cookie(ctx);
	e->bytes = 0;
	__builtin_memcpy(e->saddr, d.addr, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	e->sport = d.port;
	e->dport = 0;
	e->protocol = d.protocol;
	e->op = FTS_NET_BIND;
	e->flags = d.flags;
	e->policy = st->policy;
	event__submit(e);
	return 1;
}

SEC("cgroup/bind4")
int fts_bind4(struct bpf_sock_addr *ctx)
{
	return net__bind(ctx, false);
}

SEC("cgroup/bind6")
int fts_bind6(struct bpf_sock_addr *ctx)
{
	return net__bind(ctx, true);
}

#define TCP_ESTABLISHED_ 1
#define TCP_SYN_RECV_ 3
#define TCP_CLOSE_ 7
#define TCP_LISTEN_ 10

static __always_inline void sock__local(const struct sock *sk, __u8 addr[16], __u32 *flags)
{
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET6) {
		BPF_CORE_READ_INTO((struct in6_addr *)addr, sk, __sk_common.skc_v6_rcv_saddr);
	} else {
		__u32 *w = (__u32 *)addr;

		w[0] = 0;
		w[1] = 0;
		w[2] = bpf_htonl(0xffff);
		w[3] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		*flags |= FTS_NET_V4;
	}
}

static __always_inline void sock__peer(const struct sock *sk, __u8 addr[16])
{
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET6) {
		BPF_CORE_READ_INTO((struct in6_addr *)addr, sk, __sk_common.skc_v6_daddr);
	} else {
		__u32 *w = (__u32 *)addr;

		w[0] = 0;
		w[1] = 0;
		w[2] = bpf_htonl(0xffff);
		w[3] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	}
}

static __always_inline void listener__key(const struct sock *sk, struct fts_listener_key *k)
{
	k->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	k->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	k->_pad = 0;
}

/* listen(2) runs in the caller's context: the state change names the job process. */
static __always_inline void net__listen(const struct sock *sk)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fts_task_state *st = task__tracked(BPF_CORE_READ(task, tgid), task__start_ns(task));
	struct fts_listener_key lk;
	struct fts_listener l = {};
	struct fts_net_event *e;

	if (!st)
		return;
	/* Its connections become the job's when they reach the accept queue. */
	listener__key(sk, &lk);
	l.job_id = st->job_id;
	l.policy = st->policy;
	task__id(task, &l.task);
	bpf_map_update_elem(&listeners, &lk, &l, BPF_ANY);
	e = event__reserve(sizeof(*e));
	if (!e)
		return;
	event__header(&e->hdr, FTS_EV_NET, sizeof(*e), task, st->job_id, bpf_get_current_cgroup_id());
	e->cookie = bpf_get_socket_cookie((void *)sk);
	e->bytes = 0;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	e->flags = 0;
	sock__local(sk, e->saddr, &e->flags);
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = 0;
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->op = FTS_NET_LISTEN;
	e->policy = st->policy;
	event__submit(e);
}

/*
 * A connection to a job's listener reached ESTABLISHED: it is in the accept
 * queue, the job's from now on. This runs in softirq (no job task is
 * current), so the listener's (netns, port), recorded at listen, says whose
 * it is; the child socket gets a flow, so what the job sends back to the
 * peer is counted like any egress. One lookup per passive TCP connection.
 */
static __always_inline void net__accepted(struct sock *sk)
{
	struct fts_listener_key lk;
	struct fts_listener *l;
	struct fts_net_event *e;
	struct fts_flow f = {};
	__u64 cookie;

	listener__key(sk, &lk);
	l = bpf_map_lookup_elem(&listeners, &lk);
	if (!l)
		return;
	cookie = bpf_get_socket_cookie(sk);
	f.job_id = l->job_id;
	f.task = l->task;
	f.policy = l->policy;
	f.protocol = BPF_CORE_READ(sk, sk_protocol);
	f.flags = FTS_NET_INBOUND;
	sock__local(sk, f.saddr, &f.flags);
	sock__peer(sk, f.daddr);
	f.sport = lk.port;
	f.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	flow__add(cookie, &f);
	e = event__reserve(sizeof(*e));
	if (!e)
		return;
	event__header_for(&e->hdr, FTS_EV_NET, sizeof(*e), &l->task, l->job_id);
	e->cookie = cookie;
	e->bytes = 0;
	__builtin_memcpy(e->saddr, f.saddr, sizeof(e->saddr));
	__builtin_memcpy(e->daddr, f.daddr, sizeof(e->daddr));
	e->sport = f.sport;
	e->dport = f.dport;
	e->protocol = f.protocol;
	e->op = FTS_NET_ACCEPT;
	e->flags = f.flags;
	e->policy = l->policy;
	/* The flow is in the map already and the ring keeps the order: nothing
	 * waits on the daemon reading this, so it does not wake it (a server in
	 * a job accepting many connections paid a wakeup for each). */
	event__submit_lazy(e);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(fts_inet_sock_set_state, struct sock *sk, const int oldstate, const int newstate)
{
	if (newstate == TCP_LISTEN_) {
		net__listen(sk);
	} else if (oldstate == TCP_SYN_RECV_ && newstate == TCP_ESTABLISHED_) {
		net__accepted(sk);
	} else if (oldstate == TCP_LISTEN_ && newstate == TCP_CLOSE_) {
		struct fts_listener_key lk;

		listener__key(sk, &lk);
		bpf_map_delete_elem(&listeners, &lk);
	}
	return 0;
}

/* Every sendmsg of every socket: one cookie and one lookup, counted only for job sockets. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(fts_sock_send_length, struct sock *sk, int ret, int flags)
{
	struct fts_flow *f;
	__u64 cookie;

	if (ret <= 0)
		return 0;
	cookie = bpf_get_socket_cookie(sk);
	f = bpf_map_lookup_elem(&flows, &cookie);
	if (!f)
		return 0;
	__sync_fetch_and_add(&f->bytes, ret);
	if (!f->sport) {
		/* The source is bound by now; the release hook cannot read it. */
		f->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
		if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET6) {
			BPF_CORE_READ_INTO(&f->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		} else {
			__u32 *w = (__u32 *)f->saddr;

			w[2] = bpf_htonl(0xffff);
			w[3] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		}
	}
	return 0;
}

/* The socket's release (close of its last reference), at the cgroup root
 * like the hooks above (fentry is not available on every kernel we run on):
 * the flow's summary. Every send has been counted by then. */
SEC("cgroup/sock_release")
int fts_sock_release(struct bpf_sock *sk)
{
	struct fts_net_event *e;
	struct fts_flow *f;
	__u64 cookie;

	cookie = bpf_get_socket_cookie(sk);
	f = bpf_map_lookup_elem(&flows, &cookie);
	if (!f)
		return 1;
	e = event__reserve(sizeof(*e));
	if (e) {
		event__header_for(&e->hdr, FTS_EV_NET, sizeof(*e), &f->task, f->job_id);
		e->hdr.cgroup_id = bpf_get_current_cgroup_id();
		e->hdr.tid = (__u32)bpf_get_current_pid_tgid();
		e->cookie = cookie;
		e->bytes = f->bytes;
		__builtin_memcpy(e->saddr, f->saddr, sizeof(e->saddr));
		__builtin_memcpy(e->daddr, f->daddr, sizeof(e->daddr));
		e->sport = f->sport;
		e->dport = f->dport;
		e->protocol = f->protocol;
		e->op = FTS_NET_FLOW;
		e->flags = f->flags;
		e->policy = f->policy;
		event__submit_lazy(e); /* a flow's summary: nothing waits on it */
	}
	if (!bpf_map_delete_elem(&flows, &cookie))
		counter__inc_exact(FTS_CNT_FLOWS_ENDED);
	return 1;
}
