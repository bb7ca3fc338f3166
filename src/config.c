// SPDX-License-Identifier: MIT
/* Configuration: libconfig syntax in, a validated struct config out. Pure except for
 * config_check_host(). Every error names FILE:LINE and the setting. */
#include <errno.h>
#include <libconfig.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* The defaults, in one place. */
static void config_defaults(struct config *cfg)
{
	const char *why;

	cfg->workers = 0;
	cfg->io_backend = IO_BACKEND_AUTO;
	cfg->buffer_size = 2048;
	cfg->buffers = 4096;
	cfg->stats_interval = 5.0;
	snprintf(cfg->control_socket, sizeof(cfg->control_socket), "/run/ringrelay/ringrelay.sock");
	addr_parse("127.0.0.1:9470", &cfg->metrics.listen, &why);
	cfg->filter.mode = FILTER_MODE_OFF;
	cfg->filter.default_verdict = FILTER_VERDICT_ALLOW;
	cfg->filter.scope = FILTER_SCOPE_RELAYS;
	cfg->filter.rate_prefix4 = 32;
	cfg->filter.rate_prefix6 = 128;
}

static void relay_defaults(struct relay_conf *r)
{
	r->mode = RELAY_MODE_FORWARD;
	r->balance = BALANCE_RR;
	r->session_timeout = 30.0;
	r->max_sessions = 4096;
}

static const char *const backend_names[] = { "auto", "io_uring", "mmsg" };
static const char *const mode_names[] = { "forward", "mirror" };
static const char *const balance_names[] = { "rr", "hash", "maglev" };
static const char *const filter_mode_names[] = { "off", "xdp", "xdp-generic", "tc" };
static const char *const verdict_names[] = { "allow", "deny" };
static const char *const scope_names[] = { "relays", "udp" };

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *config_backend_name(enum io_backend b)
{
	return (unsigned)b < N_OF(backend_names) ? backend_names[b] : "?";
}

const char *config_mode_name(enum relay_mode m)
{
	return (unsigned)m < N_OF(mode_names) ? mode_names[m] : "?";
}

const char *config_balance_name(enum balance_mode b)
{
	return (unsigned)b < N_OF(balance_names) ? balance_names[b] : "?";
}

struct parser {
	const char *file;
	char *err;
	size_t errlen;
};

static int line_of(const config_setting_t *s)
{
	while (s) {
		int line = config_setting_source_line(s);

		if (line > 0)
			return line;
		s = config_setting_parent(s);
	}
	return 0;
}

static int fail(struct parser *p, const config_setting_t *s, const char *path, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, const config_setting_t *s, const char *path, const char *fmt,
		...)
{
	va_list ap;
	int n;

	n = snprintf(p->err, p->errlen, "%s:%d: %s: ", p->file, line_of(s), path);
	if (n < 0 || (size_t)n >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Rejects members of group s not in allowed: a typo must never pass silently. */
static int check_members(struct parser *p, const config_setting_t *s, const char *path,
			 const char *const *allowed)
{
	int i, n = config_setting_length(s);

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(m);
		const char *const *a;

		for (a = allowed; *a; a++)
			if (strcmp(*a, name) == 0)
				break;
		if (!*a)
			return fail(p, m, path[0] ? path : name, "unknown setting '%s'", name);
	}
	return 0;
}

static int get_int(struct parser *p, const config_setting_t *s, const char *path, long long min,
		   long long max, long long *out)
{
	int t = config_setting_type(s);

	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
		return fail(p, s, path, "must be an integer");
	*out = config_setting_get_int64(s);
	if (*out < min || *out > max)
		return fail(p, s, path, "must be from %lld to %lld", min, max);
	return 0;
}

static int get_u32(struct parser *p, const config_setting_t *s, const char *path, long long min,
		   long long max, uint32_t *out)
{
	long long v = 0;
	int err = get_int(p, s, path, min, max, &v);

	if (!err)
		*out = (uint32_t)v;
	return err;
}

static int get_seconds(struct parser *p, const config_setting_t *s, const char *path,
		       double *out)
{
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_FLOAT)
		*out = config_setting_get_float(s);
	else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
		*out = (double)config_setting_get_int64(s);
	else
		return fail(p, s, path, "must be a number of seconds");
	if (!(*out > 0) || *out > 86400.0 * 365)
		return fail(p, s, path, "must be more than 0 seconds and at most a year");
	return 0;
}

