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
enum relay_mode { RELAY_MODE_FORWARD, RELAY_MODE_MIRROR };
enum balance_mode { BALANCE_RR, BALANCE_HASH, BALANCE_MAGLEV };
/* The session fast path (docs/offload.md): where it runs, if anywhere. */
enum offload_mode { OFFLOAD_OFF, OFFLOAD_AUTO, OFFLOAD_XDP, OFFLOAD_TC };
/* Early shedding in the BPF program (docs/offload.md): auto = on when the program loads. */
enum shed_mode { SHED_OFF, SHED_AUTO, SHED_ON };

struct upstream_conf {
	struct addr addr;
	uint32_t weight; /* 1..100, default 1 */
};

struct relay_conf {
	char name[CONFIG_NAME_LEN];
	int line; /* where the relay's group starts, for later diagnostics */
	struct addr listen[CONFIG_MAX_LISTEN];
	uint32_t n_listen;
	struct upstream_conf upstreams[CONFIG_MAX_UPSTREAMS];
	uint32_t n_upstreams;
	enum relay_mode mode;
	enum balance_mode balance;
	double session_timeout; /* seconds, > 0 */
	uint32_t max_sessions;	/* for the whole relay; split evenly over workers */
	enum offload_mode offload; /* forward mode: established sessions relayed in BPF */
	enum shed_mode shed;	   /* drop in BPF what the listener's full socket would drop */
	/* Join a SO_REUSEPORT group another process already has on a listen address, instead
	 * of refusing to start (portown.h). */
	bool reuseport_shared;
};

enum filter_mode { FILTER_MODE_OFF, FILTER_MODE_XDP, FILTER_MODE_XDP_GENERIC, FILTER_MODE_TC };
enum filter_verdict { FILTER_VERDICT_ALLOW, FILTER_VERDICT_DENY };
enum filter_scope { FILTER_SCOPE_RELAYS, FILTER_SCOPE_UDP };

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
};

struct metrics_conf {
	bool enabled;
	struct addr listen; /* default 127.0.0.1:9470 */
};

struct config {
	char path[CONFIG_PATH_LEN];
	uint32_t workers; /* 0 = one per CPU (decided by plan) */
	enum io_backend io_backend;
	int cpus[CONFIG_MAX_CPUS]; /* pin worker i to cpus[i % n_cpus]; none = allowed CPUs */
	uint32_t n_cpus;
	uint32_t buffer_size; /* bytes per receive buffer, 256..65536 */
	uint32_t buffers;     /* receive buffers per worker, power of two, 64..32768 */
	/* UDP GRO in, UDP GSO out: one receive and one send carry up to 64 datagrams of a
	 * flow. Needs buffer_size = 65536 (a coalesced receive is up to 64 KB). */
	bool gro;
	double stats_interval; /* seconds between -v summaries */
	char user[CONFIG_NAME_LEN];		/* drop to this user after set-up; "" = stay */
	int user_line;				/* where user is set, for config_check_host */
	char control_socket[CONFIG_PATH_LEN];	/* unix socket for ringrelayctl */
	char pid_file[CONFIG_PATH_LEN];		/* "" = none */
	enum log_format log_format;		/* for files and pipes; terminals get text */
	char access_log[CONFIG_PATH_LEN]; /* per-session log: "" off, "-" the log, or a file */
	uint32_t access_log_rate;	  /* lines per second at most; the rest is counted */
	struct metrics_conf metrics;
	struct relay_conf relays[CONFIG_MAX_RELAYS];
	uint32_t n_relays;
	struct filter_conf filter;
};

/* Parse and validate. On success *out is a new config (free with config_free) and 0 is
 * returned. On error returns -EINVAL (or -ENOENT/-EACCES/-ENOMEM) and err holds one line
 * "FILE:LINE: SETTING: what is wrong" (no trailing newline). */
int config_load_file(const char *path, struct config **out, char *err, size_t errlen);
int config_load_string(const char *text, const char *name, struct config **out, char *err,
		       size_t errlen);
void config_free(struct config *cfg);

/* Checks that need the host: the filter's interfaces and `user` exist. Same error format. */
int config_check_host(const struct config *cfg, char *err, size_t errlen);

/* Prints the effective config (defaults filled in) in the config file syntax; the output
 * parses back to an equal config. */
void config_dump(const struct config *cfg, FILE *f);

/* For a reload: the settings that size threads or memory (restart-only in config.c's tables:
 * workers, io_backend, cpus, buffer_size, buffers, gro, user, control_socket, metrics, and a
 * relay's max_sessions, matched by relay name) take their running values in next, so next
 * says what runs; changed(arg, what) is called for each that differed, what being
 * "workers" or "relay NAME: max_sessions". */
void config_keep_restart(const struct config *running, struct config *next,
			 void (*changed)(void *arg, const char *what), void *arg);

/* The config words of an enum value ("?" for none). */
const char *config_backend_name(enum io_backend b);
const char *config_mode_name(enum relay_mode m);
const char *config_balance_name(enum balance_mode b);
const char *config_offload_name(enum offload_mode m);
const char *config_shed_name(enum shed_mode m);
/* True when any relay of cfg has shed other than "off". */
bool config_shed_wanted(const struct config *cfg);
const char *config_filter_mode_name(enum filter_mode m);
const char *config_verdict_name(enum filter_verdict v);
const char *config_scope_name(enum filter_scope s);

#endif
