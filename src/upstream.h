/* SPDX-License-Identifier: MIT */
/* The runtime's upstreams: each relay's pool (pool.h) and what it is made from. Main builds
 * and publishes pools (start, reload, re-resolution), and the upkeep thread (upkeep.c) turns
 * the workers' observations and the active checks into health (health.h) and publishes a new
 * pool when a member's state changes, as does `ringrelayctl upstream disable|enable`.
 *
 * Sharing without locks on the hot path: workers only write their own per-upstream counters
 * (counters.h) and only read the pool pointer (pool.h). Main reads the counters (relaxed
 * loads; every counter has one writer), keeps all health state itself, and swaps pool
 * pointers; a retired pool is freed after every worker has finished a loop iteration
 * (worker_counters.quiescent). Every function here runs with the app lock held. */
#ifndef RINGRELAY_UPSTREAM_H
#define RINGRELAY_UPSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "health.h"
#include "pool.h"

struct runtime;
struct snapshot;

#define UPSTREAM_MAX_DISABLED 256

/* One counter slot of one relay slot: the member it counts and its health. */
struct upstream_slot {
	bool used;
	uint32_t gen; /* pool_member.gen */
	struct addr addr;
	char label[CONFIG_UPSTREAM_TEXT];
	struct health h;
	double changed;		       /* unix seconds of the last state change (0: none yet) */
	double changed_boot;	       /* ... and app_boottime() then */
	uint64_t seen_fails, seen_oks; /* the workers' sums at the last tick */
};

struct upstream_relay {
	char name[CONFIG_NAME_LEN];
	struct upstream_slot slot[CONFIG_MAX_UPSTREAMS];
	uint32_t next_slot; /* where the search for a free counter slot starts */
	struct health_conf hc;
	/* per entry of the config in force: its last lookup failed (logged once) */
	bool lookup_failing[CONFIG_MAX_UPSTREAMS];
	uint64_t next_resolve; /* ns; 0: never */
	/* the upkeep thread's lookups of the relay's names since the slot took the relay: made,
	 * failed, and the new address sets they applied */
	uint64_t lookups, lookup_failures, new_sets;
	/* its members' states changed (check results) or a rebuild failed (memory): the tick
	 * builds its pool, once for all of a tick's changes */
	bool rebuild;
	bool rebuild_failed; /* the last rebuild failed (logged once) */
};

struct upstreams {
	struct upstream_relay relay[CONFIG_MAX_RELAYS]; /* by relay slot */
	/* `upstream disable`: relay name and the entry as written or the address, kept across
	 * reloads until `upstream enable` */
	struct {
		char relay[CONFIG_NAME_LEN];
		char text[CONFIG_UPSTREAM_TEXT];
	} disabled[UPSTREAM_MAX_DISABLED];
	uint32_t n_disabled;
	uint32_t gen_next;
	uint64_t members_gen_next;
	struct pool *retired; /* waiting for the workers' grace period */
};

/* Builds and publishes the pool of every relay of cfg (relay i in slot[i]) from its members
 * (cfg->relays[i].members), keeping the counter slot, health and drain of members that stay.
 * All or nothing: every pool is built before any is published. Returns 0 or -errno with err
 * set (out of memory), every relay then keeping its pool and what it is made from. */
int upstream_publish(struct runtime *rt, const struct config *cfg, const uint32_t *slot, char *err,
		     size_t errlen);
/* Relay i of rt->cfg now has the members m[0..n) (a new resolution): publishes its pool.
 * Returns 1 when the member list changed (the workers must APPLY), 0 when not, or -errno
 * (the relay then keeps its pool and its members' slots). */
int upstream_publish_members(struct runtime *rt, uint32_t i, const struct member_conf *m,
			     uint32_t n);
/* Passive health and ejections' ends at now (ns, monotonic): one tick of the upkeep thread.
 * Publishes the pools whose members' states changed; frees retired pools past their grace. */
void upstream_tick(struct runtime *rt, uint64_t now);
/* An active check of counter slot u of relay slot r (while its gen is gen) found ok. A
 * state change is published by the next upstream_tick (the caller's next call). */
void upstream_check_result(struct runtime *rt, uint32_t r, uint32_t u, uint32_t gen, bool ok,
			   const char *why, uint64_t now);
/* Drains (enabled false) or enables the members of relay relay_name whose entry as written
 * or address is text. Returns the number of members changed, or -ENOENT with err set. */
int upstream_set_enabled(struct runtime *rt, const char *relay_name, const char *text, bool enabled,
			 char *err, size_t errlen);
/* The addresses relay relay_name's current pool has for the entry written text (a name's
 * last good set). */
uint32_t upstream_previous(struct runtime *rt, const char *relay_name, const char *text,
			   struct addr *out, uint32_t max);
/* The addresses relay i of rt->cfg sends to now (its pool's members: a name's as last
 * resolved) into out: their number, 0 before its pool is published. */
uint32_t upstream_addrs(const struct runtime *rt, uint32_t i, struct addr *out, uint32_t max);
/* Fills the snapshot's upstream part (snapshot.h). 0 or -ENOMEM. */
int upstream_snapshot(const struct runtime *rt, struct snapshot *s);
/* Frees every pool (the workers are stopped). */
void upstream_fini(struct runtime *rt);

#endif
