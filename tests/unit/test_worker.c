// SPDX-License-Identifier: MIT
/* What worker.c and worker_backend.h keep for sessions: which reply bursts go to the client
 * whole after its path refused one (both backends ask worker_reply_whole and tell
 * worker_reply_refused); and the generations of a relay slot's sessions across the tables
 * reloads give it, which completions still on their way tell apart; what a closing session's
 * or mirror's socket still holds, counted. The latter with a runtime of one worker on a stub
 * backend (tests/stub_worker.h: no thread of its own, a helper thread runs its commands), real
 * listeners and sockets on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "stub_worker.h"

/* A fresh session as session_insert leaves one, in slot 0 of a one-slot table (released
 * and taken again for each case: a new session of a slot forgets its predecessor's). */
static struct session *fresh_session(struct session_table *t, struct session *prev)
{
	static const struct siphash_key key = { 1, 2 };
	struct addr client;
	const char *why;
	struct session *s;

	if (prev) {
		session_release(t, prev);
	} else {
		assert_int_equal(session_table_init_key(t, 1, 1000, &key), 0);
	}
	assert_int_equal(addr_parse("198.18.0.1:4000", &client, &why), 0);
	s = session_insert(t, &client, 0, NULL, 1);
	assert_non_null(s);
	return s;
}

/* After the client's path refused a reply burst of g-byte segments, bursts of segments that
 * long or longer go in pieces, shorter ones and single datagrams (gso 0) whole; a later
 * refusal of longer segments changes nothing, one of shorter segments lowers the limit. Every
 * size, down to 1-byte segments: before, a refusal of those was kept as "the longest taken:
 * 0", which means none refused, and the next burst went whole to be refused again. */
static void test_reply_refused(void **state)
{
	static const uint16_t sizes[] = { 1, 2, 3, 576, 1200, 1472, 8972, 65534, 65535 };
	struct session_table t;
	struct session *s = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint16_t g = sizes[i];

		s = fresh_session(&t, s);
		assert_true(worker_reply_whole(s, 0));
		assert_true(worker_reply_whole(s, g));
		assert_true(worker_reply_whole(s, 65535));

		worker_reply_refused(s, g);
		assert_false(worker_reply_whole(s, g));
		assert_false(worker_reply_whole(s, 65535));
		assert_true(worker_reply_whole(s, 0)); /* a single datagram is no burst */
		if (g > 1)
			assert_true(worker_reply_whole(s, g - 1));
		if (g < 65535) {
			assert_false(worker_reply_whole(s, g + 1));
			worker_reply_refused(s, g + 1); /* longer: no change */
			assert_false(worker_reply_whole(s, g));
			if (g > 1)
				assert_true(worker_reply_whole(s, g - 1));
		}
		worker_reply_refused(s, 0); /* not a burst: no refusal */
		assert_false(worker_reply_whole(s, g));
		if (g > 1)
			assert_true(worker_reply_whole(s, g - 1));
	}

	/* Lowered by a refusal of shorter segments, down to 1 byte: every burst in pieces. */
	s = fresh_session(&t, s);
	worker_reply_refused(s, 1400);
	assert_true(worker_reply_whole(s, 1));
	worker_reply_refused(s, 1);
	assert_false(worker_reply_whole(s, 1));
	assert_false(worker_reply_whole(s, 1400));
	assert_true(worker_reply_whole(s, 0));
	/* The slot's next session starts with nothing refused. */
	s = fresh_session(&t, s);
	assert_true(worker_reply_whole(s, 1));
	session_table_fini(&t);
}

/* ---------------------------------------------------------------- a slot's tables */

#define RELAY_A "{ name = \"a\"; listen = [ \"127.0.0.1:47161\" ];" \
		" upstreams = [ \"127.0.0.1:47162\" ]; max_sessions = 8; }"
#define RELAY_B "{ name = \"b\"; listen = [ \"127.0.0.1:47163\" ];" \
		" upstreams = [ \"127.0.0.1:47162\" ]; max_sessions = 8; }"
/* another relay on a's listen address, taking a's slot once a has drained */
#define RELAY_C "{ name = \"c\"; listen = [ \"127.0.0.1:47161\" ];" \
		" upstreams = [ \"127.0.0.1:47164\" ]; max_sessions = 8; }"

static struct config *load_workers(const char *relays, int workers)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-test-unused.sock\"; io_backend = \"mmsg\";\n"
		 "workers = %d; relays = ( %s );\n",
		 workers, relays);
	return config_text(text);
}

