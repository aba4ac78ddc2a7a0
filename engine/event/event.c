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
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "common/gunzip.h"
#include "common/hash.h"
#include "event/identity.h"
#include "common/json.h"
#include "event/redact_body.h"
#include "event/redact_names.h"

#define METHOD_MAX 20
#define CTYPE_MAX 255

/* Lower-cased header name; CGI names are mapped HTTP_X_FOO -> x-foo. */
static void
norm_name(const otas_header_t *h, int cgi, otas__buf_t *out)
{
	const char *s = h->name;
	size_t n = h->name_len, i;

	otas__buf_reset(out);
	if (cgi && n > 5 && memcmp(s, "HTTP_", 5) == 0) {
		s += 5;
		n -= 5;
	}
	if (otas__buf_reserve(out, n) != 0)
		return;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (cgi && c == '_')
			c = '-';
		out->data[i] = (char)tolower((unsigned char)c);
	}
	out->len = n;
	out->data[n] = '\0';
}

/* Header names compare lower-cased with '_' as '-' and without a CGI
 * "http-" prefix, on both sides: `x_under_token`, `HTTP_X_META_TOKEN`
 * and `X-Meta-Token` are one name. */
static int
hdr_name_eq(const char *a, const char *b)
{
	if (strncmp(b, "http-", 5) == 0 || strncmp(b, "http_", 5) == 0)
		b += 5;
	for (; *a && *b; a++, b++) {
		char x = *a == '_' ? '-' : (char)tolower((unsigned char)*a);
		char y = *b == '_' ? '-' : (char)tolower((unsigned char)*b);
		if (x != y)
			return 0;
	}
	return *a == *b;
}

/* dir: 0 request headers, 1 response headers (the per-direction masks). */
static int
is_sensitive(const otas_engine_t *eng, int dir, const char *name, size_t len)
{
	static const char *const def[] = {
	    "authorization", "cookie", "set-cookie", "x-api-key",
	    "proxy-authorization", "x-otas-sdk-key",
	    "x-otas-agent-session-token"};
	size_t i;

	for (i = 0; i < sizeof(def) / sizeof(def[0]); i++)
		if (hdr_name_eq(name, def[i]))
			return 1;
	for (i = 0; i < eng->n_sens_headers; i++)
		if (hdr_name_eq(name, eng->sens_headers[i]))
			return 1;
	for (i = 0; i < eng->n_sens_dir_headers[dir]; i++)
		if (hdr_name_eq(name, eng->sens_dir_headers[dir][i]))
			return 1;
	/* The names of the body and query rules: x-auth-token, x-csrftoken,
	 * x-client-secret, ... */
	return otas__name_sensitive(&eng->params, name, len);
}

/* Whether a header value may hold a URL or a query string. */
static int
may_hold_url(const char *v, size_t n)
{
	return memchr(v, '?', n) || memchr(v, '@', n);
}

typedef struct {
	const char *ctype;
	size_t ctype_len;
	const char *cenc;
	size_t cenc_len;
	const char *host;
	size_t host_len;
	const char *token;
	size_t token_len;
} hdr_facts_t;

/* `\"s\"`: s as a JSON string inside a JSON string. */
static void
nested_str(otas__buf_t *out, const char *s, size_t n)
{
	otas__buf_append(out, "\\\"", 2);
	otas__json_escape_nested(out, s, n);
	otas__buf_append(out, "\\\"", 2);
}

/* Write {"name":"value",...} as a JSON string into out, noting the
 * content type, encoding, host and agent token on the way.  The document
 * is written already escaped for the string that holds it (one pass, no
 * intermediate document). */
