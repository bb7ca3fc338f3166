// SPDX-License-Identifier: MIT
/* The control thread: one poll loop over a stop eventfd, the unix control socket, the
 * optional metrics listener and two bounded pools of clients, one per listener. Every socket
 * is non-blocking and every client has a deadline, so a client that sends half a line or
 * never reads its answer costs one slot of its own pool for a few seconds, never the loop.
 * This file is the transport and its access control: what a control line means is
 * control_cmd.c's, what /metrics says metrics.c's.
 *
 * Access (like HAProxy's stats socket levels): the socket's file is 0660, owned by the
 * daemon's user and control_access.read_only_group (or the user's group), so only those can
 * connect at all; each connection's peer credentials (SO_PEERCRED, SO_PEERGROUPS) then give
 * its level (control_level_of): root and the daemon's user may do everything, members of
 * the read-only group run the commands that change nothing and show no client address, and
 * anyone else is answered "permission denied" at once and holds no slot.
 *
 * Pools: CONTROL_UNIX_SLOTS for the unix socket, of which CONTROL_ADMIN_RESERVE only admin
 * peers take and of which one uid below admin holds at most CONTROL_PER_UID, and
 * CONTROL_HTTP_SLOTS for /metrics, where a full pool makes room (http_slot): a connection
 * whose answer is out and which is only being read to its end, else the one that has waited
 * longest for its request once a read shows it has none whole (a scraper sends it at once, a
 * slowloris never), else one whose answer has not moved for CONTROL_STALL_MS (a client that
 * does not read). A request must be whole within CONTROL_HEADER_MS of the accept, its answer
 * read within CONTROL_ANSWER_MS; an HTTP answer ends with a lingering close (the write side
 * shut, what the client still sends read away for up to CONTROL_LINGER_MS), so that bytes it
 * sent after its request do not reset the connection and cut the answer. A reload's connection
 * (admin) keeps its slot while the admin thread runs it, up to ADMIN_RELOAD_WAIT_MS, and the
 * loop serves the others meanwhile (but for the time the reload holds a->lock, which every
 * other answer takes).
 *
 * Answers are built whole in memory (open_memstream) while holding a->lock, then written out
 * without it: the lock is held for a copy of counters, never for socket I/O. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "app.h"
#include "clock.h"
#include "control.h"
#include "control_cmd.h"
#include "log.h"
#include "metrics.h"
#include "privs.h"
#include "snapshot.h"

#define CONTROL_UNIX_SLOTS 16
#define CONTROL_ADMIN_RESERVE 4 /* unix slots only root and the daemon's user take */
#define CONTROL_PER_UID 4	/* unix connections one uid below admin may hold */
#define CONTROL_HTTP_SLOTS 16
#define CONTROL_SLOTS (CONTROL_UNIX_SLOTS + CONTROL_HTTP_SLOTS)
#define CONTROL_BACKLOG 64
#define CONTROL_ACCEPT_BATCH 64 /* accepts per wake-up: a flood waits in no backlog */
#define CONTROL_MAX_GROUPS 256	/* supplementary groups of a peer that are looked at */
#define CONTROL_LINE_MAX 512	/* a control command line */
#define CONTROL_HTTP_MAX 8192	/* an HTTP request head */
#define CONTROL_HEADER_MS 2000	/* from the accept to a whole request */
#define CONTROL_ANSWER_MS 5000	/* to read the answer */
#define CONTROL_STALL_MS 1000	/* an answer not moving this long may give its slot away */
#define CONTROL_LINGER_MS 2000	/* reading a client's leftovers after its answer */
#define CONTROL_ACCEPT_PAUSE_MS 100 /* a listener rests this long when out of descriptors */
#define CONTROL_LAST_MS 1000	/* at a stop, for answers still being sent */
#define CONTROL_SOCKET_MODE 0660
#define CONTROL_DIR_MODE 0750

enum control_kind { CONTROL_CONN_FREE, CONTROL_CONN_CTL, CONTROL_CONN_HTTP };

struct control_conn {
	enum control_kind kind;
	int fd;
	bool writing;
	bool draining;		      /* answer out, write side shut: reading to the end */
	bool waiting;		      /* for the admin thread's reload: pend */
	struct control_pending pend;
	enum control_level level; /* unix peers: from their credentials */
	uid_t uid;
	size_t req_len;
	char req[CONTROL_HTTP_MAX + 1];
	char *out; /* the whole answer, from open_memstream */
	size_t out_len, out_off;
	uint64_t accepted; /* monotonic ms */
	uint64_t deadline; /* monotonic ms */
	uint64_t moved;	   /* writing: when the answer last moved (monotonic ms) */
};

struct control {
	struct app *a;
	pthread_t thread;
	bool started;
	int stop_fd;
	int unix_fd;
	int http_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uid_t daemon_uid;	/* admin, with root */
	gid_t read_only_gid;	/* (gid_t)-1: no read-only group */
	char read_only_group[CONFIG_NAME_LEN];
	uint64_t accept_rest[2]; /* unix, HTTP: not polled before (out of descriptors) */
	uint64_t accept_logged;	 /* when running out of descriptors was last logged */
	/* [0, CONTROL_UNIX_SLOTS) serve the unix socket, the rest HTTP */
	struct control_conn conns[CONTROL_SLOTS];
};

