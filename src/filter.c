// SPDX-License-Identifier: MIT
/* Loader for bpf/filter.bpf.c: the only user of libbpf and of the generated skeleton.
 * Rules live in two generations (double buffer); an update fills the idle one and flips
 * filter_active, so a packet is judged by one whole rule set. See docs/filter.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>

#include "bpfbase.h"
#include "filter.h"
#include "filter.skel.h"
#include "log.h"
#include "netlink.h"

_Static_assert(FILTER_MAP_MAX_PREFIXES == FILTER_MAX_PREFIXES, "filter_maps.h vs config.h");
_Static_assert(FILTER_MAP_MAX_PORT_RULES == FILTER_MAX_PORT_RULES, "filter_maps.h vs config.h");
_Static_assert(FILTER_MAX_PORT_RULES <= (1u << (32 - FILTER_PORT_RULE_SHIFT)), "port rule id");

#define FILTER_PIN_DIR "/sys/fs/bpf/ringrelay"
/* tc filter identity on the clsact ingress hook: fixed, so we remove exactly ours. */
#define FILTER_TC_HANDLE 0x5252

/* tcx (BPF links for tc, 6.6) is newer than Debian 12's UAPI headers and libbpf 1.1. */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#endif
/* Flow slots when the caller does not size the fast path (tests, config checks). */
#define FILTER_DEFAULT_FLOWS 1024

enum filter_attach {
	FILTER_ATTACH_NONE,
	FILTER_ATTACH_XDP_DRV,
	FILTER_ATTACH_XDP_SKB,
	FILTER_ATTACH_TC
};

/* One interface the program runs on, and at which hooks. The filter's interfaces come first
 * (fixed at filter_new); the fast path adds and removes others. */
/* rr_ifaces flags by stage and by hook. */
#define IFACE_FILTER (RR_IFACE_FILTER_XDP | RR_IFACE_FILTER_TC)
#define IFACE_OFFLOAD (RR_IFACE_OFFLOAD_XDP | RR_IFACE_OFFLOAD_TC)
#define IFACE_SHED (RR_IFACE_SHED_XDP | RR_IFACE_SHED_TC)
#define IFACE_STAGES_XDP (RR_IFACE_OFFLOAD_XDP | RR_IFACE_SHED_XDP) /* the fast path's, shedding's */
#define IFACE_STAGES_TC (RR_IFACE_OFFLOAD_TC | RR_IFACE_SHED_TC)
#define IFACE_HOOK_XDP (RR_IFACE_FILTER_XDP | IFACE_STAGES_XDP) /* all that run in XDP */
#define IFACE_HOOK_TC (RR_IFACE_FILTER_TC | IFACE_STAGES_TC)

struct filter_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	enum filter_attach kind; /* how the filter is attached (NONE: fast path only) */
	int xdp_link;		 /* XDP attachment (BPF link), or -1 */
	bool xdp_generic;
	int tc_link;		 /* tcx link, or -1 */
	bool tc_legacy;		 /* classic clsact filter with our handle (kernels < 6.6) */
	uint32_t tc_priority;	 /* ... and filter.tc_priority */
	bool hook_created;	 /* ... and we created clsact, so we destroy it */
	uint32_t flags;		 /* RR_IFACE_* as written to rr_ifaces */
	bool judged_below;	 /* ... and RR_IFACE_JUDGED_BELOW (filter_judged_below) */
	uint8_t mac[6];		 /* the device's address, as written there (filter_link_mac) */
	bool filter_iface;	 /* one of filter.interfaces */
	bool renamed;		 /* ... whose link has another name now (said once) */
};

/* One entry of the prefix trie as an update wrote it. */
struct filter_prefix_rule {
	struct filter_lpm_key key;
	struct filter_lpm_val val;
};
#define FILTER_GEN_PREFIXES (2 * FILTER_MAX_PREFIXES) /* deny and allow */

struct filter {
	struct filter_bpf *skel;
	enum filter_mode mode;
	enum tc_hook tc_hook; /* fixed at start: attachments of both kinds never mix */
	uint32_t tc_priority; /* fixed at start: a classic filter is ours by handle and this */
	struct filter_iface ifaces[RR_IFACES_MAX];
	uint32_t n_ifaces;
	uint32_t n_filter_ifaces;
	uint32_t offload_hook_changes; /* fast path hooks attached or detached (control thread) */
	/* What the offload_xmit entries of interfaces since gone counted, by name: added to a
	 * new interface's of the same name, so its series goes on (filter_offload_xmit). */
	struct bpfbase_xmit xmit_gone[BPFBASE_XMIT_ROWS];
	bool xmit_gone_full; /* ... one name found no room there: said once */
	uint32_t active;		  /* generation the program uses */
	uint32_t serial;		  /* rule sets made active (filter_rules_revert) */
	uint32_t n_rules[FILTER_GENS][3]; /* deny, allow, ports per generation */
	/* What each generation's port table holds, so an update writes only what changed
	 * (a full 64K-entry batch costs milliseconds). NULL until first fully written. */
	uint32_t *ports_shadow[FILTER_GENS];
	/* ... and its settings and prefixes (the generation byte and rule id left 0, sorted), as
	 * last written: whole when written[gen]. With the port table they are the compiled rule
	 * set, of which filter_rules_version compares what filter_judge reads. */
	struct filter_settings settings[FILTER_GENS];
	struct filter_prefix_rule *prefixes[FILTER_GENS]; /* FILTER_GEN_PREFIXES each */
	uint32_t n_prefixes[FILTER_GENS];
	bool written[FILTER_GENS];
	uint64_t rules_version; /* filter_rules_version */
	int ncpus;
	bool pinned;
	int pin_lock;			   /* FILTER_PIN_DIR, flock()ed while pinned, or -1 */
	uint32_t flows;			   /* offload_stats entries */
	struct offload_flow_stats *stats; /* offload_stats, mmapped */
	struct bpf_link *xmit_trace;	   /* xdp:xdp_devmap_xmit, while XDP redirects */
	struct bpf_link *redirect_err_trace; /* xdp:xdp_redirect_err, alongside */
	bool trace_warned;		     /* one of them would not attach: said once */
	/* Others' generic XDP programs judged by filter_xdp_foreign, by program id (never
	 * reused while the program lives): telling needs CAP_SYS_ADMIN, which a re-attach after
	 * the privileges were dropped no longer has, and a program that could not be told then
	 * (or fits no reference) cannot be later either. warned: the fast path said so. */
	struct filter_foreign_seen {
		uint32_t id;
		int frags; /* filter_xdp_prog_frags: 1, 0, -EPERM or -ENOMSG */
		bool warned;
	} foreign[8];
	bool blinds_tc; /* filter_release_blinds_tc of the running kernel */
	uint32_t n_foreign;
	/* Early shedding: which shed_* programs loaded (and are the ones attached), or why
	 * none; each relay's counter slot, kept by name across reloads. */
	enum filter_shed_reader shed;
	char shed_why[160];
	/* A slot whose relay is gone keeps its name and counts until another relay needs it,
	 * so a relay that comes back (a refused reload's rollback) goes on counting. */
	char shed_slot[SHED_SLOTS][CONFIG_NAME_LEN];
	/* Fast path attaches refused, per ifindex and hook (filter_offload_refused), so that
	 * every link event does not try them again on an interface that changed nothing
	 * (docs/offload.md "Modes"); the oldest goes when it is full. */
	struct {
		int ifindex;
		struct filter_refusal r;
	} refused[2 * RR_IFACES_MAX];
	uint32_t n_refused;
	uint64_t xdp_changes; /* filter_xdp_changes */
};

/* The program attached in each hook: the shed_* flavour that loaded, else filter_*. */
static struct bpf_program *filter_bpf_prog(const struct filter_bpf *skel,
					   enum filter_shed_reader shed, bool tc)
{
	switch (shed) {
	case FILTER_SHED_KFUNC:
		return tc ? skel->progs.shed_tc : skel->progs.shed_xdp;
	case FILTER_SHED_PROBE:
		return tc ? skel->progs.shed_tc_compat : skel->progs.shed_xdp_compat;
	case FILTER_SHED_NONE:
		break;
	}
	return tc ? skel->progs.filter_tc : skel->progs.filter_xdp;
}

/* The XDP program for generic XDP: the flavour without frags (bpf/filter.bpf.c says why). */
static struct bpf_program *filter_bpf_prog_skb(const struct filter_bpf *skel,
					       enum filter_shed_reader shed)
{
	switch (shed) {
	case FILTER_SHED_KFUNC:
		return skel->progs.shed_xdp_skb;
	case FILTER_SHED_PROBE:
		return skel->progs.shed_compat_skb;
	case FILTER_SHED_NONE:
		break;
	}
	return skel->progs.filter_xdp_skb;
}

static int filter_prog(const struct filter *f, bool tc)
{
	return bpf_program__fd(filter_bpf_prog(f->skel, f->shed, tc));
}

/* One libbpf message as one log line at lvl. */
static void filter_libbpf_line(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_msg(lvl, "libbpf: %s", line);
}

static int filter_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	filter_libbpf_line(level == LIBBPF_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG, fmt, ap);
	return 0;
}

/* While trying the shedding flavour: its failure is reported in one line by the caller, so
 * libbpf's verifier log goes to debug. */
static int filter_libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	filter_libbpf_line(LOG_LVL_DEBUG, fmt, ap);
	return 0;
}

uint32_t filter_frags_size(int ncpus)
{
	uint64_t per_cpu = (uint64_t)FILTER_FRAG_PER_CPU * (uint64_t)(ncpus > 0 ? ncpus : 1);

	return per_cpu > FILTER_FRAG_ENTRIES ? (uint32_t)per_cpu : FILTER_FRAG_ENTRIES;
}

const char *filter_counter_name(enum filter_counter c)
{
	static const char *const names[FILTER_CNT__MAX] = {
	    [FILTER_CNT_PASS_NOT_IP] = "pass_not_ip",
	    [FILTER_CNT_PASS_NOT_UDP] = "pass_not_udp",
	    [FILTER_CNT_PASS_OUT_OF_SCOPE] = "pass_out_of_scope",
	    [FILTER_CNT_PASS_UNPARSED] = "pass_unparsed",
	    [FILTER_CNT_PASS_FRAGMENT] = "pass_fragment",
	    [FILTER_CNT_ALLOW] = "allow",
	    [FILTER_CNT_DROP_PREFIX] = "drop_prefix",
	    [FILTER_CNT_DROP_DEFAULT] = "drop_default",
	    [FILTER_CNT_DROP_PORT] = "drop_port",
	    [FILTER_CNT_DROP_NOT_RELAY_PORT] = "drop_not_relay_port",
	    [FILTER_CNT_DROP_RATE] = "drop_rate",
	    [FILTER_CNT_DROP_MALFORMED] = "drop_malformed",
	    [FILTER_CNT_DROP_FRAGMENT] = "drop_fragment",
	    [FILTER_CNT_DROP_FRAGMENT_OF_DROPPED] = "drop_fragment_of_dropped",
	    [FILTER_CNT_DROP_EXT_HEADERS] = "drop_ext_headers",
	    [FILTER_CNT_DROP_UNPARSED] = "drop_unparsed",
	    [FILTER_CNT_PASS_NO_MAC] = "pass_no_mac",
	};

	if ((unsigned int)c >= FILTER_CNT__MAX || !names[c])
		return "unknown";
	return names[c];
}

/* A 128-bit mask of the first bits bits. */
static void filter_mask(uint8_t mask[16], unsigned int bits)
{
	unsigned int i;

	for (i = 0; i < 16; i++)
		mask[i] = bits >= 8 * (i + 1) ? 0xff
			  : bits <= 8 * i     ? 0
					      : (uint8_t)(0xff << (8 - bits % 8));
}

static void filter_settings_from(const struct filter_conf *fc, struct filter_settings *s)
{
	uint32_t burst = fc->rate_burst ? fc->rate_burst : fc->rate_pps;

	memset(s, 0, sizeof(*s));
	s->default_deny = fc->default_verdict == FILTER_VERDICT_DENY;
	s->scope = fc->scope == FILTER_SCOPE_UDP ? FILTER_SCOPE_KIND_UDP : FILTER_SCOPE_KIND_RELAYS;
	s->relay_ports_only = fc->relay_ports_only;
	s->unparsed_drop = fc->unparsed == FILTER_VERDICT_DENY;
	filter_mask(s->rate_mask4, 96 + (fc->rate_prefix4 ? fc->rate_prefix4 : 32));
	filter_mask(s->rate_mask6, fc->rate_prefix6 ? fc->rate_prefix6 : 128);
	if (fc->rate_pps) {
		s->rate_interval_ns = 1000000000ull / fc->rate_pps;
		if (!s->rate_interval_ns)
			s->rate_interval_ns = 1;
		s->rate_burst_ns = (uint64_t)(burst ? burst : 1) * s->rate_interval_ns;
	}
}

/* Marks cfg's relay listen ports in vals[FILTER_PORTS]. */
static void filter_relay_ports(const struct config *cfg, uint32_t *vals)
{
	uint32_t r, i;

	for (r = 0; r < cfg->n_relays; r++)
		for (i = 0; i < cfg->relays[r].n_listen; i++)
			vals[addr_port(&cfg->relays[r].listen[i])] |= FILTER_PORT_RELAY;
}

/* Port table of one generation: relay listen ports, then port rules (first rule wins). The
 * relay ports of the generation in force stay relay ports too (filter_relay_ports_settle). */
static int filter_fill_ports(struct filter *f, const struct config *cfg, uint32_t gen)
{
	const struct filter_conf *fc = &cfg->filter;
	const uint32_t *in_force = f->ports_shadow[gen ^ 1];
	uint32_t *vals, *keys, count = FILTER_PORTS, r, p;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int fd = bpf_map__fd(f->skel->maps.filter_ports), ret = 0;

	vals = calloc(FILTER_PORTS, sizeof(*vals));
	keys = calloc(FILTER_PORTS, sizeof(*keys));
	if (!vals || !keys) {
		ret = -ENOMEM;
		goto out_free;
	}
	filter_relay_ports(cfg, vals);
	for (p = 0; in_force && p < FILTER_PORTS; p++)
		vals[p] |= in_force[p] & FILTER_PORT_RELAY;
	for (r = 0; r < fc->n_ports; r++) {
		for (p = fc->ports[r].lo; p <= fc->ports[r].hi && p < FILTER_PORTS; p++) {
			if (vals[p] & FILTER_PORT_RULE)
				continue;
			vals[p] |= FILTER_PORT_RULE | (r << FILTER_PORT_RULE_SHIFT);
			if (fc->ports[r].verdict == FILTER_VERDICT_DENY)
				vals[p] |= FILTER_PORT_DENY;
		}
	}
	if (f->ports_shadow[gen]) {
		uint32_t *old = f->ports_shadow[gen];

		for (p = 0; p < FILTER_PORTS; p++) {
			uint32_t key = gen * FILTER_PORTS + p;

			if (old[p] == vals[p])
				continue;
			ret = bpf_map_update_elem(fd, &key, &vals[p], BPF_ANY);
			if (ret < 0) {
				/* Partly written: forget the shadow, rewrite all next time. */
				free(f->ports_shadow[gen]);
				f->ports_shadow[gen] = NULL;
				goto out_free;
			}
			old[p] = vals[p];
		}
		ret = 0;
		goto out_free;
	}
	for (p = 0; p < FILTER_PORTS; p++)
		keys[p] = gen * FILTER_PORTS + p;
	ret = bpf_map_update_batch(fd, keys, vals, &count, &opts);
	/* Kernels without batch ops on arrays: one update per port. */
	for (p = ret < 0 ? 0 : FILTER_PORTS; p < FILTER_PORTS; p++) {
		ret = bpf_map_update_elem(fd, &keys[p], &vals[p], BPF_ANY);
		if (ret < 0)
			goto out_free;
	}
	ret = 0;
	f->ports_shadow[gen] = vals; /* now owned by f */
	vals = NULL;
out_free:
	free(keys);
	free(vals);
	return ret;
}

