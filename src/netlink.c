// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netconf.h>
#include <net/if_arp.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <linux/pkt_sched.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "netlink.h"

struct netlink_watch {
	struct nl_cache_mngr *mngr; /* owns the event socket and both caches */
	struct nl_cache *links;	    /* not owned: freed with mngr */
	struct nl_cache *addrs;	    /* not owned: freed with mngr */
	struct nl_sock *sync;	    /* request socket for a resync after an overrun */
	netlink_watch_fn *cb;
	void *arg;
	struct netlink_link_change pending[NETLINK_WATCH_PENDING];
	uint32_t n_pending;
	uint32_t settle_ms;
	uint64_t due_ms; /* when the pending links are reported; 0: none */
};

/* libnl returns -NLE_*; the rest of the program speaks -errno. libnl already folded the
 * kernel's errno into NLE_* (nl_syserr2nlerr), so this maps back to the nearest errno. */
int netlink_errno(int nle)
{
	static const int map[] = {
	    [NLE_FAILURE] = EIO,
	    [NLE_INTR] = EINTR,
	    [NLE_BAD_SOCK] = EBADF,
	    [NLE_AGAIN] = EAGAIN,
	    [NLE_NOMEM] = ENOMEM,
	    [NLE_EXIST] = EEXIST,
	    [NLE_INVAL] = EINVAL,
	    [NLE_RANGE] = ERANGE,
	    [NLE_MSGSIZE] = EMSGSIZE,
	    [NLE_OPNOTSUPP] = EOPNOTSUPP,
	    [NLE_AF_NOSUPPORT] = EAFNOSUPPORT,
	    [NLE_OBJ_NOTFOUND] = ENOENT,
	    [NLE_NOATTR] = ENODATA,
	    [NLE_MISSING_ATTR] = EINVAL,
	    [NLE_AF_MISMATCH] = EAFNOSUPPORT,
	    [NLE_SEQ_MISMATCH] = EILSEQ,
	    [NLE_MSG_OVERFLOW] = EOVERFLOW,
	    [NLE_MSG_TRUNC] = EMSGSIZE,
	    [NLE_NOADDR] = EADDRNOTAVAIL,
	    [NLE_SRCRT_NOSUPPORT] = EOPNOTSUPP,
	    [NLE_MSG_TOOSHORT] = EBADMSG,
	    [NLE_MSGTYPE_NOSUPPORT] = EOPNOTSUPP,
	    [NLE_OBJ_MISMATCH] = EINVAL,
	    [NLE_NOCACHE] = ENOENT,
	    [NLE_BUSY] = EBUSY,
	    [NLE_PROTO_MISMATCH] = EPROTONOSUPPORT,
	    [NLE_NOACCESS] = EACCES,
	    [NLE_PERM] = EPERM,
	    [NLE_PKTLOC_FILE] = ENOENT,
	    [NLE_PARSE_ERR] = EINVAL,
	    [NLE_NODEV] = ENODEV,
	    [NLE_IMMUTABLE] = EPERM,
	    [NLE_DUMP_INTR] = EINTR,
	    [NLE_ATTRSIZE] = EINVAL,
	};
	int e = nle < 0 ? -nle : nle;

	if (e == 0)
		return 0;
	if ((size_t)e >= sizeof(map) / sizeof(map[0]) || !map[e])
		return -EIO;
	return -map[e];
}

/* A connected NETLINK_ROUTE request socket; -errno on failure. */
static int netlink_connect(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();
	int ret;

	if (!sk)
		return -ENOMEM;
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (ret < 0) {
		nl_socket_free(sk);
		return netlink_errno(ret);
	}
	*out = sk;
	return 0;
}

int netlink_link_info(const char *ifname, struct netlink_link *info)
{
	struct rtnl_link *link = NULL;
	struct nl_addr *hw;
	struct nl_sock *sk;
	unsigned int ifindex;
	int ret;

	/* The kernel's ENODEV reaches us from libnl as NLE_OBJ_NOTFOUND, indistinguishable from
	 * other misses, so resolve the name first to report a missing interface precisely. */
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return errno == ENXIO || errno == ENODEV ? -ENODEV : -errno;
	ret = netlink_connect(&sk);
	if (ret)
		return ret;
	ret = rtnl_link_get_kernel(sk, (int)ifindex, NULL, &link);
	if (ret < 0) {
		ret = netlink_errno(ret);
		/* It went away between the two calls. */
		if (ret == -ENOENT)
			ret = -ENODEV;
		goto err_free_sock;
	}
	info->rx_queues = rtnl_link_get_num_rx_queues(link);
	/* Kernels without IFLA_NUM_RX_QUEUES (before 2.6.36) leave it 0: one queue then. */
	if (info->rx_queues == 0)
		info->rx_queues = 1;
	info->mtu = rtnl_link_get_mtu(link);
	info->type = (uint16_t)rtnl_link_get_arptype(link);
	info->loopback = info->type == ARPHRD_LOOPBACK;
	/* lo carries a zeroed Ethernet header (eth_header_ops) */
	info->eth_frames = info->type == ARPHRD_ETHER || info->loopback;
	info->up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
	hw = rtnl_link_get_addr(link);
	memset(info->mac, 0, sizeof(info->mac));
	if (hw && nl_addr_get_len(hw) == sizeof(info->mac))
		memcpy(info->mac, nl_addr_get_binary_addr(hw), sizeof(info->mac));
	snprintf(info->kind, sizeof(info->kind), "%s",
		 rtnl_link_get_type(link) ? rtnl_link_get_type(link) : "");
	rtnl_link_put(link);
err_free_sock:
	nl_socket_free(sk);
	return ret;
}

