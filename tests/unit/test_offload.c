// SPDX-License-Identifier: MIT
/* offload: the flow a relay's upstream routes are looked up with (its sessions' sockets'), and
 * the interfaces offload_resolve finds with it in a forked child's private network namespace,
 * where rules by uid and by UDP port choose another table; that a session socket keeps the
 * multipath leg the fast path saw (routed with its source: sock_open_upstream); and when the
 * tick reads a fast session's path MTUs again (offload_pmtu_due), in turn over a worker's
 * relays and sessions (offload_pmtu_walk). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "filter.h"
#include "netlink.h"
#include "offload.h"
#include "routescope.h"
#include "sock.h"
#include "netns_child.h"

static struct config *load(const char *text)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;

	if (config_load_string(text, "t.conf", &cfg, err, sizeof(err))) {
		fprintf(stderr, "config: %s\n", err);
		return NULL;
	}
	return cfg;
}

/* Protocol UDP to the upstream's port, the relay's source address and fwmark, the session
 * sockets' owner; no source port (an ephemeral one) and no device. */
static void test_relay_flow(void **state)
{
	struct config *cfg = load("relays = (\n"
				  " { name = \"a\"; listen = [ \"198.18.8.1:5000\" ];\n"
				  "   upstreams = [ \"198.18.7.7:4343\" ]; },\n"
				  " { name = \"b\"; listen = [ \"[2001:2:0:8::1]:5000\" ];\n"
				  "   upstreams = [ \"[2001:2:0:7::7]:53\" ];\n"
				  "   source = \"2001:2:0:8::1\"; fwmark = 7; } );\n");
	struct netlink_flow fl;
	const struct relay_conf *rc;

	(void)state;
	assert_non_null(cfg);
	rc = &cfg->relays[0];
	offload_relay_flow(rc, &rc->members[0].addr, 4242, &fl);
	assert_ptr_equal(fl.dst, &rc->members[0].addr);
	assert_null(fl.src);
	assert_int_equal(fl.proto, IPPROTO_UDP);
	assert_false(fl.no_ports);
	assert_int_equal(addr_port(fl.dst), 4343);
	assert_int_equal(fl.sport, 0);
	assert_int_equal(fl.mark, 0);
	assert_int_equal(fl.uid, 4242);
	assert_int_equal(fl.oif, 0);
	rc = &cfg->relays[1];
	offload_relay_flow(rc, &rc->members[0].addr, 0, &fl);
	assert_ptr_equal(fl.src, &rc->source_addr);
	assert_int_equal(fl.proto, IPPROTO_UDP);
	assert_int_equal(addr_port(fl.dst), 53);
	assert_int_equal(fl.mark, 7);
	assert_int_equal(fl.uid, 0);
	config_free(cfg);
}



/* rrd0 holds the listen addresses and the main table's routes to 198.18.7.0/24 and
 * 2001:2:0:7::/64; table 2 routes them through rrd1 for uid 4242 and for UDP to port 4343. Each
 * relay's interfaces are rrd0 and, where its sessions' sockets are routed through table 2,
 * rrd1: relays "p" and "p6" (port 4343) for any owner, relay "u" (port 1) only for uid 4242.
 * Before, the lookup had no protocol or port and the caller's uid (root here): rrd0 alone. */
static int resolve_child(void)
{
	static const char conf[] =
	    "relays = (\n"
	    " { name = \"u\"; listen = [ \"198.18.8.1:5000\" ];\n"
	    "   upstreams = [ \"198.18.7.7:1\" ]; offload = \"tc\"; },\n"
	    " { name = \"p\"; listen = [ \"198.18.8.1:5001\" ];\n"
	    "   upstreams = [ \"198.18.7.7:4343\" ]; offload = \"tc\"; },\n"
	    " { name = \"p6\"; listen = [ \"[2001:2:0:8::1]:5002\" ];\n"
	    "   upstreams = [ \"[2001:2:0:7::7]:4343\" ]; offload = \"tc\"; } );\n";
	static const struct {
		int64_t uid;
		bool via_rrd1[3]; /* relays u, p, p6 */
	} cases[] = {
		{ 0, { false, true, true } },
		{ 4242, { true, true, true } },
		{ 4243, { false, true, true } },
	};
	struct offload_relay_state st[CONFIG_MAX_RELAYS];
	struct config *cfg;
	int rrd0, rrd1, code = 0;
	size_t i, r;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (system(NETNS_TWO_LINKS
		   "ip route add 198.18.7.0/24 dev rrd0 && "
		   "ip route add 198.18.7.0/24 dev rrd1 table 2 && "
		   "ip -6 route add 2001:2:0:7::/64 dev rrd0 && "
		   "ip -6 route add 2001:2:0:7::/64 dev rrd1 table 2"))
		return 77;
	if (system("ip rule add uidrange 4242-4242 lookup 2 && "
		   "ip -6 rule add uidrange 4242-4242 lookup 2 && "
		   "ip rule add ipproto udp dport 4343 lookup 2 && "
		   "ip -6 rule add ipproto udp dport 4343 lookup 2"))
		return 77; /* an ip(8) or kernel without these selectors */
	rrd0 = (int)if_nametoindex("rrd0");
	rrd1 = (int)if_nametoindex("rrd1");
	cfg = load(conf);
	if (!cfg || cfg->n_relays != 3)
		return 2;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]) && !code; i++) {
		offload_resolve(cfg, cases[i].uid, NULL, NULL, st);
		for (r = 0; r < 3; r++) {
			bool rrd1_too = cases[i].via_rrd1[r];

			if (st[r].got == OFFLOAD_TC && st[r].n_ifaces == (rrd1_too ? 2u : 1u) &&
			    st[r].ifindex[0] == rrd0 && (!rrd1_too || st[r].ifindex[1] == rrd1))
				continue;
			fprintf(stderr, "resolve child: uid %lld, relay %s: %u interfaces (%d, %d), "
				"want %s: %s\n", (long long)cases[i].uid, cfg->relays[r].name,
				st[r].n_ifaces, st[r].ifindex[0], st[r].ifindex[1],
				rrd1_too ? "rrd0, rrd1" : "rrd0", st[r].why);
			code = 10 + (int)(i * 3 + r);
		}
	}
	config_free(cfg);
	return code;
}

static void test_resolve_rules(void **state)
{
	(void)state;
	run_in_child(resolve_child);
}

static bool has_iface(const struct offload_relay_state *st, int ifindex)
{
	uint32_t j;

	for (j = 0; j < st->n_ifaces && st->ifindex[j] != ifindex; j++)
		;
	return j < st->n_ifaces;
}

/* rrd0 and rrd1 as above, and rrt0, an ipip tunnel or else a tun (a layer 3 device: no
 * Ethernet header) holding 198.18.10.1/30 and 2001:2:0:10::1/64, with the routes to
 * 198.18.11.0/24 and 2001:2:0:11::/64. A wildcard listener's interfaces leave rrt0 out, and say
 * so; so do those of a relay with one upstream routed through it among others (its sessions
 * there stay on the socket path, offload_session_open). A relay whose only upstream route, or
 * only listen interface, is rrt0 stays off, as before. Before, every one of them was off. */
static int resolve_l3_child(void)
{
	static const char conf[] =
	    "relays = (\n"
	    " { name = \"w\"; listen = [ \"0.0.0.0:5000\" ];\n"
	    "   upstreams = [ \"198.18.7.7:53\" ]; offload = \"tc\"; },\n"
	    " { name = \"w6\"; listen = [ \"[::]:5001\" ];\n"
	    "   upstreams = [ \"[2001:2:0:7::7]:53\" ]; offload = \"tc\"; },\n"
	    " { name = \"m\"; listen = [ \"198.18.8.1:5002\" ];\n"
	    "   upstreams = [ \"198.18.7.7:53\", \"198.18.11.1:53\" ]; offload = \"tc\"; },\n"
	    " { name = \"u\"; listen = [ \"198.18.8.1:5003\" ];\n"
	    "   upstreams = [ \"198.18.11.1:53\" ]; offload = \"tc\"; },\n"
	    " { name = \"l\"; listen = [ \"198.18.10.1:5004\" ];\n"
	    "   upstreams = [ \"198.18.7.7:53\" ]; offload = \"tc\"; } );\n";
	static const char l3_note[] = "; not on rrt0 (layer 3): sessions arriving or leaving "
				      "there stay on the socket path";
	static const char l3_off[] = "traffic uses rrt0, a layer 3 device";
	struct offload_relay_state st[CONFIG_MAX_RELAYS];
	struct config *cfg;
	int rrd0, rrt0, rrd1, code = 0;
	uint32_t r;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (system(NETNS_TWO_LINKS
		   "ip route add 198.18.7.0/24 dev rrd0 && "
		   "ip -6 route add 2001:2:0:7::/64 dev rrd0"))
		return 77;
	if (system("ip link add rrt0 type ipip local 198.18.8.1 remote 198.18.8.2 2>/dev/null || "
		   "ip tuntap add mode tun name rrt0 2>/dev/null"))
		return 77; /* neither ipip nor /dev/net/tun */
	if (system("ip link set rrt0 up && ip addr add 198.18.10.1/30 dev rrt0 && "
		   "ip -6 addr add 2001:2:0:10::1/64 dev rrt0 nodad && "
		   "ip route add 198.18.11.0/24 dev rrt0 && "
		   "ip -6 route add 2001:2:0:11::/64 dev rrt0"))
		return 2;
	rrd0 = (int)if_nametoindex("rrd0");
	rrd1 = (int)if_nametoindex("rrd1");
	rrt0 = (int)if_nametoindex("rrt0");
	cfg = load(conf);
	if (!cfg || cfg->n_relays != 5)
		return 3;
	offload_resolve(cfg, 0, NULL, NULL, st);
	for (r = 0; r < cfg->n_relays; r++) {
		bool off = r >= 3; /* u, l */
		const char *want = off ? l3_off : l3_note;
		/* w and w6: rrd0, rrd1 (and for IPv6 the peers' link-local addresses: those of a
		 * wildcard of the family), never rrt0; m: rrd0 (listen and upstream) */
		bool ifaces = r == 2 ? st[r].n_ifaces == 1 && st[r].ifindex[0] == rrd0
				     : has_iface(&st[r], rrd0) && has_iface(&st[r], rrd1) &&
					   !has_iface(&st[r], rrt0);

		if (off ? st[r].got == OFFLOAD_OFF && strstr(st[r].why, want)
			: st[r].got == OFFLOAD_TC && ifaces && st[r].n_l3 == 1 &&
			      st[r].l3 == rrt0 && strstr(st[r].why, want))
			continue;
		fprintf(stderr,
			"resolve l3 child: relay %s: %s, %u interfaces, %u layer 3 (%d); "
			"want %s with \"%s\": %s\n",
			cfg->relays[r].name, config_offload_name(st[r].got), st[r].n_ifaces,
			st[r].n_l3, st[r].l3, off ? "off" : "tc", want, st[r].why);
		code = 10 + (int)r;
	}
	config_free(cfg);
	return code;
}

