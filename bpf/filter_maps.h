/* SPDX-License-Identifier: MIT */
/* The contract between bpf/filter.bpf.c and src/filter.c: map keys, values, counter indices
 * and constants. Compiled by clang -target bpf and by the host compiler, so it includes only
 * <linux/types.h> and every struct has a fixed, asserted layout. */
#ifndef RINGRELAY_FILTER_MAPS_H
#define RINGRELAY_FILTER_MAPS_H

#include <linux/types.h>

/* Two rule sets (double buffer). The program reads filter_active once per packet and uses
 * that generation for every lookup, so a packet never sees half of one set and half of the
 * other; user space fills the idle generation and then flips the index. */
#define FILTER_GENS 2

/* Sizes mirror src/config.h (filter.c asserts they agree). */
#define FILTER_MAP_MAX_PREFIXES 4096 /* per list */
#define FILTER_MAP_MAX_PORT_RULES 64
/* Rule ids: deny[i] = i, allow[i] = MAX_PREFIXES + i, ports[i] = 2 * MAX_PREFIXES + i. */
#define FILTER_RULE_DENY_BASE 0
#define FILTER_RULE_ALLOW_BASE FILTER_MAP_MAX_PREFIXES
#define FILTER_RULE_PORT_BASE (2 * FILTER_MAP_MAX_PREFIXES)
#define FILTER_RULES (2 * FILTER_MAP_MAX_PREFIXES + FILTER_MAP_MAX_PORT_RULES)

/* LPM trie: one trie for both families and both generations. data[0] is the generation,
 * data[1..16] the IPv4-mapped address, so prefixlen = 8 + prefix bits of the 128-bit form
 * and an entry of one generation can never match a lookup of the other. */
#define FILTER_LPM_GEN_BITS 8
struct filter_lpm_key {
	__u32 prefixlen;
	__u8 data[17];
	__u8 pad[3]; /* zero; not covered by prefixlen */
};

enum filter_rule_verdict { FILTER_RULE_ALLOW = 0, FILTER_RULE_DENY = 1 };

struct filter_lpm_val {
	__u32 verdict; /* enum filter_rule_verdict */
	__u32 rule;    /* rule id for the hit counters */
};

/* Port table: ARRAY of FILTER_GENS * 65536 entries, index gen * 65536 + dst port. */
#define FILTER_PORTS 65536
#define FILTER_PORT_RELAY 0x1u	  /* a relay listens here (scope "relays") */
#define FILTER_PORT_RULE 0x2u	  /* a port rule covers this port */
#define FILTER_PORT_DENY 0x4u	  /* ... and its verdict is deny */
#define FILTER_PORT_RULE_SHIFT 16 /* the rule's index in ports[] */

/* Per-generation settings: ARRAY of FILTER_GENS entries. */
enum filter_scope_kind { FILTER_SCOPE_KIND_RELAYS = 0, FILTER_SCOPE_KIND_UDP = 1 };

struct filter_settings {
	__u32 default_deny;	/* verdict when no prefix matches */
	__u32 scope;		/* enum filter_scope_kind */
	__u32 relay_ports_only; /* scope udp: UDP to a non-relay port is dropped */
	/* An IP frame the parser cannot read through to its UDP header (or to a decision that
	 * it is not UDP), and a VLAN stack deeper than FILTER_MAX_VLAN_TAGS: 1 = drop, 0 = pass.
	 * Its destination port is unknown, so scope cannot exempt it (docs/filter.md). */
	__u32 unparsed_drop;
	__u64 rate_interval_ns; /* 1e9 / pps; 0 = no rate limit */
	__u64 rate_burst_ns;	/* burst * interval: how far ahead the bucket may run */
	/* Source masks of the rate-limit key (IPv4-mapped form), precomputed by user space
	 * so the program masks without data-dependent branches (cheap for the verifier). */
	__u8 rate_mask4[16];
	__u8 rate_mask6[16];
};

/* Rate-limit bucket (LRU_HASH keyed by the masked IPv4-mapped source address). It is a
 * GCRA "theoretical arrival time": a datagram is allowed while tat + interval - now <= burst
 * window, and then pushes tat one interval further. Tests drive time by moving tat. */
struct filter_rate_key {
	__u8 addr[16];
};

struct filter_rate_val {
	__u64 tat_ns;
};

#define FILTER_RATE_ENTRIES 65536

/* Verdict/reason counters: PERCPU_ARRAY of FILTER_CNT__MAX u64 packets. Every packet that
 * reaches the program increments exactly one of them. */
enum filter_counter {
	FILTER_CNT_PASS_NOT_IP,		/* ARP, LLDP, unknown ethertypes, runt frames */
	FILTER_CNT_PASS_NOT_UDP,	/* ICMP, ND, TCP (SSH) ... */
	FILTER_CNT_PASS_OUT_OF_SCOPE,	/* UDP not addressed to a relay port (scope relays) */
	FILTER_CNT_PASS_UNPARSED,	/* cannot read through to UDP, and unparsed = "pass" */
	FILTER_CNT_PASS_FRAGMENT,	/* non-first fragment without an explicit deny */
	FILTER_CNT_ALLOW,		/* judged and allowed */
	FILTER_CNT_DROP_PREFIX,		/* source matched a deny prefix */
	FILTER_CNT_DROP_DEFAULT,	/* no prefix matched and the default is deny */
	FILTER_CNT_DROP_PORT,		/* a port rule denied it */
	FILTER_CNT_DROP_NOT_RELAY_PORT, /* scope udp + relay_ports_only */
	FILTER_CNT_DROP_RATE,		/* over the source's rate limit */
	FILTER_CNT_DROP_MALFORMED,	/* in-scope UDP whose lengths disagree with the frame */
	FILTER_CNT_DROP_FRAGMENT,	/* non-first fragment from a denied prefix */
	FILTER_CNT_DROP_EXT_HEADERS,	/* IPv6 extension chain longer than we walk (unparsed) */
	FILTER_CNT_DROP_UNPARSED, /* other frames we cannot read through (unparsed = "drop") */
	FILTER_CNT__MAX
};

/* Bound on IPv6 extension headers walked before the transport header. */
#define FILTER_MAX_EXT_HEADERS 6
/* Bound on VLAN tags (802.1Q and 802.1ad, any mix) walked before the IP header. The stack
 * strips any number of VID-0 tags, so a deeper stack is not "not IP": it gets the unparsed
 * verdict. On tc an outer tag the stack already took off (skb->vlan_tci) counts too. */
#define FILTER_MAX_VLAN_TAGS 8

_Static_assert(sizeof(struct filter_lpm_key) == 24, "lpm key layout");
_Static_assert(sizeof(struct filter_lpm_val) == 8, "lpm value layout");
_Static_assert(sizeof(struct filter_settings) == 64, "settings layout");
_Static_assert(sizeof(struct filter_rate_key) == 16, "rate key layout");
_Static_assert(sizeof(struct filter_rate_val) == 8, "rate value layout");

#endif
