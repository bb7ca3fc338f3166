// SPDX-License-Identifier: MIT
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

uint64_t worker_clock(void)
{
	struct timespec ts;

	/* COARSE: a few ms of resolution is plenty for idle timeouts and costs no syscall. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t worker_tick_ns(const struct worker *w)
{
	uint64_t tick = 1000000000ull;
	uint32_t i;

	for (i = 0; i < w->n_relays; i++) {
		uint64_t t = (uint64_t)(w->relays[i].conf->session_timeout * 1e9 / 4);

		if (t < tick)
			tick = t;
	}
	return tick < 10000000ull ? 10000000ull : tick;
}

int worker_init(struct worker *w, uint32_t id, const struct config *cfg, const struct plan *plan,
		const struct uring_caps *caps, enum io_backend backend,
		const struct balancer *balancers, struct worker_sync *sync)
{
	uint32_t i, l = 0, m = 0;
	int err;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cpu = plan->cpu[id];
	w->cfg = cfg;
	w->plan = plan;
	w->caps = caps;
	w->backend = backend;
	w->sync = sync;
	w->stop_fd = -1;
	w->n_relays = cfg->n_relays;
	w->n_listeners = plan->n_listeners;
	w->n_mirror = plan->n_mirror;

	w->relays = calloc(w->n_relays, sizeof(*w->relays));
	w->listeners = calloc(w->n_listeners, sizeof(*w->listeners));
	w->mirror_fds = calloc(w->n_mirror ? w->n_mirror : 1, sizeof(*w->mirror_fds));
	w->counters = aligned_alloc(64, w->n_relays * sizeof(*w->counters));
	if (!w->relays || !w->listeners || !w->mirror_fds || !w->counters) {
		err = -ENOMEM;
		goto err_fini;
	}
	memset(w->counters, 0, w->n_relays * sizeof(*w->counters));
	for (i = 0; i < w->n_mirror; i++)
		w->mirror_fds[i] = -1;

	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *r = &cfg->relays[i];
		struct worker_relay *wr = &w->relays[i];
		uint32_t j;

		wr->conf = r;
		wr->balancer = &balancers[i];
		wr->rr_state = id; /* workers start at different upstreams */
		for (j = 0; j < r->n_listen; j++, l++) {
			w->listeners[l].addr = r->listen[j];
			w->listeners[l].relay = i;
			w->listeners[l].fd = -1;
			w->listeners[l].wildcard = addr_is_any(&r->listen[j]);
		}
		if (r->mode == RELAY_MODE_MIRROR) {
			wr->mirror_base = m;
			m += r->n_upstreams;
			continue;
		}
		err = session_table_init(&wr->sessions, plan->sessions[i],
					 (uint64_t)(r->session_timeout * 1e9));
		if (err)
			goto err_fini;
	}
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0) {
		err = -errno;
		goto err_fini;
	}
	return 0;

err_fini:
	worker_fini(w);
	return err;
}

void worker_fini(struct worker *w)
{
	uint32_t i;

	worker_close_sockets(w);
	for (i = 0; w->relays && i < w->n_relays; i++)
		session_table_fini(&w->relays[i].sessions);
	free(w->relays);
	free(w->listeners);
	free(w->mirror_fds);
	free(w->counters);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	w->relays = NULL;
	w->listeners = NULL;
	w->mirror_fds = NULL;
	w->counters = NULL;
	w->stop_fd = -1;
}

int worker_open_sockets(struct worker *w)
{
	char buf[ADDR_STRLEN];
	uint32_t i, j;
	int fd;

	for (i = 0; i < w->n_listeners; i++) {
		struct listener *l = &w->listeners[i];

		fd = sock_open_listener(&l->addr);
		if (fd < 0) {
			snprintf(w->error, sizeof(w->error), "relay %s: listen %s: %s%s",
				 w->relays[l->relay].conf->name, addr_format(&l->addr, buf, sizeof(buf)),
				 strerror(-fd),
				 fd == -EADDRINUSE ? " (another program holds this port: stop it or "
						     "change the listen address)"
				 : fd == -EADDRNOTAVAIL ? " (no interface has this address)"
				 : fd == -EACCES ? " (ports below 1024 need CAP_NET_BIND_SERVICE)"
						 : "");
			return fd;
		}
		l->fd = fd;
	}
	for (i = 0; i < w->n_relays; i++) {
		const struct relay_conf *r = w->relays[i].conf;

		if (r->mode != RELAY_MODE_MIRROR)
			continue;
		for (j = 0; j < r->n_upstreams; j++) {
			fd = sock_open_upstream(&r->upstreams[j].addr);
			if (fd < 0) {
				snprintf(w->error, sizeof(w->error), "relay %s: upstream %s: %s",
					 r->name, addr_format(&r->upstreams[j].addr, buf, sizeof(buf)),
					 strerror(-fd));
				return fd;
			}
			w->mirror_fds[w->relays[i].mirror_base + j] = fd;
		}
	}
	return 0;
}

