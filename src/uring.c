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
#include <sys/utsname.h>
#include <unistd.h>

#include "bufpool.h"
#include "counters.h"
#include "uring.h"

/* Newer than liburing 2.3's headers: the flag goes in io_uring_buf_reg's 16 bits after bgid
 * ("pad" there, "flags" since 6.12), and the CQE flag says the buffer has room left. */
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

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

void uring_cq_check(struct io_uring *ring, struct uring_cq_watch *cw, uint64_t *overflowed,
		    uint64_t *dropped)
{
	uint32_t now = __atomic_load_n(ring->cq.koverflow, __ATOMIC_RELAXED);

	if (io_uring_cq_has_overflow(ring))
		counter_add(overflowed, 1);
	/* unsigned: right across the u32's wrap */
	counter_add(dropped, (uint32_t)(now - cw->dropped_last));
	cw->dropped_last = now;
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

/* Arms a multishot recvmsg on fd on ring into buffer group bgid, with template msg and
 * flags. 0 or -errno. */
static int probe_arm(struct io_uring *ring, int fd, uint16_t bgid, struct msghdr *msg,
		     unsigned flags)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, fd, msg, flags);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = bgid;
	ret = io_uring_submit(ring);
	return ret == 1 ? 0 : ret < 0 ? ret : -EIO;
}

/* A UDP socket on 127.0.0.1 (its address in *sin), or -errno. */
static int probe_udp(struct sockaddr_in *sin)
{
	socklen_t slen = sizeof(*sin);
	int fd, err;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	*sin = (struct sockaddr_in){ .sin_family = AF_INET };
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)sin, sizeof(*sin)) ||
	    getsockname(fd, (struct sockaddr *)sin, &slen)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Arms a multishot recvmsg on one end of a datagram socket pair (no network needed: a
 * namespace whose loopback is down, or a firewall that drops it, must not read as an old
 * kernel), sends it one datagram and checks that the completion carries data and F_MORE
 * within a second. Kernels before 6.0 answer -EINVAL. */
static int probe_multishot(struct io_uring *ring, struct bufpool *bp)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_cqe *cqe;
	struct msghdr msg;
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	memset(&msg, 0, sizeof(msg));
	err = probe_arm(ring, sv[0], bp->bgid, &msg, 0);
	if (err)
		goto out_close;
	if (send(sv[1], "probe", 5, 0) != 5) {
		err = -errno;
		goto out_close;
	}
	err = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (err)
		goto out_close;
	if (cqe->res < 0)
		err = cqe->res;
	else if (!(cqe->flags & IORING_CQE_F_MORE) || !(cqe->flags & IORING_CQE_F_BUFFER))
		err = -EOPNOTSUPP;
	io_uring_cqe_seen(ring, cqe);
out_close:
	close(sv[0]);
	close(sv[1]);
	return err;
}

/* Whether a cancel can name a fixed file (uring_caps.cancel_fixed): a multishot recvmsg on
 * fixed file 0 of ring (buffer group bp's), then a cancel of every request on that slot, in
 * one submission. Both must complete within a second: the cancel counting one request, the
 * receive with -ECANCELED. Returns 0, or -errno (-EINVAL: a kernel before 6.0 that does not
 * know the flag), with what went wrong in why. The file table stays registered (and on
 * failure the receive may still be armed): the caller's io_uring_queue_exit ends both, where
 * unregistering would wait for that receive to end (6.1's io_rsrc_ref_quiesce). */
