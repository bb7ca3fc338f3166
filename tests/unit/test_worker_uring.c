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
 * completions come after the reload's command, its socket closed, are counted once: with
 * drops of its full socket counted by the close and told again by those completions'
 * SO_RXQ_OVFL, and with the new member's socket in its fixed slot (and in its counter slot).
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
#include <linux/sock_diag.h>
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

/* The members after the first (setup_full): the relay's counter slots all taken */
#define N_EXTRA (CONFIG_MAX_UPSTREAMS - 1)

struct fixture {
	struct runtime rt;
	struct uring_caps caps;
	int client, member[2]; /* member[0] is the relay's first member, [1] the one after */
	uint16_t member_port[2];
	int n_extra, extra[N_EXTRA]; /* members listed after member[0] or [1], which stay */
	uint16_t extra_port[N_EXTRA];
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

/* A mirror relay on 127.0.0.1:LISTEN_PORT whose first member is member[m], then the
 * extras. */
static struct config *load(const struct fixture *f, int m)
{
	char text[4096], more[N_EXTRA * 20 + 1] = "";
	size_t len = 0;
	int i;

	for (i = 0; i < f->n_extra; i++)
		len += (size_t)snprintf(more + len, sizeof(more) - len, ", \"127.0.0.1:%u\"",
					f->extra_port[i]);
	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-test-unused.sock\"; io_backend = \"io_uring\";\n"
		 "workers = 1; buffers = 64; gro = false;\n"
		 "relays = ( { name = \"m\"; mode = \"mirror\"; listen = [ \"127.0.0.1:%d\" ];\n"
		 " upstreams = [ \"127.0.0.1:%u\"%s ]; } );\n",
		 LISTEN_PORT, f->member_port[m], more);
	return config_text(text);
}

/* The relay of n_extra + 1 members, started. */
static int setup_members(void **state, int n_extra)
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
	for (f->n_extra = 0; f->n_extra < n_extra; f->n_extra++) {
		f->extra[f->n_extra] = udp_socket(0, &f->extra_port[f->n_extra]);
		if (f->extra[f->n_extra] < 0)
			return -1;
	}
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

static int setup(void **state)
{
	return setup_members(state, 0);
}

/* As many members as a relay takes: a new one takes the counter slot of the one it replaces
 * (upstream.c takes a free slot from past the last one taken). */
