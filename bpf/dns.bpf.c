// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Packets of job sockets. DNS: the questions they send (cgroup_skb egress) and the
 * answers they get (cgroup_skb ingress), UDP and TCP, both attached at the
 * cgroup v2 root. A packet of any other socket costs a cookie and one flows
 * lookup; so does a job socket that neither asks DNS nor is ICMP/raw.
 *
 * Which sockets: those whose flow went to port 53 or to a resolver the
 * policy names (FTS_NET_DNS, set by net.bpf.c). Their queries are reported
 * and remembered (id, question, resolver address:port) in dns_pending; every
 * answer-shaped packet they receive, from any port, is walked. An answer
 * allows its addresses only when it matches a query (same socket, id,
 * question, and from the address:port the query went to) and that resolver
 * is one the policy trusts (dns_resolvers); then, when the question's name is
 * in the job's egress list (dns_names), its A/AAAA addresses are allowed here,
 * in the kernel, for their TTL, for this job only: a program connects right
 * after resolving, sooner than a round trip through user space. Any other
 * answer is reported flagged UNMATCHED or UNTRUSTED and allows nothing.
 *
 * The egress program also reads where a job's ICMP echo and raw IP sockets
 * send (lib/raw.h), and the ClientHello a job's TLS client sends first
 * (lib/tls.h): the same lookup, no second program on every packet.
 *
 * Over TCP a message is parsed when it starts a segment (its 2-byte length
 * first), which is how resolvers write queries and answers that fit one.
 */
#include "lib/maps.h"
#include "lib/net.h"
#include "lib/raw.h"
#include "lib/task.h"
#include "lib/tls.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define DNS_PORT 53
#define DNS_HEADER 12
#define DNS_MASK (FTS_DNS_BUF - 1)
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_MAX_ANSWERS 32 /* answer records walked (CNAMEs included) */
#define DNS_STEPS 160      /* labels and records walked in all */

/* Where a DNS message starts in a packet, and the other end. */
struct dns_pkt {
	__u32 off;     /* of the DNS header */
	__u32 flags;   /* FTS_DNS_TCP */
	__u8 peer[16]; /* egress: the destination; ingress: the source */
	__u16 peer_port;
};

/* IP, then UDP or TCP to (egress) port 53 or a resolver of `policy`, or from (ingress) anywhere. */
static __always_inline bool dns__locate(struct __sk_buff *skb, bool ingress, __u32 policy, struct dns_pkt *p)
{
	__u32 *w = (__u32 *)p->peer;
	__u16 ports[2], mlen;
	__u8 b0, proto, doff;
	__u32 off;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, 0, &b0, 1) || bpf_skb_load_bytes(skb, 9, &proto, 1))
			return false;
		w[0] = 0;
		w[1] = 0;
		w[2] = bpf_htonl(0xffff);
		if (bpf_skb_load_bytes(skb, ingress ? 12 : 16, &w[3], 4))
			return false;
		off = (b0 & 0xf) * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, 6, &proto, 1) || bpf_skb_load_bytes(skb, ingress ? 8 : 24, p->peer, 16))
			return false;
		off = 40; /* extension headers before UDP/TCP: not parsed */
	} else {
		return false;
	}
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return false;
	p->peer_port = bpf_ntohs(ports[ingress ? 0 : 1]);
	/* Questions go to port 53 or to a resolver; answers are read from anywhere. */
	if (!ingress && p->peer_port != DNS_PORT && !resolver__named(policy, p->peer, p->peer_port))
		return false;
	if (proto == IPPROTO_UDP_) {
		p->off = off + 8;
		p->flags = 0;
	} else if (proto == IPPROTO_TCP_) {
		if (bpf_skb_load_bytes(skb, off + 12, &doff, 1))
			return false;
		off += (doff >> 4) * 4;
		if (bpf_skb_load_bytes(skb, off, &mlen, sizeof(mlen)) || bpf_ntohs(mlen) < DNS_HEADER)
			return false; /* no payload (an ACK), or not a message's start */
		p->off = off + 2;
		p->flags = FTS_DNS_TCP;
	} else {
		return false;
	}
	return skb->len > p->off + DNS_HEADER;
}

