// SPDX-License-Identifier: MIT
/* The mmsg backend's grouped sends (worker_mmsg.c): the replies of every session a round read,
 * sent at its end with one sendmmsg per listener, and a transparent mirror's copies, one per
 * client socket. What needs checking is what one vector does around an entry that fails (a
 * full socket, a GSO burst the client's path refuses in the middle) and around a session that
 * ended while its reply waited; loopback gives none of these on demand. So the test includes
 * worker_mmsg.c and its sendmmsg is the test's (the Makefile's --wrap): each entry goes out
 * with the real sendmsg, and the chosen ones fail as the kernel fails them, with a partial
 * count, or -1 and the errno when the first fails. All else is real and on loopback: a
 * wildcard listener with IP_PKTINFO, session sockets with UDP_GRO connected to an upstream,
 * client sockets. No privileges needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "worker_mmsg.c"

#define RELAY 1u
#define CAP 8u /* sessions */
#define BUFSZ 69632u /* buffer_size: room for a GRO burst */
#define NOW 10000000000ull
#define MIRROR_LISTENER 1u

/* What the stand-in fails: an entry whose payload starts with mark (with gso_only, only a
 * UDP GSO send) fails with err. An EAGAIN then stays (a full socket) unless once. */
static struct {
	char mark;
	int err;
	bool gso_only;
	bool once;
	bool full;
	int calls;    /* sendmmsg calls */
	int gso_sent; /* UDP GSO sends it passed on whole */
} inj;

int __wrap_sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags);

int __wrap_sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	unsigned int i;
	int err = 0;

	inj.calls++;
	for (i = 0; i < n; i++) {
		const struct msghdr *m = &v[i].msg_hdr;
		const char *p = m->msg_iov[0].iov_base;
		bool gso = tx_gso(m) != 0;
		ssize_t r;

		if (inj.full) {
			err = EAGAIN;
		} else if (inj.mark && m->msg_iov[0].iov_len && p[0] == inj.mark &&
			   (!inj.gso_only || gso)) {
			err = inj.err;
			inj.full = err == EAGAIN && !inj.once;
			if (inj.once)
				inj.mark = 0;
		} else {
			r = sendmsg(fd, m, flags);
			if (r < 0)
				err = errno;
			else
				v[i].msg_len = (unsigned int)r;
			inj.gso_sent += r >= 0 && gso;
		}
		if (err)
			break;
	}
	if (i)
		return (int)i;
	errno = err;
	return -1;
}

struct fixture {
	struct worker w;
	struct mmsg_worker mw;
	struct config cfg;
	struct plan plan;
	struct pool pool;
	struct pool *pools[WORKER_MAX_RELAYS];
	uint16_t lport; /* the wildcard listener's */
	int client[2]; /* the sessions' clients */
	struct addr caddr[2];
	int up; /* the upstream: sends the sessions their replies */
	struct addr upaddr;
	struct session *s[2]; /* on the wildcard listener, locals 127.0.0.1 and 127.0.0.2 */
	int member[2]; /* a transparent mirror's members (mirror_batch) */
};

static struct addr v4(const char *host, uint16_t port)
{
	char text[32];
	const char *why;
	struct addr a;

	snprintf(text, sizeof(text), "%s:%u", host, port);
	assert_int_equal(addr_parse(text, &a, &why), 0);
	return a;
}

/* A UDP socket on 127.0.0.1, its address in *out. */
static int udp_bound(struct addr *out)
{
	struct addr a = v4("127.0.0.1", 0);
	socklen_t len = sizeof(*out);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, &a.sa, addr_len(&a)), 0);
	assert_int_equal(getsockname(fd, &out->sa, &len), 0);
	return fd;
}

/* Listener li of the relay on a (port 0: any); returns its port. */
static uint16_t listener_at(struct fixture *f, uint32_t li, struct addr a)
{
	socklen_t len = sizeof(a);
	int fd = sock_open_listener(&a, false, -1, false);

	assert_true(fd >= 0);
	assert_int_equal(getsockname(fd, &a.sa, &len), 0);
	f->w.listeners[li] = (struct listener){ .in_use = true, .addr = a, .relay = RELAY,
						.fd = fd, .wildcard = addr_is_any(&a) };
	return addr_port(&a);
}

/* Ends session k (its socket closed, as hook_session_close does) and opens one for client on
 * listener li in its slot, which a release hands out next: the slot a queued entry names. */
