// SPDX-License-Identifier: MIT
/* slots: the reload rules for relay slots (a relay keeps its slot by name; a new one takes a
 * slot nobody uses or drains) and for session regions of the fixed-file table (fresh space
 * first, then a drained slot's region). The restart-only settings a reload keeps are
 * test_config's (config_keep_restart). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

/* A config with relays named by the words of names ("a b c"); nothing else is read. */
static struct config *relays(const char *names)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char buf[256], *tok, *save = NULL;

	assert_non_null(cfg);
	snprintf(buf, sizeof(buf), "%s", names);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		snprintf(cfg->relays[cfg->n_relays++].name, CONFIG_NAME_LEN, "%s", tok);
	return cfg;
}

static void test_assign_start(void **state)
{
	struct config *next = relays("a b c");
	uint32_t slot[SLOTS_MAX];
	char err[256];

	assert_int_equal(slots_assign(NULL, NULL, next, NULL, slot, err, sizeof(err)), 0);
	assert_int_equal(slot[0], 0);
	assert_int_equal(slot[1], 1);
	assert_int_equal(slot[2], 2);
	free(next);
}

/* Kept relays keep their slots whatever their position; a removed relay's slot is not given
 * to a new one in the same reload (its sessions still drain there). */
static void test_assign_reload(void **state)
{
	struct config *running = relays("a b c"), *next = relays("c d a A");
	const uint32_t running_slot[] = { 4, 0, 7 };
	uint32_t slot[SLOTS_MAX];
	char err[256];

	assert_int_equal(slots_assign(running, running_slot, next, NULL, slot, err, sizeof(err)),
			 0);
	assert_int_equal(slot[0], 7); /* c */
	assert_int_equal(slot[1], 1); /* d: 0 is b's */
	assert_int_equal(slot[2], 4); /* a */
	assert_int_equal(slot[3], 2); /* A is another name */
	free(running);
	free(next);
}

/* Slots that a worker still drains (removed by an earlier reload) are skipped until free. */
static void test_assign_busy(void **state)
{
	struct config *running = relays("a"), *next = relays("a x y");
	const uint32_t running_slot[] = { 1 };
	bool busy[SLOTS_MAX] = { [0] = true, [2] = true };
	uint32_t slot[SLOTS_MAX];
	char err[256];

	assert_int_equal(slots_assign(running, running_slot, next, busy, slot, err, sizeof(err)),
			 0);
	assert_int_equal(slot[0], 1);
	assert_int_equal(slot[1], 3);
	assert_int_equal(slot[2], 4);
	free(running);
	free(next);
}

static void test_assign_full(void **state)
{
	struct config *running = relays("a"), *next = relays("a b");
	const uint32_t running_slot[] = { 0 };
	bool busy[SLOTS_MAX];
	uint32_t slot[SLOTS_MAX];
	char err[256];

	memset(busy, 1, sizeof(busy));
	assert_int_equal(slots_assign(running, running_slot, next, busy, slot, err, sizeof(err)),
			 -EBUSY);
	assert_string_equal(err, "relay b: no free relay slot while removed relays drain; retry "
				 "after their sessions end");
	/* a reload without new relays needs no free slot */
	next->n_relays = 1;
	assert_int_equal(slots_assign(running, running_slot, next, busy, slot, err, sizeof(err)),
			 0);
	assert_int_equal(slot[0], 0);
	free(running);
	free(next);
}

/* Fresh space is cut in order, to the last slot exactly. */
static void test_regions_fresh(void **state)
{
	bool unused[SLOTS_MAX] = { false };
	struct slots_regions g;

	slots_regions_init(&g, 1280, 1380);
	assert_int_equal(slots_take_region(&g, 3, 40, unused), 0);
	assert_int_equal(g.base[3], 1280);
	assert_int_equal(g.size[3], 40);
	assert_int_equal(slots_take_region(&g, 0, 60, unused), 0);
	assert_int_equal(g.base[0], 1320);
	assert_int_equal(g.size[0], 60);
	assert_int_equal(g.next, 1380);
	assert_int_equal(slots_take_region(&g, 1, 1, unused), -ENOSPC);
	assert_int_equal(g.size[1], 0);
}

/* Once fresh space is gone, a new relay takes over the region of a slot whose relay is gone
 * (large enough, never its own, never one in use), and that slot loses it. */
static void test_regions_reuse(void **state)
{
	bool unused[SLOTS_MAX] = { false };
	struct slots_regions g;

	slots_regions_init(&g, 100, 200);
	assert_int_equal(slots_take_region(&g, 0, 30, unused), 0); /* 100..130 */
	assert_int_equal(slots_take_region(&g, 1, 50, unused), 0); /* 130..180 */
	assert_int_equal(slots_take_region(&g, 2, 20, unused), 0); /* 180..200 */
	/* all taken, none unused */
	assert_int_equal(slots_take_region(&g, 5, 10, unused), -ENOSPC);
	/* slot 0's relay is gone, but its region is too small for 40 */
	unused[0] = true;
	assert_int_equal(slots_take_region(&g, 5, 40, unused), -ENOSPC);
	/* slot 1's relay is gone too: 50 >= 40 */
	unused[1] = true;
	assert_int_equal(slots_take_region(&g, 5, 40, unused), 0);
	assert_int_equal(g.base[5], 130);
	assert_int_equal(g.size[5], 50);
	assert_int_equal(g.size[1], 0);
	/* a slot does not take its own region back through this path */
	unused[5] = true;
	assert_int_equal(slots_take_region(&g, 5, 45, unused), -ENOSPC);
	/* slot 0's region (30) fits a smaller relay */
	assert_int_equal(slots_take_region(&g, 6, 25, unused), 0);
	assert_int_equal(g.base[6], 100);
	assert_int_equal(g.size[0], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assign_start),  cmocka_unit_test(test_assign_reload),
		cmocka_unit_test(test_assign_busy),   cmocka_unit_test(test_assign_full),
		cmocka_unit_test(test_regions_fresh), cmocka_unit_test(test_regions_reuse),
	};
	return cmocka_run_group_tests_name("slots", tests, NULL, NULL);
}
