// SPDX-License-Identifier: MIT
/* portown: which bound sockets a listener would share a port with (a table over both
 * families, wildcards and dual-stack), the holder's description, and one live look-up of a
 * socket of this process (ours, so not reported) on loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "portown.h"

struct overlap_case {
	const char *listener; /* ours */
	int family;	      /* theirs */
	const char *bound;
	int v6only;
	int want;
};

static const struct overlap_case cases[] = {
    {"198.18.1.2:53", AF_INET, "198.18.1.2", 0, 1},
    {"198.18.1.2:53", AF_INET, "198.18.1.3", 0, 0},
    {"198.18.1.2:53", AF_INET, "0.0.0.0", 0, 1},
    {"0.0.0.0:53", AF_INET, "198.18.1.3", 0, 1},
    {"198.18.1.2:53", AF_INET6, "::", 0, 1}, /* dual-stack wildcard */
    {"198.18.1.2:53", AF_INET6, "::", 1, 0}, /* IPv6 only */
    {"198.18.1.2:53", AF_INET6, "::ffff:198.18.1.2", 0, 1},
    {"198.18.1.2:53", AF_INET6, "::ffff:198.18.1.3", 0, 0},
    {"198.18.1.2:53", AF_INET6, "2001:2::1", 0, 0},
    {"0.0.0.0:53", AF_INET6, "::ffff:198.18.1.3", 0, 1},
    {"[2001:2::1]:53", AF_INET6, "2001:2::1", 1, 1},
    {"[2001:2::1]:53", AF_INET6, "2001:2::2", 1, 0},
    {"[2001:2::1]:53", AF_INET6, "::", 0, 1},
    {"[::]:53", AF_INET6, "2001:2::2", 1, 1},
    {"[::]:53", AF_INET, "0.0.0.0", 0, 0}, /* our IPv6 listeners are V6ONLY */
    {"[2001:2::1]:53", AF_INET, "198.18.1.2", 0, 0},
};

static void test_overlaps(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct overlap_case *c = &cases[i];
		uint8_t bytes[16];
		struct addr a;
		const char *why;

		assert_int_equal(addr_parse(c->listener, &a, &why), 0);
		assert_int_equal(inet_pton(c->family, c->bound, bytes), 1);
		if (portown_overlaps(&a, c->family, bytes, c->v6only) != c->want)
			fail_msg("case %zu: %s vs %s (v6only %d): want %d", i, c->listener,
				 c->bound, c->v6only, c->want);
	}
}

static void test_describe(void **state)
{
	struct portown_holder h = {.inode = 7, .uid = 0, .pid = 123, .comm = "socat"};
	char buf[160];

	(void)state;
	assert_string_equal(portown_describe(&h, buf, sizeof(buf)), "address in use by pid 123 "
								    "(socat)");
	h.pid = 0;
	assert_string_equal(portown_describe(&h, buf, sizeof(buf)),
			    "address in use by a process of user root (uid 0; its pid is not "
			    "visible to us)");
	h.uid = 4000000;
	assert_string_equal(portown_describe(&h, buf, sizeof(buf)),
			    "address in use by a process of uid 4000000 (its pid is not visible to "
			    "us)");
}

/* A socket of our own on the port is never "another process". */
static void test_own_socket(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof(sin);
	struct portown_holder h;
	char text[64];
	struct addr a;
	const char *why;
	int fd, ret;

	(void)state;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(text, sizeof(text), "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_int_equal(addr_parse(text, &a, &why), 0);
	ret = portown_find(&a, &h);
	close(fd);
	if (ret < 0)
		skip(); /* no NETLINK_SOCK_DIAG here (a container without inet_diag) */
	assert_int_equal(ret, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_overlaps),
	    cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_own_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
