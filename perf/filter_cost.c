// SPDX-License-Identifier: MIT
/* Cost of the XDP/tc filter program alone: BPF_PROG_TEST_RUN over one IPv4/UDP frame from
 * a denied source to a relay port, repeated in the kernel, for the XDP and the tc flavour.
 * The numbers in docs/filter.md ("Cost") come from it. Needs root.
 *
 *   filter_cost [-n REPEAT]          (default 1000000)
 *
 * Prints one line per flavour: "xdp: denied v4 frame: N ns/packet (...)". */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "filter.h"
#include "log.h"

/* One relay on port 5000 and a denied /24: the frame below takes the parse, one LPM lookup
 * and the drop_prefix counter. */
static const char conf_text[] =
	"relays = ( { name = \"r\"; listen = [ \"198.18.1.2:5000\" ]; "
	"upstreams = [ \"198.18.2.2:9000\" ]; } );\n"
	"filter = { interfaces = [ \"lo\" ]; deny = [ \"198.18.66.0/24\" ]; };\n";

/* Ethernet + IPv4 + UDP + 32 bytes from 198.18.66.1 to 198.18.1.2:5000. */
static size_t frame_build(uint8_t *buf, size_t len)
{
	uint8_t *ip = buf + 14, *udp = ip + 20;
	uint16_t v;

	memset(buf, 0, len);
	memset(buf, 0x02, 12); /* MACs: any unicast */
	v = htons(0x0800);
	memcpy(buf + 12, &v, 2);
	ip[0] = 0x45;
	v = htons(20 + 8 + 32);
	memcpy(ip + 2, &v, 2);
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, "198.18.66.1", ip + 12);
	inet_pton(AF_INET, "198.18.1.2", ip + 16);
	v = htons(40000);
	memcpy(udp, &v, 2);
	v = htons(5000);
	memcpy(udp + 2, &v, 2);
	v = htons(8 + 32);
	memcpy(udp + 4, &v, 2);
	return 14 + 20 + 8 + 32;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .repeat = 1000000);
	char err[CONFIG_ERR_LEN];
	struct config *cfg;
	struct filter *f;
	uint8_t buf[256];
	int c, tc, ret = 0;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n' || atoi(optarg) <= 0) {
			fprintf(stderr, "usage: filter_cost [-n REPEAT]\n");
			return 2;
		}
		opts.repeat = (unsigned)atoi(optarg);
	}
	log_set_level(LOG_LVL_WARN);
	if (config_load_string(conf_text, "filter_cost", &cfg, err, sizeof(err))) {
		fprintf(stderr, "filter_cost: %s\n", err);
		return 1;
	}
	if (filter_open(cfg, &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "filter_cost: %s (needs root)\n", err);
		config_free(cfg);
		return 1;
	}
	opts.data_in = buf;
	opts.data_size_in = (uint32_t)frame_build(buf, sizeof(buf));
	for (tc = 0; tc < 2 && !ret; tc++) {
		ret = bpf_prog_test_run_opts(filter_prog_fd(f, tc), &opts);
		if (ret)
			fprintf(stderr, "filter_cost: BPF_PROG_TEST_RUN: %s\n", strerror(-ret));
		else if (opts.retval != (tc ? (uint32_t)TC_ACT_SHOT : (uint32_t)XDP_DROP))
			ret = fprintf(stderr, "filter_cost: the frame was not dropped (%u)\n",
				      opts.retval);
		else
			printf("%s: denied v4 frame: %u ns/packet (BPF_PROG_TEST_RUN, repeat %u)\n",
			       tc ? "tc" : "xdp", opts.duration, opts.repeat);
	}
	filter_free(f);
	config_free(cfg);
	return ret ? 1 : 0;
}
