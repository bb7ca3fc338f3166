/* SPDX-License-Identifier: MIT */
/* A runtime of one worker built by runtime_prepare on a stub backend, for the tests and perf/
 * tools that drive worker.c themselves: the worker has no thread of its own; a helper thread
 * plays its loop as far as commands go (runs what main posts, timing each), and the caller runs
 * its ticks and puts sessions into its table while that thread is stopped. Optionally with the
 * filter program loaded (filter_open_sized: real BPF maps, attached nowhere) for the fast
 * path of the config's relays. Included by tests/unit, tests/bpf and perf/ (-I tests). */
#ifndef RINGRELAY_TEST_STUB_WORKER_H
#define RINGRELAY_TEST_STUB_WORKER_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config_text.h"
#include "filter.h"
#include "runtime.h"
#include "worker_backend.h"

static inline int stub_listener_open(struct worker *w, uint32_t li)
{
	(void)w, (void)li;
	return 0;
}

static inline int stub_session_opened(struct worker *w, uint32_t relay, struct session *s)
{
	(void)w, (void)relay, (void)s;
	return 0;
}

/* As the mmsg backend: the slot is free at once. */
static inline void stub_session_close(struct worker *w, uint32_t relay, struct session *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	session_release(&w->relays[relay].sessions, s);
}

static inline const struct worker_ops *stub_worker_ops(void)
{
	static const struct worker_ops ops = {
		.listener_open = stub_listener_open,
		.session_opened = stub_session_opened,
		.session_close = stub_session_close,
	};
	return &ops;
}

struct stub_worker {
	struct runtime rt;
	struct uring_caps caps;
	struct filter *f; /* the program, or NULL */
	pthread_t loop;
	bool looping;
	volatile bool stop;
	double cmd_ms;	  /* the worker's time in the last command it ran (worker_run_cmd) */
	double filter_ms; /* the last stub_worker_reload's in filter_update */
};

static inline double stub_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The worker's loop as far as commands go: each as soon as it is posted (the stop is seen
 * within a millisecond). */
static inline void *stub_worker_loop(void *arg)
{
	struct stub_worker *sw = arg;
	struct worker *w = &sw->rt.workers[0];
	struct pollfd p = { .fd = w->cmd_fd, .events = POLLIN };
	double t0;

	while (!sw->stop) {
		poll(&p, 1, 1);
		t0 = stub_ms();
		if (worker_run_cmd(w))
			sw->cmd_ms = stub_ms() - t0;
	}
	return NULL;
}

static inline int stub_worker_loop_start(struct stub_worker *sw)
{
	if (sw->looping)
		return 0;
	sw->stop = false;
	if (pthread_create(&sw->loop, NULL, stub_worker_loop, sw))
		return -1;
	sw->looping = true;
	return 0;
}

/* Stops the loop: the worker is the caller's (ticks, sessions) until the next start. */
static inline void stub_worker_loop_stop(struct stub_worker *sw)
{
	if (!sw->looping)
		return;
	sw->stop = true;
	pthread_join(sw->loop, NULL);
	sw->looping = false;
}

/* The config of text with the program attached nowhere (no interface), or NULL. */
static inline struct config *stub_worker_config(const char *text)
{
	struct config *cfg = config_text(text);

	if (cfg)
		cfg->filter.n_interfaces = 0;
	return cfg;
}

/* A private network namespace with loopback up, for the program's maps and the listeners:
 * 0, or -1 with why on stderr (not root, no namespaces). */
