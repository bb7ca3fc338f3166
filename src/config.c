// SPDX-License-Identifier: MIT
/* The config: its root and relay sections as tables of settings (config_parse.h; the filter
 * section is config_filter.c), the entry points, the dump and the restart-only settings. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "config.h"
#include "config_filter.h"
#include "config_parse.h"
#include "netlink.h"

/* The config words; the enum value indexes its word. */
static const char *const backend_words[] = {[IO_BACKEND_AUTO] = "auto",
					    [IO_BACKEND_IO_URING] = "io_uring",
					    [IO_BACKEND_MMSG] = "mmsg",
					    NULL};
static const char *const steering_words[] = {
    [STEERING_AUTO] = "auto", [STEERING_CPU] = "cpu", [STEERING_HASH] = "hash", NULL};
static const char *const mode_words[] = {
    [RELAY_MODE_FORWARD] = "forward", [RELAY_MODE_MIRROR] = "mirror", NULL};
static const char *const offload_words[] = {[OFFLOAD_OFF] = "off",
					    [OFFLOAD_AUTO] = "auto",
					    [OFFLOAD_XDP] = "xdp",
					    [OFFLOAD_TC] = "tc",
					    NULL};
static const char *const shed_words[] = {
    [SHED_OFF] = "off", [SHED_AUTO] = "auto", [SHED_ON] = "on", NULL};
static const char *const shed_hook_words[] = {
    [SHED_HOOK_AUTO] = "auto", [SHED_HOOK_XDP] = "xdp", [SHED_HOOK_TC] = "tc", NULL};
static const char *const balance_words[] = {
    [BALANCE_RR] = "rr", [BALANCE_HASH] = "hash", [BALANCE_MAGLEV] = "maglev", NULL};
static const char *const session_full_words[] = {
    [SESSION_FULL_DROP] = "drop", [SESSION_FULL_EVICT] = "evict", NULL};
static const char *const upstream_down_words[] = {
    [UPSTREAM_DOWN_MOVE] = "move", [UPSTREAM_DOWN_KEEP] = "keep", NULL};
static const char *const log_format_words[] = {
    [LOG_FORMAT_TEXT] = "text", [LOG_FORMAT_JSON] = "json", NULL};

#define CONFIG_MAX_FILE_SIZE (16u << 20)
#define CONFIG_MAX_WORKERS 1024
#define CONFIG_MAX_SESSIONS 4194304
#define CONFIG_SUN_PATH_LEN (sizeof(((struct sockaddr_un *)0)->sun_path))

/* ---------------------------------------------------------------- relays */

static bool name_ok(const char *name)
{
	for (; *name; name++)
		if (!isalnum((unsigned char)*name) && !strchr("_.-", *name))
			return false;
	return true;
}

/* Refuses (at setting s) a parsed IPv6 address no socket here can use: a mapped IPv4 address
 * (every IPv6 socket here is IPV6_V6ONLY: bind and connect refuse it) or a link-local one (it
 * needs a scope, which an address here cannot carry). 0 for any other. */
static int check_usable(struct config_parser *p, const config_setting_t *s, const struct addr *a)
{
	if (addr_family(a) != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr))
		return config_err(p, s, "an IPv4-mapped IPv6 address: write it as IPv4, A.B.C.D");
	if (IN6_IS_ADDR_LINKLOCAL(&a->in6.sin6_addr))
		return config_err(p, s, "a link-local address needs an interface scope, which is "
					"not supported: use a global or unique local address");
	return 0;
}

/* A listener clashes with an earlier one when both would bind the same family and port and
 * the addresses are equal or either is the wildcard (the kernel refuses the second bind, or
 * with SO_REUSEPORT the two would share traffic). */
static int check_listener(struct config_parser *p, const config_setting_t *s, const struct addr *a,
			  uint32_t relay, uint32_t idx)
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

static int parse_listen(struct config_parser *p, const config_setting_t *g,
			const config_setting_t *s, void *base)
{
	struct relay_conf *r = base;
	uint32_t relay = (uint32_t)(r - p->cfg->relays);
	unsigned int i, n;
	int err;

	if (!s)
		return config_err_member(p, g, "listen",
					 "missing; give 1 to %d addresses like \"198.18.1.2:5000\"",
					 CONFIG_MAX_LISTEN);
	err = config_get_list(p, s, CONFIG_TYPE_STRING, 1, CONFIG_MAX_LISTEN, &n);
	if (err)
		return err;
	r->n_listen = 0;
	r->n_listen_names = 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *text = config_setting_get_string(e), *why, *why_name;
		char host[CONFIG_HOST_LEN];
		uint16_t port;

		if (addr_parse_endpoint(text, &r->listen[r->n_listen], &why)) {
			/* a name is resolved by config_resolve (start, reload) */
			if (addr_parse_name(text, host, sizeof(host), &port, &why_name) ||
			    strlen(text) >= CONFIG_UPSTREAM_TEXT)
				return config_err(p, e, "%s", why_name ? why_name : why);
			r->listen_line[i] = config_line(e);
			r->listen_name_entry[r->n_listen_names] = (uint8_t)i;
			memcpy(r->listen_names[r->n_listen_names++], text, strlen(text) + 1);
			continue;
		}
		r->listen_line[i] = config_line(e);
		r->listen_entry[r->n_listen] = (uint8_t)i;
		err = check_usable(p, e, &r->listen[r->n_listen]);
		if (!err)
			err = check_listener(p, e, &r->listen[r->n_listen], relay, r->n_listen);
		if (err)
			return err;
		r->n_listen++;
	}
	r->n_listen_literal = r->n_listen;
	return 0;
}

/* "ADDRESS:PORT" optionally followed by "weight=N" (1..100). */
static int parse_upstream(struct config_parser *p, const config_setting_t *e,
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
	memset(u, 0, sizeof(*u));
	memcpy(u->text, opt, strlen(opt) + 1);
	if (addr_parse_endpoint(opt, &u->addr, &why)) {
		const char *why_name;

		/* Not an address: a name, resolved by config_resolve (start, reload). */
		if (addr_parse_name(opt, u->host, sizeof(u->host), &u->port, &why_name))
			return config_err(p, e, "%s", why_name ? why_name : why);
		u->is_name = true;
	} else if (addr_is_any(&u->addr)) {
		return config_err(p, e, "an upstream needs a specific address, not a wildcard");
	} else if (check_usable(p, e, &u->addr)) {
		return -EINVAL;
	}
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

static int parse_upstreams(struct config_parser *p, const config_setting_t *g,
			   const config_setting_t *s, void *base)
{
	struct relay_conf *r = base;
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
	r->n_members = 0;
	r->has_names = false;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		struct upstream_conf *u = &r->upstreams[i];

		err = parse_upstream(p, e, u);
		if (err)
			return err;
		u->line = config_line(e);
		for (j = 0; j < i; j++) {
			const struct upstream_conf *o = &r->upstreams[j];

			if (u->is_name ? o->is_name && !strcasecmp(u->host, o->host) &&
						 u->port == o->port
				       : !o->is_name && addr_equal(&u->addr, &o->addr))
				return config_err(
				    p, e, "%s is listed twice (first as upstreams[%u])",
				    u->is_name ? u->text : addr_format(&u->addr, text, sizeof(text)),
				    j);
		}
		if (u->is_name) {
			r->has_names = true;
			continue;
		}
		r->members[r->n_members++] =
			(struct member_conf){ .addr = u->addr, .weight = u->weight, .entry = i };
	}
	r->n_upstreams = n;
	return 0;
}

