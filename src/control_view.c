// SPDX-License-Identifier: MIT
/* Each answer has two documented shapes, so each command has a table function and a JSON
 * function. They differ in shape, not in data: the stats tables put traffic and drops in two
 * tables across relays while JSON nests both per relay and worker; status prints a few
 * settings the JSON spells out in full. What both show is computed once, before rendering
 * (a heartbeat age, a total, a reload result), and counters come from one list of fields.
 * The words (modes, verdicts, scopes) are config.c's, so they read as in the config file. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "control_view.h"
#include "counters.h"
#include "emit_json.h"
#include "emit_table.h"
#include "filter.h"
#include "rxreport.h"
#include "snapshot.h"
#include "worker.h" /* struct session_info */

#define VIEW_N(a) (sizeof(a) / sizeof((a)[0]))
/* Seconds in JSON carry milliseconds. */
#define VIEW_DECIMALS 3

/* A counter: its JSON name, the heading of its stats column, where it is. */
struct view_counter {
	const char *key;
	const char *head;
	size_t off;
};

#define VIEW_COUNTER(field, head) { #field, head, offsetof(struct relay_counters, field) }
#define VIEW_DIR(key, d, field, head)                                                        \
	{ key, head, offsetof(struct relay_counters, dir[d].field) }
#define VIEW_UP RELAY_DIR_TO_UPSTREAM
#define VIEW_DOWN RELAY_DIR_TO_CLIENT

/* The four legs of a datagram's trip, then the events, then the sessions. The drops of each
 * direction go between the legs and the events in JSON, and in a table of their own in
 * text, as do the events. The keys are those of the daemon's stats log line. */
static const struct view_counter view_legs[] = {
	VIEW_DIR("rx_pkts", VIEW_UP, rx_pkts, "CLIENT_IN"),
	VIEW_DIR("rx_bytes", VIEW_UP, rx_bytes, "BYTES"),
	VIEW_DIR("tx_pkts", VIEW_UP, tx_pkts, "UPSTREAM_OUT"),
	VIEW_DIR("tx_bytes", VIEW_UP, tx_bytes, "BYTES"),
	VIEW_DIR("reply_rx_pkts", VIEW_DOWN, rx_pkts, "UPSTREAM_IN"),
	VIEW_DIR("reply_rx_bytes", VIEW_DOWN, rx_bytes, "BYTES"),
	VIEW_DIR("reply_tx_pkts", VIEW_DOWN, tx_pkts, "CLIENT_OUT"),
	VIEW_DIR("reply_tx_bytes", VIEW_DOWN, tx_bytes, "BYTES"),
};
/* Counted, but no datagram is lost (mirror copies are in the identity of the counters). */
static const struct view_counter view_events[] = {
	VIEW_DIR("mirror_extra_copies", VIEW_UP, extra_copies, "MIRROR_EXTRA_COPIES"),
	VIEW_COUNTER(upstream_unreachable_notices, "UNREACHABLE_NOTICES"),
	VIEW_COUNTER(buffer_ring_empty, "BUFFER_RING_EMPTY"),
};
/* The drops of each direction: a JSON object each, a row each in the text table. */
static const struct {
	enum relay_dir dir;
	const char *key; /* JSON */
} view_drops[] = {
	{ RELAY_DIR_TO_UPSTREAM, "drops" },
	{ RELAY_DIR_TO_CLIENT, "reply_drops" },
};
/* Of the legs above, what the BPF fast path relayed, per direction (while it runs). */
static const struct view_counter view_fast[] = {
	VIEW_DIR("fast_pkts", VIEW_UP, fast_pkts, "FAST_PATH"),
	VIEW_DIR("fast_bytes", VIEW_UP, fast_bytes, "BYTES"),
	VIEW_DIR("reply_fast_pkts", VIEW_DOWN, fast_pkts, "REPLY_FAST_PATH"),
	VIEW_DIR("reply_fast_bytes", VIEW_DOWN, fast_bytes, "BYTES"),
	/* moves of fast sessions' routes: given their new devices, or taken off the fast path
	 * (events: a session counts once each time) */
	VIEW_COUNTER(fast_rerouted, "FAST_REROUTED"),
	VIEW_COUNTER(fast_route_left, "FAST_ROUTE_LEFT"),
	/* fast sessions' derivations, and parked sessions' tries, for a new route epoch alone:
	 * made, or skipped as no changed route covers their addresses */
	VIEW_COUNTER(fast_epoch_derived, "FAST_EPOCH_DERIVED"),
	VIEW_COUNTER(fast_epoch_tried, "FAST_EPOCH_TRIED"),
	VIEW_COUNTER(fast_epoch_skipped, "FAST_EPOCH_SKIPPED"),
};
static const struct view_counter view_sessions[] = {
	VIEW_COUNTER(sessions_active, "SESSIONS"),
	VIEW_COUNTER(sessions_created, "CREATED"),
	VIEW_COUNTER(sessions_expired, "EXPIRED"),
	VIEW_COUNTER(sessions_evicted, "EVICTED"),
	VIEW_COUNTER(sessions_moved, "MOVED"),
};

/* A relay's upstreams: state columns, then their counters (struct upstream_counters). */
#define VIEW_UP_COUNTER(field, head) { #field, head, offsetof(struct upstream_counters, field) }
static const struct view_counter view_upstream_counters[] = {
	VIEW_UP_COUNTER(sessions_active, "SESSIONS"),
	VIEW_UP_COUNTER(sessions_created, "CREATED"),
	VIEW_UP_COUNTER(tx_pkts, "TX_PKTS"),
	VIEW_UP_COUNTER(tx_bytes, "TX_BYTES"),
	VIEW_UP_COUNTER(rx_pkts, "RX_PKTS"),
	VIEW_UP_COUNTER(rx_bytes, "RX_BYTES"),
	VIEW_UP_COUNTER(unreachable, "UNREACHABLE"),
	VIEW_UP_COUNTER(send_errors, "SEND_ERRORS"),
	VIEW_UP_COUNTER(noreply, "NOREPLY"),
};

static uint64_t view_up_at(const struct upstream_counters *c, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)c + off, sizeof(v));
	return v;
}

/* Upstream u of s summed over the workers. */
static void view_upstream_total(const struct snapshot *s, uint32_t u, struct upstream_counters *t)
{
	uint32_t w;

	memset(t, 0, sizeof(*t));
	for (w = 0; w < s->n_workers; w++)
		upstream_counters_add(t, &s->workers[w].upstreams[u]);
}

/* The last reload's result, in the words of each shape. */
enum view_reload { VIEW_RELOAD_NONE, VIEW_RELOAD_FAILED, VIEW_RELOAD_PARTIAL, VIEW_RELOAD_OK };
static const char *const view_reload_json[] = { "none", "failure", "partial", "success" };
static const char *const view_reload_text[] = { "none", "failed: ", "applied with an error: ",
						"succeeded" };

static enum view_reload view_reload_result(const struct snapshot *s)
{
	if (s->reloads_ok + s->reloads_partial + s->reloads_failed == 0)
		return VIEW_RELOAD_NONE;
	if (!s->last_reload_error[0])
		return VIEW_RELOAD_OK;
	return s->last_reload_partial ? VIEW_RELOAD_PARTIAL : VIEW_RELOAD_FAILED;
}

/* An upstream entry as status shows it: its address, or a name entry as written. */
static const char *upstream_label(const struct upstream_conf *u, char *buf, size_t len)
{
	return u->is_name ? u->text : addr_format(&u->addr, buf, len);
}

/* The relay a session belongs to; NULL when cfg has no such relay. */
static const char *view_relay_name(const struct config *cfg, uint32_t relay)
{
	return relay < cfg->n_relays ? cfg->relays[relay].name : NULL;
}

/* Relay r's counters summed over the workers. */
static void view_relay_total(const struct snapshot *s, uint32_t r, struct relay_counters *total)
{
	uint32_t w;

	memset(total, 0, sizeof(*total));
	for (w = 0; w < s->n_workers; w++)
		relay_counters_add(total, &s->workers[w].relays[r]);
	/* What the program shed reached the relay's interface and was dropped there */
	if (s->shed && r < s->n_relays)
		relay_counters_add_shed(total, s->shed[r].dropped_full, s->shed[r].dropped_heavy);
}

