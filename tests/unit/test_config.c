// SPDX-License-Identifier: MIT
/* config: a full config, the defaults, every error message word for word, the dump round
 * trip, the host check and the configs we ship. Runs from the repository root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* One relay on one line, so error cases can put it anywhere without moving line numbers. */
#define RELAY                                                                                      \
	"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:5300\" ]; "                             \
	"upstreams = [ \"127.0.0.1:5301\" ]; } );\n"

static const char good_text[] =
    "# every setting\n"
    "workers = 2;\n"
    "io_backend = \"io_uring\";\n"
    "cpus = [ 0, 1 ]; steering = \"cpu\"; shed_hook = \"tc\";\n"
    "buffer_size = 4096;\n"
    "buffers = 1024;\n"
    "stats_interval = 2.5;\n"
    "user = \"ringrelay\";\n"
    "control_socket = \"/tmp/rr.sock\";\n"
    "metrics = { listen = \"[::1]:9471\"; };\n"
    "relays = (\n"
    "  { name = \"dns\";\n" /* line 12 */
    "    listen = [ \"198.18.1.2:5000\", \"[2001:2::2]:5000\" ];\n"
    "    upstreams = [ \"198.18.2.2:9000\", \"198.18.2.3:9000 weight=3\",\n"
    "                  \"[2001:2::3]:9000  weight=100\" ];\n"
    "    mode = \"forward\";\n"
    "    balance = \"maglev\";\n"
    "    session_timeout = 10;\n"
    "    max_sessions = 65536; offload = \"auto\"; shed = \"on\"; shed_flow_rate = 0; },\n"
    "  { name = \"syslog.mirror-1\";\n" /* line 20 */
    "    listen = [ \"*:514\" ];\n"
    "    upstreams = [ \"198.18.3.1:514\" ];\n"
    "    mode = \"mirror\"; balance = \"hash\"; session_timeout = 0.25; }\n"
    ");\n"
    "filter = {\n" /* line 25 */
    "  interfaces = [ \"lo\",\n"
    "                 \"eth0\" ];\n"
    "  mode = \"tc\";\n"
    "  default = \"deny\";\n"
    "  scope = \"udp\";\n"
    "  deny = [ \"203.0.113.0/24\", \"2001:db8:bad::/48\" ];\n"
    "  allow = [ \"203.0.113.7/32\",\n"
    "            \"2001:db8::1\" ];\n"
    "  ports = ( { ports = \"5001-5010\"; verdict = \"deny\"; },\n"
    "            { ports = 53; verdict = \"allow\"; } );\n"
    "  relay_ports_only = true;\n"
    "  rate_limit = { pps = 10000; prefix4 = 24; prefix6 = 64; };\n"
    "  pin = true;\n"
    "  tc_hook = \"clsact\";\n"
    "  tc_priority = 7;\n"
    "};\n";

static struct config *load_ok(const char *text)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;
	int ret = config_load_string(text, "t.conf", &cfg, err, sizeof(err));

	if (ret)
		fail_msg("unexpected error %d: %s", ret, err);
	assert_non_null(cfg);
	return cfg;
}

static void test_good(void **state)
{
	struct config *cfg = load_ok(good_text);
	const struct relay_conf *r = &cfg->relays[0];
	const struct filter_conf *f = &cfg->filter;
	char buf[ADDR_STRLEN];

	(void)state;
	assert_string_equal(cfg->path, "t.conf");
	assert_int_equal(cfg->workers, 2);
	assert_int_equal(cfg->io_backend, IO_BACKEND_IO_URING);
	assert_int_equal(cfg->steering, STEERING_CPU);
	assert_int_equal(cfg->shed_hook, SHED_HOOK_TC);
	assert_int_equal(cfg->n_cpus, 2);
	assert_int_equal(cfg->cpus[1], 1);
	assert_int_equal(cfg->buffer_size, 4096);
	assert_int_equal(cfg->buffers, 1024);
	assert_true(cfg->stats_interval == 2.5);
	assert_string_equal(cfg->user, "ringrelay");
	assert_string_equal(cfg->control_socket, "/tmp/rr.sock");
	assert_true(cfg->metrics.enabled);
	assert_string_equal(addr_format(&cfg->metrics.listen, buf, sizeof(buf)), "[::1]:9471");

	assert_int_equal(cfg->n_relays, 2);
	assert_string_equal(r->name, "dns");
	assert_int_equal(r->line, 12);
	assert_int_equal(r->n_listen, 2);
	assert_string_equal(addr_format(&r->listen[1], buf, sizeof(buf)), "[2001:2::2]:5000");
	assert_int_equal(r->n_upstreams, 3);
	assert_int_equal(r->upstreams[0].weight, 1);
	assert_int_equal(r->upstreams[1].weight, 3);
	assert_int_equal(r->upstreams[2].weight, 100);
	assert_string_equal(addr_format(&r->upstreams[2].addr, buf, sizeof(buf)),
			    "[2001:2::3]:9000");
	assert_int_equal(r->mode, RELAY_MODE_FORWARD);
	assert_int_equal(r->balance, BALANCE_MAGLEV);
	assert_true(r->session_timeout == 10.0);
	assert_int_equal(r->max_sessions, 65536);
	assert_int_equal(r->offload, OFFLOAD_AUTO);
	assert_int_equal(r->shed, SHED_ON);
	assert_int_equal(r->shed_flow_rate, 0);
	r = &cfg->relays[1];
	assert_string_equal(r->name, "syslog.mirror-1");
	assert_int_equal(r->line, 20);
	assert_true(addr_is_any(&r->listen[0]));
	assert_int_equal(r->mode, RELAY_MODE_MIRROR);
	assert_int_equal(r->balance, BALANCE_HASH);
	assert_true(r->session_timeout == 0.25);
	assert_int_equal(r->max_sessions, 4096);

	assert_int_equal(f->mode, FILTER_MODE_TC);
	assert_int_equal(f->line, 25);
	assert_int_equal(f->n_interfaces, 2);
	assert_string_equal(f->interfaces[1], "eth0");
	assert_int_equal(f->interface_line[0], 26);
	assert_int_equal(f->interface_line[1], 27);
	assert_int_equal(f->default_verdict, FILTER_VERDICT_DENY);
	assert_int_equal(f->scope, FILTER_SCOPE_UDP);
	assert_int_equal(f->n_deny, 2);
	assert_int_equal(f->deny[0].prefix.len, 96 + 24);
	assert_int_equal(f->deny[1].prefix.len, 48);
	assert_int_equal(f->deny[1].line, 31);
	assert_int_equal(f->n_allow, 2);
	assert_int_equal(f->allow[1].prefix.len, 128);
	assert_int_equal(f->allow[0].line, 32);
	assert_int_equal(f->allow[1].line, 33);
	assert_int_equal(f->n_ports, 2);
	assert_int_equal(f->ports[0].lo, 5001);
	assert_int_equal(f->ports[0].hi, 5010);
	assert_int_equal(f->ports[0].verdict, FILTER_VERDICT_DENY);
	assert_int_equal(f->ports[0].line, 34);
	assert_int_equal(f->ports[1].lo, 53);
	assert_int_equal(f->ports[1].hi, 53);
	assert_int_equal(f->ports[1].verdict, FILTER_VERDICT_ALLOW);
	assert_int_equal(f->ports[1].line, 35);
	assert_true(f->relay_ports_only);
	assert_int_equal(f->rate_pps, 10000);
	assert_int_equal(f->rate_burst, 10000); /* burst defaults to pps */
	assert_int_equal(f->rate_prefix4, 24);
	assert_int_equal(f->rate_prefix6, 64);
	assert_true(f->pin);
	assert_int_equal(f->tc_hook, TC_HOOK_CLSACT);
	assert_int_equal(f->tc_priority, 7);
	config_free(cfg);
}

/* buffer_size follows gro unless the file sets it. */
static void test_gro_buffer_defaults(void **state)
{
	static const struct {
		const char *text;
		bool gro;
		uint32_t size;
	} cases[] = {
		{"", false, 2048},
		{"gro = false;\n", false, 2048},
		{"gro = true;\n", true, 69632},
		{"buffer_size = 4096;\n", false, 4096},
		{"buffer_size = 65536;\n", false, 65536},
		{"buffer_size = 69632;\n", false, 69632},
		{"buffer_size = 69632;\ngro = true;\n", true, 69632},
		{"buffer_size = 65536;\ngro = true;\n", true, 69632}, /* what earlier builds wanted */
		{"gro = true;\nbuffer_size = 69632;\n", true, 69632},
	};
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg;

		snprintf(text, sizeof(text), "%s" RELAY, cases[i].text);
		cfg = load_ok(text);
		assert_int_equal(cfg->gro, cases[i].gro);
		assert_int_equal(cfg->buffer_size, cases[i].size);
		config_free(cfg);
	}
}

