/* SPDX-License-Identifier: MIT */
/* What the config sections (config.c, config_filter.c) are built from: the parser state, the
 * "FILE:LINE: SETTING: what is wrong" messages, typed getters over libconfig settings, and
 * the table of settings each section is. A row of a table is one setting: its name, type,
 * place in the section's struct, range or words, default, and whether a reload keeps its
 * running value. From the table come the section's known keys, its defaults, its parse, its
 * dump and the restart-only list, so a new scalar setting is one row. Private to config*.c. */
#ifndef RINGRELAY_CONFIG_PARSE_H
#define RINGRELAY_CONFIG_PARSE_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define CONFIG_MAX_SECONDS 86400.0
/* The shortest health_check.interval and resolve_interval: the upkeep thread's tick
 * (UPKEEP_TICK_MS), at which it turns results into state. */
#define CONFIG_MIN_INTERVAL 0.1
#define CONFIG_MAX_ROWS 31 /* per section */

struct config_parser {
	const char *name; /* file name for messages */
	char *err;
	size_t errlen;
	struct config *cfg;
};

/* ---------------------------------------------------------------- messages */

/* Each formats "FILE[:LINE]: [PATH: ]MSG" into p->err and returns -EINVAL. */
/* An error about setting s itself. */
int config_err(struct config_parser *p, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* An error about member `name` of group g, which may be missing: so g's line. */
int config_err_member(struct config_parser *p, const config_setting_t *g, const char *name,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The line of the closest ancestor of s that has one (libconfig leaves some without). */
int config_line(const config_setting_t *s);
/* "a, b, c" of a NULL-terminated word list. */
void config_join_words(const char *const *words, char *buf, size_t len);
/* words[v], or "?" when v is past the end of the NULL-terminated list. */
const char *config_word(const char *const *words, unsigned int v);

/* libconfig could not read text: formats "FILE:LINE: syntax error: WHAT" into p->err, where
 * for libconfig's bare "syntax error" WHAT says what is wrong (BOM, single quotes, trailing
 * comma, unclosed or mismatched bracket, missing ',' '=' ';' or value, extra ';') and LINE
 * is where that is; file, line and what are libconfig's. Returns -EINVAL. */
int config_syntax_error(struct config_parser *p, const char *text, const char *file, int line,
			const char *what);

/* ---------------------------------------------------------------- typed getters */

/* Each checks the type (and range) of s and reports it as an error about s. */
int config_get_int(struct config_parser *p, const config_setting_t *s, long long lo, long long hi,
		   long long *out);
int config_get_string(struct config_parser *p, const config_setting_t *s, const char **out);
int config_get_word(struct config_parser *p, const config_setting_t *s, const char *const *words,
		    int *out);
/* A [ ... ] array or ( ... ) list of min..max elements, all of elem_type. */
int config_get_list(struct config_parser *p, const config_setting_t *s, int elem_type,
		    unsigned int min, unsigned int max, unsigned int *n);
/* Fails on a member of g that is not in keys (NULL-terminated). */
int config_check_keys(struct config_parser *p, const config_setting_t *g,
		      const char *const *keys);

/* ---------------------------------------------------------------- tables */

enum config_type {
	CONFIG_T_U32,	   /* integer lo..hi */
	CONFIG_T_U8,	   /* integer lo..hi, stored in a uint8_t */
	CONFIG_T_INT,	   /* integer lo..hi, signed, stored in an int */
	CONFIG_T_WORD,	   /* one of words, stored as the enum (an int) it indexes */
	CONFIG_T_BOOL,
	CONFIG_T_SECONDS,  /* a double, > 0 (>= 0 with zero_off) and at most CONFIG_MAX_SECONDS */
	CONFIG_T_STRING,   /* at most hi - 1 bytes, copied into the char array */
	CONFIG_T_ENDPOINT, /* "ADDRESS:PORT" with a port, into a struct addr */
	CONFIG_T_CUSTOM,   /* parse and dump functions of its own */
};

struct config_section;

struct config_row {
	const char *name;
	enum config_type type;
	size_t offset, size; /* the bytes the setting occupies in the section's struct */
	long long lo, hi;
	const char *const *words;
	struct {
		long long i; /* U32, U8, INT, WORD, BOOL */
		double d;    /* SECONDS */
		const char *s; /* STRING, ENDPOINT */
	} def;
	/* A reload keeps the running value until a restart (root and relay sections). */
	bool restart_only;
	/* Parsed and dumped before the rest of its section, which depends on it. */
	bool first;
	/* SECONDS: 0 is allowed and means off. */
	bool zero_off;
	/* Runs once the value is parsed, when the setting is present: cross-checks and values
	 * that follow from it. 0 or config_err(). */
	int (*after)(struct config_parser *p, const config_setting_t *s, void *base);
	/* CUSTOM: parse member s (NULL when absent) of group g into the section at base, and
	 * dump it, each line starting with indent. */
	int (*parse)(struct config_parser *p, const config_setting_t *g, const config_setting_t *s,
		     void *base);
	void (*dump)(FILE *f, const void *base, const char *indent);
};

/* A row's place: .offset/.size of field, or of the span first..last of fields. */
#define CONFIG_FIELD(type, field)                                                                  \
	.offset = offsetof(type, field), .size = sizeof(((type *)0)->field)
#define CONFIG_SPAN(type, first, last)                                                             \
	.offset = offsetof(type, first),                                                           \
	.size = offsetof(type, last) + sizeof(((type *)0)->last) - offsetof(type, first)

/* A group of settings, the table of its (at most CONFIG_MAX_ROWS) rows. */
struct config_section {
	const struct config_row *rows;
	size_t n_rows;
	const char *example; /* "must be a group, e.g. EXAMPLE" */
	/* The group is there and its keys are known (before its rows are parsed). */
	void (*present)(struct config_parser *p, const config_setting_t *g, void *base);
	/* After every row: checks across them. 0 or config_err(). */
	int (*check)(struct config_parser *p, const config_setting_t *g, void *base);
};

#define CONFIG_SECTION(table) .rows = table, .n_rows = sizeof(table) / sizeof(table[0])

/* Sets every row's default in the section at base (CUSTOM rows set their own). */
void config_section_defaults(const struct config_section *sec, void *base);
/* Parses group g as sec into base: g NULL is an absent group (nothing to do); otherwise it
 * must be a group of sec's keys, whose rows are parsed in table order (`first` rows
 * first), then sec->check. 0 or the first error. */
int config_parse_group(struct config_parser *p, const config_setting_t *g,
		       const struct config_section *sec, void *base);
/* Writes each row as "PREFIXname = value;SUFFIX" in parse order; CUSTOM rows dump
 * themselves with prefix as their indent. */
void config_dump_rows(FILE *f, const struct config_section *sec, const void *base,
		      const char *prefix, const char *suffix);
/* "{ name = value; ... }" on one line. */
void config_dump_inline(FILE *f, const struct config_section *sec, const void *base);
/* For each restart-only row of sec that differs between running and next: next gets the
 * running value and changed(arg, what) is called, what = "PREFIXname". */
void config_keep_rows(const struct config_section *sec, const void *running, void *next,
		      const char *prefix, void (*changed)(void *arg, const char *what), void *arg);

/* A quoted string that reads back the same. */
void config_dump_string(FILE *f, const char *s);

#endif
