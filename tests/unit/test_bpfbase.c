// SPDX-License-Identifier: MIT
/* bpfbase: what unloaded programs and gone interfaces counted is added to the counts of the
 * program in use, by counter and by interface name, so the series never go down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bpfbase.h"
#include "snapshot.h"

/* A program counted, was unloaded (its counts kept), and a new one starts from 0: the
 * snapshot of the new one shows the sums, and what it does not hold stays out. */
static void test_apply_after_reload(void **state)
{
	static struct bpfbase b;
	uint64_t filter[FILTER_CNT__MAX] = { 0 }, offload[OFFLOAD_CNT__MAX] = { 0 };
	struct snapshot_offload_iface ifs[2] = { { .name = "eth1" }, { .name = "eth2" } };
	struct snapshot s;
	int i;

	memset(&b, 0, sizeof(b));
	memset(&s, 0, sizeof(s));
	for (i = 0; i < FILTER_CNT__MAX; i++)
		b.filter[i] = 100 + (uint64_t)i;
	for (i = 0; i < OFFLOAD_CNT__MAX; i++)
		b.offload[i] = 7;
	b.shed[0] = 9; /* the snapshot has no shed counters: nothing to add it to */
	bpfbase_xmit_add(b.xmit, BPFBASE_XMIT_ROWS, "eth1", 40, 400);
	filter[0] = 1;
	offload[OFFLOAD_CNT__MAX - 1] = 2;
	ifs[0].xmit_drops = 3;
	ifs[1].xmit_drops = 5;
	s.filter_counters = filter;
	s.offload_counters = offload;
	s.offload_ifaces = ifs;
	s.n_offload_ifaces = 2;
	bpfbase_apply(&b, &s);
	assert_int_equal(filter[0], 101);
	assert_int_equal(filter[FILTER_CNT__MAX - 1], 100 + FILTER_CNT__MAX - 1);
	assert_int_equal(offload[0], 7);
	assert_int_equal(offload[OFFLOAD_CNT__MAX - 1], 9);
	assert_int_equal(ifs[0].xmit_drops, 43);
	assert_int_equal(ifs[0].xmit_sent, 400);
	assert_int_equal(ifs[1].xmit_drops, 5); /* no base of its name */
	assert_null(s.shed_counters);
}

/* ringrelayctl filter's counters (bpfbase_filter_add on the program's) are the snapshot's
 * (bpfbase_apply): one sum for both views. */
static void test_filter_add(void **state)
{
	static struct bpfbase b;
	uint64_t view[FILTER_CNT__MAX] = { 0 }, snap[FILTER_CNT__MAX] = { 0 };
	struct snapshot s;
	int i;

	(void)state;
	memset(&b, 0, sizeof(b));
	memset(&s, 0, sizeof(s));
	for (i = 0; i < FILTER_CNT__MAX; i++) {
		b.filter[i] = 1000 * (uint64_t)(i + 1);
		view[i] = snap[i] = (uint64_t)i;
	}
	s.filter_counters = snap;
	bpfbase_apply(&b, &s);
	bpfbase_filter_add(&b, view);
	assert_memory_equal(view, snap, sizeof(view));
	assert_int_equal(view[FILTER_CNT__MAX - 1], 1001 * FILTER_CNT__MAX - 1);
}

/* The sums of drops and sent over the n entries of t. */
static void xmit_sum(const struct bpfbase_xmit *t, uint32_t n, uint64_t *drops, uint64_t *sent)
{
	uint32_t i;

	*drops = *sent = 0;
	for (i = 0; i < n; i++) {
		*drops += t[i].drops;
		*sent += t[i].sent;
	}
}

/* Counts of one name add up in one entry; zero counts take no entry; "" is no name. A full
 * table keeps the counts of the names it has no room for in its last entry, which no link's
 * name matches: their series restart, the others' do not, and a sum over the table loses
 * nothing (review-ifrename R2: before, a full table dropped them, while the map entry they
 * came from was deleted). Added into another full table (filter_xmit_counts into the base),
 * that entry stays one entry, and again nothing is lost. */
