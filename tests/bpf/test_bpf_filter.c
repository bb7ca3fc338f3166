// SPDX-License-Identifier: MIT
/* BPF_PROG_TEST_RUN over a table of frames: each runs through the XDP and the tc flavour of
 * the filter and must give the expected verdict and bump exactly the expected counter. Also
 * the rate limit (time driven by moving the bucket's timestamp, see docs/filter.md) and the
 * atomic rule-set swap. Needs root (exit 77 otherwise). */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/pkt_cls.h>
#include <linux/seccomp.h>

#include "config.h"
#include "filter.h"
#include "log.h"

#define RELAY_PORT 5000
#define PORT_ALLOW 5001 /* relay port with an allow port rule */
#define PORT_DENY 5002	/* relay port with a deny port rule */
#define OTHER_PORT 53

enum mut {
	M_NONE,
	M_VLAN,
	M_QINQ,
	M_IP_OPTIONS,
	M_BAD_IHL,
	M_TRUNC_IP,   /* tot_len / payload_len longer than the frame */
	M_RUNT_IP,    /* Ethernet header and half an IP header */
	M_RUNT_VLAN,  /* VLAN ethertype, tag cut off */
	M_FRAG_FIRST, /* offset 0 + more fragments: the UDP length covers the whole datagram */
	M_FRAG_LATER,
	M_UDP_LONG,   /* UDP length beyond the IP payload */
	M_UDP_SHORT,  /* UDP length below 8 */
	M_UDP_PADDED, /* UDP length shorter than the payload: legal */
	M_ICMP,
	M_TCP,
	M_ARP,
	M_V6_EXT,      /* hop-by-hop + destination options before UDP */
	M_V6_EXT_MANY, /* more extension headers than the filter walks */
	M_V6_FRAG_FIRST,
	M_V6_FRAG_LATER,
	M_FRAG_FIRST_HUGE, /* first fragment claiming more than 65535 bytes of IP payload */
	M_FRAG_FIRST_TINY, /* first fragment with half a UDP header: the ports are elsewhere */
	M_FRAG_LATER_TCP,  /* later fragment, protocol (v4) / next header (v6) TCP */
	M_UDP_TRUNC,	   /* IP payload shorter than a UDP header */
	M_V6_EXT_TRUNC,	   /* an extension header longer than the payload */
	M_V6_EXT_BIG,	   /* two 2 KB destination options: UDP beyond the first page */
	M_TOT_LEN_0,	   /* IPv4 UDP with tot_len 0 */
	M_TCP_TOT_LEN_0,   /* IPv4 TCP with tot_len 0: a BIG TCP aggregate (over 64 KB) */
	M_V6_FRAG_FIRST_ICMP, /* first fragment of an ICMPv6 datagram */
	M_V6_FRAG_FIRST_DEEP, /* first fragment header, then more extension headers than walked */
};

struct frame {
	const char *name;
	const char *src;
	uint16_t dport;
	enum mut mut;
	int drop;		 /* expected: 1 drop, 0 pass */
	enum filter_counter cnt; /* the one counter that must rise by 1 */
	int tags;		 /* VID-0 VLAN tags (802.1ad outside 802.1Q, alternating) */
	size_t payload;		 /* UDP/TCP payload bytes; 0 = 32 */
};

#define FRAME_MAX 10000
/* The kernel's skb test run takes at most about a page of linear data (no frags): larger
 * frames run through XDP only here (frags); tests/net/test_filter_bypass.sh and
 * test_bpf_filter_fuzz's veth path give tc its non-linear skbs. */
#define TC_TEST_RUN_MAX 3500

