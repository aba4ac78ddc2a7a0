/*
 * test_protocol.c -- protocol.c, pure: the status table for every status
 * on every endpoint, the request bytes each protocol writes (URL, header
 * lines, envelope), and the answers it reads.  No network.
 */
#include <dlfcn.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "config.h"
#include "send/protocol.h"
#include "testlib.h"

#define KEY "otas_AAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

#define B OTAS__EP_BATCH
#define E OTAS__EP_EVENT
#define N OTAS__EP_ENTITIES
#define L OTAS__EP_OTLP_LOGS

/* The rules of round 1's retry_classify() (batch and event columns) and
 * otlp_classify() (OTLP column), kept. */
TEST(classify_follows_the_protocol)
{
	CHECK_INT(otas__classify(B, 200, NULL), OTAS__OUT_OK);
	CHECK_INT(otas__classify(E, 201, "event_captured"), OTAS__OUT_OK);
	CHECK_INT(otas__classify(B, 0, NULL), OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(B, 404, NULL), OTAS__OUT_ENDPOINT_MISSING);
	CHECK_INT(otas__classify(B, 405, NULL), OTAS__OUT_ENDPOINT_MISSING);
	CHECK_INT(otas__classify(E, 404, NULL), OTAS__OUT_AUTH_FAILED);
	CHECK_INT(otas__classify(E, 400, "invalid_json"), OTAS__OUT_REJECTED);
	CHECK_INT(otas__classify(B, 400, "missing_required_fields"),
	          OTAS__OUT_REJECTED);
	/* 413: the sender halves the request; one event is dropped */
	CHECK_INT(otas__classify(B, 413, ""), OTAS__OUT_TOO_LARGE);
	CHECK_INT(otas__classify(E, 401, "missing_agent_session_token"),
	          OTAS__OUT_TOKEN_REJECTED);
	CHECK_INT(otas__classify(E, 401, "invalid_or_expired_token"),
	          OTAS__OUT_TOKEN_REJECTED);
	CHECK_INT(otas__classify(E, 401, "invalid_sdk_key"),
	          OTAS__OUT_AUTH_FAILED);
	CHECK_INT(otas__classify(B, 401, "missing_sdk_key"),
	          OTAS__OUT_AUTH_FAILED);
	CHECK_INT(otas__classify(B, 403, "Invalid SDK Key"),
	          OTAS__OUT_AUTH_FAILED);
	CHECK_INT(otas__classify(B, 408, ""), OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(B, 429, ""), OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(E, 500, "event_capture_failed"),
	          OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(B, 503, ""), OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(B, 302, ""), OTAS__OUT_REDIRECT);
}

/* Every status 0..599 (and a few out of range) on every endpoint: the
 * whole table, written out a second time as the expected column values,
 * so that a change to one cell is a visible change here. */
static otas__outcome_t
want(int ep, int st, const char *d)
{
	int tok = d && (strcmp(d, "missing_agent_session_token") == 0 ||
	                strcmp(d, "invalid_or_expired_token") == 0);

	if (st == 0)
		return OTAS__OUT_RETRY;
	if (st >= 200 && st < 300)
		return OTAS__OUT_OK;
	if (st >= 300 && st < 400)
		return OTAS__OUT_REDIRECT;
	if (st == 401 || st == 403) {
		if (tok && ep == E)
			return OTAS__OUT_TOKEN_REJECTED;
		if (tok && ep == B)
			return OTAS__OUT_REJECTED;
		return OTAS__OUT_AUTH_FAILED;
	}
	if (st == 404 || st == 405)
		return ep == B || ep == N ? OTAS__OUT_ENDPOINT_MISSING
		       : ep == E          ? OTAS__OUT_AUTH_FAILED
		                          : OTAS__OUT_REJECTED;
	if (st == 408 || st == 429 || (st >= 500 && st < 600))
		return OTAS__OUT_RETRY;
	if (st == 413)
		return OTAS__OUT_TOO_LARGE;
	return OTAS__OUT_REJECTED; /* other 4xx, 1xx, >= 600 */
}

