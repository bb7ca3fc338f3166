// SPDX-License-Identifier: MIT
/* rxpath: CPU list and mask parsing, IRQ names to queues, the start-up warnings over a path
 * described by hand, and rxpath_describe over a made-up sysfs/procfs tree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rxpath.h"

static void expect_list(const char *in, const char *out)
{
	char buf[256];
	cpu_set_t set;

	assert_int_equal(rxpath_parse_cpulist(in, &set), 0);
	assert_true(rxpath_format_cpus(&set, buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, out);
}

static void expect_mask(const char *in, const char *out)
{
	char buf[256];
	cpu_set_t set;

	assert_int_equal(rxpath_parse_mask(in, &set), 0);
	assert_true(rxpath_format_cpus(&set, buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, out);
}

static void test_cpulist(void **state)
{
	cpu_set_t set;

	(void)state;
	expect_list("0-3,8,10-11\n", "0-3,8,10-11");
	expect_list("1", "1");
	expect_list("", "");
	expect_list("\n", "");
	expect_list("5,1,2,3", "1-3,5");
	expect_list("1023", "1023");
	assert_int_equal(rxpath_parse_cpulist("3-1", &set), -EINVAL);
	assert_int_equal(rxpath_parse_cpulist("1-", &set), -EINVAL);
	assert_int_equal(rxpath_parse_cpulist("a", &set), -EINVAL);
	assert_int_equal(rxpath_parse_cpulist("1 2", &set), -EINVAL);
	assert_int_equal(rxpath_parse_cpulist("1024", &set), -EINVAL);
}

static void test_mask(void **state)
{
	cpu_set_t set;

	(void)state;
	expect_mask("0\n", "");
	expect_mask("00000000", "");
	expect_mask("f", "0-3");
	expect_mask("2\n", "1");
	expect_mask("00000000,0000000f\n", "0-3");
	expect_mask("00000001,80000000", "31-32");
	expect_mask("A", "1,3");
	assert_int_equal(rxpath_parse_mask("", &set), -EINVAL);
	assert_int_equal(rxpath_parse_mask("0x1", &set), -EINVAL);
	assert_int_equal(rxpath_parse_mask("g", &set), -EINVAL);
}

static void test_format_short(void **state)
{
	char buf[4];
	cpu_set_t set;

	(void)state;
	assert_int_equal(rxpath_parse_cpulist("0-3,8", &set), 0);
	assert_int_equal(rxpath_format_cpus(&set, buf, sizeof(buf)), -ENOSPC);
}

static void test_irq_queue(void **state)
{
	static const struct {
		const char *action, *dev;
		bool own;
		uint32_t queues;
		int want;
	} t[] = {
	    {"eth0-rx-1", "eth0", false, 4, 1},	       {"eth0-TxRx-3", "eth0", false, 4, 3},
	    {"eth0-rxtx-0", "eth0", false, 4, 0},      {"i40e-eth0-TxRx-2", "eth0", false, 4, 2},
	    {"eth0-2", "eth0", false, 4, 2},	       {"eth0-tx-1", "eth0", false, 4, -1},
	    {"eth0-rx-4", "eth0", false, 4, -1},  /* beyond the queues */
	    {"eth01-rx-1", "eth0", false, 4, -1}, /* another device */
	    {"xeth0-rx-1", "eth0", false, 4, -1},      {"eth0", "eth0", false, 4, RXPATH_IRQ_ALL},
	    {"virtio2-input.0", "eth0", true, 1, 0},   {"virtio2-input.3", "eth0", true, 4, 3},
	    {"virtio2-output.0", "eth0", true, 1, -1}, {"virtio2-config", "eth0", true, 1, -1},
	    {"virtio2-input.0", "eth0", false, 1, -1}, /* not its IRQ, not its name */
	    {"virtio3-rx", "eth0", true, 1, 0},	       {"virtio3-rx", "eth0", true, 2, -1},
	    {"eth0-async", "eth0", false, 1, -1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = rxpath_irq_queue(t[i].action, t[i].dev, t[i].own, t[i].queues);

		if (got != t[i].want)
			fail_msg("%s on %s (own %d, %u queues): %d, want %d", t[i].action, t[i].dev,
				 t[i].own, t[i].queues, got, t[i].want);
	}
}

/* A NIC with n queues: queue q's IRQ 40 + q on CPU q % 2. */
static void nic(struct rxpath_iface *ifc, uint32_t n)
{
	uint32_t q;

	memset(ifc, 0, sizeof(*ifc));
	snprintf(ifc->name, sizeof(ifc->name), "eth0");
	ifc->n_queues = ifc->n_desc = n;
	ifc->irqs_known = true;
	ifc->threaded = 0;
	ifc->gro = 1;
	ifc->xdp = RXPATH_XDP_NONE;
	for (q = 0; q < n; q++) {
		ifc->q[q].n_irqs = 1;
		ifc->q[q].irq[0] = 40 + (int)q;
		CPU_SET(q % 2, &ifc->q[q].irq_cpus);
	}
}

