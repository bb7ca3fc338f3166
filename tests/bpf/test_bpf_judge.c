// SPDX-License-Identifier: MIT
/* What a reload's filter rules do to a worker's fast-path sessions: the rules' version
 * (filter_rules_version) moves only when the compiled rules change; a reload that changes no
 * rule judges no fast session's client again; one that changes them ends the sessions of the
 * clients they deny, judged over ticks a bounded number at a time (WORKER_JUDGE_PER_TICK) in a
 * lap of each relay's table from its cursor, and a further change starts a new lap there; a
 * session that opens fast after the change, behind the cursor, is judged as it opens, and only
 * clients whose datagrams arrive where the filter runs are. With the program loaded
 * (attached nowhere) and a runtime of one worker on a stub backend (tests/stub_worker.h: its
 * commands run on a helper thread), in a private network namespace; the sessions go straight
 * into the worker's table, marked fast, or open through worker_session_get with the fast path
 * on lo. Needs root
 * (77 otherwise). */
#include <arpa/inet.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <cmocka.h>

#include "log.h"
#include "stub_worker.h"

#define LISTEN "127.0.0.1:47391"
#define UPSTREAM "127.0.0.1:47392"
/* Three turns' worth: the reload's own turn cannot judge them all. */
#define N_SESSIONS (3 * WORKER_JUDGE_PER_TICK)

/* A second relay, on its own port. */
#define RELAY2                                                                                     \
	", { name = \"r2\"; listen = [ \"127.0.0.1:47393\" ]; upstreams = [ \"" UPSTREAM "\" ];"   \
	" max_sessions = 256; session_timeout = 3600.0; offload = \"tc\"; }"

/* The config with deny list deny, lines blank lines further down, relay r and then what more
 * (RELAY2 or ""). */
static struct config *load_relays(const char *deny, int lines, const char *more)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-test-unused.sock\";\n"
		 "io_backend = \"mmsg\"; workers = 1;\n%.*s"
		 "relays = ( { name = \"r\"; listen = [ \"" LISTEN "\" ];"
		 " upstreams = [ \"" UPSTREAM "\" ]; max_sessions = %u;"
		 " session_timeout = 3600.0; offload = \"tc\"; }%s );\n"
		 "filter = { mode = \"tc\"; interfaces = [ \"lo\" ]; deny = [ %s ]; };\n",
		 lines, "\n\n\n\n\n\n\n\n", N_SESSIONS, more, deny);
	return stub_worker_config(text);
}

static struct config *load(const char *deny, int lines)
{
	return load_relays(deny, lines, "");
}

static int setup_relays(void **state, const char *more)
{
	struct stub_worker *fx = calloc(1, sizeof(*fx));

	if (stub_worker_private_net())
		exit(77);
	log_set_level(LOG_LVL_WARN);
	if (!fx || stub_worker_setup(fx, load_relays("\"198.19.255.0/24\"", 0, more), true))
		return -1;
	stub_worker_loop_stop(fx); /* the test ticks the worker itself */
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return setup_relays(state, "");
}

/* Relays r and r2. */
static int setup_two(void **state)
{
	return setup_relays(state, RELAY2);
}

static int teardown(void **state)
{
	stub_worker_teardown(*state);
	free(*state);
	return 0;
}

/* Reloads as the app does: the program's rules first, then the workers. */
static void reload_config(struct stub_worker *fx, struct config *next)
{
	char err[CONFIG_ERR_LEN] = "";

	if (stub_worker_reload(fx, next, err, sizeof(err)))
		fail_msg("reload: %s", err);
}

static void reload(struct stub_worker *fx, const char *deny, int lines)
{
	reload_config(fx, load(deny, lines));
}

/* The session table of the config's relay i. */
static struct session_table *table_of(struct stub_worker *fx, uint32_t i)
{
	return &fx->rt.workers[0].relays[fx->rt.relay_slot[i]].sessions;
}

static struct session_table *table(struct stub_worker *fx)
{
	return table_of(fx, 0);
}

