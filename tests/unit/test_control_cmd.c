// SPDX-License-Identifier: MIT
/* The control protocol's commands against a daemon state with a config and no workers:
 * request parsing and its error messages (as the daemon sent them before the command table,
 * commit 721ee95), "ok LENGTH" framing, each command reaching its view, a failed reload being
 * reported and counted, and the access levels (control_level_of, permission denied). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "app.h"
#include "control_cmd.h"

#define USAGE                                                                                      \
	"error: usage: status | stats | sessions [RELAY] | upstreams [RELAY] | upstream "        \
	"disable|enable RELAY ADDRESS | reload | filter, each optionally followed by ' json'\n"
#define UNKNOWN(c) "error: unknown command '" c "' (status, stats, sessions, upstreams, upstream, reload, filter)\n"

static const char conf[] =
	"control_socket = \"/tmp/ringrelay-test-unused.sock\";\n"
	"relays = (\n"
	" { name = \"r1\"; listen = [ \"198.18.1.2:5000\" ];\n"
	"   upstreams = [ \"198.18.2.2:9000\" ]; },\n"
	" { name = \"r2\"; listen = [ \"[2001:2:0:1::2]:5000\" ];\n"
	"   upstreams = [ \"[2001:2:0:2::2]:53\" ]; }\n"
	");\n";

static int setup(void **state)
{
	struct app *a = calloc(1, sizeof(*a));
	char err[CONFIG_ERR_LEN];

	if (!a || config_load_string(conf, "t.conf", &a->rt.cfg, err, sizeof(err)))
		return -1;
	pthread_mutex_init(&a->lock, NULL);
	a->config_path = "/nonexistent/ringrelay-test.conf";
	a->rt.backend = IO_BACKEND_MMSG;
	a->start_time = a->last_reload_success = app_now();
	*state = a;
	return 0;
}

static int teardown(void **state)
{
	struct app *a = *state;

	config_free(a->rt.cfg);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return 0;
}

/* An "ok LENGTH" answer's LENGTH must be its body's; returned as "ok" and the body, which the
 * cases compare. */
static char *ok_length_checked(char *text, size_t len)
{
	char *nl = strchr(text, '\n'), *end;
	unsigned long long n;

	if (strncmp(text, "ok", 2) || !nl)
		return text;
	assert_memory_equal(text, "ok ", 3);
	n = strtoull(text + 3, &end, 10);
	assert_ptr_equal(end, nl);
	assert_int_equal(n, len - (size_t)(nl + 1 - text));
	memmove(text + 2, nl, len - (size_t)(nl - text) + 1);
	return text;
}

/* The whole answer to line for a peer of level. */
static char *run_as(struct app *a, const char *line, enum control_level level)
{
	struct control_pending pend;
	char buf[600], *text = NULL;
	size_t len = 0;
	FILE *out;

	snprintf(buf, sizeof(buf), "%s", line);
	out = open_memstream(&text, &len);
	assert_non_null(out);
	/* no admin thread here: a reload runs at once */
	assert_false(control_cmd_run(a, buf, level, out, &pend));
	assert_int_equal(fclose(out), 0);
	return ok_length_checked(text, len);
}

/* The whole answer to line for root. */
static char *run(struct app *a, const char *line)
{
	return run_as(a, line, CONTROL_ADMIN);
}

