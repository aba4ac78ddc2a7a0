/*
 * json.c -- JSON string writer.
 *
 * Serialisation runs on the sender thread for every header, body and
 * field of every event, so the escaper copies runs of plain ASCII in one
 * append and only looks closer at bytes that need it.  UTF-8 is validated
 * as it goes (overlongs, surrogates and code points above U+10FFFF are
 * invalid); an invalid sequence becomes U+FFFD, so whatever the host hands
 * us, the event is valid JSON and the back end never refuses a batch for
 * one bad byte.  NUL becomes U+FFFD too (see below).
 */
#include "common/json.h"
#include "common/hex.h"
#include "common/utf8.h"

#include <stdint.h>
#include <string.h>

/* Bytes the escaper must look at: the quote, the backslash, control
 * characters (NUL included) and non-ASCII (validated, then copied). */
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
static const unsigned char esc_stop[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
	R16(1), R16(1),                                      /* 0x00-0x1F */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,      /* 0x20: '"' */
	R16(0), R16(0),                                      /* 0x30-0x4F */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,      /* 0x50: '\' */
	R16(0), R16(0),                                      /* 0x60-0x7F */
	R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1),
#undef R16
};
#endif

enum { ESC_PLAIN, ESC_STRICT, ESC_NESTED };

#if defined(__SSE2__) && \
    defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <emmintrin.h>
#define OTAS__JSON_SSE2 1
#endif
#ifdef OTAS__JSON_SSE2
/* Bit i set when byte i of x is one the escaper stops at: '"', '\\',
 * below 0x20 or at or above 0x80 (a signed compare catches both). */
static inline unsigned
stops16(__m128i x)
{
	return (unsigned)_mm_movemask_epi8(_mm_or_si128(
	    _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
	                 _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
	    _mm_cmplt_epi8(x, _mm_set1_epi8(0x20))));
}
#endif

