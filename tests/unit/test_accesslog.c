// SPDX-License-Identifier: MIT
/* accesslog: the text and fields of a start and an end, the file a drained ring writes (text
 * and JSON), a full ring dropping instead of blocking, and the rate limit. The logger thread
 * is not started: accesslog_free drains what the rings hold, as at shutdown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "accesslog.h"
#include "log.h"

static struct accesslog_session session(struct addr *c, struct addr *u)
{
	const char *why;

	assert_int_equal(addr_parse("198.18.1.1:40000", c, &why), 0);
	assert_int_equal(addr_parse("[2001:2:0:2::2]:9000", u, &why), 0);
	return (struct accesslog_session){.relay = "dns",
					  .worker = 1,
					  .client = c,
					  .upstream = u,
					  .start_ns = 1000000000ull,
					  .end_ns = 3500000000ull,
					  .up_datagrams = 3,
					  .up_bytes = 300,
					  .down_datagrams = 2,
					  .down_bytes = 700};
}

static void test_format(void **state)
{
	struct addr c, u;
	struct accesslog_session s = session(&c, &u);
	struct accesslog_text t;
	struct log_field f[12];
	size_t n;

	(void)state;
	n = accesslog_format(&s, false, ACCESSLOG_IDLE, &t, f);
	assert_int_equal(n, 5);
	assert_string_equal(t.msg, "session start relay=dns client=198.18.1.1:40000 "
				   "upstream=[2001:2:0:2::2]:9000 worker=1");
	assert_string_equal(f[1].key, "RELAY");
	assert_string_equal(f[2].value, "198.18.1.1:40000");
	n = accesslog_format(&s, true, ACCESSLOG_UPSTREAM_REMOVED, &t, f);
	assert_int_equal(n, 11);
	assert_string_equal(t.msg, "session end relay=dns client=198.18.1.1:40000 "
				   "upstream=[2001:2:0:2::2]:9000 worker=1 duration=2.500 "
				   "up_datagrams=3 up_bytes=300 down_datagrams=2 down_bytes=700 "
				   "reason=upstream_removed");
	assert_string_equal(f[10].key, "REASON");
	assert_string_equal(f[10].value, "upstream_removed");
	assert_true(f[5].num);
	assert_string_equal(f[5].value, "2.500");
}

/* Writes n starts through a fresh access log (rate, format) into a file; returns its
 * lines (caller frees) and their count in *lines. */
static char *run_after(const char *before, uint32_t n, uint32_t rate, enum log_format fmt,
		       int *lines);

static char *run(uint32_t n, uint32_t rate, enum log_format fmt, int *lines)
{
	return run_after("", n, rate, fmt, lines);
}

/* As run, into a file that already holds before. */
static char *run_after(const char *before, uint32_t n, uint32_t rate, enum log_format fmt,
		       int *lines)
{
	char path[] = "/tmp/rr-accesslog-XXXXXX", err[CONFIG_ERR_LEN];
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct accesslog *al = NULL;
	struct addr c, u;
	struct accesslog_session s = session(&c, &u);
	static char text[1 << 20];
	size_t len;
	FILE *f;
	int fd;
	uint32_t i;

	assert_non_null(cfg);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, before, strlen(before)), (ssize_t)strlen(before));
	close(fd);
	snprintf(cfg->access_log, sizeof(cfg->access_log), "%s", path);
	cfg->access_log_rate = rate;
	cfg->log_format = fmt;
	assert_int_equal(accesslog_new(cfg, 2, &al, err, sizeof(err)), 0);
	assert_non_null(al);
	assert_null(accesslog_ring(al, 2));
	for (i = 0; i < n; i++)
		accesslog_session_start(accesslog_ring(al, 1), &s);
	accesslog_free(al);
	f = fopen(path, "r");
	assert_non_null(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = '\0';
	fclose(f);
	unlink(path);
	free(cfg);
	*lines = 0;
	for (i = 0; i < len; i++)
		*lines += text[i] == '\n';
	return text;
}

