// SPDX-License-Identifier: MIT
/* steer: the decision from the config, the probe's result and listen interfaces described by
 * hand (steer_decide is pure), and the probe itself over this machine's loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "rxreport.h"
#include "steer.h"

static const int cpus2[] = {0, 1};

struct fixture {
	struct config cfg;
	struct rxreport r;
	struct steer st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->cfg.steering = STEERING_AUTO;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* One interface, name, with n RX queues whose IRQs run on irq_cpu[q]. */
static struct rxpath_iface *nic(struct fixture *f, const char *name, uint32_t n,
				const int *irq_cpu)
{
	struct rxpath_iface *ifc = &f->r.ifaces[f->r.n++];
	uint32_t q;

	strcpy(ifc->name, name);
	ifc->n_queues = ifc->n_desc = n;
	ifc->irqs_known = true;
	ifc->threaded = 0;
	for (q = 0; q < n; q++) {
		ifc->q[q].n_irqs = 1;
		ifc->q[q].irq[0] = 40 + (int)q;
		CPU_SET(irq_cpu[q], &ifc->q[q].irq_cpus);
	}
	return ifc;
}

static void decide(struct fixture *f)
{
	steer_decide(&f->cfg, 0, "", &f->r, cpus2, 2, &f->st);
}

static void test_hash_configured(void **state)
{
	struct fixture *f = *state;

	f->cfg.steering = STEERING_HASH;
	nic(f, "eth0", 2, cpus2);
	decide(f);
	assert_false(f->st.cpu);
	assert_string_equal(f->st.why, "steering = \"hash\"");
}

static void test_one_worker(void **state)
{
	struct fixture *f = *state;

	f->cfg.steering = STEERING_CPU;
	steer_decide(&f->cfg, 0, "", &f->r, cpus2, 1, &f->st);
	assert_false(f->st.cpu);
	assert_string_equal(f->st.why, "one worker");
}

/* A kernel that picks by hash: no steering even when asked for, with the probe's words. */
static void test_kernel_without(void **state)
{
	struct fixture *f = *state;

	f->cfg.steering = STEERING_CPU;
	steer_decide(&f->cfg, -ENOTSUP, "this kernel picks by flow hash", &f->r, cpus2, 2, &f->st);
	assert_false(f->st.cpu);
	assert_string_equal(f->st.why, "this kernel picks by flow hash");
}

static void test_cpu_configured(void **state)
{
	struct fixture *f = *state;

	f->cfg.steering = STEERING_CPU;
	decide(f); /* nothing described: asked for, so done */
	assert_true(f->st.cpu);
	assert_string_equal(f->st.why, "steering = \"cpu\"");
}

static void test_auto_irqs_cover_workers(void **state)
{
	struct fixture *f = *state;
	const int irq[] = {1, 0, 1, 0};

	nic(f, "eth0", 4, irq);
	decide(f);
	assert_true(f->st.cpu);
	assert_string_equal(f->st.why,
			    "every worker's CPU runs receive work of the listen interface");
}

static void test_auto_irqs_miss_a_worker(void **state)
{
	struct fixture *f = *state;
	const int irq[] = {0, 0};

	nic(f, "eth0", 2, irq);
	decide(f);
	assert_false(f->st.cpu);
	assert_string_equal(f->st.why, "CPU 1 (worker 1) runs none of eth0's receive work");
}

/* Every listen interface must cover every worker. */
static void test_auto_second_iface_misses(void **state)
{
	struct fixture *f = *state;
	const int irq[] = {1};

	nic(f, "eth0", 2, cpus2);
	nic(f, "eth1", 1, irq);
	decide(f);
	assert_false(f->st.cpu);
	assert_string_equal(f->st.why, "CPU 0 (worker 0) runs none of eth1's receive work");
}

/* RPS decides where the stack runs, whatever the IRQs (and on a virtual device). */
static void test_auto_rps(void **state)
{
	struct fixture *f = *state;
	const int irq[] = {0};
	struct rxpath_iface *ifc = nic(f, "eth0", 1, irq);

	CPU_SET(0, &ifc->q[0].rps);
	CPU_SET(1, &ifc->q[0].rps);
	decide(f);
	assert_true(f->st.cpu);
	ifc->virtual_dev = true;
	ifc->irqs_known = false;
	decide(f);
	assert_true(f->st.cpu);
}

static void test_auto_virtual(void **state)
{
	struct fixture *f = *state;
	struct rxpath_iface *ifc = nic(f, "veth0", 1, cpus2);

	ifc->virtual_dev = true;
	ifc->irqs_known = false;
	decide(f);
	assert_false(f->st.cpu);
	assert_string_equal(f->st.why, "veth0 is virtual: its receive runs on the sending CPUs");
}

static void test_auto_irqs_unknown(void **state)
{
	struct fixture *f = *state;
	struct rxpath_iface *ifc = nic(f, "eth0", 2, cpus2);

	ifc->irqs_known = false;
	decide(f);
	assert_false(f->st.cpu);
	assert_string_equal(f->st.why, "the IRQs of eth0's RX queues are not known");
}

/* Threaded outside ringrelay: where its threads may run. */
static void test_auto_threads(void **state)
{
	struct fixture *f = *state;
	struct rxpath_iface *ifc = nic(f, "veth0", 1, cpus2);

	ifc->virtual_dev = true;
	ifc->threaded = 1;
	ifc->n_threads = ifc->n_threads_all = 2;
	CPU_SET(0, &ifc->threads[0].cpus);
	CPU_SET(1, &ifc->threads[1].cpus);
	decide(f);
	assert_true(f->st.cpu);
	CPU_CLR(1, &ifc->threads[1].cpus);
	CPU_SET(0, &ifc->threads[1].cpus);
	decide(f);
	assert_false(f->st.cpu);
}

/* napi.threaded: ringrelay pins instance i to worker i's CPU, so it takes as many instances
 * (RX queues, before any thread exists) as workers. */
static void test_auto_napi_threaded(void **state)
{
	struct fixture *f = *state;
	const int irq[] = {0, 0};
	struct rxpath_iface *ifc = nic(f, "eth0", 2, irq);

	f->cfg.napi.threaded = true;
	decide(f);
	assert_true(f->st.cpu);
	ifc->n_queues = ifc->n_desc = 1;
	decide(f);
	assert_false(f->st.cpu);
	assert_string_equal(f->st.why, "CPU 1 (worker 1) runs none of eth0's receive work");
}

static void test_auto_nothing_described(void **state)
{
	struct fixture *f = *state;

	decide(f);
	assert_false(f->st.cpu);
	assert_string_equal(f->st.why, "no listen interface to judge by");
	steer_decide(&f->cfg, 0, "", NULL, cpus2, 2, &f->st);
	assert_false(f->st.cpu);
}

/* The probe runs on any kernel: it steers, or says why not. */
static void test_probe(void **state)
{
	char why[STEER_WHY_LEN] = "";
	int ret = steer_probe(why, sizeof(why));

	(void)state;
	if (ret == 0)
		assert_string_equal(why, "");
	else if (ret == -ENOTSUP)
		assert_non_null(strstr(why, "picks by flow hash"));
	else
		assert_non_null(strstr(why, "the steering probe failed: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hash_configured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_without, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_configured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_irqs_cover_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_irqs_miss_a_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_second_iface_misses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_rps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_virtual, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_irqs_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_napi_threaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_nothing_described, setup, teardown),
		cmocka_unit_test(test_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
