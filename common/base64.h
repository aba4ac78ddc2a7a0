/*
 * base64.h -- RFC 4648 base64, both alphabets, for the engine and
 * otas-collector: bodies in events (standard, padded), agent keys, JWTs
 * and sealed spool tokens (URL-safe, unpadded).  One implementation;
 * callers pick the alphabet and padding with flags.
 */
#ifndef OTAS_COMMON_BASE64_H
#define OTAS_COMMON_BASE64_H

#include <stddef.h>

#include "common/buf.h"

/* Encoding: OTAS__B64_URL selects '-' and '_' for 62 and 63 (section 5),
 * else '+' and '/' (section 4); OTAS__B64_PAD appends '=' to a multiple
 * of four characters.
 * Decoding: OTAS__B64_URL and OTAS__B64_STD name the alphabets accepted
 * (both: either, even mixed, as JWTs in the wild are); OTAS__B64_PAD is
 * not needed: up to two trailing '=' are always accepted, as long as they
 * complete a multiple of four. */
#define OTAS__B64_STD 1
#define OTAS__B64_URL 2
#define OTAS__B64_PAD 4

/* Characters otas__b64_encode writes for n bytes (no NUL). */
size_t otas__b64_len(size_t n, int flags);

/* Write n bytes of in as base64 to out, which has room for
 * otas__b64_len(n, flags) + 1 characters; NUL-terminated. */
void otas__b64_encode(const void *in, size_t n, char *out, int flags);

/* Append n bytes of in as base64 to b.  0, or -1 (out of memory: b->oom). */
int otas__b64_append(otas__buf_t *b, const void *in, size_t n, int flags);

/* Standard alphabet, padded (what event bodies that are not text use). */
void otas__base64(otas__buf_t *b, const unsigned char *s, size_t n);

/* Decode n characters of in into out, which has room for n / 4 * 3 + 2
 * bytes.  Returns the decoded length, or -1: a character outside the
 * accepted alphabets, a length no encoder writes (n % 4 == 1), more than
 * two '=' or '=' that does not complete a group of four.  Leftover bits
 * of the last character are ignored (RFC 4648 3.5 allows either).
 * Safe on untrusted input: out is never written past n / 4 * 3 + 2
 * bytes, whatever in holds (fuzz/fuzz_base64.c). */
long otas__b64_decode(const char *in, size_t n, unsigned char *out, int flags);

/* The same, appended to b (NUL kept after the data).  0, or -1 (invalid
 * input: b unchanged; or out of memory). */
int otas__b64_decode_buf(const char *in, size_t n, otas__buf_t *b, int flags);

#endif
