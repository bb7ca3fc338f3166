// SPDX-License-Identifier: MIT
/* uring: the feature probe on this kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "uring.h"

static void test_probe(void **state)
{
	struct uring_caps caps;

	(void)state;
	uring_probe(&caps);
	/* Whatever the kernel offers, the probe is consistent with its own explanation. */
	if (caps.available && caps.opcodes && caps.buf_ring && caps.recvmsg_multishot)
		assert_string_equal(caps.missing, "");
	else
		assert_true(caps.missing[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),
	};
	return cmocka_run_group_tests_name("uring", tests, NULL, NULL);
}
