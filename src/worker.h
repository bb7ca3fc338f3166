/* SPDX-License-Identifier: MIT */
/* A worker: one thread pinned to one CPU that owns everything it touches: its listener
 * sockets (SO_REUSEPORT siblings of the other workers'), its ring or epoll set, its buffers,
 * its session tables and its counters. Workers share only read-only data (config, plan,
 * balancers). The backend that runs the relay semantics (io_uring in worker_uring.c, epoll +
 * recvmmsg/sendmmsg in worker_mmsg.c) is a table of operations the runtime picks once;
 * worker_backend.h is what a backend implements and may call.
 *
 * Relays and listeners live in fixed slots that keep their index for as long as they exist,
 * so a reload can add and remove them while completions that carry those indices are still
 * in flight. Start-up is a reload from nothing. */
#ifndef RINGRELAY_WORKER_H
#define RINGRELAY_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "balance.h"
#include "offload.h"
#include "config.h"
#include "counters.h"
#include "filter.h"
#include "plan.h"
#include "pool.h"
#include "session.h"
#include "slots.h"
#include "routescope.h"
#include "sock.h"

#define WORKER_MAX_RELAYS SLOTS_MAX
#define WORKER_MAX_LISTENERS PLAN_LISTENER_SLOTS /* listener li is fixed file li */

struct accesslog_ring;
struct uring_caps;
struct worker_ops;

/* What a closing session's (or plain mirror's) socket still holds is read (no payload:
 * MSG_TRUNC) and counted, in reads of this many receives, at most WORKER_UNREAD_ROUNDS reads
 * a close; per tick of the worker reads stop once WORKER_UNREAD_TICK_DATAGRAMS datagrams (a
 * GRO receive counts its datagrams) or WORKER_UNREAD_TICK_READS reads were taken (each close
 * with anything queued takes at least two: the last says the queue is empty): a reload
 * closing many backlogged sessions stalls the worker for a few tens of ms at most (drain_unread).
 * Datagrams, not reads, bound what is counted: a reload closing thousands of sessions with
 * a reply or two each is counted whole. */
#define WORKER_UNREAD_BATCH 64
#define WORKER_UNREAD_ROUNDS 256
#define WORKER_UNREAD_TICK_DATAGRAMS 65536
#define WORKER_UNREAD_TICK_READS 16384

/* drain_unread's scratch, the worker's own: a close allocates nothing. */
struct worker_unread {
	struct mmsghdr msgs[WORKER_UNREAD_BATCH];
	struct sockaddr_in6 names[WORKER_UNREAD_BATCH];
	union {
		struct cmsghdr align;
		char buf[SOCK_RX_OVFL_CONTROL_LEN + SOCK_RX_GRO_CONTROL_LEN];
	} control[WORKER_UNREAD_BATCH];
	uint32_t reads, taken; /* recvmmsg calls and datagrams since the last tick (worker_tick) */
};

struct listener {
	bool in_use;
	struct addr addr;
	uint32_t relay; /* relay slot */
	uint32_t gen;	/* bumped on close: completions of an older socket are stale */
	int fd;
	struct sock_route_keys keys; /* read when it opened: fixed for its life (open_listener) */
	bool wildcard;
	/* it reports pktinfo: a wildcard always, any other while a filter runs (its sessions'
	 * rx_iif: judge_one); a reload that turns the filter on or off sets it in place */
	bool pktinfo;
	uint32_t ovfl_last; /* last SO_RXQ_OVFL value seen */
};

enum relay_slot_state { RELAY_SLOT_UNUSED, RELAY_SLOT_ACTIVE, RELAY_SLOT_DRAINING };

/* New sessions waiting for their first reply (reply_timeout), oldest first. */
#define WORKER_NOREPLY_MAX 256
struct worker_noreply {
	uint32_t idx, gen; /* the session */
	uint64_t due;	   /* ns: no reply by then is a failure of its upstream */
};

#define WORKER_EVICTED_MAX 16

