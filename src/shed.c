// SPDX-License-Identifier: MIT
/* Early shedding's user-space half. A relay sheds on the interfaces that hold its listen
 * addresses (every interface of the family for a wildcard); loopback is left alone (no
 * receive queue to protect there, and an XDP program on lo would see all local traffic), and
 * so is a layer 3 device (tun, WireGuard: no Ethernet header for the program to read).
 * docs/offload.md. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "log.h"
#include "netlink.h"
#include "rxpath.h"
#include "shed.h"
#include "stage.h"

/* Adds ifindex to st's interfaces unless it is there; one that does not fit is noted in
 * st->left (the first) and st->n_left. */
static void shed_add_iface(struct shed_relay_state *st, int ifindex)
{
	unsigned int i;

	for (i = 0; i < st->n_ifaces; i++)
		if (st->ifindex[i] == ifindex)
			return;
	if (st->n_ifaces < SHED_MAX_IFACES) {
		st->ifindex[st->n_ifaces++] = ifindex;
		return;
	}
	if (!st->n_left++)
		st->left = ifindex;
}

/* "; left out: eth16 and 3 more (at most 16 interfaces a relay, 64 in all)" when interfaces
 * were left out, at the end of st->why (as far as it fits). */
static void shed_left_note(struct shed_relay_state *st)
{
	size_t len = strlen(st->why);
	char name[IF_NAMESIZE];

	if (!st->n_left || len >= sizeof(st->why))
		return;
	if (!if_indextoname((unsigned int)st->left, name))
		snprintf(name, sizeof(name), "#%d", st->left);
	snprintf(st->why + len, sizeof(st->why) - len,
		 "; left out: %s and %u more (at most %d interfaces a relay, %d in all)", name,
		 st->n_left - 1, SHED_MAX_IFACES, RR_IFACES_MAX);
}

/* "eth0, eth1" of st's interfaces into buf. */
static const char *shed_iface_list(const struct shed_relay_state *st, char *buf, size_t len)
{
	char name[IF_NAMESIZE];
	size_t n = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < st->n_ifaces && n < len; i++) {
		if (!if_indextoname((unsigned int)st->ifindex[i], name))
			snprintf(name, sizeof(name), "#%d", st->ifindex[i]);
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", name);
	}
	return buf;
}

/* Whether shedding goes on ifindex, one of a relay's listen interfaces: not on loopback, nor
 * where the program cannot read the frames (a layer 3 device: tun, WireGuard, an IP tunnel,
 * whose packets start at the IP header), which is noted in st->l3 (the first) and st->n_l3,
 * for its reason (shed_l3_note): said when the relay's state changes, not on every link
 * event. One whose link could not be read is wanted: the attach reads the type again and
 * says why when it still cannot (filter_iface_framed); the next link event tries again. */
static bool shed_wanted(struct shed_relay_state *st, int ifindex)
{
	struct netlink_link link;

	if (netlink_link_at(ifindex, &link) < 0)
		return true;
	if (link.loopback)
		return false;
	if (!link.eth_frames && !st->n_l3++)
		st->l3 = ifindex;
	return link.eth_frames;
}

/* "; not on tun0 and 1 more: layer 3 devices ..." when listen interfaces were left alone as
 * layer 3 devices, at the end of st->why (as far as it fits). */
static void shed_l3_note(struct shed_relay_state *st)
{
	size_t len = strlen(st->why);
	char name[IF_NAMESIZE], more[32] = "";

	if (!st->n_l3 || len >= sizeof(st->why))
		return;
	if (!if_indextoname((unsigned int)st->l3, name))
		snprintf(name, sizeof(name), "#%d", st->l3);
	if (st->n_l3 > 1)
		snprintf(more, sizeof(more), " and %u more", st->n_l3 - 1);
	snprintf(st->why + len, sizeof(st->why) - len,
		 "; not on %s%s, a layer 3 device (tun, WireGuard, an IP tunnel): no Ethernet "
		 "header for the program to read",
		 name, more);
}

static void shed_resolve_one(const struct relay_conf *rc, bool loaded, const char *why_not,
			     struct shed_relay_state *st)
{
	char buf[ADDR_STRLEN], list[128];
	int idx[RR_IFACES_MAX + 1], n, i;
	uint32_t j;

