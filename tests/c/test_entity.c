/*
 * test_entity.c -- entity.c: validation and normalisation of updates,
 * otas_entity() return codes and its share of the queue budget.
 * (Delivery against a real collector is in tests/python/test_identity.py.)
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "entity.h"
#include "testlib.h"

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
	otas_stats_t st;
	char err[256], big[8192];
	int i, rc, queued = 0, dropped = 0;

	otas_config_set(cfg, "OTAS_SDK_KEY",
	                "otas_AAAAAAAAAAA_"
	                "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
	                err, sizeof(err));
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

int
main(void)
{
	RUN(element_validation);
	RUN(queue_and_budget);
	return testlib_done();
}