/* Removes every prefix of one generation (collect first: deleting while walking a trie
 * could skip keys). A walk that fails before the end fails the whole: prefixes left behind
 * would be judged with the next rules. */
static int filter_clear_prefixes(struct filter *f, uint32_t gen)
{
	int fd = bpf_map__fd(f->skel->maps.filter_prefixes), ret = 0;
	size_t n = 0, cap = FILTER_GENS * 2 * FILTER_MAX_PREFIXES, i;
	struct filter_lpm_key *keys, cur, next;
	void *prev = NULL;

	keys = calloc(cap, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	while (n < cap) {
		ret = bpf_map_get_next_key(fd, prev, &next);
		if (ret < 0)
			break;
		if (next.data[0] == gen)
			keys[n++] = next;
		cur = next;
		prev = &cur;
	}
	if (ret == -ENOENT) /* the end */
		ret = 0;
	for (i = 0; ret == 0 && i < n; i++) {
		ret = bpf_map_delete_elem(fd, &keys[i]);
		if (ret < 0 && ret != -ENOENT)
			break;
		ret = 0;
	}
	free(keys);
	return ret;
}

static void filter_lpm_key_from(const struct prefix *pfx, uint32_t gen, struct filter_lpm_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = FILTER_LPM_GEN_BITS + pfx->len;
	k->data[0] = (uint8_t)gen;
	memcpy(&k->data[1], pfx->bytes, 16);
}

/* Writes key -> val into generation gen's prefixes, and into its copy: the prefix and its
 * verdict, what filter_judge reads (not the rule id, which the rule's place in its list
 * gives). 0 or -errno. */
static int filter_prefix_add(struct filter *f, uint32_t gen, struct filter_lpm_key *key,
			     struct filter_lpm_val val)
{
	struct filter_prefix_rule *copy = &f->prefixes[gen][f->n_prefixes[gen]++];
	int ret = bpf_map_update_elem(bpf_map__fd(f->skel->maps.filter_prefixes), key, &val,
				      BPF_ANY);

	copy->key = *key;
	copy->key.data[0] = 0;
	copy->val = (struct filter_lpm_val){ .verdict = val.verdict };
	return ret;
}

static int filter_prefix_rule_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct filter_prefix_rule));
}

/* Generation gen's copies as a set (sorted; the config lists each prefix once): the same
 * rules in another order compare alike (filter_gens_alike). */
static void filter_prefixes_sort(struct filter *f, uint32_t gen)
{
	qsort(f->prefixes[gen], f->n_prefixes[gen], sizeof(*f->prefixes[gen]),
	      filter_prefix_rule_cmp);
}

static int filter_fill_prefixes(struct filter *f, const struct config *cfg, uint32_t gen, char *err,
				size_t errlen)
{
	const struct filter_conf *fc = &cfg->filter;
	struct filter_lpm_val val;
	struct filter_lpm_key key;
	uint32_t i, j;
	int ret;

	if (!f->prefixes[gen])
		f->prefixes[gen] = calloc(FILTER_GEN_PREFIXES, sizeof(*f->prefixes[gen]));
	if (!f->prefixes[gen]) {
		snprintf(err, errlen, "filter: out of memory");
		return -ENOMEM;
	}
	f->n_prefixes[gen] = 0;
	ret = filter_clear_prefixes(f, gen);
	if (ret < 0) {
		snprintf(err, errlen, "filter: clearing old prefixes: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; i < fc->n_deny; i++) {
		filter_lpm_key_from(&fc->deny[i].prefix, gen, &key);
		val = (struct filter_lpm_val){FILTER_RULE_DENY, FILTER_RULE_DENY_BASE + i};
		ret = filter_prefix_add(f, gen, &key, val);
		if (ret < 0)
			goto err_map;
	}
	for (i = 0; i < fc->n_allow; i++) {
		filter_lpm_key_from(&fc->allow[i].prefix, gen, &key);
		/* Same prefix in both lists: no longest prefix can settle it. (A trie lookup
		 * would return the longest match, not the exact key, so compare here.) */
		for (j = 0; j < fc->n_deny; j++) {
			if (fc->deny[j].prefix.len != fc->allow[i].prefix.len ||
			    memcmp(fc->deny[j].prefix.bytes, fc->allow[i].prefix.bytes, 16))
				continue;
			snprintf(err, errlen,
				 "%s:%d: filter.allow: prefix is also in filter.deny "
				 "(line %d); remove one of them",
				 cfg->path, fc->allow[i].line, fc->deny[j].line);
			return -EINVAL;
		}
		val = (struct filter_lpm_val){FILTER_RULE_ALLOW, FILTER_RULE_ALLOW_BASE + i};
		ret = filter_prefix_add(f, gen, &key, val);
		if (ret < 0)
			goto err_map;
	}
	filter_prefixes_sort(f, gen);
	return 0;
err_map:
	snprintf(err, errlen, "filter: adding prefix to the BPF trie: %s", strerror(-ret));
	return ret;
}

/* Zeroes one generation's rule-hit counters so the new rules start from 0. */
static int filter_clear_hits(struct filter *f, uint32_t gen)
{
	int fd = bpf_map__fd(f->skel->maps.filter_rule_hits), ret = 0;
	uint64_t *zero = calloc((size_t)f->ncpus, sizeof(*zero));
	uint32_t i, key;

	if (!zero)
		return -ENOMEM;
	for (i = 0; i < FILTER_RULES; i++) {
		uint32_t r = i;

		/* Only the ids a rule set can use: skip the gaps between the lists. */
		if ((r >= f->n_rules[gen][0] && r < FILTER_RULE_ALLOW_BASE) ||
		    (r >= FILTER_RULE_ALLOW_BASE + f->n_rules[gen][1] &&
		     r < FILTER_RULE_PORT_BASE) ||
		    r >= FILTER_RULE_PORT_BASE + f->n_rules[gen][2])
			continue;
		key = gen * FILTER_RULES + r;
		ret = bpf_map_update_elem(fd, &key, zero, BPF_ANY);
		if (ret < 0)
			break;
	}
	free(zero);
	return ret;
}

/* The switch: one 4-byte store the program reads once per packet. Returns 0 or -errno. */
static int filter_activate(struct filter *f, uint32_t gen)
{
	uint32_t zero = 0;
	int ret;

	ret = bpf_map_update_elem(bpf_map__fd(f->skel->maps.filter_active), &zero, &gen, BPF_ANY);
	if (ret < 0)
		return ret;
	f->active = gen;
	return 0;
}

/* Whether port tables a (the set becoming active) and b (the one it replaces) give every
 * session of b the same verdict (filter_judge): the relay, rule and deny bits (not a port
 * rule's index: its hit counter's), but for relay ports a adds, on which no session of b is
 * (b's relay ports are every port a worker listens on under it: filter_fill_ports keeps those
 * in force). Removed ones count (a revert). */
static bool filter_ports_alike(const uint32_t *a, const uint32_t *b)
{
	const uint32_t judged = FILTER_PORT_RELAY | FILTER_PORT_RULE | FILTER_PORT_DENY;
	uint32_t p;

	for (p = 0; p < FILTER_PORTS; p++)
		if ((a[p] ^ b[p]) & judged & ~(a[p] & ~b[p] & FILTER_PORT_RELAY))
			return false;
	return true;
}

/* Whether generation a, becoming active, judges every fast session of generation b as b did:
 * what filter_judge reads alike. Settings: the default verdict, scope and relay_ports_only
 * (not the rate limit nor the unparsed verdict, which only the program applies, to each
 * datagram); the port table (filter_ports_alike); the prefixes and their verdicts, as a set
 * (filter_fill_prefixes sorts the copies). */
static bool filter_gens_alike(const struct filter *f, uint32_t a, uint32_t b)
{
	const struct filter_settings *sa = &f->settings[a], *sb = &f->settings[b];

	return f->written[a] && f->written[b] && f->ports_shadow[a] && f->ports_shadow[b] &&
	       sa->default_deny == sb->default_deny && sa->scope == sb->scope &&
	       sa->relay_ports_only == sb->relay_ports_only &&
	       f->n_prefixes[a] == f->n_prefixes[b] &&
	       !memcmp(f->prefixes[a], f->prefixes[b],
		       f->n_prefixes[a] * sizeof(*f->prefixes[a])) &&
	       filter_ports_alike(f->ports_shadow[a], f->ports_shadow[b]);
}

/* Makes generation gen active; the rule set's version moves when gen's rules are not those of
 * the generation it replaces. Returns 0 or -errno. */
static int filter_switch(struct filter *f, uint32_t gen)
{
	bool alike = filter_gens_alike(f, gen, f->active);
	int ret = filter_activate(f, gen);

	if (ret == 0 && !alike)
		f->rules_version++;
	return ret;
}

/* Frees what f keeps of the rules it wrote. */
static void filter_copies_free(struct filter *f)
{
	uint32_t i;

	for (i = 0; i < FILTER_GENS; i++) {
		free(f->ports_shadow[i]);
		free(f->prefixes[i]);
	}
}

/* Fills the idle generation from cfg and makes it active. On error the old one stays. */
static int filter_apply(struct filter *f, const struct config *cfg, char *err, size_t errlen)
{
	uint32_t gen = f->active ^ 1;
	struct filter_settings s;
	int ret;

	filter_settings_from(&cfg->filter, &s);
	f->written[gen] = false;
	/* The idle generation's hits belong to the rules it held before; start at 0. */
	f->n_rules[gen][0] = cfg->filter.n_deny;
	f->n_rules[gen][1] = cfg->filter.n_allow;
	f->n_rules[gen][2] = cfg->filter.n_ports;
	ret = filter_clear_hits(f, gen);
	if (ret < 0)
		goto err_map;
	ret = filter_fill_prefixes(f, cfg, gen, err, errlen);
	if (ret < 0)
		return ret;
	ret = filter_fill_ports(f, cfg, gen);
	if (ret < 0)
		goto err_map;
	ret = bpf_map_update_elem(bpf_map__fd(f->skel->maps.filter_settings), &gen, &s, BPF_ANY);
	if (ret < 0)
		goto err_map;
	f->settings[gen] = s;
	f->written[gen] = true;
	ret = filter_switch(f, gen);
	if (ret < 0)
		goto err_map;
	f->serial++;
	return 0;
err_map:
	snprintf(err, errlen, "filter: writing rules to BPF maps: %s", strerror(-ret));
	return ret;
}

int filter_relay_ports_settle(struct filter *f, const struct config *cfg)
{
	int fd = bpf_map__fd(f->skel->maps.filter_ports), ret = 0;
	uint32_t *cur = f->ports_shadow[f->active], p, r, i;
	uint8_t want[FILTER_PORTS / 8] = { 0 }; /* cfg's relay ports, a bit each */

	if (!cur)
		return 0; /* (an update that failed half way: the next one writes all) */
	/* The rules' version stays: only ports no worker listens on any more change, and the
	 * sessions on them ended with their listeners. */
	for (r = 0; r < cfg->n_relays; r++)
		for (i = 0; i < cfg->relays[r].n_listen; i++) {
			p = addr_port(&cfg->relays[r].listen[i]);
			want[p >> 3] |= (uint8_t)(1u << (p & 7));
		}
	/* In place, in the generation in force: one port's entry is one 4-byte store, and a
	 * packet reads only its own port's. */
	for (p = 0; p < FILTER_PORTS && ret == 0; p++) {
		uint32_t key = f->active * FILTER_PORTS + p;
		uint32_t val = (cur[p] & ~FILTER_PORT_RELAY) |
			       ((want[p >> 3] >> (p & 7)) & 1 ? FILTER_PORT_RELAY : 0);

		if (val == cur[p])
			continue;
		ret = bpf_map_update_elem(fd, &key, &val, BPF_ANY);
		if (ret == 0)
			cur[p] = val;
	}
	return ret;
}

uint32_t filter_rules_serial(const struct filter *f)
{
	return f->serial;
}

uint64_t filter_rules_version(const struct filter *f)
{
	return f->rules_version;
}

int filter_rules_revert(struct filter *f, uint32_t serial)
{
	int ret;

	if (f->serial == serial)
		return 0;
	if (f->serial != serial + 1)
		return -ESTALE;
	ret = filter_switch(f, f->active ^ 1);
	if (ret < 0)
		return ret;
	f->serial = serial;
	return 0;
}

static void filter_unpin(struct filter *f)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, f->skel->obj) if (bpf_map__is_pinned(map))
	    bpf_map__unpin(map, NULL);
}

/* The process holding the flock on fd's file (from /proc/locks), or 0 when not found. */
static int filter_lock_holder(int fd)
{
	unsigned int maj, min;
	unsigned long ino;
	char line[256];
	struct stat st;
	int pid = 0, p;
	FILE *fp;

	if (fstat(fd, &st) || !(fp = fopen("/proc/locks", "re")))
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 1234 00:27:2580917 0 EOF" (waiters say "->" first) */
	while (!pid && fgets(line, sizeof(line), fp))
		if (sscanf(line, "%*d: FLOCK %*s %*s %d %x:%x:%lu", &p, &maj, &min, &ino) == 4 &&
		    maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino)
			pid = p;
	fclose(fp);
	return pid;
}

/* Pins are for looking at one process's maps: the pin directory is locked (flock, released
 * by the kernel when the process ends, however it ends) while they are ours. Another live
 * ringrelay's pins are not replaced: that one's tools would read our maps, and whichever
 * exits first would remove the other's. 0, or -errno with err set (-EBUSY: another process
 * holds them). */
static int filter_pin_lock(struct filter *f, char *err, size_t errlen)
{
	char pid[32] = "";
	int fd, ret, holder;

	if (mkdir(FILTER_PIN_DIR, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen,
			 "filter: pin = true: creating %s: %s (is bpffs mounted on "
			 "/sys/fs/bpf?)",
			 FILTER_PIN_DIR, strerror(-ret));
		return ret;
	}
	fd = open(FILTER_PIN_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "filter: pin = true: opening %s: %s", FILTER_PIN_DIR,
			 strerror(-ret));
		return ret;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		ret = -errno;
		if (ret == -EWOULDBLOCK) {
			holder = filter_lock_holder(fd);
			if (holder > 0)
				snprintf(pid, sizeof(pid), " (pid %d)", holder);
			snprintf(err, errlen,
				 "filter: pin = true: the maps pinned under %s belong to another "
				 "running ringrelay%s; stop it first, or set filter.pin = false in "
				 "one of them (one pinned instance per bpffs mount)",
				 FILTER_PIN_DIR, pid);
			ret = -EBUSY;
		} else {
			snprintf(err, errlen, "filter: pin = true: locking %s: %s", FILTER_PIN_DIR,
				 strerror(-ret));
		}
		close(fd);
		return ret;
	}
	f->pin_lock = fd;
	return 0;
}