static void test_defaults(void **state)
{
	struct config *cfg = load_ok(RELAY);
	const struct relay_conf *r = &cfg->relays[0];
	char buf[ADDR_STRLEN];

	(void)state;
	assert_int_equal(cfg->workers, 0);
	assert_int_equal(cfg->io_backend, IO_BACKEND_AUTO);
	assert_int_equal(cfg->steering, STEERING_AUTO);
	assert_int_equal(cfg->shed_hook, SHED_HOOK_AUTO);
	assert_int_equal(cfg->n_cpus, 0);
	assert_string_equal(cfg->pid_file, "");
	assert_int_equal(cfg->log_format, LOG_FORMAT_TEXT);
	assert_string_equal(cfg->access_log, "");
	assert_int_equal(cfg->access_log_rate, 1000);
	assert_false(cfg->relays[0].reuseport_shared);
	assert_false(cfg->gro);
	assert_int_equal(cfg->buffer_size, 2048);
	assert_int_equal(cfg->buffers, 4096);
	assert_true(cfg->stats_interval == 5.0);
	assert_string_equal(cfg->user, "");
	assert_string_equal(cfg->control_socket, "/run/ringrelay/ringrelay.sock");
	assert_false(cfg->metrics.enabled);
	assert_string_equal(addr_format(&cfg->metrics.listen, buf, sizeof(buf)), "127.0.0.1:9470");
	assert_int_equal(cfg->n_relays, 1);
	assert_int_equal(r->line, 1);
	assert_int_equal(r->mode, RELAY_MODE_FORWARD);
	assert_int_equal(r->balance, BALANCE_RR);
	assert_true(r->session_timeout == 30.0);
	assert_int_equal(r->max_sessions, 4096);
	assert_int_equal(r->offload, OFFLOAD_OFF);
	assert_int_equal(r->shed, SHED_AUTO);
	assert_int_equal(r->shed_flow_rate, 320);
	assert_int_equal(r->max_sessions_per_source, 1024); /* a quarter */
	assert_int_equal(r->session_full, SESSION_FULL_DROP);
	assert_int_equal(r->upstreams[0].weight, 1);
	assert_int_equal(cfg->filter.mode, FILTER_MODE_OFF);
	assert_int_equal(cfg->filter.n_interfaces, 0);
	/* napi: nothing by default (make bench: busy polling cost more than it saved on veth) */
	assert_int_equal(cfg->napi.busy_poll_us, 0);
	assert_true(cfg->napi.prefer_busy_poll);
	assert_int_equal(cfg->napi.busy_poll_budget, 64);
	assert_int_equal(cfg->napi.defer_hard_irqs, 0);
	assert_int_equal(cfg->napi.gro_flush_timeout, 0);
	assert_int_equal(cfg->napi.irq_suspend_timeout, 0);
	assert_false(cfg->napi.threaded);
	config_free(cfg);

	/* an empty metrics section enables metrics on the default address; a filter section
	 * without mode means xdp */
	cfg = load_ok("metrics = { };\nfilter = { interfaces = [ \"lo\" ]; };\n" RELAY);
	assert_true(cfg->metrics.enabled);
	assert_string_equal(addr_format(&cfg->metrics.listen, buf, sizeof(buf)), "127.0.0.1:9470");
	assert_int_equal(cfg->filter.mode, FILTER_MODE_XDP);
	assert_int_equal(cfg->filter.default_verdict, FILTER_VERDICT_ALLOW);
	assert_int_equal(cfg->filter.scope, FILTER_SCOPE_RELAYS);
	assert_int_equal(cfg->filter.rate_pps, 0);
	assert_int_equal(cfg->filter.rate_prefix4, 32);
	assert_int_equal(cfg->filter.rate_prefix6, 128);
	assert_false(cfg->filter.pin);
	assert_int_equal(cfg->filter.tc_hook, TC_HOOK_AUTO);
	assert_int_equal(cfg->filter.tc_priority, 1);
	config_free(cfg);

	/* explicit burst, int64 literals and mode off without interfaces */
	cfg =
	    load_ok("filter = { mode = \"off\"; rate_limit = { pps = 5L; burst = 7; }; };\n" RELAY);
	assert_int_equal(cfg->filter.mode, FILTER_MODE_OFF);
	assert_int_equal(cfg->filter.rate_pps, 5);
	assert_int_equal(cfg->filter.rate_burst, 7);
	config_free(cfg);
}

struct error_case {
	const char *text;
	const char *msg;
};

