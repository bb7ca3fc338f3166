/* SPDX-License-Identifier: MIT */
/* The route epoch with what changed in it: a ring of the prefixes of the routes that changed
 * (written by the admin thread as the kernel tells them), read by the workers without a lock,
 * so that a fast session whose addresses no changed route covers keeps its rules without
 * deriving them again (docs/offload.md, "Routes that move"). */
#ifndef RINGRELAY_ROUTESCOPE_H
#define RINGRELAY_ROUTESCOPE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

/* Changes remembered: a reader more than this many epochs behind takes them all as
 * covering it (as if a rule had changed). 256 slots of 24 bytes: 6 KiB, and a worker reads
 * each session's slots once per change (offload_route_scope). */
#define ROUTESCOPE_RING 256u

/* One epoch's change: seq is the epoch that wrote it last (a reader checks it before and
 * after its reading: a seqlock per slot), meta its kind and length, w the prefix (IPv4
 * mapped, as struct prefix). Words read and written with __atomic. */
struct routescope_slot {
	uint32_t seq;
	uint32_t meta;
	uint32_t w[4];
};

/* Zeroed is ready (epoch 0, nothing recorded). Writers may be several (they take the
 * writing flag, rarely contended: route events); readers take nothing. */
struct routescope {
	uint32_t epoch; /* the last epoch recorded: its slot is written */
	uint8_t writing;
	struct routescope_slot ring[ROUTESCOPE_RING];
};

/* Records a change that may move any route (a policy rule, a nexthop object, a device made
 * again, messages lost or not understood): a new epoch that covers every address. */
void routescope_all(struct routescope *rs);
/* Records a change of the routes within prefix p (a route added, deleted or changed in any
 * table: its destination prefix), of IPv4 routes when v4 (p IPv4-mapped: len >= 96), else of
 * IPv6 ones: a new epoch that covers the addresses within p of that family. */
void routescope_prefix(struct routescope *rs, const struct prefix *p, bool v4);
/* The last epoch recorded (relaxed: a worker reads it once per turn). rs may be NULL: 0. */
uint32_t routescope_epoch(const struct routescope *rs);

/* Whether a change recorded after epoch *from and up to epoch to covers one of the n
 * addresses addrs: 1 (one did, or one covering all, or the ring went past *from or wrote the
 * slot meanwhile: as good as all), or 0 with *from advanced past the changes that covered
 * none of them; at most *budget changes are read (each costs one, counted off): 0 with
 * *from != to means the budget ran out first. A v4-mapped IPv6 address is routed as IPv4. */
int routescope_covers(const struct routescope *rs, uint32_t *from, uint32_t to,
		      const struct addr *const *addrs, unsigned int n, uint32_t *budget);

#endif
