// SPDX-License-Identifier: MIT
#include <errno.h>
#include <net/if_arp.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <stdlib.h>
#include <string.h>

#include "netlink.h"

struct netlink_watch {
	struct nl_cache_mngr *mngr; /* owns the event socket and the link cache */
	struct nl_cache *links;	    /* not owned: freed with mngr */
	struct nl_sock *sync;	    /* request socket for a resync after an overrun */
	void (*cb)(void *arg, const char *ifname, int ifindex, bool present);
	void *arg;
};

/* libnl returns -NLE_*; the rest of the program speaks -errno. libnl already folded the
 * kernel's errno into NLE_* (nl_syserr2nlerr), so this maps back to the nearest errno. */
static int netlink_errno(int nle)
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
	info->loopback = rtnl_link_get_arptype(link) == ARPHRD_LOOPBACK;
	info->up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
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
	struct nl_cache *cache;
	struct nl_object *obj;
	struct nl_sock *sk;
	uint8_t want[16];
	int ifindex = 0;
	int ret;

	if (addr_is_any(a))
		return -ENOENT;
	ret = netlink_connect(&sk);
	if (ret)
		return ret;
	ret = rtnl_addr_alloc_cache(sk, &cache);
	if (ret < 0) {
		ret = netlink_errno(ret);
		goto err_free_sock;
	}
	/* Compare the 16-byte mapped forms so this file never branches on the address family;
	 * the interface scope of a link-local address is what we are looking for, so it is
	 * not compared. */
	addr_to_mapped(a, want);
	for (obj = nl_cache_get_first(cache); obj && !ifindex; obj = nl_cache_get_next(obj)) {
		struct nl_addr *local = rtnl_addr_get_local((struct rtnl_addr *)obj);
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		uint8_t have[16];
		struct addr cand;

		/* nl_addr_fill_sockaddr leaves fields it does not know (scope, flow) as found. */
		memset(&ss, 0, sizeof(ss));
		if (!local || nl_addr_fill_sockaddr(local, (struct sockaddr *)&ss, &len) < 0)
			continue;
		if (addr_from_sockaddr(&cand, &ss, len) < 0)
			continue;
		addr_to_mapped(&cand, have);
		if (memcmp(have, want, sizeof(want)) == 0)
			ifindex = rtnl_addr_get_ifindex((struct rtnl_addr *)obj);
	}
	if (!ifindex)
		ret = -ENOENT;
	else if (!if_indextoname((unsigned int)ifindex, ifname))
		ret = -errno;
	nl_cache_free(cache);
err_free_sock:
	nl_socket_free(sk);
	return ret;
}

/* libnl's change callback: only links appearing and disappearing matter to main. */
static void netlink_watch_change(struct nl_cache *cache, struct nl_object *obj, int action,
				 void *data)
{
	struct netlink_watch *w = data;
	struct rtnl_link *link = (struct rtnl_link *)obj;
	const char *name = rtnl_link_get_name(link);

	if (action != NL_ACT_NEW && action != NL_ACT_DEL)
		return;
	w->cb(w->arg, name ? name : "", rtnl_link_get_ifindex(link), action == NL_ACT_NEW);
}

int netlink_watch_new(struct netlink_watch **out,
		      void (*cb)(void *arg, const char *ifname, int ifindex, bool present),
		      void *arg)
{
	struct netlink_watch *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->arg = arg;
	ret = netlink_connect(&w->sync);
	if (ret)
		goto err_free_watch;
	/* The manager subscribes to RTNLGRP_LINK before it fills the cache, so no link
	 * event falls between the initial dump and the first notification. Its event socket
	 * is non-blocking. */
	ret = nl_cache_mngr_alloc(NULL, NETLINK_ROUTE, 0, &w->mngr);
	if (ret < 0) {
		ret = netlink_errno(ret);
		goto err_free_sync;
	}
	ret = nl_cache_mngr_add(w->mngr, "route/link", netlink_watch_change, w, &w->links);
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

	/* ENOBUFS from the event socket (libnl: NLE_NOMEM) means the kernel dropped events:
	 * re-read the table and let libnl report what changed through the same callback. */
	if (ret == -NLE_NOMEM) {
		ret = nl_cache_resync(w->sync, w->links, netlink_watch_change, w);
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