#ifdef OTAS__JSON_SSE2
/* Bit i set when byte i of x is '"' or '\\'. */
static inline unsigned
qb16(__m128i x)
{
	return (unsigned)_mm_movemask_epi8(
	    _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
	                 _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
}
#endif

/* Room kept beyond the input left, for whole-block stores. */
#define BLOCK_SLACK 16

/* The escape of stop byte c (a quote, a backslash, a control character,
 * NUL or the first byte of invalid UTF-8) at o; returns the end. */
static inline char *
put_escape(char *o, unsigned c, int mode, const char *hex)
{
	if (c == '"' || c == '\\') {
		if (mode == ESC_NESTED) {
			*o++ = '\\';
			*o++ = '\\';
		}
		*o++ = '\\';
		*o++ = (char)c;
	} else if (c == 0 || c >= 0x80) {
		/* Invalid UTF-8 becomes U+FFFD; so does NUL: valid JSON,
		 * but PostgreSQL text and jsonb refuse U+0000, and the
		 * platform answers 500 for the whole event. */
		memcpy(o, "\xEF\xBF\xBD", 3);
		o += 3;
	} else {
		if (mode == ESC_NESTED) /* \n -> \\n */
			*o++ = '\\';
		*o++ = '\\';
		switch (c) {
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[c >> 4];
			o[4] = hex[c & 15];
			o += 5;
		}
	}
	return o;
}

/* One pass: clean runs (ASCII that needs no escape and valid UTF-8) are
 * found a word at a time and stored as they are read, into room reserved
 * once for the whole string; only escapes grow the reservation.
 * ESC_STRICT stops at the first invalid UTF-8 sequence or NUL and returns
 * -1 (what was written stays: the caller rolls back); ESC_NESTED writes
 * the escaped form of the escaped string (a JSON document held in a JSON
 * string: `"` becomes `\\\"`).  Returns 0 (b->oom on failure). */
static inline __attribute__((always_inline)) int
escape(otas__buf_t *b, const char *s, size_t n, int mode)
{
	const char *hex = otas__hex_digits;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	unsigned c;
	char *o;

	/* Invariant: the room left after o exceeds the input left (n - i)
	 * by BLOCK_SLACK, so clean bytes (copied 1:1), and a whole word or
	 * block, always fit. */
	if (otas__buf_reserve(b, n + BLOCK_SLACK) != 0)
		return 0;
	o = b->data + b->len;
#ifdef OTAS__JSON_SSE2
	/* A short string (a field, a header value) with nothing to escape,
	 * the common case, in one or two 16-byte masks: two blocks that
	 * overlap for 16-31 bytes; below 16, the bytes gathered by loads
	 * that end at the string's end, zero above (masked off).  Anything
	 * to escape goes the general way below. */
	if (n < 32 && n) {
		__m128i x, y;
		unsigned m;
		if (n >= 16) {
			x = _mm_loadu_si128((const __m128i *)p);
			y = _mm_loadu_si128((const __m128i *)(p + n - 16));
			if (!(stops16(x) | stops16(y))) {
				_mm_storeu_si128((__m128i *)o, x);
				_mm_storeu_si128((__m128i *)(o + n - 16), y);
				o += n;
				goto done;
			}
		} else {
			uint64_t lo, hi = 0;
			if (n >= 8) {
				memcpy(&lo, p, 8);
				if (n > 8) {
					memcpy(&hi, p + n - 8, 8);
					hi >>= 8 * (16 - n);
				}
			} else if (n >= 4) {
				uint32_t a, c4;
				memcpy(&a, p, 4);
				memcpy(&c4, p + n - 4, 4);
				lo = (uint64_t)a | ((uint64_t)c4 << (8 * (n - 4)));
			} else {
				lo = (uint64_t)p[0] |
				     ((uint64_t)p[n >> 1] << (8 * (n >> 1))) |
				     ((uint64_t)p[n - 1] << (8 * (n - 1)));
			}
			x = _mm_set_epi64x((long long)hi, (long long)lo);
			m = stops16(x) & ((1u << n) - 1);
			if (!m) {
				_mm_storeu_si128((__m128i *)o, x);
				o += n;
				goto done;
			}
		}
	}
	/* 16 bytes at a time while 32 are left (so that a block's every
	 * 16-byte load stays inside the input): one mask of the stop bytes
	 * per block, then one step per stop byte, each placing the clean
	 * run before it with one 16-byte store.  JSON documents held in
	 * strings (bodies, headers) stop every few bytes at a quote: a step
	 * costs a few instructions, not a word re-read and a reservation. */
	while (n - i >= 32) {
		const unsigned char *blk = p + i;
		__m128i x = _mm_loadu_si128((const __m128i *)blk);
		unsigned m = stops16(x);
		unsigned last = 0, j;

		_mm_storeu_si128((__m128i *)o, x);
		if (!m) {
			o += 16;
			i += 16;
			continue;
		}
		/* Room for the block's worst case (16 escapes of 7 bytes),
		 * checked once per block rather than per escape. */
		if ((size_t)(b->data + b->cap - 1 - o) <
		    (n - i) + 16 * 7 + BLOCK_SLACK) {
			b->len = (size_t)(o - b->data);
			if (otas__buf_reserve(b, (n - i) + 16 * 7 +
			                             BLOCK_SLACK) != 0)
				return 0;
			o = b->data + b->len;
		}
		/* o is where blk[last] goes; blk[last..16) is clean up to
		 * the next stop.  A block whose stops are all quotes and
		 * backslashes (a JSON document's, nearly always) takes them
		 * without looking at each byte's kind. */
		if (!(m & ~qb16(x))) {
			do {
				j = (unsigned)__builtin_ctz(m);
				_mm_storeu_si128(
				    (__m128i *)o,
				    _mm_loadu_si128((const __m128i *)(blk + last)));
				o += j - last;
				if (mode == ESC_NESTED) {
					o[0] = '\\';
					o[1] = '\\';
					o += 2;
				}
				o[0] = '\\';
				o[1] = (char)blk[j];
				o += 2;
				last = j + 1;
				m &= m - 1;
			} while (m);
			goto block_tail;
		}
		do {
			j = (unsigned)__builtin_ctz(m);
			_mm_storeu_si128((__m128i *)o,
			                 _mm_loadu_si128((const __m128i *)(blk + last)));
			o += j - last;
			c = blk[j];
			if (c == '"' || c == '\\') { /* the common stop */
				if (mode == ESC_NESTED) {
					o[0] = '\\';
					o[1] = '\\';
					o += 2;
				}
				o[0] = '\\';
				o[1] = (char)c;
				o += 2;
				last = j + 1;
				m &= m - 1;
				continue;
			}
			if (c >= 0x80 && (k = otas__utf8_seq(blk + j, n - i - j)) != 0) {
				if (j + k >= 16) { /* runs past the block */
					memcpy(o, blk + j, k);
					o += k;
					i += j + k;
					goto next_block;
				}
				/* valid UTF-8: copied with the next clean run */
				m &= ~0u << (j + k);
				last = j;
				continue;
			}
			if (mode == ESC_STRICT && (c == 0 || c >= 0x80)) {
				b->len = (size_t)(o - b->data);
				b->data[b->len] = '\0';
				return -1;
			}
			o = put_escape(o, c, mode, hex);
			last = j + 1;
			m &= m - 1;
		} while (m);
	block_tail:
		_mm_storeu_si128((__m128i *)o,
		                 _mm_loadu_si128((const __m128i *)(blk + last)));
		o += 16 - last;
		i += 16;
	next_block:;
	}
#endif
	for (;;) {
		/* Clean words are stored as they are read; a word that
		 * holds a stop byte is stored too, but o only moves up to
		 * that byte (the lowest flagged byte is exact). */
		while (n - i >= 8) {
			uint64_t w, m;
			memcpy(&w, p + i, 8);
			m = otas__json_word_stops(w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			memcpy(o, &w, 8);
			if (m) {
				k = (size_t)__builtin_ctzll(m) >> 3;
				o += k;
				i += k;
				goto stop;
			}
#else
			if (m)
				break;
			memcpy(o, &w, 8);
#endif
			o += 8;
			i += 8;
		}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* The last 1-7 bytes as one word too, zero above them: an
		 * 8-byte load that ends at the input's end, shifted down (the
		 * bytes before i fall out), or, for a string shorter than 8,
		 * overlapping small loads.  The zero padding flags as a stop
		 * only at or above r, and borrows run upwards only, so the
		 * lowest flagged byte is still exact.  The store may write
		 * 8 - r bytes of padding past the end: inside the slack. */
		if (i < n) {
			size_t r = n - i;
			uint64_t w, m;
			if (n >= 8) {
				memcpy(&w, p + n - 8, 8);
				w >>= 8 * (8 - r);
			} else if (r >= 4) {
				uint32_t lo, hi;
				memcpy(&lo, p + i, 4);
				memcpy(&hi, p + n - 4, 4);
				w = (uint64_t)lo | ((uint64_t)hi << (8 * (r - 4)));
			} else {
				w = (uint64_t)p[i] |
				    ((uint64_t)p[i + (r >> 1)] << (8 * (r >> 1))) |
				    ((uint64_t)p[n - 1] << (8 * (r - 1)));
			}
			m = otas__json_word_stops(w);
			k = m ? (size_t)__builtin_ctzll(m) >> 3 : 8;
			if (k > r)
				k = r;
			memcpy(o, &w, 8);
			o += k;
			i += k;
		}
#else
		while (i < n && !esc_stop[p[i]])
			*o++ = (char)p[i++];
#endif
		if (i >= n)
			break;
	stop:
		c = p[i];
		if (c >= 0x80 && (k = otas__utf8_seq(p + i, n - i)) != 0) {
			/* valid UTF-8: copied as it is */
			memcpy(o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		if (mode == ESC_STRICT && (c == 0 || c >= 0x80)) {
			b->len = (size_t)(o - b->data);
			b->data[b->len] = '\0';
			return -1;
		}
		/* One escape: at most 7 bytes for 1 (plus what is left). */
		b->len = (size_t)(o - b->data);
		if (otas__buf_reserve(b, (n - i - 1) + 7 + BLOCK_SLACK) != 0)
			return 0;
		o = b->data + b->len;
		o = put_escape(o, c, mode, hex);
		i++;
	}
#ifdef OTAS__JSON_SSE2
done:
#endif
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
	return 0;
}

void
otas__json_escape(otas__buf_t *b, const char *s, size_t n)
{
	escape(b, s, n, ESC_PLAIN);
}

void
otas__json_escape_nested(otas__buf_t *b, const char *s, size_t n)
{
	escape(b, s, n, ESC_NESTED);
}

int
otas__json_str_text(otas__buf_t *b, const char *s, size_t n)
{
	size_t l0 = b->len;

	if (otas__buf_reserve(b, n + 2) != 0)
		return 0;
	b->data[b->len++] = '"';
	if (escape(b, s, n, ESC_STRICT) != 0) {
		b->len = l0;
		b->data[l0] = '\0';
		return -1;
	}
	otas__buf_putc(b, '"');
	return 0;
}

void
otas__json_str(otas__buf_t *b, const char *s, size_t n)
{
	/* The common case (nothing to escape) reserves once. */
	if (otas__buf_reserve(b, n + 2) != 0)
		return;
	b->data[b->len++] = '"';
	if (n)
		otas__json_escape(b, s, n);
	otas__buf_putc(b, '"');
}
