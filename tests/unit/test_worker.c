// SPDX-License-Identifier: MIT
/* What worker.c and worker_backend.h keep for a session across its datagrams: which reply
 * bursts go to the client whole after its path refused one (both backends ask
 * worker_reply_whole and tell worker_reply_refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "worker_backend.h"

/* A fresh session as session_insert leaves one, in slot 0 of a one-slot table (released
 * and taken again for each case: a new session of a slot forgets its predecessor's). */
static struct session *fresh_session(struct session_table *t, struct session *prev)
{
	static const struct siphash_key key = { 1, 2 };
	struct addr client;
	const char *why;
	struct session *s;

	if (prev) {
		session_release(t, prev);
	} else {
		assert_int_equal(session_table_init_key(t, 1, 1000, &key), 0);
	}
	assert_int_equal(addr_parse("198.18.0.1:4000", &client, &why), 0);
	s = session_insert(t, &client, 0, NULL, 1);
	assert_non_null(s);
	return s;
}

/* After the client's path refused a reply burst of g-byte segments, bursts of segments that
 * long or longer go in pieces, shorter ones and single datagrams (gso 0) whole; a later
 * refusal of longer segments changes nothing, one of shorter segments lowers the limit. Every
 * size, down to 1-byte segments: before, a refusal of those was kept as "the longest taken:
 * 0", which means none refused, and the next burst went whole to be refused again. */
static void test_reply_refused(void **state)
{
	static const uint16_t sizes[] = { 1, 2, 3, 576, 1200, 1472, 8972, 65534, 65535 };
	struct session_table t;
	struct session *s = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint16_t g = sizes[i];

		s = fresh_session(&t, s);
		assert_true(worker_reply_whole(s, 0));
		assert_true(worker_reply_whole(s, g));
		assert_true(worker_reply_whole(s, 65535));

		worker_reply_refused(s, g);
		assert_false(worker_reply_whole(s, g));
		assert_false(worker_reply_whole(s, 65535));
		assert_true(worker_reply_whole(s, 0)); /* a single datagram is no burst */
		if (g > 1)
			assert_true(worker_reply_whole(s, g - 1));
		if (g < 65535) {
			assert_false(worker_reply_whole(s, g + 1));
			worker_reply_refused(s, g + 1); /* longer: no change */
			assert_false(worker_reply_whole(s, g));
			if (g > 1)
				assert_true(worker_reply_whole(s, g - 1));
		}
		worker_reply_refused(s, 0); /* not a burst: no refusal */
		assert_false(worker_reply_whole(s, g));
		if (g > 1)
			assert_true(worker_reply_whole(s, g - 1));
	}

	/* Lowered by a refusal of shorter segments, down to 1 byte: every burst in pieces. */
	s = fresh_session(&t, s);
	worker_reply_refused(s, 1400);
	assert_true(worker_reply_whole(s, 1));
	worker_reply_refused(s, 1);
	assert_false(worker_reply_whole(s, 1));
	assert_false(worker_reply_whole(s, 1400));
	assert_true(worker_reply_whole(s, 0));
	/* The slot's next session starts with nothing refused. */
	s = fresh_session(&t, s);
	assert_true(worker_reply_whole(s, 1));
	session_table_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
