/* SPDX-License-Identifier: MIT */
/* The answers of the control commands, rendered as aligned tables or as one JSON document
 * (both documented in docs/ringrelayctl.8, and read by scripts: the bytes stay as they are).
 * Pure: each function reads the data it is given and writes out; no lock, no syscall, so
 * the tests feed data made by hand. Each returns 0, or -ENOMEM / -EIO when the answer could
 * not be written whole (the caller then discards it). */
#ifndef RINGRELAY_CONTROL_VIEW_H
#define RINGRELAY_CONTROL_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct config;
struct relay_counters;
struct filter_conf;
struct filter_stats;
struct rxreport;
struct session_info;
struct snapshot;

/* Sessions listed by runtime_sessions: n of the total that exist. */
struct control_sessions {
	const struct session_info *info; /* n */
	uint32_t n;
	uint32_t total;
	bool fast; /* a relay uses the fast path: show each session's path */
};

/* Version, uptime, workers, relays and filter (s->cfg's), reloads, and the receive path when
 * s->rxpath is set. */
int control_view_status(const struct snapshot *s, bool json, FILE *out);
/* Counters per relay and worker with totals, drops, the filter's counters. */
int control_view_stats(const struct snapshot *s, bool json, FILE *out);
/* One row per session; relay names are cfg's. */
int control_view_sessions(const struct control_sessions *ss, const struct config *cfg, bool json,
			  FILE *out);
/* The filter's settings, counters and rule hits; st NULL: the filter is off. */
int control_view_filter(const struct filter_conf *fc, const struct filter_stats *st, bool json,
			FILE *out);
/* The SIGUSR1 log line of a relay: "stats relay=NAME rx_pkts=N ..." from its total, which
 * holds what stats shows (the workers' sum with relay_counters_add_shed's); every drop reason
 * of it, the shed_* ones to the upstreams only. Returns its length, or -ENOSPC when it does
 * not fit in len. */
int control_view_stats_line(const char *name, const struct relay_counters *total, char *buf,
			    size_t len);
/* Per upstream: its state and counters (summed over workers), of relay index relay (-1:
 * every relay). */
int control_view_upstreams(const struct snapshot *s, int relay, bool json, FILE *out);
/* `upstream disable|enable`: n members of relay changed. */
int control_view_upstream_set(const char *relay, const char *text, bool enabled, uint32_t n,
			      bool json, FILE *out);
/* The receive path of the listen interfaces (for -V and status): a line per interface, a
 * line per queue, the warnings. */
int control_view_rxpath(const struct rxreport *r, bool json, FILE *out);
/* A reload that succeeded, with its warnings ("warning: ...\n" each, "" for none, as
 * app_reload gives them): text "reloaded PATH" and the warnings' lines; JSON "warnings", an
 * array of their messages. */
int control_view_reload(const char *config_path, const char *warnings, bool json, FILE *out);

#endif
