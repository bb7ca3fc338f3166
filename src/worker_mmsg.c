// SPDX-License-Identifier: MIT
/* The fallback backend for kernels or sandboxes without a usable io_uring: epoll over the
 * same sockets, recvmmsg to take a batch, sendmmsg to pass it on from the same buffers, a
 * session's datagrams (a mirror member's copies) of one size gathered into UDP GSO sends.
 * Sends are grouped by the socket they leave on, as the io_uring backend submits a round's
 * sends at once: a listener's batch with a sendmmsg per session (per transparent mirror
 * client), the replies of all sessions an epoll_wait round found readable with one per
 * listener. Semantics match the io_uring backend: same sessions, balancing, drops and
 * counters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "worker_backend.h"
#include "worker_mmsg.h"

#define MMSG_BATCH 64
/* ICMP errors taken from a session's error queue at one time. */
#define MMSG_ERRQUEUE_MAX 256
/* Batches taken from one socket before the others get a turn. */
#define MMSG_ROUNDS 4
/* A gathered send (gather): at most UDP_MAX_SEGMENTS of older kernels, below 64 KB. */
#define GATHER_SEGS 64
#define GATHER_BYTES 65000

/* What a send carries besides its header: its datagrams (more than one: UDP GSO), the
 * upstream counter slot they count to (SESSION_NONE: none), and for a reply the session whose
 * client it answers (NULL: not a reply), whose refusals decide how its bursts go, with that
 * session's gen when it was queued: replies wait for the round's end, and the slot is looked
 * at again only if the same session still holds it (tx_client). */
struct tx_ent {
	uint32_t segs;
	uint32_t up;
	uint32_t gen;
	struct session *client;
};

/* Sends made for one or more sockets (key: the session or listener each goes out on), sent
 * grouped by socket (tx_group) so that each socket takes its share in one sendmmsg. */
struct tx_queue {
	int n;
	struct mmsghdr m[MMSG_BATCH];
	struct iovec iov[MMSG_BATCH];
	struct addr name[MMSG_BATCH];
	_Alignas(struct cmsghdr) uint8_t control[MMSG_BATCH][SOCK_TX_CONTROL_LEN];
	struct tx_ent ent[MMSG_BATCH];
	void *key[MMSG_BATCH];
};

struct mmsg_worker {
	struct worker *w;
	int epfd;
	int timerfd;
	uint64_t tick; /* the timer's interval, ns (0: not set yet) */
	bool stopping;
	uint8_t *bufs; /* MMSG_BATCH x buffer_size: a listener's or a mirror socket's batch */
	struct mmsghdr rx[MMSG_BATCH];
	struct iovec rx_iov[MMSG_BATCH];
	struct sockaddr_in6 rx_name[MMSG_BATCH];
	_Alignas(struct cmsghdr) uint8_t
	    rx_control[MMSG_BATCH][SOCK_RX_CONTROL_LEN + SOCK_RX_GRO_CONTROL_LEN];
	/* A listener's batch, to its sessions' sockets (a mirror's copies, to its members). */
	struct tx_queue tx;
	/* Replies of the session sockets an epoll_wait round found readable, to their clients
	 * through the listeners, sent at the round's end (flush_replies): a sendmmsg per
	 * listener, not one per session. Their datagrams wait in reply_bufs, of which the
	 * first reply_used (the replies', and those a receive took and dropped) are taken. */
	struct tx_queue reply;
	uint8_t *reply_bufs; /* MMSG_BATCH x buffer_size */
	int reply_used;
	/* a tx_queue's entries in socket order (tx_group) */
	struct mmsghdr sorted[MMSG_BATCH];
	struct tx_ent ent_sorted[MMSG_BATCH];
	/* tx entries to one socket gathered into UDP GSO sends (gather) */
	struct mmsghdr gtx[MMSG_BATCH];
	struct iovec gtx_iov[MMSG_BATCH];
	_Alignas(struct cmsghdr) uint8_t gtx_control[MMSG_BATCH][SOCK_TX_CONTROL_LEN];
	struct tx_ent gtx_ent[MMSG_BATCH];
	/* the datagrams of a UDP GSO send, each alone (send_cut) */
	struct mmsghdr cut[MMSG_BATCH];
	struct iovec cut_iov[MMSG_BATCH];
	struct tx_ent cut_ent[MMSG_BATCH];
	/* A connected socket's GSO send was refused with no MTU to explain it (EIO, EINVAL): no
	 * gathered send nor whole burst to a connected socket (a session's upstream, a mirror
	 * member) from now on. Replies to clients and a transparent mirror's copies still go
	 * as GSO sends: cut per session after a refusal (reply_seg_refused), or when refused. */
	bool no_gso;
};

static int watch(struct mmsg_worker *mw, int fd, struct udata u)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = udata_pack(u) };

	return epoll_ctl(mw->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* Receives up to max (at most MMSG_BATCH) datagrams from fd into consecutive buffers from
 * bufs on; with_meta also asks for the sender and control data. Returns the count, 0 when
 * nothing is queued, or -errno. */
static int take_batch(struct mmsg_worker *mw, int fd, bool with_meta, uint8_t *bufs, int max)
{
	const struct plan *p = mw->w->plan;
	uint32_t size = mw->w->cfg->buffer_size;
	int i, n;

	for (i = 0; i < max; i++) {
		struct msghdr *m = &mw->rx[i].msg_hdr;

		/* The same payload room as the io_uring backend's buffers leave, so both drop
		 * the same datagrams as too long. */
		mw->rx_iov[i].iov_base = bufs + (size_t)i * size;
		mw->rx_iov[i].iov_len = with_meta ? p->payload_max : p->reply_payload_max;
		memset(m, 0, sizeof(*m));
		m->msg_iov = &mw->rx_iov[i];
		m->msg_iovlen = 1;
		if (with_meta) {
			m->msg_name = &mw->rx_name[i];
			m->msg_namelen = sizeof(mw->rx_name[i]);
		}
		m->msg_controllen = with_meta ? p->rx_control : p->reply_rx_control;
		if (m->msg_controllen)
			m->msg_control = mw->rx_control[i];
	}
	/* MSG_TRUNC: msg_len reports the real size, so oversize datagrams are seen as such. */
	n = recvmmsg(fd, mw->rx, (unsigned)max, MSG_DONTWAIT | MSG_TRUNC, NULL);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n;
}

/* Reads rx[i]'s control data into meta; returns the datagrams it carries (a GRO burst
 * carries several). */
static uint32_t rx_meta(struct mmsg_worker *mw, int i, struct sock_rx_meta *meta)
{
	struct msghdr *m = &mw->rx[i].msg_hdr;
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm))
		sock_rx_cmsg(cm, meta);
	return sock_segments(mw->rx[i].msg_len, meta->gso_size);
}