TEST(table_every_status_every_endpoint)
{
	static const char *const descs[] = {NULL, "", "invalid_sdk_key",
	                                    "missing_agent_session_token",
	                                    "invalid_or_expired_token"};
	int ep, st;
	size_t d;

	for (ep = 0; ep < (int)OTAS__EP_COUNT; ep++)
		for (st = -1; st <= 700; st++)
			for (d = 0; d < sizeof(descs) / sizeof(descs[0]); d++) {
				otas__outcome_t got =
				    otas__classify((otas__endpoint_t)ep, st, descs[d]);
				if (got != want(ep, st, descs[d]))
					fprintf(stderr, "  ep %d status %d "
					        "desc %s\n", ep, st,
					        descs[d] ? descs[d] : "NULL");
				CHECK_INT(got, want(ep, st, descs[d]));
			}
	CHECK_INT(otas__classify(OTAS__EP_COUNT, 200, NULL),
	          OTAS__OUT_REJECTED);
	CHECK_STR(otas__endpoint_name(B), "the batch endpoint");
	CHECK_STR(otas__endpoint_name(L), "the OTLP endpoint");
}

static otas_config_t *
cfg(const char *const *kv)
{
	otas_config_t *c = otas_config_new();
	char err[256];

	CHECK(c);
	CHECK(otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err)) == 0);
	CHECK(otas_config_set(c, "OTAS_BASE_URL", "http://h:1/base/", err,
	                      sizeof(err)) == 0);
	for (; kv && kv[0]; kv += 2)
		CHECK(otas_config_set(c, kv[0], kv[1], err, sizeof(err)) == 0);
	return c;
}

static int
has_hdr(const otas__request_t *rq, const char *line)
{
	size_t i;

	for (i = 0; i < rq->n_hdr; i++)
		if (strcmp(rq->hdr[i], line) == 0)
			return 1;
	return 0;
}

static otas__http_resp_t
resp(int st, const char *body, const char *retry_after)
{
	otas__http_resp_t r;

	memset(&r, 0, sizeof(r));
	r.status = st;
	if (body)
		otas__buf_puts(&r.body, body);
	if (retry_after)
		snprintf(r.retry_after, sizeof(r.retry_after), "%s",
		         retry_after);
	return r;
}

#define EV1 "{\"project_id\":\"\",\"agent_session_token\":\"t1\",\"path\":\"/a\"}"
#define EV2 "{\"project_id\":\"p0\",\"agent_session_token\":\"\",\"path\":\"/b\"}"

