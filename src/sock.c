// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sock.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78 /* linux/in6.h; glibc 2.36's netinet/in.h lacks it */
#endif

/* Big socket buffers absorb bursts while a worker is busy; SO_*BUFFORCE (root) goes past
 * net.core.[rw]mem_max, the plain option is the unprivileged fallback. */
#define SOCK_BUF_BYTES (4 << 20)

static void set_buffers(int fd)
{
	int v = SOCK_BUF_BYTES;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)))
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)))
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int setopt(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v)) ? -errno : 0;
}

/* A non-blocking UDP socket of a's family with big buffers, and UDP_GRO when gro. */
static int sock_new(const struct addr *a, bool gro)
{
	int fd, err;

	fd = socket(addr_family(a), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = gro ? setopt(fd, SOL_UDP, UDP_GRO, 1) : 0;
	if (err) {
		close(fd);
		return err;
	}
	set_buffers(fd);
	return fd;
}

int sock_steer(int fd, int cpu)
{
	return setopt(fd, SOL_SOCKET, SO_INCOMING_CPU, cpu < 0 ? -1 : cpu);
}

int sock_report_pktinfo(int fd, const struct addr *a, bool on)
{
	return addr_family(a) == AF_INET6 ? setopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, on)
					  : setopt(fd, IPPROTO_IP, IP_PKTINFO, on);
}

