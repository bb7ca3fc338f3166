/* SPDX-License-Identifier: MIT */
/* The daemon's state as plain data: what `ringrelayctl status` and `stats` and /metrics show.
 * app_snapshot() fills one under the app lock (runtime_snapshot() the per-worker part); the
 * formatters (metrics.c, control_view.c) only read it, so they are tested with data made by
 * hand. Strings are borrowed from the config in force: use a snapshot under the lock it was
 * taken under, then free it with snapshot_fini. */
#ifndef RINGRELAY_SNAPSHOT_H
#define RINGRELAY_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "counters.h"

struct config;
struct rxreport;

struct snapshot_worker {
	uint32_t id;
	int cpu;
	double heartbeat_age;	       /* seconds since the loop last ran; NaN when it never did */
	double started_age;	       /* seconds since its thread was started */
	uint64_t loops;		       /* loop iterations (io_uring_enter / epoll_wait calls) */
	uint64_t completions;	       /* CQEs (io_uring) or ready sockets (mmsg) they handled */
	uint64_t rearms;	       /* multishot receives armed again */
	uint64_t refreshes;	       /* ... and cancelled to be armed again (uring_caps.rsrc_refresh) */
	uint64_t cq_overflow, cq_dropped; /* worker_counters' */
	struct relay_counters *relays; /* n_relays, indexed like relay_names; values loaded */
	struct upstream_counters *upstreams; /* n_upstreams, indexed like snapshot.upstreams */
};

/* One upstream of one relay, as its pool has it now. */
struct snapshot_upstream {
	uint32_t relay;	  /* index in relay_names */
	char label[128];  /* the entry as written (the metrics' upstream label) */
	char address[64]; /* the address it resolved to */
	uint32_t weight;
	bool enabled;	   /* not drained */
	bool usable;	   /* takes new sessions now */
	const char *state; /* "up", "ejected", "down" (active check), or "disabled" (drained) */
	double changed;	   /* unix seconds of the last state change; 0: none since it appeared */
	double changed_boot; /* ... on snapshot.boottime's clock: its age, which no step moves */
	uint64_t ejections;
	bool lookup_failing; /* its entry is a name whose last lookup failed: the last addresses */
};

/* The upkeep thread's lookups of one relay's upstream names (resolve_interval). */
struct snapshot_lookups {
	bool names; /* the relay has upstream names */
	uint64_t made, failed;
	uint64_t new_sets; /* rounds of lookups that gave a new address set, applied */
	uint64_t failing;  /* names whose last lookup failed (they keep their addresses) */
};

struct snapshot_offload {
	const char *mode; /* "off", "xdp", "tc" */
	const char *why;
};

struct snapshot_offload_iface {
	char name[16];
	const char *hook; /* "xdp", "tc", "xdp+tc" */
	bool redirect_target; /* XDP frames may be redirected to it */
	uint64_t xmit_drops, xmit_sent;
};

/* Early shedding of one relay: whether it runs, where or why not, and what it shed. */
struct snapshot_shed {
	bool on;
	const char *why; /* borrowed */
	/* datagrams the program dropped before the stack: the listener's socket was full, or
	 * past seven eighths full and the datagram's flow over its share */
	uint64_t dropped_full, dropped_heavy;
};

struct snapshot {
	const struct config *cfg;   /* in force (status shows its relays) */
	const struct filter_conf *filter; /* what the program runs; NULL: cfg's */
	const char *version;
	int pid;
	double now;		    /* unix seconds when taken */
	double start_time;	    /* unix seconds */
	double uptime;		    /* seconds since the start, from a clock no step moves */
	double boottime;	    /* that clock when taken (app_boottime): ages are from it */
	const char *config_path;    /* "" when unknown */
	const char *backend;	    /* the I/O backend running: "io_uring", "mmsg" */
	/* how workers are picked in the listen addresses' reuseport groups, "cpu" or "hash",
	 * and why (steer.h); NULL: not known */
	const char *steering, *steering_why;
	uint64_t reloads_ok;
	uint64_t reloads_partial; /* applied to the relays with an error */
	uint64_t reloads_failed;
	double last_reload_success; /* unix seconds; start_time before any reload */
	const char *last_reload_error; /* "" after a good reload */
	bool last_reload_partial; /* last_reload_error is a partial reload's */
	uint32_t n_relays;
	const char **relay_names; /* n_relays: cfg's, in its order */
	uint32_t n_workers;
	struct snapshot_worker *workers; /* n_workers */
	uint64_t *filter_counters; /* FILTER_CNT__MAX values; NULL when the filter is off */
	/* The fast path: per relay what mode it got and why (borrowed; NULL: unknown), the
	 * program's outcome counters (OFFLOAD_CNT__MAX; NULL when not loaded) and, per
	 * interface it runs on, what drivers refused after XDP_REDIRECT. */
	const struct snapshot_offload *offload; /* n_relays */
	uint64_t *offload_counters;
	struct snapshot_offload_iface *offload_ifaces;
	uint32_t n_offload_ifaces;
	/* Early shedding per relay (n_relays; NULL: unknown), and the stage's outcome counters
	 * (SHED_CNT__MAX; NULL when the shedding program is not loaded). A relay's dropped
	 * datagrams count in its totals as received and dropped (shed_full_socket), never in a
	 * worker's own counters: the program cannot tell which worker's socket was full. */
	struct snapshot_shed *shed;
	uint64_t *shed_counters;
	struct relay_counters *counters; /* the block workers[].relays point into */
	uint32_t *max_sessions; /* n_relays: each relay's max_sessions */
	bool *panic;		/* n_relays: no upstream is up, all enabled ones are used */
	struct snapshot_lookups *lookups; /* n_relays; NULL: none known */
	uint32_t n_upstreams;	/* of all relays, relay by relay */
	struct snapshot_upstream *upstreams;
	struct upstream_counters *upstream_counters; /* the block workers[].upstreams point into */
	/* The listen interfaces' receive path (rxreport.h): status gathers it, owned here; NULL
	 * for the other answers. */
	struct rxreport *rxpath;
};

/* Zeroes *s and allocates the relay names, the workers and their (zeroed) counters.
 * Returns 0 or -ENOMEM; release with snapshot_fini, also after a failure. */
int snapshot_alloc(struct snapshot *s, uint32_t n_relays, uint32_t n_workers);
/* Allocates n upstreams (zeroed) and each worker's counters for them. 0 or -ENOMEM. */
int snapshot_alloc_upstreams(struct snapshot *s, uint32_t n);
/* Frees what snapshot_alloc allocated, filter_counters and rxpath; zeroes *s. Idempotent. */
void snapshot_fini(struct snapshot *s);

#endif
