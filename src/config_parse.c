// SPDX-License-Identifier: MIT
/* Config reading on top of libconfig, shared by every section: libconfig gives us the syntax
 * and line numbers; everything about meaning (names, types, ranges) happens in the sections'
 * tables (config_parse.h), so a user gets exactly one "FILE:LINE: SETTING: what is wrong"
 * line for the first mistake. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_parse.h"

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

int config_line(const config_setting_t *s)
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

int config_err(struct config_parser *p, const config_setting_t *s, const char *fmt, ...)
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

int config_err_member(struct config_parser *p, const config_setting_t *g, const char *name,
		      const char *fmt, ...)
{
	char path[256];
	size_t n;
	va_list ap;
	int ret;

	const config_setting_t *m = config_setting_get_member(g, name);

	config_path(g, path, sizeof(path));
	n = strlen(path);
	snprintf(path + n, sizeof(path) - n, "%s%s", n ? "." : "", name);
	va_start(ap, fmt);
	/* the member's own line when it is written, else its group's */
	ret = config_verr(p, m ? m : g, path, config_line(m ? m : g), fmt, ap);
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

void config_join_words(const char *const *words, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; *words && n < len; words++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", *words);
}

const char *config_word(const char *const *words, unsigned int v)
{
	unsigned int i;

	for (i = 0; words[i]; i++)
		if (i == v)
			return words[i];
	return "?";
}

/* ---------------------------------------------------------------- typed getters */

