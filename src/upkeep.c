// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "app.h"
#include "log.h"
#include "lookup.h"
#include "privs.h"
#include "sock.h"
#include "upkeep.h"
#include "upstream.h"

/* One upstream's active check. */
#define UPKEEP_PROBE_RESULTS 4

struct upkeep_probe {
	uint32_t r, u, gen; /* relay slot, counter slot, member gen: who it checks */
	bool seen;	    /* still in a pool at the last sync */
	struct addr addr;
	struct addr source; /* family 0: none */
	uint32_t fwmark;    /* the relay's, so that probes take its policy routes */
	/* The probes' socket, -1 when none: kept while they succeed (one source port, so one
	 * conntrack or NAT mapping, not one per probe), closed at a failure, so a late reply
	 * or ICMP error goes with it and never counts for the next */
	int fd;
	uint64_t interval, timeout; /* ns */
	uint64_t next_send;	    /* ns */
	uint64_t deadline;	    /* ns; 0: no probe out */
	/* To report at the next tick, in order (a timeout and the next probe's reply can fall
	 * in one tick): 1 ok, -1 failed; the last failure's why. */
	int8_t results[UPKEEP_PROBE_RESULTS];
	uint8_t n_results;
	char why[64];
	uint8_t send[CONFIG_PROBE_MAX], expect[CONFIG_PROBE_MAX];
	uint32_t send_len, expect_len;
};

struct upkeep {
	struct app *a;
	pthread_t thread;
	int stop_fd;
	struct upkeep_probe *probes;
	uint32_t n_probes, cap_probes;
	/* Per relay of the config in force (by index), its names being looked up (lookup.h),
	 * off this thread: a relay whose resolver does not answer keeps no other waiting. */
	struct upkeep_lookup {
		struct lookup_batch *batch; /* NULL: none out */
		struct upstream_conf *ents; /* the relay's entries when it started */
		uint32_t n_ents;
		uint64_t reloads; /* upkeep_reloads then */
		char name[CONFIG_NAME_LEN];
	} look[CONFIG_MAX_RELAYS];
	uint32_t n_out; /* batches out */
};

