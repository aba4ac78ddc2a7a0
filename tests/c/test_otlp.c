/*
 * test_otlp.c -- OTAS_EXPORTER=otlp: the options, the endpoint URL, the
 * header list, and the ExportLogsServiceRequest the encoder writes.  The
 * protobuf is read back with a small reader written here from the
 * opentelemetry-proto field numbers (not with the encoder's own code), and
 * one event goes the whole way capture -> event.c -> otlp.c so that the
 * redaction of event.c is proved to reach the log record.
 */
#include <stdint.h>
#include <stdlib.h>

#include <unistd.h>

#include "capture/capture.h"
#include "engine.h"
#include "event/event.h"
#include "fake_server.c"
#include "send/otlp.h"
#include "send/protocol.h"
#include "testlib.h"

/* ------------------------------------------------- a protobuf reader */

typedef struct {
	const unsigned char *p;
	size_t n;
} span_t;

static int
rv(const unsigned char **p, const unsigned char *e, uint64_t *v)
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

/* The idx-th occurrence of field f in message m: its bytes (LEN), or its
 * value in *num (VARINT, I64, I32).  1 found, 0 not, -1 malformed. */
static int
field(span_t m, int f, int idx, span_t *out, uint64_t *num)
{
	const unsigned char *p = m.p, *e = m.p + m.n;
	uint64_t tag, v;

	while (p < e) {
		int wt;
		span_t s = {NULL, 0};
		uint64_t x = 0;
		if (rv(&p, e, &tag) != 0)
			return -1;
		wt = (int)(tag & 7);
		if (wt == 0) {
			if (rv(&p, e, &x) != 0)
				return -1;
		} else if (wt == 1 || wt == 5) {
			int k, nb = wt == 1 ? 8 : 4;
			if (e - p < nb)
				return -1;
			for (k = 0; k < nb; k++)
				x |= (uint64_t)p[k] << (8 * k);
			p += nb;
		} else if (wt == 2) {
			if (rv(&p, e, &v) != 0 || v > (uint64_t)(e - p))
				return -1;
			s.p = p;
			s.n = (size_t)v;
			p += v;
		} else {
			return -1;
		}
		if ((int)(tag >> 3) == f && idx-- == 0) {
			if (out)
				*out = s;
			if (num)
				*num = x;
			return 1;
		}
	}
	return 0;
}

static span_t
sub(span_t m, int f, int idx)
{
	span_t s = {NULL, 0};

	CHECK(field(m, f, idx, &s, NULL) == 1);
	return s;
}

static int
eq(span_t s, const char *str)
{
	return s.n == strlen(str) && memcmp(s.p, str, s.n) == 0;
}

static char strbuf[4096];

static const char *
str(span_t s)
{
	snprintf(strbuf, sizeof(strbuf), "%.*s", (int)s.n, (const char *)s.p);
	return strbuf;
}

/* The AnyValue of attribute `key` among fields f of m; found: 1. */
static int
attr(span_t m, int f, const char *key, span_t *av)
{
	span_t kv, k;
	int i;

	for (i = 0; field(m, f, i, &kv, NULL) == 1; i++) {
		if (field(kv, 1, 0, &k, NULL) == 1 && eq(k, key)) {
			*av = sub(kv, 2, 0);
			return 1;
		}
	}
	return 0;
}

static const char *
attr_str(span_t m, int f, const char *key)
{
	span_t av;

	if (!attr(m, f, key, &av))
		return NULL;
	return str(sub(av, 1, 0));
}

static long long
attr_int(span_t m, const char *key)
{
	span_t av;
	uint64_t v = 0;

	CHECK(attr(m, 6, key, &av));
	CHECK(field(av, 3, 0, NULL, &v) == 1);
	return (long long)v;
}

/* ---------------------------------------------------------- fixtures */

static otas_config_t *
cfg_otlp(const char *const *opts)
{
	otas_config_t *c = otas_config_new();
	char err[512];

	CHECK(c);
	CHECK(otas_config_set(c, "OTAS_EXPORTER", "otlp", err, sizeof(err)) ==
	      0);
	for (; opts && *opts; opts += 2)
		CHECK(otas_config_set(c, opts[0], opts[1], err, sizeof(err)) ==
		      0);
	return c;
}

/* An event as event.c writes it (redacted already). */
static const char EV[] =
    "{\"project_id\":\"\",\"event_id\":\"0190a5c4-1111-7000-8000-000000000001\","
    "\"agent_session_token\":\"\",\"path\":\"/api/items/7\",\"method\":\"GET\","
    "\"status_code\":200,\"latency_ms\":12.5,\"request_size_bytes\":0,"
    "\"response_size_bytes\":8,"
    "\"request_headers\":\"{\\\"host\\\":\\\"api.example.com:8443\\\","
    "\\\"user-agent\\\":\\\"agent/1.0\\\",\\\"authorization\\\":\\\"[REDACTED]\\\"}\","
    "\"response_headers\":\"{\\\"content-type\\\":\\\"application/json\\\"}\","
    "\"request_body\":\"\",\"response_body\":\"{\\\"id\\\":7}\","
    "\"query_params\":\"{\\\"a\\\":[\\\"1\\\",\\\"x y\\\"],\\\"password\\\":[\\\"[REDACTED]\\\"]}\","
    "\"post_data\":\"{}\",\"request_content_type\":\"\","
    "\"response_content_type\":\"application/json\",\"error\":\"\","
    "\"metadata\":{\"plan\":\"gold\",\"n\":3,\"event_id\":\"0190a5c4-1111-7000-8000-000000000001\","
    "\"timestamp\":\"2023-11-14T22:13:20.123456Z\",\"sdk\":\"otas-python/1\","
    "\"host\":\"api.example.com:8443\",\"route\":\"api/items/<int:pk>\","
    "\"client_ip\":\"10.1.2.3\",\"user_id\":\"u1\","
    "\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\","
    "\"tags\":[\"blue\",\"eu\"],\"direction\":\"incoming\"}}";