static int get_string(struct parser *p, const config_setting_t *s, const char *path,
		      const char **out)
{
	*out = "";
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(p, s, path, "must be a string");
	*out = config_setting_get_string(s);
	return 0;
}

static int get_bool(struct parser *p, const config_setting_t *s, const char *path, bool *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(p, s, path, "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

static int get_enum(struct parser *p, const config_setting_t *s, const char *path,
		    const char *const *names, size_t n, int *out)
{
	char choices[128] = "";
	const char *v;
	size_t i, len = 0;
	int err = get_string(p, s, path, &v);

	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
		len += (size_t)snprintf(choices + len, sizeof(choices) - len, "%s\"%s\"",
					i ? (i + 1 == n ? " or " : ", ") : "", names[i]);
	}
	return fail(p, s, path, "\"%s\" is not %s", v, choices);
}

/* A list or array of n_max at most; returns its length through *n. */
static int get_list(struct parser *p, const config_setting_t *s, const char *path,
		    unsigned min, unsigned max, unsigned *n)
{
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return fail(p, s, path, "must be a list [ ... ]");
	*n = (unsigned)config_setting_length(s);
	if (*n < min || *n > max)
		return fail(p, s, path, "needs %u to %u entries, has %u", min, max, *n);
	return 0;
}

static int parse_endpoint(struct parser *p, const config_setting_t *s, const char *path,
			  const char *text, struct addr *out)
{
	const char *why;

	if (addr_parse(text, out, &why))
		return fail(p, s, path, "\"%s\": %s", text, why);
	if (addr_port(out) == 0)
		return fail(p, s, path, "\"%s\": port 0 is not allowed here", text);
	return 0;
}

/* "198.18.2.3:9000 weight=3" */
static int parse_upstream(struct parser *p, const config_setting_t *s, const char *path,
			  struct upstream_conf *u)
{
	char text[128], *sp, *end;
	const char *v;
	long w;
	int err = get_string(p, s, path, &v);

	if (err)
		return err;
	if (strlen(v) >= sizeof(text))
		return fail(p, s, path, "too long");
	strcpy(text, v);
	u->weight = 1;
	sp = strchr(text, ' ');
	if (sp) {
		*sp++ = '\0';
		while (*sp == ' ')
			sp++;
		if (strncmp(sp, "weight=", 7) != 0)
			return fail(p, s, path, "\"%s\": expected \"ADDRESS:PORT weight=N\"", v);
		w = strtol(sp + 7, &end, 10);
		if (sp[7] == '\0' || *end != '\0' || w < 1 || w > 100)
			return fail(p, s, path, "\"%s\": weight must be from 1 to 100", v);
		u->weight = (uint32_t)w;
	}
	return parse_endpoint(p, s, path, text, &u->addr);
}

static const char *const relay_members[] = { "name",	 "listen",	    "upstreams",
					     "mode",	 "balance",	    "session_timeout",
					     "max_sessions", NULL };

static int parse_relay(struct parser *p, const config_setting_t *s, unsigned idx,
		       struct relay_conf *r)
{
	const config_setting_t *m;
	char path[96];
	const char *v;
	unsigned i, j, n;
	int err, e;

	relay_defaults(r);
	r->line = line_of(s);
	snprintf(path, sizeof(path), "relays[%u]", idx);
	if (!config_setting_is_group(s))
		return fail(p, s, path, "must be a group { ... }");
	err = check_members(p, s, path, relay_members);
	if (err)
		return err;

	m = config_setting_get_member(s, "name");
	if (!m)
		return fail(p, s, path, "missing name = \"...\"");
	snprintf(path, sizeof(path), "relays[%u].name", idx);
	err = get_string(p, m, path, &v);
	if (err)
		return err;
	if (!v[0] || strlen(v) >= sizeof(r->name) || strspn(v, "abcdefghijklmnopqrstuvwxyz"
							       "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
							       "0123456789_.-") != strlen(v))
		return fail(p, m, path, "\"%s\": use 1 to %zu of A-Z a-z 0-9 _ . -", v,
			    sizeof(r->name) - 1);
	strcpy(r->name, v);

	snprintf(path, sizeof(path), "relays[%u]", idx);
	m = config_setting_get_member(s, "listen");
	if (!m)
		return fail(p, s, path, "missing listen = [ \"ADDRESS:PORT\" ]");
	snprintf(path, sizeof(path), "relays[%u].listen", idx);
	err = get_list(p, m, path, 1, CONFIG_MAX_LISTEN, &n);
	for (i = 0; !err && i < n; i++) {
		const config_setting_t *e_s = config_setting_get_elem(m, i);

		snprintf(path, sizeof(path), "relays[%u].listen[%u]", idx, i);
		err = get_string(p, e_s, path, &v);
		if (!err)
			err = parse_endpoint(p, e_s, path, v, &r->listen[i]);
	}
	if (err)
		return err;
	r->n_listen = n;

	snprintf(path, sizeof(path), "relays[%u]", idx);
	m = config_setting_get_member(s, "upstreams");
	if (!m)
		return fail(p, s, path, "missing upstreams = [ \"ADDRESS:PORT\" ]");
	snprintf(path, sizeof(path), "relays[%u].upstreams", idx);
	err = get_list(p, m, path, 1, CONFIG_MAX_UPSTREAMS, &n);
	for (i = 0; !err && i < n; i++) {
		const config_setting_t *e_s = config_setting_get_elem(m, i);

		snprintf(path, sizeof(path), "relays[%u].upstreams[%u]", idx, i);
		err = parse_upstream(p, e_s, path, &r->upstreams[i]);
		for (j = 0; !err && j < i; j++)
			if (addr_equal(&r->upstreams[j].addr, &r->upstreams[i].addr))
				err = fail(p, e_s, path, "the same upstream as upstreams[%u]", j);
	}
	if (err)
		return err;
	r->n_upstreams = n;

	if ((m = config_setting_get_member(s, "mode"))) {
		snprintf(path, sizeof(path), "relays[%u].mode", idx);
		err = get_enum(p, m, path, mode_names, N_OF(mode_names), &e);
		if (err)
			return err;
		r->mode = (enum relay_mode)e;
	}
	if ((m = config_setting_get_member(s, "balance"))) {
		snprintf(path, sizeof(path), "relays[%u].balance", idx);
		err = get_enum(p, m, path, balance_names, N_OF(balance_names), &e);
		if (err)
			return err;
		r->balance = (enum balance_mode)e;
	}
	if ((m = config_setting_get_member(s, "session_timeout"))) {
		snprintf(path, sizeof(path), "relays[%u].session_timeout", idx);
		err = get_seconds(p, m, path, &r->session_timeout);
		if (err)
			return err;
	}
	if ((m = config_setting_get_member(s, "max_sessions"))) {
		snprintf(path, sizeof(path), "relays[%u].max_sessions", idx);
		err = get_u32(p, m, path, 1, 4194304, &r->max_sessions);
		if (err)
			return err;
	}
	return 0;
}

/* Two listeners collide when the kernel would hand one's datagrams to the other. */
static bool listeners_clash(const struct addr *a, const struct addr *b)
{
	if (addr_family(a) != addr_family(b) || addr_port(a) != addr_port(b))
		return false;
	return addr_equal_host(a, b) || addr_is_any(a) || addr_is_any(b);
}

static int check_listeners(struct parser *p, const config_setting_t *relays, struct config *cfg)
{
	char path[96], buf[ADDR_STRLEN];
	unsigned r1, l1, r2, l2;

	for (r1 = 0; r1 < cfg->n_relays; r1++) {
		for (l1 = 0; l1 < cfg->relays[r1].n_listen; l1++) {
			for (r2 = 0; r2 <= r1; r2++) {
				unsigned end = r2 == r1 ? l1 : cfg->relays[r2].n_listen;

				for (l2 = 0; l2 < end; l2++) {
					const config_setting_t *s;

					if (!listeners_clash(&cfg->relays[r1].listen[l1],
							     &cfg->relays[r2].listen[l2]))
						continue;
					s = config_setting_get_elem(
						config_setting_get_member(
							config_setting_get_elem(relays, r1),
							"listen"),
						l1);
					snprintf(path, sizeof(path), "relays[%u].listen[%u]", r1,
						 l1);
					return fail(p, s, path,
						    "%s overlaps relays[%u].listen[%u] (relay %s)",
						    addr_format(&cfg->relays[r1].listen[l1], buf,
								sizeof(buf)),
						    r2, l2, cfg->relays[r2].name);
				}
			}
		}
	}
	return 0;
}

static int parse_prefixes(struct parser *p, const config_setting_t *s, const char *name,
			  struct filter_prefix *out, uint32_t *n_out)
{
	char path[64];
	const char *v, *why;
	unsigned i, n;
	int err;

	snprintf(path, sizeof(path), "filter.%s", name);
	err = get_list(p, s, path, 0, FILTER_MAX_PREFIXES, &n);
	for (i = 0; !err && i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);

		snprintf(path, sizeof(path), "filter.%s[%u]", name, i);
		err = get_string(p, e, path, &v);
		if (!err && prefix_parse(v, &out[i].prefix, &why))
			err = fail(p, e, path, "\"%s\": %s", v, why);
		out[i].line = line_of(e);
	}
	*n_out = n;
	return err;
}

