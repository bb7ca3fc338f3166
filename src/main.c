// SPDX-License-Identifier: MIT
/* ringrelay: command line, lifecycle order, the signal loop, reverse-order teardown. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "filter.h"
#include "log.h"
#include "runtime.h"
#include "uring.h"

#define DEFAULT_CONFIG SYSCONFDIR "/ringrelay/ringrelay.conf"

struct options {
	const char *config;
	bool test;
	bool dump;
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
		"  -v, --verbose       more log (repeat for debug); stats every stats_interval\n"
		"  -q, --quiet         less log\n"
		"  -V, --version       versions and the data-path features this kernel offers\n"
		"  -h, --help          this text\n"
		"Signals: TERM/INT stop, USR1 prints counters.\n",
		DEFAULT_CONFIG);
}

static void print_version(void)
{
	struct uring_caps caps;
	struct utsname u;
	enum io_backend b;
	char why[256];

	uname(&u);
	uring_probe(&caps);
	printf("ringrelay %s\n", RINGRELAY_VERSION);
	printf("liburing %s, libbpf %s, kernel %s %s\n", LIBURING_VERSION,
	       libbpf_version_string(), u.release, u.machine);
	printf("io_uring: %s\n", caps.available ? "available" : "unavailable");
	printf("  setup flags: %s\n", caps.available ? uring_flags_name(caps.setup_flags) : "-");
	printf("  opcodes (recvmsg, sendmsg, send, timeout, cancel, read, files_update): %s\n",
	       caps.opcodes ? "yes" : "no");
	printf("  provided buffer ring: %s\n", caps.buf_ring ? "yes" : "no");
	printf("  multishot recvmsg: %s\n", caps.recvmsg_multishot ? "yes" : "no");
	if (caps.missing[0])
		printf("  missing: %s\n", caps.missing);
	log_set_level(LOG_LVL_ERR); /* the choice is printed below, not logged */
	if (runtime_choose_backend(IO_BACKEND_AUTO, &caps, &b, why, sizeof(why)) == 0)
		printf("backend for io_backend=\"auto\": %s\n", config_backend_name(b));
}

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
			print_version();
			exit(0);
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
	return 0;
}

/* Loads, validates and checks cfg against the host and the plan, as -t does. */
static int load_config(const char *path, struct config **out, char *err, size_t errlen)
{
	struct plan_host host;
	struct plan *plan;
	int ret;

	ret = config_load_file(path, out, err, errlen);
	if (ret)
		return ret;
	ret = config_check_host(*out, err, errlen);
	if (ret)
		goto err_free;
	plan = malloc(sizeof(*plan));
	if (!plan) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto err_free;
	}
	ret = runtime_host(&host);
	if (!ret)
		ret = plan_build(*out, &host, plan, err, errlen);
	free(plan);
	if (ret)
		goto err_free;
	return 0;
err_free:
	config_free(*out);
	*out = NULL;
	return ret;
}

static void print_stats(const struct runtime *rt)
{
	struct relay_counters c;
	char drops[512];
	size_t n;
	uint32_t r;
	int d;

	for (r = 0; r < rt->cfg->n_relays; r++) {
		runtime_sum(rt, r, &c);
		n = 0;
		for (d = 0; d < DROP__MAX; d++)
			n += (size_t)snprintf(drops + n, sizeof(drops) - n, " drop_%s=%llu",
					      drop_reason_name((enum drop_reason)d),
					      (unsigned long long)c.drops[d]);
		log_info("stats relay=%s rx_pkts=%llu rx_bytes=%llu tx_pkts=%llu tx_bytes=%llu "
			   "reply_rx_pkts=%llu reply_rx_bytes=%llu reply_tx_pkts=%llu "
			   "reply_tx_bytes=%llu%s sessions_active=%llu sessions_created=%llu "
			   "sessions_expired=%llu",
			   rt->cfg->relays[r].name, (unsigned long long)c.rx_pkts,
			   (unsigned long long)c.rx_bytes, (unsigned long long)c.tx_pkts,
			   (unsigned long long)c.tx_bytes, (unsigned long long)c.reply_rx_pkts,
			   (unsigned long long)c.reply_rx_bytes, (unsigned long long)c.reply_tx_pkts,
			   (unsigned long long)c.reply_tx_bytes, drops,
			   (unsigned long long)c.sessions_active,
			   (unsigned long long)c.sessions_created,
			   (unsigned long long)c.sessions_expired);
	}
}

