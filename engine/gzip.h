/*
 * gzip.h -- gzip for batch bodies and bounded gunzip for captured request
 * bodies, and zstd for collectors that decode it.  The only engine file
 * that includes zlib.h or zstd.h.
 */
#ifndef OTAS_GZIP_H
#define OTAS_GZIP_H

#include <stddef.h>

#include "util/buf.h"

/* Append the gzip encoding of in to out.  0, or -1 (zlib error / oom). */
int otas__gzip(const void *in, size_t len, otas__buf_t *out);

/* Append the zstd (level 1) encoding of in to out.  *ctx is a compression
 * context created on first use and reused (free with otas__zstd_free).
 * 0, or -1 (oom / zstd error). */
int otas__zstd(void **ctx, const void *in, size_t len, otas__buf_t *out);
void otas__zstd_free(void *ctx);

/* Append at most max_out decoded bytes of a gzip (or zlib) stream to out.
 * *cut is set to 1 when the stream holds more than max_out bytes.
 * Returns 0, or -1 when the data is not a valid stream (out may hold a
 * prefix; the caller resets it). */
int otas__gunzip(const void *in, size_t len, size_t max_out, otas__buf_t *out,
                 int *cut);

#endif