static struct config *load(const char *relays)
{
	return load_workers(relays, 1);
}

static int setup(void **state)
{
	struct stub_worker *f = calloc(1, sizeof(*f));

	if (!f || stub_worker_setup(f, load(RELAY_A ", " RELAY_B), false))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	stub_worker_teardown(*state);
	free(*state);
	return 0;
}

static void reload(struct stub_worker *f, const char *relays)
{
	char err[CONFIG_ERR_LEN] = "";

	if (stub_worker_reload(f, load(relays), err, sizeof(err)))
		fail_msg("reload: %s", err);
}

/* The slot of the relay named name in the config in force. */
static uint32_t slot_of(const struct stub_worker *f, const char *name)
{
	uint32_t i;

	for (i = 0; i < f->rt.cfg->n_relays; i++)
		if (!strcmp(f->rt.cfg->relays[i].name, name))
			return f->rt.relay_slot[i];
	fail_msg("no relay %s", name);
	return UINT32_MAX;
}

/* A new session of client 198.18.0.<host>:4000 on the listener of relay slot r. */
static struct session *open_session(struct worker *w, uint32_t r, int host)
{
	struct sock_rx_meta meta = { 0 };
	char text[32];
	const char *why;
	struct addr client;
	struct session *s;
	uint32_t li;

	li = stub_worker_listener(w, r);
	assert_true(li < WORKER_MAX_LISTENERS);
	snprintf(text, sizeof(text), "198.18.0.%d:4000", host);
	assert_int_equal(addr_parse(text, &client, &why), 0);
	s = worker_session_get(w, li, &client, &meta, 1);
	assert_non_null(s);
	return s;
}

/* A removed relay's slot, once drained, takes another relay (a reload) with a new session
 * table: the sessions of the new table must not carry an (index, gen) pair, as a completion's
 * udata keeps it (UDATA_GEN_MASK), that a session of the old one had, whose completions may
 * still come (an io-wq receive, a late send's). Before, every new table began at gen 0 again:
 * the new table's first sessions were the old table's first, to the completions. */
static void test_table_gens(void **state)
{
	enum { N = 4, LIVES = 3 };
	struct stub_worker *f = *state;
	struct worker *w = &f->rt.workers[0];
	uint32_t old_idx[N * LIVES], old_gen[N * LIVES], n_old = 0, r, i, k;
	struct session *s;
	int j;

	w->now = worker_clock();
	r = slot_of(f, "a");
	/* Sessions of a, at N indices, of which the first has LIVES lives (closed and
	 * reopened: the first of its table to expire, each time). */
	for (j = 0; j < LIVES; j++) {
		s = open_session(w, r, 1);
		old_idx[n_old] = session_index(&w->relays[r].sessions, s);
		old_gen[n_old++] = s->gen & UDATA_GEN_MASK;
		if (j + 1 < LIVES) {
			w->now += (uint64_t)(w->relays[r].conf->session_timeout * 1e9) + 1;
			worker_tick(w);
			assert_int_equal(w->relays[r].sessions.active, 0);
		}
	}
	for (j = 2; j <= N; j++) {
		s = open_session(w, r, j);
		old_idx[n_old] = session_index(&w->relays[r].sessions, s);
		old_gen[n_old++] = s->gen & UDATA_GEN_MASK;
	}

	/* a goes (its sessions end, the slot drains), then c takes its slot */
	reload(f, RELAY_B);
	w->now = worker_clock();
	worker_tick(w);
	assert_true(worker_slot_unused(w, r));
	reload(f, RELAY_B ", " RELAY_C);
	assert_int_equal(slot_of(f, "c"), r);

	for (j = 1; j <= 2 * N; j++) {
		s = open_session(w, r, 100 + j);
		i = session_index(&w->relays[r].sessions, s);
		for (k = 0; k < n_old; k++)
			if (old_idx[k] == i && old_gen[k] == (s->gen & UDATA_GEN_MASK))
				fail_msg("session %u of the new table has gen %u, as one of the "
					 "old table had",
					 i, s->gen);
	}
}

/* ---------------------------------------------------------------- upstream_down */

/* "move" (the default) with reply_timeout, and "keep": two upstreams each, rr */
#define RELAY_MOVE "{ name = \"m\"; listen = [ \"127.0.0.1:47171\" ];" \
		   " upstreams = [ \"127.0.0.1:47172\", \"127.0.0.1:47173\" ];" \
		   " balance = \"rr\"; max_sessions = 8; reply_timeout = 1; }"
