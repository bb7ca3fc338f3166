/* SPDX-License-Identifier: MIT */
/* config + host facts -> the immutable plan every worker is built from: how many workers,
 * their CPUs, and the fixed sizes of everything they allocate at start. Pure: no syscalls. */
#ifndef RINGRELAY_PLAN_H
#define RINGRELAY_PLAN_H

#include <stdint.h>

#include "config.h"

#define PLAN_MAX_WORKERS 1024
/* The kernel caps a ring at 32768 SQ and 65536 CQ entries. */
#define PLAN_MAX_CQ 65536u
#define PLAN_MAX_FIXED_FILES (1u << 20)
/* Fixed-file layout of a worker ring: listener slots, mirror upstream slots, then session
 * regions. Sessions get twice what the config asks for (at least 1024 more) so a reload
 * can add relays without a restart: each relay's sessions take a region of the table at its
 * first apply, kept until a later relay reuses it (slots.h), so a new relay, or one that
 * replaces another while its sessions drain, needs room beside the regions in use. A worker
 * thus holds at most (PLAN_MAX_FIXED_FILES - PLAN_SESSION_BASE) / 2 sessions, and the
 * process may need a file descriptor for each slot (the mmsg backend's sockets). */
#define PLAN_LISTENER_SLOTS 1024u
#define PLAN_MIRROR_SLOTS 256u
#define PLAN_SESSION_BASE (PLAN_LISTENER_SLOTS + PLAN_MIRROR_SLOTS)

/* What the plan needs to know about the machine. */
struct plan_host {
	uint32_t n_cpus;		  /* CPUs this process may run on */
	int cpus[CONFIG_MAX_CPUS];	  /* their numbers */
	uint32_t rx_queues;		  /* RX queues of the listen interface; 0 = unknown */
	uint32_t mtu;			  /* the largest MTU among them; 0 = unknown */
	char mtu_ifname[16];		  /* which interface has it */
	uint32_t workers;		  /* running workers (a reload keeps them); 0 = none */
};

struct plan {
	uint32_t n_workers;
	int cpu[PLAN_MAX_WORKERS]; /* the CPU each worker is pinned to */
	uint32_t sessions[CONFIG_MAX_RELAYS]; /* session capacity per worker of each relay of cfg */
	uint32_t n_listeners;	   /* per worker */
	uint32_t n_mirror;	   /* upstream sockets per worker for mirror relays */
	uint32_t max_fanout;	   /* sends one datagram can cause */
	uint32_t files;		   /* fixed-file slots per worker: listeners, mirror, sessions */
	uint32_t session_slots;	   /* of which for sessions, from PLAN_SESSION_BASE */
	uint32_t cq_entries;
	uint32_t sq_entries;
	/* Listen ports of cfg: a start or reload claims each (portclaim.h), a descriptor held
	 * beside the listeners until they are bound. */
	uint32_t n_claims;
	uint64_t nofile;	   /* RLIMIT_NOFILE the process needs, the claims included */
	/* The largest datagram a buffer holds after the receive's header, name and control
	 * data: from a client (listener) and from an upstream (session). Both backends drop
	 * longer ones, so they agree on what is too long. */
	uint32_t payload_max;
	uint32_t reply_payload_max;
	uint32_t rx_control;	   /* control bytes a listener's receive reserves */
	uint32_t reply_rx_control; /* ... and a session's */
	/* The longest UDP payload a listen interface carries in one IPv4 packet (0 = unknown)
	 * and which interface: what payload_max should hold. */
	uint32_t link_payload_max;
	char link_ifname[16];
};

/* RLIMIT_NOFILE as the process finds it: soft and hard limits, whether it may raise the hard
 * one (CAP_SYS_RESOURCE), and the kernel's ceiling for that (fs.nr_open). */
struct plan_nofile {
	uint64_t soft, hard, nr_open;
	bool can_raise;
};

/* Whether the process can give itself plan->nofile descriptors under lim, as a start does
 * (raising the soft limit up to the hard one, or the hard one with CAP_SYS_RESOURCE up to
 * fs.nr_open). Returns 0, or -EMFILE with "FILE:LINE: relays[R].max_sessions: ..." (the
 * relay with the most sessions) and what to do in err. */
int plan_check_nofile(const struct config *cfg, const struct plan *plan,
		      const struct plan_nofile *lim, char *err, size_t errlen);

/* The distinct listen ports of cfg's relays: the claims a start or reload of cfg takes. */
uint32_t plan_claims(const struct config *cfg);
/* The descriptors plan's relays may hold themselves: plan->nofile without its claims. */
static inline uint64_t plan_nofile_relays(const struct plan *plan)
{
	return plan->nofile - plan->n_claims;
}

/* The plan for cfg on host. Its arrays are indexed like cfg's; with host->workers set (a
 * reload) the worker count stays that. Returns 0, or -EINVAL with a message in err (e.g. a
 * pinned CPU that is not allowed). */
int plan_build(const struct config *cfg, const struct plan_host *host, struct plan *out,
	       char *err, size_t errlen);

#endif
