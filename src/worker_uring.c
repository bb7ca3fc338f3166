// SPDX-License-Identifier: MIT
/* The io_uring backend. Each listener has one multishot recvmsg armed into the worker's
 * provided buffer ring; each session has a connected upstream socket with its own multishot
 * recvmsg. A datagram is sent on from the buffer it arrived in, and the buffer returns to
 * the ring when the last send reading it completes. One io_uring_enter per loop iteration
 * submits everything the previous batch of completions produced and waits for more.
 *
 * Fixed-file slots (plan.h): listener slot li at li, mirror sockets from a small pool
 * after them, then each forward relay's session region (w->regions; slot = base + index).
 *
 * Refreshing receives (uring_caps.rsrc_refresh: kernels before 6.13). A request on a fixed
 * file holds the ring's resource node that was current when it was issued until it ends, and
 * a file removed from the table is put only when its node and every older one are done: 6.1's
 * io_rsrc_node_ref_zero frees them strictly in order (liburing#1192). A multishot receive
 * armed at start and never ended (an idle listener, a long session, a mirror socket) so keeps
 * every socket closed after it open in the kernel: its port bound, replies queueing into it,
 * a listener in its SO_REUSEPORT group taking a share of the flows. So each fixed file's
 * receive is kept in a list in the order it was armed (struct rx_arm), with the removals
 * counted by then; the tick cancels the oldest armed before the latest removal and arms them
 * again (rx_refresh). The datagrams a cancelled receive did not read stay in the socket for
 * the new one, and what it did read completes as any receive's: nothing is lost. Each arm has
 * a sequence number of its own in its udata, so the end of a cancelled one (its -ECANCELED,
 * or an end of its own that came first) is told from the end of the receive armed now, and
 * only that one is armed again. A listener's close begins a refresh at once: its socket would
 * otherwise take its share of its SO_REUSEPORT group's flows, unread, until the next sweep.
 *
 * Cancels (rx_cancel) name the fixed file where the kernel can (uring_caps.cancel_fixed): every
 * request on the file the slot holds when the cancel runs ends, also an older arm that a
 * cancel before found running in io-wq, which it may have left armed: the next refresh of the
 * slot or its close ends it. (By udata, the fallback, such an arm stays until its socket is
 * closed and the ring's file table lets go of it.) The kernel runs a cancel when it takes it
 * from the SQ, before any later entry: the ring allows no IOSQE flag that would defer or
 * reorder one (restrict_ring), and a full SQ is submitted in order (get_sqe). So a refresh's
 * new arm, queued after its cancel, is never hit by it, and a close's cancel must be taken
 * while the slot still holds the socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bufpool.h"
#include "log.h"
#include "uring.h"
#include "worker_backend.h"
#include "worker_uring.h"

#define BGID 0
/* ICMP errors taken from a session's error queue at one time. */
#define SESSION_ERRQUEUE_MAX 256

/* The msghdr of a send that needs one (a destination, a source address, UDP GSO). The kernel
 * has read it once it consumed the SQE: the header and address by then
 * (IORING_FEAT_SUBMIT_STABLE, every kernel with multishot receives), the control data too
 * because sends are MSG_DONTWAIT (issued at submission, failed rather than retried later).
 * So each SQ entry has its own, found by the SQE's place in the ring: copies of one buffer
 * to different members (a transparent mirror) each keep theirs. */
struct tx_msg {
	struct msghdr msg;
	struct iovec iov;
	struct addr dest;
	_Alignas(struct cmsghdr) uint8_t control[SOCK_TX_CONTROL_LEN];
};

/* A coalesced receive (GRO) sent on as one UDP GSO send, by a session to its upstream or
 * back to its client, or as a mirror's copies: what it takes to send it again in pieces when
 * the path refuses the segments (an MTU smaller than the other side's, or one that shrank
 * since it was asked; a device or tunnel without UDP GSO). sess_idx is the session that
 * sends it (a transparent mirror's copies too), SESSION_NONE for a plain mirror's copies:
 * with the relay's mode, what send_target finds where it went by. A buffer sent to an
 * upstream on its own (not gathered, not GSO) names only its session here, or for a mirror's
 * copies the member list they went to (burst_session), so that a send failed by an ICMP error
 * can drain that session's socket and send the datagram again (on_send). */
struct gso_burst {
	const uint8_t *data;
	uint32_t len;
	uint16_t gso_size;
	uint32_t sess_idx, sess_gen;
	uint32_t seq;	      /* tx_seq when its last first send to an upstream was queued */
	uint32_t again_seq;   /* the same for its last send going again (send_again) */
	uint64_t members_gen; /* a mirror's: the member list its copies were sent to */
};

/* Datagrams of one session that arrived in one batch of completions leave in one sendmsg
 * with UDP_SEGMENT, and so do a mirror's copies to one member: the kernel walks the UDP/IP
 * send path once and cuts the datagrams at the device. Segments must be equal but the last
 * may be shorter (udp(7)), and each must fit the path MTU unfragmented (else the kernel
 * refuses the send with EMSGSIZE): a datagram longer than the session's (member's) seg_max
 * goes alone, and the kernel fragments it as it would on any socket. */
#define BATCH_MAX 64	      /* UDP_MAX_SEGMENTS of older kernels */
#define BATCH_BYTES 65000     /* below the 64 KB a GSO send may carry */
#define BATCH_POOL 256	      /* batches in flight; beyond that datagrams go singly */

struct tx_batch {
	struct msghdr msg;
	struct iovec iov[BATCH_MAX];
	_Alignas(struct cmsghdr) uint8_t control[SOCK_TX_CONTROL_LEN];
	uint16_t bid[BATCH_MAX];
	uint32_t *owner; /* while open: where its owner keeps it (batch_owner.open) */
	/* the session, to resend singly after the send failed; SESSION_NONE: a mirror's
	 * (sess_gen then the mirror socket's mirror_gen) */
	uint32_t sess_idx, sess_gen;
	uint32_t n, bytes, size, slot, relay;
	uint32_t up;	      /* the upstream counter slot it sends to */
	uint8_t up_moves;     /* worker_up_moves of up when it was queued: counted at up only
			       * while the slot counts the same member (worker_up_since) */
	uint64_t members_gen; /* a mirror's: the member list it was gathered under */
	uint32_t seq;	      /* tx_seq when its send was queued (batch_flush) */
	uint32_t next_free;
	/* the times it went again whole, each after it took a pending ICMP error (batch_again) */
	uint8_t again;
};

/* A receive's udata keeps in bid (which a receive's completion does not need: its buffer is
 * in the flags) whether it takes the sender's name (RX_NAMED: a session of a transparent
 * mirror) and, above, the number of its arm on its fixed file. */
#define RX_NAMED 1u
#define RX_SEQ_SHIFT 1
#define RX_NONE UINT32_MAX
/* Receives refreshed per tick at most: a worker with many sessions spreads them over ticks
 * (an SQE and two completions each beyond its new arm's). */
#define RX_REFRESH_MAX 2048u
#define RX_SWEEP_NS 1000000000ull /* a refresh sweep begins at most once a second */

/* The multishot receive of one fixed file (indexed by its slot). */
struct rx_arm {
	uint64_t ud;	   /* the udata it was armed with last: only that receive's end re-arms */
	uint32_t removals; /* uring_worker.removals when it was armed */
	uint32_t prev, next; /* in the list of armed receives, oldest first */
	bool linked;	     /* armed and not ended: in that list */
};

/* A socket whose error queue a failed send's drain found several ICMP error copies in, in this
 * round of completions (send_drain_errors). A round's sends run in order at its submission,
 * before any completion of theirs is handled. An ICMP error one draws (on veth, within its
 * send) fails the socket's next send, which takes it and sends nothing; the one after that
 * goes out and may draw another, which fails the next, and so on. The first of those failures
 * to complete drains every copy, those of the errors the later ones took too, which then find
 * the queue empty: what they took is told here. Each copy is an ICMP error that set the
 * socket's pending error once, so a drain accounts for at most as many failed sends as it
 * removed copies; fewer when errors came faster than sends took them (each overwrote the
 * pending error) or a receive took one, so the surplus goes only to a send of the same
 * socket's life (gen: its session's, or its mirror socket's mirror_gen) that the kernel had
 * before the drain (seq): one made after it can take only a newer error, whose copy waits,
 * and one that finds the queue empty then failed for a reason of its own (a route's
 * ENETUNREACH, which queues no copy). */
#define ERRQ_SEEN_MAX 16
struct errq_seen {
	int fd;
	uint32_t slot; /* the socket's fixed file */
	uint32_t gen;  /* the socket's life in it (errq_gen) */
	uint32_t seq;  /* tx_seq at the latest drain that added to it */
	int err;       /* the newest copy's errno */
	uint32_t left; /* copies removed beyond the failed sends that took one so far */
	bool too_big;  /* an EMSGSIZE among them */
};

#define DRAIN_BATCH 32 /* datagrams per recvmmsg of a socket being drained */
#define DRAIN_SESSIONS 64 /* sessions drained at once; more re-arm per empty datagram */
#define DRAIN_MAX (WORKER_MAX_LISTENERS + DRAIN_SESSIONS) /* room for every listener */

/* A closed mirror socket, remembered for its receive's completions after the close. Two per
 * fixed slot: a reload closes a slot's socket at most once, and any later command's completion
 * comes after those of the receive it cancelled; but the stop closes sockets outside that
 * order, and may close the slot's next socket (opened by a reload of the same round) while the
 * first's completions still wait in the kernel's overflow list of a full CQ. */
#define MIRROR_GONE_DEPTH 2
struct mirror_gone {
	bool valid;
	uint8_t up_moves;
	uint32_t relay, gen, up, ovfl;
};

struct uring_worker {
	struct worker *w;
	struct io_uring ring;
	struct bufpool bp;
	struct tx_msg *sq_msg; /* one per SQ entry */
	struct gso_burst *bursts; /* per buffer: its last GSO send, to resend; or the session
				   * that sent it alone (burst_session) */
	struct msghdr listen_msg;  /* multishot template: name + control + payload */
	struct msghdr session_msg; /* multishot template: payload only (connected socket) */
	bool mirror_used[PLAN_MIRROR_SLOTS];
	uint32_t mirror_batch[PLAN_MIRROR_SLOTS]; /* each mirror socket's open batch, or none */
	uint32_t mirror_gen[PLAN_MIRROR_SLOTS]; /* tells a slot's receives apart, like a session's */
	/* Each slot's sockets closed last, newest first, for their receive's completions after
	 * the close (mirror_gone_recv): relay and mirror_gen, the member's counter slot and how
	 * many times that slot had changed members (worker_up_moves), and SO_RXQ_OVFL as last
	 * seen. */
	struct mirror_gone mirror_gone[PLAN_MIRROR_SLOTS][MIRROR_GONE_DEPTH];
	struct tx_batch *batches; /* BATCH_POOL */
	uint32_t batch_free;	  /* free list through next_free */
	uint32_t open[BATCH_POOL]; /* batches gathering in this round of completions */
	uint32_t n_open;
	struct errq_seen errq_seen[ERRQ_SEEN_MAX]; /* this round's (emptied at its start) */
	uint32_t n_errq_seen;
	/* Submissions that left the SQ empty (tx_submitted): a send queued at tx_seq q was in
	 * the kernel's hands by the time it is past q (errq_seen). */
	uint32_t tx_seq;
	bool no_batch;		  /* the kernel refused a GSO send: send singly from now on */
	struct __kernel_timespec tick;
	struct uring_cq_watch cq_watch; /* the tick's check of the CQ's sizing */
	uint64_t stop_val;
	uint64_t cmd_val;
	int minus_one; /* the fd that empties a fixed-file slot */
	bool stopping;
	/* Listeners and sessions whose multishot receive an empty datagram ended, read with
	 * recvmmsg until their socket is empty (drain_sockets); a receive's udata names each. */
	uint64_t drain[DRAIN_MAX];
	uint32_t n_drain;
	struct mmsghdr drain_msgs[DRAIN_BATCH];
	struct iovec drain_iov[DRAIN_BATCH];
	uint32_t drain_bid[DRAIN_BATCH];
	/* Each fixed file's receive, the armed ones in a list (oldest at rx_head), and the
	 * sockets removed from the file table so far; refresh: the kernel needs the armed ones
	 * refreshed after removals, at most refresh_max a tick. */
	struct rx_arm *rx;
	uint32_t n_rx;
	uint32_t rx_head, rx_tail;
	uint32_t removals;
	bool refresh;
	uint32_t refresh_max;
	bool cancel_fixed; /* cancels name the fixed file (uring_caps.cancel_fixed) */
	/* A sweep refreshes the receives armed before the removals counted at its start (to);
	 * one begins at most every RX_SWEEP_NS: a steady churn (a close every tick) would
	 * otherwise refresh every armed receive at every tick. */
	bool sweeping;
	uint32_t sweep_to;
	uint64_t sweep_next_ns;
	bool sweep_soon; /* a listener closed: a sweep begins at once, whenever the last did */
	/* The first error that left the ring unable to do what the worker needs (ring_broken):
	 * the loop ends on it. 0: none. */
	int broken;
};

/* After a submission: when the kernel took all the SQ held, every send queued so far was
 * made before whatever comes next (tx_seq). */
static void tx_submitted(struct uring_worker *uw)
{
	if (!io_uring_sq_ready(&uw->ring))
		uw->tx_seq++;
}

/* Submits what is queued in the middle of a round, the buffers recycled so far put in the
 * ring first: a receive re-armed after ENOBUFS would find it as dry as before and fail again
 * at once. Returns what io_uring_submit returns. */
static int submit_now(struct uring_worker *uw)
{
	int ret;

	bufpool_commit(&uw->bp);
	ret = io_uring_submit(&uw->ring);
	tx_submitted(uw);
	return ret;
}

/* The ring cannot do what the worker needs any more (what, err): the loop ends on the first
 * such error, with w->error saying it, and main stops the process (worker.failed), whose
 * service manager starts it again. */
static void ring_broken(struct uring_worker *uw, const char *what, int err)
{
	if (uw->broken)
		return;
	uw->broken = err;
	snprintf(uw->w->error, sizeof(uw->w->error), "worker %u: %s: %s", uw->w->id, what,
		 strerror(-err));
}

/* Rounds submit_all gives the kernel to take what the SQ holds. */
#define SUBMIT_ALL_TRIES 64

/* Has the kernel take every SQE queued so far, before something that must not overtake them
 * (a fixed file emptied at once). It takes fewer only when it cannot allocate a request
 * (get_sqe): between tries the deferred work runs, which gives completed requests back.
 * Returns 0, or the last submission's -errno (-EAGAIN when it took some) when the SQ still
 * holds some after SUBMIT_ALL_TRIES rounds. */
static int submit_all(struct uring_worker *uw)
{
	uint32_t tries;
	int ret = 0;

	for (tries = 0; tries < SUBMIT_ALL_TRIES; tries++) {
		ret = submit_now(uw);
		if (!io_uring_sq_ready(&uw->ring))
			return 0;
		io_uring_get_events(&uw->ring);
	}
	return ret < 0 ? ret : -EAGAIN;
}