/* Counts segs datagrams (bytes in all) sent way d of relay slot relay, to upstream counter
 * slot up (or SESSION_NONE). */
static void count_sent(struct mmsg_worker *mw, uint32_t relay, enum relay_dir d, uint32_t up,
		       uint32_t segs, uint64_t bytes)
{
	struct relay_dir_counters *dc = &mw->w->counters[relay].dir[d];

	counter_add(&dc->tx_pkts, segs);
	counter_add(&dc->tx_bytes, bytes);
	upstream_count_sent(mw->w, relay, up, segs, bytes);
}

/* Counts segs datagrams a send lost with errno err. */
static void count_lost(struct mmsg_worker *mw, uint32_t relay, enum relay_dir d, uint32_t up,
		       int err, uint32_t segs)
{
	bool unreachable = sock_err_unreachable(err);

	if (unreachable)
		relay_count_drop(&mw->w->counters[relay], d, DROP_UNREACHABLE, segs);
	else
		relay_count_send_error(&mw->w->counters[relay], d, err, segs);
	upstream_count_lost(mw->w, relay, up, unreachable, segs);
}

static size_t tx_len(const struct tx_queue *q, int i)
{
	return q->m[i].msg_hdr.msg_iov[0].iov_len;
}

/* The segment size of UDP GSO send m (0: not one). */
static uint16_t tx_gso(const struct msghdr *m)
{
	struct msghdr copy = *m;

	return sock_tx_take_gso(&copy);
}

/* Where a flush sends to a connected socket (a session's to its upstream, a mirror
 * member's), which gathers datagrams into GSO sends and whose ICMP errors its error queue
 * tells (IP_RECVERR). The other sockets, a listener back to sessions' clients and a
 * transparent mirror's session to each member, have none (NULL). */
struct tx_path {
	uint32_t *seg_max;	 /* the longest datagram its path takes as a segment */
	const struct addr *peer; /* its peer (its family, to ask the path MTU) */
	struct session *session; /* the session whose socket it is (NULL: a mirror's) */
};

static bool path_connected(const struct tx_path *path)
{
	return path && path->peer;
}

/* Empties connected path's error queue after a send on fd failed with err (0: sendmmsg did
 * not say why): the errno of its newest entry, 0 when it was empty; *too_big (when not NULL)
 * whether an entry was EMSGSIZE. An EMSGSIZE there or in err, an ICMP "packet too big" the
 * send took from the session socket's receive (or a send refused as too long), has the
 * session's fast-path rule learn the path MTU. */
static int path_drain(struct mmsg_worker *mw, int fd, const struct tx_path *path, int err,
		      bool *too_big_out)
{
	bool too_big;
	int last = worker_drain_errors(mw->w, path->session, fd, MMSG_ERRQUEUE_MAX, -err,
				       &too_big, NULL);

	if (too_big_out)
		*too_big_out = too_big;
	return last;
}

/* The session reply e answers, if it still holds its slot: NULL for no reply, or when that
 * session ended after the reply was queued (nothing ends one within a round today, see
 * flush_replies, but that rests on worker.c's eviction rules). The reply still goes: its
 * client's address and source are copies, and it was relayed for that client. What its path
 * refuses is learnt by no one, though: the slot's new session answers another client, whose
 * path this says nothing of. */
static struct session *tx_client(const struct tx_ent *e)
{
	struct session *s = e->client;

	return s && s->gen == e->gen && s->state == SESSION_ACTIVE ? s : NULL;
}

/* The kernel refused UDP GSO send e of size-byte segments to path with err. To a connected
 * socket: gather nothing longer, nor send a burst of longer segments whole, than the path MTU
 * asked again, or than size (EMSGSIZE); no GSO send to any connected socket of this worker
 * when no MTU explains it (EIO, EINVAL: the kernel or device cannot segment). A reply: its
 * session's replies of segments that long go in pieces from now on. A transparent mirror's
 * copy: nothing learnt. */
static void path_refused(struct mmsg_worker *mw, int fd, const struct tx_path *path,
			 const struct tx_ent *e, uint16_t size, int err)
{
	struct session *client;
	int max;

	if (e->client) {
		client = tx_client(e);
		if (client)
			worker_reply_refused(client, size);
		return;
	}
	if (!path)
		return;
	max = sock_seg_max_refused(fd, path->peer, size, err);
	if (max >= 0) {
		*path->seg_max = (uint32_t)max;
	} else if (!mw->no_gso) {
		mw->no_gso = true;
		log_warn("worker %u: UDP GSO send refused (%s): sending datagrams singly",
			 mw->w->id, strerror(err));
	}
}

/* Whether burst e (a coalesced receive, sent on as it came) of gso-byte segments goes whole
 * on path: what the path refused before (path_refused) is cut before it is sent, as the
 * io_uring backend does, instead of being refused again each time. A transparent mirror's
 * copies (no path, no client: sent to each member from the client's socket, whose path MTU
 * cannot be asked) are cut only when refused, as with io_uring; so is a reply whose session
 * has ended (tx_client). */
static bool burst_whole(const struct mmsg_worker *mw, const struct tx_path *path,
			const struct tx_ent *e, uint16_t gso)
{
	const struct session *client;

	if (e->client) {
		client = tx_client(e);
		return !client || worker_reply_whole(client, gso);
	}
	if (!path)
		return true;
	return !mw->no_gso && gso <= *path->seg_max;
}

/* Whether q's entry i may join a gathered send to a path that takes seg_max-byte segments:
 * one datagram, not empty, no longer than that, to the connected socket's peer from its
 * address. */
static bool gatherable(const struct tx_queue *q, int i, uint32_t seg_max)
{
	const struct msghdr *m = &q->m[i].msg_hdr;

	return q->ent[i].segs == 1 && !m->msg_name && !m->msg_controllen && tx_len(q, i) &&
	       tx_len(q, i) <= seg_max;
}

/* Gathers q's entries [first, first + n), sends to one socket, into gtx, in order, as the
 * io_uring backend gathers a session's datagrams: consecutive datagrams of one size (the last
 * of a run may be shorter) become one sendmsg with an iovec each and UDP_SEGMENT, so the
 * kernel walks the UDP/IP send path once for them; anything else is taken as it is. Returns
 * the entries in gtx. */
