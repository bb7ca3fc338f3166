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
#include <string.h>

#include "counters.h"
#include "filter.h"
#include "metrics.h"
#include "snapshot.h"
#include "utf8.h"

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
	const unsigned char *p = (const unsigned char *)v;
	size_t n;

	while (*p) {
		n = utf8_len(p);
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '"')
			fputs("\\\"", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (!n)
			fputs("\xef\xbf\xbd", out); /* U+FFFD: Prometheus rejects a whole scrape
						       * with one label that is not UTF-8 */
		else
			fwrite(p, 1, n, out);
		p += n ? n : 1;
	}
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One counter family with a series per worker, from the uint64_t at off in each worker. */
static void worker_counter(FILE *out, const struct snapshot *s, const char *name,
			   const char *help, size_t off)
{
	uint32_t w;

	family(out, name, "counter", help);
	for (w = 0; w < s->n_workers; w++) {
		uint64_t v;

		memcpy(&v, (const char *)&s->workers[w] + off, sizeof(v));
		fprintf(out, "%s{worker=\"%" PRIu32 "\"} %" PRIu64 "\n", name, s->workers[w].id, v);
	}
}

/* A gauge with a single, unlabelled sample. */
static void gauge(FILE *out, const char *name, const char *help, double v)
{
	family(out, name, "gauge", help);
	fprintf(out, "%s ", name);
	metrics_format_value(out, v);
	fputc('\n', out);
}

/* What a series is summed over: one worker (per_worker), or all of them (w = UINT32_MAX). */
#define METRICS_ALL UINT32_MAX

/* `name{relay="R"[,worker="W"]` without the closing brace, for more labels to follow. */
static void series_rw(FILE *out, const char *name, const char *relay, uint32_t worker)
{
	fprintf(out, "%s{relay=\"", name);
	metrics_format_label(out, relay);
	fputc('"', out);
	if (worker != METRICS_ALL)
		fprintf(out, ",worker=\"%" PRIu32 "\"", worker);
}

/* Relay r's counters of worker w, or summed over all workers. */
static void relay_of(const struct snapshot *s, uint32_t r, uint32_t w, struct relay_counters *c)
{
	uint32_t i;

	if (w != METRICS_ALL) {
		*c = s->workers[w].relays[r];
		return;
	}
	memset(c, 0, sizeof(*c));
	for (i = 0; i < s->n_workers; i++)
		relay_counters_add(c, &s->workers[i].relays[r]);
	/* What the BPF program shed for the relay: received and dropped (never a worker's). */
	if (s->shed)
		relay_counters_add_shed(c, s->shed[r].dropped_full, s->shed[r].dropped_heavy);
}

/* The workers a series is written for: each (per_worker) or one sum. */
static uint32_t n_series(const struct snapshot *s, bool per_worker)
{
	return per_worker ? s->n_workers : 1;
}

static uint32_t series_worker(bool per_worker, uint32_t i)
{
	return per_worker ? i : METRICS_ALL;
}

