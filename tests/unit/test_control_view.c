// SPDX-License-Identifier: MIT
/* The control answers, rendered from data made by hand: status, stats, sessions, filter and
 * reload, as tables and as JSON. The expected texts were produced by the control code before
 * it was split into commands, views and emitters (commit 721ee95) from this same data, so
 * they pin the bytes ringrelayctl prints and scripts parse. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "control_view.h"
#include "filter.h"
#include "rxreport.h"
#include "snapshot.h"
#include "worker.h"

static const char conf[] =
	"workers = 2;\n"
	"control_socket = \"/tmp/x.sock\";\n"
	"relays = (\n"
	" { name = \"dns\"; listen = [ \"198.18.1.2:5000\", \"[2001:2:0:1::2]:5000\" ];\n"
	"   upstreams = [ \"198.18.2.2:9000\", \"198.18.2.3:9001 weight=3\" ];\n"
	"   balance = \"maglev\"; session_timeout = 12.5; max_sessions = 100; },\n"
	" { name = \"m6.long-relay_name\"; mode = \"mirror\";"
	" listen = [ \"[2001:2:0:1::2]:5353\" ];\n"
	"   upstreams = [ \"[2001:2:0:2::2]:53\" ]; }\n"
	");\n"
	"filter = { interfaces = [ \"eth0\", \"veth1\" ]; mode = \"tc\"; default = \"deny\";\n"
	"  scope = \"udp\";\n"
	"  deny = [ \"198.18.1.8/29\", \"2001:2:0:9::/64\" ]; allow = [ \"198.18.0.0/15\" ];\n"
	"  ports = ( { ports = \"53\"; verdict = \"allow\"; },\n"
	"            { ports = \"1000-2000\"; verdict = \"deny\"; } );\n"
	"  rate_limit = { pps = 1000; burst = 50; }; };\n";

static const char *const relay_names[] = { "dns", "m6.long-relay_name" };

struct fixture {
	struct config *cfg;
	struct snapshot s;
	uint64_t filter_counters[FILTER_CNT__MAX];
	struct filter_stats st;
	struct session_info info[3];
	struct control_sessions ss;
	char *text;
	size_t len;
};

static struct session_info session(uint32_t relay, uint32_t worker, const char *client,
				   const char *local, const char *upstream, uint64_t idle_ms)
{
	struct session_info si = { .relay = relay, .worker = worker, .idle_ms = idle_ms };
	const char *why;

	assert_int_equal(addr_parse(client, &si.client, &why), 0);
	assert_int_equal(addr_parse(local, &si.local, &why), 0);
	assert_int_equal(addr_parse(upstream, &si.upstream, &why), 0);
	return si;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[CONFIG_ERR_LEN];
	struct snapshot *s;
	uint32_t w;
	int d;

	if (!f || config_load_string(conf, "h.conf", &f->cfg, err, sizeof(err)))
		return -1;
	/* The shared views show no shedding; test_shed_views turns it on. */
	f->cfg->relays[0].shed = f->cfg->relays[1].shed = SHED_OFF;
	s = &f->s;
	if (snapshot_alloc(s, 2, 2))
		return -1;
	s->cfg = f->cfg;
	s->version = "h-1.0";
	s->pid = 4242;
	s->now = 1763787300.25;
	s->start_time = 1763787000.5;
	s->uptime = 299.75;
	s->config_path = "/etc/ringrelay/ringrelay.conf";
	s->backend = "io_uring";
	s->last_reload_success = 1763787200.125;
	s->last_reload_error = "";
	s->relay_names[0] = relay_names[0];
	s->relay_names[1] = relay_names[1];
	for (w = 0; w < 2; w++) {
		struct relay_counters *c0 = &s->workers[w].relays[0];
		struct relay_counters *c1 = &s->workers[w].relays[1];
		struct relay_dir_counters *up = &c0->dir[RELAY_DIR_TO_UPSTREAM];
		struct relay_dir_counters *down = &c0->dir[RELAY_DIR_TO_CLIENT];

		s->workers[w].id = w;
		s->workers[w].cpu = (int)w * 3 + 1;
		up->rx_pkts = 10 + w;
		up->rx_bytes = 1000 + w;
		up->tx_pkts = 9;
		up->tx_bytes = 900;
		down->rx_pkts = 8;
		down->rx_bytes = 800 * (w + 1);
		down->tx_pkts = 7;
		down->tx_bytes = 18446744073709551000ull / 2;
		for (d = 0; d < DROP__MAX; d++) {
			up->drops[d] = (uint64_t)d * (w + 1);
			down->drops[d] = (uint64_t)d * 100;
		}
		c0->upstream_unreachable_notices = 31 + w;
		c0->buffer_ring_empty = 41;
		c0->sessions_active = 2;
		c0->sessions_created = 5;
		c0->sessions_expired = 3;
		c1->dir[RELAY_DIR_TO_UPSTREAM].rx_pkts = 123456789012ull;
		c1->dir[RELAY_DIR_TO_UPSTREAM].extra_copies = 246913578024ull;
		c1->dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_TRUNCATED] = 77;
		c1->sessions_active = 1;
	}
	s->workers[0].heartbeat_age = 0.25;
	s->workers[1].heartbeat_age = NAN;
	s->workers[0].loops = 400; /* 25 completions a loop */
	s->workers[0].completions = 10000;
	s->workers[0].rearms = 3;
	s->workers[0].refreshes = 2;
	for (d = 0; d < FILTER_CNT__MAX; d++)
		f->filter_counters[d] = f->st.counters[d] = (uint64_t)d * 1000 + 7;
	s->filter_counters = f->filter_counters;
	f->st.deny_hits[0] = 4;
	f->st.deny_hits[1] = 123456789;
	f->st.allow_hits[0] = 2;
	f->st.port_hits[0] = 9;
	f->info[0] = session(0, 0, "198.18.1.1:41000", "198.18.1.2:5000", "198.18.2.2:9000", 1234);
	f->info[1] = session(0, 1, "198.18.1.1:41001", "198.18.1.2:5000", "198.18.2.3:9001",
			     29999);
	f->info[2] = session(1, 1, "[2001:2:0:1::1]:41002", "[2001:2:0:1::2]:5353",
			     "[2001:2:0:2::2]:53", 5);
	f->ss = (struct control_sessions){ .info = f->info, .n = 3, .total = 3 };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->s.filter_counters = NULL; /* the fixture's own array */
	snapshot_fini(&f->s);
	config_free(f->cfg);
	free(f->text);
	free(f);
	return 0;
}

/* Parts that several answers share. */
#define STATUS_HEAD \
	"version    h-1.0\n" \
	"pid        4242\n" \
	"uptime     300 s\n" \
	"config     /etc/ringrelay/ringrelay.conf\n" \
	"backend    io_uring\n" \
	"filter     tc on eth0, veth1\n"

#define STATUS_WORKERS \
	"WORKER  CPU  HEARTBEAT_AGE  LOOPS  COMPLETIONS  PER_LOOP\n" \
	"     0    1        0.250 s    400        10000      25.0\n" \
	"     1    4          never      0            0         -\n"

