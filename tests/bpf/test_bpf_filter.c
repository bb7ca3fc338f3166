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
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

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
	M_TRUNC_IP,  /* tot_len longer than the frame */
	M_RUNT_IP,   /* Ethernet header and half an IP header */
	M_RUNT_VLAN, /* VLAN ethertype, tag cut off */
	M_FRAG_FIRST,
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
};

struct frame {
	const char *name;
	const char *src;
	uint16_t dport;
	enum mut mut;
	int drop;		 /* expected: 1 drop, 0 pass */
	enum filter_counter cnt; /* the one counter that must rise by 1 */
};

static const struct frame frames[] = {
    {"v4 allowed by default", "198.18.1.1", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW},
    {"v4 denied /24", "198.18.66.1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX},
    {"v4 allow /32 inside deny /24", "198.18.66.7", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW},
    {"v4 deny /32 inside allow /24", "198.18.70.9", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX},
    {"v4 allow /24 neighbour", "198.18.70.10", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW},
    {"v4 denied, other port: out of scope", "198.18.66.1", OTHER_PORT, M_NONE, 0,
     FILTER_CNT_PASS_OUT_OF_SCOPE},
    {"v4 port rule deny", "198.18.1.1", PORT_DENY, M_NONE, 1, FILTER_CNT_DROP_PORT},
    {"v4 port rule allow beats prefix", "198.18.66.1", PORT_ALLOW, M_NONE, 0, FILTER_CNT_ALLOW},
    {"v4 VLAN denied", "198.18.66.1", RELAY_PORT, M_VLAN, 1, FILTER_CNT_DROP_PREFIX},
    {"v4 VLAN allowed", "198.18.1.1", RELAY_PORT, M_VLAN, 0, FILTER_CNT_ALLOW},
    {"v4 QinQ denied", "198.18.66.1", RELAY_PORT, M_QINQ, 1, FILTER_CNT_DROP_PREFIX},
    {"v4 IP options denied", "198.18.66.1", RELAY_PORT, M_IP_OPTIONS, 1, FILTER_CNT_DROP_PREFIX},
    {"v4 IP options allowed", "198.18.1.1", RELAY_PORT, M_IP_OPTIONS, 0, FILTER_CNT_ALLOW},
    {"v4 bad IHL", "198.18.66.1", RELAY_PORT, M_BAD_IHL, 0, FILTER_CNT_PASS_UNPARSED},
    {"v4 tot_len beyond frame", "198.18.66.1", RELAY_PORT, M_TRUNC_IP, 0, FILTER_CNT_PASS_UNPARSED},
    {"runt: half an IPv4 header", "198.18.66.1", RELAY_PORT, M_RUNT_IP, 0,
     FILTER_CNT_PASS_UNPARSED},
    {"runt: VLAN tag cut off", "198.18.66.1", RELAY_PORT, M_RUNT_VLAN, 0, FILTER_CNT_PASS_NOT_IP},
    {"v4 first fragment denied", "198.18.66.1", RELAY_PORT, M_FRAG_FIRST, 1,
     FILTER_CNT_DROP_PREFIX},
    {"v4 later fragment, denied prefix", "198.18.66.1", RELAY_PORT, M_FRAG_LATER, 1,
     FILTER_CNT_DROP_FRAGMENT},
    {"v4 later fragment, other source", "198.18.1.1", RELAY_PORT, M_FRAG_LATER, 0,
     FILTER_CNT_PASS_FRAGMENT},
    {"v4 UDP length beyond payload", "198.18.1.1", RELAY_PORT, M_UDP_LONG, 1,
     FILTER_CNT_DROP_MALFORMED},
    {"v4 UDP length below header", "198.18.1.1", RELAY_PORT, M_UDP_SHORT, 1,
     FILTER_CNT_DROP_MALFORMED},
    {"v4 UDP length padded (legal)", "198.18.1.1", RELAY_PORT, M_UDP_PADDED, 0, FILTER_CNT_ALLOW},
    {"v4 UDP bad length out of scope", "198.18.1.1", OTHER_PORT, M_UDP_LONG, 0,
     FILTER_CNT_PASS_OUT_OF_SCOPE},
    {"v4 ICMP from denied prefix", "198.18.66.1", 0, M_ICMP, 0, FILTER_CNT_PASS_NOT_UDP},
    {"v4 TCP/22 from denied prefix", "198.18.66.1", 22, M_TCP, 0, FILTER_CNT_PASS_NOT_UDP},
    {"ARP", "198.18.66.1", 0, M_ARP, 0, FILTER_CNT_PASS_NOT_IP},
    {"v6 allowed by default", "2001:2:1::1", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW},
    {"v6 denied /48", "2001:2:bad::1", RELAY_PORT, M_NONE, 1, FILTER_CNT_DROP_PREFIX},
    {"v6 allow /64 inside deny /48", "2001:2:bad:1::1", RELAY_PORT, M_NONE, 0, FILTER_CNT_ALLOW},
    {"v6 denied, other port", "2001:2:bad::1", OTHER_PORT, M_NONE, 0, FILTER_CNT_PASS_OUT_OF_SCOPE},
    {"v6 VLAN denied", "2001:2:bad::1", RELAY_PORT, M_VLAN, 1, FILTER_CNT_DROP_PREFIX},
    {"v6 QinQ allowed", "2001:2:1::1", RELAY_PORT, M_QINQ, 0, FILTER_CNT_ALLOW},
    {"v6 ext headers denied", "2001:2:bad::1", RELAY_PORT, M_V6_EXT, 1, FILTER_CNT_DROP_PREFIX},
    {"v6 ext headers allowed", "2001:2:1::1", RELAY_PORT, M_V6_EXT, 0, FILTER_CNT_ALLOW},
    {"v6 ext chain over the bound", "2001:2:1::1", RELAY_PORT, M_V6_EXT_MANY, 1,
     FILTER_CNT_DROP_EXT_HEADERS},
    {"v6 first fragment denied", "2001:2:bad::1", RELAY_PORT, M_V6_FRAG_FIRST, 1,
     FILTER_CNT_DROP_PREFIX},
    {"v6 later fragment denied prefix", "2001:2:bad::1", RELAY_PORT, M_V6_FRAG_LATER, 1,
     FILTER_CNT_DROP_FRAGMENT},
    {"v6 later fragment other source", "2001:2:1::1", RELAY_PORT, M_V6_FRAG_LATER, 0,
     FILTER_CNT_PASS_FRAGMENT},
    {"v6 UDP length beyond payload", "2001:2:1::1", RELAY_PORT, M_UDP_LONG, 1,
     FILTER_CNT_DROP_MALFORMED},
    {"v6 ICMPv6 (ND) from denied prefix", "2001:2:bad::1", 0, M_ICMP, 0, FILTER_CNT_PASS_NOT_UDP},
    {"v6 TCP/22 from denied prefix", "2001:2:bad::1", 22, M_TCP, 0, FILTER_CNT_PASS_NOT_UDP},
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* Builds the frame into buf (zeroed, at least 256 bytes); returns its length. */
static size_t frame_build(const struct frame *fr, uint8_t *buf)
{
	uint8_t src[16], dst4[4] = {198, 18, 1, 2}, *p = buf + 12, *ip, *l4;
	int v6 = strchr(fr->src, ':') != NULL, i, n_ext = 0, frag = 0;
	size_t payload = 32, l4len, iplen, hlen = 20;
	uint8_t proto = fr->mut == M_ICMP ? (v6 ? 58 : 1) : fr->mut == M_TCP ? 6 : 17;

	memset(buf, 0, 256);
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
	if (v6) {
		hlen = 40;
		if (fr->mut == M_V6_EXT)
			n_ext = 2;
		if (fr->mut == M_V6_EXT_MANY)
			n_ext = FILTER_MAX_EXT_HEADERS + 1;
		if (fr->mut == M_V6_FRAG_FIRST || fr->mut == M_V6_FRAG_LATER)
			frag = 1;
	}
	l4 = ip + hlen + 8 * (n_ext + frag);
	l4len = (proto == 6 ? 20 : 8) + payload;
	iplen = (size_t)(l4 - ip) + l4len;
	if (v6) {
		uint8_t *e = ip + 40;

		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(iplen - 40));
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		ip[24] = 0x20;
		ip[25] = 0x01;
		ip[27] = 0x02;
		ip[39] = 2;
		/* Chain: ext headers (hop-by-hop first, then destination options), fragment. */
		ip[6] = n_ext ? 0 : frag ? 44 : proto;
		for (i = 0; i < n_ext; i++, e += 8) {
			e[0] = i + 1 < n_ext ? 60 : frag ? 44 : proto;
			e[1] = 0;
		}
		if (frag) {
			e[0] = proto;
			put16(e + 2, fr->mut == M_V6_FRAG_LATER ? (185 << 3) : 1); /* M bit */
		}
	} else {
		ip[0] = 0x40 | (uint8_t)(hlen / 4);
		if (fr->mut == M_BAD_IHL)
			ip[0] = 0x43;
		put16(ip + 2, (uint16_t)(iplen + (fr->mut == M_TRUNC_IP ? 100 : 0)));
		if (fr->mut == M_FRAG_FIRST)
			put16(ip + 6, 0x2000);
		if (fr->mut == M_FRAG_LATER)
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
		uint16_t ulen = (uint16_t)l4len;

		if (fr->mut == M_UDP_LONG)
			ulen += 50;
		if (fr->mut == M_UDP_SHORT)
			ulen = 4;
		if (fr->mut == M_UDP_PADDED)
			ulen -= 10;
		put16(l4 + 4, ulen);
	} else if (proto == 6) {
		l4[12] = 0x50;
	}
	return (size_t)(l4 + l4len - buf);
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
	conf_prefix(&fc->deny[fc->n_deny++], "198.18.66.0/24");
	conf_prefix(&fc->deny[fc->n_deny++], "198.18.70.9/32");
	conf_prefix(&fc->deny[fc->n_deny++], "2001:2:bad::/48");
	conf_prefix(&fc->allow[fc->n_allow++], "198.18.66.7/32");
	conf_prefix(&fc->allow[fc->n_allow++], "198.18.70.0/24");
	conf_prefix(&fc->allow[fc->n_allow++], "2001:2:bad:1::/64");
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
		assert_true(opts.retval == TC_ACT_OK || opts.retval == TC_ACT_SHOT);
		return opts.retval == TC_ACT_SHOT;
	}
	assert_true(opts.retval == XDP_PASS || opts.retval == XDP_DROP);
	return opts.retval == XDP_DROP;
}

