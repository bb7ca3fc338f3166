// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bufpool.h"
#include "uring.h"

int uring_init(struct io_uring *ring, uint32_t sq_entries, uint32_t cq_entries, uint32_t flags)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	/* CQSIZE: the worker sizes the CQ for every completion that can be outstanding at once,
	 * so multishot receives never overflow it. SUBMIT_ALL: a bad SQE must not strand the
	 * rest of the batch. */
	p.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = cq_entries;
	return io_uring_queue_init_params(sq_entries, ring, &p);
}

/* liburing 2.3 and Debian 12's kernel headers predate NAPI busy polling (6.9). */
#ifndef IORING_REGISTER_NAPI
#define IORING_REGISTER_NAPI 27
struct io_uring_napi {
	uint32_t busy_poll_to; /* us */
	uint8_t prefer_busy_poll;
	uint8_t opcode;	  /* 0: register (6.13; zero before) */
	uint8_t pad[2];
	uint32_t op_param; /* 0: dynamic tracking (6.13; zero before) */
	uint32_t resv;
};
#endif
_Static_assert(sizeof(struct io_uring_napi) == 16, "struct io_uring_napi is 16 bytes");

int uring_register_napi(struct io_uring *ring, uint32_t busy_poll_us, bool prefer)
{
	/* Dynamic tracking: the ring follows whatever NAPI ids its sockets see, so listeners
	 * and sessions on any interface are covered without asking for their ids. */
	struct io_uring_napi napi = { .busy_poll_to = busy_poll_us, .prefer_busy_poll = prefer };

	return io_uring_register((unsigned)ring->ring_fd, IORING_REGISTER_NAPI, &napi, 1);
}

static uint64_t pages(uint64_t bytes)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	return (bytes + page - 1) / page * page;
}

uint64_t uring_memlock_bytes(uint32_t sq_entries, uint32_t cq_entries, uint32_t buffers)
{
	/* struct io_rings: head and tail pairs, masks and flags in one cache line, then the
	 * 16-byte CQEs, then (cache-line aligned) the u32 SQ index array. */
	uint64_t rings = (64 + 16ull * cq_entries + 63) / 64 * 64 + 4ull * sq_entries;

	/* Measured on 6.18, the kernel charges a few pages more than these parts: slack. */
	return pages(rings) + pages(64ull * sq_entries) +
	       pages((uint64_t)sizeof(struct io_uring_buf) * buffers) + pages(1) * 4;
}

const char *uring_memlock_hint(int err)
{
	static __thread char hint[160];
	struct rlimit rl;

	if (err != -ENOMEM)
		return "";
	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return " (io_uring memory is charged to RLIMIT_MEMLOCK: raise LimitMEMLOCK= or "
		       "ulimit -l)";
	snprintf(hint, sizeof(hint),
		 " (io_uring memory is charged to RLIMIT_MEMLOCK, which is %llu KiB: raise "
		 "LimitMEMLOCK= or ulimit -l)",
		 (unsigned long long)rl.rlim_cur / 1024);
	return hint;
}

const char *uring_flags_name(uint32_t flags)
{
	if (flags & IORING_SETUP_DEFER_TASKRUN)
		return "SINGLE_ISSUER|DEFER_TASKRUN";
	if (flags & IORING_SETUP_COOP_TASKRUN)
		return "COOP_TASKRUN";
	return "none";
}

/* The setup flags we prefer, best first. DEFER_TASKRUN runs completion work only when the
 * owning worker asks for completions: no IPIs, no task_work interrupting the hot loop. */
static const uint32_t preferred_flags[] = {
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
	0,
};

static bool probe_opcodes(struct io_uring *ring)
{
	static const int needed[] = { IORING_OP_RECVMSG, IORING_OP_SENDMSG,	 IORING_OP_SEND,
				      IORING_OP_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_READ,
				      IORING_OP_FILES_UPDATE };
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	bool ok = probe != NULL;
	size_t i;

	for (i = 0; ok && i < sizeof(needed) / sizeof(needed[0]); i++)
		ok = io_uring_opcode_supported(probe, needed[i]);
	io_uring_free_probe(probe);
	return ok;
}

/* Arms a multishot recvmsg on a loopback socket, sends it one datagram and checks that the
 * completion carries data and F_MORE. Kernels before 6.0 answer -EINVAL. */
static int probe_multishot(struct io_uring *ring, struct bufpool *bp)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct msghdr msg;
	int fd, err;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen)) {
		err = -errno;
		goto out_close;
	}
	memset(&msg, 0, sizeof(msg));
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_recvmsg_multishot(sqe, fd, &msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = bp->bgid;
	io_uring_submit(ring);
	if (sendto(fd, "probe", 5, 0, (struct sockaddr *)&sin, sizeof(sin)) != 5) {
		err = -errno;
		goto out_close;
	}
	err = io_uring_wait_cqe(ring, &cqe);
	if (err)
		goto out_close;
	if (cqe->res < 0)
		err = cqe->res;
	else if (!(cqe->flags & IORING_CQE_F_MORE) || !(cqe->flags & IORING_CQE_F_BUFFER))
		err = -EOPNOTSUPP;
	io_uring_cqe_seen(ring, cqe);
out_close:
	close(fd);
	return err;
}

void uring_probe(struct uring_caps *caps)
{
	struct io_uring ring;
	struct bufpool bp;
	size_t i;
	int err = -EINVAL;

	memset(caps, 0, sizeof(*caps));
	for (i = 0; i < sizeof(preferred_flags) / sizeof(preferred_flags[0]); i++) {
		err = uring_init(&ring, 8, 16, preferred_flags[i]);
		if (err != -EINVAL)
			break;
	}
	if (err) {
		snprintf(caps->missing, sizeof(caps->missing), "io_uring_setup failed: %s%s",
			 strerror(-err),
			 err == -EPERM ? " (kernel.io_uring_disabled or a seccomp filter)"
				       : uring_memlock_hint(err));
		return;
	}
	caps->available = true;
	caps->setup_flags = preferred_flags[i];
	caps->opcodes = probe_opcodes(&ring);
	if (!caps->opcodes) {
		snprintf(caps->missing, sizeof(caps->missing),
			 "the kernel lacks io_uring RECVMSG/SENDMSG/SEND/TIMEOUT/CANCEL/FILES_UPDATE");
		goto out_exit;
	}
	err = bufpool_init(&bp, &ring, 8, 256, 0);
	if (err) {
		snprintf(caps->missing, sizeof(caps->missing), "%s: %s%s",
			 err == -ENOMEM ? "provided buffer ring"
					: "no provided buffer rings (kernel 5.19+)",
			 strerror(-err), uring_memlock_hint(err));
		goto out_exit;
	}
	caps->buf_ring = true;
	err = probe_multishot(&ring, &bp);
	if (err)
		snprintf(caps->missing, sizeof(caps->missing),
			 "no multishot recvmsg (kernel 6.0+): %s", strerror(-err));
	else
		caps->recvmsg_multishot = true;
	/* Tearing the ring down cancels the armed receive before its buffers are unmapped. */
	io_uring_queue_exit(&ring);
	bufpool_fini(&bp);
	return;
out_exit:
	io_uring_queue_exit(&ring);
}