/* ---------------------------------------------------------------- HTTP */

/* A short plain-text answer; the length is counted, never written by hand. An answer to HEAD
 * has the headers alone (RFC 9110), errors too. */
static void http_plain(FILE *out, bool head, const char *status, const char *headers,
		       const char *body)
{
	fprintf(out,
		"HTTP/1.0 %s\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		"Connection: close\r\n\r\n%s",
		status, headers, strlen(body), head ? "" : body);
}

/* per_worker's value in query ("a=b&c=d"): the last one given; unknown keys are ignored (a
 * scrape config's other params, a proxy's additions). */
static bool http_per_worker(char *query)
{
	char *save = NULL, *kv, *v;
	bool on = false;

	for (kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		v = strchr(kv, '=');
		if (v)
			*v++ = '\0';
		if (!strcmp(kv, "per_worker"))
			on = v && (!strcmp(v, "1") || !strcmp(v, "true"));
	}
	return on;
}

int control_http_parse(char *req, struct control_http_req *r)
{
	char *path, *method, *version, *save = NULL, *q;

	memset(r, 0, sizeof(*r));
	req += strspn(req, "\r\n");
	method = strtok_r(req, " \r\n", &save);
	path = strtok_r(NULL, " ", &save);
	version = strtok_r(NULL, "\r\n", &save);
	r->method = method;
	if (!method || !path || !version || strncmp(version, "HTTP/1.", 7))
		return -EINVAL;
	/* absolute-form, from a forward proxy: the path after the authority */
	if (!strncasecmp(path, "http://", 7) || !strncasecmp(path, "https://", 8)) {
		path = strchr(path, ':') + 3;
		path += strcspn(path, "/?");
		if (*path != '/') {
			r->path = "/"; /* none: the root's (its query is for nothing there) */
			return 0;
		}
	}
	q = strchr(path, '?');
	if (q) {
		*q++ = '\0';
		r->per_worker = http_per_worker(q);
	}
	r->path = path;
	return 0;
}

static void http_answer(struct app *a, char *req, FILE *out)
{
	struct control_http_req r;
	char *body = NULL;
	struct snapshot s;
	size_t len = 0;
	bool head;
	FILE *f;
	int ret;

	ret = control_http_parse(req, &r);
	head = r.method && !strcmp(r.method, "HEAD");
	if (ret) {
		http_plain(out, head, "400 Bad Request", "", "bad request\n");
		return;
	}
	if (strcmp(r.path, "/metrics")) {
		http_plain(out, head, "404 Not Found", "",
			   "not found: the metrics are at /metrics\n");
		return;
	}
	if (strcmp(r.method, "GET") && strcmp(r.method, "HEAD")) {
		http_plain(out, head, "405 Method Not Allowed", "Allow: GET, HEAD\r\n",
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
			ret = metrics_format(&s, r.per_worker, f);
		pthread_mutex_unlock(&a->lock);
		snapshot_fini(&s);
		if (fclose(f) && !ret)
			ret = -ENOMEM;
	}
	if (ret) {
		http_plain(out, head, "500 Internal Server Error", "",
			   "rendering the metrics failed\n");
		free(body);
		return;
	}
	fprintf(out,
		"HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n",
		len);
	if (!head)
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

/* Reads and drops what waits on fd, up to 16 reads: the last recv's result (> 0: more may
 * wait; 0: the client's end; < 0: errno). Closing a TCP socket with bytes unread resets the
 * connection and drops what the client has not yet taken of an answer. */
static ssize_t read_away(int fd)
{
	char sink[4096];
	ssize_t n = 1;
	int i;

	for (i = 0; i < 16 && n > 0; i++)
		n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
	return n;
}

/* Closes c after reading away what its client sent. */
static void conn_close_read(struct control_conn *c)
{
	if (c->kind != CONTROL_CONN_FREE)
		read_away(c->fd);
	conn_close(c);
}

/* A last word to a client that gets no slot; it may not be read, and that is fine. */
static void say_and_close(int fd, const char *msg)
{
	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("control: %s", strerror(errno));
	close(fd);
}

static void conn_init(struct control_conn *c, enum control_kind kind, int fd,
		      enum control_level level, uid_t uid, uint64_t now)
{
	c->kind = kind;
	c->fd = fd;
	c->writing = c->draining = c->waiting = false;
	c->level = level;
	c->uid = uid;
	c->req_len = 0;
	c->out = NULL;
	c->out_len = c->out_off = 0;
	c->accepted = now;
	c->deadline = now + CONTROL_HEADER_MS;
}

/* The level of the peer on fd, from its credentials; *uid gets its uid. */
static enum control_level peer_level(const struct control *ctl, int fd, uid_t *uid)
{
	gid_t stack[CONTROL_MAX_GROUPS], *groups = stack, *many = NULL;
	socklen_t len = sizeof(struct ucred);
	enum control_level level;
	struct ucred cr;
	size_t n = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) || len != sizeof(cr))
		return CONTROL_DENIED;
	*uid = cr.uid;
	if (ctl->read_only_gid != (gid_t)-1 && cr.uid != 0 && cr.uid != ctl->daemon_uid) {
		len = sizeof(stack);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, stack, &len) == 0) {
			n = len / sizeof(gid_t);
		} else if (errno == ERANGE && (many = malloc(len))) {
			/* More groups than the stack holds: len now says how many bytes. */
			groups = many;
			if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, many, &len) == 0)
				n = len / sizeof(gid_t);
		}
	}
	level = control_level_of(cr.uid, cr.gid, groups, n, ctl->daemon_uid, ctl->read_only_gid);
	free(many);
	return level;
}

