// SPDX-License-Identifier: MIT
/* portclaim: the ports to claim (ascending, once each), claims held and let go, a waiter that
 * wakes when the holder lets go or dies and names it when the wait ends first, claims taken in
 * ascending order (the earlier ones stay held), and names that are no claim of ours (bound and
 * not listened on; another user's) not waited for. Each live case runs in a network namespace
 * of its own: abstract names belong to it, so no other test or daemon meets ours. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "netns_child.h"
#include "portclaim.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One claim of port, held: for the other side of a case. */
static struct portclaim *held(uint16_t port)
{
	struct portclaim *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	portclaim_init(c, geteuid());
	if (portclaim_add(c, port) || portclaim_take(c, 0)) {
		free(c);
		return NULL;
	}
	return c;
}

/* A child that holds port's claim until it is killed, or exits after ms (ms > 0) without
 * letting it go; 0 on failure. uid: the child's, when not ours (needs root). */
static pid_t holder_child(uint16_t port, uid_t uid, int ms)
{
	int p[2];
	pid_t pid;
	char x;

	if (pipe(p))
		return 0;
	pid = fork();
	if (pid == 0) {
		if (uid != geteuid() && setresuid(uid, uid, uid))
			_exit(1);
		if (!held(port) || write(p[1], "r", 1) != 1)
			_exit(1);
		if (ms > 0)
			poll(NULL, 0, ms);
		else
			pause();
		_exit(0); /* the claim goes with the process */
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &x, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = 0;
	}
	close(p[0]);
	return pid < 0 ? 0 : pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_add(void **state)
{
	struct portclaim *c = malloc(sizeof(*c));
	static const uint16_t in[] = { 5003, 53, 5003, 65535, 1, 53 };
	static const uint16_t want[] = { 1, 53, 5003, 65535 };
	uint32_t i;

	(void)state;
	assert_non_null(c);
	portclaim_init(c, 0);
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_int_equal(portclaim_add(c, in[i]), 0);
	assert_int_equal(c->n, 4);
	for (i = 0; i < c->n; i++) {
		assert_int_equal(c->p[i].port, want[i]);
		assert_int_equal(c->p[i].fd, -1);
	}
	portclaim_release(c);
	assert_int_equal(c->n, 0);
	for (i = 0; i < PORTCLAIM_MAX; i++)
		assert_int_equal(portclaim_add(c, (uint16_t)(PORTCLAIM_MAX - i)), 0);
	assert_int_equal(portclaim_add(c, 1), 0); /* already there */
	assert_int_equal(portclaim_add(c, 9999), -ENOSPC);
	assert_int_equal(c->p[0].port, 1);
	assert_int_equal(c->p[PORTCLAIM_MAX - 1].port, PORTCLAIM_MAX);
	portclaim_release(c);
	free(c);
}

/* In this process: A holds 5000 and 5001; B wants 5001 and 5002, and is told A's pid; once A
 * lets go, B has both. Then C, wanting 4999 and 5001 (B's), gets 4999 and stops at 5001. */
static int take_child(void)
{
	struct portclaim a, b, c;

	if (private_netns())
		return 77;
	portclaim_init(&a, geteuid());
	portclaim_init(&b, geteuid());
	portclaim_init(&c, geteuid());
	CHECK(!portclaim_add(&a, 5001) && !portclaim_add(&a, 5000));
	CHECK(portclaim_take(&a, 0) == 0);
	CHECK(a.next == 2 && a.p[0].fd >= 0 && a.p[1].fd >= 0);
	CHECK(!portclaim_add(&b, 5002) && !portclaim_add(&b, 5001));
	CHECK(portclaim_take(&b, 0) == -EADDRINUSE);
	CHECK(b.next == 0 && b.p[0].port == 5001 && b.p[0].fd == -1);
	CHECK(b.p[0].pid == getpid() && b.p[0].uid == geteuid() && !b.p[0].foreign);
	portclaim_release(&a);
	portclaim_release(&a); /* idempotent */
	CHECK(portclaim_take(&b, 0) == 0);
	CHECK(b.next == 2 && b.p[0].fd >= 0 && b.p[1].fd >= 0);
	CHECK(!portclaim_add(&c, 5001) && !portclaim_add(&c, 4999));
	CHECK(portclaim_take(&c, 0) == -EADDRINUSE);
	CHECK(c.next == 1 && c.p[0].port == 4999 && c.p[0].fd >= 0 && c.p[1].fd == -1);
	portclaim_release(&b);
	portclaim_release(&c);
	return 0;
}

static void test_take_release(void **state)
{
	(void)state;
	run_in_child(take_child);
}

/* A holder that dies (without letting go) 300 ms into the wait wakes the waiter at once; one
 * that stays is named when the wait ends. */
static int wait_child(void)
{
	struct portclaim c;
	pid_t pid;
	long t;
	int ret, cancel[2];

	if (private_netns())
		return 77;
	portclaim_init(&c, geteuid());
	CHECK(!portclaim_add(&c, 5000));
	pid = holder_child(5000, geteuid(), 300);
	CHECK(pid > 0);
	t = now_ms();
	ret = portclaim_take(&c, 5000);
	t = now_ms() - t;
	reap(pid);
	CHECK(ret == 0 && c.p[0].fd >= 0);
	if (t < 200 || t > 2000)
		fprintf(stderr, "wait_child: took %ld ms, want about 300\n", t);
	CHECK(t >= 200 && t <= 2000);
	portclaim_release(&c);

	pid = holder_child(5000, geteuid(), 0);
	CHECK(pid > 0 && !portclaim_add(&c, 5000));
	t = now_ms();
	ret = portclaim_take(&c, 300);
	t = now_ms() - t;
	reap(pid);
	CHECK(ret == -EADDRINUSE && c.next == 0 && c.p[0].pid == pid);
	CHECK(t >= 290 && t <= 2000);
	portclaim_release(&c);

	/* A readable cancel_fd (a stop) ends the wait at once, and outlives the release. */
	CHECK(pipe(cancel) == 0 && write(cancel[1], "x", 1) == 1);
	c.cancel_fd = cancel[0];
	pid = holder_child(5000, geteuid(), 0);
	CHECK(pid > 0 && !portclaim_add(&c, 5000));
	t = now_ms();
	ret = portclaim_take(&c, 5000);
	t = now_ms() - t;
	reap(pid);
	CHECK(ret == -ECANCELED && c.p[0].fd == -1 && t < 1000);
	portclaim_release(&c);
	CHECK(c.cancel_fd == cancel[0]);
	close(cancel[0]);
	close(cancel[1]);
	return 0;
}

static void test_wait(void **state)
{
	(void)state;
	run_in_child(wait_child);
}

/* Binds the claim name of port as a squatter would: listening with its queue filled (full),
 * or not listening. Returns the socket; *extra the one filling the queue (or -1). */
static int squat(uint16_t port, bool full, int *extra)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[64];
	socklen_t len;
	int s;

	*extra = -1;
	len = offsetof(struct sockaddr_un, sun_path) + 1 +
	      snprintf(name, sizeof(name), "ringrelay/claim/udp/%u", port);
	memcpy(sa.sun_path + 1, name, strlen(name));
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, len))
		return -1;
	if (full) {
		*extra = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (listen(s, 0) || *extra < 0 || connect(*extra, (struct sockaddr *)&sa, len))
			return -1;
	}
	return s;
}