/* A fast session of client ip:40000 on the config's relay i (the loop is stopped). */
static struct session *add_session_to(struct stub_worker *fx, uint32_t i, uint32_t ip)
{
	struct worker *w = &fx->rt.workers[0];
	uint32_t r = fx->rt.relay_slot[i], li = stub_worker_listener(w, r);
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

static struct session *add_session(struct stub_worker *fx, uint32_t ip)
{
	return add_session_to(fx, 0, ip);
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

/* The rules' version moves with what judging a fast session's client reads, not with each
 * update: the same rules (also on other lines, in another order), a rate limit and another
 * unparsed verdict leave it (review-reloadcost F4: before, the last three moved it, and every
 * worker judged all its fast sessions again); another prefix and another default verdict move
 * it, and so does a revert only where the rule set it goes back to is another. */
static void test_version(void **state)
{
	struct stub_worker *fx = *state;
	struct config *a = load("\"198.19.255.0/24\"", 0), *a2 = load("\"198.19.255.0/24\"", 5);
	struct config *b = load("\"198.19.255.0/24\", \"198.19.254.0/24\"", 0);
	struct config *b2 = load("\"198.19.254.0/24\", \"198.19.255.0/24\"", 0);
	struct config *c = load("\"198.19.255.0/24\", \"198.19.254.0/24\"", 0);
	struct config *e = load("\"198.19.255.0/24\", \"198.19.254.0/24\"", 0);
	char err[CONFIG_ERR_LEN];
	uint64_t v = filter_rules_version(fx->f);
	uint32_t serial;

	assert_true(a && a2 && b && b2 && c && e);
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
	/* the same prefixes in another order; what only the program applies */
	assert_int_equal(filter_update(fx->f, b2, err, sizeof(err)), 0);
	assert_int_equal(filter_rules_version(fx->f), v + 1);
	c->filter.rate_pps = 1000;
	c->filter.unparsed = c->filter.unparsed == FILTER_VERDICT_DENY ? FILTER_VERDICT_ALLOW
								      : FILTER_VERDICT_DENY;
	assert_int_equal(filter_update(fx->f, c, err, sizeof(err)), 0);
	assert_int_equal(filter_rules_version(fx->f), v + 1);
	/* another default verdict */
	e->filter.default_verdict = FILTER_VERDICT_DENY;
	assert_int_equal(filter_update(fx->f, e, err, sizeof(err)), 0);
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
	config_free(b2);
	config_free(c);
	config_free(e);
}

/* A reload that adds a relay (another listen port), the filter rules unchanged, leaves the
 * version: its port was no relay's, so no session was there. Before, the new relay port moved
 * it (1 -> 2), and every worker judged all its fast sessions again. (review-reloadcost F4) */
static void test_version_relay_port(void **state)
{
	struct stub_worker *fx = *state;
	struct config *two = load_relays("\"198.19.255.0/24\"", 0, RELAY2);
	char err[CONFIG_ERR_LEN];
	uint64_t v = filter_rules_version(fx->f);

	assert_non_null(two);
	assert_int_equal(filter_update(fx->f, two, err, sizeof(err)), 0);
	assert_int_equal(filter_rules_version(fx->f), v);
	config_free(two);
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

/* The relay's judging cursor (the slot its lap judges next). */
static uint32_t cursor(struct stub_worker *fx)
{
	return fx->rt.workers[0].relays[fx->rt.relay_slot[0]].judge_next;
}

/* A reload whose rules deny clients with fast sessions ends those sessions, and only those,
 * over ticks: the reload's own turn judges at most WORKER_JUDGE_PER_TICK map calls' worth
 * from the cursor (here the first slots), each tick the next. Another change while they are
 * judged starts a new lap where the cursor is, round the table: a client it denies behind
 * the cursor ends when the lap comes round to it. */
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
	/* 198.18.1.0/24 (clients 256..511, slots 255..510) is behind the cursor by now: the new
	 * rules' lap reaches it after the rest of the table, the late /24 first */
	tick(fx);
	assert_true(cursor(fx) > 511 && cursor(fx) < 256 * late - 1);
	reload(fx, deny[1], 0);
	assert_int_equal(n_have(fx, 256, 511), 256);
	assert_int_equal(n_have(fx, 256 * late, 256 * late + 255), 256);
	tick(fx);
	assert_int_equal(n_have(fx, 256 * late, 256 * late + 255), 0);
	tick(fx);
	assert_int_equal(n_have(fx, 256, 511), 0);
	for (i = 0; i < 8 && table(fx)->active > left; i++)
		tick(fx);
	assert_int_equal(table(fx)->active, left);
	assert_int_equal(n_have(fx, 512, 256 * late - 1) + n_have(fx, 256 * late + 256, N_SESSIONS),
			 left);
}

/* Rule changes that come faster than a lap (two turns apart here: a reload, then a tick; a
 * lap of the table takes three) still reach the table's far slots: each change goes on from
 * the cursor. Before, each restarted the walk at slot 0, and the late /24, denied by every
 * one of the rule sets, kept its 256 sessions through ten changes and twenty turns (the whole
 * table's worth six times over). (review-reloadcost F1) */
static void test_starved(void **state)
{
	struct stub_worker *fx = *state;
	const uint32_t late = N_SESSIONS / 256 - 1;
	char deny[2][160];
	uint32_t i;

	snprintf(deny[0], sizeof(deny[0]),
		 "\"198.19.255.0/24\", \"198.19.254.0/24\", \"198.18.%u.0/24\"", late);
	snprintf(deny[1], sizeof(deny[1]),
		 "\"198.19.255.0/24\", \"198.19.253.0/24\", \"198.18.%u.0/24\"", late);
	add_sessions(fx, N_SESSIONS);
	for (i = 0; i < 10; i++) {
		reload(fx, deny[i & 1], 0);
		tick(fx);
	}
	assert_int_equal(n_have(fx, 256 * late, 256 * late + 255), 0);
	assert_int_equal(table(fx)->active, N_SESSIONS - 256);
}

/* A re-apply that turns a relay's fast path off in the middle of a lap (keep_fast: an
 * interface event; its sessions keep their entries) does not pause the lap. Before, the relay
 * was skipped until a reload: the late /24, denied, kept its 256 sessions (still fast) through
 * 8 ticks, replies flowing below the filter. (review-reloadcost F2) */
static void test_keep_fast(void **state)
{
	struct stub_worker *fx = *state;
	const uint32_t late = N_SESSIONS / 256 - 1;
	char deny[160], err[CONFIG_ERR_LEN];
	uint32_t i;

	snprintf(deny, sizeof(deny), "\"198.19.255.0/24\", \"198.18.%u.0/24\"", late);
	add_sessions(fx, N_SESSIONS);
	reload(fx, deny, 0);
	assert_int_equal(n_have(fx, 256 * late, 256 * late + 255), 256);
	fx->rt.offload[0] = false; /* the relay's fast path went off at an interface event */
	assert_int_equal(stub_worker_loop_start(fx), 0);
	assert_int_equal(runtime_reapply(&fx->rt, err, sizeof(err)), 0);
	stub_worker_loop_stop(fx);
	assert_true(table(fx)->slots[256 * late - 1].fast);
	for (i = 0; i < 8; i++)
		tick(fx);
	assert_int_equal(n_have(fx, 256 * late, 256 * late + 255), 0);
	assert_int_equal(table(fx)->active, N_SESSIONS - 256);
}

/* Each turn starts with the relay after the one the turn before started with: changes that
 * come faster than r's lap (r's laps then take every turn they are first in) still reach r2,
 * whose 256 sessions every rule set denies. Before, every turn went to the first relay first:
 * r2 kept its sessions through ten changes and twenty turns. (review-reloadcost F1) */
static void test_relays_take_turns(void **state)
{
	struct stub_worker *fx = *state;
	char deny[2][160];
	uint32_t i;

	snprintf(deny[0], sizeof(deny[0]), "\"198.19.255.0/24\", \"198.19.254.0/24\", %s",
		 "\"198.19.0.0/24\"");
	snprintf(deny[1], sizeof(deny[1]), "\"198.19.255.0/24\", \"198.19.253.0/24\", %s",
		 "\"198.19.0.0/24\"");
	add_sessions(fx, N_SESSIONS);
	for (i = 0; i < 256; i++) /* 198.19.0.0 .. 198.19.0.255 */
		add_session_to(fx, 1, 0xc6130000u + i);
	for (i = 0; i < 10; i++) {
		reload_config(fx, load_relays(deny[i & 1], 0, RELAY2));
		tick(fx);
	}
	assert_int_equal(table_of(fx, 1)->active, 0);
	assert_int_equal(table(fx)->active, N_SESSIONS);
}


/* ---------------------------------------------------------------- sessions that open fast
 * Through worker_session_get, as a client's first datagram opens one: with the fast path on lo
 * (tc, attached in the test's namespace), so offload_session_open installs its entries, and
 * clients 127.0.7.x (denied by the rules below) or 127.0.8.x on lo. Nothing is sent. */

#define DENY_LO "\"198.19.255.0/24\", \"127.0.7.0/24\""

/* The fast path on lo, with more rr_ifaces flags: the filter stage there too (as
 * filter.interfaces = [ "lo" ] would have them; the harness's program is attached nowhere), or
 * on every device below it (RR_IFACE_JUDGED_BELOW, as for eth0.100 with the filter on eth0). */
static void fast_on_lo_flags(struct stub_worker *fx, uint32_t flags)
{
	int lo = (int)if_nametoindex("lo"), fd = filter_map_fd(fx->f, "rr_ifaces");
	uint32_t key = (uint32_t)lo;
	struct rr_iface v;
	char err[256];

	assert_true(lo > 0 && fd >= 0);
	if (filter_offload_attach(fx->f, lo, false, false, err, sizeof(err)))
		fail_msg("fast path on lo: %s", err);
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &v), 0);
	assert_int_equal(v.flags & RR_IFACE_JUDGED_BELOW, 0); /* lo has nothing below */
	v.flags |= flags;
	assert_int_equal(bpf_map_update_elem(fd, &key, &v, BPF_ANY), 0);
}

static void fast_on_lo(struct stub_worker *fx, bool filtered)
{
	fast_on_lo_flags(fx, filtered ? RR_IFACE_FILTER_TC : 0);
}

/* A first datagram of client 127.0.<net>.<host>:40000 to the relay that arrived by interface
 * ifindex (pktinfo; 0: not known): its session, now. */
static struct session *datagram_on(struct stub_worker *fx, uint32_t net, uint32_t host,
				   int ifindex)
{
	struct worker *w = &fx->rt.workers[0];
	uint32_t li = stub_worker_listener(w, fx->rt.relay_slot[0]);
	struct sock_rx_meta meta = { .ifindex = ifindex };
	struct addr client;
	const char *why;

	assert_int_equal(addr_parse("127.0.0.0:40000", &client, &why), 0);
	client.in4.sin_addr.s_addr = htonl(0x7f000000u | net << 8 | host);
	w->now = worker_clock();
	return worker_session_get(w, li, &client, &meta, 1);
}

static struct session *datagram(struct stub_worker *fx, uint32_t net, uint32_t host)
{
	return datagram_on(fx, net, host, 0);
}

