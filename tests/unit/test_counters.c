// SPDX-License-Identifier: MIT
/* relay_counters_add: every field lands in its own field, sums accumulate (and wrap like
 * uint64_t), and the padding after the fields is neither read nor written. */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "counters.h"

#define FIELD(f) { #f, offsetof(struct relay_counters, f) }
#define DIR_FIELD(d, f) { #d "." #f, offsetof(struct relay_counters, dir[d].f) }
#define DROP(d, r) { #d ".drops[" #r "]", offsetof(struct relay_counters, dir[d].drops[r]) }
#define SERR(d, e) { #d ".send_errs[" #e "]", offsetof(struct relay_counters, dir[d].send_errs[e]) }
#define DIR_FIELDS(d)                                                                        \
	SERR(d, SEND_ERR_ENOBUFS), SERR(d, SEND_ERR_EAGAIN), SERR(d, SEND_ERR_EPERM),         \
		SERR(d, SEND_ERR_EMSGSIZE), SERR(d, SEND_ERR_OTHER), SERR(d, SEND_ERR_NONE),   \
		DIR_FIELD(d, rx_pkts), DIR_FIELD(d, rx_bytes), DIR_FIELD(d, tx_pkts),                \
		DIR_FIELD(d, tx_bytes), DIR_FIELD(d, extra_copies), DROP(d, DROP_TRUNCATED),   \
		DROP(d, DROP_SESSION_FULL), DROP(d, DROP_SEND_ERROR),                          \
		DROP(d, DROP_UNREACHABLE), DROP(d, DROP_SOCKET_OVERFLOW),                      \
		DROP(d, DROP_SOCKET_ERROR), DROP(d, DROP_SESSION_CLOSED),                      \
		DROP(d, DROP_SOURCE_LIMIT), DROP(d, DROP_MIRROR_REPLY),                        \
		DROP(d, DROP_SHED_FULL_SOCKET), DROP(d, DROP_SHED_HEAVY_FLOW)

/* Every counter, named, so a mix-up says which. */
static const struct {
	const char *name;
	size_t off;
} fields[] = {
	DIR_FIELDS(RELAY_DIR_TO_UPSTREAM),
	DIR_FIELDS(RELAY_DIR_TO_CLIENT),
	FIELD(upstream_unreachable_notices),
	FIELD(buffer_ring_empty),
	FIELD(sessions_created),
	FIELD(sessions_expired),
	FIELD(sessions_evicted),
	FIELD(fast_rerouted),
	FIELD(fast_route_left),
	FIELD(fast_epoch_derived),
	FIELD(fast_epoch_tried),
	FIELD(fast_epoch_skipped),
	FIELD(sessions_moved),
	FIELD(sessions_active),
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))
_Static_assert(N_FIELDS == RELAY_DIR__MAX * (5 + DROP__MAX + SEND_ERR__MAX) + 12,
	       "the table above lists every counter");

static void set(struct relay_counters *c, size_t off, uint64_t v)
{
	memcpy((char *)c + off, &v, sizeof(v));
}

/* One field at a time: only that field of the sum moves. */
static void test_each_field_alone(void **state)
{
	struct relay_counters sum, c;
	size_t i, k;

	for (i = 0; i < N_FIELDS; i++) {
		memset(&sum, 0, sizeof(sum));
		memset(&c, 0, sizeof(c));
		set(&c, fields[i].off, 7 + i);
		relay_counters_add(&sum, &c);
		for (k = 0; k < N_FIELDS; k++)
			if (relay_counters_at(&sum, fields[k].off) != (k == i ? 7 + i : 0))
				fail_msg("adding %s changed %s", fields[i].name, fields[k].name);
	}
}

/* Sums of (start, add) -> want, the same for every field. */
static void test_accumulates(void **state)
{
	static const struct {
		uint64_t start, add, want;
	} cases[] = {
		{ 0, 0, 0 },
		{ 0, 1, 1 },
		{ 40, 2, 42 },
		{ 1ull << 40, 1ull << 40, 1ull << 41 },
		{ UINT64_MAX, 1, 0 }, /* counters wrap; Prometheus copes with resets */
		{ UINT64_MAX - 5, 5, UINT64_MAX },
	};
	struct relay_counters sum, c;
	size_t i, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&sum, 0, sizeof(sum));
		memset(&c, 0, sizeof(c));
		for (k = 0; k < N_FIELDS; k++) {
			set(&sum, fields[k].off, cases[i].start);
			set(&c, fields[k].off, cases[i].add);
		}
		relay_counters_add(&sum, &c);
		relay_counters_add(&sum, &(struct relay_counters){ 0 });
		for (k = 0; k < N_FIELDS; k++)
			if (relay_counters_at(&sum, fields[k].off) != cases[i].want)
				fail_msg("case %zu: %s = %" PRIu64, i, fields[k].name,
					 relay_counters_at(&sum, fields[k].off));
		/* c is only read */
		for (k = 0; k < N_FIELDS; k++)
			assert_int_equal(relay_counters_at(&c, fields[k].off), cases[i].add);
	}
}

