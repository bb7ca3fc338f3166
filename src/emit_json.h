/* SPDX-License-Identifier: MIT */
/* A streaming JSON writer for the control answers: members are written as they come, and the
 * writer puts the separators (", " between members, ": " after keys), so no caller counts
 * commas. The layout is ringrelayctl's: one line, `{"key": value, "list": [1, 2]}`, except
 * an array opened with emit_json_array_lines, whose members each start a line. Strings are
 * escaped (\" \\ and \u00XX below 0x20); other bytes, UTF-8 included, pass as they are.
 *
 * key is the member's name inside an object and NULL inside an array or at the top. Closing
 * the outermost container ends the document with a newline. */
#ifndef RINGRELAY_EMIT_JSON_H
#define RINGRELAY_EMIT_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define EMIT_JSON_MAX_DEPTH 32

struct emit_json {
	FILE *out;
	unsigned int depth; /* containers open */
	uint32_t more;	    /* bit d: container d has a member already */
	uint32_t lines;	    /* bit d: container d puts each member on a line of its own */
	uint32_t arrays;    /* bit d: container d is an array */
	int error;	    /* -EINVAL after nesting too deep or closing too often */
};

void emit_json_init(struct emit_json *j, FILE *out);

void emit_json_object(struct emit_json *j, const char *key);
void emit_json_array(struct emit_json *j, const char *key);
void emit_json_array_lines(struct emit_json *j, const char *key);
/* Closes the innermost object or array. */
void emit_json_close(struct emit_json *j);

void emit_json_string(struct emit_json *j, const char *key, const char *v);
void emit_json_uint(struct emit_json *j, const char *key, uint64_t v);
void emit_json_int(struct emit_json *j, const char *key, int64_t v);
/* v with that many decimals ("%.*f"); null when v is NaN or infinite, which JSON lacks. */
void emit_json_double(struct emit_json *j, const char *key, double v, int decimals);
void emit_json_null(struct emit_json *j, const char *key);
void emit_json_bool(struct emit_json *j, const char *key, bool v);

/* 0 when every container was closed and out took every byte; else -EINVAL or -EIO. */
int emit_json_end(const struct emit_json *j);

#endif
