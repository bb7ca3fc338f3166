/* SPDX-License-Identifier: MIT */
/* What a worker backend implements (struct worker_ops) and what it may call back in
 * worker.c. The runtime hands a backend's ops to worker_init; worker.c calls a backend only
 * through them, so no backend is named outside the runtime's choice. */
#ifndef RINGRELAY_WORKER_BACKEND_H
#define RINGRELAY_WORKER_BACKEND_H

#include "sock.h"
#include "udata.h"
#include "worker.h"

/* listener_close, mirror_open and mirror_close may be NULL when the backend has nothing to
 * do there. */
struct worker_ops {
	/* The thread's body: set up, worker_apply(first), worker_report READY or FAILED, loop
	 * (worker_run_cmd when cmd_fd fires, worker_tick on a timer) until stop_fd fires, then
	 * worker_close_all and tear down. Returns 0 or -errno with w->error set. */
	int (*run)(struct worker *w, struct worker_cmd *first);
	/* What a backend does when the worker's set of sockets or sessions changes. */
	int (*listener_open)(struct worker *w, uint32_t li);
	void (*listener_close)(struct worker *w, uint32_t li); /* before the fd is closed */
	int (*mirror_open)(struct worker *w, uint32_t relay, uint32_t j);
	void (*mirror_close)(struct worker *w, uint32_t relay, uint32_t j);
	int (*session_opened)(struct worker *w, uint32_t relay, struct session *s);
	/* s is CLOSING: stop receiving on it; release it now or when its receive ends. */
	void (*session_close)(struct worker *w, uint32_t relay, struct session *s);
};

/* Runs the pending command (backends call it when cmd_fd fires), then marks it done. Returns
 * whether there was one (a harness that plays the loop times it by that). */
bool worker_run_cmd(struct worker *w);
/* Applies cmd (APPLY) through w->ops; used for start-up too. 0 or -errno + cmd->error. */
int worker_apply(struct worker *w, struct worker_cmd *cmd);
/* Closes everything worker_apply opened (at exit). */
void worker_close_all(struct worker *w);
/* Reports READY/FAILED to main. */
void worker_report(struct worker *w, enum worker_state state);
/* Called by backends on a timer tick: expires idle sessions and finishes draining relays. */
void worker_tick(struct worker *w);
/* Period of the expiry timer: a quarter of the shortest session timeout, at most 1 s and at
 * most w->heartbeat_ns, at least 10 ms. */
uint64_t worker_tick_ns(const struct worker *w);

/* session_full = "evict": how long the least recently used session must have been idle to be
 * ended for a new client (worker_session_get). A session with a datagram in the last second is
 * in use; ending it would only trade one client for another. Backends may rely on it being
 * above 0: a session used at w->now is not evicted before w->now moves on. */
#define WORKER_EVICT_MIN_IDLE_NS 1000000000ull

/* The session for a datagram from client on listener li, creating it (and its connected
 * upstream socket, s->fd) when new; the backend's session_opened hook then adopts the fd.
 * Returns NULL and counts the n datagrams (GRO segments) it carries as dropped when the
 * table is full or a socket cannot be made. With session_full = "evict" it may end another
 * session of the relay (idle for WORKER_EVICT_MIN_IDLE_NS), whose slot it may then take. */
struct session *worker_session_get(struct worker *w, uint32_t li, const struct addr *client,
				   const struct sock_rx_meta *meta, uint32_t n);
/* For another data path (the BPF fast path, issue 9) relaying session s of relay slot r:
 * folds its deltas since the last fold, up (client -> upstream) and down (upstream ->
 * client), into the relay's counters and into s's upstream's, so that the per-upstream
 * counters keep adding up to the relay's; a reply also counts for reply_timeout. Call it on
 * the worker's own thread, wherever the relay's counters get those deltas. */
void worker_count_fast(struct worker *w, uint32_t r, struct session *s,
		       const struct relay_dir_counters *up, const struct relay_dir_counters *down);
/* Accounts an SO_RXQ_OVFL value seen on listener l. */
void worker_note_overflow(struct worker *w, struct listener *l, const struct sock_rx_meta *m);
/* The same for session s's socket (the reply direction), whose upstream counts them too
 * (none for a transparent mirror's client socket: the relay's only). */
void worker_note_reply_overflow(struct worker *w, uint32_t relay, struct session *s,
				const struct sock_rx_meta *m);
/* The same for mirror socket j of relay slot relay, whose member counts them too. */
void worker_note_mirror_overflow(struct worker *w, uint32_t relay, uint32_t j,
				 const struct sock_rx_meta *m);
/* The same for a mirror socket no longer in the relay's list (closed, its completions still
 * coming): its member's counter slot up (SESSION_NONE: the relay's only), *last its
 * SO_RXQ_OVFL as last seen. */
