// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/if_addr.h>

#include "filter.h"
#include "log.h"
#include "netlink.h"
#include "portclaim.h"
#include "portown.h"
#include "privs.h"
#include "runtime.h"
#include "snapshot.h"
#include "sock.h"
#include "upstream.h"
#include "worker_mmsg.h"
#include "worker_uring.h"

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

int runtime_host(const struct config *cfg, struct plan_host *host)
{
	char ifname[IF_NAMESIZE];
	struct netlink_link link;
	uint32_t i, j;
	cpu_set_t set;
	int cpu;

	memset(host, 0, sizeof(*host));
	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	for (cpu = 0; cpu < CPU_SETSIZE && host->n_cpus < CONFIG_MAX_CPUS; cpu++)
		if (CPU_ISSET(cpu, &set))
			host->cpus[host->n_cpus++] = cpu;
	/* The most RX queues among the interfaces that hold a listen address: more workers
	 * than that only share queues. Wildcard listeners say nothing. */
	for (i = 0; i < cfg->n_relays; i++) {
		for (j = 0; j < cfg->relays[i].n_listen; j++) {
			if (netlink_ifname_of_addr(&cfg->relays[i].listen[j], ifname) ||
			    netlink_link_info(ifname, &link))
				continue;
			if (link.rx_queues > host->rx_queues)
				host->rx_queues = link.rx_queues;
			/* Loopback's 64 KB MTU says nothing about the datagrams it carries. */
			if (!link.loopback && link.mtu > host->mtu) {
				host->mtu = link.mtu;
				snprintf(host->mtu_ifname, sizeof(host->mtu_ifname), "%s", ifname);
			}
		}
	}
	return 0;
}

/* RLIMIT_NOFILE as this process finds it, for plan_check_nofile; changes nothing. */
static int nofile_limits(struct plan_nofile *lim)
{
	unsigned long long v;
	struct rlimit rl;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	lim->soft = rl.rlim_cur;
	lim->hard = rl.rlim_max;
	/* Raising the hard limit needs CAP_SYS_RESOURCE (root has it), up to fs.nr_open. */
	lim->can_raise = privs_thread_effective(UINT64_C(1) << 24 /* CAP_SYS_RESOURCE */);
	lim->nr_open = 1u << 20; /* the kernel's default when the file cannot be read */
	f = fopen("/proc/sys/fs/nr_open", "re");
	if (f) {
		if (fscanf(f, "%llu", &v) == 1)
			lim->nr_open = v;
		fclose(f);
	}
	return 0;
}

int runtime_check_nofile(const struct config *cfg, const struct plan *plan, char *err,
			 size_t errlen)
{
	struct plan_nofile lim;
	int ret = nofile_limits(&lim);

	if (ret) {
		snprintf(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(-ret));
		return ret;
	}
	return plan_check_nofile(cfg, plan, &lim, err, errlen);
}

/* call (getrlimit or setrlimit) of RLIMIT_NOFILE failed: -errno, saying so in err. */
static int rlimit_error(const char *call, char *err, size_t errlen)
{
	int e = errno;

	snprintf(err, errlen, "%s(RLIMIT_NOFILE): %s", call, strerror(e));
	return -e;
}

/* Raises RLIMIT_NOFILE's soft limit to need where the hard one allows (no privilege needed):
 * 0, -EMFILE when the hard limit is lower (*rl: the limits as found), or -errno with err
 * set. */
static int nofile_soft_to(uint64_t need, struct rlimit *rl, char *err, size_t errlen)
{
	if (getrlimit(RLIMIT_NOFILE, rl))
		return rlimit_error("getrlimit", err, errlen);
	if (rl->rlim_cur >= need)
		return 0;
	if (rl->rlim_max < need)
		return -EMFILE;
	rl->rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, rl) ? rlimit_error("setrlimit", err, errlen) : 0;
}

int runtime_raise_nofile(const struct config *cfg, const struct plan *plan, char *err,
			 size_t errlen)
{
	uint64_t need = plan->nofile;
	struct rlimit rl, want = { .rlim_cur = need, .rlim_max = need };
	int ret = nofile_soft_to(need, &rl, err, errlen);

	if (ret != -EMFILE)
		return ret;
	/* The hard limit too: CAP_SYS_RESOURCE. */
	if (setrlimit(RLIMIT_NOFILE, &want) == 0)
		return 0;
	/* (check_nofile passed: the limits changed since, or the kernel refused) */
	if (!runtime_check_nofile(cfg, plan, err, errlen))
		snprintf(err, errlen,
			 "the sessions need %llu file descriptors but the hard "
			 "RLIMIT_NOFILE is %llu and the kernel refused to raise it: lower "
			 "max_sessions or raise LimitNOFILE= / ulimit -Hn",
			 (unsigned long long)need, (unsigned long long)rl.rlim_max);
	return -EMFILE;
}

