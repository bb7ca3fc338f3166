// SPDX-License-Identifier: MIT
/* The daemon's state transitions that both main (SIGHUP) and the control thread
 * (ringrelayctl reload) drive: reloading the config and bringing the filter in line. */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "filter.h"
#include "log.h"
#include "lookup.h"
#include "napi.h"
#include "portclaim.h"
#include "netlink.h"
#include "privs.h"
#include "rxreport.h"
#include "service.h"
#include "snapshot.h"
#include "upstream.h"

double app_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double app_boottime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The fast path's part of a snapshot: modes and reasons, counters, interfaces. */
static int app_snapshot_offload(struct app *a, struct snapshot *s)
{
	struct filter_offload_iface fi[RR_IFACES_MAX];
	struct snapshot_offload *so;
	uint32_t r;
	int n, i;

	so = calloc(s->n_relays ? s->n_relays : 1, sizeof(*so));
	if (!so)
		return -ENOMEM;
	for (r = 0; r < s->n_relays; r++) {
		so[r].mode = config_offload_name(a->offload[r].got);
		so[r].why = a->offload[r].why;
	}
	s->offload = so;
	if (!a->filter || !offload_wanted(a->rt.cfg))
		return 0;
	s->offload_counters = calloc(OFFLOAD_CNT__MAX, sizeof(*s->offload_counters));
	if (!s->offload_counters)
		return -ENOMEM;
	if (filter_offload_counters(a->filter, s->offload_counters)) {
		free(s->offload_counters);
		s->offload_counters = NULL;
	}
	n = filter_offload_ifaces(a->filter, fi, RR_IFACES_MAX);
	s->offload_ifaces = calloc(n > 0 ? (size_t)n : 1, sizeof(*s->offload_ifaces));
	if (!s->offload_ifaces)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct snapshot_offload_iface *o = &s->offload_ifaces[i];

		memcpy(o->name, fi[i].name, sizeof(o->name));
		o->name[sizeof(o->name) - 1] = '\0';
		o->hook = fi[i].xdp && fi[i].tc ? "xdp+tc" : fi[i].xdp ? "xdp" : "tc";
		o->redirect_target = fi[i].xdp_tx;
		filter_offload_xmit(a->filter, fi[i].ifindex, &o->xmit_drops, &o->xmit_sent);
	}
	s->n_offload_ifaces = (uint32_t)n;
	return 0;
}

/* Relay name's entry of a->shed_base; with make, a free one it takes when it has none
 * (NULL: none, or no room). */
static struct app_shed_base *app_shed_base(struct app *a, const char *name, bool make)
{
	struct app_shed_base *free_one = NULL;
	uint32_t i;

	for (i = 0; i < CONFIG_MAX_RELAYS; i++) {
		if (!strcmp(a->shed_base[i].name, name))
			return &a->shed_base[i];
		if (!free_one && !a->shed_base[i].name[0])
			free_one = &a->shed_base[i];
	}
	if (!make || !free_one)
		return NULL;
	snprintf(free_one->name, sizeof(free_one->name), "%s", name);
	return free_one;
}

/* Forgets the counts kept for relays the config in force no longer has: one of the same name
 * added later starts from nothing, as its other counters do. */
static void app_shed_base_prune(struct app *a)
{
	uint32_t i, r;

	for (i = 0; i < CONFIG_MAX_RELAYS; i++) {
		for (r = 0; r < a->rt.cfg->n_relays; r++)
			if (!strcmp(a->shed_base[i].name, a->rt.cfg->relays[r].name))
				break;
		if (r == a->rt.cfg->n_relays)
			memset(&a->shed_base[i], 0, sizeof(a->shed_base[i]));
	}
}

void app_shed_dropped(struct app *a, uint32_t r, uint64_t *full, uint64_t *heavy)
{
	const struct app_shed_base *base;

	*full = *heavy = 0;
	if (a->filter)
		filter_shed_dropped(a->filter, a->rt.cfg->relays[r].name, full, heavy);
	base = app_shed_base(a, a->rt.cfg->relays[r].name, false);
	if (base) {
		*full += base->full;
		*heavy += base->heavy;
	}
}

/* Early shedding's part: per relay on/why and what the program shed for it. */
static int app_snapshot_shed(struct app *a, struct snapshot *s)
{
	uint32_t r;

	s->shed = calloc(s->n_relays ? s->n_relays : 1, sizeof(*s->shed));
	if (!s->shed)
		return -ENOMEM;
	for (r = 0; r < s->n_relays; r++) {
		s->shed[r].on = a->shed[r].on;
		s->shed[r].why = a->shed[r].why;
		app_shed_dropped(a, r, &s->shed[r].dropped_full, &s->shed[r].dropped_heavy);
	}
	if (!a->filter || !filter_shed_loaded(a->filter, NULL))
		return 0;
	s->shed_counters = calloc(SHED_CNT__MAX, sizeof(*s->shed_counters));
	if (!s->shed_counters)
		return -ENOMEM;
	if (filter_shed_counters(a->filter, s->shed_counters)) {
		free(s->shed_counters);
		s->shed_counters = NULL;
	}
	return 0;
}

