/*
 * test_json.c -- the JSON string writer, UTF-8 validation and cutting
 * (base64: test_common_base64.c).
 */
#include "common/json.h"
#include "testlib.h"

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

int
main(void)
{
	RUN(escapes);
	RUN(utf8_passes_invalid_is_replaced);
	RUN(cut_never_splits);
	otas__buf_free(&b);
	return testlib_done();
}
