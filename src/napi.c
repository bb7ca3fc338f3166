// SPDX-License-Identifier: MIT
/* NAPI instances through the netdev generic netlink family, and the per-device sysfs files
 * that older kernels have instead. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "napi.h"
#include "netlink.h"

/* include/uapi/linux/netdev.h (6.13); Debian 12's headers have none of it. */
enum {
	NAPI_CMD_GET = 11,
	NAPI_CMD_SET = 14,
};
enum {
	NAPI_A_IFINDEX = 1,
	NAPI_A_ID = 2,
	NAPI_A_IRQ = 3,
	NAPI_A_PID = 4,
	NAPI_A_DEFER_HARD_IRQS = 5,
	NAPI_A_GRO_FLUSH_TIMEOUT = 6,
	NAPI_A_IRQ_SUSPEND_TIMEOUT = 7,
	NAPI_A_THREADED = 8,
	NAPI_A_MAX = 8,
};

/* A uint attribute: 4 bytes when the value fits, else 8 (NLA_UINT). */
static uint64_t napi_uint(const struct nlattr *a)
{
	return nla_len(a) >= 8 ? nla_get_u64(a) : nla_get_u32(a);
}

int napi_parse(const void *msg, size_t len, struct napi_instance *out)
{
	static struct nla_policy policy[NAPI_A_MAX + 1] = {
	    [NAPI_A_IFINDEX] = {.type = NLA_U32},
	    [NAPI_A_ID] = {.type = NLA_U32},
	    [NAPI_A_IRQ] = {.type = NLA_U32},
	    [NAPI_A_PID] = {.type = NLA_U32},
	    [NAPI_A_DEFER_HARD_IRQS] = {.type = NLA_U32},
	    [NAPI_A_GRO_FLUSH_TIMEOUT] = {.minlen = 4},
	    [NAPI_A_IRQ_SUSPEND_TIMEOUT] = {.minlen = 4},
	    [NAPI_A_THREADED] = {.type = NLA_U32},
	};
	struct nlmsghdr *nlh = (struct nlmsghdr *)msg;
	struct nlattr *tb[NAPI_A_MAX + 1];

	if (len < NLMSG_HDRLEN + GENL_HDRLEN || nlh->nlmsg_len > len ||
	    nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -EINVAL;
	if (genlmsg_parse(nlh, 0, tb, NAPI_A_MAX, policy) || !tb[NAPI_A_ID])
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->id = nla_get_u32(tb[NAPI_A_ID]);
	if (tb[NAPI_A_IFINDEX])
		out->ifindex = nla_get_u32(tb[NAPI_A_IFINDEX]);
	if (tb[NAPI_A_IRQ])
		out->irq = nla_get_u32(tb[NAPI_A_IRQ]);
	if (tb[NAPI_A_PID])
		out->pid = (pid_t)nla_get_u32(tb[NAPI_A_PID]);
	out->threaded = out->pid > 0 || (tb[NAPI_A_THREADED] && nla_get_u32(tb[NAPI_A_THREADED]));
	if (tb[NAPI_A_DEFER_HARD_IRQS] && tb[NAPI_A_GRO_FLUSH_TIMEOUT]) {
		out->has_values = true;
		out->defer_hard_irqs = nla_get_u32(tb[NAPI_A_DEFER_HARD_IRQS]);
		out->gro_flush_timeout = napi_uint(tb[NAPI_A_GRO_FLUSH_TIMEOUT]);
		if (tb[NAPI_A_IRQ_SUSPEND_TIMEOUT])
			out->irq_suspend_timeout = napi_uint(tb[NAPI_A_IRQ_SUSPEND_TIMEOUT]);
	}
	return 0;
}

struct napi_dump {
	struct napi_instance *out;
	uint32_t max, n;
	int err;
};

static int napi_dump_one(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct napi_dump *d = arg;
	struct napi_instance ni;
	uint32_t i;

	if (napi_parse(nlh, nlh->nlmsg_len, &ni)) {
		d->err = -EINVAL;
		return NL_SKIP;
	}
	/* Sorted on the way in: the kernel lists the newest instance first. */
	if (d->n < d->max) {
		for (i = d->n; i > 0 && d->out[i - 1].id > ni.id; i--)
			d->out[i] = d->out[i - 1];
		d->out[i] = ni;
	}
	d->n++;
	return NL_OK;
}

static int napi_put_ifindex(struct nl_msg *msg, const void *arg)
{
	return nla_put_u32(msg, NAPI_A_IFINDEX, *(const uint32_t *)arg);
}

int napi_list(int ifindex, struct napi_instance *out, uint32_t max)
{
	struct napi_dump d = {.out = out, .max = max};
	uint32_t idx = (uint32_t)ifindex;
	int ret;

	/* Filtered by the kernel (6.9: the dump's ifindex attribute). */
	ret = netlink_netdev_call(NAPI_CMD_GET, NLM_F_DUMP, napi_put_ifindex, &idx, napi_dump_one,
				  &d);
	ret = ret ? ret : d.err;
	return ret ? ret : (int)d.n;
}

struct napi_set_req {
	uint32_t id;
	const struct napi_values *v;
};

static int napi_put_values(struct nl_msg *msg, const void *arg)
{
	const struct napi_set_req *r = arg;

	if (nla_put_u32(msg, NAPI_A_ID, r->id) ||
	    nla_put_u32(msg, NAPI_A_DEFER_HARD_IRQS, r->v->defer_hard_irqs) ||
	    nla_put_u64(msg, NAPI_A_GRO_FLUSH_TIMEOUT, r->v->gro_flush_timeout) ||
	    nla_put_u64(msg, NAPI_A_IRQ_SUSPEND_TIMEOUT, r->v->irq_suspend_timeout))
		return -ENOMEM;
	return 0;
}

int napi_set(uint32_t id, const struct napi_values *v)
{
	struct napi_set_req r = {.id = id, .v = v};

	/* A kernel before 6.13 answers -EOPNOTSUPP (unknown command). */
	return netlink_netdev_call(NAPI_CMD_SET, 0, napi_put_values, &r, NULL, NULL);
}

int napi_sysfs_open(const char *ifname, const char *file)
{
	char path[128];
	int fd;

	if (snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, file) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int napi_sysfs_put(int fd, uint64_t value)
{
	char text[24];
	ssize_t n;

	snprintf(text, sizeof(text), "%" PRIu64 "\n", value);
	/* A sysfs attribute takes each write whole, wherever the offset is. */
	n = pwrite(fd, text, strlen(text), 0);
	if (n < 0)
		return -errno;
	return (size_t)n == strlen(text) ? 0 : -EIO;
}

/* The first line of path (newline kept) into buf. Returns 0 or -errno. */
static int napi_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int ret;

	if (!f)
		return -errno;
	ret = fgets(buf, (int)len, f) ? 0 : -EIO;
	fclose(f);
	return ret;
}

/* /sys/class/net/IFNAME/FILE as a number into *value. Returns 0 or -errno. */
static int napi_sysfs_get(const char *ifname, const char *file, uint64_t *value)
{
	char path[128], text[24];
	int ret;

	if (snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, file) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = napi_read_line(path, text, sizeof(text));
	if (!ret)
		*value = strtoull(text, NULL, 10);
	return ret;
}

int napi_get_device(const char *ifname, struct napi_values *v)
{
	uint64_t defer;
	int ret;

	ret = napi_sysfs_get(ifname, "napi_defer_hard_irqs", &defer);
	if (ret)
		return ret;
	v->defer_hard_irqs = (uint32_t)defer;
	v->irq_suspend_timeout = 0;
	return napi_sysfs_get(ifname, "gro_flush_timeout", &v->gro_flush_timeout);
}

int napi_get_threaded(const char *ifname)
{
	uint64_t on;
	int ret = napi_sysfs_get(ifname, "threaded", &on);

	return ret ? ret : on != 0;
}

bool napi_thread_name_is(const char *comm, const char *ifname, uint32_t id)
{
	/* The kernel names it "napi/%s-%d" in a 16-byte comm (TASK_COMM_LEN). */
	char want[16];
	size_t len;

	snprintf(want, sizeof(want), "napi/%s-%" PRIu32, ifname, id);
	len = strcspn(comm, "\n");
	return len == strlen(want) && !strncmp(comm, want, len);
}

/* Thread pid's name (/proc/PID/comm, newline kept) into comm. Returns false when it is gone. */
static bool napi_comm(long pid, char *comm, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	return napi_read_line(path, comm, len) == 0;
}

pid_t napi_thread_pid(const char *ifname, uint32_t id)
{
	struct dirent *de;
	pid_t found = -ENOENT;
	char comm[32];
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while (found < 0 && (de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (napi_comm(pid, comm, sizeof(comm)) && napi_thread_name_is(comm, ifname, id))
			found = (pid_t)pid;
	}
	closedir(dir);
	return found;
}

pid_t napi_instance_pid(const char *ifname, const struct napi_instance *ni)
{
	if (!ni->threaded)
		return -ENOENT;
	return ni->pid > 0 ? ni->pid : napi_thread_pid(ifname, ni->id);
}

int napi_pin(pid_t pid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return napi_affinity_set(pid, &set);
}

int napi_affinity_get(pid_t pid, cpu_set_t *set)
{
	return sched_getaffinity(pid, sizeof(*set), set) ? -errno : 0;
}

int napi_affinity_set(pid_t pid, const cpu_set_t *set)
{
	return sched_setaffinity(pid, sizeof(*set), set) ? -errno : 0;
}

bool napi_thread_on_cpus(pid_t pid, const int *cpus, uint32_t n)
{
	cpu_set_t set;
	uint32_t i;

	if (napi_affinity_get(pid, &set))
		return false;
	for (i = 0; i < n; i++)
		if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE && CPU_ISSET(cpus[i], &set))
			return true;
	return false;
}

int napi_thread_nice_get(pid_t pid, int *nice)
{
	int v;

	/* -1 is a nice value too: errno tells. */
	errno = 0;
	v = getpriority(PRIO_PROCESS, (id_t)pid);
	if (v == -1 && errno)
		return -errno;
	*nice = v;
	return 0;
}

int napi_thread_nice_set(pid_t pid, int nice)
{
	return setpriority(PRIO_PROCESS, (id_t)pid, nice) ? -errno : 0;
}

bool napi_thread_is_napi(pid_t pid)
{
	char comm[32];

	if (pid <= 0) /* kill() would take it for a process group */
		return false;
	if (napi_comm(pid, comm, sizeof(comm)))
		return !strncmp(comm, "napi/", 5);
	/* /proc may hide other users' processes (systemd's ProtectProc=invisible, hidepid):
	 * then all that can be told is that the thread is there, which signal 0 says without
	 * sending anything (EPERM: there, but not ours). */
	return kill(pid, 0) == 0 || errno == EPERM;
}
