/*
 * api_dash.c -- the dashboard's query API (api_dash.h).
 *
 * Every endpoint takes the same filters (otas__dash_filter_parse), asks
 * the store for one scan of the matching rows (otas__store_scan: the
 * time range and the filters that are columns), applies the rest here
 * (status sets, path globs, unmatched, tags, versions, trace ids) and
 * aggregates in C, so both stores answer alike and percentiles are exact
 * (nearest rank, as api_query.c).
 */
#include "api_dash.h"
#include "rollup.h"
#include "util.h"

#include <ctype.h>
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"


/* ---- the filter --------------------------------------------------------- */

#define OTAS__DASH_MAX_US 253402300799000000LL /* 9999-12-31T23:59:59Z */

static int
parse_when(const char *v, int64_t *out)
{
	char *end;
	long long n;

	if (!v)
		return 1;
	/* unix milliseconds (what the page's date pickers give) */
	n = strtoll(v, &end, 10);
	if (*v && !*end && n > 100000000000LL) {
		if (n > OTAS__DASH_MAX_US / 1000)
			return -1;
		*out = n * 1000;
		return 0;
	}
	if (otas__parse_time(v, out) != 0)
		return -1;
	/* 1970 to 9999: spans and buckets stay far from overflow */
	return *out < 0 || *out > OTAS__DASH_MAX_US ? -1 : 0;
}

static int
parse_status(const char *v, otas__dash_filter_t *f)
{
	const char *p = v;

	while (*p) {
		char tok[16];
		size_t n = strcspn(p, ",");
		int lo, hi;
		if (n == 0 || n >= sizeof tok)
			return -1;
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if (*p == ',' && !*++p)
			return -1; /* a trailing comma */
		if (f->n_status >= OTAS__DASH_MAX_STATUS)
			return -1;
		if (n == 3 && tok[0] >= '1' && tok[0] <= '5' &&
		    (tok[1] == 'x' || tok[1] == 'X') &&
		    (tok[2] == 'x' || tok[2] == 'X')) {
			lo = (tok[0] - '0') * 100;
			hi = lo + 99;
		} else {
			char *end;
			long a = strtol(tok, &end, 10), b = a;
			if (end == tok)
				return -1;
			if (*end == '-') {
				char *e2;
				b = strtol(end + 1, &e2, 10);
				if (e2 == end + 1 || *e2)
					return -1;
			} else if (*end) {
				return -1;
			}
			if (a < 100 || b > 599 || a > b)
				return -1;
			lo = (int)a;
			hi = (int)b;
		}
		f->status[f->n_status].lo = lo;
		f->status[f->n_status].hi = hi;
		f->n_status++;
	}
	return f->n_status ? 0 : -1;
}

static const struct {
	const char *name;
	int64_t span_s;
} ranges[] = {{"15m", 900},     {"1h", 3600},      {"6h", 6 * 3600},
              {"24h", 86400},   {"7d", 7 * 86400}, {"30d", 30 * 86400}};

int
otas__dash_filter_parse(otas__dash_get_fn get, void *ctx, int64_t now_us,
                        otas__dash_filter_t *f, char *err, size_t errlen)
{
	const char *v, *from = get(ctx, "from"), *to = get(ctx, "to");
	int64_t span;

	memset(f, 0, sizeof *f);
	f->range = get(ctx, "range");
	if (from || to) {
		f->range = NULL;
		f->to_us = now_us + 1;
		if (parse_when(from, &f->from_us) < 0 ||
		    parse_when(to, &f->to_us) < 0) {
			snprintf(err, errlen, "invalid from/to (RFC 3339, unix "
			                      "seconds or milliseconds)");
			return -1;
		}
		if (!from)
			f->from_us = f->to_us - 86400LL * 1000000;
		if (f->to_us <= f->from_us) {
			snprintf(err, errlen, "to must be after from");
			return -1;
		}
	} else {
		size_t i;
		if (!f->range)
			f->range = "24h";
		for (i = 0; i < sizeof ranges / sizeof *ranges; i++)
			if (strcmp(f->range, ranges[i].name) == 0)
				break;
		if (i == sizeof ranges / sizeof *ranges) {
			snprintf(err, errlen,
			         "invalid range (15m, 1h, 6h, 24h, 7d, 30d)");
			return -1;
		}
		f->range = ranges[i].name;
		f->to_us = now_us + 1;
		f->from_us = f->to_us - ranges[i].span_s * 1000000;
	}
	span = (f->to_us - f->from_us) / 1000000;
	v = get(ctx, "bucket");
	if (!v || strcmp(v, "auto") == 0)
		f->bucket_s = span <= 3 * 3600 ? 60 : span <= 8 * 86400 ? 3600 : 86400;
	else if (strcmp(v, "minute") == 0)
		f->bucket_s = 60;
	else if (strcmp(v, "hour") == 0)
		f->bucket_s = 3600;
	else if (strcmp(v, "day") == 0)
		f->bucket_s = 86400;
	else {
		snprintf(err, errlen, "invalid bucket (auto, minute, hour, day)");
		return -1;
	}
	if (span / f->bucket_s > 5000) {
		snprintf(err, errlen, "too many buckets (at most 5000)");
		return -1;
	}
	if ((v = get(ctx, "method"))) {
		size_t n = strlen(v);
		if (n >= sizeof f->method_up) {
			snprintf(err, errlen, "invalid method");
			return -1;
		}
		for (size_t i = 0; i <= n; i++)
			f->method_up[i] = (char)toupper((unsigned char)v[i]);
		f->method = f->method_up;
	}
	f->route = get(ctx, "route");
	f->path = get(ctx, "path");
	f->path_glob = f->path && strpbrk(f->path, "*?[") != NULL;
	f->user = get(ctx, "user");
	f->company = get(ctx, "company");
	f->tag = get(ctx, "tag");
	f->version = get(ctx, "version");
	f->agent = get(ctx, "agent");
	f->session = get(ctx, "session");
	f->trace = get(ctx, "trace");
	f->text = get(ctx, "q");
	if (f->text && strlen(f->text) > 200) {
		snprintf(err, errlen, "q is at most 200 characters");
		return -1;
	}
	if (f->text) {
		size_t chars = 0;
		for (const char *t = f->text; *t; t++)
			chars += ((unsigned char)*t & 0xc0) != 0x80;
		f->text_rows = chars < OTAS__SEARCH_MIN_CHARS;
	}
	if ((v = get(ctx, "unmatched"))) {
		if (strcmp(v, "1") && strcmp(v, "0") && strcmp(v, "true") &&
		    strcmp(v, "false")) {
			snprintf(err, errlen, "invalid unmatched (1 or 0)");
			return -1;
		}
		f->unmatched = *v == '1' || *v == 't';
	}
	if ((v = get(ctx, "status")) && parse_status(v, f) != 0) {
		snprintf(err, errlen, "invalid status (codes, ranges such as "
		                      "500-504, classes such as 4xx; comma-separated)");
		return -1;
	}
	return 0;
}

void
otas__dash_filter_scan(const otas__dash_filter_t *f, otas__scan_query_t *q)
{
	memset(q, 0, sizeof *q);
	q->since_us = f->from_us;
	q->until_us = f->to_us;
	q->method = f->method;
	q->route = f->route;
	q->agent_id = f->agent;
	q->agent_session_id = f->session;
	q->user_id = f->user;
	q->company_id = f->company;
	if (f->path) {
		/* fnmatch(pattern, path, 0): everything before the first
		 * `*`, `?`, `[` or `\` is literal, so every match starts
		 * with it; an exact path is its own prefix */
		q->path_prefix = f->path;
		q->path_prefix_len = f->path_glob ? strcspn(f->path, "*?[\\")
		                                  : strlen(f->path);
	}
	q->text = f->text_rows ? NULL : f->text;
	q->budget_ms = f->text ? otas__dash_text_budget_ms : 0;
	for (int i = 0; i < f->n_status; i++) {
		if (i == 0 || f->status[i].lo < q->status_min)
			q->status_min = f->status[i].lo;
		if (i == 0 || f->status[i].hi > q->status_max)
			q->status_max = f->status[i].hi;
	}
	q->want_doc = otas__dash_filter_needs_doc(f);
	q->want_text = f->text_rows;
}

int
otas__dash_filter_needs_doc(const otas__dash_filter_t *f)
{
	return f->tag || f->version || f->trace;
}

/* needle (NUL-terminated) in [h, h+n), ASCII case-insensitive. */
static int
has_text(const char *h, size_t n, const char *needle)
{
	size_t m = strlen(needle);

	for (size_t i = 0; m <= n && i <= n - m; i++) {
		size_t j = 0;
		while (j < m && tolower((unsigned char)h[i + j]) ==
		                    tolower((unsigned char)needle[j]))
			j++;
		if (j == m)
			return 1;
	}
	return 0;
}

static int
doc_match(const otas__dash_filter_t *f, const char *doc, size_t len)
{
	json_t *d, *m;
	int ok = 1;

	if (!doc)
		return 0;
	d = json_loadb(doc, len, JSON_ALLOW_NUL, NULL);
	m = json_object_get(d, "metadata");
	if (!json_is_object(m)) {
		json_decref(d);
		return 0;
	}
	if (f->version) {
		const char *v = json_string_value(json_object_get(m, "service_version"));
		ok = ok && v && strcmp(v, f->version) == 0;
	}
	if (ok && f->tag) {
		json_t *t = json_object_get(m, "tags"), *x;
		size_t i;
		int found = 0;
		if (json_is_string(t))
			found = strcmp(json_string_value(t), f->tag) == 0;
		json_array_foreach(t, i, x)
			if (json_is_string(x) && strcmp(json_string_value(x), f->tag) == 0)
				found = 1;
		ok = found;
	}
	if (ok && f->trace) {
		const char *t = json_string_value(json_object_get(m, "trace_id"));
		const char *tp = json_string_value(json_object_get(m, "traceparent"));
		ok = (t && strcmp(t, f->trace) == 0) ||
		     (tp && strlen(f->trace) >= 16 && strstr(tp, f->trace));
	}
	json_decref(d);
	return ok;
}

