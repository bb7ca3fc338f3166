/* SPDX-License-Identifier: MIT */
/* Choosing an upstream for a new session. A balancer is built once from a list of members
 * (address, weight) and the set of them that may take new sessions, and is then immutable,
 * shared read-only by all workers (inside a published pool, pool.h). */
#ifndef RINGRELAY_BALANCE_H
#define RINGRELAY_BALANCE_H

#include <stdint.h>

#include "addr.h"
#include "config.h"

/* Maglev lookup table size: a prime well above 100 x CONFIG_MAX_UPSTREAMS, as the paper
 * recommends, so weights are honoured within about 1%. */
#define MAGLEV_TABLE_SIZE 65537

/* Every member eligible. */
#define BALANCE_ALL UINT64_MAX

struct balance_member {
	struct addr addr;
	uint32_t weight; /* 0: no share */
};

/* One lookup structure: rr and hash a schedule, maglev a table. */
struct balance_table {
	uint32_t *schedule; /* rr and hash: member indices repeated by weight, smoothly */
	uint32_t schedule_len;
	uint16_t *maglev;   /* maglev: MAGLEV_TABLE_SIZE member indices */
};

struct balancer {
	enum balance_mode mode;
	uint32_t n_upstreams;
	uint64_t eligible; /* bit i: member i may take new sessions */
	/* Built over every member with a weight, as if all were eligible: a client's first
	 * choice, which stays put while its upstream stays eligible. */
	struct balance_table full;
	/* Built over the eligible members only, when some are not: where the clients of an
	 * ineligible member go (rr walks only this one). */
	struct balance_table alt;
	bool has_alt;
};

/* Builds the balancer over n members (1..CONFIG_MAX_UPSTREAMS) of which those with bit i of
 * eligible set may be picked (no eligible member with a weight: all of them may). hash and
 * maglev send a client to its member in the table built over all members, and only when
 * that member is not eligible to its member in a table built over the eligible ones: taking
 * members out moves only their own clients, putting them back brings exactly those back.
 * Returns 0 or -ENOMEM / -EINVAL (no members, no weight). */
int balancer_build(struct balancer *b, enum balance_mode mode, const struct balance_member *m,
		   uint32_t n, uint64_t eligible);
/* balancer_build over r's upstreams as written (literal addresses), all eligible. */
int balancer_init(struct balancer *b, const struct relay_conf *r);
void balancer_fini(struct balancer *b);

/* The member index for a new session from client. rr_state is the calling worker's own
 * round-robin position (start at balancer_rr_start). hash and maglev hash the client's address
 * and port. */
uint32_t balancer_pick(const struct balancer *b, const struct addr *client, uint32_t *rr_state);
/* Where worker k (0, 1, ...) starts its rr_state: k places along the order rr walks, so that
 * the first sessions of n workers after a start go where one worker's first n would (the
 * order is smooth: each member's share of any stretch from its start, rounded up), not all to
 * its first member. (Spaced k / n of the way instead, they can all meet the heaviest member:
 * a smooth order repeats its pattern.) 0 for hash and maglev. */
uint32_t balancer_rr_start(const struct balancer *b, uint32_t k);

#endif
