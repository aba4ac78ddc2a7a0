/*
 * rollup.c -- the latency histogram and the per-group aggregation of the
 * rollups (rollup.h), shared by both stores and api_dash.c.
 */
#include "rollup.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
otas__hist_bin(double ms)
{
	double b;

	if (!(ms >= OTAS__HIST_MIN_MS)) /* also NaN */
		return 0;
	b = 1 + floor(log2(ms / OTAS__HIST_MIN_MS) * OTAS__HIST_STEPS);
	return b >= OTAS__HIST_BINS - 1 ? OTAS__HIST_BINS - 1 : (int)b;
}

void
otas__hist_bounds(int bin, double *lo, double *hi)
{
	if (bin <= 0) {
		*lo = 0;
		*hi = OTAS__HIST_MIN_MS;
		return;
	}
	*lo = OTAS__HIST_MIN_MS * exp2((double)(bin - 1) / OTAS__HIST_STEPS);
	*hi = OTAS__HIST_MIN_MS * exp2((double)bin / OTAS__HIST_STEPS);
}

void
otas__hist_add(otas__hist_t *h, double ms)
{
	h->c[otas__hist_bin(ms)]++;
	if (!h->n || ms < h->min)
		h->min = ms;
	if (!h->n || ms > h->max)
		h->max = ms;
	h->n++;
}

void
otas__hist_merge(otas__hist_t *h, const uint32_t *c, size_t nbins,
                 long long n, double min, double max)
{
	if (n <= 0)
		return;
	for (size_t i = 0; i < nbins && i < OTAS__HIST_BINS; i++)
		h->c[i] += c[i];
	if (!h->n || min < h->min)
		h->min = min;
	if (!h->n || max > h->max)
		h->max = max;
	h->n += n;
}

