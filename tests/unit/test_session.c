// SPDX-License-Identifier: MIT
/* Session table: keys for both families, capacity, LRU expiry, release and slot reuse, the
 * generations a table leaves to the next one in its place, the count of sessions per client
 * address and its limit, eviction, the keyed hash and a table refused without a key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "session.h"

/* Non-zero: getrandom fails with this errno (this definition stands in for libc's). */
static int getrandom_errno;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	if (getrandom_errno) {
		errno = getrandom_errno;
		return -1;
	}
	return syscall(SYS_getrandom, buf, len, flags);
}

static struct addr test_addr(const char *text)
{
	struct addr a;
	const char *why;

	assert_int_equal(addr_parse(text, &a, &why), 0);
	return a;
}

/* Walks the LRU list and checks it against the counters: every ACTIVE session appears once,
 * oldest first, links agree both ways, and every ACTIVE session can be looked up. */
static void check_table(struct session_table *t)
{
	uint32_t i, prev = SESSION_NONE, n = 0, n_active = 0;
	uint64_t last = 0;

	for (i = t->lru_head; i != SESSION_NONE; i = t->slots[i].lru_next) {
		struct session *s = &t->slots[i];

		assert_true(n < t->capacity);
		assert_int_equal(s->state, SESSION_ACTIVE);
		assert_int_equal(s->lru_prev, prev);
		assert_true(s->last_active >= last);
		last = s->last_active;
		prev = i;
		n++;
	}
	assert_int_equal(t->lru_tail, prev);
	assert_int_equal(n, t->active);
	for (i = 0; i < t->capacity; i++) {
		struct session *s = &t->slots[i];

		if (s->state != SESSION_ACTIVE)
			continue;
		n_active++;
		assert_ptr_equal(session_lookup(t, &s->client, s->listener, NULL), s);
	}
	assert_int_equal(n_active, t->active);
	/* each address's count is the number of its ACTIVE sessions */
	for (i = 0; i < t->capacity; i++) {
		struct session *s = &t->slots[i];
		uint8_t a[16], b[16];
		uint32_t j, same = 0;

		if (s->state != SESSION_ACTIVE)
			continue;
		addr_to_mapped(&s->client, a);
		for (j = 0; j < t->capacity; j++) {
			if (t->slots[j].state != SESSION_ACTIVE)
				continue;
			addr_to_mapped(&t->slots[j].client, b);
			same += !memcmp(a, b, 16);
		}
		assert_int_equal(session_source_count(t, &s->client), same);
	}
}

struct key {
	const char *client;
	uint32_t listener;
};