/* The filter's counters, while it filters. */
static int app_snapshot_filter(struct app *a, struct snapshot *s)
{
	/* The program may be loaded for the fast path or shedding alone: no filter counters. */
	if (!a->filter || s->filter->mode == FILTER_MODE_OFF)
		return 0;
	s->filter_counters = calloc(FILTER_CNT__MAX, sizeof(*s->filter_counters));
	if (!s->filter_counters)
		return -ENOMEM;
	/* A failed read leaves the filter's counters out rather than reporting zeros. Not the
	 * per-rule hits: a scrape would read thousands of them under the lock, for nothing. */
	if (filter_read_counters(a->filter, s->filter_counters)) {
		free(s->filter_counters);
		s->filter_counters = NULL;
	}
	return 0;
}

int app_snapshot(struct app *a, struct snapshot *s)
{
	int ret;

	ret = runtime_snapshot(&a->rt, s);
	if (ret)
		return ret;
	s->version = RINGRELAY_VERSION;
	s->pid = (int)getpid();
	s->now = app_now();
	s->start_time = a->start_time;
	s->boottime = app_boottime();
	s->uptime = s->boottime - a->start_boot;
	s->config_path = a->config_path ? a->config_path : "";
	s->reloads_ok = a->reloads_ok;
	s->reloads_partial = a->reloads_partial;
	s->reloads_failed = a->reloads_failed;
	s->last_reload_partial = a->last_reload_partial;
	s->last_reload_success = a->last_reload_success;
	s->last_reload_error = a->last_reload_error;
	s->steering = a->steer.why[0] ? (a->steer.cpu ? "cpu" : "hash") : NULL;
	s->steering_why = a->steer.why;
	ret = app_snapshot_offload(a, s);
	if (!ret)
		ret = app_snapshot_shed(a, s);
	s->filter = app_filter_conf(a);
	if (!ret)
		ret = app_snapshot_filter(a, s);
	/* what programs since unloaded counted, so the totals never go down */
	if (!ret)
		bpfbase_apply(&a->bpf_base, s);
	return ret;
}

/* Shedding alone loads the program only where it can: an unprivileged run says why in one
 * line instead of failing a load. */
#define APP_SHED_NO_CAPS "needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (root has them)"
#define APP_SHED_RESTART                                                                    \
	"the BPF program loads only at start (with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON): " \
	"restart to apply"
/* Before Linux 6.9 a thread without CAP_BPF (the control thread) finds no NAPI thread: the
 * report gets those the napi block found at start or at the last reload. */
static void app_rxreport_threads(struct app *a, struct rxreport *r)
{
	uint32_t i, j, k;

	for (i = 0; i < r->n; i++) {
		struct rxpath_iface *ifc = &r->ifaces[i];

		if (ifc->threaded != 1 || ifc->n_threads_all)
			continue;
		for (j = 0; j < a->napi.n; j++) {
			const struct napitune_iface *f = &a->napi.ifaces[j];

			if (!f->by_iterator || strcmp(f->name, ifc->name))
				continue;
			for (k = 0; k < f->n_threads; k++)
				if (napi_thread_is_napi(f->threads[k].pid))
					rxpath_add_thread(ifc, f->threads[k].id, f->threads[k].pid);
			/* only the first NAPITUNE_IFACE_THREADS are remembered */
			if (ifc->n_threads_all && ifc->n_threads_all < (uint32_t)f->instances)
				ifc->n_threads_all = (uint32_t)f->instances;
		}
	}
}

/* The receive-path report of cfg's listen interfaces for the running workers' CPUs. */
static int app_rxreport_of(struct app *a, const struct config *cfg, struct rxreport **out)
{
	/* Busy polling counts as protection only where the workers got it from the kernel,
	 * shedding where a relay's stage is attached. */
	struct rxreport_in in = {
		.worker_cpu = a->rt.plan.cpu,
		.n_workers = a->rt.plan.n_workers,
		.busy_poll_us = a->rt.n_started && a->rt.workers[0].busy_poll == 1
					? a->rt.cfg->napi.busy_poll_us
					: 0,
	};
	uint32_t r;
	int ret;

	for (r = 0; r < a->rt.cfg->n_relays; r++)
		in.shed |= a->shed[r].on;
	ret = rxreport_new(cfg, &in, out);
	if (!ret)
		app_rxreport_threads(a, *out);
	return ret;
}

int app_rxreport(struct app *a, struct rxreport **out)
{
	return app_rxreport_of(a, a->rt.cfg, out);
}

void app_steer(struct app *a, const struct config *cfg, struct steer *out)
{
	char why[STEER_WHY_LEN] = "";
	struct rxreport *r = NULL;
	int probe = 0;

	if (cfg->steering != STEERING_HASH && a->rt.plan.n_workers > 1)
		probe = steer_probe(why, sizeof(why));
	if (cfg->steering == STEERING_AUTO && !probe && a->rt.plan.n_workers > 1 &&
	    app_rxreport_of(a, cfg, &r))
		r = NULL; /* out of memory: judged as not described */
	steer_decide(cfg, probe, why, r, a->rt.plan.cpu, a->rt.plan.n_workers, out);
	rxreport_free(r);
}