int sock_open_listener(const struct addr *a, bool gro, int cpu, bool iif)
{
	bool v6 = addr_family(a) == AF_INET6;
	int fd, err;

	fd = sock_new(a, gro);
	if (fd < 0)
		return fd;
	err = setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (!err)
		err = setopt(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
	if (!err && cpu >= 0)
		err = sock_steer(fd, cpu);
	/* An IPv6 listener serves IPv6 only: IPv4 is configured explicitly, so one code path
	 * handles each family's own addresses and nothing arrives v4-mapped. */
	if (!err && v6)
		err = setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	/* On a wildcard listener replies must leave from the address the client used; with iif
	 * (a filter runs) a session keeps the interface its client's datagrams arrive by. */
	if (!err && (addr_is_any(a) || iif))
		err = sock_report_pktinfo(fd, a, true);
	if (!err && bind(fd, &a->sa, addr_len(a)))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int sock_probe_local(const struct addr *a)
{
	struct addr any_port = *a;
	int fd;

	/* the listener's own set-up (IPV6_V6ONLY, ...), so the probe fails where its bind would */
	addr_set_port(&any_port, 0);
	fd = sock_open_listener(&any_port, false, -1, false);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int sock_probe_bind(const struct addr *a)
{
	int fd, err = 0;

	fd = socket(addr_family(a), SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* (as a listener: IPv4 and IPv6 wildcards do not overlap) */
	if (addr_family(a) == AF_INET6)
		err = setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	if (!err && bind(fd, &a->sa, addr_len(a)))
		err = -errno;
	close(fd);
	return err;
}

const char *sock_probe_hint(int err)
{
	/* port 0: EADDRINUSE means no ephemeral port was free, not another program's port */
	if (err == -EADDRINUSE)
		return " (binding it to port 0 found no free ephemeral port: "
		       "net.ipv4.ip_local_port_range)";
	return sock_listen_hint(err, true);
}

const char *sock_listen_hint(int err, bool start)
{
	switch (err) {
	case -EADDRINUSE:
		return " (another program holds this port: stop it or change the listen address)";
	case -EADDRNOTAVAIL:
		return " (no interface of this host has this address: add it, or listen on a "
		       "wildcard)";
	case -EACCES:
		return start ? " (ports below 1024 need CAP_NET_BIND_SERVICE: start ringrelay as "
			       "root, or grant it the capability, e.g. "
			       "AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd unit)"
			     : " (ports below 1024 need CAP_NET_BIND_SERVICE, which workers hold "
			       "only while they start: a new low port needs a restart)";
	}
	return "";
}

int sock_open_upstream(const struct addr *upstream, bool gro, const struct sock_source *src,
		       bool *at_connect)
{
	const struct addr *fam = upstream ? upstream : src ? src->bind : NULL;
	bool v6, connecting = false;
	int fd, err;

	if (at_connect)
		*at_connect = false;
	if (!fam)
		return -EINVAL;
	v6 = addr_family(fam) == AF_INET6;
	fd = sock_new(fam, gro);
	if (fd < 0)
		return fd;
	/* Not on a socket that is not connected: it sends to several peers, and the error an
	 * ICMP message leaves pending would fail the next send to any of them. Without
	 * IP_RECVERR the kernel reports no ICMP error on such a socket. */
	err = !upstream ? 0
	      : v6	? setopt(fd, IPPROTO_IPV6, IPV6_RECVERR, 1)
			: setopt(fd, IPPROTO_IP, IP_RECVERR, 1);
	/* Replies a full socket dropped are counted as received and dropped, as on listeners. */
	if (!err)
		err = setopt(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
	if (!err && src && src->fwmark)
		err = setopt(fd, SOL_SOCKET, SO_MARK, (int)src->fwmark);
	if (!err && src && src->transparent) {
		err = v6 ? setopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
			 : setopt(fd, IPPROTO_IP, IP_TRANSPARENT, 1);
		if (!err)
			err = v6 ? setopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1)
				 : setopt(fd, IPPROTO_IP, IP_FREEBIND, 1);
		/* Two relays' sessions of one client to different upstreams share its address
		 * and port: the connected 4-tuples still differ. */
		if (!err)
			err = setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	}
	if (!err && src && src->bind && bind(fd, &src->bind->sa, addr_len(src->bind)))
		err = -errno;
	/* A wildcard listener on the port the client sends from (514 -> 514) has SO_REUSEPORT
	 * only, which conflicts with SO_REUSEADDR alone: the session takes it too (a group is
	 * per exact address, so it joins none of the listener's). Only then: each such socket
	 * costs the kernel a reuseport group, made under a global lock. */
	if (err == -EADDRINUSE && src && src->bind && src->transparent) {
		err = setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
		if (!err && bind(fd, &src->bind->sa, addr_len(src->bind)))
			err = -errno;
	}
	/* From here on an error is the route's to the upstream, not this socket's set-up. */
	connecting = !err && upstream;
	if (connecting && connect(fd, &upstream->sa, addr_len(upstream)))
		err = -errno;
	/* IPv6 routes a connect without a source as it was asked (ip6_dst_lookup_tail keeps
	 * that route), but once a route change invalidates it, looks it up again with the source
	 * it picked: another multipath hash, maybe another leg than the one the fast path saw.
	 * A second connect routes it with its source from the start, as IPv4's connect does. */
	if (!err && upstream && v6 && !(src && src->bind) &&
	    connect(fd, &upstream->sa, addr_len(upstream)))
		err = -errno;
	if (err) {
		if (at_connect)
			*at_connect = connecting;
		close(fd);
		return err;
	}
	return fd;
}

int sock_probe_source(const struct addr *a)
{
	struct addr any_port = *a;
	struct sock_source src = { .bind = &any_port };
	int fd;

	addr_set_port(&any_port, 0);
	fd = sock_open_upstream(NULL, false, &src, NULL);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int sock_hop_limit(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), vl = sizeof(int);
	int v = -1;

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family == AF_INET6 ? getsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, &vl)
				     : getsockopt(fd, IPPROTO_IP, IP_TTL, &v, &vl))
		return -errno;
	return v >= 1 && v <= 255 ? v : -EINVAL;
}

/* A fresh socket with the route keys k (NULL: none) bound to src's address (NULL: none; its
 * port is not taken) and connected to dst, so routed as the datagrams to dst of an
 * unconnected socket with those keys are when sent from src (connect() on UDP only routes:
 * nothing is sent): a rule "from SRC", a mark or a bound device choose the same route, whose
 * path MTU then is the one those datagrams take. Its fd, or -errno. The uid is the caller's
 * own (the owner of the socket it stands for). */
static int sock_routed(const struct addr *src, const struct sock_route_keys *k,
		       const struct addr *dst)
{
	bool v6 = addr_family(dst) == AF_INET6;
	int fd = socket(addr_family(dst), SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;
	struct addr a;

	if (fd < 0)
		return -errno;
	if (k && k->mark)
		err = setopt(fd, SOL_SOCKET, SO_MARK, (int)k->mark);
	if (!err && k && k->oif)
		err = setopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, k->oif);
	if (!err && src) {
		/* The address alone: a listener's port is taken. Freebind: an address that went
		 * away since still routes as it did. */
		a = *src;
		addr_set_port(&a, 0);
		err = v6 ? setopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1)
			 : setopt(fd, IPPROTO_IP, IP_FREEBIND, 1);
		if (!err && bind(fd, &a.sa, addr_len(&a)))
			err = -errno;
	}
	if (!err && connect(fd, &dst->sa, addr_len(dst)))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int sock_route_hop_limit(const struct addr *src, const struct sock_route_keys *k,
			 const struct addr *dst, int *mtu)
{
	int fd = sock_routed(src, k, dst), v;

	if (fd < 0)
		return fd;
	v = sock_hop_limit(fd);
	if (v >= 0 && mtu) {
		*mtu = sock_path_mtu(fd, dst);
		if (*mtu < 0)
			v = *mtu;
	}
	close(fd);
	return v;
}

int sock_route_mtu(const struct addr *src, const struct sock_route_keys *k,
		   const struct addr *dst)
{
	int fd = sock_routed(src, k, dst), mtu;

	if (fd < 0)
		return fd;
	mtu = sock_path_mtu(fd, dst);
	close(fd);
	return mtu;
}

int sock_route_keys(int fd, struct sock_route_keys *k)
{
	socklen_t len = sizeof(k->mark);
	struct stat st;

	if (fstat(fd, &st) || getsockopt(fd, SOL_SOCKET, SO_MARK, &k->mark, &len))
		return -errno;
	k->uid = st.st_uid;
	len = sizeof(k->oif);
	/* A kernel too old to report it: none (the relay binds no socket to a device). */
	if (getsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &k->oif, &len))
		k->oif = 0;
	return 0;
}

int sock_path_mtu(int fd, const struct addr *peer)
{
	bool v6 = addr_family(peer) == AF_INET6;
	socklen_t len = sizeof(int);
	int mtu;

	if (getsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &mtu, &len))
		return -errno;
	return mtu;
}