#define STATUS_RELAYS \
	"RELAY               MODE     BALANCE  LISTEN                                UPSTREAMS" \
	"\n" \
	"dns                 forward  maglev   198.18.1.2:5000 [2001:2:0:1::2]:5000  " \
	"198.18.2.2:9000 198.18.2.3:9001 weight=3\n" \
	"m6.long-relay_name  mirror   rr       [2001:2:0:1::2]:5353                  " \
	"[2001:2:0:2::2]:53\n"

#define STATUS_JSON \
	"{\"version\": \"h-1.0\", \"pid\": 4242, \"start_time\": 1763787000.500, " \
	"\"uptime_seconds\": 299.750, \"config\": \"/etc/ringrelay/ringrelay.conf\", " \
	"\"backend\": \"io_uring\", \"workers\": [{\"id\": 0, \"cpu\": 1, " \
	"\"heartbeat_age_seconds\": 0.250, \"loops\": 400, \"completions\": 10000, " \
	"\"rearms\": 3, \"refreshes\": 2}, {\"id\": 1, \"cpu\": 4, " \
	"\"heartbeat_age_seconds\": null, \"loops\": 0, \"completions\": 0, \"rearms\": 0, " \
	"\"refreshes\": 0}], \"relays\": [{\"name\": \"dns\", " \
	"\"mode\": \"forward\", \"balance\": \"maglev\", \"session_timeout\": 12.500, " \
	"\"max_sessions\": 100, \"listen\": [\"198.18.1.2:5000\", \"[2001:2:0:1::2]:5000\"], " \
	"\"upstreams\": [{\"address\": \"198.18.2.2:9000\", \"weight\": 1}, " \
	"{\"address\": \"198.18.2.3:9001\", \"weight\": 3}]}, " \
	"{\"name\": \"m6.long-relay_name\", \"mode\": \"mirror\", \"balance\": \"rr\", " \
	"\"session_timeout\": 30.000, \"max_sessions\": 4096, " \
	"\"listen\": [\"[2001:2:0:1::2]:5353\"], " \
	"\"upstreams\": [{\"address\": \"[2001:2:0:2::2]:53\", \"weight\": 1}]}], " \
	"\"filter\": {\"mode\": \"tc\", \"interfaces\": [\"eth0\", \"veth1\"]}, "

#define STATS_TABLES \
	"traffic\n" \
	"RELAY               WORKER     CLIENT_IN  BYTES  UPSTREAM_OUT  BYTES  UPSTREAM_IN  " \
	"BYTES  CLIENT_OUT                 BYTES  SESSIONS  CREATED  EXPIRED  EVICTED  MOVED\n" \
	"dns                 0                 10   1000             9    900            8    " \
	"800           7   9223372036854775500         2        5        3        0      0\n" \
	"dns                 1                 11   1001             9    900            8   " \
	"1600           7   9223372036854775500         2        5        3        0      0\n" \
	"dns                 all               21   2001            18   1800           16   " \
	"2400          14  18446744073709551000         4       10        6        0      0\n" \
	"m6.long-relay_name  0       123456789012      0             0      0            0      " \
	"0           0                     0         1        0        0        0      0\n" \
	"m6.long-relay_name  1       123456789012      0             0      0            0      " \
	"0           0                     0         1        0        0        0      0\n" \
	"m6.long-relay_name  all     246913578024      0             0      0            0      " \
	"0           0                     0         2        0        0        0      0\n" \
	"\n" \
	"drops\n" \
	"RELAY               WORKER  DIRECTION    TRUNCATED  SESSION_TABLE_FULL  SEND_ERROR  " \
	"UPSTREAM_UNREACHABLE  SOCKET_RECEIVE_OVERFLOW  SESSION_SOCKET_ERROR  SESSION_CLOSED  " \
	"SOURCE_SESSION_LIMIT  MIRROR_REPLY\n" \
	"dns                 0       to_upstream          0                   1           2      " \
	"               3                        4                     5               " \
	"6                     7             8\n" \
	"dns                 0       to_client            0                 100         200      " \
	"             300                      400                   500             " \
	"600                   700           800\n" \
	"dns                 1       to_upstream          0                   2           4      " \
	"               6                        8                    10              " \
	"12                    14            16\n" \
	"dns                 1       to_client            0                 100         200      " \
	"             300                      400                   500             " \
	"600                   700           800\n" \
	"dns                 all     to_upstream          0                   3           6      " \
	"               9                       12                    15              " \
	"18                    21            24\n" \
	"dns                 all     to_client            0                 200         400      " \
	"             600                      800                  1000            " \
	"1200                  1400          1600\n" \
	"m6.long-relay_name  0       to_upstream         77                   0           0      " \
	"               0                        0                     0               " \
	"0                     0             0\n" \
	"m6.long-relay_name  0       to_client            0                   0           0      " \
	"               0                        0                     0               " \
	"0                     0             0\n" \
	"m6.long-relay_name  1       to_upstream         77                   0           0      " \
	"               0                        0                     0               " \
	"0                     0             0\n" \
	"m6.long-relay_name  1       to_client            0                   0           0      " \
	"               0                        0                     0               " \
	"0                     0             0\n" \
	"m6.long-relay_name  all     to_upstream        154                   0           0      " \
	"               0                        0                     0               " \
	"0                     0             0\n" \
	"m6.long-relay_name  all     to_client            0                   0           0      " \
	"               0                        0                     0               " \
	"0                     0             0\n" \
	"\n" \
	"events\n" \
	"RELAY               WORKER  MIRROR_EXTRA_COPIES  UNREACHABLE_NOTICES  " \
	"BUFFER_RING_EMPTY\n" \
	"dns                 0                         0                   31                 " \
	"41\n" \
	"dns                 1                         0                   32                 " \
	"41\n" \
	"dns                 all                       0                   63                 " \
	"82\n" \
	"m6.long-relay_name  0              246913578024                    0                  " \
	"0\n" \
	"m6.long-relay_name  1              246913578024                    0                  " \
	"0\n" \
	"m6.long-relay_name  all            493827156048                    0                  " \
	"0\n"

#define FILTER_COUNTERS \
	"COUNTER                   PACKETS\n" \
	"pass_not_ip                     7\n" \
	"pass_not_udp                 1007\n" \
	"pass_out_of_scope            2007\n" \
	"pass_unparsed                3007\n" \
	"pass_fragment                4007\n" \
	"allow                        5007\n" \
	"drop_prefix                  6007\n" \
	"drop_default                 7007\n" \
	"drop_port                    8007\n" \
	"drop_not_relay_port          9007\n" \
	"drop_rate                   10007\n" \
	"drop_malformed              11007\n" \
	"drop_fragment               12007\n" \
	"drop_fragment_of_dropped    13007\n" \
	"drop_ext_headers            14007\n" \
	"drop_unparsed               15007\n" \
	"pass_no_mac                 16007\n"

static const char want_status_none[] =
	STATUS_HEAD
	"reloads    0 succeeded, 0 applied with errors, 0 failed; last: none\n"
	"\n"
	STATUS_WORKERS
	"\n"
	STATUS_RELAYS;

static const char want_status_none_json[] =
	STATUS_JSON
	"\"reloads\": {\"success\": 0, \"partial\": 0, \"failure\": 0, "
	"\"last_success_time\": 1763787200.125, \"last_result\": \"none\", "
	"\"last_error\": \"\"}}\n";

