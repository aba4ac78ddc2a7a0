/*
 * test_entity.c -- entity.c: validation and normalisation of updates,
 * otas_entity() return codes, its share of the queue budget and the full
 * queue it shares with events.
 * (Delivery against a real collector is in tests/python/test_identity.py.)
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "engine.h"
#include "send/entity.h"
#include "fake_server.c"
#include "testlib.h"

#define KEY "otas_AAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

static int g_logged;

static void
count_log(otas_log_level_t level, const char *msg, void *ud)
{
	(void)level;
	(void)ud;
	if (strstr(msg, "no entities endpoint"))
		g_logged++;
}

static otas_engine_t *
mk(fs_t *fs)
{
	otas_config_t *c = otas_config_new();
	char err[256];
	otas_engine_t *e;

	otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err));
	otas_config_set(c, "OTAS_BASE_URL", fs_url(fs), err, sizeof(err));
	otas_config_set(c, "OTAS_SPOOL_MAX_BYTES", "0", err, sizeof(err));
	e = otas_engine_new(c, err, sizeof(err));
	CHECK(e != NULL);
	otas_set_logger(e, count_log, NULL, OTAS_LOG_DEBUG);
	return e;
}

#define U "{\"user_id\":\"u1\",\"metadata\":{\"a\":1}}"

TEST(delivered_in_one_batch)
{
	fs_t *fs = fs_start();
	otas_engine_t *e = mk(fs);
	otas_stats_t st = OTAS_STATS_INIT;
	fs_req_t r;
	size_t i;
	int users = 0, companies = 0;

	CHECK(otas_engine_authenticate(e, 2000, NULL) == OTAS_AUTH_OK);
	CHECK_INT(otas_entity(e, OTAS_ENTITY_USER, U, strlen(U)), 0);
	CHECK_INT(otas_entity(e, OTAS_ENTITY_COMPANY, "{\"company_id\":7}", 16),
	          0);
	CHECK_INT(otas_flush(e, 3000), OTAS_OK);
	otas_stats(e, &st);
	CHECK_INT(st.entities_sent, 2);
	/* One or two requests: the sender may take the first update
	 * before the second is queued. */
	CHECK(fs_count(fs) >= 1 && fs_count(fs) <= 2);
	for (i = 0; i < fs_count(fs); i++) {
		CHECK(fs_get(fs, i, &r));
		CHECK_STR(r.path, "/api/v1/entities/batch/");
		CHECK(strncmp(r.body, "{\"entities\":[{", 14) == 0);
		users += strstr(r.body, "\"kind\":\"user\"") != NULL;
		companies += strstr(r.body, "\"kind\":\"company\"") != NULL;
		fs_req_free(&r);
	}
	CHECK_INT(users, 1);
	CHECK_INT(companies, 1);
	otas_engine_free(e, 1000);
	fs_stop(fs);
}

TEST(missing_endpoint_drops_and_logs_once)
{
	fs_t *fs = fs_start();
	otas_engine_t *e = mk(fs);
	otas_stats_t st = OTAS_STATS_INIT;
	int i;

	g_logged = 0;
	fs_log_status(fs, 404);
	CHECK(otas_engine_authenticate(e, 2000, NULL) == OTAS_AUTH_OK);
	for (i = 0; i < 3; i++) {
		CHECK_INT(otas_entity(e, OTAS_ENTITY_USER, U, strlen(U)), 0);
		CHECK_INT(otas_flush(e, 3000), OTAS_OK);
	}
	otas_stats(e, &st);
	CHECK_INT(st.dropped_entities, 3);
	CHECK_INT(st.entities_sent, 0);
	CHECK_INT(g_logged, 1);
	otas_engine_free(e, 1000);
	fs_stop(fs);
}

TEST(server_error_is_retried)
{
	fs_t *fs = fs_start();
	otas_engine_t *e = mk(fs);
	fs_reply_t bad[] = {{.status = 503}};
	otas_stats_t st = OTAS_STATS_INIT;

	fs_script(fs, bad, 1);
	CHECK(otas_engine_authenticate(e, 2000, NULL) == OTAS_AUTH_OK);
	CHECK_INT(otas_entity(e, OTAS_ENTITY_USER, U, strlen(U)), 0);
	CHECK_INT(otas_flush(e, 5000), OTAS_OK); /* first backoff is 1 s */
	otas_stats(e, &st);
	CHECK_INT(st.entities_sent, 1);
	CHECK_INT(st.dropped_entities, 0);
	CHECK_INT(fs_count(fs), 2);
	otas_engine_free(e, 1000);
	fs_stop(fs);
}

/* A refused key (or a redirect) keeps the updates for the event path's
 * long wait (protocol.c's table, entities column), then delivers them. */