static void test_resolve_l3(void **state)
{
	(void)state;
	run_in_child(resolve_l3_child);
}

/* rrd0 and rrd1 as above, and rrb0, a bridge (no native XDP: its xdp-features are empty)
 * holding 198.18.14.1/24; upstreams routed through rrd0. The fast path never runs in generic
 * XDP (docs/offload.md): "auto" and "xdp" both take tc on a relay listening on rrb0, and say
 * why; a relay only on rrd0 is not concerned. Before, "xdp" got xdp, attached generic on rrb0,
 * and "auto" said only that rrb0 cannot take XDP_REDIRECT. */
static int resolve_native_child(void)
{
	static const char conf[] =
	    "relays = (\n"
	    " { name = \"a\"; listen = [ \"198.18.14.1:5000\" ];\n"
	    "   upstreams = [ \"198.18.7.7:53\" ]; offload = \"auto\"; },\n"
	    " { name = \"x\"; listen = [ \"198.18.14.1:5001\" ];\n"
	    "   upstreams = [ \"198.18.7.7:53\" ]; offload = \"xdp\"; },\n"
	    " { name = \"d\"; listen = [ \"198.18.8.1:5002\" ];\n"
	    "   upstreams = [ \"198.18.7.7:53\" ]; offload = \"xdp\"; } );\n";
	static const char *const want[] = {
		"auto: tc on rrb0, rrd0, because rrb0 has no native XDP (not in its xdp-features)",
		"tc on rrb0, rrd0 instead of xdp as configured, because rrb0 has no native XDP "
		"(not in its xdp-features), and the fast path never runs in generic XDP",
		"xdp as configured on rrd0",
	};
	struct offload_relay_state st[3];
	struct config *cfg;
	uint64_t feat;
	int code = 0;
	uint32_t r;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (system(NETNS_TWO_LINKS "ip route add 198.18.7.0/24 dev rrd0"))
		return 77;
	if (system("ip link add rrb0 type bridge 2>/dev/null"))
		return 77; /* no bridge module */
	if (system("ip link set rrb0 up && ip addr add 198.18.14.1/24 dev rrb0"))
		return 2;
	if (netlink_xdp_features((int)if_nametoindex("rrd0"), &feat))
		return 77; /* no netdev family (before 6.3): the attach tells */
	cfg = load(conf);
	if (!cfg || cfg->n_relays != 3)
		return 3;
	offload_resolve(cfg, 0, NULL, NULL, st);
	for (r = 0; r < cfg->n_relays; r++) {
		enum offload_mode got = r == 2 ? OFFLOAD_XDP : OFFLOAD_TC;

		if (st[r].got == got && !strncmp(st[r].why, want[r], strlen(want[r])))
			continue;
		fprintf(stderr, "resolve native child: relay %s: %s: %s; want %s: %s\n",
			cfg->relays[r].name, config_offload_name(st[r].got), st[r].why,
			config_offload_name(got), want[r]);
		code = 10 + (int)r;
	}
	config_free(cfg);
	return code;
}

static void test_resolve_native(void **state)
{
	(void)state;
	run_in_child(resolve_native_child);
}

/* What -V makes of the filter's hook from the config (offload_resolve_filter): a relay in XDP
 * takes tc where filter.mode is "tc" or "xdp-generic" on one of its interfaces (lo here), and
 * says which; a relay elsewhere, or with mode "xdp" (its fallback is not known before the
 * attach), keeps XDP. Before, -V printed xdp where the start said tc. */
static void test_resolve_filter(void **state)
{
	static const char *const modes[] = { "xdp-generic", "tc", "xdp" };
	static const char *const why[] = {
		"tc on every interface, because the filter runs in generic XDP on lo and must "
		"judge first",
		"tc on every interface, because the filter runs in tc on lo and must judge first",
		"xdp before",
	};
	char text[512];
	uint32_t m;

	(void)state;
	for (m = 0; m < 3; m++) {
		struct offload_relay_state st[2] = { { .got = OFFLOAD_XDP, .n_ifaces = 1 },
						     { .got = OFFLOAD_XDP, .n_ifaces = 1 } };
		struct config *cfg;

		snprintf(text, sizeof(text),
			 "filter = { mode = \"%s\"; interfaces = [ \"lo\" ]; };\n"
			 "relays = ( { name = \"a\"; listen = [ \"127.0.0.1:5000\" ];\n"
			 "  upstreams = [ \"127.0.0.2:53\" ]; },\n"
			 " { name = \"b\"; listen = [ \"127.0.0.1:5001\" ];\n"
			 "  upstreams = [ \"127.0.0.2:53\" ]; } );\n",
			 modes[m]);
		cfg = load(text);
		assert_non_null(cfg);
		st[0].ifindex[0] = (int)if_nametoindex("lo");
		st[1].ifindex[0] = 0x7ffffff0; /* no such interface */
		snprintf(st[0].why, sizeof(st[0].why), "xdp before");
		offload_resolve_filter(cfg, st);
		assert_int_equal(st[0].got, m < 2 ? OFFLOAD_TC : OFFLOAD_XDP);
		assert_string_equal(st[0].why, why[m]);
		assert_int_equal(st[1].got, OFFLOAD_XDP);
		config_free(cfg);
	}
}

/* A wildcard listener on a host with more interfaces than the program's table (64) holds,
 * most of them layer 3 devices (rrtN, made first, so listed first) and one Ethernet device
 * made last (rrz0): the interfaces past the 64th were never looked at, so however few are
 * left once the layer 3 ones go the relay's set is incomplete: off (E2BIG), saying so.
 * Before, rrd0 and rrd1 were left and the relay got tc without rrz0. */
static int resolve_many_l3_child(void)
{
	static const char conf[] = "relays = ( { name = \"w\"; listen = [ \"0.0.0.0:5000\" ];\n"
				   "   upstreams = [ \"198.18.7.7:53\" ]; offload = \"tc\"; } );\n";
	struct offload_relay_state st[1];
	struct config *cfg;
	int code = 0;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (system(NETNS_TWO_LINKS "ip route add 198.18.7.0/24 dev rrd0"))
		return 77;
	if (system("for i in $(seq 0 63); do "
		   "echo \"tuntap add mode tun name rrt$i\"; "
		   "echo \"addr add 198.18.12.$((i + 1))/32 dev rrt$i\"; "
		   "done | ip -batch - 2>/dev/null"))
		return 77; /* no /dev/net/tun */
	if (system("ip link add rrz0 type veth peer name rrz0p && "
		   "ip addr add 198.18.13.1/24 dev rrz0"))
		return 2;
	cfg = load(conf);
	if (!cfg)
		return 3;
	offload_resolve(cfg, 0, NULL, NULL, st);
	if (st[0].got != OFFLOAD_OFF || !strstr(st[0].why, "at least") ||
	    !strstr(st[0].why, "more than the 16")) {
		fprintf(stderr, "resolve many l3 child: %s, %u interfaces: %s\n",
			config_offload_name(st[0].got), st[0].n_ifaces, st[0].why);
		code = 10;
	}
	config_free(cfg);
	return code;
}

static void test_resolve_many_l3(void **state)
{
	(void)state;
	run_in_child(resolve_many_l3_child);
}

/* dev's transmitted packets, from /proc/net/dev (the reader's namespace; /sys shows the
 * namespace sysfs was mounted in). */
static unsigned long long tx_packets(const char *dev)
{
	unsigned long long v[10], tx = 0;
	char line[512], name[IF_NAMESIZE + 2];
	FILE *f = fopen("/proc/net/dev", "re");

	snprintf(name, sizeof(name), "%s:", dev);
	while (f && fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " ");

		if (strncmp(p, name, strlen(name)))
			continue;
		/* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets */
		if (sscanf(p + strlen(name), "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
			   &v[9]) == 10)
			tx = v[9];
	}
	if (f)
		fclose(f);
	return tx;
}

