/* SPDX-License-Identifier: MIT */
/* The XDP/tc packet filter (bpf/filter.bpf.c): load, attach, rule updates and counters. This
 * module is the only user of libbpf and of the generated skeleton. docs/filter.md explains
 * the policy (scope, fragments, rate limit across CPUs, fallback order). */
#ifndef RINGRELAY_FILTER_H
#define RINGRELAY_FILTER_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "../bpf/filter_maps.h"

struct filter; /* opaque */

/* Verdict/reason counters (enum filter_counter in bpf/filter_maps.h) and per-rule hits of
 * the active rule set, summed over CPUs. Rule hits are indexed like the config lists. */
struct filter_stats {
	uint64_t counters[FILTER_CNT__MAX];
	uint64_t deny_hits[FILTER_MAP_MAX_PREFIXES];
	uint64_t allow_hits[FILTER_MAP_MAX_PREFIXES];
	uint64_t port_hits[FILTER_MAP_MAX_PORT_RULES];
};

/* Loads the program, fills the rule maps from cfg->filter (and the relays' listen ports for
 * scope "relays") and attaches on every interface: native XDP through a BPF link, else
 * generic XDP, else tc ingress (a tcx link or a clsact filter, as filter.tc_hook says); mode
 * "xdp-generic" / "tc" start at that step. Each fallback is logged with its reason.
 * cfg->filter.mode must not be FILTER_MODE_OFF.
 * Returns 0 and *out, or -errno with one line in err naming the interface and the reason. */
int filter_new(const struct config *cfg, struct filter **out, char *err, size_t errlen);

/* Swaps in cfg's rules atomically (double buffer + active index): a packet sees either the
 * old rule set or the new one, never a mix. Changed interfaces or mode return -EOPNOTSUPP
 * (a restart is needed); on any error the old rules stay active. The relay ports of the set
 * in force stay relay ports in the new one (the workers listen there until they have taken
 * cfg), until filter_relay_ports_settle. */
int filter_update(struct filter *f, const struct config *cfg, char *err, size_t errlen);
/* Makes the relay ports of the rule set in force exactly cfg's (every worker listens on
 * those alone now), writing only the ports that change. 0 or -errno. */
int filter_relay_ports_settle(struct filter *f, const struct config *cfg);

/* Counts the rule sets made active, so a caller can undo the one an update made. */
uint32_t filter_rules_serial(const struct filter *f);
/* The version of the rule set active now: it moves (from 1 on, never back) only when a set
 * becomes active that could judge a fast session of the set it replaces otherwise (what
 * filter_judge reads: the default verdict, scope, relay_ports_only, the port table's verdicts
 * and relay ports but for new relay ports, the prefixes and their verdicts as a set), so a
 * reload that changes no rule leaves it, and the workers need not judge their fast sessions'
 * clients again (worker_cmd.judge_rules); nor does one that changes only what the program
 * alone applies (the rate limit, the unparsed verdict), adds a relay or reorders rules. */
uint64_t filter_rules_version(const struct filter *f);
/* Makes active again the rule set that was active when filter_rules_serial returned serial:
 * the one before the active set, whose generation an update leaves untouched (its hit
 * counters too), switched back with the same one store. Returns 0 (also when no set was made
 * active since), -ESTALE when more than one was, or -errno from the map. */
int filter_rules_revert(struct filter *f, uint32_t serial);

/* How the program's tc attachments are made (filter.tc_hook and filter.tc_priority when
 * it was loaded). */
enum tc_hook filter_tc_hook(const struct filter *f);
uint32_t filter_tc_priority(const struct filter *f);

/* Sums the per-CPU counters into *out. Returns 0 or -errno. */
int filter_read_stats(struct filter *f, struct filter_stats *out);
/* The verdict counters alone (out[FILTER_CNT__MAX]): what status, stats and /metrics show,
 * without the per-rule hits (a syscall per rule). 0 or -errno. */
int filter_read_counters(struct filter *f, uint64_t out[FILTER_CNT__MAX]);

/* filter_frags' entries on a host of ncpus possible CPUs: FILTER_FRAG_ENTRIES, or
 * FILTER_FRAG_PER_CPU per CPU where that is more. */
uint32_t filter_frags_size(int ncpus);

/* Stable snake_case name of a counter ("drop_prefix"), or "unknown". */
const char *filter_counter_name(enum filter_counter c);

/* Loads the program and fills the rules like filter_new, but attaches nowhere: for tests
 * (BPF_PROG_TEST_RUN) and config checks. Free with filter_free. */
