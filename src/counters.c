// SPDX-License-Identifier: MIT
#include "counters.h"

void relay_counters_add(struct relay_counters *sum, const struct relay_counters *c)
{
	int d;

	sum->rx_pkts += counter_get(&c->rx_pkts);
	sum->rx_bytes += counter_get(&c->rx_bytes);
	sum->tx_pkts += counter_get(&c->tx_pkts);
	sum->tx_bytes += counter_get(&c->tx_bytes);
	sum->reply_rx_pkts += counter_get(&c->reply_rx_pkts);
	sum->reply_rx_bytes += counter_get(&c->reply_rx_bytes);
	sum->reply_tx_pkts += counter_get(&c->reply_tx_pkts);
	sum->reply_tx_bytes += counter_get(&c->reply_tx_bytes);
	for (d = 0; d < DROP__MAX; d++)
		sum->drops[d] += counter_get(&c->drops[d]);
	sum->sessions_created += counter_get(&c->sessions_created);
	sum->sessions_expired += counter_get(&c->sessions_expired);
	sum->sessions_evicted += counter_get(&c->sessions_evicted);
	sum->sessions_active += counter_get(&c->sessions_active);
}

const char *drop_reason_name(enum drop_reason r)
{
	static const char *const names[DROP__MAX] = {
		[DROP_TRUNCATED] = "truncated",
		[DROP_SESSION_FULL] = "session_table_full",
		[DROP_NO_BUFFER] = "buffer_ring_empty",
		[DROP_SEND_ERROR] = "send_error",
		[DROP_UNREACHABLE] = "upstream_unreachable",
		[DROP_SOCKET_OVERFLOW] = "socket_receive_overflow",
		[DROP_SOCKET_ERROR] = "session_socket_error",
		[DROP_SOURCE_LIMIT] = "source_session_limit",
	};
	return (unsigned)r < DROP__MAX ? names[r] : "unknown";
}