static struct session *reopen(struct fixture *f, int k, const struct addr *client, uint32_t li)
{
	struct session_table *t = &f->w.relays[RELAY].sessions;
	struct session *old = f->s[k];

	close(old->fd);
	session_release(t, old);
	f->s[k] = session_insert(t, client, li, NULL, f->w.now);
	assert_ptr_equal(f->s[k], old);
	return f->s[k];
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct worker_relay *wr;
	int k;

	*state = f;
	if (!f)
		return -1;
	f->w.uc = calloc(WORKER_MAX_RELAYS * CONFIG_MAX_UPSTREAMS, sizeof(*f->w.uc));
	f->mw.bufs = malloc((size_t)MMSG_BATCH * BUFSZ);
	f->mw.reply_bufs = malloc((size_t)MMSG_BATCH * BUFSZ);
	if (!f->w.uc || !f->mw.bufs || !f->mw.reply_bufs)
		return -1;
	f->cfg.buffer_size = BUFSZ;
	f->plan.reply_rx_control = SOCK_RX_OVFL_CONTROL_LEN + SOCK_RX_GRO_CONTROL_LEN;
	f->plan.reply_payload_max = BUFSZ - 16 - f->plan.reply_rx_control;
	f->plan.payload_max = 2000;
	f->plan.rx_control = SOCK_RX_CONTROL_LEN;
	f->w.cfg = &f->cfg;
	f->w.plan = &f->plan;
	f->w.backend_state = &f->mw;
	f->w.now = NOW;
	f->w.pools = f->pools;
	f->mw.w = &f->w;
	f->member[0] = f->member[1] = -1;
	memset(&inj, 0, sizeof(inj));

