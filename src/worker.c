// SPDX-License-Identifier: MIT
/* What both backends share: thread lifecycle, applying a config (start-up and reload),
 * sessions, expiry, and the command channel from main. Nothing here is per-packet except
 * worker_session_get's lookup. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sock_diag.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "clock.h"
#include "filter.h"
#include "netlink.h"
#include "privs.h"
#include "worker_backend.h"

uint64_t worker_clock(void)
{
	struct timespec ts;

	/* COARSE: a few ms of resolution is plenty for idle timeouts and costs no syscall. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t worker_tick_ns(const struct worker *w)
{
	uint64_t tick = 1000000000ull;
	uint32_t i;

	/* The heartbeat advances once per loop; an idle loop turns on this tick. */
	if (w->heartbeat_ns && w->heartbeat_ns < tick)
		tick = w->heartbeat_ns;

	for (i = 0; w->cfg && i < w->cfg->n_relays; i++) {
		uint64_t t = (uint64_t)(w->cfg->relays[i].session_timeout * 1e9 / 4);
		uint64_t r = (uint64_t)(w->cfg->relays[i].reply_timeout * 1e9 / 4);

		if (t < tick)
			tick = t;
		if (r && r < tick)
			tick = r;
	}
	return tick < 10000000ull ? 10000000ull : tick;
}

int worker_init(struct worker *w, uint32_t id, const struct plan *plan,
		const struct uring_caps *caps, const struct worker_ops *ops,
		struct worker_sync *sync, struct pool **pools)
{
	size_t uc_size = (size_t)WORKER_MAX_RELAYS * CONFIG_MAX_UPSTREAMS * sizeof(*w->uc);
	uint32_t i;
	int err;

	memset(w, 0, sizeof(*w));
	w->pools = pools;
	/* The struct is cache-line aligned; its size is a multiple of that, as aligned_alloc
	 * wants. */
	w->uc = aligned_alloc(_Alignof(struct upstream_counters), uc_size);
	if (!w->uc)
		return -ENOMEM;
	memset(w->uc, 0, uc_size);
	w->id = id;
	w->cpu = plan->cpu[id];
	w->plan = plan;
	w->caps = caps;
	w->ops = ops;
	w->sync = sync;
	slots_regions_init(&w->regions, PLAN_SESSION_BASE, PLAN_SESSION_BASE + plan->session_slots);
	for (i = 0; i < WORKER_MAX_LISTENERS; i++)
		w->listeners[i].fd = -1;
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0 || w->cmd_fd < 0) {
		err = -errno;
		worker_fini(w);
		return err;
	}
	/* The fast path's route lookups (a new session asks 4 or 5 times) on one socket kept
	 * for them: made here, in the daemon's namespace; RTM_GETROUTE needs no privilege, so
	 * the switch to the relay's user later changes nothing. */
	err = netlink_rtsock_new(&w->fast.nl);
	if (err)
		worker_fini(w);
	return err;
}

void worker_fini(struct worker *w)
{
	uint32_t i;

	for (i = 0; i < WORKER_MAX_RELAYS; i++) {
		session_table_fini(&w->relays[i].sessions);
		session_gens_fini(&w->relays[i].gens);
	}
	if (w->stop_fd > 0)
		close(w->stop_fd);
	if (w->cmd_fd > 0)
		close(w->cmd_fd);
	w->stop_fd = w->cmd_fd = -1;
	free(w->uc);
	w->uc = NULL;
	netlink_rtsock_free(w->fast.nl);
	w->fast.nl = NULL;
}

void worker_report(struct worker *w, enum worker_state state)
{
	int err;

	/* Set-up is over: the listeners are bound (low ports need CAP_NET_BIND_SERVICE) and the
	 * ring made. A worker reads the network's datagrams; from here on it holds nothing,
	 * unless its session sockets need IP_TRANSPARENT or SO_MARK, or bind to a client's low
	 * port (privs_session_mask). */
	if (state == WORKER_READY) {
		err = privs_thread_keep(w->cfg ? privs_session_mask(w->cfg) : 0);
		if (err) {
			snprintf(w->error, sizeof(w->error), "worker %u: drop capabilities: %s",
				 w->id, strerror(-err));
			state = WORKER_FAILED;
		}
	}
	pthread_mutex_lock(&w->sync->lock);
	w->state = state;
	/* The start waits for one answer per worker: a loop that ends before another worker
	 * has answered must not count as that one's. */
	if (state != WORKER_STOPPING)
		w->sync->reported++;
	pthread_cond_broadcast(&w->sync->cond);
	pthread_mutex_unlock(&w->sync->lock);
}

/* ---------------------------------------------------------------- sessions */

/* The access log's line for the start (end false) or end of session s of relay slot r: a
 * copy into this worker's ring, never a write. */
static void log_session(struct worker *w, uint32_t r, const struct session *s, bool end,
			enum accesslog_reason why)
{
	const struct worker_relay *wr = &w->relays[r];
	struct accesslog_session e;

	if (!w->alog)
		return;
	e = (struct accesslog_session){
	    .relay = wr->conf ? wr->conf->name : "?",
	    .worker = w->id,
	    .client = &s->client,
	    /* w->now is the loop's; an end at shutdown or in a reload comes later */
	    .upstream = &s->upstream_addr,
	    .start_ns = s->started,
	    .end_ns = end ? worker_clock() : s->started,
	    .up_datagrams = s->up_datagrams,
	    .up_bytes = s->up_bytes,
	    .down_datagrams = s->down_datagrams,
	    .down_bytes = s->down_bytes,
	};
	if (end)
		accesslog_session_end(w->alog, &e, why);
	else
		accesslog_session_start(w->alog, &e);
}

/* The fast path's counter slot of session s of relay slot r: one per session slot of every
 * worker, laid out like the workers' fixed-file regions. */
static uint32_t worker_flow(const struct worker *w, uint32_t r, const struct session *s)
{
	return w->fast.flow_base + (w->regions.base[r] - PLAN_SESSION_BASE) +
	       session_index(&w->relays[r].sessions, s);
}

/* The per-upstream counters of member m of relay slot r's pool: a counter slot that now
 * counts another member starts from zero. */
static struct upstream_counters *member_uc(struct worker *w, uint32_t r,
					   const struct pool_member *m)
{
	struct worker_relay *wr = &w->relays[r];
	struct upstream_counters *uc = worker_uc(w, r, m->slot);

	if (wr->uc_gen[m->slot] != m->gen) {
		/* The upkeep thread sums these while this runs: it reads the generation with
		 * acquire, so once it sees the new one it sees the zeros too. */
		upstream_counters_zero(uc);
		__atomic_store_n(&wr->uc_gen[m->slot], m->gen, __ATOMIC_RELEASE);
		wr->uc_moves[m->slot]++;
	}
	return uc;
}

/* Where relay slot r's upstream sockets send from; client for source = "client". */
static struct sock_source worker_source(const struct worker_relay *wr, const struct addr *client)
{
	const struct relay_conf *rc = wr->conf;
	struct sock_source src = { .fwmark = rc->fwmark };

	if (rc->source == SOURCE_CLIENT) {
		src.bind = client;
		src.transparent = true;
	} else if (rc->source == SOURCE_ADDRESS) {
		src.bind = &rc->source_addr;
	}
	return src;
}

/* Accounts what the fast path relayed for session s of relay slot r (fold[dir], from
 * offload_session_fold/close) like the socket path's datagrams: relay, upstream and session. */
static void count_fast(struct worker *w, uint32_t r, struct session *s,
		       const struct relay_dir_counters *fold)
{
	const struct relay_dir_counters *up = &fold[RELAY_DIR_TO_UPSTREAM];

	if (!up->rx_pkts && !fold[RELAY_DIR_TO_CLIENT].rx_pkts)
		return;
	worker_count_fast(w, r, s, up, &fold[RELAY_DIR_TO_CLIENT]);
	session_count_up(s, up->rx_pkts, up->rx_bytes);
}

/* Whether new fast session s's client is for the next judging turn to judge (judge_turn): the
 * rules in force deny it, or could not be read, and the filter judges what arrives on its
 * fast_iif (filter_iface_judges: there or on every device below; a failed read says yes).
 * Its datagram came through the program, but maybe under rules a change replaced since (it
 * waited in the socket), and the lap of that change may have passed s's slot already: it
 * would not be judged until the next change. Where the filter judges nothing the program lets
 * the client's datagrams through, and the session is left alone (review-final F3). The turn
 * decides what becomes of it (judge_one). One map lookup mostly (the prefix trie; the
 * generation in force, its settings and the port's entry are read again after each command
 * and tick), and for a denied client the interface's, once per interface between turns. */
static bool fast_due(struct worker *w, const struct session *s)
{
	if (!w->judge_f)
		return false;
	if (!w->open_judged) {
		if (filter_judge_begin(w->judge_f, &w->open_judge) < 0)
			return true;
		w->open_judged = true;
		w->open_iif_judges = -1;
	}
	if (filter_judge(w->judge_f, &w->open_judge, &s->client, &s->local) != 1)
		return false;
	if (w->open_iif_judges < 0 || w->open_iif != s->fast_iif) {
		w->open_iif = s->fast_iif;
		w->open_iif_judges = filter_iface_judges(w->judge_f, s->fast_iif) != 0;
	}
	return w->open_iif_judges;
}

/* The program's wrong_iface count of the client's direction of flow slot flow: datagrams of
 * its session that arrived by another device than its rule's (mmapped: no syscall; wraps).
 * 0 for a slot the program has none of (a session the tests put in the table). */
static uint32_t judge_wrong(const struct worker *w, uint32_t flow)
{
	const struct offload_flow_stats *st = filter_offload_flow(w->fast.f, flow);

	return st ? __atomic_load_n(&st->wrong_iface[OFFLOAD_DIR_UP], __ATOMIC_RELAXED) : 0;
}

/* Session s of relay slot r is for the next judging turn (judge_due): no queue to overflow,
 * past WORKER_DUE_MAX that turn walks the table for the rest. */
static void mark_due(struct worker *w, uint32_t r, struct session *s)
{
	struct worker_relay *wr = &w->relays[r];

	s->judge_due = true;
	if (wr->n_due == WORKER_DUE_MAX) {
		wr->due_walk = true;
		return;
	}
	wr->due[wr->n_due].idx = session_index(&wr->sessions, s);
	wr->due[wr->n_due++].gen = s->gen;
}

/* Puts new session s of relay slot r (its sockets so) on the fast path when the program takes
 * it, for the next judging turn too when the rules in force deny its client (fast_due). What
 * the slot's previous session had relayed after its close (an RCU grace period) is counted
 * for the relay and s's upstream, but not in s's own counts. The route epoch is read before
 * the routes (s->fast_route_epoch): a change after it makes a derivation due. */
