/* SPDX-License-Identifier: MIT */
/* The filter section of the config (config_filter.c): the root table's "filter" row. Private
 * to config*.c; the word names are in config.h. */
#ifndef RINGRELAY_CONFIG_FILTER_H
#define RINGRELAY_CONFIG_FILTER_H

#include "config_parse.h"

/* Every filter default (mode off until a filter section says otherwise). */
void config_filter_defaults(struct filter_conf *f);
/* config_keep_rows for the filter's restart-only settings (pin), named "filter.NAME". */
void config_filter_keep_restart(const struct filter_conf *running, struct filter_conf *next,
				void (*changed)(void *arg, const char *what), void *arg);
/* The root row "filter": parses the group s (NULL: absent) into cfg->filter. */
int config_filter_parse(struct config_parser *p, const config_setting_t *root,
			const config_setting_t *s, void *cfg);
/* ... and writes cfg->filter as a filter group. */
void config_filter_dump(FILE *f, const void *cfg, const char *indent);

#endif