	wr = &f->w.relays[RELAY];
	wr->mode = RELAY_MODE_FORWARD;
	wr->state = RELAY_SLOT_ACTIVE;
	assert_int_equal(session_table_init(&wr->sessions, CAP, 60000000000ull), 0);
	f->lport = listener_at(f, 0, v4("0.0.0.0", 0));
	f->up = udp_bound(&f->upaddr);
	for (k = 0; k < 2; k++) {
		struct addr local = v4(k ? "127.0.0.2" : "127.0.0.1", f->lport);
		struct session *s;

		f->client[k] = udp_bound(&f->caddr[k]);
		s = session_insert(&wr->sessions, &f->caddr[k], 0, &local, f->w.now);
		assert_non_null(s);
		s->upstream_addr = f->upaddr;
		s->fd = sock_open_upstream(&f->upaddr, true, NULL, NULL);
		assert_true(s->fd >= 0);
		f->s[k] = s;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	uint32_t li;
	int k;

	if (!f)
		return 0;
	for (k = 0; k < 2; k++) {
		if (f->s[k] && f->s[k]->fd >= 0)
			close(f->s[k]->fd);
		if (f->client[k] > 0)
			close(f->client[k]);
		if (f->member[k] >= 0)
			close(f->member[k]);
	}
	if (f->up > 0)
		close(f->up);
	for (li = 0; li < WORKER_MAX_LISTENERS; li++)
		if (f->w.listeners[li].in_use)
			close(f->w.listeners[li].fd);
	session_table_fini(&f->w.relays[RELAY].sessions);
	free(f->mw.bufs);
	free(f->mw.reply_bufs);
	free(f->w.uc);
	free(f);
	return 0;
}

/* The upstream sends session k segs datagrams (1: a plain one) of len bytes, each starting
 * with mark and a sequence number from seq; several go as one UDP GSO send, which the
 * session's socket (UDP_GRO) reads as one burst. */
static void up_send(struct fixture *f, int k, char mark, int seq, size_t len, int segs)
{
	static uint8_t buf[65000];
	_Alignas(struct cmsghdr) uint8_t ctl[SOCK_TX_CONTROL_LEN];
	struct addr to;
	socklen_t tl = sizeof(to);
	struct iovec iov = { .iov_base = buf, .iov_len = len * (size_t)segs };
	struct msghdr m = { .msg_name = &to, .msg_iov = &iov, .msg_iovlen = 1 };
	int i;

	assert_int_equal(getsockname(f->s[k]->fd, &to.sa, &tl), 0);
	m.msg_namelen = tl;
	memset(buf, 0, iov.iov_len);
	for (i = 0; i < segs; i++) {
		buf[(size_t)i * len] = (uint8_t)mark;
		buf[(size_t)i * len + 1] = (uint8_t)(seq + i);
	}
	if (segs > 1) {
		m.msg_control = ctl;
		m.msg_controllen = sock_tx_control(ctl, NULL, (uint16_t)len);
	}
	assert_int_equal(sendmsg(f->up, &m, 0), (ssize_t)iov.iov_len);
}

/* What session k's socket holds, read as its readiness event would. */
static void rx_session(struct fixture *f, int k)
{
	struct session *s = f->s[k];

	session_rx(&f->mw, (struct udata){ .op = OP_RECV_SESSION, .relay = RELAY,
					   .idx = session_index(&f->w.relays[RELAY].sessions, s),
					   .gen = s->gen & UDATA_GEN_MASK });
}

/* The datagrams client k got; each from the address it sent to (the session's local and the
 * listener's port), in sequence. */
static int client_got(struct fixture *f, int k, const struct addr *local)
{
	uint8_t buf[2048];
	struct addr from;
	socklen_t fl = sizeof(from);
	int n = 0, last = -1;

	while (recvfrom(f->client[k], buf, sizeof(buf), MSG_DONTWAIT, &from.sa, &fl) > 0) {
		assert_true(addr_equal(&from, local));
		if (last >= 0)
			assert_int_equal(buf[1], (uint8_t)(last + 1));
		last = buf[1];
		n++;
		fl = sizeof(from);
	}
	return n;
}

static const struct relay_dir_counters *dir_counters(const struct fixture *f, enum relay_dir d)
{
	return &f->w.counters[RELAY].dir[d];
}

static uint64_t drops(const struct fixture *f, enum relay_dir d)
{
	uint64_t n = 0;
	int k;

	for (k = 0; k < DROP__MAX; k++)
		n += dir_counters(f, d)->drops[k];
	return n;
}

/* Two sessions on one wildcard listener, with locals 127.0.0.1 and 127.0.0.2, their replies
 * read interleaved: one sendmmsg for all, each reply from its own session's local address
 * (a pktinfo per entry, which the grouping must not mix up), in order. */
static void test_pktinfo_order(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 5; i++) {
		up_send(f, 0, 'a', i, 100, 1);
		up_send(f, 1, 'b', i, 100, 1);
	}
	rx_session(f, 0);
	rx_session(f, 1);
	assert_int_equal(f->mw.reply.n, 10);
	flush_replies(&f->mw);
	assert_int_equal(inj.calls, 1);
	assert_int_equal(client_got(f, 0, &f->s[0]->local), 5);
	assert_int_equal(client_got(f, 1, &f->s[1]->local), 5);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->rx_pkts, 10);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->tx_pkts, 10);
}

/* The listener's socket full at session 1's second reply: the rest of the listener's flush is
 * dropped untried, each datagram counted once (received = sent + dropped). */
static void test_eagain_rest(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 3; i++)
		up_send(f, 0, 'a', i, 100, 1);
	for (i = 0; i < 3; i++)
		up_send(f, 1, i == 1 ? 'E' : 'b', i, 100, 1);
	rx_session(f, 0);
	rx_session(f, 1);
	inj.mark = 'E';
	inj.err = EAGAIN;
	flush_replies(&f->mw);
	assert_int_equal(client_got(f, 0, &f->s[0]->local), 3);
	assert_int_equal(client_got(f, 1, &f->s[1]->local), 1);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->rx_pkts, 6);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->tx_pkts, 4);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->drops[DROP_SEND_ERROR], 2);
	/* ... by the errno that lost them */
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->send_errs[SEND_ERR_EAGAIN], 2);
	assert_int_equal(drops(f, RELAY_DIR_TO_CLIENT), 2);
}

/* Bursts of sessions 1, 0, 0, 1 in one vector; session 0's path refuses GSO (EINVAL). Its
 * first burst goes again in pieces and its limit is learnt, so its second is cut before it is
 * tried; session 1's go whole and it learns nothing. Nothing is lost. */