TEST(refused_key_keeps_updates)
{
	fs_t *fs = fs_start();
	otas_engine_t *e = mk(fs);
	fs_reply_t bad[] = {{.status = 401,
	                     .body = "{\"status\":0,\"status_description\":"
	                             "\"invalid_sdk_key\"}"}};
	otas_stats_t st = OTAS_STATS_INIT;

	e->timing.auth_wait_ms = 300;
	fs_script(fs, bad, 1);
	CHECK(otas_engine_authenticate(e, 2000, NULL) == OTAS_AUTH_OK);
	CHECK_INT(otas_entity(e, OTAS_ENTITY_USER, U, strlen(U)), 0);
	CHECK_INT(otas_flush(e, 5000), OTAS_OK);
	otas_stats(e, &st);
	CHECK_INT(st.entities_sent, 1);
	CHECK_INT(st.dropped_entities, 0);
	CHECK_INT(fs_count(fs), 2);
	otas_engine_free(e, 1000);
	fs_stop(fs);
}

static char *
el(int kind, const char *js, int *bad)
{
	size_t n;

	return otas__entity_element(kind, js, strlen(js), &n, bad);
}

TEST(element_validation)
{
	int bad;
	char *s;

	s = el(OTAS_ENTITY_USER, "{\"user_id\":\"u1\",\"metadata\":{\"a\":1}}",
	       &bad);
	CHECK(s && !bad);
	CHECK(strstr(s, "\"kind\":\"user\""));
	CHECK(strstr(s, "\"user_id\":\"u1\""));
	free(s);
	s = el(OTAS_ENTITY_USER, "{\"user_id\":42}", &bad);
	CHECK(s && !bad);
	free(s);
	CHECK(el(OTAS_ENTITY_USER, "{\"user_id\":\"\"}", &bad) == NULL && bad);
	CHECK(el(OTAS_ENTITY_USER, "{\"company_id\":\"c\"}", &bad) == NULL &&
	      bad);
	CHECK(el(OTAS_ENTITY_USER, "{\"user_id\":\"u\",\"metadata\":1}",
	         &bad) == NULL && bad);
	s = el(OTAS_ENTITY_COMPANY, "{\"company_id\":\"c\"}", &bad);
	CHECK(s != NULL);
	free(s);
	CHECK(el(OTAS_ENTITY_SUBSCRIPTION, "{\"subscription_id\":\"s\"}",
	         &bad) == NULL && bad);
	s = el(OTAS_ENTITY_SUBSCRIPTION,
	       "{\"subscription_id\":\"s\",\"company_id\":\"c\"}", &bad);
	CHECK(s && strstr(s, "\"kind\":\"subscription\""));
	free(s);
	CHECK(el(3, "{\"user_id\":\"u\"}", &bad) == NULL && bad);
	CHECK(el(OTAS_ENTITY_USER, "[1]", &bad) == NULL && bad);
	CHECK(el(OTAS_ENTITY_USER, "{\"user_id\":\"u\"", &bad) == NULL && bad);
	CHECK(el(OTAS_ENTITY_USER, "{\"user_id\":\"u\",\"user_id\":\"v\"}",
	         &bad) == NULL && bad);
}

TEST(queue_and_budget)
{
	otas_config_t *cfg = otas_config_new();
	otas_engine_t *eng;
	otas_stats_t st = OTAS_STATS_INIT;
	char err[256], big[8192];
	int i, rc, queued = 0, dropped = 0;

	otas_config_set(cfg, "OTAS_SDK_KEY", KEY, err, sizeof(err));
	otas_config_set(cfg, "OTAS_BASE_URL", "http://127.0.0.1:9", err,
	                sizeof(err));
	otas_config_set(cfg, "OTAS_QUEUE_MAX_BYTES", "65536", err,
	                sizeof(err));
	otas_config_set(cfg, "OTAS_BATCH_MAX_BYTES", "4096", err, sizeof(err));
	otas_config_set(cfg, "OTAS_SPOOL_MAX_BYTES", "0", err, sizeof(err));
	eng = otas_engine_new(cfg, err, sizeof(err));
	CHECK(eng != NULL);
	CHECK_INT(otas_entity(eng, OTAS_ENTITY_USER, "{}", 2), -1);
	CHECK_INT(otas_entity(NULL, OTAS_ENTITY_USER, "{}", 2), -1);
	/* 1 KiB updates against a 4 KiB share (a sixteenth of 64 KiB). */
	memset(big, 'x', sizeof(big));
	memcpy(big, "{\"user_id\":\"u\",\"pad\":\"", 22);
	memcpy(big + 1000, "\"}", 3);
	for (i = 0; i < 10; i++) {
		rc = otas_entity(eng, OTAS_ENTITY_USER, big, strlen(big));
		CHECK(rc == 0 || rc == 1);
		queued += rc == 0;
		dropped += rc == 1;
	}
	CHECK(queued >= 3 && queued <= 4);
	otas_stats(eng, &st);
	CHECK_INT(st.dropped_entities, (uint64_t)dropped);
	/* Nothing listens: free drops (and counts) what is left. */
	otas_engine_free(eng, 0);
}

