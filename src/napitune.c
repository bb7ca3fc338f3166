// SPDX-License-Identifier: MIT
/* The napi block on the listen interfaces (napitune.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "napi.h"
#include "napithreads.h"
#include "napitune.h"
#include "netlink.h"

uint32_t napitune_interfaces(const struct config *cfg, char (*names)[IF_NAMESIZE], uint32_t max,
			     bool *all_found)
{
	struct netlink_link link;
	bool wildcard = false, missing = false;
	uint32_t i, n = 0, kept = 0;

	for (i = 0; i < cfg->n_relays; i++)
		n = netlink_addrs_ifnames(cfg->relays[i].listen, cfg->relays[i].n_listen, names, n,
					  max, &wildcard, &missing);
	*all_found = !missing; /* an address on no interface now (or not known) */
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

/* ", " when f says something already: the separator of its parts. */
static const char *napitune_sep(const struct napitune_iface *f)
{
	return f->what[0] ? ", " : "";
}

static void napitune_values_text(struct napitune_iface *f, const struct napi_values *v,
				 bool suspend)
{
	napitune_say(f, "defer_hard_irqs %" PRIu32 ", gro_flush_timeout %" PRIu64 " ns",
		     v->defer_hard_irqs, v->gro_flush_timeout);
	if (suspend && v->irq_suspend_timeout)
		napitune_say(f, ", irq_suspend_timeout %" PRIu64 " ns", v->irq_suspend_timeout);
}

static bool napitune_same(const struct napi_values *a, const struct napi_values *b)
{
	return a->defer_hard_irqs == b->defer_hard_irqs &&
	       a->gro_flush_timeout == b->gro_flush_timeout &&
	       a->irq_suspend_timeout == b->irq_suspend_timeout;
}

/* Interface ifindex's entry in s, a new one (nothing changed yet) when it has none; NULL when
 * s is full (it is left as it is then). */
static struct napitune_dev *napitune_dev_entry(struct napitune_saved *s, int ifindex,
					       const char *name)
{
	uint32_t i;

	for (i = 0; i < s->n_devs && s->devs[i].ifindex != ifindex; i++)
		;
	if (i == s->n_devs) {
		if (s->n_devs == NAPITUNE_MAX_IFACES)
			return NULL;
		s->devs[s->n_devs++] = (struct napitune_dev){.ifindex = ifindex};
	}
	snprintf(s->devs[i].name, sizeof(s->devs[i].name), "%s", name); /* it may be renamed */
	return &s->devs[i];
}

/* Forgets s->devs[di] with its instances and threads (CPUs, nice values), and closes its
 * files: only when it is gone or no longer a listen interface (a thread that is no longer
 * root cannot open them again). */
static void napitune_dev_forget(struct napitune_saved *s, uint32_t di)
{
	struct napitune_dev *d = &s->devs[di];
	uint32_t i;

	for (i = 0; i < s->n_napis;)
		if (s->napis[i].ifindex == d->ifindex)
			s->napis[i] = s->napis[--s->n_napis];
		else
			i++;
	for (i = 0; i < s->n_pins;)
		if (s->pins[i].ifindex == d->ifindex)
			s->pins[i] = s->pins[--s->n_pins];
		else
			i++;
	for (i = 0; i < s->n_nice;)
		if (s->nice[i].ifindex == d->ifindex)
			s->nice[i] = s->nice[--s->n_nice];
		else
			i++;
	if (d->values_open) {
		close(d->fd_defer);
		close(d->fd_gro);
	}
	if (d->threaded_open)
		close(d->fd_threaded);
	*d = s->devs[--s->n_devs];
}

/* Whether instance id of d is noted in s. */
static bool napitune_napi_noted(const struct napitune_saved *s, const struct napitune_dev *d,
				uint32_t id)
{
	uint32_t i;

	for (i = 0; i < s->n_napis && (s->napis[i].ifindex != d->ifindex || s->napis[i].id != id);
	     i++)
		;
	return i < s->n_napis;
}

/* NAPI_SET of v on instance ni of d, noting the values it had the first time. Returns 0, 1
 * when it set them but s is full (not noted: they will not be put back), or napi_set's
 * -errno. */
