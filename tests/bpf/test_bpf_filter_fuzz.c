// SPDX-License-Identifier: MIT
/* Differential fuzz test of bpf/filter.bpf.c. Random and mutated frames (VLAN stacks, IPv4
 * IHL, options and fragments, IPv6 extension chains and fragments, bad UDP and IP lengths,
 * truncation, flipped bytes, trailing padding) run through
 *
 *   - the XDP program with BPF_PROG_TEST_RUN (frames over ~3.5 KB become XDP frags),
 *   - the tc program with BPF_PROG_TEST_RUN (linear skbs up to ~3.5 KB: the kernel's skb test
 *     run builds nothing else),
 *   - and, for frames over a page, the tc program attached by filter_new to a veth in a
 *     private network namespace: AF_PACKET with a virtio-net header decides how much of the
 *     skb is linear (as little as the Ethernet header), and the stack takes the outer VLAN
 *     tag off into skb->vlan_tci before tc sees it, as on a real device.
 *
 * Every verdict, and the one counter it bumped, must equal ref_decide(): a reference written
 * from the table in docs/filter.md, over plain byte arrays, sharing no code with the program.
 * Rule sets rotate through default allow/deny, scope relays/udp, relay_ports_only and
 * unparsed drop/pass. No rate limit (it depends on time). The first fragments' verdicts the
 * program keeps for the later ones (filter_frags) are modelled by ref_frags; both are emptied
 * every FUZZ_FRAG_RESET frames, so no entry grows old enough to expire or to be evicted, and
 * the generator gives later (and first) fragments a recent first fragment's key now and then.
 *
 *   FILTER_FUZZ_SEED=N        seed (default 1, so `make bpf-test` is repeatable); "random"
 *   FILTER_FUZZ_SECONDS=S     run for S seconds instead of the short fixed run (make fuzz-filter)
 *
 * A mismatch prints the seed, frame number, rule set, path and the frame in hex. Needs root
 * (exit 77 otherwise). */
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
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <linux/virtio_net.h>

#include "config.h"
#include "filter.h"
#include "log.h"

#define FUZZ_FRAME_MAX 16384
#define FUZZ_SHORT_FRAMES 20000 /* the fixed run of make bpf-test */
#define FUZZ_MAX_REPORTS 10
/* The skb test run takes one linear buffer of at most about a page. */
#define TC_TEST_RUN_MAX 3500
/* Over a page AF_PACKET builds a paged skb with hdr_len bytes linear. */
#define VETH_MIN_FRAME 4200
#define VETH_TX "rrfuzz0"
#define VETH_RX "rrfuzz1"
/* filter_frags and the model are emptied this often (frames). */
#define FUZZ_FRAG_RESET 100
#define REF_FRAGS_MAX FUZZ_FRAG_RESET

/* ---------------------------------------------------------------- the reference */

enum ref_kind { R_NOT_IP, R_UNPARSED, R_EXT_DEEP, R_NOT_UDP, R_FRAG_LATER, R_UDP };

/* A fragment's reassembly key: source, destination (IPv4-mapped), identification. */
#define REF_FRAG_KEY 36

struct ref_pkt {
	enum ref_kind kind;
	uint8_t src[16]; /* IPv4-mapped */
	uint16_t dport;
	int udp_len_ok;
	int first_frag;			/* a first fragment, however far the parse got after
					 * its IPv4 header or IPv6 fragment header */
	uint8_t frag_key[REF_FRAG_KEY]; /* fragments only */
};

/* The first fragments' verdicts: what filter_frags should hold. */
struct ref_frags {
	unsigned int n;
	struct {
		uint8_t key[REF_FRAG_KEY];
		int drop;
	} e[REF_FRAGS_MAX];
};

struct ref_verdict {
	int drop;
	enum filter_counter cnt;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* IPv4 as ip_rcv and udp_rcv see it. A first fragment (offset 0, MF) carries the UDP
 * length of the whole datagram, which may be anything up to 65535 minus the IP header. */
static struct ref_pkt ref_ipv4(const uint8_t *ip, size_t n)
{
	struct ref_pkt r = {.kind = R_UNPARSED};
	size_t hl, tot;
	uint16_t fo, ulen, limit;

	if (n < 20 || ip[0] >> 4 != 4 || (ip[0] & 15) < 5)
		return r;
	/* whatever its lengths say: IPv4 BIG TCP has tot_len 0 */
	if (ip[9] != IPPROTO_UDP) {
		r.kind = R_NOT_UDP;
		return r;
	}
	hl = (size_t)(ip[0] & 15) * 4;
	tot = be16(ip + 2);
	if (tot < hl || tot > n)
		return r;
	r.src[10] = r.src[11] = 0xff;
	memcpy(r.src + 12, ip + 12, 4);
	fo = be16(ip + 6);
	if (fo & 0x3fff) {
		memcpy(r.frag_key, r.src, 16);
		r.frag_key[26] = r.frag_key[27] = 0xff;
		memcpy(r.frag_key + 28, ip + 16, 4);
		memcpy(r.frag_key + 34, ip + 4, 2);
	}
	if (fo & 0x1fff) {
		r.kind = R_FRAG_LATER;
		return r;
	}
	r.first_frag = !!(fo & 0x2000);
	if (tot - hl < 8)
		return r; /* the ports are not in this frame */
	r.kind = R_UDP;
	r.dport = be16(ip + hl + 2);
	ulen = be16(ip + hl + 4);
	limit = (uint16_t)((fo & 0x2000) ? 65535 - hl : tot - hl);
	r.udp_len_ok = ulen >= 8 && ulen <= limit;
	return r;
}

static int ref_is_ext(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44;
}

/* IPv6: at most FILTER_MAX_EXT_HEADERS extension headers; any fragment header with a
 * non-zero offset makes a later fragment, whatever it names as next header. */
static struct ref_pkt ref_ipv6(const uint8_t *ip, size_t n)
{
	struct ref_pkt r = {.kind = R_UNPARSED};
	size_t rest, size, kept = 0, at = 40;
	int walked = 0, first = 0;
	uint8_t nh;