double
otas__hist_pct(const otas__hist_t *h, double p)
{
	long long k, acc = 0;
	double lo, hi, v;
	int i;

	if (h->n <= 0)
		return NAN;
	k = (long long)ceil(p / 100.0 * (double)h->n);
	if (k < 1)
		k = 1;
	if (k >= h->n)
		return h->max; /* the largest is known exactly */
	if (k == 1)
		return h->min;
	for (i = 0; i < OTAS__HIST_BINS - 1; i++) {
		acc += h->c[i];
		if (acc >= k)
			break;
	}
	otas__hist_bounds(i, &lo, &hi);
	/* the middle of the bin (geometric; bin 0 arithmetic), clamped to
	 * what was seen */
	v = i == 0 ? hi / 2 : sqrt(lo * hi);
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

size_t
otas__hist_blob(const uint32_t *c, unsigned char out[4 * OTAS__HIST_BINS])
{
	int last = -1;

	for (int i = 0; i < OTAS__HIST_BINS; i++)
		if (c[i])
			last = i;
	for (int i = 0; i <= last; i++) {
		out[4 * i] = (unsigned char)(c[i] & 0xff);
		out[4 * i + 1] = (unsigned char)((c[i] >> 8) & 0xff);
		out[4 * i + 2] = (unsigned char)((c[i] >> 16) & 0xff);
		out[4 * i + 3] = (unsigned char)((c[i] >> 24) & 0xff);
	}
	return (size_t)(last + 1) * 4;
}

void
otas__hist_unblob(const void *blob, size_t len, uint32_t c[OTAS__HIST_BINS])
{
	const unsigned char *p = blob;

	memset(c, 0, sizeof *c * OTAS__HIST_BINS);
	for (size_t i = 0; p && i < len / 4 && i < OTAS__HIST_BINS; i++)
		c[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
		       (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
}

void
otas__hist_text(otas__buf_t *b, const uint32_t *c)
{
	int last = 0;

	for (int i = 0; i < OTAS__HIST_BINS; i++)
		if (c[i])
			last = i;
	otas__buf_putc(b, '{');
	for (int i = 0; i <= last; i++)
		otas__buf_printf(b, i ? ",%u" : "%u", (unsigned)c[i]);
	otas__buf_putc(b, '}');
}

void
otas__hist_parse_text(const char *s, uint32_t c[OTAS__HIST_BINS])
{
	int i = 0;

	memset(c, 0, sizeof *c * OTAS__HIST_BINS);
	if (!s)
		return;
	if (*s == '{')
		s++;
	while (*s && *s != '}' && i < OTAS__HIST_BINS) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s) { /* NULL */
			v = 0;
			end = (char *)s + strcspn(s, ",}");
		}
		c[i++] = (uint32_t)v;
		s = end;
		if (*s == ',')
			s++;
	}
}

int64_t
otas__rollup_bucket(int64_t ts_us, int64_t res_s)
{
	int64_t w = res_s * 1000000;
	int64_t b = (ts_us / w) * w;

	if (ts_us < 0 && b != ts_us)
		b -= w;
	return b;
}

/* The order every rollup key and row sorts by first: project,
 * resolution, bucket, then the tag (a NULL tag: the plain rows, no tag
 * to compare).  The callers go on with their own columns. */
static int
head_cmp(int64_t p1, int64_t r1, int64_t b1, const char *t1, int64_t p2,
         int64_t r2, int64_t b2, const char *t2)
{
	if (p1 != p2)
		return p1 < p2 ? -1 : 1;
	if (r1 != r2)
		return r1 < r2 ? -1 : 1;
	if (b1 != b2)
		return b1 < b2 ? -1 : 1;
	return t1 ? strcmp(t1, t2) : 0;
}

typedef struct {
	int64_t project, res_s, bucket_us;
	const otas__event_t *e;
	const char *route;
	const char *tag;        /* tag rows; NULL in the plain ones */
	int unmatched;
	int first;              /* after the sort: the first of its row */
} rkey_t;

static int
rkey_cmp(const void *a, const void *b)
{
	const rkey_t *x = a, *y = b;
	int c;

	if ((c = head_cmp(x->project, x->res_s, x->bucket_us, x->tag,
	                  y->project, y->res_s, y->bucket_us, y->tag)) != 0)
		return c;
	if ((c = strcmp(x->e->method, y->e->method)) != 0)
		return c;
	if ((c = strcmp(x->route, y->route)) != 0)
		return c;
	if (x->e->status != y->e->status)
		return x->e->status < y->e->status ? -1 : 1;
	return x->unmatched - y->unmatched;
}

/* tags: one key per (event, distinct tag, resolution), else one per
 * (event, resolution). */
static int
build(otas__store_job_t *batch, int tags, otas__rollup_row_t **rows,
      size_t *n)
{
	static const int64_t res[3] = {OTAS__ROLLUP_MINUTE, OTAS__ROLLUP_HOUR,
	                               OTAS__ROLLUP_DAY};
	rkey_t *k = NULL;
	size_t nk = 0, cap = 0, nr = 0;
	otas__rollup_row_t *out = NULL;

	*rows = NULL;
	*n = 0;
	for (otas__store_job_t *j = batch; j; j = j->next)
		for (size_t i = 0; i < j->n; i++) {
			const otas__event_t *e = &j->ev[i];
			int64_t ts;
			const char *route, *tag = tags ? e->tags : NULL;
			size_t nt = tags ? e->n_tags : 1;
			int um;
			if (e->reject || !e->doc || !e->inserted)
				continue;
			/* the ts the stores insert */
			ts = e->ts_us ? e->ts_us : j->received_us;
			route = e->route ? e->route : e->path;
			um = strcmp(route, e->path) == 0;
			for (size_t t = 0; t < nt; t++) {
				while (nk + 3 > cap) {
					cap = cap ? cap * 2 : 256;
					k = realloc(k, cap * sizeof *k);
					if (!k)
						abort();
				}
				for (int r = 0; r < 3; r++) {
					int64_t b = otas__rollup_bucket(ts, res[r]);
					k[nk++] = (rkey_t){j->project_pk, res[r], b, e,
					                   route, tag, um, 0};
				}
				if (tag)
					tag += strlen(tag) + 1;
			}
		}
	if (!nk)
		return 0;
	qsort(k, nk, sizeof *k, rkey_cmp);
	/* As many rows as distinct keys, not one per key: a row holds a
	 * 512-byte histogram, and a group's keys (three per event) are
	 * mostly alike, so zeroing one per key was ~1 MB of fresh memory
	 * (page faults) per commit of the engine's batches. */
	for (size_t i = 0; i < nk; i++) {
		k[i].first = i == 0 || rkey_cmp(&k[i - 1], &k[i]) != 0;
		nr += k[i].first;
	}
	out = calloc(nr, sizeof *out);
	if (!out)
		abort();
	nr = 0;
	for (size_t i = 0; i < nk; i++) {
		const otas__event_t *e = k[i].e;
		otas__rollup_row_t *r;
		double ms = e->latency_ms;
		if (k[i].first) {
			r = &out[nr++];
			r->project = k[i].project;
			r->res_s = k[i].res_s;
			r->bucket_us = k[i].bucket_us;
			r->method = e->method;
			r->route = k[i].route;
			r->status = e->status;
			r->unmatched = k[i].unmatched;
			r->tag = k[i].tag;
			r->lat_min = r->lat_max = ms;
		}
		r = &out[nr - 1];
		r->n++;
		r->errors += e->status >= 400 || e->is_error;
		r->lat_sum += ms;
		if (ms < r->lat_min)
			r->lat_min = ms;
		if (ms > r->lat_max)
			r->lat_max = ms;
		r->hist[otas__hist_bin(ms)]++;
	}
	free(k);
	*rows = out;
	*n = nr;
	return 0;
}

int
otas__rollup_build(otas__store_job_t *batch, otas__rollup_row_t **rows,
                   size_t *n)
{
	return build(batch, 0, rows, n);
}

int
otas__rollup_build_tags(otas__store_job_t *batch, otas__rollup_row_t **rows,
                        size_t *n)
{
	return build(batch, 1, rows, n);
}

/* rollup.h */
void
otas__doc_exception(const char *doc, size_t len, char **type, char **msg,
              char **stack)
{
	json_t *d = doc ? json_loadb(doc, len, JSON_ALLOW_NUL, NULL) : NULL;
	json_t *e = json_array_get(
	    json_object_get(json_object_get(d, "metadata"), "errors"), 0);
	const char *t = NULL, *m = NULL, *st = NULL;

	*type = *msg = *stack = NULL;
	if (json_is_object(e)) {
		t = json_string_value(json_object_get(e, "type"));
		m = json_string_value(json_object_get(e, "message"));
		st = json_string_value(json_object_get(e, "stack"));
	} else if (json_is_array(e)) {
		t = json_string_value(json_array_get(e, 0));
		m = json_string_value(json_array_get(e, 1));
		st = json_string_value(json_array_get(e, 2));
	}
	if (t && *t) {
		*type = strdup(t);
		*msg = m ? strdup(m) : NULL;
		*stack = st ? strdup(st) : NULL;
	} else if ((t = json_string_value(json_object_get(d, "error"))) && *t) {
		const char *colon = strstr(t, ": ");
		size_t n = colon ? (size_t)(colon - t) : strlen(t);
		if (n > 200)
			n = 200;
		*type = strndup(t, n);
		*msg = strdup(colon ? colon + 2 : "");
	}
	json_decref(d);
}

void
otas__error_key(otas__buf_t *b, const char *type, long long status,
                const char *method, const char *route, int unmatched)
{
	const char *rt = unmatched ? "(unmatched)" : route;

	if (type) {
		otas__buf_puts(b, "x\t");
		otas__buf_puts(b, type);
		otas__buf_putc(b, '\t');
		otas__buf_puts(b, method);
	} else {
		otas__buf_printf(b, "s\t%lld\t", status);
		otas__buf_puts(b, unmatched ? "*" : method);
	}
	otas__buf_putc(b, '\t');
	otas__buf_puts(b, rt);
}

typedef struct {
	int64_t project, res_s, bucket_us, ts;
	int company;
	const char *id;
	const otas__event_t *e;
	const char *tag;        /* tag rows; NULL in the plain ones */
} pkey_t;

static int
pkey_cmp(const void *a, const void *b)
{
	const pkey_t *x = a, *y = b;
	int c;

	if ((c = head_cmp(x->project, x->res_s, x->bucket_us, x->tag,
	                  y->project, y->res_s, y->bucket_us, y->tag)) != 0)
		return c;
	if (x->company != y->company)
		return x->company - y->company;
	return strcmp(x->id, y->id);
}

/* tags: each event's keys once per distinct tag (ev->tags). */
static int
people_build(otas__store_job_t *batch, int tags, otas__people_agg_t **rows,
             size_t *n)
{
	static const int64_t res[2] = {3600, 86400};
	pkey_t *k = NULL;
	size_t nk = 0, cap = 0, nr = 0, k0, *off = NULL;
	otas__people_agg_t *out;
	otas__buf_t ak;         /* agent keys, NUL-separated */
	char *tail;

	*rows = NULL;
	*n = 0;
	otas__buf_init(&ak);
	for (otas__store_job_t *j = batch; j; j = j->next)
		for (size_t i = 0; i < j->n; i++) {
			const otas__event_t *e = &j->ev[i];
			int64_t ts;
			int agent, err;
			if (e->reject || !e->doc || !e->inserted)
				continue;
			agent = e->agent_id[0] != '\0';
			err = e->status >= 400 || e->is_error;
			if (!e->user_id && !e->company_id && !agent && !err)
				continue;
			if (tags && !e->n_tags)
				continue;
			ts = e->ts_us ? e->ts_us : j->received_us;
			k0 = nk;
			/* keys an event makes at most: 2 agent, 2 error,
			 * 4 user/company, 4 per route */
			if (nk + 12 > cap) {
				cap = cap ? cap * 2 : 256;
				k = realloc(k, cap * sizeof *k);
				off = realloc(off, cap * sizeof *off);
				if (!k || !off)
					abort();
			}
			if (agent) {
				/* OTAS__PEOPLE_AGENT: agent \t session \t method \t route */
				size_t o = ak.len;
				otas__buf_puts(&ak, e->agent_id);
				otas__buf_putc(&ak, '\t');
				otas__buf_puts(&ak, e->agent_session_id);
				otas__buf_putc(&ak, '\t');
				otas__buf_puts(&ak, e->method ? e->method : "");
				otas__buf_putc(&ak, '\t');
				otas__buf_puts(&ak, e->route ? e->route : "");
				otas__buf_append(&ak, "", 1); /* keep the NUL */
				if (ak.oom)
					abort();
				for (int r = 0; r < 2; r++) {
					off[nk] = o;
					k[nk++] = (pkey_t){
					    j->project_pk, res[r], otas__rollup_bucket(ts, res[r]),
					    ts, OTAS__PEOPLE_AGENT, NULL, e, NULL};
				}
			}
			if (err) {
				char *type, *msg, *stack;
				size_t o = ak.len;
				int um = e->route && e->path && strcmp(e->route, e->path) == 0;
				otas__doc_exception(e->doc, e->doc_len, &type, &msg, &stack);
				free(msg);
				free(stack);
				otas__error_key(&ak,
				                type ? type : e->status < 400 ? "error" : NULL,
				                e->status, e->method ? e->method : "",
				                e->route ? e->route : "", um);
				free(type);
				otas__buf_append(&ak, "", 1);
				if (ak.oom)
					abort();
				for (int r = 0; r < 2; r++) {
					off[nk] = o;
					k[nk++] = (pkey_t){
					    j->project_pk, res[r], otas__rollup_bucket(ts, res[r]),
					    ts, OTAS__PEOPLE_ERROR, NULL, e, NULL};
				}
			}
			for (int c = 0; c < 2; c++) {
				const char *id = c ? e->company_id : e->user_id;
				size_t o = ak.len;
				if (!id)
					continue;
				for (int r = 0; r < 2; r++) {
					off[nk] = 0;
					k[nk++] = (pkey_t){j->project_pk, res[r],
					                   otas__rollup_bucket(ts, res[r]),
					                   ts, c, id, e, NULL};
				}
				if (tags)
					continue; /* per route: not per tag as well */
				/* OTAS__PEOPLE_ROUTE_*: route \t id */
				otas__buf_puts(&ak, e->route ? e->route : "");
				otas__buf_putc(&ak, '\t');
				otas__buf_puts(&ak, id);
				otas__buf_append(&ak, "", 1);
				if (ak.oom)
					abort();
				for (int r = 0; r < 2; r++) {
					off[nk] = o;
					k[nk++] = (pkey_t){j->project_pk, res[r],
					                   otas__rollup_bucket(ts, res[r]), ts,
					                   c ? OTAS__PEOPLE_ROUTE_COMPANY
					                     : OTAS__PEOPLE_ROUTE_USER,
					                   NULL, e, NULL};
				}
			}
			if (tags) {
				/* the event's keys [k0, nk), once per tag */
				size_t m = nk - k0;
				const char *tag = e->tags;
				while (k0 + m * e->n_tags > cap) {
					cap *= 2;
					k = realloc(k, cap * sizeof *k);
					off = realloc(off, cap * sizeof *off);
					if (!k || !off)
						abort();
				}
				for (size_t t = 0; t < e->n_tags; t++) {
					size_t at = k0 + t * m;
					for (size_t x = 0; x < m; x++) {
						k[at + x] = k[k0 + x];
						off[at + x] = off[k0 + x];
						k[at + x].tag = tag;
					}
					tag += strlen(tag) + 1;
				}
				nk = k0 + m * e->n_tags;
			}
		}
	if (!nk) {
		otas__buf_free(&ak);
		free(off);
		return 0;
	}
	for (size_t i = 0; i < nk; i++)
		if (k[i].company >= OTAS__PEOPLE_AGENT)
			k[i].id = ak.data + off[i];
	free(off);
	qsort(k, nk, sizeof *k, pkey_cmp);
	/* the rows, then the agent keys they point to: one free() */
	out = calloc(1, nk * sizeof *out + ak.len + 1);
	if (!out)
		abort();
	tail = (char *)(out + nk);
	if (ak.len)
		memcpy(tail, ak.data, ak.len);
	for (size_t i = 0; i < nk; i++) {
		const otas__event_t *e = k[i].e;
		otas__people_agg_t *r;
		if (i == 0 || pkey_cmp(&k[i - 1], &k[i]) != 0) {
			r = &out[nr++];
			r->project = k[i].project;
			r->res_s = k[i].res_s;
			r->bucket_us = k[i].bucket_us;
			r->company = k[i].company;
			r->id = k[i].company >= OTAS__PEOPLE_AGENT
			            ? tail + (k[i].id - ak.data)
			            : k[i].id;
			r->first_us = r->last_us = k[i].ts;
			r->tag = k[i].tag;
			if (r->company == OTAS__PEOPLE_ERROR)
				r->company_id = e->event_id[0] ? e->event_id : NULL;
		}
		r = &out[nr - 1];
		/* errors: the newest event's id (ties: the largest id) */
		if (r->company == OTAS__PEOPLE_ERROR && e->event_id[0] &&
		    (k[i].ts > r->last_us ||
		     (k[i].ts == r->last_us &&
		      (!r->company_id || strcmp(e->event_id, r->company_id) > 0))))
			r->company_id = e->event_id;
		r->n++;
		r->errors += e->status >= 400 || e->is_error;
		if (k[i].ts < r->first_us)
			r->first_us = k[i].ts;
		if (k[i].ts > r->last_us)
			r->last_us = k[i].ts;
		if ((r->company == 0 || r->company == OTAS__PEOPLE_ROUTE_USER) &&
		    e->company_id &&
		    (!r->company_id || strcmp(e->company_id, r->company_id) > 0))
			r->company_id = e->company_id;
	}
	free(k);
	otas__buf_free(&ak);
	*rows = out;
	*n = nr;
	return 0;
}

int
otas__people_build(otas__store_job_t *batch, otas__people_agg_t **rows,
                   size_t *n)
{
	return people_build(batch, 0, rows, n);
}

int
otas__people_build_tags(otas__store_job_t *batch, otas__people_agg_t **rows,
                        size_t *n)
{
	return people_build(batch, 1, rows, n);
}

static char *
dup_or_die(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		abort();
	return d;
}

int
otas__event_from_stored(otas__event_t *ev, const otas__stored_event_t *s)
{
	int rc = otas__event_parse(s->doc, s->doc_len, ev, NULL, NULL);

	/* Stored documents passed ingest's checks; one written otherwise
	 * (missing a field the columns hold) still names its metadata, as
	 * the raw filters read it.  A value jansson refuses never matches a
	 * raw filter, so neither does its event here. */
	if (rc != OTAS__INGEST_OK &&
	    (rc != 1 || !ev->doc ||
	     (ev->reject && strcmp(ev->reject, "invalid_json_value") == 0))) {
		otas__event_clear(ev);
		return -1;
	}
	ev->reject = NULL;
	free(ev->method);
	free(ev->path);
	free(ev->route);
	ev->method = dup_or_die(s->method);
	ev->path = dup_or_die(s->path);
	ev->route = dup_or_die(s->route);
	ev->ts_us = s->ts_us;
	ev->status = s->status;
	ev->is_error = s->is_error;
	ev->latency_ms = s->latency_ms;
	snprintf(ev->event_id, sizeof ev->event_id, "%s",
	         s->event_id ? s->event_id : "");
	snprintf(ev->agent_id, sizeof ev->agent_id, "%s",
	         s->agent_id ? s->agent_id : "");
	snprintf(ev->agent_session_id, sizeof ev->agent_session_id, "%s",
	         s->agent_session_id ? s->agent_session_id : "");
	ev->inserted = 1;
	return 0;
}

/* rollup.h otas__rollup_acc_t */
static int
rrow_cmp(const otas__rollup_row_t *x, const otas__rollup_row_t *y)
{
	int c;

	if ((c = head_cmp(x->project, x->res_s, x->bucket_us, x->tag,
	                  y->project, y->res_s, y->bucket_us, y->tag)) != 0)
		return c;
	if ((c = strcmp(x->method, y->method)) != 0)
		return c;
	if ((c = strcmp(x->route, y->route)) != 0)
		return c;
	if (x->status != y->status)
		return x->status < y->status ? -1 : 1;
	return x->unmatched - y->unmatched;
}

static int
prow_cmp(const otas__people_agg_t *x, const otas__people_agg_t *y)
{
	int c;

	if ((c = head_cmp(x->project, x->res_s, x->bucket_us, x->tag,
	                  y->project, y->res_s, y->bucket_us, y->tag)) != 0)
		return c;
	if (x->company != y->company)
		return x->company - y->company;
	return strcmp(x->id, y->id);
}

/* s1 \0 s2 \0 s3 \0 in one block; *a, *b, *c point into it */
static void
own3(const char **a, const char **b, const char **c)
{
	size_t la = strlen(*a) + 1, lb = strlen(*b) + 1, lc = strlen(*c) + 1;
	char *m = malloc(la + lb + lc);

	if (!m)
		abort();
	memcpy(m, *a, la);
	memcpy(m + la, *b, lb);
	memcpy(m + la + lb, *c, lc);
	*a = m;
	*b = m + la;
	*c = m + la + lb;
}

static char *
own_str(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		abort();
	return d;
}

void
otas__rollup_acc_add(otas__rollup_acc_t *a, const otas__rollup_row_t *r,
                     size_t n)
{
	otas__rollup_row_t *out = malloc((a->nr + n + 1) * sizeof *out);
	size_t i = 0, j = 0, k = 0;

	if (!out)
		abort();
	while (i < a->nr || j < n) {
		int c = i == a->nr ? 1 : j == n ? -1 : rrow_cmp(&a->r[i], &r[j]);
		if (c < 0) {
			out[k++] = a->r[i++];
		} else if (c > 0) {
			out[k] = r[j++];
			own3(&out[k].method, &out[k].route, &out[k].tag);
			k++;
		} else {
			/* P_TAGS_UPSERT / S_TAGS_UPSERT's merge */
			otas__rollup_row_t *x = &a->r[i++];
			const otas__rollup_row_t *y = &r[j++];
			x->n += y->n;
			x->errors += y->errors;
			x->lat_sum += y->lat_sum;
			if (y->lat_min < x->lat_min)
				x->lat_min = y->lat_min;
			if (y->lat_max > x->lat_max)
				x->lat_max = y->lat_max;
			for (int b = 0; b < OTAS__HIST_BINS; b++)
				x->hist[b] += y->hist[b];
			out[k++] = *x;
		}
	}
	free(a->r);
	a->r = out;
	a->nr = k;
}

void
otas__rollup_acc_add_people(otas__rollup_acc_t *a,
                            const otas__people_agg_t *p, size_t n)
{
	otas__people_agg_t *out = malloc((a->np + n + 1) * sizeof *out);
	size_t i = 0, j = 0, k = 0;

	if (!out)
		abort();
	while (i < a->np || j < n) {
		int c = i == a->np ? 1 : j == n ? -1 : prow_cmp(&a->p[i], &p[j]);
		if (c < 0) {
			out[k++] = a->p[i++];
		} else if (c > 0) {
			const char *none = "";
			out[k] = p[j++];
			own3(&out[k].id, &out[k].tag, &none);
			out[k].company_id = own_str(out[k].company_id);
			k++;
		} else {
			/* P_PTAGS_UPSERT / SQ_PTAGS_UPSERT's merge */
			otas__people_agg_t *x = &a->p[i++];
			const otas__people_agg_t *y = &p[j++];
			int take;
			if (x->company != OTAS__PEOPLE_ERROR)
				take = !x->company_id && y->company_id;
			else
				take = y->last_us > x->last_us ||
				       (y->last_us == x->last_us && x->company_id &&
				        y->company_id &&
				        strcmp(y->company_id, x->company_id) > 0);
			if (take) {
				free((char *)x->company_id);
				x->company_id = own_str(y->company_id);
			}
			x->n += y->n;
			x->errors += y->errors;
			if (y->first_us < x->first_us)
				x->first_us = y->first_us;
			if (y->last_us > x->last_us)
				x->last_us = y->last_us;
			out[k++] = *x;
		}
	}
	free(a->p);
	a->p = out;
	a->np = k;
}

static void
acc_drop_done(otas__rollup_acc_t *a)
{
	for (size_t i = 0; i < a->nrdone; i++)
		free((char *)a->rdone[i].method);
	for (size_t i = 0; i < a->npdone; i++) {
		free((char *)a->pdone[i].id);
		free((char *)a->pdone[i].company_id);
	}
	free(a->rdone);
	free(a->pdone);
	a->rdone = NULL;
	a->pdone = NULL;
	a->nrdone = a->npdone = 0;
}

#define ACC_CLOSED(x)                                                  \
	(all || (x)->project < project ||                                  \
	 ((x)->project == project &&                                       \
	  (x)->bucket_us + (x)->res_s * 1000000 <= ts_us))

void
otas__rollup_acc_take(otas__rollup_acc_t *a, int64_t project, int64_t ts_us,
                      int all)
{
	size_t keep = 0;

	acc_drop_done(a);
	a->rdone = malloc((a->nr + 1) * sizeof *a->rdone);
	a->pdone = malloc((a->np + 1) * sizeof *a->pdone);
	if (!a->rdone || !a->pdone)
		abort();
	for (size_t i = 0; i < a->nr; i++) {
		if (ACC_CLOSED(&a->r[i]))
			a->rdone[a->nrdone++] = a->r[i];
		else
			a->r[keep++] = a->r[i];
	}
	a->nr = keep;
	keep = 0;
	for (size_t i = 0; i < a->np; i++) {
		if (ACC_CLOSED(&a->p[i]))
			a->pdone[a->npdone++] = a->p[i];
		else
			a->p[keep++] = a->p[i];
	}
	a->np = keep;
}

void
otas__rollup_acc_free(otas__rollup_acc_t *a)
{
	acc_drop_done(a);
	otas__rollup_acc_take(a, 0, 0, 1);
	acc_drop_done(a);
	free(a->r);
	free(a->p);
	memset(a, 0, sizeof *a);
}