static void test_table(void **state)
{
	struct fixture *fx = *state;
	struct filter_stats *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	uint8_t buf[256];
	size_t i, len;
	int tc, c;

	for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		len = frame_build(&frames[i], buf);
		for (tc = 0; tc < 2; tc++) {
			/* The kernel's skb test run refuses an IPv4 frame shorter than an IP
			 * header, so runts are XDP only. */
			if (tc && frames[i].mut == M_RUNT_IP)
				continue;
			assert_int_equal(filter_read_stats(fx->f, before), 0);
			if (run_frame(fx->f, tc, buf, len, 1) != frames[i].drop)
				fail_msg("%s (%s): verdict %s", frames[i].name, tc ? "tc" : "xdp",
					 frames[i].drop ? "pass, want drop" : "drop, want pass");
			assert_int_equal(filter_read_stats(fx->f, after), 0);
			for (c = 0; c < FILTER_CNT__MAX; c++) {
				uint64_t d = after->counters[c] - before->counters[c];

				if (d != (c == (int)frames[i].cnt))
					fail_msg("%s (%s): counter %s changed by %llu",
						 frames[i].name, tc ? "tc" : "xdp",
						 filter_counter_name(c), (unsigned long long)d);
			}
		}
	}
	assert_true(i >= 30);
	/* Rule hits: deny[0] (198.18.66.0/24) matched the denied v4 frames. */
	assert_true(after->deny_hits[0] > 0);
	assert_true(after->allow_hits[0] > 0);
	assert_true(after->port_hits[1] > 0);
	free(before);
	free(after);
}

