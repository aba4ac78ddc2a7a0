/*
 * event.c -- serialise one captured record (see event.h).
 *
 * Field rules (PROTOCOL.md): nothing is ever null -- absent numbers are 0
 * and absent strings "" -- because the platform answers 500 for a null in
 * a non-null column; method is cut to 20 characters and content types to
 * 255; sizes are the full sizes even when a body was cut; request_headers,
 * response_headers, query_params and post_data are JSON documents
 * serialised into strings.  The agent session token is lifted out of the
 * request headers into its own field, and its header value is redacted
 * like every other sensitive header.
 *
 * Bodies: decoded from gzip when the request says Content-Encoding: gzip
 * (bounded by the body cap), redacted by rules while still whole (a cut
 * JSON document does not parse), then cut at OTAS_MAX_BODY_BYTES on a
 * UTF-8 boundary.  A body that is not UTF-8 is sent as base64 and named in
 * metadata.body_encoding.
 */
#include "event/event.h"

#include <ctype.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "common/gunzip.h"
#include "common/hash.h"
#include "event/headers.h"
#include "event/identity.h"
#include "common/json.h"
#include "event/redact_body.h"
#include "event/redact_names.h"
#include "event/route.h"

#define METHOD_MAX 20
#define CTYPE_MAX 255

/* Media type of a Content-Type value, without parameters. */
static int
ctype_is(const char *ct, size_t n, const char *what)
{
	size_t i = 0, k = strlen(what);

	while (i < n && (ct[i] == ' ' || ct[i] == '\t'))
		i++;
	if (n - i < k || strncasecmp(ct + i, what, k) != 0)
		return 0;
	i += k;
	return i == n || ct[i] == ';' || ct[i] == ' ' || ct[i] == '\t' ||
	       ct[i] == ',';
}

/* The media type's first `what`-long bytes are `what` (a prefix such as
 * "multipart/"). */
static int
ctype_starts(const char *ct, size_t n, const char *what)
{
	size_t k = strlen(what);

	while (n && (*ct == ' ' || *ct == '\t'))
		ct++, n--;
	return n >= k && strncasecmp(ct, what, k) == 0;
}

static int
ctype_json(const char *ct, size_t n)
{
	size_t e;

	if (ctype_is(ct, n, "application/json"))
		return 1;
	/* application/<anything>+json */
	for (e = 0; e < n && ct[e] != ';' && ct[e] != ' ' && ct[e] != '\t' &&
	            ct[e] != ',';
	     e++)
		;
	/* Only the last five bytes of the type can be the "+json". */
	return e >= 5 && strncasecmp(ct + e - 5, "+json", 5) == 0;
}

/* Request bodies recorded by size only, whatever the host handed over
 * (the view may have read them itself): uploads and binary payloads.
 * Binary responses stay base64 (metadata.body_encoding). */
static int
ctype_size_only(const char *ct, size_t n)
{
	static const char *const top[] = {"multipart/", "image/", "audio/",
	                                  "video/", "font/"};
	/* After "application/". */
	static const char *const app[] = {
	    "octet-stream", "zip", "gzip", "x-gzip", "x-tar", "pdf", "x-7z",
	    "x-rar", "vnd.ms-", "vnd.openxmlformats", "x-protobuf", "grpc"};
	size_t i;
	int c;

	if (!ct)
		return 0;
	while (n && (*ct == ' ' || *ct == '\t'))
		ct++, n--;
	if (!n)
		return 0;
	/* "application/" once, then its subtypes; every prefix only when
	 * its first byte matches (tolower: what strncasecmp compares). */
	if (n >= 12 && strncasecmp(ct, "application/", 12) == 0) {
		ct += 12, n -= 12;
		c = n ? tolower((unsigned char)*ct) : -1;
		for (i = 0; i < sizeof(app) / sizeof(app[0]); i++) {
			size_t k = strlen(app[i]);
			if (c == app[i][0] && n >= k &&
			    strncasecmp(ct, app[i], k) == 0)
				return 1;
		}
		return 0;
	}
	c = tolower((unsigned char)*ct);
	for (i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		if (c == top[i][0] && ctype_starts(ct, n, top[i]))
			return 1;
	return 0;
}

/* The body looks like a JSON document: first non-blank byte { or [. */
static int
body_json(const char *d, size_t n)
{
	size_t i = 0;

	while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' ||
	                 d[i] == '\n'))
		i++;
	return i < n && (d[i] == '{' || d[i] == '[');
}

