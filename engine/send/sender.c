/*
 * sender.c -- the background thread: queue -> events -> batches -> HTTP,
 * with retry, fallback to per-event delivery, and the spool.
 *
 * Design note.  The sender's state is otas__sender_t (sender.h), built by
 * engine.c from explicit inputs: the queue, the counters, the auth state,
 * the serialiser's context, the protocol, the logger and the timings.
 * Nothing here reaches the engine.  One thread per process owns
 * everything slow: serialisation
 * (event.c), gzip, the curl handle and the spool handle.  It holds q.mu
 * only to take records and to publish progress, never across I/O.  What
 * it does next is decided by schedule.c from a snapshot of its state
 * (gather_locked() -> otas__sched_decide() -> one action); this file does
 * the actions and records their outcome.
 *
 * Batches are taken in capture order.  While delivery works up to
 * OTAS_MAX_IN_FLIGHT of them are on the wire at once (ACT_START, one
 * transfer slot of http_curl.c each) and may be answered out of order;
 * "every record up to seq N is resolved" (delivered, dropped with a count,
 * or spooled) stays a single number, done_seq, on which otas_flush()
 * waits: publish() moves it to just below the lowest seq still held (in
 * flight, held, in s->b or pending).  A batch whose flight does not end in
 * a 2xx is held with its answer and goes through the one-at-a-time path
 * below, as do retries, per-event mode, OTLP and spooled batches: a batch
 * is in flight, held, or in the spool, never two of them.
 *
 * Failure handling follows retry.h's policy.  A failing batch is retried
 * with capped, jittered exponential backoff (or Retry-After) until its
 * retry window ends, the queue passes half its budget, a flush asks for
 * it, or shutdown comes; then it goes to the spool and the sender moves on
 * (still honouring the backoff before the next attempt).  Spooled batches
 * are claimed back one at a time whenever a delivery has just succeeded
 * and the queue is not busy.  Without a spool (no directory, open failed)
 * a failing batch stays and is retried; the queue then fills and capture
 * drops (counted) -- memory stays bounded either way.
 *
 * Fork: the child has no sender thread.  fork.c's atfork child handler
 * drops the parent's records (the parent delivers them) and, through
 * otas__sender_fork_child(), clears `started`, so the child's first capture starts a fresh thread with fresh
 * curl and spool handles; the parent's handles are left untouched in the
 * child (never used, never closed -- closing could disturb the parent's
 * connection or SQLite locks).
 */
#include "send/sender.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "event/event.h"
#include "send/http_curl.h"
#include "send/protocol.h"
#include "send/retry.h"
#include "send/schedule.h"
#include "spool/spool.h"

/* An event of a batch: its JSON at an offset into the batch's data and
 * its agent token (tok_len 0: none) at one into the batch's toks, so
 * serialising an event appends to those buffers (no allocation or copy
 * of its own). */
typedef struct {
	size_t off, len;
	size_t tok_off, tok_len;
} ev_t;

typedef struct {
	ev_t *ev;
	size_t n, cap;
	/* Every event's JSON.  A batch filled by fill_into() with the project
	 * id known is laid out as the request body (framed: the protocol's
	 * open string, then the events joined by its separator), so that
	 * do_start() compresses it where it is instead of copying each event
	 * into the request (otas__protocol_batch_adopt()); every other path
	 * reads the events at their offsets as before. */
	otas__buf_t data;
	otas__buf_t toks;     /* the agent tokens, each NUL-terminated */
	int framed;
	size_t next;          /* per-event mode: events [0,next) resolved */
	size_t bytes;
	uint64_t min_seq, max_seq; /* capture seqs of its records */
	int64_t deadline_ms;  /* end of the retry window, 0 = not failing */
	int64_t spool_id;     /* > 0: claimed from the spool */
} batch_t;

/* One batch being sent without waiting (several in flight): its own
 * request buffers and answer, on transfer slot i of s->http. */
typedef struct {
	batch_t b;
	otas__request_t rq;
	otas__http_resp_t resp;
	size_t k;          /* events of b the request carries */
	int busy;
} flight_t;

/* A flight's answer kept for the blocking path (see hold()). */
typedef struct {
	otas__answer_t ans;
	size_t k, n_sent, wire_len;
	otas__endpoint_t ep;
} early_t;

typedef struct {
	otas__sender_t *sn;
	otas__http_t *http;
	flight_t fl[OTAS__HTTP_SLOTS];
	int in_flight;
	/* Batches whose transfer in flight did not end in a 2xx, oldest
	 * capture first: they become s->b one at a time and take the blocking
	 * path (attempt(): 413 split, 415, fallback, backoff, spool). */
	struct {
		batch_t b;
		otas__http_resp_t resp; /* the answer it got in flight */
		early_t early;
		uint64_t posts;         /* s->posts when it got it */
	} held[OTAS__HTTP_SLOTS];
	int n_held;
	/* Blocking requests made: an answer from flight is used by attempt()
	 * only if no request was made since (else it is stale, and the batch
	 * is sent again). */
	uint64_t posts;
	int answered;          /* s->resp and early hold s->b's first answer */
	early_t early;
	uint64_t taken_seq;   /* highest capture seq taken from the queue */
	int64_t spool_retry_ms;  /* when to try opening the spool again */
	char spool_msg[400];    /* to log once spool_mu is released */
	int64_t spool_fail_until; /* a spool write failed: not before */
	int64_t drain_at;       /* when to look for spooled batches */
	/* The spool may hold batches to drain now: set when this sender
	 * spools or gives a lease back and when delivery recovers; cleared
	 * when a claim finds nothing.  Clear, a delivery looks at the spool
	 * (another process may spool) at most once per
	 * OTAS__DRAIN_RECHECK_MS, not after every batch (a SQLite query). */
	int spool_dirty;
	int64_t drain_empty_ms; /* when a claim last found nothing */
	batch_t b;
	otas__record_t *pending; /* taken from the queue, not yet in b */
	size_t fill_max;      /* events a batch of them takes (a backlog:
	                       * more than OTAS_BATCH_MAX_EVENTS), 0: that */
	int attempt;
	int64_t next_attempt_ms;
	int batch_mode;
	int64_t reprobe_ms;
	int auth_attempt;
	int64_t next_auth_ms;
	int failing;          /* a delivery-failure episode is open */
	int server_wait;      /* the back end asked us to wait (Retry-After,
	                       * refused key): shutdown honours the backoff */
	int auth_logged;
	otas__buf_t body;     /* a spooled batch's payload */
	otas__http_resp_t resp;
	otas__request_t rq;   /* protocol.c: the request being sent, its
	                       * buffers, zstd context and state */
	otas__answer_t ans;   /* the last answer, read */
	int spooled_here;     /* this sender put batches in the spool */
	otas__event_scratch_t esc; /* the serialiser's working buffers */
} snd_t;

static int http_ready(snd_t *s);
static void promote_held(snd_t *s);
static void do_collect(snd_t *s, long wait_ms);

#define OTAS__DRAIN_RECHECK_MS 1000

enum { OUT_DONE, OUT_RETRY, OUT_AUTH_WAIT, OUT_FALLBACK, OUT_REDIRECT };

/* ------------------------------------------------------------ helpers */

static void
batch_clear(batch_t *b)
{
	otas__buf_reset(&b->data);
	if (b->toks.len)
		memset(b->toks.data, 0, b->toks.len); /* credentials */
	otas__buf_reset(&b->toks);
	b->framed = 0;
	b->n = b->next = b->bytes = 0;
	b->min_seq = b->max_seq = 0;
	b->deadline_ms = 0;
	b->spool_id = 0;
}

