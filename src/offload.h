/* SPDX-License-Identifier: MIT */
/* The session fast path's user-space half (docs/offload.md): which mode each relay gets and
 * why (from the interfaces its listen addresses and upstream routes use), attaching it through
 * filter.c, and the per-session entries a worker installs, folds and removes. The program
 * itself is bpf/filter.bpf.c; libbpf stays in filter.c and libnl in netlink.c. */
#ifndef RINGRELAY_OFFLOAD_H
#define RINGRELAY_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "counters.h"
#include "session.h"

struct netlink_flow;
struct netlink_rtsock;
struct sock_route_keys;

struct filter;

#define OFFLOAD_WHY_LEN 256
#define OFFLOAD_MAX_IFACES 16 /* per relay */

/* What a relay got: OFFLOAD_OFF, OFFLOAD_XDP or OFFLOAD_TC, and one line why. */
struct offload_relay_state {
	enum offload_mode got;
	char why[OFFLOAD_WHY_LEN];
	int ifindex[OFFLOAD_MAX_IFACES]; /* the interfaces its datagrams arrive and leave on */
	uint32_t n_ifaces;
	uint32_t xdp_tx_mask; /* bit i: ifindex[i] takes XDP_REDIRECT */
	/* layer 3 devices among its interfaces (tun, WireGuard, an IP tunnel), left out of
	 * ifindex: the first, and how many */
	int l3;
	uint32_t n_l3;
};

/* Where relay i of cfg sends its datagrams now, into to[CONFIG_MAX_UPSTREAMS]: their number,
 * or 0 for cfg's own members (its names as resolved when it was loaded; the upkeep thread may
 * have resolved them again since). */
typedef uint32_t offload_sends_fn(void *arg, const struct config *cfg, uint32_t i, struct addr *to);

/* The flow relay rc's sessions send to upstream to with, as their sockets' route lookups see
 * it (protocol UDP, to's port, the relay's source address and fwmark, owner uid; the source
 * port 0: an ephemeral one, not known yet), into *fl, which borrows rc and to. */
void offload_relay_flow(const struct relay_conf *rc, const struct addr *to, int64_t uid,
			struct netlink_flow *fl);

/* Decides each relay's mode from cfg, the addresses it sends to (sends, or cfg's members when
 * NULL) and the host (routes, addresses, xdp-features), without attaching anything: for -V and
 * as the first half of offload_apply. uid is the owner of the workers' session sockets (the
 * daemon's uid after start, privs_who.uid, whoever calls: a rule "uidrange" may choose their
 * routes). out has cfg->n_relays entries. */
void offload_resolve(const struct config *cfg, int64_t uid, offload_sends_fn *sends, void *arg,
		     struct offload_relay_state *out);

/* What offload_apply's filter rule makes of out (offload_resolve's) as far as cfg tells it:
 * where filter.mode is "tc" or "xdp-generic" on one of its interfaces, a relay in XDP takes
 * tc. (Where "xdp" falls back, and others' generic XDP programs, only the attach shows.) */
void offload_resolve_filter(const struct config *cfg, struct offload_relay_state *out);

struct filter_foreign_prog;

/* What someone else's generic XDP program p on st's interface ifindex (filter_xdp_foreign)
 * makes of st: one with frags turns it off (tc after it is blind, and native XDP cannot stand
 * beside it), saying why and what to do; one whose frags cannot be told leaves its mode as it
 * is (tc) and puts the risk in front of its why. Nothing for NONE or a relay off. */
void offload_beside_foreign(struct offload_relay_state *st, int ifindex,
			    const struct filter_foreign_prog *p);

/* ---- whether an interface has native XDP for the fast path (offload_resolve) */

struct filter_refusal;
struct filter_xdp_shape;

/* How long a refusal of a fast path attach (native XDP, or tc) holds for an interface that
 * changed nothing (s): each link event would otherwise try the attach again, detach the fast
 * path from the relay's other interfaces (re-making their NAPI instances) and attach it back.
 * A reload forgets them all (filter_offload_forget). */
