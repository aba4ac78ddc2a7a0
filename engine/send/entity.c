/*
 * entity.c -- user, company and subscription updates (see entity.h).
 *
 * Updates are rare (a sign-up, a plan change) and small, so they take the
 * simplest robust path: validated and normalised on the calling thread
 * (jansson, otas__entity_element()), pushed into the one bounded queue as
 * typed items (queue.h: a full queue, or the entities' share of it, at
 * most a sixteenth of OTAS_QUEUE_MAX_BYTES, drops and counts them), moved
 * by the sender thread from the queue into the list here, and posted in
 * batches of up to 100 (protocol.c writes the request to the entities
 * endpoint and reads the answer) on the sender's kept-alive handle (slot
 * 0, once no event batch is in flight: sender.c).  Delivery rules follow the
 * event path (protocol.c's status table, entities column): 2xx delivered;
 * 404/405 is a back end without entities (the real platform today):
 * dropped, counted, logged once; 413 halves the request until it fits
 * (one update still too large: dropped, counted); 400 rejected: dropped,
 * counted; a
 * refused key or a redirect keeps them for the event path's long wait;
 * anything else (no answer, 408, 429, 5xx) is retried with retry.c's
 * capped, jittered backoff (or Retry-After).  Updates are not spooled.
 */
#include "send/entity.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "capture/capture.h"
#include "send/http_curl.h"
#include "send/protocol.h"
#include "send/retry.h"
#include "send/sender.h"

#define ENT_BATCH 100

static const char *const kinds[] = {"user", "company", "subscription"};

static int
has_id(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return (json_is_string(v) && json_string_length(v) > 0) ||
	       json_is_integer(v);
}

char *
otas__entity_element(int kind, const char *json, size_t len,
                     size_t *out_len, int *bad)
{
	json_t *o, *m;
	char *out = NULL;

	*bad = 0;
	if (kind < 0 || kind > 2 || !json) {
		*bad = 1;
		return NULL;
	}
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o))
		goto invalid;
	if ((kind == OTAS_ENTITY_USER && !has_id(o, "user_id")) ||
	    (kind != OTAS_ENTITY_USER && !has_id(o, "company_id")) ||
	    (kind == OTAS_ENTITY_SUBSCRIPTION && !has_id(o, "subscription_id")))
		goto invalid;
	m = json_object_get(o, "metadata");
	if (m && !json_is_object(m) && !json_is_null(m))
		goto invalid;
	if (json_object_set_new(o, "kind", json_string(kinds[kind])) != 0)
		goto done;
	out = json_dumps(o, JSON_COMPACT);
	if (out)
		*out_len = strlen(out);
	goto done;
invalid:
	*bad = 1;
done:
	json_decref(o);
	return out;
}

void
otas__entities_collect_locked(otas__sender_t *sn)
{
	otas__record_t *l;
	size_t n;

	if (!sn->q->ent_count)
		return;
	l = otas__queue_take_entities_locked(sn->q, &n);
	if (!l)
		return;
	if (sn->entq.tail)
		sn->entq.tail->next = l;
	else
		sn->entq.head = l;
	while (l->next)
		l = l->next;
	sn->entq.tail = l;
	sn->entq.count += n;
}

int
otas__entities_due_locked(otas__sender_t *sn, int64_t now, int64_t *wake)
{
	if (!sn->entq.head)
		return 0;
	if (now >= sn->entq.next_ms)
		return 1;
	if (sn->entq.next_ms < *wake)
		*wake = sn->entq.next_ms;
	return 0;
}

int
otas__entities_busy_locked(const otas__sender_t *sn)
{
	return sn->entq.head != NULL || sn->entq.inflight;
}

static void
free_list(otas__record_t *e)
{
	while (e) {
		otas__record_t *n = e->next;
		free(e);
		e = n;
	}
}

static size_t
json_len(const otas__record_t *e)
{
	size_t n;

	otas__queue_entity_json(e, &n);
	return n;
}

/* Post the first k updates of list e as one request into *ans. */
static void
post_updates(otas__sender_t *sn, otas__http_t *h, otas__request_t *rq,
             otas__http_resp_t *resp, otas__record_t *e, size_t k,
             otas__answer_t *ans)
{
	const otas__protocol_t *p = sn->proto;
	size_t i;

	memset(ans, 0, sizeof(*ans));
	if (otas__protocol_begin(p, rq, OTAS__EP_ENTITIES) != 0) {
		ans->outcome = OTAS__OUT_REJECTED; /* OTLP: never queued */
		return;
	}
	ans->outcome = OTAS__OUT_RETRY;
	for (i = 0; e && i < k; e = e->next, i++) {
		otas__item_t it = {NULL, 0, NULL, 0};
		it.json = otas__queue_entity_json(e, &it.len);
		otas__protocol_append(p, rq, &it);
	}
	if (!h || otas__protocol_end(p, rq) != 0)
		return; /* no handle, out of memory: retried */
	otas__http_post(h, rq->url, rq->hdr, rq->n_hdr, rq->body,
	                rq->len, (long)sn->cfg->timeout_ms, resp);
	otas__protocol_answer(p, rq, resp, ans);
}

