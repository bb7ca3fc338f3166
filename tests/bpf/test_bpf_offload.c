// SPDX-License-Identifier: MIT
/* The session fast path of bpf/filter.bpf.c through BPF_PROG_TEST_RUN, XDP and tc, with a real
 * FIB: the test moves into a private network namespace and builds interfaces, addresses,
 * routes and static neighbours there, then runs frames with the ingress interface set
 * (xdp_md.ingress_ifindex, __sk_buff.ifindex) so bpf_fib_lookup answers from those tables.
 *
 * A relayed frame is checked field by field against what the socket path would send: the
 * rule's addresses and ports, the TTL / hop limit, DSCP/ECN 0, DF, an IPv4 header checksum and
 * a UDP checksum computed here from scratch (payloads chosen to make 0x0000 -> 0xffff and an
 * incoming 0xffff, IPv4's 0 kept), the MACs of the egress device and of its neighbour. Every
 * pass-up reason has a frame; exactly its counter must rise and the frame must come back
 * unchanged. Needs root (skip 77 otherwise). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>

#include "bpfbase.h"
#include "config.h"
#include "filter.h"
#include "netlink.h"
#include "offload.h"

/* What the tc program returns for a frame it passes: no verdict (TC_ACT_UNSPEC), so the
 * filters after it still run. */
#define TC_PASS ((uint32_t)TC_ACT_UNSPEC)

#define MAC_A0 "02:00:00:00:00:a0"
#define MAC_B0 "02:00:00:00:00:b0"
#define MAC_C0 "02:00:00:00:00:c0"
#define MAC_D0 "02:00:00:00:00:d0"
#define MAC_CLIENT "02:00:00:00:01:01"
#define MAC_UP "02:00:00:00:02:02"
#define MAC_MTU "02:00:00:00:04:02"
#define MAC_NOFWD "02:00:00:00:05:02"

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void mac_parse(const char *s, uint8_t m[6])
{
	unsigned int v[6], i;

	sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
	for (i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
}

/* The private namespace:
 *   a0 (client side)   198.18.1.2/24 2001:2:0:1::2/64, neighbour .1 / ::1 = MAC_CLIENT
 *   b0 (upstream side) 198.18.2.1/24 2001:2:0:2::1/64, neighbour .2 / ::2 = MAC_UP;
 *                      198.18.3.0/24 via 198.18.2.9 (no neighbour: NO_NEIGH)
 *   c0 MTU 1000        198.18.4.1/24, neighbour .2 = MAC_MTU; 198.18.6.0/24 via .2 with a
 *                      locked route MTU of 1400 (the FIB lets 1400 bytes through);
 *                      c1 with GRO (NAPI), so that c0 takes XDP_REDIRECT
 *   d0 forwarding 0    198.18.5.1/24, neighbour .2 = MAC_NOFWD
 * Forwarding is on (bpf_fib_lookup demands it) except on d0. */
static int make_netns(void)
{
	static const char *const pairs[][3] = {
	    {"a0", "a1", MAC_A0}, {"b0", "b1", MAC_B0}, {"c0", "c1", MAC_C0}, {"d0", "d1", MAC_D0}};
	size_t i;

	if (unshare(CLONE_NEWNET))
		return -errno;
	if (sh("ip link set lo up"))
		return -EIO;
	sh("sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 "
	   "net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 >/dev/null");
	for (i = 0; i < 4; i++) {
		if (sh("ip link add %s address %s type veth peer name %s", pairs[i][0], pairs[i][2],
		       pairs[i][1]) ||
		    sh("ip link set %s up && ip link set %s up", pairs[i][0], pairs[i][1]))
			return -EIO;
	}
	if (sh("ip addr add 198.18.1.2/24 dev a0 && "
	       "ip -6 addr add 2001:2:0:1::2/64 dev a0 nodad") ||
	    sh("ip addr add 198.18.2.1/24 dev b0 && "
	       "ip -6 addr add 2001:2:0:2::1/64 dev b0 nodad") ||
	    sh("ip addr add 198.18.4.1/24 dev c0 && ip link set c0 mtu 1000") ||
	    sh("ip addr add 198.18.5.1/24 dev d0") ||
	    sh("sysctl -qw net.ipv4.conf.d0.forwarding=0 >/dev/null") ||
	    sh("ip neigh replace 198.18.1.1 lladdr " MAC_CLIENT " dev a0 nud permanent") ||
	    sh("ip -6 neigh replace 2001:2:0:1::1 lladdr " MAC_CLIENT " dev a0 nud permanent") ||
	    sh("ip neigh replace 198.18.2.2 lladdr " MAC_UP " dev b0 nud permanent") ||
	    sh("ip -6 neigh replace 2001:2:0:2::2 lladdr " MAC_UP " dev b0 nud permanent") ||
	    sh("ip neigh replace 198.18.4.2 lladdr " MAC_MTU " dev c0 nud permanent") ||
	    sh("ip neigh replace 198.18.5.2 lladdr " MAC_NOFWD " dev d0 nud permanent") ||
	    sh("ip route add 198.18.3.0/24 via 198.18.2.9 dev b0") ||
	    sh("ip route add 198.18.6.0/24 via 198.18.4.2 dev c0 mtu lock 1400") ||
	    sh("ethtool -K c1 gro on >/dev/null"))
		return -EIO;
	return 0;
}

/* ---------------------------------------------------------------- frames */

struct ep {
	int v6;
	uint8_t a[16]; /* 4 or 16 bytes used */
	uint16_t port;
};

static struct ep ep4(const char *ip, uint16_t port)
{
	struct ep e = {.port = port};

	inet_pton(AF_INET, ip, e.a);
	return e;
}

static struct ep ep6(const char *ip, uint16_t port)
{
	struct ep e = {.v6 = 1, .port = port};

	inet_pton(AF_INET6, ip, e.a);
	return e;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The UDP checksum from scratch (RFC 768 / 8200): pseudo-header, header with check 0, data;
 * a computed 0 is sent as 0xffff. */
static uint16_t udp_csum(const struct ep *src, const struct ep *dst, const uint8_t *udp,
			 size_t ulen)
{
	size_t alen = src->v6 ? 16 : 4;
	uint8_t tmp[8];
	uint32_t s = 0;
	uint16_t c;

	s = sum16(s, src->a, alen);
	s = sum16(s, dst->a, alen);
	s += 17;
	s += (uint32_t)ulen;
	memcpy(tmp, udp, 8);
	tmp[6] = tmp[7] = 0;
	s = sum16(s, tmp, 8);
	s = sum16(s, udp + 8, ulen - 8);
	c = (uint16_t)~fold(s);
	return c ? c : 0xffff;
}

enum csum_kind {
	CSUM_NORMAL,
	CSUM_ZERO,	 /* IPv4: no checksum */
	CSUM_IN_FFFF,	 /* payload makes the incoming checksum 0xffff */
	CSUM_OUT_FFFF,	 /* payload makes the relayed checksum 0xffff (computed 0) */
	CSUM_BAD_LENGTH, /* UDP length beyond the IP payload */
};

struct frame_opts {
	int vlan, ip_options, frag, hop_by_hop;
	int ip_csum_bad; /* IPv4: a header checksum one off */
	const char *dmac; /* destination MAC; NULL: a0's own */
	enum csum_kind csum;
	const struct ep *out_src, *out_dst; /* CSUM_OUT_FFFF: the rewritten endpoints */
	size_t trailer;	  /* bytes after the IP packet (an Ethernet trailer or padding) */
	size_t udp_short; /* the UDP length this much shorter than the IP payload */
};

/* Builds Ethernet + IP + UDP + payload into buf; returns the frame's length. */
static size_t build(uint8_t *buf, const struct ep *src, const struct ep *dst, size_t payload,
		    const struct frame_opts *o)
{
	uint8_t *p = buf, *ip, *udp;
	size_t iphl = src->v6 ? 40 : 20, ext = 0, ulen = 8 + payload, i;
	uint16_t c;

	memset(buf, 0, 14 + 4 + 40 + 8 + 8 + payload + o->trailer);
	mac_parse(o->dmac ? o->dmac : MAC_A0, p);
	mac_parse(MAC_CLIENT, p + 6);
	p += 12;
	if (o->vlan) {
		p[0] = 0x81, p[1] = 0x00, p[2] = 0, p[3] = 5;
		p += 4;
	}
	p[0] = src->v6 ? 0x86 : 0x08;
	p[1] = src->v6 ? 0xdd : 0x00;
	p += 2;
	ip = p;
	if (!src->v6) {
		if (o->ip_options)
			iphl = 24;
		ip[0] = (uint8_t)(0x40 | iphl / 4);
		ip[1] = 0xb8; /* DSCP EF + ECT(0): the relay sends 0 */
		ip[2] = (uint8_t)((iphl + ulen) >> 8);
		ip[3] = (uint8_t)(iphl + ulen);
		ip[4] = 0x12, ip[5] = 0x34;
		if (o->frag)
			ip[6] = 0x20; /* MF */
		ip[8] = 3;	      /* TTL as it arrived */
		ip[9] = 17;
		memcpy(ip + 12, src->a, 4);
		memcpy(ip + 16, dst->a, 4);
		if (o->ip_options)
			ip[20] = 1, ip[21] = 1, ip[22] = 1, ip[23] = 0; /* NOPs, EOL */
		c = (uint16_t)(~fold(sum16(0, ip, iphl)) + (o->ip_csum_bad ? 1 : 0));
		ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	} else {
		ext = o->hop_by_hop || o->frag ? 8 : 0;
		ip[0] = 0x6b, ip[1] = 0x81, ip[2] = 0x23, ip[3] = 0x45; /* tclass, label */
		ip[4] = (uint8_t)((ext + ulen) >> 8);
		ip[5] = (uint8_t)(ext + ulen);
		ip[6] = o->hop_by_hop ? 0 : o->frag ? 44 : 17;
		ip[7] = 3;
		memcpy(ip + 8, src->a, 16);
		memcpy(ip + 24, dst->a, 16);
		if (ext) {
			ip[40] =
			    17; /* next: UDP; the rest zero (PadN-free hop-by-hop, frag 0 M=1) */
			if (o->frag)
				ip[43] = 1;
		}
	}
	udp = ip + iphl + ext;
	udp[0] = (uint8_t)(src->port >> 8), udp[1] = (uint8_t)src->port;
	udp[2] = (uint8_t)(dst->port >> 8), udp[3] = (uint8_t)dst->port;
	udp[4] = (uint8_t)((ulen + (o->csum == CSUM_BAD_LENGTH ? 100 : 0) - o->udp_short) >> 8);
	udp[5] = (uint8_t)(ulen + (o->csum == CSUM_BAD_LENGTH ? 100 : 0) - o->udp_short);
	for (i = 0; i < payload; i++)
		udp[8 + i] = (uint8_t)(i * 7 + 1);
	if (payload >= 2 && (o->csum == CSUM_IN_FFFF || o->csum == CSUM_OUT_FFFF)) {
		/* Choose the first two payload bytes (an aligned 16-bit word) so the sum over the
		 * pseudo-header, header and payload is 0xffff: the checksum computes to 0 and is
		 * sent as 0xffff. */
		const struct ep *s = o->csum == CSUM_OUT_FFFF ? o->out_src : src;
		const struct ep *d = o->csum == CSUM_OUT_FFFF ? o->out_dst : dst;
		uint8_t hdr[8];
		uint32_t sum = 0;
		uint16_t x;

		udp[8] = udp[9] = 0;
		sum = sum16(sum, s->a, s->v6 ? 16 : 4);
		sum = sum16(sum, d->a, d->v6 ? 16 : 4);
		sum += 17 + (uint32_t)ulen;
		memcpy(hdr, udp, 8);
		hdr[0] = (uint8_t)(s->port >> 8), hdr[1] = (uint8_t)s->port;
		hdr[2] = (uint8_t)(d->port >> 8), hdr[3] = (uint8_t)d->port;
		hdr[6] = hdr[7] = 0;
		sum = sum16(sum, hdr, 8);
		sum = sum16(sum, udp + 8, payload);
		x = (uint16_t)~fold(sum);
		udp[8] = (uint8_t)(x >> 8);
		udp[9] = (uint8_t)x;
	}
	if (o->csum != CSUM_ZERO) {
		c = udp_csum(src, dst, udp, ulen - o->udp_short);
		udp[6] = (uint8_t)(c >> 8), udp[7] = (uint8_t)c;
	}
	if (o->csum == CSUM_IN_FFFF)
		assert_int_equal(udp[6] << 8 | udp[7], 0xffff);
	memset(udp + ulen, 0xee, o->trailer);
	return (size_t)(udp + ulen + o->trailer - buf);
}

/* ---------------------------------------------------------------- the program */

struct fixture {
	struct config *cfg;
	struct filter *f;
	int a0, b0, c0, d0;
};

static struct fixture fx;

/* The stages of ifindex, with its address as the loader writes it (XDP relays only frames to
 * it). */
static void set_iface(int ifindex, uint32_t flags)
{
	struct rr_iface v = {.flags = flags};
	struct netlink_link link;
	uint32_t k = (uint32_t)ifindex;

	assert_int_equal(netlink_link_at(ifindex, &link), 0);
	memcpy(v.mac, link.mac, sizeof(v.mac));
	assert_int_equal(bpf_map_update_elem(filter_map_fd(fx.f, "rr_ifaces"), &k, &v, BPF_ANY), 0);
}

static void set_tx(int ifindex)
{
	uint32_t k = (uint32_t)ifindex;

	assert_int_equal(bpf_map_update_elem(filter_map_fd(fx.f, "offload_tx"), &k, &k, BPF_ANY),
			 0);
}

static void mapped(const struct ep *e, uint8_t out[16])
{
	memset(out, 0, 16);
	if (e->v6) {
		memcpy(out, e->a, 16);
	} else {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, e->a, 4);
	}
}

/* Installs key (in_src -> in_dst), arriving on iif => rule (out_src -> out_dst via oif). */
static void add_session(const struct ep *in_src, const struct ep *in_dst, const struct ep *out_src,
			const struct ep *out_dst, int oif, int iif, uint8_t ttl, uint32_t flow,
			uint16_t max_payload, uint8_t dir)
{
	struct offload_key k;
	struct offload_rule r;

	memset(&k, 0, sizeof(k));
	memset(&r, 0, sizeof(r));
	mapped(in_src, k.saddr);
	mapped(in_dst, k.daddr);
	k.sport = htons(in_src->port);
	k.dport = htons(in_dst->port);
	mapped(out_src, r.saddr);
	mapped(out_dst, r.daddr);
	r.sport = htons(out_src->port);
	r.dport = htons(out_dst->port);
	r.oif = (uint32_t)oif;
	r.iif = (uint32_t)iif;
	r.ttl = ttl;
	r.flow = flow;
	r.dir = dir;
	r.v4 = !out_dst->v6;
	r.max_payload = max_payload;
	r.flowlabel = htonl(0xabcde);
	assert_int_equal(filter_offload_set(fx.f, &k, &r), 0);
}

/* Marks the rule of key (in_src -> in_dst) as routed by a policy rule's table (by_policy) or
 * gives it a path MTU (path_mtu, 0: leaves it). */
static void set_rule(const struct ep *in_src, const struct ep *in_dst, int by_policy,
		     uint16_t path_mtu)
{
	int fd = filter_map_fd(fx.f, "offload_sessions");
	struct offload_key k;
	struct offload_rule r;

	memset(&k, 0, sizeof(k));
	mapped(in_src, k.saddr);
	mapped(in_dst, k.daddr);
	k.sport = htons(in_src->port);
	k.dport = htons(in_dst->port);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &r), 0);
	r.by_policy = (uint8_t)by_policy;
	if (path_mtu)
		r.path_mtu = path_mtu;
	assert_int_equal(bpf_map_update_elem(fd, &k, &r, BPF_EXIST), 0);
}

