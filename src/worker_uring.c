// SPDX-License-Identifier: MIT
/* The io_uring backend. Each listener has one multishot recvmsg armed into the worker's
 * provided buffer ring; each session has a connected upstream socket with its own multishot
 * recvmsg. A datagram is sent on from the buffer it arrived in, and the buffer returns to
 * the ring when the last send reading it completes. One io_uring_enter per loop iteration
 * submits everything the previous batch of completions produced and waits for more.
 *
 * Fixed-file slots: [0, listeners) listeners, then mirror upstreams, then each forward
 * relay's sessions (slot = session_base[relay] + session index). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bufpool.h"
#include "log.h"
#include "worker.h"

#define BGID 0

/* What a reply's sendmsg reads until it completes; one per buffer, since a buffer carries at
 * most one reply at a time. */
struct tx_slot {
	struct msghdr msg;
	struct iovec iov;
	struct addr dest;
	uint8_t control[SOCK_TX_CONTROL_LEN];
};

struct uring_worker {
	struct worker *w;
	struct io_uring ring;
	struct bufpool bp;
	struct tx_slot *tx;
	struct msghdr listen_msg;  /* multishot template: name + control + payload */
	struct msghdr session_msg; /* multishot template: payload only (connected socket) */
	uint32_t *session_base;	   /* per relay */
	struct __kernel_timespec tick;
	uint64_t stop_val;
	int minus_one; /* the fd that empties a fixed-file slot */
	bool stopping;
};

static struct io_uring_sqe *get_sqe(struct uring_worker *uw)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&uw->ring);

	/* The SQ is full only in an unusually large batch: flush it and go on. */
	while (!sqe) {
		io_uring_submit(&uw->ring);
		sqe = io_uring_get_sqe(&uw->ring);
	}
	return sqe;
}

