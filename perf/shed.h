/* SPDX-License-Identifier: MIT */
/* Shared by perf/shed.bpf.c and its loader (perf/busy_relay.c): counter indices. */
#ifndef PERF_SHED_H
#define PERF_SHED_H

enum shed_counter {
	SHED_PASS,	/* to the listen socket, which had room */
	SHED_DROP,	/* to the listen socket, dropped in XDP: its receive buffer was full */
	SHED_NO_SOCKET, /* to the listen port, but no socket found */
	SHED_NR_COUNTERS,
};

#endif
