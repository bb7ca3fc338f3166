// SPDX-License-Identifier: MIT
/* filter_xdp_prog_frags against real programs (review-genxdp M1, H1): XDP programs with and
 * without frags, loaded with expected attach type BPF_XDP (libbpf 1.0+) and 0 (bcc, iproute2's
 * own loader, older libbpf), are each told; before, an attach type of 0 came out "not told"
 * (ENOMSG) on 6.18, which counted as taking frags. Without CAP_SYS_ADMIN (the shipped
 * systemd unit) nothing can be told: -EPERM, which filter_foreign_verdict makes "untold" (tc
 * with a warning), not "frags" (refused). Needs root (skip 77 otherwise). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <linux/capability.h>

#include "filter.h"

/* An XDP program that passes everything: its fd, or -errno. */
static int load_pass(bool frags, enum bpf_attach_type eat)
{
	const struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = eat,
		    .prog_flags = frags ? BPF_F_XDP_HAS_FRAGS : 0);

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "test_foreign", "GPL", insns, 2, &o);
}

static uint32_t prog_id(int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	return info.id;
}

static void test_told(void **state)
{
	static const struct {
		bool frags;
		enum bpf_attach_type eat;
	} t[] = {
	    {true, BPF_XDP},
	    {false, BPF_XDP},
	    {true, 0},
	    {false, 0},
	};
	uint32_t i;
	int fd, got;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		fd = load_pass(t[i].frags, t[i].eat);
		assert_true(fd >= 0);
		got = filter_xdp_prog_frags(prog_id(fd));
		if (got != (int)t[i].frags)
			fail_msg("frags %d, attach type %d: told %d, want %d", t[i].frags,
				 (int)t[i].eat, got, t[i].frags);
		close(fd);
	}
}

/* Without CAP_SYS_ADMIN in the effective set (a child, so the test keeps it). */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static void test_untold_without_sys_admin(void **state)
{
	int fd = load_pass(false, BPF_XDP), status, got;
	uint32_t id;
	pid_t pid;

	(void)state;
	assert_true(fd >= 0);
	id = prog_id(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (drop_sys_admin())
			_exit(2);
		got = filter_xdp_prog_frags(id);
		if (got != -EPERM) {
			fprintf(stderr, "without CAP_SYS_ADMIN: told %d, want -EPERM\n", got);
			_exit(1);
		}
		_exit(filter_foreign_verdict(true, got) == FILTER_FOREIGN_UNTOLD ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_told),
	    cmocka_unit_test(test_untold_without_sys_admin),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
