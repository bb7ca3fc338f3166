// SPDX-License-Identifier: MIT
/* The io_uring backend's handling of failed sends to an upstream (on_send, on_send_batch):
 * where a datagram goes again, which counter slot it counts at, whose error queue is drained.
 * The sequences that matter need a reload to land while a send is in flight, and an ICMP error
 * or a refused GSO send at that moment: out of reach of a real relay on loopback. So the test
 * includes worker_uring.c and drives its completion handlers on a worker it lays out itself,
 * with a real io_uring whose SQ is read and emptied, never submitted (but by the mirror hooks'
 * own submit_all). The socket calls the handlers make are the test's (the Makefile's --wrap):
 * what the error queue held, what the path MTU is. Also the ends of receives the same way (fake
 * completions): a closed mirror socket's last completions (mirror_gone: its overflow baseline, its
 * fixed slot closed again before they come) and a dry buffer ring on every receive's path. Skipped
 * where io_uring cannot be set up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "worker_uring.c"

#define RELAY 1u
#define NB 8u	  /* buffers */
#define STACK 64u /* buffers recycled per test, at most */
#define SQ 256u	  /* SQ entries */
#define CAP 8u	  /* sessions */
#define LEN 200u  /* every datagram's length */
#define SESS 2u	  /* the forward session */
#define SESS_GEN 40u
#define MIRROR_FD 100 /* member i's socket: MIRROR_FD + i */

/* What the error queue held (the newest copy's errno; 0: nothing) and how many copies (0: one
 * when it held any), and the sockets drained. The next drain finds it empty when drain_once. */
static int drain_ret;
static uint32_t drain_copies;
static bool drain_once;
static int drained[8];
static uint32_t n_drained;

int __wrap_sock_drain_errors_mtu(int fd, uint32_t max, bool *too_big, uint32_t *n);
int __wrap_sock_path_payload_max(int fd, const struct addr *peer);
int __wrap_sock_seg_max_refused(int fd, const struct addr *peer, uint32_t size, int err);

int __wrap_sock_drain_errors_mtu(int fd, uint32_t max, bool *too_big, uint32_t *n)
{
	int ret = drain_ret;

	if (n_drained < sizeof(drained) / sizeof(drained[0]))
		drained[n_drained++] = fd;
	*too_big = false;
	if (n)
		*n = !ret ? 0 : drain_copies ? drain_copies : 1;
	if (drain_once)
		drain_ret = 0;
	return ret;
}

int __wrap_sock_path_payload_max(int fd, const struct addr *peer)
{
	return -ENOTCONN;
}

/* A refused GSO send: the path takes segments of 150 bytes (below LEN). */
int __wrap_sock_seg_max_refused(int fd, const struct addr *peer, uint32_t size, int err)
{
	return 150;
}

struct fixture {
	struct worker w;
	struct uring_worker uw;
	struct pool pool;
	struct relay_conf conf;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct uring_worker *uw = &f->uw;
	struct worker *w = &f->w;
	uint32_t i;

	*state = f;
	if (!f)
		return -1;
	if (io_uring_queue_init(SQ, &uw->ring, 0)) {
		fprintf(stderr, "no io_uring here\n");
		free(f);
		*state = NULL;
		return 0;
	}
	w->uc = calloc(WORKER_MAX_RELAYS * CONFIG_MAX_UPSTREAMS, sizeof(*w->uc));
	w->pools = calloc(WORKER_MAX_RELAYS, sizeof(*w->pools));
	uw->sq_msg = calloc(SQ, sizeof(*uw->sq_msg));
	uw->bursts = calloc(NB, sizeof(*uw->bursts));
	uw->batches = calloc(BATCH_POOL, sizeof(*uw->batches));
	uw->bp.refs = calloc(NB, sizeof(*uw->bp.refs));
	/* room for every buffer recycled in a test: none goes back to a ring */
	uw->bp.stack = calloc(STACK, sizeof(*uw->bp.stack));
	uw->bp.stride = uw->bp.size = 2048;
	uw->bp.count = NB;
	uw->bp.mem = calloc(NB, uw->bp.stride);
	if (!w->uc || !w->pools || !uw->sq_msg || !uw->bursts || !uw->batches || !uw->bp.refs ||
	    !uw->bp.stack || !uw->bp.mem)
		return -1;
	w->pools[RELAY] = &f->pool;
	w->backend_state = uw;
	w->regions.base[RELAY] = PLAN_SESSION_BASE;
	uw->w = w;
	uw->listen_msg.msg_namelen = SOCK_RX_NAME_LEN;
	for (i = 0; i < BATCH_POOL; i++)
		uw->batches[i].next_free = i + 1 < BATCH_POOL ? i + 1 : UINT32_MAX;
	for (i = 0; i < PLAN_MIRROR_SLOTS; i++)
		uw->mirror_batch[i] = SESSION_NONE;
	/* each buffer holds a received datagram of LEN bytes */
	for (i = 0; i < NB; i++)
		((struct io_uring_recvmsg_out *)bufpool_addr(&uw->bp, i))->payloadlen = LEN;
	snprintf(f->conf.name, sizeof(f->conf.name), "r");
	w->relays[RELAY].conf = &f->conf;
	w->relays[RELAY].state = RELAY_SLOT_ACTIVE;
	drain_ret = 0;
	drain_copies = 0;
	drain_once = false;
	n_drained = 0;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	session_table_fini(&f->w.relays[RELAY].sessions);
	io_uring_queue_exit(&f->uw.ring);
	free(f->w.uc);
	free(f->w.pools);
	free(f->uw.sq_msg);
	free(f->uw.bursts);
	free(f->uw.batches);
	free(f->uw.bp.refs);
	free(f->uw.bp.stack);
	free(f->uw.bp.mem);
	free(f->uw.rx);
	free(f);
	return 0;
}

/* The SQEs queued since the last call, which are then dropped (never submitted). */
static uint32_t take_sqes(struct fixture *f, struct io_uring_sqe *out, uint32_t max)
{
	struct io_uring_sq *sq = &f->uw.ring.sq;
	uint32_t n = 0;

	for (; sq->sqe_head != sq->sqe_tail; sq->sqe_head++)
		if (n < max)
			out[n++] = sq->sqes[sq->sqe_head & sq->ring_mask];
	return n;
}

