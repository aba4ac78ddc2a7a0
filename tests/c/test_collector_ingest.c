/*
 * test_collector_ingest.c -- gunzip and zstd caps, batch decode, event
 * validation.
 */
#include "testlib.h"

#include "ingest.h"
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

static size_t
gz(const char *in, size_t n, unsigned char *out, size_t cap)
{
	z_stream zs = {0};
	size_t len;

	deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	len = cap - zs.avail_out;
	deflateEnd(&zs);
	return len;
}

#define EV "{\"project_id\":\"p\",\"path\":\"/a\",\"method\":\"GET\"," \
           "\"status_code\":200,\"latency_ms\":1.5"

TEST(gunzip_round_trip_and_caps)
{
	static char big[1 << 20];
	static unsigned char comp[1 << 16];
	otas__buf_t out = OTAS__BUF_INIT;
	size_t n;

	memset(big, ' ', sizeof big);
	n = gz(big, sizeof big, comp, sizeof comp);
	CHECK(n > 0 && n < 4096); /* a 1 MiB bomb in a few KB */
	CHECK_INT(otas__gunzip(comp, n, sizeof big, &out), OTAS__INGEST_OK);
	CHECK_INT(out.len, sizeof big);
	otas__buf_free(&out);
	CHECK_INT(otas__gunzip(comp, n, sizeof big - 1, &out),
	          OTAS__INGEST_TOO_LARGE);
	CHECK(out.cap <= sizeof big + 1); /* never grew past the cap */
	otas__buf_free(&out);
	CHECK_INT(otas__gunzip(comp, n - 4, sizeof big, &out),
	          OTAS__INGEST_BAD_GZIP); /* truncated */
	otas__buf_free(&out);
	CHECK_INT(otas__gunzip("hello", 5, 100, &out), OTAS__INGEST_BAD_GZIP);
	otas__buf_free(&out);
	CHECK_INT(otas__gunzip("", 0, 100, &out), OTAS__INGEST_BAD_GZIP);
	otas__buf_free(&out);
}

TEST(unzstd_round_trip_caps_and_bomb)
{
	static char big[1 << 20];
	static unsigned char comp[1 << 16], two[1 << 17];
	otas__buf_t out = OTAS__BUF_INIT;
	size_t n, n2;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_inBuffer ib;
	ZSTD_outBuffer ob;

	memset(big, ' ', sizeof big);
	n = ZSTD_compress(comp, sizeof comp, big, sizeof big, 19);
	CHECK(!ZSTD_isError(n) && n < 4096); /* a 1 MiB bomb in a few bytes */
	CHECK_INT(otas__unzstd(comp, n, sizeof big, &out), OTAS__INGEST_OK);
	CHECK_INT(out.len, sizeof big);
	CHECK(memcmp(out.data, big, sizeof big) == 0);
	CHECK_INT(out.data[out.len], 0);
	otas__buf_free(&out);
	CHECK_INT(otas__unzstd(comp, n, sizeof big - 1, &out),
	          OTAS__INGEST_TOO_LARGE);
	CHECK(out.cap <= sizeof big + 1); /* never grew past the cap */
	otas__buf_free(&out);
	/* A frame that does not declare its size (streamed) is capped the
	 * same way: the decoder never trusts the header. */
	ib = (ZSTD_inBuffer){big, sizeof big, 0};
	ob = (ZSTD_outBuffer){two, sizeof two, 0};
	ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
	CHECK_INT(otas__unzstd(two, ob.pos, 1000, &out),
	          OTAS__INGEST_TOO_LARGE);
	otas__buf_free(&out);
	CHECK_INT(otas__unzstd(comp, n - 3, sizeof big, &out),
	          OTAS__INGEST_BAD_GZIP); /* truncated */
	otas__buf_free(&out);
	CHECK_INT(otas__unzstd("hello", 5, 100, &out), OTAS__INGEST_BAD_GZIP);
	otas__buf_free(&out);
	CHECK_INT(otas__unzstd("", 0, 100, &out), OTAS__INGEST_BAD_GZIP);
	otas__buf_free(&out);
	/* Two frames back to back decode to both; trailing junk does not. */
	n2 = ZSTD_compress(two, sizeof two, "abc", 3, 1);
	n2 += ZSTD_compress(two + n2, sizeof two - n2, "def", 3, 1);
	CHECK_INT(otas__unzstd(two, n2, 100, &out), OTAS__INGEST_OK);
	CHECK_INT(out.len, 6);
	CHECK(memcmp(out.data, "abcdef", 6) == 0);
	otas__buf_free(&out);
	/* Exactly at the cap is fine. */
	CHECK_INT(otas__unzstd(two, n2, 6, &out), OTAS__INGEST_OK);
	CHECK_INT(out.len, 6);
	otas__buf_free(&out);
	CHECK_INT(otas__unzstd(two, n2, 5, &out), OTAS__INGEST_TOO_LARGE);
	otas__buf_free(&out);
	memcpy(two + n2, "zz", 2);
	CHECK_INT(otas__unzstd(two, n2 + 2, 100, &out), OTAS__INGEST_BAD_GZIP);
	otas__buf_free(&out);
	ZSTD_freeCCtx(cc);
}

