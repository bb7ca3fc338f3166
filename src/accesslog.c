// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "log.h"

#define ACCESSLOG_RING 1024 /* events per worker; a power of two */
#define ACCESSLOG_DRAIN_MS 100
#define ACCESSLOG_REPORT_S 10.0 /* how often dropped events are reported */
#define ACCESSLOG_BATCH (64 << 10)

_Static_assert((ACCESSLOG_RING & (ACCESSLOG_RING - 1)) == 0, "ring size is a power of two");

struct accesslog_event {
	char relay[CONFIG_NAME_LEN];
	struct addr client, upstream;
	uint64_t start_ns, end_ns;
	uint64_t up_datagrams, up_bytes, down_datagrams, down_bytes;
	uint32_t worker;
	uint8_t end;
	uint8_t why;
};

/* One producer (a worker), one consumer (the logger). head and tail each have one writer and
 * a cache line of their own; the release store of head publishes the event it follows. */
struct accesslog_ring {
	uint32_t head __attribute__((aligned(64)));
	uint64_t dropped; /* ring full; written by the worker */
	uint32_t tail __attribute__((aligned(64)));
	struct accesslog_event ev[ACCESSLOG_RING];
};

struct accesslog {
	char path[CONFIG_PATH_LEN]; /* "-": the daemon's log */
	enum log_output out;	    /* for a file: TEXT or JSON */
	int fd;
	uint32_t rate;
	uint32_t n_rings;
	struct accesslog_ring *rings;
	int stop_fd;
	pthread_t thread;
	bool started;
	bool stopped; /* accesslog_stop ran */
	/* the logger's own */
	double tokens, last_refill;
	uint64_t written, dropped_rate, reported_full, reported_rate;
	uint64_t dropped_io, reported_io; /* lines a failed write lost */
	int io_errno;			   /* the last such write's error */
	bool reopen_failed;
	bool cut_line; /* the file ends inside a line (a write failed in it) */
	char batch[ACCESSLOG_BATCH];
	size_t batch_len;
};

static const char *const reason_names[] = {
    [ACCESSLOG_IDLE] = "idle",
    [ACCESSLOG_UPSTREAM_REMOVED] = "upstream_removed",
    [ACCESSLOG_LISTENER_REMOVED] = "listener_removed",
    [ACCESSLOG_RELAY_REMOVED] = "relay_removed",
    [ACCESSLOG_MODE_CHANGED] = "mode_changed",
    [ACCESSLOG_FILTER_DENIED] = "filter_denied",
    [ACCESSLOG_SHUTDOWN] = "shutdown",
    [ACCESSLOG_EVICTED] = "evicted",
    [ACCESSLOG_UPSTREAM_DOWN] = "upstream_down",
};

const char *accesslog_reason_name(enum accesslog_reason why)
{
	return why < ACCESSLOG_REASON__MAX ? reason_names[why] : "?";
}

/* ---------------------------------------------------------------- the workers' side */

static void ring_push(struct accesslog_ring *r, const struct accesslog_session *s, bool end,
		      enum accesslog_reason why)
{
	uint32_t head = r->head, tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	struct accesslog_event *e;

	if (head - tail >= ACCESSLOG_RING) {
		__atomic_store_n(&r->dropped, r->dropped + 1, __ATOMIC_RELAXED);
		return;
	}
	e = &r->ev[head & (ACCESSLOG_RING - 1)];
	snprintf(e->relay, sizeof(e->relay), "%s", s->relay);
	e->client = *s->client;
	e->upstream = *s->upstream;
	e->start_ns = s->start_ns;
	e->end_ns = s->end_ns;
	e->up_datagrams = s->up_datagrams;
	e->up_bytes = s->up_bytes;
	e->down_datagrams = s->down_datagrams;
	e->down_bytes = s->down_bytes;
	e->worker = s->worker;
	e->end = end;
	e->why = (uint8_t)why;
	__atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
}

void accesslog_session_start(struct accesslog_ring *ring, const struct accesslog_session *s)
{
	if (ring)
		ring_push(ring, s, false, ACCESSLOG_IDLE);
}