int config_check_keys(struct config_parser *p, const config_setting_t *g,
		      const char *const *keys)
{
	char known[384], path[256]; /* known: a relay's 21 setting names fit */
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

int config_get_int(struct config_parser *p, const config_setting_t *s, long long lo, long long hi,
		   long long *out)
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
static int config_get_seconds(struct config_parser *p, const config_setting_t *s, bool zero_off,
			      double *out)
{
	int type = config_setting_type(s);
	double v;

	if (type == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
		v = (double)config_setting_get_int64(s);
	else
		return config_err(p, s, "must be a number of seconds");
	if (zero_off && v == 0.0) {
		*out = 0.0;
		return 0;
	}
	/* written so that NaN fails too */
	if (!(v > 0.0 && v <= CONFIG_MAX_SECONDS))
		return config_err(p, s, "must be %s and at most %.0f seconds",
				  zero_off ? "0 (off) or more" : "greater than 0", CONFIG_MAX_SECONDS);
	*out = v;
	return 0;
}

int config_get_string(struct config_parser *p, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return config_err(p, s, "must be a string");
	*out = config_setting_get_string(s);
	return 0;
}

int config_get_word(struct config_parser *p, const config_setting_t *s, const char *const *words,
		    int *out)
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

int config_get_list(struct config_parser *p, const config_setting_t *s, int elem_type,
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

/* ---------------------------------------------------------------- dump */

void config_dump_string(FILE *f, const char *s)
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

/* ---------------------------------------------------------------- tables */

/* Every enum a WORD row names is stored through an int. */
_Static_assert(sizeof(enum io_backend) == sizeof(int) && sizeof(enum relay_mode) == sizeof(int) &&
		       sizeof(enum balance_mode) == sizeof(int) &&
		       sizeof(enum filter_mode) == sizeof(int) &&
		       sizeof(enum filter_verdict) == sizeof(int) &&
		       sizeof(enum filter_scope) == sizeof(int),
	       "WORD rows store enums as int");

#define AT(base, row, type) ((type *)((char *)(base) + (row)->offset))
#define AT_CONST(base, row, type) ((const type *)((const char *)(base) + (row)->offset))

void config_section_defaults(const struct config_section *sec, void *base)
{
	const struct config_row *r;
	const char *why;

	for (r = sec->rows; r < sec->rows + sec->n_rows; r++) {
		switch (r->type) {
		case CONFIG_T_U32:
			*AT(base, r, uint32_t) = (uint32_t)r->def.i;
			break;
		case CONFIG_T_U8:
			*AT(base, r, uint8_t) = (uint8_t)r->def.i;
			break;
		case CONFIG_T_INT:
		case CONFIG_T_WORD:
			*AT(base, r, int) = (int)r->def.i;
			break;
		case CONFIG_T_BOOL:
			*AT(base, r, bool) = r->def.i != 0;
			break;
		case CONFIG_T_SECONDS:
			*AT(base, r, double) = r->def.d;
			break;
		case CONFIG_T_STRING:
			snprintf(AT(base, r, char), r->size, "%s", r->def.s ? r->def.s : "");
			break;
		case CONFIG_T_ENDPOINT:
			addr_parse(r->def.s, AT(base, r, struct addr), &why);
			break;
		case CONFIG_T_CUSTOM:
			break;
		}
	}
}

/* Parses row r's value s (present) into the section at base. */
static int config_parse_value(struct config_parser *p, const struct config_row *r,
			      const config_setting_t *s, void *base)
{
	const char *text = NULL, *why;
	long long v = 0;
	int word = 0, err;

	switch (r->type) {
	case CONFIG_T_U32:
	case CONFIG_T_U8:
	case CONFIG_T_INT:
		err = config_get_int(p, s, r->lo, r->hi, &v);
		if (!err && r->type == CONFIG_T_U32)
			*AT(base, r, uint32_t) = (uint32_t)v;
		else if (!err && r->type == CONFIG_T_U8)
			*AT(base, r, uint8_t) = (uint8_t)v;
		else if (!err)
			*AT(base, r, int) = (int)v;
		return err;
	case CONFIG_T_WORD:
		err = config_get_word(p, s, r->words, &word);
		if (!err)
			*AT(base, r, int) = word;
		return err;
	case CONFIG_T_BOOL:
		return config_get_bool(p, s, AT(base, r, bool));
	case CONFIG_T_SECONDS:
		return config_get_seconds(p, s, r->zero_off, AT(base, r, double));
	case CONFIG_T_STRING:
		err = config_get_string(p, s, &text);
		if (err)
			return err;
		if (strlen(text) >= (size_t)r->hi)
			return config_err(p, s, "too long (at most %zu bytes)", (size_t)r->hi - 1);
		memcpy(AT(base, r, char), text, strlen(text) + 1);
		return 0;
	case CONFIG_T_ENDPOINT:
		err = config_get_string(p, s, &text);
		if (err)
			return err;
		if (addr_parse_endpoint(text, AT(base, r, struct addr), &why))
			return config_err(p, s, "%s", why);
		return 0;
	case CONFIG_T_CUSTOM:
		break;
	}
	return 0;
}

/* Row i of sec in parse and dump order: the `first` rows, then the others. */
static const struct config_row *config_row_in_order(const struct config_section *sec, size_t i)
{
	const struct config_row *r;
	size_t n = 0;
	int pass;

	for (pass = 0; pass < 2; pass++)
		for (r = sec->rows; r < sec->rows + sec->n_rows; r++)
			if (r->first == (pass == 0) && n++ == i)
				return r;
	return NULL;
}

int config_parse_group(struct config_parser *p, const config_setting_t *g,
		       const struct config_section *sec, void *base)
{
	const char *keys[CONFIG_MAX_ROWS + 1];
	const struct config_row *r;
	size_t i;
	int err;

	if (!g)
		return 0;
	if (!config_setting_is_group(g))
		return config_err(p, g, "must be a group, e.g. %s", sec->example);
	for (i = 0; i < sec->n_rows && i < CONFIG_MAX_ROWS; i++)
		keys[i] = sec->rows[i].name;
	keys[i] = NULL;
	err = config_check_keys(p, g, keys);
	if (err)
		return err;
	if (sec->present)
		sec->present(p, g, base);
	for (i = 0; (r = config_row_in_order(sec, i)); i++) {
		const config_setting_t *s = config_setting_get_member(g, r->name);

		if (r->type == CONFIG_T_CUSTOM)
			err = r->parse(p, g, s, base);
		else if (s)
			err = config_parse_value(p, r, s, base);
		if (!err && s && r->after)
			err = r->after(p, s, base);
		if (err)
			return err;
	}
	return sec->check ? sec->check(p, g, base) : 0;
}

void config_dump_rows(FILE *f, const struct config_section *sec, const void *base,
		      const char *prefix, const char *suffix)
{
	char text[ADDR_STRLEN];
	const struct config_row *r;
	size_t i;

	for (i = 0; (r = config_row_in_order(sec, i)); i++) {
		if (r->type == CONFIG_T_CUSTOM) {
			r->dump(f, base, prefix);
			continue;
		}
		fprintf(f, "%s%s = ", prefix, r->name);
		switch (r->type) {
		case CONFIG_T_U32:
			fprintf(f, "%u", *AT_CONST(base, r, uint32_t));
			break;
		case CONFIG_T_U8:
			fprintf(f, "%u", *AT_CONST(base, r, uint8_t));
			break;
		case CONFIG_T_INT:
			fprintf(f, "%d", *AT_CONST(base, r, int));
			break;
		case CONFIG_T_WORD:
			fprintf(f, "\"%s\"",
				config_word(r->words, (unsigned int)*AT_CONST(base, r, int)));
			break;
		case CONFIG_T_BOOL:
			fputs(*AT_CONST(base, r, bool) ? "true" : "false", f);
			break;
		case CONFIG_T_SECONDS:
			config_dump_double(f, *AT_CONST(base, r, double));
			break;
		case CONFIG_T_STRING:
			config_dump_string(f, AT_CONST(base, r, char));
			break;
		case CONFIG_T_ENDPOINT:
			fprintf(f, "\"%s\"",
				addr_format(AT_CONST(base, r, struct addr), text, sizeof(text)));
			break;
		case CONFIG_T_CUSTOM:
			break;
		}
		fprintf(f, ";%s", suffix);
	}
}

void config_dump_inline(FILE *f, const struct config_section *sec, const void *base)
{
	fputc('{', f);
	config_dump_rows(f, sec, base, " ", "");
	fputs(" }", f);
}

void config_keep_rows(const struct config_section *sec, const void *running, void *next,
		      const char *prefix, void (*changed)(void *arg, const char *what), void *arg)
{
	const struct config_row *r;
	char what[CONFIG_NAME_LEN + 64];

	for (r = sec->rows; r < sec->rows + sec->n_rows; r++) {
		const char *old = (const char *)running + r->offset;
		char *new = (char *)next + r->offset;

		if (!r->restart_only || memcmp(old, new, r->size) == 0)
			continue;
		memcpy(new, old, r->size);
		snprintf(what, sizeof(what), "%s%s", prefix, r->name);
		changed(arg, what);
	}
}

/* ---------------------------------------------------------------- syntax errors */

/* libconfig 1.5 says only "syntax error" and a line. We read the text again with a small
 * lexer and name the first mistake we recognise: a byte order mark, single quotes, a
 * trailing comma, an unclosed or mismatched bracket, a missing ',' between list elements,
 * a setting without '=' or without a value, an extra ';'. */

enum syn_kind { SYN_END, SYN_NAME, SYN_STRING, SYN_NUMBER, SYN_PUNCT, SYN_SQUOTE, SYN_OTHER };

struct syn_token {
	enum syn_kind kind;
	char c; /* SYN_PUNCT, SYN_OTHER: the character */
	int line;
	const char *at; /* where it starts in the text */
	size_t len;
};

struct syn_lexer {
	const char *t;
	int line;
};

/* The next token, skipping space and comments. An unterminated string or comment runs to
 * the end (config_scan_text reports the string before libconfig runs). */
static struct syn_token syn_next(struct syn_lexer *lx)
{
	struct syn_token tk = {SYN_END, 0, 0, NULL, 0};
	const char *t = lx->t;

	for (;;) {
		if (*t == '\n') {
			lx->line++;
			t++;
		} else if (isspace((unsigned char)*t)) {
			t++;
		} else if (*t == '#' || (t[0] == '/' && t[1] == '/')) {
			t += strcspn(t, "\n");
		} else if (t[0] == '/' && t[1] == '*') {
			for (t += 2; *t && !(t[0] == '*' && t[1] == '/'); t++)
				lx->line += *t == '\n';
			t += *t ? 2 : 0;
		} else {
			break;
		}
	}
	tk.line = lx->line;
	tk.at = t;
	if (!*t) {
		lx->t = t;
		return tk;
	}
	if (*t == '"') {
		for (t++; *t && *t != '"'; t++) {
			if (*t == '\\' && t[1])
				t++;
			lx->line += *t == '\n';
		}
		t += *t ? 1 : 0;
		tk.kind = SYN_STRING;
	} else if (*t == '\'') {
		/* the whole 'quoted text' on this line, for the message */
		const char *end = strpbrk(t + 1, "'\n");

		t = end && *end == '\'' ? end + 1 : t + 1;
		tk.kind = SYN_SQUOTE;
	} else if (isalpha((unsigned char)*t) || *t == '*' || *t == '@') {
		for (t++; *t && (isalnum((unsigned char)*t) || strchr("-_*", *t)); t++)
			;
		tk.kind = SYN_NAME;
	} else if (isdigit((unsigned char)*t) ||
		   ((*t == '-' || *t == '+' || *t == '.') && isdigit((unsigned char)t[1]))) {
		for (t++; *t && (isalnum((unsigned char)*t) || *t == '.' ||
				 ((*t == '-' || *t == '+') && (t[-1] == 'e' || t[-1] == 'E')));
		     t++)
			;
		tk.kind = SYN_NUMBER;
	} else {
		tk.kind = strchr("{}()[]=:;,", *t) ? SYN_PUNCT : SYN_OTHER;
		tk.c = *t++;
	}
	tk.len = (size_t)(t - tk.at);
	lx->t = t;
	return tk;
}

static bool syn_is(const struct syn_token *tk, char c)
{
	return tk->kind == SYN_PUNCT && tk->c == c;
}

/* true and false are names to the lexer and values to libconfig. */
static bool syn_is_bool(const struct syn_token *tk)
{
	return tk->kind == SYN_NAME && ((tk->len == 4 && !strncasecmp(tk->at, "true", 4)) ||
					(tk->len == 5 && !strncasecmp(tk->at, "false", 5)));
}

/* The token ends a value: a scalar, or a closed group, list or array. */
static bool syn_ends_value(const struct syn_token *tk)
{
	return tk->kind == SYN_STRING || tk->kind == SYN_NUMBER || syn_is_bool(tk) ||
	       syn_is(tk, '}') || syn_is(tk, ')') || syn_is(tk, ']');
}

static bool syn_starts_value(const struct syn_token *tk)
{
	return tk->kind == SYN_STRING || tk->kind == SYN_NUMBER || syn_is_bool(tk) ||
	       syn_is(tk, '{') || syn_is(tk, '(') || syn_is(tk, '[');
}

static char syn_closer(char open)
{
	return open == '{' ? '}' : open == '(' ? ')' : ']';
}

static const char *syn_what(char open)
{
	return open == '{' ? "group" : open == '(' ? "list" : "array";
}

#define SYN_DEPTH 64

/* Writes what is wrong into msg and returns its line, or 0 when nothing was recognised. */
static int syn_explain(const char *text, char *msg, size_t len)
{
	struct syn_lexer lx = {text, 1};
	struct syn_token open[SYN_DEPTH], prev = {SYN_END, 0, 0, "", 0}, name = prev, tk;
	int depth = 0;

	if (!strncmp(text, "\xef\xbb\xbf", 3)) {
		snprintf(msg, len,
			 "the file starts with a UTF-8 byte order mark (BOM): save it "
			 "without one, e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' FILE");
		return 1;
	}
	for (;; prev = tk) {
		bool in_list;

		tk = syn_next(&lx);
		in_list = depth > 0 && (open[depth - 1].c == '(' || open[depth - 1].c == '[');
		if (tk.kind == SYN_END)
			break;
		if (tk.kind == SYN_SQUOTE) {
			snprintf(msg, len, "strings take double quotes: write \"%.*s\", not %.*s",
				 tk.len > 2 ? (int)tk.len - 2 : 0, tk.at + 1, (int)tk.len, tk.at);
			return tk.line;
		}
		if (tk.kind == SYN_OTHER) {
			/* A byte of a UTF-8 character (a typographic quote?) printed alone would
			 * not be text. */
			if ((unsigned char)tk.c >= 0x80)
				snprintf(msg, len, "unexpected byte 0x%02x: settings are ASCII "
					 "(a typographic quote instead of \"?)", (unsigned char)tk.c);
			else
				snprintf(msg, len, "unexpected character '%c'", tk.c);
			return tk.line;
		}
		if (syn_is(&tk, '{') || syn_is(&tk, '(') || syn_is(&tk, '[')) {
			if (in_list && syn_ends_value(&prev))
				goto missing_comma;
			if (depth == SYN_DEPTH)
				return 0;
			open[depth++] = tk;
			continue;
		}
		if (syn_is(&tk, '}') || syn_is(&tk, ')') || syn_is(&tk, ']')) {
			if (!depth) {
				snprintf(msg, len,
					 "'%c' closes nothing: an extra '%c', or a '%c' "
					 "missing before it",
					 tk.c, tk.c,
					 tk.c == '}'   ? '{'
					 : tk.c == ')' ? '('
						       : '[');
				return tk.line;
			}
			if (syn_closer(open[depth - 1].c) != tk.c) {
				snprintf(msg, len,
					 "'%c' does not close the %s '%c' opened on line %d "
					 "(missing '%c'?)",
					 tk.c, syn_what(open[depth - 1].c), open[depth - 1].c,
					 open[depth - 1].line, syn_closer(open[depth - 1].c));
				return tk.line;
			}
			if (syn_is(&prev, ',') && tk.c != '}') {
				snprintf(msg, len,
					 "trailing comma: remove the ',' after the last "
					 "element of the %s opened on line %d",
					 syn_what(open[depth - 1].c), open[depth - 1].line);
				return prev.line;
			}
			depth--;
			continue;
		}
		if (syn_is(&tk, ';')) {
			if (syn_is(&prev, '=') || syn_is(&prev, ':')) {
				snprintf(msg, len, "'%.*s' has no value before ';'", (int)name.len,
					 name.at);
				return tk.line;
			}
			if (in_list) {
				snprintf(msg, len,
					 "';' inside the %s opened on line %d: separate "
					 "its elements with ','",
					 syn_what(open[depth - 1].c), open[depth - 1].line);
				return tk.line;
			}
			if (syn_is(&prev, ';') || syn_is(&prev, ',')) {
				snprintf(msg, len, "an extra '%c' (remove it)", tk.c);
				return tk.line;
			}
			continue;
		}
		if (syn_starts_value(&tk)) {
			/* "a" "b" is one string to libconfig */
			if (tk.kind == SYN_STRING && prev.kind == SYN_STRING)
				continue;
			if (prev.kind == SYN_NAME && !syn_is_bool(&prev)) {
				snprintf(msg, len, "missing '=' after '%.*s'", (int)prev.len,
					 prev.at);
				return prev.line;
			}
			if (in_list && syn_ends_value(&prev))
				goto missing_comma;
			if (!in_list && syn_ends_value(&prev)) {
				snprintf(msg, len, "missing ';' after the value of '%.*s'",
					 (int)name.len, name.at);
				return tk.line;
			}
			continue;
		}
		if (tk.kind == SYN_NAME) {
			if (prev.kind == SYN_NAME && !syn_is_bool(&prev)) {
				snprintf(msg, len, "missing '=' after '%.*s'", (int)prev.len,
					 prev.at);
				return prev.line;
			}
			if (in_list) {
				snprintf(msg, len,
					 "'%.*s' inside the %s opened on line %d: settings "
					 "belong in a group { ... }",
					 (int)tk.len, tk.at, syn_what(open[depth - 1].c),
					 open[depth - 1].line);
				return tk.line;
			}
			name = tk;
			continue;
		}
		if ((syn_is(&tk, '=') || syn_is(&tk, ':')) && prev.kind != SYN_NAME) {
			snprintf(msg, len, "'%c' without a setting name before it", tk.c);
			return tk.line;
		}
	}
	if (prev.kind == SYN_NAME && !syn_is_bool(&prev)) {
		snprintf(msg, len, "missing '=' and a value after '%.*s'", (int)prev.len, prev.at);
		return prev.line;
	}
	if (syn_is(&prev, '=') || syn_is(&prev, ':')) {
		snprintf(msg, len, "'%.*s' has no value", (int)name.len, name.at);
		return prev.line;
	}
	if (depth) {
		snprintf(msg, len, "missing '%c': the %s '%c' opened on line %d is not closed",
			 syn_closer(open[depth - 1].c), syn_what(open[depth - 1].c),
			 open[depth - 1].c, open[depth - 1].line);
		return open[depth - 1].line;
	}
	return 0;

missing_comma:
	snprintf(msg, len, "missing ',' between two elements of the %s opened on line %d",
		 syn_what(open[depth - 1].c), open[depth - 1].line);
	return tk.line;
}

/* Whether name (a SYN_NAME token followed by '=' or ':') is also set before it in text. */
static bool syn_set_before(const char *text, const struct syn_token *name)
{
	struct syn_lexer lx = {text, 1};
	struct syn_token prev, tk = syn_next(&lx);

	while (tk.kind != SYN_END && tk.at < name->at) {
		prev = tk;
		tk = syn_next(&lx);
		if (prev.kind == SYN_NAME && prev.len == name->len &&
		    !strncmp(prev.at, name->at, name->len) && (syn_is(&tk, '=') || syn_is(&tk, ':')))
			return true;
	}
	return false;
}

/* libconfig says "duplicate setting name" and the line: the name set on that line that is
 * set before it too (the first one set on the line when none is), into name; 0 or -ENOENT.
 * Read with the syntax lexer, so that names in strings and comments are not settings. */
static int dup_setting_name(const char *text, int line, char *name, size_t len)
{
	struct syn_lexer lx = {text, 1};
	struct syn_token prev, found = {SYN_END, 0, 0, NULL, 0}, tk = syn_next(&lx);

	while (tk.kind != SYN_END && tk.line <= line) {
		prev = tk;
		tk = syn_next(&lx);
		if (prev.kind != SYN_NAME || prev.line != line ||
		    !(syn_is(&tk, '=') || syn_is(&tk, ':')))
			continue;
		if (!found.at)
			found = prev;
		if (syn_set_before(text, &prev)) {
			found = prev;
			break;
		}
	}
	if (!found.at || found.len >= len)
		return -ENOENT;
	memcpy(name, found.at, found.len);
	name[found.len] = '\0';
	return 0;
}

int config_syntax_error(struct config_parser *p, const char *text, const char *file, int line,
			const char *what)
{
	char msg[CONFIG_ERR_LEN], name[CONFIG_NAME_LEN];
	int at = 0;

	/* A setting given twice in a group: name it, as other errors name theirs. */
	if (what && !strcmp(what, "duplicate setting name") && !strcmp(file, p->name) &&
	    line > 0 && !dup_setting_name(text, line, name, sizeof(name))) {
		snprintf(p->err, p->errlen,
			 "%s:%d: %s: duplicate setting: it is set more than once in its group; "
			 "keep one",
			 file, line, name);
		return -EINVAL;
	}

	/* Only libconfig's own parse failures; its other messages say what they mean. */
	if (what && !strcmp(what, "syntax error") && !strcmp(file, p->name))
		at = syn_explain(text, msg, sizeof(msg));
	if (at <= 0 || (line > 0 && at > line)) {
		/* What we recognised lies past where libconfig stopped: not its complaint. */
		snprintf(msg, sizeof(msg), "%s", what ? what : "syntax error");
		at = line;
	}
	if (at > 0)
		snprintf(p->err, p->errlen, "%s:%d: syntax error: %s", file, at, msg);
	else
		snprintf(p->err, p->errlen, "%s: syntax error: %s", file, msg);
	return -EINVAL;
}
