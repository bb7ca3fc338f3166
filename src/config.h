/* SPDX-License-Identifier: MIT */
/* The validated configuration. config_load_* is pure: it reads text and builds this struct,
 * with no side effects on the host (no sockets, no interface look-ups); host checks such as
 * "does this interface exist" live in config_check_host(). A struct config is immutable once
 * loaded and may be freed only after nothing refers to it. Defaults live in config.c only. */
#ifndef RINGRELAY_CONFIG_H
#define RINGRELAY_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "log.h"

#define CONFIG_MAX_RELAYS 64
#define CONFIG_MAX_LISTEN 16	/* per relay */
#define CONFIG_MAX_UPSTREAMS 64 /* per relay */
#define CONFIG_RESOLVE_MAX 256	/* addresses of one name read from a lookup, sorted, then cut */
#define CONFIG_MAX_CPUS 256
#define CONFIG_NAME_LEN 48
#define CONFIG_PATH_LEN 256
#define CONFIG_ERR_LEN 512
#define FILTER_MAX_IFACES 16
#define FILTER_MAX_PREFIXES 4096 /* per list */
#define FILTER_MAX_PORT_RULES 64
/* control_socket's default, which is also ringrelayctl's */
#define CONFIG_DEFAULT_CONTROL_SOCKET "/run/ringrelay/ringrelay.sock"
/* where it goes, under $XDG_RUNTIME_DIR, when the default's directory is not ours to write
 * (a normal user); ringrelayctl looks there next */
#define CONFIG_USER_CONTROL_SOCKET "ringrelay/ringrelay.sock"

enum io_backend { IO_BACKEND_AUTO, IO_BACKEND_IO_URING, IO_BACKEND_MMSG };
/* Which worker's socket of a listen address takes a datagram (steer.h): the one on the CPU
 * that received it, or the flow hash; auto = by CPU where that CPU set covers the workers. */
enum steering { STEERING_AUTO, STEERING_CPU, STEERING_HASH };
/* Where early shedding runs on an interface no other stage decides for (shed.h): auto = native
 * XDP where XDP runs early (rxpath_xdp_early), tc elsewhere. */
enum shed_hook { SHED_HOOK_AUTO, SHED_HOOK_XDP, SHED_HOOK_TC };
enum relay_mode { RELAY_MODE_FORWARD, RELAY_MODE_MIRROR };
enum balance_mode { BALANCE_RR, BALANCE_HASH, BALANCE_MAGLEV };
/* The session fast path (docs/offload.md): where it runs, if anywhere. */
enum offload_mode { OFFLOAD_OFF, OFFLOAD_AUTO, OFFLOAD_XDP, OFFLOAD_TC };
/* Early shedding in the BPF program (docs/offload.md): auto = on when the program loads. */
enum shed_mode { SHED_OFF, SHED_AUTO, SHED_ON };
/* What a new client meets when its relay's session table is full. */
enum session_full { SESSION_FULL_DROP, SESSION_FULL_EVICT };
/* What becomes of a forward session whose upstream is ejected or marked down (not drained) */
enum upstream_down { UPSTREAM_DOWN_MOVE, UPSTREAM_DOWN_KEEP };

#define CONFIG_UPSTREAM_TEXT 128 /* an upstream or listen entry as written */
#define CONFIG_HOST_LEN 254	  /* a DNS name */
#define CONFIG_PROBE_MAX 512	  /* bytes a health check sends or expects */

/* One entry of a relay's upstreams as written: an address, or a name resolved at start,
 * reload and every resolve_interval into members (all its addresses). */
struct upstream_conf {
	struct addr addr;	/* the literal address; family 0 for a name */
	uint32_t weight;	/* 1..100, default 1 */
	bool is_name;
	char host[CONFIG_HOST_LEN]; /* the name (is_name) */
	uint16_t port;		    /* its port (is_name) */
	char text[CONFIG_UPSTREAM_TEXT]; /* "ADDRESS:PORT" or "NAME:PORT" as written: the label */
	/* config_resolve: the name's lookup failed and it kept the running config's addresses */
	bool kept_previous;
	int line; /* where it is written, for later diagnostics */
};