static int gather(struct mmsg_worker *mw, const struct tx_queue *q, int first, int n,
		  uint32_t seg_max)
{
	int i = first, g = 0, k = 0;

	while (i < first + n) {
		struct msghdr *m = &mw->gtx[g].msg_hdr;
		size_t size, len, bytes = 0;
		uint32_t cnt = 0;

		if (!gatherable(q, i, seg_max)) {
			mw->gtx[g] = q->m[i];
			mw->gtx_ent[g++] = q->ent[i++];
			continue;
		}
		size = tx_len(q, i);
		memset(m, 0, sizeof(*m));
		m->msg_iov = &mw->gtx_iov[k];
		mw->gtx_ent[g] = q->ent[i]; /* (the counter slot: one socket, one upstream) */
		/* A shorter datagram ends the run, which it may still join as the last. */
		do {
			len = tx_len(q, i);
			mw->gtx_iov[k++] = q->m[i++].msg_hdr.msg_iov[0];
			bytes += len;
			cnt++;
		} while (len == size && cnt < GATHER_SEGS && i < first + n &&
			 gatherable(q, i, seg_max) && tx_len(q, i) <= size &&
			 bytes + tx_len(q, i) <= GATHER_BYTES);
		m->msg_iovlen = cnt;
		if (cnt > 1) {
			m->msg_control = mw->gtx_control[g];
			m->msg_controllen =
				sock_tx_control(mw->gtx_control[g], NULL, (uint16_t)size);
		}
		mw->gtx_ent[g++].segs = cnt;
	}
	return g;
}

static void send_all(struct mmsg_worker *mw, int fd, struct mmsghdr *tx,
		     const struct tx_ent *ent, int n, uint32_t relay, enum relay_dir d,
		     const struct tx_path *path);

/* Sends the datagrams of UDP GSO send src (entry e) after the first skip each alone (the
 * kernel fragments one longer than the MTU, as it would any datagram), up to MMSG_BATCH in one
 * sendmmsg, each counted as sent or dropped. src is a coalesced receive (one iovec, cut at
 * the GSO size) or a gathered send (an iovec per datagram). For a burst whose segments its
 * path refuses (longer than its MTU, a device or tunnel that cannot segment), refused now or
 * before (burst_whole); or for the rest of a send that an ICMP error an earlier datagram drew
 * failed. */
static void send_cut(struct mmsg_worker *mw, int fd, const struct msghdr *src,
		     const struct tx_ent *e, size_t skip, uint32_t relay, enum relay_dir d,
		     const struct tx_path *path)
{
	struct msghdr m = *src;
	uint16_t gso = sock_tx_take_gso(&m);
	size_t off, len, v, k = 0;
	int n = 0;

	for (v = 0; gso && v < src->msg_iovlen; v++) {
		const struct iovec *whole = &src->msg_iov[v];

		for (off = 0; off < whole->iov_len; off += len) {
			len = whole->iov_len - off < gso ? whole->iov_len - off : gso;
			if (k++ < skip)
				continue;
			mw->cut_iov[n] = (struct iovec){ .iov_base = (uint8_t *)whole->iov_base + off,
							 .iov_len = len };
			mw->cut[n].msg_hdr = m;
			mw->cut[n].msg_hdr.msg_iov = &mw->cut_iov[n];
			mw->cut[n].msg_hdr.msg_iovlen = 1;
			mw->cut_ent[n] = (struct tx_ent){ .segs = 1, .up = e->up, .gen = e->gen,
							  .client = e->client };
			if (++n == MMSG_BATCH) {
				send_all(mw, fd, mw->cut, mw->cut_ent, n, relay, d, path);
				n = 0;
			}
		}
	}
	send_all(mw, fd, mw->cut, mw->cut_ent, n, relay, d, path);
}

static bool send_failed(struct mmsg_worker *mw, int fd, const struct msghdr *m,
			const struct tx_ent *e, int err, bool pending, bool too_big, uint32_t relay,
			enum relay_dir d, const struct tx_path *path, uint32_t again);

/* Entry m (e: one datagram, or a UDP GSO send) to connected path failed with err on an
 * ICMP error an earlier datagram drew, left pending on the socket (its copy was in the error
 * queue): that send took the error, and sending it again whole normally succeeds; again says
 * how many times it goes again with this send (1 to WORKER_SEND_AGAIN_MAX). It is counted by
 * how that goes: sent; failed on another such error (its copy in the queue), again while the
 * cap allows, as the io_uring backend does; or failed as a send that never took such an error
 * (one datagram: lost for what failed it, another error that came meanwhile or an EMSGSIZE
 * that was the kernel's own refusal; a GSO send: in pieces when refused, less its first on an
 * unreachable, as send_failed treats one). An unreachable is counted as the notice the
 * socket's receive counts when it meets the error first. It goes at once, so it keeps its
 * place among the socket's sends. */
static void send_again(struct mmsg_worker *mw, int fd, const struct msghdr *m,
		       const struct tx_ent *e, int err, uint32_t relay, enum relay_dir d,
		       const struct tx_path *path, uint32_t again)
{
	bool pending, too_big = false;
	ssize_t r;

	if (sock_err_unreachable(err))
		worker_count_notice(mw->w, relay, e->up);
	r = sendmsg(fd, m, MSG_DONTWAIT);
	if (r >= 0) {
		count_sent(mw, relay, d, e->up, e->segs, (uint64_t)r);
		return;
	}
	err = errno;
	pending = sock_err_queued(err) && path_drain(mw, fd, path, err, &too_big) != 0;
	if (!send_failed(mw, fd, m, e, err, pending && again < WORKER_SEND_AGAIN_MAX, too_big,
			 relay, d, path, again))
		count_lost(mw, relay, d, e->up, err, e->segs);
}

/* Whether GSO send m to connected path on fd, failed with err after which the error queue
 * held an entry (the caller found one, so err stands for it; too_big: an EMSGSIZE among
 * them), took an ICMP error an earlier datagram left pending (sock_gso_pending): the path
 * MTU is asked again for an EMSGSIZE only. */
static bool gso_took_pending(int fd, const struct tx_path *path, const struct msghdr *m, int err,
			     bool too_big)
{
	uint16_t size = tx_gso(m);
	int mtu = err == EMSGSIZE ? sock_path_payload_max(fd, path->peer) : -1;

	return size && sock_gso_pending(err, err, too_big, size, mtu);
}

/* Entry m of a send (e: its datagrams, their counter slot, a reply's session) was not sent,
 * for err (pending: an ICMP error an earlier datagram drew, left pending on the socket, whose
 * copy path_drain found; too_big: an EMSGSIZE among the copies): counts it as lost, or sends
 * it again (in pieces, or once more whole), as the io_uring backend treats a failed send.
 * again: how many times m went again whole before (send_again). Returns false for a full
 * socket (EAGAIN), which loses m and what follows it (the caller counts them). */