static const struct frame frames[] = {
    {"v4 allowed by default", "198.18.1.1", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW, 0, 0},
    {"v4 denied /24", "198.18.66.1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX, 0, 0},
    {"v4 allow /32 inside deny /24", "198.18.66.7", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW, 0, 0},
    {"v4 deny /32 inside allow /24", "198.18.70.9", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX,
     0, 0},
    {"v4 allow /24 neighbour", "198.18.70.10", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW, 0, 0},
    {"v4 denied, other port: out of scope", "198.18.66.1", OTHER_PORT, M_NONE, 0,
     FILTER_CNT_PASS_OUT_OF_SCOPE, 0, 0},
    {"v4 port rule deny", "198.18.1.1", PORT_DENY, M_NONE, 1, FILTER_CNT_DROP_PORT, 0, 0},
    {"v4 port rule allow beats prefix", "198.18.66.1", PORT_ALLOW, M_NONE, 0, FILTER_CNT_ALLOW, 0,
     0},
    {"v4 VLAN denied", "198.18.66.1", RELAY_PORT, M_VLAN, 1, FILTER_CNT_DROP_PREFIX, 0, 0},
    {"v4 VLAN allowed", "198.18.1.1", RELAY_PORT, M_VLAN, 0, FILTER_CNT_ALLOW, 0, 0},
    {"v4 QinQ denied", "198.18.66.1", RELAY_PORT, M_QINQ, 1, FILTER_CNT_DROP_PREFIX, 0, 0},
    {"v4 3 VID-0 tags denied", "198.18.66.1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX, 3, 0},
    {"v4 8 VID-0 tags denied", "198.18.66.1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX, 8, 0},
    {"v4 8 VID-0 tags allowed", "198.18.1.1", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW, 8, 0},
    {"v4 9 tags: deeper than walked", "198.18.1.1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_UNPARSED,
     9, 0},
    {"v4 9 tags, other port: still unparsed", "198.18.1.1", OTHER_PORT, M_NONE, 1,
     FILTER_CNT_DROP_UNPARSED, 9, 0},
    {"v4 IP options denied", "198.18.66.1", RELAY_PORT, M_IP_OPTIONS, 1, FILTER_CNT_DROP_PREFIX, 0,
     0},
    {"v4 IP options allowed", "198.18.1.1", RELAY_PORT, M_IP_OPTIONS, 0, FILTER_CNT_ALLOW, 0, 0},
    {"v4 bad IHL", "198.18.66.1", RELAY_PORT, M_BAD_IHL, 1, FILTER_CNT_DROP_UNPARSED, 0, 0},
    {"v4 tot_len beyond frame", "198.18.66.1", RELAY_PORT, M_TRUNC_IP, 1, FILTER_CNT_DROP_UNPARSED,
     0, 0},
    {"runt: half an IPv4 header", "198.18.66.1", RELAY_PORT, M_RUNT_IP, 1, FILTER_CNT_DROP_UNPARSED,
     0, 0},
    {"runt: VLAN tag cut off", "198.18.66.1", RELAY_PORT, M_RUNT_VLAN, 0, FILTER_CNT_PASS_NOT_IP, 0,
     0},
    {"v4 UDP header cut by tot_len", "198.18.1.1", OTHER_PORT, M_UDP_TRUNC, 1,
     FILTER_CNT_DROP_UNPARSED, 0, 0},
    {"v4 first fragment denied", "198.18.66.1", RELAY_PORT, M_FRAG_FIRST, 1, FILTER_CNT_DROP_PREFIX,
     0, 0},
    {"v4 first fragment allowed (UDP length = datagram)", "198.18.1.1", RELAY_PORT, M_FRAG_FIRST, 0,
     FILTER_CNT_ALLOW, 0, 0},
    {"v4 first fragment, 1480-byte fragment of 4000", "198.18.1.1", RELAY_PORT, M_FRAG_FIRST, 0,
     FILTER_CNT_ALLOW, 0, 1472},
    {"v4 first fragment claiming > 65515", "198.18.1.1", RELAY_PORT, M_FRAG_FIRST_HUGE, 1,
     FILTER_CNT_DROP_MALFORMED, 0, 0},
    {"v4 first fragment, half a UDP header", "198.18.1.1", RELAY_PORT, M_FRAG_FIRST_TINY, 1,
     FILTER_CNT_DROP_UNPARSED, 0, 0},
    {"v4 later fragment, denied prefix", "198.18.66.1", RELAY_PORT, M_FRAG_LATER, 1,
     FILTER_CNT_DROP_FRAGMENT, 0, 0},
    {"v4 later fragment, other source", "198.18.1.1", RELAY_PORT, M_FRAG_LATER, 0,
     FILTER_CNT_PASS_FRAGMENT, 0, 0},
    /* A denied source's fragmented datagram out of scope, or to an allowed port: the first
     * fragment passes, and so do the later ones (test_frag_verdicts). */
    {"v4 first fragment, denied prefix, other port", "198.18.66.1", OTHER_PORT, M_FRAG_FIRST, 0,
     FILTER_CNT_PASS_OUT_OF_SCOPE, 0, 0},
    {"v4 first fragment, denied prefix, allowed port", "198.18.66.1", PORT_ALLOW, M_FRAG_FIRST, 0,
     FILTER_CNT_ALLOW, 0, 0},
    {"v4 later fragment of TCP, denied prefix", "198.18.66.1", RELAY_PORT, M_FRAG_LATER_TCP, 0,
     FILTER_CNT_PASS_NOT_UDP, 0, 0},
    {"v4 UDP length beyond payload", "198.18.1.1", RELAY_PORT, M_UDP_LONG, 1,
     FILTER_CNT_DROP_MALFORMED, 0, 0},
    {"v4 UDP length below header", "198.18.1.1", RELAY_PORT, M_UDP_SHORT, 1,
     FILTER_CNT_DROP_MALFORMED, 0, 0},
    {"v4 UDP length padded (legal)", "198.18.1.1", RELAY_PORT, M_UDP_PADDED, 0, FILTER_CNT_ALLOW, 0,
     0},
    {"v4 UDP bad length out of scope", "198.18.1.1", OTHER_PORT, M_UDP_LONG, 0,
     FILTER_CNT_PASS_OUT_OF_SCOPE, 0, 0},
    {"v4 ICMP from denied prefix", "198.18.66.1", 0, M_ICMP, 0, FILTER_CNT_PASS_NOT_UDP, 0, 0},
    {"v4 TCP/22 from denied prefix", "198.18.66.1", 22, M_TCP, 0, FILTER_CNT_PASS_NOT_UDP, 0, 0},
    {"v4 TCP with tot_len 0 (BIG TCP)", "198.18.66.1", 22, M_TCP_TOT_LEN_0, 0,
     FILTER_CNT_PASS_NOT_UDP, 0, 0},
    {"v4 UDP with tot_len 0: no BIG TCP", "198.18.1.1", RELAY_PORT, M_TOT_LEN_0, 1,
     FILTER_CNT_DROP_UNPARSED, 0, 0},
    {"v4 denied 5000-byte datagram (XDP frags)", "198.18.66.1", RELAY_PORT, M_NONE, 1,
     FILTER_CNT_DROP_PREFIX, 0, 5000},
    {"v4 allowed 8972-byte datagram in 2 tags", "198.18.1.1", RELAY_PORT, M_NONE, 0,
     FILTER_CNT_ALLOW, 2, 8972},
    {"ARP", "198.18.66.1", 0, M_ARP, 0, FILTER_CNT_PASS_NOT_IP, 0, 0},
    {"v6 allowed by default", "2001:2:0:1::1", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW, 0, 0},
    {"v6 denied /60", "2001:2:0:bad0::1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX, 0, 0},
    {"v6 allow /64 inside deny /60", "2001:2:0:bad1::1", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW, 0,
     0},
    {"v6 denied, other port", "2001:2:0:bad0::1", OTHER_PORT, M_NONE, 0,
     FILTER_CNT_PASS_OUT_OF_SCOPE, 0, 0},
    {"v6 VLAN denied", "2001:2:0:bad0::1", RELAY_PORT, M_VLAN, 1, FILTER_CNT_DROP_PREFIX, 0, 0},
    {"v6 QinQ allowed", "2001:2:0:1::1", RELAY_PORT, M_QINQ, 0, FILTER_CNT_ALLOW, 0, 0},
    {"v6 3 VID-0 tags denied", "2001:2:0:bad0::1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX, 3,
     0},
    {"v6 4 VID-0 tags denied", "2001:2:0:bad0::1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX, 4,
     0},
    {"v6 9 tags: deeper than walked", "2001:2:0:1::1", RELAY_PORT, M_NONE, 1,
     FILTER_CNT_DROP_UNPARSED, 9, 0},
    {"v6 ext headers denied", "2001:2:0:bad0::1", RELAY_PORT, M_V6_EXT, 1, FILTER_CNT_DROP_PREFIX,
     0, 0},
    {"v6 ext headers allowed", "2001:2:0:1::1", RELAY_PORT, M_V6_EXT, 0, FILTER_CNT_ALLOW, 0, 0},
    {"v6 ext chain over the bound", "2001:2:0:1::1", RELAY_PORT, M_V6_EXT_MANY, 1,
     FILTER_CNT_DROP_EXT_HEADERS, 0, 0},
    {"v6 ext header beyond the payload", "2001:2:0:1::1", RELAY_PORT, M_V6_EXT_TRUNC, 1,
     FILTER_CNT_DROP_UNPARSED, 0, 0},
    {"v6 UDP beyond the first page (XDP frags)", "2001:2:0:bad0::1", RELAY_PORT, M_V6_EXT_BIG, 1,
     FILTER_CNT_DROP_PREFIX, 0, 0},
    {"v6 payload_len beyond frame", "2001:2:0:1::1", RELAY_PORT, M_TRUNC_IP, 1,
     FILTER_CNT_DROP_UNPARSED, 0, 0},
    {"v6 first fragment denied", "2001:2:0:bad0::1", RELAY_PORT, M_V6_FRAG_FIRST, 1,
     FILTER_CNT_DROP_PREFIX, 0, 0},
    {"v6 first fragment allowed (UDP length = datagram)", "2001:2:0:1::1", RELAY_PORT,
     M_V6_FRAG_FIRST, 0, FILTER_CNT_ALLOW, 0, 0},
    {"v6 first fragment claiming > 65535 - ext", "2001:2:0:1::1", RELAY_PORT, M_FRAG_FIRST_HUGE, 1,
     FILTER_CNT_DROP_MALFORMED, 0, 0},
    {"v6 first fragment, half a UDP header", "2001:2:0:1::1", RELAY_PORT, M_FRAG_FIRST_TINY, 1,
     FILTER_CNT_DROP_UNPARSED, 0, 0},
    {"v6 later fragment denied prefix", "2001:2:0:bad0::1", RELAY_PORT, M_V6_FRAG_LATER, 1,
     FILTER_CNT_DROP_FRAGMENT, 0, 0},
    {"v6 later fragment other source", "2001:2:0:1::1", RELAY_PORT, M_V6_FRAG_LATER, 0,
     FILTER_CNT_PASS_FRAGMENT, 0, 0},
    {"v6 later fragment saying TCP, denied prefix", "2001:2:0:bad0::1", RELAY_PORT,
     M_FRAG_LATER_TCP, 1, FILTER_CNT_DROP_FRAGMENT, 0, 0},
    {"v6 UDP length beyond payload", "2001:2:0:1::1", RELAY_PORT, M_UDP_LONG, 1,
     FILTER_CNT_DROP_MALFORMED, 0, 0},
    {"v6 UDP header cut by payload_len", "2001:2:0:1::1", OTHER_PORT, M_UDP_TRUNC, 1,
     FILTER_CNT_DROP_UNPARSED, 0, 0},
    {"v6 denied 5000-byte datagram (XDP frags)", "2001:2:0:bad0::1", RELAY_PORT, M_NONE, 1,
     FILTER_CNT_DROP_PREFIX, 0, 5000},
    {"v6 ICMPv6 (ND) from denied prefix", "2001:2:0:bad0::1", 0, M_ICMP, 0, FILTER_CNT_PASS_NOT_UDP,
     0, 0},
    {"v6 TCP/22 from denied prefix", "2001:2:0:bad0::1", 22, M_TCP, 0, FILTER_CNT_PASS_NOT_UDP, 0,
     0},
    /* ipv6_rcv drops a v4-mapped source; it is not the IPv4 address's (allowed) */
    {"v6 v4-mapped source", "::ffff:198.18.1.1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_UNPARSED, 0,
     0},
    {"v6 v4-mapped source, other port", "::ffff:198.18.66.1", OTHER_PORT, M_NONE, 1,
     FILTER_CNT_DROP_UNPARSED, 0, 0},
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* Builds the frame into buf (FRAME_MAX bytes); returns its length. */
static size_t frame_build(const struct frame *fr, uint8_t *buf)
{
	uint8_t src[16], dst4[4] = {198, 18, 1, 2}, *p = buf + 12, *ip, *l4, *e;
	int v6 = strchr(fr->src, ':') != NULL, i, n_ext = 0, frag = 0, tags = fr->tags;
	size_t payload = fr->payload ? fr->payload : 32, l4len, iplen, hlen = 20, ext_len = 8;
	uint8_t proto = fr->mut == M_ICMP || fr->mut == M_V6_FRAG_FIRST_ICMP ? (v6 ? 58 : 1)
			: fr->mut == M_TCP					 ? 6
										 : 17;
	uint16_t ulen;

	memset(buf, 0, FRAME_MAX);
	memset(buf, 0x02, 12); /* MACs: any unicast */
	if (fr->mut == M_VLAN || fr->mut == M_QINQ || fr->mut == M_RUNT_VLAN) {
		put16(p, fr->mut == M_QINQ ? 0x88a8 : 0x8100);
		if (fr->mut == M_RUNT_VLAN)
			return 16;
		put16(p + 2, 100);
		p += 4;
		if (fr->mut == M_QINQ) {
			put16(p, 0x8100);
			put16(p + 2, 200);
			p += 4;
		}
	}
	for (i = 0; i < tags; i++, p += 4) {
		put16(p, i % 2 == 0 && i + 1 < tags ? 0x88a8 : 0x8100);
		put16(p + 2, 0); /* VID 0: the stack strips it and carries on */
	}
	if (fr->mut == M_ARP) {
		put16(p, 0x0806);
		memset(p + 2, 0x01, 28);
		return (size_t)(p + 30 - buf);
	}
	put16(p, v6 ? 0x86dd : 0x0800);
	ip = p + 2;
	inet_pton(v6 ? AF_INET6 : AF_INET, fr->src, src);
	if (fr->mut == M_IP_OPTIONS)
		hlen = 24;
	if (fr->mut == M_FRAG_LATER_TCP || fr->mut == M_TCP_TOT_LEN_0)
		proto = 6;
	if (fr->mut == M_UDP_TRUNC || fr->mut == M_FRAG_FIRST_TINY)
		payload = 0;
	if (v6) {
		hlen = 40;
		if (fr->mut == M_V6_EXT || fr->mut == M_V6_EXT_TRUNC ||
		    fr->mut == M_FRAG_FIRST_HUGE)
			n_ext = 2;
		if (fr->mut == M_V6_EXT_MANY)
			n_ext = FILTER_MAX_EXT_HEADERS + 1;
		if (fr->mut == M_V6_FRAG_FIRST_DEEP)
			n_ext = FILTER_MAX_EXT_HEADERS; /* 7 headers with the fragment header */
		if (fr->mut == M_V6_EXT_BIG) {
			n_ext = 2;
			ext_len = 2048;
		}
		if (fr->mut == M_V6_FRAG_FIRST || fr->mut == M_V6_FRAG_LATER ||
		    fr->mut == M_FRAG_FIRST_HUGE || fr->mut == M_FRAG_FIRST_TINY ||
		    fr->mut == M_FRAG_LATER_TCP || fr->mut == M_V6_FRAG_FIRST_ICMP ||
		    fr->mut == M_V6_FRAG_FIRST_DEEP)
			frag = 1;
	}
	l4 = ip + hlen + ext_len * n_ext + 8 * frag;
	l4len = (proto == 6 ? 20 : 8) + payload;
	iplen = (size_t)(l4 - ip) + l4len;
	/* Cut into the UDP header: the IP length says only 4 bytes of it are there. */
	if (fr->mut == M_UDP_TRUNC || fr->mut == M_FRAG_FIRST_TINY)
		iplen -= 4;
	if (v6) {
		e = ip + 40;
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(iplen - 40 + (fr->mut == M_TRUNC_IP ? 100 : 0)));
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		ip[24] = 0x20;
		ip[25] = 0x01;
		ip[27] = 0x02;
		ip[39] = 2;
		/* Chain: ext headers (hop-by-hop first, then destination options), fragment. */
		ip[6] = n_ext ? 0 : frag ? 44 : proto;
		for (i = 0; i < n_ext; i++, e += ext_len) {
			e[0] = i + 1 < n_ext ? 60 : frag ? 44 : proto;
			e[1] = (uint8_t)(ext_len / 8 - 1);
			/* PadN over the rest of the header */
			e[2] = 1;
			e[3] = (uint8_t)(ext_len - 4 > 255 ? 255 : ext_len - 4);
		}
		if (fr->mut == M_V6_EXT_TRUNC)
			ip[40 + 8 + 1] = 20; /* the second header claims 168 bytes */
		if (frag) {
			e[0] = proto;
			put16(e + 2, fr->mut == M_V6_FRAG_LATER || fr->mut == M_FRAG_LATER_TCP
					 ? (185 << 3)
					 : 1); /* M bit */
		}
		if (fr->mut == M_V6_FRAG_FIRST_DEEP) {
			/* The fragment header first: IPv6, fragment, the n_ext others, UDP. */
			uint8_t fh[8];

			memcpy(fh, e, 8);
			memmove(ip + 48, ip + 40, (size_t)(e - (ip + 40)));
			memcpy(ip + 40, fh, 8);
			ip[6] = 44;
			ip[40] = 60;
			ip[48 + 8 * (n_ext - 1)] = proto;
		}
	} else {
		ip[0] = 0x40 | (uint8_t)(hlen / 4);
		if (fr->mut == M_BAD_IHL)
			ip[0] = 0x43;
		put16(ip + 2, (uint16_t)(iplen + (fr->mut == M_TRUNC_IP ? 100 : 0)));
		if (fr->mut == M_TOT_LEN_0 || fr->mut == M_TCP_TOT_LEN_0)
			put16(ip + 2, 0);
		if (fr->mut == M_FRAG_FIRST || fr->mut == M_FRAG_FIRST_HUGE ||
		    fr->mut == M_FRAG_FIRST_TINY)
			put16(ip + 6, 0x2000);
		if (fr->mut == M_FRAG_LATER || fr->mut == M_FRAG_LATER_TCP)
			put16(ip + 6, 185);
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst4, 4);
		if (fr->mut == M_RUNT_IP)
			return (size_t)(ip + 10 - buf);
	}
	put16(l4, 40000);
	put16(l4 + 2, fr->dport);
	if (proto == 17) {
		ulen = (uint16_t)l4len;
		if (fr->mut == M_UDP_LONG)
			ulen += 50;
		if (fr->mut == M_UDP_SHORT)
			ulen = 4;
		if (fr->mut == M_UDP_PADDED)
			ulen -= 10;
		/* A first fragment carries the whole datagram's UDP length: here 4000 bytes,
		 * far more than this fragment holds (the old unit test had them equal). */
		if (fr->mut == M_FRAG_FIRST || fr->mut == M_V6_FRAG_FIRST ||
		    fr->mut == M_V6_FRAG_FIRST_DEEP)
			ulen = 4000;
		if (fr->mut == M_FRAG_FIRST_HUGE)
			ulen = 65530;
		put16(l4 + 4, ulen);
	} else if (proto == 6) {
		l4[12] = 0x50;
	}
	return (size_t)(ip + iplen - buf);
}

struct fixture {
	struct config *cfg;
	struct filter *f;
};

static void conf_prefix(struct filter_prefix *fp, const char *text)
{
	const char *why;

	assert_int_equal(prefix_parse(text, &fp->prefix, &why), 0);
	fp->line = 1;
}

/* The table's rule set: see the frame names. */
static struct config *conf_table(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct filter_conf *fc;
	const char *why;

	assert_non_null(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "test.conf");
	cfg->n_relays = 1;
	cfg->relays[0].n_listen = 3;
	assert_int_equal(addr_parse("*:5000", &cfg->relays[0].listen[0], &why), 0);
	assert_int_equal(addr_parse("[::]:5001", &cfg->relays[0].listen[1], &why), 0);
	assert_int_equal(addr_parse("*:5002", &cfg->relays[0].listen[2], &why), 0);
	fc = &cfg->filter;
	fc->mode = FILTER_MODE_XDP;
	fc->default_verdict = FILTER_VERDICT_ALLOW;
	fc->scope = FILTER_SCOPE_RELAYS;
	fc->unparsed = FILTER_VERDICT_DENY; /* the config's default */
	conf_prefix(&fc->deny[fc->n_deny++], "198.18.66.0/24");
	conf_prefix(&fc->deny[fc->n_deny++], "198.18.70.9/32");
	conf_prefix(&fc->deny[fc->n_deny++], "2001:2:0:bad0::/60");
	conf_prefix(&fc->allow[fc->n_allow++], "198.18.66.7/32");
	conf_prefix(&fc->allow[fc->n_allow++], "198.18.70.0/24");
	conf_prefix(&fc->allow[fc->n_allow++], "2001:2:0:bad1::/64");
	fc->ports[fc->n_ports++] =
	    (struct filter_port_rule){PORT_ALLOW, PORT_ALLOW, FILTER_VERDICT_ALLOW, 1};
	fc->ports[fc->n_ports++] =
	    (struct filter_port_rule){PORT_DENY, PORT_DENY, FILTER_VERDICT_DENY, 1};
	return cfg;
}

static int setup_table(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[CONFIG_ERR_LEN];

	fx->cfg = conf_table();
	if (filter_open(fx->cfg, &fx->f, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	filter_free(fx->f);
	free(fx->cfg);
	free(fx);
	return 0;
}

/* Runs one frame through one flavour; returns 1 for drop, 0 for pass. */
static int run_frame(struct filter *f, int tc, const uint8_t *buf, size_t len, int repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = (__u32)len,
		    .repeat = repeat);
	int ret;

	ret = bpf_prog_test_run_opts(filter_prog_fd(f, tc), &opts);
	if (ret)
		fail_msg("BPF_PROG_TEST_RUN (%s, %zu bytes): %s", tc ? "tc" : "xdp", len,
			 strerror(-ret));
	if (tc) {
		assert_true(opts.retval == (uint32_t)TC_ACT_UNSPEC || opts.retval == TC_ACT_SHOT);
		return opts.retval == TC_ACT_SHOT;
	}
	assert_true(opts.retval == XDP_PASS || opts.retval == XDP_DROP);
	return opts.retval == XDP_DROP;
}

/* As run_frame in tc, the frame standing for a GRO or GSO skb of segs datagrams. */
static int run_tc_segs(struct filter *f, const uint8_t *buf, size_t len, uint32_t segs)
{
	struct __sk_buff skb = { .gso_segs = segs, .gso_size = 100 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = (__u32)len,
		    .ctx_in = &skb, .ctx_size_in = sizeof(skb), .repeat = 1);
	int ret;

	ret = bpf_prog_test_run_opts(filter_prog_fd(f, 1), &opts);
	if (ret)
		fail_msg("BPF_PROG_TEST_RUN (tc, %u segments): %s", segs, strerror(-ret));
	assert_true(opts.retval == (uint32_t)TC_ACT_UNSPEC || opts.retval == TC_ACT_SHOT);
	return opts.retval == TC_ACT_SHOT;
}

/* Runs the frame fr built into buf through one flavour: the verdict and exactly one counter
 * rise must be fr's. */
static void check_frame(struct filter *f, int tc, const struct frame *fr, const uint8_t *buf,
			size_t len)
{
	struct filter_stats *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	int c;

	assert_int_equal(filter_read_stats(f, before), 0);
	if (run_frame(f, tc, buf, len, 1) != fr->drop)
		fail_msg("%s (%s): verdict %s", fr->name, tc ? "tc" : "xdp",
			 fr->drop ? "pass, want drop" : "drop, want pass");
	assert_int_equal(filter_read_stats(f, after), 0);
	for (c = 0; c < FILTER_CNT__MAX; c++) {
		uint64_t d = after->counters[c] - before->counters[c];

		if (d != (c == (int)fr->cnt))
			fail_msg("%s (%s): counter %s changed by %llu", fr->name, tc ? "tc" : "xdp",
				 filter_counter_name(c), (unsigned long long)d);
	}
	free(before);
	free(after);
}

/* Forgets every first fragment's verdict (filter_frags). */
static void frags_reset(struct filter *f)
{
	struct filter_frag_key key;
	int fd = filter_map_fd(f, "filter_frags");

	assert_true(fd >= 0);
	while (bpf_map_get_next_key(fd, NULL, &key) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, &key), 0);
}

/* Runs every frame of tab through both flavours: the verdict and exactly one counter rise
 * must match. Each frame stands alone: no first fragment's verdict carries over to the next
 * frame (all the table's frames have the same addresses and IP ID). */
static void run_table(struct filter *f, const struct frame *tab, size_t n)
{
	static uint8_t buf[FRAME_MAX];
	size_t i, len;
	int tc;

	for (i = 0; i < n; i++) {
		frags_reset(f);
		len = frame_build(&tab[i], buf);
		for (tc = 0; tc < 2; tc++) {
			/* The kernel's skb test run refuses an IPv4 frame shorter than an IP
			 * header, and anything over a page. */
			if (tc && (tab[i].mut == M_RUNT_IP || len > TC_TEST_RUN_MAX))
				continue;
			check_frame(f, tc, &tab[i], buf, len);
		}
	}
}

static void test_table(void **state)
{
	struct fixture *fx = *state;
	struct filter_stats *st = malloc(sizeof(*st));

	run_table(fx->f, frames, sizeof(frames) / sizeof(frames[0]));
	assert_true(sizeof(frames) / sizeof(frames[0]) >= 60);
	/* Rule hits: deny[0] (198.18.66.0/24) matched the denied v4 frames. */
	assert_int_equal(filter_read_stats(fx->f, st), 0);
	assert_true(st->deny_hits[0] > 0);
	assert_true(st->allow_hits[0] > 0);
	assert_true(st->port_hits[1] > 0);
	free(st);
}

/* Sets `unparsed` through the loader, as a reload does (an atomic swap of generations). */
static void set_unparsed(struct fixture *fx, enum filter_verdict v)
{
	char err[256];

	fx->cfg->filter.unparsed = v;
	assert_int_equal(filter_update(fx->f, fx->cfg, err, sizeof(err)), 0);
}

/* A fragment of datagram id: frame_build's frame (no VLAN tags, no IPv6 extension headers
 * before the fragment header) with its IP identification set, and with other_dst its
 * destination's last byte 3 instead of 2. */
struct frag_step {
	struct frame fr;
	uint32_t id;
	int other_dst;
};

static size_t frag_build(const struct frag_step *st, uint8_t *buf)
{
	size_t len = frame_build(&st->fr, buf);
	uint8_t *ip = buf + 14;

	if (st->other_dst)
		ip[strchr(st->fr.src, ':') ? 39 : 19] = 3;
	if (strchr(st->fr.src, ':')) {
		assert_int_equal(ip[6], 44);
		ip[40 + 4] = (uint8_t)(st->id >> 24);
		ip[40 + 5] = (uint8_t)(st->id >> 16);
		ip[40 + 6] = (uint8_t)(st->id >> 8);
		ip[40 + 7] = (uint8_t)st->id;
	} else {
		assert_true(st->id <= 0xffff);
		put16(ip + 4, (uint16_t)st->id);
	}
	return len;
}

/* Each step through XDP, then tc (the same verdict again: a first fragment's is recorded
 * twice, a later one's looked up twice). */
static void run_frag_steps(struct filter *f, const struct frag_step *st, size_t n)
{
	static uint8_t buf[FRAME_MAX];
	size_t i, len;

	for (i = 0; i < n; i++) {
		len = frag_build(&st[i], buf);
		check_frame(f, 0, &st[i].fr, buf, len);
		check_frame(f, 1, &st[i].fr, buf, len);
	}
}

/* Moves every recorded first fragment's time back by ns: the same as ns passing. */
static void frags_age(struct filter *f, uint64_t ns)
{
	int fd = filter_map_fd(f, "filter_frags");
	struct filter_frag_key key, next;
	struct filter_frag_val val;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		assert_int_equal(bpf_map_lookup_elem(fd, &key, &val), 0);
		val.first_ns -= ns; /* ktime may be below ns: the age is taken modulo 2^64 */
		assert_int_equal(bpf_map_update_elem(fd, &key, &val, BPF_EXIST), 0);
	}
}

/* Later fragments get their first fragment's verdict (filter_frags). Before, a later
 * fragment was judged by its source alone: steps marked "was" differed. */
static void test_frag_verdicts(void **state)
{
	static const struct frag_step allow_steps[] = {
	    /* (a) a deny prefix's datagram out of scope, or to an allowed port, reassembles */
	    {{"v4 first, denied, out of scope", "198.18.66.1", OTHER_PORT, M_FRAG_FIRST, 0,
	      FILTER_CNT_PASS_OUT_OF_SCOPE, 0, 0},
	     1, 0},
	    {{"v4 later of a passed first, denied (was drop_fragment)", "198.18.66.1", RELAY_PORT,
	      M_FRAG_LATER, 0, FILTER_CNT_PASS_FRAGMENT, 0, 0},
	     1, 0},
	    {{"v4 later, same source and ID, another destination: no first", "198.18.66.1",
	      RELAY_PORT, M_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT, 0, 0},
	     1,
	     1},
	    {{"v4 first, denied, allowed port", "198.18.66.1", PORT_ALLOW, M_FRAG_FIRST, 0,
	      FILTER_CNT_ALLOW, 0, 0},
	     2, 0},
	    {{"v4 later of an allowed first, denied (was drop_fragment)", "198.18.66.1", RELAY_PORT,
	      M_FRAG_LATER, 0, FILTER_CNT_PASS_FRAGMENT, 0, 0},
	     2, 0},
	    /* (c) no first fragment seen: the source decides, as before */
	    {{"v4 later, no first, denied", "198.18.66.1", RELAY_PORT, M_FRAG_LATER, 1,
	      FILTER_CNT_DROP_FRAGMENT, 0, 0},
	     3, 0},
	    {{"v4 later, no first, other source", "198.18.1.1", RELAY_PORT, M_FRAG_LATER, 0,
	      FILTER_CNT_PASS_FRAGMENT, 0, 0},
	     3, 0},
	    /* a first fragment dropped: a deny prefix's drop is the old rule's, so it is not kept
	     * and the later ones count a hit on the prefix as drop_fragment */
	    {{"v4 first, denied", "198.18.66.1", RELAY_PORT, M_FRAG_FIRST, 1,
	      FILTER_CNT_DROP_PREFIX, 0, 0},
	     4, 0},
	    {{"v4 later of a first dropped by its prefix (was drop_fragment_of_dropped)",
	      "198.18.66.1", RELAY_PORT, M_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT, 0, 0},
	     4, 0},
	    {{"v4 first, deny port rule", "198.18.1.1", PORT_DENY, M_FRAG_FIRST, 1,
	      FILTER_CNT_DROP_PORT, 0, 0},
	     6, 0},
	    {{"v4 later of a first dropped by a port rule", "198.18.1.1", RELAY_PORT,
	      M_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT_OF_DROPPED, 0, 0},
	     6, 0},
	    /* for want of its UDP header too */
	    {{"v4 first, half a UDP header", "198.18.1.1", RELAY_PORT, M_FRAG_FIRST_TINY, 1,
	      FILTER_CNT_DROP_UNPARSED, 0, 0},
	     5, 0},
	    {{"v4 later of an unparsed first (was pass_fragment)", "198.18.1.1", RELAY_PORT,
	      M_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT_OF_DROPPED, 0, 0},
	     5, 0},
	    /* the ID comes round again: the newer first fragment's verdict (an entry the
	     * newer one does not need is deleted) */
	    {{"v4 first again, ID 1, to a relay", "198.18.66.1", RELAY_PORT, M_FRAG_FIRST, 1,
	      FILTER_CNT_DROP_PREFIX, 0, 0},
	     1, 0},
	    {{"v4 later, ID 1 (was drop_fragment_of_dropped)", "198.18.66.1", RELAY_PORT,
	      M_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT, 0, 0},
	     1, 0},
	    {{"v4 first again, ID 5, allowed", "198.18.1.1", RELAY_PORT, M_FRAG_FIRST, 0,
	      FILTER_CNT_ALLOW, 0, 0},
	     5, 0},
	    {{"v4 later, ID 5", "198.18.1.1", RELAY_PORT, M_FRAG_LATER, 0, FILTER_CNT_PASS_FRAGMENT,
	      0, 0},
	     5, 0},
	    /* (d) IPv6: the fragment header's 32-bit ID, whatever next header a later names */
	    {{"v6 first, denied, out of scope", "2001:2:0:bad0::1", OTHER_PORT, M_V6_FRAG_FIRST, 0,
	      FILTER_CNT_PASS_OUT_OF_SCOPE, 0, 0},
	     0x10000001, 0},
	    {{"v6 later of a passed first (was drop_fragment)", "2001:2:0:bad0::1", RELAY_PORT,
	      M_V6_FRAG_LATER, 0, FILTER_CNT_PASS_FRAGMENT, 0, 0},
	     0x10000001, 0},
	    {{"v6 later saying TCP of a passed first (was drop_fragment)", "2001:2:0:bad0::1",
	      RELAY_PORT, M_FRAG_LATER_TCP, 0, FILTER_CNT_PASS_FRAGMENT, 0, 0},
	     0x10000001, 0},
	    {{"v6 later, same low 16 bits of the ID: no first", "2001:2:0:bad0::1", RELAY_PORT,
	      M_V6_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT, 0, 0},
	     0x20000001, 0},
	    {{"v6 later, same source and ID, another destination: no first", "2001:2:0:bad0::1",
	      RELAY_PORT, M_V6_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT, 0, 0},
	     0x10000001,
	     1},
	    /* (e) IPv6 first fragments of another protocol, or with too many extension
	     * headers: their later fragments are looked up whatever they name */
	    {{"v6 first, ICMPv6, denied", "2001:2:0:bad0::1", RELAY_PORT, M_V6_FRAG_FIRST_ICMP, 0,
	      FILTER_CNT_PASS_NOT_UDP, 0, 0},
	     0x10000003, 0},
	    {{"v6 later of an ICMPv6 first, denied (was drop_fragment)", "2001:2:0:bad0::1",
	      RELAY_PORT, M_V6_FRAG_LATER, 0, FILTER_CNT_PASS_FRAGMENT, 0, 0},
	     0x10000003, 0},
	    {{"v6 first, too many extension headers", "2001:2:0:1::1", RELAY_PORT,
	      M_V6_FRAG_FIRST_DEEP, 1, FILTER_CNT_DROP_EXT_HEADERS, 0, 0},
	     0x10000004, 0},
	    {{"v6 later of a first with too many headers (was pass_fragment)", "2001:2:0:1::1",
	      RELAY_PORT, M_V6_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT_OF_DROPPED, 0, 0},
	     0x10000004, 0},
	};
	static const struct frag_step deny_steps[] = {
	    /* (b) default deny: a dropped first fragment's later ones drop too */
	    {{"v4 first, default deny", "198.18.1.1", RELAY_PORT, M_FRAG_FIRST, 1,
	      FILTER_CNT_DROP_DEFAULT, 0, 0},
	     7, 0},
	    {{"v4 later of a first dropped by default (was pass_fragment)", "198.18.1.1",
	      RELAY_PORT, M_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT_OF_DROPPED, 0, 0},
	     7, 0},
	    {{"v6 first, default deny", "2001:2:0:1::1", RELAY_PORT, M_V6_FRAG_FIRST, 1,
	      FILTER_CNT_DROP_DEFAULT, 0, 0},
	     7, 0},
	    {{"v6 later of a first dropped by default (was pass_fragment)", "2001:2:0:1::1",
	      RELAY_PORT, M_V6_FRAG_LATER, 1, FILTER_CNT_DROP_FRAGMENT_OF_DROPPED, 0, 0},
	     7, 0},
	    /* (c) no first fragment seen: the default does not apply to a later one */
	    {{"v4 later, no first, default deny", "198.18.1.1", RELAY_PORT, M_FRAG_LATER, 0,
	      FILTER_CNT_PASS_FRAGMENT, 0, 0},
	     8, 0},
	};
	static const struct frag_step aged_steps[] = {
	    /* 31 s on: IPv4 reassembly gave up (ipfrag_time), IPv6's has not (60 s) */
	    {{"v4 later, first 31 s ago", "198.18.1.1", RELAY_PORT, M_FRAG_LATER, 0,
	      FILTER_CNT_PASS_FRAGMENT, 0, 0},
	     7, 0},
	    {{"v6 later, first 31 s ago", "2001:2:0:1::1", RELAY_PORT, M_V6_FRAG_LATER, 1,
	      FILTER_CNT_DROP_FRAGMENT_OF_DROPPED, 0, 0},
	     7, 0},
	};
	static const struct frag_step aged6_steps[] = {
	    {{"v6 later, first 61 s ago", "2001:2:0:1::1", RELAY_PORT, M_V6_FRAG_LATER, 0,
	      FILTER_CNT_PASS_FRAGMENT, 0, 0},
	     7, 0},
	};
	/* unparsed = "pass": an unparsed first fragment's ports are unknown, so its pass is
	 * not the datagram's; a denied source's later fragments still drop */
	static const struct frag_step unparsed_pass_steps[] = {
	    {{"v4 first, half a UDP header, denied, unparsed pass", "198.18.66.1", RELAY_PORT,
	      M_FRAG_FIRST_TINY, 0, FILTER_CNT_PASS_UNPARSED, 0, 0},
	     9, 0},
	    {{"v4 later of it (was pass_fragment)", "198.18.66.1", RELAY_PORT, M_FRAG_LATER, 1,
	      FILTER_CNT_DROP_FRAGMENT, 0, 0},
	     9, 0},
	    {{"v6 first, too many extension headers, denied, unparsed pass", "2001:2:0:bad0::1",
	      RELAY_PORT, M_V6_FRAG_FIRST_DEEP, 0, FILTER_CNT_PASS_UNPARSED, 0, 0},
	     9, 0},
	    {{"v6 later of it", "2001:2:0:bad0::1", RELAY_PORT, M_V6_FRAG_LATER, 1,
	      FILTER_CNT_DROP_FRAGMENT, 0, 0},
	     9, 0},
	};
	struct fixture *fx = *state;
	char err[CONFIG_ERR_LEN];

	frags_reset(fx->f);
	run_frag_steps(fx->f, allow_steps, sizeof(allow_steps) / sizeof(allow_steps[0]));
	fx->cfg->filter.default_verdict = FILTER_VERDICT_DENY;
	if (filter_update(fx->f, fx->cfg, err, sizeof(err)) < 0)
		fail_msg("filter_update: %s", err);
	run_frag_steps(fx->f, deny_steps, sizeof(deny_steps) / sizeof(deny_steps[0]));
	frags_age(fx->f, 31000000000ull);
	run_frag_steps(fx->f, aged_steps, sizeof(aged_steps) / sizeof(aged_steps[0]));
	frags_age(fx->f, 30000000000ull);
	run_frag_steps(fx->f, aged6_steps, sizeof(aged6_steps) / sizeof(aged6_steps[0]));
	fx->cfg->filter.default_verdict = FILTER_VERDICT_ALLOW;
	set_unparsed(fx, FILTER_VERDICT_ALLOW);
	frags_reset(fx->f);
	run_frag_steps(fx->f, unparsed_pass_steps,
		       sizeof(unparsed_pass_steps) / sizeof(unparsed_pass_steps[0]));
}

static unsigned int frags_count(struct filter *f)
{
	int fd = filter_map_fd(f, "filter_frags");
	struct filter_frag_key key, next;
	unsigned int n = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		n++;
	}
	return n;
}

/* filter_frags is sized for the host: 4096 entries, or 256 per possible CPU where that is
 * more (a shared LRU evicts before it is full when many CPUs each hold a batch of free
 * entries). Before, 4096 whatever the CPUs. */
static void test_frags_size(void **state)
{
	struct fixture *fx = *state;
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info);
	int ncpus = libbpf_num_possible_cpus();

	assert_int_equal(filter_frags_size(1), 4096);
	assert_int_equal(filter_frags_size(16), 4096);
	assert_int_equal(filter_frags_size(17), 17 * 256);
	assert_int_equal(filter_frags_size(64), 16384);
	assert_true(ncpus > 0);
	assert_int_equal(bpf_obj_get_info_by_fd(filter_map_fd(fx->f, "filter_frags"), &info, &len),
			 0);
	assert_int_equal(info.max_entries, ncpus > 16 ? 256 * (uint32_t)ncpus : 4096);
}

