/* SPDX-License-Identifier: MIT */
/* A per-worker, fixed-capacity session table for one relay: lookup by (client address,
 * listener), least-recently-used expiry in O(expired), a count of sessions per client address
 * (without the port) for max_sessions_per_source, eviction of the least recently used
 * session, memory allocated once at init. Both hashes are SipHash-2-4 under a key of the
 * table's own from getrandom (siphash.h), so clients cannot choose colliding addresses.
 * Single-threaded: only the owning worker touches it. */
#ifndef RINGRELAY_SESSION_H
#define RINGRELAY_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "siphash.h"

#define SESSION_NONE UINT32_MAX

enum session_state { SESSION_FREE, SESSION_ACTIVE, SESSION_CLOSING };

struct session {
	struct addr client;	/* the client's address and port */
	struct addr local;	/* the address the client sent to (replies come from it) */
	uint32_t listener;	/* worker-local listener index */
	uint32_t upstream;	/* its upstream's counter slot (pool_member.slot); SESSION_NONE
				 * for a transparent mirror's session (it sends to every member) */
	struct addr upstream_addr; /* that upstream: stays right when a reload reorders them */
	uint32_t upstream_gen;	/* the member its counter slot counted when it opened */
	uint64_t last_active;	/* ns, monotonic, as passed to insert/touch */
	uint32_t gen;		/* bumped on release: stale completions compare it; a new
				 * table of the relay slot goes on from it (session_gens) */
	int fd;			/* upstream socket, owned by the backend; -1 when none */
	uint32_t tx_batch;	/* backend's open send batch for this session, or SESSION_NONE */
	uint32_t seg_max;	/* backend's: the longest datagram the upstream path carries
				 * unfragmented (a UDP GSO segment); 0 until known */
	uint32_t reply_ovfl;	/* its socket's SO_RXQ_OVFL count as last seen */
	uint32_t reply_seg_refused; /* backend's: the shortest GSO segment of a reply burst the
				     * client's path refused (0: none refused); shorter ones
				     * go whole (worker_reply_whole) */
	enum session_state state;
	bool fast;		/* also relayed by the BPF fast path (offload) */
	uint8_t fast_refused;	/* else why not: enum offload_refusal (0: not asked) */
	bool local_keyed;	/* local's host is part of the key (a wildcard listener's) */
	bool rx_named;		/* io_uring: its receive was armed to take the sender's name
				 * (a transparent mirror's socket), so its buffers hold one */
	uint32_t flow;		/* ... in this offload_stats slot */
	int fast_iif;		/* ... which takes the client's datagrams arriving on this device */
	/* the interface its first datagram arrived by (pktinfo: a wildcard listener's, or any
	 * while a filter runs; 0: not known): a change of the filter's rules marks its client
	 * denied only where the filter judges there (judge_one) */
	int rx_iif;
	/* the filter's rules in force when it went fast denied its client, or could not be
	 * read: the worker's next judging turn judges it (worker.c, judge_due) */
	bool judge_due;
	/* the filter's rules deny its client, judged after they changed, and it is not (or no
	 * longer) on the fast path: the upstream's replies no longer keep it alive, only its
	 * client's datagrams do (those the filter let through); set and cleared by the worker's
	 * judging turns (worker.c, judge_one; the backends' worker_reply_touch) */
	bool denied;
	/* the program's wrong_iface count of its client's direction when it went fast (or its
	 * rules last moved): one that moved since says a client datagram arrived by another
	 * device than fast_iif, where the filter's verdict there does not hold (judge_one) */
	uint32_t judge_wrong;
	struct addr fast_local; /* the upstream socket's own address: the fast path's source */
	uint64_t fast_base[4];	/* folded so far: pkts up, pkts down, bytes up, bytes down */
	uint64_t fast_seen;	/* the program's last-seen time at the last fold */
	uint64_t fast_pkts;	/* datagrams the fast path relayed for this session (folded) */
	uint16_t fast_mtu[2];	/* its rules' path_mtu, [enum offload_dir] (0: none) */
	uint32_t fast_mtu_pass[2]; /* the program's mtu_pass counts when they were last read */
	uint32_t fast_mtu_too_big[2]; /* ... and its too_big counts */
	uint64_t fast_mtu_at;	/* when the reply direction's path MTU was last read (ns) */
	/* its listener's SO_MARK and device (0: none): the replies' route keys */
	uint32_t fast_reply_mark;
	int fast_reply_oif;
	int64_t fast_reply_uid; /* ... and its owner */
	/* the program's wrong_iface and fib_pass counts, summed over both directions, when its
	 * rules were last derived (wraps); until when (ns) they make no derivation due after one
	 * that found the routes as they were, and the next such back-off (s; 0: none yet) */
	uint32_t fast_route_pass;
	uint8_t fast_route_backoff;
	/* the refusal the last derivation found (0: none), which one more confirms */
	uint8_t fast_route_refused;
	uint64_t fast_route_quiet;
	/* the route epoch (worker_route_epoch) its rules were last derived under, or its fast
	 * open last tried: a newer one makes a derivation (or a try) due */
	uint32_t fast_route_epoch;
	/* a route change since fast_route_epoch covers its addresses (offload_route_scope): it
	 * is due for the epoch, a derivation that finds its routes as they were or not */
	bool fast_route_hit;
	/* it left the fast path for its routes (OFFLOAD_RECHECK_LEAVE), or its open was refused
	 * for them (offload_open_parks): its fast open is tried again at a new route epoch that
	 * covers its addresses, so that it comes back when its routes do, and, one that left, at
	 * fast_route_quiet too (backing off with fast_route_backoff) */
	bool fast_parked;
	/* ... parked from its open, never fast since: tried at such route epochs only
	 * (offload_open_park) */
	bool fast_park_open;
	/* per direction: until when (ns) passes up make no reading due, after one that found
	 * the rule right, and the next such back-off (s; 0: none yet) */
	uint64_t fast_mtu_quiet[2];
	uint8_t fast_mtu_backoff[2];
	/* ... and the same for ICMP too-bigs (one forged by the client costs a reading each) */
	uint8_t fast_mtu_tb_backoff[2];
	uint64_t fast_mtu_tb_quiet[2];
	/* For the access log: when it began (ns, as passed to insert) and what it received
	 * each way, counted by the backends with session_count_up/down. */
	uint64_t started;
	uint64_t up_datagrams, up_bytes;     /* from the client */
	uint64_t down_datagrams, down_bytes; /* from the upstream */
	uint32_t lru_prev, lru_next; /* private to session.c */
	uint32_t hash_next;	     /* private to session.c */
	uint32_t source;	     /* private to session.c: its entry in sources */
};