/* The leg (0: rrm0, 1: rrm1) a datagram sent on fd leaves by, or -1. The links came up just
 * before: the kernel's own IPv6 packets (MLD reports, sent again at random within seconds)
 * can leave beside the datagram, so an unclear count is asked again with another datagram,
 * which takes the same leg. */
static int sent_leg(int fd)
{
	unsigned long long a, b;
	int tries;

	for (tries = 0; tries < 20; tries++) {
		a = tx_packets("rrm0");
		b = tx_packets("rrm1");
		if (send(fd, "x", 1, 0) != 1)
			return -1;
		a = tx_packets("rrm0") - a;
		b = tx_packets("rrm1") - b;
		if ((a == 1 && !b) || (b == 1 && !a))
			return a == 1 ? 0 : 1;
		usleep(50 * 1000);
	}
	return -1;
}

#define LEG_SOCKS 32

/* 2001:2:0:10::/64 through a gateway on rrm0 and one on rrm1 (neighbours made permanent), the
 * L4 hash. LEG_SOCKS session sockets bound to no address each send a datagram, an IPv6 rule
 * is added (which invalidates every cached IPv6 route), and each sends again: by the same leg.
 * A socket connected once was routed without a source, and after the change with the one it
 * picked: about half of them moved. */
static int leg_child(void)
{
	struct addr dst;
	const char *why;
	int fds[LEG_SOCKS], legs[LEG_SOCKS], code = 0, i, n = 0, leg;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (system("sysctl -qw net.ipv6.fib_multipath_hash_policy=1 && "
		   "ip link add rrm0 type veth peer name rrm0p && "
		   "ip link add rrm1 type veth peer name rrm1p && "
		   "ip link set rrm0 up && ip link set rrm1 up && "
		   "ip link set rrm0p up && ip link set rrm1p up && "
		   "ip -6 addr add 2001:2:0:11::1/64 dev rrm0 nodad && "
		   "ip -6 addr add 2001:2:0:12::1/64 dev rrm1 nodad && "
		   "ip -6 neigh add 2001:2:0:11::2 lladdr 02:00:00:00:11:02 dev rrm0 "
		   "nud permanent && "
		   "ip -6 neigh add 2001:2:0:12::2 lladdr 02:00:00:00:12:02 dev rrm1 "
		   "nud permanent && "
		   "ip -6 route add 2001:2:0:10::/64 nexthop via 2001:2:0:11::2 dev rrm0 "
		   "nexthop via 2001:2:0:12::2 dev rrm1"))
		return 77;
	if (addr_parse("[2001:2:0:10::10]:53", &dst, &why))
		return 2;
	for (n = 0; n < LEG_SOCKS; n++) {
		fds[n] = sock_open_upstream(&dst, false, NULL, NULL);
		if (fds[n] < 0)
			return 3;
		legs[n] = sent_leg(fds[n]);
		if (legs[n] < 0) {
			fprintf(stderr, "leg child: socket %d: sent by no single leg\n", n);
			code = 4;
			goto out;
		}
	}
	if (system("ip -6 rule add pref 100 from 2001:2:0:99::1 lookup 5")) {
		code = 5;
		goto out;
	}
	for (i = 0; i < n; i++) {
		leg = sent_leg(fds[i]);
		if (leg != legs[i]) {
			fprintf(stderr, "leg child: socket %d left by leg %d, then %d\n", i, legs[i],
				leg);
			code = 10;
		}
	}
out:
	for (i = 0; i < n; i++)
		close(fds[i]);
	return code;
}

static void test_socket_keeps_leg(void **state)
{
	(void)state;
	run_in_child(leg_child);
}

/* Which path MTUs of a fast session the tick reads again: a direction whose datagrams the
 * program passed up as too long since the last reading (its count moved, also across a wrap);
 * the replies every OFFLOAD_PMTU_SWEEP_NS, only while the session relays anything. */
/* No ICMP too-big came (the sessions' counts are 0 too). */
static const uint32_t no_too_big[2];

static void test_pmtu_due(void **state)
{
	const uint64_t t0 = 5000000000ull, sweep = OFFLOAD_PMTU_SWEEP_NS;
	static const struct {
		const char *name;
		uint32_t base[2], pass[2];
		uint64_t seen, now; /* fast_seen, now, from t0 (fast_mtu_at) */
		uint32_t want;
	} cases[] = {
		{ "nothing passed up, idle", { 3, 4 }, { 3, 4 }, 0, 0, 0 },
		{ "up passed up", { 3, 4 }, { 5, 4 }, 0, 1, OFFLOAD_PMTU_UP },
		{ "replies passed up", { 3, 4 }, { 3, 9 }, 0, 1, OFFLOAD_PMTU_DOWN },
		{ "both", { 3, 4 }, { 4, 5 }, 0, 1, OFFLOAD_PMTU_UP | OFFLOAD_PMTU_DOWN },
		{ "count wrapped", { UINT32_MAX, 0 }, { 0, 0 }, 0, 1, OFFLOAD_PMTU_UP },
		{ "busy, sweep not yet due", { 3, 4 }, { 3, 4 }, 1, 0, 0 },
		{ "busy, sweep due", { 3, 4 }, { 3, 4 }, 1, 1, OFFLOAD_PMTU_DOWN },
		{ "idle since the last reading, sweep due", { 3, 4 }, { 3, 4 }, 0, 1, 0 },
	};
	struct session s;
	uint32_t got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&s, 0, sizeof(s));
		s.fast = true;
		s.fast_mtu_pass[0] = cases[i].base[0];
		s.fast_mtu_pass[1] = cases[i].base[1];
		s.fast_mtu_at = t0;
		/* the program last relayed before the reading, or after it */
		s.fast_seen = cases[i].seen ? t0 + 1 : t0 - 1;
		got = offload_pmtu_due(&s, cases[i].pass, no_too_big, t0 + (cases[i].now ? sweep : sweep - 1));
		if (got != cases[i].want)
			fail_msg("%s: %u, want %u", cases[i].name, got, cases[i].want);
	}
}

/* Whether the program relays a direction, by the hooks on the interface its datagrams arrive
 * on and the one they leave by: tc redirects anywhere; XDP to a redirect target, and to an XDP
 * relay's interface that is none (pass_no_tx, as documented for "xdp" as configured), but not
 * to a device only another relay's tc fast path runs on (before: every datagram pass_no_tx). */