/* A first fragment's verdict is kept only where it differs from what its later fragments
 * get without it (a deny prefix drops, anything else passes), so that a flood of first
 * fragments the old rule already covers neither pays the shared map's locked update nor
 * evicts other datagrams' entries; an entry of the same key that the newer first fragment
 * does not need is deleted. Before, every first fragment judged as UDP or unparsed was kept,
 * and no IPv6 first fragment of another protocol or with too many headers. */
static void test_frag_kept(void **state)
{
	static const struct frag_step steps[] = {
	    {{"v4 first, allowed", "198.18.1.1", RELAY_PORT, M_FRAG_FIRST, 0, FILTER_CNT_ALLOW, 0,
	      0},
	     1, 0},
	    {{"v4 first, denied", "198.18.66.1", RELAY_PORT, M_FRAG_FIRST, 1,
	      FILTER_CNT_DROP_PREFIX, 0, 0},
	     2, 0},
	    {{"v4 first, denied, out of scope", "198.18.66.1", OTHER_PORT, M_FRAG_FIRST, 0,
	      FILTER_CNT_PASS_OUT_OF_SCOPE, 0, 0},
	     3, 0},
	    {{"v4 first, deny port rule", "198.18.1.1", PORT_DENY, M_FRAG_FIRST, 1,
	      FILTER_CNT_DROP_PORT, 0, 0},
	     4, 0},
	    {{"v4 first again, ID 3, to a relay", "198.18.66.1", RELAY_PORT, M_FRAG_FIRST, 1,
	      FILTER_CNT_DROP_PREFIX, 0, 0},
	     3, 0},
	    {{"v4 first again, ID 4, allowed", "198.18.1.1", RELAY_PORT, M_FRAG_FIRST, 0,
	      FILTER_CNT_ALLOW, 0, 0},
	     4, 0},
	    {{"v6 first, ICMPv6, denied", "2001:2:0:bad0::1", RELAY_PORT, M_V6_FRAG_FIRST_ICMP, 0,
	      FILTER_CNT_PASS_NOT_UDP, 0, 0},
	     5, 0},
	    {{"v6 first, ICMPv6, other source", "2001:2:0:1::1", RELAY_PORT, M_V6_FRAG_FIRST_ICMP,
	      0, FILTER_CNT_PASS_NOT_UDP, 0, 0},
	     5, 0},
	    {{"v6 first, too many extension headers", "2001:2:0:1::1", RELAY_PORT,
	      M_V6_FRAG_FIRST_DEEP, 1, FILTER_CNT_DROP_EXT_HEADERS, 0, 0},
	     6, 0},
	    {{"v6 first, too many extension headers, denied", "2001:2:0:bad0::1", RELAY_PORT,
	      M_V6_FRAG_FIRST_DEEP, 1, FILTER_CNT_DROP_EXT_HEADERS, 0, 0},
	     6, 0},
	};
	static const unsigned int kept[] = {0, 0, 1, 2, 1, 0, 1, 1, 2, 2};
	struct fixture *fx = *state;
	size_t i;

	frags_reset(fx->f);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		run_frag_steps(fx->f, &steps[i], 1);
		if (frags_count(fx->f) != kept[i])
			fail_msg("after \"%s\": %u entries in filter_frags, want %u",
				 steps[i].fr.name, frags_count(fx->f), kept[i]);
	}
}

