/* SPDX-License-Identifier: MIT */
/* Aligned text tables for the control answers: cells are added row by row, and printing pads
 * every column to its widest cell, two spaces apart. Numbers read better right aligned, so
 * columns marked in `right` are; the last column is not padded (no trailing blanks) unless
 * it is right aligned. A table without a header row makes a "key  value" list. */
#ifndef RINGRELAY_EMIT_TABLE_H
#define RINGRELAY_EMIT_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EMIT_TABLE_MAX_COLS 32

struct emit_table {
	uint32_t cols;
	uint32_t right;			     /* bit c: column c is right aligned */
	size_t width[EMIT_TABLE_MAX_COLS];   /* at least this wide; printing widens it */
	uint32_t n, cap;		     /* cells, row after row */
	char **cells;
	FILE *cell;		  /* a cell built in pieces, between cell_begin and cell_end */
	char *cell_text;
	size_t cell_len;
	const char *lead, *sep; /* before its first piece, between the others */
	uint32_t pieces;
	int error; /* -ENOMEM once a cell could not be kept; printing reports it */
};

/* cols (1..EMIT_TABLE_MAX_COLS) columns; head is the header row (cols strings) or NULL. */
void emit_table_init(struct emit_table *t, uint32_t cols, uint32_t right,
		     const char *const *head);
/* Column col is at least width characters wide, however short its cells. */
void emit_table_min_width(struct emit_table *t, uint32_t col, size_t width);
/* The next cell, printf-style. */
void emit_table_cell(struct emit_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The next cell, built from a list: head, then lead before the first piece and sep between
 * the others ("tc on eth0, eth1": head "tc", lead " on ", sep ", "). */
void emit_table_cell_begin(struct emit_table *t, const char *head, const char *lead,
			   const char *sep);
void emit_table_piece(struct emit_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void emit_table_cell_end(struct emit_table *t);

/* Writes the table to out and frees its cells (emit_table_fini). Returns 0, -ENOMEM when a
 * cell was lost (nothing is written then), or -EIO when out failed. */
int emit_table_print(struct emit_table *t, FILE *out);
/* Frees the cells without printing; idempotent. */
void emit_table_fini(struct emit_table *t);

#endif