static const struct error_case error_cases[] = {
    /* syntax */
    {"workers = ;\n" RELAY, "t.conf:1: syntax error: 'workers' has no value before ';'"},
    /* a setting given twice in its group: named (before: libconfig's bare "syntax error:
     * duplicate setting name"), the one set before when a line sets several */
    {"workers = 2;\nworkers = 3;\n" RELAY,
     "t.conf:2: workers: duplicate setting: it is set more than once in its group; keep one"},
    {"buffers = 64;\nworkers = 2; buffers = 128; # workers = 1;\n" RELAY,
     "t.conf:2: buffers: duplicate setting: it is set more than once in its group; keep one"},
    /* what libconfig's bare "syntax error" means, where it happened (issue 14) */
    {"\xef\xbb\xbf" RELAY,
     "t.conf:1: syntax error: the file starts with a UTF-8 byte order mark (BOM): save it "
     "without one, e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' FILE"},
    {RELAY "user = 'nobody';\n",
     "t.conf:2: syntax error: strings take double quotes: write \"nobody\", not 'nobody'"},
    {"cpus = [ 0,\n  1, ];\n" RELAY,
     "t.conf:2: syntax error: trailing comma: remove the ',' after the last element of the "
     "array opened on line 1"},
    {"relays = (\n { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ]; "
     "},\n);\n",
     "t.conf:2: syntax error: trailing comma: remove the ',' after the last element of the "
     "list opened on line 1"},
    {"metrics = {\n  listen = \"127.0.0.1:9470\";\n\n" RELAY,
     "t.conf:1: syntax error: missing '}': the group '{' opened on line 1 is not closed"},
    {"metrics = { listen = \"127.0.0.1:9470\"; );\n" RELAY,
     "t.conf:1: syntax error: ')' does not close the group '{' opened on line 1 (missing "
     "'}'?)"},
    {RELAY "};\n", "t.conf:2: syntax error: '}' closes nothing: an extra '}', or a '{' missing "
		   "before it"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ]; "
     "}\n { name = \"b\"; } );\n",
     "t.conf:2: syntax error: missing ',' between two elements of the list opened on line 1"},
    {"cpus = [ 0 1 ];\n" RELAY,
     "t.conf:1: syntax error: missing ',' between two elements of the array opened on line 1"},
    {"workers = 1 2;\n" RELAY, "t.conf:1: syntax error: missing ';' after the value of 'workers'"},
    {"workers 2;\n" RELAY, "t.conf:1: syntax error: missing '=' after 'workers'"},
    {"workers = 2;;\n" RELAY, "t.conf:1: syntax error: an extra ';' (remove it)"},
    {"relays = ( { name = \"a\"; }; { name = \"b\"; } );\n",
     "t.conf:1: syntax error: ';' inside the list opened on line 1: separate its elements "
     "with ','"},
    {"workers = $;\n" RELAY, "t.conf:1: syntax error: unexpected character '$'"},
    {"workers = 2;\n@include \"more.conf\"\n" RELAY,
     "t.conf:2: @include is not supported: put the settings in this file"},
    {"workers = \xe2\x80\x9c" "2\xe2\x80\x9d;\n" RELAY,
     "t.conf:1: syntax error: unexpected byte 0xe2: settings are ASCII (a typographic quote "
     "instead of \"?)"},
    {RELAY "workers\n", "t.conf:2: syntax error: missing '=' and a value after 'workers'"},
    {RELAY "relays = 1;\n",
     "t.conf:2: relays: duplicate setting: it is set more than once in its group; keep one"},
    {"cpus = [ 1, \"x\" ];\n", "t.conf:1: syntax error: mismatched element type in array"},
    {RELAY "\n\nbuffers = 4294967297;\n",
     "t.conf:4: syntax error: integer 4294967297 is too large (at most 2147483647)"},
    {"# \"not a string\n/* 9999999999\n*/ s = \"9999999999\";\nworkers = 0x100000000;\n",
     "t.conf:4: syntax error: integer 0x100000000 is too large (at most 2147483647)"},
    {RELAY "\n\"filter = { mode = \"off\"; };\n",
     "t.conf:3: syntax error: string is not terminated"},
    {"user = \"a\\\"b\";\n" RELAY "workers = \"2\";\n", "t.conf:3: workers: must be an integer"},
    /* napi */
    {"napi = { busy_poll = 5; };\n" RELAY,
     "t.conf:1: napi: unknown setting 'busy_poll' (expected one of: busy_poll_us, "
     "prefer_busy_poll, busy_poll_budget, defer_hard_irqs, gro_flush_timeout, "
     "irq_suspend_timeout, threaded, thread_nice, flood_nice)"},
    {"napi = { thread_nice = 20; };\n" RELAY,
     "t.conf:1: napi.thread_nice: must be from -20 to 19"},
    {"napi = { thread_nice = -21; };\n" RELAY,
     "t.conf:1: napi.thread_nice: must be from -20 to 19"},
    {"napi = { flood_nice = 20; };\n" RELAY,
     "t.conf:1: napi.flood_nice: must be from -20 to 19"},
    {"napi = 50;\n" RELAY,
     "t.conf:1: napi: must be a group, e.g. { busy_poll_us = 50; defer_hard_irqs = 2; "
     "gro_flush_timeout = 200000; }"},
    {"napi = { busy_poll_budget = 65; };\n" RELAY,
     "t.conf:1: napi.busy_poll_budget: must be from 1 to 64"},
    {"napi = { busy_poll_budget = 0; };\n" RELAY,
     "t.conf:1: napi.busy_poll_budget: must be from 1 to 64"},
    {"napi = { busy_poll_us = 100001; };\n" RELAY,
     "t.conf:1: napi.busy_poll_us: must be from 0 to 100000"},
    {"napi = { defer_hard_irqs = -1; };\n" RELAY,
     "t.conf:1: napi.defer_hard_irqs: must be from 0 to 2147483647"},
    {"napi = { threaded = 1; };\n" RELAY, "t.conf:1: napi.threaded: must be true or false"},
    {"napi = {\n irq_suspend_timeout = 20000000;\n busy_poll_us = 0; };\n" RELAY,
     "t.conf:2: napi.irq_suspend_timeout: needs busy polling with prefer_busy_poll = true "
     "(busy_poll_us > 0), or set it to 0"},
    {"napi = { irq_suspend_timeout = 20000000; prefer_busy_poll = false; };\n" RELAY,
     "t.conf:1: napi.irq_suspend_timeout: needs busy polling with prefer_busy_poll = true "
     "(busy_poll_us > 0), or set it to 0"},
    {"napi = { busy_poll_us = 50; gro_flush_timeout = 200000; irq_suspend_timeout = 200000; };\n"
     RELAY,
     "t.conf:1: napi.irq_suspend_timeout: must be longer than gro_flush_timeout (200000 ns), "
     "or 0"},
    /* unknown settings and types */
    {RELAY "foo = 1;\n",
     "t.conf:2: unknown setting 'foo' (expected one of: workers, io_backend, cpus, "
     "steering, shed_hook, buffer_size, buffers, gro, stats_interval, user, control_socket, "
     "control_access, pid_file, log_format, access_log, access_log_rate, metrics, relays, "
     "filter, napi)"},
    {"buffer_size = 2048;\ngro = true;\n" RELAY,
     "t.conf:2: gro: needs buffer_size = 69632 (a coalesced receive holds up to 65507 bytes "
     "after its header): set that, or leave buffer_size out"},
    {"buffer_size = 32768;\ngro = true;\n" RELAY,
     "t.conf:2: gro: needs buffer_size = 69632 (a coalesced receive holds up to 65507 bytes "
     "after its header): set that, or leave buffer_size out"},
    {"buffer_size = 69633;\n" RELAY, "t.conf:1: buffer_size: must be from 256 to 69632"},
    {"gro = 1;\n" RELAY, "t.conf:1: gro: must be true or false"},
    {"control_access = { group = \"adm\"; };\n" RELAY,
     "t.conf:1: control_access: unknown setting 'group' (expected one of: read_only_group)"},
    {"control_access = { read_only_group = 4; };\n" RELAY,
     "t.conf:1: control_access.read_only_group: must be a string"},
    {"control_access = \"adm\";\n" RELAY,
     "t.conf:1: control_access: must be a group, e.g. { read_only_group = \"ringrelay-ro\"; }"},
    {"pid_file = \"run/rr.pid\";\n" RELAY,
     "t.conf:1: pid_file: must be an absolute path (or \"\" for none)"},
    {"access_log = \"access.log\";\n" RELAY,
     "t.conf:1: access_log: must be an absolute path, \"-\" (the daemon's log) or \"\" (off)"},
    {"log_format = \"xml\";\n" RELAY, "t.conf:1: log_format: must be one of: text, json"},
    {"access_log_rate = 0;\n" RELAY, "t.conf:1: access_log_rate: must be from 1 to 1000000"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " reuseport_shared = 1; } );\n",
     "t.conf:2: relays[0].reuseport_shared: must be true or false"},
    {"relays = ( { name = \"a\";\n listen = [ \"127.0.0.1:1\" ];\n upstreams = [ "
     "\"127.0.0.1:2\" ];\n max_session = 5; } );\n",
     "t.conf:4: relays[0]: unknown setting 'max_session' (expected one of: name, listen, "
     "upstreams, mode, balance, session_timeout, max_sessions, offload, shed, shed_flow_rate, "
     "max_sessions_per_source, "
     "session_full, upstream_down, reuseport_shared, max_fails, fail_timeout, reply_timeout, "
     "health_check, resolve_interval, source, fwmark)"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];"
     " health_check = { interval = 0.05; timeout = 0.01; send = \"x\"; }; } );\n",
     "t.conf:1: relays[0].health_check.interval: must be at least 0.1 seconds"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];"
     " resolve_interval = 0.01; } );\n",
     "t.conf:1: relays[0].resolve_interval: must be 0 (off) or at least 0.1 seconds"},
    {"relays = ( { name = \"a\"; listen = [ \"[::ffff:198.18.1.2]:5000\" ];"
     " upstreams = [ \"127.0.0.1:2\" ]; } );\n",
     "t.conf:1: relays[0].listen[0]: an IPv4-mapped IPv6 address: write it as IPv4, A.B.C.D"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ];"
     " upstreams = [ \"198.18.2.2:53\", \"[::ffff:198.18.2.2]:53\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[1]: an IPv4-mapped IPv6 address: write it as IPv4, A.B.C.D"},
    {"relays = ( { name = \"a\"; listen = [ \"[fe80::1]:5000\" ];"
     " upstreams = [ \"127.0.0.1:2\" ]; } );\n",
     "t.conf:1: relays[0].listen[0]: a link-local address needs an interface scope, which is "
     "not supported: use a global or unique local address"},
    {"filter = { interfaces = [ \"lo\" ];\n rate_limit = { ppps = 1; }; };\n" RELAY,
     "t.conf:2: filter.rate_limit: unknown setting 'ppps' (expected one of: pps, burst, "
     "prefix4, prefix6)"},
    {"metrics = { port = 1; };\n" RELAY,
     "t.conf:1: metrics: unknown setting 'port' (expected one of: listen)"},
    {"workers = \"2\";\n" RELAY, "t.conf:1: workers: must be an integer"},
    {"workers = 2.0;\n" RELAY, "t.conf:1: workers: must be an integer"},
    {"io_backend = 1;\n" RELAY, "t.conf:1: io_backend: must be a string"},
    {"steering = \"rss\";\n" RELAY,
     "t.conf:1: steering: must be one of: auto, cpu, hash"},
    {"shed_hook = \"generic\";\n" RELAY,
     "t.conf:1: shed_hook: must be one of: auto, xdp, tc"},
    {"stats_interval = \"5\";\n" RELAY, "t.conf:1: stats_interval: must be a number of seconds"},
    {"filter = { interfaces = [ \"lo\" ]; pin = 1; };\n" RELAY,
     "t.conf:1: filter.pin: must be true or false"},
    {"filter = { interfaces = [ \"lo\" ]; tc_hook = \"legacy\"; };\n" RELAY,
     "t.conf:1: filter.tc_hook: must be one of: auto, tcx, clsact"},
    {"filter = { interfaces = [ \"lo\" ]; tc_priority = 0; };\n" RELAY,
     "t.conf:1: filter.tc_priority: must be from 1 to 65535"},
    {"filter = { interfaces = [ \"lo\" ]; tc_priority = 65536; };\n" RELAY,
     "t.conf:1: filter.tc_priority: must be from 1 to 65535"},
    {"cpus = 1;\n" RELAY, "t.conf:1: cpus: must be a list of integers, e.g. [ 0, 1 ]"},
    {"cpus = ( 1, \"a\" );\n" RELAY, "t.conf:1: cpus: must be a list of integers, e.g. [ 0, 1 ]"},
    {"metrics = \"127.0.0.1:1\";\n" RELAY,
     "t.conf:1: metrics: must be a group, e.g. { listen = \"127.0.0.1:9470\"; }"},
    {"filter = [ \"lo\" ];\n" RELAY,
     "t.conf:1: filter: must be a group, e.g. { interfaces = [ \"eth0\" ]; }"},
    {"relays = { name = \"a\"; };\n",
     "t.conf:1: relays: must be a list of groups, e.g. ( { ... }, { ... } )"},
    {"relays = ( \"a\" );\n",
     "t.conf:1: relays[0]: must be a group, e.g. { name = \"dns\"; listen = ...; }"},
    {"relays = ( { name = \"a\"; listen = \"127.0.0.1:1\"; upstreams = [ \"127.0.0.1:2\" ]; } );\n",
     "t.conf:1: relays[0].listen: must be a list of strings, e.g. [ \"a\", \"b\" ]"},
    /* enums and ranges */
    {"io_backend = \"epoll\";\n" RELAY,
     "t.conf:1: io_backend: must be one of: auto, io_uring, mmsg"},
    {"workers = 1025;\n" RELAY, "t.conf:1: workers: must be from 0 to 1024"},
    {"workers = -1;\n" RELAY, "t.conf:1: workers: must be from 0 to 1024"},
    {"buffer_size = 255;\n" RELAY, "t.conf:1: buffer_size: must be from 256 to 69632"},
    {"buffers = 32;\n" RELAY, "t.conf:1: buffers: must be from 64 to 32768"},
    {"buffers = 65536;\n" RELAY, "t.conf:1: buffers: must be from 64 to 32768"},
    {"buffers = 1000;\n" RELAY, "t.conf:1: buffers: must be a power of two (64, 128, ... 32768)"},
    {"stats_interval = 0;\n" RELAY,
     "t.conf:1: stats_interval: must be greater than 0 and at most 86400 seconds"},
    {"stats_interval = 1e400;\n" RELAY,
     "t.conf:1: stats_interval: must be greater than 0 and at most 86400 seconds"},
    {"cpus = [ 0, 256 ];\n" RELAY, "t.conf:1: cpus[1]: must be from 0 to 255"},
    {"cpus = [ 0,\n 1,\n 0 ];\n" RELAY, "t.conf:3: cpus[2]: CPU 0 is listed twice"},
    {"user = \""
     "0123456789012345678901234567890123456789012345678"
     "\";\n" RELAY,
     "t.conf:1: user: too long (at most 47 bytes)"},
    {"control_socket = \"\";\n" RELAY, "t.conf:1: control_socket: must not be empty"},
    {"control_socket = \"rr.sock\";\n" RELAY,
     "t.conf:1: control_socket: must be an absolute path in a directory other than /, e.g. "
     "\"/run/ringrelay/ringrelay.sock\""},
    {"control_socket = \"/rr.sock\";\n" RELAY,
     "t.conf:1: control_socket: must be an absolute path in a directory other than /, e.g. "
     "\"/run/ringrelay/ringrelay.sock\""},
    {"control_socket = \"/run/"
     "0123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789"
     "01234567890123456789012345678\";\n" RELAY,
     "t.conf:1: control_socket: too long (at most 107 bytes)"},
    {"metrics = { listen = \"127.0.0.1:0\"; };\n" RELAY,
     "t.conf:1: metrics.listen: port must be a number from 1 to 65535"},
    /* relays */
    {"workers = 1;\n", "t.conf: relays: missing; at least one relay is required"},
    {"relays = ( );\n", "t.conf:1: relays: at least one relay is required"},
    {"relays = ( { listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ]; } );\n",
     "t.conf:1: relays[0].name: missing; every relay needs a name"},
    {"relays = ( { name = \"\"; } );\n", "t.conf:1: relays[0].name: must not be empty"},
    {"relays = ( { name = \"a b\"; } );\n",
     "t.conf:1: relays[0].name: may contain only letters, digits, '_', '.' and '-'"},
    {"relays = ( { name = \""
     "0123456789012345678901234567890123456789012345678"
     "\"; } );\n",
     "t.conf:1: relays[0].name: too long (at most 47 characters)"},
    {RELAY "relays2 = 1;\n",
     "t.conf:2: unknown setting 'relays2' (expected one of: workers, io_backend, cpus, "
     "steering, shed_hook, buffer_size, buffers, gro, stats_interval, user, control_socket, "
     "control_access, pid_file, log_format, access_log, access_log_rate, metrics, relays, "
     "filter, napi)"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ]; "
     "},\n"
     "  { name = \"a\"; listen = [ \"127.0.0.1:3\" ]; upstreams = [ \"127.0.0.1:2\" ]; } );\n",
     "t.conf:2: relays[1].name: 'a' is already the name of relays[0]"},
    {"relays = ( { name = \"a\"; upstreams = [ \"127.0.0.1:2\" ]; } );\n",
     "t.conf:1: relays[0].listen: missing; give 1 to 16 addresses like \"198.18.1.2:5000\""},
    {"relays = ( { name = \"a\"; listen = [ ]; } );\n",
     "t.conf:1: relays[0].listen: must have 1 to 16 entries (has 0)"},
    {"relays = ( { name = \"a\"; listen = [ \"1.1.1.1:1\", \"1.1.1.1:2\", \"1.1.1.1:3\", "
     "\"1.1.1.1:4\", \"1.1.1.1:5\", \"1.1.1.1:6\", \"1.1.1.1:7\", \"1.1.1.1:8\", "
     "\"1.1.1.1:9\", \"1.1.1.1:10\", \"1.1.1.1:11\", \"1.1.1.1:12\", \"1.1.1.1:13\", "
     "\"1.1.1.1:14\", \"1.1.1.1:15\", \"1.1.1.1:16\", \"1.1.1.1:17\" ]; } );\n",
     "t.conf:1: relays[0].listen: must have 1 to 16 entries (has 17)"},
    {"relays = ( { name = \"a\";\n listen = [ \"127.0.0.1:1\",\n \"198.18.1.256:5000\" ]; } );\n",
     "t.conf:3: relays[0].listen[1]: not an IPv4 address"},
    {"relays = ( { name = \"a\"; listen = [ \"[2001:2::g]:5000\" ]; } );\n",
     "t.conf:1: relays[0].listen[0]: not an IPv6 address"},
    {"relays = ( { name = \"a\"; listen = [ \"2001:2::1:5000\" ]; } );\n",
     "t.conf:1: relays[0].listen[0]: an IPv6 address needs brackets: [ADDRESS]:PORT"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:0\" ]; } );\n",
     "t.conf:1: relays[0].listen[0]: port must be a number from 1 to 65535"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:70000\" ]; } );\n",
     "t.conf:1: relays[0].listen[0]: port must be a number from 1 to 65535"},
    {"relays = ( { name = \"a\"; listen = [ \"relay.example:0\" ]; } );\n",
     "t.conf:1: relays[0].listen[0]: port must be a number from 1 to 65535"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\", \"127.0.0.1:1\" ]; } );\n",
     "t.conf:1: relays[0].listen[1]: 127.0.0.1:1 is already a listener of relay 'a'"},
    {"relays = ( { name = \"a\"; listen = [ \"[2001:2::1]:7\" ]; upstreams = [ \"127.0.0.1:2\" ]; "
     "},\n"
     "  { name = \"b\"; listen = [ \"[2001:2::1]:7\" ]; } );\n",
     "t.conf:2: relays[1].listen[0]: [2001:2::1]:7 is already a listener of relay 'a'"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:7\" ]; upstreams = [ \"127.0.0.1:2\" ]; "
     "},\n"
     "  { name = \"b\"; listen = [ \"*:7\" ]; } );\n",
     "t.conf:2: relays[1].listen[0]: 0.0.0.0:7 overlaps 127.0.0.1:7 of relay 'a'"},
    {"relays = ( { name = \"a\"; listen = [ \"[::]:7\", \"[2001:2::1]:7\" ]; } );\n",
     "t.conf:1: relays[0].listen[1]: [2001:2::1]:7 overlaps [::]:7 of relay 'a'"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; } );\n",
     "t.conf:1: relays[0].upstreams: missing; give 1 to 64 addresses like "
     "\"198.18.2.2:9000\""},
    {"relays = ( { name = \"a\";\n listen = [ \"127.0.0.1:1\" ];\n"
     " upstreams = [ \"198.18.2.2:9000\",\n \"198.18.2.300:9000\" ]; } );\n",
     "t.conf:4: relays[0].upstreams[1]: not an IPv4 address"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"[2001:2::1:9000\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: missing ']' after an IPv6 address"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"198.18.2.2:0\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: port must be a number from 1 to 65535"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"198.18.2.2:70000\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: port must be a number from 1 to 65535"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"up.example:70000\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: port must be a number from 1 to 65535"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"[::]:53\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: an upstream needs a specific address, not a "
     "wildcard"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"198.18.2.2:9000 weight=0\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: weight must be from 1 to 100"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"198.18.2.2:9000 weight=101\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: weight must be from 1 to 100"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"198.18.2.2:9000 weight=\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: weight must be from 1 to 100"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"198.18.2.2:9000 wieght=2\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: unknown option 'wieght=2' (expected weight=N)"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \" \" ]; } );\n",
     "t.conf:1: relays[0].upstreams[0]: expected \"ADDRESS:PORT [weight=N]\""},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; "
     "upstreams = [ \"198.18.2.2:9000\", \"198.18.2.2:9000 weight=2\" ]; } );\n",
     "t.conf:1: relays[0].upstreams[1]: 198.18.2.2:9000 is listed twice (first as "
     "upstreams[0])"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " mode = \"fanout\"; } );\n",
     "t.conf:2: relays[0].mode: must be one of: forward, mirror"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " balance = \"random\"; } );\n",
     "t.conf:2: relays[0].balance: must be one of: rr, hash, maglev"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " offload = \"bpf\"; } );\n",
     "t.conf:2: relays[0].offload: must be one of: off, auto, xdp, tc"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " shed = \"yes\"; } );\n",
     "t.conf:2: relays[0].shed: must be one of: off, auto, on"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " shed_flow_rate = -1; } );\n",
     "t.conf:2: relays[0].shed_flow_rate: must be from 0 to 1000000000"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " session_timeout = -1.5; } );\n",
     "t.conf:2: relays[0].session_timeout: must be greater than 0 and at most 86400 seconds"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\", \"[::1]:1\" ];\n"
     " upstreams = [ \"127.0.0.1:2\" ]; source = \"client\"; } );\n",
     "t.conf:2: relays[0].source: \"client\" sends from the client's own address: listen "
     "addresses 127.0.0.1:1 and [::1]:1 are of two families (one relay per family)"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"[::1]:2\" ];\n"
     " source = \"client\"; } );\n",
     "t.conf:2: relays[0].source: \"client\" sends from the client's own address: upstream "
     "[::1]:2 is of the other address family than listen address 127.0.0.1:1"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " max_sessions = 0; } );\n",
     "t.conf:2: relays[0].max_sessions: must be from 1 to 4194304"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " max_sessions = 4194305; } );\n",
     "t.conf:2: relays[0].max_sessions: must be from 1 to 4194304"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " max_sessions_per_source = 0; } );\n",
     "t.conf:2: relays[0].max_sessions_per_source: must be from 1 to 4194304"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " max_sessions = 100;\n max_sessions_per_source = 101; } );\n",
     "t.conf:3: relays[0].max_sessions_per_source: 101 is more than max_sessions (100): at most "
     "max_sessions, which sets no limit of its own"},
    {"relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ]; upstreams = [ \"127.0.0.1:2\" ];\n"
     " session_full = \"lru\"; } );\n",
     "t.conf:2: relays[0].session_full: must be one of: drop, evict"},
    /* filter */
    {"filter = { };\n" RELAY,
     "t.conf:1: filter.interfaces: missing; list the interfaces to filter on, e.g. "
     "[ \"eth0\" ], or set mode = \"off\""},
    {"filter = { interfaces = [ ]; mode = \"xdp-generic\"; };\n" RELAY,
     "t.conf:1: filter.interfaces: must name at least one interface unless mode = \"off\""},
    {"filter = { interfaces = [ \"lo\" ]; mode = \"skb\"; };\n" RELAY,
     "t.conf:1: filter.mode: must be one of: off, xdp, xdp-generic, tc"},
    {"filter = {\n interfaces = [ \"lo\",\n \"\" ]; };\n" RELAY,
     "t.conf:3: filter.interfaces[1]: must not be empty"},
    {"filter = { interfaces = [ \"eth0\", \"a-very-long-name0\" ]; };\n" RELAY,
     "t.conf:1: filter.interfaces[1]: too long for an interface name (at most 15 "
     "characters)"},
    {"filter = { interfaces = [ \"eth0/1\" ]; };\n" RELAY,
     "t.conf:1: filter.interfaces[0]: not a valid interface name"},
    {"filter = { interfaces = [ \"eth0\", \"eth0\" ]; };\n" RELAY,
     "t.conf:1: filter.interfaces[1]: 'eth0' is listed twice"},
    {"filter = { interfaces = [ \"lo\" ]; default = \"drop\"; };\n" RELAY,
     "t.conf:1: filter.default: must be one of: allow, deny"},
    {"filter = { interfaces = [ \"lo\" ]; scope = \"all\"; };\n" RELAY,
     "t.conf:1: filter.scope: must be one of: relays, udp"},
    {"filter = { interfaces = [ \"lo\" ];\n deny = [ \"203.0.113.0/24\",\n \"203.0.113.1/24\" ]; "
     "};\n" RELAY,
     "t.conf:3: filter.deny[1]: host bits are set after the prefix length"},
    {"filter = { interfaces = [ \"lo\" ]; deny = [ \"2001:db8::1/32\" ]; };\n" RELAY,
     "t.conf:1: filter.deny[0]: host bits are set after the prefix length"},
    {"filter = { interfaces = [ \"lo\" ]; allow = [ \"203.0.113.0/33\" ]; };\n" RELAY,
     "t.conf:1: filter.allow[0]: prefix length must be 0 to 32"},
    {"filter = { interfaces = [ \"lo\" ]; allow = [ \"2001:db8::/129\" ]; };\n" RELAY,
     "t.conf:1: filter.allow[0]: prefix length must be 0 to 128"},
    {"filter = { interfaces = [ \"lo\" ]; allow = [ \"example.net/24\" ]; };\n" RELAY,
     "t.conf:1: filter.allow[0]: not an IPv4 or IPv6 address"},
    {"filter = { interfaces = [ \"lo\" ]; deny = [ 1 ]; };\n" RELAY,
     "t.conf:1: filter.deny: must be a list of strings, e.g. [ \"a\", \"b\" ]"},
    {"filter = { interfaces = [ \"lo\" ];\n deny = [ \"2001:db8::/32\",\n"
     " \"2001:db8:0::/32\" ]; };\n" RELAY,
     "t.conf:3: filter.deny[1]: 2001:db8::/32 is already listed as filter.deny[0]"},
    {"filter = { interfaces = [ \"lo\" ];\n allow = [ \"203.0.113.7\" ];\n"
     " deny = [ \"198.18.0.0/15\", \"203.0.113.7/32\" ]; };\n" RELAY,
     "t.conf:3: filter.deny[1]: 203.0.113.7/32 is already listed as filter.allow[0]"},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { ports = \"10-5\"; verdict = \"deny\"; } ); "
     "};\n" RELAY,
     "t.conf:2: filter.ports[0].ports: range start 10 is above its end 5"},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { ports = 0; verdict = \"deny\"; } ); "
     "};\n" RELAY,
     "t.conf:2: filter.ports[0].ports: must be a port or a range \"LOW-HIGH\" within 1-65535"},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { ports = \"1-65536\"; verdict = \"deny\"; } "
     "); };\n" RELAY,
     "t.conf:2: filter.ports[0].ports: must be a port or a range \"LOW-HIGH\" within 1-65535"},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { ports = \"5-\"; verdict = \"deny\"; } ); "
     "};\n" RELAY,
     "t.conf:2: filter.ports[0].ports: must be a port or a range \"LOW-HIGH\" within 1-65535"},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { ports = \"53 \"; verdict = \"deny\"; } ); "
     "};\n" RELAY,
     "t.conf:2: filter.ports[0].ports: must be a port or a range \"LOW-HIGH\" within 1-65535"},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { ports = true; verdict = \"deny\"; } ); "
     "};\n" RELAY,
     "t.conf:2: filter.ports[0].ports: must be a port or a range \"LOW-HIGH\" within 1-65535"},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { verdict = \"deny\"; } ); };\n" RELAY,
     "t.conf:2: filter.ports[0].ports: missing; give a port or a range \"LOW-HIGH\""},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { ports = 53; } ); };\n" RELAY,
     "t.conf:2: filter.ports[0].verdict: missing; \"allow\" or \"deny\""},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { ports = 53; verdict = \"drop\"; } ); "
     "};\n" RELAY,
     "t.conf:2: filter.ports[0].verdict: must be one of: allow, deny"},
    {"filter = { interfaces = [ \"lo\" ];\n ports = ( { ports = 53; verdict = \"deny\"; port = 1; "
     "} ); };\n" RELAY,
     "t.conf:2: filter.ports[0]: unknown setting 'port' (expected one of: ports, verdict)"},
    {"filter = { interfaces = [ \"lo\" ];\n ports = [ 53 ]; };\n" RELAY,
     "t.conf:2: filter.ports: must be a list of groups, e.g. ( { ... }, { ... } )"},
    {"filter = { interfaces = [ \"lo\" ];\n relay_ports_only = true; };\n" RELAY,
     "t.conf:2: filter.relay_ports_only: only applies with scope = \"udp\""},
    {"filter = { interfaces = [ \"lo\" ];\n rate_limit = { pps = 1000000001; }; };\n" RELAY,
     "t.conf:2: filter.rate_limit.pps: must be from 0 to 1000000000"},
    {"filter = { interfaces = [ \"lo\" ];\n rate_limit = { pps = 10; burst = 0; }; };\n" RELAY,
     "t.conf:2: filter.rate_limit.burst: must be at least 1 when pps is set"},
    {"filter = { interfaces = [ \"lo\" ];\n rate_limit = { prefix4 = 0; }; };\n" RELAY,
     "t.conf:2: filter.rate_limit.prefix4: must be from 1 to 32"},
    {"filter = { interfaces = [ \"lo\" ];\n rate_limit = { prefix6 = 129; }; };\n" RELAY,
     "t.conf:2: filter.rate_limit.prefix6: must be from 1 to 128"},
    {"filter = { interfaces = [ \"lo\" ];\n rate_limit = 5; };\n" RELAY,
     "t.conf:2: filter.rate_limit: must be a group, e.g. { pps = 10000; burst = 20000; }"},
};