TEST(otas_batch_envelope)
{
	otas_config_t *c = cfg((const char *const[]){"OTAS_COMPRESSION", "none",
	                                             NULL});
	otas__protocol_t *p = otas__protocol_new(c, "otas-c/test");
	otas__request_t rq;
	otas__item_t a = {EV1, strlen(EV1), "t1", 2}, b = {EV2, strlen(EV2),
	                                                   NULL, 0};
	otas__http_resp_t r;
	otas__answer_t ans;

	CHECK(p);
	CHECK_INT(p->kind, OTAS__PROTO_OTAS);
	CHECK(otas__protocol_has_entities(p));
	CHECK_INT(otas__protocol_events_endpoint(p, 0), B);
	CHECK_INT(otas__protocol_events_endpoint(p, 1), E);
	memset(&rq, 0, sizeof(rq));
	snprintf(rq.project_id, sizeof(rq.project_id), "proj-1");
	CHECK(otas__protocol_begin(p, &rq, B) == 0);
	CHECK_INT(otas__protocol_append(p, &rq, &a), OTAS__APPEND_OK);
	CHECK_INT(otas__protocol_append(p, &rq, &b), OTAS__APPEND_OK);
	CHECK(otas__protocol_end(p, &rq) == 0);
	CHECK_INT(rq.n, 2);
	CHECK_STR(rq.url, "http://h:1/base/api/v1/backend/log/sdk/batch/");
	/* the project id is filled in where it was "", kept elsewhere */
	{
		static const char want[] =
		    "{\"events\":[{\"project_id\":\"proj-1\","
		    "\"agent_session_token\":\"t1\",\"path\":\"/a\"}," EV2 "]}";
		CHECK_INT(rq.len, sizeof(want) - 1);
		CHECK(memcmp(rq.body, want, rq.len) == 0);
		CHECK_INT(rq.raw_len, rq.len);
	}
	CHECK_INT(rq.encoding, OTAS__COMP_NONE);
	CHECK_INT(rq.n_hdr, 2);
	CHECK(has_hdr(&rq, "X-OTAS-SDK-KEY: " KEY));
	CHECK(has_hdr(&rq, "Content-Type: application/json"));

	/* the batch answer's counts */
	r = resp(200,
	         "{\"status\":1,\"status_description\":\"batch_captured\","
	         "\"accepted\":1,\"duplicates\":0,\"rejected\":[{\"index\":1,"
	         "\"status_description\":\"bad\"}]}", NULL);
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.outcome, OTAS__OUT_OK);
	CHECK_INT(ans.accepted, 1);
	CHECK_INT(ans.duplicates, 0);
	CHECK_INT(ans.rejected, 1);
	CHECK_STR(ans.description, "batch_captured");
	otas__buf_free(&r.body);
	/* a body that is not JSON: everything accepted */
	r = resp(200, "ok", NULL);
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.accepted, 2);
	CHECK_INT(ans.retry_after_ms, -1);
	otas__buf_free(&r.body);
	r = resp(503, "", "7");
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.outcome, OTAS__OUT_RETRY);
	CHECK_INT(ans.retry_after_ms, 7000);
	otas__buf_free(&r.body);
	r = resp(401, "{\"status\":0,\"status_description\":\"invalid_sdk_key\"}",
	         NULL);
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.outcome, OTAS__OUT_AUTH_FAILED);
	{
		char msg[256];
		otas__protocol_auth_message(p, &ans, msg, sizeof(msg));
		CHECK(strstr(msg, "refused the SDK key (HTTP 401 "
		                  "invalid_sdk_key)") != NULL);
		CHECK(strstr(msg, KEY) == NULL);
	}
	otas__buf_free(&r.body);
	otas__request_free(&rq);
	otas__protocol_free(p);
	otas_config_free(c);
}

static int
gunzip(const char *in, size_t n, char *out, size_t cap, size_t *outn)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)in;
	z.avail_in = (unsigned)n;
	z.next_out = (unsigned char *)out;
	z.avail_out = (unsigned)cap;
	rc = inflate(&z, Z_FINISH);
	*outn = cap - z.avail_out;
	inflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