/* A unix client: refused at once unless its level allows something, and then only while
 * its share of the pool lasts; root and the daemon's user always find a slot while fewer
 * than CONTROL_ADMIN_RESERVE of them are connected. */
static void accept_unix(struct control *ctl, int fd, uint64_t now)
{
	struct control_conn *free_slot = NULL;
	uint32_t i, others = 0, same_uid = 0;
	enum control_level level;
	char msg[256];
	uid_t uid = (uid_t)-1;

	level = peer_level(ctl, fd, &uid);
	if (level == CONTROL_DENIED) {
		snprintf(msg, sizeof(msg),
			 "error: permission denied: uid %d is not root or the daemon's user (uid "
			 "%u)%s%s%s\n",
			 (int)uid, (unsigned int)ctl->daemon_uid,
			 ctl->read_only_group[0] ? " and not in control_access.read_only_group '"
						 : "",
			 ctl->read_only_group, ctl->read_only_group[0] ? "'" : "");
		say_and_close(fd, msg);
		return;
	}
	for (i = 0; i < CONTROL_UNIX_SLOTS; i++) {
		const struct control_conn *c = &ctl->conns[i];

		if (c->kind == CONTROL_CONN_FREE) {
			if (!free_slot)
				free_slot = &ctl->conns[i];
			continue;
		}
		if (c->level != CONTROL_ADMIN) {
			others++;
			same_uid += c->uid == uid;
		}
	}
	if (level != CONTROL_ADMIN && same_uid >= CONTROL_PER_UID) {
		snprintf(msg, sizeof(msg),
			 "error: busy: uid %u has %u control connections open already; close one "
			 "or try again\n",
			 (unsigned int)uid, same_uid);
		say_and_close(fd, msg);
		return;
	}
	if (!free_slot ||
	    (level != CONTROL_ADMIN && others >= CONTROL_UNIX_SLOTS - CONTROL_ADMIN_RESERVE)) {
		say_and_close(fd, "error: busy: every control connection slot is taken; try "
				  "again\n");
		return;
	}
	conn_init(free_slot, CONTROL_CONN_CTL, fd, level, uid, now);
}

static void conn_read(struct control *ctl, struct control_conn *c);

/* Whether c still waits for (the rest of) its request. */
static bool conn_reading(const struct control_conn *c)
{
	return c->kind != CONTROL_CONN_FREE && !c->writing && !c->draining && !c->waiting;
}

/* A free HTTP slot, made when the pool is full (see the top of the file): a connection only
 * being read to its end, else the longest-waiting request once a read shows it is not whole
 * (one that is gets its answer and keeps its slot, so a flood of connects pushes out no
 * scraper whose request waits in its socket), else the answer that stalled first. NULL when
 * every slot is sending an answer that moves. */
static struct control_conn *http_slot(struct control *ctl)
{
	uint32_t i, tries;

	for (tries = 0; tries <= CONTROL_HTTP_SLOTS; tries++) {
		struct control_conn *drained = NULL, *reader = NULL, *stalled = NULL, *victim;
		uint64_t now = clock_ms(); /* a reader answered just now has not stalled */

		for (i = CONTROL_UNIX_SLOTS; i < CONTROL_SLOTS; i++) {
			struct control_conn *c = &ctl->conns[i];

			if (c->kind == CONTROL_CONN_FREE)
				return c;
			if (c->draining)
				drained = c;
			else if (conn_reading(c) && (!reader || c->accepted < reader->accepted))
				reader = c;
			else if (c->writing && c->moved + CONTROL_STALL_MS <= now &&
				 (!stalled || c->moved < stalled->moved))
				stalled = c;
		}
		victim = drained ? drained : reader ? reader : stalled;
		if (!victim)
			return NULL;
		if (victim == reader) {
			conn_read(ctl, reader);
			if (reader->kind != CONTROL_CONN_FREE && !conn_reading(reader))
				continue; /* answered: it keeps its slot; look again */
		}
		conn_close_read(victim);
		return victim;
	}
	return NULL;
}

