// SPDX-License-Identifier: MIT
/* ringrelayctl: sends one command line to the daemon's control socket and prints the answer.
 * The daemon renders both the tables and the JSON (src/control.c), so this program stays a
 * thin client: connect, send, read until the daemon closes, check the status line. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h" /* the default socket, and nothing that needs linking */

#define CTL_TIMEOUT_MS 10000
/* A reload parses the config and waits for every worker to apply it. */
#define CTL_RELOAD_TIMEOUT_MS 60000
#define CTL_ANSWER_MAX (64u << 20)

struct ctl_options {
	const char *socket;
	bool socket_default; /* no -s: the user's runtime directory is tried next */
	bool json;
	const char *cmd;
	const char *args[3];
	int n_args;
	int timeout_ms; /* -T; 0: the command's default */
};

static void ctl_usage(FILE *f)
{
	fprintf(f,
		"usage: ringrelayctl [-s SOCKET] [-j] [-T SECONDS] COMMAND\n"
		"\n"
		"commands:\n"
		"  status            version, uptime, workers, relays, filter, reloads\n"
		"  stats             datagrams, bytes, drops and sessions per relay and worker\n"
		"  sessions [RELAY]  open forward sessions (at most 10000 listed)\n"
		"  upstreams [RELAY] each upstream's state, sessions and counters\n"
		"  upstream disable|enable RELAY ADDRESS\n"
		"                    drain an upstream (no new sessions) or take it back\n"
		"  reload            re-read the configuration; fails with FILE:LINE on errors,\n"
		"                    prints warnings (e.g. a setting that needs a restart)\n"
		"  filter            filter mode, rules, counters and per-rule hits\n"
		"\n"
		"options:\n"
		"  -s, --socket PATH  control socket (default %s, then\n"
		"                     $XDG_RUNTIME_DIR/%s)\n"
		"  -j, --json         JSON instead of tables\n"
		"  -T, --timeout S    give up after S seconds (default 10, 60 for reload)\n"
		"  -V, --version      print the version\n"
		"  -h, --help         this help\n",
		CONFIG_DEFAULT_CONTROL_SOCKET, CONFIG_USER_CONTROL_SOCKET);
}

static int ctl_parse_args(int argc, char **argv, struct ctl_options *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* each command and how many arguments it takes at most */
	static const struct {
		const char *name;
		int max_args;
	} cmds[] = { { "status", 0 },	 { "stats", 0 },    { "sessions", 1 }, { "upstreams", 1 },
		     { "upstream", 3 }, { "reload", 0 }, { "filter", 0 } };
	double secs;
	char *end;
	size_t i;
	int c, k;

	o->socket = CONFIG_DEFAULT_CONTROL_SOCKET;
	o->socket_default = true;
	while ((c = getopt_long(argc, argv, "s:jT:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			o->socket_default = false;
			break;
		case 'j':
			o->json = true;
			break;
		case 'T':
			secs = strtod(optarg, &end);
			if (end == optarg || *end || !(secs >= 0.001 && secs <= 86400)) {
				fprintf(stderr, "ringrelayctl: -T %s: want seconds, 0.001 to 86400\n",
					optarg);
				return -EINVAL;
			}
			o->timeout_ms = (int)(secs * 1000 + 0.5);
			break;
		case 'V':
			if (RINGRELAY_GIT[0])
				printf("ringrelayctl %s (git %s)\n", RINGRELAY_VERSION,
				       RINGRELAY_GIT);
			else
				printf("ringrelayctl %s\n", RINGRELAY_VERSION);
			exit(0);
		case 'h':
			ctl_usage(stdout);
			exit(0);
		default:
			ctl_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ringrelayctl: missing command\n");
		ctl_usage(stderr);
		return -EINVAL;
	}
	o->cmd = argv[optind++];
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(o->cmd, cmds[i].name))
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		fprintf(stderr, "ringrelayctl: unknown command '%s'\n", o->cmd);
		ctl_usage(stderr);
		return -EINVAL;
	}
	while (optind < argc && o->n_args < cmds[i].max_args)
		o->args[o->n_args++] = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "ringrelayctl: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	for (k = 0; k < o->n_args; k++) {
		if (!*o->args[k] || strpbrk(o->args[k], " \t\r\n") || !strcmp(o->args[k], "json")) {
			fprintf(stderr, "ringrelayctl: '%s' cannot be an argument\n", o->args[k]);
			return -EINVAL;
		}
	}
	return 0;
}

