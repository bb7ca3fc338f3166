// SPDX-License-Identifier: MIT
/* Early shedding in bpf/filter.bpf.c through BPF_PROG_TEST_RUN, XDP and tc, with real sockets:
 * the test moves into a private network namespace, binds UDP sockets on loopback (where a test
 * run's frames arrive) and runs frames addressed to them. An empty socket passes its datagram
 * (pass_room); the same socket with a datagram queued under a small receive buffer is full
 * (rmem + SHED_ALLOWANCE > rcvbuf) and the frame is dropped (drop_full_socket, and the relay's
 * slot counts it); past half full flows are counted and pass, past shed_heavy_at a flow over
 * shed_flow_rate's 32 datagrams in its window is dropped (drop_heavy_flow) while another flow
 * passes, and with shed_flow_rate = 0 it passes until the socket is full; a listen address
 * without a socket passes (pass_no_socket); a port that is no listener's passes untouched
 * (pass_not_listener); with the fast path in tc, XDP passes a
 * datagram of one of its sessions (pass_fast_path); the gate in front of the stage passes
 * frames unlooked at after a look at a socket far from full (pass_unchecked). IPv4 and IPv6. All of it twice: with the
 * programs that read the socket through the bpf_rdonly_cast kfunc (Linux 6.3) and with the
 * ones that read it through bpf_probe_read_kernel (what older kernels load). Needs root (77
 * otherwise), and a kernel where the shedding programs load (77 otherwise, with the reason). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#include "config.h"
#include "filter.h"

#define PORT_BOUND 5300   /* a listener with a socket */
#define PORT_UNBOUND 5301 /* a listener whose socket is not there */
#define PORT_OTHER 5302	  /* no listener */
#define PORT_BIG 5303	  /* a listener with a 256 KiB receive buffer */

static const char conf[] =
	"relays = ({ name = \"r\"; listen = [\"127.0.0.1:5300\", \"[::1]:5300\", "
	"\"127.0.0.1:5301\", \"[::1]:5301\", \"127.0.0.1:5303\", \"[::1]:5303\"]; upstreams = [\"127.0.0.1:9\"]; });\n";

struct fixture {
	struct config *cfg;
	struct filter *f;
	int rx[2];   /* bound listener sockets, [0] IPv4, [1] IPv6 */
	int big[2];  /* ... with the large buffer */
	int lo;
	uint16_t sport; /* the frames' source port */
	uint16_t plen;	/* their UDP payload */
};

static struct fixture fx;

static int family_at(int v6)
{
	return v6 ? AF_INET6 : AF_INET;
}

/* A bound UDP socket with a receive buffer of 2 x small (the kernel doubles it); with 2200 it
 * takes SHED_ALLOWANCE when empty, and not once a datagram (truesize >= 512) waits in it. */
static int bind_buf(int v6, uint16_t port, int small)
{
	struct sockaddr_storage ss = { 0 };
	int fd = socket(family_at(v6), SOCK_DGRAM, 0), one = 1, want = 2 * small;
	socklen_t len;

	assert_true(fd >= 0);
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	len = sizeof(small);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, &len), 0);
	assert_int_equal(small, want);
	return fd;
}

/* Queues one datagram on socket rx through loopback. */
static void fill_fd(int v6, int rx)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char payload[64] = "fill";
	int fd = socket(family_at(v6), SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(getsockname(rx, (struct sockaddr *)&ss, &len), 0);
	assert_int_equal(sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *)&ss, len),
			 (ssize_t)sizeof(payload));
	close(fd);
}

static void fill(int v6)
{
	fill_fd(v6, fx.rx[v6]);
}

