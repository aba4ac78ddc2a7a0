/*
 * clock.c -- the two clocks, and RFC 3339 text both ways (see clock.h).
 */
#include "common/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
otas__now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
otas__now_unix_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil), linear in d: a day past the month's end
 * (31 June) counts on into the next, as timegm() normalises it.  What
 * timegm() gave, without its ~1,000 instructions (the collector parses
 * every event's metadata.timestamp). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                                /* [0, 399] */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;         /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

int
otas__parse_time(const char *s, int64_t *us_out)
{
	int y, mo, d, h, mi, sec;
	int64_t frac_us = 0;
	const char *p = s;
	char *end;

	if (!s || !*s)
		return -1;
	/* Plain unix seconds, possibly with a fraction. */
	if (strchr(s, '-') == NULL || (s[0] == '-' && strchr(s + 1, '-') == NULL)) {
		double v = strtod(s, &end);
		if (*end != '\0' || end == s || v != v || v > 1e11 || v < -1e11)
			return -1;
		*us_out = (int64_t)(v * 1e6);
		return 0;
	}
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
	    *p++ != ':' || digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		int64_t scale = 100000;
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9') {
			frac_us += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	int off_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -1;
		off_s = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	*us_out = (t - off_s) * 1000000 + frac_us;
	return 0;
}

void
otas__format_time(int64_t us, char out[32])
{
	time_t t = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	struct tm tm;

	if (frac < 0) {
		frac += 1000000;
		t -= 1;
	}
	gmtime_r(&t, &tm);
	/* Years outside 0..9999 only come from garbage timestamps; clamp so
	 * the text always has the same shape. */
	if (tm.tm_year + 1900 > 9999)
		tm.tm_year = 9999 - 1900;
	if (tm.tm_year + 1900 < 0)
		tm.tm_year = -1900;
	{
		char tmp[96];
		snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		         tm.tm_min, tm.tm_sec, frac);
		snprintf(out, 32, "%.31s", tmp);
	}
}
