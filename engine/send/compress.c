/*
 * compress.c -- batch compression: zlib gzip, and zstd for collectors
 * that decode it.
 *
 * Compression uses level 1: batches are JSON with much repetition, level 1
 * already shrinks them 5-10x, and the sender thread shares two cores with
 * the application.  (Bounded decompression of captured bodies is
 * common/gunzip.c.)
 */
#include "send/compress.h"

#include <string.h>
#include <zlib.h>
#include <zstd.h>

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

/* zstd level 1 for collectors that say they decode it: about a fifth of
 * zlib level 1's CPU per byte, and smaller output (docs/performance.md).
 * The context is kept by the caller (one per sender thread). */
int
otas__zstd(void **ctx, const void *in, size_t len, otas__buf_t *out)
{
	ZSTD_CCtx *cc = *ctx;
	size_t bound = ZSTD_compressBound(len), n;

	if (!cc) {
		cc = ZSTD_createCCtx();
		if (!cc)
			return -1;
		*ctx = cc;
	}
	if (otas__buf_reserve(out, bound) != 0)
		return -1;
	n = ZSTD_compressCCtx(cc, out->data + out->len, bound, in, len, 1);
	if (ZSTD_isError(n))
		return -1;
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

void
otas__zstd_free(void *ctx)
{
	ZSTD_freeCCtx(ctx);
}
