// SPDX-License-Identifier: MIT
/* The napi block on the listen interfaces (napitune.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "napi.h"
#include "napithreads.h"
#include "napitune.h"
#include "netlink.h"

uint32_t napitune_interfaces(const struct config *cfg, char (*names)[IF_NAMESIZE], uint32_t max)
{
	struct netlink_link link;
	bool wildcard = false;
	uint32_t i, n = 0, kept = 0;

	for (i = 0; i < cfg->n_relays; i++)
		n = netlink_addrs_ifnames(cfg->relays[i].listen, cfg->relays[i].n_listen, names, n,
					  max, &wildcard);
	/* A wildcard listener takes what arrives anywhere: the filtered interfaces are where
	 * its traffic is known to arrive. */
	for (i = 0; wildcard && cfg->filter.mode != FILTER_MODE_OFF && i < cfg->filter.n_interfaces;
	     i++)
		n = netlink_ifname_add(names, n, max, cfg->filter.interfaces[i]);
	/* Loopback has no NAPI instance; an interface that is gone has nothing to tune. */
	for (i = 0; i < n; i++) {
		if (netlink_link_info(names[i], &link) || link.loopback)
			continue;
		if (kept != i)
			memcpy(names[kept], names[i], IF_NAMESIZE);
		kept++;
	}
	return kept;
}

void napitune_busy_text(const struct napi_conf *n, enum io_backend backend, int result, char *buf,
			size_t len)
{
	const char *b = config_backend_name(backend);

	if (!n->busy_poll_us || result == 0)
		snprintf(buf, len, "busy poll off");
	else if (result < 0)
		snprintf(buf, len, "busy poll refused by the kernel (%s)", b);
	else if (backend == IO_BACKEND_IO_URING)
		/* the ring polls with the kernel's own budget */
		snprintf(buf, len, "busy poll %" PRIu32 " us%s (%s)", n->busy_poll_us,
			 n->prefer_busy_poll ? " prefer" : "", b);
	else
		snprintf(buf, len, "busy poll %" PRIu32 " us%s budget %" PRIu32 " (%s)",
			 n->busy_poll_us, n->prefer_busy_poll ? " prefer" : "", n->busy_poll_budget,
			 b);
}

