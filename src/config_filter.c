// SPDX-License-Identifier: MIT
/* The filter section of the config: interfaces, verdicts, prefix lists, port rules and the
 * rate limit (docs/filter.md), as a table of settings (config_parse.h) plus the lists that
 * need parsers of their own. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_filter.h"

#define CONFIG_MAX_PPS 1000000000
#define CONFIG_MAX_BURST 2147483647
/* A filter section without a mode setting */
#define CONFIG_FILTER_MODE_PRESENT FILTER_MODE_XDP

/* The config words; the enum value indexes its word. */
static const char *const filter_mode_words[] = {[FILTER_MODE_OFF] = "off",
						[FILTER_MODE_XDP] = "xdp",
						[FILTER_MODE_XDP_GENERIC] = "xdp-generic",
						[FILTER_MODE_TC] = "tc",
						NULL};
static const char *const verdict_words[] = {
    [FILTER_VERDICT_ALLOW] = "allow", [FILTER_VERDICT_DENY] = "deny", NULL};
/* A frame that is IP but cannot be read through to its UDP header: "drop" or "pass". */
static const char *const unparsed_words[] = {
    [FILTER_VERDICT_ALLOW] = "pass", [FILTER_VERDICT_DENY] = "drop", NULL};
static const char *const scope_words[] = {
    [FILTER_SCOPE_RELAYS] = "relays", [FILTER_SCOPE_UDP] = "udp", NULL};

static const char *const tc_hook_words[] = {
    [TC_HOOK_AUTO] = "auto", [TC_HOOK_TCX] = "tcx", [TC_HOOK_CLSACT] = "clsact", NULL};

/* Members of a ports entry: both required. */
static const char *const port_rule_keys[] = {"ports", "verdict", NULL};

/* ---------------------------------------------------------------- lists */

/* What the kernel's dev_valid_name() accepts, so a bad name fails here and not at attach. */
static bool ifname_ok(const char *name)
{
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (; *name; name++)
		if (*name == '/' || *name == ':' || isspace((unsigned char)*name))
			return false;
	return true;
}