TEST(otas_compression_and_415)
{
	otas_config_t *c = cfg(NULL); /* OTAS_COMPRESSION=auto */
	otas__protocol_t *p = otas__protocol_new(c, "otas-c/test");
	otas__request_t rq;
	otas__item_t a = {EV2, strlen(EV2), NULL, 0};
	otas__http_resp_t r;
	otas__answer_t ans;
	char plain[512];
	size_t pn;

	CHECK(p);
	memset(&rq, 0, sizeof(rq));
	/* auto, the back end did not list zstd: gzip */
	CHECK(otas__protocol_begin(p, &rq, B) == 0);
	otas__protocol_append(p, &rq, &a);
	CHECK(otas__protocol_end(p, &rq) == 0);
	CHECK_INT(rq.encoding, OTAS__COMP_GZIP);
	CHECK(has_hdr(&rq, "Content-Encoding: gzip"));
	CHECK(gunzip(rq.body, rq.len, plain, sizeof(plain), &pn) == 0);
	CHECK_INT(pn, rq.raw_len);
	CHECK(memcmp(plain, "{\"events\":[" EV2 "]}", pn) == 0);
	/* it did: zstd (magic 28 b5 2f fd) */
	rq.accepts_zstd = 1;
	CHECK(otas__protocol_begin(p, &rq, B) == 0);
	otas__protocol_append(p, &rq, &a);
	CHECK(otas__protocol_end(p, &rq) == 0);
	CHECK_INT(rq.encoding, OTAS__COMP_ZSTD);
	CHECK(has_hdr(&rq, "Content-Encoding: zstd"));
	CHECK(memcmp(rq.body, "\x28\xb5\x2f\xfd", 4) == 0);
	/* ... and then refused it: gzip from now on */
	r = resp(415, "", NULL);
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.outcome, OTAS__OUT_ENCODING_REFUSED);
	CHECK(rq.zstd_refused);
	CHECK(otas__protocol_begin(p, &rq, B) == 0);
	otas__protocol_append(p, &rq, &a);
	CHECK(otas__protocol_end(p, &rq) == 0);
	CHECK_INT(rq.encoding, OTAS__COMP_GZIP);
	/* a 415 to a gzip body is a refusal like any 4xx */
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.outcome, OTAS__OUT_REJECTED);
	otas__buf_free(&r.body);
	/* single events and entity updates go plain */
	CHECK(otas__protocol_begin(p, &rq, N) == 0);
	otas__protocol_append(p, &rq, &a);
	CHECK(otas__protocol_end(p, &rq) == 0);
	CHECK_INT(rq.encoding, OTAS__COMP_NONE);
	CHECK_STR(rq.url, "http://h:1/base/api/v1/entities/batch/");
	CHECK(rq.len == strlen("{\"entities\":[" EV2 "]}") &&
	      memcmp(rq.body, "{\"entities\":[" EV2 "]}", rq.len) == 0);
	otas__request_free(&rq);
	otas__protocol_free(p);
	otas_config_free(c);
}

TEST(otas_single_event)
{
	otas_config_t *c = cfg(NULL);
	otas__protocol_t *p = otas__protocol_new(c, "otas-c/test");
	otas__request_t rq;
	otas__item_t a = {EV1, strlen(EV1), "t1", 2},
	             none = {EV2, strlen(EV2), NULL, 0},
	             bad = {EV1, strlen(EV1), "t\r\nX-Evil: 1", 12};
	otas__http_resp_t r;
	otas__answer_t ans;

	CHECK(p);
	memset(&rq, 0, sizeof(rq));
	snprintf(rq.project_id, sizeof(rq.project_id), "proj-1");
	CHECK(otas__protocol_begin(p, &rq, E) == 0);
	/* PROTOCOL.md s2: no token, not sent (an option sends it) */
	CHECK_INT(otas__protocol_append(p, &rq, &none), OTAS__APPEND_NO_TOKEN);
	CHECK_INT(otas__protocol_append(p, &rq, &bad), OTAS__APPEND_BAD_TOKEN);
	CHECK_INT(rq.n, 0);
	CHECK_INT(otas__protocol_append(p, &rq, &a), OTAS__APPEND_OK);
	/* one event per request */
	CHECK_INT(otas__protocol_append(p, &rq, &a), OTAS__APPEND_FULL);
	CHECK(otas__protocol_end(p, &rq) == 0);
	CHECK_STR(rq.url, "http://h:1/base/api/v1/backend/log/sdk/");
	CHECK(has_hdr(&rq, "X-OTAS-AGENT-SESSION-TOKEN: t1"));
	CHECK(has_hdr(&rq, "X-OTAS-SDK-KEY: " KEY));
	CHECK(has_hdr(&rq, "Content-Type: application/json"));
	CHECK_INT(rq.n_hdr, 3);
	CHECK_INT(rq.encoding, OTAS__COMP_NONE);
	CHECK(memcmp(rq.body, "{\"project_id\":\"proj-1\",", 23) == 0);
	r = resp(401, "{\"status\":0,\"status_description\":"
	              "\"invalid_or_expired_token\"}", NULL);
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.outcome, OTAS__OUT_TOKEN_REJECTED);
	/* the token line is wiped once the answer is read */
	CHECK_INT(rq.tokhdr[0], 0);
	otas__buf_free(&r.body);
	otas__request_free(&rq);
	otas__protocol_free(p);
	otas_config_free(c);

	c = cfg((const char *const[]){"OTAS_SEND_WITHOUT_AGENT_TOKEN", "1",
	                              NULL});
	p = otas__protocol_new(c, "otas-c/test");
	CHECK(p);
	memset(&rq, 0, sizeof(rq));
	CHECK(otas__protocol_begin(p, &rq, E) == 0);
	CHECK_INT(otas__protocol_append(p, &rq, &none), OTAS__APPEND_OK);
	CHECK(otas__protocol_end(p, &rq) == 0);
	CHECK_INT(rq.n_hdr, 2);
	otas__request_free(&rq);
	otas__protocol_free(p);
	otas_config_free(c);
}

