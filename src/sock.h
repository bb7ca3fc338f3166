/* SPDX-License-Identifier: MIT */
/* UDP socket set-up and the ancillary data the relay reads and writes. */
#ifndef RINGRELAY_SOCK_H
#define RINGRELAY_SOCK_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"

/* Receive-side metadata from one datagram's control messages. */
struct sock_rx_meta {
	struct addr local;   /* destination address (IP_PKTINFO / IPV6_PKTINFO), port unset */
	bool has_local;
	bool to_group;	     /* sent to a broadcast address or a multicast group (pktinfo) */
	int ifindex;	     /* the interface it arrived by (pktinfo; 0: not known) */
	bool has_ovfl;
	uint32_t ovfl;	     /* SO_RXQ_OVFL: the socket's cumulative drop count */
	uint16_t gso_size;   /* UDP_GRO: the payload holds datagrams of this size (last shorter) */
};

/* Name space a listener's receive takes: a sockaddr_in6, rounded up to 8 bytes. A multishot
 * receive lays header, name, control data and payload out back to back in its buffer, so the
 * control data's struct cmsghdr (8-byte aligned) starts aligned only after a name of this
 * size (28 bytes put it 4 bytes off: undefined behaviour for every access). */
#define SOCK_RX_NAME_LEN 32
/* Control space a listener's receive needs: pktinfo (IPv6 size) and SO_RXQ_OVFL ... */
#define SOCK_RX_CONTROL_LEN 64
/* ... plus, with GRO, the UDP_GRO segment size. */
#define SOCK_RX_GRO_CONTROL_LEN 24
/* A session socket's receive: SO_RXQ_OVFL (plus the GRO size with GRO). */
#define SOCK_RX_OVFL_CONTROL_LEN 24 /* CMSG_SPACE(sizeof(uint32_t)) */
/* Control space a send needs: pktinfo (IPv6 size) and UDP_SEGMENT. */
#define SOCK_TX_CONTROL_LEN 64

/* A non-blocking listener bound to a with SO_REUSEPORT (one per worker), SO_RXQ_OVFL, and
 * destination-address and interface reporting (pktinfo) when a is a wildcard or iif; UDP_GRO
 * when gro; marked with CPU cpu for the group's choice (SO_INCOMING_CPU, steer.h) unless
 * cpu < 0. Returns the fd or -errno. */
int sock_open_listener(const struct addr *a, bool gro, int cpu, bool iif);
/* Turns a listener's (bound to a) destination-address and interface reporting (pktinfo) on or
 * off: 0 or -errno. A datagram queued before it was turned on reports nothing
 * (sock_rx_cmsg), one queued before it was turned off no longer reports. */
int sock_report_pktinfo(int fd, const struct addr *a, bool on);
/* Whether a listener could bind a's address here: binds a throwaway socket, set up as
 * sock_open_listener's, to it with port 0 (no port is taken, nothing is received) and closes
 * it. 0, or -errno: -EADDRNOTAVAIL when no interface of this host has the address. */
int sock_probe_local(const struct addr *a);
/* Whether a listener could bind a (address and port) here, asked without joining anything:
 * binds a throwaway socket set up as sock_open_listener's but without SO_REUSEPORT, and closes
 * it. Such a socket joins no reuseport group, and binds only where no socket holds the port on
 * an overlapping address: it takes no datagram meant for another socket. 0, or -errno; the
 * kernel checks the address (-EADDRNOTAVAIL) and the port's privilege (-EACCES) before the
 * port's holders, so -EADDRINUSE means only that a socket holds it: another program's, or a
 * listener (or SO_REUSEPORT group) a listener could share it with, which the caller tells
 * apart. */
int sock_probe_bind(const struct addr *a);
/* sock_listen_hint for sock_probe_local's err at start (its EADDRINUSE is no port holder's). */
const char *sock_probe_hint(int err);
/* What a user can do about err (-errno) from binding a listener at start, or (start false)
 * at a reload, when the workers no longer hold CAP_NET_BIND_SERVICE: " (...)", or "" when
 * nothing. */
const char *sock_listen_hint(int err, bool start);
/* Marks listener fd with CPU cpu for its reuseport group's choice (SO_INCOMING_CPU), or
 * removes the mark when cpu < 0. Returns 0 or -errno. */
int sock_steer(int fd, int cpu);
/* Where an upstream socket sends from. */
struct sock_source {
	const struct addr *bind; /* bind here first (port 0: an ephemeral one); NULL: no bind */
	bool transparent;	 /* bind may be another host's address (the client's):
				  * IP_TRANSPARENT / IPV6_TRANSPARENT and IP_FREEBIND */
	uint32_t fwmark;	 /* SO_MARK; 0: none */
};