static int napitune_set_napi(struct napitune_saved *s, const struct napitune_dev *d,
			     const struct napi_instance *ni, const struct napi_values *v)
{
	struct napitune_napi *e;
	int ret;

	if (napitune_napi_noted(s, d, ni->id))
		return napi_set(ni->id, v);
	/* NAPI_GET reports the values since Linux 6.13, which brought NAPI_SET */
	if (!ni->has_values)
		return -EOPNOTSUPP;
	ret = napi_set(ni->id, v);
	if (ret)
		return ret;
	if (s->n_napis == NAPITUNE_MAX_SAVED)
		return 1;
	e = &s->napis[s->n_napis++];
	e->ifindex = d->ifindex;
	e->id = ni->id;
	e->before = (struct napi_values){.defer_hard_irqs = ni->defer_hard_irqs,
					 .gro_flush_timeout = ni->gro_flush_timeout,
					 .irq_suspend_timeout = ni->irq_suspend_timeout};
	return 0;
}

/* Forgets the instances noted for d that are not among ni[0..n), all of d's instances: only to
 * make room in a full table. NAPI ids are not reused for another instance, so one that is not
 * listed is absent, for good (veth and other drivers re-make their instances, with new ids,
 * at a link change or an XDP attach) or for a while: since Linux 6.13 drivers that keep their
 * instances' ids and settings across a link down and up bring it back with ringrelay's
 * values, which only its note can put back. */
static void napitune_napi_prune(struct napitune_saved *s, const struct napitune_dev *d,
				const struct napi_instance *ni, int n)
{
	uint32_t i;
	int j;

	for (i = 0; i < s->n_napis;) {
		for (j = 0; j < n && ni[j].id != s->napis[i].id; j++)
			;
		if (s->napis[i].ifindex == d->ifindex && j == n)
			s->napis[i] = s->napis[--s->n_napis];
		else
			i++;
	}
}

/* v to d's device files (sysfs), opened the first time (and kept open until d is forgotten),
 * their values noted when they are not yet. Returns 0 or -errno. */
static int napitune_set_device(struct napitune_dev *d, const struct napi_values *v)
{
	int ret;

	if (!d->values) {
		ret = napi_get_device(d->name, &d->before);
		if (ret)
			return ret;
	}
	if (!d->values_open) {
		d->fd_defer = napi_sysfs_open(d->name, "napi_defer_hard_irqs");
		if (d->fd_defer < 0)
			return d->fd_defer;
		d->fd_gro = napi_sysfs_open(d->name, "gro_flush_timeout");
		if (d->fd_gro < 0) {
			ret = d->fd_gro;
			goto err_close_defer;
		}
		d->values_open = true;
	}
	ret = napi_sysfs_put(d->fd_defer, v->defer_hard_irqs);
	if (ret && !d->values)
		return ret; /* nothing changed: nothing to put back */
	d->values = true;
	return ret ? ret : napi_sysfs_put(d->fd_gro, v->gro_flush_timeout);

err_close_defer:
	close(d->fd_defer);
	return ret;
}

/* Switches d's device to threaded NAPI through its file, opened the first time (and kept open
 * until d is forgotten); notes when it was off. Returns 0 or -errno. */
static int napitune_threaded_on(struct napitune_dev *d)
{
	bool was_off;
	int fd, ret;

	if (d->threaded)
		return napi_sysfs_put(d->fd_threaded, 1);
	was_off = napi_get_threaded(d->name) == 0;
	if (!d->threaded_open) {
		fd = napi_sysfs_open(d->name, "threaded");
		if (fd < 0)
			return fd;
		d->fd_threaded = fd;
		d->threaded_open = true;
	}
	ret = napi_sysfs_put(d->fd_threaded, 1);
	if (ret)
		return ret;
	d->threaded = was_off; /* else nothing to put back */
	return 0;
}

/* Puts back the per-NAPI values noted for d's instances (those still there) and its
 * device's, forgets those put back (or gone), and says in t what they are back at; one that
 * failed stays noted, to be tried again. Returns 0 or the first -errno (logged). */
static int napitune_put_values(struct napitune_saved *s, struct napitune_dev *d,
			       struct napitune_iface *t)
{
	struct napi_values first = {0};
	bool same = true;
	int n = 0, ret = 0, err;
	uint32_t i;

