/* SPDX-License-Identifier: MIT */
/* Least privilege after set-up: who the daemon runs as (privs_resolve), leaving root for that
 * user with only the capabilities a running relay may need (privs_drop, libcap-ng, before any
 * thread starts), then each thread's own capability sets (privs_thread_keep).
 *
 * Capabilities and PR_SET_NO_NEW_PRIVS belong to a thread, not to the process: a thread
 * inherits its creator's sets and changes only its own. So privs_drop keeps, for the whole
 * process, what any thread still needs at start (binding low ports, attaching the filter);
 * each thread then keeps what it needs after start: the control thread and the access log
 * none at all, workers none (CAP_NET_RAW only when a relay's source = "client" or fwmark
 * needs it on each session socket), the upkeep thread the same as the workers (a fwmark
 * goes on its health probes' sockets; a reload may add one where the workers kept it for
 * source = "client"), only the admin thread CAP_NET_ADMIN,
 * CAP_BPF and CAP_PERFMON when the start loaded the BPF program (a filter, offload or early
 * shedding), CAP_NET_ADMIN for the napi block's
 * per-NAPI values (and CAP_SYS_NICE for its threads: napi.threaded, napi.thread_nice), and
 * main none once everything runs.
 * A uid change reaches every thread (glibc broadcasts setresuid). */
#ifndef RINGRELAY_PRIVS_H
#define RINGRELAY_PRIVS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The user a root start switches to when `user` is not set. */
#define PRIVS_DEFAULT_USER "ringrelay"

struct config;
/* Whether a relay of cfg makes upstream sockets with options that need CAP_NET_RAW or
 * CAP_NET_ADMIN at setsockopt time: source = "client" (IP_TRANSPARENT) or fwmark (SO_MARK).
 * privs_drop then keeps CAP_NET_RAW (or, without it, CAP_NET_ADMIN), and so do the workers
 * after their set-up (privs_sockopt_mask): they set these options on each new session
 * socket. It is the one capability a worker may keep, and only for these settings. */
bool privs_need_sockopt(const struct config *cfg);

/* Why the daemon runs as privs_who says. */
enum privs_why {
	PRIVS_AS_STARTED,	/* not started as root: stays who it is (user unset, or us) */
	PRIVS_CONFIGURED,	/* user = NAME: a root start switches to it */
	PRIVS_DEFAULT,		/* user unset, root start: switches to PRIVS_DEFAULT_USER */
	PRIVS_ROOT_CONFIGURED,	/* user names uid 0 ("root"): stays root on purpose */
	PRIVS_ROOT_NO_USER,	/* user unset, root start, no PRIVS_DEFAULT_USER: stays root */
};

struct privs_who {
	uid_t uid;	   /* the daemon's uid after start */
	gid_t gid;	   /* and gid */
	char name[64];	   /* the user's name ("" when it has none) */
	bool switch_user;  /* a root start: change to uid and gid (groups dropped) */
	enum privs_why why;
};

/* The capabilities of the admin thread when a filter or fast path needs re-attaching. Loading
 * the program needs CAP_PERFMON too: without it the verifier applies its unprivileged pointer
 * rules and refuses the program (EACCES). */
#define PRIVS_FILTER_CAPS                                                                         \
	((UINT64_C(1) << 12 /* CAP_NET_ADMIN */) | (UINT64_C(1) << 39 /* CAP_BPF */) |           \
	 (UINT64_C(1) << 38 /* CAP_PERFMON */))

/* The capabilities of the admin thread when it applies the napi block to the listen
 * interfaces (napitune.h): NAPI_SET; CAP_SYS_NICE only for the NAPI threads (threaded's
 * pinning, thread_nice, and putting both back at exit). */
#define PRIVS_NAPI_CAPS (UINT64_C(1) << 12 /* CAP_NET_ADMIN */)
#define PRIVS_NAPI_THREAD_CAPS (UINT64_C(1) << 23 /* CAP_SYS_NICE */)
/* ... and to find the NAPI threads before Linux 6.9 (napithreads.h: a BPF task iterator). */
#define PRIVS_NAPI_ITER_CAPS                                                                      \
	((UINT64_C(1) << 39 /* CAP_BPF */) | (UINT64_C(1) << 38 /* CAP_PERFMON */))

