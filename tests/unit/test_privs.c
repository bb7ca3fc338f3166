// SPDX-License-Identifier: MIT
/* privs: who the daemon runs as (privs_resolve: a configured user, the default user of a root
 * start, root only on purpose or when there is no default user), and the drops: each case
 * runs privs_drop or privs_thread_keep in a forked child (the change is irreversible) and
 * checks the calling thread's /proc/thread-self/status: Uid, Gid, Groups, CapEff/CapPrm/
 * CapInh/CapBnd/CapAmb and NoNewPrivs, and for the per-thread drop another thread's too.
 * Cases that change ids or the bounding set need root and are skipped otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
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

/* The status file read: the calling thread's (capabilities are per thread). */
static const char status_path[] = "/proc/thread-self/status";

static int status_field(const char *name, char *out, size_t len)
{
	char line[512];
	size_t n = strlen(name);
	FILE *f = fopen(status_path, "r");
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

	struct privs_who who;

	if (setgroups(1, &extra) || nobody(&uid, &gid))
		return 2;
	ret = privs_resolve("nobody", PRIVS_DEFAULT_USER, &who, err, sizeof(err));
	if (ret || who.why != PRIVS_CONFIGURED || !who.switch_user || who.uid != uid) {
		fprintf(stderr, "privs_resolve: %d %s\n", ret, err);
		return 4;
	}
	ret = privs_drop(&who, keep_admin ? PRIVS_FILTER_CAPS : 0, false, err, sizeof(err));
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
	struct privs_who who;
	int ret = privs_resolve("root", PRIVS_DEFAULT_USER, &who, err, sizeof(err));

	if (ret || who.why != PRIVS_ROOT_CONFIGURED || who.switch_user || who.uid != 0) {
		fprintf(stderr, "privs_resolve: %d %s\n", ret, err);
		return 4;
	}
	ret = privs_drop(&who, PRIVS_FILTER_CAPS, false, err, sizeof(err));
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

	struct privs_who who;

	ret = privs_resolve("nobody", PRIVS_DEFAULT_USER, &who, err, sizeof(err));
	if (ret || who.switch_user) {
		fprintf(stderr, "privs_resolve: %d %s\n", ret, err);
		return 7;
	}
	ret = privs_drop(&who, PRIVS_FILTER_CAPS, false, err, sizeof(err));
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

/* Not root and asked to become someone else: refuse with -EPERM, change nothing. Unset, the
 * user stays who it is, whatever the default user. */
static int child_nonroot_other_user(void)
{
	char err[256] = "";
	struct privs_who who;
	uid_t uid;
	gid_t gid;
	int ret;

	if (nobody(&uid, &gid) || setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		return 2;
	ret = privs_resolve("root", PRIVS_DEFAULT_USER, &who, err, sizeof(err));
	if (ret != -EPERM || !strstr(err, "start as root")) {
		fprintf(stderr, "privs_resolve: %d %s\n", ret, err);
		return 3;
	}
	ret = privs_resolve("", "root", &who, err, sizeof(err));
	if (ret || who.why != PRIVS_AS_STARTED || who.switch_user || who.uid != uid ||
	    strcmp(who.name, "nobody")) {
		fprintf(stderr, "privs_resolve: %d %s why %d\n", ret, err, who.why);
		return 6;
	}
	/* It drops what it can: here, nothing is left to drop. */
	ret = privs_drop(&who, PRIVS_FILTER_CAPS, false, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "privs_drop: %d %s\n", ret, err);
		return 4;
	}
	return status_caps("CapEff") == 0 ? 0 : 5;
}

/* A root start with user unset: the default user when it exists (switch), root with no
 * switch when it does not. */
static void test_resolve_default(void **state)
{
	struct privs_who who;
	char err[256] = "";
	uid_t uid;
	gid_t gid;

	require_root();
	assert_int_equal(nobody(&uid, &gid), 0);
	assert_int_equal(privs_resolve("", "nobody", &who, err, sizeof(err)), 0);
	assert_int_equal(who.why, PRIVS_DEFAULT);
	assert_true(who.switch_user);
	assert_int_equal(who.uid, uid);
	assert_int_equal(who.gid, gid);
	assert_string_equal(who.name, "nobody");
	assert_int_equal(privs_resolve(NULL, "rr-no-such-user-7f3a", &who, err, sizeof(err)), 0);
	assert_int_equal(who.why, PRIVS_ROOT_NO_USER);
	assert_false(who.switch_user);
	assert_int_equal(who.uid, 0);
	/* a default user that is root is no switch either */
	assert_int_equal(privs_resolve("", "root", &who, err, sizeof(err)), 0);
	assert_int_equal(who.why, PRIVS_ROOT_NO_USER);
}

/* privs_thread_keep changes the calling thread only: another thread keeps its sets. */
static pthread_barrier_t keep_barrier;

static void *other_thread(void *arg)
{
	uint64_t *eff = arg;

	pthread_barrier_wait(&keep_barrier); /* main has dropped */
	*eff = status_caps("CapEff");	     /* this thread's own /proc/thread-self */
	pthread_barrier_wait(&keep_barrier);
	return NULL;
}

static int child_thread_keep(void)
{
	struct privs_want want = { .uid = -1 };
	uint64_t before = status_caps("CapEff"), other = 0;
	pthread_t t;
	int ret;

	pthread_barrier_init(&keep_barrier, NULL, 2);
	if (pthread_create(&t, NULL, other_thread, &other))
		return 2;
	/* root: exactly the filter's three are left, bounding set included */
	ret = privs_thread_keep(PRIVS_FILTER_CAPS);
	pthread_barrier_wait(&keep_barrier);
	pthread_barrier_wait(&keep_barrier);
	pthread_join(t, NULL);
	if (ret) {
		fprintf(stderr, "privs_thread_keep: %d\n", ret);
		return 3;
	}
	if (other != before) {
		fprintf(stderr, "the other thread's CapEff changed: %016" PRIx64 " -> %016" PRIx64
			"\n", before, other);
		return 4;
	}
	want.eff = want.prm = PRIVS_FILTER_CAPS & before;
	want.bnd = geteuid() == 0 ? (int64_t)PRIVS_FILTER_CAPS : -1;
	return check_status(&want);
}

static void test_thread_keep(void **state)
{
	assert_int_equal(in_child(child_thread_keep), 0);
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

/* Looking the user up changes nothing, so this runs in the test process itself. */
static void test_unknown_user(void **state)
{
	struct privs_who who;
	char err[256] = "";

	assert_int_equal(privs_resolve("rr-no-such-user-7f3a", PRIVS_DEFAULT_USER, &who, err,
				       sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "'rr-no-such-user-7f3a' does not exist"));
}

/* A group listing 2,000 members (12 KiB in /etc/group, as a directory service's group can
 * be) is found: getgrnam_r's ERANGE grows the buffer (a fixed 4 KiB one failed the start).
 * In a child with its own mount namespace, where a file bound on /etc/group says so. */
static void test_big_group(void **state)
{
	char path[] = "/tmp/rr-group-XXXXXX";
	int status, fd, i;
	pid_t pid;
	gid_t gid;
	FILE *f;

	(void)state;
	if (geteuid() != 0)
		skip();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "root:x:0:\nrrbig:x:4242:");
	for (i = 0; i < 2000; i++)
		fprintf(f, "%smember%04d", i ? "," : "", i);
	fprintf(f, "\n");
	assert_int_equal(fclose(f), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount(path, "/etc/group", NULL, MS_BIND, NULL))
			_exit(77);
		/* the file, not a cache (nscd) or a directory service nsswitch may name */
		__nss_configure_lookup("group", "files");
		_exit(privs_group_gid("rrbig", &gid) == 0 && gid == 4242 &&
			      privs_group_gid("rrnosuch", &gid) == -ENOENT
			  ? 0
			  : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		skip(); /* no mount namespace here */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
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
		cmocka_unit_test(test_resolve_default),
		cmocka_unit_test(test_thread_keep),
		cmocka_unit_test(test_big_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
