/*
 * test_stats.c -- stats/: the counters of OTAS_STATS_FIELDS, added from
 * any thread, read into otas_stats_t, reset in a forked child.
 */
#include <pthread.h>
#include <string.h>

#include "stats/stats.h"
#include "testlib.h"

static otas__counters_t g_c;

static void *
adder(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 100000; i++) {
		OTAS__INC(&g_c, captured, 1);
		OTAS__INC(&g_c, bytes_sent, 3);
	}
	return NULL;
}

TEST(every_counter_read_and_reset)
{
	otas_stats_t st = OTAS_STATS_INIT;
	uint64_t v = 1;

	memset(&g_c, 0, sizeof(g_c));
	/* A distinct value in each counter, in table order. */
#define C(name, ...) OTAS__INC(&g_c, name, v++);
#define NONE(...)
	OTAS_STATS_FIELDS(C, NONE, NONE)
#undef C
	st.queue_bytes = 77; /* gauges are not the counters' */
	otas__counters_read(&g_c, &st);
	v = 1;
#define C(name, ...) CHECK_INT(st.name, v++);
	OTAS_STATS_FIELDS(C, NONE, NONE)
#undef C
	CHECK_INT(st.queue_bytes, 77);
	otas__counters_reset(&g_c);
	otas__counters_read(&g_c, &st);
#define C(name, ...) CHECK_INT(st.name, 0);
	OTAS_STATS_FIELDS(C, NONE, NONE)
#undef C
#undef NONE
}

/* Two threads add without a lock (relaxed atomics): nothing is lost. */
TEST(concurrent_adds_are_not_lost)
{
	pthread_t t[2];
	otas_stats_t st = OTAS_STATS_INIT;
	int i;

	otas__counters_reset(&g_c);
	for (i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, adder, NULL) == 0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	otas__counters_read(&g_c, &st);
	CHECK_INT(st.captured, 200000);
	CHECK_INT(st.bytes_sent, 600000);
}

int
main(void)
{
	RUN(every_counter_read_and_reset);
	RUN(concurrent_adds_are_not_lost);
	return testlib_done();
}