static void filter_pin_unlock(struct filter *f)
{
	if (f->pin_lock >= 0)
		close(f->pin_lock);
	f->pin_lock = -1;
}

/* Pins are for looking at this process's maps: a pin already there (left by a ringrelay that
 * did not exit cleanly; the lock is ours) is removed, not reused, so a start never inherits
 * another run's sessions, rules or counters, nor fails on maps of another size or version. */
static int filter_set_pins(struct filter *f)
{
	char path[CONFIG_PATH_LEN];
	struct bpf_map *map;
	unsigned stale = 0;
	int ret;

	bpf_object__for_each_map(map, f->skel->obj)
	{
		/* .rodata and friends are internals, not introspection. */
		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", FILTER_PIN_DIR, bpf_map__name(map));
		if (unlink(path) == 0)
			stale++;
		ret = bpf_map__set_pin_path(map, path);
		if (ret < 0)
			return ret;
	}
	if (stale)
		log_notice("filter: replaced %u pinned maps under %s left by an earlier run", stale,
			   FILTER_PIN_DIR);
	return 0;
}

/* Opens and loads the skeleton with the flavour f->shed says. 0, or -errno with err set and
 * f->skel NULL. */
static int filter_load(struct filter *f, const struct config *cfg, char *err, size_t errlen)
{
	int ret;

	f->skel = filter_bpf__open();
	if (!f->skel) {
		ret = -errno;
		snprintf(err, errlen, "filter: opening the BPF object: %s", strerror(-ret));
		return ret;
	}
	bpf_program__set_autoload(f->skel->progs.filter_xdp, false);
	bpf_program__set_autoload(f->skel->progs.filter_tc, false);
	bpf_program__set_autoload(f->skel->progs.shed_xdp, false);
	bpf_program__set_autoload(f->skel->progs.shed_tc, false);
	bpf_program__set_autoload(f->skel->progs.shed_xdp_compat, false);
	bpf_program__set_autoload(f->skel->progs.shed_tc_compat, false);
	bpf_program__set_autoload(f->skel->progs.filter_xdp_skb, false);
	bpf_program__set_autoload(f->skel->progs.shed_xdp_skb, false);
	bpf_program__set_autoload(f->skel->progs.shed_compat_skb, false);
	bpf_program__set_autoload(filter_bpf_prog(f->skel, f->shed, false), true);
	bpf_program__set_autoload(filter_bpf_prog(f->skel, f->shed, true), true);
	/* Only the filter attaches in generic XDP (the fast path and shedding never do), and
	 * only in these modes: elsewhere the flavour would cost its verification for nothing. */
	if (f->mode == FILTER_MODE_XDP || f->mode == FILTER_MODE_XDP_GENERIC)
		bpf_program__set_autoload(filter_bpf_prog_skb(f->skel, f->shed), true);
	/* Two keys per session (one per direction); one stats slot per session slot. */
	bpf_map__set_max_entries(f->skel->maps.offload_sessions, 2 * f->flows);
	bpf_map__set_max_entries(f->skel->maps.offload_stats, f->flows);
	bpf_map__set_max_entries(f->skel->maps.filter_frags, filter_frags_size(f->ncpus));
	/* The tracepoint program is attached only while some interface redirects in XDP, and
	 * loaded only where the kernel has BTF (it reads struct net_device through CO-RE). */
	bpf_program__set_autoattach(f->skel->progs.offload_xmit_trace, false);
	bpf_program__set_autoattach(f->skel->progs.offload_redirect_err, false);
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		bpf_program__set_autoload(f->skel->progs.offload_xmit_trace, false);
		bpf_program__set_autoload(f->skel->progs.offload_redirect_err, false);
	}
	f->pinned = false;
	if (cfg->filter.pin) {
		ret = filter_set_pins(f);
		if (ret < 0) {
			snprintf(err, errlen, "filter: pin path: %s", strerror(-ret));
			goto err_destroy;
		}
		f->pinned = true;
	}
	ret = filter_bpf__load(f->skel);
	if (ret < 0) {
		snprintf(err, errlen, "filter: loading the BPF program: %s%s", strerror(-ret),
			 f->pinned ? " (is bpffs mounted on /sys/fs/bpf?)"
				   : " (needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON: the "
				     "verifier allows the program's packet pointer arithmetic only "
				     "with CAP_PERFMON)");
		goto err_destroy;
	}
	return 0;
err_destroy:
	if (f->pinned)
		filter_unpin(f);
	f->pinned = false;
	filter_bpf__destroy(f->skel);
	f->skel = NULL;
	return ret;
}

/* The shedding stage's gate (filter_maps.h) skips only with the room the skips of every
 * online CPU (each may receive for a socket) could fill; until this write (or if it fails)
 * it never skips, which costs time only. */
static void filter_shed_gate_init(struct filter *f)
{
	struct shed_gate *v = calloc((size_t)f->ncpus, sizeof(*v));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t key = 0;
	int i;

	if (cpus < 1 || cpus > f->ncpus)
		cpus = f->ncpus;
	for (i = 0; v && i < f->ncpus; i++)
		v[i].room = (uint32_t)SHED_GATE_ROOM * (uint32_t)cpus;
	if (!v || bpf_map_update_elem(bpf_map__fd(f->skel->maps.shed_gate), &key, v, BPF_ANY))
		log_warn("filter: the shedding stage will look at every datagram (its gate: %s)",
			 v ? strerror(errno) : "out of memory");
	free(v);
}

/* filter_open_sized, trying the shedding readers from first on. */
static int filter_open_from(const struct config *cfg, uint32_t flows,
			    enum filter_shed_reader first, struct filter **out, char *err,
			    size_t errlen)
{
	struct utsname uts;
	struct filter *f;
	size_t len;
	void *mem;
	int ret;

	libbpf_set_print(filter_libbpf_print);
	f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "filter: out of memory");
		return -ENOMEM;
	}
	f->pin_lock = -1;
	f->mode = cfg->filter.mode;
	f->tc_hook = cfg->filter.tc_hook;
	f->tc_priority = cfg->filter.tc_priority;
	f->flows = flows ? flows : FILTER_DEFAULT_FLOWS;
	f->blinds_tc = uname(&uts) < 0 || filter_release_blinds_tc(uts.release);
	f->ncpus = libbpf_num_possible_cpus();
	if (f->ncpus < 0) {
		ret = f->ncpus;
		snprintf(err, errlen, "filter: counting possible CPUs: %s", strerror(-ret));
		goto err_free;
	}
	/* With shedding wanted, the shed_* programs first; they read struct sock, which needs
	 * CAP_PERFMON, kernel BTF and the bpf_rdonly_cast and bpf_cast_to_kern_ctx kfuncs (6.3).
	 * Then the shed_*_compat ones, which read it with bpf_probe_read_kernel (older kernels)
	 * and take no whole UDP GSO super-packets on the tc fast path. If neither loads, the
	 * filter_* ones (which need neither) do the rest, without shedding. */
	f->shed = config_shed_wanted(cfg) ? first : FILTER_SHED_NONE;
	if (!f->shed)
		snprintf(f->shed_why, sizeof(f->shed_why), "shed = \"off\" for every relay");
	if (cfg->filter.pin) {
		ret = filter_pin_lock(f, err, errlen);
		if (ret < 0)
			goto err_free;
	}
	for (;;) {
		libbpf_set_print(f->shed ? filter_libbpf_quiet : filter_libbpf_print);
		ret = filter_load(f, cfg, err, errlen);
		libbpf_set_print(filter_libbpf_print);
		if (ret == 0 || !f->shed)
			break;
		if (f->shed == FILTER_SHED_KFUNC) {
			f->shed = FILTER_SHED_PROBE;
			continue;
		}
		snprintf(f->shed_why, sizeof(f->shed_why),
			 "the shedding program did not load: %s (needs CAP_PERFMON and kernel BTF)",
			 strerror(-ret));
		f->shed = FILTER_SHED_NONE;
	}
	if (ret < 0)
		goto err_free;
	if (f->shed == FILTER_SHED_PROBE)
		log_notice("filter: shedding reads sockets with bpf_probe_read_kernel (this kernel "
			   "has no bpf_rdonly_cast kfunc for tc and XDP, Linux 6.3): the tc fast "
			   "path passes UDP GSO super-packets to the stack");
	len = (size_t)f->flows * sizeof(struct offload_flow_stats);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		   bpf_map__fd(f->skel->maps.offload_stats), 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "filter: mapping offload_stats: %s", strerror(-ret));
		goto err_destroy;
	}
	f->stats = mem;
	/* Reused pins may hold any generation; start from a known one. */
	f->active = 1;
	filter_activate(f, 1);
	if (f->shed)
		filter_shed_gate_init(f);
	ret = filter_apply(f, cfg, err, errlen);
	if (ret < 0)
		goto err_destroy;
	*out = f;
	return 0;
err_destroy:
	if (f->stats)
		munmap(f->stats, (size_t)f->flows * sizeof(struct offload_flow_stats));
	if (f->pinned)
		filter_unpin(f);
	filter_bpf__destroy(f->skel);
	filter_copies_free(f);
err_free:
	filter_pin_unlock(f);
	free(f);
	return ret;
}

int filter_open_sized(const struct config *cfg, uint32_t flows, struct filter **out, char *err,
		      size_t errlen)
{
	return filter_open_from(cfg, flows, FILTER_SHED_KFUNC, out, err, errlen);
}

int filter_open(const struct config *cfg, struct filter **out, char *err, size_t errlen)
{
	return filter_open_sized(cfg, 0, out, err, errlen);
}

int filter_open_shed_reader(const struct config *cfg, enum filter_shed_reader first,
			    struct filter **out, char *err, size_t errlen)
{
	return filter_open_from(cfg, 0, first, out, err, errlen);
}

static const char *filter_attach_name(enum filter_attach k)
{
	switch (k) {
	case FILTER_ATTACH_XDP_DRV:
		return "native XDP";
	case FILTER_ATTACH_XDP_SKB:
		return "generic XDP";
	case FILTER_ATTACH_TC:
		return "tc ingress";
	default:
		return "none";
	}
}

/* "link 12, prog 34" of an attachment (for logs and tests), or "clsact" without a link. */
static const char *filter_link_desc(int link_fd, bool generic)
{
	static __thread char buf[64];
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (link_fd < 0 || bpf_obj_get_info_by_fd(link_fd, &info, &len))
		return "clsact filter";
	snprintf(buf, sizeof(buf), "%slink %u, prog %u", generic ? "generic, " : "", info.id,
		 info.prog_id);
	return buf;
}

/* Writes fi's stages and address to rr_ifaces (what the program reads per frame); how:
 * BPF_ANY, or BPF_EXIST to change only an entry that is there. */
static int filter_iface_write(struct filter *f, const struct filter_iface *fi, __u64 how)
{
	struct rr_iface v = { .flags = fi->flags | (fi->judged_below ? RR_IFACE_JUDGED_BELOW : 0) };
	uint32_t key = (uint32_t)fi->ifindex;

	memcpy(v.mac, fi->mac, sizeof(v.mac));
	return bpf_map_update_elem(bpf_map__fd(f->skel->maps.rr_ifaces), &key, &v, how);
}

/* An entry, even with no stage in it, while our hooks may run on the interface: without one
 * the program runs the filter (the default the filter's own interfaces rely on until their
 * entry is written), which an interface attached only for the fast path or shedding must
 * never meet. The entry goes after the hooks (filter_detach_iface). */
/* Whether the filter judges what comes up through fi from below: fi has lower devices
 * (netlink_lower_ifindexes: one level, a VLAN on a bond's VLAN is not followed) and the
 * filter stage runs on every one of them. "Every": with only some bridge ports filtered, a
 * denied client's session ended at the change would only open again through another
 * (review-rcfix R1). Only for an interface the filter does not run on itself, which the
 * workers judge anyway. A failed read says no (its sessions are left alone, as before). */
static struct filter_iface *filter_iface_find(struct filter *f, int ifindex);
static void filter_xmit_trace_sync(struct filter *f);

static bool filter_judged_below(struct filter *f, const struct filter_iface *fi)
{
	const uint32_t filt = RR_IFACE_FILTER_XDP | RR_IFACE_FILTER_TC;
	int low[RR_IFACES_MAX], n, i;

	if (fi->flags & filt)
		return false;
	n = netlink_lower_ifindexes(fi->ifindex, low, RR_IFACES_MAX);
	if (n <= 0)
		return false;
	for (i = 0; i < n; i++) {
		const struct filter_iface *lo = filter_iface_find(f, low[i]);

		if (!lo || !(lo->flags & filt))
			return false;
	}
	return true;
}

static int filter_iface_publish(struct filter *f, struct filter_iface *fi)
{
	fi->judged_below = filter_judged_below(f, fi);
	return filter_iface_write(f, fi, BPF_ANY);
}

/* In generic XDP the flavour without frags: tc after it then sees the Ethernet header. An XDP
 * link of ours already on fi, in either mode, is joined (0): the filter's own attach checks
 * the mode first (filter_attach_xdp_as). */
static int filter_attach_xdp(struct filter *f, struct filter_iface *fi, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	bool generic = flags & XDP_FLAGS_SKB_MODE;
	int prog = generic ? bpf_program__fd(filter_bpf_prog_skb(f->skel, f->shed))
			   : filter_prog(f, false);
	int fd;

	if (fi->xdp_link >= 0)
		return 0;
	if (prog < 0)
		return -EOPNOTSUPP;
	fd = bpf_link_create(prog, fi->ifindex, BPF_XDP, &opts);
	f->xdp_changes++; /* (a refused attach may have reset the device too) */
	if (fd < 0)
		return fd;
	fi->xdp_link = fd;
	fi->xdp_generic = generic;
	return 0;
}

/* Only both attach points together make libbpf delete the clsact qdisc itself (one point
 * would just flush that hook's filters). */
static void filter_destroy_clsact(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	bpf_tc_hook_destroy(&hook);
}

/* Classic filters with our handle at other priorities on fi: another daemon's, or one a
 * killed ringrelay left at a priority (or before a switch to tcx) no longer ours. Such a
 * filter runs after ours and sees what ours passes, with its own, old rules: say so. */
static void filter_warn_other_filters(const struct filter_iface *fi)
{
	enum { MAX = 8 };
	uint32_t prios[MAX];
	int n = netlink_ingress_handle_prios(fi->ifindex, FILTER_TC_HANDLE, prios, MAX), i;

	for (i = 0; i < n && i < MAX; i++) {
		if (fi->tc_legacy && prios[i] == fi->tc_priority)
			continue;
		log_warn("filter: %s: a classic tc filter with ringrelay's handle 0x%x at priority "
			 "%" PRIu32 " sees what ours passes: another daemon's (filter.tc_priority = "
			 "%" PRIu32 "), or one a killed ringrelay left with its old rules (then "
			 "remove it: tc filter del dev %s ingress pref %" PRIu32 ")",
			 fi->name, FILTER_TC_HANDLE, prios[i], prios[i], fi->name, prios[i]);
	}
}

/* tc ingress: a tcx link where the kernel has them (6.6), so the attachment dies with the
 * process like an XDP link; else (or with tc_hook "clsact") a classic clsact filter with our
 * handle, replacing one a killed ringrelay left behind (it is ours by handle and priority)
 * instead of failing. */
