// SPDX-License-Identifier: MIT
/* Why not libsmartcols (libsmartcols-dev 2.38, util-linux's table library): it lays out
 * these tables the same way, but the daemon renders them into memory for a client, and
 * there libsmartcols' terminal logic works against us. It escapes every byte it deems
 * unprintable as \xNN, and in the daemon's C locale that is every non-ASCII byte too, so a
 * UTF-8 interface name or config path would print differently than today unless the daemon
 * called setlocale(); it sizes columns from the daemon's own stdout when that is a terminal
 * unless forced not to; and its JSON is table-shaped, so it could not serve -j anyway. What
 * we need is padding to the widest cell: the code below. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "emit_table.h"

void emit_table_init(struct emit_table *t, uint32_t cols, uint32_t right,
		     const char *const *head)
{
	uint32_t c;

	memset(t, 0, sizeof(*t));
	if (cols == 0 || cols > EMIT_TABLE_MAX_COLS) {
		t->error = -EINVAL;
		return;
	}
	t->cols = cols;
	t->right = right;
	for (c = 0; head && c < cols; c++)
		emit_table_cell(t, "%s", head[c]);
}

void emit_table_min_width(struct emit_table *t, uint32_t col, size_t width)
{
	if (col < t->cols)
		t->width[col] = width;
}

/* Appends cell (malloc'ed, or NULL when making it failed), which the table now owns. After a
 * failure the table keeps no more cells: it only reports the error. */
static void emit_table_add(struct emit_table *t, char *cell)
{
	uint32_t cap = t->cap ? t->cap * 2 : 64;
	char **cells;

	if (!t->error && !cell)
		t->error = -ENOMEM;
	if (!t->error && t->n == t->cap) {
		cells = realloc(t->cells, cap * sizeof(*cells));
		if (cells) {
			t->cells = cells;
			t->cap = cap;
		} else {
			t->error = -ENOMEM;
		}
	}
	if (t->error) {
		free(cell);
		return;
	}
	t->cells[t->n++] = cell;
}

void emit_table_cell(struct emit_table *t, const char *fmt, ...)
{
	char *cell = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&cell, fmt, ap) < 0)
		cell = NULL;
	va_end(ap);
	emit_table_add(t, cell);
}

void emit_table_cell_begin(struct emit_table *t, const char *head, const char *lead,
			   const char *sep)
{
	t->cell_text = NULL;
	t->cell_len = 0;
	t->cell = open_memstream(&t->cell_text, &t->cell_len);
	t->lead = lead;
	t->sep = sep;
	t->pieces = 0;
	if (t->cell)
		fputs(head, t->cell);
}

void emit_table_piece(struct emit_table *t, const char *fmt, ...)
{
	va_list ap;

	if (!t->cell)
		return;
	fputs(t->pieces++ ? t->sep : t->lead, t->cell);
	va_start(ap, fmt);
	vfprintf(t->cell, fmt, ap);
	va_end(ap);
}

void emit_table_cell_end(struct emit_table *t)
{
	bool ok = t->cell && !fclose(t->cell);

	t->cell = NULL;
	if (!ok) {
		free(t->cell_text);
		t->cell_text = NULL;
	}
	emit_table_add(t, t->cell_text);
	t->cell_text = NULL;
}

int emit_table_print(struct emit_table *t, FILE *out)
{
	size_t width[EMIT_TABLE_MAX_COLS];
	uint32_t i, c;
	int ret = t->error;

	if (ret) {
		emit_table_fini(t);
		return ret;
	}
	memcpy(width, t->width, sizeof(width));
	for (i = 0; i < t->n; i++) {
		size_t l = strlen(t->cells[i]);

		if (l > width[i % t->cols])
			width[i % t->cols] = l;
	}
	for (i = 0; i < t->n; i++) {
		/* The end of a row, or of the cells when the last row is short. */
		bool last = i % t->cols == t->cols - 1 || i == t->n - 1;

		c = i % t->cols;
		if (t->right & (1u << c))
			fprintf(out, "%*s", (int)width[c], t->cells[i]);
		else
			fprintf(out, "%-*s", last ? 0 : (int)width[c], t->cells[i]);
		fputs(last ? "\n" : "  ", out);
	}
	emit_table_fini(t);
	return ferror(out) ? -EIO : 0;
}

void emit_table_fini(struct emit_table *t)
{
	uint32_t i;

	for (i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	if (t->cell)
		fclose(t->cell);
	free(t->cell_text);
	t->cells = NULL;
	t->cell = NULL;
	t->cell_text = NULL;
	t->n = t->cap = 0;
}