static void drain_fd(int rx)
{
	char buf[256];

	while (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

/* Empties the bound listener of family v6. */
static void drain(int v6)
{
	drain_fd(fx.rx[v6]);
}

/* The receive memory of the socket bound to port (rx_queue of /proc/net/udp{,6}). */
static unsigned long rmem_of(int v6, uint16_t port)
{
	FILE *f = fopen(v6 ? "/proc/net/udp6" : "/proc/net/udp", "re");
	char line[512], local[64];
	unsigned long tx, rx, found = ~0ul;
	unsigned int p;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %*d: %63s %*s %*x %lx:%lx", local, &tx, &rx) != 3)
			continue;
		if (sscanf(strchr(local, ':') + 1, "%x", &p) == 1 && p == port)
			found = rx;
	}
	fclose(f);
	assert_true(found != ~0ul);
	return found;
}

#define FRAME_MAX 2304

/* Ethernet + IPv4/IPv6 + UDP (fx.plen bytes of payload) from the loopback peer to the
 * loopback address:port. */
static size_t frame(uint8_t *b, int v6, uint16_t port)
{
	size_t l3 = 14, l4, n;
	uint16_t plen = (uint16_t)(8 + fx.plen);

	memset(b, 0, FRAME_MAX);
	b[12] = v6 ? 0x86 : 0x08;
	b[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		b[l3] = 0x60;
		b[l3 + 4] = (uint8_t)(plen >> 8);
		b[l3 + 5] = (uint8_t)plen;
		b[l3 + 6] = IPPROTO_UDP;
		b[l3 + 7] = 64;
		b[l3 + 23] = 1; /* ::1 */
		b[l3 + 39] = 1; /* ::1 */
		l4 = l3 + 40;
	} else {
		b[l3] = 0x45;
		b[l3 + 2] = 0;
		b[l3 + 3] = (uint8_t)(20 + plen);
		b[l3 + 8] = 64;
		b[l3 + 9] = IPPROTO_UDP;
		b[l3 + 12] = 127, b[l3 + 15] = 2; /* 127.0.0.2 */
		b[l3 + 16] = 127, b[l3 + 19] = 1; /* 127.0.0.1 */
		l4 = l3 + 20;
	}
	b[l4] = (uint8_t)(fx.sport >> 8), b[l4 + 1] = (uint8_t)fx.sport;
	b[l4 + 2] = (uint8_t)(port >> 8);
	b[l4 + 3] = (uint8_t)port;
	b[l4 + 4] = (uint8_t)(plen >> 8);
	b[l4 + 5] = (uint8_t)plen;
	n = l4 + plen;
	return n;
}

/* The gate in front of f's stage (filter_maps.h), every CPU's entry, into v (ncpus). */
static int gate_read(struct filter *f, struct shed_gate **v)
{
	int n = libbpf_num_possible_cpus();
	uint32_t key = 0;

	assert_true(n > 0);
	*v = calloc((size_t)n, sizeof(**v));
	assert_non_null(*v);
	assert_int_equal(bpf_map_lookup_elem(filter_map_fd(f, "shed_gate"), &key, *v), 0);
	return n;
}

/* Sets it on every CPU; room 0: every frame looked at. */
static void gate(uint32_t skip, uint64_t hot_until, uint32_t room)
{
	struct shed_gate *v;
	int n = gate_read(fx.f, &v), i;
	uint32_t key = 0;

	for (i = 0; i < n; i++)
		v[i] = (struct shed_gate){ .hot_until = hot_until, .skip = skip, .room = room };
	assert_int_equal(bpf_map_update_elem(filter_map_fd(fx.f, "shed_gate"), &key, v, BPF_ANY),
			 0);
	free(v);
}

static void counters(uint64_t out[SHED_CNT__MAX])
{
	assert_int_equal(filter_shed_counters(fx.f, out), 0);
}

/* Runs one frame through the tc flavour with skb's fields (a GSO skb), or (skb NULL) the tc
 * or XDP one; returns the verdict. */
static int run_skb(int tc, int v6, uint16_t port, struct __sk_buff *skb)
{
	static uint8_t in[FRAME_MAX], out[FRAME_MAX + 256];
	size_t len = frame(in, v6, port);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = skb,
		    .ctx_size_in = skb ? sizeof(*skb) : 0, .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(filter_prog_fd(fx.f, tc), &opts), 0);
	return (int)opts.retval;
}

static int run(int tc, int v6, uint16_t port)
{
	return run_skb(tc, v6, port, NULL);
}

/* The counters that moved, "name+n ..." (a static buffer). */
static const char *moved(const uint64_t *before, const uint64_t *after)
{
	static char buf[256];
	size_t at = 0;
	int c;

	buf[0] = 0;
	for (c = 0; c < SHED_CNT__MAX && at < sizeof(buf); c++)
		if (after[c] != before[c])
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s+%llu ",
					       filter_shed_counter_name((enum shed_counter)c),
					       (unsigned long long)(after[c] - before[c]));
	return buf[0] ? buf : "none";
}