/* Encode events into one request; the LogRecord idx of it. */
static span_t
encode(otas__otlp_t *o, const char *const *evs, size_t n, otas__buf_t *out,
       span_t *resource, span_t *scope_logs)
{
	otas__buf_t rec = OTAS__BUF_INIT;
	span_t req, rl;
	size_t i;

	for (i = 0; i < n; i++)
		CHECK(otas__otlp_add(o, evs[i], strlen(evs[i]), &rec) == 0);
	CHECK(otas__otlp_finish(o, &rec, out) == 0);
	otas__buf_free(&rec);
	req.p = (const unsigned char *)out->data;
	req.n = out->len;
	/* ExportLogsServiceRequest.resource_logs (1) -> ResourceLogs */
	rl = sub(req, 1, 0);
	CHECK(field(req, 1, 1, NULL, NULL) == 0); /* exactly one */
	*resource = sub(rl, 1, 0);
	*scope_logs = sub(rl, 2, 0);
	CHECK(eq(sub(rl, 3, 0), "https://opentelemetry.io/schemas/1.26.0"));
	return sub(*scope_logs, 2, 0);
}

/* ------------------------------------------------------------- tests */

TEST(record_fields)
{
	otas_config_t *c = cfg_otlp((const char *const[]){
	    "OTAS_SERVICE_NAME", "shop-api", "OTAS_SERVICE_VERSION", "1.4.2",
	    NULL});
	otas__otlp_t *o = otas__otlp_new(c, "otas-python/1");
	otas__buf_t out = OTAS__BUF_INIT;
	const char *evs[] = {EV};
	span_t res, sl, lr, av, arr, scope;
	uint64_t v;

	CHECK(o);
	lr = encode(o, evs, 1, &out, &res, &sl);
	CHECK_STR(attr_str(res, 1, "service.name"), "shop-api");
	CHECK_STR(attr_str(res, 1, "service.version"), "1.4.2");
	CHECK_STR(attr_str(res, 1, "telemetry.sdk.name"), "otas");
	CHECK_STR(attr_str(res, 1, "telemetry.sdk.version"), OTAS_VERSION);
	CHECK_STR(attr_str(res, 1, "telemetry.sdk.language"), "python");
	scope = sub(sl, 1, 0);
	CHECK(eq(sub(scope, 1, 0), "otas"));

	/* times: 2023-11-14T22:13:20.123456Z = 1700000000.123456 s */
	CHECK(field(lr, 1, 0, NULL, &v) == 1);
	CHECK_INT(v, 1700000000123456000LL);
	CHECK(field(lr, 11, 0, NULL, &v) == 1);
	CHECK_INT(v, 1700000000123456000LL + 12500000LL);
	CHECK(field(lr, 2, 0, NULL, &v) == 1);
	CHECK_INT(v, 9);
	CHECK(eq(sub(lr, 3, 0), "INFO"));
	CHECK(eq(sub(sub(lr, 5, 0), 1, 0), "GET /api/items/<int:pk> 200"));
	CHECK(eq(sub(lr, 12, 0), "otas.http.request"));
	/* trace context from the traceparent */
	CHECK(sub(lr, 9, 0).n == 16);
	CHECK(memcmp(sub(lr, 9, 0).p,
	             "\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e"
	             "\x47\x36", 16) == 0);
	CHECK(memcmp(sub(lr, 10, 0).p, "\x00\xf0\x67\xaa\x0b\xa9\x02\xb7",
	             8) == 0);
	CHECK(field(lr, 8, 0, NULL, &v) == 1);
	CHECK_INT(v, 1);

	CHECK_STR(attr_str(lr, 6, "http.request.method"), "GET");
	CHECK_STR(attr_str(lr, 6, "url.path"), "/api/items/7");
	CHECK_STR(attr_str(lr, 6, "url.query"),
	          "a=1&a=x%20y&password=[REDACTED]");
	CHECK_STR(attr_str(lr, 6, "http.route"), "/api/items/<int:pk>");
	CHECK_INT(attr_int(lr, "http.response.status_code"), 200);
	CHECK_STR(attr_str(lr, 6, "server.address"), "api.example.com");
	CHECK_INT(attr_int(lr, "server.port"), 8443);
	CHECK_STR(attr_str(lr, 6, "client.address"), "10.1.2.3");
	CHECK_STR(attr_str(lr, 6, "user_agent.original"), "agent/1.0");
	CHECK_INT(attr_int(lr, "http.request.body.size"), 0);
	CHECK_INT(attr_int(lr, "http.response.body.size"), 8);
	CHECK_STR(attr_str(lr, 6, "otas.event_id"),
	          "0190a5c4-1111-7000-8000-000000000001");
	CHECK_STR(attr_str(lr, 6, "otas.direction"), "incoming");
	CHECK_STR(attr_str(lr, 6, "enduser.id"), "u1");
	CHECK_STR(attr_str(lr, 6, "otas.response.body"), "{\"id\":7}");
	CHECK_STR(attr_str(lr, 6, "otas.metadata.plan"), "gold");
	CHECK_INT(attr_int(lr, "otas.metadata.n"), 3);
	CHECK(!attr(lr, 6, "error.type", &av));
	CHECK(!attr(lr, 6, "otas.request.body", &av)); /* empty: absent */
	/* otas.latency_ms is a double */
	CHECK(attr(lr, 6, "otas.latency_ms", &av));
	CHECK(field(av, 4, 0, NULL, &v) == 1);
	{
		double d;
		memcpy(&d, &v, 8);
		CHECK(d == 12.5);
	}
	/* headers are string arrays; redacted values stay redacted */
	CHECK(attr(lr, 6, "http.request.header.authorization", &av));
	arr = sub(av, 5, 0);
	CHECK(eq(sub(sub(arr, 1, 0), 1, 0), "[REDACTED]"));
	CHECK(field(arr, 1, 1, NULL, NULL) == 0);
	CHECK(attr(lr, 6, "http.response.header.content-type", &av));
	CHECK(eq(sub(sub(sub(av, 5, 0), 1, 0), 1, 0), "application/json"));
	CHECK(attr(lr, 6, "otas.tags", &av));
	CHECK(eq(sub(sub(sub(av, 5, 0), 1, 1), 1, 0), "eu"));
	otas__buf_free(&out);
	otas__otlp_free(o);
	otas_config_free(c);
}