static void view_counter_cells(struct emit_table *t, const struct view_counter *f, size_t n,
			       const struct relay_counters *c)
{
	size_t i;

	for (i = 0; i < n; i++)
		emit_table_cell(t, "%" PRIu64, relay_counters_at(c, f[i].off));
}

static void view_counter_members(struct emit_json *j, const struct view_counter *f, size_t n,
				 const struct relay_counters *c)
{
	size_t i;

	for (i = 0; i < n; i++)
		emit_json_uint(j, f[i].key, relay_counters_at(c, f[i].off));
}

/* The shed_* drop reasons are shown while the shedding program is loaded (like the fast
 * path's columns), or once a relay has shed (an unloaded program's count stays in the
 * totals); they are never a worker's, only a relay total's. */
static bool view_drop_shown(int d, bool shed)
{
	return shed || (d != DROP_SHED_FULL_SOCKET && d != DROP_SHED_HEAVY_FLOW);
}

static bool view_shed_shown(const struct snapshot *s)
{
	uint32_t r;

	for (r = 0; s->shed && !s->shed_counters && r < s->n_relays; r++)
		if (s->shed[r].dropped_full || s->shed[r].dropped_heavy)
			return true;
	return s->shed_counters != NULL;
}

static void view_counters_json(struct emit_json *j, const struct relay_counters *c, bool fast,
			       bool shed)
{
	size_t i;
	int d;

	view_counter_members(j, view_legs, VIEW_N(view_legs), c);
	if (fast)
		view_counter_members(j, view_fast, VIEW_N(view_fast), c);
	for (i = 0; i < VIEW_N(view_drops); i++) {
		emit_json_object(j, view_drops[i].key);
		for (d = 0; d < DROP__MAX; d++)
			if (view_drop_shown(d, shed))
				emit_json_uint(j, drop_reason_name((enum drop_reason)d),
				       c->dir[view_drops[i].dir].drops[d]);
		emit_json_close(j);
	}
	view_counter_members(j, view_events, VIEW_N(view_events), c);
	view_counter_members(j, view_sessions, VIEW_N(view_sessions), c);
}

/* The filter's verdict and reason counters, FILTER_CNT__MAX of them. */
static void view_filter_counters_json(struct emit_json *j, const char *key, const uint64_t *v)
{
	int c;

	emit_json_object(j, key);
	for (c = 0; c < FILTER_CNT__MAX; c++)
		emit_json_uint(j, filter_counter_name((enum filter_counter)c), v[c]);
	emit_json_close(j);
}

static int view_filter_counters_table(FILE *out, const uint64_t *v)
{
	static const char *const head[] = { "COUNTER", "PACKETS" };
	struct emit_table t;
	int c;

	emit_table_init(&t, 2, 0x2, head);
	for (c = 0; c < FILTER_CNT__MAX; c++) {
		emit_table_cell(&t, "%s", filter_counter_name((enum filter_counter)c));
		emit_table_cell(&t, "%" PRIu64, v[c]);
	}
	return emit_table_print(&t, out);
}

/* ---------------------------------------------------------------- receive path */

/* A tri-state fact: 1 yes, 0 no, -1 not known. */
static const char *rx_yes_no(int v, const char *yes, const char *no)
{
	return v < 0 ? "?" : v ? yes : no;
}

/* A cell listing the CPUs of set ("-" when empty). */
static void rx_cpus_cell(struct emit_table *t, const cpu_set_t *set)
{
	char buf[256];

	if (!CPU_COUNT(set))
		emit_table_cell(t, "-");
	else if (rxpath_format_cpus(set, buf, sizeof(buf)) < 0)
		emit_table_cell(t, "%s...", buf);
	else
		emit_table_cell(t, "%s", buf);
}

/* The threads of threaded NAPI instances (a line each), when there are any. */
static int rx_threads_table(const struct rxreport *r, FILE *out)
{
	static const char *const head[] = { "INTERFACE", "NAPI_ID", "THREAD", "CPUS", "NICE" };
	struct emit_table t;
	uint32_t i, k, n = 0;
	int ret;

	for (i = 0; i < r->n; i++)
		n += r->ifaces[i].n_threads;
	if (!n)
		return 0;
	fputc('\n', out);
	emit_table_init(&t, 5, 0x16, head);
	for (i = 0; i < r->n; i++) {
		const struct rxpath_iface *f = &r->ifaces[i];

		for (k = 0; k < f->n_threads; k++) {
			emit_table_cell(&t, "%s", f->name);
			emit_table_cell(&t, "%u", f->threads[k].napi_id);
			emit_table_cell(&t, "%d", f->threads[k].pid);
			rx_cpus_cell(&t, &f->threads[k].cpus);
			emit_table_cell(&t, "%d", f->threads[k].nice);
		}
	}
	ret = emit_table_print(&t, out);
	for (i = 0; !ret && i < r->n; i++)
		if (r->ifaces[i].n_threads < r->ifaces[i].n_threads_all)
			fprintf(out, "%s: the first %u of %u NAPI threads shown\n",
				r->ifaces[i].name, r->ifaces[i].n_threads,
				r->ifaces[i].n_threads_all);
	return ret;
}

/* The interfaces (a line each), their queues (a line each), the NAPI threads (a line each),
 * then the warnings. */
static int rx_table(const struct rxreport *r, FILE *out)
{
	static const char *const head[] = { "INTERFACE", "RX_QUEUES", "THREADED_NAPI",
					    "BUSY_POLL", "GRO", "XDP" };
	static const char *const qhead[] = { "INTERFACE", "QUEUE", "IRQ", "IRQ_CPUS",
					     "RPS_CPUS" };
	struct emit_table t;
	uint32_t i, q, k;
	int ret;

	if (r->any)
		fputs("listen: a wildcard address: every interface that is up, loopback aside\n",
		      out);
	if (!r->n) {
		fputs("no listen interface found\n", out);
		return ferror(out) ? -EIO : 0;
	}
	emit_table_init(&t, 6, 0x2, head);
	for (i = 0; i < r->n; i++) {
		const struct rxpath_iface *f = &r->ifaces[i];

		emit_table_cell(&t, "%s", f->name);
		emit_table_cell(&t, "%u", f->n_queues);
		emit_table_cell(&t, "%s", rx_yes_no(f->threaded, "on", "off"));
		if (f->busy_poll_us)
			emit_table_cell(&t, "%u us", f->busy_poll_us);
		else
			emit_table_cell(&t, "off");
		emit_table_cell(&t, "%s", rx_yes_no(f->gro, "on", "off"));
		if (f->xdp_prog_id)
			emit_table_cell(&t, "%s (prog %u)", rxpath_xdp_name(f->xdp),
					f->xdp_prog_id);
		else
			emit_table_cell(&t, "%s", rxpath_xdp_name(f->xdp));
	}
	ret = emit_table_print(&t, out);
	if (ret)
		return ret;
	fputc('\n', out);
	emit_table_init(&t, 5, 0x2, qhead);
	for (i = 0; i < r->n; i++) {
		const struct rxpath_iface *f = &r->ifaces[i];

		for (q = 0; q < f->n_desc; q++) {
			const struct rxpath_queue *rq = &f->q[q];

			emit_table_cell(&t, "%s", f->name);
			emit_table_cell(&t, "%u", q);
			if (f->virtual_dev) {
				emit_table_cell(&t, "no IRQ (virtual)");
			} else if (!rq->n_irqs) {
				emit_table_cell(&t, "not found");
			} else {
				emit_table_cell_begin(&t, "", "", ",");
				for (k = 0; k < rq->n_irqs; k++)
					emit_table_piece(&t, "%d", rq->irq[k]);
				emit_table_cell_end(&t);
			}
			rx_cpus_cell(&t, &rq->irq_cpus);
			rx_cpus_cell(&t, &rq->rps);
		}
	}
	ret = emit_table_print(&t, out);
	for (i = 0; !ret && i < r->n; i++)
		if (r->ifaces[i].n_desc < r->ifaces[i].n_queues)
			fprintf(out, "%s: the first %u of %u queues shown\n", r->ifaces[i].name,
				r->ifaces[i].n_desc, r->ifaces[i].n_queues);
	if (!ret)
		ret = rx_threads_table(r, out);
	for (i = 0; !ret && i < r->n_warnings; i++)
		fprintf(out, "warning: %s\n", r->warnings[i]);
	return ret ? ret : ferror(out) ? -EIO : 0;
}

