// SPDX-License-Identifier: MIT
/* The control thread: one poll loop over a stop eventfd, the unix control socket, the
 * optional metrics listener and at most CONTROL_MAX_CONNS clients. Every socket is
 * non-blocking and every client has a deadline, so a client that sends half a line or never
 * reads its answer costs one slot for a few seconds, never the loop.
 *
 * Answers are built whole in memory (open_memstream) while holding a->lock, then written out
 * without it: the lock is held for a copy of counters, never for socket I/O. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "control.h"
#include "filter.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "snapshot.h"
#include "worker.h"


#define CONTROL_MAX_CONNS 16
#define CONTROL_LINE_MAX 512	/* a control command line */
#define CONTROL_HTTP_MAX 8192	/* an HTTP request head */
#define CONTROL_TIMEOUT_MS 5000 /* to send a request, and again to read the answer */
#define CONTROL_SESSIONS_MAX 10000

enum control_kind { CONTROL_CONN_FREE, CONTROL_CONN_CTL, CONTROL_CONN_HTTP };

struct control_conn {
	enum control_kind kind;
	int fd;
	bool writing;
	size_t req_len;
	char req[CONTROL_HTTP_MAX + 1];
	char *out; /* the whole answer, from open_memstream */
	size_t out_len, out_off;
	uint64_t deadline; /* monotonic ms */
};

struct control {
	struct app *a;
	pthread_t thread;
	bool started;
	int stop_fd;
	int unix_fd;
	int http_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_conn conns[CONTROL_MAX_CONNS];
};

static uint64_t control_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double control_unix_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- output helpers */

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* A text table whose columns are padded to their widest cell; numbers read better right
 * aligned, so columns in `right` (a bit per column) are. */
struct control_table {
	uint32_t cols;
	uint32_t right;
	uint32_t n, cap;
	char **cells;
};

static void table_init(struct control_table *t, uint32_t cols, uint32_t right)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->right = right;
}

static __attribute__((format(printf, 2, 3))) void table_add(struct control_table *t,
							     const char *fmt, ...)
{
	va_list ap;
	char *cell = NULL, **cells;

	if (t->n == t->cap) {
		cells = realloc(t->cells, (t->cap ? t->cap * 2 : 64) * sizeof(*cells));
		if (!cells)
			return;
		t->cells = cells;
		t->cap = t->cap ? t->cap * 2 : 64;
	}
	va_start(ap, fmt);
	if (vasprintf(&cell, fmt, ap) < 0)
		cell = NULL;
	va_end(ap);
	t->cells[t->n++] = cell;
}

