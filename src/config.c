// SPDX-License-Identifier: MIT
/* Config parsing and validation on top of libconfig. libconfig gives us the syntax and line
 * numbers; everything about meaning (names, types, ranges, cross checks) happens here, so a
 * user gets exactly one "FILE:LINE: SETTING: what is wrong" line for the first mistake. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"

/* The config words; the enum value indexes its word. */
static const char *const backend_words[] = {[IO_BACKEND_AUTO] = "auto",
					    [IO_BACKEND_IO_URING] = "io_uring",
					    [IO_BACKEND_MMSG] = "mmsg",
					    NULL};
static const char *const mode_words[] = {
    [RELAY_MODE_FORWARD] = "forward", [RELAY_MODE_MIRROR] = "mirror", NULL};
static const char *const balance_words[] = {
    [BALANCE_RR] = "rr", [BALANCE_HASH] = "hash", [BALANCE_MAGLEV] = "maglev", NULL};
static const char *const filter_mode_words[] = {[FILTER_MODE_OFF] = "off",
						[FILTER_MODE_XDP] = "xdp",
						[FILTER_MODE_XDP_GENERIC] = "xdp-generic",
						[FILTER_MODE_TC] = "tc",
						NULL};
static const char *const verdict_words[] = {
    [FILTER_VERDICT_ALLOW] = "allow", [FILTER_VERDICT_DENY] = "deny", NULL};
static const char *const scope_words[] = {
    [FILTER_SCOPE_RELAYS] = "relays", [FILTER_SCOPE_UDP] = "udp", NULL};

/* The settings each group accepts; anything else is a typo and an error. */
static const char *const root_keys[] = {"workers", "io_backend",     "cpus",   "buffer_size",
					"buffers", "gro",	     "stats_interval",
					"user",	   "control_socket", "metrics", "relays",
					"filter",  NULL};
static const char *const metrics_keys[] = {"listen", NULL};
static const char *const relay_keys[] = {"name",    "listen",	       "upstreams",    "mode",
					 "balance", "session_timeout", "max_sessions", NULL};
static const char *const filter_keys[] = {"interfaces", "mode",	 "default", "scope",
					  "deny",	"allow", "ports",   "relay_ports_only",
					  "rate_limit", "pin",	 NULL};
static const char *const port_rule_keys[] = {"ports", "verdict", NULL};
static const char *const rate_keys[] = {"pps", "burst", "prefix4", "prefix6", NULL};

#define CONFIG_MAX_FILE_SIZE (16u << 20)
#define CONFIG_MAX_SECONDS 86400.0
#define CONFIG_MAX_WORKERS 1024
#define CONFIG_MAX_SESSIONS 4194304
#define CONFIG_MAX_PPS 1000000000
#define CONFIG_MAX_BURST 2147483647
#define CONFIG_UPSTREAM_TEXT 128
#define CONFIG_SUN_PATH_LEN (sizeof(((struct sockaddr_un *)0)->sun_path))
/* A filter section without a mode setting */
#define CONFIG_FILTER_MODE_PRESENT FILTER_MODE_XDP

/* The only place defaults are set. Every relay slot gets the relay defaults, so parsing a
 * relay only overrides what the file says. */
static void config_set_defaults(struct config *cfg)
{
	const char *why;
	uint32_t i;

	cfg->workers = 0; /* plan picks one per CPU */
	cfg->io_backend = IO_BACKEND_AUTO;
	cfg->n_cpus = 0;
	cfg->buffer_size = 2048;
	cfg->buffers = 4096;
	cfg->stats_interval = 5.0;
	cfg->user[0] = '\0';
	snprintf(cfg->control_socket, sizeof(cfg->control_socket), "%s",
		 CONFIG_DEFAULT_CONTROL_SOCKET);
	cfg->metrics.enabled = false; /* a metrics section turns it on */
	addr_parse("127.0.0.1:9470", &cfg->metrics.listen, &why);
	for (i = 0; i < CONFIG_MAX_RELAYS; i++) {
		struct relay_conf *r = &cfg->relays[i];

		r->mode = RELAY_MODE_FORWARD;
		r->balance = BALANCE_RR;
		r->session_timeout = 30.0;
		r->max_sessions = 4096;
	}
	cfg->filter.mode = FILTER_MODE_OFF; /* until a filter section says otherwise */
	cfg->filter.default_verdict = FILTER_VERDICT_ALLOW;
	cfg->filter.scope = FILTER_SCOPE_RELAYS;
	cfg->filter.relay_ports_only = false;
	cfg->filter.rate_pps = 0;
	cfg->filter.rate_burst = 0; /* = pps unless given */
	cfg->filter.rate_prefix4 = 32;
	cfg->filter.rate_prefix6 = 128;
	cfg->filter.pin = false;
}

struct config_parser {
	const char *name; /* file name for messages */
	char *err;
	size_t errlen;
	struct config *cfg;
};

/* ---------------------------------------------------------------- messages */

/* Dotted path a user recognises: "relays[0].upstreams[1]"; "" for the root. */
static void config_path(const config_setting_t *s, char *buf, size_t len)
{
	size_t n;

	buf[0] = '\0';
	if (!s || config_setting_is_root(s))
		return;
	config_path(config_setting_parent(s), buf, len);
	n = strlen(buf);
	if (config_setting_name(s))
		snprintf(buf + n, len - n, "%s%s", n ? "." : "", config_setting_name(s));
	else
		snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
}

/* libconfig leaves some elements without a line; the closest ancestor's line is the best. */
static int config_line(const config_setting_t *s)
{
	for (; s; s = config_setting_parent(s))
		if (config_setting_source_line(s))
			return (int)config_setting_source_line(s);
	return 0;
}

/* An @include'd file names itself; the main text has no file name inside libconfig. */
static const char *config_file(const struct config_parser *p, const config_setting_t *s)
{
	for (; s; s = config_setting_parent(s))
		if (config_setting_source_file(s))
			return config_setting_source_file(s);
	return p->name;
}

