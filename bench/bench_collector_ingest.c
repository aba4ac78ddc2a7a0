/*
 * bench_collector_ingest.c -- two tools in one binary.
 *
 * With no arguments: CPU cost per event of the collector's decode choices,
 * on one thread: jansson parse, jansson parse + re-serialise (what storing
 * a jansson-validated event costs), a bare SQLite json_tree walk (the
 * collector's previous decoder), and the collector's own scanner
 * (otas__batch_decode + otas__event_finish), plus gunzip.
 *
 * `load PORT KEY CLIENTS BATCHES`: the load generator that
 * bench_collector_ingest.py --client c runs.  CLIENTS threads, each with
 * one kept-alive libcurl handle, send BATCHES gzip'd batches of 100 events
 * (~1.1 KB each, UUIDv7 ids, part random so gzip is realistic), all built
 * before the clock starts.  Every answer must be 200 with accepted 100.
 * Prints one line: events, failed batches, seconds, client CPU seconds,
 * batch latency p50 and p99 in ms.  A C client costs a few % of what the
 * Python one did, so the collector gets the machine.
 *
 *   cmake --build build/c --target bench_collector_ingest
 *   build/c/collector/bench_collector_ingest
 */
#include "common/base64.h"
#include "ingest.h"
#include "util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
		otas__b64_encode(rnd, sizeof rnd, hex, OTAS__B64_URL);
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

static unsigned char *
gzip1(const char *in, size_t n, size_t *zn)
{
	unsigned char *z = malloc(n + 1024);
	z_stream zs = {0};

	if (!z)
		abort();
	deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = z;
	zs.avail_out = (uInt)(n + 1024);
	deflate(&zs, Z_FINISH);
	*zn = n + 1024 - zs.avail_out;
	deflateEnd(&zs);
	return z;
}

/* ---- load generator ------------------------------------------------- */

typedef struct {
	const char *url;
	struct curl_slist *hdrs;
	unsigned char **body;
	size_t *len;
	int batches;
	double *lat_ms;
	int bad;
} client_t;

typedef struct {
	char buf[512];
	size_t n;
} answer_t;

static size_t
on_body(char *p, size_t sz, size_t nm, void *ud)
{
	answer_t *a = ud;
	size_t n = sz * nm, room = sizeof a->buf - 1 - a->n;

	memcpy(a->buf + a->n, p, n < room ? n : room);
	a->n += n < room ? n : room;
	a->buf[a->n] = '\0';
	return n;
}

static void *
client_main(void *arg)
{
	client_t *cl = arg;
	CURL *h = curl_easy_init();

	curl_easy_setopt(h, CURLOPT_URL, cl->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, cl->hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	for (int i = 0; i < cl->batches; i++) {
		answer_t a = {.n = 0};
		long code = 0;
		const char *acc;
		double t = otas__mono_ms();
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, cl->body[i]);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)cl->len[i]);
		if (curl_easy_perform(h) != CURLE_OK)
			code = 0;
		else
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		cl->lat_ms[i] = otas__mono_ms() - t;
		acc = strstr(a.buf, "\"accepted\":");
		if (code != 200 || !acc || atoi(acc + 11) != EVENTS)
			cl->bad++;
	}
	curl_easy_cleanup(h);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
load(int port, const char *key, int clients, int batches)
{
	char url[128], hdr[256];
	struct curl_slist *hdrs = NULL;
	client_t *cl = calloc((size_t)clients, sizeof *cl);
	pthread_t *th = calloc((size_t)clients, sizeof *th);
	double *lat = calloc((size_t)clients * batches, sizeof *lat);
	double t, cpu, elapsed;
	int bad = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(url, sizeof url,
	         "http://127.0.0.1:%d/api/v1/backend/log/sdk/batch/", port);
	snprintf(hdr, sizeof hdr, "X-OTAS-SDK-KEY: %s", key);
	hdrs = curl_slist_append(hdrs, hdr);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Content-Encoding: gzip");
	hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue */
	for (int c = 0; c < clients; c++) {
		cl[c].url = url;
		cl[c].hdrs = hdrs;
		cl[c].batches = batches;
		cl[c].lat_ms = lat + (size_t)c * batches;
		cl[c].body = calloc((size_t)batches, sizeof *cl[c].body);
		cl[c].len = calloc((size_t)batches, sizeof *cl[c].len);
	}
	/* Batch i of every client, then batch i+1: the UUIDv7 ids then
	 * arrive in about the order they were made, as when an SDK makes
	 * them at capture.  Client by client would give the unique index
	 * one insertion point per client, seconds apart. */
	for (int i = 0; i < batches; i++)
		for (int c = 0; c < clients; c++) {
			size_t n;
			char *raw = make_batch(&n);
			cl[c].body[i] = gzip1(raw, n, &cl[c].len[i]);
			free(raw);
		}
	cpu = cpu_s();
	t = otas__mono_ms();
	for (int c = 0; c < clients; c++)
		pthread_create(&th[c], NULL, client_main, &cl[c]);
	for (int c = 0; c < clients; c++) {
		pthread_join(th[c], NULL);
		bad += cl[c].bad;
	}
	elapsed = (otas__mono_ms() - t) / 1e3;
	cpu = cpu_s() - cpu;
	qsort(lat, (size_t)clients * batches, sizeof *lat, cmp_double);
	printf("events %d failed %d seconds %.3f client_cpu %.3f p50_ms %.1f "
	       "p99_ms %.1f\n",
	       clients * batches * EVENTS, bad, elapsed, cpu,
	       lat[(size_t)clients * batches / 2],
	       lat[(size_t)clients * batches * 99 / 100]);
	return bad ? 1 : 0;
}

/* The collector's previous decoder, reduced to its core: one json_tree
 * walk over the body, every column read. */
static void
json_tree_walk(sqlite3_stmt *s, const char *body, size_t n)
{
	sqlite3_bind_text(s, 1, body, (int)n, SQLITE_STATIC);
	while (sqlite3_step(s) == SQLITE_ROW)
		for (int c = 0; c < 6; c++)
			sqlite3_column_text(s, c);
	sqlite3_reset(s);
}

int
main(int argc, char **argv)
{
	size_t n, zn;
	char *body;
	unsigned char *z;
	sqlite3 *db;
	sqlite3_stmt *tree;
	double t;

	if (argc == 6 && !strcmp(argv[1], "load"))
		return load(atoi(argv[2]), argv[3], atoi(argv[4]), atoi(argv[5]));
	if (argc != 1) {
		fprintf(stderr, "usage: %s [load PORT KEY CLIENTS BATCHES]\n",
		        argv[0]);
		return 2;
	}
	body = make_batch(&n);
	z = gzip1(body, n, &zn);
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
	printf("%-40s %10.2f\n", "own scanner decode + finish (used)",
	       (otas__mono_ms() - t) * 1e3 / ROUNDS / EVENTS);

	sqlite3_open(":memory:", &db);
	sqlite3_prepare_v2(db,
	                   "SELECT id, parent, key, type, atom, CASE WHEN"
	                   " type = 'object' AND typeof(key) = 'integer' THEN"
	                   " value END FROM json_tree(?1)",
	                   -1, &tree, NULL);
	t = otas__mono_ms();
	for (int r = 0; r < ROUNDS; r++)
		json_tree_walk(tree, body, n);
	printf("%-40s %10.2f\n", "SQLite json_tree walk (previous)",
	       (otas__mono_ms() - t) * 1e3 / ROUNDS / EVENTS);
	sqlite3_finalize(tree);
	sqlite3_close(db);
	free(body);
	free(z);
	return 0;
}