static void test_gso_refused_mid_vector(void **state)
{
	struct fixture *f = *state;

	up_send(f, 1, 'b', 0, 200, 4);
	up_send(f, 0, 'G', 0, 200, 4);
	up_send(f, 0, 'G', 4, 200, 4);
	rx_session(f, 1);
	rx_session(f, 0);
	up_send(f, 1, 'b', 4, 200, 4);
	rx_session(f, 1);
	assert_int_equal(f->mw.reply.n, 4);
	assert_int_equal(f->mw.reply.ent[1].segs, 4); /* read as bursts */
	inj.mark = 'G';
	inj.err = EINVAL;
	inj.gso_only = true;
	flush_replies(&f->mw);
	assert_int_equal(f->s[0]->reply_seg_refused, 200);
	assert_int_equal(f->s[1]->reply_seg_refused, 0);
	assert_int_equal(inj.gso_sent, 2); /* session 1's */
	assert_int_equal(client_got(f, 0, &f->s[0]->local), 8);
	assert_int_equal(client_got(f, 1, &f->s[1]->local), 8);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->tx_pkts, 16);
	assert_int_equal(drops(f, RELAY_DIR_TO_CLIENT), 0);
}

/* More replies in a round than the 64 reply buffers: flushed when they fill, not overwritten,
 * and still in order. */
static void test_fill_early(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 100; i++)
		up_send(f, 0, 'a', i, 100, 1);
	for (i = 0; i < 40; i++)
		up_send(f, 1, 'b', i, 100, 1);
	rx_session(f, 0);
	rx_session(f, 1);
	flush_replies(&f->mw);
	assert_int_equal(client_got(f, 0, &f->s[0]->local), 100);
	assert_int_equal(client_got(f, 1, &f->s[1]->local), 40);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->tx_pkts, 140);
	assert_int_equal(f->mw.reply_used, 0);
}

/* Session 0's reply burst was queued, then the session ended and its slot went to another
 * client before the flush (what eviction would do if it took a session used this round). The
 * burst still goes to the client it answers, and the path's refusal is not taken for the new
 * session's. */
static void test_reply_session_ended_refused(void **state)
{
	struct fixture *f = *state;
	struct addr local = f->s[0]->local, other = v4("127.0.0.3", 9);

	up_send(f, 0, 'G', 0, 200, 4);
	rx_session(f, 0);
	reopen(f, 0, &other, 0);
	inj.mark = 'G';
	inj.err = EINVAL;
	inj.gso_only = true;
	flush_replies(&f->mw);
	assert_int_equal(f->s[0]->reply_seg_refused, 0);
	assert_int_equal(client_got(f, 0, &local), 4);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->tx_pkts, 4);
}

/* The same, the new session's path known to refuse shorter segments: the old session's burst
 * goes whole, as a burst of no known session does, not by another client's limit. */
static void test_reply_session_ended_whole(void **state)
{
	struct fixture *f = *state;
	struct addr local = f->s[0]->local, other = v4("127.0.0.3", 9);

	up_send(f, 0, 'a', 0, 200, 4);
	rx_session(f, 0);
	reopen(f, 0, &other, 0)->reply_seg_refused = 100;
	flush_replies(&f->mw);
	assert_int_equal(inj.gso_sent, 1);
	assert_int_equal(f->s[0]->reply_seg_refused, 100);
	assert_int_equal(client_got(f, 0, &local), 4);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_CLIENT)->tx_pkts, 4);
}

/* Makes the relay a transparent mirror of two members, its sessions the two clients' on a
 * second listener (unconnected sockets, as such sessions have), and has each client send it
 * three datagrams, interleaved; client 1's second starts with 'E'. Returns the listener's
 * event. */
static struct udata mirror_batch(struct fixture *f)
{
	struct worker_relay *wr = &f->w.relays[RELAY];
	struct addr la = v4("127.0.0.1", 0);
	uint8_t buf[100] = { 0 };
	int k, i;

	wr->mode = RELAY_MODE_MIRROR;
	wr->transparent = true;
	addr_set_port(&la, listener_at(f, MIRROR_LISTENER, la));
	f->pools[RELAY] = &f->pool;
	f->pool.n = 2;
	f->pool.copy_mask = 3;
	for (k = 0; k < 2; k++) {
		f->member[k] = udp_bound(&f->pool.m[k].addr);
		f->pool.m[k].slot = (uint32_t)k;
		reopen(f, k, &f->caddr[k], MIRROR_LISTENER)->upstream = SESSION_NONE;
		f->s[k]->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		assert_true(f->s[k]->fd >= 0);
	}
	for (i = 0; i < 3; i++)
		for (k = 0; k < 2; k++) {
			buf[0] = (uint8_t)(k == 1 && i == 1 ? 'E' : 'a');
			buf[1] = (uint8_t)i;
			assert_int_equal(sendto(f->client[k], buf, sizeof(buf), 0, &la.sa,
						addr_len(&la)),
					 sizeof(buf));
		}
	inj.mark = 'E';
	inj.err = EAGAIN;
	return (struct udata){ .op = OP_RECV_LISTENER, .idx = MIRROR_LISTENER };
}

