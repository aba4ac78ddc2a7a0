/*
 * protocol.c -- the wire formats behind one vtable (see protocol.h).
 *
 * Design note.  Everything PROTOCOL.md (and the OTLP/HTTP spec) says about
 * a request or an answer is here and nowhere else: the endpoint paths, the
 * header names, the body envelopes ({"events":[...]}, {"entities":[...]},
 * ExportLogsServiceRequest), when a body may be compressed and how, which
 * events the per-event endpoint must not get, and what each HTTP status
 * means on each endpoint.  The sender only moves items and bytes: it
 * builds a request with begin/append/end, posts it, and acts on the
 * answer's outcome with one switch.  entity.c does the same for updates.
 *
 * The status table.  One row per status (or range), one column per
 * endpoint; the cells that depend on the body (a 401 about the agent
 * token, a 415 to zstd) are refined after the lookup.  Where round 1's
 * two classifiers differed, the column says which endpoint the rule
 * belongs to:
 *   - 404/405: the batch endpoint's absence (PROTOCOL.md s3: fall back to
 *     s2); the entities endpoint's absence (drop, counted); on the
 *     per-event endpoint the base URL is wrong (keep, wait long); on OTLP
 *     a 404 is not retryable (OTLP/HTTP spec), so the records are dropped.
 *   - 401 missing_agent_session_token / invalid_or_expired_token: only the
 *     per-event endpoint reads the token header, so only there does it
 *     name one event; on a batch it refuses the whole body.
 * Every endpoint retries 408, 429 and 5xx (DESIGN.md: lose nothing; OTLP
 * lists only 429/502/503/504 as retryable, but a 500 from a proxy in
 * front of a collector is as transient as a 503 and the retry window and
 * spool bound the cost).
 */
#include "send/protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "common/json.h"
#include "event/event.h"
#include "send/compress.h"
#include "send/otlp.h"
#include "send/retry.h"

/* An event serialised before authentication carries "project_id":"" and
 * is patched here (event.h's OTAS__EVENT_PREFIX). */
#define EVENT_PREFIX OTAS__EVENT_PREFIX

/* ------------------------------------------------------- status table */

typedef struct {
	int lo, hi;                      /* status range, inclusive */
	otas__outcome_t out[OTAS__EP_COUNT]; /* batch event entities otlp */
} row_t;

#define ALL(o) {o, o, o, o}

/* First matching row wins. */
static const row_t table[] = {
    {0, 0, ALL(OTAS__OUT_RETRY)},   /* no answer: connect, timeout, reset */
    {200, 299, ALL(OTAS__OUT_OK)},
    /* A proxy's http->https redirect: following it would hand the key to
     * whatever Location names, so the items wait (spool) instead. */
    {300, 399, ALL(OTAS__OUT_REDIRECT)},
    {401, 401, ALL(OTAS__OUT_AUTH_FAILED)}, /* refined by description */
    {403, 403, ALL(OTAS__OUT_AUTH_FAILED)},
    {404, 405, {OTAS__OUT_ENDPOINT_MISSING, OTAS__OUT_AUTH_FAILED,
                OTAS__OUT_ENDPOINT_MISSING, OTAS__OUT_REJECTED}},
    {408, 408, ALL(OTAS__OUT_RETRY)},
    {413, 413, ALL(OTAS__OUT_TOO_LARGE)},
    {429, 429, ALL(OTAS__OUT_RETRY)},
    /* 400 (invalid_json, missing_required_fields), 415 (refined), other
     * 4xx: the same bytes will be refused again. */
    {400, 499, ALL(OTAS__OUT_REJECTED)},
    {500, 599, ALL(OTAS__OUT_RETRY)},
};

static int
token_reason(const char *d)
{
	return strcmp(d, "missing_agent_session_token") == 0 ||
	       strcmp(d, "invalid_or_expired_token") == 0;
}

otas__outcome_t
otas__classify(otas__endpoint_t ep, int st, const char *desc)
{
	size_t i;
	otas__outcome_t o = OTAS__OUT_REJECTED; /* 1xx, >= 600: nonsense */

	if ((unsigned)ep >= OTAS__EP_COUNT)
		return OTAS__OUT_REJECTED;
	if (!desc)
		desc = "";
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (st >= table[i].lo && st <= table[i].hi) {
			o = table[i].out[ep];
			break;
		}
	if ((st == 401 || st == 403) && token_reason(desc)) {
		if (ep == OTAS__EP_EVENT)
			o = OTAS__OUT_TOKEN_REJECTED;
		else if (ep == OTAS__EP_BATCH)
			o = OTAS__OUT_REJECTED;
	}
	return o;
}