TEST(severity_and_errors)
{
	otas_config_t *c = cfg_otlp(NULL);
	otas__otlp_t *o = otas__otlp_new(c, "otas-c/1");
	otas__buf_t out = OTAS__BUF_INIT;
	const char *evs[] = {
	    "{\"method\":\"GET\",\"path\":\"/x\",\"status_code\":404,"
	    "\"latency_ms\":1,\"metadata\":{}}",
	    "{\"method\":\"POST\",\"path\":\"/y\",\"status_code\":503,"
	    "\"latency_ms\":1,\"metadata\":{}}",
	    "{\"method\":\"PURGE\",\"path\":\"/z\",\"status_code\":500,"
	    "\"latency_ms\":1,\"error\":\"ValueError: bad\","
	    "\"metadata\":{\"errors\":[{\"type\":\"ValueError\",\"message\":"
	    "\"bad\",\"stack\":\"Traceback...\"}]}}",
	    "{\"method\":\"GET\",\"path\":\"/ok\",\"status_code\":200,"
	    "\"latency_ms\":1,\"error\":\"KeyError: k\",\"metadata\":{"
	    "\"errors\":[{\"type\":\"KeyError\",\"message\":\"k\"}]}}"};
	span_t res, sl, lr;
	uint64_t v;

	CHECK(o);
	encode(o, evs, 4, &out, &res, &sl);
	CHECK_STR(attr_str(res, 1, "service.name"), "unknown_service");
	CHECK(!attr(res, 1, "telemetry.sdk.language", &lr));
	lr = sub(sl, 2, 0);
	CHECK(field(lr, 2, 0, NULL, &v) == 1);
	CHECK_INT(v, 13);
	CHECK(eq(sub(lr, 3, 0), "WARN"));
	CHECK(field(lr, 1, 0, NULL, &v) == 0); /* no timestamp: no time */
	CHECK(field(lr, 11, 0, NULL, &v) == 1); /* but observed: now */
	CHECK(v > 1700000000000000000ULL);
	CHECK(field(lr, 9, 0, NULL, NULL) == 0); /* no traceparent */
	lr = sub(sl, 2, 1);
	CHECK(field(lr, 2, 0, NULL, &v) == 1);
	CHECK_INT(v, 17);
	CHECK_STR(attr_str(lr, 6, "error.type"), "503");
	lr = sub(sl, 2, 2);
	CHECK_STR(attr_str(lr, 6, "http.request.method"), "_OTHER");
	CHECK_STR(attr_str(lr, 6, "http.request.method_original"), "PURGE");
	CHECK_STR(attr_str(lr, 6, "error.type"), "ValueError");
	CHECK_STR(attr_str(lr, 6, "exception.message"), "bad");
	CHECK_STR(attr_str(lr, 6, "exception.stacktrace"), "Traceback...");
	lr = sub(sl, 2, 3); /* an exception under a 200 is an error too */
	CHECK(eq(sub(lr, 3, 0), "ERROR"));
	CHECK_STR(attr_str(lr, 6, "error.type"), "KeyError");
	CHECK(field(sl, 2, 4, NULL, NULL) == 0);
	/* not an event: refused, nothing written */
	{
		otas__buf_t r = OTAS__BUF_INIT;
		CHECK(otas__otlp_add(o, "[1]", 3, &r) == -1);
		CHECK(otas__otlp_add(o, "{bad", 4, &r) == -1);
		CHECK_INT(r.len, 0);
		otas__buf_free(&r);
	}
	otas__buf_free(&out);
	otas__otlp_free(o);
	otas_config_free(c);
}