static uint32_t worker_label(const struct snapshot *s, uint32_t w)
{
	return w == METRICS_ALL ? METRICS_ALL : s->workers[w].id;
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

/* Of the datagrams received, those the BPF fast path relayed (issue 9). */
static const struct metrics_leg metrics_fast_legs[] = {
	{ "client_in", METRICS_DIR(RELAY_DIR_TO_UPSTREAM, fast_pkts),
	  METRICS_DIR(RELAY_DIR_TO_UPSTREAM, fast_bytes) },
	{ "upstream_in", METRICS_DIR(RELAY_DIR_TO_CLIENT, fast_pkts),
	  METRICS_DIR(RELAY_DIR_TO_CLIENT, fast_bytes) },
};

#define METRICS_N(t) (sizeof(t) / sizeof((t)[0]))

static void legs(FILE *out, const struct snapshot *s, bool pw, const char *name, bool bytes,
		 const struct metrics_leg *table, size_t n_legs)
{
	struct relay_counters c;
	uint32_t r, i, w;
	size_t l;

	for (r = 0; r < s->n_relays; r++)
		for (i = 0; i < n_series(s, pw); i++) {
			w = series_worker(pw, i);
			relay_of(s, r, w, &c);
			for (l = 0; l < n_legs; l++) {
				const struct metrics_leg *g = &table[l];

				series_rw(out, name, s->relay_names[r], worker_label(s, w));
				fprintf(out, ",direction=\"%s\"} %" PRIu64 "\n", g->direction,
					relay_counters_at(&c, bytes ? g->bytes : g->pkts));
			}
		}
}

static const char *drop_label(uint32_t k)
{
	return drop_reason_name((enum drop_reason)k);
}

static const char *send_err_label(uint32_t k)
{
	return send_err_name((enum send_err)k);
}

/* Per relay (and worker) and direction, the n counters of the array at off in each direction's
 * counters, one series each, labelled key = label(k); those in relay_only (a bit per k) only in
 * a relay's sum. */
static void dir_split(FILE *out, const struct snapshot *s, bool pw, const char *name,
		      const char *key, uint32_t n, const char *(*label)(uint32_t), size_t off,
		      uint64_t relay_only)
{
	struct relay_counters c;
	uint32_t r, i, w, dir, k;
	uint64_t v;

	for (r = 0; r < s->n_relays; r++)
		for (i = 0; i < n_series(s, pw); i++) {
			w = series_worker(pw, i);
			relay_of(s, r, w, &c);
			for (dir = 0; dir < RELAY_DIR__MAX; dir++)
				for (k = 0; k < n; k++) {
					if (relay_only >> k & 1 && w != METRICS_ALL)
						continue;
					memcpy(&v, (const char *)&c.dir[dir] + off + k * sizeof(v),
					       sizeof(v));
					series_rw(out, name, s->relay_names[r], worker_label(s, w));
					fprintf(out, ",direction=\"%s\",%s=\"%s\"} %" PRIu64 "\n",
						relay_dir_name((enum relay_dir)dir), key, label(k), v);
				}
		}
}

/* One series per relay (and worker) of the field at off. */
static void per_relay_worker(FILE *out, const struct snapshot *s, bool pw, const char *name,
			     size_t off)
{
	struct relay_counters c;
	uint32_t r, i, w;

	for (r = 0; r < s->n_relays; r++)
		for (i = 0; i < n_series(s, pw); i++) {
			w = series_worker(pw, i);
			relay_of(s, r, w, &c);
			series_rw(out, name, s->relay_names[r], worker_label(s, w));
			fprintf(out, "} %" PRIu64 "\n", relay_counters_at(&c, off));
		}
}

/* ---- upstreams */

/* `name{relay="R",upstream="AS WRITTEN",address="A"[,worker="W"]` unclosed. */
static void series_up(FILE *out, const char *name, const struct snapshot *s, uint32_t u,
		      uint32_t worker)
{
	const struct snapshot_upstream *su = &s->upstreams[u];

	fprintf(out, "%s{relay=\"", name);
	metrics_format_label(out, s->relay_names[su->relay]);
	fputs("\",upstream=\"", out);
	metrics_format_label(out, su->label);
	fputs("\",address=\"", out);
	metrics_format_label(out, su->address);
	fputc('"', out);
	if (worker != METRICS_ALL)
		fprintf(out, ",worker=\"%" PRIu32 "\"", worker);
}

static void upstream_of(const struct snapshot *s, uint32_t u, uint32_t w,
			struct upstream_counters *c)
{
	uint32_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < s->n_workers; i++)
		if (w == METRICS_ALL || w == i)
			upstream_counters_add(c, &s->workers[i].upstreams[u]);
}

static uint64_t up_at(const struct upstream_counters *c, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)c + off, sizeof(v));
	return v;
}

#define METRICS_UP(field) offsetof(struct upstream_counters, field)

