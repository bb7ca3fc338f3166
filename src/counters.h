/* SPDX-License-Identifier: MIT */
/* Per-worker, per-relay counters. Each struct has exactly one writer (its worker thread) and
 * sits on its own cache lines; readers (stats, metrics) load fields with relaxed atomics and
 * sum over workers. COUNTER_ADD compiles to a plain add: no lock, no atomic RMW. */
#ifndef RINGRELAY_COUNTERS_H
#define RINGRELAY_COUNTERS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum drop_reason {
	DROP_TRUNCATED,	      /* datagram larger than a receive buffer */
	DROP_SESSION_FULL,    /* new flow while the session table is full */
	DROP_NO_BUFFER,	      /* buffer ring empty (ENOBUFS): the kernel queued or dropped */
	DROP_SEND_ERROR,      /* sendmsg failed (full socket, ENOBUFS, ...) */
	DROP_UNREACHABLE,     /* upstream answered ICMP unreachable (ECONNREFUSED) */
	DROP_SOCKET_OVERFLOW, /* receive queue overflow reported by SO_RXQ_OVFL */
	DROP_SOCKET_ERROR,    /* creating a session socket failed */
	DROP_SOURCE_LIMIT,    /* new flow from an address at its max_sessions_per_source */
	DROP__MAX
};

struct relay_counters {
	uint64_t rx_pkts, rx_bytes;		/* client -> listener */
	uint64_t tx_pkts, tx_bytes;		/* relay -> upstream */
	uint64_t reply_rx_pkts, reply_rx_bytes; /* upstream -> relay */
	uint64_t reply_tx_pkts, reply_tx_bytes; /* relay -> client */
	uint64_t drops[DROP__MAX];
	uint64_t sessions_created;
	uint64_t sessions_expired;
	uint64_t sessions_evicted; /* ended for a new client (session_full = "evict") */
	uint64_t sessions_active; /* a gauge, written by the owner only; stays the last field */
} __attribute__((aligned(64)));

/* relay_counters_add names every field: one added above (before sessions_active) must be
 * added there too, and this check says so. */
_Static_assert(offsetof(struct relay_counters, sessions_active) + sizeof(uint64_t) ==
		       (12 + DROP__MAX) * sizeof(uint64_t),
	       "a new relay_counters field must be summed in relay_counters_add()");

struct worker_counters {
	uint64_t loops;	       /* io_uring_enter / epoll_wait calls */
	uint64_t completions;  /* CQEs or datagrams handled */
	uint64_t rearms;       /* multishot receives re-armed (F_MORE gone) */
	uint64_t heartbeat;    /* advances every loop; the watchdog checks it */
	uint64_t socket_overflow_last; /* last SO_RXQ_OVFL value, to count deltas */
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

/* Adds each counter of c to the same counter of sum. c may be a live worker's: every field is
 * loaded once with counter_get. sum is the caller's own (a copy or a total). The padding
 * after the fields is never read or written. */
void relay_counters_add(struct relay_counters *sum, const struct relay_counters *c);

const char *drop_reason_name(enum drop_reason r);

#endif