/* A CPU set as an array of CPU numbers. */
static void rx_cpus_json(struct emit_json *j, const char *key, const cpu_set_t *set)
{
	int c;

	emit_json_array(j, key);
	for (c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, set))
			emit_json_uint(j, NULL, (uint64_t)c);
	emit_json_close(j);
}

/* A tri-state fact as true, false or null. */
static void rx_bool_json(struct emit_json *j, const char *key, int v)
{
	if (v < 0)
		emit_json_null(j, key);
	else
		emit_json_bool(j, key, v);
}

static void rx_json(struct emit_json *j, const char *key, const struct rxreport *r)
{
	uint32_t i, q, k;

	emit_json_object(j, key);
	emit_json_bool(j, "any_address", r->any);
	emit_json_array_lines(j, "interfaces");
	for (i = 0; i < r->n; i++) {
		const struct rxpath_iface *f = &r->ifaces[i];

		emit_json_object(j, NULL);
		emit_json_string(j, "name", f->name);
		emit_json_uint(j, "rx_queues", f->n_queues);
		emit_json_bool(j, "virtual", f->virtual_dev);
		rx_bool_json(j, "threaded_napi", f->threaded);
		emit_json_uint(j, "busy_poll_us", f->busy_poll_us);
		rx_bool_json(j, "gro", f->gro);
		emit_json_string(j, "xdp_mode", rxpath_xdp_name(f->xdp));
		emit_json_uint(j, "xdp_prog_id", f->xdp_prog_id);
		emit_json_array(j, "queues");
		for (q = 0; q < f->n_desc; q++) {
			const struct rxpath_queue *rq = &f->q[q];

			emit_json_object(j, NULL);
			emit_json_uint(j, "queue", q);
			emit_json_array(j, "irqs");
			for (k = 0; k < rq->n_irqs; k++)
				emit_json_int(j, NULL, rq->irq[k]);
			emit_json_close(j);
			rx_cpus_json(j, "irq_cpus", &rq->irq_cpus);
			rx_cpus_json(j, "rps_cpus", &rq->rps);
			emit_json_close(j);
		}
		emit_json_close(j);
		emit_json_array(j, "napi_threads");
		for (k = 0; k < f->n_threads; k++) {
			emit_json_object(j, NULL);
			emit_json_uint(j, "napi_id", f->threads[k].napi_id);
			emit_json_int(j, "pid", f->threads[k].pid);
			rx_cpus_json(j, "cpus", &f->threads[k].cpus);
			emit_json_int(j, "nice", f->threads[k].nice);
			emit_json_close(j);
		}
		emit_json_close(j);
		emit_json_uint(j, "napi_threads_total", f->n_threads_all);
		emit_json_close(j);
	}
	emit_json_close(j);
	emit_json_array_lines(j, "warnings");
	for (i = 0; i < r->n_warnings; i++)
		emit_json_string(j, NULL, r->warnings[i]);
	emit_json_close(j);
	emit_json_close(j);
}

int control_view_rxpath(const struct rxreport *r, bool json, FILE *out)
{
	struct emit_json j;

	if (!json)
		return rx_table(r, out);
	emit_json_init(&j, out);
	rx_json(&j, NULL, r);
	return emit_json_end(&j);
}

/* The fast path's outcome counters, then per interface what drivers refused after
 * XDP_REDIRECT (the analogue of a qdisc drop after a successful send). */
static int view_offload_table(const struct snapshot *s, FILE *out)
{
	static const char *const head[] = { "COUNTER", "PACKETS" };
	static const char *const ihead[] = { "INTERFACE", "HOOK", "REDIRECT_TARGET", "XMIT_SENT",
					     "XMIT_DROPS" };
	struct emit_table t;
	uint32_t i;
	int c, ret;

	emit_table_init(&t, 2, 0x2, head);
	for (c = 0; c < OFFLOAD_CNT__MAX; c++) {
		emit_table_cell(&t, "%s", filter_offload_counter_name((enum offload_counter)c));
		emit_table_cell(&t, "%" PRIu64, s->offload_counters[c]);
	}
	ret = emit_table_print(&t, out);
	if (ret || !s->n_offload_ifaces)
		return ret;
	fputc('\n', out);
	emit_table_init(&t, 5, 0x18, ihead);
	for (i = 0; i < s->n_offload_ifaces; i++) {
		const struct snapshot_offload_iface *o = &s->offload_ifaces[i];

		emit_table_cell(&t, "%s", o->name);
		emit_table_cell(&t, "%s", o->hook);
		emit_table_cell(&t, "%s", o->redirect_target ? "yes" : "no");
		emit_table_cell(&t, "%" PRIu64, o->xmit_sent);
		emit_table_cell(&t, "%" PRIu64, o->xmit_drops);
	}
	return emit_table_print(&t, out);
}

static void view_offload_json(const struct snapshot *s, struct emit_json *j)
{
	uint32_t i;
	int c;

	emit_json_object(j, "fast_path");
	emit_json_object(j, "counters");
	for (c = 0; c < OFFLOAD_CNT__MAX; c++)
		emit_json_uint(j, filter_offload_counter_name((enum offload_counter)c),
			       s->offload_counters[c]);
	emit_json_close(j);
	emit_json_array(j, "interfaces");
	for (i = 0; i < s->n_offload_ifaces; i++) {
		const struct snapshot_offload_iface *o = &s->offload_ifaces[i];

		emit_json_object(j, NULL);
		emit_json_string(j, "name", o->name);
		emit_json_string(j, "hook", o->hook);
		emit_json_bool(j, "redirect_target", o->redirect_target);
		emit_json_uint(j, "xmit_sent", o->xmit_sent);
		emit_json_uint(j, "xmit_drops", o->xmit_drops);
		emit_json_close(j);
	}
	emit_json_close(j);
	emit_json_close(j);
}

/* ---------------------------------------------------------------- status */

/* The filter section status shows: what the program runs (app_snapshot), else cfg's. */
static const struct filter_conf *view_filter(const struct snapshot *s, const struct config *cfg)
{
	return s->filter ? s->filter : &cfg->filter;
}

/* "key  value" lines: version, pid, uptime, config, backend, filter, reloads. */
static int status_settings(const struct snapshot *s, const struct config *cfg, FILE *out)
{
	const struct filter_conf *fc = view_filter(s, cfg);
	struct emit_table t;
	uint32_t i;

	emit_table_init(&t, 2, 0, NULL);
	emit_table_min_width(&t, 0, 9); /* values start in the same column as ever */
	emit_table_cell(&t, "version");
	emit_table_cell(&t, "%s", s->version);
	emit_table_cell(&t, "pid");
	emit_table_cell(&t, "%d", s->pid);
	emit_table_cell(&t, "uptime");
	emit_table_cell(&t, "%.0f s", s->uptime);
	emit_table_cell(&t, "config");
	emit_table_cell(&t, "%s", s->config_path);
	emit_table_cell(&t, "backend");
	emit_table_cell(&t, "%s", s->backend);
	if (s->steering) {
		emit_table_cell(&t, "steering");
		emit_table_cell(&t, "%s (%s)", s->steering, s->steering_why);
	}
	emit_table_cell(&t, "filter");
	emit_table_cell_begin(&t, config_filter_mode_name(fc->mode), " on ", ", ");
	for (i = 0; i < fc->n_interfaces; i++)
		emit_table_piece(&t, "%s", fc->interfaces[i]);
	emit_table_cell_end(&t);
	emit_table_cell(&t, "reloads");
	emit_table_cell(&t,
			"%" PRIu64 " succeeded, %" PRIu64 " applied with errors, %" PRIu64
			" failed; last: %s%s",
			s->reloads_ok, s->reloads_partial, s->reloads_failed,
			view_reload_text[view_reload_result(s)], s->last_reload_error);
	return emit_table_print(&t, out);
}