/* An outgoing call: url.full, the parent event, body encoding. */
TEST(outgoing_event)
{
	otas_config_t *c = cfg_otlp(NULL);
	otas__otlp_t *o = otas__otlp_new(c, "otas-c/1");
	otas__buf_t out = OTAS__BUF_INIT;
	const char *evs[] = {
	    "{\"method\":\"POST\",\"path\":\"/v1/charge\",\"status_code\":201,"
	    "\"latency_ms\":3.25,\"response_body\":\"AAEC\","
	    "\"metadata\":{\"timestamp\":\"2024-02-29T00:00:01Z\","
	    "\"direction\":\"outgoing\",\"host\":\"[2001:db8::1]:8443\","
	    "\"url\":\"https://[2001:db8::1]:8443/v1/charge?key=[REDACTED]\","
	    "\"parent_event_id\":\"0190a5c4-2222-7000-8000-000000000002\","
	    "\"truncated\":[\"response\"],"
	    "\"body_encoding\":{\"response\":\"base64\"},"
	    "\"traceparent\":\"00-00000000000000000000000000000000-00f067aa0ba902b7-01\"}}"};
	span_t res, sl, lr, av;
	uint64_t v;

	CHECK(o);
	lr = encode(o, evs, 1, &out, &res, &sl);
	CHECK(field(lr, 1, 0, NULL, &v) == 1);
	CHECK_INT(v, 1709164801000000000LL);
	CHECK(field(lr, 11, 0, NULL, &v) == 1);
	CHECK_INT(v, 1709164801000000000LL + 3250000LL);
	CHECK_STR(attr_str(lr, 6, "otas.direction"), "outgoing");
	CHECK_STR(attr_str(lr, 6, "url.full"),
	          "https://[2001:db8::1]:8443/v1/charge?key=[REDACTED]");
	CHECK_STR(attr_str(lr, 6, "otas.parent_event_id"),
	          "0190a5c4-2222-7000-8000-000000000002");
	CHECK_STR(attr_str(lr, 6, "server.address"), "2001:db8::1");
	CHECK_INT(attr_int(lr, "server.port"), 8443);
	CHECK_STR(attr_str(lr, 6, "otas.response.body.encoding"), "base64");
	CHECK(attr(lr, 6, "otas.truncated", &av));
	CHECK(eq(sub(sub(sub(av, 5, 0), 1, 0), 1, 0), "response"));
	CHECK(field(lr, 9, 0, NULL, NULL) == 0); /* an all-zero trace id */
	otas__buf_free(&out);
	otas__otlp_free(o);
	otas_config_free(c);
}

/* The host's active span (metadata.trace_id / span_id, e.g. the
 * OpenTelemetry Django server span) wins over the incoming traceparent. */
TEST(host_span_is_the_trace_context)
{
	otas_config_t *c = cfg_otlp(NULL);
	otas__otlp_t *o = otas__otlp_new(c, "otas-python/1");
	otas__buf_t out = OTAS__BUF_INIT;
	const char *evs[] = {
	    "{\"method\":\"GET\",\"path\":\"/a\",\"status_code\":200,"
	    "\"latency_ms\":1,\"metadata\":{\"timestamp\":\"2024-02-29T00:00:01Z\","
	    "\"direction\":\"incoming\","
	    "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\","
	    "\"span_id\":\"1122334455667788\",\"parent_span_id\":\"b7ad6b7169203331\","
	    "\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00\"}}"};
	span_t res, sl, lr;
	uint64_t v;

	CHECK(o);
	lr = encode(o, evs, 1, &out, &res, &sl);
	CHECK(sub(lr, 9, 0).n == 16);
	CHECK(memcmp(sub(lr, 9, 0).p,
	             "\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80"
	             "\x31\x9c", 16) == 0);
	CHECK(sub(lr, 10, 0).n == 8);
	CHECK(memcmp(sub(lr, 10, 0).p, "\x11\x22\x33\x44\x55\x66\x77\x88",
	             8) == 0);
	CHECK(field(lr, 8, 0, NULL, &v) == 1);
	CHECK_INT(v, 1);
	CHECK(attr_str(lr, 6, "otas.metadata.trace_id") == NULL);
	CHECK_STR(attr_str(lr, 6, "otas.metadata.parent_span_id"),
	          "b7ad6b7169203331");
	otas__buf_free(&out);
	otas__otlp_free(o);
	otas_config_free(c);
}

