// SPDX-License-Identifier: MIT
/* The control thread: one poll loop over a stop eventfd, the unix control socket, the
 * optional metrics listener and at most CONTROL_MAX_CONNS clients. Every socket is
 * non-blocking and every client has a deadline, so a client that sends half a line or never
 * reads its answer costs one slot for a few seconds, never the loop. This file is the
 * transport: what a control line means is control_cmd.c's, what /metrics says metrics.c's.
 *
 * Answers are built whole in memory (open_memstream) while holding a->lock, then written out
 * without it: the lock is held for a copy of counters, never for socket I/O. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "control.h"
#include "control_cmd.h"
#include "log.h"
#include "metrics.h"
#include "snapshot.h"

#define CONTROL_MAX_CONNS 16
#define CONTROL_LINE_MAX 512	/* a control command line */
#define CONTROL_HTTP_MAX 8192	/* an HTTP request head */
#define CONTROL_TIMEOUT_MS 5000 /* to send a request, and again to read the answer */

enum control_kind { CONTROL_CONN_FREE, CONTROL_CONN_CTL, CONTROL_CONN_HTTP };

struct control_conn {
	enum control_kind kind;
	int fd;
	bool writing;
	size_t req_len;
	char req[CONTROL_HTTP_MAX + 1];
	char *out; /* the whole answer, from open_memstream */
	size_t out_len, out_off;
	uint64_t deadline; /* monotonic ms */
};

struct control {
	struct app *a;
	pthread_t thread;
	bool started;
	int stop_fd;
	int unix_fd;
	int http_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_conn conns[CONTROL_MAX_CONNS];
};

static uint64_t control_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- HTTP */

/* A short plain-text answer; the length is counted, never written by hand. */
static void http_plain(FILE *out, const char *status, const char *headers, const char *body)
{
	fprintf(out,
		"HTTP/1.0 %s\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		"Connection: close\r\n\r\n%s",
		status, headers, strlen(body), body);
}

static void http_answer(struct app *a, char *req, FILE *out)
{
	char *body = NULL, *path, *method, *version, *save = NULL, *q;
	bool per_worker = false;
	struct snapshot s;
	size_t len = 0;
	FILE *f;
	int ret;

	method = strtok_r(req, " ", &save);
	path = strtok_r(NULL, " ", &save);
	version = strtok_r(NULL, "\r\n", &save);
	if (!method || !path || !version || strncmp(version, "HTTP/1.", 7)) {
		http_plain(out, "400 Bad Request", "", "bad request\n");
		return;
	}
	q = strchr(path, '?');
	if (q) {
		*q++ = '\0';
		/* the one query the endpoint knows: a per-worker breakdown */
		per_worker = !strcmp(q, "per_worker=1") || !strcmp(q, "per_worker=true");
	}
	if (strcmp(path, "/metrics")) {
		http_plain(out, "404 Not Found", "", "not found: the metrics are at /metrics\n");
		return;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		http_plain(out, "405 Method Not Allowed", "Allow: GET, HEAD\r\n",
			   "method not allowed\n");
		return;
	}
	f = open_memstream(&body, &len);
	if (!f) {
		ret = -ENOMEM;
	} else {
		pthread_mutex_lock(&a->lock);
		ret = app_snapshot(a, &s);
		if (!ret)
			ret = metrics_format(&s, per_worker, f);
		pthread_mutex_unlock(&a->lock);
		snapshot_fini(&s);
		if (fclose(f) && !ret)
			ret = -ENOMEM;
	}
	if (ret) {
		http_plain(out, "500 Internal Server Error", "", "rendering the metrics failed\n");
		free(body);
		return;
	}
	fprintf(out,
		"HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n",
		len);
	if (strcmp(method, "HEAD"))
		fwrite(body, 1, len, out);
	free(body);
}

/* ---------------------------------------------------------------- connections */

static void conn_close(struct control_conn *c)
{
	if (c->kind == CONTROL_CONN_FREE)
		return;
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->kind = CONTROL_CONN_FREE;
	c->fd = -1;
}

