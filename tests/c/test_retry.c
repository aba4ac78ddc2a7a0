/*
 * test_retry.c -- the pure delivery policy: jittered backoff bounds and
 * Retry-After parsing.  (Status classification: test_protocol.c.)
 */
#include "send/retry.h"
#include "testlib.h"

TEST(backoff_is_capped_full_jitter)
{
	uint64_t r;
	int a;

	/* rnd = max possible picks the top of the range */
	CHECK_INT(otas__retry_delay_ms(1, 500, 500, 30000), 500);
	CHECK_INT(otas__retry_delay_ms(1, 501, 500, 30000), 0);
	CHECK_INT(otas__retry_delay_ms(2, 1000, 500, 30000), 1000);
	CHECK_INT(otas__retry_delay_ms(3, 2000, 500, 30000), 2000);
	CHECK_INT(otas__retry_delay_ms(40, 30000, 500, 30000), 30000);
	CHECK_INT(otas__retry_delay_ms(1000000, 30000, 500, 30000), 30000);
	for (a = 1; a < 70; a++)
		for (r = 0; r < 100000; r += 7919) {
			int64_t d = otas__retry_delay_ms(a, r * 2654435761u,
			                                 500, 30000);
			CHECK(d >= 0 && d <= 30000);
		}
	CHECK_INT(otas__retry_delay_ms(0, 7, 500, 30000), 7);
}

TEST(retry_after_seconds_and_dates)
{
	/* 1994-11-06 08:49:37 UTC = 784111777 */
	const int64_t t = 784111777;

	CHECK_INT(otas__retry_after_ms("1", t), 1000);
	CHECK_INT(otas__retry_after_ms(" 120 ", t), 120000);
	CHECK_INT(otas__retry_after_ms("0", t), 0);
	CHECK_INT(otas__retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", t),
	          10000);
	CHECK_INT(otas__retry_after_ms("Sunday, 06-Nov-94 08:49:57 GMT", t),
	          20000);
	CHECK_INT(otas__retry_after_ms("Sun Nov  6 08:50:37 1994", t), 60000);
	CHECK_INT(otas__retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", t), 0);
	CHECK_INT(otas__retry_after_ms("", t), -1);
	CHECK_INT(otas__retry_after_ms(NULL, t), -1);
	CHECK_INT(otas__retry_after_ms("-1", t), -1);
	CHECK_INT(otas__retry_after_ms("1.5", t), -1);
	CHECK_INT(otas__retry_after_ms("soon", t), -1);
	CHECK_INT(otas__retry_after_ms("Sun, 06 Nov 1994 08:49:37 UTC", t), -1);
	CHECK_INT(otas__retry_after_ms("99999999999999999999", t), -1);
	CHECK_INT(otas__retry_after_ms("Sun, 32 Nov 1994 08:49:37 GMT", t), -1);
}

int
main(void)
{
	RUN(backoff_is_capped_full_jitter);
	RUN(retry_after_seconds_and_dates);
	return testlib_done();
}
