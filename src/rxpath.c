// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "filter.h"
#include "napi.h"
#include "napithreads.h"
#include "rxpath.h"

/* ---------------------------------------------------------------- pure parts */

static const char *skip_space(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return s;
}

int rxpath_parse_cpulist(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	s = skip_space(s);
	while (*s) {
		unsigned long lo, hi;
		char *end;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		lo = strtoul(s, &end, 10);
		hi = lo;
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				return -EINVAL;
			hi = strtoul(end + 1, &end, 10);
		}
		if (hi < lo || hi >= CPU_SETSIZE)
			return -EINVAL;
		for (; lo <= hi; lo++)
			CPU_SET(lo, set);
		s = end;
		if (*s == ',')
			s++;
		else if (*skip_space(s))
			return -EINVAL;
		else
			break;
	}
	return 0;
}

int rxpath_parse_mask(const char *s, cpu_set_t *set)
{
	size_t n, i;
	int bit = 0;

	CPU_ZERO(set);
	s = skip_space(s);
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (!n)
		return -EINVAL;
	/* From the last hex digit (CPUs 0-3) backwards; commas only separate 32-bit words,
	 * so they carry no bits. */
	for (i = n; i-- > 0;) {
		int v, b;

		if (s[i] == ',')
			continue;
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		v = isdigit((unsigned char)s[i]) ? s[i] - '0'
						 : tolower((unsigned char)s[i]) - 'a' + 10;
		for (b = 0; b < 4; b++, bit++) {
			if (!(v & (1 << b)))
				continue;
			if (bit >= CPU_SETSIZE)
				return -ERANGE;
			CPU_SET(bit, set);
		}
	}
	return 0;
}

int rxpath_format_cpus(const cpu_set_t *set, char *buf, size_t len)
{
	size_t n = 0;
	int cpu, end;

	if (len)
		buf[0] = '\0';
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, set))
			continue;
		for (end = cpu; end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, set); end++)
			;
		if (n < len) {
			if (end == cpu)
				n += (size_t)snprintf(buf + n, len - n, "%s%d", n ? "," : "", cpu);
			else
				n += (size_t)snprintf(buf + n, len - n, "%s%d-%d", n ? "," : "",
						      cpu, end);
		}
		cpu = end;
	}
	return n < len ? (int)n : -ENOSPC;
}

/* Does lower-cased s contain word? */
static bool has_word(const char *s, const char *word)
{
	return strstr(s, word) != NULL;
}

int rxpath_irq_queue(const char *action, const char *dev, bool own, uint32_t n_queues)
{
	size_t dl = strlen(dev), n, i;
	const char *rest = NULL, *p;
	char low[64];
	unsigned long q;

	if (!dl || !strcmp(action, dev))
		return dl ? RXPATH_IRQ_ALL : -1;
	/* dev as a whole word: "eth0-rx-1", "i40e-eth0-TxRx-3", not "eth01-rx-1" */
	for (p = strstr(action, dev); p; p = strstr(p + 1, dev)) {
		bool start = p == action || !isalnum((unsigned char)p[-1]);

		if (start && (p[dl] == '-' || p[dl] == '_' || p[dl] == '.' || p[dl] == '@')) {
			rest = p + dl + 1;
			break;
		}
	}
	if (!rest) {
		if (!own)
			return -1;
		rest = action; /* one of the device's own vectors: "virtio2-input.0" */
	}
	for (i = 0; rest[i] && i < sizeof(low) - 1; i++)
		low[i] = (char)tolower((unsigned char)rest[i]);
	low[i] = '\0';
	/* transmit-only, configuration and error vectors carry no receive */
	if (has_word(low, "output") || has_word(low, "config") || has_word(low, "ctrl") ||
	    has_word(low, "async") || has_word(low, "event") || has_word(low, "err") ||
	    (has_word(low, "tx") && !has_word(low, "rx")))
		return -1;
	n = strlen(low);
	for (i = n; i > 0 && isdigit((unsigned char)low[i - 1]); i--)
		;
	if (i == n || (i > 0 && isalpha((unsigned char)low[i - 1]))) {
		/* no queue number ("virtio3-rx", or "comp0" glued to its word): a device with
		 * one RX queue has it on queue 0 when the name says receive */
		if ((has_word(low, "rx") || has_word(low, "input")) && n_queues == 1)
			return 0;
		return -1;
	}
	/* "DEV-N" alone, or a receive word before the number */
	if (!(i == 0 || has_word(low, "rx") || has_word(low, "input") || has_word(low, "queue") ||
	      (rest != action && strspn(low, "0123456789") == n)))
		return -1;
	q = strtoul(low + i, NULL, 10);
	return q < n_queues ? (int)q : -1;
}

