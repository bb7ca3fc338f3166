// SPDX-License-Identifier: MIT
/* plan: worker counts, CPU pinning, session split and ring sizes from plain data. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static struct config *base_config(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	const char *why;

	strcpy(cfg->path, "t.conf");
	cfg->buffers = 4096;
	cfg->buffer_size = 2048;
	cfg->n_relays = 1;
	strcpy(cfg->relays[0].name, "r");
	cfg->relays[0].n_listen = 2;
	addr_parse("198.18.1.2:5000", &cfg->relays[0].listen[0], &why);
	addr_parse("[2001:2::2]:5000", &cfg->relays[0].listen[1], &why);
	cfg->relays[0].n_upstreams = 3;
	cfg->relays[0].max_sessions = 1001;
	cfg->relays[0].session_timeout = 30;
	return cfg;
}

static struct plan_host host4(void)
{
	struct plan_host h = { .n_cpus = 4, .cpus = { 0, 1, 2, 5 } };

	return h;
}

/* Each test gets a fresh base_config() on host4() and room for a plan. */
struct fixture {
	struct config *cfg;
	struct plan_host h;
	struct plan *plan;
	char err[CONFIG_ERR_LEN];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->cfg = base_config();
	fx->h = host4();
	fx->plan = malloc(sizeof(*fx->plan));
	*state = fx;
	return fx->cfg && fx->plan ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	free(fx->cfg);
	free(fx->plan);
	free(fx);
	return 0;
}

static int build(struct fixture *fx)
{
	return plan_build(fx->cfg, &fx->h, fx->plan, fx->err, sizeof(fx->err));
}

static void test_default_one_worker_per_cpu(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->n_workers, 4);
	assert_int_equal(fx->plan->cpu[3], 5);
	/* 1001 sessions over 4 workers: rounded up so the relay gets at least 1001. */
	assert_int_equal(fx->plan->sessions[0], 251);
	assert_int_equal(fx->plan->n_listeners, 2);
	assert_int_equal(fx->plan->session_slots, 251 + 1024); /* headroom for reloads */
	assert_int_equal(fx->plan->files, PLAN_SESSION_BASE + 251 + 1024);
	/* A power of two that covers every buffer's receive and send plus session ends. */
	assert_true(fx->plan->cq_entries >= 4096 * 2 + 2 * (2 + 251));
	assert_int_equal(fx->plan->cq_entries & (fx->plan->cq_entries - 1), 0);
	/* 2048 - recvmsg header 16 - name 32 (a sockaddr_in6, 8-aligned) - control 64; replies
	 * have no name and only SO_RXQ_OVFL's 24 bytes of control. */
	assert_int_equal(fx->plan->payload_max, 1936);
	assert_int_equal(fx->plan->reply_payload_max, 2008);
	fx->cfg->gro = true; /* + the UDP_GRO control message on both */
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->payload_max, 1912);
	assert_int_equal(fx->plan->reply_payload_max, 1984);
}

static void test_rx_queues_cap_workers(void **state)
{
	struct fixture *fx = *state;

	fx->h.rx_queues = 2;
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->n_workers, 2);
	fx->cfg->workers = 3; /* explicit wins */
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->n_workers, 3);
}

/* A reload plans for the workers that run, whatever the host looks like now: the session
 * split of a new relay is over them. */
static void test_reload_keeps_workers(void **state)
{
	struct fixture *fx = *state;

	fx->h.rx_queues = 2; /* would give 2 workers at start */
	fx->h.workers = 3;
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->n_workers, 3);
	assert_int_equal(fx->plan->sessions[0], 334); /* 1001 over 3, rounded up */
}

/* What a listen interface carries against what a buffer holds: runtime_prepare warns when
 * payload_max is below link_payload_max. */
static void test_link_payload(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->link_payload_max, 0); /* MTU unknown */
	fx->h.mtu = 9000;
	strcpy(fx->h.mtu_ifname, "eth1");
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->link_payload_max, 9000 - 28);
	assert_string_equal(fx->plan->link_ifname, "eth1");
	assert_true(fx->plan->payload_max < fx->plan->link_payload_max);
}

