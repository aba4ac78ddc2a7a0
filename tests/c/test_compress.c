/*
 * test_compress.c -- gzip round trip, bounded gunzip, invalid streams; the
 * zstd batch compressor.
 */
#include <stdlib.h>
#include <zstd.h>

#include "common/gunzip.h"
#include "send/compress.h"
#include "testlib.h"

TEST(round_trip)
{
	otas__buf_t z = OTAS__BUF_INIT, o = OTAS__BUF_INIT;
	char *big = malloc(200000);
	int cut, i;

	for (i = 0; i < 200000; i++)
		big[i] = (char)('a' + i % 7);
	CHECK(otas__gzip(big, 200000, &z) == 0);
	CHECK((unsigned char)z.data[0] == 0x1f &&
	      (unsigned char)z.data[1] == 0x8b);
	CHECK(z.len < 20000);
	CHECK(otas__gunzip_prefix(z.data, z.len, 1 << 20, &o, &cut) == 0);
	CHECK_INT(cut, 0);
	CHECK_INT(o.len, 200000);
	CHECK(memcmp(o.data, big, 200000) == 0);
	otas__buf_reset(&z);
	CHECK(otas__gzip("", 0, &z) == 0);
	otas__buf_reset(&o);
	CHECK(otas__gunzip_prefix(z.data, z.len, 10, &o, &cut) == 0);
	CHECK_INT(o.len, 0);
	free(big);
	otas__buf_free(&z);
	otas__buf_free(&o);
}

TEST(bounded_and_invalid)
{
	otas__buf_t z = OTAS__BUF_INIT, o = OTAS__BUF_INIT;
	char *zeros = calloc(1, 8 << 20);
	int cut;

	CHECK(otas__gzip(zeros, 8 << 20, &z) == 0);
	CHECK(otas__gunzip_prefix(z.data, z.len, 1000, &o, &cut) == 0);
	CHECK_INT(cut, 1);
	CHECK_INT(o.len, 1000);
	otas__buf_reset(&o);
	CHECK(otas__gunzip_prefix("not gzip", 8, 1000, &o, &cut) == -1);
	otas__buf_reset(&o);
	/* a truncated stream is an error, not a silent short body */
	CHECK(otas__gunzip_prefix(z.data, z.len / 2, 64 << 20, &o, &cut) == -1);
	free(zeros);
	otas__buf_free(&z);
	otas__buf_free(&o);
}

TEST(zstd_round_trip_and_smaller)
{
	otas__buf_t z = OTAS__BUF_INIT, g = OTAS__BUF_INIT;
	void *ctx = NULL;
	char *big = malloc(200000), *back = malloc(200000);
	int i, k;

	for (i = 0; i < 200000; i++)
		big[i] = (char)("{\"method\":\"GET\",\"status\":200}"[i % 30] +
		                (i / 997) % 3);
	/* The context is made once and reused: three batches, same bytes. */
	for (k = 0; k < 3; k++) {
		otas__buf_reset(&z);
		otas__buf_puts(&z, "x"); /* appends after what is there */
		CHECK(otas__zstd(&ctx, big, 200000, &z) == 0);
		CHECK(ctx != NULL);
		CHECK(z.data[0] == 'x');
		CHECK((unsigned char)z.data[1] == 0x28 &&
		      (unsigned char)z.data[2] == 0xb5); /* frame magic */
		CHECK_INT(ZSTD_decompress(back, 200000, z.data + 1,
		                          z.len - 1), 200000);
		CHECK(memcmp(back, big, 200000) == 0);
	}
	CHECK(otas__gzip(big, 200000, &g) == 0);
	CHECK(z.len - 1 < g.len);
	otas__buf_reset(&z);
	CHECK(otas__zstd(&ctx, "", 0, &z) == 0);
	CHECK_INT(ZSTD_decompress(back, 10, z.data, z.len), 0);
	otas__zstd_free(ctx);
	otas__zstd_free(NULL);
	free(big);
	free(back);
	otas__buf_free(&z);
	otas__buf_free(&g);
}

int
main(void)
{
	RUN(round_trip);
	RUN(zstd_round_trip_and_smaller);
	RUN(bounded_and_invalid);
	return testlib_done();
}
