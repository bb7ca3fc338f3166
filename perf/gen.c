// SPDX-License-Identifier: MIT
/* Benchmark UDP generator, built so that it is never the bottleneck: sendmmsg batches (and
 * optional UDP GSO), one connected socket per flow (a flow = a source port), unlimited or
 * paced rate, frame sizes in DPDK terms (64 B means a 64-byte Ethernet frame with FCS), IMIX,
 * bounded by time and by count, pinned to one CPU. Prints one JSON line.
 *
 *   gen -d DST [-s SRC] [-f FLOWS] [-r PPS] [-l 64|1400|imix|BYTES] [-P PAYLOAD]
 *       [-t SECONDS] [-n COUNT] [-b BATCH] [-g SEGS] [-C CPU] [-L] [-w SECONDS]
 *   gen -E -d BIND [-t SECONDS] [-C CPU]      reflector: echo every datagram to its sender
 *
 * -i IFACE -M DSTMAC -s SRC (raw mode) builds the frames itself and sends them on an
 * AF_PACKET socket that bypasses the qdisc: no UDP, IP, route or neighbour work per packet,
 * so the generator has headroom over a kernel-path device under test. Flows are then source
 * ports 10000 + i in the frames. IPv4 frames carry no UDP checksum, IPv6 frames a full one.
 *
 * -X (with the raw mode's options) hands the frame to the kernel's XDP test runner in
 * live-frame mode instead (BPF_PROG_TEST_RUN, BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18):
 * perf/xgen.bpf.c writes each copy's headers, gives it the next flow's source port and
 * redirects it to IFACE, whose ndo_xdp_xmit takes it as an XDP frame (veth: into the peer's
 * XDP ring, which needs NAPI there: an XDP program or GRO on the peer). The generator builds
 * no skb and makes no copy, and reaches several times the AF_PACKET rate: the overload
 * trials' floods, at the maximum rate only (no -r: a paced run's bursts would overflow
 * veth's 256-frame ring). The peer's receive (its XDP program, the skb veth builds) runs in
 * its NAPI: on the generator's CPU unless that NAPI is threaded elsewhere. A frame the peer's
 * full ring refused is not seen here: veth counts it as IFACE's xdp_xmit_errors (ethtool).
 *
 * -L (latency) stamps each datagram with a sequence number and the send time, reads the
 * replies that came back through the device under test and reports p50/p90/p99/p99.9.
 *
 * -Q (raw mode) sends through IFACE's qdisc instead of past it. With a qdisc on a veth whose
 * peer has NAPI (Linux 6.16: "veth: apply qdisc backpressure"), a full ring in front of the
 * peer stops the queue and the frames wait in the qdisc, as they would in a NIC's receive ring
 * of that depth, instead of being dropped; a frame a full tail-drop qdisc (pfifo) drops is
 * refused (ENOBUFS) and counted. (A qdisc that drops with NET_XMIT_CN reports no error: such
 * a frame counts as sent.) What veth itself drops behind the qdisc (a peer without NAPI) is
 * not seen here either: IFACE's tx_dropped.
 *
 * A paced run that falls behind its schedule (its vCPU was stalled) catches up by at most one
 * batch (-b, 64 frames: what it sends back to back anyway) and skips the rest of the frames
 * it owes, counted as skipped_pkts: sending them all back to back would be a burst that
 * overflows veth's 256-frame ring in front of the device under test, a loss that would be
 * blamed on the device. What it skipped it did not offer. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "xgen.skel.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define GEN_MAX_BATCH 1024
#define GEN_MAX_XDP_BATCH 65536 /* -X: frames per test run, which costs ~0.25 ms itself */
#define GEN_MAX_FLOWS 4096
#define GEN_MAX_PAYLOAD 65507
#define GEN_MAX_SAMPLES (16u << 20)
#define GEN_MAGIC 0x52524c41u

/* CSIT IMIX: 7:4:1 of 64/570/1518-byte frames, interleaved so each batch is mixed; for IPv6
 * the small ones are 78 B, as in CSIT's IPv6 IMIX. */
static const unsigned gen_imix[12] = {64, 570, 64, 1518, 64, 570, 64, 64, 570, 64, 570, 64};