/* An HTTP client (read level: /metrics). */
static void accept_http(struct control *ctl, int fd, uint64_t now)
{
	static const char body[] = "busy: every /metrics slot is answering; try again\n";
	struct control_conn *slot = http_slot(ctl);
	char buf[256];

	if (!slot) {
		/* Every slot is sending an answer that moves: they end soon. What the client
		 * sent is read first, or the close would reset the connection over the 503. */
		read_away(fd);
		snprintf(buf, sizeof(buf),
			 "HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\n"
			 "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 sizeof(body) - 1, body);
		say_and_close(fd, buf);
		return;
	}
	conn_init(slot, CONTROL_CONN_HTTP, fd, CONTROL_READ, (uid_t)-1, now);
}

/* Accepts what waits on lfd, up to a batch. Out of descriptors (or memory), the listener
 * rests for CONTROL_ACCEPT_PAUSE_MS: it stays readable, and polling it would spin. */
static void accept_all(struct control *ctl, int lfd, enum control_kind kind)
{
	int which = kind == CONTROL_CONN_CTL ? 0 : 1;
	uint64_t now = clock_ms();
	uint32_t n;
	int fd;

	for (n = 0; n < CONTROL_ACCEPT_BATCH; n++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			       errno == ENOMEM)) {
			ctl->accept_rest[which] = now + CONTROL_ACCEPT_PAUSE_MS;
			if (!ctl->accept_logged || now - ctl->accept_logged >= 60000) {
				ctl->accept_logged = now;
				log_warn("control: cannot accept on the %s: %s; connections wait "
					 "(raise the descriptor limit: LimitNOFILE= of the unit)",
					 which ? "metrics listener" : "control socket",
					 strerror(errno));
			}
			return;
		}
		if (fd < 0)
			return;
		if (kind == CONTROL_CONN_CTL)
			accept_unix(ctl, fd, now);
		else
			accept_http(ctl, fd, now);
	}
}

/* c's answer is whole in f: send it. */
static void conn_send(struct control_conn *c, FILE *f)
{
	if (fclose(f)) {
		conn_close(c);
		return;
	}
	c->writing = true;
	c->out_off = 0;
	c->moved = clock_ms();
	c->deadline = c->moved + CONTROL_ANSWER_MS;
}

/* The request is complete: build the answer and switch to writing it (or, for a reload the
 * admin thread runs, to waiting for it). */
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
		if (control_cmd_run(ctl->a, c->req, c->level, f, &c->pend)) {
			/* a reload: the admin thread runs it while this thread serves others */
			fclose(f);
			free(c->out);
			c->out = NULL;
			c->waiting = true;
			c->deadline = clock_ms() + ADMIN_RELOAD_WAIT_MS;
			return;
		}
	}
	conn_send(c, f);
}

/* Waiting c's reload finished with ret (err), or did not within ADMIN_RELOAD_WAIT_MS. */
static void conn_finish(struct control *ctl, struct control_conn *c, int ret, const char *err)
{
	FILE *f;

	c->waiting = false;
	f = open_memstream(&c->out, &c->out_len);
	if (!f) {
		conn_close(c);
		return;
	}
	control_cmd_finish(ctl->a, &c->pend, ret, err, f);
	conn_send(c, f);
}

/* Whether waiting c's reload is done: then its answer is on its way. */
static bool conn_reloaded(struct control *ctl, struct control_conn *c)
{
	char err[CONFIG_ERR_LEN];
	int ret;

	if (!admin_reload_done(ctl->a->admin, c->pend.ticket, &ret, err, sizeof(err)))
		return false;
	conn_finish(ctl, c, ret, err);
	return true;
}

static void conn_timeout(struct control *ctl, struct control_conn *c)
{
	char err[96];

	if (conn_reloaded(ctl, c)) /* just now */
		return;
	snprintf(err, sizeof(err), "the reload did not finish within %d s (see the log)",
		 ADMIN_RELOAD_WAIT_MS / 1000);
	conn_finish(ctl, c, -ETIMEDOUT, err);
}

