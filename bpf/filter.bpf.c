// SPDX-License-Identifier: MIT
/* ringrelay's packet filter: one decision body run from XDP or tc ingress. It judges only UDP
 * addressed to a relay (or all UDP with scope "udp"); other traffic it can read passes
 * untouched, so ARP, ND, ICMP, SSH and the host's other services keep working whatever the
 * rules say. An IP frame it cannot read through to the UDP header gets the "unparsed" verdict
 * (default drop), never a silent pass. docs/filter.md has the table of what happens to each
 * kind of frame, the fragment policy and the rate-limit semantics. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <linux/if_vlan.h>
#include <linux/if_packet.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

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

/* First fragments' verdicts for their later fragments (filter_maps.h). Only fragments touch
 * it: a first fragment updates, a later one looks up. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FILTER_FRAG_ENTRIES);
	__type(key, struct filter_frag_key);
	__type(value, struct filter_frag_val);
} filter_frags SEC(".maps");

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

/* ---------------------------------------------------------------- fast-path maps */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RR_IFACES_MAX);
	__type(key, __u32);
	__type(value, struct rr_iface);
} rr_ifaces SEC(".maps");

/* Sized by the loader: two entries (one per direction) per session slot. Preallocated: an
 * element can be reused while a program reads it either way (offload_prepare checks). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2);
	__type(key, struct offload_key);
	__type(value, struct offload_rule);
} offload_sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct offload_flow_stats);
} offload_stats SEC(".maps");

/* XDP redirect targets: the egress devices the loader checked can take XDP_REDIRECT. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, RR_IFACES_MAX);
	__type(key, __u32);
	__type(value, __u32);
} offload_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OFFLOAD_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} offload_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RR_IFACES_MAX);
	__type(key, __u32);
	__type(value, struct offload_xmit_val);
} offload_xmit SEC(".maps");

/* Redirect targets that refused a frame (the kernel checks NDO_XMIT at enqueue: a veth whose
 * peer lost its NAPI): marked by the tracepoint below, so the next frames for them go up the
 * stack (pass_no_tx) instead of into the same hole, until user space sees the device take
 * XDP_REDIRECT again and clears the mark. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RR_IFACES_MAX);
	__type(key, __u32);
	__type(value, __u32);
} offload_tx_down SEC(".maps");

/* ---------------------------------------------------------------- early-shedding maps */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHED_LISTENERS_MAX);
	__type(key, struct shed_listener_key);
	__type(value, struct shed_listener);
} shed_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHED_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} shed_counters SEC(".maps");

/* Datagrams shed per relay slot and reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SHED_SLOTS * SHED_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} shed_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shed_gate);
} shed_gate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SHED_FLOWS);
	__type(key, struct offload_key);
	__type(value, struct shed_flow);
} shed_flows SEC(".maps");

enum filter_action { ACT_PASS, ACT_DROP };

/* What the parser made of a frame. */
enum pkt_kind {
	PKT_NOT_IP,	/* not IPv4/IPv6 after the tags, or too short to carry its own tags */
	PKT_UNPARSED,	/* IP (or a VLAN stack deeper than we walk) not readable through to UDP */
	PKT_EXT_DEEP,	/* IPv6 still in extension headers after FILTER_MAX_EXT_HEADERS */
	PKT_NOT_UDP,	/* ICMP, TCP, ESP, ...: not ours */
	PKT_FRAG_LATER, /* a non-first fragment: the source is known, the ports are not */
	PKT_UDP,	/* the UDP header was read: dport is set */
};

/* What the parser found, the same for both families. */
struct pkt {
	union {
		__u8 saddr[16]; /* IPv4-mapped; always set */
		/* The datagram's reassembly key (frag.saddr is saddr): daddr and id are set for
		 * fragments only, so whole datagrams pay nothing for them. */
		struct filter_frag_key frag;
	};
	__u16 dport;	/* host order */
	__u8 udp_bad;	/* UDP length impossible for the datagram (or the one it reassembles to) */
	__u8 first_frag; /* a first fragment (set however far the parse got after the IP header
			  * or the fragment header): its verdict may be kept for the later ones */
	__u16 ulen;	 /* tc, UDP: the UDP length as read (udp_segs) */
};

/* Where the headers come from. Every read goes through the load helpers, which copy from the
 * linear part, XDP frags and paged skb data alike, so a frame is judged the same whatever
 * the driver or GRO left in the linear area (a bounds check against data_end would fail on
 * a non-linear frame and judge it by less than its headers). tc is a compile-time constant
 * of each wrapper, so each program contains only its own helper. */
struct hdr_src {
	void *ctx;
	__u32 len;  /* bytes in the whole frame, Ethernet header included */
	int tc;
	__u32 segs; /* datagrams it carries: a GRO or GSO skb's gso_segs in tc, else 1 (but see
		     * udp_segs) */
};

/* A GRO or GSO skb carries gso_segs datagrams (0 on one that is neither). */
static __always_inline __u32 tc_segs(const struct __sk_buff *skb)
{
	return skb->gso_segs > 1 ? skb->gso_segs : 1;
}

/* The UDP payload the stack keeps of a datagram with UDP length ulen and avail bytes from its
 * UDP header on: udp_rcv trims it to ulen (one below the header's size is dropped: 0 here). */
static __always_inline __u32 udp_payload(__u32 ulen, __u32 avail)
{
	if (ulen < sizeof(struct udphdr))
		return 0;
	return (ulen < avail ? ulen : avail) - sizeof(struct udphdr);
}

/* The datagrams of a UDP frame with payload bytes of UDP payload: h->segs, but for a GSO skb
 * whose gso_segs is 0 as many as the segmenter will cut from its payload in gso_size pieces.
 * virtio_net_hdr_to_skb (a tap or virtio device: a VM's UDP_SEGMENT send, an AF_PACKET
 * sender with a vnet header) leaves that count to the segmenter (SKB_GSO_DODGY), and nothing
 * makes it before tc. Computed after the parse from what it read, not in it: a value the
 * parser computes with branches differs between its paths, and the verifier then walks the
 * rest of the program once for each (tc's processed instructions rose by half). */
static __always_inline __u32 udp_segs(const struct hdr_src *h, __u32 payload)
{
	struct __sk_buff *skb = h->ctx;
	__u32 gso;

	if (!h->tc || skb->gso_segs)
		return h->segs;
	gso = skb->gso_size;
	if (!gso || payload <= gso)
		return h->segs;
	return (payload + gso - 1) / gso;
}

static __always_inline int load(const struct hdr_src *h, __u32 off, void *to, __u32 len)
{
	if (h->tc)
		return bpf_skb_load_bytes(h->ctx, off, to, len);
	return bpf_xdp_load_bytes(h->ctx, off, to, len);
}

/* The first 8 bytes of an extension header (each is at least that long). */
struct ext_hdr {
	__u8 next;
	__u8 len;
	__be16 frag_off; /* only meaningful for the fragment header */
	__be32 id;	 /* ditto */
};

/* The largest IP payload a datagram can reassemble to (the 16-bit length fields). */
#define IP_MAX_PAYLOAD 65535
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define IP6_OFFSET 0xfff8
#define IP6_MF 0x0001

static __always_inline void count_n(__u32 idx, __u32 n)
{
	__u64 *v = bpf_map_lookup_elem(&filter_counters, &idx);

	if (v)
		*v += n;
}

/* A rule's hits, by the datagrams the frame carries. */
static __always_inline void count_rule(__u32 gen, __u32 rule, __u32 segs)
{
	__u32 idx = gen * FILTER_RULES + rule;
	__u64 *v;

	if (rule >= FILTER_RULES)
		return;
	v = bpf_map_lookup_elem(&filter_rule_hits, &idx);
	if (v)
		*v += segs;
}

static __always_inline int is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* Walks the Ethernet header and up to max_tags VLAN tags. Returns the L3 ethertype (network
 * order) with *off at the L3 header; 0 when the frame is too short for its own tags (the
 * stack drops it untagging); a VLAN ethertype when the stack goes deeper than max_tags. */
static __always_inline __be16 parse_eth(const struct hdr_src *h, __u32 *off, __u32 max_tags)
{
	__be16 proto;
	__u32 i;

	if (load(h, 12, &proto, sizeof(proto)))
		return 0;
	*off = ETH_HLEN;
	for (i = 0; i < FILTER_MAX_VLAN_TAGS && i < max_tags; i++) {
		if (!is_vlan(proto))
			break;
		/* A tag is TCI then the next ethertype. */
		if (load(h, *off + 2, &proto, sizeof(proto)))
			return 0;
		*off += 4;
	}
	return proto;
}

/* The UDP header at off, with avail bytes of IP payload left from there; max_ulen is the
 * largest UDP length the datagram can have (this payload, or for a first fragment what it
 * may reassemble to). The stack trims a UDP length shorter than the payload (padding), so
 * shorter is legal; longer, or below the header size, is a datagram the kernel discards. */
static __always_inline enum pkt_kind parse_udp(const struct hdr_src *h, __u32 off, __u32 avail,
					       __u32 max_ulen, struct pkt *p)
{
	struct udphdr uh;
	__u16 ulen;

	if (avail < sizeof(uh) || load(h, off, &uh, sizeof(uh)))
		return PKT_UNPARSED;
	p->dport = bpf_ntohs(uh.dest);
	ulen = bpf_ntohs(uh.len);
	p->udp_bad = ulen < sizeof(uh) || ulen > max_ulen;
	if (h->tc) /* (only tc may see a super-packet) */
		p->ulen = ulen;
	return PKT_UDP;
}

static __always_inline enum pkt_kind parse_ipv4(const struct hdr_src *h, __u32 off, struct pkt *p)
{
	struct iphdr ih;
	__u32 hlen, tot;
	__u16 frag;

	if (load(h, off, &ih, sizeof(ih)) || ih.version != 4 || ih.ihl < 5)
		return PKT_UNPARSED;
	/* Before the lengths: an IPv4 BIG TCP aggregate (GRO or GSO over 64 KB) carries
	 * tot_len 0, which ip_rcv takes from the skb for TCP GSO only. IPv4 reassembly is keyed
	 * by protocol too, so a non-UDP fragment never joins a UDP datagram. */
	if (ih.protocol != IPPROTO_UDP)
		return PKT_NOT_UDP;
	/* The checks of the stack's ip_rcv: a frame failing them is dropped there. */
	hlen = ih.ihl * 4;
	tot = bpf_ntohs(ih.tot_len);
	if (tot < hlen || off + tot > h->len)
		return PKT_UNPARSED;
	/* v4-mapped: ::ffff:a.b.c.d */
	__builtin_memset(p->saddr, 0, 10);
	p->saddr[10] = 0xff;
	p->saddr[11] = 0xff;
	__builtin_memcpy(&p->saddr[12], &ih.saddr, 4);
	frag = bpf_ntohs(ih.frag_off);
	if (frag & (IP_OFFSET | IP_MF)) {
		p->frag.daddr[10] = 0xff; /* daddr[0..9] are zero */
		p->frag.daddr[11] = 0xff;
		__builtin_memcpy(&p->frag.daddr[12], &ih.daddr, 4);
		p->frag.id = bpf_htonl(bpf_ntohs(ih.id));
		if (frag & IP_OFFSET)
			return PKT_FRAG_LATER;
		p->first_frag = 1;
	}
	/* A first fragment's UDP length covers the whole datagram, not this fragment. */
	return parse_udp(h, off + hlen, tot - hlen,
			 frag & IP_MF ? IP_MAX_PAYLOAD - hlen : tot - hlen, p);
}

