/*
 * test_filter.c -- filter.c and its use in otas_capture(): methods,
 * exclude paths, deterministic sampling, validation, counters.
 */
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "config.h"
#include "capture/filter.h"
#include "testlib.h"

static otas__filter_t *
filter(const char *name, const char *value)
{
	otas_config_t *cfg = otas_config_new();
	otas__filter_t *f;
	char err[256];

	if (name)
		CHECK_INT(otas_config_set(cfg, name, value, err, sizeof(err)),
		          0);
	f = otas__filter_new(cfg);
	otas_config_free(cfg);
	CHECK(f != NULL);
	return f;
}

static int
keep(otas__filter_t *f, const char *m, const char *p)
{
	return otas__filter_request(f, m, strlen(m), p, strlen(p));
}

TEST(defaults_keep_everything)
{
	otas__filter_t *f = filter(NULL, NULL);

	CHECK(keep(f, "GET", "/"));
	CHECK(keep(f, "PURGE", "/health"));
	CHECK(!otas__filter_sampling(f));
	CHECK(otas__filter_sampled(f, "x", 1));
	otas__filter_free(f);
}

TEST(glob_patterns)
{
	CHECK(otas__glob_match("/health*", "/health", 7));
	CHECK(otas__glob_match("/health*", "/healthz", 8));
	CHECK(otas__glob_match("/static/*", "/static/css/a.css", 17));
	CHECK(!otas__glob_match("/static/*", "/api/static/a", 13));
	CHECK(otas__glob_match("/api/v?/ping", "/api/v2/ping", 12));
	CHECK(otas__glob_match("*.php", "/wp/login.php", 13));
	/* Not NUL-terminated input: only n bytes count. */
	CHECK(!otas__glob_match("/health", "/healthz", 6));
}

TEST(exclude_paths)
{
	otas__filter_t *f = filter("OTAS_EXCLUDE_PATHS", "/health*, /static/*");

	CHECK(!keep(f, "GET", "/health"));
	CHECK(!keep(f, "GET", "/static/app.js"));
	CHECK(keep(f, "GET", "/api/items"));
	CHECK(keep(f, "GET", "/Health")); /* case-sensitive, as paths are */
	otas__filter_free(f);
}

TEST(capture_methods)
{
	otas__filter_t *f = filter("OTAS_CAPTURE_METHODS", "post, PUT");

	CHECK(keep(f, "POST", "/a"));
	CHECK(keep(f, "put", "/a"));
	CHECK(!keep(f, "GET", "/a"));
	CHECK(!keep(f, "POSTX", "/a"));
	CHECK(!keep(f, "", "/a"));
	otas__filter_free(f);
}

TEST(sampling_is_deterministic_and_near_rate)
{
	char id[37];
	int i, kept = 0, again = 0;

	for (i = 0; i < 20000; i++) {
		otas__uuid7(1700000000000 + i, id);
		if (otas__sample_keep(0.1, id, 36)) {
			kept++;
			again += otas__sample_keep(0.1, id, 36);
		}
	}
	CHECK(kept > 1800 && kept < 2200);
	CHECK_INT(again, kept);
	CHECK(otas__sample_keep(1.0, id, 36));
	CHECK(!otas__sample_keep(0.0, id, 36));
}

TEST(validation_messages)
{
	otas_config_t *cfg = otas_config_new();
	char err[256];

	CHECK_INT(otas_config_set(cfg, "OTAS_SAMPLE_RATE", "1.5", err,
	                          sizeof(err)), 0);
	CHECK_INT(otas_config_check(cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "OTAS_SAMPLE_RATE=\"1.5\"") && strstr(err, "0 to 1"));
	otas_config_set(cfg, "OTAS_SAMPLE_RATE", "0.25", err, sizeof(err));
	otas_config_set(cfg, "OTAS_CAPTURE_METHODS", "GET,P OST", err,
	                sizeof(err));
	CHECK_INT(otas_config_check(cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "OTAS_CAPTURE_METHODS"));
	otas_config_set(cfg, "OTAS_CAPTURE_METHODS", "GET,GETT", err,
	                sizeof(err));
	CHECK_INT(otas_config_check(cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "\"GETT\" is not an HTTP method"));
	otas_config_set(cfg, "OTAS_CAPTURE_METHODS", "get,Patch,OPTIONS", err,
	                sizeof(err));
	CHECK_INT(otas_config_check(cfg, err, sizeof(err)), 0);
	otas_config_set(cfg, "OTAS_CAPTURE_METHODS", "", err, sizeof(err));
	otas_config_set(cfg, "OTAS_EXCLUDE_PATHS", "health", err, sizeof(err));
	CHECK_INT(otas_config_check(cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "OTAS_EXCLUDE_PATHS") && strstr(err, "\"health\""));
	otas_config_set(cfg, "OTAS_EXCLUDE_PATHS", "/health", err, sizeof(err));
	CHECK_INT(otas_config_check(cfg, err, sizeof(err)), 0);
	otas_config_free(cfg);
}