static int status_workers(const struct snapshot *s, FILE *out)
{
	static const char *const head[] = { "WORKER", "CPU",	     "HEARTBEAT_AGE",
					    "LOOPS",  "COMPLETIONS", "PER_LOOP" };
	struct emit_table t;
	uint32_t i;

	emit_table_init(&t, 6, 0x3f, head);
	for (i = 0; i < s->n_workers; i++) {
		const struct snapshot_worker *w = &s->workers[i];

		emit_table_cell(&t, "%u", w->id);
		emit_table_cell(&t, "%d", w->cpu);
		if (isnan(w->heartbeat_age))
			emit_table_cell(&t, "never");
		else
			emit_table_cell(&t, "%.3f s", w->heartbeat_age);
		emit_table_cell(&t, "%" PRIu64, w->loops);
		emit_table_cell(&t, "%" PRIu64, w->completions);
		/* the batch a loop iteration handles on average: small batches cost more each */
		if (w->loops)
			emit_table_cell(&t, "%.1f", (double)w->completions / (double)w->loops);
		else
			emit_table_cell(&t, "-");
	}
	return emit_table_print(&t, out);
}

static bool status_any_shed(const struct config *cfg)
{
	uint32_t i;

	for (i = 0; i < cfg->n_relays; i++)
		if (cfg->relays[i].shed != SHED_OFF)
			return true;
	return false;
}

/* Whether each relay sheds, where or why not, and what it shed. */
static int status_shed(const struct snapshot *s, const struct config *cfg, FILE *out)
{
	static const char *const head[] = { "RELAY", "SHED", "SHED_DATAGRAMS", "WHY" };
	struct emit_table t;
	uint32_t i;

	emit_table_init(&t, 4, 0x4, head);
	for (i = 0; i < cfg->n_relays && i < s->n_relays; i++) {
		emit_table_cell(&t, "%s", cfg->relays[i].name);
		emit_table_cell(&t, "%s", s->shed ? (s->shed[i].on ? "on" : "off") : "?");
		emit_table_cell(&t, "%" PRIu64,
				s->shed ? s->shed[i].dropped_full + s->shed[i].dropped_heavy : 0);
		emit_table_cell(&t, "%s", s->shed ? s->shed[i].why : "");
	}
	return emit_table_print(&t, out);
}

static bool status_any_offload(const struct config *cfg)
{
	uint32_t i;

	for (i = 0; i < cfg->n_relays; i++)
		if (cfg->relays[i].offload != OFFLOAD_OFF)
			return true;
	return false;
}

/* Which mode each relay's fast path got and why (only when some relay asks for one). */
static int status_offload(const struct snapshot *s, const struct config *cfg, FILE *out)
{
	static const char *const head[] = { "RELAY", "OFFLOAD", "WHY" };
	struct emit_table t;
	uint32_t i;

	emit_table_init(&t, 3, 0, head);
	for (i = 0; i < cfg->n_relays && i < s->n_relays; i++) {
		emit_table_cell(&t, "%s", cfg->relays[i].name);
		emit_table_cell(&t, "%s", s->offload ? s->offload[i].mode : "?");
		emit_table_cell(&t, "%s", s->offload ? s->offload[i].why : "");
	}
	return emit_table_print(&t, out);
}

static int status_relays(const struct config *cfg, FILE *out)
{
	static const char *const head[] = { "RELAY", "MODE", "BALANCE", "LISTEN", "UPSTREAMS" };
	char ep[ADDR_STRLEN];
	struct emit_table t;
	uint32_t i, k;

	emit_table_init(&t, 5, 0, head);
	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *r = &cfg->relays[i];

		emit_table_cell(&t, "%s", r->name);
		emit_table_cell(&t, "%s", config_mode_name(r->mode));
		emit_table_cell(&t, "%s", config_balance_name(r->balance));
		emit_table_cell_begin(&t, "", "", " ");
		for (k = 0; k < r->n_listen; k++)
			emit_table_piece(&t, "%s", addr_format(&r->listen[k], ep, sizeof(ep)));
		emit_table_cell_end(&t);
		emit_table_cell_begin(&t, "", "", " ");
		for (k = 0; k < r->n_upstreams; k++) {
			const struct upstream_conf *u = &r->upstreams[k];

			if (u->weight == 1)
				emit_table_piece(&t, "%s", upstream_label(u, ep, sizeof(ep)));
			else
				emit_table_piece(&t, "%s weight=%u", upstream_label(u, ep, sizeof(ep)),
						 u->weight);
		}
		emit_table_cell_end(&t);
	}
	return emit_table_print(&t, out);
}

/* The three tables (and the receive path when gathered), a blank line apart. */
static int status_table(const struct snapshot *s, const struct config *cfg, FILE *out)
{
	int ret;

	ret = status_settings(s, cfg, out);
	if (!ret) {
		fputc('\n', out);
		ret = status_workers(s, out);
	}
	if (!ret) {
		fputc('\n', out);
		ret = status_relays(cfg, out);
	}
	if (!ret && status_any_offload(cfg)) {
		fputc('\n', out);
		ret = status_offload(s, cfg, out);
	}
	if (!ret && status_any_shed(cfg)) {
		fputc('\n', out);
		ret = status_shed(s, cfg, out);
	}
	if (!ret && s->rxpath) {
		fputs("\nreceive path\n", out);
		ret = rx_table(s->rxpath, out);
	}
	return ret;
}