/* A request no route matched: the store keeps its path as its route. */
static int
is_unmatched(const otas__scan_row_t *r)
{
	return r->route && r->path && strcmp(r->route, r->path) == 0;
}

int
otas__dash_filter_match(const otas__dash_filter_t *f, const otas__scan_row_t *r)
{
	if (f->n_status) {
		int hit = 0;
		for (int i = 0; i < f->n_status && !hit; i++)
			hit = r->status >= f->status[i].lo && r->status <= f->status[i].hi;
		if (!hit)
			return 0;
	}
	if (f->path) {
		if (!r->path)
			return 0;
		if (f->path_glob ? fnmatch(f->path, r->path, 0) != 0
		                 : strcmp(f->path, r->path) != 0)
			return 0;
	}
	if (f->unmatched && !is_unmatched(r))
		return 0;
	/* a short text, on the text the stores index (row->text) */
	if (f->text_rows && (!r->text || !has_text(r->text, r->text_len, f->text)))
		return 0;
	if (otas__dash_filter_needs_doc(f) && !doc_match(f, r->doc, r->doc_len))
		return 0;
	return 1;
}

json_t *
otas__dash_filter_json(const otas__dash_filter_t *f)
{
	char a[32], b[32];
	json_t *o;

	otas__format_time(f->from_us, a);
	otas__format_time(f->to_us, b);
	o = json_pack("{s:s, s:s, s:s}", "from", a, "to", b, "bucket",
	              f->bucket_s == 60     ? "minute"
	              : f->bucket_s == 3600 ? "hour"
	                                    : "day");
	json_object_set_new(o, "range", f->range ? json_string(f->range)
	                                         : json_null());
	json_object_set_new(o, "bucket_seconds", json_integer(f->bucket_s));
	/* how q was applied: "index" (the stores' trigram index) or "scan"
	 * (shorter than OTAS__SEARCH_MIN_CHARS: checked on the rows) */
	json_object_set_new(o, "text_search",
	                    !f->text       ? json_null()
	                    : f->text_rows ? json_string("scan")
	                                   : json_string("index"));
	return o;
}

/* ---- helpers ------------------------------------------------------------- */

static const char *
mhd_get(void *ctx, const char *name)
{
	return otas__http_arg(ctx, name);
}

static json_t *
time_str(int64_t us)
{
	char buf[32];

	otas__format_time(us, buf);
	return json_string(buf);
}

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

typedef struct {
	double *v;
	size_t n, cap;
} vec_t;

static void
vec_push(vec_t *a, double x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = realloc(a->v, a->cap * sizeof *a->v);
		if (!a->v)
			abort();
	}
	a->v[a->n++] = x;
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of v (sorted here); null when empty. */
static json_t *
pct(vec_t *a, double p, int sorted)
{
	size_t k;

	if (a->n == 0)
		return json_null();
	if (!sorted)
		qsort(a->v, a->n, sizeof *a->v, dcmp); /* n > 0 here */
	k = (size_t)ceil(p / 100.0 * (double)a->n);
	if (k < 1)
		k = 1;
	return json_real(a->v[k - 1]);
}

static void
put_pcts(json_t *o, vec_t *a)
{
	json_object_set_new(o, "p50_latency_ms", pct(a, 50, 0));
	json_object_set_new(o, "p95_latency_ms", pct(a, 95, 1));
	json_object_set_new(o, "p99_latency_ms", pct(a, 99, 1));
}

/* An error: 4xx, 5xx or an exception raised by the view. */
static int
row_error(const otas__scan_row_t *r)
{
	return r->status >= 400 || r->is_error;
}

/* A string-keyed index into an array of groups. */
typedef struct {
	char **keys;
	size_t *idx;
	size_t cap, n;
} smap_t;

static size_t
shash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The index stored for key, or (size_t)-1 after inserting key -> next. */
static size_t
smap_get(smap_t *m, const char *key, size_t next)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		smap_t g = {0};
		g.cap = m->cap ? m->cap * 2 : 64;
		g.keys = calloc(g.cap, sizeof *g.keys);
		g.idx = calloc(g.cap, sizeof *g.idx);
		if (!g.keys || !g.idx)
			abort();
		for (size_t j = 0; j < m->cap; j++) {
			if (!m->keys[j])
				continue;
			i = shash(m->keys[j]) & (g.cap - 1);
			while (g.keys[i])
				i = (i + 1) & (g.cap - 1);
			g.keys[i] = m->keys[j];
			g.idx[i] = m->idx[j];
		}
		g.n = m->n;
		free(m->keys);
		free(m->idx);
		*m = g;
	}
	i = shash(key) & (m->cap - 1);
	while (m->keys[i]) {
		if (strcmp(m->keys[i], key) == 0)
			return m->idx[i];
		i = (i + 1) & (m->cap - 1);
	}
	m->keys[i] = strdup(key);
	if (!m->keys[i])
		abort();
	m->idx[i] = next;
	m->n++;
	return (size_t)-1;
}

/* The index stored for key, or (size_t)-1 when absent (no insert). */
static size_t
smap_find(const smap_t *m, const char *key)
{
	size_t i;

	if (!m->cap)
		return (size_t)-1;
	i = shash(key) & (m->cap - 1);
	while (m->keys[i]) {
		if (strcmp(m->keys[i], key) == 0)
			return m->idx[i];
		i = (i + 1) & (m->cap - 1);
	}
	return (size_t)-1;
}

static void
smap_free(smap_t *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->idx);
}

static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 32;
	p = realloc(p, *cap * size);
	if (!p)
		abort();
	memset((char *)p + n * size, 0, (*cap - n) * size);
	return p;
}

static enum MHD_Result
bad(otas__req_t *r, const char *msg)
{
	return otas__reply_error(r, 400, msg);
}

/* Parse the filter from the request; 0 ok, else an answer is stored. */
static int
req_filter(struct MHD_Connection *c, otas__req_t *r, otas__dash_filter_t *f)
{
	char err[160];

	if (otas__dash_filter_parse(mhd_get, c, otas__now_us(), f, err,
	                            sizeof err) != 0) {
		bad(r, err);
		return -1;
	}
	return 0;
}

/* A scan whose rows pass the whole filter go to inner. */
typedef struct {
	const otas__dash_filter_t *f;
	otas__scan_cb inner;
	void *arg;
	long scanned, cap;
	int truncated;
	int64_t last_ts, last_id; /* the last row examined */
} fscan_t;

static int
fscan_row(void *arg, const otas__scan_row_t *r)
{
	fscan_t *x = arg;

	if (x->cap && ++x->scanned > x->cap) {
		x->truncated = 1;
		return 1;
	}
	x->last_ts = r->ts_us;
	x->last_id = r->id;
	if (!otas__dash_filter_match(x->f, r))
		return 0;
	return x->inner(x->arg, r);
}

/* The last scan on this thread ran out of its time budget (a handler
 * runs start to end on one thread): query_failed says so. */
static __thread int over_budget;
int otas__dash_text_budget_ms = OTAS__DASH_TEXT_BUDGET_MS;

static enum MHD_Result
query_failed(otas__req_t *r)
{
	if (over_budget) {
		char msg[160];
		over_budget = 0;
		snprintf(msg, sizeof msg,
		         "text search took longer than its time budget (%d ms): "
		         "narrow the time range or the filters, or search longer "
		         "text",
		         otas__dash_text_budget_ms);
		return otas__reply_error(r, 503, msg);
	}
	return otas__reply_error(r, 500, "query failed");
}

/* truncated (may be NULL): the cap was hit; then last_ts/last_id (may be
 * NULL) are the last row examined, where a next page goes on. */
static int
run_scan2(otas__server_t *s, otas__req_t *r, const otas__dash_filter_t *f,
          otas__scan_query_t *q, otas__scan_cb cb, void *arg, long cap,
          int *truncated, int64_t *last_ts, int64_t *last_id)
{
	fscan_t x = {f, cb, arg, 0, cap, 0, 0, 0};
	int rc = otas__store_scan(s->st, r->proj.pk, q, fscan_row, &x);

	over_budget = rc == -2;

	if (truncated)
		*truncated = x.truncated;
	if (last_ts) {
		*last_ts = x.last_ts;
		*last_id = x.last_id;
	}
	return rc;
}

static int
run_scan(otas__server_t *s, otas__req_t *r, const otas__dash_filter_t *f,
         otas__scan_query_t *q, otas__scan_cb cb, void *arg, long cap,
         int *truncated)
{
	return run_scan2(s, r, f, q, cb, arg, cap, truncated, NULL, NULL);
}

/* ---- the rollup plan ------------------------------------------------------
 *
 * A view whose filters are all in the rollups' key (method, route, status,
 * unmatched; rollup.h) reads whole minutes, hours and days from the
 * rollups and only the partial minutes at either end of [from, to) from
 * the events:
 *
 *   raw | minutes | hours | days | hours | minutes | raw
 *
 * (each part up to the next boundary of the wider one), so every event is
 * counted once and counts are exact; latencies of both parts go into one
 * histogram.  Any other filter, or plan=raw, scans the events. */

typedef struct {
	const otas__dash_filter_t *f;
	otas__rollup_cb cb;
	void *arg;
} rfilt_t;

static int
rfilt_row(void *arg, const otas__rollup_row_t *r)
{
	rfilt_t *x = arg;
	const otas__dash_filter_t *f = x->f;

	if (f->n_status) {
		int hit = 0;
		for (int i = 0; i < f->n_status && !hit; i++)
			hit = r->status >= f->status[i].lo && r->status <= f->status[i].hi;
		if (!hit)
			return 0;
	}
	if (f->unmatched && !r->unmatched)
		return 0;
	return x->cb(x->arg, r);
}

/* A range of at most 3 hours whose view matches at most this many events
 * scans the events instead of the rollups (it costs little there: the
 * scan reads every event of the range, matching or not) and its
 * percentiles are exact; plan=rollup / plan=raw force either. */
