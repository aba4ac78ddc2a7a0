/*
 * gunzip.h -- bounded gunzip of a gzip (or zlib) stream, keeping the
 * prefix that fits.  Used by the engine for captured request bodies and by
 * the tests' fake server.
 */
#ifndef OTAS_COMMON_GUNZIP_H
#define OTAS_COMMON_GUNZIP_H

#include <stddef.h>

#include "common/buf.h"

/* Append at most max_out decoded bytes of a gzip (or zlib) stream to out.
 * *cut is set to 1 when the stream holds more than max_out bytes.
 * Returns 0, or -1 when the data is not a valid stream (out may hold a
 * prefix; the caller resets it).  (otas-collector's otas__gunzip in
 * collector/src/ingest.c refuses instead of cutting: another contract.) */
int otas__gunzip_prefix(const void *in, size_t len, size_t max_out,
                        otas__buf_t *out, int *cut);

#endif
