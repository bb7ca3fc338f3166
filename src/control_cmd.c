// SPDX-License-Identifier: MIT
/* The command table and its handlers. A handler reads what its answer needs from the daemon
 * (a snapshot, the filter's counters, the workers' sessions) and hands it to control_view;
 * the body goes to a buffer first, so "ok" is sent only for an answer that is whole, with the
 * body's length, so that a client can tell a whole answer from one cut short. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "admin.h"
#include "app.h"
#include "control_cmd.h"
#include "control_view.h"
#include "filter.h"
#include "snapshot.h"
#include "upstream.h"

#define CONTROL_SESSIONS_MAX 10000 /* sessions listed; the answer says how many exist */

#define CONTROL_MAX_ARGS 3

/* A request: the command, its arguments, and whether it ends in the word "json". */
struct control_req {
	const char *cmd;
	const char *args[CONTROL_MAX_ARGS];
	unsigned int n_args;
	bool json;
};

/* A command's answer is a view of a snapshot (show), or what its handler gathers (run). */
struct control_cmd {
	const char *name;
	const char *arg; /* its arguments as the usage text names them; NULL when it takes none */
	unsigned int min_args, max_args;
	bool locked;	 /* runs under a->lock; reload takes the lock itself */
	/* The least a peer needs to run it: CONTROL_ADMIN for what changes the daemon's state
	 * (reload, upstream) or shows client addresses (sessions). */
	enum control_level level;
	int (*show)(const struct snapshot *s, bool json, FILE *out);
	/* Writes the answer's body to out. Returns 0, or -errno with err set (or empty, and
	 * the error's name is sent). */
	int (*run)(struct app *a, const struct control_req *q, FILE *out, char *err,
		   size_t errlen);
};

static int cmd_sessions(struct app *a, const struct control_req *q, FILE *out, char *err,
			size_t errlen)
{
	const struct config *cfg = a->rt.cfg;
	const char *arg = q->args[0];
	bool json = q->json;
	struct control_sessions ss = { 0 };
	struct session_info *info;
	uint32_t relay = UINT32_MAX;
	int ret;

	if (arg) {
		for (relay = 0; relay < cfg->n_relays; relay++)
			if (!strcmp(cfg->relays[relay].name, arg))
				break;
		if (relay == cfg->n_relays) {
			snprintf(err, errlen, "no relay named '%s'", arg);
			return -ENOENT;
		}
	}
	info = calloc(CONTROL_SESSIONS_MAX, sizeof(*info));
	if (!info)
		return -ENOMEM;
	ret = runtime_sessions(&a->rt, relay, info, CONTROL_SESSIONS_MAX, &ss.total, err, errlen);
	if (ret < 0) {
		if (ret != -ECANCELED) /* else the runtime keeps it for a stuck worker */
			free(info);
		return ret;
	}
	/* Tolerate both "0" and "the number copied" as success. */
	ss.info = info;
	ss.fast = a->rt.fast != NULL;
	ss.n = ret > 0 ? (uint32_t)ret : ss.total;
	if (ss.n > CONTROL_SESSIONS_MAX)
		ss.n = CONTROL_SESSIONS_MAX;
	ret = control_view_sessions(&ss, cfg, json, out);
	free(info);
	return ret;
}

/* A reload's answer once it succeeded, with its warnings (app_reload's). */
static int reload_body(struct app *a, bool json, const char *warnings, FILE *out)
{
	/* The path never changes, so reading it without the lock is safe. */
	return control_view_reload(a->config_path ? a->config_path : "", warnings, json, out);
}

/* The admin thread holds what a reload of the filter may need, and runs it while the
 * connection waits (control_cmd_run defers it); without one (tests) the reload runs here. */
static int cmd_reload(struct app *a, const struct control_req *q, FILE *out, char *err,
		      size_t errlen)
{
	int ret = app_reload(a, err, errlen);

	return ret ? ret : reload_body(a, q->json, err, out);
}

static int cmd_filter(struct app *a, const struct control_req *q, FILE *out, char *err,
		      size_t errlen)
{
	const struct filter_conf *fc = app_filter_conf(a);
	bool json = q->json;
	struct filter_stats *st;
	int ret;

	/* The program may be loaded for the fast path or shedding alone: no filter then. */
	if (!a->filter || fc->mode == FILTER_MODE_OFF)
		return control_view_filter(fc, NULL, json, out);
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ret = app_filter_stats(a, st);
	if (ret)
		snprintf(err, errlen, "reading filter counters: %s", strerror(-ret));
	else
		ret = control_view_filter(fc, st, json, out);
	free(st);
	return ret;
}