/* Fast sessions whose path MTUs or routes the tick reads again per second at most, over a worker's
 * relays (offload_session_recheck: one syscall upstream, six for the replies, two more for each
 * rule that changes; deriving its rules again after its routes moved or at a new route epoch:
 * three syscalls, the four route lookups of its open, eight map lookups for the program's hooks on
 * its devices and two map calls per rule, and both path MTU (and TTL) readings after a move), and
 * sessions parked for their routes (they left, or their open was refused for them) whose fast open
 * is tried again (about an open's cost: fast_return). As many derivations again for a new route
 * epoch alone (OFFLOAD_RECHECK_EPOCH), and tries for it alone that find a parked session still
 * refused, from an allowance of their own. */
#define WORKER_PMTU_PER_SEC 64

/* Route changes a worker's tick reads at most for its fast sessions due for a new route epoch
 * alone and its sessions parked for their routes due for it alone, each for one session
 * (offload_route_scope: in memory, no syscall): 1 to 3 ms added to a tick that reads them all
 * (perf/reload_cost, 100,000 sessions: the change's three ticks 4-10 ms against 3-6.5 ms deriving
 * at 64 a second), about what the tick's fold of 100,000 sessions costs, and less than a judging
 * turn (WORKER_JUDGE_PER_TICK). A change unrelated to 100,000 sessions is through in four ticks
 * (about 4 s) where their derivations took 26 minutes; a session keeps what it read, and one a
 * change covers is not read again until its derivation (from the epoch's allowance). */
#define WORKER_SCOPE_PER_TICK 32768

/* Map calls a worker makes per tick at most, and at the reload that changed them, to judge its
 * sessions' clients by changed filter rules: a table of many is judged over ticks, so the
 * reload does not hold the worker's loop for all of them (perf/reload_cost). One unit is one
 * bpf() map call (a syscall: about 2 us on the development VM, perf/reload_cost): two to begin a turn
 * (the generation in force, its settings), a lookup in the prefix trie per session and
 * one more where its local port is another than the session before's, and
 * WORKER_JUDGE_END_CALLS to end a fast one or take it off the fast path: a lookup and a delete
 * for each of its two entries, and its socket's close (a syscall with mmsg, a queued request
 * with io_uring) counted as one.
 * A new fast session's client is judged as it opens (fast_open: not counted here). */
#define WORKER_JUDGE_PER_TICK 4096
#define WORKER_JUDGE_END_CALLS 5
/* ... and the lookup of the interface a denied fast client's datagrams arrive on (does the
 * filter run there?), made once a turn per interface mostly */
#define WORKER_JUDGE_IFACE_CALLS 1

/* Sessions of a relay that went fast with their client found denied by the rules in force
 * (fast_open), kept for the next judging turn to judge again (judge_one: ended, or taken off the
 * fast path, if still denied); past as many between two turns, that turn finds the rest by a
 * walk of the table (judge_due). */
#define WORKER_DUE_MAX 64

/* upstream_down = "move": session slots a worker's tick walks at most per relay for sessions
 * whose upstream went down (a few ns each: about 0.3 ms), and sessions it ends at most per
 * relay (a socket's close, and for a fast one its entries' lookups and deletes: about 10 us
 * each). A table larger, or more sessions to end, take the next ticks too. */
#define WORKER_DOWN_WALK_PER_TICK 65536
#define WORKER_DOWN_END_PER_TICK 1024