static void test_hooks_relay(void **state)
{
	static const struct {
		const char *name;
		uint32_t in, out;
		bool want;
	} cases[] = {
		{ "none in", 0, FILTER_HOOK_XDP | FILTER_HOOK_TARGET, false },
		{ "xdp to a target", FILTER_HOOK_XDP, FILTER_HOOK_XDP | FILTER_HOOK_TARGET, true },
		{ "xdp to xdp, not a target", FILTER_HOOK_XDP, FILTER_HOOK_XDP, true },
		{ "xdp to another relay's tc", FILTER_HOOK_XDP, FILTER_HOOK_TC, false },
		{ "xdp to nothing", FILTER_HOOK_XDP | FILTER_HOOK_TARGET, 0, false },
		{ "tc to tc", FILTER_HOOK_TC, FILTER_HOOK_TC, true },
		{ "tc to xdp", FILTER_HOOK_TC, FILTER_HOOK_XDP, true },
		{ "xdp and tc in, no target", FILTER_HOOK_XDP | FILTER_HOOK_TC, FILTER_HOOK_TC, true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (offload_hooks_relay(cases[i].in, cases[i].out) != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].name, !cases[i].want, cases[i].want);
}

/* A fast session whose datagrams keep passing up as too long in both directions (a client
 * and an upstream that send more than their paths carry), while every reading finds its
 * rules' path MTU right: the readings each direction costs over seconds of 1 s ticks, and the
 * last gap between two of the upstream direction's (s). */
static void backoff_run(struct session *s, uint32_t pass[2], uint64_t *now, uint32_t seconds,
			uint32_t n[2], uint32_t *gap)
{
	uint64_t last = 0;
	uint32_t k, dirs;

	n[0] = n[1] = 0;
	for (k = 0; k < seconds; k++, *now += 1000000000ull) {
		pass[0] += 3;
		pass[1] += 3;
		s->fast_seen = *now - 1; /* relaying */
		dirs = offload_pmtu_due(s, pass, no_too_big, *now);
		if (dirs & OFFLOAD_PMTU_UP) {
			*gap = (uint32_t)((*now - last) / 1000000000ull);
			last = *now;
		}
		n[0] += !!(dirs & OFFLOAD_PMTU_UP);
		n[1] += !!(dirs & OFFLOAD_PMTU_DOWN);
		if (dirs)
			offload_pmtu_read(s, pass, no_too_big, dirs, 0, *now);
	}
}

/* A direction whose reading found its rule's path MTU right is not read again for passes up
 * for a while (5 s, doubling up to 60 s): a datagram longer than the true path MTU passes up
 * whatever the rule says. The replies' 10 s sweep goes on; a change ends the back-off, and
 * passes up during it make the direction due once it ends. */
static void test_pmtu_backoff(void **state)
{
	uint64_t now = 100 * 1000000000ull;
	uint32_t pass[2] = { 0, 0 }, n[2], gap = 0;
	struct session s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.fast = true;
	s.fast_mtu_at = now;
	/* 5 + 10 + 20 + 40 = 75 s: readings at 0, 5, 15, 35, 75 s, then every 60 s. */
	backoff_run(&s, pass, &now, 120, n, &gap);
	if (n[0] > 5 || n[1] > 14)
		fail_msg("2 minutes of passes up, no change: %u readings up, %u of the replies; "
			 "want at most 5 and 14 (the sweep)",
			 n[0], n[1]);
	backoff_run(&s, pass, &now, 300, n, &gap);
	if (n[0] != 5 || gap != 60)
		fail_msg("5 minutes on: %u readings up, the last %u s apart; want 5, 60 s", n[0],
			 gap);
	/* Backing off: passes up now are not due; those passed up so far are once it ends. */
	pass[0] += 1;
	assert_int_equal(offload_pmtu_due(&s, pass, no_too_big, now) & OFFLOAD_PMTU_UP, 0);
	assert_int_equal(offload_pmtu_due(&s, pass, no_too_big, now + 60 * 1000000000ull) & OFFLOAD_PMTU_UP,
			 OFFLOAD_PMTU_UP);
	/* ... but nothing is due when nothing passed up since the last reading. */
	pass[0] = s.fast_mtu_pass[0];
	assert_int_equal(offload_pmtu_due(&s, pass, no_too_big, now + 60 * 1000000000ull) & OFFLOAD_PMTU_UP,
			 0);
	/* A reading that changed the rule ends the back-off: the next pass up is due at once,
	 * and an unchanged reading then backs off 5 s again. */
	pass[0] += 1;
	offload_pmtu_read(&s, pass, no_too_big, OFFLOAD_PMTU_UP, OFFLOAD_PMTU_UP, now);
	pass[0] += 1;
	assert_int_equal(offload_pmtu_due(&s, pass, no_too_big, now + 1), OFFLOAD_PMTU_UP);
	offload_pmtu_read(&s, pass, no_too_big, OFFLOAD_PMTU_UP, 0, now + 1);
	pass[0] += 1;
	assert_int_equal(offload_pmtu_due(&s, pass, no_too_big, now + 1 + 4999999999ull) & OFFLOAD_PMTU_UP, 0);
	assert_int_equal(offload_pmtu_due(&s, pass, no_too_big, now + 1 + 5000000000ull) & OFFLOAD_PMTU_UP,
			 OFFLOAD_PMTU_UP);
}

/* An ICMP too-big about a direction (the program's too_big count moved) makes it due at once,
 * also while it backs off from passes up that changed nothing (datagrams too long for the
 * rule are the client's to send; they hold back no too-big); the reading records the count,
 * so the same count is not due again. The other direction is not. */
static void test_pmtu_too_big(void **state)
{
	uint64_t now = 100 * 1000000000ull;
	uint32_t pass[2] = { 0, 0 }, tb[2] = { 0, 0 }, n[2], gap = 0;
	struct session s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.fast = true;
	s.fast_mtu_at = now;
	/* both directions deep in their back-off (60 s) */
	backoff_run(&s, pass, &now, 420, n, &gap);
	assert_int_equal(gap, 60);
	assert_true(s.fast_mtu_quiet[OFFLOAD_DIR_DOWN] > now);
	pass[1] += 1;
	s.fast_mtu_at = now; /* the sweep is not due */
	assert_int_equal(offload_pmtu_due(&s, pass, tb, now), 0);
	/* a too-big about the replies: due at once, the replies only */
	tb[OFFLOAD_DIR_DOWN] += 1;
	assert_int_equal(offload_pmtu_due(&s, pass, tb, now), OFFLOAD_PMTU_DOWN);
	/* ... also across a wrap of the count */
	s.fast_mtu_too_big[1] = UINT32_MAX;
	tb[1] = 0;
	assert_int_equal(offload_pmtu_due(&s, pass, tb, now), OFFLOAD_PMTU_DOWN);
	/* the reading (unchanged: the rule already had it) records the counts */
	offload_pmtu_read(&s, pass, tb, OFFLOAD_PMTU_DOWN, 0, now);
	assert_int_equal(s.fast_mtu_too_big[1], 0);
	assert_int_equal(s.fast_mtu_pass[1], pass[1]);
	assert_int_equal(offload_pmtu_due(&s, pass, tb, now + 1), 0);
	/* the upstream direction still backs off: a pass up there is not due */
	pass[0] += 1;
	assert_int_equal(offload_pmtu_due(&s, pass, tb, now + 1) & OFFLOAD_PMTU_UP, 0);
	/* a too-big about it is */
	tb[OFFLOAD_DIR_UP] += 1;
	assert_int_equal(offload_pmtu_due(&s, pass, tb, now + 1), OFFLOAD_PMTU_UP);
}

/* A client that forges an ICMP too-big about its own session every second (each reading
 * finds the rule right): a direction is read at the first at once, then not again until its
 * back-off ends (5 s, doubling up to 60 s), when the too-bigs counted meanwhile make it due;
 * a reading that changes the rule ends the back-off: the next too-big is read at once, and
 * one that changes nothing after it backs off 5 s again. Before, each second's too-big made
 * its direction due (the worker's 64 readings a second shared by all its sessions). */
static void test_pmtu_too_big_forged(void **state)
{
	/* seconds after the first too-big; 75 s on, every 60 s */
	static const uint32_t want[] = {0, 5, 15, 35, 75, 135, 195};
	const uint64_t s1 = 1000000000ull;
	uint64_t t0 = 100 * s1, t;
	uint32_t pass[2] = {0, 0}, tb[2] = {7, 7}, n[2] = {0, 0}, k, d, dirs;
	struct session s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.fast = true;
	s.fast_mtu_at = t0;
	s.fast_mtu_too_big[0] = s.fast_mtu_too_big[1] = 7; /* as at open */
	for (k = 0; k < 200; k++) {
		t = t0 + k * s1;
		tb[0]++;
		tb[1]++;
		dirs = offload_pmtu_due(&s, pass, tb, t);
		for (d = 0; d < 2; d++) {
			if (!(dirs & (1u << d)))
				continue;
			if (n[d] >= sizeof(want) / sizeof(want[0]) || want[n[d]] != k)
				fail_msg("direction %u read at %u s (reading %u); want %u s", d, k,
					 n[d] + 1, n[d] < 7 ? want[n[d]] : 0);
			n[d]++;
		}
		if (dirs)
			offload_pmtu_read(&s, pass, tb, dirs, 0, t);
	}
	assert_int_equal(n[0], 7);
	assert_int_equal(n[1], 7);
	/* the last reading at 195 s: one too-big right after is due exactly 60 s on */
	t = t0 + 195 * s1;
	tb[0] = s.fast_mtu_too_big[0] + 1;
	assert_int_equal(offload_pmtu_due(&s, pass, tb, t + 60 * s1 - 1) & OFFLOAD_PMTU_UP, 0);
	assert_int_equal(offload_pmtu_due(&s, pass, tb, t + 60 * s1) & OFFLOAD_PMTU_UP,
			 OFFLOAD_PMTU_UP);
	/* a real fall: the reading changes the rule and ends the back-off */
	t += 60 * s1;
	offload_pmtu_read(&s, pass, tb, OFFLOAD_PMTU_UP, OFFLOAD_PMTU_UP, t);
	tb[0] += 1;
	assert_int_equal(offload_pmtu_due(&s, pass, tb, t + 1) & OFFLOAD_PMTU_UP, OFFLOAD_PMTU_UP);
	offload_pmtu_read(&s, pass, tb, OFFLOAD_PMTU_UP, 0, t + 1);
	tb[0] += 1;
	assert_int_equal(offload_pmtu_due(&s, pass, tb, t + 1 + 5 * s1 - 1) & OFFLOAD_PMTU_UP, 0);
	assert_int_equal(offload_pmtu_due(&s, pass, tb, t + 1 + 5 * s1) & OFFLOAD_PMTU_UP,
			 OFFLOAD_PMTU_UP);
	/* a direction backing off from too-bigs still reads its passes up (their own back-off) */
	pass[0] += 1;
	assert_int_equal(offload_pmtu_due(&s, pass, tb, t + 2) & OFFLOAD_PMTU_UP, OFFLOAD_PMTU_UP);
}

/* The walk's readings so far: per relay slot and session slot. */
struct walk_seen {
	const uint32_t *cap;
	uint32_t n[4][100];
	uint32_t due_mod; /* a session slot i of relay 0 is due when i % due_mod == 0 */
};

static bool walk_read(void *arg, uint32_t r, uint32_t i)
{
	struct walk_seen *w = arg;

	if (r >= 4 || i >= w->cap[r])
		fail_msg("read of relay %u slot %u, which has %u", r, i, r < 4 ? w->cap[r] : 0);
	if (r == 0 && i % w->due_mod)
		return false;
	w->n[r][i]++;
	return true;
}

/* A reading that uses no allowance but a unit of a tick's scope budget for every slot, while it
 * lasts: a session due for a route epoch alone that no change covers (offload_route_scope),
 * under churn (a change every tick: every session due again). checked: read at least once. */
struct scope_seen {
	uint32_t cap[4];
	uint32_t budget;
	bool last_reads; /* the session that spends the last unit is derived (a reading) */
	uint8_t checked[4][100];
};

static bool scope_read(void *arg, uint32_t r, uint32_t i)
{
	struct scope_seen *w = arg;

	if (w->budget) {
		w->budget--;
		w->checked[r][i] = 1;
		return w->last_reads && !w->budget;
	}
	return false;
}

/* The tick's scope budget runs out part way through the tables: the next tick begins where it
 * did, so every session is checked within a few ticks. Before, each tick began at the same
 * cursor, and the sessions past the budget were never checked under churn (review-scoped 1). */
static void test_pmtu_walk_scope(void **state)
{
	uint32_t k, r, i, left, last;

	(void)state;
	/* (also where the last unit's session is derived: review-iif 5b60e56 1) */
	for (last = 0; last < 2; last++) {
		struct scope_seen w = { .cap = { 100, 0, 100, 50 }, .last_reads = last };
		struct offload_pmtu_turn t = { .scope_left = &w.budget };

		for (k = 0; k < 4; k++) {
			w.budget = 80; /* 250 slots, 80 a tick */
			offload_pmtu_walk(&t, 1000000000ull + k * 250000000ull, 64, w.cap, 4,
					  scope_read, &w);
		}
		for (left = 0, r = 0; r < 4; r++)
			for (i = 0; i < w.cap[r]; i++)
				left += !w.checked[r][i];
		assert_int_equal(left, 0);
	}
}

/* The spread of the readings of the due slots after seconds of ticks every 250 ms, each
 * wanting every due slot read: min and max per slot, and the total. */
static void walk_run(struct offload_pmtu_turn *t, struct walk_seen *w, uint32_t seconds,
		     uint32_t *min, uint32_t *max, uint32_t *total)
{
	uint64_t now = 1000000000ull;
	uint32_t k, r, i;

	for (k = 0; k < seconds * 4; k++, now += 250000000ull)
		offload_pmtu_walk(t, now, 64, w->cap, 4, walk_read, w);
	*min = UINT32_MAX;
	*max = *total = 0;
	for (r = 0; r < 4; r++)
		for (i = 0; i < w->cap[r]; i++) {
			if (r == 0 && i % w->due_mod)
				continue;
			*min = w->n[r][i] < *min ? w->n[r][i] : *min;
			*max = w->n[r][i] > *max ? w->n[r][i] : *max;
			*total += w->n[r][i];
		}
}

/* A session's rules are derived again when the program's wrong_iface + fib_pass count moved;
 * a derivation that found the routes as they were backs off (5, 10, 20, 40, 60, 60 s: a
 * client that keeps sending in by another device costs one every minute at most), and counts
 * that moved meanwhile make it due once the back-off ends; a move ends the back-off. A refusal
 * is confirmed by a second derivation 1 s later before the session leaves. */
static void test_route_backoff(void **state)
{
	static const uint64_t want_s[] = {5, 10, 20, 40, 60, 60};
	const uint64_t s1 = 1000000000ull;
	struct session s = {0};
	uint64_t t = 1000 * s1;
	uint32_t count = 0;
	size_t i;

	(void)state;
	assert_false(offload_route_due(&s, count, 0, t));
	count = 3;
	assert_true(offload_route_due(&s, count, 0, t));
	for (i = 0; i < sizeof(want_s) / sizeof(want_s[0]); i++) {
		assert_false(offload_route_read(&s, count, 0, false, 0, t));
		assert_false(offload_route_due(&s, count, 0, t + 100 * s1)); /* nothing moved */
		count++;
		assert_false(offload_route_due(&s, count, 0, t + want_s[i] * s1 - 1));
		assert_true(offload_route_due(&s, count, 0, t + want_s[i] * s1));
		t += want_s[i] * s1;
	}
	/* a move ends the back-off: the next count that moves is due at once */
	assert_false(offload_route_read(&s, count, 0, true, 0, t));
	count++;
	assert_true(offload_route_due(&s, count, 0, t));
	/* a refusal: made once more 1 s later, whether the count moved or not; found again,
	 * the session leaves; a derivation between that finds none forgets it */
	assert_false(offload_route_read(&s, count, 0, false, OFFLOAD_REFUSED_DEVICE, t));
	assert_false(offload_route_due(&s, count, 0, t + s1 - 1));
	assert_true(offload_route_due(&s, count, 0, t + s1));
	assert_true(offload_route_read(&s, count, 0, false, OFFLOAD_REFUSED_DEVICE, t + s1));
	s.fast_route_refused = 0;
	assert_false(offload_route_read(&s, count, 0, false, OFFLOAD_REFUSED_ROUTE, t));
	assert_false(offload_route_read(&s, count, 0, true, 0, t + s1));
	count++;
	assert_false(offload_route_read(&s, count, 0, false, OFFLOAD_REFUSED_ROUTE, t + s1));
	/* the count wraps */
	s.fast_route_pass = UINT32_MAX;
	assert_true(offload_route_due(&s, 0, 0, t + 2 * s1));
}

/* A route epoch (routes, rules or the fast path's devices changed) makes a derivation due
 * once, whatever the count and its back-off (review-reroute M1: an IPv4 route that moves while
 * the old device keeps a covering route moves no count; L1: a route back after an outage ends
 * the back-off its errors grew); one due to the epoch alone that found nothing keeps the
 * back-off as it was. A refusal found twice within the confirmation's second (a burst of route
 * events) does not take the session off yet. */
static void test_route_epoch(void **state)
{
	const uint64_t s1 = 1000000000ull;
	struct session s = {0};
	uint64_t t = 1000 * s1;
	uint32_t count = 7;

	(void)state;
	s.fast_route_pass = count;
	assert_false(offload_route_due(&s, count, 0, t));
	assert_true(offload_route_due(&s, count, 1, t));
	assert_false(offload_route_read(&s, count, 1, false, 0, t));
	assert_false(offload_route_due(&s, count, 1, t));
	assert_int_equal(s.fast_route_backoff, 0); /* nothing moved, no count: no back-off */
	/* a count that moved for nothing backs off; a new epoch is due all the same */
	count++;
	assert_false(offload_route_read(&s, count, 1, false, 0, t));
	count++;
	assert_false(offload_route_due(&s, count, 1, t + s1));
	assert_true(offload_route_due(&s, count, 2, t + s1));
	/* ... an error there (the route still missing) backs off more; the epoch ends it */
	assert_false(offload_route_read(&s, count, 2, false, 0, t + s1));
	assert_false(offload_route_due(&s, count + 1, 2, t + 2 * s1));
	assert_true(offload_route_due(&s, count, 3, t + 2 * s1));
	/* refusals in a burst: the second within 1 s keeps the session, one 1 s after leaves */
	assert_false(offload_route_read(&s, count, 3, false, OFFLOAD_REFUSED_DEVICE, t));
	assert_true(offload_route_due(&s, count, 4, t + s1 / 10));
	assert_false(offload_route_read(&s, count, 4, false, OFFLOAD_REFUSED_DEVICE, t + s1 / 10));
	assert_true(offload_route_read(&s, count, 4, false, OFFLOAD_REFUSED_DEVICE, t + s1));
	/* a refusal found for the epoch alone (no count moved: an idle session, or one whose
	 * datagrams the old device still takes) is confirmed 1 s later all the same */
	s.fast_route_refused = 0;
	s.fast_route_pass = count;
	assert_false(offload_route_read(&s, count, 5, false, OFFLOAD_REFUSED_DEVICE, t));
	assert_false(offload_route_due(&s, count, 5, t + s1 - 1));
	assert_true(offload_route_due(&s, count, 5, t + s1));
}

static struct addr scope_addr(const char *text)
{
	const char *why;
	struct addr a;

	assert_int_equal(addr_parse(text, &a, &why), 0);
	return a;
}

static void scope_record(struct routescope *rs, const char *text)
{
	const char *why;
	struct prefix p;

	assert_int_equal(prefix_parse(text, &p, &why), 0);
	routescope_prefix(rs, &p, strchr(text, ':') == NULL);
}

/* The addresses of the sessions of the scoping tests: client 198.18.1.2, sent to 198.18.0.1,
 * upstream 198.19.0.2, from 198.19.0.1. */
static void scope_session(struct session *s)
{
	s->client = scope_addr("198.18.1.2:4000");
	s->local = scope_addr("198.18.0.1:53");
	s->upstream_addr = scope_addr("198.19.0.2:53");
	s->fast_local = scope_addr("198.19.0.1:40000");
}

/* A fast session due for a new route epoch alone is derived only where a change since covers
 * one of the addresses its routes are looked up for (offload_route_scope): one that covers
 * none advances its epoch (no derivation: offload_route_due says no more), within the tick's
 * budget, keeping what it read; one that covers its upstream's own address (a local route),
 * or 0/0, or a change of all, leaves it due until its derivation, which ends that. */
static void test_route_scope(void **state)
{
	struct routescope *rs = calloc(1, sizeof(*rs));
	struct offload_scope sc = { .rs = rs, .left = 100 };
	const uint64_t t = 1000000000000ull;
	struct session s = { 0 };
	uint32_t e;

	(void)state;
	assert_non_null(rs);
	scope_session(&s);
	/* unrelated: another IPv4 prefix, an IPv6 default route */
	scope_record(rs, "198.18.200.0/24");
	scope_record(rs, "::/0");
	e = routescope_epoch(rs);
	assert_true(offload_route_due(&s, 0, e, t));
	offload_route_scope(&s, &sc, e);
	assert_int_equal(s.fast_route_epoch, e);
	assert_false(s.fast_route_hit);
	assert_int_equal(sc.skipped, 1);
	assert_int_equal(sc.left, 98);
	assert_false(offload_route_due(&s, 0, e, t));
	/* each address: the client's, the one it sent to, the upstream, the upstream socket's
	 * own (a local route, as an address change makes) */
	const char *covering[] = { "198.18.1.0/24", "198.18.0.1/32", "198.19.0.0/16",
				   "198.19.0.1/32", "0.0.0.0/0" };
	for (size_t i = 0; i < sizeof(covering) / sizeof(covering[0]); i++) {
		scope_record(rs, "2001:2::/48");
		scope_record(rs, covering[i]);
		e = routescope_epoch(rs);
		offload_route_scope(&s, &sc, e);
		assert_true(s.fast_route_hit);
		assert_int_equal(s.fast_route_epoch, e - 1); /* past the unrelated one */
		assert_true(offload_route_due(&s, 0, e, t));
		assert_false(offload_route_read(&s, 0, e, false, 0, t));
		assert_false(s.fast_route_hit);
	}
	/* a change of all; then a budget run out keeps what was read */
	routescope_all(rs);
	offload_route_scope(&s, &sc, routescope_epoch(rs));
	assert_true(s.fast_route_hit);
	assert_false(offload_route_read(&s, 0, routescope_epoch(rs), false, 0, t));
	scope_record(rs, "198.18.201.0/24");
	scope_record(rs, "198.18.202.0/24");
	scope_record(rs, "198.18.203.0/24");
	e = routescope_epoch(rs);
	sc.left = 2;
	offload_route_scope(&s, &sc, e);
	assert_int_equal(s.fast_route_epoch, e - 1);
	assert_false(s.fast_route_hit);
	assert_true(offload_route_due(&s, 0, e, t));
	sc.left = 5;
	offload_route_scope(&s, &sc, e);
	assert_int_equal(s.fast_route_epoch, e);
	assert_int_equal(sc.left, 4);
	/* past the ring: as good as all */
	for (uint32_t i = 0; i < ROUTESCOPE_RING + 1; i++)
		scope_record(rs, "198.18.204.0/24");
	sc.left = 1000;
	offload_route_scope(&s, &sc, routescope_epoch(rs));
	assert_true(s.fast_route_hit);
	free(rs);
}

/* app_offload_apply's question: did the fast path's devices or their hooks change, so that
 * every address is covered by a new route epoch (a session parked for a device without the
 * program tried again, a fast one whose device lost it derived again)? The same list and
 * count: no; another number of interfaces, a name, an ifindex (a device made again), a hook
 * (XDP to tc, an XDP redirect target), or a hook that went and came back (the same list, the
 * count moved, also across its wrap): yes. What lies after a name's end, or past the lists,
 * is not compared. */
static void test_ifaces_changed(void **state)
{
	static const char *const field[] = { "name", "ifindex", "xdp", "tc", "xdp_tx" };
	struct filter_offload_iface before[3], after[3];
	uint32_t k;

	(void)state;
	memset(before, 0, sizeof(before));
	snprintf(before[0].name, sizeof(before[0].name), "eth0");
	before[0].ifindex = 2;
	before[0].xdp = true;
	before[0].xdp_tx = true;
	snprintf(before[1].name, sizeof(before[1].name), "eth1.100");
	before[1].ifindex = 7;
	before[1].tc = true;
	memcpy(after, before, sizeof(after));
	assert_false(offload_ifaces_changed(before, 2, after, 2, 5, 5));
	assert_false(offload_ifaces_changed(before, 0, after, 0, 0, 0));
	/* a name's tail, and what lies past the lists, are not compared */
	memset(after[0].name + 5, 'x', sizeof(after[0].name) - 5);
	after[2].ifindex = 99;
	assert_false(offload_ifaces_changed(before, 2, after, 2, 5, 5));
	/* another number: one added (a reload), one gone (the fast path off on it) */
	assert_true(offload_ifaces_changed(before, 1, after, 2, 5, 5));
	assert_true(offload_ifaces_changed(before, 2, after, 1, 5, 5));
	assert_true(offload_ifaces_changed(before, 0, after, 1, 5, 5));
	/* one field of the second interface at a time */
	for (k = 0; k < sizeof(field) / sizeof(field[0]); k++) {
		memcpy(after, before, sizeof(after));
		switch (k) {
		case 0:
			after[1].name[3] = '2'; /* eth2.100 */
			break;
		case 1:
			after[1].ifindex = 8; /* made again */
			break;
		case 2:
			after[1].xdp = true;
			break;
		case 3:
			after[1].tc = false;
			break;
		case 4:
			after[1].xdp_tx = true;
			break;
		}
		if (!offload_ifaces_changed(before, 2, after, 2, 5, 5))
			fail_msg("a changed %s not seen", field[k]);
	}
	/* the same list, a hook that went and came back meanwhile (also across the wrap) */
	memcpy(after, before, sizeof(after));
	assert_true(offload_ifaces_changed(before, 2, after, 2, 5, 7));
	assert_true(offload_ifaces_changed(before, 2, after, 2, UINT32_MAX, 1));
	assert_true(offload_ifaces_changed(before, 0, after, 0, 0, 1));
}

/* A session that left the fast path for its routes is parked: its fast open is tried again
 * 5 s later, then backing off 10, 20, 40, 60, 60 s, and at once at a new route epoch
 * (review-reroute M2: before, it never came back); back, it is no longer parked. */
static void test_route_return(void **state)
{
	static const uint64_t want_s[] = {10, 20, 40, 60, 60};
	const uint64_t s1 = 1000000000ull;
	struct session s = {0};
	uint64_t t = 1000 * s1;
	size_t i;

	(void)state;
	assert_false(offload_return_due(&s, 0, NULL, t)); /* not parked */
	assert_false(offload_return_due(&s, 1, NULL, t));
	s.fast_route_backoff = 40; /* (what derivations had grown) */
	offload_route_leave(&s, t);
	assert_true(s.fast_parked);
	assert_false(offload_return_due(&s, 0, NULL, t + 5 * s1 - 1));
	assert_true(offload_return_due(&s, 0, NULL, t + 5 * s1));
	assert_true(offload_return_due(&s, 1, NULL, t + 1)); /* the routes changed */
	t += 5 * s1;
	for (i = 0; i < sizeof(want_s) / sizeof(want_s[0]); i++) {
		offload_return_read(&s, false, t); /* refused again */
		assert_false(offload_return_due(&s, 0, NULL, t + want_s[i] * s1 - 1));
		assert_true(offload_return_due(&s, 0, NULL, t + want_s[i] * s1));
		t += want_s[i] * s1;
	}
	assert_true(offload_return_due(&s, 1, NULL, t - 1));
	offload_return_read(&s, true, t);
	assert_false(s.fast_parked);
	assert_false(offload_return_due(&s, 2, NULL, t + 100 * s1));
}

/* A parked session due for new route epochs alone is tried only where a change since covers
 * one of the addresses its open looks up, as a fast session's derivation (offload_route_scope):
 * else its epoch advances without a try. One parked from its open (never fast) is due by time
 * only every OFFLOAD_PARK_OPEN_RETRY_S: a client behind wg0 refused for good costs little until
 * a change covers it (review-parkscope 1, 3, 4: what no event tells still gets a try). */
static void test_return_scope(void **state)
{
	struct routescope *rs = calloc(1, sizeof(*rs));
	struct offload_scope sc = { .rs = rs, .left = 1000 };
	const uint64_t s1 = 1000000000ull, t = 1000 * s1;
	struct session s = { 0 };
	uint32_t e;

	(void)state;
	assert_non_null(rs);
	scope_session(&s);
	s.fast_route_epoch = routescope_epoch(rs);
	offload_open_park(&s, t);
	assert_true(s.fast_parked && s.fast_park_open);
	/* by time only after OFFLOAD_PARK_OPEN_RETRY_S */
	assert_false(offload_return_by_time(&s, t + 60 * s1));
	assert_false(offload_return_due(&s, s.fast_route_epoch, &sc, t + 600 * s1));
	assert_true(offload_return_by_time(&s, t + OFFLOAD_PARK_OPEN_RETRY_S * s1));
	/* an epoch whose change covers none of its addresses: no try, its epoch advances */
	scope_record(rs, "198.18.200.0/24");
	scope_record(rs, "2001:2::/48");
	e = routescope_epoch(rs);
	assert_false(offload_return_due(&s, e, &sc, t));
	assert_int_equal(s.fast_route_epoch, e);
	assert_int_equal(sc.skipped, 1);
	assert_false(offload_return_due(&s, e, &sc, t + 600 * s1));
	/* one that covers its client: due, and stays so until tried */
	scope_record(rs, "198.18.1.0/24");
	e = routescope_epoch(rs);
	assert_true(offload_return_due(&s, e, &sc, t));
	assert_true(s.fast_route_hit);
	assert_true(offload_return_due(&s, e, &sc, t));
	s.fast_route_epoch = e; /* (the try's open records the epoch) */
	offload_return_read(&s, false, t);
	assert_false(s.fast_route_hit);
	assert_true(s.fast_parked && s.fast_park_open);
	/* (a failed try: the next by time OFFLOAD_PARK_OPEN_RETRY_S later) */
	assert_false(offload_return_due(&s, e, &sc, t + (OFFLOAD_PARK_OPEN_RETRY_S - 1) * s1));
	assert_true(offload_return_by_time(&s, t + OFFLOAD_PARK_OPEN_RETRY_S * s1));
	/* a change of all: due */
	routescope_all(rs);
	assert_true(offload_return_due(&s, routescope_epoch(rs), &sc, t));
	/* without a ring: any new epoch */
	s.fast_route_hit = false;
	assert_true(offload_return_due(&s, routescope_epoch(rs), NULL, t));
	/* back on the fast path, then left for its routes: by time again */
	s.fast_route_epoch = routescope_epoch(rs);
	offload_return_read(&s, true, t);
	assert_false(s.fast_parked || s.fast_park_open);
	offload_route_leave(&s, t);
	assert_true(s.fast_parked && !s.fast_park_open);
	assert_false(offload_return_due(&s, s.fast_route_epoch, &sc, t + 5 * s1 - 1));
	assert_true(offload_return_by_time(&s, t + 5 * s1));
	assert_true(offload_return_due(&s, s.fast_route_epoch, &sc, t + 5 * s1));
	/* ... and scoped at a new epoch before that */
	sc.skipped = 0;
	scope_record(rs, "198.18.201.0/24");
	assert_false(offload_return_due(&s, routescope_epoch(rs), &sc, t + 1));
	assert_int_equal(sc.skipped, 1);
	scope_record(rs, "198.19.0.1/32"); /* its socket's own address */
	assert_true(offload_return_due(&s, routescope_epoch(rs), &sc, t + 1));
	free(rs);
}

/* A new session refused for its routes is parked (review-final F6), one refused for what no
 * route change helps is not. */
static void test_open_parks(void **state)
{
	static const int parks[] = { OFFLOAD_REFUSED_ROUTE, OFFLOAD_REFUSED_LEGS,
				     OFFLOAD_REFUSED_MULTIPATH6, OFFLOAD_REFUSED_DEVICE,
				     -ENETUNREACH, -EHOSTUNREACH };
	static const int stays[] = { 0, OFFLOAD_REFUSED_ERROR, OFFLOAD_REFUSED_FILTER,
				     -ERANGE, -EADDRNOTAVAIL, -EAFNOSUPPORT, -E2BIG, -ENOMEM,
				     -ENOENT, -EPERM };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parks) / sizeof(parks[0]); i++)
		assert_true(offload_open_parks(parks[i]));
	for (i = 0; i < sizeof(stays) / sizeof(stays[0]); i++)
		assert_false(offload_open_parks(stays[i]));
}

