// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION /* CODE_FILE= would always say log.c */
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_LINE_MAX 2048
#define LOG_FIELDS_MAX 16

/* Level and output are process configuration, set by main before threads start (and the
 * output again once the config is read, before the workers); relaxed atomics keep a later
 * change from being a data race. */
static int log_level = LOG_LVL_INFO;
static int log_out = LOG_OUT_TEXT;

void log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return (enum log_level)__atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void log_force_output(enum log_output out)
{
	__atomic_store_n(&log_out, (int)out, __ATOMIC_RELAXED);
}

/* systemd sets JOURNAL_STREAM=DEV:INODE for a stdout/stderr connected to journald; it is
 * inherited by children whose stderr goes elsewhere, so it counts only when it matches. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

enum log_output log_setup(enum log_format fmt)
{
	enum log_output out;

	if (stderr_is_journal())
		out = LOG_OUT_JOURNAL;
	else if (isatty(STDERR_FILENO) || fmt == LOG_FORMAT_TEXT)
		out = LOG_OUT_TEXT;
	else
		out = LOG_OUT_JSON;
	log_force_output(out);
	return out;
}

const char *log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LVL_ERR:
		return "error";
	case LOG_LVL_WARN:
		return "warning";
	case LOG_LVL_NOTICE:
		return "notice";
	case LOG_LVL_INFO:
		return "info";
	case LOG_LVL_DEBUG:
		break;
	}
	return "debug";
}

/* Appends to buf[*n..len) as snprintf would, never past len - 2 (room for "\n\0"). */
static void __attribute__((format(printf, 4, 5)))
append(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*n + 2 >= len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *n, len - 1 - *n, fmt, ap);
	va_end(ap);
	if (w > 0)
		*n += (size_t)w < len - 2 - *n ? (size_t)w : len - 2 - *n;
}

/* s as the inside of a JSON string. */
static void append_json(char *buf, size_t len, size_t *n, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			append(buf, len, n, "\\%c", c);
		else if (c == '\n')
			append(buf, len, n, "\\n");
		else if (c < 0x20 || c == 0x7f)
			append(buf, len, n, "\\u%04x", c);
		else
			append(buf, len, n, "%c", c);
	}
}

size_t log_format_line(char *buf, size_t len, enum log_output out, double time,
		       enum log_level level, const struct log_field *f, size_t n, const char *msg)
{
	time_t sec = (time_t)time;
	int ms = (int)((time - (double)sec) * 1000.0);
	char stamp[40], zone[8];
	size_t used = 0, i, k;
	struct tm tm;

	if (len < 3) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	localtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), out == LOG_OUT_JSON ? "%Y-%m-%dT%H:%M:%S" : "%F %T", &tm);
	if (out != LOG_OUT_JSON) {
		append(buf, len, &used, "%s.%03d %s %s", stamp, ms, log_level_name(level), msg);
	} else {
		/* RFC 3339: +hh:mm, not strftime's +hhmm */
		strftime(zone, sizeof(zone), "%z", &tm);
		append(buf, len, &used,
		       "{\"time\":\"%s.%03d%.3s:%s\",\"level\":\"%s\",\"message\":\"", stamp, ms,
		       zone, zone + 3, log_level_name(level));
		append_json(buf, len, &used, msg);
		append(buf, len, &used, "\"");
		for (i = 0; i < n; i++) {
			if (!f[i].value)
				continue;
			append(buf, len, &used, ",\"");
			for (k = 0; f[i].key[k]; k++)
				append(buf, len, &used, "%c", tolower((unsigned char)f[i].key[k]));
			append(buf, len, &used, f[i].num ? "\":" : "\":\"");
			append_json(buf, len, &used, f[i].value);
			if (!f[i].num)
				append(buf, len, &used, "\"");
		}
		append(buf, len, &used, "}");
	}
	/* Cut messages still end as a line (and a JSON line cut short is better than none). */
	while (used && buf[used - 1] == '\n')
		used--;
	buf[used++] = '\n';
	buf[used] = '\0';
	return used;
}

static double log_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One journal entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the fields. Returns 0 or a
 * negative errno from sd_journal_sendv. */
static int log_journal(enum log_level level, const struct log_field *f, size_t n, const char *msg)
{
	char prio[16], text[LOG_LINE_MAX + 16], fields[LOG_FIELDS_MAX][LOG_LINE_MAX / 4];
	struct iovec iov[LOG_FIELDS_MAX + 3];
	int cnt = 0;
	size_t i;

	snprintf(text, sizeof(text), "MESSAGE=%s", msg);
	snprintf(prio, sizeof(prio), "PRIORITY=%d", (int)level);
	iov[cnt++] = (struct iovec){.iov_base = text, .iov_len = strlen(text)};
	iov[cnt++] = (struct iovec){.iov_base = prio, .iov_len = strlen(prio)};
	iov[cnt++] = (struct iovec){.iov_base = (char *)"SYSLOG_IDENTIFIER=ringrelay",
				    .iov_len = strlen("SYSLOG_IDENTIFIER=ringrelay")};
	for (i = 0; i < n && i < LOG_FIELDS_MAX; i++) {
		if (!f[i].value)
			continue;
		snprintf(fields[i], sizeof(fields[i]), "%s=%s", f[i].key, f[i].value);
		iov[cnt++] = (struct iovec){.iov_base = fields[i], .iov_len = strlen(fields[i])};
	}
	return sd_journal_sendv(iov, cnt);
}

static void __attribute__((format(printf, 4, 0)))
log_vfields(enum log_level level, const struct log_field *f, size_t n, const char *fmt, va_list ap)
{
	enum log_output out = (enum log_output)__atomic_load_n(&log_out, __ATOMIC_RELAXED);
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 512];
	size_t len;

	if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';
	if (out == LOG_OUT_JOURNAL) {
		if (log_journal(level, f, n, msg) >= 0)
			return;
		/* journald's stream still reads "<N>" as the priority */
		len = (size_t)snprintf(line, sizeof(line), "<%d>%s\n", (int)level, msg);
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
	} else {
		len = log_format_line(line, sizeof(line), out, log_now(), level, f, n, msg);
	}
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vfields(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level level, const struct log_field *f, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vfields(level, f, n, fmt, ap);
	va_end(ap);
}