static uint64_t session_udata(uint32_t relay, uint32_t idx, const struct session *s)
{
	struct udata u = { .op = OP_RECV_SESSION, .relay = relay, .idx = idx, .gen = s->gen };

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

static void arm_listener(struct uring_worker *uw, uint32_t li)
{
	struct udata u = { .op = OP_RECV_LISTENER, .idx = li };

	arm_recv(uw, li, &uw->listen_msg, udata_pack(u));
}

static void arm_session(struct uring_worker *uw, uint32_t relay, struct session *s)
{
	struct session_table *t = &uw->w->relays[relay].sessions;
	uint32_t idx = session_index(t, s);

	arm_recv(uw, uw->session_base[relay] + idx, &uw->session_msg, session_udata(relay, idx, s));
}

static void arm_timer(struct uring_worker *uw)
{
	struct io_uring_sqe *sqe = get_sqe(uw);
	struct udata u = { .op = OP_TIMER };

	io_uring_prep_timeout(sqe, &uw->tick, 0, 0);
	sqe->user_data = udata_pack(u);
}

static void arm_stop(struct uring_worker *uw)
{
	struct io_uring_sqe *sqe = get_sqe(uw);
	struct udata u = { .op = OP_STOP };

	io_uring_prep_read(sqe, uw->w->stop_fd, &uw->stop_val, sizeof(uw->stop_val), 0);
	sqe->user_data = udata_pack(u);
}

/* Queues a send of len bytes at data on fixed file slot; the buffer is referenced until the
 * completion. MSG_DONTWAIT: a full socket fails the send (counted) instead of parking it
 * in the ring, so one slow peer never holds buffers hostage. */
static void send_on(struct uring_worker *uw, uint32_t slot, const void *data, size_t len,
		    enum uring_op op, uint32_t relay, uint32_t bid)
{
	struct io_uring_sqe *sqe = get_sqe(uw);
	struct udata u = { .op = op, .relay = relay, .bid = bid };

	io_uring_prep_send(sqe, (int)slot, data, len, MSG_DONTWAIT);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = udata_pack(u);
	uw->bp.refs[bid]++;
}

static void send_reply(struct uring_worker *uw, uint32_t relay, const struct session *s,
		       const void *data, size_t len, uint32_t bid)
{
	const struct listener *l = &uw->w->listeners[s->listener];
	struct tx_slot *tx = &uw->tx[bid];
	struct io_uring_sqe *sqe = get_sqe(uw);
	struct udata u = { .op = OP_SEND_CLIENT, .relay = relay, .bid = bid };

	tx->dest = s->client;
	tx->iov.iov_base = (void *)data;
	tx->iov.iov_len = len;
	memset(&tx->msg, 0, sizeof(tx->msg));
	tx->msg.msg_name = &tx->dest;
	tx->msg.msg_namelen = addr_len(&tx->dest);
	tx->msg.msg_iov = &tx->iov;
	tx->msg.msg_iovlen = 1;
	if (l->wildcard) {
		tx->msg.msg_control = tx->control;
		tx->msg.msg_controllen = sock_tx_pktinfo(tx->control, &s->local);
	}
	io_uring_prep_sendmsg(sqe, (int)s->listener, &tx->msg, MSG_DONTWAIT);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = udata_pack(u);
	uw->bp.refs[bid]++;
}

/* Starts closing a session: cancel its receive and empty its file slot (which drops the
 * ring's reference to the socket). The slot is released when the receive's last
 * completion arrives. */
static void close_session(struct uring_worker *uw, uint32_t relay, struct session *s)
{
	struct session_table *t = &uw->w->relays[relay].sessions;
	uint32_t idx = session_index(t, s);
	struct udata cu = { .op = OP_CANCEL_SESSION, .relay = relay, .idx = idx, .gen = s->gen };
	struct udata iu = { .op = OP_IGNORE };
	struct io_uring_sqe *sqe;

	sqe = get_sqe(uw);
	io_uring_prep_cancel64(sqe, session_udata(relay, idx, s), 0);
	sqe->user_data = udata_pack(cu);
	sqe = get_sqe(uw);
	io_uring_prep_files_update(sqe, &uw->minus_one, 1, (int)(uw->session_base[relay] + idx));
	sqe->user_data = udata_pack(iu);
}

/* Parses a multishot recvmsg completion's buffer. Returns the payload or NULL (counted)
 * when the datagram must not be forwarded. */
static uint8_t *rx_payload(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			   struct msghdr *tmpl, struct relay_counters *c, uint32_t *len,
			   struct io_uring_recvmsg_out **out)
{
	uint8_t *buf = bufpool_addr(&uw->bp, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	struct io_uring_recvmsg_out *o;

	o = io_uring_recvmsg_validate(buf, cqe->res, tmpl);
	if (!o)
		return NULL;
	if (o->flags & MSG_TRUNC) {
		counter_add(&c->drops[DROP_TRUNCATED], 1);
		return NULL;
	}
	*len = io_uring_recvmsg_payload_length(o, cqe->res, tmpl);
	*out = o;
	return io_uring_recvmsg_payload(o, tmpl);
}

static void on_listener_recv(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			     struct udata u)
{
	struct worker *w = uw->w;
	struct listener *l = &w->listeners[u.idx];
	struct worker_relay *wr = &w->relays[l->relay];
	struct relay_counters *c = &w->counters[l->relay];
	struct sock_rx_meta meta = { 0 };
	struct io_uring_recvmsg_out *o;
	struct cmsghdr *cm;
	struct session *s;
	struct addr client;
	uint32_t bid, len, i;
	uint8_t *payload;
	bool created;

	if (!(cqe->flags & IORING_CQE_F_MORE) && !uw->stopping) {
		counter_add(&w->wc.rearms, 1);
		arm_listener(uw, u.idx);
	}
	if (cqe->res < 0) {
		if (cqe->res == -ENOBUFS)
			counter_add(&c->drops[DROP_NO_BUFFER], 1);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	payload = rx_payload(uw, cqe, &uw->listen_msg, c, &len, &o);
	if (!payload)
		goto recycle;
	for (cm = io_uring_recvmsg_cmsg_firsthdr(o, &uw->listen_msg); cm;
	     cm = io_uring_recvmsg_cmsg_nexthdr(o, &uw->listen_msg, cm))
		sock_rx_cmsg(cm, &meta);
	worker_note_overflow(w, l, &meta);
	if (addr_from_sockaddr(&client, io_uring_recvmsg_name(o), o->namelen))
		goto recycle;
	counter_add(&c->rx_pkts, 1);
	counter_add(&c->rx_bytes, len);

	if (wr->conf->mode == RELAY_MODE_MIRROR) {
		for (i = 0; i < wr->conf->n_upstreams; i++)
			send_on(uw, w->n_listeners + wr->mirror_base + i, payload, len,
				OP_SEND_UPSTREAM, l->relay, bid);
		return;
	}
	s = worker_session_get(w, l, &client, &meta, &created);
	if (!s)
		goto recycle;
	if (created) {
		uint32_t slot = uw->session_base[l->relay] + session_index(&wr->sessions, s);
		int err = io_uring_register_files_update(&uw->ring, slot, &s->fd, 1);

		/* The ring now holds the socket; our descriptor is not needed any more. */
		close(s->fd);
		s->fd = -1;
		if (err < 0) {
			counter_add(&c->drops[DROP_SOCKET_ERROR], 1);
			session_close(&wr->sessions, s);
			session_release(&wr->sessions, s);
			counter_set(&c->sessions_active, wr->sessions.active);
			goto recycle;
		}
		arm_session(uw, l->relay, s);
	}
	send_on(uw, uw->session_base[l->relay] + session_index(&wr->sessions, s), payload, len,
		OP_SEND_UPSTREAM, l->relay, bid);
	return;
recycle:
	bufpool_recycle(&uw->bp, bid);
}

static void on_session_recv(struct uring_worker *uw, const struct io_uring_cqe *cqe,
			    struct udata u)
{
	struct worker *w = uw->w;
	struct worker_relay *wr = &w->relays[u.relay];
	struct relay_counters *c = &w->counters[u.relay];
	struct session *s = &wr->sessions.slots[u.idx];
	bool current = (s->gen & UDATA_GEN_MASK) == u.gen;
	bool more = cqe->flags & IORING_CQE_F_MORE;
	struct io_uring_recvmsg_out *o;
	uint32_t bid, len;
	uint8_t *payload;

	if (!current || s->state != SESSION_ACTIVE) {
		/* A closing session's last completion frees its slot. */
		if (current && s->state == SESSION_CLOSING && !more)
			session_release(&wr->sessions, s);
		goto recycle_any;
	}
	if (!more && !uw->stopping) {
		counter_add(&w->wc.rearms, 1);
		arm_session(uw, u.relay, s);
	}
	if (cqe->res < 0) {
		/* ICMP port unreachable from the upstream: count it, keep receiving. */
		if (cqe->res == -ECONNREFUSED)
			counter_add(&c->drops[DROP_UNREACHABLE], 1);
		else if (cqe->res == -ENOBUFS)
			counter_add(&c->drops[DROP_NO_BUFFER], 1);
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	payload = rx_payload(uw, cqe, &uw->session_msg, c, &len, &o);
	if (!payload)
		goto recycle;
	counter_add(&c->reply_rx_pkts, 1);
	counter_add(&c->reply_rx_bytes, len);
	session_touch(&wr->sessions, s, w->now);
	send_reply(uw, u.relay, s, payload, len, bid);
	return;
recycle_any:
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
recycle:
	bufpool_recycle(&uw->bp, bid);
}

static void on_send(struct uring_worker *uw, const struct io_uring_cqe *cqe, struct udata u)
{
	struct relay_counters *c = &uw->w->counters[u.relay];
	bool up = u.op == OP_SEND_UPSTREAM;

	if (cqe->res >= 0) {
		counter_add(up ? &c->tx_pkts : &c->reply_tx_pkts, 1);
		counter_add(up ? &c->tx_bytes : &c->reply_tx_bytes, (uint64_t)cqe->res);
	} else if (cqe->res == -ECONNREFUSED) {
		counter_add(&c->drops[DROP_UNREACHABLE], 1);
	} else {
		counter_add(&c->drops[DROP_SEND_ERROR], 1);
	}
	bufpool_put(&uw->bp, u.bid);
}

static void on_cancel(struct uring_worker *uw, const struct io_uring_cqe *cqe, struct udata u)
{
	struct session_table *t = &uw->w->relays[u.relay].sessions;
	struct session *s = &t->slots[u.idx];

	/* The receive had already ended: no final completion will come to free the slot. */
	if (cqe->res == -ENOENT && s->state == SESSION_CLOSING &&
	    (s->gen & UDATA_GEN_MASK) == u.gen)
		session_release(t, s);
}

static void on_timer(struct uring_worker *uw)
{
	struct worker *w = uw->w;
	struct session *s;
	uint32_t r;

	for (r = 0; r < w->n_relays; r++) {
		struct worker_relay *wr = &w->relays[r];
		struct relay_counters *c = &w->counters[r];

		if (wr->conf->mode != RELAY_MODE_FORWARD)
			continue;
		while ((s = session_expire_next(&wr->sessions, w->now))) {
			close_session(uw, r, s);
			counter_add(&c->sessions_expired, 1);
		}
		counter_set(&c->sessions_active, wr->sessions.active);
	}
	if (!uw->stopping)
		arm_timer(uw);
}

static void dispatch(struct uring_worker *uw, const struct io_uring_cqe *cqe)
{
	struct udata u = udata_unpack(cqe->user_data);

	switch (u.op) {
	case OP_RECV_LISTENER:
		on_listener_recv(uw, cqe, u);
		break;
	case OP_RECV_SESSION:
		on_session_recv(uw, cqe, u);
		break;
	case OP_SEND_UPSTREAM:
	case OP_SEND_CLIENT:
		on_send(uw, cqe, u);
		break;
	case OP_TIMER:
		on_timer(uw);
		break;
	case OP_STOP:
		uw->stopping = true;
		break;
	case OP_CANCEL_SESSION:
		on_cancel(uw, cqe, u);
		break;
	case OP_IGNORE:
		break;
	}
}

static int uring_setup(struct uring_worker *uw)
{
	struct worker *w = uw->w;
	const struct plan *p = w->plan;
	uint32_t i, slot;
	int err, fd;

	uw->minus_one = -1;
	uw->tick.tv_sec = (long long)(worker_tick_ns(w) / 1000000000ull);
	uw->tick.tv_nsec = (long long)(worker_tick_ns(w) % 1000000000ull);
	uw->listen_msg.msg_namelen = sizeof(struct sockaddr_in6);
	uw->listen_msg.msg_controllen = SOCK_RX_CONTROL_LEN;

	uw->tx = calloc(w->cfg->buffers, sizeof(*uw->tx));
	uw->session_base = calloc(w->n_relays, sizeof(*uw->session_base));
	if (!uw->tx || !uw->session_base) {
		snprintf(w->error, sizeof(w->error), "worker %u: out of memory", w->id);
		return -ENOMEM;
	}
	err = uring_init(&uw->ring, p->sq_entries, p->cq_entries, w->caps->setup_flags);
	if (err) {
		snprintf(w->error, sizeof(w->error), "worker %u: io_uring_setup: %s", w->id,
			 strerror(-err));
		return err;
	}
	/* Saves an fd lookup on every io_uring_enter; optional. */
	(void)io_uring_register_ring_fd(&uw->ring);
	err = bufpool_init(&uw->bp, &uw->ring, w->cfg->buffers, w->cfg->buffer_size, BGID);
	if (err) {
		snprintf(w->error, sizeof(w->error), "worker %u: buffer ring of %u x %u bytes: %s%s",
			 w->id, w->cfg->buffers, w->cfg->buffer_size, strerror(-err),
			 err == -ENOMEM ? " (lower buffers or buffer_size, or raise LimitMEMLOCK)"
					: "");
		return err;
	}
	err = io_uring_register_files_sparse(&uw->ring, p->files);
	if (err) {
		snprintf(w->error, sizeof(w->error),
			 "worker %u: register %u files: %s (RLIMIT_NOFILE too low?)", w->id,
			 p->files, strerror(-err));
		return err;
	}
	err = worker_open_sockets(w);
	if (err)
		return err;
	for (i = 0; i < w->n_listeners; i++) {
		fd = w->listeners[i].fd;
		err = io_uring_register_files_update(&uw->ring, i, &fd, 1);
		if (err < 0)
			goto err_register;
	}
	for (i = 0; i < w->n_mirror; i++) {
		err = io_uring_register_files_update(&uw->ring, w->n_listeners + i,
						     &w->mirror_fds[i], 1);
		if (err < 0)
			goto err_register;
	}
	slot = w->n_listeners + w->n_mirror;
	for (i = 0; i < w->n_relays; i++) {
		uw->session_base[i] = slot;
		slot += p->sessions[i];
	}
	for (i = 0; i < w->n_listeners; i++)
		arm_listener(uw, i);
	arm_timer(uw);
	arm_stop(uw);
	snprintf(w->features, sizeof(w->features),
		 "io_uring (multishot recvmsg, buffer ring %u x %u B, %s, %u fixed files, CQ %u)",
		 w->cfg->buffers, w->cfg->buffer_size, uring_flags_name(w->caps->setup_flags),
		 p->files, p->cq_entries);
	return 0;

err_register:
	snprintf(w->error, sizeof(w->error), "worker %u: register sockets: %s", w->id,
		 strerror(-err));
	return err;
}

static void uring_teardown(struct uring_worker *uw)
{
	/* Exiting the ring cancels every request and drops the registered sockets; only then
	 * may the buffers the kernel could still write go away. */
	if (uw->ring.ring_fd > 0)
		io_uring_queue_exit(&uw->ring);
	bufpool_fini(&uw->bp);
	worker_close_sockets(uw->w);
	free(uw->tx);
	free(uw->session_base);
}

int worker_uring_run(struct worker *w)
{
	struct uring_worker uw = { .w = w };
	struct io_uring_cqe *cqe;
	unsigned head, n;
	int err;

	err = uring_setup(&uw);
	if (err) {
		uring_teardown(&uw);
		worker_report(w, WORKER_FAILED);
		return err;
	}
	worker_report(w, WORKER_READY);

	while (!uw.stopping) {
		bufpool_commit(&uw.bp);
		err = io_uring_submit_and_wait(&uw.ring, 1);
		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY && err != -ETIME) {
			snprintf(w->error, sizeof(w->error), "worker %u: io_uring_enter: %s", w->id,
				 strerror(-err));
			break;
		}
		w->now = worker_clock();
		counter_add(&w->wc.loops, 1);
		n = 0;
		io_uring_for_each_cqe(&uw.ring, head, cqe)
		{
			dispatch(&uw, cqe);
			n++;
		}
		io_uring_cq_advance(&uw.ring, n);
		counter_add(&w->wc.completions, n);
		counter_set(&w->wc.heartbeat, w->now);
		err = 0;
	}
	uring_teardown(&uw);
	w->state = WORKER_DONE;
	return err;
}
