/*
 * test_config.c -- options by name: defaults, parsing, validation
 * messages, the key never echoed.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testlib.h"

#define KEY "otas_PocKPi56xDI_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"

static char buf[512], err[512];

#define GET(c, n) (otas_config_get(c, n, buf, sizeof(buf)) == 0 ? buf : NULL)

TEST(defaults)
{
	otas_config_t *c = otas_config_new();

	CHECK(c);
	CHECK_STR(GET(c, "OTAS_BASE_URL"), "http://localhost:8002");
	CHECK_STR(GET(c, "OTAS_AUTH_URL"), "http://localhost:8002");
	CHECK_STR(GET(c, "OTAS_QUEUE_MAX_BYTES"), "33554432");
	CHECK_STR(GET(c, "OTAS_BATCH_MAX_EVENTS"), "1000");
	CHECK_STR(GET(c, "OTAS_BATCH_MAX_BYTES"), "1048576");
	CHECK_STR(GET(c, "OTAS_FLUSH_INTERVAL_MS"), "1000");
	CHECK_STR(GET(c, "OTAS_MAX_BODY_BYTES"), "102400");
	CHECK_STR(GET(c, "OTAS_CAPTURE_BODIES"), "1");
	CHECK_STR(GET(c, "OTAS_TIMEOUT_MS"), "10000");
	CHECK_STR(GET(c, "OTAS_SHUTDOWN_TIMEOUT_MS"), "5000");
	CHECK_STR(GET(c, "OTAS_SPOOL_MAX_BYTES"), "268435456");
	CHECK_STR(GET(c, "OTAS_ENABLED"), "1");
	CHECK_STR(GET(c, "OTAS_DEBUG"), "0");
	CHECK_STR(GET(c, "OTAS_SEND_WITHOUT_AGENT_TOKEN"), "0");
	CHECK_STR(GET(c, "OTAS_SDK_KEY"), "");
	CHECK_STR(GET(c, "OTAS_SENSITIVE_QUERY_PARAMS"),
	          "password,token,access_token,api_key,apikey,secret,"
	          "client_secret");
	CHECK(GET(c, "OTAS_NOPE") == NULL);
	otas_config_free(c);
}

TEST(every_name_reads_back)
{
	otas_config_t *c = otas_config_new();
	const char *const *n;
	int k = 0;

	for (n = otas_config_names(); *n; n++, k++)
		CHECK(GET(c, *n) != NULL);
	CHECK_INT(k, 51); /* 35 + 5 OTLP (otlp.c) + 6 of the migration guides
	                   * + OTAS_COMPRESSION + OTAS_CAPTURE_IN_TESTS
	                   * + OTAS_MAX_IN_FLIGHT + OTAS_SENDER_NICE
	                   * + OTAS_BATCH_BACKLOG_EVENTS */
	otas_config_free(c);
}

TEST(compression_is_validated)
{
	otas_config_t *c = otas_config_new();
	otas_engine_t *e;

	CHECK_STR(GET(c, "OTAS_COMPRESSION"), "auto");
	CHECK_INT(otas__compression(c), OTAS__COMP_AUTO);
	CHECK(otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err)) == 0);
	CHECK(otas_config_set(c, "OTAS_COMPRESSION", "ZSTD", err,
	                      sizeof(err)) == 0);
	CHECK_INT(otas__compression(c), OTAS__COMP_ZSTD);
	CHECK(otas_config_set(c, "OTAS_COMPRESSION", "none", err,
	                      sizeof(err)) == 0);
	CHECK_INT(otas__compression(c), OTAS__COMP_NONE);
	CHECK(otas_config_set(c, "OTAS_COMPRESSION", "br", err,
	                      sizeof(err)) == 0);
	CHECK_INT(otas__compression(c), -1);
	e = otas_engine_new(c, err, sizeof(err));
	CHECK(e == NULL);
	CHECK(strstr(err, "OTAS_COMPRESSION=\"br\" is not known") != NULL);
}

TEST(parsing)
{
	otas_config_t *c = otas_config_new();

	CHECK(otas_config_set(c, "OTAS_DEBUG", "yes", err, sizeof(err)) == 0);
	CHECK_STR(GET(c, "OTAS_DEBUG"), "1");
	CHECK(otas_config_set(c, "OTAS_DEBUG", "Off", err, sizeof(err)) == 0);
	CHECK_STR(GET(c, "OTAS_DEBUG"), "0");
	CHECK(otas_config_set(c, "OTAS_QUEUE_MAX_BYTES", "64M", err,
	                      sizeof(err)) == 0);
	CHECK_STR(GET(c, "OTAS_QUEUE_MAX_BYTES"), "67108864");
	CHECK(otas_config_set(c, "OTAS_MAX_BODY_BYTES", " 10KiB ", err,
	                      sizeof(err)) == 0);
	CHECK_STR(GET(c, "OTAS_MAX_BODY_BYTES"), "10240");
	CHECK(otas_config_set(c, "OTAS_SHUTDOWN_TIMEOUT", "2.5", err,
	                      sizeof(err)) == 0);
	CHECK_STR(GET(c, "OTAS_SHUTDOWN_TIMEOUT_MS"), "2500");
	CHECK(otas_config_set(c, "OTAS_SHUTDOWN_TIMEOUT_MS", "700", err,
	                      sizeof(err)) == 0);
	CHECK_STR(GET(c, "OTAS_SHUTDOWN_TIMEOUT_MS"), "700");
	CHECK(otas_config_set(c, "OTAS_BASE_URL", "https://x.example/", err,
	                      sizeof(err)) == 0);
	CHECK_STR(GET(c, "OTAS_AUTH_URL"), "https://x.example/");
	otas_config_free(c);
}

