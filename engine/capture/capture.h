/*
 * capture.h -- one captured request/response as ONE allocation: this
 * struct, the header and error arrays, then every byte the host gave.
 * The embedded otas_capture_t points into the same block (but for the
 * bodies a host lends, OTAS_CAP_*_BODY_BORROWED, kept by pointer until
 * otas__record_free() hands them back), so serialisation reads it exactly
 * as the host passed it, and freeing is one free().
 */
#ifndef OTAS_CAPTURE_H
#define OTAS_CAPTURE_H

#include <stdint.h>

#include "common/clock.h"
#include "otas/otas.h"

struct otas__record_s {
	struct otas__record_s *next;
	size_t size;            /* bytes of this block (queue budget) */
	size_t alloc;           /* bytes allocated, >= size; 0: an item not
	                         * made by otas__record_new() */
	uint64_t seq;           /* set by the queue under its lock */
	int kind;               /* OTAS__ITEM_* (queue.h), set by the push */
	int64_t enq_mono_ms;    /* monotonic time of capture */
	int64_t capture_unix_us;/* wall clock at capture */
	char event_id[37];      /* UUIDv7 */
	/* Bodies lent by the host (OTAS_CAP_*_BODY_BORROWED): release(owner)
	 * once, by otas__record_free(); NULL: every byte is in the block. */
	void (*release)(void *owner);
	void *owner;
	otas_capture_t cap;     /* pointers into this block */
};

/* Build a record from cap.  NULL on oom or bad arguments (*bad set). */
struct otas__record_s *otas__record_new(const otas_capture_t *cap,
                                        int *bad);

/* Free a queue item (any kind; NULL is a no-op).  A big record's block may
 * be kept for the next big capture instead (see capture.c).  Any thread. */
void otas__record_free(struct otas__record_s *r);

/* Write a UUIDv7 for unix time ms into out (36 chars + NUL). */
void otas__uuid7(int64_t unix_ms, char out[37]);

/* Clock helpers: otas__now_mono_ms(), otas__now_unix_us() (common/clock.h). */

/* Per-thread random 64 bits (seeded from getrandom, reseeded after fork). */
uint64_t otas__rand64(void);
/* Called in a forked child: invalidates every thread's random state. */
void otas__rand_fork_child(void);

#endif