const char *rxpath_xdp_name(enum rxpath_xdp x)
{
	static const char *const names[] = {
	    [RXPATH_XDP_UNKNOWN] = "unknown", [RXPATH_XDP_NONE] = "none",
	    [RXPATH_XDP_GENERIC] = "generic", [RXPATH_XDP_NATIVE] = "native",
	    [RXPATH_XDP_OFFLOAD] = "offload", [RXPATH_XDP_MULTI] = "multi",
	};

	return (unsigned int)x < sizeof(names) / sizeof(names[0]) ? names[x] : "unknown";
}

static int first_cpu(const cpu_set_t *set)
{
	int c;

	for (c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, set))
			return c;
	return -1;
}

/* The first queue whose set (IRQ CPUs or RPS mask) meets workers, and how many do. */
static int clash(const struct rxpath_iface *ifc, const cpu_set_t *workers, bool rps,
		 uint32_t *count, int *cpu)
{
	int first = -1;
	uint32_t q;

	*count = 0;
	for (q = 0; q < ifc->n_desc; q++) {
		cpu_set_t both;

		CPU_AND(&both, rps ? &ifc->q[q].rps : &ifc->q[q].irq_cpus, workers);
		if (!CPU_COUNT(&both))
			continue;
		if (first < 0) {
			first = (int)q;
			*cpu = first_cpu(&both);
		}
		(*count)++;
	}
	return first;
}

/* " (and N more queues)" after the first of count clashing queues, else "". */
static void more_queues(char *buf, size_t len, uint32_t count)
{
	buf[0] = '\0';
	if (count > 1)
		snprintf(buf, len, " (and %u more queue%s)", count - 1, count == 2 ? "" : "s");
}