/* The counter slot a queued send to an upstream counts at. */
static uint32_t sqe_up(const struct io_uring_sqe *e)
{
	return udata_unpack(e->user_data).idx & TX_UP_NONE;
}

static void complete(struct fixture *f, const struct io_uring_sqe *e, int res)
{
	struct io_uring_cqe cqe = { .user_data = e->user_data, .res = res };
	struct udata u = udata_unpack(e->user_data);

	if (u.op == OP_SEND_BATCH)
		on_send_batch(&f->uw, &cqe, u);
	else
		on_send(&f->uw, &cqe, u);
}

/* A round of completions begins, after a submission that took every send queued so far. */
static void new_round(struct fixture *f)
{
	f->uw.tx_seq++;
	f->uw.n_errq_seen = 0;
}

static struct upstream_counters *uc(struct fixture *f, uint32_t up)
{
	return worker_uc(&f->w, RELAY, up);
}

static void set_addr(struct addr *a, uint32_t host)
{
	*a = (struct addr){ .in4 = { .sin_family = AF_INET, .sin_port = htons(53),
				     .sin_addr.s_addr = htonl(0xc6120000u | host) } };
}

/* A forward relay whose session SESS (upstream_addr 198.18.0.12) sent on counter slot 3,
 * which a reload then moved to 7 (repoint_sessions: its entry was renamed). */
static struct session *forward_moved(struct fixture *f)
{
	struct worker_relay *wr = &f->w.relays[RELAY];
	struct session *s;

	wr->mode = RELAY_MODE_FORWARD;
	assert_int_equal(session_table_init(&wr->sessions, CAP, 1000000000ull), 0);
	s = &wr->sessions.slots[SESS];
	s->state = SESSION_ACTIVE;
	s->gen = SESS_GEN;
	s->fd = 50;
	s->upstream = 7;
	s->seg_max = 1400;
	s->tx_batch = SESSION_NONE;
	set_addr(&s->upstream_addr, 12);
	return s;
}

/* A send of buffer bid by session SESS, as the worker queued it before the reload (counter
 * slot 3): one datagram, or a GRO burst of segs segments of LEN / 4 bytes. */
static struct io_uring_sqe forward_sent(struct fixture *f, uint32_t bid, uint32_t segs)
{
	struct uring_worker *uw = &f->uw;
	uint8_t *data = tx_payload(uw, bid);
	struct io_uring_sqe e;

	if (segs > 1) {
		uw->bursts[bid] = (struct gso_burst){ .data = data, .len = segs * (LEN / 4),
						      .gso_size = LEN / 4, .sess_idx = SESS,
						      .sess_gen = SESS_GEN };
		send_buf(uw, PLAN_SESSION_BASE + SESS, NULL, NULL, data, segs * (LEN / 4), LEN / 4,
			 OP_SEND_UPSTREAM, RELAY, bid, 3);
	} else {
		burst_session(uw, bid, SESS, SESS_GEN, 0);
		send_buf(uw, PLAN_SESSION_BASE + SESS, NULL, NULL, data, LEN, 0, OP_SEND_UPSTREAM,
			 RELAY, bid, 3);
	}
	assert_int_equal(take_sqes(f, &e, 1), 1);
	return e;
}

/* A forward session's datagram that took an ICMP unreachable left pending goes again, and
 * the notice counts, at the session's counter slot now: a reload moved it (3 -> 7) while the
 * send was in flight. Before, both counted at 3, a slot then free or another member's. */
static void test_forward_resend_current_slot(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe e, q[4];

	if (!f)
		skip();
	forward_moved(f);
	e = forward_sent(f, 0, 1);
	drain_ret = ECONNREFUSED;
	complete(f, &e, -ECONNREFUSED);
	assert_int_equal(take_sqes(f, q, 4), 1);
	assert_int_equal(sqe_up(&q[0]), 7);
	assert_int_equal(uc(f, 7)->unreachable, 1);
	assert_int_equal(uc(f, 3)->unreachable, 0);
	assert_int_equal(f->w.counters[RELAY].upstream_unreachable_notices, 1);
}

/* A GRO burst that met an ICMP unreachable whose copy was gone: the segments after the first
 * go again (burst_rest), counted at the session's counter slot now. */
static void test_forward_rest_current_slot(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe e, q[8];
	uint32_t i, n;

	if (!f)
		skip();
	forward_moved(f);
	e = forward_sent(f, 0, 4);
	complete(f, &e, -ECONNREFUSED);
	n = take_sqes(f, q, 8);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_int_equal(sqe_up(&q[i]), 7);
}

/* The same for a gathered send (batch_resend: the rest together again, or each alone after a
 * refusal; batch_again: whole again after it took a pending error). */
