/* SPDX-License-Identifier: MIT */
/* Thin wrappers around sd_notify(3) for main: readiness, reload, stop, status and the
 * watchdog. Outside systemd (NOTIFY_SOCKET unset) every call is a no-op that returns 0, so
 * main calls them unconditionally. A failed notification is logged once, not per call. */
#ifndef RINGRELAY_SERVICE_H
#define RINGRELAY_SERVICE_H

#include <stdint.h>

/* READY=1 plus STATUS=status (status may be NULL). Send after sockets, rings and the filter
 * are up, and again after every reload (RELOADING=1 must be followed by READY=1). */
int service_ready(const char *status);
/* RELOADING=1. systemd 252 needs no MONOTONIC_USEC= (that is Type=notify-reload, 253+). */
int service_reloading(void);
/* STOPPING=1, at the start of an orderly shutdown. */
int service_stopping(void);
/* STATUS= one line shown by `systemctl status`; newlines are replaced by spaces. */
int service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval in microseconds when WatchdogSec= is set for this process, else 0.
 * Ping at half of it, and only while every worker's heartbeat advances. */
uint64_t service_watchdog_usec(void);
/* WATCHDOG=1. */
int service_watchdog_ping(void);

#endif