	for (i = 0; i < s->n_napis;) {
		struct napitune_napi *p = &s->napis[i];

		if (p->ifindex != d->ifindex) {
			i++;
			continue;
		}
		err = napi_set(p->id, &p->before);
		if (!err && !n++)
			first = p->before;
		else if (!err)
			same = same && napitune_same(&first, &p->before);
		else if (err != -ENOENT) { /* -ENOENT: the instance is gone */
			log_warn("napi: %s: NAPI_SET of instance %" PRIu32 "'s values back: %s",
				 d->name, p->id, strerror(-err));
			ret = ret ? ret : err;
			i++;
			continue;
		}
		*p = s->napis[--s->n_napis];
	}
	if (n && same) {
		napitune_values_text(t, &first, true);
		napitune_say(t, " on %d NAPI instance%s", n, n == 1 ? "" : "s");
	} else if (n) {
		napitune_say(t, "their own per-NAPI values on %d NAPI instances", n);
	}
	if (!d->values)
		return ret;
	err = napi_sysfs_put(d->fd_defer, d->before.defer_hard_irqs);
	err = err ? err : napi_sysfs_put(d->fd_gro, d->before.gro_flush_timeout);
	/* (the files stay open: a reload may set values again) */
	d->values = err && err != -ENODEV;
	if (!err) {
		napitune_say(t, "%s", napitune_sep(t));
		napitune_values_text(t, &d->before, false);
		napitune_say(t, " per device (sysfs)");
	} else if (err != -ENODEV) { /* -ENODEV: the device is gone */
		log_warn("napi: %s: /sys/class/net/%s/napi_defer_hard_irqs and gro_flush_timeout "
			 "back: %s",
			 d->name, d->name, strerror(-err));
		ret = ret ? ret : err;
	}
	return ret;
}

/* The CPUs back for d's pinned threads that are still NAPI threads on the CPU ringrelay gave
 * them; forgets them, but for those that failed (*failed: how many; logged), to be tried
 * again. Returns how many were put back. */
static int napitune_put_pins(struct napitune_saved *s, const struct napitune_dev *d, int *failed)
{
	cpu_set_t now;
	int n = 0, err;
	uint32_t i;

	*failed = 0;
	for (i = 0; i < s->n_pins;) {
		struct napitune_pin *p = &s->pins[i];

		if (p->ifindex != d->ifindex) {
			i++;
			continue;
		}
		if (napi_thread_is_napi(p->pid) && !napi_affinity_get(p->pid, &now) &&
		    CPU_COUNT(&now) == 1 && CPU_ISSET(p->cpu, &now)) {
			err = napi_affinity_set(p->pid, &p->before);
			if (err) {
				log_warn("napi: %s: CPUs back for NAPI thread %d: %s", d->name,
					 (int)p->pid, strerror(-err));
				(*failed)++;
				i++;
				continue;
			}
			n++;
		}
		*p = s->pins[--s->n_pins];
	}
	return n;
}

/* The nice value back for each thread noted in s (of interface ifindex; 0: of all) that is
 * still a NAPI thread at the value ringrelay set; forgets them, but for those that failed
 * (*failed: how many; logged), to be tried again. Returns how many were put back. */
static int napitune_put_nice(struct napitune_saved *s, int ifindex, int *failed)
{
	struct napitune_thread *t;
	int n = 0, now, err;
	uint32_t i;

	*failed = 0;
	for (i = 0; i < s->n_nice;) {
		t = &s->nice[i];
		if (ifindex && t->ifindex != ifindex) {
			i++;
			continue;
		}
		/* (nothing to put back, the thread gone, or changed by someone else since) */
		if (t->before != t->set && napi_thread_is_napi(t->pid) &&
		    !napi_thread_nice_get(t->pid, &now) && now == t->set) {
			err = napi_thread_nice_set(t->pid, t->before);
			if (err) {
				log_warn("napi: nice %d back for NAPI thread %d: %s", t->before,
					 (int)t->pid, strerror(-err));
				(*failed)++;
				i++;
				continue;
			}
			n++;
		}
		*t = s->nice[--s->n_nice];
	}
	return n;
}

/* Puts back all that is noted for s->devs[di], in one log line that ends with why, and
 * forgets it; an interface that is gone is only forgotten. Unless last, what failed (logged)
 * stays noted, with the interface's files, to be tried again (the next time the interface is
 * left, and at exit). Returns whether s->devs[di] was forgotten. */