static double unix_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Brings the filter in line with cfg: load, update atomically, or remove. */
static int filter_sync(struct app *a, const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->filter.mode == FILTER_MODE_OFF) {
		filter_free(a->filter);
		a->filter = NULL;
		return 0;
	}
	if (!a->filter)
		return filter_new(cfg, &a->filter, err, errlen);
	return filter_update(a->filter, cfg, err, errlen);
}

int app_reload(struct app *a, char *err, size_t errlen)
{
	struct config *cfg;
	int ret;

	pthread_mutex_lock(&a->lock);
	ret = config_load_file(a->config_path, &cfg, err, errlen);
	if (!ret) {
		ret = config_check_host(cfg, err, errlen);
		if (!ret)
			ret = runtime_reload(&a->rt, cfg, err, errlen);
		else
			config_free(cfg);
	}
	if (!ret)
		ret = filter_sync(a, a->rt.cfg, err, errlen);
	if (ret) {
		a->reloads_failed++;
		snprintf(a->last_reload_error, sizeof(a->last_reload_error), "%s", err);
		log_err("reload failed, the previous configuration stays in force: %s", err);
	} else {
		a->reloads_ok++;
		a->last_reload_success = unix_now();
		a->last_reload_error[0] = '\0';
		log_info("reload: %s applied: %u relay(s)", a->config_path, a->rt.cfg->n_relays);
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

static void print_app_stats(struct app *a)
{
	pthread_mutex_lock(&a->lock);
	print_stats(&a->rt);
	pthread_mutex_unlock(&a->lock);
}

/* Waits for signals; -v adds a stats line every stats_interval. Returns on TERM/INT. */
static void signal_loop(struct app *a, int sfd, int verbosity)
{
	struct signalfd_siginfo si;
	struct pollfd pfd = { .fd = sfd, .events = POLLIN };
	int timeout = verbosity > 0 ? (int)(a->rt.cfg->stats_interval * 1000) : -1;
	char err[CONFIG_ERR_LEN];

	for (;;) {
		int n = poll(&pfd, 1, timeout);

		if (n < 0 && errno != EINTR)
			return;
		if (n == 0) {
			print_app_stats(a);
			continue;
		}
		if (n < 0 || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("signal %s: stopping", si.ssi_signo == SIGTERM ? "TERM" : "INT");
			return;
		case SIGUSR1:
			print_app_stats(a);
			break;
		case SIGHUP:
			app_reload(a, err, sizeof(err));
			break;
		}
	}
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct app a = { 0 };
	struct config *cfg;
	char err[CONFIG_ERR_LEN];
	sigset_t mask;
	int sfd, ret = 1;

	if (parse_args(argc, argv, &o))
		return 2;
	log_set_level((enum log_level)(LOG_LVL_INFO + o.verbosity));

	if (load_config(o.config, &cfg, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (o.dump) {
		config_dump(cfg, stdout);
		config_free(cfg);
		return 0;
	}
	if (o.test) {
		printf("configuration %s is OK\n", o.config);
		config_free(cfg);
		return 0;
	}

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
	a.start_time = a.last_reload_success = unix_now();
	pthread_mutex_init(&a.lock, NULL);
	uring_probe(&a.caps);

	/* The filter first: traffic it should drop never reaches a listener. */
	if (filter_sync(&a, cfg, err, sizeof(err))) {
		log_err("%s", err);
		config_free(cfg);
		goto out_close;
	}
	if (runtime_start(&a.rt, cfg, &a.caps, err, sizeof(err))) {
		log_err("%s", err);
		goto out_fini;
	}
	log_info("ringrelay %s: %u relay(s), %u worker(s), backend %s: ready", RINGRELAY_VERSION,
		 a.rt.cfg->n_relays, a.rt.plan.n_workers, config_backend_name(a.rt.backend));

	signal_loop(&a, sfd, o.verbosity);

	runtime_stop(&a.rt);
	print_stats(&a.rt); /* the workers are joined: these are the final counts */
	ret = 0;
out_fini:
	runtime_fini(&a.rt);
	filter_free(a.filter);
out_close:
	close(sfd);
	return ret;
}
