// SPDX-License-Identifier: MIT
/* Bounded waits on workers: `ringrelayctl sessions` and a reload hold the app lock while they
 * ask the workers, so a worker whose loop is stuck must cost them a clear error after
 * wait_ms, never the lock for ever. Two workers built by worker_init (no threads): a helper
 * thread runs worker 0's command loop, worker 1 never comes round. Its listeners are real
 * sockets on 127.0.0.1; the backend is a stub that adopts them. A stop, too, waits wait_ms
 * for a worker's loop to see it, then leaves that worker running. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "runtime.h"
#include "worker_backend.h"
#include "config_text.h"

/* While hold_open, worker 1's backend does not come back from opening a listener: a worker
 * stuck in the middle of a reload. */
static volatile bool hold_open, in_open;

static int stub_listener_open(struct worker *w, uint32_t li)
{
	struct timespec ms = { 0, 1000000 };

	(void)li;
	while (hold_open && w->id == 1) {
		in_open = true;
		nanosleep(&ms, NULL);
	}
	return 0;
}

static int stub_session_opened(struct worker *w, uint32_t relay, struct session *s)
{
	return 0;
}

static void stub_session_close(struct worker *w, uint32_t relay, struct session *s)
{
	session_release(&w->relays[relay].sessions, s);
}

static const struct worker_ops stub_ops = {
	.listener_open = stub_listener_open,
	.session_opened = stub_session_opened,
	.session_close = stub_session_close,
};

struct fixture;

/* One helper thread per worker plays its loop: one stuck in a command holds only its own. */
struct loop {
	struct fixture *f;
	uint32_t i;
	pthread_t thread;
	uint32_t rounds; /* done (atomic) */
};

struct fixture {
	struct runtime rt;
	struct uring_caps caps;
	struct loop loops[2];
	volatile bool stop;
	volatile bool live[2]; /* whose commands the helpers run */
};

/* Worker i's loop, once live: run what is posted, every millisecond. */
static void *loop_run(void *arg)
{
	struct loop *l = arg;
	struct timespec ms = { 0, 1000000 };

	while (!l->f->stop) {
		if (l->f->live[l->i])
			worker_run_cmd(&l->f->rt.workers[l->i]);
		__atomic_add_fetch(&l->rounds, 1, __ATOMIC_RELEASE);
		nanosleep(&ms, NULL);
	}
	return NULL;
}

/* listen: extra is another listen address, or "" */
static struct config *load_listen(int timeout, const char *extra)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-test-unused.sock\"; io_backend = \"mmsg\";\n"
		 "relays = ( { name = \"r\"; listen = [ \"127.0.0.1:47133\"%s ];\n"
		 " upstreams = [ \"127.0.0.1:47134\" ]; session_timeout = %d; } );\n",
		 extra, timeout);
	return config_text(text);
}

static struct config *load(int timeout)
{
	return load_listen(timeout, "");
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct config *cfg = load(30);
	struct plan plan;
	char err[CONFIG_ERR_LEN];
	struct worker_cmd first;
	uint32_t i;

