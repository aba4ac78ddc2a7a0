/*
 * test_http_curl.c -- URL joining and one kept-alive handle.
 */
#include <stdlib.h>

#include "fake_server.c"
#include "send/http_curl.h"
#include "testlib.h"

TEST(url_join_has_one_slash)
{
	char *u;

	u = otas__url_join("http://h:1", "api/x/");
	CHECK_STR(u, "http://h:1/api/x/");
	free(u);
	u = otas__url_join("http://h:1/", "/api/x/");
	CHECK_STR(u, "http://h:1/api/x/");
	free(u);
	u = otas__url_join("http://h:1/base//", "api/");
	CHECK_STR(u, "http://h:1/base/api/");
	free(u);
}

TEST(keep_alive_and_retry_after)
{
	fs_t *fs = fs_start();
	otas__http_t *h = otas__http_new();
	otas__http_resp_t r;
	fs_reply_t rep[1];
	const char *hd[1] = {"X-Test: 1"};
	char *url = otas__url_join(fs_url(fs), "api/v1/backend/log/sdk/");
	int i;

	memset(&r, 0, sizeof(r));
	memset(rep, 0, sizeof(rep));
	rep[0].status = 429;
	snprintf(rep[0].headers, sizeof(rep[0].headers),
	         "Retry-After: 7\r\n");
	fs_script(fs, rep, 1);
	CHECK(otas__http_post(h, url, hd, 1, "{}", 2, 2000, &r) == 0);
	CHECK_INT(r.status, 429);
	CHECK_STR(r.retry_after, "7");
	for (i = 0; i < 5; i++) {
		CHECK(otas__http_post(h, url, hd, 1, "{}", 2, 2000, &r) == 0);
		CHECK_INT(r.status, 201);
		CHECK_STR(r.retry_after, "");
		CHECK(strstr(r.body.data, "event_captured"));
	}
	pthread_mutex_lock(&fs->mu);
	CHECK_INT(fs->n_conns, 1); /* six requests, one connection */
	pthread_mutex_unlock(&fs->mu);
	fs_stop(fs);
	CHECK(otas__http_post(h, url, hd, 1, "{}", 2, 2000, &r) == -1);
	CHECK_INT(r.status, 0);
	CHECK(r.error[0] != '\0');
	free(url);
	otas__buf_free(&r.body);
	otas__http_free(h);
}

/* Four POSTs in flight on four kept-alive connections, three rounds:
 * every answer arrives once, on its own slot, and no round opens a new
 * connection. */
TEST(transfers_in_flight)
{
	fs_t *fs = fs_start();
	otas__http_t *h = otas__http_new();
	otas__http_resp_t r[4];
	const char *hd[1] = {"X-Test: 1"};
	char *url = otas__url_join(fs_url(fs), "api/v1/backend/log/sdk/");
	int round, i, seen, got[4];

	memset(r, 0, sizeof(r));
	CHECK(otas__http_set_slots(h, 0) == -1);
	CHECK(otas__http_set_slots(h, OTAS__HTTP_SLOTS + 1) == -1);
	CHECK(otas__http_set_slots(h, 4) == 0);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 4; i++)
			CHECK(otas__http_start(h, i, url, hd, 1, "{}", 2, 2000,
			                       &r[i]) == 0);
		CHECK(otas__http_start(h, 2, url, hd, 1, "{}", 2, 2000,
		                       &r[2]) == -1); /* busy */
		CHECK_INT(otas__http_busy(h) <= 4, 1);
		memset(got, 0, sizeof(got));
		for (seen = 0; seen < 4;) {
			int k = otas__http_wait(h, 2000);
			CHECK(k >= 0 && k < 4);
			CHECK_INT(got[k], 0);
			got[k] = 1;
			CHECK_INT(r[k].status, 201);
			seen++;
		}
		CHECK_INT(otas__http_busy(h), 0);
		CHECK_INT(otas__http_wait(h, 0), -1);
	}
	CHECK_INT(fs_count(fs), 12);
	pthread_mutex_lock(&fs->mu);
	CHECK(fs->n_conns >= 1 && fs->n_conns <= 4);
	pthread_mutex_unlock(&fs->mu);
	fs_stop(fs);
	free(url);
	for (i = 0; i < 4; i++)
		otas__buf_free(&r[i].body);
	otas__http_free(h);
}

int
main(void)
{
	RUN(url_join_has_one_slash);
	RUN(keep_alive_and_retry_after);
	RUN(transfers_in_flight);
	return testlib_done();
}