static __always_inline int is_ext(__u8 next)
{
	return next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	       next == IPPROTO_AH || next == IPPROTO_FRAGMENT;
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

static __always_inline enum pkt_kind parse_ipv6(const struct hdr_src *h, __u32 off, struct pkt *p)
{
	struct ipv6hdr ih;
	struct ext_hdr eh;
	__u32 left, ext = 0, i;
	__u16 fo;
	__u8 next;

	/* ipv6_rcv's checks: version, payload within the frame (0 would be a jumbogram, which
	 * cannot arrive in a frame this size; it fails the walk below). */
	if (load(h, off, &ih, sizeof(ih)) || ih.version != 6)
		return PKT_UNPARSED;
	left = bpf_ntohs(ih.payload_len);
	off += sizeof(ih);
	if (off + left > h->len)
		return PKT_UNPARSED;
	__builtin_memcpy(p->saddr, &ih.saddr, 16);
	/* ipv6_rcv drops a v4-mapped source (::ffff:a.b.c.d), which the rules and the rate
	 * limit would take for that IPv4 address. */
	if (is_v4(p))
		return PKT_UNPARSED;
	next = ih.nexthdr;
	/* Walk extension headers only; the transport is handled once after the loop, which
	 * keeps the verifier's path count small. ext counts the header bytes that stay in the
	 * reassembled datagram (all but the fragment header). */
	for (i = 0; i < FILTER_MAX_EXT_HEADERS; i++) {
		__u32 len;

		if (!is_ext(next))
			break;
		if (left < 8 || load(h, off, &eh, sizeof(eh)))
			return PKT_UNPARSED;
		if (next == IPPROTO_FRAGMENT) {
			fo = bpf_ntohs(eh.frag_off);
			/* Reassembly is keyed by the first fragment header that is not atomic. */
			if (!p->first_frag && (fo & (IP6_OFFSET | IP6_MF))) {
				__builtin_memcpy(p->frag.daddr, &ih.daddr, 16);
				p->frag.id = eh.id;
			}
			/* A later fragment, whatever its next header says: reassembly takes the
			 * protocol from the first fragment. */
			if (fo & IP6_OFFSET) {
				p->first_frag = 0;
				return PKT_FRAG_LATER;
			}
			/* From here on a first fragment, whatever follows (UDP or not, unparsed):
			 * its later fragments are looked up whatever their next header. */
			p->first_frag |= fo & IP6_MF;
			len = 8;
		} else if (next == IPPROTO_AH) {
			len = (eh.len + 2) * 4; /* 4-byte units minus 2 */
			ext += len;
		} else {
			len = (eh.len + 1) * 8; /* 8-byte units minus 1 */
			ext += len;
		}
		if (left < len)
			return PKT_UNPARSED;
		left -= len;
		off += len;
		next = eh.next;
	}
	if (next == IPPROTO_UDP)
		return parse_udp(h, off, left, p->first_frag ? IP_MAX_PAYLOAD - ext : left, p);
	if (is_ext(next))
		return PKT_EXT_DEEP;
	/* Anything else (ICMPv6/ND, TCP, ESP, no next header) is not ours. */
	return PKT_NOT_UDP;
}

/* GCRA token bucket; see filter_maps.h. Shared by all CPUs: a lost race lets through at most
 * one extra datagram per concurrently running CPU (docs/filter.md). A frame of segs datagrams
 * (GRO, GSO) costs segs intervals, and passes or drops whole. */
static __always_inline int rate_exceeded(const struct filter_settings *s, const struct pkt *p,
					 __u32 segs)
{
	__u64 cost = s->rate_interval_ns * segs;
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
		if (s->rate_burst_ns < cost)
			return 1;
		init.tat_ns = now + cost;
		bpf_map_update_elem(&filter_rate, &key, &init, BPF_NOEXIST);
		return 0;
	}
	tat = b->tat_ns;
	if (tat < now) {
		/* Idle bucket: restart from now (a racing add may be lost; it only helps the
		 * sender by one datagram). */
		b->tat_ns = now;
		tat = now;
	}
	if (tat + cost - now > s->rate_burst_ns)
		return 1;
	__sync_fetch_and_add(&b->tat_ns, cost);
	return 0;
}

/* The longest prefix rule covering p's source in generation gen, or NULL. */
static __always_inline struct filter_lpm_val *prefix_rule(__u32 gen, const struct pkt *p)
{
	struct filter_lpm_key key = {.prefixlen = FILTER_LPM_GEN_BITS + 128};

	key.data[0] = (__u8)gen;
	__builtin_memcpy(&key.data[1], p->saddr, 16);
	return bpf_map_lookup_elem(&filter_prefixes, &key);
}

/* Keeps a first fragment's verdict for the later fragments of its datagram where it differs
 * from the one they get without it (a deny prefix drops, anything else passes), so that only
 * such first fragments pay the shared map's locked update and can evict others' entries. An
 * unparsed first fragment's pass is not kept: its ports are unknown. Otherwise an entry left
 * by an earlier datagram with the same key is deleted (a lookup takes no lock), so the newer
 * datagram never inherits its verdict. */
static __always_inline void frag_note(__u32 gen, const struct pkt *p, enum pkt_kind kind,
				      enum filter_action act)
{
	struct filter_lpm_val *rule = prefix_rule(gen, p);
	int drop = act == ACT_DROP, fallback_drop = rule && rule->verdict == FILTER_RULE_DENY;
	int keep = kind == PKT_UDP || kind == PKT_NOT_UDP || drop;
	struct filter_frag_val v = {};

	if (!keep || drop == fallback_drop) {
		if (bpf_map_lookup_elem(&filter_frags, &p->frag))
			bpf_map_delete_elem(&filter_frags, &p->frag);
		return;
	}
	v.first_ns = bpf_ktime_get_ns();
	v.verdict = drop ? FILTER_FRAG_DROP : FILTER_FRAG_PASS;
	bpf_map_update_elem(&filter_frags, &p->frag, &v, BPF_ANY);
}

/* The recorded verdict of a later fragment's first fragment: 1 found (*drop set), 0 none
 * (never seen, evicted, or older than the reassembly timeout: an earlier datagram's). */
static __always_inline int frag_lookup(const struct pkt *p, int *drop)
{
	struct filter_frag_val *v = bpf_map_lookup_elem(&filter_frags, &p->frag);
	__u64 max_age = is_v4(p) ? FILTER_FRAG_TIMEOUT4_NS : FILTER_FRAG_TIMEOUT6_NS;

	if (!v || bpf_ktime_get_ns() - v->first_ns > max_age)
		return 0;
	*drop = v->verdict == FILTER_FRAG_DROP;
	return 1;
}

