// SPDX-License-Identifier: MIT
/* ringrelay: command line, lifecycle order, the signal loop, reverse-order teardown. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <linux/capability.h>
#include <math.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "admin.h"
#include "app.h"
#include "config.h"
#include "control.h"
#include "control_view.h"
#include "filter.h"
#include "log.h"
#include "netlink.h"
#include "offload.h"
#include "portclaim.h"
#include "shed.h"
#include "privs.h"
#include "runtime.h"
#include "rxreport.h"
#include "steer.h"
#include "service.h"
#include "upkeep.h"
#include "uring.h"

#define DEFAULT_CONFIG SYSCONFDIR "/ringrelay/ringrelay.conf"

struct options {
	const char *config;
	bool test;
	bool dump;
	bool version;
	int verbosity;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringrelay [-c FILE] [-t] [-T] [-f] [-v] [-q] [-V] [-h]\n"
		"  -c, --config FILE   configuration (default %s)\n"
		"  -t, --test-config   check the configuration and exit (0 good, 1 bad)\n"
		"  -T, --dump-config   check, then print the effective configuration\n"
		"  -f, --foreground    run in the foreground (ringrelay never forks anyway)\n"
		"  -v, --verbose       debug messages too; stats every stats_interval\n"
		"  -q, --quiet         notices, warnings and errors only (-qq: warnings and\n"
		"                      errors; -qqq: errors)\n"
		"  -V, --version       versions, the data-path features this kernel offers and the\n"
		"                      fast path each relay of the config would get, and why\n"
		"  -h, --help          this text\n"
		"Signals: TERM/INT stop, HUP reloads the configuration, USR1 prints counters.\n",
		DEFAULT_CONFIG);
}

/* The config at path for -V's section what to judge, its names resolved as a start resolves
 * them (a name's interfaces are its addresses'); NULL, said, when there is none. */
static struct config *load_judged(const char *path, const char *what)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg;

	if (config_load_file(path, &cfg, err, sizeof(err))) {
		printf("%s: no configuration to judge (%s)\n", what, err);
		return NULL;
	}
	if (config_resolve(cfg, NULL, NULL, err, sizeof(err)))
		printf("%s: %s; judged without the addresses of names from there on (a start "
		       "would refuse this config)\n",
		       what, err);
	return cfg;
}

/* What the host names of the config at path resolve to now, as a start would use them: a
 * line per relay with names. */
static void print_names(const char *path)
{
	char buf[ADDR_STRLEN];
	struct config *cfg = load_judged(path, "names");
	uint32_t i, e, k, n = 0;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_relays; i++) {
		const struct relay_conf *rc = &cfg->relays[i];

		if (!rc->has_names && !rc->n_listen_names)
			continue;
		if (!n++)
			printf("names (%s; looked up now, as a start would):\n", path);
		/* the listen names' addresses follow the literal ones, all names together */
		if (rc->n_listen_names) {
			printf("  relay %s: listen", rc->name);
			for (e = 0; e < rc->n_listen_names; e++)
				printf("%s %s", e ? "," : "", rc->listen_names[e]);
			printf(" ->");
			for (k = rc->n_listen_literal; k < rc->n_listen; k++)
				printf("%s %s", k > rc->n_listen_literal ? "," : "",
				       addr_format(&rc->listen[k], buf, sizeof(buf)));
			printf("%s\n", k > rc->n_listen_literal ? "" : " (none)");
		}
		for (e = 0; e < rc->n_upstreams; e++) {
			const char *sep = " ->";

			if (!rc->upstreams[e].is_name)
				continue;
			printf("  relay %s: upstream %s", rc->name, rc->upstreams[e].text);
			for (k = 0; k < rc->n_members; k++) {
				if (rc->members[k].entry != e)
					continue;
				printf("%s %s", sep, addr_format(&rc->members[k].addr, buf, sizeof(buf)));
				sep = ",";
			}
			if (*sep != ',')
				printf(" (none: not resolved, or every address listed by an earlier "
				       "entry)");
			putchar('\n');
		}
	}
	config_free(cfg);
}

/* What the fast path would get for each relay of the config at path, and why. */
static void print_offload(const char *path)
{
	struct offload_relay_state st[CONFIG_MAX_RELAYS];
	struct config *cfg = load_judged(path, "offload");
	char err[CONFIG_ERR_LEN];
	struct privs_who who;
	uint32_t i;

	if (!cfg)
		return;
	/* The session sockets belong to the user a start would run as (a start refuses a
	 * `user` that cannot be: judged as the caller then). */
	if (privs_resolve(cfg->user, PRIVS_DEFAULT_USER, &who, err, sizeof(err)))
		who.uid = geteuid();
	offload_resolve(cfg, who.uid, NULL, NULL, st);
	offload_resolve_filter(cfg, st);
	printf("offload (%s; decided now, before attaching):\n", path);
	for (i = 0; i < cfg->n_relays; i++)
		printf("  relay %s: offload = \"%s\" -> %s: %s\n", cfg->relays[i].name,
		       config_offload_name(cfg->relays[i].offload), config_offload_name(st[i].got),
		       st[i].why);
	config_free(cfg);
}