#define OFFLOAD_REFUSAL_HOLD_S 900

/* Whether refusal r (filter_offload_refused) still holds at now (CLOCK_MONOTONIC, s) for an
 * interface that looks like now_shape: for OFFLOAD_REFUSAL_HOLD_S, unless its MTU, channel
 * counts, offloads, xdp-features or XDP program changed since, or for a tc refusal the
 * filters in its clsact qdisc (a new device of that ifindex forgot it already:
 * filter_link_gone). Pure. */
bool offload_refusal_holds(const struct filter_refusal *r, const struct filter_xdp_shape *now_shape,
			   uint64_t now);

/* What offload_native_why judges an interface by. */
struct offload_native_facts {
	const char *name;
	int features_ret;      /* netlink_xdp_features: 0, or -errno (unknown) */
	uint64_t features;     /* ... its xdp-features when 0 */
	const char *kind;      /* IFLA_INFO_KIND, "" for none (a NIC's driver) */
	const char *lowers;    /* netlink_lower_links: the links whose master it is */
	uint32_t n_lowers;
	const struct filter_refusal *refused; /* a native XDP refusal that holds, or NULL */
};
/* offload_native_why's verdict. */
enum offload_native {
	OFFLOAD_NATIVE_MAY,   /* the attach may decide */
	OFFLOAD_NATIVE_NONE,  /* no native XDP */
	OFFLOAD_NATIVE_BELOW, /* its XDP runs on its lower devices */
};
/* Why interface fa has no native XDP for the fast path, into why[len] ("eth1 has no native
 * XDP (...)"), or OFFLOAD_NATIVE_MAY when the attach may decide. No BASIC in its known
 * xdp-features (empty ones too: the kernel goes by them since 6.3); a bond or team, or a
 * device without a link kind that is the master of lower devices (hv_netvsc with its VF):
 * OFFLOAD_NATIVE_BELOW, its XDP runs in their drivers, where the program sees their ifindex
 * (the fast path would never run, the filter stage would run where no one configured it); an
 * earlier refusal that holds. With
 * unknown xdp-features (before 6.3) anything else, a bridge or VRF with ports, a VLAN or a
 * macvlan included, is left to the attach. Pure. */
enum offload_native offload_native_why(const struct offload_native_facts *fa, char *why,
				       size_t len);

/* How the fast path's attach on an interface failed (offload_apply's rounds). */
enum offload_failed {
	OFFLOAD_FAILED_XDP,	      /* native XDP refused */
	OFFLOAD_FAILED_TC,	      /* tc refused, where no relay wanted XDP */
	OFFLOAD_FAILED_TC_BESIDE_XDP, /* tc refused after the XDP attach there took */
};
/* What a relay in got on that interface becomes: XDP refused, tc (never generic XDP; on all
 * its interfaces: the next round moves it); tc refused, off, but where the XDP attach took
 * a relay in XDP keeps it (it needs no tc). Pure. */
enum offload_mode offload_after_fail(enum offload_mode got, enum offload_failed how);

/* offload_resolve, then makes the program run where the relays need it (and nowhere else):
 * attaches, detaches, fills the redirect map. A relay refused native XDP on one of its
 * interfaces takes tc on all of them (never generic XDP); one whose tc attach fails falls back
 * to off with the error as its reason, and the program leaves the interfaces only it needed.
 * Logs one line per relay that asked for offload. Returns 0. */
int offload_apply(struct filter *f, const struct config *cfg, int64_t uid, offload_sends_fn *sends,
		  void *arg, struct offload_relay_state *out);

