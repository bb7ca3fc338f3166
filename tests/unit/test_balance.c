// SPDX-License-Identifier: MIT
/* Balancer: rr proportion and smoothness, hash determinism and spread, Maglev weights and
 * consistency under removal, the one-upstream case and bad input. */
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

#include "balance.h"

#define MAX_WEIGHTS 64
#define N_CLIENTS 10000

struct weight_set {
	const char *name;
	uint32_t n;
	uint32_t w[MAX_WEIGHTS]; /* n == 0 entries: generated, see fill_conf */
};

static const struct weight_set weight_sets[] = {
	{ "one", 1, { 1 } },
	{ "equal", 2, { 1, 1 } },
	{ "3:1", 2, { 3, 1 } },
	{ "1:2:3:4", 4, { 1, 2, 3, 4 } },
	{ "5:1:1", 3, { 5, 1, 1 } },
	{ "100:1", 2, { 100, 1 } },
	{ "7:3:2", 3, { 7, 3, 2 } },
	{ "64 mixed", 64, { 0 } },
};
#define N_SETS (sizeof(weight_sets) / sizeof(weight_sets[0]))

static struct addr test_addr(const char *text)
{
	struct addr a;
	const char *why;

	assert_int_equal(addr_parse(text, &a, &why), 0);
	return a;
}

/* Upstream i is 198.18.1.i:53 for even i and [2001:2::1:i]:53 for odd i, so both families
 * feed the Maglev permutations. The 64-upstream set gets weights spread over 1..100. */
static void fill_conf(struct relay_conf *r, const struct weight_set *ws, enum balance_mode mode)
{
	char text[64];
	uint32_t i;

	memset(r, 0, sizeof(*r));
	r->balance = mode;
	r->n_upstreams = ws->n;
	for (i = 0; i < ws->n; i++) {
		if (i % 2 == 0)
			snprintf(text, sizeof(text), "198.18.1.%u:53", i);
		else
			snprintf(text, sizeof(text), "[2001:2::1:%x]:53", i);
		r->upstreams[i].addr = test_addr(text);
		r->upstreams[i].weight = ws->w[i] ? ws->w[i] : (i * 37) % 100 + 1;
	}
}

static uint32_t conf_total(const struct relay_conf *r)
{
	uint32_t i, total = 0;

	for (i = 0; i < r->n_upstreams; i++)
		total += r->upstreams[i].weight;
	return total;
}

/* Reproducible clients: xorshift64, half IPv4 in 198.18.0.0/15, half IPv6 in 2001:2::/48. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static struct addr random_client(uint64_t *rng)
{
	uint64_t v = rng_next(rng);
	uint16_t port = (uint16_t)(1024 + (v >> 48) % 64512);
	char text[64];

	if (v & 1)
		snprintf(text, sizeof(text), "198.%u.%u.%u:%u", 18 + (unsigned)((v >> 1) & 1),
			 (unsigned)(v >> 8) & 0xff, (unsigned)(v >> 16) & 0xff, port);
	else
		snprintf(text, sizeof(text), "[2001:2:0:%x:%x::%x]:%u", (unsigned)(v >> 8) & 0xffff,
			 (unsigned)(v >> 24) & 0xffff, (unsigned)(v >> 40) & 0xff, port);
	return test_addr(text);
}

static struct addr *random_clients(uint32_t n)
{
	struct addr *c = calloc(n, sizeof(*c));
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	uint32_t i;

	assert_non_null(c);
	for (i = 0; i < n; i++)
		c[i] = random_client(&rng);
	return c;
}

static void test_init_errors(void **state)
{
	static struct relay_conf r;
	struct balancer b;

	memset(&b, 0, sizeof(b));
	balancer_fini(&b); /* zeroed */
	balancer_fini(&b);

	fill_conf(&r, &weight_sets[1], BALANCE_RR);
	r.n_upstreams = 0;
	assert_int_equal(balancer_init(&b, &r), -EINVAL);
	balancer_fini(&b);

	fill_conf(&r, &weight_sets[1], BALANCE_MAGLEV);
	r.upstreams[0].weight = 0;
	r.upstreams[1].weight = 0;
	assert_int_equal(balancer_init(&b, &r), -EINVAL);

	fill_conf(&r, &weight_sets[1], BALANCE_MAGLEV);
	assert_int_equal(balancer_init(&b, &r), 0);
	balancer_fini(&b);
	assert_null(b.full.maglev);
	balancer_fini(&b); /* already finished */
}

/* The fewest repeats a sequence of total picks can have for an upstream of weight w, when the
 * others' picks separate its runs: w picks into (total - w + 1) gaps. */
static uint32_t min_run(uint32_t w, uint32_t total)
{
	uint32_t gaps = total - w + 1;

	return (w + gaps - 1) / gaps;
}

