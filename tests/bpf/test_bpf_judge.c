// SPDX-License-Identifier: MIT
/* What a reload's filter rules do to a worker's fast-path sessions: the rules' version
 * (filter_rules_version) moves only when the compiled rules change; a reload that changes no
 * rule judges no fast session's client again; one that changes them ends the sessions of the
 * clients they deny, judged over ticks a bounded number at a time (WORKER_JUDGE_PER_TICK), and
 * a further change starts the judging again from the first session. With the program loaded
 * (attached nowhere) and a runtime of one worker on a stub backend (tests/stub_worker.h: its
 * commands run on a helper thread), in a private network namespace; the sessions go straight
 * into the worker's table, marked fast. Needs root
 * (77 otherwise). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "log.h"
#include "stub_worker.h"

#define LISTEN "127.0.0.1:47391"
#define UPSTREAM "127.0.0.1:47392"
/* Three turns' worth: the reload's own turn cannot judge them all. */
#define N_SESSIONS (3 * WORKER_JUDGE_PER_TICK)

/* The config with deny list deny, lines blank lines further down. */
static struct config *load(const char *deny, int lines)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-test-unused.sock\";\n"
		 "io_backend = \"mmsg\"; workers = 1;\n%.*s"
		 "relays = ( { name = \"r\"; listen = [ \"" LISTEN "\" ];"
		 " upstreams = [ \"" UPSTREAM "\" ]; max_sessions = %u;"
		 " session_timeout = 3600.0; offload = \"tc\"; } );\n"
		 "filter = { mode = \"tc\"; interfaces = [ \"lo\" ]; deny = [ %s ]; };\n",
		 lines, "\n\n\n\n\n\n\n\n", N_SESSIONS, deny);
	return stub_worker_config(text);
}

static int setup(void **state)
{
	struct stub_worker *fx = calloc(1, sizeof(*fx));

	if (stub_worker_private_net())
		exit(77);
	log_set_level(LOG_LVL_WARN);
	if (!fx || stub_worker_setup(fx, load("\"198.19.255.0/24\"", 0), true))
		return -1;
	stub_worker_loop_stop(fx); /* the test ticks the worker itself */
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	stub_worker_teardown(*state);
	free(*state);
	return 0;
}

/* Reloads as the app does: the program's rules first, then the workers. */
static void reload(struct stub_worker *fx, const char *deny, int lines)
{
	char err[CONFIG_ERR_LEN] = "";

	if (stub_worker_reload(fx, load(deny, lines), err, sizeof(err)))
		fail_msg("reload: %s", err);
}

static struct session_table *table(struct stub_worker *fx)
{
	return &fx->rt.workers[0].relays[fx->rt.relay_slot[0]].sessions;
}

/* A fast session of client ip:40000 (the loop is stopped). */
static struct session *add_session(struct stub_worker *fx, uint32_t ip)
{
	struct worker *w = &fx->rt.workers[0];
	uint32_t r = fx->rt.relay_slot[0], li = stub_worker_listener(w, r);
	struct addr upstream, client;
	const char *why;
	struct session *s;

	assert_true(li < WORKER_MAX_LISTENERS);
	assert_int_equal(addr_parse(UPSTREAM, &upstream, &why), 0);
	assert_int_equal(addr_parse("198.18.0.0:40000", &client, &why), 0);
	client.in4.sin_addr.s_addr = htonl(ip);
	s = stub_worker_fast_session(w, r, li, &client, &upstream);
	assert_non_null(s);
	return s;
}

/* Fast sessions of clients 198.18.0.0 + k, k = 1..n, in slots 0..n-1. */
static void add_sessions(struct stub_worker *fx, uint32_t n)
{
	uint32_t k;

	for (k = 1; k <= n; k++)
		assert_int_equal(session_index(table(fx), add_session(fx, 0xc6120000u + k)), k - 1);
}

/* Whether client 198.18.0.0 + k still has its session (in slot k - 1). */
static bool has(struct stub_worker *fx, uint32_t k)
{
	const struct session *s = &table(fx)->slots[k - 1];

	return s->state == SESSION_ACTIVE &&
	       ntohl(s->client.in4.sin_addr.s_addr) == 0xc6120000u + k;
}

/* How many of clients from..to (198.18.0.0 + k) have their session. */
static uint32_t n_have(struct stub_worker *fx, uint32_t from, uint32_t to)
{
	uint32_t k, n = 0;

	for (k = from; k <= to; k++)
		n += has(fx, k);
	return n;
}

static void tick(struct stub_worker *fx)
{
	stub_worker_tick(fx);
}

/* The rules' version moves with the compiled rules, not with each update: the same rules
 * (also on other lines of the file) leave it, another prefix or rate limit moves it, and so
 * does a revert only where the rule set it goes back to is another. */