/* Whether an offload_apply changed the fast path's devices or their hooks, from the n0
 * interfaces before and n1 after (filter_offload_ifaces) and the count of hook changes
 * before and after (filter_offload_hook_changes): another number, another interface in a
 * place (its name, ifindex or hooks), or a hook attached or detached meanwhile (one that went
 * and came back too: a session may have been refused in between). The caller then makes a
 * route epoch that covers every address (app_offload_apply). Pure. */
struct filter_offload_iface;
bool offload_ifaces_changed(const struct filter_offload_iface *before, int n0,
			    const struct filter_offload_iface *after, int n1, uint32_t hooks0,
			    uint32_t hooks1);

/* Takes back into use the redirect targets the kernel refused a frame for (the program marks
 * them and passes their datagrams up the stack) once their xdp-features say they take
 * XDP_REDIRECT again, and forgets those whose device is gone (filter_offload_gone). Call it
 * about once a second while the fast path runs. */
void offload_recheck(struct filter *f);

/* True when any relay of cfg asks for the fast path. */
bool offload_wanted(const struct config *cfg);

/* ---- per session, on the worker's thread */

/* What a worker needs: the loaded program (NULL: no fast path), its first flow slot. */
struct offload_worker {
	struct filter *f;
	struct netlink_rtsock *nl; /* the worker's route socket (netlink_rtsock_new) */
	uint32_t flow_base;
	uint32_t max_payload;	    /* plan's payload_max: longer ones the socket path drops */
	uint32_t reply_max_payload; /* plan's reply_payload_max */
};

/* The functions below add what the program relayed since the last fold into
 * fold[RELAY_DIR__MAX] (zeroed by the caller): rx, tx and fast_* of each direction. The worker
 * counts those for the relay, the session's upstream and the session (worker_count_fast). */

/* Why a session stays on the socket path (session.fast_refused). */
enum offload_refusal {
	OFFLOAD_REFUSED_NONE,
	/* the program's own route lookup would send its datagrams elsewhere than its socket's
	 * route (rules by port, uid or mark; another gateway; no route) */
	OFFLOAD_REFUSED_ROUTE,
	/* its route has more than one leg on its device: the program's lookup, held to the
	 * device, takes the first, the socket the one the multipath hash chose */
	OFFLOAD_REFUSED_LEGS,
	/* an IPv6 multipath route where bpf_redirect_neigh would route it (its lookup hashes
	 * onto any leg) */
	OFFLOAD_REFUSED_MULTIPATH6,
	/* a direction leaves by a device the fast path does not run on (a layer 3 device, or one
	 * none of the relays' fast paths uses): the program would not see its answers there; or
	 * its datagrams arrive where the fast path runs only in XDP and it leaves by a device
	 * where it runs only in tc (another relay's), to which XDP cannot redirect */
	OFFLOAD_REFUSED_DEVICE,
	OFFLOAD_REFUSED_ERROR, /* another: a link-local address, an error, a full map, ... */
	/* it left the fast path when changed filter rules denied its client (the worker's
	 * judging; its client's datagrams meet the filter on the socket path) */
	OFFLOAD_REFUSED_FILTER,
	OFFLOAD_REFUSED__MAX
};

/* "route_differs", ...; "" for none. */
static inline const char *offload_refusal_name(enum offload_refusal why)
{
	switch (why) {
	case OFFLOAD_REFUSED_NONE:
		return "";
	case OFFLOAD_REFUSED_ROUTE:
		return "route_differs";
	case OFFLOAD_REFUSED_LEGS:
		return "legs_share_device";
	case OFFLOAD_REFUSED_MULTIPATH6:
		return "ipv6_multipath_neigh";
	case OFFLOAD_REFUSED_DEVICE:
		return "device_not_fast_path";
	case OFFLOAD_REFUSED_ERROR:
		return "other";
	case OFFLOAD_REFUSED_FILTER:
		return "filter_denied";
	default:
		return "?";
	}
}

