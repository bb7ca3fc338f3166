// SPDX-License-Identifier: MIT
/* Benchmark sink loader: attach perf/sink.bpf.c to one interface through a BPF link (so it
 * goes away with this process), then print the summed per-CPU counters as one JSON line on
 * every SIGUSR1 and once at exit. Exits after -t seconds (0: no such limit), after -I seconds
 * without a SIGUSR1 (a harness that asks for counts keeps it alive for as long as it runs,
 * and one that died leaves it at most that long), or on SIGINT/SIGTERM.
 *
 *   sink -i IFACE [-t SECONDS] [-I IDLE_SECONDS] [-p PASS_PORT] [-N]
 *
 * Generic (skb) mode is the default: on veth it runs the program after RPS has steered the
 * packet, so the sink's cost lands on the CPU we choose instead of the sender's CPU. */
#include <errno.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sink.skel.h"

enum { SINK_PKTS, SINK_BYTES, SINK_NR_COUNTERS };

struct sink_opts {
	const char *ifname;
	double seconds, idle; /* 0: no limit of that kind */
	uint16_t pass_port;
	int native;
};

static double sink_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sums one per-CPU counter into *total and fills per_cpu[ncpu]; returns 0 or -errno. */
static int sink_read(int map_fd, uint32_t idx, int ncpu, uint64_t *per_cpu, uint64_t *total)
{
	*total = 0;
	if (bpf_map_lookup_elem(map_fd, &idx, per_cpu))
		return -errno;
	for (int i = 0; i < ncpu; i++)
		*total += per_cpu[i];
	return 0;
}

static int sink_print(int map_fd, int ncpu, const struct sink_opts *o, double t0)
{
	uint64_t *pc = calloc(ncpu, sizeof(*pc));
	uint64_t pkts, bytes;
	int err;

	if (!pc)
		return -ENOMEM;
	err = sink_read(map_fd, SINK_BYTES, ncpu, pc, &bytes);
	if (err)
		goto out_free;
	err = sink_read(map_fd, SINK_PKTS, ncpu, pc, &pkts);
	if (err)
		goto out_free;
	printf("{\"iface\":\"%s\",\"mode\":\"%s\",\"elapsed_s\":%.3f,\"pkts\":%llu,\"bytes\":%llu,"
	       "\"per_cpu_pkts\":[",
	       o->ifname, o->native ? "native" : "skb", sink_now() - t0, (unsigned long long)pkts,
	       (unsigned long long)bytes);
	for (int i = 0; i < ncpu; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)pc[i]);
	printf("]}\n");
	fflush(stdout);
out_free:
	free(pc);
	return err;
}

static void sink_usage(FILE *f)
{
	fprintf(f, "usage: sink -i IFACE [-t SECONDS (default 60, 0: none)] [-I IDLE_SECONDS]\n"
		   "            [-p PASS_PORT] [-N (native)]\n");
}

static int sink_parse(int argc, char **argv, struct sink_opts *o)
{
	int c;

	*o = (struct sink_opts){.seconds = 60};
	while ((c = getopt(argc, argv, "i:t:I:p:Nh")) != -1) {
		switch (c) {
		case 'i':
			o->ifname = optarg;
			break;
		case 't':
			o->seconds = atof(optarg);
			break;
		case 'I':
			o->idle = atof(optarg);
			break;
		case 'p':
			o->pass_port = atoi(optarg);
			break;
		case 'N':
			o->native = 1;
			break;
		case 'h':
			sink_usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	/* Always bounded by one of the two: the sink must not outlive a harness that died. */
	if (!o->ifname || o->seconds < 0 || o->idle < 0 || (o->seconds == 0 && o->idle == 0))
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts);
	struct perf_sink_bpf *skel;
	struct signalfd_siginfo si;
	struct sink_opts o;
	int ifindex, link_fd, sfd, ncpu, err;
	double t0, deadline, asked;
	sigset_t mask;

	if (sink_parse(argc, argv, &o)) {
		sink_usage(stderr);
		return 2;
	}
	ifindex = if_nametoindex(o.ifname);
	if (!ifindex) {
		fprintf(stderr, "sink: %s: %s\n", o.ifname, strerror(errno));
		return 1;
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0)
		return 1;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		return 1;

	skel = perf_sink_bpf__open();
	if (!skel) {
		err = -errno;
		fprintf(stderr, "sink: open BPF object: %s\n", strerror(-err));
		goto err_close_sfd;
	}
	skel->rodata->pass_port = htons(o.pass_port);
	err = perf_sink_bpf__load(skel);
	if (err) {
		fprintf(stderr, "sink: load BPF object: %s\n", strerror(-err));
		goto err_destroy;
	}
	lopts.flags = o.native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	link_fd = bpf_link_create(bpf_program__fd(skel->progs.sink_xdp), ifindex, BPF_XDP, &lopts);
	if (link_fd < 0) {
		err = -errno;
		fprintf(stderr, "sink: attach XDP (%s mode) on %s: %s\n",
			o.native ? "native" : "skb", o.ifname, strerror(-err));
		goto err_destroy;
	}
	/* The harness waits for this line before it sends anything. */
	fprintf(stderr, "sink: attached on %s\n", o.ifname);

	t0 = sink_now();
	asked = t0;
	for (;;) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		double left;

		deadline = o.seconds > 0 ? t0 + o.seconds : -1;
		if (o.idle > 0 && (deadline < 0 || asked + o.idle < deadline))
			deadline = asked + o.idle;
		left = deadline - sink_now();
		if (left <= 0) {
			/* Said on stderr, so a harness that finds the sink gone can tell why. */
			fprintf(stderr, "sink: exiting: %s\n",
				o.seconds > 0 && sink_now() >= t0 + o.seconds
				    ? "-t seconds passed"
				    : "no count asked for (SIGUSR1) within -I seconds");
			break;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGUSR1)
			break;
		asked = sink_now();
		sink_print(bpf_map__fd(skel->maps.sink_counts), ncpu, &o, t0);
	}
	err = sink_print(bpf_map__fd(skel->maps.sink_counts), ncpu, &o, t0);
	close(link_fd);
err_destroy:
	perf_sink_bpf__destroy(skel);
err_close_sfd:
	close(sfd);
	return err ? 1 : 0;
}
