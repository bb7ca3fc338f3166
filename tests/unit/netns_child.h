/* SPDX-License-Identifier: MIT */
/* Unit tests that make links and routes: each runs its body in a forked child moved into a
 * network namespace of its own, where nothing but the test changes links. */
#ifndef RINGRELAY_TEST_NETNS_CHILD_H
#define RINGRELAY_TEST_NETNS_CHILD_H

#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two veth pairs, rrd0 and rrd1 up (peers rrd0p, rrd1p), with 198.18.8.1/24 and
 * 2001:2:0:8::1/64 on rrd0, 198.18.9.1/24 and 2001:2:0:9::1/64 on rrd1: the start of a
 * system() command that goes on with the test's routes. */
#define NETNS_TWO_LINKS                                                                            \
	"ip link add rrd0 type veth peer name rrd0p && "                                           \
	"ip link add rrd1 type veth peer name rrd1p && "                                           \
	"ip link set rrd0 up && ip link set rrd1 up && "                                           \
	"ip link set rrd0p up && ip link set rrd1p up && "                                         \
	"ip addr add 198.18.8.1/24 dev rrd0 && ip addr add 198.18.9.1/24 dev rrd1 && "             \
	"ip -6 addr add 2001:2:0:8::1/64 dev rrd0 nodad && "                                       \
	"ip -6 addr add 2001:2:0:9::1/64 dev rrd1 nodad && "

/* Moves the calling (child) process into a network namespace of its own: as root directly,
 * else inside a user namespace. 0 or -1. */
static inline int private_netns(void)
{
	if (unshare(CLONE_NEWNET) == 0)
		return 0;
	return unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : -1;
}

/* Runs body in a forked child and checks its exit code: 0 pass, 77 skip, else the step of
 * body that failed. */
static inline void run_in_child(int (*body)(void))
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

#endif