static int filter_attach_tc(struct filter *f, struct filter_iface *fi)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = fi->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FILTER_TC_HANDLE, .priority = f->tc_priority,
		    .prog_fd = filter_prog(f, true), .flags = BPF_TC_F_REPLACE);
	int prog = filter_prog(f, true), fd, ret;

	if (fi->tc_link >= 0 || fi->tc_legacy)
		return 0;
	if (f->tc_hook != TC_HOOK_CLSACT) {
		fd = bpf_link_create(prog, fi->ifindex, BPF_TCX_INGRESS, NULL);
		if (fd >= 0) {
			fi->tc_link = fd;
			filter_warn_other_filters(fi);
			return 0;
		}
		if (fd != -EINVAL && fd != -EOPNOTSUPP && fd != -524 /* ENOTSUPP */)
			return fd;
		if (f->tc_hook == TC_HOOK_TCX) {
			log_notice("filter: no tcx link on %s (%s): tc_hook = \"tcx\" needs Linux "
				   "6.6 or later; \"auto\" falls back to a clsact filter",
				   fi->name, strerror(-fd));
			return fd;
		}
		log_debug("filter: tcx link on %s: %s; using a clsact filter", fi->name,
			  strerror(-fd));
	}
	ret = bpf_tc_hook_create(&hook);
	if (ret < 0 && ret != -EEXIST)
		return ret;
	fi->hook_created = ret == 0;
	ret = bpf_tc_attach(&hook, &opts);
	if (ret < 0) {
		if (fi->hook_created)
			filter_destroy_clsact(fi->ifindex);
		fi->hook_created = false;
		return ret;
	}
	fi->tc_legacy = true;
	fi->tc_priority = f->tc_priority;
	filter_warn_other_filters(fi);
	return 0;
}

static void filter_detach_xdp(struct filter *f, struct filter_iface *fi)
{
	if (fi->xdp_link >= 0) {
		close(fi->xdp_link);
		if (f)
			f->xdp_changes++;
	}
	fi->xdp_link = -1;
}

static void filter_detach_tc(struct filter_iface *fi)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = fi->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FILTER_TC_HANDLE, .priority = fi->tc_priority);

	if (fi->tc_link >= 0)
		close(fi->tc_link);
	fi->tc_link = -1;
	if (fi->tc_legacy) {
		uint32_t others = 0;

		bpf_tc_detach(&hook, &opts);
		/* The qdisc we made goes with our filter, unless someone has put filters of
		 * their own on it since (deleting it would delete those). */
		if (fi->hook_created) {
			int ret = netlink_clsact_filters(fi->ifindex, &others);

			if (!ret && !others)
				filter_destroy_clsact(fi->ifindex);
			else
				log_info("filter: left the clsact qdisc on %s: %s", fi->name,
					 ret ? strerror(-ret) : "it holds others' filters");
		}
	}
	fi->tc_legacy = false;
	fi->hook_created = false;
}

/* Detaches fi's hooks that no stage in its flags uses. */
static void filter_iface_drop_unused(struct filter *f, struct filter_iface *fi)
{
	if (!(fi->flags & IFACE_HOOK_XDP))
		filter_detach_xdp(f, fi);
	if (!(fi->flags & IFACE_HOOK_TC))
		filter_detach_tc(fi);
}

/* 0 when the program can read ifindex's frames (they start with an Ethernet header), with
 * the device's address in mac, else -EPROTOTYPE with err naming what (the stage) and the
 * device. On a layer 3 device XDP and tc data starts at the IP header: every stage would read
 * the IP source as the ethertype. When its link type cannot be read (it went, netlink
 * failed), that -errno, and err says so: not attached this time, which says nothing about the
 * device (config_check_links tells them apart the same way). */
static int filter_iface_framed(int ifindex, const char *name, const char *what, uint8_t mac[6],
			       char *err, size_t errlen)
{
	struct netlink_link link;
	int ret = netlink_link_at(ifindex, &link);

	if (ret == 0 && link.eth_frames) {
		memcpy(mac, link.mac, sizeof(link.mac));
		return 0;
	}
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s: reading its link type: %s: not attached this time",
			 what, name, strerror(-ret));
		return ret;
	}
	snprintf(err, errlen,
		 "%s: %s is a layer 3 device (tun, WireGuard, an IP tunnel, ppp) whose packets "
		 "carry no Ethernet header, which the BPF program reads: not attached there",
		 what, name);
	return -EPROTOTYPE;
}

/* What to do about someone else's generic XDP program with frags on name (its why). */
#define FILTER_FOREIGN_ADVICE                                                                      \
	"detach it (ip link set dev %s xdpgeneric off, or stop the tool that attached it "         \
	"through a BPF link: bpftool net shows it), attach it in native XDP, or load it "          \
	"without frags (Linux before 6.9 is not affected)"

/* -EBUSY with err saying what to do when stage (the filter, shedding) must not take tc on
 * ifindex: behind someone else's generic XDP program with frags it would be handed frames
 * from their IP header, read the source address as the ethertype and judge nothing. Behind
 * one whose frags cannot be told it takes tc as it did before that was looked at, and says
 * once what it risks. Else 0. */
static int filter_tc_blind(struct filter *f, int ifindex, const char *stage, char *err,
			   size_t errlen)
{
	struct filter_foreign_prog p;
	char name[IF_NAMESIZE] = "?";

	filter_xdp_foreign(f, ifindex, &p);
	if (p.verdict == FILTER_FOREIGN_NONE)
		return 0;
	if_indextoname((unsigned int)ifindex, name);
	if (p.verdict == FILTER_FOREIGN_UNTOLD) {
		log_warn("%s: on %s in tc all the same, behind %s: if it does, Linux 6.9+ hands "
			 "tc the frames without their Ethernet header, and %s (make sure it takes "
			 "no frags, or detach it: bpftool net shows it)",
			 stage, name, p.why,
			 strcmp(stage, "filter")
			     ? "shedding sheds nothing there"
			     : "the filter passes them all unjudged (pass_no_mac)");
		return 0;
	}
	snprintf(err, errlen,
		 "%s: not attached on %s: %s, after which Linux (6.9+) hands tc the frames "
		 "without their Ethernet header; " FILTER_FOREIGN_ADVICE,
		 stage, name, p.why, name);
	return -EBUSY;
}

/* fi's native XDP link, which only the fast path or shedding use (no filter flag there),
 * goes before the filter's generic program comes: that program must never run the fast path
 * (generic XDP, after GRO: filter_offload_attach). The entry loses those stages first, so a
 * failed attach leaves no flag of a hook that is gone (review-ifrename2 F1). When that write
 * fails the link stays, with the entry as it was: the filter's generic attach then meets it
 * (-EBUSY) and the filter takes tc (deleting the entry instead made the program run the
 * filter in both hooks and the tc stages not at all; review-filter37 3). The fast path's
 * redirect target goes with its hook. Those stages attach again at their next
 * apply (shedding into the filter's program, the fast path in tc). Returns the flags of the
 * stages that lost their hook (0: no such link). */
static uint32_t filter_iface_leave_native(struct filter *f, struct filter_iface *fi)
{
	uint32_t lost, key = (uint32_t)fi->ifindex;

	/* (a filter-in-tc flag alone does not stop it: left by a failed publish after the tc
	 * fallback, it would keep the filter behind this link again; review-closecount 2.1) */
	if (fi->xdp_link < 0 || fi->xdp_generic || (fi->flags & RR_IFACE_FILTER_XDP))
		return 0;
	lost = fi->flags & IFACE_STAGES_XDP;
	fi->flags &= ~lost;
	if (filter_iface_write(f, fi, BPF_ANY) < 0) {
		fi->flags |= lost;
		return 0;
	}
	if (lost & RR_IFACE_OFFLOAD_XDP)
		bpf_map_delete_elem(bpf_map__fd(f->skel->maps.offload_tx), &key);
	filter_detach_xdp(f, fi);
	return lost;
}

/* The filter's XDP attach in the mode flags asks for. An XDP link of ours there in the other
 * mode is not taken as that (shedding's native one, put there while the filter's attach had
 * failed, would be logged as generic XDP and run natively; review-ifrename2 F4): -EBUSY, and
 * the next way is tried. (The fast path and shedding join a link of either mode on purpose:
 * filter_attach_xdp.) */
static int filter_attach_xdp_as(struct filter *f, struct filter_iface *fi, __u32 flags)
{
	if (fi->xdp_link >= 0 && fi->xdp_generic != !!(flags & XDP_FLAGS_SKB_MODE))
		return -EBUSY;
	return filter_attach_xdp(f, fi, flags);
}

/* Why filter_attach_xdp_as refused with ret: its own -EBUSY names our link, not someone
 * else's program (review-ifrename3 G1). */
static const char *filter_xdp_why(const struct filter_iface *fi, int ret)
{
	if (ret != -EBUSY || fi->xdp_link < 0)
		return strerror(-ret);
	return fi->xdp_generic ? "ringrelay's own generic XDP link is there (an earlier fallback)"
			       : "ringrelay's own native XDP link (the fast path's or shedding's) "
				 "is there";
}

/* Which of the fast path and shedding flags (rr_ifaces flags, either hook) names. */
static const char *filter_stages_name(uint32_t flags)
{
	if (!(flags & IFACE_SHED))
		return "the fast path";
	if (!(flags & IFACE_OFFLOAD))
		return "shedding";
	return "the fast path and shedding";
}

/* Says where the stages in lost (filter_iface_leave_native) went, once the filter's attach
 * on name is done: into its generic program (generic), else into nothing yet. */
static void filter_left_native_notice(const char *name, uint32_t lost, bool generic)
{
	const char *who = filter_stages_name(lost);

	if (!lost)
		return;
	if (generic)
		log_notice("filter: %s: the filter runs in generic XDP there: the native XDP "
			   "hook of %s went; at the next update shedding joins the filter's program and "
			   "the fast path's relays go to tc on every interface (this device is no "
			   "XDP redirect target any more)",
			   name, who);
	else
		log_notice("filter: %s: the native XDP hook of %s went for the filter's generic "
			   "XDP program, whose attach did not succeed: that stage attaches again at "
			   "the next update",
			   name, who);
}

/* Tries each way from the mode's starting step; logs every fallback with its reason. *lost
 * gets the flags of the stages whose native XDP link went for the generic step (the caller
 * says so after the attach: filter_left_native_notice). */
static int filter_attach_iface(struct filter *f, struct filter_iface *fi, uint32_t *lost, char *err,
			       size_t errlen)
{
	/* (config_check_links refused such a name at the start; this is a link of that name
	 * made since) */
	int ret = filter_iface_framed(fi->ifindex, fi->name, "filter", fi->mac, err, errlen);

	*lost = 0;
	if (ret < 0)
		return ret;
	switch (f->mode) {
	case FILTER_MODE_XDP:
		ret = filter_attach_xdp_as(f, fi, XDP_FLAGS_DRV_MODE);
		if (ret == 0) {
			fi->kind = FILTER_ATTACH_XDP_DRV;
			break;
		}
		log_notice("filter: native XDP on %s: %s; trying generic XDP", fi->name,
			   filter_xdp_why(fi, ret));
		/* fall through */
	case FILTER_MODE_XDP_GENERIC:
		/* A native link of the fast path's or shedding's (put there while the filter's
		 * attach had failed) would refuse the generic one: it goes, as at a take
		 * (filter_iface_take), rather than the filter going to tc for good behind it
		 * (review-ifrename3 G1). (In mode "xdp" the native step joined such a link.) */
		*lost = filter_iface_leave_native(f, fi);
		if (*lost)
			filter_xmit_trace_sync(f);
		ret = filter_attach_xdp_as(f, fi, XDP_FLAGS_SKB_MODE);
		if (ret == 0) {
			fi->kind = FILTER_ATTACH_XDP_SKB;
			break;
		}
		log_notice("filter: generic XDP on %s: %s; trying tc ingress", fi->name,
			   filter_xdp_why(fi, ret));
		/* fall through */
	case FILTER_MODE_TC:
		ret = filter_tc_blind(f, fi->ifindex, "filter", err, errlen);
		if (ret < 0)
			return ret;
		ret = filter_attach_tc(f, fi);
		if (ret == 0) {
			fi->kind = FILTER_ATTACH_TC;
			break;
		}
		snprintf(err, errlen, "filter: attach on %s: %s (%s)", fi->name, strerror(-ret),
			 f->mode == FILTER_MODE_TC ? "tc ingress refused"
						   : "XDP and tc both refused");
		return ret;
	default:
		snprintf(err, errlen, "filter: attach on %s: mode off", fi->name);
		return -EINVAL;
	}
	/* (the other hook's flag may be left by an earlier attach whose publish failed: the
	 * program would judge every frame twice; review-b204e0d 1) */
	fi->flags &= ~IFACE_FILTER;
	fi->flags |= fi->kind == FILTER_ATTACH_TC ? RR_IFACE_FILTER_TC : RR_IFACE_FILTER_XDP;
	ret = filter_iface_publish(f, fi);
	if (ret < 0) {
		snprintf(err, errlen, "filter: rr_ifaces for %s: %s", fi->name, strerror(-ret));
		return ret;
	}
	/* An earlier try's hook that this one did not take (a tc link left by a failed publish
	 * after the tc fallback, now that XDP went through) goes: it would run for every frame
	 * with no stage of its own (review-filter37 2). */
	filter_iface_drop_unused(f, fi);
	log_info("filter: attached on %s (%s, %s)", fi->name, filter_attach_name(fi->kind),
		 filter_link_desc(fi->kind == FILTER_ATTACH_TC ? fi->tc_link : fi->xdp_link,
				  false));
	return 0;
}

static void filter_detach_iface(struct filter *f, struct filter_iface *fi)
{
	uint32_t key = (uint32_t)fi->ifindex;

	filter_detach_xdp(f, fi);
	filter_detach_tc(fi);
	/* Its XDP fast path made it a redirect target: with no XDP hook of ours there, XDP
	 * redirects to it would fail until the tracepoint marked it down (review-ifrename R1).
	 * The fast path's next attach there makes it one again. */
	if (f && (fi->flags & RR_IFACE_OFFLOAD_XDP))
		bpf_map_delete_elem(bpf_map__fd(f->skel->maps.offload_tx), &key);
	fi->kind = FILTER_ATTACH_NONE;
	fi->flags = 0;
	fi->renamed = false;
	if (f)
		bpf_map_delete_elem(bpf_map__fd(f->skel->maps.rr_ifaces), &key);
}

/* The name f knows ifindex by, or "". */
static const char *filter_iface_name(const struct filter *f, int ifindex)
{
	uint32_t i;

	for (i = 0; i < f->n_ifaces; i++)
		if (f->ifaces[i].ifindex == ifindex)
			return f->ifaces[i].name;
	return "";
}

/* bpfbase_xmit_add into the n in t; true when name found no row of its own there (its counts
 * are in BPFBASE_XMIT_OTHER's). */
static bool filter_xmit_add(struct bpfbase_xmit *t, uint32_t n, const char *name, uint64_t drops,
			    uint64_t sent)
{
	bpfbase_xmit_add(t, n, name, drops, sent);
	return (drops | sent) && name[0] && !bpfbase_xmit_of(t, n, name, false);
}