static void fast_open(struct worker *w, uint32_t r, struct session *s,
		      const struct offload_socks *so)
{
	struct relay_dir_counters left[RELAY_DIR__MAX] = { 0 };
	uint64_t up = s->up_datagrams, up_b = s->up_bytes;
	uint64_t down = s->down_datagrams, down_b = s->down_bytes;
	uint32_t wrong;
	int ret;

	/* its client denied since (judge_one): the socket path keeps meeting the filter */
	if (s->denied)
		return;
	/* (read before its rules go in: a datagram by another device after counts) */
	wrong = judge_wrong(w, worker_flow(w, r, s));
	/* (the worker's too, which only grows: a session opened with a newer one than the
	 * tick's turn read is not derived again for the older) */
	w->route_epoch = worker_route_epoch(w->sync);
	s->fast_route_epoch = w->route_epoch;
	ret = offload_session_open(&w->fast, s, so, worker_flow(w, r, s), left);
	if (ret) {
		s->fast_refused = (uint8_t)(ret > 0 ? ret : OFFLOAD_REFUSED_ERROR);
		/* Refused for its routes (a device without the program during an outage): parked,
		 * it comes back when they change (review-final F6), at a route epoch that covers
		 * it, and by time only every OFFLOAD_PARK_OPEN_RETRY_S (refused for good, a client
		 * behind wg0, it would take the readings' allowance for its life); by back-off
		 * without route events. A try of a parked one keeps how it was parked and its
		 * back-off (fast_return). */
		if (!s->fast_parked && offload_open_parks(ret)) {
			if (worker_routes_watched(w->sync))
				offload_open_park(s, w->now);
			else /* (no route epoch would tell when they change: by time) */
				offload_route_leave(s, w->now);
		}
		return;
	}
	s->fast_refused = OFFLOAD_REFUSED_NONE; /* (one that comes back: fast_return) */
	count_fast(w, r, s, left);
	s->up_datagrams = up, s->up_bytes = up_b;
	s->down_datagrams = down, s->down_bytes = down_b;
	s->judge_wrong = wrong;
	if (fast_due(w, s))
		mark_due(w, r, s);
}

/* Takes session s of relay slot r off the fast path, counting what it relayed last. A mark
 * for the judging turn goes with it: socket-path sessions are judged only in the laps. */
static void fast_close(struct worker *w, uint32_t r, struct session *s)
{
	struct relay_dir_counters fold[RELAY_DIR__MAX] = { 0 };

	offload_session_close(&w->fast, s, fold);
	count_fast(w, r, s, fold);
	if (s->judge_due)
		s->judge_due = false;
}

/* Session s of relay slot r is no longer ACTIVE: its upstream has one session less, unless
 * its counter slot counts another member since (a reload moved it: that one starts from 0). */
static void session_ended(struct worker *w, uint32_t r, const struct session *s)
{
	struct upstream_counters *uc;
	uint64_t n;

	if (s->upstream >= CONFIG_MAX_UPSTREAMS ||
	    w->relays[r].uc_gen[s->upstream] != s->upstream_gen)
		return;
	uc = worker_uc(w, r, s->upstream);
	n = counter_get(&uc->sessions_active);
	if (n)
		counter_set(&uc->sessions_active, n - 1);
}

/* A new session waits for its first reply until reply_timeout (when set): worker_tick
 * counts it as a failure of its upstream if none came. Beyond WORKER_NOREPLY_MAX waiting,
 * new ones are not watched (the older ones decide first). */
static void watch_reply(struct worker *w, uint32_t r, const struct session *s)
{
	struct worker_relay *wr = &w->relays[r];
	struct worker_noreply *e;

	if (wr->conf->reply_timeout <= 0 || wr->noreply_len == WORKER_NOREPLY_MAX)
		return;
	e = &wr->noreply[(wr->noreply_head + wr->noreply_len++) % WORKER_NOREPLY_MAX];
	e->idx = session_index(&wr->sessions, s);
	e->gen = s->gen;
	e->due = w->now + (uint64_t)(wr->conf->reply_timeout * 1e9);
}

/* reply_timeout as relay slot r has it in rc: sessions already waiting wait no longer than
 * new ones will (the queue is in due order, and a shorter timeout's dues would queue behind
 * the longer ones'; clamping keeps the order). Off: nothing is watched any more. */
static void noreply_clamp(struct worker *w, uint32_t r, const struct relay_conf *rc)
{
	struct worker_relay *wr = &w->relays[r];
	uint64_t latest = w->now + (uint64_t)(rc->reply_timeout * 1e9);
	uint32_t k;

	if (rc->reply_timeout <= 0) {
		wr->noreply_len = 0;
		return;
	}
	for (k = 0; k < wr->noreply_len; k++) {
		struct worker_noreply *e = &wr->noreply[(wr->noreply_head + k) % WORKER_NOREPLY_MAX];

		if (e->due > latest)
			e->due = latest;
	}
}

static void check_replies(struct worker *w, uint32_t r)
{
	struct worker_relay *wr = &w->relays[r];
	struct worker_noreply *e;
	struct session *s;

	while (wr->noreply_len) {
		e = &wr->noreply[wr->noreply_head];
		if (e->due > w->now)
			break;
		wr->noreply_head = (wr->noreply_head + 1) % WORKER_NOREPLY_MAX;
		wr->noreply_len--;
		if (!wr->sessions.slots || e->idx >= wr->sessions.capacity)
			continue;
		s = &wr->sessions.slots[e->idx];
		/* (not a member that took its counter slot since) */
		if (s->gen != e->gen || s->state != SESSION_ACTIVE || s->down_datagrams ||
		    worker_session_up(w, r, s) == SESSION_NONE)
			continue;
		counter_add(&worker_uc(w, r, s->upstream)->noreply, 1);
	}
}

/* Ends CLOSING session s of relay slot r: its fast-path entries go before its socket (what
 * the program counted for it last is folded first, so the access log's line has it), then the
 * backend stops receiving on it and releases its slot. Expiry, eviction, a move off a down
 * upstream (move_sessions) and every reload or shutdown close go through it. */
static void worker_count_unread(struct worker *w, uint32_t r, struct session *s);

static void end_session(struct worker *w, uint32_t r, struct session *s, enum accesslog_reason why)
{
	fast_close(w, r, s);
	log_session(w, r, s, true, why);
	session_ended(w, r, s);
	worker_count_unread(w, r, s);
	w->ops->session_close(w, r, s);
}

static void fold_fast_head(struct worker *w, uint32_t r);

/* The table of relay slot r is full for client: ends its least recently used session if it
 * has been idle long enough. Returns whether one was ended. Its slot is free at once with the
 * mmsg backend; io_uring frees it when the ring has emptied its file slot, so there the
 * datagram that asked may still be dropped (session_table_full), and the slot goes to the
 * first datagram without a session that comes then: the client's next one, or in a burst
 * of new clients another's before it, after which the client's next one evicts again. */
static bool evict_one(struct worker *w, uint32_t r, const struct addr *client)
{
	struct worker_relay *wr = &w->relays[r];
	struct session *s;

	uint32_t k;

	/* This client's eviction has its slot on the way back (io_uring) for the next datagram
	 * that needs one. Evicting again would end a session per datagram of the client's
	 * burst. */
	for (k = 0; wr->sessions.closing && k < WORKER_EVICTED_MAX; k++) {
		const struct session *e;

		if (wr->evicted[k].idx >= wr->sessions.capacity) /* an entry of an earlier table */
			continue;
		e = &wr->sessions.slots[wr->evicted[k].idx];
		if (e->state == SESSION_CLOSING && e->gen == wr->evicted[k].gen &&
		    addr_equal(&wr->evicted[k].client, client))
			return false;
	}
	fold_fast_head(w, r);
	s = session_evict(&wr->sessions, w->now, WORKER_EVICT_MIN_IDLE_NS);
	if (!s)
		return false;
	k = wr->evicted_next++ % WORKER_EVICTED_MAX;
	wr->evicted[k].idx = session_index(&wr->sessions, s);
	wr->evicted[k].gen = s->gen;
	wr->evicted[k].client = *client;
	end_session(w, r, s, ACCESSLOG_EVICTED);
	counter_add(&w->counters[r].sessions_evicted, 1);
	counter_set(&w->counters[r].sessions_active, wr->sessions.active);
	return true;
}

struct session *worker_session_get(struct worker *w, uint32_t li, const struct addr *client,
				   const struct sock_rx_meta *meta, uint32_t n)
{
	struct listener *l = &w->listeners[li];
	struct worker_relay *wr = &w->relays[l->relay];
	struct relay_counters *c = &w->counters[l->relay];
	struct upstream_counters *uc = NULL;
	const struct pool *p = worker_pool(w, l->relay);
	const struct pool_member *m;
	/* On a wildcard listener the address the client sent to is part of its flow. */
	const struct addr *local = l->wildcard && meta->has_local ? &meta->local : NULL;
	struct sock_source src;
	struct session *s;
	int fd, err = -EIO;
	bool at_connect = false, unreachable;

	s = session_lookup(&wr->sessions, client, li, local);
	if (s) {
		session_touch(&wr->sessions, s, w->now);
		/* (where its client's datagrams come by now: a route moved, a link made again) */
		if (meta->ifindex)
			s->rx_iif = meta->ifindex;
		return s;
	}
	if (session_source_full(&wr->sessions, client)) {
		relay_count_drop(c, RELAY_DIR_TO_UPSTREAM, DROP_SOURCE_LIMIT, n);
		return NULL;
	}
	s = session_insert(&wr->sessions, client, li, local, w->now);
	if (!s && wr->conf->session_full == SESSION_FULL_EVICT && evict_one(w, l->relay, client))
		s = session_insert(&wr->sessions, client, li, local, w->now);
	if (!s) {
		relay_count_drop(c, RELAY_DIR_TO_UPSTREAM, DROP_SESSION_FULL, n);
		return NULL;
	}
	src = worker_source(wr, client);
	if (wr->mode == RELAY_MODE_MIRROR) {
		/* A transparent mirror's session: a socket with the client's address and port,
		 * not connected, that sends a copy to every member. */
		s->upstream = SESSION_NONE;
		memset(&s->upstream_addr, 0, sizeof(s->upstream_addr));
		fd = sock_open_upstream(NULL, false, &src, NULL);
	} else {
		m = &p->m[balancer_pick(&p->bal, client, &wr->rr_state)];
		s->upstream = m->slot;
		s->upstream_addr = m->addr;
		s->upstream_gen = m->gen;
		uc = member_uc(w, l->relay, m);
		/* A new flow costs socket() + connect(): per session, never per datagram. */
		fd = sock_open_upstream(&s->upstream_addr, w->cfg->gro, &src, &at_connect);
	}
	if (fd < 0) {
		err = fd;
		goto err_release;
	}
	s->fd = fd;
	s->rx_iif = meta->ifindex;
	s->local = l->addr;
	if (meta->has_local) {
		s->local = meta->local;
		addr_set_port(&s->local, addr_port(&l->addr));
	}
	/* The fast path needs the socket's own address, so it goes in before the backend may
	 * take the descriptor; the first datagram still takes the socket path. Not for a
	 * datagram to a broadcast address or a group: every worker's socket has a copy, and
	 * each worker's session would install the same entry (client -> the interface's
	 * address). */
	s->fast_refused = OFFLOAD_REFUSED_NONE;
	if (wr->offload && w->fast.f && !meta->to_group) {
		struct offload_socks so = { .fd = fd, .listen_keys = &l->keys };

		fast_open(w, l->relay, s, &so);
	}
	err = w->ops->session_opened(w, l->relay, s);
	if (err) {
		fast_close(w, l->relay, s);
		goto err_release;
	}
	counter_add(&c->sessions_created, 1);
	counter_set(&c->sessions_active, wr->sessions.active);
	if (uc) {
		counter_add(&uc->sessions_created, 1);
		counter_add(&uc->sessions_active, 1);
		watch_reply(w, l->relay, s);
	}
	log_session(w, l->relay, s, false, ACCESSLOG_IDLE);
	return s;

err_release:
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	session_close(&wr->sessions, s);
	session_release(&wr->sessions, s);
	/* Only connect's errors are the member's: the bind of a client's low port without
	 * CAP_NET_BIND_SERVICE is EACCES too, and must not eject a healthy member. */
	unreachable = uc && at_connect && sock_err_unreachable(-err);
	if (unreachable) {
		/* connect found no route to the member (an unreachable or prohibit route): its
		 * passive health counts it, or the clients it is picked for would be lost for
		 * good without an active check */
		relay_count_drop(c, RELAY_DIR_TO_UPSTREAM, DROP_UNREACHABLE, n);
		counter_add(&uc->unreachable, n);
	} else {
		relay_count_drop(c, RELAY_DIR_TO_UPSTREAM, DROP_SOCKET_ERROR, n);
	}
	/* Once: a cause that fails one client (a low port without CAP_NET_BIND_SERVICE, a port
	 * in use) fails all its datagrams. A prohibit route (EACCES) is said too, though counted
	 * unreachable: it, or a member at a broadcast address, only the operator mends. */
	if ((!unreachable || err == -EACCES) && !w->session_err_told) {
		char buf[ADDR_STRLEN];

		w->session_err_told = true;
		log_warn("worker %u: relay %s: no session socket for client %s: %s; its datagrams "
			 "are counted %s (said once per worker)",
			 w->id, wr->conf->name, addr_format(client, buf, sizeof(buf)),
			 strerror(-err),
			 unreachable ? "upstream_unreachable" : "session_socket_error");
	}
	return NULL;
}

