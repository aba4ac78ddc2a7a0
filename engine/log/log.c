/*
 * log.c -- formatting for the host's log callback (see log.h).
 */
#include "log/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"

int
otas__log_on(const otas__logger_t *lg, int level)
{
	return lg && lg->fn && level >= lg->min;
}

void
otas__logf(const otas__logger_t *lg, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!otas__log_on(lg, level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lg->fn(level, msg, lg->ud);
}

void
otas__log_event(const otas__logger_t *lg, const char *head, const char *json,
                size_t n, const char *token, size_t token_len)
{
	otas__buf_t b = OTAS__BUF_INIT;
	const char *p = json, *end = json + n, *hit;

	if (!otas__log_on(lg, OTAS_LOG_DEBUG))
		return;
	otas__buf_puts(&b, head);
	while (token && token_len && p < end &&
	       (hit = memmem(p, (size_t)(end - p), token, token_len))) {
		otas__buf_append(&b, p, (size_t)(hit - p));
		otas__buf_puts(&b, "[REDACTED]");
		p = hit + token_len;
	}
	otas__buf_append(&b, p, (size_t)(end - p));
	otas__buf_putc(&b, '\0');
	if (!b.oom)
		lg->fn(OTAS_LOG_DEBUG, b.data, lg->ud);
	otas__buf_free(&b);
}
