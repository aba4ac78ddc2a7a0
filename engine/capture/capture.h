/*
 * capture.h -- one captured request/response as ONE allocation: this
 * struct, the header and error arrays, then every byte the host gave.
 * The embedded otas_capture_t points into the same block, so serialisation
 * reads it exactly as the host passed it, and freeing is one free().
 */
#ifndef OTAS_CAPTURE_H
#define OTAS_CAPTURE_H

#include <stdint.h>

#include "common/clock.h"
#include "otas/otas.h"

struct otas__record_s {
	struct otas__record_s *next;
	size_t size;            /* bytes captured in this block (queue
	                         * budget) */
	unsigned pool_class;    /* 0: plain malloc; k: a block of the
	                         * record pool's class k-1 (capture.c) */
	uint64_t seq;           /* set by the queue under its lock */
	int64_t enq_mono_ms;    /* monotonic time of capture */
	int64_t capture_unix_us;/* wall clock at capture */
	char event_id[37];      /* UUIDv7 */
	otas_capture_t cap;     /* pointers into this block */
};

/* Build a record from cap.  NULL on oom or bad arguments (*bad set). */
struct otas__record_s *otas__record_new(const otas_capture_t *cap,
                                        int *bad);

/* Give a record back: a large block goes to the record pool (bounded),
 * anything else to free().  free() on a record is also correct, it only
 * bypasses the pool.  NULL is ignored. */
void otas__record_free(struct otas__record_s *r);

/* The record pool, for tests: idle blocks and bytes it holds now. */
void otas__pool_stats(size_t *blocks, size_t *bytes);
/* Free every idle block of the pool (tests, engine teardown). */
void otas__pool_drain(void);

#define OTAS__POOL_MIN_SHIFT 15 /* blocks of >= 32 KiB are pooled */
#define OTAS__POOL_MAX_SHIFT 24 /* ... up to 16 MiB */
#define OTAS__POOL_MAX_BYTES ((size_t)8 << 20) /* idle bytes held, max */

/* Write a UUIDv7 for unix time ms into out (36 chars + NUL). */
void otas__uuid7(int64_t unix_ms, char out[37]);

/* Clock helpers: otas__now_mono_ms(), otas__now_unix_us() (common/clock.h). */

/* Per-thread random 64 bits (seeded from getrandom, reseeded after fork). */
uint64_t otas__rand64(void);
/* Called in a forked child: invalidates every thread's random state. */
void otas__rand_fork_child(void);

#endif
