// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxreport.h"
#include "snapshot.h"

int snapshot_alloc(struct snapshot *s, uint32_t n_relays, uint32_t n_workers)
{
	size_t n = (size_t)n_relays * n_workers;
	uint32_t w;

	memset(s, 0, sizeof(*s));
	s->relay_names = calloc(n_relays ? n_relays : 1, sizeof(*s->relay_names));
	s->workers = calloc(n_workers ? n_workers : 1, sizeof(*s->workers));
	/* The struct is cache-line aligned; malloc only promises 16 bytes. Its size is a
	 * multiple of the alignment, as aligned_alloc wants. */
	s->counters = aligned_alloc(_Alignof(struct relay_counters),
				    (n ? n : 1) * sizeof(*s->counters));
	s->max_sessions = calloc(n_relays ? n_relays : 1, sizeof(*s->max_sessions));
	s->panic = calloc(n_relays ? n_relays : 1, sizeof(*s->panic));
	s->lookups = calloc(n_relays ? n_relays : 1, sizeof(*s->lookups));
	if (!s->relay_names || !s->workers || !s->counters || !s->max_sessions || !s->panic ||
	    !s->lookups)
		return -ENOMEM;
	memset(s->counters, 0, (n ? n : 1) * sizeof(*s->counters));
	s->n_relays = n_relays;
	s->n_workers = n_workers;
	for (w = 0; w < n_workers; w++)
		s->workers[w].relays = s->counters + (size_t)w * n_relays;
	return 0;
}

int snapshot_alloc_upstreams(struct snapshot *s, uint32_t n)
{
	size_t k = (size_t)(n ? n : 1) * (s->n_workers ? s->n_workers : 1);
	uint32_t w;

	s->upstreams = calloc(n ? n : 1, sizeof(*s->upstreams));
	s->upstream_counters = aligned_alloc(_Alignof(struct upstream_counters),
					     k * sizeof(*s->upstream_counters));
	if (!s->upstreams || !s->upstream_counters)
		return -ENOMEM;
	memset(s->upstream_counters, 0, k * sizeof(*s->upstream_counters));
	s->n_upstreams = n;
	for (w = 0; w < s->n_workers; w++)
		s->workers[w].upstreams = s->upstream_counters + (size_t)w * n;
	return 0;
}

void snapshot_fini(struct snapshot *s)
{
	free(s->max_sessions);
	free(s->panic);
	free(s->lookups);
	free(s->upstreams);
	free(s->upstream_counters);
	free(s->relay_names);
	free(s->workers);
	free(s->counters);
	free(s->filter_counters);
	free(s->offload_counters);
	free(s->offload_ifaces);
	free((void *)s->offload);
	free(s->shed);
	free(s->shed_counters);
	rxreport_free(s->rxpath);
	memset(s, 0, sizeof(*s));
}
