// SPDX-License-Identifier: MIT
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"
#include "runtime.h"

int runtime_choose_backend(enum io_backend wanted, const struct uring_caps *caps,
			   enum io_backend *out, char *err, size_t errlen)
{
	bool fast = caps->available && caps->opcodes && caps->buf_ring && caps->recvmsg_multishot;

	if (wanted == IO_BACKEND_MMSG || (wanted == IO_BACKEND_AUTO && !fast)) {
		if (wanted == IO_BACKEND_AUTO)
			log_warn("io_uring fast path unavailable: %s; using the mmsg backend "
				 "(epoll + recvmmsg/sendmmsg)",
				 caps->missing);
		*out = IO_BACKEND_MMSG;
		return 0;
	}
	if (!fast) {
		snprintf(err, errlen,
			 "io_backend = \"io_uring\" cannot run: %s (use \"auto\" or \"mmsg\")",
			 caps->missing);
		return -ENOTSUP;
	}
	*out = IO_BACKEND_IO_URING;
	return 0;
}

int runtime_host(struct plan_host *host)
{
	cpu_set_t set;
	int cpu;

	memset(host, 0, sizeof(*host));
	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	for (cpu = 0; cpu < CPU_SETSIZE && host->n_cpus < CONFIG_MAX_CPUS; cpu++)
		if (CPU_ISSET(cpu, &set))
			host->cpus[host->n_cpus++] = cpu;
	return 0;
}

/* Session sockets and registered file tables count against RLIMIT_NOFILE: size it now, at
 * start, so a full session table never fails on descriptors. */
static int raise_nofile(uint64_t need, char *err, size_t errlen)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max < need) {
		struct rlimit want = { .rlim_cur = need, .rlim_max = need };

		/* Raising the hard limit needs CAP_SYS_RESOURCE (root has it). */
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return 0;
		snprintf(err, errlen,
			 "the sessions need %llu file descriptors but the hard RLIMIT_NOFILE is "
			 "%llu: lower max_sessions or raise LimitNOFILE= / ulimit -Hn",
			 (unsigned long long)need, (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) ? -errno : 0;
}

static void stop_started(struct runtime *rt)
{
	uint32_t i;

	for (i = 0; i < rt->n_started; i++)
		worker_stop(&rt->workers[i]);
	for (i = 0; i < rt->n_started; i++)
		worker_join(&rt->workers[i]);
	rt->n_started = 0;
}

int runtime_start(struct runtime *rt, struct config *cfg, const struct uring_caps *caps,
		  char *err, size_t errlen)
{
	struct plan_host host;
	uint32_t i;
	int ret;

	memset(rt, 0, sizeof(*rt));
	rt->cfg = cfg;
	rt->caps = caps;
	pthread_mutex_init(&rt->sync.lock, NULL);
	pthread_cond_init(&rt->sync.cond, NULL);

	ret = runtime_choose_backend(cfg->io_backend, caps, &rt->backend, err, errlen);
	if (ret)
		return ret;
	ret = runtime_host(&host);
	if (ret) {
		snprintf(err, errlen, "sched_getaffinity: %s", strerror(-ret));
		return ret;
	}
	ret = plan_build(cfg, &host, &rt->plan, err, errlen);
	if (ret)
		return ret;
	ret = raise_nofile(rt->plan.nofile, err, errlen);
	if (ret) {
		if (ret != -EMFILE)
			snprintf(err, errlen, "setrlimit(RLIMIT_NOFILE): %s", strerror(-ret));
		return ret;
	}
	rt->balancers = calloc(cfg->n_relays, sizeof(*rt->balancers));
	rt->workers = calloc(rt->plan.n_workers, sizeof(*rt->workers));
	if (!rt->balancers || !rt->workers) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < cfg->n_relays; i++) {
		ret = balancer_init(&rt->balancers[i], &cfg->relays[i]);
		if (ret) {
			snprintf(err, errlen, "relay %s: balancer: %s", cfg->relays[i].name,
				 strerror(-ret));
			return ret;
		}
	}
	for (i = 0; i < rt->plan.n_workers; i++) {
		ret = worker_init(&rt->workers[i], i, cfg, &rt->plan, caps, rt->backend,
				  rt->balancers, &rt->sync);
		if (ret) {
			snprintf(err, errlen, "worker %u: %s", i, strerror(-ret));
			return ret;
		}
	}
	for (i = 0; i < rt->plan.n_workers; i++) {
		ret = worker_start(&rt->workers[i]);
		if (ret) {
			snprintf(err, errlen, "worker %u: pthread_create: %s", i, strerror(-ret));
			stop_started(rt);
			return ret;
		}
		rt->n_started++;
	}
	/* Wait until every worker is listening (or has failed) before calling us ready. */
	pthread_mutex_lock(&rt->sync.lock);
	while (rt->sync.reported < rt->n_started)
		pthread_cond_wait(&rt->sync.cond, &rt->sync.lock);
	pthread_mutex_unlock(&rt->sync.lock);
	for (i = 0; i < rt->n_started; i++) {
		if (rt->workers[i].state == WORKER_FAILED) {
			snprintf(err, errlen, "%s", rt->workers[i].error);
			stop_started(rt);
			return -EIO;
		}
	}
	for (i = 0; i < rt->n_started; i++)
		log_info("worker %u: backend %s, CPU %d", i, rt->workers[i].features,
			 rt->workers[i].cpu);
	return 0;
}

void runtime_stop(struct runtime *rt)
{
	stop_started(rt);
}

void runtime_fini(struct runtime *rt)
{
	uint32_t i;

	stop_started(rt);
	for (i = 0; rt->workers && i < rt->plan.n_workers; i++)
		worker_fini(&rt->workers[i]);
	for (i = 0; rt->balancers && rt->cfg && i < rt->cfg->n_relays; i++)
		balancer_fini(&rt->balancers[i]);
	free(rt->workers);
	free(rt->balancers);
	config_free(rt->cfg);
	rt->workers = NULL;
	rt->balancers = NULL;
	rt->cfg = NULL;
}

void runtime_sum(const struct runtime *rt, uint32_t r, struct relay_counters *out)
{
	const uint64_t *src;
	uint64_t *dst = (uint64_t *)out;
	size_t k, n = sizeof(*out) / sizeof(uint64_t);
	uint32_t i;

	/* The struct is all uint64_t counters (padding is zero): sum field by field. */
	memset(out, 0, sizeof(*out));
	for (i = 0; i < rt->plan.n_workers; i++) {
		src = (const uint64_t *)&rt->workers[i].counters[r];
		for (k = 0; k < n; k++)
			dst[k] += counter_get(&src[k]);
	}
}
