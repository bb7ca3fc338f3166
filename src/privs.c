// SPDX-License-Identifier: MIT
#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "privs.h"

/* PR_SET_NO_NEW_PRIVS: ringrelay never execs, so it costs nothing; it keeps a compromised
 * process from regaining privilege through a set-uid or file-capability binary, and it is
 * what lets an unprivileged process install a seccomp filter later (seccomp(2)). systemd's
 * NoNewPrivileges=yes sets it too; setting it here covers runs outside systemd. */
static int privs_no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* The capabilities a relay may still need after privs_drop; entry 0 is always kept, the
 * others only for the admin thread (PRIVS_FILTER_CAPS, PRIVS_NAPI_CAPS, PRIVS_NAPI_THREAD_CAPS,
 * PRIVS_NAPI_ITER_CAPS). */
static const unsigned int privs_kept[] = {CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_BPF,
					  CAP_PERFMON, CAP_SYS_NICE};

_Static_assert(PRIVS_FILTER_CAPS == ((UINT64_C(1) << CAP_NET_ADMIN) | (UINT64_C(1) << CAP_BPF) |
				     (UINT64_C(1) << CAP_PERFMON)),
	       "PRIVS_FILTER_CAPS names the filter's capabilities");
_Static_assert(PRIVS_NAPI_CAPS == (UINT64_C(1) << CAP_NET_ADMIN) &&
		   PRIVS_NAPI_THREAD_CAPS == (UINT64_C(1) << CAP_SYS_NICE),
	       "PRIVS_NAPI_CAPS and PRIVS_NAPI_THREAD_CAPS name napitune's capabilities");
_Static_assert(PRIVS_NAPI_ITER_CAPS == ((UINT64_C(1) << CAP_BPF) | (UINT64_C(1) << CAP_PERFMON)),
	       "PRIVS_NAPI_ITER_CAPS names the NAPI thread iterator's capabilities");

bool privs_can_load_bpf(void)
{
	bool admin;

	if (capng_get_caps_process())
		return false;
	admin = capng_have_capability(CAPNG_EFFECTIVE, CAP_SYS_ADMIN);
	return capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN) &&
	       (admin || capng_have_capability(CAPNG_EFFECTIVE, CAP_BPF)) &&
	       (admin || capng_have_capability(CAPNG_EFFECTIVE, CAP_PERFMON));
}

/* Loads libcap-ng's (per-thread) state with the kept capabilities this thread holds now and
 * nothing else: asking for one we lack would make capng_apply fail with EPERM. Sets
 * *can_bound when we may shrink the bounding set (needs CAP_SETPCAP). */
static int privs_plan(uint64_t keep_admin, bool keep_sockopt, bool *can_bound)
{
	bool have[sizeof(privs_kept) / sizeof(privs_kept[0])];
	unsigned int i, n = sizeof(have) / sizeof(have[0]);
	bool raw = false, admin = false;

	capng_clear(CAPNG_SELECT_ALL);
	if (capng_get_caps_process())
		return errno ? -errno : -EPERM;
	*can_bound = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	for (i = 0; i < n; i++)
		have[i] = (i == 0 || (keep_admin & (UINT64_C(1) << privs_kept[i]))) &&
			  capng_have_capability(CAPNG_PERMITTED, privs_kept[i]);
	if (keep_sockopt) {
		/* IP_TRANSPARENT and SO_MARK take either; CAP_NET_RAW grants less. */
		raw = capng_have_capability(CAPNG_PERMITTED, CAP_NET_RAW);
		admin = !raw && capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN);
	}
	capng_clear(CAPNG_SELECT_ALL);
	for (i = 0; i < n; i++)
		if (have[i])
			capng_update(CAPNG_ADD,
				     CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
				     privs_kept[i]);
	if (raw || admin)
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
			     raw ? CAP_NET_RAW : CAP_NET_ADMIN);
	return 0;
}

bool privs_need_sockopt(const struct config *cfg)
{
	uint32_t i;

	for (i = 0; i < cfg->n_relays; i++)
		if (cfg->relays[i].source == SOURCE_CLIENT || cfg->relays[i].fwmark)
			return true;
	return false;
}