/* A filter loaded with unparsed = "drop" writes that into the active generation. */
static void test_unparsed_default(void **state)
{
	struct fixture *fx = *state;
	int afd = filter_map_fd(fx->f, "filter_active"),
	    sfd = filter_map_fd(fx->f, "filter_settings");
	struct filter_settings s;
	uint32_t zero = 0, gen;

	assert_int_equal(bpf_map_lookup_elem(afd, &zero, &gen), 0);
	assert_int_equal(bpf_map_lookup_elem(sfd, &gen, &s), 0);
	assert_int_equal(s.unparsed_drop, 1);
}

/* unparsed = "pass": what the parser cannot read through passes, counted as pass_unparsed;
 * everything it can read is judged as before. */
static void test_unparsed_pass(void **state)
{
	static const struct frame tab[] = {
	    {"9 tags", "198.18.66.1", RELAY_PORT, M_NONE, 0, FILTER_CNT_PASS_UNPARSED, 9, 0},
	    {"v6 9 tags", "2001:2:0:bad0::1", RELAY_PORT, M_NONE, 0, FILTER_CNT_PASS_UNPARSED, 9,
	     0},
	    {"bad IHL", "198.18.66.1", RELAY_PORT, M_BAD_IHL, 0, FILTER_CNT_PASS_UNPARSED, 0, 0},
	    {"half a UDP header", "198.18.66.1", RELAY_PORT, M_UDP_TRUNC, 0,
	     FILTER_CNT_PASS_UNPARSED, 0, 0},
	    {"v6 ext chain over the bound", "2001:2:0:1::1", RELAY_PORT, M_V6_EXT_MANY, 0,
	     FILTER_CNT_PASS_UNPARSED, 0, 0},
	    {"v6 tiny first fragment", "2001:2:0:bad0::1", RELAY_PORT, M_FRAG_FIRST_TINY, 0,
	     FILTER_CNT_PASS_UNPARSED, 0, 0},
	    {"8 tags still judged", "198.18.66.1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX, 8,
	     0},
	    {"runt VLAN still not IP", "198.18.66.1", RELAY_PORT, M_RUNT_VLAN, 0,
	     FILTER_CNT_PASS_NOT_IP, 0, 0},
	};
	static const struct frame back = {"9 tags, drop again",
					  "198.18.66.1",
					  RELAY_PORT,
					  M_NONE,
					  1,
					  FILTER_CNT_DROP_UNPARSED,
					  9,
					  0};
	struct fixture *fx = *state;

	set_unparsed(fx, FILTER_VERDICT_ALLOW);
	run_table(fx->f, tab, sizeof(tab) / sizeof(tab[0]));
	set_unparsed(fx, FILTER_VERDICT_DENY);
	run_table(fx->f, &back, 1);
}