static void table_print(struct control_table *t, FILE *out)
{
	size_t width[32] = { 0 };
	uint32_t i, c;

	for (i = 0; i < t->n; i++) {
		size_t l = t->cells[i] ? strlen(t->cells[i]) : 0;

		c = i % t->cols;
		if (c < 32 && l > width[c])
			width[c] = l;
	}
	for (i = 0; i < t->n; i++) {
		const char *s = t->cells[i] ? t->cells[i] : "?";
		bool last = (i % t->cols == t->cols - 1) || i == t->n - 1;

		c = i % t->cols;
		if (t->right & (1u << c))
			fprintf(out, "%*s", (int)width[c], s);
		else
			fprintf(out, "%-*s", last ? 0 : (int)width[c], s);
		fputs(last ? "\n" : "  ", out);
	}
	for (i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static const char *filter_mode_name(enum filter_mode m)
{
	static const char *const names[] = { "off", "xdp", "xdp-generic", "tc" };

	return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "unknown";
}

static const char *verdict_name(enum filter_verdict v)
{
	return v == FILTER_VERDICT_DENY ? "deny" : "allow";
}

/* ---------------------------------------------------------------- commands */

struct control_req {
	const char *cmd;
	const char *arg; /* sessions RELAY */
	bool json;
};

static void status_text(struct app *a, FILE *out)
{
	const struct runtime *rt = &a->rt;
	const struct config *cfg = rt->cfg;
	uint64_t now = worker_clock();
	struct control_table t;
	char ep[ADDR_STRLEN];
	uint32_t i, j;

	fprintf(out, "version    %s\n", RINGRELAY_VERSION);
	fprintf(out, "pid        %d\n", (int)getpid());
	fprintf(out, "uptime     %.0f s\n", control_unix_time() - a->start_time);
	fprintf(out, "config     %s\n", a->config_path ? a->config_path : "");
	fprintf(out, "backend    %s\n", config_backend_name(rt->backend));
	fprintf(out, "filter     %s", filter_mode_name(cfg->filter.mode));
	for (i = 0; i < cfg->filter.n_interfaces; i++)
		fprintf(out, "%s%s", i ? ", " : " on ", cfg->filter.interfaces[i]);
	fputc('\n', out);
	fprintf(out, "reloads    %" PRIu64 " succeeded, %" PRIu64 " failed; last: %s%s\n",
		a->reloads_ok, a->reloads_failed,
		a->reloads_ok + a->reloads_failed == 0 ? "none"
		: a->last_reload_error[0]		 ? "failed: "
							 : "succeeded",
		a->last_reload_error);

	fputc('\n', out);
	table_init(&t, 3, 0x7);
	table_add(&t, "WORKER");
	table_add(&t, "CPU");
	table_add(&t, "HEARTBEAT_AGE");
	for (i = 0; i < rt->n_started; i++) {
		uint64_t hb = counter_get(&rt->workers[i].wc.heartbeat);

		table_add(&t, "%u", rt->workers[i].id);
		table_add(&t, "%d", rt->workers[i].cpu);
		if (hb)
			table_add(&t, "%.3f s", now > hb ? (double)(now - hb) / 1e9 : 0.0);
		else
			table_add(&t, "never");
	}
	table_print(&t, out);

	fputc('\n', out);
	table_init(&t, 5, 0);
	table_add(&t, "RELAY");
	table_add(&t, "MODE");
	table_add(&t, "BALANCE");
	table_add(&t, "LISTEN");
	table_add(&t, "UPSTREAMS");
	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *r = &cfg->relays[i];
		char *list = NULL;
		size_t len = 0;
		FILE *f;

		table_add(&t, "%s", r->name);
		table_add(&t, "%s", config_mode_name(r->mode));
		table_add(&t, "%s", config_balance_name(r->balance));
		f = open_memstream(&list, &len);
		for (j = 0; f && j < r->n_listen; j++)
			fprintf(f, "%s%s", j ? " " : "", addr_format(&r->listen[j], ep, sizeof(ep)));
		if (f)
			fclose(f);
		table_add(&t, "%s", list ? list : "");
		free(list);
		list = NULL;
		f = open_memstream(&list, &len);
		for (j = 0; f && j < r->n_upstreams; j++) {
			fprintf(f, "%s%s", j ? " " : "",
				addr_format(&r->upstreams[j].addr, ep, sizeof(ep)));
			if (r->upstreams[j].weight != 1)
				fprintf(f, " weight=%u", r->upstreams[j].weight);
		}
		if (f)
			fclose(f);
		table_add(&t, "%s", list ? list : "");
		free(list);
	}
	table_print(&t, out);
}

static void status_json(struct app *a, FILE *out)
{
	const struct runtime *rt = &a->rt;
	const struct config *cfg = rt->cfg;
	uint64_t now = worker_clock();
	char ep[ADDR_STRLEN];
	uint32_t i, j;

	fputs("{\"version\": ", out);
	json_str(out, RINGRELAY_VERSION);
	fprintf(out, ", \"pid\": %d, \"start_time\": %.3f, \"uptime_seconds\": %.3f",
		(int)getpid(), a->start_time, control_unix_time() - a->start_time);
	fputs(", \"config\": ", out);
	json_str(out, a->config_path ? a->config_path : "");
	fputs(", \"backend\": ", out);
	json_str(out, config_backend_name(rt->backend));

	fputs(", \"workers\": [", out);
	for (i = 0; i < rt->n_started; i++) {
		uint64_t hb = counter_get(&rt->workers[i].wc.heartbeat);

		fprintf(out, "%s{\"id\": %u, \"cpu\": %d, \"heartbeat_age_seconds\": ", i ? ", " : "",
			rt->workers[i].id, rt->workers[i].cpu);
		if (hb)
			fprintf(out, "%.3f}", now > hb ? (double)(now - hb) / 1e9 : 0.0);
		else
			fputs("null}", out);
	}

	fputs("], \"relays\": [", out);
	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *r = &cfg->relays[i];

		fputs(i ? ", {\"name\": " : "{\"name\": ", out);
		json_str(out, r->name);
		fprintf(out, ", \"mode\": \"%s\", \"balance\": \"%s\", \"session_timeout\": %.3f"
			     ", \"max_sessions\": %u, \"listen\": [",
			config_mode_name(r->mode), config_balance_name(r->balance),
			r->session_timeout, r->max_sessions);
		for (j = 0; j < r->n_listen; j++) {
			fputs(j ? ", " : "", out);
			json_str(out, addr_format(&r->listen[j], ep, sizeof(ep)));
		}
		fputs("], \"upstreams\": [", out);
		for (j = 0; j < r->n_upstreams; j++) {
			fputs(j ? ", {\"address\": " : "{\"address\": ", out);
			json_str(out, addr_format(&r->upstreams[j].addr, ep, sizeof(ep)));
			fprintf(out, ", \"weight\": %u}", r->upstreams[j].weight);
		}
		fputs("]}", out);
	}

	fprintf(out, "], \"filter\": {\"mode\": \"%s\", \"interfaces\": [",
		filter_mode_name(cfg->filter.mode));
	for (i = 0; i < cfg->filter.n_interfaces; i++) {
		fputs(i ? ", " : "", out);
		json_str(out, cfg->filter.interfaces[i]);
	}
	fprintf(out, "]}, \"reloads\": {\"success\": %" PRIu64 ", \"failure\": %" PRIu64
		     ", \"last_success_time\": %.3f, \"last_result\": \"%s\", \"last_error\": ",
		a->reloads_ok, a->reloads_failed, a->last_reload_success,
		a->reloads_ok + a->reloads_failed == 0 ? "none"
		: a->last_reload_error[0]		 ? "failure"
							 : "success");
	json_str(out, a->last_reload_error);
	fputs("}}\n", out);
}