int privs_group_gid(const char *name, gid_t *gid)
{
	struct group gr, *found = NULL;
	size_t len = 4096;
	char *buf = NULL, *bigger;
	int ret;

	for (;;) {
		bigger = realloc(buf, len);
		if (!bigger) {
			ret = ENOMEM;
			break;
		}
		buf = bigger;
		ret = getgrnam_r(name, &gr, buf, len, &found);
		if (ret != ERANGE || len >= (16u << 20))
			break;
		len *= 2;
	}
	free(buf);
	if (ret)
		return -ret;
	if (!found)
		return -ENOENT;
	*gid = gr.gr_gid;
	return 0;
}

/* Looks user up; -ENOENT when there is no such user (err set only when report). */
static int privs_lookup(const char *user, struct privs_who *who, bool report, char *err,
			size_t errlen)
{
	char buf[4096];
	struct passwd pw, *found = NULL;
	int ret = getpwnam_r(user, &pw, buf, sizeof(buf), &found);

	if (ret) {
		snprintf(err, errlen, "look up user '%s': %s", user, strerror(ret));
		return -ret;
	}
	if (!found) {
		if (report)
			snprintf(err, errlen,
				 "user '%s' does not exist: create it (systemd-sysusers, useradd "
				 "--system) or leave user unset",
				 user);
		return -ENOENT;
	}
	who->uid = pw.pw_uid;
	who->gid = pw.pw_gid;
	snprintf(who->name, sizeof(who->name), "%s", user);
	return 0;
}

int privs_resolve(const char *user, const char *default_user, struct privs_who *who, char *err,
		  size_t errlen)
{
	bool root = geteuid() == 0;
	struct passwd *pw;
	int ret;

	memset(who, 0, sizeof(*who));
	if (user && user[0]) {
		ret = privs_lookup(user, who, true, err, errlen);
		if (ret)
			return ret;
		/* Without root we cannot switch; already being that user (systemd User=) is fine,
		 * being someone else is a configuration mistake worth stopping for. */
		if (!root && who->uid != geteuid()) {
			snprintf(err, errlen,
				 "cannot switch to user '%s' when not started as root (running as "
				 "uid %u): start as root or leave user unset",
				 user, (unsigned int)geteuid());
			return -EPERM;
		}
		who->why = who->uid == 0 ? PRIVS_ROOT_CONFIGURED : PRIVS_CONFIGURED;
		who->switch_user = root && who->uid != 0;
		return 0;
	}
	if (root) {
		ret = privs_lookup(default_user, who, false, err, errlen);
		if (ret == 0 && who->uid != 0) {
			who->why = PRIVS_DEFAULT;
			who->switch_user = true;
			return 0;
		}
		if (ret && ret != -ENOENT)
			return ret;
		memset(who, 0, sizeof(*who));
		snprintf(who->name, sizeof(who->name), "root");
		who->why = PRIVS_ROOT_NO_USER;
		return 0;
	}
	who->uid = geteuid();
	who->gid = getegid();
	pw = getpwuid(who->uid);
	if (pw)
		snprintf(who->name, sizeof(who->name), "%s", pw->pw_name);
	who->why = PRIVS_AS_STARTED;
	return 0;
}

int privs_drop(const struct privs_who *who, uint64_t keep_admin, bool keep_sockopt, char *err,
	       size_t errlen)
{
	bool can_bound;
	int ret;

	ret = privs_plan(keep_admin, keep_sockopt, &can_bound);
	if (ret) {
		snprintf(err, errlen, "read capabilities: %s", strerror(-ret));
		return ret;
	}

	if (who->switch_user) {
		/* Bounding set first, while root still holds CAP_SETPCAP; capng_change_id then
		 * keeps the planned capabilities across setresuid (PR_SET_KEEPCAPS), drops the
		 * supplementary groups and the ambient set, and applies effective and permitted
		 * as the new uid. */
		if (capng_apply(CAPNG_SELECT_BOUNDS)) {
			snprintf(err, errlen, "drop bounding capabilities: %s", strerror(errno));
			return -EPERM;
		}
		errno = 0;
		ret = capng_change_id((int)who->uid, (int)who->gid,
				      CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_AMBIENT);
		if (ret) {
			int e = errno ? errno : EPERM;

			snprintf(err, errlen,
				 "switch to user '%s' (uid %u, gid %u): %s (libcap-ng "
				 "step %d)",
				 who->name, (unsigned int)who->uid, (unsigned int)who->gid,
				 strerror(e), -ret);
			return -e;
		}
	} else if (capng_apply(can_bound ? CAPNG_SELECT_ALL
					 : CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT)) {
		snprintf(err, errlen, "drop capabilities: %s", strerror(errno));
		return -EPERM;
	}

	ret = privs_no_new_privs();
	if (ret)
		snprintf(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(-ret));
	return ret;
}