static int
enc_gzip(const char *v, size_t n)
{
	while (n && v[0] == ' ')
		v++, n--;
	while (n && v[n - 1] == ' ')
		n--;
	return (n == 4 && strncasecmp(v, "gzip", 4) == 0) ||
	       (n == 6 && strncasecmp(v, "x-gzip", 6) == 0);
}

typedef struct {
	int truncated;
	int base64;
} body_facts_t;

/* Write one body as a JSON string value into out. */
static void
write_body(const otas__event_ctx_t *ctx, int is_req, const char *data, size_t len,
           int skip,
           const char *ct, size_t ct_len, const char *ce, size_t ce_len,
           const otas__jsonpath_set_t *rules, otas__buf_t *out,
           otas__buf_t *t1, otas__buf_t *t2, body_facts_t *bf)
{
	size_t cap = ctx->max_body_bytes, cut;
	int inflate_cut = 0;

	bf->truncated = bf->base64 = 0;
	if (skip || !ctx->capture_bodies || !len ||
	    (is_req && ctype_size_only(ct, ct_len))) {
		otas__buf_puts(out, "\"\"");
		return;
	}
	if (ce && enc_gzip(ce, ce_len)) {
		otas__buf_reset(t1);
		if (otas__gunzip_prefix(data, len, cap + 1, t1, &inflate_cut) == 0) {
			data = t1->data;
			len = t1->len;
		} else {
			otas__buf_reset(t1); /* not gzip after all: raw */
			inflate_cut = 0;
		}
	}
	/* JSON by the declared type or by the body itself (a view's
	 * json.loads() does not look at the type): redacted as JSON, and
	 * replaced whole when it does not parse. */
	if (((ct && ctype_json(ct, ct_len)) ||
	     (!(ct && ctype_is(ct, ct_len,
	                       "application/x-www-form-urlencoded")) &&
	      body_json(data, len))) &&
	    ((rules && otas__jsonpath_count(rules) > 0) ||
	     ctx->params.defaults || ctx->params.n)) {
		int rc = 0;
		/* Redacted and escaped into the event in one pass, unless
		 * the result is longer than the cap (1: cut below, the long
		 * way) or the body does not parse (-1: the marker). */
		if (!inflate_cut) {
			rc = otas__redact_json_names_str(rules, &ctx->params,
			                                 data, len, cap, out);
			if (rc == 0 || out->oom)
				return;
		}
		otas__buf_reset(t2);
		if (inflate_cut || rc < 0 ||
		    otas__redact_json_names(rules, &ctx->params, data, len,
		                            t2) != 0) {
			otas__buf_reset(t2);
			otas__buf_puts(t2, OTAS__UNPARSEABLE_MARKER);
		}
		data = t2->data;
		len = t2->len;
	} else if (ct && ctype_is(ct, ct_len,
	                          "application/x-www-form-urlencoded")) {
		otas__buf_reset(t2);
		otas__redact_urlencoded(rules, &ctx->params, data, len, t2);
		data = t2->data;
		len = t2->len;
	}
	if (inflate_cut || len > cap)
		bf->truncated = 1;
	/* Cut on a UTF-8 boundary so that a text body stays text. */
	cut = otas__utf8_cut(data, len, cap);
	/* Text is valid UTF-8 without NUL (which PostgreSQL text refuses),
	 * checked in the escaping pass; anything else goes as base64. */
	if (otas__json_str_text(out, data, cut) != 0) {
		bf->base64 = 1;
		otas__buf_putc(out, '"');
		otas__base64(out, (const unsigned char *)data,
		             len > cap ? cap : len);
		otas__buf_putc(out, '"');
	}
}

/* Names the serialiser writes under metadata itself.  A host metadata
 * member with one of these names would be written twice: the policy is
 * "ours win, the host's is kept under metadata.app" (README).  The OTel
 * ids (trace_id, span_id, parent_span_id) are not here: the adapters add
 * them to the metadata they pass, the engine does not write them. */
