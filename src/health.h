/* SPDX-License-Identifier: MIT */
/* One upstream's health, as a pure state machine: main's upkeep thread feeds it what the
 * workers observed (passive: failures and replies, summed over workers since the last tick)
 * and what the active checks found, with the time; it answers whether the upstream may take
 * new sessions. No clock, no I/O, no lock: the caller owns the struct and the time.
 *
 * Passive (nginx's max_fails / fail_timeout): a failure is an ICMP unreachable reported for
 * the upstream, or (forward mode, with reply_timeout) a new session that got no reply within
 * reply_timeout. max_fails failures in a row, without a reply in between, eject the upstream
 * for fail_timeout, doubled for each ejection in a row up to 8 x fail_timeout (a back-off);
 * a reply or a successful active check ends the series (and an ejection early). The caller
 * may forbid an ejection (the upstream is its relay's last one up): the series then stays
 * at max_fails, held, and the next failure once it is allowed ejects.
 *
 * Active (HAProxy's rise / fall): fall failed checks in a row mark it down, rise good ones
 * mark it up again. It starts up. */
#ifndef RINGRELAY_HEALTH_H
#define RINGRELAY_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#define HEALTH_BACKOFF_MAX 8 /* the longest ejection, in fail_timeouts */

struct health_conf {
	uint32_t max_fails;    /* 0: no passive health */
	uint64_t fail_timeout; /* ns */
	uint32_t rise, fall;   /* active checks; 0: none */
};

enum health_state {
	HEALTH_UP,	/* takes new sessions */
	HEALTH_EJECTED, /* passive: too many failures in a row, until ejected_until */
	HEALTH_DOWN,	/* active: fall checks failed in a row */
};

struct health {
	uint32_t streak;	       /* passive failures in a row */
	uint32_t ejections;	       /* ejections in a row (the back-off's exponent) */
	uint64_t ejected_until;	       /* ns; 0: not ejected */
	bool check_down;	       /* active verdict */
	uint32_t check_ok, check_fail; /* active results in a row */
	uint64_t total_ejections;      /* for the operator */
	bool held; /* an ejection was due but not allowed (the last one up), until it is made */
};

enum health_state health_state(const struct health *h);
/* "up", "ejected", "down". */
const char *health_state_name(enum health_state s);

/* Passive: fails failures and oks replies were seen since the last call, at now. A reply
 * ends the series (and an ejection). may_eject false: max_fails in a row do not eject, they
 * hold (h->held). Returns true when the state changed. */
bool health_observe(struct health *h, const struct health_conf *c, uint64_t fails, uint64_t oks,
		    bool may_eject, uint64_t now);
/* An ejection whose time is up ends at now. Returns true when the state changed. */
bool health_expire(struct health *h, uint64_t now);
/* Active: one check's result at now. A good one also ends a passive ejection. Returns true
 * when the state changed. */
bool health_check_result(struct health *h, const struct health_conf *c, bool ok, uint64_t now);

#endif
