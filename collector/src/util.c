/*
 * util.c -- UUIDs, the collector's monotonic clock, constant-time compare
 * (see util.h).
 */
#include "util.h"

#include "common/uuid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
otas__uuid_v7(char out[37])
{
	unsigned char b[16];
	uint64_t ms = (uint64_t)(otas__now_us() / 1000);

	if (otas__random_bytes(b, sizeof b) != 0)
		abort(); /* the collector may abort; getrandom does not fail */
	otas__uuid7_stamp(b, ms);
	otas__uuid_format(b, out);
}

void
otas__uuid_v4(char out[37])
{
	unsigned char b[16];

	if (otas__random_bytes(b, sizeof b) != 0)
		abort();
	b[6] = (unsigned char)(0x40 | (b[6] & 0x0f));
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
	otas__uuid_format(b, out);
}

double
otas__mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
otas__ct_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}
