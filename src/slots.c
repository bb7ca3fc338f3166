// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "slots.h"

int slots_assign(const struct config *running, const uint32_t *running_slot,
		 const struct config *next, const bool *busy, uint32_t *slot, char *err,
		 size_t errlen)
{
	bool taken[SLOTS_MAX] = { false };
	uint32_t i, j, s, n_running = running ? running->n_relays : 0;

	for (i = 0; i < next->n_relays; i++) {
		slot[i] = UINT32_MAX;
		for (j = 0; j < n_running; j++) {
			if (strcmp(running->relays[j].name, next->relays[i].name) == 0) {
				slot[i] = running_slot[j];
				taken[slot[i]] = true;
			}
		}
	}
	for (j = 0; j < n_running; j++)
		taken[running_slot[j]] = true;
	for (i = 0; i < next->n_relays; i++) {
		if (slot[i] != UINT32_MAX)
			continue;
		for (s = 0; s < SLOTS_MAX; s++)
			if (!taken[s] && !(busy && busy[s]))
				break;
		if (s == SLOTS_MAX) {
			snprintf(err, errlen,
				 "relay %s: no free relay slot while removed relays drain; retry "
				 "after their sessions end",
				 next->relays[i].name);
			return -EBUSY;
		}
		slot[i] = s;
		taken[s] = true;
	}
	return 0;
}

void slots_regions_init(struct slots_regions *g, uint32_t start, uint32_t end)
{
	memset(g, 0, sizeof(*g));
	g->next = start;
	g->end = end;
}

int slots_take_region(struct slots_regions *g, uint32_t r, uint32_t cap, const bool *unused)
{
	uint32_t i;

	if (g->next + cap <= g->end) {
		g->base[r] = g->next;
		g->size[r] = cap;
		g->next += cap;
		return 0;
	}
	for (i = 0; i < SLOTS_MAX; i++) {
		if (i == r || !unused[i] || g->size[i] < cap)
			continue;
		g->base[r] = g->base[i];
		g->size[r] = g->size[i];
		g->size[i] = 0;
		return 0;
	}
	return -ENOSPC;
}
