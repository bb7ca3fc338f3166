// SPDX-License-Identifier: MIT
/* netlink: queue counts and address owners on the host (read-only), and the link watcher in a
 * private network namespace of a forked child, so the host's links are never touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netlink/netlink.h>
#include <net/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netlink.h"
#include "netns_child.h"

static void test_rx_queues_lo(void **state)
{
	uint32_t q = 0;

	assert_int_equal(netlink_rx_queues("lo", &q), 0);
	assert_true(q >= 1);
}

static void test_link_info_lo(void **state)
{
	struct netlink_link info = { 0 };

	assert_int_equal(netlink_link_info("lo", &info), 0);
	assert_true(info.rx_queues >= 1);
	assert_true(info.mtu >= 1280);
	assert_true(info.loopback);
	/* loopback's address: six zeros, as its zeroed Ethernet header */
	assert_memory_equal(info.mac, "\0\0\0\0\0\0", 6);
	assert_int_equal(netlink_link_info("rrnosuch0", &info), -ENODEV);
}

static void test_rx_queues_unknown(void **state)
{
	uint32_t q = 0;

	assert_int_equal(netlink_rx_queues("rrnosuch0", &q), -ENODEV);
	/* Longer than IFNAMSIZ: no such interface either, not a crash or a truncated match. */
	assert_int_equal(netlink_rx_queues("lo-with-a-much-too-long-name", &q), -ENODEV);
}

static void test_ifname_of_addr(void **state)
{
	static const struct {
		const char *endpoint;
		int ret;
		const char *ifname;
	} cases[] = {
		{ "127.0.0.1:5000", 0, "lo" },
		{ "[::1]:5000", 0, "lo" },
		{ "*:5000", -ENOENT, NULL },
		{ "[::]:5000", -ENOENT, NULL },
		/* TEST-NET-2 documentation range: held by no interface here. */
		{ "198.51.100.77:1", -ENOENT, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char ifname[IF_NAMESIZE] = "";
		const char *why;
		struct addr a;
		int ret;

		assert_int_equal(addr_parse(cases[i].endpoint, &a, &why), 0);
		ret = netlink_ifname_of_addr(&a, ifname);
		/* ::1 is missing when IPv6 is disabled on this host. */
		if (ret == -ENOENT && strcmp(cases[i].endpoint, "[::1]:5000") == 0 &&
		    access("/proc/sys/net/ipv6", F_OK) != 0)
			continue;
		assert_int_equal(ret, cases[i].ret);
		if (cases[i].ifname)
			assert_string_equal(ifname, cases[i].ifname);
	}
}

/* What the watcher reported, in order, checked by the child: per event the veth end (0 or 1,
 * 2 for end 0 renamed, -1 for anything else) and its state. */
#define WATCH_EVENTS 64
struct watch_ev {
	int end;
	bool present, up;
};
struct watch_seen {
	int n;
	struct watch_ev ev[WATCH_EVENTS];
};

static void watch_cb(void *arg, const struct netlink_link_change *links, uint32_t n)
{
	struct watch_seen *seen = arg;
	uint32_t i;

	for (i = 0; i < n && seen->n < WATCH_EVENTS; i++) {
		int end = -1;

		if (!strcmp(links[i].name, "rrwatch0") && links[i].ifindex > 0)
			end = 0;
		else if (!strcmp(links[i].name, "rrwatch1") && links[i].ifindex > 0)
			end = 1;
		else if (!strcmp(links[i].name, "rrwatch2") && links[i].ifindex > 0)
			end = 2; /* rrwatch0 renamed */
		seen->ev[seen->n++] = (struct watch_ev){ end, links[i].present, links[i].up };
	}
}

/* Runs the watch as the admin thread does (read when readable, report when due) for ms, and
 * on until what is noted has been reported. 0, 10 when reading failed, 12 when a report did
 * not come due. */
static int watch_run(struct netlink_watch *w, int ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = netlink_watch_fd(w), .events = POLLIN };
		int due = netlink_watch_due_ms(w), left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
				  (now.tv_nsec - start.tv_nsec) / 1000000);
		/* Past ms, only until what is noted is due (nothing spills into the next step); a
		 * report that never comes due fails. */
		if (left <= 0 && due < 0)
			return 0;
		if (left <= -1000)
			return 12;
		if (left <= 0)
			left = due + 1;
		if (poll(&p, 1, due >= 0 && due < left ? due : left) > 0 &&
		    netlink_watch_process(w) < 0)
			return 10;
		if (netlink_watch_due_ms(w) == 0)
			netlink_watch_flush(w);
	}
}