static void conn_accept(struct control *ctl, int lfd, enum control_kind kind)
{
	struct control_conn *c = NULL;
	uint32_t i;
	int fd;

	for (i = 0; i < CONTROL_MAX_CONNS; i++)
		if (ctl->conns[i].kind == CONTROL_CONN_FREE) {
			c = &ctl->conns[i];
			break;
		}
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (!c) {
		/* Every slot is busy: refusing one client beats waiting on the slow ones. */
		close(fd);
		return;
	}
	c->kind = kind;
	c->fd = fd;
	c->writing = false;
	c->req_len = 0;
	c->out = NULL;
	c->out_len = c->out_off = 0;
	c->deadline = control_now_ms() + CONTROL_TIMEOUT_MS;
}

/* The request is complete: build the answer and switch to writing it. */
static void conn_answer(struct control *ctl, struct control_conn *c)
{
	FILE *f;

	c->req[c->req_len] = '\0';
	f = open_memstream(&c->out, &c->out_len);
	if (!f) {
		conn_close(c);
		return;
	}
	if (c->kind == CONTROL_CONN_HTTP) {
		http_answer(ctl->a, c->req, f);
	} else {
		char *nl = strchr(c->req, '\n');

		if (nl)
			*nl = '\0';
		control_cmd_run(ctl->a, c->req, f);
	}
	if (fclose(f)) {
		conn_close(c);
		return;
	}
	c->writing = true;
	c->out_off = 0;
	/* A reload may have taken a while: the client gets a fresh allowance to read. */
	c->deadline = control_now_ms() + CONTROL_TIMEOUT_MS;
}

static bool request_complete(struct control_conn *c)
{
	if (c->kind == CONTROL_CONN_CTL)
		return memchr(c->req, '\n', c->req_len) != NULL;
	c->req[c->req_len] = '\0';
	return strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n");
}

static void conn_read(struct control *ctl, struct control_conn *c)
{
	size_t max = c->kind == CONTROL_CONN_CTL ? CONTROL_LINE_MAX : CONTROL_HTTP_MAX;
	ssize_t n;

	n = recv(c->fd, c->req + c->req_len, max - c->req_len, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	c->req_len += (size_t)n;
	if (n == 0) {
		/* The client closed its side: a control line may come without '\n'. */
		if (c->kind == CONTROL_CONN_CTL && c->req_len)
			conn_answer(ctl, c);
		else
			conn_close(c);
		return;
	}
	if (request_complete(c)) {
		conn_answer(ctl, c);
	} else if (c->req_len == max) {
		static const char ctl_err[] = "error: request longer than 512 bytes\n";
		static const char http_err[] =
			"HTTP/1.0 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n";
		const char *msg = c->kind == CONTROL_CONN_CTL ? ctl_err : http_err;

		send(c->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
		conn_close(c);
	}
}

static void conn_write(struct control_conn *c)
{
	ssize_t n;

	n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out_len)
		conn_close(c);
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;
	struct pollfd pfd[3 + CONTROL_MAX_CONNS];
	int idx[3 + CONTROL_MAX_CONNS];
	uint64_t now, next;
	uint32_t i;
	int n, k, timeout;

	for (;;) {
		n = 0;
		pfd[n++] = (struct pollfd){ .fd = ctl->stop_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ctl->unix_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ctl->http_fd, .events = POLLIN };
		now = control_now_ms();
		next = now + 60000;
		for (i = 0; i < CONTROL_MAX_CONNS; i++) {
			struct control_conn *c = &ctl->conns[i];

			if (c->kind == CONTROL_CONN_FREE)
				continue;
			if (c->deadline < next)
				next = c->deadline;
			idx[n] = (int)i;
			pfd[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->writing ? POLLOUT : POLLIN };
		}
		timeout = next > now ? (int)(next - now) : 0;
		k = poll(pfd, (nfds_t)n, timeout);
		if (k < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		for (k = 3; k < n; k++) {
			struct control_conn *c = &ctl->conns[idx[k]];

			if (!pfd[k].revents)
				continue;
			if (c->writing)
				conn_write(c);
			else
				conn_read(ctl, c);
		}
		now = control_now_ms();
		for (i = 0; i < CONTROL_MAX_CONNS; i++)
			if (ctl->conns[i].kind != CONTROL_CONN_FREE && ctl->conns[i].deadline <= now)
				conn_close(&ctl->conns[i]);
		if (pfd[1].revents & POLLIN)
			conn_accept(ctl, ctl->unix_fd, CONTROL_CONN_CTL);
		if (pfd[2].revents & POLLIN)
			conn_accept(ctl, ctl->http_fd, CONTROL_CONN_HTTP);
	}
	for (i = 0; i < CONTROL_MAX_CONNS; i++)
		conn_close(&ctl->conns[i]);
	return NULL;
}

/* ---------------------------------------------------------------- set-up */

/* Does a server answer on the unix socket at sa? */
static bool socket_answers(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool up;

	if (fd < 0)
		return false;
	/* EAGAIN means a listener with a full backlog: someone is there. */
	up = !connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) || errno == EAGAIN;
	close(fd);
	return up;
}

static int listen_unix(struct control *ctl, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket %s: must be an absolute path under %zu bytes",
			 path, sizeof(sa.sun_path));
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return ret;
	}
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	if (ret == -EADDRINUSE) {
		/* A file is in the way: a live daemon's socket, or one a crash left behind. */
		if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %s: exists and is not a socket", path);
			ret = -EEXIST;
			goto err_close;
		}
		if (socket_answers(&sa)) {
			snprintf(err, errlen,
				 "control socket %s: another ringrelay is running (it answers there)",
				 path);
			goto err_close;
		}
		log_notice("control socket %s: removing a stale socket", path);
		unlink(path);
		ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	}
	if (ret) {
		snprintf(err, errlen, "control socket %s: bind: %s", path, strerror(-ret));
		goto err_close;
	}
	/* Owner and group may control the daemon; the directory's mode does the rest. */
	if (chmod(path, 0660) || listen(fd, CONTROL_MAX_CONNS)) {
		ret = -errno;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		goto err_unlink;
	}
	ctl->unix_fd = fd;
	memcpy(ctl->path, sa.sun_path, sizeof(ctl->path));
	return 0;