/* Judges one UDP datagram of generation gen. Returns the counter to bump and the action. */
static __always_inline enum filter_action judge(__u32 gen, const struct filter_settings *s,
						const struct pkt *p, int frag_later, __u32 segs,
						__u32 *cnt)
{
	struct filter_lpm_val *rule;
	__u32 pidx, port = 0, deny;
	int drop;

	if (frag_later && frag_lookup(p, &drop)) {
		/* No ports to judge by: the datagram's verdict is its first fragment's (a drop
		 * is kept only for a source no deny prefix covers: no prefix rule hit). */
		*cnt = drop ? FILTER_CNT_DROP_FRAGMENT_OF_DROPPED : FILTER_CNT_PASS_FRAGMENT;
		return drop ? ACT_DROP : ACT_PASS;
	}

	rule = prefix_rule(gen, p);

	if (frag_later) {
		/* Its first fragment not seen (yet): only an explicit deny prefix drops it. The
		 * first fragment carries the ports and gets the full judgement, so a denied
		 * datagram never reassembles (docs/filter.md). */
		if (rule && rule->verdict == FILTER_RULE_DENY) {
			count_rule(gen, rule->rule, segs);
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
		count_rule(gen, FILTER_RULE_PORT_BASE + (port >> FILTER_PORT_RULE_SHIFT), segs);
		if (port & FILTER_PORT_DENY) {
			*cnt = FILTER_CNT_DROP_PORT;
			return ACT_DROP;
		}
		/* An allow port rule exempts the port from the prefix rules, not from the rate
		 * limit. */
	} else {
		if (rule) {
			count_rule(gen, rule->rule, segs);
			deny = rule->verdict == FILTER_RULE_DENY;
		} else {
			deny = s->default_deny;
		}
		if (deny) {
			*cnt = rule ? FILTER_CNT_DROP_PREFIX : FILTER_CNT_DROP_DEFAULT;
			return ACT_DROP;
		}
	}
	if (s->rate_interval_ns && rate_exceeded(s, p, segs)) {
		*cnt = FILTER_CNT_DROP_RATE;
		return ACT_DROP;
	}
	*cnt = FILTER_CNT_ALLOW;
	return ACT_PASS;
}

/* The verdict for a frame we cannot read through to its UDP header: its destination port is
 * unknown, so it may be addressed to a relay and no scope can exempt it. */
static __always_inline enum filter_action judge_unparsed(const struct filter_settings *s,
							 enum pkt_kind kind, __u32 *cnt)
{
	if (!s->unparsed_drop) {
		*cnt = FILTER_CNT_PASS_UNPARSED;
		return ACT_PASS;
	}
	*cnt = kind == PKT_EXT_DEEP ? FILTER_CNT_DROP_EXT_HEADERS : FILTER_CNT_DROP_UNPARSED;
	return ACT_DROP;
}

/* Whether a tc frame that parsed as not IP (its ethertype: proto) was handed from its IP
 * header: skb->protocol says IPv4 or IPv6 (docs/offload.md, pass_no_mac). */
static __always_inline int filter_no_mac(void *ctx, __be16 proto)
{
	__be16 said = ((struct __sk_buff *)ctx)->protocol;

	return said != proto && (said == bpf_htons(ETH_P_IP) || said == bpf_htons(ETH_P_IPV6));
}

/* One body for XDP and tc. vlan_taken: tags the stack already removed from the data. */
static __always_inline enum filter_action filter_body(const struct hdr_src *h, __u32 vlan_taken)
{
	const struct filter_settings *s;
	enum filter_action act = ACT_PASS;
	enum pkt_kind kind = PKT_NOT_IP;
	__u32 zero = 0, gen, *active, cnt, off = 0, segs = h->segs;
	struct pkt p = {};
	__be16 proto;

	proto = parse_eth(h, &off, FILTER_MAX_VLAN_TAGS - vlan_taken);
	if (proto == bpf_htons(ETH_P_IP))
		kind = parse_ipv4(h, off, &p);
	else if (proto == bpf_htons(ETH_P_IPV6))
		kind = parse_ipv6(h, off, &p);
	else if (is_vlan(proto))
		kind = PKT_UNPARSED; /* deeper than we walk: it may well be IP */
	/* A super-packet the kernel has not counted: the datagrams of its UDP payload, which
	 * udp_rcv trims to the UDP length (one whose length is impossible, dropped whole, and
	 * anything not judged count as h->segs) */
	if (h->tc && kind == PKT_UDP && !p.udp_bad)
		segs = udp_segs(h, p.ulen - sizeof(struct udphdr));

	if (kind == PKT_NOT_IP) {
		cnt = FILTER_CNT_PASS_NOT_IP;
		/* tc handed it from its IP header: the stack says IP where the frame does not
		 * (someone else's generic XDP program with frags before us, Linux 6.9+) */
		if (h->tc && filter_no_mac(h->ctx, proto))
			cnt = FILTER_CNT_PASS_NO_MAC;
	} else if (kind == PKT_NOT_UDP && !p.first_frag) {
		cnt = FILTER_CNT_PASS_NOT_UDP;
	} else {
		active = bpf_map_lookup_elem(&filter_active, &zero);
		gen = active ? *active & 1 : 0;
		s = bpf_map_lookup_elem(&filter_settings, &gen);
		if (!s) /* cannot happen: an array slot always exists */
			cnt = FILTER_CNT_PASS_UNPARSED;
		else if (kind == PKT_NOT_UDP) /* an IPv6 first fragment of another protocol */
			cnt = FILTER_CNT_PASS_NOT_UDP;
		else if (kind == PKT_UNPARSED || kind == PKT_EXT_DEEP)
			act = judge_unparsed(s, kind, &cnt);
		else
			act = judge(gen, s, &p, kind == PKT_FRAG_LATER, segs, &cnt);
		if (p.first_frag) /* the later fragments may follow it */
			frag_note(gen, &p, kind, act);
	}
	/* Counting wraps the verdict: every packet bumps exactly one reason, by the datagrams
	 * it carries. */
	count_n(cnt, segs);
	return act;
}

/* ---------------------------------------------------------------- session fast path */

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#define IP_DF 0x4000

static __always_inline void offload_count_n(__u32 idx, __u32 n)
{
	__u64 *v = bpf_map_lookup_elem(&offload_counters, &idx);

	if (v)
		*v += n;
}

static __always_inline void offload_count(__u32 idx)
{
	offload_count_n(idx, 1);
}

/* The per-egress redirect outcomes of target to, created on first use. */
static __always_inline struct offload_xmit_val *xmit_val(__u32 to)
{
	struct offload_xmit_val *v = bpf_map_lookup_elem(&offload_xmit, &to), init = {};

	if (v)
		return v;
	bpf_map_update_elem(&offload_xmit, &to, &init, BPF_NOEXIST);
	return bpf_map_lookup_elem(&offload_xmit, &to);
}

/* The interface's entry copied to *fi: 1, or 0 when there is none. User space rewrites an
 * entry at link events and reloads, and a hash map element replaced is reused at once for
 * the next one written (offload_prepare): a copy is kept only when a second lookup still
 * finds the same element, tried twice; else the defaults (the filter in both hooks, nothing
 * else), as without an entry. */
static __always_inline int iface_read(__u32 ifindex, struct rr_iface *fi)
{
	struct rr_iface *e;
	int i;

#pragma unroll
	for (i = 0; i < 2; i++) {
		e = bpf_map_lookup_elem(&rr_ifaces, &ifindex);
		if (!e)
			break;
		__builtin_memcpy(fi, e, sizeof(*fi));
		if (bpf_map_lookup_elem(&rr_ifaces, &ifindex) == e)
			return 1;
	}
	return 0;
}

/* Which stages run on an interface; none listed: the filter alone. */
static __always_inline __u32 iface_flags(__u32 ifindex)
{
	struct rr_iface fi;

	return iface_read(ifindex, &fi) ? fi.flags : RR_IFACE_DEFAULT;
}

/* A MAC address as one scalar: its bytes 0-3 and 4-5 loaded as they lie, so that two
 * addresses packed alike compare equal in any byte order. */
static __always_inline __u64 mac_pack(__u32 lo, __u16 hi)
{
	return (__u64)hi << 32 | lo;
}

/* iface_flags, and in *mac the interface's own address, packed (0 without an entry). */
static __always_inline __u32 iface_flags_mac(__u32 ifindex, __u64 *mac)
{
	struct rr_iface fi;
	__u32 lo;
	__u16 hi;

	if (!iface_read(ifindex, &fi)) {
		*mac = 0;
		return RR_IFACE_DEFAULT;
	}
	__builtin_memcpy(&lo, fi.mac, 4);
	__builtin_memcpy(&hi, &fi.mac[4], 2);
	*mac = mac_pack(lo, hi);
	return fi.flags;
}

/* One's complement sum of n 16-bit words (raw, in memory order: the sum is byte-order
 * neutral, RFC 1071). */
static __always_inline __u32 csum_words(__u32 sum, const __u16 *w, int n, int invert)
{
	int i;

#pragma unroll
	for (i = 0; i < n; i++)
		sum += invert ? (__u16)~w[i] : w[i];
	return sum;
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* The IPv4 header checksum of a 20-byte header, from scratch. */
static __always_inline __u16 ipv4_csum(struct iphdr *ih)
{
	ih->check = 0;
	return (__u16)~csum_fold(csum_words(0, (__u16 *)ih, 10, 0));
}

/* Whether a frame of frame_len bytes holds exactly an l2l3-byte packet (Ethernet header +
 * IP length): nothing more, except a minimum-size frame's padding. That frame is ETH_ZLEN
 * bytes (without FCS), or 56 when the NIC stripped a VLAN tag it was padded with (tc on a
 * VLAN device): so any frame of at most ETH_ZLEN may carry padding. */
static __always_inline int offload_len_ok(__u32 frame_len, __u32 l2l3)
{
	return frame_len == l2l3 || (frame_len <= ETH_ZLEN && l2l3 < frame_len);
}

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMPV6_PKT_TOOBIG 2

/* What an ICMP error quotes after its 8-byte header (type, code, checksum; the next-hop MTU,
 * which the kernel reads), as far as the datagram's UDP header (RFC 792: the IP header and 64
 * bits of the payload; RFC 4443: as much as fits). */
union icmp_quote {
	struct {
		struct iphdr ip;
		struct udphdr udp;
	} v4;
	struct {
		struct ipv6hdr ip;
		struct udphdr udp;
	} v6;
};
#define ICMP_QUOTE4 (8 + sizeof(struct iphdr) + sizeof(struct udphdr))
#define ICMP_QUOTE6 (8 + sizeof(struct ipv6hdr) + sizeof(struct udphdr))

/* An ICMP "fragmentation needed" / ICMPv6 "packet too big" (its header at icmp in the packet
 * and off bytes into the frame; the IP payload is len bytes) about a datagram an offloaded
 * session sent: counted in the session's too_big for that direction, so the worker reads its
 * path MTU at the next tick instead of the next sweep (the listener's socket is unconnected
 * and never hears of it). The quoted datagram is ours (source: our address and port), so its
 * header reversed is the key of the session's rule for the other direction. Only the quote's
 * UDP header is read (inner IPv4 without options, IPv6 without extension headers); the frame
 * itself is not changed and goes on to the stack, which updates its route exception. Not on
 * the datagram fast path: only frames whose IP protocol is ICMP come here. */
static __always_inline void offload_icmp(void *ctx, int tc, const __u8 *icmp, void *data_end,
					 __u32 off, __u32 len, int v4, int host)
{
	struct hdr_src h = {.ctx = ctx, .tc = tc};
	union icmp_quote q = {};
	struct offload_key key = {};
	struct offload_flow_stats *st;
	struct offload_rule *rule;
	__u32 flow;
	__u8 dir;

	/* Type and code first, in place (no helper call): any other ICMP (an echo, another
	 * error) leaves there. They are in the linear part where the IP header is (tc pulled
	 * the first 62 bytes; an XDP frame's first buffer holds far more than its headers);
	 * else the too-big counts nothing and the 10 s reading of the replies still comes. */
	if ((void *)(icmp + 2) > data_end ||
	    (v4 ? icmp[0] != ICMP_DEST_UNREACH || icmp[1] != ICMP_FRAG_NEEDED
		: icmp[0] != ICMPV6_PKT_TOOBIG))
		return;
	/* Only one the stack takes as the host's own (as a datagram, offload_prepare): ip_rcv
	 * drops another host's, and a group address's is no router's answer to us. */
	if (!host)
		return;
	if (v4) {
		if (len < ICMP_QUOTE4 || load(&h, off + 8, &q.v4, sizeof(q.v4)))
			return;
		if (q.v4.ip.version != 4 || q.v4.ip.ihl != 5 || q.v4.ip.protocol != IPPROTO_UDP ||
		    (bpf_ntohs(q.v4.ip.frag_off) & IP_OFFSET))
			return;
		key.saddr[10] = key.saddr[11] = 0xff;
		key.daddr[10] = key.daddr[11] = 0xff;
		__builtin_memcpy(&key.saddr[12], &q.v4.ip.daddr, 4);
		__builtin_memcpy(&key.daddr[12], &q.v4.ip.saddr, 4);
		key.sport = q.v4.udp.dest;
		key.dport = q.v4.udp.source;
	} else {
		if (len < ICMP_QUOTE6 || load(&h, off + 8, &q.v6, sizeof(q.v6)))
			return;
		if (q.v6.ip.version != 6 || q.v6.ip.nexthdr != IPPROTO_UDP)
			return;
		__builtin_memcpy(key.saddr, &q.v6.ip.daddr, 16);
		__builtin_memcpy(key.daddr, &q.v6.ip.saddr, 16);
		key.sport = q.v6.udp.dest;
		key.dport = q.v6.udp.source;
	}
	rule = bpf_map_lookup_elem(&offload_sessions, &key);
	if (!rule)
		return;
	flow = rule->flow;
	dir = rule->dir;
	/* The element may have been reused meanwhile (offload_prepare): then it counts nothing */
	if (bpf_map_lookup_elem(&offload_sessions, &key) != rule)
		return;
	st = bpf_map_lookup_elem(&offload_stats, &flow);
	if (!st)
		return;
	if (dir == OFFLOAD_DIR_UP) /* the quote is a reply: the ICMP is about the DOWN path */
		__sync_fetch_and_add(&st->too_big[1], 1);
	else
		__sync_fetch_and_add(&st->too_big[0], 1);
}

/* What the fast path found for a frame it will relay. */
struct off_ctx {
	struct offload_rule r;
	__u32 old_addrs[8]; /* source, destination as in the header (4 or 16 bytes each) */
	__u32 nh[4];
	__be16 old_ports[2];
	__u32 l3; /* offsets from the Ethernet header */
	__u32 l4;
	__u32 payload; /* UDP payload bytes (all of a super-packet's datagrams) */
	__u32 segs;    /* datagrams: 1, or a UDP GSO super-packet's segments */
	__u32 egress;
	__u32 nh_family;
	__u16 old_check;
	__u8 v4;
	__u8 pad;
	__u8 smac[6], dmac[6];
} __attribute__((aligned(8)));

/* Whether ip_rcv would take the frame at data (its Ethernet header in bounds) as the host's own
 * (PACKET_HOST). tc: the skb's pkt_type, which eth_type_trans set (a group destination never
 * gets PACKET_HOST; the bit test is for a device in promiscuous or all-multicast mode). XDP,
 * before eth_type_trans: the same decision, PACKET_HOST being the device's own address
 * exactly, so one comparison covers group addresses and other hosts'. A load needs no
 * alignment here. */
static __always_inline int frame_for_host(int tc, const struct ethhdr *eth, const void *data,
					  __u32 pkt_type, __u64 dev_mac)
{
	if (tc)
		return !(eth->h_dest[0] & 1) && pkt_type == PACKET_HOST;
	return mac_pack(*(const __u32 *)data, *(const __u16 *)(data + 4)) == dev_mac;
}

/* Parses what arrived, finds its session and asks the FIB where the rewritten datagram goes.
 * Returns OFFLOAD_CNT_FORWARDED with o filled, or the reason it goes up the stack. Nothing is
 * written to the frame here. pkt_type: tc's skb->pkt_type; dev_mac: XDP's ingress device's own
 * address (iface_flags_mac), in place of the pkt_type the stack has not set yet; ingress: the
 * ifindex the hook runs on (the device rr_ifaces and a rule's oif name). */
static __always_inline __u32 offload_prepare(void *ctx, void *data, void *data_end, __u32 frame_len,
					     int tc, __u32 gso, int gso_udp, __u32 pkt_type,
					     __u64 dev_mac, __u32 ingress, struct off_ctx *o)
{
	struct bpf_fib_lookup fib = {};
	struct offload_key key = {};
	struct offload_rule *rule;
	struct ethhdr *eth = data;
	struct udphdr *uh;
	__u32 l4, iplen, ulen, rc;
	int v4, neigh = 0; /* neigh: routed by bpf_redirect_neigh on the rule's device (tc) */

	if ((void *)(eth + 1) > data_end)
		return OFFLOAD_CNT_PASS_NO_SESSION;
	if (is_vlan(eth->h_proto))
		return OFFLOAD_CNT_PASS_VLAN;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ih = (void *)(eth + 1);

		if ((void *)(ih + 1) > data_end)
			return OFFLOAD_CNT_PASS_NONLINEAR;
		if (ih->version != 4)
			return OFFLOAD_CNT_PASS_NO_SESSION;
		if (ih->protocol != IPPROTO_UDP) {
			/* An unfragmented ICMP without options may be a too-big about a session */
			if (ih->protocol == IPPROTO_ICMP && ih->ihl == 5 &&
			    !(bpf_ntohs(ih->frag_off) & (IP_MF | IP_OFFSET)) &&
			    bpf_ntohs(ih->tot_len) >= sizeof(*ih))
				offload_icmp(ctx, tc, (void *)(ih + 1), data_end,
					     sizeof(*eth) + sizeof(*ih),
					     bpf_ntohs(ih->tot_len) - sizeof(*ih), 1,
					     frame_for_host(tc, eth, data, pkt_type, dev_mac));
			return OFFLOAD_CNT_PASS_NO_SESSION;
		}
		if (bpf_ntohs(ih->frag_off) & (IP_MF | IP_OFFSET))
			return OFFLOAD_CNT_PASS_FRAGMENT;
		if (ih->ihl != 5)
			return ih->ihl > 5 ? OFFLOAD_CNT_PASS_IP_OPTIONS
					   : OFFLOAD_CNT_PASS_NO_SESSION;
		v4 = 1;
		iplen = bpf_ntohs(ih->tot_len);
		/* ip_rcv drops a header whose checksum fails; the rewrite would compute a fresh
		 * one and relay the damage. A correct header sums to 0xffff. */
		if (iplen < sizeof(*ih) + sizeof(*uh) ||
		    csum_fold(csum_words(0, (const __u16 *)ih, 10, 0)) != 0xffff)
			return OFFLOAD_CNT_PASS_MALFORMED;
		key.saddr[10] = key.saddr[11] = 0xff;
		key.daddr[10] = key.daddr[11] = 0xff;
		__builtin_memcpy(&key.saddr[12], &ih->saddr, 4);
		__builtin_memcpy(&key.daddr[12], &ih->daddr, 4);
		__builtin_memcpy(o->old_addrs, &ih->saddr, 8);
		l4 = sizeof(*eth) + sizeof(*ih);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ih = (void *)(eth + 1);

		if ((void *)(ih + 1) > data_end)
			return OFFLOAD_CNT_PASS_NONLINEAR;
		if (ih->version != 6)
			return OFFLOAD_CNT_PASS_NO_SESSION;
		if (ih->nexthdr != IPPROTO_UDP) {
			if (ih->nexthdr == IPPROTO_ICMPV6)
				offload_icmp(ctx, tc, (void *)(ih + 1), data_end,
					     sizeof(*eth) + sizeof(*ih), bpf_ntohs(ih->payload_len),
					     0, frame_for_host(tc, eth, data, pkt_type, dev_mac));
			return is_ext(ih->nexthdr) ? (ih->nexthdr == IPPROTO_FRAGMENT
							  ? OFFLOAD_CNT_PASS_FRAGMENT
							  : OFFLOAD_CNT_PASS_EXT_HEADERS)
						   : OFFLOAD_CNT_PASS_NO_SESSION;
		}
		v4 = 0;
		iplen = sizeof(*ih) + bpf_ntohs(ih->payload_len);
		if (iplen < sizeof(*ih) + sizeof(*uh))
			return OFFLOAD_CNT_PASS_MALFORMED;
		__builtin_memcpy(key.saddr, &ih->saddr, 16);
		__builtin_memcpy(key.daddr, &ih->daddr, 16);
		__builtin_memcpy(o->old_addrs, &ih->saddr, 32);
		l4 = sizeof(*eth) + sizeof(*ih);
	} else {
		return OFFLOAD_CNT_PASS_NO_SESSION;
	}
	uh = data + l4;
	if ((void *)(uh + 1) > data_end)
		return OFFLOAD_CNT_PASS_NONLINEAR;
	key.sport = uh->source;
	key.dport = uh->dest;
	rule = bpf_map_lookup_elem(&offload_sessions, &key);
	if (!rule)
		return OFFLOAD_CNT_PASS_NO_SESSION;
	/* Only what ip_rcv would take as the host's own (PACKET_HOST): a broadcast or multicast
	 * destination MAC is the stack's to judge (the socket path relays it unless
	 * drop_unicast_in_l2_multicast says otherwise), and tc's bpf_redirect_neigh would free
	 * it unseen, after the count; another host's MAC (PACKET_OTHERHOST, a promiscuous
	 * device) ip_rcv drops. */
	if (!frame_for_host(tc, eth, data, pkt_type, dev_mac))
		return OFFLOAD_CNT_PASS_NOT_HOST;
	__builtin_memcpy(&o->r, rule, sizeof(o->r));
	/* A hash map element deleted or replaced by user space is reused at once, without
	 * waiting for readers (the preallocated free list, and bpf_mem_alloc's per-CPU cache
	 * with BPF_F_NO_PREALLOC too): the copy may hold another session's rule, or half of one.
	 * The key still names the same element after the copy only if that element held the
	 * key's rule all along (or the same key was removed and installed into it again), so a
	 * second lookup tells; a changed entry goes up the stack like a missing one. */
	if (bpf_map_lookup_elem(&offload_sessions, &key) != rule)
		return OFFLOAD_CNT_PASS_NO_SESSION;
	/* The key's datagrams arrive where the other direction's leave. One arriving elsewhere
	 * goes to the stack, which judges its source against the ingress device (rp_filter) as
	 * it would without the fast path: a spoofed datagram with a session's key, or one that
	 * a multipath route or asymmetric routing brings in by another device, which the socket
	 * path then relays. Read from the copy, which the second lookup vouched for. */
	if (o->r.iif != ingress)
		return OFFLOAD_CNT_PASS_WRONG_IFACE;
	if (o->r.v4 != v4)
		return OFFLOAD_CNT_PASS_FAMILY;
	/* A UDP GSO super-packet (SKB_GSO_UDP_L4 alone: one header, datagrams of gso bytes)
	 * goes out whole and the egress segments it, as the stack's own UDP GRO forwarding
	 * does; any other kind (UFO, fraglist GRO, a tunnel's, or a type the program cannot
	 * read) goes up. */
	if (gso && !gso_udp)
		return OFFLOAD_CNT_PASS_GSO;
	ulen = bpf_ntohs(uh->len);
	/* The frame must be the IP packet and its payload the UDP datagram, exactly: bytes past
	 * either (an Ethernet trailer, a UDP length short of the IP payload) are trimmed by the
	 * stack and never sent by the socket path, and a frame longer than its IP length would
	 * pass the MTU check (which reads the IP length) and then fail the egress. Only a
	 * minimum-size frame may carry more (its padding: the egress pads it anyway;
	 * offload_len_ok). IPv6 forbids a zero checksum. */
	if (ulen < sizeof(*uh) || ulen != iplen - (l4 - sizeof(*eth)) ||
	    !offload_len_ok(frame_len, sizeof(*eth) + iplen) || (!v4 && !uh->check))
		return OFFLOAD_CNT_PASS_MALFORMED;
	o->segs = gso ? (ulen - sizeof(*uh) + gso - 1) / gso : 1;
	if (o->segs == 0) /* a super-packet without payload */
		return OFFLOAD_CNT_PASS_MALFORMED;
	if ((gso ? gso : ulen - sizeof(*uh)) > o->r.max_payload)
		return OFFLOAD_CNT_PASS_OVERSIZE;
	/* XDP writes in place: the whole packet must be in the linear part. */
	if (!tc && frame_len != (__u32)(data_end - data))
		return OFFLOAD_CNT_PASS_NONLINEAR;

	/* The relay originates this datagram, so it is an output lookup from the rewritten
	 * source (input lookups demand forwarding = 1), restricted to the egress device the
	 * socket path would use. tot_len makes it check the MTU. */
	fib.family = v4 ? AF_INET : AF_INET6;
	fib.l4_protocol = IPPROTO_UDP;
	fib.sport = o->r.sport;
	fib.dport = o->r.dport;
	fib.tot_len = (__u16)(gso ? l4 - sizeof(*eth) + sizeof(*uh) + gso : iplen);
	/* Over the socket's path MTU, the datagram would leave with DF (IPv4) or unfragmented
	 * (IPv6) and be lost: the socket path fragments it. */
	if (o->r.path_mtu && fib.tot_len > o->r.path_mtu)
		return OFFLOAD_CNT_PASS_MTU;
	fib.ifindex = o->r.oif;
	if (v4) {
		__builtin_memcpy(&fib.ipv4_src, &o->r.saddr[12], 4);
		__builtin_memcpy(&fib.ipv4_dst, &o->r.daddr[12], 4);
	} else {
		__builtin_memcpy(fib.ipv6_src, o->r.saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, o->r.daddr, 16);
	}
	/* An IPv6 output lookup of bpf_fib_lookup matches no rule that chooses the table by
	 * source (the kernel sets no RT6_LOOKUP_F_HAS_SADDR for it): where a policy rule chose
	 * the session's route, its answer would be the main table's. tc routes such a datagram
	 * with bpf_redirect_neigh (a full route lookup, source and all); XDP passes it up. */
	if (!v4 && o->r.by_policy) {
		if (!tc)
			return OFFLOAD_CNT_PASS_FIB;
		neigh = 1;
	} else {
		rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
		/* bpf_fib_lookup refuses devices without forwarding enabled, output lookups
		 * too. tc does not need it: bpf_redirect_neigh routes on the rule's device and
		 * resolves the neighbour itself. XDP has no such helper. */
		if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED && !tc)
			return OFFLOAD_CNT_PASS_FWD_DISABLED;
		neigh = rc == BPF_FIB_LKUP_RET_FWD_DISABLED;
	}
	if (neigh) {
		__u32 mtu_len = 0;
		long mtu_rc;

		/* The device MTU, checked here. A super-packet passes as a whole; SEGS checks
		 * each segment instead. No such device (-ENODEV: the oif deleted since the rule
		 * was written) is a route question: pass_fib has the worker derive the rules
		 * again, where pass_mtu would have it read path MTUs (review-reroute L4). */
		mtu_rc = bpf_check_mtu(ctx, o->r.oif, &mtu_len, 0, gso ? BPF_MTU_CHK_SEGS : 0);
		if (mtu_rc < 0)
			return OFFLOAD_CNT_PASS_FIB;
		if (mtu_rc)
			return OFFLOAD_CNT_PASS_MTU;
		fib.ifindex = o->r.oif;
		/* No next hop known: bpf_redirect_neigh routes each datagram itself (user space
		 * kept on the socket path the sessions it would route elsewhere). */
		rc = BPF_FIB_LKUP_RET_NO_NEIGH;
	}
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return OFFLOAD_CNT_PASS_MTU;
	/* tc hands an unresolved neighbour to bpf_redirect_neigh; XDP cannot queue. */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH && !tc)
		return OFFLOAD_CNT_PASS_NO_NEIGH;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return OFFLOAD_CNT_PASS_FIB;
	/* The FIB's answer on another device than the socket path's (an IPv6 output lookup is
	 * not held to the device it is given): the socket path's route is the session's. */
	if (!neigh && fib.ifindex != o->r.oif)
		return OFFLOAD_CNT_PASS_FIB;
	if (!tc) {
		__u32 *tx = bpf_map_lookup_elem(&offload_tx, &fib.ifindex);

		if (!tx || bpf_map_lookup_elem(&offload_tx_down, &fib.ifindex))
			return OFFLOAD_CNT_PASS_NO_TX;
	}
	/* The next hop bpf_fib_lookup found (it writes the gateway before it looks for the
	 * neighbour), also when unresolved: bpf_redirect_neigh's own lookup, IPv6's not held to
	 * the device, could hash a multipath route's datagram onto another leg and resolve that
	 * leg's gateway here, for good. Only where no FIB answer came (neigh) does it route. */
	o->nh_family = !neigh ? fib.family : 0;
	__builtin_memcpy(o->nh, fib.ipv6_dst, 16);
	o->egress = fib.ifindex;
	__builtin_memcpy(o->smac, fib.smac, 6);
	__builtin_memcpy(o->dmac, fib.dmac, 6);
	o->v4 = (__u8)v4;
	o->l3 = sizeof(*eth);
	o->l4 = l4;
	o->payload = ulen - sizeof(*uh);
	o->old_check = uh->check;
	o->old_ports[0] = uh->source;
	o->old_ports[1] = uh->dest;
	return OFFLOAD_CNT_FORWARDED;
}

