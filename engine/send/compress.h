/*
 * compress.h -- gzip for batch bodies, and zstd for collectors that decode
 * it.  The only engine file that includes zstd.h.  (Bounded gunzip for
 * captured request bodies is common/gunzip.h.)
 */
#ifndef OTAS_COMPRESS_H
#define OTAS_COMPRESS_H

#include <stddef.h>

#include "common/buf.h"

/* Append the gzip encoding of in to out.  0, or -1 (zlib error / oom). */
int otas__gzip(const void *in, size_t len, otas__buf_t *out);

/* Append the zstd (level 1) encoding of in to out.  *ctx is a compression
 * context created on first use and reused (free with otas__zstd_free).
 * 0, or -1 (oom / zstd error). */
int otas__zstd(void **ctx, const void *in, size_t len, otas__buf_t *out);
void otas__zstd_free(void *ctx);

#endif