/* Keys that differ in exactly one part from a neighbour: port, listener, family. */
static const struct key keys[] = {
	{ "198.18.0.1:5000", 0 },
	{ "198.18.0.1:5001", 0 },     /* same address, other port */
	{ "198.18.0.1:5000", 1 },     /* same client, other listener */
	{ "198.18.0.2:5000", 0 },
	{ "[2001:2::1]:5000", 0 },
	{ "[2001:2::1]:5001", 0 },
	{ "[2001:2::1]:5000", 1 },
	{ "[2001:2::2]:5000", 0 },
	{ "[::ffff:198.18.0.1]:5000", 0 }, /* v4-mapped is another family, another key */
	{ "198.18.255.255:65535", 7 },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* Keys never inserted; each is one part away from an inserted key. */
static const struct key absent[] = {
	{ "198.18.0.1:5002", 0 },
	{ "198.18.0.1:5000", 2 },
	{ "198.18.0.3:5000", 0 },
	{ "[2001:2::1]:5002", 0 },
	{ "[2001:2::1]:5000", 2 },
	{ "[2001:2::3]:5000", 0 },
	{ "[::ffff:198.18.0.1]:5001", 0 },
};
#define N_ABSENT (sizeof(absent) / sizeof(absent[0]))

/* A wildcard listener's sessions: one client port to two of the host's addresses is two
 * sessions, each found only by its own local address (its port aside), and a session keyed
 * without a local is another still. Expiry unlinks each from its own chain. */
static void test_local_key(void **state)
{
	struct addr c = test_addr("198.18.1.1:123"), l2 = test_addr("198.18.1.2:53"),
		    l3 = test_addr("198.18.1.3:53"), l2p = test_addr("198.18.1.2:9");
	struct session *a, *b, *n;
	struct session_table t;

	assert_int_equal(session_table_init(&t, 16, 1000), 0);
	a = session_insert(&t, &c, 0, &l2, 1);
	b = session_insert(&t, &c, 0, &l3, 2);
	n = session_insert(&t, &c, 0, NULL, 3);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(n);
	assert_true(a != b && b != n && a != n);
	assert_true(addr_equal(&a->local, &l2));
	assert_ptr_equal(session_lookup(&t, &c, 0, &l2), a);
	assert_ptr_equal(session_lookup(&t, &c, 0, &l2p), a); /* the port is no part of it */
	assert_ptr_equal(session_lookup(&t, &c, 0, &l3), b);
	assert_ptr_equal(session_lookup(&t, &c, 0, NULL), n);
	assert_null(session_lookup(&t, &c, 1, &l2));
	/* a expires first (oldest): b and n stay findable */
	assert_ptr_equal(session_expire_next(&t, 2000), a);
	assert_null(session_lookup(&t, &c, 0, &l2));
	assert_ptr_equal(session_lookup(&t, &c, 0, &l3), b);
	assert_ptr_equal(session_lookup(&t, &c, 0, NULL), n);
	session_table_fini(&t);
}

static void test_insert_lookup(void **state)
{
	struct session *s[N_KEYS];
	struct session_table t;
	size_t i, j;

	assert_int_equal(session_table_init(&t, 16, 1000), 0);
	assert_true(t.bucket_mask + 1 >= 32);
	for (i = 0; i < N_KEYS; i++) {
		struct addr c = test_addr(keys[i].client);

		assert_null(session_lookup(&t, &c, keys[i].listener, NULL));
		s[i] = session_insert(&t, &c, keys[i].listener, NULL, 10 + i);
		assert_non_null(s[i]);
		assert_int_equal(s[i]->state, SESSION_ACTIVE);
		assert_int_equal(s[i]->fd, -1);
		assert_int_equal(s[i]->upstream, 0);
		assert_int_equal(s[i]->listener, keys[i].listener);
		assert_int_equal(s[i]->last_active, 10 + i);
		assert_true(addr_equal(&s[i]->client, &c));
		for (j = 0; j < i; j++)
			assert_ptr_not_equal(s[i], s[j]);
	}
	assert_int_equal(t.active, N_KEYS);
	for (i = 0; i < N_KEYS; i++) {
		struct addr c = test_addr(keys[i].client);

		assert_ptr_equal(session_lookup(&t, &c, keys[i].listener, NULL), s[i]);
	}
	for (i = 0; i < N_ABSENT; i++) {
		struct addr c = test_addr(absent[i].client);

		assert_null(session_lookup(&t, &c, absent[i].listener, NULL));
	}
	check_table(&t);
	session_table_fini(&t);
}

static void test_capacity(void **state)
{
	struct session_table t;
	struct session *s[3], *e;
	struct addr c;
	int i;

	assert_int_equal(session_table_init(&t, 3, 100), 0);
	for (i = 0; i < 3; i++) {
		c = test_addr(keys[i].client);
		s[i] = session_insert(&t, &c, keys[i].listener, NULL, 0);
		assert_non_null(s[i]);
	}
	c = test_addr(keys[3].client);
	assert_null(session_insert(&t, &c, 0, NULL, 0));

	/* CLOSING slots are still owned by the backend, so they are not free. */
	e = session_expire_next(&t, 100);
	assert_ptr_equal(e, s[0]);
	assert_int_equal(e->state, SESSION_CLOSING);
	assert_int_equal(t.active, 2);
	assert_null(session_insert(&t, &c, 0, NULL, 100));
	session_release(&t, e);
	assert_ptr_equal(session_insert(&t, &c, 0, NULL, 100), s[0]);
	assert_null(session_insert(&t, &c, 1, NULL, 100));
	check_table(&t);
	session_table_fini(&t);
}

/* One step of an expiry scenario: at `now`, either touch key `touch` or expect the expiry of
 * key `expect` (-1: nothing due). */
struct expiry_step {
	uint64_t now;
	int touch;
	int expect;
};

static void test_expiry_order(void **state)
{
	/* Keys 0, 1, 2 are inserted at 0, 10, 20 with a timeout of 100. */
	static const struct expiry_step steps[] = {
		{ 99, -1, -1 },	  /* nothing idle for 100 yet */
		{ 50, 1, -1 },	  /* touch key 1: now due at 150 */
		{ 100, -1, 0 },	  /* key 0 exactly at its timeout */
		{ 100, -1, -1 },  /* key 2 is due at 120, not yet */
		{ 119, -1, -1 },
		{ 120, -1, 2 },	  /* key 2 before key 1: touch moved key 1 back */
		{ 149, -1, -1 },
		{ 5, -1, -1 },	  /* a clock behind last_active is not a huge idle time */
		{ 150, -1, 1 },
		{ 10000, -1, -1 }, /* empty */
	};
	struct session_table t;
	struct session *s[3];
	struct addr c;
	size_t i;

	assert_int_equal(session_table_init(&t, 8, 100), 0);
	for (i = 0; i < 3; i++) {
		c = test_addr(keys[i].client);
		s[i] = session_insert(&t, &c, keys[i].listener, NULL, 10 * i);
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct expiry_step *st = &steps[i];
		struct session *e;

		if (st->touch >= 0) {
			session_touch(&t, s[st->touch], st->now);
			assert_int_equal(s[st->touch]->last_active, st->now);
			check_table(&t);
			continue;
		}
		e = session_expire_next(&t, st->now);
		if (st->expect < 0) {
			assert_null(e);
			continue;
		}
		assert_ptr_equal(e, s[st->expect]);
		assert_int_equal(e->state, SESSION_CLOSING);
		c = test_addr(keys[st->expect].client);
		assert_null(session_lookup(&t, &c, keys[st->expect].listener, NULL));
		/* touching a CLOSING session must not bring it back */
		session_touch(&t, e, st->now);
		assert_int_equal(e->state, SESSION_CLOSING);
		check_table(&t);
	}
	assert_int_equal(t.active, 0);
	session_table_fini(&t);
}

static void test_release_gen_reuse(void **state)
{
	struct session_table t;
	struct addr a = test_addr("198.18.1.1:4000"), b = test_addr("[2001:2::9]:4000");
	struct session *s, *r;
	uint32_t gen;

	assert_int_equal(session_table_init(&t, 1, 100), 0);
	s = session_insert(&t, &a, 3, NULL, 1);
	assert_non_null(s);
	gen = s->gen;
	s->fd = 42;
	s->upstream = 5;
	s->local = test_addr("198.18.0.254:53");

	session_close(&t, s);
	assert_int_equal(s->state, SESSION_CLOSING);
	assert_int_equal(s->gen, gen);
	assert_int_equal(t.active, 0);
	assert_null(session_lookup(&t, &a, 3, NULL));
	session_close(&t, s); /* closing twice changes nothing */
	assert_int_equal(t.active, 0);

	assert_int_equal(t.closing, 1);
	session_release(&t, s);
	assert_int_equal(s->state, SESSION_FREE);
	assert_int_equal(s->gen, gen + 1);
	assert_int_equal(t.closing, 0);
	session_release(&t, s); /* a second release must not link the slot twice */
	assert_int_equal(s->gen, gen + 1);
	assert_int_equal(t.closing, 0);

	r = session_insert(&t, &b, 0, NULL, 2);
	assert_ptr_equal(r, s);
	assert_int_equal(r->gen, gen + 1); /* the slot's new life keeps the bumped gen */
	assert_int_equal(r->fd, -1);
	assert_int_equal(r->upstream, 0);
	assert_int_equal(addr_family(&r->local), 0);
	assert_null(session_lookup(&t, &a, 3, NULL));
	assert_ptr_equal(session_lookup(&t, &b, 0, NULL), r);
	assert_null(session_insert(&t, &a, 3, NULL, 2));
	check_table(&t);
	session_table_fini(&t);
}

/* Many sessions on few hosts (long chains, unlinks in the middle of chains), some touched,
 * some closed: expiry returns exactly the due ones, oldest first, and the rest stay found. */
static void test_expire_mix(void **state)
{
	enum { CAP = 256 };
	static const char *const hosts[] = { "198.18.7.1", "[2001:2::7]" };
	struct session *s[CAP], *e;
	struct session_table t;
	bool due[CAP] = { false };
	uint64_t last = 0;
	uint32_t n_due = 0, n_expired = 0, i;
	char text[64];

	assert_int_equal(session_table_init(&t, CAP, 1000), 0);
	for (i = 0; i < CAP; i++) {
		struct addr c;

		snprintf(text, sizeof(text), "%s:%u", hosts[i % 2], 1000 + i / 2);
		c = test_addr(text);
		s[i] = session_insert(&t, &c, i % 3, NULL, i);
		assert_non_null(s[i]);
	}
	for (i = 0; i < CAP; i++) {
		if (i % 3 == 0) {
			session_touch(&t, s[i], 500 + i); /* due at 1500 + i */
		} else if (i % 7 == 0) {
			session_close(&t, s[i]);
		} else {
			due[i] = true;
			n_due++;
		}
	}
	check_table(&t);
	/* At 1499 the untouched ones (due by 1000 + 255) are due, the touched ones not. */
	while ((e = session_expire_next(&t, 1499))) {
		i = session_index(&t, e);
		assert_true(due[i]);
		assert_true(e->last_active >= last);
		last = e->last_active;
		due[i] = false;
		n_expired++;
		check_table(&t);
		session_release(&t, e);
	}
	assert_int_equal(n_expired, n_due);
	for (i = 0; i < CAP; i++) {
		if (i % 3 == 0) {
			assert_int_equal(s[i]->state, SESSION_ACTIVE);
			assert_ptr_equal(session_lookup(&t, &s[i]->client, s[i]->listener, NULL), s[i]);
		}
	}
	/* Now the rest: touched ones in touch order. */
	last = 0;
	while ((e = session_expire_next(&t, 1500 + CAP))) {
		assert_true(e->last_active >= last);
		last = e->last_active;
		session_release(&t, e);
	}
	assert_int_equal(t.active, 0);
	/* The closed ones still hold their slots until released. */
	for (i = 0; i < CAP; i++)
		if (s[i]->state == SESSION_CLOSING)
			session_release(&t, s[i]);
	for (i = 0; i < CAP; i++) {
		struct addr c;

		snprintf(text, sizeof(text), "198.18.9.%u:%u", i % 250, 2000 + i);
		c = test_addr(text);
		assert_non_null(session_insert(&t, &c, 0, NULL, 5000));
	}
	assert_null(session_insert(&t, &s[0]->client, 9, NULL, 5000));
	check_table(&t);
	session_table_fini(&t);
}

/* A table made in the place of another (a worker's relay slot) goes on with each index's
 * lives (session_gens), as the masked gen a completion carries compares them: a completion of
 * the old table's last session at an index never matches the new table's next 4095 sessions
 * there, however unevenly the old table's slots were used. Here slot 3 lived 4096 times while
 * slots 0-2 held one session each: their gen 0 is 4096 to the mask, slot 3's gen and the old
 * table's highest, so seeding every slot from that maximum would hand out their pairs again
 * at once. An index the
 * old table did not have starts above every gen handed out before, also after a smaller table
 * in between. */
static void test_gens_carry(void **state)
{
	static const struct siphash_key key = { 3, 4 };
	struct addr a = test_addr("198.18.1.1:4000");
	struct session_gens g;
	struct session_table t;
	struct session *s;
	uint32_t last[4], top = 0, i, k;
	char text[32];

	(void)state;
	memset(&g, 0, sizeof(g));
	session_gens_fini(&g); /* zeroed */
	assert_int_equal(session_table_init_key(&t, 4, 100, &key), 0);
	for (i = 1; i < 4; i++) {
		snprintf(text, sizeof(text), "198.18.2.%u:4000", i);
		a = test_addr(text);
		s = session_insert(&t, &a, 0, NULL, 1);
		assert_int_equal(session_index(&t, s), i - 1);
	}
	/* slot 3 is the one left to churn: 4096 lives */
	a = test_addr("198.18.1.1:4000");
	for (k = 0; k < 4096; k++) {
		s = session_insert(&t, &a, 0, NULL, 1);
		assert_int_equal(session_index(&t, s), 3);
		session_release(&t, s);
	}
	s = session_insert(&t, &a, 0, NULL, 1); /* its last life */
	for (i = 0; i < 4; i++) {
		last[i] = t.slots[i].gen;
		if (last[i] > top)
			top = last[i];
	}
	assert_int_equal(last[3], 4096);
	assert_int_equal(last[0] & 0xfff, last[3] & 0xfff);
	/* the table drains; a new one, larger, takes its place */
	for (i = 0; i < 4; i++)
		session_release(&t, &t.slots[i]);
	session_gens_keep(&g, &t);
	session_table_fini(&t);
	assert_int_equal(session_table_init_key(&t, 6, 100, &key), 0);
	session_gens_seed(&g, &t);
	for (i = 0; i < 4; i++) {
		assert_int_equal(t.slots[i].gen, last[i] + 1);
		for (k = 0; k < 4095; k++)
			assert_int_not_equal((t.slots[i].gen + k) & 0xfff, last[i] & 0xfff);
	}
	for (i = 4; i < 6; i++)
		assert_true(t.slots[i].gen > top);
	/* what is handed out in the new table, then a smaller one, then a larger one again */
	s = session_insert(&t, &a, 0, NULL, 1);
	session_release(&t, s);
	top = 0;
	for (i = 0; i < 6; i++)
		if (t.slots[i].gen > top)
			top = t.slots[i].gen;
	session_gens_keep(&g, &t);
	session_table_fini(&t);
	assert_int_equal(session_table_init_key(&t, 2, 100, &key), 0);
	session_gens_seed(&g, &t);
	session_gens_keep(&g, &t);
	session_table_fini(&t);
	assert_int_equal(session_table_init_key(&t, 8, 100, &key), 0);
	session_gens_seed(&g, &t);
	for (i = 2; i < 8; i++)
		assert_true(t.slots[i].gen >= top);
	session_gens_keep(&g, &t);
	session_table_fini(&t);
	/* a table without slots (a relay without sessions) leaves what was kept */
	session_gens_keep(&g, &t);
	assert_int_equal(g.n, 8);
	session_gens_fini(&g);
	session_gens_fini(&g);
	assert_null(g.next);
}

static void test_init_fini(void **state)
{
	struct session_table t;
	struct addr c = test_addr("198.18.0.1:1");

	memset(&t, 0, sizeof(t));
	session_table_fini(&t); /* zeroed */
	session_table_fini(&t);
	assert_null(session_lookup(&t, &c, 0, NULL));
	assert_null(session_insert(&t, &c, 0, NULL, 0));
	assert_null(session_expire_next(&t, 1));

	assert_int_equal(session_table_init(&t, 0, 1), -EINVAL);
	session_table_fini(&t);

	assert_int_equal(session_table_init(&t, 5, 1), 0);
	/* buckets: next power of two >= 2 * capacity */
	assert_int_equal(t.bucket_mask + 1, 16);
	assert_non_null(session_insert(&t, &c, 0, NULL, 0));
	session_table_fini(&t);
	assert_null(t.slots);
	assert_null(t.buckets);
	session_table_fini(&t); /* already finished */
}

/* max_per_source counts a client's address whatever its port and listener, for each family;
 * a closed session gives its place back. */
static void test_source_limit(void **state)
{
	static const char *const hosts[] = { "198.18.0.1", "[2001:2::1]" };
	struct session_table t;
	struct session *s[2][3];
	char text[64];
	struct addr c;
	uint32_t h, i;
	uint64_t now = 0;

	assert_int_equal(session_table_init(&t, 16, 100), 0);
	t.max_per_source = 3;
	for (h = 0; h < 2; h++) {
		for (i = 0; i < 3; i++) {
			snprintf(text, sizeof(text), "%s:%u", hosts[h], 5000 + i);
			c = test_addr(text);
			assert_false(session_source_full(&t, &c));
			s[h][i] = session_insert(&t, &c, i % 2, NULL, now++);
			assert_non_null(s[h][i]);
			assert_int_equal(session_source_count(&t, &c), i + 1);
		}
		/* a fourth port, or the same port on another listener: refused */
		snprintf(text, sizeof(text), "%s:%u", hosts[h], 6000);
		c = test_addr(text);
		assert_true(session_source_full(&t, &c));
		assert_null(session_insert(&t, &c, 0, NULL, now));
		assert_null(session_insert(&t, &s[h][0]->client, 7, NULL, now));
		check_table(&t);
	}
	/* other addresses are not affected */
	c = test_addr("198.18.0.2:5000");
	assert_int_equal(session_source_count(&t, &c), 0);
	assert_non_null(session_insert(&t, &c, 0, NULL, now++));
	c = test_addr("[2001:2::2]:5000");
	assert_non_null(session_insert(&t, &c, 0, NULL, now++));
	/* closing one (CLOSING, not yet released) makes room for its address */
	session_close(&t, s[0][1]);
	c = test_addr("198.18.0.1:6000");
	assert_int_equal(session_source_count(&t, &c), 2);
	assert_non_null(session_insert(&t, &c, 0, NULL, now++));
	assert_null(session_insert(&t, &s[0][0]->client, 3, NULL, now));
	session_release(&t, s[0][1]);
	check_table(&t);
	/* a raised limit applies at once; 0 is none */
	t.max_per_source = 0;
	for (i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "[2001:2::1]:%u", 7000 + i);
		c = test_addr(text);
		assert_non_null(session_insert(&t, &c, 0, NULL, now++));
	}
	assert_int_equal(session_source_count(&t, &c), 7);
	check_table(&t);
	session_table_fini(&t);
}