#define RELAY_KEEP "{ name = \"k\"; listen = [ \"127.0.0.1:47174\" ];" \
		   " upstreams = [ \"127.0.0.1:47172\", \"127.0.0.1:47173\" ];" \
		   " balance = \"rr\"; max_sessions = 8; upstream_down = \"keep\"; }"

static int setup_down(void **state)
{
	struct stub_worker *f = calloc(1, sizeof(*f));

	if (!f || stub_worker_setup(f, load(RELAY_MOVE ", " RELAY_KEEP), false))
		return -1;
	*state = f;
	return 0;
}

/* Publishes for relay slot r a pool of the one in force (kept in *was when NULL) with
 * member i's state and enabled as given (and member j's state, j < n), as main does after
 * a health or drain change: same member list, new pool. */
static struct pool *publish(struct stub_worker *f, uint32_t r, struct pool **was, uint32_t i,
			    enum health_state st, bool enabled, uint32_t j, enum health_state st_j)
{
	const struct pool *cur = *was ? *was : f->rt.pools[r];
	struct pool_member m[CONFIG_MAX_UPSTREAMS];
	struct pool *p;

	memcpy(m, cur->m, cur->n * sizeof(m[0]));
	m[i].state = st;
	m[i].enabled = enabled;
	if (j < cur->n)
		m[j].state = st_j;
	assert_int_equal(pool_new(&p, BALANCE_RR, m, cur->n, cur->members_gen), 0);
	if (!*was)
		*was = f->rt.pools[r];
	else
		pool_free(f->rt.pools[r]);
	__atomic_store_n(&f->rt.pools[r], p, __ATOMIC_RELEASE);
	return p;
}

/* Sessions of relay slot r open on member i of p. */
static uint32_t on_member(struct worker *w, uint32_t r, const struct pool *p, uint32_t i)
{
	struct session_table *t = &w->relays[r].sessions;
	uint32_t k, n = 0;

	for (k = 0; k < t->capacity; k++)
		if (t->slots[k].state == SESSION_ACTIVE &&
		    addr_equal(&t->slots[k].upstream_addr, &p->m[i].addr))
			n++;
	return n;
}

/* upstream_down = "move": once a pool with an upstream ejected or down is published, the
 * worker's next tick ends that upstream's sessions (sessions_moved), and the client's next
 * datagram opens one on another; not in panic (every upstream down), not for a drained one,
 * not with "keep", and nothing more while the pool stays the same. Before, they all stayed
 * (review-balance finding 1). */
static void test_upstream_down(void **state)
{
	struct stub_worker *f = *state;
	struct worker *w = &f->rt.workers[0];
	uint32_t rm = slot_of(f, "m"), rk = slot_of(f, "k"), r, h;
	struct pool *was[2] = { NULL, NULL };
	const struct pool *p;
	struct session *s;
	int k;

	w->now = worker_clock();
	for (k = 0; k < 2; k++) {
		r = k ? rk : rm;
		for (h = 1; h <= 4; h++)
			open_session(w, r, (int)h);
		p = f->rt.pools[r];
		assert_int_equal(on_member(w, r, p, 0), 2);
		assert_int_equal(on_member(w, r, p, 1), 2);
	}

	/* Panic (both down): nothing moves. Drained and down: its sessions end as usual. */
	p = publish(f, rm, &was[0], 1, HEALTH_DOWN, true, 0, HEALTH_EJECTED);
	assert_true(p->panic);
	worker_tick(w);
	assert_int_equal(w->relays[rm].sessions.active, 4);
	p = publish(f, rm, &was[0], 1, HEALTH_DOWN, false, 0, HEALTH_UP);
	worker_tick(w);
	assert_int_equal(w->relays[rm].sessions.active, 4);

	/* Member 1 ejected: its two sessions end at the next tick, member 0's stay. */
	for (k = 0; k < 2; k++) {
		r = k ? rk : rm;
		p = publish(f, r, &was[k], 1, HEALTH_EJECTED, true, 0, HEALTH_UP);
	}
	worker_tick(w);
	p = f->rt.pools[rm];
	assert_int_equal(on_member(w, rm, p, 1), 0);
	assert_int_equal(on_member(w, rm, p, 0), 2);
	assert_int_equal(w->counters[rm].sessions_moved, 2);
	assert_int_equal(w->counters[rm].sessions_active, 2);
	/* "keep": they stay */
	assert_int_equal(on_member(w, rk, f->rt.pools[rk], 1), 2);
	assert_int_equal(w->counters[rk].sessions_moved, 0);

	/* The moved clients come back on member 0; another tick of the same pool ends
	 * nothing. */
	for (h = 1; h <= 4; h++) {
		s = open_session(w, rm, (int)h);
		assert_true(addr_equal(&s->upstream_addr, &p->m[0].addr));
	}
	worker_tick(w);
	assert_int_equal(w->relays[rm].sessions.active, 4);
	assert_int_equal(w->counters[rm].sessions_moved, 2);

	/* Down by the checks, member 0 this time (member 1 up again): its four go. */
	p = publish(f, rm, &was[0], 0, HEALTH_DOWN, true, 1, HEALTH_UP);
	worker_tick(w);
	assert_int_equal(w->relays[rm].sessions.active, 0);
	assert_int_equal(w->counters[rm].sessions_moved, 6);

	for (k = 0; k < 2; k++) {
		r = k ? rk : rm;
		pool_free(f->rt.pools[r]);
		f->rt.pools[r] = was[k];
	}
}

