/* SPDX-License-Identifier: MIT */
/* The threads of an interface's threaded NAPI instances on kernels without netdev NAPI_GET
 * (before 6.9): a BPF task iterator (bpf/napi_threads.bpf.c) reports each NAPI thread with its
 * instance id, device and network namespace, so a device of the same name in another
 * namespace, whose threads have the same name, is told apart. Lower module: it never logs
 * (libbpf may, through the callback the filter set). */
#ifndef RINGRELAY_NAPITHREADS_H
#define RINGRELAY_NAPITHREADS_H

#include <stdint.h>

#include "napi.h"

/* The threaded NAPI instances of ifindex in the caller's network namespace, in ascending id
 * order, at most max into out (id, ifindex, pid, threaded; no IRQ, no values). An instance
 * that is not threaded has no thread and is not listed. Loads and runs the iterator each
 * call: needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) and kernel BTF. Returns how many
 * there are (may exceed max), or -errno (the load's: -EPERM without the capabilities,
 * -EINVAL or -ENOENT on a kernel without BTF or the iterator). */
int napithreads_list(int ifindex, struct napi_instance *out, uint32_t max);

/* For the instances ni[0..n) of ifindex that NAPI_GET listed without a thread (the kernel
 * reports the pid from 6.10): the pid of each one's thread, and threaded, from the iterator.
 * Name matching could not tell instances apart once "napi/IFNAME-ID" is cut to 15
 * characters. Call it for a threaded device only: each call that has a pid to find runs the
 * iterator. Leaves them as they are when it cannot run. */
void napithreads_fill_pids(int ifindex, struct napi_instance *ni, int n);

#endif