static void add_dir(struct relay_dir_counters *sum, const struct relay_dir_counters *d)
{
	int k;

	counter_add(&sum->rx_pkts, d->rx_pkts);
	counter_add(&sum->rx_bytes, d->rx_bytes);
	counter_add(&sum->tx_pkts, d->tx_pkts);
	counter_add(&sum->tx_bytes, d->tx_bytes);
	counter_add(&sum->extra_copies, d->extra_copies);
	counter_add(&sum->fast_pkts, d->fast_pkts);
	counter_add(&sum->fast_bytes, d->fast_bytes);
	for (k = 0; k < DROP__MAX; k++)
		counter_add(&sum->drops[k], d->drops[k]);
	for (k = 0; k < SEND_ERR__MAX; k++)
		counter_add(&sum->send_errs[k], d->send_errs[k]);
}

void worker_count_fast(struct worker *w, uint32_t r, struct session *s,
		       const struct relay_dir_counters *up, const struct relay_dir_counters *down)
{
	struct relay_counters *c = &w->counters[r];
	uint32_t u = worker_session_up(w, r, s);

	add_dir(&c->dir[RELAY_DIR_TO_UPSTREAM], up);
	add_dir(&c->dir[RELAY_DIR_TO_CLIENT], down);
	upstream_count_sent(w, r, u, up->tx_pkts, up->tx_bytes);
	upstream_count_lost(w, r, u, true, up->drops[DROP_UNREACHABLE]);
	upstream_count_lost(w, r, u, false, up->drops[DROP_SEND_ERROR]);
	upstream_count_rx(w, r, u, down->rx_pkts, down->rx_bytes);
	session_count_down(s, down->rx_pkts, down->rx_bytes);
}

/* The counter slot of relay slot r's member at address a, or SESSION_NONE. */
static uint32_t member_slot_of(const struct worker *w, uint32_t r, const struct addr *a)
{
	const struct pool *p = worker_pool(w, r);
	int i = pool_find(p, a);

	return i >= 0 ? p->m[i].slot : SESSION_NONE;
}

void worker_mirror_session_reply(struct worker *w, uint32_t r, const struct addr *from,
				 uint32_t segs, uint64_t bytes)
{
	worker_count_mirror_reply(w, r, from ? member_slot_of(w, r, from) : SESSION_NONE, segs,
				  bytes);
}

int worker_drain_errors(struct worker *w, struct session *s, int fd, uint32_t max, int err,
			bool *too_big, uint32_t *n)
{
	int last = sock_drain_errors_mtu(fd, max, too_big, n);

	if (s && (*too_big || err == -EMSGSIZE))
		offload_session_pmtu(&w->fast, s, OFFLOAD_PMTU_UP);
	return last;
}

/* The datagrams a socket's full queue dropped since *last saw its SO_RXQ_OVFL count (a
 * cumulative 32-bit counter that wraps); moves *last on. 0 when the receive carried none. */
static uint32_t ovfl_since(uint32_t *last, const struct sock_rx_meta *m)
{
	uint32_t n;

	/* (an older count than *last, from a receive that completes after the close counted
	 * past it: drain_unread, and io_uring's mirror_gone_recv against the closed socket's
	 * last count, is nothing new) */
	if (!m->has_ovfl || (int32_t)(m->ovfl - *last) <= 0)
		return 0;
	n = m->ovfl - *last;
	*last = m->ovfl;
	return n;
}

void worker_note_overflow(struct worker *w, struct listener *l, const struct sock_rx_meta *m)
{
	struct relay_counters *c = &w->counters[l->relay];
	uint32_t n = ovfl_since(&l->ovfl_last, m);

	if (!n)
		return;
	/* These datagrams reached the relay's socket and were lost there: received, and
	 * dropped. */
	relay_count_rx(c, RELAY_DIR_TO_UPSTREAM, n, 0);
	relay_count_drop(c, RELAY_DIR_TO_UPSTREAM, DROP_SOCKET_OVERFLOW, n);
}

/* n replies upstream up sent that a full socket dropped: received from it (SESSION_NONE:
 * by the relay only), and dropped. */
static void count_reply_overflow(struct worker *w, uint32_t relay, uint32_t up, uint32_t n)
{
	struct relay_counters *c = &w->counters[relay];

	relay_count_rx(c, RELAY_DIR_TO_CLIENT, n, 0);
	upstream_count_rx(w, relay, up, n, 0);
	relay_count_drop(c, RELAY_DIR_TO_CLIENT, DROP_SOCKET_OVERFLOW, n);
}

void worker_note_reply_overflow(struct worker *w, uint32_t relay, struct session *s,
				const struct sock_rx_meta *m)
{
	uint32_t n = ovfl_since(&s->reply_ovfl, m);

	/* (a transparent mirror's client socket has no upstream, its senders unknown: the
	 * relay's only) */
	if (n)
		count_reply_overflow(w, relay, worker_session_up(w, relay, s), n);
}

void worker_note_member_overflow(struct worker *w, uint32_t relay, uint32_t up,
				 uint32_t *last, const struct sock_rx_meta *m)
{
	uint32_t n = ovfl_since(last, m);

	/* (as mirror_reply would have been, had they been read) */
	if (n)
		count_reply_overflow(w, relay, up, n);
}

void worker_note_mirror_overflow(struct worker *w, uint32_t relay, uint32_t j,
				 const struct sock_rx_meta *m)
{
	struct worker_relay *wr = &w->relays[relay];

	worker_note_member_overflow(w, relay, wr->mirror_uslot[j], &wr->mirror_ovfl[j], m);
}

/* Whose socket a close reads (drain_unread), and so where what it holds counts: session s
 * (a forward relay's; a transparent mirror's client socket: transparent) or, s NULL, plain
 * mirror socket j of the relay, to its member. */
struct unread_owner {
	struct session *s;
	uint32_t j;
	bool transparent;
};

/* The drops owner's socket counted (m: a datagram's SO_RXQ_OVFL, or SO_MEMINFO's count). */
static void unread_overflow(struct worker *w, uint32_t r, const struct unread_owner *o,
			    const struct sock_rx_meta *m)
{
	if (o->s)
		worker_note_reply_overflow(w, r, o->s, m);
	else
		worker_note_mirror_overflow(w, r, o->j, m);
}

/* A datagram of segs datagrams in len bytes (from: its sender, NULL when unknown; m its
 * control messages) still queued in owner's closing socket: received, and dropped as a
 * closed session's, or as the member reply a mirror's is. */
static void unread_datagram(struct worker *w, uint32_t r, const struct unread_owner *o,
			    const struct addr *from, const struct sock_rx_meta *m, uint32_t segs,
			    uint32_t len)
{
	if (!o->s) {
		unread_overflow(w, r, o, m);
		worker_count_mirror_reply(w, r, w->relays[r].mirror_uslot[o->j], segs, len);
	} else if (o->transparent) {
		unread_overflow(w, r, o, m);
		worker_mirror_session_reply(w, r, from, segs, len);
	} else {
		worker_count_session_reply(w, r, o->s, m, segs, len);
		relay_count_drop(&w->counters[r], RELAY_DIR_TO_CLIENT, DROP_SESSION_CLOSED, segs);
	}
}

/* An ICMP unreachable pending on owner's socket: the notice a live receive counts (a
 * transparent mirror's client socket has no IP_RECVERR and gets none). */
static void unread_notice(struct worker *w, uint32_t r, const struct unread_owner *o)
{
	if (!o->s)
		worker_count_notice(w, r, w->relays[r].mirror_uslot[o->j]);
	else if (!o->transparent)
		worker_count_notice(w, r, worker_session_up(w, r, o->s));
}

/* Counts what socket fd of relay slot r (owner's) still holds as it closes, which the kernel
 * would free with the socket unseen: the datagrams queued unread (unread_datagram) and its
 * queue's drops that no SO_RXQ_OVFL told yet (SO_MEMINFO's count, the same sk_drops).
 * Without it the replies' rx = tx + drops lost them. Close path only: one getsockopt per
 * close when nothing waits (its receive memory is 0); a drain and a second one when
 * something does. Beyond WORKER_UNREAD_ROUNDS reads, or the per-tick bounds (worker.h), the
 * rest goes uncounted (an upstream sending as fast as it is read; a reload closing many
 * backlogged sockets at once). Where SO_MEMINFO cannot be read (an old kernel) the queue is
 * read all the same, the drops are not. io_uring: a receive still armed on the socket takes
 * only what this leaves, and its completions after the close count what they carry (stale:
 * on_session_recv, on_mirror_recv), once. */
static void drain_unread(struct worker *w, uint32_t r, int fd, const struct unread_owner *o)
{
	struct worker_unread *u = &w->unread;
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t mlen = sizeof(mi);
	struct sock_rx_meta dm = { .has_ovfl = true };
	bool drained = false, known;
	int round, n, i, errors = 0;

	if (fd < 0)
		return;
	/* One getsockopt when nothing waits (the common close: an idle socket's) */
	known = !getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &mlen) &&
		mlen >= sizeof(mi[0]) * (SK_MEMINFO_DROPS + 1);
	for (round = 0; (!known || mi[SK_MEMINFO_RMEM_ALLOC]) && round < WORKER_UNREAD_ROUNDS &&
			u->reads < WORKER_UNREAD_TICK_READS &&
			u->taken < WORKER_UNREAD_TICK_DATAGRAMS;
	     round++) {
		for (i = 0; i < WORKER_UNREAD_BATCH; i++)
			u->msgs[i].msg_hdr = (struct msghdr){
				.msg_name = &u->names[i],
				.msg_namelen = sizeof(u->names[i]),
				.msg_control = u->control[i].buf,
				.msg_controllen = sizeof(u->control[i].buf),
			};
		n = recvmmsg(fd, u->msgs, WORKER_UNREAD_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
		u->reads++;
		/* An ICMP error pending on the socket (IP_RECVERR) fails a read before the queue:
		 * read away (an unreachable counted as the notice a live receive counts), it lets
		 * the next round read what waits behind it. Also after a short batch: only EAGAIN
		 * says the queue is empty; two errors in a row, something else. */
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errors++)
				break;
			if (sock_err_unreachable(errno))
				unread_notice(w, r, o);
			continue;
		}
		errors = 0;
		drained = true;
		for (i = 0; i < n; i++) {
			struct msghdr *h = &u->msgs[i].msg_hdr;
			uint32_t len = u->msgs[i].msg_len, segs;
			struct sock_rx_meta m = { 0 };
			struct cmsghdr *c;
			struct addr from;
			bool from_ok;

			for (c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
				sock_rx_cmsg(c, &m);
			segs = sock_segments(len, m.gso_size);
			u->taken += segs;
			/* (the sender matters to a transparent mirror's client socket only) */
			from_ok = o->transparent &&
				  !addr_from_sockaddr(&from, h->msg_name, h->msg_namelen);
			unread_datagram(w, r, o, from_ok ? &from : NULL, &m, segs, len);
		}
	}
	/* (after a drain, the drops it let happen too) */
	if (!known || (drained && getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &mlen)))
		return;
	dm.ovfl = mi[SK_MEMINFO_DROPS];
	unread_overflow(w, r, o, &dm);
}