TEST(otlp_envelope)
{
	otas_config_t *c = cfg((const char *const[]){
	    "OTAS_EXPORTER", "otlp", "OTAS_OTLP_ENDPOINT", "http://o:4318",
	    "OTAS_OTLP_COMPRESSION", "none", "OTAS_OTLP_HEADERS",
	    "api-key=s3cret", NULL});
	otas__protocol_t *p = otas__protocol_new(c, "otas-c/test");
	otas__request_t rq;
	otas__item_t a = {EV1, strlen(EV1), "t1", 2}, junk = {"[1]", 3, NULL,
	                                                      0};
	otas__http_resp_t r;
	otas__answer_t ans;
	size_t i;

	CHECK(p);
	CHECK_INT(p->kind, OTAS__PROTO_OTLP);
	CHECK(!otas__protocol_has_entities(p));
	{ /* no batch body laid out by the sender */
		const char *sep = NULL;
		CHECK(otas__protocol_batch_open(p, &sep) == NULL && !sep);
	}
	CHECK(otas__protocol_otlp(p) != NULL);
	CHECK_INT(otas__protocol_events_endpoint(p, 1), L);
	memset(&rq, 0, sizeof(rq));
	CHECK(otas__protocol_begin(p, &rq, B) == -1); /* not OTLP's */
	CHECK(otas__protocol_begin(p, &rq, L) == 0);
	CHECK_INT(otas__protocol_append(p, &rq, &a), OTAS__APPEND_OK);
	CHECK_INT(otas__protocol_append(p, &rq, &junk), OTAS__APPEND_INVALID);
	CHECK_INT(otas__protocol_append(p, &rq, &a), OTAS__APPEND_OK);
	CHECK(otas__protocol_end(p, &rq) == 0);
	CHECK_INT(rq.n, 2);
	CHECK_STR(rq.url, "http://o:4318/v1/logs");
	CHECK(has_hdr(&rq, "Content-Type: application/x-protobuf"));
	CHECK(has_hdr(&rq, "api-key: s3cret"));
	for (i = 0; i < rq.n_hdr; i++)
		CHECK(strstr(rq.hdr[i], "X-OTAS-SDK-KEY") == NULL);
	/* ExportLogsServiceRequest.resource_logs (field 1, LEN) */
	CHECK_INT((unsigned char)rq.body[0], 0x0a);
	/* the agent token itself never leaves */
	for (i = 0; i + 2 <= rq.len; i++)
		CHECK(!(rq.body[i] == 't' && rq.body[i + 1] == '1' &&
		        i + 2 < rq.len && rq.body[i + 2] == '"'));
	/* partial success: 1 of 2 rejected */
	r = resp(200, NULL, NULL);
	otas__buf_append(&r.body, "\x0a\x09\x08\x01\x12\x05stale", 11);
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.outcome, OTAS__OUT_OK);
	CHECK_INT(ans.accepted, 1);
	CHECK_INT(ans.rejected, 1);
	CHECK_STR(ans.description, "stale");
	otas__buf_free(&r.body);
	/* more rejected than sent: clamped */
	r = resp(200, NULL, NULL);
	otas__buf_append(&r.body, "\x0a\x02\x08\x09", 4);
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.accepted, 0);
	CHECK_INT(ans.rejected, 2);
	otas__buf_free(&r.body);
	r = resp(403, NULL, NULL);
	otas__protocol_answer(p, &rq, &r, &ans);
	CHECK_INT(ans.outcome, OTAS__OUT_AUTH_FAILED);
	{
		char msg[256];
		otas__protocol_auth_message(p, &ans, msg, sizeof(msg));
		CHECK(strstr(msg, "OTAS_OTLP_HEADERS") != NULL);
		CHECK(strstr(msg, "s3cret") == NULL);
	}
	otas__buf_free(&r.body);
	otas__request_free(&rq);
	otas__protocol_free(p);
	otas_config_free(c);
}

