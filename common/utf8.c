/*
 * utf8.c -- UTF-8 validation and cutting (see utf8.h).  The validator was
 * the collector's (ingest.c), with an 8-byte ASCII fast path; the engine's
 * copy in json.c accepted exactly the same set of strings.
 */
#include "common/utf8.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

int
otas__utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned char c;
		size_t len;
		uint32_t cp;
		/* ASCII fast path, 32 then 8 bytes at a time: most bodies
		 * are ASCII (the collector checks every body whole before
		 * its scan: 1.1 instructions a byte 8 at a time). */
#ifdef __SSE2__
		while (n - i >= 32) {
			__m128i a = _mm_loadu_si128((const __m128i *)(s + i));
			__m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
			if (_mm_movemask_epi8(_mm_or_si128(a, b)))
				break;
			i += 32;
		}
#endif
		while (n - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += len;
	}
	return 1;
}

size_t
otas__utf8_cut(const char *s, size_t n, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t cut, back = 0;

	if (n <= max)
		return n;
	cut = max;
	/* Step back over continuation bytes to the start of the sequence
	 * the cut would split (at most 3). */
	while (cut > 0 && back < 3 && (p[cut] & 0xC0) == 0x80) {
		cut--;
		back++;
	}
	return cut;
}
