/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the network hook families share: address families, port ranges. */
#ifndef FTS_BPF_NET_H
#define FTS_BPF_NET_H

#include "maps.h"

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

#endif /* FTS_BPF_NET_H */