/* Formats "FILE[:LINE]: [PATH: ]MSG" and returns -EINVAL for the caller to pass up. */
static int __attribute__((format(printf, 5, 0)))
config_verr(struct config_parser *p, const config_setting_t *at, const char *path, int line,
	    const char *fmt, va_list ap)
{
	char msg[CONFIG_ERR_LEN];
	char lbuf[16] = "";

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		snprintf(lbuf, sizeof(lbuf), ":%d", line);
	snprintf(p->err, p->errlen, "%s%s: %s%s%s", config_file(p, at), lbuf, path,
		 *path ? ": " : "", msg);
	return -EINVAL;
}

/* An error about setting s itself. */
static int __attribute__((format(printf, 3, 4)))
config_err(struct config_parser *p, const config_setting_t *s, const char *fmt, ...)
{
	char path[256];
	va_list ap;
	int ret;

	config_path(s, path, sizeof(path));
	va_start(ap, fmt);
	ret = config_verr(p, s, path, config_line(s), fmt, ap);
	va_end(ap);
	return ret;
}

/* An error about member `name` of group g, which may be missing: so g's line. */
static int __attribute__((format(printf, 4, 5)))
config_err_member(struct config_parser *p, const config_setting_t *g, const char *name,
		  const char *fmt, ...)
{
	char path[256];
	size_t n;
	va_list ap;
	int ret;

	config_path(g, path, sizeof(path));
	n = strlen(path);
	snprintf(path + n, sizeof(path) - n, "%s%s", n ? "." : "", name);
	va_start(ap, fmt);
	ret = config_verr(p, g, path, config_line(g), fmt, ap);
	va_end(ap);
	return ret;
}

/* An error at setting at's line, under an explicit path. */
static int __attribute__((format(printf, 4, 5)))
config_err_at(struct config_parser *p, const config_setting_t *at, const char *path,
	      const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = config_verr(p, at, path, config_line(at), fmt, ap);
	va_end(ap);
	return ret;
}

static void config_join_words(const char *const *words, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; *words && n < len; words++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", *words);
}

/* ---------------------------------------------------------------- typed getters */

static int config_check_keys(struct config_parser *p, const config_setting_t *g,
			     const char *const *keys)
{
	char known[256], path[256];
	int i, n = config_setting_length(g);

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned int)i);
		const char *name = config_setting_name(m);
		const char *const *k;

		for (k = keys; *k; k++)
			if (strcmp(*k, name) == 0)
				break;
		if (*k)
			continue;
		config_join_words(keys, known, sizeof(known));
		config_path(g, path, sizeof(path));
		/* the line of the unknown setting, the path of the group that holds it */
		return config_err_at(p, m, path, "unknown setting '%s' (expected one of: %s)", name,
				     known);
	}
	return 0;
}

static int config_get_int(struct config_parser *p, const config_setting_t *s, long long lo,
			  long long hi, long long *out)
{
	int type = config_setting_type(s);
	long long v;

	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
		return config_err(p, s, "must be an integer");
	v = config_setting_get_int64(s);
	if (v < lo || v > hi)
		return config_err(p, s, "must be from %lld to %lld", lo, hi);
	*out = v;
	return 0;
}

