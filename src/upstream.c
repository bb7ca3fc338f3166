// SPDX-License-Identifier: MIT
/* Pools, health and drain of the running relays (upstream.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "runtime.h"
#include "snapshot.h"
#include "upstream.h"

/* Stamps s's state change: unix seconds for JSON and /metrics, and the boot clock for the
 * age the upstreams table shows (a step of the wall clock moves no age). */
static void upstream_stamp(struct upstream_slot *s)
{
	s->changed = app_now();
	s->changed_boot = app_boottime();
}

/* Whether text names member m: its entry as written, or its address. */
static bool member_named(const struct pool_member *m, const char *text)
{
	char addr[ADDR_STRLEN];

	if (!strcmp(m->label, text))
		return true;
	addr_format(&m->addr, addr, sizeof(addr));
	return !strcmp(addr, text);
}

static bool upstream_disabled(const struct upstreams *u, const char *relay,
			      const struct pool_member *m)
{
	uint32_t i;

	for (i = 0; i < u->n_disabled; i++)
		if (!strcmp(u->disabled[i].relay, relay) && member_named(m, u->disabled[i].text))
			return true;
	return false;
}

/* Moves the pool in relay slot r's place to p (published) and retires the old one. */
static void upstream_swap(struct runtime *rt, uint32_t r, struct pool *p)
{
	struct pool *old = __atomic_exchange_n(&rt->pools[r], p, __ATOMIC_ACQ_REL);
	uint32_t i;

	if (!old)
		return;
	/* Every started worker must finish the iteration it may be in before old goes. The
	 * fence pairs with worker_quiescent's: a worker that loaded old did so before the count
	 * read here (store buffering otherwise allows both sides to read the value before). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (i = 0; i < rt->n_started; i++)
		old->retired_qs[i] =
		    __atomic_load_n(&rt->workers[i].wc.quiescent, __ATOMIC_ACQUIRE);
	old->retired_next = rt->ups->retired;
	rt->ups->retired = old;
}

static void upstream_reclaim(struct runtime *rt)
{
	struct pool **pp = &rt->ups->retired, *p;
	uint32_t i;
	bool done;

	while ((p = *pp)) {
		done = true;
		for (i = 0; done && i < rt->n_started; i++)
			done = __atomic_load_n(&rt->workers[i].wc.quiescent, __ATOMIC_ACQUIRE) >
			       p->retired_qs[i];
		if (!done) {
			pp = &p->retired_next;
			continue;
		}
		*pp = p->retired_next;
		pool_free(p);
	}
}

/* A pool for relay slot r from members m[0..n) (slots, gens, labels set), with their drain
 * and health as the runtime has them now. */
static int upstream_pool(struct runtime *rt, uint32_t r, enum balance_mode mode,
			 struct pool_member *m, uint32_t n, uint64_t members_gen, struct pool **out)
{
	struct upstream_relay *ur = &rt->ups->relay[r];
	uint32_t i;

	for (i = 0; i < n; i++) {
		m[i].enabled = !upstream_disabled(rt->ups, ur->name, &m[i]);
		m[i].state = health_state(&ur->slot[m[i].slot].h);
	}
	return pool_new(out, mode, m, n, members_gen);
}

/* upstream_pool, published. */
static int upstream_build(struct runtime *rt, uint32_t r, enum balance_mode mode,
			  struct pool_member *m, uint32_t n, uint64_t members_gen)
{
	struct pool *p;
	int err = upstream_pool(rt, r, mode, m, n, members_gen, &p);

	if (err)
		return err;
	upstream_swap(rt, r, p);
	return 0;
}

static void upstream_health_conf(struct health_conf *hc, const struct relay_conf *rc)
{
	hc->max_fails = rc->max_fails;
	hc->fail_timeout = (uint64_t)(rc->fail_timeout * 1e9);
	hc->rise = rc->health_check.enabled ? rc->health_check.rise : 0;
	hc->fall = rc->health_check.enabled ? rc->health_check.fall : 0;
}

/* The members of relay rc for relay slot r: a member that stays (same entry as written, same
 * address) keeps its counter slot and health; a new one takes a free slot (searching on from
 * the last one taken, so a slot is reused as late as possible) with fresh health. Slots of
 * members that went away are freed. Returns whether the member list differs from old. */
static bool upstream_members(struct runtime *rt, uint32_t r, const struct relay_conf *rc,
			     const struct member_conf *mc, uint32_t n, const struct pool *old,
			     struct pool_member *out)
{
	struct upstream_relay *ur = &rt->ups->relay[r];
	bool keep[CONFIG_MAX_UPSTREAMS] = {false}, changed = !old || old->n != n;
	uint32_t i, u, k;

	for (i = 0; i < n; i++) {
		const char *label = rc->upstreams[mc[i].entry].text;

		out[i] = (struct pool_member){.addr = mc[i].addr,
					      .weight = mc[i].weight,
					      .entry = mc[i].entry,
					      .slot = UINT32_MAX};
		snprintf(out[i].label, sizeof(out[i].label), "%s", label);
		for (u = 0; u < CONFIG_MAX_UPSTREAMS; u++) {
			if (ur->slot[u].used && !keep[u] &&
			    addr_equal(&ur->slot[u].addr, &mc[i].addr) &&
			    !strcmp(ur->slot[u].label, label)) {
				keep[u] = true;
				out[i].slot = u;
				out[i].gen = ur->slot[u].gen;
				break;
			}
		}
		if (!changed && !addr_equal(&old->m[i].addr, &mc[i].addr))
			changed = true;
	}
	for (u = 0; u < CONFIG_MAX_UPSTREAMS; u++)
		if (ur->slot[u].used && !keep[u])
			ur->slot[u].used = false;
	for (i = 0; i < n; i++) {
		if (out[i].slot != UINT32_MAX)
			continue;
		for (k = 0; k < CONFIG_MAX_UPSTREAMS; k++) {
			u = (ur->next_slot + k) % CONFIG_MAX_UPSTREAMS;
			if (!ur->slot[u].used)
				break;
		}
		ur->next_slot = (u + 1) % CONFIG_MAX_UPSTREAMS;
		ur->slot[u] = (struct upstream_slot){
		    .used = true, .gen = ++rt->ups->gen_next, .addr = mc[i].addr};
		snprintf(ur->slot[u].label, sizeof(ur->slot[u].label), "%s", out[i].label);
		out[i].slot = u;
		out[i].gen = ur->slot[u].gen;
		changed = true;
	}
	return changed;
}

/* Drains of relays cfg no longer has go with them (`upstream enable` could not reach them,
 * and they would hold places of the UPSTREAM_MAX_DISABLED). */
static void upstream_prune_disabled(struct upstreams *ups, const struct config *cfg)
{
	uint32_t i, r;

	for (i = 0; i < ups->n_disabled;) {
		for (r = 0; r < cfg->n_relays; r++)
			if (!strcmp(cfg->relays[r].name, ups->disabled[i].relay))
				break;
		if (r < cfg->n_relays)
			i++;
		else
			ups->disabled[i] = ups->disabled[--ups->n_disabled];
	}
}

int upstream_publish(struct runtime *rt, const struct config *cfg, const uint32_t *slot, char *err,
		     size_t errlen)
{
	struct pool_member m[CONFIG_MAX_UPSTREAMS];
	struct pool *built[CONFIG_MAX_RELAYS] = { NULL };
	/* what the relays' members are made from, put back if a pool cannot be built */
	struct upstream_relay *was = malloc(sizeof(rt->ups->relay));
	uint32_t i, j;
	int ret = 0;

	if (!was) {
		snprintf(err, errlen, "upstreams: out of memory");
		return -ENOMEM;
	}
	memcpy(was, rt->ups->relay, sizeof(rt->ups->relay));
	for (i = 0; i < cfg->n_relays && !ret; i++) {
		const struct relay_conf *rc = &cfg->relays[i];
		uint32_t r = slot[i];
		struct upstream_relay *ur = &rt->ups->relay[r];
		const struct pool *old = rt->pools[r];
		uint64_t gen;

		/* A slot that served another relay starts over. */
		if (strcmp(ur->name, rc->name)) {
			memset(ur, 0, sizeof(*ur));
			snprintf(ur->name, sizeof(ur->name), "%s", rc->name);
			old = NULL;
		}
		upstream_health_conf(&ur->hc, rc);
		ur->next_resolve = 0;
		/* The config resolved every name just now (and its entries may be others): a
		 * name failing still kept its addresses then, and said so. */
		for (j = 0; j < CONFIG_MAX_UPSTREAMS; j++)
			ur->lookup_failing[j] =
			    j < rc->n_upstreams && rc->upstreams[j].kept_previous;
		if (upstream_members(rt, r, rc, rc->members, rc->n_members, old, m) || !old)
			gen = ++rt->ups->members_gen_next;
		else
			gen = old->members_gen;
		/* Active checks turned off: their last verdict goes with them (nothing would
		 * ever bring a member they had marked down back). Passive health turned off
		 * (max_fails 0): so do its ejections, series and back-off. */
		for (j = 0; j < rc->n_members; j++) {
			struct health *h = &ur->slot[m[j].slot].h;

			if (!ur->hc.fall) {
				h->check_down = false;
				h->check_ok = h->check_fail = 0;
			}
			if (!ur->hc.max_fails) {
				h->ejected_until = 0;
				h->streak = h->ejections = 0;
				h->held = false;
			}
		}
		ret = upstream_pool(rt, r, rc->balance, m, rc->n_members, gen, &built[i]);
		if (ret)
			snprintf(err, errlen, "relay %s: upstreams: %s", rc->name, strerror(-ret));
	}
	if (ret) {
		/* Nothing is published: every relay keeps its pool and its members' slots. */
		for (j = 0; j < cfg->n_relays; j++)
			pool_free(built[j]);
		memcpy(rt->ups->relay, was, sizeof(rt->ups->relay));
	} else {
		for (i = 0; i < cfg->n_relays; i++)
			upstream_swap(rt, slot[i], built[i]);
		upstream_prune_disabled(rt->ups, cfg);
	}
	free(was);
	return ret;
}

int upstream_publish_members(struct runtime *rt, uint32_t i, const struct member_conf *mc,
			     uint32_t n)
{
	const struct relay_conf *rc = &rt->cfg->relays[i];
	struct pool_member m[CONFIG_MAX_UPSTREAMS];
	uint32_t r = rt->relay_slot[i];
	const struct pool *old = rt->pools[r];
	struct upstream_relay *was = malloc(sizeof(*was));
	struct pool *p;
	bool changed;
	int ret = 0;

	if (!was)
		return -ENOMEM;
	*was = rt->ups->relay[r];
	changed = upstream_members(rt, r, rc, mc, n, old, m);
	if (changed) {
		ret = upstream_pool(rt, r, rc->balance, m, n, ++rt->ups->members_gen_next, &p);
		if (ret)
			rt->ups->relay[r] = *was; /* the members' slots as the live pool has them */
		else
			upstream_swap(rt, r, p);
	}
	free(was);
	return ret ? ret : changed;
}

/* Rebuilds relay i's pool with the same members (states or drain changed). */
static void upstream_rebuild(struct runtime *rt, uint32_t i)
{
	const struct pool *old = rt->pools[rt->relay_slot[i]];
	struct upstream_relay *ur = &rt->ups->relay[rt->relay_slot[i]];
	struct pool_member m[CONFIG_MAX_UPSTREAMS];
	bool was_failing = ur->rebuild_failed;
	int ret;

	if (!old)
		return;
	memcpy(m, old->m, old->n * sizeof(*m));
	ret = upstream_build(rt, rt->relay_slot[i], rt->cfg->relays[i].balance, m, old->n,
			     old->members_gen);
	/* The tick tries again: the members' states changed whether or not it is published. */
	ur->rebuild = ret != 0;
	ur->rebuild_failed = ret != 0;
	if (ret && !was_failing)
		log_err("relay %s: new pool: %s; keeping the old one and trying again",
			rt->cfg->relays[i].name, strerror(-ret));
}

static void upstream_log_change(const struct upstream_relay *ur, const struct upstream_slot *s,
				const char *why)
{
	char text[ADDR_STRLEN];
	enum health_state st = health_state(&s->h);

	addr_format(&s->addr, text, sizeof(text));
	if (st == HEALTH_UP)
		log_notice("relay %s: upstream %s (%s) is up again%s%s", ur->name, s->label, text,
			   why ? ": " : "", why ? why : "");
	else if (st == HEALTH_EJECTED)
		log_warn("relay %s: upstream %s (%s) ejected for %.1f s: %s", ur->name, s->label,
			 text,
			 (double)(s->h.ejected_until ? ur->hc.fail_timeout : 0) / 1e9 *
			     (s->h.ejections > 3 ? HEALTH_BACKOFF_MAX : 1u << (s->h.ejections - 1)),
			 why ? why : "failures in a row");
	else
		log_warn("relay %s: upstream %s (%s) is down: %s", ur->name, s->label, text,
			 why ? why : "health check failed");
}

/* Whether passive health may eject member k of relay ur's pool p now: unless it is the last
 * enabled member up (states as this tick has them so far), which stays (the docs' promise:
 * with none up the pool would panic onto the dead ones). A drained or down member's ejection
 * takes nothing from the pool. */
static bool upstream_may_eject(const struct upstream_relay *ur, const struct pool *p, uint32_t k)
{
	uint32_t j;

	if (!p->m[k].enabled || !p->m[k].weight ||
	    health_state(&ur->slot[p->m[k].slot].h) != HEALTH_UP)
		return true;
	for (j = 0; j < p->n; j++)
		if (j != k && p->m[j].enabled && p->m[j].weight &&
		    health_state(&ur->slot[p->m[j].slot].h) == HEALTH_UP)
			return true;
	return false;
}

static void upstream_log_held(const struct upstream_relay *ur, const struct upstream_slot *s)
{
	char text[ADDR_STRLEN];

	addr_format(&s->addr, text, sizeof(text));
	log_warn("relay %s: upstream %s (%s) not ejected after %u failures in a row: it is the "
		 "relay's last upstream up (ejected once another one is up and it fails again)",
		 ur->name, s->label, text, ur->hc.max_fails);
}

void upstream_tick(struct runtime *rt, uint64_t now)
{
	uint32_t i, k, w;

	for (i = 0; rt->cfg && i < rt->cfg->n_relays; i++) {
		uint32_t r = rt->relay_slot[i];
		struct upstream_relay *ur = &rt->ups->relay[r];
		const struct pool *p = rt->pools[r];
		bool changed = false;

		for (k = 0; p && k < p->n; k++) {
			struct upstream_slot *s = &ur->slot[p->m[k].slot];
			uint64_t fails = 0, oks = 0, df, dk;
			bool held;

			for (w = 0; w < rt->n_started; w++) {
				const struct worker *wk = &rt->workers[w];
				const struct upstream_counters *uc =
				    &wk->uc[r * CONFIG_MAX_UPSTREAMS + p->m[k].slot];

				/* still the slot's previous member's counts (upstream_snapshot) */
				if (__atomic_load_n(&wk->relays[r].uc_gen[p->m[k].slot],
						    __ATOMIC_ACQUIRE) != p->m[k].gen)
					continue;
				fails += counter_get(&uc->unreachable) + counter_get(&uc->noreply);
				oks += counter_get(&uc->rx_pkts);
			}
			/* A worker restarts a slot's counters when it first counts a new member
			 * there: a sum that went down starts the deltas over. */
			df = fails >= s->seen_fails ? fails - s->seen_fails : fails;
			dk = oks >= s->seen_oks ? oks - s->seen_oks : oks;
			s->seen_fails = fails;
			s->seen_oks = oks;
			held = s->h.held;
			if (health_observe(&s->h, &ur->hc, df, dk, upstream_may_eject(ur, p, k),
					   now) ||
			    health_expire(&s->h, now)) {
				upstream_stamp(s);
				upstream_log_change(ur, s,
						    dk	 ? "it answers"
						    : df ? "ICMP unreachable or unanswered sessions"
							   " in a row"
							 : "ejection time is over");
				changed = true;
			} else if (s->h.held && !held) {
				upstream_log_held(ur, s);
			}
		}
		if (changed || ur->rebuild)
			upstream_rebuild(rt, i);
	}
	upstream_reclaim(rt);
}

void upstream_check_result(struct runtime *rt, uint32_t r, uint32_t u, uint32_t gen, bool ok,
			   const char *why, uint64_t now)
{
	struct upstream_relay *ur = &rt->ups->relay[r];
	struct upstream_slot *s;

	if (u >= CONFIG_MAX_UPSTREAMS)
		return;
	s = &ur->slot[u];
	if (!s->used || s->gen != gen)
		return;
	if (!health_check_result(&s->h, &ur->hc, ok, now))
		return;
	upstream_stamp(s);
	upstream_log_change(ur, s, ok ? "health check passed" : why);
	/* upstream_tick, which follows the results, builds one pool for all of them */
	ur->rebuild = true;
}

/* Whether a drain recorded as drained (an entry or an address) covers what text names: the
 * same text, or a member of p that both name (by its entry's label or its address). */
static bool upstream_drain_covers(const struct pool *p, const char *drained, const char *text)
{
	uint32_t k;

	if (!strcmp(drained, text))
		return true;
	for (k = 0; p && k < p->n; k++)
		if (member_named(&p->m[k], text) && member_named(&p->m[k], drained))
			return true;
	return false;
}

int upstream_set_enabled(struct runtime *rt, const char *relay_name, const char *text, bool enabled,
			 char *err, size_t errlen)
{
	struct upstreams *ups = rt->ups;
	const struct pool *p = NULL;
	uint32_t i, k, n = 0, removed = 0, relay = UINT32_MAX;

	for (i = 0; rt->cfg && i < rt->cfg->n_relays; i++)
		if (!strcmp(rt->cfg->relays[i].name, relay_name))
			relay = i;
	if (relay == UINT32_MAX) {
		snprintf(err, errlen, "no relay named '%s'", relay_name);
		return -ENOENT;
	}
	p = rt->pools[rt->relay_slot[relay]];
	for (k = 0; p && k < p->n; k++)
		n += member_named(&p->m[k], text);
	if (enabled) {
		/* Every drain that covers what text names goes: its own record, and those of
		 * the entry or address its members were drained by (an entry drained by name,
		 * enabled by one of its addresses, say), also of members no longer resolved. */
		for (i = 0; i < ups->n_disabled;) {
			if (strcmp(ups->disabled[i].relay, relay_name) ||
			    !upstream_drain_covers(p, ups->disabled[i].text, text)) {
				i++;
				continue;
			}
			log_notice("relay %s: upstream %s enabled: takes new sessions again",
				   relay_name, ups->disabled[i].text);
			ups->disabled[i] = ups->disabled[--ups->n_disabled];
			removed++;
		}
		if (!n && !removed) {
			snprintf(err, errlen,
				 "relay %s has no upstream '%s' and none is disabled so (give it as "
				 "written in the config, or an address from 'ringrelayctl upstreams "
				 "%s')",
				 relay_name, text, relay_name);
			return -ENOENT;
		}
		upstream_rebuild(rt, relay);
		return (int)n;
	}
	if (!n) {
		snprintf(err, errlen,
			 "relay %s has no upstream '%s' (give it as written in the "
			 "config, or an address from 'ringrelayctl upstreams %s')",
			 relay_name, text, relay_name);
		return -ENOENT;
	}
	/* The record, kept across reloads: one per (relay, text). */
	for (i = 0; i < ups->n_disabled; i++)
		if (!strcmp(ups->disabled[i].relay, relay_name) &&
		    !strcmp(ups->disabled[i].text, text))
			break;
	if (i == ups->n_disabled) {
		if (ups->n_disabled == UPSTREAM_MAX_DISABLED) {
			snprintf(err, errlen, "at most %d upstreams can be disabled",
				 UPSTREAM_MAX_DISABLED);
			return -ENOSPC;
		}
		snprintf(ups->disabled[i].relay, sizeof(ups->disabled[i].relay), "%s", relay_name);
		snprintf(ups->disabled[i].text, sizeof(ups->disabled[i].text), "%s", text);
		ups->n_disabled++;
	}
	upstream_rebuild(rt, relay);
	log_notice("relay %s: upstream %s disabled: no new sessions, existing ones end normally",
		   relay_name, text);
	return (int)n;
}

uint32_t upstream_previous(struct runtime *rt, const char *relay_name, const char *text,
			   struct addr *out, uint32_t max)
{
	const struct pool *p = NULL;
	uint32_t i, n = 0;

	for (i = 0; rt->cfg && i < rt->cfg->n_relays; i++)
		if (!strcmp(rt->cfg->relays[i].name, relay_name))
			p = rt->pools[rt->relay_slot[i]];
	for (i = 0; p && i < p->n && n < max; i++)
		if (!strcmp(p->m[i].label, text))
			out[n++] = p->m[i].addr;
	return n;
}

uint32_t upstream_addrs(const struct runtime *rt, uint32_t i, struct addr *out, uint32_t max)
{
	const struct pool *p =
	    rt->cfg && i < rt->cfg->n_relays ? rt->pools[rt->relay_slot[i]] : NULL;
	uint32_t k, n = 0;

	for (k = 0; p && k < p->n && n < max; k++)
		out[n++] = p->m[k].addr;
	return n;
}

int upstream_snapshot(const struct runtime *rt, struct snapshot *s)
{
	uint32_t i, k, w, n = 0;
	int ret;

	for (i = 0; i < s->n_relays; i++) {
		const struct pool *p = rt->pools[rt->relay_slot[i]];
		const struct relay_conf *rc = &rt->cfg->relays[i];
		const struct upstream_relay *ur = &rt->ups->relay[rt->relay_slot[i]];
		struct snapshot_lookups *sl = &s->lookups[i];

		n += p ? p->n : 0;
		s->max_sessions[i] = rc->max_sessions;
		s->panic[i] = p && p->panic;
		sl->names = rc->has_names;
		sl->made = ur->lookups;
		sl->failed = ur->lookup_failures;
		sl->new_sets = ur->new_sets;
		for (k = 0; k < rc->n_upstreams; k++)
			sl->failing += ur->lookup_failing[k];
	}
	ret = snapshot_alloc_upstreams(s, n);
	if (ret)
		return ret;
	for (i = 0, n = 0; i < s->n_relays; i++) {
		uint32_t r = rt->relay_slot[i];
		const struct pool *p = rt->pools[r];

		for (k = 0; p && k < p->n; k++, n++) {
			const struct pool_member *m = &p->m[k];
			const struct upstream_slot *us = &rt->ups->relay[r].slot[m->slot];
			struct snapshot_upstream *su = &s->upstreams[n];

			su->relay = i;
			snprintf(su->label, sizeof(su->label), "%s", m->label);
			addr_format(&m->addr, su->address, sizeof(su->address));
			su->weight = m->weight;
			su->enabled = m->enabled;
			su->usable = m->usable;
			su->state = !m->enabled ? "disabled" : health_state_name(m->state);
			su->changed = us->changed;
			su->changed_boot = us->changed_boot;
			su->ejections = us->h.total_ejections;
			su->lookup_failing = rt->ups->relay[r].lookup_failing[m->entry];
			for (w = 0; w < s->n_workers; w++) {
				const struct worker *wk = &rt->workers[w];

				/* a worker that has not counted this member yet has zeros */
				if (__atomic_load_n(&wk->relays[r].uc_gen[m->slot],
						    __ATOMIC_ACQUIRE) != m->gen)
					continue;
				upstream_counters_add(&s->workers[w].upstreams[n],
						      &wk->uc[r * CONFIG_MAX_UPSTREAMS + m->slot]);
			}
		}
	}
	return 0;
}

void upstream_fini(struct runtime *rt)
{
	struct pool *p;
	uint32_t r;

	if (!rt->ups)
		return;
	for (r = 0; r < WORKER_MAX_RELAYS; r++) {
		pool_free(rt->pools[r]);
		rt->pools[r] = NULL;
	}
	while ((p = rt->ups->retired)) {
		rt->ups->retired = p->retired_next;
		pool_free(p);
	}
}