static void test_answers(void **state)
{
	static const struct {
		const char *line;
		const char *want; /* the whole answer */
	} cases[] = {
		/* requests that are not one */
		{ "", USAGE },
		{ "   \t\r\n", USAGE },
		{ "a b c d e", USAGE },
		{ "sessions a b", "error: usage: sessions [RELAY]\n" },
		{ "status json extra words", "error: status takes no argument\n" },
		{ "bogus", UNKNOWN("bogus") },
		{ "bogus json", UNKNOWN("bogus") },
		{ "json", UNKNOWN("json") },
		{ "STATUS", UNKNOWN("STATUS") },
		{ "status extra", "error: status takes no argument\n" },
		{ "status json json", "error: status takes no argument\n" },
		{ "reload x", "error: reload takes no argument\n" },
		{ "bogus extra", UNKNOWN("bogus") }, /* a typo is named as one, arguments or not */
		/* commands that answer from this state */
		{ "filter", "ok\nfilter: off\n" },
		{ "filter json", "ok\n{\"mode\": \"off\"}\n" },
		{ "filter\tjson\r\n", "ok\n{\"mode\": \"off\"}\n" },
		{ "sessions", "ok\nRELAY  CLIENT  LOCAL  UPSTREAM  WORKER  IDLE\n0 sessions\n" },
		{ "sessions r2", "ok\nRELAY  CLIENT  LOCAL  UPSTREAM  WORKER  IDLE\n0 sessions\n" },
		{ "sessions json", "ok\n{\"total\": 0, \"shown\": 0, \"sessions\": []}\n" },
		{ "sessions nosuch", "error: no relay named 'nosuch'\n" },
		{ "sessions nosuch json", "error: no relay named 'nosuch'\n" },
		{ "stats",
		  "ok\ntraffic\n"
		  "RELAY  WORKER  CLIENT_IN  BYTES  UPSTREAM_OUT  BYTES  UPSTREAM_IN  BYTES  "
		  "CLIENT_OUT  BYTES  SESSIONS  CREATED  EXPIRED  EVICTED  MOVED\n"
		  "r1     all             0      0             0      0            0      0  "
		  "         0      0         0        0        0        0      0\n"
		  "r2     all             0      0             0      0            0      0  "
		  "         0      0         0        0        0        0      0\n"
		  "\ndrops\n"
		  "RELAY  WORKER  DIRECTION    TRUNCATED  SESSION_TABLE_FULL  SEND_ERROR  "
		  "UPSTREAM_UNREACHABLE  SOCKET_RECEIVE_OVERFLOW  SESSION_SOCKET_ERROR  "
		  "SESSION_CLOSED  SOURCE_SESSION_LIMIT  MIRROR_REPLY\n"
		  "r1     all     to_upstream          0                   0           0  "
		  "                   0                        0                     0  "
		  "             0                     0             0\n"
		  "r1     all     to_client            0                   0           0  "
		  "                   0                        0                     0  "
		  "             0                     0             0\n"
		  "r2     all     to_upstream          0                   0           0  "
		  "                   0                        0                     0  "
		  "             0                     0             0\n"
		  "r2     all     to_client            0                   0           0  "
		  "                   0                        0                     0  "
		  "             0                     0             0\n"
		  "\nevents\n"
		  "RELAY  WORKER  MIRROR_EXTRA_COPIES  UNREACHABLE_NOTICES  BUFFER_RING_EMPTY\n"
		  "r1     all                       0                    0                  0\n"
		  "r2     all                       0                    0                  0\n" },
	};
	struct app *a = *state;
	size_t i;
	char *text;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = run(a, cases[i].line);
		if (strcmp(text, cases[i].want))
			fail_msg("'%s': got\n%s\nwant\n%s", cases[i].line, text, cases[i].want);
		free(text);
	}
}

static void test_status(void **state)
{
	struct app *a = *state;
	char want[64], *text;

	text = run(a, "status");
	assert_memory_equal(text, "ok\nversion    ", 14);
	snprintf(want, sizeof(want), "\npid        %d\n", (int)getpid());
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "\nconfig     /nonexistent/ringrelay-test.conf\n"));
	assert_non_null(strstr(text, "\nbackend    mmsg\n"));
	assert_non_null(strstr(text, "\nfilter     off\n"));
	assert_non_null(strstr(text, "\nWORKER  CPU  HEARTBEAT_AGE  LOOPS  COMPLETIONS  PER_LOOP\n\nRELAY"));
	/* status reads the listen interfaces' receive path when asked */
	assert_non_null(strstr(text, "\n\nreceive path\n"));
	free(text);

	text = run(a, "status json");
	snprintf(want, sizeof(want), "\"pid\": %d, ", (int)getpid());
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "\"workers\": [], \"relays\": [{\"name\": \"r1\""));
	assert_non_null(strstr(text, "\"last_result\": \"none\""));
	assert_non_null(strstr(text, "\"last_error\": \"\"}, \"receive_path\": {\"any_address\": "));
	assert_string_equal(text + strlen(text) - 4, "]}}\n");
	free(text);
}

/* The config file does not exist: the reload fails with the reason, the old config stays,
 * and status says so. */
static void test_failed_reload(void **state)
{
	struct app *a = *state;
	struct config *before = a->rt.cfg;
	char *text;

	text = run(a, "reload");
	assert_memory_equal(text, "error: /nonexistent/ringrelay-test.conf", 39);
	assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1); /* one line */
	free(text);
	text = run(a, "reload json");
	assert_memory_equal(text, "error: ", 7);
	free(text);
	assert_ptr_equal(a->rt.cfg, before);
	assert_int_equal(a->reloads_failed, 2);
	assert_int_equal(a->reloads_ok, 0);

	text = run(a, "status json");
	assert_non_null(
		strstr(text, "\"reloads\": {\"success\": 0, \"partial\": 0, \"failure\": 2, "));
	assert_non_null(strstr(text, "\"last_result\": \"failure\", \"last_error\": "
				     "\"/nonexistent/ringrelay-test.conf"));
	free(text);
	text = run(a, "status");
	assert_non_null(strstr(text, "\nreloads    0 succeeded, 0 applied with errors, 2 failed; "
				     "last: failed: "
				     "/nonexistent/ringrelay-test.conf"));
	free(text);
}