TEST(bad_values_name_option_value_and_fix)
{
	otas_config_t *c = otas_config_new();

	CHECK(otas_config_set(c, "OTAS_DEBUG", "maybe", err, sizeof(err)) == -1);
	CHECK(strstr(err, "OTAS_DEBUG") && strstr(err, "maybe") &&
	      strstr(err, "true/false"));
	CHECK(otas_config_set(c, "OTAS_BATCH_MAX_EVENTS", "0", err,
	                      sizeof(err)) == -1);
	CHECK(strstr(err, "OTAS_BATCH_MAX_EVENTS") && strstr(err, "\"0\"") &&
	      strstr(err, "from 1"));
	CHECK(otas_config_set(c, "OTAS_TIMEOUT_MS", "10s", err, sizeof(err)) ==
	      -1);
	CHECK(otas_config_set(c, "OTAS_QUEUE_MAX_BYTES", "-5", err,
	                      sizeof(err)) == -1);
	CHECK(otas_config_set(c, "OTAS_BASE_URL", "localhost:8002", err,
	                      sizeof(err)) == -1);
	CHECK(strstr(err, "http://"));
	CHECK(otas_config_set(c, "OTAS_SHUTDOWN_TIMEOUT", "nan", err,
	                      sizeof(err)) == -1);
	CHECK(strstr(err, "OTAS_SHUTDOWN_TIMEOUT_MS"));
	CHECK(otas_config_set(c, "OTAS_SHUTDOWN_TIMEOUT_MS", "2.5", err,
	                      sizeof(err)) == -1);
	CHECK(otas_config_set(c, "OTAS_WHAT", "1", err, sizeof(err)) == -1);
	CHECK(strstr(err, "OTAS_WHAT"));
	/* the values stayed */
	CHECK_STR(GET(c, "OTAS_BATCH_MAX_EVENTS"), "1000");
	otas_config_free(c);
}

/* JSONPath rules are compiled by otas_config_check() (config.c stays below
 * event/): a bad rule is still refused before the engine exists, naming
 * the option, the rule and the fix, and otas_engine_new() refuses it too. */
TEST(bad_rules_fail_the_check_naming_the_option)
{
	otas_config_t *c = otas_config_new();
	otas_engine_t *e;

	CHECK(otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err)) == 0);
	CHECK(otas_config_set(c, "OTAS_REDACT_RESPONSE_BODY", "$.ok,$..t", err,
	                      sizeof(err)) == 0);
	CHECK(otas_config_check(c, err, sizeof(err)) == 0);
	CHECK(otas_config_set(c, "OTAS_REDACT_RESPONSE_BODY", "$.ok, $.a[",
	                      err, sizeof(err)) == 0);
	CHECK(otas_config_check(c, err, sizeof(err)) == -1);
	CHECK(strstr(err, "OTAS_REDACT_RESPONSE_BODY") && strstr(err, "$.a[") &&
	      strstr(err, "fix the JSONPath rule"));
	CHECK(otas_config_set(c, "OTAS_REDACT_RESPONSE_BODY", "", err,
	                      sizeof(err)) == 0);
	CHECK(otas_config_set(c, "OTAS_REDACT_REQUEST_BODY", "$.items[?(@.a)]",
	                      err, sizeof(err)) == 0);
	e = otas_engine_new(c, err, sizeof(err)); /* takes c */
	CHECK(e == NULL);
	CHECK(strstr(err, "OTAS_REDACT_REQUEST_BODY") != NULL);
}

/* The OTAS_DEBUG start-up line names every option of the table, in table
 * order, and never a secret. */
