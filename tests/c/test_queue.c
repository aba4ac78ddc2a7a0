/*
 * test_queue.c -- the bounded queue: FIFO order, byte budget (full ->
 * refused, never blocks), take, typed items (entity updates beside
 * events: their share, taken out of the FIFO in order), and many
 * producers against one consumer (run under TSan).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "queue/queue.h"
#include "testlib.h"

static otas__record_t *
rec(size_t size)
{
	otas__record_t *r = calloc(1, size < sizeof(*r) ? sizeof(*r) : size);
	r->size = size < sizeof(*r) ? sizeof(*r) : size;
	return r;
}

TEST(fifo_and_sequence)
{
	otas__queue_t q;
	otas__record_t *l, *r;
	size_t n, i;

	CHECK(otas__queue_init(&q, 1 << 20) == 0);
	for (i = 0; i < 10; i++)
		CHECK(otas__queue_push(&q, rec(1000)) == 0);
	CHECK_INT(q.count, 10);
	CHECK_INT(q.bytes, 10000);
	pthread_mutex_lock(&q.mu);
	l = otas__queue_take_locked(&q, 4, &n);
	pthread_mutex_unlock(&q.mu);
	CHECK_INT(n, 4);
	CHECK_INT(q.count, 6);
	CHECK_INT(q.bytes, 6000);
	for (i = 1, r = l; r; r = r->next, i++)
		CHECK_INT(r->seq, i);
	CHECK_INT(i, 5);
	while (l) {
		r = l->next;
		free(l);
		l = r;
	}
	otas__queue_destroy(&q);
}

TEST(full_refuses_without_blocking)
{
	otas__queue_t q;
	otas__record_t *big = rec(900), *more = rec(400);

	CHECK(otas__queue_init(&q, 1000) == 0);
	CHECK(otas__queue_push(&q, big) == 0);
	CHECK(otas__queue_push(&q, more) == 1); /* over budget */
	CHECK_INT(q.count, 1);
	CHECK_INT(q.bytes, 900);
	free(more);
	otas__queue_destroy(&q); /* frees big */
}

#define PRODUCERS 4
#define PER 20000

static otas__queue_t g_q;
static int g_refused[PRODUCERS];

