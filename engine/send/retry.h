/*
 * retry.h -- delivery policy as pure functions: how long to wait before
 * the next attempt, and what a Retry-After header says.  (What an answer
 * means is protocol.c's status table, otas__classify().)  No I/O, no clock, no randomness of its own (the caller passes
 * both), so every rule is unit-tested directly.
 */
#ifndef OTAS_RETRY_H
#define OTAS_RETRY_H

#include <stdint.h>

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