/* One case: the verdict and exactly one stage counter (and the slot when dropped). */
static void expect(int tc, int v6, uint16_t port, enum shed_counter want)
{
	uint64_t before[SHED_CNT__MAX], after[SHED_CNT__MAX], d0, d1, h0, h1;
	int drop = want == SHED_CNT_DROP_FULL || want == SHED_CNT_DROP_HEAVY, verdict, c;

	counters(before);
	assert_int_equal(filter_shed_dropped(fx.f, "r", &d0, &h0), 0);
	verdict = run(tc, v6, port);
	counters(after);
	assert_int_equal(filter_shed_dropped(fx.f, "r", &d1, &h1), 0);
	if (tc)
		assert_int_equal(verdict, drop ? TC_ACT_SHOT : TC_ACT_UNSPEC);
	else
		assert_int_equal(verdict, drop ? XDP_DROP : XDP_PASS);
	for (c = 0; c < SHED_CNT__MAX; c++)
		if (after[c] - before[c] != (c == (int)want))
			fail_msg("%s v%d port %u: want %s, moved: %s", tc ? "tc" : "xdp", v6 ? 6 : 4,
				 port, filter_shed_counter_name(want), moved(before, after));
	assert_int_equal(d1 - d0, (uint64_t)(want == SHED_CNT_DROP_FULL));
	assert_int_equal(h1 - h0, (uint64_t)(want == SHED_CNT_DROP_HEAVY));
}

static void test_decisions(void **state)
{
	int tc, v6;

	(void)state;
	for (tc = 0; tc < 2; tc++) {
		for (v6 = 0; v6 < 2; v6++) {
			drain(v6);
			expect(tc, v6, PORT_BOUND, SHED_CNT_PASS_ROOM);
			fill(v6);
			expect(tc, v6, PORT_BOUND, SHED_CNT_DROP_FULL);
			drain(v6);
			expect(tc, v6, PORT_BOUND, SHED_CNT_PASS_ROOM);
			expect(tc, v6, PORT_UNBOUND, SHED_CNT_PASS_NO_SOCKET);
			expect(tc, v6, PORT_OTHER, SHED_CNT_PASS_NOT_LISTENER);
		}
	}
}

/* The relay's shed_flow_rate (the default, 320 a second) per 100 ms window. */
#define HEAVY 32

/* The big socket's receive limit (twice what bind_buf asks for), and where its heavy flows
 * start to be shed: 192 KiB, the buffer less SHED_HEAVY_ROOM (an eighth would leave less). */
#define BIG_RCVBUF (256ul << 10)
#define BIG_HEAVY_AT ((unsigned long)shed_heavy_at(BIG_RCVBUF))

/* Fills the big socket of family v6 past bytes of receive memory, short of full. */
static void fill_past(int v6, unsigned long bytes)
{
	int i;

	for (i = 0; i < 1024 && rmem_of(v6, PORT_BIG) <= bytes; i++)
		fill_fd(v6, fx.big[v6]);
	assert_true(rmem_of(v6, PORT_BIG) + SHED_ALLOWANCE <= BIG_RCVBUF);
}

/* Past half full, short of shed_heavy_at: flows are counted, none is shed (a burst keeps the
 * buffer). Past it, not full: a flow that sent more than HEAVY datagrams in its window is
 * shed, another (light) flow still passes; once drained, the heavy one passes. (The first
 * fill stops 8 KiB short of the mark, so that the heavy flow's window spans a few fills.) */
static void test_heavy_flow(void **state)
{
	int tc, v6, i;

	(void)state;
	assert_int_equal(BIG_HEAVY_AT, BIG_RCVBUF - SHED_HEAVY_ROOM);
	assert_int_equal(shed_heavy_at(8ul << 20), 7ul << 20);
	assert_int_equal(shed_heavy_at(64ul << 10), 32ul << 10);
	for (tc = 0; tc < 2; tc++) {
		for (v6 = 0; v6 < 2; v6++) {
			drain_fd(fx.big[v6]);
			fill_past(v6, BIG_HEAVY_AT - 8192);
			assert_true(rmem_of(v6, PORT_BIG) * 2 > BIG_RCVBUF);
			assert_true(rmem_of(v6, PORT_BIG) <= BIG_HEAVY_AT);
			/* The window starts with the first datagram; a cold flow per round. */
			fx.sport = (uint16_t)(41000 + tc * 2 + v6);
			for (i = 0; i < 2 * HEAVY; i++)
				expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			fill_past(v6, BIG_HEAVY_AT);
			expect(tc, v6, PORT_BIG, SHED_CNT_DROP_HEAVY);
			fx.sport = 40000;
			expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			drain_fd(fx.big[v6]);
			fx.sport = (uint16_t)(41000 + tc * 2 + v6);
			expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			fx.sport = 40000;
		}
	}
}