int runtime_reload_nofile(const struct config *cfg, uint64_t running, char *err, size_t errlen)
{
	uint32_t claims = plan_claims(cfg);
	uint64_t need = running + claims;
	struct rlimit rl;
	int ret = nofile_soft_to(need, &rl, err, errlen);

	if (ret != -EMFILE)
		return ret;
	snprintf(err, errlen,
		 "%s: the %u listen ports need a claim each (a file descriptor, held until "
		 "their listeners are bound) beside the %llu the running relays may hold: %llu "
		 "in all, more than the hard RLIMIT_NOFILE (%llu) lets a reload have: restart "
		 "to apply it (a start takes what its plan needs), or listen on fewer ports",
		 cfg->path, claims, (unsigned long long)running, (unsigned long long)need,
		 (unsigned long long)rl.rlim_max);
	return -EMFILE;
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

static int runtime_retire(struct runtime *rt, struct config *cfg)
{
	struct runtime_retired *r = malloc(sizeof(*r));

	if (!r)
		return -ENOMEM; /* left allocated: freeing it under the stuck worker is worse */
	r->cfg = cfg;
	r->next = rt->retired;
	rt->retired = r;
	return 0;
}

bool runtime_workers_behind(const struct runtime *rt)
{
	return rt->retired != NULL;
}

static void runtime_free_retired(struct runtime *rt)
{
	struct runtime_retired *r;

	while ((r = rt->retired)) {
		rt->retired = r->next;
		config_free(r->cfg);
		free(r);
	}
}

/* Memory a worker stuck in the middle of a command may still write (worker_wait's
 * -ECANCELED, at a stop): freed only by runtime_fini, which frees nothing while a worker is
 * left running. Without memory for the record it stays allocated. */
static void runtime_keep(struct runtime *rt, void *mem)
{
	struct runtime_kept *k = malloc(sizeof(*k));

	if (!k)
		return;
	k->mem = mem;
	k->next = rt->kept;
	rt->kept = k;
}

static void runtime_free_kept(struct runtime *rt)
{
	struct runtime_kept *k;

	while ((k = rt->kept)) {
		rt->kept = k->next;
		free(k->mem);
		free(k);
	}
}

/* Which relay slots a worker still uses (a removed relay drains there). */
static void busy_slots(const struct runtime *rt, bool *busy)
{
	uint32_t i, s;

	for (s = 0; s < WORKER_MAX_RELAYS; s++) {
		busy[s] = false;
		for (i = 0; i < rt->plan.n_workers; i++)
			if (!worker_slot_unused(&rt->workers[i], s))
				busy[s] = true;
	}
}

/* A new generation for each slot of slot[] (cfg's relays) that gets a relay of another name
 * than its generation in force counts: the workers start its counters over. */
static void slot_gens(struct runtime *rt, const struct config *cfg, const uint32_t *slot)
{
	uint32_t i, s;

	for (i = 0; i < cfg->n_relays; i++) {
		s = slot[i];
		if (rt->slot_gen[s] && !strcmp(rt->slot_named[s], cfg->relays[i].name))
			continue;
		snprintf(rt->slot_named[s], sizeof(rt->slot_named[s]), "%s", cfg->relays[i].name);
		rt->slot_gen[s] = ++rt->slot_gen_next;
	}
}

/* Whether worker w's counters of slot s count its relay in force. */
static bool counts_slot(const struct runtime *rt, const struct worker *w, uint32_t s)
{
	return __atomic_load_n(&w->relays[s].counted_gen, __ATOMIC_ACQUIRE) == rt->slot_gen[s];
}

/* Keeps warning msg (logged) for the caller's answer, if notes. */
static void note_add(struct runtime_notes *notes, const char *msg)
{
	static const char more[] = "warning: ... (more in the log)\n";
	size_t room;
	int n;

	if (!notes || notes->cut)
		return;
	room = sizeof(notes->text) - notes->len;
	n = snprintf(notes->text + notes->len, room, "warning: %s\n", msg);
	/* keeps room for the line that says some are left out */
	if (n > 0 && (size_t)n < room && room - (size_t)n > sizeof(more)) {
		notes->len += (size_t)n;
		return;
	}
	notes->text[notes->len] = '\0';
	notes->cut = true;
	if (sizeof(notes->text) - notes->len > sizeof(more)) {
		memcpy(notes->text + notes->len, more, sizeof(more));
		notes->len += sizeof(more) - 1;
	}
}

/* Logs a warning (after log_prefix) and, with notes, keeps it for the caller's answer. */
static void __attribute__((format(printf, 3, 4)))
warn_noted(struct runtime_notes *notes, const char *log_prefix, const char *fmt, ...)
{
	char msg[CONFIG_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("%s%s", log_prefix, msg);
	note_add(notes, msg);
}

/* A restart-only setting changed: what runs keeps the old value until a restart. */
static void warn_restart(void *arg, const char *what)
{
	warn_noted(arg, "reload: ", "%s changed: it takes effect after a restart", what);
}

uint32_t runtime_previous(void *running, const char *relay, const char *text, const char *why,
			  struct addr *out, uint32_t max)
{
	uint32_t n = upstream_previous(running, relay, text, out, max);

	if (n)
		log_warn("relay %s: upstream %s: %s; keeping its last addresses", relay, text,
			 why);
	return n;
}

/* How long a start waits for a listen address in IPv6 duplicate address detection (about a
 * second on a link with carrier: a boot that starts the relay right after adding it). */
#define DAD_WAIT_MS 5000
#define DAD_POLL_MS 100

/* EADDRNOTAVAIL (*ret) for an address an interface holds: IPv6 duplicate address detection
 * still runs (tentative), waited for up to wait_ms while the probe fails, or failed. Writes
 * the hint to hint (left as it is for an address no interface holds). */
static void probe_dad(const struct addr *a, int wait_ms, int *ret, char *hint, size_t len)
{
	uint32_t flags;
	int waited = 0;

	while (*ret == -EADDRNOTAVAIL && !netlink_addr_flags(a, &flags)) {
		if (flags & IFA_F_DADFAILED) {
			snprintf(hint, len, " (IPv6 duplicate address detection failed for it: "
				 "another host on the link has this address; give the interface "
				 "a free one, or listen on a wildcard)");
			return;
		}
		if (!(flags & IFA_F_TENTATIVE))
			return;
		if (waited >= wait_ms) {
			if (wait_ms)
				snprintf(hint, len, " (the address is still tentative after %d s: "
					 "IPv6 duplicate address detection on its interface has "
					 "not finished; has the link a carrier?)", wait_ms / 1000);
			else
				snprintf(hint, len, " (the address is tentative: IPv6 duplicate "
					 "address detection on its interface has not finished; a "
					 "start waits up to %d s for it)", DAD_WAIT_MS / 1000);
			return;
		}
		usleep(DAD_POLL_MS * 1000);
		waited += DAD_POLL_MS;
		*ret = sock_probe_local(a);
	}
	if (*ret && *ret != -EADDRNOTAVAIL)
		snprintf(hint, len, "%s", sock_probe_hint(*ret));
}

/* At start (and -t): each listen address that is not a wildcard is one of this host's, or
 * the workers' binds would fail once the filter is attached (listeners take no option that
 * allows a foreign address). A bind to port 0 of a throwaway socket asks the kernel, which
 * also knows local routes and ip_nonlocal_bind. A start waits up to dad_wait_ms for an
 * address in duplicate address detection. */
static int check_listen_local(const struct config *cfg, int dad_wait_ms, char *err,
			      size_t errlen)
{
	char buf[ADDR_STRLEN], where[CONFIG_PATH_LEN + 64], hint[256];
	uint32_t i, j;
	int ret;

	for (i = 0; i < cfg->n_relays; i++) {
		for (j = 0; j < cfg->relays[i].n_listen; j++) {
			const struct addr *a = &cfg->relays[i].listen[j];

			if (addr_is_any(a))
				continue;
			ret = sock_probe_local(a);
			snprintf(hint, sizeof(hint), "%s", sock_probe_hint(ret));
			probe_dad(a, dad_wait_ms, &ret, hint, sizeof(hint));
			if (!ret)
				continue;
			snprintf(err, errlen, "%s: %s: %s%s",
				 config_listen_where(cfg, i, j, where, sizeof(where)),
				 addr_format(a, buf, sizeof(buf)), strerror(-ret), hint);
			return ret;
		}
	}
	return 0;
}

/* At start, -t and a reload: each relay's source address is one a session socket can bind
 * (one of this host's, or any with net.ipv{4,6}.ip_nonlocal_bind), or every session of the
 * relay would fail at its bind, counted session_socket_error. source = "client" binds the
 * clients' addresses with IP_FREEBIND: nothing to check. */
static int check_source_local(const struct config *cfg, int dad_wait_ms, char *err,
			      size_t errlen)
{
	char buf[ADDR_STRLEN], hint[256];
	const struct relay_conf *rc;
	uint32_t i;
	int ret;

	for (i = 0; i < cfg->n_relays; i++) {
		rc = &cfg->relays[i];
		if (rc->source != SOURCE_ADDRESS)
			continue;
		ret = sock_probe_source(&rc->source_addr);
		hint[0] = '\0';
		if (ret == -EADDRNOTAVAIL)
			snprintf(hint, sizeof(hint),
				 " (no interface of this host has this address: add it to one, "
				 "allow non-local binds (net.%s.ip_nonlocal_bind = 1), or leave "
				 "source unset to send from the address the route picks)",
				 addr_family(&rc->source_addr) == AF_INET6 ? "ipv6" : "ipv4");
		probe_dad(&rc->source_addr, dad_wait_ms, &ret, hint, sizeof(hint));
		if (!ret)
			continue;
		snprintf(err, errlen, "%s:%d: relays[%u].source: %s: %s%s", cfg->path,
			 rc->source_line, i, addr_format_host(&rc->source_addr, buf, sizeof(buf)),
			 strerror(-ret), hint);
		return ret;
	}
	return 0;
}

static int check_notes(const struct runtime *running, struct config *cfg, struct plan *plan,
		       struct runtime_notes *notes, int dad_wait_ms, char *err, size_t errlen);

int runtime_check(const struct runtime *running, struct config *cfg, struct plan *plan,
		  char *err, size_t errlen)
{
	return check_notes(running, cfg, plan, NULL, 0, err, errlen);
}

int runtime_check_start(struct config *cfg, struct plan *plan, char *err, size_t errlen)
{
	return check_notes(NULL, cfg, plan, NULL, DAD_WAIT_MS, err, errlen);
}

/* A reload's upstream names that did not resolve and kept their running addresses (logged
 * with the reason as that happened: runtime_previous). */
static void note_kept(const struct config *cfg, struct runtime_notes *notes)
{
	char msg[CONFIG_ERR_LEN];
	uint32_t i, u;

	for (i = 0; notes && i < cfg->n_relays; i++) {
		for (u = 0; u < cfg->relays[i].n_upstreams; u++) {
			if (!cfg->relays[i].upstreams[u].kept_previous)
				continue;
			snprintf(msg, sizeof(msg),
				 "relay %s: upstream %s did not resolve: it keeps its last "
				 "addresses",
				 cfg->relays[i].name, cfg->relays[i].upstreams[u].text);
			note_add(notes, msg);
		}
	}
}

int runtime_check_notes(const struct runtime *running, struct config *cfg, struct plan *plan,
			struct runtime_notes *notes, char *err, size_t errlen)
{
	return check_notes(running, cfg, plan, notes, 0, err, errlen);
}

static int check_notes(const struct runtime *running, struct config *cfg, struct plan *plan,
		       struct runtime_notes *notes, int dad_wait_ms, char *err, size_t errlen)
{
	struct plan_host host;
	uint32_t i;
	int ret;

	/* A reload's load thread asked the name service already (app_reload_read): under the
	 * app lock only what the kernel answers at once. */
	ret = running ? config_check_links(cfg, err, errlen) : config_check_host(cfg, err, errlen);
	if (ret)
		return ret;
	for (i = 0; i < cfg->n_relays; i++)
		if (cfg->relays[i].reply_timeout > 0 &&
		    cfg->relays[i].reply_timeout >= cfg->relays[i].session_timeout)
			warn_noted(notes, "",
				   "relay %s: reply_timeout (%g s) is not less than "
				   "session_timeout (%g s): a session of one datagram ends before "
				   "its reply is missed, so only clients that keep sending are "
				   "checked",
				   cfg->relays[i].name, cfg->relays[i].reply_timeout,
				   cfg->relays[i].session_timeout);
	/* Workers keep what IP_TRANSPARENT and SO_MARK need only when the start config used
	 * them: a reload cannot give it back, and every new session would fail with EPERM. */
	if (running && !privs_need_sockopt(running->cfg) && privs_need_sockopt(cfg)) {
		snprintf(err, errlen, "source = \"client\" or fwmark where the running config has "
			 "neither needs a restart: the workers dropped the capability for them at "
			 "start");
		return -EPERM;
	}
	/* Settings that size threads or memory run on until a restart: the new config takes
	 * their running values, so what it says is what runs. */
	if (running)
		config_keep_restart(running->cfg, cfg, warn_restart, notes);
	/* Names become addresses here (unless the caller resolved them: a reload does without
	 * the lock), the first step that may ask the network; a name that no longer resolves
	 * keeps the addresses the running relay has for it. */
	if (!cfg->resolved) {
		ret = config_resolve(cfg, running ? runtime_previous : NULL, (void *)running, err,
				     errlen);
		if (ret)
			return ret;
	}
	note_kept(cfg, notes);
	/* (a reload binds each new address on its port: probe_new_listeners) */
	if (!running) {
		ret = check_listen_local(cfg, dad_wait_ms, err, errlen);
		if (ret)
			return ret;
	}
	ret = check_source_local(cfg, dad_wait_ms, err, errlen);
	if (ret)
		return ret;
	ret = runtime_host(cfg, &host);
	if (ret) {
		snprintf(err, errlen, "sched_getaffinity: %s", strerror(-ret));
		return ret;
	}
	/* The running workers stay as many as they are until a restart. */
	if (running)
		host.workers = running->plan.n_workers;
	/* (descriptors: runtime_check_nofile, the start's; a reload keeps what the start took,
	 * and its claims get theirs beside it before they are taken: runtime_reload_nofile) */
	return plan_build(cfg, &host, plan, err, errlen);
}

static bool cfg_listens_on(const struct config *cfg, const struct addr *a);

/* How long a start waits for a listen address held by a socket that no process has open. */
#define ORPHAN_WAIT_MS 3000
#define ORPHAN_POLL_MS 50

/* portown_find, but with wait a holder without a process is waited for: that is most often
 * a socket of ours on its way out. At start the previous instance's (io_uring drops its
 * registered sockets in a kernel worker after the process exited; systemctl restart starts
 * the next one at once); at a reload a listener an earlier reload closed (before Linux 6.13
 * the socket stays open while a receive armed before its close holds the ring's older
 * resource nodes, until the worker's refresh has re-armed them: worker_uring.c). Sets
 * *waited_ms to the time it took to go. */
static int port_holder(const struct addr *a, bool wait, struct portown_holder *h,
		       int *waited_ms)
{
	int ret = portown_find(a, h);

	*waited_ms = 0;
	while (wait && ret == 1 && h->pid == 0 && *waited_ms < ORPHAN_WAIT_MS) {
		usleep(ORPHAN_POLL_MS * 1000);
		*waited_ms += ORPHAN_POLL_MS;
		ret = portown_find(a, h);
	}
	return ret;
}

/* Before a listener joins a SO_REUSEPORT group: refuses a listen address of cfg (of those
 * old does not have; old NULL at start) that another process holds, unless its relay says
 * reuseport_shared. Our own sockets do not count (portown.h). */
static int check_port_owners(const struct config *old, const struct config *cfg, char *err,
			     size_t errlen)
{
	char buf[ADDR_STRLEN], who[160], where[CONFIG_PATH_LEN + 64];
	struct portown_holder h;
	uint32_t i, j;
	int ret, waited;

	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *rc = &cfg->relays[i];

		if (rc->reuseport_shared)
			continue;
		for (j = 0; j < rc->n_listen; j++) {
			if (old && cfg_listens_on(old, &rc->listen[j]))
				continue;
			ret = port_holder(&rc->listen[j], !old, &h, &waited);
			if (ret == 0 && waited)
				log_notice("relay %s: %s was held by a socket no process has open (a "
					   "previous instance closing); free after %d ms",
					   rc->name, addr_format(&rc->listen[j], buf, sizeof(buf)),
					   waited);
			if (ret < 0) {
				/* not a reason to refuse: the bind itself still fails on a port
				 * another program holds without SO_REUSEPORT */
				log_warn("relay %s: cannot ask the kernel who holds %s (sock_diag: "
					 "%s); not checked",
					 rc->name, addr_format(&rc->listen[j], buf, sizeof(buf)),
					 strerror(-ret));
				continue;
			}
			if (ret == 0)
				continue;
			snprintf(
			    err, errlen,
			    "%s: %s: %s%s (set reuseport_shared = true in relay '%s' to share its "
			    "SO_REUSEPORT group)",
			    config_listen_where(cfg, i, j, where, sizeof(where)),
			    addr_format(&rc->listen[j], buf, sizeof(buf)),
			    portown_describe(&h, who, sizeof(who)),
			    waited ? ", still after waiting for it to close" : "", rc->name);
			return -EADDRINUSE;
		}
	}
	return 0;
}

int runtime_wait_parse(const char *s, uint32_t *ms)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < RUNTIME_WORKER_WAIT_MIN_MS || v > RUNTIME_WORKER_WAIT_MS)
		return -EINVAL;
	*ms = (uint32_t)v;
	return 0;
}

