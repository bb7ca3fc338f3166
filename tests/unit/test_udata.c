// SPDX-License-Identifier: MIT
/* udata: what an operation carries (io_uring user_data, epoll data) round-trips at the field
 * limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "udata.h"

static void test_udata_round_trip(void **state)
{
	static const struct udata cases[] = {
		{ OP_RECV_LISTENER, 0, 0, 0, 0 },
		{ OP_RECV_SESSION, UDATA_MAX_RELAY, 0, UDATA_MAX_IDX, UDATA_GEN_MASK },
		{ OP_SEND_UPSTREAM, 3, 65535, 0, 0 },
		{ OP_SEND_CLIENT, 200, 32767, 12345, 17 },
		{ OP_TIMER, 0, 0, 0, 0 },
		{ OP_STOP, 0, 0, 0, 0 },
		{ OP_SLOT_EMPTIED, 1, 0, 4194303, 4095 },
		{ OP_IGNORE, 0, 0, 0, 0 },
		{ OP_CANCEL_LISTENER, 0, 32767, 3, 1 },
		{ OP_CANCEL_MIRROR, UDATA_MAX_RELAY, 65535, UDATA_MAX_IDX, UDATA_GEN_MASK },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct udata u = udata_unpack(udata_pack(cases[i]));

		assert_int_equal(u.op, cases[i].op);
		assert_int_equal(u.relay, cases[i].relay);
		assert_int_equal(u.bid, cases[i].bid);
		assert_int_equal(u.idx, cases[i].idx);
		assert_int_equal(u.gen, cases[i].gen);
	}
}

static void test_udata_gen_wraps(void **state)
{
	struct udata u = { .op = OP_RECV_SESSION, .relay = 1, .idx = 2, .gen = 4096 + 5 };

	(void)state;
	/* Only the low bits of a generation travel; they must not spill into idx. */
	u = udata_unpack(udata_pack(u));
	assert_int_equal(u.gen, 5);
	assert_int_equal(u.idx, 2);
	assert_int_equal(u.relay, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udata_round_trip),
		cmocka_unit_test(test_udata_gen_wraps),
	};
	return cmocka_run_group_tests_name("udata", tests, NULL, NULL);
}