	if (!f || !cfg || runtime_check(NULL, cfg, &plan, err, sizeof(err)))
		return -1;
	plan.n_workers = 2;
	plan.cpu[1] = plan.cpu[0];
	if (runtime_prepare(&f->rt, cfg, &plan, &f->caps, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		f->rt.workers[i].ops = &stub_ops;
		first = (struct worker_cmd){ .type = WORKER_CMD_APPLY, .cfg = cfg,
					     .plan = &f->rt.plan,
					     .relay_slot = f->rt.relay_slot,
					     .slot_gen = f->rt.slot_gen };
		if (worker_apply(&f->rt.workers[i], &first)) {
			fprintf(stderr, "apply: %s\n", first.error);
			return -1;
		}
	}
	f->rt.n_started = 2;
	f->rt.wait_ms = 100;
	f->live[0] = true;
	for (i = 0; i < 2; i++) {
		f->loops[i] = (struct loop){ .f = f, .i = i };
		if (pthread_create(&f->loops[i].thread, NULL, loop_run, &f->loops[i]))
			return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	uint32_t i;

	hold_open = false; /* also after a failed assertion: the loop must come back */
	f->stop = true;
	for (i = 0; i < 2; i++)
		pthread_join(f->loops[i].thread, NULL);
	for (i = 0; i < 2; i++)
		worker_close_all(&f->rt.workers[i]);
	f->rt.n_started = 0; /* no threads to join */
	runtime_fini(&f->rt);
	free(f);
	return 0;
}

static void test_sessions(void **state)
{
	struct fixture *f = *state;
	struct session_info info[4];
	char err[CONFIG_ERR_LEN] = "";
	uint32_t total;
	uint64_t t0 = worker_ms();

	assert_int_equal(runtime_sessions(&f->rt, UINT32_MAX, info, 4, &total, err, sizeof(err)),
			 -ETIMEDOUT);
	assert_true(worker_ms() - t0 < 2000);
	assert_string_equal(err, "worker 1 did not answer within 100 ms: its loop is stuck (see "
				 "the watchdog)");
	f->live[1] = true;
	assert_int_equal(runtime_sessions(&f->rt, UINT32_MAX, info, 4, &total, err, sizeof(err)),
			 0);
	assert_int_equal(total, 0);
}

static void test_reload(void **state)
{
	struct fixture *f = *state;
	struct config *old = f->rt.cfg, *next = load(20), *third = load(10);
	uint32_t slot[CONFIG_MAX_RELAYS];
	struct plan plan;
	char err[CONFIG_ERR_LEN] = "";
	bool applied;

	assert_non_null(next);
	assert_non_null(third);
	assert_int_equal(runtime_check(&f->rt, next, &plan, err, sizeof(err)), 0);
	assert_int_equal(runtime_reload_check(&f->rt, next, slot, err, sizeof(err)), 0);
	assert_int_equal(runtime_reload(&f->rt, next, &plan, slot, &applied, err, sizeof(err)),
			 -ETIMEDOUT);
	assert_true(applied);
	assert_non_null(strstr(err, "worker 1 did not take the new configuration within 100 ms"));
	/* the new config is in force in worker 0; worker 1 still reads the old one */
	assert_ptr_equal(f->rt.cfg, next);
	assert_ptr_equal(f->rt.workers[0].cfg, next);
	assert_ptr_equal(f->rt.workers[1].cfg, old);
	assert_non_null(f->rt.retired);
	assert_true(runtime_workers_behind(&f->rt));
	assert_true(f->rt.workers[1].relays[f->rt.relay_slot[0]].conf == &old->relays[0]);

	/* worker 1 comes back: the next reload reaches both, and nothing is kept any more */
	f->live[1] = true;
	assert_int_equal(runtime_check(&f->rt, third, &plan, err, sizeof(err)), 0);
	assert_int_equal(runtime_reload_check(&f->rt, third, slot, err, sizeof(err)), 0);
	assert_int_equal(runtime_reload(&f->rt, third, &plan, slot, &applied, err, sizeof(err)),
			 0);
	assert_ptr_equal(f->rt.workers[1].cfg, third);
	assert_null(f->rt.retired);
	assert_false(runtime_workers_behind(&f->rt));
}

/* A reload's check keeps the warnings it logs for the reload's answer (before, they went to
 * the log only and `ringrelayctl reload` said just "reloaded"): restart-only settings that
 * changed, in the order config_keep_restart finds them. */
static void test_check_notes(void **state)
{
	struct fixture *f = *state;
	struct runtime_notes notes = { .len = 0 };
	char err[CONFIG_ERR_LEN] = "";
	struct config *next = NULL;
	struct plan plan;

	assert_int_equal(config_load_string("control_socket = \"/tmp/ringrelay-test-unused.sock\";"
					    " io_backend = \"io_uring\";\n"
					    "relays = ( { name = \"r\";"
					    " listen = [ \"127.0.0.1:47133\" ];\n"
					    " upstreams = [ \"127.0.0.1:47134\" ];"
					    " max_sessions = 100; } );\n",
					    "t.conf", &next, err, sizeof(err)),
			 0);
	assert_int_equal(runtime_check_notes(&f->rt, next, &plan, &notes, err, sizeof(err)), 0);
	assert_string_equal(notes.text,
			    "warning: io_backend changed: it takes effect after a restart\n"
			    "warning: relay r: max_sessions changed: it takes effect after a "
			    "restart\n");
	assert_false(notes.cut);
	config_free(next);
}

/* The stop's side: once worker 1 is stuck in its backend, 300 ms later, the process stops. */
static void *stop_later(void *arg)
{
	struct fixture *f = arg;
	struct timespec ms = { 0, 1000000 };
	uint32_t i;

	while (!in_open)
		nanosleep(&ms, NULL);
	for (i = 0; i < 300; i++)
		nanosleep(&ms, NULL);
	runtime_stopping(&f->rt);
	return NULL;
}

/* A reload whose plan lives in a frame that has returned before worker 1 comes back, as
 * app_reload's does. */
static int reload_in_frame(struct fixture *f, struct config *next, bool *applied, char *err)
{
	uint32_t slot[CONFIG_MAX_RELAYS];
	struct plan plan;
	int ret = runtime_check(&f->rt, next, &plan, err, CONFIG_ERR_LEN);

	if (!ret)
		ret = runtime_reload_check(&f->rt, next, slot, err, CONFIG_ERR_LEN);
	return ret ? ret : runtime_reload(&f->rt, next, &plan, slot, applied, err, CONFIG_ERR_LEN);
}

/* A reload that worker 1 has begun and is stuck in (its backend does not come back from
 * opening the new listener) is waited for past wait_ms, as a begun command is, until the
 * process stops; then it ends by the stop's deadline, names the worker, keeps the previous
 * config, and keeps the command the worker still reads and writes (with the plan and slots
 * it points to, which were the caller's): when the worker comes back, all of that is live
 * memory (ASan, with detect_stack_use_after_return: the reload's frames have returned; past
 * this point the worker reads the relay slots, runtime_reload's), which runtime_fini frees
 * (LeakSanitizer). */
static void test_reload_stuck_midway(void **state)
{
	struct fixture *f = *state;
	struct config *old = f->rt.cfg, *next = load_listen(20, ", \"127.0.0.1:47135\"");
	char err[CONFIG_ERR_LEN] = "";
	struct timespec ms = { 0, 1000000 };
	uint64_t t0, took;
	bool applied;
	pthread_t stopper;
	uint32_t i, round;

	assert_non_null(next);
	in_open = false;
	hold_open = true;
	f->live[1] = true;
	assert_int_equal(pthread_create(&stopper, NULL, stop_later, f), 0);
	t0 = worker_ms();
	assert_int_equal(reload_in_frame(f, next, &applied, err), -ETIMEDOUT);
	took = worker_ms() - t0;
	pthread_join(stopper, NULL);
	assert_true(applied);
	assert_true(took >= 400 && took < 3000);
	assert_string_equal(err, "worker 1 had not finished applying the configuration when the "
				 "process stopped: its loop is stuck (see the watchdog)");
	assert_ptr_equal(f->rt.cfg, next);
	assert_ptr_equal(f->rt.workers[0].cfg, next);
	assert_non_null(f->rt.retired);
	assert_ptr_equal(f->rt.retired->cfg, old);
	assert_non_null(f->rt.kept);

	/* The worker comes back and finishes the command it was in. */
	hold_open = false;
	round = __atomic_load_n(&f->loops[1].rounds, __ATOMIC_ACQUIRE);
	for (i = 0; i < 2000 && __atomic_load_n(&f->loops[1].rounds, __ATOMIC_ACQUIRE) < round + 2;
	     i++)
		nanosleep(&ms, NULL);
	assert_true(i < 2000);
	assert_ptr_equal(f->rt.workers[1].cfg, next);
}

/* A UDP socket of this process bound to 127.0.0.1:port with SO_REUSEPORT, or -1. */
static int reuseport_socket(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
			bind(fd, (struct sockaddr *)&sin, sizeof(sin)))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* runtime_check and runtime_reload_check of a config with extra (another listen address, or
 * "") and the relay's first listen address first: the latter's result, err its text. */
static int reload_check(struct fixture *f, const char *first, const char *extra, char *err)
{
	char text[512];
	uint32_t slot[CONFIG_MAX_RELAYS];
	struct config *next;
	struct plan plan;
	int ret;

	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-test-unused.sock\"; io_backend = \"mmsg\";\n"
		 "relays = ( { name = \"r\"; listen = [ \"%s\"%s ];\n"
		 " upstreams = [ \"127.0.0.1:47134\" ]; session_timeout = 30; } );\n",
		 first, extra);
	if (config_load_string(text, "t.conf", &next, err, CONFIG_ERR_LEN))
		return -EINVAL;
	ret = runtime_check(&f->rt, next, &plan, err, CONFIG_ERR_LEN);
	if (!ret)
		ret = runtime_reload_check(&f->rt, next, slot, err, CONFIG_ERR_LEN);
	config_free(next);
	return ret;
}

/* A reload's probe of a new listen address binds without SO_REUSEPORT, so it joins no group
 * and takes no datagram meant for another socket. Where a SO_REUSEPORT socket that is no
 * listener of the relay holds the address (this process's here, which the owner check leaves
 * out as ours: as a group the check could not see), the probe finds the port in use and the
 * reload is refused; before, the probe joined that group and passed. */
static void test_probe_joins_no_group(void **state)
{
	struct fixture *f = *state;
	char err[CONFIG_ERR_LEN] = "";
	int fd = reuseport_socket(47136);

	assert_true(fd >= 0);
	assert_int_equal(reload_check(f, "127.0.0.1:47133", ", \"127.0.0.1:47136\"", err),
			 -EADDRINUSE);
	assert_non_null(strstr(err, "relays[0].listen[1]: 127.0.0.1:47136: Address already in use"));
	close(fd);
	assert_int_equal(reload_check(f, "127.0.0.1:47133", ", \"127.0.0.1:47136\"", err), 0);
}

/* Where a listener of ours holds the port (here a wildcard, narrowed to one of its addresses,
 * and the other way round) the probe fails on it with EADDRINUSE, which passes: the kernel
 * checks the address before the port, so one no interface has is still refused. */
static void test_probe_own_port(void **state)
{
	struct fixture *f = *state;
	char err[CONFIG_ERR_LEN] = "";
	struct config *wild = load_listen(30, ", \"0.0.0.0:47137\"");
	bool applied;

	assert_non_null(wild);
	f->live[1] = true;
	assert_int_equal(reload_in_frame(f, wild, &applied, err), 0);
	/* narrowed: 0.0.0.0:47137 to 127.0.0.1:47137, a sub-address of the wildcard */
	assert_int_equal(reload_check(f, "127.0.0.1:47137", "", err), 0);
	/* widened: 127.0.0.1:47133 to the wildcard (with the running one on 47137 too) */
	assert_int_equal(reload_check(f, "0.0.0.0:47133", ", \"0.0.0.0:47137\"", err), 0);
	/* an address of no interface here (TEST-NET-2 198.18.0.0/15's last): refused */
	assert_int_equal(reload_check(f, "198.19.255.254:47137", "", err), -EADDRNOTAVAIL);
	assert_non_null(strstr(err, "198.19.255.254:47137: Cannot assign requested address"));
}

/* A UDP socket of this process bound to 127.0.0.2:port with SO_REUSEADDR, and SO_REUSEPORT
 * when reuseport (as a session of a relay with source = "client" binds to its client's
 * address and port), or -1. */
static int session_socket(uint16_t port, bool reuseport)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
			(reuseport &&
			 setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
			bind(fd, (struct sockaddr *)&sin, sizeof(sin)))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Widening 127.0.0.1:P to 0.0.0.0:P where a socket of ours that is no listener holds
 * 127.0.0.2:P with SO_REUSEADDR only: the probe meets our listener and a listener of ours
 * overlaps, but the workers' SO_REUSEPORT bind would fail on that socket (and the old
 * listener close): refused, naming it. Before, the overlap alone passed it. One with
 * SO_REUSEPORT too, which the workers' bind shares the port with, passes. */
