// SPDX-License-Identifier: MIT
/* Baseline device under test: the plainest user-space UDP relay there is. One socket in,
 * one connected socket out, recvmmsg then sendmmsg of the same buffers, batch 64, pinned.
 * It is what ringrelay's io_uring and mmsg backends have to beat to be worth their code.
 *
 *   mmsg_relay -l LISTEN -u UPSTREAM [-b BATCH] [-B BUFSIZE] [-R SOCKBUF] [-C CPU] [-t SECONDS]
 *
 * -R sets both sockets' receive and send buffers, default 4 MiB: ringrelay's (src/sock.c,
 * SOCK_BUF_BYTES), so both relays have the same queue in front of them.
 *
 * Stops after -t seconds (default 60) or on SIGINT/SIGTERM, then prints one JSON line. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"

struct relay_opts {
	struct addr listen, upstream;
	int batch, bufsize, sockbuf, cpu;
	double seconds;
};

struct relay_stats {
	uint64_t rx, rx_bytes, tx, tx_bytes, truncated, send_errors, loops;
};

static double relay_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int relay_parse(int argc, char **argv, struct relay_opts *o)
{
	const char *why = NULL;
	int c, have = 0;

	*o = (struct relay_opts){
	    .batch = 64, .bufsize = 2048, .sockbuf = 4 << 20, .cpu = -1, .seconds = 60};
	while ((c = getopt(argc, argv, "l:u:b:B:R:C:t:")) != -1) {
		switch (c) {
		case 'l':
			if (addr_parse(optarg, &o->listen, &why))
				goto bad_addr;
			have |= 1;
			break;
		case 'u':
			if (addr_parse(optarg, &o->upstream, &why))
				goto bad_addr;
			have |= 2;
			break;
		case 'b':
			o->batch = atoi(optarg);
			break;
		case 'B':
			o->bufsize = atoi(optarg);
			break;
		case 'R':
			o->sockbuf = atoi(optarg);
			break;
		case 'C':
			o->cpu = atoi(optarg);
			break;
		case 't':
			o->seconds = atof(optarg);
			break;
		default:
			return -EINVAL;
		}
	}
	if (have != 3 || o->batch < 1 || o->batch > 1024 || o->bufsize < 64 || o->sockbuf < 4096 ||
	    o->seconds <= 0)
		return -EINVAL;
	return 0;
bad_addr:
	fprintf(stderr, "mmsg_relay: %s: %s\n", optarg, why ? why : "bad address");
	return -EINVAL;
}

/* A socket bound (do_bind) or connected to a, with sz-byte buffers each way. */
static int relay_socket(const struct addr *a, int do_bind, int sz)
{
	struct timeval tv = {0, 100000};
	int fd = socket(addr_family(a), SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* The receive times out so an idle relay still notices its deadline and signals. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (do_bind ? bind(fd, &a->sa, addr_len(a)) : connect(fd, &a->sa, addr_len(a))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int relay_stop_pending(void)
{
	sigset_t pend;

	sigpending(&pend);
	return sigismember(&pend, SIGINT) || sigismember(&pend, SIGTERM);
}

/* The loop: returns 0 when the deadline passes or a stop signal is pending, or -errno. */
static int relay_run(int in, int out, const struct relay_opts *o, struct relay_stats *st,
		     struct mmsghdr *m, struct iovec *iov, char *buf)
{
	double end = relay_now() + o->seconds;

	for (;;) {
		int n, k = 0, sent = 0;

		for (int i = 0; i < o->batch; i++) {
			iov[i].iov_len = o->bufsize;
			m[i].msg_hdr.msg_flags = 0;
		}
		n = recvmmsg(in, m, o->batch, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			if (relay_now() >= end || relay_stop_pending())
				return 0;
			continue;
		}
		/* Compact out truncated datagrams: they are counted, never forwarded. */
		for (int i = 0; i < n; i++) {
			st->rx++;
			st->rx_bytes += m[i].msg_len;
			if (m[i].msg_hdr.msg_flags & MSG_TRUNC) {
				st->truncated++;
				continue;
			}
			iov[k].iov_base = iov[i].iov_base;
			iov[k].iov_len = m[i].msg_len;
			k++;
		}
		while (sent < k) {
			int r = sendmmsg(out, m + sent, k - sent, 0);

			if (r <= 0) {
				/* ENOBUFS or ECONNREFUSED: drop the rest of this batch. */
				st->send_errors += k - sent;
				break;
			}
			for (int i = sent; i < sent + r; i++)
				st->tx_bytes += iov[i].iov_len;
			st->tx += r;
			sent += r;
		}
		/* Restore the buffer layout the compaction may have changed. */
		for (int i = 0; i < o->batch; i++)
			iov[i].iov_base = buf + (size_t)i * o->bufsize;
		if (!(++st->loops & 255) && (relay_now() >= end || relay_stop_pending()))
			return 0;
	}
}

int main(int argc, char **argv)
{
	struct relay_stats st = {0};
	struct relay_opts o;
	struct mmsghdr *m = NULL;
	struct iovec *iov = NULL;
	char *buf = NULL;
	int in, out, err;
	double t0;
	sigset_t mask;

	if (relay_parse(argc, argv, &o)) {
		fprintf(stderr, "usage: mmsg_relay -l LISTEN -u UPSTREAM [-b BATCH] [-B BUFSIZE] "
				"[-R SOCKBUF] [-C CPU] [-t SECONDS]\n");
		return 2;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	/* Blocked and polled, so a stop still prints the summary. */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if (o.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "mmsg_relay: pin to CPU %d: %s\n", o.cpu, strerror(errno));
			return 1;
		}
	}
	in = relay_socket(&o.listen, 1, o.sockbuf);
	if (in < 0) {
		err = in;
		fprintf(stderr, "mmsg_relay: listen socket: %s\n", strerror(-err));
		return 1;
	}
	out = relay_socket(&o.upstream, 0, o.sockbuf);
	if (out < 0) {
		err = out;
		fprintf(stderr, "mmsg_relay: upstream socket: %s\n", strerror(-err));
		goto err_close_in;
	}
	m = calloc(o.batch, sizeof(*m));
	iov = calloc(o.batch, sizeof(*iov));
	buf = malloc((size_t)o.batch * o.bufsize);
	if (!m || !iov || !buf) {
		err = -ENOMEM;
		goto err_free;
	}
	for (int i = 0; i < o.batch; i++) {
		iov[i].iov_base = buf + (size_t)i * o.bufsize;
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	/* Ready line for the harness, on stderr so stdout stays one JSON line. */
	fprintf(stderr, "mmsg_relay: ready\n");
	t0 = relay_now();
	err = relay_run(in, out, &o, &st, m, iov, buf);
	if (err)
		fprintf(stderr, "mmsg_relay: receive: %s\n", strerror(-err));
	printf("{\"tool\":\"mmsg_relay\",\"batch\":%d,\"sockbuf\":%d,\"cpu\":%d,\"elapsed_s\":%.3f,"
	       "\"rx_pkts\":%llu,\"rx_bytes\":%llu,\"tx_pkts\":%llu,\"tx_bytes\":%llu,"
	       "\"drop_truncated\":%llu,\"drop_send_error\":%llu}\n",
	       o.batch, o.sockbuf, o.cpu, relay_now() - t0, (unsigned long long)st.rx,
	       (unsigned long long)st.rx_bytes, (unsigned long long)st.tx,
	       (unsigned long long)st.tx_bytes, (unsigned long long)st.truncated,
	       (unsigned long long)st.send_errors);
err_free:
	free(buf);
	free(iov);
	free(m);
	close(out);
err_close_in:
	close(in);
	return err ? 1 : 0;
}