/* The tick's path MTU readings take turns over every relay's sessions: a relay with more
 * sessions due than a second's allowance does not keep the next relay's from theirs (one
 * cursor over relay and session slot), and every session due is read equally often. */
static void test_pmtu_walk(void **state)
{
	static const uint32_t cap[4] = { 100, 0, 5, 0 };
	static struct walk_seen w;
	struct offload_pmtu_turn t;
	uint32_t min, max, total;

	(void)state;
	/* Relay 0: 100 sessions due, relay 2: 5; 64 readings a second for 60 s. */
	memset(&t, 0, sizeof(t));
	memset(&w, 0, sizeof(w));
	w.cap = cap;
	w.due_mod = 1;
	walk_run(&t, &w, 60, &min, &max, &total);
	if (total != 60 * 64 || min < 36 || max > 37)
		fail_msg("all due: %u readings, %u to %u a session (relay 2's first: %u), want "
			 "3840, 36 to 37",
			 total, min, max, w.n[2][0]);
	/* Half of relay 0's due (those not due cost no reading): 55 due, 3840 readings. */
	memset(&t, 0, sizeof(t));
	memset(&w, 0, sizeof(w));
	w.cap = cap;
	w.due_mod = 2;
	walk_run(&t, &w, 60, &min, &max, &total);
	if (total != 60 * 64 || min < 69 || max > 70)
		fail_msg("half due: %u readings, %u to %u a session, want 3840, 69 to 70", total,
			 min, max);
	/* Fewer due than the allowance: each once a tick, no more. */
	{
		static const uint32_t few[4] = { 3, 0, 2, 0 };

		memset(&t, 0, sizeof(t));
		memset(&w, 0, sizeof(w));
		w.cap = few;
		w.due_mod = 1;
		offload_pmtu_walk(&t, 1000000000ull, 64, few, 4, walk_read, &w);
		assert_int_equal(w.n[0][0] + w.n[0][1] + w.n[0][2] + w.n[2][0] + w.n[2][1], 5);
		assert_int_equal(t.left, 59);
	}
	/* A relay whose table shrank under the cursor: no slot past its end is read. */
	{
		static const uint32_t shrunk[4] = { 3, 0, 5, 0 };

		memset(&w, 0, sizeof(w));
		w.cap = cap;
		w.due_mod = 1;
		memset(&t, 0, sizeof(t));
		offload_pmtu_walk(&t, 1000000000ull, 50, cap, 4, walk_read, &w);
		w.cap = shrunk;
		offload_pmtu_walk(&t, 3000000000ull, 64, shrunk, 4, walk_read, &w);
		assert_int_equal(w.n[0][0], 2);
		assert_int_equal(w.n[2][4], 1);
	}
}

