/* SPDX-License-Identifier: MIT */
/* Per-worker, per-relay counters. Each struct has exactly one writer (its worker thread) and
 * sits on its own cache lines; readers (stats, metrics) load fields with relaxed atomics and
 * sum over workers. COUNTER_ADD compiles to a plain add: no lock, no atomic RMW. */
#ifndef RINGRELAY_COUNTERS_H
#define RINGRELAY_COUNTERS_H

#include <stdint.h>

enum drop_reason {
	DROP_TRUNCATED,	      /* datagram larger than a receive buffer */
	DROP_SESSION_FULL,    /* new flow while the session table is full */
	DROP_NO_BUFFER,	      /* buffer ring empty (ENOBUFS): the kernel queued or dropped */
	DROP_SEND_ERROR,      /* sendmsg failed (full socket, ENOBUFS, ...) */
	DROP_UNREACHABLE,     /* upstream answered ICMP unreachable (ECONNREFUSED) */
	DROP_SOCKET_OVERFLOW, /* receive queue overflow reported by SO_RXQ_OVFL */
	DROP_SOCKET_ERROR,    /* creating a session socket failed */
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
	uint64_t sessions_active; /* a gauge, written by the owner only */
} __attribute__((aligned(64)));

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

const char *drop_reason_name(enum drop_reason r);

#endif