int netlink_rx_queues(const char *ifname, uint32_t *queues)
{
	struct netlink_link info;
	int ret = netlink_link_info(ifname, &info);

	if (!ret)
		*queues = info.rx_queues;
	return ret;
}

int netlink_ifname_of_addr(const struct addr *a, char ifname[IF_NAMESIZE])
{
	int ifindex, n;

	if (addr_is_any(a))
		return -ENOENT;
	n = netlink_addr_ifindexes(a, &ifindex, 1);
	if (n < 0)
		return n;
	if (n == 0)
		return -ENOENT;
	if (!if_indextoname((unsigned int)ifindex, ifname))
		return -errno;
	return 0;
}

uint32_t netlink_ifname_add(char (*names)[IF_NAMESIZE], uint32_t n, uint32_t max, const char *name)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return n;
	if (n == max)
		return n;
	snprintf(names[n], IF_NAMESIZE, "%s", name);
	return n + 1;
}

uint32_t netlink_addrs_ifnames(const struct addr *addrs, uint32_t n_addrs,
			       char (*names)[IF_NAMESIZE], uint32_t n, uint32_t max, bool *any,
			       bool *missing)
{
	char ifname[IF_NAMESIZE];
	uint32_t j;

	for (j = 0; j < n_addrs; j++) {
		if (addr_is_any(&addrs[j]))
			*any = true;
		else if (!netlink_ifname_of_addr(&addrs[j], ifname))
			n = netlink_ifname_add(names, n, max, ifname);
		else if (missing)
			*missing = true;
	}
	return n;
}

/* a's address (4 or 16 bytes, no port) as attribute type of msg; < 0 when it does not fit. */
static int netlink_put_addr(struct nl_msg *msg, int type, const struct addr *a)
{
	bool v4 = addr_family(a) == AF_INET;
	uint8_t b[16];

	addr_to_mapped(a, b);
	return nla_put(msg, type, v4 ? 4 : 16, v4 ? b + 12 : b);
}

/* One answer to RTM_GETROUTE: the leg a flow takes (its route's first next hop), or with
 * fib_match the route as the FIB holds it (every leg). */
struct netlink_route_req {
	bool fib_match;
	struct netlink_route *rt;
};

static void netlink_route_gw(struct rtnl_nexthop *nh, int *family, uint8_t gw_out[16])
{
	struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
	unsigned int len = gw ? nl_addr_get_len(gw) : 0;

	*family = 0;
	if (gw && (len == 4 || len == 16)) {
		*family = len == 4 ? AF_INET : AF_INET6;
		memcpy(gw_out, nl_addr_get_binary_addr(gw), len);
	}
}

static int netlink_route_cb(struct nl_msg *msg, void *arg)
{
	struct netlink_route_req *req = arg;
	struct netlink_route *rt = req->rt;
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh;
	int i, n;

	if (rtnl_route_parse(nlmsg_hdr(msg), &route) < 0)
		return NL_SKIP;
	n = rtnl_route_get_nnexthops(route);
	rt->by_policy = rtnl_route_get_table(route) != RT_TABLE_MAIN;
	if (req->fib_match) {
		rt->n_legs = 0;
		for (i = 0; i < n; i++) {
			struct netlink_leg *l = &rt->legs[rt->n_legs];

			nh = rtnl_route_nexthop_n(route, i);
			/* A dead leg (its device down) takes no flow. */
			if (!nh || rtnl_route_nh_get_ifindex(nh) <= 0 ||
			    (rtnl_route_nh_get_flags(nh) & RTNH_F_DEAD))
				continue;
			if (rt->n_legs < NETLINK_ROUTE_LEGS) {
				l->oif = rtnl_route_nh_get_ifindex(nh);
				netlink_route_gw(nh, &l->gw_family, l->gw);
			}
			rt->n_legs++;
		}
	} else if (n > 0 && (nh = rtnl_route_nexthop_n(route, 0)) &&
		   rtnl_route_nh_get_ifindex(nh) > 0) {
		rt->oif = rtnl_route_nh_get_ifindex(nh);
		netlink_route_gw(nh, &rt->gw_family, rt->gw);
	}
	rtnl_route_put(route);
	return NL_OK;
}

/* The attributes of fl beyond the destination (the rtmsg holds the lengths); -ENOMEM when the
 * message is full. Those left out take the kernel's defaults: no source, protocol, ports,
 * mark or device, and the caller's uid. */
static int netlink_put_flow(struct nl_msg *msg, const struct netlink_flow *fl)
{
	uint16_t sport = fl->no_ports ? 0 : fl->sport, dport = fl->no_ports ? 0 : addr_port(fl->dst);

	if ((fl->src && netlink_put_addr(msg, RTA_SRC, fl->src) < 0) ||
	    (fl->proto && (nla_put_u8(msg, RTA_IP_PROTO, fl->proto) < 0 ||
			   nla_put_u16(msg, RTA_SPORT, htons(sport)) < 0 ||
			   nla_put_u16(msg, RTA_DPORT, htons(dport)) < 0)) ||
	    (fl->mark && nla_put_u32(msg, RTA_MARK, fl->mark) < 0) ||
	    (fl->uid >= 0 && nla_put_u32(msg, RTA_UID, (uint32_t)fl->uid) < 0) ||
	    (fl->oif > 0 && nla_put_u32(msg, RTA_OIF, (uint32_t)fl->oif) < 0))
		return -ENOMEM;
	return 0;
}