#ifndef OTAS__DASH_EXACT_MAX
#define OTAS__DASH_EXACT_MAX 20000
#endif

/* What a rollup is keyed by, so which filters it can answer: the
 * `rollups` rows hold method, route, status and unmatched; the people
 * rows (users, companies, agents, error groups) hold none of them, but
 * users and companies have rows per route too (kinds "ru", "rc", not per
 * tag).  Each has a twin per tag (`rollup_tags`, `rollup_people_tags`),
 * so one tag filter goes with either (a tag longer than
 * OTAS__TAG_MAX_LEN is in neither). */
enum { HOLDS_NONE = 0, HOLDS_REQUEST_KEYS = 1, HOLDS_TAG = 2, HOLDS_ROUTE = 4 };

/* 2: answer f from the rollups whatever the count (plan=rollup, or a
 * range over 3 hours); 1: from the rollups unless they count at most
 * OTAS__DASH_EXACT_MAX events; 0: scan the events (plan=raw, or a filter
 * the rollup does not hold). */
static int
use_rollups(struct MHD_Connection *c, const otas__dash_filter_t *f,
            int holds)
{
	const char *plan = otas__http_arg(c, "plan");

	if (plan && strcmp(plan, "raw") == 0)
		return 0;
	if (f->path || f->user || f->company || f->version || f->agent ||
	    f->session || f->trace || f->text)
		return 0;
	if (!(holds & HOLDS_REQUEST_KEYS) &&
	    (f->method || f->n_status || f->unmatched ||
	     (f->route && !(holds & HOLDS_ROUTE))))
		return 0;
	if (f->tag &&
	    (!(holds & HOLDS_TAG) || strlen(f->tag) > OTAS__TAG_MAX_LEN))
		return 0;
	if (plan && strcmp(plan, "rollup") == 0)
		return 2;
	return f->to_us - f->from_us <= 3 * 3600LL * 1000000 ? 1 : 2;
}

static int64_t
floor_to(int64_t t, int64_t w)
{
	return otas__rollup_bucket(t, w / 1000000);
}

static int64_t
ceil_to(int64_t t, int64_t w)
{
	int64_t b = floor_to(t, w);

	return b == t ? b : b + w;
}

/* Feed every event of f's range once: rollup rows to roll (after the
 * status/unmatched filter), raw rows to raw (after the whole filter).
 * max_res: the widest rollup the caller can place (OTAS__ROLLUP_DAY,
 * _HOUR or _MINUTE).  From the outside in: raw partial minutes, minutes
 * to the first/last whole hour, hours to the first/last whole day, days.
 * 0 ok. */
static int
run_plan(otas__server_t *s, otas__req_t *r, const otas__dash_filter_t *f,
         const otas__scan_query_t *q, int64_t max_res, otas__scan_cb raw,
         otas__rollup_cb roll, void *arg)
{
	static const int64_t tiers[3] = {OTAS__ROLLUP_MINUTE, OTAS__ROLLUP_HOUR,
	                                 OTAS__ROLLUP_DAY};
	struct {
		int64_t res, lo, hi; /* res 0: raw */
	} seg[7];
	int n = 0;
	int64_t lo = f->from_us, hi = f->to_us, res = 0;
	rfilt_t rf = {f, roll, arg};

	/* peel [lo, hi) into an edge of each tier on both sides */
	for (int t = 0; t < 3 && tiers[t] <= max_res; t++) {
		int64_t w = tiers[t] * 1000000;
		int64_t a = ceil_to(lo, w), b = floor_to(hi, w);
		if (a >= b)
			break;
		seg[n++] = (typeof(seg[0])){res, lo, a};
		seg[n++] = (typeof(seg[0])){res, b, hi};
		lo = a;
		hi = b;
		res = tiers[t];
	}
	seg[n++] = (typeof(seg[0])){res, lo, hi};
	for (int i = 0; i < n; i++) {
		if (seg[i].lo >= seg[i].hi)
			continue;
		if (seg[i].res == 0) {
			otas__scan_query_t rq = *q;
			rq.since_us = seg[i].lo;
			rq.until_us = seg[i].hi;
			if (run_scan(s, r, f, &rq, raw, arg, 0, NULL) != 0)
				return -1;
		} else {
			otas__rollup_query_t rq = {0};
			rq.res_s = seg[i].res;
			rq.since_us = seg[i].lo;
			rq.until_us = seg[i].hi;
			rq.method = f->method;
			rq.route = f->route;
			rq.status_min = q->status_min;
			rq.status_max = q->status_max;
			rq.unmatched_only = f->unmatched;
			rq.tag = f->tag; /* use_rollups: short enough */
			if (otas__store_rollup_each(s->st, r->proj.pk, &rq, rfilt_row,
			                            &rf) != 0)
				return -1;
		}
	}
	return 0;
}

static json_t *
hpct(const otas__hist_t *h, double p)
{
	return h->n ? json_real(otas__hist_pct(h, p)) : json_null();
}

static void
put_hist_pcts(json_t *o, const otas__hist_t *h)
{
	json_object_set_new(o, "p50_latency_ms", hpct(h, 50));
	json_object_set_new(o, "p95_latency_ms", hpct(h, 95));
	json_object_set_new(o, "p99_latency_ms", hpct(h, 99));
}

static void
hist_add_row(otas__hist_t *h, const otas__rollup_row_t *r)
{
	otas__hist_merge(h, r->hist, OTAS__HIST_BINS, r->n, r->lat_min,
	                 r->lat_max);
}

/* ---- GET /api/v1/stats/series ---------------------------------------- */

typedef struct {
	long long requests, cls[6], errors, exceptions;
	vec_t lat;
	otas__hist_t h;         /* the rollup plan */
} bucket_t;

typedef struct {
	int64_t first_us, width_us;
	size_t n;
	bucket_t *b;
	int hist;               /* latencies into h, not lat */
} series_t;

static void
series_init(series_t *x, const otas__dash_filter_t *f, int bucket_s)
{
	int64_t w = (int64_t)bucket_s * 1000000;

	x->width_us = w;
	x->first_us = (f->from_us / w) * w;
	if (f->from_us < 0 && f->from_us % w)
		x->first_us -= w;
	x->n = (size_t)((f->to_us - 1 - x->first_us) / w + 1);
	x->b = calloc(x->n, sizeof *x->b);
	if (!x->b)
		abort();
}

static bucket_t *
series_at(series_t *x, int64_t ts)
{
	int64_t i = (ts - x->first_us) / x->width_us;

	return i >= 0 && (size_t)i < x->n ? &x->b[i] : NULL;
}

static int
series_row(void *arg, const otas__scan_row_t *r)
{
	series_t *x = arg;
	bucket_t *b = series_at(x, r->ts_us);
	long long c = r->status / 100;

	if (!b)
		return 0;
	b->requests++;
	b->cls[c >= 1 && c <= 5 ? c : 0]++;
	b->errors += row_error(r);
	if (x->hist)
		otas__hist_add(&b->h, r->latency_ms);
	else
		vec_push(&b->lat, r->latency_ms);
	return 0;
}

static int
series_roll(void *arg, const otas__rollup_row_t *r)
{
	series_t *x = arg;
	bucket_t *b = series_at(x, r->bucket_us);
	long long c = r->status / 100;

	if (!b)
		return 0;
	b->requests += r->n;
	b->cls[c >= 1 && c <= 5 ? c : 0] += r->n;
	b->errors += r->errors;
	hist_add_row(&b->h, r);
	return 0;
}

static void
series_free(series_t *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->b[i].lat.v);
	free(x->b);
}

enum MHD_Result
otas__api_dash_series(otas__server_t *s, struct MHD_Connection *c,
                      otas__req_t *r)
{
	otas__dash_filter_t f;
	otas__scan_query_t q;
	series_t x;
	json_t *list, *out;
	long long tot = 0, tot_err = 0, tot_cls[6] = {0};
	vec_t all = {0};
	otas__hist_t all_h = {0};
	int plan;

	if (req_filter(c, r, &f) != 0)
		return MHD_YES;
	otas__dash_filter_scan(&f, &q);
	q.any_order = 1;
	q.lean = 1;
	series_init(&x, &f, f.bucket_s);
	plan = use_rollups(c, &f, HOLDS_REQUEST_KEYS | HOLDS_TAG);
	x.hist = plan > 0;
	if (x.hist && run_plan(s, r, &f, &q, f.bucket_s, series_row,
	                       series_roll, &x) != 0) {
		series_free(&x);
		return otas__reply_error(r, 500, "query failed");
	}
	if (plan == 1) {
		long long n = 0;
		for (size_t i = 0; i < x.n; i++)
			n += x.b[i].requests;
		if (n <= OTAS__DASH_EXACT_MAX) {
			series_free(&x);
			series_init(&x, &f, f.bucket_s);
			x.hist = 0;
		}
	}
	if (!x.hist && run_scan(s, r, &f, &q, series_row, &x, 0, NULL) != 0) {
		series_free(&x);
		return query_failed(r);
	}
	list = json_array();
	for (size_t i = 0; i < x.n; i++) {
		bucket_t *b = &x.b[i];
		json_t *e = json_object();
		json_object_set_new(e, "t", time_str(x.first_us +
		                                     (int64_t)i * x.width_us));
		json_object_set_new(e, "requests", json_integer(b->requests));
		json_object_set_new(
		    e, "status",
		    json_pack("{s:I, s:I, s:I, s:I, s:I}", "2xx",
		              (json_int_t)b->cls[2], "3xx", (json_int_t)b->cls[3],
		              "4xx", (json_int_t)b->cls[4], "5xx",
		              (json_int_t)b->cls[5], "other",
		              (json_int_t)(b->cls[0] + b->cls[1])));
		json_object_set_new(e, "errors", json_integer(b->errors));
		json_object_set_new(e, "error_rate",
		                    b->requests ? json_real((double)b->errors /
		                                            (double)b->requests)
		                                : json_null());
		if (x.hist)
			put_hist_pcts(e, &b->h);
		else
			put_pcts(e, &b->lat);
		json_array_append_new(list, e);
		tot += b->requests;
		tot_err += b->errors;
		for (int k = 0; k < 6; k++)
			tot_cls[k] += b->cls[k];
		for (size_t k = 0; k < b->lat.n; k++)
			vec_push(&all, b->lat.v[k]);
		otas__hist_merge(&all_h, b->h.c, OTAS__HIST_BINS, b->h.n, b->h.min,
		                 b->h.max);
	}
	out = otas__dash_filter_json(&f);
	json_object_set_new(out, "series", list);
	json_object_set_new(out, "plan", json_string(x.hist ? "rollup" : "raw"));
	{
		json_t *t = json_pack(
		    "{s:I, s:I, s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "requests",
		    (json_int_t)tot, "errors", (json_int_t)tot_err, "error_rate",
		    tot ? json_real((double)tot_err / (double)tot) : json_null(),
		    "status", "2xx", (json_int_t)tot_cls[2], "3xx",
		    (json_int_t)tot_cls[3], "4xx", (json_int_t)tot_cls[4], "5xx",
		    (json_int_t)tot_cls[5], "other",
		    (json_int_t)(tot_cls[0] + tot_cls[1]));
		if (x.hist)
			put_hist_pcts(t, &all_h);
		else
			put_pcts(t, &all);
		json_object_set_new(out, "totals", t);
	}
	free(all.v);
	series_free(&x);
	return otas__reply_json(r, 200, out);
}