static void test_pinned_cpus(void **state)
{
	struct fixture *fx = *state;

	fx->cfg->n_cpus = 2;
	fx->cfg->cpus[0] = 5;
	fx->cfg->cpus[1] = 1;
	fx->cfg->workers = 3;
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->cpu[0], 5);
	assert_int_equal(fx->plan->cpu[1], 1);
	assert_int_equal(fx->plan->cpu[2], 5);
	fx->cfg->cpus[1] = 3; /* not in the affinity mask */
	fx->cfg->cpus_line[1] = 4;
	assert_int_equal(build(fx), -EINVAL);
	assert_string_equal(fx->err, "t.conf:4: cpus[1]: CPU 3 is not available to this process "
				 "(check taskset/CPUAffinity=)");
}

static void test_mirror_fanout(void **state)
{
	struct fixture *fx = *state;

	fx->cfg->relays[0].mode = RELAY_MODE_MIRROR;
	fx->cfg->workers = 1;
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->max_fanout, 3);
	assert_int_equal(fx->plan->n_mirror, 3);
	assert_int_equal(fx->plan->sessions[0], 0);
	assert_int_equal(fx->plan->files, PLAN_SESSION_BASE + 1024);
	assert_true(fx->plan->cq_entries >= 4096 * 4);
}

/* A worker's ring registers at most 2^20 files, 1280 of them for listeners and mirror
 * sockets, and sessions take twice their number: 523648 sessions per worker at most. The
 * error names the relay's max_sessions where it is written, with the user's own value, and
 * the workers that would hold it (before: 'FILE: max_sessions: 8388608 session slots per
 * worker exceed ...', twice the value written, no line, no relay). */
static void test_too_many_sessions(void **state)
{
	struct fixture *fx = *state;

	fx->cfg->workers = 1;
	fx->cfg->relays[0].max_sessions = 523648;
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->files, PLAN_MAX_FIXED_FILES);
	fx->cfg->relays[0].max_sessions = 523649;
	assert_int_equal(build(fx), -EINVAL);
	fx->cfg->relays[0].max_sessions = 4u << 20;
	fx->cfg->relays[0].max_sessions_line = 7;
	assert_int_equal(build(fx), -EINVAL);
	assert_string_equal(fx->err,
			    "t.conf:7: relays[0].max_sessions: 4194304 sessions over 1 worker need "
			    "8388608 session slots per worker (twice the sessions, so that a reload "
			    "can add relays), more than a worker's io_uring can register (1047296): "
			    "a worker holds at most 523648 sessions; set workers to at least 9, or "
			    "lower max_sessions");
	fx->cfg->workers = 9; /* the top of the documented range, as the message says */
	assert_int_equal(build(fx), 0);
	fx->h.n_cpus = 0;
	assert_int_equal(build(fx), -EINVAL);
}

/* What a start needs of RLIMIT_NOFILE, and -t checks: the shipped dns-lb example (262144
 * sessions, 2 workers, one listen port) needs 526929 descriptors, which a hard limit of 20000
 * without CAP_SYS_RESOURCE cannot give (before, -t passed and the start failed). */
static void test_nofile(void **state)
{
	struct fixture *fx = *state;
	struct plan_nofile lim = { .soft = 1024, .hard = 20000, .nr_open = 1u << 20 };

	fx->cfg->workers = 2;
	fx->cfg->relays[0].max_sessions = 262144;
	fx->cfg->relays[0].max_sessions_line = 5;
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->nofile, 526929);
	assert_int_equal(plan_check_nofile(fx->cfg, fx->plan, &lim, fx->err, sizeof(fx->err)),
			 -EMFILE);
	assert_string_equal(fx->err,
			    "t.conf:5: relays[0].max_sessions: 262144 sessions (262144 in all "
			    "relays, over 2 workers) need 526929 file descriptors (a socket per "
			    "session slot: twice the sessions, so that a reload can add relays, 1280 "
			    "per worker, and a claim per listen port while starting), but the hard "
			    "RLIMIT_NOFILE is 20000 and this process may not raise it (no "
			    "CAP_SYS_RESOURCE): raise LimitNOFILE= in the unit, or ulimit -Hn, to at "
			    "least 526929, or lower max_sessions");
	/* the unit's LimitNOFILE=1048576: the soft limit is raised up to it */
	lim.hard = 1u << 20;
	assert_int_equal(plan_check_nofile(fx->cfg, fx->plan, &lim, fx->err, sizeof(fx->err)), 0);
	/* root raises the hard limit too, up to fs.nr_open */
	lim.hard = 20000;
	lim.can_raise = true;
	assert_int_equal(plan_check_nofile(fx->cfg, fx->plan, &lim, fx->err, sizeof(fx->err)), 0);
	lim.nr_open = 500000;
	assert_int_equal(plan_check_nofile(fx->cfg, fx->plan, &lim, fx->err, sizeof(fx->err)),
			 -EMFILE);
	assert_non_null(strstr(fx->err, "but the kernel allows no more than fs.nr_open = 500000"));
}