/* Rewrites the IP and UDP headers (not the UDP checksum) to what the socket path sends: the
 * rule's addresses and ports, a fresh TTL / hop limit, DSCP/ECN 0 (a new socket's TOS), DF
 * (IP_PMTUDISC_WANT on a datagram that fits), the IPv4 header checksum. */
static __always_inline int offload_rewrite(void *data, void *data_end, struct off_ctx *o)
{
	struct udphdr *uh;

	if (o->v4) {
		struct iphdr *ih = data + sizeof(struct ethhdr);

		if ((void *)(ih + 1) > data_end)
			return -1;
		ih->tos = 0;
		ih->ttl = o->r.ttl;
		ih->frag_off = bpf_htons(IP_DF);
		__builtin_memcpy(&ih->saddr, &o->r.saddr[12], 4);
		__builtin_memcpy(&ih->daddr, &o->r.daddr[12], 4);
		ih->check = ipv4_csum(ih);
		uh = (void *)(ih + 1);
	} else {
		struct ipv6hdr *ih = data + sizeof(struct ethhdr);
		__be32 *vtf = (__be32 *)ih;

		if ((void *)(ih + 1) > data_end)
			return -1;
		*vtf = bpf_htonl(0x60000000) | o->r.flowlabel;
		ih->hop_limit = o->r.ttl;
		__builtin_memcpy(&ih->saddr, o->r.saddr, 16);
		__builtin_memcpy(&ih->daddr, o->r.daddr, 16);
		uh = (void *)(ih + 1);
	}
	if ((void *)(uh + 1) > data_end)
		return -1;
	uh->source = o->r.sport;
	uh->dest = o->r.dport;
	return 0;
}