/* Appends to what. */
static void napitune_say(struct napitune_iface *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void napitune_say(struct napitune_iface *f, const char *fmt, ...)
{
	size_t used = strlen(f->what);
	va_list ap;

	if (used + 1 >= sizeof(f->what))
		return;
	va_start(ap, fmt);
	vsnprintf(f->what + used, sizeof(f->what) - used, fmt, ap);
	va_end(ap);
}

static void napitune_values_text(struct napitune_iface *f, const struct napi_conf *c, bool suspend)
{
	napitune_say(f, "defer_hard_irqs %" PRIu32 ", gro_flush_timeout %" PRIu32 " ns",
		     c->defer_hard_irqs, c->gro_flush_timeout);
	if (suspend && c->irq_suspend_timeout)
		napitune_say(f, ", irq_suspend_timeout %" PRIu32 " ns", c->irq_suspend_timeout);
}

/* The per-NAPI values on every instance, or the device's sysfs files when the kernel has no
 * NAPI_SET or there is no instance (a new instance starts from the device's values). */
static int napitune_values(struct napitune_iface *f, const struct napi_conf *c,
			   const struct napi_instance *ni, int n)
{
	bool listed = !f->by_iterator; /* else: no NAPI_GET, so no NAPI_SET either */
	struct napi_values v = {.defer_hard_irqs = c->defer_hard_irqs,
				.gro_flush_timeout = c->gro_flush_timeout,
				.irq_suspend_timeout = c->irq_suspend_timeout};
	int i, ret = n > 0 && listed ? 0 : -EOPNOTSUPP;

	/* All three 0 (the default) leaves the device as its administrator set it. */
	if (!c->defer_hard_irqs && !c->gro_flush_timeout && !c->irq_suspend_timeout) {
		napitune_say(f, "per-NAPI values left as they are");
		return 0;
	}
	for (i = 0; i < n && !ret; i++)
		ret = napi_set(ni[i].id, &v);
	if (!ret) {
		napitune_values_text(f, c, true);
		napitune_say(f, " on %d NAPI instance%s", n, n == 1 ? "" : "s");
		return 0;
	}
	if (ret != -EOPNOTSUPP) {
		log_warn("napi: %s: NAPI_SET on instance %" PRIu32 ": %s%s", f->name, ni[i - 1].id,
			 strerror(-ret),
			 ret == -EPERM ? " (needs CAP_NET_ADMIN: start as root)" : "");
		napitune_say(f, "per-NAPI values not set (%s)", strerror(-ret));
		return ret;
	}
	ret = napi_set_device(f->name, &v);
	if (ret) {
		log_warn(
		    "napi: %s: %s/sys/class/net/%s/napi_defer_hard_irqs and gro_flush_timeout: "
		    "%s%s",
		    f->name, n > 0 ? "no NAPI_SET (kernel < 6.13); " : "", f->name, strerror(-ret),
		    ret == -EPERM || ret == -EACCES ? " (needs root)" : "");
		napitune_say(f, "per-NAPI values not set (%s)", strerror(-ret));
		return ret;
	}
	if (n > 0 && listed)
		log_notice("napi: %s: no NAPI_SET (kernel < 6.13): defer_hard_irqs and "
			   "gro_flush_timeout set per device (sysfs)%s",
			   f->name, c->irq_suspend_timeout ? ", irq_suspend_timeout not set" : "");
	if (n == 0 && listed)
		napitune_say(f, "no NAPI instance yet (veth: GRO off and no XDP program): ");
	napitune_values_text(f, c, false);
	napitune_say(f, " per device (sysfs)");
	return 0;
}

/* Each instance's thread on the CPU of the worker that serves it: instance i (id order) to
 * worker i mod the worker count (one instance, as on veth: the first worker's CPU). */
static int napitune_pin(struct napitune_iface *f, const struct napi_instance *ni, int n,
			const int *cpus, uint32_t n_cpus)
{
	int i, ret = 0, err;

	napitune_say(f, ", threaded on (");
	for (i = 0; i < n && n_cpus; i++) {
		pid_t pid = napi_instance_pid(f->name, &ni[i]);
		int cpu = cpus[(uint32_t)i % n_cpus];

		err = pid > 0 ? napi_pin(pid, cpu) : (int)pid;
		if (err) {
			log_warn("napi: %s: pin the thread of NAPI instance %" PRIu32
				 " to CPU %d: %s%s",
				 f->name, ni[i].id, cpu, strerror(-err),
				 err == -EPERM ? " (needs CAP_SYS_NICE)" : "");
			ret = ret ? ret : err;
			continue;
		}
		napitune_say(f, "%snapi/%s-%" PRIu32 " on CPU %d", i ? ", " : "", f->name, ni[i].id,
			     cpu);
	}
	napitune_say(f, ")");
	return ret;
}

/* Thread pid's entry in th, a new one (before = set: nothing to put back yet) when it has
 * none, or NULL when th is full: a thread that could not be put back is left as it is. */
static struct napitune_thread *napitune_entry(struct napitune_threads *th, pid_t pid,
					      bool *is_new)
{
	uint32_t i;

	for (i = 0; i < th->n && th->t[i].pid != pid; i++)
		;
	*is_new = i == th->n;
	if (*is_new) {
		if (th->n == NAPITUNE_MAX_THREADS)
			return NULL;
		th->t[th->n++] = (struct napitune_thread){ .pid = pid };
	}
	return &th->t[i];
}

/* napi.thread_nice on each instance's thread that may run on a worker's CPU. Both are fair
 * threads there and would share the CPU equally; under overload the NAPI thread's half goes
 * to datagrams the starved worker cannot take (perf/README.md, "Overload protection"). */
static int napitune_nice(struct napitune_iface *f, const struct napi_instance *ni, int n,
			 const int *cpus, uint32_t n_cpus, int nice, struct napitune_threads *th)
{
	int i, done = 0, ret = 0, err, before;
	struct napitune_thread *e;
	bool is_new;

	for (i = 0; i < n; i++) {
		pid_t pid = napi_instance_pid(f->name, &ni[i]);

		if (pid <= 0 || !napi_thread_on_cpus(pid, cpus, n_cpus))
			continue;
		err = napi_thread_nice_get(pid, &before);
		if (!err) {
			e = napitune_entry(th, pid, &is_new);
			if (!e)
				continue;
			if (is_new)
				e->before = e->set = before; /* nothing to put back unless set */
			if (before != nice)
				err = napi_thread_nice_set(pid, nice);
		}
		if (err) {
			log_warn("napi: %s: nice %d for the thread of NAPI instance %" PRIu32
				 ": %s%s",
				 f->name, nice, ni[i].id, strerror(-err),
				 err == -EPERM || err == -EACCES
					 ? " (needs CAP_SYS_NICE; or set napi.thread_nice = 0)"
					 : "");
			ret = ret ? ret : err;
			continue;
		}
		e->set = nice;
		done++;
	}
	if (done)
		napitune_say(f, ", %d NAPI thread%s on worker CPUs at nice %d", done,
			     done == 1 ? "" : "s", nice);
	return ret;
}

void napitune_restore(struct napitune_threads *th)
{
	int now, err;
	uint32_t i;

	for (i = 0; i < th->n; i++) {
		if (th->t[i].before == th->t[i].set || !napi_thread_is_napi(th->t[i].pid) ||
		    napi_thread_nice_get(th->t[i].pid, &now) || now != th->t[i].set)
			continue; /* gone, or changed by someone else since */
		err = napi_thread_nice_set(th->t[i].pid, th->t[i].before);
		if (err)
			log_warn("napi: nice %d back for NAPI thread %d: %s", th->t[i].before,
				 (int)th->t[i].pid, strerror(-err));
	}
	th->n = 0;
}

static bool napitune_all_threaded(const struct napi_instance *ni, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!ni[i].threaded)
			return false;
	return true;
}

