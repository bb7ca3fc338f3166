/* SPDX-License-Identifier: MIT */
/* Early shedding's user-space half (docs/offload.md): which relays shed and where (the
 * interfaces holding their listen addresses), attaching the stage through filter.c and telling
 * the program their listen addresses. The stage itself is in bpf/filter.bpf.c. */
#ifndef RINGRELAY_SHED_H
#define RINGRELAY_SHED_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct filter;

#define SHED_WHY_LEN 224
#define SHED_MAX_IFACES 16 /* per relay */

struct shed_relay_state {
	bool on;
	char why[SHED_WHY_LEN]; /* where it runs, or why it does not */
	int ifindex[SHED_MAX_IFACES];
	unsigned int n_ifaces;
	unsigned int n_left; /* interfaces left out: more than SHED_MAX_IFACES (their count) */
	int left;	     /* the first of them (0: not known) */
	unsigned int n_l3;   /* listen interfaces left alone as layer 3 devices (their count) */
	int l3;		     /* the first of them */
};

/* Decides for each relay of cfg (out has cfg->n_relays entries) without attaching anything:
 * loaded says whether the shedding program is loaded, else why_not says why. For -V and as
 * the first half of shed_apply. */
void shed_resolve(const struct config *cfg, bool loaded, const char *why_not,
		  struct shed_relay_state *out);

/* shed_resolve with f's state (f NULL: the program is not loaded, why_not says why), then
 * makes the stage run where the relays need it and nowhere else, and fills the program's
 * listener map. A relay whose interface cannot take it gets off with the error as its reason,
 * and the stage leaves the interfaces only it needed.
 * Logs one line per relay whose shed is not "off". Returns 0, or -EOPNOTSUPP with err set when
 * a relay with shed = "on" cannot have it. */
int shed_apply(struct filter *f, const struct config *cfg, const char *why_not,
	       struct shed_relay_state *out, char *err, size_t errlen);

/* Detaches the stage from every interface where f runs it. */
void shed_stop(struct filter *f);

#endif