/* ---- GET /api/v1/errors ------------------------------------------------ */

/* A part of a people plan: res 0 the events of [lo, hi), else the
 * people rows of that resolution whose bucket is in it. */
typedef struct {
	int64_t res, lo, hi;
} wseg_t;

static size_t
wseg_add(wseg_t *seg, size_t n, int64_t res, int64_t lo, int64_t hi)
{
	if (lo >= hi)
		return n;
	/* two raw parts that meet are one scan */
	if (n && !res && !seg[n - 1].res && seg[n - 1].hi == lo) {
		seg[n - 1].hi = hi;
		return n;
	}
	seg[n] = (wseg_t){res, lo, hi};
	return n + 1;
}

/* Append [from, to) as whole hours and days of rows and its partial
 * hours at either end as raw parts (at most 5).  Returns the new n. */
static size_t
who_segments(int64_t from, int64_t to, wseg_t *seg, size_t n)
{
	const int64_t H = 3600LL * 1000000, D = 86400LL * 1000000;
	int64_t h0 = ceil_to(from, H), h1 = floor_to(to, H);

	if (h0 >= h1)
		return wseg_add(seg, n, 0, from, to);
	n = wseg_add(seg, n, 0, from, h0);
	{
		int64_t d0 = ceil_to(h0, D), d1 = floor_to(h1, D);
		if (d0 < d1) {
			n = wseg_add(seg, n, 3600, h0, d0);
			n = wseg_add(seg, n, 86400, d0, d1);
			n = wseg_add(seg, n, 3600, d1, h1);
		} else {
			n = wseg_add(seg, n, 3600, h0, h1);
		}
	}
	return wseg_add(seg, n, 0, h1, to);
}

static int
who_run(otas__server_t *s, otas__req_t *r, const otas__dash_filter_t *f,
        const otas__scan_query_t *q, int kind, const char *id_prefix,
        otas__scan_cb raw, otas__people_cb roll, void *x, const wseg_t *seg,
        size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!seg[i].res) {
			otas__scan_query_t rq = *q;
			rq.since_us = seg[i].lo;
			rq.until_us = seg[i].hi;
			if (run_scan(s, r, f, &rq, raw, x, 0, NULL) != 0)
				return -1;
		} else {
			otas__people_query_t pq = {seg[i].res, seg[i].lo, seg[i].hi,
			                           kind, id_prefix, f->tag};
			if (otas__store_people_each(s->st, r->proj.pk, &pq, roll, x) != 0)
				return -1;
		}
	}
	return 0;
}

static int who_plan(otas__server_t *s, otas__req_t *r,
                    const otas__dash_filter_t *f, const otas__scan_query_t *q,
                    int kind, otas__scan_cb raw, otas__people_cb roll,
                    void *x);

#define ERR_SERIES 30
#define MAX_GROUPS 500

typedef struct {
	char *type;             /* exception type, or NULL (status group) */
	long long status;       /* status groups */
	char *method, *route;
	int unmatched;          /* route is "(unmatched)" */
	long long count;
	int64_t first_us, last_us;
	long long series[ERR_SERIES];
	char *event_id, *message, *stack, *path;
	long long latest_status;
	int fetch;              /* latest from a rollup row: read it by id */
} egroup_t;

typedef struct {
	smap_t map;
	egroup_t *g;
	size_t n, cap;
	int64_t first_us, width_us;
	int overflow;
} errs_t;

static int
errors_row(void *arg, const otas__scan_row_t *r)
{
	errs_t *x = arg;
	char *type, *msg, *stack, key[1200];
	const char *rt;
	size_t i;
	int64_t si;
	int um;
	egroup_t *g;

	otas__doc_exception(r->doc, r->doc_len, &type, &msg, &stack);
	if (!type && r->status < 400) {
		/* is_error without a recorded exception */
		type = strdup("error");
	}
	/* Requests no route matched are one endpoint here too: a scanner's
	 * random paths make one group per status, not one per path. */
	um = is_unmatched(r);
	rt = um ? "(unmatched)" : r->route;
	if (type)
		snprintf(key, sizeof key, "x\t%s\t%s\t%s", type, r->method, rt);
	else
		snprintf(key, sizeof key, "s\t%lld\t%s\t%s", r->status,
		         um ? "*" : r->method, rt);
	i = smap_get(&x->map, key, x->n);
	if (i == (size_t)-1) {
		if (x->n >= MAX_GROUPS) {
			x->overflow = 1;
			free(type);
			free(msg);
			free(stack);
			return 0;
		}
		x->g = grow(x->g, &x->cap, x->n, sizeof *x->g);
		i = x->n++;
		g = &x->g[i];
		g->type = type;
		g->status = type ? 0 : r->status;
		g->unmatched = um;
		g->method = strdup(um && !type ? "*" : r->method);
		g->route = strdup(rt);
		g->last_us = r->ts_us;
		g->event_id = r->event_id ? strdup(r->event_id) : NULL;
		g->path = strdup(r->path);
		g->message = msg;
		g->stack = stack;
		g->latest_status = r->status;
		g->first_us = r->ts_us;
		g->fetch = 0;
		type = msg = stack = NULL;
	}
	g = &x->g[i];
	g->count++;
	/* rows come in any order: keep the newest as the latest */
	if (r->ts_us > g->last_us) {
		g->last_us = r->ts_us;
		free(g->event_id);
		free(g->path);
		g->event_id = r->event_id ? strdup(r->event_id) : NULL;
		g->path = strdup(r->path);
		g->latest_status = r->status;
		g->fetch = 0;
		if (type) {
			free(g->message);
			free(g->stack);
			g->message = msg;
			g->stack = stack;
			msg = stack = NULL;
		}
	}
	if (r->ts_us < g->first_us)
		g->first_us = r->ts_us;
	si = (r->ts_us - x->first_us) / x->width_us;
	if (si >= 0 && si < ERR_SERIES)
		g->series[si]++;
	free(type);
	free(msg);
	free(stack);
	return 0;
}

/* A people rollup row of kind "e" (rollup.h): its id is the group key
 * errors_row builds (otas__error_key), its company the newest event id. */
static int
errors_roll(void *arg, const otas__people_row_t *r)
{
	errs_t *x = arg;
	const char *id = r->id, *t1, *t2, *t3;
	size_t i;
	int64_t si;
	egroup_t *g;

	if (!id || (id[0] != 'x' && id[0] != 's') || id[1] != '\t' ||
	    !(t3 = strrchr(id, '\t')) || t3 == id + 1)
		return 0;
	for (t2 = t3 - 1; t2 > id + 1 && *t2 != '\t'; t2--)
		;
	if (t2 <= id + 1)
		return 0;
	t1 = id + 1;
	i = smap_get(&x->map, id, x->n);
	if (i == (size_t)-1) {
		if (x->n >= MAX_GROUPS) {
			x->overflow = 1;
			return 0;
		}
		x->g = grow(x->g, &x->cap, x->n, sizeof *x->g);
		i = x->n++;
		g = &x->g[i];
		memset(g, 0, sizeof *g);
		if (id[0] == 'x')
			g->type = strndup(t1 + 1, (size_t)(t2 - t1 - 1));
		else
			g->status = strtoll(t1 + 1, NULL, 10);
		g->method = strndup(t2 + 1, (size_t)(t3 - t2 - 1));
		g->route = strdup(t3 + 1);
		g->unmatched = strcmp(g->route, "(unmatched)") == 0;
		g->first_us = r->first_us;
		g->last_us = r->last_us;
		g->event_id = r->company ? strdup(r->company) : NULL;
		g->fetch = 1;
	}
	g = &x->g[i];
	g->count += r->n;
	if (r->last_us > g->last_us) {
		g->last_us = r->last_us;
		free(g->event_id);
		g->event_id = r->company ? strdup(r->company) : NULL;
		g->fetch = 1;
	}
	if (r->first_us < g->first_us)
		g->first_us = r->first_us;
	/* the series cell: errors_plan reads each cell apart, so the row's
	 * bucket lies inside one */
	si = (r->first_us - x->first_us) / x->width_us;
	if (si < 0)
		si = 0;
	if (si >= ERR_SERIES)
		si = ERR_SERIES - 1;
	g->series[si] += r->n;
	return 0;
}

/* /errors from the rollups: each of the ERR_SERIES cells of the series
 * on its own (who_plan: whole hours and days inside the cell from the
 * kind-"e" rows, its partial hours from the events), so every row lands
 * in the cell its events are in and the cells are the raw scan's. */