/* Whether the program relays a direction whose datagrams arrive on an interface with hooks in
 * and leave by one with hooks out (FILTER_HOOK_*, filter_offload_hooks): the fast path runs
 * on in, in tc (which redirects to any device), or in XDP with out in XDP too (a redirect
 * target, or one of an XDP relay that is none: pass_no_tx) or a target. Pure. */
bool offload_hooks_relay(uint32_t in, uint32_t out);

/* The sockets of a new session, whose routes the fast path follows. */
struct offload_socks {
	int fd; /* its connected upstream socket (still open; sock_open_upstream) */
	/* those of the listener that replies to its client (sock_route_keys) */
	const struct sock_route_keys *listen_keys;
};

/* Installs both directions of session s of a relay, with its sockets so and flow its slot
 * (what the slot's previous session left goes to fold), unless the program's own route
 * lookups would send its datagrams elsewhere than its sockets' routes, or a direction leaves
 * by a device the program does not relay it to (offload_hooks_relay). On success s->fast is
 * set. Returns 0, or why the session stays on the socket path: a refusal (enum
 * offload_refusal, positive) or -errno. */
int offload_session_open(const struct offload_worker *ow, struct session *s,
			 const struct offload_socks *so, uint32_t flow,
			 struct relay_dir_counters *fold);
/* Removes s's entries (before its socket closes) and folds what the program counted since the
 * last fold. */
void offload_session_close(const struct offload_worker *ow, struct session *s,
			   struct relay_dir_counters *fold);
/* Directions of a session, for the path MTU functions below. */
#define OFFLOAD_PMTU_UP 1u   /* 1 << OFFLOAD_DIR_UP: client -> upstream */
#define OFFLOAD_PMTU_DOWN 2u /* 1 << OFFLOAD_DIR_DOWN: the replies */
/* ... with their TTL / hop limit (offload_session_pmtu): after a move to another device */
#define OFFLOAD_PMTU_TTL 4u
/* How often the tick reads again the reply direction's path MTU of a session the fast path
 * relayed for since: a path MTU toward the client that fell is told to no socket of the
 * relay (the listener is unconnected, without IP_RECVERR), only to the kernel's routes. */
#define OFFLOAD_PMTU_SWEEP_NS (10ull * 1000000000ull)
/* A direction whose reading found its rule's path MTU right after the program passed some of
 * its datagrams up as too long is not read again for passes up for this long (s), doubled
 * after each such reading up to OFFLOAD_PMTU_BACKOFF_MAX: a datagram longer than the true
 * path MTU passes up whatever the rule says (bpf_check_mtu, the FIB's FRAG_NEEDED), so a
 * client that keeps sending those would make every tick read it again for nothing. The same,
 * apart, after a reading for an ICMP too-big that found the rule right: a client can forge
 * those about its own sessions. */
#define OFFLOAD_PMTU_BACKOFF_MIN 5
#define OFFLOAD_PMTU_BACKOFF_MAX 60

/* Reads again the path MTU of s's directions in dirs (OFFLOAD_PMTU_*) and gives those that
 * changed to its rules, so that datagrams longer than it take the socket path (which fragments
 * them) and those it takes again go fast once it rises. Upstream: its session socket's
 * (IP_MTU: one syscall), which an ICMP "fragmentation needed" / "packet too big" for it
 * updated (its receive, or a send that took the pending error, ended in EMSGSIZE), and
 * which each send on it routes afresh; replies: a fresh socket bound to the address the
 * client sent to, with the listener's mark and device, connected to the client (six
 * syscalls: sock_route_mtu), routed as the listener routes each reply. A rule update costs
 * two more. With OFFLOAD_PMTU_TTL their TTL / hop limit too (what the socket path sends with:
 * IPv6's is the route's device's, which a move may change; review-reroute L3): upstream the
 * session socket's (one syscall more), replies that fresh socket's (none more). 0, or the
 * first -errno. */