/* Every jansson parse the engine makes from this binary passes here (the
 * definition in the executable is the one the static engine links to),
 * counted, then goes to libjansson's own: the tests can tell whether an
 * answer was read by the flat reader or by jansson. */
static int g_json_loads;

json_t *
json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error)
{
	static json_t *(*real)(const char *, size_t, size_t, json_error_t *);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "json_loadb");
	g_json_loads++;
	return real ? real(buf, len, flags, error) : NULL;
}

#define PARSE(js, n, a) \
	otas__protocol_parse_otas_answer(js, strlen(js), n, a)

TEST(otas_answer_parser)
{
	otas__answer_t a;

	CHECK(PARSE("", 5, &a) == -1);
	CHECK_INT(a.accepted, 5);
	CHECK(PARSE("[1]", 5, &a) == -1);
	CHECK_INT(a.accepted, 5);
	CHECK(PARSE("{\"error\":\"Invalid SDK Key\"}", 5, &a) == 0);
	CHECK_STR(a.description, "Invalid SDK Key");
	/* out of range counts keep the defaults */
	CHECK(PARSE("{\"accepted\":-1,\"duplicates\":9,\"rejected\":{}}", 5,
	            &a) == 0);
	CHECK_INT(a.accepted, 5);
	CHECK_INT(a.duplicates, 0);
	CHECK_INT(a.rejected, 0);
	CHECK(PARSE("{\"accepted\":3,\"duplicates\":2,\"rejected\":[]}", 5,
	            &a) == 0);
	CHECK_INT(a.accepted, 3);
	CHECK_INT(a.duplicates, 2);
}

/* A batch body laid out by the sender (otas__protocol_batch_open()'s
 * opening, events joined by its separator) makes, compressed where it
 * is, the request begin/append/end make from the same events, byte for
 * byte; the body is left as it was. */
#define EV3 "{\"project_id\":\"p0\",\"agent_session_token\":\"x\",\"path\":\"/c\"}"

