/* SPDX-License-Identifier: MIT */
/* The commands of the control socket's line protocol (docs/ringrelayctl.8, PROTOCOL): a table
 * of {name, argument, handler}; each handler gathers its answer from the daemon once and has
 * control_view render it. */
#ifndef RINGRELAY_CONTROL_CMD_H
#define RINGRELAY_CONTROL_CMD_H

#include <stdio.h>

struct app;

/* Runs one request line, "COMMAND [ARGUMENT] [json]" (line is split in place), and writes the
 * whole answer to out: "ok\n" and the body, or "error: MESSAGE\n". Takes a->lock as each
 * command needs (a reload takes it itself): call with a->lock not held. */
void control_cmd_run(struct app *a, char *line, FILE *out);

#endif