int offload_session_pmtu(const struct offload_worker *ow, struct session *s, uint32_t dirs);
/* Which path MTUs of fast session s to read again at now (OFFLOAD_PMTU_*), given the program's
 * mtu_pass and too_big counts of its slot (pass[enum offload_dir], too_big[...]): a direction
 * whose datagrams it passed up as too long since they were last read (the socket path sent
 * them, by the path MTU as it is now, which may have risen: a PMTU exception expired, a route
 * changed), unless it backs off from passes up (OFFLOAD_PMTU_BACKOFF_MIN); a direction an
 * ICMP too-big came about since (the kernel lowered its path MTU: the listener's unconnected
 * socket never hears of it), unless it backs off from too-bigs (a back-off from passes up
 * does not hold it back); and the replies every OFFLOAD_PMTU_SWEEP_NS while it relays any
 * (s->fast_seen). Counts that moved while their direction backed off make it due once that
 * back-off ends. Pure. */
uint32_t offload_pmtu_due(const struct session *s, const uint32_t pass[2],
			  const uint32_t too_big[2], uint64_t now);
/* What offload_session_recheck keeps of its reading at now of fast session s's directions
 * dirs (OFFLOAD_PMTU_*), due by offload_pmtu_due with the counts pass and too_big, of which
 * those in changed changed its rules: the counts read, the sweep's time, and the back-offs of
 * a direction read that changed nothing: the next of each count that moved (passes up,
 * too-bigs); a change ends both. Pure. */
void offload_pmtu_read(struct session *s, const uint32_t pass[2], const uint32_t too_big[2],
		       uint32_t dirs, uint32_t changed, uint64_t now);
/* Whether fast session s's rules are due to be derived again at now (or a refusal the last one
 * found, to be confirmed: OFFLOAD_ROUTE_CONFIRM_NS after it, count or not), given count: the
 * program's wrong_iface and fib_pass counts of its slot, summed (datagrams that arrived on
 * another device than a rule's iif, or whose route left by another than its oif: a route
 * moved, a device was made again), and epoch: the route epoch (worker_route_epoch: routes,
 * rules or the fast path's devices changed). Due when epoch is another than its last
 * derivation's (a route that moves may move no count: IPv4's lookups are held to the rule's
 * oif, and fall back on any route the old device still has), or when count moved since,
 * unless it backs off (a derivation found the routes as they were: a client can send its
 * datagrams in by another device, or a multipath route brings them so), from
 * OFFLOAD_PMTU_BACKOFF_MIN s doubling to OFFLOAD_PMTU_BACKOFF_MAX. Pure. */
bool offload_route_due(const struct session *s, uint32_t count, uint32_t epoch, uint64_t now);
/* A derivation that found the session refused (its routes moved where the fast path cannot
 * relay it) is made once more this long after (ns), before the session leaves the fast path. */
#define OFFLOAD_ROUTE_CONFIRM_NS 1000000000ull
/* What offload_session_recheck keeps of a derivation at now under route epoch epoch, due by
 * offload_route_due with count, which moved its rules' devices or not (or failed), or found
 * the session refused (refused: enum offload_refusal; 0: not): the epoch, the count, and the
 * next back-off when the count had moved for nothing (a move ends it; a derivation due to
 * the epoch alone keeps it). A refusal makes the next derivation due
 * OFFLOAD_ROUTE_CONFIRM_NS later, count or not; true when one before found one too at least
 * that long before (the session leaves the fast path: offload_route_leave). Pure. */
bool offload_route_read(struct session *s, uint32_t count, uint32_t epoch, bool moved,
			uint8_t refused, uint64_t now);
/* Fast session s leaves the fast path at now for its routes (OFFLOAD_RECHECK_LEAVE): parked,
 * its fast open is tried again OFFLOAD_PMTU_BACKOFF_MIN s later, or at a new route epoch that
 * covers it (offload_return_due). Pure. */
