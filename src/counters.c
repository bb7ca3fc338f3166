// SPDX-License-Identifier: MIT
#include "counters.h"

void relay_dir_counters_add(struct relay_dir_counters *sum, const struct relay_dir_counters *c)
{
	int d;

	/* Outputs before inputs: the worker counts a datagram in rx (and a copy in
	 * extra_copies) before it counts it sent or dropped, so one read never shows more out
	 * than in (tx + drops <= rx + extra_copies), even while datagrams move. The fence keeps
	 * the input loads after the output loads. */
	sum->tx_pkts += counter_get(&c->tx_pkts);
	sum->tx_bytes += counter_get(&c->tx_bytes);
	for (d = 0; d < DROP__MAX; d++)
		sum->drops[d] += counter_get(&c->drops[d]);
	for (d = 0; d < SEND_ERR__MAX; d++)
		sum->send_errs[d] += counter_get(&c->send_errs[d]);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	sum->rx_pkts += counter_get(&c->rx_pkts);
	sum->rx_bytes += counter_get(&c->rx_bytes);
	sum->extra_copies += counter_get(&c->extra_copies);
	sum->fast_pkts += counter_get(&c->fast_pkts);
	sum->fast_bytes += counter_get(&c->fast_bytes);
}

void relay_counters_add(struct relay_counters *sum, const struct relay_counters *c)
{
	int d;

	for (d = 0; d < RELAY_DIR__MAX; d++)
		relay_dir_counters_add(&sum->dir[d], &c->dir[d]);
	sum->upstream_unreachable_notices += counter_get(&c->upstream_unreachable_notices);
	sum->buffer_ring_empty += counter_get(&c->buffer_ring_empty);
	sum->sessions_created += counter_get(&c->sessions_created);
	sum->sessions_expired += counter_get(&c->sessions_expired);
	sum->sessions_evicted += counter_get(&c->sessions_evicted);
	sum->sessions_moved += counter_get(&c->sessions_moved);
	sum->fast_rerouted += counter_get(&c->fast_rerouted);
	sum->fast_route_left += counter_get(&c->fast_route_left);
	sum->fast_epoch_derived += counter_get(&c->fast_epoch_derived);
	sum->fast_epoch_tried += counter_get(&c->fast_epoch_tried);
	sum->fast_epoch_skipped += counter_get(&c->fast_epoch_skipped);
	sum->sessions_active += counter_get(&c->sessions_active);
}

void upstream_counters_zero(struct upstream_counters *c)
{
	counter_set(&c->tx_pkts, 0);
	counter_set(&c->tx_bytes, 0);
	counter_set(&c->rx_pkts, 0);
	counter_set(&c->rx_bytes, 0);
	counter_set(&c->unreachable, 0);
	counter_set(&c->send_errors, 0);
	counter_set(&c->noreply, 0);
	counter_set(&c->sessions_created, 0);
	counter_set(&c->sessions_active, 0);
}

void upstream_counters_add(struct upstream_counters *sum, const struct upstream_counters *c)
{
	sum->tx_pkts += counter_get(&c->tx_pkts);
	sum->tx_bytes += counter_get(&c->tx_bytes);
	sum->rx_pkts += counter_get(&c->rx_pkts);
	sum->rx_bytes += counter_get(&c->rx_bytes);
	sum->unreachable += counter_get(&c->unreachable);
	sum->send_errors += counter_get(&c->send_errors);
	sum->noreply += counter_get(&c->noreply);
	sum->sessions_created += counter_get(&c->sessions_created);
	sum->sessions_active += counter_get(&c->sessions_active);
}

bool counter_rate(uint64_t now, uint64_t before, double seconds, double *rate)
{
	if (!(seconds > 0) || now < before)
		return false;
	*rate = (double)(now - before) / seconds;
	return true;
}

bool counter_rate_steady(uint64_t now, uint64_t before, uint64_t applied, uint64_t applied_before,
			 double seconds, double *rate)
{
	return applied == applied_before && counter_rate(now, before, seconds, rate);
}

uint64_t relay_dir_drops(const struct relay_dir_counters *c)
{
	uint64_t n = 0;
	int d;

	for (d = 0; d < DROP__MAX; d++)
		n += c->drops[d];
	return n;
}

const char *drop_reason_name(enum drop_reason r)
{
	static const char *const names[DROP__MAX] = {
		[DROP_TRUNCATED] = "truncated",
		[DROP_SESSION_FULL] = "session_table_full",
		[DROP_SEND_ERROR] = "send_error",
		[DROP_UNREACHABLE] = "upstream_unreachable",
		[DROP_SOCKET_OVERFLOW] = "socket_receive_overflow",
		[DROP_SOCKET_ERROR] = "session_socket_error",
		[DROP_SESSION_CLOSED] = "session_closed",
		[DROP_SOURCE_LIMIT] = "source_session_limit",
		[DROP_MIRROR_REPLY] = "mirror_reply",
		[DROP_SHED_FULL_SOCKET] = "shed_full_socket",
		[DROP_SHED_HEAVY_FLOW] = "shed_heavy_flow",
	};
	return (unsigned)r < DROP__MAX ? names[r] : "unknown";
}

const char *send_err_name(enum send_err e)
{
	static const char *const names[SEND_ERR__MAX] = {
		[SEND_ERR_ENOBUFS] = "ENOBUFS", [SEND_ERR_EAGAIN] = "EAGAIN",
		[SEND_ERR_EPERM] = "EPERM",	[SEND_ERR_EMSGSIZE] = "EMSGSIZE",
		[SEND_ERR_OTHER] = "other",	[SEND_ERR_NONE] = "none",
	};
	return (unsigned)e < SEND_ERR__MAX ? names[e] : "unknown";
}

const char *relay_dir_name(enum relay_dir d)
{
	static const char *const names[RELAY_DIR__MAX] = {
		[RELAY_DIR_TO_UPSTREAM] = "to_upstream",
		[RELAY_DIR_TO_CLIENT] = "to_client",
	};
	return (unsigned)d < RELAY_DIR__MAX ? names[d] : "unknown";
}
