// SPDX-License-Identifier: MIT
/* The command table and its handlers. A handler reads what its answer needs from the daemon
 * (a snapshot, the filter's counters, the workers' sessions) and hands it to control_view;
 * the body goes to a buffer first, so "ok" is sent only for an answer that is whole. */
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

#define CONTROL_SESSIONS_MAX 10000 /* sessions listed; the answer says how many exist */

/* A command's answer is a view of a snapshot (show), or what its handler gathers (run). */
struct control_cmd {
	const char *name;
	const char *arg; /* its argument as the usage text names it; NULL when it takes none */
	enum control_level level; /* the least a peer needs to run it */
	bool locked;	 /* runs under a->lock; reload takes the lock itself */
	int (*show)(const struct snapshot *s, bool json, FILE *out);
	/* Writes the answer's body to out. Returns 0, or -errno with err set (or empty, and
	 * the error's name is sent). */
	int (*run)(struct app *a, const char *arg, bool json, FILE *out, char *err, size_t errlen);
};

static int cmd_sessions(struct app *a, const char *arg, bool json, FILE *out, char *err,
			size_t errlen)
{
	const struct config *cfg = a->rt.cfg;
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
		free(info);
		return ret;
	}
	/* Tolerate both "0" and "the number copied" as success. */
	ss.info = info;
	ss.n = ret > 0 ? (uint32_t)ret : ss.total;
	if (ss.n > CONTROL_SESSIONS_MAX)
		ss.n = CONTROL_SESSIONS_MAX;
	ret = control_view_sessions(&ss, cfg, json, out);
	free(info);
	return ret;
}

static int cmd_reload(struct app *a, const char *arg, bool json, FILE *out, char *err,
		      size_t errlen)
{
	int ret;

	/* The admin thread holds what a reload of the filter may need; without it (tests)
	 * the reload runs here. */
	ret = a->admin ? admin_reload(a->admin, err, errlen) : app_reload(a, err, errlen);
	if (ret)
		return ret;
	/* The path never changes, so reading it without the lock is safe. */
	return control_view_reload(a->config_path ? a->config_path : "", json, out);
}

static int cmd_filter(struct app *a, const char *arg, bool json, FILE *out, char *err,
		      size_t errlen)
{
	struct filter_stats *st;
	int ret;

	if (!a->filter)
		return control_view_filter(&a->rt.cfg->filter, NULL, json, out);
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ret = filter_read_stats(a->filter, st);
	if (ret)
		snprintf(err, errlen, "reading filter counters: %s", strerror(-ret));
	else
		ret = control_view_filter(&a->rt.cfg->filter, st, json, out);
	free(st);
	return ret;
}

/* sessions lists client addresses and reload changes what runs: both need admin. */
static const struct control_cmd control_cmds[] = {
	{ "status", NULL, CONTROL_READ, true, control_view_status, NULL },
	{ "stats", NULL, CONTROL_READ, true, control_view_stats, NULL },
	{ "sessions", "[RELAY]", CONTROL_ADMIN, true, NULL, cmd_sessions },
	{ "reload", NULL, CONTROL_ADMIN, false, NULL, cmd_reload },
	{ "filter", NULL, CONTROL_READ, true, NULL, cmd_filter },
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

/* A request: the command, its argument, and whether it ends in the word "json". */
struct control_req {
	const char *cmd;
	const char *arg;
	bool json;
};

/* Splits "CMD [ARG] [json]" in place. Returns 0 or -EINVAL. */
static int control_parse(char *line, struct control_req *q)
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

/* The table's entry for q, or NULL with err saying what is wrong with the request. */
static const struct control_cmd *control_find(const struct control_req *q, char *err,
					      size_t errlen)
{
	const struct control_cmd *c = NULL;
	char names[128];
	size_t i;

	for (i = 0; i < CONTROL_N_CMDS && !c; i++)
		if (!strcmp(q->cmd, control_cmds[i].name))
			c = &control_cmds[i];
	if (q->arg && (!c || !c->arg)) {
		snprintf(err, errlen, "%s takes no argument", q->cmd);
		return NULL;
	}
	if (!c) {
		control_cmd_names(names, sizeof(names), ", ", false);
		snprintf(err, errlen, "unknown command '%s' (%s)", q->cmd, names);
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

/* Runs c and writes its body to out; 0 or -errno with err set. */
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
		ret = c->run(a, q->arg, q->json, f, err, errlen);
	if (c->locked)
		pthread_mutex_unlock(&a->lock);
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	if (!ret) {
		fputs("ok\n", out);
		fwrite(body, 1, len, out);
	}
	free(body);
	return ret;
}

void control_cmd_run(struct app *a, char *line, enum control_level level, FILE *out)
{
	char err[CONFIG_ERR_LEN] = "", names[128];
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
		} else if (c) {
			ret = control_answer(a, c, &q, out, err, sizeof(err));
		}
	}
	if (ret)
		fprintf(out, "error: %s\n", err[0] ? err : strerror(-ret));
}