/* Entity updates are items of the one bounded queue: when captured
 * events have filled it, an update is dropped and counted as an event
 * would be (the sender cannot drain it: authentication fails, no spool). */
TEST(full_queue_drops_updates_as_events)
{
	otas_config_t *cfg = otas_config_new();
	otas_engine_t *eng;
	otas_stats_t st = OTAS_STATS_INIT;
	otas_capture_t c;
	char err[256], body[4096];
	int i, rc = OTAS_OK;

	otas_config_set(cfg, "OTAS_SDK_KEY", KEY, err, sizeof(err));
	otas_config_set(cfg, "OTAS_BASE_URL", "http://127.0.0.1:9", err,
	                sizeof(err));
	otas_config_set(cfg, "OTAS_QUEUE_MAX_BYTES", "65536", err,
	                sizeof(err));
	otas_config_set(cfg, "OTAS_BATCH_MAX_BYTES", "4096", err, sizeof(err));
	otas_config_set(cfg, "OTAS_SPOOL_MAX_BYTES", "0", err, sizeof(err));
	eng = otas_engine_new(cfg, err, sizeof(err));
	CHECK(eng != NULL);
	memset(body, 'b', sizeof(body));
	otas_capture_init(&c);
	c.method = "POST";
	c.method_len = 4;
	c.path = "/a";
	c.path_len = 2;
	c.req_body = body;
	c.req_body_len = sizeof(body);
	c.req_body_size = -1;
	c.resp_body_size = -1;
	c.status = 200;
	for (i = 0; i < 100 && rc == OTAS_OK; i++)
		rc = otas_capture(eng, &c, NULL);
	CHECK_INT(rc, OTAS_DROPPED);
	/* Then the smallest events (no body), so what is left is less than
	 * an update's item (a record header and its JSON). */
	c.req_body = NULL;
	c.req_body_len = 0;
	for (rc = OTAS_OK, i = 0; i < 1000 && rc == OTAS_OK; i++)
		rc = otas_capture(eng, &c, NULL);
	CHECK_INT(rc, OTAS_DROPPED);
	otas_stats(eng, &st);
	CHECK_INT(st.dropped_queue_full, 2);
	CHECK_INT(otas_entity(eng, OTAS_ENTITY_USER, U, strlen(U)), 1);
	otas_stats(eng, &st);
	CHECK_INT(st.dropped_entities, 1);
	CHECK_INT(st.dropped_queue_full, 2); /* an update is not an event */
	otas_engine_free(eng, 0);
}

/* Updates pushed between events while batches are in flight: they go
 * on the sender's one handle once the flights end, and nothing of
 * either kind is lost or sent twice. */
TEST(updates_between_batches_in_flight)
{
	fs_t *fs = fs_start();
	otas_engine_t *e = mk(fs);
	otas_stats_t st = OTAS_STATS_INIT;
	otas_capture_t c;
	int i, ents = 0;

	CHECK(otas_engine_authenticate(e, 2000, NULL) == OTAS_AUTH_OK);
	otas_capture_init(&c);
	c.method = "GET";
	c.method_len = 3;
	c.path = "/a";
	c.path_len = 2;
	c.req_body_size = -1;
	c.resp_body_size = -1;
	c.status = 200;
	for (i = 0; i < 800; i++) {
		CHECK_INT(otas_capture(e, &c, NULL), OTAS_OK);
		if (i % 160 == 80) {
			CHECK_INT(otas_entity(e, OTAS_ENTITY_USER, U, strlen(U)),
			          0);
			ents++;
		}
	}
	CHECK_INT(otas_flush(e, 10000), OTAS_OK);
	otas_stats(e, &st);
	CHECK_INT(st.sent, 800);
	CHECK_INT(st.entities_sent, (uint64_t)ents);
	CHECK_INT(st.dropped_entities, 0);
	/* The fake server counts an entities request as one item: the 800
	 * events, and between 1 and ents requests of updates. */
	CHECK(fs_events(fs) >= 801 && fs_events(fs) <= 800 + (size_t)ents);
	otas_engine_free(e, 1000);
	fs_stop(fs);
}

int
main(void)
{
	RUN(element_validation);
	RUN(queue_and_budget);
	RUN(full_queue_drops_updates_as_events);
	RUN(delivered_in_one_batch);
	RUN(missing_endpoint_drops_and_logs_once);
	RUN(server_error_is_retried);
	RUN(refused_key_keeps_updates);
	RUN(updates_between_batches_in_flight);
	return testlib_done();
}
