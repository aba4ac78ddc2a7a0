/*
 * fuzz_gunzip.c -- gunzip of captured request bodies, bounded:
 * arbitrary bytes as a gzip stream must never produce more than the cap
 * nor crash.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/gunzip.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	otas__buf_t b = OTAS__BUF_INIT;
	int cut = 0;

	otas__gunzip_prefix(data, size, 4096, &b, &cut);
	if (b.len > 4096)
		abort();
	otas__buf_free(&b);
	return 0;
}
