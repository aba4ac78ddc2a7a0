/*
 * engine.c -- the public engine calls: create/free, authenticate,
 * capture, flush, stats, logging.  The fork handlers are fork.c.
 */
#include "engine.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#include "capture/capture.h"
#include "capture/filter.h"
#include "send/http_curl.h"
#include "event/identity.h"
#include "send/otlp.h"
#include "send/protocol.h"
#include "event/redact_names.h"
#include "send/sender.h"
#include "spool/spool.h"

/* The whole-configuration check (otas.h).  It lives here, above the
 * stages, and not in config.c: each stage validates its own options
 * (identity, filter, OTLP) and reads them from config.h, so config.c
 * calling back into the stages would make config.c and the stages include
 * each other. */
int
otas_config_check(const otas_config_t *c, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!c)
		return -1;
	if (c->batch_max_bytes > c->queue_max_bytes) {
		if (err && errlen)
			snprintf(err, errlen,
			         "OTAS_BATCH_MAX_BYTES=%lld is larger than "
			         "OTAS_QUEUE_MAX_BYTES=%lld: lower the batch "
			         "size or raise the queue budget",
			         (long long)c->batch_max_bytes,
			         (long long)c->queue_max_bytes);
		return -1;
	}
	if (otas__compression(c) < 0) {
		if (err && errlen)
			snprintf(err, errlen,
			         "OTAS_COMPRESSION=\"%.40s\" is not known: use "
			         "auto (the default: zstd when the back end "
			         "says it decodes it, else gzip), zstd, gzip or "
			         "none", c->compression);
		return -1;
	}
	if (otas__ident_validate(c, err, errlen) != 0 ||
	    otas__filter_validate(c, err, errlen) != 0 ||
	    otas__otlp_validate(c, err, errlen) != 0)
		return -1;
	/* A CA bundle that cannot be read would fail every HTTPS send later,
	 * far from its cause: refuse it at start-up instead. */
	if (c->ca_bundle && c->ca_bundle[0] && access(c->ca_bundle, R_OK) != 0) {
		if (err && errlen)
			snprintf(err, errlen,
			         "OTAS_CA_BUNDLE=%.300s cannot be read (%s): "
			         "point it at a PEM file of CA certificates, or "
			         "unset it to use the system's CA bundle",
			         c->ca_bundle, strerror(errno));
		return -1;
	}
	return 0;
}

const char *
otas_version(void)
{
	return OTAS_VERSION;
}

void
otas__log(otas_engine_t *eng, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!eng || !eng->log_fn || level < eng->log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	eng->log_fn(level, msg, eng->log_ud);
}

void
otas__log_event(otas_engine_t *eng, const char *head, const char *json,
                size_t n, const char *token, size_t token_len)
{
	otas__buf_t b = OTAS__BUF_INIT;
	const char *p = json, *end = json + n, *hit;

	if (!eng || !eng->log_fn || OTAS_LOG_DEBUG < eng->log_min)
		return;
	otas__buf_puts(&b, head);
	while (token && token_len && p < end &&
	       (hit = memmem(p, (size_t)(end - p), token, token_len))) {
		otas__buf_append(&b, p, (size_t)(hit - p));
		otas__buf_puts(&b, "[REDACTED]");
		p = hit + token_len;
	}
	otas__buf_append(&b, p, (size_t)(end - p));
	otas__buf_putc(&b, '\0');
	if (!b.oom)
		eng->log_fn(OTAS_LOG_DEBUG, b.data, eng->log_ud);
	otas__buf_free(&b);
}

void
otas_set_logger(otas_engine_t *eng, otas_log_fn fn, void *userdata,
                int min_level)
{
	if (!eng)
		return;
	eng->log_fn = fn;
	eng->log_ud = userdata;
	eng->log_min = min_level;
}

void
otas__set_last_error(otas_engine_t *eng, const char *msg)
{
	pthread_mutex_lock(&eng->q.mu);
	snprintf(eng->last_error, sizeof(eng->last_error), "%s", msg);
	pthread_mutex_unlock(&eng->q.mu);
}