/* capget/capset on the calling thread (pid 0), without libcap-ng: its process-wide calls read
 * another thread's sets in a thread that is not the leader. */
static int privs_capget(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

bool privs_thread_effective(uint64_t mask)
{
	struct __user_cap_data_struct d[2];
	uint64_t eff;

	if (privs_capget(d))
		return false;
	eff = (uint64_t)d[0].effective | (uint64_t)d[1].effective << 32;
	return (eff & mask) == mask;
}

static int privs_capset(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };

	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

int privs_thread_keep(uint64_t mask)
{
	struct __user_cap_data_struct d[2];
	uint64_t prm;
	unsigned int c;
	int ret;

	ret = privs_capget(d);
	if (ret)
		return ret;
	prm = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
	/* The bounding set first: shrinking it needs CAP_SETPCAP, which goes below. */
	if (d[0].effective & (1u << CAP_SETPCAP)) {
		for (c = 0; c <= CAP_LAST_CAP; c++)
			if (!(mask & (UINT64_C(1) << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) &&
			    errno != EINVAL)
				return -errno;
	}
	prm &= mask;
	d[0].effective = d[0].permitted = (uint32_t)prm;
	d[1].effective = d[1].permitted = (uint32_t)(prm >> 32);
	d[0].inheritable = d[1].inheritable = 0;
	ret = privs_capset(d);
	if (ret)
		return ret;
	/* Ambient capabilities need their permitted and inheritable bits: none is left, but
	 * clear the set explicitly (EINVAL: a kernel without ambient capabilities). */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	return privs_no_new_privs();
}

int privs_drop_thread(void)
{
	return privs_thread_keep(0);
}

uint64_t privs_sockopt_mask(void)
{
	struct __user_cap_data_struct d[2];
	uint64_t prm;

	if (privs_capget(d))
		return 0;
	prm = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
	/* as privs_drop chose: CAP_NET_RAW, or CAP_NET_ADMIN when that is all there is */
	if (prm & (UINT64_C(1) << CAP_NET_RAW))
		return UINT64_C(1) << CAP_NET_RAW;
	return prm & (UINT64_C(1) << CAP_NET_ADMIN);
}

uint64_t privs_session_mask(const struct config *cfg)
{
	struct __user_cap_data_struct d[2];
	uint64_t mask, prm, bind = UINT64_C(1) << CAP_NET_BIND_SERVICE;

	if (!privs_need_sockopt(cfg))
		return 0;
	/* With fwmark alone as well: a reload may add source = "client" (one that brings
	 * either option into a configuration with neither needs a restart). */
	mask = privs_sockopt_mask();
	if (privs_capget(d))
		return mask;
	prm = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
	return mask | (prm & bind);
}

int privs_fs_as(uid_t uid, gid_t gid)
{
	/* Both calls return the previous id; reading it back says whether the change took. */
	setfsgid(gid);
	setfsuid(uid);
	if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid) {
		privs_fs_restore();
		return -EPERM;
	}
	return 0;
}

void privs_fs_restore(void)
{
	setfsuid(geteuid());
	setfsgid(getegid());
}

/* privs_thread_start's hand-over: on the caller's stack until up is posted. */
struct privs_start {
	uint64_t keep;
	void *(*fn)(void *);
	void *arg;
	sem_t up;
	int err;
};

static void *privs_thread_main(void *p)
{
	struct privs_start *st = p;
	void *(*fn)(void *) = st->fn;
	void *arg = st->arg;
	int err = privs_thread_keep(st->keep);

	st->err = err;
	sem_post(&st->up); /* st is gone from here on */
	return err ? NULL : fn(arg);
}

int privs_thread_start(pthread_t *t, const char *name, uint64_t keep, void *(*fn)(void *),
		       void *arg)
{
	struct privs_start st = { .keep = keep, .fn = fn, .arg = arg };
	sigset_t all, old;
	int ret;

	sem_init(&st.up, 0, 0);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(t, NULL, privs_thread_main, &st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ret) {
		pthread_setname_np(*t, name);
		while (sem_wait(&st.up) && errno == EINTR)
			;
		ret = st.err;
		if (ret)
			pthread_join(*t, NULL);
	}
	sem_destroy(&st.up);
	return ret;
}