/* RFC 1624 eqn. 3 over the pseudo-header addresses and the ports: HC' = ~(~HC + ~m + m').
 * IPv4's "no checksum" (0) stays 0; a result of 0 is sent as 0xffff (RFC 768). */
static __always_inline __u16 offload_udp_csum(const struct off_ctx *o)
{
	__u32 sum;

	if (o->v4 && !o->old_check)
		return 0;
	sum = (__u16)~o->old_check;
	if (o->v4) {
		sum = csum_words(sum, (const __u16 *)o->old_addrs, 4, 1);
		sum = csum_words(sum, (const __u16 *)&o->r.saddr[12], 2, 0);
		sum = csum_words(sum, (const __u16 *)&o->r.daddr[12], 2, 0);
	} else {
		sum = csum_words(sum, (const __u16 *)o->old_addrs, 16, 1);
		sum = csum_words(sum, (const __u16 *)o->r.saddr, 8, 0);
		sum = csum_words(sum, (const __u16 *)o->r.daddr, 8, 0);
	}
	sum = csum_words(sum, (const __u16 *)o->old_ports, 2, 1);
	sum = csum_words(sum, (const __u16 *)&o->r.sport, 2, 0);
	sum = (__u16)~csum_fold(sum);
	return sum ? (__u16)sum : 0xffff;
}

/* The session's per-flow counters and last-seen time (shared by CPUs: atomic adds). */
static __always_inline void offload_account(const struct off_ctx *o)
{
	struct offload_flow_stats *st = bpf_map_lookup_elem(&offload_stats, &o->r.flow);

	if (!st)
		return;
	if (o->r.dir == OFFLOAD_DIR_DOWN) {
		__sync_fetch_and_add(&st->pkts[1], o->segs);
		__sync_fetch_and_add(&st->bytes[1], o->payload);
	} else {
		__sync_fetch_and_add(&st->pkts[0], o->segs);
		__sync_fetch_and_add(&st->bytes[0], o->payload);
	}
	st->last_seen_ns = bpf_ktime_get_ns();
}

/* A datagram of the session passed up for cnt, a reason offload_prepare returns only once it
 * holds the session's rule: too long for a path MTU (OFFLOAD_CNT_PASS_MTU), so that the
 * worker reads that path MTU again; on another interface than the rule's iif
 * (OFFLOAD_CNT_PASS_WRONG_IFACE) or routed elsewhere than its oif (OFFLOAD_CNT_PASS_FIB), so
 * that the worker derives the session's rules again. Counted per session and direction
 * (docs/offload.md); any other reason counts nothing here. */
static __always_inline void offload_account_pass(const struct off_ctx *o, __u32 cnt)
{
	struct offload_flow_stats *st;
	__u32 *c, d = o->r.dir == OFFLOAD_DIR_DOWN;

	if (cnt != OFFLOAD_CNT_PASS_MTU && cnt != OFFLOAD_CNT_PASS_WRONG_IFACE &&
	    cnt != OFFLOAD_CNT_PASS_FIB)
		return;
	st = bpf_map_lookup_elem(&offload_stats, &o->r.flow);
	if (!st)
		return;
	if (cnt == OFFLOAD_CNT_PASS_MTU)
		c = d ? &st->mtu_pass[1] : &st->mtu_pass[0];
	else if (cnt == OFFLOAD_CNT_PASS_WRONG_IFACE)
		c = d ? &st->wrong_iface[1] : &st->wrong_iface[0];
	else
		c = d ? &st->fib_pass[1] : &st->fib_pass[0];
	__sync_fetch_and_add(c, 1);
}

