// SPDX-License-Identifier: MIT
/* ringrelay's packet filter: one decision body run from XDP or tc ingress. It judges only UDP
 * addressed to a relay (or all UDP with scope "udp"); everything else passes untouched, so ARP,
 * ND, ICMP, SSH and the host's other services keep working whatever the rules say.
 * See docs/filter.md for the fragment policy and the rate-limit semantics. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "filter_maps.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} filter_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FILTER_GENS);
	__type(key, __u32);
	__type(value, struct filter_settings);
} filter_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FILTER_GENS * 2 * FILTER_MAP_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct filter_lpm_key);
	__type(value, struct filter_lpm_val);
} filter_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FILTER_GENS *FILTER_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} filter_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FILTER_RATE_ENTRIES);
	__type(key, struct filter_rate_key);
	__type(value, struct filter_rate_val);
} filter_rate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FILTER_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} filter_counters SEC(".maps");

/* Hits per rule and generation: index gen * FILTER_RULES + rule id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FILTER_GENS *FILTER_RULES);
	__type(key, __u32);
	__type(value, __u64);
} filter_rule_hits SEC(".maps");

enum filter_action { ACT_PASS, ACT_DROP };

/* What the parser found, the same for both families. */
struct pkt {
	__u8 saddr[16]; /* IPv4-mapped */
	__u16 dport;	/* host order */
	__u8 is_udp;
	__u8 frag_later; /* a non-first fragment: no UDP header in this frame */
	__u8 udp_bad;	 /* UDP length disagrees with the IP payload */
	__u8 ext_overflow;
};

/* Cursor-advancing, bounds-checked header access (xdp-tools' parsing helpers). */
struct cursor {
	void *pos;
	void *end;
};

#define CURSOR_TAKE(c, type)                                                                       \
	({                                                                                         \
		type *__h = (c)->pos;                                                              \
		if ((void *)(__h + 1) > (c)->end)                                                  \
			__h = NULL;                                                                \
		else                                                                               \
			(c)->pos = __h + 1;                                                        \
		__h;                                                                               \
	})

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct ext_hdr {
	__u8 next;
	__u8 len;
	__be16 frag_off; /* only meaningful for the fragment header */
};

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&filter_counters, &idx);

	if (v)
		*v += 1;
}

static __always_inline void count_rule(__u32 gen, __u32 rule)
{
	__u32 idx = gen * FILTER_RULES + rule;
	__u64 *v;

	if (rule >= FILTER_RULES)
		return;
	v = bpf_map_lookup_elem(&filter_rule_hits, &idx);
	if (v)
		*v += 1;
}

/* Returns the L3 ethertype after up to two VLAN tags (802.1Q or QinQ), or 0. */
static __always_inline __u16 parse_eth(struct cursor *c)
{
	struct ethhdr *eth = CURSOR_TAKE(c, struct ethhdr);
	struct vlan_hdr *vh;
	__u16 proto;
	int i;

	if (!eth)
		return 0;
	proto = bpf_ntohs(eth->h_proto);
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		vh = CURSOR_TAKE(c, struct vlan_hdr);
		if (!vh)
			return 0;
		proto = bpf_ntohs(vh->proto);
	}
	return proto;
}

/* UDP header checks shared by both families; payload_len is what the IP header says follows. */
static __always_inline void parse_udp(struct cursor *c, struct pkt *p, __u32 payload_len)
{
	struct udphdr *uh = CURSOR_TAKE(c, struct udphdr);
	__u16 ulen;

	p->is_udp = 1;
	if (!uh) {
		p->udp_bad = 1;
		return;
	}
	p->dport = bpf_ntohs(uh->dest);
	ulen = bpf_ntohs(uh->len);
	/* The stack trims IP padding after the UDP length, so shorter is legal; longer or below
	 * the header size is a datagram the kernel would discard. */
	if (ulen < sizeof(*uh) || ulen > payload_len)
		p->udp_bad = 1;
}

/* Returns 0, or -1 when the headers are unusable (the stack will reject them itself). */
static __always_inline int parse_ipv4(struct cursor *c, struct pkt *p)
{
	struct iphdr *ih = CURSOR_TAKE(c, struct iphdr);
	__u32 hlen, tot;
	__u16 frag;

	if (!ih || ih->version != 4 || ih->ihl < 5)
		return -1;
	hlen = ih->ihl * 4;
	tot = bpf_ntohs(ih->tot_len);
	c->pos = (void *)ih + hlen;
	if (c->pos > c->end || tot < hlen || (void *)ih + tot > c->end)
		return -1;
	/* v4-mapped: ::ffff:a.b.c.d */
	__builtin_memset(p->saddr, 0, 10);
	p->saddr[10] = 0xff;
	p->saddr[11] = 0xff;
	__builtin_memcpy(&p->saddr[12], &ih->saddr, 4);
	if (ih->protocol != IPPROTO_UDP)
		return 0;
	frag = bpf_ntohs(ih->frag_off);
	if (frag & 0x1fff) {
		p->is_udp = 1;
		p->frag_later = 1;
		return 0;
	}
	parse_udp(c, p, tot - hlen);
	return 0;
}