/* ingest.c keeps one zstd decoder per thread and resets it per body: a
 * body that ends mid-frame, or one stopped at the cap, leaves nothing
 * behind for the next body on the thread; a body whose window passes
 * the kept bound (4 MiB) has its decoder freed and the next one gets a
 * new one, still capped at the 8 MiB window. */
static int
zstd_reuse_round(void)
{
	static const char msg[] = "{\"events\":[]}";
	unsigned char ok[256], two[512];
	otas__buf_t out = OTAS__BUF_INIT;
	size_t n = ZSTD_compress(ok, sizeof ok, msg, sizeof msg - 1, 3), n2;
	int bad = ZSTD_isError(n);

	/* the first half of a frame, then a whole one */
	n2 = ZSTD_compress(two, sizeof two, "0123456789abcdef0123456789", 26, 1);
	bad |= otas__unzstd(two, n2 / 2, 100, &out) != OTAS__INGEST_BAD_GZIP;
	otas__buf_free(&out);
	bad |= otas__unzstd(ok, n, 100, &out) != OTAS__INGEST_OK ||
	       out.len != sizeof msg - 1 || memcmp(out.data, msg, out.len) != 0;
	otas__buf_free(&out);
	/* stopped at the cap mid-frame, then a whole one */
	bad |= otas__unzstd(two, n2, 10, &out) != OTAS__INGEST_TOO_LARGE;
	otas__buf_free(&out);
	bad |= otas__unzstd(ok, n, 100, &out) != OTAS__INGEST_OK ||
	       out.len != sizeof msg - 1 || memcmp(out.data, msg, out.len) != 0;
	otas__buf_free(&out);
	return bad;
}

static void *
zstd_reuse_thread(void *arg)
{
	for (int i = 0; i < 200 && !*(int *)arg; i++)
		*(int *)arg = zstd_reuse_round();
	return NULL;
}

TEST(unzstd_kept_decoder_reset_per_body)
{
	size_t big_n = 6u << 20, cn;
	char *big = malloc(big_n);
	size_t ccap = ZSTD_compressBound(big_n);
	unsigned char *comp = malloc(ccap);
	otas__buf_t out = OTAS__BUF_INIT;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	pthread_t t[3];
	int bad[3] = {0, 0, 0};

	CHECK(big && comp && cc);
	if (!big || !comp || !cc)
		return;
	CHECK_INT(zstd_reuse_round(), 0);
	/* A window of 8 MiB (the most the collector takes, windowLog 23):
	 * 6 MiB that do not repeat within 4 MiB, so the decoder needs its
	 * whole window and is not kept afterwards. */
	for (size_t i = 0; i < big_n; i++)
		big[i] = (char)('a' + (i * 2654435761u >> 13) % 26);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 23);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	cn = ZSTD_compress2(cc, comp, ccap, big, big_n);
	CHECK(!ZSTD_isError(cn));
	CHECK_INT(otas__unzstd(comp, cn, big_n, &out), OTAS__INGEST_OK);
	CHECK_INT(out.len, big_n);
	CHECK(out.len == big_n && memcmp(out.data, big, big_n) == 0);
	otas__buf_free(&out);
	CHECK_INT(zstd_reuse_round(), 0);
	/* A window past 8 MiB is refused by the new decoder as by the old. */
	ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 24);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	{
		size_t huge = 20u << 20;
		char *h = malloc(huge);
		unsigned char *hc = malloc(ZSTD_compressBound(huge));
		CHECK(h && hc);
		if (h && hc) {
			for (size_t i = 0; i < huge; i++)
				h[i] = (char)('a' + (i * 2654435761u >> 13) % 26);
			cn = ZSTD_compress2(cc, hc, ZSTD_compressBound(huge), h, huge);
			CHECK(!ZSTD_isError(cn));
			CHECK_INT(otas__unzstd(hc, cn, huge, &out),
			          OTAS__INGEST_BAD_GZIP);
			otas__buf_free(&out);
		}
		free(h);
		free(hc);
	}
	CHECK_INT(zstd_reuse_round(), 0);
	/* Threads each with their own decoder (TSan: no shared state). */
	for (int i = 0; i < 3; i++)
		CHECK_INT(pthread_create(&t[i], NULL, zstd_reuse_thread, &bad[i]),
		          0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(bad[i], 0);
	}
	ZSTD_freeCCtx(cc);
	free(comp);
	free(big);
}

