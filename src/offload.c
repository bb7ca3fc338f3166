// SPDX-License-Identifier: MIT
/* The session fast path's user-space half. A relay's interfaces are those holding its listen
 * addresses (every interface of the family for a wildcard) and those its upstreams are routed
 * through; the datagrams of its sessions arrive and leave there. A layer 3 device among them is
 * left out (the program cannot run there): the sessions that use it stay on the socket path. XDP
 * needs every one of the others to take XDP_REDIRECT (netdev xdp-features NDO_XMIT), else tc,
 * else off; and native XDP, never generic, else tc. docs/offload.md. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "filter.h"
#include "log.h"
#include "netlink.h"
#include "offload.h"
#include "routescope.h"
#include "sock.h"
#include "stage.h"

bool offload_wanted(const struct config *cfg)
{
	uint32_t i;

	for (i = 0; i < cfg->n_relays; i++)
		if (cfg->relays[i].offload != OFFLOAD_OFF &&
		    cfg->relays[i].mode == RELAY_MODE_FORWARD)
			return true;
	return false;
}

/* Sets st->why (vsnprintf: a long reason is cut, which is fine for one log line). */
static void offload_why(char *why, const char *fmt, ...)
{
	char tmp[OFFLOAD_WHY_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	memcpy(why, tmp, sizeof(tmp));
}

/* A relay's interfaces are bits of a uint64_t (its listen and upstream sides, the layer 3
 * ones). */
_Static_assert(RR_IFACES_MAX <= 64, "interface masks are 64 bits");

/* Adds ifindex to list[0..*n) (room for RR_IFACES_MAX) unless it is there and sets its bit
 * in *side; one that does not fit counts in *more. */
static void offload_add_iface(int *list, uint32_t *n, int ifindex, uint64_t *side, uint32_t *more)
{
	uint32_t i;

	for (i = 0; i < *n && list[i] != ifindex; i++)
		;
	if (i == *n && *n < RR_IFACES_MAX)
		list[(*n)++] = ifindex;
	if (i < *n)
		*side |= 1ull << i;
	else
		(*more)++;
}

static const char *offload_ifname(int ifindex, char *buf)
{
	if (!if_indextoname((unsigned int)ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "#%d", ifindex);
	return buf;
}

void offload_relay_flow(const struct relay_conf *rc, const struct addr *to, int64_t uid,
			struct netlink_flow *fl)
{
	/* The session socket's source port is not known yet (an ephemeral one): 0. */
	*fl = (struct netlink_flow){
		.dst = to,
		.src = rc->source == SOURCE_ADDRESS ? &rc->source_addr : NULL,
		.proto = IPPROTO_UDP,
		.mark = rc->fwmark,
		.uid = uid,
	};
}

/* Which of all[0..n) the program cannot run on: bit j of *l3 for a layer 3 device (its
 * packets start at the IP header; the program reads and writes Ethernet frames), the first of
 * them and their number in st. 0, or -errno with st->why set: -EOPNOTSUPP for loopback
 * (nothing to redirect there), another when a link could not be read. */
static int offload_l3_ifaces(const int *all, uint32_t n, uint64_t *l3,
			     struct offload_relay_state *st)
{
	char name[IF_NAMESIZE];
	struct netlink_link link;
	uint32_t j;
	int ret;

	*l3 = 0;
	for (j = 0; j < n; j++) {
		ret = netlink_link_at(all[j], &link);
		if (ret < 0) {
			snprintf(st->why, sizeof(st->why), "reading the link type of %s: %s",
				 offload_ifname(all[j], name), strerror(-ret));
			return ret;
		}
		if (link.loopback) {
			snprintf(st->why, sizeof(st->why),
				 "traffic uses loopback (%s): nothing to redirect there",
				 offload_ifname(all[j], name));
			return -EOPNOTSUPP;
		}
		if (link.eth_frames)
			continue;
		*l3 |= 1ull << j;
		if (!st->n_l3++)
			st->l3 = all[j];
	}
	return 0;
}

/* The interfaces of relay rc, which sends to to[0..n_to) from sockets owned by uid, into st,
 * and in *policy6 the first IPv6 address of to whose route a policy rule chose (NULL: none);
 * 0, or -errno with st->why set: -E2BIG when they are more than OFFLOAD_MAX_IFACES (the
 * program would not run on some, yet the relay's mode would be judged as if it did), or more
 * than RR_IFACES_MAX before the layer 3 devices among them were left out (those past it were
 * never looked at: the set would be incomplete whatever is left). Layer 3
 * devices are left out (st->l3, st->n_l3): the program cannot run there, so the sessions that
 * arrive there reach the socket, and those that would leave there stay on the socket path
 * (offload_session_open). Only when no listen interface, or no upstream's route, is left is
 * the relay refused (-EOPNOTSUPP). */
static int offload_relay_ifaces(const struct relay_conf *rc, const struct addr *to, uint32_t n_to,
				int64_t uid, struct offload_relay_state *st,
				const struct addr **policy6)
{
	char buf[ADDR_STRLEN], name[IF_NAMESIZE];
	int all[RR_IFACES_MAX], idx[RR_IFACES_MAX + 1], n, i, ret;
	uint64_t listen_side = 0, up_side = 0, l3, none;
	uint32_t j, n_all = 0, more = 0, total;
	size_t len;

	/* The listen interfaces, then the upstreams' (a status lists them so); more than the
	 * fast path takes turns it off below, whichever they are. */
	for (j = 0; j < rc->n_listen; j++) {
		n = netlink_addr_ifindexes(&rc->listen[j], idx, RR_IFACES_MAX + 1);
		if (n <= 0) {
			snprintf(st->why, sizeof(st->why), "no interface holds listen address %s",
				 addr_format(&rc->listen[j], buf, sizeof(buf)));
			return n < 0 ? n : -ENODEV;
		}
		if (n > RR_IFACES_MAX) { /* at least one more than listed */
			more++;
			n = RR_IFACES_MAX;
		}
		for (i = 0; i < n; i++)
			offload_add_iface(all, &n_all, idx[i], &listen_side, &more);
	}
	*policy6 = NULL;
	/* The addresses sent to: a name's as resolved (its entry has none of its own), from the
	 * relay's source address when it has one, as its sessions' sockets are routed (a rule
	 * "from ADDR" may send them through another table); every leg of a multipath route,
	 * which the sessions' ports spread them over. */
	for (j = 0; j < n_to; j++) {
		struct netlink_flow fl;
		struct netlink_route rt;

		offload_relay_flow(rc, &to[j], uid, &fl);
		n = netlink_route_get(NULL, &fl, NETLINK_ROUTE_LEG | NETLINK_ROUTE_ALL, &rt);
		if (n < 0) {
			snprintf(st->why, sizeof(st->why), "no route to upstream %s: %s",
				 addr_format(&to[j], buf, sizeof(buf)), strerror(-n));
			return n;
		}
		if (rt.by_policy && addr_family(&to[j]) == AF_INET6 && !*policy6)
			*policy6 = &to[j];
		offload_add_iface(all, &n_all, rt.oif, &up_side, &more);
		for (i = 0; i < (int)rt.n_legs; i++)
			if (i < NETLINK_ROUTE_LEGS)
				offload_add_iface(all, &n_all, rt.legs[i].oif, &up_side, &more);
			else
				more++;
	}
	ret = offload_l3_ifaces(all, n_all, &l3, st);
	if (ret < 0)
		return ret;
	/* Every listen interface, or every upstream route's, layer 3: no session could take the
	 * fast path. */
	none = 0;
	if (!(listen_side & ~l3))
		none = listen_side;
	else if (n_to && !(up_side & ~l3))
		none = up_side;
	if (none) {
		snprintf(st->why, sizeof(st->why),
			 "traffic uses %s, a layer 3 device (tun, WireGuard, an IP tunnel) "
			 "with no Ethernet header for the program to read",
			 offload_ifname(all[__builtin_ctzll(none)], name));
		return -EOPNOTSUPP;
	}
	for (i = 0, j = 0; j < n_all; j++)
		if (!(l3 & (1ull << j)))
			all[i++] = all[j];
	/* more: the list was full before the layer 3 devices went: count them all. */
	total = n_all + more;
	n_all = (uint32_t)i;
	if (!more)
		total = n_all;
	if (more || n_all > OFFLOAD_MAX_IFACES) {
		len = (size_t)snprintf(st->why, sizeof(st->why),
				       "%s%u interfaces (upstream routes, listen addresses), more than "
				       "the %d the fast path takes; left out:",
				       more ? "at least " : "", total, OFFLOAD_MAX_IFACES);
		for (j = OFFLOAD_MAX_IFACES; j < n_all && len + IF_NAMESIZE + 16 < sizeof(st->why);
		     j++)
			len += (size_t)snprintf(st->why + len, sizeof(st->why) - len, " %s",
						offload_ifname(all[j], name));
		if (j > n_all) /* fewer than that are left: only the ones never looked at */
			j = n_all;
		if (j < n_all || more)
			snprintf(st->why + len, sizeof(st->why) - len, " %s%u more",
				 j > OFFLOAD_MAX_IFACES ? "and " : "", n_all - j + more);
		return -E2BIG;
	}
	memcpy(st->ifindex, all, n_all * sizeof(all[0]));
	st->n_ifaces = n_all;
	return 0;
}

/* "; not on tun0 and 1 more (layer 3): ..." at the end of st->why (as far as it fits) when
 * layer 3 devices were left out of a relay's interfaces. */
static void offload_l3_note(struct offload_relay_state *st)
{
	size_t len = strlen(st->why);
	char name[IF_NAMESIZE], more[32] = "";

	if (!st->n_l3 || len >= sizeof(st->why))
		return;
	if (st->n_l3 > 1)
		snprintf(more, sizeof(more), " and %u more", st->n_l3 - 1);
	snprintf(st->why + len, sizeof(st->why) - len,
		 "; not on %s%s (layer 3): sessions arriving or leaving there stay on the socket "
		 "path",
		 offload_ifname(st->l3, name), more);
}

/* bpf_fib_lookup refuses a device whose forwarding sysctl is 0, output lookups included, so
 * XDP (which has no bpf_redirect_neigh) needs it on every interface of the relay. */
static bool offload_forwarding(int ifindex, bool v6)
{
	char name[IF_NAMESIZE], path[96];
	int c = '0';
	FILE *f;

	if (!if_indextoname((unsigned int)ifindex, name))
		return false;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv%c/conf/%s/forwarding", v6 ? '6' : '4',
		 name);
	f = fopen(path, "re");
	if (f) {
		c = fgetc(f);
		fclose(f);
	}
	return c == '1';
}

/* The families the relay's datagrams use. */
static void offload_families(const struct relay_conf *rc, const struct addr *to, uint32_t n_to,
			     bool *v4, bool *v6)
{
	uint32_t j;

	*v4 = *v6 = false;
	for (j = 0; j < rc->n_listen; j++)
		*(addr_family(&rc->listen[j]) == AF_INET6 ? v6 : v4) = true;
	for (j = 0; j < n_to; j++)
		*(addr_family(&to[j]) == AF_INET6 ? v6 : v4) = true;
}

/* "eth0, eth1": st's interfaces, as far as they fit in list[size]. */
static const char *offload_list(const struct offload_relay_state *st, char *list, size_t size)
{
	char name[IF_NAMESIZE];
	size_t len = 0;
	uint32_t j;

	list[0] = '\0';
	for (j = 0; j < st->n_ifaces && len < size; j++)
		len += (size_t)snprintf(list + len, size - len, "%s%s", j ? ", " : "",
					offload_ifname(st->ifindex[j], name));
	return list;
}

/* The fast path never runs in generic XDP: on the skb after GRO the program cannot see a
 * partial checksum (its RFC 1624 update would be wrong) or a GRO super-packet (taken for one
 * datagram), which tc's helpers handle. So a relay that would need it there takes tc, because
 * of why; asked: the relay's offload setting; below: why is that XDP there runs on lower
 * devices (offload_native_why), where generic XDP is beside the point. */
static void offload_tc_instead(struct offload_relay_state *st, enum offload_mode asked,
			       const char *why, bool below)
{
	char list[128], w[OFFLOAD_WHY_LEN];

	snprintf(w, sizeof(w), "%s", why);
	st->got = OFFLOAD_TC;
	if (asked == OFFLOAD_XDP)
		offload_why(st->why,
			    "tc on %s instead of xdp as configured, because %s%s",
			    offload_list(st, list, sizeof(list)), w,
			    below ? "" : ", and the fast path never runs in generic XDP");
	else
		offload_why(st->why, "auto: tc on %s, because %s",
			    offload_list(st, list, sizeof(list)), w);
	offload_l3_note(st);
}

bool offload_refusal_holds(const struct filter_refusal *r, const struct filter_xdp_shape *now_shape,
			   uint64_t now)
{
	const struct filter_xdp_shape *was = &r->shape;

	if (now < r->at || now - r->at >= OFFLOAD_REFUSAL_HOLD_S)
		return false;
	/* (our own tc filter beside a refused XDP attach, in a clsact qdisc, counts there) */
	if (r->tc && was->tc_filters != now_shape->tc_filters)
		return false;
	return was->mtu == now_shape->mtu &&
	       !memcmp(was->channels, now_shape->channels, sizeof(was->channels)) &&
	       was->offloads == now_shape->offloads &&
	       was->xdp_features == now_shape->xdp_features &&
	       was->xdp_prog == now_shape->xdp_prog && was->xdp_mode == now_shape->xdp_mode;
}

enum offload_native offload_native_why(const struct offload_native_facts *fa, char *why,
				       size_t len)
{
	/* A bond's or team's XDP program runs in its slaves' drivers, and so does that of a NIC
	 * driver's device with lower devices (hv_netvsc with its VF). A bridge's or VRF's ports
	 * are lower devices too, but their masters have no native XDP of their own: the
	 * features, or the attach, say so. */
	bool master = !strcmp(fa->kind, "bond") || !strcmp(fa->kind, "team") ||
		      (!fa->kind[0] && fa->n_lowers);

	/* Known features (6.3+) are what the kernel itself goes by: empty ones (a driver that
	 * fills none) have no native XDP either. Unknown ones: the attach tells. */
	if (fa->features_ret == 0 && !(fa->features & NETLINK_XDP_ACT_BASIC)) {
		snprintf(why, len, "%s has no native XDP (not in its xdp-features)", fa->name);
	} else if (master) {
		snprintf(why, len,
			 "%s has no native XDP for the fast path (%s%s: XDP there runs on its lower "
			 "devices%s%s, whose ifindex the program would see)",
			 fa->name, fa->kind[0] ? "a " : "a master", fa->kind, fa->n_lowers ? " " : "",
			 fa->lowers);
		return OFFLOAD_NATIVE_BELOW;
	} else if (fa->refused) {
		snprintf(why, len, "%s has no native XDP (attach refused earlier: %s)", fa->name,
			 strerror(-fa->refused->err));
	} else {
		return OFFLOAD_NATIVE_MAY;
	}
	return OFFLOAD_NATIVE_NONE;
}

/* A refusal of hook tc (else native XDP) on ifindex that f kept (NULL: none) and that still
 * holds (offload_refusal_holds): true with *r. */
static bool offload_refused(const struct filter *f, int ifindex, bool tc, struct filter_refusal *r)
{
	struct filter_xdp_shape shape;
	struct timespec ts;

	if (!filter_offload_refused(f, ifindex, tc, r) || filter_xdp_shape(ifindex, &shape))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return offload_refusal_holds(r, &shape, (uint64_t)ts.tv_sec);
}

/* Whether the fast path may have native XDP on ifindex, judged by offload_native_why with
 * what the host and f (the refusals it kept; NULL: none, as for -V) say: its verdict, with
 * why set when not OFFLOAD_NATIVE_MAY. */
static enum offload_native offload_native(const struct filter *f, int ifindex, int features_ret, uint64_t features,
			   char *why, size_t len)
{
	struct offload_native_facts fa = { .features_ret = features_ret, .features = features,
					   .kind = "" };
	char name[IF_NAMESIZE], lowers[128];
	struct netlink_link link;
	struct filter_refusal r;
	int n;

	fa.name = offload_ifname(ifindex, name);
	if (netlink_link_at(ifindex, &link) == 0)
		fa.kind = link.kind;
	/* rtnetlink, not sysfs: /sys may show another network namespace's devices */
	n = netlink_lower_links(ifindex, lowers, sizeof(lowers));
	fa.n_lowers = n > 0 ? (uint32_t)n : 0;
	fa.lowers = n > 0 ? lowers : "";
	if (offload_refused(f, ifindex, false, &r))
		fa.refused = &r;
	return offload_native_why(&fa, why, len);
}

/* A relay in tc where the tc attach was refused and that refusal holds gets off, as the
 * attach would leave it (offload_after_fail), without trying again: the rounds would detach
 * and attach the hooks of the relays beside it for nothing. */
static void offload_tc_refused(const struct filter *f, struct offload_relay_state *st)
{
	char name[IF_NAMESIZE];
	struct filter_refusal r;
	uint32_t j;

	for (j = 0; f && st->got == OFFLOAD_TC && j < st->n_ifaces; j++) {
		if (!offload_refused(f, st->ifindex[j], true, &r))
			continue;
		st->got = OFFLOAD_OFF;
		offload_why(st->why, "offload: attach tc on %s: %s (refused earlier)",
			    offload_ifname(st->ifindex[j], name), strerror(-r.err));
	}
}

static void offload_resolve_one(const struct filter *f, const struct relay_conf *rc,
				const struct addr *to, uint32_t n_to, int64_t uid,
				struct offload_relay_state *st)
{
	char name[IF_NAMESIZE], list[128], buf[ADDR_STRLEN], native[OFFLOAD_WHY_LEN] = "";
	const struct addr *policy6;
	const char *missing = NULL;
	uint64_t feat;
	uint32_t j;
	bool v4, v6, below = false;
	int ret;

	memset(st, 0, sizeof(*st));
	st->got = OFFLOAD_OFF;
	if (rc->offload == OFFLOAD_OFF) {
		snprintf(st->why, sizeof(st->why), "offload = \"off\"");
		return;
	}
	if (rc->mode != RELAY_MODE_FORWARD) {
		snprintf(st->why, sizeof(st->why), "mirror mode stays on the socket path");
		return;
	}
	/* The program routes by destination only: a policy route chosen by the socket's mark
	 * or by the client's source address would not be followed. */
	if (rc->source == SOURCE_CLIENT || rc->fwmark) {
		snprintf(st->why, sizeof(st->why), "%s stays on the socket path (policy routing)",
			 rc->fwmark ? "fwmark" : "source = \"client\"");
		return;
	}
	if (offload_relay_ifaces(rc, to, n_to, uid, st, &policy6) < 0)
		return;
	offload_list(st, list, sizeof(list));
	for (j = 0; j < st->n_ifaces; j++) {
		feat = 0;
		ret = netlink_xdp_features(st->ifindex[j], &feat);
		/* A driver with native XDP says BASIC (every one since 6.3; a veth while its
		 * peer has no more TX queues than it has RX queues). Unknown features (before
		 * 6.3): the attach tells (offload_fail_want), once (filter_offload_refused). */
		if (rc->offload != OFFLOAD_TC && !native[0])
			below = offload_native(f, st->ifindex[j], ret, feat, native,
					       sizeof(native)) == OFFLOAD_NATIVE_BELOW;
		if (ret == 0 && (feat & NETLINK_XDP_ACT_NDO_XMIT))
			st->xdp_tx_mask |= 1u << j;
		else if (!missing)
			missing = ret < 0 ? "xdp-features unknown (netdev netlink family missing)"
				  : !feat ? "its xdp-features are empty (its driver fills none)"
					  : "no NDO_XMIT in its xdp-features (a veth needs an XDP "
					    "program or GRO on its peer)";
		if (!(st->xdp_tx_mask & (1u << j)) && missing && !strchr(st->why, ':'))
			snprintf(st->why, sizeof(st->why), "%s cannot take XDP_REDIRECT: %s",
				 offload_ifname(st->ifindex[j], name), missing);
	}
	offload_families(rc, to, n_to, &v4, &v6);
	for (j = 0; j < st->n_ifaces && !missing; j++) {
		if ((v4 && !offload_forwarding(st->ifindex[j], false)) ||
		    (v6 && !offload_forwarding(st->ifindex[j], true))) {
			missing = "forwarding";
			offload_why(st->why,
				    "XDP needs net.ipv%s.conf.%s.forwarding = 1 "
				    "(bpf_fib_lookup refuses devices without it)",
				    v4 && !offload_forwarding(st->ifindex[j], false) ? "4" : "6",
				    offload_ifname(st->ifindex[j], name));
		}
	}
	/* XDP's IPv6 FIB lookup follows no rule that chooses a table by source (the program
	 * passes such datagrams up); tc routes them with bpf_redirect_neigh. IPv4's follows. */
	if (!missing && policy6) {
		missing = "policy";
		offload_why(st->why,
			    "the IPv6 route to upstream %s comes from a policy rule's table, which "
			    "XDP's IPv6 FIB lookup does not follow",
			    addr_format(policy6, buf, sizeof(buf)));
	}
	if (native[0] && rc->offload != OFFLOAD_TC) {
		offload_tc_instead(st, rc->offload, native, below);
		offload_tc_refused(f, st);
		return;
	}
	switch (rc->offload) {
	case OFFLOAD_XDP:
		st->got = OFFLOAD_XDP;
		if (missing) {
			char w[OFFLOAD_WHY_LEN];

			memcpy(w, st->why, sizeof(w));
			offload_why(st->why,
				    "xdp as configured on %s; but %s: datagrams leaving "
				    "there go up the stack",
				    list, w);
		} else {
			snprintf(st->why, sizeof(st->why), "xdp as configured on %s", list);
		}
		break;
	case OFFLOAD_TC:
		st->got = OFFLOAD_TC;
		snprintf(st->why, sizeof(st->why), "tc as configured on %s", list);
		break;
	default:
		if (!missing) {
			st->got = OFFLOAD_XDP;
			snprintf(st->why, sizeof(st->why),
				 "auto: every interface (%s) takes "
				 "XDP_REDIRECT",
				 list);
		} else {
			char w[OFFLOAD_WHY_LEN];

			st->got = OFFLOAD_TC;
			memcpy(w, st->why, sizeof(w));
			offload_why(st->why, "auto: tc on %s, because %s", list, w);
		}
		break;
	}
	offload_l3_note(st);
	offload_tc_refused(f, st);
}

/* offload_resolve, with the native XDP refusals f kept (NULL: none). */
static void offload_resolve_in(const struct filter *f, const struct config *cfg, int64_t uid,
			       offload_sends_fn *sends, void *arg,
			       struct offload_relay_state *out)
{
	struct addr to[CONFIG_MAX_UPSTREAMS];
	uint32_t i, j, n;

	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *rc = &cfg->relays[i];

		n = sends ? sends(arg, cfg, i, to) : 0;
		for (j = 0; !n && j < rc->n_members; j++)
			to[j] = rc->members[j].addr;
		offload_resolve_one(f, rc, to, n ? n : rc->n_members, uid, &out[i]);
	}
}