/* Whether an interface has native XDP for the fast path (offload_native_why), by its facts:
 * no BASIC in known xdp-features, empty ones of a NIC's driver (no link kind) included (before,
 * "xdp" let the attach decide there, and on 6.3+ such a device is never a redirect target: a
 * relay in XDP relayed nothing fast); a bond, a team, or a kind-less master of lower devices
 * (hv_netvsc with its VF: its XDP runs in the lowers' drivers, with their ifindex); with
 * unknown features a bridge, VRF, VLAN or macvlan is left to the attach (before, one with
 * lower devices was called a master); an earlier refusal that holds. */
static void test_native_why(void **state)
{
	const uint64_t basic = NETLINK_XDP_ACT_BASIC | NETLINK_XDP_ACT_NDO_XMIT;
	struct filter_refusal r = { .err = -EBUSY };
	static const struct {
		const char *name, *kind, *lowers;
		int ret;
		uint64_t feat;
		uint32_t n_lowers;
		bool refused;
		const char *want; /* NULL: the attach decides */
	} t[] = {
		{ "eth0", "", "", 0, 0, 0, false,
		  "eth0 has no native XDP (not in its xdp-features)" }, /* finding 1 */
		{ "br0", "bridge", "", 0, 0, 0, false,
		  "br0 has no native XDP (not in its xdp-features)" },
		{ "vnq", "veth", "", 0, 0, 0, false,
		  "vnq has no native XDP (not in its xdp-features)" },
		{ "eth0", "", "", 0, NETLINK_XDP_ACT_NDO_XMIT /* not empty */, 0, false,
		  "eth0 has no native XDP (not in its xdp-features)" },
		{ "eth0", "", "", 0, NETLINK_XDP_ACT_BASIC, 0, false, NULL },
		{ "eth0", "", "", -ENOENT, 0, 0, false, NULL }, /* unknown */
		{ "bond0", "bond", "eth0, eth1", 0, 0, 2, false,
		  "bond0 has no native XDP (not in its xdp-features)" },
		{ "bond0", "bond", "", -ENOENT, 0, 0, false,
		  "bond0 has no native XDP for the fast path (a bond: XDP there runs on its "
		  "lower devices, whose ifindex the program would see)" },
		{ "team0", "team", "", 0, 0, 0, false,
		  "team0 has no native XDP (not in its xdp-features)" },
		{ "eth2", "", "enP1s1", 0, basic, 1, false,
		  "eth2 has no native XDP for the fast path (a master: XDP there runs on its "
		  "lower devices enP1s1, whose ifindex the program would see)" },
		{ "eth2", "", "enP1s1", -ENOENT, 0, 1, false,
		  "eth2 has no native XDP for the fast path (a master: XDP there runs on its "
		  "lower devices enP1s1, whose ifindex the program would see)" },
		/* finding 5: unknown features (6.1), not masters whose XDP runs below */
		{ "br0", "bridge", "eth0", -ENOENT, 0, 1, false, NULL },
		{ "vrf0", "vrf", "eth0, eth1", -ENOENT, 0, 2, false, NULL },
		{ "mv0", "macvlan", "", -ENOENT, 0, 0, false, NULL },
		{ "eth0.5", "vlan", "", -ENOENT, 0, 0, false, NULL },
		{ "br0", "bridge", "eth0", -ENOENT, 0, 1, true,
		  "br0 has no native XDP (attach refused earlier: Device or resource busy)" },
		{ "eth1", "", "", 0, basic, 0, true,
		  "eth1 has no native XDP (attach refused earlier: Device or resource busy)" },
		{ "eth1", "", "", 0, 0, 0, true,
		  "eth1 has no native XDP (not in its xdp-features)" },
	};
	char why[OFFLOAD_WHY_LEN];
	uint32_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct offload_native_facts fa = {
			.name = t[i].name, .kind = t[i].kind, .lowers = t[i].lowers,
			.features_ret = t[i].ret, .n_lowers = t[i].n_lowers,
			.features = t[i].feat, .refused = t[i].refused ? &r : NULL,
		};
		bool no = offload_native_why(&fa, why, sizeof(why));

		if (no != !!t[i].want || (t[i].want && strcmp(why, t[i].want)))
			fail_msg("case %u (%s): %s \"%s\", want %s", i, t[i].name,
				 no ? "no native XDP:" : "attach decides", no ? why : "",
				 t[i].want ? t[i].want : "the attach to decide");
	}
	/* A bond and a team whose slaves have native XDP: BASIC from them. */
	{
		struct offload_native_facts fa = { .name = "bond0", .kind = "bond",
						   .lowers = "eth0, eth1", .n_lowers = 2,
						   .features = basic };

		assert_int_equal(offload_native_why(&fa, why, sizeof(why)), OFFLOAD_NATIVE_BELOW);
		assert_string_equal(why, "bond0 has no native XDP for the fast path (a bond: XDP "
					 "there runs on its lower devices eth0, eth1, whose "
					 "ifindex the program would see)");
		fa.name = "team0";
		fa.kind = "team";
		fa.n_lowers = 0;
		fa.lowers = "";
		assert_int_equal(offload_native_why(&fa, why, sizeof(why)), OFFLOAD_NATIVE_BELOW);
		/* a NIC without BASIC: no native XDP, not "below" */
		fa.name = "eth0";
		fa.kind = "";
		fa.features = 0;
		assert_int_equal(offload_native_why(&fa, why, sizeof(why)), OFFLOAD_NATIVE_NONE);
	}
}