static void test_forward_batch_current_slot(void **state)
{
	static const struct {
		int res, drained;
		uint32_t sqes;
	} c[] = {
		{ -ECONNREFUSED, 0, 1 },	       /* the rest in a new batch */
		{ -EMSGSIZE, 0, 3 },		       /* refused: each alone */
		{ -ECONNREFUSED, ECONNREFUSED, 1 }, /* whole again */
	};
	struct fixture *f = *state;
	struct io_uring_sqe e, q[8];
	struct batch_owner o;
	struct session *s;
	uint32_t i, k, n;

	if (!f)
		skip();
	s = forward_moved(f);
	for (k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		/* gathered before the reload, on counter slot 3 */
		s->upstream = 3;
		o = session_owner(&f->uw, RELAY, s, PLAN_SESSION_BASE + SESS);
		for (i = 0; i < 3; i++)
			send_batched(&f->uw, &o, tx_payload(&f->uw, i), LEN, i);
		batch_flush_open(&f->uw);
		assert_int_equal(take_sqes(f, &e, 1), 1);
		s->upstream = 7;
		memset(uc(f, 3), 0, sizeof(*uc(f, 3)));
		memset(uc(f, 7), 0, sizeof(*uc(f, 7)));
		drain_ret = c[k].drained;
		complete(f, &e, c[k].res);
		n = take_sqes(f, q, 8);
		assert_int_equal(n, c[k].sqes);
		for (i = 0; i < n; i++) {
			if (udata_unpack(q[i].user_data).op == OP_SEND_BATCH)
				assert_int_equal(
				    f->uw.batches[udata_unpack(q[i].user_data).idx].up, 7);
			else
				assert_int_equal(sqe_up(&q[i]), 7);
		}
		if (c[k].drained)
			assert_int_equal(uc(f, 7)->unreachable, 1);
		/* what went again completes: the buffers come back */
		for (i = 0; i < n; i++)
			complete(f, &q[i], (int)LEN);
		s->seg_max = 1400;
		f->uw.no_batch = false;
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(f->uw.bp.refs[i], 0);
}

/* Two sends of the session's socket that failed in one round, one alone and one gathered (in
 * either order), both on an ICMP unreachable left pending: the round's sends ran before any
 * completion, each failure taking the error the send before it drew, so the first failure's
 * drain removes both copies (2) and the second finds the queue empty. Both go again, and each
 * error counts one notice. Before, the second was lost (drop_upstream_unreachable; of the
 * gathered send its first datagram, the rest in a new batch). What the drain found holds for
 * that round only, and for as many failed sends as it removed copies: a third failure, or one
 * in the next round, finding the queue empty, is lost as before. */
static void test_forward_second_failure_resends(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe single, batch, q[8];
	struct batch_owner o;
	struct session *s;
	uint32_t i, k, n, op;

	if (!f)
		skip();
	s = forward_moved(f);
	for (k = 0; k < 2; k++) {
		single = forward_sent(f, 0, 1);
		o = session_owner(&f->uw, RELAY, s, PLAN_SESSION_BASE + SESS);
		for (i = 1; i < 3; i++)
			send_batched(&f->uw, &o, tx_payload(&f->uw, i), LEN, i);
		batch_flush_open(&f->uw);
		assert_int_equal(take_sqes(f, &batch, 1), 1);
		new_round(f);
		drain_ret = ECONNREFUSED;
		drain_copies = 2;
		drain_once = true;
		complete(f, k ? &batch : &single, -ECONNREFUSED);
		complete(f, k ? &single : &batch, -ECONNREFUSED);
		n = take_sqes(f, q, 8);
		assert_int_equal(n, 2);
		for (i = 0; i < n; i++) {
			op = udata_unpack(q[i].user_data).op;
			if (op == OP_SEND_BATCH)
				assert_int_equal(
				    f->uw.batches[udata_unpack(q[i].user_data).idx].again, 1);
			else
				assert_int_equal(tx_again(udata_unpack(q[i].user_data)), 1);
		}
		assert_int_equal(f->w.counters[RELAY].upstream_unreachable_notices, 2 * (k + 1));
		assert_int_equal(uc(f, 7)->unreachable, 2 * (k + 1));
		for (i = 0; i < n; i++)
			complete(f, &q[i], (int)LEN);
	}
	assert_int_equal(f->w.counters[RELAY].dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_UNREACHABLE],
			 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(f->uw.bp.refs[i], 0);

	/* a third failure in the round: two copies account for two sends, not three */
	single = forward_sent(f, 0, 1);
	q[0] = forward_sent(f, 1, 1);
	q[1] = forward_sent(f, 2, 1);
	new_round(f);
	drain_ret = ECONNREFUSED;
	complete(f, &single, -ECONNREFUSED);
	complete(f, &q[0], -ECONNREFUSED);
	complete(f, &q[1], -ECONNREFUSED);
	assert_int_equal(take_sqes(f, q, 8), 2);
	assert_int_equal(f->w.counters[RELAY].dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_UNREACHABLE],
			 1);
	/* what a round's drains found is not carried into the next */
	single = forward_sent(f, 0, 1);
	q[0] = forward_sent(f, 1, 1);
	new_round(f);
	drain_ret = ECONNREFUSED;
	complete(f, &single, -ECONNREFUSED);
	new_round(f);
	complete(f, &q[0], -ECONNREFUSED);
	assert_int_equal(take_sqes(f, q, 8), 1);
	assert_int_equal(f->w.counters[RELAY].dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_UNREACHABLE],
			 2);
}

/* A plain mirror: member i at counter slot i, on mirror socket (fixed file) i, all under
 * member list 5. */
static void mirror(struct fixture *f, uint32_t n)
{
	struct worker_relay *wr = &f->w.relays[RELAY];
	uint32_t i;

	wr->mode = RELAY_MODE_MIRROR;
	wr->members_gen = 5;
	wr->n_mirror = n;
	for (i = 0; i < n; i++) {
		set_addr(&wr->mirror_addr[i], 10 + i);
		wr->mirror_fd[i] = MIRROR_FD + (int)i;
		wr->mirror_slot[i] = PLAN_LISTENER_SLOTS + i;
		wr->mirror_uslot[i] = i;
		wr->mirror_seg_max[i] = 1400;
		f->uw.mirror_gen[i] = 1;
	}
}

/* A reload gives counter slot 1 to a new member (its socket on fixed file 2), member list 6:
 * the old member 1 and its socket are gone. */
static void mirror_reload(struct fixture *f)
{
	struct worker_relay *wr = &f->w.relays[RELAY];

	wr->members_gen = 6;
	set_addr(&wr->mirror_addr[1], 20);
	wr->mirror_fd[1] = MIRROR_FD + 2;
	wr->mirror_slot[1] = PLAN_LISTENER_SLOTS + 2;
	f->uw.mirror_gen[2] = 1;
}

/* A datagram in buffer bid copied to every member (as on_listener_recv's loop). */
static void mirror_copies(struct fixture *f, uint32_t bid)
{
	struct worker_relay *wr = &f->w.relays[RELAY];
	struct batch_owner o;
	uint32_t i;

	for (i = 0; i < wr->n_mirror; i++) {
		o = mirror_owner(&f->uw, RELAY, i);
		send_batched(&f->uw, &o, tx_payload(&f->uw, bid), LEN, bid);
	}
}

/* Member 0's copies gathered, member 1's sent alone (its path takes less than LEN); a reload
 * gives member 1's counter slot to a new member; member 0's batch is refused and goes again
 * datagram by datagram; member 1's copy then fails on an ICMP error (the new member's, in the
 * queue its counter slot now leads to). That copy is lost: it must not go to the new member,
 * whose list never had it. Before, the refused batch's resends wrote the new list into the
 * buffer's record that member 1's copy shares, which then passed for it. */
