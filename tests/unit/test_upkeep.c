// SPDX-License-Identifier: MIT
/* The upkeep thread (upkeep.c): its active health checks against an upstream on loopback that
 * answers late, or in time while the thread waits for the app lock (a reply counts only for
 * its own probe and only if it came by the deadline, whenever the thread reads it), their
 * socket kept while they succeed; and its
 * loop going on through failing polls (linked with --wrap=poll). */
#include <arpa/inet.h>
#include <errno.h>
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "app.h"
#include "config.h"
#include "upkeep.h"
#include "upstream.h"
#include "worker.h"

#define MS 1000000ull

/* While above 0, poll fails (ENOMEM), each call taking one. */
static int fail_polls;

int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (__atomic_load_n(&fail_polls, __ATOMIC_RELAXED) > 0 &&
	    __atomic_sub_fetch(&fail_polls, 1, __ATOMIC_RELAXED) >= 0) {
		errno = ENOMEM;
		return -1;
	}
	return __real_poll(fds, n, timeout);
}

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The upstream: answers each datagram after delay; hold: at datagram hold_at (from 1), takes
 * the app lock for that long (the thread then waits for it). Ends at until or stop. */
struct replier {
	int fd;
	uint16_t port;
	struct app *a;
	uint64_t delay, hold, until;
	uint32_t hold_at;
	bool stop;
	uint32_t got;
	uint16_t first_from; /* the source port of the first probe */
	uint32_t other_from; /* probes from another port */
	pthread_t t;
};

static void *replier_main(void *arg)
{
	struct replier *r = arg;
	struct {
		uint64_t due;
		struct sockaddr_in from;
		char buf[64];
		ssize_t len;
	} q[32];
	uint32_t nq = 0, i;
	uint64_t now, unlock_at = 0;
	bool locked = false;

	while ((now = mono()) < r->until && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		socklen_t fl = sizeof(q[0].from);

		if (poll(&pfd, 1, 2) > 0 && nq < 32) {
			q[nq].len = recvfrom(r->fd, q[nq].buf, sizeof(q[nq].buf), 0,
					     (struct sockaddr *)&q[nq].from, &fl);
			if (q[nq].len >= 0) {
				q[nq].due = mono() + r->delay;
				nq++;
				if (r->hold && r->got + 1 == r->hold_at) {
					pthread_mutex_lock(&r->a->lock);
					locked = true;
					unlock_at = mono() + r->hold;
				}
				if (!r->got)
					r->first_from = q[nq - 1].from.sin_port;
				else if (q[nq - 1].from.sin_port != r->first_from)
					r->other_from++;
				__atomic_add_fetch(&r->got, 1, __ATOMIC_RELAXED);
			}
		}
		now = mono();
		for (i = 0; i < nq;) {
			if (now < q[i].due) {
				i++;
				continue;
			}
			(void)sendto(r->fd, q[i].buf, (size_t)q[i].len, 0,
				     (struct sockaddr *)&q[i].from, sizeof(q[i].from));
			q[i] = q[--nq];
		}
		if (locked && now >= unlock_at) {
			pthread_mutex_unlock(&r->a->lock);
			locked = false;
		}
	}
	if (locked)
		pthread_mutex_unlock(&r->a->lock);
	return NULL;
}

static void replier_start(struct replier *r, struct app *a, uint64_t delay, uint64_t hold,
			  uint32_t hold_at)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);

	memset(r, 0, sizeof(*r));
	r->a = a;
	r->delay = delay;
	r->hold = hold;
	r->hold_at = hold_at;
	r->until = mono() + 5000 * MS; /* bounded whatever the test does */
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(r->fd, (struct sockaddr *)&sin, &sl), 0);
	r->port = ntohs(sin.sin_port);
}

static void replier_run(struct replier *r)
{
	assert_int_equal(pthread_create(&r->t, NULL, replier_main, r), 0);
}

static void replier_stop(struct replier *r)
{
	__atomic_store_n(&r->stop, true, __ATOMIC_RELEASE);
	pthread_join(r->t, NULL);
	close(r->fd);
}