const char *
otas__endpoint_name(otas__endpoint_t ep)
{
	switch (ep) {
	case OTAS__EP_BATCH:
		return "the batch endpoint";
	case OTAS__EP_EVENT:
		return "the event endpoint";
	case OTAS__EP_ENTITIES:
		return "the entities endpoint";
	case OTAS__EP_OTLP_LOGS:
		return "the OTLP endpoint";
	default:
		return "the back end";
	}
}

/* ------------------------------------------------------------- common */

void
otas__request_free(otas__request_t *rq)
{
	if (!rq)
		return;
	otas__zstd_free(rq->zctx);
	rq->zctx = NULL;
	otas__buf_free(&rq->raw);
	otas__buf_free(&rq->wire);
	otas__buf_free(&rq->recs);
	memset(rq->tokhdr, 0, sizeof(rq->tokhdr));
}

static void
request_reset(otas__request_t *rq, otas__endpoint_t ep)
{
	rq->ep = ep;
	rq->url = NULL;
	rq->n_hdr = 0;
	rq->body = NULL;
	rq->len = rq->raw_len = 0;
	rq->n = 0;
	rq->encoding = OTAS__COMP_NONE;
	otas__buf_reset(&rq->raw);
	otas__buf_reset(&rq->wire);
	otas__buf_reset(&rq->recs);
	if (rq->tokhdr[0])
		memset(rq->tokhdr, 0, sizeof(rq->tokhdr));
}

/* Compress rq->raw with enc into rq->wire and point body at the result. */
static int
finish_body(otas__request_t *rq, int enc)
{
	otas__buf_t *src = &rq->raw;

	if (src->oom)
		return -1;
	rq->raw_len = src->len;
	rq->encoding = enc;
	if (enc == OTAS__COMP_ZSTD) {
		if (otas__zstd(&rq->zctx, src->data, src->len, &rq->wire) != 0)
			return -1;
		src = &rq->wire;
	} else if (enc == OTAS__COMP_GZIP) {
		if (otas__gzip(src->data, src->len, &rq->wire) != 0)
			return -1;
		src = &rq->wire;
	}
	rq->body = src->data ? src->data : "";
	rq->len = src->len;
	return 0;
}

int
otas__protocol_begin(const otas__protocol_t *p, otas__request_t *rq,
                     otas__endpoint_t ep)
{
	request_reset(rq, ep);
	return p->ops->begin(p, rq);
}

otas__append_t
otas__protocol_append(const otas__protocol_t *p, otas__request_t *rq,
                      const otas__item_t *it)
{
	otas__append_t a = p->ops->append(p, rq, it);

	if (a == OTAS__APPEND_OK)
		rq->n++;
	return a;
}

int
otas__protocol_end(const otas__protocol_t *p, otas__request_t *rq)
{
	return p->ops->end(p, rq);
}

void
otas__protocol_answer(const otas__protocol_t *p, otas__request_t *rq,
                      const otas__http_resp_t *resp, otas__answer_t *out)
{
	memset(out, 0, sizeof(*out));
	out->status = resp->status;
	out->retry_after_ms = -1;
	if (resp->retry_after[0])
		out->retry_after_ms =
		    otas__retry_after_ms(resp->retry_after, time(NULL));
	/* The token has left: no copy stays in our memory. */
	if (rq->tokhdr[0])
		memset(rq->tokhdr, 0, sizeof(rq->tokhdr));
	p->ops->answer(p, rq, resp, out);
}

otas__endpoint_t
otas__protocol_events_endpoint(const otas__protocol_t *p, int per_event)
{
	if (p->kind == OTAS__PROTO_OTLP)
		return OTAS__EP_OTLP_LOGS;
	return per_event ? OTAS__EP_EVENT : OTAS__EP_BATCH;
}

int
otas__protocol_has_entities(const otas__protocol_t *p)
{
	return p && p->kind == OTAS__PROTO_OTAS;
}