/* The events since *from, one word each: the end (x: another link), + present or - gone, u
 * when up ("0+ 1+u"); moves *from past them. */
static const char *watch_events(const struct watch_seen *seen, int *from, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (; *from < seen->n && off + 8 < len; (*from)++) {
		const struct watch_ev *e = &seen->ev[*from];

		off += (size_t)snprintf(buf + off, len - off, "%s%c%c%s", off ? " " : "",
					e->end < 0 ? 'x' : '0' + e->end, e->present ? '+' : '-',
					e->up ? "u" : "");
	}
	return buf;
}

/* Sets name's MTU (mtu > 0), else brings it up or down. 0, or a libnl error. */
static int link_set(struct nl_sock *sk, const char *name, unsigned int mtu, bool up)
{
	struct rtnl_link *orig = rtnl_link_alloc(), *chg = rtnl_link_alloc();
	int ret = -NLE_NOMEM;

	if (orig && chg) {
		rtnl_link_set_ifindex(orig, (int)if_nametoindex(name));
		rtnl_link_set_name(orig, name);
		if (mtu)
			rtnl_link_set_mtu(chg, mtu);
		else if (up)
			rtnl_link_set_flags(chg, IFF_UP);
		else
			rtnl_link_unset_flags(chg, IFF_UP);
		ret = rtnl_link_change(sk, orig, chg, 0);
	}
	rtnl_link_put(orig);
	rtnl_link_put(chg);
	return ret;
}

/* Renames link from to to (up or not). 0, or a libnl error. */
static int link_rename(struct nl_sock *sk, const char *from, const char *to)
{
	struct rtnl_link *orig = rtnl_link_alloc(), *chg = rtnl_link_alloc();
	int ret = -NLE_NOMEM;

	if (orig && chg) {
		rtnl_link_set_ifindex(orig, (int)if_nametoindex(from));
		rtnl_link_set_name(orig, from);
		rtnl_link_set_name(chg, to);
		ret = rtnl_link_change(sk, orig, chg, 0);
	}
	rtnl_link_put(orig);
	rtnl_link_put(chg);
	return ret;
}

/* Gives name the link-layer address 02:00:00:00:77:0<last>, and checks that
 * netlink_link_info reads it. 0, or a libnl error (-NLE_FAILURE: read back otherwise). */
static int link_hwaddr(struct nl_sock *sk, const char *name, uint8_t last)
{
	struct rtnl_link *orig = rtnl_link_alloc(), *chg = rtnl_link_alloc();
	uint8_t mac[6] = { 2, 0, 0, 0, 0x77, last };
	struct nl_addr *hw = nl_addr_build(AF_LLC, mac, sizeof(mac));
	struct netlink_link info;
	int ret = -NLE_NOMEM;

	if (orig && chg && hw) {
		rtnl_link_set_ifindex(orig, (int)if_nametoindex(name));
		rtnl_link_set_name(orig, name);
		rtnl_link_set_addr(chg, hw);
		ret = rtnl_link_change(sk, orig, chg, 0);
	}
	if (!ret && (netlink_link_info(name, &info) || memcmp(info.mac, mac, sizeof(mac))))
		ret = -NLE_FAILURE;
	nl_addr_put(hw);
	rtnl_link_put(orig);
	rtnl_link_put(chg);
	return ret;
}

