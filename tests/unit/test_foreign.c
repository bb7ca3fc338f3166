// SPDX-License-Identifier: MIT
/* Someone else's generic XDP program before a tc program of ours (review-genxdp H1, M1, M2):
 * which kernels hand tc the frames without their Ethernet header behind a program with frags
 * (6.9+, read from uname's release), what a program's probe result means there, and what
 * that makes of a relay. Only a program known to take frags, on 6.9+, keeps a relay off (and
 * the filter and shedding out of tc); one whose frags cannot be told (no CAP_SYS_ADMIN under
 * the shipped unit, an attach type of 0, freplace) leaves the relay in tc, with the risk in
 * front of its why. Before, every program not told counted as taking frags, on every kernel. */
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "filter.h"
#include "offload.h"

static void test_release(void **state)
{
	static const struct {
		const char *release;
		bool blinds;
	} t[] = {
	    {"6.1.0-57-amd64", false}, /* Debian 12 */
	    {"5.15.0-126-generic", false},
	    {"6.8.0-49-generic", false},
	    {"6.8.12", false},
	    {"4.19.0", false},
	    {"6.9.0", true},
	    {"6.9", true},
	    {"6.10.3-arch1-1", true},
	    {"6.12.12+bpo-amd64", true},
	    {"6.18.1", true},
	    {"6.18.44-fc-v1272", true},
	    {"7.0.0", true},
	    {"", true}, /* unreadable: counts as new */
	    {"six", true},
	    {"6", true},
	};
	uint32_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (filter_release_blinds_tc(t[i].release) != t[i].blinds)
			fail_msg("%s: want %d", t[i].release, t[i].blinds);
	}
}

static void test_verdict(void **state)
{
	(void)state;
	/* before 6.9 nothing blinds tc, whatever the program */
	assert_int_equal(filter_foreign_verdict(false, 1), FILTER_FOREIGN_NONE);
	assert_int_equal(filter_foreign_verdict(false, -EPERM), FILTER_FOREIGN_NONE);
	assert_int_equal(filter_foreign_verdict(false, 0), FILTER_FOREIGN_NONE);
	assert_int_equal(filter_foreign_verdict(true, 0), FILTER_FOREIGN_NONE);
	assert_int_equal(filter_foreign_verdict(true, 1), FILTER_FOREIGN_FRAGS);
	/* not told: no CAP_SYS_ADMIN, fits no reference, anything else */
	assert_int_equal(filter_foreign_verdict(true, -EPERM), FILTER_FOREIGN_UNTOLD);
	assert_int_equal(filter_foreign_verdict(true, -ENOMSG), FILTER_FOREIGN_UNTOLD);
	assert_int_equal(filter_foreign_verdict(true, -ENOMEM), FILTER_FOREIGN_UNTOLD);
}

static void test_relay(void **state)
{
	struct filter_foreign_prog p = {.id = 42};
	struct offload_relay_state st = {.got = OFFLOAD_TC, .n_ifaces = 1};
	int lo = (int)if_nametoindex("lo");

	(void)state;
	st.ifindex[0] = lo;
	snprintf(st.why, sizeof(st.why), "auto: tc on lo, because lo has no native XDP");
	p.verdict = FILTER_FOREIGN_NONE;
	offload_beside_foreign(&st, lo, &p);
	assert_int_equal(st.got, OFFLOAD_TC);
	assert_string_equal(st.why, "auto: tc on lo, because lo has no native XDP");

	/* cannot tell: stays in tc, the risk in front */
	p.verdict = FILTER_FOREIGN_UNTOLD;
	snprintf(p.why, sizeof(p.why),
		 "someone else's generic XDP program (prog 42) on lo may "
		 "take frags (cannot tell: ...)");
	offload_beside_foreign(&st, lo, &p);
	assert_int_equal(st.got, OFFLOAD_TC);
	assert_string_equal(st.why, "at risk: prog 42 in generic XDP on lo may take frags (cannot "
				    "tell), and then tc sees no Ethernet header and nothing goes "
				    "fast; auto: tc on lo, because lo has no native XDP");

	/* takes frags: off, saying what to do */
	p.verdict = FILTER_FOREIGN_FRAGS;
	snprintf(p.why, sizeof(p.why),
		 "someone else's generic XDP program (prog 42) on lo takes "
		 "frags");
	offload_beside_foreign(&st, lo, &p);
	assert_int_equal(st.got, OFFLOAD_OFF);
	assert_non_null(strstr(st.why, "(prog 42) on lo takes frags, after which Linux 6.9+ hands "
				       "tc the frames without their Ethernet header"));
	assert_non_null(strstr(st.why, "detach it or load it without frags"));

	/* a relay off stays as it is */
	snprintf(st.why, sizeof(st.why), "off before");
	offload_beside_foreign(&st, lo, &p);
	assert_string_equal(st.why, "off before");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_release),
	    cmocka_unit_test(test_verdict),
	    cmocka_unit_test(test_relay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