int filter_open(const struct config *cfg, struct filter **out, char *err, size_t errlen);

/* File descriptors of the loaded objects, for tests and introspection: the program (tc
 * flavour when tc is true) and a map by its name in bpf/filter.bpf.c ("filter_rate").
 * Returns the fd (owned by f) or -ENOENT. */
/* What XDP program ifindex has, whoever attached it (rtnetlink, no privilege needed): *mode
 * is one of <linux/if_link.h>'s XDP_ATTACHED_*, *prog_id the program in that mode (0: none).
 * Returns 0 or -errno. */
int filter_xdp_query(int ifindex, int *mode, uint32_t *prog_id);
int filter_prog_fd(const struct filter *f, int tc);
int filter_map_fd(const struct filter *f, const char *map_name);

/* filter_open / filter_new with room for flows sessions in the fast path (offload_stats
 * entries, twice that many keys); 0 = a small default. The maps are sized once. */
int filter_open_sized(const struct config *cfg, uint32_t flows, struct filter **out, char *err,
		      size_t errlen);
int filter_new_sized(const struct config *cfg, uint32_t flows, struct filter **out, char *err,
		     size_t errlen);

/* The link ifindex is named ifname now (a link event). A filtered interface that came back
 * as ifindex: attach the filter there again (its old attachments died with the device, or
 * are taken off a device renamed meanwhile). The interfaces are the program's own, those it
 * was loaded for (a reload that changes them needs a restart). The transmit counts of the old
 * and the new ifindex stay with the names that showed them (filter_offload_xmit). One entry
 * per ifindex: the filter's entry takes over the hooks of the fast path's or shedding's own
 * entry there, which goes (an XDP hook beside a filter in generic XDP goes, and they attach
 * it again at their next apply). Such an entry of a link renamed takes the new name (its
 * counts so far stay with the old one). An attach that failed is tried again at the next call
 * for the same ifname and ifindex. Returns 1 when it attached, 0 when ifname is not one of
 * them or is attached as ifindex already, or -errno. */
int filter_relink(struct filter *f, const char *ifname, int ifindex, char *err, size_t errlen);
/* The device of ifindex is gone, and every attachment with it: what ran there is forgotten
 * (nothing is asked of the kernel), so a device that comes back, with this ifindex or another,
 * gets the filter (filter_relink), the fast path and shedding (their next judge) again. */
void filter_link_gone(struct filter *f, int ifindex);
/* The device of ifindex may have another link-layer address (a link event): reads it and, if
 * it changed, writes it to the interface's rr_ifaces entry, against which XDP's fast path
 * tells frames for this host from another host's (a promiscuous device). Returns 1 when it
 * changed, 0 when not (or ifindex is none of the program's interfaces), or -errno. */
int filter_link_mac(struct filter *f, int ifindex);

/* ---- session fast path (issue 9, docs/offload.md) */

/* Whether the filter judges ifindex's datagrams in the tc hook (mode tc, or xdp fallen back):
 * a fast path there must run in tc too, after it. */
bool filter_in_tc(struct filter *f, int ifindex);
/* Whether the filter runs in generic XDP on ifindex (mode xdp-generic, or xdp fallen back):
 * the fast path takes tc there, after it (offload.c says why). */
bool filter_in_generic_xdp(struct filter *f, int ifindex);
/* What someone else's program in generic XDP on an interface means for a tc program after
 * it. Linux 6.9+ (seen on 6.18) copies the skb for a generic program that takes frags
 * (skb_pp_cow_data) without its MAC header length, so every tc program after it is handed the
 * frame from its IP header; before 6.9, and for a program without frags, tc sees whole
 * frames. */
enum filter_foreign {
	FILTER_FOREIGN_NONE,   /* none, ours, native, one without frags, or a kernel < 6.9 */
	FILTER_FOREIGN_UNTOLD, /* its frags cannot be told: tc goes on, with a warning */
	FILTER_FOREIGN_FRAGS,  /* it takes frags: tc after it is blind */
};

struct filter_foreign_prog {
	enum filter_foreign verdict;
	uint32_t id;   /* its program id (not NONE) */
	char why[200]; /* "someone else's generic XDP program (prog N) on eth1 takes frags" or
			* "... may take frags (cannot tell: ...)" (not NONE) */
};

/* Whether a kernel of release (uname -r: "6.1.0-57-amd64", "6.18.1") copies the skb for a
 * generic XDP program with frags without its MAC header length (6.9+). One it cannot read
 * counts as new. */
