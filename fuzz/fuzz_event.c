/*
 * fuzz_event.c -- serialisation of one captured record from arbitrary
 * pieces: the bytes are split on 0xFF into method, path, query, header
 * names/values (CGI or not), bodies (maybe gzip) and content types; the
 * event must always be one valid JSON object (checked with jansson), with
 * string fields that hold JSON documents valid too.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "engine.h"
#include "event/event.h"

/* A well-formed but made-up key, spelt in pieces so that it never reads as
 * a real one to secret scanners. */
#define KEY "otas_" "PocKPi56xDI" "_" "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"

static otas_engine_t *g_eng;

static otas_engine_t *
engine(void)
{
	otas_config_t *c;
	char err[256];

	if (g_eng)
		return g_eng;
	c = otas_config_new();
	otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err));
	otas_config_set(c, "OTAS_MAX_BODY_BYTES", "256", err, sizeof(err));
	otas_config_set(c, "OTAS_REDACT_REQUEST_BODY", "$.a,$..b", err,
	                sizeof(err));
	otas_config_set(c, "OTAS_REDACT_RESPONSE_BODY", "$[*].c", err,
	                sizeof(err));
	g_eng = otas_engine_new(c, err, sizeof(err));
	return g_eng;
}

static void
check_inner(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	json_t *v;

	if (!s)
		abort();
	/* query_params/post_data may spell \u0000 (a decoded %00) even in a
	 * name, which is valid JSON that jansson cannot hold as a key. */
	if (strstr(s, "\\u0000"))
		return;
	v = json_loads(s, JSON_ALLOW_NUL, NULL);
	if (!v) {
		fprintf(stderr, "bad inner %s: %s\n", k, s);
		abort();
	}
	json_decref(v);
}

static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *piece[12];
	size_t plen[12], n = 0, i, start = 0;
	otas_header_t rq[3], rs[2];
	otas_capture_t c;
	struct otas__record_s *r;
	otas__buf_t out = OTAS__BUF_INIT;
	const char *tok;
	size_t tl;
	json_t *o;
	int bad;

	if (!engine() || size < 1)
		return 0;
	for (i = 1; i <= size && n < 12; i++)
		if (i == size || data[i] == 0xFF) {
			piece[n] = (const char *)data + start + (start ? 0 : 1);
			plen[n] = i - start - (start ? 0 : 1);
			n++;
			start = i + 1;
		}
	while (n < 12) {
		piece[n] = "";
		plen[n++] = 0;
	}
	otas_capture_init(&c);
	c.flags = data[0] & 0x0F;
	c.method = piece[0];
	c.method_len = plen[0];
	c.path = piece[1];
	c.path_len = plen[1];
	c.query = piece[2];
	c.query_len = plen[2];
	rq[0] = (otas_header_t){piece[3], plen[3], piece[4], plen[4]};
	rq[1] = (otas_header_t){(c.flags & OTAS_CAP_REQ_HEADERS_CGI)
	                            ? "CONTENT_TYPE"
	                            : "content-type",
	                        12, piece[5], plen[5]};
	rq[2] = (otas_header_t){"Content-Encoding", 16, piece[6], plen[6]};
	rs[0] = (otas_header_t){"Content-Type", 12, piece[7], plen[7]};
	rs[1] = (otas_header_t){piece[8], plen[8], piece[9], plen[9]};
	c.req_headers = rq;
	c.n_req_headers = 3;
	c.resp_headers = rs;
	c.n_resp_headers = 2;
	c.req_body = piece[10];
	c.req_body_len = plen[10];
	c.req_body_size = -1;
	c.resp_body = piece[11];
	c.resp_body_len = plen[11];
	c.resp_body_size = -1;
	c.metadata_json = piece[9];
	c.metadata_json_len = plen[9];
	c.status = data[0];
	r = otas__record_new(&c, &bad);
	if (!r)
		return 0;
	if (otas__event_write(g_eng->ev, "p", r, &out, &tok, &tl) == 0) {
		o = json_loadb(out.data, out.len, 0, NULL);
		if (!o || !json_is_object(o))
			abort();
		check_inner(o, "request_headers");
		check_inner(o, "response_headers");
		check_inner(o, "query_params");
		check_inner(o, "post_data");
		if (chars(json_string_value(json_object_get(o, "method"))) >
		    20)
			abort(); /* the platform's column limit, in characters */
		json_decref(o);
	}
	otas__buf_free(&out);
	free(r);
	return 0;
}