/* Says why a connect to path failed with err, and what to do. */
static void ctl_connect_failed(const char *path, int err, int timeout_ms)
{
	if (err == EAGAIN)
		fprintf(stderr,
			"ringrelayctl: %s: ringrelay took no connection in %d ms (its control "
			"thread is stuck or out of descriptors: see its log)\n",
			path, timeout_ms);
	else if (err == ENOENT || err == ECONNREFUSED)
		fprintf(stderr,
			"ringrelayctl: ringrelay is not running (nothing answers on %s: %s); "
			"use -s SOCKET if it uses another control_socket\n",
			path, strerror(err));
	else if (err == EACCES || err == EPERM)
		fprintf(stderr,
			"ringrelayctl: %s: %s (run as root, as the daemon's user or as a "
			"member of its control_access.read_only_group)\n",
			path, strerror(err));
	else
		fprintf(stderr, "ringrelayctl: connect %s: %s\n", path, strerror(err));
}

/* Connects to path within timeout_ms; unless quiet, prints why not (with what to do);
 * returns the fd or -errno. */
static int ctl_connect(const char *path, bool quiet, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	/* A unix connect waits while the listener's backlog is full (a daemon whose control
	 * thread is stuck or out of descriptors) up to the send timeout, then fails EAGAIN. */
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		if (!quiet)
			fprintf(stderr, "ringrelayctl: socket path %s is too long\n", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		if (!quiet)
			fprintf(stderr, "ringrelayctl: socket: %s\n", strerror(err));
		return -err;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = errno;
		if (!quiet)
			ctl_connect_failed(path, err, timeout_ms);
		close(fd);
		return -err;
	}
	return fd;
}

/* Without -s: the default socket, then where a normal user's daemon puts it when it cannot
 * write the default's directory ($XDG_RUNTIME_DIR/ringrelay/ringrelay.sock). */