static bool napitune_put_dev(struct napitune_saved *s, uint32_t di, const char *why, bool last)
{
	struct napitune_dev *d = &s->devs[di];
	struct napitune_iface t = {.what = ""};
	char now[IF_NAMESIZE];
	int pins, nices, failed, failed_nice, err;

	if (!if_indextoname((unsigned int)d->ifindex, now)) {
		log_debug("napi: %s is gone: nothing of it to put back", d->name);
		napitune_dev_forget(s, di);
		return true;
	}
	snprintf(d->name, sizeof(d->name), "%s", now);
	pins = napitune_put_pins(s, d, &failed);
	nices = napitune_put_nice(s, d->ifindex, &failed_nice); /* before threaded ends them */
	failed += failed_nice;
	if (napitune_put_values(s, d, &t))
		failed++;
	if (pins)
		napitune_say(&t, "%sCPUs of %d NAPI thread%s", napitune_sep(&t), pins,
			     pins == 1 ? "" : "s");
	if (nices)
		napitune_say(&t, "%snice values of %d NAPI thread%s", napitune_sep(&t), nices,
			     nices == 1 ? "" : "s");
	if (d->threaded) {
		err = napi_sysfs_put(d->fd_threaded, 0);
		if (!err)
			napitune_say(&t, "%sthreaded off", napitune_sep(&t));
		else if (err != -ENODEV)
			log_warn("napi: %s: /sys/class/net/%s/threaded back to 0: %s", d->name,
				 d->name, strerror(-err));
		d->threaded = err && err != -ENODEV;
		failed += d->threaded;
	}
	if (t.what[0])
		log_info("napi: %s: put back %s%s", d->name, t.what, why);
	if (failed && !last) {
		log_notice("napi: %s: what could not be put back is tried again later, and at exit",
			   d->name);
		return false;
	}
	napitune_dev_forget(s, di);
	return true;
}

/* Whether something of d is noted to put back. */
static bool napitune_dev_noted(const struct napitune_saved *s, const struct napitune_dev *d)
{
	uint32_t i;

	if (d->values || d->threaded)
		return true;
	for (i = 0; i < s->n_napis; i++)
		if (s->napis[i].ifindex == d->ifindex)
			return true;
	for (i = 0; i < s->n_pins; i++)
		if (s->pins[i].ifindex == d->ifindex)
			return true;
	return false;
}

/* Interfaces noted in s that are no longer among names[0..n) get back what they had (one
 * that is gone is forgotten). Unless all_found: a listen address that is on no interface for
 * a moment (a link flap that takes IPv6 addresses, a moving address) may come back to one of
 * them, which keeps its settings (and its files) meanwhile. */
static void napitune_leave(struct napitune_saved *s, char (*names)[IF_NAMESIZE], uint32_t n,
			   bool all_found)
{
	char now[IF_NAMESIZE];
	uint32_t i, j;

	for (i = 0; i < s->n_devs;) {
		struct napitune_dev *d = &s->devs[i];

		for (j = 0; j < n && (int)if_nametoindex(names[j]) != d->ifindex; j++)
			;
		if (j < n) {
			i++;
		} else if (!all_found && if_indextoname((unsigned int)d->ifindex, now)) {
			if (napitune_dev_noted(s, d))
				log_info("napi: %s keeps its napi settings: a listen address is "
					 "on no interface now, and may come back to it",
					 now);
			i++;
		} else if (!napitune_put_dev(s, i, " (no longer a listen interface)", false)) {
			i++; /* kept: what failed is tried again */
		}
	}
}

/* The per-NAPI values on every instance, or the device's sysfs files when the kernel has no
 * NAPI_SET or there is no instance (a new instance starts from the device's values); all
 * three at their default (0) put back what ringrelay changed. complete: ni[0..n) are all of
 * d's instances. */
static int napitune_values(struct napitune_iface *f, const struct napi_conf *c,
			   const struct napi_instance *ni, int n, bool complete,
			   struct napitune_saved *s, struct napitune_dev *d)
{
	bool listed = !f->by_iterator; /* else: no NAPI_GET, so no NAPI_SET either */
	struct napi_values v = {.defer_hard_irqs = c->defer_hard_irqs,
				.gro_flush_timeout = c->gro_flush_timeout,
				.irq_suspend_timeout = c->irq_suspend_timeout};
	struct napitune_iface back = {.what = ""};
	int i, set = 0, unnoted = 0, ret = n > 0 && listed ? 0 : -EOPNOTSUPP;
	uint32_t new = 0;