/* A non-blocking socket connected to upstream (an ephemeral source port of its own unless
 * src binds it), with IP_RECVERR so ICMP errors and local ENOBUFS surface as errors; UDP_GRO
 * when gro. upstream NULL: not connected (src->bind must be set; its family is used) and
 * without IP_RECVERR. Its route (a multipath leg) is looked up with its source address, which
 * a route change does not move (an IPv6 socket bound to no address connects twice for that).
 * IP_TRANSPARENT and SO_MARK need CAP_NET_RAW or CAP_NET_ADMIN in the calling thread at this
 * call only (the bind to a foreign address and every send after it need none). Returns the
 * fd or -errno; on an error *at_connect (when not NULL) says whether connect() failed (the
 * route to upstream: sock_err_unreachable tells an unreachable or prohibit route) rather than
 * the socket's own set-up (socket(), a setsockopt or the bind, whatever the errno: a bind's
 * EACCES is a low port without CAP_NET_BIND_SERVICE). */
int sock_open_upstream(const struct addr *upstream, bool gro, const struct sock_source *src,
		       bool *at_connect);
/* Whether a session socket could send from a (a relay's source): binds a throwaway socket, set
 * up as sock_open_upstream's without IP_FREEBIND, to a with port 0 and closes it. 0, or
 * -errno: -EADDRNOTAVAIL when no interface has the address and non-local binds are off. */
int sock_probe_source(const struct addr *a);

/* The longest UDP payload the path of connected socket fd (of peer's family) carries in one
 * unfragmented packet: IP_MTU / IPV6_MTU minus the IP and UDP headers. Returns it or
 * -errno. */
int sock_path_payload_max(int fd, const struct addr *peer);
/* The path MTU of connected socket fd (of peer's family): IP_MTU / IPV6_MTU, which includes
 * the route's mtu metric and a PMTU exception learnt from an ICMP error this socket received
 * (another socket's leaves this one's cached route as it was until it sends). Returns it or
 * -errno. */
int sock_path_mtu(int fd, const struct addr *peer);
/* The same, or when it cannot be asked (no route yet?) what the family guarantees: 1232 (an
 * IPv6 MTU of 1280) or 548 (IPv4's 576). */
uint32_t sock_seg_max(int fd, const struct addr *peer);

/* The kernel refused a UDP GSO send of size-byte segments on fd (connected to peer) with
 * err (positive: EMSGSIZE, EINVAL, EIO): the longest segment to send from now on, from the
 * path MTU asked again when it shrank (some kernels say EINVAL for that), else size - 1 for
 * EMSGSIZE; or -1 when nothing explains it but a kernel or device that cannot segment. */
int sock_seg_max_refused(int fd, const struct addr *peer, uint32_t size, int err);

/* Empties the error queue of an IP_RECVERR socket (at most max entries): each ICMP error
 * queues one there and nothing else reads it, so left alone they fill the receive buffer
 * (their memory counts against it, and replies then drop) and keep the socket readable for
 * poll (EPOLLERR). Returns the errno of the newest entry removed (the ICMP error that set
 * the pending error last, or a local error IP_RECVERR queued), 0 when the queue was empty:
 * what failed a send that did not say (sendmmsg reports how many it sent, not why the next
 * failed, and the socket's pending error that failed it is gone by then). */
int sock_drain_errors(int fd, uint32_t max);
/* sock_drain_errors, and in *too_big whether any entry removed was EMSGSIZE: an ICMP
 * "fragmentation needed" / "packet too big" (the path MTU fell), or a send the kernel refused
 * as longer than the path MTU; in *n (when not NULL) how many entries it removed. */
int sock_drain_errors_mtu(int fd, uint32_t max, bool *too_big, uint32_t *n);
/* The errno an error-queue control message (IP_RECVERR, IPV6_RECVERR) carries; 0 for any
 * other, or one cut short. */
int sock_err_cmsg(const struct cmsghdr *c);

/* The TTL / hop limit the kernel gives a datagram sent on fd (a connected socket: its route's
 * hop limit for IPv6). Returns 1..255 or -errno. */
int sock_hop_limit(int fd);
/* What the kernel's route lookups for a socket's datagrams carry besides addresses and ports. */
struct sock_route_keys {
	uint32_t mark; /* SO_MARK; 0: none */
	int64_t uid;   /* its owner: the uid of its inode, which is the socket's sk_uid */
	int oif;       /* the device it is bound to (SO_BINDTOIFINDEX); 0: none */
};
/* The same for a fresh socket with k's mark and device (NULL: none) and src's address (NULL:
 * none) connected to dst: what the datagrams to dst of an unconnected socket with those keys
 * leave with when sent from src (a listener's replies: a rule "from SRC", a mark or a device
 * may choose their route). Setting a mark takes CAP_NET_RAW or CAP_NET_ADMIN. Returns 1..255
 * or -errno; *mtu (when not NULL) gets that route's path MTU (sock_path_mtu). */
int sock_route_hop_limit(const struct addr *src, const struct sock_route_keys *k,
			 const struct addr *dst, int *mtu);