void app_steer_set(struct app *a, const struct config *cfg, const struct steer *st)
{
	bool same = a->steer.why[0] && a->steer.cpu == st->cpu && !strcmp(a->steer.why, st->why);

	a->steer = *st;
	a->rt.steer_cpu = st->cpu;
	if (same)
		return; /* a reload that changes nothing says nothing */
	if (cfg->steering == STEERING_CPU && !st->cpu)
		log_warn("steering = \"cpu\": %s; the kernel picks workers by flow hash", st->why);
	else
		log_info("steering: %s (%s)",
			 st->cpu ? "each datagram goes to the worker on the CPU that received it"
				 : "workers picked by flow hash",
			 st->why);
}

static bool app_needs_program(const struct config *cfg)
{
	return cfg->filter.mode != FILTER_MODE_OFF || offload_wanted(cfg) ||
	       (config_shed_wanted(cfg) && privs_can_load_bpf());
}

/* The program now runs cfg's filter section: kept, with the one it ran before. */
static void app_filter_ran(struct app *a, const struct config *cfg)
{
	struct filter_conf *keep = a->filter_ran_before;

	if (!keep)
		keep = malloc(sizeof(*keep));
	if (!keep) {
		log_warn("filter: out of memory: status may show the filter section of the config "
			 "in force rather than the one the program runs");
		return;
	}
	*keep = cfg->filter;
	a->filter_ran_before = a->filter_ran;
	a->filter_ran = keep;
}

/* A reload that failed while applying (the checks that refuse one ran before the program
 * followed it): the program (had, before it: NULL when it made the program) goes back to the
 * rule set active at serial, and so does what status shows. Returns whether it runs that set
 * again; false: the rules must be written again. */
static bool app_filter_revert(struct app *a, struct filter *had, uint32_t serial)
{
	uint32_t now;

	if (!had)
		return false;
	now = filter_rules_serial(had);
	if (filter_rules_revert(had, serial))
		return false;
	if (now != serial) {
		struct filter_conf *fc = a->filter_ran;

		a->filter_ran = a->filter_ran_before;
		a->filter_ran_before = fc;
	}
	return true;
}

const struct filter_conf *app_filter_conf(const struct app *a)
{
	/* No program: none filters, whatever the config says (its load failed at a reload). */
	static const struct filter_conf off = { .mode = FILTER_MODE_OFF };

	if (!a->filter)
		return &off;
	return a->filter_ran ? a->filter_ran : &a->rt.cfg->filter;
}

int app_filter_stats(struct app *a, struct filter_stats *st)
{
	int ret = filter_read_stats(a->filter, st);

	if (!ret)
		bpfbase_filter_add(&a->bpf_base, st->counters);
	return ret;
}

/* offload_sends_fn: the config in force sends to its pools' members, whose names the upkeep
 * thread may have resolved again since it was loaded; another config (a reload's) to its own. */
static uint32_t app_sends(void *arg, const struct config *cfg, uint32_t i, struct addr *to)
{
	const struct app *a = arg;

	return cfg == a->rt.cfg ? upstream_addrs(&a->rt, i, to, CONFIG_MAX_UPSTREAMS) : 0;
}

/* offload_apply for cfg into out; where the fast path's devices or their hooks changed with
 * it (a reload that adds one, an attach that fell back to tc, a relay's fast path off or on
 * again after a link or an upstream changed), a new route epoch that covers every address:
 * the open of a session parked for a device without the program may now succeed (it is
 * tried at an epoch that covers it, else only every 15 minutes: offload_open_park), and a
 * fast session whose device lost the program is derived again. Nothing else marks such a
 * change: no route moves. */
static void app_offload_apply(struct app *a, const struct config *cfg,
			      struct offload_relay_state *out)
{
	struct filter_offload_iface before[RR_IFACES_MAX], after[RR_IFACES_MAX];
	uint32_t hooks = filter_offload_hook_changes(a->filter);
	int n0, n1;

	n0 = filter_offload_ifaces(a->filter, before, RR_IFACES_MAX);
	offload_apply(a->filter, cfg, a->uid, app_sends, a, out);
	n1 = filter_offload_ifaces(a->filter, after, RR_IFACES_MAX);
	/* (also a hook that went and came back: a session may have been refused meanwhile,
	 * review-parkscope 1) */
	if (offload_ifaces_changed(before, n0, after, n1, hooks,
				   filter_offload_hook_changes(a->filter)))
		worker_routes_moved(&a->rt.sync);
}

/* app_filter_sync; rules false keeps the running program's rule set (a reload that failed
 * while applying put back the set it ran before). */
