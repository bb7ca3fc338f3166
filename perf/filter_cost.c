// SPDX-License-Identifier: MIT
/* Cost of the XDP/tc program alone: BPF_PROG_TEST_RUN over one IPv4/UDP frame from a denied
 * source to a relay port, repeated in the kernel, for the XDP and the tc flavour (the numbers
 * in docs/filter.md, "Cost"); then, in a private network namespace with a route and a static
 * neighbour, over a datagram of an offloaded session, which the fast path parses, looks up,
 * routes (bpf_fib_lookup), rewrites and counts (docs/offload.md, "Costs"), and over ICMP frames
 * there (an echo, a "fragmentation needed" about the session); then, in another
 * such namespace, over a datagram to a relay listener whose socket has room, which the
 * shedding stage parses, finds the listener of, looks the socket up for (bpf_sk_lookup_udp)
 * and reads the fill of, with each of the two socket readers: the bpf_rdonly_cast kfunc
 * (Linux 6.3) and bpf_probe_read_kernel (older kernels; docs/offload.md). Needs root.
 *
 *   filter_cost [-n REPEAT]          (default 1000000)
 *
 * Prints one line per flavour and frame: "xdp: denied v4 frame: N ns/packet (...)". */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include "config.h"
#include "filter.h"
#include "log.h"

/* One relay on port 5000 and a denied /24: the frame below takes the parse, one LPM lookup
 * and the drop_prefix counter. */
static const char conf_text[] =
	"relays = ( { name = \"r\"; listen = [ \"198.18.1.2:5000\" ]; "
	"upstreams = [ \"198.18.2.2:9000\" ]; } );\n"
	"filter = { interfaces = [ \"lo\" ]; deny = [ \"198.18.66.0/24\" ]; };\n";

/* Ethernet + IPv4 + UDP + 32 bytes from 198.18.66.1 to 198.18.1.2:5000. */
/* The IPv4 header checksum of the 20-byte header at ip. */
static void ip_csum(uint8_t *ip)
{
	uint32_t s = 0;
	int i;

	ip[10] = ip[11] = 0;
	for (i = 0; i < 20; i += 2)
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	ip[10] = (uint8_t)(~s >> 8);
	ip[11] = (uint8_t)~s;
}

static size_t frame_build(uint8_t *buf, size_t len)
{
	uint8_t *ip = buf + 14, *udp = ip + 20;
	uint16_t v;

	memset(buf, 0, len);
	memset(buf, 0x02, 12); /* MACs: any unicast */
	v = htons(0x0800);
	memcpy(buf + 12, &v, 2);
	ip[0] = 0x45;
	v = htons(20 + 8 + 32);
	memcpy(ip + 2, &v, 2);
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, "198.18.66.1", ip + 12);
	inet_pton(AF_INET, "198.18.1.2", ip + 16);
	v = htons(40000);
	memcpy(udp, &v, 2);
	v = htons(5000);
	memcpy(udp + 2, &v, 2);
	v = htons(8 + 32);
	memcpy(udp + 4, &v, 2);
	return 14 + 20 + 8 + 32;
}

/* An ICMP frame from 198.18.1.1 to 198.18.1.2 in buf: an echo request with 32 bytes, or a
 * "fragmentation needed" quoting 198.18.1.3:5000 -> 198.18.1.1:33333 (a datagram of the
 * fast path's session below: its reply). The program checks no ICMP checksum. */
static size_t icmp_build(uint8_t *buf, size_t len, int too_big)
{
	uint8_t *ip = buf + 14, *icmp = ip + 20, *q = icmp + 8;
	uint16_t v;

	frame_build(buf, len);
	ip[9] = 1;
	inet_pton(AF_INET, "198.18.1.1", ip + 12);
	v = htons(20 + 8 + 32);
	memcpy(ip + 2, &v, 2);
	ip_csum(ip);
	memset(icmp, 0, 8 + 32);
	icmp[0] = 8; /* echo request */
	if (too_big) {
		icmp[0] = 3, icmp[1] = 4; /* destination unreachable, fragmentation needed */
		icmp[7] = 1300 & 0xff, icmp[6] = 1300 >> 8;
		q[0] = 0x45;
		q[9] = 17;
		inet_pton(AF_INET, "198.18.1.3", q + 12);
		inet_pton(AF_INET, "198.18.1.1", q + 16);
		q[20] = 5000 >> 8, q[21] = 5000 & 0xff;
		q[22] = 0x82, q[23] = 0x35; /* 33333 */
	}
	return 14 + 20 + 8 + 32;
}