void offload_resolve(const struct config *cfg, int64_t uid, offload_sends_fn *sends, void *arg,
		     struct offload_relay_state *out)
{
	offload_resolve_in(NULL, cfg, uid, sends, arg, out);
}

/* The filter judges first, so a relay in XDP takes tc where the filter runs in tc (in XDP the
 * fast path would relay a session's datagrams before the filter saw them: its rate limit,
 * rules a reload changed) or in generic XDP (a program the fast path never joins,
 * offload_tc_instead). tc after the filter's generic program sees whole frames: that one is
 * loaded without frags (bpf/filter.bpf.c). */
static void offload_after_filter(struct offload_relay_state *st, int ifindex, bool generic)
{
	char name[IF_NAMESIZE];

	st->got = OFFLOAD_TC;
	offload_why(st->why,
		    "tc on every interface, because the filter runs in %s on %s and must "
		    "judge first",
		    generic ? "generic XDP" : "tc", offload_ifname(ifindex, name));
	offload_l3_note(st);
}

void offload_resolve_filter(const struct config *cfg, struct offload_relay_state *out)
{
	const struct filter_conf *fc = &cfg->filter;
	uint32_t i, j, k;

	if (fc->mode != FILTER_MODE_TC && fc->mode != FILTER_MODE_XDP_GENERIC)
		return;
	for (i = 0; i < cfg->n_relays; i++)
		for (j = 0; out[i].got == OFFLOAD_XDP && j < out[i].n_ifaces; j++)
			for (k = 0; k < fc->n_interfaces; k++)
				if ((int)if_nametoindex(fc->interfaces[k]) == out[i].ifindex[j]) {
					offload_after_filter(&out[i], out[i].ifindex[j],
							     fc->mode == FILTER_MODE_XDP_GENERIC);
					break;
				}
}