static void test_file(void **state)
{
	const char *text;
	int lines;

	(void)state;
	text = run(2, 1000, LOG_FORMAT_TEXT, &lines);
	assert_int_equal(lines, 2);
	assert_non_null(strstr(text, " info session start relay=dns client=198.18.1.1:40000 "));
	text = run(1, 1000, LOG_FORMAT_JSON, &lines);
	assert_int_equal(lines, 1);
	assert_int_equal(text[0], '{');
	assert_non_null(strstr(text, "\"event\":\"start\",\"relay\":\"dns\",\"client\":"
				     "\"198.18.1.1:40000\",\"upstream\":\"[2001:2:0:2::2]:9000\","
				     "\"worker\":1}\n"));
}

/* A ring holds 1024 events; more are dropped (and counted), never waited for. */
static void test_full_ring(void **state)
{
	int lines;

	(void)state;
	run(1500, 1000000, LOG_FORMAT_TEXT, &lines);
	assert_int_equal(lines, 1024);
}

/* At most a second's worth of lines at once: the rest is dropped and counted. */
static void test_rate(void **state)
{
	int lines;

	(void)state;
	run(20, 5, LOG_FORMAT_TEXT, &lines);
	assert_int_equal(lines, 5);
}

/* A full disk, as RLIMIT_FSIZE makes one: the write that reaches the limit is cut inside a
 * line, the next fails (SIGXFSZ, whose handler lifts the limit: the disk has room again),
 * and the lines after it start on a line of their own. */
static struct rlimit fsize_was; /* the process's own, restored by lift_fsize and teardown */

static void lift_fsize(int sig)
{
	(void)sig;
	setrlimit(RLIMIT_FSIZE, &fsize_was);
}

static int restore_fsize(void **state)
{
	(void)state;
	signal(SIGXFSZ, SIG_DFL);
	return setrlimit(RLIMIT_FSIZE, &fsize_was);
}

/* Counts the lines of text that are whole JSON lines; *cut: those cut short, *glued: those
 * holding the start of a second line. */
static int whole_lines(char *text, int *cut, int *glued)
{
	int whole = 0;
	char *line, *save = NULL;

	*cut = *glued = 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line + 1, "{\""))
			(*glued)++;
		else if (line[0] == '{' && line[strlen(line) - 1] == '}')
			whole++;
		else
			(*cut)++;
	}
	return whole;
}

static void test_disk_full(void **state)
{
	struct sigaction sa = {.sa_handler = lift_fsize};
	struct rlimit lim;
	char *text;
	int lines, cut, glued, whole;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &fsize_was), 0);
	if (fsize_was.rlim_cur != RLIM_INFINITY && fsize_was.rlim_cur < (1u << 20))
		skip(); /* a limit of the runner's own below what the test writes */
	lim = (struct rlimit){1000, fsize_was.rlim_max};
	assert_int_equal(sigaction(SIGXFSZ, &sa, NULL), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	/* 1024 lines of ~150 bytes: three batches, the first cut at byte 1000 */
	text = run(1024, 1000000, LOG_FORMAT_JSON, &lines);
	whole = whole_lines(text, &cut, &glued);
	assert_int_equal(glued, 0);
	assert_int_equal(cut, 1);
	assert_true(whole > 500 && whole < 1024); /* the first batch's rest is lost */
}

/* A file that an earlier process left cut inside a line gets that line ended first. */
static void test_cut_before(void **state)
{
	char *text;
	int lines, cut, glued;

	(void)state;
	text = run_after("{\"ts\":1.5,\"lev", 3, 1000, LOG_FORMAT_JSON, &lines);
	assert_int_equal(lines, 4);
	assert_int_equal(whole_lines(text, &cut, &glued), 3);
	assert_int_equal(glued, 0);
	assert_int_equal(cut, 1);
}

static void test_off(void **state)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct accesslog *al = (struct accesslog *)1;
	char err[64];

	(void)state;
	assert_int_equal(accesslog_new(cfg, 1, &al, err, sizeof(err)), 0);
	assert_null(al);
	assert_null(accesslog_ring(NULL, 0));
	accesslog_session_start(NULL, NULL); /* the workers' calls are no-ops when off */
	accesslog_free(NULL);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),    cmocka_unit_test(test_file),
	    cmocka_unit_test(test_full_ring), cmocka_unit_test(test_rate),
	    cmocka_unit_test_teardown(test_disk_full, restore_fsize),
	    cmocka_unit_test(test_cut_before),
	    cmocka_unit_test(test_off),
	};

	log_force_output(LOG_OUT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