static void counters(uint64_t out[OFFLOAD_CNT__MAX])
{
	assert_int_equal(filter_offload_counters(fx.f, out), 0);
}

struct run {
	uint32_t retval;
	uint8_t out[9000];
	uint32_t out_len;
	int counter; /* the one that rose */
};

/* One frame through one flavour on ingress ifindex; exactly one counter must rise. */
static void run(int tc, int ifindex, const uint8_t *in, size_t len, uint32_t gso, struct run *r)
{
	uint64_t before[OFFLOAD_CNT__MAX], after[OFFLOAD_CNT__MAX];
	struct xdp_md xctx = {.ingress_ifindex = (uint32_t)ifindex, .data_end = (uint32_t)len};
	struct __sk_buff sctx = {
	    .ifindex = (uint32_t)ifindex, .gso_size = gso, .gso_segs = gso ? 2 : 0};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = r->out, .data_size_out = sizeof(r->out));
	int c, rose = 0, ret;

	if (tc) {
		opts.ctx_in = &sctx;
		opts.ctx_size_in = sizeof(sctx);
	} else {
		opts.ctx_in = &xctx;
		opts.ctx_size_in = sizeof(xctx);
	}
	counters(before);
	ret = bpf_prog_test_run_opts(filter_prog_fd(fx.f, tc), &opts);
	if (ret)
		fail_msg("BPF_PROG_TEST_RUN (%s, %zu bytes): %s", tc ? "tc" : "xdp", len,
			 strerror(-ret));
	counters(after);
	r->counter = -1;
	for (c = 0; c < OFFLOAD_CNT__MAX; c++) {
		if (after[c] == before[c])
			continue;
		if (after[c] != before[c] + 1 || rose++)
			fail_msg("%s: counter %s rose by %llu", tc ? "tc" : "xdp",
				 filter_offload_counter_name(c),
				 (unsigned long long)(after[c] - before[c]));
		r->counter = c;
	}
	r->retval = opts.retval;
	r->out_len = opts.data_size_out;
}

/* r (of frame in, len bytes, name's, hook tc) passed up unchanged, counted as counter. */
static void expect_passed_as(const char *name, int tc, const struct run *r, int counter,
			     const uint8_t *in, size_t len)
{
	if (r->counter != counter || r->retval != (tc ? TC_PASS : XDP_PASS))
		fail_msg("%s (%s): counter %s, verdict %u; want %s, pass", name,
			 tc ? "tc" : "xdp",
			 r->counter < 0 ? "none" : filter_offload_counter_name(r->counter),
			 r->retval, filter_offload_counter_name(counter));
	if (r->out_len != len || memcmp(r->out, in, len))
		fail_msg("%s (%s): the frame changed", name, tc ? "tc" : "xdp");
}

/* ---------------------------------------------------------------- endpoints of the cases */

/* A client -> listen 198.18.1.2:5000 session relayed from 198.18.2.1:40000 to the upstream. */
static struct ep c4, l4, s4, u4, c6, l6, s6, u6;

static int setup(void **state)
{
	char err[CONFIG_ERR_LEN];
	int ret;

	if (getuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		exit(77);
	}
	ret = make_netns();
	if (ret) {
		fprintf(stderr, "SKIP: private network namespace: %s\n", strerror(-ret));
		exit(77);
	}
	fx.cfg = calloc(1, sizeof(*fx.cfg));
	fx.cfg->filter.mode = FILTER_MODE_OFF;
	if (filter_open_sized(fx.cfg, 64, &fx.f, err, sizeof(err)) < 0) {
		/* as root (the namespace needed it) a load that fails is the verifier refusing */
		fprintf(stderr, "FAIL: %s\n", err);
		exit(1);
	}
	fx.a0 = (int)if_nametoindex("a0");
	fx.b0 = (int)if_nametoindex("b0");
	fx.c0 = (int)if_nametoindex("c0");
	fx.d0 = (int)if_nametoindex("d0");
	set_iface(fx.a0, RR_IFACE_OFFLOAD_XDP | RR_IFACE_OFFLOAD_TC);
	set_iface(fx.b0, RR_IFACE_OFFLOAD_XDP | RR_IFACE_OFFLOAD_TC);
	set_tx(fx.a0);
	set_tx(fx.b0);
	set_tx(fx.c0);
	set_tx(fx.d0);
	c4 = ep4("198.18.1.1", 33333);
	l4 = ep4("198.18.1.2", 5000);
	s4 = ep4("198.18.2.1", 40000);
	u4 = ep4("198.18.2.2", 9000);
	c6 = ep6("2001:2:0:1::1", 33333);
	l6 = ep6("2001:2:0:1::2", 5000);
	s6 = ep6("2001:2:0:2::1", 40000);
	u6 = ep6("2001:2:0:2::2", 9000);
	add_session(&c4, &l4, &s4, &u4, fx.b0, fx.a0, 64, 1, 1500, OFFLOAD_DIR_UP);
	add_session(&u4, &s4, &l4, &c4, fx.a0, fx.b0, 63, 1, 1500, OFFLOAD_DIR_DOWN);
	add_session(&c6, &l6, &s6, &u6, fx.b0, fx.a0, 64, 2, 1500, OFFLOAD_DIR_UP);
	add_session(&u6, &s6, &l6, &c6, fx.a0, fx.b0, 255, 2, 1500, OFFLOAD_DIR_DOWN);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	filter_free(fx.f);
	free(fx.cfg);
	return 0;
}

/* Checks a relayed frame against what the socket path sends. */
static void check_relayed(const char *name, const struct run *r, const uint8_t *in, size_t len,
			  const struct ep *src, const struct ep *dst, uint8_t ttl, const char *smac,
			  const char *dmac, int macs, uint16_t want_csum)
{
	const uint8_t *ip = r->out + 14, *udp;
	uint8_t m[6];
	uint16_t c;

	if (r->out_len != len)
		fail_msg("%s: length %u, want %zu", name, r->out_len, len);
	if (macs) {
		mac_parse(dmac, m);
		if (memcmp(r->out, m, 6))
			fail_msg("%s: destination MAC", name);
		mac_parse(smac, m);
		if (memcmp(r->out + 6, m, 6))
			fail_msg("%s: source MAC", name);
	}
	if (!src->v6) {
		if (ip[1] != 0 || ip[8] != ttl || (ip[6] & 0x40) == 0)
			fail_msg("%s: tos %u ttl %u frag %02x", name, ip[1], ip[8], ip[6]);
		if (memcmp(ip + 12, src->a, 4) || memcmp(ip + 16, dst->a, 4))
			fail_msg("%s: IPv4 addresses", name);
		if (fold(sum16(0, ip, 20)) != 0xffff)
			fail_msg("%s: IPv4 header checksum", name);
		udp = ip + 20;
	} else {
		if (ip[0] != 0x60 || (ip[1] & 0xf0) != 0 || ip[7] != ttl)
			fail_msg("%s: version/tclass %02x%02x hop limit %u", name, ip[0], ip[1],
				 ip[7]);
		if (memcmp(ip + 8, src->a, 16) || memcmp(ip + 24, dst->a, 16))
			fail_msg("%s: IPv6 addresses", name);
		udp = ip + 40;
	}
	if ((udp[0] << 8 | udp[1]) != src->port || (udp[2] << 8 | udp[3]) != dst->port)
		fail_msg("%s: ports %u -> %u", name, udp[0] << 8 | udp[1], udp[2] << 8 | udp[3]);
	c = (uint16_t)(udp[6] << 8 | udp[7]);
	if (want_csum == 0 && !src->v6 && c == 0)
		return; /* IPv4 "no checksum" stays */
	if (c != udp_csum(src, dst, udp, (size_t)(udp[4] << 8 | udp[5])))
		fail_msg("%s: UDP checksum %04x, from scratch %04x", name, c,
			 udp_csum(src, dst, udp, (size_t)(udp[4] << 8 | udp[5])));
	if (want_csum && c != want_csum)
		fail_msg("%s: UDP checksum %04x, want %04x", name, c, want_csum);
	(void)in;
}

struct relay_case {
	const char *name;
	int v6, down;
	size_t payload;
	enum csum_kind csum;
	uint16_t want_csum; /* 0: any (the from-scratch one) */
	size_t trailer;	    /* padding up to a minimum-size frame */
};

