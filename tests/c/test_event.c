/*
 * test_event.c -- serialisation of one record: every field, header
 * normalisation and redaction, the agent token, column limits, bodies
 * (gzip, truncation, base64, redaction rules, form data), UTF-8 escaping.
 * Every event is parsed back with jansson, so each test also proves the
 * output is valid JSON.
 */
#include <jansson.h>
#include <stdlib.h>
#include <time.h>

#include "capture/capture.h"
#include "engine.h"
#include "event/event.h"
#include "send/compress.h"
#include "testlib.h"

#define KEY "otas_PocKPi56xDI_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"

static otas_engine_t *
mk(const char *const *opts)
{
	otas_config_t *c = otas_config_new();
	char err[512];
	otas_engine_t *e;

	otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err));
	for (; opts && *opts; opts += 2)
		CHECK(otas_config_set(c, opts[0], opts[1], err, sizeof(err)) ==
		      0);
	e = otas_engine_new(c, err, sizeof(err));
	CHECK(e);
	return e;
}

static json_t *
ser(otas_engine_t *e, const otas_capture_t *c, char *id_out,
    char **tok_out)
{
	struct otas__record_s *r;
	otas__buf_t out = OTAS__BUF_INIT;
	const char *tok;
	size_t tl;
	json_error_t je;
	json_t *o;
	int bad;

	r = otas__record_new(c, &bad);
	CHECK(r);
	CHECK(otas__event_write(e->ev, "proj-1", r, &out, &tok, &tl) == 0);
	if (id_out)
		memcpy(id_out, r->event_id, 37);
	if (tok_out)
		*tok_out = tok ? strndup(tok, tl) : NULL;
	free(r);
	o = json_loadb(out.data, out.len, 0, &je);
	if (!o)
		fprintf(stderr, "bad JSON: %s\n%s\n", je.text, out.data);
	CHECK(o);
	CHECK(strncmp(out.data, OTAS__EVENT_PREFIX, strlen(OTAS__EVENT_PREFIX)) == 0);
	otas__buf_free(&out);
	return o;
}