/* An SQ entry; with the SQ full, after submitting it (again until the kernel takes some). */
static struct io_uring_sqe *get_sqe(struct uring_worker *uw)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&uw->ring);

	/* The SQ is full only in an unusually large batch: flush it and go on. The kernel takes
	 * none of it (EAGAIN; never EBUSY on the 6.0+ kernels this backend runs on) only when it
	 * cannot allocate a request: then the requests whose completion waits for the deferred
	 * work that only asking for completions runs (DEFER_TASKRUN) give theirs back first.
	 * Their completions join this round's in the CQ, which has room for every one. */
	while (!sqe) {
		if (submit_now(uw) == -EAGAIN)
			io_uring_get_events(&uw->ring);
		sqe = io_uring_get_sqe(&uw->ring);
	}
	return sqe;
}

/* The udata of session s's receives (whichever arm: rx_same), relay slot relay, index idx. */
static uint64_t session_udata(uint32_t relay, uint32_t idx, const struct session *s)
{
	struct udata u = { .op = OP_RECV_SESSION, .relay = relay,
			   .bid = s->rx_named ? RX_NAMED : 0, .idx = idx, .gen = s->gen };

	return udata_pack(u);
}

static void arm_recv(struct uring_worker *uw, uint32_t slot, struct msghdr *msg, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(uw);

	/* MSG_TRUNC makes the kernel report a datagram's real length, so one that did not fit
	 * the buffer is dropped and counted instead of forwarded cut short. */
	io_uring_prep_recvmsg_multishot(sqe, (int)slot, msg, MSG_TRUNC);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->user_data = ud;
}

/* Whether receive udata a and b are of the same socket's life (a listener, a session, a mirror
 * socket), whichever arm of it each is. */
static bool rx_same(uint64_t a, uint64_t b)
{
	struct udata x = udata_unpack(a), y = udata_unpack(b);

	x.bid &= RX_NAMED;
	y.bid &= RX_NAMED;
	return udata_pack(x) == udata_pack(y);
}

/* The fixed file a receive's udata reads. A session's relay may have lost its region since
 * (its receive's last completions): the slot is then another's, whose rx_arm.ud differs. */
static uint32_t rx_slot(const struct uring_worker *uw, struct udata u)
{
	return u.op == OP_RECV_SESSION ? uw->w->regions.base[u.relay] + u.idx : u.idx;
}

static void rx_unlink(struct uring_worker *uw, uint32_t slot)
{
	struct rx_arm *a = &uw->rx[slot];

	if (!a->linked)
		return;
	if (a->prev != RX_NONE)
		uw->rx[a->prev].next = a->next;
	else
		uw->rx_head = a->next;
	if (a->next != RX_NONE)
		uw->rx[a->next].prev = a->prev;
	else
		uw->rx_tail = a->prev;
	a->linked = false;
}

/* Arms the multishot receive of fixed file slot (udata ud, its arm number aside) with the
 * next arm number, as the newest armed receive. */
static void rx_arm(struct uring_worker *uw, uint32_t slot, struct msghdr *msg, uint64_t ud)
{
	struct rx_arm *a = &uw->rx[slot];
	struct udata u = udata_unpack(ud);
	uint32_t seq = (udata_unpack(a->ud).bid >> RX_SEQ_SHIFT) + 1;

	u.bid = (u.bid & RX_NAMED) | seq << RX_SEQ_SHIFT; /* wraps in udata_pack */
	a->ud = udata_pack(u);
	a->removals = uw->removals;
	rx_unlink(uw, slot);
	a->prev = uw->rx_tail;
	a->next = RX_NONE;
	if (uw->rx_tail != RX_NONE)
		uw->rx[uw->rx_tail].next = slot;
	else
		uw->rx_head = slot;
	uw->rx_tail = slot;
	a->linked = true;
	arm_recv(uw, slot, msg, a->ud);
}

/* A receive's completion without F_MORE (udata ud, of fixed file slot): true when it ends
 * the receive armed last there, which leaves the list (its handler arms it again); false
 * for one a refresh cancelled, whose successor is armed already. */
static bool rx_ended(struct uring_worker *uw, uint32_t slot, uint64_t ud)
{
	if (slot >= uw->n_rx || uw->rx[slot].ud != ud)
		return false;
	rx_unlink(uw, slot);
	return true;
}

/* A cancel by fixed file of receive ud completes with ud under an op of its own, so that
 * the receive can be cancelled again by its udata should the kernel refuse it (on_cancel).
 * cancel_pair maps a receive's udata to its cancel's and back. */
static uint64_t cancel_pair(uint64_t ud)
{
	static const uint8_t pair[] = {
		[OP_RECV_LISTENER] = OP_CANCEL_LISTENER, [OP_CANCEL_LISTENER] = OP_RECV_LISTENER,
		[OP_RECV_SESSION] = OP_CANCEL_SESSION,	 [OP_CANCEL_SESSION] = OP_RECV_SESSION,
		[OP_RECV_MIRROR] = OP_CANCEL_MIRROR,	 [OP_CANCEL_MIRROR] = OP_RECV_MIRROR,
	};
	struct udata u = udata_unpack(ud);

	u.op = pair[u.op];
	return udata_pack(u);
}

/* Queues a cancel of every request on the file fixed file slot holds when the kernel takes
 * the cancel from the SQ, for receive ud armed there (its completion is on_cancel's). */
static void rx_cancel_fixed(struct uring_worker *uw, uint32_t slot, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(uw);

	uring_prep_cancel_fixed(sqe, slot);
	sqe->user_data = cancel_pair(ud);
}

/* Queues a cancel of receive ud by its udata (its completion is ignored). */
static void rx_cancel_udata(struct uring_worker *uw, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(uw);
	struct udata iu = { .op = OP_IGNORE };

	io_uring_prep_cancel64(sqe, ud, 0);
	sqe->user_data = udata_pack(iu);
}

/* Cancels the receives on fixed file slot, the one armed last and any older one still armed
 * (its end is ignored), and takes it out of the list of armed receives. A cancel by fixed
 * file must reach the kernel while the slot holds the socket. */
static void rx_cancel(struct uring_worker *uw, uint32_t slot)
{
	if (uw->cancel_fixed)
		rx_cancel_fixed(uw, slot, uw->rx[slot].ud);
	else
		rx_cancel_udata(uw, uw->rx[slot].ud);
	rx_unlink(uw, slot);
}

/* A cancel by fixed file (cancel_pair) completed with res: the number of requests it found
 * on the file the slot held (io-wq may have been running some of them: they may stay armed
 * until the next one), or an error when it ended none: -EINVAL, a kernel that refuses it
 * (which the probe did not see), which turns cancels by fixed file off; -EBADF, the slot was
 * empty when the kernel took it (a ring rx_cancel_empty found broken). A failed one is sent
 * again by the receive's udata, which would else stay armed and keep its socket open after a
 * close. (One by udata, whose completion is ignored, ends it, or finds it ended: -ENOENT; or
 * running in io-wq: -EALREADY, it may stay armed.) The end of each receive a cancel ended is
 * ignored (rx_ended), so none is armed twice. */
static void on_cancel(struct uring_worker *uw, const struct io_uring_cqe *cqe)
{
	if (cqe->res >= 0 || uw->stopping)
		return;
	rx_cancel_udata(uw, cancel_pair(cqe->user_data));
	if (cqe->res != -EINVAL || !uw->cancel_fixed)
		return;
	uw->cancel_fixed = false;
	log_warn("worker %u: a cancel by fixed file failed (%s): receives are cancelled by their "
		 "udata from now on",
		 uw->w->id, strerror(-cqe->res));
}

/* The udata of listener li's receives (whichever arm: rx_same). */
static uint64_t listener_udata(const struct uring_worker *uw, uint32_t li)
{
	struct udata u = { .op = OP_RECV_LISTENER, .idx = li, .gen = uw->w->listeners[li].gen };

	return udata_pack(u);
}

static void arm_listener(struct uring_worker *uw, uint32_t li)
{
	rx_arm(uw, li, &uw->listen_msg, listener_udata(uw, li));
}

static uint32_t session_slot(const struct worker *w, uint32_t relay, const struct session *s)
{
	return w->regions.base[relay] + session_index(&w->relays[relay].sessions, s);
}

/* The template a session's receive (completing with udata u) was armed with, which lays out
 * its buffers: the payload of a connected socket; a transparent mirror's socket is not
 * connected, so with the sender's address as a listener's. As armed, not as the relay or the
 * slot is now: a reload that changes the mode closes the sessions, whose last datagrams
 * complete after it, maybe once the slot has a new session. */
static struct msghdr *session_tmpl(struct uring_worker *uw, struct udata u)
{
	return u.bid & RX_NAMED ? &uw->listen_msg : &uw->session_msg;
}

static void arm_session(struct uring_worker *uw, uint32_t relay, struct session *s)
{
	struct worker_relay *wr = &uw->w->relays[relay];
	uint64_t ud;

	s->rx_named = wr->mode == RELAY_MODE_MIRROR;
	ud = session_udata(relay, session_index(&wr->sessions, s), s);
	rx_arm(uw, session_slot(uw->w, relay, s), session_tmpl(uw, udata_unpack(ud)), ud);
}

/* The tick follows the configuration (its timeouts): set at start and after each command. */
static void set_tick(struct uring_worker *uw)
{
	uint64_t tick = worker_tick_ns(uw->w);

	uw->tick.tv_sec = (long long)(tick / 1000000000ull);
	uw->tick.tv_nsec = (long long)(tick % 1000000000ull);
}

static void arm_timer(struct uring_worker *uw)
{
	struct io_uring_sqe *sqe = get_sqe(uw);
	struct udata u = { .op = OP_TIMER };

	io_uring_prep_timeout(sqe, &uw->tick, 0, 0);
	sqe->user_data = udata_pack(u);
}

static void arm_read(struct uring_worker *uw, int fd, uint64_t *val, enum udata_op op)
{
	struct io_uring_sqe *sqe = get_sqe(uw);
	struct udata u = { .op = op };

	io_uring_prep_read(sqe, fd, val, sizeof(*val), 0);
	sqe->user_data = udata_pack(u);
}

/* A send to an upstream (OP_SEND_UPSTREAM) keeps more in its udata than udata.h says: idx
 * holds the upstream's counter slot in its low TX_UP_BITS less one (TX_UP_NONE: none), the
 * high bit of TX_AGAIN in the last of them, and above them where its data starts in its
 * buffer's payload (a GRO burst's piece; TX_OFF_NONE when that does not fit); gen holds the
 * datagrams it carries less one (TX_SEGS), above them the low bits of how many times its
 * counter slot had changed members (TX_MOVES: it counts there only for that member,
 * worker_up_since), and above those the low bits of TX_AGAIN: how many times what it carries
 * went again before it (0: a first send). What it takes to send a datagram again
 * (send_again), and to stop at WORKER_SEND_AGAIN_MAX. */
#define TX_UP_BITS 8u
#define TX_UP_NONE ((1u << (TX_UP_BITS - 1)) - 1)
#define TX_OFF_NONE (UDATA_MAX_IDX >> TX_UP_BITS)
#define TX_MOVES_SHIFT 7u
#define TX_SEGS ((1u << TX_MOVES_SHIFT) - 1)
#define TX_MOVES 7u /* 8 changes of members while a send is in flight would pass for none */
#define TX_AGAIN_SHIFT 10u /* its low bits in gen */
#define TX_AGAIN_LOW 3u
#define TX_AGAIN_HIGH (TX_UP_NONE + 1) /* its high bit in idx */
#define TX_AGAIN 7u
_Static_assert(CONFIG_MAX_UPSTREAMS < TX_UP_NONE, "a counter slot fits below the offset");
_Static_assert(TX_SEGS + 1 >= 128, "TX_SEGS holds any count of datagrams (1 to 128) less one");
_Static_assert((TX_MOVES << TX_MOVES_SHIFT) < (1u << TX_AGAIN_SHIFT) &&
		   (TX_AGAIN_LOW << TX_AGAIN_SHIFT) <= UDATA_GEN_MASK,
	       "TX_AGAIN's low bits fit gen, above the datagrams and the moves");
_Static_assert(TX_AGAIN == (TX_AGAIN_LOW << 1 | 1), "TX_AGAIN: its low bits and one high bit");
_Static_assert(WORKER_SEND_AGAIN_MAX <= TX_AGAIN, "TX_AGAIN counts up to the cap");

/* How many times what send u (to an upstream, as queued) carries went again before it. */
static inline uint32_t tx_again(struct udata u)
{
	return (u.gen >> TX_AGAIN_SHIFT & TX_AGAIN_LOW) | (u.idx & TX_AGAIN_HIGH ? 4u : 0u);
}

/* Where a listener's receive put the payload in buffer bid (drain_socket lays its reads out
 * alike): every buffer sent to an upstream holds one. */
static uint8_t *tx_payload(struct uring_worker *uw, uint32_t bid)
{
	return io_uring_recvmsg_payload((void *)bufpool_addr(&uw->bp, bid), &uw->listen_msg);
}

/* Queues a send of the buffer's payload on fixed file slot: to dest (NULL on a connected
 * socket), from local (pktinfo; NULL: the socket's address), cut into gso_size datagrams
 * (UDP GSO; 0: one datagram). up is the upstream's counter slot for a send to an upstream
 * (OP_SEND_UPSTREAM; >= CONFIG_MAX_UPSTREAMS: none), again how many times what it carries
 * went again before (send_again; 0: a first send; at most TX_AGAIN). The buffer is referenced until
 * the completion. MSG_DONTWAIT: a full socket fails the send (counted) instead of parking it in the
 * ring, so one slow peer never holds buffers hostage. */
static void send_tagged(struct uring_worker *uw, uint32_t slot, const struct addr *dest,
			const struct addr *local, const void *data, uint32_t len, uint16_t gso_size,
			enum udata_op op, uint32_t relay, uint32_t bid, uint32_t up, uint32_t again)
{
	/* gen carries the datagrams the send carries: each copy of a buffer counts its own, in
	 * one piece or in many. */
	uint32_t segs = sock_segments(len, gso_size);
	struct udata u = { .op = op, .relay = relay, .bid = bid, .idx = up, .gen = segs };
	struct io_uring_sqe *sqe;
	struct tx_msg *m;
	uintptr_t off;
	uint32_t o, n;