void offload_route_leave(struct session *s, uint64_t now);
/* Tries, by time, of a session parked from its open (offload_open_park), for what changes its
 * open's outcome without a route event (IPv6 forwarding turned on, a neighbour's state for
 * fib_multipath_use_neigh, a map that was full, an attach a reload took off and put back
 * unseen): rare, so that sessions refused for good cost the allowance little (10,000 of them
 * about 11 tries a second). */
#define OFFLOAD_PARK_OPEN_RETRY_S 900
/* New session s's fast open was refused at now for its routes (offload_open_parks): parked
 * from its open, its fast open is tried again at a new route epoch that covers it (or covers
 * all: a device of the fast path, its hooks, a rule changed), and by time only every
 * OFFLOAD_PARK_OPEN_RETRY_S: refused for good (a client behind wg0) it would otherwise take
 * the readings' allowance about once a minute for its life. Pure. */
void offload_open_park(struct session *s, uint64_t now);
/* Whether a new session whose fast open was refused with ret (offload_session_open) is parked
 * as one that left for its routes (offload_route_leave), so that it takes the fast path when
 * they change: refused for its routes (OFFLOAD_REFUSED_ROUTE, _LEGS, _MULTIPATH6, _DEVICE: a
 * device without the program during an outage, a route by another gateway) or a route missing
 * for a while (-ENETUNREACH, -EHOSTUNREACH). Not what no route change helps: no flow slot, a
 * link-local or wildcard address, another family, a full map, any other error. Pure. */
bool offload_open_parks(int ret);
/* Whether parked session s's fast open is due at now by time alone: it left the fast path
 * (offload_route_leave) and its back-off ended, or it was parked from its open
 * OFFLOAD_PARK_OPEN_RETRY_S ago (or its last try was). Pure. */
bool offload_return_by_time(const struct session *s, uint64_t now);
/* Whether parked session s's fast open is due to be tried again at now under route epoch
 * epoch: by its back-off (offload_return_by_time), or for a new epoch (another than its last
 * try's or derivation's). With sc (a tick's scoping: struct offload_scope), one due for new
 * epochs alone is due only where a change since covers what its open looks up
 * (offload_route_scope: its client, the address it sent to, its upstream, its socket's own;
 * or a change of all): else its epoch advances past them, no try (sc->skipped), or stays
 * where the budget ran out. Without sc (or its ring), any new epoch. Pure but for the ring's
 * reading. */
struct offload_scope;
bool offload_return_due(struct session *s, uint32_t epoch, struct offload_scope *sc,
			uint64_t now);
/* What the worker keeps of a try at now of parked session s's fast open (the open recorded
 * its epoch): back on the fast path, it is no longer parked; else the next try by time backs
 * off, from OFFLOAD_PMTU_BACKOFF_MIN s doubling to OFFLOAD_PMTU_BACKOFF_MAX (one parked from
 * its open waits OFFLOAD_PARK_OPEN_RETRY_S again), and a change the scoping found covering it
 * is spent.
 * Pure. */
void offload_return_read(struct session *s, bool back, uint64_t now);
/* What offload_session_recheck did. */
enum offload_recheck {
	OFFLOAD_RECHECK_NONE,  /* nothing was due: no syscall */
	OFFLOAD_RECHECK_READ,  /* path MTUs or routes read (syscalls made), the rules as they were
				* or with a new path MTU */
	OFFLOAD_RECHECK_MOVED, /* ... and its routes had moved: the rules got their new devices */
	/* its routes derived again for a new route epoch alone (no count of its own moved, no
	 * path MTU due), as they were: its own allowance (offload_pmtu_turn.epoch_left), so that
	 * routes changing elsewhere do not hold up the sessions whose own counts ask */
	OFFLOAD_RECHECK_EPOCH,
	/* its routes moved where the fast path cannot relay it (s->fast_refused says why): the
	 * caller takes it off the fast path (offload_session_close) */
	OFFLOAD_RECHECK_LEAVE,
};
/* A tick's scoping of the route epoch: the changes recorded with it (rs: the workers' shared
 * ring; NULL: every new epoch makes each fast session due), how many of them the tick may
 * still read (a unit: one change read for one session: a few compares in memory), and what
 * it did: sessions due for the epoch alone that no change covers (their epoch advanced, no
 * derivation or try), derivations made for the epoch alone, and parked sessions' fast opens
 * tried for it alone (the worker's: offload_return_due says due, the worker tries). */