static void test_rewrite(void **state)
{
	static const struct relay_case cases[] = {
	    {"v4 up", 0, 0, 18, CSUM_NORMAL, 0, 0},
	    {"v4 down", 0, 1, 18, CSUM_NORMAL, 0, 0},
	    {"v4 up, no checksum stays 0", 0, 0, 18, CSUM_ZERO, 0, 0},
	    {"v4 up, incoming 0xffff", 0, 0, 20, CSUM_IN_FFFF, 0, 0},
	    {"v4 up, relayed sum 0 -> 0xffff", 0, 0, 20, CSUM_OUT_FFFF, 0xffff, 0},
	    {"v4 down, relayed sum 0 -> 0xffff", 0, 1, 21, CSUM_OUT_FFFF, 0xffff, 0},
	    {"v4 up, 1400 B", 0, 0, 1400, CSUM_NORMAL, 0, 0},
	    {"v4 up, empty", 0, 0, 0, CSUM_NORMAL, 0, 0},
	    /* 46 bytes padded to Ethernet's minimum, as a NIC delivers it */
	    {"v4 up, 4 B in a padded 60-byte frame", 0, 0, 4, CSUM_NORMAL, 0, 14},
	    /* the same padded frame whose VLAN tag the NIC stripped (tc on eth0.100): 56 bytes
	     * (before: pass_malformed, as only 60 bytes counted as padding) */
	    {"v4 up, 4 B in a padded frame, VLAN tag stripped: 56 bytes", 0, 0, 4, CSUM_NORMAL, 0,
	     10},
	    {"v6 up", 1, 0, 18, CSUM_NORMAL, 0, 0},
	    {"v6 down", 1, 1, 18, CSUM_NORMAL, 0, 0},
	    {"v6 up, incoming 0xffff", 1, 0, 30, CSUM_IN_FFFF, 0, 0},
	    {"v6 up, relayed sum 0 -> 0xffff", 1, 0, 30, CSUM_OUT_FFFF, 0xffff, 0},
	    {"v6 down, relayed sum 0 -> 0xffff", 1, 1, 31, CSUM_OUT_FFFF, 0xffff, 0},
	    {"v6 down, 1400 B", 1, 1, 1400, CSUM_NORMAL, 0, 0},
	};
	static uint8_t in[2048];
	static struct run r;
	size_t i, len;
	int tc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct relay_case *k = &cases[i];
		const struct ep *is, *id, *os, *od;
		/* addressed to the MAC of the ingress device (tc: PACKET_HOST) */
		struct frame_opts o = {.csum = k->csum, .dmac = k->down ? MAC_B0 : NULL,
				       .trailer = k->trailer};
		char name[96];
		uint8_t ttl;

		if (!k->v6) {
			is = k->down ? &u4 : &c4, id = k->down ? &s4 : &l4;
			os = k->down ? &l4 : &s4, od = k->down ? &c4 : &u4;
			ttl = k->down ? 63 : 64;
		} else {
			is = k->down ? &u6 : &c6, id = k->down ? &s6 : &l6;
			os = k->down ? &l6 : &s6, od = k->down ? &c6 : &u6;
			ttl = k->down ? 255 : 64;
		}
		o.out_src = os;
		o.out_dst = od;
		len = build(in, is, id, k->payload, &o);
		for (tc = 0; tc < 2; tc++) {
			snprintf(name, sizeof(name), "%s (%s)", k->name, tc ? "tc" : "xdp");
			run(tc, k->down ? fx.b0 : fx.a0, in, len, 0, &r);
			if (r.counter != OFFLOAD_CNT_FORWARDED)
				fail_msg("%s: counter %s, want forwarded", name,
					 r.counter < 0 ? "none"
						       : filter_offload_counter_name(r.counter));
			if (r.retval != (tc ? TC_ACT_REDIRECT : XDP_REDIRECT))
				fail_msg("%s: verdict %u", name, r.retval);
			/* tc leaves the MACs to bpf_redirect_neigh. */
			check_relayed(name, &r, in, len, os, od, ttl, k->down ? MAC_A0 : MAC_B0,
				      k->down ? MAC_CLIENT : MAC_UP, !tc, k->want_csum);
		}
	}
}

/* The per-session counters the worker folds: packets and payload bytes per direction. */
static void test_flow_stats(void **state)
{
	const struct offload_flow_stats *st = filter_offload_flow(fx.f, 1);
	struct frame_opts o = {0};
	static uint8_t in[256];
	static struct run r;
	uint64_t p0 = st->pkts[0], b0 = st->bytes[0], p1 = st->pkts[1], b1 = st->bytes[1];
	size_t len;

	(void)state;
	len = build(in, &c4, &l4, 100, &o);
	run(0, fx.a0, in, len, 0, &r);
	run(1, fx.a0, in, len, 0, &r);
	o.dmac = MAC_B0;
	len = build(in, &u4, &s4, 10, &o);
	run(0, fx.b0, in, len, 0, &r);
	assert_int_equal(st->pkts[0] - p0, 2);
	assert_int_equal(st->bytes[0] - b0, 200);
	assert_int_equal(st->pkts[1] - p1, 1);
	assert_int_equal(st->bytes[1] - b1, 10);
	assert_true(st->last_seen_ns > 0);
}

/* An ICMP "fragmentation needed" (IPv4) or ICMPv6 "packet too big" from router to dst,
 * quoting qlen bytes of the IP packet at quote; returns the frame's length. The outer
 * checksums are left 0: the program does not read them. */
static size_t build_too_big(uint8_t *buf, const char *dmac, const struct ep *router,
			    const struct ep *dst, const uint8_t *quote, size_t qlen, uint8_t type,
			    uint8_t code)
{
	uint8_t *ip = buf + 14, *icmp;
	size_t iphl = router->v6 ? 40 : 20, len = 8 + qlen;
	uint16_t c;

	memset(buf, 0, 14 + iphl + len);
	mac_parse(dmac, buf);
	mac_parse(MAC_CLIENT, buf + 6);
	buf[12] = router->v6 ? 0x86 : 0x08;
	buf[13] = router->v6 ? 0xdd : 0x00;
	if (!router->v6) {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((iphl + len) >> 8), ip[3] = (uint8_t)(iphl + len);
		ip[8] = 64;
		ip[9] = 1; /* ICMP */
		memcpy(ip + 12, router->a, 4);
		memcpy(ip + 16, dst->a, 4);
		c = (uint16_t)~fold(sum16(0, ip, 20));
		ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	} else {
		ip[0] = 0x60;
		ip[4] = (uint8_t)(len >> 8), ip[5] = (uint8_t)len;
		ip[6] = 58; /* ICMPv6 */
		ip[7] = 255;
		memcpy(ip + 8, router->a, 16);
		memcpy(ip + 24, dst->a, 16);
	}
	icmp = ip + iphl;
	icmp[0] = type;
	icmp[1] = code;
	icmp[6] = 0x05, icmp[7] = 0x00; /* MTU 1280 */
	memcpy(icmp + 8, quote, qlen);
	return 14 + iphl + len;
}

/* An ICMP too-big about a datagram an offloaded session sent (its quote reversed is the other
 * direction's key) bumps that session's too_big for the direction it is about, so the worker
 * reads that path MTU at once; the frame itself passes unchanged (the kernel updates its route
 * exception), as no-session. Anything else (no such session, a quote cut short of the UDP
 * ports, another ICMP type: an echo too, one to a group or another host's MAC) bumps
 * nothing; one arriving on another interface than the one the quoted datagram left by (a
 * route back that is not the way out) counts. Both hooks, both families. */
static void test_too_big(void **state)
{
	static const struct {
		const char *name;
		int v6, up;  /* up: about a datagram to the upstream (else a reply to the client) */
		int nosess;  /* the quote names a client without a session */
		size_t trim; /* bytes cut off the quote's end: only 8 UDP bytes remain at 0 */
		uint8_t type, code;
		int bump;	  /* too_big of that direction rises */
		int other_side;	  /* it arrives on the interface the datagram did not leave by */
		const char *dmac; /* the frame's destination MAC, if not the interface's own */
	} cases[] = {
	    {"v4 about a reply", 0, 0, 0, 0, 3, 4, 1, 0, NULL},
	    {"v4 about a datagram to the upstream", 0, 1, 0, 0, 3, 4, 1, 0, NULL},
	    {"v6 about a reply", 1, 0, 0, 0, 2, 0, 1, 0, NULL},
	    {"v6 about a datagram to the upstream", 1, 1, 0, 0, 2, 0, 1, 0, NULL},
	    {"v4, no session", 0, 0, 1, 0, 3, 4, 0, 0, NULL},
	    {"v6, no session", 1, 0, 1, 0, 2, 0, 0, 0, NULL},
	    {"v4, quote cut in the UDP header", 0, 0, 0, 1, 3, 4, 0, 0, NULL},
	    {"v6, quote cut in the UDP header", 1, 0, 0, 1, 2, 0, 0, 0, NULL},
	    {"v4, port unreachable", 0, 0, 0, 0, 3, 3, 0, 0, NULL},
	    {"v6, destination unreachable", 1, 0, 0, 0, 1, 4, 0, 0, NULL},
	    {"v4, echo request", 0, 0, 0, 0, 8, 0, 0, 0, NULL},
	    {"v6, echo request", 1, 0, 0, 0, 128, 0, 0, 0, NULL},
	    /* (a route back that is not the way out: counted all the same) */
	    {"v4 about a reply, on the upstream's side", 0, 0, 0, 0, 3, 4, 1, 1, NULL},
	    {"v6 about a datagram to the upstream, on the client's side", 1, 1, 0, 0, 2, 0, 1, 1,
	     NULL},
	    {"v4 about a reply, to a broadcast MAC", 0, 0, 0, 0, 3, 4, 0, 0, "ff:ff:ff:ff:ff:ff"},
	    {"v6 about a reply, to a multicast MAC", 1, 0, 0, 0, 2, 0, 0, 0, "33:33:00:00:00:01"},
	    {"v4 about a reply, to another host's MAC", 0, 0, 0, 0, 3, 4, 0, 0, MAC_CLIENT},
	};
	static uint8_t in[512], dgram[512];
	static struct run r;
	struct frame_opts o = {0};
	size_t i, len, dlen, qlen;
	int tc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ep router = cases[i].v6 ? ep6("2001:2:0:1::fe", 0) : ep4("198.18.1.254", 0);
		struct ep other = cases[i].v6 ? c6 : c4;
		const struct ep *src, *dst, *to;
		const struct offload_flow_stats *st;
		int dir = cases[i].up ? OFFLOAD_DIR_UP : OFFLOAD_DIR_DOWN;
		uint32_t tb0, tb1;
		int on_b0;

		other.port = 1;
		if (!cases[i].v6) {
			src = cases[i].up ? &s4 : &l4;
			dst = cases[i].up ? &u4 : cases[i].nosess ? &other : &c4;
		} else {
			src = cases[i].up ? &s6 : &l6;
			dst = cases[i].up ? &u6 : cases[i].nosess ? &other : &c6;
		}
		to = src; /* the ICMP comes back to the datagram's source */
		st = filter_offload_flow(fx.f, cases[i].v6 ? 2 : 1);
		/* what the relay sent: its IP header and the first 8 bytes of the UDP datagram */
		dlen = build(dgram, src, dst, 1400, &o);
		qlen = (cases[i].v6 ? 40 : 20) + 8 - cases[i].trim;
		assert_true(dlen >= 14 + qlen);
		/* where the datagram left, so where its too-big comes back: the client's side
		 * for a reply */
		on_b0 = cases[i].up != cases[i].other_side;
		len = build_too_big(in, cases[i].dmac ? cases[i].dmac : on_b0 ? MAC_B0 : MAC_A0,
				    &router, to, dgram + 14, qlen, cases[i].type, cases[i].code);
		for (tc = 0; tc < 2; tc++) {
			tb0 = st->too_big[0];
			tb1 = st->too_big[1];
			run(tc, on_b0 ? fx.b0 : fx.a0, in, len, 0, &r);
			expect_passed_as(cases[i].name, tc, &r, OFFLOAD_CNT_PASS_NO_SESSION, in, len);
			if (st->too_big[dir] - (dir ? tb1 : tb0) != (uint32_t)cases[i].bump ||
			    st->too_big[!dir] != (dir ? tb0 : tb1))
				fail_msg("%s (%s): too_big %u, %u rose by %u, %u; want %d in [%d]",
					 cases[i].name, tc ? "tc" : "xdp", tb0, tb1,
					 st->too_big[0] - tb0, st->too_big[1] - tb1,
					 cases[i].bump, dir);
		}
	}
}

/* A datagram with a session's key that arrives on another interface than the one its rule
 * expects (the other direction's egress) passes up unchanged as pass_wrong_iface, counted for
 * its session and direction, in both hooks, both families, both directions: the stack judges it (strict rp_filter drops a
 * spoofed source there) and the socket path relays a legitimate one (a multipath route or
 * asymmetric routing that brings it in by another device). Here the upstream's datagram
 * (198.18.2.2:9000 -> 198.18.2.1:40000, routed via b0) arrives on a0, the client side, and
 * the client's on b0. Before, both were relayed: a spoofed reply reached the client. */