static int setup_full(void **state)
{
	return setup_members(state, N_EXTRA);
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
	for (i = 0; i < f->n_extra; i++)
		close(f->extra[i]);
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

/* The relay's socket to its first member: its fd, fixed slot and counter slot, and its
 * address (where the member's replies go). */
struct first_socket {
	int fd;
	uint32_t fixed, up;
	struct sockaddr_in at;
	socklen_t len;
};

static struct first_socket first_socket(struct fixture *f)
{
	const struct worker_relay *wr = &f->rt.workers[0].relays[f->rt.relay_slot[0]];
	struct first_socket m = { .fd = wr->mirror_fd[0], .fixed = wr->mirror_slot[0],
				  .up = wr->mirror_uslot[0], .len = sizeof(m.at) };

	assert_true(m.fd >= 0);
	assert_int_equal(getsockname(m.fd, (struct sockaddr *)&m.at, &m.len), 0);
	return m;
}

/* Holds the worker between two turns of its loop and starts the reload to member 1 (r, *t):
 * returns once its command waits, so that the completions of what members send from now on
 * come after the command's, in its batch. */
static void hold_reload(struct fixture *f, struct reloader *r, pthread_t *t)
{
	struct timespec ms = { 0, 1000000 };
	struct worker *w = &f->rt.workers[0];
	int i;

	*r = (struct reloader){ .f = f, .next = load(f, 1) };
	assert_non_null(r->next);
	__atomic_store_n(&held, false, __ATOMIC_RELEASE);
	__atomic_store_n(&hold, true, __ATOMIC_RELEASE);
	for (i = 0; i < 3000 && !__atomic_load_n(&held, __ATOMIC_ACQUIRE); i++)
		nanosleep(&ms, NULL);
	assert_true(i < 3000);
	assert_int_equal(pthread_create(t, NULL, reload_run, r), 0);
	for (i = 0; i < 3000 && !eventfd_count(w->cmd_fd); i++)
		nanosleep(&ms, NULL);
	assert_true(i < 3000);
}

/* Lets the worker run on and waits for the reload. */
static void release_reload(struct reloader *r, pthread_t t)
{
	__atomic_store_n(&hold, false, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(r->ret, 0);
}

/* Member socket fd sends n replies of len bytes to the relay's socket at to. */
static void replies(int fd, const struct first_socket *to, int n, size_t len)
{
	char buf[500] = { 0 };
	int i;

	assert_true(len <= sizeof(buf));
	for (i = 0; i < n; i++)
		assert_int_equal(sendto(fd, buf, len, 0, (const struct sockaddr *)&to->at,
					to->len),
				 (ssize_t)len);
}

/* The relay's reply_rx_pkts once it reached n, or after 2 s. */
static uint64_t wait_reply_rx(struct fixture *f, uint64_t n)
{
	const struct worker *w = &f->rt.workers[0];
	const uint64_t *rx = &w->counters[f->rt.relay_slot[0]].dir[RELAY_DIR_TO_CLIENT].rx_pkts;
	struct timespec ms = { 0, 1000000 };
	int i;

	for (i = 0; i < 2000 && __atomic_load_n(rx, __ATOMIC_RELAXED) < n; i++)
		nanosleep(&ms, NULL);
	return __atomic_load_n(rx, __ATOMIC_RELAXED);
}

static uint64_t drop_count(struct fixture *f, enum drop_reason why)
{
	const struct worker *w = &f->rt.workers[0];
	const struct relay_dir_counters *d =
		&w->counters[f->rt.relay_slot[0]].dir[RELAY_DIR_TO_CLIENT];

	return __atomic_load_n(&d->drops[why], __ATOMIC_RELAXED);
}

static uint64_t member_rx(struct fixture *f, uint32_t up)
{
	return __atomic_load_n(&worker_uc(&f->rt.workers[0], f->rt.relay_slot[0], up)->rx_pkts,
			       __ATOMIC_RELAXED);
}

/* The worker's socket to member 0 (opened by a first copy), to which member 0 sends 8
 * replies while the next reload's command waits for the held worker: their completions come
 * after the command, the socket closed by it. Returns that socket as it was. */
static struct first_socket replies_over_reload(struct fixture *f)
{
	struct first_socket old;
	struct reloader r;
	pthread_t t;
	char buf[64];

	send_text(f, "first"); /* (the worker runs, its socket to member 0 open) */
	recv_text(f->member[0], buf, sizeof(buf));
	assert_string_equal(buf, "first");
	old = first_socket(f);
	hold_reload(f, &r, &t);
	replies(f->member[0], &old, 8, 5);
	release_reload(&r, t);
	return old;
}

/* The replies a member sends while the reload that removes it waits for the worker (held, its
 * command queued first) complete in the same batch as the command, after it: the receive
 * took them before the close's read of the socket, so their completions come for a socket
 * closed since (stale). Each must count once, as the live receive counts it: received, and
 * mirror_reply. Before, the stale completions were dropped uncounted (reply_rx_pkts 0). */
static void test_closed_member_replies(void **state)
{
	struct fixture *f = *state;
	uint64_t rx;

	if (!f)
		skip();
	replies_over_reload(f);
	rx = wait_reply_rx(f, 8);
	if (rx != 8 || drop_count(f, DROP_MIRROR_REPLY) != 8)
		fail_msg("reply_rx_pkts=%llu reply_drop_mirror_reply=%llu, want the 8 sent",
			 (unsigned long long)rx,
			 (unsigned long long)drop_count(f, DROP_MIRROR_REPLY));
}

/* The drops socket fd's queue counted so far (SO_MEMINFO). */
static uint32_t socket_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len), 0);
	assert_true(len > SK_MEMINFO_DROPS * sizeof(mi[0]));
	return mi[SK_MEMINFO_DROPS];
}

static void set_rcvbuf(int fd, int bytes)
{
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)), 0);
}

/* As test_closed_member_replies, the removed member's socket full: its queue dropped some
 * replies (d1), took more that carry d1 as their SO_RXQ_OVFL, and dropped more again. The
 * close's read counts the drops from SO_MEMINFO (all of them); the completions after it that
 * carry d1 then tell nothing new (the closed socket's baseline, mirror_gone's ovfl). Every
 * reply counts once: reply_rx_pkts = mirror_reply + socket_receive_overflow = the replies
 * sent, all at the removed member's counter slot, none at the new member's. */