void worker_note_member_overflow(struct worker *w, uint32_t relay, uint32_t up,
				 uint32_t *last, const struct sock_rx_meta *m);

/* A transparent mirror's session socket (bound to its client's address, not connected) is
 * read like a mirror socket. What it received from from (NULL: unknown), segs datagrams in
 * bytes: a member's reply, counted to it, or another sender's datagram to the client's
 * address; either way received and dropped (DROP_MIRROR_REPLY). */
void worker_mirror_session_reply(struct worker *w, uint32_t r, const struct addr *from,
				 uint32_t segs, uint64_t bytes);

/* Empties the error queue of fd, session s's socket to its upstream (NULL: a mirror member's
 * socket), of at most max ICMP error copies, after a send or a receive on it met err (a
 * negative errno; 0: none said). Returns the errno of the newest copy removed, 0 when there
 * was none; *too_big says whether one was EMSGSIZE, *n (when not NULL) how many it removed.
 * A "packet too big" among them, or err's EMSGSIZE (the kernel refused a send as too long, or
 * a receive ended on it), has s's fast-path rule read the upstream's path MTU again. */
int worker_drain_errors(struct worker *w, struct session *s, int fd, uint32_t max, int err,
			bool *too_big, uint32_t *n);

/* Whether session s's replies in UDP GSO bursts of gso-byte segments (coalesced as the
 * upstream sent them; 0: a single datagram) may go to its client whole: its path refused no
 * burst of segments that long (reply_seg_refused). Else they go in pieces from the start. */
static inline bool worker_reply_whole(const struct session *s, uint16_t gso)
{
	return !s->reply_seg_refused || gso < s->reply_seg_refused;
}

/* A reply of session s of relay slot r, at now, keeps it alive, unless the filter's rules
 * deny its client (s->denied, judge_one): then only its client's own datagrams do, which the
 * filter drops where it runs, so it expires at its idle timeout there and lives on where
 * the filter does not run. One test of a field of s. */
static inline void worker_reply_touch(struct worker *w, uint32_t r, struct session *s,
				      uint64_t now)
{
	if (!s->denied)
		session_touch(&w->relays[r].sessions, s, now);
}

/* The client's path refused a reply burst of session s in gso-byte segments (a link with a
 * smaller MTU than the upstream's, a device that cannot segment): its later bursts of
 * segments that long go in pieces (the limit only ever goes down). The refused size is kept,
 * not the longest taken: a refusal of 1-byte segments would leave that at 0, which is "none
 * refused". */
static inline void worker_reply_refused(struct session *s, uint16_t gso)
{
	if (gso && (!s->reply_seg_refused || gso < s->reply_seg_refused))
		s->reply_seg_refused = gso;
}

/* The counter slot session s of relay slot r counts into: its upstream's, or SESSION_NONE
 * (nothing counted) when that slot counts another member since s opened (a reload or a new
 * resolution gave it to a new member before this worker's APPLY ended or repointed s), the
 * test session_ended makes. Pass it, not s->upstream, to the counting below. */
static inline uint32_t worker_session_up(const struct worker *w, uint32_t r,
					 const struct session *s)
{
	if (s->upstream >= CONFIG_MAX_UPSTREAMS ||
	    w->relays[r].uc_gen[s->upstream] != s->upstream_gen)
		return SESSION_NONE;
	return s->upstream;
}

/* How many times counter slot up of relay slot r changed members so far (0 for none, >=
 * CONFIG_MAX_UPSTREAMS): what a send to it keeps from its submission (worker_up_since). */
static inline uint32_t worker_up_moves(const struct worker *w, uint32_t r, uint32_t up)
{
	return up < CONFIG_MAX_UPSTREAMS ? w->relays[r].uc_moves[up] : 0;
}

/* The counter slot a send to counter slot up of relay slot r counts at when it completes, its
 * submission having kept the bits in mask of worker_up_moves then (moves): up, or SESSION_NONE
 * when the slot counts another member since (a reload or a new resolution gave it to a new
 * member while the send was in flight), as worker_session_up tells for a session. Exact while
 * the slot changed members fewer than mask + 1 times meanwhile. */
static inline uint32_t worker_up_since(const struct worker *w, uint32_t r, uint32_t up,
				       uint32_t moves, uint32_t mask)
{
	if (up >= CONFIG_MAX_UPSTREAMS || ((w->relays[r].uc_moves[up] ^ moves) & mask))
		return SESSION_NONE;
	return up;
}

/* Per-upstream counting, relay slot r, counter slot up (>= CONFIG_MAX_UPSTREAMS: no upstream,
 * nothing counted). Each goes with the relay counter of the same event, so the upstreams of
 * a relay add up to it (counters.h). */