void
otas__engine_set_auth(otas_engine_t *eng, const otas_auth_result_t *r)
{
	pthread_mutex_lock(&eng->q.mu);
	if (r->status == OTAS_AUTH_OK) {
		snprintf(eng->project_id, sizeof(eng->project_id), "%s",
		         r->project_id);
		eng->auth_state = OTAS__AUTH_OK;
		__atomic_store_n(&eng->accepts_zstd, r->accepts_zstd,
		                 __ATOMIC_RELAXED);
	} else if (r->status == OTAS_AUTH_INVALID_KEY) {
		eng->auth_state = OTAS__AUTH_INVALID;
	}
	pthread_mutex_unlock(&eng->q.mu);
}

static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* OTAS_SPOOL_DIR/spool-<key prefix>-<fnv1a(base url)>.sqlite; the prefix
 * is not secret (the platform stores it in clear), the secret part of the
 * key never reaches the file system. */
static char *
spool_path(const otas_config_t *cfg)
{
	const char *dir = cfg->spool_dir, *env;
	char buf[4096], pre[64];
	size_t kl = strlen(cfg->sdk_key), pl;
	int n;

	if (!*dir) {
		if ((env = getenv("XDG_CACHE_HOME")) && *env)
			n = snprintf(buf, sizeof(buf), "%s/otas", env);
		else if ((env = getenv("HOME")) && *env)
			n = snprintf(buf, sizeof(buf), "%s/.cache/otas", env);
		else
			return NULL;
		if (n < 0 || (size_t)n >= sizeof(buf))
			return NULL;
		dir = buf;
	} else {
		snprintf(buf, sizeof(buf), "%s", dir);
		dir = buf;
	}
	pl = kl >= 5 + 44 ? kl - 5 - 44 : 0;
	if (pl >= sizeof(pre))
		pl = sizeof(pre) - 1;
	memcpy(pre, cfg->sdk_key + 5, pl);
	pre[pl] = '\0';
	{
		size_t need = strlen(dir) + pl + 40;
		char *p = malloc(need);
		if (!p)
			return NULL;
		snprintf(p, need, "%s/spool-%s-%08x.sqlite", dir, pre,
		         fnv1a(otas__otlp_enabled(cfg) ? cfg->otlp_endpoint
		                                       : cfg->base_url));
		return p;
	}
}

/* Free the engine and everything derived from its configuration (not the
 * configuration itself, which the caller frees): shared by a failed
 * otas_engine_new() and otas_engine_free().  The key header is wiped
 * before it is freed.  eng may be NULL. */
static void
engine_release(otas_engine_t *eng)
{
	if (!eng)
		return;
	otas__queue_destroy(&eng->q);
	pthread_mutex_destroy(&eng->spool_mu);
	otas__names_free(eng->sens_headers);
	otas__names_free(eng->sens_dir_headers[0]);
	otas__names_free(eng->sens_dir_headers[1]);
	otas__nameset_release(&eng->params);
	otas__names_free(eng->sens_params);
	otas__jsonpath_free(eng->req_rules);
	otas__jsonpath_free(eng->resp_rules);
	free(eng->auth_url);
	free(eng->spool_path);
	otas__ident_free(eng->ident);
	otas__filter_free(eng->filter);
	otas__protocol_free(eng->proto);
	free(eng);
}