static int ctl_connect_default(struct ctl_options *o, int timeout_ms)
{
	static char alt[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *xdg = getenv("XDG_RUNTIME_DIR"), *first;
	uint64_t t0, spent;
	int fd, fd2;

	if (!o->socket_default || !xdg || xdg[0] != '/' ||
	    (size_t)snprintf(alt, sizeof(alt), "%s/%s", xdg, CONFIG_USER_CONTROL_SOCKET) >=
		sizeof(alt) ||
	    access(alt, F_OK))
		return ctl_connect(o->socket, false, timeout_ms);
	t0 = clock_ms();
	fd = ctl_connect(o->socket, true, timeout_ms);
	/* only where nothing listens (or where we may not look: the service's directory of a
	 * user who is not in its group); a daemon there that takes no connection is the
	 * answer */
	if (fd >= 0)
		return fd;
	if (fd != -ENOENT && fd != -ECONNREFUSED && fd != -EACCES && fd != -EPERM) {
		ctl_connect_failed(o->socket, -fd, timeout_ms);
		return fd;
	}
	spent = clock_ms() - t0;
	first = o->socket;
	o->socket = alt;
	fd2 = ctl_connect(alt, false, spent < (uint64_t)timeout_ms ? timeout_ms - (int)spent : 1);
	/* the default's refusal is likely what the user needs to hear, not only the other's */
	if (fd2 < 0 && (fd == -EACCES || fd == -EPERM))
		ctl_connect_failed(first, -fd, timeout_ms);
	return fd2;
}

/* Sends line and reads the whole answer until the daemon closes. */
static int ctl_exchange(int fd, const char *line, int timeout_ms, char **answer, size_t *len)
{
	uint64_t deadline = clock_ms() + (uint64_t)timeout_ms;
	size_t cap = 65536, n = 0, off = 0, ll = strlen(line);
	char *buf = malloc(cap), *bigger;
	struct pollfd pfd = { .fd = fd };
	ssize_t r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		uint64_t now = clock_ms();

		if (now >= deadline) {
			free(buf);
			return -ETIMEDOUT;
		}
		pfd.events = off < ll ? POLLOUT : POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		if (off < ll) {
			r = send(fd, line + off, ll - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			/* A daemon that refuses us (permission denied, busy) answers and closes
			 * at once: what it said is still there to read. */
			if (r < 0 && (errno == EPIPE || errno == ECONNRESET)) {
				off = ll;
				continue;
			}
			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				free(buf);
				return -errno;
			}
			off += r > 0 ? (size_t)r : 0;
			continue;
		}
		if (n == cap) {
			if (cap >= CTL_ANSWER_MAX) {
				free(buf);
				return -EMSGSIZE;
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				return -ENOMEM;
			}
			buf = bigger;
			cap *= 2;
		}
		r = recv(fd, buf + n, cap - n, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			/* ... and closed while our request was still unread: the kernel reports a
			 * reset once what it sent is read. */
			if (errno == ECONNRESET && n > 0)
				break;
			free(buf);
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*answer = buf;
	*len = n;
	return 0;
}

/* The first line of an answer, head bytes without its newline: "ok" (*bare: an older daemon,
 * which sends no length) or "ok LENGTH" (*want). -EINVAL for anything else. */
static int ctl_ok_length(const char *head_line, size_t head, bool *bare, size_t *want)
{
	size_t i, n = 0;

	if (head < 2 || memcmp(head_line, "ok", 2))
		return -EINVAL;
	*bare = head == 2;
	*want = 0;
	if (*bare)
		return 0;
	if (head == 3 || head_line[2] != ' ')
		return -EINVAL;
	for (i = 3; i < head; i++) {
		if (head_line[i] < '0' || head_line[i] > '9')
			return -EINVAL;
		n = n * 10 + (size_t)(head_line[i] - '0');
		if (n > CTL_ANSWER_MAX) /* more than ctl_exchange reads: no answer of ours */
			return -EINVAL;
	}
	*want = n;
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl_options o = { 0 };
	char line[600], *answer = NULL, *nl;
	size_t len = 0, head, want;
	int fd, ret, status = 1, timeout_ms;
	uint64_t t0, spent;
	bool bare;

	if (ctl_parse_args(argc, argv, &o))
		return 1;
	snprintf(line, sizeof(line), "%s%s%s%s%s%s%s%s\n", o.cmd, o.n_args > 0 ? " " : "",
		 o.n_args > 0 ? o.args[0] : "", o.n_args > 1 ? " " : "",
		 o.n_args > 1 ? o.args[1] : "", o.n_args > 2 ? " " : "",
		 o.n_args > 2 ? o.args[2] : "", o.json ? " json" : "");

	timeout_ms = o.timeout_ms ? o.timeout_ms
				  : strcmp(o.cmd, "reload") ? CTL_TIMEOUT_MS : CTL_RELOAD_TIMEOUT_MS;
	t0 = clock_ms();
	fd = ctl_connect_default(&o, timeout_ms);
	if (fd < 0)
		return 1;
	/* one budget for the connect and the exchange */
	spent = clock_ms() - t0;
	ret = spent >= (uint64_t)timeout_ms
		      ? -ETIMEDOUT
		      : ctl_exchange(fd, line, timeout_ms - (int)spent, &answer, &len);
	close(fd);
	if (ret) {
		fprintf(stderr, "ringrelayctl: %s: %s\n", o.cmd,
			ret == -ETIMEDOUT ? "no answer from ringrelay in time" : strerror(-ret));
		return 1;
	}
	nl = memchr(answer, '\n', len);
	head = nl ? (size_t)(nl - answer) : len;
	if (nl && ctl_ok_length(answer, head, &bare, &want) == 0) {
		/* "ok LENGTH": a shorter body was cut (the daemon's 5 s for a reader, or its
		 * stop); "ok" alone comes from an older daemon, which sends no length */
		if (!bare && want > len - head - 1) {
			fprintf(stderr, "ringrelayctl: %s: the answer was cut short (%zu of %zu "
					"bytes); ask again\n",
				o.cmd, len - head - 1, want);
		} else if (!bare && want < len - head - 1) {
			fprintf(stderr, "ringrelayctl: %s: the answer is longer than it says (%zu, "
					"not %zu bytes): not ringrelay's\n",
				o.cmd, len - head - 1, want);
		} else {
			fwrite(nl + 1, 1, len - head - 1, stdout);
			status = fflush(stdout) ? 1 : 0;
		}
	} else if (head > 7 && !memcmp(answer, "error: ", 7)) {
		fprintf(stderr, "ringrelayctl: %s: %.*s\n", o.cmd, (int)(head - 7), answer + 7);
	} else {
		fprintf(stderr, "ringrelayctl: %s: unexpected answer from %s\n", o.cmd, o.socket);
	}
	free(answer);
	return status;
}