	/* A send to an upstream has room for 128 (TX_SEGS + 1, UDP_MAX_SEGMENTS and twice
	 * UDP GRO's 64 today): more would spill into TX_MOVES and TX_AGAIN and count, and go
	 * again, as one datagram. A kernel that sends or gathers more gets them one by one, as
	 * a refused GSO send's (send_pieces): each counted, and sent again, on its own. */
	if (op == OP_SEND_UPSTREAM && segs > TX_SEGS + 1) {
		for (o = 0; o < len; o += n) {
			n = len - o < gso_size ? len - o : gso_size;
			send_tagged(uw, slot, dest, local, (const uint8_t *)data + o, n, 0, op,
				    relay, bid, up, again);
		}
		return;
	}
	sqe = get_sqe(uw);
	m = &uw->sq_msg[sqe - uw->ring.sq.sqes];
	if (op == OP_SEND_UPSTREAM) {
		off = (uintptr_t)data - (uintptr_t)tx_payload(uw, bid);
		u.idx = (up < CONFIG_MAX_UPSTREAMS ? up : TX_UP_NONE) |
			(again & 4u ? TX_AGAIN_HIGH : 0u) |
			(uint32_t)(off < TX_OFF_NONE ? off : TX_OFF_NONE) << TX_UP_BITS;
		u.gen = (segs - 1) |
			(worker_up_moves(uw->w, relay, up) & TX_MOVES) << TX_MOVES_SHIFT |
			(again & TX_AGAIN_LOW) << TX_AGAIN_SHIFT;
		/* (a send going again leaves seq: the buffer's first sends, queued before a drain,
		 * keep their claim to its spare copies: errq_seen_of) */
		if (again)
			uw->bursts[bid].again_seq = uw->tx_seq;
		else
			uw->bursts[bid].seq = uw->tx_seq;
	}
	if (!dest && !local && segs == 1) {
		/* The common case needs no msghdr at all. */
		io_uring_prep_send(sqe, (int)slot, data, len, MSG_DONTWAIT);
	} else {
		memset(&m->msg, 0, sizeof(m->msg));
		m->iov.iov_base = (void *)data;
		m->iov.iov_len = len;
		m->msg.msg_iov = &m->iov;
		m->msg.msg_iovlen = 1;
		if (dest) {
			m->dest = *dest;
			m->msg.msg_name = &m->dest;
			m->msg.msg_namelen = addr_len(&m->dest);
		}
		m->msg.msg_controllen =
			sock_tx_control(m->control, local, segs > 1 ? gso_size : 0);
		if (m->msg.msg_controllen)
			m->msg.msg_control = m->control;
		io_uring_prep_sendmsg(sqe, (int)slot, &m->msg, MSG_DONTWAIT);
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = udata_pack(u);
	uw->bp.refs[bid]++;
}

/* send_tagged for a datagram's first send (again 0). */
static void send_buf(struct uring_worker *uw, uint32_t slot, const struct addr *dest,
		     const struct addr *local, const void *data, uint32_t len, uint16_t gso_size,
		     enum udata_op op, uint32_t relay, uint32_t bid, uint32_t up)
{
	send_tagged(uw, slot, dest, local, data, len, gso_size, op, relay, bid, up, 0);
}

/* Names the session (sess_idx, sess_gen; SESSION_NONE: a mirror's copies, and then
 * members_gen, the member list they were made under) whose socket sends buffer bid on its
 * own to an upstream, for on_send: its completion's udata has no room for it. Only these
 * fields: a GSO buffer's pieces share its record (whose members_gen is the same). The list is
 * the copy's, never the relay's now: all copies of a buffer, and all datagrams of a batch, are
 * made under one list (a command sends the open batches before it changes it), and another
 * copy still in flight alone to another member is checked against it (send_target): a
 * reload's newer list written here would pass that copy on to the member that since took its
 * counter slot. */
static void burst_session(struct uring_worker *uw, uint32_t bid, uint32_t sess_idx,
			  uint32_t sess_gen, uint64_t members_gen)
{
	uw->bursts[bid].sess_idx = sess_idx;
	uw->bursts[bid].sess_gen = sess_gen;
	if (sess_idx == SESSION_NONE)
		uw->bursts[bid].members_gen = members_gen;
}

/* Queues a GRO super-datagram (segments of gso_size) whose path cannot carry such segments
 * as they are: one send per segment, each a datagram of its own (send_buf's arguments). */
static void send_pieces(struct uring_worker *uw, uint32_t slot, const struct addr *dest,
			const struct addr *local, const uint8_t *data, uint32_t len,
			uint16_t gso_size, enum udata_op op, uint32_t relay, uint32_t bid, uint32_t up)
{
	uint32_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < gso_size ? len - off : gso_size;
		send_buf(uw, slot, dest, local, data + off, n, 0, op, relay, bid, up);
	}
}

/* Sends an open batch: one sendmsg over its iovecs, cut into datagrams by UDP GSO. */
static void batch_flush(struct uring_worker *uw, struct tx_batch *b)
{
	struct io_uring_sqe *sqe = get_sqe(uw);
	struct udata u = { .op = OP_SEND_BATCH, .relay = b->relay,
			   .idx = (uint32_t)(b - uw->batches) };

	if (b->owner)
		*b->owner = SESSION_NONE;
	b->owner = NULL;
	b->seq = uw->tx_seq;
	memset(&b->msg, 0, sizeof(b->msg));
	b->msg.msg_iov = b->iov;
	b->msg.msg_iovlen = b->n;
	b->msg.msg_controllen = sock_tx_control(b->control, NULL, b->n > 1 ? b->size : 0);
	if (b->msg.msg_controllen)
		b->msg.msg_control = b->control;
	io_uring_prep_sendmsg(sqe, (int)b->slot, &b->msg, MSG_DONTWAIT);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = udata_pack(u);
}

/* Sends every batch gathered in this round of completions (before the ring is entered). */
static void batch_flush_open(struct uring_worker *uw)
{
	uint32_t i;

	for (i = 0; i < uw->n_open; i++)
		if (uw->batches[uw->open[i]].owner)
			batch_flush(uw, &uw->batches[uw->open[i]]);
	uw->n_open = 0;
}

/* Who a batch gathers datagrams for: a session (to its upstream), or a mirror's member. */
struct batch_owner {
	uint32_t *open;		     /* its open batch, or SESSION_NONE */
	uint32_t seg_max;	     /* the longest datagram its path takes as a segment */
	uint32_t slot, relay, up;    /* the fixed file it sends on, relay slot, counter slot */
	/* the session; SESSION_NONE for a mirror member, sess_gen then its socket's mirror_gen
	 * and members_gen the member list it is one of */
	uint32_t sess_idx, sess_gen;
	uint64_t members_gen;
};

static struct batch_owner session_owner(struct uring_worker *uw, uint32_t relay,
					struct session *s, uint32_t slot)
{
	return (struct batch_owner){
		.open = &s->tx_batch, .seg_max = s->seg_max, .slot = slot, .relay = relay,
		.up = worker_session_up(uw->w, relay, s),
		.sess_idx = session_index(&uw->w->relays[relay].sessions, s),
		.sess_gen = s->gen };
}

/* Member i of mirror relay slot relay, whose socket is open. */
static struct batch_owner mirror_owner(struct uring_worker *uw, uint32_t relay, uint32_t i)
{
	const struct worker_relay *wr = &uw->w->relays[relay];

	return (struct batch_owner){
		.open = &uw->mirror_batch[wr->mirror_slot[i] - PLAN_LISTENER_SLOTS],
		.seg_max = wr->mirror_seg_max[i], .slot = wr->mirror_slot[i], .relay = relay,
		.up = wr->mirror_uslot[i], .sess_idx = SESSION_NONE,
		.sess_gen = uw->mirror_gen[wr->mirror_slot[i] - PLAN_LISTENER_SLOTS],
		.members_gen = wr->members_gen };
}

/* Sends the open batch *open names (a session's tx_batch, a mirror socket's mirror_batch),
 * if any: before something of its owner's that cannot join it, or before its socket goes. */
static void batch_flush_of(struct uring_worker *uw, const uint32_t *open)
{
	if (*open != SESSION_NONE)
		batch_flush(uw, &uw->batches[*open]);
}

/* Queues one datagram of o's: into o's open batch when it fits the GSO rules, else singly.
 * The buffer is referenced until the send completes. */
static void send_batched(struct uring_worker *uw, const struct batch_owner *o, const void *data,
			 uint32_t len, uint32_t bid)
{
	struct tx_batch *b = *o->open != SESSION_NONE ? &uw->batches[*o->open] : NULL;

	/* A datagram longer than the batch's segments, or one too many, starts a new batch;
	 * an empty one cannot be a GSO segment, nor one the path would have to fragment: they
	 * go alone, after what came before. */
	if (b && (len > b->size || len == 0 || b->n == BATCH_MAX || b->bytes + len > BATCH_BYTES)) {
		batch_flush(uw, b);
		b = NULL;
	}
	if (len == 0 || len > o->seg_max || uw->no_batch ||
	    (!b && (uw->batch_free == UINT32_MAX || uw->n_open == BATCH_POOL))) {
		/* (b is still open when this round lowered seg_max or turned GSO off) */
		if (b)
			batch_flush(uw, b);
		burst_session(uw, bid, o->sess_idx, o->sess_gen, o->members_gen);
		send_buf(uw, o->slot, NULL, NULL, data, len, 0, OP_SEND_UPSTREAM, o->relay, bid,
			 o->up);
		return;
	}
	if (!b) {
		b = &uw->batches[uw->batch_free];
		uw->batch_free = b->next_free;
		*b = (struct tx_batch){ .owner = o->open, .size = len, .slot = o->slot,
					.relay = o->relay, .sess_idx = o->sess_idx,
					.sess_gen = o->sess_gen, .up = o->up,
					.up_moves = (uint8_t)worker_up_moves(uw->w, o->relay,
									     o->up),
					.members_gen = o->members_gen };
		*o->open = (uint32_t)(b - uw->batches);
		uw->open[uw->n_open++] = *o->open;
	}
	b->iov[b->n].iov_base = (void *)data;
	b->iov[b->n].iov_len = len;
	b->bid[b->n++] = (uint16_t)bid;
	b->bytes += len;
	uw->bp.refs[bid]++;
	/* A shorter datagram can only be the last segment. */
	if (len < b->size)
		batch_flush(uw, b);
}

/* The mirror socket of relay wr's member with upstream counter slot up, or n_mirror. */
static uint32_t mirror_member(const struct worker_relay *wr, uint32_t up)
{
	uint32_t j;

	for (j = 0; j < wr->n_mirror && wr->mirror_uslot[j] != up; j++)
		;
	return j;
}

/* Who sent a datagram to an upstream, as the send's completion knows it: relay slot relay, the
 * upstream's counter slot up, and the session whose socket sent it (sess_idx, sess_gen) or,
 * SESSION_NONE, a plain mirror's member: known by its socket when the send's fixed file is
 * known (a batch's: slot, with that socket's mirror_gen in sess_gen), else by the member list
 * the copy was made under (members_gen). */
struct tx_sender {
	uint32_t relay, up;
	uint32_t sess_idx, sess_gen;
	uint32_t slot; /* UINT32_MAX: not known */
	uint32_t seq;  /* tx_seq when the send was queued */
	uint64_t members_gen;
};

/* Where a send to an upstream went (send_socket, send_target). */
struct tx_target {
	struct session *s; /* the session whose socket sent it; NULL: a plain mirror's member */
	uint32_t slot;	   /* the socket's fixed file */
	int fd;
	/* where the socket is connected, and the longest segment its path takes; NULL: a
	 * transparent mirror's session socket (not connected, no IP_RECVERR) */
	const struct addr *peer;
	uint32_t *seg_max;
	const struct addr *dest; /* send_target: a transparent mirror's member, else NULL */
	/* the counter slot what goes again, and the notice, count at: a forward session's now
	 * (a reload's repoint_sessions moves a kept session's), else the sender's up (a mirror
	 * member whose counter slot moved is not found: send_target) */
	uint32_t up;
};

static struct tx_sender batch_sender(const struct tx_batch *b)
{
	return (struct tx_sender){ .relay = b->relay, .up = b->up, .sess_idx = b->sess_idx,
				   .sess_gen = b->sess_gen, .slot = b->slot, .seq = b->seq };
}

/* The sender of a send of buffer u.bid (u.idx: the counter slot alone; a reply's session), as
 * the buffer's record names it (burst_session, or a GSO burst's whole record). */
static struct tx_sender burst_sender(const struct uring_worker *uw, struct udata u)
{
	const struct gso_burst *r = &uw->bursts[u.bid];

	return (struct tx_sender){ .relay = u.relay, .up = u.idx, .sess_idx = r->sess_idx,
				   .sess_gen = r->sess_gen, .slot = UINT32_MAX, .seq = r->seq,
				   .members_gen = r->members_gen };
}

/* The socket snd's send went on, as far as its completion can tell, into t (all but dest):
 * the session's, still ACTIVE with the same generation; or the open socket of the plain
 * mirror member now at counter slot up: for a batch's (its fixed file known) only the very
 * socket it went on (that slot, not closed since: mirror_gen), else the one send_target checks
 * against the member list. Returns false when there is none (or no relay).
 * It checks none of what worker.c keeps true:
 * - an ACTIVE session has its socket (fd >= 0): worker_session_get sets it before the session
 *   sends anything, hook_session_close clears it once the session is CLOSING;
 * - a mirror socket is open if and only if it has a fixed file (mirror_open_member,
 *   sync_mirrors);
 * - only a plain mirror has mirror sockets: close_mirrors (n_mirror 0) at a change of mode or
 *   of transparent, and when the relay is retired;
 * - a session ACTIVE with the sender's generation sent in the relay's mode now: a change of
 *   mode closes the sessions, and a slot's generations are never handed out twice. */
static bool send_socket(struct uring_worker *uw, const struct tx_sender *snd, struct tx_target *t)
{
	struct worker_relay *wr = &uw->w->relays[snd->relay];
	uint32_t j;

	*t = (struct tx_target){ .fd = -1, .up = snd->up };
	if (wr->state != RELAY_SLOT_ACTIVE)
		return false;
	if (snd->sess_idx != SESSION_NONE) {
		t->s = worker_session_at(uw->w, snd->relay, snd->sess_idx);
		if (!t->s || t->s->state != SESSION_ACTIVE || t->s->gen != snd->sess_gen)
			return false;
		t->slot = session_slot(uw->w, snd->relay, t->s);
		t->fd = t->s->fd;
		/* (a change of mode closes the sessions: a mirror's is a transparent one's) */
		if (wr->mode != RELAY_MODE_MIRROR) {
			t->peer = &t->s->upstream_addr;
			t->seg_max = &t->s->seg_max;
			t->up = worker_session_up(uw->w, snd->relay, t->s);
		}
		return true;
	}
	/* (only a plain mirror has mirror sockets: a change of mode closes them) */
	j = mirror_member(wr, snd->up);
	if (j == wr->n_mirror || wr->mirror_fd[j] < 0 || wr->mirror_slot[j] == UINT32_MAX)
		return false;
	if (snd->slot != UINT32_MAX &&
	    (wr->mirror_slot[j] != snd->slot ||
	     uw->mirror_gen[snd->slot - PLAN_LISTENER_SLOTS] != snd->sess_gen))
		return false;
	t->slot = wr->mirror_slot[j];
	t->fd = wr->mirror_fd[j];
	t->peer = &wr->mirror_addr[j];
	t->seg_max = &wr->mirror_seg_max[j];
	return true;
}

/* Where snd's send went, into t, if it is still there to send to again: send_socket's, and for
 * a mirror's copy the member it went to. A plain mirror's: by its socket when the send's fixed
 * file is known (send_socket), else while the member list is the one the copy was made under
 * (a reload may have given the member's counter slot to another member). A transparent
 * mirror's: the member at counter slot up of the member list the copy was made under, its
 * address in t->dest. The one check of a failed send's target for whatever it sends again.
 * Returns false when it is gone. */
static bool send_target(struct uring_worker *uw, const struct tx_sender *snd, struct tx_target *t)
{
	const struct worker_relay *wr = &uw->w->relays[snd->relay];
	const struct pool *p;
	uint32_t i;

	if (!send_socket(uw, snd, t))
		return false;
	if (!t->s) /* a plain mirror's member: by its socket, or by the member list */
		return snd->slot != UINT32_MAX || wr->members_gen == snd->members_gen;
	if (t->peer) /* a session's socket, connected to its upstream */
		return true;
	p = worker_pool(uw->w, snd->relay);
	for (i = 0; i < p->n && p->m[i].slot != snd->up; i++)
		;
	if (p->members_gen != snd->members_gen || i == p->n)
		return false;
	t->dest = &p->m[i].addr;
	return true;
}

/* The life of t's socket in its fixed file: its session's gen, or its mirror socket's
 * mirror_gen. */
static uint32_t errq_gen(const struct uring_worker *uw, const struct tx_target *t)
{
	return t->s ? t->s->gen : uw->mirror_gen[t->slot - PLAN_LISTENER_SLOTS];
}