otas_engine_t *
otas_engine_new(otas_config_t *cfg, char *err, size_t errlen)
{
	otas_engine_t *eng = NULL;
	char e2[512];

	if (err && errlen)
		err[0] = '\0';
	if (!cfg) {
		if (err && errlen)
			snprintf(err, errlen, "no configuration given");
		return NULL;
	}
	/* OTAS_EXPORTER=otlp needs no key: nothing goes to the OTAS back end
	 * (a misspelt exporter is named before the missing key). */
	if (otas__otlp_validate(cfg, err, errlen) != 0)
		goto fail;
	if (!cfg->sdk_key[0] && !otas__otlp_enabled(cfg)) {
		if (err && errlen)
			snprintf(err, errlen,
			         "OTAS_SDK_KEY is not set: create an SDK key for "
			         "your project in OTAS and set OTAS_SDK_KEY to it");
		goto fail;
	}
	if (otas_config_check(cfg, err, errlen) != 0)
		goto fail;
	eng = calloc(1, sizeof(*eng));
	if (!eng)
		goto oom;
	otas__http_set_ca_bundle(cfg->ca_bundle);
	eng->cfg = cfg;
	eng->batch_endpoint = -1;
	eng->log_min = OTAS_LOG_WARNING;
	eng->retry_base_ms = OTAS__RETRY_BASE_MS;
	eng->retry_cap_ms = OTAS__RETRY_CAP_MS;
	eng->retry_window_ms = OTAS__RETRY_WINDOW_MS;
	eng->auth_wait_ms = OTAS__AUTH_WAIT_MS;
	eng->reprobe_ms = OTAS__REPROBE_MS;
	if (otas__queue_init(&eng->q, (uint64_t)cfg->queue_max_bytes) != 0 ||
	    pthread_mutex_init(&eng->spool_mu, NULL) != 0) {
		free(eng);
		eng = NULL;
		goto oom;
	}
	eng->q.wake_count = (uint64_t)cfg->batch_max_events;
	eng->q.wake_bytes = (uint64_t)cfg->batch_max_bytes;
	if (eng->q.wake_bytes > eng->q.max_bytes / 4)
		eng->q.wake_bytes = eng->q.max_bytes / 4;

	eng->sens_headers = otas__names_split(cfg->sensitive_headers,
	                                      &eng->n_sens_headers);
	eng->sens_dir_headers[0] = otas__names_split(
	    cfg->request_header_masks, &eng->n_sens_dir_headers[0]);
	eng->sens_dir_headers[1] = otas__names_split(
	    cfg->response_header_masks, &eng->n_sens_dir_headers[1]);
	/* One name set for query, form and JSON names and header names:
	 * OTAS_SENSITIVE_QUERY_PARAMS, OTAS_REDACT_NAMES and the defaults. */
	{
		size_t l1 = strlen(cfg->sensitive_query_params);
		char *both = malloc(l1 + strlen(cfg->redact_names) + 2);
		if (both) {
			memcpy(both, cfg->sensitive_query_params, l1);
			both[l1] = ',';
			strcpy(both + l1 + 1, cfg->redact_names);
			eng->sens_params = otas__names_split(both,
			                                     &eng->params.n);
			free(both);
		}
	}
	if (!eng->sens_headers || !eng->sens_params ||
	    !eng->sens_dir_headers[0] || !eng->sens_dir_headers[1])
		goto oom;
	eng->params.names = (const char *const *)eng->sens_params;
	eng->params.defaults = cfg->redact_default_names;
	if (otas__nameset_prepare(&eng->params) != 0)
		goto oom;
	eng->req_rules = otas__jsonpath_parse(cfg->redact_request_body, e2,
	                                      sizeof(e2));
	if (!eng->req_rules) {
		if (err && errlen)
			snprintf(err, errlen, "OTAS_REDACT_REQUEST_BODY: %s: "
			         "fix the JSONPath rule", e2);
		goto fail;
	}
	eng->resp_rules = otas__jsonpath_parse(cfg->redact_response_body, e2,
	                                       sizeof(e2));
	if (!eng->resp_rules) {
		if (err && errlen)
			snprintf(err, errlen, "OTAS_REDACT_RESPONSE_BODY: %s: "
			         "fix the JSONPath rule", e2);
		goto fail;
	}
	eng->auth_url = strdup(cfg->auth_url[0] ? cfg->auth_url
	                                        : cfg->base_url);
	if (!eng->auth_url)
		goto oom;
	/* OTAS_SPOOL_MAX_BYTES=0 turns the spool off. */
	eng->spool_path = cfg->spool_max_bytes > 0 ? spool_path(cfg) : NULL;
	eng->ident = otas__ident_new(cfg);
	eng->filter = otas__filter_new(cfg);
	if (!eng->ident || !eng->filter)
		goto oom;
	snprintf(eng->sdk_name, sizeof(eng->sdk_name), "%s",
	         cfg->sdk_name[0] ? cfg->sdk_name : "otas-c/" OTAS_VERSION);
	if (!(eng->proto = otas__protocol_new(cfg, eng->sdk_name)))
		goto oom;
	if (eng->proto->kind == OTAS__PROTO_OTLP)
		eng->auth_state = OTAS__AUTH_OK; /* no OTAS authentication */

	otas__fork_register(eng);
	return eng;
oom:
	if (err && errlen)
		snprintf(err, errlen, "out of memory creating the engine");
fail:
	engine_release(eng);
	otas_config_free(cfg);
	return NULL;
}