/* Adds (add) or removes 198.18.9.1/24 on name. 0, or a libnl error. */
static int addr_set(struct nl_sock *sk, const char *name, bool add)
{
	struct rtnl_addr *addr = rtnl_addr_alloc();
	struct nl_addr *local = NULL;
	int ret = -NLE_NOMEM;

	if (addr && nl_addr_parse("198.18.9.1/24", AF_INET, &local) == 0) {
		rtnl_addr_set_ifindex(addr, (int)if_nametoindex(name));
		ret = rtnl_addr_set_local(addr, local);
		if (!ret)
			ret = add ? rtnl_addr_add(sk, addr, 0) : rtnl_addr_delete(sk, addr, 0);
	}
	nl_addr_put(local);
	rtnl_addr_put(addr);
	return ret;
}

static int word_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The events since *from, in sorted order (one report per link and spell: any order), equal
 * to want (sorted too)? Moves *from past them; prints them when not. */
static bool watch_expect(const struct watch_seen *seen, int *from, const char *what,
			 const char *want)
{
	char buf[256], *words[WATCH_EVENTS], sorted[256] = "", *save = NULL, *t;
	int n = 0, i;

	watch_events(seen, from, buf, sizeof(buf));
	for (t = strtok_r(buf, " ", &save); t && n < WATCH_EVENTS; t = strtok_r(NULL, " ", &save))
		words[n++] = t;
	qsort(words, (size_t)n, sizeof(*words), word_cmp);
	for (i = 0; i < n; i++)
		snprintf(sorted + strlen(sorted), sizeof(sorted) - strlen(sorted), "%s%s",
			 i ? " " : "", words[i]);
	if (!strcmp(sorted, want))
		return true;
	fprintf(stderr, "watch child: %s: reported \"%s\", want \"%s\"\n", what, sorted, want);
	return false;
}



/* IPv6 off for the links made from now in this namespace: its own link messages and
 * addresses would be reported as well, in an order of their own. */
static void ipv6_off(void)
{
	FILE *f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "we");

	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
}

/* Runs in the child, inside a new network namespace. Returns an exit code: 0 pass, 77 the
 * kernel cannot make the namespace or a veth, else the step that failed. Each step changes
 * the veth pair, runs the watch for a settle time and more, and checks what was reported:
 * once per link, as it is after the change. */
static int watch_child(void)
{
	struct watch_seen seen = { 0 };
	struct netlink_watch *w = NULL;
	struct rtnl_link *link = NULL;
	struct nl_sock *sk;
	int code = 0, from = 0;

	if (geteuid() != 0 || private_netns())
		return 77;
	ipv6_off();
	if (netlink_watch_new(&w, watch_cb, &seen))
		return 2;
	/* (a loaded machine may deliver the peer's carrier later than the default's 100 ms) */
	netlink_watch_settle(w, 300);
	sk = nl_socket_alloc();
	if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0) {
		code = 3;
		goto out;
	}
	if (rtnl_link_veth_add(sk, "rrwatch0", "rrwatch1", getpid()) < 0) {
		code = 77;
		goto out;
	}