/* max_sessions_per_source follows max_sessions unless set; session_full's words. */
static void test_sessions_per_source(void **state)
{
	static const struct {
		const char *extra;
		uint32_t max, per_source;
		enum session_full full;
	} cases[] = {
		{ "", 4096, 1024, SESSION_FULL_DROP },
		{ "max_sessions = 65536;", 65536, 16384, SESSION_FULL_DROP },
		{ "max_sessions = 3;", 3, 1, SESSION_FULL_DROP }, /* never 0 */
		{ "max_sessions = 1;", 1, 1, SESSION_FULL_DROP },
		{ "max_sessions = 10; max_sessions_per_source = 10;", 10, 10, SESSION_FULL_DROP },
		{ "max_sessions_per_source = 1; session_full = \"evict\";", 4096, 1,
		  SESSION_FULL_EVICT },
		{ "session_full = \"drop\";", 4096, 1024, SESSION_FULL_DROP },
	};
	char text[512];
	struct config *cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "relays = ( { name = \"a\"; listen = [ \"127.0.0.1:1\" ];\n"
			 " upstreams = [ \"127.0.0.1:2\" ]; %s } );\n",
			 cases[i].extra);
		cfg = load_ok(text);
		assert_int_equal(cfg->relays[0].max_sessions, cases[i].max);
		assert_int_equal(cfg->relays[0].max_sessions_per_source, cases[i].per_source);
		assert_int_equal(cfg->relays[0].session_full, cases[i].full);
		config_free(cfg);
	}
	assert_string_equal(config_session_full_name(SESSION_FULL_EVICT), "evict");
}