int sock_path_payload_max(int fd, const struct addr *peer)
{
	int mtu = sock_path_mtu(fd, peer), hdr;

	if (mtu < 0)
		return mtu;
	/* No IP options or extension headers: the relay sets none. */
	hdr = (addr_family(peer) == AF_INET6 ? 40 : 20) + 8;
	return mtu > hdr ? mtu - hdr : -EMSGSIZE;
}

uint32_t sock_seg_max(int fd, const struct addr *peer)
{
	int mtu = sock_path_payload_max(fd, peer);

	return mtu >= 0 ? (uint32_t)mtu : addr_family(peer) == AF_INET6 ? 1232 : 548;
}

int sock_seg_max_refused(int fd, const struct addr *peer, uint32_t size, int err)
{
	int mtu = fd >= 0 ? sock_path_payload_max(fd, peer) : -EBADF;

	if (mtu >= 0 && (uint32_t)mtu < size)
		return mtu;
	return err == EMSGSIZE ? (int)size - 1 : -1;
}

/* Control space an error-queue read takes: IP_RECVERR's sock_extended_err and the offender's
 * address (an IPv6 one), with room to spare. */
#define SOCK_ERR_CONTROL_LEN 128

int sock_drain_errors_mtu(int fd, uint32_t max, bool *too_big, uint32_t *n_out)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = sizeof(byte) };
	union {
		uint8_t buf[SOCK_ERR_CONTROL_LEN];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	uint32_t n;
	int err, last = 0;

	*too_big = false;
	/* The entry is dequeued whatever fits of it: one byte will do. */
	for (n = 0; n < max; n++) {
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			break;
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			err = sock_err_cmsg(c);
			if (err)
				last = err;
			if (err == EMSGSIZE)
				*too_big = true;
		}
	}
	if (n_out)
		*n_out = n;
	return last;
}

int sock_drain_errors(int fd, uint32_t max)
{
	bool too_big;

	return sock_drain_errors_mtu(fd, max, &too_big, NULL);
}

/* Whether c carries at least len bytes of data. A receive whose control buffer was too small
 * (MSG_CTRUNC) ends in a cmsg the kernel cut short: its cmsg_len covers only what fit, and
 * what follows its data is whatever the buffer held before. */
static bool cmsg_has(const struct cmsghdr *c, size_t len)
{
	return c->cmsg_len >= CMSG_LEN(len);
}

