/* SPDX-License-Identifier: MIT */
/* Interface facts and link events from rtnetlink. The only user of libnl: nothing of libnl
 * appears in this header, and every error comes back as -errno. */
#ifndef RINGRELAY_NETLINK_H
#define RINGRELAY_NETLINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

/* What the relay wants to know about an interface. */
struct netlink_link {
	uint32_t rx_queues; /* RX queues (at least 1) */
	uint32_t mtu;	    /* bytes of IP packet the link carries */
	bool loopback;
	bool up; /* administratively up (IFF_UP) */
};

/* Fills info for ifname. Returns 0, -ENODEV when there is no such interface, or -errno. */
int netlink_link_info(const char *ifname, struct netlink_link *info);

/* RX queue count of ifname (>= 1 for every real link, 1 for lo). Returns 0, -ENODEV when
 * there is no such interface, or another -errno. */
int netlink_rx_queues(const char *ifname, uint32_t *queues);

/* The interface that holds the local address a (port ignored) in our network namespace.
 * Returns 0, -ENOENT when no interface holds it (a wildcard address never matches), or
 * another -errno. */
int netlink_ifname_of_addr(const struct addr *a, char ifname[IF_NAMESIZE]);

/* Link watcher for main's poll loop. cb runs inside netlink_watch_process, once per link that
 * appeared (present = true) or disappeared (present = false) since the watch was made; renames
 * and flag changes are not reported. */
struct netlink_watch;

int netlink_watch_new(struct netlink_watch **out,
		      void (*cb)(void *arg, const char *ifname, int ifindex, bool present),
		      void *arg);
/* Non-blocking fd to poll for POLLIN. */
int netlink_watch_fd(const struct netlink_watch *w);
/* Reads every pending event and runs cb for each. After the kernel dropped events (socket
 * overrun) it re-reads the link table and reports the difference, so no change is lost.
 * Returns the number of messages handled (>= 0) or -errno. */
int netlink_watch_process(struct netlink_watch *w);
void netlink_watch_free(struct netlink_watch *w);

#endif