/* ports = ( { ports = "5001-5010"; verdict = "deny"; }, { ports = 53; verdict = "allow"; } ) */
static int parse_port_rules(struct parser *p, const config_setting_t *s, struct filter_conf *f)
{
	static const char *const members[] = { "ports", "verdict", NULL };
	char path[64];
	unsigned i, n;
	int err, e;

	err = get_list(p, s, "filter.ports", 0, FILTER_MAX_PORT_RULES, &n);
	for (i = 0; !err && i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, i), *m;
		struct filter_port_rule *rule = &f->ports[i];
		long long lo, hi;
		char *end;

		snprintf(path, sizeof(path), "filter.ports[%u]", i);
		if (!config_setting_is_group(g))
			return fail(p, g, path, "must be a group { ports = ...; verdict = ...; }");
		err = check_members(p, g, path, members);
		if (err)
			return err;
		rule->line = line_of(g);
		m = config_setting_get_member(g, "ports");
		if (!m)
			return fail(p, g, path, "missing ports = N or \"LOW-HIGH\"");
		snprintf(path, sizeof(path), "filter.ports[%u].ports", i);
		if (config_setting_type(m) == CONFIG_TYPE_STRING) {
			const char *v = config_setting_get_string(m);

			lo = strtoll(v, &end, 10);
			hi = lo;
			if (*end == '-')
				hi = strtoll(end + 1, &end, 10);
			if (*end != '\0' || end == v || lo < 1 || hi > 65535 || lo > hi)
				return fail(p, m, path,
					    "\"%s\": expected PORT or LOW-HIGH within 1-65535", v);
		} else {
			err = get_int(p, m, path, 1, 65535, &lo);
			if (err)
				return err;
			hi = lo;
		}
		rule->lo = (uint16_t)lo;
		rule->hi = (uint16_t)hi;
		m = config_setting_get_member(g, "verdict");
		if (!m)
			return fail(p, g, path, "missing verdict = \"allow\" or \"deny\"");
		snprintf(path, sizeof(path), "filter.ports[%u].verdict", i);
		err = get_enum(p, m, path, verdict_names, N_OF(verdict_names), &e);
		rule->verdict = (enum filter_verdict)e;
	}
	f->n_ports = n;
	return err;
}

