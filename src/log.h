/* SPDX-License-Identifier: MIT */
/* One logging sink for the whole daemon. Where a line goes is decided once, by log_setup:
 *   - under systemd (JOURNAL_STREAM names our stderr): sd_journal_send, with PRIORITY= and
 *     the message's fields (RELAY=, UPSTREAM=, CLIENT=, WORKER=, ...) as journal fields;
 *   - on a terminal: "2026-11-22 11:15:02.123 info message";
 *   - into a file or a pipe: the same text, or one JSON object per line (log_format).
 * Each line is one write (or one journal message), so lines of several threads never mix.
 * Nothing on the hot path logs: per-packet events are counted, per-session ones go through
 * the access log (accesslog.h), which a logger thread writes. */
#ifndef RINGRELAY_LOG_H
#define RINGRELAY_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7
};

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Where log_setup sent the log (for tests and the start-up line). */
enum log_output { LOG_OUT_TEXT, LOG_OUT_JSON, LOG_OUT_JOURNAL };

/* A structured field of a message: key is the journal field name (upper case, e.g. "RELAY");
 * JSON writes it in lower case, as a number when num is set. Text output shows the message
 * only, which says the same in words. */
struct log_field {
	const char *key;
	const char *value;
	bool num;
};

/* Chooses the output for file descriptor 2 and fmt: the journal when JOURNAL_STREAM matches
 * stderr's device and inode, else text (terminals always get text) or fmt. May be called
 * again (after the config is read). Returns the output chosen. */
enum log_output log_setup(enum log_format fmt);
/* As log_setup, but without looking at the environment: tests use it to force an output. */
void log_force_output(enum log_output out);

/* Messages above this level are dropped; -v raises it, -q lowers it. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message with n structured fields. */
void log_fields(enum log_level level, const struct log_field *f, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Formats one line of output out (TEXT or JSON, ending in '\n') into buf; time is Unix
 * seconds. Returns the length (at most len - 1; a long message is cut). For log.c, the
 * access log and tests. */
size_t log_format_line(char *buf, size_t len, enum log_output out, double time,
		       enum log_level level, const struct log_field *f, size_t n, const char *msg);
/* "error", "warning", "notice", "info" or "debug". */
const char *log_level_name(enum log_level level);

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