static void test_probe_widen_blocked(void **state)
{
	struct fixture *f = *state;
	char err[CONFIG_ERR_LEN] = "";
	int fd = session_socket(47133, false);

	if (fd < 0)
		skip(); /* (127.0.0.2 is on lo on Linux; not everywhere) */
	assert_int_equal(reload_check(f, "0.0.0.0:47133", "", err), -EADDRINUSE);
	assert_non_null(strstr(err, "relays[0].listen[0]: 0.0.0.0:47133: Address already in use "
				    "by a socket of this process that is no listener"));
	close(fd);
	fd = session_socket(47133, true);
	assert_true(fd >= 0);
	assert_int_equal(reload_check(f, "0.0.0.0:47133", "", err), 0);
	close(fd);
	assert_int_equal(reload_check(f, "0.0.0.0:47133", "", err), 0);
}

/* Relay r and a second relay named name. */
static struct config *load_two(const char *name)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "control_socket = \"/tmp/ringrelay-test-unused.sock\"; io_backend = \"mmsg\";\n"
		 "relays = ( { name = \"r\"; listen = [ \"127.0.0.1:47133\" ];\n"
		 " upstreams = [ \"127.0.0.1:47134\" ]; session_timeout = 30; },\n"
		 " { name = \"%s\"; listen = [ \"127.0.0.1:47138\" ];\n"
		 " upstreams = [ \"127.0.0.1:47134\" ]; session_timeout = 30; } );\n",
		 name);
	return config_text(text);
}