static void test_mirror_refused_batch_keeps_list(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe q[8], batch = { 0 }, single = { 0 };
	uint32_t i, n;

	if (!f)
		skip();
	mirror(f, 2);
	f->w.relays[RELAY].mirror_seg_max[1] = LEN - 1;
	mirror_copies(f, 0);
	mirror_copies(f, 1);
	batch_flush_open(&f->uw);
	n = take_sqes(f, q, 8);
	assert_int_equal(n, 3); /* member 1's two singles, member 0's batch */
	for (i = 0; i < n; i++) {
		if (udata_unpack(q[i].user_data).op == OP_SEND_BATCH)
			batch = q[i];
		else if (udata_unpack(q[i].user_data).bid == 0)
			single = q[i];
	}
	assert_int_equal(single.fd, PLAN_LISTENER_SLOTS + 1);
	mirror_reload(f);

	complete(f, &batch, -EMSGSIZE);
	n = take_sqes(f, q, 8);
	assert_int_equal(n, 2);
	drain_ret = ECONNREFUSED;
	complete(f, &single, -ECONNREFUSED);
	assert_int_equal(take_sqes(f, q, 8), 0);
	assert_int_equal(f->w.counters[RELAY].dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_UNREACHABLE],
			 1);
}

/* A plain mirror of two members, one datagram's copies to each gathered and flushed: the two
 * batch sends, batch[i] by member i's fixed slot. */
static void mirror_batches(struct fixture *f, struct io_uring_sqe batch[2])
{
	struct io_uring_sqe q[8];
	uint32_t i, n;

	mirror(f, 2);
	mirror_copies(f, 0);
	mirror_copies(f, 1);
	batch_flush_open(&f->uw);
	n = take_sqes(f, q, 8);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		batch[q[i].fd - PLAN_LISTENER_SLOTS] = q[i];
}

/* Without a reload, a refused batch's datagram sent alone that then takes a pending ICMP
 * error goes again to its member, also when every copy of its buffer was gathered (the
 * buffer's record named no member list yet). */
static void test_mirror_refused_batch_resends(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe q[8], batch[2];
	uint32_t n;

	if (!f)
		skip();
	mirror_batches(f, batch);
	complete(f, &batch[0], -EMSGSIZE);
	n = take_sqes(f, q, 8);
	assert_int_equal(n, 2);
	drain_ret = ECONNREFUSED;
	complete(f, &q[0], -ECONNREFUSED);
	n = take_sqes(f, q, 8);
	assert_int_equal(n, 1);
	assert_int_equal(q[0].fd, PLAN_LISTENER_SLOTS);
	assert_int_equal(tx_again(udata_unpack(q[0].user_data)), 1);
}

/* A plain mirror's batch of one datagram (each member's copy of it gathered alone, as at a
 * low rate) that takes a pending ICMP error goes again alone; that send takes the next one and
 * goes again once more, to the same member. Before, the send going again was checked against
 * the member list its buffer's record held from an earlier use (here none: 0), and lost. */
static void test_mirror_single_batch_again(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe q[8], batch[2];
	uint32_t i, n;

	if (!f)
		skip();
	mirror(f, 2);
	mirror_copies(f, 0);
	batch_flush_open(&f->uw);
	n = take_sqes(f, q, 8);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_int_equal(udata_unpack(q[i].user_data).op, OP_SEND_BATCH);
		batch[q[i].fd - PLAN_LISTENER_SLOTS] = q[i];
	}
	drain_ret = ECONNREFUSED;
	complete(f, &batch[0], -ECONNREFUSED);
	assert_int_equal(take_sqes(f, q, 8), 1);
	assert_int_equal(tx_again(udata_unpack(q[0].user_data)), 1);
	new_round(f);
	complete(f, &q[0], -ECONNREFUSED);
	assert_int_equal(take_sqes(f, q, 8), 1);
	assert_int_equal(q[0].fd, PLAN_LISTENER_SLOTS);
	assert_int_equal(tx_again(udata_unpack(q[0].user_data)), 2);
	assert_int_equal(uc(f, 0)->unreachable, 2);
	assert_int_equal(f->w.counters[RELAY].dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_UNREACHABLE],
			 0);
	complete(f, &q[0], (int)LEN);
	complete(f, &batch[1], (int)LEN);
	assert_int_equal(f->uw.bp.refs[0], 0);
}

/* A batch to a plain mirror member fails on an ICMP error after a reload gave its counter
 * slot to a new member: the new member's error queue is left to its own receive, which
 * counts its notice. Before, the drain emptied it, and that notice was never counted. The
 * kept member's batch still drains its own socket, and goes again whole. */
static void test_mirror_batch_drains_own_socket(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe q[8], batch[2];

	if (!f)
		skip();
	mirror_batches(f, batch);
	mirror_reload(f);
	drain_ret = ECONNREFUSED;
	complete(f, &batch[1], -ECONNREFUSED);
	assert_int_equal(n_drained, 0);
	assert_int_equal(take_sqes(f, q, 8), 0);

	complete(f, &batch[0], -ECONNREFUSED);
	assert_int_equal(n_drained, 1);
	assert_int_equal(drained[0], MIRROR_FD);
	assert_int_equal(take_sqes(f, q, 8), 1);
	assert_int_equal(q[0].fd, PLAN_LISTENER_SLOTS);
	assert_int_equal(uc(f, 0)->unreachable, 1);
}

/* A reload gives counter slot 3 to a new member (member_uc): its counters start from zero
 * under a new generation, and the slot has changed members once more. */
static void hand_over(struct fixture *f, uint32_t slot)
{
	struct worker_relay *wr = &f->w.relays[RELAY];

	memset(uc(f, slot), 0, sizeof(*uc(f, slot)));
	wr->uc_gen[slot] += 100;
	wr->uc_moves[slot]++;
}

/* Sends to counter slot 3 in flight when a reload gives the slot to a new member: what they
 * carried, sent or lost, counts for the relay but not for the new member, whose passive
 * health would take an old member's unreachable for its own failure. Alone and gathered, sent
 * and failed. A send queued after the change counts there. Before, every one counted at 3. */