static int status_json(const struct snapshot *s, const struct config *cfg, FILE *out)
{
	const struct filter_conf *fc = view_filter(s, cfg);
	struct emit_json j;
	char ep[ADDR_STRLEN];
	uint32_t i, k;

	emit_json_init(&j, out);
	emit_json_object(&j, NULL);
	emit_json_string(&j, "version", s->version);
	emit_json_int(&j, "pid", s->pid);
	emit_json_double(&j, "start_time", s->start_time, VIEW_DECIMALS);
	emit_json_double(&j, "uptime_seconds", s->uptime, VIEW_DECIMALS);
	emit_json_string(&j, "config", s->config_path);
	emit_json_string(&j, "backend", s->backend);
	if (s->steering) {
		emit_json_object(&j, "steering");
		emit_json_string(&j, "mode", s->steering);
		emit_json_string(&j, "why", s->steering_why);
		emit_json_close(&j);
	}

	emit_json_array(&j, "workers");
	for (i = 0; i < s->n_workers; i++) {
		emit_json_object(&j, NULL);
		emit_json_uint(&j, "id", s->workers[i].id);
		emit_json_int(&j, "cpu", s->workers[i].cpu);
		/* NaN (never ran) becomes null */
		emit_json_double(&j, "heartbeat_age_seconds", s->workers[i].heartbeat_age,
				 VIEW_DECIMALS);
		emit_json_uint(&j, "loops", s->workers[i].loops);
		emit_json_uint(&j, "completions", s->workers[i].completions);
		emit_json_uint(&j, "rearms", s->workers[i].rearms);
		emit_json_uint(&j, "refreshes", s->workers[i].refreshes);
		emit_json_close(&j);
	}
	emit_json_close(&j);

	emit_json_array(&j, "relays");
	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *r = &cfg->relays[i];

		emit_json_object(&j, NULL);
		emit_json_string(&j, "name", r->name);
		emit_json_string(&j, "mode", config_mode_name(r->mode));
		emit_json_string(&j, "balance", config_balance_name(r->balance));
		emit_json_double(&j, "session_timeout", r->session_timeout, VIEW_DECIMALS);
		emit_json_uint(&j, "max_sessions", r->max_sessions);
		if (r->offload != OFFLOAD_OFF) {
			bool known = s->offload && i < s->n_relays;

			emit_json_object(&j, "offload");
			emit_json_string(&j, "configured", config_offload_name(r->offload));
			emit_json_string(&j, "mode", known ? s->offload[i].mode : "off");
			emit_json_string(&j, "why", known ? s->offload[i].why : "");
			emit_json_close(&j);
		}
		if (r->shed != SHED_OFF) {
			bool known = s->shed && i < s->n_relays;

			emit_json_object(&j, "shed");
			emit_json_string(&j, "configured", config_shed_name(r->shed));
			emit_json_bool(&j, "on", known && s->shed[i].on);
			emit_json_string(&j, "why", known ? s->shed[i].why : "");
			emit_json_uint(&j, "dropped_full_socket", known ? s->shed[i].dropped_full : 0);
			emit_json_uint(&j, "dropped_heavy_flow", known ? s->shed[i].dropped_heavy : 0);
			emit_json_close(&j);
		}
		emit_json_array(&j, "listen");
		for (k = 0; k < r->n_listen; k++)
			emit_json_string(&j, NULL, addr_format(&r->listen[k], ep, sizeof(ep)));
		emit_json_close(&j);
		emit_json_array(&j, "upstreams");
		for (k = 0; k < r->n_upstreams; k++) {
			emit_json_object(&j, NULL);
			emit_json_string(&j, "address",
					 upstream_label(&r->upstreams[k], ep, sizeof(ep)));
			emit_json_uint(&j, "weight", r->upstreams[k].weight);
			emit_json_close(&j);
		}
		emit_json_close(&j);
		emit_json_close(&j);
	}
	emit_json_close(&j);

	emit_json_object(&j, "filter");
	emit_json_string(&j, "mode", config_filter_mode_name(fc->mode));
	emit_json_array(&j, "interfaces");
	for (i = 0; i < fc->n_interfaces; i++)
		emit_json_string(&j, NULL, fc->interfaces[i]);
	emit_json_close(&j);
	emit_json_close(&j);

	emit_json_object(&j, "reloads");
	emit_json_uint(&j, "success", s->reloads_ok);
	emit_json_uint(&j, "partial", s->reloads_partial);
	emit_json_uint(&j, "failure", s->reloads_failed);
	emit_json_double(&j, "last_success_time", s->last_reload_success, VIEW_DECIMALS);
	emit_json_string(&j, "last_result", view_reload_json[view_reload_result(s)]);
	emit_json_string(&j, "last_error", s->last_reload_error);
	emit_json_close(&j);
	if (s->rxpath)
		rx_json(&j, "receive_path", s->rxpath);
	emit_json_close(&j);
	return emit_json_end(&j);
}

int control_view_status(const struct snapshot *s, bool json, FILE *out)
{
	return json ? status_json(s, s->cfg, out) : status_table(s, s->cfg, out);
}

/* ---------------------------------------------------------------- stats */

/* The stats tables: traffic, drops (a row per direction) and events. */
struct stats_tables {
	struct emit_table traffic, drops, events;
};

/* A row of each table for relay's worker (a number) or its total ("all"): shed drops are a
 * total's only (view_drop_shown), so a worker row shows "-" for them. */
static void stats_rows(struct stats_tables *t, const char *relay, const char *worker,
		       const struct relay_counters *c, bool fast, bool shed)
{
	bool total = strcmp(worker, "all") == 0;
	size_t i;
	int d;

	emit_table_cell(&t->traffic, "%s", relay);
	emit_table_cell(&t->traffic, "%s", worker);
	view_counter_cells(&t->traffic, view_legs, VIEW_N(view_legs), c);
	if (fast)
		view_counter_cells(&t->traffic, view_fast, VIEW_N(view_fast), c);
	view_counter_cells(&t->traffic, view_sessions, VIEW_N(view_sessions), c);
	for (i = 0; i < VIEW_N(view_drops); i++) {
		emit_table_cell(&t->drops, "%s", relay);
		emit_table_cell(&t->drops, "%s", worker);
		emit_table_cell(&t->drops, "%s", relay_dir_name(view_drops[i].dir));
		for (d = 0; d < DROP__MAX; d++) {
			if (!view_drop_shown(d, shed))
				continue;
			if (!total && !view_drop_shown(d, false))
				emit_table_cell(&t->drops, "-");
			else
				emit_table_cell(&t->drops, "%" PRIu64,
						c->dir[view_drops[i].dir].drops[d]);
		}
	}
	emit_table_cell(&t->events, "%s", relay);
	emit_table_cell(&t->events, "%s", worker);
	view_counter_cells(&t->events, view_events, VIEW_N(view_events), c);
}

/* A header cell in capitals. */
static void stats_head(struct emit_table *t, const char *name)
{
	char head[40];
	size_t k;

	snprintf(head, sizeof(head), "%s", name);
	for (k = 0; head[k]; k++)
		head[k] = (char)toupper((unsigned char)head[k]);
	emit_table_cell(t, "%s", head);
}

/* Below the table, a line per relay with upstream names: its lookups, and which names keep
 * their last addresses because their lookup fails. */
static int upstreams_lookups(const struct snapshot *s, int relay, FILE *out)
{
	uint32_t r, u;

	for (r = 0; s->lookups && r < s->n_relays; r++) {
		const struct snapshot_lookups *l = &s->lookups[r];
		const char *last = "";

		if (!l->names || (relay >= 0 && r != (uint32_t)relay))
			continue;
		fprintf(out,
			"relay %s: names looked up %" PRIu64 " time(s), %" PRIu64
			" failed, %" PRIu64 " new address set(s), %" PRIu64 " failing now",
			s->relay_names[r], l->made, l->failed, l->new_sets, l->failing);
		for (u = 0; u < s->n_upstreams; u++) {
			const struct snapshot_upstream *su = &s->upstreams[u];

			/* each failing name once: its addresses are listed together */
			if (su->relay != r || !su->lookup_failing || !strcmp(su->label, last))
				continue;
			fprintf(out, "%s%s", *last ? ", " : " (last addresses kept): ", su->label);
			last = su->label;
		}
		fputc('\n', out);
	}
	return ferror(out) ? -EIO : 0;
}

static int upstreams_table(const struct snapshot *s, int relay, FILE *out)
{
	struct upstream_counters t;
	struct emit_table tab;
	uint32_t u, c;
	size_t i;
	int ret;

	emit_table_init(&tab, 7 + VIEW_N(view_upstream_counters), ~0x3fu | 0x8u, NULL);
	emit_table_cell(&tab, "RELAY");
	emit_table_cell(&tab, "UPSTREAM");
	emit_table_cell(&tab, "ADDRESS");
	emit_table_cell(&tab, "WEIGHT");
	emit_table_cell(&tab, "STATE");
	emit_table_cell(&tab, "SINCE");
	emit_table_cell(&tab, "EJECTIONS");
	for (i = 0; i < VIEW_N(view_upstream_counters); i++)
		emit_table_cell(&tab, "%s", view_upstream_counters[i].head);
	for (u = 0; u < s->n_upstreams; u++) {
		const struct snapshot_upstream *su = &s->upstreams[u];

		if (relay >= 0 && su->relay != (uint32_t)relay)
			continue;
		view_upstream_total(s, u, &t);
		emit_table_cell(&tab, "%s", s->relay_names[su->relay]);
		emit_table_cell(&tab, "%s", su->label);
		emit_table_cell(&tab, "%s", su->address);
		emit_table_cell(&tab, "%u", su->weight);
		emit_table_cell(&tab, "%s%s", su->state,
				s->panic[su->relay] && su->usable && strcmp(su->state, "up")
					? " (panic: used)"
					: "");
		/* an age on the boot clock: the wall clock's two readings may straddle a step */
		if (su->changed > 0)
			emit_table_cell(&tab, "%.0f s",
					fmax(s->boottime - su->changed_boot, 0.0));
		else
			emit_table_cell(&tab, "-");
		emit_table_cell(&tab, "%" PRIu64, su->ejections);
		for (c = 0; c < VIEW_N(view_upstream_counters); c++)
			emit_table_cell(&tab, "%" PRIu64,
					view_up_at(&t, view_upstream_counters[c].off));
	}
	ret = emit_table_print(&tab, out);
	return ret ? ret : upstreams_lookups(s, relay, out);
}