static void test_closed_member_overflow(void **state)
{
	enum { BURST1 = 32, BURST2 = 16, BURST3 = 8, SENT = BURST1 + BURST2 + BURST3 };
	struct fixture *f = *state;
	struct first_socket old, now;
	struct reloader r;
	uint32_t d1;
	pthread_t t;
	uint64_t rx, read, ovfl;
	char buf[64];

	if (!f)
		skip();
	send_text(f, "first");
	recv_text(f->member[0], buf, sizeof(buf));
	assert_string_equal(buf, "first");
	old = first_socket(f);
	set_rcvbuf(old.fd, 2048);

	hold_reload(f, &r, &t);
	replies(f->member[0], &old, BURST1, 500);
	d1 = socket_drops(old.fd);
	assert_true(d1 > 0 && d1 < BURST1); /* some queued, the rest dropped */
	set_rcvbuf(old.fd, 1 << 16);
	replies(f->member[0], &old, BURST2, 500); /* queued, each with SO_RXQ_OVFL d1 */
	assert_int_equal(socket_drops(old.fd), d1);
	set_rcvbuf(old.fd, 2048);
	replies(f->member[0], &old, BURST3, 500); /* dropped: the close counts past d1 */
	assert_int_equal(socket_drops(old.fd), d1 + BURST3);
	release_reload(&r, t);
	now = first_socket(f);
	assert_int_not_equal(now.up, old.up);

	rx = wait_reply_rx(f, SENT);
	read = drop_count(f, DROP_MIRROR_REPLY);
	ovfl = drop_count(f, DROP_SOCKET_OVERFLOW);
	if (rx != SENT || read + ovfl != SENT || ovfl != d1 + BURST3 ||
	    member_rx(f, old.up) != SENT || member_rx(f, now.up) != 0)
		fail_msg("reply_rx_pkts=%llu mirror_reply=%llu socket_receive_overflow=%llu (the "
			 "socket's drops %u), the member's rx_pkts %llu, the new member's %llu; "
			 "want %d = read + dropped, all the removed member's",
			 (unsigned long long)rx, (unsigned long long)read,
			 (unsigned long long)ovfl, d1 + BURST3,
			 (unsigned long long)member_rx(f, old.up),
			 (unsigned long long)member_rx(f, now.up), SENT);
}

/* After reused_slot's step (which: "old" or "new" socket's replies): want replies counted
 * at the relay, all as mirror_reply, 8 of them at the old member (none when taken: its
 * counter slot went to the new member) and want_new at the new one. */
static void reused_counts(struct fixture *f, const char *which, const struct first_socket *old,
			  const struct first_socket *now, bool taken, uint64_t want,
			  uint64_t want_new)
{
	uint64_t rx = wait_reply_rx(f, want), old_rx = taken ? 0 : member_rx(f, old->up);
	uint64_t new_rx = member_rx(f, now->up), mr = drop_count(f, DROP_MIRROR_REPLY);

	if (rx != want || mr != want || old_rx != (taken ? 0 : 8) || new_rx != want_new)
		fail_msg("the %s socket's: reply_rx_pkts=%llu mirror_reply=%llu, the old member's "
			 "rx_pkts %llu, the new member's %llu; want %llu, %llu, %d, %llu",
			 which, (unsigned long long)rx, (unsigned long long)mr,
			 (unsigned long long)old_rx, (unsigned long long)new_rx,
			 (unsigned long long)want, (unsigned long long)want, taken ? 0 : 8,
			 (unsigned long long)want_new);
}

/* The reload that removes the first member gives its fixed slot to the new member's socket
 * (and, taken, its counter slot too) while the old socket's stale completions are still to
 * come: those count once, at the old member's counter slot, or at the relay only once that
 * slot counts the new member; never at the new member (the slot's generation tells the two
 * sockets' receives apart). The new socket's own replies then count live, at the new member. */
static void reused_slot(struct fixture *f, bool taken)
{
	struct first_socket old, now;

	old = replies_over_reload(f);
	now = first_socket(f);
	assert_int_equal(now.fixed, old.fixed); /* the case: the new socket in the old's slot */
	assert_int_equal(now.up == old.up, taken);

	reused_counts(f, "old", &old, &now, taken, 8, 0);
	replies(f->member[1], &now, 4, 5);
	reused_counts(f, "new", &old, &now, taken, 12, 4);
}

/* The new member takes a free counter slot; the old member's keeps its count. */
static void test_reused_slot_counter_kept(void **state)
{
	if (!*state)
		skip();
	reused_slot(*state, false);
}

/* Every counter slot in use (setup_full): the new member takes the old one's. */
static void test_reused_slot_counter_taken(void **state)
{
	if (!*state)
		skip();
	reused_slot(*state, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_short_submit, setup, teardown),
		/* (before test_no_submit: the listener of its broken ring lingers a while in
		 * the port's reuseport group, taking the next relay's datagrams) */
		cmocka_unit_test_setup_teardown(test_closed_member_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_member_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reused_slot_counter_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reused_slot_counter_taken, setup_full,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_submit, setup, teardown),
	};

	return cmocka_run_group_tests_name("worker_uring", tests, NULL, NULL);
}