bool filter_release_blinds_tc(const char *release);
/* The verdict on a generic XDP program that is not ours: blinds (filter_release_blinds_tc of
 * the running kernel) and frags, 1 or 0 when told, -errno when not (filter_xdp_prog_frags). */
enum filter_foreign filter_foreign_verdict(bool blinds, int frags);
/* Whether XDP program id takes frags: 1 or 0, -EPERM when it cannot be opened (that needs
 * CAP_SYS_ADMIN), -ENOMSG when it fits beside none of the reference programs (an attach type
 * other than BPF_XDP or none, an freplace extension), or another -errno. */
int filter_xdp_prog_frags(uint32_t id);
/* What runs in generic XDP on ifindex, judged for a tc program after it, into *out (on a
 * kernel before 6.9 nothing is asked: NONE). A program's result is remembered by its id (ids
 * are not reused while it lives). */
void filter_xdp_foreign(struct filter *f, int ifindex, struct filter_foreign_prog *out);
/* True the first time it is asked for program id (then false): the fast path warns of an
 * untold program once, not at every link event. */
bool filter_foreign_first_warning(struct filter *f, uint32_t id);
/* Runs the fast path on ifindex: in the XDP hook (native only; xdp_tx: the device takes
 * XDP_REDIRECT, so it is a redirect target) or the tc hook (tcx link, else a clsact filter).
 * The filter keeps running where it runs. 0 or -errno with err set: for XDP, "IF has no
 * native XDP (why)", for the caller's reason line (the caller takes tc then). */
int filter_offload_attach(struct filter *f, int ifindex, bool xdp, bool xdp_tx, char *err,
			  size_t errlen);
/* Stops the fast path on ifindex in the XDP hook (xdp) and in the tc hook (tc), detaching
 * what only it needed there; the other hook keeps running. */
void filter_offload_detach(struct filter *f, int ifindex, bool xdp, bool tc);

/* What an interface looked like to a fast path attach the kernel refused. A change of any of
 * it may let an attach through that was refused: a new MTU, channel counts (ethtool -L: a
 * driver with too few or too many queues for XDP), offloads (ethtool -K: LRO, rx-gro-hw, which
 * some drivers refuse XDP beside), the driver's xdp-features, the program another holds its
 * XDP hook with, the filters in its clsact qdisc (another's at our tc priority). */
struct filter_xdp_shape {
	uint32_t mtu;
	uint32_t channels[4]; /* ETHTOOL_GCHANNELS now: rx, tx, other, combined (0: not told) */
	uint64_t offloads;    /* its active netdev features (ETHTOOL_GFEATURES), 0: not told */
	uint64_t xdp_features; /* UINT64_MAX: unknown (no netdev netlink family) */
	uint32_t xdp_prog;     /* the program in its XDP hook (filter_xdp_query), 0: none */
	int xdp_mode;	       /* XDP_ATTACHED_* */
	uint32_t tc_filters;   /* netlink_clsact_filters (UINT32_MAX: unknown) */
};
/* ifindex's shape now: 0 or -errno. */
int filter_xdp_shape(int ifindex, struct filter_xdp_shape *out);
/* A fast path attach the kernel refused on an interface: native XDP, or tc. */
struct filter_refusal {
	int err;		       /* -errno */
	bool tc;		       /* the tc attach (else native XDP) */
	uint64_t at;		       /* when (CLOCK_MONOTONIC, s) */
	struct filter_xdp_shape shape; /* the interface then */
};
/* The last such refusal of hook tc (else native XDP) on ifindex: kept until an attach in that
 * hook there succeeds, the device goes (filter_link_gone) or filter_offload_forget (a
 * reload); whether it still holds is the caller's judgement (offload_refusal_holds). 1 with
 * *out, or 0. */
int filter_offload_refused(const struct filter *f, int ifindex, bool tc, struct filter_refusal *out);
/* Forgets every refusal kept (a reload: the operator may have fixed the cause in a way no
 * shape shows). */
void filter_offload_forget(struct filter *f);
/* XDP attaches tried and XDP detaches made since the program was loaded: each re-makes the
 * interface's NAPI instances (their per-NAPI settings go), also when the set of interfaces
 * in XDP is the same after them. */
uint64_t filter_xdp_changes(const struct filter *f);

