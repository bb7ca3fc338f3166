// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "filter.h"
#include "log.h"
#include "lookup.h"
#include "netlink.h"
#include "portclaim.h"
#include "privs.h"
#include "service.h"

struct admin {
	struct app *a;
	pthread_t thread;
	int stop_fd;		  /* eventfd: stop */
	int ask_fd;		  /* eventfd: a reload is asked for */
	int done_fd;		  /* eventfd: a reload finished (for admin_reload_done) */
	int follow_fd;		  /* eventfd: upstream names resolved to new addresses */
	struct netlink_watch *nw; /* NULL: no filter or napi settings to apply again */
	struct netlink_routes *nr; /* route changes (worker_routes_moved); NULL: unavailable */
	/* Reloads are numbered: asked counts requests, begun is the last one a reload had seen
	 * when it began (so it covers every request up to it), done the last one covered by a
	 * finished reload, whose result is result/err. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* running went false (admin_quiesce) */
	bool closing; /* admin_quiesce: no more reloads, link events or fast-path moves */
	bool running; /* a reload, a link event or a fast-path move is being handled */
	bool keep_filter; /* admin_stop's: detach a->filter, do not free it */
	uint64_t asked, done;
	int result;
	char err[CONFIG_ERR_LEN];
	/* A reload's load out (set and cleared by the admin thread, under lock): NULL when
	 * none. */
	struct admin_load *load;
	/* napi.flood_nice: whether early shedding drops now, and when to read it next (the
	 * admin thread's alone). */
	struct napitune_flood flood;
	uint64_t flood_due_ms;
	/* This thread holds CAP_SYS_NICE (read once: its capabilities are set at start). */
	bool can_nice;
	/* Lines of its moves: ADMIN_FLOOD_LINES per ADMIN_FLOOD_WINDOW_MS from flood_window_ms;
	 * moves past them are counted and said in the next line. */
	uint32_t flood_lines, flood_unlogged;
	uint64_t flood_window_ms;
};

#define ADMIN_FLOOD_LINES 6
#define ADMIN_FLOOD_WINDOW_MS 60000

/* A reload's first half (app_reload_read) on a thread of its own, so that link events and
 * fast-path moves go on while it reads the file and looks names up. Held by the admin thread
 * and the load thread (refs). A stop gives it up instead of waiting for it (a FIFO for a
 * file, a name service that hangs would hold the stop past any timeout): from then on the
 * load touches nothing of the app, and ends when it can, or with the process. */
struct admin_load {
	pthread_mutex_t lock; /* refs, a and what the load wrote */
	int refs;
	struct app *a;	 /* NULL once given up */
	int fd;		 /* eventfd: written once cfg, ret and err are the load's */
	int cancel_fd;	 /* eventfd: written once given up (ends the claims' wait) */
	uint64_t begun;	 /* asked when it began: the requests it covers */
	char *path;	 /* the config file's (a copy: the app's may be gone) */
	uint64_t nofile; /* the running relays' descriptors (plan_nofile_relays) */
	struct config *cfg;
	int ret;
	char err[CONFIG_ERR_LEN];
	/* The load's listen ports, claimed until the apply has bound them (or given up). */
	struct portclaim claim;
};

static void admin_wake(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		log_warn("admin: cannot wake the admin thread: %s", strerror(errno));
}

/* Marks the start of a reload or link event; false once admin_quiesce has run. */
static bool admin_begin(struct admin *ad)
{
	bool ok;

	pthread_mutex_lock(&ad->lock);
	ok = !ad->closing;
	ad->running = ok;
	pthread_mutex_unlock(&ad->lock);
	return ok;
}

static void admin_end(struct admin *ad)
{
	pthread_mutex_lock(&ad->lock);
	ad->running = false;
	pthread_cond_broadcast(&ad->cond);
	pthread_mutex_unlock(&ad->lock);
}

/* The reload covering every request up to begun ended with ret (err): its waiters learn it. */
static void admin_reloaded(struct admin *ad, uint64_t begun, int ret, const char *err)
{
	pthread_mutex_lock(&ad->lock);
	if (begun != ad->done) {
		ad->done = begun;
		ad->result = ret;
		snprintf(ad->err, sizeof(ad->err), "%s", err);
	}
	pthread_mutex_unlock(&ad->lock);
	admin_wake(ad->done_fd);
}

