// SPDX-License-Identifier: MIT
/* bufpool: buffer ids and addresses, reference counting (a buffer goes back to the pool only
 * with its last send), the batched return to the kernel, most recently returned first, the
 * ring's fill and its growth, which pages are resident, and real receives into buffers the
 * kernel picked (datagrams over 127.0.0.1). Skipped where io_uring cannot run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bufpool.h"

#define COUNT 8
#define SIZE 256
#define BGID 3

struct fixture {
	struct io_uring ring;
	struct bufpool bp;
};

static struct fixture fx;

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	if (io_uring_queue_init(8, &fx.ring, 0))
		return 0; /* the tests skip */
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	if (*state) {
		io_uring_queue_exit(&fx.ring);
		bufpool_fini(&fx.bp);
	}
	return 0;
}

/* The tail the kernel reads: how many buffers were ever handed to it. */
static uint16_t ring_tail(const struct bufpool *bp)
{
	return __atomic_load_n(&bp->br->tail, __ATOMIC_ACQUIRE);
}

static void test_bad_counts(void **state)
{
	static const uint32_t bad[] = { 0, 3, 100, 65536 };
	struct io_uring ring; /* never reached: the count is checked first */
	struct bufpool bp;
	size_t i;

	memset(&ring, 0, sizeof(ring));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bufpool_init(&bp, &ring, bad[i], SIZE, BGID), -EINVAL);
		assert_null(bp.br);
		assert_null(bp.mem);
		bufpool_fini(&bp);
	}
}

static void test_layout(void **state)
{
	struct fixture *f = *state;
	uint32_t i;

	if (!f)
		skip();
	assert_int_equal(bufpool_init(&f->bp, &f->ring, COUNT, SIZE, BGID), 0);
	assert_int_equal(f->bp.count, COUNT);
	assert_int_equal(f->bp.mask, COUNT - 1);
	assert_int_equal(f->bp.bgid, BGID);
	/* every buffer starts with the kernel, published at once */
	assert_int_equal(ring_tail(&f->bp), COUNT);
	assert_int_equal(f->bp.pending, 0);
	for (i = 0; i < COUNT; i++) {
		const struct io_uring_buf *b = &f->bp.br->bufs[i];

		assert_ptr_equal(bufpool_addr(&f->bp, i), f->bp.mem + (size_t)i * SIZE);
		assert_int_equal(b->bid, i);
		assert_int_equal(b->addr, (uint64_t)(uintptr_t)bufpool_addr(&f->bp, i));
		assert_int_equal(b->len, SIZE);
		assert_int_equal(f->bp.refs[i], 0);
	}
}

/* A buffer read by two sends returns to the pool after the second; the commit gives the
 * kernel back as many as it took, most recently returned first, published together. */
static void test_refs_and_commit(void **state)
{
	struct fixture *f = *state;
	const struct io_uring_buf *slot;
	uint16_t tail;

	if (!f)
		skip();
	assert_int_equal(bufpool_init(&f->bp, &f->ring, COUNT, SIZE, BGID), 0);
	tail = ring_tail(&f->bp);
	bufpool_taken(&f->bp); /* two receives */
	bufpool_taken(&f->bp);
	f->bp.refs[5] = 2;
	bufpool_put(&f->bp, 5);
	assert_int_equal(f->bp.refs[5], 1);
	assert_int_equal(f->bp.n_stack, 0);
	bufpool_put(&f->bp, 5);
	assert_int_equal(f->bp.refs[5], 0);
	assert_int_equal(f->bp.n_stack, 1);
	bufpool_recycle(&f->bp, 2); /* a receive that is dropped, never sent */
	assert_int_equal(f->bp.n_stack, 2);
	assert_int_equal(ring_tail(&f->bp), tail); /* not visible yet */
	bufpool_commit(&f->bp);
	assert_int_equal(ring_tail(&f->bp), (uint16_t)(tail + 2));
	assert_int_equal(f->bp.pending, 0);
	assert_int_equal(f->bp.n_stack, 0);
	assert_int_equal(f->bp.in_ring, COUNT);
	/* behind the tail, the last returned first, each with its own id and address */
	slot = &f->bp.br->bufs[tail & f->bp.mask];
	assert_int_equal(slot->bid, 2);
	assert_int_equal(slot->addr, (uint64_t)(uintptr_t)bufpool_addr(&f->bp, 2));
	slot = &f->bp.br->bufs[(uint16_t)(tail + 1) & f->bp.mask];
	assert_int_equal(slot->bid, 5);
	bufpool_commit(&f->bp); /* nothing to add: no change */
	assert_int_equal(ring_tail(&f->bp), (uint16_t)(tail + 2));
}