static int app_filter_follow(struct app *a, const struct config *cfg, const struct plan *plan,
			     bool rules, char *err, size_t errlen)
{
	char serr[CONFIG_ERR_LEN]; /* shedding's error, apart from the filter's in err */
	int ret = 0, sret;
	uint32_t i;

	memset(a->rt.offload, 0, sizeof(a->rt.offload));
	for (i = 0; i < cfg->n_relays; i++) {
		memset(&a->offload[i], 0, sizeof(a->offload[i]));
		snprintf(a->offload[i].why, sizeof(a->offload[i].why), "offload = \"%s\"",
			 config_offload_name(cfg->relays[i].offload));
	}
	/* No program (none wanted, or shedding alone without the capabilities): the workers get
	 * no fast path, and each relay's shedding state says why it is off (it may have been on
	 * under the config before, which app_filter_release then unloads). */
	if (!app_needs_program(cfg)) {
		a->rt.fast = NULL;
		a->rt.judge = NULL;
		/* a reload of a daemon that started without the program kept no capability to
		 * load it, whatever the service grants */
		return shed_apply(NULL, cfg, a->rt.cfg && !a->filter ? APP_SHED_RESTART
								     : APP_SHED_NO_CAPS,
				  a->shed, err, errlen);
	}
	/* The admin thread keeps the capabilities to load a program only when one was loaded
	 * at start (rt.cfg is set once started): a reload cannot load the first. */
	if (!a->filter && a->rt.cfg && !privs_can_load_bpf()) {
		snprintf(err, errlen,
			 "filter: a reload cannot load the BPF program: ringrelay started without "
			 "one and kept no capability to load it; restart to apply");
		ret = -EPERM;
	} else if (!a->filter || rules) {
		/* The fast path's maps are sized once, for every session slot of every worker. */
		ret = a->filter ? filter_update(a->filter, cfg, err, errlen)
				: filter_new_sized(cfg, plan->n_workers * plan->session_slots,
						   &a->filter, err, errlen);
		if (!ret)
			app_filter_ran(a, cfg);
	}
	/* No program (its load failed): the relays stay on the socket path, without shedding,
	 * and say why. Only a filter makes that an error (a relay with shed = "on" stops the
	 * start); the fast path and shedding alone go without. */
	if (ret && !a->filter) {
		for (i = 0; i < cfg->n_relays; i++) {
			if (cfg->relays[i].offload == OFFLOAD_OFF)
				continue;
			snprintf(a->offload[i].why, sizeof(a->offload[i].why), "%s", err);
			log_notice("relay %s: offload off: %s", cfg->relays[i].name, err);
		}
		a->rt.fast = NULL;
		a->rt.judge = NULL;
		sret = shed_apply(NULL, cfg, err, a->shed, serr, sizeof(serr));
		if (cfg->filter.mode != FILTER_MODE_OFF)
			return ret;
		if (sret)
			snprintf(err, errlen, "%s", serr);
		return sret;
	}
	/* A program that cannot take cfg's filter (ret: a changed mode needs a restart, a map
	 * write failed) keeps the rules it runs; the fast path and shedding still follow cfg on
	 * that program, and the error in err is reported after them. */
	app_offload_apply(a, cfg, a->offload);
	for (i = 0; i < cfg->n_relays; i++)
		a->rt.offload[i] = a->offload[i].got != OFFLOAD_OFF;
	a->rt.fast = offload_wanted(cfg) ? a->filter : NULL;
	/* The filter's rules judge the sessions after a change also without a fast path: the
	 * replies must not keep a denied client's socket-path session. */
	a->rt.judge = a->filter;
	/* After the fast path, so shedding joins the hooks it took. */
	sret = shed_apply(a->filter, cfg, "", a->shed, serr, sizeof(serr));
	if (!sret)
		return ret;
	if (!ret) {
		snprintf(err, errlen, "%s", serr);
		return sret;
	}
	snprintf(err + strnlen(err, errlen), errlen - strnlen(err, errlen), "; %s", serr);
	return ret;
}

int app_filter_sync(struct app *a, const struct config *cfg, const struct plan *plan, char *err,
		    size_t errlen)
{
	return app_filter_follow(a, cfg, plan, true, err, errlen);
}

/* Settings the loaded program keeps until a restart: a reload that changes one is refused
 * before anything is applied. */
static int app_filter_fixed(const struct app *a, const struct config *cfg, char *err,
			    size_t errlen)
{
	enum tc_hook h;
	uint32_t prio;

	if (!a->filter)
		return 0;
	h = filter_tc_hook(a->filter);
	prio = filter_tc_priority(a->filter);
	if (cfg->filter.tc_hook != h)
		snprintf(err, errlen,
			 "filter.tc_hook changed from \"%s\" to \"%s\"; restart to apply",
			 config_tc_hook_name(h), config_tc_hook_name(cfg->filter.tc_hook));
	else if (cfg->filter.tc_priority != prio)
		snprintf(err, errlen,
			 "filter.tc_priority changed from %" PRIu32 " to %" PRIu32
			 "; restart to apply",
			 prio, cfg->filter.tc_priority);
	else
		return 0;
	return -EOPNOTSUPP;
}

/* Adds what the program counted to a->bpf_base, before it is unloaded. A counter that cannot
 * be read keeps its base: it may go back to it, never below. */