static bool open_as(const struct session *s, uint32_t gen)
{
	return s->state == SESSION_ACTIVE && s->gen == gen;
}

/* A client whose datagram passed the program under the old rules (it waited in the socket)
 * opens a fast session after the change, behind the lap's cursor (here the lap of the few
 * sessions there are is over in the reload's own turn): the next tick ends it, as the rules
 * in force deny its client. Before, it stayed until the next change (1 tick or 10: open);
 * and a client the rules allow keeps its session. */
static void test_open_behind_cursor(void **state)
{
	struct stub_worker *fx = *state;
	struct session *s, *ok;
	uint32_t gen, gen_ok, i;

	fast_on_lo(fx, true);
	add_sessions(fx, 10);
	reload(fx, DENY_LO, 0);
	assert_int_equal(fx->rt.workers[0].relays[fx->rt.relay_slot[0]].judge_left, 0);
	s = datagram(fx, 7, 7);
	assert_non_null(s);
	assert_true(s->fast);
	gen = s->gen;
	ok = datagram(fx, 8, 8);
	assert_non_null(ok);
	assert_true(ok->fast);
	gen_ok = ok->gen;
	tick(fx);
	for (i = 0; i < 9 && open_as(s, gen); i++)
		tick(fx);
	print_message("opened behind the cursor, denied: %s after %u ticks\n",
		      open_as(s, gen) ? "open" : "ended", i + 1);
	assert_false(open_as(s, gen));
	assert_true(open_as(ok, gen_ok) && ok->fast);
	assert_int_equal(table(fx)->active, 11);
}

/* REVIEW R1 (review-rcfix): on an interface the filter does not run on, no datagram of the
 * client is judged by the program, so neither is its session: one session for five datagrams
 * a tick apart, though the rules deny the client; nor does a rules change end one (before, the
 * lap did, and the client's next datagram opened another). It stays fast too (review-final
 * F3; ojfix took it off the fast path at the turn). */
static void test_unfiltered_iface(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	uint32_t r = fx->rt.relay_slot[0], i, gen;
	struct session *s, *s0;

	fast_on_lo(fx, false);
	s0 = datagram(fx, 7, 1); /* before the change */
	assert_non_null(s0);
	assert_true(s0->fast);
	gen = s0->gen;
	reload(fx, DENY_LO, 0);
	for (i = 0; i < 5; i++) {
		s = datagram(fx, 7, 7);
		assert_non_null(s);
		/* fast as it opened, and left so (review-final F3) */
		assert_true(s->fast && !s->denied && !s->judge_due);
		tick(fx);
	}
	print_message("REVIEW R1: one client, 5 datagrams a tick apart: %llu sessions created, "
		      "%u open\n",
		      (unsigned long long)counter_get(&w->counters[r].sessions_created),
		      table(fx)->active);
	assert_int_equal(counter_get(&w->counters[r].sessions_created), 2);
	assert_true(open_as(s0, gen));
	assert_int_equal(table(fx)->active, 2);
}

/* REVIEW R1 as the review wrote it: the program attached nowhere (the session stays on the
 * socket path), one session for five datagrams a tick apart. */
static void test_review_unfiltered_churn(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	uint32_t r = fx->rt.relay_slot[0], li = stub_worker_listener(w, r);
	struct sock_rx_meta meta = { 0 };
	struct addr client;
	const char *why;
	uint32_t i;

	/* 198.19.255.0/24: denied by the setup's rules (the program never sees it here) */
	assert_int_equal(addr_parse("198.19.255.7:40000", &client, &why), 0);
	for (i = 0; i < 5; i++) {
		w->now = worker_clock();
		assert_non_null(worker_session_get(w, li, &client, &meta, 1)); /* a datagram */
		tick(fx);
	}
	assert_int_equal(counter_get(&w->counters[r].sessions_created), 1);
	assert_int_equal(table(fx)->active, 1);
}

/* REVIEW R2 (review-rcfix): more denied opens between two turns than the turn keeps by slot
 * (WORKER_DUE_MAX; datagrams of a flood waiting in the socket when the deny rule came): the
 * turn finds the rest by a walk, and none is left. */
static void test_due_overflow(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	uint32_t i, left = 0;

	fast_on_lo(fx, true);
	add_sessions(fx, 10);
	reload(fx, DENY_LO, 0);
	tick(fx);
	for (i = 1; i <= 100; i++)
		assert_non_null(datagram(fx, 7, i));
	assert_int_equal(w->relays[fx->rt.relay_slot[0]].n_due, WORKER_DUE_MAX);
	tick(fx);
	for (i = 0; i < table(fx)->capacity; i++) {
		const struct session *s = &table(fx)->slots[i];

		left += s->state == SESSION_ACTIVE &&
			ntohl(s->client.in4.sin_addr.s_addr) >> 8 == 0x7f0007u;
	}
	print_message("REVIEW R2: 100 denied opens in one tick: %u still open after a tick\n",
		      left);
	assert_int_equal(left, 0);
	assert_int_equal(table(fx)->active, 10);
}

/* REVIEW R3 (review-rcfix): a session whose client the rules denied as it opened is judged
 * again by the rules in force at the turn: a reload that takes the deny back (as a failed
 * reload's revert does) leaves it open, and fast. */
static void test_due_stale(void **state)
{
	struct stub_worker *fx = *state;
	struct session *s;
	uint32_t gen, i;

	fast_on_lo(fx, true);
	add_sessions(fx, 10);
	reload(fx, DENY_LO, 0);
	tick(fx);
	s = datagram(fx, 7, 7);
	assert_non_null(s);
	assert_true(s->fast && s->judge_due); /* judged denied as it opened (review-openjudge O6) */
	gen = s->gen;
	reload(fx, "\"198.19.255.0/24\"", 0); /* 127.0.7.7 allowed again */
	assert_int_equal(filter_client_denied(fx->f, &s->client, &s->local), 0);
	for (i = 0; i < 3; i++)
		tick(fx);
	print_message("REVIEW R3: allowed client's session after the reload: %s\n",
		      open_as(s, gen) ? "open" : "ended (filter_denied)");
	assert_true(open_as(s, gen) && s->fast);
}

/* ---------------------------------------------------------------- where the verdict does not hold
 * A denied client's fast session ends only where the filter's verdict holds for its client's
 * datagrams: the filter runs on fast_iif and none arrived by another device. Elsewhere it
 * leaves the fast path, stays open, and is marked denied: the upstream's replies
 * (worker_reply_touch, as the backends call it) no longer keep it alive, its client's own
 * datagrams do. */

#define SEC_NS 1000000000ull

/* A reply of session s of the config's first relay, at now (as a backend takes one). */
static void reply(struct stub_worker *fx, struct session *s, uint64_t now)
{
	worker_reply_touch(&fx->rt.workers[0], fx->rt.relay_slot[0], s, now);
}

/* A datagram of the client of s, at now (its session found, as the backends do). */
static void client_datagram(struct stub_worker *fx, struct session *s, uint64_t now)
{
	struct worker *w = &fx->rt.workers[0];
	uint32_t li = stub_worker_listener(w, fx->rt.relay_slot[0]);
	struct sock_rx_meta meta = { 0 };

	w->now = now;
	assert_ptr_equal(worker_session_get(w, li, &s->client, &meta, 1), s);
}

/* The worker's tick at now. */
static void tick_at(struct stub_worker *fx, uint64_t now)
{
	struct worker *w = &fx->rt.workers[0];

	w->now = now;
	worker_tick(w);
}