struct offload_want {
	int ifindex;
	bool xdp, tc, xdp_tx;
};

/* The fast path as a stage (stage.h): cfg's relays, their states and what they want. */
struct offload_stage {
	struct filter *f;
	const struct config *cfg;
	struct offload_relay_state *out;
	struct offload_want want[RR_IFACES_MAX];
	uint32_t n_want;
	enum offload_failed failed; /* how the last attach failed */
};

/* What the relays still on need, per interface. The program's interface table is shared by
 * every relay: one whose interfaces do not all fit is turned off, rather than given half of a
 * fast path. */
static uint32_t offload_wants(void *arg)
{
	struct offload_stage *s = arg;
	struct offload_want *want = s->want;
	uint32_t i, j, k, n_new, n_want = 0;

	for (i = 0; i < s->cfg->n_relays; i++) {
		struct offload_relay_state *st = &s->out[i];

		for (j = 0, n_new = 0; st->got != OFFLOAD_OFF && j < st->n_ifaces; j++) {
			for (k = 0; k < n_want && want[k].ifindex != st->ifindex[j]; k++)
				;
			n_new += k == n_want;
		}
		if (st->got != OFFLOAD_OFF && n_want + n_new > RR_IFACES_MAX) {
			st->got = OFFLOAD_OFF;
			offload_why(st->why, "the relays' interfaces are more than the %d the "
				    "program takes", RR_IFACES_MAX);
		}
		for (j = 0; st->got != OFFLOAD_OFF && j < st->n_ifaces; j++) {
			for (k = 0; k < n_want && want[k].ifindex != st->ifindex[j]; k++)
				;
			if (k == n_want)
				want[n_want++] = (struct offload_want){.ifindex = st->ifindex[j]};
			want[k].xdp |= st->got == OFFLOAD_XDP;
			want[k].tc |= st->got == OFFLOAD_TC;
			want[k].xdp_tx |= !!(st->xdp_tx_mask & (1u << j));
		}
	}
	s->n_want = n_want;
	return n_want;
}

/* Detaches the fast path from each hook where it runs but no relay needs it there. A hook
 * still wanted stays (an XDP detach and attach re-makes the device's NAPI instances, and
 * resets some drivers' rings); one added beside it is just attached. */