static int parse_name(struct config_parser *p, const config_setting_t *g,
		      const config_setting_t *s, void *base)
{
	struct relay_conf *r = base;
	uint32_t i, idx = (uint32_t)(r - p->cfg->relays);
	const char *name = NULL;
	int err;

	if (!s)
		return config_err_member(p, g, "name", "missing; every relay needs a name");
	err = config_get_string(p, s, &name);
	if (err)
		return err;
	if (!*name)
		return config_err(p, s, "must not be empty");
	if (strlen(name) >= CONFIG_NAME_LEN)
		return config_err(p, s, "too long (at most %d characters)", CONFIG_NAME_LEN - 1);
	if (!name_ok(name))
		return config_err(p, s, "may contain only letters, digits, '_', '.' and '-'");
	for (i = 0; i < idx; i++)
		if (strcmp(p->cfg->relays[i].name, name) == 0)
			return config_err(p, s, "'%s' is already the name of relays[%u]", name, i);
	memcpy(r->name, name, strlen(name) + 1);
	return 0;
}

static void dump_name(FILE *f, const void *base, const char *indent)
{
	const struct relay_conf *r = base;

	fprintf(f, "%sname = ", indent);
	config_dump_string(f, r->name);
	fputs(";\n", f);
}

static void dump_listen(FILE *f, const void *base, const char *indent)
{
	const struct relay_conf *r = base;
	char text[ADDR_STRLEN];
	uint32_t i;

	fprintf(f, "%slisten = [", indent);
	for (i = 0; i < r->n_listen_literal; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : " ",
			addr_format(&r->listen[i], text, sizeof(text)));
	for (i = 0; i < r->n_listen_names; i++)
		fprintf(f, "%s\"%s\"", i + r->n_listen_literal ? ", " : " ", r->listen_names[i]);
	fputs(" ];\n", f);
}

static void dump_upstreams(FILE *f, const void *base, const char *indent)
{
	const struct relay_conf *r = base;
	char text[ADDR_STRLEN];
	uint32_t i;

	fprintf(f, "%supstreams = [", indent);
	for (i = 0; i < r->n_upstreams; i++)
		fprintf(f, "%s\n%s\t\"%s weight=%u\"", i ? "," : "", indent,
			r->upstreams[i].is_name
				? r->upstreams[i].text
				: addr_format(&r->upstreams[i].addr, text, sizeof(text)),
			r->upstreams[i].weight);
	fprintf(f, "\n%s];\n", indent);
}

/* ---------------------------------------------------------------- relay: source, checks */

static const char *const source_word_client = "client";

static int parse_source(struct config_parser *p, const config_setting_t *g,
			const config_setting_t *s, void *base)
{
	struct relay_conf *r = base;
	const char *text, *why;
	char buf[ADDR_STRLEN + 8];
	int err;

	r->source = SOURCE_DEFAULT;
	if (!s)
		return 0;
	err = config_get_string(p, s, &text);
	if (err)
		return err;
	if (!*text)
		return 0;
	if (!strcmp(text, source_word_client)) {
		r->source = SOURCE_CLIENT;
		return 0;
	}
	/* An address without a port: the port is the kernel's choice, per socket. */
	snprintf(buf, sizeof(buf), strchr(text, ':') ? "[%s]:0" : "%s:0", text);
	if (strlen(text) > ADDR_STRLEN || addr_parse(buf, &r->source_addr, &why) ||
	    addr_is_any(&r->source_addr))
		return config_err(p, s, "expected \"client\" or an address of this host, e.g. "
					"\"198.18.2.1\" or \"2001:2::1\"");
	if (check_usable(p, s, &r->source_addr))
		return -EINVAL;
	r->source = SOURCE_ADDRESS;
	return 0;
}