void
otas__protocol_free(otas__protocol_t *p)
{
	if (p)
		p->ops->free(p);
}

/* ------------------------------------------------- OTAS (PROTOCOL.md) */

#define BATCH_OPEN "{\"events\":["

typedef struct {
	otas__protocol_t base;
	char *url[3];       /* batch, event, entities */
	char *key_header;   /* "X-OTAS-SDK-KEY: <key>" (secret) */
	int compression;    /* OTAS_COMPRESSION: OTAS__COMP_* */
	int send_without_token;
} otas_proto_t;

static int
otas_begin(const otas__protocol_t *bp, otas__request_t *rq)
{
	const otas_proto_t *p = (const otas_proto_t *)bp;

	if (rq->ep > OTAS__EP_ENTITIES)
		return -1;
	rq->url = p->url[rq->ep];
	if (rq->ep == OTAS__EP_BATCH)
		otas__buf_puts(&rq->raw, BATCH_OPEN);
	else if (rq->ep == OTAS__EP_ENTITIES)
		otas__buf_puts(&rq->raw, "{\"entities\":[");
	return 0;
}

/* Append an event, filling in the project id when it was serialised
 * before authentication. */
static void
append_event(otas__buf_t *out, const otas__item_t *ev, const char *pid)
{
	static const char empty[] = EVENT_PREFIX "\"\"";
	size_t k = sizeof(empty) - 1;

	if (*pid && ev->len > k && memcmp(ev->json, empty, k) == 0) {
		otas__buf_puts(out, EVENT_PREFIX);
		otas__json_str(out, pid, strlen(pid));
		otas__buf_append(out, ev->json + k, ev->len - k);
	} else {
		otas__buf_append(out, ev->json, ev->len);
	}
}

static otas__append_t
otas_append(const otas__protocol_t *bp, otas__request_t *rq,
            const otas__item_t *it)
{
	const otas_proto_t *p = (const otas_proto_t *)bp;

	switch (rq->ep) {
	case OTAS__EP_EVENT:
		if (rq->n)
			return OTAS__APPEND_FULL;
		/* PROTOCOL.md s2: the platform rejects an event without an
		 * agent token by contract; each costs it a key check. */
		if (!it->token && !p->send_without_token)
			return OTAS__APPEND_NO_TOKEN;
		if (it->token) {
			if (it->token_len > sizeof(rq->tokhdr) - 40 ||
			    memchr(it->token, '\r', it->token_len) ||
			    memchr(it->token, '\n', it->token_len) ||
			    memchr(it->token, '\0', it->token_len))
				return OTAS__APPEND_BAD_TOKEN; /* not a header */
			snprintf(rq->tokhdr, sizeof(rq->tokhdr),
			         "X-OTAS-AGENT-SESSION-TOKEN: %.*s",
			         (int)it->token_len, it->token);
		}
		append_event(&rq->raw, it, rq->project_id);
		return OTAS__APPEND_OK;
	case OTAS__EP_BATCH:
		if (rq->n)
			otas__buf_putc(&rq->raw, ',');
		append_event(&rq->raw, it, rq->project_id);
		return OTAS__APPEND_OK;
	case OTAS__EP_ENTITIES:
		if (rq->n)
			otas__buf_putc(&rq->raw, ',');
		otas__buf_append(&rq->raw, it->json, it->len);
		return OTAS__APPEND_OK;
	default:
		return OTAS__APPEND_INVALID;
	}
}

/* The batch body's encoding: zstd when OTAS_COMPRESSION=zstd, or =auto
 * and the back end's authentication answer listed it; gzip after a 415
 * to zstd (remembered) and for any back end that did not say (the OTAS
 * platform).  Single events and entity updates go plain, as the platform
 * expects. */
static int
batch_encoding(const otas_proto_t *p, const otas__request_t *rq)
{
	int c = p->compression;

	if (c == OTAS__COMP_NONE || c == OTAS__COMP_GZIP)
		return c;
	if (rq->zstd_refused)
		return OTAS__COMP_GZIP;
	if (c == OTAS__COMP_ZSTD || rq->accepts_zstd)
		return OTAS__COMP_ZSTD;
	return OTAS__COMP_GZIP;
}

static void otas_headers(const otas_proto_t *p, otas__request_t *rq,
                         int enc);

