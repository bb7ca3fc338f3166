// SPDX-License-Identifier: MIT
/* Upstream health (health.c) and pools (pool.c): ejection after max_fails in a row, a reply
 * ending the series, the back-off, return after the time or a good check, rise/fall of the
 * active checks, an ejection held for the last upstream up, and the pool's panic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "health.h"
#include "pool.h"

#define S 1000000000ull

static const struct health_conf conf = {
    .max_fails = 3, .fail_timeout = 10 * S, .rise = 2, .fall = 3};

static void test_ejects_after_max_fails_in_a_row(void **state)
{
	struct health h = {0};

	(void)state;
	assert_false(health_observe(&h, &conf, 2, 0, true, 1 * S));
	assert_int_equal(health_state(&h), HEALTH_UP);
	/* a reply ends the series */
	assert_false(health_observe(&h, &conf, 0, 1, true, 2 * S));
	assert_false(health_observe(&h, &conf, 2, 0, true, 3 * S));
	assert_int_equal(health_state(&h), HEALTH_UP);
	/* failures and replies in one tick: the replies win */
	assert_false(health_observe(&h, &conf, 5, 1, true, 4 * S));
	assert_int_equal(h.streak, 0);
	assert_false(health_observe(&h, &conf, 1, 0, true, 5 * S));
	assert_false(health_observe(&h, &conf, 1, 0, true, 5 * S));
	assert_true(health_observe(&h, &conf, 1, 0, true, 6 * S));
	assert_int_equal(health_state(&h), HEALTH_EJECTED);
	assert_int_equal(h.ejected_until, 16 * S);
	assert_int_equal(h.total_ejections, 1);
	/* more failures while ejected change nothing */
	assert_false(health_observe(&h, &conf, 9, 0, true, 7 * S));
	assert_false(health_expire(&h, 15 * S));
	assert_true(health_expire(&h, 16 * S));
	assert_int_equal(health_state(&h), HEALTH_UP);
}

static void test_backoff_doubles_until_a_reply(void **state)
{
	struct health h = {0};
	uint64_t now = 0, want[] = {10, 20, 40, 80, 80};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_true(health_observe(&h, &conf, 3, 0, true, now));
		assert_int_equal(h.ejected_until - now, want[i] * S);
		now = h.ejected_until;
		assert_true(health_expire(&h, now));
	}
	/* alive again: the next ejection is short */
	assert_false(health_observe(&h, &conf, 0, 4, true, now));
	assert_true(health_observe(&h, &conf, 3, 0, true, now));
	assert_int_equal(h.ejected_until - now, 10 * S);
	/* a reply from a session that was open before ends the ejection early */
	assert_true(health_observe(&h, &conf, 0, 1, true, now + S));
	assert_int_equal(health_state(&h), HEALTH_UP);
}

static void test_passive_off(void **state)
{
	struct health_conf off = conf;
	struct health h = {0};

	(void)state;
	off.max_fails = 0;
	assert_false(health_observe(&h, &off, 1000, 0, true, S));
	assert_int_equal(health_state(&h), HEALTH_UP);
}

/* An ejection the caller does not allow (the last one up) holds the series at max_fails: the
 * next failure once it is allowed ejects. */
static void test_held_ejection(void **state)
{
	struct health h = {0};

	(void)state;
	assert_false(health_observe(&h, &conf, 5, 0, false, S));
	assert_int_equal(health_state(&h), HEALTH_UP);
	assert_true(h.held);
	assert_int_equal(h.total_ejections, 0);
	assert_false(health_observe(&h, &conf, 1, 0, false, 2 * S));
	assert_true(health_observe(&h, &conf, 1, 0, true, 3 * S));
	assert_int_equal(health_state(&h), HEALTH_EJECTED);
	assert_false(h.held);
	assert_int_equal(h.ejected_until, 13 * S);
	/* a reply ends a held series */
	assert_true(health_expire(&h, 13 * S));
	assert_false(health_observe(&h, &conf, 3, 0, false, 14 * S));
	assert_false(health_observe(&h, &conf, 0, 1, false, 15 * S));
	assert_false(h.held);
	assert_int_equal(h.streak, 0);
	/* a reload that raised max_fails above a held series: no longer held, so the next
	 * hold is one again (and logged) */
	{
		struct health_conf more = conf;

		more.max_fails = 10;
		assert_false(health_observe(&h, &conf, 3, 0, false, 16 * S));
		assert_true(h.held);
		assert_false(health_observe(&h, &more, 1, 0, false, 17 * S));
		assert_false(h.held);
		assert_false(health_observe(&h, &more, 6, 0, false, 18 * S));
		assert_true(h.held);
	}
}

static void test_checks_rise_and_fall(void **state)
{
	struct health h = {0};

	(void)state;
	assert_false(health_check_result(&h, &conf, false, S));
	assert_false(health_check_result(&h, &conf, false, S));
	assert_false(health_check_result(&h, &conf, true, S)); /* ends the series */
	assert_false(health_check_result(&h, &conf, false, S));
	assert_false(health_check_result(&h, &conf, false, S));
	assert_true(health_check_result(&h, &conf, false, S));
	assert_int_equal(health_state(&h), HEALTH_DOWN);
	assert_false(health_check_result(&h, &conf, true, S));
	assert_int_equal(health_state(&h), HEALTH_DOWN);
	assert_true(health_check_result(&h, &conf, true, S));
	assert_int_equal(health_state(&h), HEALTH_UP);
	/* a good check ends a passive ejection at once */
	assert_true(health_observe(&h, &conf, 3, 0, true, 2 * S));
	assert_true(health_check_result(&h, &conf, true, 3 * S));
	assert_int_equal(health_state(&h), HEALTH_UP);
}

