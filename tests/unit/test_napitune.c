// SPDX-License-Identifier: MIT
/* napitune: the busy-poll part of the napi log line, for each backend and worker result. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

#include "napitune.h"

static void test_busy_text(void **state)
{
	struct napi_conf n = { .busy_poll_us = 50, .prefer_busy_poll = true,
			       .busy_poll_budget = 64 };
	char buf[128];

	(void)state;
	napitune_busy_text(&n, IO_BACKEND_IO_URING, 1, buf, sizeof(buf));
	assert_string_equal(buf, "busy poll 50 us prefer (io_uring)");
	napitune_busy_text(&n, IO_BACKEND_MMSG, 1, buf, sizeof(buf));
	assert_string_equal(buf, "busy poll 50 us prefer budget 64 (mmsg)");
	n.prefer_busy_poll = false;
	n.busy_poll_budget = 8;
	napitune_busy_text(&n, IO_BACKEND_MMSG, 1, buf, sizeof(buf));
	assert_string_equal(buf, "busy poll 50 us budget 8 (mmsg)");
	napitune_busy_text(&n, IO_BACKEND_IO_URING, -EINVAL, buf, sizeof(buf));
	assert_string_equal(buf, "busy poll refused by the kernel (io_uring)");
	/* off in the config, or no worker said otherwise */
	napitune_busy_text(&n, IO_BACKEND_MMSG, 0, buf, sizeof(buf));
	assert_string_equal(buf, "busy poll off");
	n.busy_poll_us = 0;
	napitune_busy_text(&n, IO_BACKEND_IO_URING, 1, buf, sizeof(buf));
	assert_string_equal(buf, "busy poll off");
	/* a short buffer is cut, never overrun */
	n.busy_poll_us = 50;
	napitune_busy_text(&n, IO_BACKEND_IO_URING, 1, buf, 10);
	assert_string_equal(buf, "busy poll");
}

/* Restoring leaves a thread alone that is not a NAPI thread (a remembered pid reused by
 * another process), and empties the list. */
static void test_restore_guard(void **state)
{
	struct napitune_threads th = { .n = 1 };
	int nice;

	(void)state;
	errno = 0;
	nice = getpriority(PRIO_PROCESS, 0);
	assert_int_equal(errno, 0);
	th.t[0].pid = gettid();
	th.t[0].before = nice > -20 ? nice - 1 : nice + 1;
	th.t[0].set = nice;
	napitune_restore(&th);
	assert_int_equal(th.n, 0);
	assert_int_equal(getpriority(PRIO_PROCESS, 0), nice);
}

static void test_any_instance(void **state)
{
	struct napitune_report r = { .n = 2 };

	(void)state;
	assert_false(napitune_any_instance(&r));
	r.ifaces[1].instances = 1;
	assert_true(napitune_any_instance(&r));
	r.n = 1;
	assert_false(napitune_any_instance(&r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_busy_text),
	    cmocka_unit_test(test_any_instance),
	    cmocka_unit_test(test_restore_guard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