static void test_errors(void **state)
{
	char err[CONFIG_ERR_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct config *cfg = (struct config *)1;
		int ret;

		err[0] = '\0';
		ret = config_load_string(c->text, "t.conf", &cfg, err, sizeof(err));
		if (ret != -EINVAL || strcmp(err, c->msg) != 0)
			fail_msg("case %zu: ret %d\n got: %s\nwant: %s", i, ret, err, c->msg);
		assert_null(cfg);
	}
}

/* Equal up to line numbers and the name the text was loaded under. */
static void assert_config_equal(const struct config *a, const struct config *b)
{
	struct config *x = malloc(sizeof(*x)), *y = malloc(sizeof(*y));
	struct config *both[2] = {x, y};
	uint32_t i, k;

	assert_non_null(x);
	assert_non_null(y);
	memcpy(x, a, sizeof(*x));
	memcpy(y, b, sizeof(*y));
	for (k = 0; k < 2; k++) {
		struct config *c = both[k];

		memset(c->path, 0, sizeof(c->path));
		c->user_line = 0;
		c->control_access_line = 0;
		c->workers_line = 0;
		memset(c->cpus_line, 0, sizeof(c->cpus_line));
		/* (a dump writes every value: read back, none is a default any more) */
		for (i = 0; i < CONFIG_MAX_RELAYS; i++) {
			struct relay_conf *r = &c->relays[i];
			uint32_t u;

			r->line = r->max_sessions_line = r->source_line = 0;
			r->per_source_default = false;
			/* (a dump writes literal listen addresses before names) */
			memset(r->listen_line, 0, sizeof(r->listen_line));
			memset(r->listen_entry, 0, sizeof(r->listen_entry));
			memset(r->listen_name_entry, 0, sizeof(r->listen_name_entry));
			for (u = 0; u < CONFIG_MAX_UPSTREAMS; u++)
				r->upstreams[u].line = 0;
		}
		c->filter.line = 0;
		memset(c->filter.interface_line, 0, sizeof(c->filter.interface_line));
		for (i = 0; i < FILTER_MAX_PREFIXES; i++)
			c->filter.deny[i].line = c->filter.allow[i].line = 0;
		for (i = 0; i < FILTER_MAX_PORT_RULES; i++)
			c->filter.ports[i].line = 0;
	}
	assert_memory_equal(x, y, sizeof(*x));
	free(x);
	free(y);
}

