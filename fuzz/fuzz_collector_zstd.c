/*
 * fuzz_collector_zstd.c -- the collector's zstd body decoder (ingest.c)
 * on arbitrary bytes: never more than the cap, never a crash; the first
 * byte picks a cap from 0 to 64 KiB.  Half the inputs are taken as the
 * content of a zstd frame (compressed here, so the decoder sees valid
 * frames too), which must decode to exactly that content when it fits.
 */
#include "ingest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	otas__buf_t out = OTAS__BUF_INIT;
	size_t limit;
	int rc;

	if (size < 1)
		return 0;
	limit = (size_t)data[0] * 256;
	data++;
	size--;
	if (size && (data[0] & 1)) {
		size_t bound = ZSTD_compressBound(size), n;
		void *z = malloc(bound);
		if (!z)
			return 0;
		n = ZSTD_compress(z, bound, data, size, 1);
		if (ZSTD_isError(n))
			abort();
		rc = otas__unzstd(z, n, limit, &out);
		if (size <= limit) {
			if (rc != OTAS__INGEST_OK || out.len != size ||
			    memcmp(out.data, data, size) != 0)
				abort();
		} else if (rc != OTAS__INGEST_TOO_LARGE) {
			abort();
		}
		free(z);
	} else {
		rc = otas__unzstd(data, size, limit, &out);
		if (rc != OTAS__INGEST_OK && rc != OTAS__INGEST_BAD_GZIP &&
		    rc != OTAS__INGEST_TOO_LARGE)
			abort();
	}
	if (out.len > limit)
		abort();
	otas__buf_free(&out);
	return 0;
}