static __always_inline struct fts_flow *dns__flow(struct __sk_buff *skb, __u64 *cookie)
{
	struct fts_flow *f;

	*cookie = bpf_get_socket_cookie(skb);
	f = bpf_map_lookup_elem(&flows, cookie);
	return f && (f->flags & FTS_NET_DNS) ? f : NULL;
}

/* The query's question (name, type, class) as sent, and where it went. */
static __always_inline void query__remember(struct __sk_buff *skb, __u64 cookie, __u16 id, const struct dns_pkt *p)
{
	struct fts_dns_pending_key pk = { .cookie = cookie, .id = id };
	struct fts_dns_pending q = {};
	__u32 off = p->off + DNS_HEADER, len = skb->len - off;

	if (len > FTS_DNS_QUESTION)
		len = FTS_DNS_QUESTION;
	if (len < 1 || len > FTS_DNS_QUESTION || bpf_skb_load_bytes(skb, off, q.question, len))
		return;
	__builtin_memcpy(q.addr, p->peer, sizeof(q.addr));
	q.port = p->peer_port;
	q.len = len;
	bpf_map_update_elem(&dns_pending, &pk, &q, BPF_ANY);
}

SEC("cgroup_skb/egress")
int fts_dns_egress(struct __sk_buff *skb)
{
	struct fts_dns_event *e;
	struct dns_pkt p;
	struct fts_flow *f;
	__u8 head[3];
	__u32 off, len;
	__u64 cookie;

	cookie = bpf_get_socket_cookie(skb);
	f = bpf_map_lookup_elem(&flows, &cookie);
	if (f && (f->flags & FTS_NET_RAW)) {
		raw__egress(skb, f, cookie);
		return 1;
	}
	if (f && tls__wanted(f)) {
		tls__egress(skb, f, cookie);
		return 1;
	}
	if (!f || !(f->flags & FTS_NET_DNS) || !dns__locate(skb, false, f->policy, &p))
		return 1;
	if (bpf_skb_load_bytes(skb, p.off, head, sizeof(head)) || (head[2] & 0x80))
		return 1; /* a response going out is not a question */
	e = event__reserve(sizeof(*e));
	if (!e)
		return 1;
	event__header_for(&e->hdr, FTS_EV_DNS, sizeof(*e), &f->task, f->job_id);
	e->cookie = cookie;
	__builtin_memcpy(e->daddr, p.peer, sizeof(e->daddr));
	e->dport = p.peer_port;
	e->flags = p.flags;
	e->id = ((__u16)head[0] << 8) | head[1];
	off = p.off + DNS_HEADER;
	len = skb->len - off;
	if (len > FTS_DNS_NAME)
		len = FTS_DNS_NAME;
	e->qname_len = 0;
	__builtin_memset(e->qname, 0, sizeof(e->qname));
	if (len >= 1 && len <= FTS_DNS_NAME && !bpf_skb_load_bytes(skb, off, e->qname, len))
		e->qname_len = len;
	/* The answer to this is believed only from where it went, about what it asked. */
	query__remember(skb, cookie, e->id, &p);
	event__submit(e);
	return 1;
}

static __always_inline bool addr__equal(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline struct fts_dns_scratch *dns__scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dns_scratch, &zero);
}

/* A walk over the message in scratch space. */
struct dns_walk {
	__u32 off;
	__u32 len;   /* bytes of the message copied */
	__u32 left;  /* answer records still to read */
	__u8 named;  /* the current name is behind us */
	__u8 count;  /* addresses kept */
	__u8 cut;    /* some did not fit */
	__u8 bad;
};

/* One label of a name; sets `named` at its end (a zero label or a pointer). */
static __always_inline long dns__label(struct fts_dns_scratch *s, struct dns_walk *w)
{
	__u8 c = s->buf[w->off & DNS_MASK];

	if (c == 0) {
		w->off += 1;
		w->named = 1;
	} else if ((c & 0xc0) == 0xc0) {
		w->off += 2;
		w->named = 1;
	} else if (c & 0xc0) {
		w->bad = 1;
		return 1;
	} else {
		w->off += c + 1;
	}
	return 0;
}