/* Moves what ifindex's offload_xmit entry counted into xmit_gone, under the name its series
 * has now (filter_iface_name), and deletes the entry: that name's series goes on from there,
 * and whatever name shows ifindex next starts from 0. (What the program adds between the read
 * and the delete, on a device still in use, is lost: a few frames, once.) */
static void filter_xmit_fold(struct filter *f, int ifindex)
{
	struct offload_xmit_val v = { 0 };
	uint32_t key = (uint32_t)ifindex;
	int fd = bpf_map__fd(f->skel->maps.offload_xmit);
	const char *name = filter_iface_name(f, ifindex);

	if (!bpf_map_lookup_elem(fd, &key, &v) &&
	    filter_xmit_add(f->xmit_gone, BPFBASE_XMIT_ROWS, name, v.drops, v.sent) &&
	    !f->xmit_gone_full) {
		/* (kept, but in no series: said once) */
		f->xmit_gone_full = true;
		log_notice("offload: the transmit counts of %d names of interfaces since "
			   "renamed or gone are kept; those of %s and of later names go to one "
			   "row that no output shows (kept in no interface's series: a link "
			   "named so again starts at 0)",
			   BPFBASE_XMIT_ROWS - 1, name);
	}
	bpf_map_delete_elem(fd, &key);
}

static void filter_iface_init(struct filter_iface *fi, const char *name, int ifindex)
{
	memset(fi, 0, sizeof(*fi));
	snprintf(fi->name, sizeof(fi->name), "%s", name);
	fi->ifindex = ifindex;
	fi->xdp_link = fi->tc_link = -1;
}

/* A new interface for the fast path or shedding (what names the stage in errors): its entry
 * says "no stage" before any hook of ours can run there. */
static int filter_iface_add(struct filter *f, const char *name, int ifindex, const char *what,
			    struct filter_iface **out, char *err, size_t errlen)
{
	struct filter_iface *fi;
	uint8_t mac[6];
	int ret;

	ret = filter_iface_framed(ifindex, name, what, mac, err, errlen);
	if (ret < 0)
		return ret;
	if (f->n_ifaces == RR_IFACES_MAX) {
		snprintf(err, errlen, "%s: more than %d interfaces", what, RR_IFACES_MAX);
		return -ENOSPC;
	}
	fi = &f->ifaces[f->n_ifaces];
	filter_iface_init(fi, name, ifindex);
	memcpy(fi->mac, mac, sizeof(mac));
	ret = filter_iface_publish(f, fi);
	if (ret < 0) {
		snprintf(err, errlen, "%s: rr_ifaces for %s: %s", what, name, strerror(-ret));
		return ret;
	}
	f->n_ifaces++;
	*out = fi;
	return 0;
}

int filter_new_sized(const struct config *cfg, uint32_t flows, struct filter **out, char *err,
		     size_t errlen)
{
	const struct filter_conf *fc = &cfg->filter;
	struct filter *f;
	uint32_t i, lost;
	int ret;

	/* Interface names before loading anything: a typo is the user's to fix. */
	ret = config_check_links(cfg, err, errlen);
	if (ret < 0)
		return ret;
	ret = filter_open_sized(cfg, flows, &f, err, errlen);
	if (ret < 0)
		return ret;
	for (i = 0; fc->mode != FILTER_MODE_OFF && i < fc->n_interfaces; i++) {
		struct filter_iface *fi = &f->ifaces[i];

		filter_iface_init(fi, fc->interfaces[i], (int)if_nametoindex(fc->interfaces[i]));
		fi->filter_iface = true;
		f->n_ifaces = f->n_filter_ifaces = i + 1;
		if (!fi->ifindex) {
			ret = -ENODEV;
			snprintf(err, errlen, "filter: attach on %s: interface vanished", fi->name);
			goto err_free;
		}
		/* (no stage runs anywhere yet: nothing to leave) */
		ret = filter_attach_iface(f, fi, &lost, err, errlen);
		if (ret < 0)
			goto err_free;
	}
	*out = f;
	return 0;
err_free:
	filter_free(f);
	return ret;
}

int filter_new(const struct config *cfg, struct filter **out, char *err, size_t errlen)
{
	return filter_new_sized(cfg, 0, out, err, errlen);
}

/* A link the fast path or shedding runs on (none of the filter's) renamed: its entry takes
 * the new name, which its series show from now on. What its transmit entry counted stays
 * with the old name (filter_xmit_fold), as when a filtered link's name moves to another: the
 * new name goes on from what it had, and the old one's series never restarts. */
static void filter_iface_rename(struct filter *f, const char *ifname, int ifindex)
{
	uint32_t i;

	for (i = 0; i < f->n_ifaces; i++) {
		struct filter_iface *fi = &f->ifaces[i];

		if (fi->filter_iface || fi->ifindex != ifindex ||
		    !strncmp(fi->name, ifname, sizeof(fi->name)))
			continue;
		log_info("filter: link %s (ifindex %d) is named %s now: the fast path and "
			 "shedding show it so",
			 fi->name, ifindex, ifname);
		filter_xmit_fold(f, ifindex);
		snprintf(fi->name, sizeof(fi->name), "%s", ifname);
	}
}

/* The entry the fast path or shedding made for ifindex (none of the filter's), or NULL. */
static struct filter_iface *filter_iface_own(struct filter *f, int ifindex)
{
	uint32_t i;

	for (i = 0; i < f->n_ifaces; i++)
		if (!f->ifaces[i].filter_iface && f->ifaces[i].ifindex == ifindex)
			return &f->ifaces[i];
	return NULL;
}

/* One entry per ifindex: fi, the filter's entry that takes own's link now (with no hooks
 * there yet), takes over the hooks and flags of the fast path and shedding from own, their
 * entry for it (none of the filter's), which goes. It is one program on the same hooks: the
 * stages run on with no gap, XDP on the device is not changed twice, and the filter's attach
 * finds the hook it needs there when it is one of them (review-ifrename R1). Not an XDP
 * link where the filter runs in generic XDP (another program, on which the fast path never
 * runs): that hook goes, with the redirect target it made (offload_tx), and those
 * stages attach again beside the filter at their next apply (the link event's). The
 * rr_ifaces entry (own's, then fi's) keeps the other stages' flags until the filter's
 * attach writes fi's. Returns the flags of the stages that lost their hook. */
static uint32_t filter_iface_take(struct filter *f, struct filter_iface *fi,
				  struct filter_iface *own)
{
	uint32_t lost = 0;

	/* (own's XDP link is native: the fast path and shedding attach DRV_MODE only) */
	if (f->mode == FILTER_MODE_XDP_GENERIC)
		lost = filter_iface_leave_native(f, own);
	fi->xdp_link = own->xdp_link;
	fi->xdp_generic = own->xdp_generic;
	fi->tc_link = own->tc_link;
	fi->tc_legacy = own->tc_legacy;
	fi->tc_priority = own->tc_priority;
	fi->hook_created = own->hook_created;
	fi->flags |= own->flags & (IFACE_STAGES_XDP | IFACE_STAGES_TC) & ~lost;
	memcpy(fi->mac, own->mac, sizeof(fi->mac));
	if (fi->flags)
		log_info("filter: %s (ifindex %d) takes over the hooks of %s there", fi->name,
			 fi->ifindex, filter_stages_name(fi->flags));
	*own = f->ifaces[--f->n_ifaces];
	return lost;
}

int filter_relink(struct filter *f, const char *ifname, int ifindex, char *err, size_t errlen)
{
	struct filter_iface *own;
	uint32_t i, j, lost = 0, left;
	int ret;

	filter_iface_rename(f, ifname, ifindex);
	/* A filtered link renamed: the filter follows the name in the config, so it stays on
	 * this link (nothing filtered is let through) until a link of that name appears. */
	for (i = 0; i < f->n_filter_ifaces; i++) {
		struct filter_iface *fi = &f->ifaces[i];
		bool renamed = strcmp(fi->name, ifname) != 0;

		if (fi->ifindex != ifindex || fi->kind == FILTER_ATTACH_NONE)
			continue;
		if (renamed && !fi->renamed)
			log_notice("filter: link %s (ifindex %d) is named %s now: the filter stays on "
				   "it until a link named %s appears, and then moves there",
				   fi->name, ifindex, ifname, fi->name);
		fi->renamed = renamed;
	}
	for (i = 0; i < f->n_filter_ifaces; i++) {
		struct filter_iface *fi = &f->ifaces[i];
		uint32_t keep = fi->flags & IFACE_OFFLOAD;

		if (strcmp(fi->name, ifname) != 0)
			continue;
		if (fi->ifindex == ifindex && fi->kind != FILTER_ATTACH_NONE)
			return 0;
		if (fi->ifindex == ifindex) {
			/* An attach here failed (someone else's program or filter was in the
			 * way, a transient error): each change of the link tries again. What
			 * the fast path or shedding attached here since stays. */
			log_notice("link %s (ifindex %d) changed: attaching the filter again, "
				   "which failed before",
				   ifname, ifindex);
		} else {
			log_notice("link %s is back (ifindex %d): attaching the filter again",
				   ifname, ifindex);
			/* The transmit counts of both ifindexes go to the names that showed them,
			 * while those still resolve: the old device may still be there (renamed,
			 * and a new link took its name), and this name's series must go on, not
			 * drop to the new link's count; the old device, if the fast path runs on
			 * it again, is shown by its own name from 0. (A device gone was folded
			 * at its link event: nothing left here.) */
			if (fi->ifindex)
				filter_xmit_fold(f, fi->ifindex);
			filter_xmit_fold(f, ifindex);
			/* The old device is gone, or renamed, with its attachments; forget them
			 * and its entry. */
			filter_detach_iface(f, fi);
			fi->ifindex = ifindex;
			fi->flags = 0;
			/* Two filtered links that swapped names: the other's record still holds
			 * this link. Its hooks go (ours would replace or double them, and its
			 * detach would then take ours), and it waits for a link of its name. */
			for (j = 0; j < f->n_filter_ifaces; j++) {
				struct filter_iface *other = &f->ifaces[j];

				if (other != fi && other->ifindex == ifindex) {
					filter_detach_iface(f, other);
					other->ifindex = 0;
				}
			}
			/* One entry per ifindex: a link the fast path or shedding ran on under
			 * another name (renamed to this one, or there before its link event)
			 * hands its entry's hooks to this one (filter_iface_take). Two would
			 * count its transmits twice (filter_xmit_counts, the snapshot) and hook
			 * it twice. */
			own = filter_iface_own(f, ifindex);
			if (own) {
				lost = filter_iface_take(f, fi, own);
				filter_xmit_trace_sync(f);
			}
			if (keep)
				log_notice("filter: %s came back: the fast path re-attaches on "
					   "the next offload update",
					   ifname);
		}
		ret = filter_attach_iface(f, fi, &left, err, errlen);
		/* (said once the attach is done, which says where those stages went: N1) */
		filter_left_native_notice(ifname, lost | left,
					  ret == 0 && fi->kind == FILTER_ATTACH_XDP_SKB);
		if (ret < 0) {
			/* (an attach whose rr_ifaces write failed is not whole either) */
			fi->kind = FILTER_ATTACH_NONE;
			snprintf(err + strnlen(err, errlen), errlen - strnlen(err, errlen),
				 "; %s stays unfiltered until it changes again (up, carrier, an "
				 "address), when the filter tries again",
				 ifname);
			return ret;
		}
		return 1;
	}
	return 0;
}

int filter_update(struct filter *f, const struct config *cfg, char *err, size_t errlen)
{
	const struct filter_conf *fc = &cfg->filter;
	uint32_t i;

	if (fc->mode != f->mode ||
	    (fc->mode != FILTER_MODE_OFF && fc->n_interfaces != f->n_filter_ifaces)) {
		snprintf(err, errlen, "filter: mode or interfaces changed; restart to apply");
		return -EOPNOTSUPP;
	}
	for (i = 0; fc->mode != FILTER_MODE_OFF && i < fc->n_interfaces; i++) {
		if (strcmp(fc->interfaces[i], f->ifaces[i].name)) {
			snprintf(err, errlen, "filter: interfaces changed (%s); restart to apply",
				 fc->interfaces[i]);
			return -EOPNOTSUPP;
		}
	}
	return filter_apply(f, cfg, err, errlen);
}

static int filter_sum(int fd, uint32_t key, uint64_t *vals, int ncpus, uint64_t *out)
{
	int ret, c;

	ret = bpf_map_lookup_elem(fd, &key, vals);
	if (ret < 0)
		return ret;
	*out = 0;
	for (c = 0; c < ncpus; c++)
		*out += vals[c];
	return 0;
}

enum tc_hook filter_tc_hook(const struct filter *f)
{
	return f->tc_hook;
}

uint32_t filter_tc_priority(const struct filter *f)
{
	return f->tc_priority;
}

/* Sums keys 0..n-1 of per-CPU array fd into out[0..n). */
static int filter_sum_all(const struct filter *f, int fd, uint32_t n, uint64_t *out)
{
	uint64_t *vals = calloc((size_t)f->ncpus, sizeof(*vals));
	uint32_t i;
	int ret = 0;

	if (!vals)
		return -ENOMEM;
	for (i = 0; i < n && ret == 0; i++)
		ret = filter_sum(fd, i, vals, f->ncpus, &out[i]);
	free(vals);
	return ret;
}

int filter_read_counters(struct filter *f, uint64_t out[FILTER_CNT__MAX])
{
	return filter_sum_all(f, bpf_map__fd(f->skel->maps.filter_counters), FILTER_CNT__MAX, out);
}

int filter_read_stats(struct filter *f, struct filter_stats *out)
{
	int hfd = bpf_map__fd(f->skel->maps.filter_rule_hits);
	uint32_t gen = f->active, i, base = gen * FILTER_RULES;
	uint64_t *vals;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = filter_read_counters(f, out->counters);
	vals = calloc((size_t)f->ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < f->n_rules[gen][0] && ret == 0; i++)
		ret = filter_sum(hfd, base + FILTER_RULE_DENY_BASE + i, vals, f->ncpus,
				 &out->deny_hits[i]);
	for (i = 0; i < f->n_rules[gen][1] && ret == 0; i++)
		ret = filter_sum(hfd, base + FILTER_RULE_ALLOW_BASE + i, vals, f->ncpus,
				 &out->allow_hits[i]);
	for (i = 0; i < f->n_rules[gen][2] && ret == 0; i++)
		ret = filter_sum(hfd, base + FILTER_RULE_PORT_BASE + i, vals, f->ncpus,
				 &out->port_hits[i]);
	free(vals);
	return ret;
}

int filter_prog_fd(const struct filter *f, int tc)
{
	return filter_prog(f, tc);
}

int filter_map_fd(const struct filter *f, const char *map_name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(f->skel->obj, map_name);

	return map ? bpf_map__fd(map) : -ENOENT;
}

/* ---------------------------------------------------------------- session fast path */

static struct filter_iface *filter_iface_find(struct filter *f, int ifindex)
{
	uint32_t i;

	for (i = 0; i < f->n_ifaces; i++)
		if (f->ifaces[i].ifindex == ifindex)
			return &f->ifaces[i];
	return NULL;
}