/* Private to session.c: how many ACTIVE sessions one client address holds. */
struct session_source {
	uint8_t addr[16]; /* v4-mapped */
	uint32_t count;	  /* 0: free, on the free list through next */
	uint32_t next;	  /* hash chain, or free list */
};

struct session_table {
	struct session *slots;
	uint32_t capacity;
	uint32_t *buckets; /* SESSION_NONE-terminated chains */
	uint32_t bucket_mask;
	uint32_t free_head; /* free list through hash_next */
	uint32_t lru_head, lru_tail; /* ACTIVE sessions, oldest first */
	uint32_t active;	     /* ACTIVE sessions (CLOSING ones are not counted) */
	uint32_t closing;	     /* CLOSING sessions: slots the backend has yet to give back */
	uint64_t timeout_ns;
	/* ACTIVE sessions one client address may hold; 0: no limit (the owner sets it) */
	uint32_t max_per_source;
	struct siphash_key key;
	struct session_source *sources; /* capacity entries: no more sources than sessions */
	uint32_t *source_buckets;	/* bucket_mask + 1 chains */
	uint32_t source_free;
};

/* Allocates everything for capacity sessions (1 .. 2^30) and reads the table's hash key from
 * getrandom. Returns 0, -EINVAL, -ENOMEM, or getrandom's -errno (no table without a key: a
 * predictable hash would let clients line up in one chain). */
int session_table_init(struct session_table *t, uint32_t capacity, uint64_t timeout_ns);
/* The same with a given key (tests: reproducible layouts). */
int session_table_init_key(struct session_table *t, uint32_t capacity, uint64_t timeout_ns,
			   const struct siphash_key *key);