#define STEP(n, change, want)                                                                  \
	do {                                                                                   \
		if (change) {                                                                  \
			code = n;                                                              \
			goto out;                                                              \
		}                                                                              \
		code = watch_run(w, 600);                                                      \
		if (!code && !watch_expect(&seen, &from, #change, want))                       \
			code = n + 1;                                                          \
		if (code)                                                                      \
			goto out;                                                              \
	} while (0)
	/* made (the MTU then: no report), both ends up (carrier), one renamed while up and
	 * back (before, no report: its flags stay), given another link-layer address (before,
	 * no report: XDP's fast path kept comparing frames with the old one), an address added
	 * and removed, one end down (the other loses its carrier), deleted (both go) */
	STEP(10, 0, "0+ 1+");
	STEP(20, link_set(sk, "rrwatch0", 1400, false) < 0, "");
	STEP(30, link_set(sk, "rrwatch1", 0, true) < 0 || link_set(sk, "rrwatch0", 0, true) < 0,
	     "0+u 1+u");
	STEP(33, link_rename(sk, "rrwatch0", "rrwatch2") < 0, "2+u");
	STEP(36, link_rename(sk, "rrwatch2", "rrwatch0") < 0, "0+u");
	STEP(38, link_hwaddr(sk, "rrwatch0", 1) < 0, "0+u");
	STEP(40, addr_set(sk, "rrwatch0", true) < 0, "0+u");
	STEP(50, addr_set(sk, "rrwatch0", false) < 0, "0+u");
	STEP(60, link_set(sk, "rrwatch0", 0, false) < 0, "0+ 1+");
	link = rtnl_link_alloc();
	if (link)
		rtnl_link_set_name(link, "rrwatch0");
	STEP(70, !link || rtnl_link_delete(sk, link) < 0, "0- 1-");
#undef STEP
out:
	if (code && code != 77)
		fprintf(stderr, "watch child: step %d\n", code);
	if (link)
		rtnl_link_put(link);
	nl_socket_free(sk);
	netlink_watch_free(w);
	return code;
}

static void test_watch_link_events(void **state)
{
	run_in_child(watch_child);
}

static void count_cb(void *arg, const struct netlink_link_change *links, uint32_t n)
{
	(*(int *)arg) += (int)n;
}

/* In the child's own namespace, where no other process changes links: main polls the fd
 * and may call process on a spurious wake-up, which must neither block nor fail, and the
 * links that were there before the watch (lo) are not reported. */
static int idle_child(void)
{
	struct netlink_watch *w = NULL;
	int calls = 0, code = 0;

	if (private_netns())
		return 77;
	if (netlink_watch_new(&w, count_cb, &calls))
		return 2;
	if (netlink_watch_fd(w) < 0)
		code = 3;
	else if (netlink_watch_process(w) < 0 || netlink_watch_process(w) < 0)
		code = 4;
	else if (netlink_watch_due_ms(w) != -1)
		code = 6; /* nothing noted */
	if (!code) {
		netlink_watch_flush(w);
		if (calls != 0)
			code = 5;
	}
	if (code)
		fprintf(stderr, "idle child: step %d: %d callback(s)\n", code, calls);
	netlink_watch_free(w);
	netlink_watch_free(NULL);
	return code;
}

static void test_watch_idle(void **state)
{
	run_in_child(idle_child);
}

/* The changes a route watch told (routes_seen), as "family prefix/len" ("all" for one of
 * anything), one a line. */
struct routes_seen {
	char text[4096];
	size_t len;
};

static void routes_seen_fn(void *arg, int family, const uint8_t *dst, unsigned int dst_len)
{
	struct routes_seen *rs = arg;
	char a[INET6_ADDRSTRLEN];

	if (!dst)
		snprintf(a, sizeof(a), "all");
	else
		inet_ntop(family, dst, a, sizeof(a));
	rs->len += (size_t)snprintf(rs->text + rs->len, sizeof(rs->text) - rs->len, "%s%s/%u\n",
				    family == AF_INET ? "4 " : family == AF_INET6 ? "6 " : "",
				    a, dst ? dst_len : 0);
	if (rs->len >= sizeof(rs->text))
		rs->len = sizeof(rs->text) - 1;
}

/* Reads rw's changes into seen (emptied first): what process returned. */
static int routes_read(struct netlink_routes *rw, struct routes_seen *seen)
{
	seen->len = 0;
	seen->text[0] = '\0';
	return netlink_routes_process(rw, routes_seen_fn, seen);
}

/* The route watch, in the child's own namespace: nothing to read at first (process neither
 * blocks nor fails), then each change is told with what it covers: an address added (its
 * prefix and local routes), a route added (its prefix), a multipath route (its prefix, not a
 * leg's), an IPv6 default route (::/0), a rule (all), an IPv4 address removed (all: its
 * routes' deletions), an IPv6 one removed (its routes' prefixes, not all: IPv6 tells each route
 * it deletes and keeps the default route through a gateway in it; before, all). */
static int routes_child(void)
{
	static const struct {
		const char *cmd, *want; /* a line process must tell after cmd */
	} steps[] = {
		{ "ip link add rrd0 type veth peer name rrd0p && ip link set rrd0 up && "
		  "ip addr add 198.18.8.1/24 dev rrd0",
		  "4 198.18.8.1/32\n" },
		{ NULL, NULL }, /* (nothing more: rrd0 has no carrier, IPv6 makes nothing) */
		{ "ip route add 198.18.7.0/24 dev rrd0", "4 198.18.7.0/24\n" },
		{ "ip link set rrd0p up && "
		  "ip route add 198.18.6.0/23 nexthop dev rrd0 nexthop dev rrd0p",
		  "4 198.18.6.0/23\n" },
		{ "ip -6 addr add 2001:2:0:8::1/64 dev rrd0 nodad && "
		  "ip -6 route add default via 2001:2:0:8::2 dev rrd0",
		  "6 ::/0\n" },
		{ "ip rule add from 198.18.9.1 lookup 2", "all/0\n" },
		/* (a route through a gateway in it would go without a message of its own) */
		{ "ip addr del 198.18.8.1/24 dev rrd0", "all/0\n" },
		{ "ip -6 addr del 2001:2:0:8::1/64 dev rrd0", "6 2001:2:0:8::/64\n" },
	};
	struct netlink_routes *rw = NULL;
	struct routes_seen seen;
	int code = 0, n;
	size_t i;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (netlink_routes_new(&rw))
		return 2;
	if (netlink_routes_fd(rw) < 0 || routes_read(rw, &seen) != 0)
		code = 3;
	for (i = 0; !code && i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].cmd && system(steps[i].cmd)) {
			code = i ? 10 + (int)i : 77;
			break;
		}
		n = routes_read(rw, &seen);
		/* (an IPv6 address removed: not all, its routes' prefixes) */
		if (steps[i].cmd ? n <= 0 || !strstr(seen.text, steps[i].want) ||
					   (strstr(steps[i].cmd, "-6 addr del") && strstr(seen.text, "all"))
				 : n != 0) {
			fprintf(stderr, "routes child: after %s: %d changes:\n%s", steps[i].cmd, n,
				seen.text);
			code = 30 + (int)i;
		}
	}
	if (code && code != 77)
		fprintf(stderr, "routes child: step %d\n", code);
	netlink_routes_free(rw);
	netlink_routes_free(NULL);
	return code;
}