static void load_put(struct admin_load *l)
{
	bool last;

	pthread_mutex_lock(&l->lock);
	last = --l->refs == 0;
	pthread_mutex_unlock(&l->lock);
	if (!last)
		return;
	config_free(l->cfg);
	portclaim_release(&l->claim);
	if (l->fd >= 0)
		close(l->fd);
	if (l->cancel_fd >= 0)
		close(l->cancel_fd);
	free(l->path);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* The process stops: the load may no longer touch the app (waits for a look at the running
 * configuration's addresses in progress), and a wait for a claim it is in ends (its lookups
 * end by load_cancelled): the load then lets its claims go and ends on its own, instead of
 * waiting on (up to 30 s) while the process tears down and exits under it. */
static void load_give_up(struct admin_load *l)
{
	pthread_mutex_lock(&l->lock);
	l->a = NULL;
	pthread_mutex_unlock(&l->lock);
	admin_wake(l->cancel_fd);
}

static bool load_cancelled(void *arg)
{
	struct admin_load *l = arg;
	bool stop;

	pthread_mutex_lock(&l->lock);
	stop = !l->a || app_is_stopping(l->a);
	pthread_mutex_unlock(&l->lock);
	return stop;
}

static int load_lookup(void *arg, const char *host, uint16_t port, int family, struct addr *out,
		       uint32_t max, char *why, size_t whylen)
{
	return lookup_host(host, port, family, out, max, load_cancelled, arg, why, whylen);
}

static uint32_t load_previous(void *arg, const char *relay, const char *text, const char *why,
			      struct addr *out, uint32_t max)
{
	struct admin_load *l = arg;
	uint32_t n = 0;

	/* (l->lock before a->lock: nothing takes them the other way round) */
	pthread_mutex_lock(&l->lock);
	if (l->a)
		n = app_previous(l->a, relay, text, why, out, max);
	pthread_mutex_unlock(&l->lock);
	return n;
}

static void *admin_load_thread(void *arg)
{
	struct admin_load *l = arg;
	struct config_names names = { .lookup = load_lookup, .previous = load_previous,
				      .arg = l };
	struct config *cfg = NULL;
	char err[CONFIG_ERR_LEN] = "";
	int ret;

	pthread_setname_np(pthread_self(), "ringrelay-load");
	/* It reads a file and the resolver's answers: none of this thread's capabilities. */
	ret = privs_drop_thread();
	if (ret)
		snprintf(err, sizeof(err), "reload: cannot drop capabilities: %s", strerror(-ret));
	else
		ret = app_reload_read(l->path, &names, l->nofile, &cfg, &l->claim, err,
				      sizeof(err));
	pthread_mutex_lock(&l->lock);
	l->cfg = cfg;
	l->ret = ret;
	memcpy(l->err, err, sizeof(err));
	pthread_mutex_unlock(&l->lock);
	admin_wake(l->fd);
	load_put(l);
	return NULL;
}

/* Starts a load covering the requests up to begun on a detached thread: 0 (*out, held by the
 * caller and the thread) or -errno. */
static int load_start(struct admin *ad, uint64_t begun, struct admin_load **out)
{
	struct admin_load *l = calloc(1, sizeof(*l));
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	l->refs = 2;
	l->a = ad->a;
	l->begun = begun;
	/* (fixed at start: the workers' tables are the start's) */
	l->nofile = plan_nofile_relays(&ad->a->rt.plan);
	portclaim_init(&l->claim, ad->a->uid);
	l->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->claim.cancel_fd = l->cancel_fd;
	l->path = strdup(ad->a->config_path ? ad->a->config_path : "");
	ret = l->fd < 0 || l->cancel_fd < 0 ? -errno : !l->path ? -ENOMEM : 0;
	if (!ret)
		ret = -pthread_attr_init(&attr);
	if (!ret) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ret = -pthread_create(&t, &attr, admin_load_thread, l);
		pthread_attr_destroy(&attr);
	}
	if (ret) {
		l->refs = 1;
		load_put(l);
		return ret;
	}
	*out = l;
	return 0;
}

/* A reload is asked for: its load begins on a thread of its own, unless one is out (its end
 * starts the next for the requests that came meanwhile) or every request is covered. */