static const char want_stats[] =
	STATS_TABLES
	"\n"
	"filter\n"
	FILTER_COUNTERS;

static const char want_stats_json[] =
	"{\"relays\": [{\"name\": \"dns\", \"total\": {\"rx_pkts\": 21, \"rx_bytes\": 2001, "
	"\"tx_pkts\": 18, \"tx_bytes\": 1800, \"reply_rx_pkts\": 16, \"reply_rx_bytes\": 2400, "
	"\"reply_tx_pkts\": 14, \"reply_tx_bytes\": 18446744073709551000, \"drops\": "
	"{\"truncated\": 0, \"session_table_full\": 3, \"send_error\": 6, "
	"\"upstream_unreachable\": 9, \"socket_receive_overflow\": 12, \"session_socket_error\": "
	"15, \"session_closed\": 18, \"source_session_limit\": 21, \"mirror_reply\": 24}, "
	"\"reply_drops\": "
	"{\"truncated\": 0, \"session_table_full\": "
	"200, \"send_error\": 400, \"upstream_unreachable\": 600, \"socket_receive_overflow\": "
	"800, \"session_socket_error\": 1000, \"session_closed\": 1200, \"source_session_limit\": "
	"1400, \"mirror_reply\": 1600}, \"mirror_extra_copies\": "
	"0, \"upstream_unreachable_notices\": 63, \"buffer_ring_empty\": 82, \"sessions_active\": "
	"4, \"sessions_created\": 10, \"sessions_expired\": 6, \"sessions_evicted\": 0, \"sessions_moved\": 0}, "
	"\"workers\": [{\"worker\": 0, "
	"\"rx_pkts\": 10, \"rx_bytes\": 1000, \"tx_pkts\": 9, \"tx_bytes\": 900, "
	"\"reply_rx_pkts\": 8, \"reply_rx_bytes\": 800, \"reply_tx_pkts\": 7, \"reply_tx_bytes\": "
	"9223372036854775500, \"drops\": {\"truncated\": 0, \"session_table_full\": 1, "
	"\"send_error\": 2, \"upstream_unreachable\": 3, \"socket_receive_overflow\": 4, "
	"\"session_socket_error\": 5, \"session_closed\": 6, \"source_session_limit\": 7, "
	"\"mirror_reply\": 8}, "
	"\"reply_drops\": {\"truncated\": 0, "
	"\"session_table_full\": 100, \"send_error\": 200, \"upstream_unreachable\": 300, "
	"\"socket_receive_overflow\": 400, \"session_socket_error\": 500, \"session_closed\": "
	"600, \"source_session_limit\": 700, \"mirror_reply\": 800}, \"mirror_extra_copies\": 0, "
	"\"upstream_unreachable_notices\": 31, "
	"\"buffer_ring_empty\": 41, \"sessions_active\": 2, \"sessions_created\": 5, "
	"\"sessions_expired\": 3, \"sessions_evicted\": 0, \"sessions_moved\": 0}, {\"worker\": 1, \"rx_pkts\": 11, "
	"\"rx_bytes\": 1001, "
	"\"tx_pkts\": 9, \"tx_bytes\": 900, \"reply_rx_pkts\": 8, \"reply_rx_bytes\": 1600, "
	"\"reply_tx_pkts\": 7, \"reply_tx_bytes\": 9223372036854775500, \"drops\": {\"truncated\": "
	"0, \"session_table_full\": 2, \"send_error\": 4, \"upstream_unreachable\": 6, "
	"\"socket_receive_overflow\": 8, \"session_socket_error\": 10, \"session_closed\": 12, "
	"\"source_session_limit\": 14, \"mirror_reply\": 16}, "
	"\"reply_drops\": {\"truncated\": 0, \"session_table_full\": 100, \"send_error\": 200, "
	"\"upstream_unreachable\": 300, \"socket_receive_overflow\": 400, "
	"\"session_socket_error\": 500, \"session_closed\": 600, "
	"\"source_session_limit\": 700, \"mirror_reply\": 800}, "
	"\"mirror_extra_copies\": 0, "
	"\"upstream_unreachable_notices\": 32, \"buffer_ring_empty\": 41, \"sessions_active\": 2, "
	"\"sessions_created\": 5, \"sessions_expired\": 3, \"sessions_evicted\": 0, \"sessions_moved\": 0}], "
	"\"upstreams\": []}, {\"name\": \"m6.long-relay_name\", "
	"\"total\": {\"rx_pkts\": 246913578024, \"rx_bytes\": 0, \"tx_pkts\": 0, \"tx_bytes\": 0, "
	"\"reply_rx_pkts\": 0, \"reply_rx_bytes\": 0, \"reply_tx_pkts\": 0, \"reply_tx_bytes\": 0, "
	"\"drops\": {\"truncated\": 154, \"session_table_full\": 0, \"send_error\": 0, "
	"\"upstream_unreachable\": 0, \"socket_receive_overflow\": 0, \"session_socket_error\": 0, "
	"\"session_closed\": 0, \"source_session_limit\": 0, \"mirror_reply\": 0}, "
	"\"reply_drops\": {\"truncated\": 0, "
	"\"session_table_full\": 0, "
	"\"send_error\": 0, \"upstream_unreachable\": 0, \"socket_receive_overflow\": 0, "
	"\"session_socket_error\": 0, \"session_closed\": 0, \"source_session_limit\": 0, "
	"\"mirror_reply\": 0}, "
	"\"mirror_extra_copies\": "
	"493827156048, \"upstream_unreachable_notices\": 0, \"buffer_ring_empty\": 0, "
	"\"sessions_active\": 2, \"sessions_created\": 0, \"sessions_expired\": 0, "
	"\"sessions_evicted\": 0, \"sessions_moved\": 0}, \"workers\": "
	"[{\"worker\": 0, \"rx_pkts\": 123456789012, \"rx_bytes\": 0, \"tx_pkts\": 0, "
	"\"tx_bytes\": 0, \"reply_rx_pkts\": 0, \"reply_rx_bytes\": 0, \"reply_tx_pkts\": 0, "
	"\"reply_tx_bytes\": 0, \"drops\": {\"truncated\": 77, \"session_table_full\": 0, "
	"\"send_error\": 0, \"upstream_unreachable\": 0, \"socket_receive_overflow\": 0, "
	"\"session_socket_error\": 0, \"session_closed\": 0, \"source_session_limit\": 0, "
	"\"mirror_reply\": 0}, "
	"\"reply_drops\": {\"truncated\": 0, "
	"\"session_table_full\": 0, \"send_error\": 0, \"upstream_unreachable\": 0, "
	"\"socket_receive_overflow\": 0, \"session_socket_error\": 0, \"session_closed\": 0, "
	"\"source_session_limit\": 0, \"mirror_reply\": 0}, "
	"\"mirror_extra_copies\": 246913578024, \"upstream_unreachable_notices\": 0, "
	"\"buffer_ring_empty\": 0, \"sessions_active\": 1, \"sessions_created\": 0, "
	"\"sessions_expired\": 0, \"sessions_evicted\": 0, \"sessions_moved\": 0}, {\"worker\": 1, \"rx_pkts\": "
	"123456789012, \"rx_bytes\": 0, "
	"\"tx_pkts\": 0, \"tx_bytes\": 0, \"reply_rx_pkts\": 0, \"reply_rx_bytes\": 0, "
	"\"reply_tx_pkts\": 0, \"reply_tx_bytes\": 0, \"drops\": {\"truncated\": 77, "
	"\"session_table_full\": 0, \"send_error\": 0, \"upstream_unreachable\": 0, "
	"\"socket_receive_overflow\": 0, \"session_socket_error\": 0, \"session_closed\": 0, "
	"\"source_session_limit\": 0, \"mirror_reply\": 0}, "
	"\"reply_drops\": {\"truncated\": 0, \"session_table_full\": 0, \"send_error\": 0, "
	"\"upstream_unreachable\": 0, \"socket_receive_overflow\": 0, \"session_socket_error\": 0, "
	"\"session_closed\": 0, \"source_session_limit\": 0, \"mirror_reply\": 0}, "
	"\"mirror_extra_copies\": "
	"246913578024, "
	"\"upstream_unreachable_notices\": 0, \"buffer_ring_empty\": 0, \"sessions_active\": 1, "
	"\"sessions_created\": 0, \"sessions_expired\": 0, \"sessions_evicted\": 0, \"sessions_moved\": 0}], "
	"\"upstreams\": []}], "
	"\"filter\": {\"pass_not_ip\": 7, "
	"\"pass_not_udp\": 1007, \"pass_out_of_scope\": 2007, \"pass_unparsed\": 3007, "
	"\"pass_fragment\": 4007, \"allow\": 5007, \"drop_prefix\": 6007, \"drop_default\": 7007, "
	"\"drop_port\": 8007, \"drop_not_relay_port\": 9007, \"drop_rate\": 10007, "
	"\"drop_malformed\": 11007, \"drop_fragment\": 12007, "
	"\"drop_fragment_of_dropped\": 13007, \"drop_ext_headers\": 14007, "
	"\"drop_unparsed\": 15007, \"pass_no_mac\": 16007}}\n";

