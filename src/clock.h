/* SPDX-License-Identifier: MIT */
/* Milliseconds on CLOCK_MONOTONIC, for deadlines and waits: a step of the wall clock (NTP at
 * boot, a resumed VM) moves none of them. */
#ifndef RINGRELAY_CLOCK_H
#define RINGRELAY_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