/* Free b's memory (batch_clear() first). */
static void
batch_free(batch_t *b)
{
	free(b->ev);
	b->ev = NULL;
	b->n = b->cap = 0;
	otas__buf_free(&b->data);
	otas__buf_free(&b->toks);
}

static const char *
ev_json(const batch_t *b, const ev_t *e)
{
	return b->data.data + e->off;
}

/* The event's agent token, NULL when it has none. */
static const char *
ev_token(const batch_t *b, const ev_t *e)
{
	return e->tok_len ? b->toks.data + e->tok_off : NULL;
}

/* Forget what was appended to b->data from `start` on. */
static void
batch_cut(batch_t *b, size_t start)
{
	if (b->data.len > start)
		b->data.len = start;
	if (b->data.data)
		b->data.data[start] = '\0';
	b->data.oom = 0; /* a later event may fit */
}

/* Where the next event of b starts: for a framed batch (open: the
 * protocol's batch body opening, NULL when the project id is not known
 * yet or the protocol has none) after the opening or a separator.
 * Returns the length to cut back to if the event is not kept. */
static size_t
batch_open(batch_t *b, const char *open, const char *sep)
{
	size_t mark = b->data.len;

	if (!open) {
		b->framed = 0;
	} else if (!b->data.len) {
		otas__buf_puts(&b->data, open);
		b->framed = 1;
	} else if (b->framed && b->n) {
		otas__buf_puts(&b->data, sep);
	}
	return mark;
}

/* Make the event at b->data[start, len) the batch's next one, its agent
 * token (tlen bytes, up to a NUL as before) kept beside it.  0, or -1
 * (b->data cut back to mark). */
static int
batch_commit(batch_t *b, size_t mark, size_t start, const char *tok,
             size_t tlen)
{
	size_t len = b->data.len - start, tmark = b->toks.len;
	ev_t *e;

	if (b->data.oom)
		goto fail;
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 64;
		ev_t *p = realloc(b->ev, nc * sizeof(*p));
		if (!p)
			goto fail;
		b->ev = p;
		b->cap = nc;
	}
	e = &b->ev[b->n];
	e->off = start;
	e->len = len;
	e->tok_off = e->tok_len = 0;
	if (tok && tlen) {
		tlen = strnlen(tok, tlen);
		if (tlen) {
			e->tok_off = b->toks.len;
			otas__buf_append(&b->toks, tok, tlen);
			otas__buf_putc(&b->toks, '\0');
			if (b->toks.oom)
				goto fail;
			e->tok_len = tlen;
		}
	}
	b->n++;
	b->bytes += len + 1;
	return 0;
fail:
	if (b->toks.len > tmark)
		memset(b->toks.data + tmark, 0, b->toks.len - tmark);
	b->toks.len = tmark;
	b->toks.oom = 0;
	batch_cut(b, mark);
	return -1;
}

static int
batch_add(batch_t *b, const char *json, size_t len, const char *tok,
          size_t tlen)
{
	size_t start = batch_open(b, NULL, NULL);

	otas__buf_append(&b->data, json, len);
	return batch_commit(b, start, start, tok, tlen);
}

static void
project_id(otas__sender_t *sn, char *out, size_t n)
{
	otas__auth_project(sn->auth, out, n);
}

/* Mark everything up to seq resolved and wake the flushers once the
 * lowest seq one waits on is reached (a wake-up per batch would cost the
 * flusher and this thread a futex round trip each).  q.mu held. */
static void
resolved_locked(otas__sender_t *sn, uint64_t seq)
{
	if (seq > sn->done_seq) {
		sn->done_seq = seq;
		if (sn->flush_wake && seq >= sn->flush_wake) {
			/* Every waiter wakes; one not done says again. */
			sn->flush_wake = 0;
			pthread_cond_broadcast(&sn->q->cv_done);
		}
	}
}

static void
resolved(otas__sender_t *sn, uint64_t seq)
{
	pthread_mutex_lock(&sn->q->mu);
	resolved_locked(sn, seq);
	pthread_mutex_unlock(&sn->q->mu);
}

/* Everything taken from the queue and no longer held (delivered,
 * dropped with a count, or spooled) is resolved up to the lowest capture
 * seq still held: batches in flight may end out of order, done_seq only
 * moves over a contiguous prefix. */
static void
publish(snd_t *s)
{
	uint64_t low = UINT64_MAX;
	int i;

#define HOLDS(bt)                                                          \
	do {                                                               \
		if ((bt).min_seq && !(bt).spool_id && (bt).min_seq < low)  \
			low = (bt).min_seq;                                \
	} while (0)
	HOLDS(s->b);
	for (i = 0; i < s->n_held; i++)
		HOLDS(s->held[i].b);
	for (i = 0; i < OTAS__HTTP_SLOTS; i++)
		if (s->fl[i].busy)
			HOLDS(s->fl[i].b);
#undef HOLDS
	if (s->pending && s->pending->seq < low)
		low = s->pending->seq;
	resolved(s->sn, low == UINT64_MAX ? s->taken_seq : low - 1);
}

static void
set_batch_endpoint(otas__sender_t *sn, int v)
{
	pthread_mutex_lock(&sn->q->mu);
	sn->batch_endpoint = v;
	pthread_mutex_unlock(&sn->q->mu);
}

/* --------------------------------------------------------------- spool */

/* The spool handle lives in otas__sender_t (not in this thread's snd_t),
 * guarded by spool_mu, because the
 * fork prepare handler must close it (SQLite's per-process lock
 * bookkeeping must not be inherited); it is reopened here lazily.  Every
 * caller holds spool_mu from spool_ready() to its last spool call. */
static int
spool_ready(snd_t *s)
{
	otas__sender_t *sn = s->sn;
	char err[256];
	int64_t now = otas__now_mono_ms();

	if (sn->spool)
		return 1;
	if (!sn->spool_path || now < s->spool_retry_ms)
		return 0;
	sn->spool = otas__spool_open(sn->spool_path,
	                              sn->cfg->spool_max_bytes, err,
	                              sizeof(err));
	if (!sn->spool) {
		s->spool_retry_ms = now + 60000;
		snprintf(s->spool_msg, sizeof(s->spool_msg),
		         "otas: cannot open the spool, undelivered events stay "
		         "in memory: %s", err);
		return 0;
	}
	/* Agent tokens are sealed under a key derived from the SDK key. */
	otas__spool_set_secret(sn->spool, sn->cfg->sdk_key,
	                       strlen(sn->cfg->sdk_key));
	if (err[0])
		snprintf(s->spool_msg, sizeof(s->spool_msg), "otas: spool: %s",
		         err);
	return 1;
}

/* Log what spool_ready() noted, after spool_mu is released: the host's
 * log callback may wait for a lock (the GIL) that a forking thread holds
 * while it waits for spool_mu in the fork prepare handler. */
static void
spool_log(snd_t *s)
{
	if (!s->spool_msg[0])
		return;
	otas__logf(s->sn->log, OTAS_LOG_WARNING, "%s", s->spool_msg);
	otas__sender_set_error(s->sn, s->spool_msg);
	s->spool_msg[0] = '\0';
}

/* Delete (delivered) or release (not delivered) a claimed batch. */
static void
spool_end(snd_t *s, int64_t id, int delivered)
{
	otas__sender_t *sn = s->sn;

	pthread_mutex_lock(&sn->spool_mu);
	if (sn->spool || spool_ready(s)) {
		if (delivered) {
			otas__spool_delete(sn->spool, id);
		} else {
			otas__spool_release(sn->spool, id);
			s->spool_dirty = 1;
		}
	}
	pthread_mutex_unlock(&sn->spool_mu);
	spool_log(s);
	/* Counted once the batch is out of the spool for good (a batch
	 * claimed as a probe and released again is not). */
	if (delivered)
		OTAS__INC(sn->c, unspooled, s->b.n);
}

