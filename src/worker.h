/* SPDX-License-Identifier: MIT */
/* A worker: one thread pinned to one CPU that owns everything it touches: its listener
 * sockets (SO_REUSEPORT siblings of the other workers'), its ring or epoll set, its buffers,
 * its session tables and its counters. Workers share only read-only data (config, plan,
 * balancers). Two backends run the same relay semantics: io_uring (worker_uring.c) and
 * epoll + recvmmsg/sendmmsg (worker_mmsg.c).
 *
 * Relays and listeners live in fixed slots that keep their index for as long as they exist,
 * so a reload can add and remove them while completions that carry those indices are still
 * in flight. Start-up is a reload from nothing (worker_apply). */
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

#define WORKER_MAX_RELAYS CONFIG_MAX_RELAYS
#define WORKER_MAX_LISTENERS PLAN_LISTENER_SLOTS /* listener li is fixed file li */

struct listener {
	bool in_use;
	struct addr addr;
	uint32_t relay; /* relay slot */
	uint32_t gen;	/* bumped on close: completions of an older socket are stale */
	int fd;
	bool wildcard;
	uint32_t ovfl_last; /* last SO_RXQ_OVFL value seen */
};

enum relay_slot_state { RELAY_SLOT_UNUSED, RELAY_SLOT_ACTIVE, RELAY_SLOT_DRAINING };

struct worker_relay {
	enum relay_slot_state state;
	const struct relay_conf *conf; /* in the config in force; NULL when not ACTIVE */
	const struct balancer *balancer;
	enum relay_mode mode;
	struct session_table sessions; /* forward mode only */
	uint32_t session_base;	       /* io_uring: fixed slot of session 0 */
	uint32_t session_region;       /* fixed slots reserved for this relay's sessions */
	uint32_t rr_state;
	uint32_t n_mirror;		     /* mirror mode: one socket per upstream */
	struct addr mirror_addr[CONFIG_MAX_UPSTREAMS];
	int mirror_fd[CONFIG_MAX_UPSTREAMS];
	uint32_t mirror_slot[CONFIG_MAX_UPSTREAMS]; /* io_uring fixed slots */
};

enum worker_state { WORKER_STARTING, WORKER_READY, WORKER_FAILED };

/* Start-up and command rendezvous between main and its workers. */
struct worker_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t reported;
};

/* A session as `ringrelayctl sessions` shows it. */
struct session_info {
	uint32_t worker;
	uint32_t relay; /* index in the config in force */
	struct addr client;
	struct addr local;
	struct addr upstream;
	uint64_t idle_ms;
};

enum worker_cmd_type { WORKER_CMD_APPLY, WORKER_CMD_SESSIONS };

/* A request main hands to a worker; the worker runs it on its own thread between batches.
 * APPLY: make the worker serve cfg (relays matched by name, listeners by address).
 * relay_slot[i] is the slot of cfg->relays[i], the same in every worker. */
struct worker_cmd {
	enum worker_cmd_type type;
	const struct config *cfg;
	const struct balancer *balancers;
	const uint32_t *relay_slot;
	/* SESSIONS */
	uint32_t relay; /* slot, or UINT32_MAX for all */
	struct session_info *out;
	uint32_t max;
	uint32_t n, total;
	/* result */
	int result;
	char error[256];
	bool done;
};

struct worker;

/* What a backend does when the worker's set of sockets or sessions changes. listener_close,
 * mirror_open and mirror_close may be NULL when the backend has nothing to do there. */
struct worker_ops {
	int (*listener_open)(struct worker *w, uint32_t li);
	void (*listener_close)(struct worker *w, uint32_t li); /* before the fd is closed */
	int (*mirror_open)(struct worker *w, uint32_t relay, uint32_t j);
	void (*mirror_close)(struct worker *w, uint32_t relay, uint32_t j);
	int (*session_opened)(struct worker *w, uint32_t relay, struct session *s);
	/* s is CLOSING: stop receiving on it; release it now or when its receive ends. */
	void (*session_close)(struct worker *w, uint32_t relay, struct session *s);
};

struct worker {
	uint32_t id;
	int cpu;
	const struct config *cfg; /* the config in force for this worker */
	const struct plan *plan;
	const struct uring_caps *caps;
	enum io_backend backend; /* IO_BACKEND_IO_URING or IO_BACKEND_MMSG, never AUTO */
	struct worker_sync *sync;
	const struct worker_ops *ops;
	void *backend_state;

	struct listener listeners[WORKER_MAX_LISTENERS];
	struct worker_relay relays[WORKER_MAX_RELAYS];
	struct relay_counters counters[WORKER_MAX_RELAYS]; /* one writer: this worker */
	struct worker_counters wc;
	uint32_t region_next; /* next free fixed slot for session regions */

	int stop_fd; /* eventfd: main writes 1 to stop the worker */
	int cmd_fd;  /* eventfd: main writes 1 after setting cmd */
	struct worker_cmd *cmd;
	uint64_t now; /* monotonic ns, sampled once per loop iteration */
	pthread_t thread;
	enum worker_state state; /* written by the worker under sync->lock */
	char error[256];
	char features[192]; /* what the backend runs with, for the start-up log */
};

/* Fills w for worker id (no sockets yet); the first APPLY is passed to worker_start.
 * Returns 0 or -errno. */
int worker_init(struct worker *w, uint32_t id, const struct plan *plan,
		const struct uring_caps *caps, enum io_backend backend, struct worker_sync *sync);
void worker_fini(struct worker *w);

/* Starts the thread, which sets up its backend, applies first (the initial config) and
 * reports READY or FAILED through w->sync. Returns 0 or -errno. */
int worker_start(struct worker *w, struct worker_cmd *first);
/* Asks the worker to stop (one write). */
void worker_stop(struct worker *w);
/* Waits for the thread; returns its result (0 or -errno). */
int worker_join(struct worker *w);
/* Hands cmd to the worker (no wait). */
void worker_post(struct worker *w, struct worker_cmd *cmd);
/* Waits until the worker finished cmd. */
void worker_wait(struct worker *w, struct worker_cmd *cmd);

/* ---- for the backends (worker.c) ---- */

int worker_uring_run(struct worker *w, struct worker_cmd *first);
int worker_mmsg_run(struct worker *w, struct worker_cmd *first);

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

/* The session for a datagram from client on listener li, creating it (and its connected
 * upstream socket, s->fd) when new; the backend's session_opened hook then adopts the fd.
 * Returns NULL and counts the drop when the table is full or a socket cannot be made. */
struct session *worker_session_get(struct worker *w, uint32_t li, const struct addr *client,
				   const struct sock_rx_meta *meta);
/* Accounts an SO_RXQ_OVFL value seen on listener l. */
void worker_note_overflow(struct worker *w, struct listener *l, const struct sock_rx_meta *m);
/* Monotonic now in ns (vDSO, no syscall). */
uint64_t worker_clock(void);
/* Period of the expiry timer: a quarter of the shortest session timeout, 10 ms .. 1 s. */
uint64_t worker_tick_ns(const struct worker *w);

#endif