static void admin_run_reload(struct admin *ad)
{
	char err[CONFIG_ERR_LEN] = "";
	struct admin_load *l;
	uint64_t v, begun;
	int ret;

	if (read(ad->ask_fd, &v, sizeof(v)) < 0 || ad->load)
		return;
	if (!admin_begin(ad)) {
		log_notice("reload: asked for as the process stops: not run");
		return;
	}
	if (app_is_stopping(ad->a)) { /* its lookups would be given up at once */
		admin_end(ad);
		log_notice("reload: asked for as the process stops: not run");
		return;
	}
	pthread_mutex_lock(&ad->lock);
	begun = ad->asked;
	pthread_mutex_unlock(&ad->lock);
	if (begun == ad->done) {
		admin_end(ad);
		admin_wake(ad->done_fd);
		return;
	}
	service_reloading();
	ret = load_start(ad, begun, &l);
	if (!ret) {
		/* (set before admin_end: a stop that comes meanwhile finds it to give up) */
		pthread_mutex_lock(&ad->lock);
		ad->load = l;
		pthread_mutex_unlock(&ad->lock);
		admin_end(ad);
		return;
	}
	/* Not here instead: this thread's capabilities are not for reading files and the
	 * resolver's answers. Failed as any reload that loads nothing: counted, logged, in
	 * status and the service's status line. */
	snprintf(err, sizeof(err), "no thread to read the configuration: %s", strerror(-ret));
	ret = app_reload_apply(ad->a, NULL, ret, err, sizeof(err));
	admin_reloaded(ad, begun, ret, err);
	admin_end(ad);
}

/* The load is done: the second half, under the app lock, unless the process stops; then the
 * next reload, if requests came meanwhile. */