struct filter_offload_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	bool xdp, tc, xdp_tx;
};
/* How many fast path hooks were attached or detached so far (wraps): one that went and came
 * back in a call (a tc hook taken off for an XDP attach the driver then refused) changed
 * something though the hooks are as they were. f may be NULL: 0. */
uint32_t filter_offload_hook_changes(const struct filter *f);
/* The interfaces the fast path runs on; returns how many were written (<= max). */
int filter_offload_ifaces(const struct filter *f, struct filter_offload_iface *out, int max);
/* How the fast path runs on an interface (filter_offload_hooks). */
#define FILTER_HOOK_XDP 1u    /* in the XDP hook: it redirects only to targets */
#define FILTER_HOOK_TC 2u     /* in the tc hook (bpf_redirect_neigh: to any device) */
#define FILTER_HOOK_TARGET 4u /* an XDP redirect target (offload_tx) */
/* The FILTER_HOOK_* that hold for ifindex (0: the fast path does not run there and XDP does
 * not redirect to it), or -errno. It reads the program's maps, so a worker may ask (the
 * interface table is the control thread's). */
int filter_offload_hooks(const struct filter *f, int ifindex);

/* Whether the filter stage judges the datagrams that arrive on ifindex: its rr_ifaces entry
 * says it runs there (XDP or tc) or on every device below it (RR_IFACE_JUDGED_BELOW), or
 * there is none (the program's default, where attached). 1, 0 or -errno. It reads the
 * program's map, so a worker may ask. */
int filter_iface_judges(const struct filter *f, int ifindex);
/* Works out again, for every interface of ours, whether the filter runs on every device
 * below it, and publishes what changed (RR_IFACE_JUDGED_BELOW; a link event may have moved
 * the devices below, or the filter on them). Returns how many changed, or -errno. */
int filter_below_sync(struct filter *f);

/* Redirect targets the kernel refused a frame for since they were (re)checked: up to max
 * ifindexes into out, returns how many. filter_offload_up takes one back into use. */
int filter_offload_down(struct filter *f, int *out, int max);
void filter_offload_up(struct filter *f, int ifindex);
/* The device of ifindex is gone: its down mark and transmit counts go (both maps hold
 * RR_IFACES_MAX targets, and a device that gets the ifindex next starts clean); the counts
 * stay in its name's series (filter_offload_xmit). */
void filter_offload_gone(struct filter *f, int ifindex);

/* Installs or removes one direction of a session (bpf/filter_maps.h). 0 or -errno. The
 * removal takes the entry of k only while it is still the session's own (its rule's flow is
 * flow): another session that installed the same key since keeps its entry. */
int filter_offload_set(struct filter *f, const struct offload_key *k, const struct offload_rule *r);
int filter_offload_del(struct filter *f, const struct offload_key *k, uint32_t flow);
/* Sets the path MTU of k's rule while it is still flow's, and its TTL / hop limit unless ttl is
 * negative (0 or -errno; -ENOENT when gone). No update when they are as they were. */
int filter_offload_set_mtu(struct filter *f, const struct offload_key *k, uint32_t flow,
			   uint16_t path_mtu, int ttl);
/* Gives k's rule, while it is still from->flow's, from's devices (oif, iif) and by_policy,
 * keeping the rest: 1 when they changed, 0 when they were the same, or -errno (-ENOENT when
 * gone). */
int filter_offload_set_route(struct filter *f, const struct offload_key *k,
			     const struct offload_rule *from);
/* The program's counters of flow slot flow (mmapped: reading costs no syscall), or NULL. */
const struct offload_flow_stats *filter_offload_flow(const struct filter *f, uint32_t flow);
uint32_t filter_offload_flows(const struct filter *f);
/* enum offload_counter summed over CPUs. */
int filter_offload_counters(struct filter *f, uint64_t out[OFFLOAD_CNT__MAX]);
const char *filter_offload_counter_name(enum offload_counter c);
/* Frames a driver refused (drops) or took (sent) after XDP_REDIRECT to ifindex, with what
 * interfaces of its name since gone counted (the series is by name). */
int filter_offload_xmit(struct filter *f, int ifindex, uint64_t *drops, uint64_t *sent);
struct bpfbase_xmit;
/* Makes the n in into (at most BPFBASE_XMIT_ROWS) again, by name: every xmit count the
 * program holds added to what into had, rows given to its interfaces' names first, then to
 * those of interfaces gone while it ran, then to into's other names (for bpfbase, before the
 * program is unloaded). */
void filter_xmit_counts(struct filter *f, struct bpfbase_xmit *into, uint32_t n);
/* 1 when the active rules deny datagrams from client to local (the filter's judgement minus
 * the rate limit), 0 when not, -errno. */