/* Put the unresolved part of b into the spool.  0, or -1 (b unchanged). */
static int
spool_batch(snd_t *s)
{
	otas__sender_t *sn = s->sn;
	batch_t *b = &s->b;
	uint64_t evicted = 0;
	char err[256];
	size_t i, n = 0;
	int rc;

	s->answered = 0;
	if (b->spool_id > 0) {
		/* Came from the spool: end the lease, it is still there. */
		spool_end(s, b->spool_id, 0);
		return 0;
	}
	otas__buf_reset(&s->body);
	for (i = b->next; i < b->n; i++) {
		if (n)
			otas__buf_putc(&s->body, '\n');
		otas__buf_append(&s->body, ev_json(b, &b->ev[i]), b->ev[i].len);
		n++;
	}
	if (!n)
		return 0;
	if (s->body.oom)
		return -1;
	pthread_mutex_lock(&sn->spool_mu);
	if (!spool_ready(s)) {
		pthread_mutex_unlock(&sn->spool_mu);
		spool_log(s);
		s->spool_fail_until = otas__now_mono_ms() + 5000;
		return -1;
	}
	rc = otas__spool_put(sn->spool, s->body.data, s->body.len,
	                     (uint32_t)n, &evicted, err, sizeof(err));
	pthread_mutex_unlock(&sn->spool_mu);
	spool_log(s);
	if (rc != 0) {
		s->spool_fail_until = otas__now_mono_ms() + 5000;
		otas__logf(sn->log, OTAS_LOG_WARNING, "otas: spool write failed: %s",
		          err);
		otas__sender_set_error(sn, err);
		return -1;
	}
	OTAS__INC(sn->c, spooled, n);
	s->spooled_here = 1;
	s->spool_dirty = 1;
	if (evicted)
		OTAS__INC(sn->c, dropped_spool_full, evicted);
	return 0;
}

/* Claim one spooled batch into b.  1 claimed, 0 none.  The spool hands
 * the agent tokens over beside the events (one line each), so no event
 * is parsed here. */
static int
claim_spooled(snd_t *s)
{
	otas__buf_t pay = OTAS__BUF_INIT, toks = OTAS__BUF_INIT;
	int64_t id;
	uint32_t n = 0;
	const char *p, *e, *end, *t, *te, *tend;
	int rc;

	pthread_mutex_lock(&s->sn->spool_mu);
	rc = spool_ready(s) ? otas__spool_claim_tokens(s->sn->spool,
	                                               OTAS__SPOOL_LEASE_MS,
	                                               &id, &pay, &n, &toks)
	                    : 0;
	pthread_mutex_unlock(&s->sn->spool_mu);
	spool_log(s);
	if (rc != 1) {
		otas__buf_free(&pay);
		otas__buf_free(&toks);
		return 0;
	}
	s->answered = 0;
	p = pay.data;
	end = pay.data + pay.len;
	t = toks.data ? toks.data : "";
	tend = t + toks.len;
	while (p && p < end) {
		size_t tl;

		e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end;
		te = t < tend ? memchr(t, '\n', (size_t)(tend - t)) : NULL;
		if (!te)
			te = tend;
		tl = (size_t)(te - t);
		if (e > p && batch_add(&s->b, p, (size_t)(e - p), t, tl) != 0)
			break;
		p = e + 1;
		t = te < tend ? te + 1 : tend;
	}
	if (toks.data)
		memset(toks.data, 0, toks.len); /* credentials */
	otas__buf_free(&toks);
	otas__buf_free(&pay);
	s->b.spool_id = id;
	if (!s->b.n) {
		spool_end(s, id, 1);
		batch_clear(&s->b);
		return 0;
	}
	return 1;
}

/* Delivery works: look at the spool now if it may hold batches, else
 * (another process may have spooled) within OTAS__DRAIN_RECHECK_MS of
 * the last claim that found nothing. */
static void
drain_soon(snd_t *s)
{
	int64_t at = s->drain_empty_ms + OTAS__DRAIN_RECHECK_MS;

	if (s->spool_dirty)
		s->drain_at = 0;
	else if (at < s->drain_at)
		s->drain_at = at;
}

/* ------------------------------------------------------------- batches */

/* Serialise pending records into b up to the batch limits.  Records left
 * over stay in s->pending. */
static void
fill_into(snd_t *s, batch_t *b)
{
	otas__sender_t *sn = s->sn;
	char pid[128];
	size_t max_ev = (size_t)sn->cfg->batch_max_events;
	size_t max_bytes = (size_t)sn->cfg->batch_max_bytes;
	const char *open, *sep = NULL;

	if (s->fill_max > max_ev)
		max_ev = s->fill_max;
	project_id(sn, pid, sizeof(pid));
	/* Framed only with the project id in every event (no patch). */
	open = pid[0] ? otas__protocol_batch_open(sn->proto, &sep) : NULL;
	while (s->pending && b->n < max_ev) {
		otas__record_t *r = s->pending;
		size_t mark, start;
		const char *tok;
		size_t tl;

		if (b->n && b->bytes >= max_bytes)
			break;
		s->pending = r->next;
		mark = batch_open(b, open, sep);
		start = b->data.len;
		/* Straight into the batch's buffer. */
		if (otas__event_write_with(sn->ev, pid, r, &b->data, &s->esc,
		                           &tok, &tl) != 0) {
			batch_cut(b, mark);
			OTAS__INC(sn->c, dropped_capture_error, 1);
		} else if (batch_commit(b, mark, start, tok, tl) != 0) {
			OTAS__INC(sn->c, dropped_capture_error, 1);
		}
		if (!b->min_seq || r->seq < b->min_seq)
			b->min_seq = r->seq;
		if (r->seq > b->max_seq)
			b->max_seq = r->seq;
		if (r->seq > s->taken_seq)
			s->taken_seq = r->seq;
		otas__record_free(r);
	}
	if (!s->pending)
		s->fill_max = 0;
	/* Every record dropped (counted): nothing held, publish() says. */
	if (!b->n)
		b->min_seq = b->max_seq = 0;
}

static void
fill_batch(snd_t *s)
{
	s->answered = 0;
	fill_into(s, &s->b);
}

/* Take up to max records (0: one batch worth) from the queue into
 * s->pending; the batch they fill takes them all (within
 * OTAS_BATCH_MAX_BYTES).  q.mu held. */
static void
take_locked(snd_t *s, size_t max)
{
	size_t n;

	/* Entity updates leave the FIFO for their own batches (entity.c):
	 * what is taken here is events only. */
	otas__entities_collect_locked(s->sn);
	if (s->pending)
		return;
	if (max < (size_t)s->sn->cfg->batch_max_events)
		max = (size_t)s->sn->cfg->batch_max_events;
	s->pending = otas__queue_take_locked(s->sn->q, max, &n);
	s->fill_max = s->pending ? max : 0;
}

/* --------------------------------------------------------------- sends */

/* A 2xx for n events sent in wire_len bytes: count what it says. */
static void
book_ok(snd_t *s, const otas__answer_t *ans, size_t n, size_t wire_len)
{
	otas__sender_t *sn = s->sn;

	OTAS__INC(sn->c, sent, ans->accepted);
	OTAS__INC(sn->c, duplicates, ans->duplicates);
	OTAS__INC(sn->c, dropped_rejected, ans->rejected);
	OTAS__INC(sn->c, batches, 1);
	OTAS__INC(sn->c, bytes_sent, wire_len);
	if (ans->rejected)
		otas__logf(sn->log, OTAS_LOG_WARNING,
		          "otas: %s rejected %llu of %zu event(s)%s%s",
		          sn->proto->target, (unsigned long long)ans->rejected,
		          n, ans->description[0] ? ": " : "", ans->description);
}

