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

static void test_default_one_worker_per_cpu(void **state)
{
	struct config *cfg = base_config();
	struct plan_host h = host4();
	struct plan *p = malloc(sizeof(*p));
	char err[256];

	(void)state;
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), 0);
	assert_int_equal(p->n_workers, 4);
	assert_int_equal(p->cpu[3], 5);
	/* 1001 sessions over 4 workers: rounded up so the relay gets at least 1001. */
	assert_int_equal(p->sessions[0], 251);
	assert_int_equal(p->n_listeners, 2);
	assert_int_equal(p->session_slots, 251 + 1024); /* headroom for reloads */
	assert_int_equal(p->files, PLAN_SESSION_BASE + 251 + 1024);
	/* A power of two that covers every buffer's receive and send plus session ends. */
	assert_true(p->cq_entries >= 4096 * 2 + 2 * (2 + 251));
	assert_int_equal(p->cq_entries & (p->cq_entries - 1), 0);
	/* 2048 - recvmsg header 16 - name 28 - control 64; replies have no name or control. */
	assert_int_equal(p->payload_max, 1940);
	assert_int_equal(p->reply_payload_max, 2032);
	cfg->gro = true; /* + the UDP_GRO control message on both */
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), 0);
	assert_int_equal(p->payload_max, 1916);
	assert_int_equal(p->reply_payload_max, 2008);
	free(p);
	free(cfg);
}

static void test_rx_queues_cap_workers(void **state)
{
	struct config *cfg = base_config();
	struct plan_host h = host4();
	struct plan *p = malloc(sizeof(*p));
	char err[256];

	(void)state;
	h.rx_queues = 2;
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), 0);
	assert_int_equal(p->n_workers, 2);
	cfg->workers = 3; /* explicit wins */
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), 0);
	assert_int_equal(p->n_workers, 3);
	free(p);
	free(cfg);
}

/* A reload plans for the workers that run, whatever the host looks like now: the session
 * split of a new relay is over them. */
static void test_reload_keeps_workers(void **state)
{
	struct config *cfg = base_config();
	struct plan_host h = host4();
	struct plan *p = malloc(sizeof(*p));
	char err[256];

	(void)state;
	h.rx_queues = 2; /* would give 2 workers at start */
	h.workers = 3;
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), 0);
	assert_int_equal(p->n_workers, 3);
	assert_int_equal(p->sessions[0], 334); /* 1001 over 3, rounded up */
	free(p);
	free(cfg);
}

/* What a listen interface carries against what a buffer holds: runtime_prepare warns when
 * payload_max is below link_payload_max. */
static void test_link_payload(void **state)
{
	struct config *cfg = base_config();
	struct plan_host h = host4();
	struct plan *p = malloc(sizeof(*p));
	char err[256];

	(void)state;
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), 0);
	assert_int_equal(p->link_payload_max, 0); /* MTU unknown */
	h.mtu = 9000;
	strcpy(h.mtu_ifname, "eth1");
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), 0);
	assert_int_equal(p->link_payload_max, 9000 - 28);
	assert_string_equal(p->link_ifname, "eth1");
	assert_true(p->payload_max < p->link_payload_max);
	free(p);
	free(cfg);
}

static void test_pinned_cpus(void **state)
{
	struct config *cfg = base_config();
	struct plan_host h = host4();
	struct plan *p = malloc(sizeof(*p));
	char err[256];

	(void)state;
	cfg->n_cpus = 2;
	cfg->cpus[0] = 5;
	cfg->cpus[1] = 1;
	cfg->workers = 3;
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), 0);
	assert_int_equal(p->cpu[0], 5);
	assert_int_equal(p->cpu[1], 1);
	assert_int_equal(p->cpu[2], 5);
	cfg->cpus[1] = 3; /* not in the affinity mask */
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf: cpus[1]: CPU 3 is not available to this process "
				 "(check taskset/CPUAffinity=)");
	free(p);
	free(cfg);
}

static void test_mirror_fanout(void **state)
{
	struct config *cfg = base_config();
	struct plan_host h = host4();
	struct plan *p = malloc(sizeof(*p));
	char err[256];

	(void)state;
	cfg->relays[0].mode = RELAY_MODE_MIRROR;
	cfg->workers = 1;
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), 0);
	assert_int_equal(p->max_fanout, 3);
	assert_int_equal(p->n_mirror, 3);
	assert_int_equal(p->sessions[0], 0);
	assert_int_equal(p->files, PLAN_SESSION_BASE + 1024);
	assert_true(p->cq_entries >= 4096 * 4);
	free(p);
	free(cfg);
}

static void test_too_many_sessions(void **state)
{
	struct config *cfg = base_config();
	struct plan_host h = host4();
	struct plan *p = malloc(sizeof(*p));
	char err[256];

	(void)state;
	cfg->workers = 1;
	cfg->relays[0].max_sessions = 4u << 20;
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "registered files"));
	h.n_cpus = 0;
	assert_int_equal(plan_build(cfg, &h, p, err, sizeof(err)), -EINVAL);
	free(p);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_one_worker_per_cpu),
		cmocka_unit_test(test_rx_queues_cap_workers),
		cmocka_unit_test(test_reload_keeps_workers),
		cmocka_unit_test(test_link_payload),
		cmocka_unit_test(test_pinned_cpus),
		cmocka_unit_test(test_mirror_fanout),
		cmocka_unit_test(test_too_many_sessions),
	};
	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