/* The tracepoint that counts what drivers refused after XDP_REDIRECT, while needed. */
static void filter_xmit_trace_sync(struct filter *f)
{
	bool want = false;
	uint32_t i;

	for (i = 0; i < f->n_ifaces; i++)
		want |= !!(f->ifaces[i].flags & RR_IFACE_OFFLOAD_XDP);
	/* Each link alone: one that attached is never attached again (each copy would count
	 * every event once more), one that did not is tried at the next sync. */
	if (want && (!f->xmit_trace || !f->redirect_err_trace) &&
	    bpf_program__fd(f->skel->progs.offload_xmit_trace) >= 0) {
		if (!f->xmit_trace)
			f->xmit_trace = bpf_program__attach(f->skel->progs.offload_xmit_trace);
		if (!f->redirect_err_trace)
			f->redirect_err_trace =
			    bpf_program__attach(f->skel->progs.offload_redirect_err);
		if ((!f->xmit_trace || !f->redirect_err_trace) && !f->trace_warned) {
			f->trace_warned = true;
			log_warn(
			    "offload: xdp tracepoints: %s; transmit failures after XDP_REDIRECT "
			    "are not counted, and a target that stops taking it is not taken "
			    "out of use",
			    strerror(errno));
		}
	} else if (!want && (f->xmit_trace || f->redirect_err_trace)) {
		bpf_link__destroy(f->xmit_trace);
		bpf_link__destroy(f->redirect_err_trace);
		f->xmit_trace = NULL;
		f->redirect_err_trace = NULL;
	}
}

/* Forgets the refusals on ifindex (filter_offload_refused): of hook tc, or of both (all). */
static void filter_refusal_forget(struct filter *f, int ifindex, bool tc, bool all)
{
	uint32_t i;

	for (i = 0; i < f->n_refused; i++)
		if (f->refused[i].ifindex == ifindex && (all || f->refused[i].r.tc == tc))
			f->refused[i--] = f->refused[--f->n_refused];
}

void filter_offload_forget(struct filter *f)
{
	if (f)
		f->n_refused = 0;
}

/* Remembers that the kernel refused hook tc (else native XDP) on ifindex with err, and how
 * the interface looked. */
static void filter_refusal_note(struct filter *f, int ifindex, bool tc, int err)
{
	struct filter_refusal r = { .err = err, .tc = tc };
	const uint32_t max = sizeof(f->refused) / sizeof(f->refused[0]);
	struct timespec ts;
	uint32_t i;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	r.at = (uint64_t)ts.tv_sec;
	/* (an unreadable shape stays zero: any later reading differs, and the next resolve
	 * lets the attach try again) */
	filter_xdp_shape(ifindex, &r.shape);
	filter_refusal_forget(f, ifindex, tc, false);
	if (f->n_refused == max) { /* the oldest goes */
		for (i = 1; i < f->n_refused; i++)
			f->refused[i - 1] = f->refused[i];
		f->n_refused--;
	}
	f->refused[f->n_refused].ifindex = ifindex;
	f->refused[f->n_refused++].r = r;
}

int filter_offload_refused(const struct filter *f, int ifindex, bool tc, struct filter_refusal *out)
{
	uint32_t i;

	for (i = 0; f && i < f->n_refused; i++) {
		if (f->refused[i].ifindex != ifindex || f->refused[i].r.tc != tc)
			continue;
		*out = f->refused[i].r;
		return 1;
	}
	return 0;
}

uint64_t filter_xdp_changes(const struct filter *f)
{
	return f ? f->xdp_changes : 0;
}

/* The channel counts and active offloads of ifindex into out (what it cannot read stays 0):
 * the legacy ethtool ioctl, which every kernel and driver with ethtool_ops answers, unprivileged. */
static void filter_ethtool_shape(int ifindex, struct filter_xdp_shape *out)
{
	union {
		struct ethtool_gfeatures g;
		char buf[sizeof(struct ethtool_gfeatures) +
			 2 * sizeof(struct ethtool_get_features_block)];
	} feat = { .g = { .cmd = ETHTOOL_GFEATURES, .size = 2 } };
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	int fd;

	memset(&ifr, 0, sizeof(ifr));
	if (!if_indextoname((unsigned int)ifindex, ifr.ifr_name))
		return;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	ifr.ifr_data = (void *)&ch;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
		out->channels[0] = ch.rx_count;
		out->channels[1] = ch.tx_count;
		out->channels[2] = ch.other_count;
		out->channels[3] = ch.combined_count;
	}
	ifr.ifr_data = (void *)&feat;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
		out->offloads = feat.g.features[0].active |
				(uint64_t)feat.g.features[1].active << 32;
	close(fd);
}

int filter_xdp_shape(int ifindex, struct filter_xdp_shape *out)
{
	struct netlink_link link;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = netlink_link_at(ifindex, &link);
	if (ret < 0)
		return ret;
	out->mtu = link.mtu;
	filter_ethtool_shape(ifindex, out);
	if (netlink_clsact_filters(ifindex, &out->tc_filters))
		out->tc_filters = UINT32_MAX;
	if (netlink_xdp_features(ifindex, &out->xdp_features))
		out->xdp_features = UINT64_MAX;
	if (filter_xdp_query(ifindex, &out->xdp_mode, &out->xdp_prog))
		out->xdp_mode = -1;
	return 0;
}

void filter_link_gone(struct filter *f, int ifindex)
{
	uint32_t i = 0;

	filter_offload_gone(f, ifindex);
	filter_refusal_forget(f, ifindex, false, true);
	while (i < f->n_ifaces) {
		struct filter_iface *fi = &f->ifaces[i];

		if (fi->ifindex != ifindex) {
			i++;
			continue;
		}
		/* (its qdisc went with it: a device of the same ifindex now is not ours) */
		fi->tc_legacy = false;
		fi->hook_created = false;
		filter_detach_iface(f, fi);
		if (fi->filter_iface) {
			fi->ifindex = 0; /* by name, filter_relink attaches it again */
			i++;
		} else {
			*fi = f->ifaces[--f->n_ifaces];
		}
	}
	filter_xmit_trace_sync(f);
}

int filter_link_mac(struct filter *f, int ifindex)
{
	struct netlink_link link;
	bool read = false;
	int ret, changed = 0;
	uint32_t i;

	for (i = 0; i < f->n_ifaces; i++) {
		struct filter_iface *fi = &f->ifaces[i];
		const uint8_t *m = link.mac;

		if (fi->ifindex != ifindex)
			continue;
		if (!read) {
			ret = netlink_link_at(ifindex, &link);
			if (ret < 0)
				return ret;
			read = true;
		}
		if (!memcmp(fi->mac, link.mac, sizeof(fi->mac)))
			continue;
		memcpy(fi->mac, link.mac, sizeof(fi->mac));
		/* (a filtered link whose attach failed has no entry, and gets none here) */
		ret = filter_iface_write(f, fi, BPF_EXIST);
		if (ret < 0 && ret != -ENOENT)
			return ret;
		log_info("filter: %s has the link-layer address %02x:%02x:%02x:%02x:%02x:%02x now",
			 fi->name, m[0], m[1], m[2], m[3], m[4], m[5]);
		changed = 1;
	}
	return changed;
}

/* After a stage left fi: publishes its flags, detaches the hooks no stage needs any more,
 * and drops an interface that runs nothing of ours from the table (fi is invalid then). */
static void filter_iface_trim(struct filter *f, struct filter_iface *fi)
{
	filter_iface_publish(f, fi);
	if (!fi->filter_iface && !fi->flags) {
		/* What it counted as a redirect target goes to its name's series while the name
		 * is known: an element no entry has is read by nothing, not even at the unload
		 * (review-filter37 1). An entry that stays keeps its element (review-merge37 2). */
		filter_xmit_fold(f, fi->ifindex);
		filter_detach_iface(f, fi);
		*fi = f->ifaces[--f->n_ifaces];
		return;
	}
	filter_iface_drop_unused(f, fi);
}

bool filter_in_tc(struct filter *f, int ifindex)
{
	const struct filter_iface *fi = filter_iface_find(f, ifindex);

	return fi && (fi->flags & RR_IFACE_FILTER_TC);
}

bool filter_release_blinds_tc(const char *release)
{
	unsigned int major, minor;

	if (sscanf(release, "%u.%u", &major, &minor) != 2)
		return true;
	return major > 6 || (major == 6 && minor >= 9);
}

enum filter_foreign filter_foreign_verdict(bool blinds, int frags)
{
	if (!blinds || frags == 0)
		return FILTER_FOREIGN_NONE;
	return frags > 0 ? FILTER_FOREIGN_FRAGS : FILTER_FOREIGN_UNTOLD;
}

/* A program that passes everything, with frags or without, of attach type eat, to compare
 * others' with. */
static int filter_ref_prog(bool frags, enum bpf_attach_type eat)
{
	const struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = eat,
		    .prog_flags = frags ? BPF_F_XDP_HAS_FRAGS : 0);

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "rr_frags_ref", "GPL", insns, 2, &o);
}

/* Its bpf_prog_info does not say; but a program array takes only programs alike in type,
 * JIT state and frags (the kernel's bpf_prog_map_compatible, 5.18+), in expected attach
 * type too (6.18, and stable kernels), and no freplace extension (6.12+). So the program must
 * fit beside one of four references: with frags and without, of attach type BPF_XDP (libbpf
 * 1.0+, iproute2 with libbpf) or none (0: bcc, iproute2's own loader, older libbpf). An
 * extended program (libxdp's dispatcher) fits beside none. */
int filter_xdp_prog_frags(uint32_t id)
{
	static const enum bpf_attach_type eats[] = {BPF_XDP, 0};
	int fd = bpf_prog_get_fd_by_id(id), ret = -ENOMSG, failed = 0, ref, map, i;
	uint32_t k0 = 0, k1 = 1;

	if (fd < 0)
		return fd;
	for (i = 0; i < 4 && ret == -ENOMSG; i++) {
		bool frags = !(i & 1);

		ref = filter_ref_prog(frags, eats[i / 2]);
		if (ref < 0) {
			failed = ref;
			continue;
		}
		map = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, NULL, 4, 4, 2, NULL);
		if (map < 0)
			failed = map;
		else if (bpf_map_update_elem(map, &k0, &ref, BPF_ANY) == 0 &&
			 bpf_map_update_elem(map, &k1, &fd, BPF_ANY) == 0)
			ret = frags;
		if (map >= 0)
			close(map);
		close(ref);
	}
	close(fd);
	return ret == -ENOMSG && failed ? failed : ret;
}

/* f's remembered entry for program id, or NULL. */
static struct filter_foreign_seen *filter_foreign_find(struct filter *f, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < sizeof(f->foreign) / sizeof(f->foreign[0]); i++)
		if (f->foreign[i].id == id)
			return &f->foreign[i];
	return NULL;
}

/* Why a program's frags were not told, for the reason line. */
static const char *filter_untold_why(int frags)
{
	switch (frags) {
	case -EPERM:
		return "opening another's program needs CAP_SYS_ADMIN, which this process has not";
	case -ENOMSG:
		return "it fits beside none of the reference programs: another attach type, or "
		       "extended by freplace";
	default:
		return strerror(-frags);
	}
}

void filter_xdp_foreign(struct filter *f, int ifindex, struct filter_foreign_prog *out)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	const struct filter_iface *fi = filter_iface_find(f, ifindex);
	const struct filter_foreign_seen *known;
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	char name[IF_NAMESIZE] = "?";
	int frags;

	memset(out, 0, sizeof(*out));
	/* (before 6.9 tc after any generic program sees whole frames: no query, no probe) */
	if (!f->blinds_tc || bpf_xdp_query(ifindex, 0, &q) || !q.skb_prog_id)
		return;
	/* ours: the filter's generic flavour, which takes no frags */
	memset(&info, 0, sizeof(info));
	if (fi && fi->xdp_link >= 0 && fi->xdp_generic &&
	    !bpf_obj_get_info_by_fd(bpf_program__fd(filter_bpf_prog_skb(f->skel, f->shed)), &info,
				    &len) &&
	    info.id == q.skb_prog_id)
		return;
	known = filter_foreign_find(f, q.skb_prog_id);
	if (known) {
		frags = known->frags;
	} else {
		frags = filter_xdp_prog_frags(q.skb_prog_id);
		/* (a result that can change, such as -ENOMEM, is asked again next time) */
		if (frags >= 0 || frags == -EPERM || frags == -ENOMSG) {
			f->foreign[f->n_foreign % (sizeof(f->foreign) / sizeof(f->foreign[0]))] =
			    (struct filter_foreign_seen){.id = q.skb_prog_id, .frags = frags};
			f->n_foreign++;
		}
	}
	out->verdict = filter_foreign_verdict(f->blinds_tc, frags);
	if (out->verdict == FILTER_FOREIGN_NONE)
		return;
	out->id = q.skb_prog_id;
	if_indextoname((unsigned int)ifindex, name);
	if (out->verdict == FILTER_FOREIGN_FRAGS)
		snprintf(out->why, sizeof(out->why),
			 "someone else's generic XDP program (prog %u) on %s takes frags",
			 q.skb_prog_id, name);
	else
		snprintf(out->why, sizeof(out->why),
			 "someone else's generic XDP program (prog %u) on %s may take frags "
			 "(cannot tell: %s)",
			 q.skb_prog_id, name, filter_untold_why(frags));
}

bool filter_foreign_first_warning(struct filter *f, uint32_t id)
{
	struct filter_foreign_seen *known = filter_foreign_find(f, id);

	if (!known)
		return true;
	if (known->warned)
		return false;
	known->warned = true;
	return true;
}

bool filter_in_generic_xdp(struct filter *f, int ifindex)
{
	const struct filter_iface *fi = filter_iface_find(f, ifindex);

	return fi && fi->xdp_link >= 0 && fi->xdp_generic;
}