/* One warning: written to msg[*n] while *n < max, counted either way. */
static void warning(char (*msg)[RXPATH_MSG_LEN], uint32_t max, uint32_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void warning(char (*msg)[RXPATH_MSG_LEN], uint32_t max, uint32_t *n, const char *fmt, ...)
{
	va_list ap;

	if (*n < max) {
		va_start(ap, fmt);
		vsnprintf(msg[*n], RXPATH_MSG_LEN, fmt, ap);
		va_end(ap);
	}
	(*n)++;
}

uint32_t rxpath_check(const struct rxpath_iface *ifc, const struct rxpath_protect *p,
		      const int *worker_cpu, uint32_t n_workers, char (*msg)[RXPATH_MSG_LEN],
		      uint32_t max)
{
	char more[48] = "", cpus[128], range[40];
	uint32_t n = 0, count, i;
	cpu_set_t workers;
	int q, cpu = -1;

	CPU_ZERO(&workers);
	for (i = 0; i < n_workers; i++)
		if (worker_cpu[i] >= 0 && worker_cpu[i] < CPU_SETSIZE)
			CPU_SET(worker_cpu[i], &workers);

	/* The NAPI poll runs in the softirq of the CPU its IRQ lands on: a worker there loses
	 * its CPU to it under load unless the poll is a thread, the worker polls itself, or
	 * the excess is dropped before it costs an skb. */
	q = clash(ifc, &workers, false, &count, &cpu);
	if (q >= 0 && !(ifc->threaded == 1 || p->busy_poll || p->shed)) {
		int irq = ifc->q[q].n_irqs ? ifc->q[q].irq[0] : -1;

		more_queues(more, sizeof(more), count);
		warning(msg, max, &n,
			"%s: RX queue %d's softirq (IRQ %d) runs on CPU %d, a worker's CPU, with no "
			"protection against receive livelock%s: set napi.threaded = true, or move "
			"IRQ %d off CPU %d (/proc/irq/%d/smp_affinity_list)",
			ifc->name, q, irq, cpu, more, irq, cpu, irq);
	}
	/* RPS hands packets to the backlog softirq of the CPUs in its mask, after the NAPI
	 * poll: threaded NAPI and busy polling do not move that work; only shedding before
	 * RPS (XDP) spares the worker. Shedding in tc runs after RPS, in that softirq: it
	 * counts only when the interface has an XDP program (where shedding goes first). */
	q = clash(ifc, &workers, true, &count, &cpu);
	if (q >= 0 && !(p->shed && ifc->xdp_prog_id)) {
		more_queues(more, sizeof(more), count);
		warning(msg, max, &n,
			"%s: RPS steers RX queue %d%s to CPU %d, a worker's CPU, where its backlog "
			"softirq can starve the worker: leave CPU %d out of "
			"/sys/class/net/%s/queues/rx-%d/rps_cpus, or drop the excess in XDP",
			ifc->name, q, more, cpu, cpu, ifc->name, q);
	}
	if (n_workers && ifc->n_queues > n_workers) {
		cpu_set_t served;

		CPU_ZERO(&served);
		for (i = n_workers; i < ifc->n_desc; i++) {
			CPU_OR(&served, &served, &ifc->q[i].irq_cpus);
			CPU_OR(&served, &served, &ifc->q[i].rps);
		}
		if (CPU_COUNT(&served)) {
			char list[96];

			rxpath_format_cpus(&served, list, sizeof(list));
			snprintf(cpus, sizeof(cpus), "CPUs %s", list);
		} else {
			snprintf(cpus, sizeof(cpus), "%s",
				 ifc->virtual_dev ? "the sending CPUs (virtual device)"
						  : "CPUs not known");
		}
		if (ifc->n_queues - n_workers > 1)
			snprintf(range, sizeof(range), "queues %u-%u are", n_workers,
				 ifc->n_queues - 1);
		else
			snprintf(range, sizeof(range), "queue %u is", n_workers);
		warning(msg, max, &n,
			"%s: %u RX queues, %u worker%s: %s served by softirq on %s: set workers = "
			"%u, or lower the RX queues to %u",
			ifc->name, ifc->n_queues, n_workers, n_workers == 1 ? "" : "s", range, cpus,
			ifc->n_queues, n_workers);
	}
	return n;
}

/* ---------------------------------------------------------------- reading the system */

/* Reads path into buf (NUL-terminated, cut at len - 1). Returns 0 or -errno. */
static int read_text(const char *path, char *buf, size_t len)
{
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read(fd, buf, len - 1);
	if (r < 0) {
		r = -errno;
		close(fd);
		return (int)r;
	}
	close(fd);
	buf[r] = '\0';
	return 0;
}

/* The RX queue count: the highest rx-N in DEV/queues, plus one. */
static int count_queues(const char *sys, const char *dev, uint32_t *n)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/class/net/%s/queues", sys, dev);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ENODEV : -errno;
	*n = 0;
	while ((e = readdir(d))) {
		char *end;
		unsigned long q;

		if (strncmp(e->d_name, "rx-", 3) || !isdigit((unsigned char)e->d_name[3]))
			continue;
		q = strtoul(e->d_name + 3, &end, 10);
		if (!*end && q + 1 > *n && q < UINT32_MAX)
			*n = (uint32_t)q + 1;
	}
	closedir(d);
	return 0;
}

/* Adds irq (with its CPUs) to queue q, or to every queue for RXPATH_IRQ_ALL. */
static void add_irq(const struct rxpath_paths *pp, struct rxpath_iface *ifc, int q, int irq)
{
	char path[PATH_MAX], text[512];
	cpu_set_t cpus;
	uint32_t i;

	/* Where the IRQ fires now (effective), else where it may (the configured mask). */
	snprintf(path, sizeof(path), "%s/irq/%d/effective_affinity_list", pp->proc, irq);
	if (read_text(path, text, sizeof(text)) || rxpath_parse_cpulist(text, &cpus) ||
	    !CPU_COUNT(&cpus)) {
		snprintf(path, sizeof(path), "%s/irq/%d/smp_affinity_list", pp->proc, irq);
		if (read_text(path, text, sizeof(text)) || rxpath_parse_cpulist(text, &cpus))
			CPU_ZERO(&cpus);
	}
	for (i = 0; i < ifc->n_desc; i++) {
		struct rxpath_queue *rq = &ifc->q[i];

		if (q != RXPATH_IRQ_ALL && (uint32_t)q != i)
			continue;
		if (rq->n_irqs < RXPATH_MAX_IRQS)
			rq->irq[rq->n_irqs++] = irq;
		CPU_OR(&rq->irq_cpus, &rq->irq_cpus, &cpus);
	}
	ifc->irqs_known = true;
}