/* Deliver b's unresolved events: one path for every protocol and
 * endpoint (protocol.c writes the requests and reads the answers).  A 413
 * halves the request until it fits (one event that is still too large is
 * dropped, counted); a 415 to zstd sends the same events again, gzip'd. */
static int
send_batch(snd_t *s, long timeout_ms, int *retry_after_ms)
{
	otas__sender_t *sn = s->sn;
	const otas__protocol_t *p = sn->proto;
	otas__request_t *rq = &s->rq;
	otas__answer_t *ans = &s->ans;
	batch_t *b = &s->b;
	otas__endpoint_t ep = otas__protocol_events_endpoint(p, !s->batch_mode);
	size_t i, k, split = 0, n_sent, wire_len;

	project_id(sn, rq->project_id, sizeof(rq->project_id));
	rq->accepts_zstd =
	    atomic_load_explicit(&sn->auth->accepts_zstd,
	                         memory_order_relaxed);
	*retry_after_ms = -1;
	if (s->answered && b->next == 0 && s->early.ep == ep) {
		/* Sent in flight: book the answer it got (s->resp). */
		s->answered = 0;
		*ans = s->early.ans;
		k = s->early.k;
		n_sent = s->early.n_sent;
		wire_len = s->early.wire_len;
		rq->ep = ep;
		goto booked;
	}
	s->answered = 0;
	while (b->next < b->n) {
		k = b->n - b->next;
		if (split && split < k)
			k = split;
		if (otas__protocol_begin(p, rq, ep) != 0)
			return OUT_RETRY;
		for (i = b->next; i < b->next + k; i++) {
			const ev_t *ev = &b->ev[i];
			otas__item_t it = {ev_json(b, ev), ev->len,
			                   ev_token(b, ev), ev->tok_len};
			otas__append_t a = otas__protocol_append(p, rq, &it);
			if (a == OTAS__APPEND_FULL)
				break;
			if (a == OTAS__APPEND_NO_TOKEN)
				OTAS__INC(sn->c, skipped_no_agent_token, 1);
			else if (a == OTAS__APPEND_BAD_TOKEN)
				OTAS__INC(sn->c, dropped_invalid_agent_token, 1);
			else if (a == OTAS__APPEND_INVALID)
				OTAS__INC(sn->c, dropped_capture_error, 1);
		}
		k = i - b->next; /* the events this request resolves */
		if (!rq->n) {    /* none of them is to be sent */
			b->next += k;
			continue;
		}
		if (otas__protocol_end(p, rq) != 0)
			return OUT_RETRY;
		s->posts++;
		otas__http_post(s->http, rq->url, rq->hdr, rq->n_hdr, rq->body,
		                rq->len, timeout_ms, &s->resp);
		otas__protocol_answer(p, rq, &s->resp, ans);
		n_sent = rq->n;
		wire_len = rq->len;
	booked:
		if (ans->outcome == OTAS__OUT_TOO_LARGE && n_sent > 1) {
			split = n_sent / 2;
			continue;
		}
		switch (ans->outcome) {
		case OTAS__OUT_OK:
			book_ok(s, ans, n_sent, wire_len);
			b->next += k;
			if (ep == OTAS__EP_BATCH)
				set_batch_endpoint(sn, 1);
			break;
		case OTAS__OUT_ENCODING_REFUSED:
			otas__logf(sn->log, OTAS_LOG_WARNING,
			          "otas: the back end refused zstd bodies (HTTP "
			          "415); batches are sent with gzip");
			continue;
		case OTAS__OUT_TOO_LARGE: /* one event: too large */
		case OTAS__OUT_REJECTED:
			/* We wrote the body, so sending it again gets the same
			 * answer: drop it, counted, and say why. */
			OTAS__INC(sn->c, dropped_rejected, n_sent);
			otas__logf(sn->log, OTAS_LOG_ERROR,
			          "otas: %s refused %zu %s (HTTP %d%s%s); "
			          "they are dropped", p->target, n_sent,
			          p->kind == OTAS__PROTO_OTLP ? "log record(s)"
			                                      : "event(s)",
			          ans->status, ans->description[0] ? " " : "",
			          ans->description);
			b->next += k;
			break;
		case OTAS__OUT_TOKEN_REJECTED:
			OTAS__INC(sn->c, dropped_invalid_agent_token, n_sent);
			b->next += k;
			break;
		case OTAS__OUT_ENDPOINT_MISSING:
			return OUT_FALLBACK;
		case OTAS__OUT_AUTH_FAILED:
			return OUT_AUTH_WAIT;
		case OTAS__OUT_REDIRECT:
			return OUT_REDIRECT;
		default:
			*retry_after_ms = ans->retry_after_ms > INT32_MAX
			                      ? INT32_MAX
			                      : (int)ans->retry_after_ms;
			return OUT_RETRY;
		}
	}
	return OUT_DONE;
}

/* One delivery attempt of b.  Returns OUT_*. */
static int
attempt(snd_t *s, long timeout_ms)
{
	otas__sender_t *sn = s->sn;
	int out, ra = -1;
	int64_t now = otas__now_mono_ms();

	if (!http_ready(s))
		return OUT_RETRY;
	if (!s->batch_mode && now >= s->reprobe_ms)
		s->batch_mode = 1; /* try the batch endpoint again */
	for (;;) {
		out = send_batch(s, timeout_ms, &ra);
		if (out != OUT_FALLBACK)
			break;
		if (s->reprobe_ms == 0)
			otas__logf(sn->log, OTAS_LOG_INFO,
			          "otas: the back end has no batch endpoint; "
			          "sending one event per request");
		s->batch_mode = 0;
		s->reprobe_ms = otas__now_mono_ms() + sn->timing->reprobe_ms;
		set_batch_endpoint(sn, 0);
	}
	if (out == OUT_DONE) {
		if (s->failing) {
			otas__logf(sn->log, OTAS_LOG_INFO,
			          "otas: delivery works again");
			s->spool_dirty = 1;
		}
		s->failing = 0;
		s->auth_logged = 0;
		s->attempt = 0;
		s->next_attempt_ms = 0;
		s->server_wait = 0;
		return out;
	}
	s->server_wait = out == OUT_AUTH_WAIT || out == OUT_REDIRECT || ra >= 0;
	s->attempt++;
	OTAS__INC(sn->c, retried, 1);
	now = otas__now_mono_ms();
	if (out == OUT_REDIRECT) {
		char msg[600];
		snprintf(msg, sizeof(msg),
		         "%s answered HTTP %d redirecting to %s: "
		         "%s is wrong (use the address it names); "
		         "the redirect is not followed, so the key is not sent "
		         "there, and events are kept (spooled)",
		         sn->proto->target, s->resp.status,
		         s->resp.location[0] ? s->resp.location : "(no Location)",
		         sn->proto->url_option);
		otas__sender_set_error(sn, msg);
		if (!s->auth_logged)
			otas__logf(sn->log, OTAS_LOG_ERROR, "otas: %s", msg);
		s->auth_logged = 1;
		s->next_attempt_ms = now + sn->timing->auth_wait_ms;
	} else if (out == OUT_AUTH_WAIT) {
		char msg[256];
		otas__protocol_auth_message(sn->proto, &s->ans, msg,
		                            sizeof(msg));
		otas__sender_set_error(sn, msg);
		if (!s->auth_logged)
			otas__logf(sn->log, OTAS_LOG_ERROR, "otas: %s", msg);
		s->auth_logged = 1;
		s->next_attempt_ms = now + sn->timing->auth_wait_ms;
	} else {
		char msg[256];
		int64_t d = otas__retry_delay_ms(s->attempt, otas__rand64(),
		                                 sn->timing->retry_base_ms,
		                                 sn->timing->retry_cap_ms);
		if (ra >= 0) /* the server knows best, within reason */
			d = ra > 300000 ? 300000 : ra;
		if (s->resp.status)
			snprintf(msg, sizeof(msg),
			         "delivery failed: HTTP %d from %s", s->resp.status,
			         otas__endpoint_name(s->rq.ep));
		else
			snprintf(msg, sizeof(msg), "delivery failed: %s",
			         s->resp.error);
		otas__sender_set_error(sn, msg);
		if (!s->failing)
			otas__logf(sn->log, OTAS_LOG_WARNING,
			          "otas: %s; retrying with backoff", msg);
		s->next_attempt_ms = now + d;
	}
	s->failing = 1;
	if (!s->b.deadline_ms)
		s->b.deadline_ms = now + sn->timing->retry_window_ms;
	return out;
}