static int parse_rate_limit(struct parser *p, const config_setting_t *s, struct filter_conf *f)
{
	static const char *const members[] = { "pps", "burst", "prefix4", "prefix6", NULL };
	const config_setting_t *m;
	bool burst_set = false;
	uint32_t v;
	int err;

	if (!config_setting_is_group(s))
		return fail(p, s, "filter.rate_limit", "must be a group { pps = N; burst = N; }");
	err = check_members(p, s, "filter.rate_limit", members);
	if (!err && (m = config_setting_get_member(s, "pps")))
		err = get_u32(p, m, "filter.rate_limit.pps", 0, 100000000, &f->rate_pps);
	if (!err && (m = config_setting_get_member(s, "burst"))) {
		err = get_u32(p, m, "filter.rate_limit.burst", 1, 100000000, &f->rate_burst);
		burst_set = true;
	}
	if (!err && (m = config_setting_get_member(s, "prefix4"))) {
		err = get_u32(p, m, "filter.rate_limit.prefix4", 1, 32, &v);
		f->rate_prefix4 = (uint8_t)v;
	}
	if (!err && (m = config_setting_get_member(s, "prefix6"))) {
		err = get_u32(p, m, "filter.rate_limit.prefix6", 1, 128, &v);
		f->rate_prefix6 = (uint8_t)v;
	}
	if (!err && !burst_set)
		f->rate_burst = f->rate_pps;
	if (!err && f->rate_pps && f->rate_burst < 1)
		err = fail(p, s, "filter.rate_limit.burst", "must be at least 1");
	return err;
}

