/*
 * otlp.c -- event JSON to OTLP logs (see otlp.h).
 *
 * Design note.  One LogRecord per event, the HTTP semantic conventions
 * (stable set, v1.26) for what they name, `otas.*` for the rest:
 *
 *   time_unix_nano       metadata.timestamp (the request's start)
 *   observed_time        timestamp + latency (when the SDK saw the answer)
 *   severity             INFO < 400, WARN 4xx, ERROR 5xx or an exception
 *   body                 "GET /api/items/<int:pk> 200" (route, else path)
 *   trace_id, span_id,   the host's active span (metadata.trace_id and
 *   flags                span_id: an OpenTelemetry server span), else the
 *                        incoming traceparent (span_id is then the caller's
 *                        span: the SDK makes no span of its own)
 *   event_name           "otas.http.request"
 *   attributes           http.request.method, url.path, url.query,
 *                        http.route, http.response.status_code,
 *                        server.address/port, client.address,
 *                        user_agent.original, http.request.body.size,
 *                        http.response.body.size, error.type,
 *                        exception.*, enduser.id, url.full (outgoing),
 *                        http.request.header.<name>,
 *                        http.response.header.<name> (string arrays),
 *                        otas.event_id, otas.latency_ms, otas.direction,
 *                        otas.parent_event_id, otas.agent_session_id,
 *                        otas.request.body, otas.response.body, ...
 *
 * Everything comes from the event JSON, which event.c has redacted:
 * header values, query values, JSON paths and names.  The agent session
 * token itself is never copied; only its agent_session_id claim (an id,
 * not a credential) is.  Sizes of nested messages are computed before
 * they are written, so a record is written in one pass without scratch
 * copies; only the outer wrappers are written after the records.
 *
 * Reading.  The event JSON is read by a small validating scanner of our
 * own (the "JSON input" section): one pass over the event that keeps the
 * spans of the members a record needs, strings decoded only when they
 * hold an escape, no tree and no allocation per member.  Round 1 parsed
 * each event, then its header and query documents, with jansson; on the
 * 2-core machine (bench/bench_sender.c, OTAS_EXPORTER=otlp, 5,000 POST
 * events, 3 interleaved runs) the sender thread went from 77.5 to 39.8 us
 * per event, of which the record is now about 10 (callgrind: 128k
 * instructions per event, serialising the event 195k, gzip 89k).  The
 * bytes are the same: 3,000 generated events (escapes, non-ASCII,
 * surrogate pairs, odd metadata) encode byte for byte as jansson's did,
 * and malformed input is refused alike -- except that the scanner lets
 * through raw control characters, \u0000, lone surrogates (as U+FFFD) and
 * integers beyond 64 bits, which jansson refused (a body with a NUL byte
 * made round 1 drop the whole event).  Writing protobuf straight from the
 * record in event.c's pass would save the scan too, but the JSON is what
 * the spool holds, so this path is the one that also replays spooled
 * events.
 */
#include "send/otlp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"
#include "common/hex.h"
#include "common/utf8.h"
#include "event/identity.h"
#include "otas/otas.h"

#define SCHEMA_URL "https://opentelemetry.io/schemas/1.26.0"
#define MAX_HEADERS 32

struct otas__otlp_s {
	char *url;
	int gzip;
	otas__buf_t resource; /* Resource message (its content) */
	otas__buf_t scope;    /* InstrumentationScope message */
	char *hdr[MAX_HEADERS + 2];
	size_t n_hdr;
};

/* ------------------------------------------------------------ protobuf */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static size_t
vlen(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void
pb_varint(otas__buf_t *b, uint64_t v)
{
	char t[10];
	size_t n = 0;

	while (v >= 0x80) {
		t[n++] = (char)((v & 0x7f) | 0x80);
		v >>= 7;
	}
	t[n++] = (char)v;
	otas__buf_append(b, t, n);
}

static void
pb_tag(otas__buf_t *b, int field, int wt)
{
	pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wt);
}

static void
pb_fixed(otas__buf_t *b, int field, uint64_t v, int bytes)
{
	char t[8];
	int i;

	pb_tag(b, field, bytes == 8 ? WT_I64 : WT_I32);
	for (i = 0; i < bytes; i++)
		t[i] = (char)((v >> (8 * i)) & 0xff);
	otas__buf_append(b, t, (size_t)bytes);
}

/* Tag and length of a length-delimited field (its content follows). */
static void
pb_len(otas__buf_t *b, int field, size_t n)
{
	pb_tag(b, field, WT_LEN);
	pb_varint(b, n);
}

static void
pb_bytes(otas__buf_t *b, int field, const void *p, size_t n)
{
	pb_len(b, field, n);
	otas__buf_append(b, p, n);
}

/* Size of a length-delimited field with n bytes of content (1-byte tag:
 * every field number here is < 16). */
static size_t
ld(size_t n)
{
	return 1 + vlen(n) + n;
}

/* KeyValue{key, AnyValue} as field `field` of the parent; av_len is the
 * AnyValue's content size, which the caller writes next. */
static void
kv_head(otas__buf_t *b, int field, const char *key, size_t av_len)
{
	size_t kl = strlen(key);

	pb_len(b, field, ld(kl) + ld(av_len));
	pb_bytes(b, 1, key, kl);
	pb_len(b, 2, av_len);
}

static void
kv_str(otas__buf_t *b, int field, const char *key, const char *v, size_t n)
{
	kv_head(b, field, key, ld(n));
	pb_bytes(b, 1, v, n); /* AnyValue.string_value */
}

static void
kv_cstr(otas__buf_t *b, int field, const char *key, const char *v)
{
	kv_str(b, field, key, v, strlen(v));
}

static void
kv_int(otas__buf_t *b, int field, const char *key, int64_t v)
{
	kv_head(b, field, key, 1 + vlen((uint64_t)v));
	pb_tag(b, 3, WT_VARINT); /* AnyValue.int_value */
	pb_varint(b, (uint64_t)v);
}

static void
kv_double(otas__buf_t *b, int field, const char *key, double v)
{
	uint64_t u;

	memcpy(&u, &v, 8);
	kv_head(b, field, key, 9);
	pb_fixed(b, 4, u, 8); /* AnyValue.double_value */
}

static void
kv_bool(otas__buf_t *b, int field, const char *key, int v)
{
	kv_head(b, field, key, 2);
	pb_tag(b, 2, WT_VARINT);
	pb_varint(b, v ? 1 : 0);
}