/* Whether each relay of the config at path would shed, and where: loads the program (attaching
 * nowhere) to see whether the shedding flavour loads with this process's privileges. */
static void print_shed(const char *path)
{
	struct shed_relay_state st[CONFIG_MAX_RELAYS];
	char err[CONFIG_ERR_LEN];
	const char *why = err;
	struct filter *f = NULL;
	struct config *cfg = load_judged(path, "shed");
	bool loaded = false;
	uint32_t i;

	if (!cfg)
		return;
	/* A probe: a running relay's pinned maps are not its to replace. */
	cfg->filter.pin = false;
	if (!privs_can_load_bpf())
		snprintf(err, sizeof(err), "needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON");
	else if (config_shed_wanted(cfg) && filter_open(cfg, &f, err, sizeof(err)) == 0)
		loaded = filter_shed_loaded(f, &why);
	shed_resolve(cfg, loaded, why, st);
	printf("shed (%s, shed_hook = \"%s\"; program probed now, nothing attached):\n", path,
	       config_shed_hook_name(cfg->shed_hook));
	for (i = 0; i < cfg->n_relays; i++)
		printf("  relay %s: shed = \"%s\" -> %s: %s\n", cfg->relays[i].name,
		       config_shed_name(cfg->relays[i].shed), st[i].on ? "on" : "off", st[i].why);
	filter_free(f);
	config_free(cfg);
}

static void print_version(const char *config)
{
	struct uring_caps caps;
	struct utsname u;
	enum io_backend b;
	char why[256];

	uname(&u);
	uring_probe(&caps);
	/* the release, and where a development build came from */
	if (RINGRELAY_GIT[0])
		printf("ringrelay %s (git %s)\n", RINGRELAY_VERSION, RINGRELAY_GIT);
	else
		printf("ringrelay %s\n", RINGRELAY_VERSION);
	printf("liburing %s, libbpf %s, kernel %s %s\n", LIBURING_VERSION,
	       libbpf_version_string(), u.release, u.machine);
	printf("io_uring: %s\n", caps.available ? "available" : "unavailable");
	printf("  setup flags: %s\n", caps.available ? uring_flags_name(caps.setup_flags) : "-");
	printf("  opcodes (recvmsg, sendmsg, send, timeout, cancel, read, files_update): %s\n",
	       caps.opcodes ? "yes" : "no");
	printf("  provided buffer ring: %s\n", caps.buf_ring ? "yes" : "no");
	printf("  multishot recvmsg: %s\n", caps.recvmsg_multishot ? "yes" : "no");
	/* What gro = true could share its 68 KiB buffers with (docs/ringrelay.conf.5, gro). */
	if (!caps.pbuf_inc)
		printf("  incrementally consumed buffers (IOU_PBUF_RING_INC): no (%s)\n",
		       caps.pbuf_inc_why[0] ? caps.pbuf_inc_why : "not probed");
	else
		printf("  incrementally consumed buffers (IOU_PBUF_RING_INC): yes, %s%s\n",
		       caps.pbuf_inc_datagrams ? "usable for datagrams"
					       : "unusable for datagrams: ",
		       caps.pbuf_inc_why);
	printf("  receives refreshed after closes: %s (%s)\n", caps.rsrc_refresh ? "yes" : "no",
	       caps.rsrc_refresh_why);
	/* How a close or a refresh cancels a socket's receives (worker_uring.c, rx_cancel). */
	if (caps.cancel_fixed)
		printf("  cancel by fixed file: yes\n");
	else
		printf("  cancel by fixed file: no (%s)\n",
		       caps.cancel_fixed_why[0] ? caps.cancel_fixed_why : "not probed");
	if (caps.missing[0])
		printf("  missing: %s\n", caps.missing);
	printf("SO_REUSEPORT steering by CPU (SO_INCOMING_CPU): %s%s\n",
	       steer_probe(why, sizeof(why)) ? "no: " : "yes", why);
	why[0] = '\0';
	log_set_level(LOG_LVL_ERR); /* the choice is printed below, not logged */
	if (runtime_choose_backend(IO_BACKEND_AUTO, &caps, &b, why, sizeof(why)) == 0)
		printf("backend for io_backend=\"auto\": %s\n", config_backend_name(b));
	print_names(config);
	print_offload(config);
	print_shed(config);
}

