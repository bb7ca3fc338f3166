/* SPDX-License-Identifier: MIT */
/* Relay slots across reloads. Workers keep each relay in a fixed slot for as long as it
 * exists, so completions that carry a slot stay meaningful while a reload adds and removes
 * relays; each forward relay's sessions get a region of the worker ring's fixed-file table.
 * Pure: plain data in, plain data out, so the reload rules are unit-tested. */
#ifndef RINGRELAY_SLOTS_H
#define RINGRELAY_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define SLOTS_MAX CONFIG_MAX_RELAYS

/* Slot of each relay of next (slot[i] for next->relays[i]): a relay of running (matched by
 * name) keeps running_slot's; a new relay takes a slot that running does not use and that
 * no worker still drains (busy[s]; busy NULL: nothing runs). running NULL: nothing runs.
 * Returns 0, or -EBUSY with err set when every free slot still drains. */
int slots_assign(const struct config *running, const uint32_t *running_slot,
		 const struct config *next, const bool *busy, uint32_t *slot, char *err,
		 size_t errlen);

/* The session area of one worker's fixed-file table, [start, end), cut into one region per
 * relay slot. A region outlives its relay: a later relay in the slot, or in another slot
 * once this one is unused, takes it over. */
struct slots_regions {
	uint32_t next; /* start of the space no region has taken yet */
	uint32_t end;
	uint32_t base[SLOTS_MAX];
	uint32_t size[SLOTS_MAX]; /* 0: the slot holds no region */
};

void slots_regions_init(struct slots_regions *g, uint32_t start, uint32_t end);
/* Gives slot r a region of at least cap slots: fresh space while it lasts, else the region
 * of a slot i != r for which unused[i] holds (that slot loses it). Returns 0 or -ENOSPC. */
int slots_take_region(struct slots_regions *g, uint32_t r, uint32_t cap, const bool *unused);

#endif
