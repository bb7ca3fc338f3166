/* SPDX-License-Identifier: MIT */
/* The receive-path report of the interfaces the relays listen on: which interfaces, each
 * described by rxpath, and the start-up warnings for the workers' CPUs. Built once as data;
 * `ringrelay -V`, the start-up log and `ringrelayctl status` render it. Reads the system
 * (sysfs, /proc, netlink): main and the control thread call it, never a worker. */
#ifndef RINGRELAY_RXREPORT_H
#define RINGRELAY_RXREPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "rxpath.h"

#define RXREPORT_MAX_IFACES 16
#define RXREPORT_MAX_WARNINGS 16

struct config;

/* What the report needs from the daemon. */
struct rxreport_in {
	const int *worker_cpu; /* n_workers: the CPU each worker is pinned to */
	uint32_t n_workers;
	uint32_t busy_poll_us; /* ringrelay's busy polling; 0: off */
	bool shed;	       /* a program sheds the excess before the skb (see rxpath.h) */
};

struct rxreport {
	/* A listen address is a wildcard: its datagrams may come in on any interface, so every
	 * interface that is up, loopback aside, is described. */
	bool any;
	uint32_t n; /* interfaces described */
	struct rxpath_iface ifaces[RXREPORT_MAX_IFACES];
	uint32_t n_warnings; /* kept in warnings[]: at most RXREPORT_MAX_WARNINGS */
	char warnings[RXREPORT_MAX_WARNINGS][RXPATH_MSG_LEN];
};

/* The listen interfaces of cfg (those holding a listen address; with a wildcard address,
 * every up non-loopback interface; each once, at most RXREPORT_MAX_IFACES), described, and
 * the warnings of rxpath_check for in. An interface that goes away meanwhile is left out.
 * Returns 0 and *out (free with rxreport_free), or -ENOMEM. */
int rxreport_new(const struct config *cfg, const struct rxreport_in *in, struct rxreport **out);
/* NULL-safe. */
void rxreport_free(struct rxreport *r);

#endif
