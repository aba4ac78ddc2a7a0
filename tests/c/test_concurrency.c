/*
 * test_concurrency.c -- the engine driven from several host threads at
 * once: captures, entity updates and stats readers racing the sender
 * (retries and batches in flight), then shutdown with updates still
 * queued.  Every tenth event carries a 40 KB body, so big records' blocks
 * go through capture.c's pool of spare blocks between the host threads
 * and the sender; every twentieth lends it instead (body_release, called
 * by the sender or at engine free, exactly once per queued event).  Meant for the sanitizer builds (make asan / make tsan), where
 * a data race, a leak or a use after free fails the run; the counts are
 * checked in every build.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fake_server.c"
#include "testlib.h"

#define KEY "otas_AAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define THREADS 4
#define EVENTS 240
#define UPDATES 20

static otas_engine_t *g_eng;
static char g_body[40 * 1024];
static volatile int g_stop;
static int g_fail[THREADS];
static int g_lent[THREADS], g_back[THREADS];

static void
lent_back(void *owner)
{
	__atomic_fetch_add((int *)owner, 1, __ATOMIC_RELAXED);
}

static void
lent_reset(void)
{
	memset(g_lent, 0, sizeof(g_lent));
	memset(g_back, 0, sizeof(g_back));
}

/* After otas_engine_free(): every lent body came back, once. */
static void
lent_check(void)
{
	int i;

	for (i = 0; i < THREADS; i++) {
		CHECK_INT(g_lent[i], EVENTS / 20);
		CHECK_INT(__atomic_load_n(&g_back[i], __ATOMIC_RELAXED),
		          g_lent[i]);
	}
}

static void *
producer(void *arg)
{
	int id = (int)(intptr_t)arg, i;
	char u[96];
	otas_capture_t c;

	otas_capture_init(&c);
	c.method = "GET";
	c.method_len = 3;
	c.path = "/t";
	c.path_len = 2;
	c.req_body_size = -1;
	c.resp_body_size = -1;
	c.status = 200;
	for (i = 0; i < EVENTS; i++) {
		int lend = i % 20 == 0;
		c.req_body = i % 10 == 0 ? g_body : NULL;
		c.req_body_len = i % 10 == 0 ? sizeof(g_body) : 0;
		c.flags = lend ? OTAS_CAP_REQ_BODY_BORROWED : 0;
		c.body_release = lend ? lent_back : NULL;
		c.body_owner = lend ? &g_back[id] : NULL;
		if (otas_capture(g_eng, &c, NULL) != OTAS_OK)
			g_fail[id]++;
		else if (lend)
			g_lent[id]++;
		if (i % (EVENTS / UPDATES) == 0) {
			int n = snprintf(u, sizeof(u),
			                 "{\"user_id\":\"u%d-%d\"}", id, i);
			if (otas_entity(g_eng, OTAS_ENTITY_USER, u,
			                (size_t)n) != 0)
				g_fail[id]++;
		}
	}
	return NULL;
}

static void *
reader(void *arg)
{
	otas_stats_t st = OTAS_STATS_INIT;

	(void)arg;
	while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED))
		otas_stats(g_eng, &st);
	return NULL;
}

static otas_engine_t *
mk(const char *url)
{
	otas_config_t *c = otas_config_new();
	char err[256];
	otas_engine_t *e;

	otas_config_set(c, "OTAS_SDK_KEY", KEY, err, sizeof(err));
	otas_config_set(c, "OTAS_BASE_URL", url, err, sizeof(err));
	otas_config_set(c, "OTAS_SPOOL_MAX_BYTES", "0", err, sizeof(err));
	otas_config_set(c, "OTAS_BATCH_MAX_EVENTS", "50", err, sizeof(err));
	e = otas_engine_new(c, err, sizeof(err));
	CHECK(e != NULL);
	return e;
}

/* Every event and update is delivered once, though the first requests
 * fail (updates and events retried while others are pushed). */
TEST(threads_race_the_sender)
{
	fs_t *fs = fs_start();
	fs_reply_t fail[3];
	pthread_t t[THREADS], rd;
	otas_stats_t st = OTAS_STATS_INIT;
	int i;

	memset(g_body, 'b', sizeof(g_body));
	memset(fail, 0, sizeof(fail));
	for (i = 0; i < 3; i++)
		fail[i].status = 503;
	fs_script(fs, fail, 3);
	g_eng = mk(fs_url(fs));
	g_stop = 0;
	lent_reset();
	CHECK(otas_engine_authenticate(g_eng, 2000, NULL) == OTAS_AUTH_OK);
	CHECK(pthread_create(&rd, NULL, reader, NULL) == 0);
	for (i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, producer,
		                     (void *)(intptr_t)i) == 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_INT(otas_flush(g_eng, 30000), OTAS_OK);
	__atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
	pthread_join(rd, NULL);
	for (i = 0; i < THREADS; i++)
		CHECK_INT(g_fail[i], 0);
	otas_stats(g_eng, &st);
	CHECK_INT(st.sent, THREADS * EVENTS);
	CHECK_INT(st.entities_sent, THREADS * UPDATES);
	CHECK_INT(st.dropped_entities, 0);
	otas_engine_free(g_eng, 1000);
	g_eng = NULL;
	lent_check();
	fs_stop(fs);
}

/* Shutdown with updates and events queued and nowhere to send them:
 * everything is freed and counted, nothing touched after free. */
TEST(shutdown_with_updates_queued)
{
	pthread_t t[THREADS];
	int i;

	memset(g_body, 'b', sizeof(g_body));
	g_eng = mk("http://127.0.0.1:9");
	lent_reset();
	for (i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, producer,
		                     (void *)(intptr_t)i) == 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	otas_engine_free(g_eng, 200);
	g_eng = NULL;
	lent_check();
}

int
main(void)
{
	RUN(threads_race_the_sender);
	RUN(shutdown_with_updates_queued);
	return testlib_done();
}
