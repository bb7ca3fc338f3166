/* SPDX-License-Identifier: MIT */
/* The commands of the control socket's line protocol (docs/ringrelayctl.8, PROTOCOL): a table
 * of {name, argument, handler}; each handler gathers its answer from the daemon once and has
 * control_view render it. */
#ifndef RINGRELAY_CONTROL_CMD_H
#define RINGRELAY_CONTROL_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct app;

/* What a peer of the control socket may do, like HAProxy's stats socket levels. */
enum control_level {
	CONTROL_DENIED, /* nothing */
	CONTROL_READ,	/* the commands that change nothing and show no client address */
	CONTROL_ADMIN,	/* everything: reload, upstream, and sessions (client addresses) */
};

/* The level of a peer whose credentials are uid, gid and groups (SO_PEERCRED and
 * SO_PEERGROUPS): ADMIN for root and daemon_uid, READ for a member of read_only_gid (primary
 * or supplementary; (gid_t)-1: no such group), DENIED for anyone else. */
enum control_level control_level_of(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
				    uid_t daemon_uid, gid_t read_only_gid);

/* A request whose answer waits for the admin thread: a reload, which it runs while the
 * control thread serves other connections. */
struct control_pending {
	uint64_t ticket; /* admin_reload_ask's */
	bool json;
};

/* Runs one request line, "COMMAND [ARGUMENT] [json]" (line is split in place), for a peer
 * of level, and writes the whole answer to out: "ok LENGTH\n" and the body, or "error: MESSAGE\n"
 * ("error: permission denied: ..." for a command above the peer's level). Takes a->lock as
 * each command needs (a reload takes it itself): call with a->lock not held. A reload with an
 * admin thread is asked for and not waited for: returns true with *pend set and nothing
 * written; control_cmd_finish answers it once admin_reload_done says it is done. */
bool control_cmd_run(struct app *a, char *line, enum control_level level, FILE *out,
		     struct control_pending *pend);
/* The answer to pending reload p whose result is ret (0 with its warnings in err, or -errno
 * with err: app_reload's). */
void control_cmd_finish(struct app *a, const struct control_pending *p, int ret, const char *err,
			FILE *out);
/* The names of the commands open to level, joined by ", " (for messages). */
void control_cmd_list(enum control_level level, char *buf, size_t len);

#endif
