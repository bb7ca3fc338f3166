// SPDX-License-Identifier: MIT
/* Why not json-c (libjson-c-dev 0.16), which Debian packages: its serializer cannot keep the
 * documented bytes of ringrelayctl -j. It writes `{ "a": 1 }` (SPACED) or `{"a":1}` (PLAIN),
 * never `{"a": 1}`; it escapes '/' as "\/" unless told not to; it prints doubles with
 * %.17g unless each one is given as a string; it has no way to put each session on a line.
 * It would also build a tree of objects for what is one pass over data we already hold. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>

#include "emit_json.h"
#include "utf8.h"

void emit_json_init(struct emit_json *j, FILE *out)
{
	*j = (struct emit_json){ .out = out };
}

/* Strings come from configs, interface names and error messages: bytes that are not UTF-8
 * become U+FFFD, so the document stays JSON for strict parsers. */
static void emit_json_escaped(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', out);
	while (*p) {
		n = utf8_len(p);
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else if (!n)
			fputs("\\ufffd", out);
		else
			fwrite(p, 1, n, out);
		p += n ? n : 1;
	}
	fputc('"', out);
}

/* Everything before a member's value: the separator its container wants, then the key. */
static void emit_json_member(struct emit_json *j, const char *key)
{
	uint32_t bit;

	if (j->depth) {
		bit = 1u << (j->depth - 1);
		if (j->lines & bit)
			fputs(j->more & bit ? ",\n " : "\n ", j->out);
		else if (j->more & bit)
			fputs(", ", j->out);
		j->more |= bit;
	}
	if (key) {
		emit_json_escaped(j->out, key);
		fputs(": ", j->out);
	}
}

static void emit_json_open(struct emit_json *j, const char *key, bool array, bool lines)
{
	uint32_t bit;

	if (j->depth == EMIT_JSON_MAX_DEPTH) {
		j->error = -EINVAL;
		return;
	}
	emit_json_member(j, key);
	fputc(array ? '[' : '{', j->out);
	bit = 1u << j->depth;
	j->more &= ~bit;
	j->arrays = array ? j->arrays | bit : j->arrays & ~bit;
	j->lines = lines ? j->lines | bit : j->lines & ~bit;
	j->depth++;
}

void emit_json_object(struct emit_json *j, const char *key)
{
	emit_json_open(j, key, false, false);
}

void emit_json_array(struct emit_json *j, const char *key)
{
	emit_json_open(j, key, true, false);
}

void emit_json_array_lines(struct emit_json *j, const char *key)
{
	emit_json_open(j, key, true, true);
}

void emit_json_close(struct emit_json *j)
{
	if (!j->depth) {
		j->error = -EINVAL;
		return;
	}
	j->depth--;
	fputc(j->arrays & (1u << j->depth) ? ']' : '}', j->out);
	if (!j->depth)
		fputc('\n', j->out);
}

void emit_json_string(struct emit_json *j, const char *key, const char *v)
{
	emit_json_member(j, key);
	emit_json_escaped(j->out, v);
}

void emit_json_uint(struct emit_json *j, const char *key, uint64_t v)
{
	emit_json_member(j, key);
	fprintf(j->out, "%" PRIu64, v);
}

void emit_json_int(struct emit_json *j, const char *key, int64_t v)
{
	emit_json_member(j, key);
	fprintf(j->out, "%" PRId64, v);
}

void emit_json_double(struct emit_json *j, const char *key, double v, int decimals)
{
	emit_json_member(j, key);
	if (isfinite(v))
		fprintf(j->out, "%.*f", decimals, v);
	else
		fputs("null", j->out);
}

void emit_json_null(struct emit_json *j, const char *key)
{
	emit_json_member(j, key);
	fputs("null", j->out);
}

void emit_json_bool(struct emit_json *j, const char *key, bool v)
{
	emit_json_member(j, key);
	fputs(v ? "true" : "false", j->out);
}

int emit_json_end(const struct emit_json *j)
{
	if (j->error)
		return j->error;
	if (j->depth)
		return -EINVAL;
	return ferror(j->out) ? -EIO : 0;
}