/* The smallest IPv6 frame (RFC 5180): 62 B of headers and the FCS leave nothing of a 64 B
 * frame, and an empty datagram is a different workload (io_uring ends a multishot receive at
 * each one), so IPv6 frames start at 78 B, with 12 B of payload. */
#define GEN_MIN_FRAME6 78

struct gen_opts {
	struct addr dst, src;
	int have_src, flows, batch, gso_segs, cpu, latency, echo, xdp, qdisc;
	int imix, frame, payload; /* payload < 0: derived from frame */
	const char *ifname;	  /* raw mode when set */
	uint8_t dst_mac[6];
	double seconds, wait;
	uint64_t rate, count;
};

struct gen_stamp {
	uint32_t magic;
	uint32_t pad;
	uint64_t seq;
	uint64_t tx_ns;
};

struct gen_state {
	int *fds;
	struct mmsghdr *msgs;
	struct iovec *iovs;
	char *buf; /* one payload per message so latency stamps differ */
	size_t buf_stride;
	uint64_t *samples;
	uint64_t nsamples, max_samples;
	uint64_t sent, sent_bytes, errors, refused, skipped, rx, seq;
	uint64_t tx_ns; /* time spent sending, without the latency drain */
	uint64_t max_lag_ns, lags_1ms; /* paced runs: how far behind schedule a batch went */
	unsigned imix_pos;
	unsigned imix[12];  /* gen_imix, its small frames raised to min_frame */
	unsigned min_frame; /* 64 B, or GEN_MIN_FRAME6 for IPv6 */
	int l2_overhead; /* Ethernet + IP + UDP + FCS for this family */
	size_t hdr_len;	 /* raw mode: Ethernet + IP + UDP headers in front of the payload */
	uint8_t src_mac[6];
	uint64_t flow_ctr;
	struct perf_xgen_bpf *xgen; /* -X: its program, the frame in buf (xdp_len bytes) */
	struct bpf_link *xlink;
	size_t xdp_len;
};

static uint64_t gen_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int gen_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

static void gen_usage(FILE *f)
{
	fprintf(f, "usage: gen -d DST [-s SRC] [-f FLOWS] [-r PPS] [-l 64|1400|imix|BYTES]\n"
		   "           [-P PAYLOAD] [-t SECONDS] [-n COUNT] [-b BATCH] [-g SEGS] [-C CPU]\n"
		   "           [-L [-w WAIT_SECONDS]]\n"
		   "           [-i IFACE -M DSTMAC -s SRC [-X | -Q] (raw frames)]\n"
		   "       gen -E -d BIND [-t SECONDS] [-C CPU]\n");
}

