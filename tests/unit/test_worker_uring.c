// SPDX-License-Identifier: MIT
/* The io_uring backend when the kernel takes no request for a moment (io_uring_enter takes
 * fewer SQEs than queued when it cannot allocate requests: -EAGAIN when none): a fixed file
 * emptied at once (a listener's, a mirror socket's) must not be emptied before what is queued
 * for it reaches the kernel, whose sends would otherwise go out on the next socket the slot
 * takes. One io_uring worker of a real runtime, a mirror relay on 127.0.0.1 whose member a
 * reload replaces (the new member's socket takes the old one's slot in the same command).
 * liburing's io_uring_submit and io_uring_submit_and_wait are the test's (the Makefile's
 * --wrap): the first fails while fail_submits counts down, as the kernel does when short of
 * memory; the second holds the worker between two turns of its loop, so that a datagram and
 * the reload's command complete in one batch. Also: a removed member's replies whose
 * completions come after the reload's command, its socket closed, are counted once.
 * Skipped where io_uring cannot run the relay. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime.h"
#include "uring.h"
#include "worker_backend.h"
#include "config_text.h"

#define LISTEN_PORT 47181

static int fail_submits; /* io_uring_submit fails (-EAGAIN, nothing taken) this many times */
static bool hold, held;	 /* io_uring_submit_and_wait waits while hold; held: it does */

int __real_io_uring_submit(struct io_uring *ring);
int __real_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);
int __wrap_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);