/* The path MTU (sock_path_mtu) of such a fresh socket: what those datagrams are sent by now,
 * a PMTU exception learnt since included (a connected socket's cached route may predate it).
 * Six syscalls (eight with a mark and a device). Returns it or -errno. */
int sock_route_mtu(const struct addr *src, const struct sock_route_keys *k,
		   const struct addr *dst);

/* Reads socket fd's route keys into *k (three syscalls). Returns 0 or -errno. */
int sock_route_keys(int fd, struct sock_route_keys *k);

/* Applies one received control message to m. Unknown ones are ignored, and so is one whose
 * cmsg_len is too short for what its level and type carry (cut short by MSG_CTRUNC): its
 * data is never read past cmsg_len. */
void sock_rx_cmsg(const struct cmsghdr *c, struct sock_rx_meta *m);
/* Writes the control messages of a send into buf (SOCK_TX_CONTROL_LEN bytes): pktinfo choosing
 * local as the source address when local is not NULL, UDP_SEGMENT when gso_size is not 0.
 * Returns the msg_controllen to use (0: none). */
size_t sock_tx_control(void *buf, const struct addr *local, uint16_t gso_size);

/* Takes the UDP_SEGMENT message sock_tx_control put last in m's control data out of it
 * (the source address, if any, stays): returns its segment size, 0 when there was none. */
uint16_t sock_tx_take_gso(struct msghdr *m);
/* An error a connected UDP socket reports for an ICMP error that came back for an earlier
 * datagram (IP_RECVERR) and says the upstream cannot be reached: port unreachable
 * (ECONNREFUSED); net or host unreachable, IPv4's admin-prohibited, time exceeded, IPv6's
 * address unreachable (EHOSTUNREACH, ENETUNREACH); IPv6's admin-prohibited, source policy
 * and reject route (EACCES); IPv4's host unknown (EHOSTDOWN), host isolated (ENONET) and
 * protocol unreachable (ENOPROTOOPT: the host has no UDP). A notice about the upstream, not
 * a fault of this socket or of the datagrams after it. The same errnos from the kernel's
 * own route lookup (an unreachable or prohibit route) say the same. */
static inline bool sock_err_unreachable(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
	       err == EACCES || err == EHOSTDOWN || err == ENONET || err == ENOPROTOOPT;
}

/* Whether a send that failed with err on a socket with IP_RECVERR may have left an entry in
 * its error queue: any error an ICMP message leaves pending (an unreachable above; EMSGSIZE
 * for "fragmentation needed" or "packet too big"; EPROTO for a parameter problem; EOPNOTSUPP
 * for IPv4's source route failed), whose copy the kernel queued with it, or a local
 * EMSGSIZE, which IP_RECVERR queues too. The send took the pending error, so no receive
 * meets it: unless the sender reads them (sock_drain_errors), the copies stay charged to the
 * socket's receive buffer, and replies overflow it sooner. A local error queues nothing (a
 * route lookup's EHOSTUNREACH or EACCES): the drain then costs one recvmsg that finds the
 * queue empty, on an error path only. */
static inline bool sock_err_queued(int err)
{
	return sock_err_unreachable(err) || err == EMSGSIZE || err == EPROTO || err == EOPNOTSUPP;
}

/* How the kernel refuses a UDP GSO send: EMSGSIZE or EINVAL for segments longer than the
 * path's MTU, EIO where the device or a transform cannot segment. */
static inline bool sock_err_gso_refused(int err)
{
	return err == EMSGSIZE || err == EINVAL || err == EIO;
}

/* A UDP GSO send of size-byte segments on a connected socket failed with err (positive), and
 * draining the socket's error queue after it found queued (the newest copy's errno, 0: the
 * queue was empty; too_big: an EMSGSIZE among the copies); mtu is the path's payload maximum
 * asked after that drain (sock_path_payload_max; < 0: not asked, or unknown). Whether the
 * send took an ICMP error an earlier datagram drew, left pending on the socket, rather than
 * meeting a refusal of its own: an error whose copy was queued (an unreachable, a parameter
 * problem, ...), or a "packet too big" whose copy was queued while the segments still fit the
 * path MTU it taught (the datagram that drew it was longer). Such a send goes again whole
 * (up to WORKER_SEND_AGAIN_MAX times, worker_backend.h). Anything else (EINVAL, EIO,
 * EMSGSIZE with no copy or with segments the path no longer takes, a route's own error,
 * which queues nothing) is handled as a refusal or a loss. */
static inline bool sock_gso_pending(int err, int queued, bool too_big, uint32_t size, int mtu)
{
	if (!queued || !sock_err_queued(err))
		return false;
	if (err != EMSGSIZE)
		return true;
	return too_big && mtu >= 0 && (uint32_t)mtu >= size;
}

/* How many datagrams a payload of len bytes carries when cut in gso_size pieces (0: one). */
static inline uint32_t sock_segments(uint32_t len, uint16_t gso_size)
{
	return gso_size && len > gso_size ? (len + gso_size - 1) / gso_size : 1;
}

#endif