/* What session s of relay slot r still holds in its socket as it closes (drain_unread). */
static void worker_count_unread(struct worker *w, uint32_t r, struct session *s)
{
	struct unread_owner o = { .s = s,
				  .transparent = w->relays[r].mode == RELAY_MODE_MIRROR };

	drain_unread(w, r, s->fd, &o);
}

/* The same for plain mirror socket j of relay slot r, to its member. */
static void count_member_unread(struct worker *w, uint32_t r, uint32_t j)
{
	struct unread_owner o = { .s = NULL, .j = j };

	drain_unread(w, r, w->relays[r].mirror_fd[j], &o);
}

/* Closes the ACTIVE sessions of relay r for which keep() is false (all when keep is NULL);
 * the access log says why. */
static void close_sessions(struct worker *w, uint32_t r,
			   bool (*keep)(const struct worker *w, uint32_t r,
					const struct session *s),
			   enum accesslog_reason why)
{
	struct worker_relay *wr = &w->relays[r];
	struct session_table *t = &wr->sessions;
	uint32_t i;

	for (i = 0; t->slots && i < t->capacity; i++) {
		struct session *s = &t->slots[i];

		if (s->state != SESSION_ACTIVE || (keep && keep(w, r, s)))
			continue;
		session_close(t, s);
		end_session(w, r, s, why);
	}
	counter_set(&w->counters[r].sessions_active, t->active);
}

static bool table_idle(const struct session_table *t)
{
	uint32_t i;

	for (i = 0; t->slots && i < t->capacity; i++)
		if (t->slots[i].state != SESSION_FREE)
			return false;
	return true;
}

static void set_slot_state(struct worker_relay *wr, enum relay_slot_state st)
{
	/* main reads it (worker_slot_unused) to know when a slot may be reused */
	__atomic_store_n(&wr->state, st, __ATOMIC_RELAXED);
}

bool worker_slot_unused(const struct worker *w, uint32_t s)
{
	return __atomic_load_n(&w->relays[s].state, __ATOMIC_RELAXED) == RELAY_SLOT_UNUSED;
}

/* A removed relay's slot becomes reusable once its last session is released. */
static void finish_draining(struct worker *w)
{
	uint32_t r;

	for (r = 0; r < WORKER_MAX_RELAYS; r++) {
		struct worker_relay *wr = &w->relays[r];

		if (wr->state == RELAY_SLOT_DRAINING && table_idle(&wr->sessions)) {
			/* Its sessions are released, but a completion of one may still come. */
			session_gens_keep(&wr->gens, &wr->sessions);
			session_table_fini(&wr->sessions);
			set_slot_state(wr, RELAY_SLOT_UNUSED);
		}
	}
}

/* Folds what the program relayed for relay slot r's sessions into its counters, and takes
 * the program's last-seen time as their activity: a session busy only in the fast path never
 * expires. */
static void fold_one(struct worker *w, uint32_t r, struct session *s)
{
	struct relay_dir_counters fold[RELAY_DIR__MAX] = { 0 };
	uint64_t seen = offload_session_fold(&w->fast, s, fold);

	count_fast(w, r, s, fold);
	/* Same clock (CLOCK_MONOTONIC; the worker's is its coarse reading). */
	if (seen > s->last_active)
		session_touch(&w->relays[r].sessions, s, seen < w->now ? seen : w->now);
}

/* Folds relay slot r's fast sessions. */
static void fold_fast(struct worker *w, uint32_t r)
{
	struct session_table *t = &w->relays[r].sessions;
	struct session *s;
	uint32_t i;

	if (!w->fast.f || !t->slots)
		return;
	for (i = 0; i < t->capacity; i++) {
		s = &t->slots[i];
		if (s->state == SESSION_ACTIVE && s->fast)
			fold_one(w, r, s);
	}
}

/* Tries again the fast open of parked session s of relay slot r (offload_return_due: for a
 * new route epoch only where a change since covers its addresses, read within the tick's
 * scoping budget as a fast session's are), as a new session's: with its socket and the reply
 * route keys its listener had. True when it tried and the shared allowance pays: a try due
 * for a new route epoch alone (its back-off runs, or it was parked from its open) that finds
 * it still refused takes the epoch's instead, as a derivation for the epoch alone does, and
 * waits while that is used up; it counts in w->scope.tried, as such a derivation in
 * .derived. */
static bool fast_return(struct worker *w, uint32_t r, struct session *s)
{
	struct sock_route_keys keys = { .mark = s->fast_reply_mark,
					.uid = s->fast_reply_uid,
					.oif = s->fast_reply_oif };
	struct offload_socks so = { .fd = s->fd, .listen_keys = &keys };
	bool by_epoch;

	if (!offload_return_due(s, w->route_epoch, &w->scope, w->now))
		return false;
	/* (sessions parked for good, their open refused for routes that never change, e.g. a
	 * client behind wg0, would otherwise take the readings' allowance at every route event
	 * that covers them) */
	by_epoch = !offload_return_by_time(s, w->now);
	if (by_epoch && !w->pmtu.epoch_left)
		return false;
	if (s->fd < 0) {
		s->fast_parked = false;
		return false;
	}
	/* A client denied since stays on the socket path (judge_one) while it is: parked still,
	 * for when a change allows it again. */
	if (s->denied)
		return false;
	/* The relay's fast path off for now (a re-apply that keeps the program, keep_fast, after
	 * a link changed): it stays parked for when it is back. One turned off for good forgets
	 * its parked sessions (unfast_sessions). */
	if (!w->relays[r].offload)
		return false;
	if (by_epoch)
		w->scope.tried++;
	fast_open(w, r, s, &so);
	offload_return_read(s, s->fast, w->now);
	if (by_epoch && !s->fast) {
		w->pmtu.epoch_left--;
		return false;
	}
	return true;
}

/* Counts at relay slot r what the scoping of route changes did since it read skipped,
 * derived and tried (w->scope's). */
static void count_scope(struct worker *w, uint32_t r, uint32_t skipped, uint32_t derived,
			uint32_t tried)
{
	if (w->scope.skipped != skipped)
		counter_add(&w->counters[r].fast_epoch_skipped, w->scope.skipped - skipped);
	if (w->scope.derived != derived)
		counter_add(&w->counters[r].fast_epoch_derived, w->scope.derived - derived);
	if (w->scope.tried != tried)
		counter_add(&w->counters[r].fast_epoch_tried, w->scope.tried - tried);
}

/* offload_pmtu_walk's reading: session slot i of relay slot r, if a fast one whose path MTUs
 * or routes may have changed (offload_session_recheck). One whose routes moved where the fast
 * path cannot relay it leaves it, keeping why (its sessions line: socket and the reason), and
 * comes back when they do (fast_return). */
static bool pmtu_read(void *arg, uint32_t r, uint32_t i)
{
	struct worker *w = arg;
	struct session *s = &w->relays[r].sessions.slots[i];
	enum offload_recheck done;
	uint32_t skipped, derived, tried;
	uint8_t why;
	int iif;

	if (s->state != SESSION_ACTIVE)
		return false;
	skipped = w->scope.skipped;
	derived = w->scope.derived;
	tried = w->scope.tried;
	if (!s->fast) {
		bool read = s->fast_parked && fast_return(w, r, s);

		/* (a parked session a new epoch's changes do not cover: no try, skipped; one
		 * they do, tried) */
		count_scope(w, r, skipped, derived, tried);
		return read;
	}
	iif = s->fast_iif;
	done = offload_session_recheck(&w->fast, s, w->route_epoch, w->pmtu.epoch_left > 0,
				       &w->scope, w->now);
	count_scope(w, r, skipped, derived, tried);
	/* (from its own allowance: routes changing elsewhere hold up no reading asked for) */
	if (done == OFFLOAD_RECHECK_EPOCH) {
		w->pmtu.epoch_left--;
		return false;
	}
	if (done == OFFLOAD_RECHECK_MOVED) {
		counter_add(&w->counters[r].fast_rerouted, 1);
		/* Its rules are new: what arrived elsewhere before is judged by them no more.
		 * Its client is judged again where its datagrams arrive now (judge_one). */
		s->judge_wrong = judge_wrong(w, s->flow);
		if (s->fast_iif != iif && !s->judge_due)
			mark_due(w, r, s);
	}
	if (done == OFFLOAD_RECHECK_LEAVE) {
		why = s->fast_refused;
		fast_close(w, r, s);
		s->fast_refused = why;
		counter_add(&w->counters[r].fast_route_left, 1);
	}
	return done != OFFLOAD_RECHECK_NONE;
}

/* The tick's path MTU readings, after every relay's sessions were folded (a session's
 * activity is then known) and those idle expired. */
static void pmtu_turn(struct worker *w)
{
	uint32_t cap[WORKER_MAX_RELAYS], r;

	if (!w->fast.f)
		return;
	w->route_epoch = worker_route_epoch(w->sync);
	w->scope.rs = w->sync ? &w->sync->routes : NULL;
	w->scope.left = WORKER_SCOPE_PER_TICK;
	for (r = 0; r < WORKER_MAX_RELAYS; r++) {
		struct worker_relay *wr = &w->relays[r];

		cap[r] = wr->state == RELAY_SLOT_ACTIVE && wr->sessions.slots
				 ? wr->sessions.capacity
				 : 0;
	}
	w->pmtu.scope_left = &w->scope.left;
	offload_pmtu_walk(&w->pmtu, w->now, WORKER_PMTU_PER_SEC, cap, WORKER_MAX_RELAYS,
			  pmtu_read, w);
}

/* A judging turn: its rules (begun at its first judgement; their two lookups are reserved
 * until then), the fast sessions it ended or took off the fast path, and the interface it
 * asked about last (iif_judges: whether the filter judges there, judge_iif; -1: none asked
 * yet). */
struct judge_state {
	struct filter_judge j;
	bool begun;
	uint32_t ends;
	int iif, iif_judges;
};

/* Whether the turn can judge one more session, and end it, within WORKER_JUDGE_PER_TICK: j's
 * map calls made, its ends at WORKER_JUDGE_END_CALLS each, and one session's worst case. */
static bool judge_room(const struct judge_state *js)
{
	return js->j.calls + js->ends * WORKER_JUDGE_END_CALLS + FILTER_JUDGE_CALLS_MAX +
		       WORKER_JUDGE_IFACE_CALLS + WORKER_JUDGE_END_CALLS <=
	       WORKER_JUDGE_PER_TICK;
}

/* Whether the filter's verdict on fast session s's client (on a fast_iif the filter judges:
 * judge_iif) holds for every datagram of its client: none arrived by another device since
 * its rules were derived (the program's wrong_iface count, as at fast_open). Not so with
 * clients coming in by another device than the route back (review-openjudge O2). */
static bool judge_holds(struct worker *w, const struct session *s)
{
	return judge_wrong(w, s->flow) == s->judge_wrong;
}

/* Whether the filter judges what arrives on interface iif at all (a fast session's fast_iif,
 * a socket-path one's rx_iif): it runs there or on every device below (RR_IFACE_JUDGED_BELOW,
 * a VLAN's, bridge's or bond's: review-openjudge O1), or the interface has no entry (not one
 * of the program's: a device above a filtered one, as far as it knows); a failed read says
 * yes. Asked once per interface in a row, counted in the turn's map calls. */