/* The cache-line padding after the last field is not a counter: garbage there must neither
 * reach the sum nor be overwritten in it. */
static void test_padding_untouched(void **state)
{
	size_t end = offsetof(struct relay_counters, sessions_active) + sizeof(uint64_t), k;
	struct relay_counters sum, c;
	unsigned char *p = (unsigned char *)&sum;

	/* none when the fields fill whole cache lines (they do with 8 drop reasons) */
	assert_true(end <= sizeof(sum));
	memset(&sum, 0xaa, sizeof(sum));
	memset(&c, 0x55, sizeof(c));
	for (k = 0; k < N_FIELDS; k++) {
		set(&sum, fields[k].off, 0);
		set(&c, fields[k].off, 1);
	}
	relay_counters_add(&sum, &c);
	for (k = end; k < sizeof(sum); k++)
		assert_int_equal(p[k], 0xaa);
	for (k = 0; k < N_FIELDS; k++)
		assert_int_equal(relay_counters_at(&sum, fields[k].off), 1);
}

/* relay_dir_drops sums one direction's drops and nothing else. */
static void test_dir_drops(void **state)
{
	struct relay_counters c;
	int d;

	memset(&c, 0, sizeof(c));
	for (d = 0; d < DROP__MAX; d++) {
		c.dir[RELAY_DIR_TO_UPSTREAM].drops[d] = 1ull << d;
		c.dir[RELAY_DIR_TO_CLIENT].drops[d] = 1000;
	}
	c.dir[RELAY_DIR_TO_UPSTREAM].rx_pkts = 5;
	c.dir[RELAY_DIR_TO_UPSTREAM].extra_copies = 6;
	assert_int_equal(relay_dir_drops(&c.dir[RELAY_DIR_TO_UPSTREAM]), (1ull << DROP__MAX) - 1);
	assert_int_equal(relay_dir_drops(&c.dir[RELAY_DIR_TO_CLIENT]), 1000ull * DROP__MAX);
}

/* A fast path adds one direction's share: only that direction moves. */
static void test_dir_add(void **state)
{
	struct relay_counters sum;
	struct relay_dir_counters part = { .rx_pkts = 3, .tx_pkts = 2, .tx_bytes = 200 };

	memset(&sum, 0, sizeof(sum));
	part.drops[DROP_SEND_ERROR] = 1;
	relay_dir_counters_add(&sum.dir[RELAY_DIR_TO_CLIENT], &part);
	relay_dir_counters_add(&sum.dir[RELAY_DIR_TO_CLIENT], &part);
	assert_int_equal(sum.dir[RELAY_DIR_TO_CLIENT].rx_pkts, 6);
	assert_int_equal(sum.dir[RELAY_DIR_TO_CLIENT].tx_pkts, 4);
	assert_int_equal(sum.dir[RELAY_DIR_TO_CLIENT].tx_bytes, 400);
	assert_int_equal(sum.dir[RELAY_DIR_TO_CLIENT].drops[DROP_SEND_ERROR], 2);
	/* the identity of the direction holds for the sum as for each part */
	assert_int_equal(sum.dir[RELAY_DIR_TO_CLIENT].rx_pkts,
			 sum.dir[RELAY_DIR_TO_CLIENT].tx_pkts +
				 relay_dir_drops(&sum.dir[RELAY_DIR_TO_CLIENT]));
	assert_int_equal(sum.dir[RELAY_DIR_TO_UPSTREAM].rx_pkts, 0);
}

/* A worker that counts while a reader sums: it counts a datagram received before it counts it
 * sent or dropped (a fence stands for its program order), so no sum may show more out than
 * in. Reading rx first (as relay_counters_add did) lets a datagram counted in between show
 * up as sent but not received. Bounded: the writer stops at a count, the reader at a time. */
struct race {
	struct relay_counters c;
	int stop;
};

static void *race_writer(void *arg)
{
	struct race *rc = arg;
	struct relay_dir_counters *d = &rc->c.dir[RELAY_DIR_TO_UPSTREAM];
	uint64_t i;

	for (i = 0; i < 200000000ull && !__atomic_load_n(&rc->stop, __ATOMIC_RELAXED); i++) {
		counter_add(&d->rx_pkts, 1);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		if (i & 1)
			counter_add(&d->tx_pkts, 1);
		else
			counter_add(&d->drops[DROP_SEND_ERROR], 1);
	}
	return NULL;
}