static otas_engine_t *
engine(const char *name, const char *value)
{
	otas_config_t *cfg = otas_config_new();
	char err[256];

	otas_config_set(cfg, "OTAS_SDK_KEY",
	                "otas_AAAAAAAAAAA_"
	                "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
	                err, sizeof(err));
	/* Nothing listens there; the engine is freed with timeout 0. */
	otas_config_set(cfg, "OTAS_BASE_URL", "http://127.0.0.1:9", err,
	                sizeof(err));
	otas_config_set(cfg, "OTAS_SPOOL_MAX_BYTES", "0", err, sizeof(err));
	if (name)
		CHECK_INT(otas_config_set(cfg, name, value, err, sizeof(err)),
		          0);
	return otas_engine_new(cfg, err, sizeof(err));
}

static otas_capture_t
req(const char *method, const char *path)
{
	otas_capture_t c;

	otas_capture_init(&c);
	c.method = method;
	c.method_len = strlen(method);
	c.path = path;
	c.path_len = strlen(path);
	c.status = 200;
	c.req_body_size = c.resp_body_size = -1;
	return c;
}

TEST(capture_applies_rules_and_counts)
{
	otas_engine_t *eng = engine("OTAS_EXCLUDE_PATHS", "/health*");
	otas_capture_t c = req("GET", "/healthz");
	otas_stats_t st = OTAS_STATS_INIT;
	char id[37];

	CHECK(eng != NULL);
	CHECK_INT(otas_should_capture(eng, "GET", 3, "/healthz", 8), 0);
	CHECK_INT(otas_should_capture(eng, "GET", 3, "/api", 4), 1);
	id[0] = 'x';
	CHECK_INT(otas_capture(eng, &c, id), 2);
	CHECK(id[0] == 'x'); /* no id for an event that does not exist */
	c = req("GET", "/api");
	CHECK_INT(otas_capture(eng, &c, id), 0);
	otas_stats(eng, &st);
	CHECK_INT(st.excluded, 2); /* should_capture + capture */
	CHECK_INT(st.captured, 1);
	otas_engine_free(eng, 0);
}

TEST(capture_samples_by_host_event_id)
{
	otas_engine_t *eng = engine("OTAS_SAMPLE_RATE", "0.5");
	otas_capture_t c = req("GET", "/api");
	otas_stats_t st = OTAS_STATS_INIT;
	char id[37], got[37];
	int i, rc, first[50];

	CHECK(eng != NULL);
	/* The same host id gives the same decision every time, and a kept
	 * event keeps the host's id. */
	for (i = 0; i < 50; i++) {
		otas_new_event_id(id);
		c.event_id = id;
		c.event_id_len = 36;
		first[i] = otas_capture(eng, &c, got);
		CHECK(first[i] == 0 || first[i] == 2);
		if (first[i] == 0)
			CHECK_STR(got, id);
		rc = otas_capture(eng, &c, got);
		CHECK_INT(rc, first[i]);
	}
	otas_stats(eng, &st);
	CHECK(st.sampled_out > 0 && st.captured > 0);
	CHECK_INT(st.sampled_out + st.captured, 100);
	otas_engine_free(eng, 0);
}

TEST(new_event_id_is_uuid7)
{
	char id[37];

	otas_new_event_id(id);
	CHECK_INT(strlen(id), 36);
	CHECK(id[14] == '7');
	CHECK(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
}

int
main(void)
{
	RUN(defaults_keep_everything);
	RUN(glob_patterns);
	RUN(exclude_paths);
	RUN(capture_methods);
	RUN(sampling_is_deterministic_and_near_rate);
	RUN(validation_messages);
	RUN(capture_applies_rules_and_counts);
	RUN(capture_samples_by_host_event_id);
	RUN(new_event_id_is_uuid7);
	return testlib_done();
}