static bool send_failed(struct mmsg_worker *mw, int fd, const struct msghdr *m,
			const struct tx_ent *e, int err, bool pending, bool too_big, uint32_t relay,
			enum relay_dir d, const struct tx_path *path, uint32_t again)
{
	if (e->segs > 1 && pending && path_connected(path) &&
	    gso_took_pending(fd, path, m, err, too_big)) {
		/* A GSO send (gathered, or a GRO burst) that took it: whole again, as with
		 * io_uring: no seg_max lowered, no datagram lost. */
		send_again(mw, fd, m, e, err, relay, d, path, again + 1);
	} else if (e->segs > 1 && sock_err_gso_refused(err)) {
		/* A refused UDP GSO send goes again in pieces, and what the path takes is
		 * learnt for the next ones (not for a transparent mirror's copies). */
		path_refused(mw, fd, path, e, tx_gso(m), err);
		send_cut(mw, fd, m, e, 0, relay, d, path);
	} else if (e->segs > 1 && sock_err_unreachable(err)) {
		/* A pending ICMP error failed a gathered send or a GRO burst, and its copy was
		 * gone (or this was the last send WORKER_SEND_AGAIN_MAX allows): it costs its
		 * first datagram, as with io_uring, and the rest go alone. */
		count_lost(mw, relay, d, e->up, err, 1);
		send_cut(mw, fd, m, e, 1, relay, d, path);
	} else if (e->segs == 1 && pending && path_connected(path) && sock_err_queued(err)) {
		/* One datagram that took such an error: it goes again, as with io_uring. */
		send_again(mw, fd, m, e, err, relay, d, path, again + 1);
	} else if (err == EAGAIN || err == EWOULDBLOCK) {
		return false;
	} else {
		/* This send alone, as with io_uring: a pending ICMP error whose copy was gone
		 * (sock_err_queued), a route's error, a qdisc's drop (ENOBUFS under IP_RECVERR),
		 * a firewall's EPERM. */
		count_lost(mw, relay, d, e->up, err, e->segs);
	}
	return true;
}

/* Whether entry m of a send (e) is a burst that path would refuse whole as it is known now
 * (burst_whole), and so goes cut: a coalesced receive, or a gathered send whose segments
 * fitted the path when it was gathered, before a refusal lowered its limit. */
static bool tx_cut(const struct mmsg_worker *mw, const struct tx_path *path, const struct msghdr *m,
		   const struct tx_ent *e)
{
	return e->segs > 1 && !burst_whole(mw, path, e, tx_gso(m));
}

/* Sends tx[0..n) (ent[i]: what each carries) on fd, going way d of relay slot relay, to path
 * (NULL: a listener's replies, a transparent mirror's copies); every datagram is counted as
 * sent or dropped (what cannot be sent now is dropped, as a full socket drops in the io_uring
 * backend). Each burst the path would refuse goes cut, in its place among the sends around
 * it, as the path is known when its turn comes: a refusal of one entry (path_refused) holds
 * for those after it, which are not tried whole in vain. */
static void send_all(struct mmsg_worker *mw, int fd, struct mmsghdr *tx,
		     const struct tx_ent *ent, int n, uint32_t relay, enum relay_dir d,
		     const struct tx_path *path)
{
	int sent = 0, end, r, i, err;
	bool pending, too_big;

	while (sent < n) {
		for (end = sent; end < n && !tx_cut(mw, path, &tx[end].msg_hdr, &ent[end]); end++)
			;
		if (end == sent) {
			send_cut(mw, fd, &tx[sent].msg_hdr, &ent[sent], 0, relay, d, path);
			sent++;
			continue;
		}
		r = sendmmsg(fd, tx + sent, (unsigned)(end - sent), MSG_DONTWAIT);
		err = r < 0 ? errno : 0;
		pending = too_big = false;
		for (i = sent; i < sent + r; i++)
			count_sent(mw, relay, d, ent[i].up, ent[i].segs, tx[i].msg_len);
		if (r > 0) {
			sent += r;
			/* sendmmsg says how many it sent, not why the next one failed. An ICMP
			 * error did (the socket's pending error, which that send took) when the
			 * error queue holds one: it fails that send as it fails a first one. The
			 * newest entry's errno is taken for it: each ICMP error sets the pending
			 * error anew (and the queue is emptied whenever one is counted). Two cases
			 * it gets wrong: a send that failed for a reason the queue does not hold
			 * (EAGAIN, a qdisc's ENOBUFS) while an ICMP error came in is taken for that
			 * error (a lone datagram then goes again and meets its own error; of a
			 * gathered send, one is counted as unreachable and the rest go on); and an
			 * error whose entry did not fit the socket's full receive buffer leaves the
			 * queue empty, so that message goes again and its error is not counted.
			 * Else sending it again shows a lasting error again. */
			if (sent == end || !path_connected(path) ||
			    !(err = path_drain(mw, fd, path, 0, &too_big)))
				continue;
			pending = true;
		} else if (path_connected(path) && sock_err_queued(err)) {
			/* Its copies in the error queue go now (as with io_uring), not charged to
			 * the socket until a receive meets an error, nor taken later for the
			 * error of another send; one there says the error was an ICMP error's,
			 * left pending. */
			pending = path_drain(mw, fd, path, err, &too_big) != 0;
		}
		if (!send_failed(mw, fd, &tx[sent].msg_hdr, &ent[sent], err, pending, too_big,
				 relay, d, path, 0)) {
			/* A full socket (EAGAIN, also on the retry from the entry that failed)
			 * drops what is left of tx, this socket's share of the flush, untried and
			 * counted lost: for replies the rest of the listener's flush, every
			 * session's replies through it this round; for a transparent mirror the
			 * rest of a client's copies, to every member. The io_uring backend tries
			 * each send, so the two differ only when room frees between two calls
			 * here (a NIC's TX completions). */
			for (i = sent; i < n; i++)
				count_lost(mw, relay, d, ent[i].up, err, ent[i].segs);
			break;
		}
		sent++;
	}
}

/* Sends q's entries [first, first + n), all on fd, as send_all does, to path (NULL: a
 * transparent mirror's copies), gathered into GSO sends to a connected socket (gather). */
static void flush(struct mmsg_worker *mw, struct tx_queue *q, int fd, int first, int n,
		  uint32_t relay, enum relay_dir d, const struct tx_path *path)
{
	struct mmsghdr *tx = q->m + first;
	const struct tx_ent *ent = q->ent + first;

	if (path_connected(path) && *path->seg_max && !mw->no_gso) {
		n = gather(mw, q, first, n, *path->seg_max);
		tx = mw->gtx;
		ent = mw->gtx_ent;
	}
	send_all(mw, fd, tx, ent, n, relay, d, path);
}

