/*
 * fuzz_collector_ingest.c -- the collector's request decoding on arbitrary
 * bytes: the first byte picks the path (gzip or plain body, batch or single
 * event), the rest is the body.  Runs what do_batch/do_log run before the
 * store: gunzip with a cap, batch/event decode and checks, agent token
 * peek, and the stored document's serialisation.
 *
 * The decoder is our own JSON scanner, so the target also checks it
 * against an independent validator (json_check.h): a body is invalid_json
 * exactly when it is not JSON, and every stored document is a JSON object
 * without an agent_session_token string; an accepted event's path and
 * method are the strings jansson reads.
 */
#include "ingest.h"
#include "jwt.h"
#include "json_check.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The scanner's nesting cap (ingest.c). */
#define MAX_DEPTH 2000

/* The first byte after JSON whitespace, or 0. */
static int
first_byte(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
	                 s[i] == '\n'))
		i++;
	return i < n ? (unsigned char)s[i] : 0;
}

static void
check_doc(const otas__event_t *ev)
{
	json_t *doc, *tok;

	if (!ev->doc || ev->doc[0] != '{' ||
	    strlen(ev->doc) > ev->doc_len ||
	    !json_check(ev->doc, ev->doc_len, MAX_DEPTH))
		abort();
	doc = json_loadb(ev->doc, ev->doc_len, JSON_ALLOW_NUL, NULL);
	if (!doc)
		abort();
	tok = json_object_get(doc, "agent_session_token");
	if (tok && json_is_string(tok))
		abort(); /* a credential left in what is stored */
	json_decref(doc);
}

static void
finish_all(otas__event_t *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *claims;
		if (ev[i].reject)
			continue;
		if (ev[i].token) {
			claims = otas__jwt_peek(ev[i].token);
			otas__jwt_claim_str(claims, "agent_id", ev[i].agent_id,
			                    sizeof ev[i].agent_id);
			json_decref(claims);
			otas__jwt_verify(ev[i].token, (const unsigned char *)"k", 1,
			                 0, &claims);
			json_decref(claims);
		}
		if (otas__event_finish(&ev[i]) == 0)
			check_doc(&ev[i]);
	}
}

/* An accepted event's strings are what jansson reads from the same
 * body: the scanner's escapes (two-byte ones taken from a 16-byte
 * block's mask, \u, surrogate pairs) decode as JSON says.  path and
 * method only: a duplicate of either rejects the event, so there is one
 * value to compare. */
static void
check_strings(const char *body, size_t len, const otas__event_t *ev)
{
	static const char *const names[] = {"path", "method"};
	json_t *o = json_loadb(body, len, JSON_ALLOW_NUL, NULL);

	if (!o)
		return; /* the independent check above covers validity */
	for (size_t i = 0; i < 2; i++) {
		const char *mine = i ? ev->method : ev->path;
		json_t *v = json_object_get(o, names[i]);
		if (!json_is_string(v))
			continue;
		if (!mine || strlen(mine) != json_string_length(v) ||
		    memcmp(mine, json_string_value(v), json_string_length(v)) != 0)
			abort();
	}
	json_decref(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	otas__buf_t inflated = OTAS__BUF_INIT;
	const char *body;
	size_t len;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	body = (const char *)data + 1;
	len = size - 1;
	if (mode & 1) {
		/* A small cap so the too-large path is reached. */
		if (otas__gunzip(body, len, 1 << 16, &inflated) != OTAS__INGEST_OK)
			goto done;
		body = inflated.data ? inflated.data : "";
		len = inflated.len;
	}
	if (mode & 2) {
		json_t *missing = json_array(), *invalid = json_array();
		otas__event_t ev;
		int rc = otas__event_parse(body, len, &ev, missing, invalid);
		if (otas__utf8_valid(body, len) &&
		    (rc == OTAS__INGEST_BAD_JSON) !=
		        (!json_check(body, len, MAX_DEPTH) ||
		         first_byte(body, len) != '{'))
			abort();
		if (rc == 0 && !ev.reject)
			check_strings(body, len, &ev);
		if (rc >= 0) {
			finish_all(&ev, 1);
			otas__event_clear(&ev);
		}
		json_decref(missing);
		json_decref(invalid);
	} else {
		otas__batch_t b;
		int rc = otas__batch_decode(body, len, 64, &b);
		if (otas__utf8_valid(body, len) &&
		    (rc == OTAS__INGEST_BAD_JSON) !=
		        !json_check(body, len, MAX_DEPTH))
			abort();
		/* The ingest path's decode (documents left in the body)
		 * gives the same result and the same stored texts. */
		{
			otas__batch_t l;
			char *own = malloc(len + 1);
			int rl;
			if (!own)
				abort();
			memcpy(own, body, len);
			own[len] = '\0';
			rl = otas__batch_decode_lent(own, len, 64, &l);
			if (rl != rc || (rc == OTAS__INGEST_OK && l.n != b.n))
				abort();
			for (size_t i = 0; rc == OTAS__INGEST_OK && i < b.n; i++)
				if ((b.ev[i].reject == NULL) != (l.ev[i].reject == NULL) ||
				    (b.ev[i].doc == NULL) != (l.ev[i].doc == NULL) ||
				    (b.ev[i].doc &&
				     (b.ev[i].doc_len != l.ev[i].doc_len ||
				      memcmp(b.ev[i].doc, l.ev[i].doc, b.ev[i].doc_len) ||
				      l.ev[i].doc[l.ev[i].doc_len] != '\0')))
					abort();
			if (rl == OTAS__INGEST_OK)
				otas__batch_free(&l);
		}
		if (rc == OTAS__INGEST_OK) {
			finish_all(b.ev, b.n);
			otas__batch_free(&b);
		}
	}
done:
	otas__buf_free(&inflated);
	return 0;
}