static const char *
S(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* A string field that holds a JSON document. */
static json_t *
sub(json_t *o, const char *k)
{
	const char *s = S(o, k);
	json_t *v;
	json_error_t je;

	CHECK(s);
	v = json_loads(s, JSON_ALLOW_NUL, &je);
	if (!v)
		fprintf(stderr, "sub %s: %s in %s\n", k, je.text, s);
	CHECK(v);
	return v;
}

static void
base(otas_capture_t *c)
{
	otas_capture_init(c);
	c->method = "GET";
	c->method_len = 3;
	c->path = "/p";
	c->path_len = 2;
	c->req_body_size = -1;
	c->resp_body_size = -1;
	c->status = 200;
}

TEST(every_field)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	static const otas_header_t env[] = {
	    {"HTTP_HOST", 9, "api.example", 11},
	    {"HTTP_AUTHORIZATION", 18, "Bearer s3cret", 13},
	    {"HTTP_COOKIE", 11, "sid=abc", 7},
	    {"HTTP_X_OTAS_AGENT_SESSION_TOKEN", 31, "eyJ.tok", 7},
	    {"CONTENT_TYPE", 12, "application/json", 16},
	    {"HTTP_X_REQUEST_ID", 17, "r-1", 3},
	};
	static const otas_header_t rh[] = {
	    {"Content-Type", 12, "application/json; charset=utf-8", 31},
	    {"Set-Cookie", 10, "sid=xyz", 7},
	};
	static const otas_error_t er[] = {
	    {"ValueError", 10, "bad value", 9, "Traceback...", 12},
	    {"Reported", 8, "later", 5, "", 0},
	};
	json_t *o, *h, *m, *q;
	char id[37], *tok;

	base(&c);
	c.flags = OTAS_CAP_REQ_HEADERS_CGI;
	c.method = "POST";
	c.method_len = 4;
	c.path = "/api/items/7";
	c.path_len = 12;
	c.route = "api/items/<int:pk>";
	c.route_len = 18;
	c.query = "a=1&a=2&password=hunter2";
	c.query_len = 24;
	c.remote_addr = "10.1.2.3";
	c.remote_addr_len = 8;
	c.req_headers = env;
	c.n_req_headers = 6;
	c.req_body = "{\"name\":\"x\"}";
	c.req_body_len = 12;
	c.status = 201;
	c.resp_headers = rh;
	c.n_resp_headers = 2;
	c.resp_body = "{\"id\":7}";
	c.resp_body_len = 8;
	c.start_unix_us = 1700000000123456;
	c.duration_ns = 12345678;
	c.errors = er;
	c.n_errors = 2;
	c.user_id = "u1";
	c.user_id_len = 2;
	c.company_id = "c1";
	c.company_id_len = 2;
	c.metadata_json = "{\"tags\":[\"x\"],\"event_id\":\"evil\"}";
	c.metadata_json_len = strlen(c.metadata_json);
	c.parent_event_id = "p-1";
	c.parent_event_id_len = 3;
	c.session_token = "abc";
	c.session_token_len = 3;
	o = ser(e, &c, id, &tok);
	CHECK_STR(tok, "eyJ.tok");
	free(tok);
	CHECK_STR(S(o, "project_id"), "proj-1");
	CHECK_STR(S(o, "event_id"), id);
	CHECK_STR(S(o, "agent_session_token"), "eyJ.tok");
	CHECK_STR(S(o, "path"), "/api/items/7");
	CHECK_STR(S(o, "method"), "POST");
	CHECK_INT(json_integer_value(json_object_get(o, "status_code")), 201);
	CHECK(json_real_value(json_object_get(o, "latency_ms")) > 12.345 &&
	      json_real_value(json_object_get(o, "latency_ms")) < 12.347);
	CHECK_INT(json_integer_value(json_object_get(o, "request_size_bytes")),
	          12);
	CHECK_INT(json_integer_value(json_object_get(o, "response_size_bytes")),
	          8);
	h = sub(o, "request_headers");
	CHECK_STR(S(h, "host"), "api.example");
	CHECK_STR(S(h, "authorization"), "[REDACTED]");
	CHECK_STR(S(h, "cookie"), "[REDACTED]");
	/* not even the name (PROTOCOL.md) */
	CHECK(json_object_get(h, "x-otas-agent-session-token") == NULL);
	CHECK_STR(S(h, "x-request-id"), "r-1");
	CHECK_STR(S(h, "content-type"), "application/json");
	json_decref(h);
	h = sub(o, "response_headers");
	CHECK_STR(S(h, "set-cookie"), "[REDACTED]");
	CHECK_STR(S(h, "content-type"), "application/json; charset=utf-8");
	json_decref(h);
	CHECK_STR(S(o, "request_body"), "{\"name\":\"x\"}");
	CHECK_STR(S(o, "response_body"), "{\"id\":7}");
	q = sub(o, "query_params");
	CHECK_STR(json_string_value(json_array_get(json_object_get(q, "a"), 1)),
	          "2");
	CHECK_STR(json_string_value(
	              json_array_get(json_object_get(q, "password"), 0)),
	          "[REDACTED]");
	json_decref(q);
	CHECK_STR(S(o, "post_data"), "{}");
	CHECK_STR(S(o, "request_content_type"), "application/json");
	CHECK_STR(S(o, "response_content_type"),
	          "application/json; charset=utf-8");
	CHECK_STR(S(o, "error"), "ValueError: bad value");
	m = json_object_get(o, "metadata");
	CHECK_STR(S(m, "event_id"), id); /* ours win over the host's */
	/* the host's names of ours are kept under app */
	CHECK(json_is_array(
	    json_object_get(json_object_get(m, "app"), "tags")));
	CHECK_STR(S(json_object_get(m, "app"), "event_id"), "evil");
	CHECK_STR(S(m, "timestamp"), "2023-11-14T22:13:20.123456Z");
	CHECK_STR(S(m, "sdk"), "otas-c/" OTAS_VERSION);
	CHECK_STR(S(m, "host"), "api.example");
	CHECK_STR(S(m, "route"), "api/items/<int:pk>");
	CHECK_STR(S(m, "client_ip"), "10.1.2.3");
	CHECK_STR(S(m, "direction"), "incoming");
	CHECK_STR(S(m, "user_id"), "u1");
	CHECK_STR(S(m, "company_id"), "c1");
	CHECK_STR(S(m, "parent_event_id"), "p-1");
	CHECK_INT(json_array_size(json_object_get(m, "errors")), 2);
	CHECK_STR(S(json_array_get(json_object_get(m, "errors"), 0), "stack"),
	          "Traceback...");
	CHECK(json_object_get(m, "truncated") == NULL);
	CHECK_STR(S(m, "session_token"),
	          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(minimal_event_has_no_nulls)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	json_t *o, *m;
	const char *k;
	json_t *v;

	base(&c);
	c.method = NULL;
	c.method_len = 0;
	c.path = NULL;
	c.path_len = 0;
	o = ser(e, &c, NULL, NULL);
	json_object_foreach(o, k, v) CHECK(!json_is_null(v));
	CHECK_STR(S(o, "method"), "");
	CHECK_STR(S(o, "path"), "");
	CHECK_STR(S(o, "error"), "");
	CHECK_STR(S(o, "agent_session_token"), "");
	CHECK_STR(S(o, "request_content_type"), "");
	CHECK_STR(S(o, "request_headers"), "{}");
	CHECK_STR(S(o, "query_params"), "{}");
	CHECK_INT(json_integer_value(json_object_get(o, "request_size_bytes")),
	          0);
	m = json_object_get(o, "metadata");
	CHECK(json_object_get(m, "user_id") == NULL);
	CHECK(json_object_get(m, "session_token") == NULL);
	CHECK_STR(S(m, "direction"), "incoming");
	json_decref(o);
	otas_engine_free(e, 0);
}

/* The host's metadata members named like ours: ours win, theirs are kept
 * under metadata.app (merged into the host's own "app" object; a
 * non-object "app" becomes app.app); other members pass through; a
 * non-object metadata value is kept as metadata.value. */
TEST(metadata_collisions_go_under_app)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	char id[37];
	json_t *o, *m, *app;

	base(&c);
	c.metadata_json = "{\"event_id\":\"nope\",\"route\":\"theirs\","
	                  "\"plan\":\"gold\",\"app\":{\"x\":1}}";
	c.metadata_json_len = strlen(c.metadata_json);
	o = ser(e, &c, id, NULL);
	m = json_object_get(o, "metadata");
	CHECK_STR(S(m, "event_id"), id);
	CHECK_STR(S(m, "plan"), "gold");
	app = json_object_get(m, "app");
	CHECK_INT(json_object_size(app), 3);
	CHECK_STR(S(app, "event_id"), "nope");
	CHECK_STR(S(app, "route"), "theirs");
	CHECK_INT(json_integer_value(json_object_get(app, "x")), 1);
	json_decref(o);

	c.metadata_json = "{\"sdk\":\"mine\",\"app\":\"scalar\"}";
	c.metadata_json_len = strlen(c.metadata_json);
	o = ser(e, &c, NULL, NULL);
	m = json_object_get(o, "metadata");
	CHECK_STR(S(m, "sdk"), "otas-c/" OTAS_VERSION);
	app = json_object_get(m, "app");
	CHECK_STR(S(app, "sdk"), "mine");
	CHECK_STR(S(app, "app"), "scalar");
	json_decref(o);

	c.metadata_json = "{\"plan\":\"gold\",\"app\":\"scalar\"}";
	c.metadata_json_len = strlen(c.metadata_json);
	o = ser(e, &c, NULL, NULL);
	m = json_object_get(o, "metadata");
	CHECK_STR(S(m, "app"), "scalar"); /* no collision: untouched */
	json_decref(o);

	c.metadata_json = "[1,2]";
	c.metadata_json_len = 5;
	o = ser(e, &c, NULL, NULL);
	m = json_object_get(o, "metadata");
	CHECK_INT(json_array_size(json_object_get(m, "value")), 2);
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(column_limits)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	char ct[300];
	otas_header_t h[1] = {{"content-type", 12, ct, sizeof(ct)}};
	json_t *o;

	memset(ct, 'a', sizeof(ct));
	base(&c);
	c.method = "VERYLONGMETHODNAMEOVERTWENTY";
	c.method_len = strlen(c.method);
	c.req_headers = h;
	c.n_req_headers = 1;
	c.resp_headers = h;
	c.n_resp_headers = 1;
	o = ser(e, &c, NULL, NULL);
	CHECK_INT(strlen(S(o, "method")), 20);
	CHECK_INT(strlen(S(o, "request_content_type")), 255);
	CHECK_INT(strlen(S(o, "response_content_type")), 255);
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(sensitive_headers_option_and_real_names)
{
	const char *opts[] = {"OTAS_SENSITIVE_HEADERS", "X-Custom-Secret", NULL};
	otas_engine_t *e = mk(opts);
	otas_capture_t c;
	otas_header_t h[3] = {{"X-Custom-Secret", 15, "v", 1},
	                      {"X-Api-Key", 9, "k", 1},
	                      {"X-OTAS-Agent-Session-Token", 26, "t", 1}};
	json_t *o, *hh;
	char *tok;

	base(&c);
	c.req_headers = h;
	c.n_req_headers = 3;
	o = ser(e, &c, NULL, &tok);
	CHECK_STR(tok, "t");
	free(tok);
	hh = sub(o, "request_headers");
	CHECK_STR(S(hh, "x-custom-secret"), "[REDACTED]");
	CHECK_STR(S(hh, "x-api-key"), "[REDACTED]");
	CHECK(json_object_get(hh, "x-otas-agent-session-token") == NULL);
	json_decref(hh);
	json_decref(o);
	otas_engine_free(e, 0);
}

/* Header names' facts are memoised per thread (headers.c), keyed by the
 * context: two engines that disagree about a name, used in turn on one
 * thread, each keep their own answer; so do CGI and plain spellings and
 * the two directions. */
TEST(header_memo_per_context)
{
	const char *o1[] = {"OTAS_SENSITIVE_HEADERS", "X-Memo-Flag", NULL};
	const char *o2[] = {"OTAS_RESPONSE_HEADER_MASKS", "x-memo-resp", NULL};
	otas_engine_t *e1 = mk(o1), *e2 = mk(o2);
	otas_header_t rq[2] = {{"HTTP_X_MEMO_FLAG", 16, "v", 1},
	                       {"HTTP_X_MEMO_RESP", 16, "w", 1}};
	otas_header_t rs[2] = {{"X-Memo-Flag", 11, "v", 1},
	                       {"x-memo-resp", 11, "w", 1}};
	otas_capture_t c;
	int i;

	base(&c);
	c.flags |= OTAS_CAP_REQ_HEADERS_CGI;
	c.req_headers = rq;
	c.n_req_headers = 2;
	c.resp_headers = rs;
	c.n_resp_headers = 2;
	for (i = 0; i < 3; i++) {
		json_t *o = ser(i % 2 ? e2 : e1, &c, NULL, NULL);
		json_t *q = sub(o, "request_headers"), *r = sub(o, "response_headers");
		if (i % 2 == 0) { /* e1: x-memo-flag both ways */
			CHECK_STR(S(q, "x-memo-flag"), "[REDACTED]");
			CHECK_STR(S(r, "x-memo-flag"), "[REDACTED]");
			CHECK_STR(S(q, "x-memo-resp"), "w");
			CHECK_STR(S(r, "x-memo-resp"), "w");
		} else { /* e2: x-memo-resp in responses only */
			CHECK_STR(S(q, "x-memo-flag"), "v");
			CHECK_STR(S(r, "x-memo-flag"), "v");
			CHECK_STR(S(q, "x-memo-resp"), "w");
			CHECK_STR(S(r, "x-memo-resp"), "[REDACTED]");
		}
		json_decref(q);
		json_decref(r);
		json_decref(o);
	}
	otas_engine_free(e1, 0);
	otas_engine_free(e2, 0);
}

TEST(per_direction_header_masks)
{
	/* OTAS_REQUEST_HEADER_MASKS redacts in requests only,
	 * OTAS_RESPONSE_HEADER_MASKS in responses only (Moesif's
	 * REQUEST_HEADER_MASKS / RESPONSE_HEADER_MASKS). */
	const char *opts[] = {"OTAS_REQUEST_HEADER_MASKS", "X-Req-Only, x_both",
	                      "OTAS_RESPONSE_HEADER_MASKS", "x-resp-only,X-Both",
	                      NULL};
	otas_engine_t *e = mk(opts);
	otas_capture_t c;
	otas_header_t q[3] = {{"X-Req-Only", 10, "a", 1},
	                      {"X-Resp-Only", 11, "b", 1},
	                      {"X-Both", 6, "c", 1}};
	otas_header_t r[3] = {{"X-Req-Only", 10, "d", 1},
	                      {"X-Resp-Only", 11, "e", 1},
	                      {"X-Both", 6, "f", 1}};
	json_t *o, *hq, *hr;

	base(&c);
	c.req_headers = q;
	c.n_req_headers = 3;
	c.resp_headers = r;
	c.n_resp_headers = 3;
	o = ser(e, &c, NULL, NULL);
	hq = sub(o, "request_headers");
	hr = sub(o, "response_headers");
	CHECK_STR(S(hq, "x-req-only"), "[REDACTED]");
	CHECK_STR(S(hq, "x-resp-only"), "b");
	CHECK_STR(S(hq, "x-both"), "[REDACTED]");
	CHECK_STR(S(hr, "x-req-only"), "d");
	CHECK_STR(S(hr, "x-resp-only"), "[REDACTED]");
	CHECK_STR(S(hr, "x-both"), "[REDACTED]");
	json_decref(hq);
	json_decref(hr);
	json_decref(o);
	otas_engine_free(e, 0);
}

/* The configured header names are normalised once (otas__event_ctx_new):
 * case, '_' as '-', a CGI "HTTP_" prefix, on names of any length; a
 * header's name matches whatever its spelling. */
TEST(configured_header_names_normalised)
{
	char longname[301], longhdr[301];
	const char *opts[] = {"OTAS_SENSITIVE_HEADERS", NULL, NULL};
	otas_engine_t *e;
	otas_capture_t c;
	otas_header_t h[4];
	json_t *o, *hh;
	char key[301];
	size_t i;

	for (i = 0; i < 300; i++) {
		longname[i] = i % 7 == 3 ? '_' : (char)('A' + i % 26);
		longhdr[i] = longname[i] == '_' ? '-' : longname[i];
		key[i] = longname[i] == '_' ? '_' : (char)('a' + i % 26);
	}
	longname[300] = longhdr[300] = key[300] = '\0';
	{
		static char list[512];
		snprintf(list, sizeof(list), "HTTP_X_CGI_Secret, X-Mixed_Case,%s",
		         longname);
		opts[1] = list;
	}
	e = mk(opts);
	h[0] = (otas_header_t){"x-cgi-secret", 12, "a", 1};
	h[1] = (otas_header_t){"X_MIXED-case", 12, "b", 1};
	h[2] = (otas_header_t){longhdr, 300, "c", 1};
	h[3] = (otas_header_t){"x-mixed-cas", 11, "keep", 4};
	base(&c);
	c.req_headers = h;
	c.n_req_headers = 4;
	o = ser(e, &c, NULL, NULL);
	hh = sub(o, "request_headers");
	CHECK_STR(S(hh, "x-cgi-secret"), "[REDACTED]");
	CHECK_STR(S(hh, "x_mixed-case"), "[REDACTED]");
	for (i = 0; i < 300; i++)
		key[i] = (char)(longhdr[i] >= 'A' && longhdr[i] <= 'Z'
		                    ? longhdr[i] + 32
		                    : longhdr[i]);
	CHECK_STR(S(hh, key), "[REDACTED]");
	CHECK_STR(S(hh, "x-mixed-cas"), "keep");
	json_decref(hh);
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(truncation_keeps_full_sizes)
{
	const char *opts[] = {"OTAS_MAX_BODY_BYTES", "10", NULL};
	otas_engine_t *e = mk(opts);
	otas_capture_t c;
	json_t *o, *tr;

	base(&c);
	c.req_body = "0123456789abcdefghijklmno";
	c.req_body_len = 25;
	c.resp_body = "short";
	c.resp_body_len = 5;
	c.resp_body_size = 5;
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(o, "request_body"), "0123456789");
	CHECK_INT(json_integer_value(json_object_get(o, "request_size_bytes")),
	          25);
	tr = json_object_get(json_object_get(o, "metadata"), "truncated");
	CHECK_INT(json_array_size(tr), 1);
	CHECK_STR(json_string_value(json_array_get(tr, 0)), "request");
	json_decref(o);
	/* a cut never splits a UTF-8 sequence: "aaaaaaaaa" + "é" */
	c.req_body = "aaaaaaaaa\xc3\xa9zz";
	c.req_body_len = 13;
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(o, "request_body"), "aaaaaaaaa");
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(binary_body_is_base64)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	json_t *o, *enc;

	base(&c);
	c.resp_body = "\xff\x00\x01hi";
	c.resp_body_len = 5;
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(o, "response_body"), "/wABaGk=");
	enc = json_object_get(json_object_get(o, "metadata"), "body_encoding");
	CHECK_STR(S(enc, "response"), "base64");
	CHECK(json_object_get(enc, "request") == NULL);
	json_decref(o);
	/* NUL is valid UTF-8 but not text for PostgreSQL: base64 */
	c.resp_body = "a\0b";
	c.resp_body_len = 3;
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(o, "response_body"), "YQBi");
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(gzip_request_body_is_decoded)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	otas__buf_t gz = OTAS__BUF_INIT;
	otas_header_t h[2] = {{"Content-Encoding", 16, "gzip", 4},
	                      {"Content-Type", 12, "text/plain", 10}};
	json_t *o;

	CHECK(otas__gzip("hello, world", 12, &gz) == 0);
	base(&c);
	c.req_headers = h;
	c.n_req_headers = 2;
	c.req_body = gz.data;
	c.req_body_len = gz.len;
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(o, "request_body"), "hello, world");
	CHECK_INT(json_integer_value(json_object_get(o, "request_size_bytes")),
	          (long long)gz.len);
	json_decref(o);
	/* not really gzip: sent as it came (base64, binary) */
	c.req_body = "\x1f\x8bnope";
	c.req_body_len = 6;
	o = ser(e, &c, NULL, NULL);
	CHECK(S(o, "request_body") != NULL);
	json_decref(o);
	otas__buf_free(&gz);
	otas_engine_free(e, 0);
}

