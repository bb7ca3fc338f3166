// SPDX-License-Identifier: MIT
/* netlink: queue counts and address owners on the host (read-only), and the link watcher in a
 * private network namespace of a forked child, so the host's links are never touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <netlink/netlink.h>
#include <net/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netlink.h"

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

/* What the watcher reported, checked by the child. */
struct watch_seen {
	int added;	/* veth ends seen appearing */
	int removed;	/* veth ends seen disappearing */
	int other;
};

static void watch_cb(void *arg, const char *ifname, int ifindex, bool present)
{
	struct watch_seen *seen = arg;

	if (strcmp(ifname, "rrwatch0") != 0 && strcmp(ifname, "rrwatch1") != 0) {
		seen->other++;
		return;
	}
	if (ifindex <= 0)
		seen->other++;
	else if (present)
		seen->added++;
	else
		seen->removed++;
}

/* Polls the watch until *count reaches want, for at most 5 s. */
static int watch_wait(struct netlink_watch *w, const int *count, int want)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int rounds = 0; rounds < 1000 && *count < want; rounds++) {
		struct pollfd p = { .fd = netlink_watch_fd(w), .events = POLLIN };

		if (poll(&p, 1, 100) > 0 && netlink_watch_process(w) < 0)
			return 10;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 5)
			break;
	}
	return *count >= want ? 0 : 11;
}

/* Handles what the watch gets for ms milliseconds. 0, or 10 when processing failed. */
static int watch_drain(struct netlink_watch *w, int ms)
{
	struct pollfd p = { .fd = netlink_watch_fd(w), .events = POLLIN };

	for (; ms > 0; ms -= 50)
		if (poll(&p, 1, 50) > 0 && netlink_watch_process(w) < 0)
			return 10;
	return 0;
}

/* Sets name's MTU (mtu > 0) or brings it up. 0, or a libnl error. */
static int link_set(struct nl_sock *sk, const char *name, unsigned int mtu)
{
	struct rtnl_link *orig = rtnl_link_alloc(), *chg = rtnl_link_alloc();
	int ret = -NLE_NOMEM;

	if (orig && chg) {
		rtnl_link_set_ifindex(orig, (int)if_nametoindex(name));
		rtnl_link_set_name(orig, name);
		if (mtu)
			rtnl_link_set_mtu(chg, mtu);
		else
			rtnl_link_set_flags(chg, IFF_UP);
		ret = rtnl_link_change(sk, orig, chg, 0);
	}
	rtnl_link_put(orig);
	rtnl_link_put(chg);
	return ret;
}

/* Adds 198.18.9.1/24 to name. 0, or a libnl error. */
static int addr_add(struct nl_sock *sk, const char *name)
{
	struct rtnl_addr *addr = rtnl_addr_alloc();
	struct nl_addr *local = NULL;
	int ret = -NLE_NOMEM;

	if (addr && nl_addr_parse("198.18.9.1/24", AF_INET, &local) == 0) {
		rtnl_addr_set_ifindex(addr, (int)if_nametoindex(name));
		ret = rtnl_addr_set_local(addr, local);
		if (!ret)
			ret = rtnl_addr_add(sk, addr, 0);
	}
	nl_addr_put(local);
	rtnl_addr_put(addr);
	return ret;
}

/* Moves the calling (child) process into a network namespace of its own, where nothing but
 * the test changes links: as root directly, else inside a user namespace. 0 or -1. */
static int private_netns(void)
{
	if (unshare(CLONE_NEWNET) == 0)
		return 0;
	return unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : -1;
}

/* Runs body in a forked child and checks its exit code: 0 pass, 77 skip, else the step of
 * body that failed. */
static void run_in_child(int (*body)(void))
{
	int status;
	pid_t pid;

	/* cmocka's buffered output must not be written twice. */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(body());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Runs in the child, inside a new network namespace. Returns an exit code: 0 pass, 77 the
 * kernel cannot make the namespace or a veth, else the step that failed. */
static int watch_child(void)
{
	struct watch_seen seen = { 0 };
	struct netlink_watch *w = NULL;
	struct rtnl_link *link;
	struct nl_sock *sk;
	int code;

	if (geteuid() != 0 || private_netns())
		return 77;
	if (netlink_watch_new(&w, watch_cb, &seen))
		return 2;
	sk = nl_socket_alloc();
	if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0)
		goto err_free_watch;
	if (rtnl_link_veth_add(sk, "rrwatch0", "rrwatch1", getpid()) < 0) {
		code = 77;
		goto out;
	}
	code = watch_wait(w, &seen.added, 2);
	if (code)
		goto out;
	/* Other changes than up/down, carrier and addresses are not reported: an MTU. */
	if (link_set(sk, "rrwatch0", 1400) < 0) {
		code = 20;
		goto out;
	}
	code = watch_drain(w, 300);
	if (!code && seen.added != 2)
		code = 21;
	/* Both ends up (rrwatch0 gets its carrier), then an address: each reported. */
	if (!code && (link_set(sk, "rrwatch1", 0) < 0 || link_set(sk, "rrwatch0", 0) < 0))
		code = 22;
	if (!code)
		code = watch_wait(w, &seen.added, 4);
	if (!code)
		code = watch_drain(w, 300); /* what going up brings besides (IPv6's link-local) */
	if (!code && addr_add(sk, "rrwatch0") < 0)
		code = 23;
	if (!code) {
		int had = seen.added;

		code = watch_wait(w, &seen.added, had + 1);
	}
	if (code)
		goto out;
	/* Deleting one end of a veth pair deletes both. */
	link = rtnl_link_alloc();
	if (!link) {
		code = 4;
		goto out;
	}
	rtnl_link_set_name(link, "rrwatch0");
	code = rtnl_link_delete(sk, link) < 0 ? 5 : 0;
	rtnl_link_put(link);
	if (!code)
		code = watch_wait(w, &seen.removed, 2);
	if (!code && (seen.removed < 2 || seen.other))
		code = 6;
out:
	if (code && code != 77)
		fprintf(stderr, "watch child: step %d: added %d removed %d other %d\n", code,
			seen.added, seen.removed, seen.other);
	nl_socket_free(sk);
	netlink_watch_free(w);
	return code;
err_free_watch:
	netlink_watch_free(w);
	return 3;
}

static void test_watch_link_events(void **state)
{
	run_in_child(watch_child);
}

static void count_cb(void *arg, const char *ifname, int ifindex, bool present)
{
	(*(int *)arg)++;
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
	else if (calls != 0)
		code = 5;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_queues_lo),
		cmocka_unit_test(test_link_info_lo),
		cmocka_unit_test(test_rx_queues_unknown),
		cmocka_unit_test(test_ifname_of_addr),
		cmocka_unit_test(test_watch_link_events),
		cmocka_unit_test(test_watch_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