static void counters_json(FILE *out, const struct relay_counters *c)
{
	int d;

	fprintf(out,
		"\"rx_pkts\": %" PRIu64 ", \"rx_bytes\": %" PRIu64 ", \"tx_pkts\": %" PRIu64
		", \"tx_bytes\": %" PRIu64 ", \"reply_rx_pkts\": %" PRIu64
		", \"reply_rx_bytes\": %" PRIu64 ", \"reply_tx_pkts\": %" PRIu64
		", \"reply_tx_bytes\": %" PRIu64 ", \"drops\": {",
		c->rx_pkts, c->rx_bytes, c->tx_pkts, c->tx_bytes, c->reply_rx_pkts,
		c->reply_rx_bytes, c->reply_tx_pkts, c->reply_tx_bytes);
	for (d = 0; d < DROP__MAX; d++)
		fprintf(out, "%s\"%s\": %" PRIu64, d ? ", " : "",
			drop_reason_name((enum drop_reason)d), c->drops[d]);
	fprintf(out,
		"}, \"sessions_active\": %" PRIu64 ", \"sessions_created\": %" PRIu64
		", \"sessions_expired\": %" PRIu64,
		c->sessions_active, c->sessions_created, c->sessions_expired);
}

static void traffic_row(struct control_table *t, const char *relay, const char *worker,
			const struct relay_counters *c)
{
	table_add(t, "%s", relay);
	table_add(t, "%s", worker);
	table_add(t, "%" PRIu64, c->rx_pkts);
	table_add(t, "%" PRIu64, c->rx_bytes);
	table_add(t, "%" PRIu64, c->tx_pkts);
	table_add(t, "%" PRIu64, c->tx_bytes);
	table_add(t, "%" PRIu64, c->reply_rx_pkts);
	table_add(t, "%" PRIu64, c->reply_rx_bytes);
	table_add(t, "%" PRIu64, c->reply_tx_pkts);
	table_add(t, "%" PRIu64, c->reply_tx_bytes);
	table_add(t, "%" PRIu64, c->sessions_active);
	table_add(t, "%" PRIu64, c->sessions_created);
	table_add(t, "%" PRIu64, c->sessions_expired);
}

static void drops_row(struct control_table *t, const char *relay, const char *worker,
		      const struct relay_counters *c)
{
	int d;

	table_add(t, "%s", relay);
	table_add(t, "%s", worker);
	for (d = 0; d < DROP__MAX; d++)
		table_add(t, "%" PRIu64, c->drops[d]);
}

static int stats_cmd(struct app *a, const struct control_req *q, FILE *out)
{
	static const char *const traffic_head[] = {
		"RELAY",	"WORKER", "CLIENT_IN", "BYTES",	 "UPSTREAM_OUT", "BYTES",   "UPSTREAM_IN",
		"BYTES",	"CLIENT_OUT", "BYTES", "SESSIONS", "CREATED",	 "EXPIRED",
	};
	struct snapshot s;
	struct relay_counters total;
	struct control_table t;
	char id[16], name[40];
	uint32_t r, w;
	int ret, d, i;

	ret = app_snapshot(a, &s);
	if (ret) {
		snapshot_fini(&s);
		return ret;
	}
	fputs("ok\n", out);
	if (q->json) {
		fputs("{\"relays\": [", out);
		for (r = 0; r < s.n_relays; r++) {
			memset(&total, 0, sizeof(total));
			for (w = 0; w < s.n_workers; w++)
				relay_counters_add(&total, &s.workers[w].relays[r]);
			fputs(r ? ", {\"name\": " : "{\"name\": ", out);
			json_str(out, s.relay_names[r]);
			fputs(", \"total\": {", out);
			counters_json(out, &total);
			fputs("}, \"workers\": [", out);
			for (w = 0; w < s.n_workers; w++) {
				fprintf(out, "%s{\"worker\": %u, ", w ? ", " : "", s.workers[w].id);
				counters_json(out, &s.workers[w].relays[r]);
				fputc('}', out);
			}
			fputs("]}", out);
		}
		fputs("], \"filter\": ", out);
		if (s.filter_counters) {
			fputc('{', out);
			for (i = 0; i < FILTER_CNT__MAX; i++)
				fprintf(out, "%s\"%s\": %" PRIu64, i ? ", " : "",
					filter_counter_name((enum filter_counter)i),
					s.filter_counters[i]);
			fputs("}}\n", out);
		} else {
			fputs("null}\n", out);
		}
		snapshot_fini(&s);
		return 0;
	}

	fputs("traffic\n", out);
	table_init(&t, 13, 0x1ffc);
	for (i = 0; i < 13; i++)
		table_add(&t, "%s", traffic_head[i]);
	for (r = 0; r < s.n_relays; r++) {
		memset(&total, 0, sizeof(total));
		for (w = 0; w < s.n_workers; w++) {
			snprintf(id, sizeof(id), "%u", s.workers[w].id);
			traffic_row(&t, s.relay_names[r], id, &s.workers[w].relays[r]);
			relay_counters_add(&total, &s.workers[w].relays[r]);
		}
		traffic_row(&t, s.relay_names[r], "all", &total);
	}
	table_print(&t, out);

	fputs("\ndrops\n", out);
	table_init(&t, 2 + DROP__MAX, ~0x3u);
	table_add(&t, "RELAY");
	table_add(&t, "WORKER");
	for (d = 0; d < DROP__MAX; d++) {
		size_t k;

		snprintf(name, sizeof(name), "%s", drop_reason_name((enum drop_reason)d));
		for (k = 0; name[k]; k++)
			name[k] = (char)toupper((unsigned char)name[k]);
		table_add(&t, "%s", name);
	}
	for (r = 0; r < s.n_relays; r++) {
		memset(&total, 0, sizeof(total));
		for (w = 0; w < s.n_workers; w++) {
			snprintf(id, sizeof(id), "%u", s.workers[w].id);
			drops_row(&t, s.relay_names[r], id, &s.workers[w].relays[r]);
			relay_counters_add(&total, &s.workers[w].relays[r]);
		}
		drops_row(&t, s.relay_names[r], "all", &total);
	}
	table_print(&t, out);

	if (s.filter_counters) {
		fputs("\nfilter\n", out);
		table_init(&t, 2, 0x2);
		table_add(&t, "COUNTER");
		table_add(&t, "PACKETS");
		for (i = 0; i < FILTER_CNT__MAX; i++) {
			table_add(&t, "%s", filter_counter_name((enum filter_counter)i));
			table_add(&t, "%" PRIu64, s.filter_counters[i]);
		}
		table_print(&t, out);
	}
	snapshot_fini(&s);
	return 0;
}