int __wrap_io_uring_submit(struct io_uring *ring)
{
	int left = __atomic_load_n(&fail_submits, __ATOMIC_ACQUIRE);

	/* As the kernel when it cannot allocate a request: nothing of the SQ taken. */
	while (left > 0) {
		if (__atomic_compare_exchange_n(&fail_submits, &left, left - 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return -EAGAIN;
	}
	return __real_io_uring_submit(ring);
}

int __wrap_io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	struct timespec ms = { 0, 1000000 };

	while (__atomic_load_n(&hold, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&held, true, __ATOMIC_RELEASE);
		nanosleep(&ms, NULL);
	}
	return __real_io_uring_submit_and_wait(ring, wait_nr);
}

struct fixture {
	struct runtime rt;
	struct uring_caps caps;
	int client, member[2]; /* member[0] is the relay's first member, [1] the one after */
	uint16_t member_port[2];
};

static int udp_socket(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (bound)
		*bound = ntohs(a.sin_port);
	return fd;
}

/* A mirror relay on 127.0.0.1:LISTEN_PORT whose one member is member[m]. */
static struct config *load(const struct fixture *f, int m)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-test-unused.sock\"; io_backend = \"io_uring\";\n"
		 "workers = 1; buffers = 64; gro = false;\n"
		 "relays = ( { name = \"m\"; mode = \"mirror\"; listen = [ \"127.0.0.1:%d\" ];\n"
		 " upstreams = [ \"127.0.0.1:%u\" ]; } );\n",
		 LISTEN_PORT, f->member_port[m]);
	return config_text(text);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[CONFIG_ERR_LEN] = "";
	struct config *cfg;
	struct plan plan;
	int i;

	if (!f)
		return -1;
	uring_probe(&f->caps);
	if (!f->caps.available || f->caps.missing[0]) {
		fprintf(stderr, "io_uring cannot run the relay here: %s\n", f->caps.missing);
		free(f);
		*state = NULL;
		return 0;
	}
	f->client = udp_socket(0, NULL);
	for (i = 0; i < 2; i++)
		f->member[i] = udp_socket(0, &f->member_port[i]);
	cfg = load(f, 0);
	if (f->client < 0 || f->member[0] < 0 || f->member[1] < 0 || !cfg ||
	    runtime_check(NULL, cfg, &plan, err, sizeof(err)) ||
	    runtime_prepare(&f->rt, cfg, &plan, &f->caps, err, sizeof(err)) ||
	    runtime_start(&f->rt, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int i;

	__atomic_store_n(&hold, false, __ATOMIC_RELEASE);
	__atomic_store_n(&fail_submits, 0, __ATOMIC_RELEASE);
	if (!f)
		return 0;
	runtime_fini(&f->rt);
	close(f->client);
	for (i = 0; i < 2; i++)
		close(f->member[i]);
	free(f);
	return 0;
}

static void send_text(const struct fixture *f, const char *text)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(LISTEN_PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	assert_int_equal(sendto(f->client, text, strlen(text), 0, (struct sockaddr *)&a,
				sizeof(a)),
			 (ssize_t)strlen(text));
}

/* The next datagram fd receives within 2 s, as text ("" when none came). */
static void recv_text(int fd, char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n = -1;

	if (poll(&p, 1, 2000) == 1)
		n = recv(fd, buf, len - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
}

/* What a reload does while the worker is held: runtime_reload, which waits for the worker. */
struct reloader {
	struct fixture *f;
	struct config *next;
	int ret;
	char err[CONFIG_ERR_LEN];
};

static void *reload_run(void *arg)
{
	struct reloader *r = arg;
	uint32_t slot[CONFIG_MAX_RELAYS];
	struct plan plan;
	bool applied;

	r->ret = runtime_check(&r->f->rt, r->next, &plan, r->err, sizeof(r->err));
	if (!r->ret)
		r->ret = runtime_reload_check(&r->f->rt, r->next, slot, r->err, sizeof(r->err));
	if (!r->ret)
		r->ret = runtime_reload(&r->f->rt, r->next, &plan, slot, &applied, r->err,
					sizeof(r->err));
	return NULL;
}

/* The count of eventfd fd as the kernel shows it: the worker has not read it yet while > 0. */
static unsigned long long eventfd_count(int fd)
{
	char path[64], line[128];
	unsigned long long n = 0;
	FILE *in;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	in = fopen(path, "r");
	if (!in)
		return 0;
	while (fgets(line, sizeof(line), in))
		if (sscanf(line, "eventfd-count: %llx", &n) == 1)
			break;
	fclose(in);
	return n;
}

/* Holds the worker between two turns of its loop, sends "copy" to the relay and starts the
 * reload to member 1; once the command waits behind the datagram, lets the kernel take no
 * request for the next fails submissions and releases the worker: the datagram's copy to
 * member 0 and the command that replaces it run in one batch of completions. Waits for the
 * reload. */
static void reload_held(struct fixture *f, int fails)
{
	struct timespec ms = { 0, 1000000 };
	struct reloader r = { .f = f, .next = load(f, 1) };
	struct worker *w = &f->rt.workers[0];
	pthread_t t;
	uint32_t li;
	int i, queued = 0;

	assert_non_null(r.next);
	__atomic_store_n(&held, false, __ATOMIC_RELEASE);
	__atomic_store_n(&hold, true, __ATOMIC_RELEASE);
	/* the loop turns at least once a tick (a second at most) */
	for (i = 0; i < 3000 && !__atomic_load_n(&held, __ATOMIC_ACQUIRE); i++)
		nanosleep(&ms, NULL);
	assert_true(i < 3000);
	send_text(f, "copy");
	/* in the listener's socket, and so before the command in the worker's next batch */
	for (li = 0; li < WORKER_MAX_LISTENERS && !w->listeners[li].in_use; li++)
		;
	assert_true(li < WORKER_MAX_LISTENERS);
	for (i = 0; i < 3000 && (ioctl(w->listeners[li].fd, FIONREAD, &queued) || !queued); i++)
		nanosleep(&ms, NULL);
	assert_true(i < 3000);
	assert_int_equal(pthread_create(&t, NULL, reload_run, &r), 0);
	for (i = 0; i < 3000 && !eventfd_count(w->cmd_fd); i++)
		nanosleep(&ms, NULL);
	assert_true(i < 3000);
	__atomic_store_n(&fail_submits, fails, __ATOMIC_RELEASE);
	__atomic_store_n(&hold, false, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(r.ret, 0);
}

/* The kernel takes nothing for a few submissions as the reload replaces the member: the copy
 * queued for the old member still goes to it, the new member gets only what came after the
 * reload, and the worker runs on. Before, the old member's slot was emptied with its copy
 * still in the SQ, the new member's socket took the slot in the same command, and the copy
 * went to the new member. */
static void test_short_submit(void **state)
{
	struct fixture *f = *state;
	struct worker *w;
	char buf[64];

	if (!f)
		skip();
	w = &f->rt.workers[0];
	send_text(f, "first");
	recv_text(f->member[0], buf, sizeof(buf));
	assert_string_equal(buf, "first");

	reload_held(f, 8);
	__atomic_store_n(&fail_submits, 0, __ATOMIC_RELEASE);
	send_text(f, "after");
	recv_text(f->member[1], buf, sizeof(buf));
	assert_string_equal(buf, "after"); /* not "copy" */
	recv_text(f->member[0], buf, sizeof(buf));
	assert_string_equal(buf, "copy");
	pthread_mutex_lock(&f->rt.sync.lock);
	assert_false(w->failed);
	assert_int_equal(w->state, WORKER_READY);
	pthread_mutex_unlock(&f->rt.sync.lock);
}

/* The kernel takes nothing any more: the worker's loop ends with an error that says so (main
 * then stops the process, whose service manager starts it again), and the copy for the old
 * member never goes to the new one. Before, the worker ran on and sent it there. */
static void test_no_submit(void **state)
{
	struct fixture *f = *state;
	struct pollfd p;
	struct worker *w;
	char buf[64];

	if (!f)
		skip();
	w = &f->rt.workers[0];
	send_text(f, "first");
	recv_text(f->member[0], buf, sizeof(buf));
	assert_string_equal(buf, "first");

	reload_held(f, 1 << 20);
	p = (struct pollfd){ .fd = f->rt.sync.failed_fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 2000), 1);
	pthread_mutex_lock(&f->rt.sync.lock);
	assert_true(w->failed);
	pthread_mutex_unlock(&f->rt.sync.lock);
	assert_string_equal(w->error, "worker 0: the kernel takes no more requests: Resource "
				      "temporarily unavailable");
	/* the worker has torn its ring down: nothing more can come */
	assert_true(recv(f->member[1], buf, sizeof(buf), MSG_DONTWAIT) < 0);
}

/* The replies a member sends while the reload that removes it waits for the worker (held, its
 * command queued first) complete in the same batch as the command, after it: the receive
 * took them before the close's read of the socket, so their completions come for a socket
 * closed since (stale). Each must count once, as the live receive counts it: received, and
 * mirror_reply. Before, the stale completions were dropped uncounted (reply_rx_pkts 0). */
static void test_closed_member_replies(void **state)
{
	struct fixture *f = *state;
	struct timespec ms = { 0, 1000000 };
	struct reloader r;
	struct worker *w;
	struct sockaddr_in to;
	socklen_t tl = sizeof(to);
	const struct relay_dir_counters *d;
	pthread_t t;
	uint32_t slot;
	char buf[64];
	int i, fd;

	if (!f)
		skip();
	w = &f->rt.workers[0];
	slot = f->rt.relay_slot[0];
	d = &w->counters[slot].dir[RELAY_DIR_TO_CLIENT];
	send_text(f, "first"); /* (the worker runs, its socket to member 0 open) */
	recv_text(f->member[0], buf, sizeof(buf));
	assert_string_equal(buf, "first");
	fd = w->relays[slot].mirror_fd[0];
	assert_true(fd >= 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&to, &tl), 0);

	r = (struct reloader){ .f = f, .next = load(f, 1) };
	assert_non_null(r.next);
	__atomic_store_n(&held, false, __ATOMIC_RELEASE);
	__atomic_store_n(&hold, true, __ATOMIC_RELEASE);
	for (i = 0; i < 3000 && !__atomic_load_n(&held, __ATOMIC_ACQUIRE); i++)
		nanosleep(&ms, NULL);
	assert_true(i < 3000);
	assert_int_equal(pthread_create(&t, NULL, reload_run, &r), 0);
	for (i = 0; i < 3000 && !eventfd_count(w->cmd_fd); i++)
		nanosleep(&ms, NULL);
	assert_true(i < 3000);
	for (i = 0; i < 8; i++)
		assert_int_equal(sendto(f->member[0], "reply", 5, 0, (struct sockaddr *)&to, tl),
				 5);
	__atomic_store_n(&hold, false, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(r.ret, 0);
	for (i = 0; i < 2000 && __atomic_load_n(&d->rx_pkts, __ATOMIC_RELAXED) < 8; i++)
		nanosleep(&ms, NULL);
	if (__atomic_load_n(&d->rx_pkts, __ATOMIC_RELAXED) != 8 ||
	    __atomic_load_n(&d->drops[DROP_MIRROR_REPLY], __ATOMIC_RELAXED) != 8)
		fail_msg("reply_rx_pkts=%llu reply_drop_mirror_reply=%llu, want the 8 sent",
			 (unsigned long long)d->rx_pkts,
			 (unsigned long long)d->drops[DROP_MIRROR_REPLY]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_short_submit, setup, teardown),
		/* (before test_no_submit: the listener of its broken ring lingers a while in
		 * the port's reuseport group, taking the next relay's datagrams) */
		cmocka_unit_test_setup_teardown(test_closed_member_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_submit, setup, teardown),
	};

	return cmocka_run_group_tests_name("worker_uring", tests, NULL, NULL);
}