struct worker_relay {
	enum relay_slot_state state;
	const struct relay_conf *conf; /* in the config in force; NULL when not ACTIVE */
	/* The relay the counters below count: they start over only for another relay (a relay
	 * a failed apply ended stays configured, and its totals are Prometheus counters). */
	char counted[CONFIG_NAME_LEN];
	/* The slot's generation (worker_cmd.slot_gen) they count for, stored with release
	 * order after they started over: main sums them only for the generation in force, not
	 * a former relay's in this slot while this worker has not applied (stuck). */
	uint64_t counted_gen;
	enum relay_mode mode;
	bool offload; /* install fast-path entries for new sessions */
	/* The filter rule set (worker.judge_rules) the sessions' clients are judged by, in
	 * slot order from judge_next (the cursor) round the table: judge_left slots of its lap
	 * are still to come (judge_turn) */
	uint64_t judged;
	uint32_t judge_next, judge_left;
	/* sessions marked judge_due for the next turn: up to WORKER_DUE_MAX by slot and gen;
	 * due_walk when more were, so the turn looks for them all */
	struct {
		uint32_t idx, gen;
	} due[WORKER_DUE_MAX];
	uint32_t n_due;
	bool due_walk;
	/* source = "client": sessions (forward and mirror) send from the client's address and
	 * port; a mirror then keeps a session (socket) per client instead of mirror sockets */
	bool transparent;
	struct session_table sessions; /* forward or transparent; fixed files in w->regions */
	/* what the slot's tables handed out so far: a new table's gens go on from them */
	struct session_gens gens;
	uint32_t rr_state; /* rr's position (balancer_pick), from balancer_rr_start */
	uint64_t members_gen;		     /* the pool member list the sockets below follow */
	uint32_t n_mirror;		     /* mirror mode: one socket per upstream */
	struct addr mirror_addr[CONFIG_MAX_UPSTREAMS];
	int mirror_fd[CONFIG_MAX_UPSTREAMS];
	uint32_t mirror_slot[CONFIG_MAX_UPSTREAMS]; /* io_uring fixed slots */
	uint32_t mirror_uslot[CONFIG_MAX_UPSTREAMS]; /* per-upstream counter slots */
	uint32_t mirror_ovfl[CONFIG_MAX_UPSTREAMS];  /* each socket's SO_RXQ_OVFL as last seen */
	/* the longest datagram each member's path carries unfragmented (a UDP GSO segment;
	 * 0 after its device refused to segment: copies go in pieces until the next sync) */
	uint32_t mirror_seg_max[CONFIG_MAX_UPSTREAMS];
	uint32_t uc_gen[CONFIG_MAX_UPSTREAMS];	    /* pool_member.gen each counter slot counts */
	/* how many times each counter slot changed members (member_uc): a send in flight keeps
	 * it from its submission, to count at its completion only for the member it went to
	 * (worker_up_since) */
	uint8_t uc_moves[CONFIG_MAX_UPSTREAMS];
	uint64_t mirror_retry_ns; /* when members without a socket (mirror_fd -1) are tried again */
	/* io_uring: the last evictions whose slots are on their way back, and the client each
	 * made room for (a ring, oldest overwritten) */
	struct {
		uint32_t idx, gen;
		struct addr client;
	} evicted[WORKER_EVICTED_MAX];
	uint32_t evicted_next;
	struct worker_noreply noreply[WORKER_NOREPLY_MAX];
	uint32_t noreply_head, noreply_len;
	/* upstream_down = "move" (move_sessions): the pool the last walk began for (its seq; 0:
	 * none: a new one may have new members down, or have had them up again in between for
	 * new sessions), the counter slots of its members that are down (down_mask) and
	 * their members' gens, and the lap: down_left slots from down_next are to be walked */
	uint64_t down_seq;
	uint64_t down_mask;
	uint32_t down_gen[CONFIG_MAX_UPSTREAMS];
	uint32_t down_next, down_left;
};

/* READY and FAILED answer the start (FAILED: set-up failed, the thread ends). STOPPING: the
 * loop has ended (it saw the stop, or failed) and the backend tears down, which ends by
 * itself; a worker still READY at a stop's deadline is stuck. */
enum worker_state { WORKER_STARTING, WORKER_READY, WORKER_FAILED, WORKER_STOPPING };

