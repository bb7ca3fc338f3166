// SPDX-License-Identifier: MIT
/* napithreads: the threads of a device's threaded NAPI instances, found by the BPF task
 * iterator, beside a device of the same name in another network namespace. The test makes two
 * namespaces (ip netns, removed at exit), each with a veth pair whose end "rrn0" has GRO on
 * (so a NAPI instance) and threaded NAPI: two kernel threads named napi/rrn0-ID, with the
 * same ifindex, which no name tells apart. From inside each namespace napithreads_list must list exactly that
 * namespace's thread, named for its instance; the two differ and are among the threads named
 * napi/rrn0- (a scan of /proc). Where netdev NAPI_GET exists (6.9) it must name the same instance, and
 * the same thread where it reports one (6.10); an instance listed without its thread gets
 * this namespace's from napithreads_fill_pids. The peer, which has no NAPI instance, lists
 * nothing. Needs root and ip(8), ethtool(8) (77 otherwise), and a kernel where the iterator
 * loads (77 otherwise, with the reason). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "napi.h"
#include "napithreads.h"

/* Short: "napi/rrn0-ID" keeps five digits of the id within the 15 characters of a name. */
#define IFNAME "rrn0"
#define PEER "rrn1"
#define MAX_SEEN 16

static char ns_name[2][32];
static int host_ns = -1;

static void cleanup(void)
{
	char cmd[128];
	int i;

	if (host_ns >= 0)
		(void)setns(host_ns, CLONE_NEWNET);
	for (i = 0; i < 2; i++) {
		if (!ns_name[i][0])
			continue;
		snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns_name[i]);
		if (system(cmd))
			fprintf(stderr, "could not remove namespace %s\n", ns_name[i]);
	}
}

static void enter(int i)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns_name[i]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(setns(fd, CLONE_NEWNET), 0);
	close(fd);
}

/* Pids of the threads named napi/IFNAME-*, from /proc. */
static int threads_by_name(pid_t *pids, int max)
{
	struct dirent *de;
	int n = 0;
	DIR *dir = opendir("/proc");

	assert_non_null(dir);
	while ((de = readdir(dir))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "napi/" IFNAME "-", strlen("napi/" IFNAME "-")) &&
		    n < max)
			pids[n++] = (pid_t)atoi(de->d_name);
		fclose(f);
	}
	closedir(dir);
	return n;
}

/* Whether thread pid is named napi/IFNAME-ID. */
static bool comm_is(pid_t pid, uint32_t id)
{
	char path[64], comm[32] = "";
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(comm, sizeof(comm), f) && napi_thread_name_is(comm, IFNAME, id);
	fclose(f);
	return ok;
}

static void test_same_name(void **state)
{
	struct napi_instance ni[4], nl[4];
	pid_t by_name[MAX_SEEN];
	uint32_t ids[2];
	unsigned int ifindex[2];
	int i, j, n, n_names, found;

	(void)state;
	/* ours, and any a killed run left behind */
	n_names = threads_by_name(by_name, MAX_SEEN);
	assert_true(n_names >= 2);
	for (i = 0; i < 2; i++) {
		enter(i);
		n = napithreads_list((int)if_nametoindex(IFNAME), ni, 4);
		print_message("namespace %s: %s is ifindex %u, %d NAPI thread(s)", ns_name[i],
			      IFNAME, if_nametoindex(IFNAME), n);
		for (j = 0; j < n; j++)
			print_message(" (napi/%s-%u, pid %d)", IFNAME, ni[j].id, (int)ni[j].pid);
		print_message("\n");
		assert_int_equal(n, 1);
		assert_true(ni[0].threaded);
		assert_int_equal(ni[0].ifindex, if_nametoindex(IFNAME));
		/* the pid is a thread named for this instance */
		assert_true(comm_is(ni[0].pid, ni[0].id));
		for (found = 0, j = 0; j < n_names; j++)
			found += by_name[j] == ni[0].pid;
		assert_int_equal(found, 1);
		ids[i] = ni[0].id;
		ifindex[i] = if_nametoindex(IFNAME);
		/* an instance NAPI_GET listed without its thread (before 6.10) gets it from the
		 * iterator: this namespace's, not the other's of the same name and id range */
		nl[0] = (struct napi_instance){.id = ni[0].id, .ifindex = ni[0].ifindex};
		napithreads_fill_pids((int)if_nametoindex(IFNAME), nl, 1);
		assert_int_equal(nl[0].pid, ni[0].pid);
		assert_true(nl[0].threaded);
		/* NAPI_GET, where the kernel has it, names the same instance (and thread) */
		n = napi_list((int)if_nametoindex(IFNAME), nl, 4);
		if (n == -EOPNOTSUPP) {
			print_message("no NAPI_GET (kernel < 6.9): compared with names only\n");
		} else {
			assert_int_equal(n, 1);
			assert_int_equal(nl[0].id, ni[0].id);
			if (nl[0].pid > 0)
				assert_int_equal(nl[0].pid, ni[0].pid);
		}
		/* the peer has GRO off and no XDP program: no instance, no thread */
		assert_int_equal(napithreads_list((int)if_nametoindex(PEER), ni, 4), 0);
	}
	assert_int_not_equal(ids[0], ids[1]);
	/* the same name and the same ifindex: only the namespace tells them apart */
	assert_int_equal(ifindex[0], ifindex[1]);
}

/* A command in namespace i (ip netns exec). */
static int ns_run(int i, const char *what)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip netns exec %s %s >/dev/null 2>&1", ns_name[i], what);
	return system(cmd);
}

static void setup_or_skip(void)
{
	struct napi_instance ni[1];
	char cmd[128];
	int i, n;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root (network namespaces, threaded NAPI)\n");
		exit(77);
	}
	if (system("command -v ip >/dev/null && command -v ethtool >/dev/null")) {
		fprintf(stderr, "SKIP: needs ip(8) and ethtool(8)\n");
		exit(77);
	}
	host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	atexit(cleanup);
	for (i = 0; i < 2; i++) {
		snprintf(ns_name[i], sizeof(ns_name[i]), "rrnt-%d-%c", (int)getpid(), 'a' + i);
		snprintf(cmd, sizeof(cmd), "ip netns add %s", ns_name[i]);
		if (system(cmd) || ns_run(i, "ip link add " IFNAME " type veth peer name " PEER) ||
		    ns_run(i, "ip link set " IFNAME " up") || ns_run(i, "ip link set " PEER " up") ||
		    ns_run(i, "ethtool -K " IFNAME " gro on") ||
		    ns_run(i, "sh -c 'echo 1 > /sys/class/net/" IFNAME "/threaded'")) {
			fprintf(stderr, "SKIP: cannot make a veth pair with threaded NAPI in %s\n",
				ns_name[i]);
			exit(77);
		}
	}
	n = napithreads_list(1, ni, 1);
	if (n < 0) {
		fprintf(stderr, "SKIP: the NAPI thread iterator does not load: %s\n",
			strerror(-n));
		exit(77);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_name),
	};

	setup_or_skip();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