/* A refusal holds for OFFLOAD_REFUSAL_HOLD_S while the interface looks the same; a new MTU,
 * channel count, offload, xdp-features or program in its XDP hook ends it; the filters in its
 * clsact qdisc only a tc refusal's. */
static void test_refusal_holds(void **state)
{
	struct filter_refusal r = { .err = -EOPNOTSUPP, .at = 1000,
				    .shape = { .mtu = 1500, .channels = { 0, 0, 1, 4 },
					       .offloads = 1ull << 15, .xdp_features = 7,
					       .xdp_prog = 42, .xdp_mode = 2, .tc_filters = 1 } };
	struct filter_xdp_shape now = r.shape;

	(void)state;
	assert_true(offload_refusal_holds(&r, &now, 1000));
	assert_true(offload_refusal_holds(&r, &now, 1000 + OFFLOAD_REFUSAL_HOLD_S - 1));
	assert_false(offload_refusal_holds(&r, &now, 1000 + OFFLOAD_REFUSAL_HOLD_S));
	assert_false(offload_refusal_holds(&r, &now, 999)); /* (a clock that went back) */
	now.mtu = 9000;
	assert_false(offload_refusal_holds(&r, &now, 1001));
	now = r.shape;
	now.channels[3] = 2; /* ethtool -L combined 2 */
	assert_false(offload_refusal_holds(&r, &now, 1001));
	now = r.shape;
	now.offloads = 0; /* ethtool -K lro off */
	assert_false(offload_refusal_holds(&r, &now, 1001));
	now = r.shape;
	now.xdp_features = 0;
	assert_false(offload_refusal_holds(&r, &now, 1001));
	now = r.shape;
	now.xdp_prog = 0;
	now.xdp_mode = 0;
	assert_false(offload_refusal_holds(&r, &now, 1001));
	now = r.shape;
	now.tc_filters = 2; /* our own tc filter beside a refused XDP attach */
	assert_true(offload_refusal_holds(&r, &now, 1001));
	r.tc = true; /* someone else's filter at our priority went */
	assert_false(offload_refusal_holds(&r, &now, 1001));
}

