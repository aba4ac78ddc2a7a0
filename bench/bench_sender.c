/*
 * bench_sender.c -- drive the real engine from C, for CPU and profile
 * figures without Python in the way (bench/bench_cpu.py builds and runs it).
 *
 *   bench_sender capture N      capture N realistic events through the
 *                               public API (otas.h), flush, print one JSON
 *                               line: CPU of the capturing thread and of
 *                               every other thread (the sender), per event.
 *                               Options come from the OTAS_* environment.
 *   bench_sender compress N:F... F are uncompressed batch bodies as the engine
 *                               sends them ({"events":[...]}); prints one
 *                               JSON line per codec/level/batch size: ratio
 *                               and CPU µs per event.
 *
 * The event is the one bench/bench_engine.py uses: POST with a 1 KB JSON
 * body, a ~0.8 KB JSON response whose five sensitive fields the five
 * OTAS_REDACT_RESPONSE_BODY rules remove, a dozen request headers.  With
 * BENCH_EVENT=get in the environment it is the small GET of
 * bench_overhead.py instead: no request body, the same request headers
 * but the body's two, and a ~40-byte JSON response.
 *
 * BENCH_EVENT=django-get and BENCH_EVENT=django-post1k are the events the
 * Django benchmarks' worker (bench/worker.py, bench/benchproj/views.py)
 * really hands the engine, field for field: the environ's four HTTP_*
 * headers (Host, User-Agent, Accept, Authorization) and, for the POST,
 * CONTENT_LENGTH/CONTENT_TYPE; the view's Content-Type and Content-Length
 * response headers; GET /api/items/7 with its 75-byte JSON answer, POST
 * /api/items with bench_overhead.POST_1K (1,004 bytes) and its 35-byte
 * answer (201).  They are meant to run without redaction rules (the
 * bench's get and post1k workloads set none; bench_cpu.py drops its
 * OTAS_REDACT_RESPONSE_BODY for them).
 *
 * BENCH_PACE_US=N spaces the captures N µs apart (a busy wait, as a
 * request's own work would be), so that the sender sleeps and wakes as it
 * does behind a real application (batches filled one by one, a wake-up
 * per batch) instead of draining a backlog.  The capture thread's figure
 * is then the CPU of the otas_capture() calls alone, and the busy wait is
 * taken out of the process and user figures too.
 *
 * bench/bench_cpu.py also builds this file against the tree of an older
 * commit (`bench/run.py --before REF`), so it compiles against both public
 * APIs: before OTAS_API_VERSION existed otas_flush() returned 1 when
 * everything was delivered; from API version 2 on it returns 0 (the rule
 * everywhere else) and public structs carry a struct_size field that the
 * caller sets.  OTAS_BENCH_API can force one (-DOTAS_BENCH_API=1 or 2).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <otas/otas.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>
#include <sys/resource.h>
#include <dirent.h>
#ifndef OTAS_BENCH_API
#if defined(OTAS_API_VERSION) && OTAS_API_VERSION >= 2
#define OTAS_BENCH_API 2
#else
#define OTAS_BENCH_API 1
#endif
#endif
#if OTAS_BENCH_API >= 2
#define FLUSH_DONE(rc) ((rc) == 0)
#define SET_SIZE(s) ((s).struct_size = sizeof(s))
#else
#define FLUSH_DONE(rc) ((rc) == 1)
#define SET_SIZE(s) ((void)0)
#endif

#ifdef HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS
#define RUNNING_ON_VALGRIND 0
#endif

static double
cpu_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double
tv_s(const struct timeval *a, const struct timeval *b)
{
	return (a->tv_sec - b->tv_sec) + (a->tv_usec - b->tv_usec) / 1e6;
}

/* The otas-sender thread's scheduler figures (Linux
 * /proc/self/task/TID/schedstat): seconds on a CPU and waiting for one
 * (the rest of the wall time it slept: on the collector, on the queue).
 * 0 and 0 when there is no such file. */