static void test_wrong_ingress(void **state)
{
	static uint8_t in[256];
	static struct run r;
	static const struct {
		const char *name;
		int v6, down;
	} cases[] = {
	    {"v4 upstream's datagram on the client's interface", 0, 1},
	    {"v4 client's datagram on the upstream's interface", 0, 0},
	    {"v6 upstream's datagram on the client's interface", 1, 1},
	    {"v6 client's datagram on the upstream's interface", 1, 0},
	};
	size_t i, len;
	int tc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ep *src, *dst;
		/* addressed to the wrong interface's own MAC: only the interface is wrong */
		struct frame_opts o = {.dmac = cases[i].down ? MAC_A0 : MAC_B0};
		const struct offload_flow_stats *st =
		    filter_offload_flow(fx.f, cases[i].v6 ? 2 : 1);
		int d = cases[i].down;
		uint32_t w0 = st->wrong_iface[d], other = st->wrong_iface[!d];
		uint32_t mtu0 = st->mtu_pass[d], fib0 = st->fib_pass[d];

		if (!cases[i].v6)
			src = cases[i].down ? &u4 : &c4, dst = cases[i].down ? &s4 : &l4;
		else
			src = cases[i].down ? &u6 : &c6, dst = cases[i].down ? &s6 : &l6;
		len = build(in, src, dst, 10, &o);
		for (tc = 0; tc < 2; tc++) {
			run(tc, cases[i].down ? fx.a0 : fx.b0, in, len, 0, &r);
			expect_passed_as(cases[i].name, tc, &r, OFFLOAD_CNT_PASS_WRONG_IFACE, in,
					 len);
		}
		/* counted for the session and direction too (once per hook): the worker derives
		 * its rules again, as after a route moved (docs/offload.md) */
		if (st->wrong_iface[d] - w0 != 2 || st->wrong_iface[!d] != other ||
		    st->mtu_pass[d] != mtu0 || st->fib_pass[d] != fib0)
			fail_msg("%s: wrong_iface[%d] rose by %u, [%d] by %u; want 2, 0 (and no "
				 "mtu_pass, fib_pass)",
				 cases[i].name, d, st->wrong_iface[d] - w0, !d,
				 st->wrong_iface[!d] - other);
	}
}

struct pass_case {
	const char *name;
	int tc_only, xdp_only;
	int counter;
	int tc_counter;	     /* -1: same as counter */
	uint32_t tc_verdict; /* what tc does when it differs from passing */
};

/* Every reason the fast path hands a frame to the stack, unchanged. */
static void test_pass_up(void **state)
{
	static uint8_t in[9000], ref[9000];
	static struct run r;
	struct ep nn4 = ep4("198.18.3.3", 9000), nr4 = ep4("198.18.77.7", 9000);
	struct ep mtu4 = ep4("198.18.4.2", 9000), nofwd4 = ep4("198.18.5.2", 9000);
	struct ep cx = ep4("198.18.1.1", 1111), cy = ep4("198.18.1.1", 1112);
	struct ep cz = ep4("198.18.1.1", 1113), cw = ep4("198.18.1.1", 1114);
	struct ep cv = ep4("198.18.1.1", 1115), cf6 = ep6("2001:2:0:1::1", 1116);
	struct ep cu = ep4("198.18.1.1", 1117), unknown = ep4("198.18.1.1", 2222);
	struct ep cp6 = ep6("2001:2:0:1::1", 1118), cq6 = ep6("2001:2:0:1::1", 1119);
	struct ep cpm = ep4("198.18.1.1", 1122), cpm6 = ep6("2001:2:0:1::1", 1123);
	struct ep cg6 = ep6("2001:2:0:1::1", 1124);
	struct {
		const char *name;
		const struct ep *src, *dst;
		size_t payload;
		struct frame_opts o;
		uint32_t gso;
		int xdp_counter, tc_counter; /* -1: flavour not run */
		uint32_t tc_verdict;
	} cases[] = {
	    {"no session",
	     &unknown,
	     &l4,
	     18,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_NO_SESSION,
	     OFFLOAD_CNT_PASS_NO_SESSION,
	     TC_PASS},
	    {"v4 first fragment",
	     &c4,
	     &l4,
	     18,
	     {.frag = 1},
	     0,
	     OFFLOAD_CNT_PASS_FRAGMENT,
	     OFFLOAD_CNT_PASS_FRAGMENT,
	     TC_PASS},
	    {"v6 fragment header",
	     &c6,
	     &l6,
	     18,
	     {.frag = 1},
	     0,
	     OFFLOAD_CNT_PASS_FRAGMENT,
	     OFFLOAD_CNT_PASS_FRAGMENT,
	     TC_PASS},
	    {"v4 options",
	     &c4,
	     &l4,
	     18,
	     {.ip_options = 1},
	     0,
	     OFFLOAD_CNT_PASS_IP_OPTIONS,
	     OFFLOAD_CNT_PASS_IP_OPTIONS,
	     TC_PASS},
	    {"v6 hop-by-hop",
	     &c6,
	     &l6,
	     18,
	     {.hop_by_hop = 1},
	     0,
	     OFFLOAD_CNT_PASS_EXT_HEADERS,
	     OFFLOAD_CNT_PASS_EXT_HEADERS,
	     TC_PASS},
	    {"vlan",
	     &c4,
	     &l4,
	     18,
	     {.vlan = 1},
	     0,
	     OFFLOAD_CNT_PASS_VLAN,
	     OFFLOAD_CNT_PASS_VLAN,
	     TC_PASS},
	    {"egress MTU",
	     &cx,
	     &l4,
	     1200,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_MTU,
	     OFFLOAD_CNT_PASS_MTU,
	     TC_PASS},
	    /* before, relayed with DF / unfragmented past the path MTU, and lost */
	    {"over the path MTU",
	     &cpm,
	     &l4,
	     973, /* 1001 bytes of IP */
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_MTU,
	     OFFLOAD_CNT_PASS_MTU,
	     TC_PASS},
	    {"v6 over the path MTU",
	     &cpm6,
	     &l6,
	     1233, /* 1281 bytes of IP */
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_MTU,
	     OFFLOAD_CNT_PASS_MTU,
	     TC_PASS},
	    {"over the relay's buffer",
	     &cy,
	     &l4,
	     200,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_OVERSIZE,
	     OFFLOAD_CNT_PASS_OVERSIZE,
	     TC_PASS},
	    /* tc hands an unresolved neighbour to bpf_redirect_neigh */
	    {"no neighbour",
	     &cz,
	     &l4,
	     18,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_NO_NEIGH,
	     OFFLOAD_CNT_FORWARDED,
	     TC_ACT_REDIRECT},
	    {"no route",
	     &cw,
	     &l4,
	     18,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_FIB,
	     OFFLOAD_CNT_PASS_FIB,
	     TC_PASS},
	    {"family change",
	     &cf6,
	     &l6,
	     18,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_FAMILY,
	     OFFLOAD_CNT_PASS_FAMILY,
	     TC_PASS},
	    /* A test run's skb has no GSO type: as for UFO, the super-packet goes up (UDP GSO
	     * forwarding is covered by tests/net/test_offload.sh). */
	    {"gso super-packet, not UDP_L4", &c4, &l4, 18, {0}, 1400, -1, OFFLOAD_CNT_PASS_GSO,
	     TC_PASS},
	    /* ip_rcv drops it (InHdrErrors); relayed, the rewrite's fresh checksum would hide
	     * the corruption */
	    {"v4 header checksum bad",
	     &c4,
	     &l4,
	     18,
	     {.ip_csum_bad = 1},
	     0,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     TC_PASS},
	    {"udp length beyond the packet",
	     &c4,
	     &l4,
	     18,
	     {.csum = CSUM_BAD_LENGTH},
	     0,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     TC_PASS},
	    /* bytes the socket path never sends (the stack trims them): before, relayed with
	     * the datagram */
	    {"v4 ethernet trailer",
	     &c4,
	     &l4,
	     18,
	     {.trailer = 4},
	     0,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     TC_PASS},
	    {"v6 ethernet trailer",
	     &c6,
	     &l6,
	     18,
	     {.trailer = 8},
	     0,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     TC_PASS},
	    {"padding past a minimum-size frame",
	     &c4,
	     &l4,
	     4,
	     {.trailer = 15},
	     0,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     TC_PASS},
	    {"udp length short of the ip payload",
	     &c4,
	     &l4,
	     18,
	     {.udp_short = 4},
	     0,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     TC_PASS},
	    /* the IP length fits the egress MTU (1000), the frame does not: before, XDP
	     * redirected it into the devmap's length check (-EMSGSIZE, which marked the
	     * egress down) */
	    {"trailer past the egress MTU",
	     &cx,
	     &l4,
	     900,
	     {.trailer = 300},
	     0,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     OFFLOAD_CNT_PASS_MALFORMED,
	     TC_PASS},
	    /* tc routes with bpf_redirect_neigh instead, and checks the MTU itself */
	    {"forwarding off on the egress",
	     &cv,
	     &l4,
	     18,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_FWD_DISABLED,
	     OFFLOAD_CNT_FORWARDED,
	     TC_ACT_REDIRECT},
	    /* IPv6's output lookups match no source rule: tc routes with bpf_redirect_neigh,
	     * XDP passes up */
	    {"v6 route from a policy rule's table",
	     &cp6,
	     &l6,
	     18,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_FIB,
	     OFFLOAD_CNT_FORWARDED,
	     TC_ACT_REDIRECT},
	    /* its device deleted since its rule was written: tc's bpf_check_mtu finds no device
	     * (-ENODEV), a route question (review-reroute L4: before, pass_mtu) */
	    {"v6 policy route, its device gone",
	     &cg6,
	     &l6,
	     18,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_FIB,
	     OFFLOAD_CNT_PASS_FIB,
	     TC_PASS},
	    /* the FIB answers b0 for an IPv6 lookup given a0: not the session's device */
	    {"v6 route on another device",
	     &cq6,
	     &l6,
	     18,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_FIB,
	     OFFLOAD_CNT_PASS_FIB,
	     TC_PASS},
	    /* ip_rcv takes a unicast datagram to a group MAC (the socket path relays it), but
	     * tc's bpf_redirect_neigh frees it unseen: both hooks leave it to the stack */
	    {"broadcast MAC",
	     &c4,
	     &l4,
	     18,
	     {.dmac = "ff:ff:ff:ff:ff:ff"},
	     0,
	     OFFLOAD_CNT_PASS_NOT_HOST,
	     OFFLOAD_CNT_PASS_NOT_HOST,
	     TC_PASS},
	    {"multicast MAC",
	     &c6,
	     &l6,
	     18,
	     {.dmac = "33:33:00:00:00:01"},
	     0,
	     OFFLOAD_CNT_PASS_NOT_HOST,
	     OFFLOAD_CNT_PASS_NOT_HOST,
	     TC_PASS},
	    /* a promiscuous device's frame for another host: the test run's eth_type_trans
	     * makes it PACKET_OTHERHOST, which ip_rcv drops; XDP compares it with a0's address
	     * in rr_ifaces (before, XDP relayed it) */
	    {"another host's MAC",
	     &c4,
	     &l4,
	     18,
	     {.dmac = "02:00:00:00:09:09"},
	     0,
	     OFFLOAD_CNT_PASS_NOT_HOST,
	     OFFLOAD_CNT_PASS_NOT_HOST,
	     TC_PASS},
	    /* the program compares bytes 0-3 and 4-5 apart: the one above differs in the
	     * second part, this one in the first only */
	    {"another host's MAC, a0's but byte 3",
	     &c4,
	     &l4,
	     18,
	     {.dmac = "02:00:00:01:00:a0"},
	     0,
	     OFFLOAD_CNT_PASS_NOT_HOST,
	     OFFLOAD_CNT_PASS_NOT_HOST,
	     TC_PASS},
	    {"egress cannot take XDP_REDIRECT",
	     &cu,
	     &l4,
	     18,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_NO_TX,
	     -1,
	     0},
	    {"headers beyond the linear part",
	     &c4,
	     &l4,
	     5000,
	     {0},
	     0,
	     OFFLOAD_CNT_PASS_NONLINEAR,
	     -1,
	     0},
	};
	/* the sessions of "egress MTU", "over the path MTU" and "v6 over the path MTU" */
	static const uint32_t mtu_flows[3] = { 3, 14, 15 };
	uint32_t mtu_pass0[3], fib0, fib_mtu0, gone_mtu0, gone_fib0;
	size_t i, len;
	int tc;

	(void)state;
	add_session(&cx, &l4, &s4, &mtu4, fx.c0, fx.a0, 64, 3, 1500, OFFLOAD_DIR_UP);
	add_session(&cy, &l4, &s4, &u4, fx.b0, fx.a0, 64, 4, 100, OFFLOAD_DIR_UP);
	add_session(&cz, &l4, &s4, &nn4, fx.b0, fx.a0, 64, 5, 1500, OFFLOAD_DIR_UP);
	add_session(&cw, &l4, &s4, &nr4, fx.b0, fx.a0, 64, 6, 1500, OFFLOAD_DIR_UP);
	add_session(&cf6, &l6, &s4, &u4, fx.b0, fx.a0, 64, 7, 1500, OFFLOAD_DIR_UP);
	add_session(&cv, &l4, &s4, &nofwd4, fx.d0, fx.a0, 64, 8, 1500, OFFLOAD_DIR_UP);
	/* b0 stops being a redirect target for the "cannot take XDP_REDIRECT" case. */
	add_session(&cu, &l4, &s4, &u4, fx.b0, fx.a0, 64, 9, 1500, OFFLOAD_DIR_UP);
	add_session(&cp6, &l6, &s6, &u6, fx.b0, fx.a0, 64, 10, 1500, OFFLOAD_DIR_UP);
	set_rule(&cp6, &l6, 1, 0);
	/* the socket's path MTU (a PMTU exception, a route metric) below the device's */
	add_session(&cpm, &l4, &s4, &u4, fx.b0, fx.a0, 64, 14, 1500, OFFLOAD_DIR_UP);
	set_rule(&cpm, &l4, 0, 1000);
	add_session(&cpm6, &l6, &s6, &u6, fx.b0, fx.a0, 64, 15, 1500, OFFLOAD_DIR_UP);
	set_rule(&cpm6, &l6, 0, 1280);
	add_session(&cq6, &l6, &s6, &u6, fx.a0, fx.a0, 64, 11, 1500, OFFLOAD_DIR_UP);
	/* (an ifindex no device has) */
	add_session(&cg6, &l6, &s6, &u6, 0x7ffffff0, fx.a0, 64, 17, 1500, OFFLOAD_DIR_UP);
	set_rule(&cg6, &l6, 1, 0);
	gone_mtu0 = filter_offload_flow(fx.f, 17)->mtu_pass[0];
	gone_fib0 = filter_offload_flow(fx.f, 17)->fib_pass[0];
	/* each pass_mtu counts for its session too: the worker reads its path MTU again */
	for (i = 0; i < 3; i++)
		mtu_pass0[i] = filter_offload_flow(fx.f, mtu_flows[i])->mtu_pass[0];
	/* ... and each pass_fib ("no route", flow 6): the worker derives its rules again */
	fib0 = filter_offload_flow(fx.f, 6)->fib_pass[0];
	fib_mtu0 = filter_offload_flow(fx.f, 3)->fib_pass[0];
	/* The 5,000-byte frame's session allows its payload: only the frame's shape passes it. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int is_notx = cases[i].xdp_counter == OFFLOAD_CNT_PASS_NO_TX;
		uint32_t bk = (uint32_t)fx.b0;

		if (cases[i].payload == 5000)
			add_session(&c4, &l4, &s4, &u4, fx.b0, fx.a0, 64, 1, 9000, OFFLOAD_DIR_UP);
		len = build(in, cases[i].src, cases[i].dst, cases[i].payload, &cases[i].o);
		memcpy(ref, in, len);
		if (is_notx)
			bpf_map_delete_elem(filter_map_fd(fx.f, "offload_tx"), &bk);
		for (tc = 0; tc < 2; tc++) {
			int want = tc ? cases[i].tc_counter : cases[i].xdp_counter;
			uint32_t verdict = tc ? cases[i].tc_verdict : XDP_PASS;

			if (want < 0)
				continue;
			run(tc, fx.a0, in, len, tc ? cases[i].gso : 0, &r);
			if (r.counter != want)
				fail_msg("%s (%s): counter %s, want %s", cases[i].name,
					 tc ? "tc" : "xdp",
					 r.counter < 0 ? "none"
						       : filter_offload_counter_name(r.counter),
					 filter_offload_counter_name(want));
			if (r.retval != verdict)
				fail_msg("%s (%s): verdict %u, want %u", cases[i].name,
					 tc ? "tc" : "xdp", r.retval, verdict);
			if (verdict == (tc ? TC_PASS : XDP_PASS) &&
			    (r.out_len != len || memcmp(r.out, ref, len)))
				fail_msg("%s (%s): a passed frame was changed", cases[i].name,
					 tc ? "tc" : "xdp");
		}
		if (is_notx)
			set_tx(fx.b0);
		if (cases[i].payload == 5000)
			add_session(&c4, &l4, &s4, &u4, fx.b0, fx.a0, 64, 1, 1500, OFFLOAD_DIR_UP);
	}
	/* a datagram of exactly the path MTU still takes the fast path */
	len = build(in, &cpm, &l4, 972, &(struct frame_opts){0});
	for (tc = 0; tc < 2; tc++) {
		run(tc, fx.a0, in, len, 0, &r);
		if (r.counter != OFFLOAD_CNT_FORWARDED)
			fail_msg("path MTU, exactly (%s): not forwarded", tc ? "tc" : "xdp");
	}
	/* once in XDP, once in tc; the replies' count stays */
	for (i = 0; i < 3; i++) {
		const struct offload_flow_stats *st = filter_offload_flow(fx.f, mtu_flows[i]);

		if (st->mtu_pass[0] - mtu_pass0[i] != 2 || st->mtu_pass[1])
			fail_msg("flow %u: mtu_pass %u, %u; want 2 more, 0", mtu_flows[i],
				 st->mtu_pass[0] - mtu_pass0[i], st->mtu_pass[1]);
	}
	{
		const struct offload_flow_stats *st = filter_offload_flow(fx.f, 6);

		if (st->fib_pass[0] - fib0 != 2 || st->fib_pass[1] || st->wrong_iface[0] ||
		    st->wrong_iface[1])
			fail_msg("no route: fib_pass %u, %u, wrong_iface %u, %u; want 2 more, 0, 0, 0",
				 st->fib_pass[0] - fib0, st->fib_pass[1], st->wrong_iface[0],
				 st->wrong_iface[1]);
		if (filter_offload_flow(fx.f, 3)->fib_pass[0] != fib_mtu0)
			fail_msg("egress MTU: its pass_mtu counted as pass_fib too");
	}
	{
		/* its routes are derived again, no path MTU read (once in XDP, once in tc) */
		const struct offload_flow_stats *st = filter_offload_flow(fx.f, 17);

		if (st->fib_pass[0] - gone_fib0 != 2 || st->mtu_pass[0] != gone_mtu0)
			fail_msg("device gone: fib_pass %u, mtu_pass %u more; want 2, 0",
				 st->fib_pass[0] - gone_fib0, st->mtu_pass[0] - gone_mtu0);
	}
}