/* 300 workers need some 2313 descriptors each whatever max_sessions (listeners, mirrors,
 * 1024 spare session slots): beyond the limit, the error names workers at its line, not
 * max_sessions (before: "relays[0].max_sessions ... or lower max_sessions", which cannot
 * help). */
static void test_nofile_workers(void **state)
{
	struct fixture *fx = *state;
	struct plan_nofile lim = { .soft = 1024, .hard = 20000, .nr_open = 1u << 20 };

	fx->cfg->workers = 300;
	fx->cfg->workers_line = 2;
	fx->cfg->relays[0].max_sessions = 4096;
	fx->cfg->relays[0].max_sessions_line = 5;
	assert_int_equal(build(fx), 0);
	assert_int_equal(plan_check_nofile(fx->cfg, fx->plan, &lim, fx->err, sizeof(fx->err)),
			 -EMFILE);
	assert_string_equal(fx->err,
			    "t.conf:2: workers: 300 workers need at least 693965 file descriptors "
			    "whatever max_sessions (2313 per worker: 1280 for listeners and mirror "
			    "sockets, 1024 spare session slots so that a reload can add relays, one "
			    "per relay's session; 697865 with max_sessions as set), but the hard "
			    "RLIMIT_NOFILE is 20000 and this process may not raise it (no "
			    "CAP_SYS_RESOURCE): raise LimitNOFILE= in the unit, or ulimit -Hn, to at "
			    "least 697865, or lower workers");
	/* workers unset (one per CPU): no line to name */
	fx->cfg->workers_line = 0;
	assert_int_equal(plan_check_nofile(fx->cfg, fx->plan, &lim, fx->err, sizeof(fx->err)),
			 -EMFILE);
	assert_non_null(strstr(fx->err, "t.conf: workers: 300 workers (one per CPU: workers is "
					"unset) need at least 693965"));
	/* a limit the workers fit under but their sessions do not: max_sessions, as before */
	lim.hard = 694000;
	assert_int_equal(plan_check_nofile(fx->cfg, fx->plan, &lim, fx->err, sizeof(fx->err)),
			 -EMFILE);
	assert_non_null(strstr(fx->err, "t.conf:5: relays[0].max_sessions: 4096 sessions"));
	assert_non_null(strstr(fx->err, "or lower max_sessions"));
}

/* A start or reload claims each listen port (a descriptor) until its listeners are bound,
 * beside them: the plan counts one per distinct port, of every relay (before, none: 1024
 * ports under a soft limit of 1024 ran out of descriptors in the claims). */
static void test_nofile_claims(void **state)
{
	struct fixture *fx = *state;
	struct relay_conf *r1 = &fx->cfg->relays[1];
	const char *why;
	uint64_t without;

	fx->cfg->workers = 1;
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->n_claims, 1); /* 5000 in both families: one port */
	without = fx->plan->nofile - 1;
	assert_int_equal(plan_nofile_relays(fx->plan), without);
	/* a second relay on 5000 and 5001 (any relay: reuseport_shared ones claim too) */
	fx->cfg->n_relays = 2;
	strcpy(r1->name, "s");
	r1->n_listen = 2;
	addr_parse("198.18.1.3:5000", &r1->listen[0], &why);
	addr_parse("198.18.1.3:5001", &r1->listen[1], &why);
	r1->reuseport_shared = true;
	assert_int_equal(plan_claims(fx->cfg), 2);
	assert_int_equal(build(fx), 0);
	assert_int_equal(fx->plan->n_claims, 2);
	/* (r1 has no sessions: the relays' own descriptors are as before) */
	assert_int_equal(plan_nofile_relays(fx->plan), without);
	assert_int_equal(fx->plan->nofile, without + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_one_worker_per_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_queues_cap_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_keeps_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pinned_cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_fanout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nofile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nofile_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nofile_claims, setup, teardown),
	};
	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