int runtime_prepare(struct runtime *rt, struct config *cfg, const struct plan *plan,
		    const struct uring_caps *caps, char *err, size_t errlen)
{
	const struct worker_ops *ops;
	uint32_t i;
	int ret;
	struct filter *fast = rt->fast, *judge = rt->judge;
	bool offload[CONFIG_MAX_RELAYS];

	/* The app decided the fast path and the filter before the runtime existed: keep its
	 * choice. */
	memcpy(offload, rt->offload, sizeof(offload));
	memset(rt, 0, sizeof(*rt));
	rt->fast = fast;
	rt->judge = judge;
	memcpy(rt->offload, offload, sizeof(offload));
	rt->cfg = cfg;
	rt->plan = *plan;
	rt->applied_plan = *plan;
	rt->caps = caps;
	rt->wait_ms = RUNTIME_WORKER_WAIT_MS;
	ret = worker_sync_init(&rt->sync);
	if (ret) {
		snprintf(err, errlen, "worker rendezvous: %s", strerror(-ret));
		return ret;
	}

	ret = runtime_choose_backend(cfg->io_backend, caps, &rt->backend, err, errlen);
	if (ret)
		return ret;
	if (plan->payload_max < plan->link_payload_max)
		log_warn("buffer_size = %u relays datagrams of up to %u bytes, but %s carries up "
			 "to %u: longer ones will be dropped as truncated (raise buffer_size)",
			 cfg->buffer_size, plan->payload_max, plan->link_ifname,
			 plan->link_payload_max);
	rt->ups = calloc(1, sizeof(*rt->ups));
	rt->workers = calloc(rt->plan.n_workers, sizeof(*rt->workers));
	if (!rt->ups || !rt->workers) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Nothing runs yet: every relay takes a fresh slot. */
	ret = slots_assign(NULL, NULL, cfg, NULL, rt->relay_slot, err, errlen);
	if (!ret)
		ret = upstream_publish(rt, cfg, rt->relay_slot, err, errlen);
	if (ret)
		return ret;
	slot_gens(rt, cfg, rt->relay_slot);
	ops = rt->backend == IO_BACKEND_IO_URING ? &worker_uring_ops : &worker_mmsg_ops;
	for (i = 0; i < rt->plan.n_workers; i++) {
		ret = worker_init(&rt->workers[i], i, &rt->plan, caps, ops, &rt->sync, rt->pools);
		if (ret) {
			snprintf(err, errlen, "worker %u: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* How long a start or a reload waits for a listen port another ringrelay has claimed
 * (portclaim.h). That one holds it from its port check until its listeners are bound, which
 * at start includes loading, verifying and attaching the BPF program and making the workers'
 * rings: about a second on a server, 10-15 s on an emulated CPU. 30 s outlasts that and still
 * fails well within what waits on us: systemd's default start timeout (90 s, with our own
 * set-up still to come) and ringrelayctl reload's 60 s. */
#define PORT_CLAIM_WAIT_MS 30000

_Static_assert(PORTCLAIM_MAX >= CONFIG_MAX_RELAYS * CONFIG_MAX_LISTEN,
	       "a claim for every listen port a configuration may have");

/* The first listen address of cfg on port: relay *r, listen[*j]. */
static void claim_where(const struct config *cfg, uint16_t port, uint32_t *r, uint32_t *j)
{
	for (*r = 0; *r < cfg->n_relays; (*r)++)
		for (*j = 0; *j < cfg->relays[*r].n_listen; (*j)++)
			if (addr_port(&cfg->relays[*r].listen[*j]) == port)
				return;
	*r = *j = 0; /* (not reached: every port claimed is a listen address's) */
}

/* "pid N (uid U)", or what is known of a holder that is not. Returns buf. */
static const char *claim_holder(const struct portclaim_port *p, char *buf, size_t len)
{
	if (p->pid > 0)
		snprintf(buf, len, "pid %d (uid %u)", (int)p->pid, (unsigned int)p->uid);
	else
		snprintf(buf, len, "a process not visible to us");
	return buf;
}

int runtime_claim_ports(const struct config *cfg, struct portclaim *c, char *err, size_t errlen)
{
	char who[64], where[CONFIG_PATH_LEN + 64], buf[ADDR_STRLEN];
	const struct portclaim_port *p;
	uint32_t i, j;
	int ret = 0;

	/* By port, not by address: two starts on different addresses of one port only wait
	 * for each other, then both run (the check refuses overlapping addresses alone).
	 * reuseport_shared relays claim theirs too (only their check is skipped): else a start
	 * that does not share would check while one that does still sets up, pass, and join
	 * its group unasked. */
	for (i = 0; i < cfg->n_relays && !ret; i++)
		for (j = 0; j < cfg->relays[i].n_listen && !ret; j++)
			ret = portclaim_add(c, addr_port(&cfg->relays[i].listen[j]));
	if (!ret)
		ret = portclaim_take(c, 0);
	if (ret == -EADDRINUSE) {
		p = &c->p[c->next];
		log_notice("udp port %u: claimed by %s, a ringrelay starting or reloading with a "
			   "listen address on it: waiting up to %d s for its listeners to be bound",
			   p->port, claim_holder(p, who, sizeof(who)), PORT_CLAIM_WAIT_MS / 1000);
		ret = portclaim_take(c, PORT_CLAIM_WAIT_MS);
	}
	for (i = 0; i < c->next; i++)
		if (c->p[i].foreign)
			log_warn("udp port %u: the name of its claim (@ringrelay/claim/udp/%u) is "
				 "held by %s, which is no ringrelay's claim: not claimed, only checked",
				 c->p[i].port, c->p[i].port,
				 c->p[i].pid > 0 ? claim_holder(&c->p[i], who, sizeof(who))
						 : "a socket not listening, or with its queue full");
	if (ret == -EADDRINUSE) {
		p = &c->p[c->next];
		claim_where(cfg, p->port, &i, &j);
		snprintf(err, errlen,
			 "%s: %s: udp port %u is still claimed after %d s by %s, a ringrelay "
			 "starting or reloading with a listen address on it (it holds the claim "
			 "until its listeners are bound): stop it if it hangs, else try again once "
			 "it runs",
			 config_listen_where(cfg, i, j, where, sizeof(where)),
			 addr_format(&cfg->relays[i].listen[j], buf, sizeof(buf)), p->port,
			 PORT_CLAIM_WAIT_MS / 1000, claim_holder(p, who, sizeof(who)));
	} else if (ret == -ECANCELED) {
		snprintf(err, errlen, "stopped by a signal while waiting for udp port %u's claim",
			 c->p[c->next].port);
	} else if (ret) {
		snprintf(err, errlen, "claim the listen ports: %s", strerror(-ret));
	}
	return ret;
}

int runtime_check_ports(const struct config *cfg, char *err, size_t errlen)
{
	return check_port_owners(NULL, cfg, err, errlen);
}

void runtime_wait_orphans(const struct config *cfg)
{
	char buf[ADDR_STRLEN];
	struct portown_holder h;
	uint32_t i, j;
	int waited;

	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *rc = &cfg->relays[i];

		if (rc->reuseport_shared)
			continue;
		/* (an address the running relays listen on is held by our own descriptors,
		 * which portown_find leaves out: no wait for those) */
		for (j = 0; j < rc->n_listen; j++)
			if (port_holder(&rc->listen[j], true, &h, &waited) == 0 && waited)
				log_notice("relay %s: %s was held by a socket no process has open (a "
					   "listener closed by an earlier reload, on its way out); "
					   "free after %d ms",
					   rc->name, addr_format(&rc->listen[j], buf, sizeof(buf)),
					   waited);
	}
}

void runtime_set_heartbeat(struct runtime *rt, uint64_t ns)
{
	uint32_t i;

	rt->heartbeat_ns = ns;
	for (i = 0; rt->workers && i < rt->plan.n_workers; i++)
		rt->workers[i].heartbeat_ns = ns;
}

/* One line when the workers' NAPI busy polling is not what napi asked for. */
static void log_busy_poll(const struct runtime *rt)
{
	uint32_t i;

	for (i = 0; i < rt->n_started; i++) {
		int bp = rt->workers[i].busy_poll;

		if (bp >= 0)
			continue;
		log_warn("napi: the kernel refused busy polling on worker %u's %s (%s; needs Linux "
			 "6.9): workers run without it",
			 i, rt->backend == IO_BACKEND_IO_URING ? "ring" : "epoll instance",
			 strerror(-bp));
		return;
	}
	if (rt->n_started && rt->workers[0].busy_poll > 0 && rt->backend == IO_BACKEND_IO_URING &&
	    !(rt->caps->setup_flags & IORING_SETUP_DEFER_TASKRUN))
		log_notice("napi: busy polling is registered, but the rings run without "
			   "DEFER_TASKRUN (kernel < 6.1), where it was not found to help");
}

/* One line when io_uring workers refresh their long-lived receives (uring_caps.rsrc_refresh),
 * or were told not to: why, either way; one more when they cannot cancel by fixed file. */
static void log_rsrc_refresh(const struct runtime *rt)
{
	const struct uring_caps *c = rt->caps;

	if (rt->backend != IO_BACKEND_IO_URING)
		return;
	if (c->rsrc_refresh)
		log_info("io_uring: receives armed before a session or listener closed are armed "
			 "again from the tick, at once after a listener closed (refreshes): %s",
			 c->rsrc_refresh_why);
	else if (c->rsrc_refresh_forced)
		log_notice("io_uring: receives are not refreshed after closes: %s",
			   c->rsrc_refresh_why);
	/* Said whenever it is so, also when no refresh is needed: closes cancel that way too. */
	if (!c->cancel_fixed)
		log_notice("io_uring: receives are cancelled by their udata, not by fixed file (%s): "
			   "a receive such a cancel finds running may outlive its socket's close",
			   c->cancel_fixed_why);
}

/* The version of the filter rules that judge the sessions, for an APPLY: a worker judges its
 * sessions' clients again when it moved. */
static uint64_t judge_rules(const struct runtime *rt)
{
	return rt->judge ? filter_rules_version(rt->judge) : 0;
}

static int start_workers(struct runtime *rt, char *err, size_t errlen)
{
	struct worker_cmd *first;
	uint32_t i;
	int ret = 0;

	first = calloc(rt->plan.n_workers, sizeof(*first));
	if (!first) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < rt->plan.n_workers; i++) {
		first[i] = (struct worker_cmd){ .type = WORKER_CMD_APPLY, .cfg = rt->cfg,
						.plan = &rt->plan, .relay_slot = rt->relay_slot,
						.slot_gen = rt->slot_gen,
						.fast = rt->fast, .judge = rt->judge,
						.judge_rules = judge_rules(rt),
						.offload = rt->offload, .steer_cpu = rt->steer_cpu };
		rt->workers[i].started = worker_clock();
		ret = worker_start(&rt->workers[i], &first[i]);
		if (ret) {
			snprintf(err, errlen, "worker %u: pthread_create: %s", i, strerror(-ret));
			stop_started(rt);
			goto out;
		}
		rt->n_started++;
	}
	/* Wait until every worker is listening (or has failed) before calling us ready; one
	 * whose loop has already ended (STOPPING: it failed) fails the start too. */
	pthread_mutex_lock(&rt->sync.lock);
	while (rt->sync.reported < rt->n_started)
		pthread_cond_wait(&rt->sync.cond, &rt->sync.lock);
	for (i = 0; i < rt->n_started && rt->workers[i].state == WORKER_READY; i++)
		;
	pthread_mutex_unlock(&rt->sync.lock);
	if (i < rt->n_started) {
		if (rt->workers[i].error[0])
			snprintf(err, errlen, "%s", rt->workers[i].error);
		else
			snprintf(err, errlen, "worker %u: its loop ended as it started", i);
		stop_started(rt);
		ret = -EIO;
		goto out;
	}
	for (i = 0; i < rt->n_started; i++) {
		char id[12];
		struct log_field worker = {"WORKER", id, true};

		snprintf(id, sizeof(id), "%u", i);
		log_fields(LOG_LVL_INFO, &worker, 1, "worker %u: backend %s, CPU %d", i,
			   rt->workers[i].features, rt->workers[i].cpu);
	}
	log_busy_poll(rt);
	log_rsrc_refresh(rt);
out:
	free(first);
	return ret;
}

/* True when a worker of a failed start could not make its io_uring rings for want of
 * memory: almost always RLIMIT_MEMLOCK, which the mmsg backend does not need. */
static bool ring_nomem(const struct runtime *rt)
{
	uint32_t i;

	for (i = 0; i < rt->plan.n_workers; i++)
		if (rt->workers[i].ring_nomem)
			return true;
	return false;
}

/* Makes every (stopped) worker anew to run on ops, keeping what main gave it after
 * runtime_prepare (its access log ring). */
static int rebuild_workers(struct runtime *rt, const struct worker_ops *ops, char *err,
			   size_t errlen)
{
	struct accesslog_ring *alog[PLAN_MAX_WORKERS];
	uint32_t i;
	int ret;

	for (i = 0; i < rt->plan.n_workers; i++) {
		alog[i] = rt->workers[i].alog;
		worker_fini(&rt->workers[i]);
	}
	rt->sync.reported = 0;
	for (i = 0; i < rt->plan.n_workers; i++) {
		ret = worker_init(&rt->workers[i], i, &rt->plan, rt->caps, ops, &rt->sync,
				  rt->pools);
		if (ret) {
			snprintf(err, errlen, "worker %u: %s", i, strerror(-ret));
			return ret;
		}
		rt->workers[i].heartbeat_ns = rt->heartbeat_ns;
		rt->workers[i].alog = alog[i];
	}
	return 0;
}

int runtime_start(struct runtime *rt, char *err, size_t errlen)
{
	int ret = start_workers(rt, err, errlen);

	if (!ret || rt->backend != IO_BACKEND_IO_URING || rt->cfg->io_backend != IO_BACKEND_AUTO ||
	    !ring_nomem(rt))
		return ret;
	/* The probe's small ring fit under RLIMIT_MEMLOCK, the workers' rings did not. */
	log_warn("%s; io_backend = \"auto\": using the mmsg backend (epoll + recvmmsg/sendmmsg) "
		 "instead",
		 err);
	ret = rebuild_workers(rt, &worker_mmsg_ops, err, errlen);
	if (ret)
		return ret;
	rt->backend = IO_BACKEND_MMSG;
	return start_workers(rt, err, errlen);
}

static bool cfg_listens_on(const struct config *cfg, const struct addr *a)
{
	uint32_t i, j;

	for (i = 0; i < cfg->n_relays; i++)
		for (j = 0; j < cfg->relays[i].n_listen; j++)
			if (addr_equal(&cfg->relays[i].listen[j], a))
				return true;
	return false;
}

/* Whether a listener of cfg overlaps a: on its port and family (IPv6 listeners are
 * IPV6_V6ONLY), with a's address or either of them a wildcard. */
static bool cfg_overlaps(const struct config *cfg, const struct addr *a)
{
	uint32_t i, j;

	for (i = 0; i < cfg->n_relays; i++) {
		for (j = 0; j < cfg->relays[i].n_listen; j++) {
			const struct addr *l = &cfg->relays[i].listen[j];

			if (addr_family(l) == addr_family(a) && addr_port(l) == addr_port(a) &&
			    (addr_is_any(l) || addr_is_any(a) || addr_equal(l, a)))
				return true;
		}
	}
	return false;
}

/* Whether a listener of ours overlaps a: of the config in force, or of one a stuck worker
 * still runs (it keeps that config's listeners). */
static bool listeners_overlap(const struct runtime *rt, const struct addr *a)
{
	const struct runtime_retired *r;

	if (cfg_overlaps(rt->cfg, a))
		return true;
	for (r = rt->retired; r; r = r->next)
		if (cfg_overlaps(r->cfg, a))
			return true;
	return false;
}

/* A probe of a, of relay rc, found the port in use (-EADDRINUSE) and no listener of ours
 * there: 0 when the workers can still bind it, else -EADDRINUSE with err set (from where
 * and buf: the address's place in the config and its text). Only a relay with
 * reuseport_shared may join another process's group, and only one of its own user (the
 * kernel's rule for SO_REUSEPORT): the holder's uid says whether it can. Whether that holder
 * set SO_REUSEPORT only a bind in its group could tell, which would take a share of its
 * datagrams: a holder that did not fails the workers' bind (reported after the rest
 * applied). */
static int probe_in_use(const struct relay_conf *rc, const struct addr *a, const char *where,
			const char *buf, char *err, size_t errlen)
{
	struct portown_holder h;
	char who[160];
	int ret;

	if (!rc->reuseport_shared) {
		/* check_port_owners found no other process's: a holder sock_diag does not
		 * show (a socket closing, our own that is no listener) */
		snprintf(err, errlen, "%s: %s: %s%s", where, buf, strerror(EADDRINUSE),
			 sock_listen_hint(-EADDRINUSE, false));
		return -EADDRINUSE;
	}
	ret = portown_find(a, &h);
	if (ret < 0 || (ret == 1 && h.uid == geteuid()))
		return 0; /* (it cannot be asked: the workers' bind says) */
	if (ret == 0)
		snprintf(err, errlen, "%s: %s: %s%s", where, buf, strerror(EADDRINUSE),
			 sock_listen_hint(-EADDRINUSE, false));
	else
		snprintf(err, errlen,
			 "%s: %s: %s, uid %u: reuseport_shared shares a SO_REUSEPORT group only "
			 "with sockets of this process's user (uid %u)",
			 where, buf, portown_describe(&h, who, sizeof(who)), (unsigned int)h.uid,
			 (unsigned int)geteuid());
	return -EADDRINUSE;
}

/* A probe of a, of relay rc, found the port in use where a listener of ours overlaps a (a
 * wildcard widened or narrowed): 0 when the workers' bind will succeed, else -EADDRINUSE with
 * err set (where, buf as for probe_in_use). That a listener of ours is there does not say it
 * is the only holder. The workers bind with SO_REUSEPORT, which the kernel lets share a port
 * only with SO_REUSEPORT sockets of our user: our listeners, but not a socket of ours that is
 * none (a session's of source = "client", bound to its client's address and port with
 * SO_REUSEADDR; check_port_owners leaves ours out) nor another process's of a
 * reuseport_shared relay (which it does not ask about). Were the bind to fail, the worker
 * would still close the old listener gone from the config: the port served nowhere. So
 * sock_diag lists every holder, ours included (portown_blocker). A second probe with
 * SO_REUSEPORT would tell it too, but joins a group of exactly a's address (a stuck worker's,
 * a shared one) and, narrowed, takes all of that address's datagrams from our wildcard. */
static int probe_own_port(const struct relay_conf *rc, const struct addr *a, const char *where,
			  const char *buf, char *err, size_t errlen)
{
	struct portown_holder h;
	char who[160];
	int ret = portown_blocker(a, rc->reuseport_shared, &h);

	if (ret == 0)
		return 0;
	if (ret < 0)
		snprintf(err, errlen,
			 "%s: %s: %s, and the kernel cannot be asked by whom (sock_diag: %s): "
			 "whether only listeners of this relay hold it, which a reload needs, is "
			 "unknown; restart to apply it",
			 where, buf, strerror(EADDRINUSE), strerror(-ret));
	else if (h.own)
		snprintf(err, errlen,
			 "%s: %s: %s by a socket of this process that is no listener (most likely "
			 "a session of a relay with source = \"client\", bound to its client's "
			 "address and port; or a listener closed while the reload checked): the "
			 "workers could not bind it beside that socket; restart to apply it",
			 where, buf, strerror(EADDRINUSE));
	else if (rc->reuseport_shared)
		snprintf(err, errlen,
			 "%s: %s: %s, uid %u: reuseport_shared shares a SO_REUSEPORT group only "
			 "with sockets of this process's user (uid %u)",
			 where, buf, portown_describe(&h, who, sizeof(who)), (unsigned int)h.uid,
			 (unsigned int)geteuid());
	else
		snprintf(err, errlen, "%s: %s: %s%s", where, buf,
			 portown_describe(&h, who, sizeof(who)), sock_listen_hint(-EADDRINUSE, false));
	return -EADDRINUSE;
}

/* Binds each new listen address once, so one the workers could not bind (not this host's, a
 * low port without CAP_NET_BIND_SERVICE, a port in use) fails the reload before anything
 * changes. Without SO_REUSEPORT (sock_probe_bind): a probe in the group of a listener of ours
 * (a wildcard's port narrowed to one of its addresses, a relay sharing another process's
 * group) would take datagrams meant for it, all of its address's for a more specific one,
 * and drop them as it closes. So the probe fails with EADDRINUSE on our own listeners'
 * ports (the address and privilege checks come first and still apply), which pass where
 * every holder of the port is one the workers' SO_REUSEPORT bind shares with
 * (probe_own_port). */
static int probe_new_listeners(const struct runtime *rt, const struct config *new_cfg,
			       char *err, size_t errlen)
{
	char buf[ADDR_STRLEN], where[CONFIG_PATH_LEN + 64];
	uint32_t i, j;
	int ret;

	for (i = 0; i < new_cfg->n_relays; i++) {
		for (j = 0; j < new_cfg->relays[i].n_listen; j++) {
			const struct addr *a = &new_cfg->relays[i].listen[j];

			if (cfg_listens_on(rt->cfg, a))
				continue;
			ret = sock_probe_bind(a);
			if (ret == 0)
				continue;
			config_listen_where(new_cfg, i, j, where, sizeof(where));
			addr_format(a, buf, sizeof(buf));
			if (ret == -EADDRINUSE && listeners_overlap(rt, a))
				ret = probe_own_port(&new_cfg->relays[i], a, where, buf, err, errlen);
			else if (ret == -EADDRINUSE)
				ret = probe_in_use(&new_cfg->relays[i], a, where, buf, err, errlen);
			else
				snprintf(err, errlen, "%s: %s: %s%s", where, buf, strerror(-ret),
					 sock_listen_hint(ret, false));
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Has every started worker apply cfg (planned by plan, relay i in slot[i]; keep_fast: a relay
 * whose fast path went off keeps its sessions' entries) and waits, at most
 * rt->wait_ms for a worker to take its command (once the process stops: until the stop's
 * deadline, also for a command begun). Returns 0 or -errno with err set: -ETIMEDOUT when
 * *n_stuck workers did not take or finish it (they keep serving what they had, and the config
 * they read must stay allocated), else the first failing worker's. */
/* What an APPLY's commands point to, in one block: a worker stuck in the middle of one keeps
 * it (the caller's plan and slots may be on its stack). */
struct apply_block {
	struct plan plan;
	uint32_t slot[CONFIG_MAX_RELAYS];
	uint64_t slot_gen[WORKER_MAX_RELAYS];
	struct worker_cmd cmd[];
};

/* A block for apply_all, made before anything is changed: NULL (err set) when out of
 * memory. */
static struct apply_block *apply_block_new(const struct runtime *rt, char *err, size_t errlen)
{
	struct apply_block *b;

	b = calloc(1, sizeof(*b) + (rt->n_started ? rt->n_started : 1) * sizeof(b->cmd[0]));
	if (!b)
		snprintf(err, errlen, "out of memory");
	return b;
}

/* Posts cfg to every started worker with block b (apply_block_new; taken) and waits. */
static int apply_all(struct runtime *rt, struct apply_block *b, const struct config *cfg,
		     const struct plan *plan, const uint32_t *slot, bool keep_fast,
		     uint32_t *n_stuck, char *err, size_t errlen)
{
	struct worker_cmd *cmd;
	uint64_t deadline;
	uint32_t i;
	int ret = 0, rank = 0;

	*n_stuck = 0;
	b->plan = *plan;
	memcpy(b->slot, slot, cfg->n_relays * sizeof(*slot));
	memcpy(b->slot_gen, rt->slot_gen, sizeof(b->slot_gen));
	cmd = b->cmd;
	/* All workers switch at about the same time; each at a point between two batches. */
	for (i = 0; i < rt->n_started; i++) {
		cmd[i] = (struct worker_cmd){ .type = WORKER_CMD_APPLY, .cfg = cfg,
					      .plan = &b->plan, .relay_slot = b->slot,
					      .slot_gen = b->slot_gen,
					      .fast = rt->fast, .judge = rt->judge,
					      .judge_rules = judge_rules(rt),
					      .offload = rt->offload, .keep_fast = keep_fast,
					      .steer_cpu = rt->steer_cpu };
		worker_post(&rt->workers[i], &cmd[i]);
	}
	deadline = worker_ms() + rt->wait_ms;
	for (i = 0; i < rt->n_started; i++) {
		int wret = worker_wait(&rt->workers[i], &cmd[i], deadline);
		int r = wret == -ECANCELED ? 3 : wret ? 2 : cmd[i].result ? 1 : 0;

		if (wret)
			(*n_stuck)++;
		/* err names the gravest failure (the first of its kind): a worker stuck in the
		 * middle of the command, then one that did not take it, then a failed apply. */
		if (r <= rank)
			continue;
		rank = r;
		ret = wret ? -ETIMEDOUT : cmd[i].result;
		if (r == 1)
			snprintf(err, errlen, "worker %u: %s", i, cmd[i].error);
		else if (r == 3)
			snprintf(err, errlen,
				 "worker %u had not finished applying the configuration when the "
				 "process stopped: its loop is stuck (see the watchdog)",
				 i);
		else if (worker_sync_is_stopping(&rt->sync))
			snprintf(err, errlen,
				 "worker %u had not taken the new configuration when the process "
				 "stopped",
				 i);
		else
			snprintf(err, errlen,
				 "worker %u did not take the new configuration within %u ms: its "
				 "loop is stuck (see the watchdog); it keeps serving the previous "
				 "one, the other workers run the new one",
				 i, rt->wait_ms);
	}
	if (rank == 3) /* a worker is stuck in the middle of it */
		runtime_keep(rt, b);
	else
		free(b);
	return ret;
}

/* A worker opens a reload's new listeners before it closes the removed ones (no moment
 * without a socket on an address both configs have), so its table must hold both at once:
 * the listen addresses of the config it runs and new_cfg's others. Refused here, before
 * anything changes, instead of workers failing the reload part of the way through. */
static int listener_room(const struct config *held, const struct config *new_cfg,
			 uint32_t *n, uint32_t *added)
{
	uint32_t i, j;

	*n = *added = 0;
	for (i = 0; i < held->n_relays; i++)
		*n += held->relays[i].n_listen;
	for (i = 0; i < new_cfg->n_relays; i++)
		for (j = 0; j < new_cfg->relays[i].n_listen; j++)
			*added += !cfg_listens_on(held, &new_cfg->relays[i].listen[j]);
	return *n + *added <= WORKER_MAX_LISTENERS ? 0 : -ENOSPC;
}

/* listener_room for the config in force and for each one a stuck worker still runs (it
 * applies new_cfg over that config's listeners when it comes back). */
static int check_listener_room(const struct runtime *rt, const struct config *new_cfg,
			       char *err, size_t errlen)
{
	const struct runtime_retired *r = rt->retired;
	const struct config *held = rt->cfg;
	uint32_t n, added;

	for (;;) {
		if (listener_room(held, new_cfg, &n, &added)) {
			snprintf(err, errlen,
				 "%u listen addresses in force%s and %u new ones: a reload opens "
				 "the new ones before it closes the removed ones, and a worker "
				 "holds %u at most; remove the old ones in one reload and add the "
				 "new ones in the next, or restart",
				 n, held == rt->cfg ? "" : " (in a worker still behind)", added,
				 WORKER_MAX_LISTENERS);
			return -ENOSPC;
		}
		if (!r)
			return 0;
		held = r->cfg;
		r = r->next;
	}
}

int runtime_reload_check(const struct runtime *rt, const struct config *new_cfg, uint32_t *slot,
			 char *err, size_t errlen)
{
	bool busy[WORKER_MAX_RELAYS];
	int ret;

	ret = check_listener_room(rt, new_cfg, err, errlen);
	if (!ret)
		ret = check_port_owners(rt->cfg, new_cfg, err, errlen);
	if (!ret)
		ret = probe_new_listeners(rt, new_cfg, err, errlen);
	if (ret)
		return ret;
	busy_slots(rt, busy);
	return slots_assign(rt->cfg, rt->relay_slot, new_cfg, busy, slot, err, errlen);
}

int runtime_reload(struct runtime *rt, struct config *new_cfg, const struct plan *plan,
		   const uint32_t *slot, bool *applied, char *err, size_t errlen)
{
	struct apply_block *b;
	uint32_t n_stuck;
	int ret;

	*applied = false;
	/* Made first: once the pools are published the workers must be told. */
	b = apply_block_new(rt, err, errlen);
	if (!b) {
		config_free(new_cfg);
		return -ENOMEM;
	}
	/* The new pools go out before the workers apply: a worker between the two picks from
	 * the new members, which its sessions remember by address. (Only out of memory fails
	 * here: what refuses a config, runtime_reload_check, ran before anything changed.) */
	ret = upstream_publish(rt, new_cfg, slot, err, errlen);
	if (ret) {
		free(b);
		config_free(new_cfg);
		return ret;
	}
	*applied = true;
	slot_gens(rt, new_cfg, slot);
	ret = apply_all(rt, b, new_cfg, plan, slot, false, &n_stuck, err, errlen);
	/* Workers already switched what they could: the new config is in force and an error
	 * is reported as the reload's result. */
	if (ret)
		log_err("reload: %s", err);
	if (n_stuck) {
		/* A stuck worker still points into the previous config. */
		if (runtime_retire(rt, rt->cfg)) {
			snprintf(err, errlen, "reload: out of memory");
			ret = -ENOMEM;
		}
	} else {
		/* Every worker runs new_cfg: nothing refers to a config kept for a stuck one. */
		runtime_free_retired(rt);
		config_free(rt->cfg);
	}
	rt->cfg = new_cfg;
	rt->applied_plan = *plan;
	memcpy(rt->relay_slot, slot, new_cfg->n_relays * sizeof(*slot));
	return ret;
}

int runtime_reapply(struct runtime *rt, char *err, size_t errlen)
{
	struct apply_block *b = apply_block_new(rt, err, errlen);
	uint32_t n_stuck;
	int ret;

	if (!b)
		return -ENOMEM;
	ret = apply_all(rt, b, rt->cfg, &rt->applied_plan, rt->relay_slot, true, &n_stuck, err,
			errlen);
	/* A worker that was behind (stuck at a reload) and took this runs the config in force
	 * again: nothing refers to one kept for it any more. */
	if (!n_stuck)
		runtime_free_retired(rt);
	return ret;
}

int runtime_sessions(struct runtime *rt, uint32_t relay, struct session_info *out, uint32_t max,
		     uint32_t *total, char *err, size_t errlen)
{
	struct worker_cmd *cmd;
	uint32_t i, n = 0;
	uint64_t deadline = worker_ms() + rt->wait_ms;
	int ret = 0;

	*total = 0;
	if (relay != UINT32_MAX && relay >= rt->cfg->n_relays) {
		snprintf(err, errlen, "no relay %u", relay);
		return -ENOENT;
	}
	/* Not on the stack: a worker stuck in the middle of it keeps it (worker_wait). */
	cmd = malloc(sizeof(*cmd));
	if (!cmd) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < rt->n_started; i++) {
		*cmd = (struct worker_cmd){ .type = WORKER_CMD_SESSIONS,
					    .relay = relay == UINT32_MAX ? UINT32_MAX
									 : rt->relay_slot[relay],
					    .relay_slot = rt->relay_slot, .out = out + n,
					    .max = max - n };
		worker_post(&rt->workers[i], cmd);
		ret = worker_wait(&rt->workers[i], cmd, deadline);
		if (ret == -ECANCELED) {
			snprintf(err, errlen,
				 "worker %u had not finished listing its sessions when the process "
				 "stopped: its loop is stuck (see the watchdog)",
				 i);
			runtime_keep(rt, cmd);
			runtime_keep(rt, out);
			return ret;
		}
		if (ret) {
			if (worker_sync_is_stopping(&rt->sync))
				snprintf(err, errlen,
					 "worker %u had not answered when the process stopped", i);
			else
				snprintf(err, errlen,
					 "worker %u did not answer within %u ms: its loop is stuck "
					 "(see the watchdog)",
					 i, rt->wait_ms);
			break;
		}
		n += cmd->n;
		*total += cmd->total;
	}
	free(cmd);
	return ret ? ret : (int)n;
}

void runtime_stopping(struct runtime *rt)
{
	worker_sync_stopping(&rt->sync, worker_ms() + rt->wait_ms);
}

uint32_t runtime_stop(struct runtime *rt)
{
	bool stuck[PLAN_MAX_WORKERS] = { false };
	uint64_t deadline, began;
	uint32_t i;

	/* The stop's deadline, which also ended the waits on commands in flight (a reload,
	 * sessions: runtime_stopping). A loop that is not stuck sees the stop within a batch or an
	 * expiry tick: it gets half of wait_ms even when a wait on a stuck command used the
	 * deadline up. */
	runtime_stopping(rt);
	deadline = rt->sync.stop_deadline_ms;
	began = deadline - rt->wait_ms;
	if (deadline < worker_ms() + rt->wait_ms / 2)
		deadline = worker_ms() + rt->wait_ms / 2;

	/* Only the loop's answer is bounded: a stuck loop must not hold the exit (systemd would
	 * kill it at TimeoutStopSec, leaving the classic tc filters, BPF pins, NAPI threads'
	 * priorities and pid file that the exit removes), while a teardown that closes many
	 * sessions is work that ends. */
	for (i = 0; i < rt->n_started; i++)
		worker_stop(&rt->workers[i]);
	for (i = 0; i < rt->n_started; i++) {
		if (worker_await_stop(&rt->workers[i], deadline) == 0)
			continue;
		stuck[i] = true;
		rt->n_abandoned++;
		log_err("worker %u did not stop within %llu ms: its loop is stuck (see the "
			"watchdog); exiting without it",
			i, (unsigned long long)(worker_ms() - began));
	}
	for (i = 0; i < rt->n_started; i++)
		if (!stuck[i])
			worker_join(&rt->workers[i]);
	rt->n_started = 0;
	runtime_worker_failures(rt);
	return rt->n_abandoned;
}

void runtime_fini(struct runtime *rt)
{
	uint32_t i;

	stop_started(rt);
	if (rt->n_abandoned)
		return; /* a worker still runs on all of it: the process exits as it is */
	runtime_free_retired(rt);
	runtime_free_kept(rt);
	for (i = 0; rt->workers && i < rt->plan.n_workers; i++)
		worker_fini(&rt->workers[i]);
	if (rt->sync.failed_fd >= 0)
		close(rt->sync.failed_fd);
	rt->sync.failed_fd = -1;
	upstream_fini(rt);
	free(rt->ups);
	free(rt->workers);
	config_free(rt->cfg);
	rt->workers = NULL;
	rt->ups = NULL;
	rt->cfg = NULL;
}

uint32_t runtime_worker_failures(struct runtime *rt)
{
	uint64_t v;
	uint32_t i;

	if (read(rt->sync.failed_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("worker failures: read: %s", strerror(errno));
	pthread_mutex_lock(&rt->sync.lock);
	for (i = 0; rt->workers && i < rt->plan.n_workers; i++) {
		struct worker *w = &rt->workers[i];

		if (!w->failed || w->failed_told)
			continue;
		w->failed_told = true;
		rt->n_failed++;
		log_err("%s: the worker's loop ended", w->error);
	}
	pthread_mutex_unlock(&rt->sync.lock);
	return rt->n_failed;
}

void runtime_sum(const struct runtime *rt, uint32_t r, struct relay_counters *out)
{
	uint32_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; rt->workers && i < rt->plan.n_workers; i++)
		if (counts_slot(rt, &rt->workers[i], rt->relay_slot[r]))
			relay_counters_add(out, &rt->workers[i].counters[rt->relay_slot[r]]);
}

int runtime_snapshot(const struct runtime *rt, struct snapshot *s)
{
	uint32_t n_relays = rt->cfg ? rt->cfg->n_relays : 0;
	uint64_t now = worker_clock();
	uint32_t r, w;
	int ret;

	ret = snapshot_alloc(s, n_relays, rt->n_started);
	if (ret)
		return ret;
	s->cfg = rt->cfg;
	s->backend = config_backend_name(rt->backend);
	for (r = 0; r < n_relays; r++)
		s->relay_names[r] = rt->cfg->relays[r].name;
	for (w = 0; w < rt->n_started; w++) {
		const struct worker *wk = &rt->workers[w];
		struct snapshot_worker *sw = &s->workers[w];
		uint64_t beat = counter_get(&wk->wc.heartbeat);

		sw->id = wk->id;
		sw->cpu = wk->cpu;
		/* The only place a heartbeat becomes an age; 0 means the loop never ran. */
		if (!beat)
			sw->heartbeat_age = NAN;
		else
			sw->heartbeat_age = now > beat ? (double)(now - beat) / 1e9 : 0.0;
		sw->started_age = now > wk->started ? (double)(now - wk->started) / 1e9 : 0.0;
		sw->loops = counter_get(&wk->wc.loops);
		sw->completions = counter_get(&wk->wc.completions);
		sw->rearms = counter_get(&wk->wc.rearms);
		sw->refreshes = counter_get(&wk->wc.refreshes);
		sw->cq_overflow = counter_get(&wk->wc.cq_overflow);
		sw->cq_dropped = counter_get(&wk->wc.cq_dropped);
		for (r = 0; r < n_relays; r++)
			if (counts_slot(rt, wk, rt->relay_slot[r]))
				relay_counters_add(&sw->relays[r], &wk->counters[rt->relay_slot[r]]);
	}
	return rt->ups ? upstream_snapshot(rt, s) : 0;
}