/* A session's removal takes only an entry that is still its own: one another session
 * installed under the same key since (its flow) stays. */
static void test_del_own(void **state)
{
	int fd = filter_map_fd(fx.f, "offload_sessions");
	struct ep c = ep4("198.18.1.1", 1120);
	struct offload_key k;
	struct offload_rule r;

	(void)state;
	memset(&k, 0, sizeof(k));
	mapped(&c, k.saddr);
	mapped(&l4, k.daddr);
	k.sport = htons(c.port);
	k.dport = htons(l4.port);
	add_session(&c, &l4, &s4, &u4, fx.b0, fx.a0, 64, 12, 1500, OFFLOAD_DIR_UP);
	assert_int_equal(filter_offload_del(fx.f, &k, 13), 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &r), 0);
	assert_int_equal(r.flow, 12);
	assert_int_equal(filter_offload_del(fx.f, &k, 12), 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &r), -ENOENT);
	assert_int_equal(filter_offload_del(fx.f, &k, 12), 0);
}

/* An interface without the fast path's flag passes everything untouched and counts nothing
 * there; the filter stage alone runs where no entry says otherwise. */
static void test_stage_flags(void **state)
{
	static uint8_t in[256];
	static struct run r;
	struct frame_opts o = {0};
	size_t len = build(in, &c4, &l4, 18, &o);

	(void)state;
	set_iface(fx.a0, RR_IFACE_OFFLOAD_TC);
	run(0, fx.a0, in, len, 0, &r);
	assert_int_equal(r.retval, XDP_PASS);
	assert_int_equal(r.counter, -1);
	run(1, fx.a0, in, len, 0, &r);
	assert_int_equal(r.retval, TC_ACT_REDIRECT);
	set_iface(fx.a0, RR_IFACE_OFFLOAD_XDP | RR_IFACE_OFFLOAD_TC);
}

/* Two relays' fast paths on one interface, one in XDP that made it a redirect target, one in
 * tc (a filter in tc moved it there): the tc attach leaves the other's redirect-target entry,
 * whose loss sent that relay's datagrams up the stack; the detach removes it. */