static void round_trip(const char *text)
{
	char err[CONFIG_ERR_LEN], *dump = NULL, *dump2 = NULL;
	struct config *a = load_ok(text), *b = NULL;
	size_t len = 0, len2 = 0;
	FILE *f;
	int ret;

	f = open_memstream(&dump, &len);
	assert_non_null(f);
	config_dump(a, f);
	fclose(f);
	ret = config_load_string(dump, "dump", &b, err, sizeof(err));
	if (ret)
		fail_msg("dump does not load: %s\n%s", err, dump);
	assert_config_equal(a, b);
	/* and the dump of the dump is the same text */
	f = open_memstream(&dump2, &len2);
	assert_non_null(f);
	config_dump(b, f);
	fclose(f);
	assert_string_equal(strchr(dump, '\n'), strchr(dump2, '\n'));
	config_free(a);
	config_free(b);
	free(dump);
	free(dump2);
}

static void test_dump_round_trip(void **state)
{
	(void)state;
	round_trip(good_text);
	round_trip(RELAY);
	round_trip(
	    "stats_interval = 0.1;\nmetrics = { };\n"
	    "relays = ( { name = \"x\"; listen = [ \"[::]:9\" ]; upstreams = [ \"[::1]:9\" ];"
	    " session_timeout = 1e-3; max_sessions = 1; } );\n"
	    "filter = { mode = \"off\"; rate_limit = { pps = 1000000000; burst = 1; }; };\n"
	    "user = \"we\\\"ird\\\\\";\n");
	/* the settings of issue 14 */
	round_trip("pid_file = \"/run/rr.pid\";\nlog_format = \"json\";\n"
		   "access_log = \"/var/log/ringrelay/access.log\";\naccess_log_rate = 5;\n"
		   "relays = ( { name = \"x\"; listen = [ \"[::]:9\" ];"
		   " upstreams = [ \"[::1]:9\" ]; reuseport_shared = true; } );\n");
	/* issue 10's napi block, every setting away from its default */
	round_trip("napi = { busy_poll_us = 0; prefer_busy_poll = false; busy_poll_budget = 8;\n"
		   " defer_hard_irqs = 100; gro_flush_timeout = 20000; threaded = true;\n"
		   " thread_nice = -7; };\n" RELAY);
	round_trip("napi = { busy_poll_us = 50; irq_suspend_timeout = 20000000;\n"
		   " gro_flush_timeout = 20000; };\n" RELAY);
}

/* The napi block as written, and a partial block keeps the other defaults. */
static void test_napi(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("napi = { busy_poll_us = 0; prefer_busy_poll = false;\n"
		      "  busy_poll_budget = 8; defer_hard_irqs = 100; gro_flush_timeout = 20000;\n"
		      "  irq_suspend_timeout = 0; threaded = true; };\n" RELAY);
	assert_int_equal(cfg->napi.busy_poll_us, 0);
	assert_false(cfg->napi.prefer_busy_poll);
	assert_int_equal(cfg->napi.busy_poll_budget, 8);
	assert_int_equal(cfg->napi.defer_hard_irqs, 100);
	assert_int_equal(cfg->napi.gro_flush_timeout, 20000);
	assert_true(cfg->napi.threaded);
	config_free(cfg);
	cfg = load_ok("napi = { thread_nice = -3; };\n" RELAY);
	assert_int_equal(cfg->napi.thread_nice, -3);
	config_free(cfg);
	cfg = load_ok("napi = { busy_poll_us = 50; irq_suspend_timeout = 20000000; };\n" RELAY);
	assert_int_equal(cfg->napi.thread_nice, 5); /* the default */
	assert_int_equal(cfg->napi.busy_poll_us, 50);
	assert_true(cfg->napi.prefer_busy_poll);
	assert_int_equal(cfg->napi.defer_hard_irqs, 0);
	assert_int_equal(cfg->napi.gro_flush_timeout, 0);
	assert_int_equal(cfg->napi.irq_suspend_timeout, 20000000);
	config_free(cfg);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(config_backend_name(IO_BACKEND_AUTO), "auto");
	assert_string_equal(config_backend_name(IO_BACKEND_IO_URING), "io_uring");
	assert_string_equal(config_backend_name(IO_BACKEND_MMSG), "mmsg");
	assert_string_equal(config_mode_name(RELAY_MODE_FORWARD), "forward");
	assert_string_equal(config_mode_name(RELAY_MODE_MIRROR), "mirror");
	assert_string_equal(config_offload_name(OFFLOAD_TC), "tc");
	assert_string_equal(config_offload_name(OFFLOAD_AUTO), "auto");
	assert_string_equal(config_balance_name(BALANCE_RR), "rr");
	assert_string_equal(config_balance_name(BALANCE_HASH), "hash");
	assert_string_equal(config_balance_name(BALANCE_MAGLEV), "maglev");
	assert_string_equal(config_balance_name((enum balance_mode)42), "?");
	assert_string_equal(config_filter_mode_name(FILTER_MODE_OFF), "off");
	assert_string_equal(config_filter_mode_name(FILTER_MODE_XDP_GENERIC), "xdp-generic");
	assert_string_equal(config_filter_mode_name(FILTER_MODE_TC), "tc");
	assert_string_equal(config_verdict_name(FILTER_VERDICT_DENY), "deny");
	assert_string_equal(config_scope_name(FILTER_SCOPE_UDP), "udp");
	assert_string_equal(config_scope_name((enum filter_scope)7), "?");
}

