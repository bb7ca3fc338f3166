// SPDX-License-Identifier: MIT
/* privs: each case runs privs_drop in a forked child (the change is irreversible) and checks
 * the child's /proc/self/status: Uid, Gid, Groups, CapEff/CapPrm/CapInh/CapBnd/CapAmb and
 * NoNewPrivs. Cases that change ids or the bounding set need root and are skipped otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "privs.h"

#define CAPBIT(c) (UINT64_C(1) << (c))
#define KEEP_ALL                                                                                   \
	(CAPBIT(CAP_NET_BIND_SERVICE) | CAPBIT(CAP_NET_ADMIN) | CAPBIT(CAP_BPF) | CAPBIT(CAP_PERFMON))

/* What the child expects to find in /proc/self/status afterwards. */
struct privs_want {
	long uid;		/* -1: not checked */
	long gid;
	uint64_t eff, prm, inh, amb;
	int64_t bnd;		/* -1: not checked */
	bool no_groups;
};

static int status_field(const char *name, char *out, size_t len)
{
	char line[512];
	size_t n = strlen(name);
	FILE *f = fopen("/proc/self/status", "r");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			snprintf(out, len, "%s", line + n + 1);
			out[strcspn(out, "\n")] = '\0';
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

static uint64_t status_caps(const char *name)
{
	char v[128];

	if (status_field(name, v, sizeof(v)))
		return UINT64_MAX;
	return strtoull(v, NULL, 16);
}

/* 0 when /proc/self/status matches want; otherwise prints what differs and returns 1. */
static int check_status(const struct privs_want *want)
{
	static const struct {
		const char *name;
		size_t off;
	} caps[] = {
		{ "CapEff", offsetof(struct privs_want, eff) },
		{ "CapPrm", offsetof(struct privs_want, prm) },
		{ "CapInh", offsetof(struct privs_want, inh) },
		{ "CapAmb", offsetof(struct privs_want, amb) },
	};
	char v[256];
	int bad = 0;

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		uint64_t exp = *(const uint64_t *)((const char *)want + caps[i].off);
		uint64_t got = status_caps(caps[i].name);

		if (got != exp) {
			fprintf(stderr, "%s: got %016" PRIx64 ", want %016" PRIx64 "\n",
				caps[i].name, got, exp);
			bad = 1;
		}
	}
	if (want->bnd >= 0 && status_caps("CapBnd") != (uint64_t)want->bnd) {
		fprintf(stderr, "CapBnd: got %016" PRIx64 ", want %016" PRIx64 "\n",
			status_caps("CapBnd"), (uint64_t)want->bnd);
		bad = 1;
	}
	if (status_field("NoNewPrivs", v, sizeof(v)) || atoi(v) != 1) {
		fprintf(stderr, "NoNewPrivs: %s\n", v);
		bad = 1;
	}
	if (want->uid >= 0) {
		char exp[96];

		snprintf(exp, sizeof(exp), "%ld\t%ld\t%ld\t%ld", want->uid, want->uid, want->uid,
			 want->uid);
		if (status_field("Uid", v, sizeof(v)) || strcmp(v + strspn(v, "\t "), exp)) {
			fprintf(stderr, "Uid: '%s', want '%s'\n", v, exp);
			bad = 1;
		}
		snprintf(exp, sizeof(exp), "%ld\t%ld\t%ld\t%ld", want->gid, want->gid, want->gid,
			 want->gid);
		if (status_field("Gid", v, sizeof(v)) || strcmp(v + strspn(v, "\t "), exp)) {
			fprintf(stderr, "Gid: '%s', want '%s'\n", v, exp);
			bad = 1;
		}
	}
	if (want->no_groups && (status_field("Groups", v, sizeof(v)) || v[strspn(v, "\t ")])) {
		fprintf(stderr, "Groups: '%s', want none\n", v);
		bad = 1;
	}
	return bad;
}

/* Runs fn in a child and returns its exit code (cmocka's asserts must not run there: a
 * failure would longjmp into the parent's copy of the test runner). */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn());
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int nobody(uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam("nobody");

	if (!pw)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static void require_root(void)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0 || nobody(&uid, &gid))
		skip();
}

static int child_root_to_nobody(bool keep_admin)
{
	struct privs_want want = { 0 };
	char err[256] = "";
	uid_t uid;
	gid_t gid;
	int ret;

	/* A supplementary group that must be gone afterwards. */
	gid_t extra = 4;

	if (setgroups(1, &extra) || nobody(&uid, &gid))
		return 2;
	ret = privs_drop("nobody", keep_admin, false, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "privs_drop: %d %s\n", ret, err);
		return 3;
	}
	want.uid = uid;
	want.gid = gid;
	want.no_groups = true;
	want.eff = want.prm = keep_admin ? KEEP_ALL : CAPBIT(CAP_NET_BIND_SERVICE);
	want.bnd = (int64_t)want.eff;
	return check_status(&want);
}

