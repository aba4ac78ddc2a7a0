/*
 * protocol.h -- the only unit that knows a wire format: what a request to
 * the back end looks like (URL, headers, body, its encoding) and what the
 * answer means.  Two implementations sit behind one small vtable:
 *
 *   otas   PROTOCOL.md: the batch endpoint (section 3), one event per
 *          request (section 2, the platform without a batch endpoint) and
 *          the entities batch; JSON, gzip or zstd.
 *   otlp   OTAS_EXPORTER=otlp: OTLP/HTTP logs, protobuf (otlp.c encodes),
 *          gzip or none.
 *
 * The authentication exchange (PROTOCOL.md s1) is here too: the request
 * (otas__protocol_auth_request) and its answer (otas__auth_parse); auth.c
 * only posts it.
 *
 * The sender drives every request the same way, whatever the protocol:
 *
 *   otas__protocol_begin(p, rq, endpoint)      start a request
 *   otas__protocol_append(p, rq, item) ...     add items (events, updates)
 *   otas__protocol_end(p, rq)                  rq->url, hdr, body, len
 *   otas__http_post(...)
 *   otas__protocol_answer(p, rq, resp, &ans)   outcome + counts
 *
 * and acts on ans.outcome with one switch.  What an HTTP status means is
 * one table (protocol.c, one column per endpoint), also reachable pure
 * through otas__classify() for tests.
 *
 * Threads: a protocol object is built by otas__protocol_new() from the
 * validated config and is read-only afterwards (any thread).  A request
 * object holds the mutable part (buffers, the zstd context, "this back end
 * refused zstd") and belongs to one thread: the sender owns one.
 */
#ifndef OTAS_PROTOCOL_H
#define OTAS_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "common/buf.h"
#include "otas/otas.h"
#include "send/http_curl.h"

/* What one answer means for the items of the request. */
typedef enum {
	OTAS__OUT_OK = 0,         /* delivered: see the answer's counts */
	OTAS__OUT_RETRY,          /* transient (no answer, 408, 429, 5xx):
	                           * keep, back off (Retry-After when given) */
	OTAS__OUT_REJECTED,       /* these bytes will never be accepted (400,
	                           * other 4xx): drop the items, counted */
	OTAS__OUT_TOKEN_REJECTED, /* 401 about the event's agent token: drop
	                           * that event, counted as invalid token */
	OTAS__OUT_AUTH_FAILED,    /* the key (headers) refused, or the URL
	                           * answers 404: keep, long wait */
	OTAS__OUT_ENDPOINT_MISSING, /* 404/405 from an endpoint our collector
	                           * adds: batch -> per-event, entities -> drop */
	OTAS__OUT_REDIRECT,       /* 3xx: the URL is wrong; keep, never follow */
	OTAS__OUT_TOO_LARGE,      /* 413: halve the request; one item: drop */
	OTAS__OUT_ENCODING_REFUSED /* 415 to a zstd body: gzip from now on,
	                           * send the same items again */
} otas__outcome_t;

/* The endpoints: the columns of the status table. */
typedef enum {
	OTAS__EP_BATCH = 0, /* POST {base}/api/v1/backend/log/sdk/batch/ */
	OTAS__EP_EVENT,     /* POST {base}/api/v1/backend/log/sdk/ */
	OTAS__EP_ENTITIES,  /* POST {base}/api/v1/entities/batch/ */
	OTAS__EP_OTLP_LOGS, /* POST OTAS_OTLP_ENDPOINT (/v1/logs) */
	OTAS__EP_COUNT
} otas__endpoint_t;

typedef enum { OTAS__PROTO_OTAS = 0, OTAS__PROTO_OTLP } otas__proto_kind_t;

/* What an HTTP status (0: no answer) means on an endpoint.  description
 * is the answer's status_description or error (NULL or "" when none):
 * PROTOCOL.md tells a 401 about the agent token from one about the key by
 * it.  Pure; the whole table is tested (tests/c/test_protocol.c). */
otas__outcome_t otas__classify(otas__endpoint_t ep, int http_status,
                               const char *description);

/* "the batch endpoint", ... for messages. */
const char *otas__endpoint_name(otas__endpoint_t ep);

/* One item to send: an event as event.c wrote it (JSON, redacted,
 * agent_session_token inside) with its agent token beside it (NULL when
 * none), or an entity update element ({"kind":...}). */
typedef struct {
	const char *json;
	size_t len;
	const char *token;
	size_t token_len;
} otas__item_t;

/* What append() did with an item. */
typedef enum {
	OTAS__APPEND_OK = 0,
	OTAS__APPEND_NO_TOKEN,  /* per-event mode, no agent token: not sent
	                         * (skipped_no_agent_token) */
	OTAS__APPEND_BAD_TOKEN, /* the token cannot be a header value
	                         * (dropped_invalid_agent_token) */
	OTAS__APPEND_INVALID,   /* not an event (dropped_capture_error) */
	OTAS__APPEND_FULL       /* the endpoint takes no more items in this
	                         * request (per-event: one); not appended */
} otas__append_t;

/* A request being built, and the mutable state of the thread that sends
 * (zero it, then otas__request_free() when done).  After end(): url, hdr,
 * n_hdr, body and len are what to POST; they stay valid until the next
 * begin().  Header lines may hold secrets (the SDK key, the agent token,
 * OTAS_OTLP_HEADERS): never log them; answer() wipes the token line. */