static void napitune_no_instance(const char *name)
{
	log_notice("napi: %s: threaded = true, but no NAPI instance to thread (veth: GRO off and "
		   "no XDP program)",
		   name);
}

/* A kernel without NAPI_GET (before 6.9) lists no NAPI instance: threaded = true switches the
 * device in sysfs, and the threads of its threaded instances, found by the BPF task iterator
 * (a name would also match a device of the same name in another namespace), are the instances
 * placed and given thread_nice. Returns how many into ni; 0 when there are none or they
 * cannot be found, said in one line. */
static int napitune_threads_only(struct napitune_iface *f, bool threaded,
				 struct napi_instance *ni)
{
	int on = napi_get_threaded(f->name), n, err;

	f->by_iterator = true;
	if (on < 0) {
		log_warn("napi: %s: /sys/class/net/%s/threaded: %s", f->name, f->name,
			 strerror(-on));
		return 0;
	}
	if (threaded && on == 0) {
		err = napi_set_threaded(f->name, true);
		if (err == -EOPNOTSUPP || err == -EIO) {
			napitune_no_instance(f->name);
			return 0;
		}
		if (err) {
			log_warn("napi: %s: threaded NAPI: /sys/class/net/%s/threaded: %s", f->name,
				 f->name, strerror(-err));
			return 0;
		}
		on = 1;
	}
	if (on != 1)
		return 0; /* nothing threaded: no thread to place or to give thread_nice */
	n = napithreads_list((int)if_nametoindex(f->name), ni, NAPI_MAX_INSTANCES);
	if (n < 0)
		log_warn("napi: %s: its NAPI threads are found, without NAPI_GET (Linux 6.9), by a "
			 "BPF task iterator, which failed (%s%s): neither placed nor given "
			 "thread_nice",
			 f->name, strerror(-n),
			 n == -EPERM || n == -EACCES
				 ? "; it needs CAP_BPF and CAP_PERFMON, which the admin thread keeps "
				   "only when the start found threads"
				 : "");
	f->threads_unknown = n <= 0;
	return n < 0 ? 0 : n;
}