static const char want_sessions[] =
	"RELAY               CLIENT                 LOCAL                 UPSTREAM            "
	"WORKER    IDLE\n"
	"dns                 198.18.1.1:41000       198.18.1.2:5000       198.18.2.2:9000          "
	"0   1.2 s\n"
	"dns                 198.18.1.1:41001       198.18.1.2:5000       198.18.2.3:9001          "
	"1  30.0 s\n"
	"m6.long-relay_name  [2001:2:0:1::1]:41002  [2001:2:0:1::2]:5353  [2001:2:0:2::2]:53       "
	"1   0.0 s\n"
	"3 sessions\n";

static const char want_sessions_json[] =
	"{\"total\": 3, \"shown\": 3, \"sessions\": [\n"
	" {\"relay\": \"dns\", \"worker\": 0, \"client\": \"198.18.1.1:41000\", "
	"\"local\": \"198.18.1.2:5000\", \"upstream\": \"198.18.2.2:9000\", "
	"\"idle_seconds\": 1.234},\n"
	" {\"relay\": \"dns\", \"worker\": 1, \"client\": \"198.18.1.1:41001\", "
	"\"local\": \"198.18.1.2:5000\", \"upstream\": \"198.18.2.3:9001\", "
	"\"idle_seconds\": 29.999},\n"
	" {\"relay\": \"m6.long-relay_name\", \"worker\": 1, "
	"\"client\": \"[2001:2:0:1::1]:41002\", \"local\": \"[2001:2:0:1::2]:5353\", "
	"\"upstream\": \"[2001:2:0:2::2]:53\", \"idle_seconds\": 0.005}]}\n";

static const char want_sessions_m6[] =
	"RELAY               CLIENT                 LOCAL                 UPSTREAM            "
	"WORKER   IDLE\n"
	"m6.long-relay_name  [2001:2:0:1::1]:41002  [2001:2:0:1::2]:5353  [2001:2:0:2::2]:53       "
	"1  0.0 s\n"
	"4 sessions, showing the first 1\n";

static const char want_sessions_m6_json[] =
	"{\"total\": 4, \"shown\": 1, \"sessions\": [\n"
	" {\"relay\": \"m6.long-relay_name\", \"worker\": 1, "
	"\"client\": \"[2001:2:0:1::1]:41002\", \"local\": \"[2001:2:0:1::2]:5353\", "
	"\"upstream\": \"[2001:2:0:2::2]:53\", \"idle_seconds\": 0.005}]}\n";

static const char want_filter[] =
	"mode        tc\n"
	"interfaces  eth0 veth1\n"
	"default     deny\n"
	"scope       udp\n"
	"rate        1000 pps, burst 50\n"
	"rules       2 deny, 1 allow, 2 ports\n"
	"\n"
	FILTER_COUNTERS
	"\n"
	"LIST   RULE             LINE       HITS\n"
	"deny   198.18.1.8/29    12            4\n"
	"deny   2001:2:0:9::/64  12    123456789\n"
	"allow  198.18.0.0/15    12            2\n"
	"ports  53-53 allow      13            9\n"
	"ports  1000-2000 deny   14            0\n";

static const char want_filter_json[] =
	"{\"mode\": \"tc\", \"interfaces\": [\"eth0\", \"veth1\"], \"default\": \"deny\", "
	"\"scope\": \"udp\", \"rate_pps\": 1000, \"rate_burst\": 50, "
	"\"rules\": {\"deny\": 2, \"allow\": 1, \"ports\": 2}, "
	"\"counters\": {\"pass_not_ip\": 7, \"pass_not_udp\": 1007, "
	"\"pass_out_of_scope\": 2007, \"pass_unparsed\": 3007, \"pass_fragment\": 4007, "
	"\"allow\": 5007, \"drop_prefix\": 6007, \"drop_default\": 7007, "
	"\"drop_port\": 8007, \"drop_not_relay_port\": 9007, \"drop_rate\": 10007, "
	"\"drop_malformed\": 11007, \"drop_fragment\": 12007, "
	"\"drop_fragment_of_dropped\": 13007, \"drop_ext_headers\": 14007, "
	"\"drop_unparsed\": 15007, \"pass_no_mac\": 16007}, "
	"\"deny\": [{\"prefix\": \"198.18.1.8/29\", \"line\": 12, \"hits\": 4}, "
	"{\"prefix\": \"2001:2:0:9::/64\", \"line\": 12, \"hits\": 123456789}], "
	"\"allow\": [{\"prefix\": \"198.18.0.0/15\", \"line\": 12, \"hits\": 2}], "
	"\"ports\": [{\"from\": 53, \"to\": 53, \"verdict\": \"allow\", \"line\": 13, "
	"\"hits\": 9}, {\"from\": 1000, \"to\": 2000, \"verdict\": \"deny\", \"line\": 14, "
	"\"hits\": 0}]}\n";

static const char want_reload[] =
	"reloaded /etc/ringrelay/ringrelay.conf\n";

static const char want_reload_json[] =
	"{\"result\": \"success\", \"config\": \"/etc/ringrelay/ringrelay.conf\", \"warnings\": "
	"[]}\n";

static const char want_reload_warned[] =
	"reloaded /etc/ringrelay/ringrelay.conf\n"
	"warning: workers changed: it takes effect after a restart\n"
	"warning: relay dns: max_sessions changed: it takes effect after a restart\n";

