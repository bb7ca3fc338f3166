// SPDX-License-Identifier: MIT
/* Overload prototype (issue 10): drop a datagram in XDP, before an skb exists, when the UDP
 * socket it is for cannot take it. The socket is found with bpf_sk_lookup_udp (the same
 * lookup the stack will do), and its receive-queue fill is read from struct sock through
 * bpf_rdonly_cast (a kfunc, Linux 6.2; reading kernel structs needs CAP_PERFMON). Unlike
 * ringrelay's filter this reads kernel structs, so it is built with CO-RE against the running
 * kernel's BTF (vmlinux.h generated into the build folder).
 *
 * IPv4 and IPv6, no IP options or extension headers (those pass). Everything else passes. */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "shed.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_UDP_ 17
#define BPF_F_CURRENT_NETNS_ (-1L)

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHED_NR_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} shed_counters SEC(".maps");

/* What one more datagram adds to the receive memory (its skb's truesize: 768-1280 bytes for
 * a small datagram on veth, more on a NIC with 2-4 KiB buffers), at most. */
#define SHED_TRUESIZE 4096

/* Set by the loader before load. listen_port in network byte order. */
const volatile __u16 listen_port = 0;
/* Drop when the datagram would take receive memory past fill_pct % of the receive buffer. */
const volatile __u32 fill_pct = 100;

static __always_inline int shed_count(__u32 idx, int verdict)
{
	__u64 *v = bpf_map_lookup_elem(&shed_counters, &idx);

	if (v)
		*v += 1;
	return verdict;
}

SEC("xdp")
int xdp_shed(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct bpf_sock_tuple t = {};
	struct ethhdr *eth = data;
	struct bpf_sock *sk;
	struct udphdr *udp;
	struct sock *s;
	__u32 tlen;
	int rmem, rcvbuf;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP_)
			return XDP_PASS;
		udp = (void *)(ip + 1);
		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		t.ipv4.saddr = ip->saddr;
		t.ipv4.daddr = ip->daddr;
		t.ipv4.sport = udp->source;
		t.ipv4.dport = udp->dest;
		tlen = sizeof(t.ipv4);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP_)
			return XDP_PASS;
		udp = (void *)(ip6 + 1);
		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		__builtin_memcpy(t.ipv6.saddr, &ip6->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, &ip6->daddr, 16);
		t.ipv6.sport = udp->source;
		t.ipv6.dport = udp->dest;
		tlen = sizeof(t.ipv6);
	} else {
		return XDP_PASS;
	}
	if (udp->dest != listen_port)
		return XDP_PASS;
	sk = bpf_sk_lookup_udp(ctx, &t, tlen, BPF_F_CURRENT_NETNS_, 0);
	if (!sk)
		return shed_count(SHED_NO_SOCKET, XDP_PASS);
	s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));
	rmem = s->sk_backlog.rmem_alloc.counter;
	rcvbuf = s->sk_rcvbuf;
	bpf_sk_release(sk);
	/* UDP drops when rmem + truesize > rcvbuf, so a full socket sits just below rcvbuf: the
	 * test has to include the datagram's own size, or it never fires. */
	if ((__u64)(rmem + SHED_TRUESIZE) * 100 > (__u64)rcvbuf * fill_pct)
		return shed_count(SHED_DROP, XDP_DROP);
	return shed_count(SHED_PASS, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