static void member(struct pool_member *m, const char *text, uint32_t slot)
{
	const char *why;

	memset(m, 0, sizeof(*m));
	assert_int_equal(addr_parse(text, &m->addr, &why), 0);
	m->weight = 1;
	m->slot = slot;
	m->enabled = true;
	m->state = HEALTH_UP;
	snprintf(m->label, sizeof(m->label), "%s", text);
}

static void test_pool_panic_and_drain(void **state)
{
	struct pool_member m[3];
	struct pool *p;
	uint32_t rr = 0, i, seen[3];

	(void)state;
	member(&m[0], "198.18.2.2:53", 0);
	member(&m[1], "198.18.2.3:53", 1);
	member(&m[2], "[2001:2::2]:53", 2);
	m[1].state = HEALTH_EJECTED;
	m[2].enabled = false;
	assert_int_equal(pool_new(&p, BALANCE_RR, m, 3, 1), 0);
	assert_false(p->panic);
	assert_true(p->m[0].usable);
	assert_false(p->m[1].usable);
	assert_false(p->m[2].usable);
	assert_int_equal(p->copy_mask, 0x3);
	for (i = 0; i < 10; i++)
		assert_int_equal(balancer_pick(&p->bal, NULL, &rr), 0);
	pool_free(p);

	/* the last healthy one ejected too: every enabled one is used (panic), not the drained */
	m[0].state = HEALTH_DOWN;
	assert_int_equal(pool_new(&p, BALANCE_RR, m, 3, 1), 0);
	assert_true(p->panic);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 10; i++)
		seen[balancer_pick(&p->bal, NULL, &rr)]++;
	assert_int_equal(seen[0], 5);
	assert_int_equal(seen[1], 5);
	assert_int_equal(seen[2], 0);
	pool_free(p);
	assert_int_equal(pool_find(NULL, &m[0].addr), -1);
}

/* Maglev and hash rebuilt without an ineligible member move only its clients, and spread
 * them over the others by weight (each gets at least half its share). */
static void test_rebuild_moves_only_ejected_clients(void **state)
{
	static const enum balance_mode modes[] = {BALANCE_MAGLEV, BALANCE_HASH};
	struct balance_member bm[5];
	struct balancer all, less;
	char text[64];
	const char *why;
	uint32_t i, k, rr = 0, on_ejected, got[5];
	size_t mi;

	(void)state;
	for (i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "198.18.2.%u:53", i + 2);
		assert_int_equal(addr_parse(text, &bm[i].addr, &why), 0);
		bm[i].weight = i + 1;
	}
	for (mi = 0; mi < sizeof(modes) / sizeof(modes[0]); mi++) {
		assert_int_equal(balancer_build(&all, modes[mi], bm, 5, BALANCE_ALL), 0);
		/* member 2 ejected */
		assert_int_equal(balancer_build(&less, modes[mi], bm, 5, 0x1b), 0);
		on_ejected = 0;
		memset(got, 0, sizeof(got));
		for (k = 0; k < 20000; k++) {
			struct addr c;
			uint32_t a, b;

			snprintf(text, sizeof(text), "198.18.%u.%u:%u", 1 + k / 60000, k % 250 + 1,
				 1024 + k);
			assert_int_equal(addr_parse(text, &c, &why), 0);
			a = balancer_pick(&all, &c, &rr);
			b = balancer_pick(&less, &c, &rr);
			assert_int_not_equal(b, 2);
			if (a == 2) {
				on_ejected++;
				got[b]++;
			} else {
				assert_int_equal(a, b); /* nobody else moves */
			}
		}
		/* weights 1, 2, 4 and 5 of the 12 left */
		for (i = 0; i < 5; i++)
			assert_true(i == 2 || got[i] * 12 * 2 > on_ejected * bm[i].weight);
		/* member 2 has weight 3 of 15: about a fifth of the clients */
		assert_in_range(on_ejected, 3000, 5000);
		balancer_fini(&all);
		balancer_fini(&less);
	}
}

/* Nothing eligible: every member may be picked. */
static void test_no_eligible_is_all(void **state)
{
	struct balance_member bm[2];
	struct balancer b;
	const char *why;
	uint32_t rr = 0;

	(void)state;
	assert_int_equal(addr_parse("198.18.2.2:53", &bm[0].addr, &why), 0);
	assert_int_equal(addr_parse("198.18.2.3:53", &bm[1].addr, &why), 0);
	bm[0].weight = bm[1].weight = 1;
	assert_int_equal(balancer_build(&b, BALANCE_RR, bm, 2, 0), 0);
	assert_false(b.has_alt);
	assert_int_equal(balancer_pick(&b, NULL, &rr), 0);
	assert_int_equal(balancer_pick(&b, NULL, &rr), 1);
	balancer_fini(&b);
	assert_int_equal(balancer_build(&b, BALANCE_RR, bm, 0, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ejects_after_max_fails_in_a_row),
	    cmocka_unit_test(test_backoff_doubles_until_a_reply),
	    cmocka_unit_test(test_passive_off),
	    cmocka_unit_test(test_held_ejection),
	    cmocka_unit_test(test_checks_rise_and_fall),
	    cmocka_unit_test(test_pool_panic_and_drain),
	    cmocka_unit_test(test_rebuild_moves_only_ejected_clients),
	    cmocka_unit_test(test_no_eligible_is_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