TEST(gzip_bomb_is_bounded)
{
	const char *opts[] = {"OTAS_MAX_BODY_BYTES", "1000", NULL};
	otas_engine_t *e = mk(opts);
	otas_capture_t c;
	otas__buf_t gz = OTAS__BUF_INIT;
	otas_header_t h[1] = {{"Content-Encoding", 16, "gzip", 4}};
	char *zeros = calloc(1, 10 << 20);
	json_t *o;

	memset(zeros, 'a', 10 << 20);
	CHECK(otas__gzip(zeros, 10 << 20, &gz) == 0);
	base(&c);
	c.req_headers = h;
	c.n_req_headers = 1;
	c.req_body = gz.data;
	c.req_body_len = gz.len;
	o = ser(e, &c, NULL, NULL);
	CHECK_INT(strlen(S(o, "request_body")), 1000);
	json_decref(o);
	free(zeros);
	otas__buf_free(&gz);
	otas_engine_free(e, 0);
}

TEST(bodies_off)
{
	const char *opts[] = {"OTAS_CAPTURE_BODIES", "false", NULL};
	otas_engine_t *e = mk(opts);
	otas_capture_t c;
	otas_header_t h[1] = {
	    {"Content-Type", 12, "application/x-www-form-urlencoded", 33}};
	json_t *o;

	base(&c);
	c.req_headers = h;
	c.n_req_headers = 1;
	c.req_body = "a=1";
	c.req_body_len = 3;
	c.resp_body = "secret";
	c.resp_body_len = 6;
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(o, "request_body"), "");
	CHECK_STR(S(o, "response_body"), "");
	CHECK_STR(S(o, "post_data"), "{}");
	CHECK_INT(json_integer_value(json_object_get(o, "response_size_bytes")),
	          6);
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(body_redaction_rules)
{
	const char *opts[] = {"OTAS_REDACT_REQUEST_BODY", "$.password, $..card",
	                      "OTAS_REDACT_RESPONSE_BODY", "$.token", NULL};
	otas_engine_t *e = mk(opts);
	otas_capture_t c;
	otas_header_t hq[1] = {{"Content-Type", 12, "application/json", 16}};
	otas_header_t hr[1] = {
	    {"Content-Type", 12, "application/vnd.api+json", 24}};
	json_t *o, *b;

	base(&c);
	c.req_headers = hq;
	c.n_req_headers = 1;
	c.resp_headers = hr;
	c.n_resp_headers = 1;
	c.req_body = "{\"user\":\"a\",\"password\":\"p\",\"x\":{\"card\":1}}";
	c.req_body_len = strlen(c.req_body);
	c.resp_body = "{\"token\":\"t\",\"ok\":true}";
	c.resp_body_len = strlen(c.resp_body);
	o = ser(e, &c, NULL, NULL);
	b = sub(o, "request_body");
	CHECK_STR(S(b, "user"), "a");
	CHECK_STR(S(b, "password"), "[REDACTED]");
	CHECK_STR(S(json_object_get(b, "x"), "card"), "[REDACTED]");
	json_decref(b);
	b = sub(o, "response_body");
	CHECK_STR(S(b, "token"), "[REDACTED]");
	json_decref(b);
	json_decref(o);
	/* rules apply but the body does not parse: never sent raw */
	c.req_body = "{\"password\":\"p\"";
	c.req_body_len = strlen(c.req_body);
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(o, "request_body"), "[UNPARSEABLE BODY REDACTED]");
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(form_body_and_post_data)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	otas_header_t h[1] = {
	    {"Content-Type", 12, "application/x-www-form-urlencoded", 33}};
	json_t *o, *p;

	base(&c);
	c.req_headers = h;
	c.n_req_headers = 1;
	c.req_body = "user=bob&password=hunter2";
	c.req_body_len = strlen(c.req_body);
	o = ser(e, &c, NULL, NULL);
	CHECK(strstr(S(o, "request_body"), "hunter2") == NULL);
	CHECK(strstr(S(o, "request_body"), "user=bob") != NULL);
	p = sub(o, "post_data");
	CHECK_STR(json_string_value(json_array_get(json_object_get(p, "user"), 0)),
	          "bob");
	CHECK_STR(json_string_value(
	              json_array_get(json_object_get(p, "password"), 0)),
	          "[REDACTED]");
	json_decref(p);
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(escaping_and_invalid_utf8)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	otas_header_t h[1] = {{"X-Weird", 7, "a\"b\\c\n\x01\xff", 8}};
	json_t *o, *hh;

	base(&c);
	c.path = "/caf\xc3\xa9/\"q\"";
	c.path_len = strlen(c.path);
	c.req_headers = h;
	c.n_req_headers = 1;
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(o, "path"), "/caf\xc3\xa9/\"q\"");
	hh = sub(o, "request_headers");
	CHECK_STR(S(hh, "x-weird"), "a\"b\\c\n\x01\xef\xbf\xbd");
	json_decref(hh);
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(streaming_and_skipped_bodies)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	json_t *o;

	base(&c);
	c.flags = OTAS_CAP_RESP_STREAMING | OTAS_CAP_REQ_BODY_SKIPPED |
	          OTAS_CAP_OUTGOING;
	c.req_body_size = 5000000;
	c.resp_body_size = 123456;
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(o, "request_body"), "");
	CHECK_STR(S(o, "response_body"), "");
	CHECK_INT(json_integer_value(json_object_get(o, "request_size_bytes")),
	          5000000);
	CHECK_INT(json_integer_value(json_object_get(o, "response_size_bytes")),
	          123456);
	CHECK_STR(S(json_object_get(o, "metadata"), "direction"), "outgoing");
	json_decref(o);
	c.resp_body_size = -1;
	o = ser(e, &c, NULL, NULL);
	CHECK_INT(json_integer_value(json_object_get(o, "response_size_bytes")),
	          0);
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(sdk_name_option)
{
	const char *opts[] = {"OTAS_SDK_NAME", "otas-python/0.2.0", NULL};
	otas_engine_t *e = mk(opts);
	otas_capture_t c;
	json_t *o;

	base(&c);
	o = ser(e, &c, NULL, NULL);
	CHECK_STR(S(json_object_get(o, "metadata"), "sdk"), "otas-python/0.2.0");
	json_decref(o);
	otas_engine_free(e, 0);
}