	/* All three 0 (the default) leave the device as its administrator set it: what
	 * ringrelay changed goes back. */
	if (!c->defer_hard_irqs && !c->gro_flush_timeout && !c->irq_suspend_timeout) {
		ret = napitune_put_values(s, d, &back);
		if (back.what[0])
			napitune_say(f, "per-NAPI values put back (%s)", back.what);
		else
			napitune_say(f, "per-NAPI values left as they are");
		return ret;
	}
	for (i = 0; i < n; i++)
		new += !napitune_napi_noted(s, d, ni[i].id);
	if (complete && s->n_napis + new > NAPITUNE_MAX_SAVED)
		napitune_napi_prune(s, d, ni, n); /* room for them */
	for (i = 0; i < n && ret >= 0; i++) {
		ret = napitune_set_napi(s, d, &ni[i], &v);
		unnoted += ret > 0;
		set += ret >= 0;
	}
	if (unnoted)
		log_warn("napi: %s: per-NAPI values set on %d NAPI instance%s that will not be put "
			 "back: ringrelay notes the values of %d instances at most",
			 f->name, unnoted, unnoted == 1 ? "" : "s", NAPITUNE_MAX_SAVED);
	ret = ret > 0 ? 0 : ret;
	if (!ret) {
		napitune_values_text(f, &v, true);
		napitune_say(f, " on %d NAPI instance%s", set, set == 1 ? "" : "s");
		return 0;
	}
	if (ret != -EOPNOTSUPP) {
		log_warn("napi: %s: NAPI_SET on instance %" PRIu32 ": %s%s", f->name, ni[i - 1].id,
			 strerror(-ret),
			 ret == -EPERM ? " (needs CAP_NET_ADMIN: start as root)" : "");
		napitune_say(f, "per-NAPI values not set (%s)", strerror(-ret));
		return ret;
	}
	ret = napitune_set_device(d, &v);
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
	napitune_values_text(f, &v, false);
	napitune_say(f, " per device (sysfs)");
	return 0;
}

/* Thread pid (of d's instance) pinned to cpu, noting the CPUs it had the first time. Returns
 * 0, 1 when it pinned it but s is full (not noted: they will not be put back), or -errno. */
static int napitune_pin_one(struct napitune_saved *s, const struct napitune_dev *d, pid_t pid,
			    int cpu)
{
	uint32_t i;
	int ret;

	for (i = 0; i < s->n_pins && s->pins[i].pid != pid; i++)
		;
	if (i == NAPITUNE_MAX_PINNED) {
		ret = napi_pin(pid, cpu);
		return ret ? ret : 1;
	}
	if (i == s->n_pins) {
		ret = napi_affinity_get(pid, &s->pins[i].before);
		if (ret)
			return ret;
	}
	ret = napi_pin(pid, cpu);
	if (ret)
		return ret;
	s->pins[i].pid = pid;
	s->pins[i].ifindex = d->ifindex;
	s->pins[i].cpu = cpu;
	if (i == s->n_pins)
		s->n_pins++;
	return 0;
}

/* Each instance's thread on the CPU of the worker that serves it: instance i (id order) to
 * worker i mod the worker count (one instance, as on veth: the first worker's CPU). */