/* An upstream the relay sends to: a literal entry, or one address of a name. */
struct member_conf {
	struct addr addr;
	uint32_t weight;
	uint32_t entry; /* index in upstreams[]: its label */
};

enum source_kind { SOURCE_DEFAULT, SOURCE_ADDRESS, SOURCE_CLIENT };

/* health_check = { ... }: a probe sent over UDP to each upstream every interval; a reply
 * that starts with expect (any reply when empty) within timeout is a success. */
struct health_check_conf {
	bool enabled;
	double interval, timeout; /* seconds */
	uint32_t rise, fall;
	uint8_t send[CONFIG_PROBE_MAX], expect[CONFIG_PROBE_MAX];
	uint32_t send_len, expect_len;
	char send_text[2 * CONFIG_PROBE_MAX + 8], expect_text[2 * CONFIG_PROBE_MAX + 8];
};

struct relay_conf {
	char name[CONFIG_NAME_LEN];
	int line; /* where the relay's group starts, for later diagnostics */
	/* Literal listen addresses as written first (n_listen_literal), then, after
	 * config_resolve, the addresses of the names in listen_names. */
	struct addr listen[CONFIG_MAX_LISTEN];
	uint32_t n_listen;
	uint32_t n_listen_literal;
	char listen_names[CONFIG_MAX_LISTEN][CONFIG_UPSTREAM_TEXT]; /* "NAME:PORT" */
	uint32_t n_listen_names;
	/* Where each was written, for diagnostics after parsing (relays[R].listen[ENTRY] at
	 * its line): the entry of listen[i] (a name's addresses share its entry), of
	 * listen_names[i], and the line of each entry. */
	uint8_t listen_entry[CONFIG_MAX_LISTEN];
	uint8_t listen_name_entry[CONFIG_MAX_LISTEN];
	int listen_line[CONFIG_MAX_LISTEN];
	struct upstream_conf upstreams[CONFIG_MAX_UPSTREAMS];
	uint32_t n_upstreams;
	/* What upstreams resolve to: literal entries at parse time, names by config_resolve. */
	struct member_conf members[CONFIG_MAX_UPSTREAMS];
	uint32_t n_members;
	bool has_names; /* some upstream is a name */
	enum relay_mode mode;
	enum balance_mode balance;
	double session_timeout; /* seconds, > 0 */
	uint32_t max_sessions;	/* for the whole relay; split evenly over workers */
	int max_sessions_line;	/* where it is set (else the relay's line), for the plan */
	enum offload_mode offload; /* forward mode: established sessions relayed in BPF */
	enum shed_mode shed;	   /* drop in BPF what the listener's full socket would drop */
	/* datagrams per second over which a flow is shed first once the listener's socket is
	 * past seven eighths full; 0: shed only what a full socket would drop */
	uint32_t shed_flow_rate;
	/* Sessions one client address may hold in the relay (its ports aside): a quarter of
	 * max_sessions unless set; each worker holds its address to its share. */
	uint32_t max_sessions_per_source;
	bool per_source_default; /* ... not set: it follows the max_sessions in force */
	/* full: drop the new client, or end the least recently used session idle for 1 s */
	enum session_full session_full;
	/* "move": a worker ends the open sessions of an upstream that is ejected or down (not in
	 * panic), so their clients' next datagrams pick another; "keep": they stay */
	enum upstream_down upstream_down;
	/* Join a SO_REUSEPORT group another process already has on a listen address, instead
	 * of refusing to start (portown.h). */
	bool reuseport_shared;
	/* Passive health: max_fails failures in a row eject an upstream for fail_timeout
	 * (health.h); reply_timeout > 0 (forward mode) counts a new session without a reply
	 * within it as a failure. max_fails 0: off. */
	uint32_t max_fails;
	double fail_timeout;
	double reply_timeout; /* 0: off */
	struct health_check_conf health_check;
	double resolve_interval; /* seconds; 0: names resolve at start and reload only */
	/* Where upstream sockets send from: the default route's choice, source_addr (port 0),
	 * or the client's own address and port (transparent, IP_TRANSPARENT). */
	enum source_kind source;
	int source_line; /* where source is set (else the relay's line) */
	struct addr source_addr;
	uint32_t fwmark; /* SO_MARK of upstream sockets; 0: none */
};

