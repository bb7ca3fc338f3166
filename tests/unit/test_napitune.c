// SPDX-License-Identifier: MIT
/* napitune: the busy-poll part of the napi log line, for each backend and worker result;
 * restoring; the NAPI threads' nice value under a flood (napi.flood_nice). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
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

static struct napitune_saved saved; /* 80 KiB */

/* saved notes only this thread, at its nice value now (returned), with before as given
 * relative to it. */
static int note_own_thread(int before_delta)
{
	int nice;

	memset(&saved, 0, sizeof(saved));
	errno = 0;
	nice = getpriority(PRIO_PROCESS, 0);
	assert_int_equal(errno, 0);
	saved.n_nice = 1;
	saved.nice[0].pid = gettid();
	saved.nice[0].before = nice + before_delta;
	saved.nice[0].set = nice;
	return nice;
}

/* Restoring leaves a thread alone that is not a NAPI thread (a remembered pid reused by
 * another process), and empties the list. */
static void test_restore_guard(void **state)
{
	int nice;

	(void)state;
	nice = note_own_thread(getpriority(PRIO_PROCESS, 0) > -20 ? -1 : 1);
	assert_true(napitune_any_saved(&saved));
	napitune_restore(&saved);
	assert_int_equal(saved.n_nice, 0);
	assert_int_equal(getpriority(PRIO_PROCESS, 0), nice);
	assert_false(napitune_any_saved(&saved));
}

/* An interface that is gone is forgotten with its instances and threads: nothing is put
 * back (no NAPI_SET, no CPUs for a thread pinned to one, no file written), and its files are
 * closed. */
static void test_restore_gone(void **state)
{
	cpu_set_t cpus, now;
	int p[2];

	(void)state;
	memset(&saved, 0, sizeof(saved));
	assert_int_equal(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
	assert_int_equal(pipe(p), 0);
	saved.n_devs = 1;
	saved.devs[0] = (struct napitune_dev){ .name = "rrgone0", .ifindex = 0x7ffffff0,
					       .threaded = true, .threaded_open = true,
					       .fd_threaded = p[1] };
	saved.n_napis = 1;
	saved.napis[0] = (struct napitune_napi){ .ifindex = 0x7ffffff0, .id = 8193 };
	saved.n_pins = 1;
	saved.pins[0] = (struct napitune_pin){ .pid = gettid(), .ifindex = 0x7ffffff0,
					       .cpu = sched_getcpu() };
	CPU_ZERO(&saved.pins[0].before); /* would fail, were it tried */
	assert_true(napitune_any_saved(&saved));
	napitune_restore(&saved);
	assert_int_equal(saved.n_devs, 0);
	assert_int_equal(saved.n_napis, 0);
	assert_int_equal(saved.n_pins, 0);
	assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
	assert_true(CPU_EQUAL(&now, &cpus));
	/* the write end was closed and nothing written: the read end sees the end at once */
	assert_int_equal(read(p[0], &now, 1), 0);
	close(p[0]);
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

/* The flood state: flooded from the first read that found the stage's drop count grown (not
 * the first read, which only primes it), held while it grows, calm NAPITUNE_FLOOD_HOLD_MS
 * after the last growth; a smaller count (a new program's) is a new base, not a flood. */
static void test_flood_step(void **state)
{
	struct napitune_flood fl = { 0 };
	const uint64_t hold = NAPITUNE_FLOOD_HOLD_MS;

	(void)state;
	assert_false(napitune_flood_step(&fl, 500, 1000)); /* primes: drops before the watch */
	assert_false(fl.flooded);
	assert_false(napitune_flood_step(&fl, 500, 1100));
	assert_true(napitune_flood_step(&fl, 501, 1200)); /* one drop is shedding */
	assert_true(fl.flooded);
	assert_false(napitune_flood_step(&fl, 900, 1300));
	assert_false(napitune_flood_step(&fl, 900, 1300 + hold - 1));
	assert_true(fl.flooded);
	assert_true(napitune_flood_step(&fl, 900, 1300 + hold));
	assert_false(fl.flooded);
	/* a new program counts from 0: a base, then growth again */
	assert_false(napitune_flood_step(&fl, 3, 5000));
	assert_false(fl.flooded);
	assert_true(napitune_flood_step(&fl, 4, 5100));
	/* a smaller count while flooded keeps the state until the hold has passed */
	assert_false(napitune_flood_step(&fl, 0, 5200));
	assert_true(fl.flooded);
	assert_true(napitune_flood_step(&fl, 0, 5100 + hold));
}

/* A thread noted at the value the move starts from that is not a NAPI thread (a remembered
 * pid reused by another task; here this test's own) is never moved. */
static void test_flood_nice_guard(void **state)
{
	int nice;

	(void)state;
	nice = note_own_thread(0);
	assert_int_equal(napitune_flood_nice(&saved, true, nice, nice < 19 ? nice + 1 : nice - 1), 0);
	assert_int_equal(getpriority(PRIO_PROCESS, 0), nice);
	assert_int_equal(saved.nice[0].set, nice);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_busy_text),
	    cmocka_unit_test(test_any_instance),
	    cmocka_unit_test(test_restore_guard),
	    cmocka_unit_test(test_restore_gone),
	    cmocka_unit_test(test_flood_step),
	    cmocka_unit_test(test_flood_nice_guard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