static const char want_reload_warned_json[] =
	"{\"result\": \"success\", \"config\": \"/etc/ringrelay/ringrelay.conf\", \"warnings\": "
	"[\"workers changed: it takes effect after a restart\", \"relay dns: max_sessions "
	"changed: it takes effect after a restart\"]}\n";

static const char want_status_failed[] =
	STATUS_HEAD
	"reloads    3 succeeded, 0 applied with errors, "
	"1 failed; last: failed: x.conf:3: io_backend: \"bogus\\\" \x01 is not caf\xc3\xa9"
	"\n"
	"\n"
	STATUS_WORKERS
	"\n"
	STATUS_RELAYS;

static const char want_status_failed_json[] =
	STATUS_JSON
	"\"reloads\": {\"success\": 3, \"partial\": 0, \"failure\": 1, "
	"\"last_success_time\": 1763787200.125, \"last_result\": \"failure\", "
	"\"last_error\": \"x.conf:3: io_backend: \\\"bogus\\\\\\\" \\u0001 is not caf\xc3\xa9\"}}"
	"\n";

#define PARTIAL_ERR "filter: mode or interfaces changed; restart to apply"

static const char want_status_partial[] =
	STATUS_HEAD
	"reloads    3 succeeded, 1 applied with errors, 1 failed; last: applied with an error: "
	PARTIAL_ERR "\n"
	"\n"
	STATUS_WORKERS
	"\n"
	STATUS_RELAYS;

static const char want_status_partial_json[] =
	STATUS_JSON
	"\"reloads\": {\"success\": 3, \"partial\": 1, \"failure\": 1, "
	"\"last_success_time\": 1763787200.125, \"last_result\": \"partial\", "
	"\"last_error\": \"" PARTIAL_ERR "\"}}\n";

static const char want_filter_off[] =
	"filter: off\n";

static const char want_filter_off_json[] =
	"{\"mode\": \"off\"}\n";

static const char want_stats_nofilter[] =
	STATS_TABLES;

static const char want_status_noworkers[] =
	"version    h-1.0\n"
	"pid        4242\n"
	"uptime     300 s\n"
	"config     \n"
	"backend    io_uring\n"
	"filter     tc on eth0, veth1\n"
	"reloads    3 succeeded, 0 applied with errors, 1 failed; last: succeeded\n"
	"\n"
	"WORKER  CPU  HEARTBEAT_AGE  LOOPS  COMPLETIONS  PER_LOOP\n"
	"\n"
	STATUS_RELAYS;

static const char want_stats_noworkers[] =
	"traffic\n"
	"RELAY               WORKER  CLIENT_IN  BYTES  UPSTREAM_OUT  BYTES  UPSTREAM_IN  BYTES  "
	"CLIENT_OUT  BYTES  SESSIONS  CREATED  EXPIRED  EVICTED  MOVED\n"
	"dns                 all             0      0             0      0            0      0     "
	"      0      0         0        0        0        0      0\n"
	"m6.long-relay_name  all             0      0             0      0            0      0     "
	"      0      0         0        0        0        0      0\n"
	"\n"
	"drops\n"
	"RELAY               WORKER  DIRECTION    TRUNCATED  SESSION_TABLE_FULL  SEND_ERROR  "
	"UPSTREAM_UNREACHABLE  SOCKET_RECEIVE_OVERFLOW  SESSION_SOCKET_ERROR  SESSION_CLOSED  "
	"SOURCE_SESSION_LIMIT  MIRROR_REPLY\n"
	"dns                 all     to_upstream          0                   0           0        "
	"             0                        0                     0               "
	"0                     0             0\n"
	"dns                 all     to_client            0                   0           0        "
	"             0                        0                     0               "
	"0                     0             0\n"
	"m6.long-relay_name  all     to_upstream          0                   0           0        "
	"             0                        0                     0               "
	"0                     0             0\n"
	"m6.long-relay_name  all     to_client            0                   0           0        "
	"             0                        0                     0               "
	"0                     0             0\n"
	"\n"
	"events\n"
	"RELAY               WORKER  MIRROR_EXTRA_COPIES  UNREACHABLE_NOTICES  BUFFER_RING_EMPTY\n"
	"dns                 all                       0                    0                  0\n"
	"m6.long-relay_name  all                       0                    0                  0\n";

/* Which answer to render from the fixture, after which change to it. */
enum view_case {
	VIEW_STATUS,
	VIEW_STATUS_FAILED,  /* reloads: 3 good, then a failure with a message to escape */
	VIEW_STATUS_PARTIAL, /* and one applied to the relays with an error, the last */
	VIEW_STATUS_NO_WORKERS, /* and no config path */
	VIEW_STATS,
	VIEW_STATS_NO_FILTER,
	VIEW_STATS_NO_WORKERS,
	VIEW_SESSIONS,
	VIEW_SESSIONS_SOME,	/* 1 shown of 4 */
	VIEW_FILTER,
	VIEW_FILTER_OFF,
	VIEW_RELOAD,
	VIEW_RELOAD_WARNED,
};

static const struct {
	const char *name;
	enum view_case what;
	bool json;
	const char *want;
} cases[] = {
	{ "status", VIEW_STATUS, false, want_status_none },
	{ "status json", VIEW_STATUS, true, want_status_none_json },
	{ "status after a failed reload", VIEW_STATUS_FAILED, false, want_status_failed },
	{ "status json after a failed reload", VIEW_STATUS_FAILED, true, want_status_failed_json },
	{ "status after a partial reload", VIEW_STATUS_PARTIAL, false, want_status_partial },
	{ "status json after a partial reload", VIEW_STATUS_PARTIAL, true,
	  want_status_partial_json },
	{ "status, no worker started", VIEW_STATUS_NO_WORKERS, false, want_status_noworkers },
	{ "stats", VIEW_STATS, false, want_stats },
	{ "stats json", VIEW_STATS, true, want_stats_json },
	{ "stats, filter off", VIEW_STATS_NO_FILTER, false, want_stats_nofilter },
	{ "stats, no worker started", VIEW_STATS_NO_WORKERS, false, want_stats_noworkers },
	{ "sessions", VIEW_SESSIONS, false, want_sessions },
	{ "sessions json", VIEW_SESSIONS, true, want_sessions_json },
	{ "sessions, 1 of 4 shown", VIEW_SESSIONS_SOME, false, want_sessions_m6 },
	{ "sessions json, 1 of 4 shown", VIEW_SESSIONS_SOME, true, want_sessions_m6_json },
	{ "filter", VIEW_FILTER, false, want_filter },
	{ "filter json", VIEW_FILTER, true, want_filter_json },
	{ "filter off", VIEW_FILTER_OFF, false, want_filter_off },
	{ "filter off json", VIEW_FILTER_OFF, true, want_filter_off_json },
	{ "reload", VIEW_RELOAD, false, want_reload },
	{ "reload json", VIEW_RELOAD, true, want_reload_json },
	{ "reload warned", VIEW_RELOAD_WARNED, false, want_reload_warned },
	{ "reload warned json", VIEW_RELOAD_WARNED, true, want_reload_warned_json },
};