/* Matches IRQ irq by its action names (/sys/kernel/irq/N/actions: the names
 * /proc/interrupts shows, comma-separated when shared) to a queue of ifc. */
static void match_irq(const struct rxpath_paths *pp, struct rxpath_iface *ifc, int irq, bool own)
{
	char path[PATH_MAX], text[512], *save = NULL, *name;

	snprintf(path, sizeof(path), "%s/kernel/irq/%d/actions", pp->sys, irq);
	if (read_text(path, text, sizeof(text)))
		return;
	for (name = strtok_r(text, ",\n", &save); name; name = strtok_r(NULL, ",\n", &save)) {
		int q = rxpath_irq_queue(name, ifc->name, own, ifc->n_queues);

		if (q != -1) {
			add_irq(pp, ifc, q, irq);
			return;
		}
	}
}

/* Every numeric entry of dir as an IRQ, own (the device's) or not. Returns how many. */
static int scan_irqs(const struct rxpath_paths *pp, struct rxpath_iface *ifc, const char *dir,
		     bool own)
{
	struct dirent *e;
	int n = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char *end;
		long irq;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		irq = strtol(e->d_name, &end, 10);
		if (*end || irq > INT_MAX)
			continue;
		match_irq(pp, ifc, (int)irq, own);
		n++;
	}
	closedir(d);
	return n;
}

/* The IRQs of a device: its MSI vectors (a virtio-net device's are its PCI parent's), else
 * its legacy IRQ, else any IRQ whose name contains the interface's (drivers that name
 * vectors "eth0-rx-0" without exposing msi_irqs). */
static void find_irqs(const struct rxpath_paths *pp, struct rxpath_iface *ifc)
{
	char path[PATH_MAX], text[32];
	long irq;

	snprintf(path, sizeof(path), "%s/class/net/%s/device/msi_irqs", pp->sys, ifc->name);
	if (scan_irqs(pp, ifc, path, true))
		return;
	snprintf(path, sizeof(path), "%s/class/net/%s/device/../msi_irqs", pp->sys, ifc->name);
	if (scan_irqs(pp, ifc, path, true))
		return;
	snprintf(path, sizeof(path), "%s/class/net/%s/device/irq", pp->sys, ifc->name);
	if (!read_text(path, text, sizeof(text)) && (irq = strtol(text, NULL, 10)) > 0 &&
	    irq <= INT_MAX) {
		match_irq(pp, ifc, (int)irq, true);
		/* one INTx line serves the whole device, whatever its name */
		if (!ifc->irqs_known)
			add_irq(pp, ifc, RXPATH_IRQ_ALL, (int)irq);
		return;
	}
	snprintf(path, sizeof(path), "%s/kernel/irq", pp->sys);
	scan_irqs(pp, ifc, path, false);
}

/* GRO through the legacy ethtool ioctl: one call, any kernel, no privilege. */
static int read_gro(const char *dev)
{
	struct ethtool_value ev = {.cmd = ETHTOOL_GGRO};
	struct ifreq ifr;
	int fd, ret;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	ifr.ifr_data = (void *)&ev;
	ret = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	return ret ? -1 : !!ev.data;
}

/* The XDP attachment from rtnetlink (filter.c asks libbpf; no privilege needed). */
static void read_xdp(unsigned int ifindex, struct rxpath_iface *ifc)
{
	static const enum rxpath_xdp by_mode[] = {
		[XDP_ATTACHED_NONE] = RXPATH_XDP_NONE, [XDP_ATTACHED_SKB] = RXPATH_XDP_GENERIC,
		[XDP_ATTACHED_DRV] = RXPATH_XDP_NATIVE, [XDP_ATTACHED_HW] = RXPATH_XDP_OFFLOAD,
	};
	uint32_t id = 0;
	int mode;

	if (filter_xdp_query((int)ifindex, &mode, &id)) {
		ifc->xdp = RXPATH_XDP_UNKNOWN;
		return;
	}
	ifc->xdp_prog_id = id;
	/* any other mode: XDP_ATTACHED_MULTI, programs in several modes */
	ifc->xdp = mode >= 0 && mode < (int)(sizeof(by_mode) / sizeof(by_mode[0]))
			   ? by_mode[mode]
			   : RXPATH_XDP_MULTI;
}