/* The index of relay name in the config in force, or -ENOENT with err set. */
static int control_relay(const struct app *a, const char *name, char *err, size_t errlen)
{
	uint32_t i;

	for (i = 0; i < a->rt.cfg->n_relays; i++)
		if (!strcmp(a->rt.cfg->relays[i].name, name))
			return (int)i;
	snprintf(err, errlen, "no relay named '%s'", name);
	return -ENOENT;
}

static int cmd_upstreams(struct app *a, const struct control_req *q, FILE *out, char *err,
			 size_t errlen)
{
	struct snapshot s;
	int ret, relay = -1;

	if (q->n_args) {
		relay = control_relay(a, q->args[0], err, errlen);
		if (relay < 0)
			return relay;
	}
	ret = app_snapshot(a, &s);
	if (!ret)
		ret = control_view_upstreams(&s, relay, q->json, out);
	snapshot_fini(&s);
	return ret;
}

static int cmd_upstream(struct app *a, const struct control_req *q, FILE *out, char *err,
			size_t errlen)
{
	bool enable = !strcmp(q->args[0], "enable");
	int ret;

	if (!enable && strcmp(q->args[0], "disable")) {
		snprintf(err, errlen, "usage: upstream disable|enable RELAY ADDRESS");
		return -EINVAL;
	}
	ret = upstream_set_enabled(&a->rt, q->args[1], q->args[2], enable, err, errlen);
	if (ret < 0)
		return ret;
	return control_view_upstream_set(q->args[1], q->args[2], enable, (uint32_t)ret, q->json,
					 out);
}

/* The snapshot, and the receive path of the listen interfaces, read now (a link change or
 * a new RPS mask shows at once); on the control thread, never on a worker's. */
static int cmd_status(struct app *a, const struct control_req *q, FILE *out, char *err,
		      size_t errlen)
{
	struct snapshot s;
	int ret;

	ret = app_snapshot(a, &s);
	if (!ret)
		ret = app_rxreport(a, &s.rxpath);
	if (!ret)
		ret = control_view_status(&s, q->json, out);
	snapshot_fini(&s);
	return ret;
}

static const struct control_cmd control_cmds[] = {
	{ "status", NULL, 0, 0, true, CONTROL_READ, NULL, cmd_status },
	{ "stats", NULL, 0, 0, true, CONTROL_READ, control_view_stats, NULL },
	{ "sessions", "[RELAY]", 0, 1, true, CONTROL_ADMIN, NULL, cmd_sessions },
	{ "upstreams", "[RELAY]", 0, 1, true, CONTROL_READ, NULL, cmd_upstreams },
	{ "upstream", "disable|enable RELAY ADDRESS", 3, 3, true, CONTROL_ADMIN, NULL,
	  cmd_upstream },
	{ "reload", NULL, 0, 0, false, CONTROL_ADMIN, NULL, cmd_reload },
	{ "filter", NULL, 0, 0, true, CONTROL_READ, NULL, cmd_filter },
};

#define CONTROL_N_CMDS (sizeof(control_cmds) / sizeof(control_cmds[0]))

/* The command names joined by sep, each followed by its argument when with_args. */
static void control_cmd_names(char *buf, size_t len, const char *sep, bool with_args)
{
	const char *lead = "";
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < CONTROL_N_CMDS && n < len; i++) {
		const struct control_cmd *c = &control_cmds[i];
		bool arg = with_args && c->arg;

		n += (size_t)snprintf(buf + n, len - n, "%s%s%s%s", lead, c->name, arg ? " " : "",
				      arg ? c->arg : "");
		lead = sep;
	}
}

enum control_level control_level_of(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
				    uid_t daemon_uid, gid_t read_only_gid)
{
	size_t i;

	if (uid == 0 || uid == daemon_uid)
		return CONTROL_ADMIN;
	if (read_only_gid == (gid_t)-1)
		return CONTROL_DENIED;
	if (gid == read_only_gid)
		return CONTROL_READ;
	for (i = 0; i < n_groups; i++)
		if (groups[i] == read_only_gid)
			return CONTROL_READ;
	return CONTROL_DENIED;
}

void control_cmd_list(enum control_level level, char *buf, size_t len)
{
	const char *lead = "";
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < CONTROL_N_CMDS && n < len; i++) {
		if (control_cmds[i].level > level)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", lead, control_cmds[i].name);
		lead = ", ";
	}
}