/* Orders q's entries by their socket (key), keeping each socket's in order (a stable counting
 * sort): datagrams of several clients, or replies of several sessions, arrive interleaved,
 * and sent in that order they would cost a system call each. Returns the sockets, in grp[]
 * with count[] entries each, in the order of q. */
static int tx_group(struct mmsg_worker *mw, struct tx_queue *q, void **grp, int *count)
{
	uint8_t of[MMSG_BATCH], at[MMSG_BATCH];
	int i, g, ng = 0, pos;

	for (i = 0; i < q->n; i++) {
		/* from the newest group: runs of one socket are the common case */
		for (g = ng - 1; g >= 0 && grp[g] != q->key[i]; g--)
			;
		if (g < 0) {
			g = ng++;
			grp[g] = q->key[i];
			count[g] = 0;
		}
		of[i] = (uint8_t)g;
		count[g]++;
	}
	if (ng > 1) {
		for (g = 0, pos = 0; g < ng; pos += count[g++])
			at[g] = (uint8_t)pos;
		for (i = 0; i < q->n; i++) {
			pos = at[of[i]]++;
			mw->sorted[pos] = q->m[i];
			mw->ent_sorted[pos] = q->ent[i];
		}
		memcpy(q->m, mw->sorted, (size_t)q->n * sizeof(q->m[0]));
		memcpy(q->ent, mw->ent_sorted, (size_t)q->n * sizeof(q->ent[0]));
	}
	return ng;
}

/* Sends a listener's batch (mw->tx, each entry keyed by its session) with one sendmmsg per
 * session socket, and empties it: to each session's upstream, or a transparent mirror's
 * copies from each client's socket to the members. (No session of the batch can be evicted
 * while it is made, within one on_listener at one w->now: eviction takes only sessions idle
 * for WORKER_EVICT_MIN_IDLE_NS, and these were just used. The keys are not checked: a session
 * whose slot was taken again would send the entry on another's socket.) */
static void flush_sessions(struct mmsg_worker *mw, uint32_t relay)
{
	_Static_assert(WORKER_EVICT_MIN_IDLE_NS > 0,
		       "a listener batch's sessions, used at w->now, are not evicted at w->now");
	bool mirror = mw->w->relays[relay].mode == RELAY_MODE_MIRROR;
	struct tx_queue *q = &mw->tx;
	void *grp[MMSG_BATCH];
	int count[MMSG_BATCH];
	int g, ng, pos, i;

	/* A session's datagrams count at its counter slot as it is when they go, not when they
	 * were queued: a new session later in the batch may have given that slot to its member
	 * (worker_session_get), which must not count them. (A transparent mirror's slots change
	 * members at a command only.) */
	for (i = 0; !mirror && i < q->n; i++)
		q->ent[i].up = worker_session_up(mw->w, relay, q->key[i]);
	ng = tx_group(mw, q, grp, count);

	for (g = 0, pos = 0; g < ng; pos += count[g++]) {
		struct session *s = grp[g];

		if (mirror)
			flush(mw, q, s->fd, pos, count[g], relay, RELAY_DIR_TO_UPSTREAM, NULL);
		else
			flush(mw, q, s->fd, pos, count[g], relay, RELAY_DIR_TO_UPSTREAM,
			      &(struct tx_path){ .seg_max = &s->seg_max,
						 .peer = &s->upstream_addr, .session = s });
	}
	q->n = 0;
}

/* Sends the replies gathered since the last time (mw->reply, each entry keyed by its
 * listener) with one sendmmsg per listener, and empties it. Called at the end of an epoll_wait
 * round, and before what may end a listener or a session (a command, the tick). In between
 * no session ends either (eviction takes only sessions idle for WORKER_EVICT_MIN_IDLE_NS, and
 * a reply's was just used), but that rests on worker.c's rules: a reply's session is looked at
 * only if it still holds its slot (tx_client). */
static void flush_replies(struct mmsg_worker *mw)
{
	struct tx_queue *q = &mw->reply;
	void *grp[MMSG_BATCH];
	int count[MMSG_BATCH];
	int g, ng, pos;

	if (q->n) {
		ng = tx_group(mw, q, grp, count);
		for (g = 0, pos = 0; g < ng; pos += count[g++]) {
			const struct listener *l = grp[g];

			send_all(mw, l->fd, q->m + pos, q->ent + pos, count[g], l->relay,
				 RELAY_DIR_TO_CLIENT, NULL);
		}
	}
	q->n = 0;
	mw->reply_used = 0;
}

/* Appends a send to q, on the socket key names: len bytes at data, to dest (NULL on a
 * connected socket), from local (pktinfo, or NULL), cut into gso_size datagrams (UDP GSO; 0:
 * one datagram), counted to upstream counter slot up, a reply to client's client (NULL: not
 * a reply). q has room for it. */
static void tx_add(struct tx_queue *q, void *key, void *data, uint32_t len,
		   const struct addr *dest, const struct addr *local, uint16_t gso_size,
		   uint32_t up, struct session *client)
{
	int i = q->n++;
	struct msghdr *m = &q->m[i].msg_hdr;

	memset(m, 0, sizeof(*m));
	q->iov[i].iov_base = data;
	q->iov[i].iov_len = len;
	m->msg_iov = &q->iov[i];
	m->msg_iovlen = 1;
	q->ent[i] = (struct tx_ent){ .segs = sock_segments(len, gso_size), .up = up,
				     .gen = client ? client->gen : 0, .client = client };
	q->key[i] = key;
	if (dest) {
		q->name[i] = *dest;
		m->msg_name = &q->name[i];
		m->msg_namelen = addr_len(dest);
	}
	m->msg_controllen = sock_tx_control(q->control[i], local,
					    q->ent[i].segs > 1 ? gso_size : 0);
	if (m->msg_controllen)
		m->msg_control = q->control[i];
}