/* The waiting connections whose reload is done get their answer. */
static void conns_reloaded(struct control *ctl)
{
	uint64_t v;
	uint32_t i;

	if (read(admin_done_fd(ctl->a->admin), &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("control: admin's eventfd: %s", strerror(errno));
	for (i = 0; i < CONTROL_UNIX_SLOTS; i++) {
		struct control_conn *c = &ctl->conns[i];

		if (c->kind != CONTROL_CONN_FREE && c->waiting)
			conn_reloaded(ctl, c);
	}
}

static bool request_complete(struct control_conn *c)
{
	if (c->kind == CONTROL_CONN_CTL)
		return memchr(c->req, '\n', c->req_len) != NULL;
	c->req[c->req_len] = '\0'; /* the parsers that follow read a string */
	/* memmem: a NUL byte in the request must not hide its end */
	return memmem(c->req, c->req_len, "\r\n\r\n", 4) || memmem(c->req, c->req_len, "\n\n", 2);
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
		/* Answered as any answer is, with the lingering close: a close with the rest of
		 * the request unread would reset the connection before the client read why. */
		FILE *f = open_memstream(&c->out, &c->out_len);

		if (!f) {
			conn_close(c);
		} else {
			if (c->kind == CONTROL_CONN_CTL)
				fputs("error: request longer than 512 bytes\n", f);
			else
				http_plain(f, !memcmp(c->req, "HEAD ", 5),
					   "431 Request Header Fields Too Large", "",
					   "request header fields too large\n");
			conn_send(c, f);
		}
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
	c->moved = clock_ms();
	if (c->out_off < c->out_len)
		return;
	if (c->kind == CONTROL_CONN_CTL || shutdown(c->fd, SHUT_WR)) {
		conn_close(c);
		return;
	}
	/* Closing a TCP socket with unread bytes resets it and drops what the client has not
	 * yet taken of the answer: read what it still sends until it closes (nginx's
	 * lingering close). */
	c->writing = false;
	c->draining = true;
	free(c->out);
	c->out = NULL;
	c->deadline = c->moved + CONTROL_LINGER_MS;
}

/* A lingering connection: what the client sends is read and dropped, its end closes it. */
static void conn_drain(struct control_conn *c)
{
	ssize_t n = read_away(c->fd);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

/* Answers being sent when the thread ends go on for up to CONTROL_LAST_MS while their clients
 * read them (a cut one, which its length, "ok LENGTH" or Content-Length, gives away, costs
 * its client a retry), and finished ones linger as before, to their client's end. */
static void conns_finish_writing(struct control *ctl)
{
	uint64_t end = clock_ms() + CONTROL_LAST_MS, now;
	struct pollfd pfd[CONTROL_SLOTS];
	uint32_t idx[CONTROL_SLOTS], i;
	nfds_t n;

	for (;;) {
		n = 0;
		for (i = 0; i < CONTROL_SLOTS; i++) {
			const struct control_conn *c = &ctl->conns[i];

			if (c->kind == CONTROL_CONN_FREE || (!c->writing && !c->draining))
				continue;
			idx[n] = i;
			pfd[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->writing ? POLLOUT : POLLIN };
		}
		now = clock_ms();
		if (!n || now >= end || (poll(pfd, n, (int)(end - now)) < 0 && errno != EINTR))
			return;
		for (i = 0; i < n; i++) {
			struct control_conn *c = &ctl->conns[idx[i]];

			if (!pfd[i].revents)
				continue;
			if (c->writing)
				conn_write(c);
			else
				conn_drain(c);
		}
	}
}

/* The thread ends (stopping, else its poll failed): a waiting reload's result goes if it is
 * done, else why it has none; answers being sent are finished if their clients read them. */
static void conns_last_word(struct control *ctl, bool stopping)
{
	const char *why = stopping ? "error: the process is stopping: the reload may not have run "
				     "(see the log)\n"
				   : "error: the control thread failed (see the log)\n";
	uint32_t i;

	for (i = 0; i < CONTROL_SLOTS; i++) {
		struct control_conn *c = &ctl->conns[i];

		if (c->kind != CONTROL_CONN_FREE && c->waiting && !conn_reloaded(ctl, c) &&
		    send(c->fd, why, strlen(why), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("control: %s", strerror(errno));
	}
	conns_finish_writing(ctl);
	for (i = 0; i < CONTROL_SLOTS; i++)
		conn_close_read(&ctl->conns[i]);
}

/* Time this thread spent answering since t0 (`sessions` waits for the workers, a request
 * read late is answered) is no client's: it moves the allowance of the answers that were
 * being sent before t0 on, so they are neither cut short nor taken for stalled for it
 * (requests keep theirs). Returns the time now. */
static uint64_t conns_credit(struct control *ctl, uint64_t t0)
{
	uint64_t now = clock_ms();
	uint32_t i;

	for (i = 0; i < CONTROL_SLOTS; i++) {
		struct control_conn *c = &ctl->conns[i];

		if (c->kind != CONTROL_CONN_FREE && c->writing && c->moved < t0) {
			c->deadline += now - t0;
			c->moved += now - t0;
		}
	}
	return now;
}

/* Connections past their deadline: a request that came whole while this thread was busy is
 * read and answered, a waiting reload is told it timed out, the rest are closed. */
static void conns_expire(struct control *ctl, uint64_t now)
{
	uint32_t i;

	for (i = 0; i < CONTROL_SLOTS; i++) {
		struct control_conn *c = &ctl->conns[i];

		if (c->kind == CONTROL_CONN_FREE || c->deadline > now)
			continue;
		if (conn_reading(c)) {
			conn_read(ctl, c);
			if (conn_reading(c))
				conn_close(c);
		} else if (c->waiting) {
			conn_timeout(ctl, c);
		} else {
			conn_close_read(c);
		}
	}
}

/* The listener to poll (0 unix, 1 HTTP), or -1 while it rests; next gets the rest's end. */
static int listener_fd(const struct control *ctl, int which, uint64_t now, uint64_t *next)
{
	uint64_t rest = ctl->accept_rest[which];

	if (rest <= now)
		return which ? ctl->http_fd : ctl->unix_fd;
	if (rest < *next)
		*next = rest;
	return -1;
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;
	struct pollfd pfd[4 + CONTROL_SLOTS];
	int idx[4 + CONTROL_SLOTS];
	uint64_t now, next, t0;
	bool stopping = false;
	uint32_t i;
	int n, k, timeout;

	for (;;) {
		n = 0;
		now = clock_ms();
		next = now + 60000;
		pfd[n++] = (struct pollfd){ .fd = ctl->stop_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = listener_fd(ctl, 0, now, &next), .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = listener_fd(ctl, 1, now, &next), .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ctl->a->admin ? admin_done_fd(ctl->a->admin) : -1,
					    .events = POLLIN };
		for (i = 0; i < CONTROL_SLOTS; i++) {
			struct control_conn *c = &ctl->conns[i];

			if (c->kind == CONTROL_CONN_FREE)
				continue;
			if (c->deadline < next)
				next = c->deadline;
			idx[n] = (int)i;
			/* (waiting: only a hang-up or an error, which poll always reports) */
			pfd[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->writing ? POLLOUT
							      : c->waiting ? 0
									   : POLLIN };
		}
		timeout = next > now ? (int)(next - now) : 0;
		k = poll(pfd, (nfds_t)n, timeout);
		if (k < 0 && errno != EINTR) {
			log_err("control thread: poll: %s; the control socket is no longer served",
				strerror(errno));
			/* refuse new clients instead of queueing them where nobody accepts */
			shutdown(ctl->unix_fd, SHUT_RDWR);
			if (ctl->http_fd >= 0)
				shutdown(ctl->http_fd, SHUT_RDWR);
			break;
		}
		if (pfd[0].revents) {
			stopping = true;
			break;
		}
		t0 = clock_ms();
		if (pfd[3].revents & POLLIN)
			conns_reloaded(ctl);
		for (k = 4; k < n; k++) {
			struct control_conn *c = &ctl->conns[idx[k]];

			if (!pfd[k].revents || c->kind == CONTROL_CONN_FREE)
				continue;
			if (c->waiting)
				conn_close(c); /* gone before its answer */
			else if (c->writing)
				conn_write(c);
			else if (c->draining)
				conn_drain(c);
			else
				conn_read(ctl, c);
		}
		now = conns_credit(ctl, t0);
		conns_expire(ctl, now);
		now = conns_credit(ctl, now);
		if (pfd[1].revents & POLLIN)
			accept_all(ctl, ctl->unix_fd, CONTROL_CONN_CTL);
		if (pfd[2].revents & POLLIN)
			accept_all(ctl, ctl->http_fd, CONTROL_CONN_HTTP);
		conns_credit(ctl, now);
	}
	conns_last_word(ctl, stopping);
	return NULL;
}

/* ---------------------------------------------------------------- the socket's directory */

/* Who makes the socket and its directory, and as which group. */
struct control_owner {
	bool as_root;	/* we are root: make them as uid:gid (fs ids) */
	uid_t uid;	/* the daemon's user */
	gid_t gid;	/* read_only_group's, else the user's */
	const char *user; /* for messages */
	const char *group; /* read_only_group, "" without */
};

/* Makes dir, whose parent must exist, 0750 and owned by o (atomically: the fs ids and a
 * umask of 0 while mkdir runs). An existing dir is used as it is: never chmod'ed nor
 * chown'ed (it may be /run, /etc or /tmp). Returns 0 or -errno. */
static int control_dir(const char *dir, const struct control_owner *o, bool *made)
{
	struct stat st;
	mode_t old;
	int ret;

	*made = false;
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno != ENOENT)
		return -errno;
	if (o->as_root && privs_fs_as(o->uid, o->gid))
		return -EPERM;
	old = umask(0);
	ret = mkdir(dir, CONTROL_DIR_MODE) ? -errno : 0;
	umask(old);
	if (o->as_root)
		privs_fs_restore();
	*made = ret == 0;
	return ret == -EEXIST ? 0 : ret;
}

/* Whether o may make and remove the socket in dir (write and search, as o: the fs ids). */
static int control_dir_writable(const char *dir, const struct control_owner *o)
{
	int ret;

	if (o->as_root && privs_fs_as(o->uid, o->gid))
		return -EPERM;
	ret = faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) ? -errno : 0;
	if (o->as_root)
		privs_fs_restore();
	return ret;
}

/* The socket's directory, made when missing and usable by o; dir gets it. Returns 0 or
 * -errno. */
static int control_dir_ready(const char *path, const struct control_owner *o, char *dir,
			     size_t len)
{
	struct stat st;
	char *slash;
	bool made;
	int ret;

	snprintf(dir, len, "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return -EINVAL;
	*slash = '\0';
	ret = control_dir(dir, o, &made);
	if (ret)
		return ret;
	/* Not root, mkdir gave the directory our own group: give it the read-only group as the
	 * socket gets it (check_socket_file), or its members cannot reach the socket. */
	if (made && !o->as_root && o->group[0] && getegid() != o->gid &&
	    fchownat(AT_FDCWD, dir, (uid_t)-1, o->gid, AT_SYMLINK_NOFOLLOW))
		log_warn("control_access.read_only_group: the directory %s stays in our group: %s "
			 "(give the daemon's user group '%s', e.g. SupplementaryGroups= under "
			 "systemd, or start as root), so members of '%s' cannot connect",
			 dir, strerror(errno), o->group, o->group);
	if (made)
		log_info("control socket: made %s (mode %o, owner %s)", dir, CONTROL_DIR_MODE,
			 o->user);
	ret = control_dir_writable(dir, o);
	if (ret)
		return ret;
	/* Anyone who may write there may replace the socket, unless the sticky bit stops it. */
	if (stat(dir, &st) == 0 && (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		log_warn("control socket directory %s is writable by everyone (mode %o): anyone "
			 "may replace the socket; give it a directory of its own (control_socket)",
			 dir, (unsigned int)(st.st_mode & 07777));
	return 0;
}

/* ---------------------------------------------------------------- set-up */

/* Does a server answer on the unix socket at sa? */
static bool socket_answers(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool up;

	if (fd < 0)
		return false;
	/* EAGAIN means a listener with a full backlog (a blocking connect would wait for a
	 * daemon that does not accept): someone is there. */
	up = !connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) || errno == EAGAIN ||
	     errno == EINPROGRESS;
	close(fd);
	return up;
}

/* bind(2) of fd to sa as o: the socket file is made 0660 (fchmod before, and a umask of 0117
 * while bind runs: nothing is chmod'ed by path afterwards, so no link is followed) and
 * belongs to o's user and group from the start. */
static int bind_as(int fd, const struct sockaddr_un *sa, const struct control_owner *o)
{
	mode_t old;
	int ret;

	if (fchmod(fd, CONTROL_SOCKET_MODE))
		return -errno;
	if (o->as_root && privs_fs_as(o->uid, o->gid))
		return -EPERM;
	old = umask(0777 & ~CONTROL_SOCKET_MODE);
	ret = bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) ? -errno : 0;
	umask(old);
	if (o->as_root)
		privs_fs_restore();
	return ret;
}

/* Checks what bind made: a socket of mode 0660 owned by o. When not root, a group other than
 * ours is given with a chown that follows no link, which works when we are a member of it
 * (systemd SupplementaryGroups=); otherwise its members cannot connect, and we say so. */
static int check_socket_file(const char *path, const struct control_owner *o,
			     const char *group, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st)) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode) || (st.st_mode & 0777) != CONTROL_SOCKET_MODE ||
	    (o->as_root && (st.st_uid != o->uid || st.st_gid != o->gid))) {
		snprintf(err, errlen,
			 "control socket %s: not the socket just made (mode %o, owner %u:%u): "
			 "something replaced it",
			 path, (unsigned int)st.st_mode, (unsigned int)st.st_uid,
			 (unsigned int)st.st_gid);
		return -EEXIST;
	}
	if (group[0] && st.st_gid != o->gid &&
	    fchownat(AT_FDCWD, path, (uid_t)-1, o->gid, AT_SYMLINK_NOFOLLOW))
		log_warn("control_access.read_only_group: the control socket's group stays gid "
			 "%u: %s (give the daemon's user group '%s', e.g. SupplementaryGroups= under "
			 "systemd, or start as root), so members of '%s' cannot connect",
			 (unsigned int)st.st_gid, strerror(errno), group, group);
	return 0;
}

