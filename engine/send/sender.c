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

#include "capture/capture.h"
#include "event/event.h"
#include "send/http_curl.h"
#include "send/protocol.h"
#include "send/retry.h"
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
	uint64_t max_seq;
	int64_t deadline_ms;  /* end of the retry window, 0 = not failing */
	int64_t spool_id;     /* > 0: claimed from the spool */
} batch_t;

typedef struct {
	otas_engine_t *eng;
	otas__http_t *http;
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
	otas__buf_t body;     /* a spooled batch's payload */
	otas__http_resp_t resp;
	otas__request_t rq;   /* protocol.c: the request being sent, its
	                       * buffers, zstd context and state */
	otas__answer_t ans;   /* the last answer, read */
	int spooled_here;     /* this sender put batches in the spool */
} snd_t;

enum { OUT_DONE, OUT_RETRY, OUT_AUTH_WAIT, OUT_FALLBACK, OUT_REDIRECT };

/* Authentication failing: queued bytes past this go to the spool without
 * waiting for the flush interval. */
#define AUTH_SPOOL_BYTES (256 * 1024)

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
	b->max_seq = 0;
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

static void
set_batch_endpoint(otas_engine_t *eng, int v)
{
	pthread_mutex_lock(&eng->q.mu);
	eng->batch_endpoint = v;
	pthread_mutex_unlock(&eng->q.mu);
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

	pthread_mutex_lock(&s->eng->spool_mu);
	rc = spool_ready(s) ? otas__spool_claim_tokens(s->eng->spool,
	                                               OTAS__SPOOL_LEASE_MS,
	                                               &id, &pay, &n, &toks)
	                    : 0;
	pthread_mutex_unlock(&s->eng->spool_mu);
	spool_log(s);
	if (rc != 1) {
		otas__buf_free(&pay);
		otas__buf_free(&toks);
		return 0;
	}
	p = pay.data;
	end = pay.data + pay.len;
	t = toks.data ? toks.data : "";
	tend = t + toks.len;
	while (p && p < end) {
		char *js;
		size_t tl;

		e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end;
		te = t < tend ? memchr(t, '\n', (size_t)(tend - t)) : NULL;
		if (!te)
			te = tend;
		tl = (size_t)(te - t);
		if (e > p) {
			js = strndup(p, (size_t)(e - p));
			if (!js)
				break;
			if (batch_add(&s->b, js, (size_t)(e - p), t, tl) != 0)
				free(js);
		}
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

/* ------------------------------------------------------------- batches */

/* Serialise pending records into b up to the batch limits.  Records left
 * over stay in s->pending. */
static void
fill_batch(snd_t *s)
{
	otas_engine_t *eng = s->eng;
	char pid[128];
	size_t max_ev = (size_t)eng->cfg->batch_max_events;
	size_t max_bytes = (size_t)eng->cfg->batch_max_bytes;

	project_id(eng, pid, sizeof(pid));
	while (s->pending && s->b.n < max_ev) {
		otas__record_t *r = s->pending;
		otas__buf_t out = OTAS__BUF_INIT;
		const char *tok;
		size_t tl, len;
		char *js;

		if (s->b.n && s->b.bytes >= max_bytes)
			break;
		s->pending = r->next;
		if (otas__event_write(eng->ev, pid, r, &out, &tok, &tl) != 0) {
			OTAS__INC(eng, dropped_capture_error, 1);
			otas__buf_free(&out);
		} else {
			js = otas__buf_steal(&out, &len);
			if (batch_add(&s->b, js, len, tok, tl) != 0) {
				free(js);
				OTAS__INC(eng, dropped_capture_error, 1);
			}
		}
		if (r->seq > s->b.max_seq)
			s->b.max_seq = r->seq;
		free(r);
	}
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

/* Deliver b's unresolved events: one path for every protocol and
 * endpoint (protocol.c writes the requests and reads the answers).  A 413
 * halves the request until it fits (one event that is still too large is
 * dropped, counted); a 415 to zstd sends the same events again, gzip'd. */
static int
send_batch(snd_t *s, long timeout_ms, int *retry_after_ms)
{
	otas_engine_t *eng = s->eng;
	const otas__protocol_t *p = eng->proto;
	otas__request_t *rq = &s->rq;
	otas__answer_t *ans = &s->ans;
	batch_t *b = &s->b;
	otas__endpoint_t ep = otas__protocol_events_endpoint(p, !s->batch_mode);
	size_t i, k, split = 0;

	project_id(eng, rq->project_id, sizeof(rq->project_id));
	rq->accepts_zstd =
	    __atomic_load_n(&eng->accepts_zstd, __ATOMIC_RELAXED);
	*retry_after_ms = -1;
	while (b->next < b->n) {
		k = b->n - b->next;
		if (split && split < k)
			k = split;
		if (otas__protocol_begin(p, rq, ep) != 0)
			return OUT_RETRY;
		for (i = b->next; i < b->next + k; i++) {
			const ev_t *ev = &b->ev[i];
			otas__item_t it = {ev->json, ev->len, ev->token,
			                   ev->token ? strlen(ev->token) : 0};
			otas__append_t a = otas__protocol_append(p, rq, &it);
			if (a == OTAS__APPEND_FULL)
				break;
			if (a == OTAS__APPEND_NO_TOKEN)
				OTAS__INC(eng, skipped_no_agent_token, 1);
			else if (a == OTAS__APPEND_BAD_TOKEN)
				OTAS__INC(eng, dropped_invalid_agent_token, 1);
			else if (a == OTAS__APPEND_INVALID)
				OTAS__INC(eng, dropped_capture_error, 1);
		}
		k = i - b->next; /* the events this request resolves */
		if (!rq->n) {    /* none of them is to be sent */
			b->next += k;
			continue;
		}
		if (otas__protocol_end(p, rq) != 0)
			return OUT_RETRY;
		otas__http_post(s->http, rq->url, rq->hdr, rq->n_hdr, rq->body,
		                rq->len, timeout_ms, &s->resp);
		otas__protocol_answer(p, rq, &s->resp, ans);
		if (ans->outcome == OTAS__OUT_TOO_LARGE && rq->n > 1) {
			split = rq->n / 2;
			continue;
		}
		switch (ans->outcome) {
		case OTAS__OUT_OK:
			OTAS__INC(eng, sent, ans->accepted);
			OTAS__INC(eng, duplicates, ans->duplicates);
			OTAS__INC(eng, dropped_rejected, ans->rejected);
			OTAS__INC(eng, batches, 1);
			OTAS__INC(eng, bytes_sent, rq->len);
			if (ans->rejected)
				otas__log(eng, OTAS_LOG_WARNING,
				          "otas: %s rejected %llu of %zu "
				          "event(s)%s%s", p->target,
				          (unsigned long long)ans->rejected,
				          rq->n, ans->description[0] ? ": " : "",
				          ans->description);
			b->next += k;
			if (ep == OTAS__EP_BATCH)
				set_batch_endpoint(eng, 1);
			break;
		case OTAS__OUT_ENCODING_REFUSED:
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: the back end refused zstd bodies (HTTP "
			          "415); batches are sent with gzip");
			continue;
		case OTAS__OUT_TOO_LARGE: /* one event: too large */
		case OTAS__OUT_REJECTED:
			/* We wrote the body, so sending it again gets the same
			 * answer: drop it, counted, and say why. */
			OTAS__INC(eng, dropped_rejected, rq->n);
			otas__log(eng, OTAS_LOG_ERROR,
			          "otas: %s refused %zu %s (HTTP %d%s%s); "
			          "they are dropped", p->target, rq->n,
			          p->kind == OTAS__PROTO_OTLP ? "log record(s)"
			                                      : "event(s)",
			          ans->status, ans->description[0] ? " " : "",
			          ans->description);
			b->next += k;
			break;
		case OTAS__OUT_TOKEN_REJECTED:
			OTAS__INC(eng, dropped_invalid_agent_token, rq->n);
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
	otas_engine_t *eng = s->eng;
	int out, ra = -1;
	int64_t now = otas__now_mono_ms();

	if (!s->http) {
		s->http = otas__http_new();
		if (!s->http) {
			otas__set_last_error(eng, "cannot start libcurl");
			return OUT_RETRY;
		}
	}
	if (!s->batch_mode && now >= s->reprobe_ms)
		s->batch_mode = 1; /* try the batch endpoint again */
	for (;;) {
		out = send_batch(s, timeout_ms, &ra);
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
		         "%s answered HTTP %d redirecting to %s: "
		         "%s is wrong (use the address it names); "
		         "the redirect is not followed, so the key is not sent "
		         "there, and events are kept (spooled)",
		         eng->proto->target, s->resp.status,
		         s->resp.location[0] ? s->resp.location : "(no Location)",
		         eng->proto->url_option);
		otas__set_last_error(eng, msg);
		if (!s->auth_logged)
			otas__log(eng, OTAS_LOG_ERROR, "otas: %s", msg);
		s->auth_logged = 1;
		s->next_attempt_ms = now + eng->auth_wait_ms;
	} else if (out == OUT_AUTH_WAIT) {
		char msg[256];
		otas__protocol_auth_message(eng->proto, &s->ans, msg,
		                            sizeof(msg));
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
			         otas__endpoint_name(s->rq.ep));
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

	otas__authenticate_key(eng->auth_url, eng->cfg->sdk_key,
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

	for (;;) {
		int64_t now = otas__now_mono_ms();
		int authed;

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
				resolved(eng, s->b.max_seq);
				batch_clear(&s->b);
				continue;
			}
			give_up = 1;
		}
		/* Not deliverable now: spool it, or count it lost. */
		if (spool_batch(s) != 0)
			OTAS__INC(eng, dropped_shutdown, s->b.n - s->b.next);
		resolved(eng, s->b.max_seq);
		batch_clear(&s->b);
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

	batch_clear(&s->b);
	free(s->b.ev);
	while ((r = s->pending)) {
		s->pending = r->next;
		free(r);
	}
	otas__http_free(s->http);
	otas__request_free(&s->rq);
	pthread_mutex_lock(&s->eng->spool_mu);
	if (s->eng->spool)
		otas__spool_close(s->eng->spool);
	s->eng->spool = NULL;
	pthread_mutex_unlock(&s->eng->spool_mu);
	otas__buf_free(&s->body);
	otas__buf_free(&s->resp.body);
	free(s);
}

static void
deadline_ts(int64_t mono_ms, struct timespec *ts)
{
	ts->tv_sec = mono_ms / 1000;
	ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
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
		int64_t now = otas__now_mono_ms(), wake = now + 60000;
		int do_auth = 0, do_send = 0, do_spool = 0, do_drain = 0;
		int do_fill = 0, do_ent = 0;
		int flush_wanted, flush_urgent, over_half, authed, can_spool;
		int parked_wait = 0;

		pthread_mutex_lock(&eng->q.mu);
		if (eng->stop) {
			deadline = eng->stop_deadline_ms;
			pthread_mutex_unlock(&eng->q.mu);
			break;
		}
		over_half = eng->q.bytes > eng->q.max_bytes / 2;
		/* A queue-full episode ends when the queue has room again. */
		if (!over_half)
			atomic_store_explicit(&eng->qfull_logged, 0,
			                      memory_order_relaxed);
		authed = eng->auth_state == OTAS__AUTH_OK;
		/* A flush waits for delivery while it can; a batch that
		 * cannot be tried again before the flusher's deadline goes
		 * to the spool instead. */
		flush_wanted = eng->flush_seq > eng->done_seq;
		flush_urgent = flush_wanted &&
		               (authed ? s->next_attempt_ms
		                       : s->next_auth_ms) >=
		                   eng->flush_deadline_ms - 200;

		can_spool = eng->spool_path && now >= s->spool_fail_until &&
		            now >= s->spool_retry_ms;
		if (!authed) {
			int any = eng->q.count || s->pending || s->b.n ||
			          eng->entq.head;
			/* What this sender spooled waits for the project
			 * too: keep trying with nothing else queued. */
			if (now >= s->next_auth_ms &&
			    (any || flush_wanted || s->spooled_here))
				do_auth = 1;
			else if (now < s->next_auth_ms)
				wake = s->next_auth_ms;
			/* Waiting for the project: keep memory bounded.  Once
			 * an attempt has failed, what waits longer than the
			 * flush interval (or passes AUTH_SPOOL_BYTES) goes
			 * to the spool between attempts, so a back end that
			 * is down from start-up costs neither memory nor a
			 * growing queue on the request path.  A flush in
			 * progress waits for delivery while it can (above). */
			int64_t oldest = eng->q.head ? eng->q.head->enq_mono_ms
			                             : -1;
			int parked = s->auth_attempt > 0 && !flush_wanted &&
			             (s->pending || s->b.n ||
			              (oldest >= 0 &&
			               (eng->q.bytes >= AUTH_SPOOL_BYTES ||
			                now >= oldest +
			                           eng->cfg->flush_interval_ms)));
			if (!do_auth && (over_half || flush_urgent || parked) &&
			    any && can_spool) {
				take_locked(s);
				do_spool = 1;
			} else if (!do_auth && s->auth_attempt > 0) {
				/* An empty queue waits as usual: the first
				 * record wakes us to start its grace. */
				parked_wait = !flush_wanted && oldest >= 0;
				if (oldest >= 0 && can_spool &&
				    oldest + eng->cfg->flush_interval_ms < wake)
					wake = oldest +
					       eng->cfg->flush_interval_ms;
			}
			if (!any)
				resolved_locked(eng, eng->q.seq);
		} else if (s->b.n) {
			if (now >= s->next_attempt_ms) {
				do_send = 1;
			} else if ((flush_urgent || over_half ||
			            (s->b.deadline_ms &&
			             now >= s->b.deadline_ms)) &&
			           can_spool) {
				do_spool = 1;
			} else {
				wake = s->next_attempt_ms;
				if (s->b.deadline_ms && s->b.deadline_ms < wake)
					wake = s->b.deadline_ms;
			}
		} else {
			int64_t oldest = eng->q.head ? eng->q.head->enq_mono_ms
			                             : -1;
			int full = eng->q.count >=
			               (uint64_t)eng->cfg->batch_max_events ||
			           eng->q.bytes >= eng->q.wake_bytes;

			if (s->pending || full || flush_wanted ||
			    (oldest >= 0 &&
			     now >= oldest + eng->cfg->flush_interval_ms)) {
				take_locked(s);
				/* In a backoff the batch is built now and
				 * waits (or is spooled) in the branch above. */
				if (s->pending && now >= s->next_attempt_ms)
					do_send = 1;
				else if (s->pending)
					do_fill = 1;
			} else if (oldest >= 0) {
				wake = oldest + eng->cfg->flush_interval_ms;
			}
			/* Spooled batches go out when delivery works; while it
			 * fails, a claim after the backoff is the probe. */
			/* (A sender that spooled while authentication
			 * failed drains what it spooled with no new
			 * capture to open the connection first.) */
			if (!do_send && !do_fill && can_spool &&
			    (s->http || s->spooled_here) &&
			    now >= s->drain_at && now >= s->next_attempt_ms &&
			    eng->q.count < (uint64_t)eng->cfg->batch_max_events)
				do_drain = 1;
			else if (!do_send && can_spool &&
			         (s->http || s->spooled_here)) {
				int64_t t = s->drain_at > s->next_attempt_ms
				                ? s->drain_at
				                : s->next_attempt_ms;
				if (t < wake)
					wake = t;
			}
			if (!do_send && !s->pending && !s->b.n && !eng->q.head)
				resolved_locked(eng, eng->q.seq);
			if (!do_send && s->attempt && s->next_attempt_ms > now &&
			    s->next_attempt_ms < wake)
				wake = s->next_attempt_ms;
		}
		/* Entity updates (entity.c) go out as soon as they come. */
		if (authed && otas__entities_due_locked(eng, now, &wake))
			do_ent = 1;
		if (flush_wanted && eng->flush_deadline_ms - 200 > now &&
		    eng->flush_deadline_ms - 200 < wake)
			wake = eng->flush_deadline_ms - 200;
		if (!do_auth && !do_send && !do_spool && !do_drain &&
		    !do_fill && !do_ent) {
			struct timespec ts;
			deadline_ts(wake, &ts);
			/* Authentication failing: the sender waits for the
			 * next attempt or the spool grace, so a capture does
			 * not wake it (a futex and a context switch per
			 * request) unless the queue passes AUTH_SPOOL_BYTES. */
			eng->q.wake_parked_bytes = AUTH_SPOOL_BYTES;
			eng->q.sender_waiting = parked_wait ? OTAS__QUEUE_PARKED
			                                    : 1;
			pthread_cond_timedwait(&eng->q.cv_send, &eng->q.mu, &ts);
			eng->q.sender_waiting = 0;
			pthread_mutex_unlock(&eng->q.mu);
			continue;
		}
		pthread_mutex_unlock(&eng->q.mu);

		if (do_ent)
			otas__entities_send(eng);
		if (do_auth) {
			try_auth(s, (long)eng->cfg->timeout_ms);
			continue;
		}
		if (do_fill) {
			fill_batch(s);
			if (s->b.n)
				s->b.deadline_ms = otas__now_mono_ms() +
				                   eng->retry_window_ms;
			continue;
		}
		if (do_drain) {
			if (!claim_spooled(s)) {
				/* Nothing spooled: look again after the next
				 * successful delivery, or in a while (another
				 * process may spool). */
				s->drain_at = otas__now_mono_ms() + 30000;
				continue;
			}
			do_send = 1;
		}
		if (do_spool) {
			if (!s->b.n)
				fill_batch(s);
			if (s->b.n && spool_batch(s) == 0) {
				resolved(eng, s->b.max_seq);
				batch_clear(&s->b);
			} else if (s->b.n) {
				/* No spool now: keep the batch and retry. */
				s->b.deadline_ms = otas__now_mono_ms() +
				                   eng->retry_window_ms;
			}
			continue;
		}
		if (do_send) {
			int out;
			if (!s->b.n)
				fill_batch(s);
			if (!s->b.n)
				continue;
			out = attempt(s, (long)eng->cfg->timeout_ms);
			if (out == OUT_DONE) {
				if (s->b.spool_id > 0)
					spool_end(s, s->b.spool_id, 1);
				resolved(eng, s->b.max_seq);
				batch_clear(&s->b);
				/* Delivery works: look at the spool now. */
				s->drain_at = 0;
			} else if (s->b.spool_id > 0) {
				/* A spooled batch failed: give the lease back. */
				spool_end(s, s->b.spool_id, 0);
				batch_clear(&s->b);
			}
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
