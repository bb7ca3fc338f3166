/* SPDX-License-Identifier: MIT */
/* A listen port claimed from a start's (or a reload's) port check until its listeners are
 * bound. The check (portown.h) sees bound sockets only, and a start binds its listeners
 * seconds after it (once the BPF program is loaded and attached): two starts of different
 * configurations (each with its own pid file and control socket) that share a listen address
 * would both pass the check and then join one SO_REUSEPORT group, silently splitting its
 * clients. With the claim taken before the check, the second waits for the first to have
 * bound, and its check then refuses it.
 *
 * A claim is a listening unix stream socket bound to the abstract name
 * "ringrelay/claim/udp/PORT": abstract names live in the network namespace, as ports do, need
 * no file and no privilege, and go with the process that holds them, however it ends. A
 * waiter connects to it, which names the holder (SO_PEERCRED), and sleeps until the holder
 * closes it: the kernel then resets the connections it never accepted. Ports are claimed in
 * ascending order, so two processes that want several never wait for each other.
 *
 * Any local user may bind an abstract name: a claim is honoured only when its holder runs as
 * root, as this process or as the daemon's user (a reload's claim); another's, a name
 * bound and not listened on (a claim listens at once) or one whose queue is full (which
 * hides its holder), is "foreign" and not waited for, so
 * that nobody can hold a start up by squatting the name: the port is then only checked, as
 * before claims. */
#ifndef RINGRELAY_PORTCLAIM_H
#define RINGRELAY_PORTCLAIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Distinct ports in one configuration at most (runtime.c asserts it covers the config's). */
#define PORTCLAIM_MAX 1024

struct portclaim_port {
	uint16_t port;
	bool foreign; /* its name is held, but not by a ringrelay: not claimed, not waited for */
	int fd;	      /* our claim; -1 while not held */
	pid_t pid;    /* the holder last seen: 0 when not known */
	uid_t uid;
};

struct portclaim {
	uid_t uid;     /* the daemon's user: its claims are honoured, as root's and our own */
	int cancel_fd; /* readable: stop waiting (-ECANCELED); -1 (portclaim_init): none */
	uint32_t n;    /* ports in p, ascending */
	uint32_t next; /* the ports before it are held (or foreign) */
	struct portclaim_port p[PORTCLAIM_MAX];
};

/* Empty, honouring claims of root, of this process's user and of uid; no cancel_fd. */
void portclaim_init(struct portclaim *c, uid_t uid);
/* Adds port to those to claim (once). Returns 0 or -ENOSPC. Before portclaim_take. */
int portclaim_add(struct portclaim *c, uint16_t port);
/* Claims the ports added, in ascending order from c->next, waiting up to wait_ms in all (0:
 * not at all) for a port another ringrelay claims until it lets go. Returns 0 once each port
 * is held or foreign; -EADDRINUSE when c->p[c->next] is still claimed by another (its pid and
 * uid say whose: pid 0 when not known), the earlier ports staying held (call again to go on);
 * -ECANCELED when c->cancel_fd became readable while waiting; or -errno (a socket error;
 * -EMFILE). */
int portclaim_take(struct portclaim *c, int wait_ms);
/* Lets every claim go and empties c (as portclaim_init left it, but cancel_fd kept).
 * Idempotent. */
void portclaim_release(struct portclaim *c);

#endif