static void test_rr(void **state)
{
	static struct relay_conf r;
	size_t k;

	for (k = 0; k < N_SETS; k++) {
		uint32_t count[MAX_WEIGHTS] = { 0 }, run[MAX_WEIGHTS] = { 0 };
		uint32_t total, i, step, rr = 0, prev = UINT32_MAX;
		struct balancer b;

		fill_conf(&r, &weight_sets[k], BALANCE_RR);
		total = conf_total(&r);
		assert_int_equal(balancer_init(&b, &r), 0);
		assert_int_equal(b.full.schedule_len, total);
		assert_int_equal(b.n_upstreams, r.n_upstreams);

		/* Three periods through balancer_pick: exact proportion in each one. */
		for (step = 0; step < 3 * total; step++) {
			uint32_t u = balancer_pick(&b, NULL, &rr);

			assert_true(u < r.n_upstreams);
			count[u]++;
			if ((step + 1) % total == 0) {
				for (i = 0; i < r.n_upstreams; i++)
					assert_int_equal(count[i],
							 (step + 1) / total * r.upstreams[i].weight);
			}
		}
		assert_int_equal(rr, 0);

		/* Smoothness within a period: no upstream repeats more than it must. */
		for (step = 0; step < total; step++) {
			uint32_t u = b.full.schedule[step];

			run[u] = u == prev ? run[u] + 1 : 1;
			prev = u;
			if (r.n_upstreams > 1 &&
			    run[u] > min_run(r.upstreams[u].weight, total)) {
				fail_msg("%s: upstream %u repeats %u times at step %u (at most %u)",
					 weight_sets[k].name, u, run[u], step,
					 min_run(r.upstreams[u].weight, total));
			}
		}
		balancer_fini(&b);
	}
}

/* 3:1 in the order a worker sees it: never three in a row within a period, and across period
 * boundaries never more than the three that 3:1 forces. */
static void test_rr_3_1(void **state)
{
	static struct relay_conf r;
	uint32_t rr = 0, i, run = 0, max_run = 0, prev = UINT32_MAX, other = 0;
	struct balancer b;

	fill_conf(&r, &weight_sets[2], BALANCE_RR);
	assert_int_equal(balancer_init(&b, &r), 0);
	for (i = 0; i < 400; i++) {
		uint32_t u = balancer_pick(&b, NULL, &rr);

		run = u == prev ? run + 1 : 1;
		prev = u;
		if (run > max_run)
			max_run = run;
		if (i < 4)
			assert_true(run <= 2);
		other += u == 1;
	}
	assert_int_equal(max_run, 3);
	assert_int_equal(other, 100);

	/* The rr state belongs to the worker and is not validated by anyone else: a state out of
	 * range restarts the rotation rather than reading past the schedule. */
	rr = 1000;
	assert_int_equal(balancer_pick(&b, NULL, &rr), b.full.schedule[0]);
	assert_int_equal(rr, 1);
	balancer_fini(&b);
}

/* Where each of n workers starts rr (balancer_rr_start), within the order rr walks. With as
 * many workers as the order is long, their first sessions follow the weights exactly; with
 * fewer or more, no member's first sessions are more than its share rounded up (spaced k / n
 * of the way along the order, 3 workers' first went to the one member of 64 with 3% of the
 * weight). Only eligible members when some are not (the order rr walks then); 0 for hash and
 * maglev. Before, every worker started at 0: n workers' first sessions all went to one
 * member. */