static int parse_filter(struct parser *p, const config_setting_t *s, struct filter_conf *f)
{
	static const char *const members[] = { "interfaces", "mode",	 "default",
					       "scope",	     "deny",	 "allow",
					       "ports",	     "relay_ports_only",
					       "rate_limit", "pin",	 NULL };
	const config_setting_t *m;
	char path[64];
	const char *v;
	unsigned i, n;
	int err, e;

	if (!config_setting_is_group(s))
		return fail(p, s, "filter", "must be a group { ... }");
	err = check_members(p, s, "filter", members);
	if (err)
		return err;
	f->line = line_of(s);
	f->mode = FILTER_MODE_XDP;
	if ((m = config_setting_get_member(s, "mode"))) {
		err = get_enum(p, m, "filter.mode", filter_mode_names, N_OF(filter_mode_names), &e);
		if (err)
			return err;
		f->mode = (enum filter_mode)e;
	}
	if ((m = config_setting_get_member(s, "interfaces"))) {
		err = get_list(p, m, "filter.interfaces", 0, FILTER_MAX_IFACES, &n);
		for (i = 0; !err && i < n; i++) {
			const config_setting_t *e_s = config_setting_get_elem(m, i);

			snprintf(path, sizeof(path), "filter.interfaces[%u]", i);
			err = get_string(p, e_s, path, &v);
			if (!err && (!v[0] || strlen(v) >= IF_NAMESIZE))
				err = fail(p, e_s, path, "\"%s\": not an interface name", v);
			if (!err) {
				strcpy(f->interfaces[i], v);
				f->interface_line[i] = line_of(e_s);
			}
		}
		if (err)
			return err;
		f->n_interfaces = n;
	}
	if (f->mode != FILTER_MODE_OFF && f->n_interfaces == 0)
		return fail(p, s, "filter.interfaces",
			    "name at least one interface, or set mode = \"off\"");
	if ((m = config_setting_get_member(s, "default"))) {
		err = get_enum(p, m, "filter.default", verdict_names, N_OF(verdict_names), &e);
		if (err)
			return err;
		f->default_verdict = (enum filter_verdict)e;
	}
	if ((m = config_setting_get_member(s, "scope"))) {
		err = get_enum(p, m, "filter.scope", scope_names, N_OF(scope_names), &e);
		if (err)
			return err;
		f->scope = (enum filter_scope)e;
	}
	if (!err && (m = config_setting_get_member(s, "deny")))
		err = parse_prefixes(p, m, "deny", f->deny, &f->n_deny);
	if (!err && (m = config_setting_get_member(s, "allow")))
		err = parse_prefixes(p, m, "allow", f->allow, &f->n_allow);
	if (!err && (m = config_setting_get_member(s, "ports")))
		err = parse_port_rules(p, m, f);
	if (!err && (m = config_setting_get_member(s, "relay_ports_only")))
		err = get_bool(p, m, "filter.relay_ports_only", &f->relay_ports_only);
	if (!err && (m = config_setting_get_member(s, "rate_limit")))
		err = parse_rate_limit(p, m, f);
	if (!err && (m = config_setting_get_member(s, "pin")))
		err = get_bool(p, m, "filter.pin", &f->pin);
	return err;
}

