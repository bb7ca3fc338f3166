/* SPDX-License-Identifier: MIT */
/* The per-session access log (access_log in the config): one line when a forward session
 * starts and one when it ends (upstream, datagrams and bytes each way, duration, why it
 * ended), written off the hot path. A worker only copies an event into its own
 * single-producer ring (no lock, no syscall, never blocks: a full ring drops the event and
 * counts it); one logger thread drains every ring a few times a second and writes at most
 * access_log_rate lines per second (the rest are counted and reported as a warning). Lines go
 * to a file (text or JSON per log_format; reopened when logrotate moves it) or, for "-", to
 * the daemon's log, where the journal gets RELAY=, CLIENT=, UPSTREAM=, WORKER=, ... fields.
 * Only session starts and ends are events: nothing is logged per datagram. */
#ifndef RINGRELAY_ACCESSLOG_H
#define RINGRELAY_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"

struct accesslog;
struct accesslog_ring;

enum accesslog_reason {
	ACCESSLOG_IDLE,		    /* session_timeout passed without a datagram */
	ACCESSLOG_UPSTREAM_REMOVED, /* a reload removed its upstream */
	ACCESSLOG_LISTENER_REMOVED, /* a reload removed the listener it came in on */
	ACCESSLOG_RELAY_REMOVED,    /* a reload removed its relay */
	ACCESSLOG_MODE_CHANGED,	    /* a reload turned its relay into a mirror */
	ACCESSLOG_SHUTDOWN,	    /* the daemon stopped */
	ACCESSLOG_FILTER_DENIED,    /* a reload's filter rules deny its client (fast path) */
	ACCESSLOG_EVICTED,	    /* the table was full: ended for a new client */
	ACCESSLOG_UPSTREAM_DOWN,    /* its upstream was ejected or marked down (upstream_down) */
	ACCESSLOG_REASON__MAX
};

/* What a worker knows about a session when it starts or ends. Times are worker_clock() ns. */
struct accesslog_session {
	const char *relay;
	uint32_t worker;
	const struct addr *client;
	const struct addr *upstream;
	uint64_t start_ns, end_ns;
	uint64_t up_datagrams, up_bytes;     /* from the client, to the upstream */
	uint64_t down_datagrams, down_bytes; /* from the upstream, to the client */
};

/* Opens cfg's access log (a file is opened now, before privileges drop) with one ring per
 * worker. Returns 0 with *out NULL when access_log is "", 0 with *out set, or -errno with
 * err set. */
int accesslog_new(const struct config *cfg, uint32_t n_workers, struct accesslog **out, char *err,
		  size_t errlen);
/* Starts the logger thread (after privileges drop). Returns 0 or -errno. */
int accesslog_start(struct accesslog *al);
/* Stops the thread after writing what the rings hold and reports drops; the rings stay (an
 * exit that leaves a worker writing to its ring). NULL and repeat safe. */
void accesslog_stop(struct accesslog *al);
/* accesslog_stop, then frees. NULL is fine. */
void accesslog_free(struct accesslog *al);
/* Worker i's ring, for that worker alone to write. */
struct accesslog_ring *accesslog_ring(struct accesslog *al, uint32_t i);

/* Called by the worker that owns ring (NULL: the access log is off). Never blocks. */
void accesslog_session_start(struct accesslog_ring *ring, const struct accesslog_session *s);
void accesslog_session_end(struct accesslog_ring *ring, const struct accesslog_session *s,
			   enum accesslog_reason why);

/* "idle", "evicted", "upstream_removed", "listener_removed", "relay_removed",
 * "mode_changed", "shutdown", "filter_denied". */
const char *accesslog_reason_name(enum accesslog_reason why);

/* For tests and the logger: the text of one event (message, no time or level), and its
 * fields (RELAY, CLIENT, UPSTREAM, WORKER, EVENT, and for an end DURATION, UP_DATAGRAMS,
 * UP_BYTES, DOWN_DATAGRAMS, DOWN_BYTES, REASON) pointing into store. Returns the number of
 * fields. end is false for a start (why is then ignored). */
struct log_field;
struct accesslog_text {
	char msg[512];
	char store[12][64];
};
size_t accesslog_format(const struct accesslog_session *s, bool end, enum accesslog_reason why,
			struct accesslog_text *t, struct log_field *f);

#endif