static bool judge_iif(struct worker *w, int iif, struct judge_state *js)
{
	if (js->iif_judges < 0 || iif != js->iif) {
		js->iif = iif;
		js->iif_judges = filter_iface_judges(w->judge_f, iif) != 0;
		js->j.calls += WORKER_JUDGE_IFACE_CALLS;
	}
	return js->iif_judges;
}

/* Judges session s of relay slot r by the turn's rules. One whose client they deny is marked
 * denied (replies no longer keep it alive: worker_reply_touch), one they allow again no
 * longer; but a fast session on a fast_iif the filter judges nothing of (judge_iif) is left
 * alone, fast and unmarked: the program lets its client's datagrams through (review-final
 * F3). A denied fast session ends where the filter's verdict holds for its client's
 * datagrams (judge_holds): they stop at the filter, and the replies would otherwise keep
 * flowing below it. Elsewhere it leaves the fast path and stays on the socket path: where
 * the filter drops its client's datagrams it expires at its idle timeout, where it does not
 * its client keeps it (ending it would only have the client's next datagram open another,
 * review-rcfix R1). Returns -1 when the rules cannot be read (s stays as it is), else 0. */
static int judge_one(struct worker *w, uint32_t r, struct session *s, struct judge_state *js)
{
	int denied, iif;

	if (!js->begun) {
		if (filter_judge_begin(w->judge_f, &js->j) < 0)
			return -1;
		js->begun = true;
	}
	if (s->judge_due) /* (a lap's session mostly is not: its line stays clean) */
		s->judge_due = false;
	denied = filter_judge(w->judge_f, &js->j, &s->client, &s->local);
	if (denied < 0)
		return 0;
	/* Where the filter judges nothing of what its client sends (judge_iif: a fast session's
	 * fast_iif, a socket-path one's rx_iif; 0: not known, judged), its datagrams pass, and
	 * the replies must keep it: not denied (review-final F3, review-openpark 1). */
	iif = s->fast ? s->fast_iif : s->rx_iif;
	if (denied == 1 && iif > 0 && !judge_iif(w, iif, js))
		denied = 0;
	if (s->denied != (denied == 1)) {
		s->denied = denied == 1;
		/* One that left the fast path for its denial comes back now the rules allow
		 * its client again: its fast open is tried at the next path MTU turn
		 * (fast_return), as a session parked for its routes is. */
		if (!s->denied && !s->fast && s->fast_refused == OFFLOAD_REFUSED_FILTER) {
			s->fast_parked = true;
			s->fast_park_open = false; /* (it was fast: due by time at once) */
			s->fast_route_quiet = 0;
			s->fast_route_backoff = 0;
		}
	}
	if (!s->denied || !s->fast)
		return 0;
	js->ends++;
	if (judge_holds(w, s)) {
		session_close(&w->relays[r].sessions, s);
		end_session(w, r, s, ACCESSLOG_FILTER_DENIED);
		return 0;
	}
	fast_close(w, r, s);
	s->fast_refused = OFFLOAD_REFUSED_FILTER; /* (its sessions line: socket: filter_denied) */
	return 0;
}

/* Judges relay slot r's fast sessions that fast_open marked judge_due (by the rules in force
 * now: a change since may allow their clients again), as far as the turn has room; the rest
 * wait for the next turn. The queued ones first, then, when more were marked than it holds,
 * a walk of the table for the others. One that left the fast path since is no longer due
 * (fast_close). Returns -1 when the rules cannot be read, else 0. */
static int judge_due(struct worker *w, uint32_t r, struct judge_state *js)
{
	struct worker_relay *wr = &w->relays[r];
	struct session_table *t = &wr->sessions;
	uint32_t i;

	while (wr->n_due && judge_room(js)) {
		uint32_t idx = wr->due[wr->n_due - 1].idx;
		struct session *s = idx < t->capacity ? &t->slots[idx] : NULL;

		/* (its slot taken by another session since: gen) */
		if (s && s->state == SESSION_ACTIVE && s->gen == wr->due[wr->n_due - 1].gen &&
		    s->judge_due && s->fast && judge_one(w, r, s, js) < 0)
			return -1;
		wr->n_due--;
	}
	/* (a walk cut short starts again: those it judged are no longer due) */
	for (i = 0; wr->due_walk && !wr->n_due && judge_room(js); i++) {
		if (i == t->capacity) {
			wr->due_walk = false;
			break;
		}
		if (t->slots[i].state == SESSION_ACTIVE && t->slots[i].judge_due &&
		    t->slots[i].fast && judge_one(w, r, &t->slots[i], js) < 0)
			return -1;
	}
	return 0;
}

/* The sessions whose clients the filter's rules deny since they changed are judged (where
 * the program is loaded, whether or not a relay has the fast path: w->judge_f): a fast one
 * ends, or leaves the fast path, and every one is marked denied, so that the upstream's
 * replies no longer keep it alive (judge_one; the program drops the client's own datagrams
 * where it runs, the replies would otherwise keep flowing to it, below the filter on the
 * fast path, through the socket on the socket path). A new rule set (w->judge_rules) starts a
 * lap of each relay's table from where its cursor (judge_next) is, round to it again; a
 * further change meanwhile starts a new lap there, never back at the first slot, so changes
 * that come faster than a lap cannot keep the far slots unjudged: every session meets the
 * cursor within a lap, and is judged by the rules in force then. At most
 * WORKER_JUDGE_PER_TICK map calls a turn (each counted, ends too): the reload that changed
 * the rules takes the first turn, each tick the next. Each turn starts with the relay after
 * the one the turn before started with, so one relay's laps (started again by every change)
 * cannot take every turn from the others. A session that opens after the change had its
 * first datagram judged by the program where the filter runs; one whose datagram passed under
 * the old rules (it waited in the socket) may open fast behind the cursor: fast_open judged
 * it by the rules in force, and the turn judges those it found denied again (judge_due)
 * before the lap, or when its fast path moved to another device (pmtu_read). */
static void judge_turn(struct worker *w)
{
	struct judge_state js = { .j.calls = FILTER_JUDGE_BEGIN_CALLS, .iif_judges = -1 };
	uint32_t first = WORKER_MAX_RELAYS, k, r;

	/* fast_open begins again with the rules in force from here */
	w->open_judged = false;
	for (k = 0; k < WORKER_MAX_RELAYS && judge_room(&js) && w->judge_f; k++) {
		struct worker_relay *wr;
		struct session_table *t;
		uint32_t had;

		r = (w->judge_first + k) % WORKER_MAX_RELAYS;
		wr = &w->relays[r];
		t = &wr->sessions;
		/* Also a relay whose fast path is off (a re-apply's keep_fast, a relay without
		 * one): its sessions are judged all the same. */
		if (wr->state != RELAY_SLOT_ACTIVE || !t->slots)
			continue;
		if (wr->judged != w->judge_rules) {
			wr->judged = w->judge_rules;
			wr->judge_left = t->capacity;
		}
		if (!wr->judge_left && !wr->n_due && !wr->due_walk)
			continue;
		if (first == WORKER_MAX_RELAYS)
			first = r;
		had = t->active;
		if (judge_due(w, r, &js) < 0)
			return;
		for (; wr->judge_left && judge_room(&js); wr->judge_left--,
		     wr->judge_next = wr->judge_next + 1 < t->capacity ? wr->judge_next + 1 : 0) {
			struct session *s = &t->slots[wr->judge_next];

			if (s->state != SESSION_ACTIVE)
				continue;
			/* (no rules to judge by: the next turn tries again) */
			if (judge_one(w, r, s, &js) < 0)
				return;
		}
		if (t->active != had)
			counter_set(&w->counters[r].sessions_active, t->active);
	}
	if (first != WORKER_MAX_RELAYS)
		w->judge_first = (first + 1) % WORKER_MAX_RELAYS;
}

/* Before an eviction judges the least recently used session: one busy only in the fast path
 * looks idle until the tick folds it, so fold the head while it is a fast session (a few at
 * most: each fold moves a busy one to the tail). */
static void fold_fast_head(struct worker *w, uint32_t r)
{
	struct session_table *t = &w->relays[r].sessions;
	uint32_t k, head;

	for (k = 0; k < 8 && w->fast.f && t->lru_head != SESSION_NONE; k++) {
		head = t->lru_head;
		if (!t->slots[head].fast)
			return;
		fold_one(w, r, &t->slots[head]);
		if (t->lru_head == head)
			return; /* idle in the fast path too */
	}
}

/* Opens relay r's socket to mirror member i. On failure the member stays without one
 * (mirror_fd -1): its copies are lost, counted as send errors, and the tick tries again. */
static int mirror_open_member(struct worker *w, uint32_t r, uint32_t i)
{
	struct worker_relay *wr = &w->relays[r];
	struct sock_source src = worker_source(wr, NULL);
	int fd = sock_open_upstream(&wr->mirror_addr[i], false, &src, NULL), err;

	if (fd < 0)
		return fd;
	wr->mirror_fd[i] = fd;
	wr->mirror_ovfl[i] = 0;
	err = w->ops->mirror_open ? w->ops->mirror_open(w, r, i) : 0;
	if (err < 0) {
		close(fd);
		wr->mirror_fd[i] = -1;
		wr->mirror_slot[i] = UINT32_MAX;
		return err;
	}
	wr->mirror_seg_max[i] = sock_seg_max(fd, &wr->mirror_addr[i]);
	return 0;
}

/* Members of mirror relay r left without a socket (no route to one when the pool last
 * changed, say) get one as soon as they can: once a second, from the tick. */
static void mirror_retry(struct worker *w, uint32_t r)
{
	struct worker_relay *wr = &w->relays[r];
	char buf[ADDR_STRLEN];
	uint32_t i;

	if (!wr->mirror_retry_ns || w->now < wr->mirror_retry_ns)
		return;
	wr->mirror_retry_ns = 0;
	for (i = 0; i < wr->n_mirror; i++) {
		if (wr->mirror_fd[i] >= 0)
			continue;
		if (mirror_open_member(w, r, i) == 0)
			log_info("worker %u: relay %s: upstream %s: socket open, copies go to it "
				 "again",
				 w->id, wr->conf->name,
				 addr_format(&wr->mirror_addr[i], buf, sizeof(buf)));
		else
			wr->mirror_retry_ns = w->now + 1000000000ull;
	}
}

/* ---------------------------------------------------------------- upstream_down = "move" */

/* The counter slots of pool p's members whose sessions are to end (a bit per slot), with
 * their members' gens in gen[slot]: enabled members the balancer leaves out for their health
 * (ejected, or down by the checks). None while the pool is in panic (every enabled member
 * takes new sessions then), nor a drained member (`upstream disable`: its sessions end as
 * usual). */
static uint64_t down_members(const struct pool *p, uint32_t *gen)
{
	uint64_t mask = 0;
	uint32_t i;

	if (!p || p->panic)
		return 0;
	for (i = 0; i < p->n; i++) {
		const struct pool_member *m = &p->m[i];

		if (!m->enabled || m->usable || m->state == HEALTH_UP ||
		    m->slot >= CONFIG_MAX_UPSTREAMS)
			continue;
		mask |= 1ull << m->slot;
		gen[m->slot] = m->gen;
	}
	return mask;
}

/* Relay slot r, forward with upstream_down = "move": ends its sessions whose upstream went
 * down, so that their clients' next datagrams open new ones through the balancer (as nginx's
 * UDP proxy does, and IPVS with expire_nodest_conn); a client that keeps sending would stay
 * on a dead upstream for good. Not per datagram: a pool the tick has not seen (health changes
 * publish a new one) begins a lap of the table when some member is down, at most a tick (1 s)
 * after, and a lap goes on over ticks within WORKER_DOWN_WALK_PER_TICK and
 * WORKER_DOWN_END_PER_TICK. New sessions do not go to a down member, so one lap per pool is
 * enough. A fast session's entries go first (end_session). */
