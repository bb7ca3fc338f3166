/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition (format 0.0.4) of a snapshot (snapshot.h). A pure formatter:
 * it reads the snapshot it is given and nothing else, so it is tested with data made by
 * hand; app_snapshot() takes the snapshot. */
#ifndef RINGRELAY_METRICS_H
#define RINGRELAY_METRICS_H

#include <stdbool.h>
#include <stdio.h>

struct snapshot;

/* Writes s in the text exposition format: the relays' and upstreams' series summed over the
 * workers, or with a worker label each when per_worker (/metrics?per_worker=1). Returns 0,
 * or -EIO when out failed. */
int metrics_format(const struct snapshot *s, bool per_worker, FILE *out);

/* Writes a sample value as Prometheus reads it: integers exactly, NaN, +Inf, -Inf. */
void metrics_format_value(FILE *out, double v);
/* Writes a label value with \\, \" and \n escaped and bytes that are not UTF-8 as
 * U+FFFD. */
void metrics_format_label(FILE *out, const char *v);

#endif