enum filter_mode { FILTER_MODE_OFF, FILTER_MODE_XDP, FILTER_MODE_XDP_GENERIC, FILTER_MODE_TC };
enum filter_verdict { FILTER_VERDICT_ALLOW, FILTER_VERDICT_DENY };
enum filter_scope { FILTER_SCOPE_RELAYS, FILTER_SCOPE_UDP };
/* How tc ingress programs are attached: a tcx link where the kernel has one (6.6), else a
 * clsact filter; or only one of the two. */
enum tc_hook { TC_HOOK_AUTO, TC_HOOK_TCX, TC_HOOK_CLSACT };

struct filter_prefix {
	struct prefix prefix;
	int line;
};

struct filter_port_rule {
	uint16_t lo, hi; /* inclusive destination-port range */
	enum filter_verdict verdict;
	int line;
};

struct filter_conf {
	enum filter_mode mode; /* OFF when the section is absent */
	int line;
	char interfaces[FILTER_MAX_IFACES][IF_NAMESIZE];
	int interface_line[FILTER_MAX_IFACES];
	uint32_t n_interfaces;
	enum filter_verdict default_verdict;
	enum filter_scope scope;
	enum filter_verdict unparsed; /* IP frames the parser cannot read to the UDP header */
	struct filter_prefix deny[FILTER_MAX_PREFIXES];
	uint32_t n_deny;
	struct filter_prefix allow[FILTER_MAX_PREFIXES];
	uint32_t n_allow;
	struct filter_port_rule ports[FILTER_MAX_PORT_RULES];
	uint32_t n_ports;
	bool relay_ports_only; /* with scope "udp": UDP to any other port is dropped */
	/* Per-source token bucket; pps == 0 disables it. Sources are grouped by prefix length
	 * (32/128 = per address). */
	uint32_t rate_pps;
	uint32_t rate_burst;
	uint8_t rate_prefix4; /* 1..32, default 32 */
	uint8_t rate_prefix6; /* 1..128, default 128 */
	bool pin;	      /* pin maps under /sys/fs/bpf/ringrelay */
	enum tc_hook tc_hook; /* for every tc attachment: filter, shedding, fast path */
	uint32_t tc_priority; /* a classic filter's priority (tc pref), 1..65535: ours by it */
};

/* Who may use the control socket beyond root and the daemon's own user (who may do
 * everything): members of read_only_group may run the commands that change nothing and show
 * no client address (status, stats, filter). */
struct control_access_conf {
	char read_only_group[CONFIG_NAME_LEN]; /* "" = nobody else */
};

/* napi = { ... }: how the workers and the listen interfaces' NAPI instances cooperate
 * (busy polling from the worker's own wait, interrupt deferral, threaded NAPI). Busy polling
 * is set up by each worker on its ring or epoll instance; the per-NAPI settings are applied
 * by main and the admin thread (CAP_NET_ADMIN). */
struct napi_conf {
	uint32_t busy_poll_us;	      /* 0: no busy polling */
	bool prefer_busy_poll;	      /* the worker's polls, not the IRQ, drive the NAPI */
	uint32_t busy_poll_budget;    /* packets per poll (epoll; io_uring's is the kernel's) */
	uint32_t defer_hard_irqs;     /* per NAPI: empty polls before IRQs come back */
	uint32_t gro_flush_timeout;   /* per NAPI, ns */
	uint32_t irq_suspend_timeout; /* per NAPI, ns; 0: no IRQ suspension */
	bool threaded;		      /* threaded NAPI, each thread on its worker's CPU */
	/* nice value for NAPI threads that may run on a worker's CPU; 0: leave them */
	int thread_nice;
	/* theirs while early shedding drops datagrams (a flood); not above thread_nice: none */
	int flood_nice;
};

struct metrics_conf {
	bool enabled;
	struct addr listen; /* default 127.0.0.1:9470 */
};