static const struct frame rate_v4 = {"rate v4", "198.18.5.5", RELAY_PORT, M_NONE, 0, 0, 0, 0};
static const struct frame rate_v4b = {
    "rate v4 other", "198.18.5.6", RELAY_PORT, M_NONE, 0, 0, 0, 0};
static const struct frame rate_v6a = {"rate v6", "2001:2:0:5::1", RELAY_PORT, M_NONE, 0, 0, 0, 0};
static const struct frame rate_v6b = {
    "rate v6 same /64", "2001:2:0:5::2", RELAY_PORT, M_NONE, 0, 0, 0, 0};

/* Moves a bucket's clock back by secs seconds: the same as secs seconds passing. */
static void rate_age(struct filter *f, const char *src, uint32_t prefix_mapped, uint64_t ns)
{
	struct filter_rate_key key = {0};
	struct filter_rate_val val;
	struct prefix pfx;
	const char *why;
	char text[64];
	int fd = filter_map_fd(f, "filter_rate");

	snprintf(text, sizeof(text), "%s", src);
	assert_int_equal(prefix_parse(text, &pfx, &why), 0);
	memcpy(key.addr, pfx.bytes, 16);
	for (uint32_t b = prefix_mapped; b < 128; b++)
		key.addr[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &val), 0);
	val.tat_ns = val.tat_ns > ns ? val.tat_ns - ns : 0; /* ktime starts at boot */
	assert_int_equal(bpf_map_update_elem(fd, &key, &val, BPF_EXIST), 0);
}