/* AnyValue{array_value: ArrayValue{values: [AnyValue{string}...]}}. */
static void
kv_strs(otas__buf_t *b, int field, const char *key, const char *const *v,
        const size_t *n, size_t count)
{
	size_t i, arr = 0;

	for (i = 0; i < count; i++)
		arr += ld(ld(n[i]));
	kv_head(b, field, key, ld(arr));
	pb_len(b, 5, arr);
	for (i = 0; i < count; i++) {
		pb_len(b, 1, ld(n[i]));
		pb_bytes(b, 1, v[i], n[i]);
	}
}

/* ------------------------------------------------------------- options */

int
otas__otlp_enabled(const otas_config_t *cfg)
{
	return cfg && cfg->exporter && strcasecmp(cfg->exporter, "otlp") == 0;
}

/* Header names are HTTP tokens. */
static int
token_char(int c)
{
	return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* One "k=v" item (s..e, trimmed) of OTAS_OTLP_HEADERS into "k: v", the
 * value percent-decoded as OTEL_EXPORTER_OTLP_HEADERS.  NULL with *why set
 * when invalid (*why NULL: out of memory). */
static char *
header_line(const char *s, const char *e, const char **why)
{
	const char *eq = memchr(s, '=', (size_t)(e - s)), *v, *ke;
	char *out;
	size_t k = 0;

	*why = NULL;
	if (!eq) {
		*why = "an item has no '=' (write name=value,name2=value2)";
		return NULL;
	}
	ke = eq;
	while (ke > s && isspace((unsigned char)ke[-1]))
		ke--;
	if (ke == s) {
		*why = "an item has an empty header name";
		return NULL;
	}
	for (v = s; v < ke; v++)
		if (!token_char((unsigned char)*v)) {
			*why = "a header name has a character HTTP does not "
			       "allow in names";
			return NULL;
		}
	for (v = eq + 1; v < e && isspace((unsigned char)*v); v++)
		;
	out = malloc((size_t)(e - s) + 3);
	if (!out)
		return NULL;
	memcpy(out, s, (size_t)(ke - s));
	k = (size_t)(ke - s);
	out[k++] = ':';
	out[k++] = ' ';
	for (; v < e; v++) {
		int hi, lo;
		char c = *v;
		if (c == '%' && e - v >= 3 &&
		    (hi = otas__hex_value((unsigned char)v[1])) >= 0 &&
		    (lo = otas__hex_value((unsigned char)v[2])) >= 0) {
			c = (char)(hi * 16 + lo);
			v += 2;
		}
		if (c == '\r' || c == '\n' || c == '\0') {
			free(out);
			*why = "a header value holds a line break or NUL";
			return NULL;
		}
		out[k++] = c;
	}
	out[k] = '\0';
	return out;
}

/* Parse OTAS_OTLP_HEADERS into o->hdr (o may be NULL: check only).  0, or
 * -1 with err (never a value). */
static int
parse_headers(const char *list, otas__otlp_t *o, char *err, size_t errlen)
{
	const char *s = list, *e, *t;
	const char *why;
	int item = 0, count = 0;

	while (*s) {
		char *line;
		e = strchr(s, ',');
		if (!e)
			e = s + strlen(s);
		while (s < e && isspace((unsigned char)*s))
			s++;
		t = e;
		while (t > s && isspace((unsigned char)t[-1]))
			t--;
		item++;
		if (t > s) {
			line = header_line(s, t, &why);
			if (!line) {
				if (err && errlen)
					snprintf(err, errlen,
					         "OTAS_OTLP_HEADERS is invalid: "
					         "item %d: %s",
					         item, why ? why : "out of memory");
				return -1;
			}
			if (++count > MAX_HEADERS) {
				memset(line, 0, strlen(line));
				free(line);
				if (err && errlen)
					snprintf(err, errlen,
					         "OTAS_OTLP_HEADERS has more than "
					         "%d headers", MAX_HEADERS);
				return -1;
			}
			if (o) {
				o->hdr[o->n_hdr++] = line;
			} else {
				memset(line, 0, strlen(line));
				free(line);
			}
		}
		s = *e ? e + 1 : e;
	}
	return 0;
}

int
otas__otlp_validate(const otas_config_t *c, char *err, size_t errlen)
{
	if (c->exporter[0] && strcasecmp(c->exporter, "otas") != 0 &&
	    strcasecmp(c->exporter, "otlp") != 0) {
		if (err && errlen)
			snprintf(err, errlen,
			         "OTAS_EXPORTER=\"%.100s\" is not known: use "
			         "\"otas\" (the OTAS back end, the default) or "
			         "\"otlp\" (OpenTelemetry logs over OTLP/HTTP to "
			         "OTAS_OTLP_ENDPOINT)", c->exporter);
		return -1;
	}
	if (c->otlp_compression[0] &&
	    strcasecmp(c->otlp_compression, "gzip") != 0 &&
	    strcasecmp(c->otlp_compression, "none") != 0) {
		if (err && errlen)
			snprintf(err, errlen,
			         "OTAS_OTLP_COMPRESSION=\"%.100s\" is not known: "
			         "use gzip (the default) or none",
			         c->otlp_compression);
		return -1;
	}
	if (c->otlp_endpoint[0] && strpbrk(c->otlp_endpoint, " \t\r\n")) {
		if (err && errlen)
			snprintf(err, errlen,
			         "OTAS_OTLP_ENDPOINT has blanks in it: give one "
			         "URL such as %s", OTAS__OTLP_DEFAULT_ENDPOINT);
		return -1;
	}
	return parse_headers(c->otlp_headers, NULL, err, errlen);
}

otas__otlp_t *
otas__otlp_new(const otas_config_t *c, const char *sdk_name)
{
	otas__otlp_t *o = calloc(1, sizeof(*o));
	const char *ep = c->otlp_endpoint[0] ? c->otlp_endpoint
	                                     : OTAS__OTLP_DEFAULT_ENDPOINT;
	const char *name = c->service_name[0] ? c->service_name
	                                      : "unknown_service";
	size_t n = strlen(ep);
	otas__buf_t *r;

	if (!o)
		return NULL;
	/* OTel's rule for a base endpoint: the signal's path is appended. */
	o->url = malloc(n + 16);
	if (!o->url)
		goto fail;
	memcpy(o->url, ep, n + 1);
	if (!(n >= 8 && strcmp(ep + n - 8, "/v1/logs") == 0) &&
	    !(n >= 9 && strcmp(ep + n - 9, "/v1/logs/") == 0)) {
		if (n && ep[n - 1] == '/')
			o->url[--n] = '\0';
		strcpy(o->url + n, "/v1/logs");
	}
	o->gzip = strcasecmp(c->otlp_compression, "none") != 0;
	o->hdr[o->n_hdr++] = strdup("Content-Type: application/x-protobuf");
	if (o->gzip)
		o->hdr[o->n_hdr++] = strdup("Content-Encoding: gzip");
	if (!o->hdr[0] || (o->gzip && !o->hdr[1]))
		goto fail;
	if (parse_headers(c->otlp_headers, o, NULL, 0) != 0)
		goto fail;

	/* Resource{attributes} and InstrumentationScope{name, version}. */
	r = &o->resource;
	kv_cstr(r, 1, "service.name", name);
	if (c->service_version[0])
		kv_cstr(r, 1, "service.version", c->service_version);
	kv_cstr(r, 1, "telemetry.sdk.name", "otas");
	kv_cstr(r, 1, "telemetry.sdk.version", OTAS_VERSION);
	if (strncmp(sdk_name, "otas-python", 11) == 0)
		kv_cstr(r, 1, "telemetry.sdk.language", "python");
	kv_cstr(r, 1, "otas.sdk", sdk_name);
	pb_bytes(&o->scope, 1, "otas", 4);
	pb_bytes(&o->scope, 2, OTAS_VERSION, strlen(OTAS_VERSION));
	if (o->resource.oom || o->scope.oom)
		goto fail;
	return o;
fail:
	otas__otlp_free(o);
	return NULL;
}

void
otas__otlp_free(otas__otlp_t *o)
{
	size_t i;

	if (!o)
		return;
	for (i = 0; i < o->n_hdr; i++) {
		if (o->hdr[i]) /* user headers are secrets: wiped */
			memset(o->hdr[i], 0, strlen(o->hdr[i]));
		free(o->hdr[i]);
	}
	free(o->url);
	otas__buf_free(&o->resource);
	otas__buf_free(&o->scope);
	free(o);
}

const char *
otas__otlp_url(const otas__otlp_t *o)
{
	return o->url;
}

int
otas__otlp_gzip(const otas__otlp_t *o)
{
	return o->gzip;
}

const char *const *
otas__otlp_headers(const otas__otlp_t *o, size_t *n)
{
	*n = o->n_hdr;
	return (const char *const *)o->hdr;
}

/* ---------------------------------------------------------- JSON input */

/* A small validating reader over one JSON text: values are spans of the
 * input, and a string is decoded only when it holds an escape.  It
 * replaces a jansson parse of each event (and of its header and query
 * documents): no allocation per member, no tree. */

enum { JT_BAD = 0, JT_STR, JT_NUM, JT_OBJ, JT_ARR, JT_TRUE, JT_FALSE,
       JT_NULL };

typedef struct {
	int t;
	const char *s; /* JT_STR: the content between the quotes; else the
	                * whole value's text */
	size_t n;
	int esc;       /* JT_STR: holds a backslash escape */
	int real;      /* JT_NUM: has a fraction or an exponent */
} jv_t;

#define J_MAX_DEPTH 64

static const char *
jws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int
jhex4(const char *p)
{
	int i, v = 0;

	for (i = 0; i < 4; i++) {
		int h = otas__hex_value((unsigned char)p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* p at the opening quote.  The closing quote and the escapes are found
 * with memchr (most strings have no escape); raw control characters are
 * let through (our writer never emits them, and protobuf strings may hold
 * them). */
static const char *
jstring(const char *p, const char *e, jv_t *v)
{
	p++;
	v->t = JT_STR;
	v->s = p;
	v->esc = 0;
	for (;;) {
		const char *q = memchr(p, '"', (size_t)(e - p));
		const char *bs;
		if (!q)
			return NULL;
		bs = memchr(p, '\\', (size_t)(q - p));
		if (!bs) {
			p = q;
			break;
		}
		v->esc = 1;
		if (e - bs < 2)
			return NULL;
		switch (bs[1]) {
		case 'u':
			if (e - bs < 6 || jhex4(bs + 2) < 0)
				return NULL;
			p = bs + 6;
			break;
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			p = bs + 2;
			break;
		default:
			return NULL;
		}
	}
	v->n = (size_t)(p - v->s);
	return p + 1;
}

static const char *
jnumber(const char *p, const char *e, jv_t *v)
{
	const char *s = p, *d;

	v->t = JT_NUM;
	v->real = 0;
	if (p < e && *p == '-')
		p++;
	d = p;
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	if (p == d || (p - d > 1 && *d == '0'))
		return NULL;
	if (p < e && *p == '.') {
		d = ++p;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return NULL;
		v->real = 1;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		d = p;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return NULL;
		v->real = 1;
	}
	v->s = s;
	v->n = (size_t)(p - s);
	return p;
}

static const char *jvalue(const char *p, const char *e, jv_t *v, int depth);

/* The members of the object whose text is [p, e) ('{' first): call with
 * *it = NULL first.  1 with key and value, 0 at the end, -1 malformed. */
static int
jobj_next(const char *p, const char *e, const char **it, jv_t *k, jv_t *v,
          int depth)
{
	const char *q = *it ? *it : p + 1;

	q = jws(q, e);
	if (q >= e)
		return -1;
	if (*q == '}')
		return 0;
	if (*it) {
		if (*q != ',')
			return -1;
		q = jws(q + 1, e);
	}
	if (q >= e || *q != '"' || !(q = jstring(q, e, k)))
		return -1;
	q = jws(q, e);
	if (q >= e || *q != ':')
		return -1;
	q = jvalue(jws(q + 1, e), e, v, depth + 1);
	if (!q)
		return -1;
	*it = q;
	return 1;
}

/* The elements of the array whose text is [p, e), as jobj_next. */
static int
jarr_next(const char *p, const char *e, const char **it, jv_t *v, int depth)
{
	const char *q = *it ? *it : p + 1;

	q = jws(q, e);
	if (q >= e)
		return -1;
	if (*q == ']')
		return 0;
	if (*it) {
		if (*q != ',')
			return -1;
		q = jws(q + 1, e);
	}
	q = jvalue(q, e, v, depth + 1);
	if (!q)
		return -1;
	*it = q;
	return 1;
}

static const char *
jvalue(const char *p, const char *e, jv_t *v, int depth)
{
	const char *it = NULL, *s = p;
	jv_t k, x;
	int rc;

	memset(v, 0, sizeof(*v));
	if (p >= e || depth > J_MAX_DEPTH)
		return NULL;
	switch (*p) {
	case '"':
		return jstring(p, e, v);
	case '{':
		while ((rc = jobj_next(p, e, &it, &k, &x, depth)) == 1)
			;
		if (rc < 0)
			return NULL;
		p = jws(it ? it : p + 1, e) + 1; /* past '}' */
		v->t = JT_OBJ;
		break;
	case '[':
		while ((rc = jarr_next(p, e, &it, &x, depth)) == 1)
			;
		if (rc < 0)
			return NULL;
		p = jws(it ? it : p + 1, e) + 1;
		v->t = JT_ARR;
		break;
	case 't':
		if (e - p < 4 || memcmp(p, "true", 4) != 0)
			return NULL;
		v->t = JT_TRUE;
		p += 4;
		break;
	case 'f':
		if (e - p < 5 || memcmp(p, "false", 5) != 0)
			return NULL;
		v->t = JT_FALSE;
		p += 5;
		break;
	case 'n':
		if (e - p < 4 || memcmp(p, "null", 4) != 0)
			return NULL;
		v->t = JT_NULL;
		p += 4;
		break;
	default:
		return jnumber(p, e, v);
	}
	v->s = s;
	v->n = (size_t)(p - s);
	return p;
}

/* The decoded text of string v: the input itself when it has no escape,
 * else decoded into b (reset first; the text never grows in decoding, so
 * it is written in place after one reservation).  A lone surrogate
 * becomes U+FFFD. */
static const char *
jtext(const jv_t *v, otas__buf_t *b, size_t *n)
{
	const char *p, *e;
	char *o;

	if (v->t != JT_STR) {
		*n = 0;
		return NULL;
	}
	if (!v->esc) {
		*n = v->n;
		return v->s;
	}
	otas__buf_reset(b);
	if (otas__buf_reserve(b, v->n) != 0) {
		*n = 0;
		return "";
	}
	o = b->data;
	for (p = v->s, e = v->s + v->n; p < e;) {
		const char *bs = memchr(p, '\\', (size_t)(e - p));
		unsigned cp;
		if (!bs) {
			memcpy(o, p, (size_t)(e - p));
			o += e - p;
			break;
		}
		memcpy(o, p, (size_t)(bs - p));
		o += bs - p;
		p = bs + 2;
		switch (bs[1]) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			/* 6 bytes of input give at most 3 of UTF-8; a pair's
			 * 12 give 4 */
			cp = (unsigned)jhex4(bs + 2);
			p = bs + 6;
			if (cp >= 0xd800 && cp < 0xdc00 && e - p >= 6 &&
			    p[0] == '\\' && p[1] == 'u') {
				int lo = jhex4(p + 2);
				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					     ((unsigned)lo - 0xdc00);
					p += 6;
				}
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd;
			if (cp < 0x80) {
				*o++ = (char)cp;
			} else if (cp < 0x800) {
				*o++ = (char)(0xc0 | (cp >> 6));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				*o++ = (char)(0xe0 | (cp >> 12));
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*o++ = (char)(0xf0 | (cp >> 18));
				*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			}
			break;
		default: *o++ = bs[1]; break; /* " \ / */
		}
	}
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
	*n = b->len;
	return b->data;
}

static int
jkey_is(const jv_t *k, const char *name)
{
	size_t n = strlen(name);

	return !k->esc && k->n == n && memcmp(k->s, name, n) == 0;
}

/* jansson's json_integer_value: the value of an integer, else 0. */
static int64_t
jint(const jv_t *v)
{
	char t[32];

	if (v->t != JT_NUM || v->real || v->n >= sizeof(t))
		return 0;
	memcpy(t, v->s, v->n);
	t[v->n] = '\0';
	return (int64_t)strtoll(t, NULL, 10);
}

/* json_number_value: any number as a double, else 0. */
static double
jnum(const jv_t *v)
{
	char t[64];

	if (v->t != JT_NUM || v->n >= sizeof(t))
		return 0;
	memcpy(t, v->s, v->n);
	t[v->n] = '\0';
	return strtod(t, NULL);
}

/* A value's text without the whitespace outside its strings (compact, as
 * the host's metadata values that are objects or arrays are sent). */
static void
jcompact(const jv_t *v, otas__buf_t *out)
{
	const char *p = v->s, *e = v->s + v->n;
	int in = 0;

	otas__buf_reset(out);
	for (; p < e; p++) {
		char c = *p;
		if (in) {
			otas__buf_putc(out, c);
			if (c == '\\' && p + 1 < e)
				otas__buf_putc(out, *++p);
			else if (c == '"')
				in = 0;
		} else if (c == '"') {
			in = 1;
			otas__buf_putc(out, c);
		} else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			otas__buf_putc(out, c);
		}
	}
}

/* ------------------------------------------------------------- records */

/* metadata members event.c writes; any other is the host's metadata. */
static int
meta_known(const jv_t *k)
{
	static const char *const m[] = {
	    "event_id", "timestamp", "sdk", "host", "route", "client_ip",
	    "user_id", "traceparent", "tags", "service_version", "direction",
	    "url", "company_id", "parent_event_id", "session_token",
	    "truncated", "body_encoding", "errors", "trace_id", "span_id"};
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (jkey_is(k, m[i]))
			return 1;
	return 0;
}

#define EXTRA_MAX 16

/* The members of an event the record is made of. */
typedef struct {
	jv_t method, path, status, latency, error, query, req_headers,
	    resp_headers, req_size, resp_size, event_id, req_body, resp_body,
	    token, md;
	/* in metadata */
	jv_t e0, route, timestamp, host, client_ip, body_encoding, direction,
	    parent_event_id, url, user_id, company_id, session_token, tags,
	    truncated, trace_id, span_id, traceparent;
	int have_md, have_e0;
	/* the host's metadata members, in order (beyond EXTRA_MAX: read
	 * again from md) */
	jv_t extra[EXTRA_MAX][2];
	size_t n_extra;
} ev_t;

/* Scratch buffers of one record, for decoded strings that live together
 * (method, path and route are in the body and in attributes). */
typedef struct {
	otas__buf_t m, p, r, t, v, doc, ua, key;
} scratch_t;

static void
scratch_free(scratch_t *x)
{
	otas__buf_free(&x->m);
	otas__buf_free(&x->p);
	otas__buf_free(&x->r);
	otas__buf_free(&x->t);
	otas__buf_free(&x->v);
	otas__buf_free(&x->doc);
	otas__buf_free(&x->ua);
	otas__buf_free(&x->key);
}

/* Read the event's members we use (the last of duplicates wins, as with
 * jansson).  0, or -1 when json is not a well-formed object. */
static int
read_event(const char *json, size_t len, ev_t *ev)
{
	const char *e = json + len, *p = jws(json, e), *it = NULL, *end;
	jv_t k, v;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (p >= e || *p != '{' || !otas__utf8_valid(json, len))
		return -1;
	/* One pass: each member's value is validated as it is read. */
	while ((rc = jobj_next(p, e, &it, &k, &v, 0)) == 1) {
#define M(name, field) else if (jkey_is(&k, name)) ev->field = v
		if (0) {
		}
		M("method", method); M("path", path);
		M("status_code", status); M("latency_ms", latency);
		M("error", error); M("query_params", query);
		M("request_headers", req_headers);
		M("response_headers", resp_headers);
		M("request_size_bytes", req_size);
		M("response_size_bytes", resp_size);
		M("event_id", event_id); M("request_body", req_body);
		M("response_body", resp_body);
		M("agent_session_token", token);
		else if (jkey_is(&k, "metadata")) {
			ev->md = v;
			ev->have_md = v.t == JT_OBJ;
		}
	}
	/* the closing brace, then nothing but whitespace */
	end = jws(it ? it : p + 1, e);
	if (rc < 0 || end >= e || *end != '}' || jws(end + 1, e) != e)
		return -1;
	if (!ev->have_md)
		return 0;
	it = NULL;
	while (jobj_next(ev->md.s, ev->md.s + ev->md.n, &it, &k, &v, 1) == 1) {
		if (!meta_known(&k)) {
			/* the host's own: kept for write_record */
			if (ev->n_extra < EXTRA_MAX) {
				ev->extra[ev->n_extra][0] = k;
				ev->extra[ev->n_extra][1] = v;
			}
			ev->n_extra++;
			continue;
		}
		if (0) {
		}
		M("route", route); M("timestamp", timestamp); M("host", host);
		M("client_ip", client_ip); M("body_encoding", body_encoding);
		M("direction", direction);
		M("parent_event_id", parent_event_id); M("url", url);
		M("user_id", user_id); M("company_id", company_id);
		M("session_token", session_token); M("tags", tags);
		M("truncated", truncated); M("trace_id", trace_id);
		M("span_id", span_id); M("traceparent", traceparent);
		else if (jkey_is(&k, "errors")) {
			const char *ai = NULL;
			ev->have_e0 = 0;
			if (v.t == JT_ARR &&
			    jarr_next(v.s, v.s + v.n, &ai, &ev->e0, 2) == 1)
				ev->have_e0 = 1;
		}
#undef M
	}
	return 0;
}

/* The string member `name` of object o (NULL when absent or not a
 * string). */
static int
jmember(const jv_t *o, const char *name, jv_t *out)
{
	const char *it = NULL;
	jv_t k, v;
	int found = 0;

	if (o->t != JT_OBJ)
		return 0;
	while (jobj_next(o->s, o->s + o->n, &it, &k, &v, 1) == 1)
		if (jkey_is(&k, name)) {
			*out = v;
			found = 1;
		}
	return found;
}

/* A string attribute from a JSON string, when present and non-empty. */
static void
kv_from(otas__buf_t *b, const char *key, const jv_t *v, otas__buf_t *tmp)
{
	size_t n;
	const char *s = jtext(v, tmp, &n);

	if (s && n)
		kv_str(b, 6, key, s, n);
}

/* The same from member `name` of object o. */
static void
kv_member(otas__buf_t *b, const char *key, const jv_t *o, const char *name,
          otas__buf_t *tmp)
{
	jv_t v;

	if (jmember(o, name, &v))
		kv_from(b, key, &v, tmp);
}

/* RFC 3339 (event.c's metadata.timestamp) to Unix nanoseconds; 0 when
 * it does not parse or is before 1970. */
static uint64_t
ts_nanos(const char *s)
{
	int64_t us;

	if (!s || otas__parse_time(s, &us) != 0 || us < 0)
		return 0;
	return (uint64_t)us * 1000ull;
}

static int
hex_bytes(const char *s, size_t n, unsigned char *out)
{
	size_t i;
	int z = 1;

	if (otas__hex_decode(s, n, out) != 0)
		return -1;
	for (i = 0; i < n; i++)
		z &= out[i] == 0;
	return z ? -1 : 0; /* all zero ids are invalid */
}

static int
method_known(const char *m, size_t n)
{
	static const char *const k[] = {"GET", "HEAD", "POST", "PUT",
	                                "DELETE", "CONNECT", "OPTIONS",
	                                "TRACE", "PATCH", "QUERY"};
	size_t i;

	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (strlen(k[i]) == n && memcmp(m, k[i], n) == 0)
			return 1;
	return 0;
}

static void
pct_part(otas__buf_t *out, const char *s, size_t n)
{
	size_t j;

	for (j = 0; j < n; j++) {
		unsigned char c = (unsigned char)s[j];
		if (c <= ' ' || c >= 0x7f || c == '&' || c == '=' || c == '#' ||
		    c == '%' || c == '+')
			otas__buf_printf(out, "%%%02X", c);
		else
			otas__buf_putc(out, (char)c);
	}
}

/* query_params ({"name": ["v", ...]}, the document in d) back to a query
 * string; values are the redacted ones.  Bytes that would change the
 * meaning are percent-encoded.  kb and vb hold decoded names and values. */
static void
query_string(const char *d, size_t n, otas__buf_t *out, otas__buf_t *kb,
             otas__buf_t *vb)
{
	const char *e = d + n, *p = jws(d, e), *it = NULL, *end;
	jv_t k, vals, v, top;

	if (p >= e || *p != '{' || !(end = jvalue(p, e, &top, 0)) ||
	    jws(end, e) != e)
		return;
	while (jobj_next(p, end, &it, &k, &vals, 0) == 1) {
		const char *ai = NULL, *ks, *vs;
		size_t kl, vl;
		int got, first = 1;
		ks = jtext(&k, kb, &kl);
		/* one name=value per value; a name without a list of values
		 * (or with an empty one) once, with "" */
		for (;;) {
			got = vals.t == JT_ARR &&
			      jarr_next(vals.s, vals.s + vals.n, &ai, &v, 1) ==
			          1;
			if (!got && !first)
				break;
			vs = "";
			vl = 0;
			if (got && v.t == JT_STR)
				vs = jtext(&v, vb, &vl);
			if (out->len)
				otas__buf_putc(out, '&');
			pct_part(out, ks, kl);
			otas__buf_putc(out, '=');
			pct_part(out, vs, vl);
			first = 0;
			if (!got)
				break;
		}
	}
}

/* request_headers / response_headers ({"name": "value"}, the document in
 * d) as http.{request,response}.header.<name> string arrays; ua receives
 * user-agent. */
static void
header_attrs(otas__buf_t *b, const char *d, size_t n, const char *prefix,
             otas__buf_t *ua, scratch_t *x)
{
	const char *e = d + n, *p = jws(d, e), *it = NULL, *end;
	size_t pl = strlen(prefix);
	jv_t k, v, top;

	if (p >= e || *p != '{' || !(end = jvalue(p, e, &top, 0)) ||
	    jws(end, e) != e)
		return;
	while (jobj_next(p, end, &it, &k, &v, 0) == 1) {
		const char *ks, *s;
		size_t kl, sl;
		if (v.t != JT_STR)
			continue;
		ks = jtext(&k, &x->key, &kl);
		if (pl + kl >= 300 || memchr(ks, '\0', kl))
			continue;
		otas__buf_reset(&x->t);
		otas__buf_append(&x->t, prefix, pl);
		otas__buf_append(&x->t, ks, kl);
		otas__buf_putc(&x->t, '\0');
		if (x->t.oom)
			continue;
		s = jtext(&v, &x->v, &sl);
		kv_strs(b, 6, x->t.data, &s, &sl, 1);
		if (ua && kl == 10 && memcmp(ks, "user-agent", 10) == 0) {
			otas__buf_reset(ua);
			otas__buf_append(ua, s, sl);
		}
	}
}

/* A JSON array of strings as a string-array attribute (16 at most). */
static void
kv_json_strs(otas__buf_t *b, const char *key, const jv_t *a, otas__buf_t *tmp)
{
	const char *v[16], *it = NULL;
	size_t n[16], k = 0, total = 0;
	jv_t x;

	if (a->t != JT_ARR)
		return;
	/* Decoded values live in tmp, one after the other: offsets first,
	 * pointers once tmp stops growing. */
	otas__buf_reset(tmp);
	while (k < 16 && jarr_next(a->s, a->s + a->n, &it, &x, 1) == 1) {
		otas__buf_t one = OTAS__BUF_INIT;
		const char *s;
		size_t sl;
		if (x.t != JT_STR)
			continue;
		s = jtext(&x, &one, &sl);
		n[k] = sl;
		v[k++] = (const char *)(uintptr_t)total;
		otas__buf_append(tmp, s, sl);
		total += sl;
		otas__buf_free(&one);
	}
	if (!k || tmp->oom)
		return;
	for (size_t i = 0; i < k; i++)
		v[i] = (tmp->data ? tmp->data : "") + (uintptr_t)v[i];
	kv_strs(b, 6, key, v, n, k);
}

static void
write_record(const ev_t *ev, otas__buf_t *r, otas__buf_t *tmp, scratch_t *x)
{
	const char *method, *path, *route = NULL, *host, *s;
	size_t ml, pl, rl = 0, hl, n;
	int status = (int)jint(&ev->status);
	double lat = jnum(&ev->latency);
	uint64_t t0 = 0;
	int sev;
	char num[32];

	method = jtext(&ev->method, &x->m, &ml);
	path = jtext(&ev->path, &x->p, &pl);
	if (ev->have_md)
		route = jtext(&ev->route, &x->r, &rl);
	if (!route)
		rl = 0;
	if (!method)
		method = "", ml = 0;
	if (!path)
		path = "", pl = 0;

	/* Times: the request's start; observed = its end. */
	if (ev->have_md && ev->timestamp.t == JT_STR) {
		char tsb[64];
		s = jtext(&ev->timestamp, tmp, &n);
		if (s && n < sizeof(tsb)) {
			memcpy(tsb, s, n);
			tsb[n] = '\0';
			t0 = ts_nanos(tsb);
		}
	}
	if (t0) {
		pb_fixed(r, 1, t0, 8);
	} else { /* no start time: observed now (OTLP wants one) */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		t0 = (uint64_t)now.tv_sec * 1000000000ull +
		     (uint64_t)now.tv_nsec;
		lat = 0;
	}
	/* a day at most: no float-to-integer overflow on odd input */
	pb_fixed(r, 11, t0 + (uint64_t)(lat > 0 && lat < 864e5 ? lat * 1e6 : 0),
	         8);
	s = jtext(&ev->error, tmp, &n);
	if (status >= 500 || (s && n) || ev->have_e0)
		sev = 17;
	else if (status >= 400)
		sev = 13;
	else
		sev = 9;
	pb_tag(r, 2, WT_VARINT);
	pb_varint(r, (uint64_t)sev);
	s = sev == 17 ? "ERROR" : sev == 13 ? "WARN" : "INFO";
	pb_bytes(r, 3, s, strlen(s));

	/* body: "GET /api/items/<int:pk> 200" */
	otas__buf_reset(tmp);
	otas__buf_append(tmp, method, ml);
	otas__buf_putc(tmp, ' ');
	if (rl) {
		if (route[0] != '/')
			otas__buf_putc(tmp, '/');
		otas__buf_append(tmp, route, rl);
	} else {
		otas__buf_append(tmp, path, pl);
	}
	otas__buf_printf(tmp, " %d", status);
	pb_len(r, 5, ld(tmp->len));
	pb_bytes(r, 1, tmp->data, tmp->len);

	/* attributes (LogRecord field 6) */
	if (method_known(method, ml)) {
		kv_str(r, 6, "http.request.method", method, ml);
	} else {
		kv_cstr(r, 6, "http.request.method", "_OTHER");
		kv_str(r, 6, "http.request.method_original", method, ml);
	}
	kv_str(r, 6, "url.path", path, pl);
	if (ev->query.t == JT_STR && ev->query.n > 2) {
		s = jtext(&ev->query, &x->doc, &n);
		otas__buf_reset(tmp);
		query_string(s, n, tmp, &x->key, &x->t);
		if (tmp->len)
			kv_str(r, 6, "url.query", tmp->data, tmp->len);
	}
	if (rl) {
		otas__buf_reset(tmp);
		if (route[0] != '/')
			otas__buf_putc(tmp, '/');
		otas__buf_append(tmp, route, rl);
		kv_str(r, 6, "http.route", tmp->data, tmp->len);
	}
	kv_int(r, 6, "http.response.status_code", status);
	host = ev->have_md ? jtext(&ev->host, tmp, &hl) : NULL;
	if (host && hl) {
		/* host[:port], [v6]:port */
		const char *a = host, *colon = NULL;
		size_t al = hl;
		if (host[0] == '[') {
			const char *rb = memchr(host, ']', hl);
			if (rb) {
				a = host + 1;
				al = (size_t)(rb - host - 1);
				if ((size_t)(rb - host) + 1 < hl &&
				    rb[1] == ':')
					colon = rb + 1;
			}
		} else if ((colon = memchr(host, ':', hl))) {
			al = (size_t)(colon - host);
		}
		kv_str(r, 6, "server.address", a, al);
		if (colon && (size_t)(colon - host) + 1 < hl) {
			char pb[16];
			size_t k = (size_t)(hl - (size_t)(colon - host) - 1);
			long port;
			if (k >= sizeof(pb))
				k = sizeof(pb) - 1;
			memcpy(pb, colon + 1, k);
			pb[k] = '\0';
			port = strtol(pb, NULL, 10);
			if (port > 0 && port < 65536)
				kv_int(r, 6, "server.port", port);
		}
	}
	if (ev->have_md)
		kv_from(r, "client.address", &ev->client_ip, tmp);
	otas__buf_reset(&x->ua);
	if (ev->req_headers.t == JT_STR) {
		s = jtext(&ev->req_headers, &x->doc, &n);
		header_attrs(r, s, n, "http.request.header.", &x->ua, x);
	}
	if (ev->resp_headers.t == JT_STR) {
		s = jtext(&ev->resp_headers, &x->doc, &n);
		header_attrs(r, s, n, "http.response.header.", NULL, x);
	}
	if (x->ua.len)
		kv_str(r, 6, "user_agent.original", x->ua.data, x->ua.len);
	kv_int(r, 6, "http.request.body.size", jint(&ev->req_size));
	kv_int(r, 6, "http.response.body.size", jint(&ev->resp_size));
	if (ev->have_e0) {
		kv_member(r, "error.type", &ev->e0, "type", tmp);
		kv_member(r, "exception.type", &ev->e0, "type", tmp);
		kv_member(r, "exception.message", &ev->e0, "message", tmp);
		kv_member(r, "exception.stacktrace", &ev->e0, "stack", tmp);
	} else if (status >= 500) {
		snprintf(num, sizeof(num), "%d", status);
		kv_cstr(r, 6, "error.type", num);
	}
	kv_from(r, "otas.event_id", &ev->event_id, tmp);
	kv_double(r, 6, "otas.latency_ms", lat);
	kv_from(r, "otas.request.body", &ev->req_body, tmp);
	kv_from(r, "otas.response.body", &ev->resp_body, tmp);
	/* The token is a credential: only its session id claim leaves. */
	s = jtext(&ev->token, tmp, &n);
	if (s && n) {
		char sid[128];
		if (otas__jwt_user_id(s, n, "agent_session_id", sid,
		                      sizeof(sid)) > 0)
			kv_cstr(r, 6, "otas.agent_session_id", sid);
	}
	if (ev->have_md) {
		const char *it = NULL;
		jv_t k, v;
		kv_from(r, "otas.direction", &ev->direction, tmp);
		kv_from(r, "otas.parent_event_id", &ev->parent_event_id, tmp);
		kv_from(r, "url.full", &ev->url, tmp);
		kv_from(r, "enduser.id", &ev->user_id, tmp);
		kv_from(r, "otas.company_id", &ev->company_id, tmp);
		kv_from(r, "otas.session_token_sha256", &ev->session_token, tmp);
		kv_json_strs(r, "otas.tags", &ev->tags, tmp);
		kv_json_strs(r, "otas.truncated", &ev->truncated, tmp);
		if (ev->body_encoding.t == JT_OBJ) {
			kv_member(r, "otas.request.body.encoding",
			          &ev->body_encoding, "request", tmp);
			kv_member(r, "otas.response.body.encoding",
			          &ev->body_encoding, "response", tmp);
		}
		/* The host's own metadata: otas.metadata.<name>. */
		for (size_t i = 0;; i++) {
			const char *ks;
			size_t kl;
			if (ev->n_extra <= EXTRA_MAX) {
				if (i >= ev->n_extra)
					break;
				k = ev->extra[i][0];
				v = ev->extra[i][1];
			} else if (jobj_next(ev->md.s, ev->md.s + ev->md.n, &it,
			                     &k, &v, 1) != 1) {
				break;
			} else if (meta_known(&k)) {
				continue;
			}
			ks = jtext(&k, &x->key, &kl);
			if (kl + 14 >= 200 || memchr(ks, '\0', kl))
				continue;
			otas__buf_reset(&x->t);
			otas__buf_puts(&x->t, "otas.metadata.");
			otas__buf_append(&x->t, ks, kl);
			otas__buf_putc(&x->t, '\0');
			if (x->t.oom)
				continue;
			if (v.t == JT_STR) {
				s = jtext(&v, tmp, &n);
				kv_str(r, 6, x->t.data, s, n);
			} else if (v.t == JT_NUM && !v.real) {
				kv_int(r, 6, x->t.data, jint(&v));
			} else if (v.t == JT_NUM) {
				kv_double(r, 6, x->t.data, jnum(&v));
			} else if (v.t == JT_TRUE || v.t == JT_FALSE) {
				kv_bool(r, 6, x->t.data, v.t == JT_TRUE);
			} else if (v.t != JT_NULL) {
				jcompact(&v, tmp);
				kv_str(r, 6, x->t.data, tmp->data ? tmp->data
				                                   : "",
				       tmp->len);
			}
		}
	}

	/* trace context: the host's active span when it recorded one
	 * (metadata.trace_id / span_id: an OpenTelemetry server span, so the
	 * record joins the app's own traces), else the incoming
	 * 00-<trace id>-<parent span id>-<flags>. */
	if (ev->have_md) {
		size_t ti = 0, si = 0;
		const char *t = ev->trace_id.t == JT_STR && !ev->trace_id.esc
		                    ? ev->trace_id.s
		                    : NULL;
		const char *sp = ev->span_id.t == JT_STR && !ev->span_id.esc
		                     ? ev->span_id.s
		                     : NULL;
		unsigned char tid[16], sid[8];
		ti = ev->trace_id.n;
		si = ev->span_id.n;
		if (t && sp && ti == 32 && si == 16 &&
		    hex_bytes(t, 16, tid) == 0 && hex_bytes(sp, 8, sid) == 0) {
			pb_fixed(r, 8, 1, 4); /* sampled: the span was recorded */
			pb_bytes(r, 9, tid, 16);
			pb_bytes(r, 10, sid, 8);
			goto traced;
		}
	}
	if (ev->have_md && ev->traceparent.t == JT_STR &&
	    !ev->traceparent.esc && ev->traceparent.n == 55) {
		const char *tp = ev->traceparent.s;
		unsigned char tid[16], sid[8], fl[1];
		if (tp[2] == '-' && tp[35] == '-' && tp[52] == '-' &&
		    hex_bytes(tp + 3, 16, tid) == 0 &&
		    hex_bytes(tp + 36, 8, sid) == 0) {
			if (hex_bytes(tp + 53, 1, fl) != 0)
				fl[0] = 0;
			pb_fixed(r, 8, fl[0], 4);
			pb_bytes(r, 9, tid, 16);
			pb_bytes(r, 10, sid, 8);
		}
	}
traced:
	pb_bytes(r, 12, "otas.http.request", 17);
}

int
otas__otlp_add(const otas__otlp_t *o, const char *json, size_t len,
               otas__buf_t *records)
{
	otas__buf_t r = OTAS__BUF_INIT, tmp = OTAS__BUF_INIT;
	scratch_t x;
	ev_t ev;
	int rc = -1;

	(void)o; /* the resource and scope are added by finish() */
	if (!json || read_event(json, len, &ev) != 0)
		return -1;
	memset(&x, 0, sizeof(x));
	write_record(&ev, &r, &tmp, &x);
	if (r.oom || tmp.oom || x.m.oom || x.p.oom || x.r.oom || x.t.oom ||
	    x.v.oom || x.doc.oom || x.ua.oom || x.key.oom) {
		records->oom = 1;
		goto done;
	}
	pb_bytes(records, 2, r.data, r.len); /* ScopeLogs.log_records */
	rc = records->oom ? -1 : 0;
done:
	otas__buf_free(&r);
	otas__buf_free(&tmp);
	scratch_free(&x);
	return rc;
}

int
otas__otlp_finish(const otas__otlp_t *o, const otas__buf_t *records,
                  otas__buf_t *out)
{
	size_t schema = strlen(SCHEMA_URL);
	/* ScopeLogs{1: scope, 2: records..., 3: schema_url} */
	size_t sl = ld(o->scope.len) + records->len + ld(schema);
	/* ResourceLogs{1: resource, 2: scope_logs, 3: schema_url} */
	size_t rl = ld(o->resource.len) + ld(sl) + ld(schema);

	otas__buf_reset(out);
	pb_len(out, 1, rl); /* ExportLogsServiceRequest.resource_logs */
	pb_bytes(out, 1, o->resource.data, o->resource.len);
	pb_len(out, 2, sl);
	pb_bytes(out, 1, o->scope.data, o->scope.len);
	otas__buf_append(out, records->data, records->len);
	pb_bytes(out, 3, SCHEMA_URL, schema);
	pb_bytes(out, 3, SCHEMA_URL, schema);
	return out->oom || records->oom ? -1 : 0;
}

/* ------------------------------------------------------------- answers */

static int
rd_varint(const unsigned char **p, const unsigned char *e, uint64_t *v)
{
	int sh = 0;

	*v = 0;
	while (*p < e && sh < 64) {
		unsigned char c = *(*p)++;
		*v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80))
			return 0;
		sh += 7;
	}
	return -1;
}

