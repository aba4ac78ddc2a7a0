/*
 * compress.c -- batch compression (zlib gzip).
 *
 * Compression uses level 1: batches are JSON with much repetition, level 1
 * already shrinks them 5-10x, and the sender thread shares two cores with
 * the application.  (Bounded decompression of captured bodies is
 * common/gunzip.c.)
 */
#include "send/compress.h"

#include <string.h>
#include <zlib.h>

int
otas__gzip(const void *in, size_t len, otas__buf_t *out)
{
	z_stream zs;
	int rc;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -1;
	if (otas__buf_reserve(out, deflateBound(&zs, (uLong)len) + 16) != 0)
		goto fail;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out->data + out->len;
	zs.avail_out = (uInt)(out->cap - out->len - 1);
	rc = deflate(&zs, Z_FINISH);
	if (rc != Z_STREAM_END)
		goto fail;
	out->len += zs.total_out;
	out->data[out->len] = '\0';
	deflateEnd(&zs);
	return 0;
fail:
	deflateEnd(&zs);
	return -1;
}
