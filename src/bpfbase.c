// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "bpfbase.h"
#include "snapshot.h"

/* The index of name's entry of the n in t, or -1. */
static int xmit_find(const struct bpfbase_xmit *t, uint32_t n, const char *name)
{
	uint32_t i;

	for (i = 0; name[0] && i < n; i++)
		if (!strncmp(t[i].name, name, sizeof(t[i].name)))
			return (int)i;
	return -1;
}

struct bpfbase_xmit *bpfbase_xmit_of(struct bpfbase_xmit *t, uint32_t n, const char *name,
				     bool make)
{
	int i = xmit_find(t, n, name);
	uint32_t k;

	if (i >= 0)
		return &t[i];
	if (!make || !name[0] || !n)
		return NULL;
	/* The last row is kept for the names that find no room (review-ifrename R2), and takes
	 * that row of another table (filter_xmit_counts adds xmit_gone to the base). */
	for (k = 0; k + 1 < n && strcmp(name, BPFBASE_XMIT_OTHER); k++)
		if (!t[k].name[0]) {
			snprintf(t[k].name, sizeof(t[k].name), "%s", name);
			return &t[k];
		}
	snprintf(t[n - 1].name, sizeof(t[n - 1].name), "%s", BPFBASE_XMIT_OTHER);
	return &t[n - 1];
}

void bpfbase_xmit_add(struct bpfbase_xmit *t, uint32_t n, const char *name, uint64_t drops,
		      uint64_t sent)
{
	struct bpfbase_xmit *x;

	if (!(drops | sent))
		return;
	x = bpfbase_xmit_of(t, n, name, true);
	if (x) {
		x->drops += drops;
		x->sent += sent;
	}
}

bool bpfbase_xmit_take(struct bpfbase_xmit *t, uint32_t n, const char *name, uint64_t *drops,
		       uint64_t *sent)
{
	int i = xmit_find(t, n, name);

	if (i < 0)
		return false;
	*drops += t[i].drops;
	*sent += t[i].sent;
	memset(&t[i], 0, sizeof(t[i]));
	return true;
}

static void add_all(uint64_t *to, const uint64_t *from, uint32_t n)
{
	uint32_t i;

	for (i = 0; to && i < n; i++)
		to[i] += from[i];
}

void bpfbase_filter_add(const struct bpfbase *b, uint64_t c[FILTER_CNT__MAX])
{
	add_all(c, b->filter, FILTER_CNT__MAX);
}

void bpfbase_apply(const struct bpfbase *b, struct snapshot *s)
{
	uint32_t i;
	int x;

	bpfbase_filter_add(b, s->filter_counters);
	add_all(s->offload_counters, b->offload, OFFLOAD_CNT__MAX);
	add_all(s->shed_counters, b->shed, SHED_CNT__MAX);
	for (i = 0; s->offload_ifaces && i < s->n_offload_ifaces; i++) {
		x = xmit_find(b->xmit, BPFBASE_XMIT_ROWS, s->offload_ifaces[i].name);
		if (x >= 0) {
			s->offload_ifaces[i].xmit_drops += b->xmit[x].drops;
			s->offload_ifaces[i].xmit_sent += b->xmit[x].sent;
		}
	}
}