/* The filter of cfg with a rate limit of pps, burst and prefix6. */
static struct filter *rate_filter(struct config *cfg, uint32_t pps, uint32_t burst,
				  uint32_t prefix6)
{
	char err[CONFIG_ERR_LEN];
	struct filter *f;

	cfg->filter.rate_pps = pps;
	cfg->filter.rate_burst = burst;
	cfg->filter.rate_prefix6 = prefix6;
	assert_int_equal(filter_open(cfg, &f, err, sizeof(err)), 0);
	return f;
}

/* A GRO or GSO frame in tc costs its datagrams' worth of the bucket and is counted as its
 * datagrams (before: one, so a sender of 64-datagram bursts got 64 times its rate). */
static void test_rate_limit_segments(void **state)
{
	struct config *cfg = conf_table();
	struct filter_stats *st = malloc(sizeof(*st));
	struct filter *f = rate_filter(cfg, 1, 3, 128);
	static uint8_t buf[FRAME_MAX];
	size_t len;

	(void)state;
	len = frame_build(&rate_v4, buf);
	/* three datagrams in one frame: the whole burst */
	assert_int_equal(run_tc_segs(f, buf, len, 3), 0);
	assert_int_equal(run_frame(f, 1, buf, len, 1), 1);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 1);
	/* one second later, one datagram's worth: a frame of two drops whole, one passes */
	rate_age(f, rate_v4.src, 128, 1000000000ull);
	assert_int_equal(run_tc_segs(f, buf, len, 2), 1);
	assert_int_equal(run_frame(f, 1, buf, len, 1), 0);
	/* a new source whose first frame is more than the burst */
	len = frame_build(&rate_v4b, buf);
	assert_int_equal(run_tc_segs(f, buf, len, 4), 1);
	assert_int_equal(run_tc_segs(f, buf, len, 3), 0);
	assert_int_equal(filter_read_stats(f, st), 0);
	assert_int_equal(st->counters[FILTER_CNT_ALLOW], 3 + 1 + 3);
	assert_int_equal(st->counters[FILTER_CNT_DROP_RATE], 1 + 1 + 2 + 4);
	free(st);
	filter_free(f);
	free(cfg);
}