static void offload_detach_unwanted(void *arg)
{
	struct offload_stage *s = arg;
	struct filter_offload_iface have[RR_IFACES_MAX];
	int n_have = filter_offload_ifaces(s->f, have, RR_IFACES_MAX);
	const struct offload_want none = { 0 }, *w;
	uint32_t j, k;

	for (j = 0; j < (uint32_t)n_have; j++) {
		for (k = 0; k < s->n_want && s->want[k].ifindex != have[j].ifindex; k++)
			;
		w = k < s->n_want ? &s->want[k] : &none;
		if ((have[j].xdp && !w->xdp) || (have[j].tc && !w->tc))
			filter_offload_detach(s->f, have[j].ifindex, have[j].xdp && !w->xdp,
					      have[j].tc && !w->tc);
	}
}

static int offload_attach_want(void *arg, uint32_t k, char *err, size_t errlen)
{
	struct offload_stage *s = arg;
	const struct offload_want *w = &s->want[k];
	int ret = 0;

	s->failed = OFFLOAD_FAILED_TC;
	if (w->xdp) {
		ret = filter_offload_attach(s->f, w->ifindex, true, w->xdp_tx, err, errlen);
		s->failed = ret < 0 ? OFFLOAD_FAILED_XDP : OFFLOAD_FAILED_TC_BESIDE_XDP;
		if (ret < 0) /* (the relay's reason says it; this says why the XDP attach went) */
			log_info("offload: %s: the relays in XDP there take tc", err);
	}
	if (!ret && w->tc)
		ret = filter_offload_attach(s->f, w->ifindex, false, false, err, errlen);
	return ret;
}

enum offload_mode offload_after_fail(enum offload_mode got, enum offload_failed how)
{
	switch (how) {
	case OFFLOAD_FAILED_XDP: /* (one in tc there was not tried yet) */
		return got == OFFLOAD_XDP ? OFFLOAD_TC : got;
	case OFFLOAD_FAILED_TC_BESIDE_XDP: /* those in XDP there have all they need */
		return got == OFFLOAD_TC ? OFFLOAD_OFF : got;
	default:
		return OFFLOAD_OFF;
	}
}

/* Moves the relays on want k's interface as offload_after_fail says: at least one moves down
 * (XDP to tc, or off: a want with tc has a relay in tc), so the rounds end (stage.h). */
static void offload_fail_want(void *arg, uint32_t k, const char *err)
{
	struct offload_stage *s = arg;
	enum offload_mode now;
	uint32_t i, j;

	for (i = 0; i < s->cfg->n_relays; i++) {
		struct offload_relay_state *st = &s->out[i];

		for (j = 0; j < st->n_ifaces; j++) {
			if (st->ifindex[j] != s->want[k].ifindex || st->got == OFFLOAD_OFF)
				continue;
			now = offload_after_fail(st->got, s->failed);
			if (now == st->got)
				continue;
			if (now == OFFLOAD_TC)
				offload_tc_instead(st, s->cfg->relays[i].offload, err, false);
			else
				offload_why(st->why, "%s", err);
			st->got = now;
		}
	}
}

void offload_beside_foreign(struct offload_relay_state *st, int ifindex,
			    const struct filter_foreign_prog *p)
{
	char name[IF_NAMESIZE], w[OFFLOAD_WHY_LEN];

	if (st->got == OFFLOAD_OFF || p->verdict == FILTER_FOREIGN_NONE)
		return;
	if (p->verdict == FILTER_FOREIGN_FRAGS) {
		st->got = OFFLOAD_OFF;
		offload_why(st->why,
			    "%s, after which Linux 6.9+ hands tc the frames without their Ethernet "
			    "header (and native XDP cannot stand beside it): detach it or load it "
			    "without frags",
			    p->why);
		return;
	}
	/* In front, where a cut long reason does not lose it. */
	snprintf(w, sizeof(w), "%s", st->why);
	offload_why(st->why,
		    "at risk: prog %u in generic XDP on %s may take frags (cannot tell), and then "
		    "tc sees no Ethernet header and nothing goes fast; %s",
		    p->id, offload_ifname(ifindex, name), w);
}

/* Someone else's generic XDP program, per interface of the relays, asked once an apply (the
 * query reads every link of the host: 12-16 ms with 2,000). */
struct offload_foreign {
	struct {
		int ifindex;
		struct filter_foreign_prog p;
	} seen[RR_IFACES_MAX];
	uint32_t n;
	struct filter_foreign_prog spill; /* one that did not fit, asked each time */
};

static const struct filter_foreign_prog *offload_foreign_at(struct filter *f,
							    struct offload_foreign *t, int ifindex)
{
	uint32_t k;

	for (k = 0; k < t->n; k++)
		if (t->seen[k].ifindex == ifindex)
			return &t->seen[k].p;
	if (t->n == RR_IFACES_MAX) {
		filter_xdp_foreign(f, ifindex, &t->spill);
		return &t->spill;
	}
	t->seen[t->n].ifindex = ifindex;
	filter_xdp_foreign(f, ifindex, &t->seen[t->n].p);
	return &t->seen[t->n++].p;
}

bool offload_ifaces_changed(const struct filter_offload_iface *before, int n0,
			    const struct filter_offload_iface *after, int n1, uint32_t hooks0,
			    uint32_t hooks1)
{
	int i;

	if (n0 != n1 || hooks0 != hooks1)
		return true;
	/* (field by field: what filter_offload_ifaces leaves after a name's end is not
	 * compared) */
	for (i = 0; i < n1; i++)
		if (strncmp(before[i].name, after[i].name, sizeof(after[i].name)) ||
		    before[i].ifindex != after[i].ifindex || before[i].xdp != after[i].xdp ||
		    before[i].tc != after[i].tc || before[i].xdp_tx != after[i].xdp_tx)
			return true;
	return false;
}

int offload_apply(struct filter *f, const struct config *cfg, int64_t uid, offload_sends_fn *sends,
		  void *arg, struct offload_relay_state *out)
{
	static const struct stage_ops ops = {
		.wants = offload_wants,
		.prune = offload_detach_unwanted,
		.attach = offload_attach_want,
		.fail = offload_fail_want,
	};
	struct offload_stage s = { .f = f, .cfg = cfg, .out = out };
	struct offload_foreign seen = {.n = 0};
	const struct filter_foreign_prog *p;
	uint32_t i, j;

	offload_resolve_in(f, cfg, uid, sends, arg, out);
	for (i = 0; i < cfg->n_relays; i++) {
		struct offload_relay_state *st = &out[i];

		for (j = 0; st->got == OFFLOAD_XDP && j < st->n_ifaces; j++) {
			if (filter_in_tc(f, st->ifindex[j]))
				offload_after_filter(st, st->ifindex[j], false);
			else if (filter_in_generic_xdp(f, st->ifindex[j]))
				offload_after_filter(st, st->ifindex[j], true);
		}
		/* Someone else's generic XDP program that takes frags: tc after it reads nothing
		 * right (filter_xdp_foreign), and native XDP cannot stand beside it. */
		for (j = 0; st->got != OFFLOAD_OFF && j < st->n_ifaces; j++) {
			p = offload_foreign_at(f, &seen, st->ifindex[j]);
			if (p->verdict == FILTER_FOREIGN_FRAGS)
				offload_beside_foreign(st, st->ifindex[j], p);
		}
	}
	/* A relay whose attach fails on one of its interfaces gets none of them (stage.h). */
	stage_attach(&ops, &s);
	/* One whose frags cannot be told: tc as before it was looked at, at a risk it says. */
	for (i = 0; i < cfg->n_relays; i++)
		for (j = 0; out[i].got != OFFLOAD_OFF && j < out[i].n_ifaces; j++) {
			p = offload_foreign_at(f, &seen, out[i].ifindex[j]);
			if (p->verdict != FILTER_FOREIGN_UNTOLD)
				continue;
			offload_beside_foreign(&out[i], out[i].ifindex[j], p);
			if (filter_foreign_first_warning(f, p->id))
				log_warn(
				    "offload: the fast path runs in tc all the same behind %s: "
				    "if it does, Linux 6.9+ hands tc the frames without their "
				    "Ethernet header, and the relays there relay nothing fast "
				    "(ringrelayctl status says which)",
				    p->why);
			break; /* (one note) */
		}
	for (i = 0; i < cfg->n_relays; i++) {
		if (cfg->relays[i].offload == OFFLOAD_OFF)
			continue;
		if (out[i].got == OFFLOAD_OFF)
			log_notice("relay %s: offload off: %s", cfg->relays[i].name, out[i].why);
		else if (cfg->relays[i].offload != OFFLOAD_AUTO &&
			 out[i].got != cfg->relays[i].offload) /* xdp configured, tc got */
			log_notice("relay %s: offload %s: %s", cfg->relays[i].name,
				   config_offload_name(out[i].got), out[i].why);
		else
			log_info("relay %s: offload %s: %s", cfg->relays[i].name,
				 config_offload_name(out[i].got), out[i].why);
	}
	return 0;
}

void offload_recheck(struct filter *f)
{
	char name[IF_NAMESIZE];
	int down[RR_IFACES_MAX], n, i;
	uint64_t feat;

	n = filter_offload_down(f, down, RR_IFACES_MAX);
	for (i = 0; i < n; i++) {
		/* A target gone (its link event forgets it too, but there may be no link
		 * events) would otherwise keep its slot for good. */
		if (!if_indextoname((unsigned int)down[i], name) &&
		    (errno == ENXIO || errno == ENODEV)) {
			filter_offload_gone(f, down[i]);
			continue;
		}
		if (netlink_xdp_features(down[i], &feat) || !(feat & NETLINK_XDP_ACT_NDO_XMIT))
			continue;
		filter_offload_up(f, down[i]);
		log_notice("offload: %s takes XDP_REDIRECT again", offload_ifname(down[i], name));
	}
}

