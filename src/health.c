// SPDX-License-Identifier: MIT
#include "health.h"

enum health_state health_state(const struct health *h)
{
	if (h->check_down)
		return HEALTH_DOWN;
	return h->ejected_until ? HEALTH_EJECTED : HEALTH_UP;
}

const char *health_state_name(enum health_state s)
{
	static const char *const names[] = {
	    [HEALTH_UP] = "up", [HEALTH_EJECTED] = "ejected", [HEALTH_DOWN] = "down"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* Life seen (a reply, a good check): the series ends, and so does an ejection. */
static void health_alive(struct health *h)
{
	h->streak = 0;
	h->ejections = 0;
	h->ejected_until = 0;
	h->held = false;
}

bool health_observe(struct health *h, const struct health_conf *c, uint64_t fails, uint64_t oks,
		    bool may_eject, uint64_t now)
{
	enum health_state before = health_state(h);
	uint64_t backoff, sum;

	/* Both in one tick: the upstream answers some; order within a tick is unknown, so the
	 * answers win and no series is counted. */
	if (oks) {
		health_alive(h);
		return health_state(h) != before;
	}
	if (!fails || !c->max_fails || h->ejected_until)
		return false;
	sum = (uint64_t)h->streak + fails;
	h->streak = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
	if (h->streak < c->max_fails) {
		h->held = false; /* (a reload raised max_fails above a held series) */
		return false;
	}
	if (!may_eject) {
		h->held = true;
		h->streak = c->max_fails; /* the next failure ejects, once that is allowed */
		return false;
	}
	h->held = false;
	backoff = h->ejections < 3 ? 1ull << h->ejections : HEALTH_BACKOFF_MAX;
	h->ejections++;
	h->total_ejections++;
	h->streak = 0;
	h->ejected_until = now + c->fail_timeout * backoff;
	if (!h->ejected_until)
		h->ejected_until = 1;
	return health_state(h) != before;
}

bool health_expire(struct health *h, uint64_t now)
{
	enum health_state before = health_state(h);

	/* Tried again; the back-off exponent stays until a reply proves it alive. */
	if (h->ejected_until && now >= h->ejected_until) {
		h->ejected_until = 0;
		h->streak = 0;
	}
	return health_state(h) != before;
}

bool health_check_result(struct health *h, const struct health_conf *c, bool ok, uint64_t now)
{
	enum health_state before = health_state(h);

	if (ok) {
		h->check_fail = 0;
		if (h->check_ok < UINT32_MAX)
			h->check_ok++;
		if (h->check_down && h->check_ok >= c->rise)
			h->check_down = false;
		/* A good check is a successful check for the passive side too. */
		health_alive(h);
	} else {
		h->check_ok = 0;
		if (h->check_fail < UINT32_MAX)
			h->check_fail++;
		if (!h->check_down && c->fall && h->check_fail >= c->fall)
			h->check_down = true;
	}
	return health_state(h) != before;
}