static void
write_headers(otas_engine_t *eng, int dir, const otas_header_t *hs, size_t n,
              int cgi, otas__buf_t *out, otas__buf_t *name,
              otas__buf_t *tmp, hdr_facts_t *f)
{
	size_t i, bytes = 0;
	int first = 1;

	for (i = 0; i < n; i++)
		bytes += hs[i].name_len + hs[i].value_len + 12;
	otas__buf_reserve(out, bytes + bytes / 4 + 8);
	otas__buf_append(out, "\"{", 2);
	for (i = 0; i < n; i++) {
		const otas_header_t *h = &hs[i];

		norm_name(h, cgi, name);
		if (name->oom)
			continue;
		if (strcmp(name->data, "content-type") == 0) {
			f->ctype = h->value;
			f->ctype_len = h->value_len;
		} else if (strcmp(name->data, "content-encoding") == 0) {
			f->cenc = h->value;
			f->cenc_len = h->value_len;
		} else if (strcmp(name->data, "host") == 0) {
			f->host = h->value;
			f->host_len = h->value_len;
		} else if (strcmp(name->data, "x-otas-agent-session-token") ==
		           0) {
			f->token = h->value;
			f->token_len = h->value_len;
			/* PROTOCOL.md: the token travels in its own header,
			 * never in request_headers, not even by name. */
			continue;
		}
		if (!first)
			otas__buf_putc(out, ',');
		first = 0;
		nested_str(out, name->data, name->len);
		otas__buf_putc(out, ':');
		if (is_sensitive(eng, dir, name->data, name->len)) {
			nested_str(out, OTAS__REDACTED,
			           sizeof(OTAS__REDACTED) - 1);
		} else if (f->host == h->value) {
			/* userinfo of a URL's netloc never stored */
			f->host = otas__host_strip(h->value, h->value_len,
			                           &f->host_len);
			nested_str(out, f->host, f->host_len);
		} else if (may_hold_url(h->value, h->value_len)) {
			/* Referer, Location, Link, Origin, ...: URLs keep no
			 * userinfo and no sensitive query value. */
			otas__buf_reset(tmp);
			otas__scrub_text(&eng->params, h->value, h->value_len,
			                 tmp);
			nested_str(out, tmp->data ? tmp->data : "", tmp->len);
		} else {
			nested_str(out, h->value, h->value_len);
		}
	}
	otas__buf_append(out, "}\"", 2);
}

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
	size_t i, e;

	if (ctype_is(ct, n, "application/json"))
		return 1;
	/* application/<anything>+json */
	for (e = 0; e < n && ct[e] != ';' && ct[e] != ' ' && ct[e] != '\t' &&
	            ct[e] != ',';
	     e++)
		;
	for (i = 0; i + 5 <= e; i++)
		if (strncasecmp(ct + i, "+json", 5) == 0 && i + 5 == e)
			return 1;
	return 0;
}

/* Request bodies recorded by size only, whatever the host handed over
 * (the view may have read them itself): uploads and binary payloads.
 * Binary responses stay base64 (metadata.body_encoding). */