err_unlink:
	unlink(path);
err_close:
	close(fd);
	return ret;
}

static int listen_http(struct control *ctl, const struct addr *at, char *err, size_t errlen)
{
	char ep[ADDR_STRLEN];
	int fd, ret, one = 1;

	fd = socket(addr_family(at), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "metrics listener: %s", strerror(errno));
		return ret;
	}
	/* A restart must not wait for TIME_WAIT of the previous daemon's scrapes. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &at->sa, addr_len(at)) || listen(fd, CONTROL_MAX_CONNS)) {
		ret = -errno;
		snprintf(err, errlen, "metrics listener %s: %s", addr_format(at, ep, sizeof(ep)),
			 strerror(errno));
		close(fd);
		return ret;
	}
	ctl->http_fd = fd;
	return 0;
}

int control_start(struct app *a, struct control **out, char *err, size_t errlen)
{
	struct control *ctl;
	char path[CONFIG_PATH_LEN];
	struct metrics_conf metrics;
	sigset_t all, old;
	uint32_t i;
	int ret;

	pthread_mutex_lock(&a->lock);
	snprintf(path, sizeof(path), "%s", a->rt.cfg->control_socket);
	metrics = a->rt.cfg->metrics;
	pthread_mutex_unlock(&a->lock);

	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "control: out of memory");
		return -ENOMEM;
	}
	ctl->a = a;
	ctl->unix_fd = ctl->http_fd = -1;
	for (i = 0; i < CONTROL_MAX_CONNS; i++)
		ctl->conns[i].fd = -1;
	ctl->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctl->stop_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "control: eventfd: %s", strerror(errno));
		goto err_free;
	}
	ret = listen_unix(ctl, path, err, errlen);
	if (ret)
		goto err_close_stop;
	if (metrics.enabled) {
		ret = listen_http(ctl, &metrics.listen, err, errlen);
		if (ret)
			goto err_close_unix;
	}

	/* The thread starts with every signal blocked, so only main's signalfd sees them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&ctl->thread, NULL, control_thread, ctl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		snprintf(err, errlen, "control: pthread_create: %s", strerror(-ret));
		goto err_close_http;
	}
	ctl->started = true;
	*out = ctl;
	return 0;

err_close_http:
	if (ctl->http_fd >= 0)
		close(ctl->http_fd);
err_close_unix:
	close(ctl->unix_fd);
	unlink(ctl->path);
err_close_stop:
	close(ctl->stop_fd);
err_free:
	free(ctl);
	return ret;
}

void control_stop(struct control *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	if (c->started) {
		if (write(c->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("control: cannot wake the control thread: %s", strerror(errno));
		pthread_join(c->thread, NULL);
	}
	if (c->http_fd >= 0)
		close(c->http_fd);
	close(c->unix_fd);
	unlink(c->path);
	close(c->stop_fd);
	free(c);
}