	memset(st, 0, sizeof(*st));
	if (rc->shed == SHED_OFF) {
		snprintf(st->why, sizeof(st->why), "shed = \"off\"");
		return;
	}
	if (!loaded) {
		snprintf(st->why, sizeof(st->why), "%s", why_not);
		return;
	}
	for (j = 0; j < rc->n_listen; j++) {
		n = netlink_addr_ifindexes(&rc->listen[j], idx, RR_IFACES_MAX + 1);
		for (i = 0; i < n && i < RR_IFACES_MAX; i++)
			if (shed_wanted(st, idx[i]))
				shed_add_iface(st, idx[i]);
		if (n > RR_IFACES_MAX) /* at least one more than listed */
			st->n_left++;
		if (n < 0)
			log_debug("relay %s: shed: interfaces of %s: %s", rc->name,
				  addr_format(&rc->listen[j], buf, sizeof(buf)), strerror(-n));
	}
	if (!st->n_ifaces) {
		snprintf(
		    st->why, sizeof(st->why),
		    "no interface but loopback or a layer 3 device holds its listen addresses");
		shed_l3_note(st);
		return;
	}
	st->on = true;
	snprintf(st->why, sizeof(st->why), "%s on %s", config_shed_name(rc->shed),
		 shed_iface_list(st, list, sizeof(list)));
	shed_left_note(st);
	shed_l3_note(st);
}

/* Whether the stage takes native XDP on the interface where no other stage decides: as
 * shed_hook says, and for auto where XDP runs early (rxpath_xdp_early); an interface that
 * cannot be described counts as a NIC, where it does. */
static bool shed_xdp_early(const struct config *cfg, int ifindex)
{
	/* Named paths: sysfs only (device, RPS masks), none of the system state rxpath reads
	 * besides (GRO, XDP, NAPI threads: a BPF iterator load before Linux 6.9). */
	static const struct rxpath_paths files = {"/sys", "/proc"};
	struct rxpath_iface *ifc;
	char name[IF_NAMESIZE];
	bool early = true;

	if (cfg->shed_hook != SHED_HOOK_AUTO)
		return cfg->shed_hook == SHED_HOOK_XDP;
	ifc = calloc(1, sizeof(*ifc));
	if (ifc && if_indextoname((unsigned int)ifindex, name) &&
	    rxpath_describe(&files, name, ifc) == 0)
		early = rxpath_xdp_early(ifc);
	free(ifc);
	return early;
}

void shed_resolve(const struct config *cfg, bool loaded, const char *why_not,
		  struct shed_relay_state *out)
{
	uint32_t i;

	for (i = 0; i < cfg->n_relays; i++)
		shed_resolve_one(&cfg->relays[i], loaded, why_not, &out[i]);
}

/* Detaches the stage from every interface where f runs it but want (n_want ifindexes) does
 * not name. */
static void shed_detach_unwanted(struct filter *f, const int *want, uint32_t n_want)
{
	struct filter_shed_iface have[RR_IFACES_MAX];
	int n_have = filter_shed_ifaces(f, have, RR_IFACES_MAX);
	uint32_t j, k;

	for (j = 0; j < (uint32_t)n_have; j++) {
		for (k = 0; k < n_want && want[k] != have[j].ifindex; k++)
			;
		if (k == n_want)
			filter_shed_detach(f, have[j].ifindex);
	}
}

/* Shedding as a stage (stage.h): cfg's relays, their states and the interfaces they want. */
struct shed_stage {
	struct filter *f;
	const struct config *cfg;
	struct shed_relay_state *out;
	int want[RR_IFACES_MAX];
	uint32_t n_want;
};

static uint32_t shed_wants(void *arg)
{
	struct shed_stage *s = arg;
	uint32_t i, j, k;

	s->n_want = 0;
	for (i = 0; i < s->cfg->n_relays; i++) {
		for (j = 0; s->out[i].on && j < s->out[i].n_ifaces; j++) {
			for (k = 0; k < s->n_want && s->want[k] != s->out[i].ifindex[j]; k++)
				;
			if (k == s->n_want && s->n_want < RR_IFACES_MAX)
				s->want[s->n_want++] = s->out[i].ifindex[j];
		}
	}
	return s->n_want;
}

static void shed_prune(void *arg)
{
	struct shed_stage *s = arg;

	shed_detach_unwanted(s->f, s->want, s->n_want);
}

/* Where it sheds already, the hook is judged again (a move, or nothing). */
static int shed_attach_want(void *arg, uint32_t k, char *err, size_t errlen)
{
	struct shed_stage *s = arg;

	return filter_shed_attach(s->f, s->want[k], shed_xdp_early(s->cfg, s->want[k]), err,
				  errlen);
}

