/*
 * bench_collector_ingest.c -- CPU cost per event of the collector's decode
 * choices, on one thread: jansson parse, jansson parse + re-serialise
 * (what storing a jansson-validated event costs), and the collector's
 * SQLite json_tree decoder (otas__batch_decode), plus gunzip.
 *
 *   cmake --build build/c --target bench_collector_ingest
 *   build/c/collector/bench_collector_ingest
 */
#include "ingest.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define EVENTS 100
#define ROUNDS 300

static char *
make_batch(size_t *len)
{
	otas__buf_t b = OTAS__BUF_INIT;
	unsigned char rnd[96];
	char hex[200], id[37];

	otas__buf_puts(&b, "{\"events\":[");
	for (int i = 0; i < EVENTS; i++) {
		otas__random_bytes(rnd, sizeof rnd);
		otas__b64url_encode(rnd, sizeof rnd, hex);
		otas__uuid_v7(id);
		otas__buf_printf(
		    &b,
		    "%s{\"event_id\":\"%s\",\"project_id\":\"bench\","
		    "\"path\":\"/api/items/%d\",\"method\":\"GET\","
		    "\"status_code\":200,\"latency_ms\":%d.25,"
		    "\"request_size_bytes\":120,\"response_size_bytes\":480,"
		    "\"request_headers\":\"{\\\"content-type\\\": "
		    "\\\"application/json\\\", \\\"user-agent\\\": "
		    "\\\"bench/1.0\\\", \\\"x-request-id\\\": \\\"%.16s\\\"}\","
		    "\"response_headers\":\"{\\\"content-type\\\": "
		    "\\\"application/json\\\"}\","
		    "\"request_body\":\"{\\\"name\\\": \\\"item\\\", \\\"qty\\\": %d, "
		    "\\\"note\\\": \\\"%.48s\\\"}\","
		    "\"response_body\":\"{\\\"id\\\": %d, \\\"blob\\\": "
		    "\\\"%s%s\\\"}\","
		    "\"query_params\":\"{}\",\"post_data\":\"{}\","
		    "\"request_content_type\":\"application/json\","
		    "\"response_content_type\":\"application/json\","
		    "\"custom_properties\":{},\"error\":\"\","
		    "\"agent_session_token\":\"\",\"metadata\":{\"route\":"
		    "\"api/items/<int:pk>\",\"timestamp\":"
		    "\"2026-01-01T00:00:00.000000Z\",\"sdk\":\"otas-python/0.2.0\","
		    "\"host\":\"bench\",\"direction\":\"incoming\"}}",
		    i ? "," : "", id, i, i % 37, hex, i, hex, i, hex, hex);
	}
	otas__buf_puts(&b, "]}");
	return otas__buf_steal(&b, len);
}

int
main(void)
{
	size_t n, zn;
	char *body = make_batch(&n);
	unsigned char *z = malloc(n);
	z_stream zs = {0};
	double t;

	deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)body;
	zs.avail_in = (uInt)n;
	zs.next_out = z;
	zs.avail_out = (uInt)n;
	deflate(&zs, Z_FINISH);
	zn = n - zs.avail_out;
	deflateEnd(&zs);
	printf("batch: %d events, %zu bytes (%.0f B/event), gzip -1 %zu bytes\n",
	       EVENTS, n, (double)n / EVENTS, zn);
	printf("%-40s %10s\n", "stage", "us/event");

	t = otas__mono_ms();
	for (int r = 0; r < ROUNDS; r++) {
		otas__buf_t out = OTAS__BUF_INIT;
		otas__gunzip(z, zn, 1 << 24, &out);
		otas__buf_free(&out);
	}
	printf("%-40s %10.2f\n", "gunzip",
	       (otas__mono_ms() - t) * 1e3 / ROUNDS / EVENTS);

	t = otas__mono_ms();
	for (int r = 0; r < ROUNDS; r++)
		json_decref(json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL));
	printf("%-40s %10.2f\n", "jansson parse",
	       (otas__mono_ms() - t) * 1e3 / ROUNDS / EVENTS);

	t = otas__mono_ms();
	for (int r = 0; r < ROUNDS; r++) {
		json_t *j = json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL), *v;
		size_t i;
		json_array_foreach(json_object_get(j, "events"), i, v)
		free(json_dumps(v, JSON_COMPACT));
		json_decref(j);
	}
	printf("%-40s %10.2f\n", "jansson parse + dump each event",
	       (otas__mono_ms() - t) * 1e3 / ROUNDS / EVENTS);

	t = otas__mono_ms();
	for (int r = 0; r < ROUNDS; r++) {
		otas__batch_t b;
		if (otas__batch_decode(body, n, 10000, &b) != OTAS__INGEST_OK ||
		    b.n != EVENTS || b.ev[0].reject) {
			fprintf(stderr, "decode failed\n");
			return 1;
		}
		for (size_t i = 0; i < b.n; i++)
			otas__event_finish(&b.ev[i]);
		otas__batch_free(&b);
	}
	printf("%-40s %10.2f\n", "SQLite json_tree decode + finish (used)",
	       (otas__mono_ms() - t) * 1e3 / ROUNDS / EVENTS);
	free(body);
	free(z);
	return 0;
}
