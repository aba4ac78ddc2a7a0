/*
 * queue.c -- bounded FIFO of records (see queue.h).
 *
 * A mutex and a condition variable rather than a lock-free list: the
 * critical section is a pointer push, uncontended mutexes cost ~20 ns, and
 * the sender needs to sleep until "enough records or a command" anyway.
 * The sender is woken only when a batch is full (count or bytes), by a
 * command or an entity update, and only when it sleeps (sender_waiting,
 * set and read under mu, cleared by the first wake-up: one signal per
 * sleep); it sleeps at most the flush interval while the queue is empty
 * and until the oldest record's interval ends otherwise (schedule.c), so
 * a record that starts a batch does not signal and most pushes do not
 * signal at all.
 */
#include "queue/queue.h"

#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"

int
otas__queue_init(otas__queue_t *q, uint64_t max_bytes)
{
	pthread_condattr_t ca;

	q->head = q->tail = NULL;
	q->bytes = q->count = q->seq = 0;
	q->ent_count = q->ent_bytes = 0;
	atomic_init(&q->full_logged, 0);
	q->max_bytes = max_bytes;
	q->wake_count = 100;
	q->wake_bytes = max_bytes / 4;
	q->sender_waiting = 0;
	q->wake_fn = NULL;
	q->wake_arg = NULL;
	if (pthread_mutex_init(&q->mu, NULL) != 0)
		return -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&q->cv_send, &ca) != 0 ||
	    pthread_cond_init(&q->cv_done, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		return -1;
	}
	pthread_condattr_destroy(&ca);
	return 0;
}

void
otas__queue_clear_locked(otas__queue_t *q)
{
	otas__record_t *r = q->head, *n;

	while (r) {
		n = r->next;
		otas__record_free(r);
		r = n;
	}
	q->head = q->tail = NULL;
	q->bytes = q->count = 0;
	q->ent_count = q->ent_bytes = 0;
}

void
otas__queue_destroy(otas__queue_t *q)
{
	otas__queue_clear_locked(q);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv_send);
	pthread_cond_destroy(&q->cv_done);
}

/* Wake a sender that waits in HTTP (it asked with OTAS__QUEUE_IN_HTTP):
 * 1 done, 0 it does not wait there (signal cv_send).  mu held. */
static int
wake_http_locked(otas__queue_t *q)
{
	if ((q->sender_waiting != OTAS__QUEUE_IN_HTTP &&
	     q->sender_waiting != OTAS__QUEUE_IN_HTTP_FULL) ||
	    !q->wake_fn)
		return 0;
	q->wake_fn(q->wake_arg);
	return 1;
}

void
otas__queue_wake_locked(otas__queue_t *q)
{
	if (!wake_http_locked(q))
		pthread_cond_signal(&q->cv_send);
	q->sender_waiting = 0;
}

int
otas__queue_push(otas__queue_t *q, otas__record_t *r)
{
	int wake, in_http = 0;

	r->next = NULL;
	r->kind = OTAS__ITEM_EVENT;
	pthread_mutex_lock(&q->mu);
	if (q->bytes + r->size > q->max_bytes) {
		pthread_mutex_unlock(&q->mu);
		return 1;
	}
	r->seq = ++q->seq;
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	q->bytes += r->size;
	q->count++;
	if (q->sender_waiting == OTAS__QUEUE_PARKED)
		wake = q->bytes >= q->wake_parked_bytes ||
		       q->count >= q->wake_parked_count;
	else if (q->sender_waiting == OTAS__QUEUE_IN_HTTP_FULL)
		wake = 0; /* no room for a batch: not woken per record */
	else
		/* A full batch, not a first record: the sender looks at an
		 * empty queue every flush interval (schedule.c), which
		 * starts the record's interval from its enqueue time. */
		wake = q->sender_waiting &&
		       (q->count >= q->wake_count ||
		        q->bytes >= q->wake_bytes ||
		        (q->sender_waiting == OTAS__QUEUE_FIRST &&
		         q->count == 1));
	if (wake) {
		/* In HTTP: the same thresholds, and one wake-up per batch
		 * rather than a poll every few ms. */
		in_http = wake_http_locked(q);
		q->sender_waiting = 0; /* one signal per sleep */
	}
	pthread_mutex_unlock(&q->mu);
	if (wake && !in_http)
		pthread_cond_signal(&q->cv_send);
	return 0;
}

int
otas__queue_push_entity(otas__queue_t *q, const char *json, size_t n)
{
	size_t size = sizeof(otas__record_t) + n + 1;
	otas__record_t *r = malloc(size);

	if (!r)
		return -1;
	memset(r, 0, sizeof(*r));
	r->kind = OTAS__ITEM_ENTITY;
	r->size = size;
	r->enq_mono_ms = otas__now_mono_ms();
	memcpy(r + 1, json, n);
	((char *)(r + 1))[n] = '\0';
	pthread_mutex_lock(&q->mu);
	if (q->bytes + size > q->max_bytes ||
	    q->ent_bytes + n > q->max_bytes / 16) {
		pthread_mutex_unlock(&q->mu);
		free(r);
		return 1;
	}
	r->seq = ++q->seq;
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	q->bytes += size;
	q->count++;
	q->ent_count++;
	q->ent_bytes += n;
	(void)wake_http_locked(q);
	q->sender_waiting = 0;
	pthread_mutex_unlock(&q->mu);
	pthread_cond_signal(&q->cv_send);
	return 0;
}

const char *
otas__queue_entity_json(const otas__record_t *r, size_t *len)
{
	*len = r->size - sizeof(*r) - 1;
	return (const char *)(r + 1);
}

otas__record_t *
otas__queue_take_entities_locked(otas__queue_t *q, size_t *n_out)
{
	otas__record_t **pp = &q->head, *r, *first = NULL, **tail = &first;
	size_t n = 0;

	*n_out = 0;
	if (!q->ent_count)
		return NULL;
	/* One walk of the FIFO (updates are rare): entity items move to the
	 * caller's list, events stay in order; the last event kept is the
	 * tail. */
	q->tail = NULL;
	while ((r = *pp)) {
		if (r->kind != OTAS__ITEM_ENTITY) {
			q->tail = r;
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->next = NULL;
		*tail = r;
		tail = &r->next;
		q->bytes -= r->size;
		q->count--;
		n++;
	}
	q->ent_count = 0;
	*n_out = n;
	return first;
}

otas__record_t *
otas__queue_take_locked(otas__queue_t *q, size_t max, size_t *n_out)
{
	otas__record_t *first = q->head, *last = NULL, *r = q->head;
	size_t n = 0;

	while (r && n < max) {
		q->bytes -= r->size;
		q->count--;
		if (r->kind == OTAS__ITEM_ENTITY)
			q->ent_count--;
		last = r;
		r = r->next;
		n++;
	}
	if (last)
		last->next = NULL;
	q->head = r;
	if (!r)
		q->tail = NULL;
	*n_out = n;
	return n ? first : NULL;
}

void
otas__queue_reset_child(otas__queue_t *q)
{
	pthread_condattr_t ca;

	/* The forking thread took mu in the prepare handler: it may unlock
	 * it here.  The conditions may have had the parent's sender thread
	 * as a waiter; that thread does not exist here, so start them
	 * afresh. */
	otas__queue_clear_locked(q);
	q->sender_waiting = 0;
	q->wake_fn = NULL; /* the parent's sender and its handle */
	q->wake_arg = NULL;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv_send, &ca);
	pthread_cond_init(&q->cv_done, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_unlock(&q->mu);
}
