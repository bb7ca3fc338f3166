/* SPDX-License-Identifier: MIT */
/* Least privilege after set-up (libcap-ng): keep only the capabilities a running relay can
 * still need, and leave root for an unprivileged user when one is configured.
 *
 * Capabilities and PR_SET_NO_NEW_PRIVS belong to a thread, not to the process: threads
 * created after privs_drop inherit the reduced sets, threads created before it keep theirs.
 * Call privs_drop before starting threads, or have each earlier thread call
 * privs_drop_thread. A uid change reaches every thread (glibc broadcasts setresuid), and a
 * thread that leaves uid 0 without PR_SET_KEEPCAPS loses all its capabilities. */
#ifndef RINGRELAY_PRIVS_H
#define RINGRELAY_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

/* Call after sockets are bound and the filter is attached. Keeps CAP_NET_BIND_SERVICE (a
 * reload may bind a low port), with keep_sockopt CAP_NET_RAW (or CAP_NET_ADMIN when that is
 * all we hold; see privs_need_sockopt) and, when keep_net_admin_bpf, CAP_NET_ADMIN and CAP_BPF (filter
 * re-attach after a link returns), each only if the process still holds it; clears every other
 * capability from the effective, permitted, inheritable and ambient sets and, when we hold
 * CAP_SETPCAP (root), from the bounding set. When user is non-empty and we run as root, also
 * switches uid, gid and groups (supplementary groups dropped) to user, keeping those
 * capabilities. Sets PR_SET_NO_NEW_PRIVS.
 * Returns 0, or -errno with one line in err: -ENOENT for an unknown user, -EPERM when not root
 * and user names someone else. */
int privs_drop(const char *user, bool keep_net_admin_bpf, bool keep_sockopt, char *err,
	       size_t errlen);

struct config;
/* Whether a relay of cfg makes upstream sockets with options that need CAP_NET_RAW or
 * CAP_NET_ADMIN at setsockopt time: source = "client" (IP_TRANSPARENT) or fwmark (SO_MARK).
 * privs_drop then keeps CAP_NET_RAW (or, without it, CAP_NET_ADMIN) in the effective set,
 * which the worker threads started after it inherit: they set these options on each new
 * session socket. */
bool privs_need_sockopt(const struct config *cfg);

/* For a thread that needs no privilege (a worker) and was started before privs_drop: clears
 * all capabilities of the calling thread (and its bounding set when it holds CAP_SETPCAP)
 * and sets PR_SET_NO_NEW_PRIVS. Returns 0 or -errno. */
int privs_drop_thread(void);

#endif