/* Skip one field's value of wire type wt. */
static int
rd_skip(const unsigned char **p, const unsigned char *e, int wt)
{
	uint64_t v;

	switch (wt) {
	case WT_VARINT:
		return rd_varint(p, e, &v);
	case WT_I64:
		if (e - *p < 8)
			return -1;
		*p += 8;
		return 0;
	case WT_I32:
		if (e - *p < 4)
			return -1;
		*p += 4;
		return 0;
	case WT_LEN:
		if (rd_varint(p, e, &v) != 0 || v > (uint64_t)(e - *p))
			return -1;
		*p += v;
		return 0;
	}
	return -1;
}

int
otas__otlp_parse_response(const char *body, size_t len, int64_t *rejected,
                          char *msg, size_t msglen)
{
	const unsigned char *p = (const unsigned char *)body, *e = p + len;
	uint64_t tag, v;

	*rejected = 0;
	if (msg && msglen)
		msg[0] = '\0';
	while (p < e) {
		if (rd_varint(&p, e, &tag) != 0)
			return -1;
		if (tag == ((1 << 3) | WT_LEN)) { /* partial_success */
			const unsigned char *q, *qe;
			if (rd_varint(&p, e, &v) != 0 || v > (uint64_t)(e - p))
				return -1;
			q = p;
			qe = p + v;
			p = qe;
			while (q < qe) {
				uint64_t t2;
				if (rd_varint(&q, qe, &t2) != 0)
					return -1;
				if (t2 == ((1 << 3) | WT_VARINT)) {
					if (rd_varint(&q, qe, &v) != 0)
						return -1;
					*rejected = (int64_t)v;
				} else if (t2 == ((2 << 3) | WT_LEN)) {
					if (rd_varint(&q, qe, &v) != 0 ||
					    v > (uint64_t)(qe - q))
						return -1;
					if (msg && msglen)
						snprintf(msg, msglen, "%.*s",
						         (int)(v < msglen ? v
						                          : msglen - 1),
						         (const char *)q);
					q += v;
				} else if (rd_skip(&q, qe, (int)(t2 & 7)) != 0) {
					return -1;
				}
			}
		} else if (rd_skip(&p, e, (int)(tag & 7)) != 0) {
			return -1;
		}
	}
	return 0;
}