/* Says which counter the frame raised instead of "forwarded". Returns 1. */
static int fast_path_why(struct filter *f, uint32_t verdict)
{
	uint64_t c[OFFLOAD_CNT__MAX] = {0};
	int i;

	filter_offload_counters(f, c);
	for (i = 0; i < OFFLOAD_CNT__MAX; i++)
		if (c[i] && i != OFFLOAD_CNT_FORWARDED)
			fprintf(stderr, "filter_cost: not relayed (verdict %u): %s\n", verdict,
				filter_offload_counter_name((enum offload_counter)i));
	return 1;
}

static void fill_key(struct offload_key *k, const char *src, uint16_t sport, const char *dst,
		     uint16_t dport)
{
	memset(k, 0, sizeof(*k));
	k->saddr[10] = k->saddr[11] = k->daddr[10] = k->daddr[11] = 0xff;
	inet_pton(AF_INET, src, &k->saddr[12]);
	inet_pton(AF_INET, dst, &k->daddr[12]);
	k->sport = htons(sport);
	k->dport = htons(dport);
}

/* A rule is a key's addresses plus where and how the datagram leaves. */
static void fill_rule(struct offload_rule *r, const struct offload_key *to, uint32_t oif)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->saddr, to->saddr, 16);
	memcpy(r->daddr, to->daddr, 16);
	r->sport = to->sport;
	r->dport = to->dport;
	r->oif = oif;
	r->ttl = 64;
	r->v4 = 1;
	r->max_payload = 1500;
}

/* The fast path's frame. BPF_PROG_TEST_RUN runs every repeat on the frame the previous one
 * rewrote, so two sessions rewrite it back and forth: 198.18.1.1:33333 -> 198.18.1.3:5000
 * leaves through b0 as 198.18.2.1:40000 -> 198.18.2.2:9000, and that leaves through a0 as the
 * first again. Every run parses, looks up, routes (bpf_fib_lookup: forwarding on, static
 * neighbours), rewrites and counts one datagram. Every run's ingress is a0, so both
 * neighbours have a0's MAC: each rewritten frame is addressed to it, as the first is (XDP and
 * tc pass a frame for another host up). */
