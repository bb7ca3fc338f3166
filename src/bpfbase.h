/* SPDX-License-Identifier: MIT */
/* What BPF programs since unloaded counted, carried over so that the counters status, stats
 * and /metrics show never go down while their labels stay: a reload that unloads the program
 * and a later one that loads it again, or an interface deleted and made again (its xmit
 * entry is keyed by ifindex, the series by name), would otherwise restart them at 0 (like
 * app.h's shed_base for the per-relay shed counts). Pure: no map is read here. */
#ifndef RINGRELAY_BPFBASE_H
#define RINGRELAY_BPFBASE_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "../bpf/filter_maps.h"

struct snapshot;

/* One interface's frames a driver refused (drops) or took (sent) after XDP_REDIRECT. */
struct bpfbase_xmit {
	char name[IF_NAMESIZE]; /* "": a free entry */
	uint64_t drops, sent;
};

/* The rows of an xmit table: one for each interface the program can hold (RR_IFACES_MAX),
 * and BPFBASE_XMIT_OTHER's, so that the names of 64 live interfaces all keep a row of their
 * own (review-ifrename2 F3). */
#define BPFBASE_XMIT_ROWS (RR_IFACES_MAX + 1)

struct bpfbase {
	uint64_t filter[FILTER_CNT__MAX];
	uint64_t offload[OFFLOAD_CNT__MAX];
	uint64_t shed[SHED_CNT__MAX];
	struct bpfbase_xmit xmit[BPFBASE_XMIT_ROWS];
};

/* The row of t that holds the counts of names that found no room (the last one): a name no
 * link can have (Linux refuses whitespace in one), so no series shows it. Its counts are
 * kept (sums over the table stay whole), but no output shows them: status, stats and
 * /metrics show xmit counts by interface name only. */
#define BPFBASE_XMIT_OTHER "(other names)"

/* Name's entry of the n in t; with make, a free one it takes when there is none, and when the
 * first n - 1 are taken, the last, BPFBASE_XMIT_OTHER's (that name's series then restarts at
 * 0, the others' do not). NULL: none (without make), or name "". */
struct bpfbase_xmit *bpfbase_xmit_of(struct bpfbase_xmit *t, uint32_t n, const char *name,
				     bool make);
/* Adds drops and sent to name's entry of the n in t (made when needed). */
void bpfbase_xmit_add(struct bpfbase_xmit *t, uint32_t n, const char *name, uint64_t drops,
		      uint64_t sent);
/* Adds the counts of name's entry of the n in t to *drops and *sent, and frees that entry (to
 * rebuild a table with some names first: filter_xmit_counts). Whether there was one. */
bool bpfbase_xmit_take(struct bpfbase_xmit *t, uint32_t n, const char *name, uint64_t *drops,
		       uint64_t *sent);
/* Adds what b carries to the program's counts in s, those s has (the arrays it holds, the
 * interfaces it lists, by name). */
void bpfbase_apply(const struct bpfbase *b, struct snapshot *s);
/* Adds b's filter counts to the program's filter counters in c: what status, stats, /metrics
 * (through bpfbase_apply) and ringrelayctl filter show. */
void bpfbase_filter_add(const struct bpfbase *b, uint64_t c[FILTER_CNT__MAX]);

#endif
