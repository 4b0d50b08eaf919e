/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a job's ICMP echo or raw IP socket sends. No sock_addr hook runs for
 * their sendto(2), so the destination is read from the packet itself at
 * cgroup_skb egress (the kernel's IP header, no user pointer): each new one
 * is reported once per socket, like an unconnected UDP send, and the first
 * becomes the flow's, whose bytes sock_send_length counts.
 */
#ifndef FTS_BPF_RAW_H
#define FTS_BPF_RAW_H

#include "net.h"
#include "task.h"

#define FTS_ETH_P_IP 0x0800
#define FTS_ETH_P_IPV6 0x86DD

/* The packet's destination, v4-mapped for IPv4. */
static __always_inline bool raw__daddr(struct __sk_buff *skb, __u8 addr[16])
{
	__u32 *w = (__u32 *)addr;

	if (skb->protocol == bpf_htons(FTS_ETH_P_IP)) {
		w[0] = 0;
		w[1] = 0;
		w[2] = bpf_htonl(0xffff);
		return !bpf_skb_load_bytes(skb, 16, &w[3], 4);
	}
	if (skb->protocol == bpf_htons(FTS_ETH_P_IPV6))
		return !bpf_skb_load_bytes(skb, 24, addr, 16);
	return false;
}

static __always_inline void raw__egress(struct __sk_buff *skb, struct fts_flow *f, __u64 cookie)
{
	struct fts_net_seen_key seen = { .cookie = cookie };
	struct fts_net_event *e;
	const __u32 *d;
	__u8 one = 1;

	if (!raw__daddr(skb, seen.daddr) || bpf_map_lookup_elem(&net_seen, &seen))
		return;
	bpf_map_update_elem(&net_seen, &seen, &one, BPF_ANY);
	d = (const __u32 *)f->daddr;
	if (!(d[0] | d[1] | d[2] | d[3]))
		__builtin_memcpy(f->daddr, seen.daddr, sizeof(f->daddr));
	e = event__reserve(sizeof(*e));
	if (!e)
		return;
	event__header_for(&e->hdr, FTS_EV_NET, sizeof(*e), &f->task, f->job_id);
	e->cookie = cookie;
	e->bytes = 0;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memcpy(e->daddr, seen.daddr, sizeof(e->daddr));
	e->sport = 0;
	e->dport = 0;
	e->protocol = f->protocol;
	e->op = FTS_NET_SENDMSG;
	/* An entry with no ports (all ports) allows it; one with ports does not. */
	e->flags = (f->flags & (FTS_NET_V4 | FTS_NET_RAW)) |
		   (egress__allowed(f->policy, seen.daddr, 0) ? FTS_NET_ALLOWED : 0);
	e->policy = f->policy;
	event__submit(e);
}

#endif /* FTS_BPF_RAW_H */