/* relay 1's rx_pkts toward its upstreams, summed over the workers */
static uint64_t relay1_rx(const struct fixture *f)
{
	struct relay_counters c;

	runtime_sum(&f->rt, 1, &c);
	return c.dir[RELAY_DIR_TO_UPSTREAM].rx_pkts;
}

/* A relay slot that a removed relay left is taken by a new one while worker 1 is stuck:
 * worker 1's counters there are still the removed relay's (they start over when it applies
 * the config), and the new relay's sum leaves them out meanwhile. Before, the sum added them,
 * then went down by as much once worker 1 came back: a Prometheus counter going backwards. */
static void test_slot_reused_stuck(void **state)
{
	struct fixture *f = *state;
	char err[CONFIG_ERR_LEN] = "";
	struct config *with_a = load_two("a"), *b1 = load_two("b"), *b2 = load_two("b");
	uint32_t s;
	bool applied;

	assert_non_null(with_a);
	assert_non_null(b1);
	assert_non_null(b2);
	f->live[1] = true;
	assert_int_equal(reload_in_frame(f, with_a, &applied, err), 0);
	s = f->rt.relay_slot[1];
	counter_add(&f->rt.workers[0].counters[s].dir[RELAY_DIR_TO_UPSTREAM].rx_pkts, 5);
	counter_add(&f->rt.workers[1].counters[s].dir[RELAY_DIR_TO_UPSTREAM].rx_pkts, 7);
	assert_int_equal(relay1_rx(f), 12);
	/* a goes (its slot drains), and the next reload finds the slot unused */
	assert_int_equal(reload_in_frame(f, load(30), &applied, err), 0);
	assert_int_equal(reload_in_frame(f, load(30), &applied, err), 0);
	f->live[1] = false;
	assert_int_equal(reload_in_frame(f, b1, &applied, err), -ETIMEDOUT);
	assert_int_equal(f->rt.relay_slot[1], s);
	counter_add(&f->rt.workers[0].counters[s].dir[RELAY_DIR_TO_UPSTREAM].rx_pkts, 3);
	assert_int_equal(relay1_rx(f), 3);
	/* worker 1 comes back: its counters of the slot start over, b's sum does not go down */
	f->live[1] = true;
	assert_int_equal(reload_in_frame(f, b2, &applied, err), 0);
	assert_int_equal(relay1_rx(f), 3);
	counter_add(&f->rt.workers[1].counters[s].dir[RELAY_DIR_TO_UPSTREAM].rx_pkts, 2);
	assert_int_equal(relay1_rx(f), 5);
}