static void dump_source(FILE *f, const void *base, const char *indent)
{
	const struct relay_conf *r = base;
	char text[ADDR_STRLEN], *port;

	if (r->source == SOURCE_DEFAULT)
		return;
	if (r->source == SOURCE_CLIENT) {
		fprintf(f, "%ssource = \"%s\";\n", indent, source_word_client);
		return;
	}
	addr_format(&r->source_addr, text, sizeof(text));
	/* "ADDR:0" or "[ADDR]:0" -> the address alone */
	port = strrchr(text, ':');
	*port = '\0';
	if (text[0] == '[') {
		port[-1] = '\0';
		fprintf(f, "%ssource = \"%s\";\n", indent, text + 1);
	} else {
		fprintf(f, "%ssource = \"%s\";\n", indent, text);
	}
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A probe's bytes: text as it is, or "hex:" and pairs of hex digits (blanks allowed). */
static int parse_probe(struct config_parser *p, const config_setting_t *s, uint8_t *out,
		       uint32_t *len, char *text_out, size_t text_len)
{
	const char *text, *c;
	uint32_t n = 0;
	int err, hi, lo;

	*len = 0;
	text_out[0] = '\0';
	if (!s)
		return 0;
	err = config_get_string(p, s, &text);
	if (err)
		return err;
	if (strlen(text) >= text_len)
		return config_err(p, s, "too long (at most %u bytes)", CONFIG_PROBE_MAX);
	if (strncmp(text, "hex:", 4) != 0) {
		if (strlen(text) > CONFIG_PROBE_MAX)
			return config_err(p, s, "too long (at most %u bytes)", CONFIG_PROBE_MAX);
		memcpy(out, text, strlen(text));
		n = (uint32_t)strlen(text);
	} else {
		for (c = text + 4; *c;) {
			if (*c == ' ' || *c == '\t' || *c == ':') {
				c++;
				continue;
			}
			hi = hex_digit(c[0]);
			lo = c[1] ? hex_digit(c[1]) : -1;
			if (hi < 0 || lo < 0)
				return config_err(p, s, "after \"hex:\" give pairs of hex digits, "
							"e.g. \"hex:00 01 ab\"");
			if (n == CONFIG_PROBE_MAX)
				return config_err(p, s, "too long (at most %u bytes)",
						  CONFIG_PROBE_MAX);
			out[n++] = (uint8_t)(hi << 4 | lo);
			c += 2;
		}
	}
	*len = n;
	memcpy(text_out, text, strlen(text) + 1);
	return 0;
}

static int parse_send(struct config_parser *p, const config_setting_t *g,
		      const config_setting_t *s, void *base)
{
	struct health_check_conf *h = base;

	return parse_probe(p, s, h->send, &h->send_len, h->send_text, sizeof(h->send_text));
}

static int parse_expect(struct config_parser *p, const config_setting_t *g,
			const config_setting_t *s, void *base)
{
	struct health_check_conf *h = base;

	return parse_probe(p, s, h->expect, &h->expect_len, h->expect_text,
			   sizeof(h->expect_text));
}

static void dump_send(FILE *f, const void *base, const char *indent)
{
	fprintf(f, "%ssend = ", indent);
	config_dump_string(f, ((const struct health_check_conf *)base)->send_text);
	fputc(';', f);
}

static void dump_expect(FILE *f, const void *base, const char *indent)
{
	fprintf(f, "%sexpect = ", indent);
	config_dump_string(f, ((const struct health_check_conf *)base)->expect_text);
	fputc(';', f);
}

static const struct config_row check_rows[] = {
	{"interval", CONFIG_T_SECONDS, CONFIG_FIELD(struct health_check_conf, interval),
	 .def.d = 5.0},
	{"timeout", CONFIG_T_SECONDS, CONFIG_FIELD(struct health_check_conf, timeout),
	 .def.d = 1.0},
	{"rise", CONFIG_T_U32, CONFIG_FIELD(struct health_check_conf, rise), .lo = 1, .hi = 100,
	 .def.i = 2},
	{"fall", CONFIG_T_U32, CONFIG_FIELD(struct health_check_conf, fall), .lo = 1, .hi = 100,
	 .def.i = 3},
	{"send", CONFIG_T_CUSTOM, .parse = parse_send, .dump = dump_send},
	{"expect", CONFIG_T_CUSTOM, .parse = parse_expect, .dump = dump_expect},
};

static void check_present(struct config_parser *p, const config_setting_t *g, void *base)
{
	((struct health_check_conf *)base)->enabled = true;
}

static int check_check(struct config_parser *p, const config_setting_t *g, void *base)
{
	const struct health_check_conf *h = base;

	/* The upkeep thread turns results into state every tick: a shorter interval would
	 * count only a tick's last result, and send at the pace of the replies. */
	if (h->interval < CONFIG_MIN_INTERVAL)
		return config_err_member(p, g, "interval", "must be at least %g seconds",
					 CONFIG_MIN_INTERVAL);
	if (h->timeout > h->interval)
		return config_err_member(p, g, "timeout", "must not be longer than interval (%g s)",
					 h->interval);
	if (!h->send_len)
		return config_err_member(p, g, "send",
					 "missing; the probe to send, as text or \"hex:...\"");
	return 0;
}

static const struct config_section check_section = {
	CONFIG_SECTION(check_rows),
	.example = "{ interval = 5; timeout = 1; rise = 2; fall = 3; send = \"ping\"; }",
	.present = check_present,
	.check = check_check,
};

static int parse_health_check(struct config_parser *p, const config_setting_t *g,
			      const config_setting_t *s, void *base)
{
	struct relay_conf *r = base;

	config_section_defaults(&check_section, &r->health_check);
	r->health_check.enabled = false;
	return config_parse_group(p, s, &check_section, &r->health_check);
}

static void dump_health_check(FILE *f, const void *base, const char *indent)
{
	const struct relay_conf *r = base;

	if (!r->health_check.enabled)
		return;
	fprintf(f, "%shealth_check = ", indent);
	config_dump_inline(f, &check_section, &r->health_check);
	fputs(";\n", f);
}

/* One client address gets a quarter of the table unless the file says otherwise: a host
 * (or one NAT in front of many) still has room for thousands of flows by default, and it
 * takes at least four addresses to fill the table, so one host that opens flows from every
 * source port it has no longer locks every other client out. */
#define CONFIG_SOURCE_SHARE 4

static uint32_t per_source_default(uint32_t max_sessions)
{
	uint32_t n = max_sessions / CONFIG_SOURCE_SHARE;

	return n ? n : 1;
}

/* max_sessions_per_source follows max_sessions unless set, and is at most that. */
static int sessions_check(struct config_parser *p, const config_setting_t *g,
			  struct relay_conf *r)
{
	const config_setting_t *s = config_setting_get_member(g, "max_sessions_per_source");

	if (!r->max_sessions_per_source) {
		r->per_source_default = true;
		r->max_sessions_per_source = per_source_default(r->max_sessions);
	} else if (r->max_sessions_per_source > r->max_sessions) {
		return config_err(p, s,
				  "%u is more than max_sessions (%u): at most max_sessions, which "
				  "sets no limit of its own",
				  r->max_sessions_per_source, r->max_sessions);
	}
	return 0;
}

static bool client_family_clash(const struct relay_conf *rc, char *why, size_t len);

/* Across a relay's settings: a source address must be of the family of its literal
 * upstreams (a name's addresses of the other family are left out when resolved); the
 * sessions' limits. */
static int relay_check(struct config_parser *p, const config_setting_t *g, void *base)
{
	struct relay_conf *r = base;
	char text[ADDR_STRLEN], why[160];
	uint32_t i;

	if (r->resolve_interval > 0 && r->resolve_interval < CONFIG_MIN_INTERVAL)
		return config_err_member(p, g, "resolve_interval",
					 "must be 0 (off) or at least %g seconds", CONFIG_MIN_INTERVAL);
	for (i = 0; r->source == SOURCE_ADDRESS && i < r->n_members; i++)
		if (addr_family(&r->members[i].addr) != addr_family(&r->source_addr))
			return config_err_member(
			    p, g, "source", "upstream %s is of the other address family",
			    addr_format(&r->members[i].addr, text, sizeof(text)));
	if (r->source == SOURCE_CLIENT && client_family_clash(r, why, sizeof(why)))
		return config_err_member(p, g, "source", "%s", why);
	if (r->reply_timeout > 0 && r->mode == RELAY_MODE_MIRROR)
		return config_err_member(p, g, "reply_timeout",
					 "applies to forward mode only (a mirror expects no reply)");
	return sessions_check(p, g, r);
}

static const struct config_row relay_rows[] = {
	{"name", CONFIG_T_CUSTOM, .parse = parse_name, .dump = dump_name},
	{"listen", CONFIG_T_CUSTOM, .parse = parse_listen, .dump = dump_listen},
	{"upstreams", CONFIG_T_CUSTOM, .parse = parse_upstreams, .dump = dump_upstreams},
	{"mode", CONFIG_T_WORD, CONFIG_FIELD(struct relay_conf, mode), .words = mode_words,
	 .def.i = RELAY_MODE_FORWARD},
	/* mirror sends to every upstream, so balance is accepted there and has no effect */
	{"balance", CONFIG_T_WORD, CONFIG_FIELD(struct relay_conf, balance), .words = balance_words,
	 .def.i = BALANCE_RR},
	{"session_timeout", CONFIG_T_SECONDS, CONFIG_FIELD(struct relay_conf, session_timeout),
	 .def.d = 30.0},
	/* sizes the session tables: a reload keeps it */
	{"max_sessions", CONFIG_T_U32, CONFIG_FIELD(struct relay_conf, max_sessions), .lo = 1,
	 .hi = CONFIG_MAX_SESSIONS, .def.i = 4096, .restart_only = true},
	/* the session fast path; mirror mode keeps the socket path (docs/offload.md) */
	{"offload", CONFIG_T_WORD, CONFIG_FIELD(struct relay_conf, offload), .words = offload_words,
	 .def.i = OFFLOAD_OFF},
	/* early shedding in the BPF program; the program is loaded once, so "auto"/"on" after a
	 * start without it needs a restart (docs/offload.md) */
	{"shed", CONFIG_T_WORD, CONFIG_FIELD(struct relay_conf, shed), .words = shed_words,
	 .def.i = SHED_AUTO},
	/* counted in 100 ms windows: 320 = 32 datagrams per window */
	{"shed_flow_rate", CONFIG_T_U32, CONFIG_FIELD(struct relay_conf, shed_flow_rate),
	 .hi = 1000000000, .def.i = 320},
	/* 0 until the check fills in the default, which follows max_sessions */
	{"max_sessions_per_source", CONFIG_T_U32,
	 CONFIG_FIELD(struct relay_conf, max_sessions_per_source), .lo = 1,
	 .hi = CONFIG_MAX_SESSIONS, .def.i = 0},
	{"session_full", CONFIG_T_WORD, CONFIG_FIELD(struct relay_conf, session_full),
	 .words = session_full_words, .def.i = SESSION_FULL_DROP},
	{"upstream_down", CONFIG_T_WORD, CONFIG_FIELD(struct relay_conf, upstream_down),
	 .words = upstream_down_words, .def.i = UPSTREAM_DOWN_MOVE},
	/* checked before the listeners open, so a reload may change it */
	{"reuseport_shared", CONFIG_T_BOOL, CONFIG_FIELD(struct relay_conf, reuseport_shared)},
	{"max_fails", CONFIG_T_U32, CONFIG_FIELD(struct relay_conf, max_fails), .hi = 1000,
	 .def.i = 3},
	{"fail_timeout", CONFIG_T_SECONDS, CONFIG_FIELD(struct relay_conf, fail_timeout),
	 .def.d = 10.0},
	{"reply_timeout", CONFIG_T_SECONDS, CONFIG_FIELD(struct relay_conf, reply_timeout),
	 .zero_off = true},
	{"health_check", CONFIG_T_CUSTOM, .parse = parse_health_check, .dump = dump_health_check},
	{"resolve_interval", CONFIG_T_SECONDS, CONFIG_FIELD(struct relay_conf, resolve_interval),
	 .zero_off = true},
	{"source", CONFIG_T_CUSTOM, .parse = parse_source, .dump = dump_source},
	{"fwmark", CONFIG_T_U32, CONFIG_FIELD(struct relay_conf, fwmark), .hi = 2147483647},
};

/* The line of g's member name, or g's own when it is not written. */
static int member_line(const config_setting_t *g, const char *name)
{
	const config_setting_t *m = config_setting_get_member(g, name);

	return config_line(m ? m : g);
}

static void relay_present(struct config_parser *p, const config_setting_t *g, void *base)
{
	struct relay_conf *r = base;

	r->line = config_line(g);
	r->max_sessions_line = member_line(g, "max_sessions");
	r->source_line = member_line(g, "source");
}

static const struct config_section relay_section = {
	CONFIG_SECTION(relay_rows),
	.example = "{ name = \"dns\"; listen = ...; }",
	.present = relay_present,
	.check = relay_check,
};

static int parse_relays(struct config_parser *p, const config_setting_t *root,
			const config_setting_t *s, void *base)
{
	struct config *cfg = base;
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
		err = config_parse_group(p, config_setting_get_elem(s, i), &relay_section,
					 &cfg->relays[i]);
		if (err)
			return err;
		cfg->n_relays = i + 1;
	}
	return 0;
}

