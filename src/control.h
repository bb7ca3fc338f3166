/* SPDX-License-Identifier: MIT */
/* The control plane: one thread serving the unix control socket (ringrelayctl's line
 * protocol, described in docs/ringrelayctl.8) and, when configured, Prometheus /metrics over
 * HTTP/1.0. It only reads daemon state, under the app lock, and triggers reloads. */
#ifndef RINGRELAY_CONTROL_H
#define RINGRELAY_CONTROL_H

#include <stddef.h>

struct app;
struct control;

/* Starts the control thread (blocks all signals): a unix stream socket at
 * a->rt.cfg->control_socket (its directory must exist: main makes it, and hands it to the
 * configured user, before privileges go; socket mode 0660; a stale socket file is removed
 * only if nothing answers on it, else this fails with "another ringrelay is running"), and,
 * when a->rt.cfg->metrics.enabled, an HTTP/1.0 listener on a->rt.cfg->metrics.listen serving
 * GET /metrics. One poll loop, bounded request sizes and timeouts so a stuck client cannot
 * block it. The paths and addresses are taken once: a reload does not move them. Call with
 * a->lock not held. Returns 0 or -errno with one line in err. */
int control_start(struct app *a, struct control **out, char *err, size_t errlen);

/* Stops and joins the thread, closes the sockets and unlinks the control socket; NULL-safe. */
void control_stop(struct control *c);

#endif
