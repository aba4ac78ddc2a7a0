/*
 * test_collector_dash.c -- the dashboard API's filter parser and row
 * matcher (api_dash.c): ranges and buckets, status sets, path globs,
 * unmatched requests, document filters, and what reaches the store
 * (status ranges, a path glob's literal head).
 */
#include "testlib.h"

#include "api_dash.h"

#include <string.h>

#define NOW 1767225600000000LL /* 2026-01-01T00:00:00Z */

typedef struct {
	const char *const *kv; /* name, value, ..., NULL */
} args_t;

static const char *
get(void *ctx, const char *name)
{
	const args_t *a = ctx;

	for (int i = 0; a->kv[i]; i += 2)
		if (strcmp(a->kv[i], name) == 0)
			return a->kv[i + 1];
	return NULL;
}

static int
parse(otas__dash_filter_t *f, const char *const *kv)
{
	args_t a = {kv};
	char err[160];

	return otas__dash_filter_parse(get, &a, NOW, f, err, sizeof err);
}

TEST(ranges_and_buckets)
{
	otas__dash_filter_t f;
	const char *none[] = {NULL};
	const char *h15[] = {"range", "15m", NULL};
	const char *d30[] = {"range", "30d", NULL};
	const char *abs[] = {"from", "2025-12-31T00:00:00Z", "to", "1767225600000",
	                     "bucket", "minute", NULL};
	const char *bad[] = {"range", "2w", NULL};
	const char *rev[] = {"from", "2026-01-02T00:00:00Z", "to",
	                     "2026-01-01T00:00:00Z", NULL};
	const char *many[] = {"from", "2020-01-01T00:00:00Z", "bucket", "minute",
	                      NULL};

	CHECK(parse(&f, none) == 0);
	CHECK_STR(f.range, "24h");
	CHECK(f.bucket_s == 3600 && f.to_us - f.from_us == 86400LL * 1000000);
	CHECK(parse(&f, h15) == 0 && f.bucket_s == 60);
	CHECK(parse(&f, d30) == 0 && f.bucket_s == 86400);
	CHECK(parse(&f, abs) == 0 && f.range == NULL);
	CHECK(f.from_us == NOW - 86400LL * 1000000 && f.to_us == NOW);
	CHECK(f.bucket_s == 60);
	CHECK(parse(&f, bad) == -1);
	CHECK(parse(&f, rev) == -1);
	CHECK(parse(&f, many) == -1);
}

TEST(status_sets_reach_the_store_as_a_range)
{
	otas__dash_filter_t f;
	otas__scan_query_t q;
	otas__scan_row_t r = {0};
	const char *st[] = {"status", "401,5xx", "method", "post", NULL};
	const char *bad1[] = {"status", "6xx", NULL};
	const char *bad2[] = {"status", "500-400", NULL};
	const char *bad3[] = {"status", "4xx,", NULL};

	CHECK(parse(&f, st) == 0);
	CHECK(f.n_status == 2);
	otas__dash_filter_scan(&f, &q);
	CHECK(q.status_min == 401 && q.status_max == 599);
	CHECK_STR(q.method, "POST");
	r.path = r.route = "/x";
	r.status = 401;
	CHECK(otas__dash_filter_match(&f, &r) == 1);
	r.status = 404; /* inside the store's range, not in the set */
	CHECK(otas__dash_filter_match(&f, &r) == 0);
	r.status = 503;
	CHECK(otas__dash_filter_match(&f, &r) == 1);
	CHECK(parse(&f, bad1) == -1);
	CHECK(parse(&f, bad2) == -1);
	CHECK(parse(&f, bad3) == -1);
}

TEST(paths_unmatched_and_documents)
{
	otas__dash_filter_t f;
	otas__scan_query_t q;
	otas__scan_row_t r = {0};
	const char *glob[] = {"path", "/api/*/7", NULL};
	const char *exact[] = {"path", "/api/items/7", NULL};
	const char *um[] = {"unmatched", "1", NULL};
	const char *doc[] = {"tag", "blue", "version", "2", "trace", "abc", NULL};

	r.path = "/api/items/7";
	r.route = "api/items/<int:pk>";
	CHECK(parse(&f, glob) == 0 && f.path_glob);
	CHECK(otas__dash_filter_match(&f, &r) == 1);
	CHECK(parse(&f, exact) == 0 && !f.path_glob);
	CHECK(otas__dash_filter_match(&f, &r) == 1);
	r.path = "/api/items/77";
	CHECK(otas__dash_filter_match(&f, &r) == 0);
	CHECK(parse(&f, um) == 0);
	CHECK(otas__dash_filter_match(&f, &r) == 0);
	r.route = r.path;
	CHECK(otas__dash_filter_match(&f, &r) == 1);

	CHECK(parse(&f, doc) == 0);
	otas__dash_filter_scan(&f, &q);
	CHECK(q.want_doc == 1);
	r.doc = "{\"metadata\":{\"tags\":[\"red\",\"blue\"],\"service_version\":\"2\","
	        "\"trace_id\":\"abc\"}}";
	r.doc_len = strlen(r.doc);
	CHECK(otas__dash_filter_match(&f, &r) == 1);
	r.doc = "{\"metadata\":{\"tags\":[\"red\"],\"service_version\":\"2\","
	        "\"trace_id\":\"abc\"}}";
	r.doc_len = strlen(r.doc);
	CHECK(otas__dash_filter_match(&f, &r) == 0);
	r.doc = "not json";
	r.doc_len = strlen(r.doc);
	CHECK(otas__dash_filter_match(&f, &r) == 0);
}

/* A path filter reaches the store as the literal head every match starts
 * with (the whole path when exact; up to the first * ? [ or \ of a glob,
 * which fnmatch treats as special), and nothing when the glob has none. */
TEST(path_heads_reach_the_store)
{
	static const struct {
		const char *path;
		size_t head;
	} cases[] = {
	    {"/api/items/7", 12}, {"/api/r3/*", 8},   {"/api/r3*", 7},
	    {"/a?c", 2},          {"/a[bc]/*", 2},    {"/a\\*b/*", 2},
	    {"*/items/*", 0},     {"[/]api/*", 0},    {"/50%_off/*", 9},
	};
	otas__dash_filter_t f;
	otas__scan_query_t q;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *kv[] = {"path", cases[i].path, NULL};
		CHECK(parse(&f, kv) == 0);
		otas__dash_filter_scan(&f, &q);
		CHECK(q.path_prefix == f.path);
		CHECK(q.path_prefix_len == cases[i].head);
	}
	{
		const char *none[] = {"route", "x", NULL};
		CHECK(parse(&f, none) == 0);
		otas__dash_filter_scan(&f, &q);
		CHECK(q.path_prefix_len == 0 && q.lean == 0);
	}
}

int
main(void)
{
	RUN(ranges_and_buckets);
	RUN(status_sets_reach_the_store_as_a_range);
	RUN(paths_unmatched_and_documents);
	RUN(path_heads_reach_the_store);
	return testlib_done();
}