/* With new, the entry of this round's drains for t's socket that a drain adds to, or one to
 * fill in (NULL when all are in use). Else the one that accounts for the failure of another
 * send of t's socket that the kernel had before it was filled in (queued at seq), if any. */
static struct errq_seen *errq_seen_of(struct uring_worker *uw, const struct tx_target *t,
				      uint32_t seq, bool new)
{
	struct errq_seen *spare = NULL, *e;
	uint32_t gen = errq_gen(uw, t);

	for (e = uw->errq_seen; e < uw->errq_seen + uw->n_errq_seen; e++) {
		if (e->left && e->fd == t->fd && e->slot == t->slot && e->gen == gen)
			return new || (int32_t)(seq - e->seq) < 0 ? e : NULL;
		if (!e->left && !spare)
			spare = e;
	}
	if (!new)
		return NULL;
	if (!spare && uw->n_errq_seen < ERRQ_SEEN_MAX)
		spare = &uw->errq_seen[uw->n_errq_seen++];
	if (spare)
		*spare = (struct errq_seen){ .fd = t->fd, .slot = t->slot, .gen = gen };
	return spare;
}

/* A send failed with err, maybe taking the ICMP error the socket's receive would have
 * reported (and drained): the error's copies in the error queue go now, or they would stay
 * there, charged to the socket's receive buffer, until a receive meets an error. The socket is
 * send_socket's: a batch's own; for a plain mirror's copy sent alone, the socket of the member
 * at its counter slot now, not checked against the member list as a resend is (send_target).
 * That check would pass over a kept member's own socket after every reload that changed the
 * list (and the record of a send going again may not name its list: send_again), leaving its copies
 * queued until its next error. What this costs instead, and only when a reload gave the
 * counter slot to another member (a freed one is taken again once the rotation over the
 * CONFIG_MAX_UPSTREAMS comes back to it): the drain may take an error of that member's that
 * its receive has not met yet, whose notice is then never counted (the kernel clears the
 * socket's pending error with its last ICMP copy read). Returns the errno of the newest copy
 * removed (sock_drain_errors), 0 when there was none (or no such socket): whether the send took
 * an error an ICMP message left pending; *too_big says whether one removed was EMSGSIZE (a
 * "packet too big"). When the queue was empty because an earlier failed send of this round on
 * the socket removed more copies than it took errors (errq_seen), and this send was made before
 * that drain, what that drain found, and one copy fewer for the next. */
static int send_drain_errors(struct uring_worker *uw, const struct tx_sender *snd, int err,
			     bool *too_big)
{
	struct errq_seen *e;
	struct tx_target t;
	uint32_t n = 0;
	int last;

	*too_big = false;
	if (!send_socket(uw, snd, &t))
		return 0;
	/* a session's ICMP "packet too big" the receive will not meet now: the fast path's rule
	 * learns the path MTU here instead */
	last = worker_drain_errors(uw->w, t.s, t.fd, SESSION_ERRQUEUE_MAX, err, too_big, &n);
	if (last) {
		/* this send took one of them; the others may have failed sends after it */
		e = n > 1 ? errq_seen_of(uw, &t, snd->seq, true) : NULL;
		if (e) {
			e->err = last;
			e->left += n - 1;
			e->too_big |= *too_big;
			e->seq = uw->tx_seq;
		}
		return last;
	}
	e = errq_seen_of(uw, &t, snd->seq, false);
	if (!e)
		return 0;
	e->left--;
	*too_big = e->too_big;
	return e->err;
}

/* Whether a UDP GSO send of size-byte segments on socket fd to peer, failed with err after
 * which its error queue held queued (too_big: a "packet too big" among the copies), took an
 * ICMP error an earlier datagram left pending (sock_gso_pending): the path MTU is asked again
 * for an EMSGSIZE only. */
static bool gso_took_pending(int fd, const struct addr *peer, uint32_t size, int err, int queued,
			     bool too_big)
{
	int mtu = err == -EMSGSIZE && queued && fd >= 0 ? sock_path_payload_max(fd, peer) : -1;

	return sock_gso_pending(-err, queued, too_big, size, mtu);
}

/* A kernel or device that cannot do UDP GSO: send singly from now on. */
static void gso_off(struct uring_worker *uw, int err)
{
	if (uw->no_batch)
		return;
	uw->no_batch = true;
	log_warn("worker %u: UDP GSO send refused (%s): sending datagrams singly", uw->w->id,
		 strerror(-err));
}

/* The kernel failed batch b's GSO send with err, and no datagram left: its datagrams from
 * the one at from on go again to the session or mirror member they were meant for, if that
 * still exists (send_target; returns false when it does not). Refused (EMSGSIZE, EINVAL,
 * EIO): each alone; a segment longer than the path MTU (it shrank since the session opened or
 * the member was asked, or a route changed: asked again), or a kernel or device that cannot do
 * UDP GSO here (gso_off). An unreachable, an ICMP error an earlier datagram drew, which fails
 * the socket's next send whatever it carries: together again, in a new batch. Counted at the
 * session's counter slot now (t.up). */
static bool batch_resend(struct uring_worker *uw, struct tx_batch *b, int err, uint32_t from)
{
	const struct tx_sender snd = batch_sender(b);
	struct tx_target t;
	uint32_t i;
	int max;

	/* (a batch's socket is connected: a transparent mirror's sessions gather none) */
	if (!send_target(uw, &snd, &t) || !t.peer)
		return false;
	if (sock_err_gso_refused(-err)) {
		max = sock_seg_max_refused(t.fd, t.peer, b->size, -err);
		if (max >= 0)
			*t.seg_max = (uint32_t)max;
		else
			gso_off(uw, err);
	}
	if (!sock_err_gso_refused(-err) && b->n > from && uw->batch_free != UINT32_MAX &&
	    !uw->no_batch && b->size <= *t.seg_max) {
		/* An unreachable: the rest go again together (a suffix keeps the GSO rules, unless
		 * GSO was refused meanwhile), so that an error pending again costs one more
		 * datagram and is drained as this one (on_send_batch). */
		struct tx_batch *nb = &uw->batches[uw->batch_free];

		uw->batch_free = nb->next_free;
		*nb = (struct tx_batch){ .size = b->size, .slot = b->slot, .relay = b->relay,
					 .sess_idx = b->sess_idx, .sess_gen = b->sess_gen,
					 .up = t.up,
					 .up_moves = (uint8_t)worker_up_moves(uw->w, b->relay, t.up),
					 .members_gen = b->members_gen };
		for (i = from; i < b->n; i++) {
			nb->iov[nb->n] = b->iov[i];
			nb->bid[nb->n++] = b->bid[i];
			nb->bytes += (uint32_t)b->iov[i].iov_len;
			uw->bp.refs[b->bid[i]]++;
		}
		batch_flush(uw, nb);
		return true;
	}
	for (i = from; i < b->n; i++) {
		burst_session(uw, b->bid[i], b->sess_idx, b->sess_gen, b->members_gen);
		send_buf(uw, b->slot, NULL, NULL, b->iov[i].iov_base, (uint32_t)b->iov[i].iov_len,
			 0, OP_SEND_UPSTREAM, b->relay, b->bid[i], t.up);
	}
	return true;
}

/* A send to an upstream (snd) took the ICMP error an earlier datagram drew (err), left pending
 * on its socket, and what it carried goes again (send_again, batch_again). An unreachable is
 * counted here as the notice the socket's receive counts when it meets the error first
 * (upstream_recv_error): the one place a send counts one, once for the send that took the error. A
 * send that took one and cannot go again counts it as what it lost instead (DROP_UNREACHABLE),
 * never both. At the counter slot what goes again counts at (t->up). */
static void took_pending(struct uring_worker *uw, const struct tx_sender *snd,
			 const struct tx_target *t, int err)
{
	if (sock_err_unreachable(-err))
		worker_count_notice(uw->w, snd->relay, t->up);
}

/* A send of data, len in buffer bid (cut into gso_size datagrams: a UDP GSO burst; 0: one
 * datagram) to an upstream (snd, which went to t: a session's socket or a plain mirror
 * member's) failed with err on an ICMP error an earlier datagram drew, left pending on the
 * socket (its copy was in the error queue): that send took the error (took_pending), and
 * sending it again whole, from the same buffer, normally succeeds; again says how many times
 * it goes again with this send (1 to WORKER_SEND_AGAIN_MAX: each time the send before took
 * such an error). The buffer stays referenced until that send completes, which counts what
 * it carries: sent, gone again once more (on_send), or lost for what failed it (another
 * error that came meanwhile once the cap is reached; an EMSGSIZE that was the kernel's own
 * refusal comes again).
 * Order: it is queued behind every send queued or submitted before its failure's completion
 * was handled, so it may arrive after datagrams that came after it; what goes again on one
 * socket keeps the order in which the failures complete, which for the sends of one
 * submission is the order they were queued in (each runs at submission, MSG_DONTWAIT). A
 * send that goes again k times falls k submissions behind. The cap bounds one send's tries:
 * what is left of a send of several after its last (batch_resend, burst_rest) goes again as
 * new sends (again 0), its first datagram lost, so a datagram late in a gathered send or GRO
 * burst may go again, and fall behind, up to some WORKER_SEND_AGAIN_MAX + 1 times for each
 * datagram before it. */
static void send_again(struct uring_worker *uw, const struct tx_sender *snd,
		       const struct tx_target *t, const void *data, uint32_t len, uint16_t gso_size,
		       uint32_t bid, int err, uint32_t again)
{
	took_pending(uw, snd, t, err);
	/* The session only: a mirror's buffer keeps the member list its copies were made under
	 * (burst_session, which whoever sends the buffer alone calls first), against which
	 * send_target checks another copy still in flight alone to another member, and this
	 * send when it fails again and would go once more (resend_single, burst_again). */
	uw->bursts[bid].sess_idx = snd->sess_idx;
	uw->bursts[bid].sess_gen = snd->sess_gen;
	send_tagged(uw, t->slot, NULL, NULL, data, len, gso_size, OP_SEND_UPSTREAM, snd->relay, bid,
		    t->up, again);
}

/* Batch b's GSO send failed with err, after which its socket's error queue held queued
 * (too_big: a "packet too big" among the copies). When the send took an ICMP error an
 * earlier datagram left pending (gso_took_pending), b goes again whole (b->again: at most
 * WORKER_SEND_AGAIN_MAX times, as send_again), holding its buffers until that send completes
 * and counts it: no seg_max lowered, nothing lost (took_pending counts the error). Returns
 * false when it did not, or the session or member is gone (send_target): the failure is then
 * handled as before. */
static bool batch_again(struct uring_worker *uw, struct tx_batch *b, int err, int queued,
			bool too_big)
{
	const struct tx_sender snd = batch_sender(b);
	struct tx_target t;

	if (b->again >= WORKER_SEND_AGAIN_MAX || !send_target(uw, &snd, &t) || !t.peer ||
	    !gso_took_pending(t.fd, t.peer, b->size, err, queued, too_big))
		return false;
	took_pending(uw, &snd, &t, err);
	b->again++;
	b->up = t.up; /* its next send counts there too (on_send_batch) */
	b->up_moves = (uint8_t)worker_up_moves(uw->w, b->relay, t.up);
	batch_flush(uw, b);
	return true;
}

static void on_send_batch(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			  struct udata u)
{
	struct relay_counters *c = &uw->w->counters[u.relay];
	struct relay_dir_counters *up = &c->dir[RELAY_DIR_TO_UPSTREAM];
	struct tx_batch *b = &uw->batches[u.idx];
	struct tx_sender snd = batch_sender(b);
	/* where what it carried counts: not at a slot given to another member meanwhile */
	uint32_t count_up = worker_up_since(uw->w, u.relay, b->up, b->up_moves, UINT8_MAX);
	bool refused = sock_err_gso_refused(-cqe->res);
	bool unreachable = sock_err_unreachable(-cqe->res);
	struct tx_target t;
	uint32_t i, lost = 0;
	int pending = 0;
	bool too_big = false;

	/* First, whatever follows (a pending "packet too big" fails a batch as refused, and it
	 * goes again): the drain (or what an earlier one of this round read: errq_seen) tells
	 * whether the send took an ICMP error left pending. A batch that may go again no more
	 * takes no spare copy: it could not use it (errq_seen_of gives them to sends queued
	 * before the drain). */
	if (cqe->res < 0 && sock_err_queued(-cqe->res)) {
		if (b->again >= WORKER_SEND_AGAIN_MAX)
			snd.seq = uw->tx_seq;
		pending = send_drain_errors(uw, &snd, cqe->res, &too_big);
	}
	/* A GSO send that took it goes again whole (batch_again), b and its buffers with it */
	if (cqe->res < 0 && b->n > 1 && pending && batch_again(uw, b, cqe->res, pending, too_big))
		return;
	if (cqe->res >= 0) {
		counter_add(&up->tx_pkts, b->n);
		counter_add(&up->tx_bytes, (uint64_t)cqe->res);
		upstream_count_sent(uw->w, u.relay, count_up, b->n, (uint64_t)cqe->res);
	} else if (b->n > 1 && (refused || unreachable)) {
		/* Refused: every datagram goes again singly. An ICMP unreachable left pending by
		 * an earlier datagram whose copy was gone (or that failed the last send of b that
		 * WORKER_SEND_AGAIN_MAX allows): it costs the first datagram (as an mmsg
		 * batch's), and the rest go again in a new batch. Counted when those sends
		 * complete, or here when the session or member is gone. */
		lost = unreachable ? 1 : 0;
		if (!batch_resend(uw, b, cqe->res, lost))
			lost = b->n;
	} else if (b->n == 1 && pending && b->again < WORKER_SEND_AGAIN_MAX &&
		   send_target(uw, &snd, &t)) {
		/* One datagram (no GSO send) that took an ICMP error an earlier one drew. It goes
		 * again alone, as a send whose completion knows no fixed file: the buffer's record
		 * names the list the batch was gathered under (every copy of the buffer was made
		 * under it), or a plain mirror's send failing again is checked against whatever an
		 * earlier use of the buffer left there, and lost (send_target). */
		burst_session(uw, b->bid[0], b->sess_idx, b->sess_gen, b->members_gen);
		send_again(uw, &snd, &t, b->iov[0].iov_base, (uint32_t)b->iov[0].iov_len, 0,
			   b->bid[0], cqe->res, b->again + 1u);
	} else {
		lost = b->n;
	}
	if (lost) {
		if (unreachable)
			relay_count_drop(c, RELAY_DIR_TO_UPSTREAM, DROP_UNREACHABLE, lost);
		else
			relay_count_send_error(c, RELAY_DIR_TO_UPSTREAM, -cqe->res, lost);
		upstream_count_lost(uw->w, u.relay, count_up, unreachable, lost);
	}
	for (i = 0; i < b->n; i++)
		bufpool_put(&uw->bp, b->bid[i]);
	b->next_free = uw->batch_free;
	uw->batch_free = u.idx;
}

/* Starts closing a CLOSING session: cancel its receive and empty its file slot (which drops
 * the ring's reference to the socket). The session is released when the emptying completes
 * (on_slot_emptied): only then may a new session put its socket in that file slot. Released
 * at the receive's last completion instead, a new session could take the slot while the
 * emptying still waited in the SQ, and lose its socket to it. */