/* A session whose counter slot counts another member since (a reload gave the slot to a new
 * member before the worker's APPLY ended the session) charges that member nothing: no
 * no-reply failure at reply_timeout, no reply or send counts (review-balance finding 7). */
static void test_slot_reused(void **state)
{
	struct stub_worker *f = *state;
	struct worker *w = &f->rt.workers[0];
	uint32_t r = slot_of(f, "m");
	struct worker_relay *wr = &w->relays[r];
	struct session *a, *b;
	struct relay_dir_counters up = { .tx_pkts = 3, .tx_bytes = 30 };
	struct relay_dir_counters down = { .rx_pkts = 2, .rx_bytes = 20 };

	w->now = worker_clock();
	a = open_session(w, r, 1);
	b = open_session(w, r, 2);
	assert_int_not_equal(a->upstream, b->upstream);
	/* a's slot now counts another member (as member_uc leaves it) */
	wr->uc_gen[a->upstream] = a->upstream_gen + 1;
	upstream_counters_zero(worker_uc(w, r, a->upstream));

	assert_int_equal(worker_session_up(w, r, a), SESSION_NONE);
	assert_int_equal(worker_session_up(w, r, b), b->upstream);
	worker_count_fast(w, r, a, &up, &down);
	worker_count_fast(w, r, b, &up, &down);
	assert_int_equal(worker_uc(w, r, a->upstream)->tx_pkts, 0);
	assert_int_equal(worker_uc(w, r, a->upstream)->rx_pkts, 0);
	assert_int_equal(worker_uc(w, r, b->upstream)->tx_pkts, 3);
	assert_int_equal(worker_uc(w, r, b->upstream)->rx_pkts, 2);

	/* reply_timeout passes, neither having had a reply (the counts above were folds') */
	a->down_datagrams = b->down_datagrams = 0;
	w->now += 2000000000ull;
	worker_tick(w);
	assert_int_equal(worker_uc(w, r, a->upstream)->noreply, 0);
	assert_int_equal(worker_uc(w, r, b->upstream)->noreply, 1);
}

/* ---------------------------------------------------------------- rr's start */

static int setup_two(void **state)
{
	struct stub_worker *f = calloc(1, sizeof(*f));

	if (!f || stub_worker_setup(f, load_workers(RELAY_MOVE, 2), false))
		return -1;
	*state = f;
	return 0;
}

/* balance = "rr": each worker starts the rotation at its own place (balancer_rr_start), so the
 * first new session of each of two workers goes to another member. Before, every worker
 * started at 0: the first session of each went to the first member. (The stub runs worker 0;
 * worker 1 is applied here, as its own thread would.) */
static void test_rr_start(void **state)
{
	struct stub_worker *f = *state;
	struct worker *w[2] = { &f->rt.workers[0], &f->rt.workers[1] };
	struct worker_cmd cmd = { .type = WORKER_CMD_APPLY, .cfg = f->rt.cfg, .plan = &f->rt.plan,
				  .relay_slot = f->rt.relay_slot, .offload = f->rt.offload };
	uint32_t r = slot_of(f, "m");
	const struct pool *p = f->rt.pools[r];
	struct session *s;
	int k;

	w[1]->ops = stub_worker_ops();
	if (worker_apply(w[1], &cmd))
		fail_msg("apply worker 1: %s", cmd.error);
	for (k = 0; k < 2; k++) {
		w[k]->now = worker_clock();
		s = open_session(w[k], r, 1);
		assert_true(addr_equal(&s->upstream_addr, &p->m[k].addr));
	}
	worker_close_all(w[1]);
}