static void admin_load_done(struct admin *ad)
{
	struct admin_load *l = ad->load;
	struct config *cfg;
	bool apply, closing;
	uint64_t v;
	int ret;

	if (!l || read(l->fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&l->lock);
	cfg = l->cfg;
	l->cfg = NULL;
	pthread_mutex_unlock(&l->lock);
	/* Once the process stops, its lookups are given up (load_cancelled): a load that ends
	 * then is given up too, whether admin_quiesce has come or not. */
	pthread_mutex_lock(&ad->lock);
	ad->load = NULL;
	closing = ad->closing;
	apply = !closing && !app_is_stopping(ad->a);
	ad->running = apply;
	pthread_mutex_unlock(&ad->lock);
	if (apply) {
		ret = app_reload_apply(ad->a, cfg, l->ret, l->err, sizeof(l->err));
		admin_reloaded(ad, l->begun, ret, l->err);
	} else {
		config_free(cfg);
		if (!closing) /* (else admin_quiesce said so) */
			log_notice("reload: given up as the process stops");
	}
	/* (the load wrote it before it woke us, and no longer touches it) */
	portclaim_release(&l->claim);
	load_put(l);
	admin_end(ad);
	pthread_mutex_lock(&ad->lock);
	if (ad->asked != ad->done && !ad->closing && apply)
		admin_wake(ad->ask_fd);
	else if (ad->asked != ad->done && apply)
		log_notice("reload: asked for as the process stops: not run");
	pthread_mutex_unlock(&ad->lock);
}

/* Reads the kernel's link messages (noting the links they change), and acts on the noted
 * links once they are due. */
static void admin_link_events(struct admin *ad, bool readable)
{
	if ((!readable && netlink_watch_due_ms(ad->nw) != 0) || !admin_begin(ad))
		return;
	/* (reading may report at once: more links changed than the watch notes) */
	pthread_mutex_lock(&ad->a->lock);
	if (readable)
		netlink_watch_process(ad->nw);
	if (netlink_watch_due_ms(ad->nw) == 0)
		netlink_watch_flush(ad->nw);
	pthread_mutex_unlock(&ad->a->lock);
	admin_end(ad);
}

static void admin_follow(struct admin *ad)
{
	uint64_t v;

	if (read(ad->follow_fd, &v, sizeof(v)) < 0 || !admin_begin(ad))
		return;
	pthread_mutex_lock(&ad->a->lock);
	app_upstream_addrs_changed(ad->a);
	pthread_mutex_unlock(&ad->a->lock);
	admin_end(ad);
}

/* One route change (netlink_routes_process): what it covers, recorded with the new route
 * epoch; anything else covers every address. */
static void admin_route_change(void *arg, int family, const uint8_t *dst, unsigned int dst_len)
{
	struct admin *ad = arg;
	struct worker_sync *sync = &ad->a->rt.sync;
	struct prefix p;

	/* Without the link watch, every change covers all: IPv4 sends no route message when a
	 * link goes down or up (its routes, a multipath leg), only the link event tells. */
	if (ad->nw && dst && prefix_from_route(&p, family, dst, dst_len) == 0)
		worker_routes_changed(sync, &p, family == AF_INET);
	else
		worker_routes_moved(sync);
}

/* Reads the kernel's route messages: routes, rules or nexthops that changed make the workers
 * derive the rules of the fast sessions they may move again (the route epoch: no lock). */
static void admin_route_events(struct admin *ad)
{
	/* (an error reading them may have lost one) */
	if (netlink_routes_process(ad->nr, admin_route_change, ad) < 0)
		worker_routes_moved(&ad->a->rt.sync);
}

/* Whether napi.flood_nice has NAPI threads to move: thread_nice set them, flood_nice puts
 * them further behind the workers, the program sheds (its drop count says when), and this
 * thread may move them back (CAP_SYS_NICE: raising a priority needs it). The admin thread
 * changes all of it, so reads it without the lock. */
static bool admin_flood_watched(const struct admin *ad)
{
	const struct napi_conf *n = &ad->a->rt.cfg->napi;

	return n->thread_nice && n->flood_nice > n->thread_nice && ad->a->napi_saved.n_nice &&
	       ad->a->filter && filter_shed_loaded(ad->a->filter, NULL) && ad->can_nice;
}

/* One line for a move of the NAPI threads, within ADMIN_FLOOD_LINES a window. */
static void admin_flood_say(struct admin *ad, uint64_t now, int moved, int nice)
{
	const char *what = ad->flood.flooded ? "drops datagrams" : "has stopped dropping";
	char more[64] = "";

	if (!ad->flood_window_ms || now - ad->flood_window_ms >= ADMIN_FLOOD_WINDOW_MS) {
		ad->flood_window_ms = now;
		ad->flood_lines = 0;
	}
	if (ad->flood_lines++ >= ADMIN_FLOOD_LINES) {
		ad->flood_unlogged++;
		return;
	}
	if (ad->flood_unlogged)
		snprintf(more, sizeof(more), " (%" PRIu32 " moves since the last line not logged)",
			 ad->flood_unlogged);
	if (moved < 0)
		log_warn("napi: early shedding %s: nice %d for its NAPI threads: %s%s", what, nice,
			 strerror(-moved), more);
	else
		log_info("napi: early shedding %s: %d NAPI thread%s at nice %d%s", what, moved,
			 moved == 1 ? "" : "s", nice, more);
	ad->flood_unlogged = 0;
}

/* Every NAPITUNE_FLOOD_TICK_MS while watched: the stage's drops decide the NAPI threads'
 * nice value (napitune_flood_nice; a reload or link event that set thread_nice again meanwhile
 * is followed at the next tick). Unwatched, a flood's threads go back and the state starts
 * again. */
static void admin_flood_tick(struct admin *ad)
{
	uint64_t sc[SHED_CNT__MAX], now = clock_ms();
	const struct napi_conf *n;
	bool changed;
	int moved;

	if (now < ad->flood_due_ms)
		return;
	/* (first: a closing admin refuses admin_begin, and must not be asked again at once) */
	ad->flood_due_ms = now + NAPITUNE_FLOOD_TICK_MS;
	if (!admin_begin(ad))
		return;
	pthread_mutex_lock(&ad->a->lock);
	n = &ad->a->rt.cfg->napi;
	if (!admin_flood_watched(ad)) {
		if (ad->flood.flooded && n->thread_nice && n->flood_nice > n->thread_nice)
			napitune_flood_nice(&ad->a->napi_saved, false, n->thread_nice, n->flood_nice);
		ad->flood = (struct napitune_flood){ 0 };
	} else if (!filter_shed_counters(ad->a->filter, sc)) {
		changed = napitune_flood_step(&ad->flood,
					      sc[SHED_CNT_DROP_FULL] + sc[SHED_CNT_DROP_HEAVY], now);
		moved = napitune_flood_nice(&ad->a->napi_saved, ad->flood.flooded, n->thread_nice,
					    n->flood_nice);
		if (changed && moved != 0)
			admin_flood_say(ad, now, moved,
					ad->flood.flooded ? n->flood_nice : n->thread_nice);
	}
	pthread_mutex_unlock(&ad->a->lock);
	admin_end(ad);
}

/* poll's timeout: the link watch's, or the next flood tick's if sooner. */
static int admin_timeout(struct admin *ad, int link_ms)
{
	uint64_t now;
	int ms;

	if (!admin_flood_watched(ad) && !ad->flood.flooded)
		return link_ms;
	now = clock_ms();
	ms = ad->flood_due_ms > now ? (int)(ad->flood_due_ms - now) : 0;
	return link_ms < 0 || ms < link_ms ? ms : link_ms;
}

static void *admin_thread(void *arg)
{
	struct admin *ad = arg;
	struct pollfd pfd[6];
	uint32_t poll_failed = 0;
	struct admin_load *load;
	bool keep_filter;
	uint64_t stop;
	int n;

	pfd[0] = (struct pollfd){ .fd = ad->stop_fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = ad->ask_fd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = ad->nw ? netlink_watch_fd(ad->nw) : -1, .events = POLLIN };
	pfd[3] = (struct pollfd){ .fd = ad->follow_fd, .events = POLLIN };
	pfd[5] = (struct pollfd){ .fd = ad->nr ? netlink_routes_fd(ad->nr) : -1, .events = POLLIN };
	ad->can_nice = privs_thread_effective(PRIVS_NAPI_THREAD_CAPS);
	for (;;) {
		pfd[4] = (struct pollfd){ .fd = ad->load ? ad->load->fd : -1, .events = POLLIN };
		n = poll(pfd, 6,
			 admin_timeout(ad, ad->nw && pfd[2].fd >= 0 ? netlink_watch_due_ms(ad->nw)
								    : -1));
		if (n < 0 && errno != EINTR) {
			/* Only a stop may end this thread (it frees the filter the workers use):
			 * look for one without poll, and try again. */
			if (!poll_failed++)
				log_warn("admin: poll: %s; retrying every 100 ms", strerror(errno));
			nanosleep(&(struct timespec){ 0, 100 * 1000000L }, NULL);
			if (read(ad->stop_fd, &stop, sizeof(stop)) == sizeof(stop))
				break;
		}
		if (n < 0)
			continue;
		if (n > 0 && pfd[0].revents)
			break;
		/* (POLLERR alone: the kernel dropped messages, an overrun with nothing queued.
		 * Reading clears it and says so; not reading would spin here.) */
		if (pfd[2].fd >= 0)
			admin_link_events(ad, n > 0 && (pfd[2].revents & (POLLIN | POLLERR)));
		if (n > 0 && (pfd[5].revents & (POLLIN | POLLERR)))
			admin_route_events(ad);
		if (n > 0 && (pfd[3].revents & POLLIN))
			admin_follow(ad);
		if (n > 0 && (pfd[4].revents & POLLIN))
			admin_load_done(ad);
		if (n > 0 && (pfd[1].revents & POLLIN))
			admin_run_reload(ad);
		admin_flood_tick(ad);
		/* Once quiet, events are not read, nor links noted reported: stop waking for
		 * them. (closing is main's to write, under the lock.) */
		pthread_mutex_lock(&ad->lock);
		if (ad->closing)
			pfd[2].fd = pfd[3].fd = pfd[5].fd = -1;
		pthread_mutex_unlock(&ad->lock);
	}
	/* A load still out (admin_quiesce gave it up) is left to end on its own. */
	pthread_mutex_lock(&ad->lock);
	keep_filter = ad->keep_filter;
	load = ad->load;
	ad->load = NULL;
	pthread_mutex_unlock(&ad->lock);
	if (load) {
		load_give_up(load);
		load_put(load);
	}
	/* The filter goes last, after the workers, and only this thread may still detach it
	 * (a tc filter leaves through netlink, under CAP_NET_ADMIN). The napi block is put back
	 * first: detaching XDP re-makes the NAPI instances, or on veth with GRO off takes the
	 * only one, after which the kernel refuses to switch threaded NAPI off. */
	pthread_mutex_lock(&ad->a->lock);
	napitune_restore(&ad->a->napi_saved);
	if (keep_filter) {
		filter_detach(ad->a->filter);
	} else {
		filter_free(ad->a->filter);
		ad->a->filter = NULL;
	}
	pthread_mutex_unlock(&ad->a->lock);
	return NULL;
}

static void on_links(void *arg, const struct netlink_link_change *links, uint32_t n)
{
	app_link_events(arg, links, n);
}

int admin_start(struct app *a, uint64_t keep, struct admin **out, char *err, size_t errlen)
{
	struct admin *ad = calloc(1, sizeof(*ad));
	int ret;

	if (!ad) {
		snprintf(err, errlen, "admin: out of memory");
		return -ENOMEM;
	}
	ad->a = a;
	pthread_mutex_init(&ad->lock, NULL);
	pthread_cond_init(&ad->cond, NULL);
	ad->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ad->ask_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ad->follow_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ad->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ad->stop_fd < 0 || ad->ask_fd < 0 || ad->follow_fd < 0 || ad->done_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "admin: eventfd: %s", strerror(errno));
		goto err_free;
	}
	if (keep && netlink_watch_new(&ad->nw, on_links, a))
		log_warn("link events unavailable: the filter, the fast path, shedding and the napi "
			 "settings do not follow links that come, go, go up or down or change "
			 "addresses");
	if (netlink_routes_new(&ad->nr))
		log_warn("route events unavailable: the fast path follows a route that moves only "
			 "where its datagrams arrive on another device or route elsewhere than its "
			 "rules say");
	else if (ad->nw) /* (IPv4 tells a link down or up by the link event alone) */
		worker_routes_watch(&a->rt.sync);
	/* What the other threads may no longer do, this one keeps, and nothing else. */
	ret = privs_thread_start(&ad->thread, "ringrelay-admin", keep, admin_thread, ad);
	if (ret) {
		snprintf(err, errlen, "admin thread: start with its capabilities: %s",
			 strerror(-ret));
		goto err_free;
	}
	*out = ad;
	return 0;