/* Sends msg on sk and runs cb on its one answer (RTM_NEW* or the error). */
static int netlink_ask(struct nl_sock *sk, struct nl_msg *msg, nl_recvmsg_msg_cb_t cb, void *arg)
{
	int ret;

	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, cb, arg);
	ret = nl_send_auto(sk, msg);
	if (ret >= 0)
		ret = nl_recvmsgs_default(sk);
	nlmsg_free(msg);
	return ret < 0 ? netlink_errno(ret) : 0;
}

/* Sends RTM_GETROUTE for fl (rtm_flags: RTM_F_*) on sk and takes the answer into req->rt. */
static int netlink_route_ask(struct nl_sock *sk, const struct netlink_flow *fl,
			     unsigned int rtm_flags, struct netlink_route_req *req)
{
	bool v4 = addr_family(fl->dst) == AF_INET;
	struct rtmsg rtm = {
		.rtm_family = (unsigned char)addr_family(fl->dst),
		.rtm_dst_len = v4 ? 32 : 128,
		.rtm_src_len = fl->src ? (v4 ? 32 : 128) : 0,
		.rtm_flags = rtm_flags,
	};
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, 0);
	int ret;

	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    netlink_put_addr(msg, RTA_DST, fl->dst) < 0 || netlink_put_flow(msg, fl) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	ret = netlink_ask(sk, msg, netlink_route_cb, req);
	return ret == -ENOENT || ret == -EIO ? -ENETUNREACH : ret;
}

struct netlink_rtsock {
	struct nl_sock *sk;
};

int netlink_rtsock_new(struct netlink_rtsock **out)
{
	struct netlink_rtsock *ns = calloc(1, sizeof(*ns));
	int ret;

	if (!ns)
		return -ENOMEM;
	ret = netlink_connect(&ns->sk);
	if (ret) {
		free(ns);
		return ret;
	}
	/* One answer per request, RTM_NEW* or the error: an ack after the answer would be
	 * left queued, and taken as the next request's answer. Answers are small: one
	 * recvmsg each into libnl's buffer, not a peek first. */
	nl_socket_disable_auto_ack(ns->sk);
	nl_socket_disable_msg_peek(ns->sk);
	*out = ns;
	return 0;
}

void netlink_rtsock_free(struct netlink_rtsock *ns)
{
	if (!ns)
		return;
	nl_socket_free(ns->sk);
	free(ns);
}

int netlink_route_get(struct netlink_rtsock *ns, const struct netlink_flow *fl, unsigned int what,
		      struct netlink_route *rt)
{
	const struct addr *src = fl->src;
	struct netlink_route_req req = { .rt = rt };
	struct netlink_rtsock *own = NULL;
	int ret = 0;

	memset(rt, 0, sizeof(*rt));
	/* Without its scope (which RTM_GETROUTE would need as RTA_OIF) a link-local address
	 * would be routed through whichever link comes first. */
	if (addr_is_scoped(fl->dst) || (src && addr_is_scoped(src)))
		return -EADDRNOTAVAIL;
	if (src && addr_family(src) != addr_family(fl->dst))
		return -EAFNOSUPPORT;
	if (!ns) {
		ret = netlink_rtsock_new(&own);
		if (ret)
			return ret;
		ns = own;
	}
	/* libnl's rtnl_route_lookup asks with the destination alone: the answer would ignore
	 * the rules that choose a table by source ("ip rule add from ADDR lookup 2"), and the
	 * multipath hash would see another flow than the socket's (another leg). IPv4 names
	 * the table the route came from only when asked (IPv6 always). */
	if (what & NETLINK_ROUTE_LEG) {
		ret = netlink_route_ask(ns->sk, fl, RTM_F_LOOKUP_TABLE, &req);
		if (!ret && !rt->oif)
			ret = -ENETUNREACH;
	}
	/* The same lookup, answered with the route it matched: all of its legs (4.13+; an
	 * older kernel answers as above, with the one leg). */
	if (!ret && (what & NETLINK_ROUTE_ALL)) {
		req.fib_match = true;
		ret = netlink_route_ask(ns->sk, fl, RTM_F_LOOKUP_TABLE | RTM_F_FIB_MATCH, &req);
		if (what & NETLINK_ROUTE_LEG) {
			if (ret < 0)
				rt->n_legs = 0;
			ret = 0;
		}
		if (!ret && !rt->n_legs && rt->oif) {
			rt->n_legs = 1;
			rt->legs[0] = (struct netlink_leg){ .oif = rt->oif, .gw_family = rt->gw_family };
			memcpy(rt->legs[0].gw, rt->gw, sizeof(rt->gw));
		} else if (!ret && !rt->n_legs) {
			ret = -ENETUNREACH;
		}
	}
	netlink_rtsock_free(own);
	return ret;
}

static int netlink_netconf_cb(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[NETCONFA_MAX + 1];
	int *on = arg;

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct netconfmsg), tb, NETCONFA_MAX, NULL) < 0 ||
	    !tb[NETCONFA_FORWARDING])
		return NL_SKIP;
	*on = nla_get_s32(tb[NETCONFA_FORWARDING]) != 0;
	return NL_OK;
}

int netlink_forwarding(struct netlink_rtsock *ns, int family, int ifindex)
{
	struct netconfmsg ncm = { .ncm_family = (unsigned char)family };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETNETCONF, 0);
	int on = -ENOENT, ret;

	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &ncm, sizeof(ncm), NLMSG_ALIGNTO) < 0 ||
	    nla_put_s32(msg, NETCONFA_IFINDEX, ifindex) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	ret = netlink_ask(ns->sk, msg, netlink_netconf_cb, &on);
	return ret < 0 ? ret : on;
}