static int sessions_cmd(struct app *a, const struct control_req *q, FILE *out, char *err,
			size_t errlen)
{
	const struct config *cfg = a->rt.cfg;
	struct session_info *info;
	struct control_table t;
	char c[ADDR_STRLEN], l[ADDR_STRLEN], u[ADDR_STRLEN];
	uint32_t relay = UINT32_MAX, total = 0, n, i;
	int ret;

	if (q->arg) {
		for (relay = 0; relay < cfg->n_relays; relay++)
			if (!strcmp(cfg->relays[relay].name, q->arg))
				break;
		if (relay == cfg->n_relays) {
			snprintf(err, errlen, "no relay named '%s'", q->arg);
			return -ENOENT;
		}
	}
	info = calloc(CONTROL_SESSIONS_MAX, sizeof(*info));
	if (!info)
		return -ENOMEM;
	ret = runtime_sessions(&a->rt, relay, info, CONTROL_SESSIONS_MAX, &total);
	if (ret < 0) {
		snprintf(err, errlen, "listing sessions: %s", strerror(-ret));
		free(info);
		return ret;
	}
	/* Tolerate both "0" and "the number copied" as success. */
	n = ret > 0 ? (uint32_t)ret : total;
	if (n > CONTROL_SESSIONS_MAX)
		n = CONTROL_SESSIONS_MAX;
	fputs("ok\n", out);
	if (q->json) {
		fprintf(out, "{\"total\": %u, \"shown\": %u, \"sessions\": [", total, n);
		for (i = 0; i < n; i++) {
			const struct session_info *s = &info[i];

			fputs(i ? ",\n {\"relay\": " : "\n {\"relay\": ", out);
			json_str(out, s->relay < cfg->n_relays ? cfg->relays[s->relay].name : "");
			fprintf(out, ", \"worker\": %u, \"client\": \"%s\", \"local\": \"%s\""
				     ", \"upstream\": \"%s\", \"idle_seconds\": %.3f}",
				s->worker, addr_format(&s->client, c, sizeof(c)),
				addr_format(&s->local, l, sizeof(l)),
				addr_format(&s->upstream, u, sizeof(u)), (double)s->idle_ms / 1e3);
		}
		fputs("]}\n", out);
		free(info);
		return 0;
	}
	table_init(&t, 6, 0x30);
	table_add(&t, "RELAY");
	table_add(&t, "CLIENT");
	table_add(&t, "LOCAL");
	table_add(&t, "UPSTREAM");
	table_add(&t, "WORKER");
	table_add(&t, "IDLE");
	for (i = 0; i < n; i++) {
		const struct session_info *s = &info[i];

		table_add(&t, "%s", s->relay < cfg->n_relays ? cfg->relays[s->relay].name : "?");
		table_add(&t, "%s", addr_format(&s->client, c, sizeof(c)));
		table_add(&t, "%s", addr_format(&s->local, l, sizeof(l)));
		table_add(&t, "%s", addr_format(&s->upstream, u, sizeof(u)));
		table_add(&t, "%u", s->worker);
		table_add(&t, "%.1f s", (double)s->idle_ms / 1e3);
	}
	table_print(&t, out);
	if (n < total)
		fprintf(out, "%u sessions, showing the first %u\n", total, n);
	else
		fprintf(out, "%u session%s\n", total, total == 1 ? "" : "s");
	free(info);
	return 0;
}