static __always_inline int offload_xdp(struct xdp_md *ctx, __u64 dev_mac)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct off_ctx o = {};
	struct ethhdr *eth;
	struct udphdr *uh;
	__u16 check;
	__u32 cnt;

	cnt = offload_prepare(ctx, data, data_end, bpf_xdp_get_buff_len(ctx), 0, 0, 0, PACKET_HOST,
			      dev_mac, ctx->ingress_ifindex, &o);
	if (cnt != OFFLOAD_CNT_FORWARDED) {
		offload_account_pass(&o, cnt);
		offload_count(cnt);
		return XDP_PASS;
	}
	/* Redirect first: user space may have removed the target since offload_prepare looked,
	 * and the frame, not yet rewritten, can then still go up the stack. The redirect
	 * itself happens after the program returns. */
	if (bpf_redirect_map(&offload_tx, o.egress, 0) != XDP_REDIRECT) {
		offload_count(OFFLOAD_CNT_PASS_NO_TX);
		return XDP_PASS;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end || offload_rewrite(data, data_end, &o)) {
		offload_count(OFFLOAD_CNT_PASS_NONLINEAR);
		return XDP_PASS;
	}
	check = offload_udp_csum(&o);
	/* o.l4 comes back from the stack unbounded for the verifier: bound it (34 or 54) */
	uh = data + (o.l4 & 0x7f);
	if ((void *)(uh + 1) > data_end) { /* offload_rewrite checked it: never taken */
		offload_count(OFFLOAD_CNT_PASS_NONLINEAR);
		return XDP_PASS;
	}
	uh->check = check;
	__builtin_memcpy(eth->h_dest, o.dmac, 6);
	__builtin_memcpy(eth->h_source, o.smac, 6);
	offload_count_n(OFFLOAD_CNT_FORWARDED, o.segs);
	offload_account(&o);
	return XDP_REDIRECT;
}

/* The skb's GSO type is in its shared info (skb->head + skb->end), which __sk_buff does not
 * show: read through the kernel's sk_buff (bpf_cast_to_kern_ctx, 6.3) with CO-RE. Only the
 * shed_* programs, which need kfuncs anyway, call it. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

struct sk_buff {
	unsigned char *head;
	unsigned int end;
} __attribute__((preserve_access_index));

struct skb_shared_info {
	unsigned int gso_type;
} __attribute__((preserve_access_index));

/* SKB_GSO_* (include/linux/skbuff.h, an anonymous enum CO-RE cannot name), bit for bit the
 * NETIF_F_GSO_* features: UDP_L4 1 << 17 since 4.18 (1 << 16 is UFO), DODGY 1 << 1 (the header
 * came from an untrusted source: the segmenter recounts, nothing else changes). */
#define RR_SKB_GSO_UDP_L4 (1u << 17)
#define RR_SKB_GSO_DODGY (1u << 1)

/* Plain UDP segmentation only: one header, datagrams of gso_size behind it. Not with other
 * bits beside it: FRAGLIST (fraglist GRO, rx-gro-list: segments 2..n keep their own headers,
 * so the rewrite would reach only the first datagram's), a UDP tunnel's (gso_size is the
 * inner datagram's, short of the encapsulation for the buffer and MTU checks), PARTIAL. */
static __always_inline int skb_gso_udp_l4(struct __sk_buff *skb)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
	struct skb_shared_info *si;

	si = bpf_rdonly_cast((void *)((__u64)k->head + k->end),
			     bpf_core_type_id_kernel(struct skb_shared_info));
	return (si->gso_type & ~RR_SKB_GSO_DODGY) == RR_SKB_GSO_UDP_L4;
}

/* A frame tc was handed from its IP header (the skb's MAC header length 0): the stack says
 * IPv4 or IPv6 (skb->protocol), the bytes where the ethertype belongs do not, and the first
 * byte holds that IP version. Someone else's generic XDP program that takes frags does that
 * on Linux 6.9+ (skb_pp_cow_data loses mac_len); user space may not have been able to tell
 * it does (filter_xdp_foreign), so the data path counts it. Asked only of a frame that went
 * up for no session, so the fast path's own datagrams pay nothing. */
static __always_inline int tc_no_mac(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	__be16 proto = skb->protocol;
	__u8 *b = data;

	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return 0;
	if ((void *)(b + sizeof(struct ethhdr)) > data_end || *(__be16 *)(b + 12) == proto)
		return 0;
	return b[0] >> 4 == (proto == bpf_htons(ETH_P_IP) ? 4 : 6);
}

/* tc: the skb may carry a partial checksum (CHECKSUM_PARTIAL: the field holds only the
 * pseudo-header sum) or a complete one (skb->csum); the kernel's csum helpers handle each
 * state, so the UDP checksum goes through them instead of RFC 1624 by hand. A UDP GSO
 * super-packet is always partial: its addresses change, its ports are data the egress sums.
 * kf: the program may call kfuncs (the GSO type is known only then). Returns the redirect's
 * verdict, or TC_ACT_UNSPEC (no verdict: see tc_body) for a frame it does not forward. */
static __always_inline int offload_tc(struct __sk_buff *skb, int kf)
{
	__u32 hdrs = sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + sizeof(struct udphdr);
	__u32 csum_off;
	__u16 check;
	__u64 diff;
	int l4; /* the UDP checksum field is updated (IPv4 "no checksum" is left) */
	struct off_ctx o = {};
	__u8 old_hdr[48], new_hdr[48];
	void *data, *data_end;
	__u32 cnt, hlen;

	/* The headers must be in the linear part for direct access (a no-op when they are). */
	if ((void *)(long)skb->data + hdrs > (void *)(long)skb->data_end)
		bpf_skb_pull_data(skb, skb->len < hdrs ? skb->len : hdrs);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	cnt = offload_prepare(skb, data, data_end, skb->len, 1, skb->gso_size,
			      kf && skb->gso_size ? skb_gso_udp_l4(skb) : 0, skb->pkt_type, 0,
			      skb->ifindex, &o);
	if (cnt != OFFLOAD_CNT_FORWARDED) {
		if (cnt == OFFLOAD_CNT_PASS_NO_SESSION && tc_no_mac(skb))
			cnt = OFFLOAD_CNT_PASS_NO_MAC;
		offload_account_pass(&o, cnt);
		offload_count(cnt);
		return TC_ACT_UNSPEC;
	}
	hlen = o.v4 ? 28 : 48;
	if (bpf_skb_load_bytes(skb, o.l3, old_hdr, hlen)) { /* linear, parsed: never taken */
		offload_count(OFFLOAD_CNT_PASS_NONLINEAR);
		return TC_ACT_UNSPEC;
	}
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (offload_rewrite(data, data_end, &o)) {
		offload_count(OFFLOAD_CNT_PASS_NONLINEAR);
		return TC_ACT_UNSPEC;
	}
	/* Addresses are pseudo-header (also the partial checksum's), ports are data. IPv4's
	 * "no checksum" (0) stays 0; a result of 0 is sent as 0xffff (for a partial checksum
	 * the two are the same one's complement value). */
	if (o.v4)
		diff = bpf_csum_diff((__be32 *)o.old_addrs, 8, (__be32 *)&o.r.saddr[12], 4, 0);
	else
		diff = bpf_csum_diff((__be32 *)o.old_addrs, 32, (__be32 *)o.r.saddr, 16, 0);
	if (!o.v4)
		diff = bpf_csum_diff(0, 0, (__be32 *)o.r.daddr, 16, (__wsum)diff);
	else
		diff = bpf_csum_diff(0, 0, (__be32 *)&o.r.daddr[12], 4, (__wsum)diff);
	csum_off = o.l4 + offsetof(struct udphdr, check);
	/* A UDP GSO super-packet always carries a (partial) checksum: UDP_SEGMENT refuses to
	 * send without one, so its field is never IPv4's "no checksum". */
	l4 = !o.v4 || o.old_check || skb->gso_size;
	if (l4) {
		bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_PSEUDO_HDR);
		bpf_l4_csum_replace(skb, csum_off, *(__u32 *)o.old_ports, *(__u32 *)&o.r.sport, 4);
		if (bpf_skb_load_bytes(skb, csum_off, &check, 2) == 0 && !check) {
			check = 0xffff;
			bpf_skb_store_bytes(skb, csum_off, &check, 2, 0);
		}
	}
	/* CHECKSUM_COMPLETE (skb->csum covers the bytes): the pseudo-header call above, when it
	 * ran, took the address change off it; add back what really changed in the headers. */
	if (bpf_skb_load_bytes(skb, o.l3, new_hdr, hlen) == 0)
		bpf_csum_update(skb, bpf_csum_diff((__be32 *)old_hdr, hlen, (__be32 *)new_hdr,
						   hlen, l4 ? (__wsum)diff : 0));
	offload_count_n(OFFLOAD_CNT_FORWARDED, o.segs);
	offload_account(&o);
	if (o.nh_family) {
		struct bpf_redir_neigh nh = {.nh_family = o.nh_family};

		__builtin_memcpy(nh.ipv6_nh, o.nh, 16);
		return bpf_redirect_neigh(o.egress, &nh, sizeof(nh), 0);
	}
	return bpf_redirect_neigh(o.egress, NULL, 0, 0);
}

/* ---------------------------------------------------------------- early shedding
 * Only the shed_* programs contain this stage: it reads struct sock, which the shed_xdp and
 * shed_tc programs do with the bpf_rdonly_cast kfunc (6.2; the tc fast path's GSO reader adds
 * bpf_cast_to_kern_ctx, 6.3), and the shed_*_compat ones with bpf_probe_read_kernel, which
 * older kernels give a program loaded with CAP_PERFMON. The loader tries them in that order
 * and falls back to the filter_* programs, which never reference the stage. The socket's
 * fields are read through CO-RE against the kernel's BTF, so only the two used are declared. */
struct sock {
	struct {
		struct {
			int counter;
		} rmem_alloc;
	} sk_backlog;
	int sk_rcvbuf;
} __attribute__((preserve_access_index));

#ifndef BPF_F_CURRENT_NETNS
#define BPF_F_CURRENT_NETNS (-1L)
#endif

static __always_inline void shed_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&shed_counters, &idx);

	if (v)
		*v += 1;
}

/* A relay's drops count datagrams (a GRO or GSO frame's segs), as its other counters do; the
 * stage's outcomes count frames. */
