// SPDX-License-Identifier: MIT
/* Upstream selection. Everything is precomputed in balancer_init() so that a pick is one
 * array read: rr walks a schedule, hash indexes it, maglev indexes the lookup table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"

/* Fixed seeds, not random ones: every worker and every restart must send a client to the same
 * upstream, or hash and maglev would lose the affinity they exist for. */
#define BALANCE_CLIENT_SEED 0x6c8e9cf5u
#define BALANCE_OFFSET_SEED 0x1b873593u
#define BALANCE_SKIP_SEED 0xcc9e2d51u

#define BALANCE_EMPTY UINT16_MAX

/* nginx's smooth weighted round robin, run for one full period (total = sum of weights
 * steps) into order[]: each step every upstream gains its weight, the richest is picked and
 * pays the total. Ties go to the lowest index, so the order is deterministic. Any prefix of it
 * gives every upstream its proportional share to within one turn. w[i] is member i's weight
 * (0: none). */
static void balance_smooth_order(const uint32_t *w, uint32_t n, uint32_t total, uint32_t *order)
{
	int64_t current[CONFIG_MAX_UPSTREAMS] = { 0 };
	uint32_t step, i;

	for (step = 0; step < total; step++) {
		uint32_t best = 0;
		bool found = false;

		for (i = 0; i < n; i++) {
			if (!w[i])
				continue;
			current[i] += w[i];
			if (!found || current[i] > current[best]) {
				best = i;
				found = true;
			}
		}
		current[best] -= total;
		order[step] = best;
	}
}

static int balance_build_schedule(struct balance_table *t, const uint32_t *w, uint32_t n,
				  uint32_t total)
{
	t->schedule = calloc(total, sizeof(*t->schedule));
	if (!t->schedule)
		return -ENOMEM;
	balance_smooth_order(w, n, total, t->schedule);
	t->schedule_len = total;
	return 0;
}

/* Maglev's table population (Eisenbud et al., NSDI 2016, pseudocode 1). Each upstream walks
 * its own permutation of the table, given by offset and skip, and claims the next empty entry
 * on its turn. Weights as in Katran: an upstream takes `weight` turns per round. The turns of
 * a round are taken in smooth weighted order rather than in blocks, so the last, partial round
 * is shared in proportion too and every upstream ends within about one entry of its exact
 * share. Because the table size is prime and 1 <= skip < size, every permutation reaches
 * every entry, so each turn finds an empty one while any is left. */
static int balance_build_maglev(struct balance_table *t, const struct balance_member *m,
				const uint32_t *w, uint32_t n, uint32_t total)
{
	uint32_t pos[CONFIG_MAX_UPSTREAMS], skip[CONFIG_MAX_UPSTREAMS];
	uint32_t filled, turn, i, *order;

	order = calloc(total, sizeof(*order));
	if (!order)
		return -ENOMEM;
	t->maglev = malloc(MAGLEV_TABLE_SIZE * sizeof(*t->maglev));
	if (!t->maglev)
		goto err_free_order;
	balance_smooth_order(w, n, total, order);
	for (i = 0; i < MAGLEV_TABLE_SIZE; i++)
		t->maglev[i] = BALANCE_EMPTY;
	/* Two independent hashes of the upstream's address and port, so its permutation depends
	 * on what it is, not on where it sits in the config: removing one upstream leaves the
	 * others' preferences unchanged, which is what keeps most keys in place. */
	for (i = 0; i < n; i++) {
		pos[i] = addr_hash(&m[i].addr, true, BALANCE_OFFSET_SEED) % MAGLEV_TABLE_SIZE;
		skip[i] = addr_hash(&m[i].addr, true, BALANCE_SKIP_SEED) % (MAGLEV_TABLE_SIZE - 1) + 1;
	}

	for (filled = 0, turn = 0; filled < MAGLEV_TABLE_SIZE; filled++) {
		i = order[turn];
		turn = turn + 1 < total ? turn + 1 : 0;
		while (t->maglev[pos[i]] != BALANCE_EMPTY)
			pos[i] = (pos[i] + skip[i]) % MAGLEV_TABLE_SIZE;
		t->maglev[pos[i]] = (uint16_t)i;
	}
	free(order);
	return 0;

err_free_order:
	free(order);
	return -ENOMEM;
}

static void balance_table_fini(struct balance_table *t)
{
	free(t->schedule);
	free(t->maglev);
	memset(t, 0, sizeof(*t));
}