static void dump_relays(FILE *f, const void *base, const char *indent)
{
	const struct config *cfg = base;
	uint32_t i;

	fprintf(f, "%srelays = (\n", indent);
	for (i = 0; i < cfg->n_relays; i++) {
		fprintf(f, "%s\t{\n", indent);
		config_dump_rows(f, &relay_section, &cfg->relays[i], "\t\t", "\n");
		fprintf(f, "%s\t}%s\n", indent, i + 1 == cfg->n_relays ? "" : ",");
	}
	fprintf(f, "%s);\n", indent);
}

/* ---------------------------------------------------------------- root */

static int parse_cpus(struct config_parser *p, const config_setting_t *root,
		      const config_setting_t *s, void *base)
{
	struct config *cfg = base;
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
		cfg->cpus_line[i] = config_line(e);
	}
	cfg->n_cpus = n;
	return 0;
}

static void dump_cpus(FILE *f, const void *base, const char *indent)
{
	const struct config *cfg = base;
	uint32_t i;

	fprintf(f, "%scpus = [", indent);
	for (i = 0; i < cfg->n_cpus; i++)
		fprintf(f, "%s%d", i ? ", " : " ", cfg->cpus[i]);
	fputs(" ];\n", f);
}

static const struct config_row metrics_rows[] = {
	{"listen", CONFIG_T_ENDPOINT, CONFIG_FIELD(struct metrics_conf, listen),
	 .def.s = "127.0.0.1:9470"},
};

/* A metrics section turns the metrics on. */
static void metrics_present(struct config_parser *p, const config_setting_t *g, void *base)
{
	struct metrics_conf *m = base;

	m->enabled = true;
}

static const struct config_section metrics_section = {
	CONFIG_SECTION(metrics_rows),
	.example = "{ listen = \"127.0.0.1:9470\"; }",
	.present = metrics_present,
};

static int parse_metrics(struct config_parser *p, const config_setting_t *root,
			 const config_setting_t *s, void *base)
{
	return config_parse_group(p, s, &metrics_section, &((struct config *)base)->metrics);
}

static void dump_metrics(FILE *f, const void *base, const char *indent)
{
	const struct config *cfg = base;

	if (!cfg->metrics.enabled) {
		fprintf(f, "%s# metrics: off (a metrics section turns them on)\n", indent);
		return;
	}
	fprintf(f, "%smetrics = ", indent);
	config_dump_inline(f, &metrics_section, &cfg->metrics);
	fputs(";\n", f);
}

/* Whether the group exists is the host's business (config_check_host); it needs the line. */
static int read_only_group_after(struct config_parser *p, const config_setting_t *s, void *base)
{
	p->cfg->control_access_line = config_line(s);
	return 0;
}

static const struct config_row control_access_rows[] = {
	{"read_only_group", CONFIG_T_STRING,
	 CONFIG_FIELD(struct control_access_conf, read_only_group), .hi = CONFIG_NAME_LEN,
	 .def.s = "", .after = read_only_group_after},
};

static const struct config_section control_access_section = {
	CONFIG_SECTION(control_access_rows),
	.example = "{ read_only_group = \"ringrelay-ro\"; }",
};

static int parse_control_access(struct config_parser *p, const config_setting_t *root,
				const config_setting_t *s, void *base)
{
	return config_parse_group(p, s, &control_access_section,
				  &((struct config *)base)->control_access);
}

static void dump_control_access(FILE *f, const void *base, const char *indent)
{
	const struct config *cfg = base;

	fprintf(f, "%scontrol_access = ", indent);
	config_dump_inline(f, &control_access_section, &cfg->control_access);
	fputs(";\n", f);
}

