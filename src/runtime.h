/* SPDX-License-Identifier: MIT */
/* The running relay built from one config: plan, pools (upstream.h), workers. Started and stopped by
 * main; read (counters) by the stats and control code. */
#ifndef RINGRELAY_RUNTIME_H
#define RINGRELAY_RUNTIME_H

#include "config.h"
#include "counters.h"
#include "plan.h"
#include "uring.h"
#include "worker.h"

struct snapshot;

/* A config that a stuck worker may still read (runtime_reload). */
struct runtime_retired {
	struct runtime_retired *next;
	struct config *cfg;
};

/* Memory a worker stuck in the middle of a command may still write (runtime_stopping). */
struct runtime_kept {
	struct runtime_kept *next;
	void *mem;
};

/* How long a reload or `ringrelayctl sessions` waits for a worker to take its command. A
 * worker comes round to commands between two batches, at least once per expiry tick (<= 1 s):
 * one that has not within this is stuck, and the caller, which holds the app lock, must not
 * wait on it for ever. */
#define RUNTIME_WORKER_WAIT_MS 5000
/* The shortest wait RINGRELAY_WORKER_WAIT_MS may ask for: longer than an expiry tick (<= 1 s),
 * so a worker that runs is never taken for stuck. */
#define RUNTIME_WORKER_WAIT_MIN_MS 1500

/* RINGRELAY_WORKER_WAIT_MS's value s as a wait_ms: 0 and *ms when it is a whole number of
 * milliseconds from RUNTIME_WORKER_WAIT_MIN_MS to RUNTIME_WORKER_WAIT_MS, else -EINVAL and
 * *ms untouched. For tests: the waits on a worker they stop, shorter. */
int runtime_wait_parse(const char *s, uint32_t *ms);

struct runtime {
	struct config *cfg;
	struct plan plan; /* the workers' (rings, file tables); a reload's only sizes new tables */
	const struct uring_caps *caps;
	enum io_backend backend;
	uint32_t relay_slot[CONFIG_MAX_RELAYS]; /* worker relay slot of cfg->relays[i] */
	/* Per relay slot: a generation, new when the slot gets a relay of another name, whose
	 * counters the workers start over as they apply it; runtime_sum adds a worker's only
	 * for the generation in force (a stuck worker's count the slot's former relay). */
	uint64_t slot_gen[WORKER_MAX_RELAYS];
	char slot_named[WORKER_MAX_RELAYS][CONFIG_NAME_LEN]; /* the relay of each generation */
	uint64_t slot_gen_next;
	/* Each relay slot's published pool (pool.h): swapped by main, read by the workers. */
	struct pool *pools[WORKER_MAX_RELAYS];
	struct upstreams *ups;	  /* what the pools are made from (upstream.h) */
	struct plan applied_plan; /* the plan of the config in force (for a re-APPLY) */
	struct worker *workers;	    /* plan.n_workers */
	uint32_t n_started;
	struct worker_sync sync;
	/* The fast path, set by the app before runtime_start / runtime_reload: the loaded
	 * program (NULL: none) and, per relay of the config being applied, whether it runs. */
	struct filter *fast;
	bool offload[CONFIG_MAX_RELAYS];
	/* The loaded program whose filter rules judge the sessions' clients after they change
	 * (NULL: none): the fast path's, or a filter's without any fast path. */
	struct filter *judge;
	/* Steering (steer.h), set by the app before runtime_start / runtime_reload: the
	 * workers' listeners are marked with their CPUs. */
	bool steer_cpu;
	uint64_t heartbeat_ns; /* runtime_set_heartbeat's */
	struct runtime_retired *retired; /* configs a stuck worker may still read */
	struct runtime_kept *kept; /* commands (and answers) a worker stuck in them may write */
	uint32_t wait_ms; /* RUNTIME_WORKER_WAIT_MS (tests shorten it) */
	uint32_t n_abandoned; /* workers a stop left running (runtime_stop) */
	uint32_t n_failed;    /* workers whose loop ended on an error (runtime_worker_failures) */
};

/* Whether a worker still runs a config older than the one in force (it did not take a
 * reload in time): what that config refers to must stay. */
bool runtime_workers_behind(const struct runtime *rt);

/* The backend to run: the configured one, or for "auto" io_uring when the probe found all
 * the fast path needs, else mmsg. Returns 0, or -ENOTSUP with the reason in err when
 * io_uring was asked for and cannot run. */
int runtime_choose_backend(enum io_backend wanted, const struct uring_caps *caps,
			   enum io_backend *out, char *err, size_t errlen);
/* Facts about this machine for plan_build: CPUs this process may use, RX queues of the
 * interfaces cfg listens on. */
int runtime_host(const struct config *cfg, struct plan_host *host);
/* The check step between loading a config and running it (-t, start-up, reload): the host
 * checks (config_check_host; for a reload only config_check_links: its caller asked the name
 * service, app_reload_read), at start that each listen address but wildcards is this host's
 * (sock_probe_local; a reload probes new ones on their ports), then the plan of cfg on this
 * host into *plan. For a reload,
 * running is the runtime in force: cfg first gets its restart-only settings back (with a
 * warning each) and the plan keeps its worker count; NULL at start. Names are resolved here
 * unless cfg->resolved. Returns 0 or -errno with err set; cfg stays the caller's. */