static void test_attach_beside(void **state)
{
	int fd = filter_map_fd(fx.f, "offload_tx");
	uint32_t k = (uint32_t)fx.c0, v;
	char err[256];

	(void)state;
	assert_int_equal(filter_offload_attach(fx.f, fx.c0, true, true, err, sizeof(err)), 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	assert_int_equal(filter_offload_attach(fx.f, fx.c0, false, false, err, sizeof(err)), 0);
	if (bpf_map_lookup_elem(fd, &k, &v))
		fail_msg("the tc attach removed the XDP attach's redirect target");
	filter_offload_detach(fx.f, fx.c0, true, true);
	assert_int_not_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	set_tx(fx.c0);
}

/* How the fast path runs on an interface, as a worker reads it for a new session: the hooks
 * of its interface map entry, and whether XDP may redirect to it (offload_tx). An interface
 * that only a tc fast path runs on is no redirect target. */
static void test_offload_hooks(void **state)
{
	int ifs = filter_map_fd(fx.f, "rr_ifaces"), tx = filter_map_fd(fx.f, "offload_tx");
	uint32_t k = (uint32_t)fx.d0;

	(void)state;
	assert_int_equal(filter_offload_hooks(fx.f, fx.d0), FILTER_HOOK_TARGET);
	assert_int_equal(filter_offload_hooks(fx.f, fx.a0),
			 FILTER_HOOK_XDP | FILTER_HOOK_TC | FILTER_HOOK_TARGET);
	set_iface(fx.d0, RR_IFACE_OFFLOAD_TC);
	assert_int_equal(bpf_map_delete_elem(tx, &k), 0);
	assert_int_equal(filter_offload_hooks(fx.f, fx.d0), FILTER_HOOK_TC);
	set_iface(fx.d0, RR_IFACE_OFFLOAD_XDP);
	assert_int_equal(filter_offload_hooks(fx.f, fx.d0), FILTER_HOOK_XDP);
	assert_int_equal(bpf_map_delete_elem(ifs, &k), 0);
	assert_int_equal(filter_offload_hooks(fx.f, fx.d0), 0);
	set_tx(fx.d0);
}

/* The devices below an interface, as the control plane reads them for RR_IFACE_JUDGED_BELOW
 * (netlink_lower_ifindexes, one level): a macvlan's link (a VLAN's the same way: IFLA_LINK;
 * not every test kernel has 8021q), a bridge's ports, none for a veth (its
 * IFLA_LINK is its peer, no device below it). An interface of ours without the filter on
 * every device below has no JUDGED_BELOW in its entry (no filter stage runs on e0 here). */
static void test_lower_devices(void **state)
{
	int low[8], e0, e1, vl, br, fd = filter_map_fd(fx.f, "rr_ifaces");
	struct rr_iface v;
	uint32_t k;
	char err[256];

	(void)state;
	if (sh("ip link add e0 type veth peer name e1 && ip link set e0 up && ip link set e1 up") ||
	    sh("ip link add link e0 name e0.7 type macvlan") ||
	    sh("ip link add rrbr type bridge && ip link set e1 master rrbr"))
		fail_msg("macvlan and bridge in the private namespace");
	e0 = (int)if_nametoindex("e0"), e1 = (int)if_nametoindex("e1");
	vl = (int)if_nametoindex("e0.7"), br = (int)if_nametoindex("rrbr");
	assert_int_equal(netlink_lower_ifindexes(vl, low, 8), 1);
	assert_int_equal(low[0], e0);
	assert_int_equal(netlink_lower_ifindexes(br, low, 8), 1);
	assert_int_equal(low[0], e1);
	assert_int_equal(netlink_lower_ifindexes(e0, low, 8), 0);
	assert_int_equal(netlink_lower_ifindexes(vl, low, 0), -ENOSPC);
	assert_int_equal(filter_offload_attach(fx.f, vl, false, false, err, sizeof(err)), 0);
	k = (uint32_t)vl;
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	assert_int_equal(v.flags, RR_IFACE_OFFLOAD_TC);
	assert_int_equal(filter_iface_judges(fx.f, vl), 0);
	assert_int_equal(filter_below_sync(fx.f), 0);
	filter_offload_detach(fx.f, vl, false, true);
	sh("ip link del rrbr; ip link del e0");
}

/* The device's address changes under the fast path in XDP (ip link set dev c0 address ...):
 * filter_link_mac, which the daemon calls at the link event, writes the new one to c0's
 * rr_ifaces entry; from then on a frame to the new address is relayed and one to the old
 * passes up (pass_not_host), as eth_type_trans now makes it PACKET_OTHERHOST. Before, the
 * entry held no address and XDP relayed both. */
static void test_mac_change(void **state)
{
	static const char *const mac_new = "02:00:00:00:0c:0c";
	static uint8_t in[256];
	static struct run r;
	struct frame_opts o = {.dmac = MAC_C0};
	struct ep cc = ep4("198.18.1.1", 1124); /* a client whose datagrams arrive on c0 */
	char err[256];
	size_t len;

	(void)state;
	assert_int_equal(filter_offload_attach(fx.f, fx.c0, true, true, err, sizeof(err)), 0);
	add_session(&cc, &l4, &s4, &u4, fx.b0, fx.c0, 64, 16, 1500, OFFLOAD_DIR_UP);
	len = build(in, &cc, &l4, 18, &o);
	run(0, fx.c0, in, len, 0, &r);
	if (r.counter != OFFLOAD_CNT_FORWARDED)
		fail_msg("to c0's address at attach: not forwarded");
	assert_int_equal(filter_link_mac(fx.f, fx.c0), 0); /* unchanged */
	assert_int_equal(sh("ip link set dev c0 address %s", mac_new), 0);
	assert_int_equal(filter_link_mac(fx.f, fx.c0), 1);
	assert_int_equal(filter_link_mac(fx.f, fx.c0), 0);
	len = build(in, &cc, &l4, 18, &o);
	run(0, fx.c0, in, len, 0, &r);
	if (r.counter != OFFLOAD_CNT_PASS_NOT_HOST)
		fail_msg("to c0's old address: counter %s, want pass_not_host",
			 r.counter < 0 ? "none" : filter_offload_counter_name(r.counter));
	o.dmac = mac_new;
	len = build(in, &cc, &l4, 18, &o);
	run(0, fx.c0, in, len, 0, &r);
	if (r.counter != OFFLOAD_CNT_FORWARDED)
		fail_msg("to c0's new address: counter %s, want forwarded",
			 r.counter < 0 ? "none" : filter_offload_counter_name(r.counter));
	assert_int_equal(filter_link_mac(fx.f, 1000000), 0); /* none of ours */
}

/* c0 as before test_mac_change, also when it failed half-way. */
static int mac_change_undo(void **state)
{
	(void)state;
	filter_offload_detach(fx.f, fx.c0, true, true);
	set_tx(fx.c0);
	/* (a new address flushes the device's neighbours, permanent ones too) */
	return sh("ip link set dev c0 address " MAC_C0 " && ip neigh replace 198.18.4.2 lladdr " MAC_MTU
		  " dev c0 nud permanent");
}

/* Whether map name of fx.f is empty. */
static bool map_empty(const char *name)
{
	uint32_t k;

	return bpf_map_get_next_key(filter_map_fd(fx.f, name), NULL, &k) == -ENOENT;
}

/* Entries keyed by a redirect target's ifindex (its down mark, its transmit counts) go with
 * the device: at its link event (filter_link_gone), and at the recheck of down targets when
 * the device no longer exists. Before, both stayed: after RR_IFACES_MAX targets that refused
 * frames and went, no new one could be marked down, and a device that got one of those
 * ifindexes inherited the mark and the counts. */
static void test_gone_targets(void **state)
{
	int down = filter_map_fd(fx.f, "offload_tx_down"), xmit = filter_map_fd(fx.f, "offload_xmit");
	struct offload_xmit_val xv = { .drops = 3, .sent = 5 };
	uint32_t k, one = 1, gone = 1000000; /* ifindexes no device here has */

	(void)state;
	for (k = gone; k < gone + RR_IFACES_MAX; k++) {
		assert_int_equal(bpf_map_update_elem(down, &k, &one, BPF_ANY), 0);
		assert_int_equal(bpf_map_update_elem(xmit, &k, &xv, BPF_ANY), 0);
	}
	assert_int_equal(bpf_map_update_elem(down, &k, &one, BPF_ANY), -E2BIG); /* full */
	offload_recheck(fx.f);
	if (!map_empty("offload_tx_down") || !map_empty("offload_xmit"))
		fail_msg("the recheck kept the entries of redirect targets that are gone");
	assert_int_equal(bpf_map_update_elem(down, &k, &one, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(xmit, &k, &xv, BPF_ANY), 0);
	filter_link_gone(fx.f, (int)k);
	if (!map_empty("offload_tx_down") || !map_empty("offload_xmit"))
		fail_msg("a link gone kept its down mark or transmit counts");
}

/* The name filter_offload_ifaces shows ifindex by in f, or "" when it shows none. */
static const char *offload_name(const struct filter *f, int ifindex)
{
	static struct filter_offload_iface fo[RR_IFACES_MAX];
	int n = filter_offload_ifaces(f, fo, RR_IFACES_MAX), i;

	for (i = 0; i < n; i++)
		if (fo[i].ifindex == ifindex)
			return fo[i].name;
	return "";
}

/* What a test of renamed links made (a filter of its own, its config, veths in the private
 * namespace), undone by relink_undo also when the test failed half-way: the links it left
 * would make the next test's ip link add fail, and the filter's hooks stay on them. */
static struct {
	struct config *cfg;
	struct filter *f;
} rl;

static int relink_undo(void **state)
{
	(void)state;
	filter_free(rl.f);
	config_free(rl.cfg);
	rl.f = NULL;
	rl.cfg = NULL;
	/* (a veth's peer goes with it) */
	return sh("for l in rn0 rn9 rq0 rq9 rp0 rs0 rt0 rt9 e0 rrbr; do "
		  "ip link del $l 2>/dev/null; done; true");
}

/* Veths links[i] <-> links[i + 1] for each pair (up, both ends), and text's filter in rl. */
static struct filter *relink_setup(const char *text, const char *const *links, size_t n)
{
	char err[CONFIG_ERR_LEN];
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		assert_int_equal(sh("ip link add %s type veth peer name %s && ip link set %s up && "
				    "ip link set %s up",
				    links[i], links[i + 1], links[i], links[i + 1]),
				 0);
	if (config_load_string(text, "t.conf", &rl.cfg, err, sizeof(err)))
		fail_msg("config: %s", err);
	if (filter_new(rl.cfg, &rl.f, err, sizeof(err)))
		fail_msg("filter_new on %s: %s", n ? links[0] : "-", err);
	return rl.f;
}

/* Renames link from to (down first: Linux before 6.2 renames no link that is up). */
static void rename_link(const char *from, const char *to)
{
	assert_int_equal(sh("ip link set %s down && ip link set %s name %s && ip link set %s up",
			    from, from, to, to),
			 0);
}

/* A filtered interface with the fast path in tc that is renamed (rn0 -> rn9, still there),
 * and a new link named rn0: the filter moves to it, and the transmit counts the old device
 * had under "rn0" stay in rn0's series, which goes on from them. Meanwhile the renamed device's
 * counts are shown as "rn0" (the filter stays on it under its configured name); once the fast
 * path runs on it again it is shown as "rn9", from 0. Before, the move left the old entry in
 * the map: "rn0" dropped to the new link's count (a counter reset), and "rn9" started at
 * rn0's old one. */
static void test_relink_renamed_xmit(void **state)
{
	static const char text[] =
	    "relays = ( { name = \"r\"; listen = [ \"198.18.1.2:5000\" ];"
	    " upstreams = [ \"198.18.2.2:9000\" ]; } );\n"
	    "filter = { mode = \"tc\"; interfaces = [ \"rn0\" ]; };\n";
	struct offload_xmit_val xv = { .drops = 3, .sent = 5 }, got;
	struct filter *f;
	uint64_t drops, sent;
	char err[CONFIG_ERR_LEN];
	uint32_t old, now;
	int xmit;

	(void)state;
	f = relink_setup(text, (const char *const[]){ "rn0", "rn1" }, 2);
	old = if_nametoindex("rn0");
	if (filter_offload_attach(f, (int)old, false, false, err, sizeof(err)))
		fail_msg("offload on rn0: %s", err);
	xmit = filter_map_fd(f, "offload_xmit");
	assert_int_equal(bpf_map_update_elem(xmit, &old, &xv, BPF_ANY), 0);
	rename_link("rn0", "rn9");
	assert_int_equal(filter_relink(f, "rn9", (int)old, err, sizeof(err)), 0);
	assert_string_equal(offload_name(f, (int)old), "rn0");
	assert_int_equal(filter_offload_xmit(f, (int)old, &drops, &sent), 0);
	assert_int_equal(drops, 3);
	assert_int_equal(sent, 5);
	assert_int_equal(sh("ip link add rn0 type veth peer name rn2 && ip link set rn0 up"), 0);
	now = if_nametoindex("rn0");
	assert_int_not_equal(now, old);
	if (filter_relink(f, "rn0", (int)now, err, sizeof(err)) != 1)
		fail_msg("the filter did not move to the new rn0: %s", err);
	assert_int_equal(filter_offload_xmit(f, (int)now, &drops, &sent), 0);
	if (drops != 3 || sent != 5)
		fail_msg("rn0's xmit series went from 3/5 to %llu/%llu when the filter moved",
			 (unsigned long long)drops, (unsigned long long)sent);
	xv = (struct offload_xmit_val){ .drops = 1, .sent = 2 };
	assert_int_equal(bpf_map_update_elem(xmit, &now, &xv, BPF_ANY), 0);
	assert_int_equal(filter_offload_xmit(f, (int)now, &drops, &sent), 0);
	assert_int_equal(drops, 4);
	assert_int_equal(sent, 7);
	assert_int_equal(bpf_map_lookup_elem(xmit, &old, &got), -ENOENT);
	/* the offload update takes the renamed device again, by its own name */
	if (filter_offload_attach(f, (int)old, false, false, err, sizeof(err)))
		fail_msg("offload on rn9: %s", err);
	assert_string_equal(offload_name(f, (int)old), "rn9");
	assert_int_equal(filter_offload_xmit(f, (int)old, &drops, &sent), 0);
	if (drops || sent)
		fail_msg("rn9 started at %llu/%llu, rn0's old counts",
			 (unsigned long long)drops, (unsigned long long)sent);
}

/* The drops and sent filter_xmit_counts gives name in f (0/0 when it has none), and their
 * totals over every name into *all_drops and *all_sent. */
static void xmit_by_name(struct filter *f, const char *name, uint64_t *drops, uint64_t *sent,
			 uint64_t *all_drops, uint64_t *all_sent)
{
	static struct bpfbase_xmit t[BPFBASE_XMIT_ROWS];
	const struct bpfbase_xmit *x;
	int i;

	memset(t, 0, sizeof(t));
	filter_xmit_counts(f, t, BPFBASE_XMIT_ROWS);
	x = bpfbase_xmit_of(t, BPFBASE_XMIT_ROWS, name, false);
	*drops = x ? x->drops : 0;
	*sent = x ? x->sent : 0;
	*all_drops = *all_sent = 0;
	for (i = 0; i < BPFBASE_XMIT_ROWS; i++) {
		*all_drops += t[i].drops;
		*all_sent += t[i].sent;
	}
}

/* How many entries filter_offload_ifaces shows for ifindex in f. */
static int offload_rows(const struct filter *f, int ifindex)
{
	static struct filter_offload_iface fo[RR_IFACES_MAX];
	int n = filter_offload_ifaces(f, fo, RR_IFACES_MAX), i, rows = 0;

	for (i = 0; i < n; i++)
		rows += fo[i].ifindex == ifindex;
	return rows;
}

static const char relay_only[] = "relays = ( { name = \"r\"; listen = [ \"198.18.1.2:5000\" ];"
				 " upstreams = [ \"198.18.2.2:9000\" ]; } );\n";

/* A link the fast path attached to on its own (none of the filter's) that is renamed (rq0 ->
 * rq9) is shown by its new name, from 0, and what it counted as rq0 stays with rq0: each
 * count once, under the name the link had. Before, the entry kept "rq0" for good (the
 * status table, the xmit series' label). */
static void test_own_renamed(void **state)
{
	struct offload_xmit_val xv = { .drops = 3, .sent = 5 };
	uint64_t drops, sent, all_drops, all_sent;
	struct filter *f;
	char err[CONFIG_ERR_LEN];
	uint32_t idx;
	int xmit;

	(void)state;
	f = relink_setup(relay_only, (const char *const[]){ "rq0", "rq1" }, 2);
	idx = if_nametoindex("rq0");
	if (filter_offload_attach(f, (int)idx, false, false, err, sizeof(err)))
		fail_msg("offload on rq0: %s", err);
	assert_string_equal(offload_name(f, (int)idx), "rq0");
	xmit = filter_map_fd(f, "offload_xmit");
	assert_int_equal(bpf_map_update_elem(xmit, &idx, &xv, BPF_ANY), 0);
	rename_link("rq0", "rq9");
	assert_int_equal(filter_relink(f, "rq9", (int)idx, err, sizeof(err)), 0);
	if (strcmp(offload_name(f, (int)idx), "rq9"))
		fail_msg("the fast path shows the link renamed rq9 as '%s'",
			 offload_name(f, (int)idx));
	assert_int_equal(filter_offload_xmit(f, (int)idx, &drops, &sent), 0);
	if (drops || sent)
		fail_msg("rq9 started at %llu/%llu, rq0's counts", (unsigned long long)drops,
			 (unsigned long long)sent);
	xv = (struct offload_xmit_val){ .drops = 1, .sent = 2 };
	assert_int_equal(bpf_map_update_elem(xmit, &idx, &xv, BPF_ANY), 0);
	xmit_by_name(f, "rq0", &drops, &sent, &all_drops, &all_sent);
	assert_int_equal(drops, 3);
	assert_int_equal(sent, 5);
	xmit_by_name(f, "rq9", &drops, &sent, &all_drops, &all_sent);
	assert_int_equal(drops, 1);
	assert_int_equal(sent, 2);
	assert_int_equal(all_drops, 4);
	assert_int_equal(all_sent, 7);
}

/* The fast path in XDP on rq0, which counted 3/5 as a redirect target, leaves it (a reload
 * turned offload off there) while the program stays for other stages: what rq0 counted is in
 * what an unload keeps under its name, and its series shows it meanwhile. Before, the entry
 * went and its offload_xmit element stayed unread: the counts were lost at the unload and
 * rq0's series went down (review-filter37 1). */
static void test_detached_xmit_kept(void **state)
{
	struct offload_xmit_val xv = { .drops = 3, .sent = 5 };
	uint64_t drops, sent, all_drops, all_sent;
	struct filter *f;
	char err[CONFIG_ERR_LEN];
	uint32_t idx;

	(void)state;
	f = relink_setup(relay_only, (const char *const[]){ "rq0", "rq1" }, 2);
	idx = if_nametoindex("rq0");
	if (filter_offload_attach(f, (int)idx, true, true, err, sizeof(err)))
		fail_msg("offload in XDP on rq0: %s", err);
	assert_int_equal(bpf_map_update_elem(filter_map_fd(f, "offload_xmit"), &idx, &xv, BPF_ANY),
			 0);
	filter_offload_detach(f, (int)idx, true, true);
	assert_int_equal(offload_rows(f, (int)idx), 0);
	xmit_by_name(f, "rq0", &drops, &sent, &all_drops, &all_sent);
	if (drops != 3 || sent != 5)
		fail_msg("rq0 kept %llu/%llu of its 3/5 after the fast path left it",
			 (unsigned long long)drops, (unsigned long long)sent);
	assert_int_equal(all_drops, 3);
	assert_int_equal(all_sent, 5);
}

/* The base full of names an older program left (links long gone), and the fast path on rq0,
 * which counted 3/5: what the unload keeps gives rq0 a row of its own (its series goes on
 * after the reload), one old name goes to the row no output shows, and the sums lose
 * nothing. Before, the base was added to as it was, never freed a row, and the live rq0 went
 * to that row: its series restarted at 0 at every reload since (review-ifrename3 G3). */
static void test_base_live_first(void **state)
{
	static struct bpfbase_xmit t[BPFBASE_XMIT_ROWS];
	struct offload_xmit_val xv = { .drops = 3, .sent = 5 };
	const struct bpfbase_xmit *x;
	char err[CONFIG_ERR_LEN], name[IF_NAMESIZE];
	uint64_t drops = 0, sent = 0;
	uint32_t idx, k;

	(void)state;
	memset(t, 0, sizeof(t));
	for (k = 0; k < BPFBASE_XMIT_ROWS - 1; k++) {
		snprintf(name, sizeof(name), "gone%u", k);
		bpfbase_xmit_add(t, BPFBASE_XMIT_ROWS, name, 1, 1);
	}
	relink_setup(relay_only, (const char *const[]){ "rq0", "rq1" }, 2);
	idx = if_nametoindex("rq0");
	if (filter_offload_attach(rl.f, (int)idx, false, false, err, sizeof(err)))
		fail_msg("offload on rq0: %s", err);
	assert_int_equal(bpf_map_update_elem(filter_map_fd(rl.f, "offload_xmit"), &idx, &xv,
					     BPF_ANY),
			 0);
	filter_xmit_counts(rl.f, t, BPFBASE_XMIT_ROWS);
	x = bpfbase_xmit_of(t, BPFBASE_XMIT_ROWS, "rq0", false);
	if (!x || x->drops != 3 || x->sent != 5)
		fail_msg("the live rq0 has %s in a base full of old names",
			 x ? "other counts than 3/5" : "no row of its own");
	for (k = 0; k < BPFBASE_XMIT_ROWS; k++) {
		drops += t[k].drops;
		sent += t[k].sent;
	}
	if (drops != BPFBASE_XMIT_ROWS - 1 + 3 || sent != BPFBASE_XMIT_ROWS - 1 + 5)
		fail_msg("the base sums to %llu/%llu after the unload, not %d/%d",
			 (unsigned long long)drops, (unsigned long long)sent,
			 BPFBASE_XMIT_ROWS - 1 + 3, BPFBASE_XMIT_ROWS - 1 + 5);
	x = bpfbase_xmit_of(t, BPFBASE_XMIT_ROWS, BPFBASE_XMIT_OTHER, false);
	if (!x || x->drops != 1)
		fail_msg("one old name's counts should be in the other names' row");
}

/* A link the fast path runs on by itself, renamed more often than xmit_gone has names (each
 * rename folds what it counted under the old name; the link events alone, filter_relink,
 * with the link's own name kept: what is read is the program's table): the counts of the
 * names without a row of their own are kept in one, so the program's sums lose nothing.
 * Before, each fold past 64 names dropped them, silently, while it deleted the map entry. */
static void test_renamed_many(void **state)
{
	struct offload_xmit_val xv = { .drops = 1, .sent = 2 };
	uint64_t drops, sent, all_drops, all_sent;
	const uint32_t n = RR_IFACES_MAX + 6;
	char err[CONFIG_ERR_LEN], name[IF_NAMESIZE];
	uint32_t idx, k;
	int xmit;

	(void)state;
	relink_setup(relay_only, (const char *const[]){ "rq0", "rq1" }, 2);
	idx = if_nametoindex("rq0");
	if (filter_offload_attach(rl.f, (int)idx, false, false, err, sizeof(err)))
		fail_msg("offload on rq0: %s", err);
	xmit = filter_map_fd(rl.f, "offload_xmit");
	for (k = 0; k < n; k++) {
		assert_int_equal(bpf_map_update_elem(xmit, &idx, &xv, BPF_ANY), 0);
		snprintf(name, sizeof(name), "rq-%u", k);
		assert_int_equal(filter_relink(rl.f, name, (int)idx, err, sizeof(err)), 0);
	}
	assert_int_equal(bpf_map_update_elem(xmit, &idx, &xv, BPF_ANY), 0);
	xmit_by_name(rl.f, name, &drops, &sent, &all_drops, &all_sent);
	assert_int_equal(drops, 1);
	assert_int_equal(sent, 2);
	if (all_drops != n + 1 || all_sent != 2 * (n + 1))
		fail_msg("after %u renames the program's xmit counts add up to %llu/%llu, not "
			 "%u/%u", n, (unsigned long long)all_drops, (unsigned long long)all_sent,
			 n + 1, 2 * (n + 1));
}

/* A link the fast path runs on (rs0, in tc) renamed to the name of a filtered link that is
 * gone (rp0): the filter takes it, and it has one entry, which takes over the fast path's
 * hook (the filter's attach finds it there): the fast path runs on with no gap, and its next
 * apply changes nothing. (Before, the fast path's entry went with its hook, which came back
 * only at that apply.) Its transmit counts are counted once: rs0's before the rename,
 * rp0's after. Before that, the fast path's entry stayed beside the filter's with the same
 * ifindex: here the filter's tcx attach was refused (EEXIST: the program is linked there
 * already, by the fast path's entry), which left rp0 unfiltered; and the two entries of one
 * ifindex are listed twice (filter_offload_ifaces) and their transmits counted twice
 * (filter_xmit_counts, what an unload adds to the base). */
static void test_renamed_to_filtered(void **state)
{
	static const char filter_line[] = "filter = { mode = \"tc\"; interfaces = [ \"rp0\" ]; };\n";
	struct offload_xmit_val xv = { .drops = 3, .sent = 5 };
	uint64_t drops, sent, all_drops, all_sent;
	char text[sizeof(relay_only) + sizeof(filter_line)];
	struct filter *f;
	char err[CONFIG_ERR_LEN];
	uint32_t old, idx, changes;
	int xmit;

	(void)state;
	snprintf(text, sizeof(text), "%s%s", relay_only, filter_line);
	f = relink_setup(text, (const char *const[]){ "rp0", "rp1", "rs0", "rs1" }, 4);
	old = if_nametoindex("rp0");
	assert_int_equal(sh("ip link del rp0"), 0);
	filter_link_gone(f, (int)old);
	idx = if_nametoindex("rs0");
	if (filter_offload_attach(f, (int)idx, false, false, err, sizeof(err)))
		fail_msg("offload on rs0: %s", err);
	xmit = filter_map_fd(f, "offload_xmit");
	assert_int_equal(bpf_map_update_elem(xmit, &idx, &xv, BPF_ANY), 0);
	rename_link("rs0", "rp0");
	changes = filter_offload_hook_changes(f);
	if (filter_relink(f, "rp0", (int)idx, err, sizeof(err)) != 1)
		fail_msg("the filter did not take the link renamed rp0: %s", err);
	if (filter_offload_hooks(f, (int)idx) != FILTER_HOOK_TC || offload_rows(f, (int)idx) != 1)
		fail_msg("the filter's entry did not take over the fast path's tc hook on rp0 "
			 "(hooks %d, %d rows)",
			 filter_offload_hooks(f, (int)idx), offload_rows(f, (int)idx));
	/* the offload update that follows the link event */
	if (filter_offload_attach(f, (int)idx, false, false, err, sizeof(err)))
		fail_msg("offload on rp0: %s", err);
	assert_int_equal(filter_offload_hook_changes(f), changes);
	if (offload_rows(f, (int)idx) != 1)
		fail_msg("the fast path shows the link renamed rp0 %d times",
			 offload_rows(f, (int)idx));
	assert_string_equal(offload_name(f, (int)idx), "rp0");
	assert_true(filter_in_tc(f, (int)idx));
	xv = (struct offload_xmit_val){ .drops = 1, .sent = 2 };
	assert_int_equal(bpf_map_update_elem(xmit, &idx, &xv, BPF_ANY), 0);
	xmit_by_name(f, "rp0", &drops, &sent, &all_drops, &all_sent);
	if (all_drops != 4 || all_sent != 7)
		fail_msg("the program's xmit counts add up to %llu/%llu, not 4/7 (3/5 as rs0, 1/2 "
			 "as rp0)", (unsigned long long)all_drops, (unsigned long long)all_sent);
	assert_int_equal(drops, 1);
	assert_int_equal(sent, 2);
	xmit_by_name(f, "rs0", &drops, &sent, &all_drops, &all_sent);
	assert_int_equal(drops, 3);
	assert_int_equal(sent, 5);
}

/* What the kernel and f show on a link after the filter took it. */
struct taken {
	int hooks;	    /* filter_offload_hooks */
	uint64_t changes;   /* XDP changes the relink made */
	bool generic;	    /* filter_in_generic_xdp */
	int mode;	    /* filter_xdp_query: XDP_ATTACHED_* */
	int ret;	    /* filter_relink's */
};

/* rs0 with the fast path in native XDP, a redirect target, renamed to the gone filtered rp0
 * with the filter in mode: the fast path's hooks, flags and offload_tx entry as relink leaves
 * them (before the offload update that follows), the XDP changes it made on the device, and
 * what the kernel has attached there. With gone, the link is deleted before the relink (its
 * link event came late): the filter's attach fails after the take. */
static void renamed_to_filtered_xdp(const char *mode, bool gone, struct taken *t)
{
	char text[512], err[CONFIG_ERR_LEN];
	uint32_t old, idx, prog;
	uint64_t before;

	snprintf(text, sizeof(text), "%sfilter = { mode = \"%s\"; interfaces = [ \"rp0\" ]; };\n",
		 relay_only, mode);
	relink_setup(text, (const char *const[]){ "rp0", "rp1", "rs0", "rs1" }, 4);
	old = if_nametoindex("rp0");
	assert_int_equal(sh("ip link del rp0"), 0);
	filter_link_gone(rl.f, (int)old);
	idx = if_nametoindex("rs0");
	if (filter_offload_attach(rl.f, (int)idx, true, true, err, sizeof(err)))
		fail_msg("offload in XDP on rs0: %s", err);
	assert_int_equal(filter_offload_hooks(rl.f, (int)idx), FILTER_HOOK_XDP | FILTER_HOOK_TARGET);
	rename_link("rs0", "rp0");
	if (gone)
		assert_int_equal(sh("ip link del rp0"), 0);
	before = filter_xdp_changes(rl.f);
	t->ret = filter_relink(rl.f, "rp0", (int)idx, err, sizeof(err));
	if (!gone && t->ret != 1)
		fail_msg("the filter (%s) did not take the link renamed rp0: %s", mode, err);
	t->hooks = filter_offload_hooks(rl.f, (int)idx);
	t->changes = filter_xdp_changes(rl.f) - before;
	t->generic = filter_in_generic_xdp(rl.f, (int)idx);
	t->mode = -1;
	if (!gone)
		assert_int_equal(filter_xdp_query((int)idx, &t->mode, &prog), 0);
	relink_undo(NULL);
}

/* The same with the fast path in XDP. With the filter in native XDP the filter's entry takes
 * over the fast path's XDP link: the same program, attached once, so the device's XDP is
 * not changed at all (each change rebuilds its NAPI instances, on some NICs resets its
 * rings), and it stays a redirect target. With the filter in generic XDP (another program,
 * beside which the fast path never runs in XDP) the fast path's link goes, and with it the
 * redirect target entry: before, offload_tx kept it, and XDP redirected to a device with no
 * fast path of ours in XDP until the tracepoint marked it down. What the kernel has
 * attached is checked too (review-ifrename2 F2): a take that kept the native link would
 * leave the filter in tc beside a program nobody owns, with the same flags. */
static void test_renamed_to_filtered_xdp(void **state)
{
	struct taken n, g;

	(void)state;
	renamed_to_filtered_xdp("xdp", false, &n);
	renamed_to_filtered_xdp("xdp-generic", false, &g);
	if (n.hooks != (FILTER_HOOK_XDP | FILTER_HOOK_TARGET) || n.changes || n.generic ||
	    n.mode != XDP_ATTACHED_DRV)
		fail_msg("native XDP filter: fast path hooks %d (want %d: XDP, a redirect "
			 "target), %llu XDP changes (want 0), generic %d, attached mode %d (want "
			 "%d: native)",
			 n.hooks, FILTER_HOOK_XDP | FILTER_HOOK_TARGET,
			 (unsigned long long)n.changes, n.generic, n.mode, XDP_ATTACHED_DRV);
	if (g.hooks || g.changes != 2 || !g.generic || g.mode != XDP_ATTACHED_SKB)
		fail_msg("generic XDP filter: fast path hooks %d (want 0: it attaches again "
			 "beside the filter), %llu XDP changes (want 2: native off, generic on), "
			 "in generic XDP %d, attached mode %d (want %d: generic)",
			 g.hooks, (unsigned long long)g.changes, g.generic, g.mode,
			 XDP_ATTACHED_SKB);
}

/* A generic take whose attach then fails (the link went before its event was handled): the
 * fast path lost its XDP hook there, and rr_ifaces says so. Before, the entry kept its
 * OFFLOAD_XDP flag until the filter's attach rewrote it: meanwhile the generic program would
 * run the fast path in generic XDP, and a failed attach left the flag of a hook that is gone
 * (review-ifrename2 F1). */
static void test_renamed_to_filtered_gone(void **state)
{
	struct taken g;

	(void)state;
	renamed_to_filtered_xdp("xdp-generic", true, &g);
	if (g.ret >= 0 || g.hooks)
		fail_msg("generic XDP filter, link gone: relink %d (want < 0), fast path hooks %d "
			 "(want 0: its XDP link was closed)",
			 g.ret, g.hooks);
}

/* The filter in generic XDP on rp0, whose attach failed at the link's return (someone
 * else's generic XDP program with frags was there, behind which tc judges nothing); that
 * program goes, and the fast path takes native XDP there. At the link's next change the
 * filter's generic attach closes the fast path's native link, as a take does, and the filter
 * runs in generic XDP, the fast path to attach again beside it. Before, that native link
 * refused it (-EBUSY, logged as if it were someone else's) and the filter went to tc for good
 * (review-ifrename3 G1). */
static void test_filter_behind_own_native(void **state)
{
	static const char filter_line[] =
	    "filter = { mode = \"xdp-generic\"; interfaces = [ \"rp0\" ]; };\n";
	const struct bpf_insn pass[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po, .prog_flags = BPF_F_XDP_HAS_FRAGS);
	char text[sizeof(relay_only) + sizeof(filter_line)], err[CONFIG_ERR_LEN];
	uint32_t old, idx, prog;
	int fd, ret, hooks, mode = -1;

	(void)state;
	snprintf(text, sizeof(text), "%s%s", relay_only, filter_line);
	relink_setup(text, (const char *const[]){ "rp0", "rp1" }, 2);
	old = if_nametoindex("rp0");
	assert_int_equal(sh("ip link del rp0"), 0);
	filter_link_gone(rl.f, (int)old);
	assert_int_equal(sh("ip link add rp0 type veth peer name rp1 && ip link set rp0 up && "
			    "ip link set rp1 up"),
			 0);
	idx = if_nametoindex("rp0");
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "test_foreign", "GPL", pass, 2, &po);
	assert_true(fd >= 0);
	assert_int_equal(bpf_xdp_attach((int)idx, fd, XDP_FLAGS_SKB_MODE, NULL), 0);
	ret = filter_relink(rl.f, "rp0", (int)idx, err, sizeof(err));
	assert_int_equal(bpf_xdp_detach((int)idx, XDP_FLAGS_SKB_MODE, NULL), 0);
	close(fd);
	if (ret >= 0)
		fail_msg("the filter attached behind a generic program with frags (%d)", ret);
	if (filter_offload_attach(rl.f, (int)idx, true, true, err, sizeof(err)))
		fail_msg("offload in XDP on rp0: %s", err);
	assert_int_equal(filter_offload_hooks(rl.f, (int)idx),
			 FILTER_HOOK_XDP | FILTER_HOOK_TARGET);
	ret = filter_relink(rl.f, "rp0", (int)idx, err, sizeof(err));
	hooks = filter_offload_hooks(rl.f, (int)idx);
	assert_int_equal(filter_xdp_query((int)idx, &mode, &prog), 0);
	if (ret != 1 || filter_in_tc(rl.f, (int)idx) || !filter_in_generic_xdp(rl.f, (int)idx) ||
	    hooks || mode != XDP_ATTACHED_SKB)
		fail_msg("relink %d (want 1: %s), the filter in tc %d (want 0), in generic XDP %d "
			 "(want 1), fast path hooks %d (want 0: it attaches again beside the "
			 "filter), attached mode %d (want %d: generic)",
			 ret, ret < 0 ? err : "attached", filter_in_tc(rl.f, (int)idx),
			 filter_in_generic_xdp(rl.f, (int)idx), hooks, mode, XDP_ATTACHED_SKB);
}

/* A filtered link with the fast path in XDP, a redirect target (rt0), renamed rt9, and a new
 * rt0: the filter moves there, and the renamed device's hooks go, with its redirect target
 * entry. Before, offload_tx kept it: XDP redirected to a device with no program of ours until
 * the tracepoint marked it down (the fast path, if it runs there, attaches again as rt9). */
static void test_moved_target(void **state)
{
	static const char filter_line[] = "filter = { mode = \"tc\"; interfaces = [ \"rt0\" ]; };\n";
	char text[sizeof(relay_only) + sizeof(filter_line)], err[CONFIG_ERR_LEN];
	uint32_t old, now;

	(void)state;
	snprintf(text, sizeof(text), "%s%s", relay_only, filter_line);
	relink_setup(text, (const char *const[]){ "rt0", "rt1" }, 2);
	old = if_nametoindex("rt0");
	if (filter_offload_attach(rl.f, (int)old, true, true, err, sizeof(err)))
		fail_msg("offload in XDP on rt0: %s", err);
	assert_int_equal(filter_offload_hooks(rl.f, (int)old), FILTER_HOOK_XDP | FILTER_HOOK_TARGET);
	assert_int_equal(sh("ip link set rt0 down && ip link set rt0 name rt9 && "
			    "ip link set rt9 up && ip link add rt0 type veth peer name rt2 && "
			    "ip link set rt0 up"), 0);
	assert_int_equal(filter_relink(rl.f, "rt9", (int)old, err, sizeof(err)), 0);
	now = if_nametoindex("rt0");
	if (filter_relink(rl.f, "rt0", (int)now, err, sizeof(err)) != 1)
		fail_msg("the filter did not move to the new rt0: %s", err);
	if (filter_offload_hooks(rl.f, (int)old))
		fail_msg("the renamed rt9 has fast path hooks %d after the filter moved (%s)",
			 filter_offload_hooks(rl.f, (int)old),
			 filter_offload_hooks(rl.f, (int)old) & FILTER_HOOK_TARGET
			     ? "still a redirect target"
			     : "");
}

/* A frame the egress refuses for its length (xdp_redirect_err with -EMSGSIZE: here a locked
 * route MTU above the device's lets the FIB pass it) is counted against the egress, which
 * stays in use: before, that one frame marked it down, and every session to it went up the
 * stack until the daemon's recheck (up to 1 s), which any client could repeat. The run uses
 * live frames, so the kernel really redirects and the tracepoint fires. */
static void test_redirect_err_one_frame(void **state)
{
	int down = filter_map_fd(fx.f, "offload_tx_down"), xmit = filter_map_fd(fx.f, "offload_xmit");
	struct ep cm = ep4("198.18.1.1", 1121), far = ep4("198.18.6.2", 9000);
	struct offload_xmit_val before = {0}, after = {0};
	uint32_t k = (uint32_t)fx.c0, v;
	struct frame_opts o = {0};
	static uint8_t in[2048];
	struct xdp_md xctx = {.ingress_ifindex = (uint32_t)fx.a0};
	char err[256];
	size_t len;
	int ret;

	(void)state;
	/* the tracepoints attach with the first XDP fast path */
	assert_int_equal(filter_offload_attach(fx.f, fx.c0, true, true, err, sizeof(err)), 0);
	add_session(&cm, &l4, &s4, &far, fx.c0, fx.a0, 64, 13, 1500, OFFLOAD_DIR_UP);
	len = build(in, &cm, &l4, 1200, &o);
	xctx.data_end = (uint32_t)len;
	bpf_map_lookup_elem(xmit, &k, &before);
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)len,
			    .ctx_in = &xctx, .ctx_size_in = sizeof(xctx),
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .repeat = 1);

		ret = bpf_prog_test_run_opts(filter_prog_fd(fx.f, 0), &opts);
	}
	if (ret)
		fail_msg("BPF_PROG_TEST_RUN (live frames): %s", strerror(-ret));
	assert_int_equal(bpf_map_lookup_elem(xmit, &k, &after), 0);
	if (after.drops != before.drops + 1)
		fail_msg("the refused frame was not counted (drops %llu -> %llu)",
			 (unsigned long long)before.drops, (unsigned long long)after.drops);
	if (bpf_map_lookup_elem(down, &k, &v) == 0)
		fail_msg("one oversized frame marked the egress down");
	filter_offload_detach(fx.f, fx.c0, true, true);
	set_tx(fx.c0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rewrite),
	    cmocka_unit_test(test_flow_stats),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_wrong_ingress),
	    cmocka_unit_test(test_pass_up),
	    cmocka_unit_test(test_del_own),
	    cmocka_unit_test(test_stage_flags),
	    cmocka_unit_test(test_attach_beside),
	    cmocka_unit_test(test_offload_hooks),
	    cmocka_unit_test_teardown(test_mac_change, mac_change_undo),
	    cmocka_unit_test_teardown(test_lower_devices, relink_undo),
	    cmocka_unit_test(test_gone_targets),
	    cmocka_unit_test_teardown(test_relink_renamed_xmit, relink_undo),
	    cmocka_unit_test_teardown(test_own_renamed, relink_undo),
	    cmocka_unit_test_teardown(test_renamed_many, relink_undo),
	    cmocka_unit_test_teardown(test_detached_xmit_kept, relink_undo),
	    cmocka_unit_test_teardown(test_base_live_first, relink_undo),
	    cmocka_unit_test_teardown(test_renamed_to_filtered, relink_undo),
	    cmocka_unit_test_teardown(test_renamed_to_filtered_xdp, relink_undo),
	    cmocka_unit_test_teardown(test_renamed_to_filtered_gone, relink_undo),
	    cmocka_unit_test_teardown(test_filter_behind_own_native, relink_undo),
	    cmocka_unit_test_teardown(test_moved_target, relink_undo),
	    cmocka_unit_test(test_redirect_err_one_frame),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
