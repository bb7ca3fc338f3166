// SPDX-License-Identifier: MIT
/* What a reload costs a worker that holds many fast-path sessions: one worker of one relay
 * (tests/stub_worker.h: built by runtime_prepare on a stub backend, no thread of its own, no
 * datagram sent) gets SESSIONS sessions straight into its table, marked fast, of
 * clients 198.18.0.1, 198.18.0.2, ... on its listener 127.0.0.1:47291; the filter program is
 * loaded (filter_open_sized: real BPF maps, attached nowhere). Then, as the app does (the
 * program's rules first, then runtime_reload), three reloads:
 *
 *   same      the same config again: no rule changes
 *   changed   one more deny prefix, of none of the clients
 *   denies    a deny prefix (a /20) of 4,096 clients near the end of the table, who must
 *             lose their sessions
 *
 * For each it prints the time the worker spent in the reload's command (worker_run_cmd, on the
 * worker's thread, between two of its batches: its datagrams wait that long; the loop times
 * the command it ran), the time the reload thread spent writing the rules (filter_update), and
 * then the worker's next TICKS ticks (worker_tick, run back to back here: the daemon's come at
 * most 1 s apart; the longest and their sum, against the same ticks' cost after a reload that
 * changed nothing, whose ticks only fold), and after which of them the last denied session
 * had ended (0: in the reload's command). The sessions have no entries in the program (an end
 * costs two failed lookups, no socket closes) and share one listen port. Needs root (the
 * program, and a private network namespace for the listener). Then a route change that covers
 * none of the sessions (route_event): the ticks, a second of allowance each, until every fast
 * session is at the new route epoch, and the derivations they made for it.
 *
 *   reload_cost [-n SESSIONS] [-t TICKS]     (default 100000 sessions, 120 ticks)
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "stub_worker.h" /* (tests/) */

#define LISTEN "127.0.0.1:47291"
#define UPSTREAM "127.0.0.1:47292"
#define DENIED_CLIENTS 4096 /* a /20 */

/* The config with deny list deny. */
static struct config *load(uint32_t sessions, const char *deny)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-reload-cost-unused.sock\";\n"
		 "io_backend = \"mmsg\"; workers = 1;\n"
		 "relays = ( { name = \"r\"; listen = [ \"" LISTEN "\" ];"
		 " upstreams = [ \"" UPSTREAM "\" ]; max_sessions = %u;"
		 " session_timeout = 3600.0; offload = \"tc\"; } );\n"
		 "filter = { mode = \"tc\"; interfaces = [ \"lo\" ]; deny = [ %s ]; };\n",
		 sessions, deny);
	return stub_worker_config(text);
}

/* n fast sessions (the worker's loop is stopped). */
static int add_sessions(struct stub_worker *b, uint32_t n)
{
	struct worker *w = &b->rt.workers[0];
	uint32_t r = b->rt.relay_slot[0], li = stub_worker_listener(w, r), i;
	struct addr upstream, client;
	const char *why;

	if (li == WORKER_MAX_LISTENERS || addr_parse(UPSTREAM, &upstream, &why) ||
	    addr_parse("198.18.0.0:40000", &client, &why))
		return -1;
	for (i = 1; i <= n; i++) {
		/* 198.18.0.0 + i (up to 198.19.255.255) */
		client.in4.sin_addr.s_addr = htonl(0xc6120000u + i);
		if (!stub_worker_fast_session(w, r, li, &client, &upstream))
			return -1;
	}
	return 0;
}

/* ticks ticks on the worker's thread (its loop is stopped): the longest and the sum, ms, and
 * after which the relay's sessions were last fewer (0: none were). */
static void ticks(struct stub_worker *b, uint32_t n_ticks, double *max, double *sum,
		  uint32_t *last)
{
	struct worker *w = &b->rt.workers[0];
	const struct session_table *t = &w->relays[b->rt.relay_slot[0]].sessions;
	uint32_t i, active = t->active;
	double t0, dt;

	*max = *sum = 0;
	*last = 0;
	for (i = 0; i < n_ticks; i++) {
		t0 = stub_ms();
		stub_worker_tick(b);
		dt = stub_ms() - t0;
		*sum += dt;
		if (dt > *max)
			*max = dt;
		if (t->active < active)
			*last = i + 1;
		active = t->active;
	}
}

/* A route change whose prefix covers none of the sessions (198.19.250.0/24; theirs are
 * 198.18.0.1 up) after the reloads: each session gets a flow slot of its own (zero counts: due
 * for the epoch alone), and the worker ticks, each a second of its allowance (WORKER_PMTU_PER_SEC
 * derivations), until every fast session is at the new epoch (at most max_ticks). Prints the
 * ticks it took, the longest and the sum, and the epoch derivations made; 1 if some were left. */
