/*
 * queue.h -- the one bounded queue between the host's threads and the
 * sender.
 *
 * A FIFO of typed items under one mutex, bounded by the bytes of the
 * items it holds: captured events (otas__record_t from capture/) and
 * entity updates (otas_entity(): a record header followed by the update's
 * JSON element, kind OTAS__ITEM_ENTITY).  Entity updates also have a
 * share of the budget (ent_bytes, at most a sixteenth of it, counted until
 * the sender resolves them), so a flood of updates cannot crowd out
 * events.  Push never blocks on anything but the mutex, which is held
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
/* sender_waiting: the sender waits in HTTP (its transfers in flight), not
 * on cv_send: a wake-up calls wake_fn(wake_arg) instead of a signal. */
#define OTAS__QUEUE_IN_HTTP 3
/* ... with every transfer slot busy: records cannot start a batch, so
 * only commands (otas__queue_wake_locked(), entity updates) wake it. */
#define OTAS__QUEUE_IN_HTTP_FULL 4

/* sender_waiting: waits on cv_send, and the first record of an empty
 * queue wakes it too (before its first authentication attempt, see
 * otas__sched_decision_t.wake_first); 1: only a full batch does. */
#define OTAS__QUEUE_FIRST 5

/* The kind of a queued item (otas__record_t's kind, set by the push). */
enum { OTAS__ITEM_EVENT = 0, OTAS__ITEM_ENTITY = 1 };

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
	                         * or wake_parked_count records wake it
	                         * (authentication failing: it spools a
	                         * batch at a time, else waits for a clock) */
	uint64_t wake_parked_bytes;
	uint64_t wake_parked_count; /* ... or this many records */
	/* How to wake a sender waiting in HTTP (OTAS__QUEUE_IN_HTTP): set by
	 * the sender, called under mu only while it waits there. */
	void (*wake_fn)(void *arg);
	void *wake_arg;
	uint64_t ent_count;     /* entity items queued, guarded by mu */
	uint64_t ent_bytes;     /* JSON bytes of entity updates queued or
	                         * held by the sender (its share), mu */
	atomic_int full_logged; /* a queue-full episode was logged (capture);
	                         * cleared by the sender once the queue is
	                         * down to half its budget */
} otas__queue_t;

int otas__queue_init(otas__queue_t *q, uint64_t max_bytes);
void otas__queue_destroy(otas__queue_t *q); /* frees queued records */

/* Append r (r->size bytes).  Returns 0, or 1 when over the budget (r is
 * not taken).  Takes and releases q->mu. */
int otas__queue_push(otas__queue_t *q, otas__record_t *r);

/* Queue a copy of an entity update's JSON element (n bytes).  0, 1 when
 * over the budget or the entities' share, -1 out of memory.  Takes and
 * releases q->mu and always signals the sender (updates are rare and go
 * out as they come). */
int otas__queue_push_entity(otas__queue_t *q, const char *json, size_t n);

/* An entity item's JSON element and its length. */
const char *otas__queue_entity_json(const otas__record_t *r, size_t *len);

/* Unlink every entity item, wherever it is in the FIFO, into a list in
 * queue order (caller owns; their share stays counted in ent_bytes until
 * the caller lowers it).  Events keep their order.  Expects q->mu held. */
otas__record_t *otas__queue_take_entities_locked(otas__queue_t *q,
                                                 size_t *n_out);

/* Remove up to max records from the head into a list (caller owns).
 * Expects q->mu held. */
otas__record_t *otas__queue_take_locked(otas__queue_t *q, size_t max,
                                        size_t *n_out);

/* Wake the sender if it waits (a command: flush, stop), whether on
 * cv_send or in HTTP.  Expects q->mu held. */
void otas__queue_wake_locked(otas__queue_t *q);

/* Free every queued record (q->mu held or single-threaded). */
void otas__queue_clear_locked(otas__queue_t *q);

/* After fork, in the child: the only thread is the forking one, which
 * holds q->mu (taken in the atfork prepare handler).  Re-initialise the
 * lock and conditions and drop the parent's records. */
void otas__queue_reset_child(otas__queue_t *q);

#endif