static void test_rr_start(void **state)
{
	static const enum balance_mode other[] = { BALANCE_HASH, BALANCE_MAGLEV };
	static const uint32_t workers[] = { 1, 2, 3, 4, 7, 16 };
	static struct relay_conf r;
	struct balance_member m[4];
	size_t k, j;

	for (k = 0; k < N_SETS; k++) {
		uint32_t count[MAX_WEIGHTS], total, i, n, at, rr;
		struct balancer b;

		fill_conf(&r, &weight_sets[k], BALANCE_RR);
		total = conf_total(&r);
		assert_int_equal(balancer_init(&b, &r), 0);
		for (j = 0; j <= sizeof(workers) / sizeof(workers[0]); j++) {
			n = j < sizeof(workers) / sizeof(workers[0]) ? workers[j] : total;
			memset(count, 0, sizeof(count));
			for (i = 0; i < n; i++) {
				at = balancer_rr_start(&b, i);
				assert_true(at < total);
				rr = at;
				count[balancer_pick(&b, NULL, &rr)]++;
			}
			for (i = 0; i < r.n_upstreams; i++) {
				uint64_t share = (uint64_t)n * r.upstreams[i].weight;

				if (n == total)
					assert_int_equal(count[i], r.upstreams[i].weight);
				else if (count[i] > (share + total - 1) / total)
					fail_msg("%s, %u workers: member %u first for %u (weight %u "
						 "of %u)",
						 weight_sets[k].name, n, i, count[i],
						 r.upstreams[i].weight, total);
			}
		}
		assert_int_equal(balancer_rr_start(&b, 0), 0);
		assert_int_equal(balancer_rr_start(&b, total + 1), 1 % total);
		balancer_fini(&b);
	}

	/* two of four out: two workers start on the two left */
	for (j = 0; j < 4; j++) {
		m[j].addr = test_addr(j % 2 ? "[2001:2::1]:53" : "198.18.1.1:53");
		addr_set_port(&m[j].addr, (uint16_t)(53 + j));
		m[j].weight = 1;
	}
	{
		struct balancer b;
		uint32_t rr0, rr1;

		assert_int_equal(balancer_build(&b, BALANCE_RR, m, 4, (1u << 1) | (1u << 3)), 0);
		rr0 = balancer_rr_start(&b, 0);
		rr1 = balancer_rr_start(&b, 1);
		assert_int_equal(balancer_pick(&b, NULL, &rr0), 1);
		assert_int_equal(balancer_pick(&b, NULL, &rr1), 3);
		balancer_fini(&b);
	}
	for (j = 0; j < sizeof(other) / sizeof(other[0]); j++) {
		struct balancer b;

		fill_conf(&r, &weight_sets[3], other[j]);
		assert_int_equal(balancer_init(&b, &r), 0);
		assert_int_equal(balancer_rr_start(&b, 3), 0);
		balancer_fini(&b);
	}
}

static void test_hash(void **state)
{
	static const struct weight_set four = { "four", 4, { 1, 1, 1, 1 } };
	static struct relay_conf r;
	struct addr *clients = random_clients(N_CLIENTS);
	uint32_t count[4] = { 0 }, rr = 7, i;
	struct balancer b, b2;

	fill_conf(&r, &four, BALANCE_HASH);
	assert_int_equal(balancer_init(&b, &r), 0);
	assert_int_equal(balancer_init(&b2, &r), 0);
	for (i = 0; i < N_CLIENTS; i++) {
		uint32_t u = balancer_pick(&b, &clients[i], &rr);

		assert_true(u < 4);
		count[u]++;
		/* deterministic: again, and from another balancer built from the same config */
		assert_int_equal(balancer_pick(&b, &clients[i], &rr), u);
		assert_int_equal(balancer_pick(&b2, &clients[i], &rr), u);
	}
	assert_int_equal(rr, 7); /* hash leaves the rr state alone */
	for (i = 0; i < 4; i++) {
		double expect = N_CLIENTS / 4.0;

		if (fabs(count[i] - expect) > 0.2 * expect)
			fail_msg("upstream %u got %u of %u clients", i, count[i], N_CLIENTS);
	}
	balancer_fini(&b2);
	balancer_fini(&b);
	free(clients);
}

static void test_hash_port_matters(void **state)
{
	static const struct weight_set four = { "four", 4, { 1, 1, 1, 1 } };
	static struct relay_conf r;
	struct addr c = test_addr("198.18.3.3:1000");
	uint32_t first, port, rr = 0;
	struct balancer b;
	bool moved = false;

	fill_conf(&r, &four, BALANCE_HASH);
	assert_int_equal(balancer_init(&b, &r), 0);
	first = balancer_pick(&b, &c, &rr);
	for (port = 1001; port < 1100 && !moved; port++) {
		addr_set_port(&c, port);
		moved = balancer_pick(&b, &c, &rr) != first;
	}
	assert_true(moved);
	balancer_fini(&b);
}

static void test_maglev_weights(void **state)
{
	static struct relay_conf r;
	size_t k;

	for (k = 0; k < N_SETS; k++) {
		uint32_t count[MAX_WEIGHTS] = { 0 }, total, i;
		struct balancer b;

		fill_conf(&r, &weight_sets[k], BALANCE_MAGLEV);
		total = conf_total(&r);
		assert_int_equal(balancer_init(&b, &r), 0);
		assert_non_null(b.full.maglev);
		for (i = 0; i < MAGLEV_TABLE_SIZE; i++) {
			assert_true(b.full.maglev[i] < r.n_upstreams);
			count[b.full.maglev[i]]++;
		}
		/* within 2% of the exact share, plus one entry for rounding */
		for (i = 0; i < r.n_upstreams; i++) {
			double expect = (double)MAGLEV_TABLE_SIZE * r.upstreams[i].weight / total;

			if (fabs(count[i] - expect) > 0.02 * expect + 1)
				fail_msg("%s: upstream %u has %u entries, expected %.1f",
					 weight_sets[k].name, i, count[i], expect);
		}
		balancer_fini(&b);
	}
}

