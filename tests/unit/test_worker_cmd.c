// SPDX-License-Identifier: MIT
/* The command channel between main and a worker (worker_post / worker_run_cmd / worker_wait)
 * with no worker thread of its own: a helper thread plays the worker's loop. A command the
 * worker begins in time is waited for; one it has not begun by the deadline is taken back, so
 * a worker that comes round later never touches it. Once the process stops, every wait ends
 * by the stop's deadline. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker.h"
#include "worker_backend.h"

struct fixture {
	struct worker_sync sync;
	struct worker w;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (worker_sync_init(&f.sync))
		return -1;
	f.w.sync = &f.sync;
	f.w.cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*state = &f;
	return f.w.cmd_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->w.cmd_fd);
	return 0;
}

/* The worker's side: after delay_ms, run whatever command is pending (as its loop does when
 * cmd_fd fires). */
struct late_worker {
	struct worker *w;
	unsigned int delay_ms;
};

static void *late_worker_run(void *arg)
{
	struct late_worker *lw = arg;
	struct timespec ts = { .tv_sec = lw->delay_ms / 1000,
			       .tv_nsec = (long)(lw->delay_ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
	worker_run_cmd(lw->w);
	return NULL;
}

/* A worker that answers within the deadline: 0, the command done. */
static void test_answered(void **state)
{
	struct fixture *f = *state;
	struct worker_cmd cmd = { .type = WORKER_CMD_SESSIONS, .relay = UINT32_MAX };
	struct late_worker lw = { &f->w, 20 };
	pthread_t t;

	worker_post(&f->w, &cmd);
	assert_int_equal(pthread_create(&t, NULL, late_worker_run, &lw), 0);
	assert_int_equal(worker_wait(&f->w, &cmd, worker_ms() + 5000), 0);
	assert_true(cmd.done);
	assert_true(cmd.taken);
	pthread_join(t, NULL);
}

/* Nobody runs the loop: -ETIMEDOUT at the deadline, and the command is no longer pending. */
static void test_stuck(void **state)
{
	struct fixture *f = *state;
	struct worker_cmd cmd = { .type = WORKER_CMD_SESSIONS, .relay = UINT32_MAX };
	uint64_t t0 = worker_ms();

	worker_post(&f->w, &cmd);
	assert_int_equal(worker_wait(&f->w, &cmd, t0 + 100), -ETIMEDOUT);
	assert_true(worker_ms() - t0 >= 100);
	assert_true(worker_ms() - t0 < 2000);
	assert_null(f->w.cmd);
	assert_false(cmd.done);
}

/* A worker that comes round after the deadline finds nothing: the command is never begun
 * (the caller may free it as soon as worker_wait returns). */
static void test_late(void **state)
{
	struct fixture *f = *state;
	struct worker_cmd cmd = { .type = WORKER_CMD_SESSIONS, .relay = UINT32_MAX };
	struct late_worker lw = { &f->w, 150 };
	pthread_t t;

	worker_post(&f->w, &cmd);
	assert_int_equal(pthread_create(&t, NULL, late_worker_run, &lw), 0);
	assert_int_equal(worker_wait(&f->w, &cmd, worker_ms() + 50), -ETIMEDOUT);
	pthread_join(t, NULL);
	assert_false(cmd.taken);
	assert_false(cmd.done);
	assert_null(f->w.cmd);
}

/* The process stops 50 ms into the wait: stopping_after's thread. */
static void *stopping_after(void *arg)
{
	struct fixture *f = arg;
	struct timespec ts = { 0, 50 * 1000000L };

	nanosleep(&ts, NULL);
	worker_sync_stopping(&f->sync, worker_ms() + 100);
	return NULL;
}

/* A command the worker has begun and is stuck in is waited for past its deadline (the worker
 * may write it), until the process stops; then until the stop's deadline: -ECANCELED, the
 * command still the worker's. */
static void test_begun_stop(void **state)
{
	struct fixture *f = *state;
	struct worker_cmd cmd = { .type = WORKER_CMD_SESSIONS, .relay = UINT32_MAX };
	uint64_t t0 = worker_ms(), took;
	pthread_t t;

	worker_post(&f->w, &cmd);
	/* the worker takes it as worker_run_cmd does, and goes no further */
	pthread_mutex_lock(&f->sync.lock);
	f->w.cmd = NULL;
	cmd.taken = true;
	pthread_mutex_unlock(&f->sync.lock);
	assert_int_equal(pthread_create(&t, NULL, stopping_after, f), 0);
	assert_int_equal(worker_wait(&f->w, &cmd, t0 + 10), -ECANCELED);
	took = worker_ms() - t0;
	pthread_join(t, NULL);
	assert_true(took >= 150 && took < 2000);
	assert_false(cmd.done);
}

/* Once the process stops, a command not begun is taken back by the stop's deadline when that
 * comes before its own. */
static void test_stopping_not_begun(void **state)
{
	struct fixture *f = *state;
	struct worker_cmd cmd = { .type = WORKER_CMD_SESSIONS, .relay = UINT32_MAX };
	uint64_t t0 = worker_ms(), took;

	worker_sync_stopping(&f->sync, t0 + 50);
	worker_sync_stopping(&f->sync, t0 + 5000); /* the first deadline holds */
	worker_post(&f->w, &cmd);
	assert_int_equal(worker_wait(&f->w, &cmd, t0 + 5000), -ETIMEDOUT);
	took = worker_ms() - t0;
	assert_true(took >= 50 && took < 2000);
	assert_null(f->w.cmd);
	assert_false(cmd.taken);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_begun_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopping_not_begun, setup, teardown),
	};
	return cmocka_run_group_tests_name("worker_cmd", tests, NULL, NULL);
}