static const char *const reserved_metadata[] = {
    "event_id", "timestamp", "sdk", "host", "route", "client_ip",
    "user_id", "company_id", "session_token", "traceparent", "tags",
    "service_version", "direction", "url", "parent_event_id", "truncated",
    "body_encoding", "errors", NULL};

static int
reserved_key(const char *k)
{
	const char *const *p;

	for (p = reserved_metadata; *p; p++)
		if (strcmp(*p, k) == 0)
			return 1;
	return 0;
}

/* The host's metadata object with its members named like ours moved
 * under "app" (merged into an "app" object of its own; a non-object
 * "app" is kept as app.app).  Returns o (a new reference) or NULL on
 * oom. */
static json_t *
metadata_policy(json_t *o)
{
	json_t *app = NULL, *old, *v, *copy;
	const char *k;
	void *tmp;

	json_object_foreach_safe(o, tmp, k, v) {
		if (!reserved_key(k))
			continue;
		if (!app) {
			old = json_object_get(o, "app");
			if (json_is_object(old))
				app = json_copy(old);
			else if (old)
				app = json_pack("{sO}", "app", old);
			else
				app = json_object();
			if (!app)
				return NULL;
		}
		if (json_object_set(app, k, v) != 0 || json_object_del(o, k) != 0)
			goto fail;
	}
	if (app) {
		copy = o;
		if (json_object_set_new(copy, "app", app) != 0)
			return NULL;
	}
	return o;
fail:
	json_decref(app);
	return NULL;
}

/* Merge the host's metadata object (members first, then ours; see
 * metadata_policy for names that collide).  Invalid JSON is ignored; a
 * non-object value is kept as metadata.value. */
static void
write_user_metadata(const char *js, size_t n, otas__buf_t *out)
{
	json_t *o;
	const char *k;
	json_t *v;
	char *dump;
	int first = 1;

	if (!js || !n)
		return;
	o = json_loadb(js, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	if (!o)
		return;
	if (!json_is_object(o)) {
		json_t *w = json_pack("{so}", "value", o);
		if (!w)
			return;
		o = w;
	}
	if (!metadata_policy(o)) {
		json_decref(o);
		return;
	}
	json_object_foreach(o, k, v) {
		dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!dump)
			continue;
		if (!first)
			otas__buf_putc(out, ',');
		otas__json_str(out, k, strlen(k));
		otas__buf_putc(out, ':');
		otas__buf_puts(out, dump);
		free(dump);
		first = 0;
	}
	if (!first)
		otas__buf_putc(out, ',');
	json_decref(o);
}

static void
field_n(otas__buf_t *out, const char *name, size_t name_len, const char *s,
        size_t n)
{
	otas__buf_append(out, name, name_len);
	otas__json_str(out, s ? s : "", s ? n : 0);
}

/* ,"name":"value": name is a string literal (its comma and length are
 * known at compile time). */
#define field(out, name, s, n)                                             \
	field_n((out), "," name, sizeof("," name) - 1, (s), (n))

/* A free-text field (error messages, stacks): URLs in it lose their
 * userinfo and sensitive query values (a failed call's exception names
 * its URL).  `name` may be NULL: the value only. */
static void
text_field(const otas__event_ctx_t *ctx, otas__buf_t *out, const char *name,
           const char *s, size_t n, otas__buf_t *tmp)
{
	if (name)
		otas__buf_puts(out, name);
	otas__buf_reset(tmp);
	if (s && n)
		otas__scrub_text(&ctx->params, s, n, tmp);
	otas__json_str(out, tmp->data ? tmp->data : "", tmp->data ? tmp->len : 0);
}

/* metadata.url of an outgoing call: scheme://host/path?query with the
 * query redacted like query_params, so the one field a person reads first
 * never shows a secret the rest of the event hides. */