static const struct frame rate_v4 = {"rate v4", "198.18.5.5", RELAY_PORT, M_NONE, 0, 0};
static const struct frame rate_v4b = {"rate v4 other", "198.18.5.6", RELAY_PORT, M_NONE, 0, 0};
static const struct frame rate_v6a = {"rate v6", "2001:2:5:5::1", RELAY_PORT, M_NONE, 0, 0};
static const struct frame rate_v6b = {
    "rate v6 same /64", "2001:2:5:5::2", RELAY_PORT, M_NONE, 0, 0};

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

static void test_rate_limit(void **state)
{
	struct config *cfg = conf_table();
	struct filter_stats *st = malloc(sizeof(*st));
	char err[CONFIG_ERR_LEN];
	struct filter *f;
	uint8_t buf[256];
	size_t len;
	int i;

	/* 1 pps, burst 3: each datagram costs 1 s of bucket time, 3 s may be owed. Real time
	 * moves microseconds during the test, far below one interval. */
	cfg->filter.rate_pps = 1;
	cfg->filter.rate_burst = 3;
	cfg->filter.rate_prefix6 = 64;
	assert_int_equal(filter_open(cfg, &f, err, sizeof(err)), 0);
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
	static const struct frame denied = {"swap denied", "198.18.99.1", RELAY_PORT, M_NONE, 1, 0};
	static const struct frame flips = {"swap flips", "198.18.98.1", RELAY_PORT, M_NONE, 0, 0};
	struct swapper sw = {.swaps = 200};
	struct filter_stats *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char err[CONFIG_ERR_LEN];
	uint8_t buf[256], buf2[256];
	size_t len, len2;
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

	/* Interfaces or mode changes need a restart; the old rules stay. */
	sw.cfg[1]->filter.mode = FILTER_MODE_TC;
	assert_int_equal(filter_update(sw.f, sw.cfg[1], err, sizeof(err)), -EOPNOTSUPP);
	free(a);
	free(b);
	filter_free(sw.f);
	free(sw.cfg[0]);
	free(sw.cfg[1]);
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
	    cmocka_unit_test(test_rate_limit),
	    cmocka_unit_test(test_swap),
	    cmocka_unit_test(test_conflict),
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
		fprintf(stderr, "SKIP: cannot load the filter: %s\n", err);
		free(cfg);
		return 77;
	}
	filter_free(f);
	free(cfg);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