/* ---------------------------------------------------------------- per session */

static void offload_key_from(struct offload_key *k, const struct addr *src, const struct addr *dst)
{
	memset(k, 0, sizeof(*k));
	addr_to_mapped(src, k->saddr);
	addr_to_mapped(dst, k->daddr);
	k->sport = htons(addr_port(src));
	k->dport = htons(addr_port(dst));
}

/* The flow of the route lookups for the datagrams of a socket with keys k from src (NULL: the
 * lookup picks the source) and port sport to dst: what the kernel's flowi for them carries. */
static void offload_sock_flow(const struct sock_route_keys *k, const struct addr *src,
			      uint16_t sport, const struct addr *dst, struct netlink_flow *fl)
{
	*fl = (struct netlink_flow){ .dst = dst, .src = src, .proto = IPPROTO_UDP, .sport = sport,
				     .mark = k->mark, .uid = k->uid, .oif = k->oif };
}

static bool offload_leg_is(const struct netlink_leg *l, int oif, int gw_family, const uint8_t *gw)
{
	return l->oif == oif && l->gw_family == gw_family &&
	       (!gw_family || !memcmp(l->gw, gw, gw_family == AF_INET ? 4 : 16));
}

/* Whether the program's own per-datagram lookup for the rewritten datagram (from src, flow
 * fl's destination) sends it where the socket's route sk does: 0, or the refusal (positive)
 * or -errno. Its helpers describe the flow with less than the socket did: bpf_fib_lookup
 * with the ports but mark 0 and uid 0, bpf_redirect_neigh (tc without forwarding, or an IPv6
 * route a policy rule chose) with the protocol but no ports, the skb's mark (0 here) and uid
 * 0; both on the socket's device, which holds IPv4's lookups (the first live leg there, no
 * multipath hash) and which IPv6's only prefer. Asked without the ports: a rule on ports
 * that the socket's flow matched makes the answers differ, whichever helper runs. */
static int offload_route_check(struct netlink_rtsock *nl, const struct addr *src,
			       const struct netlink_flow *fl, const struct netlink_route *sk)
{
	struct netlink_flow pf = { .dst = fl->dst, .src = src, .proto = IPPROTO_UDP,
				   .no_ports = true, .uid = 0, .oif = sk->oif };
	const struct netlink_leg *leg = NULL;
	struct netlink_route rt;
	uint32_t i, on_dev = 0;
	int ret;

	ret = netlink_route_get(nl, &pf, NETLINK_ROUTE_ALL, &rt);
	if (ret == -ENETUNREACH || ret == -EHOSTUNREACH)
		return OFFLOAD_REFUSED_ROUTE;
	if (ret < 0)
		return ret;
	if (rt.n_legs > NETLINK_ROUTE_LEGS)
		return OFFLOAD_REFUSED_LEGS;
	for (i = 0; i < rt.n_legs; i++)
		if (rt.legs[i].oif == sk->oif && on_dev++ == 0)
			leg = &rt.legs[i];
	/* Two legs on the device: the program takes the first of them, the socket either. */
	if (on_dev > 1)
		return OFFLOAD_REFUSED_LEGS;
	if (!leg || !offload_leg_is(leg, sk->oif, sk->gw_family, sk->gw))
		return OFFLOAD_REFUSED_ROUTE;
	/* bpf_redirect_neigh's IPv6 lookup (with a source, so not held to the device) hashes a
	 * multipath route's datagrams onto any leg, without their ports, and resolves that
	 * leg's gateway on the session's device. It routes where tc finds forwarding off, and
	 * every datagram of a route a policy rule chose. */
	if (addr_family(fl->dst) == AF_INET6 && rt.n_legs > 1) {
		if (sk->by_policy || rt.by_policy)
			return OFFLOAD_REFUSED_MULTIPATH6;
		ret = netlink_forwarding(nl, AF_INET6, sk->oif);
		if (ret < 0)
			return ret;
		if (!ret)
			return OFFLOAD_REFUSED_MULTIPATH6;
	}
	return 0;
}

/* A path MTU as a rule holds it: 0 (no limit) for none or one past 16 bits. */
static uint16_t offload_mtu(int mtu)
{
	return mtu > 0 && mtu <= 65535 ? (uint16_t)mtu : 0;
}

/* The rule that rewrites a datagram to leave from src to fl->dst, routed as flow fl, when the
 * program's own lookups route it as the socket's are: 0, a refusal (positive: the session
 * stays on the socket path) or -errno. */
static int offload_rule_from(struct netlink_rtsock *nl, struct offload_rule *r,
			     const struct addr *src, const struct netlink_flow *fl, int ttl,
			     int mtu, uint32_t flow, uint32_t max_payload, enum offload_dir dir)
{
	const struct addr *dst = fl->dst;
	struct netlink_route rt;
	uint32_t label = 0;
	int ret;

	/* As the socket path's datagrams are routed: a rule that chooses the table by source
	 * picks the device the socket's datagrams leave by, and a multipath route the same leg.
	 * A link-local src or dst is refused (-EADDRNOTAVAIL): the session stays on the socket
	 * path. */
	ret = netlink_route_get(nl, fl, NETLINK_ROUTE_LEG, &rt);
	if (ret == 0)
		ret = offload_route_check(nl, src, fl, &rt);
	if (ret != 0)
		return ret;
	memset(r, 0, sizeof(*r));
	addr_to_mapped(src, r->saddr);
	addr_to_mapped(dst, r->daddr);
	r->sport = htons(addr_port(src));
	r->dport = htons(addr_port(dst));
	r->oif = (uint32_t)rt.oif;
	r->ttl = (uint8_t)ttl;
	r->flow = flow;
	r->dir = (uint8_t)dir;
	r->v4 = addr_family(dst) == AF_INET;
	r->by_policy = rt.by_policy;
	r->max_payload = (uint16_t)(max_payload > 65535 ? 65535 : max_payload);
	r->path_mtu = offload_mtu(mtu);
	/* A flow label per direction and session, as net.ipv6.auto_flowlabels gives a socket. */
	if (getrandom(&label, sizeof(label), GRND_NONBLOCK) != sizeof(label))
		label = flow * 2654435761u;
	r->flowlabel = htonl((label & 0xfffff) | 1);
	return 0;
}

bool offload_hooks_relay(uint32_t in, uint32_t out)
{
	/* tc routes to any device with bpf_redirect_neigh; what XDP passes up tc beside it on
	 * in still relays. XDP redirects to targets only: a device of an XDP relay that is none
	 * (no NDO_XMIT, which "xdp" as configured takes: those datagrams pass up as pass_no_tx,
	 * docs/offload.md) is its own; one that only a tc fast path runs on is another relay's. */
	if (in & FILTER_HOOK_TC)
		return true;
	return (in & FILTER_HOOK_XDP) && (out & (FILTER_HOOK_XDP | FILTER_HOOK_TARGET));
}

/* 0 when the program relays the datagrams that arrive on in and leave by out (filter's
 * hooks on them: offload_hooks_relay), else OFFLOAD_REFUSED_DEVICE or -errno. */
static int offload_runs_on(const struct offload_worker *ow, int in, int out)
{
	int hi = filter_offload_hooks(ow->f, in), ho;

	if (hi < 0)
		return hi;
	ho = filter_offload_hooks(ow->f, out);
	if (ho < 0)
		return ho;
	return offload_hooks_relay((uint32_t)hi, (uint32_t)ho) ? 0 : OFFLOAD_REFUSED_DEVICE;
}

/* The program's passes up of a flow that say its routes may have moved: datagrams on
 * another interface than a rule's iif, or routed elsewhere than its oif (both directions,
 * summed: only whether they moved matters; wraps). */
static uint32_t offload_route_count(const struct offload_flow_stats *st)
{
	return __atomic_load_n(&st->wrong_iface[0], __ATOMIC_RELAXED) +
	       __atomic_load_n(&st->wrong_iface[1], __ATOMIC_RELAXED) +
	       __atomic_load_n(&st->fib_pass[0], __ATOMIC_RELAXED) +
	       __atomic_load_n(&st->fib_pass[1], __ATOMIC_RELAXED);
}

/* Derives the devices of s's two rules of flow slot flow (its sockets' routes now, with their
 * keys) as offload_session_open did: into up_r and down_r (oif, iif, by_policy; the rest is not
 * derived). 0, a refusal (positive) or -errno. */
static int offload_session_routes(const struct offload_worker *ow, const struct session *s,
				  uint32_t flow, const struct sock_route_keys *up_keys,
				  const struct sock_route_keys *down_keys,
				  struct offload_rule *up_r, struct offload_rule *down_r)
{
	struct netlink_flow up_fl, down_fl;
	int ret;