static void test_read_never_shows_more_out_than_in(void **state)
{
	struct race rc;
	struct timespec t0, t;
	pthread_t th;
	uint64_t reads = 0, bad = 0;

	memset(&rc, 0, sizeof(rc));
	assert_int_equal(pthread_create(&th, NULL, race_writer, &rc), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct relay_counters sum;
		const struct relay_dir_counters *d = &sum.dir[RELAY_DIR_TO_UPSTREAM];

		memset(&sum, 0, sizeof(sum));
		relay_counters_add(&sum, &rc.c);
		if (d->tx_pkts + relay_dir_drops(d) > d->rx_pkts + d->extra_copies)
			bad++;
		reads++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000ll + (t.tv_nsec - t0.tv_nsec) < 300000000ll);
	__atomic_store_n(&rc.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	if (bad)
		fail_msg("%" PRIu64 " of %" PRIu64 " reads showed tx + drops > rx", bad, reads);
}

/* A failed send counts a send_error drop and its errno's share: they add up. */
static void test_send_error_classes(void **state)
{
	static const struct {
		int err;
		enum send_err want;
		const char *name;
	} cases[] = {
		{ ENOBUFS, SEND_ERR_ENOBUFS, "ENOBUFS" },   { EAGAIN, SEND_ERR_EAGAIN, "EAGAIN" },
		{ EWOULDBLOCK, SEND_ERR_EAGAIN, "EAGAIN" }, { EPERM, SEND_ERR_EPERM, "EPERM" },
		{ EMSGSIZE, SEND_ERR_EMSGSIZE, "EMSGSIZE" }, { EBADF, SEND_ERR_OTHER, "other" },
		{ EINVAL, SEND_ERR_OTHER, "other" },	    { 0, SEND_ERR_NONE, "none" },
	};
	struct relay_counters c;
	uint64_t sum = 0;
	size_t i;
	int e;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(send_err_class(cases[i].err), cases[i].want);
		assert_string_equal(send_err_name(cases[i].want), cases[i].name);
		relay_count_send_error(&c, RELAY_DIR_TO_CLIENT, cases[i].err, i + 1);
	}
	for (e = 0; e < SEND_ERR__MAX; e++)
		sum += c.dir[RELAY_DIR_TO_CLIENT].send_errs[e];
	assert_int_equal(sum, c.dir[RELAY_DIR_TO_CLIENT].drops[DROP_SEND_ERROR]);
	assert_int_equal(c.dir[RELAY_DIR_TO_CLIENT].send_errs[SEND_ERR_OTHER], 6 + 7);
	assert_int_equal(c.dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_SEND_ERROR], 0);
	assert_string_equal(send_err_name(SEND_ERR__MAX), "unknown");
}

static void test_dir_names(void **state)
{
	assert_string_equal(relay_dir_name(RELAY_DIR_TO_UPSTREAM), "to_upstream");
	assert_string_equal(relay_dir_name(RELAY_DIR_TO_CLIENT), "to_client");
	assert_string_equal(relay_dir_name(RELAY_DIR__MAX), "unknown");
}

static void test_drop_reason_names(void **state)
{
	int d, e;

	for (d = 0; d < DROP__MAX; d++) {
		assert_string_not_equal(drop_reason_name((enum drop_reason)d), "unknown");
		for (e = 0; e < d; e++)
			assert_string_not_equal(drop_reason_name((enum drop_reason)d),
						drop_reason_name((enum drop_reason)e));
	}
	assert_string_equal(drop_reason_name(DROP__MAX), "unknown");
}

/* The status line's rate: a sum that went down (a busy relay removed) gives none, not
 * (2^64 - the drop) / seconds, about 1.8e19 a second. */
static void test_rate(void **state)
{
	double rate = -1;

	assert_true(counter_rate(1500, 1000, 5.0, &rate));
	assert_true(rate == 100.0);
	assert_true(counter_rate(1000, 1000, 5.0, &rate));
	assert_true(rate == 0.0);
	rate = -1;
	assert_false(counter_rate(400, 1000, 5.0, &rate));
	assert_false(counter_rate(1500, 1000, 0.0, &rate));
	assert_false(counter_rate(1500, 1000, -1.0, &rate));
	assert_true(rate == -1);
	/* a reload applied between the readings: no rate, though the sum went up (a relay with
	 * 1 M gone, the others 1.5 M more: 0.5 M would be wrong) */
	assert_true(counter_rate_steady(1500, 1000, 3, 3, 5.0, &rate));
	assert_true(rate == 100.0);
	rate = -1;
	assert_false(counter_rate_steady(1500000, 1000000, 4, 3, 5.0, &rate));
	assert_false(counter_rate_steady(400, 1000, 3, 3, 5.0, &rate));
	assert_true(rate == -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_field_alone),
		cmocka_unit_test(test_accumulates),
		cmocka_unit_test(test_padding_untouched),
		cmocka_unit_test(test_drop_reason_names),
		cmocka_unit_test(test_dir_drops),
		cmocka_unit_test(test_dir_add),
		cmocka_unit_test(test_dir_names),
		cmocka_unit_test(test_send_error_classes),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_read_never_shows_more_out_than_in),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