static void
sender_sched(double *run_s, double *runq_s)
{
	char path[64], name[32], buf[128];
	unsigned long long run = 0, wait = 0;

	*run_s = *runq_s = 0;
	{
		DIR *d = opendir("/proc/self/task");
		struct dirent *de;

		if (!d)
			return;
		while ((de = readdir(d))) {
			FILE *c;
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			         de->d_name);
			if (!(c = fopen(path, "r")))
				continue;
			name[0] = '\0';
			if (!fgets(name, sizeof(name), c))
				name[0] = '\0';
			fclose(c);
			if (strncmp(name, "otas-sender", 11) != 0)
				continue;
			snprintf(path, sizeof(path),
			         "/proc/self/task/%s/schedstat", de->d_name);
			if (!(c = fopen(path, "r")))
				continue;
			if (fgets(buf, sizeof(buf), c) &&
			    sscanf(buf, "%llu %llu", &run, &wait) == 2) {
				*run_s = run / 1e9;
				*runq_s = wait / 1e9;
			}
			fclose(c);
		}
		closedir(d);
	}
}

static int get;    /* BENCH_EVENT=get: the request id header is rq[9] */
static int django; /* BENCH_EVENT=django-*: the same event every time */

static void
pick(otas_capture_t *c, otas_header_t *rq, otas_header_t *rs, const char *req,
     const char *resp, const char *rid, const char *clen)
{
	if (django)
		return;
	c->req_body = req, c->req_body_len = strlen(req);
	c->resp_body = resp, c->resp_body_len = strlen(resp);
	rq[get ? 9 : 11].value = rid, rq[get ? 9 : 11].value_len = strlen(rid);
	rs[1].value = clen, rs[1].value_len = strlen(clen);
}

