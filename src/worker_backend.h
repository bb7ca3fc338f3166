/* SPDX-License-Identifier: MIT */
/* What a worker backend implements (struct worker_ops) and what it may call back in
 * worker.c. The runtime hands a backend's ops to worker_init; worker.c calls a backend only
 * through them, so no backend is named outside the runtime's choice. */
#ifndef RINGRELAY_WORKER_BACKEND_H
#define RINGRELAY_WORKER_BACKEND_H

#include "sock.h"
#include "udata.h"
#include "worker.h"

/* listener_close, mirror_open and mirror_close may be NULL when the backend has nothing to
 * do there. */
struct worker_ops {
	/* The thread's body: set up, worker_apply(first), worker_report READY or FAILED, loop
	 * (worker_run_cmd when cmd_fd fires, worker_tick on a timer) until stop_fd fires, then
	 * worker_close_all and tear down. Returns 0 or -errno with w->error set. */
	int (*run)(struct worker *w, struct worker_cmd *first);
	/* What a backend does when the worker's set of sockets or sessions changes. */
	int (*listener_open)(struct worker *w, uint32_t li);
	void (*listener_close)(struct worker *w, uint32_t li); /* before the fd is closed */
	int (*mirror_open)(struct worker *w, uint32_t relay, uint32_t j);
	void (*mirror_close)(struct worker *w, uint32_t relay, uint32_t j);
	int (*session_opened)(struct worker *w, uint32_t relay, struct session *s);
	/* s is CLOSING: stop receiving on it; release it now or when its receive ends. */
	void (*session_close)(struct worker *w, uint32_t relay, struct session *s);
};

/* Runs the pending command (backends call it when cmd_fd fires), then marks it done. */
void worker_run_cmd(struct worker *w);
/* Applies cmd (APPLY) through w->ops; used for start-up too. 0 or -errno + cmd->error. */
int worker_apply(struct worker *w, struct worker_cmd *cmd);
/* Closes everything worker_apply opened (at exit). */
void worker_close_all(struct worker *w);
/* Reports READY/FAILED to main. */
void worker_report(struct worker *w, enum worker_state state);
/* Called by backends on a timer tick: expires idle sessions and finishes draining relays. */
void worker_tick(struct worker *w);
/* Period of the expiry timer: a quarter of the shortest session timeout, at most 1 s and at
 * most w->heartbeat_ns, at least 10 ms. */
uint64_t worker_tick_ns(const struct worker *w);

/* The session for a datagram from client on listener li, creating it (and its connected
 * upstream socket, s->fd) when new; the backend's session_opened hook then adopts the fd.
 * Returns NULL and counts the n datagrams (GRO segments) it carries as dropped when the
 * table is full or a socket cannot be made. */
struct session *worker_session_get(struct worker *w, uint32_t li, const struct addr *client,
				   const struct sock_rx_meta *meta, uint32_t n);
/* Accounts an SO_RXQ_OVFL value seen on listener l. */
void worker_note_overflow(struct worker *w, struct listener *l, const struct sock_rx_meta *m);

#endif