void sock_rx_cmsg(const struct cmsghdr *c, struct sock_rx_meta *m)
{
	if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
		struct in_pktinfo pi;

		if (!cmsg_has(c, sizeof(pi)))
			return;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		/* A datagram queued before IP_PKTINFO was set (a reload turned it on) carries
		 * one all the same, which the kernel filled at its arrival with no interface
		 * and no spec_dst (ipv4_pktinfo_prepare): it says nothing. (IPv6 fills its
		 * own at the receive, from what every datagram keeps.) */
		if (!pi.ipi_ifindex)
			return;
		memset(&m->local, 0, sizeof(m->local));
		m->local.in4.sin_family = AF_INET;
		/* The address a reply leaves from: the destination for unicast, the receiving
		 * interface's for a broadcast, which no datagram may carry as its source. */
		m->local.in4.sin_addr = pi.ipi_spec_dst;
		m->has_local = true;
		m->ifindex = pi.ipi_ifindex;
		/* ipi_addr is the header's destination; the kernel's spec_dst differs from it
		 * for everything but a datagram to one of our unicast addresses (a subnet's
		 * broadcast address tells only that way). */
		m->to_group = IN_MULTICAST(ntohl(pi.ipi_addr.s_addr)) ||
			      pi.ipi_addr.s_addr == htonl(INADDR_BROADCAST) ||
			      pi.ipi_addr.s_addr != pi.ipi_spec_dst.s_addr;
	} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
		struct in6_pktinfo pi;

		if (!cmsg_has(c, sizeof(pi)))
			return;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		memset(&m->local, 0, sizeof(m->local));
		m->local.in6.sin6_family = AF_INET6;
		/* As for IPv4: the destination for unicast; for a multicast one, which no
		 * datagram may carry as its source (the send fails with EINVAL), none: the
		 * kernel picks the reply's source (and the session gets no fast path). */
		if (!IN6_IS_ADDR_MULTICAST(&pi.ipi6_addr))
			m->local.in6.sin6_addr = pi.ipi6_addr;
		m->has_local = true;
		m->ifindex = (int)pi.ipi6_ifindex;
		m->to_group = IN6_IS_ADDR_MULTICAST(&pi.ipi6_addr);
	} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
		if (!cmsg_has(c, sizeof(m->ovfl)))
			return;
		memcpy(&m->ovfl, CMSG_DATA(c), sizeof(m->ovfl));
		m->has_ovfl = true;
	} else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
		int gso;

		if (!cmsg_has(c, sizeof(gso)))
			return;
		memcpy(&gso, CMSG_DATA(c), sizeof(gso));
		m->gso_size = gso > 0 && gso < 65536 ? (uint16_t)gso : 0;
	}
}

int sock_err_cmsg(const struct cmsghdr *c)
{
	struct sock_extended_err ee;

	if (!(c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) &&
	    !(c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR))
		return 0;
	if (!cmsg_has(c, sizeof(ee)))
		return 0;
	memcpy(&ee, CMSG_DATA(c), sizeof(ee));
	return (int)ee.ee_errno;
}

size_t sock_tx_control(void *buf, const struct addr *local, uint16_t gso_size)
{
	struct msghdr msg = { .msg_control = buf, .msg_controllen = SOCK_TX_CONTROL_LEN };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	size_t len = 0;

	memset(buf, 0, SOCK_TX_CONTROL_LEN);
	if (local && addr_family(local) == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = local->in6.sin6_addr };

		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		len += CMSG_SPACE(sizeof(pi));
	} else if (local) {
		struct in_pktinfo pi = { .ipi_spec_dst = local->in4.sin_addr };

		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		len += CMSG_SPACE(sizeof(pi));
	}
	if (gso_size) {
		c = (struct cmsghdr *)((uint8_t *)buf + len);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(gso_size));
		memcpy(CMSG_DATA(c), &gso_size, sizeof(gso_size));
		len += CMSG_SPACE(sizeof(gso_size));
	}
	return len;
}

uint16_t sock_tx_take_gso(struct msghdr *m)
{
	struct cmsghdr *c;
	uint16_t gso;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_SEGMENT)
			continue;
		memcpy(&gso, CMSG_DATA(c), sizeof(gso));
		m->msg_controllen = (size_t)((uint8_t *)c - (uint8_t *)m->msg_control);
		if (!m->msg_controllen)
			m->msg_control = NULL;
		return gso;
	}
	return 0;
}