static __always_inline enum filter_action shed_drop(__u32 slot, __u32 reason, __u32 segs)
{
	__u32 idx = slot * SHED_REASONS + reason;
	__u64 *v = bpf_map_lookup_elem(&shed_drops, &idx);

	if (v)
		*v += segs;
	shed_count(reason == SHED_REASON_HEAVY ? SHED_CNT_DROP_HEAVY : SHED_CNT_DROP_FULL);
	return ACT_DROP;
}

/* 1 when the gate (filter_maps.h) passes this frame of len bytes without a look; super: it is
 * a GRO or GSO skb (tc; gso_size set, whatever gso_segs says: a DODGY one's is 0). */
static __always_inline int shed_gate_skip(__u32 len, int super)
{
	__u32 k = 0;
	struct shed_gate *g = bpf_map_lookup_elem(&shed_gate, &k);

	if (!g || !g->skip || super || len > SHED_GATE_FRAME)
		return 0;
	g->skip--;
	shed_count(SHED_CNT_PASS_UNCHECKED);
	return 1;
}

/* A look at a socket's fill sets the gate. */
static __always_inline void shed_gate_seen(__u64 rmem, __u64 rcvbuf)
{
	__u32 k = 0;
	struct shed_gate *g = bpf_map_lookup_elem(&shed_gate, &k);
	__u64 now;

	if (!g)
		return;
	now = bpf_ktime_get_ns();
	g->skip = 0;
	if (!g->room || rmem + g->room > rcvbuf / 4)
		g->hot_until = now + SHED_GATE_HOT_NS;
	else if (now >= g->hot_until)
		g->skip = SHED_GATE_SKIP;
}

/* Counts a datagram of flow k under pressure; true when the flow is over heavy datagrams in
 * its window. CPUs share the entry: a lost race miscounts by a datagram, which is harmless. */
static __always_inline int shed_heavy(const struct offload_key *k, __u32 heavy)
{
	struct shed_flow *v, init = {};
	__u64 now = bpf_ktime_get_ns();

	v = bpf_map_lookup_elem(&shed_flows, k);
	if (!v) {
		init.window_ns = now;
		init.count = 1;
		bpf_map_update_elem(&shed_flows, k, &init, BPF_ANY);
		return 0;
	}
	if (now - v->window_ns > SHED_WINDOW_NS) {
		v->window_ns = now;
		v->count = 1;
		return 0;
	}
	return __sync_fetch_and_add(&v->count, 1) + 1 > heavy;
}

enum shed_reader {
	SHED_NONE,
	SHED_KFUNC,
	SHED_PROBE,
};

/* The socket's receive memory and limit through bpf_probe_read_kernel. The verifier refuses
 * arithmetic on a socket pointer, so its value is first copied off the stack as a number. */
static __always_inline int sock_fill_probe(struct bpf_sock *sk, __u32 *rmem, __u32 *rcvbuf)
{
	struct bpf_sock *p = sk;
	struct sock *s;

	if (bpf_probe_read_kernel(&s, sizeof(s), &p) ||
	    bpf_core_read(rmem, sizeof(*rmem), &s->sk_backlog.rmem_alloc.counter) ||
	    bpf_core_read(rcvbuf, sizeof(*rcvbuf), &s->sk_rcvbuf))
		return -1;
	return 0;
}

static __always_inline void sock_fill_kfunc(struct bpf_sock *sk, __u32 *rmem, __u32 *rcvbuf)
{
	struct sock *s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));

	*rmem = (__u32)s->sk_backlog.rmem_alloc.counter;
	*rcvbuf = (__u32)s->sk_rcvbuf;
}

/* k's entry copied to *l: 1, or 0 when there is none or it was replaced under the copy (an
 * element is reused at once, iface_read): the datagram then passes as a non-listener's. */
static __always_inline int shed_listener_read(struct shed_listener_key *k, struct shed_listener *l,
					      struct shed_listener *e)
{
	__builtin_memcpy(l, e, sizeof(*l));
	return bpf_map_lookup_elem(&shed_listeners, k) == e;
}

/* The listener a datagram to daddr:port is for: the exact address, else the family's
 * wildcard (ringrelay's IPv6 sockets are V6ONLY, so an IPv4 datagram never meets ::). */
static __always_inline int shed_listener(struct shed_listener_key *k, int v4,
					 struct shed_listener *l)
{
	struct shed_listener *e = bpf_map_lookup_elem(&shed_listeners, k);

	if (e)
		return shed_listener_read(k, l, e);
	__builtin_memset(k->addr, 0, 16);
	if (v4)
		k->addr[10] = k->addr[11] = 0xff;
	e = bpf_map_lookup_elem(&shed_listeners, k);
	return e ? shed_listener_read(k, l, e) : 0;
}

/* Drops a datagram to a relay listener whose socket cannot take it: the socket the stack would
 * deliver to (bpf_sk_lookup_udp: the same lookup, reuseport selection by the 4-tuple's hash
 * included), full when rmem + SHED_ALLOWANCE > rcvbuf; past shed_heavy_at (seven eighths of
 * a big buffer), a heavy flow's datagrams go first, its rate counted from half full
 * (filter_maps.h). Frames the stage does not parse (VLAN, IPv4 options, IPv6 extension
 * headers, fragments) go on untouched. fast_iif: the ingress ifindex when the fast path runs
 * in tc on this interface, after this stage in XDP (else 0): a datagram of one of its
 * sessions that arrived where its rule expects it is not for the listener's socket, so it
 * passes; one that arrived elsewhere the fast path passes up (pass_wrong_iface), so it is
 * judged here. rd: how the socket is read, a constant of each
 * caller so that a program holds one reader only. */
static __always_inline enum filter_action shed_body(const struct hdr_src *h, __u32 fast_iif,
						    enum shed_reader rd)
{
	struct shed_listener_key k = {};
	struct bpf_sock_tuple t = {};
	struct offload_key fk = {};
	struct shed_listener l;
	struct offload_rule *r;
	struct bpf_sock *sk;
	struct udphdr uh;
	__u32 tlen, rmem, rcvbuf, off, segs;
	__be16 proto;
	int v4;

	if (load(h, 12, &proto, sizeof(proto)))
		goto not_listener;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ih;

		if (load(h, ETH_HLEN, &ih, sizeof(ih)) || ih.version != 4 || ih.ihl != 5 ||
		    ih.protocol != IPPROTO_UDP || (bpf_ntohs(ih.frag_off) & (IP_MF | IP_OFFSET)))
			goto not_listener;
		off = ETH_HLEN + sizeof(ih);
		t.ipv4.saddr = ih.saddr;
		t.ipv4.daddr = ih.daddr;
		k.addr[10] = k.addr[11] = 0xff;
		__builtin_memcpy(&k.addr[12], &ih.daddr, 4);
		fk.saddr[10] = fk.saddr[11] = 0xff;
		__builtin_memcpy(&fk.saddr[12], &ih.saddr, 4);
		tlen = sizeof(t.ipv4);
		v4 = 1;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ih;

		if (load(h, ETH_HLEN, &ih, sizeof(ih)) || ih.version != 6 ||
		    ih.nexthdr != IPPROTO_UDP)
			goto not_listener;
		off = ETH_HLEN + sizeof(ih);
		__builtin_memcpy(t.ipv6.saddr, &ih.saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, &ih.daddr, 16);
		__builtin_memcpy(k.addr, &ih.daddr, 16);
		__builtin_memcpy(fk.saddr, &ih.saddr, 16);
		tlen = sizeof(t.ipv6);
		v4 = 0;
	} else {
		goto not_listener;
	}
	if (load(h, off, &uh, sizeof(uh)))
		goto not_listener;
	k.port = uh.dest;
	/* The flow's key before the listener lookup rewrites k.addr to a wildcard. */
	__builtin_memcpy(fk.daddr, k.addr, 16);
	fk.sport = uh.source;
	fk.dport = uh.dest;
	if (!shed_listener(&k, v4, &l))
		goto not_listener;
	/* (Without offload_prepare's second lookup: a reused element misjudges one datagram.) */
	r = fast_iif ? bpf_map_lookup_elem(&offload_sessions, &fk) : NULL;
	if (r && r->iif == fast_iif) {
		shed_count(SHED_CNT_PASS_FAST_PATH);
		return ACT_PASS;
	}
	if (v4) {
		t.ipv4.sport = uh.source;
		t.ipv4.dport = uh.dest;
	} else {
		t.ipv6.sport = uh.source;
		t.ipv6.dport = uh.dest;
	}
	sk = bpf_sk_lookup_udp(h->ctx, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	if (!sk) {
		shed_count(SHED_CNT_PASS_NO_SOCKET);
		return ACT_PASS;
	}
	if (rd == SHED_KFUNC) {
		sock_fill_kfunc(sk, &rmem, &rcvbuf);
	} else if (sock_fill_probe(sk, &rmem, &rcvbuf)) {
		bpf_sk_release(sk);
		shed_count(SHED_CNT_PASS_NO_SOCKET);
		return ACT_PASS;
	}
	bpf_sk_release(sk);
	shed_gate_seen(rmem, rcvbuf);
	/* A relay's drops count datagrams: of a super-packet the kernel has not counted, those
	 * of its UDP payload (the load above puts the frame's end past off + 8) */
	segs = udp_segs(h, udp_payload(bpf_ntohs(uh.len), h->len - off));
	if ((__u64)rmem + SHED_ALLOWANCE > (__u64)rcvbuf)
		return shed_drop(l.slot, SHED_REASON_FULL, segs);
	if ((__u64)rmem * 2 > (__u64)rcvbuf && l.heavy && shed_heavy(&fk, l.heavy) &&
	    (__u64)rmem > shed_heavy_at(rcvbuf))
		return shed_drop(l.slot, SHED_REASON_HEAVY, segs);
	shed_count(SHED_CNT_PASS_ROOM);
	return ACT_PASS;
not_listener:
	shed_count(SHED_CNT_PASS_NOT_LISTENER);
	return ACT_PASS;
}

/* The filter and the fast path as subprograms, for the shed_* programs: inlined with a stage
 * after them, the frames no longer fit in 512 bytes together (clang keeps them apart). */
static __noinline int offload_tc_sub(struct __sk_buff *skb)
{
	return offload_tc(skb, 1);
}

/* For the shed_*_compat programs: no kfunc, so GSO super-packets are not judged whole. */
static __noinline int offload_tc_plain_sub(struct __sk_buff *skb)
{
	return offload_tc(skb, 0);
}

static __noinline int offload_xdp_sub(struct xdp_md *ctx, __u64 dev_mac)
{
	return offload_xdp(ctx, dev_mac);
}

/* Each builds its own hdr_src so that tc stays a constant the compiler folds: a subprogram
 * shared by both hooks would carry the other hook's helper, which the verifier refuses. */