static void rules_text(FILE *out, const struct filter_conf *fc, const struct filter_stats *st)
{
	struct control_table t;
	char p[64];
	uint32_t i;

	table_init(&t, 4, 0x8);
	table_add(&t, "LIST");
	table_add(&t, "RULE");
	table_add(&t, "LINE");
	table_add(&t, "HITS");
	for (i = 0; i < fc->n_deny; i++) {
		table_add(&t, "deny");
		table_add(&t, "%s", prefix_format(&fc->deny[i].prefix, p, sizeof(p)));
		table_add(&t, "%d", fc->deny[i].line);
		table_add(&t, "%" PRIu64, st->deny_hits[i]);
	}
	for (i = 0; i < fc->n_allow; i++) {
		table_add(&t, "allow");
		table_add(&t, "%s", prefix_format(&fc->allow[i].prefix, p, sizeof(p)));
		table_add(&t, "%d", fc->allow[i].line);
		table_add(&t, "%" PRIu64, st->allow_hits[i]);
	}
	for (i = 0; i < fc->n_ports; i++) {
		table_add(&t, "ports");
		table_add(&t, "%u-%u %s", fc->ports[i].lo, fc->ports[i].hi,
			  verdict_name(fc->ports[i].verdict));
		table_add(&t, "%d", fc->ports[i].line);
		table_add(&t, "%" PRIu64, st->port_hits[i]);
	}
	table_print(&t, out);
}

static void rules_json(FILE *out, const char *key, const struct filter_prefix *r, uint32_t n,
		       const uint64_t *hits)
{
	char p[64];
	uint32_t i;

	fprintf(out, ", \"%s\": [", key);
	for (i = 0; i < n; i++)
		fprintf(out, "%s{\"prefix\": \"%s\", \"line\": %d, \"hits\": %" PRIu64 "}",
			i ? ", " : "", prefix_format(&r[i].prefix, p, sizeof(p)), r[i].line,
			hits[i]);
	fputc(']', out);
}

static int filter_cmd(struct app *a, const struct control_req *q, FILE *out, char *err,
		      size_t errlen)
{
	const struct filter_conf *fc = &a->rt.cfg->filter;
	struct filter_stats *st;
	struct control_table t;
	uint32_t i;
	int ret, c;

	if (!a->filter) {
		fputs(q->json ? "ok\n{\"mode\": \"off\"}\n" : "ok\nfilter: off\n", out);
		return 0;
	}
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ret = filter_read_stats(a->filter, st);
	if (ret) {
		snprintf(err, errlen, "reading filter counters: %s", strerror(-ret));
		free(st);
		return ret;
	}
	fputs("ok\n", out);
	if (q->json) {
		fprintf(out, "{\"mode\": \"%s\", \"interfaces\": [", filter_mode_name(fc->mode));
		for (i = 0; i < fc->n_interfaces; i++) {
			fputs(i ? ", " : "", out);
			json_str(out, fc->interfaces[i]);
		}
		fprintf(out,
			"], \"default\": \"%s\", \"scope\": \"%s\", \"rate_pps\": %u"
			", \"rate_burst\": %u, \"rules\": {\"deny\": %u, \"allow\": %u"
			", \"ports\": %u}, \"counters\": {",
			verdict_name(fc->default_verdict),
			fc->scope == FILTER_SCOPE_UDP ? "udp" : "relays", fc->rate_pps,
			fc->rate_burst, fc->n_deny, fc->n_allow, fc->n_ports);
		for (c = 0; c < FILTER_CNT__MAX; c++)
			fprintf(out, "%s\"%s\": %" PRIu64, c ? ", " : "",
				filter_counter_name((enum filter_counter)c), st->counters[c]);
		fputs("}", out);
		rules_json(out, "deny", fc->deny, fc->n_deny, st->deny_hits);
		rules_json(out, "allow", fc->allow, fc->n_allow, st->allow_hits);
		fputs(", \"ports\": [", out);
		for (i = 0; i < fc->n_ports; i++)
			fprintf(out,
				"%s{\"from\": %u, \"to\": %u, \"verdict\": \"%s\", \"line\": %d"
				", \"hits\": %" PRIu64 "}",
				i ? ", " : "", fc->ports[i].lo, fc->ports[i].hi,
				verdict_name(fc->ports[i].verdict), fc->ports[i].line,
				st->port_hits[i]);
		fputs("]}\n", out);
		free(st);
		return 0;
	}
	fprintf(out, "mode        %s\ninterfaces ", filter_mode_name(fc->mode));
	for (i = 0; i < fc->n_interfaces; i++)
		fprintf(out, " %s", fc->interfaces[i]);
	fprintf(out, "\ndefault     %s\nscope       %s\n", verdict_name(fc->default_verdict),
		fc->scope == FILTER_SCOPE_UDP ? "udp" : "relays");
	if (fc->rate_pps)
		fprintf(out, "rate        %u pps, burst %u\n", fc->rate_pps, fc->rate_burst);
	else
		fputs("rate        off\n", out);
	fprintf(out, "rules       %u deny, %u allow, %u ports\n\n", fc->n_deny, fc->n_allow,
		fc->n_ports);
	table_init(&t, 2, 0x2);
	table_add(&t, "COUNTER");
	table_add(&t, "PACKETS");
	for (c = 0; c < FILTER_CNT__MAX; c++) {
		table_add(&t, "%s", filter_counter_name((enum filter_counter)c));
		table_add(&t, "%" PRIu64, st->counters[c]);
	}
	table_print(&t, out);
	if (fc->n_deny + fc->n_allow + fc->n_ports) {
		fputc('\n', out);
		rules_text(out, fc, st);
	}
	free(st);
	return 0;
}