static void test_xmit_table(void **state)
{
	struct bpfbase_xmit t[3], u[3];
	struct bpfbase_xmit *x;
	uint64_t drops, sent;
	int i, rows = 0;

	(void)state;
	memset(t, 0, sizeof(t));
	bpfbase_xmit_add(t, 3, "eth1", 1, 2);
	bpfbase_xmit_add(t, 3, "eth1", 10, 20);
	bpfbase_xmit_add(t, 3, "eth0", 0, 0);
	assert_null(bpfbase_xmit_of(t, 3, "eth0", false));
	bpfbase_xmit_add(t, 3, "a-very-long-nam", 0, 1);
	bpfbase_xmit_add(t, 3, "eth2", 1, 0); /* no room of its own */
	bpfbase_xmit_add(t, 3, "eth3", 5, 5);
	xmit_sum(t, 3, &drops, &sent);
	if (drops != 17 || sent != 28)
		fail_msg("a full table sums to %llu/%llu, not 17/28: counts of names it had no "
			 "room for were lost",
			 (unsigned long long)drops, (unsigned long long)sent);
	assert_null(bpfbase_xmit_of(t, 3, "eth2", false));
	assert_null(bpfbase_xmit_of(t, 3, "eth3", false));
	x = bpfbase_xmit_of(t, 3, "eth1", false);
	assert_non_null(x);
	assert_int_equal(x->drops, 11);
	assert_int_equal(x->sent, 22);
	x = bpfbase_xmit_of(t, 3, "a-very-long-nam", false);
	assert_non_null(x);
	assert_int_equal(x->sent, 1);
	assert_null(bpfbase_xmit_of(t, 3, "", true));

	memset(u, 0, sizeof(u));
	bpfbase_xmit_add(u, 3, "eth9", 100, 100);
	for (i = 0; i < 3; i++)
		if (t[i].name[0])
			bpfbase_xmit_add(u, 3, t[i].name, t[i].drops, t[i].sent);
	xmit_sum(u, 3, &drops, &sent);
	if (drops != 117 || sent != 128)
		fail_msg("added into another full table: %llu/%llu, not 117/128",
			 (unsigned long long)drops, (unsigned long long)sent);
	for (i = 0; i < 3; i++)
		rows += !strcmp(u[i].name, t[2].name);
	assert_int_equal(rows, 1);
}

/* Taking a name's entry adds its counts and frees it, for another name to take; a name
 * with no entry adds nothing (filter_xmit_counts rebuilds the base so: review-ifrename3 G3). */
static void test_xmit_take(void **state)
{
	struct bpfbase_xmit t[3];
	uint64_t drops = 1, sent = 2;

	(void)state;
	memset(t, 0, sizeof(t));
	bpfbase_xmit_add(t, 3, "eth0", 10, 20);
	bpfbase_xmit_add(t, 3, "eth1", 5, 5);
	assert_true(bpfbase_xmit_take(t, 3, "eth0", &drops, &sent));
	assert_int_equal(drops, 11);
	assert_int_equal(sent, 22);
	assert_null(bpfbase_xmit_of(t, 3, "eth0", false));
	assert_false(bpfbase_xmit_take(t, 3, "eth0", &drops, &sent));
	assert_false(bpfbase_xmit_take(t, 3, "", &drops, &sent));
	assert_int_equal(drops, 11);
	bpfbase_xmit_add(t, 3, "eth2", 1, 1);
	assert_non_null(bpfbase_xmit_of(t, 3, "eth2", false));
	assert_non_null(bpfbase_xmit_of(t, 3, "eth1", false));
}

/* The program holds RR_IFACES_MAX interfaces: the base keeps each of their names' counts in
 * a row of its own (their series go on across a reload), beside the other names' row. Before,
 * the table had RR_IFACES_MAX rows with that one among them: the 64th name's series dropped
 * to 0 at each reload (review-ifrename2 F3). */
static void test_xmit_live_names(void **state)
{
	static struct bpfbase b;
	static struct snapshot_offload_iface ifs[RR_IFACES_MAX];
	const uint32_t rows = sizeof(b.xmit) / sizeof(b.xmit[0]);
	struct snapshot s;
	uint32_t i;

	(void)state;
	memset(&b, 0, sizeof(b));
	memset(&s, 0, sizeof(s));
	memset(ifs, 0, sizeof(ifs));
	for (i = 0; i < RR_IFACES_MAX; i++) {
		snprintf(ifs[i].name, sizeof(ifs[i].name), "eth%u", i);
		bpfbase_xmit_add(b.xmit, rows, ifs[i].name, i + 1, 1);
	}
	s.offload_ifaces = ifs;
	s.n_offload_ifaces = RR_IFACES_MAX;
	bpfbase_apply(&b, &s);
	for (i = 0; i < RR_IFACES_MAX; i++)
		if (ifs[i].xmit_drops != i + 1 || ifs[i].xmit_sent != 1)
			fail_msg("%s's series after a reload: %llu/%llu, not %u/1 (a base of %u "
				 "rows)",
				 ifs[i].name, (unsigned long long)ifs[i].xmit_drops,
				 (unsigned long long)ifs[i].xmit_sent, i + 1, rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_after_reload),
		cmocka_unit_test(test_xmit_table),
		cmocka_unit_test(test_filter_add),
		cmocka_unit_test(test_xmit_live_names),
		cmocka_unit_test(test_xmit_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
