/*
 * gunzip.c -- bounded gunzip (see gunzip.h).
 *
 * Decompression of captured bodies is bounded by the body cap so that a
 * small "zip bomb" request cannot make the sender allocate gigabytes.
 */
#include "common/gunzip.h"

#include <stdint.h>
#include <string.h>
#include <zlib.h>

int
otas__gunzip_prefix(const void *in, size_t len, size_t max_out,
                    otas__buf_t *out, int *cut)
{
	z_stream zs;
	unsigned char chunk[16384];
	size_t got = 0;
	int rc;

	*cut = 0;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return -1;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		size_t have;

		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		rc = inflate(&zs, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			goto fail;
		have = sizeof(chunk) - zs.avail_out;
		if (got + have > max_out) {
			otas__buf_append(out, chunk, max_out - got);
			*cut = 1;
			break;
		}
		otas__buf_append(out, chunk, have);
		got += have;
		if (rc == Z_STREAM_END)
			break;
		if (rc == Z_BUF_ERROR || (zs.avail_in == 0 && have == 0))
			goto fail; /* truncated stream */
	}
	inflateEnd(&zs);
	return out->oom ? -1 : 0;
fail:
	inflateEnd(&zs);
	return -1;
}
