/*
 * sender.c -- the background thread: queue -> events -> batches -> HTTP,
 * with retry, fallback to per-event delivery, and the spool.
 *
 * Design note.  One thread per process owns everything slow: serialisation
 * (event.c), gzip, the curl handle and the spool handle.  It holds q.mu
 * only to take records and to publish progress, never across I/O.  It
 * works on one batch at a time, in capture order, so that "every record up
 * to seq N is resolved" (delivered, dropped with a count, or spooled) is a
 * single number, done_seq, on which otas_flush() waits.
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
 * Fork: the child has no sender thread.  engine.c's atfork child handler
 * drops the parent's records (the parent delivers them) and clears
 * `started`, so the child's first capture starts a fresh thread with fresh
 * curl and spool handles; the parent's handles are left untouched in the
 * child (never used, never closed -- closing could disturb the parent's
 * connection or SQLite locks).
 */
#include "send/sender.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "capture/capture.h"
#include "event/event.h"
#include "send/compress.h"
#include "send/http_curl.h"
#include "common/json.h"
#include "send/otlp.h"
#include "send/retry.h"
#include "send/schedule.h"
#include "spool/spool.h"

typedef struct {
	char *json;
	size_t len;
	char *token; /* NULL when the event has none */
} ev_t;

typedef struct {
	ev_t *ev;
	size_t n, cap;
	size_t next;          /* per-event mode: events [0,next) resolved */
	size_t bytes;
	uint64_t min_seq, max_seq; /* capture seqs of its records */
	int64_t deadline_ms;  /* end of the retry window, 0 = not failing */
	int64_t spool_id;     /* > 0: claimed from the spool */
} batch_t;

/* One batch being sent without waiting (several in flight): its own body
 * buffers and answer, on transfer slot i of s->http. */
typedef struct {
	batch_t b;
	otas__buf_t body, gz;
	otas__http_resp_t resp;
	size_t wire_len;
	int enc;
	int busy;
} flight_t;

typedef struct {
	otas_engine_t *eng;
	otas__http_t *http;
	flight_t fl[OTAS__HTTP_SLOTS];
	int in_flight;
	/* Batches whose transfer in flight did not end in a 2xx, oldest
	 * capture first: they become s->b one at a time and take the blocking
	 * path (attempt(): 413 split, 415, fallback, backoff, spool). */
	struct {
		batch_t b;
		otas__http_resp_t resp; /* the answer it got in flight */
		int enc;
		size_t wire_len;
		uint64_t posts;         /* s->posts when it got it */
	} held[OTAS__HTTP_SLOTS];
	int n_held;
	/* Blocking requests made: an answer from flight is used by attempt()
	 * only if no request was made since (else it is stale, and the batch
	 * is sent again). */
	uint64_t posts;
	int answered;          /* s->resp holds s->b's first answer */
	int answered_enc;
	size_t answered_len;
	uint64_t taken_seq;   /* highest capture seq taken from the queue */
	int64_t spool_retry_ms;  /* when to try opening the spool again */
	char spool_msg[400];    /* to log once spool_mu is released */
	int64_t spool_fail_until; /* a spool write failed: not before */
	int64_t drain_at;       /* when to look for spooled batches */
	batch_t b;
	otas__record_t *pending; /* taken from the queue, not yet in b */
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
	otas__buf_t body, gz, scratch;
	otas__http_resp_t resp;
	void *zctx;           /* zstd compression context (gzip.c) */
	int zstd_refused;     /* the back end answered 415 to zstd: gzip */
	int spooled_here;     /* this sender put batches in the spool */
} snd_t;

static int http_ready(snd_t *s);
static void promote_held(snd_t *s);
static void do_collect(snd_t *s, long wait_ms);

enum { OUT_DONE, OUT_RETRY, OUT_AUTH_WAIT, OUT_FALLBACK, OUT_REDIRECT };

/* ------------------------------------------------------------ helpers */

static void
batch_clear(batch_t *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->ev[i].json);
		free(b->ev[i].token);
	}
	b->n = b->next = b->bytes = 0;
	b->min_seq = b->max_seq = 0;
	b->deadline_ms = 0;
	b->spool_id = 0;
}

static int
batch_add(batch_t *b, char *json, size_t len, const char *tok, size_t tlen)
{
	ev_t *e;

	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 64;
		ev_t *p = realloc(b->ev, nc * sizeof(*p));
		if (!p)
			return -1;
		b->ev = p;
		b->cap = nc;
	}
	e = &b->ev[b->n];
	e->json = json;
	e->len = len;
	e->token = NULL;
	if (tok && tlen) {
		e->token = strndup(tok, tlen);
		if (!e->token)
			return -1;
	}
	b->n++;
	b->bytes += len + 1;
	return 0;
}

static void
project_id(otas_engine_t *eng, char *out, size_t n)
{
	pthread_mutex_lock(&eng->q.mu);
	snprintf(out, n, "%s", eng->project_id);
	pthread_mutex_unlock(&eng->q.mu);
}

/* Append ev to out, filling in the project id when it was serialised
 * before authentication (see OTAS__EVENT_PREFIX). */
static void
append_event(otas__buf_t *out, const ev_t *ev, const char *pid)
{
	static const char empty[] = OTAS__EVENT_PREFIX "\"\"";
	size_t k = sizeof(empty) - 1;

	if (*pid && ev->len > k && memcmp(ev->json, empty, k) == 0) {
		otas__buf_puts(out, OTAS__EVENT_PREFIX);
		otas__json_str(out, pid, strlen(pid));
		otas__buf_append(out, ev->json + k, ev->len - k);
	} else {
		otas__buf_append(out, ev->json, ev->len);
	}
}

/* Mark everything up to seq resolved and wake flushers.  q.mu held. */
static void
resolved_locked(otas_engine_t *eng, uint64_t seq)
{
	if (seq > eng->done_seq) {
		eng->done_seq = seq;
		pthread_cond_broadcast(&eng->q.cv_done);
	}
}