/* Frees memory; accepts a zeroed or already finished table. Closes no fds. */
void session_table_fini(struct session_table *t);

/* What a table leaves to the next one made in its place (a worker's relay slot). Completions
 * and events name a session by its slot index and the low bits of its gen (udata.h), and one
 * of the old table can still be on its way when the new table has sessions (an io-wq receive,
 * a send completing late): were the new table's gens to start at 0 again, it would be taken
 * for the new session at its index. So each index's lives go on counting across tables, as
 * in one table: the new one's first gen there is the old one's next, and nothing of the old
 * table matches it until 4096 lives later (UDATA_GEN_MASK). */
struct session_gens {
	uint32_t *next; /* per slot index of the last table kept: the gen its next life takes;
			 * NULL when none is kept (none yet, or no memory: fresh only) */
	uint32_t n;
	uint32_t fresh; /* above every gen handed out in the tables kept so far: the first gen of
			 * an index past n (wrapping compare) */
};

/* Keeps what t (about to be finished) handed out in g, for the table made next in its place.
 * A table without slots changes nothing. */
void session_gens_keep(struct session_gens *g, const struct session_table *t);
/* Gives the slots of t (just initialised, in the place g kept the previous table of) the
 * gens that follow that table's; g keeps its fresh only (t carries the rest from now on). */
void session_gens_seed(struct session_gens *g, struct session_table *t);
/* Frees what g keeps; accepts a zeroed or already finished one. */
void session_gens_fini(struct session_gens *g);

/* The ACTIVE session for this client on this listener, or NULL. local: the address the
 * client sent to, for a listener on a wildcard address (a client may send from one port to
 * two of the host's addresses: two flows, each answered from its own); NULL otherwise. A
 * session inserted with a local is found only with a local of the same host (its port
 * aside), and one inserted without only without. */
struct session *session_lookup(struct session_table *t, const struct addr *client,
			       uint32_t listener, const struct addr *local);
/* A new ACTIVE session (fd = -1, upstream = 0, local = *local or zeroed, tx_batch = SESSION_NONE,
 * started = now, counts zero, seg_max = 0) at the LRU tail, or NULL when every slot is ACTIVE
 * or CLOSING or the client's address holds max_per_source sessions already. The caller must
 * have checked lookup first. */
struct session *session_insert(struct session_table *t, const struct addr *client,
			       uint32_t listener, const struct addr *local, uint64_t now);
/* Marks activity: last_active = now and move to the LRU tail. O(1). */
void session_touch(struct session_table *t, struct session *s, uint64_t now);
/* The least recently used ACTIVE session idle for at least timeout_ns at now, moved to
 * CLOSING (no longer found by lookup, not counted in active); NULL when none is due.
 * Call repeatedly to expire all that are due. */
struct session *session_expire_next(struct session_table *t, uint64_t now);
/* Whether client's address (its port aside) holds max_per_source ACTIVE sessions already, so
 * session_insert would refuse it. */
bool session_source_full(const struct session_table *t, const struct addr *client);
/* ACTIVE sessions of client's address (its port aside). */
uint32_t session_source_count(const struct session_table *t, const struct addr *client);
/* For session_full = "evict": the least recently used ACTIVE session, if it has been idle for
 * at least min_idle_ns at now, moved to CLOSING like an expired one; NULL when there is none
 * that idle. */
struct session *session_evict(struct session_table *t, uint64_t now, uint64_t min_idle_ns);
/* Moves an ACTIVE session to CLOSING now (e.g. at shutdown). */
void session_close(struct session_table *t, struct session *s);
/* Returns a CLOSING session's slot to the free list and bumps its gen. */
void session_release(struct session_table *t, struct session *s);

static inline void session_count_up(struct session *s, uint64_t datagrams, uint64_t bytes)
{
	s->up_datagrams += datagrams;
	s->up_bytes += bytes;
}

static inline void session_count_down(struct session *s, uint64_t datagrams, uint64_t bytes)
{
	s->down_datagrams += datagrams;
	s->down_bytes += bytes;
}

static inline uint32_t session_index(const struct session_table *t, const struct session *s)
{
	return (uint32_t)(s - t->slots);
}

#endif
