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
	bool up;	 /* administratively up (IFF_UP) */
	bool eth_frames; /* its frames start with an Ethernet header (Ethernet, loopback) */
	uint16_t type;	 /* ARPHRD_*: 65534 (NONE) a tun or WireGuard, 768 ipip, ... */
	uint8_t mac[6];	 /* its own address (IFLA_ADDRESS) when that is 6 bytes, else zero */
	char kind[16];	 /* IFLA_INFO_KIND ("bond", "veth", ...), "" for none (a NIC) */
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

/* A flow as a socket's route lookup describes it (the kernel's flowi): RTM_GETROUTE asks with
 * all of it, so that the rules (from, fwmark, uidrange, ipproto, sport, dport, oif) and the
 * multipath hash choose the route and the leg they chose for the socket. */
struct netlink_flow {
	const struct addr *dst; /* its port is the destination port */
	const struct addr *src; /* NULL: none (the lookup picks the source); else a local
				 * address of dst's family */
	uint8_t proto;		/* IPPROTO_UDP, or 0: none, and no ports */
	bool no_ports;		/* with proto: ports 0, as a lookup that knows only the
				 * protocol (bpf_redirect_neigh's) */
	uint16_t sport;		/* with proto: the source port */
	uint32_t mark;		/* SO_MARK; 0: none */
	int64_t uid;		/* the socket's owner (sk_uid); -1: the caller's */
	int oif;		/* the device the socket is bound to; 0: none */
};

#define NETLINK_ROUTE_LEGS 16

/* One next hop: its device and gateway. */
struct netlink_leg {
	int oif;
	int gw_family; /* AF_INET, AF_INET6, or 0 (on-link: the destination itself) ... */
	uint8_t gw[16]; /* ... its address (IPv4 in the first 4 bytes) */
};

/* Where the kernel routes a flow (netlink_route_get). */
struct netlink_route {
	/* NETLINK_ROUTE_LEG: the leg the flow takes */
	int oif;
	int gw_family;
	uint8_t gw[16];
	bool by_policy;	 /* from another table than main: a policy rule chose it (both) */
	/* NETLINK_ROUTE_ALL: the route's live next hops: 1, more for a multipath route (the
	 * first NETLINK_ROUTE_LEGS of them in legs) */
	uint32_t n_legs;
	struct netlink_leg legs[NETLINK_ROUTE_LEGS];
};

/* A route socket kept open for many lookups (one per worker: netlink_route_get from one
 * thread at a time). Returns 0 or -errno. */
struct netlink_rtsock;
int netlink_rtsock_new(struct netlink_rtsock **out);
void netlink_rtsock_free(struct netlink_rtsock *ns);

#define NETLINK_ROUTE_LEG 1u /* the leg the flow takes (one RTM_GETROUTE) */
#define NETLINK_ROUTE_ALL 2u /* the route's legs (one RTM_GETROUTE with RTM_F_FIB_MATCH) */

/* Where the kernel routes flow fl from this namespace (RTM_GETROUTE, as for a socket with fl's
 * addresses, ports, mark and owner: rules that choose a table by source, mark or uid apply,
 * and the multipath hash sees the protocol and ports), on ns (NULL: a socket of its own):
 * what (NETLINK_ROUTE_*) says which parts of *rt to fill. Returns 0 with *rt, -ENETUNREACH
 * when there is no route, -EADDRNOTAVAIL for a link-local dst or src (its scope is not
 * passed, so the answer would be any link's), or another -errno. With both parts, a FIB
 * match that gets no answer (the route changed in between?) leaves the one leg. */
int netlink_route_get(struct netlink_rtsock *ns, const struct netlink_flow *fl, unsigned int what,
		      struct netlink_route *rt);

/* Whether family's forwarding is on for device ifindex (RTM_GETNETCONF on ns): 1, 0, or
 * -errno. */
int netlink_forwarding(struct netlink_rtsock *ns, int family, int ifindex);