/* A pool larger than the ring's fill keeps the rest on the stack; what the kernel took is
 * replaced by the buffers returned last (still in the CPU's caches), and a ring that ran dry
 * is allowed twice as many, up to the whole pool, which then counts as running dry. */
static void test_fill_and_stack(void **state)
{
	struct fixture *f = *state;
	const uint32_t count = 4 * BUFPOOL_FILL_START;
	uint16_t tail;
	uint32_t i;

	if (!f)
		skip();
	assert_int_equal(bufpool_init(&f->bp, &f->ring, count, SIZE, BGID), 0);
	assert_int_equal(ring_tail(&f->bp), BUFPOOL_FILL_START);
	assert_int_equal(f->bp.in_ring, BUFPOOL_FILL_START);
	assert_int_equal(f->bp.n_stack, count - BUFPOOL_FILL_START);
	for (i = 0; i < BUFPOOL_FILL_START; i++)
		assert_int_equal(f->bp.br->bufs[i].bid, i);
	/* the kernel takes three; three others come back, 12 last */
	for (i = 0; i < 3; i++)
		bufpool_taken(&f->bp);
	bufpool_recycle(&f->bp, 10);
	bufpool_recycle(&f->bp, 11);
	bufpool_recycle(&f->bp, 12);
	tail = ring_tail(&f->bp);
	bufpool_commit(&f->bp);
	assert_int_equal(ring_tail(&f->bp), (uint16_t)(tail + 3));
	assert_int_equal(f->bp.br->bufs[tail & f->bp.mask].bid, 12);
	assert_int_equal(f->bp.br->bufs[(uint16_t)(tail + 1) & f->bp.mask].bid, 11);
	assert_int_equal(f->bp.br->bufs[(uint16_t)(tail + 2) & f->bp.mask].bid, 10);
	assert_int_equal(f->bp.n_stack, count - BUFPOOL_FILL_START);
	/* ran dry below the whole pool: not a shortage, the ring grows at the next commit, once
	 * however many receives found it empty before that */
	assert_false(bufpool_ran_dry(&f->bp));
	assert_int_equal(f->bp.fill, 2 * BUFPOOL_FILL_START);
	assert_false(bufpool_ran_dry(&f->bp));
	assert_int_equal(f->bp.fill, 2 * BUFPOOL_FILL_START);
	bufpool_commit(&f->bp);
	assert_int_equal(f->bp.in_ring, 2 * BUFPOOL_FILL_START);
	assert_int_equal(f->bp.br->bufs[(uint16_t)(tail + 3) & f->bp.mask].bid,
			 BUFPOOL_FILL_START);
	assert_false(bufpool_ran_dry(&f->bp));
	assert_int_equal(f->bp.fill, count);
	bufpool_commit(&f->bp);
	assert_int_equal(f->bp.in_ring, count);
	assert_int_equal(f->bp.n_stack, 0);
	assert_true(bufpool_ran_dry(&f->bp)); /* every buffer was the kernel's */
	assert_int_equal(f->bp.fill, count);
}

/* The kernel picks a buffer of the group for a receive: its id leads to the data. */
/* A UDP socket on 127.0.0.1 (its address in *sin) with one receive armed on ring that picks
 * a buffer of group BGID; the tests send to it from itself. */
