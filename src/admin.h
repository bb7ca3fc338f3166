/* SPDX-License-Identifier: MIT */
/* The admin thread ("ringrelay-admin"): the one thread that may hold capabilities once the
 * relay runs. It re-attaches the filter when a filtered interface comes back (link events)
 * and applies reloads, both from SIGHUP and from `ringrelayctl reload` (a reload may swap the
 * filter's rules, or detach it). It keeps CAP_NET_ADMIN, CAP_BPF and CAP_PERFMON when a
 * filter is attached at start, and nothing otherwise; every other thread (workers, control,
 * access log, main) runs with no capability at all. Reloads and link events are the only
 * input it reads: the config file and the kernel's netlink messages, never the network's
 * datagrams or a control client's bytes. */
#ifndef RINGRELAY_ADMIN_H
#define RINGRELAY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct admin;

/* How long `ringrelayctl reload` waits for the admin thread's answer. A reload waits for the
 * workers at most RUNTIME_WORKER_WAIT_MS; this bounds the rest (reading the file, the lock). */
#define ADMIN_RELOAD_WAIT_MS 30000

/* Starts the thread. keep_filter: it keeps PRIVS_FILTER_CAPS (of those the caller holds) and
 * watches link events to re-attach a->filter; otherwise it holds no capability and watches
 * nothing. Returns once the thread has set its capabilities: 0, or -errno with err set. */
int admin_start(struct app *a, bool keep_filter, struct admin **out, char *err, size_t errlen);
/* Asks for a reload and waits for its result (at most ADMIN_RELOAD_WAIT_MS): the result of
 * app_reload, or -ETIMEDOUT. Requests that arrive while a reload waits to begin share it. Call
 * with a->lock not held. */
int admin_reload(struct admin *ad, char *err, size_t errlen);
/* Asks for a reload without waiting (SIGHUP): the result goes to the log and the status. */
void admin_reload_async(struct admin *ad);
/* Ends reloads and link events: waits for one in progress, ignores those that follow (a
 * waiting admin_reload then times out). For the shutdown, before the workers stop. NULL-safe. */
void admin_quiesce(struct admin *ad);
/* Stops and joins the thread, which frees a->filter on its way out (detaching a tc filter
 * needs its CAP_NET_ADMIN): call after the workers stopped. NULL-safe. */
void admin_stop(struct admin *ad);

#endif
