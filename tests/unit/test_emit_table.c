// SPDX-License-Identifier: MIT
/* Tables: columns padded to the widest cell two spaces apart, right-aligned columns, no
 * trailing blanks after a left-aligned last column, minimum widths ("key  value" lists),
 * cells built from pieces, short last rows, and the errors printing reports. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "emit_table.h"

#define MAX_CELLS 12

/* A table as data: columns, alignment, minimum width of column 0, header, cells, and what
 * printing must produce. */
struct table_case {
	const char *name;
	uint32_t cols;
	uint32_t right;
	size_t min0;
	const char *head[4];
	const char *cells[MAX_CELLS];
	const char *out;
};

static const struct table_case cases[] = {
	{ "left, last column unpadded", 2, 0, 0, { "A", "LONG_HEADER" },
	  { "wide cell", "x", "y", "z" },
	  "A          LONG_HEADER\nwide cell  x\ny          z\n" },
	{ "numbers right, last one padded too", 3, 0x6, 0, { "NAME", "N", "SIZE" },
	  { "a", "1", "12345", "bb", "100", "6" },
	  "NAME    N   SIZE\na       1  12345\nbb    100      6\n" },
	{ "every column right", 2, 0x3, 0, { "WORKER", "AGE" },
	  { "0", "0.250 s", "11", "never" },
	  "WORKER      AGE\n     0  0.250 s\n    11    never\n" },
	{ "key value list with a minimum key width", 2, 0, 9, { NULL },
	  { "pid", "42", "version", "1.0", "config", "" },
	  "pid        42\nversion    1.0\nconfig     \n" },
	{ "a key longer than the minimum widens it", 2, 0, 4, { NULL },
	  { "interfaces", "eth0 eth1", "mode", "tc" },
	  "interfaces  eth0 eth1\nmode        tc\n" },
	{ "header only", 3, 0x7, 0, { "WORKER", "CPU", "HEARTBEAT_AGE" }, { NULL },
	  "WORKER  CPU  HEARTBEAT_AGE\n" },
	{ "nothing at all", 2, 0, 0, { NULL }, { NULL }, "" },
	{ "a short last row ends where its cells end", 3, 0, 0, { NULL },
	  { "a", "bb", "c", "dddd" },
	  "a     bb  c\ndddd\n" },
	{ "one column", 1, 0, 0, { "H" }, { "x", "yyy" }, "H\nx\nyyy\n" },
};

static char *print_case(const struct table_case *c, int *ret)
{
	struct emit_table t;
	char *text = NULL;
	size_t len = 0, i;
	FILE *f;

	emit_table_init(&t, c->cols, c->right, c->head[0] ? c->head : NULL);
	if (c->min0)
		emit_table_min_width(&t, 0, c->min0);
	for (i = 0; i < MAX_CELLS && c->cells[i]; i++)
		emit_table_cell(&t, "%s", c->cells[i]);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	*ret = emit_table_print(&t, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void test_layouts(void **state)
{
	size_t i;
	char *text;
	int ret;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = print_case(&cases[i], &ret);
		assert_int_equal(ret, 0);
		if (strcmp(text, cases[i].out))
			fail_msg("%s: got\n%s\nwant\n%s", cases[i].name, text, cases[i].out);
		free(text);
	}
}

/* head, lead, sep and the pieces -> the cell */
static void test_pieces(void **state)
{
	static const struct {
		const char *head, *lead, *sep;
		const char *pieces[4];
		const char *cell;
	} pc[] = {
		{ "tc", " on ", ", ", { "eth0", "eth1" }, "tc on eth0, eth1" },
		{ "tc", " on ", ", ", { "eth0" }, "tc on eth0" },
		{ "off", " on ", ", ", { NULL }, "off" },
		{ "", "", " ", { "a:1", "b:2 weight=3", "c:3" }, "a:1 b:2 weight=3 c:3" },
		{ "", "", " ", { NULL }, "" },
	};
	struct emit_table t;
	char *text = NULL, want[64];
	size_t len = 0, i, k;
	FILE *f;

	for (i = 0; i < sizeof(pc) / sizeof(pc[0]); i++) {
		emit_table_init(&t, 2, 0, NULL);
		emit_table_cell(&t, "k");
		emit_table_cell_begin(&t, pc[i].head, pc[i].lead, pc[i].sep);
		for (k = 0; k < 4 && pc[i].pieces[k]; k++)
			emit_table_piece(&t, "%s", pc[i].pieces[k]);
		emit_table_cell_end(&t);
		f = open_memstream(&text, &len);
		assert_non_null(f);
		assert_int_equal(emit_table_print(&t, f), 0);
		fclose(f);
		snprintf(want, sizeof(want), "k  %s\n", pc[i].cell);
		assert_string_equal(text, want);
		free(text);
		text = NULL;
	}
}

/* More cells than fit the first allocation, and printf-style cells. */
static void test_many_rows(void **state)
{
	struct emit_table t;
	char *text = NULL, line[32];
	size_t len = 0;
	FILE *f;
	int i;

	emit_table_init(&t, 2, 0x2, NULL);
	for (i = 0; i < 1000; i++) {
		emit_table_cell(&t, "row%d", i);
		emit_table_cell(&t, "%d", i * i);
	}
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(emit_table_print(&t, f), 0);
	fclose(f);
	assert_string_equal(strstr(text, "row999"), "row999  998001\n");
	snprintf(line, sizeof(line), "row0         0\n");
	assert_memory_equal(text, line, strlen(line));
	free(text);
}

static void test_errors(void **state)
{
	struct emit_table t;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	assert_non_null(f);
	emit_table_init(&t, EMIT_TABLE_MAX_COLS + 1, 0, NULL);
	emit_table_cell(&t, "x");
	assert_int_equal(emit_table_print(&t, f), -EINVAL);
	emit_table_init(&t, 0, 0, NULL);
	assert_int_equal(emit_table_print(&t, f), -EINVAL);
	fclose(f);
	assert_int_equal(len, 0); /* nothing written for a table that failed */
	free(text);

	/* fini without printing frees a half-built cell too (ASan checks) */
	emit_table_init(&t, 2, 0, NULL);
	emit_table_cell(&t, "a");
	emit_table_cell_begin(&t, "h", "", " ");
	emit_table_piece(&t, "p");
	emit_table_fini(&t);
	emit_table_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_many_rows),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