static int child_root_to_nobody_keep(void)
{
	return child_root_to_nobody(true);
}

static int child_root_to_nobody_bind_only(void)
{
	return child_root_to_nobody(false);
}

static int child_root_stays_root(void)
{
	struct privs_want want = { .uid = 0, .gid = 0 };
	char err[256] = "";
	int ret = privs_drop("", true, false, err, sizeof(err));

	if (ret) {
		fprintf(stderr, "privs_drop: %d %s\n", ret, err);
		return 3;
	}
	want.eff = want.prm = KEEP_ALL;
	want.bnd = KEEP_ALL;
	return check_status(&want);
}

/* What systemd's User= + AmbientCapabilities= leaves us: a non-root uid holding capabilities
 * in every set including ambient, one more than we need, and no CAP_SETPCAP to shrink the
 * bounding set. privs_drop must keep the three, drop the extra and clear ambient. */
static int child_ambient_like_systemd(void)
{
	static const unsigned int held[] = { CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_BPF,
					     CAP_PERFMON, CAP_SYS_ADMIN };
	struct privs_want want = { 0 };
	char err[256] = "";
	uid_t uid;
	gid_t gid;
	int ret;

	if (nobody(&uid, &gid))
		return 2;
	capng_clear(CAPNG_SELECT_ALL);
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_INHERITABLE,
			     held[i]);
	if (capng_change_id((int)uid, (int)gid, CAPNG_DROP_SUPP_GRP))
		return 4;
	capng_get_caps_process();
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
		capng_update(CAPNG_ADD, CAPNG_AMBIENT, held[i]);
	if (capng_apply(CAPNG_SELECT_AMBIENT))
		return 5;
	if (status_caps("CapAmb") == 0)
		return 6;

	ret = privs_drop("nobody", true, false, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "privs_drop: %d %s\n", ret, err);
		return 3;
	}
	want.uid = uid;
	want.gid = gid;
	want.eff = want.prm = KEEP_ALL;
	want.bnd = -1;
	return check_status(&want);
}

/* Not root and asked to become someone else: refuse with -EPERM, change nothing. */
static int child_nonroot_other_user(void)
{
	char err[256] = "";
	uid_t uid;
	gid_t gid;
	int ret;

	if (nobody(&uid, &gid) || setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		return 2;
	ret = privs_drop("root", true, false, err, sizeof(err));
	if (ret != -EPERM || !strstr(err, "start as root")) {
		fprintf(stderr, "privs_drop: %d %s\n", ret, err);
		return 3;
	}
	/* With no user it drops what it can: here, nothing is left to drop. */
	ret = privs_drop("", true, false, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "privs_drop: %d %s\n", ret, err);
		return 4;
	}
	return status_caps("CapEff") == 0 ? 0 : 5;
}

static int child_drop_thread(void)
{
	struct privs_want want = { .uid = -1, .bnd = 0 };
	int ret = privs_drop_thread();

	if (ret) {
		fprintf(stderr, "privs_drop_thread: %d\n", ret);
		return 3;
	}
	if (geteuid() != 0)
		want.bnd = -1;
	return check_status(&want);
}

static void test_root_to_nobody(void **state)
{
	require_root();
	assert_int_equal(in_child(child_root_to_nobody_keep), 0);
}

static void test_root_to_nobody_bind_only(void **state)
{
	require_root();
	assert_int_equal(in_child(child_root_to_nobody_bind_only), 0);
}

static void test_root_stays_root(void **state)
{
	require_root();
	assert_int_equal(in_child(child_root_stays_root), 0);
}

static void test_ambient_like_systemd(void **state)
{
	require_root();
	assert_int_equal(in_child(child_ambient_like_systemd), 0);
}

static void test_nonroot_other_user(void **state)
{
	require_root();
	assert_int_equal(in_child(child_nonroot_other_user), 0);
}

static void test_drop_thread(void **state)
{
	assert_int_equal(in_child(child_drop_thread), 0);
}

/* Looking the user up comes before any change, so this runs in the test process itself. */
static void test_unknown_user(void **state)
{
	char err[256] = "";

	assert_int_equal(privs_drop("rr-no-such-user-7f3a", true, false, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "'rr-no-such-user-7f3a' does not exist"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_root_to_nobody),
		cmocka_unit_test(test_root_to_nobody_bind_only),
		cmocka_unit_test(test_root_stays_root),
		cmocka_unit_test(test_ambient_like_systemd),
		cmocka_unit_test(test_nonroot_other_user),
		cmocka_unit_test(test_drop_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