static void test_check_irq(void **state)
{
	static struct rxpath_iface ifc;
	char msg[4][RXPATH_MSG_LEN];
	struct rxpath_protect p = {0};
	const int cpus[] = {1};

	(void)state;
	nic(&ifc, 1);
	/* IRQ on CPU 0, worker on 1: nothing */
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 0);
	CPU_ZERO(&ifc.q[0].irq_cpus);
	CPU_SET(1, &ifc.q[0].irq_cpus);
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 1);
	assert_string_equal(msg[0],
			    "eth0: RX queue 0's softirq (IRQ 40) runs on CPU 1, a worker's CPU, "
			    "with no protection against receive livelock: set napi.threaded = "
			    "true, or move IRQ 40 off CPU 1 (/proc/irq/40/smp_affinity_list)");
	/* each protection silences it */
	ifc.threaded = 1;
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 0);
	ifc.threaded = 0;
	p.busy_poll = true;
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 0);
	p.busy_poll = false;
	p.shed = true;
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 0);
}

static void test_check_irq_many(void **state)
{
	static struct rxpath_iface ifc;
	char msg[4][RXPATH_MSG_LEN];
	struct rxpath_protect p = {0};
	const int cpus[] = {0, 1, 0, 1};

	(void)state;
	nic(&ifc, 4);
	/* every queue's IRQ is on a worker's CPU: one line, the first named */
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 4, msg, 4), 1);
	assert_non_null(strstr(msg[0], "eth0: RX queue 0's softirq (IRQ 40) runs on CPU 0"));
	assert_non_null(strstr(msg[0], "(and 3 more queues)"));
}

static void test_check_rps(void **state)
{
	static struct rxpath_iface ifc;
	char msg[4][RXPATH_MSG_LEN];
	struct rxpath_protect p = {0};
	const int cpus[] = {1};

	(void)state;
	nic(&ifc, 1);
	ifc.virtual_dev = true;
	ifc.irqs_known = false;
	ifc.q[0].n_irqs = 0;
	CPU_ZERO(&ifc.q[0].irq_cpus);
	CPU_SET(1, &ifc.q[0].rps);
	CPU_SET(0, &ifc.q[0].rps);
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 1);
	assert_string_equal(msg[0],
			    "eth0: RPS steers RX queue 0 to CPU 1, a worker's CPU, where "
			    "its backlog softirq can starve the worker: leave CPU 1 out of "
			    "/sys/class/net/eth0/queues/rx-0/rps_cpus, or drop the excess in "
			    "XDP");
	/* threaded NAPI and busy polling do not cover RPS; shedding does, in XDP (in tc it
	 * runs after RPS) */
	ifc.threaded = 1;
	p.busy_poll = true;
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 1);
	p.shed = true;
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 1);
	ifc.xdp = RXPATH_XDP_NATIVE;
	ifc.xdp_prog_id = 7;
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 0);
}

/* Native XDP runs early on a NIC (before the skb), on veth only with RPS (before RPS). */
static void test_xdp_early(void **state)
{
	static struct rxpath_iface ifc;

	(void)state;
	nic(&ifc, 2);
	assert_true(rxpath_xdp_early(&ifc));
	ifc.virtual_dev = true;
	assert_false(rxpath_xdp_early(&ifc));
	CPU_SET(1, &ifc.q[1].rps);
	assert_true(rxpath_xdp_early(&ifc));
}

static void test_check_queues(void **state)
{
	static struct rxpath_iface ifc;
	char msg[4][RXPATH_MSG_LEN];
	struct rxpath_protect p = {.shed = true};
	const int cpus[] = {0, 1};

	(void)state;
	nic(&ifc, 4);
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 2, msg, 4), 1);
	assert_string_equal(msg[0], "eth0: 4 RX queues, 2 workers: queues 2-3 are served by "
				    "softirq on CPUs 0-1: set workers = 4, or lower the RX queues "
				    "to 2");
	nic(&ifc, 2);
	ifc.virtual_dev = true;
	CPU_ZERO(&ifc.q[1].irq_cpus);
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 1, msg, 4), 1);
	assert_string_equal(msg[0], "eth0: 2 RX queues, 1 worker: queue 1 is served by softirq "
				    "on the sending CPUs (virtual device): set workers = 2, or "
				    "lower the RX queues to 1");
	/* as many workers as queues: quiet; max bounds what is written, not the count */
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 2, msg, 4), 0);
	p.shed = false;
	nic(&ifc, 4);
	CPU_SET(1, &ifc.q[0].rps);
	assert_int_equal(rxpath_check(&ifc, &p, cpus, 2, msg, 1), 3);
	assert_non_null(strstr(msg[0], "softirq (IRQ 40) runs on CPU 0"));
}

