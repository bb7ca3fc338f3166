// SPDX-License-Identifier: MIT
#include <cap-ng.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
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

/* The capabilities a running relay may still need; entry 0 is always kept, the others only
 * for filter re-attach. Loading the filter needs CAP_PERFMON too: without it the verifier
 * applies its unprivileged pointer rules and refuses the program (EACCES). */
static const unsigned int privs_kept[] = {CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_BPF,
					  CAP_PERFMON};

/* Loads libcap-ng's (per-thread) state with the kept capabilities this thread holds now and
 * nothing else: asking for one we lack would make capng_apply fail with EPERM. Sets
 * *can_bound when we may shrink the bounding set (needs CAP_SETPCAP). */
static int privs_plan(bool keep_net_admin_bpf, bool keep_sockopt, bool *can_bound)
{
	bool have[sizeof(privs_kept) / sizeof(privs_kept[0])];
	unsigned int i, n = keep_net_admin_bpf ? sizeof(have) / sizeof(have[0]) : 1;
	bool raw = false, admin = false;

	capng_clear(CAPNG_SELECT_ALL);
	if (capng_get_caps_process())
		return errno ? -errno : -EPERM;
	*can_bound = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	for (i = 0; i < n; i++)
		have[i] = capng_have_capability(CAPNG_PERMITTED, privs_kept[i]);
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

/* Looks user up; -ENOENT when there is no such user. */
static int privs_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	char buf[4096];
	struct passwd pw, *found = NULL;
	int ret = getpwnam_r(user, &pw, buf, sizeof(buf), &found);

	if (ret) {
		snprintf(err, errlen, "look up user '%s': %s", user, strerror(ret));
		return -ret;
	}
	if (!found) {
		snprintf(err, errlen,
			 "user '%s' does not exist: create it (systemd-sysusers, useradd --system) "
			 "or set user = \"\"",
			 user);
		return -ENOENT;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

int privs_drop(const char *user, bool keep_net_admin_bpf, bool keep_sockopt, char *err,
	       size_t errlen)
{
	bool switch_user = user && user[0] && geteuid() == 0;
	bool can_bound;
	uid_t uid = 0;
	gid_t gid = 0;
	int ret;

	if (user && user[0]) {
		ret = privs_lookup(user, &uid, &gid, err, errlen);
		if (ret)
			return ret;
		/* Without root we cannot switch; already being that user (systemd User=) is fine,
		 * being someone else is a configuration mistake worth stopping for. */
		if (!switch_user && uid != geteuid()) {
			snprintf(err, errlen,
				 "cannot switch to user '%s' when not started as root (running as "
				 "uid %u): start as root or set user = \"\"",
				 user, (unsigned int)geteuid());
			return -EPERM;
		}
	}

	ret = privs_plan(keep_net_admin_bpf, keep_sockopt, &can_bound);
	if (ret) {
		snprintf(err, errlen, "read capabilities: %s", strerror(-ret));
		return ret;
	}

	if (switch_user) {
		/* Bounding set first, while root still holds CAP_SETPCAP; capng_change_id then
		 * keeps the planned capabilities across setresuid (PR_SET_KEEPCAPS), drops the
		 * supplementary groups and the ambient set, and applies effective and permitted
		 * as the new uid. */
		if (capng_apply(CAPNG_SELECT_BOUNDS)) {
			snprintf(err, errlen, "drop bounding capabilities: %s", strerror(errno));
			return -EPERM;
		}
		errno = 0;
		ret =
		    capng_change_id((int)uid, (int)gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_AMBIENT);
		if (ret) {
			int e = errno ? errno : EPERM;

			snprintf(err, errlen,
				 "switch to user '%s' (uid %u, gid %u): %s (libcap-ng "
				 "step %d)",
				 user, (unsigned int)uid, (unsigned int)gid, strerror(e), -ret);
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

int privs_drop_thread(void)
{
	bool can_bound;
	int ret = privs_plan(false, false, &can_bound);

	if (ret)
		return ret;
	/* Nothing at all is kept: a worker binds nothing and attaches nothing. */
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_apply(can_bound ? CAPNG_SELECT_ALL : CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT))
		return -EPERM;
	return privs_no_new_privs();
}
