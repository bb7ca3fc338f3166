// SPDX-License-Identifier: MIT
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "netlink.h"
#include "rxreport.h"

/* Every interface that is up and not loopback, in ifindex order. */
static void add_up_ifaces(char (*names)[IF_NAMESIZE], uint32_t *n)
{
	struct if_nameindex *all, *i;
	struct netlink_link link;

	all = if_nameindex();
	if (!all)
		return;
	for (i = all; i->if_index; i++)
		if (!netlink_link_info(i->if_name, &link) && link.up && !link.loopback)
			*n = netlink_ifname_add(names, *n, RXREPORT_MAX_IFACES, i->if_name);
	if_freenameindex(all);
}

int rxreport_new(const struct config *cfg, const struct rxreport_in *in, struct rxreport **out)
{
	char names[RXREPORT_MAX_IFACES][IF_NAMESIZE];
	struct rxpath_protect p = {.busy_poll = in->busy_poll_us > 0, .shed = in->shed};
	struct rxreport *r;
	uint32_t n = 0, i;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* The same interfaces runtime_host sizes the workers by: where a listen address lives. */
	for (i = 0; i < cfg->n_relays; i++)
		n = netlink_addrs_ifnames(cfg->relays[i].listen, cfg->relays[i].n_listen, names, n,
					  RXREPORT_MAX_IFACES, &r->any, NULL);
	if (r->any)
		add_up_ifaces(names, &n);
	for (i = 0; i < n; i++) {
		struct rxpath_iface *ifc = &r->ifaces[r->n];
		char msg[RXREPORT_MAX_WARNINGS][RXPATH_MSG_LEN];
		uint32_t k, w;

		if (rxpath_describe(NULL, names[i], ifc))
			continue; /* gone since: nothing to say about it */
		ifc->busy_poll_us = in->busy_poll_us;
		r->n++;
		w = rxpath_check(ifc, &p, in->worker_cpu, in->n_workers, msg,
				 RXREPORT_MAX_WARNINGS);
		for (k = 0;
		     k < w && k < RXREPORT_MAX_WARNINGS && r->n_warnings < RXREPORT_MAX_WARNINGS;
		     k++)
			memcpy(r->warnings[r->n_warnings++], msg[k], RXPATH_MSG_LEN);
	}
	*out = r;
	return 0;
}

void rxreport_free(struct rxreport *r)
{
	free(r);
}
