/* SPDX-License-Identifier: MIT */
/* The daemon's top-level state, owned by main: the running relay, the filter, and what the
 * control plane reports (reload results). The control thread reads it under `lock`, which
 * also serialises reloads, so nothing it reads is freed under it. */
#ifndef RINGRELAY_APP_H
#define RINGRELAY_APP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpfbase.h"
#include "config.h"
#include "napitune.h"
#include "offload.h"
#include "runtime.h"
#include "steer.h"
#include "shed.h"
#include "uring.h"

struct netlink_link_change;
struct admin;
struct filter;
struct filter_stats;
struct rxreport;
struct snapshot;

struct app {
	const char *config_path;
	pthread_mutex_t lock;
	struct runtime rt;	 /* rt.cfg is the config in force */
	struct filter *filter;	 /* NULL when the filter is off */
	/* The daemon's uid after start (privs_who.uid): the owner of the workers' session
	 * sockets, whose routes the fast path looks up as theirs (a rule may pick by uid). */
	uid_t uid;
	/* The filter section the program runs (status and the filter view show it: after a
	 * reload it could not follow, not the config's), and the one before it, which the
	 * revert of a reload that failed while applying brings back. NULL before the program
	 * is made. */
	struct filter_conf *filter_ran, *filter_ran_before;
	/* The fast path: what each relay of rt.cfg got and why (status, -V). */
	struct offload_relay_state offload[CONFIG_MAX_RELAYS];
	/* Early shedding: whether each relay of rt.cfg sheds, where or why not. */
	struct shed_relay_state shed[CONFIG_MAX_RELAYS];
	/* What each relay's shedding dropped in programs since unloaded (app_filter_unload), by
	 * name: added to what the program in use counts, so that its totals never go down. */
	struct app_shed_base {
		char name[CONFIG_NAME_LEN]; /* "": a free entry */
		uint64_t full, heavy;
	} shed_base[CONFIG_MAX_RELAYS];
	/* ... and what they counted in their other counters (filter, fast path, shedding stage,
	 * xmit by interface name): added to the program in use's likewise (bpfbase.h). */
	struct bpfbase bpf_base;
	struct uring_caps caps;
	double start_time;	 /* unix seconds */
	double start_boot;	 /* app_boottime() at start: uptime counts from it */
	uint64_t reloads_ok;
	uint64_t reloads_partial; /* applied, with an error (the filter's, a stuck worker's) */
	uint64_t reloads_failed;  /* refused: the previous configuration stayed */
	double last_reload_success; /* unix seconds; start_time until the first reload */
	char last_reload_error[CONFIG_ERR_LEN]; /* "" after a good reload */
	bool last_reload_partial; /* the error above is a partial reload's */
	struct admin *admin; /* the thread that applies reloads; NULL before it starts */
	/* The napi block was applied at start (a listen interface had NAPI to tune, or the
	 * block changed something): the admin thread keeps the capabilities to apply it again
	 * and to put back what it changed. */
	bool napi_tuned;
	struct napitune_report napi; /* what app_napi_sync applied last */
	/* What the napi block changed, put back at exit (by the admin thread, or by main when
	 * it never started) */
	struct napitune_saved napi_saved;
	struct steer steer; /* the steering in force (steer.h): at start, then each reload */
};

/* Unix time in seconds (for timestamps: start, reloads). */
double app_now(void);
/* Seconds on CLOCK_BOOTTIME, for durations (uptime): a step of the wall clock (NTP, a host
 * without an RTC that starts in 1970) moves none, and time suspended counts as up. */
double app_boottime(void);
/* What relay r of the config in force had shed by the program: the program in use's counts
 * plus those of programs since unloaded (0 when none). */
void app_shed_dropped(struct app *a, uint32_t r, uint64_t *full, uint64_t *heavy);
/* Takes a snapshot of the daemon for status, stats and /metrics: runtime_snapshot plus the
 * start time, reload results, version, pid and the filter's counters. The caller holds
 * a->lock, and keeps it while it reads *s (names are borrowed from the config in force).
 * Returns 0 or -ENOMEM; free with snapshot_fini either way. */
int app_snapshot(struct app *a, struct snapshot *s);
/* The receive-path report (rxreport.h) of the config in force for the running workers' CPUs.
 * Reads sysfs, /proc and netlink: for main and the control thread, never a worker. The caller
 * holds a->lock. Returns 0 and *out, or -ENOMEM. */
int app_rxreport(struct app *a, struct rxreport **out);
/* Steering (steer.h) for cfg with the running workers, into *out: probes the kernel and
 * judges cfg's listen interfaces. The caller holds a->lock. */