/* scan_string takes two-byte escapes from the 16-byte block's mask: an
 * escape at every offset of a block (the last byte of a block, where the
 * escaped byte is in the next, included), escapes back to back, a
 * backslash pair before a quote, a \u after two-byte escapes: the value
 * read is the one the escapes say. */
TEST(scanner_block_escapes_decoded)
{
	static const struct {
		const char *esc, *val;
	} e[] = {{"\\\"", "\""}, {"\\\\", "\\"}, {"\\/", "/"}, {"\\b", "\b"},
	         {"\\f", "\f"}, {"\\n", "\n"}, {"\\r", "\r"}, {"\\t", "\t"},
	         {"\\\\\\\"", "\\\""}, {"\\\\\\\\", "\\\\"},
	         {"\\n\\u0041", "\nA"}, {"\\\"\\\"\\\"", "\"\"\""}};
	char txt[512], want[128], pad[64];

	for (size_t k = 0; k < sizeof e / sizeof e[0]; k++)
		for (int off = 0; off < 40; off++)
			for (int tail = 0; tail < 20; tail += 19) {
				otas__event_t ev;
				memset(pad, 'x', sizeof pad);
				snprintf(txt, sizeof txt,
				         "{\"project_id\":\"p\",\"path\":\"/a\","
				         "\"method\":\"GET\",\"status_code\":200,"
				         "\"latency_ms\":2,\"metadata\":{\"route\":"
				         "\"%.*s%s%.*s\"}}",
				         off, pad, e[k].esc, tail, pad);
				snprintf(want, sizeof want, "%.*s%s%.*s", off, pad,
				         e[k].val, tail, pad);
				CHECK_INT(otas__event_parse(txt, strlen(txt), &ev, NULL,
				                            NULL),
				          0);
				CHECK_STR(ev.route, want);
				otas__event_clear(&ev);
			}
}

TEST(batch_decode_valid_and_rejected)
{
	const char *body = "{\"events\":[" EV "},{\"project_id\":\"p\",\"path\":5,"
	                   "\"method\":\"GET\",\"status_code\":200,\"latency_ms\":1},"
	                   "3," EV ",\"event_id\":\"e-1\",\"metadata\":{\"route\":"
	                   "\"r/<id>\",\"timestamp\":\"2026-01-01T00:00:00Z\"}}]}";
	otas__batch_t b;

	CHECK_INT(otas__batch_decode(body, strlen(body), 100, &b), OTAS__INGEST_OK);
	CHECK_INT(b.n, 4);
	CHECK(b.ev[0].reject == NULL);
	CHECK_STR(b.ev[0].route, "/a");
	CHECK_STR(b.ev[1].reject, "invalid_field_types");
	CHECK_STR(b.ev[2].reject, "invalid_event");
	CHECK(b.ev[3].reject == NULL);
	CHECK_STR(b.ev[3].event_id, "e-1");
	CHECK_STR(b.ev[3].route, "r/<id>");
	CHECK_INT(b.ev[3].ts_us, 1767225600LL * 1000000);
	CHECK_INT(otas__event_finish(&b.ev[0]), 0);
	CHECK(b.ev[0].event_id[14] == '7');
	CHECK_STR(b.ev[0].doc, EV "}");
	otas__batch_free(&b);
}

/* latency_ms as strtod reads it, bit for bit, on either side of the
 * fast path's bounds (15 significant digits, 22 decimals, an exponent). */