static int probe_cancel_fixed(struct io_uring *ring, struct bufpool *bp, char *why, size_t whylen)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	int got[2] = { 0, 0 }, sv[2], err, i;
	bool seen[2] = { false, false };
	struct io_uring_sqe *sqe[2];
	struct io_uring_cqe *cqe;
	struct msghdr msg;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv)) {
		err = -errno;
		snprintf(why, whylen, "probe socket: %s", strerror(-err));
		return err;
	}
	err = io_uring_register_files(ring, sv, 1);
	if (err) {
		snprintf(why, whylen, "probe file table: %s", strerror(-err));
		goto out_close;
	}
	memset(&msg, 0, sizeof(msg));
	sqe[0] = io_uring_get_sqe(ring);
	sqe[1] = io_uring_get_sqe(ring);
	if (!sqe[0] || !sqe[1]) {
		err = -EBUSY;
		snprintf(why, whylen, "probe ring full");
		goto out_close;
	}
	io_uring_prep_recvmsg_multishot(sqe[0], 0, &msg, 0);
	sqe[0]->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe[0]->buf_group = bp->bgid;
	sqe[0]->user_data = 1;
	uring_prep_cancel_fixed(sqe[1], 0);
	sqe[1]->user_data = 2;
	err = io_uring_submit(ring);
	err = err == 2 ? 0 : err < 0 ? err : -EIO;
	/* Until both complete, or the cancel says it ended nothing (failed, or found no request):
	 * the receive, on a socket no one writes to, then stays armed until the ring goes. */
	while (!err && !(seen[0] && seen[1]) && !(seen[1] && got[1] <= 0)) {
		err = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
		if (err)
			break;
		if (cqe->user_data == 1 || cqe->user_data == 2) {
			i = (int)cqe->user_data - 1;
			got[i] = cqe->res;
			seen[i] = true;
		}
		io_uring_cqe_seen(ring, cqe);
	}
	if (err)
		snprintf(why, whylen, "probe: %s", strerror(-err));
	else if (got[1] < 0)
		snprintf(why, whylen, "the kernel refuses a cancel by fixed file: %s%s",
			 strerror(-got[1]), got[1] == -EINVAL ? " (kernel 6.0+)" : "");
	else if (!seen[0])
		snprintf(why, whylen,
			 "a cancel by fixed file counted %d request(s), the receive stayed armed",
			 got[1]);
	else if (got[0] != -ECANCELED || got[1] != 1)
		snprintf(why, whylen,
			 "a cancel by fixed file counted %d request(s), the receive ended with %d",
			 got[1], got[0]);
	else
		why[0] = '\0';
	if (!err && why[0])
		err = got[1] < 0 ? got[1] : -EIO;
out_close:
	close(sv[0]);
	close(sv[1]);
	return err;
}

bool uring_inc_datagrams_ok(const struct uring_inc_seen *seen, char *why, size_t whylen)
{
	if (seen->res < 0) {
		snprintf(why, whylen,
			 "multishot recvmsg fails with %s once a buffer's rest is short, "
			 "and again on every re-arm",
			 strerror(-seen->res));
		return false;
	}
	if (!(seen->cqe_flags & IORING_CQE_F_BUFFER)) {
		snprintf(why, whylen, "a datagram completed without a buffer");
		return false;
	}
	if ((seen->msg_flags & MSG_TRUNC) || seen->payload != seen->sent) {
		snprintf(why, whylen,
			 "the kernel cuts a datagram short to a buffer's rest (%u of %u bytes kept) "
			 "instead of taking the next buffer",
			 seen->payload, seen->sent);
		return false;
	}
	if (seen->cqe_flags >> IORING_CQE_BUFFER_SHIFT == seen->first_bid) {
		snprintf(why, whylen, "a datagram overran its buffer's rest");
		return false;
	}
	why[0] = '\0';
	return true;
}

/* The incremental-buffer probe's group and sizes: two buffers; the first datagram leaves
 * less room in buffer 0 than the second needs (each costs 16 + 28 bytes of header and name
 * before its payload). */
#define INC_BGID 1
#define INC_BUF 256
#define INC_FIRST 150
#define INC_SECOND 100

/* Receives two datagrams with multishot recvmsg into group INC_BGID of ring (an
 * IOU_PBUF_RING_INC ring of two INC_BUF buffers at mem) and records in caps whether the
 * second arrived whole in a buffer of its own. Best effort: any failure means "not usable". */