static int napitune_one(const struct config *cfg, const char *name, const int *cpus,
			uint32_t n_cpus, struct napitune_iface *f, struct napitune_threads *th)
{
	struct napi_instance ni[NAPI_MAX_INSTANCES]; /* 10 KiB */
	const struct napi_conf *c = &cfg->napi;
	int ifindex = (int)if_nametoindex(name), n, ret, err, i;

	snprintf(f->name, sizeof(f->name), "%s", name);
	f->what[0] = '\0';
	f->instances = 0;
	f->by_iterator = false;
	f->threads_unknown = false;
	f->n_threads = 0;
	if (!ifindex) {
		napitune_say(f, "interface gone");
		return -ENODEV;
	}
	n = napi_list(ifindex, ni, NAPI_MAX_INSTANCES);
	if (n == -EOPNOTSUPP) {
		log_notice("napi: %s: the kernel cannot list NAPI instances (netdev NAPI_GET, "
			   "Linux 6.9): per-device values; threads found by a BPF task iterator",
			   name);
		n = napitune_threads_only(f, c->threaded, ni);
		for (i = 0; i < n && i < NAPITUNE_IFACE_THREADS; i++)
			f->threads[f->n_threads++] = (struct napitune_found){ni[i].id, ni[i].pid};
	} else if (n < 0) {
		log_warn("napi: %s: list NAPI instances: %s", name, strerror(-n));
		n = 0;
	}
	if (n > NAPI_MAX_INSTANCES)
		n = NAPI_MAX_INSTANCES;
	if (!f->by_iterator && napi_get_threaded(name) == 1)
		napithreads_fill_pids(ifindex, ni, n);
	f->instances = n;
	/* The device setting outlives its instances (re-made ones are threaded again): write it
	 * only when needed, which also spares the admin thread a file that is root's. */
	if (c->threaded && n > 0 && !napitune_all_threaded(ni, n)) {
		err = napi_set_threaded(name, true);
		if (err)
			log_warn("napi: %s: threaded NAPI: /sys/class/net/%s/threaded: %s", name,
				 name, strerror(-err));
		else
			n = napi_list(ifindex, ni, NAPI_MAX_INSTANCES); /* now with their pids */
		if (n < 0)
			n = 0;
		if (n > NAPI_MAX_INSTANCES)
			n = NAPI_MAX_INSTANCES;
		if (!err)
			napithreads_fill_pids(ifindex, ni, n);
	}
	ret = napitune_values(f, c, ni, n);
	if (c->threaded && n > 0 && napitune_all_threaded(ni, n)) {
		err = napitune_pin(f, ni, n, cpus, n_cpus);
		ret = ret ? ret : err;
	} else if (c->threaded) {
		if (n == 0 && !f->by_iterator) /* else said by napitune_threads_only */
			napitune_no_instance(name);
		napitune_say(f, ", threaded %s",
			     f->threads_unknown ? "on (its threads not found)" : "off");
	} else {
		napitune_say(f, ", threaded %s",
			     n > 0 && napitune_all_threaded(ni, n) ? "on (set outside ringrelay)"
			     : f->threads_unknown ? "on (set outside ringrelay; its threads not found)"
						  : "off");
	}
	if (c->thread_nice) {
		err = napitune_nice(f, ni, n, cpus, n_cpus, c->thread_nice, th);
		ret = ret ? ret : err;
	}
	return ret;
}

int napitune_apply(const struct config *cfg, const int *cpus, uint32_t n_cpus,
		   struct napitune_report *report, struct napitune_threads *threads)
{
	char names[NAPITUNE_MAX_IFACES][IF_NAMESIZE];
	uint32_t i, n = napitune_interfaces(cfg, names, NAPITUNE_MAX_IFACES);
	int ret = 0, err;

	report->n = 0;
	if (!cfg->napi.thread_nice)
		napitune_restore(threads); /* a reload turned it off */
	/* Threads gone with their instance (an XDP attach, a link change) leave the table. */
	for (i = 0; i < threads->n;)
		if (napi_thread_is_napi(threads->t[i].pid))
			i++;
		else
			threads->t[i] = threads->t[--threads->n];
	for (i = 0; i < n; i++) {
		err = napitune_one(cfg, names[i], cpus, n_cpus, &report->ifaces[report->n++],
				   threads);
		ret = ret ? ret : err;
	}
	return ret;
}

bool napitune_any_by_iterator(const struct napitune_report *report)
{
	uint32_t i;

	for (i = 0; i < report->n; i++)
		if (report->ifaces[i].by_iterator && report->ifaces[i].instances > 0)
			return true;
	return false;
}

bool napitune_any_instance(const struct napitune_report *report)
{
	uint32_t i;

	for (i = 0; i < report->n; i++)
		if (report->ifaces[i].instances > 0)
			return true;
	return false;
}

void napitune_log(const struct napitune_report *report, const char *busy)
{
	uint32_t i;

	if (!report->n)
		log_info("napi: %s; no listen interface with NAPI (wildcard or loopback "
			 "listeners): no per-NAPI settings",
			 busy);
	for (i = 0; i < report->n; i++)
		log_info("napi: %s: %s, %s", report->ifaces[i].name, busy, report->ifaces[i].what);
}