static int reload_cmd(struct app *a, const struct control_req *q, FILE *out, char *err,
		      size_t errlen)
{
	int ret;

	/* app_reload takes a->lock itself: the caller must not hold it here. */
	ret = app_reload(a, err, errlen);
	if (ret)
		return ret;
	fputs("ok\n", out);
	if (q->json) {
		fputs("{\"result\": \"success\", \"config\": ", out);
		json_str(out, a->config_path ? a->config_path : "");
		fputs("}\n", out);
	} else {
		fprintf(out, "reloaded %s\n", a->config_path ? a->config_path : "");
	}
	return 0;
}

/* Splits "CMD [ARG] [json]" in place. Returns 0 or -EINVAL. */
static int parse_request(char *line, struct control_req *q)
{
	char *tok[4], *save = NULL, *s;
	int n = 0;

	memset(q, 0, sizeof(*q));
	for (s = strtok_r(line, " \t\r\n", &save); s; s = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 4)
			return -EINVAL;
		tok[n++] = s;
	}
	if (n == 0)
		return -EINVAL;
	if (n > 1 && !strcmp(tok[n - 1], "json")) {
		q->json = true;
		n--;
	}
	q->cmd = tok[0];
	if (n == 2)
		q->arg = tok[1];
	return n > 2 ? -EINVAL : 0;
}

/* Runs one command line and writes the whole answer: "ok\n" and the body, or
 * "error: MESSAGE\n". */
static void control_command(struct app *a, char *line, FILE *out)
{
	char err[CONFIG_ERR_LEN] = "";
	struct control_req q;
	int ret = 0;

	if (parse_request(line, &q)) {
		snprintf(err, sizeof(err),
			 "usage: status | stats | sessions [RELAY] | reload | filter, each "
			 "optionally followed by ' json'");
		ret = -EINVAL;
	} else if (q.arg && strcmp(q.cmd, "sessions")) {
		snprintf(err, sizeof(err), "%s takes no argument", q.cmd);
		ret = -EINVAL;
	} else if (!strcmp(q.cmd, "reload")) {
		ret = reload_cmd(a, &q, out, err, sizeof(err));
	} else {
		pthread_mutex_lock(&a->lock);
		if (!strcmp(q.cmd, "status")) {
			fputs("ok\n", out);
			if (q.json)
				status_json(a, out);
			else
				status_text(a, out);
		} else if (!strcmp(q.cmd, "stats")) {
			ret = stats_cmd(a, &q, out);
		} else if (!strcmp(q.cmd, "sessions")) {
			ret = sessions_cmd(a, &q, out, err, sizeof(err));
		} else if (!strcmp(q.cmd, "filter")) {
			ret = filter_cmd(a, &q, out, err, sizeof(err));
		} else {
			snprintf(err, sizeof(err),
				 "unknown command '%s' (status, stats, sessions, reload, filter)",
				 q.cmd);
			ret = -EINVAL;
		}
		pthread_mutex_unlock(&a->lock);
	}
	if (ret) {
		/* The commands print "ok" only once nothing can fail any more. */
		fprintf(out, "error: %s\n", err[0] ? err : strerror(-ret));
	}
}

/* ---------------------------------------------------------------- HTTP */

/* A short plain-text answer; the length is counted, never written by hand. */
static void http_plain(FILE *out, const char *status, const char *headers, const char *body)
{
	fprintf(out,
		"HTTP/1.0 %s\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		"Connection: close\r\n\r\n%s",
		status, headers, strlen(body), body);
}

static void http_answer(struct app *a, char *req, FILE *out)
{
	char *body = NULL, *path, *method, *version, *save = NULL, *q;
	struct snapshot s;
	size_t len = 0;
	FILE *f;
	int ret;

	method = strtok_r(req, " ", &save);
	path = strtok_r(NULL, " ", &save);
	version = strtok_r(NULL, "\r\n", &save);
	if (!method || !path || !version || strncmp(version, "HTTP/1.", 7)) {
		http_plain(out, "400 Bad Request", "", "bad request\n");
		return;
	}
	q = strchr(path, '?');
	if (q)
		*q = '\0';
	if (strcmp(path, "/metrics")) {
		http_plain(out, "404 Not Found", "", "not found: the metrics are at /metrics\n");
		return;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		http_plain(out, "405 Method Not Allowed", "Allow: GET, HEAD\r\n",
			   "method not allowed\n");
		return;
	}
	f = open_memstream(&body, &len);
	if (!f) {
		ret = -ENOMEM;
	} else {
		pthread_mutex_lock(&a->lock);
		ret = app_snapshot(a, &s);
		if (!ret)
			ret = metrics_format(&s, f);
		pthread_mutex_unlock(&a->lock);
		snapshot_fini(&s);
		if (fclose(f) && !ret)
			ret = -ENOMEM;
	}
	if (ret) {
		http_plain(out, "500 Internal Server Error", "", "rendering the metrics failed\n");
		free(body);
		return;
	}
	fprintf(out,
		"HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n",
		len);
	if (strcmp(method, "HEAD"))
		fwrite(body, 1, len, out);
	free(body);
}

