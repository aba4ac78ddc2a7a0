/*
 * test_json.c -- the JSON string writer, UTF-8 validation and cutting
 * (base64: test_common_base64.c).
 */
#include "common/json.h"
#include "testlib.h"

#include <stdint.h>

static otas__buf_t b;

static const char *
esc(const char *s, size_t n)
{
	otas__buf_reset(&b);
	otas__json_str(&b, s, n);
	return b.data;
}

TEST(escapes)
{
	CHECK_STR(esc("plain", 5), "\"plain\"");
	CHECK_STR(esc("", 0), "\"\"");
	CHECK_STR(esc("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	CHECK_STR(esc("\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"");
	CHECK_STR(esc("\x01\x1f", 2), "\"\\u0001\\u001f\"");
	CHECK_STR(esc("\0x", 2), "\"\xef\xbf\xbdx\""); /* NUL */
	CHECK_STR(esc("/<>", 3), "\"/<>\"");
}

TEST(utf8_passes_invalid_is_replaced)
{
	CHECK_STR(esc("caf\xc3\xa9", 5), "\"caf\xc3\xa9\"");
	CHECK_STR(esc("\xf0\x9f\x98\x80", 4), "\"\xf0\x9f\x98\x80\"");
	CHECK_STR(esc("a\xff" "b", 3), "\"a\xef\xbf\xbd" "b\"");
	CHECK_STR(esc("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong */
	CHECK_STR(esc("\xed\xa0\x80", 3),
	          "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
	CHECK_STR(esc("\xe2\x82", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* short */
	CHECK(otas__utf8_valid("caf\xc3\xa9", 5));
	CHECK(!otas__utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	CHECK(!otas__utf8_valid("\xe0\x80\x80", 3));
	CHECK(otas__utf8_valid("", 0));
}

TEST(cut_never_splits)
{
	const char *s = "ab\xe2\x82\xac" "cd"; /* ab€cd */

	CHECK_INT(otas__utf8_cut(s, 7, 10), 7);
	CHECK_INT(otas__utf8_cut(s, 7, 2), 2);
	CHECK_INT(otas__utf8_cut(s, 7, 3), 2);
	CHECK_INT(otas__utf8_cut(s, 7, 4), 2);
	CHECK_INT(otas__utf8_cut(s, 7, 5), 5);
	CHECK_INT(otas__utf8_cut(s, 7, 0), 0);
}

/* The byte-at-a-time escaper the word-at-a-time one replaced: every
 * string must come out the same. */
static void
ref_escape(otas__buf_t *o, const unsigned char *p, size_t n, int *valid)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	*valid = 1;
	while (i < n) {
		unsigned c = p[i];
		if (c >= 0x80) {
			size_t k = 0;
			if (c >= 0xC2 && c <= 0xDF && n - i >= 2 &&
			    (p[i + 1] & 0xC0) == 0x80)
				k = 2;
			else if (c >= 0xE0 && c <= 0xEF && n - i >= 3 &&
			         (p[i + 1] & 0xC0) == 0x80 &&
			         (p[i + 2] & 0xC0) == 0x80 &&
			         !(c == 0xE0 && p[i + 1] < 0xA0) &&
			         !(c == 0xED && p[i + 1] >= 0xA0))
				k = 3;
			else if (c >= 0xF0 && c <= 0xF4 && n - i >= 4 &&
			         (p[i + 1] & 0xC0) == 0x80 &&
			         (p[i + 2] & 0xC0) == 0x80 &&
			         (p[i + 3] & 0xC0) == 0x80 &&
			         !(c == 0xF0 && p[i + 1] < 0x90) &&
			         !(c == 0xF4 && p[i + 1] >= 0x90))
				k = 4;
			if (k) {
				otas__buf_append(o, p + i, k);
				i += k;
			} else {
				otas__buf_append(o, "\xEF\xBF\xBD", 3);
				*valid = 0;
				i++;
			}
			continue;
		}
		if (c == 0) {
			otas__buf_append(o, "\xEF\xBF\xBD", 3);
			*valid = 0;
		} else if (c == '"' || c == '\\') {
			otas__buf_putc(o, '\\');
			otas__buf_putc(o, (char)c);
		} else if (c == '\n') {
			otas__buf_puts(o, "\\n");
		} else if (c == '\r') {
			otas__buf_puts(o, "\\r");
		} else if (c == '\t') {
			otas__buf_puts(o, "\\t");
		} else if (c == '\b') {
			otas__buf_puts(o, "\\b");
		} else if (c == '\f') {
			otas__buf_puts(o, "\\f");
		} else if (c < 0x20) {
			char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			otas__buf_append(o, e, 6);
		} else {
			otas__buf_putc(o, (char)c);
		}
		i++;
	}
}

TEST(word_scan_matches_bytewise)
{
	static const unsigned char alpha[] = {
	    'a', 'Z', ' ', '"', '\\', '\n', 0, 0x1f, 0x7f, 0x80, 0xbf, 0xc2,
	    0xc3, 0xa9, 0xe0, 0xa0, 0xed, 0x9f, 0xf0, 0x90, 0xf4, 0x8f, 0xff};
	otas__buf_t ref = OTAS__BUF_INIT, twice = OTAS__BUF_INIT,
	            nest = OTAS__BUF_INIT;
	unsigned char s[80];
	uint32_t x = 12345;
	int iter, valid;

	for (iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(iter % 80), i;
		for (i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			/* long clean runs with a few bytes that need a look */
			s[i] = (x >> 16) % 4 ? (unsigned char)('a' + (x >> 20) % 26)
			                     : alpha[(x >> 20) % sizeof(alpha)];
		}
		otas__buf_reset(&ref);
		ref_escape(&ref, s, n, &valid);
		otas__buf_reset(&b);
		otas__json_escape(&b, (const char *)s, n);
		CHECK(b.len == ref.len &&
		      memcmp(b.data, ref.data ? ref.data : "", b.len) == 0);
		/* nested: the escape of the escape */
		otas__buf_reset(&twice);
		otas__json_escape(&twice, ref.data ? ref.data : "", ref.len);
		otas__buf_reset(&nest);
		otas__json_escape_nested(&nest, (const char *)s, n);
		CHECK(nest.len == twice.len &&
		      memcmp(nest.data, twice.data ? twice.data : "",
		             nest.len) == 0);
		/* strict: the same string when valid and NUL-free, else
		 * nothing written and -1 */
		otas__buf_reset(&b);
		otas__buf_putc(&b, 'x');
		if (valid) {
			CHECK(otas__json_str_text(&b, (const char *)s, n) == 0);
			CHECK(b.len == ref.len + 3 && b.data[1] == '"' &&
			      memcmp(b.data + 2, ref.data ? ref.data : "",
			             ref.len) == 0 &&
			      b.data[b.len - 1] == '"');
		} else {
			CHECK(otas__json_str_text(&b, (const char *)s, n) == -1);
			CHECK(b.len == 1 && b.data[1] == '\0');
		}
	}
	otas__buf_free(&ref);
	otas__buf_free(&twice);
	otas__buf_free(&nest);
}

int
main(void)
{
	RUN(escapes);
	RUN(utf8_passes_invalid_is_replaced);
	RUN(cut_never_splits);
	RUN(word_scan_matches_bytewise);
	otas__buf_free(&b);
	return testlib_done();
}