/* One series per upstream (and worker) of the counter at off; with a direction label when
 * direction is not NULL. */
static void per_upstream(FILE *out, const struct snapshot *s, bool pw, const char *name,
			 const char *direction, size_t off)
{
	struct upstream_counters c;
	uint32_t u, i, w;

	for (u = 0; u < s->n_upstreams; u++)
		for (i = 0; i < n_series(s, pw); i++) {
			w = series_worker(pw, i);
			upstream_of(s, u, w, &c);
			series_up(out, name, s, u, worker_label(s, w));
			if (direction)
				fprintf(out, ",direction=\"%s\"", direction);
			fprintf(out, "} %" PRIu64 "\n", up_at(&c, off));
		}
}

/* The per-upstream counter families: a family whose two rows share a name gets one HELP and
 * a direction label on each row. */
struct metrics_up_family {
	const char *name, *type, *help, *direction;
	size_t off;
};

static const struct metrics_up_family metrics_up_families[] = {
	{ "ringrelay_upstream_datagrams_total", "counter",
	  "Datagrams per upstream: to_upstream sent to it, from_upstream its replies read.",
	  "to_upstream", METRICS_UP(tx_pkts) },
	{ "ringrelay_upstream_datagrams_total", NULL, NULL, "from_upstream", METRICS_UP(rx_pkts) },
	{ "ringrelay_upstream_bytes_total", "counter",
	  "UDP payload bytes per upstream and direction (see ringrelay_upstream_datagrams_total).",
	  "to_upstream", METRICS_UP(tx_bytes) },
	{ "ringrelay_upstream_bytes_total", NULL, NULL, "from_upstream", METRICS_UP(rx_bytes) },
	{ "ringrelay_upstream_unreachable_events_total", "counter",
	  "ICMP unreachable errors from the upstream: notices, and sends refused by one.", NULL,
	  METRICS_UP(unreachable) },
	{ "ringrelay_upstream_send_error_datagrams_total", "counter",
	  "Datagrams to the upstream lost in failed sends (not ICMP unreachable).", NULL,
	  METRICS_UP(send_errors) },
	{ "ringrelay_upstream_unanswered_sessions_total", "counter",
	  "New sessions without a reply within reply_timeout (a passive health failure).", NULL,
	  METRICS_UP(noreply) },
	{ "ringrelay_upstream_sessions_created_total", "counter",
	  "Forward sessions opened to the upstream.", NULL, METRICS_UP(sessions_created) },
	{ "ringrelay_upstream_sessions_active", "gauge", "Forward sessions open to the upstream now.",
	  NULL, METRICS_UP(sessions_active) },
};

/* One per-relay family of the relays with upstream names, from the value at off in their
 * struct snapshot_lookups. */
static void lookup_family(FILE *out, const struct snapshot *s, const char *name, const char *type,
			  const char *help, size_t off)
{
	uint32_t r;

	family(out, name, type, help);
	for (r = 0; r < s->n_relays; r++) {
		uint64_t v;

		if (!s->lookups[r].names)
			continue;
		memcpy(&v, (const char *)&s->lookups[r] + off, sizeof(v));
		series_rw(out, name, s->relay_names[r], METRICS_ALL);
		fprintf(out, "} %" PRIu64 "\n", v);
	}
}

/* What the upkeep thread's lookups of upstream names (resolve_interval) did, per relay with
 * names; nothing without one. */
