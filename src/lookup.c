// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lookup.h"
#include "privs.h"

struct lookup_entry {
	struct upstream_conf u;
	int n; /* addresses, or -errno */
	struct addr got[CONFIG_MAX_UPSTREAMS];
	char why[128];
};

struct lookup_batch {
	int refs;  /* the caller's and the thread's (__atomic) */
	bool done; /* set by the thread, release; read with acquire */
	int fd;	   /* eventfd: written once done */
	int family;
	uint32_t n;
	struct lookup_entry e[];
};

void lookup_put(struct lookup_batch *b)
{
	if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL))
		return;
	close(b->fd);
	free(b);
}

static void *lookup_thread(void *arg)
{
	struct lookup_batch *b = arg;
	uint64_t one = 1;
	uint32_t i;
	ssize_t w;
	int ret;

	pthread_setname_np(pthread_self(), "ringrelay-dns");
	/* It parses the resolver's answers: none of the admin thread's capabilities. */
	ret = privs_drop_thread();
	for (i = 0; i < b->n; i++) {
		struct lookup_entry *e = &b->e[i];

		if (ret) {
			e->n = ret;
			snprintf(e->why, sizeof(e->why),
				 "lookup thread: cannot drop capabilities: %s", strerror(-ret));
			continue;
		}
		e->n = config_entry_addrs(&e->u, b->family, e->got, e->why, sizeof(e->why));
	}
	__atomic_store_n(&b->done, true, __ATOMIC_RELEASE);
	/* One write to an eventfd read at most once: it cannot fail (overflow). */
	w = write(b->fd, &one, sizeof(one));
	(void)w;
	lookup_put(b);
	return NULL;
}

int lookup_start(const struct upstream_conf *ents, uint32_t n, int family,
		 struct lookup_batch **out)
{
	struct lookup_batch *b;
	pthread_attr_t attr;
	pthread_t t;
	uint32_t i;
	int ret;

	*out = NULL;
	b = calloc(1, sizeof(*b) + n * sizeof(b->e[0]));
	if (!b)
		return -ENOMEM;
	b->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	b->refs = 2;
	b->family = family;
	b->n = n;
	for (i = 0; i < n; i++)
		b->e[i].u = ents[i];
	ret = -pthread_attr_init(&attr);
	if (ret)
		goto err_close;
	ret = -pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!ret)
		ret = -pthread_create(&t, &attr, lookup_thread, b);
	pthread_attr_destroy(&attr);
	if (ret)
		goto err_close;
	*out = b;
	return 0;

err_close:
	close(b->fd);
err_free:
	free(b);
	return ret;
}

int lookup_fd(const struct lookup_batch *b)
{
	return b->fd;
}

bool lookup_done(const struct lookup_batch *b)
{
	return __atomic_load_n(&b->done, __ATOMIC_ACQUIRE);
}

int lookup_result(const struct lookup_batch *b, uint32_t i, const struct addr **addrs,
		  const char **why)
{
	*addrs = b->e[i].got;
	*why = b->e[i].why;
	return b->e[i].n;
}

int lookup_host(const char *host, uint16_t port, int family, struct addr *out, uint32_t max,
		bool (*cancelled)(void *arg), void *arg, char *why, size_t whylen)
{
	struct upstream_conf u = { .is_name = true, .port = port };
	struct lookup_batch *b;
	const struct addr *got;
	const char *w;
	struct pollfd p;
	int n;

	snprintf(u.host, sizeof(u.host), "%s", host);
	if (cancelled(arg)) {
		snprintf(why, whylen, "the process is stopping: lookup given up");
		return -ECANCELED;
	}
	n = lookup_start(&u, 1, family, &b);
	if (n) {
		snprintf(why, whylen, "cannot start a lookup: %s", strerror(-n));
		return n;
	}
	p = (struct pollfd){ .fd = lookup_fd(b), .events = POLLIN };
	while (!lookup_done(b)) {
		if (cancelled(arg)) {
			snprintf(why, whylen, "the process is stopping: lookup given up");
			lookup_put(b);
			return -ECANCELED;
		}
		poll(&p, 1, 50);
	}
	n = lookup_result(b, 0, &got, &w);
	if (n < 0)
		snprintf(why, whylen, "%s", w);
	else if ((uint32_t)n > max)
		n = (int)max; /* sorted: the first max, as config_resolve_host cuts */
	if (n > 0)
		memcpy(out, got, (size_t)n * sizeof(*out));
	lookup_put(b);
	return n;
}