static __noinline enum filter_action filter_xdp_sub(struct xdp_md *ctx)
{
	struct hdr_src h = {.ctx = ctx, .len = bpf_xdp_get_buff_len(ctx), .tc = 0, .segs = 1};

	return filter_body(&h, 0);
}

static __noinline enum filter_action filter_tc_sub(struct __sk_buff *skb, __u32 vlan_taken)
{
	struct hdr_src h = {.ctx = skb, .len = skb->len, .tc = 1, .segs = tc_segs(skb)};

	return filter_body(&h, vlan_taken);
}

static __noinline enum filter_action shed_xdp_sub(struct xdp_md *ctx, int fast_tc)
{
	struct hdr_src h = {.ctx = ctx, .len = bpf_xdp_get_buff_len(ctx), .tc = 0, .segs = 1};

	return shed_body(&h, fast_tc ? ctx->ingress_ifindex : 0, SHED_KFUNC);
}

static __noinline enum filter_action shed_xdp_probe_sub(struct xdp_md *ctx, int fast_tc)
{
	struct hdr_src h = {.ctx = ctx, .len = bpf_xdp_get_buff_len(ctx), .tc = 0, .segs = 1};

	return shed_body(&h, fast_tc ? ctx->ingress_ifindex : 0, SHED_PROBE);
}

/* In tc the fast path ran already: what it passed goes up to the socket. */
static __noinline enum filter_action shed_tc_sub(struct __sk_buff *skb)
{
	struct hdr_src h = {.ctx = skb, .len = skb->len, .tc = 1, .segs = tc_segs(skb)};

	return shed_body(&h, 0, SHED_KFUNC);
}

static __noinline enum filter_action shed_tc_probe_sub(struct __sk_buff *skb)
{
	struct hdr_src h = {.ctx = skb, .len = skb->len, .tc = 1, .segs = tc_segs(skb)};

	return shed_body(&h, 0, SHED_PROBE);
}

/* The XDP body. shed is a constant of each program: the filter_* programs never reference
 * the shed stage, the compat ones never its kfuncs. Order: the filter (a denied source is
 * the filter's drop), the fast path (its datagrams never meet the listener's socket), then
 * shedding. */
static __always_inline int xdp_body(struct xdp_md *ctx, enum shed_reader shed)
{
	struct hdr_src h = {.ctx = ctx, .len = bpf_xdp_get_buff_len(ctx), .tc = 0, .segs = 1};
	__u64 mac;
	__u32 flags = iface_flags_mac(ctx->ingress_ifindex, &mac);
	int act, fast_tc;

	if ((flags & RR_IFACE_FILTER_XDP) &&
	    (shed ? filter_xdp_sub(ctx) : filter_body(&h, 0)) == ACT_DROP)
		return XDP_DROP;
	/* Never ahead of a filter that judges in tc here (user space puts the fast path in tc
	 * then: this only holds the line while the two change). */
	if ((flags & RR_IFACE_OFFLOAD_XDP) && !(flags & RR_IFACE_FILTER_TC)) {
		if (!shed)
			return offload_xdp(ctx, mac);
		act = offload_xdp_sub(ctx, mac);
		if (act != XDP_PASS)
			return act;
	}
	fast_tc = (flags & RR_IFACE_OFFLOAD_TC) != 0;
	if (shed && (flags & RR_IFACE_SHED_XDP) && !shed_gate_skip(h.len, 0) &&
	    (shed == SHED_KFUNC ? shed_xdp_sub(ctx, fast_tc) : shed_xdp_probe_sub(ctx, fast_tc)) ==
		    ACT_DROP)
		return XDP_DROP;
	return XDP_PASS;
}

/* tc: the skb exists already, but shedding still saves its socket enqueue, the drop there and
 * the accounting on the receiving CPU; and it keeps one counter for both hooks. */
static __always_inline int tc_body(struct __sk_buff *skb, enum shed_reader shed)
{
	/* skb->data is the MAC header here and skb->len counts from it. Before ingress hooks
	 * the stack moves an outer VLAN tag (or the NIC did) into skb->vlan_tci: it is no
	 * longer in the data but counts against the depth. */
	struct hdr_src h = {.ctx = skb, .len = skb->len, .tc = 1, .segs = tc_segs(skb)};
	__u32 flags = iface_flags(skb->ifindex);
	int act;

	if ((flags & RR_IFACE_FILTER_TC) &&
	    (shed ? filter_tc_sub(skb, skb->vlan_present ? 1 : 0)
		  : filter_body(&h, skb->vlan_present ? 1 : 0)) == ACT_DROP)
		return TC_ACT_SHOT;
	if (flags & RR_IFACE_OFFLOAD_TC) {
		if (skb->vlan_present) {
			offload_count(OFFLOAD_CNT_PASS_VLAN);
		} else {
			if (!shed)
				return offload_tc(skb, 0);
			act = shed == SHED_KFUNC ? offload_tc_sub(skb) : offload_tc_plain_sub(skb);
			if (act != TC_ACT_UNSPEC)
				return act;
		}
	}
	/* A tag the stack took off is not in the data: the parse would read the wrong
	 * header, so such a frame is not judged. */
	if (shed && (flags & RR_IFACE_SHED_TC) && !skb->vlan_present &&
	    !shed_gate_skip(h.len, skb->gso_size != 0) &&
	    (shed == SHED_KFUNC ? shed_tc_sub(skb) : shed_tc_probe_sub(skb)) == ACT_DROP)
		return TC_ACT_SHOT;
	/* No verdict rather than TC_ACT_OK, which would end the ingress chain: the tcx programs
	 * and classic filters after ours (someone's policer, another tool's program) still see
	 * what we pass; with none left the frame goes up the stack as with TC_ACT_OK. */
	return TC_ACT_UNSPEC;
}

/* xdp.frags: the program copes with multi-buffer frames (jumbo MTU), so native XDP can be
 * attached where the MTU is larger than a page; headers in frags are read like any other.
 * The filter runs first (a denied source never reaches the fast path), then the fast path. */
SEC("xdp.frags")
int filter_xdp(struct xdp_md *ctx)
{
	return xdp_body(ctx, SHED_NONE);
}

SEC("tc")
int filter_tc(struct __sk_buff *skb)
{
	return tc_body(skb, SHED_NONE);
}

/* The same with the shed stage; the loader attaches the first pair that loads. */
SEC("xdp.frags")
int shed_xdp(struct xdp_md *ctx)
{
	return xdp_body(ctx, SHED_KFUNC);
}

SEC("tc")
int shed_tc(struct __sk_buff *skb)
{
	return tc_body(skb, SHED_KFUNC);
}

SEC("xdp.frags")
int shed_xdp_compat(struct xdp_md *ctx)
{
	return xdp_body(ctx, SHED_PROBE);
}

SEC("tc")
int shed_tc_compat(struct __sk_buff *skb)
{
	return tc_body(skb, SHED_PROBE);
}

/* The XDP ones again without frags, for generic XDP only (the loader attaches them there).
 * For a program that takes frags, Linux 6.9+ (seen on 6.18) copies a cloned or nonlinear skb
 * for generic XDP (skb_pp_cow_data) without its MAC header length, and every tc program after
 * it, ours or anyone's, is handed the frame from its IP header. For one that does not, the
 * kernel linearizes the skb in place (as every kernel did before): the frame keeps its
 * Ethernet header for tc, and a jumbo one reaches the program whole. */
SEC("xdp")
int filter_xdp_skb(struct xdp_md *ctx)
{
	return xdp_body(ctx, SHED_NONE);
}

SEC("xdp")
int shed_xdp_skb(struct xdp_md *ctx)
{
	return xdp_body(ctx, SHED_KFUNC);
}

SEC("xdp")
int shed_compat_skb(struct xdp_md *ctx)
{
	return xdp_body(ctx, SHED_PROBE);
}

/* Frames a driver refused after XDP_REDIRECT from one of our interfaces, per egress: the
 * analogue of a qdisc drop after a successful sendmsg. Only frames whose ingress carries the
 * fast path in XDP count (nothing else of ours redirects). A BTF tracepoint: it attaches
 * without tracefs (which a network namespace's /sys lacks) and reads the two devices'
 * ifindex, the one kernel field this object reads, through CO-RE. The loader skips it on a
 * kernel without BTF. */
struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(offload_xmit_trace, const struct net_device *from_dev,
	     const struct net_device *to_dev, int sent, int drops, int err)
{
	struct offload_xmit_val *v;
	__u32 from = (__u32)from_dev->ifindex, to = (__u32)to_dev->ifindex;
	struct rr_iface *fi = bpf_map_lookup_elem(&rr_ifaces, &from);

	if (!fi || !(fi->flags & RR_IFACE_OFFLOAD_XDP))
		return 0;
	v = xmit_val(to);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->drops, (__u64)(drops > 0 ? drops : 0));
	__sync_fetch_and_add(&v->sent, (__u64)(sent > 0 ? sent : 0));
	return 0;
}

/* An XDP_REDIRECT of ours the kernel refused before any driver saw it (xdp_do_redirect's
 * error): the frame is lost; count it against the target. Only an error that says the target
 * takes no redirects now marks it down: -EOPNOTSUPP (its NDO_XMIT is gone, as when a veth
 * peer loses its NAPI) or -ENETDOWN. -EMSGSIZE (one frame over the target's MTU + 18: a route
 * MTU above the device's, or a device MTU lowered since the FIB answered), -EOVERFLOW (a frame
 * without headroom) and -EINVAL (a target removed since the lookup) concern one frame, and
 * marking the target down for them let one frame send every session to it up the stack. */
/* errno values (asm-generic/errno.h; a BPF object includes no libc) */
#define RR_EOPNOTSUPP 95
#define RR_ENETDOWN 100

SEC("tp_btf/xdp_redirect_err")
int BPF_PROG(offload_redirect_err, const struct net_device *dev, const void *xdp, const void *tgt,
	     int err, int map_type, __u32 map_id, __u32 index)
{
	struct offload_xmit_val *v;
	__u32 from = (__u32)dev->ifindex, to = index, one = 1;
	struct rr_iface *fi = bpf_map_lookup_elem(&rr_ifaces, &from);

	if (!fi || !(fi->flags & RR_IFACE_OFFLOAD_XDP) || map_type != BPF_MAP_TYPE_DEVMAP_HASH)
		return 0;
	if (err == -RR_EOPNOTSUPP || err == -RR_ENETDOWN)
		bpf_map_update_elem(&offload_tx_down, &to, &one, BPF_ANY);
	v = xmit_val(to);
	if (!v)
		return 0;
	__sync_fetch_and_add(&v->drops, 1);
	return 0;
}
