// SPDX-License-Identifier: MIT
/* stage: attaching a stage in rounds over fake relays and interfaces. A relay whose attach
 * fails on one of its interfaces ends with the stage on none of them, whether they were
 * attached before the failure or come after it, while an interface another relay still wants
 * keeps it; the rounds end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "stage.h"

#define RELAYS 3
#define IFACES 8 /* ifindexes 1..7 */

struct fake {
	int ifaces[RELAYS][4]; /* each relay's ifindexes, 0-terminated */
	bool on[RELAYS];
	char why[RELAYS][64];
	bool refuses[IFACES]; /* an attach there fails */
	bool attached[IFACES];
	int want[IFACES];
	uint32_t n_want, rounds, attaches;
};

static uint32_t fake_wants(void *arg)
{
	struct fake *f = arg;
	uint32_t r, j, k;

	f->n_want = 0;
	f->rounds++;
	for (r = 0; r < RELAYS; r++) {
		for (j = 0; f->on[r] && f->ifaces[r][j]; j++) {
			for (k = 0; k < f->n_want && f->want[k] != f->ifaces[r][j]; k++)
				;
			if (k == f->n_want)
				f->want[f->n_want++] = f->ifaces[r][j];
		}
	}
	return f->n_want;
}

static void fake_prune(void *arg)
{
	struct fake *f = arg;
	uint32_t i, k;

	for (i = 0; i < IFACES; i++) {
		for (k = 0; k < f->n_want && f->want[k] != (int)i; k++)
			;
		if (k == f->n_want)
			f->attached[i] = false;
	}
}

static int fake_attach(void *arg, uint32_t k, char *err, size_t errlen)
{
	struct fake *f = arg;

	f->attaches++;
	if (f->refuses[f->want[k]]) {
		snprintf(err, errlen, "refused on %d", f->want[k]);
		return -1;
	}
	f->attached[f->want[k]] = true;
	return 0;
}

static void fake_fail(void *arg, uint32_t k, const char *err)
{
	struct fake *f = arg;
	uint32_t r, j;

	for (r = 0; r < RELAYS; r++) {
		for (j = 0; f->on[r] && f->ifaces[r][j]; j++) {
			if (f->ifaces[r][j] != f->want[k])
				continue;
			f->on[r] = false;
			snprintf(f->why[r], sizeof(f->why[r]), "%s", err);
		}
	}
}

static const struct stage_ops ops = {
	.wants = fake_wants, .prune = fake_prune, .attach = fake_attach, .fail = fake_fail,
};

/* Relay 0 on 1, 2, 3; relay 1 on 3, 4; relay 2 on 5, 6. 6 was attached before (relay 2 there
 * already). */
static void setup(struct fake *f)
{
	static const int ifaces[RELAYS][4] = { { 1, 2, 3 }, { 3, 4, 0 }, { 5, 6, 0 } };

	memset(f, 0, sizeof(*f));
	memcpy(f->ifaces, ifaces, sizeof(ifaces));
	f->on[0] = f->on[1] = f->on[2] = true;
	f->attached[6] = true;
}

static void test_all_attach(void **state)
{
	struct fake f;
	int i;

	(void)state;
	setup(&f);
	stage_attach(&ops, &f);
	assert_int_equal(f.rounds, 1);
	for (i = 1; i <= 6; i++)
		assert_true(f.attached[i]);
	assert_false(f.attached[7]);
}

/* 2 refuses: relay 0 goes off; 1 (attached before the failure) goes, 3 stays for relay 1. */
static void test_fail_takes_the_relay_off_everywhere(void **state)
{
	struct fake f;

	(void)state;
	setup(&f);
	f.refuses[2] = true;
	stage_attach(&ops, &f);
	assert_false(f.on[0]);
	assert_string_equal(f.why[0], "refused on 2");
	assert_true(f.on[1] && f.on[2]);
	assert_false(f.attached[1]);
	assert_false(f.attached[2]);
	assert_true(f.attached[3] && f.attached[4] && f.attached[5] && f.attached[6]);
	assert_int_equal(f.rounds, 2);
}

/* 3 refuses: relays 0 and 1 go off, and so does everything they needed; then 6 refuses at
 * the next round (a relay that was on there before): nothing is left, and the rounds end. */
static void test_fail_shared_and_again(void **state)
{
	struct fake f;
	int i;

	(void)state;
	setup(&f);
	f.refuses[3] = true;
	f.refuses[6] = true;
	stage_attach(&ops, &f);
	assert_false(f.on[0] || f.on[1] || f.on[2]);
	for (i = 0; i < IFACES; i++)
		assert_false(f.attached[i]);
	assert_int_equal(f.rounds, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_attach),
		cmocka_unit_test(test_fail_takes_the_relay_off_everywhere),
		cmocka_unit_test(test_fail_shared_and_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