static int gen_parse(int argc, char **argv, struct gen_opts *o)
{
	const char *why = NULL;
	int c, have_dst = 0;

	*o = (struct gen_opts){.flows = 16,
			       .batch = 64,
			       .cpu = -1,
			       .frame = 64,
			       .payload = -1,
			       .seconds = 5,
			       .wait = 0.2};
	while ((c = getopt(argc, argv, "d:s:f:r:l:P:t:n:b:g:C:Lw:Ei:M:XQh")) != -1) {
		switch (c) {
		case 'd':
			if (addr_parse(optarg, &o->dst, &why))
				goto bad_addr;
			have_dst = 1;
			break;
		case 's':
			if (addr_parse(optarg, &o->src, &why))
				goto bad_addr;
			o->have_src = 1;
			break;
		case 'f':
			o->flows = atoi(optarg);
			break;
		case 'r':
			o->rate = strtoull(optarg, NULL, 0);
			break;
		case 'l':
			if (!strcmp(optarg, "imix"))
				o->imix = 1;
			else
				o->frame = atoi(optarg);
			break;
		case 'P':
			o->payload = atoi(optarg);
			break;
		case 't':
			o->seconds = atof(optarg);
			break;
		case 'n':
			o->count = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			o->batch = atoi(optarg);
			break;
		case 'g':
			o->gso_segs = atoi(optarg);
			break;
		case 'C':
			o->cpu = atoi(optarg);
			break;
		case 'L':
			o->latency = 1;
			break;
		case 'w':
			o->wait = atof(optarg);
			break;
		case 'i':
			o->ifname = optarg;
			break;
		case 'M':
			if (sscanf(optarg, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &o->dst_mac[0],
				   &o->dst_mac[1], &o->dst_mac[2], &o->dst_mac[3], &o->dst_mac[4],
				   &o->dst_mac[5]) != 6) {
				fprintf(stderr, "gen: %s: bad MAC address\n", optarg);
				return -EINVAL;
			}
			break;
		case 'E':
			o->echo = 1;
			break;
		case 'X':
			o->xdp = 1;
			break;
		case 'Q':
			o->qdisc = 1;
			break;
		case 'h':
			gen_usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (!have_dst || o->flows < 1 || o->flows > GEN_MAX_FLOWS || o->batch < 1 ||
	    o->batch > (o->xdp ? GEN_MAX_XDP_BATCH : GEN_MAX_BATCH) || o->seconds <= 0 ||
	    o->gso_segs < 0 || o->gso_segs > 64 || o->payload > GEN_MAX_PAYLOAD ||
	    (o->gso_segs && o->imix) || (o->gso_segs && o->latency) ||
	    (o->ifname && (o->latency || o->echo || o->gso_segs || !o->have_src ||
			   addr_family(&o->src) != addr_family(&o->dst))) ||
	    (o->xdp && (!o->ifname || o->imix || o->rate)) || (o->qdisc && (!o->ifname || o->xdp))) {
		fprintf(stderr, "gen: bad or conflicting options\n");
		return -EINVAL;
	}
	return 0;
bad_addr:
	fprintf(stderr, "gen: %s: %s\n", optarg, why ? why : "bad address");
	return -EINVAL;
}

/* Payload bytes of a frame of the given size (DPDK sizes count the 4-byte FCS). */
static size_t gen_payload_of(const struct gen_opts *o, const struct gen_state *s, unsigned frame)
{
	int p = (int)frame - s->l2_overhead;

	if (o->payload >= 0 && !o->imix)
		p = o->payload;
	if (o->latency && p < (int)sizeof(struct gen_stamp))
		p = sizeof(struct gen_stamp);
	return p < 0 ? 0 : (size_t)p;
}

static int gen_socket(const struct gen_opts *o, const struct addr *bind_to, int do_connect)
{
	int one = 1, sz = 8 << 20;
	int fd = socket(addr_family(&o->dst), SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* FORCE variants need CAP_NET_ADMIN; fall back silently, the size is only a hint. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind_to && bind(fd, &bind_to->sa, addr_len(bind_to)))
		goto err_close;
	if (do_connect && connect(fd, &o->dst.sa, addr_len(&o->dst)))
		goto err_close;
	return fd;
err_close:
	one = -errno;
	close(fd);
	return one;
}

/* Raw mode: a send-only AF_PACKET socket on ifname; fills the interface's MAC. */
static int gen_raw_socket(const char *ifname, int qdisc, uint8_t src_mac[6])
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET};
	struct ifreq ifr;
	int one = 1, sz = 8 << 20, err;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		goto err_close;
	memcpy(src_mac, ifr.ifr_hwaddr.sa_data, 6);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex)
		goto err_close;
	/* Protocol 0: the socket only sends, so the kernel queues nothing to it. */
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		goto err_close;
	/* Straight to the driver: the numbers are about the DUT, not our own qdisc (-Q: the
	 * qdisc is the ring in front of the DUT). */
	if (!qdisc)
		setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	return fd;
err_close:
	err = -errno;
	close(fd);
	return err;
}

static uint32_t gen_csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

static uint16_t gen_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Writes Ethernet, IP and UDP headers into the s->hdr_len bytes in front of the plen payload
 * bytes at f + s->hdr_len. Raw frames need the IP header spelled out, so this is the one
 * place the generator looks at the family. */