static int
otas_end(const otas__protocol_t *bp, otas__request_t *rq)
{
	const otas_proto_t *p = (const otas_proto_t *)bp;
	int enc = OTAS__COMP_NONE;

	if (rq->ep == OTAS__EP_BATCH || rq->ep == OTAS__EP_ENTITIES)
		otas__buf_puts(&rq->raw, "]}");
	if (rq->ep == OTAS__EP_BATCH)
		enc = batch_encoding(p, rq);
	if (finish_body(rq, enc) != 0)
		return -1;
	otas_headers(p, rq, enc);
	return 0;
}

const char *
otas__protocol_batch_open(const otas__protocol_t *p, const char **sep)
{
	if (!p || p->kind != OTAS__PROTO_OTAS)
		return NULL;
	*sep = ",";
	return BATCH_OPEN;
}

int
otas__protocol_batch_adopt(const otas__protocol_t *bp, otas__request_t *rq,
                           otas__buf_t *body, size_t n)
{
	const otas_proto_t *p = (const otas_proto_t *)bp;
	size_t len = body->len, k = sizeof(BATCH_OPEN) - 1;
	int enc, rc;

	if (!bp || bp->kind != OTAS__PROTO_OTAS || !n || body->oom ||
	    len < k || memcmp(body->data, BATCH_OPEN, k) != 0)
		return -1;
	request_reset(rq, OTAS__EP_BATCH);
	enc = batch_encoding(p, rq);
	if (enc == OTAS__COMP_NONE)
		return -1; /* the body would be the caller's buffer itself */
	rq->url = p->url[OTAS__EP_BATCH];
	otas__buf_puts(body, "]}");
	if (body->oom) {
		body->len = len;
		body->oom = 0;
		return -1;
	}
	rq->raw_len = body->len;
	rq->encoding = enc;
	rc = enc == OTAS__COMP_ZSTD
	         ? otas__zstd(&rq->zctx, body->data, body->len, &rq->wire)
	         : otas__gzip(body->data, body->len, &rq->wire);
	body->len = len;
	body->data[len] = '\0';
	if (rc != 0 || rq->wire.oom) {
		request_reset(rq, OTAS__EP_BATCH);
		return -1;
	}
	rq->body = rq->wire.data;
	rq->len = rq->wire.len;
	rq->n = n;
	otas_headers(p, rq, enc);
	return 0;
}

static void
otas_headers(const otas_proto_t *p, otas__request_t *rq, int enc)
{
	rq->hdr[rq->n_hdr++] = p->key_header;
	rq->hdr[rq->n_hdr++] = "Content-Type: application/json";
	if (enc == OTAS__COMP_ZSTD)
		rq->hdr[rq->n_hdr++] = "Content-Encoding: zstd";
	else if (enc == OTAS__COMP_GZIP)
		rq->hdr[rq->n_hdr++] = "Content-Encoding: gzip";
	if (rq->ep == OTAS__EP_EVENT && rq->tokhdr[0])
		rq->hdr[rq->n_hdr++] = rq->tokhdr;
}

/* The answers a collector gives are flat objects of integers, plain
 * strings and empty arrays ({"status":1,"status_description":
 * "batch_captured","accepted":100,"duplicates":0,"rejected":[]}): read
 * without jansson (its parse, a hash table and a dozen allocations, once
 * per batch), with the same result.  1 when read that way; 0 when the
 * body holds anything else (an escape, a byte >= 0x80, a negative or
 * non-integer number, a non-empty array, a nested object, a syntax error)
 * and jansson must decide. */
typedef struct {
	int kind;      /* 0 absent, 1 string, 2 integer, 3 [], 4 other */
	const char *s; /* the string's bytes */
	size_t sl;
	uint64_t iv;
} flat_t;

static const char *
flat_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* A plain string at p ('"' already seen): its end quote, or NULL. */
static const char *
flat_str(const char *p, const char *e)
{
	for (; p < e; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '"')
			return p;
		if (ch == '\\' || ch < 0x20 || ch >= 0x80)
			return NULL;
	}
	return NULL;
}