/* ---------------------------------------------------------------- connections */

static void conn_close(struct control_conn *c)
{
	if (c->kind == CONTROL_CONN_FREE)
		return;
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->kind = CONTROL_CONN_FREE;
	c->fd = -1;
}

static void conn_accept(struct control *ctl, int lfd, enum control_kind kind)
{
	struct control_conn *c = NULL;
	uint32_t i;
	int fd;

	for (i = 0; i < CONTROL_MAX_CONNS; i++)
		if (ctl->conns[i].kind == CONTROL_CONN_FREE) {
			c = &ctl->conns[i];
			break;
		}
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (!c) {
		/* Every slot is busy: refusing one client beats waiting on the slow ones. */
		close(fd);
		return;
	}
	c->kind = kind;
	c->fd = fd;
	c->writing = false;
	c->req_len = 0;
	c->out = NULL;
	c->out_len = c->out_off = 0;
	c->deadline = control_now_ms() + CONTROL_TIMEOUT_MS;
}

/* The request is complete: build the answer and switch to writing it. */
static void conn_answer(struct control *ctl, struct control_conn *c)
{
	FILE *f;

	c->req[c->req_len] = '\0';
	f = open_memstream(&c->out, &c->out_len);
	if (!f) {
		conn_close(c);
		return;
	}
	if (c->kind == CONTROL_CONN_HTTP) {
		http_answer(ctl->a, c->req, f);
	} else {
		char *nl = strchr(c->req, '\n');

		if (nl)
			*nl = '\0';
		control_command(ctl->a, c->req, f);
	}
	if (fclose(f)) {
		conn_close(c);
		return;
	}
	c->writing = true;
	c->out_off = 0;
	/* A reload may have taken a while: the client gets a fresh allowance to read. */
	c->deadline = control_now_ms() + CONTROL_TIMEOUT_MS;
}

static bool request_complete(struct control_conn *c)
{
	if (c->kind == CONTROL_CONN_CTL)
		return memchr(c->req, '\n', c->req_len) != NULL;
	c->req[c->req_len] = '\0';
	return strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n");
}

