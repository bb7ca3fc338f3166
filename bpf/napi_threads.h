/* SPDX-License-Identifier: MIT */
/* The contract between bpf/napi_threads.bpf.c and src/napithreads.c: one record per NAPI
 * thread. Compiled by clang -target bpf and by the host compiler. */
#ifndef RINGRELAY_NAPI_THREADS_H
#define RINGRELAY_NAPI_THREADS_H

#include <linux/types.h>

/* What the task iterator writes for each NAPI thread: the thread, its instance and the
 * instance's device, named by ifindex and network namespace (the namespace's inode number,
 * which stat(2) of /proc/thread-self/ns/net gives user space). */
struct napi_thread_rec {
	__u32 pid; /* in the initial PID namespace */
	__u32 napi_id;
	__u32 ifindex;
	__u32 netns_ino;
};

#endif