/* REVIEW F3 (review-final): the filter runs neither on the fast path's device nor below it
 * (deny rules for 10/8 on eth0, internal 10/8 clients on unfiltered eth1: here lo without a
 * filter flag). The program lets the clients' datagrams through, so their sessions are left
 * alone, at the open and at the change: fast, not marked denied, and replies keep them alive
 * (an upstream push with rare client keepalives). Before (ojfix), the turn took them off the
 * fast path marked denied, and they expired at the idle timeout (3600 s) despite the replies. */
static void test_unfiltered_stays(void **state)
{
	struct stub_worker *fx = *state;
	struct session *before, *after;
	uint32_t gb, ga;
	uint64_t t0;

	fast_on_lo(fx, false);
	before = datagram(fx, 7, 1); /* opened before the change: the lap meets it */
	assert_true(before && before->fast);
	reload(fx, DENY_LO, 0);
	after = datagram(fx, 7, 2); /* opened after: judged at the open */
	assert_true(after && after->fast);
	gb = before->gen, ga = after->gen;
	tick(fx);
	print_message("REVIEW F3: denied clients on an unfiltered fast_iif, a tick after: %s, "
		      "%s; denied %d %d\n",
		      before->fast ? "fast" : "socket", after->fast ? "fast" : "socket",
		      before->denied, after->denied);
	assert_true(open_as(before, gb) && before->fast && !before->denied);
	assert_true(open_as(after, ga) && after->fast && !after->denied && !after->judge_due);
	t0 = worker_clock();
	reply(fx, before, t0 + 3000 * SEC_NS);
	reply(fx, after, t0 + 3000 * SEC_NS);
	tick_at(fx, t0 + 3650 * SEC_NS);
	print_message("REVIEW F3: after 3650 s, replies at 3000 s: %s\n",
		      open_as(after, ga) ? "open (replies kept it)" : "expired");
	assert_true(open_as(before, gb) && open_as(after, ga));
}

/* REVIEW O1 (review-openjudge): the filter runs on every lower device (eth0), the fast path
 * on the one above it (eth0.100: here lo, whose entry says RR_IFACE_JUDGED_BELOW). The filter
 * drops the denied clients' datagrams there, so their sessions end at the change's lap (one
 * opened before) or at the turn after the open (one opened after, its datagram waiting in the
 * socket), as on a filtered fast_iif; an allowed client's stays fast. Before, with the
 * interface's own flags only, they stayed fast, never judged: replies kept them. */
static void test_stacked(void **state)
{
	struct stub_worker *fx = *state;
	struct session *before, *after, *ok;
	uint32_t gb, ga, gok;

	fast_on_lo_flags(fx, RR_IFACE_JUDGED_BELOW);
	assert_int_equal(filter_iface_judges(fx->f, (int)if_nametoindex("lo")), 1);
	before = datagram(fx, 7, 1);
	ok = datagram(fx, 8, 1);
	assert_true(before && ok && before->fast && ok->fast);
	gb = before->gen, gok = ok->gen;
	reload(fx, DENY_LO, 0);
	after = datagram(fx, 7, 2);
	assert_true(after && after->fast && after->judge_due);
	ga = after->gen;
	tick(fx);
	print_message("REVIEW O1: denied clients, the filter below their fast_iif: %s, %s\n",
		      open_as(before, gb) ? "open" : "ended", open_as(after, ga) ? "open" : "ended");
	assert_false(open_as(before, gb));
	assert_false(open_as(after, ga));
	assert_true(open_as(ok, gok) && ok->fast);
}

/* REVIEW O2 (review-openjudge): the filter runs on fast_iif, but the client's datagrams
 * arrive by another device (asymmetric routing: the program counts them, wrong_iface): its
 * session is not ended (its client's next datagram would open another), it leaves the fast
 * path, marked denied. Another denied client whose datagrams arrive on fast_iif ends. */
static void test_wrong_iface(void **state)
{
	struct stub_worker *fx = *state;
	struct offload_flow_stats *st;
	struct session *s, *here;
	uint32_t gen, gen_here;

	fast_on_lo(fx, true);
	s = datagram(fx, 7, 1);
	here = datagram(fx, 7, 2);
	assert_true(s && here && s->fast && here->fast);
	gen = s->gen, gen_here = here->gen;
	st = (struct offload_flow_stats *)filter_offload_flow(fx->f, s->flow);
	assert_non_null(st);
	__atomic_fetch_add(&st->wrong_iface[OFFLOAD_DIR_UP], 1, __ATOMIC_RELAXED);
	reload(fx, DENY_LO, 0);
	print_message("REVIEW O2: client datagrams by another device: %s, %s\n",
		      open_as(s, gen) ? "open" : "ended", s->fast ? "fast" : "socket path");
	assert_true(open_as(s, gen) && !s->fast && s->denied);
	assert_false(open_as(here, gen_here));
}

/* Gap (2) (review-openjudge): a socket-path session (the fast path refused it: none on lo
 * here) of a client a change denies is judged in the lap too: marked denied, it expires at its
 * idle timeout though the upstream keeps replying. A later change that allows the client
 * again takes the mark back: replies keep it again. */
static void test_socket_denied(void **state)
{
	struct stub_worker *fx = *state;
	struct session *s, *s2;
	uint32_t gen, gen2;
	uint64_t t0;

	s = datagram(fx, 7, 1);
	s2 = datagram(fx, 7, 2);
	assert_true(s && s2 && !s->fast && !s2->fast);
	gen = s->gen, gen2 = s2->gen;
	reload(fx, DENY_LO, 0);
	assert_true(open_as(s, gen) && s->denied && s2->denied);
	t0 = worker_clock();
	reply(fx, s, t0 + 3000 * SEC_NS);
	client_datagram(fx, s2, t0 + 3000 * SEC_NS);
	tick_at(fx, t0 + 3650 * SEC_NS);
	print_message("gap 2: a denied client's socket-path session, replies at 3000 s: %s\n",
		      open_as(s, gen) ? "open" : "expired");
	assert_false(open_as(s, gen));
	assert_true(open_as(s2, gen2)); /* its client's datagram kept it */
	/* allowed again: the mark goes, replies keep it again */
	reload(fx, "\"198.19.255.0/24\"", 0);
	assert_false(s2->denied);
	reply(fx, s2, t0 + 5000 * SEC_NS);
	tick_at(fx, t0 + 7000 * SEC_NS);
	assert_true(open_as(s2, gen2));
}

/* A filter without any fast path (every relay's offload "off", the default): the program is
 * loaded for the filter alone (rt.fast NULL, rt.judge the program). A change that denies a
 * socket-path session's client marks it as with a fast path: it expires at its idle timeout
 * though the upstream keeps replying; its client's own datagrams (where the filter does not
 * drop them) keep it. Before, only workers with a fast path judged: the replies kept a denied
 * client's session, and the client got them, until the upstream stopped. */
