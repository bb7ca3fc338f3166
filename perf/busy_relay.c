// SPDX-License-Identifier: MIT
/* Overload-mechanism prototype (issue 10): the plain one-socket relay of mmsg_relay.c, with
 * the kernel's ways of keeping receive work from starving the relay, one switch each, so
 * perf/bench.sh can measure them side by side. Not ringrelay code: a test bed.
 *
 *   busy_relay -l LISTEN -u UPSTREAM [-m block|epoll|uring] [-b BATCH] [-R RCVBUF] [-C CPU]
 *              [-t SECONDS] [-s USECS] [-p] [-g BUDGET] [-e USECS:BUDGET:PREFER]
 *              [-n USECS:PREFER[:static]] [-D] [-X IFNAME [-G] [-x FILL_PCT]]
 *
 * Receive loops (-m):
 *   block  blocking recvmmsg (MSG_WAITFORONE), then sendmmsg: mmsg_relay's loop.
 *   epoll  epoll_wait, then recvmmsg(MSG_DONTWAIT) until empty, sendmmsg per batch.
 *   uring  io_uring multishot recvmsg into a provided-buffer ring; each round of completions
 *          is sent with one sendmmsg and its buffers go back to the ring.
 * Busy polling (each needs the socket to have a NAPI id: on veth, GRO on or XDP on d0):
 *   -s USECS   SO_BUSY_POLL (a blocking receive spins on the NAPI up to USECS)
 *   -p         SO_PREFER_BUSY_POLL     -g BUDGET  SO_BUSY_POLL_BUDGET
 *   -e U:B:P   epoll: ioctl EPIOCSPARAMS {busy_poll_usecs U, budget B, prefer P} (Linux 6.9)
 *   -n U:P[:static]  io_uring: IORING_REGISTER_NAPI {busy_poll_to U, prefer P}, dynamic
 *              tracking, or static with the socket's NAPI id added after the first datagram
 *              (Linux 6.9; static 6.13)
 *   -D         io_uring ring with SINGLE_ISSUER | DEFER_TASKRUN (else COOP_TASKRUN)
 * Early drop:
 *   -X IFNAME  attach perf/shed.bpf.c to IFNAME (native XDP, through a link): it looks the
 *              listen socket up (bpf_sk_lookup_udp) and drops a datagram for it in XDP when
 *              the socket's receive memory is at -x FILL_PCT (default 100) % of its buffer.
 *              -G attaches in generic (skb) mode, which on veth runs after RPS.
 *
 * Prints "busy_relay: ready" on stderr when set up, one JSON line on stdout at the end. */
#include <errno.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <liburing.h>

#include "addr.h"
#include "shed.h"
#include "shed.skel.h"

/* Kernel ABI the Debian 12 headers predate. */
#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif
#ifndef SO_INCOMING_NAPI_ID
#define SO_INCOMING_NAPI_ID 56
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

struct relay_epoll_params { /* struct epoll_params, Linux 6.9 */
	uint32_t busy_poll_usecs;
	uint16_t busy_poll_budget;
	uint8_t prefer_busy_poll;
	uint8_t pad;
};
_Static_assert(sizeof(struct relay_epoll_params) == 8, "struct epoll_params");
#define RELAY_EPIOCSPARAMS _IOW(0x8A, 0x01, struct relay_epoll_params)

struct relay_uring_napi { /* struct io_uring_napi, Linux 6.9 */
	uint32_t busy_poll_to;
	uint8_t prefer_busy_poll;
	uint8_t opcode; /* 0 register, 1 static add id, 2 static del id (6.13) */
	uint8_t pad[2];
	uint32_t op_param; /* register: 0 dynamic, 1 static tracking; add/del: the NAPI id */
	uint32_t resv;
};
_Static_assert(sizeof(struct relay_uring_napi) == 16, "struct io_uring_napi");
#define RELAY_IORING_REGISTER_NAPI 27

#define RELAY_NBUF 4096 /* provided buffers (io_uring), a power of two */
#define RELAY_MAX_BATCH 1024

enum relay_mode { RELAY_BLOCK, RELAY_EPOLL, RELAY_URING };

struct relay_opts {
	struct addr listen, upstream;
	enum relay_mode mode;
	int batch, bufsize, rcvbuf, cpu;
	double seconds;
	int sock_busy_us, sock_prefer, sock_budget;
	int ep_set, ep_usecs, ep_budget, ep_prefer;
	int napi_set, napi_usecs, napi_prefer, napi_static, defer_taskrun;
	const char *xdp_ifname;
	int fill_pct, xdp_generic;
};

