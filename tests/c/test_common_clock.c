/*
 * test_common_clock.c -- common/clock.c: the clocks, and RFC 3339 text
 * both ways (moved from the collector's util.c, which the engine can now
 * share).
 */
#include "common/clock.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* Every field value parse_time lets through, as timegm() counts it
 * (what it called before): years 0000-9999 in steps, every month, days
 * 1-31 (31 February runs on into March), leap seconds (:60). */
TEST(parse_time_as_timegm)
{
	static const int years[] = {0, 1, 4, 100, 399, 400, 1600, 1899, 1900,
	                            1969, 1970, 1999, 2000, 2024, 2025, 2026,
	                            2100, 2400, 9999};
	char t[40];
	int64_t us;

	for (size_t yi = 0; yi < sizeof years / sizeof *years; yi++)
		for (int mo = 1; mo <= 12; mo++)
			for (int d = 1; d <= 31; d++) {
				int h = (d * 7) % 24, mi = (d * 13) % 60,
				    sec = d == 31 ? 60 : (d * 17) % 60;
				struct tm tm = {0};
				tm.tm_year = years[yi] - 1900;
				tm.tm_mon = mo - 1;
				tm.tm_mday = d;
				tm.tm_hour = h;
				tm.tm_min = mi;
				tm.tm_sec = sec;
				snprintf(t, sizeof t, "%04d-%02d-%02dT%02d:%02d:%02dZ",
				         years[yi], mo, d, h, mi, sec);
				CHECK_INT(otas__parse_time(t, &us), 0);
				CHECK_INT(us, (int64_t)timegm(&tm) * 1000000);
			}
}

int
main(void)
{
	RUN(parse_time);
	RUN(parse_time_as_timegm);
	RUN(format_time);
	RUN(clocks_move_forward);
	return testlib_done();
}
