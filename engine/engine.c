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
#include "common/hash.h"
#include "capture/filter.h"
#include "send/http_curl.h"
#include "event/identity.h"
#include "send/otlp.h"
#include "send/protocol.h"
#include "event/redact_names.h"
#include "send/sender.h"

/* OTAS_REDACT_*_BODY: compile the rules so that a bad one is an error at
 * start-up naming the option, the rule and the fix. */
static int
check_rules(const char *rules, const char *name, char *err, size_t errlen)
{
	char e2[256];
	otas__jsonpath_set_t *rs = otas__jsonpath_parse(rules, e2, sizeof(e2));

	if (!rs) {
		if (err && errlen)
			snprintf(err, errlen,
			         "%s: %s: fix the JSONPath rule (rules are "
			         "comma-separated, e.g. $.password,$..token)",
			         name, e2);
		return -1;
	}
	otas__jsonpath_free(rs);
	return 0;
}

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
	if (check_rules(c->redact_request_body, "OTAS_REDACT_REQUEST_BODY", err,
	                errlen) != 0 ||
	    check_rules(c->redact_response_body, "OTAS_REDACT_RESPONSE_BODY",
	                err, errlen) != 0)
		return -1;
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

/* The serialiser's OTAS_DEBUG sink (event.h). */
static void
event_debug(void *ud, const char *head, const char *json, size_t n,
            const char *token, size_t token_len)
{
	otas__log_event(&((otas_engine_t *)ud)->log, head, json, n, token, token_len);
}

void
otas_set_logger(otas_engine_t *eng, otas_log_fn fn, void *userdata,
                otas_log_level_t min_level)
{
	otas__buf_t b = OTAS__BUF_INIT;

	if (!eng)
		return;
	eng->log.fn = fn;
	eng->log.ud = userdata;
	eng->log.min = min_level;
	if (!fn || min_level > OTAS_LOG_DEBUG)
		return;
	/* The OTAS_DEBUG start-up line: every option from the table
	 * (options.def), secrets as '***'. */
	otas__buf_printf(&b, "otas: start (pid %ld): ", (long)getpid());
	if (otas__config_describe(eng->cfg, &b) == 0)
		fn(OTAS_LOG_DEBUG, b.data, userdata);
	otas__buf_free(&b);
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
	if (eng->snd.q) { /* wired: the sender, then what it read */
		otas__sender_destroy(&eng->snd);
		otas__auth_destroy(&eng->auth);
	}
	otas__queue_destroy(&eng->q);
	otas__event_ctx_free(eng->ev);
	free(eng->auth_url);
	free(eng->spool_path);
	otas__filter_free(eng->filter);
	otas__protocol_free(eng->proto);
	free(eng);
}

