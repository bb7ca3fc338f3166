/* SPDX-License-Identifier: MIT */
/* The admin thread ("ringrelay-admin"): the one thread that may hold capabilities once the
 * relay runs. It acts on link events (a link that comes, goes, goes up or down, or changes
 * addresses: the filter is attached again to a filtered interface that comes back, the fast
 * path and shedding follow the relays' interfaces) and applies reloads, both from SIGHUP and
 * from `ringrelayctl reload` (a reload may swap the filter's rules, or detach it: it reads the
 * file and resolves names on a thread of its own, ringrelay-load, without capabilities, and
 * applies the result here, link events going on meanwhile); the fast
 * path follows upstream names resolved to new addresses; it applies the napi block to the
 * listen interfaces again after link events and reloads (their NAPI instances are re-made on
 * XDP attach, and on veth when the link goes up). It keeps CAP_NET_ADMIN, CAP_BPF
 * and CAP_PERFMON when the start loaded the BPF program, CAP_NET_ADMIN (and CAP_SYS_NICE for
 * napi.threaded) when a listen interface had a NAPI instance at start, and nothing
 * otherwise; every other thread (control, access log, upkeep, main; workers but for
 * source = "client" and fwmark, hardening.md) runs with no capability at all. What it reads:
 * the config the load thread read (the file, its names resolved), the kernel's netlink
 * messages and the addresses the config's names resolved to (routed like any upstream's),
 * never the network's datagrams or a control client's bytes. */
#ifndef RINGRELAY_ADMIN_H
#define RINGRELAY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct admin;

/* How long `ringrelayctl reload` waits for the admin thread's answer. A reload waits for the
 * workers at most RUNTIME_WORKER_WAIT_MS; this bounds the rest (reading the file, name
 * lookups, the lock). */
#define ADMIN_RELOAD_WAIT_MS 30000

/* Starts the thread. It keeps the capabilities of keep (of those the caller holds):
 * PRIVS_FILTER_CAPS to re-attach a->filter, PRIVS_NAPI_CAPS (and PRIVS_NAPI_THREAD_CAPS) to
 * apply the napi block again; with any, it watches link events for that (app_link_event);
 * with 0 it holds no capability and watches nothing. Returns once the thread has set its
 * capabilities: 0, or -errno with err set. */
int admin_start(struct app *a, uint64_t keep, struct admin **out, char *err, size_t errlen);
/* Asks for a reload without waiting (`ringrelayctl reload`, whose connection waits while the
 * control thread serves others): its ticket, for admin_reload_done. Requests that arrive
 * while a reload waits to begin share it. */
uint64_t admin_reload_ask(struct admin *ad);
/* Whether the reload that covers ticket has finished: then its result (app_reload's: on
 * success err holds its warnings) into *ret and err. */
bool admin_reload_done(struct admin *ad, uint64_t ticket, int *ret, char *err, size_t errlen);
/* An eventfd the thread writes each time a reload finishes: readable, some ticket may be
 * done. Read it to clear it. */
int admin_done_fd(const struct admin *ad);
/* Asks for a reload without waiting (SIGHUP): the result goes to the log and the status. */
void admin_reload_async(struct admin *ad);
/* Asks the thread to make the fast path follow the addresses the relays' upstream names
 * resolved to now (app_upstream_addrs_changed), without waiting. NULL-safe. */
void admin_follow_async(struct admin *ad);
/* Ends reloads, link events and fast-path moves: waits for one in progress, ignores those
 * that follow (their tickets are never done). A reload still reading its file or looking up
 * names is given up, not waited for: it no longer touches the app and is not applied. For
 * the shutdown, after the control thread stopped and before the workers stop. NULL-safe. */
void admin_quiesce(struct admin *ad);
/* Stops and joins the thread, which frees a->filter on its way out (detaching a tc filter
 * needs its CAP_NET_ADMIN), or only detaches it when keep_filter (a stuck worker may still
 * use its maps): call after runtime_stop. NULL-safe. */
void admin_stop(struct admin *ad, bool keep_filter);

#endif