static void move_sessions(struct worker *w, uint32_t r)
{
	struct worker_relay *wr = &w->relays[r];
	struct session_table *t = &wr->sessions;
	const struct pool *p = worker_pool(w, r);
	uint32_t walked = 0, ended = 0;

	if (!p || wr->mode != RELAY_MODE_FORWARD || wr->conf->upstream_down != UPSTREAM_DOWN_MOVE) {
		wr->down_seq = 0;
		wr->down_left = 0;
		return;
	}
	if (p->seq != wr->down_seq) {
		wr->down_seq = p->seq;
		wr->down_mask = down_members(p, wr->down_gen);
		wr->down_left = wr->down_mask ? t->capacity : 0;
	}
	if (wr->down_next >= t->capacity)
		wr->down_next = 0;
	for (; wr->down_left && walked < WORKER_DOWN_WALK_PER_TICK &&
	       ended < WORKER_DOWN_END_PER_TICK;
	     wr->down_left--, walked++,
	     wr->down_next = wr->down_next + 1 < t->capacity ? wr->down_next + 1 : 0) {
		struct session *s = &t->slots[wr->down_next];

		if (s->state != SESSION_ACTIVE || s->upstream >= CONFIG_MAX_UPSTREAMS ||
		    !(wr->down_mask >> s->upstream & 1) ||
		    wr->down_gen[s->upstream] != s->upstream_gen)
			continue;
		session_close(t, s);
		end_session(w, r, s, ACCESSLOG_UPSTREAM_DOWN);
		counter_add(&w->counters[r].sessions_moved, 1);
		ended++;
	}
}

void worker_tick(struct worker *w)
{
	struct session *s;
	uint32_t r;

	finish_draining(w);
	w->unread.reads = w->unread.taken = 0;
	for (r = 0; r < WORKER_MAX_RELAYS; r++) {
		struct worker_relay *wr = &w->relays[r];

		if (wr->state == RELAY_SLOT_ACTIVE && wr->n_mirror)
			mirror_retry(w, r);
		if (wr->state != RELAY_SLOT_ACTIVE || !wr->sessions.slots)
			continue;
		/* fold first: a reply the fast path relayed counts before the deadline check */
		fold_fast(w, r);
		check_replies(w, r);
		while ((s = session_expire_next(&wr->sessions, w->now))) {
			end_session(w, r, s, ACCESSLOG_IDLE);
			counter_add(&w->counters[r].sessions_expired, 1);
		}
		move_sessions(w, r);
		counter_set(&w->counters[r].sessions_active, wr->sessions.active);
	}
	judge_turn(w);
	pmtu_turn(w);
}

/* ---------------------------------------------------------------- applying a config */

/* Closes relay slot r's mirror socket j (when it has one), counting what it still holds
 * first: while the backend's receive is still armed on it, so that what that receive takes
 * instead comes as its completions, which io_uring counts after the close (on_mirror_recv),
 * and each datagram counts once. */
static void close_mirror(struct worker *w, uint32_t r, uint32_t j)
{
	struct worker_relay *wr = &w->relays[r];

	if (wr->mirror_fd[j] < 0)
		return;
	count_member_unread(w, r, j);
	if (w->ops->mirror_close)
		w->ops->mirror_close(w, r, j);
	close(wr->mirror_fd[j]);
	wr->mirror_fd[j] = -1;
}

static void close_mirrors(struct worker *w, uint32_t r)
{
	struct worker_relay *wr = &w->relays[r];
	uint32_t j;

	for (j = 0; j < wr->n_mirror; j++)
		close_mirror(w, r, j);
	wr->n_mirror = 0;
}

/* Makes relay r's mirror sockets match the members of its pool, keeping the sockets of those
 * that stay. A member whose socket cannot be opened costs its copies, not the relay. */
static void sync_mirrors(struct worker *w, uint32_t r)
{
	struct worker_relay *wr = &w->relays[r];
	const struct relay_conf *rc = wr->conf;
	const struct pool *p = worker_pool(w, r);
	int fd[CONFIG_MAX_UPSTREAMS];
	uint32_t slot[CONFIG_MAX_UPSTREAMS], ovfl[CONFIG_MAX_UPSTREAMS];
	bool kept[CONFIG_MAX_UPSTREAMS] = { false };
	uint32_t i, j;
	char buf[ADDR_STRLEN];
	int err;

	for (i = 0; i < p->n; i++) {
		fd[i] = -1;
		for (j = 0; j < wr->n_mirror; j++) {
			if (!kept[j] && addr_equal(&wr->mirror_addr[j], &p->m[i].addr)) {
				kept[j] = true;
				fd[i] = wr->mirror_fd[j];
				slot[i] = wr->mirror_slot[j];
				ovfl[i] = wr->mirror_ovfl[j];
				break;
			}
		}
	}
	for (j = 0; j < wr->n_mirror; j++) {
		if (!kept[j])
			close_mirror(w, r, j);
	}
	wr->n_mirror = p->n;
	wr->members_gen = p->members_gen;
	for (i = 0; i < p->n; i++) {
		wr->mirror_addr[i] = p->m[i].addr;
		wr->mirror_fd[i] = fd[i];
		wr->mirror_slot[i] = fd[i] >= 0 ? slot[i] : UINT32_MAX;
		wr->mirror_ovfl[i] = fd[i] >= 0 ? ovfl[i] : 0;
		wr->mirror_uslot[i] = p->m[i].slot;
		member_uc(w, r, &p->m[i]);
	}
	wr->mirror_retry_ns = 0;
	for (i = 0; i < p->n; i++) {
		/* Asked again at every sync: a reload is when a changed route is most likely
		 * noticed. */
		if (wr->mirror_fd[i] >= 0) {
			wr->mirror_seg_max[i] = sock_seg_max(wr->mirror_fd[i], &wr->mirror_addr[i]);
			continue;
		}
		err = mirror_open_member(w, r, i);
		if (err == 0)
			continue;
		wr->mirror_seg_max[i] = sock_seg_max(-1, &wr->mirror_addr[i]);
		wr->mirror_retry_ns = w->now + 1000000000ull;
		log_warn("worker %u: relay %s: upstream %s: %s; its copies are lost (send_error) "
			 "until its socket opens, tried every second",
			 w->id, rc->name, addr_format(&wr->mirror_addr[i], buf, sizeof(buf)),
			 strerror(-err));
	}
}

static bool upstream_kept(const struct worker *w, uint32_t r, const struct session *s)
{
	return pool_find(worker_pool(w, r), &s->upstream_addr) >= 0;
}

/* A kept session's upstream may have a new counter slot (a reload changed its entry's text,
 * or a re-resolution moved the address under another entry): the session counts into the
 * member's slot from now on, not into one that may be given to another member. */
static void repoint_sessions(struct worker *w, uint32_t r)
{
	struct session_table *t = &w->relays[r].sessions;
	const struct pool *p = worker_pool(w, r);
	uint32_t i;
	int k;

	for (i = 0; t->slots && i < t->capacity; i++) {
		struct session *s = &t->slots[i];
		const struct pool_member *m;

		if (s->state != SESSION_ACTIVE || s->upstream >= CONFIG_MAX_UPSTREAMS ||
		    (k = pool_find(p, &s->upstream_addr)) < 0)
			continue;
		m = &p->m[k];
		if (m->slot == s->upstream && m->gen == s->upstream_gen)
			continue;
		session_ended(w, r, s); /* off the old slot's sessions_active */
		s->upstream = m->slot;
		s->upstream_gen = m->gen;
		counter_add(&member_uc(w, r, m)->sessions_active, 1);
	}
}

/* Gives relay slot r a region of cap fixed-file slots for its sessions: fresh ones while the
 * session area lasts, then the region of a slot no relay uses any more. */
static int take_region(struct worker *w, uint32_t r, uint32_t cap)
{
	bool unused[WORKER_MAX_RELAYS];
	uint32_t i;

	for (i = 0; i < WORKER_MAX_RELAYS; i++)
		unused[i] = w->relays[i].state == RELAY_SLOT_UNUSED;
	return slots_take_region(&w->regions, r, cap, unused);
}

/* Brings relay slot r to serve relay i of cmd's config. */
static int apply_relay(struct worker *w, uint32_t r, uint32_t i, struct worker_cmd *cmd)
{
	struct worker_relay *wr = &w->relays[r];
	const struct relay_conf *rc = &cmd->cfg->relays[i];
	uint32_t cap = cmd->plan->sessions[i];
	bool fresh = wr->state != RELAY_SLOT_ACTIVE;
	uint64_t timeout = (uint64_t)(rc->session_timeout * 1e9);
	bool transparent = rc->source == SOURCE_CLIENT;
	int err;

	if (fresh && strcmp(wr->counted, rc->name)) {
		snprintf(wr->counted, sizeof(wr->counted), "%s", rc->name);
		memset(&w->counters[r], 0, sizeof(w->counters[r]));
		memset(worker_uc(w, r, 0), 0, CONFIG_MAX_UPSTREAMS * sizeof(*w->uc));
		memset(wr->uc_gen, 0, sizeof(wr->uc_gen));
	}
	/* after the reset: a sum that reads this generation reads the zeros */
	__atomic_store_n(&wr->counted_gen, cmd->slot_gen ? cmd->slot_gen[r] : 0, __ATOMIC_RELEASE);
	/* rr: each worker from its own place in the order, not all from its first member; also
	 * at a reload (one that turned rr on found every worker at 0) */
	wr->rr_state = worker_pool(w, r) ? balancer_rr_start(&worker_pool(w, r)->bal, w->id) : 0;
	if (fresh)
		wr->noreply_len = 0;
	else
		noreply_clamp(w, r, rc);
	/* Leaving forward mode ends its sessions; leaving mirror mode its upstream sockets. A
	 * transparent mirror has sessions and no mirror sockets. */
	if (!fresh && (wr->mode != rc->mode || wr->transparent != transparent)) {
		close_sessions(w, r, NULL, ACCESSLOG_MODE_CHANGED);
		close_mirrors(w, r);
	}
	wr->conf = rc;
	wr->transparent = transparent;
	if ((rc->mode == RELAY_MODE_FORWARD || transparent) && !wr->sessions.slots) {
		/* A reused slot keeps its region when the new table fits in it. */
		if (w->regions.size[r] < cap) {
			err = take_region(w, r, cap);
			if (err) {
				snprintf(cmd->error, sizeof(cmd->error),
					 "relay %s: no room for %u more sessions per worker until "
					 "a removed relay has drained or a restart",
					 rc->name, cap);
				return err;
			}
		}
		/* the evictions remembered were of the table this one replaces */
		memset(wr->evicted, 0, sizeof(wr->evicted));
		wr->evicted_next = 0;
		/* a new table: judge_turn's lap starts at its first slot */
		wr->judged = 0;
		wr->judge_next = 0;
		wr->n_due = 0;
		wr->due_walk = false;
		err = session_table_init(&wr->sessions, cap, timeout);
		if (err) {
			/* Anything but these is getrandom's: no table runs on a guessable key. */
			snprintf(cmd->error, sizeof(cmd->error), "relay %s: session table: %s%s",
				 rc->name,
				 err == -ENOMEM || err == -EINVAL ? ""
								  : "no hash key from getrandom: ",
				 strerror(-err));
			return err;
		}
		/* Completions of the slot's previous table may still come (session_gens). */
		session_gens_seed(&wr->gens, &wr->sessions);
	}
	/* A changed max_sessions applies after a restart: the table is sized once. */
	wr->sessions.timeout_ns = timeout;
	/* SO_REUSEPORT spreads one address's flows over the workers: each holds it to its
	 * share. A lowered limit ends no session; it refuses new ones. The whole table is no
	 * limit of its own. */
	wr->sessions.max_per_source =
	    rc->max_sessions_per_source >= rc->max_sessions
		? 0
		: (rc->max_sessions_per_source + cmd->plan->n_workers - 1) / cmd->plan->n_workers;
	wr->mode = rc->mode;
	set_slot_state(wr, RELAY_SLOT_ACTIVE);
	if (rc->mode == RELAY_MODE_MIRROR) {
		if (transparent) {
			const struct pool *p = worker_pool(w, r);
			uint32_t m;

			/* No mirror sockets, but each member's counters follow it as theirs do. */
			wr->members_gen = p->members_gen;
			for (m = 0; m < p->n; m++)
				member_uc(w, r, &p->m[m]);
			return 0;
		}
		sync_mirrors(w, r);
		return 0;
	}
	/* Sessions on upstreams that are gone end now; their clients get a new upstream with
	 * their next datagram. The others stay where they are. */
	if (!fresh) {
		close_sessions(w, r, upstream_kept, ACCESSLOG_UPSTREAM_REMOVED);
		repoint_sessions(w, r);
	}
	/* (sessions repointed to other counter slots, a new table: the tick walks again) */
	wr->down_seq = 0;
	return 0;
}

