/* SPDX-License-Identifier: MIT */
/* io_uring set-up with feature probing, and the user_data encoding every worker op carries. */
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
	char missing[160];	/* why the fast path is unavailable; "" when it is */
};

/* Probes the kernel. Never fails: what is missing is recorded in caps. Uses a throw-away ring
 * and one datagram over 127.0.0.1 to test multishot receive for real. */
void uring_probe(struct uring_caps *caps);
/* "SINGLE_ISSUER|DEFER_TASKRUN" etc. */
const char *uring_flags_name(uint32_t flags);

/* Creates a worker ring with the probed flags and room for cq_entries completions.
 * Returns 0 or -errno. */
int uring_init(struct io_uring *ring, uint32_t sq_entries, uint32_t cq_entries, uint32_t flags);

/* user_data: which operation completed and on what. Packed into 64 bits so a completion
 * needs no allocation or lookup table:  op:4 | relay:8 | bid:16 | idx:24 | gen:12 */
enum uring_op {
	OP_RECV_LISTENER = 1, /* idx = listener slot, gen */
	OP_RECV_SESSION,      /* relay, idx = session slot, gen */
	OP_SEND_UPSTREAM,     /* relay, bid */
	OP_SEND_CLIENT,	      /* relay, bid */
	OP_SEND_BATCH,	      /* relay, idx = send batch */
	OP_TIMER,
	OP_STOP,	      /* the stop eventfd became readable */
	OP_CMD,		      /* main posted a command (worker_run_cmd) */
	OP_CANCEL_SESSION,    /* relay, idx, gen: the cancel of a session's receive */
	OP_IGNORE,	      /* file updates: nothing to do */
};

struct udata {
	enum uring_op op;
	uint32_t relay; /* < 256 */
	uint32_t bid;	/* < 65536 */
	uint32_t idx;	/* < 2^24 */
	uint32_t gen;	/* only the low 12 bits survive */
};

#define UDATA_MAX_RELAY 0xffu
#define UDATA_MAX_IDX 0xffffffu
#define UDATA_GEN_MASK 0xfffu

static inline uint64_t udata_pack(struct udata u)
{
	return (uint64_t)u.op << 60 | (uint64_t)(u.relay & 0xff) << 52 |
	       (uint64_t)(u.bid & 0xffff) << 36 | (uint64_t)(u.idx & 0xffffff) << 12 |
	       (uint64_t)(u.gen & UDATA_GEN_MASK);
}

static inline struct udata udata_unpack(uint64_t v)
{
	struct udata u = {
		.op = (enum uring_op)(v >> 60),
		.relay = (uint32_t)(v >> 52) & 0xff,
		.bid = (uint32_t)(v >> 36) & 0xffff,
		.idx = (uint32_t)(v >> 12) & 0xffffff,
		.gen = (uint32_t)v & UDATA_GEN_MASK,
	};
	return u;
}

#endif