static int member_got(const struct fixture *f, int k)
{
	uint8_t buf[2048];
	int n = 0;

	while (recv(f->member[k], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

/* A full client socket at client 1's second datagram's first copy: the rest of that client's
 * copies, to both members, are dropped, each counted to its member; client 0's all go, with
 * one sendmmsg per client socket (and client 1's again from the entry that failed: a partial
 * count says nothing of why). */
static void test_transparent_mirror_full(void **state)
{
	struct fixture *f = *state;
	const struct upstream_counters *uc = &f->w.uc[RELAY * CONFIG_MAX_UPSTREAMS];
	struct udata u = mirror_batch(f);

	on_listener(&f->mw, u);
	assert_int_equal(inj.calls, 3);
	assert_int_equal(member_got(f, 0), 4);
	assert_int_equal(member_got(f, 1), 4);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_UPSTREAM)->rx_pkts, 6);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_UPSTREAM)->extra_copies, 6);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_UPSTREAM)->tx_pkts, 8);
	assert_int_equal(drops(f, RELAY_DIR_TO_UPSTREAM), 4);
	assert_int_equal(uc[0].tx_pkts, 4);
	assert_int_equal(uc[1].tx_pkts, 4);
	assert_int_equal(uc[0].send_errors, 2);
	assert_int_equal(uc[1].send_errors, 2);
}

/* The same with an EAGAIN that passes at once: the retry from the entry that failed sends it
 * and the rest, so nothing is lost (sending each copy alone would have lost that one). */
static void test_transparent_mirror_transient(void **state)
{
	struct fixture *f = *state;
	struct udata u = mirror_batch(f);

	inj.once = true;
	on_listener(&f->mw, u);
	assert_int_equal(inj.calls, 3);
	assert_int_equal(member_got(f, 0), 6);
	assert_int_equal(member_got(f, 1), 6);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_UPSTREAM)->tx_pkts, 12);
	assert_int_equal(drops(f, RELAY_DIR_TO_UPSTREAM), 0);
}

/* A listener's batch queued a datagram of session 0 (counter slot 3) and one of session 1
 * (slot 4), then a new session in the same batch gave slot 3 to its member (member_uc: its
 * counters from zero, a new generation): session 0's datagram goes, and counts for the relay,
 * but not for the new member. Before, it counted at 3, as queued. */
static void test_slot_new_member(void **state)
{
	struct fixture *f = *state;
	struct worker_relay *wr = &f->w.relays[RELAY];
	const struct upstream_counters *uc = &f->w.uc[RELAY * CONFIG_MAX_UPSTREAMS];
	uint8_t buf[100] = { 'a' };
	int k;

	for (k = 0; k < 2; k++) {
		f->s[k]->upstream = 3 + (uint32_t)k;
		f->s[k]->upstream_gen = 20 + (uint32_t)k;
		wr->uc_gen[3 + k] = 20 + (uint32_t)k;
		/* as on_listener queues it */
		tx_add(&f->mw.tx, f->s[k], buf, sizeof(buf), NULL, NULL, 0,
		       worker_session_up(&f->w, RELAY, f->s[k]), NULL);
	}
	memset(&f->w.uc[RELAY * CONFIG_MAX_UPSTREAMS + 3], 0, sizeof(*uc));
	wr->uc_gen[3] = 30;
	flush_sessions(&f->mw, RELAY);
	assert_int_equal(dir_counters(f, RELAY_DIR_TO_UPSTREAM)->tx_pkts, 2);
	assert_int_equal(uc[3].tx_pkts, 0);
	assert_int_equal(uc[4].tx_pkts, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pktinfo_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eagain_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gso_refused_mid_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fill_early, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_session_ended_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_session_ended_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transparent_mirror_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transparent_mirror_transient, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_new_member, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