static inline void upstream_count_sent(struct worker *w, uint32_t r, uint32_t up, uint64_t n,
				       uint64_t bytes)
{
	struct upstream_counters *uc;

	if (up >= CONFIG_MAX_UPSTREAMS)
		return;
	uc = worker_uc(w, r, up);
	counter_add(&uc->tx_pkts, n);
	counter_add(&uc->tx_bytes, bytes);
}

/* n datagrams (or ICMP notices) lost to upstream up: to an ICMP unreachable, or otherwise. */
static inline void upstream_count_lost(struct worker *w, uint32_t r, uint32_t up,
				       bool unreachable, uint64_t n)
{
	if (up >= CONFIG_MAX_UPSTREAMS)
		return;
	counter_add(unreachable ? &worker_uc(w, r, up)->unreachable
				: &worker_uc(w, r, up)->send_errors,
		    n);
}

static inline void upstream_count_rx(struct worker *w, uint32_t r, uint32_t up, uint64_t n,
				     uint64_t bytes)
{
	struct upstream_counters *uc;

	if (up >= CONFIG_MAX_UPSTREAMS)
		return;
	uc = worker_uc(w, r, up);
	counter_add(&uc->rx_pkts, n);
	counter_add(&uc->rx_bytes, bytes);
}

/* A reply read from session s's socket (segs datagrams, bytes in all; m its control
 * messages): the socket's drops told since, received by the relay and from the session's
 * upstream. What becomes of it is the caller's. */
static inline void worker_count_session_reply(struct worker *w, uint32_t r, struct session *s,
					      const struct sock_rx_meta *m, uint32_t segs,
					      uint64_t bytes)
{
	worker_note_reply_overflow(w, r, s, m);
	relay_count_rx(&w->counters[r], RELAY_DIR_TO_CLIENT, segs, bytes);
	upstream_count_rx(w, r, worker_session_up(w, r, s), segs, bytes);
}

/* segs copies for mirror member up, which has no socket (mirror_open_member failed): lost as
 * the send they get no chance at would have been. */
static inline void worker_count_unsent_copies(struct worker *w, uint32_t r, uint32_t up,
					      uint64_t segs)
{
	relay_count_send_error(&w->counters[r], RELAY_DIR_TO_UPSTREAM, 0, segs);
	upstream_count_lost(w, r, up, false, segs);
}

/* How many times, at most, a send to an upstream that took an ICMP error an earlier datagram
 * left pending on its socket goes again whole (both backends). Each time takes another error,
 * whose copy the socket's error queue held: on veth a datagram that goes out draws its error
 * within its send, which fails the socket's next send, so with io_uring, whose sends of a
 * round all run before any completion is handled, about half of a round's sends of one socket
 * to a dead upstream fail, and so do half of what goes again: 7 tries leave about one in 2^8
 * of such a round's sends lost (3 left some 5 % of a test's 603). The cap bounds the tries of
 * one send where errors keep coming (a steady flow to a dead upstream); what fails after it
 * is lost, counted by what failed it. Of a send of several (gathered, a GRO burst) only the
 * first datagram is: the rest go again as new sends, with tries of their own, so a datagram
 * late in one may be sent some 8 times for each datagram before it, one lost at each new
 * start (never an endless loop). Each time took an error whose copy was queued,
 * which a datagram that went out drew, so the sends going again are never more than those
 * that went out. */
#define WORKER_SEND_AGAIN_MAX 7u

/* An ICMP unreachable that a socket to upstream up reported for a datagram sent earlier: a
 * notice, no loss (counters.h). */
static inline void worker_count_notice(struct worker *w, uint32_t r, uint32_t up)
{
	counter_add(&w->counters[r].upstream_unreachable_notices, 1);
	upstream_count_lost(w, r, up, true, 1);
}

/* What mirror member up sent back (segs datagrams, bytes in all): received, and dropped. */
static inline void worker_count_mirror_reply(struct worker *w, uint32_t r, uint32_t up,
					     uint32_t segs, uint64_t bytes)
{
	relay_count_rx(&w->counters[r], RELAY_DIR_TO_CLIENT, segs, bytes);
	upstream_count_rx(w, r, up, segs, bytes);
	relay_count_drop(&w->counters[r], RELAY_DIR_TO_CLIENT, DROP_MIRROR_REPLY, segs);
}

/* Which members of mirror relay slot r get a copy now (bit i: member i of p, or mirror
 * socket i): the enabled ones, or every socket while the worker's sockets still follow an
 * older member list (a reload or a new resolution is on its way to this worker). */
static inline uint64_t worker_mirror_copies(const struct worker *w, uint32_t r,
					    const struct pool *p)
{
	const struct worker_relay *wr = &w->relays[r];
	uint32_t n = wr->transparent ? p->n : wr->n_mirror;
	uint64_t all = n >= 64 ? UINT64_MAX : (1ull << n) - 1;

	if (!wr->transparent && p->members_gen != wr->members_gen)
		return all;
	return p->copy_mask & all;
}

#endif
