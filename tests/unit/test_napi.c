// SPDX-License-Identifier: MIT
/* napi: NAPI_GET answers as the kernel builds them (6.9 without values, 6.13 with, uint
 * attributes in 4 and 8 bytes, malformed ones), NAPI thread names as the kernel cuts them,
 * and a read-only list of loopback's NAPI instances (none). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <net/if.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "napi.h"

enum { A_IFINDEX = 1, A_ID, A_IRQ, A_PID, A_DEFER, A_GRO, A_SUSPEND, A_THREADED };

/* One attribute of a test message; len 0 ends the list, len 8 puts a u64. */
struct attr {
	int type;
	int len;
	uint64_t v;
};

static struct nl_msg *answer(const struct attr *a)
{
	struct nl_msg *msg = nlmsg_alloc();

	assert_non_null(msg);
	assert_non_null(genlmsg_put(msg, 1, 1, 30, 0, 0, 11, 1));
	for (; a->len; a++) {
		if (a->len == 8)
			assert_int_equal(nla_put_u64(msg, a->type, a->v), 0);
		else
			assert_int_equal(nla_put_u32(msg, a->type, (uint32_t)a->v), 0);
	}
	return msg;
}

static int parse(const struct attr *a, struct napi_instance *ni)
{
	struct nl_msg *msg = answer(a);
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int ret = napi_parse(nlh, nlh->nlmsg_len, ni);

	nlmsg_free(msg);
	return ret;
}

static void test_parse(void **state)
{
	/* 6.18, threaded, with values; the kernel sends small uints in 4 bytes */
	static const struct attr full[] = {
	    {A_IFINDEX, 4, 7}, {A_ID, 4, 8193}, {A_PID, 4, 4242}, {A_DEFER, 4, 2},
	    {A_GRO, 4, 200000}, {A_SUSPEND, 4, 0}, {A_THREADED, 4, 1}, {0, 0, 0}};
	/* 6.9: id, ifindex, irq; no values, no thread */
	static const struct attr old[] = {
	    {A_IFINDEX, 4, 3}, {A_ID, 4, 9000}, {A_IRQ, 4, 57}, {0, 0, 0}};
	/* a timeout that needs 8 bytes */
	static const struct attr big[] = {
	    {A_ID, 4, 1}, {A_DEFER, 4, 100}, {A_GRO, 8, 5000000000ull},
	    {A_SUSPEND, 8, 20000000000ull}, {0, 0, 0}};
	/* threaded by the attribute alone (no pid yet) */
	static const struct attr thr[] = {{A_ID, 4, 5}, {A_THREADED, 4, 1}, {0, 0, 0}};
	static const struct attr noid[] = {{A_IFINDEX, 4, 3}, {A_DEFER, 4, 2}, {0, 0, 0}};
	struct napi_instance ni;

	(void)state;
	assert_int_equal(parse(full, &ni), 0);
	assert_int_equal(ni.id, 8193);
	assert_int_equal(ni.ifindex, 7);
	assert_int_equal(ni.irq, 0);
	assert_int_equal(ni.pid, 4242);
	assert_true(ni.threaded);
	assert_true(ni.has_values);
	assert_int_equal(ni.defer_hard_irqs, 2);
	assert_int_equal(ni.gro_flush_timeout, 200000);
	assert_int_equal(ni.irq_suspend_timeout, 0);

	assert_int_equal(parse(old, &ni), 0);
	assert_int_equal(ni.id, 9000);
	assert_int_equal(ni.irq, 57);
	assert_int_equal(ni.pid, 0);
	assert_false(ni.threaded);
	assert_false(ni.has_values);

	assert_int_equal(parse(big, &ni), 0);
	assert_true(ni.has_values);
	assert_int_equal(ni.defer_hard_irqs, 100);
	assert_true(ni.gro_flush_timeout == 5000000000ull);
	assert_true(ni.irq_suspend_timeout == 20000000000ull);

	assert_int_equal(parse(thr, &ni), 0);
	assert_true(ni.threaded);
	assert_int_equal(ni.pid, 0);

	assert_int_equal(parse(noid, &ni), -EINVAL);
}