static int listen_unix(struct control *ctl, const char *path, const struct control_owner *o,
		       char *err, size_t errlen)
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
	ret = bind_as(fd, &sa, o);
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
		if (o->as_root && privs_fs_as(o->uid, o->gid) == 0) {
			unlink(path);
			privs_fs_restore();
		} else if (!o->as_root) {
			unlink(path);
		}
		ret = bind_as(fd, &sa, o);
	}
	if (ret) {
		snprintf(err, errlen, "control socket %s: bind as %s: %s", path, o->user,
			 strerror(-ret));
		goto err_close;
	}
	ret = check_socket_file(path, o, ctl->read_only_group, err, errlen);
	if (ret)
		goto err_close; /* not ours: not unlinked either */
	if (listen(fd, CONTROL_BACKLOG)) {
		ret = -errno;
		snprintf(err, errlen, "control socket %s: listen: %s", path, strerror(errno));
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
	if (bind(fd, &at->sa, addr_len(at)) || listen(fd, CONTROL_BACKLOG)) {
		ret = -errno;
		snprintf(err, errlen, "metrics listener %s: %s", addr_format(at, ep, sizeof(ep)),
			 strerror(errno));
		close(fd);
		return ret;
	}
	ctl->http_fd = fd;
	return 0;
}

/* The socket's directory, falling back from the default path, which a normal user cannot
 * use (/run/ringrelay is root's), to $XDG_RUNTIME_DIR/ringrelay/ringrelay.sock (where
 * ringrelayctl looks next); a control_socket the config names is used as it is, or the start
 * fails naming the setting. May change cfg->control_socket (at start: no other thread reads
 * it yet). */