static int napitune_pin(struct napitune_iface *f, const struct napi_instance *ni, int n,
			const int *cpus, uint32_t n_cpus, struct napitune_saved *s,
			const struct napitune_dev *d)
{
	int i, ret = 0, err, unnoted = 0;

	napitune_say(f, ", threaded on (");
	for (i = 0; i < n && n_cpus; i++) {
		pid_t pid = napi_instance_pid(f->name, &ni[i]);
		int cpu = cpus[(uint32_t)i % n_cpus];

		err = pid > 0 ? napitune_pin_one(s, d, pid, cpu) : (int)pid;
		if (err > 0) {
			unnoted++;
			err = 0;
		}
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
	if (unnoted)
		log_warn("napi: %s: %d NAPI thread%s pinned that will not get their CPUs back: "
			 "ringrelay notes those of %d threads at most",
			 f->name, unnoted, unnoted == 1 ? "" : "s", NAPITUNE_MAX_PINNED);
	return ret;
}

/* Thread pid's entry in s's nice values, a new one (before = set: nothing to put back yet)
 * when it has none, or NULL when they are full (its value will not be put back). */
static struct napitune_thread *napitune_entry(struct napitune_saved *s,
					      const struct napitune_dev *d, pid_t pid, bool *is_new)
{
	uint32_t i;

	for (i = 0; i < s->n_nice && s->nice[i].pid != pid; i++)
		;
	*is_new = i == s->n_nice;
	if (*is_new) {
		if (s->n_nice == NAPITUNE_MAX_THREADS)
			return NULL;
		s->nice[s->n_nice++] = (struct napitune_thread){.pid = pid, .ifindex = d->ifindex};
	}
	return &s->nice[i];
}

/* napi.thread_nice on each instance's thread that may run on a worker's CPU. Both are fair
 * threads there and would share the CPU equally; under overload the NAPI thread's half goes
 * to datagrams the starved worker cannot take (perf/README.md, "Overload protection"). */
static int napitune_nice(struct napitune_iface *f, const struct napi_instance *ni, int n,
			 const int *cpus, uint32_t n_cpus, int nice, struct napitune_saved *s,
			 const struct napitune_dev *d)
{
	int i, done = 0, unnoted = 0, ret = 0, err, before;
	struct napitune_thread *e;
	bool is_new;

	for (i = 0; i < n; i++) {
		pid_t pid = napi_instance_pid(f->name, &ni[i]);

		if (pid <= 0 || !napi_thread_on_cpus(pid, cpus, n_cpus))
			continue;
		err = napi_thread_nice_get(pid, &before);
		e = NULL;
		if (!err) {
			e = napitune_entry(s, d, pid, &is_new);
			if (e && is_new)
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
		if (e)
			e->set = nice;
		else
			unnoted += before != nice;
		done++;
	}
	if (done)
		napitune_say(f, ", %d NAPI thread%s on worker CPUs at nice %d", done,
			     done == 1 ? "" : "s", nice);
	if (unnoted)
		log_warn("napi: %s: %d NAPI thread%s at nice %d that will not get their value "
			 "back: ringrelay notes those of %d threads at most",
			 f->name, unnoted, unnoted == 1 ? "" : "s", nice, NAPITUNE_MAX_THREADS);
	return ret;
}

bool napitune_flood_step(struct napitune_flood *fl, uint64_t drops, uint64_t now_ms)
{
	bool was = fl->flooded;

	if (fl->primed && drops > fl->drops) {
		fl->flooded = true;
		fl->last_ms = now_ms;
	} else if (fl->flooded && now_ms - fl->last_ms >= NAPITUNE_FLOOD_HOLD_MS) {
		fl->flooded = false;
	}
	fl->drops = drops;
	fl->primed = true;
	return fl->flooded != was;
}

/* Under a flood a NAPI thread is always runnable, and at napi.thread_nice it takes its fair
 * share of the worker's CPU for frames the stage then drops: the relay kept about 90 % of its
 * rate. Further behind the worker it leaves the worker more; below overload it needs its
 * share (a thread further behind there cost a tenth of the rate), so only while shedding
 * (perf/README.md, "Round forty"). */
int napitune_flood_nice(struct napitune_saved *s, bool flooded, int calm, int flood)
{
	int to = flooded ? flood : calm, from = flooded ? calm : flood, n = 0, now, err, ret = 0;
	struct napitune_thread *t;
	uint32_t i;

	for (i = 0; i < s->n_nice; i++) {
		t = &s->nice[i];
		if (t->set != from || !napi_thread_is_napi(t->pid) ||
		    napi_thread_nice_get(t->pid, &now) || now != from)
			continue;
		err = napi_thread_nice_set(t->pid, to);
		if (err) {
			ret = ret ? ret : err;
			continue;
		}
		t->set = to;
		n++;
	}
	return ret ? ret : n;
}

void napitune_restore(struct napitune_saved *s)
{
	int failed;

	while (s->n_devs)
		napitune_put_dev(s, s->n_devs - 1, "", true);
	napitune_put_nice(s, 0, &failed); /* (none is left: each belongs to a device) */
	s->n_nice = 0;
}

bool napitune_any_saved(const struct napitune_saved *s)
{
	uint32_t i;

	for (i = 0; i < s->n_devs; i++)
		if (s->devs[i].values || s->devs[i].threaded)
			return true;
	return s->n_nice || s->n_napis || s->n_pins;
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
static int napitune_threads_only(struct napitune_iface *f, bool threaded, struct napi_instance *ni,
				 struct napitune_dev *d)
{
	int on = napi_get_threaded(f->name), n, err;

	f->by_iterator = true;
	if (on < 0) {
		log_warn("napi: %s: /sys/class/net/%s/threaded: %s", f->name, f->name,
			 strerror(-on));
		return 0;
	}
	if (threaded && on == 0) {
		err = napitune_threaded_on(d);
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
			uint32_t n_cpus, struct napitune_iface *f, struct napitune_saved *s)
{
	struct napi_instance ni[NAPI_MAX_INSTANCES]; /* 10 KiB */
	const struct napi_conf *c = &cfg->napi;
	int ifindex = (int)if_nametoindex(name), n, ret, err, i;
	struct napitune_dev *d;
	bool listed;

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
	/* (room for every interface: those that are no longer listen interfaces left first) */
	d = napitune_dev_entry(s, ifindex, name);
	if (!d) {
		napitune_say(f, "left as it is (too many interfaces)");
		return -ENOSPC;
	}
	n = napi_list(ifindex, ni, NAPI_MAX_INSTANCES);
	listed = n >= 0 && n <= NAPI_MAX_INSTANCES; /* ni holds every instance */
	if (n == -EOPNOTSUPP) {
		log_notice("napi: %s: the kernel cannot list NAPI instances (netdev NAPI_GET, "
			   "Linux 6.9): per-device values; threads found by a BPF task iterator",
			   name);
		n = napitune_threads_only(f, c->threaded, ni, d);
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
		err = napitune_threaded_on(d);
		if (err)
			log_warn("napi: %s: threaded NAPI: /sys/class/net/%s/threaded: %s", name,
				 name, strerror(-err));
		else
			n = napi_list(ifindex, ni, NAPI_MAX_INSTANCES); /* now with their pids */
		listed = listed && n >= 0 && n <= NAPI_MAX_INSTANCES;
		if (n < 0)
			n = 0;
		if (n > NAPI_MAX_INSTANCES)
			n = NAPI_MAX_INSTANCES;
		if (!err)
			napithreads_fill_pids(ifindex, ni, n);
	}
	/* (instances noted and not listed now stay noted: they may come back) */
	ret = napitune_values(f, c, ni, n, listed, s, d);
	if (c->threaded && n > 0 && napitune_all_threaded(ni, n)) {
		err = napitune_pin(f, ni, n, cpus, n_cpus, s, d);
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
		err = napitune_nice(f, ni, n, cpus, n_cpus, c->thread_nice, s, d);
		ret = ret ? ret : err;
	}
	return ret;
}

int napitune_apply(const struct config *cfg, const int *cpus, uint32_t n_cpus,
		   struct napitune_report *report, struct napitune_saved *saved)
{
	char names[NAPITUNE_MAX_IFACES][IF_NAMESIZE];
	bool all_found;
	uint32_t i, n = napitune_interfaces(cfg, names, NAPITUNE_MAX_IFACES, &all_found);
	int ret = 0, err, failed;

	report->n = 0;
	if (!cfg->napi.thread_nice)
		napitune_put_nice(saved, 0, &failed); /* a reload turned it off */
	/* Threads gone with their instance (an XDP attach, a link change) leave the tables. */
	for (i = 0; i < saved->n_nice;)
		if (napi_thread_is_napi(saved->nice[i].pid))
			i++;
		else
			saved->nice[i] = saved->nice[--saved->n_nice];
	for (i = 0; i < saved->n_pins;)
		if (napi_thread_is_napi(saved->pins[i].pid))
			i++;
		else
			saved->pins[i] = saved->pins[--saved->n_pins];
	napitune_leave(saved, names, n, all_found);
	for (i = 0; i < n; i++) {
		err =
		    napitune_one(cfg, names[i], cpus, n_cpus, &report->ifaces[report->n++], saved);
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