static __always_inline int parse_ipv6(struct cursor *c, struct pkt *p)
{
	struct ipv6hdr *ih = CURSOR_TAKE(c, struct ipv6hdr);
	struct ext_hdr *eh;
	__u32 left;
	__u8 next;
	int i;

	if (!ih || ih->version != 6)
		return -1;
	left = bpf_ntohs(ih->payload_len);
	if ((void *)(ih + 1) + left > c->end)
		return -1;
	__builtin_memcpy(p->saddr, &ih->saddr, 16);
	next = ih->nexthdr;
	/* Walk extension headers only; the transport is handled once after the loop, which
	 * keeps the verifier's path count small. */
#pragma unroll
	for (i = 0; i < FILTER_MAX_EXT_HEADERS; i++) {
		__u32 len;

		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_AH && next != IPPROTO_FRAGMENT)
			break;
		eh = CURSOR_TAKE(c, struct ext_hdr);
		if (!eh)
			return -1;
		if (next == IPPROTO_FRAGMENT) {
			/* Fixed 8 bytes; a later fragment has no UDP header to judge. */
			if (bpf_ntohs(eh->frag_off) & 0xfff8) {
				if (eh->next == IPPROTO_UDP) {
					p->is_udp = 1;
					p->frag_later = 1;
				}
				return 0;
			}
			len = 8;
		} else if (next == IPPROTO_AH) {
			len = (eh->len + 2) * 4; /* 4-byte units minus 2 */
		} else {
			len = (eh->len + 1) * 8; /* 8-byte units minus 1 */
		}
		if (left < len)
			return -1;
		left -= len;
		c->pos = (void *)eh + len;
		if (c->pos > c->end)
			return -1;
		next = eh->next;
	}
	if (next == IPPROTO_UDP)
		parse_udp(c, p, left);
	else if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
		 next == IPPROTO_AH || next == IPPROTO_FRAGMENT)
		p->ext_overflow = 1;
	/* Anything else (ICMPv6/ND, TCP, ESP, no next header) is not ours. */
	return 0;
}

static __always_inline int is_v4(const struct pkt *p)
{
	__u8 z = 0;
	int i;

#pragma unroll
	for (i = 0; i < 10; i++)
		z |= p->saddr[i];
	return !z && p->saddr[10] == 0xff && p->saddr[11] == 0xff;
}

/* GCRA token bucket; see filter_maps.h. Shared by all CPUs: a lost race lets through at most
 * one extra datagram per concurrently running CPU (docs/filter.md). */
static __always_inline int rate_exceeded(const struct filter_settings *s, const struct pkt *p)
{
	const __u8 *mask = is_v4(p) ? s->rate_mask4 : s->rate_mask6;
	struct filter_rate_val *b, init;
	struct filter_rate_key key;
	__u64 now = bpf_ktime_get_ns(), tat;
	int i;

#pragma unroll
	for (i = 0; i < 16; i++)
		key.addr[i] = p->saddr[i] & mask[i];
	b = bpf_map_lookup_elem(&filter_rate, &key);
	if (!b) {
		init.tat_ns = now + s->rate_interval_ns;
		bpf_map_update_elem(&filter_rate, &key, &init, BPF_NOEXIST);
		return s->rate_burst_ns < s->rate_interval_ns;
	}
	tat = b->tat_ns;
	if (tat < now) {
		/* Idle bucket: restart from now (a racing add may be lost; it only helps the
		 * sender by one datagram). */
		b->tat_ns = now;
		tat = now;
	}
	if (tat + s->rate_interval_ns - now > s->rate_burst_ns)
		return 1;
	__sync_fetch_and_add(&b->tat_ns, s->rate_interval_ns);
	return 0;
}