void
otas_engine_free(otas_engine_t *eng, int timeout_ms)
{
	otas_config_t *cfg;

	if (!eng)
		return;
	if (timeout_ms < 0)
		timeout_ms = (int)eng->cfg->shutdown_timeout_ms;
	otas__sender_stop(eng, timeout_ms);
	otas__fork_unregister(eng);
	/* Records no sender took (it never ran). */
	OTAS__INC(eng, dropped_shutdown, eng->q.count);
	{
		otas_stats_t st;
		otas_stats(eng, &st);
		if (st.dropped_shutdown)
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: %llu event(s) could be neither delivered "
			          "nor spooled before shutdown",
			          (unsigned long long)st.dropped_shutdown);
		otas__log(eng, OTAS_LOG_DEBUG,
		          "otas: stats captured=%llu sent=%llu batches=%llu "
		          "retried=%llu spooled=%llu unspooled=%llu "
		          "duplicates=%llu dropped_queue_full=%llu "
		          "dropped_rejected=%llu dropped_invalid_agent_token=%llu "
		          "skipped_no_agent_token=%llu dropped_spool_full=%llu "
		          "dropped_shutdown=%llu dropped_capture_error=%llu",
		          (unsigned long long)st.captured,
		          (unsigned long long)st.sent,
		          (unsigned long long)st.batches,
		          (unsigned long long)st.retried,
		          (unsigned long long)st.spooled,
		          (unsigned long long)st.unspooled,
		          (unsigned long long)st.duplicates,
		          (unsigned long long)st.dropped_queue_full,
		          (unsigned long long)st.dropped_rejected,
		          (unsigned long long)st.dropped_invalid_agent_token,
		          (unsigned long long)st.skipped_no_agent_token,
		          (unsigned long long)st.dropped_spool_full,
		          (unsigned long long)st.dropped_shutdown,
		          (unsigned long long)st.dropped_capture_error);
	}
	otas__entities_free(eng);
	if (eng->spool)
		otas__spool_close(eng->spool);
	cfg = eng->cfg;
	engine_release(eng);
	otas_config_free(cfg);
}