/* Every relay using want k's interface goes without shedding. */
static void shed_fail_want(void *arg, uint32_t k, const char *err)
{
	struct shed_stage *s = arg;
	uint32_t i, j;

	for (i = 0; i < s->cfg->n_relays; i++) {
		for (j = 0; s->out[i].on && j < s->out[i].n_ifaces; j++) {
			if (s->out[i].ifindex[j] != s->want[k])
				continue;
			s->out[i].on = false;
			snprintf(s->out[i].why, sizeof(s->out[i].why), "%s", err);
		}
	}
}

int shed_apply(struct filter *f, const struct config *cfg, const char *why_not,
	       struct shed_relay_state *out, char *err, size_t errlen)
{
	static const struct stage_ops ops = {
		.wants = shed_wants,
		.prune = shed_prune,
		.attach = shed_attach_want,
		.fail = shed_fail_want,
	};
	struct shed_stage s = { .f = f, .cfg = cfg, .out = out };
	struct filter_shed_iface have[RR_IFACES_MAX];
	bool on[CONFIG_MAX_RELAYS];
	const char *why = why_not;
	uint32_t i, j, k;
	bool loaded = f && filter_shed_loaded(f, &why);
	struct shed_relay_state *was;
	int n_have, ret;

	/* What each relay had, so only changes are logged (link events call this often). */
	was = malloc(sizeof(*was) * (cfg->n_relays ? cfg->n_relays : 1));
	if (was)
		memcpy(was, out, sizeof(*was) * cfg->n_relays);
	shed_resolve(cfg, loaded, why, out);
	if (loaded) {
		/* What runs and is no longer wanted goes first; a relay whose attach fails on
		 * one of its interfaces gets none of them (stage.h). */
		stage_attach(&ops, &s);
		/* Where each relay sheds now, hook included: "auto on eth0 (XDP), eth1 (tc)", and
		 * the setting when it chose: "; shed_hook = \"tc\"". */
		n_have = filter_shed_ifaces(f, have, RR_IFACES_MAX);
		for (i = 0; i < cfg->n_relays; i++) {
			size_t len;

			if (!out[i].on)
				continue;
			len = (size_t)snprintf(out[i].why, sizeof(out[i].why), "%s on",
					       config_shed_name(cfg->relays[i].shed));
			for (j = 0; j < out[i].n_ifaces && len < sizeof(out[i].why); j++) {
				for (k = 0; k < (uint32_t)n_have &&
					    have[k].ifindex != out[i].ifindex[j];
				     k++)
					;
				/* (not attached: the relays' interfaces are more than the
				 * program's table holds) */
				if (k == (uint32_t)n_have) {
					if (!out[i].n_left++)
						out[i].left = out[i].ifindex[j];
					continue;
				}
				len += (size_t)snprintf(out[i].why + len, sizeof(out[i].why) - len,
							"%s %s (%s)", j ? "," : "", have[k].name,
							!have[k].xdp	    ? "tc"
							: have[k].generic ? "generic XDP"
									  : "XDP");
			}
			if (cfg->shed_hook != SHED_HOOK_AUTO && len < sizeof(out[i].why))
				snprintf(out[i].why + len, sizeof(out[i].why) - len,
					 "; shed_hook = \"%s\"", config_shed_hook_name(cfg->shed_hook));
			shed_left_note(&out[i]);
			shed_l3_note(&out[i]);
		}
		for (i = 0; i < cfg->n_relays; i++)
			on[i] = out[i].on;
		ret = filter_shed_listeners(f, cfg, on);
		if (ret < 0) {
			for (i = 0; i < cfg->n_relays; i++) {
				if (!out[i].on)
					continue;
				out[i].on = false;
				snprintf(out[i].why, sizeof(out[i].why),
					 "writing the listener map: %s", strerror(-ret));
			}
		}
	}
	ret = 0;
	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *rc = &cfg->relays[i];

		bool same = was && was[i].on == out[i].on && !strcmp(was[i].why, out[i].why);

		if (rc->shed == SHED_OFF)
			continue;
		if (out[i].on) {
			if (!same)
				log_info("relay %s: shed on: %s", rc->name, out[i].why);
			continue;
		}
		if (!same)
			log_notice("relay %s: shed off: %s", rc->name, out[i].why);
		if (rc->shed == SHED_ON && !ret) {
			snprintf(err, errlen, "relay %s: shed = \"on\", but %s (set \"auto\" to go "
					      "without it)",
				 rc->name, out[i].why);
			ret = -EOPNOTSUPP;
		}
	}
	free(was);
	return ret;
}

void shed_stop(struct filter *f)
{
	shed_detach_unwanted(f, NULL, 0);
}