static void app_bpf_base_keep(struct app *a)
{
	uint64_t fc[FILTER_CNT__MAX], oc[OFFLOAD_CNT__MAX], sc[SHED_CNT__MAX];
	uint32_t i;

	if (!filter_read_counters(a->filter, fc))
		for (i = 0; i < FILTER_CNT__MAX; i++)
			a->bpf_base.filter[i] += fc[i];
	if (!filter_offload_counters(a->filter, oc))
		for (i = 0; i < OFFLOAD_CNT__MAX; i++)
			a->bpf_base.offload[i] += oc[i];
	if (!filter_shed_counters(a->filter, sc))
		for (i = 0; i < SHED_CNT__MAX; i++)
			a->bpf_base.shed[i] += sc[i];
	filter_xmit_counts(a->filter, a->bpf_base.xmit, BPFBASE_XMIT_ROWS);
}

static void app_filter_unload(struct app *a)
{
	struct app_shed_base *base;
	uint64_t full, heavy;
	uint32_t r;

	if (a->filter)
		app_bpf_base_keep(a);
	/* What it shed stays in the relays' totals (kept for the relays of rt.cfg: an applied
	 * reload has pruned the others). */
	for (r = 0; a->filter && r < a->rt.cfg->n_relays; r++) {
		full = heavy = 0;
		if (filter_shed_dropped(a->filter, a->rt.cfg->relays[r].name, &full, &heavy) ||
		    !(full | heavy))
			continue;
		base = app_shed_base(a, a->rt.cfg->relays[r].name, true);
		if (base) {
			base->full += full;
			base->heavy += heavy;
		}
	}
	filter_free(a->filter);
	a->filter = NULL;
	a->rt.fast = NULL;
	a->rt.judge = NULL;
	app_filter_forget(a);
}

void app_filter_release(struct app *a, const struct config *cfg)
{
	if (app_needs_program(cfg) || !a->filter)
		return;
	/* A worker that did not take a reload keeps the config before it, and with it the
	 * fast path's program, which it uses again when it comes back: unloaded at a reload
	 * that reaches every worker. */
	if (runtime_workers_behind(&a->rt)) {
		/* It stops forwarding and shedding now, as status says (cfg wants neither). */
		app_offload_apply(a, cfg, a->offload);
		shed_stop(a->filter);
		log_notice("filter: the BPF program stays loaded until every worker has taken the "
			   "configuration (the next reload after the stuck one comes back), "
			   "forwarding and shedding nothing");
		return;
	}
	app_filter_unload(a);
}

void app_filter_forget(struct app *a)
{
	free(a->filter_ran);
	free(a->filter_ran_before);
	a->filter_ran = a->filter_ran_before = NULL;
}

int app_napi_sync(struct app *a, const struct config *cfg, bool log_now)
{
	int ret = napitune_apply(cfg, a->rt.plan.cpu, a->rt.plan.n_workers, &a->napi,
				 &a->napi_saved);

	if (log_now)
		app_napi_log(a);
	return ret;
}

void app_napi_log(struct app *a)
{
	char busy[128];

	napitune_busy_text(&a->rt.cfg->napi, a->rt.backend,
			   a->rt.n_started ? a->rt.workers[0].busy_poll : 0, busy, sizeof(busy));
	napitune_log(&a->napi, busy);
}

/* Whether the napi block was applied to ifname last time. */
static bool app_napi_iface(const struct app *a, const char *ifname)
{
	uint32_t i;

	for (i = 0; i < a->napi.n; i++)
		if (!strcmp(a->napi.ifaces[i].name, ifname))
			return true;
	return false;
}

/* The fast path after what (a link event, names resolved again) changed the interfaces its
 * relays' listen addresses and upstreams use: it follows those of now. A relay whose fast
 * path comes on (its upstream had no route, or used loopback) has the workers install entries
 * for its new sessions from now, and one whose fast path goes off installs none (its sessions
 * keep theirs: after a link flap they are used again): returns true when one did, and the
 * workers must apply again. */
static bool app_fast_path_follow(struct app *a, const char *what)
{
	const struct config *cfg = a->rt.cfg;
	struct offload_relay_state st[CONFIG_MAX_RELAYS];
	bool changed = false;
	uint32_t i;

	if (!a->filter || !offload_wanted(cfg))
		return false;
	app_offload_apply(a, cfg, st);
	for (i = 0; i < cfg->n_relays; i++) {
		bool was = a->offload[i].got != OFFLOAD_OFF, now = st[i].got != OFFLOAD_OFF;

		if (was && !now)
			log_notice("relay %s: fast path off after %s: %s", cfg->relays[i].name,
				   what, st[i].why);
		else if (!was && now)
			log_notice("relay %s: fast path on after %s", cfg->relays[i].name, what);
		if (now != a->rt.offload[i]) {
			a->rt.offload[i] = now;
			changed = true;
		}
		a->offload[i] = st[i];
	}
	return changed;
}

static int app_int_cmp(const void *x, const void *y)
{
	return *(const int *)x - *(const int *)y;
}

#define APP_XDP_MAX (2 * RR_IFACES_MAX)

/* The interfaces the program runs on in XDP (the fast path's hook or shedding's) into
 * out[APP_XDP_MAX], sorted, each once: their number. */