static int
ctype_size_only(const char *ct, size_t n)
{
	static const char *const pre[] = {
	    "multipart/", "image/", "audio/", "video/", "font/",
	    "application/octet-stream", "application/zip",
	    "application/gzip", "application/x-gzip", "application/x-tar",
	    "application/pdf", "application/x-7z", "application/x-rar",
	    "application/vnd.ms-", "application/vnd.openxmlformats",
	    "application/x-protobuf", "application/grpc"};
	size_t i;

	if (!ct)
		return 0;
	for (i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (ctype_starts(ct, n, pre[i]))
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
write_body(otas_engine_t *eng, int is_req, const char *data, size_t len,
           int skip,
           const char *ct, size_t ct_len, const char *ce, size_t ce_len,
           const otas__jsonpath_set_t *rules, otas__buf_t *out,
           otas__buf_t *t1, otas__buf_t *t2, body_facts_t *bf)
{
	size_t cap = (size_t)eng->cfg->max_body_bytes, cut;
	int inflate_cut = 0;

	bf->truncated = bf->base64 = 0;
	if (skip || !eng->cfg->capture_bodies || !len ||
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
	     eng->params.defaults || eng->params.n)) {
		otas__buf_reset(t2);
		if (inflate_cut ||
		    otas__redact_json_names(rules, &eng->params, data, len,
		                            t2) != 0) {
			otas__buf_reset(t2);
			otas__buf_puts(t2, OTAS__UNPARSEABLE_MARKER);
		}
		data = t2->data;
		len = t2->len;
	} else if (ct && ctype_is(ct, ct_len,
	                          "application/x-www-form-urlencoded")) {
		otas__buf_reset(t2);
		otas__redact_urlencoded(rules, &eng->params, data, len, t2);
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

/* Merge the host's metadata object (members first, so ours win on a
 * duplicate key).  Invalid JSON is ignored. */
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
	o = json_loadb(js, n, JSON_REJECT_DUPLICATES, NULL);
	if (!o)
		return;
	if (json_is_object(o)) {
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
	}
	json_decref(o);
}

static void
field(otas__buf_t *out, const char *name, const char *s, size_t n)
{
	otas__buf_putc(out, ',');
	otas__buf_puts(out, name);
	otas__json_str(out, s ? s : "", s ? n : 0);
}

/* A free-text field (error messages, stacks): URLs in it lose their
 * userinfo and sensitive query values (a failed call's exception names
 * its URL).  `name` may be NULL: the value only. */
static void
text_field(otas_engine_t *eng, otas__buf_t *out, const char *name,
           const char *s, size_t n, otas__buf_t *tmp)
{
	if (name)
		otas__buf_puts(out, name);
	otas__buf_reset(tmp);
	if (s && n)
		otas__scrub_text(&eng->params, s, n, tmp);
	otas__json_str(out, tmp->data ? tmp->data : "", tmp->data ? tmp->len : 0);
}

/* metadata.url of an outgoing call: scheme://host/path?query with the
 * query redacted like query_params, so the one field a person reads first
 * never shows a secret the rest of the event hides. */
static void
write_outgoing_url(otas_engine_t *eng, const otas_capture_t *c,
                   const hdr_facts_t *rq, otas__buf_t *out)
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
		otas__redact_urlencoded(eng->req_rules, &eng->params, c->query,
		                        c->query_len, &url);
	}
	if (!url.oom)
		field(out, "\"url\":", url.data, url.len);
	otas__buf_free(&url);
}