static int
answer_flat(const char *body, size_t len, size_t n, otas__answer_t *out)
{
	enum { K_DESC, K_ERROR, K_ACC, K_DUP, K_REJ, K_OTHER };
	static const struct {
		const char *name;
		size_t len;
	} keys[] = {{"status_description", 18}, {"error", 5}, {"accepted", 8},
	            {"duplicates", 10}, {"rejected", 8}};
	flat_t f[K_OTHER + 1];
	const char *p = body, *e = body + len, *q;
	size_t i;

	memset(f, 0, sizeof(f));
	p = flat_ws(p, e);
	if (p == e || *p++ != '{')
		return 0;
	p = flat_ws(p, e);
	if (p < e && *p == '}') {
		p++;
		goto end;
	}
	for (;;) {
		flat_t v = {0, NULL, 0, 0};
		int k = K_OTHER;

		if (p == e || *p++ != '"' || !(q = flat_str(p, e)))
			return 0;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if ((size_t)(q - p) == keys[i].len &&
			    memcmp(p, keys[i].name, keys[i].len) == 0)
				k = (int)i;
		p = flat_ws(q + 1, e);
		if (p == e || *p++ != ':')
			return 0;
		p = flat_ws(p, e);
		if (p == e)
			return 0;
		if (*p == '"') {
			if (!(q = flat_str(p + 1, e)))
				return 0;
			v.kind = 1, v.s = p + 1, v.sl = (size_t)(q - p - 1);
			p = q + 1;
		} else if (*p >= '0' && *p <= '9') {
			/* JSON: no leading zero but 0 itself; up to 18 digits
			 * (jansson's json_int_t holds them all). */
			size_t nd = 0;
			if (*p == '0' && p + 1 < e && p[1] >= '0' && p[1] <= '9')
				return 0;
			for (; p < e && *p >= '0' && *p <= '9'; p++, nd++) {
				if (nd == 18)
					return 0;
				v.iv = v.iv * 10 + (uint64_t)(*p - '0');
			}
			if (p < e && (*p == '.' || *p == 'e' || *p == 'E'))
				return 0;
			v.kind = 2;
		} else if (*p == '[') {
			p = flat_ws(p + 1, e);
			if (p == e || *p++ != ']')
				return 0;
			v.kind = 3;
		} else {
			return 0;
		}
		f[k] = v; /* a repeated key: the last one counts (jansson) */
		p = flat_ws(p, e);
		if (p == e)
			return 0;
		if (*p == '}') {
			p++;
			break;
		}
		if (*p++ != ',')
			return 0;
		p = flat_ws(p, e);
	}
end:
	if (flat_ws(p, e) != e)
		return 0;
	/* What the jansson reader below makes of the same object. */
	i = f[K_DESC].kind == 1 ? K_DESC : f[K_ERROR].kind == 1 ? K_ERROR
	                                                        : K_OTHER;
	if (i != K_OTHER) {
		size_t l = f[i].sl < sizeof(out->description) - 1
		               ? f[i].sl
		               : sizeof(out->description) - 1;
		memcpy(out->description, f[i].s, l);
		out->description[l] = '\0';
	}
	if (f[K_ACC].kind == 2 && f[K_ACC].iv <= n)
		out->accepted = f[K_ACC].iv;
	if (f[K_DUP].kind == 2 && f[K_DUP].iv <= n)
		out->duplicates = f[K_DUP].iv;
	/* "rejected": [] is 0, as set above; a list with items is jansson's */
	return 1;
}

int
otas__protocol_parse_otas_answer(const char *body, size_t len, size_t n,
                                 otas__answer_t *out)
{
	out->accepted = n;
	out->duplicates = out->rejected = 0;
	out->description[0] = '\0';
	if (body && len && answer_flat(body, len, n, out))
		return 0;
	return otas__protocol_answer_jansson(body, len, n, out);
}

int
otas__protocol_answer_jansson(const char *body, size_t len,
                              size_t n, otas__answer_t *out)
{
	json_t *o, *v;
	int rc = -1;

	out->accepted = n;
	out->duplicates = out->rejected = 0;
	out->description[0] = '\0';
	if (!body || !len)
		return -1;
	o = json_loadb(body, len, 0, NULL);
	if (!json_is_object(o))
		goto done;
	rc = 0;
	/* status_description (log answers) or error (auth-style answers) */
	v = json_object_get(o, "status_description");
	if (!json_is_string(v))
		v = json_object_get(o, "error");
	if (json_is_string(v))
		snprintf(out->description, sizeof(out->description), "%s",
		         json_string_value(v));
	v = json_object_get(o, "accepted");
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    (uint64_t)json_integer_value(v) <= n)
		out->accepted = (uint64_t)json_integer_value(v);
	v = json_object_get(o, "duplicates");
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    (uint64_t)json_integer_value(v) <= n)
		out->duplicates = (uint64_t)json_integer_value(v);
	v = json_object_get(o, "rejected");
	if (json_is_array(v))
		out->rejected = json_array_size(v) <= n ? json_array_size(v) : n;
