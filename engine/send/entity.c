/*
 * entity.c -- user, company and subscription updates (see entity.h).
 *
 * Updates are rare (a sign-up, a plan change) and small, so they take the
 * simplest robust path: validated and normalised on the calling thread
 * (jansson), appended to a list under the queue's mutex, and posted by the
 * sender thread in batches of up to 100 to {base}/api/v1/entities/batch/
 * on their own kept-alive handle.  Their bytes count against the queue
 * budget's headroom (at most a sixteenth of OTAS_QUEUE_MAX_BYTES), so a
 * flood of updates cannot crowd out events.  Delivery rules follow the
 * event path: 2xx delivered; 404/405 is a back end without entities (the
 * real platform today): dropped, counted, logged once; 400/413 rejected:
 * dropped, counted; anything else (no answer, 401/403, 429, 5xx) is
 * retried with a capped exponential backoff.  Updates are not spooled.
 */
#include "send/entity.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "capture/capture.h"
#include "engine.h"
#include "send/http_curl.h"
#include "send/sender.h"

#define ENT_BATCH 100
#define ENT_BACKOFF_CAP_MS 30000

struct otas__ent_s {
	struct otas__ent_s *next;
	size_t len;
	char json[];
};

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

otas_result_t
otas_entity(otas_engine_t *eng, otas_entity_kind_t kind, const char *json,
            size_t len)
{
	struct otas__ent_s *e;
	size_t n;
	int bad;
	char *el;

	if (!eng)
		return -1;
	el = otas__entity_element(kind, json, len, &n, &bad);
	if (!el) {
		if (bad)
			return -1;
		OTAS__INC(eng, dropped_entities, 1);
		return 1;
	}
	e = malloc(sizeof(*e) + n + 1);
	if (!e) {
		free(el);
		OTAS__INC(eng, dropped_entities, 1);
		return 1;
	}
	e->next = NULL;
	e->len = n;
	memcpy(e->json, el, n + 1);
	free(el);
	if (!eng->cfg->enabled || eng->otlp) {
		/* OTLP logs have no place for entity updates: counted. */
		if (eng->otlp)
			OTAS__INC(eng, dropped_entities, 1);
		free(e);
		return 1;
	}
	pthread_mutex_lock(&eng->q.mu);
	if (eng->entq.bytes + n > eng->q.max_bytes / 16) {
		pthread_mutex_unlock(&eng->q.mu);
		free(e);
		OTAS__INC(eng, dropped_entities, 1);
		return 1;
	}
	if (eng->entq.tail)
		eng->entq.tail->next = e;
	else
		eng->entq.head = e;
	eng->entq.tail = e;
	eng->entq.count++;
	eng->entq.bytes += n;
	pthread_cond_signal(&eng->q.cv_send);
	pthread_mutex_unlock(&eng->q.mu);
	if (!atomic_load_explicit(&eng->started, memory_order_acquire))
		otas__sender_start(eng);
	return 0;
}

int
otas__entities_due_locked(otas_engine_t *eng, int64_t now, int64_t *wake)
{
	if (!eng->entq.head)
		return 0;
	if (now >= eng->entq.next_ms)
		return 1;
	if (eng->entq.next_ms < *wake)
		*wake = eng->entq.next_ms;
	return 0;
}

int
otas__entities_busy_locked(const otas_engine_t *eng)
{
	return eng->entq.head != NULL || eng->entq.inflight;
}

static void
free_list(struct otas__ent_s *e)
{
	while (e) {
		struct otas__ent_s *n = e->next;
		free(e);
		e = n;
	}
}

