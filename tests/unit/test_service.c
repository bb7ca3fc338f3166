// SPDX-License-Identifier: MIT
/* service: the sd_notify wrappers against a fake NOTIFY_SOCKET (a datagram socket in a temp
 * directory standing in for systemd), the watchdog environment, and no-ops outside systemd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "service.h"

struct fake_systemd {
	char dir[64];
	char path[96];
	int fd;
};

static int setup(void **state)
{
	struct fake_systemd *f = calloc(1, sizeof(*f));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/rr-notify.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	setenv("NOTIFY_SOCKET", f->path, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake_systemd *f = *state;

	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The next datagram systemd would have read, as a string; "" when none is queued. */
static const char *next_msg(struct fake_systemd *f)
{
	static char buf[1024];
	ssize_t n = recv(f->fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_notify_messages(void **state)
{
	struct fake_systemd *f = *state;

	assert_int_equal(service_ready("serving 2 relays"), 0);
	assert_string_equal(next_msg(f), "READY=1\nSTATUS=serving 2 relays");
	assert_int_equal(service_ready(NULL), 0);
	assert_string_equal(next_msg(f), "READY=1");
	assert_int_equal(service_reloading(), 0);
	assert_string_equal(next_msg(f), "RELOADING=1");
	assert_int_equal(service_stopping(), 0);
	assert_string_equal(next_msg(f), "STOPPING=1");
	assert_int_equal(service_watchdog_ping(), 0);
	assert_string_equal(next_msg(f), "WATCHDOG=1");
	assert_int_equal(service_status("rx %u pps, %s", 1200u, "ok"), 0);
	assert_string_equal(next_msg(f), "STATUS=rx 1200 pps, ok");
	assert_string_equal(next_msg(f), "");
}

/* A newline would end STATUS= and start a new assignment in the protocol. */
static void test_status_one_line(void **state)
{
	struct fake_systemd *f = *state;

	assert_int_equal(service_status("a\nREADY=1\r\nb"), 0);
	assert_string_equal(next_msg(f), "STATUS=a READY=1  b");
	assert_int_equal(service_ready("x\ny"), 0);
	assert_string_equal(next_msg(f), "READY=1\nSTATUS=x y");
}

static void test_outside_systemd(void **state)
{
	struct fake_systemd *f = *state;

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(service_ready("x"), 0);
	assert_int_equal(service_reloading(), 0);
	assert_int_equal(service_stopping(), 0);
	assert_int_equal(service_status("x"), 0);
	assert_int_equal(service_watchdog_ping(), 0);
	assert_string_equal(next_msg(f), "");
	setenv("NOTIFY_SOCKET", f->path, 1);
}

/* A socket that is gone: an error returned each time (and logged once). */
static void test_broken_socket(void **state)
{
	setenv("NOTIFY_SOCKET", "/nonexistent/rr-notify", 1);
	assert_true(service_ready("x") < 0);
	assert_true(service_watchdog_ping() < 0);
}

static void test_watchdog_usec(void **state)
{
	char pid[32];

	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(service_watchdog_usec(), 0);

	setenv("WATCHDOG_USEC", "10000000", 1);
	assert_int_equal(service_watchdog_usec(), 10000000);

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(service_watchdog_usec(), 10000000);

	/* The watchdog is meant for another process (e.g. our ExecStartPre). */
	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(service_watchdog_usec(), 0);

	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "soon", 1);
	assert_int_equal(service_watchdog_usec(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_notify_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_one_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside_systemd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_usec, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
