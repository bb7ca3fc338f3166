/* SPDX-License-Identifier: MIT */
#ifndef RINGRELAY_UTF8_H
#define RINGRELAY_UTF8_H

#include <stddef.h>

/* The length of the well-formed UTF-8 sequence (RFC 3629) that the NUL-terminated s starts
 * with, or 0 when it starts with none (it reads no byte past a NUL). */
size_t utf8_len(const unsigned char *s);

#endif