TEST(otas_batch_adopt_equals_append)
{
	const char *comp[] = {"auto", "auto", "gzip", "zstd", "none"};
	int i;

	for (i = 0; i < 5; i++) {
		otas_config_t *c = cfg((const char *const[]){
		    "OTAS_COMPRESSION", comp[i], NULL});
		otas__protocol_t *p = otas__protocol_new(c, "otas-c/test");
		otas__request_t a, b;
		otas__item_t x = {EV2, strlen(EV2), NULL, 0},
		             y = {EV3, strlen(EV3), "x", 1};
		otas__buf_t body = OTAS__BUF_INIT;
		const char *open, *sep = NULL;
		size_t k, len;

		CHECK(p);
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		a.accepts_zstd = b.accepts_zstd = i == 1;
		snprintf(a.project_id, sizeof(a.project_id), "p0");
		CHECK(otas__protocol_begin(p, &a, B) == 0);
		CHECK_INT(otas__protocol_append(p, &a, &x), OTAS__APPEND_OK);
		CHECK_INT(otas__protocol_append(p, &a, &y), OTAS__APPEND_OK);
		CHECK(otas__protocol_end(p, &a) == 0);

		open = otas__protocol_batch_open(p, &sep);
		CHECK(open && sep);
		otas__buf_puts(&body, open);
		otas__buf_puts(&body, EV2);
		otas__buf_puts(&body, sep);
		otas__buf_puts(&body, EV3);
		len = body.len;
		if (i == 4) { /* not compressed: built the usual way */
			CHECK(otas__protocol_batch_adopt(p, &b, &body, 2) == -1);
		} else {
			CHECK(otas__protocol_batch_adopt(p, &b, &body, 2) == 0);
			CHECK_INT(b.n, a.n);
			CHECK_INT(b.encoding, a.encoding);
			CHECK_INT(b.raw_len, a.raw_len);
			CHECK_STR(b.url, a.url);
			CHECK_INT(b.len, a.len);
			CHECK(memcmp(b.body, a.body, a.len) == 0);
			CHECK_INT(b.n_hdr, a.n_hdr);
			for (k = 0; k < a.n_hdr && k < b.n_hdr; k++)
				CHECK_STR(b.hdr[k], a.hdr[k]);
		}
		CHECK_INT(body.len, len);
		CHECK(memcmp(body.data, "{\"events\":[" EV2 "," EV3,
		             len) == 0 && body.data[len] == '\0');
		CHECK(otas__protocol_batch_adopt(p, &b, &body, 0) == -1);
		otas__buf_free(&body);
		otas__request_free(&a);
		otas__request_free(&b);
		otas__protocol_free(p);
		otas_config_free(c);
	}
}

/* The flat reader (no jansson) says what jansson says, on the answers a
 * collector gives and on the near misses that must go to jansson. */
TEST(otas_answer_flat_equals_jansson)
{
	static const char *const bodies[] = {
	    "{\"status\":1,\"status_description\":\"batch_captured\","
	    "\"accepted\":100,\"duplicates\":0,\"rejected\":[]}",
	    " { \"status\" : 1 , \"status_description\" : \"batch_captured\" ,"
	    " \"accepted\" : 7 , \"duplicates\" : 2 , \"rejected\" : [ ] }\r\n",
	    "{\"accepted\":3,\"accepted\":4}",
	    "{\"accepted\":9}", "{\"accepted\":0}", "{\"accepted\":01}",
	    "{\"accepted\":-1}", "{\"accepted\":1.0}", "{\"accepted\":1e2}",
	    "{\"accepted\":123456789012345678}",
	    "{\"accepted\":1234567890123456789}",
	    "{\"accepted\":99999999999999999999}",
	    "{\"status_description\":1,\"error\":\"Invalid SDK Key\"}",
	    "{\"status_description\":\"a\",\"status_description\":2,"
	    "\"error\":\"b\"}",
	    "{\"error\":\"x\\\"y\"}", "{\"error\":\"caf\xc3\xa9\"}",
	    "{\"error\":\"\xff\"}",
	    "{\"rejected\":[{\"index\":0,\"status_description\":\"bad\"}],"
	    "\"accepted\":4}",
	    "{\"rejected\":[],\"accepted\":5,\"x\":{}}",
	    "{\"accepted\":5,}", "{\"accepted\":5", "{\"accepted\":5}x",
	    "{\"accepted\":5}}", "{}", " {} ", "{\"\":1}", "[]", "1", "",
	    "{\"accepted\":5,\"ok\":true}", "{\"a\":null}",
	    "{\"error\":\"0123456789012345678901234567890123456789012345678901234"
	    "56789012345678901234567890123456789012345678901234567890123456789012"
	    "3456789012345678901234567890123456789\"}",
	    NULL};
	size_t i, n;

	for (i = 0; bodies[i]; i++)
		for (n = 0; n <= 100; n += 5) {
			otas__answer_t a, b;
			int ra, rb;

			memset(&a, 0x5a, sizeof(a));
			memset(&b, 0xa5, sizeof(b));
			ra = otas__protocol_parse_otas_answer(
			    bodies[i], strlen(bodies[i]), n, &a);
			rb = otas__protocol_answer_jansson(
			    bodies[i], strlen(bodies[i]), n, &b);
			CHECK_INT(ra, rb);
			CHECK_INT(a.accepted, b.accepted);
			CHECK_INT(a.duplicates, b.duplicates);
			CHECK_INT(a.rejected, b.rejected);
			CHECK_STR(a.description, b.description);
		}
	{
		otas__answer_t a;
		CHECK(PARSE(bodies[0], 100, &a) == 0);
		CHECK_INT(a.accepted, 100);
		CHECK_STR(a.description, "batch_captured");
	}
}