static const char *const top_members[] = { "workers",	     "io_backend", "cpus",
					   "buffer_size",    "buffers",	   "stats_interval",
					   "user",	     "control_socket", "metrics",
					   "relays",	     "filter",	   NULL };

static int parse_root(struct parser *p, const config_setting_t *root, struct config *cfg)
{
	const config_setting_t *m;
	char path[64];
	const char *v;
	unsigned i, n;
	int err, e;

	err = check_members(p, root, "", top_members);
	if (err)
		return err;
	if ((m = config_setting_get_member(root, "workers"))) {
		err = get_u32(p, m, "workers", 0, 1024, &cfg->workers);
		if (err)
			return err;
	}
	if ((m = config_setting_get_member(root, "io_backend"))) {
		err = get_enum(p, m, "io_backend", backend_names, N_OF(backend_names), &e);
		if (err)
			return err;
		cfg->io_backend = (enum io_backend)e;
	}
	if ((m = config_setting_get_member(root, "cpus"))) {
		err = get_list(p, m, "cpus", 0, CONFIG_MAX_CPUS, &n);
		for (i = 0; !err && i < n; i++) {
			long long cpu;

			snprintf(path, sizeof(path), "cpus[%u]", i);
			err = get_int(p, config_setting_get_elem(m, i), path, 0,
				      CONFIG_MAX_CPUS - 1, &cpu);
			cfg->cpus[i] = (int)cpu;
		}
		if (err)
			return err;
		cfg->n_cpus = n;
	}
	if ((m = config_setting_get_member(root, "buffer_size"))) {
		err = get_u32(p, m, "buffer_size", 256, 65536, &cfg->buffer_size);
		if (err)
			return err;
	}
	if ((m = config_setting_get_member(root, "buffers"))) {
		err = get_u32(p, m, "buffers", 64, 32768, &cfg->buffers);
		if (err)
			return err;
		if (cfg->buffers & (cfg->buffers - 1))
			return fail(p, m, "buffers", "must be a power of two (64, 128, ... 32768)");
	}
	if ((m = config_setting_get_member(root, "stats_interval"))) {
		err = get_seconds(p, m, "stats_interval", &cfg->stats_interval);
		if (err)
			return err;
	}
	if ((m = config_setting_get_member(root, "user"))) {
		err = get_string(p, m, "user", &v);
		if (err)
			return err;
		if (strlen(v) >= sizeof(cfg->user))
			return fail(p, m, "user", "too long");
		strcpy(cfg->user, v);
	}
	if ((m = config_setting_get_member(root, "control_socket"))) {
		err = get_string(p, m, "control_socket", &v);
		if (err)
			return err;
		if (v[0] != '/' || strlen(v) >= 108)
			return fail(p, m, "control_socket", "must be an absolute path under 108 bytes");
		strcpy(cfg->control_socket, v);
	}
	if ((m = config_setting_get_member(root, "metrics"))) {
		static const char *const members[] = { "listen", NULL };
		const config_setting_t *l;

		if (!config_setting_is_group(m))
			return fail(p, m, "metrics", "must be a group { listen = \"ADDRESS:PORT\"; }");
		err = check_members(p, m, "metrics", members);
		if (err)
			return err;
		cfg->metrics.enabled = true;
		if ((l = config_setting_get_member(m, "listen"))) {
			err = get_string(p, l, "metrics.listen", &v);
			if (!err)
				err = parse_endpoint(p, l, "metrics.listen", v, &cfg->metrics.listen);
			if (err)
				return err;
		}
	}
	m = config_setting_get_member(root, "relays");
	if (!m)
		return fail(p, root, "relays", "missing: define at least one relay");
	err = get_list(p, m, "relays", 1, CONFIG_MAX_RELAYS, &n);
	for (i = 0; !err && i < n; i++) {
		unsigned j;

		err = parse_relay(p, config_setting_get_elem(m, i), i, &cfg->relays[i]);
		for (j = 0; !err && j < i; j++) {
			if (strcmp(cfg->relays[i].name, cfg->relays[j].name) == 0) {
				snprintf(path, sizeof(path), "relays[%u].name", i);
				err = fail(p, config_setting_get_elem(m, i), path,
					   "\"%s\" is already the name of relays[%u]",
					   cfg->relays[i].name, j);
			}
		}
	}
	if (err)
		return err;
	cfg->n_relays = n;
	err = check_listeners(p, m, cfg);
	if (err)
		return err;
	if ((m = config_setting_get_member(root, "filter")))
		err = parse_filter(p, m, &cfg->filter);
	return err;
}