static void on_listener(struct mmsg_worker *mw, struct udata u)
{
	struct worker *w = mw->w;
	struct listener *l = &w->listeners[u.idx];
	struct worker_relay *wr = &w->relays[l->relay];
	struct relay_counters *c = &w->counters[l->relay];
	struct tx_queue *q = &mw->tx;
	struct session *s;
	const struct pool *p;
	uint64_t copy = 0;
	int round, n, i;
	uint32_t j, n_copy = 0;

	if (!l->in_use || (l->gen & UDATA_GEN_MASK) != u.gen)
		return; /* closed earlier in this batch of events */
	p = worker_pool(w, l->relay);
	if (wr->mode == RELAY_MODE_MIRROR) {
		copy = worker_mirror_copies(w, l->relay, p);
		n_copy = (uint32_t)__builtin_popcountll(copy);
	}
	for (round = 0; round < MMSG_ROUNDS; round++) {
		n = take_batch(mw, l->fd, true, mw->bufs, MMSG_BATCH);
		if (n <= 0)
			return;
		q->n = 0;
		for (i = 0; i < n; i++) {
			struct msghdr *m = &mw->rx[i].msg_hdr;
			struct sock_rx_meta meta = { 0 };
			struct addr client;
			uint32_t segs = rx_meta(mw, i, &meta);
			void *data = mw->rx_iov[i].iov_base;
			uint32_t len = mw->rx[i].msg_len;

			worker_note_overflow(w, l, &meta);
			relay_count_rx(c, RELAY_DIR_TO_UPSTREAM, segs, len);
			/* A sender address that did not fit is as cut short as a payload. */
			if ((m->msg_flags & MSG_TRUNC) ||
			    addr_from_sockaddr(&client, m->msg_name, m->msg_namelen)) {
				relay_count_drop(c, RELAY_DIR_TO_UPSTREAM, DROP_TRUNCATED, segs);
				continue;
			}
			if (wr->mode == RELAY_MODE_MIRROR && !wr->transparent) {
				/* Each member gets a copy: sent below to every one. */
				if (!n_copy) {
					relay_count_send_error(c, RELAY_DIR_TO_UPSTREAM, 0,
							       segs);
					continue;
				}
				counter_add(&c->dir[RELAY_DIR_TO_UPSTREAM].extra_copies,
					    (uint64_t)segs * (n_copy - 1));
				tx_add(q, NULL, data, len, NULL, NULL, meta.gso_size, SESSION_NONE,
				       NULL);
				continue;
			}
			if (wr->mode == RELAY_MODE_MIRROR) {
				/* Transparent: from the client's own socket, to each member; the
				 * copies of the batch go out together, a sendmmsg per client. */
				if (!n_copy) {
					relay_count_send_error(c, RELAY_DIR_TO_UPSTREAM, 0,
							       segs);
					continue;
				}
				s = worker_session_get(w, u.idx, &client, &meta, segs);
				if (!s)
					continue;
				session_count_up(s, segs, len);
				counter_add(&c->dir[RELAY_DIR_TO_UPSTREAM].extra_copies,
					    (uint64_t)segs * (n_copy - 1));
				for (j = 0; j < p->n; j++) {
					if (!(copy >> j & 1))
						continue;
					if (q->n == MMSG_BATCH)
						flush_sessions(mw, l->relay);
					tx_add(q, s, data, len, &p->m[j].addr, NULL, meta.gso_size,
					       p->m[j].slot, NULL);
				}
				continue;
			}
			s = worker_session_get(w, u.idx, &client, &meta, segs);
			if (!s)
				continue;
			session_count_up(s, segs, len);
			/* its counter slot: when it goes (flush_sessions) */
			tx_add(q, s, data, len, NULL, NULL, meta.gso_size, SESSION_NONE, NULL);
		}
		if (wr->mode == RELAY_MODE_MIRROR && !wr->transparent) {
			for (j = 0; q->n && j < wr->n_mirror; j++) {
				if (!(copy >> j & 1))
					continue;
				if (wr->mirror_fd[j] < 0) {
					for (i = 0; i < q->n; i++)
						worker_count_unsent_copies(w, l->relay,
									   wr->mirror_uslot[j],
									   q->ent[i].segs);
					continue;
				}
				/* the same copies for each member, counted to it */
				for (i = 0; i < q->n; i++)
					q->ent[i].up = wr->mirror_uslot[j];
				flush(mw, q, wr->mirror_fd[j], 0, q->n, l->relay,
				      RELAY_DIR_TO_UPSTREAM,
				      &(struct tx_path){ .seg_max = &wr->mirror_seg_max[j],
							 .peer = &wr->mirror_addr[j] });
			}
			q->n = 0;
		} else if (q->n) {
			flush_sessions(mw, l->relay);
		}
		if (n < MMSG_BATCH)
			return;
	}
}

/* Takes what session u's socket holds, back to its client: queued in mw->reply for
 * flush_replies, at most MMSG_ROUNDS batches' worth before the other sockets get a turn. */
static void session_rx(struct mmsg_worker *mw, struct udata u)
{
	struct worker *w = mw->w;
	struct relay_counters *c = &w->counters[u.relay];
	struct session *s = worker_session_at(w, u.relay, u.idx);
	struct tx_queue *q = &mw->reply;
	size_t size = w->cfg->buffer_size;
	int left = MMSG_ROUNDS * MMSG_BATCH, errors = 0, room, n, i, queued;
	struct listener *l;
	bool too_big;

	/* closed earlier in this batch of events (its relay too, perhaps) */
	if (!s || (s->gen & UDATA_GEN_MASK) != u.gen || s->state != SESSION_ACTIVE)
		return;
	l = &w->listeners[s->listener];
	while (left > 0 && errors < MMSG_ROUNDS) {
		if (mw->reply_used == MMSG_BATCH)
			flush_replies(mw);
		room = MMSG_BATCH - mw->reply_used;
		if (room > left)
			room = left;
		n = take_batch(mw, s->fd, false, mw->reply_bufs + (size_t)mw->reply_used * size,
			       room);
		if (n < 0) {
			/* An ICMP error from the upstream, for a datagram already sent: an
			 * unreachable is a notice, not a loss; keep the session. The error's
			 * copies in the error queue go now, as with io_uring (flush would take
			 * them for a send's). */
			if (sock_err_unreachable(-n))
				worker_count_notice(w, u.relay,
						    worker_session_up(w, u.relay, s));
			/* "fragmentation needed" / "packet too big" (that ended the receive, or in
			 * the error queue behind another error): the path MTU fell */
			worker_drain_errors(w, s, s->fd, MMSG_ERRQUEUE_MAX, n, &too_big, NULL);
			errors++;
			continue;
		}
		if (n == 0)
			return;
		mw->reply_used += n;
		left -= n;
		queued = q->n;
		for (i = 0; i < n; i++) {
			struct msghdr *m = &mw->rx[i].msg_hdr;
			struct sock_rx_meta meta = { 0 };
			uint32_t segs = rx_meta(mw, i, &meta);

			worker_count_session_reply(w, u.relay, s, &meta, segs, mw->rx[i].msg_len);
			/* A reply cut short is no reply: it neither counts for the session (its
			 * reply_timeout, the access log) nor keeps it alive, as with io_uring. */
			if (m->msg_flags & MSG_TRUNC) {
				relay_count_drop(c, RELAY_DIR_TO_CLIENT, DROP_TRUNCATED, segs);
				continue;
			}
			session_count_down(s, segs, mw->rx[i].msg_len);
			/* Back to the client from the address it sent to. */
			tx_add(q, l, mw->rx_iov[i].iov_base, mw->rx[i].msg_len, &s->client,
			       l->wildcard ? &s->local : NULL, meta.gso_size, SESSION_NONE, s);
		}
		if (q->n > queued)
			worker_reply_touch(w, u.relay, s, w->now);
		if (n < room)
			return;
	}
}

