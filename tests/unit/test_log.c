// SPDX-License-Identifier: MIT
/* log: "time level message" text, one JSON object per line with escaped strings and typed
 * fields, long messages cut to a line, and the journal chosen only when JOURNAL_STREAM names
 * our stderr. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* 2026-11-22 10:15:02.250 UTC */
#define T 1795342502.25

static void test_text(void **state)
{
	char buf[256];
	size_t n;

	(void)state;
	n = log_format_line(buf, sizeof(buf), LOG_OUT_TEXT, T, LOG_LVL_WARN, NULL, 0,
			    "relay dns: listen 198.18.1.2:53: busy");
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf, "2026-11-22 10:15:02.250 warning relay dns: listen 198.18.1.2:53: "
				 "busy\n");
	/* no "<6>" prefix, and a cut line still ends in a newline */
	n = log_format_line(buf, 20, LOG_OUT_TEXT, T, LOG_LVL_INFO, NULL, 0, "a long message");
	assert_int_equal(n, 19);
	assert_string_equal(buf, "2026-11-22 10:15:0\n");
}

static void test_json(void **state)
{
	const struct log_field f[] = {
	    {"RELAY", "dns", false},
	    {"WORKER", "3", true},
	    {"CLIENT", NULL, false}, /* absent: left out */
	    {"UPSTREAM", "a\"b\\c\n", false},
	};
	char buf[512];

	(void)state;
	log_format_line(buf, sizeof(buf), LOG_OUT_JSON, T, LOG_LVL_ERR, f, 4, "tab\there");
	assert_string_equal(buf, "{\"time\":\"2026-11-22T10:15:02.250+00:00\",\"level\":\"error\","
				 "\"message\":\"tab\\u0009here\",\"relay\":\"dns\",\"worker\":3,"
				 "\"upstream\":\"a\\\"b\\\\c\\n\"}\n");
}

static void test_setup(void **state)
{
	char env[64];
	struct stat st;

	(void)state;
	unsetenv("JOURNAL_STREAM");
	/* the unit tests' stderr is a file or a pipe, not a terminal */
	if (isatty(STDERR_FILENO))
		skip();
	assert_int_equal(log_setup(LOG_FORMAT_JSON), LOG_OUT_JSON);
	assert_int_equal(log_setup(LOG_FORMAT_TEXT), LOG_OUT_TEXT);
	/* JOURNAL_STREAM inherited by a child whose stderr goes elsewhere does not count */
	setenv("JOURNAL_STREAM", "1:2", 1);
	assert_int_equal(log_setup(LOG_FORMAT_TEXT), LOG_OUT_TEXT);
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	assert_int_equal(log_setup(LOG_FORMAT_TEXT), LOG_OUT_JOURNAL);
	unsetenv("JOURNAL_STREAM");
	log_force_output(LOG_OUT_TEXT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_setup),
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
