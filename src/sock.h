/* SPDX-License-Identifier: MIT */
/* UDP socket set-up and the ancillary data the relay reads and writes. */
#ifndef RINGRELAY_SOCK_H
#define RINGRELAY_SOCK_H

#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"

/* Receive-side metadata from one datagram's control messages. */
struct sock_rx_meta {
	struct addr local;   /* destination address (IP_PKTINFO / IPV6_PKTINFO), port unset */
	bool has_local;
	bool has_ovfl;
	uint32_t ovfl;	     /* SO_RXQ_OVFL: the socket's cumulative drop count */
};

/* Control space a listener's receive needs: pktinfo (IPv6 size) + SO_RXQ_OVFL. */
#define SOCK_RX_CONTROL_LEN 64
/* Control space a reply's sendmsg needs: one pktinfo. */
#define SOCK_TX_CONTROL_LEN 48

/* A non-blocking listener bound to a with SO_REUSEPORT (one per worker), SO_RXQ_OVFL, and
 * destination-address reporting when a is a wildcard. Returns the fd or -errno. */
int sock_open_listener(const struct addr *a);
/* A non-blocking socket connected to upstream (an ephemeral source port of its own), with
 * IP_RECVERR so ICMP errors and local ENOBUFS surface as errors. Returns the fd or -errno. */
int sock_open_upstream(const struct addr *upstream);

/* Applies one received control message to m (unknown ones are ignored). */
void sock_rx_cmsg(const struct cmsghdr *c, struct sock_rx_meta *m);
/* Writes a pktinfo control message choosing local as the source of a reply. buf must hold
 * SOCK_TX_CONTROL_LEN bytes; returns the msg_controllen to use. */
size_t sock_tx_pktinfo(void *buf, const struct addr *local);

#endif