/* Seconds: an integer or a float, > 0 and at most CONFIG_MAX_SECONDS. */
static int config_get_seconds(struct config_parser *p, const config_setting_t *s, double *out)
{
	int type = config_setting_type(s);
	double v;

	if (type == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
		v = (double)config_setting_get_int64(s);
	else
		return config_err(p, s, "must be a number of seconds");
	/* written so that NaN fails too */
	if (!(v > 0.0 && v <= CONFIG_MAX_SECONDS))
		return config_err(p, s, "must be greater than 0 and at most %.0f seconds",
				  CONFIG_MAX_SECONDS);
	*out = v;
	return 0;
}

static int config_get_string(struct config_parser *p, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return config_err(p, s, "must be a string");
	*out = config_setting_get_string(s);
	return 0;
}

static int config_get_word(struct config_parser *p, const config_setting_t *s,
			   const char *const *words, int *out)
{
	const char *v = NULL;
	char known[128];
	int i, err;

	err = config_get_string(p, s, &v);
	if (err)
		return err;
	for (i = 0; words[i]; i++) {
		if (strcmp(words[i], v) == 0) {
			*out = i;
			return 0;
		}
	}
	config_join_words(words, known, sizeof(known));
	return config_err(p, s, "must be one of: %s", known);
}

static int config_get_bool(struct config_parser *p, const config_setting_t *s, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return config_err(p, s, "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

/* A [ ... ] array or ( ... ) list of min..max elements, all of elem_type. */
static int config_get_list(struct config_parser *p, const config_setting_t *s, int elem_type,
			   unsigned int min, unsigned int max, unsigned int *n)
{
	static const char *const what[] = {
	    [CONFIG_TYPE_INT] = "a list of integers, e.g. [ 0, 1 ]",
	    [CONFIG_TYPE_STRING] = "a list of strings, e.g. [ \"a\", \"b\" ]",
	    [CONFIG_TYPE_GROUP] = "a list of groups, e.g. ( { ... }, { ... } )",
	};
	unsigned int i, len;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return config_err(p, s, "must be %s", what[elem_type]);
	len = (unsigned int)config_setting_length(s);
	for (i = 0; i < len; i++) {
		int t = config_setting_type(config_setting_get_elem(s, i));

		if (elem_type == CONFIG_TYPE_INT && t == CONFIG_TYPE_INT64)
			t = CONFIG_TYPE_INT;
		if (t != elem_type)
			return config_err(p, s, "must be %s", what[elem_type]);
	}
	if (len < min || len > max)
		return config_err(p, s, "must have %u to %u entries (has %u)", min, max, len);
	*n = len;
	return 0;
}

/* Optional members: absent leaves the default in place. */
static int config_opt_u32(struct config_parser *p, const config_setting_t *g, const char *name,
			  long long lo, long long hi, uint32_t *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	long long v = 0;
	int err;

	if (!s)
		return 0;
	err = config_get_int(p, s, lo, hi, &v);
	if (!err)
		*out = (uint32_t)v;
	return err;
}

static int config_opt_word(struct config_parser *p, const config_setting_t *g, const char *name,
			   const char *const *words, int *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	return s ? config_get_word(p, s, words, out) : 0;
}

static int config_opt_bool(struct config_parser *p, const config_setting_t *g, const char *name,
			   bool *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	return s ? config_get_bool(p, s, out) : 0;
}

static int config_opt_seconds(struct config_parser *p, const config_setting_t *g, const char *name,
			      double *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	return s ? config_get_seconds(p, s, out) : 0;
}

/* Enum members go through an int, so one word getter serves every enum type. */
#define config_opt_enum(p, g, name, words, field)                                                  \
	({                                                                                         \
		int v_ = (int)(field);                                                             \
		int e_ = config_opt_word(p, g, name, words, &v_);                                  \
		(field) = v_;                                                                      \
		e_;                                                                                \
	})

/* A string member that must fit in len bytes with its NUL. */
static int config_opt_string(struct config_parser *p, const config_setting_t *g, const char *name,
			     char *dst, size_t len)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	const char *v = NULL;
	int err;

	if (!s)
		return 0;
	err = config_get_string(p, s, &v);
	if (err)
		return err;
	if (strlen(v) >= len)
		return config_err(p, s, "too long (at most %zu bytes)", len - 1);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* ---------------------------------------------------------------- top level */

static int config_parse_cpus(struct config_parser *p, const config_setting_t *root)
{
	const config_setting_t *s = config_setting_get_member(root, "cpus");
	struct config *cfg = p->cfg;
	unsigned int i, j, n;
	int err;

	if (!s)
		return 0;
	err = config_get_list(p, s, CONFIG_TYPE_INT, 0, CONFIG_MAX_CPUS, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		long long v = 0;

		err = config_get_int(p, e, 0, CONFIG_MAX_CPUS - 1, &v);
		if (err)
			return err;
		for (j = 0; j < i; j++)
			if (cfg->cpus[j] == v)
				return config_err(p, e, "CPU %lld is listed twice", v);
		cfg->cpus[i] = (int)v;
	}
	cfg->n_cpus = n;
	return 0;
}

static int config_parse_metrics(struct config_parser *p, const config_setting_t *root)
{
	const config_setting_t *g = config_setting_get_member(root, "metrics");
	struct metrics_conf *m = &p->cfg->metrics;
	const char *text = NULL, *why;
	const config_setting_t *s;
	int err;

	if (!g)
		return 0;
	if (!config_setting_is_group(g))
		return config_err(p, g, "must be a group, e.g. { listen = \"127.0.0.1:9470\"; }");
	err = config_check_keys(p, g, metrics_keys);
	if (err)
		return err;
	m->enabled = true;
	s = config_setting_get_member(g, "listen");
	if (!s)
		return 0;
	err = config_get_string(p, s, &text);
	if (err)
		return err;
	if (addr_parse(text, &m->listen, &why))
		return config_err(p, s, "%s", why);
	if (addr_port(&m->listen) == 0)
		return config_err(p, s, "port must not be 0");
	return 0;
}

/* ---------------------------------------------------------------- relays */

static bool config_name_ok(const char *name)
{
	for (; *name; name++)
		if (!isalnum((unsigned char)*name) && !strchr("_.-", *name))
			return false;
	return true;
}

/* A listener clashes with an earlier one when both would bind the same family and port and
 * the addresses are equal or either is the wildcard (the kernel refuses the second bind, or
 * with SO_REUSEPORT the two would share traffic). */
static int config_check_listener(struct config_parser *p, const config_setting_t *s,
				 const struct addr *a, uint32_t relay, uint32_t idx)
{
	const struct config *cfg = p->cfg;
	char mine[ADDR_STRLEN], theirs[ADDR_STRLEN];
	uint32_t r, i;

	for (r = 0; r <= relay; r++) {
		const struct relay_conf *rc = &cfg->relays[r];
		uint32_t n = r == relay ? idx : rc->n_listen;

		for (i = 0; i < n; i++) {
			const struct addr *b = &rc->listen[i];

			if (addr_family(a) != addr_family(b) || addr_port(a) != addr_port(b))
				continue;
			addr_format(a, mine, sizeof(mine));
			addr_format(b, theirs, sizeof(theirs));
			if (addr_equal(a, b))
				return config_err(p, s, "%s is already a listener of relay '%s'",
						  mine, rc->name);
			if (addr_is_any(a) || addr_is_any(b))
				return config_err(p, s, "%s overlaps %s of relay '%s'", mine,
						  theirs, rc->name);
		}
	}
	return 0;
}

static int config_parse_listen(struct config_parser *p, const config_setting_t *g, uint32_t relay)
{
	const config_setting_t *s = config_setting_get_member(g, "listen");
	struct relay_conf *r = &p->cfg->relays[relay];
	unsigned int i, n;
	int err;

	if (!s)
		return config_err_member(p, g, "listen",
					 "missing; give 1 to %d addresses like \"198.18.1.2:5000\"",
					 CONFIG_MAX_LISTEN);
	err = config_get_list(p, s, CONFIG_TYPE_STRING, 1, CONFIG_MAX_LISTEN, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *why;

		if (addr_parse(config_setting_get_string(e), &r->listen[i], &why))
			return config_err(p, e, "%s", why);
		if (addr_port(&r->listen[i]) == 0)
			return config_err(p, e, "port must not be 0");
		err = config_check_listener(p, e, &r->listen[i], relay, i);
		if (err)
			return err;
	}
	r->n_listen = n;
	return 0;
}

/* "ADDRESS:PORT" optionally followed by "weight=N" (1..100). */
static int config_parse_upstream(struct config_parser *p, const config_setting_t *e,
				 struct upstream_conf *u)
{
	const char *text = config_setting_get_string(e);
	char buf[CONFIG_UPSTREAM_TEXT], *opt, *save = NULL;
	const char *why;

	if (strlen(text) >= sizeof(buf))
		return config_err(p, e, "too long (at most %zu bytes)", sizeof(buf) - 1);
	memcpy(buf, text, strlen(text) + 1);
	opt = strtok_r(buf, " \t", &save);
	if (!opt)
		return config_err(p, e, "expected \"ADDRESS:PORT [weight=N]\"");
	if (addr_parse(opt, &u->addr, &why))
		return config_err(p, e, "%s", why);
	if (addr_port(&u->addr) == 0)
		return config_err(p, e, "port must not be 0");
	if (addr_is_any(&u->addr))
		return config_err(p, e, "an upstream needs a specific address, not a wildcard");
	u->weight = 1;
	while ((opt = strtok_r(NULL, " \t", &save))) {
		char *end;
		long w;

		if (strncmp(opt, "weight=", 7) != 0)
			return config_err(p, e, "unknown option '%s' (expected weight=N)", opt);
		errno = 0;
		w = strtol(opt + 7, &end, 10);
		if (!isdigit((unsigned char)opt[7]) || *end || errno || w < 1 || w > 100)
			return config_err(p, e, "weight must be from 1 to 100");
		u->weight = (uint32_t)w;
	}
	return 0;
}

static int config_parse_upstreams(struct config_parser *p, const config_setting_t *g,
				  struct relay_conf *r)
{
	const config_setting_t *s = config_setting_get_member(g, "upstreams");
	char text[ADDR_STRLEN];
	unsigned int i, j, n;
	int err;

	if (!s)
		return config_err_member(p, g, "upstreams",
					 "missing; give 1 to %d addresses like \"198.18.2.2:9000\"",
					 CONFIG_MAX_UPSTREAMS);
	err = config_get_list(p, s, CONFIG_TYPE_STRING, 1, CONFIG_MAX_UPSTREAMS, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);

		err = config_parse_upstream(p, e, &r->upstreams[i]);
		if (err)
			return err;
		for (j = 0; j < i; j++)
			if (addr_equal(&r->upstreams[i].addr, &r->upstreams[j].addr))
				return config_err(
				    p, e, "%s is listed twice (first as upstreams[%u])",
				    addr_format(&r->upstreams[i].addr, text, sizeof(text)), j);
	}
	r->n_upstreams = n;
	return 0;
}

static int config_parse_relay(struct config_parser *p, const config_setting_t *g, uint32_t idx)
{
	struct relay_conf *r = &p->cfg->relays[idx];
	const config_setting_t *s;
	const char *name = NULL;
	uint32_t i;
	int err;

	if (!config_setting_is_group(g))
		return config_err(p, g, "must be a group, e.g. { name = \"dns\"; listen = ...; }");
	r->line = config_line(g);
	err = config_check_keys(p, g, relay_keys);
	if (err)
		return err;
	s = config_setting_get_member(g, "name");
	if (!s)
		return config_err_member(p, g, "name", "missing; every relay needs a name");
	err = config_get_string(p, s, &name);
	if (err)
		return err;
	if (!*name)
		return config_err(p, s, "must not be empty");
	if (strlen(name) >= CONFIG_NAME_LEN)
		return config_err(p, s, "too long (at most %d characters)", CONFIG_NAME_LEN - 1);
	if (!config_name_ok(name))
		return config_err(p, s, "may contain only letters, digits, '_', '.' and '-'");
	for (i = 0; i < idx; i++)
		if (strcmp(p->cfg->relays[i].name, name) == 0)
			return config_err(p, s, "'%s' is already the name of relays[%u]", name, i);
	memcpy(r->name, name, strlen(name) + 1);

	err = config_parse_listen(p, g, idx);
	if (!err)
		err = config_parse_upstreams(p, g, r);
	if (!err)
		err = config_opt_enum(p, g, "mode", mode_words, r->mode);
	/* mirror sends to every upstream, so balance is accepted there and has no effect */
	if (!err)
		err = config_opt_enum(p, g, "balance", balance_words, r->balance);
	if (!err)
		err = config_opt_seconds(p, g, "session_timeout", &r->session_timeout);
	if (!err)
		err =
		    config_opt_u32(p, g, "max_sessions", 1, CONFIG_MAX_SESSIONS, &r->max_sessions);
	return err;
}

static int config_parse_relays(struct config_parser *p, const config_setting_t *root)
{
	const config_setting_t *s = config_setting_get_member(root, "relays");
	unsigned int i, n;
	int err;

	if (!s)
		return config_err_member(p, root, "relays",
					 "missing; at least one relay is required");
	if (!config_setting_is_list(s))
		return config_err(p, s, "must be a list of groups, e.g. ( { ... }, { ... } )");
	n = (unsigned int)config_setting_length(s);
	if (n < 1)
		return config_err(p, s, "at least one relay is required");
	if (n > CONFIG_MAX_RELAYS)
		return config_err(p, s, "at most %d relays are supported", CONFIG_MAX_RELAYS);
	for (i = 0; i < n; i++) {
		err = config_parse_relay(p, config_setting_get_elem(s, i), i);
		if (err)
			return err;
		p->cfg->n_relays = i + 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- filter */

/* What the kernel's dev_valid_name() accepts, so a bad name fails here and not at attach. */
static bool config_ifname_ok(const char *name)
{
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (; *name; name++)
		if (*name == '/' || *name == ':' || isspace((unsigned char)*name))
			return false;
	return true;
}

static int config_parse_interfaces(struct config_parser *p, const config_setting_t *g)
{
	const config_setting_t *s = config_setting_get_member(g, "interfaces");
	struct filter_conf *f = &p->cfg->filter;
	unsigned int i, j, n;
	int err;

	if (!s) {
		if (f->mode == FILTER_MODE_OFF)
			return 0;
		return config_err_member(p, g, "interfaces",
					 "missing; list the interfaces to filter on, e.g. "
					 "[ \"eth0\" ], or set mode = \"off\"");
	}
	err = config_get_list(p, s, CONFIG_TYPE_STRING, 0, FILTER_MAX_IFACES, &n);
	if (err)
		return err;
	if (n == 0 && f->mode != FILTER_MODE_OFF)
		return config_err(p, s, "must name at least one interface unless mode = \"off\"");
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *name = config_setting_get_string(e);

		if (!*name)
			return config_err(p, e, "must not be empty");
		if (strlen(name) >= IF_NAMESIZE)
			return config_err(p, e,
					  "too long for an interface name (at most %d "
					  "characters)",
					  IF_NAMESIZE - 1);
		if (!config_ifname_ok(name))
			return config_err(p, e, "not a valid interface name");
		for (j = 0; j < i; j++)
			if (strcmp(f->interfaces[j], name) == 0)
				return config_err(p, e, "'%s' is listed twice", name);
		memcpy(f->interfaces[i], name, strlen(name) + 1);
		f->interface_line[i] = config_line(e);
	}
	f->n_interfaces = n;
	return 0;
}

static int config_parse_prefixes(struct config_parser *p, const config_setting_t *g,
				 const char *name, struct filter_prefix *out, uint32_t *n_out)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	unsigned int i, n;
	int err;

	if (!s)
		return 0;
	err = config_get_list(p, s, CONFIG_TYPE_STRING, 0, FILTER_MAX_PREFIXES, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *why;

		if (prefix_parse(config_setting_get_string(e), &out[i].prefix, &why))
			return config_err(p, e, "%s", why);
		out[i].line = config_line(e);
	}
	*n_out = n;
	return 0;
}

/* One entry of the duplicate check over both prefix lists. */
struct config_prefix_ref {
	const struct filter_prefix *fp;
	const char *list;
	uint32_t idx;
};

static int config_prefix_ref_cmp(const void *a, const void *b)
{
	const struct config_prefix_ref *x = a, *y = b;
	int c = memcmp(x->fp->prefix.bytes, y->fp->prefix.bytes, 16);

	if (c)
		return c;
	if (x->fp->prefix.len != y->fp->prefix.len)
		return x->fp->prefix.len < y->fp->prefix.len ? -1 : 1;
	/* equal prefixes: the one earlier in the file first, so the later one is blamed */
	if (x->fp->line != y->fp->line)
		return x->fp->line < y->fp->line ? -1 : 1;
	c = strcmp(x->list, y->list);
	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* A prefix twice in one list is a typo; in both lists the verdict would be ambiguous. Sorted,
 * so that 2 x 4096 prefixes cost n log n rather than n^2. */
static int config_check_prefix_dups(struct config_parser *p, const config_setting_t *g)
{
	const struct filter_conf *f = &p->cfg->filter;
	uint32_t i, n = f->n_deny + f->n_allow;
	char text[INET6_ADDRSTRLEN + 8];
	struct config_prefix_ref *refs;
	int err = 0;

	if (n < 2)
		return 0;
	refs = calloc(n, sizeof(*refs));
	if (!refs) {
		snprintf(p->err, p->errlen, "%s: out of memory", p->name);
		return -ENOMEM;
	}
	for (i = 0; i < f->n_deny; i++)
		refs[i] = (struct config_prefix_ref){&f->deny[i], "deny", i};
	for (i = 0; i < f->n_allow; i++)
		refs[f->n_deny + i] = (struct config_prefix_ref){&f->allow[i], "allow", i};
	qsort(refs, n, sizeof(*refs), config_prefix_ref_cmp);
	for (i = 1; i < n && !err; i++) {
		const struct config_prefix_ref *a = &refs[i - 1], *b = &refs[i];
		const config_setting_t *s;

		if (memcmp(&a->fp->prefix, &b->fp->prefix, sizeof(a->fp->prefix)))
			continue;
		s = config_setting_get_elem(config_setting_get_member(g, b->list), b->idx);
		prefix_format(&b->fp->prefix, text, sizeof(text));
		err = config_err(p, s, "%s is already listed as filter.%s[%u]", text, a->list,
				 a->idx);
	}
	free(refs);
	return err;
}

/* 53, "53" or "5001-5010"; within 1..65535 and lo <= hi. */
static int config_parse_port_range(struct config_parser *p, const config_setting_t *s, uint16_t *lo,
				   uint16_t *hi)
{
	static const char bad[] = "must be a port or a range \"LOW-HIGH\" within 1-65535";
	int type = config_setting_type(s);
	unsigned long a, b;
	const char *text;
	char *end;

	if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
		long long v = config_setting_get_int64(s);

		if (v < 1 || v > 65535)
			return config_err(p, s, "%s", bad);
		*lo = *hi = (uint16_t)v;
		return 0;
	}
	if (type != CONFIG_TYPE_STRING)
		return config_err(p, s, "%s", bad);
	text = config_setting_get_string(s);
	if (!isdigit((unsigned char)*text))
		return config_err(p, s, "%s", bad);
	errno = 0;
	a = strtoul(text, &end, 10);
	b = a;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return config_err(p, s, "%s", bad);
		b = strtoul(end + 1, &end, 10);
	}
	if (*end || errno || a < 1 || a > 65535 || b < 1 || b > 65535)
		return config_err(p, s, "%s", bad);
	if (a > b)
		return config_err(p, s, "range start %lu is above its end %lu", a, b);
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

static int config_parse_port_rules(struct config_parser *p, const config_setting_t *g)
{
	const config_setting_t *s = config_setting_get_member(g, "ports");
	struct filter_conf *f = &p->cfg->filter;
	unsigned int i, n;
	int err;

	if (!s)
		return 0;
	err = config_get_list(p, s, CONFIG_TYPE_GROUP, 0, FILTER_MAX_PORT_RULES, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i), *m;
		struct filter_port_rule *rule = &f->ports[i];
		int v = 0;

		err = config_check_keys(p, e, port_rule_keys);
		if (err)
			return err;
		m = config_setting_get_member(e, "ports");
		if (!m)
			return config_err_member(p, e, "ports",
						 "missing; give a port or a range \"LOW-HIGH\"");
		err = config_parse_port_range(p, m, &rule->lo, &rule->hi);
		if (err)
			return err;
		m = config_setting_get_member(e, "verdict");
		if (!m)
			return config_err_member(p, e, "verdict", "missing; \"allow\" or \"deny\"");
		err = config_get_word(p, m, verdict_words, &v);
		if (err)
			return err;
		rule->verdict = v;
		rule->line = config_line(e);
	}
	f->n_ports = n;
	return 0;
}

static int config_parse_rate(struct config_parser *p, const config_setting_t *filter)
{
	const config_setting_t *g = config_setting_get_member(filter, "rate_limit");
	struct filter_conf *f = &p->cfg->filter;
	uint32_t prefix4 = f->rate_prefix4, prefix6 = f->rate_prefix6;
	int err;

	if (!g)
		return 0;
	if (!config_setting_is_group(g))
		return config_err(p, g, "must be a group, e.g. { pps = 10000; burst = 20000; }");
	err = config_check_keys(p, g, rate_keys);
	if (!err)
		err = config_opt_u32(p, g, "pps", 0, CONFIG_MAX_PPS, &f->rate_pps);
	f->rate_burst = f->rate_pps;
	if (!err)
		err = config_opt_u32(p, g, "burst", 0, CONFIG_MAX_BURST, &f->rate_burst);
	if (!err)
		err = config_opt_u32(p, g, "prefix4", 1, 32, &prefix4);
	if (!err)
		err = config_opt_u32(p, g, "prefix6", 1, 128, &prefix6);
	if (err)
		return err;
	/* burst 0 stays legal with pps 0 so that a dump of a disabled limit reads back */
	if (f->rate_pps && !f->rate_burst)
		return config_err(p, config_setting_get_member(g, "burst"),
				  "must be at least 1 when pps is set");
	f->rate_prefix4 = (uint8_t)prefix4;
	f->rate_prefix6 = (uint8_t)prefix6;
	return 0;
}

static int config_parse_filter(struct config_parser *p, const config_setting_t *root)
{
	const config_setting_t *g = config_setting_get_member(root, "filter");
	struct filter_conf *f = &p->cfg->filter;
	int err;

	if (!g)
		return 0;
	if (!config_setting_is_group(g))
		return config_err(p, g, "must be a group, e.g. { interfaces = [ \"eth0\" ]; }");
	err = config_check_keys(p, g, filter_keys);
	if (err)
		return err;
	f->line = config_line(g);
	f->mode = CONFIG_FILTER_MODE_PRESENT;
	err = config_opt_enum(p, g, "mode", filter_mode_words, f->mode);
	if (!err)
		err = config_parse_interfaces(p, g);
	if (!err)
		err = config_opt_enum(p, g, "default", verdict_words, f->default_verdict);
	if (!err)
		err = config_opt_enum(p, g, "scope", scope_words, f->scope);
	if (!err)
		err = config_parse_prefixes(p, g, "deny", f->deny, &f->n_deny);
	if (!err)
		err = config_parse_prefixes(p, g, "allow", f->allow, &f->n_allow);
	if (!err)
		err = config_check_prefix_dups(p, g);
	if (!err)
		err = config_parse_port_rules(p, g);
	if (!err)
		err = config_opt_bool(p, g, "relay_ports_only", &f->relay_ports_only);
	/* with scope "relays" only relay ports are filtered anyway: a silent no-op is a trap */
	if (!err && f->relay_ports_only && f->scope != FILTER_SCOPE_UDP)
		return config_err(p, config_setting_get_member(g, "relay_ports_only"),
				  "only applies with scope = \"udp\"");
	if (!err)
		err = config_parse_rate(p, g);
	if (!err)
		err = config_opt_bool(p, g, "pin", &f->pin);
	return err;
}

/* ---------------------------------------------------------------- entry points */

static int config_parse_root(struct config_parser *p, const config_setting_t *root)
{
	struct config *cfg = p->cfg;
	int err;

	err = config_check_keys(p, root, root_keys);
	if (!err)
		err = config_opt_u32(p, root, "workers", 0, CONFIG_MAX_WORKERS, &cfg->workers);
	if (!err)
		err = config_opt_enum(p, root, "io_backend", backend_words, cfg->io_backend);
	if (!err)
		err = config_parse_cpus(p, root);
	if (!err)
		err = config_opt_u32(p, root, "buffer_size", 256, 65536, &cfg->buffer_size);
	if (!err)
		err = config_opt_u32(p, root, "buffers", 64, 32768, &cfg->buffers);
	if (err)
		return err;
	if (cfg->buffers & (cfg->buffers - 1))
		return config_err(p, config_setting_get_member(root, "buffers"),
				  "must be a power of two (64, 128, ... 32768)");
	err = config_opt_bool(p, root, "gro", &cfg->gro);
	if (err)
		return err;
	if (cfg->gro && cfg->buffer_size != 65536)
		return config_err(p, config_setting_get_member(root, "gro"),
				  "needs buffer_size = 65536 (a coalesced receive holds up to 64 KB)");
	err = config_opt_seconds(p, root, "stats_interval", &cfg->stats_interval);
	if (!err)
		err = config_opt_string(p, root, "user", cfg->user, sizeof(cfg->user));
	/* the socket path must fit sun_path, which is shorter than CONFIG_PATH_LEN */
	if (!err)
		err = config_opt_string(p, root, "control_socket", cfg->control_socket,
					CONFIG_SUN_PATH_LEN);
	if (err)
		return err;
	if (!cfg->control_socket[0])
		return config_err(p, config_setting_get_member(root, "control_socket"),
				  "must not be empty");
	err = config_parse_metrics(p, root);
	if (!err)
		err = config_parse_relays(p, root);
	if (!err)
		err = config_parse_filter(p, root);
	return err;
}

/* Refuses what libconfig 1.5 would accept silently and wrongly, before it sees the text:
 * integers without an L suffix are kept in 32 bits and wrap (4294967297 reads as 1), which
 * would let a typo pass every range check (none of our settings needs more than 2^31 - 1);
 * and an unterminated string at the end hides everything after the stray quote. */
static int config_scan_text(struct config_parser *p, const char *t)
{
	int line = 1;

	while (*t) {
		if (*t == '\n') {
			line++;
			t++;
		} else if (*t == '#' || (t[0] == '/' && t[1] == '/')) {
			t += strcspn(t, "\n");
		} else if (t[0] == '/' && t[1] == '*') {
			for (t += 2; *t && !(t[0] == '*' && t[1] == '/'); t++)
				line += *t == '\n';
			t += *t ? 2 : 0;
		} else if (*t == '"') {
			int start = line;

			for (t++; *t && *t != '"'; t++) {
				if (*t == '\\' && t[1])
					t++;
				line += *t == '\n';
			}
			/* libconfig 1.5 silently drops an unterminated string at the end of the
			 * text, and with it every setting after the stray quote */
			if (!*t) {
				snprintf(p->err, p->errlen,
					 "%s:%d: syntax error: string is not terminated", p->name,
					 start);
				return -EINVAL;
			}
			t++;
		} else if (isalpha((unsigned char)*t) || *t == '*' || *t == '@') {
			/* a setting name may contain digits and '-' */
			for (t++; *t && (isalnum((unsigned char)*t) || strchr("-_*", *t)); t++)
				;
		} else if (isdigit((unsigned char)*t)) {
			bool hex = t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
			const char *start = t;
			char *end;
			unsigned long long v;
			int len;

			errno = 0;
			v = strtoull(start, &end, hex ? 16 : 10);
			if (!hex && (*end == '.' || *end == 'e' || *end == 'E')) {
				strtod(start, &end); /* a float: libconfig reads it as a double */
				t = end;
				continue;
			}
			t = end;
			if (*t == 'L' || (v <= 2147483647ull && !errno))
				continue;
			len = (int)(t - start);
			snprintf(p->err, p->errlen,
				 "%s:%d: syntax error: integer %.*s%s is too large (at most "
				 "2147483647)",
				 p->name, line, len > 24 ? 24 : len, start, len > 24 ? "..." : "");
			return -EINVAL;
		} else {
			t++;
		}
	}
	return 0;
}

int config_load_string(const char *text, const char *name, struct config **out, char *err,
		       size_t errlen)
{
	struct config_parser p = {.name = name, .err = err, .errlen = errlen};
	struct config *cfg;
	config_t lc;
	int ret;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	p.cfg = cfg;
	config_set_defaults(cfg);
	if (strlen(name) >= sizeof(cfg->path)) {
		snprintf(err, errlen, "%.64s...: path too long (at most %zu bytes)", name,
			 sizeof(cfg->path) - 1);
		ret = -ENAMETOOLONG;
		goto err_free_cfg;
	}
	memcpy(cfg->path, name, strlen(name) + 1);
	ret = config_scan_text(&p, text);
	if (ret)
		goto err_free_cfg;

	config_init(&lc);
	if (!config_read_string(&lc, text)) {
		snprintf(err, errlen, "%s:%d: syntax error: %s",
			 config_error_file(&lc) ? config_error_file(&lc) : name,
			 config_error_line(&lc), config_error_text(&lc));
		ret = -EINVAL;
		goto err_destroy_lc;
	}
	ret = config_parse_root(&p, config_root_setting(&lc));
	if (ret)
		goto err_destroy_lc;
	config_destroy(&lc);
	*out = cfg;
	return 0;

err_destroy_lc:
	config_destroy(&lc);
err_free_cfg:
	free(cfg);
	return ret;
}

/* Reads the file ourselves rather than with config_read_file, so that a missing or unreadable
 * file reports its errno, and file and string go through one parse path. */
int config_load_file(const char *path, struct config **out, char *err, size_t errlen)
{
	size_t len = 0, cap = 0;
	char *text = NULL, *grown;
	FILE *f;
	int ret;

	*out = NULL;
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-ret));
		return ret;
	}
	for (;;) {
		size_t got;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			grown = realloc(text, cap + 1);
			if (!grown) {
				snprintf(err, errlen, "%s: out of memory", path);
				ret = -ENOMEM;
				goto err_free_text;
			}
			text = grown;
		}
		errno = 0;
		got = fread(text + len, 1, cap - len, f);
		len += got;
		if (ferror(f)) {
			ret = errno ? -errno : -EIO;
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
			goto err_free_text;
		}
		if (len > CONFIG_MAX_FILE_SIZE) {
			snprintf(err, errlen, "%s: too large (more than %u MiB)", path,
				 CONFIG_MAX_FILE_SIZE >> 20);
			ret = -EFBIG;
			goto err_free_text;
		}
		if (got == 0)
			break;
	}
	text[len] = '\0';
	/* libconfig would stop at a NUL and hide everything after it */
	if (strlen(text) != len) {
		snprintf(err, errlen, "%s: syntax error: the file contains a NUL byte", path);
		ret = -EINVAL;
		goto err_free_text;
	}
	ret = config_load_string(text, path, out, err, errlen);