void accesslog_session_end(struct accesslog_ring *ring, const struct accesslog_session *s,
			   enum accesslog_reason why)
{
	if (ring)
		ring_push(ring, s, true, why);
}

/* ---------------------------------------------------------------- formatting */

size_t accesslog_format(const struct accesslog_session *s, bool end, enum accesslog_reason why,
			struct accesslog_text *t, struct log_field *f)
{
	char client[ADDR_STRLEN], upstream[ADDR_STRLEN];
	double dur = s->end_ns > s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e9 : 0.0;
	size_t n = 0;

	addr_format(s->client, client, sizeof(client));
	addr_format(s->upstream, upstream, sizeof(upstream));
#define FIELD(k, isnum, ...)                                                                       \
	do {                                                                                       \
		snprintf(t->store[n], sizeof(t->store[n]), __VA_ARGS__);                           \
		f[n] = (struct log_field){.key = (k), .value = t->store[n], .num = (isnum)};       \
		n++;                                                                               \
	} while (0)
	FIELD("EVENT", false, "%s", end ? "end" : "start");
	FIELD("RELAY", false, "%s", s->relay);
	FIELD("CLIENT", false, "%s", client);
	FIELD("UPSTREAM", false, "%s", upstream);
	FIELD("WORKER", true, "%u", s->worker);
	if (!end) {
		snprintf(t->msg, sizeof(t->msg),
			 "session start relay=%s client=%s upstream=%s "
			 "worker=%u",
			 s->relay, client, upstream, s->worker);
		return n;
	}
	FIELD("DURATION", true, "%.3f", dur);
	FIELD("UP_DATAGRAMS", true, "%llu", (unsigned long long)s->up_datagrams);
	FIELD("UP_BYTES", true, "%llu", (unsigned long long)s->up_bytes);
	FIELD("DOWN_DATAGRAMS", true, "%llu", (unsigned long long)s->down_datagrams);
	FIELD("DOWN_BYTES", true, "%llu", (unsigned long long)s->down_bytes);
	FIELD("REASON", false, "%s", accesslog_reason_name(why));
#undef FIELD
	snprintf(t->msg, sizeof(t->msg),
		 "session end relay=%s client=%s upstream=%s worker=%u duration=%.3f "
		 "up_datagrams=%llu up_bytes=%llu down_datagrams=%llu down_bytes=%llu reason=%s",
		 s->relay, client, upstream, s->worker, dur, (unsigned long long)s->up_datagrams,
		 (unsigned long long)s->up_bytes, (unsigned long long)s->down_datagrams,
		 (unsigned long long)s->down_bytes, accesslog_reason_name(why));
	return n;
}

/* ---------------------------------------------------------------- the logger */

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens the file for appending; *cut says whether it ends inside a line (a full disk cut a
 * write of this process or an earlier one). */
static int open_file(const char *path, bool *cut)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640), rfd;
	struct stat st, rst;
	char last;

	*cut = false;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0)
		return fd;
	/* the file fd writes, not one a rotation put at path in between */
	rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (rfd < 0)
		return fd;
	if (!fstat(rfd, &rst) && rst.st_dev == st.st_dev && rst.st_ino == st.st_ino)
		*cut = pread(rfd, &last, 1, st.st_size - 1) == 1 && last != '\n';
	close(rfd);
	return fd;
}

/* Writes len bytes; returns how many went out before an error (errno says which). */
static size_t write_out(int fd, const char *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n > 0) {
			off += (size_t)n;
		} else if (n == 0 || errno != EINTR) {
			if (n == 0)
				errno = EIO;
			break;
		}
	}
	return off;
}

static void flush_batch(struct accesslog *al)
{
	size_t off = 0;
	int err = 0;

	if (!al->batch_len)
		return;
	/* The start of a line a failed write cut is in the file: end it first, so that the
	 * next line is not glued to it. */
	if (al->cut_line) {
		if (write_out(al->fd, "\n", 1) == 1)
			al->cut_line = false;
		else
			err = errno;
	}
	if (!err) {
		off = write_out(al->fd, al->batch, al->batch_len);
		if (off < al->batch_len)
			err = errno;
		if (off)
			al->cut_line = al->batch[off - 1] != '\n';
	}
	if (err) {
		/* a full disk loses these lines, not the relay; report_drops says so */
		al->io_errno = err;
		for (; off < al->batch_len; off++)
			al->dropped_io += al->batch[off] == '\n';
	}
	al->batch_len = 0;
}