static void
write_outgoing_url(const otas__event_ctx_t *ctx, const otas_capture_t *c,
                   const otas__hdr_facts_t *rq, otas__buf_t *out)
{
	otas__buf_t url = OTAS__BUF_INIT;

	if (c->scheme_len) {
		otas__buf_append(&url, c->scheme, c->scheme_len);
		otas__buf_puts(&url, "://");
	}
	otas__buf_append(&url, rq->host, rq->host_len);
	otas__buf_append(&url, c->path, c->path_len);
	if (c->query_len) {
		otas__buf_putc(&url, '?');
		otas__redact_urlencoded(ctx->req_rules, &ctx->params, c->query,
		                        c->query_len, &url);
	}
	if (!url.oom)
		field(out, "\"url\":", url.data, url.len);
	otas__buf_free(&url);
}

/* d digits of v, zero-padded, at o. */
static char *
digits(char *o, unsigned v, int d)
{
	int i;

	for (i = d - 1; i >= 0; i--, v /= 10)
		o[i] = (char)('0' + v % 10);
	return o + d;
}

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (what the printf format below wrote for
 * a positive time of a four-digit year), without printf. */
static void
iso_time(char *ts, const struct tm *tm, int usec)
{
	char *o = ts;

	o = digits(o, (unsigned)(tm->tm_year + 1900), 4);
	*o++ = '-';
	o = digits(o, (unsigned)tm->tm_mon + 1, 2);
	*o++ = '-';
	o = digits(o, (unsigned)tm->tm_mday, 2);
	*o++ = 'T';
	o = digits(o, (unsigned)tm->tm_hour, 2);
	*o++ = ':';
	o = digits(o, (unsigned)tm->tm_min, 2);
	*o++ = ':';
	o = digits(o, (unsigned)tm->tm_sec, 2);
	*o++ = '.';
	o = digits(o, (unsigned)usec, 6);
	*o++ = 'Z';
	*o = '\0';
}

/* The fields of gmtime_r that iso_time reads, for t >= 0 seconds since
 * the epoch: the civil date of the day count (H. Hinnant's
 * civil_from_days, exact over the proleptic Gregorian calendar), then
 * the time of day. */
static void
utc_tm(int64_t t, struct tm *tm)
{
	int64_t z = t / 86400 + 719468, era = z / 146097; /* z >= 0 */
	unsigned sod = (unsigned)(t % 86400);
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;

	memset(tm, 0, sizeof(*tm));
	tm->tm_year = (int)((int64_t)yoe + era * 400 + (m <= 2) - 1900);
	tm->tm_mon = (int)m - 1;
	tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->tm_hour = (int)(sod / 3600);
	tm->tm_min = (int)(sod / 60 % 60);
	tm->tm_sec = (int)(sod % 60);
}

/* ,"latency_ms":<ns / 1e6 with 3 decimals>.  Integer rounding gives
 * printf's "%.3f" of the double except at an exact tie (ns % 1000 ==
 * 500, where the double's binary value decides) and for durations the
 * double cannot hold exactly: those still go through printf. */
static void
put_latency(otas__buf_t *out, int64_t ns)
{
	char t[32], *o;
	int64_t us;

	if (ns <= 0) {
		otas__buf_puts(out, ",\"latency_ms\":0.000");
		return;
	}
	if (ns % 1000 == 500 || ns >= (int64_t)1 << 52) {
		otas__buf_printf(out, ",\"latency_ms\":%.3f",
		                 (double)ns / 1e6);
		return;
	}
	us = ns / 1000 + (ns % 1000 > 500);
	otas__buf_puts(out, ",\"latency_ms\":");
	otas__buf_put_int(out, us / 1000);
	o = t;
	*o++ = '.';
	o = digits(o, (unsigned)(us % 1000), 3);
	otas__buf_append(out, t, (size_t)(o - t));
}

int
otas__event_write(const otas__event_ctx_t *ctx, const char *project_id,
                  const struct otas__record_s *r, otas__buf_t *out,
                  const char **token, size_t *token_len)
{
	otas__event_scratch_t sc = {OTAS__BUF_INIT, OTAS__BUF_INIT,
	                            OTAS__BUF_INIT, OTAS__BUF_INIT,
	                            OTAS__BUF_INIT, OTAS__BUF_INIT};
	int rc = otas__event_write_with(ctx, project_id, r, out, &sc, token,
	                                token_len);

	otas__event_scratch_free(&sc);
	return rc;
}