/* Start-up and command rendezvous between main and its workers. */
struct worker_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t reported;
	/* The process is stopping (worker_sync_stopping): waits on workers end by
	 * stop_deadline_ms, also for a command a worker has begun. */
	bool stopping;
	uint64_t stop_deadline_ms;
	/* eventfd, written when a worker's loop ended on an error while the process ran on
	 * (worker.failed): main stops the process, whose service manager starts it again. */
	int failed_fd;
	/* The route epoch: bumped by the admin thread when routes, policy rules or the fast
	 * path's devices changed (worker_routes_moved, worker_routes_changed), with what changed:
	 * a worker's fast sessions derived under an older one are due to be derived again where
	 * a change since covers their addresses, and those that left the fast path for their
	 * routes to try it again. Read without the lock (worker_route_epoch, routescope.h). */
	struct routescope routes;
	/* The admin thread reads the kernel's route events (worker_routes_watch): without them a
	 * session refused the fast path at its open for its routes backs off by time, as one that
	 * left it does, instead of waiting for a route epoch that covers it (offload_open_park). */
	bool routes_watched;
};

/* Route events are read from now on (admin_start). */
static inline void worker_routes_watch(struct worker_sync *sync)
{
	__atomic_store_n(&sync->routes_watched, true, __ATOMIC_RELEASE);
}

static inline bool worker_routes_watched(const struct worker_sync *sync)
{
	return sync && __atomic_load_n(&sync->routes_watched, __ATOMIC_ACQUIRE);
}

/* Anything may have moved (a rule, a nexthop, a device, lost messages): every fast session is
 * due. */
static inline void worker_routes_moved(struct worker_sync *sync)
{
	routescope_all(&sync->routes);
}

/* The routes within prefix p (IPv4's when v4) changed: the fast sessions it covers are due. */
static inline void worker_routes_changed(struct worker_sync *sync, const struct prefix *p,
					 bool v4)
{
	routescope_prefix(&sync->routes, p, v4);
}

static inline uint32_t worker_route_epoch(const struct worker_sync *sync)
{
	return sync ? routescope_epoch(&sync->routes) : 0;
}

/* A session as `ringrelayctl sessions` shows it. */
struct session_info {
	uint32_t worker;
	uint32_t relay; /* index in the config in force */
	struct addr client;
	struct addr local;
	struct addr upstream;
	uint64_t idle_ms;
	bool fast;	   /* the BPF fast path relays it too */
	uint8_t fast_refused; /* else why not: enum offload_refusal */
	uint64_t fast_pkts; /* datagrams it relayed for this session (both ways, folded) */
	uint16_t fast_mtu[2]; /* fast: its rules' path MTU, [enum offload_dir] (0: none) */
};

enum worker_cmd_type { WORKER_CMD_APPLY, WORKER_CMD_SESSIONS };

/* A request main hands to a worker; the worker runs it on its own thread between batches.
 * APPLY: make the worker serve cfg (relays matched by name, listeners by address) as plan
 * (cfg's plan) sizes it. relay_slot[i] is the slot of cfg->relays[i], the same in every
 * worker. */
struct worker_cmd {
	enum worker_cmd_type type;
	const struct config *cfg;
	const struct plan *plan;
	const uint32_t *relay_slot;
	/* [relay slot]: a generation that changes when the slot gets another relay (runtime.h
	 * slot_gen); NULL: 0 */
	const uint64_t *slot_gen;
	struct filter *fast;	/* the loaded program for the fast path, or NULL */
	/* the loaded program whose filter rules judge the sessions' clients (the fast path's,
	 * or a filter's without one; NULL: none), and its filter_rules_version (0: none) */
	struct filter *judge;
	uint64_t judge_rules;
	const bool *offload;	/* per relay of cfg: the fast path runs for it */
	bool keep_fast;		/* a relay whose fast path goes off keeps its sessions' entries */
	bool steer_cpu;		/* listeners marked with the worker's CPU (steer.h) */
	/* SESSIONS */
	uint32_t relay; /* slot, or UINT32_MAX for all */
	struct session_info *out;
	uint32_t max;
	uint32_t n, total;
	/* result */
	int result;
	char error[CONFIG_ERR_LEN];
	bool taken; /* the worker has begun it: it will finish it */
	bool done;
};