/* True when this thread holds, effective, what loading and attaching the BPF program needs
 * (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON; CAP_SYS_ADMIN stands for BPF and PERFMON): shed =
 * "auto" does not try without them. */
bool privs_can_load_bpf(void);

/* True when the calling thread holds, effective, every capability of mask (bit N:
 * capability N). */
bool privs_thread_effective(uint64_t mask);

/* Who the daemon will run as, for config `user` (may be "") and a start as the current euid;
 * default_user is looked up for an unset user and a root start (PRIVS_DEFAULT_USER; tests
 * pass others). Changes nothing. Returns 0, or -errno with one line in err: -ENOENT for an
 * unknown user, -EPERM when not root and user names someone else. */
int privs_resolve(const char *user, const char *default_user, struct privs_who *who, char *err,
		  size_t errlen);

/* Call in main before any thread starts, after sockets are bound and the filter attached.
 * Keeps CAP_NET_BIND_SERVICE (workers bind their listeners), with keep_sockopt CAP_NET_RAW (or
 * CAP_NET_ADMIN when that is all we hold; see privs_need_sockopt) and those of keep_admin
 * (the admin thread's: PRIVS_FILTER_CAPS, PRIVS_NAPI_CAPS, PRIVS_NAPI_THREAD_CAPS, or 0), each
 * only if the process holds it;
 * clears every other capability from the effective, permitted, inheritable and ambient sets
 * and, when we hold CAP_SETPCAP (root), from the bounding set. When who->switch_user, also
 * switches uid, gid and groups (supplementary groups dropped), keeping those capabilities.
 * Sets PR_SET_NO_NEW_PRIVS. Returns 0 or -errno with one line in err. */
int privs_drop(const struct privs_who *who, uint64_t keep_admin, bool keep_sockopt, char *err,
	       size_t errlen);

/* The calling thread keeps, of the capabilities it holds, only those in mask (bits by
 * capability number) in its effective and permitted sets; its inheritable and ambient sets
 * are cleared, and its bounding set shrunk to mask when it holds CAP_SETPCAP. Sets
 * PR_SET_NO_NEW_PRIVS. Other threads keep theirs. Returns 0 or -errno. */
int privs_thread_keep(uint64_t mask);

/* privs_thread_keep(0): a thread that needs no privilege at all. */
int privs_drop_thread(void);

/* Starts fn(arg) on a thread named name, with every signal blocked (only main's signalfd sees
 * them), that keeps only capabilities keep of the caller's: returns once the thread has set
 * them, 0 (*t) or -errno (a thread that could not set them has ended and is joined, and fn
 * never ran). */
int privs_thread_start(pthread_t *t, const char *name, uint64_t keep, void *(*fn)(void *),
		       void *arg);

/* The capability of privs_need_sockopt's options the calling thread holds, as a mask for
 * privs_thread_keep: CAP_NET_RAW, else CAP_NET_ADMIN, else 0. */
uint64_t privs_sockopt_mask(void);
/* What a worker keeps once its listeners are bound, for the session sockets of cfg's relays:
 * when privs_need_sockopt, privs_sockopt_mask and CAP_NET_BIND_SERVICE where the thread
 * holds it (with source = "client" a client that sends from a port below 1024 is bound to by
 * its session socket, and IP_TRANSPARENT does not waive that check; kept for fwmark too, as
 * a reload may add source = "client"). */
uint64_t privs_session_mask(const struct config *cfg);

/* Files the calling thread creates from now on belong to uid:gid, and its file permission
 * checks are made as uid (setfsuid/setfsgid: per thread, the rest of its credentials stay).
 * For main while still root, to make the control socket and its directory as the daemon's
 * user. privs_fs_restore goes back to the thread's own ids. Returns 0 or -EPERM when the
 * ids did not take. */
int privs_fs_as(uid_t uid, gid_t gid);
void privs_fs_restore(void);

/* The gid of group name into *gid, however many members it lists (a directory service's
 * group outgrows a fixed buffer). 0, -ENOENT when there is no such group, or -errno. */
int privs_group_gid(const char *name, gid_t *gid);

#endif