/* Takes relay slot r's sessions off the fast path (they stay on the socket path, those parked
 * for their routes too). */
static void unfast_sessions(struct worker *w, uint32_t r)
{
	struct session_table *t = &w->relays[r].sessions;
	uint32_t i;

	for (i = 0; t->slots && i < t->capacity; i++) {
		t->slots[i].fast_parked = false;
		if (t->slots[i].state == SESSION_ACTIVE && t->slots[i].fast)
			fast_close(w, r, &t->slots[i]);
	}
}

/* The program goes away, and its per-session counts with it: a later program starts its
 * slots at zero, so no slot may fold against counts the old one left (they would wrap). */
static void forget_flows(struct session_table *t)
{
	uint32_t i;

	for (i = 0; t->slots && i < t->capacity; i++)
		t->slots[i].flow = SESSION_NONE;
}

/* Nothing judges clients any more (judge_turn: no program): a denied mark would never be
 * cleared, so replies would never keep those sessions again; all go. */
static void forget_denied(struct session_table *t)
{
	uint32_t i;

	for (i = 0; t->slots && i < t->capacity; i++)
		t->slots[i].denied = false;
}

/* Brings the fast path in line with cmd: the program (sessions of a program that goes away
 * leave it first), which relays use it, and the filter's verdict on their clients: judged
 * again when the rules changed, from here over ticks (judge_turn). */
static void apply_fast(struct worker *w, struct worker_cmd *cmd)
{
	const struct config *cfg = cmd->cfg;
	uint32_t i, r;

	if (w->fast.f && w->fast.f != cmd->fast) {
		for (r = 0; r < WORKER_MAX_RELAYS; r++)
			if (w->relays[r].state != RELAY_SLOT_UNUSED) {
				unfast_sessions(w, r);
				forget_flows(&w->relays[r].sessions);
			}
	}
	if (w->judge_f && !cmd->judge)
		for (r = 0; r < WORKER_MAX_RELAYS; r++)
			if (w->relays[r].state != RELAY_SLOT_UNUSED)
				forget_denied(&w->relays[r].sessions);
	if (w->fast.f != cmd->fast) {
		/* (another program, or none: the sessions due left the one that goes) */
		for (r = 0; r < WORKER_MAX_RELAYS; r++) {
			w->relays[r].n_due = 0;
			w->relays[r].due_walk = false;
		}
	}
	/* Another program's rule versions are its own (a new load starts again at 1): a lap
	 * under it whatever they are (review-openpark 2). */
	if (w->judge_f != cmd->judge)
		for (r = 0; r < WORKER_MAX_RELAYS; r++)
			w->relays[r].judged = 0;
	w->fast.f = cmd->fast;
	w->judge_f = cmd->judge;
	w->judge_rules = cmd->judge_rules;
	/* The flow maps and this worker's session regions are sized by the plan at start; a
	 * reload's plan may count other relays. */
	w->fast.flow_base = w->id * w->plan->session_slots;
	w->fast.max_payload = w->plan->payload_max;
	w->fast.reply_max_payload = w->plan->reply_payload_max;
	for (i = 0; i < cfg->n_relays; i++) {
		struct worker_relay *wr = &w->relays[cmd->relay_slot[i]];
		bool on = cmd->fast && cmd->offload && cmd->offload[i] &&
			  cfg->relays[i].mode == RELAY_MODE_FORWARD;

		if (wr->state != RELAY_SLOT_ACTIVE) /* not in force here (worker_apply) */
			continue;
		/* Also where a re-apply kept them (keep_fast): a reload may turn the fast path off
		 * for the relay, and its entries must go. */
		if (!on && !cmd->keep_fast && w->fast.f)
			unfast_sessions(w, cmd->relay_slot[i]);
		wr->offload = on;
	}
	judge_turn(w);
}

static void retire_relay(struct worker *w, uint32_t r, enum accesslog_reason why)
{
	struct worker_relay *wr = &w->relays[r];

	close_sessions(w, r, NULL, why);
	close_mirrors(w, r);
	wr->offload = false;
	wr->conf = NULL;
	set_slot_state(wr, RELAY_SLOT_DRAINING);
}

static void close_listener(struct worker *w, uint32_t li)
{
	struct listener *l = &w->listeners[li];

	if (w->ops->listener_close)
		w->ops->listener_close(w, li);
	close(l->fd);
	l->fd = -1;
	l->in_use = false;
	l->gen++;
	l->ovfl_last = 0;
}

/* Which listen address of cfg (relay slot through relay_slot) l serves, or false. */
static bool find_listen(const struct worker_cmd *cmd, const struct addr *a, uint32_t *slot)
{
	const struct config *cfg = cmd->cfg;
	uint32_t i, j;

	for (i = 0; i < cfg->n_relays; i++) {
		for (j = 0; j < cfg->relays[i].n_listen; j++) {
			if (addr_equal(&cfg->relays[i].listen[j], a)) {
				*slot = cmd->relay_slot[i];
				return true;
			}
		}
	}
	return false;
}

/* Whether cfg runs a filter: then every listener reports the interface each datagram came by
 * (pktinfo), which its session keeps (rx_iif) for judge_one. */
static bool filter_runs(const struct config *cfg)
{
	return cfg->filter.mode != FILTER_MODE_OFF;
}

/* Opens listen address j of relay i of cmd's config (in relay slot relay); start: the
 * worker's first config (an error's advice differs from a reload's). */
static int open_listener(struct worker *w, uint32_t i, uint32_t j, uint32_t relay, bool start,
			 struct worker_cmd *cmd)
{
	const struct addr *a = &cmd->cfg->relays[i].listen[j];
	char buf[ADDR_STRLEN], where[CONFIG_PATH_LEN + 64];
	struct sock_route_keys keys;
	uint32_t li;
	int fd, err;

	for (li = 0; li < WORKER_MAX_LISTENERS && w->listeners[li].in_use; li++)
		;
	if (li == WORKER_MAX_LISTENERS) {
		/* (a config has at most as many: only a reload that swaps many finds none) */
		snprintf(cmd->error, sizeof(cmd->error),
			 "%s: %s: no free listener slot: the worker holds %u listeners, its most; "
			 "a reload opens new ones before it closes those it removes: remove them "
			 "in one reload and add the new ones in the next, or restart",
			 config_listen_where(cmd->cfg, i, j, where, sizeof(where)),
			 addr_format(a, buf, sizeof(buf)), WORKER_MAX_LISTENERS);
		return -ENOSPC;
	}
	fd = sock_open_listener(a, cmd->cfg->gro, w->steer_cpu ? w->cpu : -1, filter_runs(cmd->cfg));
	/* Read once, not at each session open: nothing changes them while the socket lives (no
	 * mark or device is set on a listener; its owner is the thread that made it). */
	if (fd >= 0) {
		err = sock_route_keys(fd, &keys);
		if (err) {
			close(fd);
			fd = err;
		}
	}
	if (fd < 0) {
		snprintf(cmd->error, sizeof(cmd->error), "%s: %s: %s%s",
			 config_listen_where(cmd->cfg, i, j, where, sizeof(where)),
			 addr_format(a, buf, sizeof(buf)), strerror(-fd),
			 sock_listen_hint(fd, start));
		return fd;
	}
	w->listeners[li] = (struct listener){ .in_use = true, .addr = *a, .relay = relay,
					      .gen = w->listeners[li].gen, .fd = fd, .keys = keys,
					      .wildcard = addr_is_any(a),
					      .pktinfo = addr_is_any(a) || filter_runs(cmd->cfg) };
	err = w->ops->listener_open(w, li);
	if (err) {
		snprintf(cmd->error, sizeof(cmd->error), "%s: %s: %s",
			 config_listen_where(cmd->cfg, i, j, where, sizeof(where)),
			 addr_format(a, buf, sizeof(buf)), strerror(-err));
		close(fd);
		w->listeners[li].fd = -1;
		w->listeners[li].in_use = false;
	}
	return err;
}

/* A session answers through the listener it arrived on; it ends with that listener. */
static bool listener_kept(const struct worker *w, uint32_t r, const struct session *s)
{
	const struct listener *l = &w->listeners[s->listener];

	return l->in_use && l->relay == r;
}

/* A reload changed steering (steer.h): the listeners that stay get the new mark in place,
 * and new ones open with it. A listener the kernel refuses it keeps the old one. */
static void steer_listeners(struct worker *w, bool on)
{
	uint32_t li;
	int err;

	for (li = 0; li < WORKER_MAX_LISTENERS; li++) {
		if (!w->listeners[li].in_use)
			continue;
		err = sock_steer(w->listeners[li].fd, on ? w->cpu : -1);
		if (err)
			log_warn("worker %u: steering of listener %u: %s", w->id, li, strerror(-err));
	}
	w->steer_cpu = on;
}

/* A reload turned the filter on or off (filter_runs): the listeners that stay report pktinfo
 * or stop, as new ones open. Without it a listener opened before the filter never told its
 * sessions' rx_iif, and they were judged where the filter does not run; one opened with it
 * paid for a cmsg per datagram after. Wildcards keep it: their replies' source needs it. A
 * listener the kernel refuses keeps what it had (turning it on: its sessions are judged, as
 * before). */
static void pktinfo_listeners(struct worker *w, bool on)
{
	char buf[ADDR_STRLEN];
	uint32_t li;
	int err;

	for (li = 0; li < WORKER_MAX_LISTENERS; li++) {
		struct listener *l = &w->listeners[li];
		bool want = l->wildcard || on;

		if (!l->in_use || l->pktinfo == want)
			continue;
		err = sock_report_pktinfo(l->fd, &l->addr, want);
		if (err) {
			log_warn("worker %u: listener %s: turning its interface reporting (pktinfo) "
				 "%s: %s%s",
				 w->id, addr_format(&l->addr, buf, sizeof(buf)), want ? "on" : "off",
				 strerror(-err),
				 want ? "; its sessions are judged wherever their clients come by"
				      : "; it goes on reporting");
			continue;
		}
		l->pktinfo = want;
	}
}

/* Remembers the first of a worker_apply's errors, and its text, which a later one overwrites. */
static void first_error(int *first, char *why, size_t len, int err, const char *text)
{
	if (err && !*first) {
		*first = err;
		snprintf(why, len, "%s", text);
	}
}