/* shed_flow_rate = 0: past shed_heavy_at every flow passes, however many it sent; a full socket
 * still sheds. A reload's filter_shed_listeners carries the new value. */
static void test_heavy_off(void **state)
{
	bool on = true;
	int tc, v6, i;

	(void)state;
	fx.cfg->relays[0].shed_flow_rate = 0;
	assert_int_equal(filter_shed_listeners(fx.f, fx.cfg, &on), 0);
	for (tc = 0; tc < 2; tc++) {
		for (v6 = 0; v6 < 2; v6++) {
			drain_fd(fx.big[v6]);
			fill_past(v6, BIG_HEAVY_AT);
			fx.sport = (uint16_t)(42000 + tc * 2 + v6);
			for (i = 0; i < 3 * HEAVY; i++)
				expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			drain_fd(fx.big[v6]);
		}
	}
	fill(0);
	expect(0, 0, PORT_BOUND, SHED_CNT_DROP_FULL);
	drain(0);
	fx.sport = 40000;
	fx.cfg->relays[0].shed_flow_rate = 320;
	assert_int_equal(filter_shed_listeners(fx.f, fx.cfg, &on), 0);
}

/* The fast path in tc, shedding in XDP before it: a datagram of one of its sessions is not
 * for the listener's socket, so a full socket does not shed it (pass_fast_path); another flow
 * to the same full socket is shed, and so is the session's datagram when it arrives on
 * another interface than its rule's (the fast path passes it up to that socket:
 * pass_wrong_iface; before, it passed here unjudged). tc judges as before (the fast path
 * there ran first). */
static void test_fast_path_session(void **state)
{
	struct rr_iface both = { .flags = RR_IFACE_SHED_XDP | RR_IFACE_SHED_TC };
	struct rr_iface fast_tc = { .flags = RR_IFACE_SHED_XDP | RR_IFACE_OFFLOAD_TC };
	int sessions = filter_map_fd(fx.f, "offload_sessions"), ifaces = filter_map_fd(fx.f, "rr_ifaces");
	struct offload_rule rule = { .iif = (uint32_t)fx.lo };
	struct offload_key k;
	uint32_t key = (uint32_t)fx.lo;
	int v6;

	(void)state;
	assert_int_equal(bpf_map_update_elem(ifaces, &key, &fast_tc, BPF_ANY), 0);
	for (v6 = 0; v6 < 2; v6++) {
		/* The key of frame()'s datagram from port 43000: client -> listen address. */
		memset(&k, 0, sizeof(k));
		if (v6) {
			k.saddr[15] = 1, k.daddr[15] = 1;
		} else {
			k.saddr[10] = k.saddr[11] = k.daddr[10] = k.daddr[11] = 0xff;
			k.saddr[12] = 127, k.saddr[15] = 2;
			k.daddr[12] = 127, k.daddr[15] = 1;
		}
		k.sport = htons(43000);
		k.dport = htons(PORT_BOUND);
		fill(v6);
		fx.sport = 43001;
		expect(0, v6, PORT_BOUND, SHED_CNT_DROP_FULL);
		fx.sport = 43000;
		expect(0, v6, PORT_BOUND, SHED_CNT_DROP_FULL);
		assert_int_equal(bpf_map_update_elem(sessions, &k, &rule, BPF_ANY), 0);
		expect(0, v6, PORT_BOUND, SHED_CNT_PASS_FAST_PATH);
		fx.sport = 43001;
		expect(0, v6, PORT_BOUND, SHED_CNT_DROP_FULL);
		rule.iif = (uint32_t)fx.lo + 1;
		assert_int_equal(bpf_map_update_elem(sessions, &k, &rule, BPF_ANY), 0);
		fx.sport = 43000;
		expect(0, v6, PORT_BOUND, SHED_CNT_DROP_FULL);
		rule.iif = (uint32_t)fx.lo;
		assert_int_equal(bpf_map_delete_elem(sessions, &k), 0);
		drain(v6);
	}
	fx.sport = 40000;
	assert_int_equal(bpf_map_update_elem(ifaces, &key, &both, BPF_ANY), 0);
}

