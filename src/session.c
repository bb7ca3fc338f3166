// SPDX-License-Identifier: MIT
/* The per-worker session table. Every slot is in exactly one of three places:
 *   FREE     on the free list (linked through hash_next),
 *   ACTIVE   in one hash chain (hash_next) and in the LRU list (lru_prev/lru_next),
 *   CLOSING  in neither: the backend still owns it (an fd to close, sends in flight) until
 *            it calls session_release().
 * All memory is allocated in session_table_init(), so the hot path never allocates. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "session.h"

/* Used only when getrandom() cannot give us a seed (it never blocks here: GRND_NONBLOCK). */
#define SESSION_FALLBACK_SEED 0x5e55104eu
/* Buckets must stay indexable by uint32_t and 2 * capacity must not overflow. */
#define SESSION_MAX_CAPACITY (1u << 30)

/* A random per-table seed: clients choose their own source ports, so a fixed seed would let
 * one of them craft addresses that all land in one chain and turn lookups into list walks. */
static uint32_t session_seed(void)
{
	uint32_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		return SESSION_FALLBACK_SEED;
	return seed;
}

static uint32_t session_bucket(const struct session_table *t, const struct addr *client,
			       uint32_t listener)
{
	/* Folding the listener into the seed keeps the key one hash call. */
	return addr_hash(client, true, t->seed ^ (listener * 0x9e3779b9u)) & t->bucket_mask;
}

static void session_lru_unlink(struct session_table *t, struct session *s)
{
	if (s->lru_prev != SESSION_NONE)
		t->slots[s->lru_prev].lru_next = s->lru_next;
	else
		t->lru_head = s->lru_next;
	if (s->lru_next != SESSION_NONE)
		t->slots[s->lru_next].lru_prev = s->lru_prev;
	else
		t->lru_tail = s->lru_prev;
	s->lru_prev = SESSION_NONE;
	s->lru_next = SESSION_NONE;
}

static void session_lru_append(struct session_table *t, struct session *s)
{
	uint32_t i = session_index(t, s);

	s->lru_next = SESSION_NONE;
	s->lru_prev = t->lru_tail;
	if (t->lru_tail != SESSION_NONE)
		t->slots[t->lru_tail].lru_next = i;
	else
		t->lru_head = i;
	t->lru_tail = i;
}

/* Chains are singly linked, so unlinking walks one chain: O(1) expected with the load factor
 * kept at or below 1/2 by the bucket count. */
static void session_hash_unlink(struct session_table *t, struct session *s)
{
	uint32_t i = session_index(t, s);
	uint32_t *link = &t->buckets[session_bucket(t, &s->client, s->listener)];

	while (*link != SESSION_NONE) {
		if (*link == i) {
			*link = s->hash_next;
			break;
		}
		link = &t->slots[*link].hash_next;
	}
	s->hash_next = SESSION_NONE;
}

/* ACTIVE -> CLOSING: no longer findable, no longer expirable, no longer counted. */
static void session_deactivate(struct session_table *t, struct session *s)
{
	session_hash_unlink(t, s);
	session_lru_unlink(t, s);
	s->state = SESSION_CLOSING;
	t->active--;
}