/* What a mirror's socket holds, received and dropped (a mirror passes nothing back, but it
 * must not pile up in the socket), and the drops its SO_RXQ_OVFL tells: mirror socket j's
 * member's replies, or (s not NULL) what transparent mirror session s's client socket got,
 * counted to the member that sent it (read with the sender's address); an ICMP error for a
 * copy sent earlier ends a receive as on a session's socket: an unreachable is a notice, and
 * the error queue is emptied (a client socket has no IP_RECVERR and gets none). */
static void mirror_rx(struct mmsg_worker *mw, uint32_t relay, uint32_t j, struct session *s)
{
	struct worker *w = mw->w;
	const struct worker_relay *wr = &w->relays[relay];
	bool by_sender = s != NULL;
	int fd = s ? s->fd : wr->mirror_fd[j], round, n, i;
	uint32_t up = s ? SESSION_NONE : wr->mirror_uslot[j];

	for (round = 0; round < MMSG_ROUNDS; round++) {
		n = take_batch(mw, fd, by_sender, mw->bufs, MMSG_BATCH);
		if (n < 0) {
			if (sock_err_unreachable(-n))
				worker_count_notice(w, relay, up);
			sock_drain_errors(fd, MMSG_ERRQUEUE_MAX);
			continue;
		}
		for (i = 0; i < n; i++) {
			struct msghdr *m = &mw->rx[i].msg_hdr;
			struct sock_rx_meta meta = { 0 };
			uint32_t segs = rx_meta(mw, i, &meta);
			struct addr from;

			if (s)
				worker_note_reply_overflow(w, relay, s, &meta);
			else
				worker_note_mirror_overflow(w, relay, j, &meta);
			if (!by_sender)
				worker_count_mirror_reply(w, relay, up, segs, mw->rx[i].msg_len);
			else if (addr_from_sockaddr(&from, m->msg_name, m->msg_namelen))
				worker_mirror_session_reply(w, relay, NULL, segs, mw->rx[i].msg_len);
			else
				worker_mirror_session_reply(w, relay, &from, segs, mw->rx[i].msg_len);
		}
		if (n < MMSG_BATCH)
			break;
	}
}

/* Mirror socket u.idx (a descriptor) of relay u.relay (err: as for on_session). */
static void on_mirror(struct mmsg_worker *mw, struct udata u, bool err)
{
	struct worker_relay *wr = &mw->w->relays[u.relay];
	uint32_t j;

	for (j = 0; j < wr->n_mirror && wr->mirror_fd[j] != (int)u.idx; j++)
		;
	if (j == wr->n_mirror) /* closed earlier in this batch of events */
		return;
	mirror_rx(mw, u.relay, j, NULL);
	if (err)
		sock_drain_errors(wr->mirror_fd[j], MMSG_ERRQUEUE_MAX);
}

/* err: epoll reported EPOLLERR, which stays set while the socket's error queue holds
 * anything (IP_RECVERR queues each ICMP error there too): empty it once the pending error
 * has been read as a notice, or epoll_wait returns at once forever. */
static void on_session(struct mmsg_worker *mw, struct udata u, bool err)
{
	struct session *s = worker_session_at(mw->w, u.relay, u.idx);
	bool too_big;

	if (s && (s->gen & UDATA_GEN_MASK) == u.gen && s->state == SESSION_ACTIVE &&
	    mw->w->relays[u.relay].mode == RELAY_MODE_MIRROR) {
		mirror_rx(mw, u.relay, 0, s);
		return;
	}
	session_rx(mw, u);
	s = worker_session_at(mw->w, u.relay, u.idx);
	if (!err || !s || (s->gen & UDATA_GEN_MASK) != u.gen || s->state != SESSION_ACTIVE)
		return;
	/* a "packet too big" behind the error the receive read */
	worker_drain_errors(mw->w, s, s->fd, MMSG_ERRQUEUE_MAX, 0, &too_big, NULL);
}

/* The tick follows the configuration (its timeouts): set at start and after each command,
 * only when it changes, and then no later than the next one due. Setting the timer restarts
 * its countdown and drops expirations not yet read: commands more often than the tick
 * (`ringrelayctl sessions` from a dashboard) would otherwise hold every tick off, and with
 * it session expiry, reply timeouts and a removed relay's end. */
static void set_tick(struct mmsg_worker *mw)
{
	uint64_t tick = worker_tick_ns(mw->w), left;
	struct itimerspec its = { 0 }, cur;

	if (tick == mw->tick)
		return;
	its.it_interval.tv_sec = (time_t)(tick / 1000000000ull);
	its.it_interval.tv_nsec = (long)(tick % 1000000000ull);
	its.it_value = its.it_interval;
	if (mw->tick && timerfd_gettime(mw->timerfd, &cur) == 0) {
		left = (uint64_t)cur.it_value.tv_sec * 1000000000ull + (uint64_t)cur.it_value.tv_nsec;
		if (left && left < tick) {
			its.it_value.tv_sec = (time_t)(left / 1000000000ull);
			its.it_value.tv_nsec = (long)(left % 1000000000ull);
		}
	}
	if (timerfd_settime(mw->timerfd, 0, &its, NULL) == 0)
		mw->tick = tick;
}

static void on_timer(struct mmsg_worker *mw)
{
	uint64_t ticks;

	if (read(mw->timerfd, &ticks, sizeof(ticks)) < 0)
		return;
	worker_tick(mw->w);
}

static int hook_listener_open(struct worker *w, uint32_t li)
{
	struct udata u = { .op = OP_RECV_LISTENER, .idx = li, .gen = w->listeners[li].gen };

	return watch(w->backend_state, w->listeners[li].fd, u);
}

static int hook_session_opened(struct worker *w, uint32_t relay, struct session *s)
{
	struct udata u = { .op = OP_RECV_SESSION, .relay = relay,
			   .idx = session_index(&w->relays[relay].sessions, s), .gen = s->gen };

	/* The longest datagram its path takes as a GSO segment (gather); a transparent
	 * mirror's session sends to every member's address and gathers nothing. */
	if (w->relays[relay].mode != RELAY_MODE_MIRROR)
		s->seg_max = sock_seg_max(s->fd, &s->upstream_addr);
	return watch(w->backend_state, s->fd, u);
}

