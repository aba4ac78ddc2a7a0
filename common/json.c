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

#include <string.h>

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		if (n >= 2 && (s[1] & 0xC0) == 0x80)
			return 2;
		return 0;
	}
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;
		return 4;
	}
	return 0;
}

void
otas__json_escape(otas__buf_t *b, const char *s, size_t n)
{
	const char *hex = otas__hex_digits;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, k;
	char esc[6];

	if (otas__buf_reserve(b, n + 2) != 0)
		return;
	while (i < n) {
		unsigned c = p[i];

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (i > run)
			otas__buf_append(b, p + run, i - run);
		if (c >= 0x80) {
			k = utf8_seq(p + i, n - i);
			if (k) {
				otas__buf_append(b, p + i, k);
				i += k;
			} else {
				otas__buf_append(b, "\xEF\xBF\xBD", 3);
				i++;
			}
			run = i;
			continue;
		}
		switch (c) {
		case '\0':
			/* Valid JSON, but PostgreSQL text and jsonb refuse
			 * U+0000, and the platform answers 500 for the whole
			 * event: write U+FFFD instead. */
			otas__buf_append(b, "\xEF\xBF\xBD", 3);
			break;
		case '"': otas__buf_append(b, "\\\"", 2); break;
		case '\\': otas__buf_append(b, "\\\\", 2); break;
		case '\n': otas__buf_append(b, "\\n", 2); break;
		case '\r': otas__buf_append(b, "\\r", 2); break;
		case '\t': otas__buf_append(b, "\\t", 2); break;
		case '\b': otas__buf_append(b, "\\b", 2); break;
		case '\f': otas__buf_append(b, "\\f", 2); break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			otas__buf_append(b, esc, 6);
		}
		i++;
		run = i;
	}
	if (n > run)
		otas__buf_append(b, p + run, n - run);
}

void
otas__json_str(otas__buf_t *b, const char *s, size_t n)
{
	otas__buf_putc(b, '"');
	if (n)
		otas__json_escape(b, s, n);
	otas__buf_putc(b, '"');
}