static int
errors_plan(otas__server_t *s, otas__req_t *r, const otas__dash_filter_t *f,
            const otas__scan_query_t *q, errs_t *x)
{
	wseg_t seg[5 * ERR_SERIES], rows[5 * ERR_SERIES];
	int64_t spans[2 * OTAS__SCAN_MAX_RANGES];
	size_t n = 0, nrows = 0;
	int nr = 0;
	otas__scan_query_t rq = *q;

	for (int k = 0; k < ERR_SERIES; k++) {
		int64_t lo = x->first_us + (int64_t)k * x->width_us;
		int64_t hi = lo + x->width_us < f->to_us ? lo + x->width_us : f->to_us;
		if (lo >= hi)
			break;
		/* the hour a cell boundary cuts: one raw part for both cells */
		n = who_segments(lo, hi, seg, n);
	}
	/* the raw parts (at most ERR_SERIES + 1) in one scan: a store call
	 * per part cost PostgreSQL a cursor and 4 round trips each */
	for (size_t i = 0; i < n; i++) {
		if (seg[i].res)
			rows[nrows++] = seg[i];
		else if (nr < OTAS__SCAN_MAX_RANGES) {
			spans[2 * nr] = seg[i].lo;
			spans[2 * nr++ + 1] = seg[i].hi;
		} else
			rows[nrows++] = seg[i]; /* cannot happen: scanned alone */
	}
	if (nr) {
		rq.since_us = spans[0];
		rq.until_us = spans[2 * nr - 1];
		rq.ts_ranges = spans;
		rq.n_ts_ranges = nr;
		if (run_scan(s, r, f, &rq, errors_row, x, 0, NULL) != 0)
			return -1;
	}
	return who_run(s, r, f, q, OTAS__PEOPLE_ERROR, NULL, errors_row,
	               errors_roll, x, rows, nrows);
}

/* The latest event of a group that came from a rollup row. */
static int
errors_latest(void *arg, const otas__event_row_t *e)
{
	egroup_t *g = arg;
	json_t *d = e->doc ? json_loadb(e->doc, e->doc_len, JSON_ALLOW_NUL, NULL)
	                   : NULL;
	const char *path = json_string_value(json_object_get(d, "path"));
	char *type;

	free(g->path);
	g->path = path ? strdup(path) : NULL;
	g->latest_status = json_integer_value(json_object_get(d, "status_code"));
	json_decref(d);
	free(g->message);
	free(g->stack);
	otas__doc_exception(e->doc, e->doc_len, &type, &g->message, &g->stack);
	free(type);
	return 0;
}

static int
egroup_cmp(const void *a, const void *b)
{
	const egroup_t *x = a, *y = b;
	int d;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->last_us != y->last_us)
		return x->last_us < y->last_us ? 1 : -1;
	if ((d = strcmp(x->route, y->route)) || (d = strcmp(x->method, y->method)))
		return d;
	if (x->status != y->status)
		return x->status < y->status ? -1 : 1;
	return strcmp(x->type ? x->type : "", y->type ? y->type : "");
}

enum MHD_Result
otas__api_dash_errors(otas__server_t *s, struct MHD_Connection *c,
                      otas__req_t *r)
{
	otas__dash_filter_t f;
	otas__scan_query_t q;
	errs_t x = {0};
	json_t *list, *out;
	long long total = 0;
	int plan, exact;

	if (req_filter(c, r, &f) != 0)
		return MHD_YES;
	otas__dash_filter_scan(&f, &q);
	q.any_order = 1;
	q.errors_only = 1;
	q.want_doc = 1;
	x.first_us = f.from_us;
	x.width_us = (f.to_us - f.from_us + ERR_SERIES - 1) / ERR_SERIES;
	if (x.width_us < 1)
		x.width_us = 1;
	plan = use_rollups(c, &f, HOLDS_TAG);
	/* Exact cells on SQLite; PostgreSQL keeps the per-row placement
	 * for now: there the exact plan took 5-6 s at 7-30 d with 1M events
	 * after the tag rollups merged (not understood yet; before it: 133
	 * ms) */
	exact = strcmp(otas__store_kind(s->st), "sqlite") == 0;
	if ((plan ? (exact ? errors_plan(s, r, &f, &q, &x)
	                   : who_plan(s, r, &f, &q, OTAS__PEOPLE_ERROR,
	                              errors_row, errors_roll, &x))
	          : run_scan(s, r, &f, &q, errors_row, &x, 0, NULL)) != 0) {
		out = NULL;
		goto done;
	}
	for (size_t i = 0; i < x.n; i++)
		if (x.g[i].fetch && x.g[i].event_id &&
		    otas__store_event_find(s->st, r->proj.pk, x.g[i].event_id,
		                           errors_latest, &x.g[i]) < 0) {
			out = NULL;
			goto done;
		}
	if (x.n)
		qsort(x.g, x.n, sizeof *x.g, egroup_cmp);
	list = json_array();
	for (size_t i = 0; i < x.n; i++) {
		egroup_t *g = &x.g[i];
		json_t *e = json_object(), *sr = json_array();
		for (int k = 0; k < ERR_SERIES; k++)
			json_array_append_new(sr, json_integer(g->series[k]));
		json_object_set_new(e, "kind", json_string(g->type ? "exception"
		                                                    : "status"));
		json_object_set_new(e, "type", str_or_null(g->type));
		json_object_set_new(e, "status",
		                    g->type ? json_null() : json_integer(g->status));
		json_object_set_new(e, "method", json_string(g->method));
		json_object_set_new(e, "route", json_string(g->route));
		json_object_set_new(e, "unmatched", json_boolean(g->unmatched));
		json_object_set_new(e, "count", json_integer(g->count));
		json_object_set_new(e, "first_seen", time_str(g->first_us));
		json_object_set_new(e, "last_seen", time_str(g->last_us));
		json_object_set_new(e, "series", sr);
		json_object_set_new(
		    e, "latest",
		    json_pack("{s:o, s:o, s:I, s:o, s:o}", "event_id",
		              str_or_null(g->event_id), "path", str_or_null(g->path),
		              "status", (json_int_t)g->latest_status, "message",
		              str_or_null(g->message), "stack",
		              str_or_null(g->stack)));
		json_array_append_new(list, e);
		total += g->count;
	}
	out = otas__dash_filter_json(&f);
	json_object_set_new(out, "groups", list);
	json_object_set_new(out, "errors", json_integer(total));
	json_object_set_new(out, "series_bucket_seconds",
	                    json_integer(x.width_us / 1000000));
	json_object_set_new(out, "truncated", json_boolean(x.overflow));
	json_object_set_new(out, "plan", json_string(plan ? "rollup" : "raw"));
done:
	for (size_t i = 0; i < x.n; i++) {
		egroup_t *g = &x.g[i];
		free(g->type);
		free(g->method);
		free(g->route);
		free(g->event_id);
		free(g->message);
		free(g->stack);
		free(g->path);
	}
	free(x.g);
	smap_free(&x.map);
	return out ? otas__reply_json(r, 200, out)
	           : query_failed(r);
}

/* ---- GET /api/v1/search ------------------------------------------------ */

static json_t *
row_json(const otas__scan_row_t *r)
{
	json_t *e = json_object();

	json_object_set_new(e, "event_id", str_or_null(r->event_id));
	json_object_set_new(e, "event_time", time_str(r->ts_us));
	json_object_set_new(e, "method", str_or_null(r->method));
	json_object_set_new(e, "path", str_or_null(r->path));
	json_object_set_new(e, "route", str_or_null(r->route));
	json_object_set_new(e, "unmatched", json_boolean(is_unmatched(r)));
	json_object_set_new(e, "status", json_integer(r->status));
	json_object_set_new(e, "latency_ms", json_real(r->latency_ms));
	json_object_set_new(e, "error", json_boolean(row_error(r)));
	json_object_set_new(e, "user_id", str_or_null(r->user_id));
	json_object_set_new(e, "company_id", str_or_null(r->company_id));
	json_object_set_new(e, "agent_id", str_or_null(r->agent_id));
	json_object_set_new(e, "agent_session_id",
	                    str_or_null(r->agent_session_id));
	return e;
}

typedef struct {
	json_t *list;
	long limit, rows;
	int more;
	int64_t last_ts, last_id;
} spage_t;

static int
search_row(void *arg, const otas__scan_row_t *r)
{
	spage_t *p = arg;

	if (p->rows >= p->limit) {
		p->more = 1;
		return 1;
	}
	json_array_append_new(p->list, row_json(r));
	p->rows++;
	p->last_ts = r->ts_us;
	p->last_id = r->id;
	return 0;
}

/* Cursor "ts.id" and limit; 0 ok. */
static int
page_args(struct MHD_Connection *c, otas__scan_query_t *q, long *limit,
          long max)
{
	const char *v = otas__http_arg(c, "limit");
	char *end;

	if (v) {
		*limit = strtol(v, &end, 10);
		if (*end || *limit < 1 || *limit > max)
			return -1;
	}
	if ((v = otas__http_arg(c, "cursor"))) {
		long long ts, id;
		int used = 0;
		if (sscanf(v, "%lld.%lld%n", &ts, &id, &used) != 2 || v[used])
			return -1;
		q->has_cursor = 1;
		q->cursor_ts = ts;
		q->cursor_id = id;
	}
	return 0;
}

/* The store may apply the whole filter itself (then LIMIT works). */
static int
store_only(const otas__dash_filter_t *f)
{
	int one_class = f->n_status == 0 ||
	                (f->n_status == 1);
	return one_class && !f->path && !f->unmatched && !f->text_rows &&
	       !otas__dash_filter_needs_doc(f);
}