static void test_filter_without_fast_path(void **state)
{
	struct stub_worker *fx = *state;
	int lo = (int)if_nametoindex("lo"), fd = filter_map_fd(fx->f, "rr_ifaces");
	struct rr_iface filtered = { .flags = RR_IFACE_FILTER_TC };
	struct rr_iface shed_only = { .flags = RR_IFACE_SHED_TC };
	/* (ifindexes of no device: entries as the loader writes them) */
	uint32_t key = 1000000, key2 = 1000001;
	char err[CONFIG_ERR_LEN];
	struct session *s, *s2, *s3, *s4, *s5;
	uint32_t gen, gen2;
	uint64_t t0;

	assert_true(lo > 0 && fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &key, &filtered, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(fd, &key2, &shed_only, BPF_ANY), 0);
	fx->rt.fast = NULL;
	fx->rt.offload[0] = false;
	assert_int_equal(stub_worker_loop_start(fx), 0);
	assert_int_equal(runtime_reapply(&fx->rt, err, sizeof(err)), 0);
	stub_worker_loop_stop(fx);
	assert_null(fx->rt.workers[0].fast.f);
	s = datagram(fx, 7, 1);
	s2 = datagram(fx, 7, 2);
	/* by an interface of the program's where the filter does not run (shedding alone): the
	 * filter let it through */
	s3 = datagram_on(fx, 7, 3, (int)key2);
	/* by an interface the filter runs on */
	s4 = datagram_on(fx, 7, 4, (int)key);
	/* by lo, not one of the program's (no entry): for all it knows a device above a
	 * filtered one (a VLAN's), judged */
	s5 = datagram_on(fx, 7, 5, lo);
	assert_true(s && s2 && s3 && s4 && s5 && !s->fast && !s2->fast);
	gen = s->gen, gen2 = s2->gen;
	reload(fx, DENY_LO, 0);
	print_message("no fast path: a denied client's session after the change: %s\n",
		      s->denied ? "denied" : "not judged");
	assert_true(open_as(s, gen) && s->denied && s2->denied);
	print_message("... one that came by an unfiltered interface: %s; by a filtered one: %s; "
		      "by one not the program's: %s\n",
		      s3->denied ? "denied" : "left alone", s4->denied ? "denied" : "left alone",
		      s5->denied ? "denied" : "left alone");
	assert_false(s3->denied);
	assert_true(s4->denied);
	assert_true(s5->denied);
	t0 = worker_clock();
	reply(fx, s, t0 + 3000 * SEC_NS);
	client_datagram(fx, s2, t0 + 3000 * SEC_NS);
	tick_at(fx, t0 + 3650 * SEC_NS);
	assert_false(open_as(s, gen));
	assert_true(open_as(s2, gen2));
	/* the program goes (no filter, no shedding): nothing judges, no mark stays */
	fx->rt.judge = NULL;
	assert_int_equal(stub_worker_loop_start(fx), 0);
	assert_int_equal(runtime_reapply(&fx->rt, err, sizeof(err)), 0);
	stub_worker_loop_stop(fx);
	assert_false(s2->denied);
}

/* Makes the worker judge by program f (NULL: none), as a reload that loads, keeps or drops it
 * does, without a fast path. */
static void judge_by(struct stub_worker *fx, struct filter *f)
{
	char err[CONFIG_ERR_LEN];

	fx->rt.fast = NULL;
	fx->rt.judge = f;
	assert_int_equal(stub_worker_loop_start(fx), 0);
	assert_int_equal(runtime_reapply(&fx->rt, err, sizeof(err)), 0);
	stub_worker_loop_stop(fx);
}

/* A program that goes (no filter, no shedding wanted) and a new one that comes later (a fresh
 * load: its rules' version starts at 1 again, as the first one's did) with rules that deny an
 * existing session's client: the new program's rules judge it. Before, the worker's relays
 * kept the version judged under the first program, equal to the new one's: no lap, and the
 * replies kept the denied client's session (review-openpark 2). */
static void test_new_program_judges(void **state)
{
	struct stub_worker *fx = *state;
	char err[CONFIG_ERR_LEN];
	struct filter *b = NULL;
	struct config *cb = load(DENY_LO, 0);
	struct plan plan;
	struct session *s;

	s = datagram(fx, 7, 1);
	assert_true(s && !s->fast);
	judge_by(fx, NULL);
	assert_non_null(cb);
	assert_int_equal(runtime_check(NULL, cb, &plan, err, sizeof(err)), 0);
	assert_true(filter_open_sized(cb, plan.n_workers * plan.session_slots, &b, err,
				      sizeof(err)) >= 0);
	assert_int_equal(filter_rules_version(b), filter_rules_version(fx->f));
	judge_by(fx, b);
	tick(fx);
	print_message("a new program's rules deny a session's client: %s\n",
		      s->denied ? "denied" : "not judged");
	assert_true(s->denied);
	judge_by(fx, NULL);
	filter_free(b);
	config_free(cb);
}

/* Relay 0's fast path off or on again by a re-apply that keeps the program (keep_fast: what
 * an interface event does). */
static void reapply_offload(struct stub_worker *fx, bool on)
{
	char err[CONFIG_ERR_LEN];

	fx->rt.offload[0] = on;
	assert_int_equal(stub_worker_loop_start(fx), 0);
	assert_int_equal(runtime_reapply(&fx->rt, err, sizeof(err)), 0);
	stub_worker_loop_stop(fx);
}

/* s leaves the fast path for its routes, as pmtu_read does at OFFLOAD_RECHECK_LEAVE. */
static void leave_for_routes(struct stub_worker *fx, struct session *s)
{
	struct worker *w = &fx->rt.workers[0];
	struct relay_dir_counters fold[RELAY_DIR__MAX] = { 0 };

	offload_session_close(&w->fast, s, fold);
	offload_route_leave(s, worker_clock());
	assert_true(s->fast_parked && !s->fast);
}

/* A session parked for its routes while a link event has the relay's fast path off for a
 * while (keep_fast) comes back once it is on again and the routes change. Before, the first
 * route epoch while it was off forgot the session's parking: socket path for good. */
static void test_park_across_flap(void **state)
{
	struct stub_worker *fx = *state;
	struct session *s;

	fast_on_lo(fx, true);
	s = datagram(fx, 8, 1);
	assert_true(s && s->fast);
	leave_for_routes(fx, s);
	reapply_offload(fx, false);
	worker_routes_moved(fx->rt.workers[0].sync);
	tick(fx);
	assert_true(s->fast_parked);
	reapply_offload(fx, true);
	worker_routes_moved(fx->rt.workers[0].sync);
	tick(fx);
	tick(fx);
	assert_true(s->fast);
}

/* A reload that leaves no relay with the fast path (no program: nothing judges any more) and
 * allows a denied client again: its mark goes, and replies keep its session again. Before,
 * the mark stayed for good and the session expired under a stream of replies. */
static void test_mark_without_program(void **state)
{
	struct stub_worker *fx = *state;
	struct session *s;
	uint32_t gen;
	uint64_t t0;

	s = datagram(fx, 7, 1);
	assert_true(s && !s->fast);
	gen = s->gen;
	reload(fx, DENY_LO, 0);
	assert_true(s->denied);
	fx->rt.fast = NULL; /* offload = "off" on every relay now */
	reload(fx, "\"198.19.255.0/24\"", 0);
	tick(fx);
	assert_false(s->denied);
	t0 = worker_clock();
	reply(fx, s, t0 + 3000 * SEC_NS);
	tick_at(fx, t0 + 3650 * SEC_NS);
	assert_true(open_as(s, gen));
}

/* A route changed somewhere (a new route epoch makes every fast session due for a derivation
 * of its rules) while one session's own count asks for a reading (an ICMP too-big about it):
 * that session is read in the same tick, wherever the walk meets it. Derivations for the
 * epoch alone take their own allowance. Before, they took the shared one, and with more fast
 * sessions than a second's allowance ahead of it (here 100 against 64) the too-big waited. */