struct relay_stats {
	uint64_t rx, tx, truncated, send_errors, loops, enobufs, rearms;
	uint32_t napi_id;
	int napi_registered; /* io_uring NAPI: 0 no, 1 yes, -errno failed */
	int napi_static_added;
};

static double relay_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int relay_stop_pending(void)
{
	sigset_t pend;

	sigpending(&pend);
	return sigismember(&pend, SIGINT) || sigismember(&pend, SIGTERM);
}

static int relay_parse(int argc, char **argv, struct relay_opts *o)
{
	const char *why = NULL;
	char st[16] = "";
	int c, have = 0;

	*o = (struct relay_opts){.batch = 64,
				 .bufsize = 2048,
				 .rcvbuf = 8 << 20,
				 .cpu = -1,
				 .seconds = 60,
				 .fill_pct = 100};
	while ((c = getopt(argc, argv, "l:u:m:b:R:C:t:s:pg:e:n:DX:Gx:")) != -1) {
		switch (c) {
		case 'l':
		case 'u':
			if (addr_parse(optarg, c == 'l' ? &o->listen : &o->upstream, &why)) {
				fprintf(stderr, "busy_relay: %s: %s\n", optarg,
					why ? why : "bad address");
				return -EINVAL;
			}
			have |= c == 'l' ? 1 : 2;
			break;
		case 'm':
			if (!strcmp(optarg, "block"))
				o->mode = RELAY_BLOCK;
			else if (!strcmp(optarg, "epoll"))
				o->mode = RELAY_EPOLL;
			else if (!strcmp(optarg, "uring"))
				o->mode = RELAY_URING;
			else
				return -EINVAL;
			break;
		case 'b':
			o->batch = atoi(optarg);
			break;
		case 'R':
			o->rcvbuf = atoi(optarg);
			break;
		case 'C':
			o->cpu = atoi(optarg);
			break;
		case 't':
			o->seconds = atof(optarg);
			break;
		case 's':
			o->sock_busy_us = atoi(optarg);
			break;
		case 'p':
			o->sock_prefer = 1;
			break;
		case 'g':
			o->sock_budget = atoi(optarg);
			break;
		case 'e':
			if (sscanf(optarg, "%d:%d:%d", &o->ep_usecs, &o->ep_budget,
				   &o->ep_prefer) != 3)
				return -EINVAL;
			o->ep_set = 1;
			break;
		case 'n':
			if (sscanf(optarg, "%d:%d:%15s", &o->napi_usecs, &o->napi_prefer, st) < 2)
				return -EINVAL;
			o->napi_static = !strcmp(st, "static");
			o->napi_set = 1;
			break;
		case 'D':
			o->defer_taskrun = 1;
			break;
		case 'X':
			o->xdp_ifname = optarg;
			break;
		case 'x':
			o->fill_pct = atoi(optarg);
			break;
		case 'G':
			o->xdp_generic = 1;
			break;
		default:
			return -EINVAL;
		}
	}
	if (have != 3 || o->batch < 1 || o->batch > RELAY_MAX_BATCH || o->bufsize < 64 ||
	    o->seconds <= 0 || o->fill_pct < 1)
		return -EINVAL;
	return 0;
}

/* Sets one int socket option; says which one failed. */
static int relay_sockopt(int fd, int name, int val, const char *what)
{
	if (setsockopt(fd, SOL_SOCKET, name, &val, sizeof(val))) {
		int err = -errno;

		fprintf(stderr, "busy_relay: %s=%d: %s\n", what, val, strerror(-err));
		return err;
	}
	return 0;
}