/* Judges one UDP datagram of generation gen. Returns the counter to bump and the action. */
static __always_inline enum filter_action judge(__u32 gen, const struct filter_settings *s,
						const struct pkt *p, __u32 *cnt)
{
	struct filter_lpm_key key = {.prefixlen = FILTER_LPM_GEN_BITS + 128};
	struct filter_lpm_val *rule;
	__u32 pidx, port = 0, deny;

	key.data[0] = (__u8)gen;
	__builtin_memcpy(&key.data[1], p->saddr, 16);
	rule = bpf_map_lookup_elem(&filter_prefixes, &key);

	if (p->frag_later) {
		/* No ports to scope by: only an explicit deny prefix drops it. The first
		 * fragment carries the ports and gets the full judgement, so a denied datagram
		 * never reassembles (docs/filter.md). */
		if (rule && rule->verdict == FILTER_RULE_DENY) {
			count_rule(gen, rule->rule);
			*cnt = FILTER_CNT_DROP_FRAGMENT;
			return ACT_DROP;
		}
		*cnt = FILTER_CNT_PASS_FRAGMENT;
		return ACT_PASS;
	}

	pidx = gen * FILTER_PORTS + p->dport;
	{
		__u32 *v = bpf_map_lookup_elem(&filter_ports, &pidx);

		if (v)
			port = *v;
	}
	if (s->scope == FILTER_SCOPE_KIND_RELAYS && !(port & FILTER_PORT_RELAY)) {
		*cnt = FILTER_CNT_PASS_OUT_OF_SCOPE;
		return ACT_PASS;
	}
	if (p->udp_bad) {
		*cnt = FILTER_CNT_DROP_MALFORMED;
		return ACT_DROP;
	}
	if (s->relay_ports_only && !(port & FILTER_PORT_RELAY)) {
		*cnt = FILTER_CNT_DROP_NOT_RELAY_PORT;
		return ACT_DROP;
	}
	if (port & FILTER_PORT_RULE) {
		count_rule(gen, FILTER_RULE_PORT_BASE + (port >> FILTER_PORT_RULE_SHIFT));
		if (port & FILTER_PORT_DENY) {
			*cnt = FILTER_CNT_DROP_PORT;
			return ACT_DROP;
		}
		/* An allow port rule exempts the port from the prefix rules, not from the rate
		 * limit. */
	} else {
		if (rule) {
			count_rule(gen, rule->rule);
			deny = rule->verdict == FILTER_RULE_DENY;
		} else {
			deny = s->default_deny;
		}
		if (deny) {
			*cnt = rule ? FILTER_CNT_DROP_PREFIX : FILTER_CNT_DROP_DEFAULT;
			return ACT_DROP;
		}
	}
	if (s->rate_interval_ns && rate_exceeded(s, p)) {
		*cnt = FILTER_CNT_DROP_RATE;
		return ACT_DROP;
	}
	*cnt = FILTER_CNT_ALLOW;
	return ACT_PASS;
}

static __always_inline enum filter_action filter_body(void *data, void *data_end)
{
	struct cursor c = {.pos = data, .end = data_end};
	struct pkt p = {};
	const struct filter_settings *s;
	enum filter_action act = ACT_PASS;
	__u32 zero = 0, gen, *active, cnt;
	__u16 proto;
	int ret;

	proto = parse_eth(&c);
	if (proto == ETH_P_IP)
		ret = parse_ipv4(&c, &p);
	else if (proto == ETH_P_IPV6)
		ret = parse_ipv6(&c, &p);
	else
		ret = 1;

	if (ret > 0) {
		cnt = FILTER_CNT_PASS_NOT_IP;
	} else if (ret < 0) {
		cnt = FILTER_CNT_PASS_UNPARSED;
	} else if (p.ext_overflow) {
		/* We cannot show it is not UDP to a relay, and the kernel would accept it. */
		cnt = FILTER_CNT_DROP_EXT_HEADERS;
		act = ACT_DROP;
	} else if (!p.is_udp) {
		cnt = FILTER_CNT_PASS_NOT_UDP;
	} else {
		active = bpf_map_lookup_elem(&filter_active, &zero);
		gen = active ? *active & 1 : 0;
		s = bpf_map_lookup_elem(&filter_settings, &gen);
		if (!s)
			cnt = FILTER_CNT_PASS_UNPARSED;
		else
			act = judge(gen, s, &p, &cnt);
	}
	/* Counting wraps the verdict: every packet bumps exactly one reason. */
	count(cnt);
	return act;
}

SEC("xdp")
int filter_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	return filter_body(data, data_end) == ACT_DROP ? XDP_DROP : XDP_PASS;
}

SEC("tc")
int filter_tc(struct __sk_buff *skb)
{
	/* Headers may sit in paged data; pull what the parser can ever read (QinQ + IPv6 +
	 * six 8-byte-aligned extension headers need more, but those are the rare cases). */
	if (skb->data_end - skb->data < 256 && skb->len > skb->data_end - skb->data)
		bpf_skb_pull_data(skb, skb->len < 256 ? skb->len : 256);
	return filter_body((void *)(long)skb->data, (void *)(long)skb->data_end) == ACT_DROP
		   ? TC_ACT_SHOT
		   : TC_ACT_OK;
}
