/* SPDX-License-Identifier: MIT */
/* A provided buffer ring registered with io_uring: the kernel picks a free buffer for each
 * received datagram; we give it back only once every send that reads it has completed.
 * liburing 2.3 has no io_uring_setup_buf_ring, so the ring is mapped and registered here. */
#ifndef RINGRELAY_BUFPOOL_H
#define RINGRELAY_BUFPOOL_H

#include <liburing.h>
#include <stdint.h>

struct bufpool {
	struct io_uring_buf_ring *br;
	size_t ring_bytes;
	uint8_t *mem; /* count x size bytes */
	size_t mem_bytes;
	uint32_t count; /* power of two */
	uint32_t size;
	uint16_t bgid;
	uint16_t mask;
	uint32_t pending;  /* recycled since the last commit */
	uint16_t *refs;	   /* sends still reading each buffer */
};

/* Maps count buffers of size bytes and registers them as group bgid on ring. */
int bufpool_init(struct bufpool *bp, struct io_uring *ring, uint32_t count, uint32_t size,
		 uint16_t bgid);
/* Unmaps (the ring must be gone or the group unregistered first); safe on zeroed pools. */
void bufpool_fini(struct bufpool *bp);

static inline uint8_t *bufpool_addr(const struct bufpool *bp, uint32_t bid)
{
	return bp->mem + (size_t)bid * bp->size;
}

/* Queues a buffer for return to the kernel; visible after bufpool_commit. */
static inline void bufpool_recycle(struct bufpool *bp, uint32_t bid)
{
	io_uring_buf_ring_add(bp->br, bufpool_addr(bp, bid), bp->size, (unsigned short)bid,
			      bp->mask, (int)bp->pending);
	bp->pending++;
}

/* Drops one reference; the last one recycles the buffer. */
static inline void bufpool_put(struct bufpool *bp, uint32_t bid)
{
	if (--bp->refs[bid] == 0)
		bufpool_recycle(bp, bid);
}

/* Publishes recycled buffers to the kernel with one store (once per loop iteration). */
static inline void bufpool_commit(struct bufpool *bp)
{
	if (bp->pending) {
		io_uring_buf_ring_advance(bp->br, (int)bp->pending);
		bp->pending = 0;
	}
}

#endif