static uint32_t app_xdp_ifaces(const struct app *a, int *out)
{
	struct filter_offload_iface fo[RR_IFACES_MAX];
	struct filter_shed_iface fs[RR_IFACES_MAX];
	int i, n_fo, n_fs;
	uint32_t n = 0, k, j;

	n_fo = filter_offload_ifaces(a->filter, fo, RR_IFACES_MAX);
	n_fs = filter_shed_ifaces(a->filter, fs, RR_IFACES_MAX);
	for (i = 0; i < n_fo; i++)
		if (fo[i].xdp)
			out[n++] = fo[i].ifindex;
	for (i = 0; i < n_fs; i++)
		if (fs[i].xdp)
			out[n++] = fs[i].ifindex;
	qsort(out, n, sizeof(*out), app_int_cmp);
	for (k = j = 0; k < n; k++)
		if (!j || out[j - 1] != out[k])
			out[j++] = out[k];
	return j;
}


/* The program's relay ports were the union of those before and after a reload while the
 * workers moved (filter_update); once every worker runs the config in force, they are its
 * own. A worker behind keeps its listeners: the union stays until one reaches it. */
static void app_relay_ports_settle(struct app *a)
{
	int ret;

	if (!a->filter || runtime_workers_behind(&a->rt))
		return;
	ret = filter_relay_ports_settle(a->filter, a->rt.cfg);
	if (ret)
		log_err("the filter's relay ports: %s; the ports of the relays before the last "
			"reload stay in the filter's scope until the next one",
			strerror(-ret));
}

/* The fast path, then shedding (which joins the fast path's hooks), after what changed the
 * interfaces the relays use. Returns whether the program's XDP hooks changed, or an XDP
 * attach or detach happened on the way (a refused attach that moved relays to tc, the
 * detaches before and after it, leave the set as it was): each re-makes the interface's
 * NAPI instances, which lose their per-NAPI values. */
static bool app_hooks_follow(struct app *a, const char *what)
{
	const struct config *cfg = a->rt.cfg;
	int before[APP_XDP_MAX], after[APP_XDP_MAX];
	uint64_t changes = filter_xdp_changes(a->filter);
	char err[CONFIG_ERR_LEN];
	uint32_t n0, n1;

	n0 = app_xdp_ifaces(a, before);
	/* A worker that did not take it (stuck: the watchdog says so) installs no entries for
	 * the relay until the next reload reaches it; the others do. One that was behind and
	 * takes it runs the config in force: the relay ports settle then too. */
	if (app_fast_path_follow(a, what) && runtime_reapply(&a->rt, err, sizeof(err)))
		log_err("the fast path after %s: %s", what, err);
	app_relay_ports_settle(a);
	/* Shedding follows the interfaces that hold the listen addresses now. */
	if (config_shed_wanted(cfg))
		shed_apply(a->filter, cfg, "", a->shed, err, sizeof(err));
	n1 = app_xdp_ifaces(a, after);
	return n0 != n1 || memcmp(before, after, n0 * sizeof(*before)) ||
	       filter_xdp_changes(a->filter) != changes;
}

void app_upstream_addrs_changed(struct app *a)
{
	if (!a->filter)
		return;
	if (app_hooks_follow(a, "upstream names resolved to new addresses") && a->napi_tuned) {
		log_notice("napi: applying the napi settings again: the program's XDP hooks moved");
		app_napi_sync(a, a->rt.cfg, true);
	}
}

/* The program on a link that changed: a link gone (or gone and back) takes with it what ran
 * there; the filter's own interfaces (those it was loaded for: a reload that changes them
 * needs a restart) are attached again when they come back, with a new ifindex or the same.
 * Returns true when it attached (an XDP attach re-makes NAPI instances). Other changes to a
 * filtered link (up, addresses) keep its ifindex and filter; a new link-layer address goes
 * to the program, which compares it with what arrives in XDP. */
static bool app_link_relink(struct app *a, const struct netlink_link_change *l)
{
	char err[CONFIG_ERR_LEN];
	int ret, mac;

	if (!a->filter)
		return false;
	if (!l->present || l->renewed)
		filter_link_gone(a->filter, l->ifindex);
	if (!l->present)
		return false;
	ret = filter_relink(a->filter, l->name, l->ifindex, err, sizeof(err));
	if (ret < 0)
		log_err("%s", err);
	mac = filter_link_mac(a->filter, l->ifindex);
	if (mac < 0 && mac != -ENXIO && mac != -ENODEV)
		log_err("filter: reading the link-layer address of %s: %s; the fast path in XDP "
			"compares frames with the one it had until the link changes again",
			l->name, strerror(-mac));
	return ret > 0;
}