static void hook_session_close(struct worker *w, uint32_t relay, struct session *s)
{
	struct uring_worker *uw = w->backend_state;
	struct worker_relay *wr = &w->relays[relay];
	uint32_t idx = session_index(&wr->sessions, s), slot = session_slot(w, relay, s);
	struct udata eu = { .op = OP_SLOT_EMPTIED, .relay = relay, .idx = idx, .gen = s->gen };
	struct io_uring_sqe *sqe;

	/* What the session gathered leaves before its socket does. */
	batch_flush_of(uw, &s->tx_batch);
	/* The ring keeps its own reference to the socket until the slot is emptied. */
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	/* Every receive on the socket (by fixed file; by udata the one armed last) */
	rx_cancel(uw, slot);
	/* After the cancel in SQ order, so the receive is ended or ending when it completes;
	 * completions of the receive after that are stale (gen) and handled as such. Receives
	 * queued after it hold the node after the removal. */
	sqe = get_sqe(uw);
	io_uring_prep_files_update(sqe, &uw->minus_one, 1, (int)slot);
	sqe->user_data = udata_pack(eu);
	uw->removals++; /* every receive armed until now holds the node it was put on */
}

/* The session's socket goes into its fixed slot, which all I/O uses. The descriptor stays
 * open for what the ring cannot do: asking the path MTU again (batch_resend). */
static int hook_session_opened(struct worker *w, uint32_t relay, struct session *s)
{
	struct uring_worker *uw = w->backend_state;
	int err = io_uring_register_files_update(&uw->ring, session_slot(w, relay, s), &s->fd, 1);

	if (err < 0)
		return err;
	/* A transparent mirror's session sends to every member and is read for what they
	 * send back (on_session_recv); seg_max is each member's path, not the session's. */
	if (w->relays[relay].mode != RELAY_MODE_MIRROR)
		s->seg_max = sock_seg_max(s->fd, &s->upstream_addr);
	arm_session(uw, relay, s);
	return 0;
}

static int hook_listener_open(struct worker *w, uint32_t li)
{
	struct uring_worker *uw = w->backend_state;
	int err = io_uring_register_files_update(&uw->ring, li, &w->listeners[li].fd, 1);

	if (err < 0)
		return err;
	arm_listener(uw, li);
	return 0;
}

/* Cancels the receives of a listener's or mirror socket's fixed file slot, then empties the
 * slot at once (so that it can take a new socket in the same command; the receives keep the
 * socket until they end). Everything queued for the slot goes to the kernel first, while the
 * slot holds the socket: the cancel by fixed file, which finds every receive on the socket
 * only there (the one armed last and any an earlier cancel left running in io-wq), and the
 * sends queued for it (a mirror member's copies, a listener's replies), which would otherwise
 * fail on the empty slot, or go out on the next socket the slot takes (a mirror's new member
 * takes the slot its removed one left, in the same command). A ring whose kernel will not
 * take them, or will not empty the slot, is broken (ring_broken); the slot is taken for empty
 * all the same. */
static void rx_cancel_empty(struct uring_worker *uw, uint32_t slot)
{
	int err;

	rx_cancel(uw, slot);
	err = submit_all(uw);
	if (err)
		ring_broken(uw, "the kernel takes no more requests", err);
	err = io_uring_register_files_update(&uw->ring, slot, &uw->minus_one, 1);
	if (err < 0)
		ring_broken(uw, "empty a fixed file", err);
	uw->removals++; /* every receive armed until now holds the node it was put on */
}

static void hook_listener_close(struct worker *w, uint32_t li)
{
	struct uring_worker *uw = w->backend_state;

	rx_cancel_empty(uw, li);
	/* The socket stays in its SO_REUSEPORT group, taking a share of the flows that no one
	 * reads, while a receive armed before holds it (rx_refresh). */
	if (uw->refresh)
		uw->sweep_soon = true;
}

static uint64_t mirror_udata(const struct uring_worker *uw, uint32_t relay, uint32_t slot)
{
	struct udata u = { .op = OP_RECV_MIRROR, .relay = relay, .idx = slot,
			   .gen = uw->mirror_gen[slot - PLAN_LISTENER_SLOTS] };

	return udata_pack(u);
}

/* A mirror socket is read too, though a mirror passes nothing back: what a member sends (a
 * mirrored service that answers) would otherwise stay in the socket up to its receive buffer,
 * charged to the host's UDP memory, and so would the ICMP errors IP_RECVERR queues. Empty
 * datagrams end the receive each (no drain as for listeners: members are configured peers). */
static void arm_mirror(struct uring_worker *uw, uint32_t relay, uint32_t slot)
{
	rx_arm(uw, slot, &uw->session_msg, mirror_udata(uw, relay, slot));
}

static int hook_mirror_open(struct worker *w, uint32_t relay, uint32_t j)
{
	struct uring_worker *uw = w->backend_state;
	struct worker_relay *wr = &w->relays[relay];
	uint32_t i;
	int err;

	for (i = 0; i < PLAN_MIRROR_SLOTS && uw->mirror_used[i]; i++)
		;
	if (i == PLAN_MIRROR_SLOTS)
		return -ENOSPC;
	err = io_uring_register_files_update(&uw->ring, PLAN_LISTENER_SLOTS + i,
					     &wr->mirror_fd[j], 1);
	if (err < 0)
		return err;
	uw->mirror_used[i] = true;
	uw->mirror_gen[i]++;
	wr->mirror_slot[j] = PLAN_LISTENER_SLOTS + i;
	arm_mirror(uw, relay, wr->mirror_slot[j]);
	return 0;
}

static void hook_mirror_close(struct worker *w, uint32_t relay, uint32_t j)
{
	struct uring_worker *uw = w->backend_state;
	const struct worker_relay *wr = &w->relays[relay];
	uint32_t slot = wr->mirror_slot[j], i;

	if (slot == UINT32_MAX)
		return;
	i = slot - PLAN_LISTENER_SLOTS;
	/* Sends in flight and the receive keep their own reference to the socket; the
	 * receive's completions after the cancel are stale (gen), counted as the live ones
	 * (mirror_gone_recv). Copies gathered or queued for it in this round go first
	 * (rx_cancel_empty submits them): the slot is emptied now, not in SQ order. */
	batch_flush_of(uw, &uw->mirror_batch[i]);
	rx_cancel_empty(uw, slot);
	/* (after worker.c's close_mirror has read what the socket held, and so moved its
	 * SO_RXQ_OVFL on to the socket's last drop count) */
	memmove(&uw->mirror_gone[i][1], &uw->mirror_gone[i][0],
		(MIRROR_GONE_DEPTH - 1) * sizeof(uw->mirror_gone[i][0]));
	uw->mirror_gone[i][0] = (struct mirror_gone){
		.valid = true,
		.relay = relay,
		.gen = uw->mirror_gen[i],
		.up = wr->mirror_uslot[j],
		.up_moves = (uint8_t)worker_up_moves(w, relay, wr->mirror_uslot[j]),
		.ovfl = wr->mirror_ovfl[j],
	};
	uw->mirror_used[i] = false;
	uw->mirror_gen[i]++;
}

/* A receive found the buffer ring empty: true when the whole pool was in it (counted as
 * buffer_ring_empty), else the ring holds more from now on (bufpool.h), said at each step. */
static bool ring_ran_dry(struct uring_worker *uw)
{
	uint32_t was = uw->bp.fill;

	if (bufpool_ran_dry(&uw->bp))
		return true;
	if (uw->bp.fill != was)
		log_info("worker %u: a receive found the buffer ring empty with %u of its %u "
			 "buffers; it holds %u from now on",
			 uw->w->id, was, uw->bp.count, uw->bp.fill);
	return false;
}

/* A receive of relay slot relay's ended with res: true when for want of a buffer (ENOBUFS),
 * counted then as buffer_ring_empty when the whole pool was in the ring, else the ring holds
 * more from now on (ring_ran_dry). For every receive, live or stale (a stale listener's at
 * its slot's relay now, which a reload may have changed): the ring is the worker's. */
static bool recv_ran_dry(struct uring_worker *uw, uint32_t relay, int res)
{
	if (res != -ENOBUFS)
		return false;
	if (ring_ran_dry(uw))
		counter_add(&uw->w->counters[relay].buffer_ring_empty, 1);
	return true;
}

/* Parses a multishot recvmsg completion's buffer: the payload and its length (the real
 * length when the datagram was cut short), the received message and the metadata of its
 * control messages (meta). Returns the payload, or NULL when the datagram must not be
 * forwarded: truncated, or its name did not fit (*len is then what can be known of it). */
