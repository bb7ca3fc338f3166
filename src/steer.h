/* SPDX-License-Identifier: MIT */
/* Steering: which worker's socket in a listen address's SO_REUSEPORT group takes a datagram.
 * By default the kernel picks by flow hash, so a datagram received on one CPU is often
 * relayed by a worker on another (a cross-CPU wake-up and cache misses on every datagram).
 * With each worker's listeners marked with its CPU (SO_INCOMING_CPU), the kernel picks the
 * socket of the worker on the CPU that received the datagram, and falls back to the hash on a
 * CPU without a worker: with RX queues' IRQs (or threaded NAPI, or RPS) spread over the
 * workers' CPUs, each worker relays what its own CPU received, as a DPDK lcore serves its own
 * queue. The kernel honours the mark in reuseport groups since Linux 6.2 (commit b261eda84ec1,
 * backported by some distributions): steer_probe tries it. steer_decide is pure. */
#ifndef RINGRELAY_STEER_H
#define RINGRELAY_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct rxreport;

#define STEER_WHY_LEN 256

struct steer {
	bool cpu;		  /* listeners get SO_INCOMING_CPU = their worker's CPU */
	char why[STEER_WHY_LEN]; /* why, for the start-up log line and -V */
};

/* Sends datagrams over loopback from this thread, pinned for the while to the CPU it runs on,
 * to a reuseport group of two sockets, one marked with that CPU and one with another. Returns
 * 0 when all of them reached the marked socket, -ENOTSUP when the kernel chose by hash (why
 * says so), or -errno when the probe could not run (why says what failed). */
int steer_probe(char *why, size_t len);

/* What the relays' listeners get: cfg's steering, whether the kernel honours the mark (probe:
 * steer_probe's result, probe_why its text), the listen interfaces as described in r (NULL:
 * not described) and the workers' CPUs. "auto" steers by CPU only where each listen
 * interface's receive work is known to run on every worker's CPU (threaded NAPI threads,
 * RPS masks, or the IRQs of its RX queues): a worker whose CPU receives nothing would relay
 * only what CPUs without a worker hash to it. Pure. */
void steer_decide(const struct config *cfg, int probe, const char *probe_why,
		  const struct rxreport *r, const int *worker_cpu, uint32_t n_workers,
		  struct steer *out);

#endif
