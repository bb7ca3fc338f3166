// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "portclaim.h"

/* Connections a claim queues (never accepted): each waiter makes one, and no start or reload
 * meets more than a few others. A queue found full (EAGAIN) is therefore no claim's: someone
 * filled it so that connecting never names them (SO_PEERCRED), and it is not waited for. */
#define CLAIM_BACKLOG SOMAXCONN
/* The nap between tries when the holder cannot be waited on by its socket: it is between its
 * bind and its listen, or the name just went. */
#define CLAIM_NAP_MS 20
/* A claim listens right after its bind: a name still bound and not listened on after this
 * long is not a claim (someone else's socket), and is not waited for. The time this takes is
 * not charged to the wait for real claims (the deadline moves with it), so squatted names
 * cannot together run a start out of its wait. */
#define CLAIM_FOREIGN_MS 200

/* The abstract address of port's claim into sa; returns its length. */
static socklen_t claim_name(uint16_t port, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] stays 0: the abstract namespace; the name is not NUL-terminated */
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "ringrelay/claim/udp/%u",
		     (unsigned int)port);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* Binds and listens on port's claim: 0 (*fd), -EADDRINUSE when it is held, or -errno. */
static int claim_bind(uint16_t port, int *fd)
{
	struct sockaddr_un sa;
	socklen_t len = claim_name(port, &sa);
	int s, ret;

	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	if (bind(s, (struct sockaddr *)&sa, len) || listen(s, CLAIM_BACKLOG)) {
		ret = -errno;
		goto err_close;
	}
	*fd = s;
	return 0;
err_close:
	close(s);
	return ret;
}

/* Connects to the holder of port's claim, noting who it is in *p: 0 (*fd: a socket that
 * hangs up when the claim goes), -ECONNREFUSED (bound and not listening, or gone), -EAGAIN
 * (its queue is full) or -errno. */
static int claim_watch(struct portclaim_port *p, int *fd)
{
	struct sockaddr_un sa;
	socklen_t len = claim_name(p->port, &sa);
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int s, ret;

	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	/* A unix stream connect completes once queued on the listener: it never blocks. */
	if (connect(s, (struct sockaddr *)&sa, len)) {
		ret = -errno;
		goto err_close;
	}
	/* The credentials the holder had at its listen(). */
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen)) {
		ret = -errno;
		goto err_close;
	}
	p->pid = cred.pid;
	p->uid = cred.uid;
	*fd = s;
	return 0;
err_close:
	close(s);
	return ret;
}

/* Whose claims are waited for: root's (a start's, taken before it drops privileges), ours
 * and the daemon user's (a reload's). */
static bool claim_trusted(const struct portclaim *c, uid_t uid)
{
	return uid == 0 || uid == c->uid || uid == geteuid();
}

/* Sleeps until the holder on fd (-1: none) lets go, or ms pass. 0, -ECANCELED when c's
 * cancel_fd is readable, or -errno. */
static int claim_wait(const struct portclaim *c, int fd, int ms)
{
	/* (POLLIN with POLLHUP and POLLERR when the listener closes: nothing is ever sent; a
	 * negative fd is left out by poll) */
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
				 { .fd = c->cancel_fd, .events = POLLIN } };

	if (poll(pfd, 2, ms) < 0 && errno != EINTR)
		return -errno;
	return pfd[1].revents & POLLIN ? -ECANCELED : 0;
}

/* Claims p, waiting until *deadline (CLOCK_MONOTONIC ms) for a trusted holder; the time
 * spent on a name found foreign moves *deadline on. 0 when held or foreign, -EADDRINUSE at
 * the deadline, or -errno. */
static int claim_port(struct portclaim *c, struct portclaim_port *p, int64_t *deadline)
{
	int64_t now, refused_since = -1;
	int ret, w = -1, left;

	for (;;) {
		ret = claim_bind(p->port, &p->fd);
		if (ret != -EADDRINUSE)
			return ret;
		now = clock_ms();
		ret = claim_watch(p, &w);
		if ((ret == 0 && !claim_trusted(c, p->uid)) || ret == -EAGAIN) {
			if (ret)
				p->pid = 0;
			p->foreign = true;
			ret = 0;
			goto out_close;
		}
		if (ret == -ECONNREFUSED) {
			p->pid = 0;
			if (refused_since < 0)
				refused_since = now;
			if (now - refused_since >= CLAIM_FOREIGN_MS) {
				*deadline += now - refused_since;
				p->foreign = true;
				return 0;
			}
		} else {
			refused_since = -1;
		}
		if (ret && ret != -ECONNREFUSED)
			return ret;
		left = (int)(*deadline - now);
		if (left <= 0) {
			ret = -EADDRINUSE;
			goto out_close;
		}
		ret = claim_wait(c, ret == 0 ? w : -1,
				 ret == 0 || left < CLAIM_NAP_MS ? left : CLAIM_NAP_MS);
		if (w >= 0)
			close(w);
		w = -1;
		if (ret && ret != -EINTR)
			return ret;
	}
out_close:
	if (w >= 0)
		close(w);
	return ret;
}

void portclaim_init(struct portclaim *c, uid_t uid)
{
	c->uid = uid;
	c->cancel_fd = -1;
	c->n = 0;
	c->next = 0;
}

int portclaim_add(struct portclaim *c, uint16_t port)
{
	uint32_t i;

	for (i = 0; i < c->n && c->p[i].port < port; i++)
		;
	if (i < c->n && c->p[i].port == port)
		return 0;
	if (c->n == PORTCLAIM_MAX)
		return -ENOSPC;
	memmove(&c->p[i + 1], &c->p[i], (c->n - i) * sizeof(c->p[0]));
	c->p[i] = (struct portclaim_port){ .port = port, .fd = -1 };
	c->n++;
	return 0;
}

int portclaim_take(struct portclaim *c, int wait_ms)
{
	int64_t deadline = clock_ms() + (wait_ms > 0 ? wait_ms : 0);
	int ret;

	for (; c->next < c->n; c->next++) {
		ret = claim_port(c, &c->p[c->next], &deadline);
		if (ret)
			return ret;
	}
	return 0;
}

void portclaim_release(struct portclaim *c)
{
	uint32_t i;

	for (i = 0; i < c->n; i++)
		if (c->p[i].fd >= 0)
			close(c->p[i].fd);
	c->n = 0;
	c->next = 0;
}
