/*
 * ingest.c -- gunzip with a cap, batch and event decoding (ingest.h).
 *
 * Nothing here trusts its input: every size is checked before a buffer
 * grows, and a field of the wrong type rejects the event, not the batch.
 *
 * The decoder walks SQLite's json_tree() of the body once.  Rows arrive in
 * document order, so a row's parent is the root, the "events" array, the
 * current event, or the current event's metadata -- or something deeper,
 * which we skip.  A known field that appears twice makes the event invalid,
 * so what we check is what gets stored.
 *
 * Each thread has its own in-memory SQLite connection with the statements
 * prepared once (a pthread key frees them when the thread ends).
 */
#include "ingest.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int
otas__gunzip(const void *in, size_t n, size_t limit, otas__buf_t *out)
{
	z_stream zs;
	int zr, rc = OTAS__INGEST_BAD_GZIP;

	memset(&zs, 0, sizeof zs);
	/* 15+32: accept gzip and zlib headers. */
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return OTAS__INGEST_BAD_GZIP;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	if (n > UINT32_MAX)
		goto done;
	for (;;) {
		size_t room;
		if (out->len >= limit) {
			/* Full: one more byte of output means over the cap. */
			unsigned char probe;
			zs.next_out = &probe;
			zs.avail_out = 1;
			zr = inflate(&zs, Z_NO_FLUSH);
			if (zr == Z_STREAM_END && zs.avail_out == 1)
				break;
			if (zs.avail_out == 0) {
				rc = OTAS__INGEST_TOO_LARGE;
				goto done;
			}
			if (zr != Z_OK)
				goto done;
			continue;
		}
		room = limit - out->len;
		if (room > 256 * 1024)
			room = 256 * 1024;
		if (otas__buf_reserve(out, room) != 0)
			abort(); /* the collector aborts on OOM */
		zs.next_out = (Bytef *)out->data + out->len;
		zs.avail_out = (uInt)room;
		zr = inflate(&zs, Z_NO_FLUSH);
		out->len += room - zs.avail_out;
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK)
			goto done; /* Z_BUF_ERROR: truncated input */
	}
	/* Trailing bytes after the gzip member are not accepted. */
	if (zs.avail_in != 0)
		goto done;
	out->data[out->len] = '\0';
	rc = OTAS__INGEST_OK;
done:
	inflateEnd(&zs);
	return rc;
}

/* ---- per-thread SQLite JSON context ---------------------------------- */

typedef struct {
	sqlite3 *db;
	sqlite3_stmt *batch;   /* json_tree over {"events":[...]} */
	sqlite3_stmt *single;  /* json_tree over one event */
	sqlite3_stmt *strip;   /* json_remove of the token */
} json_ctx_t;

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void
ctx_free(void *p)
{
	json_ctx_t *c = p;

	sqlite3_finalize(c->batch);
	sqlite3_finalize(c->single);
	sqlite3_finalize(c->strip);
	sqlite3_close(c->db);
	free(c);
}

static void
ctx_key_make(void)
{
	pthread_key_create(&ctx_key, ctx_free);
}

/* Columns: 0 id, 1 parent, 2 key, 3 type, 4 atom, 5 the text of an object
 * in an array (the events; `path` would tell exactly which, but building
 * it for every row costs more than rendering a rare nested object). */
#define TREE_COLS "id, parent, key, type, atom, "