struct worker {
	uint32_t id;
	int cpu;
	bool steer_cpu; /* its listeners are marked with cpu (steer.h), as the last APPLY said */
	const struct config *cfg; /* the config in force for this worker */
	const struct plan *plan;  /* the plan it started with: its ring and file table */
	const struct uring_caps *caps;
	struct worker_sync *sync;
	const struct worker_ops *ops; /* the backend, chosen by the runtime */
	void *backend_state;

	struct listener listeners[WORKER_MAX_LISTENERS];
	struct worker_relay relays[WORKER_MAX_RELAYS];
	struct relay_counters counters[WORKER_MAX_RELAYS]; /* one writer: this worker */
	/* [relay slot * CONFIG_MAX_UPSTREAMS + counter slot]: one writer, this worker */
	struct upstream_counters *uc;
	/* Each relay slot's published pool (pool.h), main's array: load with worker_pool. */
	struct pool **pools;
	struct worker_counters wc;
	struct slots_regions regions; /* each relay slot's session fixed files */
	struct offload_worker fast;   /* the fast path's program (fast.f NULL: none) */
	struct filter *judge_f;	      /* what judges the sessions' clients (worker_cmd.judge) */
	uint64_t judge_rules;	      /* the version of its filter rules (worker_cmd.judge_rules) */
	uint32_t judge_first;	      /* the relay slot judge_turn's next turn starts with */
	/* fast_open's judgement of new fast sessions' clients (open_judged: begun since the
	 * last command or tick, which begin again) */
	struct filter_judge open_judge;
	bool open_judged;
	int open_iif, open_iif_judges; /* the fast_iif it asked about last (-1: none yet) */
	struct offload_pmtu_turn pmtu; /* the tick's path MTU readings (WORKER_PMTU_PER_SEC) */
	uint32_t route_epoch;	       /* worker_route_epoch as last read (a turn, a fast open) */
	struct offload_scope scope;    /* the tick's reading of its changes (WORKER_SCOPE_PER_TICK) */
	struct accesslog_ring *alog;  /* session starts and ends; NULL when access_log is off */
	struct worker_unread unread;  /* a closing socket's last datagrams (drain_unread) */

	int stop_fd; /* eventfd: main writes 1 to stop the worker */
	int cmd_fd;  /* eventfd: main writes 1 after setting cmd */
	struct worker_cmd *cmd;
	uint64_t now; /* monotonic ns, sampled once per loop iteration */
	uint64_t heartbeat_ns; /* an idle loop turns at least this often (watchdog); 0: no need */
	uint64_t started; /* worker_clock() as its thread was started: the age of a heartbeat
			   * that never beat */
	bool session_err_told; /* a session socket's failure was logged (once per worker) */
	bool ring_nomem; /* the io_uring backend failed with ENOMEM making its rings: the runtime
			  * may fall back to mmsg (RLIMIT_MEMLOCK) */
	pthread_t thread;
	enum worker_state state; /* written by the worker under sync->lock */
	char error[CONFIG_ERR_LEN];
	bool failed; /* its loop ended on an error (error says which), under sync->lock */
	bool failed_told; /* ... and runtime_worker_failures logged it */
	char features[512]; /* what the backend runs with, for the start-up log */
	/* NAPI busy polling as set up on the ring or epoll instance: 1 on, 0 off (napi.
	 * busy_poll_us = 0), or the kernel's -errno (the worker runs without it) */
	int busy_poll;
};

/* Fills w for worker id (no sockets yet) to run on backend ops, reading its relays' pools from
 * pools (WORKER_MAX_RELAYS entries, main's); the first APPLY is passed to worker_start.
 * Returns 0 or -errno. */
int worker_init(struct worker *w, uint32_t id, const struct plan *plan,
		const struct uring_caps *caps, const struct worker_ops *ops,
		struct worker_sync *sync, struct pool **pools);
void worker_fini(struct worker *w);

/* Starts the thread, which runs the backend: it sets up, applies first (the initial config)
 * and reports READY or FAILED through w->sync. Returns 0 or -errno. */