/* The longest line the transport passes (512 bytes) is parsed like any other; a message
 * quoting it is cut to CONFIG_ERR_LEN, never overflows. */
static void test_long_argument(void **state)
{
	struct app *a = *state;
	char line[512], msg[600], want[CONFIG_ERR_LEN + 16], *text;

	memset(line, 'x', sizeof(line));
	memcpy(line, "sessions ", 9);
	line[sizeof(line) - 1] = '\0';
	snprintf(msg, sizeof(msg), "no relay named '%s'", line + 9);
	snprintf(want, sizeof(want), "error: %.*s\n", CONFIG_ERR_LEN - 1, msg);
	text = run(a, line);
	assert_string_equal(text, want);
	free(text);
}

/* Who gets which level: root and the daemon's uid everything, a member of the read-only
 * group (primary or supplementary) the read commands, anyone else nothing. */
static void test_level_of(void **state)
{
	static const gid_t none[1] = { 0 }, groups[] = { 27, 100, 4242 };
	static const struct {
		uid_t uid;
		gid_t gid;
		const gid_t *groups;
		size_t n;
		gid_t ro;
		enum control_level want;
	} cases[] = {
		{ 0, 0, none, 0, (gid_t)-1, CONTROL_ADMIN },
		{ 0, 5, none, 0, 4242, CONTROL_ADMIN },
		{ 998, 998, none, 0, (gid_t)-1, CONTROL_ADMIN }, /* the daemon's own uid */
		{ 1000, 1000, none, 0, (gid_t)-1, CONTROL_DENIED },
		{ 1000, 4242, none, 0, 4242, CONTROL_READ },	  /* primary group */
		{ 1000, 1000, groups, 3, 4242, CONTROL_READ },	  /* supplementary */
		{ 1000, 1000, groups, 2, 4242, CONTROL_DENIED },
		{ 1000, 998, none, 0, 4242, CONTROL_DENIED }, /* the daemon's gid is no level */
		{ 65534, 65534, groups, 3, (gid_t)-1, CONTROL_DENIED },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (control_level_of(cases[i].uid, cases[i].gid, cases[i].groups, cases[i].n, 998,
				     cases[i].ro) != cases[i].want)
			fail_msg("case %zu: uid %u gid %u", i, (unsigned)cases[i].uid,
				 (unsigned)cases[i].gid);
}

/* A read-only peer gets the read commands' answers and "permission denied" for sessions
 * and reload (which then does not run); a denied peer gets nothing. */
static void test_levels(void **state)
{
	static const char denied_admin[] =
		"needs admin access (root or the daemon's user); this connection may run "
		"status, stats, upstreams, filter\n";
	struct app *a = *state;
	char *text, want[256];
	char list[64];

	text = run_as(a, "status", CONTROL_READ);
	assert_memory_equal(text, "ok\nversion", 10);
	free(text);
	text = run_as(a, "stats json", CONTROL_READ);
	assert_memory_equal(text, "ok\n{\"relays\"", 12);
	free(text);
	text = run_as(a, "filter", CONTROL_READ);
	assert_string_equal(text, "ok\nfilter: off\n");
	free(text);
	text = run_as(a, "sessions r1 json", CONTROL_READ);
	snprintf(want, sizeof(want), "error: permission denied: sessions %s", denied_admin);
	assert_string_equal(text, want);
	free(text);
	text = run_as(a, "reload", CONTROL_READ);
	snprintf(want, sizeof(want), "error: permission denied: reload %s", denied_admin);
	assert_string_equal(text, want);
	free(text);
	assert_int_equal(a->reloads_failed + a->reloads_ok, 0);
	text = run_as(a, "upstream disable r1 198.18.2.2:9000", CONTROL_READ);
	snprintf(want, sizeof(want), "error: permission denied: upstream %s", denied_admin);
	assert_string_equal(text, want);
	free(text);
	text = run_as(a, "upstreams r1", CONTROL_READ);
	assert_memory_equal(text, "ok\n", 3);
	free(text);
	/* usage errors are answered as they are, whatever the level */
	text = run_as(a, "bogus", CONTROL_DENIED);
	assert_string_equal(text, UNKNOWN("bogus"));
	free(text);
	text = run_as(a, "status", CONTROL_DENIED);
	assert_string_equal(text, "error: permission denied: status needs read access "
				  "(control_access.read_only_group)\n");
	free(text);
	control_cmd_list(CONTROL_ADMIN, list, sizeof(list));
	assert_string_equal(list, "status, stats, sessions, upstreams, upstream, reload, filter");
	control_cmd_list(CONTROL_DENIED, list, sizeof(list));
	assert_string_equal(list, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_argument, setup, teardown),
		cmocka_unit_test(test_level_of),
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