static void upstream_json(struct emit_json *j, const struct snapshot *s, uint32_t u)
{
	const struct snapshot_upstream *su = &s->upstreams[u];
	struct upstream_counters t;
	size_t c;

	view_upstream_total(s, u, &t);
	emit_json_object(j, NULL);
	emit_json_string(j, "relay", s->relay_names[su->relay]);
	emit_json_string(j, "upstream", su->label);
	emit_json_string(j, "address", su->address);
	emit_json_uint(j, "weight", su->weight);
	emit_json_string(j, "state", su->state);
	emit_json_bool(j, "usable", su->usable);
	if (su->changed > 0)
		emit_json_double(j, "state_changed", su->changed, VIEW_DECIMALS);
	else
		emit_json_null(j, "state_changed");
	emit_json_uint(j, "ejections", su->ejections);
	emit_json_bool(j, "lookup_failing", su->lookup_failing);
	for (c = 0; c < VIEW_N(view_upstream_counters); c++)
		emit_json_uint(j, view_upstream_counters[c].key,
			       view_up_at(&t, view_upstream_counters[c].off));
	emit_json_close(j);
}

int control_view_upstreams(const struct snapshot *s, int relay, bool json, FILE *out)
{
	struct emit_json j;
	uint32_t r, u;

	if (!json)
		return upstreams_table(s, relay, out);
	emit_json_init(&j, out);
	emit_json_object(&j, NULL);
	emit_json_array(&j, "relays");
	for (r = 0; r < s->n_relays; r++) {
		if (relay >= 0 && r != (uint32_t)relay)
			continue;
		emit_json_object(&j, NULL);
		emit_json_string(&j, "name", s->relay_names[r]);
		emit_json_bool(&j, "panic", s->panic[r]);
		emit_json_uint(&j, "max_sessions", s->max_sessions[r]);
		if (s->lookups && s->lookups[r].names) {
			emit_json_object(&j, "lookups");
			emit_json_uint(&j, "made", s->lookups[r].made);
			emit_json_uint(&j, "failed", s->lookups[r].failed);
			emit_json_uint(&j, "new_sets", s->lookups[r].new_sets);
			emit_json_uint(&j, "failing", s->lookups[r].failing);
			emit_json_close(&j);
		} else {
			emit_json_null(&j, "lookups");
		}
		emit_json_close(&j);
	}
	emit_json_close(&j);
	emit_json_array_lines(&j, "upstreams");
	for (u = 0; u < s->n_upstreams; u++)
		if (relay < 0 || s->upstreams[u].relay == (uint32_t)relay)
			upstream_json(&j, s, u);
	emit_json_close(&j);
	emit_json_close(&j);
	return emit_json_end(&j);
}

int control_view_upstream_set(const char *relay, const char *text, bool enabled, uint32_t n,
			      bool json, FILE *out)
{
	struct emit_json j;

	if (!json) {
		fprintf(out, "relay %s: upstream %s %s (%u address%s)\n", relay, text,
			enabled ? "enabled" : "disabled: no new sessions", n, n == 1 ? "" : "es");
		return ferror(out) ? -EIO : 0;
	}
	emit_json_init(&j, out);
	emit_json_object(&j, NULL);
	emit_json_string(&j, "relay", relay);
	emit_json_string(&j, "upstream", text);
	emit_json_bool(&j, "enabled", enabled);
	emit_json_uint(&j, "addresses", n);
	emit_json_close(&j);
	return emit_json_end(&j);
}

static int stats_table(const struct snapshot *s, FILE *out)
{
	struct stats_tables t;
	struct relay_counters total;
	char id[16];
	uint32_t r, w;
	size_t i;
	int ret, d;

	bool fast = s->offload_counters != NULL; /* the fast path's columns while it is loaded */
	bool shed = view_shed_shown(s);

	/* Every column but RELAY, WORKER (and DIRECTION) is a number. */
	emit_table_init(&t.traffic,
			2 + VIEW_N(view_legs) + (fast ? VIEW_N(view_fast) : 0) + VIEW_N(view_sessions),
			~0x3u, NULL);
	emit_table_init(&t.drops, 3 + DROP__MAX - (shed ? 0 : 2), ~0x7u, NULL);
	emit_table_init(&t.events, 2 + VIEW_N(view_events), ~0x3u, NULL);
	emit_table_cell(&t.traffic, "RELAY");
	emit_table_cell(&t.traffic, "WORKER");
	for (i = 0; i < VIEW_N(view_legs); i++)
		emit_table_cell(&t.traffic, "%s", view_legs[i].head);
	for (i = 0; fast && i < VIEW_N(view_fast); i++)
		emit_table_cell(&t.traffic, "%s", view_fast[i].head);
	for (i = 0; i < VIEW_N(view_sessions); i++)
		emit_table_cell(&t.traffic, "%s", view_sessions[i].head);
	emit_table_cell(&t.drops, "RELAY");
	emit_table_cell(&t.drops, "WORKER");
	emit_table_cell(&t.drops, "DIRECTION");
	for (d = 0; d < DROP__MAX; d++)
		if (view_drop_shown(d, shed))
			stats_head(&t.drops, drop_reason_name((enum drop_reason)d));
	emit_table_cell(&t.events, "RELAY");
	emit_table_cell(&t.events, "WORKER");
	for (i = 0; i < VIEW_N(view_events); i++)
		emit_table_cell(&t.events, "%s", view_events[i].head);
	for (r = 0; r < s->n_relays; r++) {
		for (w = 0; w < s->n_workers; w++) {
			snprintf(id, sizeof(id), "%u", s->workers[w].id);
			stats_rows(&t, s->relay_names[r], id, &s->workers[w].relays[r], fast,
				   shed);
		}
		view_relay_total(s, r, &total);
		stats_rows(&t, s->relay_names[r], "all", &total, fast, shed);
	}
	fputs("traffic\n", out);
	ret = emit_table_print(&t.traffic, out);
	if (!ret && s->n_upstreams) {
		fputs("\nupstreams\n", out);
		ret = upstreams_table(s, -1, out);
	}
	if (!ret) {
		fputs("\ndrops\n", out);
		ret = emit_table_print(&t.drops, out);
	}
	if (!ret) {
		fputs("\nevents\n", out);
		ret = emit_table_print(&t.events, out);
	}
	emit_table_fini(&t.drops);
	emit_table_fini(&t.events);
	if (!ret && s->offload_counters) {
		fputs("\nfast path\n", out);
		ret = view_offload_table(s, out);
	}
	if (!ret && s->shed_counters) {
		static const char *const head[] = { "COUNTER", "PACKETS" };
		struct emit_table st;
		int c;

		fputs("\nshed\n", out);
		emit_table_init(&st, 2, 0x2, head);
		for (c = 0; c < SHED_CNT__MAX; c++) {
			emit_table_cell(&st, "%s", filter_shed_counter_name((enum shed_counter)c));
			emit_table_cell(&st, "%" PRIu64, s->shed_counters[c]);
		}
		ret = emit_table_print(&st, out);
	}
	if (ret || !s->filter_counters)
		return ret;
	fputs("\nfilter\n", out);
	return view_filter_counters_table(out, s->filter_counters);
}

