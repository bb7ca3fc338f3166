// SPDX-License-Identifier: MIT
/* The daemon's state transitions that both main (SIGHUP) and the control thread
 * (ringrelayctl reload) drive: reloading the config and bringing the filter in line. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "filter.h"
#include "log.h"
#include "service.h"
#include "snapshot.h"

double app_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int app_snapshot(struct app *a, struct snapshot *s)
{
	struct filter_stats *fs;
	int ret;

	ret = runtime_snapshot(&a->rt, s);
	if (ret)
		return ret;
	s->version = RINGRELAY_VERSION;
	s->pid = (int)getpid();
	s->now = app_now();
	s->start_time = a->start_time;
	s->config_path = a->config_path ? a->config_path : "";
	s->reloads_ok = a->reloads_ok;
	s->reloads_failed = a->reloads_failed;
	s->last_reload_success = a->last_reload_success;
	s->last_reload_error = a->last_reload_error;
	if (!a->filter)
		return 0;
	fs = malloc(sizeof(*fs));
	s->filter_counters = calloc(FILTER_CNT__MAX, sizeof(*s->filter_counters));
	if (!fs || !s->filter_counters) {
		free(fs);
		return -ENOMEM;
	}
	/* A failed read leaves the filter's counters out rather than reporting zeros. */
	if (filter_read_stats(a->filter, fs)) {
		free(s->filter_counters);
		s->filter_counters = NULL;
	} else {
		memcpy(s->filter_counters, fs->counters, sizeof(fs->counters));
	}
	free(fs);
	return 0;
}

/* Brings the filter in line with cfg: load, update atomically, or remove. */
int app_filter_sync(struct app *a, const struct config *cfg, char *err, size_t errlen)
{
	uint32_t i;
	int ret;

	if (cfg->filter.mode == FILTER_MODE_OFF) {
		filter_free(a->filter);
		a->filter = NULL;
		return 0;
	}
	ret = a->filter ? filter_update(a->filter, cfg, err, errlen)
			: filter_new(cfg, &a->filter, err, errlen);
	/* Remembered so a link event for an interface that is already filtered changes nothing. */
	for (i = 0; !ret && i < cfg->filter.n_interfaces; i++)
		a->filter_ifindex[i] = (int)if_nametoindex(cfg->filter.interfaces[i]);
	return ret;
}

int app_napi_sync(struct app *a, const struct config *cfg, bool log_now)
{
	int ret = napitune_apply(cfg, a->rt.plan.cpu, a->rt.plan.n_workers, &a->napi);

	if (log_now)
		app_napi_log(a);
	return ret;
}

void app_napi_log(struct app *a)
{
	char busy[128];

	napitune_busy_text(&a->rt.cfg->napi, a->rt.backend,
			   a->rt.n_started ? a->rt.workers[0].busy_poll : 0, busy, sizeof(busy));
	napitune_log(&a->napi, busy);
}

/* Whether the napi block was applied to ifname last time. */
static bool app_napi_iface(const struct app *a, const char *ifname)
{
	uint32_t i;

	for (i = 0; i < a->napi.n; i++)
		if (!strcmp(a->napi.ifaces[i].name, ifname))
			return true;
	return false;
}

void app_link_event(struct app *a, const char *ifname, int ifindex, bool present)
{
	char err[CONFIG_ERR_LEN];
	bool attached = false;
	uint32_t i;

	if (!present)
		return;
	for (i = 0; a->filter && i < a->rt.cfg->filter.n_interfaces; i++) {
		/* Other changes to a filtered link (up, addresses) keep its ifindex and filter. */
		if (strcmp(a->rt.cfg->filter.interfaces[i], ifname) != 0 ||
		    a->filter_ifindex[i] == ifindex)
			continue;
		log_notice("link %s is back (ifindex %d): attaching the filter again", ifname,
			   ifindex);
		filter_free(a->filter);
		a->filter = NULL;
		if (app_filter_sync(a, a->rt.cfg, err, sizeof(err)))
			log_err("filter: %s", err);
		attached = true;
		break;
	}
	/* Attaching XDP re-makes the NAPI instances, which lose their per-NAPI values; a link
	 * that came back has new ones. */
	if (a->napi_tuned && (attached || app_napi_iface(a, ifname))) {
		log_notice("link %s (ifindex %d): applying the napi settings again", ifname,
			   ifindex);
		app_napi_sync(a, a->rt.cfg, true);
	}
}

int app_reload(struct app *a, char *err, size_t errlen)
{
	bool applied = false;
	struct config *cfg;
	struct plan plan;
	int ret;

	service_reloading();
	pthread_mutex_lock(&a->lock);
	ret = config_load_file(a->config_path, &cfg, err, errlen);
	if (!ret) {
		ret = runtime_check(&a->rt, cfg, &plan, err, errlen);
		if (!ret)
			ret = runtime_reload(&a->rt, cfg, &plan, &applied, err, errlen);
		else
			config_free(cfg);
	}
	if (!ret)
		ret = app_filter_sync(a, a->rt.cfg, err, errlen);
	/* After the filter: its attach may have re-made the NAPI instances. A failure is
	 * logged and keeps the reload good: the relays run either way. */
	if (!ret && a->napi_tuned)
		app_napi_sync(a, a->rt.cfg, true);
	if (ret) {
		a->reloads_failed++;
		snprintf(a->last_reload_error, sizeof(a->last_reload_error), "%s", err);
		/* Say exactly what is in force now. */
		if (!applied)
			log_err("reload failed, the previous configuration stays in force: %s", err);
		else
			log_err("reload applied to the relays, but: %s", err);
	} else {
		a->reloads_ok++;
		a->last_reload_success = app_now();
		a->last_reload_error[0] = '\0';
		log_info("reload: %s applied: %u relay(s)", a->config_path, a->rt.cfg->n_relays);
	}
	pthread_mutex_unlock(&a->lock);
	service_ready(ret ? (applied ? "reload applied with errors" :
				       "reload failed; previous configuration in force")
			  : "reloaded");
	return ret;
}
