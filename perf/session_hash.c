// SPDX-License-Identifier: MIT
/* The session table's lookup cost under SipHash-2-4 (issue 12): N sessions in one table,
 * looked up again and again, for two client sets: one address with consecutive source ports
 * (what one host, or one spoofer, can send) and random addresses of both families. Prints
 * ns per lookup and the longest hash chain. Before the keyed hash, 50,000 clients chosen
 * against the old (invertible) mixer shared one chain: 131-147 us per lookup.
 *
 *   build/perf/session_hash [SESSIONS [LOOKUPS]]     (defaults 50000 and 10000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t longest_chain(const struct session_table *t)
{
	uint32_t b, i, n, max = 0;

	for (b = 0; b <= t->bucket_mask; b++) {
		for (n = 0, i = t->buckets[b]; i != SESSION_NONE; i = t->slots[i].hash_next)
			n++;
		if (n > max)
			max = n;
	}
	return max;
}

/* Client k of a set: one IPv4 address with ports 1024.. (same), or random addresses. */
static struct addr client(uint32_t k, int same, uint64_t *rng)
{
	char text[64];
	struct addr a;
	const char *why;

	*rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
	if (same)
		snprintf(text, sizeof(text), "198.18.0.1:%u", 1024 + k % 64000);
	else if (k & 1)
		snprintf(text, sizeof(text), "198.18.%u.%u:%u", (unsigned)(*rng >> 56),
			 (unsigned)(*rng >> 48) & 0xff, 1024 + (unsigned)(*rng >> 32) % 64000);
	else
		snprintf(text, sizeof(text), "[2001:2::%x:%x]:%u", (unsigned)(*rng >> 48),
			 (unsigned)(*rng >> 32) & 0xffff, 1024 + (unsigned)(*rng >> 16) % 64000);
	if (addr_parse(text, &a, &why)) {
		fprintf(stderr, "%s: %s\n", text, why);
		exit(1);
	}
	return a;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 50000;
	uint64_t lookups = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000, i;
	static const char *const names[] = { "random addresses", "one address, ports 1024.." };
	int same;

	if (n == 0 || n > 64000) {
		fprintf(stderr, "SESSIONS: 1 .. 64000\n");
		return 2;
	}
	for (same = 0; same < 2; same++) {
		struct session_table t;
		struct addr *keys = calloc(n, sizeof(*keys));
		uint64_t rng = 42, found = 0;
		double t0, dt;
		uint32_t k;

		if (!keys || session_table_init(&t, n, 1000000000ull)) {
			fprintf(stderr, "out of memory or no key\n");
			return 1;
		}
		for (k = 0; k < n; k++) {
			keys[k] = client(k, same, &rng);
			if (!session_lookup(&t, &keys[k], 0, NULL))
				session_insert(&t, &keys[k], 0, NULL, 0);
		}
		t0 = now_s();
		for (i = 0; i < lookups; i++)
			found += session_lookup(&t, &keys[i % n], 0, NULL) != NULL;
		dt = now_s() - t0;
		printf("%-26s %6u sessions, %u buckets: %.1f ns per lookup, longest chain %u "
		       "(%llu found)\n",
		       names[same], t.active, t.bucket_mask + 1, dt * 1e9 / (double)lookups,
		       longest_chain(&t), (unsigned long long)found);
		session_table_fini(&t);
		free(keys);
	}
	return 0;
}