static int stats_json(const struct snapshot *s, FILE *out)
{
	struct relay_counters total;
	struct emit_json j;
	uint32_t r, w, u;

	emit_json_init(&j, out);
	emit_json_object(&j, NULL);
	emit_json_array(&j, "relays");
	for (r = 0; r < s->n_relays; r++) {
		emit_json_object(&j, NULL);
		emit_json_string(&j, "name", s->relay_names[r]);
		view_relay_total(s, r, &total);
		emit_json_object(&j, "total");
		view_counters_json(&j, &total, s->offload_counters != NULL, view_shed_shown(s));
		emit_json_close(&j);
		emit_json_array(&j, "workers");
		for (w = 0; w < s->n_workers; w++) {
			emit_json_object(&j, NULL);
			emit_json_uint(&j, "worker", s->workers[w].id);
			view_counters_json(&j, &s->workers[w].relays[r], s->offload_counters != NULL,
					   view_shed_shown(s));
			emit_json_close(&j);
		}
		emit_json_close(&j);
		emit_json_array(&j, "upstreams");
		for (u = 0; u < s->n_upstreams; u++)
			if (s->upstreams[u].relay == r)
				upstream_json(&j, s, u);
		emit_json_close(&j);
		emit_json_close(&j);
	}
	emit_json_close(&j);
	if (s->filter_counters)
		view_filter_counters_json(&j, "filter", s->filter_counters);
	else
		emit_json_null(&j, "filter");
	if (s->offload_counters)
		view_offload_json(s, &j);
	if (s->shed_counters) {
		int c;

		emit_json_object(&j, "shed");
		for (c = 0; c < SHED_CNT__MAX; c++)
			emit_json_uint(&j, filter_shed_counter_name((enum shed_counter)c),
				       s->shed_counters[c]);
		emit_json_close(&j);
	}
	emit_json_close(&j);
	return emit_json_end(&j);
}

int control_view_stats(const struct snapshot *s, bool json, FILE *out)
{
	return json ? stats_json(s, out) : stats_table(s, out);
}

/* " PREFIXdrop_REASON=N" for every reason of one direction, appended at buf + *n; the
 * program sheds only on the way to the upstreams, so replies have no shed_* reasons. */
static void stats_line_drops(char *buf, size_t len, size_t *n, const char *prefix,
			     const struct relay_dir_counters *dc, bool shed)
{
	int d;

	for (d = 0; d < DROP__MAX && *n < len; d++)
		if (shed || (d != DROP_SHED_FULL_SOCKET && d != DROP_SHED_HEAVY_FLOW))
			*n += (size_t)snprintf(buf + *n, len - *n, " %sdrop_%s=%" PRIu64, prefix,
					       drop_reason_name((enum drop_reason)d), dc->drops[d]);
}

int control_view_stats_line(const char *name, const struct relay_counters *total, char *buf,
			    size_t len)
{
	const struct relay_dir_counters *up = &total->dir[RELAY_DIR_TO_UPSTREAM];
	const struct relay_dir_counters *down = &total->dir[RELAY_DIR_TO_CLIENT];
	const struct relay_counters c = *total;
	size_t n;

	n = (size_t)snprintf(buf, len,
			     "stats relay=%s rx_pkts=%" PRIu64 " rx_bytes=%" PRIu64
			     " tx_pkts=%" PRIu64 " tx_bytes=%" PRIu64 " mirror_extra_copies=%" PRIu64
			     " reply_rx_pkts=%" PRIu64 " reply_rx_bytes=%" PRIu64
			     " reply_tx_pkts=%" PRIu64 " reply_tx_bytes=%" PRIu64,
			     name, up->rx_pkts, up->rx_bytes, up->tx_pkts, up->tx_bytes,
			     up->extra_copies, down->rx_pkts, down->rx_bytes, down->tx_pkts,
			     down->tx_bytes);
	stats_line_drops(buf, len, &n, "", up, true);
	stats_line_drops(buf, len, &n, "reply_", down, false);
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n,
				      " upstream_unreachable_notices=%" PRIu64
				      " buffer_ring_empty=%" PRIu64 " fast_pkts=%" PRIu64
				      " fast_bytes=%" PRIu64 " sessions_active=%" PRIu64
				      " sessions_created=%" PRIu64 " sessions_expired=%" PRIu64
				      " sessions_evicted=%" PRIu64 " sessions_moved=%" PRIu64,
				      c.upstream_unreachable_notices, c.buffer_ring_empty,
				      up->fast_pkts + down->fast_pkts, up->fast_bytes + down->fast_bytes,
				      c.sessions_active, c.sessions_created, c.sessions_expired,
				      c.sessions_evicted, c.sessions_moved);
	return n < len ? (int)n : -ENOSPC;
}

/* ---------------------------------------------------------------- sessions */

static int sessions_table(const struct control_sessions *ss, const struct config *cfg,
			  FILE *out)
{
	static const char *const head[] = { "RELAY", "CLIENT", "LOCAL", "UPSTREAM",
					    "WORKER", "IDLE", "MTU UP/DOWN", "PATH" };
	int cols = ss->fast ? 8 : 6;
	char ep[ADDR_STRLEN];
	struct emit_table t;
	const char *name;
	uint32_t i;
	int ret;

	emit_table_init(&t, cols, 0x70, head);
	for (i = 0; i < ss->n; i++) {
		const struct session_info *si = &ss->info[i];

		name = view_relay_name(cfg, si->relay);
		emit_table_cell(&t, "%s", name ? name : "?");
		emit_table_cell(&t, "%s", addr_format(&si->client, ep, sizeof(ep)));
		emit_table_cell(&t, "%s", addr_format(&si->local, ep, sizeof(ep)));
		emit_table_cell(&t, "%s", addr_format(&si->upstream, ep, sizeof(ep)));
		emit_table_cell(&t, "%u", si->worker);
		emit_table_cell(&t, "%.1f s", (double)si->idle_ms / 1e3);
		if (!ss->fast)
			continue;
		/* (the path last: a reason may hold spaces) */
		if (si->fast)
			emit_table_cell(&t, "%u/%u", si->fast_mtu[OFFLOAD_DIR_UP],
					si->fast_mtu[OFFLOAD_DIR_DOWN]);
		else
			emit_table_cell(&t, "-");
		emit_table_cell(&t, "%s%s%s", si->fast ? "fast" : "socket",
				si->fast_refused ? ": " : "",
				offload_refusal_name((enum offload_refusal)si->fast_refused));
	}
	ret = emit_table_print(&t, out);
	if (ret)
		return ret;
	if (ss->n < ss->total)
		fprintf(out, "%u sessions, showing the first %u\n", ss->total, ss->n);
	else
		fprintf(out, "%u session%s\n", ss->total, ss->total == 1 ? "" : "s");
	return ferror(out) ? -EIO : 0;
}

static int sessions_json(const struct control_sessions *ss, const struct config *cfg, FILE *out)
{
	char ep[ADDR_STRLEN];
	struct emit_json j;
	const char *name;
	uint32_t i;

	emit_json_init(&j, out);
	emit_json_object(&j, NULL);
	emit_json_uint(&j, "total", ss->total);
	emit_json_uint(&j, "shown", ss->n);
	emit_json_array_lines(&j, "sessions");
	for (i = 0; i < ss->n; i++) {
		const struct session_info *si = &ss->info[i];

		name = view_relay_name(cfg, si->relay);
		emit_json_object(&j, NULL);
		emit_json_string(&j, "relay", name ? name : "");
		emit_json_uint(&j, "worker", si->worker);
		emit_json_string(&j, "client", addr_format(&si->client, ep, sizeof(ep)));
		emit_json_string(&j, "local", addr_format(&si->local, ep, sizeof(ep)));
		emit_json_string(&j, "upstream", addr_format(&si->upstream, ep, sizeof(ep)));
		emit_json_double(&j, "idle_seconds", (double)si->idle_ms / 1e3, VIEW_DECIMALS);
		if (ss->fast) {
			emit_json_string(&j, "path", si->fast ? "fast" : "socket");
			emit_json_uint(&j, "fast_pkts", si->fast_pkts);
			if (si->fast) {
				emit_json_uint(&j, "path_mtu_up", si->fast_mtu[OFFLOAD_DIR_UP]);
				emit_json_uint(&j, "path_mtu_down",
					       si->fast_mtu[OFFLOAD_DIR_DOWN]);
			}
			if (si->fast_refused)
				emit_json_string(&j, "socket_reason",
						 offload_refusal_name(
							 (enum offload_refusal)si->fast_refused));
		}
		emit_json_close(&j);
	}
	emit_json_close(&j);
	emit_json_close(&j);
	return emit_json_end(&j);
}