static void *
producer(void *arg)
{
	int id = (int)(intptr_t)arg, i;

	for (i = 0; i < PER; i++) {
		otas__record_t *r = rec(100);
		if (otas__queue_push(&g_q, r) != 0) {
			free(r);
			__atomic_fetch_add(&g_refused[id], 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

/* A parked sender (authentication failing) is woken by wake_parked_count
 * records (not a whole batch) or by wake_parked_bytes, not by every push;
 * an unparked one by
 * a full batch too, not by the first record (it looks at an empty queue
 * every flush interval, schedule.c).  Waking clears sender_waiting (one
 * signal per sleep). */
TEST(parked_sender_wakes_at_a_spool_group)
{
	otas__queue_t q;
	otas__record_t *l, *r;
	size_t n;

	CHECK(otas__queue_init(&q, 1 << 20) == 0);
	q.wake_count = 1000;
	q.wake_parked_count = 3;
	q.wake_parked_bytes = 256 * 1024;
	q.sender_waiting = OTAS__QUEUE_PARKED;
	CHECK(otas__queue_push(&q, rec(100)) == 0);
	CHECK(otas__queue_push(&q, rec(100)) == 0);
	CHECK_INT(q.sender_waiting, OTAS__QUEUE_PARKED);
	CHECK(otas__queue_push(&q, rec(100)) == 0);
	CHECK_INT(q.sender_waiting, 0);
	q.sender_waiting = OTAS__QUEUE_PARKED;
	q.wake_parked_count = 1000;
	CHECK(otas__queue_push(&q, rec(300 * 1024)) == 0); /* past the bytes */
	CHECK_INT(q.sender_waiting, 0);
	pthread_mutex_lock(&q.mu);
	l = otas__queue_take_locked(&q, 100, &n);
	pthread_mutex_unlock(&q.mu);
	CHECK_INT(n, 4);
	while ((r = l)) {
		l = r->next;
		free(r);
	}
	q.sender_waiting = 1;
	q.wake_count = 3;
	CHECK(otas__queue_push(&q, rec(100)) == 0); /* the first record */
	CHECK_INT(q.sender_waiting, 1);             /* no signal */
	CHECK(otas__queue_push(&q, rec(100)) == 0);
	CHECK_INT(q.sender_waiting, 1);
	CHECK(otas__queue_push(&q, rec(100)) == 0); /* a full batch */
	CHECK_INT(q.sender_waiting, 0);
	/* Before the first authentication the first record wakes it. */
	pthread_mutex_lock(&q.mu);
	otas__queue_clear_locked(&q);
	q.sender_waiting = OTAS__QUEUE_FIRST;
	pthread_mutex_unlock(&q.mu);
	CHECK(otas__queue_push(&q, rec(100)) == 0);
	CHECK_INT(q.sender_waiting, 0);
	otas__queue_destroy(&q);
}

static int g_http_wakes;

static void
count_wake(void *arg)
{
	(void)arg;
	g_http_wakes++;
}

/* A sender waiting in HTTP is woken (curl_multi_wakeup()) once per sleep
 * at a full batch or the byte threshold, never per record nor by the
 * first record; with every slot busy only commands wake it. */
TEST(sender_in_http_is_woken_once_per_batch)
{
	otas__queue_t q;
	int i;

	CHECK(otas__queue_init(&q, 1 << 20) == 0);
	q.wake_count = 10;
	q.wake_bytes = 64 * 1024;
	q.wake_fn = count_wake;
	q.sender_waiting = OTAS__QUEUE_IN_HTTP;
	for (i = 0; i < 9; i++)
		CHECK(otas__queue_push(&q, rec(100)) == 0);
	CHECK_INT(g_http_wakes, 0);
	CHECK_INT(q.sender_waiting, OTAS__QUEUE_IN_HTTP);
	for (i = 0; i < 5; i++)
		CHECK(otas__queue_push(&q, rec(100)) == 0);
	CHECK_INT(g_http_wakes, 1); /* at the tenth, not again */
	CHECK_INT(q.sender_waiting, 0);
	q.sender_waiting = OTAS__QUEUE_IN_HTTP;
	CHECK(otas__queue_push(&q, rec(100)) == 0); /* still past the count */
	CHECK_INT(g_http_wakes, 2);
	pthread_mutex_lock(&q.mu);
	otas__queue_clear_locked(&q);
	q.sender_waiting = OTAS__QUEUE_IN_HTTP;
	pthread_mutex_unlock(&q.mu);
	CHECK(otas__queue_push(&q, rec(70 * 1024)) == 0); /* past the bytes */
	CHECK_INT(g_http_wakes, 3);
	q.sender_waiting = OTAS__QUEUE_IN_HTTP_FULL;
	for (i = 0; i < 20; i++)
		CHECK(otas__queue_push(&q, rec(100)) == 0);
	CHECK_INT(g_http_wakes, 3);
	pthread_mutex_lock(&q.mu);
	otas__queue_wake_locked(&q); /* a command */
	pthread_mutex_unlock(&q.mu);
	CHECK_INT(g_http_wakes, 4);
	CHECK_INT(q.sender_waiting, 0);
	otas__queue_destroy(&q);
}

TEST(many_producers_one_consumer)
{
	pthread_t t[PRODUCERS];
	size_t got = 0, n, refused = 0;
	uint64_t last = 0;
	int i, done = 0;

	CHECK(otas__queue_init(&g_q, 100 * 5000) == 0);
	for (i = 0; i < PRODUCERS; i++)
		pthread_create(&t[i], NULL, producer, (void *)(intptr_t)i);
	while (!done) {
		otas__record_t *l, *r;
		pthread_mutex_lock(&g_q.mu);
		l = otas__queue_take_locked(&g_q, 100, &n);
		pthread_mutex_unlock(&g_q.mu);
		for (r = l; r; r = l) {
			CHECK(r->seq > last); /* sequence order kept */
			last = r->seq;
			l = r->next;
			free(r);
			got++;
		}
		refused = 0;
		for (i = 0; i < PRODUCERS; i++)
			refused += (size_t)__atomic_load_n(&g_refused[i],
			                                   __ATOMIC_RELAXED);
		pthread_mutex_lock(&g_q.mu);
		done = g_q.seq + refused == PRODUCERS * PER && !g_q.head;
		pthread_mutex_unlock(&g_q.mu);
	}
	for (i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	refused = 0;
	for (i = 0; i < PRODUCERS; i++)
		refused += (size_t)__atomic_load_n(&g_refused[i],
		                                   __ATOMIC_RELAXED);
	CHECK_INT(got + refused, PRODUCERS * PER);
	otas__queue_destroy(&g_q);
}

static void
free_list(otas__record_t *l)
{
	otas__record_t *r;

	while (l) {
		r = l->next;
		free(l);
		l = r;
	}
}

/* Events and entity updates share the FIFO and its budget; the sender
 * takes the updates out wherever they are, in order, and the events keep
 * theirs (the tail too: a push after that appends). */
TEST(typed_items_entities_taken_out_in_order)
{
	otas__queue_t q;
	otas__record_t *l, *r;
	const char *js;
	size_t n, len, i;
	uint64_t want[] = {1, 3, 6, 7};

	CHECK(otas__queue_init(&q, 1 << 20) == 0);
	CHECK(otas__queue_push(&q, rec(1000)) == 0);            /* 1 */
	CHECK(otas__queue_push_entity(&q, "{\"a\":1}", 7) == 0); /* 2 */
	CHECK(otas__queue_push(&q, rec(1000)) == 0);            /* 3 */
	CHECK(otas__queue_push_entity(&q, "{\"b\":2}", 7) == 0); /* 4 */
	CHECK(otas__queue_push_entity(&q, "{\"c\":3}", 7) == 0); /* 5 */
	CHECK_INT(q.count, 5);
	CHECK_INT(q.ent_count, 3);
	CHECK_INT(q.ent_bytes, 21);
	CHECK_INT(q.bytes, 2000 + 3 * (sizeof(otas__record_t) + 8));
	pthread_mutex_lock(&q.mu);
	l = otas__queue_take_entities_locked(&q, &n);
	pthread_mutex_unlock(&q.mu);
	CHECK_INT(n, 3);
	CHECK_INT(q.count, 2);
	CHECK_INT(q.ent_count, 0);
	CHECK_INT(q.bytes, 2000);
	CHECK_INT(q.ent_bytes, 21); /* the share stays until resolved */
	for (i = 0, r = l; r; r = r->next, i++) {
		CHECK_INT(r->kind, OTAS__ITEM_ENTITY);
		CHECK_INT(r->seq, 2 + (i ? i + 1 : 0));
		js = otas__queue_entity_json(r, &len);
		CHECK_INT(len, 7);
		CHECK(js[len] == '\0' && js[2] == "abc"[i]);
	}
	CHECK_INT(i, 3);
	free_list(l);
	/* Nothing left to take: no walk, an empty list. */
	pthread_mutex_lock(&q.mu);
	CHECK(otas__queue_take_entities_locked(&q, &n) == NULL && n == 0);
	pthread_mutex_unlock(&q.mu);
	CHECK(otas__queue_push(&q, rec(1000)) == 0);            /* 6 */
	CHECK(otas__queue_push(&q, rec(1000)) == 0);            /* 7 */
	pthread_mutex_lock(&q.mu);
	l = otas__queue_take_locked(&q, 10, &n);
	pthread_mutex_unlock(&q.mu);
	CHECK_INT(n, 4);
	for (i = 0, r = l; r; r = r->next, i++) {
		CHECK_INT(r->kind, OTAS__ITEM_EVENT);
		CHECK_INT(r->seq, want[i]);
	}
	CHECK(q.head == NULL && q.tail == NULL);
	free_list(l);
	otas__queue_destroy(&q);
}

/* An update is refused (1, the caller counts the drop) when the queue is
 * full, as an event is, and when the updates' share (a sixteenth of the
 * budget) is used up although the queue has room. */
TEST(typed_items_full_and_share_refuse)
{
	otas__queue_t q;
	otas__record_t *r;
	char js[600];

	memset(js, 'x', sizeof(js));
	CHECK(otas__queue_init(&q, 16384) == 0);
	CHECK(otas__queue_push_entity(&q, js, 600) == 0);
	CHECK_INT(otas__queue_push_entity(&q, js, 600), 1); /* 1200 > 1024 */
	CHECK_INT(q.ent_count, 1);
	/* Fill with the smallest records: less than one header is left. */
	while (otas__queue_push(&q, (r = rec(1))) == 0)
		;
	free(r); /* refused: not taken */
	CHECK(q.bytes + sizeof(otas__record_t) > q.max_bytes);
	/* Share left (600 + 100 <= 1024), queue full: refused. */
	CHECK_INT(otas__queue_push_entity(&q, js, 100), 1);
	CHECK_INT(q.ent_count, 1);
	CHECK_INT(q.ent_bytes, 600);
	otas__queue_destroy(&q); /* frees both kinds */
}

int
main(void)
{
	RUN(fifo_and_sequence);
	RUN(full_refuses_without_blocking);
	RUN(parked_sender_wakes_at_a_spool_group);
	RUN(sender_in_http_is_woken_once_per_batch);
	RUN(many_producers_one_consumer);
	RUN(typed_items_entities_taken_out_in_order);
	RUN(typed_items_full_and_share_refuse);
	return testlib_done();
}