TEST(endpoint_and_headers)
{
	static const struct {
		const char *in, *want;
	} u[] = {{"", "http://127.0.0.1:4318/v1/logs"},
	         {"http://col:4318", "http://col:4318/v1/logs"},
	         {"http://col:4318/", "http://col:4318/v1/logs"},
	         {"https://col/otlp", "https://col/otlp/v1/logs"},
	         {"http://col:4318/v1/logs", "http://col:4318/v1/logs"}};
	size_t i, n;

	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		otas_config_t *c = cfg_otlp((const char *const[]){
		    "OTAS_OTLP_ENDPOINT", u[i].in, NULL});
		otas__otlp_t *o = otas__otlp_new(c, "x");
		CHECK(o);
		CHECK_STR(otas__otlp_url(o), u[i].want);
		otas__otlp_free(o);
		otas_config_free(c);
	}
	{
		otas_config_t *c = cfg_otlp((const char *const[]){
		    "OTAS_OTLP_HEADERS",
		    "x-api-key = s3cr%3Dt , Authorization=Bearer%20abc",
		    "OTAS_OTLP_COMPRESSION", "none", NULL});
		otas__otlp_t *o = otas__otlp_new(c, "x");
		const char *const *h;
		char buf[64];
		CHECK(o);
		h = otas__otlp_headers(o, &n);
		CHECK_INT(n, 3);
		CHECK_STR(h[0], "Content-Type: application/x-protobuf");
		CHECK_STR(h[1], "x-api-key: s3cr=t");
		CHECK_STR(h[2], "Authorization: Bearer abc");
		CHECK(!otas__otlp_gzip(o));
		/* the value is a secret: get shows only that it is set */
		CHECK(otas_config_get(c, "OTAS_OTLP_HEADERS", buf,
		                      sizeof(buf)) == 0);
		CHECK_STR(buf, "***");
		otas__otlp_free(o);
		otas_config_free(c);
	}
	{
		otas_config_t *c = cfg_otlp(NULL);
		otas__otlp_t *o = otas__otlp_new(c, "x");
		const char *const *h = otas__otlp_headers(o, &n);
		CHECK_INT(n, 2);
		CHECK_STR(h[1], "Content-Encoding: gzip");
		CHECK(otas__otlp_gzip(o));
		otas__otlp_free(o);
		otas_config_free(c);
	}
}

TEST(options_validated_at_start)
{
	static const struct {
		const char *name, *value, *want;
	} bad[] = {
	    {"OTAS_EXPORTER", "jaeger", "OTAS_EXPORTER=\"jaeger\" is not known"},
	    {"OTAS_OTLP_COMPRESSION", "zstd",
	     "OTAS_OTLP_COMPRESSION=\"zstd\" is not known"},
	    {"OTAS_OTLP_HEADERS", "novalue-topsecret",
	     "OTAS_OTLP_HEADERS is invalid: item 1: an item has no '='"},
	    {"OTAS_OTLP_HEADERS", "a=1,bad name=topsecret",
	     "OTAS_OTLP_HEADERS is invalid: item 2: a header name"},
	    {"OTAS_OTLP_HEADERS", "a=top%0Asecret",
	     "OTAS_OTLP_HEADERS is invalid: item 1: a header value holds"},
	};
	size_t i;
	char err[512], buf[64];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		otas_config_t *c = otas_config_new();
		otas_config_set(c, "OTAS_EXPORTER", "otlp", err, sizeof(err));
		CHECK(otas_config_set(c, bad[i].name, bad[i].value, err,
		                      sizeof(err)) == 0);
		CHECK(otas_engine_new(c, err, sizeof(err)) == NULL);
		if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
			fprintf(stderr, "  got: %s\n", err);
		CHECK(strncmp(err, bad[i].want, strlen(bad[i].want)) == 0);
		CHECK(strstr(err, "topsecret") == NULL);
		CHECK(strstr(err, "secret") == NULL ||
		      strcmp(bad[i].name, "OTAS_OTLP_HEADERS") != 0);
	}
	{
		otas_config_t *c = otas_config_new();
		CHECK(otas_config_set(c, "OTAS_OTLP_ENDPOINT", "col:4318", err,
		                      sizeof(err)) == -1);
		CHECK(strstr(err, "OTAS_OTLP_ENDPOINT") != NULL);
		otas_config_free(c);
	}
	/* otlp needs no SDK key; authentication is answered locally */
	{
		otas_config_t *c = cfg_otlp(NULL);
		otas_engine_t *e = otas_engine_new(c, err, sizeof(err));
		otas_auth_result_t r = OTAS_AUTH_RESULT_INIT;
		CHECK(e);
		CHECK(otas_engine_authenticate(e, 100, &r) == OTAS_AUTH_OK);
		CHECK_INT(r.http_status, 0);
		/* entity updates have no OTLP form: dropped, counted */
		CHECK(otas_entity(e, 0, "{\"user_id\":\"u1\"}", 16) != -1);
		{
			otas_stats_t st = OTAS_STATS_INIT;
			otas_stats(e, &st);
			CHECK_INT(st.dropped_entities, 1);
		}
		otas_engine_free(e, 0);
	}
	/* without otlp the key is still required */
	{
		otas_config_t *c = otas_config_new();
		CHECK(otas_engine_new(c, err, sizeof(err)) == NULL);
		CHECK(strstr(err, "OTAS_SDK_KEY") != NULL);
		(void)buf;
	}
}