void
otas__entities_send(otas__sender_t *sn, otas__http_t *h)
{
	otas__entq_t *q = &sn->entq;
	otas__record_t *taken, *e, *last = NULL;
	otas__request_t rq;
	otas__answer_t ans;
	otas__http_resp_t resp;
	size_t n = 0, k, split = 0;
	uint64_t bytes = 0;
	int keep = 0;
	int64_t wait = 0;

	pthread_mutex_lock(&sn->q->mu);
	taken = q->head;
	for (e = taken; e && n < ENT_BATCH; e = e->next) {
		last = e;
		bytes += json_len(e);
		n++;
	}
	if (!n) {
		pthread_mutex_unlock(&sn->q->mu);
		return;
	}
	q->head = last->next;
	if (!q->head)
		q->tail = NULL;
	last->next = NULL;
	q->count -= n;
	sn->q->ent_bytes -= bytes;
	q->inflight = 1;
	pthread_mutex_unlock(&sn->q->mu);

	memset(&resp, 0, sizeof(resp));
	memset(&rq, 0, sizeof(rq));
	/* taken..last are the n updates not resolved yet.  A 413 halves the
	 * request until it fits (as for events, protocol.c's table); one
	 * update that is still too large is dropped, counted. */
	while (n && !keep) {
		k = split && split < n ? split : n;
		post_updates(sn, h, &rq, &resp, taken, k, &ans);
		if (ans.outcome == OTAS__OUT_TOO_LARGE && k > 1) {
			split = k / 2;
			continue;
		}
		switch (ans.outcome) {
		case OTAS__OUT_OK:
			OTAS__INC(sn->c, entities_sent, k);
			break;
		case OTAS__OUT_ENDPOINT_MISSING:
			/* A back end without entities (the real platform
			 * today): every one taken. */
			k = n;
			OTAS__INC(sn->c, dropped_entities, k);
			if (!q->missing_logged) {
				q->missing_logged = 1;
				otas__logf(sn->log, OTAS_LOG_WARNING,
				           "otas: the back end has no entities "
				           "endpoint (HTTP %d): user/company/"
				           "subscription updates are dropped "
				           "(counted in dropped_entities)",
				           ans.status);
			}
			break;
		case OTAS__OUT_REJECTED:
		case OTAS__OUT_TOO_LARGE: /* one update: too large */
		case OTAS__OUT_TOKEN_REJECTED:
			OTAS__INC(sn->c, dropped_entities, k);
			otas__logf(sn->log, OTAS_LOG_WARNING,
			           "otas: the back end rejected %zu entity "
			           "update(s) (HTTP %d%s%s); dropped",
			           k, ans.status, ans.description[0] ? " " : "",
			           ans.description);
			break;
		case OTAS__OUT_AUTH_FAILED:
		case OTAS__OUT_REDIRECT:
			/* The key or the URL is wrong: the event path says so
			 * (and waits as long); keep the updates. */
			keep = 1;
			wait = sn->timing->auth_wait_ms;
			continue;
		default: /* no answer, 408, 429, 5xx, out of memory */
			keep = 1;
			continue;
		}
		/* The first k are resolved. */
		for (; k; k--, n--) {
			e = taken;
			taken = e->next;
			bytes -= json_len(e);
			free(e);
		}
	}
	pthread_mutex_lock(&sn->q->mu);
	if (keep && n) {
		/* Back at the head, in order, for the next try. */
		last->next = q->head;
		q->head = taken;
		if (!q->tail)
			q->tail = last;
		q->count += n;
		sn->q->ent_bytes += bytes;
		q->attempt++;
		/* retry.c's capped full-jitter backoff, as for events, or
		 * the server's Retry-After within reason. */
		if (!wait)
			wait = ans.retry_after_ms > 0
			           ? (ans.retry_after_ms > 300000
			                  ? 300000
			                  : ans.retry_after_ms)
			           : otas__retry_delay_ms(q->attempt,
			                                  otas__rand64(),
			                                  sn->timing->retry_base_ms,
			                                  sn->timing->retry_cap_ms);
		q->next_ms = otas__now_mono_ms() + wait;
	} else {
		q->attempt = 0;
		q->next_ms = 0;
	}
	q->inflight = 0;
	pthread_cond_broadcast(&sn->q->cv_done);
	pthread_mutex_unlock(&sn->q->mu);
	otas__request_free(&rq);
	otas__buf_free(&resp.body);
}

void
otas__entities_shutdown(otas__sender_t *sn, otas__http_t *h,
                        int64_t deadline)
{
	int busy;

	for (;;) {
		pthread_mutex_lock(&sn->q->mu);
		otas__entities_collect_locked(sn);
		busy = sn->entq.head != NULL;
		/* One try each while time is left; no backoff waits. */
		sn->entq.next_ms = 0;
		pthread_mutex_unlock(&sn->q->mu);
		if (!busy || otas__now_mono_ms() >= deadline)
			break;
		otas__entities_send(sn, h);
		pthread_mutex_lock(&sn->q->mu);
		busy = sn->entq.attempt > 0; /* it failed: stop trying */
		pthread_mutex_unlock(&sn->q->mu);
		if (busy)
			break;
	}
}

void
otas__entities_reset_child(otas__sender_t *sn)
{
	/* The parent's list stays the parent's: forget it without freeing
	 * nodes the parent still owns in its own address space (ours is a
	 * copy, so freeing is safe, and simpler than leaking). */
	free_list(sn->entq.head);
	memset(&sn->entq, 0, sizeof(sn->entq));
}

void
otas__entities_free(otas__sender_t *sn)
{
	/* With the queue's own (no sender took them). */
	pthread_mutex_lock(&sn->q->mu);
	otas__entities_collect_locked(sn);
	pthread_mutex_unlock(&sn->q->mu);
	if (sn->entq.count)
		OTAS__INC(sn->c, dropped_entities, sn->entq.count);
	free_list(sn->entq.head);
	sn->entq.head = sn->entq.tail = NULL;
	sn->entq.count = 0;
}