static int render(struct fixture *f, enum view_case what, bool json, FILE *out)
{
	struct control_sessions some = { .info = &f->info[2], .n = 1, .total = 4 };

	switch (what) {
	case VIEW_STATUS_FAILED:
		f->s.reloads_ok = 3;
		f->s.reloads_failed = 1;
		f->s.last_reload_error =
			"x.conf:3: io_backend: \"bogus\\\" \x01 is not caf\xc3\xa9";
		return control_view_status(&f->s, json, out);
	case VIEW_STATUS_PARTIAL:
		f->s.reloads_ok = 3;
		f->s.reloads_partial = 1;
		f->s.reloads_failed = 1;
		f->s.last_reload_partial = true;
		f->s.last_reload_error = PARTIAL_ERR;
		/* fall through */
	case VIEW_STATUS:
		return control_view_status(&f->s, json, out);
	case VIEW_STATUS_NO_WORKERS:
		f->s.n_workers = 0;
		f->s.config_path = "";
		f->s.reloads_ok = 3;
		f->s.reloads_failed = 1;
		return control_view_status(&f->s, json, out);
	case VIEW_STATS_NO_FILTER:
		f->s.filter_counters = NULL;
		/* fall through */
	case VIEW_STATS:
		return control_view_stats(&f->s, json, out);
	case VIEW_STATS_NO_WORKERS:
		f->s.n_workers = 0;
		f->s.filter_counters = NULL;
		return control_view_stats(&f->s, json, out);
	case VIEW_SESSIONS:
		return control_view_sessions(&f->ss, f->cfg, json, out);
	case VIEW_SESSIONS_SOME:
		return control_view_sessions(&some, f->cfg, json, out);
	case VIEW_FILTER:
		return control_view_filter(&f->cfg->filter, &f->st, json, out);
	case VIEW_FILTER_OFF:
		return control_view_filter(&f->cfg->filter, NULL, json, out);
	case VIEW_RELOAD:
		return control_view_reload("/etc/ringrelay/ringrelay.conf", "", json, out);
	case VIEW_RELOAD_WARNED:
		/* as app_reload gives them: the answer tells ringrelayctl's caller too */
		return control_view_reload("/etc/ringrelay/ringrelay.conf",
					   "warning: workers changed: it takes effect after a "
					   "restart\nwarning: relay dns: max_sessions changed: it "
					   "takes effect after a restart\n",
					   json, out);
	}
	return -EINVAL;
}

static void test_answers(void **state)
{
	struct fixture *f;
	size_t i;
	FILE *out;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(setup(state), 0);
		f = *state;
		out = open_memstream(&f->text, &f->len);
		assert_non_null(out);
		assert_int_equal(render(f, cases[i].what, cases[i].json, out), 0);
		assert_int_equal(fclose(out), 0);
		if (strcmp(f->text, cases[i].want))
			fail_msg("%s: got\n%s\nwant\n%s", cases[i].name, f->text, cases[i].want);
		teardown(state);
	}
}

static char *render_text(int (*fn)(struct fixture *f, bool json, FILE *out), struct fixture *f,
			 bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	assert_int_equal(fn(f, json, out), 0);
	assert_int_equal(fclose(out), 0);
	return text;
}

static int view_status(struct fixture *f, bool json, FILE *out)
{
	return control_view_status(&f->s, json, out);
}

static int view_stats(struct fixture *f, bool json, FILE *out)
{
	return control_view_stats(&f->s, json, out);
}

static int view_sessions(struct fixture *f, bool json, FILE *out)
{
	return control_view_sessions(&f->ss, f->cfg, json, out);
}

static void expect_in(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("want \"%s\" in\n%s", want, text);
}

/* An upstream given by name shows as written, in the table and in JSON (not "(none)": it
 * has no address of its own). */
static void test_named_upstream(void **state)
{
	struct fixture *f;
	struct upstream_conf *u;
	char *text;

	assert_int_equal(setup(state), 0);
	f = *state;
	u = &f->cfg->relays[0].upstreams[1];
	memset(&u->addr, 0, sizeof(u->addr));
	u->is_name = true;
	snprintf(u->host, sizeof(u->host), "up.example");
	u->port = 9001;
	snprintf(u->text, sizeof(u->text), "up.example:9001");
	text = render_text(view_status, f, false);
	expect_in(text, "198.18.2.2:9000 up.example:9001 weight=3");
	free(text);
	text = render_text(view_status, f, true);
	expect_in(text, "{\"address\": \"up.example:9001\", \"weight\": 3}");
	free(text);
	teardown(state);
}

static int view_upstreams(struct fixture *f, bool json, FILE *out)
{
	return control_view_upstreams(&f->s, -1, json, out);
}

/* The lookups of a relay's upstream names: a line below the upstreams table naming the
 * names whose lookup fails (once, for all their addresses), and in JSON per relay (null for
 * a relay without names) and per upstream. */
static void test_upstream_lookups(void **state)
{
	static const char *const addrs[] = { "198.18.2.2:9000", "198.18.2.3:9000",
					     "[2001:2:0:2::2]:53" };
	struct fixture *f = *state;
	char *t;
	uint32_t u;

	assert_int_equal(snapshot_alloc_upstreams(&f->s, 3), 0);
	for (u = 0; u < 3; u++) {
		struct snapshot_upstream *su = &f->s.upstreams[u];

		su->relay = u == 2;
		snprintf(su->label, sizeof(su->label), "%s", u < 2 ? "up.example:9000" : addrs[u]);
		snprintf(su->address, sizeof(su->address), "%s", addrs[u]);
		su->weight = 1;
		su->enabled = su->usable = true;
		su->state = "up";
		su->lookup_failing = u < 2;
	}
	f->s.lookups[0] = (struct snapshot_lookups){ .names = true, .made = 40, .failed = 3,
						     .new_sets = 2, .failing = 1 };
	t = render_text(view_upstreams, f, false);
	expect_in(t, "\nrelay dns: names looked up 40 time(s), 3 failed, 2 new address set(s), 1 "
		     "failing now (last addresses kept): up.example:9000\n");
	assert_null(strstr(t, "relay m6.long-relay_name: names"));
	free(t);
	t = render_text(view_upstreams, f, true);
	expect_in(t, "{\"name\": \"dns\", \"panic\": false, \"max_sessions\": 0, \"lookups\": "
		     "{\"made\": 40, \"failed\": 3, \"new_sets\": 2, \"failing\": 1}}");
	expect_in(t, "\"max_sessions\": 0, \"lookups\": null}");
	expect_in(t, "\"address\": \"198.18.2.3:9000\", \"weight\": 1, \"state\": \"up\", "
		     "\"usable\": true, \"state_changed\": null, \"ejections\": 0, "
		     "\"lookup_failing\": true,");
	expect_in(t, "\"lookup_failing\": false,");
	free(t);
}

/* With the session fast path: status names each relay's mode and why, stats gains the
 * FAST_PATH columns and the fast path's table, sessions the PATH column. */
/* Early shedding: status per relay, the counters in stats, and the relay's total where the
 * shed datagrams count as received and dropped (the identity rx = tx + drops holds). */
/* The wall clock stepped back 10 minutes since the start (NTP, a host without an RTC): the
 * uptime is the one the snapshot measured on a clock no step moves, not now - start_time
 * (-300.25 s). */