int filter_offload_attach(struct filter *f, int ifindex, bool xdp, bool xdp_tx, char *err,
			  size_t errlen)
{
	struct filter_iface *fi = filter_iface_find(f, ifindex);
	int txfd = bpf_map__fd(f->skel->maps.offload_tx);
	uint32_t key = (uint32_t)ifindex, val = (uint32_t)ifindex;
	char name[IF_NAMESIZE] = "?";
	bool had;
	int ret;

	if_indextoname((unsigned int)ifindex, name);
	ret = fi ? 0 : filter_iface_add(f, name, ifindex, "offload", &fi, err, errlen);
	if (ret < 0)
		return ret;
	had = fi->flags & (xdp ? RR_IFACE_OFFLOAD_XDP : RR_IFACE_OFFLOAD_TC);
	if (xdp) {
		/* Native only. Generic XDP runs on the skb after GRO, where the program cannot see
		 * a partial checksum (its RFC 1624 update would be wrong) or a GRO super-packet
		 * (taken as one datagram): the caller takes tc instead. Not into the filter's
		 * generic program either (offload_apply puts the fast path in tc on such an
		 * interface before it gets here). */
		if (fi->xdp_link >= 0 && fi->xdp_generic) {
			ret = -EOPNOTSUPP;
		} else {
			ret = filter_attach_xdp(f, fi, XDP_FLAGS_DRV_MODE);
			if (ret < 0) /* the kernel's refusal: kept (filter_offload_refused) */
				filter_refusal_note(f, ifindex, false, ret);
			else
				filter_refusal_forget(f, ifindex, false, false);
		}
		if (ret == 0)
			fi->flags |= RR_IFACE_OFFLOAD_XDP;
	} else {
		ret = filter_attach_tc(f, fi);
		if (ret < 0)
			filter_refusal_note(f, ifindex, true, ret);
		else
			filter_refusal_forget(f, ifindex, true, false);
		if (ret == 0)
			fi->flags |= RR_IFACE_OFFLOAD_TC;
	}
	if (ret < 0) {
		if (xdp)
			snprintf(err, errlen, "%s has no native XDP (%s%s)", name,
				 fi->xdp_link >= 0 ? "the filter runs there in generic XDP"
						   : "attach refused: ",
				 fi->xdp_link >= 0 ? "" : strerror(-ret));
		else
			snprintf(err, errlen, "offload: attach tc on %s: %s", name, strerror(-ret));
		filter_iface_trim(f, fi); /* an interface added for it goes again */
		return ret;
	}
	/* A redirect target only where the driver takes XDP frames: never a black hole. The
	 * XDP attach says (a tc attach beside it on the same interface leaves the entry be). */
	if (xdp && xdp_tx) {
		ret = bpf_map_update_elem(txfd, &key, &val, BPF_ANY);
		filter_offload_up(f, ifindex);
	} else if (xdp) {
		bpf_map_delete_elem(txfd, &key);
	}
	if (ret == 0)
		ret = filter_iface_publish(f, fi);
	if (ret < 0) {
		snprintf(err, errlen, "offload: maps for %s: %s", name, strerror(-ret));
		return ret;
	}
	filter_xmit_trace_sync(f);
	if (had) /* (a hook that stays says nothing) */
		return 0;
	f->offload_hook_changes++;
	log_info("offload: fast path on %s in %s (%s%s)", name, xdp ? "XDP" : "tc",
		 filter_link_desc(xdp ? fi->xdp_link : fi->tc_link, false),
		 xdp ? (xdp_tx ? "; a redirect target" : "; not a redirect target") : "");
	return 0;
}

void filter_offload_detach(struct filter *f, int ifindex, bool xdp, bool tc)
{
	struct filter_iface *fi = filter_iface_find(f, ifindex);
	uint32_t key = (uint32_t)ifindex;

	if (!fi)
		return;
	if ((xdp && (fi->flags & RR_IFACE_OFFLOAD_XDP)) || (tc && (fi->flags & RR_IFACE_OFFLOAD_TC)))
		f->offload_hook_changes++;
	if (xdp) {
		bpf_map_delete_elem(bpf_map__fd(f->skel->maps.offload_tx), &key);
		fi->flags &= ~RR_IFACE_OFFLOAD_XDP;
	}
	if (tc)
		fi->flags &= ~RR_IFACE_OFFLOAD_TC;
	filter_iface_trim(f, fi);
	filter_xmit_trace_sync(f);
}

uint32_t filter_offload_hook_changes(const struct filter *f)
{
	return f ? f->offload_hook_changes : 0;
}

int filter_offload_ifaces(const struct filter *f, struct filter_offload_iface *out, int max)
{
	uint32_t i;
	int n = 0;

	for (i = 0; i < f->n_ifaces && n < max; i++) {
		const struct filter_iface *fi = &f->ifaces[i];
		uint32_t key = (uint32_t)fi->ifindex, v;

		if (!(fi->flags & IFACE_OFFLOAD))
			continue;
		out[n].ifindex = fi->ifindex;
		out[n].xdp = fi->flags & RR_IFACE_OFFLOAD_XDP;
		out[n].tc = fi->flags & RR_IFACE_OFFLOAD_TC;
		out[n].xdp_tx = bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.offload_tx), &key,
						    &v) == 0;
		snprintf(out[n].name, sizeof(out[n].name), "%s", fi->name);
		n++;
	}
	return n;
}

int filter_offload_hooks(const struct filter *f, int ifindex)
{
	uint32_t key = (uint32_t)ifindex, tx;
	struct rr_iface v = { 0 };
	int ret, hooks = 0;

	ret = bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.rr_ifaces), &key, &v);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	if (ret == 0 && (v.flags & RR_IFACE_OFFLOAD_XDP))
		hooks |= FILTER_HOOK_XDP;
	if (ret == 0 && (v.flags & RR_IFACE_OFFLOAD_TC))
		hooks |= FILTER_HOOK_TC;
	ret = bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.offload_tx), &key, &tx);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	if (ret == 0)
		hooks |= FILTER_HOOK_TARGET;
	return hooks;
}

int filter_below_sync(struct filter *f)
{
	int changed = 0, ret;
	uint32_t i;

	for (i = 0; i < f->n_ifaces; i++) {
		struct filter_iface *fi = &f->ifaces[i];
		bool below = filter_judged_below(f, fi);

		if (below == fi->judged_below)
			continue;
		fi->judged_below = below;
		/* (a filtered link whose attach failed has no entry, and gets none here) */
		ret = filter_iface_write(f, fi, BPF_EXIST);
		if (ret < 0 && ret != -ENOENT)
			return ret;
		log_info("filter: %s %s", fi->name,
			 below ? "has the filter on every device below it: its fast sessions are judged"
			       : "no longer has the filter on every device below it");
		changed++;
	}
	return changed;
}

int filter_iface_judges(const struct filter *f, int ifindex)
{
	uint32_t key = (uint32_t)ifindex;
	struct rr_iface v = { 0 };
	int ret;

	ret = bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.rr_ifaces), &key, &v);
	if (ret == -ENOENT)
		return 1; /* iface_flags: RR_IFACE_DEFAULT */
	if (ret < 0)
		return ret;
	return (v.flags & (RR_IFACE_FILTER_XDP | RR_IFACE_FILTER_TC | RR_IFACE_JUDGED_BELOW)) != 0;
}

int filter_offload_down(struct filter *f, int *out, int max)
{
	int fd = bpf_map__fd(f->skel->maps.offload_tx_down), n = 0;
	uint32_t key, next, *prev = NULL;

	while (n < max && bpf_map_get_next_key(fd, prev, &next) == 0) {
		out[n++] = (int)next;
		key = next;
		prev = &key;
	}
	return n;
}

void filter_offload_up(struct filter *f, int ifindex)
{
	uint32_t key = (uint32_t)ifindex;

	bpf_map_delete_elem(bpf_map__fd(f->skel->maps.offload_tx_down), &key);
}

void filter_offload_gone(struct filter *f, int ifindex)
{
	filter_offload_up(f, ifindex);
	filter_xmit_fold(f, ifindex);
}

int filter_offload_set(struct filter *f, const struct offload_key *k, const struct offload_rule *r)
{
	if (r->flow >= f->flows)
		return -ERANGE;
	return bpf_map_update_elem(bpf_map__fd(f->skel->maps.offload_sessions), k, r, BPF_ANY);
}

int filter_offload_del(struct filter *f, const struct offload_key *k, uint32_t flow)
{
	int fd = bpf_map__fd(f->skel->maps.offload_sessions), ret;
	struct offload_rule r;

	/* A lookup more per removal (a session's end, never a datagram). Another writer
	 * between the two calls can still lose its entry: its session then takes the socket
	 * path, which relays the same. */
	ret = bpf_map_lookup_elem(fd, k, &r);
	if (ret == 0 && r.flow != flow)
		return 0;
	if (ret == 0)
		ret = bpf_map_delete_elem(fd, k);
	return ret == -ENOENT ? 0 : ret;
}

int filter_offload_set_mtu(struct filter *f, const struct offload_key *k, uint32_t flow,
			   uint16_t path_mtu, int ttl)
{
	int fd = bpf_map__fd(f->skel->maps.offload_sessions), ret;
	struct offload_rule r;

	ret = bpf_map_lookup_elem(fd, k, &r);
	if (ret < 0)
		return ret;
	if (r.flow != flow)
		return -ENOENT;
	if (r.path_mtu == path_mtu && (ttl < 0 || r.ttl == ttl))
		return 0;
	/* r is the rule this session installed, not a copy of another's: a flow slot is one
	 * session slot of one worker, and only that worker writes rules naming it. Another
	 * worker's session of the same key (a reuseport regroup) that installs between the
	 * lookup and the update is overwritten by this session's rule, as if this session had
	 * installed after it: the last writer wins, as with two installs (filter_offload_set).
	 * The map has no compare-and-swap to close that window (docs/offload.md). */
	r.path_mtu = path_mtu;
	if (ttl >= 0)
		r.ttl = (uint8_t)ttl;
	/* BPF_EXIST: a session closed meanwhile stays removed. */
	return bpf_map_update_elem(fd, k, &r, BPF_EXIST);
}

int filter_offload_set_route(struct filter *f, const struct offload_key *k,
			     const struct offload_rule *from)
{
	int fd = bpf_map__fd(f->skel->maps.offload_sessions), ret;
	struct offload_rule r;

	ret = bpf_map_lookup_elem(fd, k, &r);
	if (ret < 0)
		return ret;
	if (r.flow != from->flow)
		return -ENOENT;
	if (r.oif == from->oif && r.iif == from->iif && r.by_policy == from->by_policy)
		return 0;
	/* As in filter_offload_set_mtu: only this session's worker writes rules naming the flow;
	 * the rest of the rule (path MTU, flow label, TTL) stays as it was. */
	r.oif = from->oif;
	r.iif = from->iif;
	r.by_policy = from->by_policy;
	ret = bpf_map_update_elem(fd, k, &r, BPF_EXIST);
	return ret < 0 ? ret : 1;
}

const struct offload_flow_stats *filter_offload_flow(const struct filter *f, uint32_t flow)
{
	return flow < f->flows ? &f->stats[flow] : NULL;
}

uint32_t filter_offload_flows(const struct filter *f)
{
	return f->flows;
}

int filter_offload_counters(struct filter *f, uint64_t out[OFFLOAD_CNT__MAX])
{
	return filter_sum_all(f, bpf_map__fd(f->skel->maps.offload_counters), OFFLOAD_CNT__MAX,
			      out);
}

int filter_offload_xmit(struct filter *f, int ifindex, uint64_t *drops, uint64_t *sent)
{
	struct offload_xmit_val v = { 0 };
	uint32_t key = (uint32_t)ifindex;
	int ret = bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.offload_xmit), &key, &v);
	const struct bpfbase_xmit *gone =
		bpfbase_xmit_of(f->xmit_gone, BPFBASE_XMIT_ROWS, filter_iface_name(f, ifindex), false);

	*drops = v.drops + (gone ? gone->drops : 0);
	*sent = v.sent + (gone ? gone->sent : 0);
	return ret == -ENOENT ? 0 : ret;
}

void filter_xmit_counts(struct filter *f, struct bpfbase_xmit *into, uint32_t n)
{
	int fd = bpf_map__fd(f->skel->maps.offload_xmit), other = 0;
	struct bpfbase_xmit was[BPFBASE_XMIT_ROWS];
	uint32_t i;

	/* The table is made again: the names of interfaces of ours first (the next program
	 * likely shows them), then those gone or renamed while this one ran, then those an
	 * older one left; each with what into had for it. Added to as it was, into's rows
	 * were never freed: old names kept them, and a new live one went to the row no output
	 * shows (review-ifrename3 G3). */
	if (n > BPFBASE_XMIT_ROWS)
		n = BPFBASE_XMIT_ROWS;
	memcpy(was, into, n * sizeof(*into));
	memset(into, 0, n * sizeof(*into));
	for (i = 0; i < f->n_ifaces; i++) {
		struct offload_xmit_val v = { 0 };
		uint32_t key = (uint32_t)f->ifaces[i].ifindex;
		uint64_t drops, sent;

		bpf_map_lookup_elem(fd, &key, &v); /* (none: 0/0) */
		drops = v.drops;
		sent = v.sent;
		bpfbase_xmit_take(was, n, f->ifaces[i].name, &drops, &sent);
		other += filter_xmit_add(into, n, f->ifaces[i].name, drops, sent);
	}
	for (i = 0; i < BPFBASE_XMIT_ROWS; i++) {
		struct bpfbase_xmit g = f->xmit_gone[i];

		if (!g.name[0])
			continue;
		bpfbase_xmit_take(was, n, g.name, &g.drops, &g.sent);
		other += filter_xmit_add(into, n, g.name, g.drops, g.sent);
	}
	/* (BPFBASE_XMIT_OTHER's row too, which goes to its own) */
	for (i = 0; i < n; i++)
		if (was[i].name[0])
			other += filter_xmit_add(into, n, was[i].name, was[i].drops, was[i].sent);
	if (other)
		log_notice("offload: %d of the interface names whose transmit counts the next "
			   "program goes on from found no row of their own (%u): kept in one row "
			   "that no output shows; their series start at 0",
			   other, n - 1);
}

const char *filter_offload_counter_name(enum offload_counter c)
{
	static const char *const names[OFFLOAD_CNT__MAX] = {
	    [OFFLOAD_CNT_FORWARDED] = "forwarded",
	    [OFFLOAD_CNT_PASS_NO_SESSION] = "pass_no_session",
	    [OFFLOAD_CNT_PASS_FRAGMENT] = "pass_fragment",
	    [OFFLOAD_CNT_PASS_IP_OPTIONS] = "pass_ip_options",
	    [OFFLOAD_CNT_PASS_EXT_HEADERS] = "pass_ext_headers",
	    [OFFLOAD_CNT_PASS_VLAN] = "pass_vlan",
	    [OFFLOAD_CNT_PASS_MTU] = "pass_mtu",
	    [OFFLOAD_CNT_PASS_OVERSIZE] = "pass_oversize",
	    [OFFLOAD_CNT_PASS_NO_NEIGH] = "pass_no_neigh",
	    [OFFLOAD_CNT_PASS_FIB] = "pass_fib",
	    [OFFLOAD_CNT_PASS_FAMILY] = "pass_family",
	    [OFFLOAD_CNT_PASS_GSO] = "pass_gso",
	    [OFFLOAD_CNT_PASS_NO_TX] = "pass_no_tx",
	    [OFFLOAD_CNT_PASS_MALFORMED] = "pass_malformed",
	    [OFFLOAD_CNT_PASS_NONLINEAR] = "pass_nonlinear",
	    [OFFLOAD_CNT_PASS_FWD_DISABLED] = "pass_forwarding_disabled",
	    [OFFLOAD_CNT_PASS_NOT_HOST] = "pass_not_host",
	    [OFFLOAD_CNT_PASS_WRONG_IFACE] = "pass_wrong_iface",
	    [OFFLOAD_CNT_PASS_NO_MAC] = "pass_no_mac",
	};

	if ((unsigned int)c >= OFFLOAD_CNT__MAX || !names[c])
		return "unknown";
	return names[c];
}

int filter_judge_begin(struct filter *f, struct filter_judge *j)
{
	uint32_t zero = 0;
	int ret;

	memset(j, 0, sizeof(*j));
	if (f->mode == FILTER_MODE_OFF)
		return 0;
	/* The map, not f->active: the workers judge on their own thread, and the program reads
	 * this one. */
	ret = bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.filter_active), &zero, &j->gen);
	if (ret == 0)
		ret = bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.filter_settings), &j->gen,
					  &j->settings);
	j->calls = FILTER_JUDGE_BEGIN_CALLS;
	if (ret < 0)
		return ret;
	j->on = true;
	j->port = UINT32_MAX;
	return 0;
}

