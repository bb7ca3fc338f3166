// SPDX-License-Identifier: MIT
/* The per-worker session table. Every slot is in exactly one of three places:
 *   FREE     on the free list (linked through hash_next),
 *   ACTIVE   in one hash chain (hash_next) and in the LRU list (lru_prev/lru_next),
 *   CLOSING  in neither: the backend still owns it (an fd to close, sends in flight) until
 *            it calls session_release().
 * All memory is allocated in session_table_init(), so the hot path never allocates. */
#include <errno.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "session.h"

/* Buckets must stay indexable by uint32_t and 2 * capacity must not overflow. */
#define SESSION_MAX_CAPACITY (1u << 30)

/* What a session's hash covers: the whole key of a lookup. The family is in it so that an
 * IPv4 client and its v4-mapped IPv6 form, equal in addr[], still differ. local comes last
 * and is hashed only when the key has one (a wildcard listener's session): the common key
 * stays 24 bytes, 10-15 ns less SipHash per datagram (perf/session_hash, 16 sessions). */
struct session_hkey {
	uint8_t addr[16]; /* v4-mapped */
	uint32_t listener;
	uint16_t port;
	uint8_t family;
	uint8_t zero;
	uint8_t local[16]; /* v4-mapped */
};

static uint32_t session_bucket(const struct session_table *t, const struct addr *client,
			       uint32_t listener, const struct addr *local)
{
	struct session_hkey k;
	size_t len;

	memset(&k, 0, sizeof(k));
	addr_to_mapped(client, k.addr);
	if (local)
		addr_to_mapped(local, k.local);
	k.listener = listener;
	k.port = addr_port(client);
	k.family = (uint8_t)addr_family(client);
	len = local ? sizeof(k) : offsetof(struct session_hkey, local);
	return (uint32_t)siphash24(&t->key, &k, len) & t->bucket_mask;
}

/* ---------------------------------------------------------------- sessions per source */

/* The 16-byte key is shorter than a session's, so the two hashes never meet even under one
 * key (SipHash mixes the length in). */
static uint32_t source_bucket(const struct session_table *t, const uint8_t addr[16])
{
	return (uint32_t)siphash24(&t->key, addr, 16) & t->bucket_mask;
}

static uint32_t source_find(const struct session_table *t, const uint8_t addr[16])
{
	uint32_t i;

	if (!t->source_buckets)
		return SESSION_NONE;
	for (i = t->source_buckets[source_bucket(t, addr)]; i != SESSION_NONE;
	     i = t->sources[i].next)
		if (!memcmp(t->sources[i].addr, addr, 16))
			return i;
	return SESSION_NONE;
}

uint32_t session_source_count(const struct session_table *t, const struct addr *client)
{
	uint8_t m[16];
	uint32_t i;

	addr_to_mapped(client, m);
	i = source_find(t, m);
	return i == SESSION_NONE ? 0 : t->sources[i].count;
}

bool session_source_full(const struct session_table *t, const struct addr *client)
{
	return t->max_per_source && session_source_count(t, client) >= t->max_per_source;
}

/* Counts one more ACTIVE session of addr; returns its entry. There are as many entries as
 * slots and each counted one holds at least one ACTIVE session, so one is always free. */
static uint32_t source_get(struct session_table *t, const uint8_t addr[16])
{
	uint32_t i = source_find(t, addr), *bucket;

	if (i == SESSION_NONE) {
		i = t->source_free;
		t->source_free = t->sources[i].next;
		memcpy(t->sources[i].addr, addr, 16);
		t->sources[i].count = 0;
		bucket = &t->source_buckets[source_bucket(t, addr)];
		t->sources[i].next = *bucket;
		*bucket = i;
	}
	t->sources[i].count++;
	return i;
}

/* One ACTIVE session of entry i ended; the entry goes back to the free list at zero. */
static void source_put(struct session_table *t, uint32_t i)
{
	struct session_source *src = &t->sources[i];
	uint32_t *link;

	if (--src->count)
		return;
	for (link = &t->source_buckets[source_bucket(t, src->addr)]; *link != SESSION_NONE;
	     link = &t->sources[*link].next) {
		if (*link == i) {
			*link = src->next;
			break;
		}
	}
	src->next = t->source_free;
	t->source_free = i;
}

/* ---------------------------------------------------------------- lists */

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
	uint32_t *link = &t->buckets[session_bucket(t, &s->client, s->listener,
						      s->local_keyed ? &s->local : NULL)];

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
	source_put(t, s->source);
	s->source = SESSION_NONE;
	s->state = SESSION_CLOSING;
	t->active--;
	t->closing++;
}

