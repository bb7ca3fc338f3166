// SPDX-License-Identifier: MIT
/* Prometheus exposition from an in-memory snapshot: exact sample lines, HELP/TYPE pairs,
 * label escaping, NaN/Inf values, the filter family only when the filter is on. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filter.h"
#include "metrics.h"
#include "snapshot.h"

struct fixture {
	struct relay_counters counters[2][2]; /* [worker][relay] */
	struct snapshot_worker workers[2];
	const char *names[2];
	uint64_t filter[FILTER_CNT__MAX];
	struct snapshot s;
	char *text;
	size_t len;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint32_t w;

	if (!f)
		return -1;
	f->names[0] = "dns";
	f->names[1] = "we\"ird\\na\nme";
	for (w = 0; w < 2; w++) {
		f->workers[w].id = w;
		f->workers[w].relays = f->counters[w];
	}
	f->workers[0].heartbeat_age = 0.25;
	f->workers[1].heartbeat_age = NAN;
	f->workers[0].started_age = 100;
	f->workers[1].started_age = 7.5;
	f->workers[0].loops = 400;
	f->workers[0].completions = 10000;
	f->workers[1].rearms = 7;
	f->workers[1].refreshes = 5;
	f->workers[0].cq_overflow = 3;
	f->workers[1].cq_dropped = 2;
	f->counters[0][0].dir[RELAY_DIR_TO_UPSTREAM].rx_pkts = 10;
	f->counters[0][0].dir[RELAY_DIR_TO_UPSTREAM].rx_bytes = 1000;
	f->counters[0][0].dir[RELAY_DIR_TO_UPSTREAM].tx_pkts = 9;
	f->counters[0][0].dir[RELAY_DIR_TO_UPSTREAM].tx_bytes = 900;
	f->counters[0][0].dir[RELAY_DIR_TO_CLIENT].rx_pkts = 8;
	f->counters[0][0].dir[RELAY_DIR_TO_CLIENT].rx_bytes = 800;
	f->counters[0][0].dir[RELAY_DIR_TO_CLIENT].tx_pkts = 7;
	f->counters[0][0].dir[RELAY_DIR_TO_CLIENT].tx_bytes = 700;
	f->counters[1][0].dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_TRUNCATED] = 3;
	f->counters[1][0].dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_SOCKET_OVERFLOW] =
		18446744073709551615ull;
	f->counters[1][0].dir[RELAY_DIR_TO_CLIENT].drops[DROP_SEND_ERROR] = 4;
	f->counters[1][0].dir[RELAY_DIR_TO_CLIENT].send_errs[SEND_ERR_ENOBUFS] = 3;
	f->counters[1][0].dir[RELAY_DIR_TO_CLIENT].send_errs[SEND_ERR_EPERM] = 1;
	f->counters[1][0].dir[RELAY_DIR_TO_UPSTREAM].extra_copies = 12;
	f->counters[0][1].upstream_unreachable_notices = 13;
	f->counters[0][1].buffer_ring_empty = 14;
	f->counters[0][1].sessions_active = 5;
	f->counters[0][1].sessions_created = 6;
	f->counters[0][1].sessions_expired = 1;
	f->filter[FILTER_CNT_DROP_PREFIX] = 42;
	f->s = (struct snapshot){
		.version = "1.0-test",
		.start_time = 1763787242.125,
		.last_reload_success = 1763787300.5,
		.reloads_ok = 2,
		.reloads_partial = 4,
		.reloads_failed = 1,
		.steering = "cpu",
		.steering_why = "steering = \"cpu\"",
		.n_relays = 2,
		.relay_names = f->names,
		.n_workers = 2,
		.workers = f->workers,
		.filter_counters = NULL,
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->text);
	free(f);
	return 0;
}

static void render(struct fixture *f)
{
	FILE *out;

	free(f->text);
	f->text = NULL;
	out = open_memstream(&f->text, &f->len);
	assert_non_null(out);
	assert_int_equal(metrics_format(&f->s, true, out), 0);
	assert_int_equal(fclose(out), 0);
}

