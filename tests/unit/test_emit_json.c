// SPDX-License-Identifier: MIT
/* The JSON writer: string escaping, separators at every depth, one-member-a-line arrays,
 * numbers and null, and the errors it reports for unbalanced or too deep documents. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "emit_json.h"

struct doc {
	struct emit_json j;
	FILE *f;
	char *text;
	size_t len;
};

static void doc_open(struct doc *d)
{
	d->text = NULL;
	d->f = open_memstream(&d->text, &d->len);
	assert_non_null(d->f);
	emit_json_init(&d->j, d->f);
}

/* Closes the stream; the document must be whole and equal want. */
static void doc_expect(struct doc *d, const char *want)
{
	assert_int_equal(emit_json_end(&d->j), 0);
	assert_int_equal(fclose(d->f), 0);
	assert_string_equal(d->text, want);
	free(d->text);
}

static void test_escaping(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "\"\"" },
		{ "plain text", "\"plain text\"" },
		{ "a\"b", "\"a\\\"b\"" },
		{ "back\\slash", "\"back\\\\slash\"" },
		{ "\\\"", "\"\\\\\\\"\"" },
		{ "line\nbreak\ttab\r", "\"line\\u000abreak\\u0009tab\\u000d\"" },
		{ "\x01\x1f", "\"\\u0001\\u001f\"" },
		{ " \x7f", "\" \x7f\"" }, /* DEL is not a control character to JSON */
		{ "caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\"" }, /* UTF-8 as is */
		{ "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"" },			  /* 4 bytes */
		/* not UTF-8: a lone lead byte, a cut sequence, an overlong '/', a surrogate */
		{ "'\xe2'", "\"'\\ufffd'\"" },
		{ "\xe2\x80", "\"\\ufffd\\ufffd\"" },
		{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
		{ "/etc/ringrelay", "\"/etc/ringrelay\"" }, /* no \/ */
	};
	struct doc d;
	char want[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		doc_open(&d);
		emit_json_string(&d.j, NULL, cases[i].in);
		doc_expect(&d, cases[i].out);
		/* keys are escaped the same way */
		doc_open(&d);
		emit_json_object(&d.j, NULL);
		emit_json_null(&d.j, cases[i].in);
		emit_json_close(&d.j);
		snprintf(want, sizeof(want), "{%s: null}\n", cases[i].out);
		doc_expect(&d, want);
	}
}

static void test_separators(void **state)
{
	struct doc d;

	doc_open(&d);
	emit_json_object(&d.j, NULL);
	emit_json_string(&d.j, "a", "x");
	emit_json_array(&d.j, "empty");
	emit_json_close(&d.j);
	emit_json_object(&d.j, "o");
	emit_json_close(&d.j);
	emit_json_array(&d.j, "list");
	emit_json_uint(&d.j, NULL, 1);
	emit_json_object(&d.j, NULL);
	emit_json_int(&d.j, "n", -2);
	emit_json_array(&d.j, "deep");
	emit_json_array(&d.j, NULL);
	emit_json_null(&d.j, NULL);
	emit_json_close(&d.j);
	emit_json_uint(&d.j, NULL, 3);
	emit_json_close(&d.j);
	emit_json_close(&d.j);
	emit_json_string(&d.j, NULL, "z");
	emit_json_close(&d.j);
	emit_json_uint(&d.j, "last", 4);
	emit_json_close(&d.j);
	doc_expect(&d, "{\"a\": \"x\", \"empty\": [], \"o\": {}, \"list\": [1, {\"n\": -2, "
		       "\"deep\": [[null], 3]}, \"z\"], \"last\": 4}\n");
}

/* An array whose members each start a line (the sessions list), nested in a plain object. */
static void test_array_lines(void **state)
{
	struct doc d;
	int i;

	doc_open(&d);
	emit_json_object(&d.j, NULL);
	emit_json_uint(&d.j, "n", 2);
	emit_json_array_lines(&d.j, "items");
	for (i = 0; i < 2; i++) {
		emit_json_object(&d.j, NULL);
		emit_json_int(&d.j, "i", i);
		emit_json_array(&d.j, "inner");
		emit_json_int(&d.j, NULL, i);
		emit_json_int(&d.j, NULL, i);
		emit_json_close(&d.j);
		emit_json_close(&d.j);
	}
	emit_json_close(&d.j);
	emit_json_uint(&d.j, "after", 1);
	emit_json_close(&d.j);
	doc_expect(&d, "{\"n\": 2, \"items\": [\n {\"i\": 0, \"inner\": [0, 0]},\n {\"i\": 1, "
		       "\"inner\": [1, 1]}], \"after\": 1}\n");

	doc_open(&d);
	emit_json_array_lines(&d.j, NULL);
	emit_json_close(&d.j);
	doc_expect(&d, "[]\n");
}

static void test_numbers(void **state)
{
	static const struct {
		double v;
		int decimals;
		const char *out;
	} doubles[] = {
		{ 0.0, 3, "0.000" },
		{ 0.25, 3, "0.250" },
		{ 1763787242.125, 3, "1763787242.125" },
		{ 299.7495, 3, "299.750" }, /* rounded as printf rounds */
		{ 2.5, 0, "2" },
		{ -1.5, 1, "-1.5" },
		{ NAN, 3, "null" },
		{ INFINITY, 3, "null" },
		{ -INFINITY, 3, "null" },
	};
	struct doc d;
	size_t i;

	for (i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++) {
		doc_open(&d);
		emit_json_double(&d.j, NULL, doubles[i].v, doubles[i].decimals);
		doc_expect(&d, doubles[i].out);
	}
	doc_open(&d);
	emit_json_array(&d.j, NULL);
	emit_json_uint(&d.j, NULL, UINT64_MAX);
	emit_json_int(&d.j, NULL, INT64_MIN);
	emit_json_int(&d.j, NULL, 0);
	emit_json_close(&d.j);
	doc_expect(&d, "[18446744073709551615, -9223372036854775808, 0]\n");
}

static void test_errors(void **state)
{
	struct doc d;
	int i;

	/* a container left open */
	doc_open(&d);
	emit_json_object(&d.j, NULL);
	assert_int_equal(emit_json_end(&d.j), -EINVAL);
	fclose(d.f);
	free(d.text);

	/* one close too many */
	doc_open(&d);
	emit_json_array(&d.j, NULL);
	emit_json_close(&d.j);
	emit_json_close(&d.j);
	assert_int_equal(emit_json_end(&d.j), -EINVAL);
	fclose(d.f);
	free(d.text);

	/* deeper than the writer tracks: refused, and said so */
	doc_open(&d);
	for (i = 0; i < EMIT_JSON_MAX_DEPTH + 1; i++)
		emit_json_array(&d.j, NULL);
	for (i = 0; i < EMIT_JSON_MAX_DEPTH; i++)
		emit_json_close(&d.j);
	assert_int_equal(emit_json_end(&d.j), -EINVAL);
	fclose(d.f);
	free(d.text);

	/* the deepest allowed document is fine */
	doc_open(&d);
	for (i = 0; i < EMIT_JSON_MAX_DEPTH; i++)
		emit_json_array(&d.j, NULL);
	for (i = 0; i < EMIT_JSON_MAX_DEPTH; i++)
		emit_json_close(&d.j);
	assert_int_equal(emit_json_end(&d.j), 0);
	fclose(d.f);
	assert_int_equal(strlen(d.text), 2 * EMIT_JSON_MAX_DEPTH + 1);
	free(d.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_separators),
		cmocka_unit_test(test_array_lines),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
