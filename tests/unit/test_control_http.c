// SPDX-License-Identifier: MIT
/* control_http_parse: the request-line of a scrape, the edge cases a scraper or proxy sends
 * (RFC 9112: empty lines before it, absolute-form targets; queries with other keys). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "control.h"

static void test_request_lines(void **state)
{
	static const struct {
		const char *req;
		int ret;
		const char *method, *path;
		bool per_worker;
	} cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, "GET", "/metrics", false },
		{ "HEAD /metrics HTTP/1.0\r\n\r\n", 0, "HEAD", "/metrics", false },
		{ "GET /metrics?per_worker=1 HTTP/1.1\r\n\r\n", 0, "GET", "/metrics", true },
		{ "GET /metrics?per_worker=true HTTP/1.1\r\n\r\n", 0, "GET", "/metrics", true },
		{ "GET /metrics?per_worker=0 HTTP/1.1\r\n\r\n", 0, "GET", "/metrics", false },
		/* a scrape config's other params, a proxy's additions: ignored */
		{ "GET /metrics?per_worker=1&foo=bar HTTP/1.1\r\n\r\n", 0, "GET", "/metrics", true },
		{ "GET /metrics?foo=bar&per_worker=1 HTTP/1.1\r\n\r\n", 0, "GET", "/metrics", true },
		{ "GET /metrics?foo&per_worker HTTP/1.1\r\n\r\n", 0, "GET", "/metrics", false },
		{ "GET /metrics?per_worker=1&per_worker=0 HTTP/1.1\r\n\r\n", 0, "GET", "/metrics",
		  false },
		/* empty lines before the request-line (RFC 9112 2.2) */
		{ "\r\nGET /metrics HTTP/1.1\r\n\r\n", 0, "GET", "/metrics", false },
		{ "\r\n\n\r\nGET /metrics HTTP/1.1\r\n\r\n", 0, "GET", "/metrics", false },
		/* absolute-form, from a forward proxy */
		{ "GET http://127.0.0.1:9470/metrics HTTP/1.1\r\n\r\n", 0, "GET", "/metrics", false },
		{ "GET HTTP://[::1]:9470/metrics?per_worker=1 HTTP/1.1\r\n\r\n", 0, "GET", "/metrics",
		  true },
		{ "GET http://host:9470 HTTP/1.1\r\n\r\n", 0, "GET", "/", false },
		{ "GET http://host?per_worker=1 HTTP/1.1\r\n\r\n", 0, "GET", "/", false },
		{ "GET /other HTTP/1.1\r\n\r\n", 0, "GET", "/other", false },
		{ "POST /metrics HTTP/1.1\r\n\r\n", 0, "POST", "/metrics", false },
		/* not HTTP/1.x */
		{ "GET /metrics\r\n\r\n", -EINVAL, "GET", NULL, false },
		{ "GET /metrics HTTP/2.0\r\n\r\n", -EINVAL, "GET", NULL, false },
		{ "HEAD\r\n\r\n", -EINVAL, "HEAD", NULL, false },
		{ "\r\n\r\n", -EINVAL, NULL, NULL, false },
		{ "", -EINVAL, NULL, NULL, false },
	};
	struct control_http_req r;
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].req);
		if (control_http_parse(buf, &r) != cases[i].ret)
			fail_msg("case %zu: returned not %d", i, cases[i].ret);
		if (cases[i].method)
			assert_string_equal(r.method, cases[i].method);
		else
			assert_null(r.method);
		if (cases[i].ret)
			continue;
		if (strcmp(r.path, cases[i].path) || r.per_worker != cases[i].per_worker)
			fail_msg("case %zu: path %s per_worker %d", i, r.path, r.per_worker);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