/* A reload that finds a worker's listener table full (new listeners open before removed ones
 * close) says so, and what to do; before, the answer was "worker 0: " and nothing else. */
static void test_listeners_full(void **state)
{
	struct fixture *f = *state;
	struct config *next = load_listen(30, ", \"127.0.0.1:47139\"");
	struct worker *w = &f->rt.workers[0];
	char err[CONFIG_ERR_LEN] = "";
	bool applied;
	uint32_t li;

	assert_non_null(next);
	f->live[1] = true;
	/* (stand-ins without a socket: the apply closes them as gone from the config) */
	for (li = 0; li < WORKER_MAX_LISTENERS; li++)
		if (!w->listeners[li].in_use)
			w->listeners[li] = (struct listener){ .in_use = true, .fd = -1 };
	assert_int_equal(reload_in_frame(f, next, &applied, err), -ENOSPC);
	assert_true(applied);
	assert_non_null(strstr(err, "worker 0: "));
	assert_non_null(strstr(err, "relays[0].listen[1]: 127.0.0.1:47139: no free listener slot: "
				    "the worker holds 1024 listeners, its most; a reload opens new "
				    "ones before it closes those it removes"));
	for (li = 0; li < WORKER_MAX_LISTENERS; li++)
		assert_true(!w->listeners[li].in_use || w->listeners[li].fd >= 0);
}