/* ---------------------------------------------------------------- close counts */

#define RELAY_MANY "{ name = \"n\"; listen = [ \"127.0.0.1:47191\" ];" \
		   " upstreams = [ \"127.0.0.1:47192\" ]; max_sessions = 1500; }"
#define CLOSE_N 1200

/* A descriptor per session socket, above the usual soft limit of 1024; with a hard limit
 * below that the case is skipped (*state stays NULL). */
static int setup_many(void **state)
{
	struct stub_worker *f;
	struct rlimit rl;

	*state = NULL;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_max < CLOSE_N + 256)
		return 0;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f || stub_worker_setup(f, load(RELAY_MANY), false)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown_many(void **state)
{
	return *state ? teardown(state) : 0;
}

/* More sessions than the old per-tick bound of 1024 reads close in one tick (their idle
 * expiry), each with one reply still queued in its socket: every reply is counted as
 * received and session_closed. Before, the bound counted reads, and a close with anything
 * queued took one: the replies of the sessions after the 1024th were freed uncounted
 * (review-worker37 1). */
static void test_close_counts_many(void **state)
{
	struct stub_worker *f = *state;
	struct worker *w;
	uint32_t r, li;
	struct relay_dir_counters *down;
	struct sockaddr_in up = { .sin_family = AF_INET, .sin_port = htons(47192) };
	uint64_t rx0, closed0;
	int fd, i;

	if (!f)
		skip(); /* (the hard RLIMIT_NOFILE is below CLOSE_N sockets) */
	w = &f->rt.workers[0];
	r = slot_of(f, "n");
	li = stub_worker_listener(w, r);
	down = &w->counters[r].dir[RELAY_DIR_TO_CLIENT];
	rx0 = down->rx_pkts;
	closed0 = down->drops[DROP_SESSION_CLOSED];

	up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&up, sizeof(up)), 0);
	w->now = worker_clock();
	for (i = 0; i < CLOSE_N; i++) {
		struct sock_rx_meta meta = { 0 };
		struct sockaddr_storage to;
		socklen_t tl = sizeof(to);
		char text[40];
		const char *why;
		struct addr client;
		struct session *s;

		snprintf(text, sizeof(text), "198.18.%d.%d:4000", 10 + i / 200, 1 + i % 200);
		assert_int_equal(addr_parse(text, &client, &why), 0);
		s = worker_session_get(w, li, &client, &meta, 1);
		assert_non_null(s);
		assert_int_equal(getsockname(s->fd, (struct sockaddr *)&to, &tl), 0);
		assert_int_equal(sendto(fd, "r", 1, 0, (struct sockaddr *)&to, tl), 1);
	}
	close(fd);
	w->now += (uint64_t)(w->relays[r].conf->session_timeout * 1e9) + 1;
	worker_tick(w);
	assert_int_equal(w->relays[r].sessions.active, 0);
	if (down->drops[DROP_SESSION_CLOSED] - closed0 != CLOSE_N)
		fail_msg("%llu of %d replies queued at close counted session_closed",
			 (unsigned long long)(down->drops[DROP_SESSION_CLOSED] - closed0), CLOSE_N);
	assert_int_equal(down->rx_pkts - rx0, CLOSE_N);
}

/* ---------------------------------------------------------------- a mirror's closing sockets */

#define RELAY_MIRROR "{ name = \"mc\"; listen = [ \"127.0.0.1:47201\" ]; mode = \"mirror\";" \
		     " upstreams = [ \"127.0.0.1:47202\", \"127.0.0.1:47203\" ]; }"
#define RELAY_MIRROR_ONE "{ name = \"mc\"; listen = [ \"127.0.0.1:47201\" ];" \
			 " mode = \"mirror\"; upstreams = [ \"127.0.0.1:47202\" ]; }"
#define MIRROR_SENT 64

static int setup_mirror(void **state)
{
	struct stub_worker *f = calloc(1, sizeof(*f));

	if (!f || stub_worker_setup(f, load(RELAY_MIRROR), false))
		return -1;
	*state = f;
	return 0;
}

/* The index of relay slot r's mirror socket to 127.0.0.1:port. */
static uint32_t mirror_of(struct worker *w, uint32_t r, int port)
{
	struct worker_relay *wr = &w->relays[r];
	uint32_t j;

	for (j = 0; j < wr->n_mirror; j++)
		if (addr_port(&wr->mirror_addr[j]) == port)
			return j;
	fail_msg("no mirror socket to port %d", port);
	return UINT32_MAX;
}

