/* SPDX-License-Identifier: MIT */
/* Who else holds a UDP port. SO_REUSEPORT lets a second process of the same user join a
 * listener's group silently and take part of its clients; nginx refuses instead. Before a
 * relay's listener joins a group, this module asks the kernel (NETLINK_SOCK_DIAG, inet_diag
 * for UDP, both families) for the sockets bound to its port, keeps those whose address the
 * listener would share (equal, or either a wildcard; an IPv6 dual-stack wildcard for an IPv4
 * listener), leaves out our own (their inodes are among our fds), and names the process of
 * the first other one through /proc/PID/fd, which is read only when such a socket exists. */
#ifndef RINGRELAY_PORTOWN_H
#define RINGRELAY_PORTOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

struct portown_holder {
	uint64_t inode;
	uint32_t uid;
	pid_t pid;     /* 0: no process of ours to see has it (another user, hidepid) */
	char comm[16]; /* the process's name, when pid is known */
	bool own;      /* a socket of this process (portown_blocker only) */
};

/* A socket that a listener on a would share: 1 and *h filled when another process holds
 * one, 0 when none does, -errno when the kernel cannot be asked. */
int portown_find(const struct addr *a, struct portown_holder *h);

/* A socket that fails a SO_REUSEPORT bind of this process to a (the kernel lets one share a
 * port only with SO_REUSEPORT sockets of its user): 1 and *h filled when one holds an
 * overlapping address, 0 when none does, -errno when the kernel cannot be asked. Unlike
 * portown_find our own sockets count (h->own), unless they set SO_REUSEPORT (our listeners
 * do). Another process's of our user counts unless shared (reuseport_shared: whether it set
 * SO_REUSEPORT only a bind in its group could tell). */
int portown_blocker(const struct addr *a, bool shared, struct portown_holder *h);

/* "address in use by pid 123 (socat)" or, when the pid is hidden from us, "address in use by
 * a process of user NAME (uid N; its pid is not visible to us)". Returns buf. */
const char *portown_describe(const struct portown_holder *h, char *buf, size_t len);

/* For tests and portown_find: a UDP socket of family (AF_INET or AF_INET6) bound to
 * bytes (4 or 16 bytes, network order), v6only as the kernel reports it, conflicts with a
 * listener on a (ports already equal). */
int portown_overlaps(const struct addr *a, int family, const void *bytes, int v6only);

#endif
