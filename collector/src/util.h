/*
 * util.h -- small pieces every collector file uses: random bytes from the
 * kernel, URL-safe base64 without padding (keys and JWTs), UUIDv7 event ids,
 * clocks and RFC 3339 parsing.
 */
#ifndef OTAS_COLLECTOR_UTIL_H
#define OTAS_COLLECTOR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

/* Fill p with n bytes from getrandom(2).  0 ok, -1 on failure. */
int otas__random_bytes(void *p, size_t n);

/* Encoded length of n bytes (no padding). */
size_t otas__b64url_len(size_t n);
/* Encode n bytes into out (otas__b64url_len(n)+1 bytes, NUL-terminated). */
void otas__b64url_encode(const unsigned char *in, size_t n, char *out);
/* Decode n characters into out (room for n*3/4+1).  Returns the decoded
 * length, or -1 on a character outside the alphabet or a bad length. */
long otas__b64url_decode(const char *in, size_t n, unsigned char *out);

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

/* Parse RFC 3339 ("2026-11-23T10:00:00.123456Z", offsets allowed) or a
 * plain number of unix seconds (with fraction) into microseconds.
 * 0 ok, -1 when it is neither. */
int otas__parse_time(const char *s, int64_t *us_out);

/* Format microseconds as RFC 3339 UTC with microseconds. */
void otas__format_time(int64_t us, char out[32]);

/* Constant-time comparison of n bytes: 1 when equal. */
int otas__ct_equal(const void *a, const void *b, size_t n);

#endif