static int load(const char *text, const char *file, struct config **out, char *err,
		size_t errlen)
{
	struct parser p = { .file = file, .err = err, .errlen = errlen };
	struct config *cfg;
	config_t lc;
	int ret;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		snprintf(err, errlen, "%s: out of memory", file);
		return -ENOMEM;
	}
	config_defaults(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "%s", file);
	config_init(&lc);
	if (!config_read_string(&lc, text)) {
		snprintf(err, errlen, "%s:%d: syntax error: %s", file, config_error_line(&lc),
			 config_error_text(&lc));
		ret = -EINVAL;
		goto out;
	}
	ret = parse_root(&p, config_root_setting(&lc), cfg);
out:
	config_destroy(&lc);
	if (ret) {
		free(cfg);
		return ret;
	}
	*out = cfg;
	return 0;
}

int config_load_string(const char *text, const char *name, struct config **out, char *err,
		       size_t errlen)
{
	return load(text, name, out, err, errlen);
}

int config_load_file(const char *path, struct config **out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f, *mem;
	char chunk[4096];
	size_t n;
	int ret;

	*out = NULL;
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	/* Read the whole file so parsing stays a pure function of text (and fuzzable). */
	mem = open_memstream(&text, &len);
	if (!mem) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, mem);
	ret = ferror(f) ? -EIO : 0;
	fclose(f);
	fclose(mem);
	if (ret) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(EIO));
		free(text);
		return ret;
	}
	ret = load(text, path, out, err, errlen);
	free(text);
	return ret;
}

void config_free(struct config *cfg)
{
	free(cfg);
}

int config_check_host(const struct config *cfg, char *err, size_t errlen)
{
	uint32_t i;

	if (cfg->filter.mode == FILTER_MODE_OFF)
		return 0;
	for (i = 0; i < cfg->filter.n_interfaces; i++) {
		if (if_nametoindex(cfg->filter.interfaces[i]) == 0) {
			snprintf(err, errlen,
				 "%s:%d: filter.interfaces[%u]: no such network interface '%s'",
				 cfg->path, cfg->filter.interface_line[i], i,
				 cfg->filter.interfaces[i]);
			return -ENODEV;
		}
	}
	return 0;
}