/* ------------------------------------------------------------- auth */

static void
try_auth(snd_t *s, long timeout_ms)
{
	otas__sender_t *sn = s->sn;
	otas_auth_result_t res;
	int64_t now;

	otas__authenticate_key(sn->auth_url, sn->cfg->sdk_key,
	                       (int)timeout_ms, &res);
	otas__auth_set(sn->auth, &res);
	now = otas__now_mono_ms();
	if (res.status == OTAS_AUTH_OK) {
		s->auth_attempt = 0;
		return;
	}
	s->auth_attempt++;
	otas__sender_set_error(sn, res.message);
	if (res.status == OTAS_AUTH_INVALID_KEY) {
		if (!s->auth_logged)
			otas__logf(sn->log, OTAS_LOG_ERROR,
			          "otas: authentication failed: %s; events are "
			          "kept and authentication retried", res.message);
		s->auth_logged = 1;
		s->next_auth_ms = now + sn->timing->auth_wait_ms;
	} else {
		if (s->auth_attempt == 1 &&
		    !atomic_exchange(&sn->auth->unreachable_told, 0))
			otas__logf(sn->log, OTAS_LOG_WARNING,
			          "otas: the back end is unreachable (%s); "
			          "retrying authentication in the background",
			          res.message);
		s->next_auth_ms =
		    now + otas__retry_delay_ms(s->auth_attempt, otas__rand64(),
		                               sn->timing->retry_base_ms * 2,
		                               sn->timing->retry_cap_ms * 2) +
		    sn->timing->retry_base_ms;
	}
}

/* ------------------------------------------------------------ shutdown */

/* Stop: deliver until the deadline, spool the rest. */
static void
shutdown_flush(snd_t *s, int64_t deadline)
{
	otas__sender_t *sn = s->sn;
	int give_up = 0;
	uint64_t last;

	/* Transfers in flight end first (cut at the deadline by http_curl:
	 * then held, spooled below). */
	while (s->in_flight)
		do_collect(s, 1000);
	for (;;) {
		int64_t now = otas__now_mono_ms();
		int authed;

		promote_held(s);
		pthread_mutex_lock(&sn->q->mu);
		take_locked(s, 0);
		authed = otas__auth_ok(sn->auth);
		pthread_mutex_unlock(&sn->q->mu);
		if (!s->b.n)
			fill_batch(s);
		if (!s->b.n)
			break;
		if (!give_up && !authed && now < deadline &&
		    now >= s->next_auth_ms) {
			/* The project is still unknown: one try. */
			long t = (long)(deadline - now);
			if (t > sn->cfg->timeout_ms)
				t = (long)sn->cfg->timeout_ms;
			try_auth(s, t);
			pthread_mutex_lock(&sn->q->mu);
			authed = otas__auth_ok(sn->auth);
			pthread_mutex_unlock(&sn->q->mu);
			now = otas__now_mono_ms();
			if (!authed)
				give_up = 1;
		}
		/* An exiting process cannot sit out our own backoff: the back
		 * end may be back, so try once; only an explicit wait from the
		 * back end (Retry-After, a refused key) sends it to the spool
		 * untried. */
		if (!give_up && authed && now < deadline &&
		    (now >= s->next_attempt_ms || !s->server_wait)) {
			long t = (long)(deadline - now);
			if (t > sn->cfg->timeout_ms)
				t = (long)sn->cfg->timeout_ms;
			if (t < 1)
				t = 1;
			if (attempt(s, t) == OUT_DONE) {
				if (s->b.spool_id > 0)
					spool_end(s, s->b.spool_id, 1);
				batch_clear(&s->b);
				publish(s);
				continue;
			}
			give_up = 1;
		}
		/* Not deliverable now: spool it, or count it lost. */
		if (spool_batch(s) != 0)
			OTAS__INC(sn->c, dropped_shutdown, s->b.n - s->b.next);
		batch_clear(&s->b);
		publish(s);
	}
	pthread_mutex_lock(&sn->q->mu);
	last = sn->q->seq;
	resolved_locked(sn, last);
	pthread_mutex_unlock(&sn->q->mu);
}

/* -------------------------------------------------------------- thread */

static void
snd_free(snd_t *s)
{
	otas__record_t *r;
	int i;

	batch_clear(&s->b);
	batch_free(&s->b);
	for (i = 0; i < OTAS__HTTP_SLOTS; i++) {
		batch_clear(&s->fl[i].b);
		batch_free(&s->fl[i].b);
		otas__request_free(&s->fl[i].rq);
		otas__buf_free(&s->fl[i].resp.body);
		batch_clear(&s->held[i].b);
		batch_free(&s->held[i].b);
		otas__buf_free(&s->held[i].resp.body);
	}
	while ((r = s->pending)) {
		s->pending = r->next;
		otas__record_free(r);
	}
	pthread_mutex_lock(&s->sn->q->mu);
	s->sn->q->wake_fn = NULL;
	s->sn->q->wake_arg = NULL;
	s->sn->q->sender_waiting = 0;
	pthread_mutex_unlock(&s->sn->q->mu);
	otas__http_free(s->http);
	otas__request_free(&s->rq);
	pthread_mutex_lock(&s->sn->spool_mu);
	if (s->sn->spool)
		otas__spool_close(s->sn->spool);
	s->sn->spool = NULL;
	pthread_mutex_unlock(&s->sn->spool_mu);
	otas__buf_free(&s->body);
	otas__buf_free(&s->resp.body);
	otas__event_scratch_free(&s->esc);
	free(s);
}