static int relay_socket(const struct relay_opts *o, const struct addr *a, int listen)
{
	struct timeval tv = {0, 100000};
	int fd = socket(addr_family(a), SOCK_DGRAM | SOCK_CLOEXEC, 0), sz = o->rcvbuf, err;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	sz = 8 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* A blocking receive times out, so an idle relay still sees its deadline. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* Raising any of these needs CAP_NET_ADMIN. */
	err = 0;
	if (listen && o->sock_busy_us)
		err = relay_sockopt(fd, SO_BUSY_POLL, o->sock_busy_us, "SO_BUSY_POLL");
	if (listen && o->sock_prefer && !err)
		err = relay_sockopt(fd, SO_PREFER_BUSY_POLL, 1, "SO_PREFER_BUSY_POLL");
	if (listen && o->sock_budget && !err)
		err = relay_sockopt(fd, SO_BUSY_POLL_BUDGET, o->sock_budget, "SO_BUSY_POLL_BUDGET");
	if (err)
		goto err_close;
	if (listen ? bind(fd, &a->sa, addr_len(a)) : connect(fd, &a->sa, addr_len(a))) {
		err = -errno;
		goto err_close;
	}
	return fd;
err_close:
	close(fd);
	return err;
}

/* TcpExt BusyPollRxPackets of this network namespace: datagrams (of any socket) that a busy
 * poll took off a NAPI instance, i.e. received in the polling task's context. 0 if absent. */
static uint64_t relay_busy_poll_pkts(void)
{
	char names[4096], vals[4096];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/net/netstat", "r");

	if (!f)
		return 0;
	while (fgets(names, sizeof(names), f) && fgets(vals, sizeof(vals), f)) {
		char *sn, *sv, *n = strtok_r(names, " \n", &sn), *x = strtok_r(vals, " \n", &sv);

		if (!n || strcmp(n, "TcpExt:"))
			continue;
		while ((n = strtok_r(NULL, " \n", &sn)) && (x = strtok_r(NULL, " \n", &sv)))
			if (!strcmp(n, "BusyPollRxPackets"))
				v = strtoull(x, NULL, 10);
	}
	fclose(f);
	return v;
}

static void relay_note_napi_id(int fd, struct relay_stats *st)
{
	socklen_t len = sizeof(st->napi_id);

	if (!st->napi_id)
		getsockopt(fd, SOL_SOCKET, SO_INCOMING_NAPI_ID, &st->napi_id, &len);
}

/* Sends iov[0..n) as datagrams on the connected socket; counts what could not go. */
static void relay_send(int out, struct mmsghdr *m, int n, struct relay_stats *st)
{
	int sent = 0;

	while (sent < n) {
		int r = sendmmsg(out, m + sent, n - sent, 0);

		if (r <= 0) {
			st->send_errors += n - sent;
			return;
		}
		st->tx += r;
		sent += r;
	}
}

struct relay_bufs {
	struct mmsghdr *m;
	struct iovec *iov;
	char *buf;
	int n, size;
};