/* Members come in entry order whatever the entries are (the upkeep thread rebuilds them so:
 * another order after a start would be a new set at its first round), and a name's addresses
 * sorted. "localhost" resolves from /etc/hosts. */
static void test_resolve_order(void **state)
{
	struct config *cfg = load_ok("relays = ( { name = \"a\"; listen = [ \"127.0.0.1:5300\" ]; "
				     "upstreams = [ \"198.18.2.9:53\", \"localhost:53\", "
				     "\"198.18.2.2:53\" ]; } );\n");
	const struct relay_conf *rc = &cfg->relays[0];
	char err[CONFIG_ERR_LEN];
	uint32_t i;

	(void)state;
	assert_int_equal(config_resolve(cfg, NULL, NULL, err, sizeof(err)), 0);
	assert_true(rc->n_members >= 3);
	assert_int_equal(rc->members[0].entry, 0);
	for (i = 1; i + 1 < rc->n_members; i++) {
		assert_int_equal(rc->members[i].entry, 1);
		if (i > 1)
			assert_true(addr_cmp(&rc->members[i - 1].addr, &rc->members[i].addr) < 0);
	}
	assert_int_equal(rc->members[rc->n_members - 1].entry, 2);
	assert_false(rc->upstreams[1].kept_previous);
	config_free(cfg);
}

/* A listen name that resolves to a later relay's literal listen address (or overlaps it) is
 * refused, as two literals are: both relays' sockets would join one SO_REUSEPORT group and
 * share the clients (before: only earlier relays were compared). */
static void test_resolve_listen_clash(void **state)
{
	static const char *const later[] = { "127.0.0.1:5300", "0.0.0.0:5300" };
	char text[512], err[CONFIG_ERR_LEN];
	struct config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		snprintf(text, sizeof(text),
			 "relays = ( { name = \"a\"; listen = [ \"localhost:5300\" ]; "
			 "upstreams = [ \"198.18.2.2:53\" ]; },\n"
			 "{ name = \"b\"; listen = [ \"%s\" ]; upstreams = [ \"198.18.2.3:53\" ]; } );\n",
			 later[i]);
		cfg = load_ok(text);
		assert_int_equal(config_resolve(cfg, NULL, NULL, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "t.conf:1: relays[0].listen[0]: localhost:5300: "
					    "127.0.0.1:5300 is already a listen address"));
		config_free(cfg);
	}
	/* another port: no clash */
	cfg = load_ok("relays = ( { name = \"a\"; listen = [ \"localhost:5300\" ]; "
		      "upstreams = [ \"198.18.2.2:53\" ]; },\n"
		      "{ name = \"b\"; listen = [ \"127.0.0.1:5301\" ]; "
		      "upstreams = [ \"198.18.2.3:53\" ]; } );\n");
	assert_int_equal(config_resolve(cfg, NULL, NULL, err, sizeof(err)), 0);
	config_free(cfg);
}

/* A stand-in resolver: every name has an IPv4 and an IPv6 address; it serves the family
 * asked for. */
static int both_families(void *arg, const char *host, uint16_t port, int family,
			 struct addr *out, uint32_t max, char *why, size_t whylen)
{
	const char *const text[] = { "198.18.2.7:0", "[2001:2::7]:0" };
	const char *perr;
	int n = 0;
	size_t i;

	(void)arg, (void)host, (void)max, (void)why, (void)whylen;
	for (i = 0; i < 2; i++) {
		struct addr a;

		assert_int_equal(addr_parse(text[i], &a, &perr), 0);
		if (family != AF_UNSPEC && addr_family(&a) != family)
			continue;
		addr_set_port(&a, port);
		out[n++] = a;
	}
	return n;
}

/* source = "client": a name's addresses are those of the listeners' family (a v4 client's
 * session cannot bind its address on a v6 socket: half of the sessions failed); a listen
 * name of the other family than the relay's other listeners is refused. */
static void test_resolve_client_family(void **state)
{
	const struct config_names how = { .lookup = both_families };
	char err[CONFIG_ERR_LEN];
	struct config *cfg;
	uint32_t i;

	(void)state;
	cfg = load_ok("relays = ( { name = \"a\"; listen = [ \"[2001:2::1]:514\" ]; "
		      "upstreams = [ \"collector:514\" ]; source = \"client\"; } );\n");
	assert_int_equal(config_resolve_with(cfg, &how, err, sizeof(err)), 0);
	assert_int_equal(cfg->relays[0].n_members, 1);
	for (i = 0; i < cfg->relays[0].n_members; i++)
		assert_int_equal(addr_family(&cfg->relays[0].members[i].addr), AF_INET6);
	config_free(cfg);
	/* without source = "client": both */
	cfg = load_ok("relays = ( { name = \"a\"; listen = [ \"[2001:2::1]:514\" ]; "
		      "upstreams = [ \"collector:514\" ]; } );\n");
	assert_int_equal(config_resolve_with(cfg, &how, err, sizeof(err)), 0);
	assert_int_equal(cfg->relays[0].n_members, 2);
	config_free(cfg);
	cfg = load_ok("relays = ( { name = \"a\"; listen = [ \"[2001:2::1]:514\", \"relay:514\" ]; "
		      "upstreams = [ \"[2001:2::9]:514\" ]; source = \"client\"; } );\n");
	assert_int_equal(config_resolve_with(cfg, &how, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "t.conf:1: relays[0].source: \"client\" sends from the "
				    "client's own "
				    "address: listen addresses [2001:2::1]:514 and 198.18.2.7:514 are "
				    "of two families"));
	config_free(cfg);
}

/* A stand-in resolver that knows no name. */
static int no_names(void *arg, const char *host, uint16_t port, int family, struct addr *out,
		    uint32_t max, char *why, size_t whylen)
{
	(void)arg, (void)host, (void)port, (void)family, (void)out, (void)max;
	snprintf(why, whylen, "Name or service not known");
	return -ENOENT;
}

/* What fails after parsing still says FILE:LINE: SETTING with the entry's own line and its
 * index as written (before: the relay's line and "relay 'a': upstream NAME"); a listen name
 * written before a literal address keeps its entry's index, and the literal its own. */
