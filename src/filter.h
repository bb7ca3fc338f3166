/* SPDX-License-Identifier: MIT */
/* The XDP/tc packet filter (bpf/filter.bpf.c): load, attach, rule updates and counters. This
 * module is the only user of libbpf and of the generated skeleton. docs/filter.md explains
 * the policy (scope, fragments, rate limit across CPUs, fallback order). */
#ifndef RINGRELAY_FILTER_H
#define RINGRELAY_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "../bpf/filter_maps.h"

struct filter; /* opaque */

/* Verdict/reason counters (enum filter_counter in bpf/filter_maps.h) and per-rule hits of
 * the active rule set, summed over CPUs. Rule hits are indexed like the config lists. */
struct filter_stats {
	uint64_t counters[FILTER_CNT__MAX];
	uint64_t deny_hits[FILTER_MAP_MAX_PREFIXES];
	uint64_t allow_hits[FILTER_MAP_MAX_PREFIXES];
	uint64_t port_hits[FILTER_MAP_MAX_PORT_RULES];
};

/* Loads the program, fills the rule maps from cfg->filter (and the relays' listen ports for
 * scope "relays") and attaches on every interface: native XDP through a BPF link, else
 * generic XDP, else tc ingress (clsact); mode "xdp-generic" / "tc" start at that step. Each
 * fallback is logged with its reason. cfg->filter.mode must not be FILTER_MODE_OFF.
 * Returns 0 and *out, or -errno with one line in err naming the interface and the reason. */
int filter_new(const struct config *cfg, struct filter **out, char *err, size_t errlen);

/* Swaps in cfg's rules atomically (double buffer + active index): a packet sees either the
 * old rule set or the new one, never a mix. Changed interfaces or mode return -EOPNOTSUPP
 * (a restart is needed); on any error the old rules stay active. */
int filter_update(struct filter *f, const struct config *cfg, char *err, size_t errlen);

/* Sums the per-CPU counters into *out. Returns 0 or -errno. */
int filter_read_stats(struct filter *f, struct filter_stats *out);

/* Stable snake_case name of a counter ("drop_prefix"), or "unknown". */
const char *filter_counter_name(enum filter_counter c);

/* Loads the program and fills the rules like filter_new, but attaches nowhere: for tests
 * (BPF_PROG_TEST_RUN) and config checks. Free with filter_free. */
int filter_open(const struct config *cfg, struct filter **out, char *err, size_t errlen);

/* File descriptors of the loaded objects, for tests and introspection: the program (tc
 * flavour when tc is true) and a map by its name in bpf/filter.bpf.c ("filter_rate").
 * Returns the fd (owned by f) or -ENOENT. */
int filter_prog_fd(const struct filter *f, int tc);
int filter_map_fd(const struct filter *f, const char *map_name);

/* Detaches everything and frees; NULL and double call safe (f is freed: pass it once). */
void filter_free(struct filter *f);

#endif
