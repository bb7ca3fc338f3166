/* SPDX-License-Identifier: MIT */
/* Per-worker, per-relay counters. Each struct has exactly one writer (its worker thread) and
 * sits on its own cache lines; readers (stats, metrics) load fields with relaxed atomics and
 * sum over workers. COUNTER_ADD compiles to a plain add: no lock, no atomic RMW.
 *
 * The counters reconcile. Each direction of a relay's traffic (client -> upstream, upstream ->
 * client) has its own struct relay_dir_counters, and for each of them
 *
 *	rx_pkts + extra_copies = tx_pkts + sum(drops[])
 *
 * holds whenever no datagram is in flight inside the relay (a send queued, not completed).
 * rx_pkts counts every datagram that reached one of the relay's sockets: read, or dropped by
 * the kernel at its full receive queue (DROP_SOCKET_OVERFLOW); extra_copies counts the copies
 * beyond the first that mirror fan-out made (members - 1 per datagram), so a mirror's tx_pkts
 * and drops count copies. Each lost datagram (or copy) is counted once, by reason, where it
 * is lost. What loses no datagram is an event, outside the identity: an ICMP unreachable
 * notice for a datagram already sent, a buffer ring that ran dry. A later data path (a BPF
 * fast path relaying established sessions) adds its per-direction packets, bytes and drops
 * with relay_dir_counters_add, and the identity stays the same. */
#ifndef RINGRELAY_COUNTERS_H
#define RINGRELAY_COUNTERS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum drop_reason {
	DROP_TRUNCATED,	      /* larger than a receive buffer (or its name did not fit) */
	DROP_SESSION_FULL,    /* new flow while the session table is full */
	DROP_SEND_ERROR,      /* the send failed (full socket, ENOBUFS, EBADF, ...) */
	DROP_UNREACHABLE,     /* the send failed on a pending ICMP unreachable (sock.h) */
	DROP_SOCKET_OVERFLOW, /* the kernel dropped it at a full listener queue (SO_RXQ_OVFL) */
	DROP_SOCKET_ERROR,    /* creating a session socket failed */
	DROP_SESSION_CLOSED,  /* a reply read as its session was closing (expiry, reload) */
	DROP_SOURCE_LIMIT,    /* new flow from an address at its max_sessions_per_source */
	DROP_MIRROR_REPLY,    /* a mirror member's reply: a mirror passes nothing back */
	/* the BPF program dropped it for the listener's full socket before the stack built or
	 * queued an skb (early shedding); only in a relay's totals, never a worker's */
	DROP_SHED_FULL_SOCKET,
	/* ... for a flow over its share while the socket was nearly full (docs/offload.md) */
	DROP_SHED_HEAVY_FLOW,
	DROP__MAX
};

/* The errno of a send that lost datagrams (DROP_SEND_ERROR), in a small fixed set, so that
 * congestion (ENOBUFS, EAGAIN: a full qdisc or socket) tells apart from policy (EPERM: a
 * netfilter reject) and size (EMSGSIZE). Unreachable errnos have their own reason. */
enum send_err {
	SEND_ERR_ENOBUFS,
	SEND_ERR_EAGAIN,
	SEND_ERR_EPERM,
	SEND_ERR_EMSGSIZE,
	SEND_ERR_OTHER, /* any other errno */
	SEND_ERR_NONE,	/* no send made: a mirror relay with no member to send to */
	SEND_ERR__MAX
};

/* Which way a datagram goes. */
enum relay_dir {
	RELAY_DIR_TO_UPSTREAM, /* client -> listener -> upstream */
	RELAY_DIR_TO_CLIENT,   /* upstream -> session socket -> client (replies) */
	RELAY_DIR__MAX
};

/* One direction of a relay's traffic; see the identity above. */
struct relay_dir_counters {
	uint64_t rx_pkts, rx_bytes; /* reached the relay (bytes: those read) */
	uint64_t tx_pkts, tx_bytes; /* sent on */
	uint64_t extra_copies;	    /* fan-out copies beyond the first (mirror mode) */
	uint64_t drops[DROP__MAX];
	uint64_t fast_pkts, fast_bytes; /* of rx above: relayed by the BPF fast path */
	uint64_t send_errs[SEND_ERR__MAX]; /* of drops[DROP_SEND_ERROR]: by errno */
};

_Static_assert(sizeof(struct relay_dir_counters) ==
		       (7 + DROP__MAX + SEND_ERR__MAX) * sizeof(uint64_t),
	       "a new relay_dir_counters field must be summed in relay_dir_counters_add()");