#define CONFIG_BUFFER_SIZE 2048 /* buffer_size's default */
/* The largest buffer, what gro needs and buffer_size's default with it: 64 KiB and a page. A
 * coalesced receive carries up to 65507 bytes (65535 - IPv4 + UDP headers: the kernel's GRO
 * limit) and a single IPv6 datagram up to 65527, after up to 136 bytes of header in the
 * buffer (the receive's, the sender's address, control data); 64 KiB cut such bursts. */
#define CONFIG_GRO_BUFFER_SIZE 69632

struct config {
	char path[CONFIG_PATH_LEN];
	bool resolved; /* config_resolve ran on it and succeeded */
	uint32_t workers; /* 0 = one per CPU (decided by plan) */
	int workers_line; /* where workers is set (0: unset), for the plan's errors */
	enum io_backend io_backend;
	int cpus[CONFIG_MAX_CPUS]; /* pin worker i to cpus[i % n_cpus]; none = allowed CPUs */
	uint32_t n_cpus;
	int cpus_line[CONFIG_MAX_CPUS]; /* where each entry is, for the plan's errors */
	enum steering steering;
	enum shed_hook shed_hook;
	uint32_t buffer_size; /* bytes per receive buffer, 256..CONFIG_GRO_BUFFER_SIZE */
	uint32_t buffers;     /* receive buffers per worker, power of two, 64..32768 */
	/* UDP GRO in, UDP GSO out: one receive and one send carry up to 64 datagrams of a
	 * flow. Needs buffer_size = CONFIG_GRO_BUFFER_SIZE, which is then buffer_size's
	 * default. */
	bool gro;
	double stats_interval; /* seconds between -v summaries */
	/* the user to run as after set-up: "" = PRIVS_DEFAULT_USER for a root start when it
	 * exists (else root, with a warning), as started otherwise; "root" = stay root */
	char user[CONFIG_NAME_LEN];
	int user_line;				/* where user is set, for config_check_host */
	char control_socket[CONFIG_PATH_LEN];	/* unix socket for ringrelayctl */
	struct control_access_conf control_access;
	int control_access_line; /* where read_only_group is set, for config_check_host */
	char pid_file[CONFIG_PATH_LEN];		/* "" = none */
	enum log_format log_format;		/* for files and pipes; terminals get text */
	char access_log[CONFIG_PATH_LEN]; /* per-session log: "" off, "-" the log, or a file */
	uint32_t access_log_rate;	  /* lines per second at most; the rest is counted */
	struct metrics_conf metrics;
	struct relay_conf relays[CONFIG_MAX_RELAYS];
	uint32_t n_relays;
	struct filter_conf filter;
	struct napi_conf napi;
};

/* Parse and validate. On success *out is a new config (free with config_free) and 0 is
 * returned. On error returns -EINVAL (or -ENOENT/-EACCES/-ENOMEM) and err holds one line
 * "FILE:LINE: SETTING: what is wrong" (no trailing newline). */
int config_load_file(const char *path, struct config **out, char *err, size_t errlen);
int config_load_string(const char *text, const char *name, struct config **out, char *err,
		       size_t errlen);
void config_free(struct config *cfg);

/* How config_resolve_with turns names into addresses. */
struct config_names {
	/* As config_resolve_host (which it is when NULL), with arg. -ECANCELED ends the call:
	 * previous is not asked. */
	int (*lookup)(void *arg, const char *host, uint16_t port, int family, struct addr *out,
		      uint32_t max, char *why, size_t whylen);
	/* For a name that does not resolve: the addresses to keep (the last good set, on
	 * reload; it says so), or 0; NULL: none. */
	uint32_t (*previous)(void *arg, const char *relay, const char *text, const char *why,
			     struct addr *out, uint32_t max);
	void *arg;
};

/* Resolves the names of cfg's listen and upstream entries (how: the host's resolver,
 * /etc/hosts and DNS, by default): every address of a name becomes a listen address or an
 * upstream (with the entry's weight), duplicates dropped. A name that does not resolve gets
 * the addresses how->previous returns, else the call fails. Checks the listen addresses for
 * clashes again, and marks cfg resolved. Returns 0 or -errno with "FILE:LINE: ..." in err. */
int config_resolve_with(struct config *cfg, const struct config_names *how, char *err,
			size_t errlen);