	offload_sock_flow(up_keys, &s->fast_local, addr_port(&s->fast_local), &s->upstream_addr,
			  &up_fl);
	offload_sock_flow(down_keys, &s->local, addr_port(&s->local), &s->client, &down_fl);
	ret = offload_rule_from(ow->nl, up_r, &s->fast_local, &up_fl, 0, 0, flow, 0,
				OFFLOAD_DIR_UP);
	if (ret != 0)
		return ret;
	ret = offload_rule_from(ow->nl, down_r, &s->local, &down_fl, 0, 0, flow, 0,
				OFFLOAD_DIR_DOWN);
	if (ret != 0)
		return ret;
	/* Each direction leaves about where the other's datagrams arrive. Where the fast path
	 * does not run (a layer 3 device, which no relay's fast path takes, or a device none of
	 * them uses), the program would never see those; and XDP redirects only to a target (a
	 * device that only another relay's tc fast path runs on is none): every datagram would
	 * cost a lookup before going up the stack (pass_no_tx). */
	ret = offload_runs_on(ow, down_r->oif, up_r->oif);
	if (ret == 0)
		ret = offload_runs_on(ow, up_r->oif, down_r->oif);
	if (ret != 0)
		return ret;
	/* Only there does the program take them: a datagram with the key that arrives by another
	 * device goes up the stack (pass_wrong_iface), whose rp_filter judges it as it would
	 * without the fast path. */
	up_r->iif = down_r->oif;
	down_r->iif = up_r->oif;
	return 0;
}

int offload_session_open(const struct offload_worker *ow, struct session *s,
			 const struct offload_socks *so, uint32_t flow, struct relay_dir_counters *left)
{
	const struct offload_flow_stats *st = filter_offload_flow(ow->f, flow);
	struct offload_key up_k, down_k;
	struct offload_rule up_r, down_r;
	struct sock_route_keys up_keys;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = so->fd, ttl_up, ttl_down, mtu_up, mtu_down, ret;

	if (!st)
		return -ERANGE;
	/* Without the address the client sent to (a wildcard listener without pktinfo), the
	 * reply's source is unknown. */
	if (addr_is_any(&s->local))
		return -EADDRNOTAVAIL;
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	ret = addr_from_sockaddr(&s->fast_local, &ss, len);
	if (ret < 0)
		return ret;
	/* (before any refusal: a session parked for its routes tries again with them,
	 * fast_return) */
	s->fast_reply_mark = so->listen_keys->mark;
	s->fast_reply_oif = so->listen_keys->oif;
	s->fast_reply_uid = so->listen_keys->uid;
	ttl_up = sock_hop_limit(fd);
	/* The path MTUs the socket path sends by: the session socket's route upstream; for
	 * replies (the listener is not connected), a socket connected to the client from the
	 * address it sent to, with the listener's mark and device, as the listener's replies
	 * are routed. */
	mtu_up = sock_path_mtu(fd, &s->upstream_addr);
	ttl_down = sock_route_hop_limit(&s->local, so->listen_keys, &s->client, &mtu_down);
	if (ttl_up < 0)
		return ttl_up;
	if (mtu_up < 0)
		return mtu_up;
	if (ttl_down < 0)
		return ttl_down;
	/* The session socket's route (and multipath leg) was chosen when it connected, with
	 * its source address: IPv4 asks again with the one the first lookup picked
	 * (ip_route_connect), and sock_open_upstream connects an IPv6 socket bound to no address
	 * twice for that. Replies leave by the listener, from the address the client sent to,
	 * routed per datagram. */
	ret = sock_route_keys(fd, &up_keys);
	if (ret < 0)
		return ret;
	ret = offload_session_routes(ow, s, flow, &up_keys, so->listen_keys, &up_r, &down_r);
	if (ret != 0)
		return ret;
	/* What the socket path sends with, which a derivation again keeps. */
	up_r.ttl = (uint8_t)ttl_up;
	up_r.path_mtu = offload_mtu(mtu_up);
	up_r.max_payload = (uint16_t)(ow->max_payload > 65535 ? 65535 : ow->max_payload);
	down_r.ttl = (uint8_t)ttl_down;
	down_r.path_mtu = offload_mtu(mtu_down);
	down_r.max_payload =
		(uint16_t)(ow->reply_max_payload > 65535 ? 65535 : ow->reply_max_payload);
	offload_key_from(&up_k, &s->client, &s->local);
	offload_key_from(&down_k, &s->upstream_addr, &s->fast_local);
	/* the interface the filter judges the client's datagrams on (worker_judge) */
	s->fast_iif = (int)up_r.iif;
	/* Counts only grow in a slot. What a program already past its lookup counted after the
	 * slot's previous session was folded at its close (an RCU grace period) still belongs to
	 * this relay: fold it now, then the rest is this session's. */
	if (s->flow == flow) {
		s->fast = true;
		offload_session_fold(ow, s, left);
		s->fast = false;
	}
	s->fast_base[0] = __atomic_load_n(&st->pkts[0], __ATOMIC_RELAXED);
	s->fast_base[1] = __atomic_load_n(&st->pkts[1], __ATOMIC_RELAXED);
	s->fast_base[2] = __atomic_load_n(&st->bytes[0], __ATOMIC_RELAXED);
	s->fast_base[3] = __atomic_load_n(&st->bytes[1], __ATOMIC_RELAXED);
	s->fast_seen = __atomic_load_n(&st->last_seen_ns, __ATOMIC_RELAXED);
	s->flow = flow;
	s->fast_pkts = 0;
	/* What the program passed up for the slot's earlier sessions is not this one's. */
	s->fast_mtu_pass[0] = __atomic_load_n(&st->mtu_pass[0], __ATOMIC_RELAXED);
	s->fast_mtu_pass[1] = __atomic_load_n(&st->mtu_pass[1], __ATOMIC_RELAXED);
	s->fast_mtu_too_big[0] = __atomic_load_n(&st->too_big[0], __ATOMIC_RELAXED);
	s->fast_mtu_too_big[1] = __atomic_load_n(&st->too_big[1], __ATOMIC_RELAXED);
	s->fast_mtu[OFFLOAD_DIR_UP] = up_r.path_mtu;
	s->fast_mtu[OFFLOAD_DIR_DOWN] = down_r.path_mtu;
	s->fast_mtu_at = s->started;
	s->fast_route_pass = offload_route_count(st);
	s->fast_route_quiet = 0;
	s->fast_route_backoff = 0;
	s->fast_route_refused = 0;
	s->fast_route_hit = false;
	memset(s->fast_mtu_quiet, 0, sizeof(s->fast_mtu_quiet));
	memset(s->fast_mtu_backoff, 0, sizeof(s->fast_mtu_backoff));
	memset(s->fast_mtu_tb_quiet, 0, sizeof(s->fast_mtu_tb_quiet));
	memset(s->fast_mtu_tb_backoff, 0, sizeof(s->fast_mtu_tb_backoff));
	ret = filter_offload_set(ow->f, &down_k, &down_r);
	if (ret == 0)
		ret = filter_offload_set(ow->f, &up_k, &up_r);
	if (ret < 0) {
		filter_offload_del(ow->f, &down_k, flow);
		return ret;
	}
	s->fast = true;
	return 0;
}

/* A direction whose path MTU changed is worth reading again soon, for either cause. */
static void pmtu_back_off_end(struct session *s, int d)
{
	s->fast_mtu_quiet[d] = 0;
	s->fast_mtu_backoff[d] = 0;
	s->fast_mtu_tb_quiet[d] = 0;
	s->fast_mtu_tb_backoff[d] = 0;
}

/* A reading at now that changed nothing: the next one for the same cause waits *backoff s
 * (OFFLOAD_PMTU_BACKOFF_MIN the first time), and the one after that twice as long, up to
 * OFFLOAD_PMTU_BACKOFF_MAX. */
static void pmtu_back_off(uint64_t *quiet, uint8_t *backoff, uint64_t now)
{
	uint32_t b = *backoff ? *backoff : OFFLOAD_PMTU_BACKOFF_MIN;

	*quiet = now + b * 1000000000ull;
	b *= 2;
	*backoff = (uint8_t)(b < OFFLOAD_PMTU_BACKOFF_MAX ? b : OFFLOAD_PMTU_BACKOFF_MAX);
}

int offload_session_pmtu(const struct offload_worker *ow, struct session *s, uint32_t dirs)
{
	struct sock_route_keys keys = { .mark = s->fast_reply_mark, .oif = s->fast_reply_oif };
	struct offload_key k;
	bool with_ttl = dirs & OFFLOAD_PMTU_TTL;
	int d, mtu, ttl, v, ret, first = 0;

	if (!s->fast || !ow->f)
		return 0;
	for (d = OFFLOAD_DIR_UP; d <= OFFLOAD_DIR_DOWN; d++) {
		if (!(dirs & (1u << d)))
			continue;
		ttl = -1; /* (kept) */
		v = 0;
		if (d == OFFLOAD_DIR_UP) {
			mtu = sock_path_mtu(s->fd, &s->upstream_addr);
			if (with_ttl && mtu >= 0)
				v = sock_hop_limit(s->fd);
		} else if (with_ttl) {
			v = sock_route_hop_limit(&s->local, &keys, &s->client, &mtu);
			if (v < 0)
				mtu = v;
		} else {
			mtu = sock_route_mtu(&s->local, &keys, &s->client);
		}
		if (with_ttl && v > 0)
			ttl = v;
		ret = mtu < 0 ? mtu : v < 0 ? v : 0;
		if (ret == 0 && (offload_mtu(mtu) != s->fast_mtu[d] || ttl >= 0)) {
			if (d == OFFLOAD_DIR_UP)
				offload_key_from(&k, &s->client, &s->local);
			else
				offload_key_from(&k, &s->upstream_addr, &s->fast_local);
			ret = filter_offload_set_mtu(ow->f, &k, s->flow, offload_mtu(mtu), ttl);
			if (ret == 0 && offload_mtu(mtu) != s->fast_mtu[d]) {
				s->fast_mtu[d] = offload_mtu(mtu);
				pmtu_back_off_end(s, d);
			}
		}
		if (ret < 0 && !first)
			first = ret;
	}
	return first;
}

