/*
 * filter.c -- which requests become events (see filter.h).
 *
 * Runs on the capturing thread, inside the 3 us budget, so it only reads
 * immutable state built at engine creation: a method list and fnmatch(3)
 * patterns.  Patterns match the path without its query string, and `*`
 * crosses `/` (no FNM_PATHNAME), so "/static/" followed by `*` covers every
 * file below /static/, and "/health" followed by `*` covers /healthz.
 *
 * Sampling is decided per event id: a 64-bit hash of the UUIDv7 is
 * compared with rate * 2^64.  The id's random bits make the decision
 * uniform, and a host that supplies the id (otas_new_event_id()) gets the
 * same decision every time it asks, so related records (an incoming
 * request and its outgoing calls) are kept or dropped together.
 */
#include "capture/filter.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

struct otas__filter_s {
	char **methods;  /* upper-case; NULL or empty: every method */
	size_t n_methods;
	char **paths;    /* fnmatch patterns, case kept */
	size_t n_paths;
	double rate;
};

static int
parse_rate(const char *v, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(d) || d < 0 || d > 1)
		return -1;
	*out = d;
	return 0;
}

/* The methods of RFC 9110 and PATCH (RFC 5789): "GETT" is a typo, not a
 * method any client sends. */
static int
known_method(const char *m)
{
	static const char *const known[] = {"GET",    "HEAD",    "POST",
	                                     "PUT",    "DELETE",  "CONNECT",
	                                     "OPTIONS", "TRACE",  "PATCH"};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return 1;
	return 0;
}

int
otas__filter_validate(const otas_config_t *cfg, char *err, size_t errlen)
{
	char **m;
	size_t n, i;
	double d;
	int rc = 0;

	if (parse_rate(cfg->sample_rate, &d) != 0) {
		snprintf(err, errlen,
		         "OTAS_SAMPLE_RATE=\"%s\" is invalid: give a fraction "
		         "from 0 to 1, such as 0.1 to keep one request in ten",
		         cfg->sample_rate);
		return -1;
	}
	m = otas__list_split(cfg->capture_methods, &n, OTAS__FOLD_UPPER);
	if (!m)
		return -1;
	for (i = 0; i < n && rc == 0; i++)
		if (!known_method(m[i])) {
			snprintf(err, errlen,
			         "OTAS_CAPTURE_METHODS: \"%s\" is not an HTTP "
			         "method: give a list of GET, HEAD, POST, PUT, "
			         "PATCH, DELETE, OPTIONS, TRACE, CONNECT",
			         m[i]);
			rc = -1;
		}
	otas__names_free(m);
	m = otas__list_split(cfg->exclude_paths, &n, OTAS__FOLD_KEEP);
	if (!m)
		return -1;
	for (i = 0; i < n && rc == 0; i++)
		if (m[i][0] != '/' && m[i][0] != '*') {
			snprintf(err, errlen,
			         "OTAS_EXCLUDE_PATHS: \"%s\" cannot match a path: "
			         "patterns start with / (or *), such as "
			         "/health*,/static/*",
			         m[i]);
			rc = -1;
		}
	otas__names_free(m);
	return rc;
}

otas__filter_t *
otas__filter_new(const otas_config_t *cfg)
{
	otas__filter_t *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->methods = otas__list_split(cfg->capture_methods, &f->n_methods,
	                              OTAS__FOLD_UPPER);
	f->paths = otas__list_split(cfg->exclude_paths, &f->n_paths,
	                            OTAS__FOLD_KEEP);
	if (!f->methods || !f->paths ||
	    parse_rate(cfg->sample_rate, &f->rate) != 0) {
		otas__filter_free(f);
		return NULL;
	}
	return f;
}

void
otas__filter_free(otas__filter_t *f)
{
	if (!f)
		return;
	otas__names_free(f->methods);
	otas__names_free(f->paths);
	free(f);
}

int
otas__glob_match(const char *pat, const char *s, size_t n)
{
	char small[1024], *buf = small;
	int rc;

	if (n >= sizeof(small)) {
		buf = malloc(n + 1);
		if (!buf)
			return 0;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	rc = fnmatch(pat, buf, 0) == 0;
	if (buf != small)
		free(buf);
	return rc;
}

int
otas__filter_request(const otas__filter_t *f, const char *method,
                     size_t mlen, const char *path, size_t plen)
{
	size_t i;

	if (!f)
		return 1;
	if (f->n_methods) {
		for (i = 0; i < f->n_methods; i++)
			if (strlen(f->methods[i]) == mlen &&
			    strncasecmp(f->methods[i], method ? method : "",
			                mlen) == 0)
				break;
		if (i == f->n_methods)
			return 0;
	}
	for (i = 0; i < f->n_paths; i++)
		if (otas__glob_match(f->paths[i], path ? path : "", plen))
			return 0;
	return 1;
}

int
otas__filter_sampling(const otas__filter_t *f)
{
	return f && f->rate < 1.0;
}

int
otas__sample_keep(double rate, const char *id, size_t n)
{
	uint64_t h = 1469598103934665603ull, th;
	size_t i;

	if (rate >= 1.0)
		return 1;
	if (rate <= 0.0)
		return 0;
	for (i = 0; i < n; i++) {
		h ^= (unsigned char)id[i];
		h *= 1099511628211ull;
	}
	/* splitmix64 finaliser: FNV alone leaves the top bits weak. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	th = (uint64_t)ldexp(rate, 64); /* rate < 1: fits */
	return h < th;
}

int
otas__filter_sampled(const otas__filter_t *f, const char *id, size_t n)
{
	return !f || otas__sample_keep(f->rate, id, n);
}