void worker_close_sockets(struct worker *w)
{
	uint32_t i;

	for (i = 0; w->listeners && i < w->n_listeners; i++) {
		if (w->listeners[i].fd >= 0)
			close(w->listeners[i].fd);
		w->listeners[i].fd = -1;
	}
	for (i = 0; w->mirror_fds && i < w->n_mirror; i++) {
		if (w->mirror_fds[i] >= 0)
			close(w->mirror_fds[i]);
		w->mirror_fds[i] = -1;
	}
}

void worker_report(struct worker *w, enum worker_state state)
{
	pthread_mutex_lock(&w->sync->lock);
	w->state = state;
	w->sync->reported++;
	pthread_cond_broadcast(&w->sync->cond);
	pthread_mutex_unlock(&w->sync->lock);
}

struct session *worker_session_get(struct worker *w, const struct listener *l,
				   const struct addr *client, const struct sock_rx_meta *meta,
				   bool *created)
{
	struct worker_relay *wr = &w->relays[l->relay];
	struct relay_counters *c = &w->counters[l->relay];
	uint32_t li = (uint32_t)(l - w->listeners);
	struct session *s;
	int fd;

	*created = false;
	s = session_lookup(&wr->sessions, client, li);
	if (s) {
		session_touch(&wr->sessions, s, w->now);
		return s;
	}
	s = session_insert(&wr->sessions, client, li, w->now);
	if (!s) {
		counter_add(&c->drops[DROP_SESSION_FULL], 1);
		return NULL;
	}
	s->upstream = balancer_pick(wr->balancer, client, &wr->rr_state);
	/* A new flow costs socket() + connect(): per session, never per datagram. */
	fd = sock_open_upstream(&wr->conf->upstreams[s->upstream].addr);
	if (fd < 0) {
		session_close(&wr->sessions, s);
		session_release(&wr->sessions, s);
		counter_add(&c->drops[DROP_SOCKET_ERROR], 1);
		return NULL;
	}
	s->fd = fd;
	s->local = l->addr;
	if (meta->has_local) {
		s->local = meta->local;
		addr_set_port(&s->local, addr_port(&l->addr));
	}
	counter_add(&c->sessions_created, 1);
	counter_set(&c->sessions_active, wr->sessions.active);
	*created = true;
	return s;
}

void worker_note_overflow(struct worker *w, struct listener *l, const struct sock_rx_meta *m)
{
	if (!m->has_ovfl || m->ovfl == l->ovfl_last)
		return;
	/* The kernel's counter is cumulative per socket and wraps at 32 bits. */
	counter_add(&w->counters[l->relay].drops[DROP_SOCKET_OVERFLOW],
		    (uint32_t)(m->ovfl - l->ovfl_last));
	l->ovfl_last = m->ovfl;
}

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;
	sigset_t all;
	int err;

	/* Only main handles signals (signalfd); workers are stopped through stop_fd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err) {
		snprintf(w->error, sizeof(w->error), "worker %u: pin to CPU %d: %s", w->id, w->cpu,
			 strerror(err));
		worker_report(w, WORKER_FAILED);
		return (void *)(intptr_t)-err;
	}
	err = w->backend == IO_BACKEND_IO_URING ? worker_uring_run(w) : worker_mmsg_run(w);
	return (void *)(intptr_t)err;
}

int worker_start(struct worker *w)
{
	char name[16];
	int err;

	w->state = WORKER_STARTING;
	err = pthread_create(&w->thread, NULL, worker_thread, w);
	if (err)
		return -err;
	snprintf(name, sizeof(name), "ringrelay-w%u", w->id);
	pthread_setname_np(w->thread, name);
	return 0;
}

void worker_stop(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->stop_fd, &one, sizeof(one)) < 0)
		return; /* the counter cannot overflow with one write per stop */
}

int worker_join(struct worker *w)
{
	void *ret = NULL;

	pthread_join(w->thread, &ret);
	return (int)(intptr_t)ret;
}
