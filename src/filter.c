// SPDX-License-Identifier: MIT
/* Loader for bpf/filter.bpf.c: the only user of libbpf and of the generated skeleton.
 * Rules live in two generations (double buffer); an update fills the idle one and flips
 * filter_active, so a packet is judged by one whole rule set. See docs/filter.md. */
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "filter.h"
#include "filter.skel.h"
#include "log.h"

_Static_assert(FILTER_MAP_MAX_PREFIXES == FILTER_MAX_PREFIXES, "filter_maps.h vs config.h");
_Static_assert(FILTER_MAP_MAX_PORT_RULES == FILTER_MAX_PORT_RULES, "filter_maps.h vs config.h");
_Static_assert(FILTER_MAX_PORT_RULES <= (1u << (32 - FILTER_PORT_RULE_SHIFT)), "port rule id");

#define FILTER_PIN_DIR "/sys/fs/bpf/ringrelay"
/* tc filter identity on the clsact ingress hook: fixed, so we remove exactly ours. */
#define FILTER_TC_HANDLE 0x5252
#define FILTER_TC_PRIORITY 1

enum filter_attach {
	FILTER_ATTACH_NONE,
	FILTER_ATTACH_XDP_DRV,
	FILTER_ATTACH_XDP_SKB,
	FILTER_ATTACH_TC
};

struct filter_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	enum filter_attach kind;
	int link_fd;	   /* XDP: the BPF link; closing it detaches */
	bool hook_created; /* tc: we created clsact, so we destroy it */
};

struct filter {
	struct filter_bpf *skel;
	enum filter_mode mode;
	struct filter_iface ifaces[FILTER_MAX_IFACES];
	uint32_t n_ifaces;
	uint32_t active;		  /* generation the program uses */
	uint32_t n_rules[FILTER_GENS][3]; /* deny, allow, ports per generation */
	/* What each generation's port table holds, so an update writes only what changed
	 * (a full 64K-entry batch costs milliseconds). NULL until first fully written. */
	uint32_t *ports_shadow[FILTER_GENS];
	int ncpus;
	bool pinned;
};

static int filter_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_msg(level == LIBBPF_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG, "libbpf: %s", line);
	return 0;
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
	    [FILTER_CNT_DROP_EXT_HEADERS] = "drop_ext_headers",
	    [FILTER_CNT_DROP_UNPARSED] = "drop_unparsed",
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

/* Port table of one generation: relay listen ports, then port rules (first rule wins). */
static int filter_fill_ports(struct filter *f, const struct config *cfg, uint32_t gen)
{
	const struct filter_conf *fc = &cfg->filter;
	uint32_t *vals, *keys, count = FILTER_PORTS, i, r, p;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int fd = bpf_map__fd(f->skel->maps.filter_ports), ret = 0;

	vals = calloc(FILTER_PORTS, sizeof(*vals));
	keys = calloc(FILTER_PORTS, sizeof(*keys));
	if (!vals || !keys) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (r = 0; r < cfg->n_relays; r++)
		for (i = 0; i < cfg->relays[r].n_listen; i++)
			vals[addr_port(&cfg->relays[r].listen[i])] |= FILTER_PORT_RELAY;
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
 * could skip keys). */