static int fast_path_cost(struct bpf_test_run_opts *opts)
{
	static const char *const setup[] = {
	    "ip link set lo up",
	    "ip link add a0 address 02:02:02:02:02:02 type veth peer name a1",
	    "ip link add b0 type veth peer name b1",
	    "ip link set a0 up && ip link set a1 up && ip link set b0 up && ip link set b1 up",
	    "ip addr add 198.18.1.2/24 dev a0 && ip addr add 198.18.2.1/24 dev b0",
	    "sysctl -qw net.ipv4.conf.all.forwarding=1 >/dev/null",
	    "ip neigh replace 198.18.2.2 lladdr 02:02:02:02:02:02 dev b0 nud permanent",
	    "ip neigh replace 198.18.1.3 lladdr 02:02:02:02:02:02 dev a0 nud permanent",
	};
	/* (b0's address does not matter: no run arrives there) */
	struct rr_iface fl = {.flags = RR_IFACE_OFFLOAD_XDP | RR_IFACE_OFFLOAD_TC};
	struct rr_iface fl_a0 = {.flags = fl.flags, .mac = {2, 2, 2, 2, 2, 2}};
	struct offload_key ka, kb;
	struct offload_rule ra, rb;
	struct config cfg0 = {0};
	char err[CONFIG_ERR_LEN];
	uint32_t a0, b0;
	struct xdp_md xctx = {0};
	struct __sk_buff sctx = {0};
	struct filter *f;
	uint8_t buf[256], *ip = buf + 14;
	size_t i;
	int tc, ret = 0;

	if (unshare(CLONE_NEWNET)) {
		perror("filter_cost: unshare(CLONE_NEWNET)");
		return 1;
	}
	for (i = 0; i < sizeof(setup) / sizeof(setup[0]); i++)
		if (system(setup[i])) {
			fprintf(stderr, "filter_cost: %s failed\n", setup[i]);
			return 1;
		}
	a0 = if_nametoindex("a0");
	b0 = if_nametoindex("b0");
	if (filter_open_sized(&cfg0, 16, &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "filter_cost: %s\n", err);
		return 1;
	}
	fill_key(&ka, "198.18.1.1", 33333, "198.18.1.3", 5000);
	fill_key(&kb, "198.18.2.1", 40000, "198.18.2.2", 9000);
	fill_rule(&ra, &kb, b0);
	fill_rule(&rb, &ka, a0);
	/* every run arrives on a0, the second session's too (a relay expects it on b0) */
	ra.iif = a0;
	rb.iif = a0;
	if (bpf_map_update_elem(filter_map_fd(f, "rr_ifaces"), &a0, &fl_a0, BPF_ANY) ||
	    bpf_map_update_elem(filter_map_fd(f, "rr_ifaces"), &b0, &fl, BPF_ANY) ||
	    bpf_map_update_elem(filter_map_fd(f, "offload_tx"), &a0, &a0, BPF_ANY) ||
	    bpf_map_update_elem(filter_map_fd(f, "offload_tx"), &b0, &b0, BPF_ANY) ||
	    filter_offload_set(f, &ka, &ra) || filter_offload_set(f, &kb, &rb)) {
		fprintf(stderr, "filter_cost: filling the fast path's maps failed\n");
		filter_free(f);
		return 1;
	}
	for (tc = 0; tc < 2 && !ret; tc++) {
		opts->data_size_in = (uint32_t)frame_build(buf, sizeof(buf));
		opts->data_in = buf;
		inet_pton(AF_INET, "198.18.1.1", ip + 12);
		inet_pton(AF_INET, "198.18.1.3", ip + 16);
		ip[20] = 0x82, ip[21] = 0x35; /* source port 33333 */
		ip_csum(ip); /* a wrong one goes up (pass_malformed) */
		xctx.ingress_ifindex = a0;
		xctx.data_end = opts->data_size_in;
		sctx.ifindex = a0;
		opts->ctx_in = tc ? (void *)&sctx : (void *)&xctx;
		opts->ctx_size_in = tc ? sizeof(sctx) : sizeof(xctx);
		ret = bpf_prog_test_run_opts(filter_prog_fd(f, tc), opts);
		if (ret)
			fprintf(stderr, "filter_cost: BPF_PROG_TEST_RUN: %s\n", strerror(-ret));
		else if (opts->retval != (tc ? (uint32_t)TC_ACT_REDIRECT : (uint32_t)XDP_REDIRECT))
			ret = fast_path_why(f, opts->retval);
		else
			printf("%s: fast-path v4 datagram (parse, session lookup, FIB, rewrite, "
			       "count): %u ns/packet (BPF_PROG_TEST_RUN, repeat %u)\n",
			       tc ? "tc" : "xdp", opts->duration, opts->repeat);
	}
	/* ICMP on the same interface: every frame of it takes the fast path's ICMP branch, an
	 * echo to leave, a "fragmentation needed" about the session to count it (too_big). */
	for (i = 0; i < 4 && !ret; i++) {
		const struct offload_flow_stats *st = filter_offload_flow(f, ra.flow);
		uint32_t tb0 = st ? st->too_big[0] + st->too_big[1] : 0, tb;

		tc = (int)(i & 1);
		opts->data_size_in = (uint32_t)icmp_build(buf, sizeof(buf), i >= 2);
		opts->ctx_in = tc ? (void *)&sctx : (void *)&xctx;
		opts->ctx_size_in = tc ? sizeof(sctx) : sizeof(xctx);
		ret = bpf_prog_test_run_opts(filter_prog_fd(f, tc), opts);
		tb = st ? st->too_big[0] + st->too_big[1] - tb0 : 0;
		if (ret)
			fprintf(stderr, "filter_cost: BPF_PROG_TEST_RUN: %s\n", strerror(-ret));
		else if (opts->retval != (tc ? (uint32_t)TC_ACT_UNSPEC : (uint32_t)XDP_PASS) ||
			 tb != (i >= 2 ? (uint32_t)opts->repeat : 0u))
			ret = fprintf(stderr, "filter_cost: ICMP: verdict %u, %u too-bigs\n",
				      opts->retval, tb);
		else
			printf("%s: %s: %u ns/packet (BPF_PROG_TEST_RUN, repeat %u)\n",
			       tc ? "tc" : "xdp",
			       i >= 2 ? "ICMP frag-needed about a session (counted, passes up)"
				      : "ICMP echo on the fast path (passes up)",
			       opts->duration, opts->repeat);
	}
	filter_free(f);
	return ret ? 1 : 0;
}