/* config_resolve_with the host's resolver and previous(arg, ...). */
int config_resolve(struct config *cfg,
		   uint32_t (*previous)(void *arg, const char *relay, const char *text,
					const char *why, struct addr *out, uint32_t max),
		   void *arg, char *err, size_t errlen);
/* The family a relay's upstream names resolve in: its source address's, else any. */
int config_upstream_family(const struct relay_conf *rc);
/* The addresses upstream entry u stands for now into out[CONFIG_MAX_UPSTREAMS]: a literal's
 * own, a name's looked up (config_resolve_host in family). The count, or -errno with why. */
int config_entry_addrs(const struct upstream_conf *u, int family, struct addr *out, char *why,
		       size_t whylen);
/* Adds the addresses got[0..n) of upstream entry entry (with its weight) to the members
 * m[0..*n_m), in order; one an earlier entry listed stays with that entry. 0, or -E2BIG when
 * the members were full (the rest left out). */
int config_members_add(struct member_conf *m, uint32_t *n_m, const struct addr *got, uint32_t n,
		       uint32_t weight, uint32_t entry);
/* All addresses of host for UDP port, without duplicates (family: AF_UNSPEC or one family),
 * sorted (addr_cmp), the first max of them (of the first CONFIG_RESOLVE_MAX answers): a
 * resolver that rotates its answers gives the same list, so a name re-resolved to the same
 * set changes nothing, and every relay of a fleet orders (and balances over) a name's
 * upstreams alike. Returns the count or -errno (err: gai_strerror). */
int config_resolve_host(const char *host, uint16_t port, int family, struct addr *out, uint32_t max,
		  char *err, size_t errlen);

/* Where listen address i of relay r (an index of its listen[]) is written, for a message
 * about it after parsing: "FILE:LINE: relays[R].listen[ENTRY]" into buf; returns buf. */
const char *config_listen_where(const struct config *cfg, uint32_t r, uint32_t i, char *buf,
				size_t len);

/* Checks that need the host: the filter's interfaces (exist, Ethernet), `user` and
 * control_access's group exist. Same error format. It is the two below: */
int config_check_host(const struct config *cfg, char *err, size_t errlen);
/* `user` and control_access's group, through the name service (which may take seconds: a
 * reload asks it on its load thread, off the app lock); */
int config_check_accounts(const struct config *cfg, char *err, size_t errlen);
/* the filter's interfaces (the kernel's, at once): each exists (-ENODEV) and frames its packets
 * in Ethernet (-EPROTOTYPE for a layer 3 device: tun, WireGuard, an IP tunnel). */
int config_check_links(const struct config *cfg, char *err, size_t errlen);

/* Prints the effective config (defaults filled in) in the config file syntax; the output
 * parses back to an equal config. */
void config_dump(const struct config *cfg, FILE *f);

/* For a reload: the settings that size threads or memory (restart-only in config.c's tables:
 * workers, io_backend, cpus, buffer_size, buffers, gro, user, control_socket, metrics,
 * napi.busy_poll_us, napi.prefer_busy_poll, napi.busy_poll_budget, napi.threaded, and a
 * relay's max_sessions, matched by relay name) take their running values in next, so next
 * says what runs; changed(arg, what) is called for each that differed, what being
 * "workers" or "relay NAME: max_sessions". */
void config_keep_restart(const struct config *running, struct config *next,
			 void (*changed)(void *arg, const char *what), void *arg);

/* The config words of an enum value ("?" for none). */
const char *config_backend_name(enum io_backend b);
const char *config_steering_name(enum steering s);
const char *config_mode_name(enum relay_mode m);
const char *config_balance_name(enum balance_mode b);
const char *config_offload_name(enum offload_mode m);
const char *config_shed_name(enum shed_mode m);
const char *config_shed_hook_name(enum shed_hook h);
/* True when any relay of cfg has shed other than "off". */
bool config_shed_wanted(const struct config *cfg);
const char *config_session_full_name(enum session_full f);
const char *config_upstream_down_name(enum upstream_down d);
const char *config_filter_mode_name(enum filter_mode m);
const char *config_verdict_name(enum filter_verdict v);
const char *config_scope_name(enum filter_scope s);
const char *config_tc_hook_name(enum tc_hook h);

#endif
