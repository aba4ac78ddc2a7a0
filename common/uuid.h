/*
 * uuid.h -- the UUID text form and the UUIDv7 layout (RFC 9562), shared by
 * the engine (event ids, capture/capture.c) and otas-collector (ids,
 * collector/src/util.c).  Each brings its own random bytes: the engine a
 * per-thread xoshiro256** stream, the collector getrandom().
 */
#ifndef OTAS_COMMON_UUID_H
#define OTAS_COMMON_UUID_H

#include <stdint.h>

/* Stamp b as a UUIDv7: the Unix time in ms in b[0..5] (big-endian), the
 * version (7) and variant (10) bits; b[6..15] keep the caller's random
 * bits otherwise. */
void otas__uuid7_stamp(unsigned char b[16], uint64_t ms);

/* The 36-character lower-case 8-4-4-4-12 form of b, NUL-terminated. */
void otas__uuid_format(const unsigned char b[16], char out[37]);

#endif