static int buffers_after(struct config_parser *p, const config_setting_t *s, void *base)
{
	const struct config *cfg = base;

	if (cfg->buffers & (cfg->buffers - 1))
		return config_err(p, s, "must be a power of two (64, 128, ... 32768)");
	return 0;
}

/* buffer_size follows gro unless the file sets it: 68 KiB for GRO (a coalesced receive and
 * its header), 2 KiB without. 65536, what gro needed before its buffers grew (files still
 * say it), is taken for 68 KiB: an upgrade must not stop a service. */
static int root_check(struct config_parser *p, const config_setting_t *g, void *base)
{
	struct config *cfg = base;

	if (!config_setting_get_member(g, "buffer_size"))
		cfg->buffer_size = cfg->gro ? CONFIG_GRO_BUFFER_SIZE : CONFIG_BUFFER_SIZE;
	else if (cfg->gro && cfg->buffer_size == 65536)
		cfg->buffer_size = CONFIG_GRO_BUFFER_SIZE;
	else if (cfg->gro && cfg->buffer_size != CONFIG_GRO_BUFFER_SIZE)
		return config_err(p, config_setting_get_member(g, "gro"),
				  "needs buffer_size = %u (a coalesced receive holds up to "
				  "65507 bytes after its header): set that, or leave buffer_size out",
				  CONFIG_GRO_BUFFER_SIZE);
	return 0;
}

static int control_socket_after(struct config_parser *p, const config_setting_t *s, void *base)
{
	const struct config *cfg = base;

	if (!cfg->control_socket[0])
		return config_err(p, s, "must not be empty");
	/* The start makes and checks its directory, which "/" is not (control_dir_ready). */
	if (cfg->control_socket[0] != '/' || strrchr(cfg->control_socket, '/') == cfg->control_socket)
		return config_err(p, s, "must be an absolute path in a directory other than /, "
				     "e.g. \"/run/ringrelay/ringrelay.sock\"");
	return 0;
}

/* The plan names workers in its errors, at this line. */
static int workers_after(struct config_parser *p, const config_setting_t *s, void *base)
{
	struct config *cfg = base;

	(void)p;
	cfg->workers_line = config_line(s);
	return 0;
}

/* Whether the user exists is the host's business (config_check_host); it needs the line. */
static int user_after(struct config_parser *p, const config_setting_t *s, void *base)
{
	struct config *cfg = base;

	cfg->user_line = config_line(s);
	return 0;
}

/* A file the daemon writes after it may have changed directory: an absolute path. */
static int absolute_path_after(struct config_parser *p, const config_setting_t *s, void *base)
{
	const char *v = config_setting_get_string(s);

	if (*v && *v != '/')
		return config_err(p, s, "must be an absolute path (or \"\" for none)");
	return 0;
}

static int access_log_after(struct config_parser *p, const config_setting_t *s, void *base)
{
	const char *v = config_setting_get_string(s);

	if (*v && *v != '/' && strcmp(v, "-") != 0)
		return config_err(p, s,
				  "must be an absolute path, \"-\" (the daemon's log) or \"\" (off)");
	return 0;
}

/* ---------------------------------------------------------------- napi */

/* The settings a worker uses when it makes its ring or epoll instance are restart-only, and
 * so is threaded (its sysfs file is root's to write, and the admin thread keeps no
 * CAP_SYS_NICE to pin threads unless it was on at start); the per-NAPI values are reapplied
 * by a reload. */
static const struct config_row napi_rows[] = {
	{"busy_poll_us", CONFIG_T_U32, CONFIG_FIELD(struct napi_conf, busy_poll_us), .hi = 100000,
	 .def.i = 0, .restart_only = true},
	{"prefer_busy_poll", CONFIG_T_BOOL, CONFIG_FIELD(struct napi_conf, prefer_busy_poll),
	 .def.i = 1, .restart_only = true},
	/* above 64 the epoll ioctl needs CAP_NET_ADMIN, which workers do not keep */
	{"busy_poll_budget", CONFIG_T_U32, CONFIG_FIELD(struct napi_conf, busy_poll_budget),
	 .lo = 1, .hi = 64, .def.i = 64, .restart_only = true},
	{"defer_hard_irqs", CONFIG_T_U32, CONFIG_FIELD(struct napi_conf, defer_hard_irqs),
	 .hi = 2147483647, .def.i = 0},
	{"gro_flush_timeout", CONFIG_T_U32, CONFIG_FIELD(struct napi_conf, gro_flush_timeout),
	 .hi = 2147483647, .def.i = 0},
	{"irq_suspend_timeout", CONFIG_T_U32, CONFIG_FIELD(struct napi_conf, irq_suspend_timeout),
	 .hi = 2147483647, .def.i = 0},
	{"threaded", CONFIG_T_BOOL, CONFIG_FIELD(struct napi_conf, threaded), .restart_only = true},
	{"thread_nice", CONFIG_T_INT, CONFIG_FIELD(struct napi_conf, thread_nice), .lo = -20,
	 .hi = 19, .def.i = 5},
	{"flood_nice", CONFIG_T_INT, CONFIG_FIELD(struct napi_conf, flood_nice), .lo = -20,
	 .hi = 19, .def.i = 10},
};

/* IRQ suspension is driven by preferred busy polling and outlasts the GRO timer (the
 * kernel's rule: it only ever extends what gro_flush_timeout deferred). */
static int napi_check(struct config_parser *p, const config_setting_t *g, void *base)
{
	const struct napi_conf *n = base;

	if (!n->irq_suspend_timeout)
		return 0;
	if (!n->busy_poll_us || !n->prefer_busy_poll)
		return config_err_member(p, g, "irq_suspend_timeout",
					 "needs busy polling with prefer_busy_poll = true "
					 "(busy_poll_us > 0), or set it to 0");
	if (n->irq_suspend_timeout <= n->gro_flush_timeout)
		return config_err_member(p, g, "irq_suspend_timeout",
					 "must be longer than gro_flush_timeout (%u ns), or 0",
					 n->gro_flush_timeout);
	return 0;
}

static const struct config_section napi_section = {
	CONFIG_SECTION(napi_rows),
	.example = "{ busy_poll_us = 50; defer_hard_irqs = 2; gro_flush_timeout = 200000; }",
	.check = napi_check,
};

static int parse_napi(struct config_parser *p, const config_setting_t *root,
		      const config_setting_t *s, void *base)
{
	return config_parse_group(p, s, &napi_section, &((struct config *)base)->napi);
}

static void dump_napi(FILE *f, const void *base, const char *indent)
{
	const struct config *cfg = base;

	fprintf(f, "%snapi = ", indent);
	config_dump_inline(f, &napi_section, &cfg->napi);
	fputs(";\n", f);
}

