/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The server name a job's TLS client asks for, whatever it resolved the
 * address through (DoH, a hard-coded IP): the ClientHello is the first
 * payload of the connection, in clear. At cgroup_skb egress, for an outbound
 * TCP flow of a job, the first packet that carries payload is looked at once
 * (FTS_NET_TLS_LOOKED in the flow); when it opens a handshake record with a
 * client_hello, its first FTS_TLS_HELLO_MAX bytes go to user space, which
 * reads the SNI (a bounded parser there, not a walk of TLS extensions in the
 * verifier's budget). Every later packet of the flow costs one flag test.
 *
 * Why here and not uprobes on libssl's SSL_set_tlsext_host_name: this sees
 * every TLS stack (Go, rustls, BoringSSL in a wheel, a static binary) at the
 * cost of the lookup the egress program already does; a uprobe covers only
 * the libssl it is attached to, per binary, and costs a trap per call.
 */
#ifndef FTS_BPF_TLS_H
#define FTS_BPF_TLS_H

#include "net.h"
#include "task.h"

#define FTS_TLS_IPPROTO_TCP 6

/* Where the TCP payload starts (0: not IP/TCP, or no payload: a SYN, an ACK). */
static __always_inline __u32 tls__payload(struct __sk_buff *skb)
{
	__u8 b0, proto, doff;
	__u32 off;

	if (skb->protocol == bpf_htons(0x0800)) {
		if (bpf_skb_load_bytes(skb, 0, &b0, 1) || bpf_skb_load_bytes(skb, 9, &proto, 1))
			return 0;
		off = (b0 & 0xf) * 4;
	} else if (skb->protocol == bpf_htons(0x86DD)) {
		if (bpf_skb_load_bytes(skb, 6, &proto, 1))
			return 0;
		off = 40; /* extension headers before TCP: not parsed */
	} else {
		return 0;
	}
	if (proto != FTS_TLS_IPPROTO_TCP || bpf_skb_load_bytes(skb, off + 12, &doff, 1))
		return 0;
	off += (doff >> 4) * 4;
	return skb->len > off ? off : 0;
}

static __always_inline bool tls__wanted(const struct fts_flow *f)
{
	return f->protocol == FTS_TLS_IPPROTO_TCP &&
	       !(f->flags & (FTS_NET_TLS_LOOKED | FTS_NET_INBOUND | FTS_NET_DNS | FTS_NET_RAW));
}

static __always_inline void tls__egress(struct __sk_buff *skb, struct fts_flow *f, __u64 cookie)
{
	struct fts_tls_hello_event *e;
	__u8 head[6];
	__u32 off, len;

	off = tls__payload(skb);
	if (!off)
		return;
	__sync_fetch_and_or(&f->flags, FTS_NET_TLS_LOOKED); /* the first payload only */
	if (bpf_skb_load_bytes(skb, off, head, sizeof(head)) || head[0] != 0x16 || head[1] != 3 || head[5] != 1)
		return;
	e = event__reserve(sizeof(*e));
	if (!e)
		return;
	event__header_for(&e->hdr, FTS_EV_TLS_HELLO, sizeof(*e), &f->task, f->job_id);
	e->cookie = cookie;
	__builtin_memcpy(e->daddr, f->daddr, sizeof(e->daddr));
	e->dport = f->dport;
	e->flags = 0;
	len = skb->len - off;
	if (len > FTS_TLS_HELLO_MAX) {
		len = FTS_TLS_HELLO_MAX;
		e->flags = FTS_TLS_CUT;
	}
	e->len = 0;
	if (len >= 1 && len <= FTS_TLS_HELLO_MAX && !bpf_skb_load_bytes(skb, off, e->data, len))
		e->len = len;
	event__submit(e);
}

#endif /* FTS_BPF_TLS_H */