static void test_uptime_clock_step(void **state)
{
	struct fixture *f = *state;
	char *t;

	f->s.now -= 600;
	t = render_text(view_status, f, false);
	expect_in(t, "uptime     300 s\n");
	free(t);
	t = render_text(view_status, f, true);
	expect_in(t, "\"uptime_seconds\": 299.750, ");
	free(t);
}

/* An upstream whose state changed 42 s ago, before the wall clock stepped back 10 minutes:
 * SINCE is the age on the boot clock, 42 s (before: now - changed on the wall clock,
 * "-558 s"); JSON keeps the unix time of the change as it was stamped. */
static void test_upstream_since_clock_step(void **state)
{
	struct fixture *f = *state;
	struct snapshot_upstream *su;
	char *t;

	assert_int_equal(snapshot_alloc_upstreams(&f->s, 1), 0);
	su = &f->s.upstreams[0];
	snprintf(su->label, sizeof(su->label), "198.18.2.2:9000");
	snprintf(su->address, sizeof(su->address), "198.18.2.2:9000");
	su->weight = 1;
	su->enabled = true;
	su->state = "ejected";
	su->changed = f->s.now - 42 + 600;
	f->s.boottime = 5000.5;
	su->changed_boot = f->s.boottime - 42;
	t = render_text(view_upstreams, f, false);
	expect_in(t, "  ejected  42 s  ");
	assert_null(strstr(t, "-558"));
	free(t);
	t = render_text(view_upstreams, f, true);
	expect_in(t, "\"state_changed\": 1763787858.250, ");
	free(t);
}

static void test_shed_views(void **state)
{
	struct fixture *f = *state;
	struct snapshot_shed *sh = calloc(2, sizeof(*sh));
	struct relay_counters total;
	char line[2048];
	char *t;
	int c;

	f->cfg->relays[0].shed = SHED_AUTO;
	sh[0] = (struct snapshot_shed){ true, "auto on veth-rc", 20, 5 };
	sh[1] = (struct snapshot_shed){ false, "shed = \"off\"", 0, 0 };
	f->s.shed = sh;
	f->s.shed_counters = calloc(SHED_CNT__MAX, sizeof(uint64_t));
	for (c = 0; c < SHED_CNT__MAX; c++)
		f->s.shed_counters[c] = (uint64_t)c * 10 + 5;
	t = render_text(view_status, f, false);
	expect_in(t, "RELAY               SHED  SHED_DATAGRAMS  WHY");
	expect_in(t, "dns                 on                25  auto on veth-rc");
	free(t);
	t = render_text(view_status, f, true);
	expect_in(t, "\"shed\": {\"configured\": \"auto\", \"on\": true, \"why\": \"auto on veth-rc\", "
		     "\"dropped_full_socket\": 20, \"dropped_heavy_flow\": 5}");
	free(t);
	t = render_text(view_stats, f, false);
	expect_in(t, "SHED_FULL_SOCKET");
	/* a relay total's only: "-" in a worker row (before: the worker's 0), numbers in "all" */
	expect_in(t, "dns                 0       to_upstream          0                   1      "
		     "     2                     3                        4                     5  "
		     "             6                     7             8                 -        "
		     "        -\n");
	expect_in(t, "dns                 all     to_upstream          0                   3      "
		     "     6                     9                       12                    15  "
		     "            18                    21            24                47        "
		     "       35\n");
	expect_in(t, "shed\nCOUNTER");
	expect_in(t, "drop_full_socket ");
	free(t);
	t = render_text(view_stats, f, true);
	/* the fixture's workers hold 3 x the reason's index in each; the total adds the 25 */
	expect_in(t, "\"total\": {\"rx_pkts\": 46,");
	expect_in(t, "\"source_session_limit\": 21, \"mirror_reply\": 24, "
		     "\"shed_full_socket\": 47, \"shed_heavy_flow\": 35}");
	expect_in(t, "\"shed\": {\"pass_not_listener\": 5, \"pass_no_socket\": 15, \"pass_room\": 25, "
		     "\"drop_full_socket\": 35, \"drop_heavy_flow\": 45, \"pass_fast_path\": 55, "
		     "\"pass_unchecked\": 65}");
	free(t);
	/* the SIGUSR1 line shows the same total: the shed datagrams received and dropped */
	memset(&total, 0, sizeof(total));
	relay_counters_add(&total, &f->s.workers[0].relays[0]);
	relay_counters_add(&total, &f->s.workers[1].relays[0]);
	relay_counters_add_shed(&total, sh[0].dropped_full, sh[0].dropped_heavy);
	assert_true(control_view_stats_line("dns", &total, line, sizeof(line)) > 0);
	expect_in(line, "stats relay=dns rx_pkts=46 rx_bytes=2001 tx_pkts=18 ");
	expect_in(line, " drop_mirror_reply=24 drop_shed_full_socket=47 drop_shed_heavy_flow=35 "
			"reply_drop_truncated=0 ");
	assert_null(strstr(line, "reply_drop_shed"));
	expect_in(line, " sessions_expired=6 sessions_evicted=0");
	assert_int_equal(control_view_stats_line("dns", &total, line, 100), -ENOSPC);
}

static void test_offload_views(void **state)
{
	struct fixture *f = *state;
	struct snapshot_offload *so = calloc(2, sizeof(*so));
	char *t;
	int c;

	f->cfg->relays[0].offload = OFFLOAD_AUTO;
	so[0] = (struct snapshot_offload){ "tc", "auto: tc on veth-rc, because veth-rc cannot "
						 "take XDP_REDIRECT" };
	so[1] = (struct snapshot_offload){ "off", "mirror mode stays on the socket path" };
	f->s.offload = so;
	f->s.offload_counters = calloc(OFFLOAD_CNT__MAX, sizeof(uint64_t));
	for (c = 0; c < OFFLOAD_CNT__MAX; c++)
		f->s.offload_counters[c] = (uint64_t)c * 10;
	f->s.offload_ifaces = calloc(1, sizeof(*f->s.offload_ifaces));
	snprintf(f->s.offload_ifaces[0].name, sizeof(f->s.offload_ifaces[0].name), "veth-rc");
	f->s.offload_ifaces[0].hook = "tc";
	f->s.offload_ifaces[0].xmit_drops = 3;
	f->s.n_offload_ifaces = 1;
	f->s.workers[0].relays[0].dir[RELAY_DIR_TO_UPSTREAM].fast_pkts = 17;
	f->info[0].fast = true;
	f->info[0].fast_pkts = 42;
	f->info[0].fast_mtu[OFFLOAD_DIR_UP] = 1500;
	f->info[0].fast_mtu[OFFLOAD_DIR_DOWN] = 1300;
	f->ss.fast = true;

	t = render_text(view_status, f, false);
	expect_in(t, "RELAY               OFFLOAD  WHY");
	expect_in(t, "dns                 tc       auto: tc on veth-rc, because veth-rc cannot");
	free(t);
	t = render_text(view_status, f, true);
	expect_in(t, "\"offload\": {\"configured\": \"auto\", \"mode\": \"tc\", \"why\": \"auto: tc");
	free(t);
	t = render_text(view_stats, f, false);
	expect_in(t, "FAST_PATH");
	expect_in(t, "fast path\nCOUNTER");
	expect_in(t, "pass_no_session");
	expect_in(t, "veth-rc");
	free(t);
	t = render_text(view_stats, f, true);
	expect_in(t, "\"fast_pkts\": 17");
	expect_in(t, "\"fast_path\": {\"counters\": {\"forwarded\": 0, \"pass_no_session\": 10");
	expect_in(t, "\"xmit_drops\": 3");
	free(t);
	t = render_text(view_sessions, f, false);
	expect_in(t, "IDLE  MTU UP/DOWN  PATH\n");
	expect_in(t, "  1500/1300  fast\n");
	expect_in(t, "          -  socket\n");
	free(t);
	t = render_text(view_sessions, f, true);
	expect_in(t, "\"path\": \"fast\", \"fast_pkts\": 42, \"path_mtu_up\": 1500, "
		     "\"path_mtu_down\": 1300");
	free(t);
}