/* A GSO skb whose gso_segs is 0 (SKB_GSO_DODGY: virtio_net_hdr_to_skb leaves the count to the
 * segmenter; a VM's UDP_SEGMENT send through a tap and a bridge, an AF_PACKET sender with a
 * vnet header) costs and counts the datagrams of its UDP payload in gso_size (100) pieces, as
 * the segmenter will cut it. Burst 3 at 1 pps, per source: 32 datagrams drop whole, 3 (250
 * bytes: 100 + 100 + 50) pass and fill the bucket, then 1 drops; IPv6 likewise, exactly 300
 * bytes being 3. The counters add up to the datagrams. Before, each frame counted one
 * datagram: all passed. */
static void test_rate_limit_dodgy_gso(void **state)
{
	static const struct {
		const struct frame *fr;
		size_t payload;
		int drop;
	} steps[] = {
	    {&rate_v4, 3200, 1}, {&rate_v4, 250, 0},   {&rate_v4, 50, 1},
	    {&rate_v6a, 300, 0}, {&rate_v6a, 3200, 1},
	};
	struct config *cfg = conf_table();
	struct filter_stats *st = malloc(sizeof(*st));
	struct filter *f = rate_filter(cfg, 1, 3, 128);
	static uint8_t buf[FRAME_MAX];
	struct frame fr;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		fr = *steps[i].fr;
		fr.payload = steps[i].payload;
		len = frame_build(&fr, buf);
		if (run_tc_segs(f, buf, len, 0) != steps[i].drop)
			fail_msg("step %zu (%s, %zu bytes in 100-byte datagrams): %s", i, fr.name,
				 steps[i].payload, steps[i].drop ? "passed" : "dropped");
	}
	assert_int_equal(filter_read_stats(f, st), 0);
	assert_int_equal(st->counters[FILTER_CNT_ALLOW], 3 + 3);
	assert_int_equal(st->counters[FILTER_CNT_DROP_RATE], 32 + 1 + 32);
	free(st);
	filter_free(f);
	free(cfg);
}

static void test_rate_limit(void **state)
{
	struct config *cfg = conf_table();
	struct filter_stats *st = malloc(sizeof(*st));
	/* 1 pps, burst 3: each datagram costs 1 s of bucket time, 3 s may be owed. Real time
	 * moves microseconds during the test, far below one interval. */
	struct filter *f = rate_filter(cfg, 1, 3, 64);
	static uint8_t buf[FRAME_MAX];
	size_t len;
	int i;

	len = frame_build(&rate_v4, buf);
	for (i = 0; i < 3; i++)
		assert_int_equal(run_frame(f, 0, buf, len, 1), 0);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 1);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 1);
	/* Two seconds later: exactly two more. */
	rate_age(f, rate_v4.src, 128, 2000000000ull);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 0);
	assert_int_equal(run_frame(f, 1, buf, len, 1), 0);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 1);
	/* Long idle: a full burst again, not more; tc shares the bucket. */
	rate_age(f, rate_v4.src, 128, 3600000000000ull);
	for (i = 0; i < 3; i++)
		assert_int_equal(run_frame(f, i & 1, buf, len, 1), 0);
	assert_int_equal(run_frame(f, 1, buf, len, 1), 1);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 1);
	/* Another source has its own bucket. */
	len = frame_build(&rate_v4b, buf);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 0);
	/* IPv6 keyed by /64: two addresses share one bucket. */
	len = frame_build(&rate_v6a, buf);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 0);
	assert_int_equal(run_frame(f, 1, buf, len, 1), 0);
	len = frame_build(&rate_v6b, buf);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 0);
	assert_int_equal(run_frame(f, 1, buf, len, 1), 1);
	rate_age(f, rate_v6b.src, 64, 1000000000ull);
	assert_int_equal(run_frame(f, 0, buf, len, 1), 0);
	assert_int_equal(filter_read_stats(f, st), 0);
	assert_true(st->counters[FILTER_CNT_DROP_RATE] >= 4);
	free(st);
	filter_free(f);
	free(cfg);
}

/* Two rule sets that both deny 198.18.99.0/24 (by different rules) and disagree about
 * 198.18.98.0/24: whichever set is active, .99 must be dropped. */
static struct config *conf_swap(int which)
{
	struct config *cfg = conf_table();
	struct filter_conf *fc = &cfg->filter;

	fc->n_deny = fc->n_allow = 0;
	if (which == 0) {
		conf_prefix(&fc->deny[fc->n_deny++], "198.18.99.0/24");
		conf_prefix(&fc->deny[fc->n_deny++], "198.18.98.0/24");
	} else {
		fc->default_verdict = FILTER_VERDICT_DENY;
		conf_prefix(&fc->allow[fc->n_allow++], "198.18.98.0/24");
		conf_prefix(&fc->allow[fc->n_allow++], "198.18.1.0/24");
	}
	return cfg;
}

struct swapper {
	struct filter *f;
	struct config *cfg[2];
	int swaps;
	int failed;
};

static void *swap_thread(void *arg)
{
	struct swapper *sw = arg;
	char err[CONFIG_ERR_LEN];
	int i;

	for (i = 0; i < sw->swaps; i++)
		if (filter_update(sw->f, sw->cfg[i & 1], err, sizeof(err)) < 0)
			sw->failed++;
	return NULL;
}

static void test_swap(void **state)
{
	static const struct frame denied = {
	    "swap denied", "198.18.99.1", RELAY_PORT, M_NONE, 1, 0, 0, 0};
	static const struct frame flips = {
	    "swap flips", "198.18.98.1", RELAY_PORT, M_NONE, 0, 0, 0, 0};
	struct swapper sw = {.swaps = 200};
	struct filter_stats *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char err[CONFIG_ERR_LEN];
	static uint8_t buf[FRAME_MAX], buf2[FRAME_MAX];
	size_t len, len2;
	uint32_t serial;
	pthread_t th;
	int i, runs = 0;

	sw.cfg[0] = conf_swap(0);
	sw.cfg[1] = conf_swap(1);
	assert_int_equal(filter_open(sw.cfg[0], &sw.f, err, sizeof(err)), 0);
	len = frame_build(&denied, buf);
	len2 = frame_build(&flips, buf2);
	/* Verdicts follow the active set. */
	assert_int_equal(run_frame(sw.f, 0, buf, len, 1), 1);
	assert_int_equal(run_frame(sw.f, 0, buf2, len2, 1), 1);
	assert_int_equal(filter_update(sw.f, sw.cfg[1], err, sizeof(err)), 0);
	assert_int_equal(run_frame(sw.f, 0, buf, len, 1), 1);
	assert_int_equal(run_frame(sw.f, 0, buf2, len2, 1), 0);
	assert_int_equal(filter_read_stats(sw.f, a), 0);
	assert_int_equal(a->allow_hits[0], 1); /* hits count per generation from zero */
	assert_int_equal(filter_update(sw.f, sw.cfg[0], err, sizeof(err)), 0);
	assert_int_equal(run_frame(sw.f, 0, buf2, len2, 1), 1);

	/* Under swaps: every run of the denied frame is dropped, never allowed. */
	assert_int_equal(filter_read_stats(sw.f, a), 0);
	assert_int_equal(pthread_create(&th, NULL, swap_thread, &sw), 0);
	for (i = 0; i < 200; i++, runs += 100) {
		run_frame(sw.f, i & 1, buf, len, 100);
	}
	pthread_join(th, NULL);
	assert_int_equal(sw.failed, 0);
	assert_int_equal(filter_read_stats(sw.f, b), 0);
	assert_int_equal(b->counters[FILTER_CNT_ALLOW], a->counters[FILTER_CNT_ALLOW]);
	assert_int_equal(
	    b->counters[FILTER_CNT_DROP_PREFIX] + b->counters[FILTER_CNT_DROP_DEFAULT] -
		a->counters[FILTER_CNT_DROP_PREFIX] - a->counters[FILTER_CNT_DROP_DEFAULT],
	    runs);

	/* A refused reload undoes its update: the set before comes back with its hit counts;
	 * only the last update can be undone. */
	assert_int_equal(filter_update(sw.f, sw.cfg[0], err, sizeof(err)), 0);
	serial = filter_rules_serial(sw.f);
	assert_int_equal(filter_rules_revert(sw.f, serial), 0); /* nothing since */
	assert_int_equal(run_frame(sw.f, 0, buf2, len2, 1), 1);
	assert_int_equal(filter_read_stats(sw.f, a), 0);
	assert_int_equal(a->deny_hits[1], 1);
	assert_int_equal(filter_update(sw.f, sw.cfg[1], err, sizeof(err)), 0);
	assert_int_equal(run_frame(sw.f, 0, buf2, len2, 1), 0);
	assert_int_equal(filter_rules_revert(sw.f, serial), 0);
	assert_int_equal(filter_rules_serial(sw.f), serial);
	assert_int_equal(run_frame(sw.f, 0, buf2, len2, 1), 1);
	assert_int_equal(filter_read_stats(sw.f, b), 0);
	assert_int_equal(b->deny_hits[1], 2); /* the old set's count went on */
	assert_int_equal(filter_update(sw.f, sw.cfg[1], err, sizeof(err)), 0);
	assert_int_equal(filter_update(sw.f, sw.cfg[0], err, sizeof(err)), 0);
	assert_int_equal(filter_rules_revert(sw.f, serial), -ESTALE);

	/* Interfaces or mode changes need a restart; the old rules stay. */
	sw.cfg[1]->filter.mode = FILTER_MODE_TC;
	assert_int_equal(filter_update(sw.f, sw.cfg[1], err, sizeof(err)), -EOPNOTSUPP);
	free(a);
	free(b);
	filter_free(sw.f);
	free(sw.cfg[0]);
	free(sw.cfg[1]);
}

