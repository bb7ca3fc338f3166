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
#include <unistd.h>

#include "config.h"
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

/* Waits for signals; -v adds a stats line every stats_interval. Returns on TERM/INT. */
static void signal_loop(struct runtime *rt, int sfd, int verbosity)
{
	struct signalfd_siginfo si;
	struct pollfd pfd = { .fd = sfd, .events = POLLIN };
	int timeout = verbosity > 0 ? (int)(rt->cfg->stats_interval * 1000) : -1;

	for (;;) {
		int n = poll(&pfd, 1, timeout);

		if (n < 0 && errno != EINTR)
			return;
		if (n == 0) {
			print_stats(rt);
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
			print_stats(rt);
			break;
		case SIGHUP:
			log_warn("SIGHUP: live reload is not implemented yet; restart ringrelay to "
				 "apply a new configuration");
			break;
		}
	}
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct uring_caps caps;
	struct runtime rt;
	struct config *cfg;
	char err[CONFIG_ERR_LEN];
	sigset_t mask;
	int sfd, ret;

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

	/* Signals become events on a signalfd that only this thread reads; workers inherit
	 * the blocked mask. */
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

	uring_probe(&caps);
	ret = runtime_start(&rt, cfg, &caps, err, sizeof(err));
	if (ret) {
		log_err("%s", err);
		runtime_fini(&rt);
		close(sfd);
		return 1;
	}
	log_info("ringrelay %s: %u relay(s), %u worker(s), backend %s: ready", RINGRELAY_VERSION,
		 rt.cfg->n_relays, rt.plan.n_workers, config_backend_name(rt.backend));

	signal_loop(&rt, sfd, o.verbosity);

	runtime_stop(&rt);
	print_stats(&rt); /* the workers are joined: these are the final counts */
	runtime_fini(&rt);
	close(sfd);
	return 0;
}