void
otas__event_scratch_free(otas__event_scratch_t *sc)
{
	otas__buf_free(&sc->doc);
	otas__buf_free(&sc->name);
	otas__buf_free(&sc->t1);
	otas__buf_free(&sc->t2);
	otas__buf_free(&sc->hq);
	otas__buf_free(&sc->hr);
}

/* The working buffers are taken from sc (emptied) and given back at the
 * end with their memory: a sender reuses them from event to event. */
int
otas__event_write_with(const otas__event_ctx_t *ctx, const char *project_id,
                       const struct otas__record_s *r, otas__buf_t *out,
                       otas__event_scratch_t *sc, const char **token,
                       size_t *token_len)
{
	const otas_capture_t *c = &r->cap;
	otas__buf_t doc = sc->doc, name = sc->name;
	otas__buf_t t1 = sc->t1, t2 = sc->t2;
	otas__hdr_facts_t rq = {0}, rs = {0};
	body_facts_t bq, bs;
	int cgi = c->flags & OTAS_CAP_REQ_HEADERS_CGI;
	int64_t req_size, resp_size;
	size_t mlen, i;
	char ts[64];
	struct tm tm;
	time_t secs;
	int64_t us;
	size_t start = out->len;

	otas__buf_reset(&doc);
	otas__buf_reset(&name);
	otas__buf_reset(&t1);
	otas__buf_reset(&t2);
	*token = NULL;
	*token_len = 0;
	/* Room for the whole event up front: one allocation, not a doubling
	 * series (headers are written apart, then copied in). */
	{
		size_t cap = ctx->max_body_bytes, est = 1024;
		for (i = 0; i < c->n_req_headers; i++)
			est += c->req_headers[i].name_len +
			       c->req_headers[i].value_len + 16;
		for (i = 0; i < c->n_resp_headers; i++)
			est += c->resp_headers[i].name_len +
			       c->resp_headers[i].value_len + 16;
		est += (c->req_body_len < cap ? c->req_body_len : cap) +
		       (c->resp_body_len < cap ? c->resp_body_len : cap);
		est += c->path_len + 2 * c->query_len + c->metadata_json_len;
		otas__buf_reserve(out, est + est / 8);
	}
	otas__buf_puts(out, OTAS__EVENT_PREFIX);
	otas__json_str(out, project_id, strlen(project_id));
	field(out, "\"event_id\":", r->event_id, 36);

	/* Headers first: they tell the agent token and content types. */
	otas__buf_t hq = sc->hq, hr = sc->hr;
	otas__buf_reset(&hq);
	otas__buf_reset(&hr);
	otas__headers_write(ctx, 0, c->req_headers, c->n_req_headers, cgi, &hq,
	              &name, &t1, &rq);
	otas__headers_write(ctx, 1, c->resp_headers, c->n_resp_headers, 0, &hr,
	              &name, &t1, &rs);
	*token = rq.token;
	*token_len = rq.token_len;
	field(out, "\"agent_session_token\":", rq.token, rq.token_len);
	field(out, "\"path\":", c->path, c->path_len);
	mlen = otas__utf8_cut(c->method, c->method_len, METHOD_MAX);
	field(out, "\"method\":", c->method, mlen);
	otas__buf_puts(out, ",\"status_code\":");
	otas__buf_put_int(out, c->status);
	put_latency(out, c->duration_ns);
	req_size = c->req_body_size >= 0 ? c->req_body_size
	                                 : (int64_t)c->req_body_len;
	if (c->flags & OTAS_CAP_RESP_STREAMING)
		resp_size = c->resp_body_size > 0 ? c->resp_body_size : 0;
	else
		resp_size = c->resp_body_size >= 0 ? c->resp_body_size
		                                   : (int64_t)c->resp_body_len;
	otas__buf_puts(out, ",\"request_size_bytes\":");
	otas__buf_put_int(out, req_size);
	otas__buf_puts(out, ",\"response_size_bytes\":");
	otas__buf_put_int(out, resp_size);
	otas__buf_puts(out, ",\"request_headers\":");
	otas__buf_append(out, hq.data, hq.len);
	otas__buf_puts(out, ",\"response_headers\":");
	otas__buf_append(out, hr.data, hr.len);
	sc->hq = hq;
	sc->hr = hr;

	otas__buf_puts(out, ",\"request_body\":");
	write_body(ctx, 1, c->req_body, c->req_body_len,
	           c->flags & OTAS_CAP_REQ_BODY_SKIPPED, rq.ctype, rq.ctype_len,
	           rq.cenc, rq.cenc_len, ctx->req_rules, out, &t1, &t2, &bq);
	otas__buf_puts(out, ",\"response_body\":");
	write_body(ctx, 0, c->resp_body, c->resp_body_len,
	           c->flags & OTAS_CAP_RESP_STREAMING, rs.ctype, rs.ctype_len,
	           rs.cenc, rs.cenc_len, ctx->resp_rules, out, &t1, &t2, &bs);

	/* query_params / post_data: JSON documents inside strings ("{}",
	 * what an empty query converts to, written as it is). */
	if (c->query_len) {
		otas__buf_reset(&doc);
		otas__urlencoded_to_json(ctx->req_rules, &ctx->params,
		                         c->query, c->query_len, &doc);
		otas__buf_puts(out, ",\"query_params\":");
		otas__json_str(out, doc.data ? doc.data : "{}",
		               doc.data ? doc.len : 2);
	} else {
		otas__buf_puts(out, ",\"query_params\":\"{}\"");
	}
	if (ctx->capture_bodies && rq.ctype &&
	    ctype_is(rq.ctype, rq.ctype_len,
	             "application/x-www-form-urlencoded") &&
	    !(c->flags & OTAS_CAP_REQ_BODY_SKIPPED) && c->req_body_len) {
		otas__buf_reset(&doc);
		otas__urlencoded_to_json(ctx->req_rules, &ctx->params,
		                         c->req_body, c->req_body_len, &doc);
		otas__buf_puts(out, ",\"post_data\":");
		otas__json_str(out, doc.data, doc.len);
	} else {
		otas__buf_puts(out, ",\"post_data\":\"{}\"");
	}

	field(out, "\"request_content_type\":", rq.ctype,
	      rq.ctype ? otas__utf8_cut(rq.ctype, rq.ctype_len, CTYPE_MAX) : 0);
	field(out, "\"response_content_type\":", rs.ctype,
	      rs.ctype ? otas__utf8_cut(rs.ctype, rs.ctype_len, CTYPE_MAX) : 0);

	/* error: "Type: message" of the first error, "" when none. */
	otas__buf_puts(out, ",\"error\":");
	if (c->n_errors) {
		otas__buf_reset(&doc);
		otas__buf_append(&doc, c->errors[0].type, c->errors[0].type_len);
		if (c->errors[0].message_len) {
			otas__buf_puts(&doc, ": ");
			otas__buf_append(&doc, c->errors[0].message,
			                 c->errors[0].message_len);
		}
		text_field(ctx, out, NULL, doc.data, doc.len, &t1);
	} else {
		otas__buf_puts(out, "\"\"");
	}

	/* metadata */
	otas__buf_puts(out, ",\"metadata\":{");
	write_user_metadata(c->metadata_json, c->metadata_json_len, out);
	otas__buf_puts(out, "\"event_id\":");
	otas__json_str(out, r->event_id, 36);
	us = c->start_unix_us > 0 ? c->start_unix_us : r->capture_unix_us;
	secs = (time_t)(us / 1000000);
	if (us > 0)
		utc_tm((int64_t)secs, &tm); /* gmtime_r's fields, no call */
	else
		gmtime_r(&secs, &tm);
	if (us > 0 && tm.tm_year + 1900 <= 9999)
		iso_time(ts, &tm, (int)(us % 1000000));
	else
		snprintf(ts, sizeof(ts),
		         "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec,
		         (int)(us % 1000000) % 1000000);
	field(out, "\"timestamp\":", ts, strlen(ts));
	field(out, "\"sdk\":", ctx->sdk_name, strlen(ctx->sdk_name));
	if (rq.host_len || !c->server_host)
		field(out, "\"host\":", rq.host, rq.host_len);
	else /* no Host header: the server's name and port (PEP 3333) */
		field(out, "\"host\":", c->server_host, c->server_host_len);
	if (c->route) {
		/* A regex route (re_path, DRF's routers) as its template. */
		otas__buf_reset(&name);
		if (otas__route_template(c->route, c->route_len, &name))
			field(out, "\"route\":", name.data, name.len);
		else
			field(out, "\"route\":", c->route, c->route_len);
	}
	/* client_ip, user_id (host's, else the JWT), traceparent, tags,
	 * service_version: identity.c reads the raw headers. */
	otas__ident_write_metadata(ctx->ident, c, cgi, out);
	otas__buf_puts(out, (c->flags & OTAS_CAP_OUTGOING)
	                        ? ",\"direction\":\"outgoing\""
	                        : ",\"direction\":\"incoming\"");
	if (c->flags & OTAS_CAP_OUTGOING)
		write_outgoing_url(ctx, c, &rq, out);
	if (c->company_id)
		field(out, "\"company_id\":", c->company_id, c->company_id_len);
	if (c->parent_event_id)
		field(out, "\"parent_event_id\":", c->parent_event_id,
		      c->parent_event_id_len);
	if (c->session_token_len) {
		char hx[65];
		/* Never the raw value: a SHA-256, recognisable across
		 * events of one session. */
		if (otas__sha256_hex(c->session_token, c->session_token_len,
		                     hx) == 0)
			field(out, "\"session_token\":", hx, 64);
	}
	if (bq.truncated || bs.truncated) {
		otas__buf_puts(out, ",\"truncated\":[");
		if (bq.truncated)
			otas__buf_puts(out, "\"request\"");
		if (bs.truncated)
			otas__buf_puts(out, bq.truncated ? ",\"response\""
			                                 : "\"response\"");
		otas__buf_putc(out, ']');
	}
	if (bq.base64 || bs.base64) {
		otas__buf_puts(out, ",\"body_encoding\":{");
		if (bq.base64)
			otas__buf_puts(out, "\"request\":\"base64\"");
		if (bs.base64)
			otas__buf_puts(out, bq.base64 ? ",\"response\":\"base64\""
			                              : "\"response\":\"base64\"");
		otas__buf_putc(out, '}');
	}
	if (c->n_errors) {
		otas__buf_puts(out, ",\"errors\":[");
		for (i = 0; i < c->n_errors; i++) {
			const otas_error_t *e = &c->errors[i];
			if (i)
				otas__buf_putc(out, ',');
			otas__buf_puts(out, "{\"type\":");
			otas__json_str(out, e->type, e->type_len);
			text_field(ctx, out, ",\"message\":", e->message,
			           e->message_len, &t1);
			text_field(ctx, out, ",\"stack\":", e->stack,
			           e->stack_len, &t1);
			otas__buf_putc(out, '}');
		}
		otas__buf_putc(out, ']');
	}
	otas__buf_puts(out, "}}");

	if (ctx->debug && ctx->debug_fn) {
		/* OTAS_DEBUG: one line per event, with the event as sent. */
		char head[300];
		snprintf(head, sizeof(head), "otas: %.*s %.*s %d %.1fms ",
		         (int)mlen, c->method,
		         (int)(c->path_len > 200 ? 200 : c->path_len), c->path,
		         c->status, (double)c->duration_ns / 1e6);
		if (ctx->debug_fn)
			ctx->debug_fn(ctx->debug_ud, head,
			              out->data ? out->data + start : "",
			              out->len - start, rq.token, rq.token_len);
	}

	sc->doc = doc;
	sc->name = name;
	sc->t1 = t1;
	sc->t2 = t2;
	return out->oom ? -1 : 0;
}

