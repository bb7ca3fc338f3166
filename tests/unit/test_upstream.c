// SPDX-License-Identifier: MIT
/* The runtime's upstreams (upstream.c) with one stand-in worker whose per-upstream counters
 * the test writes: passive health never ejects the last upstream up, a reload turning passive
 * health off ends a running ejection, and active check results are built into one pool per
 * tick. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "runtime.h"
#include "upstream.h"
#include "worker.h"

#define S 1000000000ull

struct fix {
	struct runtime rt;
	struct config *cfg;
};

/* Relay "a" with three upstreams and the settings extra gives. */
static struct config *load(const char *extra)
{
	char text[1024], err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;

	snprintf(text, sizeof(text),
		 "relays = ( { name = \"a\"; listen = [ \"127.0.0.1:5000\" ];\n"
		 " upstreams = [ \"198.18.2.2:53\", \"198.18.2.3:53\", \"198.18.2.4:53\" ];\n"
		 " %s } );\n",
		 extra);
	if (config_load_string(text, "t.conf", &cfg, err, sizeof(err)))
		fail_msg("config: %s", err);
	return cfg;
}

/* Relay "a" (load) in slot 0, published. */
static void fix_init(struct fix *f, const char *extra)
{
	static const uint32_t slot[CONFIG_MAX_RELAYS] = {0};
	size_t n = WORKER_MAX_RELAYS * CONFIG_MAX_UPSTREAMS * sizeof(struct upstream_counters);
	char err[256];
	struct worker *w;

	memset(f, 0, sizeof(*f));
	f->cfg = load(extra);
	f->rt.cfg = f->cfg;
	f->rt.ups = calloc(1, sizeof(*f->rt.ups));
	w = calloc(1, sizeof(*w));
	assert_non_null(f->rt.ups);
	assert_non_null(w);
	w->uc = aligned_alloc(64, n);
	assert_non_null(w->uc);
	memset(w->uc, 0, n);
	f->rt.workers = w;
	f->rt.n_started = 1;
	assert_int_equal(upstream_publish(&f->rt, f->cfg, slot, err, sizeof(err)), 0);
}

static void fix_fini(struct fix *f)
{
	upstream_fini(&f->rt);
	free(f->rt.workers->uc);
	free(f->rt.workers);
	free(f->rt.ups);
	config_free(f->cfg);
}

/* Reloads relay "a" with the settings extra (the same upstreams). */
static void fix_reload(struct fix *f, const char *extra)
{
	static const uint32_t slot[CONFIG_MAX_RELAYS] = {0};
	struct config *old = f->cfg;
	char err[256];

	f->cfg = load(extra);
	f->rt.cfg = f->cfg;
	assert_int_equal(upstream_publish(&f->rt, f->cfg, slot, err, sizeof(err)), 0);
	config_free(old);
}

static const struct pool *fix_pool(const struct fix *f)
{
	return f->rt.pools[0];
}

/* Member k has had fails more failures (ICMP unreachable) seen by the worker. */
static void fix_fail(struct fix *f, uint32_t k, uint64_t fails)
{
	const struct pool_member *m = &fix_pool(f)->m[k];
	struct worker *w = f->rt.workers;

	w->relays[0].uc_gen[m->slot] = m->gen;
	w->uc[m->slot].unreachable += fails;
}

/* A tick at now; the worker has turned, so retired pools go. */
static void fix_tick(struct fix *f, uint64_t now)
{
	f->rt.workers->wc.quiescent++;
	upstream_tick(&f->rt, now);
}

static void test_last_up_is_not_ejected(void **state)
{
	struct fix f;

	(void)state;
	fix_init(&f, "max_fails = 3;");
	fix_fail(&f, 0, 3);
	fix_tick(&f, 1 * S);
	assert_int_equal(fix_pool(&f)->m[0].state, HEALTH_EJECTED);
	fix_fail(&f, 1, 3);
	fix_tick(&f, 2 * S);
	assert_int_equal(fix_pool(&f)->m[1].state, HEALTH_EJECTED);
	assert_false(fix_pool(&f)->panic);
	/* the last one up fails as often: it stays, and no panic sends clients to the dead */
	fix_fail(&f, 2, 5);
	fix_tick(&f, 3 * S);
	assert_int_equal(fix_pool(&f)->m[2].state, HEALTH_UP);
	assert_false(fix_pool(&f)->panic);
	assert_true(fix_pool(&f)->m[2].usable);
	assert_false(fix_pool(&f)->m[0].usable);
	assert_int_equal(f.rt.ups->relay[0].slot[fix_pool(&f)->m[2].slot].h.total_ejections, 0);
	/* member 0's ejection ends (10 s): the next failure of member 2 ejects it */
	fix_tick(&f, 11 * S);
	assert_int_equal(fix_pool(&f)->m[0].state, HEALTH_UP);
	assert_int_equal(fix_pool(&f)->m[2].state, HEALTH_UP);
	fix_fail(&f, 2, 1);
	fix_tick(&f, 12 * S);
	assert_int_equal(fix_pool(&f)->m[2].state, HEALTH_EJECTED);
	/* two fail in one tick, with one other up: the first is ejected, the second stays */
	fix_fail(&f, 0, 3);
	fix_fail(&f, 1, 3);
	fix_tick(&f, 13 * S);
	assert_int_equal(fix_pool(&f)->m[0].state, HEALTH_EJECTED);
	assert_int_equal(fix_pool(&f)->m[1].state, HEALTH_UP);
	assert_false(fix_pool(&f)->panic);
	fix_fini(&f);
}

