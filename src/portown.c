// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portown.h"

/* TCP_CLOSE is how an unconnected (bound) UDP socket shows; connected ones are ESTABLISHED.
 * Both can hold the port, so every state is asked for. */
#define PORTOWN_ALL_STATES 0xffffffffu

static bool bytes_zero(const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int portown_overlaps(const struct addr *a, int family, const void *bytes, int v6only)
{
	static const uint8_t v4mapped[12] = {[10] = 0xff, [11] = 0xff};
	uint8_t mine[16], theirs[16];
	bool mine_any = addr_is_any(a), theirs_any;

	addr_to_mapped(a, mine);
	if (family == AF_INET) {
		/* our IPv6 listeners are IPV6_V6ONLY: IPv4 sockets never share with them */
		if (addr_family(a) != AF_INET)
			return 0;
		memcpy(theirs, v4mapped, sizeof(v4mapped));
		memcpy(theirs + 12, bytes, 4);
		theirs_any = bytes_zero(theirs + 12, 4);
	} else {
		memcpy(theirs, bytes, 16);
		theirs_any = bytes_zero(theirs, 16);
		if (addr_family(a) == AF_INET) {
			/* a dual-stack socket receives IPv4 on [::] and on ::ffff:a.b.c.d */
			if (v6only)
				return 0;
			if (theirs_any)
				return 1;
			if (memcmp(theirs, v4mapped, sizeof(v4mapped)) != 0)
				return 0;
			theirs_any = bytes_zero(theirs + 12, 4);
		}
	}
	return mine_any || theirs_any || memcmp(mine, theirs, 16) == 0;
}

/* Whether /proc/PID/fd (PID "self" for us) holds the socket with this inode. */
static bool proc_has_socket(const char *pid, uint64_t inode)
{
	char dir[300], path[600], link[64], want[40];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)inode);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		found = strcmp(link, want) == 0;
	}
	closedir(d);
	return found;
}

/* The sockets among our own fds (inode, then fd), read once per portown_find and only when
 * a socket on the port turned up (a process with many sessions has many fds). */
struct own_sock {
	uint64_t inode;
	int fd;
};

struct own_inodes {
	bool read;
	struct own_sock *v;
	size_t n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void own_read(struct own_inodes *o)
{
	char path[512], link[64];
	size_t cap = 0;
	struct dirent *e;
	DIR *d;

	o->read = true;
	d = opendir("/proc/self/fd");
	if (!d)
		return;
	while ((e = readdir(d))) {
		unsigned long long ino;
		struct own_sock *grown;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%llu]", &ino) != 1)
			continue;
		if (o->n == cap) {
			cap = cap ? cap * 2 : 256;
			grown = realloc(o->v, cap * sizeof(*o->v));
			if (!grown)
				break;
			o->v = grown;
		}
		o->v[o->n++] = (struct own_sock){ .inode = ino, .fd = atoi(e->d_name) };
	}
	closedir(d);
	qsort(o->v, o->n, sizeof(*o->v), cmp_u64);
}

/* Our socket with this inode, or NULL. (The inode is the first member: cmp_u64 fits.) */
static const struct own_sock *own_find(struct own_inodes *o, uint64_t inode)
{
	if (!o->read)
		own_read(o);
	return o->n ? bsearch(&inode, o->v, o->n, sizeof(*o->v), cmp_u64) : NULL;
}

/* Whether our socket s lets a SO_REUSEPORT bind of ours share its port: SO_REUSEPORT set,
 * asked through its fd, which is still that socket (an fd closed and taken again since
 * own_read is not: it counts as a socket that does not share). */
static bool own_reuseport(const struct own_sock *s)
{
	struct stat st;
	socklen_t len = sizeof(int);
	int v = 0;

	if (getsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &v, &len))
		return false;
	return !fstat(s->fd, &st) && (uint64_t)st.st_ino == s->inode && v;
}

/* Fills h->pid and h->comm with a process that holds h->inode, if one is visible. */
static void holder_process(struct portown_holder *h)
{
	char self[16], path[300];
	struct dirent *e;
	DIR *d;

	snprintf(self, sizeof(self), "%d", (int)getpid());
	d = opendir("/proc");
	if (!d)
		return;
	while ((e = readdir(d))) {
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]) || !strcmp(e->d_name, self))
			continue;
		if (!proc_has_socket(e->d_name, h->inode))
			continue;
		h->pid = (pid_t)atoi(e->d_name);
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (f) {
			if (fgets(h->comm, sizeof(h->comm), f))
				h->comm[strcspn(h->comm, "\n")] = '\0';
			fclose(f);
		}
		break;
	}
	closedir(d);
}