struct routescope;
struct offload_scope {
	const struct routescope *rs;
	uint32_t left;
	uint32_t skipped;
	uint32_t derived;
	uint32_t tried;
};
/* For fast session s, due for route epoch epoch alone (no count of its own moved, no refusal
 * to confirm), or parked session s due for it alone (offload_return_due): reads the changes
 * recorded since its epoch (at most sc->left, counted off) for one that covers one of the
 * addresses its derivation (or open) looks up routes for (its client, the address it sent to,
 * its upstream, its upstream socket's own). One that does, or one covering all (a rule, a
 * nexthop, a device, lost messages, a ring that went past): s is due (fast_route_hit) until
 * its next derivation (or try). Else its epoch advances past those read, and
 * past epoch when all were (counted in sc->skipped). Pure but for the ring's reading. */
void offload_route_scope(struct session *s, struct offload_scope *sc, uint32_t epoch);
/* The tick's part, under route epoch epoch: derives fast session s's rules again when
 * offload_route_due says so (for the epoch alone only with epoch_room, and with sc where a
 * change since covers its addresses, offload_route_scope: else it stays due or its epoch
 * advances), and reads again what offload_pmtu_due says (at most one reading of each
 * direction; both after a move). A session that leaves is parked (offload_route_leave). */
enum offload_recheck offload_session_recheck(const struct offload_worker *ow, struct session *s,
					     uint32_t epoch, bool epoch_room,
					     struct offload_scope *sc, uint64_t now);
/* The tick's turn over a worker's fast sessions for path MTU readings, at most per_sec a
 * second (offload_pmtu_walk): one cursor over (relay slot, session slot), so that a relay
 * whose sessions use up a second's allowance hands the next second's to the sessions after
 * them, in the relays after it. */
struct offload_pmtu_turn {
	uint32_t relay, slot; /* where the readings go on from: after the last allowance's last */
	uint32_t left;	      /* readings left this second */
	uint32_t epoch_left;  /* ... and derivations for a route epoch alone (as many a second) */
	uint64_t second_end;  /* when this second ends (ns) */
	/* the tick's budget of route changes read (offload_scope.left; NULL: none): where it
	 * runs out, the next tick goes on, as where the epoch's allowance does */
	const uint32_t *scope_left;
};
/* Reads again the path MTUs of session slot i of relay slot r if due; true when it read
 * (a reading of the allowance used). */
typedef bool offload_pmtu_read_fn(void *arg, uint32_t r, uint32_t i);
/* One tick's path MTU readings at now over n relay slots of cap[r] session slots (0: none):
 * a new second's allowance is per_sec; calls read on each slot at most once, in turn from the
 * cursor (the cursor's relay from its slot on, the relays after it, then the cursor relay's
 * slots before it) while the allowance lasts; the one that uses its last moves the cursor
 * past it. A turn the allowance lasted through moves it past the slot where the epoch's
 * allowance or the tick's scope budget ran out (t->scope_left), so the sessions after it
 * come first next. Pure but for read. */
void offload_pmtu_walk(struct offload_pmtu_turn *t, uint64_t now, uint32_t per_sec,
		       const uint32_t *cap, uint32_t n, offload_pmtu_read_fn *read, void *arg);
/* Folds what the program counted for s; returns the program's last-seen time of s (ns,
 * CLOCK_MONOTONIC) when it relayed anything since the last fold, else 0. */
uint64_t offload_session_fold(const struct offload_worker *ow, struct session *s,
			      struct relay_dir_counters *fold);

#endif