struct relay_counters {
	struct relay_dir_counters dir[RELAY_DIR__MAX];
	uint64_t upstream_unreachable_notices; /* ICMP unreachable on a session or mirror socket */
	uint64_t buffer_ring_empty;   /* ENOBUFS events: the datagrams wait in the socket */
	uint64_t sessions_created;
	uint64_t sessions_expired;
	uint64_t sessions_evicted; /* ended for a new client (session_full = "evict") */
	uint64_t sessions_moved;   /* ended: their upstream went down (upstream_down = "move") */
	/* fast sessions whose rules got new devices after their routes moved, and those taken
	 * off the fast path because their routes moved where it cannot relay them */
	uint64_t fast_rerouted;
	uint64_t fast_route_left;
	/* derivations of fast sessions' rules made for a new route epoch alone (a change covered
	 * their addresses, or anything may have moved), fast opens of parked sessions tried for
	 * one alone, and those skipped: no change since covered them (sessions, each time;
	 * parked sessions' tries skipped too) */
	uint64_t fast_epoch_derived;
	uint64_t fast_epoch_tried;
	uint64_t fast_epoch_skipped;
	uint64_t sessions_active; /* a gauge, written by the owner only; stays the last field */
} __attribute__((aligned(64)));

/* relay_counters_add names every field: one added above (before sessions_active) must be
 * added there too, and this check says so. */
_Static_assert(offsetof(struct relay_counters, sessions_active) + sizeof(uint64_t) ==
		       RELAY_DIR__MAX * sizeof(struct relay_dir_counters) + 12 * sizeof(uint64_t),
	       "a new relay_counters field must be summed in relay_counters_add()");

/* Per-upstream counters of one worker and relay: what went to one member of the relay's pool
 * and what came back from it. Same single-writer rules as relay_counters. Over the upstreams
 * of a relay they add up to the relay's (docs/ringrelayctl.8 COUNTERS):
 *	sum(tx_pkts)	 = dir[to_upstream].tx_pkts	(and bytes)
 *	sum(rx_pkts)	 = dir[to_client].rx_pkts	(replies read on live sessions, mirrors')
 *	sum(unreachable) = upstream_unreachable_notices + dir[to_upstream].drops[unreachable]
 *	sum(send_errors) = dir[to_upstream].drops[send_error]
 *	sum(sessions_created), sum(sessions_active): the relay's. */
struct upstream_counters {
	uint64_t tx_pkts, tx_bytes; /* sent to it */
	uint64_t rx_pkts, rx_bytes; /* its replies read */
	uint64_t unreachable;	    /* ICMP unreachable: notices, and datagrams a send lost to one */
	uint64_t send_errors;	    /* datagrams lost in other failed sends to it */
	uint64_t noreply;	    /* new sessions without a reply within reply_timeout */
	uint64_t sessions_created;
	uint64_t sessions_active; /* a gauge; stays the last field */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct upstream_counters, sessions_active) == 8 * sizeof(uint64_t),
	       "a new upstream_counters field must be summed in upstream_counters_add() and "
	       "zeroed in upstream_counters_zero()");

struct worker_counters {
	uint64_t loops;	       /* io_uring_enter / epoll_wait calls */
	uint64_t completions;  /* CQEs handled (io_uring); ready sockets epoll reported (mmsg) */
	uint64_t rearms;       /* multishot receives re-armed (F_MORE gone) */
	/* receives cancelled and armed again so that the ring puts the sockets removed after
	 * they were armed (io_uring before Linux 6.13, uring_caps.rsrc_refresh) */
	uint64_t refreshes;
	uint64_t heartbeat;    /* advances every loop; the watchdog checks it */
	uint64_t socket_overflow_last; /* last SO_RXQ_OVFL value, to count deltas */
	/* The loop count at the end of the worker's last batch, stored with release order:
	 * a pool retired before it was read is no longer referenced by this worker (pool.h). */
	uint64_t quiescent;
	/* io_uring: ticks that found completions waiting in the kernel's overflow list (the CQ
	 * was full), and completions the kernel dropped (uring_cq_check) */
	uint64_t cq_overflow;
	uint64_t cq_dropped;
} __attribute__((aligned(64)));

static inline void counter_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void counter_set(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static inline uint64_t counter_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* The counter at off (offsetof(struct relay_counters, FIELD)), for tables of fields. */
static inline uint64_t relay_counters_at(const struct relay_counters *c, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)c + off, sizeof(v));
	return v;
}

