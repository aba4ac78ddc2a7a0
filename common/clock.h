/*
 * clock.h -- the two clocks the engine and otas-collector read, and
 * timestamps as RFC 3339 text both ways.
 */
#ifndef OTAS_COMMON_CLOCK_H
#define OTAS_COMMON_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in whole milliseconds. */
int64_t otas__now_mono_ms(void);

/* CLOCK_REALTIME in microseconds since the Unix epoch. */
int64_t otas__now_unix_us(void);

/* Parse RFC 3339 ("2026-11-23T10:00:00.123456Z", offsets allowed) or a
 * plain number of unix seconds (with fraction) into microseconds.
 * 0 ok, -1 when it is neither. */
int otas__parse_time(const char *s, int64_t *us_out);

/* Format microseconds as RFC 3339 UTC with microseconds
 * ("2026-11-23T10:00:00.123456Z"; years clamped to 0..9999). */
void otas__format_time(int64_t us, char out[32]);

#endif