otas_auth_status_t
otas_engine_authenticate(otas_engine_t *eng, int timeout_ms,
                         otas_auth_result_t *out)
{
	otas_auth_result_t dummy;

	if (!out)
		out = &dummy;
	if (!eng) {
		memset(out, 0, sizeof(*out));
		out->status = OTAS_AUTH_CONFIG;
		snprintf(out->message, sizeof(out->message), "no engine");
		return out->status;
	}
	if (eng->proto->kind == OTAS__PROTO_OTLP) {
		/* OTAS_EXPORTER=otlp: nothing to authenticate */
		memset(out, 0, sizeof(*out));
		out->status = OTAS_AUTH_OK;
		snprintf(out->message, sizeof(out->message),
		         "OTAS_EXPORTER=otlp: no OTAS authentication");
		return out->status;
	}
	otas_authenticate_key(eng->auth_url, eng->cfg->sdk_key, timeout_ms,
	                      out);
	otas__engine_set_auth(eng, out);
	/* The host has the answer (and logs it): the sender does not say
	 * "unreachable" a second time for the same episode. */
	if (out->status == OTAS_AUTH_UNREACHABLE)
		atomic_store(&eng->unreachable_told, 1);
	/* Announce a key that lapses within 14 days, so it is rotated before
	 * events start being refused. */
	if (out->status == OTAS_AUTH_OK && out->key_expires_at > 0) {
		long long left = out->key_expires_at - (long long)time(NULL);
		if (left < 14LL * 86400)
			otas__log(eng, OTAS_LOG_WARNING,
			          "the OTAS SDK key expires in %lld days%s; make a "
			          "new one (otas-collector key rotate) and set "
			          "OTAS_SDK_KEY",
			          left > 0 ? (left + 86399) / 86400 : 0,
			          left > 0 ? "" : " (already expired)");
	}
	return out->status;
}

int
otas_capture(otas_engine_t *eng, const otas_capture_t *cap,
             char event_id_out[37])
{
	struct otas__record_s *r;
	otas_capture_t sampled;
	char id[37];
	int bad;

	if (!eng || !cap)
		return -1;
	if (!eng->cfg->enabled)
		return 1;
	/* Rules first: an excluded request costs no copy (filter.c). */
	if (!otas__filter_request(eng->filter, cap->method, cap->method_len,
	                          cap->path, cap->path_len)) {
		OTAS__INC(eng, excluded, 1);
		return 2;
	}
	if (otas__filter_sampling(eng->filter)) {
		/* Sampling is decided on the event id, so make it now. */
		if (cap->event_id && cap->event_id_len == 36) {
			memcpy(id, cap->event_id, 36);
			id[36] = '\0';
		} else {
			otas__uuid7(otas__now_unix_us() / 1000, id);
		}
		if (!otas__filter_sampled(eng->filter, id, 36)) {
			OTAS__INC(eng, sampled_out, 1);
			return 2;
		}
		sampled = *cap;
		sampled.event_id = id;
		sampled.event_id_len = 36;
		cap = &sampled;
	}
	r = otas__record_new(cap, &bad);
	if (!r) {
		if (bad)
			return -1;
		OTAS__INC(eng, dropped_capture_error, 1);
		if (!atomic_exchange(&eng->oom_logged, 1))
			otas__log(eng, OTAS_LOG_ERROR,
			          "otas: out of memory copying an event; it is "
			          "dropped (counted in dropped_capture_error)");
		return 1;
	}
	if (event_id_out)
		memcpy(event_id_out, r->event_id, 37);
	if (!atomic_load_explicit(&eng->started, memory_order_acquire))
		otas__sender_start(eng);
	if (otas__queue_push(&eng->q, r) != 0) {
		free(r);
		OTAS__INC(eng, dropped_queue_full, 1);
		if (!atomic_load_explicit(&eng->qfull_logged,
		                          memory_order_relaxed) &&
		    !atomic_exchange(&eng->qfull_logged, 1))
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: the event queue is full "
			          "(OTAS_QUEUE_MAX_BYTES=%lld): dropping events "
			          "until the back end catches up",
			          (long long)eng->cfg->queue_max_bytes);
		return 1;
	}
	OTAS__INC(eng, captured, 1);
	return 0;
}

static int
ct_prefix(const char *ct, size_t n, const char *p)
{
	size_t k = strlen(p);

	while (n && *ct == ' ')
		ct++, n--;
	return n >= k && strncasecmp(ct, p, k) == 0;
}

int
otas_should_capture(otas_engine_t *eng, const char *method,
                    size_t method_len, const char *path, size_t path_len)
{
	if (!eng || !eng->cfg->enabled)
		return 0;
	if (otas__filter_request(eng->filter, method, method_len, path,
	                         path_len))
		return 1;
	OTAS__INC(eng, excluded, 1);
	return 0;
}