int session_table_init_key(struct session_table *t, uint32_t capacity, uint64_t timeout_ns,
			   const struct siphash_key *key)
{
	uint32_t nbuckets = 1, i;

	memset(t, 0, sizeof(*t));
	if (capacity == 0 || capacity > SESSION_MAX_CAPACITY)
		return -EINVAL;
	while (nbuckets < 2 * capacity)
		nbuckets <<= 1;

	t->slots = calloc(capacity, sizeof(*t->slots));
	t->buckets = malloc((size_t)nbuckets * sizeof(*t->buckets));
	t->sources = calloc(capacity, sizeof(*t->sources));
	t->source_buckets = malloc((size_t)nbuckets * sizeof(*t->source_buckets));
	if (!t->slots || !t->buckets || !t->sources || !t->source_buckets) {
		session_table_fini(t);
		return -ENOMEM;
	}

	for (i = 0; i < nbuckets; i++)
		t->buckets[i] = t->source_buckets[i] = SESSION_NONE;
	for (i = 0; i < capacity; i++) {
		struct session *s = &t->slots[i];

		s->state = SESSION_FREE;
		s->fd = -1;
		s->flow = SESSION_NONE; /* no fast-path slot history yet */
		s->lru_prev = SESSION_NONE;
		s->lru_next = SESSION_NONE;
		s->hash_next = i + 1 < capacity ? i + 1 : SESSION_NONE;
		s->source = SESSION_NONE;
		t->sources[i].next = i + 1 < capacity ? i + 1 : SESSION_NONE;
	}
	t->capacity = capacity;
	t->bucket_mask = nbuckets - 1;
	t->free_head = 0;
	t->source_free = 0;
	t->lru_head = SESSION_NONE;
	t->lru_tail = SESSION_NONE;
	t->active = 0;
	t->timeout_ns = timeout_ns;
	t->key = *key;
	return 0;
}

int session_table_init(struct session_table *t, uint32_t capacity, uint64_t timeout_ns)
{
	struct siphash_key key;
	int ret;

	memset(t, 0, sizeof(*t));
	ret = siphash_key_random(&key);
	if (ret)
		return ret;
	ret = session_table_init_key(t, capacity, timeout_ns, &key);
	memset(&key, 0, sizeof(key));
	return ret;
}

void session_table_fini(struct session_table *t)
{
	free(t->slots);
	free(t->buckets);
	free(t->sources);
	free(t->source_buckets);
	memset(t, 0, sizeof(*t));
}

/* a is later than b, counting across the 2^32 wrap */
static bool gen_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

void session_gens_keep(struct session_gens *g, const struct session_table *t)
{
	uint32_t i;

	if (!t->slots)
		return;
	free(g->next);
	g->n = 0;
	/* Without the memory, every index starts above the old table's gens instead: a slot
	 * used much less than the busiest may meet its last life again sooner than 4096
	 * lives on. */
	g->next = malloc((size_t)t->capacity * sizeof(*g->next));
	if (g->next)
		g->n = t->capacity;
	for (i = 0; i < t->capacity; i++) {
		if (g->next)
			g->next[i] = t->slots[i].gen;
		if (gen_after(t->slots[i].gen, g->fresh))
			g->fresh = t->slots[i].gen;
	}
}

void session_gens_seed(struct session_gens *g, struct session_table *t)
{
	uint32_t i;

	for (i = 0; t->slots && i < t->capacity; i++)
		t->slots[i].gen = i < g->n ? g->next[i] : g->fresh;
	free(g->next);
	g->next = NULL;
	g->n = 0;
}

void session_gens_fini(struct session_gens *g)
{
	free(g->next);
	g->next = NULL;
	g->n = 0;
}

struct session *session_lookup(struct session_table *t, const struct addr *client,
			       uint32_t listener, const struct addr *local)
{
	uint32_t i;

	if (!t->buckets)
		return NULL;
	for (i = t->buckets[session_bucket(t, client, listener, local)]; i != SESSION_NONE;
	     i = t->slots[i].hash_next) {
		struct session *s = &t->slots[i];

		if (s->listener == listener && addr_equal(&s->client, client) &&
		    s->local_keyed == (local != NULL) &&
		    (!local || addr_equal_host(&s->local, local)))
			return s;
	}
	return NULL;
}

struct session *session_insert(struct session_table *t, const struct addr *client,
			       uint32_t listener, const struct addr *local, uint64_t now)
{
	struct session *s;
	uint8_t mapped[16];
	uint32_t *bucket;
	uint32_t i = t->free_head;

	if (!t->slots || i == SESSION_NONE || session_source_full(t, client))
		return NULL;
	s = &t->slots[i];
	t->free_head = s->hash_next;

	s->client = *client;
	memset(&s->local, 0, sizeof(s->local));
	if (local)
		s->local = *local;
	s->local_keyed = local != NULL;
	s->listener = listener;
	s->upstream = 0;
	s->last_active = now;
	s->fd = -1;
	s->tx_batch = SESSION_NONE;
	s->fast = false;
	s->fast_iif = 0;
	s->fast_parked = false;
	s->fast_park_open = false;
	s->judge_due = false;
	s->denied = false;
	s->seg_max = s->reply_seg_refused = 0;
	s->reply_ovfl = 0;
	s->state = SESSION_ACTIVE;
	s->started = now;
	s->up_datagrams = s->up_bytes = s->down_datagrams = s->down_bytes = 0;
	/* gen is kept: it counts the slot's lives, so stale completions stay detectable. */

	bucket = &t->buckets[session_bucket(t, client, listener, local)];
	s->hash_next = *bucket;
	*bucket = i;
	addr_to_mapped(client, mapped);
	s->source = source_get(t, mapped);
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

struct session *session_evict(struct session_table *t, uint64_t now, uint64_t min_idle_ns)
{
	struct session *s;

	if (!t->slots || t->lru_head == SESSION_NONE)
		return NULL;
	s = &t->slots[t->lru_head];
	if (now < s->last_active || now - s->last_active < min_idle_ns)
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
	t->closing--;
	s->state = SESSION_FREE;
	s->gen++;
	s->fd = -1;
	s->hash_next = t->free_head;
	t->free_head = session_index(t, s);
}