static int route_event(struct stub_worker *b, uint32_t max_ticks)
{
	struct worker *w = &b->rt.workers[0];
	uint32_t r = b->rt.relay_slot[0], i, left = 1, n_ticks = 0, n_fast = 0, e;
	struct session_table *t = &w->relays[r].sessions;
	struct relay_counters *c = &w->counters[r];
	uint64_t d0 = counter_get(&c->fast_epoch_derived), s0 = counter_get(&c->fast_epoch_skipped);
	double t0, dt, max = 0, sum = 0;
	const char *why;
	struct prefix p;

	e = worker_route_epoch(w->sync);
	for (i = 0; i < t->capacity && i < filter_offload_flows(w->fast.f); i++) {
		struct session *s = &t->slots[i];

		if (s->state != SESSION_ACTIVE || !s->fast)
			continue;
		s->flow = i;
		s->fast_route_epoch = e;
		n_fast++;
	}
	if (prefix_parse("198.19.250.0/24", &p, &why))
		return 1;
	worker_routes_changed(w->sync, &p, true);
	e = worker_route_epoch(w->sync);
	while (left && n_ticks < max_ticks) {
		w->pmtu.second_end = 0; /* (the daemon's ticks come about a second apart) */
		t0 = stub_ms();
		stub_worker_tick(b);
		dt = stub_ms() - t0;
		sum += dt;
		if (dt > max)
			max = dt;
		n_ticks++;
		for (i = 0, left = 0; i < t->capacity; i++)
			left += t->slots[i].state == SESSION_ACTIVE && t->slots[i].fast &&
				t->slots[i].fast_route_epoch != e;
	}
	printf("route    an unrelated route change, %u fast sessions: %s after %u ticks (%u left), "
	       "longest %6.2f ms, sum %8.2f ms; epoch derivations %" PRIu64 ", skipped %" PRIu64
	       "\n",
	       n_fast, left ? "not through" : "through", n_ticks, left, max, sum,
	       counter_get(&c->fast_epoch_derived) - d0, counter_get(&c->fast_epoch_skipped) - s0);
	/* (the same ticks with nothing due: the walk over the sessions' flow slots alone) */
	for (i = 0, max = 0; i < 10; i++) {
		t0 = stub_ms();
		stub_worker_tick(b);
		dt = stub_ms() - t0;
		if (dt > max)
			max = dt;
	}
	printf("route    then 10 ticks with nothing due: longest %6.2f ms\n", max);
	return left ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "same", "changed", "denies" };
	uint32_t n = 100000, n_ticks = 120, i, r, active, last, block, want;
	double base_max = 0, base_sum = 0, max, sum;
	struct stub_worker *b = calloc(1, sizeof(*b));
	char err[CONFIG_ERR_LEN];
	char deny[3][96];
	int opt;

	while ((opt = getopt(argc, argv, "n:t:")) != -1) {
		if (opt == 'n')
			n = (uint32_t)strtoul(optarg, NULL, 10);
		else if (opt == 't')
			n_ticks = (uint32_t)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (!b || n < DENIED_CLIENTS || n > 130000) {
		fprintf(stderr, "reload_cost: SESSIONS: %u .. 130000\n", DENIED_CLIENTS);
		return 2;
	}
	/* the /20 of clients block..block + 4095 (client k is 198.18.0.0 + k, 1..n) */
	block = (n - DENIED_CLIENTS) / DENIED_CLIENTS * DENIED_CLIENTS;
	want = n - (block ? DENIED_CLIENTS : DENIED_CLIENTS - 1);
	snprintf(deny[0], sizeof(deny[0]), "\"198.19.255.0/24\"");
	snprintf(deny[1], sizeof(deny[1]), "\"198.19.255.0/24\", \"198.19.254.0/24\"");
	snprintf(deny[2], sizeof(deny[2]), "%.60s, \"198.%u.%u.0/20\"", deny[1],
		 18 + (block >> 16), (block >> 8) & 0xff);
	log_set_level(LOG_LVL_WARN);
	if (geteuid() != 0) {
		fprintf(stderr, "reload_cost: needs root (the BPF program)\n");
		return 77;
	}
	if (stub_worker_private_net() || stub_worker_setup(b, load(n, "\"198.19.255.0/24\""), true))
		return 1;
	stub_worker_loop_stop(b);
	if (add_sessions(b, n)) {
		fprintf(stderr, "reload_cost: cannot add %u sessions\n", n);
		return 1;
	}
	r = b->rt.relay_slot[0];
	printf("%u fast sessions, one worker; the worker's time in the reload's command, the "
	       "reload thread's in filter_update, then %u ticks\n",
	       n, n_ticks);
	for (i = 0; i < 3; i++) {
		b->cmd_ms = -1;
		if (stub_worker_reload(b, load(n, deny[i]), err, sizeof(err))) {
			fprintf(stderr, "reload_cost: reload: %s\n", err);
			return 1;
		}
		if (b->cmd_ms < 0) {
			fprintf(stderr, "reload_cost: the worker ran no command\n");
			return 1;
		}
		ticks(b, n_ticks, &max, &sum, &last);
		if (i == 0) {
			base_max = max;
			base_sum = sum;
		}
		active = b->rt.workers[0].relays[r].sessions.active;
		printf("%-8s command %8.2f ms  filter_update %6.2f ms  ticks: longest %6.2f ms, "
		       "sum %8.2f ms (%+8.2f ms over 'same')  sessions left %u",
		       names[i], b->cmd_ms, b->filter_ms, max, sum, sum - base_sum, active);
		if (i == 2)
			printf(", the last ended after tick %u", last);
		printf("\n");
	}
	printf("per tick after 'same' (fold only): longest %.2f ms, mean %.3f ms\n", base_max,
	       base_sum / n_ticks);
	if (active != want) {
		fprintf(stderr, "reload_cost: %u sessions left, want %u\n", active, want);
		return 1;
	}
	/* (a second a tick: 2,000 s, more than 100,000 sessions took at 64 a second) */
	if (route_event(b, 2000)) {
		fprintf(stderr, "reload_cost: sessions not through a route change\n");
		return 1;
	}
	return 0;
}