/* The settings of the top level. Those that size threads or memory are restart_only. */
static const struct config_row root_rows[] = {
	{"workers", CONFIG_T_U32, CONFIG_FIELD(struct config, workers), .hi = CONFIG_MAX_WORKERS,
	 .def.i = 0 /* plan picks one per CPU */, .restart_only = true, .after = workers_after},
	{"io_backend", CONFIG_T_WORD, CONFIG_FIELD(struct config, io_backend),
	 .words = backend_words, .def.i = IO_BACKEND_AUTO, .restart_only = true},
	{"cpus", CONFIG_T_CUSTOM, CONFIG_SPAN(struct config, cpus, n_cpus), .parse = parse_cpus,
	 .dump = dump_cpus, .restart_only = true},
	{"steering", CONFIG_T_WORD, CONFIG_FIELD(struct config, steering),
	 .words = steering_words, .def.i = STEERING_AUTO},
	{"shed_hook", CONFIG_T_WORD, CONFIG_FIELD(struct config, shed_hook),
	 .words = shed_hook_words, .def.i = SHED_HOOK_AUTO},
	{"buffer_size", CONFIG_T_U32, CONFIG_FIELD(struct config, buffer_size), .lo = 256,
	 .hi = CONFIG_GRO_BUFFER_SIZE, .def.i = CONFIG_BUFFER_SIZE, .restart_only = true},
	{"buffers", CONFIG_T_U32, CONFIG_FIELD(struct config, buffers), .lo = 64, .hi = 32768,
	 .def.i = 4096, .restart_only = true, .after = buffers_after},
	{"gro", CONFIG_T_BOOL, CONFIG_FIELD(struct config, gro), .restart_only = true},
	/* main's event loop reads it once, at the start */
	{"stats_interval", CONFIG_T_SECONDS, CONFIG_FIELD(struct config, stats_interval),
	 .def.d = 5.0, .restart_only = true},
	{"user", CONFIG_T_STRING, CONFIG_FIELD(struct config, user), .hi = CONFIG_NAME_LEN,
	 .def.s = "", .restart_only = true, .after = user_after},
	/* the socket path must fit sun_path, which is shorter than CONFIG_PATH_LEN */
	{"control_socket", CONFIG_T_STRING, CONFIG_FIELD(struct config, control_socket),
	 .hi = CONFIG_SUN_PATH_LEN, .def.s = CONFIG_DEFAULT_CONTROL_SOCKET,
	 .restart_only = true, .after = control_socket_after},
	/* the socket's group is set when it is made */
	{"control_access", CONFIG_T_CUSTOM, CONFIG_FIELD(struct config, control_access),
	 .parse = parse_control_access, .dump = dump_control_access, .restart_only = true},
	{"pid_file", CONFIG_T_STRING, CONFIG_FIELD(struct config, pid_file), .hi = CONFIG_PATH_LEN,
	 .def.s = "", .restart_only = true, .after = absolute_path_after},
	{"log_format", CONFIG_T_WORD, CONFIG_FIELD(struct config, log_format),
	 .words = log_format_words, .def.i = LOG_FORMAT_TEXT, .restart_only = true},
	{"access_log", CONFIG_T_STRING, CONFIG_FIELD(struct config, access_log),
	 .hi = CONFIG_PATH_LEN, .def.s = "", .restart_only = true, .after = access_log_after},
	{"access_log_rate", CONFIG_T_U32, CONFIG_FIELD(struct config, access_log_rate), .lo = 1,
	 .hi = 1000000, .def.i = 1000, .restart_only = true},
	{"metrics", CONFIG_T_CUSTOM, CONFIG_FIELD(struct config, metrics), .parse = parse_metrics,
	 .dump = dump_metrics, .restart_only = true},
	{"relays", CONFIG_T_CUSTOM, .parse = parse_relays, .dump = dump_relays},
	{"filter", CONFIG_T_CUSTOM, .parse = config_filter_parse, .dump = config_filter_dump},
	{"napi", CONFIG_T_CUSTOM, .parse = parse_napi, .dump = dump_napi},
};

static const struct config_section root_section = {
	CONFIG_SECTION(root_rows),
	.example = "{ ... }",
	.check = root_check,
};

/* The only place defaults are set. Every relay slot gets the relay defaults, so parsing a
 * relay only overrides what the file says. */
static void config_set_defaults(struct config *cfg)
{
	uint32_t i;

	config_section_defaults(&root_section, cfg);
	config_section_defaults(&metrics_section, &cfg->metrics); /* off until a section */
	config_section_defaults(&control_access_section, &cfg->control_access);
	config_section_defaults(&napi_section, &cfg->napi);
	for (i = 0; i < CONFIG_MAX_RELAYS; i++)
		config_section_defaults(&relay_section, &cfg->relays[i]);
	config_filter_defaults(&cfg->filter);
}

/* ---------------------------------------------------------------- entry points */

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
			/* libconfig's @include: the files it pulls in would escape this scan and
			 * their errors would carry the wrong line */
			if (!strncmp(t, "@include", 8)) {
				snprintf(p->err, p->errlen,
					 "%s:%d: @include is not supported: put the settings in this "
					 "file", p->name, line);
				return -EINVAL;
			}
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
		ret = config_syntax_error(&p, text,
					  config_error_file(&lc) ? config_error_file(&lc) : name,
					  config_error_line(&lc), config_error_text(&lc));
		goto err_destroy_lc;
	}
	ret = config_parse_group(&p, config_root_setting(&lc), &root_section, cfg);
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

const char *config_listen_where(const struct config *cfg, uint32_t r, uint32_t i, char *buf,
				size_t len)
{
	const struct relay_conf *rc = &cfg->relays[r];
	uint32_t e = rc->listen_entry[i];

	snprintf(buf, len, "%s:%d: relays[%u].listen[%u]", cfg->path, rc->listen_line[e], r, e);
	return buf;
}

int config_check_accounts(const struct config *cfg, char *err, size_t errlen)
{
	/* -t must catch what would fail the start: errno is 0 for "no such user". */
	errno = 0;
	if (cfg->user[0] && !getpwnam(cfg->user)) {
		snprintf(err, errlen, "%s:%d: user: %s '%s'%s", cfg->path, cfg->user_line,
			 errno ? strerror(errno) : "no such user", cfg->user,
			 errno ? "" : " (create it, e.g. adduser --system, or leave user unset)");
		return errno ? -errno : -ENOENT;
	}
	errno = 0;
	if (cfg->control_access.read_only_group[0] &&
	    !getgrnam(cfg->control_access.read_only_group)) {
		snprintf(err, errlen, "%s:%d: control_access.read_only_group: %s '%s'%s", cfg->path,
			 cfg->control_access_line, errno ? strerror(errno) : "no such group",
			 cfg->control_access.read_only_group,
			 errno ? "" : " (create it, e.g. addgroup --system, or leave it unset)");
		return errno ? -errno : -ENOENT;
	}
	return 0;
}

