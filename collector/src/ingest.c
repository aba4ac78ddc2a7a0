/*
 * ingest.c -- gunzip with a cap, batch and event decoding (ingest.h).
 *
 * Nothing here trusts its input: every size is checked before a buffer
 * grows, a field of the wrong type rejects the event, not the batch, and
 * jansson is told to refuse duplicate keys' ambiguity by keeping the last
 * (its default) -- what matters is that the stored document is what we
 * validated, which holds because we store our own re-serialisation.
 */
#include "ingest.h"
#include "util.h"

#include <math.h>
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

void
otas__event_clear(otas__event_t *ev)
{
	json_decref(ev->obj);
	free(ev->doc);
	memset(ev, 0, sizeof *ev);
}

void
otas__batch_free(otas__batch_t *b)
{
	for (size_t i = 0; i < b->n; i++)
		otas__event_clear(&b->ev[i]);
	free(b->ev);
	json_decref(b->root);
	memset(b, 0, sizeof *b);
}

int
otas__batch_decode(const char *body, size_t n, size_t max_events,
                   otas__batch_t *b)
{
	json_t *events;
	size_t count;

	memset(b, 0, sizeof *b);
	b->root = json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL);
	if (!b->root)
		return OTAS__INGEST_BAD_JSON;
	events = json_object_get(b->root, "events");
	if (!json_is_object(b->root) || !json_is_array(events)) {
		otas__batch_free(b);
		return OTAS__INGEST_BAD_BATCH;
	}
	count = json_array_size(events);
	if (count > max_events) {
		otas__batch_free(b);
		return OTAS__INGEST_TOO_MANY;
	}
	if (count > 0) {
		b->ev = calloc(count, sizeof *b->ev);
		if (!b->ev)
			abort();
	}
	b->n = count;
	for (size_t i = 0; i < count; i++)
		otas__event_decode(json_array_get(events, i), &b->ev[i], NULL,
		                   NULL);
	return OTAS__INGEST_OK;
}

static const char *const required[] = {"project_id", "path", "method",
                                       "status_code", "latency_ms"};
static const char *const string_fields[] = {
    "request_headers", "response_headers", "request_body", "response_body",
    "query_params", "post_data", "request_content_type",
    "response_content_type", "error", "agent_session_token"};

static void
note(json_t *list, const char *name)
{
	if (list)
		json_array_append_new(list, json_string(name));
}

int
otas__event_decode(json_t *obj, otas__event_t *ev, json_t *missing,
                   json_t *invalid)
{
	json_t *v, *meta;
	int n_missing = 0, n_invalid = 0;

	memset(ev, 0, sizeof *ev);
	if (!json_is_object(obj)) {
		ev->reject = "invalid_event";
		return -1;
	}
	ev->obj = json_incref(obj);
	for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
		v = json_object_get(obj, required[i]);
		if (!v || json_is_null(v)) {
			note(missing, required[i]);
			n_missing++;
		}
	}
	v = json_object_get(obj, "project_id");
	if (v && !json_is_null(v) && !json_is_string(v) && !json_is_integer(v)) {
		note(invalid, "project_id");
		n_invalid++;
	}
	v = json_object_get(obj, "path");
	if (json_is_string(v))
		ev->path = json_string_value(v);
	else if (v && !json_is_null(v)) {
		note(invalid, "path");
		n_invalid++;
	}
	v = json_object_get(obj, "method");
	if (json_is_string(v))
		ev->method = json_string_value(v);
	else if (v && !json_is_null(v)) {
		note(invalid, "method");
		n_invalid++;
	}
	v = json_object_get(obj, "status_code");
	if (json_is_integer(v))
		ev->status = json_integer_value(v);
	else if (v && !json_is_null(v)) {
		note(invalid, "status_code");
		n_invalid++;
	}
	v = json_object_get(obj, "latency_ms");
	if (json_is_number(v) && isfinite(json_number_value(v)))
		ev->latency_ms = json_number_value(v);
	else if (v && !json_is_null(v)) {
		note(invalid, "latency_ms");
		n_invalid++;
	}
	for (size_t i = 0; i < 2; i++) {
		const char *name = i ? "response_size_bytes" : "request_size_bytes";
		v = json_object_get(obj, name);
		if (v && !json_is_null(v) &&
		    !(json_is_integer(v) && json_integer_value(v) >= 0)) {
			note(invalid, name);
			n_invalid++;
		}
	}
	for (size_t i = 0; i < sizeof string_fields / sizeof *string_fields; i++) {
		v = json_object_get(obj, string_fields[i]);
		if (v && !json_is_null(v) && !json_is_string(v)) {
			note(invalid, string_fields[i]);
			n_invalid++;
		}
	}
	v = json_object_get(obj, "custom_properties");
	if (v && !json_is_null(v) && !json_is_object(v)) {
		note(invalid, "custom_properties");
		n_invalid++;
	}
	meta = json_object_get(obj, "metadata");
	if (meta && !json_is_null(meta) && !json_is_object(meta)) {
		note(invalid, "metadata");
		n_invalid++;
		meta = NULL;
	}
	/* event_id: top level first, then metadata.event_id. */
	v = json_object_get(obj, "event_id");
	if (!v || json_is_null(v))
		v = json_object_get(meta, "event_id");
	if (v && !json_is_null(v)) {
		if (json_is_string(v) && json_string_length(v) > 0 &&
		    json_string_length(v) <= OTAS__EVENT_ID_MAX &&
		    strlen(json_string_value(v)) == json_string_length(v))
			memcpy(ev->event_id, json_string_value(v),
			       json_string_length(v) + 1);
		else {
			note(invalid, "event_id");
			n_invalid++;
		}
	}
	v = json_object_get(meta, "route");
	ev->route = json_is_string(v) && json_string_length(v) > 0
	                ? json_string_value(v) : ev->path;
	v = json_object_get(meta, "timestamp");
	if (!json_is_string(v) ||
	    otas__parse_time(json_string_value(v), &ev->ts_us) != 0)
		ev->ts_us = 0;
	v = json_object_get(obj, "error");
	ev->is_error = ev->status >= 500 ||
	               (json_is_string(v) && json_string_length(v) > 0);
	v = json_object_get(obj, "agent_session_token");
	ev->token = json_is_string(v) && json_string_length(v) > 0
	                ? json_string_value(v) : NULL;
	if (n_missing) {
		ev->reject = "missing_required_fields";
		return -1;
	}
	if (n_invalid) {
		ev->reject = "invalid_field_types";
		return -1;
	}
	return 0;
}

int
otas__event_finish(otas__event_t *ev)
{
	json_t *o = ev->obj;

	if (!o || ev->reject)
		return -1;
	json_object_del(o, "agent_session_token");
	if (ev->event_id[0] == '\0')
		otas__uuid_v7(ev->event_id);
	/* The strings the event points to stay alive: deleting another key
	 * does not touch them, and event_id is our own copy. */
	if (json_object_set_new(o, "event_id", json_string(ev->event_id)) != 0)
		return -1;
	/* Re-read the borrowed pointers: set_new on "event_id" does not move
	 * other values, but be explicit that nothing else changed. */
	free(ev->doc);
	ev->doc = json_dumps(o, JSON_COMPACT);
	if (!ev->doc)
		return -1;
	ev->doc_len = strlen(ev->doc);
	return 0;
}
