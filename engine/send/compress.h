/*
 * compress.h -- gzip for batch bodies.  (Bounded gunzip for captured
 * request bodies is common/gunzip.h.)
 */
#ifndef OTAS_COMPRESS_H
#define OTAS_COMPRESS_H

#include <stddef.h>

#include "common/buf.h"

/* Append the gzip encoding of in to out.  0, or -1 (zlib error / oom). */
int otas__gzip(const void *in, size_t len, otas__buf_t *out);

#endif