int runtime_check(const struct runtime *running, struct config *cfg, struct plan *plan,
		  char *err, size_t errlen);
/* runtime_check(NULL, ...) for the start: a listen address in IPv6 duplicate address
 * detection (tentative: its bind fails) is waited for, a few seconds at most. */
int runtime_check_start(struct config *cfg, struct plan *plan, char *err, size_t errlen);
/* The warnings a check logged, for a reload's answer: "warning: ...\n" each, in text (cut,
 * with "warning: ... (more in the log)\n" last, when they do not fit). */
struct runtime_notes {
	char text[CONFIG_ERR_LEN];
	size_t len;
	bool cut;
};
/* runtime_check that also writes its warnings into notes (NULL: the log only): a restart-only
 * setting that changed, a reply_timeout not below session_timeout, an upstream name that did
 * not resolve and kept its last addresses. */
int runtime_check_notes(const struct runtime *running, struct config *cfg, struct plan *plan,
			struct runtime_notes *notes, char *err, size_t errlen);
/* config_resolve's previous for a reload: the addresses running (the runtime in force) has for
 * upstream entry text of relay, logged as kept because of why. Call with the app lock held. */
uint32_t runtime_previous(void *running, const char *relay, const char *text, const char *why,
			  struct addr *out, uint32_t max);
/* At start, before anything touches the host: plan's file descriptors (plan->nofile) can be
 * had under this process's RLIMIT_NOFILE (raising the soft limit up to the hard one, or the
 * hard one with CAP_SYS_RESOURCE). Not part of runtime_check: -t runs outside the unit's
 * LimitNOFILE= and only warns. Returns 0 or -EMFILE (-errno) with err set. */
int runtime_check_nofile(const struct config *cfg, const struct plan *plan, char *err,
			 size_t errlen);
/* At start, once runtime_check_nofile passed and before the ports are claimed (a descriptor
 * each): raises RLIMIT_NOFILE's soft limit to plan->nofile (and the hard one with it, when it
 * is lower: CAP_SYS_RESOURCE). A reload keeps what the start took. Returns 0 or -errno with
 * err set. */
int runtime_raise_nofile(const struct config *cfg, const struct plan *plan, char *err,
			 size_t errlen);
/* A reload, before it claims cfg's listen ports (runtime_claim_ports): a claim for each,
 * beside running (the descriptors the running relays may hold: plan_nofile_relays of the
 * start's plan, whose tables they keep), is had under RLIMIT_NOFILE, its soft limit raised up
 * to the hard one if need be. Returns 0, or -EMFILE (-errno) with err set, saying what to
 * do. */
int runtime_reload_nofile(const struct config *cfg, uint64_t running, char *err, size_t errlen);
/* At start, before anything touches the host: refuses a listen address of cfg another
 * process holds unless its relay says reuseport_shared (portown.h). Call it while still
 * privileged, so the holder can be named by pid. Returns 0 or -EADDRINUSE with err set. */
int runtime_check_ports(const struct config *cfg, char *err, size_t errlen);
/* Before runtime_check_ports (a start) or a reload's check: claims the listen ports of cfg's
 * relays that do not say reuseport_shared into c (portclaim.h; c initialised, empty), waiting
 * up to 30 s for those another ringrelay claims while it sets up or reloads, logging that it
 * waits. The caller lets them go (portclaim_release) once its listeners are bound, or it
 * gives up. Returns 0 or -errno with err set (-EADDRINUSE: still claimed, naming the holder
 * and what to do). */
struct portclaim;
int runtime_claim_ports(const struct config *cfg, struct portclaim *c, char *err, size_t errlen);
/* A reload, before the app lock: waits (3 s at most) for each listen address of cfg held by
 * a socket that no process has open (port_holder), so that the reload's check under the
 * lock (runtime_reload_check) does not take a listener an earlier reload closed, still on
 * its way out in the kernel, for another program's. Status and health checks do not wait for
 * it. */
void runtime_wait_orphans(const struct config *cfg);
/* Chooses the backend, takes plan (runtime_check's for cfg; RLIMIT_NOFILE raised to it:
 * runtime_raise_nofile), builds balancers and workers; no thread runs yet. Takes cfg (freed
 * by runtime_fini, also on failure). Returns 0 or -errno with err set. */
int runtime_prepare(struct runtime *rt, struct config *cfg, const struct plan *plan,
		    const struct uring_caps *caps, char *err, size_t errlen);
/* Idle workers turn their loop (and advance their heartbeat) at least every ns (0: no
 * need), so a watchdog that checks them every 2 x ns sees progress. Before runtime_start. */
void runtime_set_heartbeat(struct runtime *rt, uint64_t ns);
/* Starts every worker and waits until each is listening. On failure nothing keeps running
 * and err says why. With io_backend = "auto", workers that cannot make their io_uring rings
 * for want of memory (RLIMIT_MEMLOCK) are started again on the mmsg backend, with a
 * warning that gives the cause; rt->backend says which runs. */
