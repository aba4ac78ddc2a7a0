/*
 * queue.h -- the bounded queue between capturing threads and the sender.
 *
 * A FIFO of records under one mutex, bounded by the bytes of the records
 * it holds.  Push never blocks on anything but the mutex, which is held
 * for a pointer push and a few counter updates; a push over the budget is
 * refused (the caller drops and counts).  The same mutex guards the
 * sender's control fields (see sender.h), so that the sender
 * can wait on "records or a command" with one condition variable.
 */
#ifndef OTAS_QUEUE_H
#define OTAS_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define OTAS__QUEUE_PARKED 2

typedef struct otas__record_s otas__record_t;

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv_send; /* sender waits: records, flush, stop */
	pthread_cond_t cv_done; /* flushers wait: done_seq advanced */
	otas__record_t *head, *tail;
	uint64_t bytes;         /* guarded by mu */
	uint64_t count;         /* guarded by mu */
	uint64_t max_bytes;     /* immutable */
	uint64_t seq;           /* last sequence number given, guarded by mu */
	uint64_t wake_count;    /* signal the sender at this many records */
	uint64_t wake_bytes;    /* ... or this many bytes */
	int sender_waiting;     /* guarded by mu: sender is in cond_wait;
	                         * OTAS__QUEUE_PARKED: only wake_parked_bytes
	                         * or a batch (wake_count) wakes it
	                         * (authentication failing: it spools a
	                         * batch at a time, else waits for a clock) */
	uint64_t wake_parked_bytes;
	atomic_int full_logged; /* a queue-full episode was logged (capture);
	                         * cleared by the sender once the queue is
	                         * down to half its budget */
} otas__queue_t;

int otas__queue_init(otas__queue_t *q, uint64_t max_bytes);
void otas__queue_destroy(otas__queue_t *q); /* frees queued records */

/* Append r (r->size bytes).  Returns 0, or 1 when over the budget (r is
 * not taken).  Takes and releases q->mu. */
int otas__queue_push(otas__queue_t *q, otas__record_t *r);

/* Remove up to max records from the head into a list (caller owns).
 * Expects q->mu held. */
otas__record_t *otas__queue_take_locked(otas__queue_t *q, size_t max,
                                        size_t *n_out);

/* Free every queued record (q->mu held or single-threaded). */
void otas__queue_clear_locked(otas__queue_t *q);

/* After fork, in the child: the only thread is the forking one, which
 * holds q->mu (taken in the atfork prepare handler).  Re-initialise the
 * lock and conditions and drop the parent's records. */
void otas__queue_reset_child(otas__queue_t *q);

#endif