#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static int
capture(long n)
{
#define NV 1000
	static char reqs[NV][1400], resps[NV][1200], rids[NV][32],
	    clens[NV][24];
	otas_header_t rq[] = {
	    H("REQUEST_METHOD", "POST"), H("PATH_INFO", "/api/users/7"),
	    H("CONTENT_TYPE", "application/json"), H("CONTENT_LENGTH", "1000"),
	    H("REMOTE_ADDR", "10.1.2.3"), H("SERVER_NAME", "bench"),
	    H("HTTP_HOST", "api.example.com"),
	    H("HTTP_USER_AGENT", "bench/1.0 (engine throughput)"),
	    H("HTTP_ACCEPT", "application/json"),
	    H("HTTP_AUTHORIZATION", "Bearer abc.def.ghi"),
	    H("HTTP_COOKIE", "session=s3cr3t"),
	    H("HTTP_X_REQUEST_ID", "req-123456"),
	    H("HTTP_ACCEPT_ENCODING", "gzip, deflate")};
	otas_header_t rs[3] = {H("Content-Type", "application/json"),
	                       H("Content-Length", "0"),
	                       H("X-Frame-Options", "DENY")};
	char err[512];
	int k, j;
	const char *const *names;
	otas_config_t *cfg;
	otas_engine_t *eng;
	otas_auth_result_t ar;
	otas_stats_t st;
	otas_capture_t c;
	double w0, w1, p0, p1, t0, t1, sr0, sr1, sq0, sq1, pace_us = 0,
	    cap_s = 0, dn;
	const char *ev = getenv("BENCH_EVENT");
	struct timespec ts;
	uint64_t half;
	struct rusage ru0, ru1;
	long i;
	int ok;

	memset(&ar, 0, sizeof(ar));
	memset(&st, 0, sizeof(st));
	SET_SIZE(ar);
	SET_SIZE(st);
	/* NV different events, so that compression sees real variety (ids,
	 * names, times, request ids), cycled through in the loop. */
	for (k = 0; k < NV; k++) {
		static const char *names[] = {"ada", "grace", "alan", "edsger",
		                              "barbara", "donald", "frances",
		                              "ken"};
		static const char *bios[] = {
		    "Analyst of the engine; first to publish an algorithm "
		    "meant for a machine.",
		    "Wrote the first compiler and found the first bug, a moth "
		    "in a relay.",
		    "Asked whether machines can think, and how to tell.",
		    "Considered goto harmful and shortest paths useful."};
		const char *nm = names[k % 8];
		unsigned h = 2654435761u * (unsigned)(k + 1);
		size_t m;

		/* An order of a few items, about 1 KB. */
		m = (size_t)snprintf(reqs[k], sizeof(reqs[k]),
		                     "{\"customer\":\"%s\",\"order_ref\":"
		                     "\"ORD-%08x\",\"items\":[",
		                     nm, h);
		for (j = 0; m < 880; j++) {
			unsigned g = h * (unsigned)(j + 3) + (unsigned)j;
			m += (size_t)snprintf(
			    reqs[k] + m, sizeof(reqs[k]) - m,
			    "%s{\"sku\":\"SKU-%06u\",\"qty\":%u,"
			    "\"price\":%u.%02u,\"note\":\"%s\"}",
			    j ? "," : "", g % 1000000, g % 9 + 1, g % 500,
			    g % 100, bios[(k + j) % 4]);
		}
		snprintf(reqs[k] + m, sizeof(reqs[k]) - m, "]}");
		snprintf(resps[k], sizeof(resps[k]),
		         "{\"id\":%d,\"username\":\"%s%d\",\"email\":"
		         "\"%s%d@example.com\",\"name\":\"%s\","
		         "\"password\":\"hunter%08x\","
		         "\"token\":\"tok_%08x%08x%08x\","
		         "\"ssn\":\"%03u-%02u-%04u\",\"card\":{\"number\":"
		         "\"4111%012u\",\"cvv\":\"%03u\",\"brand\":\"visa\"},"
		         "\"roles\":[\"admin\",\"billing\",\"support\"],"
		         "\"address\":{\"street\":\"%u St James's Square\","
		         "\"city\":\"London\",\"zip\":\"SW1Y 4JH\","
		         "\"country\":\"GB\"},\"preferences\":{\"theme\":"
		         "\"%s\",\"language\":\"en-GB\",\"newsletter\":%s,"
		         "\"notifications\":{\"email\":true,\"sms\":false,"
		         "\"push\":true}},\"created_at\":"
		         "\"2024-01-%02dT03:04:%02dZ\",\"last_login\":"
		         "\"2024-06-%02dT08:%02d:10Z\",\"bio\":\"%s\"}",
		         1000 + k * 37, nm, k, nm, k, nm, h, h ^ 0x5bd1e995u,
		         h * 3u, h * 7u, h % 900 + 100, h % 90 + 10, h % 9000 + 1000,
		         h % 1000000000u, h % 900 + 100, h % 200 + 1,
		         k % 2 ? "dark" : "light", k % 3 ? "true" : "false",
		         k % 28 + 1, k % 60, k % 28 + 1, k % 60, bios[(k + 1) % 4]);
		snprintf(clens[k], sizeof(clens[k]), "%zu", strlen(resps[k]));
		snprintf(rids[k], sizeof(rids[k]), "req-%08x", h);
	}

	cfg = otas_config_new();
	for (names = otas_config_names(); *names; names++) {
		const char *v = getenv(*names);
		if (v && otas_config_set(cfg, *names, v, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	}
	if (otas_config_check(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	eng = otas_engine_new(cfg, err, sizeof(err));
	if (!eng) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (otas_engine_authenticate(eng, 10000, &ar) != OTAS_AUTH_OK) {
		fprintf(stderr, "authentication failed: %s\n", ar.message);
		otas_engine_free(eng, 0);
		return 1;
	}
	memset(&c, 0, sizeof(c));
	SET_SIZE(c);
	c.flags = OTAS_CAP_REQ_HEADERS_CGI;
	c.method = "POST", c.method_len = 4;
	c.path = "/api/users/7", c.path_len = 12;
	c.route = "api/users/<int:pk>", c.route_len = 18;
	c.query = "page=2&sort=name", c.query_len = 16;
	c.scheme = "http", c.scheme_len = 4;
	c.remote_addr = "10.1.2.3", c.remote_addr_len = 8;
	c.req_headers = rq, c.n_req_headers = sizeof(rq) / sizeof(rq[0]);
	c.req_body_size = -1;
	c.status = 200;
	c.resp_headers = rs, c.n_resp_headers = 3;
	c.resp_body_size = -1;
	c.duration_ns = 1500000;

	{
		char v[64];
		otas_config_t *probe = otas_config_new();
		const char *q = getenv("OTAS_QUEUE_MAX_BYTES");
		otas_config_get(probe, "OTAS_QUEUE_MAX_BYTES", v, sizeof(v));
		half = strtoull(q ? q : v, NULL, 10) / 2;
		otas_config_free(probe);
	}
	c.start_unix_us = now_us();
	if (getenv("BENCH_EVENT") && strcmp(getenv("BENCH_EVENT"), "get") == 0) {
		/* The small GET: drop CONTENT_TYPE and CONTENT_LENGTH (rq[2],
		 * rq[3]) by moving the rest down, and a tiny response. */
		memmove(&rq[2], &rq[4], sizeof(rq) - 4 * sizeof(rq[0]));
		c.n_req_headers -= 2;
		c.method = "GET", c.method_len = 3;
		rq[0].value = "GET", rq[0].value_len = 3;
		for (k = 0; k < NV; k++) {
			reqs[k][0] = '\0';
			snprintf(resps[k], sizeof(resps[k]),
			         "{\"id\":%d,\"status\":\"ok\",\"items\":[]}",
			         1000 + k * 37);
			snprintf(clens[k], sizeof(clens[k]), "%zu",
			         strlen(resps[k]));
		}
		get = 1;
	} else if (ev && (strcmp(ev, "django-get") == 0 ||
	                  strcmp(ev, "django-post1k") == 0)) {
		/* What bench/worker.py's environ and benchproj's views give
		 * the adapter (bench_overhead.WORKLOADS "get", "post1k"). */
		static otas_header_t dq[] = {
		    H("HTTP_HOST", "bench"), H("HTTP_USER_AGENT", "bench/1.0"),
		    H("HTTP_ACCEPT", "application/json"),
		    H("HTTP_AUTHORIZATION", "Bearer x"),
		    H("CONTENT_LENGTH", "1004"),
		    H("CONTENT_TYPE", "application/json")};
		static otas_header_t ds[] = {
		    H("Content-Type", "application/json"),
		    H("Content-Length", "75")};
		static char post[1100];
		int is_post = strcmp(ev, "django-post1k") == 0;

		django = 1;
		c.route = NULL, c.route_len = 0;
		c.query = "", c.query_len = 0;
		c.remote_addr = "127.0.0.1", c.remote_addr_len = 9;
		c.req_headers = dq;
		c.resp_headers = ds, c.n_resp_headers = 2;
		c.duration_ns = 61000;
		if (is_post) {
			/* json.dumps({"name": "w", "pad": "p" * 980}) */
			memcpy(post, "{\"name\": \"w\", \"pad\": \"", 23);
			memset(post + 23, 'p', 980);
			memcpy(post + 1003, "\"}", 3);
			c.method = "POST", c.method_len = 4;
			c.path = "/api/items", c.path_len = 10;
			c.route = "api/items", c.route_len = 9;
			c.n_req_headers = 6;
			c.req_body = post, c.req_body_len = strlen(post);
			c.resp_body = "{\"id\": 1, \"name\": \"w\", \"fields\": 2}";
			ds[1].value = "35", ds[1].value_len = 2;
			c.status = 201;
		} else {
			c.method = "GET", c.method_len = 3;
			c.path = "/api/items/7", c.path_len = 12;
			c.route = "api/items/<int:pk>", c.route_len = 18;
			c.n_req_headers = 4;
			c.req_body = "", c.req_body_len = 0;
			c.resp_body = "{\"id\": 7, \"name\": \"Widget\", \"price\": "
			              "9.99, \"tags\": [\"a\", \"b\"], \"stock\": 12}";
		}
		c.resp_body_len = strlen(c.resp_body);
	}
	if (getenv("BENCH_PACE_US"))
		pace_us = atof(getenv("BENCH_PACE_US"));
	pick(&c, rq, rs, reqs[0], resps[0], rids[0], clens[0]);
	/* One event first: starts the sender thread outside the figure.
	 * Then what the sender does once, when it is first idle after a
	 * delivery (open the spool, derive its key, look for spooled
	 * batches: ~6 M instructions) happens before the measured part
	 * too, not inside it: a pause, and a second event. */
	otas_capture(eng, &c, NULL);
	otas_flush(eng, 30000);
	ts.tv_sec = RUNNING_ON_VALGRIND ? 5 : 0; /* ~50x slower there */
	ts.tv_nsec = RUNNING_ON_VALGRIND ? 0 : 300000000;
	nanosleep(&ts, NULL);
	c.start_unix_us++;
	otas_capture(eng, &c, NULL);
	otas_flush(eng, 30000);

	/* Under callgrind, count only the measured part. */
	CALLGRIND_ZERO_STATS;
	getrusage(RUSAGE_SELF, &ru0);
	sender_sched(&sr0, &sq0);
	w0 = cpu_s(CLOCK_MONOTONIC);
	p0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	t0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < n; i++) {
		c.start_unix_us++;
		k = (int)(i % NV);
		pick(&c, rq, rs, reqs[k], resps[k], rids[k], clens[k]);
		if (pace_us > 0) {
			/* The request's own work: a busy wait to the next slot,
			 * outside the capture figure. */
			double until = w0 + (double)(i + 1) * pace_us / 1e6, c0;
			while (cpu_s(CLOCK_MONOTONIC) < until)
				;
			c0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
			otas_capture(eng, &c, NULL);
			cap_s += cpu_s(CLOCK_THREAD_CPUTIME_ID) - c0;
			continue;
		}
		otas_capture(eng, &c, NULL);
		if ((i & 255) == 255) { /* never let the queue drop events */
			for (;;) {
				otas_stats(eng, &st);
				if (st.queue_bytes <= half)
					break;
				ts.tv_sec = 0, ts.tv_nsec = 1000000;
				nanosleep(&ts, NULL);
			}
		}
	}
	ok = FLUSH_DONE(otas_flush(eng, 120000));
	w1 = cpu_s(CLOCK_MONOTONIC);
	p1 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	t1 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
	getrusage(RUSAGE_SELF, &ru1);
	sender_sched(&sr1, &sq1);
	CALLGRIND_DUMP_STATS;
	otas_stats(eng, &st);
	/* n = 0 (bench_cpu.py's profile: the part that is not per event):
	 * figures per event of nothing are printed as of one. */
	dn = n > 0 ? (double)n : 1;
	printf("{\"events\":%ld,\"flushed\":%d,\"wall_s\":%.6f,"
	       "\"events_per_s\":%.1f,\"cpu_us_per_event\":%.3f,"
	       "\"capture_us_per_event\":%.3f,\"sender_us_per_event\":%.3f,"
	       "\"sent\":%llu,\"batches\":%llu,\"bytes_sent\":%llu,"
	       "\"dropped_queue_full\":%llu,\"user_us_per_event\":%.3f,"
	       "\"sys_us_per_event\":%.3f,\"minflt_per_event\":%.4f,"
	       "\"csw_per_event\":%.4f,\"sender_run_s\":%.4f,"
	       "\"sender_runq_s\":%.4f}\n",
	       n, ok, w1 - w0, n / (w1 - w0 > 0 ? w1 - w0 : 1),
	       ((p1 - p0) - (pace_us > 0 ? (t1 - t0) - cap_s : 0)) / dn * 1e6,
	       (pace_us > 0 ? cap_s : t1 - t0) / dn * 1e6,
	       ((p1 - p0) - (t1 - t0)) / dn * 1e6,
	       (unsigned long long)st.sent - 2,
	       (unsigned long long)st.batches,
	       (unsigned long long)st.bytes_sent,
	       (unsigned long long)st.dropped_queue_full,
	       (tv_s(&ru1.ru_utime, &ru0.ru_utime) -
	        (pace_us > 0 ? (t1 - t0) - cap_s : 0)) / dn * 1e6,
	       tv_s(&ru1.ru_stime, &ru0.ru_stime) / dn * 1e6,
	       (double)(ru1.ru_minflt - ru0.ru_minflt) / dn,
	       (double)(ru1.ru_nvcsw - ru0.ru_nvcsw + ru1.ru_nivcsw -
	                ru0.ru_nivcsw) / dn,
	       sr1 - sr0, sq1 - sq0);
	otas_engine_free(eng, 5000);
	return ok ? 0 : 1;
}

/* ---------------------------------------------------------- compression */

static size_t
gzip1(const char *in, size_t n, char *out, size_t cap)
{
	/* The engine's settings (engine/send/compress.c): level 1, gzip wrapper. */
	z_stream zs;
	size_t len;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return 0;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&zs);
		return 0;
	}
	len = zs.total_out;
	deflateEnd(&zs);
	return len;
}

static ZSTD_CCtx *zctx;

static size_t
zstd_level(const char *in, size_t n, char *out, size_t cap, int level)
{
	size_t r;

	/* A kept context, as the engine would keep one per sender. */
	ZSTD_CCtx_reset(zctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(zctx, ZSTD_c_compressionLevel, level);
	r = ZSTD_compress2(zctx, out, cap, in, n);
	return ZSTD_isError(r) ? 0 : r;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *d;
	long sz;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	d = malloc((size_t)sz + 1);
	if (d && fread(d, 1, (size_t)sz, f) != (size_t)sz) {
		free(d);
		d = NULL;
	}
	fclose(f);
	if (d) {
		d[sz] = 0;
		*len = (size_t)sz;
	}
	return d;
}

static void
measure(const char *codec, int level, const char *in, size_t n, size_t events)
{
	size_t cap = n + n / 8 + 65536, clen = 0;
	char *out = malloc(cap);
	double t0, t, reps = 0;

	t0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	do {
		clen = strcmp(codec, "gzip") == 0
		           ? gzip1(in, n, out, cap)
		           : zstd_level(in, n, out, cap, level);
		reps++;
		t = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
	} while (t < 0.3 || reps < 5);
	printf("{\"codec\":\"%s\",\"level\":%d,\"events\":%zu,\"bytes\":%zu,"
	       "\"compressed\":%zu,\"ratio\":%.2f,\"us_per_batch\":%.2f,"
	       "\"us_per_event\":%.3f,\"mb_per_s\":%.1f}\n",
	       codec, level, events, n, clen, clen ? (double)n / clen : 0,
	       t / reps * 1e6, t / reps / events * 1e6, n / (t / reps) / 1e6);
	free(out);
}

static int
compress_cmd(int argc, char **argv)
{
	/* Batches as sent, then the same events joined ten batches to one
	 * (the "bigger batches" lever). */
	char *all = NULL;
	size_t all_len = 0, all_events = 0, nb = 0;
	int i, level, lv[] = {1, 3, -1};

	zctx = ZSTD_createCCtx();
	for (i = 0; i < argc; i++) {
		/* COUNT:PATH, COUNT the events the batch holds */
		size_t len, ev = strtoul(argv[i], NULL, 10);
		const char *path = strchr(argv[i], ':');
		char *d = path ? slurp(path + 1, &len) : NULL, *open_, *close_;

		if (!d)
			continue;
				if (i == 0) {
			measure("gzip", 1, d, len, ev);
			for (level = 0; level < 3; level++)
				measure("zstd", lv[level], d, len, ev);
		}
		open_ = strchr(d, '[');
		close_ = strrchr(d, ']');
		if (open_ && close_ && close_ > open_ && nb < 10) {
			size_t piece = (size_t)(close_ - open_ - 1);
			all = realloc(all, all_len + piece + 32);
			if (all_len == 0) {
				memcpy(all, "{\"events\":[", 11);
				all_len = 11;
			} else {
				all[all_len++] = ',';
			}
			memcpy(all + all_len, open_ + 1, piece);
			all_len += piece;
			all_events += ev;
			nb++;
		}
		free(d);
	}
	if (nb > 1) {
		memcpy(all + all_len, "]}", 2);
		all_len += 2;
		measure("gzip", 1, all, all_len, all_events);
		for (level = 0; level < 3; level++)
			measure("zstd", lv[level], all, all_len, all_events);
	}
	free(all);
	ZSTD_freeCCtx(zctx);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "capture") == 0)
		return capture(atol(argv[2]));
	if (argc >= 3 && strcmp(argv[1], "compress") == 0)
		return compress_cmd(argc - 2, argv + 2);
	fprintf(stderr, "usage: bench_sender capture N | compress COUNT:FILE...\n");
	return 2;
}