enum MHD_Result
otas__api_dash_search(otas__server_t *s, struct MHD_Connection *c,
                      otas__req_t *r)
{
	otas__dash_filter_t f;
	otas__scan_query_t q;
	spage_t p = {0};
	int truncated = 0;
	int64_t seen_ts = 0, seen_id = 0;
	json_t *out;

	if (req_filter(c, r, &f) != 0)
		return MHD_YES;
	otas__dash_filter_scan(&f, &q);
	q.want_who = 1;
	p.limit = 100;
	if (page_args(c, &q, &p.limit, 1000) != 0)
		return bad(r, "invalid limit (1..1000) or cursor");
	if (store_only(&f))
		q.limit = p.limit + 1;
	p.list = json_array();
	if (run_scan2(s, r, &f, &q, search_row, &p,
	              store_only(&f)  ? 0
	              : f.text_rows ? OTAS__DASH_TEXT_SCAN_CAP
	                            : OTAS__DASH_SCAN_CAP,
	              &truncated,
	              &seen_ts, &seen_id) != 0) {
		json_decref(p.list);
		return query_failed(r);
	}
	out = otas__dash_filter_json(&f);
	json_object_set_new(out, "events", p.list);
	if (p.more || truncated) {
		char cur[64];
		/* a full page goes on after its last row; a page cut by the
		 * scan cap after the last row examined (matching or not) */
		snprintf(cur, sizeof cur, "%lld.%lld",
		         (long long)(p.more ? p.last_ts : seen_ts),
		         (long long)(p.more ? p.last_id : seen_id));
		json_object_set_new(out, "next", json_string(cur));
	} else {
		json_object_set_new(out, "next", json_null());
	}
	json_object_set_new(out, "truncated", json_boolean(truncated));
	return otas__reply_json(r, 200, out);
}

/* ---- GET /api/v1/stats/routes ------------------------------------------- */

typedef struct {
	char *method, *route;
	int unmatched;
	long long count, errors, cls[6];
	int64_t last_us;
	vec_t lat;
	otas__hist_t h;         /* the rollup plan */
} route_t;

typedef struct {
	smap_t map, paths;
	route_t *g;
	size_t n, cap;
	struct upath {
		char *path;
		long long count;
	} *up;
	size_t nup, capup;
	int hist;               /* latencies into h, not lat */
} routes_t;

/* The group of (method, route), or of every unmatched request, counted
 * n more times; for unmatched ones path is counted too. */
static route_t *
routes_add(routes_t *x, const char *method, const char *route,
           const char *path, int um, long long status, long long n,
           long long errors, int64_t ts)
{
	char key[1200];
	size_t i;
	route_t *g;
	long long cl = status / 100;

	if (um)
		snprintf(key, sizeof key, "\t(unmatched)");
	else
		snprintf(key, sizeof key, "%s\t%s", method, route);
	i = smap_get(&x->map, key, x->n);
	if (i == (size_t)-1) {
		x->g = grow(x->g, &x->cap, x->n, sizeof *x->g);
		i = x->n++;
		g = &x->g[i];
		g->unmatched = um;
		g->method = strdup(um ? "*" : method);
		g->route = strdup(um ? "(unmatched)" : route);
		g->last_us = ts;
	}
	g = &x->g[i];
	g->count += n;
	g->errors += errors;
	g->cls[cl >= 1 && cl <= 5 ? cl : 0] += n;
	if (um) {
		size_t j = smap_get(&x->paths, path, x->nup);
		if (j == (size_t)-1) {
			x->up = grow(x->up, &x->capup, x->nup, sizeof *x->up);
			j = x->nup++;
			x->up[j].path = strdup(path);
		}
		x->up[j].count += n;
	}
	return g;
}

static int
routes_row(void *arg, const otas__scan_row_t *r)
{
	routes_t *x = arg;
	route_t *g = routes_add(x, r->method, r->route, r->path, is_unmatched(r),
	                        r->status, 1, row_error(r), r->ts_us);

	if (x->hist)
		otas__hist_add(&g->h, r->latency_ms);
	else
		vec_push(&g->lat, r->latency_ms);
	return 0;
}

/* A rollup row: an unmatched one's route is its path (rollup.h). */
static int
routes_roll(void *arg, const otas__rollup_row_t *r)
{
	routes_t *x = arg;
	route_t *g = routes_add(x, r->method, r->route, r->route, r->unmatched,
	                        r->status, r->n, r->errors, r->bucket_us);

	hist_add_row(&g->h, r);
	return 0;
}

/* Free everything and start empty. */
static void
routes_clear(routes_t *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->g[i].method);
		free(x->g[i].route);
		free(x->g[i].lat.v);
	}
	for (size_t i = 0; i < x->nup; i++)
		free(x->up[i].path);
	free(x->g);
	free(x->up);
	smap_free(&x->map);
	smap_free(&x->paths);
	memset(x, 0, sizeof *x);
}

static int
route_cmp(const void *a, const void *b)
{
	const route_t *x = a, *y = b;

	int d;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	/* a whole order: the scan's row order (which a plan may change)
	 * never shows */
	if ((d = strcmp(x->route, y->route)) != 0 ||
	    (d = strcmp(x->method, y->method)) != 0)
		return d;
	return x->unmatched - y->unmatched;
}

static int
upath_cmp(const void *a, const void *b)
{
	const struct upath *x = a, *y = b;

	return x->count != y->count ? (x->count < y->count ? 1 : -1)
	                            : strcmp(x->path, y->path);
}

enum MHD_Result
otas__api_dash_routes(otas__server_t *s, struct MHD_Connection *c,
                      otas__req_t *r)
{
	otas__dash_filter_t f;
	otas__scan_query_t q;
	routes_t x = {0};
	json_t *list, *out = NULL;
	int plan;

	if (req_filter(c, r, &f) != 0)
		return MHD_YES;
	otas__dash_filter_scan(&f, &q);
	q.any_order = 1;
	q.lean = 1;
	plan = use_rollups(c, &f, HOLDS_REQUEST_KEYS | HOLDS_TAG);
	x.hist = plan > 0;
	if (x.hist && run_plan(s, r, &f, &q, OTAS__ROLLUP_DAY, routes_row,
	                       routes_roll, &x) != 0)
		goto done;
	if (plan == 1) {
		long long n = 0;
		for (size_t i = 0; i < x.n; i++)
			n += x.g[i].count;
		if (n <= OTAS__DASH_EXACT_MAX) {
			routes_clear(&x);
			x.hist = 0;
		}
	}
	if (!x.hist && run_scan(s, r, &f, &q, routes_row, &x, 0, NULL) != 0)
		goto done;
	if (x.n)
		qsort(x.g, x.n, sizeof *x.g, route_cmp);
	if (x.nup)
		qsort(x.up, x.nup, sizeof *x.up, upath_cmp);
	list = json_array();
	for (size_t i = 0; i < x.n; i++) {
		route_t *g = &x.g[i];
		json_t *e = json_pack(
		    "{s:s, s:s, s:b, s:I, s:I, s:f, s:{s:I, s:I, s:I, s:I}}",
		    "method", g->method, "route", g->route, "unmatched",
		    g->unmatched, "count", (json_int_t)g->count, "errors",
		    (json_int_t)g->errors, "error_rate",
		    (double)g->errors / (double)g->count, "status", "2xx",
		    (json_int_t)g->cls[2], "3xx", (json_int_t)g->cls[3], "4xx",
		    (json_int_t)g->cls[4], "5xx", (json_int_t)g->cls[5]);
		if (x.hist)
			put_hist_pcts(e, &g->h);
		else
			put_pcts(e, &g->lat);
		if (g->unmatched) {
			json_t *pl = json_array();
			for (size_t j = 0; j < x.nup && j < 100; j++)
				json_array_append_new(
				    pl, json_pack("{s:s, s:I}", "path", x.up[j].path,
				                  "count", (json_int_t)x.up[j].count));
			json_object_set_new(e, "paths", pl);
			json_object_set_new(e, "distinct_paths",
			                    json_integer((json_int_t)x.nup));
		}
		json_array_append_new(list, e);
	}
	out = otas__dash_filter_json(&f);
	json_object_set_new(out, "endpoints", list);
	json_object_set_new(out, "plan", json_string(x.hist ? "rollup" : "raw"));
done:
	routes_clear(&x);
	return out ? otas__reply_json(r, 200, out)
	           : query_failed(r);
}

/* ---- GET /api/v1/stats/users, /api/v1/stats/companies ------------------- */

typedef struct {
	char *id;
	long long requests, errors;
	int64_t first_us, last_us;
	json_t *entity;
	char *company;          /* users: their company (events) */
} person_t;

typedef struct {
	int company;
	int known_only;         /* filtered: no entity-only rows */
	size_t id_skip;         /* per-route rows: "route\t" before the id */
	smap_t map;
	person_t *g;
	size_t n, cap;
	int overflow;
} people_t;

#define MAX_PEOPLE 10000

static person_t *
person(people_t *x, const char *id)
{
	size_t i = smap_get(&x->map, id, x->n);

	if (i == (size_t)-1) {
		if (x->n >= MAX_PEOPLE) {
			x->overflow = 1;
			return NULL;
		}
		x->g = grow(x->g, &x->cap, x->n, sizeof *x->g);
		i = x->n++;
		x->g[i].id = strdup(id);
	}
	return &x->g[i];
}

static int
people_row(void *arg, const otas__scan_row_t *r)
{
	people_t *x = arg;
	const char *id = x->company ? r->company_id : r->user_id;
	person_t *p;

	if (!id || !*id || !(p = person(x, id)))
		return 0;
	if (!p->requests || r->ts_us > p->last_us)
		p->last_us = r->ts_us;
	if (!p->requests || r->ts_us < p->first_us)
		p->first_us = r->ts_us;
	p->requests++;
	p->errors += row_error(r);
	if (!x->company && !p->company && r->company_id)
		p->company = strdup(r->company_id);
	return 0;
}