TEST(outgoing_call_has_redacted_url)
{
	otas_engine_t *e = mk(NULL);
	otas_header_t h[] = {{"host", 4, "api.example.com:8443", 20}};
	otas_capture_t c;
	json_t *o, *md;

	base(&c);
	c.flags = OTAS_CAP_OUTGOING;
	c.req_headers = h;
	c.n_req_headers = 1;
	c.scheme = "https";
	c.scheme_len = 5;
	c.query = "x=1&token=abc&q=a%20b";
	c.query_len = strlen(c.query);
	c.parent_event_id = "01234567-89ab-7def-8123-456789abcdef";
	c.parent_event_id_len = 36;
	o = ser(e, &c, NULL, NULL);
	md = json_object_get(o, "metadata");
	CHECK_STR(S(md, "direction"), "outgoing");
	CHECK_STR(S(md, "url"),
	          "https://api.example.com:8443/p?x=1&token=%5BREDACTED%5D&q=a%20b");
	CHECK_STR(S(md, "parent_event_id"),
	          "01234567-89ab-7def-8123-456789abcdef");
	json_decref(o);

	base(&c); /* incoming events carry no url */
	o = ser(e, &c, NULL, NULL);
	CHECK(json_object_get(json_object_get(o, "metadata"), "url") == NULL);
	json_decref(o);
	otas_engine_free(e, 0);
}