int
otas__event_write(otas_engine_t *eng, const char *project_id,
                  const struct otas__record_s *r, otas__buf_t *out,
                  const char **token, size_t *token_len)
{
	const otas_capture_t *c = &r->cap;
	otas__buf_t doc = OTAS__BUF_INIT, name = OTAS__BUF_INIT;
	otas__buf_t t1 = OTAS__BUF_INIT, t2 = OTAS__BUF_INIT;
	hdr_facts_t rq = {0}, rs = {0};
	body_facts_t bq, bs;
	int cgi = c->flags & OTAS_CAP_REQ_HEADERS_CGI;
	int64_t req_size, resp_size;
	size_t mlen, i;
	char ts[64];
	struct tm tm;
	time_t secs;
	int64_t us;
	size_t start = out->len;

	*token = NULL;
	*token_len = 0;
	/* Room for the whole event up front: one allocation, not a doubling
	 * series (headers are written apart, then copied in). */
	{
		size_t cap = (size_t)eng->cfg->max_body_bytes, est = 1024;
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
	otas__buf_t hq = OTAS__BUF_INIT, hr = OTAS__BUF_INIT;
	write_headers(eng, 0, c->req_headers, c->n_req_headers, cgi, &hq,
	              &name, &t1, &rq);
	write_headers(eng, 1, c->resp_headers, c->n_resp_headers, 0, &hr,
	              &name, &t1, &rs);
	*token = rq.token;
	*token_len = rq.token_len;
	field(out, "\"agent_session_token\":", rq.token, rq.token_len);
	field(out, "\"path\":", c->path, c->path_len);
	mlen = otas__utf8_cut(c->method, c->method_len, METHOD_MAX);
	field(out, "\"method\":", c->method, mlen);
	otas__buf_puts(out, ",\"status_code\":");
	otas__buf_put_int(out, c->status);
	otas__buf_printf(out, ",\"latency_ms\":%.3f",
	                 c->duration_ns > 0 ? (double)c->duration_ns / 1e6
	                                    : 0.0);
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
	otas__buf_free(&hq);
	otas__buf_free(&hr);

	otas__buf_puts(out, ",\"request_body\":");
	write_body(eng, 1, c->req_body, c->req_body_len,
	           c->flags & OTAS_CAP_REQ_BODY_SKIPPED, rq.ctype, rq.ctype_len,
	           rq.cenc, rq.cenc_len, eng->req_rules, out, &t1, &t2, &bq);
	otas__buf_puts(out, ",\"response_body\":");
	write_body(eng, 0, c->resp_body, c->resp_body_len,
	           c->flags & OTAS_CAP_RESP_STREAMING, rs.ctype, rs.ctype_len,
	           rs.cenc, rs.cenc_len, eng->resp_rules, out, &t1, &t2, &bs);

	/* query_params / post_data: JSON documents inside strings. */
	otas__buf_reset(&doc);
	otas__urlencoded_to_json(eng->req_rules, &eng->params, c->query,
	                         c->query_len, &doc);
	otas__buf_puts(out, ",\"query_params\":");
	otas__json_str(out, doc.data ? doc.data : "{}", doc.data ? doc.len : 2);
	otas__buf_reset(&doc);
	if (eng->cfg->capture_bodies && rq.ctype &&
	    ctype_is(rq.ctype, rq.ctype_len,
	             "application/x-www-form-urlencoded") &&
	    !(c->flags & OTAS_CAP_REQ_BODY_SKIPPED) && c->req_body_len)
		otas__urlencoded_to_json(eng->req_rules, &eng->params,
		                         c->req_body, c->req_body_len, &doc);
	else
		otas__buf_puts(&doc, "{}");
	otas__buf_puts(out, ",\"post_data\":");
	otas__json_str(out, doc.data, doc.len);

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
		text_field(eng, out, NULL, doc.data, doc.len, &t1);
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
	gmtime_r(&secs, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (int)(us % 1000000) % 1000000);
	field(out, "\"timestamp\":", ts, strlen(ts));
	field(out, "\"sdk\":", eng->sdk_name, strlen(eng->sdk_name));
	if (rq.host_len || !c->server_host)
		field(out, "\"host\":", rq.host, rq.host_len);
	else /* no Host header: the server's name and port (PEP 3333) */
		field(out, "\"host\":", c->server_host, c->server_host_len);
	if (c->route)
		field(out, "\"route\":", c->route, c->route_len);
	/* client_ip, user_id (host's, else the JWT), traceparent, tags,
	 * service_version: identity.c reads the raw headers. */
	otas__ident_write_metadata(eng->ident, c, cgi, out);
	otas__buf_puts(out, (c->flags & OTAS_CAP_OUTGOING)
	                        ? ",\"direction\":\"outgoing\""
	                        : ",\"direction\":\"incoming\"");
	if (c->flags & OTAS_CAP_OUTGOING)
		write_outgoing_url(eng, c, &rq, out);
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
			text_field(eng, out, ",\"message\":", e->message,
			           e->message_len, &t1);
			text_field(eng, out, ",\"stack\":", e->stack,
			           e->stack_len, &t1);
			otas__buf_putc(out, '}');
		}
		otas__buf_putc(out, ']');
	}
	otas__buf_puts(out, "}}");

	if (eng->cfg->debug) {
		/* OTAS_DEBUG: one line per event, with the event as sent. */
		char head[300];
		snprintf(head, sizeof(head), "otas: %.*s %.*s %d %.1fms ",
		         (int)mlen, c->method,
		         (int)(c->path_len > 200 ? 200 : c->path_len), c->path,
		         c->status, (double)c->duration_ns / 1e6);
		otas__log_event(eng, head, out->data ? out->data + start : "",
		                out->len - start, rq.token, rq.token_len);
	}

	otas__buf_free(&doc);
	otas__buf_free(&name);
	otas__buf_free(&t1);
	otas__buf_free(&t2);
	return out->oom ? -1 : 0;
}
