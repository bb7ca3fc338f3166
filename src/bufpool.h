/* SPDX-License-Identifier: MIT */
/* A provided buffer ring registered with io_uring: the kernel picks a free buffer for each
 * received datagram; we give it back only once every send that reads it has completed.
 * liburing 2.3 has no io_uring_setup_buf_ring, so the ring is mapped and registered here.
 *
 * The kernel takes a ring's buffers in the order they were added, so a ring holding every
 * buffer cycles through all of them and each datagram lands in the least recently used one,
 * out of the CPU's caches (4096 x 2 KiB: 15 % more CPU per datagram, perf/README.md). So the
 * ring holds only `fill` buffers; the others wait on a stack from which the most recently
 * returned go back first. A receive that finds the ring empty doubles fill (up to count), so
 * bursts get every buffer after the first one that needed more. */
#ifndef RINGRELAY_BUFPOOL_H
#define RINGRELAY_BUFPOOL_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct bufpool {
	struct io_uring_buf_ring *br;
	size_t ring_bytes;
	uint8_t *mem; /* count x stride bytes */
	size_t mem_bytes;
	size_t resident_bytes; /* of mem, touched at start (the rest on first use) */
	uint32_t count; /* power of two */
	uint32_t size;	  /* what each buffer offers a receive */
	uint32_t stride;  /* size rounded up to 8: every buffer starts aligned for the receive's
			   * header and the struct cmsghdr after it, whatever buffer_size is */
	uint16_t bgid;
	uint16_t mask;
	uint32_t pending;  /* added to the ring since the last commit */
	uint16_t *refs;	   /* sends still reading each buffer */
	uint16_t *stack;   /* free buffers not in the ring, most recently returned on top */
	uint32_t n_stack;
	uint32_t in_ring;  /* buffers in the ring for the kernel to take */
	uint32_t fill;	   /* how many the ring is kept at */
	bool grown;	   /* fill grew since the last commit (once per loop iteration) */
};

#define BUFPOOL_FILL_START 256

/* Maps count buffers of size bytes and registers them as group bgid on ring. Buffers longer
 * than a page are resident only in their first page until a receive writes further. */
int bufpool_init(struct bufpool *bp, struct io_uring *ring, uint32_t count, uint32_t size,
		 uint16_t bgid);
/* Unmaps (the ring must be gone or the group unregistered first); safe on zeroed pools. */
void bufpool_fini(struct bufpool *bp);

static inline uint8_t *bufpool_addr(const struct bufpool *bp, uint32_t bid)
{
	return bp->mem + (size_t)bid * bp->stride;
}

/* Returns a buffer to the pool; the kernel may get it at the next bufpool_commit. */
static inline void bufpool_recycle(struct bufpool *bp, uint32_t bid)
{
	bp->stack[bp->n_stack++] = (uint16_t)bid;
}

/* Takes the most recently returned free buffer for a receive the worker makes itself
 * (not through the ring); UINT32_MAX when none waits. bufpool_recycle gives it back. */
static inline uint32_t bufpool_take(struct bufpool *bp)
{
	return bp->n_stack ? bp->stack[--bp->n_stack] : UINT32_MAX;
}

/* Drops one reference; the last one recycles the buffer. */
static inline void bufpool_put(struct bufpool *bp, uint32_t bid)
{
	if (--bp->refs[bid] == 0)
		bufpool_recycle(bp, bid);
}

/* The kernel took a buffer from the ring (a completion with IORING_CQE_F_BUFFER). */
static inline void bufpool_taken(struct bufpool *bp)
{
	bp->in_ring--;
}

/* A receive found the ring empty. Returns true when every buffer was allowed in it (the
 * pool is short: datagrams wait in the socket); else the ring is allowed twice as many, once
 * per commit however many receives found it empty. */
bool bufpool_ran_dry(struct bufpool *bp);

/* Tops the ring up to fill from the stack's top and publishes it to the kernel with one
 * store (once per loop iteration). */
static inline void bufpool_commit(struct bufpool *bp)
{
	while (bp->in_ring < bp->fill && bp->n_stack) {
		uint32_t bid = bufpool_take(bp);

		io_uring_buf_ring_add(bp->br, bufpool_addr(bp, bid), bp->size, (unsigned short)bid,
				      bp->mask, (int)bp->pending);
		bp->pending++;
		bp->in_ring++;
	}
	if (bp->pending) {
		io_uring_buf_ring_advance(bp->br, (int)bp->pending);
		bp->pending = 0;
	}
	bp->grown = false;
}

#endif
