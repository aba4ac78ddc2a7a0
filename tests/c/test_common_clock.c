/*
 * test_common_clock.c -- common/clock.c: the clocks, and RFC 3339 text
 * both ways (moved from the collector's util.c, which the engine can now
 * share).
 */
#include "common/clock.h"
#include "testlib.h"

#include <string.h>

TEST(parse_time)
{
	int64_t us;

	CHECK_INT(otas__parse_time("2026-01-01T00:00:00Z", &us), 0);
	CHECK_INT(us, 1767225600LL * 1000000);
	CHECK_INT(otas__parse_time("2026-01-01T01:00:00.5+01:00", &us), 0);
	CHECK_INT(us, 1767225600LL * 1000000 + 500000);
	CHECK_INT(otas__parse_time("2025-12-31T23:00:00.000001-01:00", &us),
	          0);
	CHECK_INT(us, 1767225600LL * 1000000 + 1);
	CHECK_INT(otas__parse_time("2026-01-01 00:00:00z", &us), 0);
	CHECK_INT(us, 1767225600LL * 1000000);
	CHECK_INT(otas__parse_time("1767225600.25", &us), 0);
	CHECK_INT(us, 1767225600LL * 1000000 + 250000);
	CHECK_INT(otas__parse_time("2026-13-01T00:00:00Z", &us), -1);
	CHECK_INT(otas__parse_time("2026-01-01", &us), -1);
	CHECK_INT(otas__parse_time("2026-01-01T00:00:00", &us), -1); /* no zone */
	CHECK_INT(otas__parse_time("2026-01-01T00:00:00.Z", &us), -1);
	CHECK_INT(otas__parse_time("2026-01-01T00:00:00Zx", &us), -1);
	CHECK_INT(otas__parse_time("yesterday", &us), -1);
	CHECK_INT(otas__parse_time("", &us), -1);
	CHECK_INT(otas__parse_time(NULL, &us), -1);
}

TEST(format_time)
{
	char buf[32];
	int64_t us;

	otas__format_time(1767225600LL * 1000000 + 123456, buf);
	CHECK_STR(buf, "2026-01-01T00:00:00.123456Z");
	otas__format_time(0, buf);
	CHECK_STR(buf, "1970-01-01T00:00:00.000000Z");
	otas__format_time(-1, buf); /* a microsecond before the epoch */
	CHECK_STR(buf, "1969-12-31T23:59:59.999999Z");
	/* What it writes, it reads back. */
	otas__format_time(1767225600LL * 1000000 + 42, buf);
	CHECK_INT(otas__parse_time(buf, &us), 0);
	CHECK_INT(us, 1767225600LL * 1000000 + 42);
}

TEST(clocks_move_forward)
{
	int64_t m0 = otas__now_mono_ms(), u0 = otas__now_unix_us();

	CHECK(u0 > 1700000000LL * 1000000); /* after November 2023 */
	CHECK(otas__now_mono_ms() >= m0);
	CHECK(otas__now_unix_us() >= u0 - 1000000); /* allow a small step */
}

int
main(void)
{
	RUN(parse_time);
	RUN(format_time);
	RUN(clocks_move_forward);
	return testlib_done();
}
