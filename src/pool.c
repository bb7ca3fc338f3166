// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* pools made so far, by any thread: each pool's seq */
static _Atomic uint64_t pool_seq;

int pool_new(struct pool **out, enum balance_mode mode, const struct pool_member *m, uint32_t n,
	     uint64_t members_gen)
{
	struct balance_member bm[CONFIG_MAX_UPSTREAMS];
	uint64_t usable = 0, enabled = 0;
	struct pool *p;
	uint32_t i;
	int err;

	*out = NULL;
	if (n == 0 || n > CONFIG_MAX_UPSTREAMS)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->n = n;
	p->members_gen = members_gen;
	p->seq = atomic_fetch_add_explicit(&pool_seq, 1, memory_order_relaxed) + 1;
	memcpy(p->m, m, n * sizeof(*m));
	for (i = 0; i < n; i++) {
		bm[i].addr = m[i].addr;
		bm[i].weight = m[i].weight;
		if (m[i].enabled && m[i].weight)
			enabled |= 1ull << i;
		if (m[i].enabled && m[i].weight && m[i].state == HEALTH_UP)
			usable |= 1ull << i;
	}
	/* With none up (passive health keeps the last one, active checks may not), every
	 * enabled one is used (Envoy's panic); with none enabled either, all are (a reload
	 * drained them all). */
	p->copy_mask = enabled ? enabled : (n >= 64 ? UINT64_MAX : (1ull << n) - 1);
	if (!usable) {
		p->panic = true;
		usable = enabled;
	}
	for (i = 0; i < n; i++)
		p->m[i].usable = !usable || (usable >> i & 1);
	err = balancer_build(&p->bal, mode, bm, n, usable ? usable : BALANCE_ALL);
	if (err) {
		free(p);
		return err;
	}
	*out = p;
	return 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	balancer_fini(&p->bal);
	free(p);
}

int pool_find(const struct pool *p, const struct addr *addr)
{
	uint32_t i;

	for (i = 0; p && i < p->n; i++)
		if (addr_equal(&p->m[i].addr, addr))
			return (int)i;
	return -1;
}