/* Issue 16, item 1: userinfo of an outgoing URL's netloc is stored
 * nowhere (host header, metadata.host, metadata.url). */
TEST(userinfo_never_stored)
{
	otas_engine_t *e = mk(NULL);
	otas_header_t h[] = {{"host", 4, "user:PWuserinfo1@api.example:81", 31}};
	otas_capture_t c;
	json_t *o, *md, *hh;
	char *dump;

	base(&c);
	c.flags = OTAS_CAP_OUTGOING;
	c.req_headers = h;
	c.n_req_headers = 1;
	c.scheme = "http";
	c.scheme_len = 4;
	o = ser(e, &c, NULL, NULL);
	md = json_object_get(o, "metadata");
	CHECK_STR(S(md, "host"), "api.example:81");
	CHECK_STR(S(md, "url"), "http://api.example:81/p");
	hh = sub(o, "request_headers");
	CHECK_STR(S(hh, "host"), "api.example:81");
	dump = json_dumps(o, 0);
	CHECK(!strstr(dump, "PWuserinfo1"));
	free(dump);
	json_decref(hh);
	json_decref(o);
	otas_engine_free(e, 0);
}

/* Item 2: URLs inside exception text lose userinfo and sensitive query
 * values, in `error` and in metadata.errors message and stack. */