int worker_start(struct worker *w, struct worker_cmd *first);
/* Asks the worker to stop (one write). */
void worker_stop(struct worker *w);
/* Waits for the thread; returns its result (0 or -errno). */
int worker_join(struct worker *w);
/* Waits until the worker's loop has ended (STOPPING or FAILED), or until deadline_ms
 * (CLOCK_MONOTONIC, worker_ms). Returns 0, or -ETIMEDOUT while the loop still runs: a stuck
 * worker, which must then never be joined nor have anything it uses freed. */
int worker_await_stop(struct worker *w, uint64_t deadline_ms);
/* Initialises the rendezvous: its condition variable runs on CLOCK_MONOTONIC, which
 * worker_wait's deadline uses. Returns 0 or -errno. */
int worker_sync_init(struct worker_sync *sync);
/* Hands cmd to the worker (no wait). */
void worker_post(struct worker *w, struct worker_cmd *cmd);
/* Waits until the worker finished cmd, or until deadline_ms (CLOCK_MONOTONIC, worker_ms) when
 * the worker has not begun it by then: a worker that does not come round to its commands (a
 * stuck loop) must not hold the caller, which may hold the app lock. Returns 0 when done, or
 * -ETIMEDOUT with cmd taken back: the worker will never see it, so it and what it points to
 * may go. A command the worker has begun is waited for to its end (memory it writes must not
 * be freed under it), except once the process stops: then until the stop's deadline, and
 * -ECANCELED when the worker has not finished it by then. The worker may still write cmd and
 * what it points to: they must never be freed (the stop leaves that worker running and the
 * process exits without freeing). */
int worker_wait(struct worker *w, struct worker_cmd *cmd, uint64_t deadline_ms);
/* The process stops: worker_wait gives up on begun commands at deadline_ms, and on commands
 * not begun at the earlier of theirs and it. The first call sets the deadline. */
void worker_sync_stopping(struct worker_sync *sync, uint64_t deadline_ms);
/* Whether worker_sync_stopping was called. */
bool worker_sync_is_stopping(struct worker_sync *sync);
/* CLOCK_MONOTONIC in ms, for worker_wait's deadline. */
uint64_t worker_ms(void);
/* True when no relay of w occupies slot s any more (read from another thread). */
bool worker_slot_unused(const struct worker *w, uint32_t s);

/* Relay slot r's pool, as published now: use it within this loop iteration only. */
static inline const struct pool *worker_pool(const struct worker *w, uint32_t r)
{
	return __atomic_load_n(&w->pools[r], __ATOMIC_ACQUIRE);
}

/* Session idx of relay slot r, or NULL when the slot has no table that holds it: a relay a
 * reload retired frees its table while completions or events for its sessions may still
 * be on their way. */
static inline struct session *worker_session_at(struct worker *w, uint32_t r, uint32_t idx)
{
	struct session_table *t = &w->relays[r].sessions;

	return t->slots && idx < t->capacity ? &t->slots[idx] : NULL;
}

/* The per-upstream counters of relay slot r, counter slot u (< CONFIG_MAX_UPSTREAMS). */
static inline struct upstream_counters *worker_uc(struct worker *w, uint32_t r, uint32_t u)
{
	return &w->uc[r * CONFIG_MAX_UPSTREAMS + u];
}

/* The end of a loop iteration: no pool loaded in it is used any more (pool.h's grace). The
 * fence keeps the next iteration's pool loads behind this store (upstream_swap has the other
 * one): without it the worker could load the pool main just replaced while main still reads
 * the quiescent count before this one, and frees that pool one iteration too early. One per
 * loop iteration, not per datagram. */
static inline void worker_quiescent(struct worker *w)
{
	__atomic_store_n(&w->wc.quiescent, __atomic_load_n(&w->wc.loops, __ATOMIC_RELAXED),
			 __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Monotonic now in ns (vDSO, no syscall). */
uint64_t worker_clock(void);

#endif