static void test_routes_watch(void **state)
{
	run_in_child(routes_child);
}

/* The egress of a route looked up with and without a source, a mark, an owner and ports, in
 * the child's own namespace: two veth links reach 198.18.7.0/24 and 2001:2:0:7::/64, the main
 * table through rrd0, table 2 (for what leaves from rrd1's addresses, carries mark 7, belongs
 * to uid 4242 or goes to UDP port 4343) through rrd1. A link-local address is refused. */
static int route_child(void)
{
	static const struct {
		const char *dst, *src; /* src NULL: none */
		uint32_t mark;
		int64_t uid;
		uint16_t sport; /* with it: UDP from this port to dst's */
		const char *oif; /* NULL: refused with ret */
		bool by_policy;
		int ret;
	} cases[] = {
		{ "198.18.7.7:1", NULL, 0, -1, 0, "rrd0", false, 0 },
		{ "198.18.7.7:1", "198.18.8.1:0", 0, -1, 0, "rrd0", false, 0 },
		{ "198.18.7.7:1", "198.18.9.1:0", 0, -1, 0, "rrd1", true, 0 },
		{ "[2001:2:0:7::7]:1", NULL, 0, -1, 0, "rrd0", false, 0 },
		{ "[2001:2:0:7::7]:1", "[2001:2:0:8::1]:0", 0, -1, 0, "rrd0", false, 0 },
		{ "[2001:2:0:7::7]:1", "[2001:2:0:9::1]:0", 0, -1, 0, "rrd1", true, 0 },
		{ "198.18.7.7:1", NULL, 7, -1, 0, "rrd1", true, 0 },
		{ "[2001:2:0:7::7]:1", NULL, 7, -1, 0, "rrd1", true, 0 },
		{ "198.18.7.7:1", NULL, 0, 4242, 0, "rrd1", true, 0 },
		{ "[2001:2:0:7::7]:1", NULL, 0, 4242, 0, "rrd1", true, 0 },
		{ "198.18.7.7:1", NULL, 0, 0, 0, "rrd0", false, 0 },
		{ "198.18.7.7:4343", NULL, 0, -1, 5000, "rrd1", true, 0 },
		{ "[2001:2:0:7::7]:4343", "[2001:2:0:8::1]:0", 0, -1, 5000, "rrd1", true, 0 },
		{ "198.18.7.7:4343", NULL, 0, -1, 0, "rrd0", false, 0 },
		{ "198.18.6.6:1", NULL, 0, -1, 0, NULL, false, -ENETUNREACH },
		{ "[fe80::1]:1", NULL, 0, -1, 0, NULL, false, -EADDRNOTAVAIL },
		{ "[2001:2:0:7::7]:1", "[fe80::1]:0", 0, -1, 0, NULL, false, -EADDRNOTAVAIL },
	};
	size_t i;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (system(NETNS_TWO_LINKS
		   "ip route add 198.18.7.0/24 dev rrd0 && "
		   "ip route add 198.18.7.0/24 dev rrd1 table 2 && "
		   "ip rule add from 198.18.9.1 lookup 2 && "
		   "ip -6 route add 2001:2:0:7::/64 dev rrd0 && "
		   "ip -6 route add 2001:2:0:7::/64 dev rrd1 table 2 && "
		   "ip -6 rule add from 2001:2:0:9::1 lookup 2"))
		return 77;
	if (system("ip rule add fwmark 7 lookup 2 && ip -6 rule add fwmark 7 lookup 2 && "
		   "ip rule add uidrange 4242-4242 lookup 2 && "
		   "ip -6 rule add uidrange 4242-4242 lookup 2 && "
		   "ip rule add ipproto udp dport 4343 lookup 2 && "
		   "ip -6 rule add ipproto udp dport 4343 lookup 2"))
		return 77; /* an ip(8) or kernel without these selectors */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr dst, src;
		struct netlink_flow fl = { .dst = &dst, .mark = cases[i].mark, .uid = cases[i].uid,
					   .sport = cases[i].sport };
		struct netlink_route rt = { 0 };
		const char *why;
		int ret;

		if (addr_parse(cases[i].dst, &dst, &why) ||
		    (cases[i].src && addr_parse(cases[i].src, &src, &why)))
			return 2;
		fl.src = cases[i].src ? &src : NULL;
		fl.proto = cases[i].sport ? IPPROTO_UDP : 0;
		ret = netlink_route_get(NULL, &fl, NETLINK_ROUTE_LEG | NETLINK_ROUTE_ALL, &rt);
		if (ret != cases[i].ret ||
		    (cases[i].oif && (rt.oif != (int)if_nametoindex(cases[i].oif) ||
				      rt.by_policy != cases[i].by_policy || rt.n_legs != 1 ||
				      rt.legs[0].oif != rt.oif || rt.gw_family))) {
			fprintf(stderr, "route child: case %zu: %s from %s: %d, oif %d, by_policy %d, "
				"%u legs\n", i, cases[i].dst, cases[i].src ? cases[i].src : "-",
				ret, rt.oif, rt.by_policy, rt.n_legs);
			return 10 + (int)i;
		}
	}
	return 0;
}

