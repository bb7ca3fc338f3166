/* SPDX-License-Identifier: MIT */
/* io_uring set-up with feature probing. What an operation carries in user_data is udata.h's. */
#ifndef RINGRELAY_URING_H
#define RINGRELAY_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

/* What the running kernel offers, probed once at start. */
struct uring_caps {
	bool available;	    /* io_uring_setup works at all */
	bool opcodes;	    /* RECVMSG, SENDMSG, SEND, TIMEOUT, ASYNC_CANCEL, READ, FILES_UPDATE */
	bool buf_ring;	    /* provided buffer rings (5.19) */
	bool recvmsg_multishot; /* multishot recvmsg (6.0), checked with a real datagram */
	uint32_t setup_flags;	/* best of SINGLE_ISSUER|DEFER_TASKRUN, COOP_TASKRUN, none */
	char missing[256];	/* why the fast path is unavailable; "" when it is */
};

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

/* Creates a worker ring with the probed flags and room for cq_entries completions.
 * Returns 0 or -errno. */
int uring_init(struct io_uring *ring, uint32_t sq_entries, uint32_t cq_entries, uint32_t flags);

#endif