static int filter_clear_prefixes(struct filter *f, uint32_t gen)
{
	int fd = bpf_map__fd(f->skel->maps.filter_prefixes), ret = 0;
	size_t n = 0, cap = FILTER_GENS * 2 * FILTER_MAX_PREFIXES, i;
	struct filter_lpm_key *keys, cur, next;
	void *prev = NULL;

	keys = calloc(cap, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	while (n < cap && bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (next.data[0] == gen)
			keys[n++] = next;
		cur = next;
		prev = &cur;
	}
	for (i = 0; i < n; i++) {
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

static int filter_fill_prefixes(struct filter *f, const struct config *cfg, uint32_t gen, char *err,
				size_t errlen)
{
	const struct filter_conf *fc = &cfg->filter;
	int fd = bpf_map__fd(f->skel->maps.filter_prefixes), ret;
	struct filter_lpm_val val;
	struct filter_lpm_key key;
	uint32_t i, j;

	ret = filter_clear_prefixes(f, gen);
	if (ret < 0) {
		snprintf(err, errlen, "filter: clearing old prefixes: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; i < fc->n_deny; i++) {
		filter_lpm_key_from(&fc->deny[i].prefix, gen, &key);
		val = (struct filter_lpm_val){FILTER_RULE_DENY, FILTER_RULE_DENY_BASE + i};
		ret = bpf_map_update_elem(fd, &key, &val, BPF_ANY);
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
		ret = bpf_map_update_elem(fd, &key, &val, BPF_ANY);
		if (ret < 0)
			goto err_map;
	}
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

/* Fills the idle generation from cfg and makes it active. On error the old one stays. */
static int filter_apply(struct filter *f, const struct config *cfg, char *err, size_t errlen)
{
	uint32_t gen = f->active ^ 1, zero = 0;
	struct filter_settings s;
	int ret;

	filter_settings_from(&cfg->filter, &s);
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
	/* The switch: one 4-byte store the program reads once per packet. */
	ret = bpf_map_update_elem(bpf_map__fd(f->skel->maps.filter_active), &zero, &gen, BPF_ANY);
	if (ret < 0)
		goto err_map;
	f->active = gen;
	return 0;
err_map:
	snprintf(err, errlen, "filter: writing rules to BPF maps: %s", strerror(-ret));
	return ret;
}

static void filter_unpin(struct filter *f)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, f->skel->obj) if (bpf_map__is_pinned(map))
	    bpf_map__unpin(map, NULL);
}

static int filter_set_pins(struct filter *f)
{
	char path[CONFIG_PATH_LEN];
	struct bpf_map *map;
	int ret;

	bpf_object__for_each_map(map, f->skel->obj)
	{
		/* .rodata and friends are internals, not introspection. */
		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", FILTER_PIN_DIR, bpf_map__name(map));
		ret = bpf_map__set_pin_path(map, path);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int filter_open(const struct config *cfg, struct filter **out, char *err, size_t errlen)
{
	struct filter *f;
	uint32_t zero = 0;
	int ret;

	libbpf_set_print(filter_libbpf_print);
	f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "filter: out of memory");
		return -ENOMEM;
	}
	f->mode = cfg->filter.mode;
	f->ncpus = libbpf_num_possible_cpus();
	if (f->ncpus < 0) {
		ret = f->ncpus;
		snprintf(err, errlen, "filter: counting possible CPUs: %s", strerror(-ret));
		goto err_free;
	}
	f->skel = filter_bpf__open();
	if (!f->skel) {
		ret = -errno;
		snprintf(err, errlen, "filter: opening the BPF object: %s", strerror(-ret));
		goto err_free;
	}
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
			 f->pinned ? " (is bpffs mounted on /sys/fs/bpf, or are stale pins "
				     "under " FILTER_PIN_DIR " from another version?)"
				   : " (needs root or CAP_BPF + CAP_NET_ADMIN)");
		goto err_destroy;
	}
	/* Reused pins may hold any generation; start from a known one. */
	f->active = 1;
	bpf_map_update_elem(bpf_map__fd(f->skel->maps.filter_active), &zero, &f->active, BPF_ANY);
	ret = filter_apply(f, cfg, err, errlen);
	if (ret < 0)
		goto err_destroy;
	*out = f;
	return 0;
err_destroy:
	if (f->pinned)
		filter_unpin(f);
	filter_bpf__destroy(f->skel);
err_free:
	free(f);
	return ret;
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

static int filter_attach_xdp(struct filter *f, struct filter_iface *fi, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	int fd;

	fd = bpf_link_create(bpf_program__fd(f->skel->progs.filter_xdp), fi->ifindex, BPF_XDP,
			     &opts);
	if (fd < 0)
		return fd;
	fi->link_fd = fd;
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

static int filter_attach_tc(struct filter *f, struct filter_iface *fi)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = fi->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FILTER_TC_HANDLE, .priority = FILTER_TC_PRIORITY,
		    .prog_fd = bpf_program__fd(f->skel->progs.filter_tc));
	int ret;

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
	return 0;
}

/* Tries each way from the mode's starting step; logs every fallback with its reason. */
static int filter_attach_iface(struct filter *f, struct filter_iface *fi, char *err, size_t errlen)
{
	int ret = 0;

	switch (f->mode) {
	case FILTER_MODE_XDP:
		ret = filter_attach_xdp(f, fi, XDP_FLAGS_DRV_MODE);
		if (ret == 0) {
			fi->kind = FILTER_ATTACH_XDP_DRV;
			break;
		}
		log_notice("filter: native XDP on %s: %s; trying generic XDP", fi->name,
			   strerror(-ret));
		/* fall through */
	case FILTER_MODE_XDP_GENERIC:
		ret = filter_attach_xdp(f, fi, XDP_FLAGS_SKB_MODE);
		if (ret == 0) {
			fi->kind = FILTER_ATTACH_XDP_SKB;
			break;
		}
		log_notice("filter: generic XDP on %s: %s; trying tc ingress", fi->name,
			   strerror(-ret));
		/* fall through */
	case FILTER_MODE_TC:
		ret = filter_attach_tc(f, fi);
		if (ret == 0) {
			fi->kind = FILTER_ATTACH_TC;
			break;
		}
		snprintf(err, errlen, "filter: attach on %s: %s (%s%s)", fi->name, strerror(-ret),
			 f->mode == FILTER_MODE_TC ? "tc ingress refused" : "XDP and tc both refused",
			 ret == -EEXIST ? "; another tc filter holds our handle 0x5252 prio 1" : "");
		return ret;
	default:
		snprintf(err, errlen, "filter: attach on %s: mode off", fi->name);
		return -EINVAL;
	}
	log_info("filter: attached on %s (%s)", fi->name, filter_attach_name(fi->kind));
	return 0;
}

static void filter_detach_iface(struct filter_iface *fi)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = fi->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = FILTER_TC_HANDLE, .priority = FILTER_TC_PRIORITY);

	switch (fi->kind) {
	case FILTER_ATTACH_XDP_DRV:
	case FILTER_ATTACH_XDP_SKB:
		close(fi->link_fd);
		break;
	case FILTER_ATTACH_TC:
		bpf_tc_detach(&hook, &opts);
		if (fi->hook_created)
			filter_destroy_clsact(fi->ifindex);
		break;
	default:
		break;
	}
	fi->kind = FILTER_ATTACH_NONE;
}