TEST(error_text_urls_scrubbed)
{
	otas_engine_t *e = mk(NULL);
	static const char msg[] =
	    "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries "
	    "exceeded with url: /x?api_key=S1err&page=2&token=T1err (Caused "
	    "by ...)";
	static const char stack[] =
	    "Traceback:\n  requests.get('http://bob:S2err@h.example/a?"
	    "access_token=S3err&q=1')\nConnectionError";
	otas_error_t er[] = {{"ConnectionError", 15, msg, sizeof(msg) - 1,
	                      stack, sizeof(stack) - 1}};
	otas_capture_t c;
	json_t *o, *e0;
	char *dump;

	base(&c);
	c.errors = er;
	c.n_errors = 1;
	o = ser(e, &c, NULL, NULL);
	CHECK(strstr(S(o, "error"),
	             "url: /x?api_key=%5BREDACTED%5D&page=2&token=%5BREDACTED%5D "
	             "(Caused"));
	e0 = json_array_get(json_object_get(json_object_get(o, "metadata"),
	                                    "errors"), 0);
	CHECK(strstr(S(e0, "message"), "page=2&token=%5BREDACTED%5D"));
	CHECK(strstr(S(e0, "stack"),
	             "'http://h.example/a?access_token=%5BREDACTED%5D&q=1'"));
	dump = json_dumps(o, 0);
	CHECK(!strstr(dump, "S1err") && !strstr(dump, "T1err") &&
	      !strstr(dump, "S2err") && !strstr(dump, "S3err"));
	free(dump);
	json_decref(o);
	otas_engine_free(e, 0);
}

/* Item 3: configured header names match whatever their spelling
 * (underscores, CGI names), on both sides. */
TEST(sensitive_header_spellings)
{
	const char *opts[] = {"OTAS_SENSITIVE_HEADERS",
	                      "x_under_token_h, HTTP_X_META_H, X-Plain-H", NULL};
	otas_engine_t *e = mk(opts);
	otas_header_t env[] = {{"HTTP_X_UNDER_TOKEN_H", 20, "v1", 2},
	                       {"HTTP_X_META_H", 13, "v2", 2},
	                       {"HTTP_X_PLAIN_H", 14, "v3", 2}};
	otas_header_t raw[] = {{"x_under_token_h", 15, "v1", 2},
	                       {"x-meta-h", 8, "v2", 2},
	                       {"X_Plain_H", 9, "v3", 2}};
	otas_capture_t c;
	json_t *o, *hh;
	char *dump;
	int k;

	for (k = 0; k < 2; k++) {
		base(&c);
		c.req_headers = k ? raw : env;
		c.n_req_headers = 3;
		if (!k)
			c.flags = OTAS_CAP_REQ_HEADERS_CGI;
		o = ser(e, &c, NULL, NULL);
		hh = sub(o, "request_headers");
		dump = json_dumps(hh, 0);
		CHECK(!strstr(dump, "v1") && !strstr(dump, "v2") &&
		      !strstr(dump, "v3"));
		free(dump);
		json_decref(hh);
		json_decref(o);
	}
	otas_engine_free(e, 0);
}