static void lookup_families(FILE *out, const struct snapshot *s)
{
	uint32_t r;

	for (r = 0; s->lookups && r < s->n_relays && !s->lookups[r].names; r++)
		;
	if (!s->lookups || r == s->n_relays)
		return;
	lookup_family(out, s, "ringrelay_upstream_lookups_total", "counter",
		      "Lookups of the relay's upstream names in the background (one per name and "
		      "resolve_interval).",
		      offsetof(struct snapshot_lookups, made));
	lookup_family(out, s, "ringrelay_upstream_lookup_failures_total", "counter",
		      "Those lookups that failed (the name kept its last addresses).",
		      offsetof(struct snapshot_lookups, failed));
	lookup_family(out, s, "ringrelay_upstream_address_changes_total", "counter",
		      "Rounds of lookups that gave the relay a new set of upstream addresses.",
		      offsetof(struct snapshot_lookups, new_sets));
	lookup_family(out, s, "ringrelay_upstream_lookups_failing", "gauge",
		      "Upstream names whose last lookup failed: they keep their last addresses.",
		      offsetof(struct snapshot_lookups, failing));
}

static void upstream_families(FILE *out, const struct snapshot *s, bool pw)
{
	static const char *const states[] = { "up", "ejected", "down", "disabled" };
	uint32_t u, k;

	for (k = 0; k < sizeof(metrics_up_families) / sizeof(metrics_up_families[0]); k++) {
		const struct metrics_up_family *f = &metrics_up_families[k];

		if (f->help)
			family(out, f->name, f->type, f->help);
		per_upstream(out, s, pw, f->name, f->direction, f->off);
	}

	family(out, "ringrelay_upstream_up", "gauge",
	       "1 when the upstream takes new sessions (enabled and healthy, or used in panic).");
	for (u = 0; u < s->n_upstreams; u++) {
		series_up(out, "ringrelay_upstream_up", s, u, METRICS_ALL);
		fprintf(out, "} %d\n", s->upstreams[u].usable ? 1 : 0);
	}
	family(out, "ringrelay_upstream_state", "gauge",
	       "The upstream's state: 1 for the one it is in (up, ejected, down, disabled).");
	for (u = 0; u < s->n_upstreams; u++)
		for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
			series_up(out, "ringrelay_upstream_state", s, u, METRICS_ALL);
			fprintf(out, ",state=\"%s\"} %d\n", states[k],
				!strcmp(s->upstreams[u].state, states[k]));
		}
	family(out, "ringrelay_upstream_state_change_timestamp_seconds", "gauge",
	       "Unix time of the upstream's last state change (0: none since it appeared).");
	for (u = 0; u < s->n_upstreams; u++) {
		series_up(out, "ringrelay_upstream_state_change_timestamp_seconds", s, u,
			  METRICS_ALL);
		fputs("} ", out);
		metrics_format_value(out, s->upstreams[u].changed);
		fputc('\n', out);
	}
	family(out, "ringrelay_upstream_ejections_total", "counter",
	       "Times passive health ejected the upstream.");
	for (u = 0; u < s->n_upstreams; u++) {
		series_up(out, "ringrelay_upstream_ejections_total", s, u, METRICS_ALL);
		fprintf(out, "} %" PRIu64 "\n", s->upstreams[u].ejections);
	}
}

/* "drop_prefix" -> verdict "drop", reason "prefix"; "allow" -> "allow", "rules". */
static void filter_labels(const char *name, char *verdict, size_t vlen, const char **reason)
{
	const char *us = strchr(name, '_');
	size_t n = us ? (size_t)(us - name) : strlen(name);

	snprintf(verdict, vlen, "%.*s", (int)n, name);
	*reason = us ? us + 1 : "rules";
}

