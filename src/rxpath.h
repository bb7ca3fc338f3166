/* SPDX-License-Identifier: MIT */
/* Where one interface's receive work runs: its RX queues, the IRQs of each and the CPUs they
 * land on, RPS masks, threaded NAPI (and where its threads run), GRO and the XDP program
 * attached. rxpath_describe reads sysfs, /proc/irq, SIOCETHTOOL, rtnetlink (libbpf's
 * bpf_xdp_query) and the netdev genl family (napi.h) and prints nothing;
 * the parsers and rxpath_check (the start-up warnings) are pure, so they are unit-tested
 * with data made by hand. Nothing here runs on a worker: callers are main, at start and for
 * -V, and the control thread, for status. */
#ifndef RINGRELAY_RXPATH_H
#define RINGRELAY_RXPATH_H

#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RXPATH_MAX_QUEUES 64 /* queues described; n_queues still counts them all */
#define RXPATH_MAX_IRQS 4    /* IRQs kept per queue */
#define RXPATH_MSG_LEN 320   /* one warning line */
#define RXPATH_MAX_THREADS 16 /* NAPI threads described per interface */

/* rxpath_irq_queue: an IRQ of the whole device (one vector for everything). */
#define RXPATH_IRQ_ALL (-2)

/* The XDP program attached, as bpf_xdp_query reports it. */
enum rxpath_xdp {
	RXPATH_XDP_UNKNOWN, /* the query failed */
	RXPATH_XDP_NONE,
	RXPATH_XDP_GENERIC, /* skb mode: after the skb is built */
	RXPATH_XDP_NATIVE,  /* driver mode */
	RXPATH_XDP_OFFLOAD, /* on the NIC */
	RXPATH_XDP_MULTI,   /* programs in more than one mode */
};

struct rxpath_queue {
	uint32_t n_irqs;
	int irq[RXPATH_MAX_IRQS];
	cpu_set_t irq_cpus; /* where those IRQs (and so this queue's NAPI softirq) run */
	cpu_set_t rps;	    /* RPS mask; empty: RPS off */
};

/* A threaded NAPI instance's thread: where its poll runs. */
struct rxpath_thread {
	uint32_t napi_id;
	int pid;
	int nice;	/* its nice value (napi.thread_nice sets it) */
	cpu_set_t cpus; /* the CPUs it may run on */
};

struct rxpath_iface {
	char name[IF_NAMESIZE];
	uint32_t n_queues; /* RX queues (sysfs queues/rx-*) */
	uint32_t n_desc;   /* of which described in q[]: at most RXPATH_MAX_QUEUES */
	bool virtual_dev;  /* no device behind it (veth, bridge, ...): no IRQ; the receive runs
			    * on the sending CPU */
	bool irqs_known;   /* a device with IRQs that could be matched to queues */
	struct rxpath_queue q[RXPATH_MAX_QUEUES];
	int threaded; /* threaded NAPI: 1, 0, or -1 unknown */
	/* with threaded NAPI, the instances' threads (netdev NAPI_GET, Linux 6.9), at most
	 * RXPATH_MAX_THREADS of n_threads_all */
	uint32_t n_threads, n_threads_all;
	struct rxpath_thread threads[RXPATH_MAX_THREADS];
	int gro;      /* 1, 0, or -1 unknown */
	enum rxpath_xdp xdp;
	uint32_t xdp_prog_id; /* 0: none */
	/* ringrelay's own busy polling on this interface's sockets, in microseconds (0:
	 * off): not read from the system; the caller fills it. */
	uint32_t busy_poll_us;
};

/* What keeps a worker's CPU from being taken by receive softirq work, as the caller knows
 * it (ringrelay's settings); threaded NAPI comes from the described interface. */
struct rxpath_protect {
	bool busy_poll; /* workers busy-poll with prefer_busy_poll: softirq yields to them */
	bool shed;	/* an XDP/tc program drops what a full socket would, before the skb */
};

/* Adds NAPI thread pid (instance napi_id) to out's threads with its CPUs and nice value, as
 * rxpath_describe does; nothing for pid <= 0 or a thread gone meanwhile. */
void rxpath_add_thread(struct rxpath_iface *out, uint32_t napi_id, pid_t pid);

/* Where rxpath_describe reads: "/sys" and "/proc" (tests point them at a made-up tree). */
struct rxpath_paths {
	const char *sys;
	const char *proc;
};

/* Describes ifname into *out (zeroed first; busy_poll_us stays 0). paths NULL: the real ones.
 * What cannot be read is left unknown rather than failing: GRO and XDP without the
 * privilege or the support, IRQs a driver names in a way not matched. Returns 0, -ENODEV when
 * there is no such interface, or -errno. */
int rxpath_describe(const struct rxpath_paths *paths, const char *ifname, struct rxpath_iface *out);

/* Whether native XDP on the interface runs before the receive work that may land on a
 * worker's CPU: on a device with a driver it runs before the skb is built; on a virtual one
 * (veth) the skb exists already and XDP copies it, and it runs before RPS only, so only a
 * queue with RPS on makes it early. */
bool rxpath_xdp_early(const struct rxpath_iface *ifc);

/* Parses a CPU list ("0-3,8,10-11", as /proc/irq/N/effective_affinity_list has it; empty
 * = no CPU; a trailing newline is fine) into *set. Returns 0 or -EINVAL. */
int rxpath_parse_cpulist(const char *s, cpu_set_t *set);
/* Parses a hex CPU mask ("f", "00000000,0000000f": comma-separated 32-bit words, the last
 * holds CPUs 0-31, as rps_cpus has it) into *set. Returns 0, -EINVAL, or -ERANGE for a CPU
 * beyond CPU_SETSIZE. */
int rxpath_parse_mask(const char *s, cpu_set_t *set);
/* Writes set as a CPU list ("0-3,8"; "" when empty) into buf. Returns the length, or
 * -ENOSPC when it did not fit (buf holds a cut list then). */
int rxpath_format_cpus(const cpu_set_t *set, char *buf, size_t len);
/* Which RX queue an IRQ named action serves, for device dev with n_queues RX queues. own:
 * the IRQ is one of the device's (msi_irqs), so a name need not contain dev (virtio's
 * "virtio2-input.0"). Recognises "DEV-rx-N", "DEV-TxRx-N", "DEV-rxtx-N", "DEV-N",
 * "virtioK-input.N" and a vector named exactly DEV (RXPATH_IRQ_ALL). Returns the queue,
 * RXPATH_IRQ_ALL, or -1 (not an RX IRQ of dev: transmit, config, another device). */
int rxpath_irq_queue(const char *action, const char *dev, bool own, uint32_t n_queues);
/* "none", "generic", "native", "offload", "multi" or "unknown". */
const char *rxpath_xdp_name(enum rxpath_xdp x);

/* The start-up warnings for ifc with workers pinned to worker_cpu[0..n_workers): a worker's
 * CPU takes an RX queue's IRQ softirq while nothing protects it (threaded NAPI, busy poll,
 * shedding), a worker's CPU is in an RPS mask while nothing sheds (threaded NAPI and busy
 * polling do not move RPS's backlog work), and more RX queues than workers. Each warning is
 * one line naming the interface, the queue, IRQ and CPU, and what to do; at most max of them
 * go to msg. Pure. Returns the number of warnings (may exceed max). */
uint32_t rxpath_check(const struct rxpath_iface *ifc, const struct rxpath_protect *p,
		      const int *worker_cpu, uint32_t n_workers, char (*msg)[RXPATH_MSG_LEN],
		      uint32_t max);

#endif