/* The table of mode over the members whose bit is set in mask. -EINVAL: no weight there. */
static int balance_table_build(struct balance_table *t, enum balance_mode mode,
			       const struct balance_member *m, uint32_t n, uint64_t mask)
{
	uint32_t w[CONFIG_MAX_UPSTREAMS], total = 0, i;

	for (i = 0; i < n; i++) {
		w[i] = (mask >> i & 1) ? m[i].weight : 0;
		total += w[i];
	}
	if (total == 0)
		return -EINVAL;
	switch (mode) {
	case BALANCE_RR:
	case BALANCE_HASH:
		return balance_build_schedule(t, w, n, total);
	case BALANCE_MAGLEV:
		return balance_build_maglev(t, m, w, n, total);
	}
	return -EINVAL;
}

int balancer_build(struct balancer *b, enum balance_mode mode, const struct balance_member *m,
		   uint32_t n, uint64_t eligible)
{
	uint64_t all = n >= 64 ? UINT64_MAX : (1ull << n) - 1, weighted = 0;
	uint32_t i;
	int err;

	memset(b, 0, sizeof(*b));
	if (n == 0 || n > CONFIG_MAX_UPSTREAMS)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (m[i].weight)
			weighted |= 1ull << i;
	/* Nothing eligible that has a share: every member may be picked (panic). */
	if (!(eligible & weighted))
		eligible = all;
	b->mode = mode;
	b->n_upstreams = n;
	b->eligible = eligible & all;
	err = balance_table_build(&b->full, mode, m, n, all);
	if (!err && (weighted & ~b->eligible)) {
		err = balance_table_build(&b->alt, mode, m, n, b->eligible);
		b->has_alt = !err;
	}
	if (err)
		balancer_fini(b);
	return err;
}

int balancer_init(struct balancer *b, const struct relay_conf *r)
{
	struct balance_member m[CONFIG_MAX_UPSTREAMS];
	uint32_t i, n = r->n_upstreams;

	if (n == 0 || n > CONFIG_MAX_UPSTREAMS) {
		memset(b, 0, sizeof(*b));
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		m[i].addr = r->upstreams[i].addr;
		m[i].weight = r->upstreams[i].weight;
	}
	return balancer_build(b, r->balance, m, n, BALANCE_ALL);
}

void balancer_fini(struct balancer *b)
{
	balance_table_fini(&b->full);
	balance_table_fini(&b->alt);
	memset(b, 0, sizeof(*b));
}

static uint32_t balance_lookup(const struct balance_table *t, enum balance_mode mode, uint32_t h)
{
	if (mode == BALANCE_MAGLEV)
		return t->maglev ? t->maglev[h % MAGLEV_TABLE_SIZE] : 0;
	return t->schedule_len ? t->schedule[h % t->schedule_len] : 0;
}

uint32_t balancer_rr_start(const struct balancer *b, uint32_t k)
{
	const struct balance_table *t = b->has_alt ? &b->alt : &b->full;

	if (b->mode != BALANCE_RR || !t->schedule_len)
		return 0;
	return k % t->schedule_len;
}

uint32_t balancer_pick(const struct balancer *b, const struct addr *client, uint32_t *rr_state)
{
	const struct balance_table *t;
	uint32_t i, h;

	switch (b->mode) {
	case BALANCE_RR:
		/* No affinity to keep: walk the eligible members only. */
		t = b->has_alt ? &b->alt : &b->full;
		if (!t->schedule_len)
			return 0;
		/* The state is the worker's own, so it may be anything (a shorter schedule since):
		 * wrapped, not reset, so workers that started apart stay apart. */
		i = *rr_state % t->schedule_len;
		*rr_state = i + 1 < t->schedule_len ? i + 1 : 0;
		return t->schedule[i];
	case BALANCE_HASH:
	case BALANCE_MAGLEV:
		h = addr_hash(client, true, BALANCE_CLIENT_SEED);
		i = balance_lookup(&b->full, b->mode, h);
		if (!b->has_alt || b->eligible >> i & 1)
			return i;
		/* hash: h's remainder by the full schedule's length named the member that is out;
		 * by a length with a common factor it would name few of the others (4 members,
		 * 1 and 3 out: every client of theirs had an odd h, and h % 2 sent all of them
		 * to member 2). What is left of h above that remainder spreads them. Maglev's
		 * tables are built to keep slots in place: the same slot is the point there. */
		if (b->mode == BALANCE_HASH && b->full.schedule_len)
			h /= b->full.schedule_len;
		return balance_lookup(&b->alt, b->mode, h);
	}
	return 0;
}
