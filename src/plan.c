// SPDX-License-Identifier: MIT
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "plan.h"
#include "sock.h"

static uint32_t pow2_at_least(uint64_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

static bool host_has_cpu(const struct plan_host *host, int cpu)
{
	uint32_t i;

	for (i = 0; i < host->n_cpus; i++)
		if (host->cpus[i] == cpu)
			return true;
	return false;
}

/* Session slots a worker's ring registers for sessions[] per worker in all: twice them, at
 * least 1024 more, so that a reload can add relays (and a replaced relay drain beside its
 * successor) without a restart; a session region outlives its relay (slots.h). */
static uint64_t session_slots(uint64_t sessions)
{
	return sessions * 2 > sessions + 1024 ? sessions * 2 : sessions + 1024;
}

/* The relay of cfg with the most sessions per worker in plan: what a message about their
 * total names; UINT32_MAX when no relay has sessions. */
static uint32_t biggest_relay(const struct config *cfg, const struct plan *plan)
{
	uint32_t i, best = UINT32_MAX;

	for (i = 0; i < cfg->n_relays; i++)
		if (plan->sessions[i] &&
		    (best == UINT32_MAX || plan->sessions[i] > plan->sessions[best]))
			best = i;
	return best;
}

/* A relay's share of its max_sessions on each of n workers: rounded up, so that the relay's
 * total is at least max_sessions. */
static uint32_t share_per_worker(uint32_t max_sessions, uint32_t n)
{
	return (uint32_t)(((uint64_t)max_sessions + n - 1) / n);
}

/* Sessions per worker of cfg's relays over n workers, as plan_build splits them. */
static uint64_t sessions_per_worker(const struct config *cfg, const struct plan *plan, uint32_t n)
{
	uint64_t sum = 0;
	uint32_t i;

	for (i = 0; i < cfg->n_relays; i++)
		if (plan->sessions[i])
			sum += share_per_worker(cfg->relays[i].max_sessions, n);
	return sum;
}

/* The slots of cfg's sessions do not fit a worker's ring: says so at the biggest relay's
 * max_sessions, with the workers that would make them fit. */
static int too_many_slots(const struct config *cfg, const struct plan *plan, uint64_t slots,
			  char *err, size_t errlen)
{
	const uint32_t room = PLAN_MAX_FIXED_FILES - PLAN_SESSION_BASE;
	uint32_t r = biggest_relay(cfg, plan), w;
	const struct relay_conf *rc = &cfg->relays[r];
	char fix[96] = "";

	for (w = plan->n_workers + 1; w <= PLAN_MAX_WORKERS; w++) {
		if (session_slots(sessions_per_worker(cfg, plan, w)) <= room) {
			snprintf(fix, sizeof(fix), "set workers to at least %u, or ", w);
			break;
		}
	}
	snprintf(err, errlen,
		 "%s:%d: relays[%u].max_sessions: %u sessions over %u worker%s need %llu session "
		 "slots per worker (twice the sessions, so that a reload can add relays), more "
		 "than a worker's io_uring can register (%u): a worker holds at most %u "
		 "sessions; %slower max_sessions",
		 cfg->path, rc->max_sessions_line, r, rc->max_sessions, plan->n_workers,
		 plan->n_workers == 1 ? "" : "s", (unsigned long long)slots, room, room / 2, fix);
	return -EINVAL;
}

uint32_t plan_claims(const struct config *cfg)
{
	uint64_t seen[65536 / 64] = { 0 };
	uint32_t i, j, n = 0;
	uint16_t port;

	for (i = 0; i < cfg->n_relays; i++) {
		for (j = 0; j < cfg->relays[i].n_listen; j++) {
			port = addr_port(&cfg->relays[i].listen[j]);
			if (seen[port / 64] & (UINT64_C(1) << (port % 64)))
				continue;
			seen[port / 64] |= UINT64_C(1) << (port % 64);
			n++;
		}
	}
	return n;
}

/* The descriptors each of plan's workers takes whatever the relays' max_sessions (each at
 * 1), so that lowering max_sessions cannot bring the plan under a limit. */
static uint64_t nofile_per_worker(const struct plan *plan, uint32_t n_relays)
{
	uint64_t relays = 0;
	uint32_t i;

	for (i = 0; i < n_relays; i++)
		relays += plan->sessions[i] ? 1 : 0;
	return PLAN_SESSION_BASE + session_slots(relays) + 8;
}

/* "FILE:LINE: workers: N workers", or without a line where the file leaves it unset. */
static void workers_where(const struct config *cfg, const struct plan *plan, char *buf,
			  size_t len)
{
	if (cfg->workers_line)
		snprintf(buf, len, "%s:%d: workers: %u workers", cfg->path, cfg->workers_line,
			 plan->n_workers);
	else
		snprintf(buf, len, "%s: workers: %u workers (one per CPU: workers is unset)",
			 cfg->path, plan->n_workers);
}

int plan_check_nofile(const struct config *cfg, const struct plan *plan,
		      const struct plan_nofile *lim, char *err, size_t errlen)
{
	uint32_t r = biggest_relay(cfg, plan);
	char where[CONFIG_PATH_LEN + 96], why[200];
	uint64_t total = 0, most, floor, per_worker;
	uint32_t i;

	if (lim->soft >= plan->nofile || lim->hard >= plan->nofile ||
	    (lim->can_raise && lim->nr_open >= plan->nofile))
		return 0;
	if (lim->can_raise)
		snprintf(why, sizeof(why),
			 "the kernel allows no more than fs.nr_open = %llu (raise it with sysctl)",
			 (unsigned long long)lim->nr_open);
	else
		snprintf(why, sizeof(why),
			 "the hard RLIMIT_NOFILE is %llu and this process may not raise it (no "
			 "CAP_SYS_RESOURCE): raise LimitNOFILE= in the unit, or ulimit -Hn, to at "
			 "least %llu",
			 (unsigned long long)lim->hard, (unsigned long long)plan->nofile);
	most = lim->hard > lim->soft ? lim->hard : lim->soft;
	if (lim->can_raise && lim->nr_open > most)
		most = lim->nr_open;
	/* The workers alone need more than the limit (always so when no relay has sessions):
	 * lowering max_sessions cannot help, fewer workers can. */
	per_worker = nofile_per_worker(plan, cfg->n_relays);
	floor = plan->n_workers * per_worker + 64 + plan->n_claims;
	if (r == UINT32_MAX || floor > most) {
		workers_where(cfg, plan, where, sizeof(where));
		snprintf(err, errlen,
			 "%s need at least %llu file descriptors whatever max_sessions (%llu per "
			 "worker: %u for listeners and mirror sockets, 1024 spare session slots so "
			 "that a reload can add relays, one per relay's session; %llu with "
			 "max_sessions as set), but %s, or lower workers",
			 where, (unsigned long long)floor,
			 (unsigned long long)per_worker,
			 PLAN_SESSION_BASE, (unsigned long long)plan->nofile, why);
		return -EMFILE;
	}
	/* (as written: the plan's shares are rounded up per worker) */
	for (i = 0; i < cfg->n_relays; i++)
		if (plan->sessions[i])
			total += cfg->relays[i].max_sessions;
	snprintf(where, sizeof(where), "%s:%d: relays[%u].max_sessions: %u sessions", cfg->path,
		 cfg->relays[r].max_sessions_line, r, cfg->relays[r].max_sessions);
	snprintf(err, errlen,
		 "%s (%llu in all relays, over %u worker%s) need %llu file descriptors (a socket "
		 "per session slot: twice the sessions, so that a reload can add relays, %u "
		 "per worker, and a claim per listen port while starting), but %s, or lower "
		 "max_sessions",
		 where, (unsigned long long)total, plan->n_workers, plan->n_workers == 1 ? "" : "s",
		 (unsigned long long)plan->nofile, PLAN_SESSION_BASE, why);
	return -EMFILE;
}

int plan_build(const struct config *cfg, const struct plan_host *host, struct plan *out,
	       char *err, size_t errlen)
{
	uint64_t sessions = 0, cq, nofile_uring, nofile_mmsg;
	uint32_t i;

	memset(out, 0, sizeof(*out));
	if (host->n_cpus == 0) {
		snprintf(err, errlen, "no CPU is available to this process");
		return -EINVAL;
	}
	/* One worker per CPU unless configured; the listen interface's RX queues cap it
	 * (more workers than queues only add cache misses). */
	out->n_workers = host->workers ? host->workers : cfg->workers;
	if (out->n_workers == 0) {
		out->n_workers = cfg->n_cpus ? cfg->n_cpus : host->n_cpus;
		if (host->rx_queues && host->rx_queues < out->n_workers)
			out->n_workers = host->rx_queues;
	}
	if (out->n_workers > PLAN_MAX_WORKERS) {
		snprintf(err, errlen, "%s: workers: at most %u", cfg->path, PLAN_MAX_WORKERS);
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_cpus; i++) {
		if (!host_has_cpu(host, cfg->cpus[i])) {
			snprintf(err, errlen,
				 "%s:%d: cpus[%u]: CPU %d is not available to this process "
				 "(check taskset/CPUAffinity=)",
				 cfg->path, cfg->cpus_line[i], i, cfg->cpus[i]);
			return -EINVAL;
		}
	}
	for (i = 0; i < out->n_workers; i++)
		out->cpu[i] = cfg->n_cpus ? cfg->cpus[i % cfg->n_cpus]
					  : host->cpus[i % host->n_cpus];

	out->max_fanout = 1;
	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *r = &cfg->relays[i];

		out->n_listeners += r->n_listen;
		if (r->mode == RELAY_MODE_MIRROR) {
			/* (names resolved: members; before, at least the entries) */
			uint32_t n = r->n_members > r->n_upstreams ? r->n_members : r->n_upstreams;

			if (n > out->max_fanout)
				out->max_fanout = n;
			/* A transparent mirror sends from a socket per client (a session). */
			if (r->source != SOURCE_CLIENT) {
				out->n_mirror += n;
				continue;
			}
		}
		out->sessions[i] = share_per_worker(r->max_sessions, out->n_workers);
		sessions += out->sessions[i];
	}
	if (out->n_mirror > PLAN_MIRROR_SLOTS) {
		snprintf(err, errlen, "%s: relays: %u mirror upstreams, at most %u in all",
			 cfg->path, out->n_mirror, PLAN_MIRROR_SLOTS);
		return -EINVAL;
	}
	sessions = session_slots(sessions);
	if (PLAN_SESSION_BASE + sessions > PLAN_MAX_FIXED_FILES)
		return too_many_slots(cfg, out, sessions, err, errlen);
	out->session_slots = (uint32_t)sessions;
	out->files = PLAN_SESSION_BASE + out->session_slots;

	/* Every completion that can be outstanding at once: a receive per buffer, the sends
	 * reading them, the end of every multishot, timers and cancels. Sized so the CQ does
	 * not overflow in the usual case; a GRO burst sent in pieces (a segment a send each,
	 * up to 64) can go past it, and beyond the CQ FEAT_NODROP keeps the rest. */
	cq = (uint64_t)cfg->buffers * (1 + out->max_fanout) + 2 * (out->n_listeners + sessions) +
	     64;
	out->cq_entries = pow2_at_least(cq);
	if (out->cq_entries > PLAN_MAX_CQ)
		out->cq_entries = PLAN_MAX_CQ;
	/* The SQ takes at most one loop's worth of new work before it is flushed. */
	out->sq_entries = out->cq_entries / 4 > 4096 ? 4096 : out->cq_entries / 4;
	if (out->sq_entries < 64)
		out->sq_entries = 64;

	/* io_uring checks each ring's file table against RLIMIT_NOFILE; the mmsg backend keeps
	 * every session socket as an fd of the process. */
	nofile_uring = (uint64_t)out->files + (uint64_t)out->n_workers * 8 + 64;
	nofile_mmsg = (uint64_t)out->n_workers * out->files + (uint64_t)out->n_workers * 8 + 64;
	out->nofile = nofile_uring > nofile_mmsg ? nofile_uring : nofile_mmsg;
	/* The claims are held while the listeners are bound: beside them, not in their slots. */
	out->n_claims = plan_claims(cfg);
	out->nofile += out->n_claims;

	out->rx_control = SOCK_RX_CONTROL_LEN + (cfg->gro ? SOCK_RX_GRO_CONTROL_LEN : 0);
	out->reply_rx_control = SOCK_RX_OVFL_CONTROL_LEN + (cfg->gro ? SOCK_RX_GRO_CONTROL_LEN : 0);
	out->payload_max = cfg->buffer_size - (uint32_t)sizeof(struct io_uring_recvmsg_out) -
			   SOCK_RX_NAME_LEN - out->rx_control;
	out->reply_payload_max = cfg->buffer_size - (uint32_t)sizeof(struct io_uring_recvmsg_out) -
				 out->reply_rx_control;
	/* 28 = the smallest IPv4 + UDP header: what a full-size datagram leaves of the MTU. */
	if (host->mtu > 28) {
		out->link_payload_max = host->mtu - 28;
		snprintf(out->link_ifname, sizeof(out->link_ifname), "%s", host->mtu_ifname);
	}
	return 0;
}