static int recv_armed(struct io_uring *ring, struct sockaddr_in *sin)
{
	socklen_t slen = sizeof(*sin);
	struct io_uring_sqe *sqe;
	int fd, rcvbuf = 1 << 20;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sin, &slen), 0);
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_recv(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	assert_int_equal(io_uring_submit(ring), 1);
	return fd;
}

static void test_kernel_fills_buffer(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sin;
	struct io_uring_cqe *cqe;
	uint32_t bid;
	int fd;

	if (!f)
		skip();
	assert_int_equal(bufpool_init(&f->bp, &f->ring, COUNT, SIZE, BGID), 0);
	fd = recv_armed(&f->ring, &sin);
	assert_int_equal(sendto(fd, "ringrelay", 9, 0, (struct sockaddr *)&sin, sizeof(sin)), 9);
	assert_int_equal(io_uring_wait_cqe(&f->ring, &cqe), 0);
	assert_int_equal(cqe->res, 9);
	assert_true(cqe->flags & IORING_CQE_F_BUFFER);
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	assert_true(bid < COUNT);
	assert_memory_equal(bufpool_addr(&f->bp, bid), "ringrelay", 9);
	io_uring_cqe_seen(&f->ring, cqe);
	bufpool_taken(&f->bp);
	bufpool_recycle(&f->bp, bid);
	bufpool_commit(&f->bp);
	assert_int_equal(ring_tail(&f->bp), COUNT + 1);
	close(fd);
}

/* With the kernel: a burst queued in a socket beyond the ring's fill ends a multishot
 * receive with ENOBUFS after fill datagrams; that is not a shortage (buffers wait on the
 * stack), the ring doubles, and a receive armed again gets the rest. */