/* The exposition contains line exactly (between newlines). */
static bool has_line(const struct fixture *f, const char *line)
{
	size_t n = strlen(line);
	const char *p = f->text;

	while ((p = strstr(p, line))) {
		if ((p == f->text || p[-1] == '\n') && p[n] == '\n')
			return true;
		p++;
	}
	return false;
}

static void expect_line(const struct fixture *f, const char *line)
{
	if (!has_line(f, line))
		fail_msg("missing line '%s' in:\n%s", line, f->text);
}

static void test_exact_lines(void **state)
{
	struct fixture *f = *state;
	static const char *const lines[] = {
		"ringrelay_build_info{version=\"1.0-test\"} 1",
		"ringrelay_start_time_seconds 1763787242.125",
		"ringrelay_steering_by_cpu 1",
		"ringrelay_config_reloads_total{result=\"success\"} 2",
		"ringrelay_config_reloads_total{result=\"partial\"} 4",
		"ringrelay_config_reloads_total{result=\"failure\"} 1",
		"ringrelay_config_last_reload_success_timestamp_seconds 1763787300.5",
		"ringrelay_worker_heartbeat_age_seconds{worker=\"0\"} 0.25",
		"# TYPE ringrelay_worker_loops_total counter",
		"ringrelay_worker_loops_total{worker=\"0\"} 400",
		"ringrelay_worker_completions_total{worker=\"0\"} 10000",
		"ringrelay_worker_completions_total{worker=\"1\"} 0",
		"ringrelay_worker_rearms_total{worker=\"0\"} 0",
		"ringrelay_worker_rearms_total{worker=\"1\"} 7",
		"ringrelay_worker_refreshes_total{worker=\"0\"} 0",
		"ringrelay_worker_refreshes_total{worker=\"1\"} 5",
		"ringrelay_worker_cq_overflow_total{worker=\"0\"} 3",
		"ringrelay_worker_cq_overflow_total{worker=\"1\"} 0",
		"ringrelay_worker_cq_dropped_total{worker=\"0\"} 0",
		"ringrelay_worker_cq_dropped_total{worker=\"1\"} 2",
		"ringrelay_datagrams_total{relay=\"dns\",worker=\"0\",direction=\"client_in\"} 10",
		"ringrelay_datagrams_total{relay=\"dns\",worker=\"0\",direction=\"upstream_out\"} 9",
		"ringrelay_datagrams_total{relay=\"dns\",worker=\"0\",direction=\"upstream_in\"} 8",
		"ringrelay_datagrams_total{relay=\"dns\",worker=\"0\",direction=\"client_out\"} 7",
		"ringrelay_bytes_total{relay=\"dns\",worker=\"0\",direction=\"client_in\"} 1000",
		"ringrelay_bytes_total{relay=\"dns\",worker=\"0\",direction=\"client_out\"} 700",
		"ringrelay_datagrams_total{relay=\"dns\",worker=\"1\",direction=\"client_in\"} 0",
		"ringrelay_dropped_datagrams_total{relay=\"dns\",worker=\"1\",direction=\"to_upstream\","
		"reason=\"truncated\"} 3",
		"ringrelay_dropped_datagrams_total{relay=\"dns\",worker=\"1\",direction=\"to_upstream\","
		"reason=\"socket_receive_overflow\"} 18446744073709551615",
		"ringrelay_dropped_datagrams_total{relay=\"dns\",worker=\"1\",direction=\"to_client\","
		"reason=\"send_error\"} 4",
		"ringrelay_dropped_datagrams_total{relay=\"dns\",worker=\"0\",direction=\"to_upstream\","
		"reason=\"session_table_full\"} 0",
		"# TYPE ringrelay_send_errors_total counter",
		"ringrelay_send_errors_total{relay=\"dns\",worker=\"1\",direction=\"to_client\","
		"errno=\"ENOBUFS\"} 3",
		"ringrelay_send_errors_total{relay=\"dns\",worker=\"1\",direction=\"to_client\","
		"errno=\"EPERM\"} 1",
		"ringrelay_send_errors_total{relay=\"dns\",worker=\"1\",direction=\"to_client\","
		"errno=\"other\"} 0",
		"ringrelay_send_errors_total{relay=\"dns\",worker=\"0\",direction=\"to_upstream\","
		"errno=\"none\"} 0",
		"# HELP ringrelay_dropped_datagrams_total Datagrams the relay dropped, by direction "
		"(to_upstream, to_client) and reason.",
		"# TYPE ringrelay_dropped_datagrams_total counter",
		"ringrelay_mirror_extra_datagrams_total{relay=\"dns\",worker=\"1\"} 12",
		"# TYPE ringrelay_mirror_extra_datagrams_total counter",
		"ringrelay_upstream_unreachable_notices_total{relay=\"we\\\"ird\\\\na\\nme\","
		"worker=\"0\"} 13",
		"# TYPE ringrelay_upstream_unreachable_notices_total counter",
		"ringrelay_buffer_ring_empty_events_total{relay=\"we\\\"ird\\\\na\\nme\",worker=\"0\"} 14",
		"# TYPE ringrelay_buffer_ring_empty_events_total counter",
		"# TYPE ringrelay_sessions_active gauge",
		"# TYPE ringrelay_datagrams_total counter",
	};
	size_t i;

	render(f);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		expect_line(f, lines[i]);
}

