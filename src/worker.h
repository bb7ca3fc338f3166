/* SPDX-License-Identifier: MIT */
/* A worker: one thread pinned to one CPU that owns everything it touches: its listener
 * sockets (SO_REUSEPORT siblings of the other workers'), its ring or epoll set, its buffers,
 * its session tables and its counters. Workers share only read-only data (config, plan,
 * balancers). Two backends run the same relay semantics: io_uring (worker_uring.c) and
 * epoll + recvmmsg/sendmmsg (worker_mmsg.c). */
#ifndef RINGRELAY_WORKER_H
#define RINGRELAY_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "balance.h"
#include "config.h"
#include "counters.h"
#include "plan.h"
#include "session.h"
#include "sock.h"
#include "uring.h"

struct listener {
	struct addr addr;
	uint32_t relay;
	int fd;
	bool wildcard;
	uint32_t ovfl_last; /* last SO_RXQ_OVFL value seen */
};

struct worker_relay {
	const struct relay_conf *conf;
	const struct balancer *balancer;
	struct session_table sessions; /* forward mode only */
	uint32_t rr_state;
	uint32_t mirror_base; /* first of this relay's sockets in worker.mirror_fds */
};

enum worker_state { WORKER_STARTING, WORKER_READY, WORKER_FAILED, WORKER_DONE };

/* Start-up rendezvous between main and its workers. */
struct worker_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t reported;
};

struct worker {
	uint32_t id;
	int cpu;
	const struct config *cfg;
	const struct plan *plan;
	const struct uring_caps *caps;
	enum io_backend backend; /* IO_BACKEND_IO_URING or IO_BACKEND_MMSG, never AUTO */
	struct worker_sync *sync;

	struct listener *listeners; /* plan->n_listeners */
	uint32_t n_listeners;
	struct worker_relay *relays; /* cfg->n_relays */
	uint32_t n_relays;
	int *mirror_fds;	     /* plan->n_mirror */
	uint32_t n_mirror;

	struct relay_counters *counters; /* one per relay, cache-line aligned */
	struct worker_counters wc;

	int stop_fd; /* eventfd: main writes 1 to stop the worker */
	uint64_t now; /* monotonic ns, sampled once per loop iteration */
	pthread_t thread;
	enum worker_state state; /* written by the worker, read by main under sync->lock */
	char error[256];
	char features[192]; /* what the backend runs with, for the start-up log and -V */
};

/* Fills w for worker id; allocates its per-relay state and counters (no sockets yet).
 * Returns 0 or -ENOMEM. */
int worker_init(struct worker *w, uint32_t id, const struct config *cfg, const struct plan *plan,
		const struct uring_caps *caps, enum io_backend backend,
		const struct balancer *balancers, struct worker_sync *sync);
void worker_fini(struct worker *w);

/* Starts the thread; it reports READY or FAILED through w->sync. Returns 0 or -errno. */
int worker_start(struct worker *w);
/* Asks the worker to stop (async-signal-safe: one write). */
void worker_stop(struct worker *w);
/* Waits for the thread; returns its result (0 or -errno). */
int worker_join(struct worker *w);

/* ---- shared by the backends (worker.c) ---- */

/* The worker thread's body for each backend; return 0 or -errno, with w->error set. */
int worker_uring_run(struct worker *w);
int worker_mmsg_run(struct worker *w);

/* Opens every listener and mirror socket of this worker. */
int worker_open_sockets(struct worker *w);
void worker_close_sockets(struct worker *w);
/* Reports READY/FAILED to main. */
void worker_report(struct worker *w, enum worker_state state);

/* The session for a datagram from client on listener l, creating it (and its connected
 * upstream socket, s->fd) when new. Returns NULL and counts the drop when the table is full
 * or the socket cannot be made. *created tells the backend to start receiving on s->fd. */
struct session *worker_session_get(struct worker *w, const struct listener *l,
				   const struct addr *client, const struct sock_rx_meta *meta,
				   bool *created);
/* Accounts an SO_RXQ_OVFL value seen on listener l. */
void worker_note_overflow(struct worker *w, struct listener *l, const struct sock_rx_meta *m);
/* Monotonic now in ns (vDSO, no syscall). */
uint64_t worker_clock(void);
/* Period of the expiry timer: a quarter of the shortest session timeout, 10 ms .. 1 s. */
uint64_t worker_tick_ns(const struct worker *w);

#endif