/* Every CPU's gate off (room 0): the stage looks at every frame. */
static int shed_gate_off(struct filter *f)
{
	int n = libbpf_num_possible_cpus(), ret;
	struct shed_gate *v;
	uint32_t key = 0;

	if (n < 1)
		return -1;
	v = calloc((size_t)n, sizeof(*v));
	if (!v)
		return -1;
	ret = bpf_map_update_elem(filter_map_fd(f, "shed_gate"), &key, v, BPF_ANY);
	free(v);
	return ret;
}

/* One timed run of the stage on a datagram for a socket with room; gated: as loaded, the
 * gate passing most of them unlooked at. 0, or non-zero with a line on stderr. */
static int shed_cost_run(struct filter *f, struct bpf_test_run_opts *opts, int tc, int probe,
			 int gated)
{
	uint64_t c0[SHED_CNT__MAX] = { 0 }, c1[SHED_CNT__MAX] = { 0 }, looked, unlooked;
	int ret;

	filter_shed_counters(f, c0);
	ret = bpf_prog_test_run_opts(filter_prog_fd(f, tc), opts);
	filter_shed_counters(f, c1);
	looked = c1[SHED_CNT_PASS_ROOM] - c0[SHED_CNT_PASS_ROOM];
	unlooked = c1[SHED_CNT_PASS_UNCHECKED] - c0[SHED_CNT_PASS_UNCHECKED];
	if (ret)
		return fprintf(stderr, "filter_cost: BPF_PROG_TEST_RUN: %s\n", strerror(-ret));
	if (opts->retval != (tc ? (uint32_t)TC_ACT_UNSPEC : (uint32_t)XDP_PASS))
		return fprintf(stderr, "filter_cost: the datagram was shed (%u)\n", opts->retval);
	/* a shortcut (no socket, not a listener) would be timed instead */
	if (looked + unlooked != (uint64_t)opts->repeat || !looked || (!gated && unlooked))
		return fprintf(stderr, "filter_cost: the stage did not read the socket (%llu "
				       "looks, %llu passed unlooked at, of %u)\n",
			       (unsigned long long)looked, (unsigned long long)unlooked,
			       opts->repeat);
	printf("%s: shedding stage, socket with room, %s reader, %s: %u ns/packet "
	       "(BPF_PROG_TEST_RUN, repeat %u, %llu looks)%s\n",
	       tc ? "tc" : "xdp", probe ? "bpf_probe_read_kernel" : "bpf_rdonly_cast",
	       gated ? "gate as loaded" : "gate off, every frame looked at", opts->duration,
	       opts->repeat, (unsigned long long)looked,
	       gated && !unlooked ? " (the gate did not skip: its room for this many CPUs is "
				    "over a quarter of the socket's buffer)"
				  : "");
	return 0;
}

/* The shedding stage's cost per reader: every repeat passes (pass_room, or pass_unchecked
 * where the gate lets it by), the socket being empty (a test run delivers nothing). */
