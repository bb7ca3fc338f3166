// SPDX-License-Identifier: MIT
/* gen -X: the raw generator's frame sent by the kernel's XDP test runner in live-frame mode
 * (BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES). Each run writes the frame's headers
 * anew, gives it the next flow's UDP source port and redirects it to the generator's
 * interface, whose ndo_xdp_xmit (veth: the peer's XDP ring) takes it as an XDP frame: no skb,
 * no socket, no copy. The device under test's veth builds the skb in the NAPI that polls that
 * ring. */
#include <linux/bpf.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Set by the loader before load (read-only: the verifier knows them). */
const volatile __u32 ifindex = 0;
const volatile __u32 lo_ifindex = 1; /* the test runner's frames come in by lo */
const volatile __u32 flows = 1;
const volatile __u32 hdr_len = 42; /* Ethernet + IP + UDP: 42 (IPv4) or 62 (IPv6) */
const volatile __u8 udp_csum = 0; /* IPv6: the checksum follows the port */

/* The headers gen built (flow 0's port), written over every frame: the test runner fills a
 * page from the frame once, and a page comes back from the device under test as that left
 * it (a forwarder's rewritten addresses, a decremented TTL). The payload it leaves alone. */
__u8 tmpl[64] = {};

/* One generator thread runs the program: a plain counter. */
__u64 frames = 0;

/* RFC 1624 (eqn. 3): the checksum after one 16-bit word changed from old to new. */
static __always_inline __u16 csum_replace(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u32)(__u16)~old + new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	check = (__u16)~sum;
	return check ? check : 0xffff; /* UDP sends a computed 0 as all ones */
}

SEC("xdp")
int xgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct udphdr *udp;
	__u16 old, port;

	/* Attached to ifindex only to stay in the XDP dispatcher (gen.c): what that interface
	 * receives is not ours. */
	if (ctx->ingress_ifindex != lo_ifindex)
		return XDP_PASS;
	if (hdr_len == 62) {
		if (data + 62 > end)
			return XDP_ABORTED;
		__builtin_memcpy(data, tmpl, 62);
	} else {
		if (data + 42 > end)
			return XDP_ABORTED;
		__builtin_memcpy(data, tmpl, 42);
	}
	udp = data + hdr_len - sizeof(*udp);
	old = udp->source;
	port = bpf_htons((__u16)(10000 + frames++ % flows));
	udp->source = port;
	if (udp_csum)
		udp->check = csum_replace(udp->check, old, port);
	return bpf_redirect(ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