/* Adds name to names[0..n) unless it is there already or n == max; returns the new count. */
uint32_t netlink_ifname_add(char (*names)[IF_NAMESIZE], uint32_t n, uint32_t max, const char *name);

/* Adds the interface of each specific address of addrs[0..n_addrs) to names (as
 * netlink_ifname_add); a wildcard address sets *any instead, and one on no interface now sets
 * *missing (when not NULL). Returns the new count. */
uint32_t netlink_addrs_ifnames(const struct addr *addrs, uint32_t n_addrs,
			       char (*names)[IF_NAMESIZE], uint32_t n, uint32_t max, bool *any,
			       bool *missing);

/* The IFA_F_* flags of local address a (port and scope ignored) on whichever interface holds
 * it, IFA_FLAGS included (IFA_F_TENTATIVE: IPv6 duplicate address detection still runs, and
 * a bind gets EADDRNOTAVAIL; IFA_F_DADFAILED: it found the address in use on the link).
 * Returns 0, -ENOENT when no interface holds a, or another -errno. */
int netlink_addr_flags(const struct addr *a, uint32_t *flags);

/* The interfaces that hold a local address: a's own interface for a specific address, or for
 * a wildcard every interface with an address of a's family (loopback excluded). Writes up to
 * max ifindexes to out; returns how many, or -errno. */
int netlink_addr_ifindexes(const struct addr *a, int *out, int max);

/* A libnl error (negative NLE_*) as a negative errno. */
int netlink_errno(int nle);

/* One request to the "netdev" generic netlink family (xdp-features, NAPI): cmd with flags
 * (NLM_F_DUMP for a dump), its attributes written by put (< 0 when they do not fit), each
 * reply handed to cb (NULL: only the ack matters). Returns 0, -EOPNOTSUPP on a kernel without
 * the family or the command, or another -errno (the kernel's answer). */
struct nl_msg;
int netlink_netdev_call(uint8_t cmd, int flags, int (*put)(struct nl_msg *, const void *),
			const void *put_arg, int (*cb)(struct nl_msg *, void *), void *cb_arg);

/* The netdev generic netlink family's xdp-features of ifindex (NETDEV_XDP_ACT_* bits, 6.3+).
 * Returns 0 with *features, -EOPNOTSUPP when the kernel has no such family, or -errno. */
int netlink_xdp_features(int ifindex, uint64_t *features);
#define NETLINK_XDP_ACT_BASIC (1ull << 0)
#define NETLINK_XDP_ACT_REDIRECT (1ull << 1)
#define NETLINK_XDP_ACT_NDO_XMIT (1ull << 2)

/* netlink_link_info of the interface ifindex: 0, or -errno (-ENXIO: no such ifindex). */
int netlink_link_at(int ifindex, struct netlink_link *info);
/* The links whose master (IFLA_MASTER) is ifindex, in this network namespace: a bond's or
 * team's slaves, a bridge's or VRF's ports, hv_netvsc's VF (not a VLAN's or macvlan's
 * parent: that is their link, not their master). Their names, ", " between, as far as they
 * fit in names[len]. Returns how many, or -errno. */
int netlink_lower_links(int ifindex, char *names, size_t len);
/* The devices directly below ifindex, their indexes in out (at most max): a VLAN's, macvlan's
 * or ipvlan's link (IFLA_LINK, in this namespace), and the links whose master is ifindex (a
 * bridge's, bond's or team's ports). One level only. Returns how many, or -errno. */
int netlink_lower_ifindexes(int ifindex, int *out, int max);
/* True when ifindex is a loopback device. */
bool netlink_is_loopback(int ifindex);

/* 1 when the frames of ifindex start with an Ethernet header, as the BPF program reads them;
 * 0 for a layer 3 device (tun, WireGuard, ipip/gre/sit, ppp: XDP and tc data starts at the IP
 * header there); -errno when it could not be asked (no such ifindex: -ENXIO or -ENODEV, a
 * netlink failure), which says nothing about the device. */
int netlink_eth_frames(int ifindex);

