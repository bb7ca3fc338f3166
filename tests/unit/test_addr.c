// SPDX-License-Identifier: MIT
/* addr: parsing, formatting and comparing endpoints and prefixes of both families. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "addr.h"

struct endpoint_case {
	const char *text;
	int family;		/* 0: must fail */
	const char *formatted;	/* canonical form, or the expected reason */
	uint16_t port;
};

static const struct endpoint_case endpoint_cases[] = {
	{ "198.18.1.2:5000", AF_INET, "198.18.1.2:5000", 5000 },
	{ "127.0.0.1:0", AF_INET, "127.0.0.1:0", 0 },
	{ "*:53", AF_INET, "0.0.0.0:53", 53 },
	{ "0.0.0.0:65535", AF_INET, "0.0.0.0:65535", 65535 },
	{ "[2001:2::2]:5000", AF_INET6, "[2001:2::2]:5000", 5000 },
	{ "[::]:9", AF_INET6, "[::]:9", 9 },
	{ "[::ffff:198.18.0.1]:7", AF_INET6, "[::ffff:198.18.0.1]:7", 7 },
	{ "198.18.1.2", 0, "expected ADDRESS:PORT", 0 },
	{ "198.18.1.2:", 0, "missing port after ':'", 0 },
	{ "198.18.1.2:65536", 0, "port must be a number from 0 to 65535", 0 },
	{ "198.18.1.2:-1", 0, "port must be a number from 0 to 65535", 0 },
	{ "198.18.1.2:5x", 0, "port must be a number from 0 to 65535", 0 },
	{ "198.18.1.256:1", 0, "not an IPv4 address", 0 },
	{ "host.example:1", 0, "not an IPv4 address", 0 },
	{ "2001:2::2:5000", 0, "an IPv6 address needs brackets: [ADDRESS]:PORT", 0 },
	{ "[2001:2::2:5000", 0, "missing ']' after an IPv6 address", 0 },
	{ "[2001:2::2]5000", 0, "expected ':PORT' after ']'", 0 },
	{ "[198.18.0.1]:5", 0, "not an IPv6 address", 0 },
	{ "[]:5", 0, "not an IPv6 address", 0 },
};

static void test_endpoints(void **state)
{
	char buf[ADDR_STRLEN];
	const char *why;
	struct addr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(endpoint_cases) / sizeof(endpoint_cases[0]); i++) {
		const struct endpoint_case *c = &endpoint_cases[i];
		int ret = addr_parse(c->text, &a, &why);

		if (!c->family) {
			assert_int_equal(ret, -EINVAL);
			assert_string_equal(why, c->formatted);
			continue;
		}
		assert_int_equal(ret, 0);
		assert_int_equal(addr_family(&a), c->family);
		assert_int_equal(addr_port(&a), c->port);
		assert_string_equal(addr_format(&a, buf, sizeof(buf)), c->formatted);
		assert_int_equal(addr_len(&a), c->family == AF_INET ? sizeof(struct sockaddr_in)
								    : sizeof(struct sockaddr_in6));
	}
}

/* Where a port of 0 means nothing (a listener, an upstream): the reason gives the range the
 * caller takes, 1 to 65535, for 0 and for 70000 alike; names' ports too. */
static void test_endpoint_ports(void **state)
{
	char host[64];
	const char *why;
	uint16_t port;
	struct addr a;

	(void)state;
	assert_int_equal(addr_parse_endpoint("198.18.1.2:70000", &a, &why), -EINVAL);
	assert_string_equal(why, "port must be a number from 1 to 65535");
	assert_int_equal(addr_parse_endpoint("[2001:2::2]:0", &a, &why), -EINVAL);
	assert_string_equal(why, "port must be a number from 1 to 65535");
	assert_int_equal(addr_parse_endpoint("198.18.1.2:65535", &a, &why), 0);
	assert_int_equal(addr_port(&a), 65535);
	assert_int_equal(addr_parse_endpoint("*:1", &a, &why), 0);
	assert_int_equal(addr_parse_name("up.example:70000", host, sizeof(host), &port, &why),
			 -EINVAL);
	assert_string_equal(why, "port must be a number from 1 to 65535");
	assert_int_equal(addr_parse_name("up.example:0", host, sizeof(host), &port, &why),
			 -EINVAL);
	assert_string_equal(why, "port must be a number from 1 to 65535");
	assert_int_equal(addr_parse_name("up.example:53", host, sizeof(host), &port, &why), 0);
	assert_string_equal(host, "up.example");
	assert_int_equal(port, 53);
}

static void test_compare_and_hash(void **state)
{
	struct addr a, b, c, d;
	const char *why;

	(void)state;
	assert_int_equal(addr_parse("198.18.0.1:10", &a, &why), 0);
	assert_int_equal(addr_parse("198.18.0.1:11", &b, &why), 0);
	assert_int_equal(addr_parse("[2001:2::1]:10", &c, &why), 0);
	assert_int_equal(addr_parse("[2001:2::1]:10", &d, &why), 0);
	assert_true(addr_equal_host(&a, &b));
	assert_false(addr_equal(&a, &b));
	assert_true(addr_equal(&c, &d));
	assert_false(addr_equal_host(&a, &c));
	assert_int_equal(addr_hash(&a, false, 1), addr_hash(&b, false, 1));
	assert_int_not_equal(addr_hash(&a, true, 1), addr_hash(&b, true, 1));
	assert_int_not_equal(addr_hash(&a, true, 1), addr_hash(&a, true, 2));
	assert_int_equal(addr_hash(&c, true, 7), addr_hash(&d, true, 7));
	assert_false(addr_is_any(&a));
	assert_int_equal(addr_parse("[::]:1", &a, &why), 0);
	assert_true(addr_is_any(&a));
	addr_set_port(&c, 99);
	assert_int_equal(addr_port(&c), 99);
}

