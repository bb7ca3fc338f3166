/* SPDX-License-Identifier: MIT */
/* The upkeep thread: every UPKEEP_TICK_MS it turns what the workers observed into upstream
 * health (upstream_tick), runs the relays' active health checks (health_check: a probe every
 * interval from a connected UDP socket, kept while they succeed and replaced after a failure;
 * a reply that came within timeout and starts with expect), and re-resolves upstream names
 * every resolve_interval, applying a changed set
 * like a reload of that relay. It takes the app lock for each of those steps, never across
 * a wait. Name lookups run off this thread (lookup.h), a batch per relay: a slow resolver
 * delays only that relay's new addresses, not the health checks, other relays or a stop. */
#ifndef RINGRELAY_UPKEEP_H
#define RINGRELAY_UPKEEP_H

#include <stddef.h>

#define UPKEEP_TICK_MS 100

struct app;
struct upkeep;

/* Starts the thread (all signals blocked) with capabilities keep of the caller's (the
 * health probes' SO_MARK) and no others. Returns 0 or -errno with err set. */
int upkeep_start(struct app *a, uint64_t keep, struct upkeep **out, char *err, size_t errlen);
/* Stops and joins it, closes its sockets; NULL-safe. */
void upkeep_stop(struct upkeep *u);

#endif