/* An app with the relays of text (relay "a" first), its pool published, no workers. */
static struct app *app_new(const char *text, bool resolve)
{
	static const uint32_t slot[CONFIG_MAX_RELAYS] = {0};
	char err[CONFIG_ERR_LEN];
	struct app *a = calloc(1, sizeof(*a));
	struct config *cfg = NULL;

	assert_non_null(a);
	if (config_load_string(text, "t.conf", &cfg, err, sizeof(err)))
		fail_msg("config: %s", err);
	if (resolve && config_resolve(cfg, NULL, NULL, err, sizeof(err)))
		fail_msg("resolve: %s", err);
	pthread_mutex_init(&a->lock, NULL);
	a->rt.cfg = cfg;
	a->rt.ups = calloc(1, sizeof(*a->rt.ups));
	assert_non_null(a->rt.ups);
	assert_int_equal(upstream_publish(&a->rt, cfg, slot, err, sizeof(err)), 0);
	return a;
}

static void app_free(struct app *a)
{
	upstream_fini(&a->rt);
	free(a->rt.ups);
	config_free(a->rt.cfg);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* The health of relay a's member at 127.0.0.1:port (lock held). */
static const struct upstream_slot *member(struct app *a, uint16_t port)
{
	const struct pool *p = a->rt.pools[0];
	char want[32], got[ADDR_STRLEN];
	uint32_t k;

	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	for (k = 0; p && k < p->n; k++) {
		addr_format(&p->m[k].addr, got, sizeof(got));
		if (!strcmp(got, want))
			return &a->rt.ups->relay[0].slot[p->m[k].slot];
	}
	fail_msg("no member %s", want);
	return NULL;
}

/* Starts the replier r and the upkeep thread (*k) on an app of one relay "a" whose first upstream
 * is r, then the upstreams in more (a list's further entries, or ""), the relay settings in
 * extra and the health check of check; resolve: its names looked up. */
static struct app *checks_start(struct replier *r, const char *more, const char *extra,
				const char *check, bool resolve, struct upkeep **k)
{
	char err[256], text[512];
	struct app *a;

	snprintf(text, sizeof(text),
		 "relays = ( { name = \"a\"; listen = [ \"127.0.0.1:5000\" ];\n"
		 " upstreams = [ \"127.0.0.1:%u\"%s ];\n%s"
		 " health_check = { %s send = \"ping\"; expect = \"ping\"; }; } );\n",
		 r->port, more, extra, check);
	a = app_new(text, resolve);
	r->a = a;
	replier_run(r);
	if (upkeep_start(a, 0, k, err, sizeof(err)))
		fail_msg("upkeep_start: %s", err);
	return a;
}

/* Every reply comes 250 ms late, after the next probe (every 200 ms) is out: none counts for
 * the next probe, so the upstream goes down (the old code took each for the next probe's). */
static void test_late_replies_fail(void **state)
{
	struct replier r;
	struct upkeep *k;
	struct app *a;
	uint64_t end;
	bool down = false;

	(void)state;
	replier_start(&r, NULL, 250 * MS, 0, 0);
	a = checks_start(&r, "", "", "interval = 0.2; timeout = 0.1; rise = 1; fall = 2;", false,
			 &k);
	for (end = mono() + 2000 * MS; !down && mono() < end;) {
		usleep(20000);
		pthread_mutex_lock(&a->lock);
		down = health_state(&member(a, r.port)->h) == HEALTH_DOWN;
		pthread_mutex_unlock(&a->lock);
	}
	upkeep_stop(k);
	replier_stop(&r);
	assert_true(r.got >= 2);
	assert_true(down);
	app_free(a);
}

/* The second probe's reply comes in time (150 ms of 300) while the thread waits for the app
 * lock (held for 600 ms from that probe on), here at the end of a lookup (a name re-resolved
 * every tick, started just before the probe): the check passes, however late the thread
 * reads it (the old code failed it: its deadline was judged before reading). */
static void test_reply_in_time_counts_after_lock_wait(void **state)
{
	const struct upstream_slot *s;
	struct replier r;
	struct upkeep *k;
	struct app *a;
	uint64_t end;
	uint32_t ok = 0;

	(void)state;
	replier_start(&r, NULL, 150 * MS, 600 * MS, 2);
	a = checks_start(&r, ", \"localhost:9\"", " resolve_interval = 0.1;\n",
			 "interval = 1; timeout = 0.3; rise = 1; fall = 1;", true, &k);
	for (end = mono() + 2500 * MS; ok < 2 && mono() < end;) {
		usleep(20000);
		pthread_mutex_lock(&a->lock);
		ok = member(a, r.port)->h.check_ok;
		pthread_mutex_unlock(&a->lock);
	}
	upkeep_stop(k);
	replier_stop(&r);
	pthread_mutex_lock(&a->lock);
	s = member(a, r.port);
	assert_int_equal(s->h.check_ok, 2);
	assert_int_equal(health_state(&s->h), HEALTH_UP);
	assert_true(s->changed == 0); /* never marked down */
	pthread_mutex_unlock(&a->lock);
	app_free(a);
}

/* Probes that succeed go from one socket (one source port: one conntrack or NAT entry, where a
 * socket per probe made one each); one that fails gets a new one. */
static void test_probes_keep_their_port(void **state)
{
	struct replier r;
	struct upkeep *k;
	struct app *a;
	uint64_t end;

	(void)state;
	replier_start(&r, NULL, 0, 0, 0);
	a = checks_start(&r, "", "", "interval = 0.1; timeout = 0.08; rise = 1; fall = 1;", false,
			 &k);
	for (end = mono() + 2000 * MS; __atomic_load_n(&r.got, __ATOMIC_RELAXED) < 6 &&
				       mono() < end;)
		usleep(20000);
	upkeep_stop(k);
	replier_stop(&r);
	pthread_mutex_lock(&a->lock);
	/* (a failure, fall = 1: marked down, would rightly change the port: none came) */
	if (!member(a, r.port)->changed)
		assert_int_equal(r.other_from, 0);
	pthread_mutex_unlock(&a->lock);
	assert_true(r.got >= 6);
	app_free(a);
}

/* Polls fail for a while: the thread goes on, and an ejection ends in its time (the old
 * thread ended silently at the first failure, and the upstream stayed ejected). */
static void test_poll_failures_do_not_end_the_thread(void **state)
{
	const struct upstream_slot *s;
	struct upstream_relay *ur;
	struct upkeep *k;
	struct app *a;
	char err[256];
	uint64_t end;
	bool up = false;

	(void)state;
	a = app_new("relays = ( { name = \"a\"; listen = [ \"127.0.0.1:5000\" ];\n"
		    " upstreams = [ \"198.18.2.2:53\", \"198.18.2.3:53\" ]; } );\n",
		    false);
	ur = &a->rt.ups->relay[0];
	ur->slot[a->rt.pools[0]->m[0].slot].h.ejected_until = worker_clock() + 300 * MS;
	ur->slot[a->rt.pools[0]->m[0].slot].h.ejections = 1;
	ur->rebuild = true; /* the first tick publishes it ejected */
	__atomic_store_n(&fail_polls, 5, __ATOMIC_RELAXED);
	assert_int_equal(upkeep_start(a, 0, &k, err, sizeof(err)), 0);
	for (end = mono() + 2000 * MS; !up && mono() < end;) {
		usleep(20000);
		pthread_mutex_lock(&a->lock);
		s = &ur->slot[a->rt.pools[0]->m[0].slot];
		up = health_state(&s->h) == HEALTH_UP && a->rt.pools[0]->m[0].state == HEALTH_UP;
		pthread_mutex_unlock(&a->lock);
	}
	assert_int_equal(__atomic_load_n(&fail_polls, __ATOMIC_RELAXED), 0);
	/* a stop still ends it while every poll fails */
	__atomic_store_n(&fail_polls, 1 << 30, __ATOMIC_RELAXED);
	usleep(250000);
	upkeep_stop(k);
	__atomic_store_n(&fail_polls, 0, __ATOMIC_RELAXED);
	assert_true(up);
	app_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_late_replies_fail),
	    cmocka_unit_test(test_reply_in_time_counts_after_lock_wait),
	    cmocka_unit_test(test_probes_keep_their_port),
	    cmocka_unit_test(test_poll_failures_do_not_end_the_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