int config_check_links(const struct config *cfg, char *err, size_t errlen)
{
	const struct filter_conf *f = &cfg->filter;
	uint32_t i;

	if (f->mode == FILTER_MODE_OFF)
		return 0;
	for (i = 0; i < f->n_interfaces; i++) {
		struct netlink_link link;
		int ret = netlink_link_info(f->interfaces[i], &link);

		if (ret == -ENODEV) {
			snprintf(err, errlen,
				 "%s:%d: filter.interfaces[%u]: no such network interface '%s'",
				 cfg->path, f->interface_line[i], i, f->interfaces[i]);
			return ret;
		}
		if (ret < 0) {
			snprintf(err, errlen, "%s:%d: filter.interfaces[%u]: '%s': %s", cfg->path,
				 f->interface_line[i], i, f->interfaces[i], strerror(-ret));
			return ret;
		}
		/* The program reads an Ethernet header first: on a layer 3 device it would read
		 * the IP source as the ethertype and judge nothing (or the wrong bytes). */
		if (!link.eth_frames) {
			snprintf(
			    err, errlen,
			    "%s:%d: filter.interfaces[%u]: '%s' is a layer 3 device (link type "
			    "%u: tun, WireGuard, an IP tunnel, ppp) whose packets carry no "
			    "Ethernet header, which the filter reads; name the Ethernet "
			    "interface the traffic arrives on instead (for a tunnel, the one "
			    "beneath it)",
			    cfg->path, f->interface_line[i], i, f->interfaces[i], link.type);
			return -EPROTOTYPE;
		}
	}
	return 0;
}

int config_check_host(const struct config *cfg, char *err, size_t errlen)
{
	int ret = config_check_accounts(cfg, err, errlen);

	return ret ? ret : config_check_links(cfg, err, errlen);
}

/* ---------------------------------------------------------------- dump */

void config_dump(const struct config *cfg, FILE *f)
{
	fprintf(f, "# effective configuration of %s, defaults included\n", cfg->path);
	config_dump_rows(f, &root_section, cfg, "", "\n");
}

void config_keep_restart(const struct config *running, struct config *next,
			 void (*changed)(void *arg, const char *what), void *arg)
{
	char prefix[CONFIG_NAME_LEN + 16];
	uint32_t i, j;

	config_keep_rows(&root_section, running, next, "", changed, arg);
	config_keep_rows(&napi_section, &running->napi, &next->napi, "napi.", changed, arg);
	config_filter_keep_restart(&running->filter, &next->filter, changed, arg);
	for (i = 0; i < next->n_relays; i++) {
		for (j = 0; j < running->n_relays; j++) {
			if (strcmp(running->relays[j].name, next->relays[i].name) != 0)
				continue;
			struct relay_conf *rc = &next->relays[i];

			snprintf(prefix, sizeof(prefix), "relay %s: ", rc->name);
			config_keep_rows(&relay_section, &running->relays[j], rc, prefix, changed,
					 arg);
			/* The per-source limit follows the max_sessions kept, not the file's (a
			 * default of the file's would be no limit, or a quarter of one); one set
			 * above the kept max_sessions is then no limit, as its own is. */
			if (rc->per_source_default)
				rc->max_sessions_per_source = per_source_default(rc->max_sessions);
			else if (rc->max_sessions_per_source > rc->max_sessions)
				rc->max_sessions_per_source = rc->max_sessions;
		}
	}
}

const char *config_backend_name(enum io_backend b)
{
	return config_word(backend_words, b);
}

const char *config_steering_name(enum steering s)
{
	return config_word(steering_words, s);
}

const char *config_mode_name(enum relay_mode m)
{
	return config_word(mode_words, m);
}

const char *config_shed_name(enum shed_mode m)
{
	return config_word(shed_words, m);
}

const char *config_shed_hook_name(enum shed_hook h)
{
	return config_word(shed_hook_words, h);
}

bool config_shed_wanted(const struct config *cfg)
{
	uint32_t i;

	for (i = 0; i < cfg->n_relays; i++)
		if (cfg->relays[i].shed != SHED_OFF)
			return true;
	return false;
}

const char *config_offload_name(enum offload_mode m)
{
	return config_word(offload_words, m);
}

const char *config_balance_name(enum balance_mode b)
{
	return config_word(balance_words, b);
}

const char *config_session_full_name(enum session_full f)
{
	return config_word(session_full_words, f);
}

const char *config_upstream_down_name(enum upstream_down d)
{
	return config_word(upstream_down_words, d);
}

/* ---------------------------------------------------------------- names */

static int addr_qsort_cmp(const void *a, const void *b)
{
	return addr_cmp(a, b);
}

int config_resolve_host(const char *host, uint16_t port, int family, struct addr *out, uint32_t max,
		  char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_DGRAM,
				  .ai_protocol = IPPROTO_UDP, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL, *ai;
	/* all of them, sorted, before the cut to max: else a resolver that rotates more
	 * answers than max gives another subset each time */
	struct addr all[CONFIG_RESOLVE_MAX];
	uint32_t n = 0, i;
	int ret;

	ret = getaddrinfo(host, NULL, &hints, &res);
	/* AI_ADDRCONFIG hides every address in a namespace with only loopback: ask again. */
	if (ret == EAI_NONAME || ret == EAI_ADDRFAMILY || ret == EAI_NODATA) {
		hints.ai_flags = 0;
		ret = getaddrinfo(host, NULL, &hints, &res);
	}
	if (ret) {
		snprintf(err, errlen, "%s", ret == EAI_SYSTEM ? strerror(errno) : gai_strerror(ret));
		return ret == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
	}
	for (ai = res; ai && n < CONFIG_RESOLVE_MAX; ai = ai->ai_next) {
		struct addr a;

		if (addr_from_sockaddr(&a, ai->ai_addr, ai->ai_addrlen))
			continue;
		addr_set_port(&a, port);
		for (i = 0; i < n && !addr_equal(&all[i], &a); i++)
			;
		if (i == n)
			all[n++] = a;
	}
	freeaddrinfo(res);
	if (!n) {
		snprintf(err, errlen, "no usable address");
		return -EHOSTUNREACH;
	}
	qsort(all, n, sizeof(*all), addr_qsort_cmp);
	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(*out));
	return (int)n;
}

int config_upstream_family(const struct relay_conf *rc)
{
	if (rc->source == SOURCE_ADDRESS)
		return addr_family(&rc->source_addr);
	/* a client's address is sent from: its listeners' family (relay_check) */
	if (rc->source == SOURCE_CLIENT && rc->n_listen)
		return addr_family(&rc->listen[0]);
	return AF_UNSPEC;
}

/* source = "client" sends from the client's address, so the listeners must be of one family
 * and every member of theirs. True, with why set, when not. */
static bool client_family_clash(const struct relay_conf *rc, char *why, size_t len)
{
	char a[ADDR_STRLEN], b[ADDR_STRLEN];
	uint32_t i;

	for (i = 1; i < rc->n_listen; i++)
		if (addr_family(&rc->listen[i]) != addr_family(&rc->listen[0])) {
			snprintf(why, len,
				 "\"client\" sends from the client's own address: listen addresses "
				 "%s and %s are of two families (one relay per family)",
				 addr_format(&rc->listen[0], a, sizeof(a)),
				 addr_format(&rc->listen[i], b, sizeof(b)));
			return true;
		}
	for (i = 0; rc->n_listen && i < rc->n_members; i++)
		if (addr_family(&rc->members[i].addr) != addr_family(&rc->listen[0])) {
			snprintf(why, len,
				 "\"client\" sends from the client's own address: upstream %s is of "
				 "the other address family than listen address %s",
				 addr_format(&rc->members[i].addr, a, sizeof(a)),
				 addr_format(&rc->listen[0], b, sizeof(b)));
			return true;
		}
	return false;
}