/* session_evict takes the least recently used session when it has been idle long enough,
 * like an expiry, and its address's count drops. */
static void test_evict(void **state)
{
	struct session_table t;
	struct session *s[3], *e;
	struct addr c;
	int i;

	assert_int_equal(session_table_init(&t, 3, 1000), 0);
	for (i = 0; i < 3; i++) {
		c = test_addr(keys[i].client);
		s[i] = session_insert(&t, &c, keys[i].listener, NULL, 10 * (uint64_t)i);
	}
	session_touch(&t, s[0], 25); /* LRU order now 1, 2, 0 */
	c = test_addr(keys[3].client);
	assert_null(session_insert(&t, &c, 0, NULL, 30));
	assert_null(session_evict(&t, 30, 21)); /* key 1 is idle for 20 only */
	assert_int_equal(t.active, 3);
	e = session_evict(&t, 30, 20);
	assert_ptr_equal(e, s[1]);
	assert_int_equal(e->state, SESSION_CLOSING);
	assert_int_equal(t.active, 2);
	assert_int_equal(t.closing, 1); /* a slot on its way back (worker.c evict_one) */
	/* keys 0, 1 and 2 share one address */
	assert_int_equal(session_source_count(&t, &s[1]->client), 2);
	assert_null(session_lookup(&t, &s[1]->client, s[1]->listener, NULL));
	check_table(&t);
	/* the slot is the backend's until released, as after an expiry */
	assert_null(session_insert(&t, &c, 0, NULL, 30));
	session_release(&t, e);
	assert_int_equal(t.closing, 0);
	assert_ptr_equal(session_insert(&t, &c, 0, NULL, 30), e);
	assert_null(session_evict(&t, 5, 0)); /* a clock behind the LRU head: nothing */
	check_table(&t);
	session_table_fini(&t);
	memset(&t, 0, sizeof(t));
	assert_null(session_evict(&t, 100, 0));
}