static long question__step(__u32 i, struct dns_walk *w)
{
	struct fts_dns_scratch *s = dns__scratch();

	if (!s || w->off >= w->len) {
		w->cut = 1;
		return 1;
	}
	if (dns__label(s, w))
		return 1;
	return w->named ? 1 : 0;
}

/* A label of a record's owner name, or the record itself: A and AAAA kept,
 * CNAME and the rest stepped over (their addresses belong to the question). */
static long answer__step(__u32 i, struct dns_walk *w)
{
	struct fts_dns_scratch *s = dns__scratch();
	struct fts_dns_addr *a;
	__u32 o, ttl;
	__u16 type, rdlen;
	__u8 *r;

	if (!s || !w->left)
		return 1;
	if (w->off >= w->len) {
		w->cut = 1;
		return 1;
	}
	if (!w->named)
		return dns__label(s, w);
	if (w->off + 10 > w->len) {
		w->cut = 1;
		return 1;
	}
	o = w->off & DNS_MASK;
	r = &s->buf[o];
	type = ((__u16)r[0] << 8) | r[1];
	ttl = ((__u32)r[4] << 24) | ((__u32)r[5] << 16) | ((__u32)r[6] << 8) | r[7];
	rdlen = ((__u16)r[8] << 8) | r[9];
	w->off += 10;
	if ((type == DNS_TYPE_A && rdlen == 4) || (type == DNS_TYPE_AAAA && rdlen == 16)) {
		if (w->off + rdlen > w->len) {
			w->cut = 1;
			return 1;
		}
		if (w->count >= FTS_DNS_ANSWERS) {
			w->cut = 1;
		} else {
			a = &s->addrs[w->count & (FTS_DNS_ANSWERS - 1)];
			r = &s->buf[w->off & DNS_MASK];
			if (type == DNS_TYPE_A) {
				__builtin_memset(a->addr, 0, 10);
				a->addr[10] = 0xff;
				a->addr[11] = 0xff;
				__builtin_memcpy(&a->addr[12], r, 4);
			} else {
				__builtin_memcpy(a->addr, r, 16);
			}
			a->ttl = ttl;
			a->type = type;
			a->_pad = 0;
			w->count++;
		}
	}
	w->off += rdlen;
	w->left--;
	w->named = 0;
	return 0;
}

/* The question's name, lower-cased, as the dns_names key wants it. */
static long lower__step(__u32 i, void *unused)
{
	struct fts_dns_scratch *s = dns__scratch();
	__u8 c;

	if (!s || i >= FTS_DNS_NAME)
		return 1;
	c = s->buf[(DNS_HEADER + i) & DNS_MASK];
	if (c >= 'A' && c <= 'Z')
		c += 'a' - 'A';
	s->key.name[i] = c;
	return 0;
}

struct allow_ctx {
	__u64 now;
	__u64 job_id;
	__u32 policy;
	struct fts_egress_ports ports;
};

/* Adds `from`'s ranges that `to` lacks into its free slots (an address two names share). */
static __always_inline void ports__merge(struct fts_egress_ports *to, const struct fts_egress_ports *from)
{
#pragma unroll
	for (int i = 0; i < FTS_EGRESS_RANGES; i++) {
		bool have = from->lo[i] > from->hi[i];

#pragma unroll
		for (int j = 0; j < FTS_EGRESS_RANGES; j++)
			if (to->lo[j] == from->lo[i] && to->hi[j] == from->hi[i])
				have = true;
#pragma unroll
		for (int j = 0; j < FTS_EGRESS_RANGES; j++) {
			if (!have && to->lo[j] > to->hi[j]) {
				to->lo[j] = from->lo[i];
				to->hi[j] = from->hi[i];
				have = true;
			}
		}
	}
}

