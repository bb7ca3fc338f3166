// SPDX-License-Identifier: MIT
/* NAPI threads by BPF task iterator (napithreads.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "../bpf/napi_threads.h"
#include "napi_threads.skel.h"
#include "napithreads.h"
#include "privs.h"

/* Adds r to out (sorted by id, as napi_list), counting past max. */
static void napithreads_add(const struct napi_thread_rec *r, struct napi_instance *out,
			    uint32_t max, uint32_t *n)
{
	uint32_t i;

	if (*n < max) {
		for (i = *n; i > 0 && out[i - 1].id > r->napi_id; i--)
			out[i] = out[i - 1];
		out[i] = (struct napi_instance){.id = r->napi_id,
						.ifindex = r->ifindex,
						.pid = (pid_t)r->pid,
						.threaded = true};
	}
	(*n)++;
}

/* Reads the iterator's records; a read may end inside one, so the rest is kept. */
static int napithreads_read(int fd, ino_t netns, int ifindex, struct napi_instance *out,
			    uint32_t max, uint32_t *n)
{
	char buf[64 * sizeof(struct napi_thread_rec)];
	size_t have = 0, off;
	ssize_t got;

	for (;;) {
		got = read(fd, buf + have, sizeof(buf) - have);
		/* EAGAIN: the kernel stopped after many tasks without a record; go on */
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return have ? -EIO : 0;
		have += (size_t)got;
		for (off = 0; have - off >= sizeof(struct napi_thread_rec);
		     off += sizeof(struct napi_thread_rec)) {
			struct napi_thread_rec r;

			memcpy(&r, buf + off, sizeof(r));
			if (r.netns_ino == netns && r.ifindex == (uint32_t)ifindex)
				napithreads_add(&r, out, max, n);
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
}

int napithreads_list(int ifindex, struct napi_instance *out, uint32_t max)
{
	struct napi_threads_bpf *skel;
	struct bpf_link *link = NULL;
	struct stat st;
	uint32_t n = 0;
	int fd = -1, ret;

	/* Without them the load fails, and libbpf would log that at every call (a status
	 * request on the control thread). */
	if (!privs_thread_effective(PRIVS_NAPI_ITER_CAPS) &&
	    !privs_thread_effective(UINT64_C(1) << 21 /* CAP_SYS_ADMIN */))
		return -EPERM;
	/* This thread's namespace: the one its sockets and if_nametoindex see. */
	if (stat("/proc/thread-self/ns/net", &st))
		return -errno;
	skel = napi_threads_bpf__open_and_load();
	if (!skel)
		return errno ? -errno : -EINVAL;
	link = bpf_program__attach_iter(skel->progs.napi_threads, NULL);
	if (!link) {
		ret = errno ? -errno : -EINVAL;
		goto out;
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = napithreads_read(fd, st.st_ino, ifindex, out, max, &n);
out:
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	napi_threads_bpf__destroy(skel);
	return ret ? ret : (int)n;
}

void napithreads_fill_pids(int ifindex, struct napi_instance *ni, int n)
{
	struct napi_instance *t;
	int i, j, m;

	for (i = 0; i < n && ni[i].pid > 0; i++)
		;
	if (i == n)
		return;
	t = calloc(NAPI_MAX_INSTANCES, sizeof(*t));
	if (!t)
		return;
	m = napithreads_list(ifindex, t, NAPI_MAX_INSTANCES);
	for (i = 0; i < n; i++)
		for (j = 0; j < m && j < NAPI_MAX_INSTANCES; j++)
			if (ni[i].pid <= 0 && t[j].id == ni[i].id) {
				ni[i].pid = t[j].pid;
				ni[i].threaded = true;
			}
	free(t);
}
