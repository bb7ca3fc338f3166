/* SPDX-License-Identifier: MIT */
/* io_uring set-up with feature probing. What an operation carries in user_data is udata.h's. */
#ifndef RINGRELAY_URING_H
#define RINGRELAY_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the running kernel offers, probed once at start. */
struct uring_caps {
	bool available;	    /* io_uring_setup works at all */
	bool opcodes;	    /* RECVMSG, SENDMSG, SEND, TIMEOUT, ASYNC_CANCEL, READ, FILES_UPDATE */
	bool buf_ring;	    /* provided buffer rings (5.19) */
	bool recvmsg_multishot; /* multishot recvmsg (6.0), checked with a real datagram */
	uint32_t setup_flags;	/* best of SINGLE_ISSUER|DEFER_TASKRUN, COOP_TASKRUN, none */
	char missing[256];	/* why the fast path is unavailable; "" when it is */
	/* Incrementally consumed provided buffers (IOU_PBUF_RING_INC, 6.12): many datagrams in
	 * one large buffer, the way a GRO receiver would want its 64 KiB buffers used. pbuf_inc:
	 * the kernel accepts such a ring; pbuf_inc_datagrams: multishot recvmsg puts a datagram
	 * that does not fit a buffer's rest whole into the next buffer (checked for real).
	 * pbuf_inc_why says why they are not usable; "" when they are. */
	bool pbuf_inc;
	bool pbuf_inc_datagrams;
	char pbuf_inc_why[160];
	/* Long-lived multishot receives are cancelled and armed again after sockets leave the
	 * ring's fixed files (worker_uring.c, "refresh"): before Linux 6.13 the kernel puts a
	 * removed file only once every request on a fixed file issued before the removal has
	 * ended. From uname's release, or RINGRELAY_RSRC_REFRESH=1/0. rsrc_refresh_why says
	 * which and why, also when off. */
	bool rsrc_refresh;
	bool rsrc_refresh_forced; /* by RINGRELAY_RSRC_REFRESH */
	char rsrc_refresh_why[256];
	/* A cancel can name a fixed file (IORING_ASYNC_CANCEL_FD_FIXED, 6.0) and end every
	 * request on it (IORING_ASYNC_CANCEL_ALL): checked on a real multishot receive. Else
	 * receives are cancelled by their udata; cancel_fixed_why says why. */
	bool cancel_fixed;
	char cancel_fixed_why[128];
};

/* What the incremental-buffer probe saw of its second datagram, sent after a first one that
 * left less room in the buffer than the second needs. */
struct uring_inc_seen {
	int res;	     /* the completion's result */
	uint32_t cqe_flags;  /* its flags (F_BUFFER, buffer id) */
	uint32_t first_bid;  /* the buffer the first datagram went into */
	uint32_t msg_flags;  /* io_uring_recvmsg_out.flags (MSG_TRUNC) when res >= 0 */
	uint32_t payload;    /* payload bytes the buffer holds when res >= 0 */
	uint32_t sent;	     /* the second datagram's length */
};

/* Pure: whether what the probe saw means a datagram can never be cut short or fail because
 * an earlier one used part of its buffer. Returns true, or false with the reason in why. */
bool uring_inc_datagrams_ok(const struct uring_inc_seen *seen, char *why, size_t whylen);

/* Pure: whether receives must be refreshed (uring_caps.rsrc_refresh) on a kernel of uname
 * release, force being RINGRELAY_RSRC_REFRESH's value (NULL when unset; "1" on, "0" off,
 * anything else ignored, which why says). *forced tells whether force decided. why says on
 * or off and why. */
bool uring_rsrc_refresh_needed(const char *release, const char *force, bool *forced, char *why,
			       size_t whylen);

/* Queues in sqe a cancel of every request on fixed file slot (cancel_fixed). */
static inline void uring_prep_cancel_fixed(struct io_uring_sqe *sqe, uint32_t slot)
{
	/* liburing 2.3 has no helper of its own for a fixed file: its fd one passes the flag */
	io_uring_prep_cancel_fd(sqe, (int)slot,
				IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
}

/* Probes the kernel. Never fails: what is missing is recorded in caps. Uses a throw-away ring
 * and one datagram over 127.0.0.1 to test multishot receive for real. */
void uring_probe(struct uring_caps *caps);
/* "SINGLE_ISSUER|DEFER_TASKRUN" etc. */
const char *uring_flags_name(uint32_t flags);

/* Locked memory a ring of sq_entries and cq_entries with a provided buffer ring of buffers
 * entries is charged against RLIMIT_MEMLOCK (kernels since 6.x charge ring memory; a process
 * with CAP_IPC_LOCK is exempt): the SQ and CQ rings, the SQE array and the buffer ring, each
 * in whole pages, and a little slack: an estimate of the kernel's own sums, rounded up. */
uint64_t uring_memlock_bytes(uint32_t sq_entries, uint32_t cq_entries, uint32_t buffers);
/* " (RLIMIT_MEMLOCK is N KiB: ...)" when err is -ENOMEM, else "": the hint every io_uring
 * set-up error carries. A static buffer: use it at once. */
const char *uring_memlock_hint(int err);

/* Registers NAPI busy polling on ring (IORING_REGISTER_NAPI, Linux 6.9): while the ring's
 * owner waits for completions, the NAPI instances its sockets receive on (tracked
 * dynamically) are polled for busy_poll_us, preferring that to interrupts with prefer. Needs
 * no capability; call before the ring is restricted. Returns 0 or -errno (-EINVAL, -ENOSYS,
 * -EOPNOTSUPP: the kernel lacks it). */
int uring_register_napi(struct io_uring *ring, uint32_t busy_poll_us, bool prefer);

/* What a check of the completion queue found since the last (uring_cq_check). */
struct uring_cq_watch {
	uint32_t dropped_last; /* the kernel's koverflow as last read (a u32 that wraps) */
};

/* Checks, off the hot path (the worker's tick), the assumption uring_init sizes the CQ on:
 * adds 1 to *overflowed when completions wait in the kernel's overflow list now (the CQ was
 * full: IORING_SQ_CQ_OVERFLOW), and to *dropped the completions the kernel lost since the
 * last check (koverflow; the ring then ends with EBADR). */
void uring_cq_check(struct io_uring *ring, struct uring_cq_watch *cw, uint64_t *overflowed,
		    uint64_t *dropped);

/* Creates a worker ring with the probed flags and room for cq_entries completions.
 * Returns 0 or -errno. */
int uring_init(struct io_uring *ring, uint32_t sq_entries, uint32_t cq_entries, uint32_t flags);

#endif