static long allow__step(__u32 i, struct allow_ctx *c)
{
	struct fts_dns_scratch *s = dns__scratch();
	struct fts_dns_allowed_key k = { .job_id = c->job_id, .policy = c->policy };
	struct fts_dns_allowed v, *old;
	struct fts_dns_addr *a;
	__u32 ttl;

	if (!s || i >= FTS_DNS_ANSWERS)
		return 1;
	a = &s->addrs[i & (FTS_DNS_ANSWERS - 1)];
	__builtin_memcpy(k.addr, a->addr, sizeof(k.addr));
	ttl = a->ttl;
	if (ttl < FTS_DNS_TTL_MIN)
		ttl = FTS_DNS_TTL_MIN;
	if (ttl > FTS_DNS_TTL_MAX)
		ttl = FTS_DNS_TTL_MAX;
	v.expires_ns = c->now + (__u64)ttl * 1000000000ULL;
	v.ports = c->ports;
	old = bpf_map_lookup_elem(&dns_allowed, &k);
	if (old && old->expires_ns > c->now) {
		if (old->expires_ns > v.expires_ns)
			v.expires_ns = old->expires_ns;
		ports__merge(&v.ports, &old->ports);
	}
	bpf_map_update_elem(&dns_allowed, &k, &v, BPF_ANY);
	return 0;
}

/* A response (QR) to a standard query (opcode 0) with one question, copied
 * into scratch: the bytes copied, or 0 for anything else. */
static __always_inline __u32 answer__load(struct __sk_buff *skb, const struct dns_pkt *p, struct fts_dns_scratch *s,
					  __u32 *flags)
{
	__u32 len = skb->len - p->off;

	if (len > FTS_DNS_BUF) {
		len = FTS_DNS_BUF;
		*flags |= FTS_DNS_CUT;
	}
	if (len < DNS_HEADER + 5 || len > FTS_DNS_BUF)
		return 0;
	if (bpf_skb_load_bytes(skb, p->off, s->buf, len))
		return 0;
	if (!(s->buf[2] & 0x80) || (s->buf[2] & 0x78) || s->buf[4] != 0 || s->buf[5] != 1)
		return 0;
	return len;
}

/* Is byte @i of the answer's question the query's? Stops at the first difference. */
static long question__same(__u32 i, __u32 *differ)
{
	struct fts_dns_scratch *s = dns__scratch();

	if (!s || i >= FTS_DNS_QUESTION) {
		*differ = 1;
		return 1;
	}
	if (s->buf[(DNS_HEADER + i) & DNS_MASK] != s->query.question[i]) {
		*differ = 1;
		return 1;
	}
	return 0;
}

/* Did this socket ask the answer's question, with its id (@pk), of the
 * address:port it came from? The query is answered once. @qlen: the
 * question's name length (type and class follow). */
static __always_inline bool answer__matches(struct fts_dns_scratch *s, const struct fts_dns_pending_key *pk,
					    const struct dns_pkt *p, __u32 qlen)
{
	struct fts_dns_pending *q = bpf_map_lookup_elem(&dns_pending, pk);
	__u32 n = qlen + 4, differ = 0;

	if (!q || !addr__equal(q->addr, p->peer) || q->port != p->peer_port)
		return false;
	s->query = *q;
	if (n > FTS_DNS_QUESTION)
		n = FTS_DNS_QUESTION; /* a longer name: its first bytes (no egress name is that long) */
	if (n > s->query.len)
		return false;
	bpf_loop(n, question__same, &differ, 0);
	if (differ)
		return false;
	bpf_map_delete_elem(&dns_pending, pk);
	return true;
}

/* The question's name, then up to DNS_MAX_ANSWERS records, keeping their
 * A/AAAA addresses in scratch. False when the question cannot be read. */
static __always_inline bool answer__walk(struct dns_walk *w, __u32 len, __u16 ancount, __u32 *qlen, __u32 *flags)
{
	w->off = DNS_HEADER;
	w->len = len;
	bpf_loop(FTS_DNS_NAME, question__step, w, 0);
	if (!w->named || w->bad)
		return false;
	*qlen = w->off - DNS_HEADER;
	w->off += 4; /* type, class */
	w->named = 0;
	w->left = ancount > DNS_MAX_ANSWERS ? DNS_MAX_ANSWERS : ancount;
	bpf_loop(DNS_STEPS, answer__step, w, 0);
	if (w->cut || w->left)
		*flags |= FTS_DNS_CUT;
	return true;
}