/* Counts n datagrams (segments) of len bytes in all that reached the relay going way d.
 * n covers a GRO super-datagram's segments. */
static inline void relay_count_rx(struct relay_counters *c, enum relay_dir d, uint64_t n,
				  uint64_t len)
{
	counter_add(&c->dir[d].rx_pkts, n);
	counter_add(&c->dir[d].rx_bytes, len);
}

/* Counts n datagrams lost going way d, for reason r. */
static inline void relay_count_drop(struct relay_counters *c, enum relay_dir d,
				    enum drop_reason r, uint64_t n)
{
	counter_add(&c->dir[d].drops[r], n);
}

/* The class of a send's errno err (positive; 0: no send was made). */
static inline enum send_err send_err_class(int err)
{
	switch (err) {
	case 0:
		return SEND_ERR_NONE;
	case ENOBUFS:
		return SEND_ERR_ENOBUFS;
	case EAGAIN:
		return SEND_ERR_EAGAIN;
	case EPERM:
		return SEND_ERR_EPERM;
	case EMSGSIZE:
		return SEND_ERR_EMSGSIZE;
	default:
		return SEND_ERR_OTHER;
	}
}

/* Counts n datagrams going way d lost in a send that failed with errno err (positive; 0
 * when there was nothing to send to): a send_error drop, and its errno's share. Not per
 * datagram sent: only on a failure. */
static inline void relay_count_send_error(struct relay_counters *c, enum relay_dir d, int err,
					  uint64_t n)
{
	counter_add(&c->dir[d].send_errs[send_err_class(err)], n);
	counter_add(&c->dir[d].drops[DROP_SEND_ERROR], n);
}

/* Adds to a relay's total what the BPF program shed for it (full: at the listener's full
 * socket, heavy: a heavy flow's): received and dropped, like a socket's overflow, so that
 * rx = tx + drops holds for the total. Never in a worker's counters. */
static inline void relay_counters_add_shed(struct relay_counters *c, uint64_t full,
					   uint64_t heavy)
{
	struct relay_dir_counters *d = &c->dir[RELAY_DIR_TO_UPSTREAM];

	d->rx_pkts += full + heavy;
	d->drops[DROP_SHED_FULL_SOCKET] += full;
	d->drops[DROP_SHED_HEAVY_FLOW] += heavy;
}

/* Adds each counter of c to the same counter of sum; c may be live (loaded once each with
 * counter_get). For the parts of a relay's traffic that another data path handled. */
void relay_dir_counters_add(struct relay_dir_counters *sum, const struct relay_dir_counters *c);

/* Adds each counter of c to the same counter of sum. c may be a live worker's: every field is
 * loaded once with counter_get, each direction's outputs (tx, drops) before its inputs (rx,
 * extra_copies), so a live read never shows more out than in. sum is the caller's own (a copy
 * or a total). The padding after the fields is never read or written. */
void relay_counters_add(struct relay_counters *sum, const struct relay_counters *c);

/* Adds each counter of c (may be live) to sum. */
void upstream_counters_add(struct upstream_counters *sum, const struct upstream_counters *c);
/* Zeroes c field by field with atomic stores: another thread may be summing it. */
void upstream_counters_zero(struct upstream_counters *c);

/* A rate from two readings of a counter sum, seconds apart: true and *rate when there is one;
 * false when no time passed or the sum went down (a relay that had counted went away with
 * its counts: unsigned, now - before would be near 2^64). */
bool counter_rate(uint64_t now, uint64_t before, double seconds, double *rate);

/* The same over relays that a reload may have added or removed (with their counts): none
 * either when a reload applied between the readings (applied: the count of reloads applied,
 * whole or partly, at each), even if the sum went up (a busy relay removed, the others
 * growing more than it had: the rate would be too low, silently). */
bool counter_rate_steady(uint64_t now, uint64_t before, uint64_t applied, uint64_t applied_before,
			 double seconds, double *rate);

/* sum(drops[]) of one direction. */
uint64_t relay_dir_drops(const struct relay_dir_counters *c);

const char *drop_reason_name(enum drop_reason r);
/* "ENOBUFS", "EAGAIN", "EPERM", "EMSGSIZE", "other", "none". */
const char *send_err_name(enum send_err e);
/* "to_upstream", "to_client". */
const char *relay_dir_name(enum relay_dir d);

#endif
