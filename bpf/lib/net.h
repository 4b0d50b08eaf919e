/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the network hook families share: address families, port ranges. */
#ifndef FTS_BPF_NET_H
#define FTS_BPF_NET_H

#include "maps.h"
#include "task.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

/* Is `port` in one of the ranges? An unused slot has lo > hi. */
static __always_inline bool ports__contain(const struct fts_egress_ports *ports, __u16 port)
{
#pragma unroll
	for (int i = 0; i < FTS_EGRESS_RANGES; i++)
		if (ports->lo[i] <= port && port <= ports->hi[i])
			return true;
	return false;
}

/* Is (address, port) in the egress list of `policy`? */
/* A new entry of the flows map, counted: an LRU map evicts when full, and
 * the daemon tells the loss from started - ended - still there. True when
 * the entry is new (a socket keeps its first destination). */
static __always_inline bool flow__add(__u64 cookie, struct fts_flow *f)
{
	if (bpf_map_update_elem(&flows, &cookie, f, BPF_NOEXIST))
		return false;
	counter__inc_exact(FTS_CNT_FLOWS_STARTED);
	return true;
}

static __always_inline bool egress__allowed(__u32 policy, const __u8 addr[16], __u16 port)
{
	struct fts_egress_key key = { .prefixlen = 32 + 128, .policy = bpf_htonl(policy) };
	struct fts_egress_ports *ports;

	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	ports = bpf_map_lookup_elem(&egress, &key);
	return ports && ports__contain(ports, port);
}

/* Is (address, port) a resolver `policy` trusts? */
static __always_inline bool resolver__named(__u32 policy, const __u8 addr[16], __u16 port)
{
	struct fts_dns_resolver_key key = { .policy = policy, .port = port };

	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	return bpf_map_lookup_elem(&dns_resolvers, &key) != NULL;
}

#endif /* FTS_BPF_NET_H */