	if (n < 40 || ip[0] >> 4 != 6)
		return r;
	rest = be16(ip + 4);
	if (40 + rest > n)
		return r;
	memcpy(r.src, ip + 8, 16);
	/* ipv6_rcv drops a v4-mapped source */
	if (!memcmp(r.src, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
		return r;
	nh = ip[6];
	while (ref_is_ext(nh)) {
		if (walked == FILTER_MAX_EXT_HEADERS) {
			r.kind = R_EXT_DEEP;
			return r;
		}
		if (rest < 8)
			return r;
		if (nh == 44) {
			/* the first header that is not atomic keys the reassembly */
			if (!first && (be16(ip + at + 2) & 0xfff9)) {
				memcpy(r.frag_key, r.src, 16);
				memcpy(r.frag_key + 16, ip + 24, 16);
				memcpy(r.frag_key + 32, ip + at + 4, 4);
			}
			if (be16(ip + at + 2) >> 3) {
				r.kind = R_FRAG_LATER;
				r.first_frag = 0;
				return r;
			}
			first |= ip[at + 3] & 1;
			r.first_frag = first;
			size = 8;
		} else {
			size =
			    nh == 51 ? ((size_t)ip[at + 1] + 2) * 4 : ((size_t)ip[at + 1] + 1) * 8;
			kept += size;
		}
		if (size > rest)
			return r;
		nh = ip[at];
		at += size;
		rest -= size;
		walked++;
	}
	if (nh != IPPROTO_UDP) {
		r.kind = R_NOT_UDP;
		return r;
	}
	if (rest < 8)
		return r;
	r.kind = R_UDP;
	r.dport = be16(ip + at + 2);
	r.udp_len_ok = be16(ip + at + 4) >= 8 && be16(ip + at + 4) <= (first ? 65535 - kept : rest);
	return r;
}

static struct ref_pkt ref_parse(const uint8_t *f, size_t n)
{
	struct ref_pkt r = {.kind = R_NOT_IP};
	size_t at = 14;
	uint16_t type;
	int tags = 0;

	if (n < 14)
		return r;
	type = be16(f + 12);
	while (type == 0x8100 || type == 0x88a8) {
		if (tags == FILTER_MAX_VLAN_TAGS) {
			r.kind = R_UNPARSED;
			return r;
		}
		if (n < at + 4)
			return r;
		type = be16(f + at + 2);
		at += 4;
		tags++;
	}
	if (type == 0x0800)
		return ref_ipv4(f + at, n - at);
	if (type == 0x86dd)
		return ref_ipv6(f + at, n - at);
	return r;
}

static int ref_prefix_has(const struct prefix *p, const uint8_t *a)
{
	unsigned int bit;

	for (bit = 0; bit < p->len; bit++) {
		unsigned int m = 0x80u >> (bit % 8);

		if ((p->bytes[bit / 8] & m) != (a[bit / 8] & m))
			return 0;
	}
	return 1;
}

/* -1 no prefix covers src, else 1 for deny, 0 for allow (longest wins). */
static int ref_prefix_verdict(const struct filter_conf *fc, const uint8_t *src)
{
	int best = -1, verdict = -1;
	uint32_t i;

	for (i = 0; i < fc->n_deny; i++)
		if (ref_prefix_has(&fc->deny[i].prefix, src) && fc->deny[i].prefix.len > best) {
			best = fc->deny[i].prefix.len;
			verdict = 1;
		}
	for (i = 0; i < fc->n_allow; i++)
		if (ref_prefix_has(&fc->allow[i].prefix, src) && fc->allow[i].prefix.len > best) {
			best = fc->allow[i].prefix.len;
			verdict = 0;
		}
	return verdict;
}

static int ref_is_relay_port(const struct config *cfg, uint16_t port)
{
	uint32_t r, i;

	for (r = 0; r < cfg->n_relays; r++)
		for (i = 0; i < cfg->relays[r].n_listen; i++)
			if (addr_port(&cfg->relays[r].listen[i]) == port)
				return 1;
	return 0;
}

static struct ref_verdict ref_verdict(int drop, enum filter_counter cnt)
{
	return (struct ref_verdict){drop, cnt};
}

static int ref_frags_find(const struct ref_frags *rf, const uint8_t *key)
{
	unsigned int i;

	for (i = 0; i < rf->n; i++)
		if (!memcmp(rf->e[i].key, key, REF_FRAG_KEY))
			return (int)i;
	return -1;
}

/* A later fragment: its first fragment's verdict, else only a deny prefix drops it. */
static struct ref_verdict ref_later(const struct filter_conf *fc, const struct ref_frags *rf,
				    const struct ref_pkt *p)
{
	int i = ref_frags_find(rf, p->frag_key);

	if (i >= 0)
		return rf->e[i].drop ? ref_verdict(1, FILTER_CNT_DROP_FRAGMENT_OF_DROPPED)
				     : ref_verdict(0, FILTER_CNT_PASS_FRAGMENT);
	return ref_prefix_verdict(fc, p->src) == 1 ? ref_verdict(1, FILTER_CNT_DROP_FRAGMENT)
						   : ref_verdict(0, FILTER_CNT_PASS_FRAGMENT);
}

static struct ref_verdict ref_judge(const struct config *cfg, int unparsed_drop,
				    const struct ref_frags *rf, const struct ref_pkt *pp)
{
	const struct filter_conf *fc = &cfg->filter;
	struct ref_pkt p = *pp;
	int relay, pv;
	uint32_t i;

	switch (p.kind) {
	case R_NOT_IP:
		return ref_verdict(0, FILTER_CNT_PASS_NOT_IP);
	case R_NOT_UDP:
		return ref_verdict(0, FILTER_CNT_PASS_NOT_UDP);
	case R_UNPARSED:
		return unparsed_drop ? ref_verdict(1, FILTER_CNT_DROP_UNPARSED)
				     : ref_verdict(0, FILTER_CNT_PASS_UNPARSED);
	case R_EXT_DEEP:
		return unparsed_drop ? ref_verdict(1, FILTER_CNT_DROP_EXT_HEADERS)
				     : ref_verdict(0, FILTER_CNT_PASS_UNPARSED);
	case R_FRAG_LATER:
		return ref_later(fc, rf, &p);
	case R_UDP:
		break;
	}
	relay = ref_is_relay_port(cfg, p.dport);
	if (fc->scope == FILTER_SCOPE_RELAYS && !relay)
		return ref_verdict(0, FILTER_CNT_PASS_OUT_OF_SCOPE);
	if (!p.udp_len_ok)
		return ref_verdict(1, FILTER_CNT_DROP_MALFORMED);
	if (fc->relay_ports_only && !relay)
		return ref_verdict(1, FILTER_CNT_DROP_NOT_RELAY_PORT);
	for (i = 0; i < fc->n_ports; i++) {
		if (p.dport < fc->ports[i].lo || p.dport > fc->ports[i].hi)
			continue;
		if (fc->ports[i].verdict == FILTER_VERDICT_DENY)
			return ref_verdict(1, FILTER_CNT_DROP_PORT);
		return ref_verdict(0, FILTER_CNT_ALLOW);
	}
	pv = ref_prefix_verdict(fc, p.src);
	if (pv == 1)
		return ref_verdict(1, FILTER_CNT_DROP_PREFIX);
	if (pv == -1 && fc->default_verdict == FILTER_VERDICT_DENY)
		return ref_verdict(1, FILTER_CNT_DROP_DEFAULT);
	return ref_verdict(0, FILTER_CNT_ALLOW);
}

/* A first fragment's verdict for its later fragments: kept in rf (replacing an earlier one
 * of the same key) only where it differs from what ref_later gives them without it; else any
 * earlier one of the same key is forgotten. Kept: UDP's verdict, an IPv6 first fragment of
 * another protocol's pass, an unparsed one's drop (its pass is not kept: no ports known). */
static void ref_note(const struct filter_conf *fc, struct ref_frags *rf, const struct ref_pkt *p,
		     int drop)
{
	int keep = p->kind == R_UDP || p->kind == R_NOT_UDP || drop;
	int i = ref_frags_find(rf, p->frag_key);

	if (keep && drop != (ref_prefix_verdict(fc, p->src) == 1)) {
		if (i < 0) {
			if (rf->n == REF_FRAGS_MAX)
				fail_msg("ref_frags full: more first fragments than frames?");
			i = (int)rf->n++;
			memcpy(rf->e[i].key, p->frag_key, REF_FRAG_KEY);
		}
		rf->e[i].drop = drop;
	} else if (i >= 0) {
		rf->e[i] = rf->e[--rf->n];
	}
}

/* The verdict of frame f, noting a first fragment's in rf for its later fragments. */
static struct ref_verdict ref_decide(const struct config *cfg, int unparsed_drop,
				     struct ref_frags *rf, const uint8_t *f, size_t n)
{
	struct ref_pkt p = ref_parse(f, n);
	struct ref_verdict v = ref_judge(cfg, unparsed_drop, rf, &p);

	if (p.first_frag)
		ref_note(&cfg->filter, rf, &p, v.drop);
	return v;
}

/* ---------------------------------------------------------------- frames */

/* The random state, and the last first fragment generated per family, whose key (source,
 * destination, ID) a later fragment takes now and then so that it meets a recorded verdict,
 * and a first fragment too so that it replaces or deletes one. */
struct rng {
	uint64_t s;
	int have4, have6;
	uint8_t first4[10]; /* source, destination, ID as in the header */
	uint8_t first6[36];
};

static uint64_t rnd(struct rng *g) /* splitmix64 */
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t below(struct rng *g, uint32_t n)
{
	return n ? (uint32_t)(rnd(g) % n) : 0;
}

static int chance(struct rng *g, uint32_t pct)
{
	return below(g, 100) < pct;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void fill(struct rng *g, uint8_t *p, size_t n)
{
	while (n--)
		*p++ = (uint8_t)rnd(g);
}

/* Sources around the rule set's edges (see fuzz_conf). */
static void pick_v4(struct rng *g, uint8_t *a)
{
	static const uint8_t bases[][4] = {{198, 18, 66, 0}, {198, 18, 66, 7}, {198, 18, 70, 9},
					   {198, 18, 70, 0}, {198, 18, 1, 0},  {10, 0, 0, 0}};
	uint32_t k = below(g, 8);

	if (k >= 6) {
		fill(g, a, 4);
		return;
	}
	memcpy(a, bases[k], 4);
	if (k == 0 || k == 3 || k == 4)
		a[3] = (uint8_t)below(g, 256);
	if (k == 5)
		fill(g, a + 1, 3);
}

static void pick_v6(struct rng *g, uint8_t *a)
{
	static const char *const bases[] = {
	    "2001:2:0:bad0::", "2001:2:0:bad1::", "2001:2:0:1::", "::ffff:198.18.66.0"};
	uint32_t k = below(g, 5);

	if (k == 4) {
		fill(g, a, 16);
		return;
	}
	inet_pton(AF_INET6, bases[k], a);
	if (k < 3)
		fill(g, a + 8, 8);
	else
		a[15] = (uint8_t)below(g, 256);
}

static uint16_t pick_port(struct rng *g)
{
	switch (below(g, 8)) {
	case 0:
	case 1:
		return 5000;
	case 2:
		return 5001;
	case 3:
		return 5002;
	case 4:
		return (uint16_t)(6000 + below(g, 11));
	case 5:
		return (uint16_t)(7000 + below(g, 6));
	case 6:
		return 53;
	default:
		return (uint16_t)rnd(g);
	}
}

static size_t pick_payload(struct rng *g, int big)
{
	if (big)
		return VETH_MIN_FRAME + below(g, 9000);
	if (chance(g, 85))
		return below(g, 200);
	return below(g, 3400);
}

/* The transport header and payload at l4 (room for FUZZ_FRAME_MAX), UDP length ulen_claim
 * unless mutated. Returns the bytes written. */
static size_t gen_l4(struct rng *g, uint8_t *l4, uint8_t proto, size_t payload, int first_frag,
		     size_t max_ulen)
{
	size_t hdr = proto == IPPROTO_UDP ? 8 : proto == IPPROTO_TCP ? 20 : 0;
	uint32_t ulen = (uint32_t)(hdr + payload);

	fill(g, l4, hdr + (payload < 64 ? payload : 64));
	if (proto == IPPROTO_TCP)
		l4[12] = 0x50;
	if (proto != IPPROTO_UDP)
		return hdr + payload;
	put16(l4 + 2, pick_port(g));
	/* A first fragment claims the whole datagram: anything up to what reassembly can hold,
	 * often right at that bound. */
	if (first_frag && max_ulen >= ulen) {
		switch (below(g, 4)) {
		case 0:
			ulen += below(g, (uint32_t)(max_ulen - ulen + 2));
			break;
		case 1:
			ulen = (uint32_t)max_ulen - below(g, 12);
			break;
		case 2:
			ulen = (uint32_t)max_ulen + 1 + below(g, 3);
			break;
		default:
			break; /* just this fragment */
		}
	}
	if (chance(g, 15)) {
		switch (below(g, 5)) {
		case 0:
			ulen = below(g, 8);
			break;
		case 1:
			ulen += 1 + below(g, 100);
			break;
		case 2:
			ulen -= below(g, ulen + 1);
			break;
		case 3:
			ulen = (uint32_t)max_ulen + below(g, 3);
			break;
		default:
			ulen = (uint16_t)rnd(g);
		}
	}
	put16(l4 + 4, ulen);
	return hdr + payload;
}

static uint8_t pick_proto(struct rng *g, int v6)
{
	static const uint8_t others[] = {IPPROTO_TCP, IPPROTO_ICMP, IPPROTO_ICMPV6, 50, 59, 136,
					 47};

	if (chance(g, 80))
		return IPPROTO_UDP;
	if (chance(g, 80))
		return others[below(g, sizeof(others))];
	(void)v6;
	return (uint8_t)rnd(g);
}

static size_t gen_ipv4(struct rng *g, uint8_t *ip, int big)
{
	uint32_t ihl = chance(g, 85) ? 5 : chance(g, 80) ? 6 + below(g, 10) : below(g, 5);
	size_t hl = (ihl < 5 ? 5 : ihl) * 4, l4len, payload = pick_payload(g, big);
	uint8_t proto = pick_proto(g, 0);
	uint32_t fo = 0, tot, k = below(g, 100);

	fill(g, ip, hl);
	ip[0] = (uint8_t)(0x40 | ihl);
	if (chance(g, 2))
		ip[0] = (uint8_t)rnd(g);
	if (k < 60)
		fo = chance(g, 50) ? 0x4000 : 0;
	else if (k < 78)
		fo = 0x2000; /* first fragment */
	else if (k < 92)
		fo = (1 + below(g, 0x1fff)) | (chance(g, 50) ? 0x2000 : 0);
	else
		fo = (uint16_t)rnd(g);
	put16(ip + 6, fo);
	ip[9] = proto;
	pick_v4(g, ip + 12);
	if ((fo & 0x3fff) == 0x2000) {
		if (g->have4 && chance(g, 30)) { /* the ID comes round again */
			memcpy(ip + 12, g->first4, 8);
			memcpy(ip + 4, g->first4 + 8, 2);
		}
		memcpy(g->first4, ip + 12, 8);
		memcpy(g->first4 + 8, ip + 4, 2);
		g->have4 = 1;
	} else if ((fo & 0x1fff) && g->have4 && chance(g, 60)) {
		memcpy(ip + 12, g->first4, 8);
		memcpy(ip + 4, g->first4 + 8, 2);
	}
	l4len = gen_l4(g, ip + hl, proto, payload, (fo & 0x3fff) == 0x2000, 65535 - hl);
	tot = (uint32_t)(hl + l4len);
	if (chance(g, 10)) {
		switch (below(g, 4)) {
		case 0:
			tot += 1 + below(g, 200);
			break;
		case 1:
			tot = below(g, (uint32_t)hl + 1);
			break;
		case 2:
			tot -= below(g, tot + 1);
			break;
		default:
			tot = (uint16_t)rnd(g);
		}
	}
	put16(ip + 2, tot);
	return hl + l4len;
}

static size_t gen_ipv6(struct rng *g, uint8_t *ip, int big)
{
	static const uint8_t ext_types[] = {0, 43, 60, 51, 44};
	uint32_t n_ext = chance(g, 50) ? 0 : chance(g, 70) ? 1 + below(g, 3) : below(g, 10), i;
	size_t at = 40, kept = 0, l4len, plen, payload = pick_payload(g, big);
	uint8_t *nh = ip + 6, proto = pick_proto(g, 1);
	int first = 0;

	fill(g, ip, 40);
	ip[0] = (uint8_t)(0x60 | (ip[0] & 15));
	if (chance(g, 2))
		ip[0] = (uint8_t)rnd(g);
	pick_v6(g, ip + 8);
	for (i = 0; i < n_ext; i++) {
		uint8_t type = i == 0 && chance(g, 50) ? 0 : ext_types[below(g, sizeof(ext_types))];
		size_t size;

		*nh = type;
		nh = ip + at;
		if (type == 44) {
			size = 8;
			fill(g, ip + at, 8);
			/* offset 0 (first or atomic fragment) or later; M at random */
			put16(ip + at + 2,
			      (chance(g, 60) ? 0 : (1 + below(g, 0x1fff)) << 3) | below(g, 2));
			if (!(be16(ip + at + 2) >> 3) && (ip[at + 3] & 1) && !first) {
				if (g->have6 && chance(g, 30)) { /* the ID comes round again */
					memcpy(ip + 8, g->first6, 32);
					memcpy(ip + at + 4, g->first6 + 32, 4);
				}
				memcpy(g->first6, ip + 8, 32);
				memcpy(g->first6 + 32, ip + at + 4, 4);
				g->have6 = 1;
			} else if ((be16(ip + at + 2) >> 3) && g->have6 && chance(g, 60)) {
				memcpy(ip + 8, g->first6, 32);
				memcpy(ip + at + 4, g->first6 + 32, 4);
			}
			first |= !(be16(ip + at + 2) >> 3) && (ip[at + 3] & 1);
		} else if (type == 51) {
			ip[at + 1] = (uint8_t)(1 + below(g, 4));
			size = ((size_t)ip[at + 1] + 2) * 4;
			fill(g, ip + at + 2, size - 2);
		} else {
			ip[at + 1] = (uint8_t)(chance(g, 95) ? below(g, 4) : below(g, 256));
			size = ((size_t)ip[at + 1] + 1) * 8;
			memset(ip + at + 2, 0, size - 2);
		}
		if (type != 44)
			kept += size;
		at += size;
	}
	*nh = proto;
	l4len = gen_l4(g, ip + at, proto, payload, first, 65535 - kept);
	plen = at - 40 + l4len;
	if (chance(g, 10))
		plen = chance(g, 50) ? plen + 1 + below(g, 200) : below(g, (uint32_t)plen + 1);
	put16(ip + 4, (uint32_t)plen);
	return at + l4len;
}

/* A random frame into f (FUZZ_FRAME_MAX bytes); big asks for one over VETH_MIN_FRAME
 * (mutations may still shorten it). Returns its length, at least 14. */
static size_t gen_frame(struct rng *g, uint8_t *f, int big)
{
	static uint8_t tmp[4 * FUZZ_FRAME_MAX];
	uint32_t tags, i;
	size_t at = 12, len, k;

	/* None, a few, or around FILTER_MAX_VLAN_TAGS; 802.1Q and 802.1ad mixed, now and then
	 * 0x9100 (old QinQ, not a VLAN to Linux: the frame is not IP). */
	k = below(g, 100);
	tags = k < 45 ? 0 : k < 75 ? 1 + below(g, 3) : FILTER_MAX_VLAN_TAGS - 2 + below(g, 5);
	memset(tmp, 0, sizeof(tmp));
	fill(g, tmp, 12);
	for (i = 0; i < tags; i++, at += 4) {
		put16(tmp + at, chance(g, 2) ? 0x9100 : chance(g, 50) ? 0x8100 : 0x88a8);
		put16(tmp + at + 2, chance(g, 80) ? 0 : below(g, 65536));
	}
	k = below(g, 100);
	if (k < 45) {
		put16(tmp + at, 0x0800);
		len = at + 2 + gen_ipv4(g, tmp + at + 2, big);
	} else if (k < 90) {
		put16(tmp + at, 0x86dd);
		len = at + 2 + gen_ipv6(g, tmp + at + 2, big);
	} else {
		put16(tmp + at, chance(g, 50) ? 0x0806 : below(g, 65536));
		len = at + 2 + 28 + (big ? VETH_MIN_FRAME : below(g, 64));
		fill(g, tmp + at + 2, 28);
	}
	if (len > FUZZ_FRAME_MAX)
		len = FUZZ_FRAME_MAX;
	if (chance(g, 20)) { /* mutate: truncate, flip header bytes, pad */
		switch (below(g, 3)) {
		case 0:
			len = 14 + below(g, (uint32_t)(len - 14 + 1));
			break;
		case 1:
			for (i = 1 + below(g, 4); i > 0; i--)
				tmp[below(g, (uint32_t)(len < 128 ? len : 128))] ^=
				    (uint8_t)(1 + below(g, 255));
			break;
		default:
			k = below(g, 64);
			if (len + k <= FUZZ_FRAME_MAX) {
				fill(g, tmp + len, k);
				len += k;
			}
		}
	}
	memcpy(f, tmp, len);
	return len;
}

/* ---------------------------------------------------------------- running */

struct fuzz {
	struct filter *f;
	struct config *cfg[4];
	int unparsed_drop[4];
	int variant;
	int cnt_fd, ncpus;
	uint64_t *vals;
	uint64_t counters[FILTER_CNT__MAX];
	int veth_fd, veth_ifindex; /* -1 without the veth path */
	struct ref_frags ref_frags;
	int frags_fd;
	uint64_t seed;
	unsigned long frames, xdp_runs, tc_runs, veth_runs, veth_retries, mismatches;
	unsigned long by_cnt[FILTER_CNT__MAX];
};

static void fuzz_read_counters(struct fuzz *fz, uint64_t *out)
{
	uint32_t k;
	int c;

	for (k = 0; k < FILTER_CNT__MAX; k++) {
		assert_int_equal(bpf_map_lookup_elem(fz->cnt_fd, &k, fz->vals), 0);
		out[k] = 0;
		for (c = 0; c < fz->ncpus; c++)
			out[k] += fz->vals[c];
	}
}

/* The one counter that rose since the last call, -1 if none, -2 if several. */
static int fuzz_counter_rose(struct fuzz *fz)
{
	uint64_t now[FILTER_CNT__MAX];
	int k, which = -1;

	fuzz_read_counters(fz, now);
	for (k = 0; k < FILTER_CNT__MAX; k++) {
		if (now[k] == fz->counters[k])
			continue;
		which = which == -1 && now[k] == fz->counters[k] + 1 ? k : -2;
	}
	memcpy(fz->counters, now, sizeof(now));
	return which;
}

static void fuzz_report(struct fuzz *fz, const char *path, const uint8_t *f, size_t n,
			struct ref_verdict want, int drop, int cnt, const char *extra)
{
	const struct filter_conf *fc = &fz->cfg[fz->variant]->filter;
	size_t i;

	fz->mismatches++;
	if (fz->mismatches > FUZZ_MAX_REPORTS)
		return;
	fprintf(stderr,
		"MISMATCH seed %llu frame %lu (%s%s), rules: default %s, scope %s%s, unparsed %s\n"
		"  want %s/%s, got %s/%s\n  frame (%zu bytes):",
		(unsigned long long)fz->seed, fz->frames, path, extra,
		fc->default_verdict == FILTER_VERDICT_DENY ? "deny" : "allow",
		fc->scope == FILTER_SCOPE_UDP ? "udp" : "relays",
		fc->relay_ports_only ? " relay_ports_only" : "",
		fz->unparsed_drop[fz->variant] ? "drop" : "pass", want.drop ? "drop" : "pass",
		filter_counter_name(want.cnt), drop ? "drop" : "pass",
		cnt >= 0    ? filter_counter_name(cnt)
		: cnt == -1 ? "(no counter)"
			    : "(several)",
		n);
	for (i = 0; i < n && i < 160; i++)
		fprintf(stderr, "%s%02x", i % 32 ? " " : "\n    ", f[i]);
	fprintf(stderr, "%s\n", n > 160 ? " ..." : "");
}

static void fuzz_check(struct fuzz *fz, const char *path, const uint8_t *f, size_t n,
		       struct ref_verdict want, int drop, const char *extra)
{
	int cnt = fuzz_counter_rose(fz);

	if (drop != want.drop || cnt != (int)want.cnt)
		fuzz_report(fz, path, f, n, want, drop, cnt, extra);
}

static void fuzz_test_run(struct fuzz *fz, int tc, const uint8_t *f, size_t n,
			  struct ref_verdict want)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f, .data_size_in = (__u32)n, .repeat = 1);
	int ret, drop;

	ret = bpf_prog_test_run_opts(filter_prog_fd(fz->f, tc), &opts);
	/* The skb test run refuses frames too short for the L3 header their ethertype names;
	 * nothing ran, nothing counted. */
	if (tc && ret == -EINVAL && n < 64)
		return;
	if (ret)
		fail_msg("BPF_PROG_TEST_RUN (%s, %zu bytes): %s", tc ? "tc" : "xdp", n,
			 strerror(-ret));
	if (tc) {
		assert_true(opts.retval == (uint32_t)TC_ACT_UNSPEC || opts.retval == TC_ACT_SHOT);
		drop = opts.retval == TC_ACT_SHOT;
		fz->tc_runs++;
	} else {
		assert_true(opts.retval == XDP_PASS || opts.retval == XDP_DROP);
		drop = opts.retval == XDP_DROP;
		fz->xdp_runs++;
	}
	fuzz_check(fz, tc ? "tc test run" : "xdp test run", f, n, want, drop, "");
}

static int fuzz_any_counter_rose(struct fuzz *fz)
{
	uint64_t now[FILTER_CNT__MAX];

	fuzz_read_counters(fz, now);
	return memcmp(now, fz->counters, sizeof(now)) != 0;
}

/* One frame into the veth: hdr_len bytes of it linear, the rest in pages. The verdict is
 * the counter that rose (the frame is judged in softirq, normally before send returns). */
static void fuzz_veth(struct fuzz *fz, uint32_t lin_pick, const uint8_t *f, size_t n,
		      struct ref_verdict want)
{
	struct virtio_net_hdr vh = {.gso_type = VIRTIO_NET_HDR_GSO_NONE};
	struct iovec iov[2] = {{&vh, sizeof(vh)}, {(void *)f, n}};
	struct timespec t0, t, pause = {0, 20000}, backoff = {0, 1000000};
	char extra[48];
	uint32_t lin;
	int cnt, tries;