static json_ctx_t *
ctx_get(void)
{
	json_ctx_t *c;

	pthread_once(&ctx_once, ctx_key_make);
	c = pthread_getspecific(ctx_key);
	if (c)
		return c;
	c = calloc(1, sizeof *c);
	if (!c)
		abort();
	if (sqlite3_open_v2(":memory:", &c->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	        SQLITE_OK ||
	    sqlite3_prepare_v3(c->db,
	                       "SELECT " TREE_COLS "CASE WHEN type = 'object'"
	                       " AND typeof(key) = 'integer' THEN value END"
	                       " FROM json_tree(?1)",
	                       -1, SQLITE_PREPARE_PERSISTENT, &c->batch,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(c->db,
	                       "SELECT " TREE_COLS "CASE WHEN id = 0 AND"
	                       " type = 'object' THEN value END FROM json_tree(?1)",
	                       -1, SQLITE_PREPARE_PERSISTENT, &c->single,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(c->db,
	                       "SELECT json_remove(?1, '$.agent_session_token')",
	                       -1, SQLITE_PREPARE_PERSISTENT, &c->strip,
	                       NULL) != SQLITE_OK)
		abort(); /* an in-memory database cannot fail but by OOM */
	pthread_setspecific(ctx_key, c);
	return c;
}

/* ---- UTF-8 ----------------------------------------------------------- */

int
otas__utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t len;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += len;
	}
	return 1;
}

/* ---- events ------------------------------------------------------------ */

void
otas__event_clear(otas__event_t *ev)
{
	free(ev->path);
	free(ev->method);
	free(ev->route);
	free(ev->token);
	free(ev->doc);
	memset(ev, 0, sizeof *ev);
}

void
otas__batch_free(otas__batch_t *b)
{
	for (size_t i = 0; i < b->n; i++)
		otas__event_clear(&b->ev[i]);
	free(b->ev);
	memset(b, 0, sizeof *b);
}

enum {
	F_PROJECT_ID, F_PATH, F_METHOD, F_STATUS, F_LATENCY, F_REQ_SIZE,
	F_RESP_SIZE, F_REQ_HEADERS, F_RESP_HEADERS, F_REQ_BODY, F_RESP_BODY,
	F_QUERY, F_POST, F_REQ_CT, F_RESP_CT, F_CUSTOM, F_ERROR, F_METADATA,
	F_EVENT_ID, F_TOKEN, F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "project_id", "path", "method", "status_code", "latency_ms",
    "request_size_bytes", "response_size_bytes", "request_headers",
    "response_headers", "request_body", "response_body", "query_params",
    "post_data", "request_content_type", "response_content_type",
    "custom_properties", "error", "metadata", "event_id",
    "agent_session_token"};

/* Decoding state of one event while its rows stream by. */
typedef struct {
	otas__event_t *ev;
	uint32_t seen;          /* F_* bits, non-null values */
	uint32_t dup;           /* F_* bits seen twice */
	uint32_t bad;           /* F_* bits of the wrong type */
	int64_t id;             /* json_tree id of the event object */
	int64_t meta_id;        /* of its metadata object, -1 */
	char meta_event_id[OTAS__EVENT_ID_MAX + 1];
	char *meta_route;
	int meta_route_seen, meta_ts_seen, meta_id_seen;
} ev_state_t;

static int
field_index(const char *key)
{
	if (!key)
		return -1;
	for (int i = 0; i < F_COUNT; i++)
		if (key[0] == field_names[i][0] && !strcmp(key, field_names[i]))
			return i;
	return -1;
}

static char *
dup_text(sqlite3_stmt *s, int col)
{
	const char *t = (const char *)sqlite3_column_text(s, col);
	size_t n = (size_t)sqlite3_column_bytes(s, col);
	char *out;

	if (!t)
		return NULL;
	out = malloc(n + 1);
	if (!out)
		abort();
	memcpy(out, t, n);
	out[n] = '\0';
	return out;
}

/* A text atom without embedded NULs. */
static int
clean_text(sqlite3_stmt *s, int col)
{
	const char *t = (const char *)sqlite3_column_text(s, col);

	return t && strlen(t) == (size_t)sqlite3_column_bytes(s, col);
}

/* One row whose parent is the event object. */
static void
event_field(ev_state_t *st, sqlite3_stmt *s)
{
	const char *key = (const char *)sqlite3_column_text(s, 2);
	const char *type = (const char *)sqlite3_column_text(s, 3);
	otas__event_t *ev = st->ev;
	int f = field_index(key), ok = 1;

	if (f < 0 || !type)
		return;
	if (st->seen & (1u << f) || (st->dup & (1u << f))) {
		st->dup |= 1u << f;
		return;
	}
	if (!strcmp(type, "null")) {
		st->dup |= 0; /* null counts as absent, but a second one is a dup */
		st->seen &= ~(1u << f);
		return;
	}
	st->seen |= 1u << f;
	switch (f) {
	case F_PROJECT_ID:
		ok = !strcmp(type, "text") || !strcmp(type, "integer");
		break;
	case F_PATH:
	case F_METHOD:
		ok = !strcmp(type, "text") && clean_text(s, 4);
		if (ok && f == F_PATH)
			ev->path = dup_text(s, 4);
		else if (ok)
			ev->method = dup_text(s, 4);
		break;
	case F_STATUS:
		ok = !strcmp(type, "integer");
		if (ok)
			ev->status = sqlite3_column_int64(s, 4);
		break;
	case F_LATENCY:
		ok = !strcmp(type, "integer") || !strcmp(type, "real");
		if (ok) {
			ev->latency_ms = sqlite3_column_double(s, 4);
			ok = isfinite(ev->latency_ms);
		}
		break;
	case F_REQ_SIZE:
	case F_RESP_SIZE:
		ok = !strcmp(type, "integer") && sqlite3_column_int64(s, 4) >= 0;
		break;
	case F_CUSTOM:
		ok = !strcmp(type, "object");
		break;
	case F_METADATA:
		ok = !strcmp(type, "object");
		if (ok)
			st->meta_id = sqlite3_column_int64(s, 0);
		break;
	case F_EVENT_ID:
		ok = !strcmp(type, "text") && clean_text(s, 4) &&
		     sqlite3_column_bytes(s, 4) > 0 &&
		     sqlite3_column_bytes(s, 4) <= OTAS__EVENT_ID_MAX;
		if (ok)
			memcpy(ev->event_id, sqlite3_column_text(s, 4),
			       (size_t)sqlite3_column_bytes(s, 4) + 1);
		break;
	case F_TOKEN:
		ok = !strcmp(type, "text");
		/* An empty token is no credential: only a real one makes the
		 * document worth rewriting. */
		if (ok && sqlite3_column_bytes(s, 4) > 0) {
			ev->has_token_field = 1;
			if (clean_text(s, 4))
				ev->token = dup_text(s, 4);
		}
		break;
	case F_ERROR:
		ok = !strcmp(type, "text");
		if (ok && sqlite3_column_bytes(s, 4) > 0)
			ev->is_error = 1;
		break;
	default: /* the optional string fields */
		ok = !strcmp(type, "text");
		break;
	}
	if (!ok)
		st->bad |= 1u << f;
}

/* One row whose parent is the event's metadata object. */
static void
meta_field(ev_state_t *st, sqlite3_stmt *s)
{
	const char *key = (const char *)sqlite3_column_text(s, 2);
	const char *type = (const char *)sqlite3_column_text(s, 3);
	int text = type && !strcmp(type, "text") && clean_text(s, 4);
	int n = sqlite3_column_bytes(s, 4);

	if (!key)
		return;
	if (!strcmp(key, "route") && !st->meta_route_seen++) {
		if (text && n > 0)
			st->meta_route = dup_text(s, 4);
	} else if (!strcmp(key, "timestamp") && !st->meta_ts_seen++) {
		if (!text ||
		    otas__parse_time((const char *)sqlite3_column_text(s, 4),
		                     &st->ev->ts_us) != 0)
			st->ev->ts_us = 0;
	} else if (!strcmp(key, "event_id") && !st->meta_id_seen++) {
		if (text && n > 0 && n <= OTAS__EVENT_ID_MAX)
			memcpy(st->meta_event_id, sqlite3_column_text(s, 4),
			       (size_t)n + 1);
		else if (type && strcmp(type, "null"))
			st->bad |= 1u << F_EVENT_ID;
	}
}

static void
note(json_t *list, const char *name)
{
	if (list)
		json_array_append_new(list, json_string(name));
}

/* All rows of the event are in: decide.  0 valid, -1 rejected. */
static int
event_close(ev_state_t *st, json_t *missing, json_t *invalid)
{
	otas__event_t *ev = st->ev;
	static const int required[] = {F_PROJECT_ID, F_PATH, F_METHOD, F_STATUS,
	                               F_LATENCY};
	int n_missing = 0;

	if (!ev->event_id[0] && st->meta_event_id[0])
		memcpy(ev->event_id, st->meta_event_id, sizeof ev->event_id);
	if (st->meta_route) {
		ev->route = st->meta_route;
		st->meta_route = NULL;
	} else if (ev->path) {
		ev->route = strdup(ev->path);
		if (!ev->route)
			abort();
	}
	if (ev->status >= 500)
		ev->is_error = 1;
	for (size_t i = 0; i < sizeof required / sizeof *required; i++)
		if (!(st->seen & (1u << required[i]))) {
			note(missing, field_names[required[i]]);
			n_missing++;
		}
	st->bad |= st->dup;
	for (int f = 0; f < F_COUNT; f++)
		if (st->bad & (1u << f))
			note(invalid, field_names[f]);
	if (n_missing) {
		ev->reject = "missing_required_fields";
		return -1;
	}
	if (st->bad) {
		ev->reject = "invalid_field_types";
		return -1;
	}
	return 0;
}

static void
state_begin(ev_state_t *st, otas__event_t *ev, int64_t id)
{
	free(st->meta_route);
	memset(st, 0, sizeof *st);
	st->ev = ev;
	st->id = id;
	st->meta_id = -1;
}

int
otas__batch_decode(const char *body, size_t n, size_t max_events,
                   otas__batch_t *b)
{
	json_ctx_t *c = ctx_get();
	sqlite3_stmt *s = c->batch;
	ev_state_t st;
	int64_t root = -1, events = -1;
	size_t cap = 0;
	int rc = OTAS__INGEST_OK, step, events_seen = 0, in_event = 0;

	memset(b, 0, sizeof *b);
	memset(&st, 0, sizeof st);
	if (n == 0 || n > INT32_MAX || !otas__utf8_valid(body, n))
		return OTAS__INGEST_BAD_JSON;
	sqlite3_bind_text(s, 1, body, (int)n, SQLITE_STATIC);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		int64_t parent = sqlite3_column_type(s, 1) == SQLITE_NULL
		                     ? -1 : sqlite3_column_int64(s, 1);
		const char *key, *type = (const char *)sqlite3_column_text(s, 3);
		if (root < 0) {
			root = id;
			if (!type || strcmp(type, "object")) {
				rc = OTAS__INGEST_BAD_BATCH;
				break;
			}
			continue;
		}
		if (parent == root) {
			key = (const char *)sqlite3_column_text(s, 2);
			if (key && !strcmp(key, "events")) {
				if (events_seen++) {
					rc = OTAS__INGEST_BAD_JSON; /* duplicate */
					break;
				}
				if (!type || strcmp(type, "array")) {
					rc = OTAS__INGEST_BAD_BATCH;
					break;
				}
				events = id;
			}
			continue;
		}
		if (events >= 0 && parent == events) {
			otas__event_t *ev;
			if (in_event)
				event_close(&st, NULL, NULL);
			in_event = 0;
			if (b->n == max_events) {
				rc = OTAS__INGEST_TOO_MANY;
				break;
			}
			if (b->n == cap) {
				cap = cap ? cap * 2 : 64;
				b->ev = realloc(b->ev, cap * sizeof *b->ev);
				if (!b->ev)
					abort();
			}
			ev = &b->ev[b->n++];
			memset(ev, 0, sizeof *ev);
			if (!type || strcmp(type, "object")) {
				ev->reject = "invalid_event";
				continue;
			}
			ev->doc = dup_text(s, 5);
			ev->doc_len = ev->doc ? strlen(ev->doc) : 0;
			state_begin(&st, ev, id);
			in_event = 1;
			continue;
		}
		if (!in_event)
			continue;
		if (parent == st.id)
			event_field(&st, s);
		else if (parent == st.meta_id)
			meta_field(&st, s);
	}
	if (rc == OTAS__INGEST_OK && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = root < 0 ? OTAS__INGEST_BAD_JSON : OTAS__INGEST_BAD_JSON;
	if (rc == OTAS__INGEST_OK && in_event)
		event_close(&st, NULL, NULL);
	if (rc == OTAS__INGEST_OK && events < 0)
		rc = root < 0 ? OTAS__INGEST_BAD_JSON : OTAS__INGEST_BAD_BATCH;
	free(st.meta_route);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != OTAS__INGEST_OK)
		otas__batch_free(b);
	return rc;
}