/* In tc, a GSO skb whose gso_segs is 0 (SKB_GSO_DODGY, from a tap or virtio device: the
 * segmenter counts) that a full socket sheds counts the datagrams of its UDP payload in the
 * relay's drops: 32 bytes in gso_size 10 are 4. Before, 1. */
static void test_dodgy_gso_drops(void **state)
{
	struct __sk_buff skb = { .gso_size = 10, .gso_segs = 0 };
	uint64_t d0, d1, h0, h1;
	int v6;

	(void)state;
	for (v6 = 0; v6 < 2; v6++) {
		fill(v6);
		assert_int_equal(filter_shed_dropped(fx.f, "r", &d0, &h0), 0);
		assert_int_equal(run_skb(1, v6, PORT_BOUND, &skb), TC_ACT_SHOT);
		assert_int_equal(filter_shed_dropped(fx.f, "r", &d1, &h1), 0);
		if (d1 - d0 != 4 || h1 != h0)
			fail_msg("v%d: shed %llu full, %llu heavy; want 4, 0", v6 ? 6 : 4,
				 (unsigned long long)(d1 - d0), (unsigned long long)(h1 - h0));
		drain(v6);
	}
}

/* Fills relay 0's socket until the program sheds, drains it; returns what it shed (> 0). */
static uint64_t shed_some(void)
{
	uint64_t full, heavy;

	fill(0);
	expect(0, 0, PORT_BOUND, SHED_CNT_DROP_FULL);
	drain(0);
	assert_int_equal(filter_shed_dropped(fx.f, fx.cfg->relays[0].name, &full, &heavy), 0);
	assert_true(full > 0);
	return full;
}

/* A GSO skb in tc (small as a frame) of segs datagrams (0: a DODGY one, the segmenter counts):
 * looked at even while the gate skips. */
static void expect_gso_looked(int v6, uint32_t segs)
{
	struct __sk_buff skb = { .gso_size = 10, .gso_segs = segs };
	uint64_t before[SHED_CNT__MAX], after[SHED_CNT__MAX];

	counters(before);
	run_skb(1, v6, PORT_BIG, &skb);
	counters(after);
	assert_int_equal(after[SHED_CNT_PASS_ROOM] - before[SHED_CNT_PASS_ROOM], 1);
	assert_int_equal(after[SHED_CNT_PASS_UNCHECKED], before[SHED_CNT_PASS_UNCHECKED]);
}

/* This CPU's gate entry. */
static struct shed_gate gate_here(void)
{
	struct shed_gate *v, here;
	int n = gate_read(fx.f, &v), me = sched_getcpu();