/* The bucket a key lands in depends on the table's key: the same under one key, and under
 * another a different layout. A table from session_table_init has a key of its own. */
static void test_keyed_hash(void **state)
{
	static const struct siphash_key k1 = { 1, 2 }, k2 = { 3, 4 };
	struct session_table a, b, c;
	uint32_t i, same = 0, cap = 64;
	char text[64];

	assert_int_equal(session_table_init_key(&a, cap, 100, &k1), 0);
	assert_int_equal(session_table_init_key(&b, cap, 100, &k2), 0);
	assert_int_equal(session_table_init_key(&c, cap, 100, &k1), 0);
	for (i = 0; i < cap; i++) {
		struct addr x;

		snprintf(text, sizeof(text), "198.18.0.1:%u", 1000 + i);
		x = test_addr(text);
		session_insert(&a, &x, 0, NULL, 0);
		session_insert(&b, &x, 0, NULL, 0);
		session_insert(&c, &x, 0, NULL, 0);
	}
	/* chain heads hold the same slots under the same key, not under another */
	for (i = 0; i <= a.bucket_mask; i++) {
		assert_int_equal(a.buckets[i], c.buckets[i]);
		same += a.buckets[i] == b.buckets[i];
	}
	assert_true(same < a.bucket_mask + 1);
	check_table(&a);
	check_table(&b);
	session_table_fini(&a);
	session_table_fini(&b);
	session_table_fini(&c);
	assert_int_equal(session_table_init(&a, 4, 100), 0);
	assert_int_equal(session_table_init(&b, 4, 100), 0);
	assert_false(a.key.k0 == b.key.k0 && a.key.k1 == b.key.k1);
	session_table_fini(&a);
	session_table_fini(&b);
}

/* Without a key from getrandom there is no table (no constant fallback). */
static void test_no_key(void **state)
{
	static const int errs[] = { ENOSYS, EPERM, EAGAIN };
	struct session_table t;
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		getrandom_errno = errs[i];
		assert_int_equal(session_table_init(&t, 8, 100), -errs[i]);
		getrandom_errno = 0;
		assert_null(t.slots);
		assert_null(t.buckets);
		session_table_fini(&t);
	}
	assert_int_equal(session_table_init(&t, 8, 100), 0);
	session_table_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_lookup),
		cmocka_unit_test(test_local_key),
		cmocka_unit_test(test_source_limit),
		cmocka_unit_test(test_evict),
		cmocka_unit_test(test_keyed_hash),
		cmocka_unit_test(test_no_key),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_expiry_order),
		cmocka_unit_test(test_release_gen_reuse),
		cmocka_unit_test(test_gens_carry),
		cmocka_unit_test(test_expire_mix),
		cmocka_unit_test(test_init_fini),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