static int relay_bufs_init(struct relay_bufs *b, int n, int size)
{
	b->m = calloc(n, sizeof(*b->m));
	b->iov = calloc(n, sizeof(*b->iov));
	b->buf = malloc((size_t)n * size);
	b->n = n;
	b->size = size;
	if (!b->m || !b->iov || !b->buf)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		b->m[i].msg_hdr.msg_iov = &b->iov[i];
		b->m[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

static void relay_bufs_fini(struct relay_bufs *b)
{
	free(b->buf);
	free(b->iov);
	free(b->m);
}

/* One recvmmsg of up to b->n datagrams, forwarded; returns the count or -errno. */
static int relay_recv_send(int in, int out, struct relay_bufs *b, int flags, struct relay_stats *st)
{
	int n, k = 0;

	for (int i = 0; i < b->n; i++) {
		b->iov[i].iov_base = b->buf + (size_t)i * b->size;
		b->iov[i].iov_len = b->size;
		b->m[i].msg_hdr.msg_flags = 0;
	}
	n = recvmmsg(in, b->m, b->n, flags, NULL);
	if (n < 0)
		return -errno;
	st->rx += n;
	for (int i = 0; i < n; i++) {
		if (b->m[i].msg_hdr.msg_flags & MSG_TRUNC) {
			st->truncated++;
			continue;
		}
		b->iov[k].iov_base = b->iov[i].iov_base;
		b->iov[k].iov_len = b->m[i].msg_len;
		k++;
	}
	relay_send(out, b->m, k, st);
	return n;
}

static int relay_run_block(int in, int out, const struct relay_opts *o, struct relay_stats *st)
{
	double end = relay_now() + o->seconds;
	struct relay_bufs b;
	int n, err = relay_bufs_init(&b, o->batch, o->bufsize);

	while (!err) {
		n = relay_recv_send(in, out, &b, MSG_WAITFORONE, st);
		if (n < 0 && n != -EAGAIN && n != -EINTR)
			err = n;
		else if ((n < 0 || !(++st->loops & 255)) &&
			 (relay_now() >= end || relay_stop_pending()))
			break;
		if (n > 0 && !st->napi_id)
			relay_note_napi_id(in, st);
	}
	relay_bufs_fini(&b);
	return err;
}

static int relay_run_epoll(int in, int out, const struct relay_opts *o, struct relay_stats *st)
{
	struct epoll_event ev = {.events = EPOLLIN};
	double end = relay_now() + o->seconds;
	struct relay_bufs b;
	int ep, n, err = relay_bufs_init(&b, o->batch, o->bufsize);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (err || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev)) {
		err = err ? err : -errno;
		goto out;
	}
	if (o->ep_set) {
		struct relay_epoll_params p = {.busy_poll_usecs = o->ep_usecs,
					       .busy_poll_budget = o->ep_budget,
					       .prefer_busy_poll = o->ep_prefer};

		if (ioctl(ep, RELAY_EPIOCSPARAMS, &p)) {
			err = -errno;
			fprintf(stderr, "busy_relay: EPIOCSPARAMS: %s\n", strerror(-err));
			goto out;
		}
	}
	fprintf(stderr, "busy_relay: ready\n");
	for (;;) {
		n = epoll_wait(ep, &ev, 1, 100);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		/* Drain: epoll's busy poll and IRQ suspension assume the loop reads until empty. */
		while ((n = relay_recv_send(in, out, &b, MSG_DONTWAIT, st)) > 0)
			;
		if (n < 0 && n != -EAGAIN && n != -EINTR) {
			err = n;
			break;
		}
		if (!st->napi_id && st->rx)
			relay_note_napi_id(in, st);
		if (!(++st->loops & 63) && (relay_now() >= end || relay_stop_pending()))
			break;
	}
out:
	if (ep >= 0)
		close(ep);
	relay_bufs_fini(&b);
	return err;
}

static int relay_uring_napi(struct io_uring *ring, const struct relay_opts *o, uint8_t opcode,
			    uint32_t param)
{
	struct relay_uring_napi n = {.busy_poll_to = o->napi_usecs,
				     .prefer_busy_poll = o->napi_prefer,
				     .opcode = opcode,
				     .op_param = param};

	/* liburing 2.3 has no helper for IORING_REGISTER_NAPI. */
	if (syscall(__NR_io_uring_register, ring->ring_fd, RELAY_IORING_REGISTER_NAPI, &n, 1))
		return -errno;
	return 0;
}

static void relay_uring_arm(struct io_uring *ring, int in, struct msghdr *mh,
			    struct relay_stats *st)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	io_uring_prep_recvmsg_multishot(sqe, in, mh, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	st->rearms++;
}

static int relay_run_uring(int in, int out, const struct relay_opts *o, struct relay_stats *st)
{
	struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = 2 * RELAY_NBUF};
	struct __kernel_timespec ts = {0, 100000000};
	struct io_uring_buf_reg reg = {.ring_entries = RELAY_NBUF, .bgid = 0};
	double end = relay_now() + o->seconds;
	struct msghdr mh = {0};
	struct io_uring_buf_ring *br;
	struct relay_bufs b;
	struct io_uring ring;
	size_t brsize = RELAY_NBUF * sizeof(struct io_uring_buf);
	uint16_t *bids;
	int err;

	/* Why the flags: DEFER_TASKRUN runs completions only when we wait, in our context, so
	 * receive work is never run by an interrupting task_work; COOP_TASKRUN otherwise avoids
	 * an IPI per completion. Both single-threaded. */
	p.flags |= o->defer_taskrun ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
				    : IORING_SETUP_COOP_TASKRUN;
	err = relay_bufs_init(&b, RELAY_NBUF, o->bufsize);
	bids = calloc(RELAY_NBUF, sizeof(*bids));
	if (err || !bids) {
		free(bids);
		relay_bufs_fini(&b);
		return -ENOMEM;
	}
	err = io_uring_queue_init_params(256, &ring, &p);
	if (err)
		goto err_free;
	br = mmap(NULL, brsize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED) {
		err = -errno;
		goto err_ring;
	}
	reg.ring_addr = (unsigned long)br;
	err = io_uring_register_buf_ring(&ring, &reg, 0);
	if (err)
		goto err_unmap;
	io_uring_buf_ring_init(br);
	for (int i = 0; i < RELAY_NBUF; i++)
		io_uring_buf_ring_add(br, b.buf + (size_t)i * o->bufsize, o->bufsize, i,
				      io_uring_buf_ring_mask(RELAY_NBUF), i);
	io_uring_buf_ring_advance(br, RELAY_NBUF);
	if (o->napi_set) {
		st->napi_registered = relay_uring_napi(&ring, o, 0, o->napi_static);
		if (st->napi_registered) {
			fprintf(stderr, "busy_relay: IORING_REGISTER_NAPI: %s\n",
				strerror(-st->napi_registered));
			err = st->napi_registered;
			goto err_unmap;
		}
		st->napi_registered = 1;
	}
	relay_uring_arm(&ring, in, &mh, st);
	fprintf(stderr, "busy_relay: ready\n");
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		int n = 0, rearm = 0;

		err = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
		if (err < 0 && err != -ETIME && err != -EINTR)
			break;
		err = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			seen++;
			if (!(cqe->flags & IORING_CQE_F_MORE))
				rearm = 1;
			if (cqe->res < 0) {
				if (cqe->res == -ENOBUFS)
					st->enobufs++;
				continue;
			}
			if (cqe->flags & IORING_CQE_F_BUFFER) {
				uint16_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
				void *base = b.buf + (size_t)bid * o->bufsize;
				struct io_uring_recvmsg_out *ro =
				    io_uring_recvmsg_validate(base, cqe->res, &mh);

				bids[n] = bid;
				st->rx++;
				if (!ro || (ro->flags & MSG_TRUNC)) {
					st->truncated++;
					b.iov[n].iov_len = 0;
				} else {
					b.iov[n].iov_base = io_uring_recvmsg_payload(ro, &mh);
					b.iov[n].iov_len =
					    io_uring_recvmsg_payload_length(ro, cqe->res, &mh);
				}
				n++;
			}
		}
		io_uring_cq_advance(&ring, seen);
		/* Truncated ones (iov_len 0) are skipped by compacting. */
		{
			int k = 0;

			for (int i = 0; i < n; i++)
				if (b.iov[i].iov_len)
					b.iov[k++] = b.iov[i];
			for (int i = 0; i < k; i += o->batch)
				relay_send(out, b.m + i, k - i < o->batch ? k - i : o->batch, st);
		}
		/* The send has completed (sendmmsg is synchronous): buffers go back. */
		for (int i = 0; i < n; i++)
			io_uring_buf_ring_add(br, b.buf + (size_t)bids[i] * o->bufsize, o->bufsize,
					      bids[i], io_uring_buf_ring_mask(RELAY_NBUF), i);
		io_uring_buf_ring_advance(br, n);
		if (rearm)
			relay_uring_arm(&ring, in, &mh, st);
		if (n && !st->napi_id) {
			relay_note_napi_id(in, st);
			if (st->napi_id && o->napi_set && o->napi_static) {
				int r = relay_uring_napi(&ring, o, 1, st->napi_id);

				st->napi_static_added = r ? r : 1;
			}
		}
		if (!(++st->loops & 63) && (relay_now() >= end || relay_stop_pending()))
			break;
	}