err_free:
	netlink_watch_free(ad->nw);
	netlink_routes_free(ad->nr);
	if (ad->stop_fd >= 0)
		close(ad->stop_fd);
	if (ad->ask_fd >= 0)
		close(ad->ask_fd);
	if (ad->done_fd >= 0)
		close(ad->done_fd);
	if (ad->follow_fd >= 0)
		close(ad->follow_fd);
	free(ad);
	return ret;
}

uint64_t admin_reload_ask(struct admin *ad)
{
	uint64_t mine;

	pthread_mutex_lock(&ad->lock);
	mine = ++ad->asked;
	pthread_mutex_unlock(&ad->lock);
	admin_wake(ad->ask_fd);
	return mine;
}

int admin_done_fd(const struct admin *ad)
{
	return ad->done_fd;
}

bool admin_reload_done(struct admin *ad, uint64_t ticket, int *ret, char *err, size_t errlen)
{
	bool done;

	pthread_mutex_lock(&ad->lock);
	done = ad->done >= ticket;
	if (done) {
		*ret = ad->result;
		snprintf(err, errlen, "%s", ad->err);
	}
	pthread_mutex_unlock(&ad->lock);
	return done;
}

void admin_quiesce(struct admin *ad)
{
	struct admin_load *l;

	if (!ad)
		return;
	pthread_mutex_lock(&ad->lock);
	ad->closing = true;
	while (ad->running)
		pthread_cond_wait(&ad->cond, &ad->lock);
	/* A reload's load still out is given up, not waited for: its config is not applied
	 * (admin_load_done), and it no longer touches the app the caller goes on to free. */
	l = ad->load;
	if (l) {
		load_give_up(l);
		log_notice("reload: given up as the process stops");
	}
	pthread_mutex_unlock(&ad->lock);
}

void admin_reload_async(struct admin *ad)
{
	pthread_mutex_lock(&ad->lock);
	ad->asked++;
	pthread_mutex_unlock(&ad->lock);
	admin_wake(ad->ask_fd);
}

void admin_follow_async(struct admin *ad)
{
	if (ad)
		admin_wake(ad->follow_fd);
}

void admin_stop(struct admin *ad, bool keep_filter)
{
	if (!ad)
		return;
	pthread_mutex_lock(&ad->lock);
	ad->keep_filter = keep_filter;
	pthread_mutex_unlock(&ad->lock);
	admin_wake(ad->stop_fd);
	pthread_join(ad->thread, NULL);
	netlink_watch_free(ad->nw);
	netlink_routes_free(ad->nr);
	close(ad->stop_fd);
	close(ad->ask_fd);
	close(ad->follow_fd);
	close(ad->done_fd);
	pthread_cond_destroy(&ad->cond);
	pthread_mutex_destroy(&ad->lock);
	free(ad);
}