/* 64 relays of 16 listen addresses each on 127.0.0.1, ports from base on, the last one
 * (relay 63's 16th) on port last instead. */
static struct config *load_many(uint16_t base, uint16_t last)
{
	size_t cap = 96 * 1024, len = 0;
	char *text = malloc(cap);
	struct config *cfg = NULL;
	uint32_t r, j;

	if (!text)
		return NULL;
	len += (size_t)snprintf(text + len, cap - len,
				"control_socket = \"/tmp/ringrelay-test-unused.sock\";\n"
				"io_backend = \"mmsg\";\nrelays = (\n");
	for (r = 0; r < CONFIG_MAX_RELAYS; r++) {
		len += (size_t)snprintf(text + len, cap - len, "%s{ name = \"r%u\"; listen = [",
					r ? ",\n" : "", r);
		for (j = 0; j < CONFIG_MAX_LISTEN; j++) {
			uint32_t k = r * CONFIG_MAX_LISTEN + j;
			uint16_t port = k == WORKER_MAX_LISTENERS - 1 ? last : (uint16_t)(base + k);

			len += (size_t)snprintf(text + len, cap - len, "%s\"127.0.0.1:%u\"",
						j ? ", " : " ", port);
		}
		len += (size_t)snprintf(text + len, cap - len,
					" ]; upstreams = [ \"127.0.0.1:47134\" ]; }");
	}
	snprintf(text + len, cap - len, "\n);\n");
	cfg = config_text(text);
	free(text);
	return cfg;
}

/* A reload whose new listen addresses do not fit beside those in force (a worker opens the
 * new ones first) is refused by the checks, before anything changes; before, workers failed
 * it part of the way through (partial). One that only keeps addresses passes. */
