/* SPDX-License-Identifier: MIT */
/* NAPI instances of an interface: list them with their per-NAPI settings and thread (netdev
 * generic netlink, NAPI_GET), set those settings (NAPI_SET, Linux 6.13, or the device's sysfs
 * files on older kernels), switch the device to threaded NAPI and place a NAPI thread on a
 * CPU. With netlink.c the only user of libnl (its netdev generic netlink socket is opened in
 * one function, napi_genl_open, to be shared with netlink.c's); nothing of libnl appears
 * here, errors are -errno. Lower module: it never logs. */
#ifndef RINGRELAY_NAPI_H
#define RINGRELAY_NAPI_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* More than any NIC has queues; a list stops there. */
#define NAPI_MAX_INSTANCES 256

/* One NAPI instance as NAPI_GET reports it. */
struct napi_instance {
	uint32_t id;
	uint32_t ifindex;
	uint32_t irq;	 /* 0: none reported (veth) */
	pid_t pid;	 /* its thread (threaded NAPI, Linux 6.10); 0: none */
	bool threaded;	 /* pid != 0, or the kernel said so */
	bool has_values; /* the kernel reported the three values below (6.13) */
	uint32_t defer_hard_irqs;
	uint64_t gro_flush_timeout;   /* ns */
	uint64_t irq_suspend_timeout; /* ns */
};

/* What napi_set and napi_set_device write. */
struct napi_values {
	uint32_t defer_hard_irqs;
	uint64_t gro_flush_timeout;   /* ns */
	uint64_t irq_suspend_timeout; /* ns; napi_set_device cannot set it */
};

/* The NAPI instances of ifindex, in ascending id order, at most max into out. Needs no
 * capability. Returns how many there are (may exceed max), or -EOPNOTSUPP when the kernel
 * has no netdev family or NAPI_GET (before 6.9), or another -errno. */
int napi_list(int ifindex, struct napi_instance *out, uint32_t max);

/* Sets the three values of NAPI instance id (NAPI_SET). Needs CAP_NET_ADMIN (-EPERM). Returns
 * 0, -EOPNOTSUPP when the kernel has no NAPI_SET (before 6.13), or another -errno. */
int napi_set(uint32_t id, const struct napi_values *v);

/* The device's NAPI files in /sys/class/net/IFNAME/: napi_defer_hard_irqs and
 * gro_flush_timeout, which the kernel copies to every NAPI instance of the device (the
 * fallback for kernels without NAPI_SET), and threaded (1 or 0; the kernel answers -EIO, or
 * -EOPNOTSUPP on older ones, when the device has no NAPI instance).
 * napi_sysfs_open opens FILE for writing: it needs write access to it (root's) then, and
 * returns the descriptor or -errno. napi_sysfs_put writes value to it: it needs CAP_NET_ADMIN
 * then (the kernel checks it at each write), so a descriptor opened as root still serves a
 * thread that may no longer open the file. Returns 0 or -errno (-ENODEV: the device is
 * gone). */
int napi_sysfs_open(const char *ifname, const char *file);
int napi_sysfs_put(int fd, uint64_t value);

/* The device's napi_defer_hard_irqs and gro_flush_timeout into *v (irq_suspend_timeout 0).
 * Returns 0 or -errno. */
int napi_get_device(const char *ifname, struct napi_values *v);

/* /sys/class/net/IFNAME/threaded: 1 or 0, or -errno. */
int napi_get_threaded(const char *ifname);

/* The pid of the thread of NAPI instance id of ifname, found by its name ("napi/IFNAME-ID",
 * cut to 15 characters) in /proc: for kernels whose NAPI_GET reports no pid. Returns the pid
 * or -ENOENT. */
pid_t napi_thread_pid(const char *ifname, uint32_t id);
/* The pid of instance ni's thread: the kernel's (NAPI_GET, Linux 6.10), else napi_thread_pid;
 * -ENOENT when ni is not threaded. */
pid_t napi_instance_pid(const char *ifname, const struct napi_instance *ni);

/* Allows thread pid (a NAPI thread) on cpu only. Needs CAP_SYS_NICE unless we are root.
 * Returns 0 or -errno. */
int napi_pin(pid_t pid, int cpu);

/* Thread pid's CPU affinity into *set, and to *set. Setting it on a kernel thread needs
 * CAP_SYS_NICE unless we are root. Each returns 0 or -errno. */
int napi_affinity_get(pid_t pid, cpu_set_t *set);
int napi_affinity_set(pid_t pid, const cpu_set_t *set);

/* Whether thread pid may run on one of cpus[0..n) (its affinity); false when unreadable. */
bool napi_thread_on_cpus(pid_t pid, const int *cpus, uint32_t n);

/* The nice value of thread pid into *nice, and to nice. Setting it on a kernel thread needs
 * CAP_SYS_NICE. Each returns 0 or -errno. */
int napi_thread_nice_get(pid_t pid, int *nice);
int napi_thread_nice_set(pid_t pid, int nice);

/* Whether thread pid is a NAPI thread ("napi/..."): a remembered pid may have been reused.
 * Where /proc hides it (ProtectProc=invisible), whether the thread is there at all. */
bool napi_thread_is_napi(pid_t pid);

/* Pure, for the tests. */
/* Fills *out from one NAPI_GET answer: len bytes at msg, a netlink message with its generic
 * netlink header. Returns 0, or -EINVAL when it is malformed or carries no id. */
int napi_parse(const void *msg, size_t len, struct napi_instance *out);
/* Whether comm (a /proc/PID/comm line, newline or not) names the thread of NAPI instance id
 * of ifname, as the kernel names it and cuts it. */
bool napi_thread_name_is(const char *comm, const char *ifname, uint32_t id);

#endif