static int hook_mirror_open(struct worker *w, uint32_t relay, uint32_t j)
{
	int fd = w->relays[relay].mirror_fd[j];
	struct udata u = { .op = OP_RECV_MIRROR, .relay = relay, .idx = (uint32_t)fd };

	if ((uint32_t)fd > UDATA_MAX_IDX)
		return -EMFILE;
	return watch(w->backend_state, fd, u);
}

static void hook_session_close(struct worker *w, uint32_t relay, struct session *s)
{
	close(s->fd); /* also leaves the epoll set */
	s->fd = -1;
	session_release(&w->relays[relay].sessions, s);
}

/* Debian 12's headers predate epoll busy polling (6.9). */
#ifndef EPIOCSPARAMS
struct epoll_params {
	uint32_t busy_poll_usecs;
	uint16_t busy_poll_budget;
	uint8_t prefer_busy_poll;
	uint8_t __pad; /* must be zero */
};
#define EPIOCSPARAMS _IOW(0x8A, 1, struct epoll_params)
#endif
_Static_assert(sizeof(struct epoll_params) == 8, "struct epoll_params is 8 bytes");

/* Busy polls the NAPI instances of the epoll set's sockets from epoll_wait. A budget up to
 * 64 (the config's limit) needs no capability. Returns 0 or -errno. */
static int epoll_busy_poll(int epfd, const struct napi_conf *n)
{
	struct epoll_params ep = { .busy_poll_usecs = n->busy_poll_us,
				   .busy_poll_budget = (uint16_t)n->busy_poll_budget,
				   .prefer_busy_poll = n->prefer_busy_poll };

	return ioctl(epfd, EPIOCSPARAMS, &ep) ? -errno : 0;
}

static int mmsg_setup(struct mmsg_worker *mw, struct worker_cmd *first)
{
	struct worker *w = mw->w;
	int err;

	w->backend_state = mw;
	mw->bufs = malloc((size_t)MMSG_BATCH * first->cfg->buffer_size);
	mw->reply_bufs = malloc((size_t)MMSG_BATCH * first->cfg->buffer_size);
	mw->epfd = epoll_create1(EPOLL_CLOEXEC);
	mw->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!mw->bufs || !mw->reply_bufs || mw->epfd < 0 || mw->timerfd < 0) {
		err = mw->bufs && mw->reply_bufs ? -errno : -ENOMEM;
		snprintf(w->error, sizeof(w->error), "worker %u: set-up: %s", w->id, strerror(-err));
		return err;
	}
	w->busy_poll = 0;
	if (first->cfg->napi.busy_poll_us) {
		err = epoll_busy_poll(mw->epfd, &first->cfg->napi);
		w->busy_poll = err ? err : 1;
	}
	err = worker_apply(w, first);
	if (err) {
		snprintf(w->error, sizeof(w->error), "%s", first->error);
		return err;
	}
	set_tick(mw);
	err = watch(mw, mw->timerfd, (struct udata){ .op = OP_TIMER });
	if (!err)
		err = watch(mw, w->stop_fd, (struct udata){ .op = OP_STOP });
	if (!err)
		err = watch(mw, w->cmd_fd, (struct udata){ .op = OP_CMD });
	if (err) {
		snprintf(w->error, sizeof(w->error), "worker %u: epoll: %s", w->id, strerror(-err));
		return err;
	}
	/* Its memory, as io_uring's line gives its pool's: bufs and reply_bufs (not `buffers`). */
	snprintf(w->features, sizeof(w->features),
		 "mmsg (epoll + recvmmsg/sendmmsg, batch %d, %d buffers of %u B (%zu KiB), half of "
		 "them for a round's replies%s)",
		 MMSG_BATCH, 2 * MMSG_BATCH, first->cfg->buffer_size,
		 (size_t)2 * MMSG_BATCH * first->cfg->buffer_size >> 10,
		 w->busy_poll > 0 ? ", NAPI busy poll" : "");
	return 0;
}

static void mmsg_teardown(struct mmsg_worker *mw)
{
	if (mw->epfd >= 0)
		worker_close_all(mw->w);
	if (mw->epfd >= 0)
		close(mw->epfd);
	if (mw->timerfd >= 0)
		close(mw->timerfd);
	free(mw->bufs);
	free(mw->reply_bufs);
}

static int mmsg_run(struct worker *w, struct worker_cmd *first)
{
	struct mmsg_worker *mw;
	struct epoll_event ev[64];
	int n, i, err;

	/* About 60 KB of headers and control space: heap, not the thread's stack. */
	mw = calloc(1, sizeof(*mw));
	if (!mw) {
		snprintf(w->error, sizeof(w->error), "worker %u: out of memory", w->id);
		worker_report(w, WORKER_FAILED);
		return -ENOMEM;
	}
	mw->w = w;
	mw->epfd = mw->timerfd = -1;
	err = mmsg_setup(mw, first);
	if (err) {
		mmsg_teardown(mw);
		free(mw);
		worker_report(w, WORKER_FAILED);
		return err;
	}
	worker_report(w, WORKER_READY);

	while (!mw->stopping) {
		n = epoll_wait(mw->epfd, ev, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			snprintf(w->error, sizeof(w->error), "worker %u: epoll_wait: %s", w->id,
				 strerror(errno));
			break;
		}
		w->now = worker_clock();
		counter_add(&w->wc.loops, 1);
		counter_set(&w->wc.heartbeat, w->now);
		for (i = 0; i < n; i++) {
			struct udata u = udata_unpack(ev[i].data.u64);

			if (u.op == OP_RECV_LISTENER)
				on_listener(mw, u);
			else if (u.op == OP_RECV_SESSION)
				on_session(mw, u, ev[i].events & EPOLLERR);
			else if (u.op == OP_RECV_MIRROR)
				on_mirror(mw, u, ev[i].events & EPOLLERR);
			else if (u.op == OP_TIMER) {
				flush_replies(mw); /* before the tick ends sessions */
				on_timer(mw);
			} else if (u.op == OP_STOP) {
				mw->stopping = true;
			} else if (u.op == OP_CMD) {
				flush_replies(mw); /* before a command ends sessions or listeners */
				worker_run_cmd(w);
				set_tick(mw);
			}
		}
		flush_replies(mw);
		counter_add(&w->wc.completions, (uint64_t)n);
		worker_quiescent(w);
	}
	worker_report(w, WORKER_STOPPING);
	mmsg_teardown(mw);
	free(mw);
	return err;
}

/* Closing a descriptor removes it from the epoll set: no listener_close or mirror_close. */
const struct worker_ops worker_mmsg_ops = {
	.run = mmsg_run,
	.listener_open = hook_listener_open,
	.session_opened = hook_session_opened,
	.session_close = hook_session_close,
	.mirror_open = hook_mirror_open,
};