static int parse_interfaces(struct config_parser *p, const config_setting_t *g,
			    const config_setting_t *s, void *base)
{
	struct filter_conf *f = base;
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
		if (!ifname_ok(name))
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

/* A prefix list s (may be absent) into out. */
static int parse_prefixes(struct config_parser *p, const config_setting_t *s,
			  struct filter_prefix *out, uint32_t *n_out)
{
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
struct prefix_ref {
	const struct filter_prefix *fp;
	const char *list;
	uint32_t idx;
};

static int prefix_ref_cmp(const void *a, const void *b)
{
	const struct prefix_ref *x = a, *y = b;
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
static int check_prefix_dups(struct config_parser *p, const config_setting_t *g,
			     const struct filter_conf *f)
{
	uint32_t i, n = f->n_deny + f->n_allow;
	char text[INET6_ADDRSTRLEN + 8];
	struct prefix_ref *refs;
	int err = 0;

	if (n < 2)
		return 0;
	refs = calloc(n, sizeof(*refs));
	if (!refs) {
		snprintf(p->err, p->errlen, "%s: out of memory", p->name);
		return -ENOMEM;
	}
	for (i = 0; i < f->n_deny; i++)
		refs[i] = (struct prefix_ref){&f->deny[i], "deny", i};
	for (i = 0; i < f->n_allow; i++)
		refs[f->n_deny + i] = (struct prefix_ref){&f->allow[i], "allow", i};
	qsort(refs, n, sizeof(*refs), prefix_ref_cmp);
	for (i = 1; i < n && !err; i++) {
		const struct prefix_ref *a = &refs[i - 1], *b = &refs[i];
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
static int parse_port_range(struct config_parser *p, const config_setting_t *s, uint16_t *lo,
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

static int parse_port_rules(struct config_parser *p, const config_setting_t *g,
			    const config_setting_t *s, void *base)
{
	struct filter_conf *f = base;
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
		err = parse_port_range(p, m, &rule->lo, &rule->hi);
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

static void dump_prefixes(FILE *f, const char *indent, const char *name,
			  const struct filter_prefix *px, uint32_t n)
{
	char text[INET6_ADDRSTRLEN + 8];
	uint32_t i;

	fprintf(f, "%s%s = [", indent, name);
	for (i = 0; i < n; i++)
		fprintf(f, "%s\n%s\t\"%s\"", i ? "," : "", indent,
			prefix_format(&px[i].prefix, text, sizeof(text)));
	fprintf(f, "%s%s];\n", n ? "\n" : " ", n ? indent : "");
}

static int parse_deny(struct config_parser *p, const config_setting_t *g,
		      const config_setting_t *s, void *base)
{
	struct filter_conf *f = base;

	return parse_prefixes(p, s, f->deny, &f->n_deny);
}

/* The allow list, then no prefix twice in either list or in both. */
static int parse_allow(struct config_parser *p, const config_setting_t *g,
		       const config_setting_t *s, void *base)
{
	struct filter_conf *f = base;
	int err = parse_prefixes(p, s, f->allow, &f->n_allow);

	return err ? err : check_prefix_dups(p, g, f);
}

/* ---------------------------------------------------------------- the tables */

/* pps alone gives a burst of pps. */
static int pps_after(struct config_parser *p, const config_setting_t *s, void *base)
{
	struct filter_conf *f = base;

	f->rate_burst = f->rate_pps;
	return 0;
}

/* burst 0 stays legal with pps 0 so that a dump of a disabled limit reads back */
static int rate_check(struct config_parser *p, const config_setting_t *g, void *base)
{
	const struct filter_conf *f = base;

	if (f->rate_pps && !f->rate_burst)
		return config_err(p, config_setting_get_member(g, "burst"),
				  "must be at least 1 when pps is set");
	return 0;
}

/* Per-source token bucket; its settings live in struct filter_conf. */
static const struct config_row rate_rows[] = {
	{"pps", CONFIG_T_U32, CONFIG_FIELD(struct filter_conf, rate_pps), .hi = CONFIG_MAX_PPS,
	 .after = pps_after},
	{"burst", CONFIG_T_U32, CONFIG_FIELD(struct filter_conf, rate_burst),
	 .hi = CONFIG_MAX_BURST},
	{"prefix4", CONFIG_T_U8, CONFIG_FIELD(struct filter_conf, rate_prefix4), .lo = 1, .hi = 32,
	 .def.i = 32},
	{"prefix6", CONFIG_T_U8, CONFIG_FIELD(struct filter_conf, rate_prefix6), .lo = 1,
	 .hi = 128, .def.i = 128},
};

static const struct config_section rate_section = {
	CONFIG_SECTION(rate_rows),
	.example = "{ pps = 10000; burst = 20000; }",
	.check = rate_check,
};

static int parse_rate(struct config_parser *p, const config_setting_t *g,
		      const config_setting_t *s, void *base)
{
	return config_parse_group(p, s, &rate_section, base);
}

/* with scope "relays" only relay ports are filtered anyway: a silent no-op is a trap */
static int relay_ports_only_after(struct config_parser *p, const config_setting_t *s, void *base)
{
	const struct filter_conf *f = base;

	if (f->relay_ports_only && f->scope != FILTER_SCOPE_UDP)
		return config_err(p, s, "only applies with scope = \"udp\"");
	return 0;
}

static void dump_interfaces(FILE *f, const void *base, const char *indent)
{
	const struct filter_conf *fc = base;
	uint32_t i;

	fprintf(f, "%sinterfaces = [", indent);
	for (i = 0; i < fc->n_interfaces; i++) {
		fputs(i ? ", " : " ", f);
		config_dump_string(f, fc->interfaces[i]);
	}
	fputs(" ];\n", f);
}

static void dump_deny(FILE *f, const void *base, const char *indent)
{
	const struct filter_conf *fc = base;

	dump_prefixes(f, indent, "deny", fc->deny, fc->n_deny);
}

static void dump_allow(FILE *f, const void *base, const char *indent)
{
	const struct filter_conf *fc = base;

	dump_prefixes(f, indent, "allow", fc->allow, fc->n_allow);
}

static void dump_port_rules(FILE *f, const void *base, const char *indent)
{
	const struct filter_conf *fc = base;
	uint32_t i;

	fprintf(f, "%sports = (", indent);
	for (i = 0; i < fc->n_ports; i++) {
		const struct filter_port_rule *r = &fc->ports[i];

		fprintf(f, "%s\n%s\t{ ports = \"%u-%u\"; verdict = \"%s\"; }", i ? "," : "", indent,
			r->lo, r->hi, verdict_words[r->verdict]);
	}
	fprintf(f, "%s%s);\n", fc->n_ports ? "\n" : " ", fc->n_ports ? indent : "");
}

static void dump_rate(FILE *f, const void *base, const char *indent)
{
	fprintf(f, "%srate_limit = ", indent);
	config_dump_inline(f, &rate_section, base);
	fputs(";\n", f);
}

/* In the order "unknown setting" lists them; mode is parsed first (interfaces depend on it). */
static const struct config_row filter_rows[] = {
	{"interfaces", CONFIG_T_CUSTOM, .parse = parse_interfaces, .dump = dump_interfaces},
	{"mode", CONFIG_T_WORD, CONFIG_FIELD(struct filter_conf, mode), .words = filter_mode_words,
	 .def.i = FILTER_MODE_OFF, .first = true},
	{"default", CONFIG_T_WORD, CONFIG_FIELD(struct filter_conf, default_verdict),
	 .words = verdict_words, .def.i = FILTER_VERDICT_ALLOW},
	{"scope", CONFIG_T_WORD, CONFIG_FIELD(struct filter_conf, scope), .words = scope_words,
	 .def.i = FILTER_SCOPE_RELAYS},
	{"unparsed", CONFIG_T_WORD, CONFIG_FIELD(struct filter_conf, unparsed),
	 .words = unparsed_words, .def.i = FILTER_VERDICT_DENY},
	{"deny", CONFIG_T_CUSTOM, .parse = parse_deny, .dump = dump_deny},
	{"allow", CONFIG_T_CUSTOM, .parse = parse_allow, .dump = dump_allow},
	{"ports", CONFIG_T_CUSTOM, .parse = parse_port_rules, .dump = dump_port_rules},
	{"relay_ports_only", CONFIG_T_BOOL, CONFIG_FIELD(struct filter_conf, relay_ports_only),
	 .after = relay_ports_only_after},
	{"rate_limit", CONFIG_T_CUSTOM, .parse = parse_rate, .dump = dump_rate},
	/* the maps are pinned when the program is loaded (filter_update never reads it) */
	{"pin", CONFIG_T_BOOL, CONFIG_FIELD(struct filter_conf, pin), .restart_only = true},
	{"tc_hook", CONFIG_T_WORD, CONFIG_FIELD(struct filter_conf, tc_hook),
	 .words = tc_hook_words, .def.i = TC_HOOK_AUTO},
	{"tc_priority", CONFIG_T_U32, CONFIG_FIELD(struct filter_conf, tc_priority), .lo = 1,
	 .hi = 65535, .def.i = 1},
};

/* The section is there: mode "xdp" unless it says otherwise. */
static void filter_present(struct config_parser *p, const config_setting_t *g, void *base)
{
	struct filter_conf *f = base;

	f->line = config_line(g);
	f->mode = CONFIG_FILTER_MODE_PRESENT;
}

static const struct config_section filter_section = {
	CONFIG_SECTION(filter_rows),
	.example = "{ interfaces = [ \"eth0\" ]; }",
	.present = filter_present,
};

/* ---------------------------------------------------------------- config_filter.h */

void config_filter_keep_restart(const struct filter_conf *running, struct filter_conf *next,
				void (*changed)(void *arg, const char *what), void *arg)
{
	config_keep_rows(&filter_section, running, next, "filter.", changed, arg);
}

void config_filter_defaults(struct filter_conf *f)
{
	config_section_defaults(&filter_section, f);
	config_section_defaults(&rate_section, f);
}

int config_filter_parse(struct config_parser *p, const config_setting_t *root,
			const config_setting_t *s, void *cfg)
{
	return config_parse_group(p, s, &filter_section, &((struct config *)cfg)->filter);
}

/* Written even when off, so that every filter default is visible. */
void config_filter_dump(FILE *f, const void *cfg, const char *indent)
{
	fprintf(f, "%sfilter = {\n", indent);
	config_dump_rows(f, &filter_section, &((const struct config *)cfg)->filter, "\t", "\n");
	fprintf(f, "%s};\n", indent);
}

const char *config_filter_mode_name(enum filter_mode m)
{
	return config_word(filter_mode_words, m);
}

const char *config_verdict_name(enum filter_verdict v)
{
	return config_word(verdict_words, v);
}

const char *config_scope_name(enum filter_scope s)
{
	return config_word(scope_words, s);
}

const char *config_tc_hook_name(enum tc_hook h)
{
	return config_word(tc_hook_words, h);
}