static void
resolved(otas_engine_t *eng, uint64_t seq)
{
	pthread_mutex_lock(&eng->q.mu);
	resolved_locked(eng, seq);
	pthread_mutex_unlock(&eng->q.mu);
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
	resolved(s->eng, low == UINT64_MAX ? s->taken_seq : low - 1);
}

static void
set_batch_endpoint(otas_engine_t *eng, int v)
{
	pthread_mutex_lock(&eng->q.mu);
	eng->batch_endpoint = v;
	pthread_mutex_unlock(&eng->q.mu);
}

/* status_description (log answers) or error (auth answers). */
static void
answer_description(const otas__buf_t *body, char *out, size_t n)
{
	json_t *o, *v;

	out[0] = '\0';
	if (!body->len)
		return;
	o = json_loadb(body->data, body->len, 0, NULL);
	if (!o)
		return;
	v = json_object_get(o, "status_description");
	if (!json_is_string(v))
		v = json_object_get(o, "error");
	if (json_is_string(v))
		snprintf(out, n, "%s", json_string_value(v));
	json_decref(o);
}

/* --------------------------------------------------------------- spool */

/* The spool handle lives in the engine, guarded by spool_mu, because the
 * fork prepare handler must close it (SQLite's per-process lock
 * bookkeeping must not be inherited); it is reopened here lazily.  Every
 * caller holds spool_mu from spool_ready() to its last spool call. */
static int
spool_ready(snd_t *s)
{
	otas_engine_t *eng = s->eng;
	char err[256];
	int64_t now = otas__now_mono_ms();

	if (eng->spool)
		return 1;
	if (!eng->spool_path || now < s->spool_retry_ms)
		return 0;
	eng->spool = otas__spool_open(eng->spool_path,
	                              eng->cfg->spool_max_bytes, err,
	                              sizeof(err));
	if (!eng->spool) {
		s->spool_retry_ms = now + 60000;
		snprintf(s->spool_msg, sizeof(s->spool_msg),
		         "otas: cannot open the spool, undelivered events stay "
		         "in memory: %s", err);
		return 0;
	}
	/* Agent tokens are sealed under a key derived from the SDK key. */
	otas__spool_set_secret(eng->spool, eng->cfg->sdk_key,
	                       strlen(eng->cfg->sdk_key));
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
	otas__log(s->eng, OTAS_LOG_WARNING, "%s", s->spool_msg);
	otas__set_last_error(s->eng, s->spool_msg);
	s->spool_msg[0] = '\0';
}

/* Delete (delivered) or release (not delivered) a claimed batch. */
static void
spool_end(snd_t *s, int64_t id, int delivered)
{
	otas_engine_t *eng = s->eng;

	pthread_mutex_lock(&eng->spool_mu);
	if (eng->spool || spool_ready(s)) {
		if (delivered)
			otas__spool_delete(eng->spool, id);
		else
			otas__spool_release(eng->spool, id);
	}
	pthread_mutex_unlock(&eng->spool_mu);
	spool_log(s);
	/* Counted once the batch is out of the spool for good (a batch
	 * claimed as a probe and released again is not). */
	if (delivered)
		OTAS__INC(eng, unspooled, s->b.n);
}

/* Put the unresolved part of b into the spool.  0, or -1 (b unchanged). */
static int
spool_batch(snd_t *s)
{
	otas_engine_t *eng = s->eng;
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
		otas__buf_append(&s->body, b->ev[i].json, b->ev[i].len);
		n++;
	}
	if (!n)
		return 0;
	if (s->body.oom)
		return -1;
	pthread_mutex_lock(&eng->spool_mu);
	if (!spool_ready(s)) {
		pthread_mutex_unlock(&eng->spool_mu);
		spool_log(s);
		s->spool_fail_until = otas__now_mono_ms() + 5000;
		return -1;
	}
	rc = otas__spool_put(eng->spool, s->body.data, s->body.len,
	                     (uint32_t)n, &evicted, err, sizeof(err));
	pthread_mutex_unlock(&eng->spool_mu);
	spool_log(s);
	if (rc != 0) {
		s->spool_fail_until = otas__now_mono_ms() + 5000;
		otas__log(eng, OTAS_LOG_WARNING, "otas: spool write failed: %s",
		          err);
		otas__set_last_error(eng, err);
		return -1;
	}
	OTAS__INC(eng, spooled, n);
	s->spooled_here = 1;
	if (evicted)
		OTAS__INC(eng, dropped_spool_full, evicted);
	return 0;
}