int filter_judge(struct filter *f, struct filter_judge *j, const struct addr *client,
		 const struct addr *local)
{
	struct filter_lpm_key key = { .prefixlen = FILTER_LPM_GEN_BITS + 128 };
	struct filter_lpm_val rule;
	uint32_t pidx;

	if (!j->on)
		return 0;
	if (addr_port(local) != j->port) {
		j->port = addr_port(local);
		j->entry = 0;
		pidx = j->gen * FILTER_PORTS + j->port;
		bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.filter_ports), &pidx, &j->entry);
		j->calls++;
	}
	if (j->settings.scope == FILTER_SCOPE_KIND_RELAYS && !(j->entry & FILTER_PORT_RELAY))
		return 0;
	if (j->settings.relay_ports_only && !(j->entry & FILTER_PORT_RELAY))
		return 1;
	if (j->entry & FILTER_PORT_RULE)
		return !!(j->entry & FILTER_PORT_DENY);
	key.data[0] = (uint8_t)j->gen;
	addr_to_mapped(client, &key.data[1]);
	j->calls++;
	/* A full-length key returns the longest matching prefix. */
	if (bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.filter_prefixes), &key, &rule) == 0)
		return rule.verdict == FILTER_RULE_DENY;
	return j->settings.default_deny ? 1 : 0;
}

int filter_client_denied(struct filter *f, const struct addr *client, const struct addr *local)
{
	struct filter_judge j;
	int ret = filter_judge_begin(f, &j);

	return ret < 0 ? ret : filter_judge(f, &j, client, local);
}

/* ---------------------------------------------------------------- early shedding */

bool filter_shed_loaded(const struct filter *f, const char **why)
{
	if (why)
		*why = f->shed_why;
	return f->shed != FILTER_SHED_NONE;
}

enum filter_shed_reader filter_shed_reader(const struct filter *f)
{
	return f->shed;
}

/* The counter slot of relay name: its own, else an unnamed one, else one of a relay the
 * config no longer has (not used: every relay of the config marked its own first), whose
 * counts then start again from 0 (zero: a per-CPU value of zeroes). -ENOSPC: none left. */
static int filter_shed_slot(struct filter *f, const char *name, bool *used, int dfd,
			    const uint64_t *zero)
{
	int i, free_slot = -1;
	uint32_t k;

	for (i = 0; i < SHED_SLOTS; i++) {
		if (f->shed_slot[i][0] && strcmp(f->shed_slot[i], name) == 0) {
			used[i] = true;
			return i;
		}
		if (!f->shed_slot[i][0] && free_slot < 0)
			free_slot = i;
	}
	for (i = 0; i < SHED_SLOTS && free_slot < 0; i++) {
		if (used[i])
			continue;
		free_slot = i;
		for (k = (uint32_t)i * SHED_REASONS; k < (uint32_t)(i + 1) * SHED_REASONS; k++)
			bpf_map_update_elem(dfd, &k, zero, BPF_ANY);
	}
	if (free_slot < 0)
		return -ENOSPC;
	snprintf(f->shed_slot[free_slot], sizeof(f->shed_slot[free_slot]), "%s", name);
	used[free_slot] = true;
	return free_slot;
}

/* Whether key k is one of the n in keys. */
static bool shed_key_in(const struct shed_listener_key *k, const struct shed_listener_key *keys,
			uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(k, &keys[i], sizeof(*k)))
			return true;
	return false;
}

int filter_shed_listeners(struct filter *f, const struct config *cfg, const bool *on)
{
	int lfd = bpf_map__fd(f->skel->maps.shed_listeners);
	int dfd = bpf_map__fd(f->skel->maps.shed_drops);
	struct shed_listener_key *had, *want, next, cur;
	struct shed_listener *want_val;
	bool used[SHED_SLOTS] = { false };
	uint32_t r, j, n_had = 0, n_want = 0;
	uint64_t *zero;
	void *prev = NULL;
	int ret = 0, i;

	if (!f->shed)
		return 0;
	zero = calloc((size_t)f->ncpus, sizeof(*zero));
	had = calloc(SHED_LISTENERS_MAX, sizeof(*had));
	want = calloc(SHED_LISTENERS_MAX, sizeof(*want));
	want_val = calloc(SHED_LISTENERS_MAX, sizeof(*want_val));
	if (!zero || !had || !want || !want_val) {
		ret = -ENOMEM;
		goto out;
	}
	/* Collect first: deleting while walking a hash could skip keys. */
	while (n_had < SHED_LISTENERS_MAX && bpf_map_get_next_key(lfd, prev, &next) == 0) {
		had[n_had++] = next;
		cur = next;
		prev = &cur;
	}
	/* Every relay of cfg keeps its slot, shedding on or off: what it shed stays in its
	 * totals, which are counters and must not go down. Marked before any new relay takes a
	 * slot, so none takes one of those. */
	for (r = 0; r < cfg->n_relays; r++)
		for (i = 0; i < SHED_SLOTS; i++)
			if (f->shed_slot[i][0] && !strcmp(f->shed_slot[i], cfg->relays[r].name))
				used[i] = true;
	/* The wanted set first; then what is no longer wanted goes, and the wanted entries are
	 * written over the old (a listener kept never stops shedding, and the map, sized for
	 * the most a config holds, never needs room for both sets). A write that fails leaves
	 * none, as the caller then reports. */
	for (r = 0; r < cfg->n_relays && ret == 0; r++) {
		struct shed_listener val;

		if (!on[r])
			continue;
		ret = filter_shed_slot(f, cfg->relays[r].name, used, dfd, zero);
		if (ret < 0)
			break;
		val.slot = (uint32_t)ret;
		/* per second in the config, per window in the program; a rate under one datagram
		 * per window still leaves the rule on */
		val.heavy = cfg->relays[r].shed_flow_rate / SHED_WINDOWS_PER_S;
		if (cfg->relays[r].shed_flow_rate && !val.heavy)
			val.heavy = 1;
		ret = 0;
		for (j = 0; j < cfg->relays[r].n_listen && n_want < SHED_LISTENERS_MAX; j++) {
			struct shed_listener_key k = { .pad = 0 };

			addr_to_mapped(&cfg->relays[r].listen[j], k.addr);
			k.port = htons(addr_port(&cfg->relays[r].listen[j]));
			want_val[n_want] = val;
			want[n_want++] = k;
		}
	}
	for (j = 0; j < n_had; j++)
		if (ret < 0 || !shed_key_in(&had[j], want, n_want))
			bpf_map_delete_elem(lfd, &had[j]);
	for (j = 0; ret == 0 && j < n_want; j++)
		ret = bpf_map_update_elem(lfd, &want[j], &want_val[j], BPF_ANY);
	for (j = 0; ret < 0 && j < n_want; j++)
		bpf_map_delete_elem(lfd, &want[j]);
out:
	free(want_val);
	free(want);
	free(had);
	free(zero);
	return ret;
}

/* The hook the shed stage belongs in on fi. It joins an XDP program another stage put there,
 * or the filter's tc one (a denied source stays the filter's drop). Otherwise native XDP
 * where XDP runs early (rxpath_xdp_early): on a device with a driver it drops before the
 * skb, on veth before RPS; tc would shed after both, on the CPU RPS or the IRQ gave the
 * packet, often a worker's, where a flood of new flows kept the tc fast path's worker from
 * opening their sessions (docs/offload.md). Where XDP is not early (veth without RPS) the skb
 * exists already: XDP would only add a copy of every frame and turn off the peer's TSO and
 * GSO, so the stage takes tc, as it does where native XDP fails. xdp_early carries that
 * judgement, or the shed_hook setting that overrides it (shed.c). */
static uint32_t filter_shed_hook(const struct filter_iface *fi, bool xdp_early)
{
	if (fi->flags & (RR_IFACE_FILTER_XDP | RR_IFACE_OFFLOAD_XDP))
		return RR_IFACE_SHED_XDP;
	if ((fi->flags & RR_IFACE_FILTER_TC) || !xdp_early)
		return RR_IFACE_SHED_TC;
	return RR_IFACE_SHED_XDP;
}

int filter_shed_attach(struct filter *f, int ifindex, bool xdp_early, char *err, size_t errlen)
{
	struct filter_iface *fi = filter_iface_find(f, ifindex);
	char name[IF_NAMESIZE] = "?";
	uint32_t flag, was;
	int ret, blind = 0;

	if (!f->shed) {
		snprintf(err, errlen, "shed: %s", f->shed_why);
		return -EOPNOTSUPP;
	}
	if_indextoname((unsigned int)ifindex, name);
	ret = fi ? 0 : filter_iface_add(f, name, ifindex, "shed", &fi, err, errlen);
	if (ret < 0)
		return ret;
	was = fi->flags & IFACE_SHED;
	flag = filter_shed_hook(fi, xdp_early);
	if (flag == was)
		return 0;
	ret = flag == RR_IFACE_SHED_XDP ? filter_attach_xdp(f, fi, XDP_FLAGS_DRV_MODE) : 0;
	if (ret < 0 && flag == RR_IFACE_SHED_XDP && !was) {
		flag = RR_IFACE_SHED_TC;
		ret = 0;
	}
	/* (tc behind someone else's generic XDP program with frags would shed nothing) */
	if (flag == RR_IFACE_SHED_TC) {
		ret = blind = filter_tc_blind(f, ifindex, "shed", err, errlen);
		if (!ret)
			ret = filter_attach_tc(f, fi);
	}
	/* One write moves the stage from the old hook to the new one, both attached by then,
	 * so no datagram goes unjudged; the hook no stage needs any more goes after. */
	if (ret == 0) {
		fi->flags = (fi->flags & ~IFACE_SHED) | flag;
		ret = filter_iface_publish(f, fi);
	}
	if (ret < 0) {
		fi->flags = (fi->flags & ~IFACE_SHED) | was;
		filter_iface_trim(f, fi);
		if (was) { /* a move that failed: the stage goes on where it runs */
			log_notice("shed: stays on %s in %s: moving it to %s failed: %s", name,
				   was == RR_IFACE_SHED_XDP ? "XDP" : "tc",
				   flag == RR_IFACE_SHED_XDP ? "XDP" : "tc", strerror(-ret));
			return 0;
		}
		if (!blind)
			snprintf(err, errlen, "shed: attach on %s: %s", name, strerror(-ret));
		return ret;
	}
	if (was)
		filter_iface_trim(f, fi);
	log_info("shed: on %s in %s (%s)%s", name, flag == RR_IFACE_SHED_XDP ? "XDP" : "tc",
		 filter_link_desc(flag == RR_IFACE_SHED_XDP ? fi->xdp_link : fi->tc_link,
				  flag == RR_IFACE_SHED_XDP && fi->xdp_generic),
		 !was ? "" : was == RR_IFACE_SHED_TC ? ", moved from tc" : ", moved from XDP");
	return 0;
}

void filter_shed_detach(struct filter *f, int ifindex)
{
	struct filter_iface *fi = filter_iface_find(f, ifindex);

	if (!fi || !(fi->flags & IFACE_SHED))
		return;
	fi->flags &= ~IFACE_SHED;
	filter_iface_trim(f, fi);
}

int filter_shed_ifaces(const struct filter *f, struct filter_shed_iface *out, int max)
{
	uint32_t i;
	int n = 0;

	for (i = 0; i < f->n_ifaces && n < max; i++) {
		const struct filter_iface *fi = &f->ifaces[i];

		if (!(fi->flags & IFACE_SHED))
			continue;
		out[n].ifindex = fi->ifindex;
		out[n].xdp = fi->flags & RR_IFACE_SHED_XDP;
		out[n].generic = out[n].xdp && fi->xdp_generic;
		snprintf(out[n].name, sizeof(out[n].name), "%s", fi->name);
		n++;
	}
	return n;
}

int filter_shed_dropped(struct filter *f, const char *name, uint64_t *full, uint64_t *heavy)
{
	int fd = bpf_map__fd(f->skel->maps.shed_drops);
	uint64_t *vals;
	int i, ret = 0;

	*full = *heavy = 0;
	if (!f->shed)
		return 0;
	for (i = 0; i < SHED_SLOTS; i++)
		if (f->shed_slot[i][0] && strcmp(f->shed_slot[i], name) == 0)
			break;
	if (i == SHED_SLOTS)
		return 0;
	vals = calloc((size_t)f->ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	ret = filter_sum(fd, (uint32_t)i * SHED_REASONS + SHED_REASON_FULL, vals, f->ncpus, full);
	if (ret == 0)
		ret = filter_sum(fd, (uint32_t)i * SHED_REASONS + SHED_REASON_HEAVY, vals, f->ncpus,
				 heavy);
	free(vals);
	return ret;
}

int filter_shed_counters(struct filter *f, uint64_t out[SHED_CNT__MAX])
{
	return filter_sum_all(f, bpf_map__fd(f->skel->maps.shed_counters), SHED_CNT__MAX, out);
}

const char *filter_shed_counter_name(enum shed_counter c)
{
	static const char *const names[SHED_CNT__MAX] = {
	    [SHED_CNT_PASS_NOT_LISTENER] = "pass_not_listener",
	    [SHED_CNT_PASS_NO_SOCKET] = "pass_no_socket",
	    [SHED_CNT_PASS_ROOM] = "pass_room",
	    [SHED_CNT_DROP_FULL] = "drop_full_socket",
	    [SHED_CNT_DROP_HEAVY] = "drop_heavy_flow",
	    [SHED_CNT_PASS_FAST_PATH] = "pass_fast_path",
	    [SHED_CNT_PASS_UNCHECKED] = "pass_unchecked",
	};

	if ((unsigned int)c >= SHED_CNT__MAX || !names[c])
		return "unknown";
	return names[c];
}

void filter_detach(struct filter *f)
{
	uint32_t i;

	if (!f)
		return;
	for (i = 0; i < f->n_ifaces; i++)
		filter_detach_iface(NULL, &f->ifaces[i]);
	bpf_link__destroy(f->xmit_trace);
	bpf_link__destroy(f->redirect_err_trace);
	f->xmit_trace = f->redirect_err_trace = NULL;
	/* Pins exist for introspection while we run; they must not outlive the filter. */
	if (f->pinned)
		filter_unpin(f);
	f->pinned = false;
	filter_pin_unlock(f); /* after the unpin: the next instance finds none of ours */
}

void filter_free(struct filter *f)
{
	if (!f)
		return;
	/* Links first: nothing runs the program once they are closed. */
	filter_detach(f);
	if (f->stats)
		munmap(f->stats, (size_t)f->flows * sizeof(struct offload_flow_stats));
	filter_bpf__destroy(f->skel);
	filter_copies_free(f);
	free(f);
}

int filter_xdp_query(int ifindex, int *mode, uint32_t *prog_id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, o);
	int ret = bpf_xdp_query(ifindex, 0, &o);

	if (ret)
		return ret < 0 ? ret : -EIO;
	*mode = o.attach_mode;
	switch (o.attach_mode) {
	case XDP_ATTACHED_SKB:
		*prog_id = o.skb_prog_id;
		break;
	case XDP_ATTACHED_DRV:
		*prog_id = o.drv_prog_id;
		break;
	case XDP_ATTACHED_HW:
		*prog_id = o.hw_prog_id;
		break;
	case XDP_ATTACHED_NONE:
		*prog_id = 0;
		break;
	default: /* several at once */
		*prog_id = o.drv_prog_id ? o.drv_prog_id : o.skb_prog_id;
		break;
	}
	return 0;
}
