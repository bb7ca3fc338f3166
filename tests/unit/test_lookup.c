// SPDX-License-Identifier: MIT
/* lookup: a batch of upstream entries looked up on a thread of its own. A literal entry stands
 * for its own address, a name in /etc/hosts (localhost) for its addresses, in entry order;
 * the eventfd tells when they are done; a batch dropped before its thread ends is freed by
 * the thread (ASan: no use after free, no leak). No name here leaves the machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lookup.h"

static void entry_literal(struct upstream_conf *u, const char *text)
{
	const char *why;

	memset(u, 0, sizeof(*u));
	assert_int_equal(addr_parse(text, &u->addr, &why), 0);
	snprintf(u->text, sizeof(u->text), "%s", text);
	u->weight = 1;
}

static void entry_name(struct upstream_conf *u, const char *host, uint16_t port)
{
	memset(u, 0, sizeof(*u));
	u->is_name = true;
	snprintf(u->host, sizeof(u->host), "%s", host);
	u->port = port;
	snprintf(u->text, sizeof(u->text), "%s:%u", host, port);
	u->weight = 1;
}

/* Waits (at most 10 s) for b's eventfd, then checks that it is done. */
static void wait_done(struct lookup_batch *b)
{
	struct pollfd p = { .fd = lookup_fd(b), .events = POLLIN };

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_true(lookup_done(b));
}

static void test_entries(void **state)
{
	struct upstream_conf ents[3];
	struct lookup_batch *b;
	const struct addr *got;
	const char *why;
	char buf[ADDR_STRLEN];

	(void)state;
	entry_literal(&ents[0], "198.18.0.1:9000");
	entry_name(&ents[1], "localhost", 9001);
	entry_literal(&ents[2], "[2001:2::1]:9002");
	assert_int_equal(lookup_start(ents, 3, AF_INET, &b), 0);
	wait_done(b);
	assert_int_equal(lookup_result(b, 0, &got, &why), 1);
	assert_string_equal(addr_format(&got[0], buf, sizeof(buf)), "198.18.0.1:9000");
	assert_int_equal(lookup_result(b, 1, &got, &why), 1);
	assert_string_equal(addr_format(&got[0], buf, sizeof(buf)), "127.0.0.1:9001");
	assert_int_equal(lookup_result(b, 2, &got, &why), 1);
	assert_string_equal(addr_format(&got[0], buf, sizeof(buf)), "[2001:2::1]:9002");
	lookup_put(b);
}

/* The caller drops batches at once, as a stop does with one still out: their threads free
 * them (ASan reports a use after free or, at exit, a leak otherwise). */
static void test_dropped(void **state)
{
	struct upstream_conf ents[2];
	struct lookup_batch *b;
	int i;

	(void)state;
	entry_name(&ents[0], "localhost", 9000);
	entry_literal(&ents[1], "198.18.0.1:9000");
	for (i = 0; i < 8; i++) {
		assert_int_equal(lookup_start(ents, 2, AF_UNSPEC, &b), 0);
		lookup_put(b);
	}
	/* one more, waited for, and a pause: the threads above have most likely ended by then
	 * (what they did is checked either way; one still running ends with the process) */
	assert_int_equal(lookup_start(ents, 2, AF_UNSPEC, &b), 0);
	wait_done(b);
	lookup_put(b);
	usleep(100 * 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_dropped),
	};
	return cmocka_run_group_tests_name("lookup", tests, NULL, NULL);
}