static void test_listener_room(void **state)
{
	struct config *cur = load_many(40000, 40000 + WORKER_MAX_LISTENERS - 1);
	struct config *same = load_many(40000, 40000 + WORKER_MAX_LISTENERS - 1);
	struct config *moved = load_many(40000, 42000);
	struct runtime rt = { .cfg = cur };
	uint32_t slot[CONFIG_MAX_RELAYS];
	char err[CONFIG_ERR_LEN] = "";

	(void)state;
	assert_non_null(cur);
	assert_non_null(same);
	assert_non_null(moved);
	assert_int_equal(runtime_reload_check(&rt, moved, slot, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "1024 listen addresses in force and 1 new ones"));
	assert_non_null(strstr(err, "remove the old ones in one reload"));
	err[0] = '\0';
	assert_int_equal(runtime_reload_check(&rt, same, slot, err, sizeof(err)), 0);
	/* A worker still behind holds the 1024 of cur while a smaller config is in force: the
	 * move does not fit beside those either. */
	{
		struct config *small = load(30), *two = load_listen(30, ", \"127.0.0.1:47139\"");
		struct runtime_retired behind = { .cfg = cur };
		struct runtime rt2 = { .cfg = small, .retired = &behind };

		assert_non_null(small);
		assert_non_null(two);
		assert_int_equal(runtime_reload_check(&rt2, two, slot, err, sizeof(err)), -ENOSPC);
		assert_non_null(strstr(err, "1024 listen addresses in force (in a worker still "
					    "behind) and 2 new ones"));
		config_free(small);
		config_free(two);
	}
	config_free(cur);
	config_free(same);
	config_free(moved);
}

/* Stand-ins for the worker threads at a stop: each waits for its stop_fd, as a loop does,
 * then says its loop ended, delay_ms later or only once released (a stuck loop), and ends
 * teardown_ms after that. */
struct stand_in {
	struct worker *w;
	volatile bool *release; /* NULL: not stuck */
	uint32_t delay_ms, teardown_ms;
	volatile bool ended;
};

static void *stand_in_run(void *arg)
{
	struct stand_in *s = arg;
	struct pollfd pfd = { .fd = s->w->stop_fd, .events = POLLIN };
	struct timespec ms = { 0, 1000000 };

	while (poll(&pfd, 1, -1) <= 0)
		;
	for (; s->delay_ms; s->delay_ms--)
		nanosleep(&ms, NULL);
	while (s->release && !*s->release)
		nanosleep(&ms, NULL);
	worker_report(s->w, WORKER_STOPPING);
	for (; s->teardown_ms; s->teardown_ms--)
		nanosleep(&ms, NULL);
	s->ended = true;
	return NULL;
}

/* A stop waits wait_ms for the loops to see it, joins the worker whose loop did, and leaves
 * the stuck one running, counted, instead of waiting for ever; runtime_fini then frees
 * nothing it may touch. */
static void test_stop(void **state)
{
	struct fixture *f = *state;
	/* static: the stuck one may outlive a failed assertion */
	static volatile bool release;
	static struct stand_in s[2];
	struct worker *workers = f->rt.workers;
	struct config *cfg = f->rt.cfg;
	uint64_t t0 = worker_ms(), took;
	uint32_t i;

	s[0] = (struct stand_in){ .w = &workers[0] };
	release = false;
	s[1] = (struct stand_in){ .w = &workers[1], .release = &release };
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&workers[i].thread, NULL, stand_in_run, &s[i]), 0);
	assert_int_equal(runtime_stop(&f->rt), 1);
	took = worker_ms() - t0;
	assert_true(took >= 100 && took < 2000);
	assert_true(s[0].ended); /* joined */
	assert_false(s[1].ended);
	assert_int_equal(f->rt.n_started, 0);
	assert_int_equal(f->rt.n_abandoned, 1);
	runtime_fini(&f->rt);
	assert_ptr_equal(f->rt.workers, workers);
	assert_ptr_equal(f->rt.cfg, cfg);
	/* The test's own clean-up: the thread ends, then the teardown may free. */
	release = true;
	pthread_join(workers[1].thread, NULL);
	assert_true(s[1].ended);
	f->rt.n_abandoned = 0;
}

/* Only the loop's answer is bounded: a loop that sees the stop late but within wait_ms, and
 * a teardown longer than wait_ms after a prompt answer, are both waited for and joined. */
static void test_stop_late(void **state)
{
	struct fixture *f = *state;
	static struct stand_in s[2]; /* as in test_stop */
	uint64_t t0 = worker_ms();
	uint32_t i;

	s[0] = (struct stand_in){ .w = &f->rt.workers[0], .delay_ms = 20 };
	s[1] = (struct stand_in){ .w = &f->rt.workers[1], .teardown_ms = 1000 };
	f->rt.wait_ms = 300;
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&f->rt.workers[i].thread, NULL, stand_in_run, &s[i]),
				 0);
	assert_int_equal(runtime_stop(&f->rt), 0);
	assert_true(worker_ms() - t0 >= 1000);
	assert_true(s[0].ended && s[1].ended);
	assert_int_equal(f->rt.n_abandoned, 0);
}