int metrics_format(const struct snapshot *s, bool pw, FILE *out)
{
	uint32_t r, w;
	int d;
	char verdict[16];
	const char *reason;

	family(out, "ringrelay_build_info", "gauge", "Always 1; the version label says which build.");
	fputs("ringrelay_build_info{version=\"", out);
	metrics_format_label(out, s->version);
	fputs("\"} 1\n", out);

	gauge(out, "ringrelay_start_time_seconds", "Unix time the daemon started, in seconds.",
	      s->start_time);
	if (s->steering)
		gauge(out, "ringrelay_steering_by_cpu",
		      "1 when a datagram goes to the worker on the CPU that received it, 0 when the "
		      "flow hash picks (steering).",
		      !strcmp(s->steering, "cpu"));

	family(out, "ringrelay_config_reloads_total", "counter",
	       "Configuration reloads by result: success; partial, applied to the relays with an "
	       "error (a filter change that needs a restart, a worker that did not take it); "
	       "failure, the previous configuration stayed.");
	fprintf(out, "ringrelay_config_reloads_total{result=\"success\"} %" PRIu64 "\n",
		s->reloads_ok);
	fprintf(out, "ringrelay_config_reloads_total{result=\"partial\"} %" PRIu64 "\n",
		s->reloads_partial);
	fprintf(out, "ringrelay_config_reloads_total{result=\"failure\"} %" PRIu64 "\n",
		s->reloads_failed);

	gauge(out, "ringrelay_config_last_reload_success_timestamp_seconds",
	      "Unix time of the last successful reload (the start time before any).",
	      s->last_reload_success);

	/* Before the first turn the age since the thread started: a finite value, so that an
	 * alert like "> 5" fires for a worker stuck before its loop (NaN compares false). */
	family(out, "ringrelay_worker_heartbeat_age_seconds", "gauge",
	       "Seconds since the worker's event loop last ran (since it started, before its "
	       "first turn).");
	for (w = 0; w < s->n_workers; w++) {
		const struct snapshot_worker *sw = &s->workers[w];

		fprintf(out, "ringrelay_worker_heartbeat_age_seconds{worker=\"%" PRIu32 "\"} ",
			sw->id);
		metrics_format_value(out, isnan(sw->heartbeat_age) ? sw->started_age
								  : sw->heartbeat_age);
		fputc('\n', out);
	}
	worker_counter(out, s, "ringrelay_worker_loops_total",
		       "Event loop iterations (io_uring_enter or epoll_wait calls).",
		       offsetof(struct snapshot_worker, loops));
	worker_counter(out, s, "ringrelay_worker_completions_total",
		       "Completions (io_uring CQEs; with the mmsg backend, ready sockets) the loop "
		       "handled; divided by loops, the batch an iteration takes.",
		       offsetof(struct snapshot_worker, completions));
	worker_counter(out, s, "ringrelay_worker_rearms_total",
		       "Multishot receives armed again after the kernel ended them.",
		       offsetof(struct snapshot_worker, rearms));
	worker_counter(out, s, "ringrelay_worker_refreshes_total",
		       "Multishot receives cancelled and armed again so that the kernel releases "
		       "the sockets closed since they were armed (io_uring before Linux 6.13).",
		       offsetof(struct snapshot_worker, refreshes));
	worker_counter(out, s, "ringrelay_worker_cq_overflow_total",
		       "Timer ticks (one a second or more often) that found completions waiting in "
		       "the kernel because the io_uring completion queue was full; 0 with mmsg.",
		       offsetof(struct snapshot_worker, cq_overflow));
	worker_counter(out, s, "ringrelay_worker_cq_dropped_total",
		       "Completions the kernel dropped for want of memory with the io_uring "
		       "completion queue full (the worker then ends); 0 with mmsg.",
		       offsetof(struct snapshot_worker, cq_dropped));

	if (s->max_sessions) {
		family(out, "ringrelay_relay_max_sessions", "gauge",
		       "The relay's max_sessions: alert on ringrelay_sessions_active near it.");
		for (r = 0; r < s->n_relays; r++) {
			series_rw(out, "ringrelay_relay_max_sessions", s->relay_names[r], METRICS_ALL);
			fprintf(out, "} %" PRIu32 "\n", s->max_sessions[r]);
		}
	}

	family(out, "ringrelay_datagrams_total", "counter",
	       "Datagrams per relay and leg: client_in (client to listener), "
	       "upstream_out (to the upstream), upstream_in (replies), client_out (replies sent).");
	legs(out, s, pw, "ringrelay_datagrams_total", false, metrics_legs, METRICS_N(metrics_legs));

	family(out, "ringrelay_bytes_total", "counter",
	       "UDP payload bytes per relay and leg (see ringrelay_datagrams_total).");
	legs(out, s, pw, "ringrelay_bytes_total", true, metrics_legs, METRICS_N(metrics_legs));

	family(out, "ringrelay_dropped_datagrams_total", "counter",
	       "Datagrams the relay dropped, by direction (to_upstream, to_client) and reason.");
	/* (the shed drops are the program's: only in a relay's sum) */
	dir_split(out, s, pw, "ringrelay_dropped_datagrams_total", "reason", DROP__MAX,
		  drop_label, offsetof(struct relay_dir_counters, drops),
		  1ull << DROP_SHED_FULL_SOCKET | 1ull << DROP_SHED_HEAVY_FLOW);
	family(out, "ringrelay_send_errors_total", "counter",
	       "Of the send_error drops, by the failed send's errno (ENOBUFS, EAGAIN, EPERM, "
	       "EMSGSIZE, other; none: no send was made, for a mirror member without a socket "
	       "or a mirror relay with no member to send to).");
	dir_split(out, s, pw, "ringrelay_send_errors_total", "errno", SEND_ERR__MAX, send_err_label,
		  offsetof(struct relay_dir_counters, send_errs), 0);
	family(out, "ringrelay_shed_datagrams_total", "counter",
	       "Datagrams to a relay's listener that the BPF program dropped before the stack "
	       "(early shedding), by reason: full_socket, or heavy_flow (past 7/8 full, less "
	       "with a buffer under 512 KiB, a flow over its share); also in the relay's "
	       "client_in and its shed_* drops.");
	for (r = 0; r < s->n_relays; r++) {
		fputs("ringrelay_shed_datagrams_total{relay=\"", out);
		metrics_format_label(out, s->relay_names[r]);
		fprintf(out, "\",reason=\"full_socket\"} %" PRIu64 "\n",
			s->shed ? s->shed[r].dropped_full : 0);
		fputs("ringrelay_shed_datagrams_total{relay=\"", out);
		metrics_format_label(out, s->relay_names[r]);
		fprintf(out, "\",reason=\"heavy_flow\"} %" PRIu64 "\n",
			s->shed ? s->shed[r].dropped_heavy : 0);
	}

	family(out, "ringrelay_mirror_extra_datagrams_total", "counter",
	       "Copies beyond the first that mirror fan-out made (members - 1 per datagram); "
	       "each is counted as sent or dropped.");
	per_relay_worker(out, s, pw, "ringrelay_mirror_extra_datagrams_total",
			 METRICS_DIR(RELAY_DIR_TO_UPSTREAM, extra_copies));
	family(out, "ringrelay_upstream_unreachable_notices_total", "counter",
	       "ICMP unreachable errors an upstream returned for datagrams already sent "
	       "(not a drop).");
	per_relay_worker(out, s, pw, "ringrelay_upstream_unreachable_notices_total",
			 offsetof(struct relay_counters, upstream_unreachable_notices));
	family(out, "ringrelay_buffer_ring_empty_events_total", "counter",
	       "Times the io_uring buffer ring ran dry (ENOBUFS); datagrams waited in the socket "
	       "(not a drop).");
	per_relay_worker(out, s, pw, "ringrelay_buffer_ring_empty_events_total",
			 offsetof(struct relay_counters, buffer_ring_empty));

	family(out, "ringrelay_sessions_active", "gauge", "Forward sessions currently open.");
	per_relay_worker(out, s, pw, "ringrelay_sessions_active",
			 offsetof(struct relay_counters, sessions_active));
	family(out, "ringrelay_sessions_created_total", "counter", "Forward sessions opened.");
	per_relay_worker(out, s, pw, "ringrelay_sessions_created_total",
			 offsetof(struct relay_counters, sessions_created));
	family(out, "ringrelay_sessions_expired_total", "counter",
	       "Forward sessions closed after their idle timeout.");
	per_relay_worker(out, s, pw, "ringrelay_sessions_expired_total",
			 offsetof(struct relay_counters, sessions_expired));
	family(out, "ringrelay_sessions_evicted_total", "counter",
	       "Forward sessions ended to make room for a new client (session_full = evict).");
	per_relay_worker(out, s, pw, "ringrelay_sessions_evicted_total",
			 offsetof(struct relay_counters, sessions_evicted));
	family(out, "ringrelay_sessions_moved_total", "counter",
	       "Forward sessions ended because their upstream was ejected or marked down "
	       "(upstream_down = move).");
	per_relay_worker(out, s, pw, "ringrelay_sessions_moved_total",
			 offsetof(struct relay_counters, sessions_moved));

	if (s->n_upstreams)
		upstream_families(out, s, pw);
	lookup_families(out, s);

	family(out, "ringrelay_fast_path_datagrams_total", "counter",
	       "Of the datagrams received (client_in, upstream_in), those the BPF fast path "
	       "relayed, per direction.");
	legs(out, s, pw, "ringrelay_fast_path_datagrams_total", false, metrics_fast_legs,
	     METRICS_N(metrics_fast_legs));
	family(out, "ringrelay_fast_path_bytes_total", "counter",
	       "UDP payload bytes the BPF fast path relayed, per direction.");
	legs(out, s, pw, "ringrelay_fast_path_bytes_total", true, metrics_fast_legs,
	     METRICS_N(metrics_fast_legs));
	family(out, "ringrelay_fast_path_sessions_rerouted_total", "counter",
	       "Moves of fast sessions' routes (a failover, a device made again) whose rules got "
	       "the new devices; a session counts once per move.");
	per_relay_worker(out, s, pw, "ringrelay_fast_path_sessions_rerouted_total",
			 offsetof(struct relay_counters, fast_rerouted));
	family(out, "ringrelay_fast_path_sessions_route_left_total", "counter",
	       "Times a fast session was taken off the fast path because its routes moved where it "
	       "cannot relay it (it comes back when they do).");
	per_relay_worker(out, s, pw, "ringrelay_fast_path_sessions_route_left_total",
			 offsetof(struct relay_counters, fast_route_left));
	family(out, "ringrelay_fast_path_epoch_derivations_total", "counter",
	       "Derivations of fast sessions' rules made for a route change alone (one whose "
	       "prefix covers their addresses, or a rule, nexthop or device change).");
	per_relay_worker(out, s, pw, "ringrelay_fast_path_epoch_derivations_total",
			 offsetof(struct relay_counters, fast_epoch_derived));
	family(out, "ringrelay_fast_path_epoch_parked_tries_total", "counter",
	       "Fast opens tried again, for a route change alone, of sessions parked off the fast "
	       "path for their routes (one whose prefix covers their addresses, or a rule, "
	       "nexthop or device change).");
	per_relay_worker(out, s, pw, "ringrelay_fast_path_epoch_parked_tries_total",
			 offsetof(struct relay_counters, fast_epoch_tried));
	family(out, "ringrelay_fast_path_epoch_derivations_skipped_total", "counter",
	       "Fast sessions not derived again, and parked ones not tried again, after route "
	       "changes: no changed route's prefix covers their addresses.");
	per_relay_worker(out, s, pw, "ringrelay_fast_path_epoch_derivations_skipped_total",
			 offsetof(struct relay_counters, fast_epoch_skipped));
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
		       "Packets judged by the XDP/tc filter, by verdict (pass and allow reach the "
		       "stack, drop is dropped) and reason.");
		for (d = 0; d < FILTER_CNT__MAX; d++) {
			filter_labels(filter_counter_name((enum filter_counter)d), verdict,
				      sizeof(verdict), &reason);
			fprintf(out,
				"ringrelay_filter_packets_total{verdict=\"%s\",reason=\"%s\"} %" PRIu64
				"\n",
				verdict, reason, s->filter_counters[d]);
		}
	}
	return ferror(out) ? -EIO : 0;
}
