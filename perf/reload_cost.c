// SPDX-License-Identifier: MIT
/* What a reload costs a worker that holds many fast-path sessions: one worker of one relay
 * (built by runtime_prepare, as tests/unit/test_worker.c does: a stub backend, no thread of its
 * own, no datagram sent) gets SESSIONS sessions straight into its table, marked fast, of
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
 * worker's thread, between two of its batches: its datagrams wait that long), the time the
 * reload thread spent writing the rules (filter_update), and then the worker's next TICKS ticks
 * (worker_tick: the longest and their sum, against the same ticks' cost after a reload that
 * changed nothing, whose ticks only fold), and after which of them the last denied session
 * had ended (0: in the reload's command). Needs root (the program, and a private network
 * namespace for the listener).
 *
 *   reload_cost [-n SESSIONS] [-t TICKS]     (default 100000 sessions, 120 ticks)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "filter.h"
#include "log.h"
#include "runtime.h"
#include "worker_backend.h"

#define LISTEN "127.0.0.1:47291"
#define UPSTREAM "127.0.0.1:47292"
#define DENIED_CLIENTS 4096 /* a /20 */

static int stub_listener_open(struct worker *w, uint32_t li)
{
	(void)w, (void)li;
	return 0;
}

/* As the mmsg backend: the slot is free at once. */
static void stub_session_close(struct worker *w, uint32_t relay, struct session *s)
{
	s->fd = -1;
	session_release(&w->relays[relay].sessions, s);
}

static const struct worker_ops stub_ops = {
	.listener_open = stub_listener_open,
	.session_close = stub_session_close,
};