TEST(latency_as_strtod)
{
	static const char *const fixed[] = {
	    "0", "-0", "0.0", "-0.0", "1.5", "1.500", "0.1", "0.3", "2.675",
	    "123456789012345", "1234567890123456", "0.000000000000000000001",
	    "0.0000000000000000000001", "0.00000000000000000000001",
	    "999999999999999.9", "0.123456789012345", "0.1234567890123456",
	    "1e3", "1.5E-3", "-12.25", "4503599627370497.5", "00.5"};
	unsigned long long rs = 0x9e3779b97f4a7c15ull;
	char num[64], body[256];
	otas__event_t ev;

	for (size_t i = 0; i < sizeof fixed / sizeof *fixed + 2000; i++) {
		double want;
		if (i < sizeof fixed / sizeof *fixed) {
			snprintf(num, sizeof num, "%s", fixed[i]);
			if (!strcmp(num, "00.5"))
				continue; /* not JSON */
		} else {
			/* up to 18 digits, the point anywhere */
			int nd = 1 + (int)((rs >> 7) % 18), pt = (int)((rs >> 17) % (nd + 1));
			size_t o = 0;
			if (rs & 1)
				num[o++] = '-';
			for (int k = 0; k < nd; k++) {
				rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
				if (k == pt && k > 0)
					num[o++] = '.';
				num[o++] = (char)('0' + (k == 0 && pt != 1 ? 1 + rs % 9 : rs % 10));
			}
			num[o] = '\0';
			rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
		}
		snprintf(body, sizeof body,
		         "{\"project_id\":\"p\",\"path\":\"/a\",\"method\":\"GET\","
		         "\"status_code\":200,\"latency_ms\":%s}", num);
		want = strtod(num, NULL);
		CHECK_INT(otas__event_parse(body, strlen(body), &ev, NULL, NULL), 0);
		CHECK(memcmp(&ev.latency_ms, &want, sizeof want) == 0);
		otas__event_clear(&ev);
	}
}

/* The ingest path's decode leaves each document in the body (given to
 * the batch, NUL-terminated there), except one whose token is cut out of
 * its text; the texts are the copying decode's. */
TEST(batch_decode_lent)
{
	const char *body = "{\"events\":[" EV "}, " EV ",\"agent_session_token\":"
	                   "\"t.k.n\"},3," EV ",\"event_id\":\"e-2\"}\n]}";
	size_t n = strlen(body);
	char *own = malloc(n + 1);
	otas__batch_t b, l;

	memcpy(own, body, n + 1);
	CHECK_INT(otas__batch_decode(body, n, 100, &b), OTAS__INGEST_OK);
	CHECK_INT(otas__batch_decode_lent(own, n, 100, &l), OTAS__INGEST_OK);
	CHECK(l.body == own);
	CHECK_INT(l.n, 4);
	CHECK_INT(b.n, 4);
	for (size_t i = 0; i < 4; i++) {
		CHECK((b.ev[i].doc == NULL) == (l.ev[i].doc == NULL));
		if (!b.ev[i].doc)
			continue;
		CHECK_INT(l.ev[i].doc_len, b.ev[i].doc_len);
		CHECK_STR(l.ev[i].doc, b.ev[i].doc);
	}
	CHECK(l.ev[0].doc_lent && l.ev[0].doc == own + 11);
	CHECK_STR(l.ev[0].doc, EV "}");
	CHECK(!l.ev[1].doc_lent); /* its token left out: a copy */
	CHECK_STR(l.ev[1].doc, EV "}");
	CHECK(l.ev[3].doc_lent);
	CHECK_STR(l.ev[3].doc, EV ",\"event_id\":\"e-2\"}");
	CHECK_STR(l.ev[1].token, "t.k.n");
	otas__batch_free(&b);
	otas__batch_free(&l);
	CHECK(l.body == NULL);
	/* on error the body is freed (ASan: no leak) */
	own = strdup("{\"events\":[1,2,3]}");
	CHECK_INT(otas__batch_decode_lent(own, strlen("{\"events\":[1,2,3]}"), 2, &l),
	          OTAS__INGEST_TOO_MANY);
	own = strdup("{\"events\":[{]}");
	CHECK_INT(otas__batch_decode_lent(own, strlen(own), 2, &l), OTAS__INGEST_BAD_JSON);
}

TEST(batch_decode_errors)
{
	otas__batch_t b;

	CHECK_INT(otas__batch_decode("{", 1, 10, &b), OTAS__INGEST_BAD_JSON);
	CHECK_INT(otas__batch_decode("[]", 2, 10, &b), OTAS__INGEST_BAD_BATCH);
	CHECK_INT(otas__batch_decode("{\"events\":{}}", 13, 10, &b),
	          OTAS__INGEST_BAD_BATCH);
	CHECK_INT(otas__batch_decode("\"x\"", 3, 10, &b), OTAS__INGEST_BAD_BATCH);
	CHECK_INT(otas__batch_decode("{\"events\":[1,2,3]}", 18, 2, &b),
	          OTAS__INGEST_TOO_MANY);
	/* Two "events" lists: valid JSON, not a valid batch (found by
	 * fuzz_collector_ingest: the answer said invalid_json). */
	CHECK_INT(otas__batch_decode("{\"events\":[],\"events\":[]}", 25, 2, &b),
	          OTAS__INGEST_BAD_BATCH);
	CHECK_INT(otas__batch_decode("{\"events\":[{\"\":[0]}],\"events\":[]}",
	                             33, 2, &b),
	          OTAS__INGEST_BAD_BATCH);
	CHECK_INT(otas__batch_decode("{\"events\":[],\"events\":[}", 24, 2, &b),
	          OTAS__INGEST_BAD_JSON);
	CHECK(b.n == 0 && b.ev == NULL);
	CHECK_INT(otas__batch_decode("{\"events\":[\"\xff\"]}", 13, 2, &b),
	          OTAS__INGEST_BAD_JSON); /* not UTF-8 */
	CHECK_INT(otas__batch_decode("{\"x\":1}", 7, 2, &b),
	          OTAS__INGEST_BAD_BATCH);
}

