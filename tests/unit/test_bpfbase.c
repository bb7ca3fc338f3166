// SPDX-License-Identifier: MIT
/* bpfbase: what unloaded programs and gone interfaces counted is added to the counts of the
 * program in use, by counter and by interface name, so the series never go down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
	bpfbase_xmit_add(b.xmit, RR_IFACES_MAX, "eth1", 40, 400);
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

/* Counts of one name add up in one entry; a full table takes no new name (that interface
 * restarts, the others keep theirs); zero counts take no entry; "" is no name. */
static void test_xmit_table(void **state)
{
	struct bpfbase_xmit t[3];
	struct bpfbase_xmit *x;

	memset(t, 0, sizeof(t));
	bpfbase_xmit_add(t, 3, "eth1", 1, 2);
	bpfbase_xmit_add(t, 3, "eth1", 10, 20);
	bpfbase_xmit_add(t, 3, "eth0", 0, 0);
	assert_null(bpfbase_xmit_of(t, 3, "eth0", false));
	bpfbase_xmit_add(t, 3, "eth2", 1, 0);
	bpfbase_xmit_add(t, 3, "a-very-long-nam", 0, 1);
	bpfbase_xmit_add(t, 3, "eth3", 5, 5); /* full */
	assert_null(bpfbase_xmit_of(t, 3, "eth3", false));
	x = bpfbase_xmit_of(t, 3, "eth1", false);
	assert_non_null(x);
	assert_int_equal(x->drops, 11);
	assert_int_equal(x->sent, 22);
	x = bpfbase_xmit_of(t, 3, "a-very-long-nam", false);
	assert_non_null(x);
	assert_int_equal(x->sent, 1);
	assert_null(bpfbase_xmit_of(t, 3, "", true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_after_reload),
		cmocka_unit_test(test_xmit_table),
		cmocka_unit_test(test_filter_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