static void test_route_oif_source(void **state)
{
	run_in_child(route_child);
}

/* A multipath route with the L4 hash, in the child's own namespace: 198.18.10.0/24 and
 * 2001:2:0:10::/64 through a gateway on rrd0 and one on rrd1. The flow's ports reach the hash
 * (over 16 source ports both legs are taken), each answer names its leg's gateway, and the
 * route's legs are both devices. */
static int multipath_child(void)
{
	static const char *const dsts[] = { "198.18.10.10:53", "[2001:2:0:10::10]:53" };
	int rrd0, rrd1;
	size_t d;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (system(NETNS_TWO_LINKS
		   "sysctl -qw net.ipv4.fib_multipath_hash_policy=1 && "
		   "sysctl -qw net.ipv6.fib_multipath_hash_policy=1 && "
		   "ip route add 198.18.10.0/24 nexthop via 198.18.8.2 dev rrd0 "
		   "nexthop via 198.18.9.2 dev rrd1 && "
		   "ip -6 route add 2001:2:0:10::/64 nexthop via 2001:2:0:8::2 dev rrd0 "
		   "nexthop via 2001:2:0:9::2 dev rrd1"))
		return 77;
	rrd0 = (int)if_nametoindex("rrd0");
	rrd1 = (int)if_nametoindex("rrd1");
	for (d = 0; d < sizeof(dsts) / sizeof(dsts[0]); d++) {
		bool seen[2] = { false, false };
		struct addr dst, gw;
		const char *why;
		uint16_t port;

		if (addr_parse(dsts[d], &dst, &why))
			return 2;
		for (port = 40000; port < 40016; port++) {
			struct netlink_flow fl = { .dst = &dst, .proto = IPPROTO_UDP, .sport = port,
						   .uid = -1 };
			struct netlink_route rt;
			const char *want;
			uint8_t b[16];
			bool v4 = addr_family(&dst) == AF_INET;

			if (netlink_route_get(NULL, &fl, NETLINK_ROUTE_LEG | NETLINK_ROUTE_ALL, &rt) || (rt.oif != rrd0 && rt.oif != rrd1) ||
			    rt.n_legs != 2 || rt.legs[0].oif == rt.legs[1].oif ||
			    (rt.legs[0].oif != rrd0 && rt.legs[0].oif != rrd1) ||
			    (rt.legs[1].oif != rrd0 && rt.legs[1].oif != rrd1)) {
				fprintf(stderr, "multipath child: %s port %u: oif %d, %u legs\n",
					dsts[d], port, rt.oif, rt.n_legs);
				return 10;
			}
			seen[rt.oif == rrd1] = true;
			want = rt.oif == rrd0 ? (v4 ? "198.18.8.2:0" : "[2001:2:0:8::2]:0")
					      : (v4 ? "198.18.9.2:0" : "[2001:2:0:9::2]:0");
			if (addr_parse(want, &gw, &why))
				return 2;
			addr_to_mapped(&gw, b);
			if (rt.gw_family != addr_family(&dst) ||
			    memcmp(rt.gw, v4 ? b + 12 : b, v4 ? 4 : 16)) {
				fprintf(stderr, "multipath child: %s port %u: gateway family %d\n",
					dsts[d], port, rt.gw_family);
				return 11;
			}
		}
		if (!seen[0] || !seen[1]) {
			fprintf(stderr, "multipath child: %s: 16 ports all took one leg\n", dsts[d]);
			return 12;
		}
	}
	return 0;
}