static void test_slot_new_member(void **state)
{
	struct relay_dir_counters *up;
	struct fixture *f = *state;
	struct io_uring_sqe e[2], b;
	struct batch_owner o;
	struct session *s;
	uint32_t i;

	if (!f)
		skip();
	up = &f->w.counters[RELAY].dir[RELAY_DIR_TO_UPSTREAM];
	s = forward_moved(f);
	s->upstream = 3;
	e[0] = forward_sent(f, 0, 1);
	e[1] = forward_sent(f, 1, 4);
	o = session_owner(&f->uw, RELAY, s, PLAN_SESSION_BASE + SESS);
	for (i = 2; i < 4; i++)
		send_batched(&f->uw, &o, tx_payload(&f->uw, i), LEN, i);
	batch_flush_open(&f->uw);
	assert_int_equal(take_sqes(f, &b, 1), 1);
	hand_over(f, 3);

	complete(f, &e[0], -ECONNREFUSED); /* its copy gone: lost */
	complete(f, &e[1], (int)LEN);
	complete(f, &b, -EPERM);
	assert_int_equal(take_sqes(f, e, 2), 0);
	assert_int_equal(up->drops[DROP_UNREACHABLE], 1);
	assert_int_equal(up->tx_pkts, 4);
	assert_int_equal(uc(f, 3)->unreachable, 0);
	assert_int_equal(uc(f, 3)->send_errors, 0);
	assert_int_equal(uc(f, 3)->tx_pkts, 0);

	/* queued after the change: the new member's */
	e[0] = forward_sent(f, 0, 1);
	complete(f, &e[0], -ECONNREFUSED);
	assert_int_equal(uc(f, 3)->unreachable, 1);
	e[0] = forward_sent(f, 0, 1);
	complete(f, &e[0], (int)LEN);
	assert_int_equal(uc(f, 3)->tx_pkts, 1);
	for (i = 0; i < 4; i++)
		assert_int_equal(f->uw.bp.refs[i], 0);
}

/* A drain that removed more copies than sends took errors (two ICMP errors came before a send
 * took one: each overwrote the pending error) leaves a surplus in errq_seen. A send of the
 * socket that finds the queue empty takes it only if the kernel had it before the drain, from
 * the same session: else it failed for a reason of its own (a route's ENETUNREACH queues no
 * copy) and is lost, with no notice and no second send. Before, the surplus went to a send
 * made after the drain (a datagram of the same round, submitted as the SQ filled), or of a
 * new session with the same fd number and fixed file: a notice, and a second send whose
 * failure counted it lost too. */
static void test_errq_surplus_own_sends(void **state)
{
	struct fixture *f = *state;
	struct relay_dir_counters *up;
	struct io_uring_sqe a, c, q[8];
	struct session *s;

	if (!f)
		skip();
	up = &f->w.counters[RELAY].dir[RELAY_DIR_TO_UPSTREAM];
	s = forward_moved(f);
	a = forward_sent(f, 0, 1);
	new_round(f);
	drain_ret = ECONNREFUSED;
	drain_copies = 2;
	drain_once = true;
	complete(f, &a, -ECONNREFUSED); /* takes one of two copies: again */
	assert_int_equal(take_sqes(f, q, 8), 1);
	complete(f, &q[0], (int)LEN);
	c = forward_sent(f, 1, 1); /* made after the drain */
	f->uw.tx_seq++;		   /* the SQ filled: submitted in the round */
	complete(f, &c, -ENETUNREACH);
	assert_int_equal(take_sqes(f, q, 8), 0);
	assert_int_equal(f->w.counters[RELAY].upstream_unreachable_notices, 1);
	assert_int_equal(up->drops[DROP_UNREACHABLE], 1);
	assert_int_equal(uc(f, 7)->unreachable, 1); /* the notice */
	assert_int_equal(uc(f, 3)->unreachable, 1); /* c, where it was sent */

	/* made before the drain, by the session that took the slot and fd number since */
	a = forward_sent(f, 0, 1);
	c = forward_sent(f, 1, 1);
	new_round(f);
	drain_ret = ECONNREFUSED;
	complete(f, &a, -ECONNREFUSED);
	assert_int_equal(take_sqes(f, q, 8), 1);
	complete(f, &q[0], (int)LEN);
	s->gen = SESS_GEN + 1;
	f->uw.bursts[1].sess_gen = SESS_GEN + 1;
	complete(f, &c, -ECONNREFUSED);
	assert_int_equal(take_sqes(f, q, 8), 0);
	assert_int_equal(f->w.counters[RELAY].upstream_unreachable_notices, 2);
	assert_int_equal(up->drops[DROP_UNREACHABLE], 2);
	assert_int_equal(f->uw.bp.refs[0], 0);
	assert_int_equal(f->uw.bp.refs[1], 0);
}

/* A datagram that goes again and takes the next ICMP error left pending (each datagram that
 * goes out to a dead upstream draws one, which fails the socket's next send) goes again once
 * more, up to WORKER_SEND_AGAIN_MAX times, each error counted as a notice; the send after the
 * last is lost (DROP_UNREACHABLE) and its buffer comes back. Before, the second send was the
 * last: a resend that took an error was lost. Then two sends going again that fail in one
 * round, the first failure's drain reading both copies: the second, which finds the queue
 * empty, goes again too (it was in the kernel before that drain); one queued after the
 * drain (submitted as the SQ filled) takes no spare copy and is lost. The same cap for a
 * gathered send going again whole (batch_again), after which an unreachable costs its first
 * datagram and the rest go again in a new batch. */
