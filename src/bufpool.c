// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bufpool.h"

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
	bp->mem_bytes = (size_t)count * size;
	bp->mem = mmap(NULL, bp->mem_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (bp->mem == MAP_FAILED) {
		bp->mem = NULL;
		err = -errno;
		goto err_unmap_ring;
	}
	bp->refs = calloc(count, sizeof(*bp->refs));
	if (!bp->refs) {
		err = -ENOMEM;
		goto err_unmap_mem;
	}
	io_uring_buf_ring_init(bp->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)bp->br;
	reg.ring_entries = count;
	reg.bgid = bgid;
	err = io_uring_register_buf_ring(ring, &reg, 0);
	if (err)
		goto err_free_refs;
	for (i = 0; i < count; i++)
		bufpool_recycle(bp, i);
	bufpool_commit(bp);
	return 0;

err_free_refs:
	free(bp->refs);
	bp->refs = NULL;
err_unmap_mem:
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
	memset(bp, 0, sizeof(*bp));
}