static void
deadline_ts(int64_t mono_ms, struct timespec *ts)
{
	ts->tv_sec = mono_ms / 1000;
	ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

/* ---------------------------------------------------------- in flight */

/* The oldest held batch becomes s->b when s->b is free. */
static void
promote_held(snd_t *s)
{
	otas__buf_t keep;

	if (s->b.n || !s->n_held)
		return;
	batch_clear(&s->b);
	batch_free(&s->b);
	s->b = s->held[0].b;
	/* Its answer becomes s->resp (the buffers swap owners). */
	keep = s->resp.body;
	s->resp = s->held[0].resp;
	s->held[0].resp.body = keep;
	otas__buf_reset(&s->held[0].resp.body);
	s->answered = s->batch_mode && s->held[0].posts == s->posts;
	s->early = s->held[0].early;
	keep = s->held[0].resp.body;
	memmove(&s->held[0], &s->held[1],
	        (size_t)(s->n_held - 1) * sizeof(s->held[0]));
	s->n_held--;
	memset(&s->held[s->n_held], 0, sizeof(s->held[0]));
	s->held[s->n_held].resp.body = keep;
}

/* A flight that did not end in a 2xx (or could not start): its batch
 * waits in s->held, in capture order, for the blocking path, with the
 * answer it got (nothing of it was counted).  f->busy set: the answer is
 * fresh; clear: there is none (the batch is sent again). */
static void
hold(snd_t *s, flight_t *f, const otas__answer_t *ans)
{
	int i = s->n_held;
	otas__buf_t keep = s->held[i].resp.body; /* a spare buffer */

	while (i > 0 && s->held[i - 1].b.min_seq > f->b.min_seq) {
		s->held[i] = s->held[i - 1];
		i--;
	}
	s->held[i].b = f->b;
	s->held[i].resp = f->resp;
	memset(&s->held[i].early, 0, sizeof(s->held[i].early));
	if (ans) {
		s->held[i].early.ans = *ans;
		s->held[i].early.k = f->k;
		s->held[i].early.n_sent = f->rq.n;
		s->held[i].early.wire_len = f->rq.len;
		s->held[i].early.ep = f->rq.ep;
	}
	s->held[i].posts = f->busy && ans ? s->posts : s->posts + 1;
	f->resp.body = keep;
	otas__buf_reset(&f->resp.body);
	s->n_held++;
	memset(&f->b, 0, sizeof(f->b));
}

/* The queue's way to wake this thread in otas__http_wait(). */
static void
http_wake(void *arg)
{
	(void)otas__http_wakeup(arg);
}

static int
http_ready(snd_t *s)
{
	if (s->http)
		return 1;
	s->http = otas__http_new();
	if (!s->http) {
		otas__sender_set_error(s->sn, "cannot start libcurl");
		return 0;
	}
	otas__http_set_slots(s->http, (int)s->sn->cfg->max_in_flight);
	pthread_mutex_lock(&s->sn->q->mu);
	s->sn->q->wake_fn = http_wake;
	s->sn->q->wake_arg = s->http;
	pthread_mutex_unlock(&s->sn->q->mu);
	return 1;
}

/* ACT_START: serialise the next batch into a free slot (protocol.c, the
 * batch endpoint) and start its transfer.  do_collect() reads the answer. */
static void
do_start(snd_t *s)
{
	otas__sender_t *sn = s->sn;
	const otas__protocol_t *p = sn->proto;
	flight_t *f = NULL;
	otas__request_t *rq;
	size_t i;
	int slot;

	for (slot = 0; slot < (int)sn->cfg->max_in_flight &&
	               slot < OTAS__HTTP_SLOTS;
	     slot++)
		if (!s->fl[slot].busy) {
			f = &s->fl[slot];
			break;
		}
	if (!f || !http_ready(s))
		return;
	fill_into(s, &f->b);
	if (!f->b.n) {
		batch_clear(&f->b);
		publish(s);
		return;
	}
	f->b.deadline_ms = otas__now_mono_ms() + sn->timing->retry_window_ms;
	rq = &f->rq;
	project_id(sn, rq->project_id, sizeof(rq->project_id));
	rq->accepts_zstd =
	    atomic_load_explicit(&sn->auth->accepts_zstd,
	                         memory_order_relaxed);
	rq->zstd_refused = s->rq.zstd_refused;
	/* A framed batch is the body already: compressed where it is. */
	if (f->b.framed &&
	    otas__protocol_batch_adopt(p, rq, &f->b.data, f->b.n) == 0) {
		f->k = f->b.n;
		goto start;
	}
	if (otas__protocol_begin(p, rq, OTAS__EP_BATCH) != 0)
		goto held;
	for (i = 0; i < f->b.n; i++) {
		const ev_t *ev = &f->b.ev[i];
		otas__item_t it = {ev_json(&f->b, ev), ev->len,
		                   ev_token(&f->b, ev), ev->tok_len};
		if (otas__protocol_append(p, rq, &it) != OTAS__APPEND_OK)
			break;
	}
	f->k = i;
	/* Anything but a plain batch of every event (an item the protocol
	 * does not take) goes the blocking way, which counts it. */
	if (f->k != f->b.n || otas__protocol_end(p, rq) != 0)
		goto held;
start:
	if (otas__http_start(s->http, slot, rq->url, rq->hdr, rq->n_hdr,
	                     rq->body, rq->len, (long)sn->cfg->timeout_ms,
	                     &f->resp) != 0)
		goto held;
	f->busy = 1;
	s->in_flight++;
	return;
held:
	hold(s, f, NULL);
}

/* ACT_COLLECT (and shutdown): wait up to wait_ms for a transfer in flight
 * to end and book it: a 2xx is delivered (counted, resolved); anything
 * else is held, with its answer, for the blocking path. */
static void
do_collect(snd_t *s, long wait_ms)
{
	otas__sender_t *sn = s->sn;
	otas__answer_t ans;
	flight_t *f;
	int k = otas__http_wait(s->http, wait_ms);

	if (k < 0 && !otas__http_busy(s->http)) {
		/* Cannot happen (every started transfer is reported once);
		 * never wait for an answer that will not come. */
		for (k = 0; k < OTAS__HTTP_SLOTS; k++)
			if (s->fl[k].busy) {
				s->fl[k].busy = 0; /* no answer: sent again */
				hold(s, &s->fl[k], NULL);
				s->in_flight--;
			}
		publish(s);
		return;
	}
	if (k < 0 || k >= OTAS__HTTP_SLOTS || !s->fl[k].busy)
		return;
	f = &s->fl[k];
	otas__protocol_answer(sn->proto, &f->rq, &f->resp, &ans);
	if (f->rq.zstd_refused)
		s->rq.zstd_refused = 1;
	if (ans.outcome == OTAS__OUT_OK) {
		book_ok(s, &ans, f->rq.n, f->rq.len);
		set_batch_endpoint(sn, 1);
		if (s->failing) {
			otas__logf(sn->log, OTAS_LOG_INFO,
			          "otas: delivery works again");
			s->spool_dirty = 1;
		}
		s->failing = 0;
		s->auth_logged = 0;
		f->busy = 0;
		batch_clear(&f->b);
		drain_soon(s);
	} else {
		hold(s, f, &ans);
		f->busy = 0;
	}
	s->in_flight--;
	publish(s);
}

/* The scheduler's view of the sender and the queue.  q.mu held. */
static void
gather_locked(snd_t *s, int64_t now, otas__sched_state_t *st)
{
	otas__sender_t *sn = s->sn;
	int64_t ent_next = -1;

	promote_held(s);
	otas__entities_collect_locked(sn);
	memset(st, 0, sizeof(*st));
	st->q_count = sn->q->count;
	st->q_bytes = sn->q->bytes;
	st->q_max_bytes = sn->q->max_bytes;
	st->q_wake_bytes = sn->q->wake_bytes;
	st->oldest_ms = sn->q->head ? sn->q->head->enq_mono_ms : -1;
	st->entities_queued = sn->entq.head != NULL;
	if (st->entities_queued) {
		int64_t w = INT64_MAX;
		st->entities_due =
		    otas__entities_due_locked(sn, now, &w);
		ent_next = w == INT64_MAX ? -1 : w;
	}
	st->entities_next_ms = ent_next;
	st->batch_max_events = (uint64_t)sn->cfg->batch_max_events;
	st->backlog_events = (uint64_t)sn->cfg->batch_backlog_events;
	st->flush_interval_ms = sn->cfg->flush_interval_ms;
	st->stop = sn->stop;
	st->flush_wanted = sn->flush_seq > sn->done_seq;
	st->flush_deadline_ms = sn->flush_deadline_ms;
	st->authed = otas__auth_ok(sn->auth);
	st->auth_attempts = s->auth_attempt;
	st->next_auth_ms = s->next_auth_ms;
	st->pending = s->pending != NULL;
	st->batch_n = s->b.n;
	st->batch_deadline_ms = s->b.deadline_ms;
	st->batch_answered = s->answered;
	st->attempt = s->attempt;
	st->next_attempt_ms = s->next_attempt_ms;
	st->http_started = s->http != NULL;
	st->in_flight = s->in_flight;
	st->wakeable = s->http != NULL && otas__http_can_wake();
	/* Several batches in flight only on the batch endpoint with delivery
	 * working; spooled batches, retries and per-event mode go one at a
	 * time (the spool's order, attempt()'s bookkeeping). */
	st->max_in_flight = s->batch_mode &&
	                            sn->proto->kind == OTAS__PROTO_OTAS
	                        ? (int)sn->cfg->max_in_flight
	                        : 1;
	st->can_grow = s->batch_mode && sn->proto->kind == OTAS__PROTO_OTAS;
	st->spool_configured = sn->spool_path != NULL;
	st->spool_fail_until = s->spool_fail_until;
	st->spool_retry_ms = s->spool_retry_ms;
	st->spooled_here = s->spooled_here;
	st->drain_at = s->drain_at;
}

/* ACT_SPOOL: the held batch (or the next one) into the spool. */
static void
do_spool(snd_t *s)
{
	if (!s->b.n)
		fill_batch(s);
	if (s->b.n && spool_batch(s) == 0) {
		batch_clear(&s->b);
		publish(s);
	} else if (s->b.n) {
		/* No spool now: keep the batch and retry. */
		s->b.deadline_ms = otas__now_mono_ms() + s->sn->timing->retry_window_ms;
	}
}

/* ACT_SEND / ACT_DRAIN: one attempt of the batch, and its bookkeeping. */
static void
do_send(snd_t *s)
{
	int out;

	if (!s->b.n)
		fill_batch(s);
	if (!s->b.n)
		return;
	out = attempt(s, (long)s->sn->cfg->timeout_ms);
	if (out == OUT_DONE) {
		if (s->b.spool_id > 0)
			spool_end(s, s->b.spool_id, 1);
		batch_clear(&s->b);
		publish(s);
		/* Delivery works: look at the spool now. */
		drain_soon(s);
	} else if (s->b.spool_id > 0) {
		/* A spooled batch failed: give the lease back. */
		spool_end(s, s->b.spool_id, 0);
		batch_clear(&s->b);
	}
}

/* OTAS_SENDER_NICE: this thread's nice value goes up by nice (Linux
 * keeps one per thread), so a request thread wins a busy core over
 * delivery; the queue absorbs the delay.  Only ever lowers the priority,
 * which needs no privilege; a failure changes nothing. */
static void
lower_priority(int nice)
{
#ifdef SYS_gettid
	id_t tid = (id_t)syscall(SYS_gettid);
	int now;

	if (nice <= 0)
		return;
	errno = 0;
	now = getpriority(PRIO_PROCESS, tid);
	if (now == -1 && errno)
		return;
	(void)setpriority(PRIO_PROCESS, tid, now + nice > 19 ? 19 : now + nice);
#else
	(void)nice;
#endif
}

static void *
sender_main(void *arg)
{
	otas__sender_t *sn = arg;
	snd_t *s = calloc(1, sizeof(*s));
	int64_t deadline;

	if (!s) {
		/* Cannot run: records stay queued; shutdown counts them. */
		pthread_mutex_lock(&sn->q->mu);
		sn->exited = 1;
		pthread_mutex_unlock(&sn->q->mu);
		return NULL;
	}
	s->sn = sn;
	s->batch_mode = 1;
	/* Named for `top -H`, `ps -L` and debuggers (at most 15 bytes). */
	(void)pthread_setname_np(pthread_self(), "otas-sender");
	lower_priority(sn->cfg->sender_nice);
	s->spool_dirty = 1; /* an earlier run may have spooled */
	/* Every transfer of this thread ends at the shutdown deadline. */
	otas__http_thread_abort(&sn->abort_at_ms);

	for (;;) {
		int64_t now = otas__now_mono_ms();
		otas__sched_state_t st;
		otas__sched_decision_t d;

		pthread_mutex_lock(&sn->q->mu);
		sn->q->sender_waiting = 0; /* back from HTTP, if it waited there */
		gather_locked(s, now, &st);
		d = otas__sched_decide(&st, now);
		if (d.action == OTAS__ACT_STOP) {
			deadline = sn->stop_deadline_ms;
			pthread_mutex_unlock(&sn->q->mu);
			break;
		}
		/* A queue-full episode ends when the queue has room again. */
		if (sn->q->bytes <= sn->q->max_bytes / 2)
			atomic_store_explicit(&sn->q->full_logged, 0,
			                      memory_order_relaxed);
		if (d.take)
			take_locked(s, (size_t)d.take_max);
		if (d.resolve_all)
			resolved_locked(sn, sn->q->seq);
		if (d.action == OTAS__ACT_WAIT && !d.entities) {
			struct timespec ts;
			deadline_ts(d.wake_at_ms, &ts);
			/* Authentication failing: the sender waits for the
			 * next attempt or the spool grace, so a capture does
			 * not wake it (a futex and a context switch per
			 * request) unless the queue passes
			 * OTAS__SCHED_PARK_BYTES, nor at all when nothing can
			 * go to the spool now. */
			sn->q->wake_parked_bytes = OTAS__SCHED_PARK_BYTES;
			sn->q->wake_parked_count = otas__sched_park_events(
			    (uint64_t)sn->cfg->batch_max_events);
			if (d.parked_no_spool)
				sn->q->wake_parked_bytes =
				    sn->q->wake_parked_count = UINT64_MAX;
			/* A batch held for its backoff: the same, at the
			 * bytes the spool would take the batch. */
			if (d.held_wake_bytes) {
				sn->q->wake_parked_bytes = d.held_wake_bytes;
				sn->q->wake_parked_count = UINT64_MAX;
			}
			sn->q->sender_waiting =
			    d.parked || d.held_wake_bytes ? OTAS__QUEUE_PARKED
			    : d.wake_first                ? OTAS__QUEUE_FIRST
			                                  : 1;
			pthread_cond_timedwait(&sn->q->cv_send, &sn->q->mu, &ts);
			sn->q->sender_waiting = 0;
			pthread_mutex_unlock(&sn->q->mu);
			continue;
		}
		/* Waiting in HTTP: a full batch, a flush, a stop or an
		 * entity update wakes it there (otas__http_wakeup()), so it
		 * need not poll the queue. */
		if (d.action == OTAS__ACT_COLLECT && st.wakeable)
			sn->q->sender_waiting =
			    st.in_flight < st.max_in_flight
			        ? OTAS__QUEUE_IN_HTTP
			        : OTAS__QUEUE_IN_HTTP_FULL;
		pthread_mutex_unlock(&sn->q->mu);

		if (d.entities) {
			/* Updates go on this thread's handle, slot 0, as a
			 * blocking post: the batches in flight end first (a
			 * short pause of the pipeline; updates are rare). */
			while (s->in_flight)
				do_collect(s, 1000);
			otas__entities_send(sn, http_ready(s) ? s->http : NULL);
		}
		switch (d.action) {
		case OTAS__ACT_AUTH:
			try_auth(s, (long)sn->cfg->timeout_ms);
			break;
		case OTAS__ACT_FILL:
			fill_batch(s);
			if (s->b.n)
				s->b.deadline_ms = otas__now_mono_ms() +
				                   sn->timing->retry_window_ms;
			break;
		case OTAS__ACT_SPOOL:
			do_spool(s);
			break;
		case OTAS__ACT_DRAIN:
			if (!claim_spooled(s)) {
				/* Nothing spooled: look again after the next
				 * successful delivery, or in a while (another
				 * process may spool). */
				s->drain_empty_ms = otas__now_mono_ms();
				s->drain_at = s->drain_empty_ms + 30000;
				s->spool_dirty = 0;
				break;
			}
			do_send(s);
			break;
		case OTAS__ACT_SEND:
			do_send(s);
			break;
		case OTAS__ACT_START:
			do_start(s);
			break;
		case OTAS__ACT_COLLECT: {
			int64_t w = d.wake_at_ms - otas__now_mono_ms();
			do_collect(s, w > 0 ? (long)w : 0);
			break;
		}
		default:
			break;
		}
	}

	shutdown_flush(s, deadline);
	otas__entities_shutdown(sn, http_ready(s) ? s->http : NULL, deadline);
	snd_free(s);
	pthread_mutex_lock(&sn->q->mu);
	sn->exited = 1;
	pthread_mutex_unlock(&sn->q->mu);
	return NULL;
}

int
otas__sender_start(otas__sender_t *sn)
{
	pthread_attr_t at;
	sigset_t all, old;
	int masked, rc = 0;

	pthread_mutex_lock(&sn->q->mu);
	if (atomic_load(&sn->started) || sn->stop) {
		pthread_mutex_unlock(&sn->q->mu);
		return 0;
	}
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 256 * 1024);
	/* The thread is born with the host's asynchronous signals blocked,
	 * so SIGINT, SIGTERM and the like always reach one of the host's own
	 * threads.  A server's handler that runs on the sender instead (its
	 * exit path then waits for the very thread it runs on) lost a uWSGI
	 * worker's events at SIGINT about one stop in ten.  Faults (SEGV,
	 * BUS, FPE, ILL, ABRT, TRAP, SYS) stay deliverable. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	masked = pthread_sigmask(SIG_BLOCK, &all, &old) == 0;
	if (pthread_create(&sn->thread, &at, sender_main, sn) != 0) {
		rc = -1;
	} else {
		sn->running = 1;
		sn->exited = 0;
		atomic_store(&sn->started, 1);
	}
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	pthread_mutex_unlock(&sn->q->mu);
	return rc;
}

void
otas__sender_stop(otas__sender_t *sn, int timeout_ms)
{
	pthread_mutex_lock(&sn->q->mu);
	if (!sn->stop) {
		/* The first stop sets the deadline; a later one (free after
		 * stop, two threads) changes nothing of it. */
		sn->stop = 1;
		sn->stop_deadline_ms = otas__now_mono_ms() + timeout_ms;
		atomic_store(&sn->abort_at_ms, sn->stop_deadline_ms);
	}
	otas__queue_wake_locked(sn->q);
	pthread_cond_broadcast(&sn->q->cv_send);
	if (sn->running && sn->joining) {
		/* Another thread joins the sender (a thread is joined once):
		 * wait until it has, so that every stop returns with the
		 * sender gone. */
		while (sn->running)
			pthread_cond_wait(&sn->q->cv_done, &sn->q->mu);
		pthread_mutex_unlock(&sn->q->mu);
		return;
	}
	if (!sn->running) {
		pthread_mutex_unlock(&sn->q->mu);
		return;
	}
	sn->joining = 1;
	pthread_mutex_unlock(&sn->q->mu);
	pthread_join(sn->thread, NULL);
	pthread_mutex_lock(&sn->q->mu);
	sn->running = 0;
	sn->joining = 0;
	pthread_cond_broadcast(&sn->q->cv_done);
	pthread_mutex_unlock(&sn->q->mu);
}

