/* SPDX-License-Identifier: MIT */
/* Choosing an upstream for a new session. A balancer is built once from a relay's config and
 * is then immutable, shared read-only by all workers. */
#ifndef RINGRELAY_BALANCE_H
#define RINGRELAY_BALANCE_H

#include <stdint.h>

#include "addr.h"
#include "config.h"

/* Maglev lookup table size: a prime well above 100 x CONFIG_MAX_UPSTREAMS, as the paper
 * recommends, so weights are honoured within about 1%. */
#define MAGLEV_TABLE_SIZE 65537

struct balancer {
	enum balance_mode mode;
	uint32_t n_upstreams;
	/* rr and hash: upstream indices repeated by weight, interleaved smoothly
	 * (nginx's smooth weighted round robin), length = sum of weights. */
	uint32_t *schedule;
	uint32_t schedule_len;
	/* maglev: MAGLEV_TABLE_SIZE entries, each an upstream index */
	uint16_t *maglev;
};

/* Builds the balancer for r. Returns 0 or -ENOMEM / -EINVAL (no upstreams). */
int balancer_init(struct balancer *b, const struct relay_conf *r);
void balancer_fini(struct balancer *b);

/* The upstream index for a new session from client. rr_state is the calling worker's own
 * round-robin position (start at 0). hash and maglev hash the client's address and port. */
uint32_t balancer_pick(const struct balancer *b, const struct addr *client, uint32_t *rr_state);

#endif
