// SPDX-License-Identifier: MIT
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>

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
				 "%s: cpus[%u]: CPU %d is not available to this process "
				 "(check taskset/CPUAffinity=)",
				 cfg->path, i, cfg->cpus[i]);
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
		/* Round up so the relay's total is at least max_sessions. */
		out->sessions[i] = (r->max_sessions + out->n_workers - 1) / out->n_workers;
		sessions += out->sessions[i];
	}
	if (out->n_mirror > PLAN_MIRROR_SLOTS) {
		snprintf(err, errlen, "%s: relays: %u mirror upstreams, at most %u in all",
			 cfg->path, out->n_mirror, PLAN_MIRROR_SLOTS);
		return -EINVAL;
	}
	sessions = sessions * 2 > sessions + 1024 ? sessions * 2 : sessions + 1024;
	if (PLAN_SESSION_BASE + sessions > PLAN_MAX_FIXED_FILES) {
		snprintf(err, errlen,
			 "%s: max_sessions: %llu session slots per worker exceed the kernel's %u "
			 "registered files; raise workers or lower max_sessions",
			 cfg->path, (unsigned long long)sessions, PLAN_MAX_FIXED_FILES);
		return -EINVAL;
	}
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