int
otas__sender_flush(otas__sender_t *sn, int timeout_ms)
{
	struct timespec ts;
	int64_t dl;
	uint64_t target;
	int started, ok;

	dl = otas__now_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&sn->q->mu);
	target = sn->q->seq;
	if (sn->done_seq >= target && !otas__entities_busy_locked(sn)) {
		pthread_mutex_unlock(&sn->q->mu);
		return 0;
	}
	if (target > sn->flush_seq)
		sn->flush_seq = target;
	if (dl > sn->flush_deadline_ms)
		sn->flush_deadline_ms = dl;
	started = atomic_load(&sn->started);
	otas__queue_wake_locked(sn->q);
	pthread_mutex_unlock(&sn->q->mu);
	if (!started)
		otas__sender_start(sn);
	deadline_ts(dl, &ts);
	pthread_mutex_lock(&sn->q->mu);
	while (sn->done_seq < target && !sn->exited) {
		if (!sn->flush_wake || target < sn->flush_wake)
			sn->flush_wake = target;
		if (pthread_cond_timedwait(&sn->q->cv_done, &sn->q->mu, &ts) !=
		        0 &&
		    otas__now_mono_ms() >= dl)
			break;
	}
	ok = sn->done_seq >= target;
	/* Entity updates queued before the call (entity.c). */
	while (ok && otas__entities_busy_locked(sn) && !sn->exited) {
		pthread_cond_signal(&sn->q->cv_send);
		if (pthread_cond_timedwait(&sn->q->cv_done, &sn->q->mu, &ts) !=
		        0 &&
		    otas__now_mono_ms() >= dl) {
			ok = 0;
			break;
		}
	}
	pthread_mutex_unlock(&sn->q->mu);
	return ok ? 0 : 1;
}