int control_view_sessions(const struct control_sessions *ss, const struct config *cfg, bool json,
			  FILE *out)
{
	return json ? sessions_json(ss, cfg, out) : sessions_table(ss, cfg, out);
}

/* ---------------------------------------------------------------- filter */

static void prefix_rows(struct emit_table *t, const char *list, const struct filter_prefix *p,
			uint32_t n, const uint64_t *hits)
{
	char text[64];
	uint32_t i;

	for (i = 0; i < n; i++) {
		emit_table_cell(t, "%s", list);
		emit_table_cell(t, "%s", prefix_format(&p[i].prefix, text, sizeof(text)));
		emit_table_cell(t, "%d", p[i].line);
		emit_table_cell(t, "%" PRIu64, hits[i]);
	}
}

static int rules_table(const struct filter_conf *fc, const struct filter_stats *st, FILE *out)
{
	static const char *const head[] = { "LIST", "RULE", "LINE", "HITS" };
	struct emit_table t;
	uint32_t i;

	emit_table_init(&t, 4, 0x8, head);
	prefix_rows(&t, "deny", fc->deny, fc->n_deny, st->deny_hits);
	prefix_rows(&t, "allow", fc->allow, fc->n_allow, st->allow_hits);
	for (i = 0; i < fc->n_ports; i++) {
		const struct filter_port_rule *p = &fc->ports[i];

		emit_table_cell(&t, "ports");
		emit_table_cell(&t, "%u-%u %s", p->lo, p->hi, config_verdict_name(p->verdict));
		emit_table_cell(&t, "%d", p->line);
		emit_table_cell(&t, "%" PRIu64, st->port_hits[i]);
	}
	return emit_table_print(&t, out);
}

static int filter_table(const struct filter_conf *fc, const struct filter_stats *st, FILE *out)
{
	struct emit_table t;
	uint32_t i;
	int ret;

	emit_table_init(&t, 2, 0, NULL);
	emit_table_cell(&t, "mode");
	emit_table_cell(&t, "%s", config_filter_mode_name(fc->mode));
	emit_table_cell(&t, "interfaces");
	emit_table_cell_begin(&t, "", "", " ");
	for (i = 0; i < fc->n_interfaces; i++)
		emit_table_piece(&t, "%s", fc->interfaces[i]);
	emit_table_cell_end(&t);
	emit_table_cell(&t, "default");
	emit_table_cell(&t, "%s", config_verdict_name(fc->default_verdict));
	emit_table_cell(&t, "scope");
	emit_table_cell(&t, "%s", config_scope_name(fc->scope));
	emit_table_cell(&t, "rate");
	if (fc->rate_pps)
		emit_table_cell(&t, "%u pps, burst %u", fc->rate_pps, fc->rate_burst);
	else
		emit_table_cell(&t, "off");
	emit_table_cell(&t, "rules");
	emit_table_cell(&t, "%u deny, %u allow, %u ports", fc->n_deny, fc->n_allow, fc->n_ports);
	ret = emit_table_print(&t, out);
	if (ret)
		return ret;
	fputc('\n', out);
	ret = view_filter_counters_table(out, st->counters);
	if (ret || fc->n_deny + fc->n_allow + fc->n_ports == 0)
		return ret;
	fputc('\n', out);
	return rules_table(fc, st, out);
}

static void prefix_json(struct emit_json *j, const char *key, const struct filter_prefix *p,
			uint32_t n, const uint64_t *hits)
{
	char text[64];
	uint32_t i;

	emit_json_array(j, key);
	for (i = 0; i < n; i++) {
		emit_json_object(j, NULL);
		emit_json_string(j, "prefix", prefix_format(&p[i].prefix, text, sizeof(text)));
		emit_json_int(j, "line", p[i].line);
		emit_json_uint(j, "hits", hits[i]);
		emit_json_close(j);
	}
	emit_json_close(j);
}

static int filter_json(const struct filter_conf *fc, const struct filter_stats *st, FILE *out)
{
	struct emit_json j;
	uint32_t i;

	emit_json_init(&j, out);
	emit_json_object(&j, NULL);
	emit_json_string(&j, "mode", config_filter_mode_name(fc->mode));
	emit_json_array(&j, "interfaces");
	for (i = 0; i < fc->n_interfaces; i++)
		emit_json_string(&j, NULL, fc->interfaces[i]);
	emit_json_close(&j);
	emit_json_string(&j, "default", config_verdict_name(fc->default_verdict));
	emit_json_string(&j, "scope", config_scope_name(fc->scope));
	emit_json_uint(&j, "rate_pps", fc->rate_pps);
	emit_json_uint(&j, "rate_burst", fc->rate_burst);
	emit_json_object(&j, "rules");
	emit_json_uint(&j, "deny", fc->n_deny);
	emit_json_uint(&j, "allow", fc->n_allow);
	emit_json_uint(&j, "ports", fc->n_ports);
	emit_json_close(&j);
	view_filter_counters_json(&j, "counters", st->counters);
	prefix_json(&j, "deny", fc->deny, fc->n_deny, st->deny_hits);
	prefix_json(&j, "allow", fc->allow, fc->n_allow, st->allow_hits);
	emit_json_array(&j, "ports");
	for (i = 0; i < fc->n_ports; i++) {
		const struct filter_port_rule *p = &fc->ports[i];

		emit_json_object(&j, NULL);
		emit_json_uint(&j, "from", p->lo);
		emit_json_uint(&j, "to", p->hi);
		emit_json_string(&j, "verdict", config_verdict_name(p->verdict));
		emit_json_int(&j, "line", p->line);
		emit_json_uint(&j, "hits", st->port_hits[i]);
		emit_json_close(&j);
	}
	emit_json_close(&j);
	emit_json_close(&j);
	return emit_json_end(&j);
}

/* No filter: the mode says so, in the config's word. */
static int filter_off(bool json, FILE *out)
{
	struct emit_json j;

	if (!json) {
		fprintf(out, "filter: %s\n", config_filter_mode_name(FILTER_MODE_OFF));
		return ferror(out) ? -EIO : 0;
	}
	emit_json_init(&j, out);
	emit_json_object(&j, NULL);
	emit_json_string(&j, "mode", config_filter_mode_name(FILTER_MODE_OFF));
	emit_json_close(&j);
	return emit_json_end(&j);
}

int control_view_filter(const struct filter_conf *fc, const struct filter_stats *st, bool json,
			FILE *out)
{
	if (!st)
		return filter_off(json, out);
	return json ? filter_json(fc, st, out) : filter_table(fc, st, out);
}

/* ---------------------------------------------------------------- reload */

int control_view_reload(const char *config_path, const char *warnings, bool json, FILE *out)
{
	static const char tag[] = "warning: ";
	char line[CONFIG_ERR_LEN];
	const char *w, *m;
	struct emit_json j;
	size_t n, k;

	if (!json) {
		fprintf(out, "reloaded %s\n%s", config_path, warnings);
		return ferror(out) ? -EIO : 0;
	}
	emit_json_init(&j, out);
	emit_json_object(&j, NULL);
	emit_json_string(&j, "result", view_reload_json[VIEW_RELOAD_OK]);
	emit_json_string(&j, "config", config_path);
	emit_json_array(&j, "warnings");
	/* a line each, without its "warning: " */
	for (w = warnings; *w; w += n + (w[n] == '\n')) {
		n = strcspn(w, "\n");
		m = w;
		k = n;
		if (k >= sizeof(tag) - 1 && !memcmp(m, tag, sizeof(tag) - 1)) {
			m += sizeof(tag) - 1;
			k -= sizeof(tag) - 1;
		}
		snprintf(line, sizeof(line), "%.*s", (int)k, m);
		emit_json_string(&j, NULL, line);
	}
	emit_json_close(&j);
	emit_json_close(&j);
	return emit_json_end(&j);
}