static void probe_close(struct upkeep_probe *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* A result for the next tick; more than it holds keep the latest. The probe is over. */
static void probe_result(struct upkeep_probe *p, int8_t r)
{
	p->deadline = 0;
	if (p->n_results == UPKEEP_PROBE_RESULTS) {
		memmove(p->results, p->results + 1, UPKEEP_PROBE_RESULTS - 1);
		p->n_results--;
	}
	p->results[p->n_results++] = r;
}

static void probe_fail(struct upkeep_probe *p, const char *why)
{
	probe_close(p);
	probe_result(p, -1);
	snprintf(p->why, sizeof(p->why), "health check: %s", why);
}

/* Brings the probe list in line with the pools (lock held): one per member of every relay
 * with a health_check, settings copied. */
static void upkeep_sync(struct upkeep *k, const struct runtime *rt, uint64_t now)
{
	struct addr source;
	uint32_t i, j, m;

	for (j = 0; j < k->n_probes; j++)
		k->probes[j].seen = false;
	for (i = 0; rt->cfg && i < rt->cfg->n_relays; i++) {
		const struct relay_conf *rc = &rt->cfg->relays[i];
		const struct health_check_conf *hc = &rc->health_check;
		uint32_t r = rt->relay_slot[i];
		const struct pool *p = rt->pools[r];

		if (!hc->enabled || !p)
			continue;
		for (m = 0; m < p->n; m++) {
			struct upkeep_probe *pr = NULL;

			for (j = 0; j < k->n_probes && !pr; j++)
				if (k->probes[j].r == r && k->probes[j].u == p->m[m].slot &&
				    k->probes[j].gen == p->m[m].gen)
					pr = &k->probes[j];
			if (!pr) {
				if (k->n_probes == k->cap_probes) {
					uint32_t cap = k->cap_probes ? 2 * k->cap_probes : 16;
					struct upkeep_probe *g =
					    realloc(k->probes, cap * sizeof(*g));

					if (!g)
						return;
					k->probes = g;
					k->cap_probes = cap;
				}
				pr = &k->probes[k->n_probes++];
				memset(pr, 0, sizeof(*pr));
				pr->fd = -1;
				pr->r = r;
				pr->u = p->m[m].slot;
				pr->gen = p->m[m].gen;
				pr->addr = p->m[m].addr;
				pr->next_send = now; /* the first check at once */
			}
			pr->seen = true;
			pr->interval = (uint64_t)(hc->interval * 1e9);
			/* an interval a reload shortened applies now, not after the old one */
			if (pr->next_send > now + pr->interval)
				pr->next_send = now + pr->interval;
			pr->timeout = (uint64_t)(hc->timeout * 1e9);
			memcpy(pr->send, hc->send, hc->send_len);
			pr->send_len = hc->send_len;
			memcpy(pr->expect, hc->expect, hc->expect_len);
			pr->expect_len = hc->expect_len;
			memset(&source, 0, sizeof(source));
			if (rc->source == SOURCE_ADDRESS)
				source = rc->source_addr;
			/* a reload that moved the source or changed the mark: the next probe
			 * opens a socket with the new one */
			if (memcmp(&source, &pr->source, sizeof(source)) ||
			    pr->fwmark != rc->fwmark) {
				probe_close(pr);
				pr->deadline = 0; /* a probe out ends unjudged */
				pr->next_send = now;
			}
			pr->source = source;
			pr->fwmark = rc->fwmark;
		}
	}
	for (j = 0; j < k->n_probes;) {
		if (k->probes[j].seen) {
			j++;
			continue;
		}
		probe_close(&k->probes[j]);
		k->probes[j] = k->probes[--k->n_probes];
	}
}

/* A socket kept after a success: what came since (a duplicate of that reply) is not the next
 * probe's, and is read away. False after an error since (an ICMP message: IP_RECVERR also
 * queues a copy, which keeps the socket polling POLLERR until read) or a flood: a new socket
 * then. (No kernel receive times: SO_TIMESTAMP turns on a time stamp for every datagram the
 * host receives.) */
static bool probe_drained(int fd)
{
	uint8_t buf[CONFIG_PROBE_MAX];
	int i;

	for (i = 0; i < 16; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
	return false;
}

static void probe_send(struct upkeep_probe *p, uint64_t now)
{
	struct sock_source src = {.bind = addr_family(&p->source) ? &p->source : NULL,
				  .fwmark = p->fwmark};

	p->next_send = now + p->interval;
	if (p->deadline)
		return; /* still waiting: the timeout decides */
	if (p->fd >= 0 && !probe_drained(p->fd))
		probe_close(p);
	if (p->fd < 0)
		p->fd = sock_open_upstream(&p->addr, false, &src, NULL);
	if (p->fd < 0) {
		probe_fail(p, strerror(-p->fd));
		p->fd = -1;
		return;
	}
	if (send(p->fd, p->send, p->send_len, MSG_DONTWAIT) < 0) {
		probe_fail(p, strerror(errno));
		return;
	}
	p->deadline = now + p->timeout;
}

/* The probe out's reply or error, if one came: its result. A reply counts only if it came by
 * the deadline: judged at at, the time the thread last looked before this read (it was
 * waiting for the app lock since, or polling, which wakes at every deadline). Any error is
 * the probe's own (a failure closes the socket): an ICMP port, host or network unreachable,
 * too big, queued by IP_RECVERR. */
static void probe_read(struct upkeep_probe *p, uint64_t at)
{
	uint8_t buf[CONFIG_PROBE_MAX];
	ssize_t n;

	if (p->fd < 0 || !p->deadline)
		return;
	n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		probe_fail(p, errno == ECONNREFUSED ? "ICMP unreachable" : strerror(errno));
		return;
	}
	if (at > p->deadline)
		probe_fail(p, "no reply in time");
	else if ((size_t)n >= p->expect_len && !memcmp(buf, p->expect, p->expect_len))
		probe_result(p, 1);
	else
		probe_fail(p, "unexpected reply");
}

/* Which reload the config in force came from (the caller holds the lock): what a lookup
 * started under one reload found is not applied under another, whose entries may differ. */
static uint64_t upkeep_reloads(const struct app *a)
{
	return a->reloads_ok + a->reloads_partial + a->reloads_failed;
}

static void upkeep_lookup_drop(struct upkeep *k, struct upkeep_lookup *l)
{
	if (l->batch)
		k->n_out--;
	lookup_put(l->batch);
	free(l->ents);
	memset(l, 0, sizeof(*l));
}

/* Relays of the config in force whose names are due at now (resolve_interval): their entries
 * go to a lookup batch each (k->look[relay]), unless one is out already. A batch started
 * under another reload is dropped: its relay index may name another relay now. */
static void upkeep_resolve(struct upkeep *k, uint64_t now)
{
	struct app *a = k->a;
	struct runtime *rt = &a->rt;
	uint64_t reloads;
	uint32_t relay;
	int ret;

	pthread_mutex_lock(&a->lock);
	reloads = upkeep_reloads(a);
	for (relay = 0; relay < CONFIG_MAX_RELAYS; relay++)
		if (k->look[relay].batch && k->look[relay].reloads != reloads)
			upkeep_lookup_drop(k, &k->look[relay]);
	for (relay = 0; rt->cfg && relay < rt->cfg->n_relays; relay++) {
		const struct relay_conf *rc = &rt->cfg->relays[relay];
		struct upstream_relay *ur = &rt->ups->relay[rt->relay_slot[relay]];
		struct upkeep_lookup *l = &k->look[relay];
		uint64_t every = (uint64_t)(rc->resolve_interval * 1e9);

		if (!rc->has_names || rc->resolve_interval <= 0 || l->batch)
			continue;
		if (!ur->next_resolve)
			ur->next_resolve = now + every;
		if (now < ur->next_resolve)
			continue;
		ur->next_resolve = now + every;
		l->ents = malloc(rc->n_upstreams * sizeof(*l->ents));
		if (!l->ents)
			continue;
		memcpy(l->ents, rc->upstreams, rc->n_upstreams * sizeof(*l->ents));
		l->n_ents = rc->n_upstreams;
		l->reloads = reloads;
		snprintf(l->name, sizeof(l->name), "%s", rc->name);
		ret = lookup_start(l->ents, l->n_ents, config_upstream_family(rc), &l->batch);
		if (!ret) {
			k->n_out++;
			continue;
		}
		log_warn("relay %s: cannot look its upstream names up now (next time in %g s): %s",
			 rc->name, rc->resolve_interval, strerror(-ret));
		upkeep_lookup_drop(k, l);
	}
	pthread_mutex_unlock(&a->lock);
}

/* The lookups of relay's batch are done: its members as config_resolve makes them (in entry
 * order, the first entry wins), applied like a reload of that relay when they changed. Not
 * under another reload than the one they were started under, whose entries may differ: the
 * next round looks up what it says. */
static void upkeep_resolved(struct upkeep *k, uint32_t relay)
{
	struct upkeep_lookup *l = &k->look[relay];
	struct app *a = k->a;
	struct runtime *rt = &a->rt;
	struct member_conf m[CONFIG_MAX_UPSTREAMS];
	struct addr kept[CONFIG_MAX_UPSTREAMS];
	char err[CONFIG_ERR_LEN];
	uint32_t e, n_m = 0;
	int n;

	pthread_mutex_lock(&a->lock);
	if (upkeep_reloads(a) != l->reloads)
		goto out;
	{
		struct upstream_relay *ur = &rt->ups->relay[rt->relay_slot[relay]];

		for (e = 0; e < l->n_ents; e++) {
			const struct upstream_conf *u = &l->ents[e];
			const struct addr *got;
			const char *why;

			n = lookup_result(l->batch, e, &got, &why);
			ur->lookups += u->is_name;
			ur->lookup_failures += n < 0;
			if (n < 0) {
				if (!ur->lookup_failing[e])
					log_warn("relay %s: upstream %s: %s; keeping its last "
						 "addresses",
						 l->name, u->text, why);
				ur->lookup_failing[e] = true;
				n = (int)upstream_previous(rt, l->name, u->text, kept,
							   CONFIG_MAX_UPSTREAMS);
				got = kept;
			} else if (u->is_name && ur->lookup_failing[e]) {
				log_notice("relay %s: upstream %s resolves again", l->name, u->text);
				ur->lookup_failing[e] = false;
			}
			/* full: the rest left out, as a start would refuse them */
			config_members_add(m, &n_m, got, (uint32_t)n, u->weight, e);
		}
	}
	if (!n_m)
		goto out;
	n = upstream_publish_members(rt, relay, m, n_m);
	if (n == 1) {
		rt->ups->relay[rt->relay_slot[relay]].new_sets++;
		log_notice("relay %s: upstream names resolved to a new set: %u upstream(s)",
			   l->name, n_m);
		bool behind = runtime_workers_behind(rt);

		if (runtime_reapply(rt, err, sizeof(err)))
			log_err("relay %s: applying the new upstreams: %s", l->name, err);
		/* New addresses may be routed through other interfaces: attaching there needs
		 * the admin thread's capabilities; so does settling the filter's relay ports
		 * once a worker that was behind runs the config in force again. */
		if (rt->fast || (behind && !runtime_workers_behind(rt)))
			admin_follow_async(a->admin);
	} else if (n < 0) {
		log_err("relay %s: new upstreams: %s", l->name, strerror(-n));
	}
out:
	upkeep_lookup_drop(k, l);
	pthread_mutex_unlock(&a->lock);
}

/* A tick's pause, which a stop cuts short when poll works. Returns whether to stop (the
 * stop is read here: a poll that keeps failing must not keep it from being seen). */
static bool upkeep_pause(struct upkeep *k)
{
	struct pollfd pfd = {.fd = k->stop_fd, .events = POLLIN};
	struct timespec ts = {.tv_nsec = UPKEEP_TICK_MS * 1000000L};
	uint64_t v;

	if (poll(&pfd, 1, UPKEEP_TICK_MS) < 0)
		nanosleep(&ts, NULL);
	return read(k->stop_fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

/* The lookup batches that are done are applied (upkeep_resolved, which waits for the app
 * lock: *blind says since when the probes were not looked at). */
static void upkeep_lookups(struct upkeep *k, uint64_t *blind)
{
	uint32_t i;

	for (i = 0; i < CONFIG_MAX_RELAYS && k->n_out; i++) {
		if (k->look[i].batch && lookup_done(k->look[i].batch)) {
			*blind = *blind ? *blind : worker_clock();
			upkeep_resolved(k, i);
		}
	}
}

static void *upkeep_thread(void *arg)
{
	struct upkeep *k = arg;
	struct app *a = k->a;
	/* without memory for more: the stop and the lookups, and probes read every pass */
	struct pollfd base[1 + CONFIG_MAX_RELAYS], *pfd = base;
	/* blind: when the thread stopped looking at the probes (0: it is looking): a wait for
	 * the app lock, or a pass that could not poll them all; what it reads next came by
	 * then, as far as it can tell */
	uint64_t now, next_tick = 0, wake, blind = 0;
	uint32_t i, j, n, np, cap = 1 + CONFIG_MAX_RELAYS;
	bool short_of_memory = false, poll_failing = false;
	int ret;

	for (;;) {
		now = worker_clock();
		if (now >= next_tick) {
			pthread_mutex_lock(&a->lock);
			for (i = 0; i < k->n_probes; i++) {
				struct upkeep_probe *p = &k->probes[i];

				for (j = 0; j < p->n_results; j++)
					upstream_check_result(&a->rt, p->r, p->u, p->gen,
							      p->results[j] > 0, p->why, now);
				p->n_results = 0;
			}
			upkeep_sync(k, &a->rt, now);
			upstream_tick(&a->rt, now);
			pthread_mutex_unlock(&a->lock);
			next_tick = now + UPKEEP_TICK_MS * 1000000ull;
			upkeep_resolve(k, now);
			blind = blind ? blind : now;
		}
		/* The lock may have been waited for (a reload, a status, a filter sync holding
		 * it): what came meanwhile is read, judged at the time before the wait (a reply
		 * that came after its deadline during the wait counts: the thread cannot tell),
		 * before deadlines are judged at the time after. */
		if (blind) {
			for (i = 0; i < k->n_probes; i++)
				probe_read(&k->probes[i], blind);
			now = worker_clock();
			blind = 0;
		}
		/* poll until the first of the next tick, a probe's deadline, a probe to send */
		wake = next_tick;
		for (i = 0; i < k->n_probes; i++) {
			struct upkeep_probe *p = &k->probes[i];

			if (p->deadline && now >= p->deadline)
				probe_fail(p, "no reply in time");
			if (now >= p->next_send)
				probe_send(p, now);
			if (p->deadline && p->deadline < wake)
				wake = p->deadline;
			if (p->next_send < wake)
				wake = p->next_send;
		}
		/* the stop, the probes, then the lookup batches out */
		if (cap < 1 + k->n_probes + CONFIG_MAX_RELAYS) {
			struct pollfd *g =
			    realloc(pfd == base ? NULL : pfd,
				    (1 + k->n_probes + CONFIG_MAX_RELAYS) * sizeof(*g));

			if (g) {
				pfd = g;
				cap = 1 + k->n_probes + CONFIG_MAX_RELAYS;
				short_of_memory = false;
			} else if (!short_of_memory) {
				log_err(
				    "upkeep thread: out of memory: health check replies are read "
				    "at every pass instead of when they come");
				short_of_memory = true;
			}
		}
		/* Fewer probes polled than there are only while a larger array is refused: the
		 * others are read on every pass. */
		np = k->n_probes < cap - 1 - CONFIG_MAX_RELAYS ? k->n_probes
							       : cap - 1 - CONFIG_MAX_RELAYS;
		if (np < k->n_probes)
			blind = now;
		pfd[0] = (struct pollfd){.fd = k->stop_fd, .events = POLLIN};
		/* (a socket kept with no probe out is not watched: -1) */
		for (i = 0; i < np; i++)
			pfd[1 + i] = (struct pollfd){
			    .fd = k->probes[i].deadline ? k->probes[i].fd : -1, .events = POLLIN};
		n = 1 + np;
		for (i = 0; i < CONFIG_MAX_RELAYS && k->n_out; i++)
			if (k->look[i].batch)
				pfd[n++] = (struct pollfd){.fd = lookup_fd(k->look[i].batch),
							   .events = POLLIN};
		/* (rounded up: woken early, the loop would only come round to wait again) */
		ret = poll(pfd, n, wake > now ? (int)((wake - now + 999999) / 1000000) : 0);
		if (ret < 0 && errno != EINTR) {
			/* Never leave the loop but on a stop: ejections would never end, checks
			 * and lookups stop. A tick's pause, and again. */
			if (!poll_failing)
				log_err("upkeep thread: poll: %s; trying again every %d ms",
					strerror(errno), UPKEEP_TICK_MS);
			poll_failing = true;
			/* (nothing was read: what comes meanwhile is judged when it is, the pause
			 * is no lock wait) */
			if (upkeep_pause(k))
				break;
			upkeep_lookups(k, &blind); /* (lookups answer without poll) */
			continue;
		}
		if (ret < 0)
			continue;
		if (poll_failing)
			log_notice("upkeep thread: poll works again");
		poll_failing = false;
		if (pfd[0].revents & POLLIN)
			break;
		now = worker_clock();
		for (i = 0; i < np; i++)
			if (pfd[1 + i].revents && k->probes[i].fd >= 0)
				probe_read(&k->probes[i], blind ? blind : now);
		upkeep_lookups(k, &blind);
	}
	if (pfd != base)
		free(pfd);
	return NULL;
}

int upkeep_start(struct app *a, uint64_t keep, struct upkeep **out, char *err, size_t errlen)
{
	struct upkeep *k = calloc(1, sizeof(*k));
	int ret;

	*out = NULL;
	if (!k) {
		snprintf(err, errlen, "upkeep thread: out of memory");
		return -ENOMEM;
	}
	k->a = a;
	k->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (k->stop_fd < 0) {
		ret = -errno;
		free(k);
		snprintf(err, errlen, "upkeep thread: eventfd: %s", strerror(-ret));
		return ret;
	}
	/* It reads the resolver's answers and the upstreams' replies: only what a probe's
	 * SO_MARK needs (keep). */
	ret = privs_thread_start(&k->thread, "ringrelay-upkp", keep, upkeep_thread, k);
	if (ret) {
		close(k->stop_fd);
		free(k);
		snprintf(err, errlen, "upkeep thread: start with its capabilities: %s",
			 strerror(-ret));
		return ret;
	}
	*out = k;
	return 0;
}

void upkeep_stop(struct upkeep *k)
{
	uint64_t one = 1;
	uint32_t i;

	if (!k)
		return;
	if (write(k->stop_fd, &one, sizeof(one)) < 0)
		log_warn("upkeep thread: cannot signal it to stop: %s", strerror(errno));
	pthread_join(k->thread, NULL);
	/* A lookup still out ends on its own thread, or with the process. */
	for (i = 0; i < CONFIG_MAX_RELAYS; i++)
		upkeep_lookup_drop(k, &k->look[i]);
	for (i = 0; i < k->n_probes; i++)
		probe_close(&k->probes[i]);
	free(k->probes);
	close(k->stop_fd);
	free(k);
}