TEST(event_missing_fields_listed)
{
	const char *txt = "{\"path\":\"/a\",\"method\":null}";
	json_t *missing = json_array(), *invalid = json_array();
	otas__event_t ev;

	CHECK_INT(otas__event_parse(txt, strlen(txt), &ev, missing, invalid), 1);
	CHECK_STR(ev.reject, "missing_required_fields");
	CHECK_INT(json_array_size(missing), 4);
	CHECK_STR(json_string_value(json_array_get(missing, 0)), "project_id");
	otas__event_clear(&ev);
	CHECK_INT(otas__event_parse("[1]", 3, &ev, NULL, NULL),
	          OTAS__INGEST_BAD_JSON);
	CHECK_INT(otas__event_parse("{\"a\":", 5, &ev, NULL, NULL),
	          OTAS__INGEST_BAD_JSON);
	json_decref(missing);
	json_decref(invalid);
}

TEST(event_duplicate_field_is_invalid)
{
	const char *txt = EV ",\"path\":\"/b\"}";
	json_t *invalid = json_array();
	otas__event_t ev;

	CHECK_INT(otas__event_parse(txt, strlen(txt), &ev, NULL, invalid), 1);
	CHECK_STR(ev.reject, "invalid_field_types");
	CHECK_STR(json_string_value(json_array_get(invalid, 0)), "path");
	otas__event_clear(&ev);
	json_decref(invalid);
}

TEST(token_never_in_doc_and_errors_counted)
{
	const char *txt = EV ",\"agent_session_token\":\"tok.en.x\","
	                     "\"error\":\"boom\",\"metadata\":{\"event_id\":\"m-1\"}}";
	otas__event_t ev;

	CHECK_INT(otas__event_parse(txt, strlen(txt), &ev, NULL, NULL), 0);
	CHECK_STR(ev.token, "tok.en.x");
	CHECK_STR(ev.event_id, "m-1");
	CHECK_INT(ev.is_error, 1);
	CHECK_INT(otas__event_finish(&ev), 0);
	CHECK(ev.token == NULL);
	CHECK(strstr(ev.doc, "tok.en.x") == NULL);
	CHECK(strstr(ev.doc, "agent_session_token") == NULL);
	CHECK(strstr(ev.doc, "\"error\":\"boom\"") != NULL);
	otas__event_clear(&ev);
}

/* The token member is cut out wherever it sits; the rest is kept byte for
 * byte as sent (whitespace included). */