static json_t *
body_event(otas_engine_t *e, const char *ct, const char *body)
{
	otas_header_t h[1] = {{"Content-Type", 12, ct, ct ? strlen(ct) : 0}};
	otas_capture_t c;

	base(&c);
	c.method = "POST";
	c.method_len = 4;
	c.req_headers = h;
	c.n_req_headers = ct ? 1 : 0;
	c.req_body = body;
	c.req_body_len = strlen(body);
	return ser(e, &c, NULL, NULL);
}

/* Item 4: a JSON body is redacted as JSON whatever its declared type;
 * one that looks like JSON but does not parse is not sent. */
TEST(json_decided_by_body)
{
	const char *opts[] = {"OTAS_REDACT_REQUEST_BODY", "$.card", NULL};
	otas_engine_t *e = mk(opts);
	static const char *const types[] = {
	    "text/plain", NULL, "application/json\t", "application/json, text/plain",
	    "application/json;charset=utf-8", " application/vnd.api+json"};
	size_t i;
	json_t *o;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		o = body_event(e, types[i],
		               " {\"card\": \"C4body\", \"a\": {\"password\": \"P4body\"}}");
		CHECK_STR(S(o, "request_body"),
		          " {\"card\": \"[REDACTED]\", \"a\": {\"password\": \"[REDACTED]\"}}");
		json_decref(o);
	}
	o = body_event(e, "text/plain", "[{\"card\": \"C4\"}, oops");
	CHECK_STR(S(o, "request_body"), "[UNPARSEABLE BODY REDACTED]");
	json_decref(o);
	o = body_event(e, "text/plain", "plain words, card=1");
	CHECK_STR(S(o, "request_body"), "plain words, card=1");
	json_decref(o);
	otas_engine_free(e, 0);
}

/* Item 5: multipart, octet-stream and other binary bodies are recorded
 * by size only, whatever the host handed over. */
TEST(upload_bodies_size_only)
{
	otas_engine_t *e = mk(NULL);
	static const char *const types[] = {
	    "multipart/form-data; boundary=x", "application/octet-stream",
	    "image/png", "application/pdf", "Multipart/mixed"};
	size_t i;
	json_t *o;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		o = body_event(e, types[i],
		               "--x\r\nContent-Disposition: form-data; name=\"f\""
		               "\r\n\r\nS5upload\r\n--x--");
		CHECK_STR(S(o, "request_body"), "");
		CHECK_INT(json_integer_value(json_object_get(o, "request_size_bytes")),
		          64);
		json_decref(o);
	}
	otas_engine_free(e, 0);
}

/* Item 6: URLs in other header values keep no secrets. */
TEST(urls_in_headers_scrubbed)
{
	otas_engine_t *e = mk(NULL);
	otas_header_t rq[] = {
	    {"Referer", 7, "https://a.example/p?token=S6ref&x=1", 35},
	    {"Origin", 6, "https://u:S6orig@a.example", 26}};
	otas_header_t rs[] = {
	    {"Location", 8, "/cb?code=1&access_token=S6loc", 29},
	    {"Content-Location", 16, "http://h/x?api_key=S6cl", 23},
	    {"Link", 4, "<https://h/n?session=S6link>; rel=next", 39}};
	otas_capture_t c;
	json_t *o, *hq, *hr;
	char *d1, *d2;
	size_t i;

	for (i = 0; i < 2; i++)
		rq[i].value_len = strlen(rq[i].value);
	for (i = 0; i < 3; i++)
		rs[i].value_len = strlen(rs[i].value);
	base(&c);
	c.req_headers = rq;
	c.n_req_headers = 2;
	c.resp_headers = rs;
	c.n_resp_headers = 3;
	o = ser(e, &c, NULL, NULL);
	hq = sub(o, "request_headers");
	hr = sub(o, "response_headers");
	CHECK_STR(S(hq, "referer"), "https://a.example/p?token=%5BREDACTED%5D&x=1");
	CHECK_STR(S(hq, "origin"), "https://a.example");
	CHECK_STR(S(hr, "location"), "/cb?code=1&access_token=%5BREDACTED%5D");
	CHECK_STR(S(hr, "link"), "<https://h/n?session=%5BREDACTED%5D>; rel=next");
	d1 = json_dumps(hq, 0);
	d2 = json_dumps(hr, 0);
	CHECK(!strstr(d1, "S6") && !strstr(d2, "S6"));
	free(d1);
	free(d2);
	json_decref(hq);
	json_decref(hr);
	json_decref(o);
	otas_engine_free(e, 0);
}

/* Items 7 and 9: name variants and the default names, in query, form
 * and JSON at depth; the options that turn them off and add names. */