/* The addresses of every interface, from a socket of their own: 0 or -errno. */
static int addr_cache_open(struct nl_sock **sk, struct nl_cache **cache)
{
	int ret = netlink_connect(sk);

	if (ret)
		return ret;
	ret = rtnl_addr_alloc_cache(*sk, cache);
	if (ret < 0) {
		nl_socket_free(*sk);
		return netlink_errno(ret);
	}
	return 0;
}

static void addr_cache_close(struct nl_sock *sk, struct nl_cache *cache)
{
	nl_cache_free(cache);
	nl_socket_free(sk);
}

/* ra's local address as *out and in its 16-byte mapped form (so no branch on the family):
 * false when it has none we can read. nl_addr_fill_sockaddr leaves fields it does not know
 * (scope, flow) as found; the interface scope of a link-local address is not compared. */
static bool addr_local_of(struct rtnl_addr *ra, struct addr *out, uint8_t mapped[16])
{
	struct nl_addr *local = rtnl_addr_get_local(ra);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (!local || nl_addr_fill_sockaddr(local, (struct sockaddr *)&ss, &len) < 0 ||
	    addr_from_sockaddr(out, &ss, len) < 0)
		return false;
	addr_to_mapped(out, mapped);
	return true;
}

int netlink_addr_flags(const struct addr *a, uint32_t *flags)
{
	struct nl_cache *cache;
	struct nl_object *obj;
	struct nl_sock *sk;
	uint8_t want[16], have[16];
	struct addr cand;
	int ret;

	ret = addr_cache_open(&sk, &cache);
	if (ret)
		return ret;
	addr_to_mapped(a, want);
	ret = -ENOENT;
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)obj;

		if (addr_local_of(ra, &cand, have) && memcmp(have, want, sizeof(want)) == 0) {
			*flags = rtnl_addr_get_flags(ra);
			ret = 0;
			break;
		}
	}
	addr_cache_close(sk, cache);
	return ret;
}

int netlink_addr_ifindexes(const struct addr *a, int *out, int max)
{
	struct nl_cache *cache;
	struct nl_object *obj;
	struct nl_sock *sk;
	bool any = addr_is_any(a);
	int fam = addr_family(a), n = 0, i, ret;
	uint8_t want[16], have[16];
	struct addr cand;

	ret = addr_cache_open(&sk, &cache);
	if (ret)
		return ret;
	addr_to_mapped(a, want);
	for (obj = nl_cache_get_first(cache); obj && n < max; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)obj;
		int ifindex = rtnl_addr_get_ifindex(ra);
		bool dup = false;

		if (!addr_local_of(ra, &cand, have) || (any && addr_family(&cand) != fam))
			continue;
		if (any ? netlink_is_loopback(ifindex) : memcmp(have, want, sizeof(want)) != 0)
			continue;
		for (i = 0; i < n; i++)
			dup |= out[i] == ifindex;
		if (!dup)
			out[n++] = ifindex;
	}
	addr_cache_close(sk, cache);
	return n;
}

int netlink_clsact_filters(int ifindex, uint32_t *count)
{
	const uint32_t parents[] = { TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS),
				     TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS) };
	struct nl_cache *cache;
	struct nl_sock *sk;
	uint32_t i, n = 0;
	int ret;

	ret = netlink_connect(&sk);
	if (ret)
		return ret;
	for (i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		ret = rtnl_cls_alloc_cache(sk, ifindex, parents[i], &cache);
		if (ret < 0) {
			ret = netlink_errno(ret);
			goto out;
		}
		n += (uint32_t)nl_cache_nitems(cache);
		nl_cache_free(cache);
	}
	*count = n;
	ret = 0;
out:
	nl_socket_free(sk);
	return ret;
}

int netlink_ingress_handle_prios(int ifindex, uint32_t handle, uint32_t *prios, uint32_t max)
{
	struct rtnl_cls *cls;
	struct nl_cache *cache;
	struct nl_sock *sk;
	int ret, n = 0;

	ret = netlink_connect(&sk);
	if (ret)
		return ret;
	ret = rtnl_cls_alloc_cache(sk, ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), &cache);
	if (ret < 0) {
		ret = netlink_errno(ret);
		goto out;
	}
	/* The dump lists each priority's head (handle 0) and then its filters. */
	for (cls = (struct rtnl_cls *)nl_cache_get_first(cache); cls;
	     cls = (struct rtnl_cls *)nl_cache_get_next((struct nl_object *)cls)) {
		if (rtnl_tc_get_handle(TC_CAST(cls)) != handle)
			continue;
		if ((uint32_t)n < max)
			prios[n] = rtnl_cls_get_prio(cls);
		n++;
	}
	nl_cache_free(cache);
	ret = n;
out:
	nl_socket_free(sk);
	return ret;
}

int netlink_link_at(int ifindex, struct netlink_link *info)
{
	char name[IF_NAMESIZE];

	if (!if_indextoname((unsigned int)ifindex, name))
		return -errno;
	return netlink_link_info(name, info);
}

/* Calls fn on every link of the current network namespace (one dump) until it returns
 * non-zero: that, or 0, or -errno when the dump failed. */
static int netlink_links_each(int (*fn)(struct rtnl_link *l, void *arg), void *arg)
{
	struct nl_cache *cache;
	struct nl_object *obj;
	struct nl_sock *sk;
	int ret;

	ret = netlink_connect(&sk);
	if (ret)
		return ret;
	ret = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (ret < 0) {
		ret = netlink_errno(ret);
		goto err_free_sock;
	}
	ret = 0;
	for (obj = nl_cache_get_first(cache); obj && !ret; obj = nl_cache_get_next(obj))
		ret = fn((struct rtnl_link *)obj, arg);
	nl_cache_free(cache);
err_free_sock:
	nl_socket_free(sk);
	return ret;
}