	assert_true(me >= 0 && me < n);
	here = v[me];
	free(v);
	return here;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Only this CPU's gate moved: it skips `skip` more, every other CPU's none. */
static void expect_gate_here(uint32_t skip)
{
	struct shed_gate *v;
	int n = gate_read(fx.f, &v), i, me = sched_getcpu();

	for (i = 0; i < n; i++)
		if (v[i].skip != (i == me ? skip : 0))
			fail_msg("CPU %d's gate skips %u, want %u", i, v[i].skip,
				 i == me ? skip : 0);
	free(v);
}

/* The gate. At load every CPU's room is SHED_GATE_ROOM for each online CPU. With one CPU's
 * room here (the big socket's 256 KiB buffer leaves enough below a quarter): a look at the
 * empty big socket makes this CPU (only) pass its next SHED_GATE_SKIP small frames unlooked
 * at, whatever their socket (the full small one's, a port no relay listens on); a frame
 * over SHED_GATE_FRAME and (tc) a GSO skb, DODGY or not, are looked at all the same. A look
 * at the full socket sets the CPU's deadline SHED_GATE_HOT_NS ahead; before it calm looks
 * do not skip (tested with the deadline moved 10 s ahead, so a slow box cannot fail it),
 * after it (moved to the past) the next calm look skips again. The quarter: a look at the
 * big socket with room up to it skips, one that finds less does not. Pinned: the gate is
 * per CPU. The other cases run with room 0 (every frame looked at). */
static void test_gate(void **state)
{
	struct filter *f2;
	struct shed_gate *v, g;
	char err[CONFIG_ERR_LEN];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t was, one;
	uint64_t t0, t1;
	int tc, v6, i, n;

	(void)state;
	/* what filter_open wrote (a second load: the fixture's gate is set by the cases) */
	assert_int_equal(filter_open_shed_reader(fx.cfg, filter_shed_reader(fx.f), &f2, err,
						 sizeof(err)),
			 0);
	n = gate_read(f2, &v);
	for (i = 0; i < n; i++)
		assert_int_equal(v[i].room, SHED_GATE_ROOM * (uint32_t)cpus);
	free(v);
	filter_free(f2);

	assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	for (tc = 0; tc < 2; tc++) {
		for (v6 = 0; v6 < 2; v6++) {
			drain_fd(fx.big[v6]);
			gate(0, 0, SHED_GATE_ROOM);
			expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			expect_gate_here(SHED_GATE_SKIP);
			expect(tc, v6, PORT_BIG, SHED_CNT_PASS_UNCHECKED);
			fx.plen = SHED_GATE_FRAME; /* a frame over it: looked at, and skips anew */
			expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			fx.plen = 32;
			if (tc) {
				expect_gso_looked(v6, 4);
				expect_gso_looked(v6, 0);
			}
			expect_gate_here(SHED_GATE_SKIP);
			fill(v6);
			for (i = 0; i < SHED_GATE_SKIP; i++)
				expect(tc, v6, i % 3 == 0 ? PORT_BOUND : i % 3 == 1 ? PORT_OTHER : PORT_BIG,
				       SHED_CNT_PASS_UNCHECKED);
			t0 = mono_ns();
			expect(tc, v6, PORT_BOUND, SHED_CNT_DROP_FULL);
			t1 = mono_ns();
			g = gate_here();
			assert_true(g.hot_until >= t0 + SHED_GATE_HOT_NS &&
				    g.hot_until <= t1 + SHED_GATE_HOT_NS);
			gate(0, mono_ns() + 10000000000ull, SHED_GATE_ROOM);
			for (i = 0; i < 2 * SHED_GATE_SKIP; i++)
				expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			drain(v6);
			gate(0, mono_ns() - 1, SHED_GATE_ROOM);
			expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			expect(tc, v6, PORT_BIG, SHED_CNT_PASS_UNCHECKED);
			/* just enough room below a quarter full: it skips */
			gate(0, 0, SHED_GATE_ROOM);
			fill_past(v6, BIG_RCVBUF / 4 - SHED_GATE_ROOM - 8192);
			assert_true(rmem_of(v6, PORT_BIG) + SHED_GATE_ROOM <= BIG_RCVBUF / 4);
			expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			expect(tc, v6, PORT_BIG, SHED_CNT_PASS_UNCHECKED);
			/* less: every frame looked at */
			gate(0, 0, SHED_GATE_ROOM);
			fill_past(v6, BIG_RCVBUF / 4 - SHED_GATE_ROOM);
			for (i = 0; i < 2 * SHED_GATE_SKIP; i++)
				expect(tc, v6, PORT_BIG, SHED_CNT_PASS_ROOM);
			drain_fd(fx.big[v6]);
		}
	}
	gate(0, 0, 0);
	assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
}

/* A relay whose shed is off takes its listeners out of the map: its full socket is the
 * stack's business again. */
static void test_relay_off(void **state)
{
	uint64_t full0, full, heavy;
	bool on = false;

	(void)state;
	/* what the relay shed so far stays in its totals (counters never go down) */
	full0 = shed_some();
	assert_int_equal(filter_shed_listeners(fx.f, fx.cfg, &on), 0);
	fill(0);
	expect(0, 0, PORT_BOUND, SHED_CNT_PASS_NOT_LISTENER);
	drain(0);
	assert_int_equal(filter_shed_dropped(fx.f, fx.cfg->relays[0].name, &full, &heavy), 0);
	assert_int_equal(full, full0);
	on = true;
	assert_int_equal(filter_shed_listeners(fx.f, fx.cfg, &on), 0);
	assert_int_equal(filter_shed_dropped(fx.f, fx.cfg->relays[0].name, &full, &heavy), 0);
	assert_int_equal(full, full0);
}

/* A reload that drops the relay and is then refused adds it back: its counts go on (they are
 * counters, read by name). */
static void test_relay_gone(void **state)
{
	char name[CONFIG_NAME_LEN];
	uint64_t full0, full, heavy;
	bool on = true;

	(void)state;
	full0 = shed_some();
	memcpy(name, fx.cfg->relays[0].name, sizeof(name));
	snprintf(fx.cfg->relays[0].name, sizeof(fx.cfg->relays[0].name), "other");
	assert_int_equal(filter_shed_listeners(fx.f, fx.cfg, &on), 0);
	assert_int_equal(filter_shed_dropped(fx.f, "other", &full, &heavy), 0);
	assert_int_equal(full, 0); /* a new relay counts from 0 */
	memcpy(fx.cfg->relays[0].name, name, sizeof(name));
	assert_int_equal(filter_shed_listeners(fx.f, fx.cfg, &on), 0);
	assert_int_equal(filter_shed_dropped(fx.f, name, &full, &heavy), 0);
	assert_int_equal(full, full0);
}

static int setup(enum filter_shed_reader reader, void **state)
{
	char err[CONFIG_ERR_LEN];
	const char *why;
	struct rr_iface v = { .flags = RR_IFACE_SHED_XDP | RR_IFACE_SHED_TC };
	uint32_t key;
	bool on = true;

	if (getuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		exit(77);
	}
	if (unshare(CLONE_NEWNET) || system("ip link set lo up")) {
		fprintf(stderr, "SKIP: private network namespace: %s\n", strerror(errno));
		exit(77);
	}
	if (config_load_string(conf, "t.conf", &fx.cfg, err, sizeof(err))) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	if (filter_open_shed_reader(fx.cfg, reader, &fx.f, err, sizeof(err)) < 0) {
		/* as root (the namespace needed it) a load that fails is the verifier refusing */
		fprintf(stderr, "FAIL: %s\n", err);
		exit(1);
	}
	if (!filter_shed_loaded(fx.f, &why)) {
		fprintf(stderr, "SKIP: %s\n", why);
		exit(77);
	}
	/* The kfunc programs do not load before 6.3: the loader took the probe reader. */
	if (filter_shed_reader(fx.f) != reader)
		fprintf(stderr, "note: the kfunc reader did not load here; testing the other\n");
	assert_int_equal(filter_shed_listeners(fx.f, fx.cfg, &on), 0);
	/* Test runs arrive on loopback: the stage runs there in both hooks. */
	fx.lo = (int)if_nametoindex("lo");
	key = (uint32_t)fx.lo;
	assert_int_equal(bpf_map_update_elem(filter_map_fd(fx.f, "rr_ifaces"), &key, &v, BPF_ANY),
			 0);
	fx.rx[0] = bind_buf(0, PORT_BOUND, 2200);
	fx.rx[1] = bind_buf(1, PORT_BOUND, 2200);
	fx.big[0] = bind_buf(0, PORT_BIG, BIG_RCVBUF / 2);
	fx.big[1] = bind_buf(1, PORT_BIG, BIG_RCVBUF / 2);
	fx.sport = 40000;
	fx.plen = 32;
	/* every frame looked at, as before the gate: each case counts one look (test_gate) */
	gate(0, 0, 0);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(fx.rx[0]);
	close(fx.rx[1]);
	close(fx.big[0]);
	close(fx.big[1]);
	filter_free(fx.f);
	config_free(fx.cfg);
	return 0;
}

static int setup_kfunc(void **state)
{
	return setup(FILTER_SHED_KFUNC, state);
}

static int setup_probe(void **state)
{
	return setup(FILTER_SHED_PROBE, state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_heavy_flow),
		cmocka_unit_test(test_heavy_off),
		cmocka_unit_test(test_relay_off),
		cmocka_unit_test(test_relay_gone),
		cmocka_unit_test(test_fast_path_session),
		cmocka_unit_test(test_dodgy_gso_drops),
		cmocka_unit_test(test_gate),
	};

	return cmocka_run_group_tests_name("kfunc reader", tests, setup_kfunc, teardown) |
	       cmocka_run_group_tests_name("probe reader", tests, setup_probe, teardown);
}
