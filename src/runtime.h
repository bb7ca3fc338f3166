/* SPDX-License-Identifier: MIT */
/* The running relay built from one config: plan, balancers, workers. Started and stopped by
 * main; read (counters) by the stats and control code. */
#ifndef RINGRELAY_RUNTIME_H
#define RINGRELAY_RUNTIME_H

#include "balance.h"
#include "config.h"
#include "counters.h"
#include "plan.h"
#include "uring.h"
#include "worker.h"

struct runtime {
	struct config *cfg;
	struct plan plan;
	const struct uring_caps *caps;
	enum io_backend backend;
	struct balancer *balancers; /* one per relay */
	struct worker *workers;	    /* plan.n_workers */
	uint32_t n_started;
	struct worker_sync sync;
};

/* The backend to run: the configured one, or for "auto" io_uring when the probe found all
 * the fast path needs, else mmsg. Returns 0, or -ENOTSUP with the reason in err when
 * io_uring was asked for and cannot run. */
int runtime_choose_backend(enum io_backend wanted, const struct uring_caps *caps,
			   enum io_backend *out, char *err, size_t errlen);
/* Facts about this machine for plan_build (CPUs this process may use). */
int runtime_host(struct plan_host *host);
/* Plans, raises RLIMIT_NOFILE, starts every worker and waits until each is listening.
 * Takes cfg (freed by runtime_fini). On failure nothing keeps running and err says why. */
int runtime_start(struct runtime *rt, struct config *cfg, const struct uring_caps *caps,
		  char *err, size_t errlen);
/* Stops and joins the workers; counters stay readable until runtime_fini. */
void runtime_stop(struct runtime *rt);
/* Stops and joins the workers, frees everything; idempotent. */
void runtime_fini(struct runtime *rt);
/* Sums relay r's counters over all workers. */
void runtime_sum(const struct runtime *rt, uint32_t r, struct relay_counters *out);

#endif