static void probe_inc_recv(struct io_uring *ring, uint8_t *mem, struct uring_caps *caps)
{
	struct sockaddr_in sin;
	struct __kernel_timespec ts = { .tv_sec = 1 };
	uint32_t off[2] = { 0, 0 }, bid;
	struct uring_inc_seen seen = { .sent = INC_SECOND, .first_bid = UINT32_MAX };
	static const uint8_t data[INC_FIRST];
	uint64_t piece[INC_BUF / sizeof(uint64_t)];
	struct io_uring_recvmsg_out *o;
	struct io_uring_cqe *cqe;
	struct msghdr msg;
	int fd, n, err;

	/* The listener's template: room for an IPv6 name, no control data. */
	memset(&msg, 0, sizeof(msg));
	msg.msg_namelen = sizeof(struct sockaddr_in6);
	fd = probe_udp(&sin);
	if (fd < 0) {
		err = fd;
		goto fail;
	}
	err = probe_arm(ring, fd, INC_BGID, &msg, MSG_TRUNC);
	if (err)
		goto fail_close;
	if (sendto(fd, data, INC_FIRST, 0, (struct sockaddr *)&sin, sizeof(sin)) != INC_FIRST ||
	    sendto(fd, data, INC_SECOND, 0, (struct sockaddr *)&sin, sizeof(sin)) != INC_SECOND) {
		err = -errno;
		goto fail_close;
	}
	for (n = 0; n < 2; n++) {
		err = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
		if (err)
			goto fail_close;
		seen.res = cqe->res;
		seen.cqe_flags = cqe->flags;
		bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (cqe->res >= 0 && (cqe->flags & IORING_CQE_F_BUFFER) && bid < 2) {
			/* Each completion starts where the previous one in its buffer ended, at
			 * any byte: parse a copy, aligned for the header's 32-bit fields. */
			o = NULL;
			if (off[bid] + (uint32_t)cqe->res <= INC_BUF) {
				memcpy(piece, mem + bid * INC_BUF + off[bid], (size_t)cqe->res);
				o = io_uring_recvmsg_validate(piece, cqe->res, &msg);
			}
			if (o) {
				seen.msg_flags = o->flags;
				seen.payload = io_uring_recvmsg_payload_length(o, cqe->res, &msg);
			}
			off[bid] += (uint32_t)cqe->res;
			if (n == 0)
				seen.first_bid = bid;
		}
		io_uring_cqe_seen(ring, cqe);
		if (cqe->res < 0)
			break;
	}
	caps->pbuf_inc_datagrams =
		uring_inc_datagrams_ok(&seen, caps->pbuf_inc_why, sizeof(caps->pbuf_inc_why));
	close(fd);
	return;
fail_close:
	close(fd);
fail:
	/* its datagrams go over loopback (a UDP socket's receive is what it judges) */
	snprintf(caps->pbuf_inc_why, sizeof(caps->pbuf_inc_why),
		 "probe failed: %s%s", strerror(-err),
		 err == -ETIME || err == -ENETUNREACH || err == -EADDRNOTAVAIL || err == -EPERM
			 ? " (its datagrams go over 127.0.0.1: loopback down or filtered?)"
			 : "");
}