static void test_again_until_cap(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe e, a, b, q[8];
	struct relay_counters *rc;
	struct batch_owner o;
	struct session *s;
	uint32_t k, i, notices;

	if (!f)
		skip();
	rc = &f->w.counters[RELAY];
	s = forward_moved(f);
	e = forward_sent(f, 0, 1);
	drain_ret = ECONNREFUSED; /* every drain finds a copy */
	for (k = 0; k < WORKER_SEND_AGAIN_MAX; k++) {
		new_round(f);
		complete(f, &e, -ECONNREFUSED);
		assert_int_equal(take_sqes(f, &e, 1), 1);
		assert_int_equal(tx_again(udata_unpack(e.user_data)), k + 1);
		/* the counter slot, and TX_AGAIN's high bit above it from the fourth on */
		assert_int_equal(udata_unpack(e.user_data).idx & 0xff,
				 7u | (k + 1 >= 4 ? 128u : 0u));
		assert_int_equal(rc->upstream_unreachable_notices, k + 1);
	}
	new_round(f);
	complete(f, &e, -ECONNREFUSED);
	assert_int_equal(take_sqes(f, q, 8), 0);
	assert_int_equal(rc->upstream_unreachable_notices, WORKER_SEND_AGAIN_MAX);
	assert_int_equal(rc->dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_UNREACHABLE], 1);
	/* the notices and the loss all at the session's counter slot (on_send reads the slot
	 * without TX_AGAIN's high bit) */
	assert_int_equal(uc(f, 7)->unreachable, WORKER_SEND_AGAIN_MAX + 1);
	assert_int_equal(f->uw.bp.refs[0], 0);

	/* two going again in one round, the first failure's drain reading three copies */
	a = forward_sent(f, 0, 1);
	b = forward_sent(f, 1, 1);
	for (k = 1; k <= 2; k++) {
		new_round(f);
		drain_ret = ECONNREFUSED;
		drain_copies = 3;
		drain_once = true;
		complete(f, &a, -ECONNREFUSED);
		complete(f, &b, -ECONNREFUSED);
		assert_int_equal(take_sqes(f, q, 8), 2);
		assert_int_equal(tx_again(udata_unpack(q[0].user_data)), k);
		assert_int_equal(tx_again(udata_unpack(q[1].user_data)), k);
		a = q[0];
		b = q[1];
	}
	/* One copy is left over, but a and b were queued after the drain that read it (the SQ
	 * filled and was submitted in the round): a that fails on an error of its own (a
	 * route's, no copy) takes no spare copy and is lost. */
	notices = rc->upstream_unreachable_notices;
	f->uw.tx_seq++;
	complete(f, &a, -ENETUNREACH);
	assert_int_equal(take_sqes(f, q, 8), 0);
	assert_int_equal(rc->upstream_unreachable_notices, notices);
	assert_int_equal(rc->dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_UNREACHABLE], 2);
	complete(f, &b, (int)LEN);
	assert_int_equal(f->uw.bp.refs[0], 0);
	assert_int_equal(f->uw.bp.refs[1], 0);

	/* a gathered send */
	o = session_owner(&f->uw, RELAY, s, PLAN_SESSION_BASE + SESS);
	for (i = 0; i < 3; i++)
		send_batched(&f->uw, &o, tx_payload(&f->uw, i), LEN, i);
	batch_flush_open(&f->uw);
	assert_int_equal(take_sqes(f, &e, 1), 1);
	drain_ret = ECONNREFUSED;
	drain_copies = 0;
	drain_once = false;
	notices = rc->upstream_unreachable_notices;
	for (k = 0; k < WORKER_SEND_AGAIN_MAX; k++) {
		new_round(f);
		complete(f, &e, -ECONNREFUSED);
		assert_int_equal(take_sqes(f, &e, 1), 1);
		assert_int_equal(f->uw.batches[udata_unpack(e.user_data).idx].again, k + 1);
		assert_int_equal(rc->upstream_unreachable_notices, notices + k + 1);
	}
	new_round(f);
	complete(f, &e, -ECONNREFUSED);
	assert_int_equal(rc->upstream_unreachable_notices, notices + WORKER_SEND_AGAIN_MAX);
	assert_int_equal(take_sqes(f, &e, 1), 1); /* the rest, in a new batch */
	assert_int_equal(f->uw.batches[udata_unpack(e.user_data).idx].n, 2);
	assert_int_equal(f->uw.batches[udata_unpack(e.user_data).idx].again, 0);
	assert_int_equal(rc->dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_UNREACHABLE], 3);
	complete(f, &e, (int)(2 * LEN));
	for (i = 0; i < 3; i++)
		assert_int_equal(f->uw.bp.refs[i], 0);
}

/* A send at the cap (it may go again no more) that fails with its socket's queue empty,
 * after an earlier failure of the round drained two copies (taking one), takes no spare
 * copy: a send queued before that drain, whose failure completes after it, takes it and goes
 * again. Before (the at-cap send claiming it), that send was lost. Alone (on_send) and
 * gathered (on_send_batch: the rest of it then goes in a new batch). */
