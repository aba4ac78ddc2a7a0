/*
 * json.h -- the engine's JSON writer: string escaping with UTF-8 validation
 * (base64 for bodies that are not text: common/base64.h).  Reading JSON (auth and batch
 * answers) is left to jansson on the sender thread.
 */
#ifndef OTAS_JSON_H
#define OTAS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/buf.h"
#include "common/utf8.h" /* otas__utf8_valid, otas__utf8_cut */

/* Non-zero when one of the 8 bytes of w is < 0x20, '"', '\\' or >= 0x80:
 * the bytes a JSON string writer or scanner must look at (has-zero-byte
 * trick).  A borrow can flag a byte above a flagged one, never one below
 * it: the lowest flagged byte is exact. */
static inline uint64_t
otas__json_word_stops(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull;
	uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');

	return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) |
	        ((bs - ones) & ~bs) | w) &
	       0x8080808080808080ull;
}

/* The first index at or after i of p[0..n) whose byte is < 0x20, '"',
 * '\\' or >= 0x80 (n when none), 8 bytes at a time. */
static inline size_t
otas__json_plain_end(const unsigned char *p, size_t i, size_t n)
{
#if defined(__SSE2__)
	/* 16 at a time: a key or a short value is one block. */
	while (n - i >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(p + i));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
		                 _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
		    _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)))); /* and >= 0x80 */
		if (m)
			return i + (size_t)__builtin_ctz(m);
		i += 16;
	}
#endif
	while (n - i >= 8) {
		uint64_t w, m;
		memcpy(&w, p + i, 8);
		m = otas__json_word_stops(w);
		if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + ((size_t)__builtin_ctzll(m) >> 3);
#else
			break;
#endif
		}
		i += 8;
	}
	while (i < n && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' &&
	       p[i] < 0x80)
		i++;
	return i;
}

/* Append s as a quoted JSON string.  Invalid UTF-8 is written as U+FFFD so
 * the output is always valid JSON. */
void otas__json_str(otas__buf_t *b, const char *s, size_t n);
/* Same, without the surrounding quotes. */
void otas__json_escape(otas__buf_t *b, const char *s, size_t n);
/* The escaped form of the escaped s (no quotes): for a JSON document
 * written straight into a JSON string (`"` becomes `\\\"`). */
void otas__json_escape_nested(otas__buf_t *b, const char *s, size_t n);
/* Append s as a quoted JSON string when s is valid UTF-8 without NUL
 * (validated in the same pass) and return 0; else append nothing and
 * return -1.  0 also on out of memory (b->oom set). */
int otas__json_str_text(otas__buf_t *b, const char *s, size_t n);
/* otas__base64 (standard alphabet, padded) lives in common/base64.h;
 * included here for the JSON writers that put bodies in base64. */
#include "common/base64.h"

#endif