static int
people_roll(void *arg, const otas__people_row_t *r)
{
	people_t *x = arg;
	person_t *p;
	const char *id = r->id;

	if (id && x->id_skip) {
		if (strlen(id) < x->id_skip)
			return 0;
		id += x->id_skip;
	}
	if (!id || !*id || !(p = person(x, id)))
		return 0;
	if (!p->requests || r->last_us > p->last_us)
		p->last_us = r->last_us;
	if (!p->requests || r->first_us < p->first_us)
		p->first_us = r->first_us;
	p->requests += r->n;
	p->errors += r->errors;
	if (!x->company && !p->company && r->company)
		p->company = strdup(r->company);
	return 0;
}

/* Users or companies over f's range with no filter (or only a route:
 * kind "ru"/"rc", the ids starting id_prefix): whole days and hours from
 * the people rollups, the partial hours at either end from the events.
 * 0 ok. */
static int
who_plan2(otas__server_t *s, otas__req_t *r, const otas__dash_filter_t *f,
          const otas__scan_query_t *q, int kind, const char *id_prefix,
          otas__scan_cb raw, otas__people_cb roll, void *x)
{
	wseg_t seg[5];
	size_t n = who_segments(f->from_us, f->to_us, seg, 0);

	return who_run(s, r, f, q, kind, id_prefix, raw, roll, x, seg, n);
}

static int
who_plan(otas__server_t *s, otas__req_t *r, const otas__dash_filter_t *f,
         const otas__scan_query_t *q, int kind, otas__scan_cb raw,
         otas__people_cb roll, void *x)
{
	return who_plan2(s, r, f, q, kind, NULL, raw, roll, x);
}

static int
people_plan(otas__server_t *s, otas__req_t *r, const otas__dash_filter_t *f,
            const otas__scan_query_t *q, people_t *x)
{
	char *prefix = NULL;
	int rc, kind = x->company;

	if (f->route) {
		/* the per-route rows of that route (rollup.h "ru" / "rc") */
		size_t n = strlen(f->route);
		prefix = malloc(n + 2);
		if (!prefix)
			abort();
		memcpy(prefix, f->route, n);
		memcpy(prefix + n, "\t", 2);
		x->id_skip = n + 1;
		kind = x->company ? OTAS__PEOPLE_ROUTE_COMPANY
		                  : OTAS__PEOPLE_ROUTE_USER;
	}
	rc = who_plan2(s, r, f, q, kind, prefix, people_row, people_roll, x);
	free(prefix);
	return rc;
}

static int
people_entity(void *arg, const otas__entity_row_t *e)
{
	people_t *x = arg;
	json_t *d = json_loadb(e->doc, e->doc_len, 0, NULL);
	const char *id = json_string_value(
	    json_object_get(d, x->company ? "company_id" : "user_id"));
	person_t *p;

	if (id && *id && x->known_only) {
		/* a filtered list: only those with matching traffic */
		size_t i = smap_find(&x->map, id);
		p = i == (size_t)-1 ? NULL : &x->g[i];
		if (p && !p->entity) {
			json_object_set_new(d, "updated_at", time_str(e->updated_us));
			p->entity = d;
			d = NULL;
		}
	} else if (id && *id && (p = person(x, id)) && !p->entity) {
		json_object_set_new(d, "updated_at", time_str(e->updated_us));
		p->entity = d;
		d = NULL;
	}
	json_decref(d);
	return 0;
}

static int
person_cmp(const void *a, const void *b)
{
	const person_t *x = a, *y = b;

	if (x->requests != y->requests)
		return x->requests < y->requests ? 1 : -1;
	return strcmp(x->id, y->id);
}

enum MHD_Result
otas__api_dash_people(otas__server_t *s, struct MHD_Connection *c,
                      otas__req_t *r)
{
	otas__dash_filter_t f;
	otas__scan_query_t q;
	people_t x = {0};
	json_t *list, *out = NULL;
	const char *kind = r->route->arg;
	int plan;

	x.company = strcmp(kind, "company") == 0;
	if (req_filter(c, r, &f) != 0)
		return MHD_YES;
	x.known_only = f.method || f.route || f.path || f.n_status || f.user ||
	               f.company || f.tag || f.version || f.agent || f.session ||
	               f.trace || f.text || f.unmatched;
	otas__dash_filter_scan(&f, &q);
	q.any_order = 1;
	q.want_who = 1;
	/* a route: the per-route rows (not per tag); else the tags' */
	plan = use_rollups(c, &f, f.route ? HOLDS_ROUTE : HOLDS_TAG);
	if ((plan ? people_plan(s, r, &f, &q, &x)
	          : run_scan(s, r, &f, &q, people_row, &x, 0, NULL)) != 0 ||
	    otas__store_entities_each(s->st, r->proj.pk, kind, NULL, MAX_PEOPLE,
	                              people_entity, &x) != 0)
		goto done;
	if (x.n)
		qsort(x.g, x.n, sizeof *x.g, person_cmp);
	list = json_array();
	for (size_t i = 0; i < x.n; i++) {
		person_t *p = &x.g[i];
		json_t *e = json_object();
		json_object_set_new(e, "id", json_string(p->id));
		json_object_set_new(e, "requests", json_integer(p->requests));
		json_object_set_new(e, "errors", json_integer(p->errors));
		json_object_set_new(e, "first_seen", p->requests
		                                         ? time_str(p->first_us)
		                                         : json_null());
		json_object_set_new(e, "last_seen", p->requests
		                                        ? time_str(p->last_us)
		                                        : json_null());
		if (!x.company)
			json_object_set_new(e, "company_id", str_or_null(p->company));
		json_object_set_new(e, "entity",
		                    p->entity ? json_incref(p->entity) : json_null());
		json_array_append_new(list, e);
	}
	out = otas__dash_filter_json(&f);
	json_object_set_new(out, x.company ? "companies" : "users", list);
	json_object_set_new(out, "plan", json_string(plan ? "rollup" : "raw"));
	json_object_set_new(out, "truncated", json_boolean(x.overflow));
done:
	for (size_t i = 0; i < x.n; i++) {
		free(x.g[i].id);
		free(x.g[i].company);
		json_decref(x.g[i].entity);
	}
	free(x.g);
	smap_free(&x.map);
	return out ? otas__reply_json(r, 200, out)
	           : query_failed(r);
}

/* ---- GET /api/v1/stats/agents ------------------------------------------ */

typedef struct {
	char *id;
	long long calls, errors;
	int64_t first_us, last_us;
	smap_t sessions, eps;
	struct aep {
		char *method, *route;
		long long count, errors;
	} *ep;
	size_t nep, capep;
	long long verified;
} agent_t;

typedef struct {
	smap_t map;
	agent_t *g;
	size_t n, cap;
} agents_t;

static void
agent_add(agents_t *x, const char *id, const char *session,
          const char *method, const char *route, long long n,
          long long errors, int64_t first_us, int64_t last_us)
{
	size_t i, j;
	agent_t *a;
	char key[1200];

	if (!id || !*id)
		return;
	i = smap_get(&x->map, id, x->n);
	if (i == (size_t)-1) {
		if (x->n >= MAX_PEOPLE)
			return;
		x->g = grow(x->g, &x->cap, x->n, sizeof *x->g);
		i = x->n++;
		x->g[i].id = strdup(id);
	}
	a = &x->g[i];
	if (!a->calls || last_us > a->last_us)
		a->last_us = last_us;
	if (!a->calls || first_us < a->first_us)
		a->first_us = first_us;
	a->calls += n;
	a->errors += errors;
	if (session)
		smap_get(&a->sessions, session, 0);
	snprintf(key, sizeof key, "%s\t%s", method, route);
	j = smap_get(&a->eps, key, a->nep);
	if (j == (size_t)-1) {
		a->ep = grow(a->ep, &a->capep, a->nep, sizeof *a->ep);
		j = a->nep++;
		a->ep[j].method = strdup(method);
		a->ep[j].route = strdup(route);
	}
	a->ep[j].count += n;
	a->ep[j].errors += errors;
}

static int
agents_row(void *arg, const otas__scan_row_t *r)
{
	agent_add(arg, r->agent_id, r->agent_session_id, r->method, r->route, 1,
	          row_error(r), r->ts_us, r->ts_us);
	return 0;
}

/* A people rollup row of kind "a": id is agent \t session \t method \t
 * route (rollup.h); an empty session is none. */
static int
agents_roll(void *arg, const otas__people_row_t *r)
{
	char buf[4 * 1200], *f[4];
	size_t len = r->id ? strlen(r->id) : 0;

	if (!len || len >= sizeof buf)
		return 0;
	memcpy(buf, r->id, len + 1);
	f[0] = buf;
	for (int i = 1; i < 4; i++) {
		f[i] = strchr(f[i - 1], '\t');
		if (!f[i])
			return 0;
		*f[i]++ = '\0';
	}
	agent_add(arg, f[0], *f[1] ? f[1] : NULL, f[2], f[3], r->n, r->errors,
	          r->first_us, r->last_us);
	return 0;
}

static int
aep_cmp(const void *a, const void *b)
{
	const struct aep *x = a, *y = b;
	int d;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	d = strcmp(x->route, y->route);
	return d ? d : strcmp(x->method, y->method);
}

static int
agent_cmp(const void *a, const void *b)
{
	const agent_t *x = a, *y = b;

	if (x->last_us != y->last_us)
		return x->last_us < y->last_us ? 1 : -1;
	return strcmp(x->id, y->id);
}