/* What a real device shows after the usual fixes of a refusal: a veth made with 4 queues and
 * then given 2 TX channels (ethtool -L: IFLA_NUM_*_QUEUES stay 4, and its xdp-features stay
 * as they were: they follow its RX queues and its peer's TX), and GRO turned on (ethtool
 * -K). A refusal noted before either no longer holds. (Before, the queue count compared was the
 * allocated one, which ethtool -L never changes, and offloads were not compared.) */
static int refusal_holds_real_child(void)
{
	struct filter_refusal r = { .err = -EOPNOTSUPP, .at = 1000 };
	struct filter_xdp_shape now;
	int ifindex;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (system("ip link add rrq0 numrxqueues 4 numtxqueues 4 type veth peer name rrq0p "
		   "numrxqueues 4 numtxqueues 4 && ethtool -K rrq0 gro off >/dev/null 2>&1"))
		return 77; /* no veth or no ethtool */
	ifindex = (int)if_nametoindex("rrq0");
	if (filter_xdp_shape(ifindex, &r.shape))
		return 2;
	if (filter_xdp_shape(ifindex, &now) || !offload_refusal_holds(&r, &now, 1001))
		return 3;
	if (system("ethtool -L rrq0 tx 2 >/dev/null 2>&1"))
		return 77;
	if (filter_xdp_shape(ifindex, &now))
		return 4;
	if (offload_refusal_holds(&r, &now, 1001)) {
		fprintf(stderr, "a refusal holds after ethtool -L\n");
		return 5;
	}
	r.shape = now;
	if (system("ethtool -K rrq0 gro on >/dev/null 2>&1") || filter_xdp_shape(ifindex, &now))
		return 6;
	if (offload_refusal_holds(&r, &now, 1001)) {
		fprintf(stderr, "a refusal holds after ethtool -K gro on\n");
		return 7;
	}
	return 0;
}

static void test_refusal_holds_real(void **state)
{
	(void)state;
	run_in_child(refusal_holds_real_child);
}

/* The links whose master a device is, from rtnetlink in the child's own network namespace,
 * with /sys still showing the parent's (unshare -n, systemd NetworkNamespacePath=): a
 * bridge's port is; a macvlan's parent is not (its link, not its master). (Before, they were
 * read from sysfs: the bridge's ports were found only with a sysfs of its own mounted, and a
 * macvlan's parent was one.) */
static int lower_links_child(void)
{
	char out[64];
	int n;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (system("ip link add rrb0 type bridge 2>/dev/null"))
		return 77; /* no bridge module */
	if (system("ip link add rrd0 type veth peer name rrd0p && ip link set rrd0 master rrb0"))
		return 2;
	n = netlink_lower_links((int)if_nametoindex("rrb0"), out, sizeof(out));
	if (n != 1 || strcmp(out, "rrd0")) {
		fprintf(stderr, "lower links of rrb0: %d \"%s\"\n", n, out);
		return 3;
	}
	if (netlink_lower_links((int)if_nametoindex("rrd0"), out, sizeof(out)))
		return 4;
	if (system("ip link add rrd1 type veth peer name rrd1p && "
		   "ip link set rrd1 master rrb0"))
		return 5;
	/* a list longer than out: counted whole, cut */
	if (netlink_lower_links((int)if_nametoindex("rrb0"), out, 6) != 2 || strlen(out) != 5)
		return 6;
	if (system("ip link add rrm0 link rrd0p type macvlan 2>/dev/null"))
		return 0; /* no macvlan module: the rest is not checked */
	if (netlink_lower_links((int)if_nametoindex("rrm0"), out, sizeof(out)) ||
	    netlink_lower_links((int)if_nametoindex("rrd0p"), out, sizeof(out)))
		return 7;
	return 0;
}

static void test_lower_links(void **state)
{
	(void)state;
	run_in_child(lower_links_child);
}

/* What a failed attach does to the relays on its interface: XDP refused moves those in XDP
 * to tc; tc refused where the XDP attach took turns only those in tc off (before, the relays
 * in XDP there went off too); tc refused alone turns everyone off. */
static void test_after_fail(void **state)
{
	(void)state;
	assert_int_equal(offload_after_fail(OFFLOAD_XDP, OFFLOAD_FAILED_XDP), OFFLOAD_TC);
	assert_int_equal(offload_after_fail(OFFLOAD_TC, OFFLOAD_FAILED_XDP), OFFLOAD_TC);
	assert_int_equal(offload_after_fail(OFFLOAD_XDP, OFFLOAD_FAILED_TC_BESIDE_XDP),
			 OFFLOAD_XDP);
	assert_int_equal(offload_after_fail(OFFLOAD_TC, OFFLOAD_FAILED_TC_BESIDE_XDP),
			 OFFLOAD_OFF);
	assert_int_equal(offload_after_fail(OFFLOAD_TC, OFFLOAD_FAILED_TC), OFFLOAD_OFF);
	assert_int_equal(offload_after_fail(OFFLOAD_XDP, OFFLOAD_FAILED_TC), OFFLOAD_OFF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_flow),
		cmocka_unit_test(test_resolve_rules),
		cmocka_unit_test(test_resolve_l3),
		cmocka_unit_test(test_resolve_many_l3),
		cmocka_unit_test(test_resolve_native),
		cmocka_unit_test(test_native_why),
		cmocka_unit_test(test_refusal_holds),
		cmocka_unit_test(test_refusal_holds_real),
		cmocka_unit_test(test_lower_links),
		cmocka_unit_test(test_after_fail),
		cmocka_unit_test(test_resolve_filter),
		cmocka_unit_test(test_socket_keeps_leg),
		cmocka_unit_test(test_pmtu_due),
		cmocka_unit_test(test_pmtu_walk),
		cmocka_unit_test(test_pmtu_walk_scope),
		cmocka_unit_test(test_pmtu_backoff),
		cmocka_unit_test(test_pmtu_too_big),
		cmocka_unit_test(test_pmtu_too_big_forged),
		cmocka_unit_test(test_route_backoff),
		cmocka_unit_test(test_route_epoch),
		cmocka_unit_test(test_route_scope),
		cmocka_unit_test(test_ifaces_changed),
		cmocka_unit_test(test_route_return),
		cmocka_unit_test(test_return_scope),
		cmocka_unit_test(test_open_parks),
		cmocka_unit_test(test_hooks_relay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