/* ---- rxpath_describe over a made-up tree */

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[512], cmd[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_describe_tree(void **state)
{
	static struct rxpath_iface ifc;
	char sys[128], proc[128], buf[64];
	struct rxpath_paths pp = {sys, proc};

	(void)state;
	snprintf(root, sizeof(root), "/tmp/rr-rxpath-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(sys, sizeof(sys), "%s/sys", root);
	snprintf(proc, sizeof(proc), "%s/proc", root);
	/* a virtio NIC: vectors on the PCI parent, two queues */
	put("sys/class/net/eth0/queues/rx-0/rps_cpus", "00000000,00000002\n");
	put("sys/class/net/eth0/queues/rx-1/rps_cpus", "0\n");
	put("sys/class/net/eth0/queues/tx-0/xps_cpus", "0\n");
	put("sys/class/net/eth0/threaded", "1\n");
	put("sys/class/net/eth0/device/uevent", "");
	put("sys/class/net/eth0/device/../msi_irqs/37", "msix\n");
	put("sys/class/net/eth0/device/../msi_irqs/38", "msix\n");
	put("sys/class/net/eth0/device/../msi_irqs/39", "msix\n");
	put("sys/class/net/eth0/device/../msi_irqs/40", "msix\n");
	put("sys/kernel/irq/37/actions", "virtio2-config\n");
	put("sys/kernel/irq/38/actions", "virtio2-input.0\n");
	put("sys/kernel/irq/39/actions", "virtio2-output.0\n");
	put("sys/kernel/irq/40/actions", "virtio2-input.1\n");
	put("proc/irq/38/effective_affinity_list", "1\n");
	put("proc/irq/40/effective_affinity_list", "\n"); /* not started: the mask then */
	put("proc/irq/40/smp_affinity_list", "0-1\n");
	/* a veth: no device */
	put("sys/class/net/veth0/queues/rx-0/rps_cpus", "3\n");
	put("sys/class/net/veth0/threaded", "0\n");

	assert_int_equal(rxpath_describe(&pp, "eth0", &ifc), 0);
	assert_int_equal(ifc.n_queues, 2);
	assert_false(ifc.virtual_dev);
	assert_true(ifc.irqs_known);
	assert_int_equal(ifc.threaded, 1);
	assert_int_equal(ifc.gro, -1);
	assert_int_equal(ifc.xdp, RXPATH_XDP_UNKNOWN);
	assert_int_equal(ifc.q[0].n_irqs, 1);
	assert_int_equal(ifc.q[0].irq[0], 38);
	rxpath_format_cpus(&ifc.q[0].irq_cpus, buf, sizeof(buf));
	assert_string_equal(buf, "1");
	rxpath_format_cpus(&ifc.q[0].rps, buf, sizeof(buf));
	assert_string_equal(buf, "1");
	assert_int_equal(ifc.q[1].irq[0], 40);
	rxpath_format_cpus(&ifc.q[1].irq_cpus, buf, sizeof(buf));
	assert_string_equal(buf, "0-1");
	assert_int_equal(CPU_COUNT(&ifc.q[1].rps), 0);

	assert_int_equal(rxpath_describe(&pp, "veth0", &ifc), 0);
	assert_true(ifc.virtual_dev);
	assert_false(ifc.irqs_known);
	assert_int_equal(ifc.n_queues, 1);
	assert_int_equal(ifc.threaded, 0);
	rxpath_format_cpus(&ifc.q[0].rps, buf, sizeof(buf));
	assert_string_equal(buf, "0-1");

	assert_int_equal(rxpath_describe(&pp, "nope0", &ifc), -ENODEV);
	snprintf(sys, sizeof(sys), "rm -rf '%s'", root);
	assert_int_equal(system(sys), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cpulist),	  cmocka_unit_test(test_mask),
	    cmocka_unit_test(test_format_short),  cmocka_unit_test(test_irq_queue),
	    cmocka_unit_test(test_check_irq),	  cmocka_unit_test(test_check_irq_many),
	    cmocka_unit_test(test_check_rps),	  cmocka_unit_test(test_check_queues),
	    cmocka_unit_test(test_describe_tree), cmocka_unit_test(test_xdp_early),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