static void gen_frame(uint8_t *f, const struct gen_opts *o, const struct gen_state *s,
		      uint16_t sport, size_t plen)
{
	uint16_t ulen = (uint16_t)(8 + plen);
	struct udphdr *udp = (struct udphdr *)(f + s->hdr_len - 8);

	memcpy(f, o->dst_mac, 6);
	memcpy(f + 6, s->src_mac, 6);
	udp->source = htons(sport);
	udp->dest = htons(addr_port(&o->dst));
	udp->len = htons(ulen);
	udp->check = 0;
	if (addr_family(&o->dst) == AF_INET6) {
		struct ip6_hdr h;
		uint32_t sum;

		memset(&h, 0, sizeof(h));
		h.ip6_flow = htonl(6u << 28);
		h.ip6_plen = htons(ulen);
		h.ip6_nxt = IPPROTO_UDP;
		h.ip6_hlim = 64;
		h.ip6_src = o->src.in6.sin6_addr;
		h.ip6_dst = o->dst.in6.sin6_addr;
		f[12] = 0x86;
		f[13] = 0xdd;
		memcpy(f + 14, &h, sizeof(h));
		/* IPv6 forbids a zero UDP checksum: pseudo-header, header and payload. */
		sum = gen_csum_add(0, &h.ip6_src, 32) + ulen + IPPROTO_UDP;
		sum = gen_csum_add(sum, udp, ulen);
		udp->check = htons(gen_csum_fold(sum) ? gen_csum_fold(sum) : 0xffff);
	} else {
		struct iphdr h;

		memset(&h, 0, sizeof(h));
		h.version = 4;
		h.ihl = 5;
		h.ttl = 64;
		h.protocol = IPPROTO_UDP;
		h.frag_off = htons(IP_DF);
		h.tot_len = htons((uint16_t)(20 + ulen));
		h.saddr = o->src.in4.sin_addr.s_addr;
		h.daddr = o->dst.in4.sin_addr.s_addr;
		h.check = htons(gen_csum_fold(gen_csum_add(0, &h, sizeof(h))));
		f[12] = 0x08;
		f[13] = 0x00;
		memcpy(f + 14, &h, sizeof(h));
	}
}

/* -X: loads perf/xgen.bpf.c with the headers of the frames it sends to ifname, and keeps it
 * attached there while gen runs. Returns 0 or a negative errno. */
static int gen_xdp_open(struct gen_state *s, const struct gen_opts *o)
{
	int err;

	s->xgen = perf_xgen_bpf__open();
	if (!s->xgen)
		return -errno;
	if (s->hdr_len > sizeof(s->xgen->bss->tmpl))
		return -EINVAL;
	s->xdp_len = s->hdr_len + gen_payload_of(o, s, (unsigned)o->frame);
	gen_frame((uint8_t *)s->buf, o, s, 10000, s->xdp_len - s->hdr_len);
	memcpy(s->xgen->bss->tmpl, s->buf, s->hdr_len);
	s->xgen->rodata->ifindex = if_nametoindex(o->ifname);
	s->xgen->rodata->flows = (uint32_t)o->flows;
	s->xgen->rodata->hdr_len = (uint32_t)s->hdr_len;
	s->xgen->rodata->udp_csum = addr_family(&o->dst) == AF_INET6;
	s->xgen->rodata->lo_ifindex = if_nametoindex("lo");
	if (!s->xgen->rodata->ifindex || !s->xgen->rodata->lo_ifindex)
		return -errno;
	err = perf_xgen_bpf__load(s->xgen);
	if (err < 0)
		return err;
	/* A test run of more than one frame puts its program into the XDP dispatcher and takes
	 * it out again: two RCU grace periods per run (25 ms here) unless the program is there
	 * already, which attaching it to an interface does; it passes what that receives. */
	s->xlink = bpf_program__attach_xdp(s->xgen->progs.xgen, (int)s->xgen->rodata->ifindex);
	if (!s->xlink)
		fprintf(stderr, "gen: -X: attach to %s: %s; every run waits for the XDP "
				"dispatcher\n", o->ifname, strerror(errno));
	return 0;
}

/* -X: n copies of the frame gen_xdp_open built (headers and flows the program's) into the
 * interface, counted as sent. The runner redirects them in batches of 64 and flushes after
 * each, as a driver's NAPI does. Returns 0 (also when a signal ended the run: nothing
 * counted) or a negative errno. */
