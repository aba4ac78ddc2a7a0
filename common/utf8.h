/*
 * utf8.h -- UTF-8 checks shared by the engine (event JSON) and
 * otas-collector (batch bodies): one validator, one cut.
 */
#ifndef OTAS_COMMON_UTF8_H
#define OTAS_COMMON_UTF8_H

#include <stddef.h>

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else 0. */
int otas__utf8_valid(const char *s, size_t n);

/* Length in bytes of the valid UTF-8 sequence at s (avail bytes left, at
 * least 1), 0 when it is not one (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF).  Inline: the JSON writers and scanners call it
 * per non-ASCII character. */
static inline size_t
otas__utf8_seq(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
		unsigned char hi = c == 0xED ? 0x9F : 0xBF;
		return avail >= 3 && s[1] >= lo && s[1] <= hi &&
		               (s[2] & 0xC0) == 0x80
		           ? 3
		           : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
		return avail >= 4 && s[1] >= lo && s[1] <= hi &&
		               (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80
		           ? 4
		           : 0;
	}
	return 0;
}

/* Largest length <= max that does not split a UTF-8 sequence of s. */
size_t otas__utf8_cut(const char *s, size_t n, size_t max);

#endif
