// SPDX-License-Identifier: MIT
/* sock: the ancillary data the relay reads (sock_rx_cmsg, sock_err_cmsg) and writes
 * (sock_tx_control), and the GSO segment count, from plain buffers; in private network
 * namespaces, listener and session socket set-up and the path MTUs they report. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <poll.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include "addr.h"
#include "sock.h"
#include "netns_child.h"

/* A control buffer being filled, cmsg by cmsg, as the kernel would on a receive. */
struct rx_control {
	union {
		uint8_t buf[256];
		struct cmsghdr align;
	} u;
	struct msghdr msg;
	struct cmsghdr *next;
};

static void rx_begin(struct rx_control *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->msg.msg_control = rc->u.buf;
	rc->msg.msg_controllen = sizeof(rc->u.buf);
	rc->next = CMSG_FIRSTHDR(&rc->msg);
}

static void rx_add(struct rx_control *rc, int level, int type, const void *data, size_t len)
{
	struct cmsghdr *c = rc->next;

	assert_non_null(c);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	rc->next = (struct cmsghdr *)((uint8_t *)c + CMSG_SPACE(len));
}

/* Runs every cmsg of rc through sock_rx_cmsg, as the backends do. */
static struct sock_rx_meta rx_parse(struct rx_control *rc)
{
	struct sock_rx_meta m = { 0 };
	struct cmsghdr *c;

	rc->msg.msg_controllen = (size_t)((uint8_t *)rc->next - rc->u.buf);
	for (c = CMSG_FIRSTHDR(&rc->msg); c; c = CMSG_NXTHDR(&rc->msg, c))
		sock_rx_cmsg(c, &m);
	return m;
}

