/* SPDX-License-Identifier: MIT */
/* A stage of the BPF program (the fast path, shedding) made to run where the relays that
 * want it need it, and nowhere else, when some of its attaches fail: docs/offload.md. */
#ifndef RINGRELAY_STAGE_H
#define RINGRELAY_STAGE_H

#include <stddef.h>
#include <stdint.h>

/* What a stage supplies; arg is the caller's (its relays' states and its table of wants). */
struct stage_ops {
	/* Collects, per interface, what the relays still on want: returns how many. */
	uint32_t (*wants)(void *arg);
	/* Detaches the stage where it runs but is not wanted (or wanted in another hook). */
	void (*prune)(void *arg);
	/* Attaches want k: 0, or -errno with err set. */
	int (*attach)(void *arg, uint32_t k, char *err, size_t errlen);
	/* Moves every relay that wants want k down, with err in its reason: off, or to the
	 * stage's lesser hook where it has one (the fast path: native XDP refused, tc). */
	void (*fail)(void *arg, uint32_t k, const char *err);
};

/* Attaches in rounds: each collects what the relays still on want, detaches what runs and is
 * not wanted, then attaches until an attach fails. A failure turns the relays on that
 * interface off (or to a lesser hook), and the next round takes off what they alone needed,
 * attached before it or not yet: a relay that cannot have the stage everywhere has it nowhere
 * (in that hook). Each failure moves at least one relay down, at most twice each (XDP, tc,
 * off), so it ends within (2 * relays + 1) rounds, the last of which attached all it wanted
 * and left nothing else. */
void stage_attach(const struct stage_ops *ops, void *arg);

#endif