/* logrotate moved or removed the file: write to a new one at the configured path. */
static void check_rotated(struct accesslog *al)
{
	struct stat now, ours;
	bool cut;
	int fd;

	if (al->fd < 0 || fstat(al->fd, &ours))
		return;
	if (!stat(al->path, &now) && now.st_dev == ours.st_dev && now.st_ino == ours.st_ino)
		return;
	flush_batch(al);
	fd = open_file(al->path, &cut);
	if (fd < 0) {
		if (!al->reopen_failed)
			log_warn("access_log %s: reopen after rotation: %s (writing on to the old "
				 "file)",
				 al->path, strerror(errno));
		al->reopen_failed = true;
		return;
	}
	al->reopen_failed = false;
	close(al->fd);
	al->fd = fd;
	al->cut_line = cut;
}

static bool take_token(struct accesslog *al)
{
	double now = clock_s(CLOCK_MONOTONIC);

	al->tokens += (now - al->last_refill) * al->rate;
	if (al->tokens > al->rate)
		al->tokens = al->rate; /* a burst of at most one second's worth */
	al->last_refill = now;
	if (al->tokens < 1.0) {
		al->dropped_rate++;
		return false;
	}
	al->tokens -= 1.0;
	return true;
}

static void write_event(struct accesslog *al, const struct accesslog_event *e, double offset)
{
	struct accesslog_session s = {
	    .relay = e->relay,
	    .worker = e->worker,
	    .client = &e->client,
	    .upstream = &e->upstream,
	    .start_ns = e->start_ns,
	    .end_ns = e->end_ns,
	    .up_datagrams = e->up_datagrams,
	    .up_bytes = e->up_bytes,
	    .down_datagrams = e->down_datagrams,
	    .down_bytes = e->down_bytes,
	};
	struct log_field f[12];
	struct accesslog_text t;
	size_t n;

	if (!take_token(al))
		return;
	n = accesslog_format(&s, e->end, (enum accesslog_reason)e->why, &t, f);
	al->written++;
	if (al->fd < 0) {
		log_fields(LOG_LVL_INFO, f, n, "%s", t.msg);
		return;
	}
	if (ACCESSLOG_BATCH - al->batch_len < 1024)
		flush_batch(al);
	al->batch_len += log_format_line(
	    al->batch + al->batch_len, ACCESSLOG_BATCH - al->batch_len, al->out,
	    (double)(e->end ? e->end_ns : e->start_ns) / 1e9 + offset, LOG_LVL_INFO, f, n, t.msg);
}

static void drain(struct accesslog *al)
{
	/* worker_clock() is CLOCK_MONOTONIC_COARSE: events carry it, lines carry wall time */
	double offset = clock_s(CLOCK_REALTIME) - clock_s(CLOCK_MONOTONIC_COARSE);
	uint32_t i;

	for (i = 0; i < al->n_rings; i++) {
		struct accesslog_ring *r = &al->rings[i];
		uint32_t tail = r->tail, head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);

		for (; tail != head; tail++)
			write_event(al, &r->ev[tail & (ACCESSLOG_RING - 1)], offset);
		__atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
	}
	if (al->fd >= 0)
		flush_batch(al);
}