int
otas__event_parse(const char *body, size_t n, otas__event_t *ev,
                  json_t *missing, json_t *invalid)
{
	json_ctx_t *c = ctx_get();
	sqlite3_stmt *s = c->single;
	ev_state_t st;
	int rc = OTAS__INGEST_OK, step, first = 1;

	memset(ev, 0, sizeof *ev);
	memset(&st, 0, sizeof st);
	if (n == 0 || n > INT32_MAX || !otas__utf8_valid(body, n))
		return OTAS__INGEST_BAD_JSON;
	sqlite3_bind_text(s, 1, body, (int)n, SQLITE_STATIC);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t parent = sqlite3_column_type(s, 1) == SQLITE_NULL
		                     ? -1 : sqlite3_column_int64(s, 1);
		if (first) {
			const char *type = (const char *)sqlite3_column_text(s, 3);
			first = 0;
			if (!type || strcmp(type, "object")) {
				rc = OTAS__INGEST_BAD_JSON;
				break;
			}
			state_begin(&st, ev, sqlite3_column_int64(s, 0));
			ev->doc = dup_text(s, 5);
			ev->doc_len = ev->doc ? strlen(ev->doc) : 0;
			continue;
		}
		if (parent == st.id)
			event_field(&st, s);
		else if (parent == st.meta_id)
			meta_field(&st, s);
	}
	if (rc == OTAS__INGEST_OK && (first || (step != SQLITE_DONE)))
		rc = OTAS__INGEST_BAD_JSON;
	if (rc == OTAS__INGEST_OK && event_close(&st, missing, invalid) != 0)
		rc = 1;
	free(st.meta_route);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == OTAS__INGEST_BAD_JSON)
		otas__event_clear(ev);
	return rc;
}

int
otas__event_finish(otas__event_t *ev)
{
	json_ctx_t *c;
	int rc = -1;

	if (ev->reject || !ev->doc)
		return -1;
	if (ev->event_id[0] == '\0')
		otas__uuid_v7(ev->event_id);
	/* The token is a credential: forget it now, whatever happens. */
	if (ev->token) {
		memset(ev->token, 0, strlen(ev->token));
		free(ev->token);
		ev->token = NULL;
	}
	if (!ev->has_token_field)
		return 0;
	c = ctx_get();
	sqlite3_bind_text(c->strip, 1, ev->doc, (int)ev->doc_len, SQLITE_STATIC);
	if (sqlite3_step(c->strip) == SQLITE_ROW) {
		char *doc = dup_text(c->strip, 0);
		if (doc) {
			free(ev->doc);
			ev->doc = doc;
			ev->doc_len = strlen(doc);
			ev->has_token_field = 0;
			rc = 0;
		}
	}
	sqlite3_reset(c->strip);
	sqlite3_clear_bindings(c->strip);
	return rc;
}
