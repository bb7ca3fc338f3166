/* SPDX-License-Identifier: MIT */
/* What each operation a worker waits on carries back to it: io_uring's user_data and epoll's
 * data.u64 alike. Packed into 64 bits so a completion or event needs no allocation or lookup
 * table:  op:4 | relay:8 | bid:16 | idx:24 | gen:12 */
#ifndef RINGRELAY_UDATA_H
#define RINGRELAY_UDATA_H

#include <stdint.h>

enum udata_op {
	/* receives: io_uring keeps in bid how and when it armed them (worker_uring.c) */
	OP_RECV_LISTENER = 1, /* idx = listener slot, gen */
	OP_RECV_SESSION,      /* relay, idx = session slot, gen */
	/* relay, bid, idx = upstream counter slot, gen = datagrams (io_uring keeps more in idx
	 * and gen: worker_uring.c, TX_UP_BITS) */
	OP_SEND_UPSTREAM,
	OP_SEND_CLIENT,	      /* relay, bid, idx = session slot, gen = datagrams */
	OP_SEND_BATCH,	      /* relay, idx = send batch */
	OP_TIMER,
	OP_STOP,	      /* the stop eventfd became readable */
	OP_CMD,		      /* main posted a command (worker_run_cmd) */
	OP_SLOT_EMPTIED,      /* relay, idx, gen: a closing session's file slot emptied */
	OP_IGNORE,	      /* file updates: nothing to do */
	OP_RECV_MIRROR,	      /* relay, idx = a mirror socket's fixed slot, gen */
	/* a cancel by fixed file of a receive: its udata, under the op of OP_RECV_LISTENER,
	 * OP_RECV_SESSION or OP_RECV_MIRROR (worker_uring.c, on_cancel) */
	OP_CANCEL_LISTENER,
	OP_CANCEL_SESSION,
	OP_CANCEL_MIRROR,
};
_Static_assert(OP_CANCEL_MIRROR <= 0xf, "an op fits udata's 4 bits");

struct udata {
	enum udata_op op;
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
		.op = (enum udata_op)(v >> 60),
		.relay = (uint32_t)(v >> 52) & 0xff,
		.bid = (uint32_t)(v >> 36) & 0xffff,
		.idx = (uint32_t)(v >> 12) & 0xffffff,
		.gen = (uint32_t)v & UDATA_GEN_MASK,
	};
	return u;
}

#endif