static void dump_prefixes(FILE *f, const char *name, const struct filter_prefix *p, uint32_t n)
{
	uint32_t i;

	fprintf(f, "  %s = [", name);
	for (i = 0; i < n; i++) {
		struct addr a = { 0 };
		char buf[ADDR_STRLEN], *colon;
		bool v4 = memcmp(p[i].prefix.bytes, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
			  p[i].prefix.len >= 96;

		if (v4) {
			a.in4.sin_family = AF_INET;
			memcpy(&a.in4.sin_addr, p[i].prefix.bytes + 12, 4);
		} else {
			a.in6.sin6_family = AF_INET6;
			memcpy(&a.in6.sin6_addr, p[i].prefix.bytes, 16);
		}
		addr_format(&a, buf, sizeof(buf));
		/* Drop the ":0" port (and the brackets) addr_format adds. */
		colon = strrchr(buf, ':');
		*colon = '\0';
		if (!v4) {
			memmove(buf, buf + 1, strlen(buf));
			buf[strlen(buf) - 1] = '\0';
		}
		fprintf(f, "%s\"%s/%u\"", i ? ", " : " ", buf, p[i].prefix.len - (v4 ? 96 : 0));
	}
	fprintf(f, "%s];\n", n ? " " : "");
}

void config_dump(const struct config *cfg, FILE *f)
{
	const struct filter_conf *fl = &cfg->filter;
	char buf[ADDR_STRLEN];
	uint32_t i, j;

	fprintf(f, "# effective configuration of %s\n", cfg->path);
	fprintf(f, "workers = %u;\n", cfg->workers);
	fprintf(f, "io_backend = \"%s\";\n", config_backend_name(cfg->io_backend));
	fprintf(f, "cpus = [");
	for (i = 0; i < cfg->n_cpus; i++)
		fprintf(f, "%s%d", i ? ", " : " ", cfg->cpus[i]);
	fprintf(f, "%s];\n", cfg->n_cpus ? " " : "");
	fprintf(f, "buffer_size = %u;\nbuffers = %u;\n", cfg->buffer_size, cfg->buffers);
	fprintf(f, "stats_interval = %.17g;\n", cfg->stats_interval);
	fprintf(f, "user = \"%s\";\ncontrol_socket = \"%s\";\n", cfg->user, cfg->control_socket);
	if (cfg->metrics.enabled)
		fprintf(f, "metrics = { listen = \"%s\"; };\n",
			addr_format(&cfg->metrics.listen, buf, sizeof(buf)));
	fprintf(f, "relays = (\n");
	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *r = &cfg->relays[i];

		fprintf(f, "  { name = \"%s\";\n    listen = [", r->name);
		for (j = 0; j < r->n_listen; j++)
			fprintf(f, "%s\"%s\"", j ? ", " : " ",
				addr_format(&r->listen[j], buf, sizeof(buf)));
		fprintf(f, " ];\n    upstreams = [");
		for (j = 0; j < r->n_upstreams; j++)
			fprintf(f, "%s\"%s weight=%u\"", j ? ", " : " ",
				addr_format(&r->upstreams[j].addr, buf, sizeof(buf)),
				r->upstreams[j].weight);
		fprintf(f, " ];\n    mode = \"%s\";\n    balance = \"%s\";\n",
			config_mode_name(r->mode), config_balance_name(r->balance));
		fprintf(f, "    session_timeout = %.17g;\n    max_sessions = %u; }%s\n",
			r->session_timeout, r->max_sessions, i + 1 < cfg->n_relays ? "," : "");
	}
	fprintf(f, ");\n");
	if (fl->mode == FILTER_MODE_OFF && fl->n_interfaces == 0)
		return;
	fprintf(f, "filter = {\n  mode = \"%s\";\n  interfaces = [", filter_mode_names[fl->mode]);
	for (i = 0; i < fl->n_interfaces; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : " ", fl->interfaces[i]);
	fprintf(f, " ];\n  default = \"%s\";\n  scope = \"%s\";\n",
		verdict_names[fl->default_verdict], scope_names[fl->scope]);
	dump_prefixes(f, "deny", fl->deny, fl->n_deny);
	dump_prefixes(f, "allow", fl->allow, fl->n_allow);
	fprintf(f, "  ports = (");
	for (i = 0; i < fl->n_ports; i++)
		fprintf(f, "%s{ ports = \"%u-%u\"; verdict = \"%s\"; }", i ? ", " : " ",
			fl->ports[i].lo, fl->ports[i].hi, verdict_names[fl->ports[i].verdict]);
	fprintf(f, "%s);\n", fl->n_ports ? " " : "");
	fprintf(f, "  relay_ports_only = %s;\n", fl->relay_ports_only ? "true" : "false");
	fprintf(f, "  rate_limit = { pps = %u; burst = %u; prefix4 = %u; prefix6 = %u; };\n",
		fl->rate_pps, fl->rate_burst ? fl->rate_burst : 1, fl->rate_prefix4,
		fl->rate_prefix6);
	fprintf(f, "  pin = %s;\n};\n", fl->pin ? "true" : "false");
}
