/* SPDX-License-Identifier: MIT */
/* The napi block applied to the listen interfaces: which interfaces, the per-NAPI values on
 * each of their NAPI instances (napi.h: NAPI_SET, else the device's sysfs files), threaded
 * NAPI with each thread pinned to the CPU of the worker that serves it, and the one log line
 * per interface that says what was applied; what it changed is put back when the setting
 * returns to its default and at exit. Before Linux 6.9, which cannot list NAPI
 * instances, the threads of threaded ones are found by a BPF task iterator. Needs CAP_NET_ADMIN (CAP_SYS_NICE to pin threads
 * once the daemon is not root): main calls it at start before dropping privileges, the admin
 * thread after reloads and link events, and puts it back as it ends. */
#ifndef RINGRELAY_NAPITUNE_H
#define RINGRELAY_NAPITUNE_H

#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "napi.h"

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

/* How many ringrelay notes; more are set all the same, and not put back (one warning). */
#define NAPITUNE_MAX_THREADS 1024 /* NAPI threads whose nice values are remembered */
#define NAPITUNE_MAX_SAVED 1024	  /* NAPI instances whose values are remembered */
#define NAPITUNE_MAX_PINNED 256	  /* NAPI threads whose CPUs are remembered */

/* A NAPI thread napi.thread_nice met (of interface ifindex): the nice value it had and the one
 * it was given. */
struct napitune_thread {
	pid_t pid;
	int ifindex;
	int before, set;
};

/* A listen interface the napi block was applied to, with what ringrelay changed on its device
 * and what it was. Its entry comes first: the instances and threads below belong to it by
 * ifindex. The sysfs files stay open from the first write until the entry is forgotten (the
 * interface gone, or no longer a listen interface), so that a thread that may no longer open
 * them (they are root's) can put them back, and set them again after a reload that put them
 * back, with CAP_NET_ADMIN. */
struct napitune_dev {
	char name[IF_NAMESIZE];
	int ifindex;
	bool values;		   /* napi_defer_hard_irqs and gro_flush_timeout changed (sysfs) */
	struct napi_values before; /* ... what they held */
	bool values_open;	   /* ... their files are open: */
	int fd_defer, fd_gro;	   /* ... these */
	bool threaded;		   /* ringrelay switched threaded NAPI on: it was off */
	bool threaded_open;	   /* ... its file is open: */
	int fd_threaded;	   /* ... this */
};

/* A NAPI instance whose per-NAPI values ringrelay set (NAPI_SET), with what they were. */
struct napitune_napi {
	int ifindex;
	uint32_t id;
	struct napi_values before;
};

/* A NAPI thread ringrelay pinned (napi.threaded): the CPUs it had and the one it was given. */
struct napitune_pin {
	pid_t pid;
	int ifindex;
	int cpu;
	cpu_set_t before;
};

/* What ringrelay changed and what it was before, for napitune_restore: NAPI threads'
 * nice values (napi.thread_nice), devices, NAPI instances and NAPI threads' CPUs. Zeroed
 * is empty. */
struct napitune_saved {
	struct napitune_thread nice[NAPITUNE_MAX_THREADS];
	uint32_t n_nice;
	struct napitune_dev devs[NAPITUNE_MAX_IFACES];
	uint32_t n_devs;
	struct napitune_napi napis[NAPITUNE_MAX_SAVED];
	uint32_t n_napis;
	struct napitune_pin pins[NAPITUNE_MAX_PINNED];
	uint32_t n_pins;
};

/* Whether early shedding drops datagrams now (a flood), from the stage's drop count read
 * every NAPITUNE_FLOOD_TICK_MS: flooded from the first read that found it grown, calm again
 * NAPITUNE_FLOOD_HOLD_MS after the last. */
#define NAPITUNE_FLOOD_TICK_MS 100
#define NAPITUNE_FLOOD_HOLD_MS 1000
struct napitune_flood {
	uint64_t drops;	  /* the count at the last read */
	uint64_t last_ms; /* when it last grew */
	bool primed, flooded;
};

/* Feeds the stage's drop count read at now_ms (a smaller one: a new program's, counted
 * from 0); returns true when fl->flooded changed. */
bool napitune_flood_step(struct napitune_flood *fl, uint64_t drops, uint64_t now_ms);

/* Each NAPI thread noted in s at napi.thread_nice's value (calm) moves to flood while
 * flooded, and each at flood back to calm when not; one someone else changed meanwhile is
 * left alone. The value put back at exit stays the one it had before ringrelay. Returns how
 * many moved, or the first error of one that could not be moved (not logged). */
int napitune_flood_nice(struct napitune_saved *s, bool flooded, int calm, int flood);

/* Whether some interface of report had a NAPI instance: only then is there anything to
 * apply again later (a device without one keeps its sysfs values for the next). */
bool napitune_any_instance(const struct napitune_report *report);
/* Whether some interface's NAPI threads were found by the BPF task iterator: applying again
 * needs its capabilities then (PRIVS_NAPI_ITER_CAPS). */
bool napitune_any_by_iterator(const struct napitune_report *report);

/* The interfaces napi applies to: those that hold a listen address of cfg and, when a relay
 * listens on a wildcard address and a filter is configured, the filter's interfaces; no
 * loopback, none twice, at most max. Asks the kernel (rtnetlink) where the addresses live;
 * *all_found says whether every specific listen address was found on an interface. Returns
 * how many. */
uint32_t napitune_interfaces(const struct config *cfg, char (*names)[IF_NAMESIZE], uint32_t max,
			     bool *all_found);

/* Applies cfg->napi to cfg's interfaces: per-NAPI values on every instance; with
 * cfg->napi.threaded, threaded NAPI (switched on only when an instance is not threaded yet)
 * and instance i (in id order) pinned to cpus[i % n_cpus]; cfg->napi.thread_nice on every
 * NAPI thread that may run on one of cpus. What each change replaced is noted in *saved the
 * first time: a setting back at its default (all three per-NAPI values 0, thread_nice 0) and
 * an interface that is no longer one of cfg's get it back (said in the interface's line, or
 * in a line of its own; not while a listen address of cfg is on no interface: it may come
 * back to that one); an interface that is gone is forgotten. Each fallback and failure
 * is logged at once; *report gets what was applied per interface. Returns 0 or the first
 * -errno (the rest is still tried). */
int napitune_apply(const struct config *cfg, const int *cpus, uint32_t n_cpus,
		   struct napitune_report *report, struct napitune_saved *saved);

/* Puts back what *saved says ringrelay changed, where it still holds what ringrelay set
 * (a NAPI thread that was re-made or changed since is left alone, an interface that is gone
 * forgotten), one log line per interface, and empties *saved. Needs what setting it needed
 * (CAP_NET_ADMIN, CAP_SYS_NICE for the threads; the sysfs files are open already). */
void napitune_restore(struct napitune_saved *saved);

/* Whether *saved holds something napitune_restore would put back. */
bool napitune_any_saved(const struct napitune_saved *saved);

/* The workers' busy polling as the log line says it, e.g. "busy poll 50 us prefer budget 64
 * (io_uring)", "busy poll off", "busy poll refused by the kernel (io_uring)". result is a
 * worker's busy_poll (1 on, 0 off, -errno). Pure. */
void napitune_busy_text(const struct napi_conf *n, enum io_backend backend, int result, char *buf,
			size_t len);

/* One info line per interface of report: "napi: IFNAME: BUSY, WHAT". */
void napitune_log(const struct napitune_report *report, const char *busy);

#endif