static void test_epoch_spares_readings(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	struct session_table *t = &w->relays[fx->rt.relay_slot[0]].sessions;
	struct offload_flow_stats *st;
	struct session *s, *last = NULL;
	uint32_t k, d, far = 0;

	fast_on_lo(fx, true);
	for (k = 1; k <= 100; k++) {
		s = datagram(fx, 8, k);
		assert_true(s && s->fast);
	}
	w->pmtu.second_end = 0;
	tick(fx);
	/* the one the walk meets last from its cursor */
	for (k = 0; k < t->capacity; k++) {
		s = &t->slots[k];
		if (s->state != SESSION_ACTIVE || !s->fast)
			continue;
		d = (k + t->capacity - (w->pmtu.relay == fx->rt.relay_slot[0] ? w->pmtu.slot : 0)) %
		    t->capacity;
		if (!last || d >= far)
			last = s, far = d;
	}
	assert_non_null(last);
	st = (struct offload_flow_stats *)filter_offload_flow(fx->f, last->flow);
	assert_non_null(st);
	__atomic_add_fetch(&st->too_big[1], 1, __ATOMIC_RELAXED);
	worker_routes_moved(w->sync);
	w->pmtu.second_end = 0;
	tick(fx);
	assert_int_equal(last->fast_mtu_too_big[1], st->too_big[1]);
}

/* A session that left the fast path for its client's denial (its datagrams came by another
 * device too, so it was not ended) says so in its sessions line, and comes back to the fast
 * path once a later change allows its client again. Before, it stayed on the socket path for
 * good, its reason blank. */
static void test_allowed_again_fast(void **state)
{
	struct stub_worker *fx = *state;
	struct offload_flow_stats *st;
	struct session *s;
	uint32_t gen;

	fast_on_lo(fx, true);
	s = datagram(fx, 7, 1);
	assert_true(s && s->fast);
	gen = s->gen;
	st = (struct offload_flow_stats *)filter_offload_flow(fx->f, s->flow);
	assert_non_null(st);
	__atomic_fetch_add(&st->wrong_iface[OFFLOAD_DIR_UP], 1, __ATOMIC_RELAXED);
	reload(fx, DENY_LO, 0);
	assert_true(open_as(s, gen) && !s->fast && s->denied);
	assert_string_equal(offload_refusal_name((enum offload_refusal)s->fast_refused),
			    "filter_denied");
	reload(fx, "\"198.19.255.0/24\"", 0);
	assert_false(s->denied);
	fx->rt.workers[0].pmtu.second_end = 0;
	tick(fx);
	assert_true(open_as(s, gen) && s->fast);
	assert_int_equal(s->fast_refused, OFFLOAD_REFUSED_NONE);
}

/* Route epochs once a second (a routing daemon's churn) while the shared allowance is never
 * used up: the epoch's own allowance still reaches every fast session in turn (6 seconds of
 * 64 derivations for 200 sessions: none left underived). Before, the cursor moved only with
 * the shared allowance, and the same 64 sessions were derived every second (136 never). */
static void test_epoch_turns(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	struct session *ss[200];
	uint32_t k, e0, never = 0, round;

	fast_on_lo(fx, true);
	for (k = 0; k < 200; k++) {
		ss[k] = datagram(fx, 8 + k / 200, 1 + k % 200);
		assert_true(ss[k] && ss[k]->fast);
	}
	w->pmtu.second_end = 0;
	tick(fx);
	e0 = w->route_epoch;
	for (round = 0; round < 6; round++) {
		worker_routes_moved(w->sync);
		w->pmtu.second_end = 0;
		tick(fx);
	}
	for (k = 0; k < 200; k++)
		never += ss[k]->fast && ss[k]->fast_route_epoch == e0;
	assert_int_equal(never, 0);
}

/* Records a change of the routes within prefix text (IPv4), as the admin thread does. */
static void route_changed(struct worker *w, const char *text)
{
	const char *why;
	struct prefix p;

	assert_int_equal(prefix_parse(text, &p, &why), 0);
	worker_routes_changed(w->sync, &p, true);
}

/* A route change whose prefix covers none of 200 fast sessions' addresses (198.19.250.0/24;
 * theirs are on 127/8) derives none of them: one tick moves all 200 to the new epoch
 * (fast_epoch_skipped 200, fast_epoch_derived 0). Before, every one was due and took the
 * epoch's allowance: 64 a second, 4 seconds for 200 (review: 100,000 sessions, 26 minutes).
 * One covering one client (127.0.8.5/32) derives that one alone; 0/0 all of them, from the
 * allowance (64 this second). */
static void test_epoch_scoped(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	struct relay_counters *c = &w->counters[fx->rt.relay_slot[0]];
	struct session *ss[200];
	uint64_t d0, s0;
	uint32_t k, behind = 0;

	fast_on_lo(fx, true);
	for (k = 0; k < 200; k++) {
		ss[k] = datagram(fx, 8, 1 + k);
		assert_true(ss[k] && ss[k]->fast);
	}
	w->pmtu.second_end = 0;
	tick(fx);
	d0 = counter_get(&c->fast_epoch_derived);
	s0 = counter_get(&c->fast_epoch_skipped);
	route_changed(w, "198.19.250.0/24");
	w->pmtu.second_end = 0;
	tick(fx);
	for (k = 0; k < 200; k++)
		behind += ss[k]->fast_route_epoch != w->route_epoch;
	assert_int_equal(behind, 0);
	assert_int_equal(counter_get(&c->fast_epoch_derived), d0);
	assert_int_equal(counter_get(&c->fast_epoch_skipped), s0 + 200);
	route_changed(w, "127.0.8.5/32");
	w->pmtu.second_end = 0;
	tick(fx);
	assert_int_equal(counter_get(&c->fast_epoch_derived), d0 + 1);
	assert_int_equal(counter_get(&c->fast_epoch_skipped), s0 + 399);
	route_changed(w, "0.0.0.0/0");
	w->pmtu.second_end = 0;
	tick(fx);
	assert_int_equal(counter_get(&c->fast_epoch_derived), d0 + 1 + WORKER_PMTU_PER_SEC);
	assert_int_equal(counter_get(&c->fast_epoch_skipped), s0 + 399);
}

/* A session parked for its routes whose client a change denies, then allows again: it stays
 * parked meanwhile and comes back to the fast path with its routes. Before, the denial
 * unparked it for good. */
static void test_parked_denied_returns(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	struct relay_dir_counters fold[RELAY_DIR__MAX] = { 0 };
	struct session *s;

	fast_on_lo(fx, true);
	s = datagram(fx, 7, 1);
	assert_true(s && s->fast);
	offload_session_close(&w->fast, s, fold);
	s->fast_refused = OFFLOAD_REFUSED_DEVICE;
	offload_route_leave(s, worker_clock());
	reload(fx, DENY_LO, 0);
	assert_true(s->denied && s->fast_parked);
	worker_routes_moved(w->sync);
	w->pmtu.second_end = 0;
	tick(fx);
	reload(fx, "\"198.19.255.0/24\"", 0);
	assert_false(s->denied);
	worker_routes_moved(w->sync);
	w->pmtu.second_end = 0;
	tick(fx);
	tick(fx);
	assert_true(s->fast);
}

/* Sessions that open while their routes leave by a device without the program (none on lo
 * yet: an outage's) are refused for their routes and parked; once the program runs there and
 * the routes change, they take the fast path, at most WORKER_PMTU_PER_SEC a second however
 * many opened meanwhile. A try still refused backs off further. Before, they stayed on the
 * socket path for good (review-final F6). */