static int control_place(struct config *cfg, const struct control_owner *o, char *err,
			 size_t errlen)
{
	char dir[CONFIG_PATH_LEN], alt[CONFIG_PATH_LEN + 64], alt_dir[CONFIG_PATH_LEN + 64];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int ret;

	ret = control_dir_ready(cfg->control_socket, o, dir, sizeof(dir));
	if (ret && !o->as_root && !strcmp(cfg->control_socket, CONFIG_DEFAULT_CONTROL_SOCKET) &&
	    xdg && xdg[0] == '/') {
		snprintf(alt, sizeof(alt), "%s/%s", xdg, CONFIG_USER_CONTROL_SOCKET);
		if (strlen(alt) < sizeof(cfg->control_socket) &&
		    !control_dir_ready(alt, o, alt_dir, sizeof(alt_dir))) {
			log_notice("control socket: %s: %s; using %s (control_socket)", dir,
				   strerror(-ret), alt);
			memcpy(cfg->control_socket, alt, strlen(alt) + 1);
			return 0;
		}
	}
	if (ret == -EACCES && o->as_root && stat(dir, &st))
		snprintf(err, errlen,
			 "%.128s: control_socket: cannot make %.108s: user '%s' may not write its "
			 "parent directory (the directory is made as that user; make it yourself, "
			 "owned by '%s', or choose another control_socket)",
			 cfg->path, dir, o->user, o->user);
	else if (ret == -EACCES && o->as_root)
		snprintf(err, errlen,
			 "%.128s: control_socket: %.108s: user '%s' may not write there, and the "
			 "daemon changes no existing directory: give it to '%s', or use a directory "
			 "of the socket's own (a missing one is made, mode %o, owned by '%s')",
			 cfg->path, dir, o->user, o->user, CONTROL_DIR_MODE, o->user);
	else if (ret)
		snprintf(err, errlen,
			 "%.128s: control_socket: cannot create %.108s: %.64s: %s (set "
			 "control_socket in the config to a path this user can write%s)",
			 cfg->path, cfg->control_socket, dir, strerror(-ret),
			 xdg ? "" : ", or set XDG_RUNTIME_DIR");
	return ret;
}