/* The collector's usual answer to a batch (collector/src/routes.c
 * answer_batch, every event stored or a duplicate) is read by the flat
 * reader, through otas__protocol_answer() as the sender calls it: no
 * jansson parse.  One with a rejected event goes to jansson (the counter
 * does count). */
TEST(otas_answer_flat_path_taken_for_collector_answer)
{
	static const struct {
		size_t n;
		long acc, dup;
	} cases[] = {{1, 1, 0}, {100, 97, 3}, {1000, 1000, 0}, {4000, 0, 4000}};
	otas_config_t *c = cfg(NULL);
	otas__protocol_t *p = otas__protocol_new(c, "otas-c/test");
	otas__request_t rq;
	otas__http_resp_t r;
	otas__answer_t a;
	size_t i;

	CHECK(p);
	memset(&rq, 0, sizeof(rq));
	memset(&r, 0, sizeof(r));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		otas__buf_reset(&r.body);
		otas__buf_printf(&r.body,
		                 "{\"status\":1,\"status_description\":"
		                 "\"batch_captured\",\"accepted\":%ld,"
		                 "\"duplicates\":%ld,\"rejected\":[]}",
		                 cases[i].acc, cases[i].dup);
		r.status = 200;
		rq.ep = B;
		rq.n = cases[i].n;
		memset(&a, 0, sizeof(a));
		g_json_loads = 0;
		otas__protocol_answer(p, &rq, &r, &a);
		CHECK_INT(g_json_loads, 0);
		CHECK_INT(a.outcome, OTAS__OUT_OK);
		CHECK_INT(a.accepted, cases[i].acc);
		CHECK_INT(a.duplicates, cases[i].dup);
		CHECK_INT(a.rejected, 0);
		CHECK_STR(a.description, "batch_captured");
	}
	otas__buf_reset(&r.body);
	otas__buf_puts(&r.body,
	               "{\"status\":1,\"status_description\":\"batch_captured\","
	               "\"accepted\":1,\"duplicates\":0,\"rejected\":[{\"index\":1,"
	               "\"status_description\":\"missing_required_fields\"}]}");
	rq.n = 2;
	g_json_loads = 0;
	otas__protocol_answer(p, &rq, &r, &a);
	CHECK_INT(g_json_loads, 1);
	CHECK_INT(a.accepted, 1);
	CHECK_INT(a.rejected, 1);
	otas__buf_free(&r.body);
	otas__request_free(&rq);
	otas__protocol_free(p);
	otas_config_free(c);
}

int
main(void)
{
	RUN(classify_follows_the_protocol);
	RUN(table_every_status_every_endpoint);
	RUN(otas_batch_envelope);
	RUN(otas_compression_and_415);
	RUN(otas_single_event);
	RUN(otlp_envelope);
	RUN(otas_answer_parser);
	RUN(otas_batch_adopt_equals_append);
	RUN(otas_answer_flat_equals_jansson);
	RUN(otas_answer_flat_path_taken_for_collector_answer);
	return testlib_done();
}