/* Link-local IPv6 addresses (and any with a scope id) need their interface; IPv4's never do
 * here. */
static void test_scoped(void **state)
{
	static const struct {
		const char *ip;
		uint32_t scope;
		bool scoped;
	} cases[] = {
		{ "fe80::1", 0, true },	  { "fe80::1", 3, true },    { "febf::1", 0, true },
		{ "ff02::1", 0, true },	  { "2001:2::1", 0, false }, { "fec0::1", 0, false },
		{ "2001:2::1", 2, true }, { "ff0e::1", 0, false },
	};
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct addr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(inet_pton(AF_INET6, cases[i].ip, &s6.sin6_addr), 1);
		s6.sin6_scope_id = cases[i].scope;
		assert_int_equal(addr_from_sockaddr(&a, &s6, sizeof(s6)), 0);
		if (addr_is_scoped(&a) != cases[i].scoped)
			fail_msg("%s%%%u: scoped %d", cases[i].ip, cases[i].scope, !cases[i].scoped);
	}
	assert_int_equal(inet_pton(AF_INET, "169.254.1.1", &s4.sin_addr), 1);
	assert_int_equal(addr_from_sockaddr(&a, &s4, sizeof(s4)), 0);
	assert_false(addr_is_scoped(&a));
}

/* addr_cmp orders IPv4 before IPv6, then by address, then by port; equal is 0. */
static void test_order(void **state)
{
	static const char *const sorted[] = { "198.18.0.1:10", "198.18.0.1:11", "198.18.0.2:1",
					      "[2001:2::1]:9", "[2001:2::1]:10", "[2001:2::10]:1" };
	struct addr a[6];
	const char *why;
	size_t i, j;

	(void)state;
	for (i = 0; i < 6; i++)
		assert_int_equal(addr_parse(sorted[i], &a[i], &why), 0);
	for (i = 0; i < 6; i++) {
		for (j = 0; j < 6; j++) {
			int d = addr_cmp(&a[i], &a[j]);

			if (i < j)
				assert_true(d < 0);
			else if (i > j)
				assert_true(d > 0);
			else
				assert_int_equal(d, 0);
		}
	}
}

static void test_from_sockaddr(void **state)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(5),
				   .sin6_flowinfo = 123 };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(6) };
	struct addr a;

	(void)state;
	assert_int_equal(addr_from_sockaddr(&a, &s6, sizeof(s6)), 0);
	assert_int_equal(addr_port(&a), 5);
	assert_int_equal(a.in6.sin6_flowinfo, 0); /* flow labels must not split sessions */
	assert_int_equal(addr_from_sockaddr(&a, &s4, sizeof(s4)), 0);
	assert_int_equal(addr_port(&a), 6);
	assert_int_equal(addr_from_sockaddr(&a, &s6, 8), -EAFNOSUPPORT);
	s4.sin_family = AF_UNIX;
	assert_int_equal(addr_from_sockaddr(&a, &s4, sizeof(s4)), -EAFNOSUPPORT);
}

struct prefix_case {
	const char *text;
	int len; /* -1: must fail */
	const char *why;
};

static const struct prefix_case prefix_cases[] = {
	{ "198.18.0.0/15", 96 + 15, NULL },
	{ "198.18.0.1", 128, NULL },
	{ "0.0.0.0/0", 96, NULL },
	{ "2001:2::/48", 48, NULL },
	{ "::/0", 0, NULL },
	{ "2001:2::1", 128, NULL },
	{ "198.18.0.1/15", -1, "host bits are set after the prefix length" },
	{ "2001:2::1/48", -1, "host bits are set after the prefix length" },
	{ "198.18.0.0/33", -1, "prefix length must be 0 to 32" },
	{ "2001:2::/129", -1, "prefix length must be 0 to 128" },
	{ "198.18.0.0/", -1, "prefix length must be 0 to 32" },
	{ "198.18.0.0/x", -1, "prefix length must be 0 to 32" },
	{ "nonsense/8", -1, "not an IPv4 or IPv6 address" },
	{ "/8", -1, "expected ADDRESS/LENGTH" },
};

static void test_prefixes(void **state)
{
	static const uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 0 };
	struct prefix p;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]); i++) {
		const struct prefix_case *c = &prefix_cases[i];
		int ret = prefix_parse(c->text, &p, &why);

		if (c->len < 0) {
			assert_int_equal(ret, -EINVAL);
			assert_string_equal(why, c->why);
			continue;
		}
		assert_int_equal(ret, 0);
		assert_int_equal(p.len, c->len);
	}
	assert_int_equal(prefix_parse("198.18.0.0/15", &p, &why), 0);
	assert_memory_equal(p.bytes, mapped, 16);
}

static void test_prefix_format(void **state)
{
	static const char *const texts[] = { "198.18.0.0/15", "0.0.0.0/0", "198.18.0.1/32",
					      "2001:2::/48", "::/0", "2001:2::1/128" };
	char buf[ADDR_STRLEN];
	struct prefix p;
	const char *why;
	size_t i;

	(void)state;
	/* The inverse of prefix_parse, for both families. */
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(prefix_parse(texts[i], &p, &why), 0);
		assert_string_equal(prefix_format(&p, buf, sizeof(buf)), texts[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_endpoint_ports),
		cmocka_unit_test(test_compare_and_hash),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_scoped),
		cmocka_unit_test(test_from_sockaddr),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_prefix_format),
	};
	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