struct bench {
	struct runtime rt;
	struct uring_caps caps;
	struct filter *f;
	pthread_t loop;
	volatile bool stop;
	double cmd_ms; /* the worker's time in the last command */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The worker's loop as far as commands go, timing each it runs. */
static void *loop_run(void *arg)
{
	struct bench *b = arg;
	struct worker *w = &b->rt.workers[0];
	struct timespec pause = { 0, 100000 };
	double t0;
	bool had;

	while (!b->stop) {
		pthread_mutex_lock(&w->sync->lock);
		had = w->cmd != NULL;
		pthread_mutex_unlock(&w->sync->lock);
		t0 = now_ms();
		worker_run_cmd(w);
		if (had)
			b->cmd_ms = now_ms() - t0;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* The config with deny list deny (the program is loaded, attached nowhere: no interface). */
static struct config *load(uint32_t sessions, const char *deny)
{
	char text[2048], err[CONFIG_ERR_LEN];
	struct config *cfg;

	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-reload-cost-unused.sock\";\n"
		 "io_backend = \"mmsg\"; workers = 1;\n"
		 "relays = ( { name = \"r\"; listen = [ \"" LISTEN "\" ];"
		 " upstreams = [ \"" UPSTREAM "\" ]; max_sessions = %u;"
		 " session_timeout = 3600.0; offload = \"tc\"; } );\n"
		 "filter = { mode = \"tc\"; interfaces = [ \"lo\" ]; deny = [ %s ]; };\n",
		 sessions, deny);
	if (config_load_string(text, "reload_cost.conf", &cfg, err, sizeof(err))) {
		fprintf(stderr, "reload_cost: %s\n", err);
		return NULL;
	}
	cfg->filter.n_interfaces = 0;
	return cfg;
}

static int setup(struct bench *b, uint32_t n)
{
	struct config *cfg = load(n, "\"198.19.255.0/24\"");
	struct worker_cmd first;
	char err[CONFIG_ERR_LEN];
	struct plan plan;
	int ret;

	if (!cfg || runtime_check(NULL, cfg, &plan, err, sizeof(err)))
		return -1;
	ret = filter_open_sized(cfg, plan.n_workers * plan.session_slots, &b->f, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "reload_cost: %s\n", err);
		return ret;
	}
	b->rt.fast = b->f;
	b->rt.offload[0] = true;
	if (runtime_prepare(&b->rt, cfg, &plan, &b->caps, err, sizeof(err))) {
		fprintf(stderr, "reload_cost: %s\n", err);
		return -1;
	}
	b->rt.workers[0].ops = &stub_ops;
	first = (struct worker_cmd){ .type = WORKER_CMD_APPLY, .cfg = cfg, .plan = &b->rt.plan,
				     .relay_slot = b->rt.relay_slot, .fast = b->f,
				     .offload = b->rt.offload };
	if (worker_apply(&b->rt.workers[0], &first)) {
		fprintf(stderr, "reload_cost: apply: %s\n", first.error);
		return -1;
	}
	b->rt.n_started = 1;
	if (pthread_create(&b->loop, NULL, loop_run, b))
		return -1;
	/* As a running daemon's commands are: through the runtime. */
	ret = runtime_reapply(&b->rt, err, sizeof(err));
	if (ret)
		fprintf(stderr, "reload_cost: reapply: %s\n", err);
	return ret;
}

/* n fast sessions, on the worker's thread (its loop only runs commands: none is pending). */
static int add_sessions(struct bench *b, uint32_t n)
{
	struct worker *w = &b->rt.workers[0];
	uint32_t r = b->rt.relay_slot[0], li, i;
	struct addr local, upstream, client;
	const char *why;
	struct session *s;

	for (li = 0; li < WORKER_MAX_LISTENERS; li++)
		if (w->listeners[li].in_use && w->listeners[li].relay == r)
			break;
	if (li == WORKER_MAX_LISTENERS || addr_parse(LISTEN, &local, &why) ||
	    addr_parse(UPSTREAM, &upstream, &why) || addr_parse("198.18.0.0:40000", &client, &why))
		return -1;
	for (i = 1; i <= n; i++) {
		/* 198.18.0.0 + i (up to 198.19.255.255) */
		client.in4.sin_addr.s_addr = htonl(0xc6120000u + i);
		s = session_insert(&w->relays[r].sessions, &client, li, NULL, worker_clock());
		if (!s)
			return -1;
		s->upstream_addr = upstream;
		s->upstream = SESSION_NONE;
		s->local = local;
		s->fast = true;
		s->flow = SESSION_NONE;
	}
	return 0;
}

/* Reloads with deny list deny as the app does: the program's rules, then the workers. */
static int reload(struct bench *b, uint32_t n, const char *deny, double *filter_ms)
{
	struct config *next = load(n, deny);
	char err[CONFIG_ERR_LEN] = "";
	uint32_t slot[CONFIG_MAX_RELAYS];
	struct plan plan;
	bool applied;
	double t0;

	if (!next || runtime_check(&b->rt, next, &plan, err, sizeof(err)) ||
	    runtime_reload_check(&b->rt, next, slot, err, sizeof(err)))
		goto err;
	t0 = now_ms();
	if (filter_update(b->f, next, err, sizeof(err)) < 0)
		goto err;
	*filter_ms = now_ms() - t0;
	if (runtime_reload(&b->rt, next, &plan, slot, &applied, err, sizeof(err)))
		goto err;
	return 0;
err:
	fprintf(stderr, "reload_cost: reload: %s\n", err);
	return -1;
}

/* ticks ticks on the worker's thread (its loop is stopped): the longest and the sum, ms, and
 * after which the relay's sessions were last fewer (0: none were). */
static void ticks(struct bench *b, uint32_t n_ticks, double *max, double *sum, uint32_t *last)
{
	struct worker *w = &b->rt.workers[0];
	const struct session_table *t = &w->relays[b->rt.relay_slot[0]].sessions;
	uint32_t i, active = t->active;
	double t0, dt;

	*max = *sum = 0;
	*last = 0;
	for (i = 0; i < n_ticks; i++) {
		w->now = worker_clock();
		t0 = now_ms();
		worker_tick(w);
		dt = now_ms() - t0;
		*sum += dt;
		if (dt > *max)
			*max = dt;
		if (t->active < active)
			*last = i + 1;
		active = t->active;
	}
}

static void loop_stop(struct bench *b)
{
	b->stop = true;
	pthread_join(b->loop, NULL);
}

static int loop_start(struct bench *b)
{
	b->stop = false;
	return pthread_create(&b->loop, NULL, loop_run, b) ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "same", "changed", "denies" };
	uint32_t n = 100000, n_ticks = 120, i, r, active, last, block, want;
	double base_max = 0, base_sum = 0, filter_ms = 0, max, sum;
	struct bench *b = calloc(1, sizeof(*b));
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
	if (unshare(CLONE_NEWNET) || system("ip link set lo up")) {
		fprintf(stderr, "reload_cost: private network namespace: %s\n", strerror(errno));
		return 1;
	}
	if (setup(b, n))
		return 1;
	loop_stop(b);
	if (add_sessions(b, n)) {
		fprintf(stderr, "reload_cost: cannot add %u sessions\n", n);
		return 1;
	}
	r = b->rt.relay_slot[0];
	printf("%u fast sessions, one worker; the worker's time in the reload's command, the "
	       "reload thread's in filter_update, then %u ticks\n",
	       n, n_ticks);
	for (i = 0; i < 3; i++) {
		if (loop_start(b) || reload(b, n, deny[i], &filter_ms))
			return 1;
		loop_stop(b);
		ticks(b, n_ticks, &max, &sum, &last);
		if (i == 0) {
			base_max = max;
			base_sum = sum;
		}
		active = b->rt.workers[0].relays[r].sessions.active;
		printf("%-8s command %8.2f ms  filter_update %6.2f ms  ticks: longest %6.2f ms, "
		       "sum %8.2f ms (%+8.2f ms over 'same')  sessions left %u",
		       names[i], b->cmd_ms, filter_ms, max, sum, sum - base_sum, active);
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
	return 0;
}