static void test_version(void **state)
{
	struct stub_worker *fx = *state;
	struct config *a = load("\"198.19.255.0/24\"", 0), *a2 = load("\"198.19.255.0/24\"", 5);
	struct config *b = load("\"198.19.255.0/24\", \"198.19.254.0/24\"", 0);
	struct config *c = load("\"198.19.255.0/24\", \"198.19.254.0/24\"", 0);
	char err[CONFIG_ERR_LEN];
	uint64_t v = filter_rules_version(fx->f);
	uint32_t serial;

	assert_true(a && a2 && b && c);
	assert_true(v >= 1);
	assert_int_equal(filter_update(fx->f, a, err, sizeof(err)), 0);
	assert_int_equal(filter_update(fx->f, a2, err, sizeof(err)), 0);
	assert_int_equal(filter_rules_version(fx->f), v);
	assert_int_equal(filter_update(fx->f, b, err, sizeof(err)), 0);
	assert_int_equal(filter_rules_version(fx->f), v + 1);
	/* a revert to the same rules */
	serial = filter_rules_serial(fx->f);
	assert_int_equal(filter_update(fx->f, b, err, sizeof(err)), 0);
	assert_int_equal(filter_rules_revert(fx->f, serial), 0);
	assert_int_equal(filter_rules_version(fx->f), v + 1);
	/* a rate limit is a rule too */
	c->filter.rate_pps = 1000;
	assert_int_equal(filter_update(fx->f, c, err, sizeof(err)), 0);
	assert_int_equal(filter_rules_version(fx->f), v + 2);
	/* a revert to other rules */
	serial = filter_rules_serial(fx->f);
	assert_int_equal(filter_update(fx->f, a, err, sizeof(err)), 0);
	assert_int_equal(filter_rules_version(fx->f), v + 3);
	assert_int_equal(filter_rules_revert(fx->f, serial), 0);
	assert_int_equal(filter_rules_version(fx->f), v + 4);
	config_free(a);
	config_free(a2);
	config_free(b);
	config_free(c);
}

/* A reload that changes no rule judges no fast session's client again. The marker: a fast
 * session of a client the rules deny (the program would not have let it open; any judgement
 * ends it) stays through reloads of the same rules, also written on other lines, and the
 * ticks after them; the next reload that changes a rule ends it. Before, every reload looked
 * each fast session's client up in the program's maps (two or three lookups each, on the
 * worker's thread, about 5 us each on the development VM), and the marker ended at the first. */
static void test_same_rules(void **state)
{
	struct stub_worker *fx = *state;
	uint32_t i;

	add_sessions(fx, 100);
	add_session(fx, 0xc613ff01u); /* 198.19.255.1, in the denied 198.19.255.0/24 */
	reload(fx, "\"198.19.255.0/24\"", 0);
	reload(fx, "\"198.19.255.0/24\"", 3);
	for (i = 0; i < 4; i++)
		tick(fx);
	assert_int_equal(table(fx)->active, 101);
	reload(fx, "\"198.19.255.0/24\", \"198.19.254.0/24\"", 0);
	assert_int_equal(table(fx)->active, 100);
	assert_int_equal(n_have(fx, 1, 100), 100);
}

/* A reload whose rules deny clients with fast sessions ends those sessions, and only those,
 * over ticks: the reload's own turn judges at most WORKER_JUDGE_PER_TICK map calls' worth
 * (the first slots), each tick the next. Another change while they are judged starts again
 * from the first slot: a client it denies there ends too. */
static void test_denied_end(void **state)
{
	struct stub_worker *fx = *state;
	/* clients 1..255 (slots 0..254), 256..511, and the last whole /24 (past two turns'
	 * worth; client N_SESSIONS, 198.18.<late + 1>.0, stays) */
	const uint32_t late = N_SESSIONS / 256 - 1, left = N_SESSIONS - 3 * 256 + 1;
	char deny[2][160];
	uint32_t i;

	snprintf(deny[0], sizeof(deny[0]),
		 "\"198.19.255.0/24\", \"198.18.0.0/24\", \"198.18.%u.0/24\"", late);
	snprintf(deny[1], sizeof(deny[1]),
		 "\"198.19.255.0/24\", \"198.18.0.0/24\", \"198.18.1.0/24\", \"198.18.%u.0/24\"",
		 late);
	add_sessions(fx, N_SESSIONS);
	reload(fx, deny[0], 0);
	assert_int_equal(n_have(fx, 1, 255), 0);
	assert_int_equal(n_have(fx, 256, N_SESSIONS), N_SESSIONS - 255);
	assert_int_equal(
	    counter_get(&fx->rt.workers[0].counters[fx->rt.relay_slot[0]].sessions_active),
	    N_SESSIONS - 255);
	/* 198.18.1.0/24 (clients 256..511) is behind the judging by now: it starts again */
	tick(fx);
	reload(fx, deny[1], 0);
	assert_int_equal(n_have(fx, 256, 511), 0);
	assert_int_equal(n_have(fx, 256 * late, 256 * late + 255), 256);
	for (i = 0; i < 8 && table(fx)->active > left; i++)
		tick(fx);
	assert_int_equal(table(fx)->active, left);
	assert_int_equal(n_have(fx, 512, 256 * late - 1) + n_have(fx, 256 * late + 256, N_SESSIONS),
			 left);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_denied_end, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