/* The dns_names entry of the question's name for the flow's policy, or NULL. */
static __always_inline struct fts_egress_ports *answer__egress_name(struct fts_dns_scratch *s,
								   const struct fts_flow *f, __u32 qlen)
{
	if (qlen > FTS_DNS_NAME)
		return NULL;
	__builtin_memset(s->key.name, 0, sizeof(s->key.name));
	s->key.policy = f->policy;
	bpf_loop(qlen, lower__step, NULL, 0);
	return bpf_map_lookup_elem(&dns_names, &s->key);
}

/* A NOERROR answer with addresses for a name of the policy's egress list:
 * its addresses are allowed to this job. */
static __always_inline __u32 answer__allow(struct fts_dns_scratch *s, const struct fts_flow *f,
					   const struct dns_walk *w, const struct fts_egress_ports *ports)
{
	struct allow_ctx c = { .now = bpf_ktime_get_boot_ns(), .job_id = f->job_id, .policy = f->policy };

	if ((s->buf[3] & 0xf) != 0 || !w->count)
		return 0;
	c.ports = *ports;
	bpf_loop(w->count, allow__step, &c, 0);
	return FTS_DNS_ALLOWED;
}

static __always_inline void answer__report(const struct fts_flow *f, __u64 cookie, const struct dns_pkt *p, __u16 id,
					   __u32 flags, struct fts_dns_scratch *s, const struct dns_walk *w, __u32 qlen,
					   __u16 ancount)
{
	struct fts_dns_answer_event *e = event__reserve(sizeof(*e));

	if (!e)
		return;
	event__header_for(&e->hdr, FTS_EV_DNS_ANSWER, sizeof(*e), &f->task, f->job_id);
	e->cookie = cookie;
	__builtin_memcpy(e->saddr, p->peer, sizeof(e->saddr));
	e->sport = p->peer_port;
	e->id = id;
	e->flags = flags;
	e->rcode = s->buf[3] & 0xf;
	e->count = w->count;
	e->ancount = ancount;
	e->_pad = 0;
	__builtin_memset(e->qname, 0, sizeof(e->qname));
	if (qlen > FTS_DNS_NAME)
		qlen = FTS_DNS_NAME;
	e->qname_len = 0;
	if (qlen >= 1 && qlen <= FTS_DNS_NAME && !bpf_probe_read_kernel(e->qname, qlen, &s->buf[DNS_HEADER]))
		e->qname_len = qlen;
	__builtin_memcpy(e->addrs, s->addrs, sizeof(e->addrs));
	event__submit(e);
}

/* An answer-shaped packet to a job socket that asked: walked, matched to
 * its query, its addresses allowed when it is a trusted resolver's answer
 * for a name of the job's egress list, reported either way. */
SEC("cgroup_skb/ingress")
int fts_dns_ingress(struct __sk_buff *skb)
{
	struct fts_dns_pending_key pk = {};
	struct fts_egress_ports *ports;
	struct fts_dns_scratch *s;
	struct dns_walk w = {};
	struct dns_pkt p;
	struct fts_flow *f;
	__u32 len, qlen = 0, flags;
	__u16 ancount;
	__u64 cookie;

	f = dns__flow(skb, &cookie);
	if (!f || !dns__locate(skb, true, f->policy, &p))
		return 1;
	s = dns__scratch();
	if (!s)
		return 1;
	flags = p.flags;
	len = answer__load(skb, &p, s, &flags);
	if (!len)
		return 1;
	pk.cookie = cookie;
	pk.id = ((__u16)s->buf[0] << 8) | s->buf[1];
	ancount = ((__u16)s->buf[6] << 8) | s->buf[7];
	if (!answer__walk(&w, len, ancount, &qlen, &flags))
		return 1;
	ports = answer__egress_name(s, f, qlen);
	if (ports)
		flags |= FTS_DNS_EGRESS_NAME;
	if (!answer__matches(s, &pk, &p, qlen))
		flags |= FTS_DNS_UNMATCHED;
	else if (!resolver__named(f->policy, p.peer, p.peer_port))
		flags |= FTS_DNS_UNTRUSTED;
	else if (ports)
		flags |= answer__allow(s, f, &w, ports);
	answer__report(f, cookie, &p, pk.id, flags, s, &w, qlen, ancount);
	return 1;
}