/* Splits "CMD [ARG...] [json]" in place. Returns 0 or -EINVAL. */
static int control_parse(char *line, struct control_req *q)
{
	char *tok[CONTROL_MAX_ARGS + 3], *save = NULL, *s;
	int n = 0, i;

	memset(q, 0, sizeof(*q));
	for (s = strtok_r(line, " \t\r\n", &save); s; s = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == CONTROL_MAX_ARGS + 2)
			return -EINVAL;
		tok[n++] = s;
	}
	if (n == 0)
		return -EINVAL;
	if (n > 1 && !strcmp(tok[n - 1], "json")) {
		q->json = true;
		n--;
	}
	if (n - 1 > CONTROL_MAX_ARGS)
		return -EINVAL;
	q->cmd = tok[0];
	for (i = 1; i < n; i++)
		q->args[q->n_args++] = tok[i];
	return 0;
}

/* The table's entry for q, or NULL with err saying what is wrong with the request. */
static const struct control_cmd *control_find(const struct control_req *q, char *err,
					      size_t errlen)
{
	const struct control_cmd *c = NULL;
	char names[160];
	size_t i;

	for (i = 0; i < CONTROL_N_CMDS && !c; i++)
		if (!strcmp(q->cmd, control_cmds[i].name))
			c = &control_cmds[i];
	if (!c) {
		control_cmd_names(names, sizeof(names), ", ", false);
		snprintf(err, errlen, "unknown command '%s' (%s)", q->cmd, names);
		return NULL;
	}
	if (q->n_args && !c->arg) {
		snprintf(err, errlen, "%s takes no argument", q->cmd);
		return NULL;
	}
	if (q->n_args < c->min_args || q->n_args > c->max_args) {
		snprintf(err, errlen, "usage: %s %s", c->name, c->arg);
		return NULL;
	}
	return c;
}

/* A snapshot of a (locked by the caller), rendered by show. */
static int control_show(struct app *a, int (*show)(const struct snapshot *, bool, FILE *),
			bool json, FILE *out)
{
	struct snapshot s;
	int ret;

	ret = app_snapshot(a, &s);
	if (!ret)
		ret = show(&s, json, out);
	snapshot_fini(&s);
	return ret;
}

/* A whole answer: "ok LENGTH" (the body's bytes), then the body. */
static void answer_ok(FILE *out, const char *body, size_t len)
{
	fprintf(out, "ok %zu\n", len);
	fwrite(body, 1, len, out);
}

/* Runs c and writes "ok LENGTH" and its body to out; 0 or -errno with err set. */
static int control_answer(struct app *a, const struct control_cmd *c, const struct control_req *q,
			  FILE *out, char *err, size_t errlen)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	f = open_memstream(&body, &len);
	if (!f)
		return -ENOMEM;
	if (c->locked)
		pthread_mutex_lock(&a->lock);
	if (c->show)
		ret = control_show(a, c->show, q->json, f);
	else
		ret = c->run(a, q, f, err, errlen);
	if (c->locked)
		pthread_mutex_unlock(&a->lock);
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	if (!ret)
		answer_ok(out, body, len);
	free(body);
	return ret;
}

void control_cmd_finish(struct app *a, const struct control_pending *p, int ret, const char *err,
			FILE *out)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	if (!ret) {
		f = open_memstream(&body, &len);
		ret = f ? reload_body(a, p->json, err, f) : -ENOMEM;
		if (f && fclose(f) && !ret)
			ret = -ENOMEM;
		err = "";
	}
	if (ret) {
		fprintf(out, "error: %s\n", err[0] ? err : strerror(-ret));
	} else {
		answer_ok(out, body, len);
	}
	free(body);
}

bool control_cmd_run(struct app *a, char *line, enum control_level level, FILE *out,
		     struct control_pending *pend)
{
	char err[CONFIG_ERR_LEN] = "", names[256];
	const struct control_cmd *c;
	struct control_req q;
	int ret = -EINVAL;

	if (control_parse(line, &q)) {
		control_cmd_names(names, sizeof(names), " | ", true);
		snprintf(err, sizeof(err), "usage: %s, each optionally followed by ' json'", names);
	} else {
		c = control_find(&q, err, sizeof(err));
		if (c && c->level > level) {
			control_cmd_list(level, names, sizeof(names));
			snprintf(err, sizeof(err), "permission denied: %s needs %s%s%s", c->name,
				 c->level == CONTROL_ADMIN
				     ? "admin access (root or the daemon's user)"
				     : "read access (control_access.read_only_group)",
				 names[0] ? "; this connection may run " : "", names);
			ret = -EACCES;
		} else if (c && c->run == cmd_reload && a->admin) {
			pend->ticket = admin_reload_ask(a->admin);
			pend->json = q.json;
			return true;
		} else if (c) {
			ret = control_answer(a, c, &q, out, err, sizeof(err));
		}
	}
	if (ret)
		fprintf(out, "error: %s\n", err[0] ? err : strerror(-ret));
	return false;
}