static void print_rxpath(const char *path);

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test-config", no_argument, NULL, 't' },
		{ "dump-config", no_argument, NULL, 'T' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->config = DEFAULT_CONFIG;
	while ((c = getopt_long(argc, argv, "c:tTfvqVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 't':
			o->test = true;
			break;
		case 'T':
			o->dump = true;
			break;
		case 'f':
			break;
		case 'v':
			o->verbosity++;
			break;
		case 'q':
			o->verbosity--;
			break;
		case 'V':
			o->version = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringrelay: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	if (o->version) {
		print_version(o->config);
		print_rxpath(o->config);
		exit(0);
	}
	return 0;
}

/* Whom load_config checks for: the plan's file descriptors against RLIMIT_NOFILE are the
 * start's (load_config raises the limit to them), a warning for -t (run by hand under other
 * limits than the unit's LimitNOFILE=), not checked for -T and -V. */
enum load_for {
	LOAD_SHOW, /* -T, -V */
	LOAD_TEST, /* -t */
	LOAD_START,
};

static int load_config(const char *path, enum load_for load_for, struct config **out,
		       struct plan *plan, char *err, size_t errlen);

/* -V's receive path: the listen interfaces of the config (-c, else the default) with the
 * workers the plan would pin, and the warnings a start would log. */
static void print_rxpath(const char *path)
{
	char err[CONFIG_ERR_LEN] = "", why[STEER_WHY_LEN] = "";
	struct rxreport *r = NULL;
	struct config *cfg;
	struct plan plan;
	struct rxreport_in in = { 0 };
	struct steer st;
	int probe;

	if (load_config(path, LOAD_SHOW, &cfg, &plan, err, sizeof(err))) {
		printf("receive path: not shown: %s\n", err);
		return;
	}
	in.worker_cpu = plan.cpu;
	in.n_workers = plan.n_workers;
	in.busy_poll_us = cfg->napi.busy_poll_us; /* asked for; the start says what it got */
	if (rxreport_new(cfg, &in, &r)) {
		printf("receive path: out of memory\n");
	} else {
		printf("receive path (listen interfaces of %s, %u worker%s):\n", path,
		       plan.n_workers, plan.n_workers == 1 ? "" : "s");
		fflush(stdout);
		control_view_rxpath(r, false, stdout);
		probe = steer_probe(why, sizeof(why));
		steer_decide(cfg, probe, why, r, plan.cpu, plan.n_workers, &st);
		printf("steering (steering = \"%s\"): %s (%s)\n",
		       config_steering_name(cfg->steering), st.cpu ? "by CPU" : "by flow hash",
		       st.why);
	}
	rxreport_free(r);
	config_free(cfg);
}

/* Logs the receive-path warnings once, at start: a worker sharing its CPU with an
 * unprotected RX softirq, more RX queues than workers. */
static void log_rxpath(struct app *a)
{
	struct rxreport *r;
	uint32_t i;
	int ret;

	pthread_mutex_lock(&a->lock);
	ret = app_rxreport(a, &r);
	pthread_mutex_unlock(&a->lock);
	if (ret) {
		log_warn("receive path: out of memory");
		return;
	}
	for (i = 0; i < r->n_warnings; i++)
		log_warn("receive path: %s", r->warnings[i]);
	rxreport_free(r);
}

/* After privs_drop: says once when fwmark or source = "client" make the workers keep
 * CAP_NET_ADMIN, because the process lacks the narrower CAP_NET_RAW (the shipped unit does
 * not grant it), and how to give them CAP_NET_RAW instead. */
static void log_sockopt_cap(const struct config *cfg)
{
	if (!privs_need_sockopt(cfg) ||
	    privs_sockopt_mask() != (UINT64_C(1) << CAP_NET_ADMIN))
		return;
	log_notice("privileges: workers keep CAP_NET_ADMIN for fwmark and source = \"client\" "
		   "(IP_TRANSPARENT, SO_MARK), as the process lacks CAP_NET_RAW; to keep only "
		   "CAP_NET_RAW, add it with a drop-in (systemctl edit ringrelay): "
		   "AmbientCapabilities=CAP_NET_RAW and CapabilityBoundingSet=CAP_NET_RAW");
}

/* -t's verdict on the descriptors, a warning: the hard limit of whoever runs -t (a shell, an
 * ExecStartPre= under the unit's limits) need not be the start's. */
static void warn_nofile(const char *why)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		rl.rlim_max = 0;
	log_warn("%s (judged under this process's limits, hard RLIMIT_NOFILE %llu: the start "
		 "refuses under the same limits, not under a unit's larger LimitNOFILE=)",
		 why, (unsigned long long)rl.rlim_max);
}

/* The start's runtime_claim_ports. A stop while the claims wait for another start (up to
 * 30 s) ends this one: the event loop that reads the signals is not running yet. A signalfd
 * of its own for the two, only polled, so the signal stays pending for the event loop's. */
static int claim_ports(const struct config *cfg, struct portclaim *claim, char *err,
		       size_t errlen)
{
	sigset_t stop;
	int ret;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	claim->cancel_fd = signalfd(-1, &stop, SFD_CLOEXEC);
	ret = runtime_claim_ports(cfg, claim, err, errlen);
	if (claim->cancel_fd >= 0)
		close(claim->cancel_fd);
	claim->cancel_fd = -1;
	return ret;
}

/* Loads and validates the config and plans it for this host, as -t does. */
static int load_config(const char *path, enum load_for load_for, struct config **out,
		       struct plan *plan, char *err, size_t errlen)
{
	int ret;

	ret = config_load_file(path, out, err, errlen);
	if (ret)
		return ret;
	ret = load_for == LOAD_START ? runtime_check_start(*out, plan, err, errlen)
				     : runtime_check(NULL, *out, plan, err, errlen);
	if (!ret && load_for != LOAD_SHOW) {
		ret = runtime_check_nofile(*out, plan, err, errlen);
		if (ret && load_for == LOAD_TEST) {
			warn_nofile(err);
			ret = 0;
		}
	}
	/* Before the port claims, a descriptor each (1024 at most): under a soft limit of 1024
	 * (systemd's default) they would run out before the plan's limit was had. */
	if (!ret && load_for == LOAD_START)
		ret = runtime_raise_nofile(*out, plan, err, errlen);
	if (ret) {
		config_free(*out);
		*out = NULL;
	}
	return ret;
}

/* One line per relay: the total `ringrelayctl stats` shows (the workers' sum and what the
 * program shed), so the two agree. Also after the workers stopped: runtime_sum reads them
 * whether or not they run. */
static void print_stats(struct app *a)
{
	struct relay_counters c;
	uint64_t full, heavy;
	char line[2048];
	uint32_t r;

	for (r = 0; r < a->rt.cfg->n_relays; r++) {
		struct log_field relay = {"RELAY", a->rt.cfg->relays[r].name, false};

		runtime_sum(&a->rt, r, &c);
		app_shed_dropped(a, r, &full, &heavy);
		relay_counters_add_shed(&c, full, heavy);
		if (control_view_stats_line(a->rt.cfg->relays[r].name, &c, line, sizeof(line)) >= 0)
			log_fields(LOG_LVL_INFO, &relay, 1, "%s", line);
	}
}

/* The main loop's periodic work takes the lock only when it is free: a reload holds it while
 * it resolves names (seconds, with a nameserver down), and the loop must go on pinging the
 * watchdog and taking signals meanwhile. The work is done at its next turn. */
static bool main_trylock(struct app *a)
{
	return pthread_mutex_trylock(&a->lock) == 0;
}

/* Returns false when the lock was busy: nothing printed. */
static bool print_app_stats(struct app *a)
{
	if (!main_trylock(a))
		return false;
	print_stats(a);
	pthread_mutex_unlock(&a->lock);
	return true;
}

/* Pings the systemd watchdog only while every worker's loop is moving: a wedged worker
 * must get the service restarted. A worker blocks at most one expiry tick (<= 1 s). */
static void watchdog_check(struct app *a, uint64_t *last_beat)
{
	bool alive = true;
	uint32_t i;

	for (i = 0; i < a->rt.n_started; i++) {
		uint64_t beat = counter_get(&a->rt.workers[i].wc.heartbeat);

		if (beat == last_beat[i])
			alive = false;
		last_beat[i] = beat;
	}
	if (alive)
		service_watchdog_ping();
	else
		log_warn("watchdog: a worker made no progress; not pinging systemd");
}

/* Seconds on the monotonic clock, for the event loop's deadlines: a step of the wall clock
 * (NTP at boot, a resumed VM) must not hold back the watchdog's pings. */
static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line for `systemctl status`: datagrams per second since the last call. */
static void status_update(struct app *a, uint64_t *last_rx, uint64_t *last_applied,
			  double *last_t)
{
	struct relay_counters c;
	uint64_t rx = 0, tx = 0, applied;
	double now = mono_now(), rate;
	uint32_t r, n_relays;

	if (!main_trylock(a))
		return;
	n_relays = a->rt.cfg->n_relays; /* a reload may free the config once unlocked */
	applied = a->reloads_ok + a->reloads_partial;
	for (r = 0; r < n_relays; r++) {
		runtime_sum(&a->rt, r, &c);
		rx += c.dir[RELAY_DIR_TO_UPSTREAM].rx_pkts + c.dir[RELAY_DIR_TO_CLIENT].rx_pkts;
		tx += c.dir[RELAY_DIR_TO_UPSTREAM].tx_pkts + c.dir[RELAY_DIR_TO_CLIENT].tx_pkts;
	}
	pthread_mutex_unlock(&a->lock);
	/* A reload may have taken a relay's counts out of the sum: no rate this time. */
	if (*last_t > 0 &&
	    counter_rate_steady(rx, *last_rx, applied, *last_applied, now - *last_t, &rate))
		service_status("%u relay(s); %.0f datagrams/s in; %llu in, %llu out in all",
			       n_relays, rate, (unsigned long long)rx, (unsigned long long)tx);
	else if (*last_t > 0)
		service_status("%u relay(s); %llu in, %llu out in all", n_relays,
			       (unsigned long long)rx, (unsigned long long)tx);
	*last_rx = rx;
	*last_applied = applied;
	*last_t = now;
}

/* Waits for signals and timers (link events are the admin thread's). Returns on TERM/INT. */
/* Until a stop: SIGTERM or SIGINT (returns 0), or a worker whose loop ended on an error
 * (returns 1: a service manager starts the relay again whole). */
static int event_loop(struct app *a, int sfd, struct admin *admin, int verbosity)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
				 { .fd = a->rt.sync.failed_fd, .events = POLLIN } };
	uint64_t wd_usec = service_watchdog_usec();
	double stats_every = verbosity > 0 ? a->rt.cfg->stats_interval : 0;
	double wd_every = wd_usec ? (double)wd_usec / 2e6 : 0;
	double next_stats = mono_now() + stats_every, next_wd = mono_now() + wd_every;
	double next_status = mono_now() + 5, last_t = 0, next_fast = mono_now() + 1;
	uint64_t *beats = calloc(a->rt.n_started, sizeof(*beats));
	uint64_t last_rx = 0, last_applied = 0;
	bool usr1 = false; /* stats asked for by SIGUSR1, printed once the lock is free */
	int ret = 0;

	for (;;) {
		double now = mono_now(), next = next_status;
		int n, timeout;

		if (stats_every && next_stats < next)
			next = next_stats;
		if (wd_every && next_wd < next)
			next = next_wd;
		if (a->rt.fast && next_fast < next)
			next = next_fast;
		/* A minute at most: the deadlines are no further away than their intervals. */
		timeout = next > now ? (int)(fmin(next - now, 60) * 1000) + 1 : 0;
		if (usr1 && timeout > 100)
			timeout = 100;
		n = poll(pfd, 2, timeout);
		if (n < 0 && errno != EINTR) {
			log_err("poll: %s; stopping (exit status 1)", strerror(errno));
			ret = 1;
			break;
		}
		now = mono_now();
		if (usr1 && print_app_stats(a))
			usr1 = false;
		if (stats_every && now >= next_stats) {
			print_app_stats(a);
			next_stats = now + stats_every;
		}
		if (wd_every && now >= next_wd) {
			if (beats)
				watchdog_check(a, beats);
			next_wd = now + wd_every;
		}
		if (now >= next_status) {
			status_update(a, &last_rx, &last_applied, &last_t);
			next_status = now + 5;
		}
		/* XDP redirect targets the kernel refused come back when they take it again. */
		if (a->rt.fast && now >= next_fast) {
			if (main_trylock(a)) {
				if (a->filter)
					offload_recheck(a->filter);
				pthread_mutex_unlock(&a->lock);
			}
			next_fast = now + 1;
		}
		if (n > 0 && (pfd[1].revents & POLLIN) && runtime_worker_failures(&a->rt)) {
			log_err("stopping (exit status 1) so that the service manager starts "
				"ringrelay again whole");
			ret = 1;
			break;
		}
		if (n <= 0 || !(pfd[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("signal %s: stopping", si.ssi_signo == SIGTERM ? "TERM" : "INT");
			break;
		}
		if (si.ssi_signo == SIGUSR1)
			usr1 = !print_app_stats(a);
		else if (si.ssi_signo == SIGHUP)
			admin_reload_async(admin);
	}
	free(beats);
	return ret;
}

/* Says who the daemon runs as after start, and why. */
static void log_who(const struct privs_who *who)
{
	switch (who->why) {
	case PRIVS_AS_STARTED:
		break;
	case PRIVS_CONFIGURED:
		if (who->switch_user)
			log_info("user: switching to '%s' (uid %u) after set-up", who->name,
				 (unsigned int)who->uid);
		break;
	case PRIVS_DEFAULT:
		log_notice("user: switching to '%s' (uid %u) after set-up, the default for a start "
			   "as root (set user to choose another)",
			   who->name, (unsigned int)who->uid);
		break;
	case PRIVS_ROOT_CONFIGURED:
		log_info("user: staying root (user = \"%s\"), with no capabilities after set-up",
			 who->name);
		break;
	case PRIVS_ROOT_NO_USER:
		log_warn("user: staying root after set-up: user is not set and there is no user "
			 "'%s' (create it: systemd-sysusers ringrelay.conf, or adduser --system "
			 "--group %s), or set user = \"root\" to run as root on purpose",
			 PRIVS_DEFAULT_USER, PRIVS_DEFAULT_USER);
		break;
	}
}

/* The pid of a live ringrelay that path names (not us), or 0. */
static pid_t pidfile_running(const char *path)
{
	char buf[32], comm[32] = "";
	long pid = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0 || pid == (long)getpid() || (kill((pid_t)pid, 0) && errno != EPERM))
		return 0;
	snprintf(buf, sizeof(buf), "/proc/%ld/comm", pid);
	f = fopen(buf, "re");
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	/* a stale file whose number now belongs to another program is overwritten */
	return !strncmp(comm, "ringrelay", 9) ? (pid_t)pid : 0;
}

/* pid_file: refuses when it names a running ringrelay, else writes our pid. Returns 0 or
 * -errno with err set. */
static int pidfile_write(const struct config *cfg, char *err, size_t errlen)
{
	char text[24];
	pid_t other;
	int fd, n;

	if (!cfg->pid_file[0])
		return 0;
	other = pidfile_running(cfg->pid_file);
	if (other) {
		snprintf(err, errlen,
			 "%.128s: pid_file: %.128s: ringrelay is already running as pid %d (stop "
			 "it, or give "
			 "this one another pid_file and control_socket)",
			 cfg->path, cfg->pid_file, (int)other);
		return -EEXIST;
	}
	fd = open(cfg->pid_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%.128s: pid_file: %.128s: %s", cfg->path, cfg->pid_file,
			 strerror(errno));
		return -errno;
	}
	n = snprintf(text, sizeof(text), "%d\n", (int)getpid());
	if (write(fd, text, (size_t)n) != n) {
		snprintf(err, errlen, "%.128s: pid_file: %.128s: write: %s", cfg->path,
			 cfg->pid_file, strerror(errno ? errno : EIO));
		close(fd);
		unlink(cfg->pid_file);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* Removes the pid file when it still names us (best effort: after dropping privileges the
 * directory may not be ours to write; put it where the daemon's user can, as under
 * systemd's /run/ringrelay). */
static void pidfile_remove(const char *path)
{
	char buf[24];
	long pid = 0;
	FILE *f;

	if (!path[0] || !(f = fopen(path, "re")))
		return;
	if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%ld", &pid) == 1 && pid == (long)getpid() &&
	    unlink(path))
		log_debug("pid_file %s: unlink: %s", path, strerror(errno));
	fclose(f);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct app a = { 0 };
	struct control *ctl = NULL;
	struct admin *admin = NULL;
	struct upkeep *upk = NULL;
	struct privs_who who;
	struct config *cfg;
	struct plan plan;
	char err[CONFIG_ERR_LEN] = "", pid_file[CONFIG_PATH_LEN] = "";
	struct accesslog *alog = NULL;
	struct portclaim claim; /* the listen ports, until our listeners are bound */
	struct steer steer;
	uint64_t admin_caps;
	const char *wait_env;
	sigset_t mask;
	int sfd, level, ret = 1;
	bool ran = false; /* the relay ran: the final counts are printed */
	uint32_t i;

	if (parse_args(argc, argv, &o))
		return 2;
	/* -v debug, -q notices and up, -qq warnings and errors; errors are never hidden. */
	level = LOG_LVL_INFO + o.verbosity;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	if (level < LOG_LVL_ERR)
		level = LOG_LVL_ERR;
	log_set_level((enum log_level)level);
	log_setup(LOG_FORMAT_TEXT);

	if (load_config(o.config,
			o.dump ? LOAD_SHOW : o.test ? LOAD_TEST : LOAD_START, &cfg, &plan,
			err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	log_setup(cfg->log_format);
	if (o.dump) {
		config_dump(cfg, stdout);
		config_free(cfg);
		return 0;
	}
	if (o.test) {
		if (o.verbosity >= 0)
			printf("configuration %s is OK\n", o.config);
		config_free(cfg);
		return 0;
	}
	/* Who we run as after set-up decides who owns the control socket: known first. */
	if (privs_resolve(cfg->user, PRIVS_DEFAULT_USER, &who, err, sizeof(err))) {
		fprintf(stderr, "%s: user: %s\n", cfg->path, err);
		config_free(cfg);
		return 1;
	}
	log_who(&who);
	a.uid = who.uid;
	portclaim_init(&claim, who.uid);

	/* Signals become events on a signalfd that only this thread reads; threads started
	 * later inherit the blocked mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		config_free(cfg);
		return 1;
	}
	a.config_path = o.config;
	a.start_time = a.last_reload_success = app_now();
	a.start_boot = app_boottime();
	pthread_mutex_init(&a.lock, NULL);
	uring_probe(&a.caps);

	/* Lifecycle: refuse a second instance before touching the host, whose filter and pins
	 * it would replace and then remove. The pid file and the control sockets (made as the
	 * daemon's user, served once the control thread starts) are claimed here, so a second
	 * start is refused also while this one still sets up. So are the listen ports, before
	 * they are checked, until the workers have bound them (portclaim.h): a second start
	 * with its own pid file and control socket
	 * that shares a listen address waits for our listeners (up to 30 s), then its check
	 * refuses it, instead of both passing the check and joining one SO_REUSEPORT group.
	 * (RLIMIT_NOFILE was raised to the plan's need, the claims' descriptors included, as
	 * the config was loaded.) Then the filter (traffic it drops never reaches a listener),
	 * the runtime of the plan, privileges down to what set-up still needs, workers bind and
	 * listen (and drop every capability; the port claims go), the admin thread (keeps the
	 * filter's), main drops the rest, then the threads that start with nothing: access log,
	 * control plane. Ready. Teardown reverses. */
	if (pidfile_write(cfg, err, sizeof(err))) {
		log_err("%s", err);
		goto out_refused;
	}
	snprintf(pid_file, sizeof(pid_file), "%s", cfg->pid_file);
	if (control_new(&a, cfg, &who, &ctl, err, sizeof(err)) ||
	    claim_ports(cfg, &claim, err, sizeof(err)) ||
	    runtime_check_ports(cfg, err, sizeof(err))) {
		log_err("%s", err);
		goto out_refused;
	}
	if (app_filter_sync(&a, cfg, &plan, err, sizeof(err))) {
		log_err("%s", err);
		filter_free(a.filter); /* made before what failed after it */
		app_filter_forget(&a);
		goto out_refused;
	}
	if (runtime_prepare(&a.rt, cfg, &plan, &a.caps, err, sizeof(err))) {
		log_err("%s", err);
		goto out_fini;
	}
	wait_env = getenv("RINGRELAY_WORKER_WAIT_MS"); /* for tests: ringrelay(8) ENVIRONMENT */
	if (wait_env && runtime_wait_parse(wait_env, &a.rt.wait_ms))
		log_warn("RINGRELAY_WORKER_WAIT_MS=%.16s ignored: a whole number of ms from %d to %d",
			 wait_env, RUNTIME_WORKER_WAIT_MIN_MS, RUNTIME_WORKER_WAIT_MS);
	else if (wait_env)
		log_info("workers: %u ms before one counts as stuck (RINGRELAY_WORKER_WAIT_MS)",
			 a.rt.wait_ms);
	/* The watchdog pings at half its interval when every heartbeat moved: idle workers
	 * beat four times per interval, so each check sees at least one beat. */
	runtime_set_heartbeat(&a.rt, service_watchdog_usec() * 1000 / 4);
	/* The napi block while we are still root (sysfs files are root's), after the filter's
	 * attach (which re-makes NAPI instances), with the plan's worker CPUs; logged once the
	 * workers say how their busy polling went. The admin thread keeps what it takes to
	 * apply it again only when some listen interface has a NAPI instance to apply it to,
	 * or the block changed something (put back as the admin thread ends). */
	app_napi_sync(&a, a.rt.cfg, false);
	a.napi_tuned = napitune_any_instance(&a.napi) || napitune_any_saved(&a.napi_saved);
	admin_caps = (a.filter ? PRIVS_FILTER_CAPS : 0) |
		     (a.napi_tuned ? PRIVS_NAPI_CAPS : 0) |
		     (a.napi_tuned && (a.rt.cfg->napi.threaded || a.rt.cfg->napi.thread_nice)
			      ? PRIVS_NAPI_THREAD_CAPS
			      : 0) |
		     (a.napi_tuned && napitune_any_by_iterator(&a.napi) ? PRIVS_NAPI_ITER_CAPS : 0);
	/* The access log's file opens while we may still write anywhere. */
	if (accesslog_new(a.rt.cfg, a.rt.plan.n_workers, &alog, err, sizeof(err)) ||
	    privs_drop(&who, admin_caps, privs_need_sockopt(a.rt.cfg), err, sizeof(err))) {
		log_err("%s", err);
		goto out_fini;
	}
	log_sockopt_cap(a.rt.cfg);
	for (i = 0; i < a.rt.plan.n_workers; i++)
		a.rt.workers[i].alog = accesslog_ring(alog, i);
	/* Steering before the workers bind, from the interfaces as the napi block left them. */
	pthread_mutex_lock(&a.lock);
	app_steer(&a, a.rt.cfg, &steer);
	app_steer_set(&a, a.rt.cfg, &steer);
	pthread_mutex_unlock(&a.lock);
	if (runtime_start(&a.rt, err, sizeof(err))) {
		log_err("%s", err);
		goto out_fini;
	}
	/* Every listener is bound: a start or reload waiting on our ports checks them now. */
	portclaim_release(&claim);
	app_napi_log(&a);
	log_rxpath(&a);
	if (admin_start(&a, admin_caps, &admin, err, sizeof(err))) {
		log_err("%s", err);
		goto out_stop;
	}
	a.admin = admin;
	/* The upkeep thread keeps what the workers keep: its health probes carry a relay's
	 * fwmark (which a reload may add where source = "client" made the workers keep it). */
	if (upkeep_start(&a, privs_need_sockopt(a.rt.cfg) ? privs_sockopt_mask() : 0, &upk, err,
			 sizeof(err))) {
		log_err("%s", err);
		ret = 1;
		goto out_admin;
	}
	ret = privs_drop_thread();
	if (ret) {
		log_err("main thread: drop capabilities: %s", strerror(-ret));
		ret = 1;
		goto out_admin;
	}
	/* These start with main's empty sets. */
	if (accesslog_start(alog) || control_start(ctl, err, sizeof(err))) {
		log_err("%s", err[0] ? err : "access log: cannot start its thread");
		ret = 1;
		goto out_admin;
	}
	log_info("ringrelay %s: %u relay(s), %u worker(s), backend %s, control socket %s: ready",
		 RINGRELAY_VERSION, a.rt.cfg->n_relays, a.rt.plan.n_workers,
		 config_backend_name(a.rt.backend), a.rt.cfg->control_socket);
	service_ready("relaying");

	ret = event_loop(&a, sfd, admin, o.verbosity);
	ran = true;
	service_stopping();
out_admin:
	/* The control thread may wait on a reload: it goes first; the upkeep thread re-applies
	 * relays like a reload; then no reload may run while the workers stop. Each may be
	 * waiting on a worker stuck in the middle of a command: those waits end by the stop's
	 * deadline from here. */
	runtime_stopping(&a.rt);
	upkeep_stop(upk);
	control_stop(ctl);
	ctl = NULL;
	admin_quiesce(admin);
out_stop:
	if (runtime_stop(&a.rt)) {
		ret = 1; /* a stuck worker, logged: see the exit below */
		ran = false;
	}
	if (a.rt.n_failed)
		ret = 1; /* a worker's loop ended on an error (logged), maybe during the stop */
	if (ran)
		print_stats(&a); /* the workers are joined: these are the final counts */
	/* Puts the napi block back, then detaches the filter (the only thread that still may);
	 * frees it unless a worker was left running on its maps. */
	admin_stop(admin, a.rt.n_abandoned != 0);
out_fini:
	/* After admin_stop: nothing left (or no admin); before the filter leaves below, as the
	 * admin thread does it. */
	napitune_restore(&a.napi_saved);
	portclaim_release(&claim);
	control_stop(ctl);
	pidfile_remove(pid_file);
	if (a.rt.n_abandoned) {
		/* A worker still runs on the config, its rings and the filter's maps: what the
		 * host would keep after us is gone (classic tc filters, pins, NAPI threads'
		 * priorities, the pid file; the access log is written), and the exit frees
		 * nothing and runs no exit handler under it. */
		filter_detach(a.filter); /* without an admin thread (its start failed) */
		accesslog_stop(alog);
		log_err("exiting with %u stuck worker(s) still running", a.rt.n_abandoned);
		_exit(1);
	}
	runtime_fini(&a.rt);
	accesslog_free(alog); /* the workers are gone: what they logged last is written */
	filter_free(a.filter);
	app_filter_forget(&a);
out_close:
	close(sfd);
	return ret;
out_refused:
	portclaim_release(&claim);
	control_stop(ctl);
	pidfile_remove(pid_file);
	config_free(cfg);
	goto out_close;
}