TEST(answers)
{
	/* ExportLogsServiceResponse{partial_success{rejected 3, "too old"}} */
	static const char resp[] = "\x0a\x0b\x08\x03\x12\x07too old";
	int64_t rej;
	char msg[32];

	/* protocol.c's status table, OTLP column */
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 200, NULL), OTAS__OUT_OK);
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 0, NULL), OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 429, NULL), OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 502, NULL), OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 503, NULL), OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 504, NULL), OTAS__OUT_RETRY);
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 400, NULL),
	          OTAS__OUT_REJECTED);
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 404, NULL),
	          OTAS__OUT_REJECTED);
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 401, NULL),
	          OTAS__OUT_AUTH_FAILED);
	CHECK_INT(otas__classify(OTAS__EP_OTLP_LOGS, 308, NULL),
	          OTAS__OUT_REDIRECT);
	CHECK(otas__otlp_parse_response(resp, sizeof(resp) - 1, &rej, msg,
	                                sizeof(msg)) == 0);
	CHECK_INT(rej, 3);
	CHECK_STR(msg, "too old");
	CHECK(otas__otlp_parse_response("", 0, &rej, msg, sizeof(msg)) == 0);
	CHECK_INT(rej, 0);
	CHECK(otas__otlp_parse_response("\x0a\x7f", 2, &rej, msg,
	                                sizeof(msg)) == -1);
	CHECK_INT(rej, 0);
}

/* The scanner that replaced jansson: spacing, escapes (also inside the
 * header and query documents), surrogate pairs, a NUL in a body (jansson
 * refused the whole event), duplicate keys (the last wins) and metadata
 * objects written compact. */
TEST(json_reading_edge_cases)
{
	otas_config_t *c = cfg_otlp(NULL);
	otas__otlp_t *o = otas__otlp_new(c, "otas-c/1");
	otas__buf_t out = OTAS__BUF_INIT, r = OTAS__BUF_INIT;
	const char *evs[] = {
	    " { \"method\" : \"GET\" , \"path\":\"/caf\\u00e9\\ud83d\\ude00\","
	    "\"status_code\": 200, \"status_code\": 201,"
	    "\"latency_ms\": 2e0,"
	    "\"request_body\":\"a\\u0000b\\\"\\\\\\/\\n\","
	    "\"request_headers\":\"{\\\"x-q\\\":\\\"say \\\\\\\"hi\\\\\\\"\\\"}\","
	    "\"query_params\":\"{\\\"k\\\\u00e9\\\":[\\\"v&1\\\"],\\\"e\\\":[]}\","
	    "\"metadata\" : { \"obj\" : { \"a\" : [ 1 , \"x y\" ] } ,"
	    " \"flag\": true, \"ratio\": 0.5, \"none\": null,"
	    " \"timestamp\":\"2023-11-14T22:13:20Z\"} } \n"};
	span_t res, sl, lr, av;
	uint64_t v;

	CHECK(o);
	lr = encode(o, evs, 1, &out, &res, &sl);
	CHECK_STR(attr_str(lr, 6, "url.path"), "/caf\xc3\xa9\xf0\x9f\x98\x80");
	CHECK_INT(attr_int(lr, "http.response.status_code"), 201);
	CHECK(attr(lr, 6, "otas.request.body", &av));
	CHECK_INT(sub(av, 1, 0).n, 7);
	CHECK(memcmp(sub(av, 1, 0).p, "a\0b\"\\/\n", 7) == 0);
	CHECK(attr(lr, 6, "http.request.header.x-q", &av));
	CHECK(eq(sub(sub(sub(av, 5, 0), 1, 0), 1, 0), "say \"hi\""));
	CHECK_STR(attr_str(lr, 6, "url.query"), "k%C3%A9=v%261&e=");
	CHECK_STR(attr_str(lr, 6, "otas.metadata.obj"), "{\"a\":[1,\"x y\"]}");
	CHECK(attr(lr, 6, "otas.metadata.flag", &av));
	CHECK(field(av, 2, 0, NULL, &v) == 1);
	CHECK_INT(v, 1);
	CHECK(attr(lr, 6, "otas.metadata.ratio", &av));
	CHECK(field(av, 4, 0, NULL, &v) == 1);
	CHECK(!attr(lr, 6, "otas.metadata.none", &av));
	CHECK(field(lr, 11, 0, NULL, &v) == 1);
	CHECK_INT(v, 1700000000000000000LL + 2000000LL);
	/* refused: not one well-formed object */
	CHECK(otas__otlp_add(o, "{\"a\":1,}", 8, &r) == -1);
	CHECK(otas__otlp_add(o, "{\"a\":1} x", 9, &r) == -1);
	CHECK(otas__otlp_add(o, "{\"a\":\"\\x\"}", 10, &r) == -1);
	CHECK(otas__otlp_add(o, "{\"a\":01}", 8, &r) == -1);
	CHECK(otas__otlp_add(o, "{\"a\":[1,]}", 10, &r) == -1);
	CHECK(otas__otlp_add(o, "{\"a\":\"\xff\"}", 8, &r) == -1); /* UTF-8 */
	CHECK(otas__otlp_add(o, "{\"a\":\"abc", 9, &r) == -1);
	CHECK_INT(r.len, 0);
	otas__buf_free(&r);
	otas__buf_free(&out);
	otas__otlp_free(o);
	otas_config_free(c);
}

