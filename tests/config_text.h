/* SPDX-License-Identifier: MIT */
/* Tests (and perf/ tools) that run a config written as text: the loaded config, or NULL with
 * the loader's error on stderr. */
#ifndef RINGRELAY_TEST_CONFIG_TEXT_H
#define RINGRELAY_TEST_CONFIG_TEXT_H

#include <stdio.h>

#include "config.h"

static inline struct config *config_text(const char *text)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg;

	if (config_load_string(text, "t.conf", &cfg, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	return cfg;
}

#endif