/* How many tc filters the clsact qdisc of ifindex holds, ingress and egress together. */
int netlink_clsact_filters(int ifindex, uint32_t *count);

/* The priorities of the classic filters on ifindex's clsact ingress whose handle is handle,
 * at most max into prios. Returns how many there are (may exceed max; 0 also without a
 * clsact qdisc), or -errno. */
int netlink_ingress_handle_prios(int ifindex, uint32_t handle, uint32_t *prios, uint32_t max);

/* Link watcher for the admin thread's poll loop. It notes each link that appeared, went up or
 * down, got or lost its carrier, was renamed, got another link-layer address, or had an
 * address added or removed, or that disappeared; other changes (an XDP program attached, the
 * MTU) are not noted. cb then reports
 * the noted links at once, each once and as it is at the report, settle_ms (default
 * NETLINK_WATCH_SETTLE_MS) after the first change of a quiet spell. */
struct netlink_watch;

#define NETLINK_WATCH_SETTLE_MS 100
#define NETLINK_WATCH_PENDING 64 /* links noted at once; more report the first at once */

struct netlink_link_change {
	int ifindex;
	char name[IF_NAMESIZE];
	bool present; /* false: gone */
	bool up;      /* up with a carrier */
	bool renewed; /* went and came back (the same ifindex) since the last report */
};

typedef void netlink_watch_fn(void *arg, const struct netlink_link_change *links, uint32_t n);

int netlink_watch_new(struct netlink_watch **out, netlink_watch_fn *cb, void *arg);
/* Non-blocking fd to poll for POLLIN. */
int netlink_watch_fd(const struct netlink_watch *w);
/* Reads every pending event and notes the links they change (more than NETLINK_WATCH_PENDING
 * at once: cb reports the noted ones from here). After the kernel dropped events (socket
 * overrun) it re-reads the tables and notes the difference, so no change is lost. Returns the
 * number of messages handled (>= 0) or -errno. */
int netlink_watch_process(struct netlink_watch *w);
/* Milliseconds until the noted links are due (0: now), or -1 with none noted: a poll
 * timeout. */
int netlink_watch_due_ms(const struct netlink_watch *w);
/* Runs cb with the noted links (due or not, if any) and forgets them. */
void netlink_watch_flush(struct netlink_watch *w);
/* The settle time (tests lengthen it for a loaded machine). */
void netlink_watch_settle(struct netlink_watch *w, uint32_t ms);
void netlink_watch_free(struct netlink_watch *w);

/* Route watcher for the admin thread's poll loop: tells which IPv4 or IPv6 routes (by their
 * destination prefix, any table), or that policy rules or nexthop objects changed, so that
 * the fast path derives the rules of the sessions they may move again (a route that moves may
 * leave no other trace: docs/offload.md). */
struct netlink_routes;

/* A change: family (AF_INET, AF_INET6) and the destination prefix of a route that was added,
 * deleted or changed (dst: 4 or 16 bytes, dst_len bits; 0: a default route), or AF_UNSPEC
 * (dst NULL) for one that may move any route (a rule, a nexthop, an overrun, a message not
 * understood, a deleted IPv4 route an address made: IPv4 flushes the routes through a
 * gateway in it without telling; IPv6 tells each route it deletes). */
typedef void netlink_route_change_fn(void *arg, int family, const uint8_t *dst,
				     unsigned int dst_len);

int netlink_routes_new(struct netlink_routes **out);
/* Non-blocking fd to poll for POLLIN. */
int netlink_routes_fd(const struct netlink_routes *rw);
/* Reads the pending messages (a bounded number; poll says when more wait), telling fn each
 * change they told. Returns how many (an overrun, where the kernel dropped some, counts as
 * one, told as AF_UNSPEC), 0, or -errno (some may be lost). */
int netlink_routes_process(struct netlink_routes *rw, netlink_route_change_fn *fn, void *arg);
void netlink_routes_free(struct netlink_routes *rw);

#endif