/* Claim one spooled batch into b.  1 claimed, 0 none. */
static int
claim_spooled(snd_t *s)
{
	otas__buf_t pay = OTAS__BUF_INIT;
	int64_t id;
	uint32_t n = 0;
	char *p, *e, *end;
	int rc;

	pthread_mutex_lock(&s->eng->spool_mu);
	rc = spool_ready(s) ? otas__spool_claim(s->eng->spool,
	                                        OTAS__SPOOL_LEASE_MS, &id, &pay,
	                                        &n)
	                    : 0;
	pthread_mutex_unlock(&s->eng->spool_mu);
	spool_log(s);
	if (rc != 1) {
		otas__buf_free(&pay);
		return 0;
	}
	s->answered = 0;
	p = pay.data;
	end = pay.data + pay.len;
	while (p && p < end) {
		char *js;
		json_t *o, *t;
		const char *tok = NULL;
		size_t tl = 0;

		e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end;
		if (e > p) {
			js = strndup(p, (size_t)(e - p));
			if (!js)
				break;
			/* The token, for per-event mode. */
			o = json_loadb(js, (size_t)(e - p), 0, NULL);
			t = o ? json_object_get(o, "agent_session_token") : NULL;
			if (json_is_string(t)) {
				tok = json_string_value(t);
				tl = strlen(tok);
			}
			if (batch_add(&s->b, js, (size_t)(e - p), tok, tl) != 0)
				free(js);
			json_decref(o);
		}
		p = e + 1;
	}
	otas__buf_free(&pay);
	s->b.spool_id = id;
	if (!s->b.n) {
		spool_end(s, id, 1);
		batch_clear(&s->b);
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------- batches */

/* Serialise pending records into b up to the batch limits.  Records left
 * over stay in s->pending. */
static void
fill_into(snd_t *s, batch_t *b)
{
	otas_engine_t *eng = s->eng;
	char pid[128];
	size_t max_ev = (size_t)eng->cfg->batch_max_events;
	size_t max_bytes = (size_t)eng->cfg->batch_max_bytes;

	project_id(eng, pid, sizeof(pid));
	while (s->pending && b->n < max_ev) {
		otas__record_t *r = s->pending;
		otas__buf_t out = OTAS__BUF_INIT;
		const char *tok;
		size_t tl, len;
		char *js;

		if (b->n && b->bytes >= max_bytes)
			break;
		s->pending = r->next;
		if (otas__event_write(eng, pid, r, &out, &tok, &tl) != 0) {
			OTAS__INC(eng, dropped_capture_error, 1);
			otas__buf_free(&out);
		} else {
			js = otas__buf_steal(&out, &len);
			if (batch_add(b, js, len, tok, tl) != 0) {
				free(js);
				OTAS__INC(eng, dropped_capture_error, 1);
			}
		}
		if (!b->min_seq || r->seq < b->min_seq)
			b->min_seq = r->seq;
		if (r->seq > b->max_seq)
			b->max_seq = r->seq;
		if (r->seq > s->taken_seq)
			s->taken_seq = r->seq;
		free(r);
	}
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

/* Take up to one batch worth of records from the queue into s->pending.
 * q.mu held. */
static void
take_locked(snd_t *s)
{
	size_t n;

	if (s->pending)
		return;
	s->pending = otas__queue_take_locked(
	    &s->eng->q, (size_t)s->eng->cfg->batch_max_events, &n);
}

/* --------------------------------------------------------------- sends */

static const char *
key_header(snd_t *s)
{
	return s->eng->key_header;
}

/* The batch body's encoding (OTAS__COMP_ZSTD, _GZIP or _NONE): zstd when
 * OTAS_COMPRESSION=zstd, or =auto and the back end's authentication
 * answer listed it; gzip after a 415 to zstd (remembered) and for any
 * back end that did not say (the OTAS platform). */
static int
body_encoding(snd_t *s)
{
	int c = otas__compression(s->eng->cfg);

	if (c == OTAS__COMP_NONE || c == OTAS__COMP_GZIP)
		return c;
	if (s->zstd_refused)
		return OTAS__COMP_GZIP;
	if (c == OTAS__COMP_ZSTD ||
	    __atomic_load_n(&s->eng->accepts_zstd, __ATOMIC_RELAXED))
		return OTAS__COMP_ZSTD;
	return OTAS__COMP_GZIP;
}

/* The batch endpoint's body for events [from, from+k) of b, encoded:
 * the wire bytes (body or gz), NULL when out of memory. */
static const otas__buf_t *
batch_body(snd_t *s, const batch_t *b, size_t from, size_t k, const char *pid,
           otas__buf_t *body, otas__buf_t *gz, int *enc)
{
	size_t i;

	otas__buf_reset(body);
	otas__buf_puts(body, "{\"events\":[");
	for (i = from; i < from + k; i++) {
		if (i > from)
			otas__buf_putc(body, ',');
		append_event(body, &b->ev[i], pid);
	}
	otas__buf_puts(body, "]}");
	otas__buf_reset(gz);
	*enc = body_encoding(s);
	if (body->oom)
		return NULL;
	if (*enc == OTAS__COMP_ZSTD) {
		if (otas__zstd(&s->zctx, body->data, body->len, gz) != 0)
			return NULL;
	} else if (*enc == OTAS__COMP_GZIP) {
		if (otas__gzip(body->data, body->len, gz) != 0)
			return NULL;
	}
	return *enc == OTAS__COMP_NONE ? body : gz;
}

/* The batch endpoint's header lines for encoding enc; their count. */
static size_t
batch_headers(snd_t *s, int enc, const char *hdr[3])
{
	hdr[0] = key_header(s);
	hdr[1] = "Content-Type: application/json";
	hdr[2] = enc == OTAS__COMP_ZSTD ? "Content-Encoding: zstd"
	                                : "Content-Encoding: gzip";
	return enc == OTAS__COMP_NONE ? 2 : 3;
}

/* A 2xx from the batch endpoint for k events sent in wire_len bytes:
 * count what it says it accepted, found duplicate and rejected. */
static void
count_accepted(snd_t *s, const otas__http_resp_t *resp, size_t k,
               size_t wire_len)
{
	otas_engine_t *eng = s->eng;
	uint64_t acc = k, dup = 0, rej = 0;
	json_t *o;

	o = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len,
	               0, NULL);
	if (json_is_object(o)) {
		json_t *a = json_object_get(o, "accepted");
		json_t *d = json_object_get(o, "duplicates");
		json_t *r = json_object_get(o, "rejected");
		if (json_is_integer(a) && json_integer_value(a) >= 0)
			acc = (uint64_t)json_integer_value(a);
		if (json_is_integer(d) && json_integer_value(d) >= 0)
			dup = (uint64_t)json_integer_value(d);
		if (json_is_array(r))
			rej = json_array_size(r);
	}
	json_decref(o);
	OTAS__INC(eng, sent, acc);
	OTAS__INC(eng, duplicates, dup);
	OTAS__INC(eng, dropped_rejected, rej);
	OTAS__INC(eng, batches, 1);
	OTAS__INC(eng, bytes_sent, wire_len);
	if (rej)
		otas__log(eng, OTAS_LOG_WARNING,
		          "otas: the back end rejected %llu event(s) of a batch",
		          (unsigned long long)rej);
}

static int
send_batch_mode(snd_t *s, long timeout_ms, int *retry_after_ms)
{
	otas_engine_t *eng = s->eng;
	batch_t *b = &s->b;
	const char *hdr[3];
	char pid[128], desc[128];
	size_t k, split = 0, wire_len;
	otas__retry_action_t act;
	const otas__buf_t *wire;
	int enc;

	project_id(eng, pid, sizeof(pid));
	*retry_after_ms = -1;
	while (b->next < b->n) {
		/* A 413 halves the request until it fits (one event that
		 * is still too large is dropped, counted). */
		k = b->n - b->next;
		if (split && split < k)
			k = split;
		if (s->answered && b->next == 0 && k == b->n) {
			/* Sent in flight; its answer is in s->resp. */
			enc = s->answered_enc;
			wire_len = s->answered_len;
		} else {
			wire = batch_body(s, b, b->next, k, pid, &s->body,
			                  &s->gz, &enc);
			if (!wire)
				return OUT_RETRY;
			wire_len = wire->len;
			s->posts++;
			otas__http_post(s->http, eng->batch_url, hdr,
			                batch_headers(s, enc, hdr), wire->data,
			                wire->len, timeout_ms, &s->resp);
		}
		s->answered = 0;
		if (s->resp.status == 415 && enc == OTAS__COMP_ZSTD) {
			/* This back end does not decode zstd after all:
			 * gzip from now on, and send the same events again. */
			s->zstd_refused = 1;
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: the back end refused zstd bodies (HTTP "
			          "415); batches are sent with gzip");
			continue;
		}
		answer_description(&s->resp.body, desc, sizeof(desc));
		act = otas__retry_classify(s->resp.status, desc, 1);
		if (s->resp.retry_after[0])
			*retry_after_ms = (int)otas__retry_after_ms(
			    s->resp.retry_after, time(NULL));
		if (s->resp.status == 413 && k > 1) {
			split = k / 2;
			continue;
		}
		switch (act) {
		case OTAS__RETRY_OK: {
			count_accepted(s, &s->resp, k, wire_len);
			b->next += k;
			set_batch_endpoint(eng, 1);
			break;
		}
		case OTAS__RETRY_FALLBACK:
			return OUT_FALLBACK;
		case OTAS__RETRY_DROP:
		case OTAS__RETRY_DROP_TOKEN:
			/* The whole body was refused (400: not JSON or no
			 * events list; 413 for a single event).  We wrote
			 * it, so sending it again gets the same answer:
			 * drop it, counted, and say why. */
			OTAS__INC(eng, dropped_rejected, k);
			otas__log(eng, OTAS_LOG_ERROR,
			          "otas: the back end refused a batch of %zu "
			          "events (HTTP %d %s); they are dropped",
			          k, s->resp.status, desc);
			b->next += k;
			break;
		case OTAS__RETRY_AUTH_WAIT:
			return OUT_AUTH_WAIT;
		case OTAS__RETRY_REDIRECT:
			return OUT_REDIRECT;
		default:
			return OUT_RETRY;
		}
	}
	return OUT_DONE;
}

static int
send_event_mode(snd_t *s, long timeout_ms, int *retry_after_ms)
{
	otas_engine_t *eng = s->eng;
	batch_t *b = &s->b;
	const char *hdr[3];
	char pid[128], desc[128], tokhdr[8192];
	otas__retry_action_t act;

	project_id(eng, pid, sizeof(pid));
	*retry_after_ms = -1;
	while (b->next < b->n) {
		ev_t *ev = &b->ev[b->next];
		size_t nh = 2;

		if (!ev->token && !eng->cfg->send_without_agent_token) {
			OTAS__INC(eng, skipped_no_agent_token, 1);
			b->next++;
			continue;
		}
		otas__buf_reset(&s->body);
		append_event(&s->body, ev, pid);
		hdr[0] = key_header(s);
		hdr[1] = "Content-Type: application/json";
		if (ev->token) {
			if (strlen(ev->token) > sizeof(tokhdr) - 40 ||
			    strpbrk(ev->token, "\r\n")) {
				/* Cannot be a valid token header. */
				OTAS__INC(eng, dropped_invalid_agent_token, 1);
				b->next++;
				continue;
			}
			snprintf(tokhdr, sizeof(tokhdr),
			         "X-OTAS-AGENT-SESSION-TOKEN: %s", ev->token);
			hdr[nh++] = tokhdr;
		}
		otas__http_post(s->http, eng->event_url, hdr, nh,
		                s->body.data, s->body.len, timeout_ms, &s->resp);
		memset(tokhdr, 0, sizeof(tokhdr));
		answer_description(&s->resp.body, desc, sizeof(desc));
		act = otas__retry_classify(s->resp.status, desc, 0);
		switch (act) {
		case OTAS__RETRY_OK:
			OTAS__INC(eng, sent, 1);
			OTAS__INC(eng, batches, 1);
			OTAS__INC(eng, bytes_sent, s->body.len);
			b->next++;
			break;
		case OTAS__RETRY_DROP:
			OTAS__INC(eng, dropped_rejected, 1);
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: the back end refused an event (HTTP %d "
			          "%s); it is dropped", s->resp.status, desc);
			b->next++;
			break;
		case OTAS__RETRY_DROP_TOKEN:
			OTAS__INC(eng, dropped_invalid_agent_token, 1);
			b->next++;
			break;
		case OTAS__RETRY_AUTH_WAIT:
			return OUT_AUTH_WAIT;
		case OTAS__RETRY_REDIRECT:
			return OUT_REDIRECT;
		default:
			if (s->resp.retry_after[0])
				*retry_after_ms = (int)otas__retry_after_ms(
				    s->resp.retry_after, time(NULL));
			return OUT_RETRY;
		}
	}
	return OUT_DONE;
}

/* OTAS_EXPORTER=otlp: the batch as one OTLP/HTTP logs request (otlp.c
 * writes it and reads the answer); a 413 halves it as above. */
static int
send_otlp_mode(snd_t *s, long timeout_ms, int *retry_after_ms)
{
	otas_engine_t *eng = s->eng;
	batch_t *b = &s->b;
	const char *const *hdr;
	const otas__buf_t *pay = &s->body;
	size_t i, k, nh, split = 0;
	int64_t rej;
	char msg[160];

	*retry_after_ms = -1;
	while (b->next < b->n) {
		k = b->n - b->next;
		if (split && split < k)
			k = split;
		otas__buf_reset(&s->scratch);
		for (i = b->next; i < b->next + k; i++)
			if (otas__otlp_add(eng->otlp, b->ev[i].json,
			                   b->ev[i].len, &s->scratch) != 0)
				OTAS__INC(eng, dropped_capture_error, 1);
		if (otas__otlp_finish(eng->otlp, &s->scratch, &s->body) != 0)
			return OUT_RETRY;
		if (otas__otlp_gzip(eng->otlp)) {
			otas__buf_reset(&s->gz);
			if (otas__gzip(s->body.data, s->body.len, &s->gz) != 0)
				return OUT_RETRY;
			pay = &s->gz;
		}
		hdr = otas__otlp_headers(eng->otlp, &nh);
		otas__http_post(s->http, otas__otlp_url(eng->otlp), hdr, nh,
		                pay->data, pay->len, timeout_ms, &s->resp);
		if (s->resp.retry_after[0])
			*retry_after_ms = (int)otas__retry_after_ms(
			    s->resp.retry_after, time(NULL));
		if (s->resp.status == 413 && k > 1) {
			split = k / 2;
			continue;
		}
		switch (otas__otlp_classify(s->resp.status)) {
		case OTAS__RETRY_OK:
			otas__otlp_parse_response(s->resp.body.data,
			                          s->resp.body.len, &rej, msg,
			                          sizeof(msg));
			if (rej < 0 || (uint64_t)rej > k)
				rej = (int64_t)k;
			OTAS__INC(eng, sent, k - (size_t)rej);
			OTAS__INC(eng, dropped_rejected, rej);
			OTAS__INC(eng, batches, 1);
			OTAS__INC(eng, bytes_sent, pay->len);
			if (rej)
				otas__log(eng, OTAS_LOG_WARNING,
				          "otas: the OTLP endpoint rejected %lld "
				          "log record(s): %s", (long long)rej, msg);
			b->next += k;
			break;
		case OTAS__RETRY_DROP:
			OTAS__INC(eng, dropped_rejected, k);
			otas__log(eng, OTAS_LOG_ERROR,
			          "otas: the OTLP endpoint %s refused %zu log "
			          "records (HTTP %d); they are dropped",
			          otas__otlp_url(eng->otlp), k, s->resp.status);
			b->next += k;
			break;
		case OTAS__RETRY_AUTH_WAIT:
			return OUT_AUTH_WAIT;
		case OTAS__RETRY_REDIRECT:
			return OUT_REDIRECT;
		default:
			return OUT_RETRY;
		}
	}
	return OUT_DONE;
}

/* One delivery attempt of b.  Returns OUT_*. */
static int
attempt(snd_t *s, long timeout_ms)
{
	otas_engine_t *eng = s->eng;
	int out, ra = -1;
	int64_t now = otas__now_mono_ms();

	if (!http_ready(s))
		return OUT_RETRY;
	if (!s->batch_mode && now >= s->reprobe_ms)
		s->batch_mode = 1; /* try the batch endpoint again */
	for (;;) {
		out = eng->otlp       ? send_otlp_mode(s, timeout_ms, &ra)
		      : s->batch_mode ? send_batch_mode(s, timeout_ms, &ra)
		                      : send_event_mode(s, timeout_ms, &ra);
		if (out != OUT_FALLBACK)
			break;
		if (s->reprobe_ms == 0)
			otas__log(eng, OTAS_LOG_INFO,
			          "otas: the back end has no batch endpoint; "
			          "sending one event per request");
		s->batch_mode = 0;
		s->reprobe_ms = otas__now_mono_ms() + eng->reprobe_ms;
		set_batch_endpoint(eng, 0);
	}
	if (out == OUT_DONE) {
		if (s->failing)
			otas__log(eng, OTAS_LOG_INFO,
			          "otas: delivery works again");
		s->failing = 0;
		s->auth_logged = 0;
		s->attempt = 0;
		s->next_attempt_ms = 0;
		s->server_wait = 0;
		return out;
	}
	s->server_wait = out == OUT_AUTH_WAIT || out == OUT_REDIRECT || ra >= 0;
	s->attempt++;
	OTAS__INC(eng, retried, 1);
	now = otas__now_mono_ms();
	if (out == OUT_REDIRECT) {
		char msg[600];
		snprintf(msg, sizeof(msg),
		         "the back end answered HTTP %d redirecting to %s: "
		         "%s is wrong (use the address it names); "
		         "the redirect is not followed, so the key is not sent "
		         "there, and events are kept (spooled)",
		         s->resp.status,
		         s->resp.location[0] ? s->resp.location : "(no Location)",
		         eng->otlp ? "OTAS_OTLP_ENDPOINT" : "OTAS_BASE_URL");
		otas__set_last_error(eng, msg);
		if (!s->auth_logged)
			otas__log(eng, OTAS_LOG_ERROR, "otas: %s", msg);
		s->auth_logged = 1;
		s->next_attempt_ms = now + eng->auth_wait_ms;
	} else if (out == OUT_AUTH_WAIT) {
		char desc[128], msg[256];
		answer_description(&s->resp.body, desc, sizeof(desc));
		if (eng->otlp)
			snprintf(msg, sizeof(msg),
			         "the OTLP endpoint refused the request (HTTP "
			         "%d): check OTAS_OTLP_HEADERS; events are kept "
			         "and retried", s->resp.status);
		else
			snprintf(msg, sizeof(msg),
			         "the back end refused the SDK key (HTTP %d %s); "
			         "events are kept and retried",
			         s->resp.status, desc);
		otas__set_last_error(eng, msg);
		if (!s->auth_logged)
			otas__log(eng, OTAS_LOG_ERROR, "otas: %s", msg);
		s->auth_logged = 1;
		s->next_attempt_ms = now + eng->auth_wait_ms;
	} else {
		char msg[256];
		int64_t d = otas__retry_delay_ms(s->attempt, otas__rand64(),
		                                 eng->retry_base_ms,
		                                 eng->retry_cap_ms);
		if (ra >= 0) /* the server knows best, within reason */
			d = ra > 300000 ? 300000 : ra;
		if (s->resp.status)
			snprintf(msg, sizeof(msg),
			         "delivery failed: HTTP %d from %s", s->resp.status,
			         s->batch_mode ? "the batch endpoint"
			                       : "the event endpoint");
		else
			snprintf(msg, sizeof(msg), "delivery failed: %s",
			         s->resp.error);
		otas__set_last_error(eng, msg);
		if (!s->failing)
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: %s; retrying with backoff", msg);
		s->next_attempt_ms = now + d;
	}
	s->failing = 1;
	if (!s->b.deadline_ms)
		s->b.deadline_ms = now + eng->retry_window_ms;
	return out;
}

/* ------------------------------------------------------------- auth */

static void
try_auth(snd_t *s, long timeout_ms)
{
	otas_engine_t *eng = s->eng;
	otas_auth_result_t res;
	int64_t now;

	otas_authenticate_key(eng->auth_url, eng->cfg->sdk_key,
	                      (int)timeout_ms, &res);
	otas__engine_set_auth(eng, &res);
	now = otas__now_mono_ms();
	if (res.status == OTAS_AUTH_OK) {
		s->auth_attempt = 0;
		return;
	}
	s->auth_attempt++;
	otas__set_last_error(eng, res.message);
	if (res.status == OTAS_AUTH_INVALID_KEY) {
		if (!s->auth_logged)
			otas__log(eng, OTAS_LOG_ERROR,
			          "otas: authentication failed: %s; events are "
			          "kept and authentication retried", res.message);
		s->auth_logged = 1;
		s->next_auth_ms = now + eng->auth_wait_ms;
	} else {
		if (s->auth_attempt == 1 &&
		    !atomic_exchange(&eng->unreachable_told, 0))
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: the back end is unreachable (%s); "
			          "retrying authentication in the background",
			          res.message);
		s->next_auth_ms =
		    now + otas__retry_delay_ms(s->auth_attempt, otas__rand64(),
		                               eng->retry_base_ms * 2,
		                               eng->retry_cap_ms * 2) +
		    eng->retry_base_ms;
	}
}

/* ------------------------------------------------------------ shutdown */

/* Stop: deliver until the deadline, spool the rest. */
static void
shutdown_flush(snd_t *s, int64_t deadline)
{
	otas_engine_t *eng = s->eng;
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
		pthread_mutex_lock(&eng->q.mu);
		take_locked(s);
		authed = eng->auth_state == OTAS__AUTH_OK;
		pthread_mutex_unlock(&eng->q.mu);
		if (!s->b.n)
			fill_batch(s);
		if (!s->b.n)
			break;
		if (!give_up && !authed && now < deadline &&
		    now >= s->next_auth_ms) {
			/* The project is still unknown: one try. */
			long t = (long)(deadline - now);
			if (t > eng->cfg->timeout_ms)
				t = (long)eng->cfg->timeout_ms;
			try_auth(s, t);
			pthread_mutex_lock(&eng->q.mu);
			authed = eng->auth_state == OTAS__AUTH_OK;
			pthread_mutex_unlock(&eng->q.mu);
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
			if (t > eng->cfg->timeout_ms)
				t = (long)eng->cfg->timeout_ms;
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
			OTAS__INC(eng, dropped_shutdown, s->b.n - s->b.next);
		batch_clear(&s->b);
		publish(s);
	}
	pthread_mutex_lock(&eng->q.mu);
	last = eng->q.seq;
	resolved_locked(eng, last);
	pthread_mutex_unlock(&eng->q.mu);
}

/* -------------------------------------------------------------- thread */

static void
snd_free(snd_t *s)
{
	otas__record_t *r;
	int i;

	batch_clear(&s->b);
	free(s->b.ev);
	for (i = 0; i < OTAS__HTTP_SLOTS; i++) {
		batch_clear(&s->fl[i].b);
		free(s->fl[i].b.ev);
		otas__buf_free(&s->fl[i].body);
		otas__buf_free(&s->fl[i].gz);
		otas__buf_free(&s->fl[i].resp.body);
		batch_clear(&s->held[i].b);
		free(s->held[i].b.ev);
		otas__buf_free(&s->held[i].resp.body);
	}
	while ((r = s->pending)) {
		s->pending = r->next;
		free(r);
	}
	otas__http_free(s->http);
	otas__zstd_free(s->zctx);
	pthread_mutex_lock(&s->eng->spool_mu);
	if (s->eng->spool)
		otas__spool_close(s->eng->spool);
	s->eng->spool = NULL;
	pthread_mutex_unlock(&s->eng->spool_mu);
	otas__buf_free(&s->body);
	otas__buf_free(&s->gz);
	otas__buf_free(&s->scratch);
	otas__buf_free(&s->resp.body);
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
	free(s->b.ev);
	s->b = s->held[0].b;
	/* Its answer becomes s->resp (the buffers swap owners). */
	keep = s->resp.body;
	s->resp = s->held[0].resp;
	s->held[0].resp.body = keep;
	otas__buf_reset(&s->held[0].resp.body);
	s->answered = s->batch_mode && !s->eng->otlp &&
	              s->held[0].posts == s->posts;
	s->answered_enc = s->held[0].enc;
	s->answered_len = s->held[0].wire_len;
	keep = s->held[0].resp.body;
	memmove(&s->held[0], &s->held[1],
	        (size_t)(s->n_held - 1) * sizeof(s->held[0]));
	s->n_held--;
	memset(&s->held[s->n_held], 0, sizeof(s->held[0]));
	s->held[s->n_held].resp.body = keep;
}

/* A flight that did not end in a 2xx: its batch waits in s->held, in
 * capture order, for the blocking path (nothing of it was counted). */
static void
hold(snd_t *s, flight_t *f)
{
	int i = s->n_held;
	otas__buf_t keep = s->held[i].resp.body; /* a spare buffer */

	while (i > 0 && s->held[i - 1].b.min_seq > f->b.min_seq) {
		s->held[i] = s->held[i - 1];
		i--;
	}
	s->held[i].b = f->b;
	s->held[i].resp = f->resp;
	s->held[i].enc = f->enc;
	s->held[i].wire_len = f->wire_len;
	s->held[i].posts = f->busy ? s->posts : s->posts + 1;
	f->resp.body = keep;
	otas__buf_reset(&f->resp.body);
	s->n_held++;
	memset(&f->b, 0, sizeof(f->b));
}

static int
http_ready(snd_t *s)
{
	if (s->http)
		return 1;
	s->http = otas__http_new();
	if (!s->http) {
		otas__set_last_error(s->eng, "cannot start libcurl");
		return 0;
	}
	otas__http_set_slots(s->http, (int)s->eng->cfg->max_in_flight);
	return 1;
}

/* ACT_START: serialise the next batch into a free slot and start its
 * transfer.  Its answer is read by do_collect(). */
static void
do_start(snd_t *s)
{
	otas_engine_t *eng = s->eng;
	const char *hdr[3];
	const otas__buf_t *wire;
	char pid[128];
	flight_t *f = NULL;
	int i, enc;

	for (i = 0; i < (int)eng->cfg->max_in_flight && i < OTAS__HTTP_SLOTS; i++)
		if (!s->fl[i].busy) {
			f = &s->fl[i];
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
	f->b.deadline_ms = otas__now_mono_ms() + eng->retry_window_ms;
	project_id(eng, pid, sizeof(pid));
	wire = batch_body(s, &f->b, 0, f->b.n, pid, &f->body, &f->gz, &enc);
	if (!wire || otas__http_start(s->http, i, eng->batch_url, hdr,
	                              batch_headers(s, enc, hdr), wire->data,
	                              wire->len, (long)eng->cfg->timeout_ms,
	                              &f->resp) != 0) {
		hold(s, f);
		return;
	}
	f->wire_len = wire->len;
	f->enc = enc;
	f->busy = 1;
	s->in_flight++;
}

/* ACT_COLLECT (and shutdown): wait up to wait_ms for a transfer in flight
 * to end and book it: a 2xx is delivered (counted, resolved); anything
 * else is held for the blocking path, which classifies it again. */
static void
do_collect(snd_t *s, long wait_ms)
{
	otas_engine_t *eng = s->eng;
	flight_t *f;
	char desc[128];
	int k = otas__http_wait(s->http, wait_ms);

	if (k < 0 && !otas__http_busy(s->http)) {
		/* Cannot happen (every started transfer is reported once);
		 * never wait for an answer that will not come. */
		for (k = 0; k < OTAS__HTTP_SLOTS; k++)
			if (s->fl[k].busy) {
				s->fl[k].busy = 0; /* no answer: sent again */
				hold(s, &s->fl[k]);
				s->in_flight--;
			}
		publish(s);
		return;
	}
	if (k < 0 || k >= OTAS__HTTP_SLOTS || !s->fl[k].busy)
		return;
	f = &s->fl[k];
	answer_description(&f->resp.body, desc, sizeof(desc));
	if (f->resp.status != 413 && f->resp.status != 415 &&
	    otas__retry_classify(f->resp.status, desc, 1) == OTAS__RETRY_OK) {
		count_accepted(s, &f->resp, f->b.n, f->wire_len);
		set_batch_endpoint(eng, 1);
		if (s->failing)
			otas__log(eng, OTAS_LOG_INFO,
			          "otas: delivery works again");
		s->failing = 0;
		s->auth_logged = 0;
		f->busy = 0;
		batch_clear(&f->b);
		s->drain_at = 0;
	} else {
		hold(s, f);
		f->busy = 0;
	}
	s->in_flight--;
	publish(s);
}

/* The scheduler's view of the sender and the queue.  q.mu held. */
static void
gather_locked(snd_t *s, int64_t now, otas__sched_state_t *st)
{
	otas_engine_t *eng = s->eng;
	int64_t ent_next = -1;

	promote_held(s);
	memset(st, 0, sizeof(*st));
	st->q_count = eng->q.count;
	st->q_bytes = eng->q.bytes;
	st->q_max_bytes = eng->q.max_bytes;
	st->q_wake_bytes = eng->q.wake_bytes;
	st->oldest_ms = eng->q.head ? eng->q.head->enq_mono_ms : -1;
	st->entities_queued = eng->entq.head != NULL;
	if (st->entities_queued) {
		int64_t w = INT64_MAX;
		st->entities_due =
		    otas__entities_due_locked(eng, now, &w);
		ent_next = w == INT64_MAX ? -1 : w;
	}
	st->entities_next_ms = ent_next;
	st->batch_max_events = (uint64_t)eng->cfg->batch_max_events;
	st->flush_interval_ms = eng->cfg->flush_interval_ms;
	st->stop = eng->stop;
	st->flush_wanted = eng->flush_seq > eng->done_seq;
	st->flush_deadline_ms = eng->flush_deadline_ms;
	st->authed = eng->auth_state == OTAS__AUTH_OK;
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
	/* Several batches in flight only on the batch endpoint with delivery
	 * working; spooled batches, retries and per-event mode go one at a
	 * time (the spool's order, attempt()'s bookkeeping). */
	st->max_in_flight = s->batch_mode && !eng->otlp
	                        ? (int)eng->cfg->max_in_flight
	                        : 1;
	st->spool_configured = eng->spool_path != NULL;
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
		s->b.deadline_ms = otas__now_mono_ms() + s->eng->retry_window_ms;
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
	out = attempt(s, (long)s->eng->cfg->timeout_ms);
	if (out == OUT_DONE) {
		if (s->b.spool_id > 0)
			spool_end(s, s->b.spool_id, 1);
		batch_clear(&s->b);
		publish(s);
		/* Delivery works: look at the spool now. */
		s->drain_at = 0;
	} else if (s->b.spool_id > 0) {
		/* A spooled batch failed: give the lease back. */
		spool_end(s, s->b.spool_id, 0);
		batch_clear(&s->b);
	}
}

static void *
sender_main(void *arg)
{
	otas_engine_t *eng = arg;
	snd_t *s = calloc(1, sizeof(*s));
	int64_t deadline;

	if (!s) {
		/* Cannot run: records stay queued; shutdown counts them. */
		pthread_mutex_lock(&eng->q.mu);
		eng->sender_exited = 1;
		pthread_mutex_unlock(&eng->q.mu);
		return NULL;
	}
	s->eng = eng;
	s->batch_mode = 1;
	/* Every transfer of this thread ends at the shutdown deadline. */
	otas__http_thread_abort(&eng->abort_at_ms);

	for (;;) {
		int64_t now = otas__now_mono_ms();
		otas__sched_state_t st;
		otas__sched_decision_t d;

		pthread_mutex_lock(&eng->q.mu);
		gather_locked(s, now, &st);
		d = otas__sched_decide(&st, now);
		if (d.action == OTAS__ACT_STOP) {
			deadline = eng->stop_deadline_ms;
			pthread_mutex_unlock(&eng->q.mu);
			break;
		}
		/* A queue-full episode ends when the queue has room again. */
		if (eng->q.bytes <= eng->q.max_bytes / 2)
			atomic_store_explicit(&eng->qfull_logged, 0,
			                      memory_order_relaxed);
		if (d.take)
			take_locked(s);
		if (d.resolve_all)
			resolved_locked(eng, eng->q.seq);
		if (d.action == OTAS__ACT_WAIT && !d.entities) {
			struct timespec ts;
			deadline_ts(d.wake_at_ms, &ts);
			/* Authentication failing: the sender waits for the
			 * next attempt or the spool grace, so a capture does
			 * not wake it (a futex and a context switch per
			 * request) unless the queue passes
			 * OTAS__SCHED_PARK_BYTES. */
			eng->q.wake_parked_bytes = OTAS__SCHED_PARK_BYTES;
			eng->q.sender_waiting = d.parked ? OTAS__QUEUE_PARKED
			                                 : 1;
			pthread_cond_timedwait(&eng->q.cv_send, &eng->q.mu, &ts);
			eng->q.sender_waiting = 0;
			pthread_mutex_unlock(&eng->q.mu);
			continue;
		}
		pthread_mutex_unlock(&eng->q.mu);

		if (d.entities)
			otas__entities_send(eng);
		switch (d.action) {
		case OTAS__ACT_AUTH:
			try_auth(s, (long)eng->cfg->timeout_ms);
			break;
		case OTAS__ACT_FILL:
			fill_batch(s);
			if (s->b.n)
				s->b.deadline_ms = otas__now_mono_ms() +
				                   eng->retry_window_ms;
			break;
		case OTAS__ACT_SPOOL:
			do_spool(s);
			break;
		case OTAS__ACT_DRAIN:
			if (!claim_spooled(s)) {
				/* Nothing spooled: look again after the next
				 * successful delivery, or in a while (another
				 * process may spool). */
				s->drain_at = otas__now_mono_ms() + 30000;
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
	otas__entities_shutdown(eng, deadline);
	snd_free(s);
	pthread_mutex_lock(&eng->q.mu);
	eng->sender_exited = 1;
	pthread_mutex_unlock(&eng->q.mu);
	return NULL;
}

int
otas__sender_start(otas_engine_t *eng)
{
	pthread_attr_t at;
	int rc = 0;

	pthread_mutex_lock(&eng->q.mu);
	if (atomic_load(&eng->started) || eng->stop) {
		pthread_mutex_unlock(&eng->q.mu);
		return 0;
	}
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 256 * 1024);
	if (pthread_create(&eng->thread, &at, sender_main, eng) != 0) {
		rc = -1;
	} else {
		eng->sender_running = 1;
		eng->sender_exited = 0;
		atomic_store(&eng->started, 1);
	}
	pthread_attr_destroy(&at);
	pthread_mutex_unlock(&eng->q.mu);
	return rc;
}

void
otas__sender_stop(otas_engine_t *eng, int timeout_ms)
{
	int running;

	pthread_mutex_lock(&eng->q.mu);
	eng->stop = 1;
	eng->stop_deadline_ms = otas__now_mono_ms() + timeout_ms;
	atomic_store(&eng->abort_at_ms, eng->stop_deadline_ms);
	running = eng->sender_running;
	pthread_cond_broadcast(&eng->q.cv_send);
	pthread_mutex_unlock(&eng->q.mu);
	if (running) {
		pthread_join(eng->thread, NULL);
		pthread_mutex_lock(&eng->q.mu);
		eng->sender_running = 0;
		pthread_mutex_unlock(&eng->q.mu);
	}
}
