// SPDX-License-Identifier: MIT
#include "stage.h"

void stage_attach(const struct stage_ops *ops, void *arg)
{
	char err[256];
	uint32_t k, n;

	for (;;) {
		n = ops->wants(arg);
		ops->prune(arg);
		for (k = 0; k < n; k++)
			if (ops->attach(arg, k, err, sizeof(err)) < 0)
				break;
		if (k == n)
			return;
		ops->fail(arg, k, err);
	}
}