/* The start's backend: worker 0 answers READY and its loop fails at once; worker 1 reads
 * its first command only after that (still main's until every worker has answered), then
 * answers and runs until stopped. */
static int early_end_run(struct worker *w, struct worker_cmd *first)
{
	struct timespec wait = { 0, 100 * 1000000L };
	struct pollfd pfd = { .fd = w->stop_fd, .events = POLLIN };

	if (w->id == 0) {
		worker_report(w, WORKER_READY);
		snprintf(w->error, sizeof(w->error), "worker 0: its loop failed");
		worker_report(w, WORKER_STOPPING);
		return -EIO;
	}
	nanosleep(&wait, NULL);
	if (first->type != WORKER_CMD_APPLY)
		snprintf(w->error, sizeof(w->error), "worker 1: first command changed");
	worker_report(w, WORKER_READY);
	while (poll(&pfd, 1, -1) <= 0)
		;
	worker_report(w, WORKER_STOPPING);
	return 0;
}

static const struct worker_ops early_end_ops = {
	.run = early_end_run,
	.listener_open = stub_listener_open,
	.session_opened = stub_session_opened,
	.session_close = stub_session_close,
};

/* A worker whose loop ends as the others still start neither counts as another's answer
 * (the start freed the first commands under worker 1) nor passes for a running worker:
 * the start fails with its error. */
static void test_start_early_end(void **state)
{
	struct config *cfg = load(30);
	struct runtime rt = { 0 };
	struct uring_caps caps = { 0 };
	struct plan plan;
	char err[CONFIG_ERR_LEN] = "";
	uint32_t i;

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(runtime_check(NULL, cfg, &plan, err, sizeof(err)), 0);
	plan.n_workers = 2;
	plan.cpu[1] = plan.cpu[0];
	assert_int_equal(runtime_prepare(&rt, cfg, &plan, &caps, err, sizeof(err)), 0);
	for (i = 0; i < 2; i++)
		rt.workers[i].ops = &early_end_ops;
	assert_int_equal(runtime_start(&rt, err, sizeof(err)), -EIO);
	assert_string_equal(err, "worker 0: its loop failed");
	assert_int_equal(rt.n_started, 0);
	assert_string_equal(rt.workers[1].error, "");
	runtime_fini(&rt);
}

/* RINGRELAY_WORKER_WAIT_MS: whole milliseconds from the minimum to the default; anything else
 * leaves the wait as it was. */
static void test_wait_parse(void **state)
{
	static const char *bad[] = { "", "-2000", "+2000", " 2000", "2000 ", "2000ms", "1499",
				     "5001", "99999999999999999999", "0x800" };
	uint32_t ms = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(runtime_wait_parse(bad[i], &ms), -EINVAL);
		assert_int_equal(ms, 7);
	}
	assert_int_equal(runtime_wait_parse(NULL, &ms), -EINVAL);
	assert_int_equal(runtime_wait_parse("1500", &ms), 0);
	assert_int_equal(ms, RUNTIME_WORKER_WAIT_MIN_MS);
	assert_int_equal(runtime_wait_parse("5000", &ms), 0);
	assert_int_equal(ms, RUNTIME_WORKER_WAIT_MS);
	assert_int_equal(runtime_wait_parse("2500", &ms), 0);
	assert_int_equal(ms, 2500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_notes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_stuck_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_joins_no_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_own_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_widen_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_reused_stuck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listeners_full, setup, teardown),
		cmocka_unit_test(test_listener_room),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_late, setup, teardown),
		cmocka_unit_test(test_start_early_end),
		cmocka_unit_test(test_wait_parse),
	};
	return cmocka_run_group_tests_name("runtime_wait", tests, NULL, NULL);
}
