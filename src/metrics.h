/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition (format 0.0.4) of the relay's counters. Rendering is split in
 * two so the formatting is a pure function: metrics_snapshot_take() copies what the daemon
 * knows into plain data (under the app lock), metrics_format() prints it. */
#ifndef RINGRELAY_METRICS_H
#define RINGRELAY_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "counters.h"

struct app;

struct metrics_worker {
	uint32_t id;
	double heartbeat_age; /* seconds since the loop last ran; NaN when it never did */
	struct relay_counters *relays; /* one per relay, values already loaded */
};

struct metrics_snapshot {
	const char *version;
	double start_time;	    /* unix seconds */
	double last_reload_success; /* unix seconds */
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	uint32_t n_relays;
	const char **relay_names; /* n_relays */
	uint32_t n_workers;
	struct metrics_worker *workers; /* n_workers */
	uint64_t *filter_counters; /* FILTER_CNT__MAX values; NULL when the filter is off */
};

/* Copies the counters of a (the caller holds a->lock) into *s. Returns 0 or -ENOMEM;
 * release with metrics_snapshot_fini, also after a failure. */
int metrics_snapshot_take(struct app *a, struct metrics_snapshot *s);
void metrics_snapshot_fini(struct metrics_snapshot *s);

/* Writes s in the text exposition format. Returns 0, or -EIO when out failed. */
int metrics_format(const struct metrics_snapshot *s, FILE *out);

/* Snapshot + format; the caller holds a->lock. Returns 0 or -errno. */
int metrics_render(struct app *a, FILE *out);

/* Writes a sample value as Prometheus reads it: integers exactly, NaN, +Inf, -Inf. */
void metrics_format_value(FILE *out, double v);
/* Writes a label value with \\, \" and \n escaped. */
void metrics_format_label(FILE *out, const char *v);

#endif