TEST(token_cut_anywhere_doc_as_sent)
{
	static const struct {
		const char *in, *doc;
	} cases[] = {
	    {"{\"agent_session_token\":\"t\", \"project_id\":\"p\",\"path\":\"/a\","
	     "\"method\":\"GET\",\"status_code\":200,\"latency_ms\":1}",
	     "{\"project_id\":\"p\",\"path\":\"/a\",\"method\":\"GET\","
	     "\"status_code\":200,\"latency_ms\":1}"},
	    {EV " , \"agent_session_token\" : \"t\" }", EV "  }"},
	    {EV ",\"agent_sess\\u0069on_token\":\"\",\n \"error\":\"\"}",
	     EV ",\"error\":\"\"}"},
	    {EV ",\"agent_session_token\":null}",
	     EV ",\"agent_session_token\":null}"},
	    {" {\"project_id\" : 7,\"path\":\"/a\",\"method\":\"GET\","
	     "\"status_code\":200,\"latency_ms\":1e2 }\n",
	     "{\"project_id\" : 7,\"path\":\"/a\",\"method\":\"GET\","
	     "\"status_code\":200,\"latency_ms\":1e2 }"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		otas__event_t ev;
		CHECK_INT(otas__event_parse(cases[i].in, strlen(cases[i].in),
		                            &ev, NULL, NULL), 0);
		CHECK_INT(otas__event_finish(&ev), 0);
		CHECK_STR(ev.doc, cases[i].doc);
		CHECK_INT(ev.doc_len, strlen(cases[i].doc));
		otas__event_clear(&ev);
	}
}

/* Strict RFC 8259: what the scanner must refuse, and that a syntax error
 * anywhere wins over a batch-level error. */
TEST(scanner_strict)
{
	static const char *const bad[] = {
	    "{\"events\":[1,]}", "{\"events\":[01]}", "{\"events\":[1.]}",
	    "{\"events\":[.5]}", "{\"events\":[-]}", "{\"events\":[1e]}",
	    "{\"events\":[NaN]}", "{\"events\":[\"a\tb\"]}",
	    "{\"events\":[\"\\x\"]}", "{\"events\":[\"\\u12g4\"]}",
	    "{\"events\":[tru]}", "{\"events\":[]} x", "{\"events\":[],}",
	    "{'events':[]}", "{\"events\" []}", "{\"events\":[{\"a\":1,}]}",
	    "{\"events\":[{\"a\"}]}", "{\"events\":[\"x]}",
	    "[1,2", "{\"x\":[1,2}", "{\"events\":[1,2,3],\"y\":}",
	    "\x0c{\"events\":[]}",
	};
	static const char *const good[] = {
	    "{\"events\":[]}", " \t\r\n{ \"events\" : [ ] } \n",
	    ("{\"events\":[-0, 1.5e-3, 2E+2, true, false, null, \"\\u00e9\\n\","
	     " [[]], {}]}"),
	    "{\"ev\\u0065nts\":[]}",
	};
	otas__batch_t b;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = otas__batch_decode(bad[i], strlen(bad[i]), 2, &b);
		if (rc != OTAS__INGEST_BAD_JSON)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
		CHECK_INT(rc, OTAS__INGEST_BAD_JSON);
	}
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		int rc = otas__batch_decode(good[i], strlen(good[i]), 100, &b);
		CHECK_INT(rc, OTAS__INGEST_OK);
		otas__batch_free(&b);
	}
}

TEST(scanner_depth_capped)
{
	size_t n = 5000;
	char *s = malloc(2 * n + 32);
	otas__batch_t b;
	size_t len;

	len = (size_t)sprintf(s, "{\"events\":[");
	memset(s + len, '[', n);
	memset(s + len + n, ']', n);
	len += 2 * n;
	len += (size_t)sprintf(s + len, "]}");
	CHECK_INT(otas__batch_decode(s, len, 10, &b), OTAS__INGEST_BAD_JSON);
	/* 1000 deep is fine, inside an event too. */
	len = (size_t)sprintf(s, "{\"events\":[" EV ",\"x\":");
	memset(s + len, '[', 1000);
	memset(s + len + 1000, ']', 1000);
	len += 2000;
	len += (size_t)sprintf(s + len, "}]}");
	CHECK_INT(otas__batch_decode(s, len, 10, &b), OTAS__INGEST_OK);
	CHECK_INT(b.n, 1);
	CHECK(b.ev[0].reject == NULL);
	otas__batch_free(&b);
	free(s);
}

TEST(scanner_escapes_decoded)
{
	const char *txt = "{\"project_id\":\"p\",\"path\":\"/a\\/b\\u00e9\","
	                  "\"method\":\"G\\u0045T\",\"status_code\":503,"
	                  "\"latency_ms\":2,\"event_id\":\"\\ud83d\\ude00\","
	                  "\"metadata\":{\"route\":\"r\\\\x\",\"x\":{\"route\":1}}}";
	otas__event_t ev;

	CHECK_INT(otas__event_parse(txt, strlen(txt), &ev, NULL, NULL), 0);
	CHECK_STR(ev.path, "/a/b\xc3\xa9");
	CHECK_STR(ev.method, "GET");
	CHECK_STR(ev.event_id, "\xf0\x9f\x98\x80");
	CHECK_STR(ev.route, "r\\x");
	CHECK_INT(ev.status, 503);
	CHECK_INT(ev.is_error, 1);
	otas__event_clear(&ev);
	/* An embedded NUL is no valid path. */
	txt = "{\"project_id\":\"p\",\"path\":\"/a\\u0000\",\"method\":\"GET\","
	      "\"status_code\":200,\"latency_ms\":2}";
	CHECK_INT(otas__event_parse(txt, strlen(txt), &ev, NULL, NULL), 1);
	CHECK_STR(ev.reject, "invalid_field_types");
	otas__event_clear(&ev);
	/* A number too large for a double is no latency. */
	txt = "{\"project_id\":\"p\",\"path\":\"/a\",\"method\":\"GET\","
	      "\"status_code\":200,\"latency_ms\":1e999}";
	CHECK_INT(otas__event_parse(txt, strlen(txt), &ev, NULL, NULL), 1);
	otas__event_clear(&ev);
}