/* A rule set denying only prefix. */
static struct config *conf_deny(const char *prefix)
{
	struct config *cfg = conf_table();
	struct filter_conf *fc = &cfg->filter;

	fc->n_deny = fc->n_allow = fc->n_ports = 0;
	conf_prefix(&fc->deny[fc->n_deny++], prefix);
	return cfg;
}

/* Makes every bpf(BPF_MAP_GET_NEXT_KEY) of this process fail with EIO from now on: the one
 * failure of the prefix walk the kernel does not let a test cause otherwise. 0 or -1. */
static int fail_next_key(void)
{
	struct sock_filter code[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bpf, 0, 3),
	    /* the low half of the command on a little-endian machine; the upper half is 0 */
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BPF_MAP_GET_NEXT_KEY, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EIO),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -1 : 0;
}

/* In a child (the seccomp filter stays with it): rules A, then B, then C while the walk over
 * the prefixes fails. Returns 0, or the step that went wrong. */
static int clear_fails_child(void)
{
	struct config *a = conf_deny("198.18.77.0/24"), *b = conf_deny("198.18.78.0/24");
	struct config *c = conf_deny("198.18.79.0/24");
	struct addr from_a, from_b, local;
	char err[CONFIG_ERR_LEN] = "";
	struct filter *f = NULL;
	const char *why;
	int ret, code = 0;

	if (addr_parse("198.18.77.1:1000", &from_a, &why) ||
	    addr_parse("198.18.78.1:1000", &from_b, &why) ||
	    addr_parse("198.18.0.1:5000", &local, &why))
		return 2;
	if (filter_open(a, &f, err, sizeof(err)) < 0 || filter_update(f, b, err, sizeof(err)) < 0) {
		fprintf(stderr, "clear fails: %s\n", err);
		code = 3;
		goto out;
	}
	if (fail_next_key()) {
		code = 4;
		goto out;
	}
	/* C goes into A's generation, whose prefixes cannot be found to be removed. */
	ret = filter_update(f, c, err, sizeof(err));
	if (ret >= 0) {
		fprintf(stderr, "clear fails: the update succeeded (A's 198.18.77.0/24 %s)\n",
			filter_client_denied(f, &from_a, &local) == 1 ? "denied with C's rules"
								       : "gone");
		code = 5;
		goto out;
	}
	if (!strstr(err, "clearing old prefixes")) {
		fprintf(stderr, "clear fails: error \"%s\"\n", err);
		code = 6;
	} else if (filter_client_denied(f, &from_a, &local) != 0 ||
		   filter_client_denied(f, &from_b, &local) != 1) {
		fprintf(stderr, "clear fails: B's rules are not the ones in force\n");
		code = 7;
	}
out:
	filter_free(f);
	free(a);
	free(b);
	free(c);
	return code;
}

/* A failure while walking the idle generation's prefixes fails the update, and the rules in
 * force stay. Before, the walk stopped at any error as at the end: the update succeeded and
 * the prefixes of the rule set before last were judged along with the new ones. */
static void test_clear_fails(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(clear_fails_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* One relay on port, the table's prefix rules, no port rules; scope udp with
 * relay_ports_only when udp. */
static struct config *conf_port(uint16_t port, bool udp)
{
	struct config *cfg = conf_table();
	const char *why;
	char text[16];

	snprintf(text, sizeof(text), "*:%u", port);
	cfg->relays[0].n_listen = 1;
	assert_int_equal(addr_parse(text, &cfg->relays[0].listen[0], &why), 0);
	cfg->filter.n_ports = 0;
	if (udp) {
		cfg->filter.scope = FILTER_SCOPE_UDP;
		cfg->filter.relay_ports_only = true;
	}
	return cfg;
}

/* Runs fr (its port set to port) through XDP: 1 dropped, 0 passed. */
static int verdict(struct filter *f, struct frame fr, uint16_t port)
{
	static uint8_t buf[FRAME_MAX];

	fr.dport = port;
	return run_frame(f, 0, buf, frame_build(&fr, buf), 1);
}

/* A reload moves the relay from port 5100 to 5101 (then 5102): until every worker has taken
 * it (filter_relay_ports_settle) the old port stays a relay port, for the socket still open
 * there. Before, the update made 5100 no relay's at once: a denied source's datagrams to it
 * passed out of scope (scope relays), an allowed one's were dropped (relay_ports_only). */
static void test_relay_ports_move(void **state)
{
	static const struct frame denied = {"move denied", "198.18.66.1", 0, M_NONE, 0, 0, 0, 0};
	static const struct frame allowed = {"move allowed", "198.18.1.1", 0, M_NONE, 0, 0, 0, 0};
	struct config *a = conf_port(5100, false), *b = conf_port(5101, false);
	struct config *c = conf_port(5102, false), *ua = conf_port(5100, true);
	struct config *ub = conf_port(5101, true);
	char err[CONFIG_ERR_LEN];
	struct filter *f = NULL;
	uint32_t serial;

	(void)state;
	assert_int_equal(filter_open(a, &f, err, sizeof(err)), 0);
	assert_int_equal(verdict(f, denied, 5100), 1);
	assert_int_equal(verdict(f, denied, 5101), 0); /* out of scope */
	assert_int_equal(filter_update(f, b, err, sizeof(err)), 0);
	if (!verdict(f, denied, 5100))
		fail_msg("moving: the old relay port passed a denied source out of scope");
	assert_int_equal(verdict(f, denied, 5101), 1);
	/* a worker behind (stuck) keeps its socket on 5100 through the next reload */
	assert_int_equal(filter_update(f, c, err, sizeof(err)), 0);
	assert_int_equal(verdict(f, denied, 5100), 1);
	assert_int_equal(verdict(f, denied, 5102), 1);
	assert_int_equal(filter_relay_ports_settle(f, c), 0);
	assert_int_equal(verdict(f, denied, 5100), 0);
	assert_int_equal(verdict(f, denied, 5101), 0);
	assert_int_equal(verdict(f, denied, 5102), 1);
	/* a refused reload goes back to the set before, settled */
	serial = filter_rules_serial(f);
	assert_int_equal(filter_update(f, a, err, sizeof(err)), 0);
	assert_int_equal(filter_rules_revert(f, serial), 0);
	assert_int_equal(verdict(f, denied, 5100), 0);
	assert_int_equal(verdict(f, denied, 5102), 1);
	filter_free(f);

	/* relay_ports_only: legitimate datagrams to the old port go on reaching it */
	assert_int_equal(filter_open(ua, &f, err, sizeof(err)), 0);
	assert_int_equal(verdict(f, allowed, 5100), 0);
	assert_int_equal(filter_update(f, ub, err, sizeof(err)), 0);
	if (verdict(f, allowed, 5100))
		fail_msg("moving: relay_ports_only dropped an allowed source at the old port");
	assert_int_equal(verdict(f, allowed, 5101), 0);
	assert_int_equal(filter_relay_ports_settle(f, ub), 0);
	assert_int_equal(verdict(f, allowed, 5100), 1);
	assert_int_equal(verdict(f, allowed, 5101), 0);
	filter_free(f);
	free(a);
	free(b);
	free(c);
	free(ua);
	free(ub);
}

/* A prefix in both lists is a config error naming the line. */
static void test_conflict(void **state)
{
	struct config *cfg = conf_table();
	char err[CONFIG_ERR_LEN];
	struct filter *f = NULL;

	conf_prefix(&cfg->filter.allow[cfg->filter.n_allow++], "198.18.66.0/24");
	cfg->filter.allow[cfg->filter.n_allow - 1].line = 42;
	assert_int_equal(filter_open(cfg, &f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "test.conf:42:"));
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_table, setup_table, teardown),
	    cmocka_unit_test_setup_teardown(test_unparsed_default, setup_table, teardown),
	    cmocka_unit_test_setup_teardown(test_frag_verdicts, setup_table, teardown),
	    cmocka_unit_test_setup_teardown(test_frag_kept, setup_table, teardown),
	    cmocka_unit_test_setup_teardown(test_frags_size, setup_table, teardown),
	    cmocka_unit_test_setup_teardown(test_unparsed_pass, setup_table, teardown),
	    cmocka_unit_test(test_rate_limit),
	    cmocka_unit_test(test_rate_limit_segments),
	    cmocka_unit_test(test_rate_limit_dodgy_gso),
	    cmocka_unit_test(test_swap),
	    cmocka_unit_test(test_conflict),
	    cmocka_unit_test(test_clear_fails),
	    cmocka_unit_test(test_relay_ports_move),
	};
	struct config *cfg;
	struct filter *f;
	char err[CONFIG_ERR_LEN];

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: test_bpf_filter needs root\n");
		return 77;
	}
	log_set_level(LOG_LVL_WARN);
	cfg = conf_table();
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