int filter_new(const struct config *cfg, struct filter **out, char *err, size_t errlen)
{
	const struct filter_conf *fc = &cfg->filter;
	struct filter *f;
	uint32_t i;
	int ret;

	/* Resolve names before loading anything: a typo is the user's to fix. */
	ret = config_check_host(cfg, err, errlen);
	if (ret < 0)
		return ret;
	ret = filter_open(cfg, &f, err, errlen);
	if (ret < 0)
		return ret;
	for (i = 0; i < fc->n_interfaces; i++) {
		struct filter_iface *fi = &f->ifaces[i];

		snprintf(fi->name, sizeof(fi->name), "%s", fc->interfaces[i]);
		fi->ifindex = (int)if_nametoindex(fi->name);
		fi->link_fd = -1;
		f->n_ifaces = i + 1;
		if (!fi->ifindex) {
			ret = -ENODEV;
			snprintf(err, errlen, "filter: attach on %s: interface vanished", fi->name);
			goto err_free;
		}
		ret = filter_attach_iface(f, fi, err, errlen);
		if (ret < 0)
			goto err_free;
	}
	*out = f;
	return 0;
err_free:
	filter_free(f);
	return ret;
}

int filter_update(struct filter *f, const struct config *cfg, char *err, size_t errlen)
{
	const struct filter_conf *fc = &cfg->filter;
	uint32_t i;

	if (fc->mode != f->mode || fc->n_interfaces != f->n_ifaces) {
		snprintf(err, errlen, "filter: mode or interfaces changed; restart to apply");
		return -EOPNOTSUPP;
	}
	for (i = 0; i < fc->n_interfaces; i++) {
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

int filter_read_stats(struct filter *f, struct filter_stats *out)
{
	int cfd = bpf_map__fd(f->skel->maps.filter_counters);
	int hfd = bpf_map__fd(f->skel->maps.filter_rule_hits);
	uint32_t gen = f->active, i, base = gen * FILTER_RULES;
	uint64_t *vals;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	vals = calloc((size_t)f->ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < FILTER_CNT__MAX && ret == 0; i++)
		ret = filter_sum(cfd, i, vals, f->ncpus, &out->counters[i]);
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
	return bpf_program__fd(tc ? f->skel->progs.filter_tc : f->skel->progs.filter_xdp);
}

int filter_map_fd(const struct filter *f, const char *map_name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(f->skel->obj, map_name);

	return map ? bpf_map__fd(map) : -ENOENT;
}

void filter_free(struct filter *f)
{
	uint32_t i;

	if (!f)
		return;
	for (i = 0; i < f->n_ifaces; i++)
		filter_detach_iface(&f->ifaces[i]);
	/* Pins exist for introspection while we run; they must not outlive the filter. */
	if (f->pinned)
		filter_unpin(f);
	filter_bpf__destroy(f->skel);
	for (i = 0; i < FILTER_GENS; i++)
		free(f->ports_shadow[i]);
	free(f);
}