void app_link_events(struct app *a, const struct netlink_link_change *links, uint32_t n)
{
	char what[IF_NAMESIZE + 32];
	bool moved = false, napi = false;
	uint32_t i;
	int ret;

	if (!n)
		return;
	/* A link that came back, or up (veth), has new NAPI instances, which start with zeros;
	 * a link down has none to set. */
	for (i = 0; i < n; i++) {
		bool again = app_link_relink(a, &links[i]);

		napi |= links[i].up && (again || app_napi_iface(a, links[i].name));
	}
	/* Then the fast path and shedding, once for all of them. */
	if (n == 1)
		snprintf(what, sizeof(what), "link %s changed", links[0].name);
	else
		snprintf(what, sizeof(what), "%u links changed", n);
	if (a->filter)
		moved = app_hooks_follow(a, what);
	/* (a port enslaved, a VLAN's link made again: whether the filter runs below moved) */
	if (a->filter && (ret = filter_below_sync(a->filter)) < 0)
		log_err("filter: which interfaces have the filter below them: %s; their fast "
			"sessions are judged as before the change", strerror(-ret));
	/* The fast path's devices may have changed with them (a device made again gets the
	 * program now, some 100 ms after its routes): its sessions are derived again, and
	 * those that left for their routes try it again. */
	worker_routes_moved(&a->rt.sync);
	/* Attaching XDP re-makes the NAPI instances, which lose their per-NAPI values. */
	if (a->napi_tuned && (moved || napi)) {
		log_notice("%s: applying the napi settings again", what);
		app_napi_sync(a, a->rt.cfg, true);
	}
}

bool app_is_stopping(void *arg)
{
	struct app *a = arg;

	return worker_sync_is_stopping(&a->rt.sync);
}

/* A reload's name lookups: given up on once the process stops. */
static int app_lookup(void *arg, const char *host, uint16_t port, int family, struct addr *out,
		      uint32_t max, char *why, size_t whylen)
{
	return lookup_host(host, port, family, out, max, app_is_stopping, arg, why, whylen);
}

uint32_t app_previous(void *arg, const char *relay, const char *text, const char *why,
		      struct addr *out, uint32_t max)
{
	struct app *a = arg;
	uint32_t n;

	pthread_mutex_lock(&a->lock);
	n = runtime_previous(&a->rt, relay, text, why, out, max);
	pthread_mutex_unlock(&a->lock);
	return n;
}

int app_reload_read(const char *path, const struct config_names *names, uint64_t running,
		    struct config **out, struct portclaim *claim, char *err, size_t errlen)
{
	struct config *cfg;
	int ret;

	*out = NULL;
	/* Loading reads a file, the user and group are looked up and names become addresses,
	 * before the lock: a name service that takes seconds holds neither the health checks
	 * nor status, and a stop does not wait for a resolver. */
	ret = config_load_file(path, &cfg, err, errlen);
	if (ret)
		return ret;
	ret = config_check_accounts(cfg, err, errlen);
	if (!ret)
		ret = config_resolve_with(cfg, names, err, errlen);
	/* Also before the lock: a start setting up on one of the ports may hold its claim for
	 * seconds. (Every listen port, not just the new ones, which only the lock tells: a
	 * start on a port we listen on refuses at once and lets go.) */
	if (!ret)
		ret = runtime_reload_nofile(cfg, running, err, errlen);
	if (!ret)
		ret = runtime_claim_ports(cfg, claim, err, errlen);
	if (ret) {
		/* (at once: a reload given up as the process stops ends here, -ECANCELED) */
		portclaim_release(claim);
		config_free(cfg);
		return ret;
	}
	runtime_wait_orphans(cfg);
	*out = cfg;
	return 0;
}

int app_reload(struct app *a, char *err, size_t errlen)
{
	struct config_names names = { .lookup = app_lookup, .previous = app_previous, .arg = a };
	struct portclaim *claim = malloc(sizeof(*claim));
	struct config *cfg = NULL;
	int ret = -ENOMEM;

	service_reloading();
	if (!claim) {
		snprintf(err, errlen, "out of memory");
	} else {
		portclaim_init(claim, a->uid);
		ret = app_reload_read(a->config_path, &names, plan_nofile_relays(&a->rt.plan),
				      &cfg, claim, err, errlen);
	}
	ret = app_reload_apply(a, cfg, ret, err, errlen);
	/* the workers have bound the new listeners (or the reload failed) */
	if (claim)
		portclaim_release(claim);
	free(claim);
	return ret;
}

/* Appends the warnings of notes to msg (errlen bytes) as "; warning: ..." each: an error
 * answer is one line. Whole warnings only, then "; warning: ... (more in the log)" for those
 * that do not fit. */
static void append_notes(char *msg, size_t errlen, const struct runtime_notes *notes)
{
	static const char more[] = "; warning: ... (more in the log)";
	size_t len = strlen(msg), n;
	const char *line = notes->text, *end;

	for (; *line; line = end ? end + 1 : line + n) {
		end = strchr(line, '\n');
		n = end ? (size_t)(end - line) : strlen(line);
		if (n == 0)
			continue;
		/* (room for "; ", this warning, and "more") */
		if (len + 2 + n + sizeof(more) > errlen) {
			if (len + sizeof(more) <= errlen)
				memcpy(msg + len, more, sizeof(more));
			return;
		}
		len += (size_t)snprintf(msg + len, errlen - len, "; %.*s", (int)n, line);
	}
}