static void test_resolve_positions(void **state)
{
	const struct config_names none = { .lookup = no_names };
	const struct config_names how = { .lookup = both_families };
	char err[CONFIG_ERR_LEN], where[CONFIG_PATH_LEN + 64];
	struct config *cfg;
	const struct relay_conf *rc;

	(void)state;
	cfg = load_ok("relays = ( { name = \"a\";\n"
		      "  listen = [ \"127.0.0.1:5300\" ];\n"
		      "  upstreams = [ \"198.18.2.2:53\",\n"
		      "    \"gone.example:53\" ];\n"
		      "  max_sessions = 100; } );\n");
	assert_int_equal(cfg->relays[0].max_sessions_line, 5);
	assert_int_equal(config_resolve_with(cfg, &none, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "t.conf:4: relays[0].upstreams[1]: gone.example:53: Name or "
				 "service not known");
	config_free(cfg);
	cfg = load_ok("relays = ( { name = \"a\";\n"
		      "  listen = [ \"relay.example:5300\",\n"
		      "    \"[2001:2::1]:5301\" ];\n"
		      "  upstreams = [ \"198.18.2.2:53\" ]; } );\n");
	rc = &cfg->relays[0];
	assert_int_equal(rc->max_sessions_line, 1); /* not written: the relay's */
	assert_int_equal(rc->listen_entry[0], 1);
	assert_int_equal(rc->listen_line[1], 3);
	assert_int_equal(config_resolve_with(cfg, &none, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "t.conf:2: relays[0].listen[0]: relay.example:5300: Name or "
				 "service not known");
	assert_int_equal(config_resolve_with(cfg, &how, err, sizeof(err)), 0);
	assert_int_equal(rc->n_listen, 3);
	assert_int_equal(rc->listen_entry[1], 0);
	assert_int_equal(rc->listen_entry[2], 0);
	/* what a failed bind or a held port names */
	assert_string_equal(config_listen_where(cfg, 0, 0, where, sizeof(where)),
			    "t.conf:3: relays[0].listen[1]");
	assert_string_equal(config_listen_where(cfg, 0, 2, where, sizeof(where)),
			    "t.conf:2: relays[0].listen[0]");
	config_free(cfg);
}

/* What config_keep_restart reports, one line per changed setting. */
struct kept {
	char what[16][64];
	int n;
};

static void note_kept(void *arg, const char *what)
{
	struct kept *k = arg;

	assert_true(k->n < 16);
	snprintf(k->what[k->n++], sizeof(k->what[0]), "%s", what);
}

/* A reload keeps the running value of every restart-only setting (and says which), takes
 * the others, and matches relays by name. */
static void test_keep_restart(void **state)
{
	struct config *old = load_ok(
	    "workers = 1;\nio_backend = \"mmsg\";\ncpus = [ 0 ];\nbuffers = 64;\n"
	    "stats_interval = 1.0;\n"
	    "relays = ( { name = \"a\"; listen = [ \"127.0.0.1:5300\" ]; "
	    "upstreams = [ \"127.0.0.1:5301\" ]; max_sessions = 10; },\n"
	    "{ name = \"b\"; listen = [ \"127.0.0.1:5302\" ]; upstreams = [ \"127.0.0.1:5301\" ];"
	    " max_sessions = 10; } );\n");
	struct config *next = load_ok(
	    "workers = 2;\nio_backend = \"mmsg\";\ncpus = [ 0, 1 ];\nbuffers = 128;\n"
	    "buffer_size = 4096;\nuser = \"nobody\";\ncontrol_socket = \"/tmp/x.sock\";\n"
	    "control_access = { read_only_group = \"adm\"; };\n"
	    "metrics = { };\nstats_interval = 2.0;\n"
	    "napi = { busy_poll_us = 10; threaded = true; defer_hard_irqs = 7; };\n"
	    "filter = { mode = \"off\"; pin = true; };\n"
	    "relays = ( { name = \"b\"; listen = [ \"127.0.0.1:5302\" ]; "
	    "upstreams = [ \"127.0.0.1:5301\" ]; max_sessions = 20; session_timeout = 9; },\n"
	    "{ name = \"c\"; listen = [ \"127.0.0.1:5303\" ]; upstreams = [ \"127.0.0.1:5301\" ];"
	    " max_sessions = 30; } );\n");
	static const char *const want[] = { "workers",	       "cpus",
					    "buffer_size",     "buffers",
					    "stats_interval",  "user",
					    "control_socket",  "control_access",
					    "metrics",	       "napi.busy_poll_us",
					    "napi.threaded",   "filter.pin",
					    "relay b: max_sessions" };
	struct kept k = { .n = 0 };
	size_t i;

	(void)state;
	config_keep_restart(old, next, note_kept, &k);
	assert_int_equal(k.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(k.what[i], want[i]);
	/* the running values, in the new config */
	assert_int_equal(next->workers, 1);
	assert_int_equal(next->n_cpus, 1);
	assert_int_equal(next->buffer_size, 2048);
	assert_int_equal(next->buffers, 64);
	assert_string_equal(next->user, "");
	assert_string_equal(next->control_socket, "/run/ringrelay/ringrelay.sock");
	assert_false(next->metrics.enabled);
	assert_int_equal(next->relays[0].max_sessions, 10);
	/* its default per-source limit follows the kept 10 (the file's 20 gave 5) */
	assert_int_equal(next->relays[0].max_sessions_per_source, 2);
	assert_int_equal(next->napi.busy_poll_us, 0);
	assert_false(next->napi.threaded);
	assert_false(next->filter.pin);
	assert_int_equal(next->napi.defer_hard_irqs, 7); /* a reload applies it */
	assert_true(next->stats_interval == 1.0);
	/* what a reload applies stays new: a new relay's size, timeouts, the rest */
	assert_int_equal(next->relays[1].max_sessions, 30);
	assert_true(next->relays[0].session_timeout == 9.0);
	assert_int_equal(next->n_relays, 2);
	/* nothing changed: nothing to say */
	k.n = 0;
	config_keep_restart(old, old, note_kept, &k);
	assert_int_equal(k.n, 0);
	config_free(next);
	/* one set above the kept max_sessions is no limit, as max_sessions itself is */
	next = load_ok("relays = ( { name = \"b\"; listen = [ \"127.0.0.1:5302\" ]; "
		       "upstreams = [ \"127.0.0.1:5301\" ]; max_sessions = 100; "
		       "max_sessions_per_source = 50; } );\n");
	config_keep_restart(old, next, note_kept, &k);
	assert_int_equal(next->relays[0].max_sessions, 10);
	assert_int_equal(next->relays[0].max_sessions_per_source, 10);
	config_free(old);
	config_free(next);
}

static void test_files(void **state)
{
	char err[CONFIG_ERR_LEN], path[] = "/tmp/test_config.XXXXXX";
	struct config *cfg = (struct config *)1;
	FILE *f;
	int fd;

	(void)state;
	assert_int_equal(config_load_file("/nonexistent/ringrelay.conf", &cfg, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "/nonexistent/ringrelay.conf: cannot open: No such file or "
				 "directory");
	assert_null(cfg);
	assert_int_equal(config_load_file("/", &cfg, err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "/: cannot read: Is a directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("workers = 1;\n" RELAY "workers = 2;\n", f);
	fclose(f);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_string_equal(err + strlen(path), ":3: workers: duplicate setting: it is set more "
						"than once in its group; keep one");

	f = fopen(path, "w");
	assert_non_null(f);
	fputs(RELAY, f);
	fputc('\0', f);
	fclose(f);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err + strlen(path), ": syntax error: the file contains a NUL byte");
	unlink(path);
}

static void test_shipped(void **state)
{
	static const char *const files[] = {
	    "config/ringrelay.conf",
	    "config/examples/dns-lb.conf",
	    "config/examples/syslog-fanout.conf",
	    "config/examples/game-relay.conf",
	};
	char err[CONFIG_ERR_LEN];
	struct config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (config_load_file(files[i], &cfg, err, sizeof(err)))
			fail_msg("%s", err);
		assert_string_equal(cfg->path, files[i]);
		config_free(cfg);
	}
	assert_int_equal(config_load_file("config/ringrelay.conf", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->n_relays, 1);
	assert_string_equal(cfg->relays[0].name, "echo-demo");
	assert_int_equal(cfg->filter.mode, FILTER_MODE_OFF);
	assert_int_equal(cfg->workers, 0);
	assert_int_equal(config_check_host(cfg, err, sizeof(err)), 0);
	config_free(cfg);
}

static void test_check_host(void **state)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg;

	(void)state;
	cfg = load_ok("filter = {\n interfaces = [ \"lo\",\n \"rr-none9\" ]; };\n" RELAY);
	assert_int_equal(config_check_host(cfg, err, sizeof(err)), -ENODEV);
	assert_string_equal(err, "t.conf:3: filter.interfaces[1]: no such network interface "
				 "'rr-none9'");
	config_free(cfg);
	/* with the filter off, interfaces are not looked at */
	cfg = load_ok("filter = { mode = \"off\"; interfaces = [ \"rr-none9\" ]; };\n" RELAY);
	assert_int_equal(config_check_host(cfg, err, sizeof(err)), 0);
	config_free(cfg);
	cfg = load_ok("filter = { interfaces = [ \"lo\" ]; };\n" RELAY);
	assert_int_equal(config_check_host(cfg, err, sizeof(err)), 0);
	config_free(cfg);
	/* -t refuses a user that does not exist; root always does */
	cfg = load_ok(RELAY "\nuser = \"rr-nosuchuser9\";\n");
	assert_int_equal(config_check_host(cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "t.conf:3: user: no such user 'rr-nosuchuser9' (create it, e.g. "
				 "adduser --system, or leave user unset)");
	config_free(cfg);
	cfg = load_ok("user = \"root\";\n" RELAY);
	assert_int_equal(config_check_host(cfg, err, sizeof(err)), 0);
	config_free(cfg);
	/* and a read-only group that does not exist; root's group always does */
	cfg = load_ok(RELAY "control_access = {\n read_only_group = \"rr-nosuchgroup9\"; };\n");
	assert_int_equal(config_check_host(cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "t.conf:3: control_access.read_only_group: no such group "
				 "'rr-nosuchgroup9' (create it, e.g. addgroup --system, or leave "
				 "it unset)");
	config_free(cfg);
	cfg = load_ok("control_access = { read_only_group = \"root\"; };\n" RELAY);
	assert_int_equal(config_check_host(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->control_access.read_only_group, "root");
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_gro_buffer_defaults),
	    cmocka_unit_test(test_errors),  cmocka_unit_test(test_dump_round_trip), cmocka_unit_test(test_napi),
	    cmocka_unit_test(test_names),   cmocka_unit_test(test_keep_restart),
	    cmocka_unit_test(test_resolve_order),
	    cmocka_unit_test(test_resolve_listen_clash),
	    cmocka_unit_test(test_resolve_client_family),
	    cmocka_unit_test(test_resolve_positions),
	    cmocka_unit_test(test_files),   cmocka_unit_test(test_sessions_per_source),
	    cmocka_unit_test(test_shipped), cmocka_unit_test(test_check_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