void
otas__sender_gauges(otas__sender_t *sn, otas_stats_t *o)
{
	pthread_mutex_lock(&sn->q->mu);
	o->queue_bytes = sn->q->bytes;
	o->queue_events = sn->q->count;
	o->batch_endpoint = sn->batch_endpoint;
	o->authenticated = otas__auth_ok(sn->auth);
	snprintf(o->last_error, sizeof(o->last_error), "%s", sn->last_error);
	pthread_mutex_unlock(&sn->q->mu);
}

void
otas__sender_set_error(otas__sender_t *sn, const char *msg)
{
	size_t n = strlen(msg);

	/* Cut to the field (a copy, not snprintf: longer messages are
	 * expected and cut on purpose). */
	if (n >= sizeof(sn->last_error))
		n = sizeof(sn->last_error) - 1;
	pthread_mutex_lock(&sn->q->mu);
	memcpy(sn->last_error, msg, n);
	sn->last_error[n] = '\0';
	pthread_mutex_unlock(&sn->q->mu);
}

int
otas__sender_init(otas__sender_t *sn, const otas__sender_in_t *in)
{
	memset(sn, 0, sizeof(*sn));
	sn->cfg = in->cfg;
	sn->ev = in->ev;
	sn->proto = in->proto;
	sn->q = in->q;
	sn->c = in->c;
	sn->auth = in->auth;
	sn->log = in->log;
	sn->timing = in->timing;
	sn->auth_url = in->auth_url;
	sn->spool_path = in->spool_path;
	sn->batch_endpoint = -1;
	return pthread_mutex_init(&sn->spool_mu, NULL) == 0 ? 0 : -1;
}

void
otas__sender_destroy(otas__sender_t *sn)
{
	otas__entities_free(sn);
	if (sn->spool)
		otas__spool_close(sn->spool);
	sn->spool = NULL;
	pthread_mutex_destroy(&sn->spool_mu);
}

void
otas__sender_fork_prepare(otas__sender_t *sn)
{
	/* Waits for a spool call of the thread to finish; the thread (or the
	 * child's new one) reopens the handle at its next spool call. */
	pthread_mutex_lock(&sn->spool_mu);
	if (sn->spool)
		otas__spool_close(sn->spool);
	sn->spool = NULL;
}

void
otas__sender_fork_parent(otas__sender_t *sn)
{
	pthread_mutex_unlock(&sn->spool_mu);
}

void
otas__sender_fork_child(otas__sender_t *sn)
{
	atomic_store(&sn->started, 0);
	sn->running = 0;
	sn->exited = 0;
	sn->done_seq = sn->q->seq;
	sn->flush_seq = 0;
	sn->flush_wake = 0;
	otas__entities_reset_child(sn);
	pthread_mutex_unlock(&sn->spool_mu);
}
