// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "service.h"

/* One process has one notify socket; if it is broken, saying so on every watchdog ping or
 * status update would flood the journal, so the first failure is logged and later ones are
 * only returned. Written from main's thread and a reload's load thread (RELOADING=1); the
 * atomic keeps them from racing. */
static int service_failed_logged;

/* sd_notify returns > 0 when sent, 0 when NOTIFY_SOCKET is unset, < 0 (-errno) on failure.
 * unset_environment is 0: the watchdog reads WATCHDOG_USEC/WATCHDOG_PID again later. */
static int service_send(const char *what, const char *state)
{
	int ret = sd_notify(0, state);

	if (ret >= 0)
		return 0;
	if (!__atomic_exchange_n(&service_failed_logged, 1, __ATOMIC_RELAXED))
		log_warn("sd_notify %s: %s (further notify errors are not logged)", what,
			 strerror(-ret));
	return ret;
}

/* STATUS= ends at a newline in the protocol, so a multi-line status would be cut or, worse,
 * read as further assignments. */
static void service_one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int service_ready(const char *status)
{
	char msg[512];

	if (!status)
		return service_send("READY", "READY=1");
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	service_one_line(msg + strlen("READY=1\n"));
	return service_send("READY", msg);
}

int service_reloading(void)
{
	return service_send("RELOADING", "RELOADING=1");
}

int service_stopping(void)
{
	return service_send("STOPPING", "STOPPING=1");
}

int service_status(const char *fmt, ...)
{
	char msg[512];
	size_t n = strlen("STATUS=");
	va_list ap;

	memcpy(msg, "STATUS=", n);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	service_one_line(msg + n);
	return service_send("STATUS", msg);
}

uint64_t service_watchdog_usec(void)
{
	uint64_t usec = 0;
	int ret = sd_watchdog_enabled(0, &usec);

	if (ret < 0) {
		/* A malformed WATCHDOG_USEC: run without pings rather than fail; systemd will
		 * then restart us, which the log line explains. */
		log_warn("watchdog: cannot read WATCHDOG_USEC: %s", strerror(-ret));
		return 0;
	}
	return ret > 0 ? usec : 0;
}

int service_watchdog_ping(void)
{
	return service_send("WATCHDOG", "WATCHDOG=1");
}
