/*
 * util.h -- small pieces every collector file uses: UUIDv7 event ids,
 * clocks and RFC 3339 parsing, and (from common/) random bytes and
 * URL-safe base64 without padding (keys and JWTs).
 */
#ifndef OTAS_COLLECTOR_UTIL_H
#define OTAS_COLLECTOR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

/* Random bytes (otas__random_bytes) and base64url (otas__b64_*, with
 * OTAS__B64_URL: keys and JWTs) are the engine's too: common/. */
#include "common/base64.h"
#include "common/random.h"

/* A fresh UUIDv7 (RFC 9562) as 36 characters plus NUL. */
void otas__uuid_v7(char out[37]);
/* A fresh UUIDv4, used for project and agent ids. */
void otas__uuid_v4(char out[37]);

/* Wall clock in microseconds since the epoch (common/clock.c's); monotonic
 * clock in ms. */
static inline int64_t
otas__now_us(void)
{
	return otas__now_unix_us();
}
double otas__mono_ms(void);

/* RFC 3339 both ways (otas__parse_time, otas__format_time): common/clock.h. */

/* Constant-time comparison of n bytes: 1 when equal. */
int otas__ct_equal(const void *a, const void *b, size_t n);

#endif