static void test_cap_takes_no_spare(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe cap, d, a, q[8];
	struct relay_counters *rc;
	struct batch_owner o;
	struct session *s;
	uint32_t i, k, part, n, lost = 0;

	if (!f)
		skip();
	rc = &f->w.counters[RELAY];
	s = forward_moved(f);
	for (part = 0; part < 2; part++) {
		/* a send of buffer 0 (part 1: buffers 0 and 3 gathered) brought to the cap */
		drain_ret = ECONNREFUSED;
		drain_copies = 0;
		drain_once = false;
		if (!part) {
			cap = forward_sent(f, 0, 1);
		} else {
			o = session_owner(&f->uw, RELAY, s, PLAN_SESSION_BASE + SESS);
			send_batched(&f->uw, &o, tx_payload(&f->uw, 0), LEN, 0);
			send_batched(&f->uw, &o, tx_payload(&f->uw, 3), LEN, 3);
			batch_flush_open(&f->uw);
			assert_int_equal(take_sqes(f, &cap, 1), 1);
		}
		for (k = 0; k < WORKER_SEND_AGAIN_MAX; k++) {
			new_round(f);
			complete(f, &cap, -ECONNREFUSED);
			assert_int_equal(take_sqes(f, &cap, 1), 1);
		}
		/* two first sends queued with the last, in the round before */
		d = forward_sent(f, 1, 1);
		a = forward_sent(f, 2, 1);
		new_round(f);
		drain_copies = 2;
		drain_once = true;
		complete(f, &d, -ECONNREFUSED); /* takes one of two copies: again */
		complete(f, &cap, -ECONNREFUSED);
		complete(f, &a, -ECONNREFUSED); /* the spare: again */
		lost++;
		n = take_sqes(f, q, 8);
		assert_int_equal(n, part ? 3 : 2);
		for (i = 0; i < n; i++) {
			if (udata_unpack(q[i].user_data).op == OP_SEND_BATCH) {
				assert_int_equal(
				    f->uw.batches[udata_unpack(q[i].user_data).idx].bid[0], 3);
			} else {
				assert_int_equal(tx_again(udata_unpack(q[i].user_data)), 1);
			}
			complete(f, &q[i], (int)LEN);
		}
		assert_int_equal(rc->dir[RELAY_DIR_TO_UPSTREAM].drops[DROP_UNREACHABLE], lost);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(f->uw.bp.refs[i], 0);
}

/* A burst of more datagrams than a send's udata counts (TX_SEGS + 1: 128; a kernel whose
 * GRO or UDP_MAX_SEGMENTS took more) goes one datagram a send, each counted. Before, the
 * count spilled into TX_MOVES: one send, counted as one datagram. */
static void test_burst_over_segs(void **state)
{
	struct fixture *f = *state;
	struct io_uring_sqe *q;
	struct uring_worker *uw;
	uint32_t i, n, segs = TX_SEGS + 3, size = 8;

	if (!f)
		skip();
	uw = &f->uw;
	forward_moved(f);
	q = calloc(SQ, sizeof(*q));
	assert_non_null(q);
	burst_session(uw, 0, SESS, SESS_GEN, 0);
	send_buf(uw, PLAN_SESSION_BASE + SESS, NULL, NULL, tx_payload(uw, 0), segs * size,
		 (uint16_t)size, OP_SEND_UPSTREAM, RELAY, 0, 7);
	n = take_sqes(f, q, SQ);
	assert_int_equal(n, segs);
	for (i = 0; i < n; i++) {
		assert_int_equal(udata_unpack(q[i].user_data).gen & TX_SEGS, 0);
		assert_int_equal(udata_unpack(q[i].user_data).idx >> TX_UP_BITS, i * size);
		complete(f, &q[i], (int)size);
	}
	assert_int_equal(f->w.counters[RELAY].dir[RELAY_DIR_TO_UPSTREAM].tx_pkts, segs);
	assert_int_equal(uc(f, 7)->tx_pkts, segs);
	assert_int_equal(uw->bp.refs[0], 0);
	free(q);
}

/* Room for receives: the list of armed ones over every fixed file, and fixed files (empty)
 * for the hooks that fill and empty them. False where the kernel cannot register them. */
static bool receives(struct fixture *f)
{
	struct uring_worker *uw = &f->uw;

	uw->n_rx = PLAN_SESSION_BASE;
	uw->rx = calloc(uw->n_rx, sizeof(*uw->rx));
	assert_non_null(uw->rx);
	uw->rx_head = uw->rx_tail = RX_NONE;
	uw->minus_one = -1;
	return io_uring_register_files_sparse(&uw->ring, uw->n_rx) == 0;
}

/* A completion of mirror relay RELAY's receive on fixed file slot, of its socket's life gen:
 * a reply in buffer bid when res > 0, else the receive's error. */
static void mirror_recv(struct fixture *f, uint32_t slot, uint32_t gen, int res, uint32_t bid)
{
	struct udata u = { .op = OP_RECV_MIRROR, .relay = RELAY, .idx = slot, .gen = gen };
	struct io_uring_cqe cqe = { .user_data = udata_pack(u), .res = res,
				    .flags = IORING_CQE_F_MORE };

	if (res > 0)
		cqe.flags |= IORING_CQE_F_BUFFER | bid << IORING_CQE_BUFFER_SHIFT;
	on_mirror_recv(&f->uw, &cqe, udata_unpack(cqe.user_data));
}

#define REPLY ((int)(sizeof(struct io_uring_recvmsg_out) + LEN)) /* a reply's completion */

/* A reload replaces mirror member 0 (its socket, life 1 of fixed file 0, closed) by a new
 * member at counter slot 1, whose socket takes the same fixed file (life 3); then the stop
 * closes that socket too, while the first one's last completions still wait (in the kernel's
 * overflow list of a full CQ, which the stop's reaping gives back only after the close). They
 * count once, at member 0's counter slot: a reply and an ICMP unreachable; the second socket's
 * at counter slot 1; one of a life neither of them had, nowhere. Before, only the slot's
 * socket closed last was known: the first's went uncounted. */
static void test_mirror_gone_closed_twice(void **state)
{
	const uint32_t slot = PLAN_LISTENER_SLOTS;
	struct fixture *f = *state;
	struct relay_dir_counters *down;
	struct worker_relay *wr;
	int fd;

	if (!f)
		skip();
	if (!receives(f))
		skip();
	wr = &f->w.relays[RELAY];
	down = &f->w.counters[RELAY].dir[RELAY_DIR_TO_CLIENT];
	mirror(f, 1);
	f->uw.mirror_used[0] = true;
	hook_mirror_close(&f->w, RELAY, 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	wr->mirror_fd[0] = fd;
	wr->mirror_uslot[0] = 1;
	assert_int_equal(hook_mirror_open(&f->w, RELAY, 0), 0);
	assert_int_equal(wr->mirror_slot[0], slot); /* the case: the fixed file it freed */
	assert_int_equal(f->uw.mirror_gen[0], 3);
	hook_mirror_close(&f->w, RELAY, 0);
	close(fd);
	assert_int_equal(f->uw.broken, 0);

	mirror_recv(f, slot, 1, REPLY, 0);
	mirror_recv(f, slot, 1, -ECONNREFUSED, 0);
	mirror_recv(f, slot, 3, REPLY, 1);
	mirror_recv(f, slot, 5, REPLY, 2);
	if (uc(f, 0)->rx_pkts != 1 || uc(f, 0)->unreachable != 1 || uc(f, 1)->rx_pkts != 1 ||
	    uc(f, 1)->unreachable != 0 || down->rx_pkts != 2 || down->drops[DROP_MIRROR_REPLY] != 2)
		fail_msg("member 0: rx_pkts %llu unreachable %llu; member 1: rx_pkts %llu "
			 "unreachable %llu; reply_rx_pkts %llu mirror_reply %llu; want 1 1 1 0 2 2",
			 (unsigned long long)uc(f, 0)->rx_pkts,
			 (unsigned long long)uc(f, 0)->unreachable,
			 (unsigned long long)uc(f, 1)->rx_pkts,
			 (unsigned long long)uc(f, 1)->unreachable,
			 (unsigned long long)down->rx_pkts,
			 (unsigned long long)down->drops[DROP_MIRROR_REPLY]);
	assert_int_equal(f->w.counters[RELAY].upstream_unreachable_notices, 1);
	assert_int_equal(f->uw.bp.n_stack, 3); /* every buffer back */
}

/* Buffer bid holds a reply whose SO_RXQ_OVFL is ovfl (the receives' template takes that
 * control message); returns the length of its completion. */
static int ovfl_reply(struct fixture *f, uint32_t bid, uint32_t ovfl)
{
	struct io_uring_recvmsg_out *o = (void *)bufpool_addr(&f->uw.bp, bid);
	struct cmsghdr *cm = (void *)(o + 1);

	f->uw.session_msg.msg_controllen = CMSG_SPACE(sizeof(ovfl));
	o->controllen = CMSG_SPACE(sizeof(ovfl));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SO_RXQ_OVFL;
	cm->cmsg_len = CMSG_LEN(sizeof(ovfl));
	memcpy(CMSG_DATA(cm), &ovfl, sizeof(ovfl));
	return (int)(sizeof(*o) + CMSG_SPACE(sizeof(ovfl)) + LEN);
}

/* The replies of a closed mirror socket whose completions come after its close (the close's
 * read counted its drops up to 10: its SO_RXQ_OVFL as last seen, mirror_ovfl): one whose
 * SO_RXQ_OVFL is older (7), or as old (10), tells nothing new; a newer one (13: drops after
 * the close's read, before the cancel) only the difference, 3, once. Each reply counts as
 * mirror_reply, all at member 0: received = mirror_reply + socket_receive_overflow. */
static void test_mirror_gone_overflow_baseline(void **state)
{
	static const uint32_t told[] = { 7, 10, 13, 13, 12 };
	const uint32_t slot = PLAN_LISTENER_SLOTS;
	struct fixture *f = *state;
	struct relay_dir_counters *down;
	uint32_t k;

	if (!f)
		skip();
	if (!receives(f))
		skip();
	down = &f->w.counters[RELAY].dir[RELAY_DIR_TO_CLIENT];
	mirror(f, 1);
	f->uw.mirror_used[0] = true;
	f->w.relays[RELAY].mirror_ovfl[0] = 10;
	hook_mirror_close(&f->w, RELAY, 0);
	for (k = 0; k < sizeof(told) / sizeof(told[0]); k++)
		mirror_recv(f, slot, 1, ovfl_reply(f, k, told[k]), k);
	if (down->drops[DROP_SOCKET_OVERFLOW] != 3 || down->drops[DROP_MIRROR_REPLY] != 5 ||
	    down->rx_pkts != 8 || uc(f, 0)->rx_pkts != 8)
		fail_msg("socket_receive_overflow %llu mirror_reply %llu reply_rx_pkts %llu, "
			 "member 0's rx_pkts %llu; want 3 5 8 8",
			 (unsigned long long)down->drops[DROP_SOCKET_OVERFLOW],
			 (unsigned long long)down->drops[DROP_MIRROR_REPLY],
			 (unsigned long long)down->rx_pkts, (unsigned long long)uc(f, 0)->rx_pkts);
}

/* A receive that ends for want of a buffer (ENOBUFS) with the whole pool in the ring counts
 * as buffer_ring_empty once, whichever handler takes it: a session's live receive, one of a
 * session closed since or of an earlier session of its slot, one of a relay retired since
 * (at that relay slot), a listener's closed since, a mirror socket's closed since, known or
 * not. Before, only the live ones and the closed mirror socket's known to mirror_gone
 * counted. */
static void test_recv_ran_dry_every_end(void **state)
{
	struct io_uring_cqe cqe = { .res = -ENOBUFS };
	struct fixture *f = *state;
	struct session *s;
	struct udata u;
	uint64_t *dry;

	if (!f)
		skip();
	dry = &f->w.counters[RELAY].buffer_ring_empty;
	f->uw.bp.fill = NB; /* every buffer in the ring */
	s = forward_moved(f);
	u = (struct udata){ .op = OP_RECV_SESSION, .relay = RELAY, .idx = SESS, .gen = SESS_GEN };
	cqe.user_data = udata_pack(u);
	on_session_recv(&f->uw, &cqe, u);
	assert_int_equal(*dry, 1); /* live */
	u.gen = SESS_GEN - 1;
	on_session_recv(&f->uw, &cqe, u);
	assert_int_equal(*dry, 2); /* an earlier session of the slot */
	u.gen = SESS_GEN;
	s->state = SESSION_FREE;
	on_session_recv(&f->uw, &cqe, u);
	assert_int_equal(*dry, 3); /* its session closed since */
	u.relay = RELAY + 1;
	on_session_recv(&f->uw, &cqe, u);
	assert_int_equal(f->w.counters[RELAY + 1].buffer_ring_empty, 1); /* retired */

	f->w.listeners[0].relay = RELAY;
	f->w.listeners[0].gen = 4;
	u = (struct udata){ .op = OP_RECV_LISTENER, .idx = 0, .gen = 3 };
	on_listener_recv(&f->uw, &cqe, u);
	assert_int_equal(*dry, 4); /* a listener closed since */

	mirror(f, 1);
	f->uw.mirror_gone[1][0] = (struct mirror_gone){ .valid = true, .relay = RELAY, .gen = 1 };
	mirror_recv(f, PLAN_LISTENER_SLOTS + 1, 1, -ENOBUFS, 0);
	assert_int_equal(*dry, 5); /* a mirror socket closed since */
	mirror_recv(f, PLAN_LISTENER_SLOTS + 1, 7, -ENOBUFS, 0);
	assert_int_equal(*dry, 6); /* one closed before the slot's last ones */
	mirror_recv(f, PLAN_LISTENER_SLOTS, 1, -ENOBUFS, 0);
	assert_int_equal(*dry, 7); /* live */
	assert_int_equal(f->uw.bp.fill, NB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forward_resend_current_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_rest_current_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_batch_current_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_second_failure_resends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mirror_refused_batch_keeps_list, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mirror_refused_batch_resends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mirror_batch_drains_own_socket, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mirror_single_batch_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_new_member, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errq_surplus_own_sends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_again_until_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_takes_no_spare, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_over_segs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_gone_closed_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_gone_overflow_baseline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recv_ran_dry_every_end, setup, teardown),
	};

	return cmocka_run_group_tests_name("uring_send", tests, NULL, NULL);
}
