/*
 * log.h -- the host's log callback, as every stage calls it.
 *
 * engine.c owns the one otas__logger_t (set by otas_set_logger() before
 * the first capture, read-only afterwards) and hands a pointer to the
 * stages that log (the sender), so none of them includes the engine.
 */
#ifndef OTAS_LOG_H
#define OTAS_LOG_H

#include <stddef.h>

#include "otas/otas.h"

typedef struct {
	otas_log_fn fn; /* NULL: nothing is logged */
	void *ud;
	int min;        /* lowest level passed on */
} otas__logger_t;

/* Log through the host's callback when level >= the minimum level. */
void otas__logf(const otas__logger_t *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when a line at level would be passed on. */
int otas__log_on(const otas__logger_t *lg, int level);

/* DEBUG line: head + an event's JSON, every copy of the agent token (the
 * sender moves it to a header) replaced by [REDACTED]. */
void otas__log_event(const otas__logger_t *lg, const char *head,
                     const char *json, size_t n, const char *token,
                     size_t token_len);

#endif
