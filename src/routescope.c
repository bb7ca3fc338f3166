// SPDX-License-Identifier: MIT
/* The route epoch's ring of changed prefixes: one writer at a time (the admin thread, a link
 * change's follow-up), lock-free readers (the workers' ticks). */
#include <string.h>

#include "routescope.h"

#define ROUTESCOPE_ALL 0x100u /* meta: covers everything */
#define ROUTESCOPE_V4 0x200u  /* meta: a prefix of IPv4 routes (else IPv6) */
#define ROUTESCOPE_LEN 0xffu  /* meta: the prefix length (IPv4-mapped: 96 + IPv4's) */

static const uint8_t routescope_v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void routescope_record(struct routescope *rs, uint32_t meta, const uint8_t bytes[16])
{
	struct routescope_slot *s;
	uint32_t e, w[4] = { 0 };
	int i;

	if (bytes)
		memcpy(w, bytes, sizeof(w));
	while (__atomic_test_and_set(&rs->writing, __ATOMIC_ACQUIRE))
		;
	e = __atomic_load_n(&rs->epoch, __ATOMIC_RELAXED) + 1;
	s = &rs->ring[e % ROUTESCOPE_RING];
	/* Another epoch than any this slot can hold (e - 1: not e modulo the ring): a reader
	 * that read the old or new words while they were written sees it (seqlock). */
	__atomic_store_n(&s->seq, e - 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&s->meta, meta, __ATOMIC_RELAXED);
	for (i = 0; i < 4; i++)
		__atomic_store_n(&s->w[i], w[i], __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, e, __ATOMIC_RELEASE);
	__atomic_store_n(&rs->epoch, e, __ATOMIC_RELEASE);
	__atomic_clear(&rs->writing, __ATOMIC_RELEASE);
}

void routescope_all(struct routescope *rs)
{
	routescope_record(rs, ROUTESCOPE_ALL, NULL);
}

void routescope_prefix(struct routescope *rs, const struct prefix *p, bool v4)
{
	/* (an IPv4 prefix that is not IPv4-mapped: not one of ours, as good as all) */
	if (p->len > 128 || (v4 && (p->len < 96 || memcmp(p->bytes, routescope_v4_mapped, 12)))) {
		routescope_all(rs);
		return;
	}
	routescope_record(rs, (v4 ? ROUTESCOPE_V4 : 0) | p->len, p->bytes);
}

uint32_t routescope_epoch(const struct routescope *rs)
{
	return rs ? __atomic_load_n(&rs->epoch, __ATOMIC_ACQUIRE) : 0;
}

/* Whether the first len bits of a and b are the same. */
static bool routescope_bits_equal(const uint8_t *a, const uint8_t *b, unsigned int len)
{
	unsigned int n = len / 8;

	if (memcmp(a, b, n))
		return false;
	return len % 8 == 0 || !((a[n] ^ b[n]) & (uint8_t)(0xff00 >> (len % 8)));
}

/* Reads epoch e's slot: 1 when its change covers one of the n mapped addresses m (of which
 * those in v4 are routed as IPv4), or the slot no longer (or not yet) holds epoch e. */
static int routescope_slot_covers(const struct routescope *rs, uint32_t e, uint8_t m[][16],
				  const bool *v4, unsigned int n)
{
	const struct routescope_slot *s = &rs->ring[e % ROUTESCOPE_RING];
	uint32_t meta, w[4];
	uint8_t p[16];
	unsigned int i, len;

	if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != e)
		return 1;
	meta = __atomic_load_n(&s->meta, __ATOMIC_RELAXED);
	for (i = 0; i < 4; i++)
		w[i] = __atomic_load_n(&s->w[i], __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != e || (meta & ROUTESCOPE_ALL))
		return 1;
	memcpy(p, w, sizeof(p));
	len = meta & ROUTESCOPE_LEN;
	for (i = 0; i < n; i++)
		if (v4[i] == !!(meta & ROUTESCOPE_V4) && routescope_bits_equal(m[i], p, len))
			return 1;
	return 0;
}

int routescope_covers(const struct routescope *rs, uint32_t *from, uint32_t to,
		      const struct addr *const *addrs, unsigned int n, uint32_t *budget)
{
	uint8_t m[8][16];
	bool v4[8];
	unsigned int i;

	if (*from == to)
		return 0;
	/* (past the ring: changes were lost to it; before the budget, so that a session the
	 * budget never reaches under churn is derived once it is that far behind) */
	if (to - *from > ROUTESCOPE_RING || n > 8)
		return 1;
	if (!*budget)
		return 0;
	for (i = 0; i < n; i++) {
		addr_to_mapped(addrs[i], m[i]);
		/* (an IPv6 socket's IPv4-mapped address is routed by IPv4's routes) */
		v4[i] = !memcmp(m[i], routescope_v4_mapped, 12);
	}
	while (*from != to && *budget) {
		--*budget;
		if (routescope_slot_covers(rs, *from + 1, m, v4, n))
			return 1;
		++*from;
	}
	return 0;
}
