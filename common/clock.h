/*
 * clock.h -- the two clocks the engine and otas-collector read.
 */
#ifndef OTAS_COMMON_CLOCK_H
#define OTAS_COMMON_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in whole milliseconds. */
int64_t otas__now_mono_ms(void);

/* CLOCK_REALTIME in microseconds since the Unix epoch. */
int64_t otas__now_unix_us(void);

#endif