/* The v6only flag of a dumped socket (an IPv6 socket without the attribute counts as
 * dual-stack, which errs on the side of reporting it). */
static int msg_v6only(const struct nlmsghdr *nh, const struct inet_diag_msg *m)
{
	int len = (int)nh->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	const struct rtattr *rta = (const struct rtattr *)(m + 1);

	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(rta) >= 1)
			return *(const uint8_t *)RTA_DATA(rta);
	return 0;
}

/* Which sockets dump_family reports: another process's (portown_find), or those that fail a
 * SO_REUSEPORT bind of ours (portown_blocker). */
#define PORTOWN_FOREIGN 0u
#define PORTOWN_BLOCKERS 1u
#define PORTOWN_BLOCKERS_SHARED 2u

/* Dumps the UDP sockets of family on a's port; the first one that overlaps a and that mode
 * asks for goes to *h. Returns 1 (found), 0 or -errno. */
static int dump_family(int fd, const struct addr *a, int family, struct own_inodes *own,
		       unsigned int mode, struct portown_holder *h)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 req;
	} rq = {
	    .nh = {.nlmsg_len = sizeof(rq),
		   .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		   .nlmsg_seq = 1},
	    .req = {.sdiag_family = (uint8_t)family,
		    .sdiag_protocol = IPPROTO_UDP,
		    /* INET_DIAG_SKV6ONLY comes unasked for bound IPv6 sockets */
		    .idiag_states = PORTOWN_ALL_STATES},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	uint16_t port = addr_port(a);
	/* the kernel sizes dump messages to the reads it sees, up to 32 KiB */
	long buf[32768 / sizeof(long)];
	int found = 0;

	/* the kernel filters on the source port; we check it again below */
	rq.req.id.idiag_sport = htons(port);
	if (sendto(fd, &rq, sizeof(rq), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			const struct inet_diag_msg *m = NLMSG_DATA(nh);
			const struct own_sock *mine;

			if (nh->nlmsg_type == NLMSG_DONE)
				return found;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				return found ? found : e->error;
			}
			if (found || nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) ||
			    ntohs(m->id.idiag_sport) != port)
				continue;
			if (!portown_overlaps(a, m->idiag_family, m->id.idiag_src,
					      msg_v6only(nh, m)))
				continue;
			mine = own_find(own, m->idiag_inode);
			if (mine && (mode == PORTOWN_FOREIGN ||
				     (m->idiag_uid == geteuid() && own_reuseport(mine))))
				continue;
			/* (another process's of our user may be a group to share: its bind says) */
			if (!mine && mode == PORTOWN_BLOCKERS_SHARED && m->idiag_uid == geteuid())
				continue;
			memset(h, 0, sizeof(*h));
			h->inode = m->idiag_inode;
			h->uid = m->idiag_uid;
			h->own = mine != NULL;
			found = 1;
		}
	}
}

static int find_mode(const struct addr *a, unsigned int mode, struct portown_holder *h)
{
	struct own_inodes own = {0};
	int fd, ret;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	ret = dump_family(fd, a, addr_family(a), &own, mode, h);
	/* an IPv4 listener also shares with dual-stack IPv6 sockets; a kernel without IPv6
	 * (ENOENT, EAFNOSUPPORT) has none */
	if (ret == 0 && addr_family(a) == AF_INET) {
		ret = dump_family(fd, a, AF_INET6, &own, mode, h);
		if (ret == -ENOENT || ret == -EAFNOSUPPORT)
			ret = 0;
	}
	close(fd);
	free(own.v);
	if (ret == 1 && h->own) {
		h->pid = getpid();
		snprintf(h->comm, sizeof(h->comm), "ringrelay");
	} else if (ret == 1) {
		holder_process(h);
	}
	return ret;
}

int portown_find(const struct addr *a, struct portown_holder *h)
{
	return find_mode(a, PORTOWN_FOREIGN, h);
}

int portown_blocker(const struct addr *a, bool shared, struct portown_holder *h)
{
	return find_mode(a, shared ? PORTOWN_BLOCKERS_SHARED : PORTOWN_BLOCKERS, h);
}

const char *portown_describe(const struct portown_holder *h, char *buf, size_t len)
{
	struct passwd *pw;

	if (h->pid > 0) {
		snprintf(buf, len, "address in use by pid %d (%s)", (int)h->pid,
			 h->comm[0] ? h->comm : "?");
		return buf;
	}
	pw = getpwuid(h->uid);
	if (pw)
		snprintf(buf, len,
			 "address in use by a process of user %s (uid %u; its pid is not "
			 "visible to us)",
			 pw->pw_name, h->uid);
	else
		snprintf(buf, len,
			 "address in use by a process of uid %u (its pid is not visible "
			 "to us)",
			 h->uid);
	return buf;
}