/* A drained member does not count as up: the last enabled one up stays. */
static void test_last_enabled_up_is_not_ejected(void **state)
{
	char err[256];
	struct fix f;

	(void)state;
	fix_init(&f, "max_fails = 3;");
	assert_int_equal(upstream_set_enabled(&f.rt, "a", "198.18.2.2:53", false, err, sizeof(err)),
			 1);
	fix_fail(&f, 1, 3);
	fix_tick(&f, 1 * S);
	assert_int_equal(fix_pool(&f)->m[1].state, HEALTH_EJECTED);
	fix_fail(&f, 2, 3);
	fix_tick(&f, 2 * S);
	assert_int_equal(fix_pool(&f)->m[2].state, HEALTH_UP);
	assert_false(fix_pool(&f)->panic);
	fix_fini(&f);
}

static void test_reload_passive_off_ends_ejection(void **state)
{
	struct fix f;

	(void)state;
	fix_init(&f, "max_fails = 3; fail_timeout = 100;");
	fix_fail(&f, 0, 3);
	fix_tick(&f, 1 * S);
	assert_int_equal(fix_pool(&f)->m[0].state, HEALTH_EJECTED);
	fix_reload(&f, "max_fails = 0; fail_timeout = 100;");
	assert_int_equal(fix_pool(&f)->m[0].state, HEALTH_UP);
	assert_true(fix_pool(&f)->m[0].usable);
	fix_tick(&f, 2 * S);
	assert_int_equal(fix_pool(&f)->m[0].state, HEALTH_UP);
	/* turned on again: a fresh series, the back-off from the start */
	fix_reload(&f, "max_fails = 3; fail_timeout = 100;");
	fix_fail(&f, 0, 3);
	fix_tick(&f, 3 * S);
	assert_int_equal(fix_pool(&f)->m[0].state, HEALTH_EJECTED);
	assert_int_equal(f.rt.ups->relay[0].slot[fix_pool(&f)->m[0].slot].h.ejected_until, 103 * S);
	fix_fini(&f);
}

/* Check results mark the relay; its tick builds one pool for all of them. */
static void test_checks_build_once_per_tick(void **state)
{
	const struct pool *before;
	struct fix f;
	uint32_t k, i;

	(void)state;
	fix_init(&f, "health_check = { interval = 1; timeout = 0.5; fall = 1; send = \"x\"; };");
	before = fix_pool(&f);
	for (k = 0; k < 2; k++)
		for (i = 0; i < 2; i++)
			upstream_check_result(&f.rt, 0, before->m[k].slot, before->m[k].gen, false,
					      "health check: no reply in time", 1 * S);
	assert_ptr_equal(fix_pool(&f), before);
	fix_tick(&f, 1 * S);
	assert_ptr_not_equal(fix_pool(&f), before);
	assert_int_equal(fix_pool(&f)->m[0].state, HEALTH_DOWN);
	assert_int_equal(fix_pool(&f)->m[1].state, HEALTH_DOWN);
	assert_int_equal(fix_pool(&f)->m[2].state, HEALTH_UP);
	/* nothing changed since: the next tick keeps the pool */
	before = fix_pool(&f);
	fix_tick(&f, 2 * S);
	assert_ptr_equal(fix_pool(&f), before);
	fix_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_last_up_is_not_ejected),
	    cmocka_unit_test(test_last_enabled_up_is_not_ejected),
	    cmocka_unit_test(test_reload_passive_off_ends_ejection),
	    cmocka_unit_test(test_checks_build_once_per_tick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
