// SPDX-License-Identifier: MIT
/* Prometheus exposition. Names follow https://prometheus.io/docs/practices/naming/: one
 * `ringrelay_` prefix, base units (seconds, bytes), `_total` on counters, and only bounded
 * labels (relay, worker, direction, reason): never a client address, which would make one
 * series per client. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "counters.h"
#include "filter.h"
#include "metrics.h"
#include "snapshot.h"

void metrics_format_value(FILE *out, double v)
{
	if (isnan(v))
		fputs("NaN", out);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", out);
	else
		/* 15 significant digits print unix times with milliseconds exactly and keep
		 * integers integral ("3", not "3.000000"). */
		fprintf(out, "%.15g", v);
}

void metrics_format_label(FILE *out, const char *v)
{
	for (; *v; v++) {
		switch (*v) {
		case '\\':
			fputs("\\\\", out);
			break;
		case '"':
			fputs("\\\"", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		default:
			fputc(*v, out);
		}
	}
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A gauge with a single, unlabelled sample. */
static void gauge(FILE *out, const char *name, const char *help, double v)
{
	family(out, name, "gauge", help);
	fprintf(out, "%s ", name);
	metrics_format_value(out, v);
	fputc('\n', out);
}

/* `name{relay="R",worker="W"` without the closing brace, for more labels to follow. */
static void series_rw(FILE *out, const char *name, const char *relay, uint32_t worker)
{
	fprintf(out, "%s{relay=\"", name);
	metrics_format_label(out, relay);
	fprintf(out, "\",worker=\"%" PRIu32 "\"", worker);
}

/* The four legs of a datagram's trip through a forward relay, in the order they happen. */
struct metrics_leg {
	const char *direction;
	size_t pkts, bytes; /* offsets in struct relay_counters */
};

#define METRICS_DIR(d, field) offsetof(struct relay_counters, dir[d].field)

static const struct metrics_leg metrics_legs[] = {
	{ "client_in", METRICS_DIR(RELAY_DIR_TO_UPSTREAM, rx_pkts),
	  METRICS_DIR(RELAY_DIR_TO_UPSTREAM, rx_bytes) },
	{ "upstream_out", METRICS_DIR(RELAY_DIR_TO_UPSTREAM, tx_pkts),
	  METRICS_DIR(RELAY_DIR_TO_UPSTREAM, tx_bytes) },
	{ "upstream_in", METRICS_DIR(RELAY_DIR_TO_CLIENT, rx_pkts),
	  METRICS_DIR(RELAY_DIR_TO_CLIENT, rx_bytes) },
	{ "client_out", METRICS_DIR(RELAY_DIR_TO_CLIENT, tx_pkts),
	  METRICS_DIR(RELAY_DIR_TO_CLIENT, tx_bytes) },
};

static void legs(FILE *out, const struct snapshot *s, const char *name, bool bytes)
{
	uint32_t r, w;
	size_t l;

	for (r = 0; r < s->n_relays; r++)
		for (w = 0; w < s->n_workers; w++)
			for (l = 0; l < sizeof(metrics_legs) / sizeof(metrics_legs[0]); l++) {
				const struct metrics_leg *g = &metrics_legs[l];

				series_rw(out, name, s->relay_names[r], s->workers[w].id);
				fprintf(out, ",direction=\"%s\"} %" PRIu64 "\n", g->direction,
					relay_counters_at(&s->workers[w].relays[r],
							  bytes ? g->bytes : g->pkts));
			}
}

/* The ringrelay_dropped_total series of relay r, worker w, direction dir, reason d. */
static void dropped(FILE *out, const struct snapshot *s, uint32_t r, uint32_t w, int dir, int d)
{
	series_rw(out, "ringrelay_dropped_total", s->relay_names[r], s->workers[w].id);
	fprintf(out, ",direction=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
		relay_dir_name((enum relay_dir)dir), drop_reason_name((enum drop_reason)d),
		s->workers[w].relays[r].dir[dir].drops[d]);
}

/* The fast path's datagrams or bytes per relay, worker and direction. */
static void fast_legs(FILE *out, const struct snapshot *s, const char *name, bool bytes)
{
	uint32_t r, w;
	int dir;

	for (r = 0; r < s->n_relays; r++)
		for (w = 0; w < s->n_workers; w++)
			for (dir = 0; dir < RELAY_DIR__MAX; dir++) {
				const struct relay_dir_counters *c =
					&s->workers[w].relays[r].dir[dir];

				series_rw(out, name, s->relay_names[r], s->workers[w].id);
				fprintf(out, ",direction=\"%s\"} %" PRIu64 "\n",
					relay_dir_name((enum relay_dir)dir),
					bytes ? c->fast_bytes : c->fast_pkts);
			}
}

/* One series per relay and worker of the field at off. */
static void per_relay_worker(FILE *out, const struct snapshot *s, const char *name, size_t off)
{
	uint32_t r, w;

	for (r = 0; r < s->n_relays; r++)
		for (w = 0; w < s->n_workers; w++) {
			series_rw(out, name, s->relay_names[r], s->workers[w].id);
			fprintf(out, "} %" PRIu64 "\n",
				relay_counters_at(&s->workers[w].relays[r], off));
		}
}

int metrics_format(const struct snapshot *s, FILE *out)
{
	uint32_t r, w;
	int d, dir;

	family(out, "ringrelay_build_info", "gauge", "Always 1; the version label says which build.");
	fputs("ringrelay_build_info{version=\"", out);
	metrics_format_label(out, s->version);
	fputs("\"} 1\n", out);

	gauge(out, "ringrelay_start_time_seconds", "Unix time the daemon started, in seconds.",
	      s->start_time);

	family(out, "ringrelay_config_reloads_total", "counter",
	       "Configuration reloads by result; a failed one keeps the old configuration.");
	fprintf(out, "ringrelay_config_reloads_total{result=\"success\"} %" PRIu64 "\n",
		s->reloads_ok);
	fprintf(out, "ringrelay_config_reloads_total{result=\"failure\"} %" PRIu64 "\n",
		s->reloads_failed);

	gauge(out, "ringrelay_config_last_reload_success_timestamp_seconds",
	      "Unix time of the last successful reload (the start time before any).",
	      s->last_reload_success);

	family(out, "ringrelay_worker_heartbeat_age_seconds", "gauge",
	       "Seconds since the worker's event loop last ran; NaN before its first turn.");
	for (w = 0; w < s->n_workers; w++) {
		fprintf(out, "ringrelay_worker_heartbeat_age_seconds{worker=\"%" PRIu32 "\"} ",
			s->workers[w].id);
		metrics_format_value(out, s->workers[w].heartbeat_age);
		fputc('\n', out);
	}

	family(out, "ringrelay_datagrams_total", "counter",
	       "Datagrams per relay, worker and leg: client_in (client to listener), "
	       "upstream_out (to the upstream), upstream_in (replies), client_out (replies sent).");
	legs(out, s, "ringrelay_datagrams_total", false);

	family(out, "ringrelay_bytes_total", "counter",
	       "UDP payload bytes per relay, worker and leg (see ringrelay_datagrams_total).");
	legs(out, s, "ringrelay_bytes_total", true);

	family(out, "ringrelay_dropped_total", "counter",
	       "Datagrams the relay dropped, by direction (to_upstream, to_client) and reason.");
	for (r = 0; r < s->n_relays; r++)
		for (w = 0; w < s->n_workers; w++)
			for (dir = 0; dir < RELAY_DIR__MAX; dir++)
				for (d = 0; d < DROP__MAX; d++)
					if (d != DROP_SHED_FULL_SOCKET) /* per relay below */
						dropped(out, s, r, w, dir, d);
	family(out, "ringrelay_shed_datagrams_total", "counter",
	       "Datagrams to a relay's listener that the BPF program dropped because the "
	       "socket's receive queue was full (early shedding), before the stack; not in "
	       "ringrelay_datagrams_total.");
	for (r = 0; r < s->n_relays; r++) {
		fputs("ringrelay_shed_datagrams_total{relay=\"", out);
		metrics_format_label(out, s->relay_names[r]);
		fprintf(out, "\"} %" PRIu64 "\n", s->shed ? s->shed[r].dropped : 0);
	}

	family(out, "ringrelay_mirror_extra_copies_total", "counter",
	       "Copies beyond the first that mirror fan-out made (members - 1 per datagram); "
	       "each is counted as sent or dropped.");
	per_relay_worker(out, s, "ringrelay_mirror_extra_copies_total",
			 METRICS_DIR(RELAY_DIR_TO_UPSTREAM, extra_copies));
	family(out, "ringrelay_upstream_unreachable_notices_total", "counter",
	       "ICMP unreachable errors an upstream returned for datagrams already sent "
	       "(not a drop).");
	per_relay_worker(out, s, "ringrelay_upstream_unreachable_notices_total",
			 offsetof(struct relay_counters, upstream_unreachable_notices));
	family(out, "ringrelay_buffer_ring_empty_total", "counter",
	       "Times the io_uring buffer ring ran dry (ENOBUFS); datagrams waited in the socket "
	       "(not a drop).");
	per_relay_worker(out, s, "ringrelay_buffer_ring_empty_total",
			 offsetof(struct relay_counters, buffer_ring_empty));

	family(out, "ringrelay_sessions_active", "gauge", "Forward sessions currently open.");
	per_relay_worker(out, s, "ringrelay_sessions_active",
			 offsetof(struct relay_counters, sessions_active));
	family(out, "ringrelay_sessions_created_total", "counter", "Forward sessions opened.");
	per_relay_worker(out, s, "ringrelay_sessions_created_total",
			 offsetof(struct relay_counters, sessions_created));
	family(out, "ringrelay_sessions_expired_total", "counter",
	       "Forward sessions closed after their idle timeout.");
	per_relay_worker(out, s, "ringrelay_sessions_expired_total",
			 offsetof(struct relay_counters, sessions_expired));

	family(out, "ringrelay_fast_path_datagrams_total", "counter",
	       "Of the datagrams received (client_in, upstream_in), those the BPF fast path "
	       "relayed, per direction.");
	fast_legs(out, s, "ringrelay_fast_path_datagrams_total", false);
	family(out, "ringrelay_fast_path_bytes_total", "counter",
	       "UDP payload bytes the BPF fast path relayed, per direction.");
	fast_legs(out, s, "ringrelay_fast_path_bytes_total", true);
	if (s->offload_counters) {
		family(out, "ringrelay_fast_path_frames_total", "counter",
		       "Frames the fast path saw, by outcome: forwarded, or the reason it passed "
		       "them up the stack.");
		for (d = 0; d < OFFLOAD_CNT__MAX; d++)
			fprintf(out, "ringrelay_fast_path_frames_total{reason=\"%s\"} %" PRIu64 "\n",
				filter_offload_counter_name((enum offload_counter)d),
				s->offload_counters[d]);
		family(out, "ringrelay_fast_path_xmit_drops_total", "counter",
		       "Frames a driver refused after XDP_REDIRECT, per egress interface.");
		for (w = 0; w < s->n_offload_ifaces; w++) {
			fputs("ringrelay_fast_path_xmit_drops_total{interface=\"", out);
			metrics_format_label(out, s->offload_ifaces[w].name);
			fprintf(out, "\"} %" PRIu64 "\n", s->offload_ifaces[w].xmit_drops);
		}
	}
	if (s->filter_counters) {
		family(out, "ringrelay_filter_packets_total", "counter",
		       "Packets judged by the XDP/tc filter, by verdict and reason "
		       "(pass_* and allow reach the stack, drop_* are dropped).");
		for (d = 0; d < FILTER_CNT__MAX; d++)
			fprintf(out, "ringrelay_filter_packets_total{reason=\"%s\"} %" PRIu64 "\n",
				filter_counter_name((enum filter_counter)d),
				s->filter_counters[d]);
	}
	return ferror(out) ? -EIO : 0;
}