int app_reload_apply(struct app *a, struct config *cfg, int ret, char *err, size_t errlen)
{
	bool applied = false, synced = false; /* synced: the filter stage ran */
	struct runtime_notes notes = { .len = 0 };
	uint32_t serial, slot[CONFIG_MAX_RELAYS];
	struct plan plan;

	pthread_mutex_lock(&a->lock);
	serial = a->filter ? filter_rules_serial(a->filter) : 0;
	if (!ret) {
		ret = app_filter_fixed(a, cfg, err, errlen);
		if (!ret)
			ret = runtime_check_notes(&a->rt, cfg, &plan, &notes, err, errlen);
		/* What refuses a config (a port in use, a relay without a free slot) before
		 * anything follows it: the filter's rules, the fast path's hooks and shedding of
		 * a refused config never run, even for a moment (an XDP attach or detach resets
		 * some drivers' rings). */
		if (!ret)
			ret = runtime_reload_check(&a->rt, cfg, slot, err, errlen);
		/* The program first (new rules, new interfaces), so the workers can remove
		 * entries of clients the new rules deny; the running plan sizes its maps. A
		 * filter that cannot follow (a changed mode needs a restart) does not stop the
		 * relays' changes: it is reported after them, as before the fast path. */
		if (!ret) {
			char ferr[CONFIG_ERR_LEN];
			struct filter *had = a->filter;
			int fret;

			/* A reload tries every refused fast path attach again: the operator's
			 * fix (ethtool -K eth1 lro off) may show in nothing a link event sees
			 * (docs/offload.md). */
			filter_offload_forget(a->filter);
			fret = app_filter_sync(a, cfg, &a->rt.plan, ferr, sizeof(ferr));
			struct steer st;

			/* the program may have been attached and detached: NAPI instances anew */
			synced = true;
			/* the workers take the new steering with the config, or keep theirs */
			app_steer(a, cfg, &st);
			a->rt.steer_cpu = st.cpu;
			ret = runtime_reload(&a->rt, cfg, &plan, slot, &applied, err, errlen);
			if (applied) {
				app_steer_set(a, a->rt.cfg, &st);
			} else {
				bool back;

				a->rt.steer_cpu = a->steer.cpu;
				/* Out of memory before the workers were told (the checks that
				 * refuse a config ran before the program followed it): the program
				 * goes back to the rule set it ran before, and to the running
				 * config's fast path and shedding. Not to that config's rules: after a
				 * reload the filter could not follow (its mode changed), they are
				 * not what ran, and the program would refuse them for the mode. */
				back = app_filter_revert(a, had, serial);
				if (app_filter_follow(a, a->rt.cfg, &a->rt.plan, !back, ferr,
						      sizeof(ferr)))
					log_err("reload: restoring the filter of the running "
						"configuration: %s", ferr);
				/* A program this reload made no worker has seen: it goes even
				 * while a stuck worker keeps an older config. */
				if (!had && a->filter && !app_needs_program(a->rt.cfg))
					app_filter_unload(a);
				else
					app_filter_release(a, a->rt.cfg);
			}
			if (!ret && fret) {
				ret = fret;
				snprintf(err, errlen, "%s", ferr);
			}
		} else {
			config_free(cfg);
		}
	}
	if (applied) {
		app_shed_base_prune(a);
		app_filter_release(a, a->rt.cfg);
	}
	/* The program's relay ports were the union of those before and after the reload while
	 * the workers moved (filter_update); once every worker runs the config in force, they
	 * are its own. A worker behind keeps its listeners: the union stays until a reload
	 * reaches it. (Also after a reload the program's rules could not follow: the ports
	 * say where the relays listen, not which rules run.) */
	if (synced)
		app_relay_ports_settle(a);
	/* After the program's changes (an XDP attach or detach re-makes the NAPI instances),
	 * also those a reload that failed while applying made and undid. A failure is logged
	 * and keeps the reload good: the relays run either way. */
	if (synced && a->napi_tuned)
		app_napi_sync(a, a->rt.cfg, applied);
	if (ret) {
		/* Say exactly what is in force now, to the log, the caller and status (whose
		 * last_result says partial or failure beside the error). */
		snprintf(a->last_reload_error, sizeof(a->last_reload_error), "%s", err);
		a->last_reload_partial = applied;
		if (applied) {
			snprintf(err, errlen, "reload applied to the relays, but: %s",
				 a->last_reload_error);
			log_err("%s", err);
			/* (logged as they came: for the caller's answer, as a full success's) */
			append_notes(err, errlen, &notes);
			a->reloads_partial++;
		} else {
			log_err("reload failed, the previous configuration stays in force: %s", err);
			a->reloads_failed++;
		}
	} else {
		a->reloads_ok++;
		a->last_reload_success = app_now();
		a->last_reload_error[0] = '\0';
		log_info("reload: %s applied: %u relay(s)", a->config_path, a->rt.cfg->n_relays);
		/* the caller's answer says what applies only after a restart, and the like */
		snprintf(err, errlen, "%s", notes.text);
	}
	pthread_mutex_unlock(&a->lock);
	service_ready(ret ? (applied ? "reload applied with errors" :
				       "reload failed; previous configuration in force")
			  : "reloaded");
	return ret;
}