int runtime_start(struct runtime *rt, char *err, size_t errlen);
/* A reload's checks that can refuse new_cfg (checked by runtime_check(rt, new_cfg, ...)),
 * asked before anything changes: the caller runs them before the filter, the fast path and
 * shedding follow new_cfg, so a config they refuse leaves all of that as it was. A new listen
 * address another process holds (the port-ownership check of runtime_check_ports) or that
 * cannot be bound here (in use, not this host's, a low port without the capability), a new
 * relay without a free relay slot (-EBUSY: removed relays still drain). Fills slot[i], the
 * relay slot of new_cfg->relays[i] (CONFIG_MAX_RELAYS entries), for runtime_reload under the
 * same hold of the app lock. Returns 0 or -errno with err set; changes nothing. */
int runtime_reload_check(const struct runtime *rt, const struct config *new_cfg, uint32_t *slot,
			 char *err, size_t errlen);
/* Applies new_cfg, checked by runtime_check(rt, new_cfg, plan) and then by
 * runtime_reload_check(rt, new_cfg, slot), to the running workers without a restart:
 * listeners whose address stays keep their sockets (and queued datagrams) and their sessions;
 * upstream changes apply to new sessions (sessions on removed upstreams end); relays and
 * listeners come and go; new relays' session tables are sized by plan. Settings that size
 * memory or threads kept their running values in runtime_check. Always takes new_cfg.
 * Returns 0, or -errno with err set: out of memory before the workers are told leaves the
 * running config untouched (*applied false); a worker that fails to apply (rare: a socket
 * error after the checks) leaves the new config in force without that part (*applied true),
 * and so does a worker that does not take the command within wait_ms (-ETIMEDOUT, naming
 * it): it keeps serving the previous config, which stays allocated until a later reload
 * reaches every worker. */
int runtime_reload(struct runtime *rt, struct config *new_cfg, const struct plan *plan,
		   const uint32_t *slot, bool *applied, char *err, size_t errlen);
/* Applies the config in force again (a relay's upstreams were resolved anew and their pools
 * published, or rt->offload changed after a link or name change): workers sync mirror
 * sockets, end the sessions of upstreams that went away, and install fast-path entries for
 * new sessions of the relays rt->offload says; a relay whose fast path went off keeps its
 * sessions' entries (after a link flap they are in use again). Returns 0 or the first
 * worker's -errno with err set. */
int runtime_reapply(struct runtime *rt, char *err, size_t errlen);
/* Copies up to max sessions of relay (index in cfg; UINT32_MAX = all relays) into out;
 * *total gets the number that exist. Asks each worker, which answers from its own thread,
 * waiting wait_ms (RUNTIME_WORKER_WAIT_MS) at most for one to begin. Returns the number
 * copied, or -errno with err set: -ETIMEDOUT names the worker that did not answer;
 * -ECANCELED: the process stopped while a worker was stuck writing into out, which the
 * runtime then takes (runtime_fini frees it, once no worker is left running). */
int runtime_sessions(struct runtime *rt, uint32_t relay, struct session_info *out, uint32_t max,
		     uint32_t *total, char *err, size_t errlen);
/* The process begins to stop: from now on waits on workers (a reload's, sessions') end by one
 * deadline, wait_ms from the first call, also for a command a worker has begun and is stuck
 * in (the reload then reports that worker stuck; its config and command stay allocated).
 * Call before waiting for the threads that may be waiting on workers. */
void runtime_stopping(struct runtime *rt);
/* Stops the workers, waits until runtime_stopping's deadline (wait_ms from its first call;
 * made here if not yet) at most for each loop to see the stop, then joins those that did
 * (their teardown ends by itself); counters stay readable until runtime_fini.
 * Returns the number of workers whose loop did not come back (stuck: left running, logged,
 * never joined): the process must then exit without freeing anything (runtime_fini does
 * not). */
uint32_t runtime_stop(struct runtime *rt);
/* Stops and joins the workers, frees everything (nothing once runtime_stop left a worker
 * running); idempotent. */
void runtime_fini(struct runtime *rt);
/* Logs the error of each worker whose loop ended on one since the last call (after
 * rt->sync.failed_fd was readable; it is read) and returns how many have so far
 * (rt->n_failed). runtime_stop calls it after the joins: a loop that failed during the stop
 * is logged too. */
uint32_t runtime_worker_failures(struct runtime *rt);
/* Sums the counters of relay r (index in cfg) over all workers (a worker that has not applied
 * the config that gave r its slot adds nothing: its counts there are another relay's). */
void runtime_sum(const struct runtime *rt, uint32_t r, struct relay_counters *out);
/* Allocates *s (snapshot_alloc) and fills what the runtime knows: the config, the backend,
 * the relay names and, per started worker, its id, CPU, heartbeat age and counters. The
 * config and names are borrowed (rt->cfg). Returns 0 or -ENOMEM; free with snapshot_fini
 * either way. */
int runtime_snapshot(const struct runtime *rt, struct snapshot *s);

#endif