static uint8_t *rx_payload(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			   struct msghdr *tmpl, uint32_t *len, struct io_uring_recvmsg_out **out,
			   struct sock_rx_meta *meta)
{
	uint8_t *buf = bufpool_addr(&uw->bp, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	struct io_uring_recvmsg_out *o;
	struct cmsghdr *cm;

	*len = 0;
	o = io_uring_recvmsg_validate(buf, cqe->res, tmpl);
	if (!o)
		return NULL;
	*out = o;
	/* With MSG_TRUNC, payloadlen is the datagram's real length. */
	*len = o->payloadlen;
	for (cm = io_uring_recvmsg_cmsg_firsthdr(o, tmpl); cm;
	     cm = io_uring_recvmsg_cmsg_nexthdr(o, tmpl, cm))
		sock_rx_cmsg(cm, meta);
	if ((o->flags & MSG_TRUNC) || o->namelen > tmpl->msg_namelen)
		return NULL;
	*len = io_uring_recvmsg_payload_length(o, cqe->res, tmpl);
	return io_uring_recvmsg_payload(o, tmpl);
}

/* The kernel ends a multishot receive at an empty datagram (io_recvmsg_multishot takes a
 * zero-length read for the end of a stream): did this completion end it so? */
static bool ended_on_empty(const struct uring_worker *uw, const struct io_uring_cqe *cqe)
{
	const struct io_uring_recvmsg_out *o;

	if (!(cqe->flags & IORING_CQE_F_BUFFER) || cqe->res < (int)sizeof(*o))
		return false;
	o = (const void *)bufpool_addr(&uw->bp, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	return o->payloadlen == 0;
}

/* A multishot receive (udata ud) ended: when an empty datagram ended it, its socket is read
 * with recvmmsg before the receive is armed again (drain_sockets); else the caller arms it
 * now, counted. Returns true when the drain took it. */
static bool drain_instead(struct uring_worker *uw, const struct io_uring_cqe *cqe, uint64_t ud)
{
	uint32_t room = udata_unpack(ud).op == OP_RECV_SESSION ? DRAIN_SESSIONS : DRAIN_MAX;

	if (uw->n_drain >= room || !ended_on_empty(uw, cqe)) {
		counter_add(&uw->w->wc.rearms, 1);
		return false;
	}
	uw->drain[uw->n_drain++] = ud;
	return true;
}

/* A receive on fd, a socket to an upstream (session s's; NULL: a mirror's), ended with
 * res < 0: the buffer ring ran dry, or an ICMP error came back for a datagram sent earlier.
 * An unreachable is a notice, not a loss, and the socket keeps receiving; the copies of any
 * ICMP error in the error queue go (one syscall per error, never per datagram), and a
 * "fragmentation needed" / "packet too big" (that ended it, or in the queue behind another
 * error) has s's fast-path rule learn that the path MTU fell. */
static void upstream_recv_error(struct uring_worker *uw, uint32_t relay, uint32_t up,
				struct session *s, int fd, int res)
{
	bool too_big;

	/* a refresh cancelled it (rx_refresh), or the ring's exit: nothing to count or drain */
	if (res == -ECANCELED || recv_ran_dry(uw, relay, res))
		return;
	if (sock_err_unreachable(-res))
		worker_count_notice(uw->w, relay, up);
	if (fd >= 0)
		worker_drain_errors(uw->w, s, fd, SESSION_ERRQUEUE_MAX, res, &too_big, NULL);
}

static void on_listener_recv(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			     struct udata u)
{
	struct worker *w = uw->w;
	struct listener *l = &w->listeners[u.idx];
	struct worker_relay *wr = &w->relays[l->relay];
	struct relay_counters *c = &w->counters[l->relay];
	struct sock_rx_meta meta = { 0 };
	struct io_uring_recvmsg_out *o = NULL;
	struct batch_owner owner;
	struct session *s;
	struct addr client;
	uint32_t bid, len, segs, slot = 0, i;
	uint8_t *payload;

	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		bid = UINT32_MAX;
	else
		bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	/* A listener closed by a reload: its last completions are stale, and what they carry
	 * is lost with the socket, like the datagrams still queued in it. */
	if (!l->in_use || (l->gen & UDATA_GEN_MASK) != u.gen) {
		recv_ran_dry(uw, l->relay, cqe->res);
		goto recycle;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE) && rx_ended(uw, u.idx, cqe->user_data) &&
	    !uw->stopping && !drain_instead(uw, cqe, cqe->user_data))
		arm_listener(uw, u.idx);
	if (cqe->res < 0) {
		/* The buffer ring ran dry: datagrams wait in the socket (or overflow it, which
		 * SO_RXQ_OVFL counts later). An event, not a loss. */
		recv_ran_dry(uw, l->relay, cqe->res);
		return;
	}
	if (bid == UINT32_MAX)
		return;
	payload = rx_payload(uw, cqe, &uw->listen_msg, &len, &o, &meta);
	if (o)
		worker_note_overflow(w, l, &meta);
	segs = sock_segments(len, meta.gso_size);
	relay_count_rx(c, RELAY_DIR_TO_UPSTREAM, segs, len);
	if (!payload || addr_from_sockaddr(&client, io_uring_recvmsg_name(o), o->namelen)) {
		relay_count_drop(c, RELAY_DIR_TO_UPSTREAM, DROP_TRUNCATED, segs);
		goto recycle;
	}

	if (wr->mode == RELAY_MODE_MIRROR) {
		const struct pool *p = worker_pool(w, l->relay);
		uint64_t copy = worker_mirror_copies(w, l->relay, p);
		uint32_t n = (uint32_t)__builtin_popcountll(copy);

		if (!n) {
			relay_count_send_error(c, RELAY_DIR_TO_UPSTREAM, 0, segs);
			goto recycle;
		}
		s = NULL;
		if (wr->transparent) {
			/* From a socket with the client's address and port, to every member. */
			s = worker_session_get(w, u.idx, &client, &meta, segs);
			if (!s)
				goto recycle;
			session_count_up(s, segs, len);
			slot = session_slot(w, l->relay, s);
			if (!meta.gso_size)
				burst_session(uw, bid, session_index(&wr->sessions, s), s->gen, 0);
		}
		/* Every member gets a copy: gathered into the member's batch (send_batched), or
		 * sent on its own; a GSO copy whose segments a member's path refuses goes again in
		 * pieces (burst_resend). */
		if (meta.gso_size)
			uw->bursts[bid] = (struct gso_burst){
				.data = payload, .len = len, .gso_size = meta.gso_size,
				.sess_idx = s ? session_index(&wr->sessions, s) : SESSION_NONE,
				.sess_gen = s ? s->gen : 0,
				.members_gen = wr->transparent ? p->members_gen
							       : wr->members_gen };
		counter_add(&c->dir[RELAY_DIR_TO_UPSTREAM].extra_copies, (uint64_t)segs * (n - 1));
		for (i = 0; i < (wr->transparent ? p->n : wr->n_mirror); i++) {
			if (!(copy >> i & 1))
				continue;
			if (wr->transparent) {
				send_buf(uw, slot, &p->m[i].addr, NULL, payload, len,
					 meta.gso_size, OP_SEND_UPSTREAM, l->relay, bid,
					 p->m[i].slot);
				continue;
			}
			if (wr->mirror_fd[i] < 0) {
				worker_count_unsent_copies(uw->w, l->relay, wr->mirror_uslot[i], segs);
				continue;
			}
			if (wr->mirror_slot[i] != UINT32_MAX) {
				owner = mirror_owner(uw, l->relay, i);
				if (!meta.gso_size) {
					send_batched(uw, &owner, payload, len, bid);
					continue;
				}
				batch_flush_of(uw, owner.open); /* what it holds arrived first */
			}
			if (meta.gso_size > wr->mirror_seg_max[i])
				/* Segments that fit the client's link but not this member's. */
				send_pieces(uw, wr->mirror_slot[i], NULL, NULL, payload, len,
					    meta.gso_size, OP_SEND_UPSTREAM, l->relay, bid,
					    wr->mirror_uslot[i]);
			else
				send_buf(uw, wr->mirror_slot[i], NULL, NULL, payload, len,
					 meta.gso_size, OP_SEND_UPSTREAM, l->relay, bid,
					 wr->mirror_uslot[i]);
		}
		/* No copy was sent (every member wanting one has no socket): nothing else gives
		 * the buffer back. */
		if (!uw->bp.refs[bid])
			goto recycle;
		return;
	}
	s = worker_session_get(w, u.idx, &client, &meta, segs);
	if (!s)
		goto recycle;
	session_count_up(s, segs, len);
	slot = session_slot(w, l->relay, s);
	owner = session_owner(uw, l->relay, s, slot);
	if (!meta.gso_size) {
		send_batched(uw, &owner, payload, len, bid);
	} else if (meta.gso_size <= s->seg_max && !uw->no_batch) {
		/* Already a GSO burst (GRO) whose segments fit the upstream path; after what this
		 * session's open batch holds, which arrived first. */
		batch_flush_of(uw, owner.open);
		uw->bursts[bid] = (struct gso_burst){ .data = payload, .len = len,
						      .gso_size = meta.gso_size,
						      .sess_idx = session_index(&wr->sessions, s),
						      .sess_gen = s->gen };
		send_buf(uw, slot, NULL, NULL, payload, len, meta.gso_size, OP_SEND_UPSTREAM,
			 l->relay, bid, worker_session_up(w, l->relay, s));
	} else {
		/* Segments that fit the client's link but not the upstream's path. */
		batch_flush_of(uw, owner.open);
		burst_session(uw, bid, owner.sess_idx, owner.sess_gen, 0);
		send_pieces(uw, slot, NULL, NULL, payload, len, meta.gso_size, OP_SEND_UPSTREAM,
			    l->relay, bid, worker_session_up(w, l->relay, s));
	}
	return;
recycle:
	if (bid != UINT32_MAX)
		bufpool_recycle(&uw->bp, bid);
}

/* A reply of segs datagrams in len bytes a transparent mirror's client socket read (o: its
 * sender's name): received and dropped, at the member that sent it. */
static void named_reply(struct worker *w, uint32_t relay, struct io_uring_recvmsg_out *o,
			uint32_t segs, uint32_t len)
{
	struct addr from;
	bool known = o && !addr_from_sockaddr(&from, io_uring_recvmsg_name(o), o->namelen);

	worker_mirror_session_reply(w, relay, known ? &from : NULL, segs, len);
}

/* What transparent mirror session s's socket received: a member's reply (or another
 * sender's datagram to the client's address), received and dropped, and the drops its
 * SO_RXQ_OVFL tells. */
static void mirror_session_recv(struct uring_worker *uw, const struct io_uring_cqe *cqe,
				uint32_t relay, struct session *s)
{
	struct sock_rx_meta meta = { 0 };
	struct io_uring_recvmsg_out *o = NULL;
	uint32_t len;

	if (cqe->res < 0) {
		/* The ring ran dry; an ICMP error never comes (sock_open_upstream). */
		upstream_recv_error(uw, relay, SESSION_NONE, NULL, s->fd, cqe->res);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	rx_payload(uw, cqe, &uw->listen_msg, &len, &o, &meta);
	worker_note_reply_overflow(uw->w, relay, s, &meta);
	named_reply(uw->w, relay, o, sock_segments(len, meta.gso_size), len);
	bufpool_recycle(&uw->bp, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
}

static void on_session_recv(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			    struct udata u)
{
	struct worker *w = uw->w;
	struct worker_relay *wr = &w->relays[u.relay];
	struct relay_counters *c = &w->counters[u.relay];
	struct session *s = worker_session_at(w, u.relay, u.idx);
	bool current = s && (s->gen & UDATA_GEN_MASK) == u.gen;
	bool more = cqe->flags & IORING_CQE_F_MORE;
	struct sock_rx_meta meta = { 0 };
	struct io_uring_recvmsg_out *o = NULL;
	const struct addr *local;
	uint32_t bid, len, segs;
	uint8_t *payload;

	if (!s) {
		/* Its relay was retired: what it read goes with it. */
		recv_ran_dry(uw, u.relay, cqe->res);
		if (cqe->flags & IORING_CQE_F_BUFFER)
			bufpool_recycle(&uw->bp, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	if (!current || s->state != SESSION_ACTIVE) {
		uint32_t up = current ? worker_session_up(w, u.relay, s) : SESSION_NONE;

		if (recv_ran_dry(uw, u.relay, cqe->res))
			return;
		/* An ICMP unreachable its receive met as its session closed (the socket's pending
		 * error, which the close's drain then did not meet): the notice a live receive
		 * counts, at the relay only for an earlier session of the slot. */
		if (cqe->res < 0 && sock_err_unreachable(-cqe->res))
			worker_count_notice(w, u.relay, up);
		if (!(cqe->flags & IORING_CQE_F_BUFFER)) /* (dispatch took a failed one's) */
			return;
		/* A reply read as its session closed (or for an earlier session of the slot):
		 * received, and lost here; a transparent mirror's (a named receive: the relay's
		 * mode may have changed since) as the member reply it is, as the close's read
		 * and the mmsg backend count it. */
		bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		rx_payload(uw, cqe, session_tmpl(uw, u), &len, &o, &meta);
		segs = sock_segments(len, meta.gso_size);
		if (current)
			worker_note_reply_overflow(w, u.relay, s, &meta);
		if (u.bid & RX_NAMED) {
			named_reply(w, u.relay, o, segs, len);
			goto recycle;
		}
		relay_count_rx(c, RELAY_DIR_TO_CLIENT, segs, len);
		upstream_count_rx(w, u.relay, up, segs, len);
		relay_count_drop(c, RELAY_DIR_TO_CLIENT, DROP_SESSION_CLOSED, segs);
		goto recycle;
	}
	if (!more && rx_ended(uw, rx_slot(uw, u), cqe->user_data) && !uw->stopping &&
	    !drain_instead(uw, cqe, cqe->user_data))
		arm_session(uw, u.relay, s);
	if (wr->mode == RELAY_MODE_MIRROR) {
		mirror_session_recv(uw, cqe, u.relay, s);
		return;
	}
	if (cqe->res < 0) {
		upstream_recv_error(uw, u.relay, worker_session_up(w, u.relay, s), s, s->fd,
				    cqe->res);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	payload = rx_payload(uw, cqe, &uw->session_msg, &len, &o, &meta);
	segs = sock_segments(len, meta.gso_size);
	worker_count_session_reply(w, u.relay, s, &meta, segs, len);
	if (!payload) {
		relay_count_drop(c, RELAY_DIR_TO_CLIENT, DROP_TRUNCATED, segs);
		goto recycle;
	}
	session_count_down(s, segs, len);
	worker_reply_touch(w, u.relay, s, w->now);
	/* Back to the client from the address it sent to; a burst whose segments the client's
	 * path refused before goes in pieces. */
	local = w->listeners[s->listener].wildcard ? &s->local : NULL;
	if (!worker_reply_whole(s, meta.gso_size)) {
		send_pieces(uw, s->listener, &s->client, local, payload, len, meta.gso_size,
			    OP_SEND_CLIENT, u.relay, bid, u.idx);
		return;
	}
	if (meta.gso_size)
		uw->bursts[bid] = (struct gso_burst){ .data = payload, .len = len,
						      .gso_size = meta.gso_size, .sess_idx = u.idx,
						      .sess_gen = s->gen };
	send_buf(uw, s->listener, &s->client, local, payload, len, meta.gso_size, OP_SEND_CLIENT,
		 u.relay, bid, u.idx);
	return;
recycle:
	bufpool_recycle(&uw->bp, bid);
}

/* A plain mirror member's path (t) refused a UDP GSO copy of gso_size-byte segments with err:
 * copies to it are cut before they are sent from then on, until a reload asks its MTU again.
 * The MTU shrank since the last reload (ask again), or the device cannot segment (no GSO to
 * this member at all). */
static void member_refused(struct uring_worker *uw, uint32_t relay, const struct tx_target *t,
			   uint16_t gso_size, int err)
{
	const struct worker_relay *wr = &uw->w->relays[relay];
	int mtu = sock_path_payload_max(t->fd, t->peer);
	char buf[ADDR_STRLEN];

	if (mtu >= 0 && (uint32_t)mtu < gso_size) {
		*t->seg_max = (uint32_t)mtu;
	} else if (*t->seg_max) {
		*t->seg_max = 0;
		log_warn("worker %u: relay %s: upstream %s refused a UDP GSO send (%s): copies to "
			 "it go datagram by datagram until the next reload",
			 uw->w->id, wr->conf->name, addr_format(t->peer, buf, sizeof(buf)),
			 strerror(-err));
	}
}

/* What the receive of a mirror socket (fd; -1 once closed) completed with, at its member's
 * counter slot up (*ovfl: the socket's SO_RXQ_OVFL as last seen): a reply, received and
 * dropped as mirror_reply, the drops its SO_RXQ_OVFL tells, or the receive's error. */
static void member_recv(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			uint32_t relay, uint32_t up, uint32_t *ovfl, int fd)
{
	struct sock_rx_meta meta = { 0 };
	struct io_uring_recvmsg_out *o = NULL;
	uint32_t len;

	if (cqe->res < 0) {
		upstream_recv_error(uw, relay, up, NULL, fd, cqe->res);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	rx_payload(uw, cqe, &uw->session_msg, &len, &o, &meta);
	worker_note_member_overflow(uw->w, relay, up, ovfl, &meta);
	worker_count_mirror_reply(uw->w, relay, up, sock_segments(len, meta.gso_size), len);
	bufpool_recycle(&uw->bp, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
}

/* A completion of the receive of a mirror socket that has closed (a reload, a change of
 * mode, the stop): what it read before its cancel, or took after the close's read of the
 * socket (close_mirror), counts as the live receive would have counted it, once: a reply
 * as mirror_reply at the member (the relay's only when its counter slot counts another
 * member since), the drops its SO_RXQ_OVFL tells past what the close counted, an ICMP
 * unreachable as a notice, a dry buffer ring. Only for the slot's last MIRROR_GONE_DEPTH
 * sockets closed: an older one's go uncounted but for a dry ring. */
static void mirror_gone_recv(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			     struct udata u)
{
	struct worker *w = uw->w;
	uint32_t i = u.idx - PLAN_LISTENER_SLOTS, k, up;
	struct mirror_gone *g;

	for (k = 0; i < PLAN_MIRROR_SLOTS && k < MIRROR_GONE_DEPTH; k++) {
		g = &uw->mirror_gone[i][k];
		if (!g->valid || g->relay != u.relay || (g->gen & UDATA_GEN_MASK) != u.gen)
			continue;
		up = worker_up_since(w, u.relay, g->up, g->up_moves, UINT8_MAX);
		/* (its socket closed: no error queue left to drain) */
		member_recv(uw, cqe, u.relay, up, &g->ovfl, -1);
		return;
	}
	recv_ran_dry(uw, u.relay, cqe->res);
	if (cqe->flags & IORING_CQE_F_BUFFER)
		bufpool_recycle(&uw->bp, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
}

/* What a mirror member sent back is received and dropped (DROP_MIRROR_REPLY), and so are the
 * drops its socket's SO_RXQ_OVFL tells; an ICMP unreachable for a copy sent earlier is a
 * notice, as on a session's socket. */
static void on_mirror_recv(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			   struct udata u)
{
	struct worker *w = uw->w;
	struct worker_relay *wr = &w->relays[u.relay];
	uint32_t j;

	for (j = 0; j < wr->n_mirror && wr->mirror_slot[j] != u.idx; j++)
		;
	if (j == wr->n_mirror || !rx_same(mirror_udata(uw, u.relay, u.idx), cqe->user_data)) {
		mirror_gone_recv(uw, cqe, u);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE) && rx_ended(uw, u.idx, cqe->user_data) &&
	    !uw->stopping) {
		counter_add(&w->wc.rearms, 1);
		arm_mirror(uw, u.relay, u.idx);
	}
	member_recv(uw, cqe, u.relay, wr->mirror_uslot[j], &wr->mirror_ovfl[j], wr->mirror_fd[j]);
}

/* The path refused burst u (a UDP GSO send, either way) with err: its segments go again, each
 * alone (the kernel fragments one longer than the MTU, as it would any datagram), to where it
 * went (send_target), and so do the later bursts that would meet the same refusal: a
 * session's to its upstream, or back to its client (reply_seg_refused); a plain mirror's
 * copies to that member (member_refused). A transparent mirror sends from each client's
 * session socket to every member's address, where the path MTU cannot be asked, so each of its
 * refused copies goes again. Returns false when the burst has nowhere to go (it is then
 * lost). */
static bool burst_resend(struct uring_worker *uw, struct udata u, int err)
{
	const struct gso_burst *r = &uw->bursts[u.bid];
	const struct tx_sender snd = burst_sender(uw, u);
	struct tx_target t;
	int mtu;

	if (!send_target(uw, &snd, &t))
		return false;
	if (u.op == OP_SEND_CLIENT) {
		worker_reply_refused(t.s, r->gso_size);
		send_pieces(uw, t.s->listener, &t.s->client,
			    uw->w->listeners[t.s->listener].wildcard ? &t.s->local : NULL, r->data,
			    r->len, r->gso_size, OP_SEND_CLIENT, u.relay, u.bid, r->sess_idx);
		return true;
	}
	if (!t.s) {
		member_refused(uw, u.relay, &t, r->gso_size, err);
	} else if (t.peer) {
		/* To the upstream: the path MTU shrank since the session learnt it (ask again),
		 * or the device cannot segment (send singly from now on). */
		mtu = sock_path_payload_max(t.fd, t.peer);
		if (mtu >= 0 && (uint32_t)mtu < r->gso_size)
			*t.seg_max = (uint32_t)mtu;
		else
			gso_off(uw, err);
	}
	send_pieces(uw, t.slot, t.dest, NULL, r->data, r->len, r->gso_size, OP_SEND_UPSTREAM,
		    u.relay, u.bid, t.up);
	return true;
}

/* An ICMP error an earlier datagram drew failed burst u to an upstream (a session's, or a
 * mirror's copy to a member), and it could not go again whole (burst_again: the error's copy
 * was gone, or this was the last send WORKER_SEND_AGAIN_MAX allows): the segments after the
 * first go again, each alone (the first is lost, as a gathered send loses it). Returns false when
 * the session or the member is gone (send_target; the burst is then lost). */
static bool burst_rest(struct uring_worker *uw, struct udata u)
{
	const struct gso_burst *r = &uw->bursts[u.bid];
	const struct tx_sender snd = burst_sender(uw, u);
	struct tx_target t;

	if (r->len <= r->gso_size || !send_target(uw, &snd, &t))
		return false;
	send_pieces(uw, t.slot, t.dest, NULL, r->data + r->gso_size, r->len - r->gso_size,
		    r->gso_size, OP_SEND_UPSTREAM, u.relay, u.bid, t.up);
	return true;
}

/* The datagram a send to an upstream took from buffer bid, off bytes into its payload
 * (tx_payload): the whole payload, or the GRO segment that starts there (the buffer's own
 * header says which); its length in *len. NULL when off is past the payload. */
static const uint8_t *tx_datagram(struct uring_worker *uw, uint32_t bid, uint32_t off,
				  uint32_t *len)
{
	struct io_uring_recvmsg_out *o = (void *)bufpool_addr(&uw->bp, bid);
	struct sock_rx_meta meta = { 0 };
	struct cmsghdr *cm;
	uint32_t left;

	if (off > o->payloadlen)
		return NULL;
	for (cm = io_uring_recvmsg_cmsg_firsthdr(o, &uw->listen_msg); cm;
	     cm = io_uring_recvmsg_cmsg_nexthdr(o, &uw->listen_msg, cm))
		sock_rx_cmsg(cm, &meta);
	left = o->payloadlen - off;
	*len = meta.gso_size && left > meta.gso_size ? meta.gso_size : left;
	return tx_payload(uw, bid) + off;
}

/* A send of one datagram to an upstream (udata u, its counter slot in u.idx, its place in
 * the buffer's payload off) took the ICMP error an earlier datagram drew (err): it goes
 * again (send_again, for the again-th time) on the socket it went on, if that is still there
 * (send_target): the session the buffer's record names (burst_session), or the member of a plain
 * mirror at that counter slot while the member list is the one it was sent to (a transparent
 * mirror's sockets are not connected: no ICMP error is left pending there). Returns false when it
 * cannot go again (it is then lost). */
static bool resend_single(struct uring_worker *uw, struct udata u, uint32_t off, int err,
			  uint32_t again)
{
	const struct tx_sender snd = burst_sender(uw, u);
	struct tx_target t;
	const uint8_t *data;
	uint32_t len;

	if (off == TX_OFF_NONE || !send_target(uw, &snd, &t) || !t.peer)
		return false;
	data = tx_datagram(uw, u.bid, off, &len);
	if (!data)
		return false;
	send_again(uw, &snd, &t, data, len, 0, u.bid, err, again);
	return true;
}

/* Burst u to an upstream (a session's GRO burst, or a plain mirror's copy of one to a member)
 * failed with err, after which its socket's error queue held queued (too_big: a "packet too
 * big" among the copies). When the send took an ICMP error an earlier datagram left pending
 * (gso_took_pending), the burst goes again whole (send_again, for the again-th time): GSO
 * stays on, no segment is lost. Returns false when it did not, or the session or member is gone
 * (send_target; a transparent mirror's sockets are not connected: nothing is left pending there):
 * the failure is then handled as before (burst_resend, burst_rest). */
static bool burst_again(struct uring_worker *uw, struct udata u, int err, int queued, bool too_big,
			uint32_t again)
{
	const struct gso_burst *r = &uw->bursts[u.bid];
	const struct tx_sender snd = burst_sender(uw, u);
	struct tx_target t;

	if (!send_target(uw, &snd, &t) || !t.peer ||
	    !gso_took_pending(t.fd, t.peer, r->gso_size, err, queued, too_big))
		return false;
	send_again(uw, &snd, &t, r->data, r->len, r->gso_size, u.bid, err, again);
	return true;
}

static void on_send(struct uring_worker *uw, const struct io_uring_cqe *cqe, struct udata u)
{
	struct relay_counters *c = &uw->w->counters[u.relay];
	enum relay_dir d = u.op == OP_SEND_UPSTREAM ? RELAY_DIR_TO_UPSTREAM : RELAY_DIR_TO_CLIENT;
	uint32_t off = TX_OFF_NONE, count_up = SESSION_NONE, again = 0;
	bool more = false, too_big = false;
	int pending = 0;

	if (d == RELAY_DIR_TO_UPSTREAM) {
		off = u.idx >> TX_UP_BITS;
		again = tx_again(u);
		u.idx &= TX_UP_NONE;
		more = again < WORKER_SEND_AGAIN_MAX; /* it may go again once more */
		/* where what it carried counts: not at a slot given to another member meanwhile */
		count_up = worker_up_since(uw->w, u.relay, u.idx, u.gen >> TX_MOVES_SHIFT,
					   TX_MOVES);
		u.gen = (u.gen & TX_SEGS) + 1;
		/* First, whatever follows (a pending "packet too big" fails a burst as the kernel
		 * refuses segments too long, and it goes again in pieces): the drain (or what an
		 * earlier one of this round read: errq_seen) tells whether the send took an ICMP
		 * error left pending. The buffer's record names the sending session
		 * (burst_session). */
		if (cqe->res < 0 && sock_err_queued(-cqe->res)) {
			struct tx_sender snd = burst_sender(uw, u);

			/* A send going again was queued at its buffer's again_seq or before (that
			 * of the buffer's latest: it may take fewer spare copies, never more than
			 * its own; two of one buffer going again on one socket, a GRO burst's
			 * pieces, the first may find the second's newer seq and be lost for want
			 * of a copy it was owed: gen has no room for a seq of each), and one that
			 * may go again no more takes none: it could not use it (errq_seen_of gives
			 * them to sends queued before the drain). */
			if (again)
				snd.seq = uw->bursts[u.bid].again_seq;
			if (!more)
				snd.seq = uw->tx_seq;
			pending = send_drain_errors(uw, &snd, cqe->res, &too_big);
		}
	}
	if (u.gen > 1 && pending && more &&
	    burst_again(uw, u, cqe->res, pending, too_big, again + 1)) {
		/* counted as its next send completes */
	} else if (u.gen > 1 && sock_err_gso_refused(-cqe->res) && burst_resend(uw, u, cqe->res)) {
		/* counted as the pieces complete */
	} else if (cqe->res >= 0) {
		counter_add(&c->dir[d].tx_pkts, u.gen);
		counter_add(&c->dir[d].tx_bytes, (uint64_t)cqe->res);
		if (d == RELAY_DIR_TO_UPSTREAM)
			upstream_count_sent(uw->w, u.relay, count_up, u.gen,
					    (uint64_t)cqe->res);
	} else if (u.gen == 1 && pending && more &&
		   resend_single(uw, u, off, cqe->res, again + 1)) {
		/* counted as its next send completes */
	} else {
		/* Every datagram the send carried is lost, but for an upstream burst that met a
		 * pending ICMP error: its first alone. */
		bool unreachable = sock_err_unreachable(-cqe->res);
		uint32_t lost = u.gen > 1 && unreachable && d == RELAY_DIR_TO_UPSTREAM &&
						burst_rest(uw, u)
					? 1
					: u.gen;

		if (unreachable)
			relay_count_drop(c, d, DROP_UNREACHABLE, lost);
		else
			relay_count_send_error(c, d, -cqe->res, lost);
		if (d == RELAY_DIR_TO_UPSTREAM)
			upstream_count_lost(uw->w, u.relay, count_up, unreachable, lost);
	}
	bufpool_put(&uw->bp, u.bid);
}

/* A closing session's file slot is empty: the session's slot is free for a new one. */
static void on_slot_emptied(struct uring_worker *uw, struct udata u)
{
	struct session *s = worker_session_at(uw->w, u.relay, u.idx);

	if (s && s->state == SESSION_CLOSING && (s->gen & UDATA_GEN_MASK) == u.gen)
		session_release(&uw->w->relays[u.relay].sessions, s);
}

/* Cancels the receives armed before the removals from the file table counted when the
 * sweep began (one a second at most; at once after a listener closed, which takes the sweep
 * under way to its removal too), oldest first and at most refresh_max a call, and arms each
 * again: the new one holds the resource node after the removal, and once none holds the
 * older nodes the kernel puts the files removed with them (see the top of this file). A
 * cancel that finds its receive ended already counts nothing (by udata: ENOENT); one that
 * finds it running in io-wq may leave it armed, which then reads what it reads as any
 * receive of its socket and is not armed again when it ends (rx_ended). After no removal,
 * nothing to do. */
static void rx_refresh(struct uring_worker *uw)
{
	struct rx_arm *a;
	struct udata u;
	uint32_t n;

	if (uw->sweep_soon || (!uw->sweeping && uw->w->now >= uw->sweep_next_ns &&
			       uw->removals != uw->sweep_to)) {
		uw->sweeping = true;
		uw->sweep_soon = false;
		uw->sweep_to = uw->removals;
		uw->sweep_next_ns = uw->w->now + RX_SWEEP_NS;
	} else if (!uw->sweeping) {
		return;
	}
	for (n = 0; n < uw->refresh_max; n++) {
		a = uw->rx_head != RX_NONE ? &uw->rx[uw->rx_head] : NULL;
		/* armed after the sweep's removals, and so is every later one: it is done */
		if (!a || (int32_t)(a->removals - uw->sweep_to) >= 0) {
			uw->sweeping = false;
			break;
		}
		u = udata_unpack(a->ud);
		rx_cancel(uw, uw->rx_head);
		/* (a linked receive's socket is open: each close unlinks it) */
		if (u.op == OP_RECV_LISTENER)
			arm_listener(uw, u.idx);
		else if (u.op == OP_RECV_MIRROR)
			arm_mirror(uw, u.relay, u.idx);
		else
			arm_session(uw, u.relay, &uw->w->relays[u.relay].sessions.slots[u.idx]);
	}
	counter_add(&uw->w->wc.refreshes, n);
}

static void on_timer(struct uring_worker *uw)
{
	uring_cq_check(&uw->ring, &uw->cq_watch, &uw->w->wc.cq_overflow, &uw->w->wc.cq_dropped);
	worker_tick(uw->w);
	if (uw->stopping)
		return;
	/* after the tick's expiries, whose removals it covers */
	if (uw->refresh)
		rx_refresh(uw);
	arm_timer(uw);
}

/* The socket a drain entry reads and its receive's template, or -1 when the listener or
 * session it names has been closed (or its slot reused) since. */
static int drain_target(struct uring_worker *uw, uint64_t ud, const struct msghdr **tmpl)
{
	struct udata u = udata_unpack(ud);
	struct worker *w = uw->w;
	const struct session_table *t = &w->relays[u.relay].sessions;
	const struct session *s;

	if (uw->stopping)
		return -1;
	if (u.op == OP_RECV_LISTENER) {
		*tmpl = &uw->listen_msg;
		return w->listeners[u.idx].in_use && rx_same(listener_udata(uw, u.idx), ud)
			       ? w->listeners[u.idx].fd
			       : -1;
	}
	/* A session closed while drained: on_slot_emptied frees it. Its relay may have gone
	 * with a reload since, its table with it. */
	if (!t->slots || u.idx >= t->capacity)
		return -1;
	s = &t->slots[u.idx];
	*tmpl = session_tmpl(uw, u);
	return s->state == SESSION_ACTIVE && rx_same(session_udata(u.relay, u.idx, s), ud) ? s->fd
										       : -1;
}

/* Passes a completion the drain made up to the handler of the receive it stands for. */
static void drain_deliver(struct uring_worker *uw, const struct io_uring_cqe *c)
{
	struct udata u = udata_unpack(c->user_data);

	if (u.op == OP_RECV_LISTENER)
		on_listener_recv(uw, c, u);
	else
		on_session_recv(uw, c, u);
}

/* Reads up to DRAIN_BATCH datagrams of the socket a drain entry names with one recvmmsg
 * into free buffers, each laid out as a multishot completion of its receive (header, name,
 * control, payload), and passes them on as such. Returns true when the batch was full: more
 * may wait. */
static bool drain_socket(struct uring_worker *uw, uint64_t ud, int fd, const struct msghdr *t)
{
	const size_t name = sizeof(struct io_uring_recvmsg_out), ctl = name + t->msg_namelen;
	const size_t hdr = ctl + t->msg_controllen, room = uw->bp.size - hdr;
	int got;
	uint32_t n, i;

	for (n = 0; n < DRAIN_BATCH; n++) {
		uint32_t bid = bufpool_take(&uw->bp);
		uint8_t *b;

		if (bid == UINT32_MAX)
			break;
		b = bufpool_addr(&uw->bp, bid);
		uw->drain_bid[n] = bid;
		uw->drain_iov[n] = (struct iovec){.iov_base = b + hdr, .iov_len = room};
		uw->drain_msgs[n].msg_hdr = (struct msghdr){
			.msg_name = t->msg_namelen ? b + name : NULL,
			.msg_namelen = t->msg_namelen,
			.msg_iov = &uw->drain_iov[n],
			.msg_iovlen = 1,
			.msg_control = t->msg_controllen ? b + ctl : NULL,
			.msg_controllen = t->msg_controllen,
		};
	}
	got = n ? recvmmsg(fd, uw->drain_msgs, n, MSG_DONTWAIT | MSG_TRUNC, NULL) : 0;
	if (got < 0 && errno != EAGAIN) {
		/* A socket error (ICMP unreachable for a session) comes before the data, as a
		 * receive's would: handled as a receive's failure, then the receive is armed. */
		struct io_uring_cqe c = { .user_data = ud, .res = -errno,
					  .flags = IORING_CQE_F_MORE };

		drain_deliver(uw, &c);
	}
	for (i = 0; got > 0 && i < (uint32_t)got; i++) {
		const struct msghdr *m = &uw->drain_msgs[i].msg_hdr;
		uint32_t len = uw->drain_msgs[i].msg_len, bid = uw->drain_bid[i];
		struct io_uring_recvmsg_out *o = (void *)bufpool_addr(&uw->bp, bid);
		struct io_uring_cqe c = {
			.user_data = ud,
			.res = (int)(hdr + (len < room ? len : room)),
			.flags = IORING_CQE_F_BUFFER | IORING_CQE_F_MORE |
				 (bid << IORING_CQE_BUFFER_SHIFT),
		};

		*o = (struct io_uring_recvmsg_out){ .namelen = m->msg_namelen,
						    .controllen = (uint32_t)m->msg_controllen,
						    .payloadlen = len,
						    .flags = (uint32_t)m->msg_flags };
		drain_deliver(uw, &c);
	}
	/* The buffers recvmmsg did not fill go back in the order they came off the stack. */
	for (i = n; i-- > (got > 0 ? (uint32_t)got : 0);)
		bufpool_recycle(&uw->bp, uw->drain_bid[i]);
	return n == DRAIN_BATCH && got == (int)n;
}

/* The listeners and sessions an empty datagram stopped: read what their sockets hold, and
 * arm their multishot receive again once a read finds less than a full batch (an empty
 * datagram in a flood then costs a share of one recvmmsg, not a re-arm and a loop turn of
 * its own). */
static void drain_sockets(struct uring_worker *uw)
{
	uint32_t i, k = 0;

	for (i = 0; i < uw->n_drain; i++) {
		uint64_t ud = uw->drain[i];
		struct udata u = udata_unpack(ud);
		const struct msghdr *t;
		int fd = drain_target(uw, ud, &t);

		if (fd < 0)
			continue;
		if (drain_socket(uw, ud, fd, t)) {
			uw->drain[k++] = ud;
			continue;
		}
		/* on_*_recv closed it: a listener by a reload, a session at its last datagram */
		if (drain_target(uw, ud, &t) < 0)
			continue;
		counter_add(&uw->w->wc.rearms, 1);
		if (u.op == OP_RECV_LISTENER)
			arm_listener(uw, u.idx);
		else
			arm_session(uw, u.relay, &uw->w->relays[u.relay].sessions.slots[u.idx]);
	}
	uw->n_drain = k;
}

static void dispatch(struct uring_worker *uw, const struct io_uring_cqe *cqe)
{
	struct udata u = udata_unpack(cqe->user_data);
	struct io_uring_cqe failed;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		bufpool_taken(&uw->bp);
		/* A receive that failed after its buffer was chosen (6.1 commits the buffer at
		 * selection when the receive ran from io-wq) hands the buffer back: it goes to
		 * the pool now, and the handlers see an error without one. */
		if (cqe->res < 0 && (u.op == OP_RECV_LISTENER || u.op == OP_RECV_SESSION ||
				     u.op == OP_RECV_MIRROR)) {
			bufpool_recycle(&uw->bp, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
			failed = *cqe;
			failed.flags &= ~IORING_CQE_F_BUFFER;
			cqe = &failed;
		}
	}
	switch (u.op) {
	case OP_RECV_LISTENER:
		on_listener_recv(uw, cqe, u);
		break;
	case OP_RECV_SESSION:
		on_session_recv(uw, cqe, u);
		break;
	case OP_RECV_MIRROR:
		on_mirror_recv(uw, cqe, u);
		break;
	case OP_SEND_UPSTREAM:
	case OP_SEND_CLIENT:
		on_send(uw, cqe, u);
		break;
	case OP_SEND_BATCH:
		on_send_batch(uw, cqe, u);
		break;
	case OP_TIMER:
		on_timer(uw);
		break;
	case OP_STOP:
		uw->stopping = true;
		break;
	case OP_CMD:
		/* What this round queued goes to the kernel first: a command may close sockets
		 * and give their fixed slots to others, and a queued send names only a slot. */
		batch_flush_open(uw);
		submit_now(uw);
		worker_run_cmd(uw->w);
		set_tick(uw); /* from the next timer on */
		/* a listener it closed lingers in its reuseport group until refreshed */
		if (uw->sweep_soon && !uw->stopping)
			rx_refresh(uw);
		if (!uw->stopping)
			arm_read(uw, uw->w->cmd_fd, &uw->cmd_val, OP_CMD);
		break;
	case OP_SLOT_EMPTIED:
		on_slot_emptied(uw, u);
		break;
	case OP_CANCEL_LISTENER:
	case OP_CANCEL_SESSION:
	case OP_CANCEL_MIRROR:
		on_cancel(uw, cqe);
		break;
	case OP_IGNORE:
		break;
	}
}

/* The only operations a worker ring ever runs. */
static const uint8_t allowed_ops[] = { IORING_OP_RECVMSG,      IORING_OP_SEND,
				       IORING_OP_SENDMSG,      IORING_OP_TIMEOUT,
				       IORING_OP_READ,	       IORING_OP_ASYNC_CANCEL,
				       IORING_OP_FILES_UPDATE };

/* Hardening: if a bug ever let an attacker steer an SQE, this ring still can only receive,
 * send, time out, read its eventfds, cancel and swap its own files, only with fixed files
 * and provided buffers. Everything registered before this point (buffer ring, file table,
 * ring fd) stays; afterwards only file updates may be registered. Then the ring is enabled,
 * which also makes this thread its single issuer. */
static int restrict_ring(struct uring_worker *uw)
{
	struct io_uring_restriction res[sizeof(allowed_ops) + 3];
	unsigned n = 0, i;
	int err;

	memset(res, 0, sizeof(res));
	for (i = 0; i < sizeof(allowed_ops); i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = allowed_ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
	res[n++].register_op = IORING_REGISTER_FILES_UPDATE;
	/* io_uring_queue_exit unregisters the ring fd it registered. */
	res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
	res[n++].register_op = IORING_UNREGISTER_RING_FDS;
	/* liburing 2.3 declares io_uring_register_restrictions and io_uring_enable_rings but
	 * Debian's liburing.so.2 does not export them: use the raw register call. */
	err = io_uring_register((unsigned)uw->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
	if (err)
		return err;
	return io_uring_register((unsigned)uw->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

/* A ring or buffer ring (of buffers entries) that could not be made (what): ENOMEM there
 * means RLIMIT_MEMLOCK is too small far more often than memory is short. The message says
 * how much all workers need; w->ring_nomem lets io_backend = "auto" fall back to mmsg.
 * Returns err. */
static int ring_error(struct worker *w, const char *what, int err, uint32_t buffers)
{
	const struct plan *p = w->plan;
	uint64_t need;

	if (err != -ENOMEM) {
		snprintf(w->error, sizeof(w->error), "worker %u: %s: %s", w->id, what,
			 strerror(-err));
		return err;
	}
	w->ring_nomem = true;
	need = uring_memlock_bytes(p->sq_entries, p->cq_entries, buffers) * p->n_workers;
	snprintf(w->error, sizeof(w->error),
		 "worker %u: %s: %s%s; the rings of %u worker(s) need about %llu KiB locked "
		 "(or use io_backend = \"mmsg\")",
		 w->id, what, strerror(-err), uring_memlock_hint(err), p->n_workers,
		 (unsigned long long)(need + 1023) / 1024);
	return err;
}

/* A buffer starts aligned (bufpool): the control data after the header and the name must be
 * too, and it holds a whole sockaddr_in6. */
#define LISTEN_CONTROL_AT (sizeof(struct io_uring_recvmsg_out) + SOCK_RX_NAME_LEN)
_Static_assert(LISTEN_CONTROL_AT % _Alignof(struct cmsghdr) == 0 &&
		   SOCK_RX_NAME_LEN >= sizeof(struct sockaddr_in6),
	       "a listener's control data starts aligned after the header and the name");

static int uring_setup(struct uring_worker *uw, struct worker_cmd *first)
{
	struct worker *w = uw->w;
	const struct plan *p = w->plan;
	const struct config *cfg = first->cfg;
	uint32_t i;
	int err;

	uw->minus_one = -1;
	uw->listen_msg.msg_namelen = SOCK_RX_NAME_LEN;
	uw->listen_msg.msg_controllen = p->rx_control;
	uw->session_msg.msg_controllen = p->reply_rx_control;
	w->backend_state = uw;

	uw->bursts = calloc(cfg->buffers, sizeof(*uw->bursts));
	uw->batches = calloc(BATCH_POOL, sizeof(*uw->batches));
	uw->rx = calloc(p->files, sizeof(*uw->rx));
	if (!uw->bursts || !uw->batches || !uw->rx) {
		snprintf(w->error, sizeof(w->error), "worker %u: out of memory", w->id);
		return -ENOMEM;
	}
	/* Created disabled: the ring is locked down (restrict_ring) before its first SQE. */
	for (i = 0; i < BATCH_POOL; i++)
		uw->batches[i].next_free = i + 1 < BATCH_POOL ? i + 1 : UINT32_MAX;
	uw->batch_free = 0;
	for (i = 0; i < PLAN_MIRROR_SLOTS; i++)
		uw->mirror_batch[i] = SESSION_NONE;
	uw->n_rx = p->files;
	uw->rx_head = uw->rx_tail = RX_NONE;
	uw->refresh = w->caps->rsrc_refresh;
	uw->cancel_fixed = w->caps->cancel_fixed;
	/* Each refresh adds two completions (the cancel's, the old receive's end) to what the
	 * plan sized the CQ for: a share of it. */
	uw->refresh_max = p->cq_entries / 8 < RX_REFRESH_MAX ? p->cq_entries / 8 : RX_REFRESH_MAX;
	err = uring_init(&uw->ring, p->sq_entries, p->cq_entries,
			 w->caps->setup_flags | IORING_SETUP_R_DISABLED);
	if (err)
		return ring_error(w, "io_uring_setup", err, cfg->buffers);
	uw->sq_msg = calloc(uw->ring.sq.ring_entries, sizeof(*uw->sq_msg));
	if (!uw->sq_msg) {
		snprintf(w->error, sizeof(w->error), "worker %u: out of memory", w->id);
		return -ENOMEM;
	}
	/* Saves an fd lookup on every io_uring_enter; optional. */
	(void)io_uring_register_ring_fd(&uw->ring);
	err = bufpool_init(&uw->bp, &uw->ring, cfg->buffers, cfg->buffer_size, BGID);
	if (err) {
		char what[64];

		snprintf(what, sizeof(what), "buffer ring of %u x %u bytes", cfg->buffers,
			 cfg->buffer_size);
		return ring_error(w, what, err, cfg->buffers);
	}
	err = io_uring_register_files_sparse(&uw->ring, p->files);
	if (err) {
		snprintf(w->error, sizeof(w->error),
			 "worker %u: register %u files: %s (RLIMIT_NOFILE too low?)", w->id,
			 p->files, strerror(-err));
		return err;
	}
	/* Before the restrictions, which allow no later registration but file updates. */
	w->busy_poll = 0;
	if (cfg->napi.busy_poll_us) {
		err = uring_register_napi(&uw->ring, cfg->napi.busy_poll_us,
					  cfg->napi.prefer_busy_poll);
		w->busy_poll = err ? err : 1;
	}
	err = restrict_ring(uw);
	if (err) {
		snprintf(w->error, sizeof(w->error), "worker %u: io_uring restrictions: %s", w->id,
			 strerror(-err));
		return err;
	}
	err = worker_apply(w, first);
	if (err) {
		snprintf(w->error, sizeof(w->error), "%s", first->error);
		return err;
	}
	set_tick(uw);
	arm_timer(uw);
	arm_read(uw, w->stop_fd, &uw->stop_val, OP_STOP);
	arm_read(uw, w->cmd_fd, &uw->cmd_val, OP_CMD);
	snprintf(w->features, sizeof(w->features),
		 "io_uring (multishot recvmsg, %u buffers of %u B (%zu KiB resident%s), %u of them "
		 "in the ring at first, %s, %u fixed files, CQ %u, restricted to %u opcodes%s)",
		 cfg->buffers, cfg->buffer_size, uw->bp.resident_bytes >> 10,
		 uw->bp.resident_bytes < uw->bp.mem_bytes
			 ? ": a page each until a receive needs more"
			 : "",
		 uw->bp.fill, uring_flags_name(w->caps->setup_flags), p->files,
		 p->cq_entries, (unsigned)(sizeof(allowed_ops) / sizeof(allowed_ops[0])),
		 w->busy_poll > 0 ? ", NAPI busy poll" : "");
	/* GRO takes a buffer per datagram, however small (its first page in memory), because a
	 * buffer shared by many datagrams (IOU_PBUF_RING_INC) cuts one short at its end on the
	 * kernels probed so far (docs/ringrelay.conf.5, gro). Say which it is. */
	if (cfg->gro)
		snprintf(w->features + strlen(w->features),
			 sizeof(w->features) - strlen(w->features),
			 "; GRO: a buffer per datagram or burst (IOU_PBUF_RING_INC not used: %s)",
			 w->caps->pbuf_inc_why[0] ? w->caps->pbuf_inc_why
						  : "ringrelay does not share buffers yet");
	return 0;
}

/* Rounds of the stop's last reaping, and how long each waits for a completion. */
#define STOP_REAP_ROUNDS 16
#define STOP_REAP_NS 2000000

/* After the stop closed every socket (which cancels the receives): what the last rounds
 * received and queued is sent, or fails on its closed socket, and counted either way, so the
 * final counters still add up (received = sent + drops). Sends never wait (MSG_DONTWAIT),
 * and with the receives gone nothing new arrives, so a few rounds end it; a round that
 * brings nothing ends it at once. */
static void stop_reap(struct uring_worker *uw)
{
	struct __kernel_timespec wait = { .tv_nsec = STOP_REAP_NS };
	struct io_uring_cqe *cqe;
	unsigned head, n, round;
	int ret;

	for (round = 0; round < STOP_REAP_ROUNDS; round++) {
		batch_flush_open(uw);
		ret = io_uring_submit_and_wait_timeout(&uw->ring, &cqe, 1, &wait, NULL);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			break;
		tx_submitted(uw);
		uw->w->now = worker_clock();
		uw->n_errq_seen = 0;
		n = 0;
		io_uring_for_each_cqe(&uw->ring, head, cqe)
		{
			dispatch(uw, cqe);
			n++;
		}
		io_uring_cq_advance(&uw->ring, n);
		if (n == 0 && io_uring_sq_ready(&uw->ring) == 0)
			break;
	}
}

static void uring_teardown(struct uring_worker *uw, bool reap)
{
	/* Close our descriptors while the ring still exists (the hooks use it); exiting the
	 * ring then cancels every request and drops the registered sockets; only then may the
	 * buffers the kernel could still write go away. */
	if (uw->ring.ring_fd > 0) {
		worker_close_all(uw->w);
		if (reap)
			stop_reap(uw);
		io_uring_queue_exit(&uw->ring);
	}
	bufpool_fini(&uw->bp);
	free(uw->sq_msg);
	free(uw->bursts);
	free(uw->batches);
	free(uw->rx);
}

static int uring_run(struct worker *w, struct worker_cmd *first)
{
	struct __kernel_timespec no_wait = { 0 };
	struct uring_worker uw = { .w = w };
	struct io_uring_cqe *cqe;
	unsigned head, n;
	int err;

	err = uring_setup(&uw, first);
	if (err) {
		uring_teardown(&uw, false);
		worker_report(w, WORKER_FAILED);
		return err;
	}
	worker_report(w, WORKER_READY);

	while (!uw.stopping) {
		bufpool_commit(&uw.bp);
		/* A socket being drained has datagrams waiting: take the completions there are
		 * (which runs the kernel's deferred work) without sleeping. */
		if (uw.n_drain)
			err = io_uring_submit_and_wait_timeout(&uw.ring, &cqe, 1, &no_wait, NULL);
		else
			err = io_uring_submit_and_wait(&uw.ring, 1);
		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY && err != -ETIME) {
			/* EBADR: the kernel had no memory to keep completions the full queue could
			 * not take, and dropped them: a multishot receive's last one is a socket no
			 * longer read, a send's a buffer never returned. No way to tell which. */
			uring_cq_check(&uw.ring, &uw.cq_watch, &w->wc.cq_overflow,
				       &w->wc.cq_dropped);
			snprintf(w->error, sizeof(w->error), "worker %u: io_uring_enter: %s", w->id,
				 err == -EBADR ? "the kernel dropped completions (out of memory)"
					       : strerror(-err));
			break;
		}
		tx_submitted(&uw);
		w->now = worker_clock();
		counter_add(&w->wc.loops, 1);
		/* What a round's drains read accounts for its own failed sends only: a send made
		 * after a drain emptied the queue can take only a newer error, whose copy waits. */
		uw.n_errq_seen = 0;
		n = 0;
		io_uring_for_each_cqe(&uw.ring, head, cqe)
		{
			dispatch(&uw, cqe);
			n++;
		}
		if (uw.n_drain)
			drain_sockets(&uw);
		batch_flush_open(&uw);
		io_uring_cq_advance(&uw.ring, n);
		counter_add(&w->wc.completions, n);
		counter_set(&w->wc.heartbeat, w->now);
		worker_quiescent(w);
		err = uw.broken; /* w->error says it */
		if (err)
			break;
	}
	worker_report(w, WORKER_STOPPING);
	uring_teardown(&uw, err == 0);
	return err;
}

const struct worker_ops worker_uring_ops = {
	.run = uring_run,
	.listener_open = hook_listener_open,
	.listener_close = hook_listener_close,
	.mirror_open = hook_mirror_open,
	.mirror_close = hook_mirror_close,
	.session_opened = hook_session_opened,
	.session_close = hook_session_close,
};