/* Member 127.0.0.1:port floods relay slot r's socket to it (its receive buffer made small):
 * MIRROR_SENT replies of 500 bytes, some queued, the rest dropped by the full queue, none
 * read yet. */
static void member_floods(struct worker *w, uint32_t r, int port)
{
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_storage to;
	socklen_t tl = sizeof(to);
	int fd = w->relays[r].mirror_fd[mirror_of(w, r, port)], s, small = 2048, i;
	char buf[500] = { 0 };

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&to, &tl), 0);
	from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&from, sizeof(from)), 0);
	for (i = 0; i < MIRROR_SENT; i++)
		assert_int_equal(sendto(s, buf, sizeof(buf), 0, (struct sockaddr *)&to, tl),
				 sizeof(buf));
	close(s);
}

/* Since the relay's counts at mark (its reply direction): every reply counted once, as
 * received (by the relay and from the member at counter slot up) and read (mirror_reply)
 * or dropped by the full queue (socket_receive_overflow), each some. */
struct mirror_mark {
	uint64_t rx, read, ovfl, up_rx;
};

static struct mirror_mark mirror_mark(struct worker *w, uint32_t r, uint32_t up)
{
	const struct relay_dir_counters *d = &w->counters[r].dir[RELAY_DIR_TO_CLIENT];

	return (struct mirror_mark){ d->rx_pkts, d->drops[DROP_MIRROR_REPLY],
				     d->drops[DROP_SOCKET_OVERFLOW], worker_uc(w, r, up)->rx_pkts };
}

static void assert_all_counted(struct worker *w, uint32_t r, uint32_t up,
			       const struct mirror_mark *m0, const char *what)
{
	struct mirror_mark m = mirror_mark(w, r, up);

	if (m.rx - m0->rx != MIRROR_SENT || m.read - m0->read + m.ovfl - m0->ovfl != MIRROR_SENT ||
	    m.up_rx - m0->up_rx != MIRROR_SENT || m.read == m0->read || m.ovfl == m0->ovfl)
		fail_msg("%s: reply_rx_pkts +%llu, mirror_reply +%llu, socket_receive_overflow "
			 "+%llu, the member's rx_pkts +%llu; want %d = read + dropped (each some)",
			 what, (unsigned long long)(m.rx - m0->rx),
			 (unsigned long long)(m.read - m0->read),
			 (unsigned long long)(m.ovfl - m0->ovfl),
			 (unsigned long long)(m.up_rx - m0->up_rx), MIRROR_SENT);
}

/* A plain mirror's socket to a member counts what it still holds as it closes: the replies
 * queued unread (mirror_reply) and the drops no reply told (socket_receive_overflow, from
 * SO_MEMINFO), at the relay and the member; when a reload removes the member
 * (sync_mirrors), and at the stop (close_mirrors). Before, both were freed with the socket
 * uncounted (review-merge37 7). */
static void test_mirror_close_counts(void **state)
{
	struct stub_worker *f = *state;
	struct worker *w = &f->rt.workers[0];
	uint32_t r = slot_of(f, "mc"), up;
	struct mirror_mark m0;

	/* member 47203 leaves by a reload */
	up = w->relays[r].mirror_uslot[mirror_of(w, r, 47203)];
	member_floods(w, r, 47203);
	m0 = mirror_mark(w, r, up);
	reload(f, RELAY_MIRROR_ONE);
	assert_int_equal(w->relays[r].n_mirror, 1);
	assert_all_counted(w, r, up, &m0, "a reload removed the member");

	/* member 47202's socket at the stop */
	stub_worker_loop_stop(f);
	up = w->relays[r].mirror_uslot[mirror_of(w, r, 47202)];
	member_floods(w, r, 47202);
	m0 = mirror_mark(w, r, up);
	worker_close_all(w);
	assert_int_equal(w->relays[r].n_mirror, 0);
	assert_all_counted(w, r, up, &m0, "the stop");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_refused),
		cmocka_unit_test_setup_teardown(test_table_gens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_down, setup_down, teardown),
		cmocka_unit_test_setup_teardown(test_slot_reused, setup_down, teardown),
		cmocka_unit_test_setup_teardown(test_rr_start, setup_two, teardown),
		cmocka_unit_test_setup_teardown(test_close_counts_many, setup_many, teardown_many),
		cmocka_unit_test_setup_teardown(test_mirror_close_counts, setup_mirror, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