struct netlink_lowers {
	int ifindex;
	char *names; /* netlink_lower_links */
	size_t len, used;
	int *out; /* netlink_lower_ifindexes */
	int max, n;
};

static int netlink_lower_name(struct rtnl_link *l, void *arg)
{
	struct netlink_lowers *lw = arg;

	if (rtnl_link_get_master(l) != lw->ifindex)
		return 0;
	if (lw->used < lw->len)
		lw->used += (size_t)snprintf(lw->names + lw->used, lw->len - lw->used, "%s%s",
					     lw->n ? ", " : "", rtnl_link_get_name(l));
	lw->n++;
	return 0;
}

int netlink_lower_links(int ifindex, char *names, size_t len)
{
	struct netlink_lowers lw = { .ifindex = ifindex, .names = names, .len = len };
	int ret;

	if (len)
		names[0] = '\0';
	if (ifindex <= 0) /* (0 is every link's master that has none) */
		return 0;
	ret = netlink_links_each(netlink_lower_name, &lw);
	return ret < 0 ? ret : lw.n;
}

/* Kinds whose IFLA_LINK is the device their frames come up from (a veth's is its peer, a
 * tunnel's the underlay it encapsulates on: neither). */
static bool netlink_stacked_kind(const char *kind)
{
	static const char *const kinds[] = { "vlan", "macvlan", "macvtap", "ipvlan", "ipvtap" };
	size_t i;

	for (i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

static int netlink_lower_index(struct rtnl_link *l, void *arg)
{
	struct netlink_lowers *lw = arg;
	int32_t nsid;
	int lower = 0;

	if (rtnl_link_get_ifindex(l) == lw->ifindex && netlink_stacked_kind(rtnl_link_get_type(l)) &&
	    rtnl_link_get_link_netnsid(l, &nsid) < 0) /* (a link in another namespace: -) */
		lower = (int)rtnl_link_get_link(l);
	else if (rtnl_link_get_master(l) == lw->ifindex)
		lower = rtnl_link_get_ifindex(l);
	if (lower <= 0 || lower == lw->ifindex)
		return 0;
	if (lw->n == lw->max)
		return -ENOSPC;
	lw->out[lw->n++] = lower;
	return 0;
}

int netlink_lower_ifindexes(int ifindex, int *out, int max)
{
	struct netlink_lowers lw = { .ifindex = ifindex, .out = out, .max = max };
	int ret;

	if (ifindex <= 0) /* (0 is every link's master that has none) */
		return 0;
	ret = netlink_links_each(netlink_lower_index, &lw);
	return ret < 0 ? ret : lw.n;
}

bool netlink_is_loopback(int ifindex)
{
	struct netlink_link info;

	return netlink_link_at(ifindex, &info) == 0 && info.loopback;
}

int netlink_eth_frames(int ifindex)
{
	struct netlink_link info;
	int ret = netlink_link_at(ifindex, &info);

	return ret < 0 ? ret : info.eth_frames ? 1 : 0;
}

/* linux/netdev.h (6.3) is newer than Debian 12's headers. */
#define NETLINK_NETDEV_CMD_DEV_GET 1
#define NETLINK_NETDEV_A_DEV_IFINDEX 1
#define NETLINK_NETDEV_A_DEV_XDP_FEATURES 3
#define NETLINK_NETDEV_A_DEV_MAX 8

struct netlink_features_req {
	uint64_t features;
	bool found;
};

static int netlink_features_cb(struct nl_msg *msg, void *arg)
{
	struct netlink_features_req *req = arg;
	struct nlattr *tb[NETLINK_NETDEV_A_DEV_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, NETLINK_NETDEV_A_DEV_MAX, NULL) < 0)
		return NL_SKIP;
	if (tb[NETLINK_NETDEV_A_DEV_XDP_FEATURES]) {
		req->features = nla_get_u64(tb[NETLINK_NETDEV_A_DEV_XDP_FEATURES]);
		req->found = true;
	}
	return NL_OK;
}

static int netlink_dump_done(struct nl_msg *msg, void *arg)
{
	(void)msg;
	*(bool *)arg = true;
	return NL_STOP;
}

int netlink_netdev_call(uint8_t cmd, int flags, int (*put)(struct nl_msg *, const void *),
			const void *put_arg, int (*cb)(struct nl_msg *, void *), void *cb_arg)
{
	struct nl_msg *msg;
	struct nl_sock *sk;
	bool done = false;
	int family, ret;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	ret = genl_connect(sk);
	if (ret < 0) {
		ret = netlink_errno(ret);
		goto err_free_sock;
	}
	family = genl_ctrl_resolve(sk, "netdev");
	if (family < 0) {
		ret = -EOPNOTSUPP; /* before 6.3 (xdp-features) there is no such family */
		goto err_free_sock;
	}
	msg = nlmsg_alloc();
	if (!msg) {
		ret = -ENOMEM;
		goto err_free_sock;
	}
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags, cmd, 1) ||
	    put(msg, put_arg) < 0) {
		ret = -ENOMEM;
		goto err_free_msg;
	}
	if (cb)
		nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, cb, cb_arg);
	nl_socket_modify_cb(sk, NL_CB_FINISH, NL_CB_CUSTOM, netlink_dump_done, &done);
	/* libnl asks for an ack: the receive ends at it, or at a dump's end, with the
	 * kernel's error if any (an unknown command: -EOPNOTSUPP). The netdev family's dump
	 * replies carry no NLM_F_MULTI, so libnl stops after the first read (some 16 KiB:
	 * 240 NAPI instances); a dump is read until its NLMSG_DONE. */
	ret = nl_send_auto(sk, msg);
	if (ret >= 0)
		ret = nl_recvmsgs_default(sk);
	while (ret >= 0 && (flags & NLM_F_DUMP) && !done)
		ret = nl_recvmsgs_default(sk);
	ret = ret < 0 ? netlink_errno(ret) : 0;