/* Valid JSON that jansson (the query API's reader) and PostgreSQL refuse
 * is rejected per event, so nothing accepted is unreadable (issue 16). */
TEST(unreadable_values_rejected_per_event)
{
	static const char *const bad[] = {
	    "\"request_body\":\"/\\ud800\"",          /* lone high */
	    "\"error\":\"\\udc00x\"",                 /* lone low */
	    "\"error\":\"\\ud800\\u0041\"",           /* high, no low */
	    "\"error\":\"\\ud800\\ud800\\udc00\"",    /* two highs */
	    "\"request_size_bytes\":9223372036854775808",
	    "\"custom_properties\":{\"n\":-9223372036854775809}",
	    "\"custom_properties\":{\"n\":[1e999]}",
	    "\"custom_properties\":{\"a\\u0000b\":1}",    /* NUL in a key */
	    "\"metadata\":{\"x\":\"\\udfff\"}",
	    "\"zzz\":123456789012345678901234567890",      /* unknown field */
	};
	static const char *const good[] = {
	    "\"request_size_bytes\":9223372036854775807",
	    "\"custom_properties\":{\"n\":-9223372036854775808,\"r\":1e300,"
	    "\"s\":\"\\ud83d\\ude00\\u0000\",\"t\":1e-999}",
	};
	char body[512];
	otas__batch_t b;
	json_t *invalid;
	otas__event_t ev;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(body, sizeof body, "{\"events\":[" EV ",%s}," EV "}]}",
		         bad[i]);
		CHECK_INT(otas__batch_decode(body, strlen(body), 100, &b),
		          OTAS__INGEST_OK);
		CHECK_INT(b.n, 2);
		CHECK_STR(b.ev[0].reject ? b.ev[0].reject : "(accepted)",
		          "invalid_json_value");
		CHECK(b.ev[1].reject == NULL);
		otas__batch_free(&b);
		snprintf(body, sizeof body, EV ",%s}", bad[i]);
		invalid = json_array();
		CHECK_INT(otas__event_parse(body, strlen(body), &ev, NULL, invalid),
		          1);
		CHECK_STR(ev.reject, "invalid_json_value");
		otas__event_clear(&ev);
		json_decref(invalid);
	}
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		json_t *doc;
		snprintf(body, sizeof body, EV ",%s}", good[i]);
		CHECK_INT(otas__event_parse(body, strlen(body), &ev, NULL, NULL), 0);
		CHECK_INT(otas__event_finish(&ev), 0);
		doc = json_loadb(ev.doc, ev.doc_len, JSON_ALLOW_NUL, NULL);
		CHECK(doc != NULL);
		json_decref(doc);
		otas__event_clear(&ev);
	}
	/* The field is named when it is one of the contract's. */
	snprintf(body, sizeof body, EV ",\"error\":\"\\ud800\"}");
	invalid = json_array();
	CHECK_INT(otas__event_parse(body, strlen(body), &ev, NULL, invalid), 1);
	CHECK_INT(json_array_size(invalid), 1);
	CHECK_STR(json_string_value(json_array_get(invalid, 0)), "error");
	otas__event_clear(&ev);
	json_decref(invalid);
}

