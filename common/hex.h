/*
 * hex.h -- lower-case hexadecimal, encoding and decoding, for digests,
 * UUIDs, trace ids and escapes in the engine and otas-collector.
 */
#ifndef OTAS_COMMON_HEX_H
#define OTAS_COMMON_HEX_H

#include <stddef.h>

/* "0123456789abcdef": for writers that emit one digit at a time. */
extern const char otas__hex_digits[17];

/* Write n bytes of in as 2n lower-case hex digits to out, NUL-terminated
 * (out has room for 2n + 1). */
void otas__hex_encode(const void *in, size_t n, char *out);

/* 0-15 for a hex digit of either case, else -1.  Inline: JSON scanners
 * call it per \u escape digit. */
static inline int
otas__hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode 2n hex digits of in (either case) into n bytes of out.  0, or -1
 * on a character that is not a hex digit (out is then undefined). */
int otas__hex_decode(const char *in, size_t n, unsigned char *out);

#endif