err_free_msg:
	nlmsg_free(msg);
err_free_sock:
	nl_socket_free(sk);
	return ret;
}

static int netlink_put_ifindex(struct nl_msg *msg, const void *arg)
{
	return nla_put_u32(msg, NETLINK_NETDEV_A_DEV_IFINDEX, *(const uint32_t *)arg);
}

int netlink_xdp_features(int ifindex, uint64_t *features)
{
	struct netlink_features_req req = { 0 };
	uint32_t idx = (uint32_t)ifindex;
	int ret;

	ret = netlink_netdev_call(NETLINK_NETDEV_CMD_DEV_GET, 0, netlink_put_ifindex, &idx,
				  netlink_features_cb, &req);
	if (ret)
		return ret;
	if (!req.found)
		return -EOPNOTSUPP;
	*features = req.features;
	return 0;
}

/* The link flags whose change is reported: up or down, carrier or none. The routes through a
 * link come and go with them, and some drivers (veth) make their NAPI instances anew. A new
 * name is reported too (what is configured by name follows it), and a new link-layer address
 * (XDP compares it with a frame's destination); other changes (an XDP program attached, the
 * MTU) are not. */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000 /* linux/if.h's, which does not mix with net/if.h */
#endif
#define NETLINK_WATCH_FLAGS (IFF_UP | IFF_LOWER_UP)

/* Notes ifindex as changed (present, up: as it is now), to be reported once at the flush. The
 * first change of a quiet spell sets the flush the settle time ahead: a link going up
 * brings several messages (flags, carrier, IPv6's addresses), and the kernel announces a
 * change before it has updated the routes that follow from it. */
static void netlink_watch_note(struct netlink_watch *w, int ifindex, const char *name, bool present,
			       bool up)
{
	struct netlink_link_change *p;
	uint32_t i;

	for (i = 0; i < w->n_pending && w->pending[i].ifindex != ifindex; i++)
		;
	if (i == NETLINK_WATCH_PENDING) {
		/* Many links at once (a container host): report what is noted now. */
		netlink_watch_flush(w);
		i = 0;
	}
	p = &w->pending[i];
	if (i == w->n_pending) {
		w->n_pending++;
		p->renewed = false;
	} else if (!p->present && present) {
		p->renewed = true; /* gone and back: its hooks went with it */
	}
	p->ifindex = ifindex;
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
	p->present = present;
	p->up = up;
	if (!w->due_ms)
		w->due_ms = clock_ms() + w->settle_ms;
}

/* Links are in libnl's cache once per address family of their messages (AF_UNSPEC: the link
 * itself; AF_INET6 and AF_BRIDGE: IPv6's and a bridge's view of it, whose messages come and go
 * on their own): only the link's own counts. */
static bool netlink_watch_own(struct rtnl_link *link)
{
	return rtnl_link_get_family(link) == AF_UNSPEC;
}

static void netlink_watch_link_note(struct netlink_watch *w, struct rtnl_link *link, bool present)
{
	unsigned int flags = rtnl_link_get_flags(link);

	netlink_watch_note(w, rtnl_link_get_ifindex(link), rtnl_link_get_name(link), present,
			   present && (flags & NETLINK_WATCH_FLAGS) == NETLINK_WATCH_FLAGS);
}

/* Whether a link's name differs between two of its objects (a rename: since Linux 6.2 also
 * while it is up, without any change of its flags). */
static bool netlink_watch_renamed(struct rtnl_link *was, struct rtnl_link *now)
{
	const char *a = rtnl_link_get_name(was), *b = rtnl_link_get_name(now);

	return a && b && strcmp(a, b) != 0;
}

/* Whether a link's own (link-layer) address differs between two of its objects: ip link set
 * dev X address ... */
static bool netlink_watch_readdressed(struct rtnl_link *was, struct rtnl_link *now)
{
	struct nl_addr *a = rtnl_link_get_addr(was), *b = rtnl_link_get_addr(now);

	return (a && b) ? nl_addr_cmp(a, b) != 0 : a != b;
}

/* libnl's change callback for links, with the object before a change. */
static void netlink_watch_link(struct nl_cache *cache, struct nl_object *old,
			       struct nl_object *obj, uint64_t diff, int action, void *data)
{
	struct netlink_watch *w = data;
	struct rtnl_link *was = (struct rtnl_link *)old, *now = (struct rtnl_link *)obj;

	(void)cache;
	(void)diff;
	if (action == NL_ACT_NEW && now && netlink_watch_own(now))
		netlink_watch_link_note(w, now, true);
	else if (action == NL_ACT_DEL && was && netlink_watch_own(was))
		netlink_watch_link_note(w, was, false);
	else if (action == NL_ACT_CHANGE && was && now && netlink_watch_own(now) &&
		 (((rtnl_link_get_flags(was) ^ rtnl_link_get_flags(now)) & NETLINK_WATCH_FLAGS) ||
		  netlink_watch_renamed(was, now) || netlink_watch_readdressed(was, now) ||
		  /* enslaved or released: its master's lower devices changed (judged_below) */
		  rtnl_link_get_master(was) != rtnl_link_get_master(now)))
		netlink_watch_link_note(w, now, true);
}

