/*
 * test_auth.c -- the authentication answer in all its shapes, and
 * otas_authenticate_key() against a loopback server and a closed port.
 */
#include "engine.h"
#include "send/auth.h"
#include "send/protocol.h"
#include "fake_server.c"
#include "testlib.h"

#define KEY "otas_PocKPi56xDI_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"

static otas_auth_result_t r = OTAS_AUTH_RESULT_INIT;

static int
parse(int st, const char *body)
{
	otas_auth_result_init(&r);
	return otas__auth_parse(st, body, strlen(body), &r);
}

TEST(ok_lower_and_capitalised)
{
	CHECK_INT(parse(200, "{\"status\":1,\"status_description\":"
	                     "\"authenticated\",\"response\":{\"project\":"
	                     "{\"id\":\"u-1\",\"name\":\"N\",\"description\":"
	                     "\"D\"}}}"),
	          OTAS_AUTH_OK);
	CHECK_STR(r.project_id, "u-1");
	CHECK_STR(r.project_name, "N");
	CHECK_STR(r.project_description, "D");
	CHECK_INT(r.http_status, 200);
	CHECK_INT(parse(200, "{\"Status\":1,\"Response\":{\"project\":"
	                     "{\"id\":\"u-2\"}}}"),
	          OTAS_AUTH_OK);
	CHECK_STR(r.project_id, "u-2");
}

TEST(refusals_carry_the_platform_words)
{
	CHECK_INT(parse(403, "{\"error\":\"Invalid SDK Key\"}"),
	          OTAS_AUTH_INVALID_KEY);
	CHECK_STR(r.message, "Invalid SDK Key");
	CHECK_INT(parse(403, "{\"error\":\"Invalid Key Format\"}"),
	          OTAS_AUTH_INVALID_KEY);
	CHECK_STR(r.message, "Invalid Key Format");
	CHECK_INT(parse(401, "{\"error\":\"SDK Key missing\"}"),
	          OTAS_AUTH_INVALID_KEY);
	CHECK_STR(r.message, "SDK Key missing");
	CHECK_INT(parse(200, "{\"status\":0,\"status_description\":"
	                     "\"key expired\"}"),
	          OTAS_AUTH_INVALID_KEY);
	CHECK(strstr(r.message, "key expired"));
	CHECK_INT(parse(401, "not json"), OTAS_AUTH_INVALID_KEY);
}

TEST(faults_are_unreachable)
{
	CHECK_INT(parse(500, "{\"error\":\"boom\"}"), OTAS_AUTH_UNREACHABLE);
	CHECK(strstr(r.message, "500") && strstr(r.message, "boom"));
	CHECK_INT(parse(200, "<html>"), OTAS_AUTH_UNREACHABLE);
	CHECK_INT(parse(200, "{\"status\":1,\"response\":{}}"),
	          OTAS_AUTH_UNREACHABLE);
	CHECK_INT(parse(502, ""), OTAS_AUTH_UNREACHABLE);
}

TEST(over_the_wire)
{
	fs_t *fs = fs_start();
	char url[80];

	CHECK_INT(otas_authenticate_key(fs_url(fs), KEY, 2000, &r),
	          OTAS_AUTH_OK);
	CHECK_STR(r.project_id, "proj-1");
	fs_auth_status(fs, 403, 1);
	CHECK_INT(otas_authenticate_key(fs_url(fs), KEY, 2000, &r),
	          OTAS_AUTH_INVALID_KEY);
	CHECK_STR(r.message, "Invalid SDK Key");
	CHECK_INT(r.http_status, 403);
	CHECK(strstr(r.message, KEY) == NULL);
	/* trailing slash: no "//" in the path */
	snprintf(url, sizeof(url), "%s/", fs_url(fs));
	CHECK_INT(otas_authenticate_key(url, KEY, 2000, &r), OTAS_AUTH_OK);
	fs_stop(fs);
	CHECK_INT(otas_authenticate_key("http://127.0.0.1:9", KEY, 2000, &r),
	          OTAS_AUTH_UNREACHABLE);
	CHECK_INT(r.http_status, 0);
	CHECK(strstr(r.message, KEY) == NULL);
}

TEST(config_errors)
{
	CHECK_INT(otas_authenticate_key("http://x", "", 100, &r),
	          OTAS_AUTH_CONFIG);
	CHECK_INT(otas_authenticate_key("ftp://x", KEY, 100, &r),
	          OTAS_AUTH_CONFIG);
	CHECK_INT(otas_authenticate_key(NULL, KEY, 100, &r), OTAS_AUTH_CONFIG);
	CHECK_INT(otas_authenticate_key("http://x", "otas_a\r\nX: y", 100, &r),
	          OTAS_AUTH_CONFIG);
	CHECK_INT(otas_authenticate_key("http://x", "", 100, NULL),
	          OTAS_AUTH_CONFIG);
}

/* The state an answer leaves (auth.h): OK sets the project and zstd;
 * a refused key marks it refused and keeps the project; unreachable
 * changes nothing. */
TEST(state_follows_the_answers)
{
	otas__auth_t a;
	otas_auth_result_t res = OTAS_AUTH_RESULT_INIT;
	char pid[128];

	CHECK(otas__auth_init(&a, OTAS__AUTH_UNKNOWN) == 0);
	CHECK(!otas__auth_ok(&a));
	otas__auth_project(&a, pid, sizeof(pid));
	CHECK_STR(pid, "");
	res.status = OTAS_AUTH_OK;
	snprintf(res.project_id, sizeof(res.project_id), "p-9");
	res.accepts_zstd = 1;
	otas__auth_set(&a, &res);
	CHECK(otas__auth_ok(&a));
	CHECK_INT(atomic_load(&a.accepts_zstd), 1);
	otas__auth_project(&a, pid, sizeof(pid));
	CHECK_STR(pid, "p-9");
	res.status = OTAS_AUTH_UNREACHABLE;
	otas__auth_set(&a, &res);
	CHECK(otas__auth_ok(&a));
	res.status = OTAS_AUTH_INVALID_KEY;
	otas__auth_set(&a, &res);
	CHECK(!otas__auth_ok(&a));
	CHECK_INT(a.state, OTAS__AUTH_INVALID);
	otas__auth_project(&a, pid, sizeof(pid));
	CHECK_STR(pid, "p-9");
	otas__auth_destroy(&a);
	/* OTAS_EXPORTER=otlp: no authentication, OK from the start. */
	CHECK(otas__auth_init(&a, OTAS__AUTH_OK) == 0);
	CHECK(otas__auth_ok(&a));
	otas__auth_destroy(&a);
}

int
main(void)
{
	RUN(ok_lower_and_capitalised);
	RUN(refusals_carry_the_platform_words);
	RUN(faults_are_unreachable);
	RUN(over_the_wire);
	RUN(config_errors);
	RUN(state_follows_the_answers);
	return testlib_done();
}
