// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bufpool.h"

/* Buffers of a page or less are mapped whole and at once. Larger ones (gro's 64 KiB) get
 * their first page now, which is all a datagram that arrives alone touches, and the rest on
 * demand as coalesced receives reach it: memory follows what arrives, not buffer_size. No huge
 * pages for those, or touching one first page would populate 2 MiB. */
static int map_buffers(struct bufpool *bp)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	bool lazy = bp->size > page;
	uint32_t i;

	bp->mem_bytes = (size_t)bp->count * bp->stride;
	bp->mem = mmap(NULL, bp->mem_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (lazy ? 0 : MAP_POPULATE), -1, 0);
	if (bp->mem == MAP_FAILED) {
		bp->mem = NULL;
		return -errno;
	}
	if (!lazy) {
		bp->resident_bytes = bp->mem_bytes;
		return 0;
	}
	(void)madvise(bp->mem, bp->mem_bytes, MADV_NOHUGEPAGE); /* advice: THP may be off */
	for (i = 0; i < bp->count; i++)
		*(volatile uint8_t *)bufpool_addr(bp, i) = 0;
	bp->resident_bytes = (size_t)bp->count * page;
	return 0;
}

int bufpool_init(struct bufpool *bp, struct io_uring *ring, uint32_t count, uint32_t size,
		 uint16_t bgid)
{
	struct io_uring_buf_reg reg;
	uint32_t i;
	int err;

	memset(bp, 0, sizeof(*bp));
	if (count == 0 || (count & (count - 1)) || count > 32768)
		return -EINVAL;
	bp->count = count;
	bp->size = size;
	bp->stride = (size + 7) & ~7u;
	bp->bgid = bgid;
	bp->mask = (uint16_t)io_uring_buf_ring_mask(count);

	/* The ring must be page aligned: mmap gives that. Buffers are mapped separately so a
	 * pool of large buffers can use huge pages transparently. */
	bp->ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
	bp->br = mmap(NULL, bp->ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (bp->br == MAP_FAILED) {
		bp->br = NULL;
		return -errno;
	}
	err = map_buffers(bp);
	if (err)
		goto err_unmap_ring;
	bp->refs = calloc(count, sizeof(*bp->refs));
	bp->stack = calloc(count, sizeof(*bp->stack));
	if (!bp->refs || !bp->stack) {
		err = -ENOMEM;
		goto err_free_refs;
	}
	bp->fill = count < BUFPOOL_FILL_START ? count : BUFPOOL_FILL_START;
	io_uring_buf_ring_init(bp->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)bp->br;
	reg.ring_entries = count;
	reg.bgid = bgid;
	err = io_uring_register_buf_ring(ring, &reg, 0);
	if (err)
		goto err_free_refs;
	/* Buffer 0 on top, so the ring starts with the lowest ones. */
	for (i = count; i-- > 0;)
		bufpool_recycle(bp, i);
	bufpool_commit(bp);
	return 0;

err_free_refs:
	free(bp->refs);
	free(bp->stack);
	bp->refs = NULL;
	bp->stack = NULL;
	munmap(bp->mem, bp->mem_bytes);
	bp->mem = NULL;
err_unmap_ring:
	munmap(bp->br, bp->ring_bytes);
	bp->br = NULL;
	return err;
}

void bufpool_fini(struct bufpool *bp)
{
	if (bp->br)
		munmap(bp->br, bp->ring_bytes);
	if (bp->mem)
		munmap(bp->mem, bp->mem_bytes);
	free(bp->refs);
	free(bp->stack);
	memset(bp, 0, sizeof(*bp));
}

bool bufpool_ran_dry(struct bufpool *bp)
{
	if (bp->grown)
		return false;
	if (bp->fill >= bp->count)
		return true;
	bp->fill = bp->fill * 2 < bp->count ? bp->fill * 2 : bp->count;
	bp->grown = true;
	return false;
}