static int shed_cost(unsigned int repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, run, .repeat = repeat);
	struct bpf_test_run_opts *opts = &run;
	static const char conf_shed[] =
	    "relays = ( { name = \"r\"; listen = [ \"127.0.0.1:5300\" ]; "
	    "upstreams = [ \"127.0.0.1:9\" ]; } );\n";
	static const enum filter_shed_reader readers[] = {FILTER_SHED_KFUNC, FILTER_SHED_PROBE};
	struct rr_iface v = {.flags = RR_IFACE_SHED_XDP | RR_IFACE_SHED_TC};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5300)};
	char err[CONFIG_ERR_LEN];
	struct config *cfg;
	struct filter *f;
	uint8_t buf[256];
	uint32_t key;
	bool on = true;
	int fd, i, tc, gated, ret = 0, rcvbuf = 4 << 20;

	if (unshare(CLONE_NEWNET) || system("ip link set lo up")) {
		perror("filter_cost: a network namespace for the shedding stage");
		return 1;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	/* the relay's receive buffer (src/sock.c), which leaves the gate room to skip */
	if (fd >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("filter_cost: binding 127.0.0.1:5300");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (config_load_string(conf_shed, "filter_cost", &cfg, err, sizeof(err))) {
		fprintf(stderr, "filter_cost: %s\n", err);
		close(fd);
		return 1;
	}
	opts->data_in = buf;
	opts->data_size_in = (uint32_t)frame_build(buf, sizeof(buf));
	inet_pton(AF_INET, "127.0.0.2", buf + 14 + 12);
	inet_pton(AF_INET, "127.0.0.1", buf + 14 + 16);
	buf[14 + 20 + 2] = 5300 >> 8;
	buf[14 + 20 + 3] = 5300 & 0xff;
	key = if_nametoindex("lo");
	for (i = 0; i < 2 && !ret; i++) {
		if (filter_open_shed_reader(cfg, readers[i], &f, err, sizeof(err)) < 0) {
			ret = fprintf(stderr, "filter_cost: %s\n", err);
			break;
		}
		if (filter_shed_reader(f) != readers[i]) {
			printf("shed: the %s reader does not load here\n", i ? "probe" : "kfunc");
			filter_free(f);
			continue;
		}
		if (filter_shed_listeners(f, cfg, &on) ||
		    bpf_map_update_elem(filter_map_fd(f, "rr_ifaces"), &key, &v, BPF_ANY))
			ret = fprintf(stderr, "filter_cost: setting up the shedding stage failed\n");
		/* As loaded (the gate looks at one frame in SHED_GATE_SKIP + 1 of these), then
		 * with the gate off (room 0: every frame looked at). The figures are the whole
		 * program's per test run (entry, the interface's flags, the stage), not a look's
		 * alone. */
		for (gated = 1; gated >= 0 && !ret; gated--) {
			if (!gated && shed_gate_off(f))
				ret = fprintf(stderr, "filter_cost: turning the gate off failed\n");
			for (tc = 0; tc < 2 && !ret; tc++)
				ret = shed_cost_run(f, opts, tc, i, gated);
		}
		filter_free(f);
	}
	config_free(cfg);
	close(fd);
	return ret;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .repeat = 1000000);
	char err[CONFIG_ERR_LEN];
	struct config *cfg;
	struct filter *f;
	uint8_t buf[256];
	int c, tc, ret = 0;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n' || atoi(optarg) <= 0) {
			fprintf(stderr, "usage: filter_cost [-n REPEAT]\n");
			return 2;
		}
		opts.repeat = (unsigned)atoi(optarg);
	}
	log_set_level(LOG_LVL_WARN);
	if (config_load_string(conf_text, "filter_cost", &cfg, err, sizeof(err))) {
		fprintf(stderr, "filter_cost: %s\n", err);
		return 1;
	}
	if (filter_open(cfg, &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "filter_cost: %s (needs root)\n", err);
		config_free(cfg);
		return 1;
	}
	opts.data_in = buf;
	opts.data_size_in = (uint32_t)frame_build(buf, sizeof(buf));
	for (tc = 0; tc < 2 && !ret; tc++) {
		ret = bpf_prog_test_run_opts(filter_prog_fd(f, tc), &opts);
		if (ret)
			fprintf(stderr, "filter_cost: BPF_PROG_TEST_RUN: %s\n", strerror(-ret));
		else if (opts.retval != (tc ? (uint32_t)TC_ACT_SHOT : (uint32_t)XDP_DROP))
			ret = fprintf(stderr, "filter_cost: the frame was not dropped (%u)\n",
				      opts.retval);
		else
			printf("%s: denied v4 frame: %u ns/packet (BPF_PROG_TEST_RUN, repeat %u)\n",
			       tc ? "tc" : "xdp", opts.duration, opts.repeat);
	}
	filter_free(f);
	config_free(cfg);
	if (!ret)
		ret = fast_path_cost(&opts);
	if (!ret)
		ret = shed_cost(opts.repeat);
	return ret ? 1 : 0;
}