int config_entry_addrs(const struct upstream_conf *u, int family, struct addr *out, char *why,
		       size_t whylen)
{
	if (!u->is_name) {
		out[0] = u->addr;
		return 1;
	}
	return config_resolve_host(u->host, u->port, family, out, CONFIG_MAX_UPSTREAMS, why,
				   whylen);
}

int config_members_add(struct member_conf *m, uint32_t *n_m, const struct addr *got, uint32_t n,
		       uint32_t weight, uint32_t entry)
{
	uint32_t k, j;

	for (k = 0; k < n; k++) {
		for (j = 0; j < *n_m && !addr_equal(&m[j].addr, &got[k]); j++)
			;
		if (j < *n_m)
			continue; /* listed already: the first entry keeps it */
		if (*n_m == CONFIG_MAX_UPSTREAMS)
			return -E2BIG;
		m[(*n_m)++] = (struct member_conf){ .addr = got[k], .weight = weight, .entry = entry };
	}
	return 0;
}

/* Splits "NAME:PORT" (config.c checked its form). */
static void split_name(const char *text, char *host, size_t len, uint16_t *port)
{
	const char *why;

	if (addr_parse_name(text, host, len, port, &why)) {
		host[0] = '\0';
		*port = 0;
	}
}

/* Whether a, a listen address of relay's name resolved as its entry idx, is already one or
 * overlaps one: of an earlier relay (literal or resolved), of this relay before idx, or a
 * later relay's literal (its names, resolved after, are checked against a then). */
static bool listen_clash(const struct config *cfg, const struct addr *a, uint32_t relay,
			 uint32_t idx)
{
	uint32_t r, i;

	for (r = 0; r < cfg->n_relays; r++) {
		const struct relay_conf *rc = &cfg->relays[r];
		uint32_t n = r < relay ? rc->n_listen : r == relay ? idx : rc->n_listen_literal;

		for (i = 0; i < n; i++) {
			const struct addr *b = &rc->listen[i];

			if (addr_family(a) != addr_family(b) || addr_port(a) != addr_port(b))
				continue;
			if (addr_equal(a, b) || addr_is_any(a) || addr_is_any(b))
				return true;
		}
	}
	return false;
}

/* A name's addresses as how looks them up. */
static int names_lookup(const struct config_names *how, const char *host, uint16_t port,
			int family, struct addr *out, uint32_t max, char *why, size_t whylen)
{
	if (how->lookup)
		return how->lookup(how->arg, host, port, family, out, max, why, whylen);
	return config_resolve_host(host, port, family, out, max, why, whylen);
}

int config_resolve(struct config *cfg,
		   uint32_t (*previous)(void *arg, const char *relay, const char *text,
					const char *why, struct addr *out, uint32_t max),
		   void *arg, char *err, size_t errlen)
{
	struct config_names how = { .previous = previous, .arg = arg };

	return config_resolve_with(cfg, &how, err, errlen);
}

int config_resolve_with(struct config *cfg, const struct config_names *how, char *err,
			size_t errlen)
{
	struct addr got[CONFIG_MAX_UPSTREAMS];
	char host[CONFIG_HOST_LEN], why[192], text[ADDR_STRLEN];
	uint16_t port;
	uint32_t r, i, k, e;
	int n;

	cfg->resolved = false; /* until every name is done */
	for (r = 0; r < cfg->n_relays; r++) {
		struct relay_conf *rc = &cfg->relays[r];

		rc->n_listen = rc->n_listen_literal;
		for (i = 0; i < rc->n_listen_names; i++) {
			split_name(rc->listen_names[i], host, sizeof(host), &port);
			n = names_lookup(how, host, port, AF_UNSPEC, got, CONFIG_MAX_LISTEN, why,
					 sizeof(why));
			e = rc->listen_name_entry[i];
			if (n < 0) {
				snprintf(err, errlen, "%s:%d: relays[%u].listen[%u]: %s: %s",
					 cfg->path, rc->listen_line[e], r, e, rc->listen_names[i],
					 why);
				return n;
			}
			for (k = 0; k < (uint32_t)n; k++) {
				if (rc->n_listen == CONFIG_MAX_LISTEN) {
					snprintf(err, errlen,
						 "%s:%d: relays[%u].listen[%u]: %s: more than %d "
						 "listen addresses in all",
						 cfg->path, rc->listen_line[e], r, e,
						 rc->listen_names[i], CONFIG_MAX_LISTEN);
					return -E2BIG;
				}
				if (listen_clash(cfg, &got[k], r, rc->n_listen)) {
					snprintf(err, errlen,
						 "%s:%d: relays[%u].listen[%u]: %s: %s is already "
						 "a listen address (or overlaps one)",
						 cfg->path, rc->listen_line[e], r, e,
						 rc->listen_names[i],
						 addr_format(&got[k], text, sizeof(text)));
					return -EINVAL;
				}
				rc->listen_entry[rc->n_listen] = (uint8_t)e;
				rc->listen[rc->n_listen++] = got[k];
			}
		}
		/* Members in entry order, as the upkeep thread makes them again: a literal
		 * entry's address, a name's addresses. */
		rc->n_members = 0;
		for (i = 0; i < rc->n_upstreams; i++) {
			struct upstream_conf *u = &rc->upstreams[i];

			u->kept_previous = false;
			if (u->is_name)
				n = names_lookup(how, u->host, u->port, config_upstream_family(rc),
						 got, CONFIG_MAX_UPSTREAMS, why, sizeof(why));
			else
				n = config_entry_addrs(u, 0, got, why, sizeof(why));
			if (n < 0 && n != -ECANCELED && how->previous) {
				n = (int)how->previous(how->arg, rc->name, u->text, why, got,
						       CONFIG_MAX_UPSTREAMS);
				u->kept_previous = n > 0;
				if (n <= 0)
					n = -EHOSTUNREACH;
			}
			if (n < 0) {
				snprintf(err, errlen, "%s:%d: relays[%u].upstreams[%u]: %s: %s",
					 cfg->path, u->line, r, i, u->text, why);
				return n;
			}
			if (config_members_add(rc->members, &rc->n_members, got, (uint32_t)n,
					       u->weight, i)) {
				snprintf(err, errlen,
					 "%s:%d: relays[%u].upstreams[%u]: %s: more than %d "
					 "upstream addresses in all",
					 cfg->path, u->line, r, i, u->text, CONFIG_MAX_UPSTREAMS);
				return -E2BIG;
			}
		}
		if (rc->source == SOURCE_CLIENT && client_family_clash(rc, why, sizeof(why))) {
			snprintf(err, errlen, "%s:%d: relays[%u].source: %s", cfg->path,
				 rc->source_line, r, why);
			return -EINVAL;
		}
	}
	cfg->resolved = true;
	return 0;
}
