/* SPDX-License-Identifier: MIT */
/* A relay's pool: its upstreams as they are now (resolved addresses, drained or not, healthy
 * or not) and the balancer over those that may take new sessions. A pool is immutable once
 * published. Main (reload, re-resolve, the upkeep thread's health and drain changes) builds a
 * new one and swaps the relay's pointer (release store); workers load it (acquire) once per
 * new session or datagram to mirror, and never keep it past the end of a loop iteration.
 * The old pool is freed once every worker has finished an iteration after the swap (each
 * publishes its loop count as wc.quiescent): a grace period without any lock on the hot path.
 *
 * Members keep their order and counter slot in every pool of one member list (members_gen);
 * a new member list comes with a worker APPLY, which syncs mirror sockets and ends the
 * sessions of members that went away. */
#ifndef RINGRELAY_POOL_H
#define RINGRELAY_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "balance.h"
#include "config.h"
#include "health.h"
#include "plan.h"

struct pool_member {
	struct addr addr;
	uint32_t weight;
	uint32_t slot;	/* the workers' per-upstream counters slot (0..CONFIG_MAX_UPSTREAMS-1) */
	uint32_t gen;	/* changes when the slot gets a member it did not have: counters restart */
	uint32_t entry; /* index in the relay's upstreams, as written */
	char label[CONFIG_UPSTREAM_TEXT]; /* the entry as written ("dns.internal:53") */
	bool enabled;			  /* not drained (`ringrelayctl upstream disable`) */
	enum health_state state;
	bool usable; /* may take new sessions: enabled and up, or enabled in panic */
};

struct pool {
	uint32_t n;
	uint64_t members_gen; /* the member list's identity */
	uint64_t seq;	      /* this pool's identity: each pool_new gives a new one (an address may
				 come back for a later pool) */
	bool panic;	      /* no enabled member is up: all enabled ones are used */
	uint64_t copy_mask;   /* mirror: members that get copies (enabled; all when none is) */
	struct balancer bal;  /* over the members, picking the usable ones */
	struct pool_member m[CONFIG_MAX_UPSTREAMS];
	/* main's, while retired: the next retired pool and each worker's quiescent count then
	 * (in the pool itself: a retirement that could fail for memory would never end) */
	struct pool *retired_next;
	uint64_t retired_qs[PLAN_MAX_WORKERS];
};

/* A new pool of n members (copied; usable and panic are computed from enabled and state:
 * usable = enabled and up; none usable: every enabled member is, and panic; none enabled:
 * all). Returns 0 or -ENOMEM / -EINVAL (balancer_build). */
int pool_new(struct pool **out, enum balance_mode mode, const struct pool_member *m, uint32_t n,
	     uint64_t members_gen);
/* NULL-safe. */
void pool_free(struct pool *p);

/* The member index of p for addr, or -1. */
int pool_find(const struct pool *p, const struct addr *addr);

#endif