/* Names bound and never listened on are no claims: each given up on after 200 ms, and that
 * time is not charged to the wait (two of them in a 300 ms wait); a claim's name listened on
 * with its queue filled (so that connecting names nobody) is no claim either, at once. */
static int unlistened_child(void)
{
	struct portclaim c;
	int s1, s2, s3, e1, e2, e3, ret;
	long t;

	if (private_netns())
		return 77;
	s1 = squat(5000, false, &e1);
	s2 = squat(5001, false, &e2);
	s3 = squat(5002, true, &e3);
	CHECK(s1 >= 0 && s2 >= 0 && s3 >= 0);
	portclaim_init(&c, geteuid());
	CHECK(!portclaim_add(&c, 5000) && !portclaim_add(&c, 5001));
	t = now_ms();
	ret = portclaim_take(&c, 300);
	t = now_ms() - t;
	CHECK(ret == 0 && c.next == 2 && c.p[0].foreign && c.p[1].foreign && c.p[0].fd == -1);
	CHECK(t >= 350 && t <= 5000);
	portclaim_release(&c);
	CHECK(!portclaim_add(&c, 5002));
	t = now_ms();
	ret = portclaim_take(&c, 30000);
	t = now_ms() - t;
	CHECK(ret == 0 && c.p[0].foreign && c.p[0].fd == -1 && t < 1000);
	portclaim_release(&c);
	close(s1);
	close(s2);
	close(s3);
	close(e3);
	return 0;
}

static void test_unlistened(void **state)
{
	(void)state;
	run_in_child(unlistened_child);
}

/* A claim of user nobody: not waited for by a daemon of another user, waited for by one of
 * nobody's (a reload's claim). Needs root (to be nobody). */
static int other_user_child(void)
{
	const uid_t nobody = 65534;
	struct portclaim c;
	pid_t pid;
	long t;
	int ret;

	if (geteuid() != 0 || private_netns())
		return 77;
	pid = holder_child(5000, nobody, 0);
	CHECK(pid > 0);
	portclaim_init(&c, 4242);
	CHECK(!portclaim_add(&c, 5000));
	t = now_ms();
	ret = portclaim_take(&c, 30000);
	t = now_ms() - t;
	CHECK(ret == 0 && c.p[0].foreign && c.p[0].fd == -1);
	CHECK(c.p[0].pid == pid && c.p[0].uid == nobody && t < 1000);
	portclaim_release(&c);
	portclaim_init(&c, nobody);
	CHECK(!portclaim_add(&c, 5000));
	ret = portclaim_take(&c, 0);
	reap(pid);
	CHECK(ret == -EADDRINUSE && !c.p[0].foreign && c.p[0].pid == pid);
	portclaim_release(&c);
	return 0;
}

static void test_other_user(void **state)
{
	(void)state;
	run_in_child(other_user_child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_take_release),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_unlistened),
		cmocka_unit_test(test_other_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
