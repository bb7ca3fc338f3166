/* SPDX-License-Identifier: MIT */
/* The napi block applied to the listen interfaces: which interfaces, the per-NAPI values on
 * each of their NAPI instances (napi.h: NAPI_SET, else the device's sysfs files), threaded
 * NAPI with each thread pinned to the CPU of the worker that serves it, and the one log line
 * per interface that says what was applied. Before Linux 6.9, which cannot list NAPI
 * instances, the threads of threaded ones are found by a BPF task iterator. Needs CAP_NET_ADMIN (CAP_SYS_NICE to pin threads
 * once the daemon is not root): main calls it at start before dropping privileges, the admin
 * thread after reloads and link events. */
#ifndef RINGRELAY_NAPITUNE_H
#define RINGRELAY_NAPITUNE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

#define NAPITUNE_MAX_IFACES 32
#define NAPITUNE_IFACE_THREADS 16 /* threads remembered per interface (RXPATH_MAX_THREADS) */

/* What was applied to one interface, for its log line. */
struct napitune_iface {
	char name[IF_NAMESIZE];
	int instances;	/* NAPI instances found (0 also when they cannot be listed); before
			 * Linux 6.9 the threaded ones found by their threads (napithreads.h) */
	bool by_iterator; /* instances are threads found by the BPF task iterator (< 6.9) */
	bool threads_unknown; /* ... and the device is threaded, but none was found */
	/* ... the first of them, for the receive-path report of threads that cannot run the
	 * iterator (the control thread holds no CAP_BPF) */
	uint32_t n_threads;
	struct napitune_found {
		uint32_t id;
		pid_t pid;
	} threads[NAPITUNE_IFACE_THREADS];
	char what[256]; /* "defer_hard_irqs 2, ... on 1 NAPI instance, threaded on (...)" */
};

struct napitune_report {
	struct napitune_iface ifaces[NAPITUNE_MAX_IFACES];
	uint32_t n;
};

#define NAPITUNE_MAX_THREADS 1024 /* more are left as they are */

/* A NAPI thread napi.thread_nice met: the nice value it had and the one it was given. */
struct napitune_thread {
	pid_t pid;
	int before, set;
};

/* The NAPI threads napi.thread_nice met, for napitune_restore. */
struct napitune_threads {
	struct napitune_thread t[NAPITUNE_MAX_THREADS];
	uint32_t n;
};

/* Whether some interface of report had a NAPI instance: only then is there anything to
 * apply again later (a device without one keeps its sysfs values for the next). */
bool napitune_any_instance(const struct napitune_report *report);
/* Whether some interface's NAPI threads were found by the BPF task iterator: applying again
 * needs its capabilities then (PRIVS_NAPI_ITER_CAPS). */
bool napitune_any_by_iterator(const struct napitune_report *report);

/* The interfaces napi applies to: those that hold a listen address of cfg and, when a relay
 * listens on a wildcard address and a filter is configured, the filter's interfaces; no
 * loopback, none twice, at most max. Asks the kernel (rtnetlink) where the addresses live.
 * Returns how many. */
uint32_t napitune_interfaces(const struct config *cfg, char (*names)[IF_NAMESIZE], uint32_t max);

/* Applies cfg->napi to cfg's interfaces: per-NAPI values on every instance; with
 * cfg->napi.threaded, threaded NAPI (switched on only when an instance is not threaded yet)
 * and instance i (in id order) pinned to cpus[i % n_cpus]; cfg->napi.thread_nice on every
 * NAPI thread that may run on one of cpus, each noted in *threads. Each fallback and failure
 * is logged at once; *report gets what was applied per interface. Returns 0 or the first
 * -errno (the rest is still tried). */
int napitune_apply(const struct config *cfg, const int *cpus, uint32_t n_cpus,
		   struct napitune_report *report, struct napitune_threads *threads);

/* Gives each thread of *threads that is still a NAPI thread at the nice value ringrelay set
 * the value it had before, and empties *threads. Needs what setting it needed. */
void napitune_restore(struct napitune_threads *threads);

/* The workers' busy polling as the log line says it, e.g. "busy poll 50 us prefer budget 64
 * (io_uring)", "busy poll off", "busy poll refused by the kernel (io_uring)". result is a
 * worker's busy_poll (1 on, 0 off, -errno). Pure. */
void napitune_busy_text(const struct napi_conf *n, enum io_backend backend, int result, char *buf,
			size_t len);

/* One info line per interface of report: "napi: IFNAME: BUSY, WHAT". */
void napitune_log(const struct napitune_report *report, const char *busy);

#endif
