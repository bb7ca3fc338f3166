// SPDX-License-Identifier: MIT
/* RLIMIT_NOFILE for the port claims (portclaim.h), a descriptor per listen port held beside
 * the relays' own until the listeners are bound: the start raises the soft limit to its
 * plan's need (claims included) before it claims; a reload's claims get theirs beside what
 * the running relays may hold, the soft limit raised up to the hard one, or the reload is
 * refused saying why (before, a reload adding ports could run out of descriptors in the
 * claims or in the middle of its apply). Each case runs in a forked child, whose limits it
 * lowers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "netns_child.h"
#include "runtime.h"

/* One relay listening on n ports from 5000. */
static struct config *ports_config(uint32_t n)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	const char *why;
	char text[32];
	uint32_t i;

	if (!cfg)
		return NULL;
	strcpy(cfg->path, "t.conf");
	cfg->n_relays = 1;
	strcpy(cfg->relays[0].name, "r");
	cfg->relays[0].n_listen = n;
	for (i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "198.18.1.2:%u", 5000 + i);
		addr_parse(text, &cfg->relays[0].listen[i], &why);
	}
	return cfg;
}

/* Sets this process's RLIMIT_NOFILE: 0 or -1. */
static int limits(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };

	return setrlimit(RLIMIT_NOFILE, &rl);
}

/* This process's soft RLIMIT_NOFILE (0: unknown). */
static rlim_t soft_limit(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) ? 0 : rl.rlim_cur;
}

static int start_body(void)
{
	struct plan plan = { .nofile = 150, .n_claims = 3 };
	struct config *cfg = ports_config(3);
	char err[CONFIG_ERR_LEN] = "";

	if (!cfg || limits(64, 200))
		return 1;
	if (runtime_raise_nofile(cfg, &plan, err, sizeof(err)) || soft_limit() != 150)
		return 2;
	plan.nofile = 100; /* never lowered */
	if (runtime_raise_nofile(cfg, &plan, err, sizeof(err)) || soft_limit() != 150)
		return 3;
	free(cfg);
	return 0;
}

/* The start's soft limit goes up to the plan's need (the claims included) at once. */
static void test_start_raises(void **state)
{
	(void)state;
	run_in_child(start_body);
}

static int reload_body(void)
{
	struct config *cfg = ports_config(3);
	char err[CONFIG_ERR_LEN] = "";

	if (!cfg || limits(64, 200))
		return 1;
	/* 100 for the running relays and 3 claims: the soft limit goes up to 103 */
	if (runtime_reload_nofile(cfg, 100, err, sizeof(err)) || soft_limit() != 103)
		return 2;
	if (runtime_reload_nofile(cfg, 50, err, sizeof(err)) || soft_limit() != 103)
		return 3;
	/* 198 + 3 over the hard limit: refused, saying what to do; nothing changed */
	if (runtime_reload_nofile(cfg, 198, err, sizeof(err)) != -EMFILE || soft_limit() != 103)
		return 4;
	if (strcmp(err, "t.conf: the 3 listen ports need a claim each (a file descriptor, held "
			"until their listeners are bound) beside the 198 the running relays may "
			"hold: 201 in all, more than the hard RLIMIT_NOFILE (200) lets a reload "
			"have: restart to apply it (a start takes what its plan needs), or listen "
			"on fewer ports") != 0) {
		fprintf(stderr, "err: %s\n", err);
		return 5;
	}
	/* exactly the hard limit is enough */
	if (runtime_reload_nofile(cfg, 197, err, sizeof(err)) || soft_limit() != 200)
		return 6;
	free(cfg);
	return 0;
}

/* A reload's claims beside the running relays: the soft limit goes up to the hard one for
 * them, and a reload they do not fit under it is refused before it claims. */
static void test_reload_claims(void **state)
{
	(void)state;
	run_in_child(reload_body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_raises),
		cmocka_unit_test(test_reload_claims),
	};
	return cmocka_run_group_tests_name("runtime_nofile", tests, NULL, NULL);
}