/* capture -> event.c (redaction) -> otlp.c: nothing secret survives. */
TEST(redaction_reaches_the_record)
{
	otas_config_t *c = cfg_otlp((const char *const[]){
	    "OTAS_REDACT_REQUEST_BODY", "$.card", NULL});
	otas_engine_t *e = otas_engine_new(c, strbuf, sizeof(strbuf));
	otas_header_t h[] = {
	    {"HTTP_AUTHORIZATION", 18, "Bearer tok-SECRET-1", 19},
	    {"HTTP_X_OTAS_AGENT_SESSION_TOKEN", 31, "tok-SECRET-2", 12},
	    {"CONTENT_TYPE", 12, "application/json", 16},
	    {"HTTP_HOST", 9, "shop.local", 10}};
	otas_capture_t cap;
	struct otas__record_s *r;
	otas__buf_t ev = OTAS__BUF_INIT, rec = OTAS__BUF_INIT,
	            out = OTAS__BUF_INIT;
	const char *tok;
	size_t tl, i;
	int bad;
	span_t req, lr;

	CHECK(e);
	otas_capture_init(&cap);
	cap.flags = OTAS_CAP_REQ_HEADERS_CGI;
	cap.method = "POST";
	cap.method_len = 4;
	cap.path = "/pay";
	cap.path_len = 4;
	cap.query = "password=SECRET-3&q=1";
	cap.query_len = 21;
	cap.req_headers = h;
	cap.n_req_headers = 4;
	cap.req_body = "{\"card\":\"SECRET-4\",\"password\":\"SECRET-5\"}";
	cap.req_body_len = strlen(cap.req_body);
	cap.status = 201;
	cap.start_unix_us = 1700000000000000;
	cap.duration_ns = 1000000;
	r = otas__record_new(&cap, &bad);
	CHECK(r);
	CHECK(otas__event_write(e->ev, "", r, &ev, &tok, &tl) == 0);
	free(r);
	CHECK(otas__otlp_add(otas__protocol_otlp(e->proto), ev.data, ev.len, &rec) == 0);
	CHECK(otas__otlp_finish(otas__protocol_otlp(e->proto), &rec, &out) == 0);
	for (i = 0; i + 7 <= out.len; i++)
		CHECK(memcmp(out.data + i, "SECRET-", 7) != 0);
	req.p = (const unsigned char *)out.data;
	req.n = out.len;
	lr = sub(sub(sub(req, 1, 0), 2, 0), 2, 0);
	CHECK_STR(attr_str(lr, 6, "url.query"), "password=[REDACTED]&q=1");
	CHECK_STR(attr_str(lr, 6, "otas.request.body"),
	          "{\"card\":\"[REDACTED]\",\"password\":\"[REDACTED]\"}");
	CHECK_STR(attr_str(lr, 6, "server.address"), "shop.local");
	{
		span_t av;
		CHECK(attr(lr, 6, "http.request.header.authorization", &av));
		CHECK(eq(sub(sub(sub(av, 5, 0), 1, 0), 1, 0), "[REDACTED]"));
		/* the agent token is not even named */
		CHECK(!attr(lr, 6, "http.request.header.x-otas-agent-session-token",
		            &av));
	}
	otas__buf_free(&ev);
	otas__buf_free(&rec);
	otas__buf_free(&out);
	otas_engine_free(e, 0);
}


/* The sender in OTLP mode against a loopback server: no authentication,
 * protobuf to /v1/logs, 503 retried with the same records, a partial
 * success counted, 400 dropped; the agent token never sent, its session
 * id claim is. */
#define JWT "eyJhbGciOiJIUzI1NiJ9.eyJhZ2VudF9zZXNzaW9uX2lkIjoiYXMtNDIiLCJhZ2VudF9pZCI6ImFnLTEiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnLVNFQ1JFVC02"

static void
cap_one(otas_engine_t *e, const char *path)
{
	otas_header_t h[] = {
	    {"HTTP_HOST", 9, "api.example", 11},
	    {"HTTP_X_OTAS_AGENT_SESSION_TOKEN", 31, JWT, sizeof(JWT) - 1}};
	otas_capture_t c;

	otas_capture_init(&c);
	c.flags = OTAS_CAP_REQ_HEADERS_CGI;
	c.method = "GET";
	c.method_len = 3;
	c.path = path;
	c.path_len = strlen(path);
	c.req_headers = h;
	c.n_req_headers = 2;
	c.status = 200;
	c.req_body_size = -1;
	c.resp_body_size = -1;
	c.duration_ns = 1500000;
	CHECK(otas_capture(e, &c, NULL) == 0);
}

static size_t
records_in(const fs_req_t *r)
{
	span_t req = {(const unsigned char *)r->body, r->body_len}, sl;
	size_t n = 0;

	sl = sub(sub(req, 1, 0), 2, 0);
	while (field(sl, 2, (int)n, NULL, NULL) == 1)
		n++;
	return n;
}