done:
	json_decref(o);
	return rc;
}

static void
otas_answer(const otas__protocol_t *bp, otas__request_t *rq,
            const otas__http_resp_t *resp, otas__answer_t *out)
{
	(void)bp;
	otas__protocol_parse_otas_answer(resp->body.data, resp->body.len,
	                                 rq->n, out);
	if (rq->ep != OTAS__EP_BATCH) {
		/* One event, or updates: no counts in the answer. */
		out->accepted = rq->n;
		out->duplicates = out->rejected = 0;
	}
	if (resp->status == 415 && rq->encoding == OTAS__COMP_ZSTD) {
		/* This back end does not decode zstd after all: gzip from
		 * now on, and send the same items again. */
		rq->zstd_refused = 1;
		out->outcome = OTAS__OUT_ENCODING_REFUSED;
		return;
	}
	out->outcome = otas__classify(rq->ep, resp->status, out->description);
}

static void
otas_free(otas__protocol_t *bp)
{
	otas_proto_t *p = (otas_proto_t *)bp;
	int i;

	for (i = 0; i < 3; i++)
		free(p->url[i]);
	if (p->key_header) {
		memset(p->key_header, 0, strlen(p->key_header));
		free(p->key_header);
	}
	free(p);
}

static const otas__protocol_ops_t otas_ops = {
    "otas", otas_begin, otas_append, otas_end, otas_answer, otas_free};

static otas__protocol_t *
otas_new(const otas_config_t *cfg)
{
	otas_proto_t *p = calloc(1, sizeof(*p));
	size_t kl = strlen(cfg->sdk_key);

	if (!p)
		return NULL;
	p->base.ops = &otas_ops;
	p->base.kind = OTAS__PROTO_OTAS;
	p->base.target = "the back end";
	p->base.url_option = "OTAS_BASE_URL";
	p->url[OTAS__EP_BATCH] =
	    otas__url_join(cfg->base_url, "api/v1/backend/log/sdk/batch/");
	p->url[OTAS__EP_EVENT] =
	    otas__url_join(cfg->base_url, "api/v1/backend/log/sdk/");
	p->url[OTAS__EP_ENTITIES] =
	    otas__url_join(cfg->base_url, "api/v1/entities/batch/");
	p->key_header = malloc(kl + 20);
	p->compression = otas__compression(cfg);
	p->send_without_token = cfg->send_without_agent_token;
	if (!p->url[0] || !p->url[1] || !p->url[2] || !p->key_header) {
		otas_free(&p->base);
		return NULL;
	}
	snprintf(p->key_header, kl + 20, "X-OTAS-SDK-KEY: %s", cfg->sdk_key);
	return &p->base;
}

/* ------------------------------------------------------ OTLP/HTTP logs */

typedef struct {
	otas__protocol_t base;
	otas__otlp_t *o;
} otlp_proto_t;

static int
otlp_begin(const otas__protocol_t *bp, otas__request_t *rq)
{
	const otlp_proto_t *p = (const otlp_proto_t *)bp;

	if (rq->ep != OTAS__EP_OTLP_LOGS)
		return -1;
	rq->url = otas__otlp_url(p->o);
	return 0;
}

static otas__append_t
otlp_append(const otas__protocol_t *bp, otas__request_t *rq,
            const otas__item_t *it)
{
	const otlp_proto_t *p = (const otlp_proto_t *)bp;

	if (otas__otlp_add(p->o, it->json, it->len, &rq->recs) != 0)
		return OTAS__APPEND_INVALID;
	return OTAS__APPEND_OK;
}