/* Maglev's point: removing one upstream of five moves the removed one's keys, and few of the
 * keys that were on the survivors: at most 7 of about 8,000, as ringrelay.conf(5) says (the
 * clients are the same every run). Upstreams are compared by address because indices
 * shift. */
static void test_maglev_removal(void **state)
{
	static const struct weight_set five = { "five", 5, { 1, 1, 1, 1, 1 } };
	static struct relay_conf r5, r4;
	struct addr *clients = random_clients(N_CLIENTS);
	uint32_t gone, i, rr = 0;

	for (gone = 0; gone < 5; gone++) {
		uint32_t kept = 0, moved = 0;
		struct balancer b5, b4;

		fill_conf(&r5, &five, BALANCE_MAGLEV);
		r4 = r5;
		memmove(&r4.upstreams[gone], &r4.upstreams[gone + 1],
			(4 - gone) * sizeof(r4.upstreams[0]));
		r4.n_upstreams = 4;
		assert_int_equal(balancer_init(&b5, &r5), 0);
		assert_int_equal(balancer_init(&b4, &r4), 0);
		for (i = 0; i < N_CLIENTS; i++) {
			const struct addr *a5 = &r5.upstreams[balancer_pick(&b5, &clients[i], &rr)].addr;
			const struct addr *a4 = &r4.upstreams[balancer_pick(&b4, &clients[i], &rr)].addr;

			if (addr_equal(a5, &r5.upstreams[gone].addr))
				continue;
			kept++;
			moved += !addr_equal(a5, a4);
		}
		print_message("maglev: removing upstream %u of 5 moved %u of %u surviving keys\n",
			      gone, moved, kept);
		assert_true(kept > N_CLIENTS / 2);
		assert_in_range(moved, 0, 7);
		balancer_fini(&b4);
		balancer_fini(&b5);
	}
	free(clients);
}

/* hash with members out: their clients spread over the eligible ones by weight, whatever
 * the two schedules' lengths share (4 x weight 1, members 1 and 3 out: every displaced client
 * went to member 2), and the others stay put. */
static void test_hash_fallback_spread(void **state)
{
	static const struct weight_set four = { "four", 4, { 1, 1, 1, 1 } };
	static struct relay_conf r;
	struct balance_member m[4];
	struct addr *clients = random_clients(N_CLIENTS);
	uint32_t i, got[4] = { 0 }, displaced = 0, rr = 0;
	struct balancer all, some;

	(void)state;
	fill_conf(&r, &four, BALANCE_HASH);
	for (i = 0; i < 4; i++) {
		m[i].addr = r.upstreams[i].addr;
		m[i].weight = 1;
	}
	assert_int_equal(balancer_build(&all, BALANCE_HASH, m, 4, BALANCE_ALL), 0);
	assert_int_equal(balancer_build(&some, BALANCE_HASH, m, 4, (1u << 0) | (1u << 2)), 0);
	for (i = 0; i < N_CLIENTS; i++) {
		uint32_t first = balancer_pick(&all, &clients[i], &rr);
		uint32_t now = balancer_pick(&some, &clients[i], &rr);

		assert_true(now == 0 || now == 2);
		if (first == 0 || first == 2) {
			assert_int_equal(now, first);
			continue;
		}
		displaced++;
		got[now]++;
	}
	print_message("hash, 1 and 3 of 4 out: %u displaced clients went %u to 0, %u to 2\n",
		      displaced, got[0], got[2]);
	assert_true(displaced > N_CLIENTS / 3);
	assert_true(got[0] * 10 > displaced * 4 && got[2] * 10 > displaced * 4);
	balancer_fini(&all);
	balancer_fini(&some);
	free(clients);
}

static void test_one_upstream(void **state)
{
	static const enum balance_mode modes[] = { BALANCE_RR, BALANCE_HASH, BALANCE_MAGLEV };
	static struct relay_conf r;
	struct addr *clients = random_clients(1000);
	size_t m;
	uint32_t i;

	for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct balancer b;
		uint32_t rr = 0;

		fill_conf(&r, &weight_sets[0], modes[m]);
		r.upstreams[0].weight = 7;
		assert_int_equal(balancer_init(&b, &r), 0);
		for (i = 0; i < 1000; i++)
			assert_int_equal(balancer_pick(&b, &clients[i], &rr), 0);
		balancer_fini(&b);
	}
	free(clients);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_rr),
		cmocka_unit_test(test_rr_3_1),
		cmocka_unit_test(test_rr_start),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_hash_port_matters),
		cmocka_unit_test(test_maglev_weights),
		cmocka_unit_test(test_maglev_removal),
		cmocka_unit_test(test_one_upstream),
		cmocka_unit_test(test_hash_fallback_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