/* ------------------------------------------------------------ context */

/* The configured header names, normalised, into one block. */
static int
hdr_list(otas__event_ctx_t *ctx, int k, char **names, size_t n, char **w)
{
	size_t i;

	ctx->hdr[k] = calloc(n ? n : 1, sizeof(otas__hdrname_t));
	if (!ctx->hdr[k])
		return -1;
	for (i = 0; i < n; i++) {
		size_t l = strlen(names[i]);
		otas__hdr_norm(names[i], l, *w, &ctx->hdr[k][i].n);
		ctx->hdr[k][i].s = *w;
		*w += ctx->hdr[k][i].n + 1;
	}
	ctx->n_hdr[k] = n;
	return 0;
}

otas__event_ctx_t *
otas__event_ctx_new(const otas_config_t *cfg, const char *sdk_name,
                    char *err, size_t errlen)
{
	otas__event_ctx_t *ctx = calloc(1, sizeof(*ctx));
	const char *lists[3];
	char **hn[3] = {NULL, NULL, NULL}, e2[512], *w;
	size_t nn[3], bytes = 0, i, j;

	if (!ctx)
		goto oom;
	lists[0] = cfg->sensitive_headers;
	lists[1] = cfg->request_header_masks;
	lists[2] = cfg->response_header_masks;
	for (i = 0; i < 3; i++) {
		hn[i] = otas__names_split(lists[i], &nn[i]);
		if (!hn[i])
			goto oom;
		for (j = 0; j < nn[i]; j++)
			bytes += strlen(hn[i][j]) + 1;
	}
	ctx->hdr_store = w = malloc(bytes ? bytes : 1);
	if (!w)
		goto oom;
	for (i = 0; i < 3; i++)
		if (hdr_list(ctx, (int)i, hn[i], nn[i], &w) != 0)
			goto oom;
	/* One name set for query, form and JSON names and header names:
	 * OTAS_SENSITIVE_QUERY_PARAMS, OTAS_REDACT_NAMES and the defaults. */
	{
		size_t l1 = strlen(cfg->sensitive_query_params);
		char *both = malloc(l1 + strlen(cfg->redact_names) + 2);
		if (!both)
			goto oom;
		memcpy(both, cfg->sensitive_query_params, l1);
		both[l1] = ',';
		strcpy(both + l1 + 1, cfg->redact_names);
		ctx->names_store = otas__names_split(both, &ctx->params.n);
		free(both);
		if (!ctx->names_store)
			goto oom;
	}
	ctx->params.names = (const char *const *)ctx->names_store;
	ctx->params.defaults = cfg->redact_default_names;
	if (otas__nameset_prepare(&ctx->params) != 0)
		goto oom;
	ctx->req_rules = otas__jsonpath_parse(cfg->redact_request_body, e2,
	                                      sizeof(e2));
	if (!ctx->req_rules) {
		if (err && errlen)
			snprintf(err, errlen, "OTAS_REDACT_REQUEST_BODY: %s: "
			         "fix the JSONPath rule", e2);
		goto fail;
	}
	ctx->resp_rules = otas__jsonpath_parse(cfg->redact_response_body, e2,
	                                       sizeof(e2));
	if (!ctx->resp_rules) {
		if (err && errlen)
			snprintf(err, errlen, "OTAS_REDACT_RESPONSE_BODY: %s: "
			         "fix the JSONPath rule", e2);
		goto fail;
	}
	ctx->ident = otas__ident_new(cfg);
	if (!ctx->ident)
		goto oom;
	snprintf(ctx->sdk_name, sizeof(ctx->sdk_name), "%s",
	         sdk_name ? sdk_name : "");
	ctx->max_body_bytes = cfg->max_body_bytes > 0
	                          ? (size_t)cfg->max_body_bytes
	                          : 0;
	ctx->capture_bodies = cfg->capture_bodies;
	ctx->debug = cfg->debug;
	{
		static uint64_t ids;
		ctx->id = __atomic_add_fetch(&ids, 1, __ATOMIC_RELAXED);
	}
	for (i = 0; i < 3; i++)
		otas__names_free(hn[i]);
	return ctx;
oom:
	if (err && errlen)
		snprintf(err, errlen, "out of memory creating the engine");
fail:
	for (i = 0; i < 3; i++)
		otas__names_free(hn[i]);
	otas__event_ctx_free(ctx);
	return NULL;
}

void
otas__event_ctx_free(otas__event_ctx_t *ctx)
{
	int i;

	if (!ctx)
		return;
	for (i = 0; i < 3; i++)
		free(ctx->hdr[i]);
	free(ctx->hdr_store);
	otas__nameset_release(&ctx->params);
	otas__names_free(ctx->names_store);
	otas__jsonpath_free(ctx->req_rules);
	otas__jsonpath_free(ctx->resp_rules);
	otas__ident_free(ctx->ident);
	free(ctx);
}