/* Applies cmd's config to the worker. A relay that cannot be applied here (no room for its
 * sessions, a mirror socket refused) is ended on this worker, with its listeners, and the
 * rest is applied all the same: afterwards nothing of the worker points into the previous
 * config, which the reload frees. Returns the first error (its text in cmd->error). */
int worker_apply(struct worker *w, struct worker_cmd *cmd)
{
	const struct config *cfg = cmd->cfg;
	bool wanted[WORKER_MAX_RELAYS] = { false };
	char why[sizeof(cmd->error)] = "";
	uint32_t i, j, li, slot;
	int err, first = 0;
	bool start = !w->cfg; /* the first config this worker applies */

	finish_draining(w);
	for (i = 0; i < cfg->n_relays; i++)
		wanted[cmd->relay_slot[i]] = true;
	for (i = 0; i < WORKER_MAX_RELAYS; i++)
		if (w->relays[i].state == RELAY_SLOT_ACTIVE && !wanted[i])
			retire_relay(w, i, ACCESSLOG_RELAY_REMOVED);
	for (i = 0; i < cfg->n_relays; i++) {
		struct worker_relay *wr = &w->relays[cmd->relay_slot[i]];

		err = apply_relay(w, cmd->relay_slot[i], i, cmd);
		if (!err)
			continue;
		first_error(&first, why, sizeof(why), err, cmd->error);
		if (wr->state == RELAY_SLOT_ACTIVE)
			retire_relay(w, cmd->relay_slot[i], ACCESSLOG_RELAY_REMOVED);
		wr->conf = NULL;
	}
	w->cfg = cfg;
	if (cmd->steer_cpu != w->steer_cpu)
		steer_listeners(w, cmd->steer_cpu);
	/* Listeners whose address stays keep their socket, and so their queued datagrams. New
	 * ones open before old ones close, so a slot index is never reused within one apply. */
	for (i = 0; i < cfg->n_relays; i++) {
		if (w->relays[cmd->relay_slot[i]].state != RELAY_SLOT_ACTIVE)
			continue;
		for (j = 0; j < cfg->relays[i].n_listen; j++) {
			const struct addr *a = &cfg->relays[i].listen[j];

			for (li = 0; li < WORKER_MAX_LISTENERS; li++)
				if (w->listeners[li].in_use && addr_equal(&w->listeners[li].addr, a))
					break;
			if (li < WORKER_MAX_LISTENERS) {
				w->listeners[li].relay = cmd->relay_slot[i];
				continue;
			}
			err = open_listener(w, i, j, cmd->relay_slot[i], start, cmd);
			first_error(&first, why, sizeof(why), err, cmd->error);
		}
	}
	/* Gone from the config, or of a relay that is not in force here. */
	for (li = 0; li < WORKER_MAX_LISTENERS; li++)
		if (w->listeners[li].in_use &&
		    (!find_listen(cmd, &w->listeners[li].addr, &slot) ||
		     w->relays[slot].state != RELAY_SLOT_ACTIVE))
			close_listener(w, li);
	pktinfo_listeners(w, filter_runs(cfg));
	for (i = 0; i < cfg->n_relays; i++)
		if (w->relays[cmd->relay_slot[i]].sessions.slots)
			close_sessions(w, cmd->relay_slot[i], listener_kept,
				       ACCESSLOG_LISTENER_REMOVED);
	apply_fast(w, cmd);
	if (first)
		snprintf(cmd->error, sizeof(cmd->error), "%s", why);
	return first;
}

void worker_close_all(struct worker *w)
{
	uint32_t i;

	for (i = 0; i < WORKER_MAX_LISTENERS; i++)
		if (w->listeners[i].in_use)
			close_listener(w, i);
	for (i = 0; i < WORKER_MAX_RELAYS; i++)
		if (w->relays[i].state == RELAY_SLOT_ACTIVE)
			retire_relay(w, i, ACCESSLOG_SHUTDOWN);
}

/* ---------------------------------------------------------------- commands from main */

static void snapshot_sessions(struct worker *w, struct worker_cmd *cmd)
{
	uint32_t r, i, k, relay;

	for (r = 0; r < WORKER_MAX_RELAYS; r++) {
		struct worker_relay *wr = &w->relays[r];
		struct session_table *t = &wr->sessions;

		if (wr->state != RELAY_SLOT_ACTIVE || (cmd->relay != UINT32_MAX && cmd->relay != r))
			continue;
		/* The relay's index in the config in force, for the listing. */
		for (relay = 0, k = 0; k < w->cfg->n_relays; k++)
			if (cmd->relay_slot[k] == r)
				relay = k;
		for (i = 0; t->slots && i < t->capacity; i++) {
			const struct session *s = &t->slots[i];
			struct session_info *si;

			if (s->state != SESSION_ACTIVE)
				continue;
			cmd->total++;
			if (cmd->n >= cmd->max)
				continue;
			si = &cmd->out[cmd->n++];
			si->worker = w->id;
			si->relay = relay;
			si->client = s->client;
			si->local = s->local;
			si->upstream = s->upstream_addr;
			si->idle_ms = w->now > s->last_active ? (w->now - s->last_active) / 1000000 : 0;
			si->fast = s->fast;
			si->fast_pkts = s->fast_pkts;
			si->fast_refused = s->fast_refused;
			si->fast_mtu[0] = s->fast ? s->fast_mtu[0] : 0;
			si->fast_mtu[1] = s->fast ? s->fast_mtu[1] : 0;
		}
	}
}

bool worker_run_cmd(struct worker *w)
{
	struct worker_cmd *cmd;
	uint64_t v;

	if (read(w->cmd_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return false;
	pthread_mutex_lock(&w->sync->lock);
	cmd = w->cmd;
	w->cmd = NULL;
	if (cmd)
		cmd->taken = true;
	pthread_mutex_unlock(&w->sync->lock);
	if (!cmd)
		return false;
	w->now = worker_clock();
	if (cmd->type == WORKER_CMD_APPLY)
		cmd->result = worker_apply(w, cmd);
	else
		snapshot_sessions(w, cmd);
	pthread_mutex_lock(&w->sync->lock);
	cmd->done = true;
	pthread_cond_broadcast(&w->sync->cond);
	pthread_mutex_unlock(&w->sync->lock);
	return true;
}

int worker_sync_init(struct worker_sync *sync)
{
	pthread_condattr_t attr;
	int ret;

	memset(sync, 0, sizeof(*sync));
	sync->failed_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sync->failed_fd < 0)
		return -errno;
	ret = pthread_condattr_init(&attr);
	if (!ret)
		ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(&sync->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (!ret)
		ret = pthread_mutex_init(&sync->lock, NULL);
	return -ret;
}

uint64_t worker_ms(void)
{
	return clock_ms();
}

void worker_post(struct worker *w, struct worker_cmd *cmd)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->sync->lock);
	cmd->done = false;
	cmd->taken = false;
	w->cmd = cmd;
	pthread_mutex_unlock(&w->sync->lock);
	if (write(w->cmd_fd, &one, sizeof(one)) < 0)
		return; /* an eventfd write fails only on counter overflow */
}

static struct timespec worker_deadline_ts(uint64_t deadline_ms)
{
	return (struct timespec){ .tv_sec = (time_t)(deadline_ms / 1000),
				  .tv_nsec = (long)(deadline_ms % 1000) * 1000000 };
}

int worker_wait(struct worker *w, struct worker_cmd *cmd, uint64_t deadline_ms)
{
	struct worker_sync *sync = w->sync;
	struct timespec ts;
	int ret = 0;

	pthread_mutex_lock(&sync->lock);
	while (!cmd->done) {
		uint64_t until = deadline_ms;

		if (cmd->taken && !sync->stopping) {
			pthread_cond_wait(&sync->cond, &sync->lock);
			continue;
		}
		if (sync->stopping && (cmd->taken || sync->stop_deadline_ms < until))
			until = sync->stop_deadline_ms;
		ts = worker_deadline_ts(until);
		if (pthread_cond_timedwait(&sync->cond, &sync->lock, &ts) != ETIMEDOUT || cmd->done)
			continue;
		if (!cmd->taken) {
			/* Not begun: take it back, so the worker never reads it. */
			if (w->cmd == cmd)
				w->cmd = NULL;
			ret = -ETIMEDOUT;
			break;
		}
		if (sync->stopping && worker_ms() >= sync->stop_deadline_ms) {
			ret = -ECANCELED; /* begun and stuck in it: cmd stays the worker's */
			break;
		}
	}
	pthread_mutex_unlock(&sync->lock);
	return ret;
}

bool worker_sync_is_stopping(struct worker_sync *sync)
{
	bool stopping;

	pthread_mutex_lock(&sync->lock);
	stopping = sync->stopping;
	pthread_mutex_unlock(&sync->lock);
	return stopping;
}

void worker_sync_stopping(struct worker_sync *sync, uint64_t deadline_ms)
{
	pthread_mutex_lock(&sync->lock);
	if (!sync->stopping) {
		sync->stopping = true;
		sync->stop_deadline_ms = deadline_ms;
	}
	/* waiters on begun commands re-read their deadline */
	pthread_cond_broadcast(&sync->cond);
	pthread_mutex_unlock(&sync->lock);
}

/* ---------------------------------------------------------------- the thread */

struct thread_arg {
	struct worker *w;
	struct worker_cmd *first;
};

static void *worker_thread(void *arg)
{
	struct thread_arg *ta = arg;
	struct worker *w = ta->w;
	struct worker_cmd *first = ta->first;
	cpu_set_t set;
	sigset_t all;
	int err;

	free(ta);
	/* Only main handles signals (signalfd); workers are stopped through stop_fd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err) {
		snprintf(w->error, sizeof(w->error), "worker %u: pin to CPU %d: %s", w->id, w->cpu,
			 strerror(err));
		worker_report(w, WORKER_FAILED);
		return (void *)(intptr_t)-err;
	}
	err = w->ops->run(w, first);
	pthread_mutex_lock(&w->sync->lock);
	/* A loop that ran and ended on an error (not a set-up the start reports): the relay
	 * lost this worker's sockets, sessions and timers; main is told. */
	w->failed = err && w->state == WORKER_STOPPING;
	pthread_mutex_unlock(&w->sync->lock);
	if (w->failed && write(w->sync->failed_fd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0)
		log_err("%s: cannot tell main: %s", w->error, strerror(errno));
	return (void *)(intptr_t)err;
}

int worker_start(struct worker *w, struct worker_cmd *first)
{
	struct thread_arg *ta = malloc(sizeof(*ta));
	char name[16];
	int err;

	if (!ta)
		return -ENOMEM;
	ta->w = w;
	ta->first = first;
	w->state = WORKER_STARTING;
	err = pthread_create(&w->thread, NULL, worker_thread, ta);
	if (err) {
		free(ta);
		return -err;
	}
	snprintf(name, sizeof(name), "ringrelay-w%u", w->id);
	pthread_setname_np(w->thread, name);
	return 0;
}

void worker_stop(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->stop_fd, &one, sizeof(one)) < 0)
		return; /* an eventfd write fails only on counter overflow */
}

int worker_join(struct worker *w)
{
	void *ret = NULL;

	pthread_join(w->thread, &ret);
	return (int)(intptr_t)ret;
}

int worker_await_stop(struct worker *w, uint64_t deadline_ms)
{
	struct timespec ts = worker_deadline_ts(deadline_ms);
	int ret = 0;

	pthread_mutex_lock(&w->sync->lock);
	while (w->state == WORKER_STARTING || w->state == WORKER_READY) {
		if (pthread_cond_timedwait(&w->sync->cond, &w->sync->lock, &ts) == ETIMEDOUT) {
			if (w->state == WORKER_STARTING || w->state == WORKER_READY)
				ret = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&w->sync->lock);
	return ret;
}
