// SPDX-License-Identifier: MIT
/* A task iterator that names the device of every NAPI thread: for kernels without netdev
 * NAPI_GET (before 6.9), where the thread's name ("napi/IFNAME-ID", cut to 15 characters)
 * is all user space sees, and a device of the same name in another network namespace would
 * be mistaken for ours. The thread's kthread data is its napi_struct, which knows its device
 * and, through the device, its namespace. Read-only; CO-RE, so one object serves 5.17 and
 * later (task_struct.worker_private). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "napi_threads.h"

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h, unchanged since 2.6 */

/* Only the fields read here; CO-RE finds them in the running kernel. */
struct seq_file;
struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));
struct task_struct {
	unsigned int flags;
	int pid;
	char comm[16];
	void *worker_private; /* a kernel thread's struct kthread */
} __attribute__((preserve_access_index));
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));
struct kthread {
	void *data; /* kthread_run's argument: the napi_struct */
} __attribute__((preserve_access_index));
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));
struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));
typedef struct {
	struct net *net;
} possible_net_t;
struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));
struct napi_struct {
	struct net_device *dev;
	unsigned int napi_id;
} __attribute__((preserve_access_index));

SEC("iter/task")
int napi_threads(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct napi_thread_rec rec = {};
	struct napi_struct *napi;
	struct net_device *dev;
	struct kthread *kt;

	if (!task || !(task->flags & PF_KTHREAD))
		return 0;
	/* The kernel names only NAPI threads so (napi_kthread_create). */
	if (task->comm[0] != 'n' || task->comm[1] != 'a' || task->comm[2] != 'p' ||
	    task->comm[3] != 'i' || task->comm[4] != '/')
		return 0;
	kt = (struct kthread *)task->worker_private;
	napi = BPF_CORE_READ(kt, data);
	if (!napi)
		return 0;
	dev = BPF_CORE_READ(napi, dev);
	if (!dev)
		return 0;
	rec.pid = (__u32)task->pid;
	rec.napi_id = BPF_CORE_READ(napi, napi_id);
	rec.ifindex = (__u32)BPF_CORE_READ(dev, ifindex);
	rec.netns_ino = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