static void report_drops(struct accesslog *al)
{
	uint64_t full = 0, rate = al->dropped_rate;
	uint32_t i;

	for (i = 0; i < al->n_rings; i++)
		full += __atomic_load_n(&al->rings[i].dropped, __ATOMIC_RELAXED);
	if (al->dropped_io != al->reported_io) {
		log_warn("access log %s: %llu line(s) lost to write errors since the last report "
			 "(last: %s)",
			 al->path, (unsigned long long)(al->dropped_io - al->reported_io),
			 strerror(al->io_errno));
		al->reported_io = al->dropped_io;
	}
	if (full == al->reported_full && rate == al->reported_rate)
		return;
	log_warn("access log: %llu session event(s) not written since the last report: %llu over "
		 "access_log_rate = %u/s, %llu while a worker's queue was full",
		 (unsigned long long)(full - al->reported_full + rate - al->reported_rate),
		 (unsigned long long)(rate - al->reported_rate), al->rate,
		 (unsigned long long)(full - al->reported_full));
	al->reported_full = full;
	al->reported_rate = rate;
}

static void *logger_thread(void *arg)
{
	struct accesslog *al = arg;
	struct pollfd pfd = {.fd = al->stop_fd, .events = POLLIN};
	double next_report = clock_s(CLOCK_MONOTONIC) + ACCESSLOG_REPORT_S, next_stat = 0;

	for (;;) {
		int n = poll(&pfd, 1, ACCESSLOG_DRAIN_MS);
		double now = clock_s(CLOCK_MONOTONIC);

		drain(al);
		if (now >= next_stat) {
			check_rotated(al);
			next_stat = now + 1.0;
		}
		if (now >= next_report) {
			report_drops(al);
			next_report = now + ACCESSLOG_REPORT_S;
		}
		if (n > 0)
			break;
	}
	return NULL;
}

int accesslog_new(const struct config *cfg, uint32_t n_workers, struct accesslog **out, char *err,
		  size_t errlen)
{
	struct accesslog *al;
	int ret;

	*out = NULL;
	if (!cfg->access_log[0])
		return 0;
	al = calloc(1, sizeof(*al));
	if (al)
		al->rings = aligned_alloc(64, sizeof(*al->rings) * (n_workers ? n_workers : 1));
	if (!al || !al->rings) {
		free(al);
		snprintf(err, errlen, "access_log: out of memory");
		return -ENOMEM;
	}
	memset(al->rings, 0, sizeof(*al->rings) * (n_workers ? n_workers : 1));
	snprintf(al->path, sizeof(al->path), "%s", cfg->access_log);
	al->out = cfg->log_format == LOG_FORMAT_JSON ? LOG_OUT_JSON : LOG_OUT_TEXT;
	al->rate = cfg->access_log_rate;
	al->tokens = al->rate;
	al->last_refill = clock_s(CLOCK_MONOTONIC);
	al->n_rings = n_workers;
	al->fd = -1;
	al->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (al->stop_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "access_log: eventfd: %s", strerror(-ret));
		goto err_free;
	}
	if (strcmp(al->path, "-") != 0) {
		al->fd = open_file(al->path, &al->cut_line);
		if (al->fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "%.128s: access_log: %.128s: %s", cfg->path, al->path,
				 strerror(-ret));
			goto err_close;
		}
	}
	*out = al;
	return 0;

err_close:
	close(al->stop_fd);
err_free:
	free(al->rings);
	free(al);
	return ret;
}

int accesslog_start(struct accesslog *al)
{
	sigset_t all, old;
	int ret;

	if (!al)
		return 0;
	/* signals stay main's (signalfd) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&al->thread, NULL, logger_thread, al);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	al->started = ret == 0;
	return ret;
}

void accesslog_stop(struct accesslog *al)
{
	uint64_t one = 1;

	if (!al || al->stopped)
		return;
	if (al->started) {
		if (write(al->stop_fd, &one, sizeof(one)) < 0)
			log_warn("access log: cannot stop the logger: %s", strerror(errno));
		pthread_join(al->thread, NULL);
	}
	drain(al);
	report_drops(al);
	al->stopped = true;
}

void accesslog_free(struct accesslog *al)
{
	if (!al)
		return;
	accesslog_stop(al);
	if (al->fd >= 0)
		close(al->fd);
	close(al->stop_fd);
	free(al->rings);
	free(al);
}

struct accesslog_ring *accesslog_ring(struct accesslog *al, uint32_t i)
{
	return al && i < al->n_rings ? &al->rings[i] : NULL;
}