static void test_every_drop_reason(void **state)
{
	struct fixture *f = *state;
	char line[256];
	int d, dir;

	render(f);
	for (dir = 0; dir < RELAY_DIR__MAX; dir++)
		for (d = 0; d < DROP__MAX; d++) {
			/* per relay, in ringrelay_shed_datagrams_total */
			if (d == DROP_SHED_FULL_SOCKET || d == DROP_SHED_HEAVY_FLOW)
				continue;
			snprintf(line, sizeof(line),
				 "ringrelay_dropped_datagrams_total{relay=\"dns\",worker=\"0\","
				 "direction=\"%s\",reason=\"%s\"} 0",
				 relay_dir_name((enum relay_dir)dir),
				 drop_reason_name((enum drop_reason)d));
			expect_line(f, line);
		}
	/* No shedding data in the snapshot: 0 for every relay. */
	expect_line(f, "ringrelay_shed_datagrams_total{relay=\"dns\",reason=\"full_socket\"} 0");
}

static void test_label_escaping(void **state)
{
	struct fixture *f = *state;

	render(f);
	expect_line(f, "ringrelay_sessions_active{relay=\"we\\\"ird\\\\na\\nme\",worker=\"0\"} 5");
	expect_line(f, "ringrelay_sessions_created_total{relay=\"we\\\"ird\\\\na\\nme\","
		       "worker=\"0\"} 6");
	expect_line(f, "ringrelay_sessions_expired_total{relay=\"we\\\"ird\\\\na\\nme\","
		       "worker=\"0\"} 1");
	/* No raw newline or quote inside a label value may survive. */
	assert_null(strstr(f->text, "ird\\na\nme"));
}

/* Interface names are any bytes but '/', ':' and white space: one that is not UTF-8 must not
 * make Prometheus reject the whole scrape. Well-formed multi-byte sequences stay as they are. */
