/*
 * retry.c -- pure delivery policy (see retry.h).
 *
 * Backoff is capped full jitter (the AWS architecture blog's "Exponential
 * Backoff And Jitter"); Retry-After is RFC 9110 section 10.2.3.  The status
 * rules (PROTOCOL.md, OTLP/HTTP) are in protocol.c.
 */
#include "send/retry.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t
otas__retry_delay_ms(int attempt, uint64_t rnd, int64_t base_ms,
                     int64_t cap_ms)
{
	int64_t top = base_ms;
	int i;

	if (attempt < 1)
		attempt = 1;
	if (base_ms <= 0 || cap_ms <= 0)
		return 0;
	for (i = 1; i < attempt && top < cap_ms; i++)
		top *= 2;
	if (top > cap_ms)
		top = cap_ms;
	return (int64_t)(rnd % (uint64_t)(top + 1));
}

static int
month_of(const char *s)
{
	static const char *m[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int i;

	for (i = 0; i < 12; i++)
		if (strncmp(s, m[i], 3) == 0)
			return i;
	return -1;
}

/* Read exactly n digits (n <= 4). */
static int
digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
hms(const char **p, struct tm *tm)
{
	if (digits(p, 2, &tm->tm_hour) || *(*p)++ != ':' ||
	    digits(p, 2, &tm->tm_min) || *(*p)++ != ':' ||
	    digits(p, 2, &tm->tm_sec))
		return -1;
	if (tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60)
		return -1;
	return 0;
}

/* HTTP-date of RFC 9110 section 5.6.7, all three forms. */
static int
parse_http_date(const char *s, int64_t *out)
{
	struct tm tm;
	const char *p, *comma;
	int mon, y;

	memset(&tm, 0, sizeof(tm));
	comma = strchr(s, ',');
	if (comma) {
		p = comma + 1;
		if (*p++ != ' ')
			return -1;
		if (digits(&p, 2, &tm.tm_mday))
			return -1;
		if (*p == ' ') { /* IMF-fixdate: 06 Nov 1994 08:49:37 GMT */
			p++;
			if ((mon = month_of(p)) < 0)
				return -1;
			p += 3;
			if (*p++ != ' ' || digits(&p, 4, &y))
				return -1;
		} else if (*p == '-') { /* RFC 850: 06-Nov-94 08:49:37 GMT */
			p++;
			if ((mon = month_of(p)) < 0)
				return -1;
			p += 3;
			if (*p++ != '-' || digits(&p, 2, &y))
				return -1;
			y += y < 70 ? 2000 : 1900;
		} else {
			return -1;
		}
		if (*p++ != ' ' || hms(&p, &tm) || strcmp(p, " GMT") != 0)
			return -1;
	} else { /* asctime: Sun Nov  6 08:49:37 1994 */
		p = s;
		if (strlen(p) < 24 || p[3] != ' ')
			return -1;
		p += 4;
		if ((mon = month_of(p)) < 0)
			return -1;
		p += 3;
		if (*p++ != ' ')
			return -1;
		if (*p == ' ')
			p++, tm.tm_mday = 0;
		if (p[0] == ' ' || !isdigit((unsigned char)p[0]))
			return -1;
		if (isdigit((unsigned char)p[1])) {
			if (digits(&p, 2, &tm.tm_mday))
				return -1;
		} else if (digits(&p, 1, &tm.tm_mday)) {
			return -1;
		}
		if (*p++ != ' ' || hms(&p, &tm) || *p++ != ' ' ||
		    digits(&p, 4, &y) || *p != '\0')
			return -1;
	}
	if (tm.tm_mday < 1 || tm.tm_mday > 31)
		return -1;
	tm.tm_mon = mon;
	tm.tm_year = y - 1900;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int64_t
otas__retry_after_ms(const char *v, int64_t now)
{
	const char *p;
	int64_t secs = 0, when;

	if (!v)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (!*v)
		return -1;
	if (isdigit((unsigned char)*v)) {
		for (p = v; isdigit((unsigned char)*p); p++) {
			if (secs > 100000000)
				return -1; /* absurd; treat as invalid */
			secs = secs * 10 + (*p - '0');
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p)
			return -1;
		return secs * 1000;
	}
	if (parse_http_date(v, &when) != 0)
		return -1;
	return when > now ? (when - now) * 1000 : 0;
}
