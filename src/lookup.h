/* SPDX-License-Identifier: MIT */
/* Upstream names looked up on a thread of their own. A resolver that does not answer (a DNS
 * server gone: seconds per name, as resolv.conf's timeout and attempts say) then holds
 * neither the caller's other work (the upkeep thread's health checks) nor a stop: the caller
 * drops the batch, and the thread frees it when its lookups end, or ends with the process. */
#ifndef RINGRELAY_LOOKUP_H
#define RINGRELAY_LOOKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct lookup_batch;

/* Starts looking up the addresses of ents[0..n) (config_entry_addrs in family: a literal
 * entry stands for its own address) on a detached thread, which inherits the caller's
 * signal mask and drops every capability first. Returns 0, or -errno with nothing started. */
int lookup_start(const struct upstream_conf *ents, uint32_t n, int family,
		 struct lookup_batch **out);
/* An eventfd that becomes readable when every entry is done. */
int lookup_fd(const struct lookup_batch *b);
/* Whether every entry is done: their results may be read. */
bool lookup_done(const struct lookup_batch *b);
/* Entry i's result (lookup_done): its number of addresses, at *addrs, or -errno with *why. */
int lookup_result(const struct lookup_batch *b, uint32_t i, const struct addr **addrs,
		  const char **why);
/* Looks host up as config_resolve_host does (its result into out[0..max), or -errno with why),
 * on a batch thread: waits for it until cancelled(arg) says true (asked every 50 ms: the
 * process stops), then returns -ECANCELED ("lookup given up") and leaves the lookup to end on
 * its own. */
int lookup_host(const char *host, uint16_t port, int family, struct addr *out, uint32_t max,
		bool (*cancelled)(void *arg), void *arg, char *why, size_t whylen);
/* Drops the caller's hold: the batch is freed now if its thread is done, else by the thread.
 * NULL-safe. */
void lookup_put(struct lookup_batch *b);

#endif