TEST(default_names_and_variants)
{
	otas_engine_t *e = mk(NULL);
	otas_header_t h[] = {
	    {"CONTENT_TYPE", 12, "application/x-www-form-urlencoded", 33}};
	static const char form[] =
	    "user%5Bpassword%5D=S7a&password[]=S7b&+password=S7c&"
	    "password%00=S7d&csrfmiddlewaretoken=S9a&author=keep1&"
	    "userSession=S9b&max_tokens=keep2";
	otas_capture_t c;
	json_t *o, *q;
	char *dump;

	base(&c);
	c.flags = OTAS_CAP_REQ_HEADERS_CGI;
	c.method = "POST";
	c.method_len = 4;
	c.req_headers = h;
	c.n_req_headers = 1;
	c.req_body = form;
	c.req_body_len = strlen(form);
	c.query = "X-Amz-Signature=S9c&sessionid=S9d&apiKey=S9e&page=keep3";
	c.query_len = strlen(c.query);
	o = ser(e, &c, NULL, NULL);
	dump = json_dumps(o, 0);
	CHECK(!strstr(dump, "S7") && !strstr(dump, "S9"));
	CHECK(strstr(dump, "keep1") && strstr(dump, "keep2") &&
	      strstr(dump, "keep3"));
	free(dump);
	/* (post_data holds a key with a NUL, which jansson cannot load) */
	CHECK(strstr(S(o, "post_data"), "\"password\\u0000\": [\"[REDACTED]\"]"));
	CHECK(strstr(S(o, "post_data"), "\"author\": [\"keep1\"]"));
	q = sub(o, "query_params");
	CHECK_STR(json_string_value(json_array_get(json_object_get(q, "apiKey"), 0)),
	          "[REDACTED]");
	json_decref(q);
	json_decref(o);

	o = body_event(e, "application/json",
	               "{\"data\":[{\"Client-Secret\":\"S9f\",\"auth\":{\"x\":\"S9g\"},"
	               "\"a\\u0075th\":\"S9h\",\"refreshToken\":\"S9i\","
	               "\"token_type\":\"Bearer\",\"author\":\"Ada\"}]}");
	CHECK_STR(S(o, "request_body"),
	          "{\"data\":[{\"Client-Secret\":\"[REDACTED]\",\"auth\":\"[REDACTED]\","
	          "\"a\\u0075th\":\"[REDACTED]\",\"refreshToken\":\"[REDACTED]\","
	          "\"token_type\":\"Bearer\",\"author\":\"Ada\"}]}");
	json_decref(o);
	otas_engine_free(e, 0);

	{
		const char *off[] = {"OTAS_REDACT_DEFAULT_NAMES", "0",
		                     "OTAS_SENSITIVE_QUERY_PARAMS", "",
		                     "OTAS_REDACT_NAMES", "pin, *_ref", NULL};
		e = mk(off);
		o = body_event(e, "application/json",
		               "{\"password\":\"p\",\"pin\":\"1\",\"order_ref\":\"r\"}");
		CHECK_STR(S(o, "request_body"),
		          "{\"password\":\"p\",\"pin\":\"[REDACTED]\","
		          "\"order_ref\":\"[REDACTED]\"}");
		json_decref(o);
		otas_engine_free(e, 0);
	}
}

/* Not a timed assertion: the sender-side cost of one typical event. */
TEST(serialisation_cost)
{
	otas_engine_t *e = mk(NULL);
	otas_capture_t c;
	static const otas_header_t env[] = {
	    {"HTTP_HOST", 9, "api.example", 11},
	    {"HTTP_USER_AGENT", 15, "python-requests/2.31", 20},
	    {"HTTP_ACCEPT", 11, "*/*", 3},
	    {"HTTP_AUTHORIZATION", 18, "Bearer s3cret", 13},
	    {"CONTENT_TYPE", 12, "application/json", 16},
	    {"HTTP_X_OTAS_AGENT_SESSION_TOKEN", 31, "eyJ.tok", 7},
	};
	static const otas_header_t rh[] = {
	    {"Content-Type", 12, "application/json", 16}};
	struct otas__record_s *r;
	otas__buf_t out = OTAS__BUF_INIT;
	struct timespec t0, t1;
	const char *tok;
	size_t tl;
	int i, bad;
	double ns;

	base(&c);
	c.flags = OTAS_CAP_REQ_HEADERS_CGI;
	c.path = "/api/items/7";
	c.path_len = 12;
	c.query = "page=2&size=50";
	c.query_len = 14;
	c.req_headers = env;
	c.n_req_headers = 6;
	c.resp_headers = rh;
	c.n_resp_headers = 1;
	c.req_body = "{\"name\":\"widget\",\"qty\":3}";
	c.req_body_len = strlen(c.req_body);
	c.resp_body = "{\"id\":7,\"name\":\"widget\",\"qty\":3,\"ok\":true}";
	c.resp_body_len = strlen(c.resp_body);
	r = otas__record_new(&c, &bad);
	CHECK(r);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 100000; i++) {
		otas__buf_reset(&out);
		otas__event_write(e->ev, "proj-1", r, &out, &tok, &tl);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 +
	     (double)(t1.tv_nsec - t0.tv_nsec);
	printf("otas__event_write: %.0f ns/event (%zu bytes of JSON)\n",
	       ns / 100000, out.len);
	free(r);
	otas__buf_free(&out);
	otas_engine_free(e, 0);
}

int
main(void)
{
	RUN(every_field);
	RUN(minimal_event_has_no_nulls);
	RUN(metadata_collisions_go_under_app);
	RUN(column_limits);
	RUN(sensitive_headers_option_and_real_names);
	RUN(header_memo_per_context);
	RUN(per_direction_header_masks);
	RUN(truncation_keeps_full_sizes);
	RUN(binary_body_is_base64);
	RUN(gzip_request_body_is_decoded);
	RUN(gzip_bomb_is_bounded);
	RUN(bodies_off);
	RUN(body_redaction_rules);
	RUN(form_body_and_post_data);
	RUN(escaping_and_invalid_utf8);
	RUN(streaming_and_skipped_bodies);
	RUN(sdk_name_option);
	RUN(outgoing_call_has_redacted_url);
	RUN(userinfo_never_stored);
	RUN(error_text_urls_scrubbed);
	RUN(sensitive_header_spellings);
	RUN(json_decided_by_body);
	RUN(upload_bodies_size_only);
	RUN(urls_in_headers_scrubbed);
	RUN(default_names_and_variants);
	RUN(configured_header_names_normalised);
	RUN(serialisation_cost);
	return testlib_done();
}
