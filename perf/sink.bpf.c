// SPDX-License-Identifier: MIT
/* Benchmark sink: count and drop UDP at XDP, so delivered packets cost no user-space CPU.
 * Everything that is not UDP (ARP, neighbour discovery) passes, so the sink namespace keeps
 * working as a normal host; UDP to pass_port also passes, for the latency reflector. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

enum { SINK_PKTS, SINK_BYTES, SINK_NR_COUNTERS };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SINK_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} sink_counts SEC(".maps");

/* Network byte order; 0 passes nothing. Set by the loader before load. */
const volatile __u16 pass_port = 0;

static __always_inline void sink_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&sink_counts, &idx);

	if (v)
		*v += n; /* per-CPU slot: one writer, no atomics needed */
}

/* Returns the UDP header of an unfragmented IPv4 or IPv6 datagram, or NULL. */
static __always_inline struct udphdr *sink_udp(void *data, void *end)
{
	struct ethhdr *eth = data;
	void *l4;

	if ((void *)(eth + 1) > end)
		return NULL;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
			return NULL;
		l4 = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP)
			return NULL;
		l4 = ip6 + 1;
	} else {
		return NULL;
	}
	if (l4 + sizeof(struct udphdr) > end)
		return NULL;
	return l4;
}

SEC("xdp")
int sink_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct udphdr *udp = sink_udp(data, end);

	if (!udp || (pass_port && udp->dest == pass_port))
		return XDP_PASS;
	sink_add(SINK_PKTS, 1);
	sink_add(SINK_BYTES, end - data);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