	switch (lin_pick % 4) {
	case 0:
		lin = 14; /* only the Ethernet header is linear */
		break;
	case 1:
		lin = 14 + lin_pick / 4 % 64;
		break;
	case 2:
		lin = 14 + lin_pick / 4 % 512;
		break;
	default:
		lin = (uint32_t)n;
	}
	vh.hdr_len = (uint16_t)lin;
	/* ENOBUFS: the receiving CPU's backlog (shared with every namespace on the host) was
	 * full and the frame was dropped before tc saw it; try again, a bounded number of times. */
	for (tries = 0; writev(fz->veth_fd, iov, 2) != (ssize_t)(sizeof(vh) + n); tries++) {
		if (errno != ENOBUFS || tries == 1000)
			fail_msg("AF_PACKET send of frame %lu (%zu bytes, %u linear) on " VETH_TX
				 ": %s",
				 fz->frames, n, lin, strerror(errno));
		fz->veth_retries++;
		nanosleep(&backoff, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (fuzz_any_counter_rose(fz))
			break;
		nanosleep(&pause, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 2);
	fz->veth_runs++;
	snprintf(extra, sizeof(extra), ", %u bytes linear", lin);
	cnt = fuzz_counter_rose(fz);
	/* Only the counter tells the verdict here. */
	if (cnt != (int)want.cnt)
		fuzz_report(fz, "tc on veth", f, n, want,
			    cnt >= 0 && filter_counter_name(cnt)[0] == 'd', cnt, extra);
}

/* ---------------------------------------------------------------- set-up */

static void conf_prefix(struct filter_prefix *fp, const char *text)
{
	const char *why;

	assert_int_equal(prefix_parse(text, &fp->prefix, &why), 0);
	fp->line = 1;
}

/* Rule set variant v (0..3); the prefixes and ports are the same in all. */
static struct config *fuzz_conf(int v, int veth)
{
	static const char *const deny[] = {"198.18.66.0/24", "198.18.70.9/32", "2001:2:0:bad0::/60",
					   "10.0.0.0/8"};
	static const char *const allow[] = {"198.18.66.7/32", "198.18.70.0/24",
					    "2001:2:0:bad1::/64", "10.1.0.0/16"};
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct filter_conf *fc;
	const char *why;
	size_t i;

	assert_non_null(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "fuzz.conf");
	cfg->n_relays = 1;
	cfg->relays[0].n_listen = 3;
	assert_int_equal(addr_parse("*:5000", &cfg->relays[0].listen[0], &why), 0);
	assert_int_equal(addr_parse("[::]:5001", &cfg->relays[0].listen[1], &why), 0);
	assert_int_equal(addr_parse("*:5002", &cfg->relays[0].listen[2], &why), 0);
	fc = &cfg->filter;
	fc->mode = FILTER_MODE_TC;
	if (veth) {
		snprintf(fc->interfaces[0], sizeof(fc->interfaces[0]), VETH_RX);
		fc->n_interfaces = 1;
	}
	fc->default_verdict = v & 1 ? FILTER_VERDICT_DENY : FILTER_VERDICT_ALLOW;
	fc->scope = v >= 2 ? FILTER_SCOPE_UDP : FILTER_SCOPE_RELAYS;
	fc->relay_ports_only = v == 3;
	for (i = 0; i < sizeof(deny) / sizeof(deny[0]); i++)
		conf_prefix(&fc->deny[fc->n_deny++], deny[i]);
	for (i = 0; i < sizeof(allow) / sizeof(allow[0]); i++)
		conf_prefix(&fc->allow[fc->n_allow++], allow[i]);
	fc->ports[fc->n_ports++] = (struct filter_port_rule){5001, 5001, FILTER_VERDICT_ALLOW, 1};
	fc->ports[fc->n_ports++] = (struct filter_port_rule){5002, 5002, FILTER_VERDICT_DENY, 1};
	fc->ports[fc->n_ports++] = (struct filter_port_rule){6000, 6010, FILTER_VERDICT_DENY, 1};
	fc->ports[fc->n_ports++] = (struct filter_port_rule){7000, 7005, FILTER_VERDICT_ALLOW, 1};
	fc->ports[fc->n_ports++] = (struct filter_port_rule){6005, 7002, FILTER_VERDICT_ALLOW, 1};
	return cfg;
}

/* A veth pair in a network namespace of our own (it dies with the process, whatever
 * happens): VETH_TX to send from, VETH_RX for the filter. No IPv6, no addresses, so the only
 * frames crossing are ours. Returns 0 or -1 (the veth path is then skipped). */
static int fuzz_veth_netns(void)
{
	static const char *const sysctls[] = {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
					      "/proc/sys/net/ipv6/conf/default/disable_ipv6"};
	size_t i;

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "# veth path skipped: unshare(CLONE_NEWNET): %s\n",
			strerror(errno));
		return -1;
	}
	for (i = 0; i < 2; i++) {
		FILE *fp = fopen(sysctls[i], "w");

		if (fp) {
			fputs("1\n", fp);
			fclose(fp);
		}
	}
	if (system("ip link add " VETH_TX " mtu 65000 type veth peer name " VETH_RX " mtu 65000"
		   " && ip link set " VETH_TX " up && ip link set " VETH_RX " up") != 0) {
		fprintf(stderr, "# veth path skipped: cannot create a veth pair with ip(8)\n");
		return -1;
	}
	return 0;
}

static int fuzz_packet_socket(int ifindex)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = ifindex};
	int fd, on = 1;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* protocol 0: send only */
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(on)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Installs rule set v through filter_update, then its unparsed verdict behind the loader's
 * back (the config setting is not wired yet; src/filter.c has the default). */
static void fuzz_set_rules(struct fuzz *fz, int v)
{
	int afd = filter_map_fd(fz->f, "filter_active"),
	    sfd = filter_map_fd(fz->f, "filter_settings");
	char err[CONFIG_ERR_LEN];
	struct filter_settings s;
	uint32_t zero = 0, gen;

	fz->variant = v;
	if (filter_update(fz->f, fz->cfg[v], err, sizeof(err)) < 0)
		fail_msg("filter_update: %s", err);
	assert_int_equal(bpf_map_lookup_elem(afd, &zero, &gen), 0);
	assert_int_equal(bpf_map_lookup_elem(sfd, &gen, &s), 0);
	s.unparsed_drop = (uint32_t)fz->unparsed_drop[v];
	assert_int_equal(bpf_map_update_elem(sfd, &gen, &s, BPF_ANY), 0);
}

/* Empties filter_frags and its model. */
static void fuzz_frags_reset(struct fuzz *fz)
{
	uint8_t key[REF_FRAG_KEY];

	while (bpf_map_get_next_key(fz->frags_fd, NULL, key) == 0)
		assert_int_equal(bpf_map_delete_elem(fz->frags_fd, key), 0);
	fz->ref_frags.n = 0;
}

static uint64_t fuzz_seed(void)
{
	const char *s = getenv("FILTER_FUZZ_SEED");
	struct timespec t;

	if (s && !strcmp(s, "random")) {
		clock_gettime(CLOCK_REALTIME, &t);
		return (uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 20) ^ (uint64_t)getpid();
	}
	return s && *s ? strtoull(s, NULL, 0) : 1;
}

static void test_fuzz(void **state)
{
	static uint8_t frame[FUZZ_FRAME_MAX];
	const char *secs_env = getenv("FILTER_FUZZ_SECONDS");
	double secs = secs_env ? atof(secs_env) : 0;
	struct fuzz *fz = calloc(1, sizeof(*fz));
	struct timespec t0, t;
	char err[CONFIG_ERR_LEN];
	struct ref_verdict want;
	struct rng g = {0};
	int v, veth, c, big;
	uint32_t lin_pick;
	size_t n;
	double el;

	assert_non_null(fz);
	fz->seed = fuzz_seed();
	g.s = fz->seed;
	veth = fuzz_veth_netns() == 0;
	for (v = 0; v < 4; v++) {
		fz->cfg[v] = fuzz_conf(v, veth);
		fz->unparsed_drop[v] = v == 0 || v == 3;
	}
	if (veth) {
		if (filter_new(fz->cfg[0], &fz->f, err, sizeof(err)) < 0)
			fail_msg("filter_new on " VETH_RX ": %s", err);
		fz->veth_ifindex = (int)if_nametoindex(VETH_TX);
		fz->veth_fd = fuzz_packet_socket(fz->veth_ifindex);
		if (fz->veth_fd < 0)
			fail_msg("AF_PACKET socket on " VETH_TX ": %s", strerror(errno));
	} else {
		if (filter_open(fz->cfg[0], &fz->f, err, sizeof(err)) < 0)
			fail_msg("filter_open: %s", err);
		fz->veth_fd = -1;
	}
	fz->cnt_fd = filter_map_fd(fz->f, "filter_counters");
	fz->frags_fd = filter_map_fd(fz->f, "filter_frags");
	assert_true(fz->frags_fd >= 0);
	fz->ncpus = libbpf_num_possible_cpus();
	fz->vals = calloc((size_t)fz->ncpus, sizeof(*fz->vals));
	assert_non_null(fz->vals);
	fuzz_read_counters(fz, fz->counters);
	printf("# filter fuzz: seed %llu, %s%s\n", (unsigned long long)fz->seed,
	       secs > 0 ? "timed run" : "short run",
	       veth ? ", tc also on a veth (non-linear skbs)" : ", no veth path");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (fz->frames % 500 == 0) /* a new rule set every 500 frames */
			fuzz_set_rules(fz, (int)((fz->frames / 500) % 4));
		if (fz->frames % FUZZ_FRAG_RESET == 0)
			fuzz_frags_reset(fz);
		/* The same frames with or without the veth path, so a seed repeats anywhere. */
		big = chance(&g, 12);
		lin_pick = (uint32_t)rnd(&g);
		n = gen_frame(&g, frame, big);
		want = ref_decide(fz->cfg[fz->variant], fz->unparsed_drop[fz->variant],
				  &fz->ref_frags, frame, n);
		fz->by_cnt[want.cnt]++;
		fuzz_test_run(fz, 0, frame, n, want);
		if (n <= TC_TEST_RUN_MAX)
			fuzz_test_run(fz, 1, frame, n, want);
		if (veth && n >= VETH_MIN_FRAME)
			fuzz_veth(fz, lin_pick, frame, n, want);
		fz->frames++;
		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
		if (secs > 0 ? el >= secs : fz->frames >= FUZZ_SHORT_FRAMES)
			break;
	}
	printf("# filter fuzz: %lu frames in %.1f s: %lu xdp runs, %lu tc runs, %lu on the veth "
	       "(%lu resent after ENOBUFS); %lu mismatches\n#   reference verdicts:",
	       fz->frames, el, fz->xdp_runs, fz->tc_runs, fz->veth_runs, fz->veth_retries,
	       fz->mismatches);
	for (c = 0; c < FILTER_CNT__MAX; c++)
		printf(" %s=%lu", filter_counter_name(c), fz->by_cnt[c]);
	printf("\n");
	if (fz->mismatches)
		fail_msg("%lu verdicts differ from the reference (seed %llu; rerun with "
			 "FILTER_FUZZ_SEED=%llu)",
			 fz->mismatches, (unsigned long long)fz->seed,
			 (unsigned long long)fz->seed);
	/* Every reason the reference can give came up at least once in the short run.
	 * (pass_no_mac needs an skb whose protocol is not its frame's ethertype, which neither
	 * BPF_PROG_TEST_RUN nor a veth makes: test_offload.sh nogeneric_case checks it.) */
	for (c = 0; c < FILTER_CNT__MAX; c++)
		if (c != FILTER_CNT_DROP_RATE && c != FILTER_CNT_PASS_NO_MAC && !fz->by_cnt[c])
			fail_msg("the generator never produced a %s frame", filter_counter_name(c));
	if (fz->veth_fd >= 0)
		close(fz->veth_fd);
	filter_free(fz->f);
	for (v = 0; v < 4; v++)
		free(fz->cfg[v]);
	free(fz->vals);
	free(fz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fuzz),
	};
	struct config *cfg;
	struct filter *f;
	char err[CONFIG_ERR_LEN];

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: test_bpf_filter_fuzz needs root\n");
		return 77;
	}
	log_set_level(LOG_LVL_WARN);
	cfg = fuzz_conf(0, 0);
	if (filter_open(cfg, &f, err, sizeof(err)) < 0) {
		/* as root a load that fails is the verifier refusing the program */
		fprintf(stderr, "FAIL: cannot load the filter: %s\n", err);
		free(cfg);
		return 1;
	}
	filter_free(f);
	free(cfg);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
