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
 * gives every upstream its proportional share to within one turn. */
static void balance_smooth_order(const struct relay_conf *r, uint32_t total, uint32_t *order)
{
	int64_t current[CONFIG_MAX_UPSTREAMS] = { 0 };
	uint32_t step, i;

	for (step = 0; step < total; step++) {
		uint32_t best = 0;
		bool found = false;

		for (i = 0; i < r->n_upstreams; i++) {
			if (!r->upstreams[i].weight)
				continue;
			current[i] += r->upstreams[i].weight;
			if (!found || current[i] > current[best]) {
				best = i;
				found = true;
			}
		}
		current[best] -= total;
		order[step] = best;
	}
}

static int balance_build_schedule(struct balancer *b, const struct relay_conf *r, uint32_t total)
{
	b->schedule = calloc(total, sizeof(*b->schedule));
	if (!b->schedule)
		return -ENOMEM;
	balance_smooth_order(r, total, b->schedule);
	b->schedule_len = total;
	return 0;
}

/* Maglev's table population (Eisenbud et al., NSDI 2016, pseudocode 1). Each upstream walks
 * its own permutation of the table, given by offset and skip, and claims the next empty entry
 * on its turn. Weights as in Katran: an upstream takes `weight` turns per round. The turns of
 * a round are taken in smooth weighted order rather than in blocks, so the last, partial round
 * is shared in proportion too and every upstream ends within about one entry of its exact
 * share. Because the table size is prime and 1 <= skip < size, every permutation reaches
 * every entry, so each turn finds an empty one while any is left. */
static int balance_build_maglev(struct balancer *b, const struct relay_conf *r, uint32_t total)
{
	uint32_t pos[CONFIG_MAX_UPSTREAMS], skip[CONFIG_MAX_UPSTREAMS];
	uint32_t filled, turn, i, *order;

	order = calloc(total, sizeof(*order));
	if (!order)
		return -ENOMEM;
	b->maglev = malloc(MAGLEV_TABLE_SIZE * sizeof(*b->maglev));
	if (!b->maglev)
		goto err_free_order;
	balance_smooth_order(r, total, order);
	for (i = 0; i < MAGLEV_TABLE_SIZE; i++)
		b->maglev[i] = BALANCE_EMPTY;
	/* Two independent hashes of the upstream's address and port, so its permutation depends
	 * on what it is, not on where it sits in the config: removing one upstream leaves the
	 * others' preferences unchanged, which is what keeps most keys in place. */
	for (i = 0; i < r->n_upstreams; i++) {
		const struct addr *a = &r->upstreams[i].addr;

		pos[i] = addr_hash(a, true, BALANCE_OFFSET_SEED) % MAGLEV_TABLE_SIZE;
		skip[i] = addr_hash(a, true, BALANCE_SKIP_SEED) % (MAGLEV_TABLE_SIZE - 1) + 1;
	}

	for (filled = 0, turn = 0; filled < MAGLEV_TABLE_SIZE; filled++) {
		i = order[turn];
		turn = turn + 1 < total ? turn + 1 : 0;
		while (b->maglev[pos[i]] != BALANCE_EMPTY)
			pos[i] = (pos[i] + skip[i]) % MAGLEV_TABLE_SIZE;
		b->maglev[pos[i]] = (uint16_t)i;
	}
	free(order);
	return 0;

err_free_order:
	free(order);
	return -ENOMEM;
}

int balancer_init(struct balancer *b, const struct relay_conf *r)
{
	uint32_t total = 0, i;
	int err;

	memset(b, 0, sizeof(*b));
	if (r->n_upstreams == 0 || r->n_upstreams > CONFIG_MAX_UPSTREAMS)
		return -EINVAL;
	/* A weight of 0 gets no share; config allows 1..100, but refuse a relay with no share
	 * at all rather than build an empty schedule. */
	for (i = 0; i < r->n_upstreams; i++)
		total += r->upstreams[i].weight;
	if (total == 0)
		return -EINVAL;

	b->mode = r->balance;
	b->n_upstreams = r->n_upstreams;
	switch (r->balance) {
	case BALANCE_RR:
	case BALANCE_HASH:
		err = balance_build_schedule(b, r, total);
		break;
	case BALANCE_MAGLEV:
		err = balance_build_maglev(b, r, total);
		break;
	default:
		err = -EINVAL;
		break;
	}
	if (err)
		balancer_fini(b);
	return err;
}

void balancer_fini(struct balancer *b)
{
	free(b->schedule);
	free(b->maglev);
	memset(b, 0, sizeof(*b));
}

uint32_t balancer_pick(const struct balancer *b, const struct addr *client, uint32_t *rr_state)
{
	uint32_t i;

	switch (b->mode) {
	case BALANCE_RR:
		if (!b->schedule_len)
			return 0;
		/* The state is the worker's own, so it may be anything: wrap it defensively. */
		i = *rr_state < b->schedule_len ? *rr_state : 0;
		*rr_state = i + 1 < b->schedule_len ? i + 1 : 0;
		return b->schedule[i];
	case BALANCE_HASH:
		if (!b->schedule_len)
			return 0;
		return b->schedule[addr_hash(client, true, BALANCE_CLIENT_SEED) % b->schedule_len];
	case BALANCE_MAGLEV:
		if (!b->maglev)
			return 0;
		return b->maglev[addr_hash(client, true, BALANCE_CLIENT_SEED) % MAGLEV_TABLE_SIZE];
	}
	return 0;
}