static void test_label_utf8(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	metrics_format_label(out, "e\xffth\xc3\xa9\xe2\x82"); /* bad byte, é, cut sequence */
	fputc('|', out);
	/* a surrogate (3 bytes), an overlong '/' (2), past U+10FFFF (4): one U+FFFD a byte */
	metrics_format_label(out, "\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80x");
	assert_int_equal(fclose(out), 0);
	assert_string_equal(buf, "e\xef\xbf\xbdth\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd|"
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
	free(buf);
}

static void test_special_values(void **state)
{
	struct fixture *f = *state;
	FILE *out;
	char *buf = NULL;
	size_t len = 0;

	render(f);
	/* never turned: the age since it started, so "> 5" alerts fire (NaN compares false) */
	expect_line(f, "ringrelay_worker_heartbeat_age_seconds{worker=\"1\"} 7.5");

	out = open_memstream(&buf, &len);
	assert_non_null(out);
	metrics_format_value(out, INFINITY);
	fputc(' ', out);
	metrics_format_value(out, -INFINITY);
	fputc(' ', out);
	metrics_format_value(out, 3.0);
	fputc(' ', out);
	metrics_format_value(out, 0.001);
	fputc(' ', out);
	metrics_format_value(out, NAN);
	fclose(out);
	assert_string_equal(buf, "+Inf -Inf 3 0.001 NaN");
	free(buf);
}

static void test_filter_family(void **state)
{
	struct fixture *f = *state;
	char line[160];
	int c;

	render(f);
	assert_null(strstr(f->text, "ringrelay_filter_packets_total"));

	f->s.filter_counters = f->filter;
	render(f);
	expect_line(f, "# TYPE ringrelay_filter_packets_total counter");
	expect_line(f, "ringrelay_filter_packets_total{verdict=\"drop\",reason=\"prefix\"} 42");
	expect_line(f, "ringrelay_filter_packets_total{verdict=\"allow\",reason=\"rules\"} 0");
	for (c = 0; c < FILTER_CNT__MAX; c++) {
		const char *name = filter_counter_name((enum filter_counter)c);
		const char *us = strchr(name, '_');

		snprintf(line, sizeof(line),
			 "ringrelay_filter_packets_total{verdict=\"%.*s\",reason=\"%s\"} ",
			 us ? (int)(us - name) : (int)strlen(name), name, us ? us + 1 : "rules");
		assert_non_null(strstr(f->text, line));
	}
}

/* The lookups of upstream names: per relay with names only, none of the families without
 * one. */
static void test_lookup_families(void **state)
{
	struct fixture *f = *state;
	struct snapshot_lookups l[2] = { { .names = true, .made = 12, .failed = 2, .new_sets = 3,
					   .failing = 1 },
					 { .names = false } };

	f->s.lookups = l;
	render(f);
	expect_line(f, "# TYPE ringrelay_upstream_lookups_total counter");
	expect_line(f, "ringrelay_upstream_lookups_total{relay=\"dns\"} 12");
	expect_line(f, "ringrelay_upstream_lookup_failures_total{relay=\"dns\"} 2");
	expect_line(f, "ringrelay_upstream_address_changes_total{relay=\"dns\"} 3");
	expect_line(f, "# TYPE ringrelay_upstream_lookups_failing gauge");
	expect_line(f, "ringrelay_upstream_lookups_failing{relay=\"dns\"} 1");
	assert_null(strstr(f->text, "ringrelay_upstream_lookups_total{relay=\"we"));
	l[0].names = false;
	render(f);
	assert_null(strstr(f->text, "lookup"));
	f->s.lookups = NULL;
}

/* Every sample's family has exactly one HELP and one TYPE line, before its samples, and every
 * name carries the prefix; counters end in _total. */
static void test_families_well_formed(void **state)
{
	struct fixture *f = *state;
	char *copy, *line, *save = NULL;
	struct snapshot_lookups l[2] = { { .names = true, .made = 1 }, { .names = false } };
	char typed[48][96];
	char kinds[48][16];
	int n = 0, i, helps = 0;

	f->s.filter_counters = f->filter;
	f->s.lookups = l;
	render(f);
	f->s.lookups = NULL;
	copy = strdup(f->text);
	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96], kind[16];

		if (sscanf(line, "# TYPE %95s %15s", name, kind) == 2) {
			for (i = 0; i < n; i++)
				assert_string_not_equal(typed[i], name);
			assert_true(n < 48);
			strcpy(typed[n], name);
			strcpy(kinds[n], kind);
			n++;
			continue;
		}
		if (!strncmp(line, "# HELP ", 7)) {
			helps++;
			continue;
		}
		assert_int_equal(strncmp(line, "ringrelay_", 10), 0);
		/* The sample belongs to the most recent TYPE line. */
		assert_true(n > 0);
		size_t k = strlen(typed[n - 1]);

		assert_int_equal(strncmp(line, typed[n - 1], k), 0);
		assert_true(line[k] == '{' || line[k] == ' ');
		if (!strcmp(kinds[n - 1], "counter"))
			assert_non_null(strstr(typed[n - 1], "_total"));
	}
	assert_int_equal(helps, n);
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exact_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_drop_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_escaping, setup, teardown),
		cmocka_unit_test(test_label_utf8),
		cmocka_unit_test_setup_teardown(test_special_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_families, setup, teardown),
		cmocka_unit_test_setup_teardown(test_families_well_formed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