/* The OTAS_DEBUG shutdown line: every number of OTAS_STATS_FIELDS. */
static void
stats_line(otas_engine_t *eng, const otas_stats_t *st)
{
	otas__buf_t b = OTAS__BUF_INIT;

	if (!otas__log_on(&eng->log, OTAS_LOG_DEBUG))
		return;
	otas__buf_puts(&b, "otas: stats");
#define C(name, ...) \
	otas__buf_printf(&b, " " #name "=%llu", (unsigned long long)st->name);
#define G(name, ...) \
	otas__buf_printf(&b, " " #name "=%lld", (long long)st->name);
#define S(name, ...) /* last_error: already logged when it happened */
	OTAS_STATS_FIELDS(C, G, S)
#undef C
#undef G
#undef S
	if (!b.oom)
		eng->log.fn(OTAS_LOG_DEBUG, b.data, eng->log.ud);
	otas__buf_free(&b);
}

otas_engine_t *
otas_engine_new(otas_config_t *cfg, char *err, size_t errlen)
{
	otas_engine_t *eng = NULL;

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
	/* libcrypto registers its exit(3) clean-up at its first use: here,
	 * before a host's exit handler that calls otas_engine_stop() (the
	 * binding's exit_flush()), so that clean-up runs after it and the
	 * spool can still be sealed.  At the sender's first use instead, it
	 * ran first and the spooling sender crashed inside libcrypto. */
	(void)otas__crypto_init();
	eng = calloc(1, sizeof(*eng));
	if (!eng)
		goto oom;
	otas__http_set_ca_bundle(cfg->ca_bundle);
	eng->cfg = cfg;
	eng->log.min = OTAS_LOG_WARNING;
	eng->timing.retry_base_ms = OTAS__RETRY_BASE_MS;
	eng->timing.retry_cap_ms = OTAS__RETRY_CAP_MS;
	eng->timing.retry_window_ms = OTAS__RETRY_WINDOW_MS;
	eng->timing.auth_wait_ms = OTAS__AUTH_WAIT_MS;
	eng->timing.reprobe_ms = OTAS__REPROBE_MS;
	if (otas__queue_init(&eng->q, (uint64_t)cfg->queue_max_bytes) != 0) {
		free(eng);
		eng = NULL;
		goto oom;
	}
	eng->q.wake_count = (uint64_t)cfg->batch_max_events;
	eng->q.wake_bytes = (uint64_t)cfg->batch_max_bytes;
	if (eng->q.wake_bytes > eng->q.max_bytes / 4)
		eng->q.wake_bytes = eng->q.max_bytes / 4;

	snprintf(eng->sdk_name, sizeof(eng->sdk_name), "%s",
	         cfg->sdk_name[0] ? cfg->sdk_name : "otas-c/" OTAS_VERSION);
	/* The serialiser's context: built once, read by the sender. */
	eng->ev = otas__event_ctx_new(cfg, eng->sdk_name, err, errlen);
	if (!eng->ev)
		goto fail;
	eng->ev->debug_fn = event_debug;
	eng->ev->debug_ud = eng;
	eng->auth_url = strdup(cfg->auth_url[0] ? cfg->auth_url
	                                        : cfg->base_url);
	if (!eng->auth_url)
		goto oom;
	/* OTAS_SPOOL_MAX_BYTES=0 turns the spool off. */
	eng->spool_path = cfg->spool_max_bytes > 0 ? spool_path(cfg) : NULL;
	eng->filter = otas__filter_new(cfg);
	if (!eng->filter)
		goto oom;
	if (!(eng->proto = otas__protocol_new(cfg, eng->sdk_name)))
		goto oom;
	/* OTLP: no OTAS authentication. */
	if (otas__auth_init(&eng->auth, eng->proto->kind == OTAS__PROTO_OTLP
	                                    ? OTAS__AUTH_OK
	                                    : OTAS__AUTH_UNKNOWN) != 0)
		goto oom;
	/* The stages below the engine, wired with what they read. */
	{
		otas__sender_in_t in = {
		    .cfg = cfg,
		    .ev = eng->ev,
		    .proto = eng->proto,
		    .q = &eng->q,
		    .c = &eng->c,
		    .auth = &eng->auth,
		    .log = &eng->log,
		    .timing = &eng->timing,
		    .auth_url = eng->auth_url,
		    .spool_path = eng->spool_path,
		};
		if (otas__sender_init(&eng->snd, &in) != 0) {
			otas__auth_destroy(&eng->auth);
			memset(&eng->snd, 0, sizeof(eng->snd));
			goto oom;
		}
	}

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
	otas__sender_stop(&eng->snd, timeout_ms);
	otas__fork_unregister(eng);
	/* Records no sender took (it never ran); entity updates are counted
	 * by otas__sender_destroy(). */
	OTAS__INC(&eng->c, dropped_shutdown, eng->q.count - eng->q.ent_count);
	{
		otas_stats_t st = OTAS_STATS_INIT;
		otas_stats(eng, &st);
		if (st.dropped_shutdown)
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: %llu event(s) could be neither delivered "
			          "nor spooled before shutdown",
			          (unsigned long long)st.dropped_shutdown);
		stats_line(eng, &st);
	}
	cfg = eng->cfg;
	engine_release(eng);
	otas_config_free(cfg);
}

/* Copy a whole result into the caller's, which may be an older, shorter
 * struct: only its first struct_size bytes are written. */
static otas_auth_status_t
auth_copy_out(const otas_auth_result_t *full, otas_auth_result_t *out)
{
	size_t n;

	if (out && out->struct_size > sizeof(out->struct_size)) {
		n = out->struct_size < sizeof(*full) ? out->struct_size
		                                     : sizeof(*full);
		memcpy((char *)out + sizeof(out->struct_size),
		       (const char *)full + sizeof(full->struct_size),
		       n - sizeof(full->struct_size));
	}
	return full->status;
}

otas_auth_status_t
otas_authenticate_key(const char *auth_url, const char *sdk_key,
                      int timeout_ms, otas_auth_result_t *out)
{
	otas_auth_result_t full = OTAS_AUTH_RESULT_INIT;

	otas__authenticate_key(auth_url, sdk_key, timeout_ms, &full);
	return auth_copy_out(&full, out);
}

otas_auth_status_t
otas_engine_authenticate(otas_engine_t *eng, int timeout_ms,
                         otas_auth_result_t *res)
{
	otas_auth_result_t full = OTAS_AUTH_RESULT_INIT, *out = &full;

	if (!eng) {
		memset(out, 0, sizeof(*out));
		out->status = OTAS_AUTH_CONFIG;
		snprintf(out->message, sizeof(out->message), "no engine");
		return auth_copy_out(out, res);
	}
	if (eng->proto->kind == OTAS__PROTO_OTLP) {
		/* OTAS_EXPORTER=otlp: nothing to authenticate */
		memset(out, 0, sizeof(*out));
		out->status = OTAS_AUTH_OK;
		snprintf(out->message, sizeof(out->message),
		         "OTAS_EXPORTER=otlp: no OTAS authentication");
		return auth_copy_out(out, res);
	}
	otas__authenticate_key(eng->auth_url, eng->cfg->sdk_key, timeout_ms,
	                       out);
	otas__auth_set(&eng->auth, out);
	/* The host has the answer (and logs it): the sender does not say
	 * "unreachable" a second time for the same episode. */
	if (out->status == OTAS_AUTH_UNREACHABLE)
		atomic_store(&eng->auth.unreachable_told, 1);
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
	return auth_copy_out(out, res);
}

otas_result_t
otas_capture(otas_engine_t *eng, const otas_capture_t *cap,
             char event_id_out[37])
{
	struct otas__record_s *r;
	otas_capture_t sampled, whole;
	char id[37];
	int bad;

	if (!eng)
		return OTAS_EINVAL;
	if (!cap ||
	    cap->struct_size < offsetof(otas_capture_t, flags) + sizeof(int)) {
		/* A host bug (struct_size unset): counted, so the loss shows
		 * in otas_stats() and not only in a return code. */
		OTAS__INC(&eng->c, dropped_capture_error, 1);
		return OTAS_EINVAL;
	}
	if (!eng->cfg->enabled)
		return OTAS_DROPPED;
	/* An older host's shorter struct: read its bytes only, the fields it
	 * does not know stay unset. */
	if (cap->struct_size < sizeof(otas_capture_t)) {
		memset(&whole, 0, sizeof(whole));
		memcpy(&whole, cap, cap->struct_size);
		whole.struct_size = sizeof(whole);
		cap = &whole;
	}
	/* Rules first: an excluded request costs no copy (filter.c). */
	if (!otas__filter_request(eng->filter, cap->method, cap->method_len,
	                          cap->path, cap->path_len)) {
		OTAS__INC(&eng->c, excluded, 1);
		return OTAS_SKIPPED;
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
			OTAS__INC(&eng->c, sampled_out, 1);
			return OTAS_SKIPPED;
		}
		sampled = *cap;
		sampled.event_id = id;
		sampled.event_id_len = 36;
		cap = &sampled;
	}
	r = otas__record_new(cap, &bad);
	if (!r) {
		if (bad)
			return OTAS_EINVAL;
		OTAS__INC(&eng->c, dropped_capture_error, 1);
		if (!atomic_exchange(&eng->oom_logged, 1))
			otas__log(eng, OTAS_LOG_ERROR,
			          "otas: out of memory copying an event; it is "
			          "dropped (counted in dropped_capture_error)");
		return OTAS_DROPPED;
	}
	if (event_id_out)
		memcpy(event_id_out, r->event_id, 37);
	otas__sender_kick(&eng->snd);
	if (otas__queue_push(&eng->q, r) != 0) {
		r->release = NULL; /* not queued: the lent bodies stay the host's */
		otas__record_free(r);
		OTAS__INC(&eng->c, dropped_queue_full, 1);
		if (!atomic_load_explicit(&eng->q.full_logged,
		                          memory_order_relaxed) &&
		    !atomic_exchange(&eng->q.full_logged, 1))
			otas__log(eng, OTAS_LOG_WARNING,
			          "otas: the event queue is full "
			          "(OTAS_QUEUE_MAX_BYTES=%lld): dropping events "
			          "until the back end catches up",
			          (long long)eng->cfg->queue_max_bytes);
		return OTAS_DROPPED;
	}
	OTAS__INC(&eng->c, captured, 1);
	return OTAS_OK;
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
	OTAS__INC(&eng->c, excluded, 1);
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

otas_result_t
otas_engine_stop(otas_engine_t *eng, int timeout_ms)
{
	otas_stats_t before = OTAS_STATS_INIT, after = OTAS_STATS_INIT;
	uint64_t left;

	if (!eng)
		return OTAS_OK;
	if (timeout_ms < 0)
		timeout_ms = (int)eng->cfg->shutdown_timeout_ms;
	otas_stats(eng, &before);
	otas__sender_stop(&eng->snd, timeout_ms);
	otas_stats(eng, &after);
	/* Records still queued have no sender left to take them. */
	pthread_mutex_lock(&eng->q.mu);
	left = eng->q.count - eng->q.ent_count;
	pthread_mutex_unlock(&eng->q.mu);
	return after.dropped_shutdown == before.dropped_shutdown && !left
	           ? OTAS_OK
	           : OTAS_DROPPED;
}

otas_result_t
otas_flush(otas_engine_t *eng, int timeout_ms)
{
	if (!eng)
		return OTAS_OK;
	return otas__sender_flush(&eng->snd, timeout_ms) == 0 ? OTAS_OK
	                                                      : OTAS_TIMEOUT;
}

void
otas_stats(otas_engine_t *eng, otas_stats_t *out)
{
	otas_stats_t o;
	size_t n;

	if (!out || out->struct_size < sizeof(out->struct_size))
		return;
	memset(&o, 0, sizeof(o));
	if (eng) {
		otas__counters_read(&eng->c, &o);
		otas__sender_gauges(&eng->snd, &o);
	}
	/* An older host's shorter struct gets its first struct_size bytes; a
	 * newer host's longer one only ours (never more than we know: a
	 * garbage struct_size must not make us write past a real struct). */
	n = out->struct_size < sizeof(o) ? out->struct_size : sizeof(o);
	memcpy((char *)out + sizeof(out->struct_size),
	       (const char *)&o + sizeof(o.struct_size),
	       n - sizeof(o.struct_size));
}

otas_result_t
otas_entity(otas_engine_t *eng, otas_entity_kind_t kind, const char *json,
            size_t len)
{
	size_t n;
	int bad, rc;
	char *el;

	if (!eng)
		return -1;
	el = otas__entity_element(kind, json, len, &n, &bad);
	if (!el) {
		if (bad)
			return -1;
		OTAS__INC(&eng->c, dropped_entities, 1);
		return 1;
	}
	if (!eng->cfg->enabled || !otas__protocol_has_entities(eng->proto)) {
		/* OTLP logs have no place for entity updates: counted. */
		if (eng->cfg->enabled)
			OTAS__INC(&eng->c, dropped_entities, 1);
		free(el);
		return 1;
	}
	/* A typed item of the one bounded queue: full (or over the entities'
	 * share) drops and counts it, as for events. */
	rc = otas__queue_push_entity(&eng->q, el, n);
	free(el);
	if (rc != 0) {
		OTAS__INC(&eng->c, dropped_entities, 1);
		return 1;
	}
	otas__sender_kick(&eng->snd);
	return 0;
}