static void test_open_refused_returns(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	struct session *ss[100];
	uint32_t k, n_fast = 0;

	for (k = 0; k < 100; k++) {
		ss[k] = datagram(fx, 9, 1 + k);
		assert_true(ss[k] && !ss[k]->fast);
	}
	assert_string_equal(offload_refusal_name((enum offload_refusal)ss[0]->fast_refused),
			    "device_not_fast_path");
	print_message("F6: a session opened while refused for its routes: %s\n",
		      ss[0]->fast_parked ? "parked" : "not parked");
	assert_true(ss[0]->fast_parked);
	/* the routes change twice, still without the program there: tried at each (a change
	 * of all covers it), and still parked from its open, with no back-off by time (a try
	 * does not park it anew) */
	for (k = 0; k < 2; k++) {
		worker_routes_moved(w->sync);
		w->pmtu.second_end = 0;
		tick(fx);
		assert_true(!ss[0]->fast && ss[0]->fast_parked && ss[0]->fast_park_open);
		assert_int_equal(ss[0]->fast_route_epoch, w->route_epoch);
	}
	assert_int_equal(ss[0]->fast_route_backoff, 0);
	/* the program runs there now, and the routes change: back, a second's allowance a
	 * second */
	fast_on_lo(fx, false);
	worker_routes_moved(w->sync);
	w->pmtu.second_end = 0;
	tick(fx);
	for (k = 0; k < 100; k++)
		n_fast += ss[k]->fast;
	print_message("F6: fast after the routes came back: %u of 100 in the first second\n",
		      n_fast);
	assert_int_equal(n_fast, WORKER_PMTU_PER_SEC);
	w->pmtu.second_end = 0;
	tick(fx);
	for (k = 0, n_fast = 0; k < 100; k++)
		n_fast += ss[k]->fast && !ss[k]->fast_parked;
	assert_int_equal(n_fast, 100);
	assert_int_equal(ss[0]->fast_refused, OFFLOAD_REFUSED_NONE);
}

/* Sessions parked from their open (refused for their routes: no program on lo) tried again
 * for a new route epoch alone, and refused again: their tries take the epoch's allowance,
 * not the one the path MTU readings share, so routes changing elsewhere cannot hold up a
 * reading through sessions whose routes never change (a client behind wg0). Before, the 100
 * tries took the shared allowance: 64 of 64 used. */
static void test_parked_epoch_allowance(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	struct relay_counters *c = &w->counters[fx->rt.relay_slot[0]];
	struct session *ss[100];
	uint32_t k, tried = 0;
	uint64_t tr0;

	for (k = 0; k < 100; k++) {
		ss[k] = datagram(fx, 11, 1 + k);
		assert_true(ss[k] && ss[k]->fast_parked);
	}
	tr0 = counter_get(&c->fast_epoch_tried);
	worker_routes_moved(w->sync);
	w->pmtu.second_end = 0;
	tick(fx);
	for (k = 0; k < 100; k++)
		tried += ss[k]->fast_route_epoch == w->route_epoch;
	print_message("parked tries for the epoch: %u (fast_epoch_tried %u), shared allowance "
		      "left %u of %u\n", tried, (unsigned int)(counter_get(&c->fast_epoch_tried) - tr0),
		      w->pmtu.left, WORKER_PMTU_PER_SEC);
	assert_int_equal(tried, WORKER_PMTU_PER_SEC);
	assert_int_equal(w->pmtu.left, WORKER_PMTU_PER_SEC);
	/* (counted: before, in no counter) */
	assert_int_equal(counter_get(&c->fast_epoch_tried) - tr0, WORKER_PMTU_PER_SEC);
	/* the next second's epoch allowance goes on with the others */
	w->pmtu.second_end = 0;
	tick(fx);
	for (k = 0, tried = 0; k < 100; k++)
		tried += ss[k]->fast_route_epoch == w->route_epoch;
	assert_int_equal(tried, 100);
	assert_int_equal(counter_get(&c->fast_epoch_tried) - tr0, 100);
}

/* Sessions parked from their open (no program on lo then; the program runs there now) are
 * tried again only at a route epoch whose change covers one of their addresses: not by time
 * (61 and 125 s on), where one that left the fast path for its routes is (5 s after); not at
 * an unrelated change (198.19.250.0/24: their epoch advances, fast_epoch_skipped, no try, no
 * allowance); at one that covers their clients (127.0.12.0/24), all of them (fast_epoch_tried:
 * skipped and tried add up to the sessions read; before, the tries were in no counter). Before,
 * each was tried 5 s after its open and at every new epoch, and took the allowance for good
 * where its routes never changed (a client behind wg0: about once a minute for its life). */
static void test_parked_scoped(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	struct relay_counters *c = &w->counters[fx->rt.relay_slot[0]];
	struct relay_dir_counters fold[RELAY_DIR__MAX] = { 0 };
	const uint64_t s1 = 1000000000ull;
	struct session *ss[10], *left;
	uint32_t k, n_fast, behind;
	uint64_t t0, sk0, tr0, d0;

	for (k = 0; k < 10; k++) {
		ss[k] = datagram(fx, 12, 1 + k);
		assert_true(ss[k] && !ss[k]->fast && ss[k]->fast_parked);
	}
	fast_on_lo(fx, false);
	left = datagram(fx, 13, 1);
	assert_true(left && left->fast);
	t0 = w->now;
	offload_session_close(&w->fast, left, fold);
	left->fast_refused = OFFLOAD_REFUSED_DEVICE;
	offload_route_leave(left, t0);
	/* (b) no epoch: by time only the one that left */
	tick_at(fx, t0 + 61 * s1);
	tick_at(fx, t0 + 125 * s1);
	for (k = 0, n_fast = 0; k < 10; k++)
		n_fast += ss[k]->fast;
	print_message("parked at open, 125 s without a route epoch: %u of 10 tried back; one "
		      "that left: %s\n", n_fast, left->fast ? "back" : "not back");
	assert_int_equal(n_fast, 0);
	assert_true(left->fast);
	/* (a) a change that covers none of them: not tried, their epoch advances */
	sk0 = counter_get(&c->fast_epoch_skipped);
	tr0 = counter_get(&c->fast_epoch_tried);
	d0 = counter_get(&c->fast_epoch_derived);
	route_changed(w, "198.19.250.0/24");
	tick_at(fx, t0 + 126 * s1);
	for (k = 0, n_fast = 0, behind = 0; k < 10; k++) {
		n_fast += ss[k]->fast;
		behind += ss[k]->fast_route_epoch != w->route_epoch;
	}
	print_message("parked at open, an unrelated route change: %u of 10 tried back, %u "
		      "skipped, epoch allowance left %u of %u\n", n_fast,
		      (unsigned int)(counter_get(&c->fast_epoch_skipped) - sk0), w->pmtu.epoch_left,
		      WORKER_PMTU_PER_SEC);
	assert_int_equal(n_fast, 0);
	assert_int_equal(behind, 0);
	assert_true(counter_get(&c->fast_epoch_skipped) - sk0 >= 10);
	assert_int_equal(counter_get(&c->fast_epoch_tried), tr0);
	assert_int_equal(w->pmtu.epoch_left, WORKER_PMTU_PER_SEC);
	/* ... one that covers their clients: all back, each tried once for the epoch (the one
	 * that left the fast path, fast again, is skipped: it is not a client of 127.0.12.0/24) */
	sk0 = counter_get(&c->fast_epoch_skipped);
	route_changed(w, "127.0.12.0/24");
	tick_at(fx, t0 + 127 * s1);
	for (k = 0, n_fast = 0; k < 10; k++)
		n_fast += ss[k]->fast && !ss[k]->fast_parked && !ss[k]->fast_park_open;
	print_message("parked at open, a route change that covers their clients: %u of 10 back, "
		      "fast_epoch_tried %u, derived %u, skipped %u\n", n_fast,
		      (unsigned int)(counter_get(&c->fast_epoch_tried) - tr0),
		      (unsigned int)(counter_get(&c->fast_epoch_derived) - d0),
		      (unsigned int)(counter_get(&c->fast_epoch_skipped) - sk0));
	assert_int_equal(n_fast, 10);
	assert_int_equal(counter_get(&c->fast_epoch_tried) - tr0, 10);
	assert_int_equal(counter_get(&c->fast_epoch_derived), d0);
	assert_int_equal(counter_get(&c->fast_epoch_skipped) - sk0, 1);
}