TEST(utf8)
{
	CHECK(otas__utf8_valid("h\xc3\xa9llo \xf0\x9f\x98\x80", 11));
	CHECK(!otas__utf8_valid("\xc0\xaf", 2));     /* overlong */
	CHECK(!otas__utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	CHECK(!otas__utf8_valid("\xe2\x82", 2));     /* truncated */
	CHECK(!otas__utf8_valid("\xf5\x80\x80\x80", 4));
	/* The ASCII fast paths (32 and 8 bytes at a time) stop at a
	 * non-ASCII byte wherever it falls: at every offset of a 100-byte
	 * ASCII text, a stray continuation byte is refused, a valid
	 * 3-byte character kept, and one cut by the end refused. */
	{
		char t[100];
		for (size_t at = 0; at + 3 <= sizeof t; at++) {
			memset(t, 'a', sizeof t);
			t[at] = '\x80';
			CHECK(!otas__utf8_valid(t, sizeof t));
			memcpy(t + at, "\xe2\x82\xac", 3); /* EURO SIGN */
			CHECK(otas__utf8_valid(t, sizeof t));
			CHECK(!otas__utf8_valid(t, at + 2));
			CHECK(otas__utf8_valid(t, at));
		}
	}
}

/* otas__search_text on strings longer than the 4,096 characters kept,
 * byte for byte against the expression it stands in for (SQLite's view
 * events_text), with multi-byte characters, escapes, NUL and surrogates
 * on either side of the cut. */
#define ST_NAME(f) #f,
#define ST_SQL(f) \
	"substr(coalesce(json_extract(?1, '$." #f "'), ''), 1, 4096) ||" \
	" char(10) || "

static int
search_text_vs_sqlite(sqlite3_stmt *expr, const char *doc, int *same)
{
	static const char *const names[] = {OTAS__SEARCH_FIELDS(ST_NAME)};
	otas__buf_t b = OTAS__BUF_INIT;
	int rc = otas__search_text(doc, strlen(doc), names,
	                           sizeof names / sizeof *names, &b);

	*same = 0;
	sqlite3_bind_text(expr, 1, doc, -1, SQLITE_STATIC);
	if (sqlite3_step(expr) == SQLITE_ROW) {
		const unsigned char *want = sqlite3_column_text(expr, 0);
		size_t n = (size_t)sqlite3_column_bytes(expr, 0);
		*same = want && n == b.len && memcmp(want, b.data, n) == 0;
	}
	sqlite3_reset(expr);
	otas__buf_free(&b);
	return rc;
}

/* doc: {"path":"/p","request_body":"<head * reps><tail>","error":"e"} */
static char *
long_doc(const char *head, size_t reps, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *d = malloc(64 + hl * reps + tl), *w = d;

	w += sprintf(w, "{\"path\":\"/p\",\"request_body\":\"");
	for (size_t i = 0; i < reps; i++, w += hl)
		memcpy(w, head, hl);
	w += sprintf(w, "%s\",\"error\":\"e\"}", tail);
	return d;
}

TEST(search_text_long_strings_as_sqlite)
{
	static const struct {
		const char *head;
		size_t reps;
		const char *tail;
		int rc; /* 0: ours; 1: the view's expression is asked */
	} c[] = {
		{"a", 70000, "", 0},            /* plain, 64 KB */
		{"a", 4095, "\xc3\xa9\xc3\xa9", 0}, /* cut after one é */
		{"\xe2\x82\xac", 5000, "", 0},  /* 3-byte characters */
		{"\xf0\x9f\x98\x80", 4097, "", 0}, /* 4-byte characters */
		{"\\\"", 5000, "", 0},          /* escaped quotes */
		{"a\\n", 3000, "", 0},          /* escapes across the cut */
		{"\\u00e9", 4100, "", 0},       /* \u of 2 bytes each */
		{"\\u20ac", 4095, "\\n\\t", 0}, /* the last kept, an escape */
		{"a", 4096, "\\u0000", 0},      /* NUL just past the cut */
		{"a", 5000, "\\ud83d\\ude00", 0}, /* surrogates past it */
		{"a", 4095, "\\u0000", 1},      /* NUL the 4,096th kept */
		{"a", 100, "\\ud83d\\ude00", 1}, /* a pair within it */
		{"a\\\\", 2047, "\\udc00b", 1}, /* a lone one, 4,095th */
	};
	sqlite3 *db;
	sqlite3_stmt *expr;

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "SELECT " OTAS__SEARCH_FIELDS(ST_SQL) "''",
	                          -1, &expr, NULL) == SQLITE_OK);
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		char *doc = long_doc(c[i].head, c[i].reps, c[i].tail);
		int same, rc = search_text_vs_sqlite(expr, doc, &same);
		if (rc != c[i].rc || (rc == 0 && !same))
			fprintf(stderr, "case %zu: rc %d same %d\n", i, rc, same);
		CHECK_INT(rc, c[i].rc);
		if (rc == 0)
			CHECK(same);
		free(doc);
	}
	sqlite3_finalize(expr);
	sqlite3_close(db);
}

int
main(void)
{
	RUN(gunzip_round_trip_and_caps);
	RUN(unzstd_round_trip_caps_and_bomb);
	RUN(unzstd_kept_decoder_reset_per_body);
	RUN(scanner_block_escapes_decoded);
	RUN(batch_decode_valid_and_rejected);
	RUN(latency_as_strtod);
	RUN(batch_decode_lent);
	RUN(batch_decode_errors);
	RUN(event_missing_fields_listed);
	RUN(event_duplicate_field_is_invalid);
	RUN(token_never_in_doc_and_errors_counted);
	RUN(token_cut_anywhere_doc_as_sent);
	RUN(scanner_strict);
	RUN(scanner_depth_capped);
	RUN(scanner_escapes_decoded);
	RUN(unreadable_values_rejected_per_event);
	RUN(utf8);
	RUN(search_text_long_strings_as_sqlite);
	return testlib_done();
}