typedef struct {
	otas__endpoint_t ep;
	const char *url;
	const char *hdr[40]; /* OTLP: 2 + up to 32 OTAS_OTLP_HEADERS */
	size_t n_hdr;
	const char *body;
	size_t len;        /* wire bytes (after compression) */
	size_t raw_len;    /* bytes before compression */
	size_t n;          /* items appended */
	int encoding;      /* OTAS__COMP_* of body */
	/* Set by the caller before begin(). */
	char project_id[128]; /* "" until authenticated */
	int accepts_zstd;     /* the last authentication listed zstd */
	/* Kept across requests. */
	int zstd_refused;     /* the back end answered 415 to zstd */
	void *zctx;
	otas__buf_t raw, wire, recs;
	char tokhdr[8192];
} otas__request_t;

/* The answer, read. */
typedef struct {
	otas__outcome_t outcome;
	int status;             /* HTTP status, 0 = no answer */
	int64_t retry_after_ms; /* Retry-After, -1 when absent or invalid */
	/* OK: accepted + duplicates + rejected <= n. */
	uint64_t accepted, duplicates, rejected;
	char description[160];  /* the back end's reason ("" when none) */
} otas__answer_t;

typedef struct otas__protocol_s otas__protocol_t;

typedef struct {
	const char *name;
	int (*begin)(const otas__protocol_t *p, otas__request_t *rq);
	otas__append_t (*append)(const otas__protocol_t *p,
	                         otas__request_t *rq, const otas__item_t *it);
	int (*end)(const otas__protocol_t *p, otas__request_t *rq);
	void (*answer)(const otas__protocol_t *p, otas__request_t *rq,
	               const otas__http_resp_t *resp, otas__answer_t *out);
	void (*free)(otas__protocol_t *p);
} otas__protocol_ops_t;

struct otas__protocol_s {
	const otas__protocol_ops_t *ops;
	otas__proto_kind_t kind;
	/* Words for messages: "the back end", "OTAS_BASE_URL". */
	const char *target;
	const char *url_option;
};

/* The protocol cfg selects (OTAS_EXPORTER), for a validated cfg; sdk_name
 * goes into OTLP's resource.  NULL on oom. */
otas__protocol_t *otas__protocol_new(const otas_config_t *cfg,
                                     const char *sdk_name);
void otas__protocol_free(otas__protocol_t *p);

/* The endpoint events go to: per_event asks for PROTOCOL.md section 2
 * (after the batch endpoint answered 404/405); OTLP has one. */
otas__endpoint_t otas__protocol_events_endpoint(const otas__protocol_t *p,
                                                int per_event);
/* 1 when the protocol carries entity updates (OTLP logs do not). */
int otas__protocol_has_entities(const otas__protocol_t *p);

/* Start a request to ep (reset rq's buffers).  0 or -1 (ep not served by
 * this protocol). */
int otas__protocol_begin(const otas__protocol_t *p, otas__request_t *rq,
                         otas__endpoint_t ep);
otas__append_t otas__protocol_append(const otas__protocol_t *p,
                                     otas__request_t *rq,
                                     const otas__item_t *it);
/* Finish the body (and compress it): 0, or -1 on oom. */
int otas__protocol_end(const otas__protocol_t *p, otas__request_t *rq);

/* A batch body laid out by the caller as it serialises, so that it is not
 * copied event by event into rq->raw (begin/append/end): what starts it
 * and what goes between two events; NULL when this protocol has no such
 * body (OTLP), *sep untouched then.  Events in it must carry their
 * project id (no patch, unlike append). */
const char *otas__protocol_batch_open(const otas__protocol_t *p,
                                      const char **sep);
/* The request for a batch of n events in body (the open string, then the
 * events joined by sep: nothing else), as begin(BATCH), n appends and end()
 * would make it.  body is compressed in place (its end is written there
 * and taken away again: its bytes are as before).  0; -1 when this request
 * must be built the usual way (no such body, not compressed, oom). */
int otas__protocol_batch_adopt(const otas__protocol_t *p, otas__request_t *rq,
                               otas__buf_t *body, size_t n);
/* Read the answer to the request just sent (also wipes the token line). */
void otas__protocol_answer(const otas__protocol_t *p, otas__request_t *rq,
                           const otas__http_resp_t *resp,
                           otas__answer_t *out);
/* "the back end refused the SDK key (HTTP 401 invalid_sdk_key)": the
 * message for an AUTH_FAILED answer (never holds a secret). */
void otas__protocol_auth_message(const otas__protocol_t *p,
                                 const otas__answer_t *a, char *out,
                                 size_t n);

/* OTAS answers (pure, fuzzed): status_description or error into desc;
 * for a batch answer accepted/duplicates/rejected (defaults: n accepted).
 * 0 when the body is a JSON object, -1 otherwise (counts at defaults). */
int otas__protocol_parse_otas_answer(const char *body, size_t len, size_t n,
                                     otas__answer_t *out);
/* The same with jansson for every body (the reader above reads flat
 * answers itself): for the tests and the fuzzer that compare the two. */
int otas__protocol_answer_jansson(const char *body, size_t len,
                                  size_t n, otas__answer_t *out);

void otas__request_free(otas__request_t *rq);

/* PROTOCOL.md s1, authentication: the URL to POST (malloc'd) and the key
 * header line (malloc'd; a secret: wipe before free).  0, or -1 on oom
 * (both NULL). */
int otas__protocol_auth_request(const char *auth_url, const char *sdk_key,
                                char **url, char **hdr);

/* Parse an authentication answer (status code and body) into out; pure,
 * fuzzed.  Returns out->status. */
otas_auth_status_t otas__auth_parse(int http_status, const char *body,
                                    size_t len, otas_auth_result_t *out);

/* The OTLP encoder state of an OTLP protocol (tests), else NULL. */
struct otas__otlp_s *otas__protocol_otlp(const otas__protocol_t *p);

#endif