/* Without route events (their watch could not be opened) no route epoch tells when the routes
 * of a session refused at its open change: it backs off by time as one that left does (5 s),
 * and takes the fast path so once the program runs on lo. */
static void test_open_park_unwatched(void **state)
{
	struct stub_worker *fx = *state;
	struct session *s;

	fx->rt.sync.routes_watched = false;
	s = datagram(fx, 14, 1);
	assert_true(s && !s->fast && s->fast_parked && !s->fast_park_open);
	fast_on_lo(fx, false);
	tick_at(fx, s->fast_route_quiet);
	assert_true(s->fast && !s->fast_parked);
}

/* The rule of direction dir of fast session s (its key found by its flow): into *r, with its
 * key into *k. */
static void rule_of(struct stub_worker *fx, const struct session *s, uint8_t dir,
		    struct offload_key *k, struct offload_rule *r)
{
	int fd = filter_map_fd(fx->f, "offload_sessions");
	struct offload_key prev, next;
	bool first = true;

	assert_true(fd >= 0);
	while (!bpf_map_get_next_key(fd, first ? NULL : &prev, &next)) {
		first = false;
		prev = next;
		if (bpf_map_lookup_elem(fd, &next, r) == 0 && r->flow == s->flow &&
		    r->dir == dir) {
			*k = next;
			return;
		}
	}
	fail_msg("no rule of flow %u dir %u", s->flow, dir);
}

/* Rules of flow in the program's session map. */
static uint32_t n_rules(struct stub_worker *fx, uint32_t flow)
{
	int fd = filter_map_fd(fx->f, "offload_sessions");
	struct offload_key prev, next;
	struct offload_rule r;
	uint32_t n = 0;
	bool first = true;

	assert_true(fd >= 0);
	while (!bpf_map_get_next_key(fd, first ? NULL : &prev, &next)) {
		first = false;
		prev = next;
		if (bpf_map_lookup_elem(fd, &next, &r) == 0 && r.flow == flow)
			n++;
	}
	return n;
}

/* A relay of two upstreams (rr) with the fast path, besides r. */
#define RELAY_MV                                                                                   \
	", { name = \"mv\"; listen = [ \"127.0.0.1:47395\" ];"                                       \
	" upstreams = [ \"" UPSTREAM "\", \"127.0.0.1:47396\" ]; balance = \"rr\";"                   \
	" max_sessions = 256; session_timeout = 3600.0; offload = \"tc\"; }"

static int setup_mv(void **state)
{
	return setup_relays(state, RELAY_MV);
}

/* upstream_down = "move" (the default) ends a fast session whose upstream was ejected the
 * same way as any other end: its two rules leave the program's map, then its socket goes; the
 * other upstream's session stays fast. (review-balance finding 1) */
static void test_upstream_down_fast(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	uint32_t r = fx->rt.relay_slot[1], li = stub_worker_listener(w, r), k, flow[2], gen[2];
	struct pool_member m[CONFIG_MAX_UPSTREAMS];
	struct sock_rx_meta meta = { 0 };
	struct pool *was = fx->rt.pools[r], *p;
	struct session *s[2];
	struct addr client;
	const char *why;

	fast_on_lo(fx, false);
	w->now = worker_clock();
	for (k = 0; k < 2; k++) {
		assert_int_equal(addr_parse("127.0.10.1:40000", &client, &why), 0);
		client.in4.sin_addr.s_addr = htonl(0x7f000a01u + k);
		s[k] = worker_session_get(w, li, &client, &meta, 1);
		assert_true(s[k] && s[k]->fast);
		assert_true(addr_equal(&s[k]->upstream_addr, &was->m[k].addr)); /* rr */
		flow[k] = s[k]->flow, gen[k] = s[k]->gen;
		assert_int_equal(n_rules(fx, flow[k]), 2);
	}
	memcpy(m, was->m, was->n * sizeof(m[0]));
	m[1].state = HEALTH_EJECTED;
	assert_int_equal(pool_new(&p, BALANCE_RR, m, was->n, was->members_gen), 0);
	__atomic_store_n(&fx->rt.pools[r], p, __ATOMIC_RELEASE);
	tick(fx);
	assert_false(open_as(s[1], gen[1]));
	assert_int_equal(n_rules(fx, flow[1]), 0);
	assert_true(open_as(s[0], gen[0]) && s[0]->fast);
	assert_int_equal(n_rules(fx, flow[0]), 2);
	assert_int_equal(w->counters[r].sessions_moved, 1);
	fx->rt.pools[r] = was;
	pool_free(p);
}

/* The reading after a move (OFFLOAD_PMTU_TTL) gives the rules the TTL / hop limit the socket
 * path sends with now (IPv6's is the new device's): upstream the session socket's, replies a
 * socket routed as the listener's. A reading of path MTUs alone keeps them. Before, a move
 * kept the TTLs of the open (review-reroute L3). */
static void test_move_reads_ttl(void **state)
{
	struct stub_worker *fx = *state;
	struct worker *w = &fx->rt.workers[0];
	int fd = filter_map_fd(fx->f, "offload_sessions"), ttl = 33;
	struct offload_rule up, down;
	struct offload_key k;
	struct session *s;
	uint8_t ttl_down;

	fast_on_lo(fx, false);
	s = datagram(fx, 10, 1);
	assert_true(s && s->fast);
	rule_of(fx, s, OFFLOAD_DIR_DOWN, &k, &down);
	ttl_down = down.ttl;
	/* (the replies' as if the open had found another device's) */
	down.ttl = 7;
	assert_int_equal(bpf_map_update_elem(fd, &k, &down, BPF_EXIST), 0);
	/* (the upstream's as if its route's device had another) */
	assert_int_equal(setsockopt(s->fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
	assert_int_equal(offload_session_pmtu(&w->fast, s, OFFLOAD_PMTU_UP | OFFLOAD_PMTU_DOWN),
			 0);
	rule_of(fx, s, OFFLOAD_DIR_UP, &k, &up);
	rule_of(fx, s, OFFLOAD_DIR_DOWN, &k, &down);
	assert_true(up.ttl != 33 && down.ttl == 7);
	assert_int_equal(offload_session_pmtu(&w->fast, s,
					      OFFLOAD_PMTU_UP | OFFLOAD_PMTU_DOWN |
						      OFFLOAD_PMTU_TTL),
			 0);
	rule_of(fx, s, OFFLOAD_DIR_UP, &k, &up);
	rule_of(fx, s, OFFLOAD_DIR_DOWN, &k, &down);
	print_message("L3: after the reading of a move: ttl up %u, down %u (want 33, %u)\n",
		      up.ttl, down.ttl, ttl_down);
	assert_int_equal(up.ttl, 33);
	assert_int_equal(down.ttl, ttl_down);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_relay_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_denied_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_starved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relays_take_turns, setup_two, teardown),
		cmocka_unit_test_setup_teardown(test_open_behind_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unfiltered_iface, setup, teardown),
		cmocka_unit_test_setup_teardown(test_review_unfiltered_churn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unfiltered_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stacked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_iface, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_without_fast_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_program_judges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_park_across_flap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_without_program, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_spares_readings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allowed_again_fast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_turns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_scoped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parked_denied_returns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refused_returns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_reads_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_down_fast, setup_mv, teardown),
		cmocka_unit_test_setup_teardown(test_parked_epoch_allowance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parked_scoped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_park_unwatched, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
