// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "rxreport.h"
#include "sock.h"
#include "steer.h"

/* Senders of the probe: each its own source port, so a choice by hash lands on the socket
 * that is not marked for about half of them (all on the marked one: one chance in 2^16). */
#define STEER_PROBE_FLOWS 16

/* Reads what the group's sockets got until all sent datagrams are in or 100 ms passed:
 * loopback delivers within the send, the wait only covers a busy softirq. */
static void steer_collect(const int *group, int *got)
{
	struct pollfd p[2] = {{.fd = group[0], .events = POLLIN}, {.fd = group[1], .events = POLLIN}};
	char byte;
	int i, waits = 0;

	while (got[0] + got[1] < STEER_PROBE_FLOWS && waits++ < 10) {
		for (i = 0; i < 2; i++)
			while (recv(group[i], &byte, sizeof(byte), MSG_DONTWAIT) >= 0)
				got[i]++;
		if (got[0] + got[1] < STEER_PROBE_FLOWS)
			(void)poll(p, 2, 10);
	}
}

int steer_probe(char *why, size_t len)
{
	int group[2] = {-1, -1}, got[2] = {0, 0}, cpu, i, fd, ret;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	const char *step, *bad;
	cpu_set_t old, one;
	struct addr a;

	/* Loopback runs the receive in the sender's softirq, on the sender's CPU: stay on one. */
	step = "read this thread's CPUs";
	ret = -pthread_getaffinity_np(pthread_self(), sizeof(old), &old);
	cpu = ret ? -1 : sched_getcpu();
	if (!ret && cpu < 0)
		ret = -errno;
	if (ret)
		goto out;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	step = "pin to one CPU";
	ret = -pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
	if (ret)
		goto out;
	/* Two listeners as the workers open them, on one loopback port: the second is marked
	 * with this CPU, the first with another one. */
	step = "loopback listeners";
	ret = addr_parse("127.0.0.1:0", &a, &bad);
	if (!ret)
		ret = group[0] = sock_open_listener(&a, false, cpu + 1, false);
	if (ret >= 0)
		ret = getsockname(group[0], (struct sockaddr *)&bound, &blen) ? -errno
			: addr_from_sockaddr(&a, &bound, blen);
	if (!ret)
		ret = group[1] = sock_open_listener(&a, false, cpu, false);
	ret = ret < 0 ? ret : 0;
	step = "send over loopback";
	for (i = 0; i < STEER_PROBE_FLOWS && !ret; i++) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ret = fd < 0 ? -errno
		      : sendto(fd, "", 1, 0, &a.sa, addr_len(&a)) == 1 ? 0 : -errno;
		if (fd >= 0)
			close(fd);
	}
	if (!ret)
		steer_collect(group, got);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
	if (!ret && got[1] == STEER_PROBE_FLOWS)
		goto out;
	if (!ret) {
		snprintf(why, len,
			 "this kernel picks by flow hash in SO_REUSEPORT groups, not by "
			 "SO_INCOMING_CPU (%d of %d probe datagrams went to the other CPU's socket; "
			 "Linux 6.2 and later steer)",
			 got[0], got[0] + got[1]);
		ret = -ENOTSUP;
	}
out:
	if (ret && ret != -ENOTSUP)
		snprintf(why, len, "the steering probe failed: %s: %s", step, strerror(-ret));
	for (i = 0; i < 2; i++)
		if (group[i] >= 0)
			close(group[i]);
	return ret;
}

/* The CPUs that run ifc's receive work once ringrelay has set it up; false (why set) when
 * they are not known. */
static bool steer_rx_cpus(const struct config *cfg, const struct rxpath_iface *ifc,
			  const int *worker_cpu, uint32_t n_workers, cpu_set_t *set, char *why,
			  size_t len)
{
	uint32_t i, n;

	CPU_ZERO(set);
	if (cfg->napi.threaded) {
		/* napitune pins instance i, in id order, to worker i's CPU (modulo the workers);
		 * an instance per RX queue when none is threaded yet */
		n = ifc->n_threads_all ? ifc->n_threads_all : ifc->n_queues;
		for (i = 0; i < n && i < n_workers; i++)
			CPU_SET(worker_cpu[i], set);
		return true;
	}
	if (ifc->threaded == 1) {
		for (i = 0; i < ifc->n_threads; i++)
			CPU_OR(set, set, &ifc->threads[i].cpus);
		return true;
	}
	for (i = 0; i < ifc->n_desc; i++)
		if (CPU_COUNT(&ifc->q[i].rps))
			CPU_OR(set, set, &ifc->q[i].rps);
	if (CPU_COUNT(set))
		return true; /* RPS decides where the stack runs, whatever the IRQs */
	if (ifc->virtual_dev) {
		snprintf(why, len, "%s is virtual: its receive runs on the sending CPUs", ifc->name);
		return false;
	}
	if (!ifc->irqs_known) {
		snprintf(why, len, "the IRQs of %s's RX queues are not known", ifc->name);
		return false;
	}
	for (i = 0; i < ifc->n_desc; i++)
		CPU_OR(set, set, &ifc->q[i].irq_cpus);
	return true;
}

void steer_decide(const struct config *cfg, int probe, const char *probe_why,
		  const struct rxreport *r, const int *worker_cpu, uint32_t n_workers,
		  struct steer *out)
{
	cpu_set_t rx;
	uint32_t i, w;

	memset(out, 0, sizeof(*out));
	if (cfg->steering == STEERING_HASH) {
		snprintf(out->why, sizeof(out->why), "steering = \"hash\"");
		return;
	}
	if (n_workers < 2) {
		snprintf(out->why, sizeof(out->why), "one worker");
		return;
	}
	if (probe) {
		snprintf(out->why, sizeof(out->why), "%s", probe_why);
		return;
	}
	if (cfg->steering == STEERING_CPU) {
		out->cpu = true;
		snprintf(out->why, sizeof(out->why), "steering = \"cpu\"");
		return;
	}
	/* (a wildcard listen address: every interface that is up, loopback aside) */
	if (!r || !r->n) {
		snprintf(out->why, sizeof(out->why), "no listen interface to judge by");
		return;
	}
	for (i = 0; i < r->n; i++) {
		const struct rxpath_iface *ifc = &r->ifaces[i];

		if (!steer_rx_cpus(cfg, ifc, worker_cpu, n_workers, &rx, out->why,
				   sizeof(out->why)))
			return;
		for (w = 0; w < n_workers; w++) {
			if (worker_cpu[w] >= 0 && worker_cpu[w] < CPU_SETSIZE &&
			    CPU_ISSET(worker_cpu[w], &rx))
				continue;
			snprintf(out->why, sizeof(out->why),
				 "CPU %d (worker %u) runs none of %s's receive work", worker_cpu[w], w,
				 ifc->name);
			return;
		}
	}
	out->cpu = true;
	snprintf(out->why, sizeof(out->why),
		 "every worker's CPU runs receive work of the listen interface%s",
		 r->n == 1 ? "" : "s");
}
