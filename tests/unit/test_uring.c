// SPDX-License-Identifier: MIT
/* uring: the feature probe on this kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "uring.h"

static void test_probe(void **state)
{
	struct uring_caps caps;

	(void)state;
	uring_probe(&caps);
	/* Whatever the kernel offers, the probe is consistent with its own explanation. */
	if (caps.available && caps.opcodes && caps.buf_ring && caps.recvmsg_multishot)
		assert_string_equal(caps.missing, "");
	else
		assert_true(caps.missing[0] != '\0');
}

static void test_probe_inc(void **state)
{
	struct uring_caps caps;

	(void)state;
	uring_probe(&caps);
	/* Usable for datagrams needs the ring itself; a reason is given exactly when not. */
	if (caps.pbuf_inc_datagrams) {
		assert_true(caps.pbuf_inc);
		assert_string_equal(caps.pbuf_inc_why, "");
	} else if (caps.recvmsg_multishot) {
		assert_true(caps.pbuf_inc_why[0] != '\0');
	}
}

/* What the probe's second datagram (100 bytes, after a first that left too little room in
 * buffer 0) can look like, and the verdict. */
static void test_inc_verdict(void **state)
{
	static const struct {
		const char *name;
		struct uring_inc_seen seen;
		bool ok;
		const char *why; /* a word the reason must contain */
	} cases[] = {
		{ "6.18: cut short in the same buffer",
		  { .res = 62, .cqe_flags = IORING_CQE_F_BUFFER | IORING_CQE_F_MORE,
		    .first_bid = 0, .msg_flags = MSG_TRUNC, .payload = 18, .sent = 100 },
		  false, "short" },
		{ "rest below the header: EFAULT",
		  { .res = -EFAULT, .first_bid = 0, .sent = 100 }, false, "Bad address" },
		{ "whole, in the next buffer (the fix of liburing#1433)",
		  { .res = 144, .cqe_flags = 1u << IORING_CQE_BUFFER_SHIFT | IORING_CQE_F_BUFFER,
		    .first_bid = 0, .payload = 100, .sent = 100 },
		  true, NULL },
		{ "whole but in the same buffer past its end",
		  { .res = 144, .cqe_flags = IORING_CQE_F_BUFFER, .first_bid = 0, .payload = 100,
		    .sent = 100 },
		  false, "overran" },
		{ "no buffer", { .res = 0, .first_bid = 0, .sent = 100 }, false, "without" },
	};
	char why[160];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = uring_inc_datagrams_ok(&cases[i].seen, why, sizeof(why));

		if (ok != cases[i].ok)
			fail_msg("%s: got %d (%s)", cases[i].name, ok, why);
		if (cases[i].why && !strstr(why, cases[i].why))
			fail_msg("%s: reason '%s' lacks '%s'", cases[i].name, why, cases[i].why);
		if (ok)
			assert_string_equal(why, "");
	}
}

/* Refreshing receives after fixed-file removals: kernels before 6.13, or as forced. */
static void test_rsrc_refresh(void **state)
{
	static const struct {
		const char *release, *force;
		bool on, forced;
		const char *why; /* words the reason must contain */
	} cases[] = {
		{ "6.1.0-18-amd64", NULL, true, false, "older than 6.13" },
		{ "6.12.9", NULL, true, false, "6.12.9" },
		{ "5.19.0", NULL, true, false, "older" },
		{ "6.13.0", NULL, false, false, "6.13+" },
		{ "6.18.44-fc-v1272", NULL, false, false, "6.18.44" },
		{ "7.0.1", NULL, false, false, "6.13+" },
		{ "garbage", NULL, true, false, "older" },
		{ "6.18.44", "1", true, true, "forced on by RINGRELAY_RSRC_REFRESH=1" },
		{ "6.1.0", "0", false, true, "forced off" },
		{ "6.1.0", "0", false, true, "needs it" },
		{ "6.18.0", "yes", false, false, "ignored" },
		{ "6.1.0", "", true, false, "ignored" },
	};
	char why[256];
	bool forced;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool on = uring_rsrc_refresh_needed(cases[i].release, cases[i].force, &forced, why,
						    sizeof(why));

		if (on != cases[i].on || forced != cases[i].forced)
			fail_msg("%s force %s: on %d forced %d (%s)", cases[i].release,
				 cases[i].force ? cases[i].force : "unset", on, forced, why);
		if (!strstr(why, cases[i].why))
			fail_msg("%s: reason '%s' lacks '%s'", cases[i].release, why, cases[i].why);
	}
}

/* The tick's CQ check on a ring made by hand: the overflow flag counts a tick, koverflow's
 * growth (across its u32 wrap) counts dropped completions. */
static void test_cq_check(void **state)
{
	struct uring_cq_watch cw = { 0 };
	uint64_t overflowed = 0, dropped = 0;
	unsigned kflags = 0, koverflow = 0;
	struct io_uring ring;

	memset(&ring, 0, sizeof(ring));
	ring.sq.kflags = &kflags;
	ring.cq.koverflow = &koverflow;
	uring_cq_check(&ring, &cw, &overflowed, &dropped);
	assert_int_equal(overflowed, 0);
	assert_int_equal(dropped, 0);
	kflags = IORING_SQ_CQ_OVERFLOW;
	uring_cq_check(&ring, &cw, &overflowed, &dropped);
	uring_cq_check(&ring, &cw, &overflowed, &dropped);
	assert_int_equal(overflowed, 2);
	assert_int_equal(dropped, 0);
	kflags = 0;
	koverflow = 5;
	uring_cq_check(&ring, &cw, &overflowed, &dropped);
	assert_int_equal(overflowed, 2);
	assert_int_equal(dropped, 5);
	cw.dropped_last = koverflow = 0xfffffffeu; /* wraps to 3: 5 more */
	uring_cq_check(&ring, &cw, &overflowed, &dropped);
	koverflow = 3;
	uring_cq_check(&ring, &cw, &overflowed, &dropped);
	assert_int_equal(dropped, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_probe_inc),
		cmocka_unit_test(test_inc_verdict),
		cmocka_unit_test(test_rsrc_refresh),
		cmocka_unit_test(test_cq_check),
	};
	return cmocka_run_group_tests_name("uring", tests, NULL, NULL);
}