/* A session of a relay the config no longer has: "?" in the table, "" in JSON. */
static void test_session_of_unknown_relay(void **state)
{
	struct fixture *f = *state;
	struct control_sessions ss = { .info = f->info, .n = 1, .total = 1 };
	FILE *out;

	f->info[0].relay = 7;
	out = open_memstream(&f->text, &f->len);
	assert_non_null(out);
	assert_int_equal(control_view_sessions(&ss, f->cfg, false, out), 0);
	assert_int_equal(control_view_sessions(&ss, f->cfg, true, out), 0);
	assert_int_equal(fclose(out), 0);
	assert_non_null(strstr(f->text, "\n?      198.18.1.1:41000"));
	assert_non_null(strstr(f->text, "{\"relay\": \"\", \"worker\": 0"));
}

/* A stream that fails is reported, not silently cut short. */
static void test_write_error(void **state)
{
	struct fixture *f = *state;
	FILE *out = fopen("/dev/full", "w");

	if (!out)
		skip();
	setvbuf(out, NULL, _IONBF, 0);
	assert_int_equal(control_view_stats(&f->s, false, out), -EIO);
	clearerr(out);
	assert_int_equal(control_view_status(&f->s, true, out), -EIO);
	fclose(out);
}

/* The receive path: a NIC with two queues (IRQs, RPS on one) and a veth, as -V and status
 * print it and as status -j has it. */
static void test_rxpath(void **state)
{
	struct rxreport *r = calloc(1, sizeof(*r));
	struct rxpath_iface *eth, *veth;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	assert_non_null(r);
	r->n = 2;
	eth = &r->ifaces[0];
	snprintf(eth->name, sizeof(eth->name), "eth0");
	eth->n_queues = eth->n_desc = 2;
	eth->irqs_known = true;
	eth->threaded = 0;
	eth->gro = 1;
	eth->xdp = RXPATH_XDP_NATIVE;
	eth->xdp_prog_id = 42;
	eth->busy_poll_us = 50;
	eth->q[0].n_irqs = 1;
	eth->q[0].irq[0] = 38;
	CPU_SET(1, &eth->q[0].irq_cpus);
	eth->q[1].n_irqs = 2;
	eth->q[1].irq[0] = 40;
	eth->q[1].irq[1] = 41;
	CPU_SET(0, &eth->q[1].irq_cpus);
	CPU_SET(1, &eth->q[1].irq_cpus);
	CPU_SET(2, &eth->q[1].irq_cpus);
	CPU_SET(3, &eth->q[1].rps);
	veth = &r->ifaces[1];
	snprintf(veth->name, sizeof(veth->name), "veth0");
	veth->n_queues = veth->n_desc = 1;
	veth->virtual_dev = true;
	veth->threaded = 1;
	veth->n_threads = veth->n_threads_all = 1;
	veth->threads[0].napi_id = 8195;
	veth->threads[0].pid = 1234;
	veth->threads[0].nice = 5;
	CPU_SET(1, &veth->threads[0].cpus);
	veth->gro = -1;
	veth->xdp = RXPATH_XDP_NONE;
	r->n_warnings = 1;
	snprintf(r->warnings[0], sizeof(r->warnings[0]), "eth0: a \"warning\"");

	out = open_memstream(&text, &len);
	assert_int_equal(control_view_rxpath(r, false, out), 0);
	fclose(out);
	assert_string_equal(text,
			    "INTERFACE  RX_QUEUES  THREADED_NAPI  BUSY_POLL  GRO  XDP\n"
			    "eth0               2  off            50 us      on   "
			    "native (prog 42)\n"
			    "veth0              1  on             off        ?    none\n"
			    "\n"
			    "INTERFACE  QUEUE  IRQ               IRQ_CPUS  RPS_CPUS\n"
			    "eth0           0  38                1         -\n"
			    "eth0           1  40,41             0-2       3\n"
			    "veth0          0  no IRQ (virtual)  -         -\n"
			    "\n"
			    "INTERFACE  NAPI_ID  THREAD  CPUS  NICE\n"
			    "veth0         8195    1234  1        5\n"
			    "warning: eth0: a \"warning\"\n");
	free(text);
	text = NULL;
	r->any = true;
	out = open_memstream(&text, &len);
	assert_int_equal(control_view_rxpath(r, true, out), 0);
	fclose(out);
	assert_string_equal(
		text,
		"{\"any_address\": true, \"interfaces\": [\n"
		" {\"name\": \"eth0\", \"rx_queues\": 2, \"virtual\": false, "
		"\"threaded_napi\": false, "
		"\"busy_poll_us\": 50, \"gro\": true, \"xdp_mode\": \"native\", "
		"\"xdp_prog_id\": 42, "
		"\"queues\": [{\"queue\": 0, \"irqs\": [38], \"irq_cpus\": [1], "
		"\"rps_cpus\": []}, "
		"{\"queue\": 1, \"irqs\": [40, 41], \"irq_cpus\": [0, 1, 2], "
		"\"rps_cpus\": [3]}], \"napi_threads\": [], \"napi_threads_total\": 0},\n"
		" {\"name\": \"veth0\", \"rx_queues\": 1, \"virtual\": true, "
		"\"threaded_napi\": true, "
		"\"busy_poll_us\": 0, \"gro\": null, \"xdp_mode\": \"none\", \"xdp_prog_id\": 0, "
		"\"queues\": [{\"queue\": 0, \"irqs\": [], \"irq_cpus\": [], "
		"\"rps_cpus\": []}], \"napi_threads\": [{\"napi_id\": 8195, \"pid\": 1234, "
		"\"cpus\": [1], \"nice\": 5}], \"napi_threads_total\": 1}], "
		"\"warnings\": [\n"
		" \"eth0: a \\\"warning\\\"\"]}\n");
	free(text);
	text = NULL;
	r->n = 0;
	r->n_warnings = 0;
	out = open_memstream(&text, &len);
	assert_int_equal(control_view_rxpath(r, false, out), 0);
	fclose(out);
	assert_string_equal(text, "listen: a wildcard address: every interface that is up, "
				  "loopback aside\nno listen interface found\n");
	free(text);
	rxreport_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_named_upstream),
		cmocka_unit_test(test_rxpath),
		cmocka_unit_test_setup_teardown(test_session_of_unknown_relay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offload_views, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shed_views, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uptime_clock_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_since_clock_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