static void test_parse_malformed(void **state)
{
	static const struct attr full[] = {{A_ID, 4, 8193}, {A_DEFER, 4, 2}, {0, 0, 0}};
	struct nl_msg *msg = answer(full);
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct napi_instance ni;
	uint8_t bytes[256];

	(void)state;
	assert_true(nlh->nlmsg_len <= sizeof(bytes));
	memcpy(bytes, nlh, nlh->nlmsg_len);
	/* shorter than its header says, or than the headers */
	assert_int_equal(napi_parse(bytes, nlh->nlmsg_len - 4, &ni), -EINVAL);
	assert_int_equal(napi_parse(bytes, 8, &ni), -EINVAL);
	/* an attribute that runs past the end */
	((struct nlattr *)(bytes + NLMSG_HDRLEN + GENL_HDRLEN))->nla_len = 200;
	assert_int_equal(napi_parse(bytes, nlh->nlmsg_len, &ni), -EINVAL);
	/* a u32 attribute of 2 bytes */
	memcpy(bytes, nlh, nlh->nlmsg_len);
	((struct nlattr *)(bytes + NLMSG_HDRLEN + GENL_HDRLEN))->nla_len = 6;
	assert_int_equal(napi_parse(bytes, nlh->nlmsg_len, &ni), -EINVAL);
	nlmsg_free(msg);
}

static void test_thread_names(void **state)
{
	(void)state;
	assert_true(napi_thread_name_is("napi/d0-8193\n", "d0", 8193));
	assert_true(napi_thread_name_is("napi/d0-8193", "d0", 8193));
	assert_false(napi_thread_name_is("napi/d0-81930\n", "d0", 8193));
	assert_false(napi_thread_name_is("napi/d0-819\n", "d0", 8193));
	assert_false(napi_thread_name_is("napi/d1-8193\n", "d0", 8193));
	assert_false(napi_thread_name_is("kworker/0:1\n", "d0", 8193));
	/* the kernel's comm holds 15 characters */
	assert_true(napi_thread_name_is("napi/rrn-a-veth\n", "rrn-a-veth0", 8193));
	assert_true(napi_thread_name_is("napi/enp1s0f0-1\n", "enp1s0f0", 1234));
}

/* Read-only and needs no capability: loopback has no NAPI instance. */
/* The thread helpers against this test's own thread: its CPUs, its nice value, and that it
 * is not taken for a NAPI thread (the guard against a reused pid). */
static void test_thread_helpers(void **state)
{
	pid_t self = gettid();
	int in = -1, out = -1, cpu, nice;
	cpu_set_t set;

	(void)state;
	assert_int_equal(sched_getaffinity(self, sizeof(set), &set), 0);
	for (cpu = 0; cpu < CPU_SETSIZE && (in < 0 || out < 0); cpu++) {
		if (CPU_ISSET(cpu, &set) && in < 0)
			in = cpu;
		else if (!CPU_ISSET(cpu, &set) && out < 0)
			out = cpu;
	}
	assert_true(napi_thread_on_cpus(self, &in, 1));
	assert_false(napi_thread_on_cpus(self, &out, 1));
	assert_false(napi_thread_on_cpus(self, &in, 0));
	assert_false(napi_thread_on_cpus(-1, &in, 1));

	assert_int_equal(napi_thread_nice_get(self, &nice), 0);
	assert_int_equal(nice, getpriority(PRIO_PROCESS, (id_t)self));
	assert_int_equal(napi_thread_nice_get(-1, &nice), -ESRCH);
	/* raising one's own nice value needs no capability */
	if (nice < 19) {
		assert_int_equal(napi_thread_nice_set(self, nice + 1), 0);
		assert_int_equal(napi_thread_nice_get(self, &cpu), 0);
		assert_int_equal(cpu, nice + 1);
	}
	assert_false(napi_thread_is_napi(self));
	assert_false(napi_thread_is_napi(-1));
}

/* Under a /proc that hides other users' processes (systemd's ProtectProc=invisible), a
 * remembered kernel thread still counts as there, and a thread that exited does not. In a
 * child (a mount namespace of its own, then uid 65534); needs root, else skipped. */
static void test_thread_hidden(void **state)
{
	pid_t gone, child;
	int st;

	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	gone = fork();
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, &st, 0), gone);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* 2 is kthreadd, as old as the kernel */
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("proc", "/proc", "proc", 0, "hidepid=invisible") || setgid(65534) ||
		    setuid(65534))
			_exit(3);
		if (access("/proc/2/comm", F_OK) == 0)
			_exit(4); /* not hidden: nothing tested */
		_exit(napi_thread_is_napi(2) && !napi_thread_is_napi(gone) ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_list_lo(void **state)
{
	struct napi_instance ni[4];
	int n;

	(void)state;
	n = napi_list((int)if_nametoindex("lo"), ni, 4);
	if (n == -EOPNOTSUPP)
		skip(); /* a kernel before 6.9 */
	assert_int_equal(n, 0);
	assert_true(napi_thread_pid("lo", 1) == -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_thread_names),
	    cmocka_unit_test(test_thread_helpers),
	    cmocka_unit_test(test_thread_hidden),
	    cmocka_unit_test(test_list_lo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
