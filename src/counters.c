// SPDX-License-Identifier: MIT
#include "counters.h"

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
	};
	return (unsigned)r < DROP__MAX ? names[r] : "unknown";
}