err_unmap:
	munmap(br, brsize);
err_ring:
	io_uring_queue_exit(&ring);
err_free:
	free(bids);
	relay_bufs_fini(&b);
	return err;
}

/* Loads perf/shed.bpf.c for the listen port and attaches it to IFNAME through a link: a
 * libbpf link (native mode) or a bare link fd (generic mode, which libbpf 1.1 cannot wrap). */
static int relay_shed_attach(const struct relay_opts *o, struct shed_bpf **skel,
			     struct bpf_link **link, int *link_fd)
{
	int ifindex = if_nametoindex(o->xdp_ifname), err;

	if (!ifindex)
		return -errno;
	*skel = shed_bpf__open();
	if (!*skel)
		return -errno;
	(*skel)->rodata->listen_port = htons(addr_port(&o->listen));
	(*skel)->rodata->fill_pct = o->fill_pct;
	err = shed_bpf__load(*skel);
	if (err)
		return err;
	if (o->xdp_generic) {
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_SKB_MODE);
		int fd = bpf_link_create(bpf_program__fd((*skel)->progs.xdp_shed), ifindex, BPF_XDP,
					 &lo);

		if (fd < 0)
			return fd;
		*link_fd = fd;
		return 0;
	}
	*link = bpf_program__attach_xdp((*skel)->progs.xdp_shed, ifindex);
	if (!*link)
		return -errno;
	return 0;
}