static void conn_read(struct control *ctl, struct control_conn *c)
{
	size_t max = c->kind == CONTROL_CONN_CTL ? CONTROL_LINE_MAX : CONTROL_HTTP_MAX;
	ssize_t n;

	n = recv(c->fd, c->req + c->req_len, max - c->req_len, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	c->req_len += (size_t)n;
	if (n == 0) {
		/* The client closed its side: a control line may come without '\n'. */
		if (c->kind == CONTROL_CONN_CTL && c->req_len)
			conn_answer(ctl, c);
		else
			conn_close(c);
		return;
	}
	if (request_complete(c)) {
		conn_answer(ctl, c);
	} else if (c->req_len == max) {
		static const char ctl_err[] = "error: request longer than 512 bytes\n";
		static const char http_err[] =
			"HTTP/1.0 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n";
		const char *msg = c->kind == CONTROL_CONN_CTL ? ctl_err : http_err;

		send(c->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
		conn_close(c);
	}
}

static void conn_write(struct control_conn *c)
{
	ssize_t n;

	n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len)
		conn_close(c);
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;
	struct pollfd pfd[3 + CONTROL_MAX_CONNS];
	int idx[3 + CONTROL_MAX_CONNS];
	uint64_t now, next;
	uint32_t i;
	int n, k, timeout;

	for (;;) {
		n = 0;
		pfd[n++] = (struct pollfd){ .fd = ctl->stop_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ctl->unix_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ctl->http_fd, .events = POLLIN };
		now = control_now_ms();
		next = now + 60000;
		for (i = 0; i < CONTROL_MAX_CONNS; i++) {
			struct control_conn *c = &ctl->conns[i];

			if (c->kind == CONTROL_CONN_FREE)
				continue;
			if (c->deadline < next)
				next = c->deadline;
			idx[n] = (int)i;
			pfd[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->writing ? POLLOUT : POLLIN };
		}
		timeout = next > now ? (int)(next - now) : 0;
		k = poll(pfd, (nfds_t)n, timeout);
		if (k < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		for (k = 3; k < n; k++) {
			struct control_conn *c = &ctl->conns[idx[k]];

			if (!pfd[k].revents)
				continue;
			if (c->writing)
				conn_write(c);
			else
				conn_read(ctl, c);
		}
		now = control_now_ms();
		for (i = 0; i < CONTROL_MAX_CONNS; i++)
			if (ctl->conns[i].kind != CONTROL_CONN_FREE && ctl->conns[i].deadline <= now)
				conn_close(&ctl->conns[i]);
		if (pfd[1].revents & POLLIN)
			conn_accept(ctl, ctl->unix_fd, CONTROL_CONN_CTL);
		if (pfd[2].revents & POLLIN)
			conn_accept(ctl, ctl->http_fd, CONTROL_CONN_HTTP);
	}
	for (i = 0; i < CONTROL_MAX_CONNS; i++)
		conn_close(&ctl->conns[i]);
	return NULL;
}

/* ---------------------------------------------------------------- set-up */

/* Does a server answer on the unix socket at sa? */
static bool socket_answers(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool up;

	if (fd < 0)
		return false;
	/* EAGAIN means a listener with a full backlog: someone is there. */
	up = !connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) || errno == EAGAIN;
	close(fd);
	return up;
}

static int listen_unix(struct control *ctl, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket %s: must be an absolute path under %zu bytes",
			 path, sizeof(sa.sun_path));
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return ret;
	}
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	if (ret == -EADDRINUSE) {
		/* A file is in the way: a live daemon's socket, or one a crash left behind. */
		if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %s: exists and is not a socket", path);
			ret = -EEXIST;
			goto err_close;
		}
		if (socket_answers(&sa)) {
			snprintf(err, errlen,
				 "control socket %s: another ringrelay is running (it answers there)",
				 path);
			goto err_close;
		}
		log_notice("control socket %s: removing a stale socket", path);
		unlink(path);
		ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	}
	if (ret) {
		snprintf(err, errlen, "control socket %s: bind: %s", path, strerror(-ret));
		goto err_close;
	}
	/* Owner and group may control the daemon; the directory's mode does the rest. */
	if (chmod(path, 0660) || listen(fd, CONTROL_MAX_CONNS)) {
		ret = -errno;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		goto err_unlink;
	}
	ctl->unix_fd = fd;
	memcpy(ctl->path, sa.sun_path, sizeof(ctl->path));
	return 0;
err_unlink:
	unlink(path);
err_close:
	close(fd);
	return ret;
}

static int listen_http(struct control *ctl, const struct addr *at, char *err, size_t errlen)
{
	char ep[ADDR_STRLEN];
	int fd, ret, one = 1;

	fd = socket(addr_family(at), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "metrics listener: %s", strerror(errno));
		return ret;
	}
	/* A restart must not wait for TIME_WAIT of the previous daemon's scrapes. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &at->sa, addr_len(at)) || listen(fd, CONTROL_MAX_CONNS)) {
		ret = -errno;
		snprintf(err, errlen, "metrics listener %s: %s", addr_format(at, ep, sizeof(ep)),
			 strerror(errno));
		close(fd);
		return ret;
	}
	ctl->http_fd = fd;
	return 0;
}

int control_start(struct app *a, struct control **out, char *err, size_t errlen)
{
	struct control *ctl;
	char path[CONFIG_PATH_LEN];
	struct metrics_conf metrics;
	sigset_t all, old;
	uint32_t i;
	int ret;

	pthread_mutex_lock(&a->lock);
	snprintf(path, sizeof(path), "%s", a->rt.cfg->control_socket);
	metrics = a->rt.cfg->metrics;
	pthread_mutex_unlock(&a->lock);

	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "control: out of memory");
		return -ENOMEM;
	}
	ctl->a = a;
	ctl->unix_fd = ctl->http_fd = -1;
	for (i = 0; i < CONTROL_MAX_CONNS; i++)
		ctl->conns[i].fd = -1;
	ctl->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctl->stop_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "control: eventfd: %s", strerror(errno));
		goto err_free;
	}
	ret = listen_unix(ctl, path, err, errlen);
	if (ret)
		goto err_close_stop;
	if (metrics.enabled) {
		ret = listen_http(ctl, &metrics.listen, err, errlen);
		if (ret)
			goto err_close_unix;
	}

	/* The thread starts with every signal blocked, so only main's signalfd sees them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&ctl->thread, NULL, control_thread, ctl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		snprintf(err, errlen, "control: pthread_create: %s", strerror(-ret));
		goto err_close_http;
	}
	ctl->started = true;
	*out = ctl;
	return 0;

err_close_http:
	if (ctl->http_fd >= 0)
		close(ctl->http_fd);
err_close_unix:
	close(ctl->unix_fd);
	unlink(ctl->path);
err_close_stop:
	close(ctl->stop_fd);
err_free:
	free(ctl);
	return ret;
}

void control_stop(struct control *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	if (c->started) {
		if (write(c->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("control: cannot wake the control thread: %s", strerror(errno));
		pthread_join(c->thread, NULL);
	}
	if (c->http_fd >= 0)
		close(c->http_fd);
	close(c->unix_fd);
	unlink(c->path);
	close(c->stop_fd);
	free(c);
}