/* The threads of ifindex's threaded NAPI instances (a threaded device), in id order: their
 * CPUs and nice value. A kernel that cannot list instances (< 6.9), or lists them without
 * their threads (< 6.10), has them found by the BPF task iterator, which needs CAP_BPF and
 * CAP_PERFMON (none listed without). A thread gone meanwhile is left out. */
static void read_threads(unsigned int ifindex, const char *ifname, struct rxpath_iface *out)
{
	struct napi_instance *ni = calloc(NAPI_MAX_INSTANCES, sizeof(*ni));
	int n, i;

	if (!ni)
		return;
	n = napi_list((int)ifindex, ni, NAPI_MAX_INSTANCES);
	if (n == -EOPNOTSUPP)
		n = napithreads_list((int)ifindex, ni, NAPI_MAX_INSTANCES);
	else if (n > 0)
		napithreads_fill_pids((int)ifindex, ni, n < NAPI_MAX_INSTANCES ? n : NAPI_MAX_INSTANCES);
	for (i = 0; i < n && i < NAPI_MAX_INSTANCES; i++)
		rxpath_add_thread(out, ni[i].id, napi_instance_pid(ifname, &ni[i]));
	free(ni);
}

void rxpath_add_thread(struct rxpath_iface *out, uint32_t napi_id, pid_t pid)
{
	struct rxpath_thread *t;

	if (pid <= 0)
		return;
	out->n_threads_all++;
	if (out->n_threads == RXPATH_MAX_THREADS)
		return;
	t = &out->threads[out->n_threads];
	if (sched_getaffinity(pid, sizeof(t->cpus), &t->cpus) ||
	    napi_thread_nice_get(pid, &t->nice)) {
		out->n_threads_all--; /* gone meanwhile */
		return;
	}
	t->napi_id = napi_id;
	t->pid = (int)pid;
	out->n_threads++;
}

int rxpath_describe(const struct rxpath_paths *paths, const char *ifname, struct rxpath_iface *out)
{
	static const struct rxpath_paths real = {"/sys", "/proc"};
	const struct rxpath_paths *pp = paths ? paths : &real;
	char path[PATH_MAX], text[512];
	unsigned int ifindex;
	uint32_t q;
	int ret;

	memset(out, 0, sizeof(*out));
	if (strlen(ifname) >= sizeof(out->name))
		return -ENODEV;
	snprintf(out->name, sizeof(out->name), "%s", ifname);
	ret = count_queues(pp->sys, ifname, &out->n_queues);
	if (ret)
		return ret;
	out->n_desc = out->n_queues < RXPATH_MAX_QUEUES ? out->n_queues : RXPATH_MAX_QUEUES;
	for (q = 0; q < out->n_desc; q++) {
		snprintf(path, sizeof(path), "%s/class/net/%s/queues/rx-%u/rps_cpus", pp->sys,
			 ifname, q);
		/* without CONFIG_RPS there is no file: no RPS */
		if (read_text(path, text, sizeof(text)) || rxpath_parse_mask(text, &out->q[q].rps))
			CPU_ZERO(&out->q[q].rps);
	}
	snprintf(path, sizeof(path), "%s/class/net/%s/device", pp->sys, ifname);
	out->virtual_dev = access(path, F_OK) != 0;
	if (!out->virtual_dev)
		find_irqs(pp, out);
	snprintf(path, sizeof(path), "%s/class/net/%s/threaded", pp->sys, ifname);
	out->threaded = read_text(path, text, sizeof(text)) ? -1 : atoi(text) != 0;
	/* The system's own state only when looking at the system, not a made-up tree. */
	out->gro = -1;
	out->xdp = RXPATH_XDP_UNKNOWN;
	if (paths)
		return 0;
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return -ENODEV;
	out->gro = read_gro(ifname);
	read_xdp(ifindex, out);
	if (out->threaded == 1)
		read_threads(ifindex, ifname, out);
	return 0;
}

bool rxpath_xdp_early(const struct rxpath_iface *ifc)
{
	uint32_t q;

	if (!ifc->virtual_dev)
		return true;
	for (q = 0; q < ifc->n_desc; q++)
		if (CPU_COUNT(&ifc->q[q].rps))
			return true;
	return false;
}