err_free_text:
	free(text);
	fclose(f);
	return ret;
}

void config_free(struct config *cfg)
{
	free(cfg);
}

int config_check_host(const struct config *cfg, char *err, size_t errlen)
{
	const struct filter_conf *f = &cfg->filter;
	uint32_t i;

	if (f->mode == FILTER_MODE_OFF)
		return 0;
	for (i = 0; i < f->n_interfaces; i++) {
		if (if_nametoindex(f->interfaces[i]))
			continue;
		snprintf(err, errlen,
			 "%s:%d: filter.interfaces[%u]: no such network interface '%s'", cfg->path,
			 f->interface_line[i], i, f->interfaces[i]);
		return -ENODEV;
	}
	return 0;
}

/* ---------------------------------------------------------------- dump */

static void config_dump_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Shortest text that reads back as the same double, always a float to libconfig. */
static void config_dump_double(FILE *f, double v)
{
	char buf[64];
	int prec;

	for (prec = 6; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	snprintf(buf, sizeof(buf), "%.*g", prec, v);
	fprintf(f, "%s%s", buf, strpbrk(buf, ".eE") ? "" : ".0");
}

static void config_dump_prefixes(FILE *f, const char *name, const struct filter_prefix *px,
				 uint32_t n)
{
	char text[INET6_ADDRSTRLEN + 8];
	uint32_t i;

	fprintf(f, "\t%s = [", name);
	for (i = 0; i < n; i++)
		fprintf(f, "%s\n\t\t\"%s\"", i ? "," : "",
			prefix_format(&px[i].prefix, text, sizeof(text)));
	fprintf(f, "%s];\n", n ? "\n\t" : " ");
}

static void config_dump_relay(FILE *f, const struct relay_conf *r, bool last)
{
	char text[ADDR_STRLEN];
	uint32_t i;

	fputs("\t{\n\t\tname = ", f);
	config_dump_string(f, r->name);
	fputs(";\n\t\tlisten = [", f);
	for (i = 0; i < r->n_listen; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : " ",
			addr_format(&r->listen[i], text, sizeof(text)));
	fputs(" ];\n\t\tupstreams = [", f);
	for (i = 0; i < r->n_upstreams; i++)
		fprintf(f, "%s\n\t\t\t\"%s weight=%u\"", i ? "," : "",
			addr_format(&r->upstreams[i].addr, text, sizeof(text)),
			r->upstreams[i].weight);
	fprintf(f, "\n\t\t];\n\t\tmode = \"%s\";\n", config_mode_name(r->mode));
	fprintf(f,
		"\t\tbalance = \"%s\";\n\t\tsession_timeout = ", config_balance_name(r->balance));
	config_dump_double(f, r->session_timeout);
	fprintf(f, ";\n\t\tmax_sessions = %u;\n\t}%s\n", r->max_sessions, last ? "" : ",");
}

/* Written even when off, so that every filter default is visible. */
static void config_dump_filter(FILE *f, const struct filter_conf *fc)
{
	uint32_t i;

	fprintf(f, "filter = {\n\tmode = \"%s\";\n\tinterfaces = [", filter_mode_words[fc->mode]);
	for (i = 0; i < fc->n_interfaces; i++) {
		fputs(i ? ", " : " ", f);
		config_dump_string(f, fc->interfaces[i]);
	}
	fprintf(f, " ];\n\tdefault = \"%s\";\n\tscope = \"%s\";\n",
		verdict_words[fc->default_verdict], scope_words[fc->scope]);
	config_dump_prefixes(f, "deny", fc->deny, fc->n_deny);
	config_dump_prefixes(f, "allow", fc->allow, fc->n_allow);
	fputs("\tports = (", f);
	for (i = 0; i < fc->n_ports; i++) {
		const struct filter_port_rule *r = &fc->ports[i];

		fprintf(f, "%s\n\t\t{ ports = \"%u-%u\"; verdict = \"%s\"; }", i ? "," : "", r->lo,
			r->hi, verdict_words[r->verdict]);
	}
	fprintf(f, "%s);\n", fc->n_ports ? "\n\t" : " ");
	fprintf(f, "\trelay_ports_only = %s;\n", fc->relay_ports_only ? "true" : "false");
	fprintf(f, "\trate_limit = { pps = %u; burst = %u; prefix4 = %u; prefix6 = %u; };\n",
		fc->rate_pps, fc->rate_burst, fc->rate_prefix4, fc->rate_prefix6);
	fprintf(f, "\tpin = %s;\n};\n", fc->pin ? "true" : "false");
}

void config_dump(const struct config *cfg, FILE *f)
{
	char text[ADDR_STRLEN];
	uint32_t i;

	fprintf(f, "# effective configuration of %s, defaults included\n", cfg->path);
	fprintf(f, "workers = %u;\nio_backend = \"%s\";\ncpus = [", cfg->workers,
		config_backend_name(cfg->io_backend));
	for (i = 0; i < cfg->n_cpus; i++)
		fprintf(f, "%s%d", i ? ", " : " ", cfg->cpus[i]);
	fprintf(f, " ];\nbuffer_size = %u;\nbuffers = %u;\ngro = %s;\nstats_interval = ",
		cfg->buffer_size, cfg->buffers, cfg->gro ? "true" : "false");
	config_dump_double(f, cfg->stats_interval);
	fputs(";\nuser = ", f);
	config_dump_string(f, cfg->user);
	fputs(";\ncontrol_socket = ", f);
	config_dump_string(f, cfg->control_socket);
	fputs(";\n", f);
	if (cfg->metrics.enabled)
		fprintf(f, "metrics = { listen = \"%s\"; };\n",
			addr_format(&cfg->metrics.listen, text, sizeof(text)));
	else
		fputs("# metrics: off (a metrics section turns them on)\n", f);
	fputs("relays = (\n", f);
	for (i = 0; i < cfg->n_relays; i++)
		config_dump_relay(f, &cfg->relays[i], i + 1 == cfg->n_relays);
	fputs(");\n", f);
	config_dump_filter(f, &cfg->filter);
}

/* n counts the NULL that ends each word table. */
static const char *config_word(const char *const *words, size_t n, unsigned int v)
{
	return v < n - 1 ? words[v] : "?";
}

const char *config_backend_name(enum io_backend b)
{
	return config_word(backend_words, sizeof(backend_words) / sizeof(*backend_words), b);
}

const char *config_mode_name(enum relay_mode m)
{
	return config_word(mode_words, sizeof(mode_words) / sizeof(*mode_words), m);
}

const char *config_balance_name(enum balance_mode b)
{
	return config_word(balance_words, sizeof(balance_words) / sizeof(*balance_words), b);
}

const char *config_filter_mode_name(enum filter_mode m)
{
	return config_word(filter_mode_words,
			   sizeof(filter_mode_words) / sizeof(*filter_mode_words), m);
}

const char *config_verdict_name(enum filter_verdict v)
{
	return config_word(verdict_words, sizeof(verdict_words) / sizeof(*verdict_words), v);
}

const char *config_scope_name(enum filter_scope s)
{
	return config_word(scope_words, sizeof(scope_words) / sizeof(*scope_words), s);
}