static void probe_inc(struct uring_caps *caps)
{
	struct io_uring_buf_reg reg;
	struct io_uring_buf_ring *br;
	struct io_uring ring;
	uint8_t *mem;
	size_t ring_bytes = 4096;
	int err, i;

	/* A ring of its own: the receive armed here must not outlive the buffers. */
	err = uring_init(&ring, 8, 16, 0);
	if (err) {
		snprintf(caps->pbuf_inc_why, sizeof(caps->pbuf_inc_why), "probe ring: %s",
			 strerror(-err));
		return;
	}
	br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mem = mmap(NULL, 2 * INC_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED || mem == MAP_FAILED) {
		snprintf(caps->pbuf_inc_why, sizeof(caps->pbuf_inc_why), "probe memory: %s",
			 strerror(errno));
		goto out;
	}
	io_uring_buf_ring_init(br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = 2;
	reg.bgid = INC_BGID;
	reg.pad = IOU_PBUF_RING_INC; /* "flags" in 6.12's header */
	err = io_uring_register_buf_ring(&ring, &reg, 0);
	if (err) {
		snprintf(caps->pbuf_inc_why, sizeof(caps->pbuf_inc_why),
			 "no incrementally consumed buffers (kernel 6.12+): %s", strerror(-err));
		goto out;
	}
	caps->pbuf_inc = true;
	for (i = 0; i < 2; i++)
		io_uring_buf_ring_add(br, mem + i * INC_BUF, INC_BUF, (unsigned short)i,
				      io_uring_buf_ring_mask(2), i);
	io_uring_buf_ring_advance(br, 2);
	probe_inc_recv(&ring, mem, caps);
out:
	/* The ring goes first: it cancels the receive before its buffers are unmapped. */
	io_uring_queue_exit(&ring);
	if (br != MAP_FAILED)
		munmap(br, ring_bytes);
	if (mem != MAP_FAILED)
		munmap(mem, 2 * INC_BUF);
}

bool uring_rsrc_refresh_needed(const char *release, const char *force, bool *forced, char *why,
			       size_t whylen)
{
	unsigned major, minor;
	/* A release that does not parse is taken for an old one: a needless refresh costs a
	 * few SQEs a tick, a missing one keeps closed sockets alive. */
	bool old = sscanf(release, "%u.%u", &major, &minor) != 2 || major < 6 ||
		   (major == 6 && minor < 13);
	bool valid = force && (!strcmp(force, "0") || !strcmp(force, "1"));
	size_t n;

	*forced = valid;
	if (valid)
		snprintf(why, whylen, "%s by RINGRELAY_RSRC_REFRESH=%s (kernel %s %s it)",
			 force[0] == '1' ? "forced on" : "forced off", force, release,
			 old ? "needs" : "does not need");
	else if (old)
		snprintf(why, whylen,
			 "kernel %s is older than 6.13: a socket closed and removed from the "
			 "ring's fixed files stays open until every receive armed before is gone",
			 release);
	else
		snprintf(why, whylen,
			 "kernel %s puts a removed fixed file once its own requests end (6.13+)",
			 release);
	n = strlen(why);
	if (force && !valid && n < whylen)
		snprintf(why + n, whylen - n, " (RINGRELAY_RSRC_REFRESH=%.16s ignored: 0 or 1)",
			 force);
	return valid ? force[0] == '1' : old;
}

void uring_probe(struct uring_caps *caps)
{
	struct utsname u;
	struct io_uring ring;
	struct bufpool bp;
	size_t i;
	int err = -EINVAL;

	memset(caps, 0, sizeof(*caps));
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "unknown");
	caps->rsrc_refresh =
		uring_rsrc_refresh_needed(u.release, getenv("RINGRELAY_RSRC_REFRESH"),
					  &caps->rsrc_refresh_forced, caps->rsrc_refresh_why,
					  sizeof(caps->rsrc_refresh_why));
	for (i = 0; i < sizeof(preferred_flags) / sizeof(preferred_flags[0]); i++) {
		err = uring_init(&ring, 8, 16, preferred_flags[i]);
		if (err != -EINVAL)
			break;
	}
	if (err == -EINVAL && io_uring_queue_init(8, &ring, 0) == 0) {
		/* every set-up here asks for IORING_SETUP_SUBMIT_ALL */
		io_uring_queue_exit(&ring);
		snprintf(caps->missing, sizeof(caps->missing),
			 "the kernel is too old for ringrelay's io_uring backend (its rings need "
			 "IORING_SETUP_SUBMIT_ALL, Linux 5.18)");
		return;
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
	if (caps->recvmsg_multishot) {
		caps->cancel_fixed = !probe_cancel_fixed(&ring, &bp, caps->cancel_fixed_why,
							 sizeof(caps->cancel_fixed_why));
		probe_inc(caps);
	}
	/* Tearing the ring down cancels the armed receive before its buffers are unmapped. */
	io_uring_queue_exit(&ring);
	bufpool_fini(&bp);
	return;
out_exit:
	io_uring_queue_exit(&ring);
}
