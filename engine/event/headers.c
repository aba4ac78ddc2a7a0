/*
 * headers.c -- request and response headers to the JSON document held in
 * the event's request_headers / response_headers strings (see headers.h).
 *
 * Names are lower-cased (a CGI environ's HTTP_X_FOO becomes x-foo), the
 * agent session token is lifted out (PROTOCOL.md: never in
 * request_headers, not even by name), sensitive values become
 * "[REDACTED]" (the built-in header list, OTAS_SENSITIVE_HEADERS, the
 * per-direction masks, then the name set of the body and query rules),
 * Host loses its userinfo and a value that may hold a URL is scrubbed.
 * The document is written already escaped for the string that holds it:
 * one pass, no intermediate document.
 */
#include "event/headers.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "event/redact_names.h"

/* Lower-cased header name; CGI names are mapped HTTP_X_FOO -> x-foo.  Returns which bytes the
 * name holds: NAME_US for a '_' kept, NAME_NUL for a NUL. */
enum { NAME_US = 1, NAME_NUL = 2 };

static int
norm_name(const otas_header_t *h, int cgi, otas__buf_t *out)
{
	const char *s = h->name;
	size_t n = h->name_len, i;
	unsigned us = 0, nul = 0;

	otas__buf_reset(out);
	if (cgi && n > 5 && memcmp(s, "HTTP_", 5) == 0) {
		s += 5;
		n -= 5;
	}
	if (otas__buf_reserve(out, n) != 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (cgi && c == '_')
			c = '-';
		c = (unsigned char)tolower(c);
		us |= c == '_';
		nul |= c == 0;
		out->data[i] = (char)c;
	}
	out->len = n;
	out->data[n] = '\0';
	return (us ? NAME_US : 0) | (nul ? NAME_NUL : 0);
}

/* Header names compare lower-cased with '_' as '-' and without a CGI
 * "http-" prefix, on both sides: `x_under_token`, `HTTP_X_META_TOKEN`
 * and `X-Meta-Token` are one name.  The configured side is normalised
 * once (otas__event_ctx_new); a (already lower-cased) name from the
 * record maps '_' only. */
void
otas__hdr_norm(const char *in, size_t n, char *out, size_t *out_n)
{
	size_t i;

	if (n >= 5 && (strncasecmp(in, "http-", 5) == 0 ||
	               strncasecmp(in, "http_", 5) == 0)) {
		in += 5;
		n -= 5;
	}
	for (i = 0; i < n; i++)
		out[i] = in[i] == '_' ? '-' : (char)tolower((unsigned char)in[i]);
	out[n] = '\0';
	*out_n = n;
}

/* name (lower case, len bytes, '_' compared as '-') is in l. */
static int
hdr_in(const otas__hdrname_t *l, size_t nl, const char *name, size_t len,
       int us)
{
	size_t i, k;

	for (i = 0; i < nl; i++) {
		if (l[i].n != len)
			continue;
		if (!us) {
			if (memcmp(l[i].s, name, len) == 0)
				return 1;
			continue;
		}
		for (k = 0; k < len; k++)
			if (l[i].s[k] != (name[k] == '_' ? '-' : name[k]))
				break;
		if (k == len)
			return 1;
	}
	return 0;
}

/* dir: 0 request headers, 1 response headers (the per-direction masks).
 * name is lower case (norm_name). */
static int
is_sensitive(const otas__event_ctx_t *ctx, int dir, const char *name,
             size_t len, size_t n, int facts)
{
	static const otas__hdrname_t def[] = {
	    {"authorization", 13}, {"cookie", 6}, {"set-cookie", 10},
	    {"x-api-key", 9}, {"proxy-authorization", 19},
	    {"x-otas-sdk-key", 14}, {"x-otas-agent-session-token", 26}};
	/* Compared as C strings before: a NUL ends the name (n is the
	 * length up to it). */
	int us = (facts & NAME_US) &&
	         (n == len || memchr(name, '_', n) != NULL);

	if (hdr_in(def, sizeof(def) / sizeof(def[0]), name, n, us) ||
	    hdr_in(ctx->hdr[0], ctx->n_hdr[0], name, n, us) ||
	    hdr_in(ctx->hdr[1 + dir], ctx->n_hdr[1 + dir], name, n, us))
		return 1;
	/* The names of the body and query rules: x-auth-token, x-csrftoken,
	 * x-client-secret, ... */
	return otas__name_sensitive(&ctx->params, name, len);
}

/* Whether a header value may hold a URL or a query string. */
static int
may_hold_url(const char *v, size_t n)
{
	return memchr(v, '?', n) || memchr(v, '@', n);
}

/* `\"s\"`: s as a JSON string inside a JSON string (room for the
 * common case, nothing to escape, reserved once). */
static void
nested_str(otas__buf_t *out, const char *s, size_t n)
{
	if (otas__buf_reserve(out, n + 4) != 0)
		return;
	out->data[out->len++] = '\\';
	out->data[out->len++] = '"';
	otas__json_escape_nested(out, s, n);
	otas__buf_append(out, "\\\"", 2);
}

/* What a header name is to the serialiser: one of the four names it
 * looks for, and whether its value is redacted; with the name as it is
 * written (`\"name\":`, nested-escaped). */
enum { HK_OTHER, HK_CTYPE, HK_CENC, HK_HOST, HK_TOKEN };

/* Classify h's name and write `\"name\":` into dst (not for the agent
 * token, which is never written).  -1 when out of memory. */