int session_table_init(struct session_table *t, uint32_t capacity, uint64_t timeout_ns)
{
	uint32_t nbuckets = 1, i;

	memset(t, 0, sizeof(*t));
	if (capacity == 0 || capacity > SESSION_MAX_CAPACITY)
		return -EINVAL;
	while (nbuckets < 2 * capacity)
		nbuckets <<= 1;

	t->slots = calloc(capacity, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->buckets = malloc((size_t)nbuckets * sizeof(*t->buckets));
	if (!t->buckets)
		goto err_free_slots;

	for (i = 0; i < nbuckets; i++)
		t->buckets[i] = SESSION_NONE;
	for (i = 0; i < capacity; i++) {
		struct session *s = &t->slots[i];

		s->state = SESSION_FREE;
		s->fd = -1;
		s->flow = SESSION_NONE; /* no fast-path slot history yet */
		s->lru_prev = SESSION_NONE;
		s->lru_next = SESSION_NONE;
		s->hash_next = i + 1 < capacity ? i + 1 : SESSION_NONE;
	}
	t->capacity = capacity;
	t->bucket_mask = nbuckets - 1;
	t->free_head = 0;
	t->lru_head = SESSION_NONE;
	t->lru_tail = SESSION_NONE;
	t->active = 0;
	t->timeout_ns = timeout_ns;
	t->seed = session_seed();
	return 0;

err_free_slots:
	free(t->slots);
	t->slots = NULL;
	return -ENOMEM;
}

void session_table_fini(struct session_table *t)
{
	free(t->slots);
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

struct session *session_lookup(struct session_table *t, const struct addr *client,
			       uint32_t listener)
{
	uint32_t i;

	if (!t->buckets)
		return NULL;
	for (i = t->buckets[session_bucket(t, client, listener)]; i != SESSION_NONE;
	     i = t->slots[i].hash_next) {
		struct session *s = &t->slots[i];

		if (s->listener == listener && addr_equal(&s->client, client))
			return s;
	}
	return NULL;
}

struct session *session_insert(struct session_table *t, const struct addr *client,
			       uint32_t listener, uint64_t now)
{
	struct session *s;
	uint32_t *bucket;
	uint32_t i = t->free_head;

	if (!t->slots || i == SESSION_NONE)
		return NULL;
	s = &t->slots[i];
	t->free_head = s->hash_next;

	s->client = *client;
	memset(&s->local, 0, sizeof(s->local));
	s->listener = listener;
	s->upstream = 0;
	s->last_active = now;
	s->fd = -1;
	s->tx_batch = SESSION_NONE;
	s->fast = false;
	s->seg_max = 0;
	s->state = SESSION_ACTIVE;
	s->started = now;
	s->up_datagrams = s->up_bytes = s->down_datagrams = s->down_bytes = 0;
	/* gen is kept: it counts the slot's lives, so stale completions stay detectable. */

	bucket = &t->buckets[session_bucket(t, client, listener)];
	s->hash_next = *bucket;
	*bucket = i;
	session_lru_append(t, s);
	t->active++;
	return s;
}

void session_touch(struct session_table *t, struct session *s, uint64_t now)
{
	/* A CLOSING session must not re-enter the LRU list: it would be expired twice. */
	if (s->state != SESSION_ACTIVE)
		return;
	s->last_active = now;
	if (t->lru_tail == session_index(t, s))
		return;
	session_lru_unlink(t, s);
	session_lru_append(t, s);
}

struct session *session_expire_next(struct session_table *t, uint64_t now)
{
	struct session *s;

	if (!t->slots || t->lru_head == SESSION_NONE)
		return NULL;
	s = &t->slots[t->lru_head];
	/* The LRU list is ordered by last_active, so the head decides for everyone. A clock
	 * older than last_active means nothing is due rather than a wrapped huge idle time. */
	if (now < s->last_active || now - s->last_active < t->timeout_ns)
		return NULL;
	session_deactivate(t, s);
	return s;
}

void session_close(struct session_table *t, struct session *s)
{
	if (s->state == SESSION_ACTIVE)
		session_deactivate(t, s);
}

void session_release(struct session_table *t, struct session *s)
{
	/* Releasing an ACTIVE session closes it first so the lists stay consistent; releasing a
	 * FREE one is ignored, because linking it twice would corrupt the free list. */
	if (s->state == SESSION_FREE)
		return;
	if (s->state == SESSION_ACTIVE)
		session_deactivate(t, s);
	s->state = SESSION_FREE;
	s->gen++;
	s->fd = -1;
	s->hash_next = t->free_head;
	t->free_head = session_index(t, s);
}