static void test_rx_pktinfo_v4(void **state)
{
	struct in_pktinfo pi = { .ipi_ifindex = 3 };
	struct rx_control rc;
	struct sock_rx_meta m;
	char text[ADDR_STRLEN];

	/* a broadcast: replies leave from the interface's address, ipi_spec_dst */
	inet_pton(AF_INET, "198.18.1.255", &pi.ipi_addr);
	inet_pton(AF_INET, "198.18.1.2", &pi.ipi_spec_dst);
	rx_begin(&rc);
	rx_add(&rc, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	m = rx_parse(&rc);
	assert_true(m.has_local);
	assert_int_equal(addr_family(&m.local), AF_INET);
	assert_int_equal(addr_port(&m.local), 0);
	assert_string_equal(addr_format(&m.local, text, sizeof(text)), "198.18.1.2:0");
	assert_true(m.to_group);
	assert_false(m.has_ovfl);
	assert_int_equal(m.gso_size, 0);
}

/* Which destinations were a group's (broadcast, multicast: no fast path for their
 * sessions): every one the kernel's spec_dst differs from, and the group ranges. */
static void test_rx_pktinfo_v4_group(void **state)
{
	static const struct {
		const char *addr, *spec_dst;
		bool group;
	} cases[] = {
		{ "198.18.1.2", "198.18.1.2", false },	   { "198.18.1.255", "198.18.1.2", true },
		{ "255.255.255.255", "198.18.1.2", true }, { "224.0.0.1", "198.18.1.2", true },
		{ "239.1.2.3", "198.18.1.2", true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct in_pktinfo pi = { .ipi_ifindex = 3 };
		struct rx_control rc;
		struct sock_rx_meta m;

		inet_pton(AF_INET, cases[i].addr, &pi.ipi_addr);
		inet_pton(AF_INET, cases[i].spec_dst, &pi.ipi_spec_dst);
		rx_begin(&rc);
		rx_add(&rc, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
		m = rx_parse(&rc);
		if (m.to_group != cases[i].group)
			fail_msg("%s: to_group %d", cases[i].addr, m.to_group);
	}
}

/* The listener's usual set: destination address, drop count and GRO size in one buffer. */
static void test_rx_pktinfo_v6_ovfl_gro(void **state)
{
	struct in6_pktinfo pi = { .ipi6_ifindex = 2 };
	uint32_t ovfl = 4000000000u;
	int gro = 1400;
	struct rx_control rc;
	struct sock_rx_meta m;
	char text[ADDR_STRLEN];

	inet_pton(AF_INET6, "2001:2:0:1::2", &pi.ipi6_addr);
	rx_begin(&rc);
	rx_add(&rc, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	rx_add(&rc, SOL_SOCKET, SO_RXQ_OVFL, &ovfl, sizeof(ovfl));
	rx_add(&rc, SOL_UDP, UDP_GRO, &gro, sizeof(gro));
	/* the control space a listener's receive reserves holds all three */
	assert_true((size_t)((uint8_t *)rc.next - rc.u.buf) <=
		    SOCK_RX_CONTROL_LEN + SOCK_RX_GRO_CONTROL_LEN);
	m = rx_parse(&rc);
	assert_true(m.has_local);
	assert_int_equal(addr_family(&m.local), AF_INET6);
	assert_string_equal(addr_format(&m.local, text, sizeof(text)), "[2001:2:0:1::2]:0");
	assert_false(m.to_group);
	assert_true(m.has_ovfl);
	assert_int_equal(m.ovfl, 4000000000u);
	assert_int_equal(m.gso_size, 1400);
}

/* A datagram to an IPv6 multicast group (ff02::1 reaches a wildcard listener): the reply
 * names no source (the kernel picks one), as IPv4's ipi_spec_dst does for a broadcast. */
static void test_rx_pktinfo_v6_multicast(void **state)
{
	struct in6_pktinfo pi = { .ipi6_ifindex = 2 };
	struct rx_control rc;
	struct sock_rx_meta m;

	(void)state;
	inet_pton(AF_INET6, "ff02::1", &pi.ipi6_addr);
	rx_begin(&rc);
	rx_add(&rc, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	m = rx_parse(&rc);
	assert_true(m.has_local);
	assert_int_equal(addr_family(&m.local), AF_INET6);
	assert_true(addr_is_any(&m.local));
	assert_true(m.to_group);
}

/* A GRO size that is no UDP payload length means no segmentation; unknown cmsgs change
 * nothing. */
static void test_rx_odd(void **state)
{
	static const int bad_gro[] = { 0, -1, 65536, 1 << 20 };
	int ts[4] = { 1, 2, 3, 4 };
	struct rx_control rc;
	struct sock_rx_meta m;
	size_t i;

	for (i = 0; i < sizeof(bad_gro) / sizeof(bad_gro[0]); i++) {
		rx_begin(&rc);
		rx_add(&rc, SOL_UDP, UDP_GRO, &bad_gro[i], sizeof(bad_gro[i]));
		m = rx_parse(&rc);
		assert_int_equal(m.gso_size, 0);
	}
	rx_begin(&rc);
	rx_add(&rc, SOL_SOCKET, SO_TIMESTAMPNS, ts, sizeof(ts));
	rx_add(&rc, IPPROTO_IP, IP_TTL, &ts[0], sizeof(ts[0]));
	m = rx_parse(&rc);
	assert_false(m.has_local);
	assert_false(m.has_ovfl);
	assert_int_equal(m.gso_size, 0);
}

/* A cmsg whose cmsg_len is shorter than its type's data (as MSG_CTRUNC leaves the last one)
 * is ignored, though the bytes after it hold a whole value: nothing is read past cmsg_len. */
static void test_rx_short(void **state)
{
	struct in_pktinfo pi = { .ipi_ifindex = 3 };
	struct in6_pktinfo pi6 = { .ipi6_ifindex = 2 };
	uint32_t ovfl = 7;
	int gro = 1400;
	static const size_t cut[] = { 0, 1 };
	const struct {
		int level, type;
		const void *data;
		size_t len;
	} cases[] = {
		{ IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi) },
		{ IPPROTO_IPV6, IPV6_PKTINFO, &pi6, sizeof(pi6) },
		{ SOL_SOCKET, SO_RXQ_OVFL, &ovfl, sizeof(ovfl) },
		{ SOL_UDP, UDP_GRO, &gro, sizeof(gro) },
	};
	struct rx_control rc;
	struct sock_rx_meta m;
	size_t i, j;

	inet_pton(AF_INET, "198.18.1.2", &pi.ipi_spec_dst);
	inet_pton(AF_INET6, "2001:2:0:1::2", &pi6.ipi6_addr);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (j = 0; j < sizeof(cut) / sizeof(cut[0]); j++) {
			struct cmsghdr *c;

			rx_begin(&rc);
			c = rc.next;
			rx_add(&rc, cases[i].level, cases[i].type, cases[i].data, cases[i].len);
			/* all of the data, or none, is there; the header says one byte less */
			c->cmsg_len = CMSG_LEN(cut[j] ? cases[i].len - cut[j] : 0);
			memset(&m, 0, sizeof(m));
			sock_rx_cmsg(c, &m);
			assert_false(m.has_local);
			assert_false(m.has_ovfl);
			assert_int_equal(m.gso_size, 0);
			/* the same cmsg whole is read */
			c->cmsg_len = CMSG_LEN(cases[i].len);
			sock_rx_cmsg(c, &m);
			assert_true(m.has_local || m.has_ovfl || m.gso_size == 1400);
		}
	}
}

/* An error-queue read's control data: the errno of IP_RECVERR and IPV6_RECVERR (what sendmmsg
 * does not say), nothing from another cmsg or one cut short. */
static void test_err_cmsg(void **state)
{
	struct {
		struct sock_extended_err ee;
		struct sockaddr_in6 offender;
	} e = { .ee = { .ee_origin = SO_EE_ORIGIN_ICMP } };
	const struct {
		int level, type, err;
		size_t len;
		int want;
	} cases[] = {
		{ IPPROTO_IP, IP_RECVERR, ECONNREFUSED, sizeof(e), ECONNREFUSED },
		{ IPPROTO_IPV6, IPV6_RECVERR, EMSGSIZE, sizeof(e), EMSGSIZE },
		{ IPPROTO_IP, IP_RECVERR, EHOSTUNREACH, sizeof(e.ee), EHOSTUNREACH },
		{ IPPROTO_IP, IP_RECVERR, ECONNREFUSED, sizeof(e.ee) - 1, 0 },
		{ IPPROTO_IPV6, IPV6_RECVERR, ECONNREFUSED, 0, 0 },
		{ IPPROTO_IP, IP_PKTINFO, ECONNREFUSED, sizeof(e), 0 },
		{ SOL_SOCKET, SO_RXQ_OVFL, ECONNREFUSED, sizeof(e), 0 },
	};
	struct rx_control rc;
	struct cmsghdr *c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e.ee.ee_errno = (uint32_t)cases[i].err;
		rx_begin(&rc);
		c = rc.next;
		rx_add(&rc, cases[i].level, cases[i].type, &e, sizeof(e));
		c->cmsg_len = CMSG_LEN(cases[i].len);
		assert_int_equal(sock_err_cmsg(c), cases[i].want);
	}
}

/* Every errno an ICMP error leaves pending on a UDP socket (net/ipv4/icmp.c's
 * icmp_err_convert, __udp4_lib_err, icmpv6_err_convert): those that say the upstream cannot be
 * reached are unreachables, for IPv4 and IPv6 alike; the copy of each in the error queue is
 * read after a failed send. A local error that queues nothing is neither. */
static void test_err_classes(void **state)
{
	const struct {
		int err;
		bool unreachable, queued;
	} cases[] = {
		{ ECONNREFUSED, true, true }, /* port unreachable */
		{ EHOSTUNREACH, true, true }, /* host unreachable, v4 admin-prohibited, TTL */
		{ ENETUNREACH, true, true },  /* net unreachable, v6 no route */
		{ EACCES, true, true },	      /* v6 admin-prohibited, source policy, reject route */
		{ EHOSTDOWN, true, true },    /* v4 host unknown */
		{ ENONET, true, true },	      /* v4 host isolated */
		{ ENOPROTOOPT, true, true },  /* v4 protocol unreachable */
		{ EMSGSIZE, false, true },    /* fragmentation needed, packet too big */
		{ EPROTO, false, true },      /* parameter problem */
		{ EOPNOTSUPP, false, true },  /* v4 source route failed */
		{ ENOBUFS, false, false },
		{ EAGAIN, false, false },
		{ EPERM, false, false },
		{ EINVAL, false, false },
		{ EIO, false, false },
		{ 0, false, false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(sock_err_unreachable(cases[i].err), cases[i].unreachable);
		assert_int_equal(sock_err_queued(cases[i].err), cases[i].queued);
	}
}

/* A GSO send's failure: the pending error an earlier datagram left (goes again whole, once),
 * or a refusal or loss of its own. */
static void test_gso_pending(void **state)
{
	const struct {
		int err, queued;
		bool too_big;
		uint32_t size;
		int mtu;
		bool pending;
	} cases[] = {
		/* a "packet too big" a longer datagram drew; the segments fit the MTU it taught */
		{ EMSGSIZE, EMSGSIZE, true, 1200, 1232, true },
		{ EMSGSIZE, EMSGSIZE, true, 1232, 1232, true },
		/* the segments no longer fit: a refusal (lower seg_max) */
		{ EMSGSIZE, EMSGSIZE, true, 1400, 1232, false },
		/* no copy queued, none "too big" among them, the MTU unknown: a refusal */
		{ EMSGSIZE, 0, false, 1200, 1232, false },
		{ EMSGSIZE, ECONNREFUSED, false, 1200, 1232, false },
		{ EMSGSIZE, EMSGSIZE, true, 1200, -ENOTCONN, false },
		/* an unreachable whose copy was queued: pending, whatever the MTU */
		{ ECONNREFUSED, ECONNREFUSED, false, 1200, -1, true },
		{ EHOSTUNREACH, EMSGSIZE, true, 1400, -1, true },
		{ EACCES, EACCES, false, 1200, 1000, true },
		{ EPROTO, EPROTO, false, 1200, -1, true },
		/* a route's own unreachable queues nothing: lost as before */
		{ ENETUNREACH, 0, false, 1200, -1, false },
		/* the kernel's or the device's refusal, a full socket: never pending */
		{ EINVAL, EMSGSIZE, true, 1200, 1232, false },
		{ EIO, ECONNREFUSED, false, 1200, 1232, false },
		{ EAGAIN, ECONNREFUSED, false, 1200, 1232, false },
		{ ENOBUFS, ENOBUFS, false, 1200, 1232, false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(sock_gso_pending(cases[i].err, cases[i].queued, cases[i].too_big,
						  cases[i].size, cases[i].mtu),
				 cases[i].pending);
}

/* What a sender reserves for sock_tx_control, aligned for cmsg access. */
union tx_control {
	uint8_t buf[SOCK_TX_CONTROL_LEN];
	struct cmsghdr align;
};

/* The cmsgs of a send buffer, in order; returns how many. */
static int tx_cmsgs(uint8_t *buf, size_t len, struct cmsghdr **out, int max)
{
	struct msghdr msg = { .msg_control = buf, .msg_controllen = len };
	struct cmsghdr *c;
	int n = 0;

	for (c = CMSG_FIRSTHDR(&msg); c && n < max; c = CMSG_NXTHDR(&msg, c))
		out[n++] = c;
	return n;
}

static void test_tx_none(void **state)
{
	union tx_control u;

	memset(u.buf, 0xaa, sizeof(u.buf));
	assert_int_equal(sock_tx_control(u.buf, NULL, 0), 0);
	/* left zeroed, so a stale cmsg can never be sent */
	for (size_t i = 0; i < sizeof(u.buf); i++)
		assert_int_equal(u.buf[i], 0);
}

/* A reply from a wildcard listener leaves from the address the client used: IP_PKTINFO's
 * ipi_spec_dst (v4) or IPV6_PKTINFO's address (v6). */
static void test_tx_pktinfo(void **state)
{
	union tx_control u;
	struct cmsghdr *c[4];
	struct in_pktinfo pi;
	struct in6_pktinfo pi6;
	struct addr a;
	const char *why;
	size_t len;

	assert_int_equal(addr_parse("198.18.1.2:5000", &a, &why), 0);
	len = sock_tx_control(u.buf, &a, 0);
	assert_int_equal(len, CMSG_SPACE(sizeof(pi)));
	assert_int_equal(tx_cmsgs(u.buf, len, c, 4), 1);
	assert_int_equal(c[0]->cmsg_level, IPPROTO_IP);
	assert_int_equal(c[0]->cmsg_type, IP_PKTINFO);
	assert_int_equal(c[0]->cmsg_len, CMSG_LEN(sizeof(pi)));
	memcpy(&pi, CMSG_DATA(c[0]), sizeof(pi));
	assert_memory_equal(&pi.ipi_spec_dst, &a.in4.sin_addr, 4);
	assert_int_equal(pi.ipi_ifindex, 0);

	assert_int_equal(addr_parse("[2001:2:0:1::2]:5000", &a, &why), 0);
	len = sock_tx_control(u.buf, &a, 0);
	assert_int_equal(len, CMSG_SPACE(sizeof(pi6)));
	assert_int_equal(tx_cmsgs(u.buf, len, c, 4), 1);
	assert_int_equal(c[0]->cmsg_level, IPPROTO_IPV6);
	assert_int_equal(c[0]->cmsg_type, IPV6_PKTINFO);
	memcpy(&pi6, CMSG_DATA(c[0]), sizeof(pi6));
	assert_memory_equal(&pi6.ipi6_addr, &a.in6.sin6_addr, 16);
	assert_int_equal(pi6.ipi6_ifindex, 0);
}

/* UDP GSO: UDP_SEGMENT with the segment size, alone or after the source address, within
 * the SOCK_TX_CONTROL_LEN the senders reserve. */
static void test_tx_segment(void **state)
{
	union tx_control u;
	struct cmsghdr *c[4];
	struct addr a;
	const char *why;
	uint16_t seg;
	size_t len;

	len = sock_tx_control(u.buf, NULL, 1200);
	assert_int_equal(len, CMSG_SPACE(sizeof(uint16_t)));
	assert_int_equal(tx_cmsgs(u.buf, len, c, 4), 1);
	assert_int_equal(c[0]->cmsg_level, SOL_UDP);
	assert_int_equal(c[0]->cmsg_type, UDP_SEGMENT);
	assert_int_equal(c[0]->cmsg_len, CMSG_LEN(sizeof(uint16_t)));
	memcpy(&seg, CMSG_DATA(c[0]), sizeof(seg));
	assert_int_equal(seg, 1200);

	/* the largest combination: IPv6 source and a segment size */
	assert_int_equal(addr_parse("[2001:2:0:1::2]:5000", &a, &why), 0);
	len = sock_tx_control(u.buf, &a, 100);
	assert_true(len <= SOCK_TX_CONTROL_LEN);
	assert_int_equal(tx_cmsgs(u.buf, len, c, 4), 2);
	assert_int_equal(c[0]->cmsg_type, IPV6_PKTINFO);
	assert_int_equal(c[1]->cmsg_level, SOL_UDP);
	assert_int_equal(c[1]->cmsg_type, UDP_SEGMENT);
	memcpy(&seg, CMSG_DATA(c[1]), sizeof(seg));
	assert_int_equal(seg, 100);
}

/* The v6 source address written for a send reads back as the local address of a receive. */
static void test_tx_rx_v6_round_trip(void **state)
{
	union tx_control u;
	struct sock_rx_meta m = { 0 };
	struct cmsghdr *c[4];
	struct addr a;
	const char *why;
	size_t len;
	int i, n;

	assert_int_equal(addr_parse("[2001:2:0:1::7]:0", &a, &why), 0);
	len = sock_tx_control(u.buf, &a, 9000);
	n = tx_cmsgs(u.buf, len, c, 4);
	for (i = 0; i < n; i++)
		sock_rx_cmsg(c[i], &m);
	assert_true(m.has_local);
	assert_true(addr_equal(&m.local, &a));
}

/* A refused GSO send goes again without its UDP_SEGMENT: the source address stays. */
static void test_tx_take_gso(void **state)
{
	union tx_control u;
	struct msghdr msg = { .msg_control = u.buf };
	struct cmsghdr *c[4];
	struct addr a;
	const char *why;

	assert_int_equal(addr_parse("[2001:2:0:1::2]:5000", &a, &why), 0);
	msg.msg_controllen = sock_tx_control(u.buf, &a, 1400);
	assert_int_equal(sock_tx_take_gso(&msg), 1400);
	assert_ptr_equal(msg.msg_control, u.buf);
	assert_int_equal(msg.msg_controllen, CMSG_SPACE(sizeof(struct in6_pktinfo)));
	assert_int_equal(tx_cmsgs(u.buf, msg.msg_controllen, c, 4), 1);
	assert_int_equal(c[0]->cmsg_type, IPV6_PKTINFO);
	assert_int_equal(sock_tx_take_gso(&msg), 0); /* none left */

	/* only a segment size: no control data at all afterwards */
	msg = (struct msghdr){ .msg_control = u.buf };
	msg.msg_controllen = sock_tx_control(u.buf, NULL, 100);
	assert_int_equal(sock_tx_take_gso(&msg), 100);
	assert_int_equal(msg.msg_controllen, 0);
	assert_null(msg.msg_control);
}

static void test_segments(void **state)
{
	static const struct {
		uint32_t len;
		uint16_t gso;
		uint32_t want;
	} cases[] = {
		{ 0, 0, 1 },	   { 100, 0, 1 },      { 65000, 0, 1 }, /* no GSO: one datagram */
		{ 0, 100, 1 },	   { 100, 100, 1 },    { 99, 100, 1 },
		{ 101, 100, 2 },   { 1000, 100, 10 },  { 1001, 100, 11 },
		{ 65535, 1, 65535 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(sock_segments(cases[i].len, cases[i].gso), cases[i].want);
}

/* How many descriptors this process has open (-1: /proc/self/fd unreadable). */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n; /* (the same count with the directory's own fd in it every time) */
}

/* In a network namespace of its own (lo up, one veth with 198.18.8.1 and 2001:2:0:8::1): the
 * addresses it has bind, others are refused with EADDRNOTAVAIL, and no socket stays open. */
static int probe_local_body(void)
{
	struct addr a;
	const char *why;
	int n;

	if (private_netns())
		return 77;
	if (system("ip link set lo up && " NETNS_TWO_LINKS "true"))
		return 77;
	if (addr_parse("198.18.8.1:5300", &a, &why) || sock_probe_local(&a))
		return 2;
	if (addr_parse("[2001:2:0:8::1]:53", &a, &why) || sock_probe_local(&a))
		return 3;
	if (addr_parse("127.0.0.1:5300", &a, &why) || sock_probe_local(&a))
		return 4;
	if (addr_parse("198.18.77.1:5300", &a, &why) || sock_probe_local(&a) != -EADDRNOTAVAIL)
		return 5;
	if (addr_parse("[2001:2:0:77::1]:5300", &a, &why) ||
	    sock_probe_local(&a) != -EADDRNOTAVAIL)
		return 6;
	/* the probe keeps no socket (so no port): as many descriptors open after it as before,
	 * after a failed one too */
	n = open_fds();
	if (addr_parse("198.18.8.1:5300", &a, &why) || n < 0 || sock_probe_local(&a) ||
	    open_fds() != n)
		return 7;
	if (addr_parse("198.18.77.1:5300", &a, &why) || !sock_probe_local(&a) || open_fds() != n)
		return 8;
	/* set up as a listener: IPV6_V6ONLY refuses a mapped IPv4 address (before: bound) */
	if (addr_parse("[::ffff:127.0.0.1]:5300", &a, &why) || sock_probe_local(&a) != -EINVAL)
		return 9;
	/* port 0's EADDRINUSE: no ephemeral port, not a port holder */
	if (strstr(sock_probe_hint(-EADDRINUSE), "another program") ||
	    !strstr(sock_probe_hint(-EADDRINUSE), "ephemeral"))
		return 10;
	return 0;
}

static void test_probe_local(void **state)
{
	(void)state;
	run_in_child(probe_local_body);
}

/* Receives one datagram on fd (waiting up to a second) and reads its control data into m.
 * 0 or -1. */
static int recv_meta(int fd, struct sock_rx_meta *m)
{
	union {
		uint8_t buf[SOCK_RX_CONTROL_LEN];
		struct cmsghdr align;
	} u;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char data[16];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;

	memset(m, 0, sizeof(*m));
	if (poll(&p, 1, 1000) != 1 || recvmsg(fd, &msg, 0) < 0 || (msg.msg_flags & MSG_CTRUNC))
		return -1;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		sock_rx_cmsg(c, m);
	return 0;
}

/* A listener opened without pktinfo (no filter ran) turned on and off in place, as a reload
 * does (worker.c pktinfo_listeners), in both families on lo: a datagram queued before it was
 * turned on reports nothing (IPv4's carries a pktinfo filled with zeros: before, it read as
 * from 0.0.0.0 to a group) or the truth (IPv6's), one after reports lo and the address it
 * went to, and once turned off none reports again. */
static int pktinfo_toggle_body(void)
{
	static const char *const listen[] = { "127.0.0.1:5301", "[::1]:5301" };
	struct sock_rx_meta m;
	struct addr a;
	const char *why;
	int i, l, tx, lo;

	if (private_netns())
		return 77;
	if (system("ip link set lo up"))
		return 77;
	lo = (int)if_nametoindex("lo");
	for (i = 0; i < 2; i++) {
		if (addr_parse(listen[i], &a, &why))
			return 2;
		l = sock_open_listener(&a, false, -1, false);
		tx = socket(addr_family(&a), SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (l < 0 || tx < 0)
			return 3;
		if (sendto(tx, "a", 1, 0, &a.sa, addr_len(&a)) != 1 || recv_meta(l, &m) ||
		    m.has_local || m.ifindex) /* (not asked) */
			return 4;
		if (sendto(tx, "b", 1, 0, &a.sa, addr_len(&a)) != 1 ||
		    sock_report_pktinfo(l, &a, true) ||
		    sendto(tx, "c", 1, 0, &a.sa, addr_len(&a)) != 1)
			return 5;
		/* b: queued before */
		if (recv_meta(l, &m) || (m.has_local && (m.ifindex != lo || m.to_group)) ||
		    (!m.has_local && m.ifindex))
			return 6;
		addr_set_port(&a, 0);
		if (recv_meta(l, &m) || !m.has_local || m.ifindex != lo || m.to_group ||
		    !addr_equal(&m.local, &a))
			return 7;
		addr_set_port(&a, 5301);
		if (sock_report_pktinfo(l, &a, false) ||
		    sendto(tx, "d", 1, 0, &a.sa, addr_len(&a)) != 1 || recv_meta(l, &m) ||
		    m.has_local || m.ifindex)
			return 8;
		close(tx);
		close(l);
	}
	return 0;
}

static void test_pktinfo_toggle(void **state)
{
	(void)state;
	run_in_child(pktinfo_toggle_body);
}

/* Drops CAP_NET_BIND_SERVICE from the calling thread's effective set: as a relay's worker
 * runs without it. 0 or -errno. */
static int drop_bind_service(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[0].effective &= ~(1u << CAP_NET_BIND_SERVICE);
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* sock_open_upstream says which step failed: connect's EACCES (a prohibit route) is the
 * route's to the upstream, a bind's EACCES (a client's low port, source = "client", without
 * CAP_NET_BIND_SERVICE) and EADDRNOTAVAIL are the socket's own (worker_session_get counts
 * only the first as upstream_unreachable). */
static int open_upstream_step_body(void)
{
	static const char *const prohibited[] = { "198.18.66.1:9000", "[2001:2:0:66::1]:9000" };
	struct addr up, bind;
	struct sock_source src = { .bind = &bind };
	const char *why;
	bool at_connect;
	int i, fd;

	if (private_netns())
		return 77;
	if (system("ip link set lo up && " NETNS_TWO_LINKS
		   "ip route add prohibit 198.18.66.0/24 && "
		   "ip -6 route add prohibit 2001:2:0:66::/64"))
		return 77;
	for (i = 0; i < 2; i++) {
		if (addr_parse(prohibited[i], &up, &why))
			return 2;
		at_connect = false;
		fd = sock_open_upstream(&up, false, NULL, &at_connect);
		if (fd != -EACCES || !at_connect)
			return 3 + i;
	}
	/* a reachable member: no error, and at_connect left false */
	if (addr_parse("198.18.8.2:9000", &up, &why))
		return 5;
	at_connect = true;
	fd = sock_open_upstream(&up, false, NULL, &at_connect);
	if (fd < 0 || at_connect)
		return 6;
	close(fd);
	/* a source no interface has: the bind's error */
	if (addr_parse("198.18.77.1:0", &bind, &why))
		return 7;
	at_connect = true;
	fd = sock_open_upstream(&up, false, &src, &at_connect);
	if (fd != -EADDRNOTAVAIL || at_connect)
		return 8;
	/* a low port without CAP_NET_BIND_SERVICE: EACCES from the bind, not from connect */
	if (addr_parse("198.18.8.1:514", &bind, &why) || drop_bind_service())
		return 9;
	at_connect = true;
	fd = sock_open_upstream(&up, false, &src, &at_connect);
	if (fd != -EACCES || at_connect)
		return 10;
	return 0;
}

static void test_open_upstream_step(void **state)
{
	(void)state;
	run_in_child(open_upstream_step_body);
}

/* IPv4 or IPv6 (v6) route command text for 198.18.8.7 / 2001:2:0:8::7 on rrd0 with mtu m. */
static int route_mtu(bool v6, const char *verb, int m)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip %s route %s %s dev rrd0 mtu %d", v6 ? "-6" : "-4", verb,
		 v6 ? "2001:2:0:8::7/128" : "198.18.8.7/32", m);
	return system(cmd);
}

/* The path MTUs the fast path's rules follow (offload_session_pmtu): sock_route_mtu reads a
 * route's mtu metric afresh as it changes; a connected socket's sock_path_mtu follows a
 * change once it sends (its cached route is looked up again then: the datagrams the fast
 * path passes up for a path MTU that rose); a send refused as longer than the path MTU
 * queues an EMSGSIZE that sock_drain_errors_mtu tells (one entry). Both families. */
static int path_mtu_body(void)
{
	static const char *const to[] = { "198.18.8.7:9000", "[2001:2:0:8::7]:9000" };
	static const char *const other[] = { "198.18.8.8:9000", "[2001:2:0:8::8]:9000" };
	static char big[1400];
	struct addr up, up2;
	const char *why;
	bool too_big;
	uint32_t n;
	int i, fd, v;

	if (private_netns())
		return 77;
	if (system("ip link set lo up && " NETNS_TWO_LINKS "true"))
		return 77;
	for (i = 0; i < 2; i++) {
		if (addr_parse(to[i], &up, &why) || addr_parse(other[i], &up2, &why) ||
		    route_mtu(i, "add", 1300))
			return 2;
		if (sock_route_mtu(NULL, NULL, &up) != 1300 || sock_route_mtu(NULL, NULL, &up2) != 1500)
			return 10 * (i + 1) + 1;
		fd = sock_open_upstream(&up, false, NULL, NULL);
		if (fd < 0 || sock_path_mtu(fd, &up) != 1300)
			return 10 * (i + 1) + 2;
		if (route_mtu(i, "change", 1400) || sock_route_mtu(NULL, NULL, &up) != 1400)
			return 10 * (i + 1) + 3;
		/* a send takes the changed route (a small one: no neighbour answers) */
		if (send(fd, "x", 1, 0) != 1 || sock_path_mtu(fd, &up) != 1400)
			return 10 * (i + 1) + 4;
		/* longer than the path MTU with DF: refused, and queued under IP_RECVERR */
		v = i ? IPV6_PMTUDISC_DO : IP_PMTUDISC_DO;
		if (setsockopt(fd, i ? IPPROTO_IPV6 : IPPROTO_IP,
			       i ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER, &v, sizeof(v)))
			return 10 * (i + 1) + 5;
		if (send(fd, big, sizeof(big), 0) != -1 || errno != EMSGSIZE)
			return 10 * (i + 1) + 6;
		if (sock_drain_errors_mtu(fd, 8, &too_big, &n) != EMSGSIZE || !too_big || n != 1)
			return 10 * (i + 1) + 7;
		if (sock_drain_errors_mtu(fd, 8, &too_big, &n) != 0 || too_big || n != 0)
			return 10 * (i + 1) + 8;
		close(fd);
	}
	return 0;
}

static void test_path_mtu(void **state)
{
	(void)state;
	run_in_child(path_mtu_body);
}

/* The replies' path MTU (sock_route_mtu, sock_route_hop_limit) is their route's: with the
 * listen address (on lo; not the one the kernel would pick, which IPv4's connect looks the
 * route up again with) as the source a rule "from ADDR" chooses table 10, whose route has
 * mtu 1300 (without it, the main table's: 1500); with the listener's mark a rule "fwmark 7" chooses
 * table 11 (mtu 1280); with its device, the main table's route on that device (rrd1: mtu
 * 1360, behind rrd0's). Both families. */
static int route_from_body(void)
{
	static const char *const to[] = { "198.18.8.7:9000", "[2001:2:0:8::7]:9000" };
	static const char *const from[] = { "198.18.10.1:5000", "[2001:2:0:10::1]:5000" };
	static const char *const setup[] = {
		"ip -4 addr add 198.18.10.1/32 dev lo && "
		"ip -4 rule add from 198.18.10.1 lookup 10 && "
		"ip -4 route add 198.18.8.7/32 dev rrd0 mtu 1300 table 10 && "
		"ip -4 rule add fwmark 7 lookup 11 && "
		"ip -4 route add 198.18.8.7/32 dev rrd0 mtu 1280 table 11 && "
		"ip -4 route add 198.18.8.7/32 dev rrd0 metric 10 && "
		"ip -4 route add 198.18.8.7/32 dev rrd1 mtu 1360 metric 50",
		"ip -6 addr add 2001:2:0:10::1/128 dev lo nodad && "
		"ip -6 rule add from 2001:2:0:10::1 lookup 10 && "
		"ip -6 route add 2001:2:0:8::7/128 dev rrd0 mtu 1300 table 10 && "
		"ip -6 rule add fwmark 7 lookup 11 && "
		"ip -6 route add 2001:2:0:8::7/128 dev rrd0 mtu 1280 table 11 && "
		"ip -6 route add 2001:2:0:8::7/128 dev rrd0 metric 10 && "
		"ip -6 route add 2001:2:0:8::7/128 dev rrd1 mtu 1360 metric 50",
	};
	struct sock_route_keys mark = { .mark = 7 }, dev = { .oif = 0 };
	struct addr up, src;
	const char *why;
	int i, mtu;

	if (private_netns())
		return 77;
	if (system("ip link set lo up && " NETNS_TWO_LINKS "true"))
		return 77;
	dev.oif = (int)if_nametoindex("rrd1");
	for (i = 0; i < 2; i++) {
		if (addr_parse(to[i], &up, &why) || addr_parse(from[i], &src, &why) ||
		    system(setup[i]) || !dev.oif)
			return 2;
		if (sock_route_mtu(NULL, NULL, &up) != 1500)
			return 10 * (i + 1) + 1;
		if (sock_route_mtu(&src, NULL, &up) != 1300)
			return 10 * (i + 1) + 2;
		mtu = 0;
		if (sock_route_hop_limit(&src, NULL, &up, &mtu) <= 0 || mtu != 1300)
			return 10 * (i + 1) + 3;
		if (sock_route_mtu(NULL, &mark, &up) != 1280)
			return 10 * (i + 1) + 4;
		if (sock_route_mtu(NULL, &dev, &up) != 1360)
			return 10 * (i + 1) + 5;
	}
	return 0;
}

static void test_route_from(void **state)
{
	(void)state;
	run_in_child(route_from_body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_local),
		cmocka_unit_test(test_pktinfo_toggle),
		cmocka_unit_test(test_open_upstream_step),
		cmocka_unit_test(test_path_mtu),
		cmocka_unit_test(test_route_from),
		cmocka_unit_test(test_rx_pktinfo_v4),
		cmocka_unit_test(test_rx_pktinfo_v4_group),
		cmocka_unit_test(test_rx_pktinfo_v6_ovfl_gro),
		cmocka_unit_test(test_rx_pktinfo_v6_multicast),
		cmocka_unit_test(test_rx_odd),
		cmocka_unit_test(test_rx_short),
		cmocka_unit_test(test_err_cmsg),
		cmocka_unit_test(test_err_classes),
		cmocka_unit_test(test_tx_none),
		cmocka_unit_test(test_tx_pktinfo),
		cmocka_unit_test(test_tx_segment),
		cmocka_unit_test(test_tx_rx_v6_round_trip),
		cmocka_unit_test(test_tx_take_gso),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_gso_pending),
	};
	return cmocka_run_group_tests_name("sock", tests, NULL, NULL);
}