/* The same after an overrun (nl_cache_resync has no "before"): a changed link is noted. */
static void netlink_watch_link_resync(struct nl_cache *cache, struct nl_object *obj, int action,
				      void *data)
{
	struct rtnl_link *link = (struct rtnl_link *)obj;

	(void)cache;
	if ((action == NL_ACT_NEW || action == NL_ACT_DEL || action == NL_ACT_CHANGE) &&
	    netlink_watch_own(link))
		netlink_watch_link_note(data, link, action != NL_ACT_DEL);
}

/* The link's own entry of ifindex in the cache (a reference), or NULL. */
static struct rtnl_link *netlink_watch_find(struct netlink_watch *w, int ifindex)
{
	struct nl_object *o;

	for (o = nl_cache_get_first(w->links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *link = (struct rtnl_link *)o;

		if (rtnl_link_get_ifindex(link) == ifindex && netlink_watch_own(link)) {
			nl_object_get(o);
			return link;
		}
	}
	return NULL;
}

/* libnl's change callback for addresses: one added to or removed from a link notes that link
 * (the routes through it, and which link holds a listen address, move). */
static void netlink_watch_addr(struct nl_cache *cache, struct nl_object *obj, int action,
			       void *data)
{
	struct netlink_watch *w = data;
	struct rtnl_link *link;

	(void)cache;
	if (action != NL_ACT_NEW && action != NL_ACT_DEL)
		return;
	link = netlink_watch_find(w, rtnl_addr_get_ifindex((struct rtnl_addr *)obj));
	if (!link)
		return; /* the link went: its own event says so */
	netlink_watch_link_note(w, link, true);
	rtnl_link_put(link);
}

/* Drops the other families' entries (IPv6's, a bridge's): the watch never reads them, and
 * their messages do not say when the link is gone, so the cache would grow with every link a
 * container host makes and deletes. A later message of theirs adds one back until then. */
static void netlink_watch_prune(struct netlink_watch *w)
{
	struct nl_object *o, *next;

	for (o = nl_cache_get_first(w->links); o; o = next) {
		next = nl_cache_get_next(o);
		if (!netlink_watch_own((struct rtnl_link *)o))
			nl_cache_remove(o);
	}
}

void netlink_watch_flush(struct netlink_watch *w)
{
	struct netlink_link_change batch[NETLINK_WATCH_PENDING];
	uint32_t i, n = w->n_pending;

	if (!n)
		return;
	/* As each link is now (its name too): its own entry, if it still has one. */
	for (i = 0; i < n; i++) {
		struct rtnl_link *link;
		unsigned int flags;

		batch[i] = w->pending[i];
		if (!batch[i].present)
			continue;
		link = netlink_watch_find(w, batch[i].ifindex);
		if (!link)
			continue;
		flags = rtnl_link_get_flags(link);
		if (rtnl_link_get_name(link))
			snprintf(batch[i].name, sizeof(batch[i].name), "%s",
				 rtnl_link_get_name(link));
		batch[i].up = (flags & NETLINK_WATCH_FLAGS) == NETLINK_WATCH_FLAGS;
		rtnl_link_put(link);
	}
	w->n_pending = 0;
	w->due_ms = 0;
	w->cb(w->arg, batch, n);
}

void netlink_watch_settle(struct netlink_watch *w, uint32_t ms)
{
	w->settle_ms = ms;
}

int netlink_watch_due_ms(const struct netlink_watch *w)
{
	uint64_t now;

	if (!w->due_ms)
		return -1;
	now = clock_ms();
	return w->due_ms > now ? (int)(w->due_ms - now) : 0;
}

int netlink_watch_new(struct netlink_watch **out, netlink_watch_fn *cb, void *arg)
{
	struct netlink_watch *w = calloc(1, sizeof(*w));
	struct nl_cache *links = NULL;
	int ret;

	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->arg = arg;
	w->settle_ms = NETLINK_WATCH_SETTLE_MS;
	ret = netlink_connect(&w->sync);
	if (ret)
		goto err_free_watch;
	/* The manager subscribes to each cache's groups before it fills the cache, so no event
	 * falls between the initial dump and the first notification. Its event socket is
	 * non-blocking. Links first: an address event names its link from that cache. */
	ret = nl_cache_mngr_alloc(NULL, NETLINK_ROUTE, 0, &w->mngr);
	if (ret < 0) {
		ret = netlink_errno(ret);
		goto err_free_sync;
	}
	ret = nl_cache_alloc_name("route/link", &links);
	if (ret >= 0) {
		ret = nl_cache_mngr_add_cache_v2(w->mngr, links, netlink_watch_link, w);
		if (ret < 0)
			nl_cache_free(links);
	}
	if (ret >= 0) {
		w->links = links;
		ret = nl_cache_mngr_add(w->mngr, "route/addr", netlink_watch_addr, w, &w->addrs);
	}
	if (ret < 0) {
		ret = netlink_errno(ret);
		goto err_free_mngr;
	}
	*out = w;
	return 0;

err_free_mngr:
	nl_cache_mngr_free(w->mngr);
err_free_sync:
	nl_socket_free(w->sync);
err_free_watch:
	free(w);
	return ret;
}

int netlink_watch_fd(const struct netlink_watch *w)
{
	return nl_cache_mngr_get_fd(w->mngr);
}

int netlink_watch_process(struct netlink_watch *w)
{
	int ret = nl_cache_mngr_data_ready(w->mngr);

	netlink_watch_prune(w);

	/* ENOBUFS from the event socket (libnl: NLE_NOMEM) means the kernel dropped events:
	 * re-read the table and let libnl report what changed through the same callback. */
	if (ret == -NLE_NOMEM) {
		ret = nl_cache_resync(w->sync, w->links, netlink_watch_link_resync, w);
		if (ret >= 0)
			ret = nl_cache_resync(w->sync, w->addrs, netlink_watch_addr, w);
		if (ret < 0)
			return netlink_errno(ret);
		return 0;
	}
	return ret < 0 ? netlink_errno(ret) : ret;
}

void netlink_watch_free(struct netlink_watch *w)
{
	if (!w)
		return;
	nl_cache_mngr_free(w->mngr);
	nl_socket_free(w->sync);
	free(w);
}

struct netlink_routes {
	struct nl_sock *sk;
	struct nl_cb *cb; /* the socket's, with netlink_routes_cb (a reference) */
	uint32_t changes; /* counted by netlink_routes_cb */
	netlink_route_change_fn *fn; /* netlink_routes_process's, told each change */
	void *arg;
};

/* A route (but for the kernel's cached clones, made per destination as it sends), rule or
 * nexthop message: a change. A route's is told with its destination prefix (a multipath
 * route's legs share it; RTA_SRC, IPv6's source routes, only narrows what it covers), the
 * rest (and a deleted IPv4 route an address made) as one that may move any route. */
static int netlink_routes_cb(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct netlink_routes *rw = arg;
	const struct rtmsg *rtm = nlmsg_data(h);
	static const uint8_t none[16];
	struct nlattr *dst = NULL;

	switch (h->nlmsg_type) {
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		if (nlmsg_datalen(h) < (int)sizeof(struct rtmsg)) {
			rw->fn(rw->arg, AF_UNSPEC, NULL, 0);
			rw->changes++;
			break;
		}
		if (rtm->rtm_flags & RTM_F_CLONED)
			break;
		rw->changes++;
		dst = nlmsg_find_attr(h, sizeof(struct rtmsg), RTA_DST);
		/* (no RTA_DST: a default route, 0/0; one too short for its family: not understood.
		 * An IPv4 route an address made that goes (the address removed, its link down):
		 * IPv4 flushes the routes through a gateway in it without a message of their own.
		 * IPv6 sends one for each route it deletes, and keeps those through a gateway in
		 * an address's prefix when the address goes (6.18, `ip monitor route`): its
		 * deletions are told by their prefixes, as others.) */
		if ((dst && nla_len(dst) < (rtm->rtm_family == AF_INET ? 4 : 16)) ||
		    (h->nlmsg_type == RTM_DELROUTE && rtm->rtm_protocol == RTPROT_KERNEL &&
		     rtm->rtm_family == AF_INET))
			rw->fn(rw->arg, AF_UNSPEC, NULL, 0);
		else
			rw->fn(rw->arg, rtm->rtm_family, dst ? nla_data(dst) : none,
			       rtm->rtm_dst_len);
		break;
	case RTM_NEWRULE:
	case RTM_DELRULE:
	case RTM_NEWNEXTHOP:
	case RTM_DELNEXTHOP:
		rw->fn(rw->arg, AF_UNSPEC, NULL, 0);
		rw->changes++;
		break;
	}
	return NL_SKIP;
}

int netlink_routes_new(struct netlink_routes **out)
{
	struct netlink_routes *rw = calloc(1, sizeof(*rw));
	int ret;

	if (!rw)
		return -ENOMEM;
	rw->sk = nl_socket_alloc();
	if (!rw->sk) {
		free(rw);
		return -ENOMEM;
	}
	/* Notifications carry no sequence numbers of ours. */
	nl_socket_disable_seq_check(rw->sk);
	nl_socket_modify_cb(rw->sk, NL_CB_VALID, NL_CB_CUSTOM, netlink_routes_cb, rw);
	rw->cb = nl_socket_get_cb(rw->sk);
	ret = nl_connect(rw->sk, NETLINK_ROUTE);
	if (ret >= 0)
		ret = nl_socket_add_memberships(rw->sk, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
						RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE, 0);
	/* (nexthop objects: 5.3+; an older kernel has none to change) */
	if (ret >= 0)
		nl_socket_add_memberships(rw->sk, RTNLGRP_NEXTHOP, 0);
	if (ret >= 0)
		ret = nl_socket_set_nonblocking(rw->sk);
	if (ret < 0 || !rw->cb) {
		netlink_routes_free(rw);
		return ret < 0 ? netlink_errno(ret) : -ENOMEM;
	}
	*out = rw;
	return 0;
}

int netlink_routes_fd(const struct netlink_routes *rw)
{
	return nl_socket_get_fd(rw->sk);
}

int netlink_routes_process(struct netlink_routes *rw, netlink_route_change_fn *fn, void *arg)
{
	int i, ret = 0;

	rw->changes = 0;
	rw->fn = fn;
	rw->arg = arg;
	/* A routing daemon may send a whole table: the admin thread reads the rest at its next
	 * turn (the socket stays readable). Nothing left to read: 0. */
	for (i = 0; i < 64; i++) {
		ret = nl_recvmsgs_report(rw->sk, rw->cb);
		if (ret == -NLE_NOMEM) { /* ENOBUFS: the kernel dropped some */
			fn(arg, AF_UNSPEC, NULL, 0);
			rw->changes++;
			continue;
		}
		if (ret <= 0)
			break;
	}
	if (ret < 0 && ret != -NLE_AGAIN && ret != -NLE_NOMEM) {
		if (!rw->changes)
			return netlink_errno(ret);
		/* (told some, but one may be lost) */
		fn(arg, AF_UNSPEC, NULL, 0);
	}
	return (int)(rw->changes > INT32_MAX ? INT32_MAX : rw->changes);
}

void netlink_routes_free(struct netlink_routes *rw)
{
	if (!rw)
		return;
	nl_cb_put(rw->cb);
	nl_socket_free(rw->sk);
	free(rw);
}