static int
name_facts(const otas__event_ctx_t *ctx, int dir, int cgi,
           const otas_header_t *h, otas__buf_t *name, otas__buf_t *dst,
           int *kind, int *sens)
{
	int facts = norm_name(h, cgi, name);
	size_t nl;

	if (name->oom)
		return -1;
	/* By length first: most names are none of these four.  A NUL ends
	 * the name here (these compared as C strings). */
	nl = facts & NAME_NUL ? strnlen(name->data, name->len) : name->len;
	*kind = HK_OTHER;
	*sens = 0;
	if (nl == 12 && memcmp(name->data, "content-type", 12) == 0)
		*kind = HK_CTYPE;
	else if (nl == 16 && memcmp(name->data, "content-encoding", 16) == 0)
		*kind = HK_CENC;
	else if (nl == 4 && memcmp(name->data, "host", 4) == 0)
		*kind = HK_HOST;
	else if (nl == 26 &&
	         memcmp(name->data, "x-otas-agent-session-token", 26) == 0)
		return *kind = HK_TOKEN, 0;
	nested_str(dst, name->data, name->len);
	otas__buf_putc(dst, ':');
	*sens = is_sensitive(ctx, dir, name->data, name->len, nl, facts);
	return dst->oom ? -1 : 0;
}

/* A per-thread memo of name_facts' answers (the sender sees the same
 * dozen header names on every event): two-way, on a hash of the raw
 * name; keyed by the context, the direction, the CGI flag and the raw
 * bytes, so an entry only ever repeats what name_facts wrote and said for
 * exactly that name.  Names longer than OTAS__MEMO_NAME_MAX, or whose
 * written form exceeds HM_OUT, are not memoised. */
#define HM_SLOTS_LOG2 7
#define HM_SLOTS (1 << HM_SLOTS_LOG2)
#define HM_OUT 88

typedef struct {
	uint64_t tag; /* ctx id * 4 + dir * 2 + cgi; 0: empty */
	uint64_t w[OTAS__MEMO_NAME_MAX / 8];
	uint32_t len;
	uint8_t kind, sens;
	uint16_t out_len;
	char out[HM_OUT];
} hmemo_t;

static __thread hmemo_t hmemo[HM_SLOTS];

/* Write {"name":"value",...} as a JSON string into out, noting the
 * content type, encoding, host and agent token on the way.  The document
 * is written already escaped for the string that holds it (one pass, no
 * intermediate document). */
void
otas__headers_write(const otas__event_ctx_t *ctx, int dir, const otas_header_t *hs, size_t n,
              int cgi, otas__buf_t *out, otas__buf_t *name,
              otas__buf_t *tmp, otas__hdr_facts_t *f)
{
	size_t i, bytes = 0;
	int first = 1, kind, sens;
	uint64_t tag = ctx->id * 4 + (uint64_t)(dir != 0) * 2 + (cgi != 0);

	for (i = 0; i < n; i++)
		bytes += hs[i].name_len + hs[i].value_len + 12;
	otas__buf_reserve(out, bytes + bytes / 4 + 8);
	otas__buf_append(out, "\"{", 2);
	for (i = 0; i < n; i++) {
		const otas_header_t *h = &hs[i];
		const char *nout = NULL;
		size_t nlen = 0;
		hmemo_t *e = NULL;

		if (ctx->id && h->name_len && h->name_len <= OTAS__MEMO_NAME_MAX) {
			uint64_t w[OTAS__MEMO_NAME_MAX / 8];
			uint64_t hh = otas__memo_key(h->name, h->name_len, w);
			size_t j;
			e = &hmemo[otas__memo_slot(hh, HM_SLOTS_LOG2) & ~(size_t)1];
			for (j = 0; j < 2; j++)
				if (e[j].tag == tag && e[j].len == h->name_len &&
				    otas__memo_same(e[j].w, w))
					break;
			if (j < 2) {
				kind = e[j].kind;
				sens = e[j].sens;
				nout = e[j].out;
				nlen = e[j].out_len;
			} else {
				otas__buf_reset(tmp);
				if (name_facts(ctx, dir, cgi, h, name, tmp, &kind,
				               &sens) != 0) {
					out->oom |= tmp->oom;
					continue;
				}
				nout = tmp->data;
				nlen = tmp->len;
				if (nlen <= HM_OUT) { /* way 0 is the newer */
					e[1] = e[0];
					e->tag = tag;
					memcpy(e->w, w, sizeof(w));
					e->len = (uint32_t)h->name_len;
					e->kind = (uint8_t)kind;
					e->sens = (uint8_t)sens;
					e->out_len = (uint16_t)nlen;
					if (nlen)
						memcpy(e->out, nout, nlen);
				}
			}
		} else {
			otas__buf_reset(tmp);
			if (name_facts(ctx, dir, cgi, h, name, tmp, &kind, &sens) !=
			    0) {
				out->oom |= tmp->oom;
				continue;
			}
			nout = tmp->data;
			nlen = tmp->len;
		}
		switch (kind) {
		case HK_CTYPE:
			f->ctype = h->value;
			f->ctype_len = h->value_len;
			break;
		case HK_CENC:
			f->cenc = h->value;
			f->cenc_len = h->value_len;
			break;
		case HK_HOST:
			f->host = h->value;
			f->host_len = h->value_len;
			break;
		case HK_TOKEN:
			f->token = h->value;
			f->token_len = h->value_len;
			/* PROTOCOL.md: the token travels in its own header,
			 * never in request_headers, not even by name. */
			continue;
		}
		if (!first)
			otas__buf_putc(out, ',');
		first = 0;
		otas__buf_append(out, nout, nlen);
		if (sens) {
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
			otas__scrub_text(&ctx->params, h->value, h->value_len,
			                 tmp);
			nested_str(out, tmp->data ? tmp->data : "", tmp->len);
		} else {
			nested_str(out, h->value, h->value_len);
		}
	}
	otas__buf_append(out, "}\"", 2);
}