uint32_t offload_pmtu_due(const struct session *s, const uint32_t pass[2],
			  const uint32_t too_big[2], uint64_t now)
{
	uint32_t dirs = 0;
	int d;

	/* Passes up while a direction backs off stay counted: due once it ends. An ICMP
	 * too-big about the direction may be news of a lower path MTU: due at once, unless
	 * the direction backs off from too-bigs (the last one's reading found the rule right:
	 * a client can forge them about its own sessions). The two back off apart, so that
	 * datagrams too long for the rule (a client's to make) never hold back a too-big. */
	for (d = OFFLOAD_DIR_UP; d <= OFFLOAD_DIR_DOWN; d++)
		if ((pass[d] != s->fast_mtu_pass[d] && now >= s->fast_mtu_quiet[d]) ||
		    (too_big[d] != s->fast_mtu_too_big[d] && now >= s->fast_mtu_tb_quiet[d]))
			dirs |= 1u << d;
	/* An idle session's path MTU matters to no datagram: it is read when one comes. */
	if (now - s->fast_mtu_at >= OFFLOAD_PMTU_SWEEP_NS && s->fast_seen > s->fast_mtu_at)
		dirs |= OFFLOAD_PMTU_DOWN;
	return dirs;
}

void offload_pmtu_read(struct session *s, const uint32_t pass[2], const uint32_t too_big[2],
		       uint32_t dirs, uint32_t changed, uint64_t now)
{
	int d;

	for (d = OFFLOAD_DIR_UP; d <= OFFLOAD_DIR_DOWN; d++) {
		if (!(dirs & (1u << d)))
			continue;
		if (changed & (1u << d)) {
			pmtu_back_off_end(s, d);
		} else {
			if (pass[d] != s->fast_mtu_pass[d])
				pmtu_back_off(&s->fast_mtu_quiet[d], &s->fast_mtu_backoff[d], now);
			if (too_big[d] != s->fast_mtu_too_big[d])
				pmtu_back_off(&s->fast_mtu_tb_quiet[d], &s->fast_mtu_tb_backoff[d],
					      now);
		}
		/* Only a direction read: one backing off keeps its counts moved meanwhile. */
		s->fast_mtu_pass[d] = pass[d];
		s->fast_mtu_too_big[d] = too_big[d];
	}
	if (dirs & OFFLOAD_PMTU_DOWN)
		s->fast_mtu_at = now;
}

bool offload_route_due(const struct session *s, uint32_t count, uint32_t epoch, uint64_t now)
{
	/* (a refusal to confirm: whether the count moved or not, an idle session's or one
	 * derived for the epoch alone) */
	return epoch != s->fast_route_epoch ||
	       ((count != s->fast_route_pass || s->fast_route_refused) &&
		now >= s->fast_route_quiet);
}

bool offload_route_read(struct session *s, uint32_t count, uint32_t epoch, bool moved,
			uint8_t refused, uint64_t now)
{
	s->fast_route_epoch = epoch;
	s->fast_route_hit = false;
	if (refused) {
		/* Once is not enough, nor twice within the wait (route events come in bursts): a
		 * device made again gets the program some 100 ms after its routes came (link
		 * events are acted on together). The next derivation is due when this wait
		 * ends (offload_route_due). */
		if (s->fast_route_refused)
			return now >= s->fast_route_quiet;
		s->fast_route_refused = refused;
		s->fast_route_quiet = now + OFFLOAD_ROUTE_CONFIRM_NS;
		return false;
	}
	s->fast_route_refused = 0;
	if (moved) {
		s->fast_route_quiet = 0;
		s->fast_route_backoff = 0;
	} else if (count != s->fast_route_pass) {
		/* (an error too: a route missing for a while comes back with a new epoch) */
		pmtu_back_off(&s->fast_route_quiet, &s->fast_route_backoff, now);
	}
	s->fast_route_pass = count;
	return false;
}

/* Parks session s (from its open: at_open), its derivations' state forgotten. */
static void offload_park(struct session *s, bool at_open)
{
	s->fast_parked = true;
	s->fast_park_open = at_open;
	s->fast_route_refused = 0;
	s->fast_route_backoff = 0;
	s->fast_route_quiet = 0;
	s->fast_route_hit = false;
}

void offload_route_leave(struct session *s, uint64_t now)
{
	offload_park(s, false);
	pmtu_back_off(&s->fast_route_quiet, &s->fast_route_backoff, now);
}

void offload_open_park(struct session *s, uint64_t now)
{
	offload_park(s, true);
	s->fast_route_quiet = now + OFFLOAD_PARK_OPEN_RETRY_S * 1000000000ull;
}

bool offload_open_parks(int ret)
{
	switch (ret) {
	case OFFLOAD_REFUSED_ROUTE:
	case OFFLOAD_REFUSED_LEGS:
	case OFFLOAD_REFUSED_MULTIPATH6:
	case OFFLOAD_REFUSED_DEVICE:
	case -ENETUNREACH:
	case -EHOSTUNREACH:
		return true;
	default:
		return false;
	}
}

bool offload_return_by_time(const struct session *s, uint64_t now)
{
	/* (one parked at its open: its routes may never change, e.g. a client behind wg0; its
	 * quiet is OFFLOAD_PARK_OPEN_RETRY_S away) */
	return s->fast_parked && now >= s->fast_route_quiet;
}

bool offload_return_due(struct session *s, uint32_t epoch, struct offload_scope *sc,
			uint64_t now)
{
	if (!s->fast_parked)
		return false;
	if (offload_return_by_time(s, now))
		return true;
	if (epoch == s->fast_route_epoch)
		return false;
	/* A new epoch alone: as a fast session's derivation, only where a change since its
	 * try covers what its open looks up (the same four addresses), read in memory. */
	if (sc && sc->rs && !s->fast_route_hit)
		offload_route_scope(s, sc, epoch);
	return !sc || !sc->rs || s->fast_route_hit;
}

void offload_return_read(struct session *s, bool back, uint64_t now)
{
	s->fast_route_hit = false;
	if (back) {
		s->fast_parked = false;
		s->fast_park_open = false;
		return;
	}
	if (!s->fast_park_open)
		pmtu_back_off(&s->fast_route_quiet, &s->fast_route_backoff, now);
	else /* (one parked from its open: by time only rarely, for what no event tells) */
		s->fast_route_quiet = now + OFFLOAD_PARK_OPEN_RETRY_S * 1000000000ull;
}

/* Derives fast session s's rules again (offload_session_routes) and gives those whose devices
 * changed their new ones, path MTU and the rest kept; *moved says whether any did. 0, a
 * refusal (positive: the session can no longer take the fast path) or -errno. */
static int offload_session_reroute(const struct offload_worker *ow, struct session *s, bool *moved)
{
	struct sock_route_keys up_keys, down_keys = { .mark = s->fast_reply_mark,
						      .uid = s->fast_reply_uid,
						      .oif = s->fast_reply_oif };
	struct offload_rule up_r, down_r;
	struct offload_key k;
	int ret, up;

	*moved = false;
	ret = sock_route_keys(s->fd, &up_keys);
	if (ret < 0)
		return ret;
	ret = offload_session_routes(ow, s, s->flow, &up_keys, &down_keys, &up_r, &down_r);
	if (ret != 0)
		return ret;
	/* Replies first, as at the open: until both are written, a direction may still name the
	 * old device, and its datagrams pass up (the socket path relays them). */
	offload_key_from(&k, &s->upstream_addr, &s->fast_local);
	ret = filter_offload_set_route(ow->f, &k, &down_r);
	if (ret < 0)
		return ret;
	offload_key_from(&k, &s->client, &s->local);
	up = filter_offload_set_route(ow->f, &k, &up_r);
	if (up < 0)
		return up;
	s->fast_iif = (int)up_r.iif; /* (worker_judge: where the filter judges the client) */
	*moved = ret > 0 || up > 0;
	return 0;
}

void offload_route_scope(struct session *s, struct offload_scope *sc, uint32_t epoch)
{
	/* What the four route lookups of a derivation ask (offload_session_routes: each
	 * direction's destination from its source) and the path MTU readings: a route whose
	 * prefix covers none of them answers none of them, in any table. */
	const struct addr *a[4] = { &s->client, &s->local, &s->upstream_addr, &s->fast_local };
	uint32_t from = s->fast_route_epoch;

	/* (the changes read before one that covers, or before the budget ran out, covered
	 * none: not read again) */
	s->fast_route_hit = routescope_covers(sc->rs, &from, epoch, a, 4, &sc->left) != 0;
	s->fast_route_epoch = from;
	if (from == epoch)
		sc->skipped++;
}