static int
otlp_end(const otas__protocol_t *bp, otas__request_t *rq)
{
	const otlp_proto_t *p = (const otlp_proto_t *)bp;
	const char *const *h;
	size_t i, n;

	if (otas__otlp_finish(p->o, &rq->recs, &rq->raw) != 0)
		return -1;
	if (finish_body(rq, otas__otlp_gzip(p->o) ? OTAS__COMP_GZIP
	                                          : OTAS__COMP_NONE) != 0)
		return -1;
	/* Content-Type, Content-Encoding when gzip, OTAS_OTLP_HEADERS */
	h = otas__otlp_headers(p->o, &n);
	for (i = 0; i < n && rq->n_hdr < sizeof(rq->hdr) / sizeof(rq->hdr[0]);
	     i++)
		rq->hdr[rq->n_hdr++] = h[i];
	return 0;
}

static void
otlp_answer(const otas__protocol_t *bp, otas__request_t *rq,
            const otas__http_resp_t *resp, otas__answer_t *out)
{
	int64_t rej = 0;

	(void)bp;
	out->outcome = otas__classify(OTAS__EP_OTLP_LOGS, resp->status, NULL);
	out->accepted = rq->n;
	if (out->outcome != OTAS__OUT_OK)
		return;
	otas__otlp_parse_response(resp->body.data, resp->body.len, &rej,
	                          out->description, sizeof(out->description));
	if (rej < 0 || (uint64_t)rej > rq->n)
		rej = (int64_t)rq->n;
	out->rejected = (uint64_t)rej;
	out->accepted = rq->n - (uint64_t)rej;
}

static void
otlp_free(otas__protocol_t *bp)
{
	otlp_proto_t *p = (otlp_proto_t *)bp;

	otas__otlp_free(p->o);
	free(p);
}

static const otas__protocol_ops_t otlp_ops = {
    "otlp", otlp_begin, otlp_append, otlp_end, otlp_answer, otlp_free};

static otas__protocol_t *
otlp_new(const otas_config_t *cfg, const char *sdk_name)
{
	otlp_proto_t *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->base.ops = &otlp_ops;
	p->base.kind = OTAS__PROTO_OTLP;
	p->base.target = "the OTLP endpoint";
	p->base.url_option = "OTAS_OTLP_ENDPOINT";
	p->o = otas__otlp_new(cfg, sdk_name);
	if (!p->o) {
		free(p);
		return NULL;
	}
	return &p->base;
}

struct otas__otlp_s *
otas__protocol_otlp(const otas__protocol_t *p)
{
	return p && p->kind == OTAS__PROTO_OTLP ? ((const otlp_proto_t *)p)->o
	                                        : NULL;
}

/* ---------------------------------------------- authentication (s1) */

int
otas__protocol_auth_request(const char *auth_url, const char *sdk_key,
                            char **url, char **hdr)
{
	size_t kl = strlen(sdk_key);

	*url = otas__url_join(auth_url,
	                      "api/project/v1/sdk/backend/key/authenticate/");
	*hdr = malloc(kl + 20);
	if (!*url || !*hdr) {
		free(*url);
		free(*hdr);
		*url = *hdr = NULL;
		return -1;
	}
	snprintf(*hdr, kl + 20, "X-OTAS-SDK-KEY: %s", sdk_key);
	return 0;
}

/* The platform's answers come in two spellings (status/response and
 * Status/Response) and two error shapes ({"error": ...} and {"status": 0,
 * "status_description": ...}); all are accepted.  Messages are built from
 * the platform's own words and never include the key. */
static json_t *
get2(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	return v ? v : json_object_get(o, b);
}

static void
copy_str(char *dst, size_t n, json_t *v)
{
	if (json_is_string(v))
		snprintf(dst, n, "%s", json_string_value(v));
}

