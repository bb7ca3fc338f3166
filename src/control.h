/* SPDX-License-Identifier: MIT */
/* The control plane: one thread serving the unix control socket (ringrelayctl's line
 * protocol, described in docs/ringrelayctl.8) with access levels from the peer's credentials
 * and, when configured, Prometheus /metrics over HTTP/1.0. It only reads daemon state, under
 * the app lock, and asks the admin thread for reloads. */
#ifndef RINGRELAY_CONTROL_H
#define RINGRELAY_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct app;
struct config;
struct control;
struct privs_who;

/* Makes the control plane's sockets for the configuration cfg the daemon starts with, as
 * root before privileges go, or as whoever we run as: the unix stream socket at
 * cfg->control_socket and, when cfg->metrics.enabled, an HTTP/1.0 listener on metrics.listen
 * serving GET /metrics. At start, before anything touches the host: the socket, listening
 * from here on (served once control_start runs), is what tells a second start of the same
 * configuration that this one runs, also while this one still sets up.
 *
 * The socket's directory is made when missing (its parent must exist), mode 0750 and owned
 * by who's user and control_access.read_only_group (else who's group); an existing one is
 * used as it is, never chmod'ed or chown'ed, and must be writable by who. The socket is made
 * 0660 by bind itself (fchmod and umask, nothing by path afterwards), owned the same way;
 * a stale socket file is removed only if nothing answers on it, else this fails with
 * "another ringrelay is running". For a normal user the default path falls back to
 * $XDG_RUNTIME_DIR/ringrelay/ringrelay.sock (cfg->control_socket then says so). The paths
 * and addresses are taken once: a reload does not move them. Returns 0 or -errno with one
 * line in err. */
int control_new(struct app *a, struct config *cfg, const struct privs_who *who,
		struct control **out, char *err, size_t errlen);

/* Starts the control thread ("ringrelay-ctl"; all signals blocked; it inherits the caller's
 * capabilities, so start it once main has dropped them): one poll loop, access levels from
 * each peer's credentials, bounded pools and deadlines (control.c). Returns 0 or -errno. */
int control_start(struct control *c, char *err, size_t errlen);

/* An HTTP request-line, as control_http_parse reads it: pointers into the request. */
struct control_http_req {
	const char *method;
	const char *path;	/* origin-form: "/..." without the query */
	bool per_worker;	/* the query had per_worker=1 (or true) */
};

/* Parses the request-line at the start of req (NUL-terminated; written into): skips the empty
 * lines before it (RFC 9112 2.2), takes an absolute-form target (http://host:port/path) as
 * its path, and of the query ("a=b&c=d") per_worker only, other keys ignored. Pure. Returns
 * 0, or -EINVAL when it is no HTTP/1.x request-line (method, *r->method still set when
 * there was one, for HEAD's answer). */
int control_http_parse(char *req, struct control_http_req *r);

/* Stops and joins the thread, closes the sockets and unlinks the control socket; NULL-safe,
 * also for a control that was never started. */
void control_stop(struct control *c);

#endif