TEST(sender_posts_otlp)
{
	fs_t *fs = fs_start();
	fs_reply_t script[3];
	otas_config_t *c;
	otas_engine_t *e;
	otas_stats_t st = OTAS_STATS_INIT;
	fs_req_t r;
	char err[512], *v;
	size_t i;
	int64_t dl;

	memset(script, 0, sizeof(script));
	script[0].status = 503;
	script[1].status = 200; /* partial_success: 1 rejected */
	snprintf(script[1].body, sizeof(script[1].body), "%s",
	         "\x0a\x08\x08\x01\x12\x04old!");
	script[2].status = 400;
	fs_script(fs, script, 3);
	c = cfg_otlp((const char *const[]){
	    "OTAS_OTLP_ENDPOINT", fs_url(fs), "OTAS_OTLP_HEADERS",
	    "x-team=t%2C1", "OTAS_SPOOL_MAX_BYTES", "0",
	    "OTAS_FLUSH_INTERVAL_MS", "60000", NULL});
	e = otas_engine_new(c, err, sizeof(err));
	CHECK(e);
	e->timing.retry_base_ms = 10;
	e->timing.retry_cap_ms = 20;
	for (i = 0; i < 3; i++)
		cap_one(e, "/a");
	otas_flush(e, 10000);
	dl = otas__now_mono_ms() + 10000;
	do {
		otas_stats(e, &st);
	} while (st.sent + st.dropped_rejected < 3 &&
	         otas__now_mono_ms() < dl && usleep(5000) == 0);
	CHECK_INT(st.sent, 2);
	CHECK_INT(st.dropped_rejected, 1);
	CHECK(st.retried >= 1);
	CHECK_INT(fs_auth_count(fs), 0);
	CHECK_INT(fs_count(fs), 2);
	for (i = 0; i < 2; i++) {
		CHECK(fs_get(fs, i, &r) == 1);
		CHECK_STR(r.path, "/v1/logs");
		v = fs_header(&r, "content-type");
		CHECK_STR(v, "application/x-protobuf");
		free(v);
		v = fs_header(&r, "content-encoding");
		CHECK_STR(v, "gzip");
		free(v);
		v = fs_header(&r, "x-team");
		CHECK_STR(v, "t,1");
		free(v);
		CHECK(fs_header(&r, "x-otas-sdk-key") == NULL);
		CHECK_INT(records_in(&r), 3); /* the retry sent the same 3 */
		CHECK(memmem(r.body, r.body_len, "SECRET", 6) == NULL);
		CHECK(memmem(r.body, r.body_len, "eyJhbGci", 8) == NULL);
		{
			span_t req = {(const unsigned char *)r.body, r.body_len};
			span_t lr = sub(sub(sub(req, 1, 0), 2, 0), 2, 0);
			CHECK_STR(attr_str(lr, 6, "otas.agent_session_id"),
			          "as-42");
		}
		fs_req_free(&r);
	}
	/* a 400: the batch is dropped, counted, not retried */
	cap_one(e, "/b");
	otas_flush(e, 10000);
	dl = otas__now_mono_ms() + 5000;
	do {
		otas_stats(e, &st);
	} while (st.dropped_rejected < 2 && otas__now_mono_ms() < dl &&
	         usleep(5000) == 0);
	CHECK_INT(st.dropped_rejected, 2);
	CHECK_INT(st.sent, 2);
	CHECK_INT(fs_count(fs), 3);
	otas_engine_free(e, 1000);
	fs_stop(fs);
}

/* Spooled events (the endpoint answered 503 until shutdown) are replayed
 * as OTLP by the next engine: the spool keeps event JSON, not protobuf. */
TEST(spooled_events_replay_as_otlp)
{
	fs_t *fs = fs_start();
	char dir[] = "/tmp/otas-otlp-spool-XXXXXX", err[512];
	const char *opts[] = {"OTAS_OTLP_ENDPOINT", NULL, "OTAS_SPOOL_DIR", dir,
	                      "OTAS_FLUSH_INTERVAL_MS", "20", NULL};
	otas_engine_t *e;
	otas_stats_t st = OTAS_STATS_INIT;
	size_t n0, i, recs = 0;
	int64_t dl;

	CHECK(mkdtemp(dir));
	opts[1] = fs_url(fs);
	fs_log_status(fs, 503);
	e = otas_engine_new(cfg_otlp(opts), err, sizeof(err));
	CHECK(e);
	cap_one(e, "/first");
	cap_one(e, "/second");
	dl = otas__now_mono_ms() + 10000;
	while (fs_count(fs) < 1 && otas__now_mono_ms() < dl)
		usleep(5000);
	otas_engine_free(e, 300); /* the 503 goes on: spooled */
	n0 = fs_count(fs);
	CHECK(n0 >= 1);

	fs_log_status(fs, 0);
	e = otas_engine_new(cfg_otlp(opts), err, sizeof(err));
	CHECK(e);
	cap_one(e, "/third");
	dl = otas__now_mono_ms() + 10000;
	do {
		otas_stats(e, &st);
	} while ((st.sent < 1 || st.unspooled < 2) &&
	         otas__now_mono_ms() < dl && usleep(5000) == 0);
	CHECK_INT(st.sent, 3);
	CHECK_INT(st.unspooled, 2);
	for (i = n0; i < fs_count(fs); i++) {
		fs_req_t r;
		CHECK(fs_get(fs, i, &r) == 1);
		recs += records_in(&r);
		fs_req_free(&r);
	}
	CHECK_INT(recs, 3);
	otas_engine_free(e, 1000);
	fs_stop(fs);
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK(system(cmd) == 0);
	}
}

int
main(void)
{
	RUN(record_fields);
	RUN(severity_and_errors);
	RUN(outgoing_event);
	RUN(host_span_is_the_trace_context);
	RUN(endpoint_and_headers);
	RUN(options_validated_at_start);
	RUN(answers);
	RUN(json_reading_edge_cases);
	RUN(redaction_reaches_the_record);
	RUN(sender_posts_otlp);
	RUN(spooled_events_replay_as_otlp);
	return testlib_done();
}