static void relay_shed_counts(struct shed_bpf *skel, uint64_t out[SHED_NR_COUNTERS])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals = ncpu > 0 ? calloc(ncpu, sizeof(*vals)) : NULL;

	for (uint32_t k = 0; k < SHED_NR_COUNTERS; k++) {
		out[k] = 0;
		if (vals && !bpf_map__lookup_elem(skel->maps.shed_counters, &k, sizeof(k), vals,
						  sizeof(*vals) * ncpu, 0))
			for (int c = 0; c < ncpu; c++)
				out[k] += vals[c];
	}
	free(vals);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = {"block", "epoll", "uring"};
	uint64_t shed[SHED_NR_COUNTERS] = {0};
	struct relay_stats st = {0};
	struct shed_bpf *skel = NULL;
	struct bpf_link *link = NULL;
	struct relay_opts o;
	int in, out, err, link_fd = -1;
	uint64_t bp0;
	double t0;
	sigset_t mask;

	if (relay_parse(argc, argv, &o)) {
		fprintf(stderr, "usage: see the comment at the top of perf/busy_relay.c\n");
		return 2;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if (o.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "busy_relay: pin to CPU %d: %s\n", o.cpu, strerror(errno));
			return 1;
		}
	}
	in = relay_socket(&o, &o.listen, 1);
	if (in < 0) {
		fprintf(stderr, "busy_relay: listen socket: %s\n", strerror(-in));
		return 1;
	}
	out = relay_socket(&o, &o.upstream, 0);
	if (out < 0) {
		err = out;
		fprintf(stderr, "busy_relay: upstream socket: %s\n", strerror(-err));
		goto err_close_in;
	}
	if (o.xdp_ifname) {
		err = relay_shed_attach(&o, &skel, &link, &link_fd);
		if (err) {
			fprintf(stderr, "busy_relay: attach XDP shed on %s: %s\n", o.xdp_ifname,
				strerror(-err));
			goto err_shed;
		}
	}
	t0 = relay_now();
	bp0 = relay_busy_poll_pkts();
	if (o.mode == RELAY_BLOCK) {
		fprintf(stderr, "busy_relay: ready\n");
		err = relay_run_block(in, out, &o, &st);
	} else if (o.mode == RELAY_EPOLL) {
		err = relay_run_epoll(in, out, &o, &st);
	} else {
		err = relay_run_uring(in, out, &o, &st);
	}
	if (err)
		fprintf(stderr, "busy_relay: %s loop: %s\n", modes[o.mode], strerror(-err));
	if (skel)
		relay_shed_counts(skel, shed);
	bp0 = relay_busy_poll_pkts() - bp0;
	printf("{\"tool\":\"busy_relay\",\"mode\":\"%s\",\"elapsed_s\":%.3f,\"rx_pkts\":%llu,"
	       "\"tx_pkts\":%llu,\"drop_truncated\":%llu,\"drop_send_error\":%llu,"
	       "\"loops\":%llu,\"enobufs\":%llu,\"rearms\":%llu,\"napi_id\":%u,"
	       "\"uring_napi\":%d,\"uring_napi_static_add\":%d,\"xdp_pass\":%llu,"
	       "\"xdp_shed\":%llu,\"xdp_no_socket\":%llu,\"busy_poll_rx_pkts\":%llu}\n",
	       modes[o.mode], relay_now() - t0, (unsigned long long)st.rx,
	       (unsigned long long)st.tx, (unsigned long long)st.truncated,
	       (unsigned long long)st.send_errors, (unsigned long long)st.loops,
	       (unsigned long long)st.enobufs, (unsigned long long)st.rearms, st.napi_id,
	       st.napi_registered, st.napi_static_added, (unsigned long long)shed[SHED_PASS],
	       (unsigned long long)shed[SHED_DROP], (unsigned long long)shed[SHED_NO_SOCKET],
	       (unsigned long long)bp0);
err_shed:
	if (link_fd >= 0)
		close(link_fd);
	bpf_link__destroy(link);
	shed_bpf__destroy(skel);
	close(out);
err_close_in:
	close(in);
	return err ? 1 : 0;
}