static int gen_xdp_send(struct gen_state *s, int n)
{
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = s->buf,
		    .data_size_in = (uint32_t)s->xdp_len, .repeat = (uint32_t)n,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

	if (bpf_prog_test_run_opts(bpf_program__fd(s->xgen->progs.xgen), &run))
		return errno == EINTR ? 0 : -errno;
	s->sent += n;
	s->sent_bytes += (s->xdp_len - s->hdr_len + s->l2_overhead) * (uint64_t)n;
	return 0;
}

static void gen_state_fini(struct gen_state *s, int nfds)
{
	for (int i = 0; s->fds && i < nfds; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	free(s->fds);
	free(s->msgs);
	free(s->iovs);
	free(s->buf);
	free(s->samples);
	bpf_link__destroy(s->xlink);
	perf_xgen_bpf__destroy(s->xgen);
}

/* Space for one UDP_SEGMENT control message per mmsghdr. */
union gen_cmsg {
	char buf[CMSG_SPACE(sizeof(uint16_t))];
	struct cmsghdr align;
};

static int gen_state_init(struct gen_state *s, const struct gen_opts *o, union gen_cmsg **cm)
{
	size_t maxp;
	int nbuf;

	memset(s, 0, sizeof(*s));
	s->l2_overhead = 14 + (addr_family(&o->dst) == AF_INET6 ? 40 : 20) + 8 + 4;
	s->min_frame = addr_family(&o->dst) == AF_INET6 ? GEN_MIN_FRAME6 : 64;
	if (!o->echo && !o->latency && !o->imix && o->payload < 0 &&
	    o->frame < (int)s->min_frame) {
		fprintf(stderr, "gen: a %d B frame is too small for UDP over IPv%d: %u B is the "
				"smallest%s\n",
			o->frame, s->min_frame == 64 ? 4 : 6, s->min_frame,
			s->min_frame == 64 ? "" : " (RFC 5180; 64 B would carry an empty datagram)");
		return -EINVAL;
	}
	for (int i = 0; i < 12; i++)
		s->imix[i] = gen_imix[i] < s->min_frame ? s->min_frame : gen_imix[i];
	s->hdr_len = o->ifname ? (size_t)s->l2_overhead - 4 : 0;
	s->fds = calloc(o->flows, sizeof(*s->fds));
	for (int i = 0; s->fds && i < o->flows; i++)
		s->fds[i] = -1;
	/* -X sends one frame buffer, copied by the test runner. */
	nbuf = o->xdp ? 1 : o->batch;
	s->msgs = calloc(nbuf, sizeof(*s->msgs));
	s->iovs = calloc(nbuf, sizeof(*s->iovs));
	*cm = calloc(nbuf, sizeof(**cm));
	maxp = o->echo ? 65536 : gen_payload_of(o, s, o->imix ? 1518 : o->frame);
	if (o->gso_segs)
		maxp *= o->gso_segs;
	if (maxp > 65536 && !o->echo)
		return -EMSGSIZE;
	s->buf_stride = s->hdr_len + (maxp ? maxp : 1);
	s->buf = calloc(nbuf, s->buf_stride);
	if (o->latency) {
		s->max_samples = GEN_MAX_SAMPLES;
		s->samples = calloc(s->max_samples, sizeof(*s->samples));
	}
	if (!s->fds || !s->msgs || !s->iovs || !*cm || !s->buf || (o->latency && !s->samples))
		return -ENOMEM;
	for (int i = 0; i < nbuf; i++) {
		memset(s->buf + i * s->buf_stride, 0xa5, s->buf_stride);
		s->iovs[i].iov_base = s->buf + i * s->buf_stride;
		s->msgs[i].msg_hdr.msg_iov = &s->iovs[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

/* Reads every pending reply on fd and records its round-trip time. */
static void gen_drain(struct gen_state *s, int fd)
{
	char rbuf[64][128];
	struct iovec iov[64];
	struct mmsghdr m[64];
	int n;

	memset(m, 0, sizeof(m));
	for (int i = 0; i < 64; i++) {
		iov[i] = (struct iovec){rbuf[i], sizeof(rbuf[i])};
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	while ((n = recvmmsg(fd, m, 64, MSG_DONTWAIT, NULL)) > 0) {
		uint64_t now = gen_now_ns();

		for (int i = 0; i < n; i++) {
			struct gen_stamp st;

			if (m[i].msg_len < sizeof(st))
				continue;
			memcpy(&st, rbuf[i], sizeof(st));
			if (st.magic != GEN_MAGIC)
				continue;
			s->rx++;
			if (s->nsamples < s->max_samples)
				s->samples[s->nsamples++] = now - st.tx_ns;
		}
	}
}

/* Waits until t_ns; in latency mode the wait is spent reading replies. */
static void gen_wait_until(struct gen_state *s, const struct gen_opts *o, uint64_t t_ns)
{
	uint64_t now;

	while ((now = gen_now_ns()) < t_ns) {
		uint64_t left = t_ns - now;

		if (o->latency) {
			struct pollfd p = {.fd = s->fds[0], .events = POLLIN};

			/* Latency runs use one flow so one poll sees every reply. */
			if (poll(&p, 1, left > 2000000 ? (int)(left / 1000000) : 0) > 0)
				gen_drain(s, s->fds[0]);
		} else if (left > 100000) {
			struct timespec ts = {0, (long)(left - 50000)};

			nanosleep(&ts, NULL);
		}
		/* else spin: sleeping under 100 us overshoots by more than it saves */
	}
}

static int gen_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double gen_pct(const struct gen_state *s, double p)
{
	uint64_t i;

	if (!s->nsamples)
		return -1;
	i = (uint64_t)(p / 100.0 * (s->nsamples - 1) + 0.5);
	return s->samples[i] / 1000.0;
}

static int gen_tx(struct gen_state *s, const struct gen_opts *o, union gen_cmsg *cm)
{
	uint64_t start = gen_now_ns(), end = start + (uint64_t)(o->seconds * 1e9), next = start;
	int batch = o->batch, flow = 0, segs = o->gso_segs ? o->gso_segs : 1;
	unsigned iter = 0;
	sigset_t pend;

	/* Paced runs send at least every millisecond so bursts stay short. */
	if (o->rate && (uint64_t)batch * segs > o->rate / 1000)
		batch = o->rate / 1000 / segs > 0 ? (int)(o->rate / 1000 / segs) : 1;
	if (o->latency && o->rate && (uint64_t)batch > o->rate / 10000 + 1)
		batch = (int)(o->rate / 10000) + 1;

	for (;;) {
		/* -n bounds what was offered: a refused frame was offered too. */
		uint64_t now = gen_now_ns(), offered = s->sent + s->refused;
		int n = batch, r;

		if (now >= end || (o->count && offered >= o->count))
			break;
		if (o->count && (uint64_t)n * segs > o->count - offered)
			n = (int)((o->count - offered + segs - 1) / segs);
		if (o->rate) {
			/* The catch-up allowed: one full batch (-b), whatever the pacing made
			 * of this one, so a slow rate's small batches do not make a short
			 * stall a skip. */
			uint64_t bound = (uint64_t)o->batch * segs * 1000000000ull / o->rate;

			next += (uint64_t)n * segs * 1000000000ull / o->rate;
			gen_wait_until(s, o, next);
			now = gen_now_ns();
			if (now - next > s->max_lag_ns)
				s->max_lag_ns = now - next;
			s->lags_1ms += now - next > 1000000;
			/* This batch goes now, then at most one batch owed; the frames due
			 * before that are skipped (see the top of the file). */
			if (now - next > bound) {
				s->skipped += (now - next - bound) * o->rate / 1000000000ull;
				next = now - bound;
			}
		}
		if (o->xdp) {
			r = gen_xdp_send(s, n);
			if (r)
				return r;
			n = 0; /* (the frames went: nothing to build or send below) */
		}
		for (int i = 0; i < n; i++) {
			unsigned frame = o->imix ? s->imix[s->imix_pos++ % 12] : (unsigned)o->frame;
			size_t len = gen_payload_of(o, s, frame);

			s->iovs[i].iov_len = s->hdr_len + len * segs;
			if (o->ifname)
				gen_frame(s->iovs[i].iov_base, o, s,
					  (uint16_t)(10000 + s->flow_ctr++ % o->flows), len);
			s->msgs[i].msg_hdr.msg_control = NULL;
			s->msgs[i].msg_hdr.msg_controllen = 0;
			if (o->gso_segs) {
				struct cmsghdr *c = (struct cmsghdr *)cm[i].buf;
				uint16_t gso = (uint16_t)len;

				c->cmsg_level = SOL_UDP;
				c->cmsg_type = UDP_SEGMENT;
				c->cmsg_len = CMSG_LEN(sizeof(gso));
				memcpy(CMSG_DATA(c), &gso, sizeof(gso));
				s->msgs[i].msg_hdr.msg_control = cm[i].buf;
				s->msgs[i].msg_hdr.msg_controllen = sizeof(cm[i].buf);
			}
			if (o->latency) {
				struct gen_stamp st = {GEN_MAGIC, 0, s->seq++, gen_now_ns()};

				memcpy(s->iovs[i].iov_base, &st, sizeof(st));
			}
		}
		for (int done = 0; done < n;) {
			r = sendmmsg(s->fds[o->ifname ? 0 : flow], s->msgs + done, n - done, 0);
			if (r < 0) {
				if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED &&
				    errno != EINTR)
					return -errno;
				s->errors++;
				r = 0;
			}
			for (int i = done; i < done + r; i++) {
				size_t len = (s->iovs[i].iov_len - s->hdr_len) / segs;

				s->sent += segs;
				s->sent_bytes += (len + s->l2_overhead) * segs;
			}
			done += r;
			/* A socket's batch ends at its first refusal, as before. A raw frame veth
			 * refused (the ring or backlog in front of the DUT was full; veth counts it
			 * as g0's tx_dropped), or with -Q the full qdisc dropped, is counted and the
			 * rest of the batch still goes: on a wire the frame would have arrived and
			 * been lost in the DUT's full ring. */
			if (!o->ifname)
				break;
			if (done < n) {
				s->refused++;
				done++;
			}
		}
		if (o->latency)
			gen_drain(s, s->fds[0]);
		flow = (flow + 1) % o->flows;
		/* (-X: a run is up to 65536 frames, so after every one) */
		if (o->xdp || !(++iter & 1023)) {
			sigpending(&pend);
			if (sigismember(&pend, SIGINT) || sigismember(&pend, SIGTERM))
				break;
		}
	}
	s->tx_ns = gen_now_ns() - start;
	if (o->latency) {
		uint64_t until = gen_now_ns() + (uint64_t)(o->wait * 1e9);

		gen_wait_until(s, o, until);
		gen_drain(s, s->fds[0]);
	}
	return 0;
}

static int gen_echo(struct gen_state *s, const struct gen_opts *o)
{
	uint64_t end = gen_now_ns() + (uint64_t)(o->seconds * 1e9);
	struct sockaddr_storage *from = calloc(o->batch, sizeof(*from));
	struct timeval tv = {0, 100000};
	int fd = s->fds[0];

	if (!from)
		return -ENOMEM;
	/* Wake up every 100 ms to honour the time bound. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (gen_now_ns() < end) {
		int n;

		for (int i = 0; i < o->batch; i++) {
			s->iovs[i].iov_len = s->buf_stride;
			s->msgs[i].msg_hdr.msg_name = &from[i];
			s->msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, s->msgs, o->batch, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue;
		s->rx += n;
		for (int i = 0; i < n; i++)
			s->iovs[i].iov_len = s->msgs[i].msg_len;
		n = sendmmsg(fd, s->msgs, n, 0);
		if (n > 0)
			s->sent += n;
		else
			s->errors++;
	}
	free(from);
	return 0;
}

int main(int argc, char **argv)
{
	char dst[ADDR_STRLEN], size[16];
	struct gen_state s;
	union gen_cmsg *cm = NULL;
	struct gen_opts o;
	uint64_t t0, t1;
	sigset_t mask;
	double el;
	int err;

	if (gen_parse(argc, argv, &o)) {
		gen_usage(stderr);
		return 2;
	}
	if (o.echo || o.latency)
		o.flows = 1;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	/* Blocked, then polled: a Ctrl-C still ends a run with its summary line. */
	if (!o.echo)
		sigprocmask(SIG_BLOCK, &mask, NULL);
	err = gen_pin(o.cpu);
	if (err) {
		fprintf(stderr, "gen: pin to CPU %d: %s\n", o.cpu, strerror(-err));
		return 1;
	}
	err = gen_state_init(&s, &o, &cm);
	if (err) {
		fprintf(stderr, "gen: set-up: %s\n", strerror(-err));
		goto err_fini;
	}
	for (int i = 0; i < (o.ifname ? 1 : o.flows); i++) {
		if (o.ifname)
			s.fds[i] = gen_raw_socket(o.ifname, o.qdisc, s.src_mac); /* -X: for the MAC */
		else
			s.fds[i] = o.echo ? gen_socket(&o, &o.dst, 0)
					  : gen_socket(&o, o.have_src ? &o.src : NULL, 1);
		if (s.fds[i] < 0) {
			err = s.fds[i];
			fprintf(stderr, "gen: socket for flow %d: %s\n", i, strerror(-err));
			goto err_fini;
		}
	}
	if (o.xdp && (err = gen_xdp_open(&s, &o))) {
		fprintf(stderr, "gen: -X: the XDP program for %s: %s\n", o.ifname, strerror(-err));
		goto err_fini;
	}
	addr_format(&o.dst, dst, sizeof(dst));
	if (o.imix)
		snprintf(size, sizeof(size), "imix");
	else
		snprintf(size, sizeof(size), "%d", o.frame);

	t0 = gen_now_ns();
	err = o.echo ? gen_echo(&s, &o) : gen_tx(&s, &o, cm);
	t1 = gen_now_ns();
	if (err) {
		fprintf(stderr, "gen: send to %s: %s\n", dst, strerror(-err));
		goto err_fini;
	}
	el = (o.echo ? t1 - t0 : s.tx_ns) / 1e9;
	printf("{\"tool\":\"gen\",\"mode\":\"%s\",\"dst\":\"%s\",\"flows\":%d,\"size\":\"%s\","
	       "\"batch\":%d,\"gso_segs\":%d,\"rate_pps\":%llu,\"cpu\":%d,\"elapsed_s\":%.6f,"
	       "\"sent_pkts\":%llu,\"sent_bytes\":%llu,\"send_errors\":%llu,\"refused_pkts\":%llu,"
	       "\"skipped_pkts\":%llu,\"max_lag_us\":%.0f,\"lags_1ms\":%llu,\"pps\":%.0f",
	       o.echo	   ? "echo"
	       : o.latency ? "latency"
	       : o.xdp	   ? "tx-xdp"
	       : o.ifname  ? "tx-raw"
			   : "tx",
	       dst, o.flows, size, o.batch, o.gso_segs, (unsigned long long)o.rate, o.cpu, el,
	       (unsigned long long)s.sent, (unsigned long long)s.sent_bytes,
	       (unsigned long long)s.errors, (unsigned long long)s.refused,
	       (unsigned long long)s.skipped, s.max_lag_ns / 1e3, (unsigned long long)s.lags_1ms,
	       el > 0 ? s.sent / el : 0.0);
	if (o.latency) {
		qsort(s.samples, s.nsamples, sizeof(*s.samples), gen_cmp_u64);
		printf(",\"rx_pkts\":%llu,\"lost\":%lld,\"rtt_us\":{\"min\":%.1f,\"p50\":%.1f,"
		       "\"p90\":%.1f,\"p99\":%.1f,\"p99.9\":%.1f,\"max\":%.1f}",
		       (unsigned long long)s.rx, (long long)(s.sent - s.rx), gen_pct(&s, 0),
		       gen_pct(&s, 50), gen_pct(&s, 90), gen_pct(&s, 99), gen_pct(&s, 99.9),
		       gen_pct(&s, 100));
	}
	if (o.echo)
		printf(",\"rx_pkts\":%llu", (unsigned long long)s.rx);
	printf("}\n");
err_fini:
	gen_state_fini(&s, o.flows);
	free(cm);
	return err ? 1 : 0;
}