enum MHD_Result
otas__api_dash_agents(otas__server_t *s, struct MHD_Connection *c,
                      otas__req_t *r)
{
	otas__dash_filter_t f;
	otas__scan_query_t q;
	agents_t x = {0};
	json_t *list, *out = NULL;
	int plan;

	if (req_filter(c, r, &f) != 0)
		return MHD_YES;
	otas__dash_filter_scan(&f, &q);
	q.any_order = 1;
	q.agents_only = 1;
	/* no filter: whole hours and days from the people rollups (kind "a") */
	plan = use_rollups(c, &f, HOLDS_TAG);
	if ((plan ? who_plan(s, r, &f, &q, OTAS__PEOPLE_AGENT, agents_row,
	                     agents_roll, &x)
	          : run_scan(s, r, &f, &q, agents_row, &x, 0, NULL)) != 0)
		goto done;
	if (x.n)
		qsort(x.g, x.n, sizeof *x.g, agent_cmp);
	list = json_array();
	for (size_t i = 0; i < x.n; i++) {
		agent_t *a = &x.g[i];
		json_t *eps = json_array();
		if (a->nep)
			qsort(a->ep, a->nep, sizeof *a->ep, aep_cmp);
		for (size_t j = 0; j < a->nep; j++)
			json_array_append_new(
			    eps, json_pack("{s:s, s:s, s:I, s:I}", "method",
			                   a->ep[j].method, "route", a->ep[j].route,
			                   "count", (json_int_t)a->ep[j].count, "errors",
			                   (json_int_t)a->ep[j].errors));
		json_array_append_new(
		    list,
		    json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "agent_id",
		              a->id, "sessions", (json_int_t)a->sessions.n, "calls",
		              (json_int_t)a->calls, "errors", (json_int_t)a->errors,
		              "first_seen", time_str(a->first_us), "last_seen",
		              time_str(a->last_us), "endpoints", eps));
	}
	out = otas__dash_filter_json(&f);
	json_object_set_new(out, "agents", list);
	json_object_set_new(out, "plan", json_string(plan ? "rollup" : "raw"));
done:
	for (size_t i = 0; i < x.n; i++) {
		agent_t *a = &x.g[i];
		for (size_t j = 0; j < a->nep; j++) {
			free(a->ep[j].method);
			free(a->ep[j].route);
		}
		free(a->ep);
		free(a->id);
		smap_free(&a->sessions);
		smap_free(&a->eps);
	}
	free(x.g);
	smap_free(&x.map);
	return out ? otas__reply_json(r, 200, out)
	           : query_failed(r);
}

/* ---- GET /api/v1/export?format=csv|json --------------------------------- */

typedef struct {
	otas__buf_t b;
	int csv;
	long rows, limit;
	int more;
} export_t;

static void
csv_field(otas__buf_t *b, const char *s)
{
	if (!s)
		return;
	/* A cell starting with = + - @ is a formula to a spreadsheet. */
	if (strpbrk(s, ",\"\r\n") || (*s && strchr("=+-@", *s))) {
		otas__buf_putc(b, '"');
		if (*s && strchr("=+-@", *s))
			otas__buf_putc(b, '\'');
		for (; *s; s++) {
			if (*s == '"')
				otas__buf_putc(b, '"');
			otas__buf_putc(b, *s);
		}
		otas__buf_putc(b, '"');
	} else {
		otas__buf_puts(b, s);
	}
}

static int
export_row(void *arg, const otas__scan_row_t *r)
{
	export_t *x = arg;
	char t[32];

	if (x->rows >= x->limit) {
		x->more = 1;
		return 1;
	}
	otas__format_time(r->ts_us, t);
	if (x->csv) {
		const char *cols[] = {r->event_id, t, r->method, r->path, r->route};
		for (size_t i = 0; i < 5; i++) {
			csv_field(&x->b, cols[i]);
			otas__buf_putc(&x->b, ',');
		}
		otas__buf_printf(&x->b, "%lld,%.3f,%d,", r->status, r->latency_ms,
		                 row_error(r));
		csv_field(&x->b, r->user_id);
		otas__buf_putc(&x->b, ',');
		csv_field(&x->b, r->company_id);
		otas__buf_putc(&x->b, ',');
		csv_field(&x->b, r->agent_id);
		otas__buf_putc(&x->b, ',');
		csv_field(&x->b, r->agent_session_id);
		otas__buf_puts(&x->b, "\r\n");
	} else {
		json_t *e = row_json(r);
		char *s = json_dumps(e, JSON_COMPACT);
		json_decref(e);
		if (!s)
			abort();
		otas__buf_puts(&x->b, x->rows ? ",\n" : "\n");
		otas__buf_puts(&x->b, s);
		free(s);
	}
	x->rows++;
	return 0;
}

/* The export streams: MHD asks for bytes as the client reads them, and
 * each time the buffer runs dry the next chunk of rows is scanned (a
 * cursor on ts, id), so a big export never sits in memory and a slow
 * client holds no read connection between chunks. */
#define EXPORT_CHUNK 2000

typedef struct {
	otas__store_t *st;
	int64_t pk;
	otas__dash_filter_t f;
	char *own[16];
	int n_own;
	export_t x;
	size_t off;
	int done, more_rows, truncated;
	long scanned;
	int has_cur;
	int64_t cur_ts, cur_id;
} xstream_t;

static const char *
own(xstream_t *xs, const char *v)
{
	char *c;

	if (!v)
		return NULL;
	c = strdup(v);
	if (!c)
		abort();
	xs->own[xs->n_own++] = c;
	return c;
}

/* Every row scanned moves the cursor; those that pass go to export_row. */
static int
xstream_row(void *arg, const otas__scan_row_t *r)
{
	xstream_t *xs = arg;

	xs->has_cur = 1;
	xs->cur_ts = r->ts_us;
	xs->cur_id = r->id;
	xs->scanned++;
	if (!otas__dash_filter_match(&xs->f, r))
		return 0;
	if (export_row(&xs->x, r)) {
		xs->done = 1;
		return 1;
	}
	return 0;
}

/* Scan the next chunk into the buffer; 0 ok. */
static int
xstream_fill(xstream_t *xs)
{
	otas__scan_query_t q;
	long before = xs->scanned;

	otas__dash_filter_scan(&xs->f, &q);
	q.want_who = 1;
	q.limit = EXPORT_CHUNK;
	q.has_cursor = xs->has_cur;
	q.cursor_ts = xs->cur_ts;
	q.cursor_id = xs->cur_id;
	if ((over_budget = otas__store_scan(xs->st, xs->pk, &q, xstream_row,
	                                    xs)) != 0) {
		over_budget = over_budget == -2;
		return -1;
	}
	if (xs->scanned - before < EXPORT_CHUNK)
		xs->done = 1;
	if (!xs->done && xs->scanned >= OTAS__DASH_SCAN_CAP) {
		xs->done = 1;
		xs->truncated = 1;
	}
	if (xs->done && !xs->x.csv)
		otas__buf_printf(&xs->x.b, "\n],\"rows\":%ld,\"truncated\":%s}\n",
		                 xs->x.rows,
		                 xs->x.more || xs->truncated ? "true" : "false");
	return xs->x.b.oom ? -1 : 0;
}

static ssize_t
xstream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	xstream_t *xs = cls;
	size_t n;

	(void)pos;
	while (xs->off == xs->x.b.len) {
		if (xs->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		otas__buf_reset(&xs->x.b);
		xs->off = 0;
		if (xstream_fill(xs) != 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = xs->x.b.len - xs->off;
	if (n > max)
		n = max;
	memcpy(buf, xs->x.b.data + xs->off, n);
	xs->off += n;
	return (ssize_t)n;
}

static void
xstream_free(void *cls)
{
	xstream_t *xs = cls;

	for (int i = 0; i < xs->n_own; i++)
		free(xs->own[i]);
	otas__buf_free(&xs->x.b);
	free(xs);
}

enum MHD_Result
otas__api_dash_export(otas__server_t *s, struct MHD_Connection *c,
                      otas__req_t *r)
{
	otas__dash_filter_t f;
	otas__scan_query_t q;
	const char *fmt = otas__http_arg(c, "format");
	xstream_t *xs;
	struct MHD_Response *resp;
	long limit = 10000;
	char disp[64];

	if (req_filter(c, r, &f) != 0)
		return MHD_YES;
	if (fmt && strcmp(fmt, "csv") && strcmp(fmt, "json"))
		return bad(r, "invalid format (csv, json)");
	memset(&q, 0, sizeof q);
	if (page_args(c, &q, &limit, OTAS__DASH_EXPORT_MAX) != 0)
		return bad(r, "invalid limit (1..100000) or cursor");
	if (!(xs = calloc(1, sizeof *xs)))
		abort();
	xs->st = s->st;
	xs->pk = r->proj.pk;
	xs->f = f;
	/* own copies: the arguments go with the request's first answer */
	xs->f.range = own(xs, f.range);
	xs->f.method = f.method ? xs->f.method_up : NULL;
	xs->f.route = own(xs, f.route);
	xs->f.path = own(xs, f.path);
	xs->f.user = own(xs, f.user);
	xs->f.company = own(xs, f.company);
	xs->f.tag = own(xs, f.tag);
	xs->f.version = own(xs, f.version);
	xs->f.agent = own(xs, f.agent);
	xs->f.session = own(xs, f.session);
	xs->f.trace = own(xs, f.trace);
	xs->f.text = own(xs, f.text);
	xs->has_cur = q.has_cursor;
	xs->cur_ts = q.cursor_ts;
	xs->cur_id = q.cursor_id;
	otas__buf_init(&xs->x.b);
	xs->x.csv = !fmt || strcmp(fmt, "csv") == 0;
	xs->x.limit = limit;
	if (xs->x.csv)
		otas__buf_puts(&xs->x.b, "event_id,event_time,method,path,route,status,"
		                         "latency_ms,error,user_id,company_id,agent_id,"
		                         "agent_session_id\r\n");
	else
		otas__buf_puts(&xs->x.b, "{\"events\":[");
	/* The first chunk now, on the query pool: a store failure is a 500
	 * with a body, not a cut stream. */
	if (xstream_fill(xs) != 0) {
		xstream_free(xs);
		return query_failed(r);
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
	                                         xstream_read, xs, xstream_free);
	if (!resp) {
		xstream_free(xs);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type",
	                        xs->x.csv ? "text/csv; charset=utf-8"
	                                  : "application/json");
	snprintf(disp, sizeof disp, "attachment; filename=\"events.%s\"",
	         xs->x.csv ? "csv" : "json");
	MHD_add_response_header(resp, "Content-Disposition", disp);
	return otas__reply_response(r, 200, resp);
}