static void test_ring_grows_on_burst(void **state)
{
	const uint32_t count = 4 * BUFPOOL_FILL_START, burst = BUFPOOL_FILL_START + 44;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	uint32_t got = 0, enobufs = 0, i;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct msghdr msg;
	struct io_uring ring;
	struct bufpool bp;
	int fd, rcvbuf = 1 << 20, round;

	(void)state;
	if (io_uring_queue_init(1024, &ring, 0))
		skip();
	if (bufpool_init(&bp, &ring, count, SIZE, BGID)) {
		io_uring_queue_exit(&ring);
		skip(); /* multishot and buffer rings need 6.0 */
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	for (i = 0; i < burst; i++)
		assert_int_equal(sendto(fd, &i, sizeof(i), 0, (struct sockaddr *)&sin, sizeof(sin)),
				 sizeof(i));
	memset(&msg, 0, sizeof(msg));
	for (round = 0; round < 2; round++) {
		bool more = true;

		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_recvmsg_multishot(sqe, fd, &msg, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
		assert_int_equal(io_uring_submit(&ring), 1);
		while (more && got < burst) {
			assert_int_equal(io_uring_wait_cqe(&ring, &cqe), 0);
			more = cqe->flags & IORING_CQE_F_MORE;
			if (cqe->flags & IORING_CQE_F_BUFFER)
				bufpool_taken(&bp);
			if (cqe->res == -ENOBUFS) {
				enobufs++;
				assert_false(bufpool_ran_dry(&bp));
			} else {
				assert_true(cqe->res > 0);
				assert_true(cqe->flags & IORING_CQE_F_BUFFER);
				got++;
				/* held by "sends" until the round ends, as in a busy worker */
			}
			io_uring_cqe_seen(&ring, cqe);
		}
		if (round == 0) {
			assert_int_equal(got, BUFPOOL_FILL_START);
			assert_int_equal(enobufs, 1);
			assert_int_equal(bp.fill, 2 * BUFPOOL_FILL_START);
			assert_int_equal(bp.in_ring, 0);
			bufpool_commit(&bp); /* the next loop iteration */
			assert_int_equal(bp.in_ring, 2 * BUFPOOL_FILL_START);
		}
	}
	assert_int_equal(got, burst);
	assert_int_equal(enobufs, 1);
	close(fd); /* ends the armed receive */
	io_uring_queue_exit(&ring);
	bufpool_fini(&bp);
}

/* Which pages of the pool are resident, one byte per page (bit 0 set: resident). */
static unsigned char *resident_pages(const struct bufpool *bp, size_t page)
{
	unsigned char *vec = calloc(bp->mem_bytes / page, 1);

	assert_non_null(vec);
	assert_int_equal(mincore(bp->mem, bp->mem_bytes, vec), 0);
	return vec;
}

/* Buffers of a page or less are resident from the start; larger ones (gro's 64 KiB) only
 * in their first page, and a receive longer than a page brings in what it writes. */
static void test_residency(void **state)
{
	struct fixture *f = *state;
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const uint32_t big = 65536, per = big / (uint32_t)page, len = 3 * (uint32_t)page;
	struct sockaddr_in sin;
	struct io_uring_cqe *cqe;
	unsigned char *vec, *data;
	struct bufpool small;
	uint32_t bid, i;
	int fd;

	if (!f)
		skip();
	assert_int_equal(bufpool_init(&small, &f->ring, COUNT, SIZE, BGID + 1), 0);
	assert_int_equal(small.resident_bytes, small.mem_bytes);
	vec = resident_pages(&small, page);
	for (i = 0; i < small.mem_bytes / page; i++)
		assert_true(vec[i] & 1);
	free(vec);
	assert_int_equal(io_uring_unregister_buf_ring(&f->ring, BGID + 1), 0);
	bufpool_fini(&small);

	assert_int_equal(bufpool_init(&f->bp, &f->ring, COUNT, big, BGID), 0);
	assert_int_equal(f->bp.mem_bytes, (size_t)COUNT * big);
	assert_int_equal(f->bp.resident_bytes, (size_t)COUNT * page);
	vec = resident_pages(&f->bp, page);
	for (i = 0; i < COUNT * per; i++)
		assert_int_equal(vec[i] & 1, i % per == 0);
	free(vec);

	/* one datagram of three pages over 127.0.0.1 (MTU 64 KiB) */
	fd = recv_armed(&f->ring, &sin);
	data = malloc(len);
	assert_non_null(data);
	for (i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 7);
	assert_int_equal(sendto(fd, data, len, 0, (struct sockaddr *)&sin, sizeof(sin)), len);
	assert_int_equal(io_uring_wait_cqe(&f->ring, &cqe), 0);
	assert_int_equal(cqe->res, len);
	assert_true(cqe->flags & IORING_CQE_F_BUFFER);
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	io_uring_cqe_seen(&f->ring, cqe);
	assert_memory_equal(bufpool_addr(&f->bp, bid), data, len);
	vec = resident_pages(&f->bp, page);
	for (i = 0; i < per; i++)
		assert_int_equal(vec[bid * per + i] & 1, i < 3);
	free(vec);
	free(data);
	close(fd);
}

/* fini takes a zeroed pool, and a finished one again. */
static void test_fini_twice(void **state)
{
	struct fixture *f = *state;
	struct bufpool zero;

	memset(&zero, 0, sizeof(zero));
	bufpool_fini(&zero);
	bufpool_fini(&zero);
	if (!f)
		skip();
	assert_int_equal(bufpool_init(&f->bp, &f->ring, COUNT, SIZE, BGID), 0);
	io_uring_queue_exit(&f->ring); /* the ring goes first, as in the workers */
	bufpool_fini(&f->bp);
	assert_null(f->bp.br);
	assert_null(f->bp.mem);
	assert_null(f->bp.refs);
	assert_null(f->bp.stack);
	bufpool_fini(&f->bp);
	/* teardown exits the ring again: give it a fresh one */
	assert_int_equal(io_uring_queue_init(8, &f->ring, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_counts),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs_and_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fill_and_stack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_fills_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_residency, setup, teardown),
		cmocka_unit_test(test_ring_grows_on_burst),
		cmocka_unit_test_setup_teardown(test_fini_twice, setup, teardown),
	};
	return cmocka_run_group_tests_name("bufpool", tests, NULL, NULL);
}