enum offload_recheck offload_session_recheck(const struct offload_worker *ow, struct session *s,
					     uint32_t epoch, bool epoch_room,
					     struct offload_scope *sc, uint64_t now)
{
	const struct offload_flow_stats *st;
	uint32_t pass[2], too_big[2], dirs, changed = 0, route;
	enum offload_recheck done = OFFLOAD_RECHECK_NONE;
	uint16_t before[2];
	bool moved, by_epoch = false, scoped;
	int d, ret;

	if (!s->fast || !ow->f)
		return OFFLOAD_RECHECK_NONE;
	st = filter_offload_flow(ow->f, s->flow);
	if (!st)
		return OFFLOAD_RECHECK_NONE;
	/* Datagrams of the session that arrived on another device than its rule names, or whose
	 * route leaves by another: a route moved (a failover) or a device was made again (a new
	 * ifindex). Its rules are derived again, as at the open; the socket path relays those
	 * datagrams meanwhile. A client can send its own datagrams in by another device (or a
	 * multipath route does, docs/offload.md): a derivation that finds the routes as they
	 * were backs off, as the path MTU readings do. */
	route = offload_route_count(st);
	/* (due for the epoch alone: neither its own count nor a refusal to confirm asks) */
	by_epoch = !offload_route_due(s, route, s->fast_route_epoch, now);
	/* Due for the epoch alone: derived only where a change since covers its addresses, read
	 * in memory (no syscall) within the tick's budget; one that covers none advances its
	 * epoch. A refusal to confirm is derived as it was. */
	scoped = by_epoch && sc && sc->rs && !s->fast_route_refused;
	if (scoped && epoch != s->fast_route_epoch && !s->fast_route_hit)
		offload_route_scope(s, sc, epoch);
	if (offload_route_due(s, route, epoch, now) &&
	    (!by_epoch || (epoch_room && (!scoped || s->fast_route_hit)))) {
		if (by_epoch && sc)
			sc->derived++;
		ret = offload_session_reroute(ow, s, &moved);
		/* What passed up during the rewrite (or in a program still holding the old
		 * rule) is no news of another move. */
		if (ret == 0 && moved)
			route = offload_route_count(st);
		/* The routes moved where the program cannot relay the session (a device it
		 * does not run on, another gateway than its own lookup's), found twice in a
		 * row: the caller takes it off the fast path, which its sessions line then
		 * says, until its routes come back (offload_route_leave). An error (a netlink
		 * failure, a route missing for a while, a key another session took) counts as
		 * no move. */
		if (offload_route_read(s, route, epoch, ret == 0 && moved,
				       ret > 0 ? (uint8_t)ret : 0, now)) {
			s->fast_refused = (uint8_t)ret;
			offload_route_leave(s, now);
			return OFFLOAD_RECHECK_LEAVE;
		}
		done = ret == 0 && moved ? OFFLOAD_RECHECK_MOVED : OFFLOAD_RECHECK_READ;
	}
	for (d = OFFLOAD_DIR_UP; d <= OFFLOAD_DIR_DOWN; d++) {
		pass[d] = __atomic_load_n(&st->mtu_pass[d], __ATOMIC_RELAXED);
		too_big[d] = __atomic_load_n(&st->too_big[d], __ATOMIC_RELAXED);
	}
	dirs = offload_pmtu_due(s, pass, too_big, now);
	/* The new routes' path MTUs, at once, and TTLs (IPv6's hop limit is the device's). */
	if (done == OFFLOAD_RECHECK_MOVED)
		dirs |= OFFLOAD_PMTU_UP | OFFLOAD_PMTU_DOWN;
	if (!dirs)
		return done == OFFLOAD_RECHECK_READ && by_epoch ? OFFLOAD_RECHECK_EPOCH : done;
	memcpy(before, s->fast_mtu, sizeof(before));
	/* An error (a session whose key another took: -ENOENT) counts as no change. */
	offload_session_pmtu(ow, s,
			     dirs | (done == OFFLOAD_RECHECK_MOVED ? OFFLOAD_PMTU_TTL : 0));
	for (d = OFFLOAD_DIR_UP; d <= OFFLOAD_DIR_DOWN; d++)
		if (s->fast_mtu[d] != before[d])
			changed |= 1u << d;
	offload_pmtu_read(s, pass, too_big, dirs, changed, now);
	return done == OFFLOAD_RECHECK_NONE ? OFFLOAD_RECHECK_READ : done;
}

void offload_pmtu_walk(struct offload_pmtu_turn *t, uint64_t now, uint32_t per_sec,
		       const uint32_t *cap, uint32_t n, offload_pmtu_read_fn *read, void *arg)
{
	uint32_t r0, i0, k, r, i, end, er = 0, ei = 0;
	bool eset = false;

	if (now >= t->second_end) {
		t->left = per_sec;
		t->epoch_left = per_sec;
		t->second_end = now + 1000000000ull;
	}
	if (t->relay >= n)
		t->relay = t->slot = 0;
	r0 = t->relay;
	i0 = t->slot;
	/* k == n: back at the cursor's relay, for the slots before the cursor (a table that
	 * shrank under it: all of them). */
	for (k = 0; k <= n && t->left; k++) {
		r = (r0 + k) % n;
		end = k < n ? cap[r] : i0 < cap[r] ? i0 : cap[r];
		for (i = k ? 0 : i0; i < end && t->left; i++) {
			uint32_t had = t->epoch_left, had_scope = t->scope_left ? *t->scope_left : 0;
			bool did = read(arg, r, i);

			/* (the epoch's allowance, or the tick's scope budget, ran out here, also in
			 * a reading: the walk goes on after it; first where one did) */
			if (!eset && ((had && !t->epoch_left) || (had_scope && !*t->scope_left)))
				er = r, ei = i, eset = true;
			if (!did)
				continue;
			if (--t->left)
				continue;
			t->relay = i + 1 < cap[r] ? r : (r + 1) % n;
			t->slot = i + 1 < cap[r] ? i + 1 : 0;
		}
	}
	/* (a full turn without the shared allowance running out: nothing it asked for waits) */
	if (t->left && eset) {
		t->relay = ei + 1 < cap[er] ? er : (er + 1) % n;
		t->slot = ei + 1 < cap[er] ? ei + 1 : 0;
	}
}

/* n datagrams of bytes payload the fast path relayed in one direction. */
static void add_dir(struct relay_dir_counters *d, uint64_t n, uint64_t bytes)
{
	counter_add(&d->rx_pkts, n);
	counter_add(&d->tx_pkts, n);
	counter_add(&d->rx_bytes, bytes);
	counter_add(&d->tx_bytes, bytes);
	counter_add(&d->fast_pkts, n);
	counter_add(&d->fast_bytes, bytes);
}

uint64_t offload_session_fold(const struct offload_worker *ow, struct session *s,
			      struct relay_dir_counters *fold)
{
	const struct offload_flow_stats *st;
	uint64_t v[4], seen;
	int i;

	if (!s->fast || !ow->f)
		return 0;
	st = filter_offload_flow(ow->f, s->flow);
	if (!st)
		return 0;
	v[0] = __atomic_load_n(&st->pkts[0], __ATOMIC_RELAXED);
	v[1] = __atomic_load_n(&st->pkts[1], __ATOMIC_RELAXED);
	v[2] = __atomic_load_n(&st->bytes[0], __ATOMIC_RELAXED);
	v[3] = __atomic_load_n(&st->bytes[1], __ATOMIC_RELAXED);
	seen = __atomic_load_n(&st->last_seen_ns, __ATOMIC_RELAXED);
	if (v[0] == s->fast_base[0] && v[1] == s->fast_base[1])
		return 0;
	/* The program received and relayed each of them: both sides of each direction's
	 * identity (rx = tx + drops). */
	add_dir(&fold[RELAY_DIR_TO_UPSTREAM], v[0] - s->fast_base[0], v[2] - s->fast_base[2]);
	add_dir(&fold[RELAY_DIR_TO_CLIENT], v[1] - s->fast_base[1], v[3] - s->fast_base[3]);
	s->fast_pkts += v[0] - s->fast_base[0] + v[1] - s->fast_base[1];
	for (i = 0; i < 4; i++)
		s->fast_base[i] = v[i];
	s->fast_seen = seen;
	return seen;
}

void offload_session_close(const struct offload_worker *ow, struct session *s,
			   struct relay_dir_counters *fold)
{
	struct offload_key k;

	if (!s->fast || !ow->f)
		return;
	/* Only what is still this session's: a key another session installed since (which
	 * should not happen: a broadcast's sessions take no fast path) stays. */
	offload_key_from(&k, &s->client, &s->local);
	filter_offload_del(ow->f, &k, s->flow);
	offload_key_from(&k, &s->upstream_addr, &s->fast_local);
	filter_offload_del(ow->f, &k, s->flow);
	/* A program already past its lookup may still count a datagram (an RCU grace period):
	 * the slot's next session folds it into this relay's counters. */
	offload_session_fold(ow, s, fold);
	s->fast = false;
}
