// SPDX-License-Identifier: MIT
/* relay_counters_add: every field lands in its own field, sums accumulate (and wrap like
 * uint64_t), and the padding after the fields is neither read nor written. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "counters.h"

#define FIELD(f) { #f, offsetof(struct relay_counters, f) }
#define DROP(d) { "drops[" #d "]", offsetof(struct relay_counters, drops[d]) }

/* Every counter, named, so a mix-up says which. */
static const struct {
	const char *name;
	size_t off;
} fields[] = {
	FIELD(rx_pkts),
	FIELD(rx_bytes),
	FIELD(tx_pkts),
	FIELD(tx_bytes),
	FIELD(reply_rx_pkts),
	FIELD(reply_rx_bytes),
	FIELD(reply_tx_pkts),
	FIELD(reply_tx_bytes),
	DROP(DROP_TRUNCATED),
	DROP(DROP_SESSION_FULL),
	DROP(DROP_NO_BUFFER),
	DROP(DROP_SEND_ERROR),
	DROP(DROP_UNREACHABLE),
	DROP(DROP_SOCKET_OVERFLOW),
	DROP(DROP_SOCKET_ERROR),
	DROP(DROP_SOURCE_LIMIT),
	FIELD(sessions_created),
	FIELD(sessions_expired),
	FIELD(sessions_evicted),
	FIELD(sessions_active),
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))
_Static_assert(N_FIELDS == 12 + DROP__MAX, "the table above lists every counter");

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

	assert_true(end < sizeof(sum)); /* there is padding to check */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_field_alone),
		cmocka_unit_test(test_accumulates),
		cmocka_unit_test(test_padding_untouched),
		cmocka_unit_test(test_drop_reason_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
