/*
 * retry.h -- delivery policy as pure functions: what an answer means, how
 * long to wait before the next attempt, and what a Retry-After header
 * says.  No I/O, no clock, no randomness of its own (the caller passes
 * both), so every rule is unit-tested directly.
 */
#ifndef OTAS_RETRY_H
#define OTAS_RETRY_H

#include <stdint.h>

typedef enum {
	OTAS__RETRY_OK = 0,    /* delivered */
	OTAS__RETRY_RETRY,     /* transient: back off and send again */
	OTAS__RETRY_DROP,      /* the event(s) will never be accepted */
	OTAS__RETRY_DROP_TOKEN,/* 401 about the event's agent token */
	OTAS__RETRY_AUTH_WAIT, /* the key was refused: keep, long backoff */
	OTAS__RETRY_FALLBACK,  /* no batch endpoint: per-event mode */
	OTAS__RETRY_REDIRECT   /* 3xx: the URL is wrong; keep, never follow */
} otas__retry_action_t;

/* http_status 0 means no answer (connect error, timeout, reset).
 * description is the answer's status_description or error ("" or NULL
 * when none).  batch_mode: the request went to the batch endpoint. */
otas__retry_action_t otas__retry_classify(int http_status,
                                          const char *description,
                                          int batch_mode);

/* Delay before attempt `attempt` (1 = first retry): full jitter, a value
 * drawn uniformly from [0, min(cap_ms, base_ms * 2^(attempt-1))] using
 * `rnd` (any 64 random bits). */
int64_t otas__retry_delay_ms(int attempt, uint64_t rnd, int64_t base_ms,
                             int64_t cap_ms);

/* Parse a Retry-After value: delay-seconds or an HTTP date (IMF-fixdate,
 * RFC 850 or asctime).  Returns the delay in milliseconds (0 for a date in
 * the past), or -1 when the value is not valid.  now_unix_s is the current
 * wall-clock time. */
int64_t otas__retry_after_ms(const char *value, int64_t now_unix_s);

#endif