int control_new(struct app *a, struct config *cfg, const struct privs_who *who,
		struct control **out, char *err, size_t errlen)
{
	struct control_owner o = { .as_root = geteuid() == 0, .uid = who->uid, .gid = who->gid,
				   .user = who->name[0] ? who->name : "?", .group = "" };
	char path[CONFIG_PATH_LEN];
	struct metrics_conf metrics;
	gid_t gid;
	struct control *ctl;
	uint32_t i;
	int ret;

	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "control: out of memory");
		return -ENOMEM;
	}
	ctl->a = a;
	ctl->unix_fd = ctl->http_fd = -1;
	ctl->daemon_uid = who->uid;
	ctl->read_only_gid = (gid_t)-1;
	for (i = 0; i < CONTROL_SLOTS; i++)
		ctl->conns[i].fd = -1;

	snprintf(ctl->read_only_group, sizeof(ctl->read_only_group), "%s",
		 cfg->control_access.read_only_group);
	metrics = cfg->metrics;
	if (ctl->read_only_group[0]) {
		ret = privs_group_gid(ctl->read_only_group, &gid);
		if (ret) {
			snprintf(err, errlen, "control_access.read_only_group: '%s': %s",
				 ctl->read_only_group,
				 ret == -ENOENT ? "no such group" : strerror(-ret));
			goto err_free;
		}
		ctl->read_only_gid = o.gid = gid;
		o.group = ctl->read_only_group;
	}
	ret = control_place(cfg, &o, err, errlen);
	snprintf(path, sizeof(path), "%s", cfg->control_socket);
	if (ret)
		goto err_free;

	ctl->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctl->stop_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "control: eventfd: %s", strerror(errno));
		goto err_free;
	}
	ret = listen_unix(ctl, path, &o, err, errlen);
	if (ret)
		goto err_close_stop;
	if (metrics.enabled) {
		ret = listen_http(ctl, &metrics.listen, err, errlen);
		if (ret)
			goto err_close_unix;
	}
	*out = ctl;
	return 0;

err_close_unix:
	close(ctl->unix_fd);
	unlink(ctl->path);
err_close_stop:
	close(ctl->stop_fd);
err_free:
	free(ctl);
	return ret;
}

int control_start(struct control *ctl, char *err, size_t errlen)
{
	sigset_t all, old;
	int ret;

	/* The thread starts with every signal blocked, so only main's signalfd sees them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&ctl->thread, NULL, control_thread, ctl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		snprintf(err, errlen, "control: pthread_create: %s", strerror(-ret));
		return ret;
	}
	pthread_setname_np(ctl->thread, "ringrelay-ctl");
	ctl->started = true;
	return 0;
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
	/* best effort: the directory may no longer be ours to write after privileges went */
	unlink(c->path);
	close(c->stop_fd);
	free(c);
}