void app_steer(struct app *a, const struct config *cfg, struct steer *out);
/* Makes st the steering in force for cfg (a->steer, and a->rt.steer_cpu for the next
 * APPLY), logging it in one line when it is new. */
void app_steer_set(struct app *a, const struct config *cfg, const struct steer *st);
/* Brings the BPF program in line with cfg before the relays take it: loads it (sized for
 * plan's session slots) when the filter or a relay's offload needs it, swaps the filter rules
 * atomically, attaches the fast path where cfg's relays need it and tells the runtime which
 * relays use it (a->offload says why). Never unloads: app_filter_release does, once no worker
 * refers to it. Returns 0 or -errno with one line in err. When a loaded program cannot take
 * cfg's filter (-EOPNOTSUPP: its mode or interfaces changed, which needs a restart; or a map
 * write failed) the running filter and its rules stay and the rest follows cfg. */
int app_filter_sync(struct app *a, const struct config *cfg, const struct plan *plan, char *err,
		    size_t errlen);
/* Unloads the program when cfg (now applied) needs neither the filter nor the fast path. */
void app_filter_release(struct app *a, const struct config *cfg);
/* The filter section the program runs (mode off when none is loaded). */
const struct filter_conf *app_filter_conf(const struct app *a);
/* What ringrelayctl filter shows of the loaded program (a->filter must be set; the caller
 * holds a->lock): its verdict and reason counters with those of programs since unloaded, as
 * in app_snapshot, and its rules' hits (which go with the rules, so with the program).
 * 0 or -errno. */
int app_filter_stats(struct app *a, struct filter_stats *st);
/* Frees what app_filter_conf keeps (at exit, or with the program). */
void app_filter_forget(struct app *a);
/* Links appeared, changed or went away (the admin thread's link watch, a batch of them, under
 * a->lock): a filtered interface that comes back with a new ifindex gets the filter again, the
 * fast path and shedding follow their relays' interfaces, once for the batch, and then (or
 * when a napi interface came up) the napi block is applied again. */
void app_link_events(struct app *a, const struct netlink_link_change *links, uint32_t n);
/* The upkeep thread resolved a relay's upstream names to new addresses (the admin thread,
 * under a->lock): the fast path follows the interfaces those are routed through. */
void app_upstream_addrs_changed(struct app *a);
/* Applies cfg's napi block to its listen interfaces with the workers' CPUs of the running
 * plan into a->napi (napitune_apply); logs one line per interface when log_now, else leaves
 * that to app_napi_log (at start, once the workers run). Returns 0 or -errno. */
int app_napi_sync(struct app *a, const struct config *cfg, bool log_now);
/* Logs what app_napi_sync applied last, with the workers' busy polling. */
void app_napi_log(struct app *a);
/* Re-reads config_path and applies it without dropping traffic (see runtime_reload).
 * Takes a->lock. Returns 0 with the reload's warnings in err (logged too: a setting that
 * takes effect only after a restart, ...; "warning: ...\n" each, "" for none), or -errno
 * with one line in err (FILE:LINE for config errors); on failure the old configuration keeps
 * serving. */
int app_reload(struct app *a, char *err, size_t errlen);
/* app_reload in two halves, for the admin thread, which handles link events between them.
 * app_reload_read reads the config file at path, looks up its user and group, resolves
 * its names with names and claims its listen ports into claim (runtime_claim_ports; claim
 * initialised and empty) once their descriptors fit beside running (runtime_reload_nofile:
 * plan_nofile_relays of a->rt.plan), without the app or its lock (seconds with a name
 * service that does not answer, or a start setting up on a port): *cfg, or NULL and -errno
 * with err, its claims let go (-ECANCELED: claim->cancel_fd ended a wait for one).
 * app_reload_apply applies cfg (taken over; NULL when the read failed with ret and err)
 * under the lock and reports the result, as app_reload does; the caller lets the claims go
 * after it (portclaim_release), whatever the result. */
struct portclaim;
int app_reload_read(const char *path, const struct config_names *names, uint64_t running,
		    struct config **cfg, struct portclaim *claim, char *err, size_t errlen);
/* For a reload's names (config_names.previous, arg a): the addresses the running
 * configuration had for a name that no longer resolves. Takes a->lock. */
uint32_t app_previous(void *a, const char *relay, const char *text, const char *why,
		      struct addr *out, uint32_t max);
/* Whether the process is stopping, app a (a reload's lookups are then given up). */
bool app_is_stopping(void *a);
int app_reload_apply(struct app *a, struct config *cfg, int ret, char *err, size_t errlen);

#endif