static void test_route_multipath(void **state)
{
	run_in_child(multipath_child);
}

/* netlink_eth_frames tells three answers apart: Ethernet framing (veth, and loopback's zeroed
 * header), a layer 3 device (tun), and a link it could not ask about (before: false, as for a
 * layer 3 device, so the filter refused an Ethernet link on a transient failure as "a layer
 * 3 device"). */
static int eth_frames_child(void)
{
	unsigned int tun;

	if (private_netns())
		return 77;
	if (system("ip link set lo up && " NETNS_TWO_LINKS "true"))
		return 77;
	if (netlink_eth_frames((int)if_nametoindex("rrd0")) != 1)
		return 2;
	if (netlink_eth_frames((int)if_nametoindex("lo")) != 1)
		return 3;
	/* an ifindex no link has: could not ask, which is no answer */
	if (netlink_eth_frames(999999) >= 0)
		return 4;
	if (system("ip tuntap add mode tun name rrl3t0 2>/dev/null"))
		return 0; /* no /dev/net/tun here: the rest needs one */
	tun = if_nametoindex("rrl3t0");
	if (!tun || netlink_eth_frames((int)tun) != 0)
		return 5;
	return 0;
}

static void test_eth_frames(void **state)
{
	(void)state;
	run_in_child(eth_frames_child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_queues_lo),
		cmocka_unit_test(test_link_info_lo),
		cmocka_unit_test(test_eth_frames),
		cmocka_unit_test(test_rx_queues_unknown),
		cmocka_unit_test(test_ifname_of_addr),
		cmocka_unit_test(test_watch_link_events),
		cmocka_unit_test(test_watch_idle),
		cmocka_unit_test(test_routes_watch),
		cmocka_unit_test(test_route_oif_source),
		cmocka_unit_test(test_route_multipath),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