static inline int stub_worker_private_net(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "needs root\n");
		return -1;
	}
	if (unshare(CLONE_NEWNET) || system("ip link set lo up")) {
		fprintf(stderr, "private network namespace: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Makes sw (zeroed) run cfg (taken, also on failure) as a start does, on the stub backend;
 * with fast, the program loaded and every relay's fast path on, whose rules' version the
 * worker then has (a reapply through the runtime, as a running daemon's commands come).
 * Returns 0 with the command loop running, or -1 with why on stderr. */
static inline int stub_worker_setup(struct stub_worker *sw, struct config *cfg, bool fast)
{
	struct worker_cmd first;
	char err[CONFIG_ERR_LEN];
	struct plan plan;
	uint32_t i;

	if (!cfg)
		return -1;
	if (runtime_check(NULL, cfg, &plan, err, sizeof(err)))
		goto err_free;
	if (fast) {
		if (filter_open_sized(cfg, plan.n_workers * plan.session_slots, &sw->f, err,
				      sizeof(err)) < 0)
			goto err_free;
		sw->rt.fast = sw->f;
		sw->rt.judge = sw->f;
		for (i = 0; i < cfg->n_relays; i++)
			sw->rt.offload[i] = true;
	}
	if (runtime_prepare(&sw->rt, cfg, &plan, &sw->caps, err, sizeof(err)))
		goto err;
	worker_routes_watch(&sw->rt.sync); /* (as the admin thread's route events are) */
	sw->rt.workers[0].ops = stub_worker_ops();
	first = (struct worker_cmd){ .type = WORKER_CMD_APPLY, .cfg = cfg, .plan = &sw->rt.plan,
				     .relay_slot = sw->rt.relay_slot, .fast = sw->f, .judge = sw->f,
				     .offload = sw->rt.offload };
	if (worker_apply(&sw->rt.workers[0], &first)) {
		fprintf(stderr, "stub worker: apply: %s\n", first.error);
		return -1;
	}
	sw->rt.n_started = 1;
	if (stub_worker_loop_start(sw)) {
		snprintf(err, sizeof(err), "no thread for the loop");
		goto err;
	}
	if (fast && runtime_reapply(&sw->rt, err, sizeof(err)))
		goto err;
	return 0;
err_free:
	config_free(cfg);
err:
	fprintf(stderr, "stub worker: %s\n", err);
	return -1;
}

static inline void stub_worker_teardown(struct stub_worker *sw)
{
	stub_worker_loop_stop(sw);
	worker_close_all(&sw->rt.workers[0]);
	sw->rt.n_started = 0; /* no thread to join */
	runtime_fini(&sw->rt);
	filter_free(sw->f);
}

/* Reloads next (taken) as the app does: the program's rules first (timed: filter_ms), then the
 * worker, whose loop runs for it. 0, or -1 with why in err. */
static inline int stub_worker_reload(struct stub_worker *sw, struct config *next, char *err,
				     size_t errlen)
{
	uint32_t slot[CONFIG_MAX_RELAYS];
	bool applied, looped = sw->looping;
	struct plan plan;
	double t0;
	int ret = -1;

	if (!next) {
		snprintf(err, errlen, "no config");
		return -1;
	}
	if (runtime_check(&sw->rt, next, &plan, err, errlen) ||
	    runtime_reload_check(&sw->rt, next, slot, err, errlen)) {
		config_free(next);
		return -1;
	}
	t0 = stub_ms();
	if (sw->f && filter_update(sw->f, next, err, errlen) < 0) {
		config_free(next);
		return -1;
	}
	sw->filter_ms = stub_ms() - t0;
	if (stub_worker_loop_start(sw) == 0)
		ret = runtime_reload(&sw->rt, next, &plan, slot, &applied, err, errlen);
	else
		config_free(next);
	if (!looped)
		stub_worker_loop_stop(sw);
	return ret ? -1 : 0;
}

/* The worker's tick, now (its loop stopped). */
static inline void stub_worker_tick(struct stub_worker *sw)
{
	struct worker *w = &sw->rt.workers[0];

	w->now = worker_clock();
	worker_tick(w);
}

/* The listener of relay slot r, or WORKER_MAX_LISTENERS. */
static inline uint32_t stub_worker_listener(const struct worker *w, uint32_t r)
{
	uint32_t li;

	for (li = 0; li < WORKER_MAX_LISTENERS; li++)
		if (w->listeners[li].in_use && w->listeners[li].relay == r)
			break;
	return li;
}

/* A session of client on listener li of relay slot r, put straight into the table as if
 * offloaded (fast, no entries in the program, no socket) to upstream: NULL when full. */
static inline struct session *stub_worker_fast_session(struct worker *w, uint32_t r, uint32_t li,
						       const struct addr *client,
						       const struct addr *upstream)
{
	struct session *s;

	s = session_insert(&w->relays[r].sessions, client, li, NULL, worker_clock());
	if (!s)
		return NULL;
	s->upstream_addr = *upstream;
	s->upstream = SESSION_NONE;
	s->local = w->listeners[li].addr;
	s->fast = true;
	s->flow = SESSION_NONE;
	return s;
}

#endif