void
otas__entities_send(otas_engine_t *eng)
{
	otas__entq_t *q = &eng->entq;
	struct otas__ent_s *taken, *e, *last = NULL;
	otas__buf_t body = OTAS__BUF_INIT;
	otas__http_resp_t resp;
	const char *hdrs[2];
	char *url = NULL;
	size_t n = 0;
	uint64_t bytes = 0;
	int st, keep = 0, rc;

	pthread_mutex_lock(&eng->q.mu);
	taken = q->head;
	for (e = taken; e && n < ENT_BATCH; e = e->next) {
		last = e;
		bytes += e->len;
		n++;
	}
	if (!n) {
		pthread_mutex_unlock(&eng->q.mu);
		return;
	}
	q->head = last->next;
	if (!q->head)
		q->tail = NULL;
	last->next = NULL;
	q->count -= n;
	q->bytes -= bytes;
	q->inflight = 1;
	pthread_mutex_unlock(&eng->q.mu);

	memset(&resp, 0, sizeof(resp));
	otas__buf_puts(&body, "{\"entities\":[");
	for (e = taken; e; e = e->next) {
		if (e != taken)
			otas__buf_putc(&body, ',');
		otas__buf_append(&body, e->json, e->len);
	}
	otas__buf_puts(&body, "]}");
	if (!q->http)
		q->http = otas__http_new();
	url = otas__url_join(eng->cfg->base_url, "api/v1/entities/batch/");
	hdrs[0] = eng->key_header;
	hdrs[1] = "Content-Type: application/json";
	if (body.oom || !q->http || !url) {
		st = 0;
		keep = 1;
	} else {
		rc = otas__http_post(q->http, url, hdrs, 2, body.data, body.len,
		                     (long)eng->cfg->timeout_ms, &resp);
		st = rc == 0 ? resp.status : 0;
		if (st >= 200 && st < 300) {
			OTAS__INC(eng, entities_sent, n);
		} else if (st == 404 || st == 405) {
			OTAS__INC(eng, dropped_entities, n);
			if (!q->missing_logged) {
				q->missing_logged = 1;
				otas__log(eng, OTAS_LOG_WARNING,
				          "otas: the back end has no entities "
				          "endpoint (HTTP %d): user/company/"
				          "subscription updates are dropped "
				          "(counted in dropped_entities)",
				          st);
			}
		} else if (st == 400 || st == 413) {
			OTAS__INC(eng, dropped_entities, n);
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: the back end rejected %zu entity "
			          "update(s) (HTTP %d); dropped",
			          n, st);
		} else {
			keep = 1;
		}
	}
	pthread_mutex_lock(&eng->q.mu);
	if (keep) {
		/* Back at the head, in order, for the next try. */
		last->next = q->head;
		q->head = taken;
		if (!q->tail)
			q->tail = last;
		q->count += n;
		q->bytes += bytes;
		taken = NULL;
		q->attempt++;
		q->next_ms = otas__now_mono_ms() +
		             (q->attempt > 6 ? ENT_BACKOFF_CAP_MS
		                             : (500 << q->attempt) >
		                                       ENT_BACKOFF_CAP_MS
		                                   ? ENT_BACKOFF_CAP_MS
		                                   : (500 << q->attempt));
	} else {
		q->attempt = 0;
		q->next_ms = 0;
	}
	q->inflight = 0;
	pthread_cond_broadcast(&eng->q.cv_done);
	pthread_mutex_unlock(&eng->q.mu);
	free_list(taken);
	free(url);
	otas__buf_free(&body);
	otas__buf_free(&resp.body);
}

void
otas__entities_shutdown(otas_engine_t *eng, int64_t deadline)
{
	int busy;

	for (;;) {
		pthread_mutex_lock(&eng->q.mu);
		busy = eng->entq.head != NULL;
		/* One try each while time is left; no backoff waits. */
		eng->entq.next_ms = 0;
		pthread_mutex_unlock(&eng->q.mu);
		if (!busy || otas__now_mono_ms() >= deadline)
			break;
		otas__entities_send(eng);
		pthread_mutex_lock(&eng->q.mu);
		busy = eng->entq.attempt > 0; /* it failed: stop trying */
		pthread_mutex_unlock(&eng->q.mu);
		if (busy)
			break;
	}
}

void
otas__entities_reset_child(otas_engine_t *eng)
{
	/* The parent's list stays the parent's: forget it without freeing
	 * nodes the parent still owns in its own address space (ours is a
	 * copy, so freeing is safe, and simpler than leaking). */
	free_list(eng->entq.head);
	memset(&eng->entq, 0, sizeof(eng->entq));
}

void
otas__entities_free(otas_engine_t *eng)
{
	if (eng->entq.count)
		OTAS__INC(eng, dropped_entities, eng->entq.count);
	free_list(eng->entq.head);
	eng->entq.head = eng->entq.tail = NULL;
	eng->entq.count = 0;
	if (eng->entq.http)
		otas__http_free(eng->entq.http);
	eng->entq.http = NULL;
}