void
otas_new_event_id(char out[37])
{
	otas__uuid7(otas__now_unix_us() / 1000, out);
}

int
otas_want_request_body(const otas_engine_t *eng, const char *ct,
                       size_t ct_len, int64_t content_length)
{
	if (!eng || !eng->cfg->enabled || !eng->cfg->capture_bodies)
		return 0;
	if (ct && (ct_prefix(ct, ct_len, "multipart/") ||
	           ct_prefix(ct, ct_len, "application/octet-stream")))
		return 0;
	/* Unknown length (chunked): reading could be unbounded. */
	if (content_length < 0)
		return 0;
	return content_length <= eng->cfg->max_body_bytes;
}

size_t
otas_body_cap(const otas_engine_t *eng)
{
	if (!eng || !eng->cfg->enabled || !eng->cfg->capture_bodies)
		return 0;
	return (size_t)eng->cfg->max_body_bytes;
}

int
otas_flush(otas_engine_t *eng, int timeout_ms)
{
	struct timespec ts;
	int64_t dl;
	uint64_t target;
	int started, ok;

	if (!eng)
		return 1;
	dl = otas__now_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&eng->q.mu);
	target = eng->q.seq;
	if (eng->done_seq >= target && !otas__entities_busy_locked(eng)) {
		pthread_mutex_unlock(&eng->q.mu);
		return 1;
	}
	if (target > eng->flush_seq)
		eng->flush_seq = target;
	if (dl > eng->flush_deadline_ms)
		eng->flush_deadline_ms = dl;
	started = atomic_load(&eng->started);
	pthread_cond_signal(&eng->q.cv_send);
	pthread_mutex_unlock(&eng->q.mu);
	if (!started)
		otas__sender_start(eng);
	ts.tv_sec = dl / 1000;
	ts.tv_nsec = (long)(dl % 1000) * 1000000L;
	pthread_mutex_lock(&eng->q.mu);
	while (eng->done_seq < target && !eng->sender_exited) {
		if (pthread_cond_timedwait(&eng->q.cv_done, &eng->q.mu, &ts) !=
		        0 &&
		    otas__now_mono_ms() >= dl)
			break;
	}
	ok = eng->done_seq >= target;
	/* Entity updates queued before the call (entity.c). */
	while (ok && otas__entities_busy_locked(eng) && !eng->sender_exited) {
		pthread_cond_signal(&eng->q.cv_send);
		if (pthread_cond_timedwait(&eng->q.cv_done, &eng->q.mu, &ts) !=
		        0 &&
		    otas__now_mono_ms() >= dl) {
			ok = 0;
			break;
		}
	}
	pthread_mutex_unlock(&eng->q.mu);
	return ok;
}

void
otas_stats(otas_engine_t *eng, otas_stats_t *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	if (!eng)
		return;
#define G(f) o->f = atomic_load_explicit(&eng->c.f, memory_order_relaxed)
	G(captured);
	G(sent);
	G(batches);
	G(bytes_sent);
	G(retried);
	G(spooled);
	G(unspooled);
	G(duplicates);
	G(dropped_queue_full);
	G(dropped_rejected);
	G(dropped_invalid_agent_token);
	G(skipped_no_agent_token);
	G(dropped_spool_full);
	G(dropped_shutdown);
	G(dropped_capture_error);
	G(sampled_out);
	G(excluded);
	G(entities_sent);
	G(dropped_entities);
#undef G
	pthread_mutex_lock(&eng->q.mu);
	o->queue_bytes = eng->q.bytes;
	o->queue_events = eng->q.count;
	o->batch_endpoint = eng->batch_endpoint;
	o->authenticated = eng->auth_state == OTAS__AUTH_OK;
	snprintf(o->last_error, sizeof(o->last_error), "%s", eng->last_error);
	pthread_mutex_unlock(&eng->q.mu);
}