otas_auth_status_t
otas__auth_parse(int st, const char *body, size_t len,
                 otas_auth_result_t *out)
{
	json_t *o = NULL, *v, *resp, *proj;
	char reason[200] = "";

	out->http_status = st;
	out->project_id[0] = out->project_name[0] = '\0';
	out->project_description[0] = '\0';
	out->key_expires_at = 0;
	if (body && len)
		o = json_loadb(body, len, 0, NULL);
	if (json_is_object(o)) {
		v = json_object_get(o, "error");
		if (!json_is_string(v))
			v = get2(o, "status_description", "Status_description");
		copy_str(reason, sizeof(reason), v);
	}
	if (st >= 200 && st < 300) {
		json_t *stv = json_is_object(o) ? get2(o, "status", "Status")
		                                : NULL;
		if (!json_is_object(o)) {
			out->status = OTAS_AUTH_UNREACHABLE;
			snprintf(out->message, sizeof(out->message),
			         "authentication answer (HTTP %d) is not JSON",
			         st);
			goto done;
		}
		if (!(json_is_integer(stv) && json_integer_value(stv) == 1) &&
		    !(json_is_string(stv) &&
		      strcmp(json_string_value(stv), "1") == 0)) {
			out->status = OTAS_AUTH_INVALID_KEY;
			snprintf(out->message, sizeof(out->message),
			         "authentication failed: %s",
			         reason[0] ? reason : "status is not 1");
			goto done;
		}
		resp = get2(o, "response", "Response");
		proj = json_is_object(resp) ? get2(resp, "project", "Project")
		                            : NULL;
		v = json_is_object(proj) ? json_object_get(proj, "id") : NULL;
		if (json_is_string(v) && json_string_length(v) > 0 &&
		    json_string_length(v) < sizeof(out->project_id)) {
			copy_str(out->project_id, sizeof(out->project_id), v);
		} else if (json_is_integer(v)) {
			snprintf(out->project_id, sizeof(out->project_id),
			         "%lld", (long long)json_integer_value(v));
		} else {
			out->status = OTAS_AUTH_UNREACHABLE;
			snprintf(out->message, sizeof(out->message),
			         "authentication answer has no project id");
			goto done;
		}
		copy_str(out->project_name, sizeof(out->project_name),
		         json_object_get(proj, "name"));
		copy_str(out->project_description,
		         sizeof(out->project_description),
		         json_object_get(proj, "description"));
		/* otas-collector announces the key's expiry (the platform
		 * does not); absent means unknown. */
		v = json_is_object(resp) ? json_object_get(resp, "key") : NULL;
		v = json_is_object(v) ? json_object_get(v, "expires_at_unix")
		                      : NULL;
		out->key_expires_at =
		    json_is_integer(v) ? (long long)json_integer_value(v) : 0;
		/* otas-collector lists the body encodings it decodes
		 * (response.accept_encoding); the platform lists none, so
		 * zstd is used only toward a back end that said so. */
		v = json_is_object(resp) ? json_object_get(resp,
		                                           "accept_encoding")
		                         : NULL;
		if (json_is_array(v)) {
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e) {
				if (json_is_string(e) &&
				    strcasecmp(json_string_value(e), "zstd") == 0)
					out->accepts_zstd = 1;
			}
		}
		out->status = OTAS_AUTH_OK;
		snprintf(out->message, sizeof(out->message), "authenticated");
	} else if (st == 401 || st == 403) {
		out->status = OTAS_AUTH_INVALID_KEY;
		snprintf(out->message, sizeof(out->message), "%s",
		         reason[0] ? reason : "the SDK key was refused");
	} else {
		out->status = OTAS_AUTH_UNREACHABLE;
		snprintf(out->message, sizeof(out->message),
		         "authentication endpoint answered HTTP %d%s%s", st,
		         reason[0] ? ": " : "", reason);
	}
done:
	json_decref(o);
	return out->status;
}

/* ------------------------------------------------------------- public */

otas__protocol_t *
otas__protocol_new(const otas_config_t *cfg, const char *sdk_name)
{
	if (otas__otlp_enabled(cfg))
		return otlp_new(cfg, sdk_name);
	return otas_new(cfg);
}

void
otas__protocol_auth_message(const otas__protocol_t *p,
                            const otas__answer_t *a, char *out, size_t n)
{
	if (p->kind == OTAS__PROTO_OTLP)
		snprintf(out, n,
		         "the OTLP endpoint refused the request (HTTP %d): "
		         "check OTAS_OTLP_HEADERS; events are kept and retried",
		         a->status);
	else if (a->status == 404 || a->status == 405)
		snprintf(out, n,
		         "the back end has no event endpoint (HTTP %d): check "
		         "OTAS_BASE_URL; events are kept and retried",
		         a->status);
	else
		snprintf(out, n,
		         "the back end refused the SDK key (HTTP %d %s); events "
		         "are kept and retried",
		         a->status, a->description);
}