int filter_client_denied(struct filter *f, const struct addr *client, const struct addr *local);
/* The same for many clients: what filter_client_denied reads for each once, from the program's
 * maps (so on any thread): the generation in force and its settings (FILTER_JUDGE_BEGIN_CALLS
 * lookups), and the last local port's entry. A judgement then costs FILTER_JUDGE_CALLS_MAX map
 * lookups at most: the port's entry when it is another port than the last's, the prefix trie.
 * calls counts the lookups made, begin's included. */
#define FILTER_JUDGE_BEGIN_CALLS 2
#define FILTER_JUDGE_CALLS_MAX 2
struct filter_judge {
	bool on; /* the filter judges (its mode is not off) */
	uint32_t gen;
	struct filter_settings settings;
	uint32_t port, entry; /* the last local port looked up (UINT32_MAX: none) and its entry */
	uint32_t calls;
};
/* Starts judging with the rules active now. 0 or -errno. */
int filter_judge_begin(struct filter *f, struct filter_judge *j);
/* filter_client_denied(f, client, local) by j's rules: 1, 0, or -errno. */
int filter_judge(struct filter *f, struct filter_judge *j, const struct addr *client,
		 const struct addr *local);

/* ---- early shedding (issue 10, docs/offload.md) */

/* How the attached program reads a listener's socket: not at all (no shedding), with the
 * bpf_rdonly_cast kfunc (Linux 6.3), or with bpf_probe_read_kernel (older kernels). */
enum filter_shed_reader {
	FILTER_SHED_NONE,
	FILTER_SHED_KFUNC,
	FILTER_SHED_PROBE,
};

/* True when the shedding programs loaded (they are the ones attached then); else *why (owned
 * by f) says why not. */
bool filter_shed_loaded(const struct filter *f, const char **why);
enum filter_shed_reader filter_shed_reader(const struct filter *f);
/* filter_open, trying the shedding programs from first on: FILTER_SHED_PROBE loads the ones
 * a kernel before 6.3 gets, for tests on a newer one. */
int filter_open_shed_reader(const struct config *cfg, enum filter_shed_reader first,
			    struct filter **out, char *err, size_t errlen);
/* Makes the listen addresses of cfg's relays with on[i] (cfg->n_relays entries) the ones the
 * program sheds for. A relay keeps its counter slot by name; a relay gone gives it back.
 * 0 or -errno (-ENOSPC: more than SHED_SLOTS relays). No-op when shedding did not load. */
int filter_shed_listeners(struct filter *f, const struct config *cfg, const bool *on);
/* Runs the shed stage on ifindex: in an XDP program another stage put there, or the
 * filter's tc one; else in native XDP when xdp_early (shed.c decides: shed_hook, and for
 * auto where XDP runs before the work that reaches the workers, see rxpath_xdp_early), else
 * (or where native XDP fails) in tc. Called again, it moves the stage when its hook should
 * change (RPS turned on or off, shed_hook, the other stages' hooks): attached in the new
 * hook before it leaves the old one; a move that fails leaves it where it runs. 0 or -errno
 * with err set. */
int filter_shed_attach(struct filter *f, int ifindex, bool xdp_early, char *err, size_t errlen);
/* Stops it there (detaches what only it needed). */
void filter_shed_detach(struct filter *f, int ifindex);

struct filter_shed_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	bool xdp;     /* else tc */
	bool generic; /* XDP in generic (skb) mode */
};
/* The interfaces the shed stage runs on; returns how many were written (<= max). */
int filter_shed_ifaces(const struct filter *f, struct filter_shed_iface *out, int max);
/* Datagrams shed for relay name since it got its slot (0 without one), by reason: the socket
 * was full, or past seven eighths full and the flow heavy. */
int filter_shed_dropped(struct filter *f, const char *name, uint64_t *full, uint64_t *heavy);
/* enum shed_counter summed over CPUs. */
int filter_shed_counters(struct filter *f, uint64_t out[SHED_CNT__MAX]);
const char *filter_shed_counter_name(enum shed_counter c);

/* Detaches every hook (nothing runs the program after it) and removes the pins, but keeps
 * the program and its maps: for an exit that leaves a worker using them. NULL and repeat
 * safe. */
void filter_detach(struct filter *f);
/* Detaches everything and frees; NULL and double call safe (f is freed: pass it once). */
void filter_free(struct filter *f);

#endif
