// SPDX-License-Identifier: MIT
/* routescope: the route epoch's ring of changed prefixes: what a change covers (IPv4, IPv6,
 * 0/0, an IPv4-mapped address, a change of all), a ring that went past a reader (all), the
 * reading budget, and prefix_from_route, which the admin thread records the kernel's with. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "routescope.h"

static struct addr ad(const char *text)
{
	const char *why;
	struct addr a;

	assert_int_equal(addr_parse(text, &a, &why), 0);
	return a;
}

/* Records route dst/len of family (as the kernel tells it: raw bytes). */
static void record(struct routescope *rs, int family, const char *dst, unsigned int len)
{
	uint8_t b[16] = { 0 };
	struct prefix p;

	assert_int_equal(inet_pton(family, dst, b), 1);
	assert_int_equal(prefix_from_route(&p, family, b, len), 0);
	routescope_prefix(rs, &p, family == AF_INET);
}

/* routescope_covers of the one address text from epoch from to the last (budget plenty). */
static int covers(const struct routescope *rs, uint32_t from, const char *text)
{
	struct addr a = ad(text);
	const struct addr *as[1] = { &a };
	uint32_t budget = 1000, to = routescope_epoch(rs);
	int ret = routescope_covers(rs, &from, to, as, 1, &budget);

	/* (none covering: all were read, the epoch is the last) */
	if (!ret)
		assert_int_equal(from, to);
	return ret;
}

static void test_prefixes(void **state)
{
	struct routescope *rs = calloc(1, sizeof(*rs));

	(void)state;
	assert_non_null(rs);
	assert_int_equal(routescope_epoch(rs), 0);
	assert_int_equal(covers(rs, 0, "198.18.0.1:1"), 0); /* nothing recorded */
	record(rs, AF_INET, "198.18.4.0", 24);
	assert_int_equal(routescope_epoch(rs), 1);
	assert_int_equal(covers(rs, 0, "198.18.4.77:1"), 1);
	assert_int_equal(covers(rs, 0, "198.18.5.1:1"), 0);
	assert_int_equal(covers(rs, 0, "[2001:2::1]:1"), 0);
	/* an IPv6 socket's IPv4-mapped address is routed as IPv4 */
	assert_int_equal(covers(rs, 0, "[::ffff:198.18.4.9]:1"), 1);
	assert_int_equal(covers(rs, 1, "198.18.4.77:1"), 0); /* read already */
	/* IPv6, with a length not on a byte */
	record(rs, AF_INET6, "2001:2:0:8000::", 49);
	assert_int_equal(covers(rs, 1, "[2001:2:0:8001::5]:1"), 1);
	assert_int_equal(covers(rs, 1, "[2001:2:0:7fff::5]:1"), 0);
	assert_int_equal(covers(rs, 1, "198.18.4.77:1"), 0);
	/* IPv6's default route covers no IPv4 address (not even IPv4-mapped), IPv4's no IPv6 */
	record(rs, AF_INET6, "::", 0);
	assert_int_equal(covers(rs, 2, "[2001:2::1]:1"), 1);
	assert_int_equal(covers(rs, 2, "198.18.0.1:1"), 0);
	assert_int_equal(covers(rs, 2, "[::ffff:198.18.0.1]:1"), 0);
	record(rs, AF_INET, "0.0.0.0", 0);
	assert_int_equal(covers(rs, 3, "203.0.113.9:1"), 1);
	assert_int_equal(covers(rs, 3, "[::ffff:198.18.0.1]:1"), 1);
	assert_int_equal(covers(rs, 3, "[2001:2::1]:1"), 0);
	/* a host route, and a change of all (a rule, a nexthop, an overrun) */
	record(rs, AF_INET, "198.19.0.1", 32);
	assert_int_equal(covers(rs, 4, "198.19.0.1:1"), 1);
	assert_int_equal(covers(rs, 4, "198.19.0.2:1"), 0);
	routescope_all(rs);
	assert_int_equal(covers(rs, 5, "[2001:2::1]:1"), 1);
	assert_int_equal(covers(rs, 6, "[2001:2::1]:1"), 0);
	free(rs);
}

/* A reader more than the ring behind takes it as all; one just within reads every change. */
static void test_wrap(void **state)
{
	struct routescope *rs = calloc(1, sizeof(*rs));
	uint32_t i;

	(void)state;
	assert_non_null(rs);
	for (i = 0; i < ROUTESCOPE_RING + 1; i++)
		record(rs, AF_INET, "198.18.200.0", 24);
	assert_int_equal(covers(rs, 0, "198.18.1.1:1"), 1);
	assert_int_equal(covers(rs, 1, "198.18.1.1:1"), 0);
	assert_int_equal(covers(rs, 1, "198.18.200.1:1"), 1);
	/* the epoch wraps at 32 bits: the same */
	rs->epoch = UINT32_MAX - 2;
	for (i = 0; i < 5; i++)
		record(rs, AF_INET, "198.18.200.0", 24);
	assert_int_equal(routescope_epoch(rs), 2);
	assert_int_equal(covers(rs, UINT32_MAX - 2, "198.18.1.1:1"), 0);
	assert_int_equal(covers(rs, UINT32_MAX - 2, "198.18.200.1:1"), 1);
	free(rs);
}

/* The budget: one change read costs one; a reader out of it keeps where it got to. */
static void test_budget(void **state)
{
	struct routescope *rs = calloc(1, sizeof(*rs));
	struct addr a = ad("198.18.1.1:1"), b = ad("[2001:2::9]:1");
	const struct addr *as[2] = { &a, &b };
	uint32_t from = 0, budget = 3;
	int i;

	(void)state;
	assert_non_null(rs);
	for (i = 0; i < 5; i++)
		record(rs, AF_INET, "198.18.200.0", 24);
	record(rs, AF_INET6, "2001:2::", 64); /* covers b */
	assert_int_equal(routescope_covers(rs, &from, 6, as, 2, &budget), 0);
	assert_int_equal(from, 3);
	assert_int_equal(budget, 0);
	assert_int_equal(routescope_covers(rs, &from, 6, as, 2, &budget), 0);
	assert_int_equal(from, 3); /* nothing read */
	budget = 10;
	assert_int_equal(routescope_covers(rs, &from, 6, as, 2, &budget), 1);
	assert_int_equal(budget, 7);
	free(rs);
}

static void test_prefix_from_route(void **state)
{
	const uint8_t v4[4] = { 198, 18, 7, 255 };
	uint8_t v6[16] = { 0x20, 0x01, 0, 2, 0, 0, 0xff, 0xff };
	char buf[ADDR_STRLEN];
	struct prefix p;

	(void)state;
	assert_int_equal(prefix_from_route(&p, AF_INET, v4, 23), 0); /* host bits cleared */
	assert_string_equal(prefix_format(&p, buf, sizeof(buf)), "198.18.6.0/23");
	assert_int_equal(prefix_from_route(&p, AF_INET6, v6, 52), 0);
	assert_string_equal(prefix_format(&p, buf, sizeof(buf)), "2001:2:0:f000::/52");
	assert_int_equal(prefix_from_route(&p, AF_INET, v4, 33), -EINVAL);
	assert_int_equal(prefix_from_route(&p, AF_INET6, v6, 129), -EINVAL);
	assert_int_equal(prefix_from_route(&p, 128, v6, 8), -EINVAL); /* RTNL_FAMILY_IPMR */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_prefix_from_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