TEST(describe_lists_every_option_without_secrets)
{
	otas_config_t *c = otas_config_new();
	otas__buf_t b = OTAS__BUF_INIT;
	const char *const *n;
	const char *prev = NULL, *at;
	char want[96];

	CHECK(otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err)) == 0);
	CHECK(otas_config_set(c, "OTAS_OTLP_HEADERS", "x-k=pipe-77", err,
	                      sizeof(err)) == 0);
	CHECK(otas_config_set(c, "OTAS_TAGS", "it's", err, sizeof(err)) == 0);
	CHECK_INT(otas__config_describe(c, &b), 0);
	CHECK(b.data != NULL);
	for (n = otas_config_names(); *n; n++) {
		snprintf(want, sizeof(want), "%s='", *n);
		at = strstr(b.data, want);
		CHECK(at != NULL);
		CHECK(!prev || at > prev);
		prev = at;
	}
	CHECK(strstr(b.data, "OTAS_SDK_KEY='***'") != NULL);
	CHECK(strstr(b.data, "OTAS_OTLP_HEADERS='***'") != NULL);
	CHECK(strstr(b.data, "OTAS_TAGS='it\\'s'") != NULL);
	CHECK(strstr(b.data, "OTAS_BATCH_MAX_EVENTS='1000'") != NULL);
	CHECK(strstr(b.data, "abcdefghijklmnop") == NULL);
	CHECK(strstr(b.data, "pipe-77") == NULL);
	otas__buf_free(&b);
	otas_config_free(c);
}

TEST(types_are_the_public_enum)
{
	CHECK_INT(otas_config_type("OTAS_SDK_KEY"), OTAS_OPTION_SDK_KEY);
	CHECK_INT(otas_config_type("OTAS_OTLP_HEADERS"), OTAS_OPTION_SECRET);
	CHECK_INT(otas_config_type("OTAS_BASE_URL"), OTAS_OPTION_URL);
	CHECK_INT(otas_config_type("OTAS_REDACT_REQUEST_BODY"),
	          OTAS_OPTION_RULES);
	CHECK_INT(otas_config_type("OTAS_DEBUG"), OTAS_OPTION_BOOL);
	CHECK_INT(otas_config_type("OTAS_BATCH_MAX_EVENTS"), OTAS_OPTION_INT);
	CHECK_INT(otas_config_type("OTAS_QUEUE_MAX_BYTES"), OTAS_OPTION_SIZE);
	CHECK_INT(otas_config_type("OTAS_TAGS"), OTAS_OPTION_STRING);
	CHECK_INT(otas_config_type("OTAS_NOPE"), OTAS_OPTION_UNKNOWN);
	CHECK_INT(otas_config_type(NULL), OTAS_OPTION_UNKNOWN);
}

TEST(key_is_never_echoed)
{
	otas_config_t *c = otas_config_new();
	const char *bad = "otas_short_secretvalue123";

	CHECK(otas_config_set(c, "OTAS_SDK_KEY", bad, err, sizeof(err)) == -1);
	CHECK(strstr(err, "does not look like an OTAS key"));
	CHECK(strstr(err, "secretvalue") == NULL);
	CHECK(otas_config_set(c, "OTAS_SDK_KEY", "sk_live_1234", err,
	                      sizeof(err)) == -1);
	CHECK(strstr(err, "sk_live") == NULL);
	CHECK(otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err)) == 0);
	CHECK_STR(GET(c, "OTAS_SDK_KEY"), "otas_***");
	otas_config_free(c);
}

TEST(cross_checks)
{
	otas_config_t *c = otas_config_new();

	CHECK(otas_config_check(c, err, sizeof(err)) == 0);
	CHECK(otas_config_set(c, "OTAS_QUEUE_MAX_BYTES", "65536", err,
	                      sizeof(err)) == 0);
	CHECK(otas_config_check(c, err, sizeof(err)) == -1);
	CHECK(strstr(err, "OTAS_BATCH_MAX_BYTES") &&
	      strstr(err, "OTAS_QUEUE_MAX_BYTES"));
	otas_config_free(c);
}

TEST(engine_new_requires_key)
{
	otas_config_t *c = otas_config_new();
	otas_engine_t *e;

	e = otas_engine_new(c, err, sizeof(err)); /* takes c */
	CHECK(e == NULL);
	CHECK(strstr(err, "OTAS_SDK_KEY is not set"));
	c = otas_config_new();
	otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err));
	e = otas_engine_new(c, err, sizeof(err));
	CHECK(e != NULL);
	otas_engine_free(e, 0);
}

TEST(names_split)
{
	size_t n;
	char **v = otas__names_split(" X-Foo , ,bar,", &n);

	CHECK_INT(n, 2);
	CHECK_STR(v[0], "x-foo");
	CHECK_STR(v[1], "bar");
	CHECK(v[2] == NULL);
	otas__names_free(v);
	v = otas__names_split("", &n);
	CHECK_INT(n, 0);
	otas__names_free(v);
}

int
main(void)
{
	RUN(defaults);
	RUN(every_name_reads_back);
	RUN(compression_is_validated);
	RUN(parsing);
	RUN(bad_values_name_option_value_and_fix);
	RUN(bad_rules_fail_the_check_naming_the_option);
	RUN(describe_lists_every_option_without_secrets);
	RUN(types_are_the_public_enum);
	RUN(key_is_never_echoed);
	RUN(cross_checks);
	RUN(engine_new_requires_key);
	RUN(names_split);
	return testlib_done();
}
