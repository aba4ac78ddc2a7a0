/*
 * ingest.h -- turn request bytes into validated events.
 *
 * This is the collector's only parser of untrusted input, and what the fuzz
 * target drives: gunzip with an output cap (a gzip bomb stops at the cap,
 * never inflated past it), the JSON decode of a single event or of a batch
 * `{"events":[...]}`, and the per-event check of the PROTOCOL.md fields.
 *
 * Events keep a reference to their jansson object; the extracted strings
 * point into it, so they live as long as the event.  otas__event_finish()
 * drops `agent_session_token` (a credential: never stored), fills in the
 * event_id (UUIDv7 when absent) and serialises the stored document on the
 * handler's thread, so the single writer thread only binds and steps.
 */
#ifndef OTAS_COLLECTOR_INGEST_H
#define OTAS_COLLECTOR_INGEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define OTAS__EVENT_ID_MAX 128
#define OTAS__AGENT_ID_MAX 128

typedef struct {
	json_t *obj;            /* owned reference; NULL for a non-object */
	const char *reject;     /* NULL, or the status_description why not */
	const char *path;       /* the strings below point into obj */
	const char *method;
	const char *route;      /* metadata.route, else path */
	const char *token;      /* agent_session_token or NULL; not stored */
	long long status;
	double latency_ms;
	int is_error;           /* status >= 500 or a non-empty error */
	int64_t ts_us;          /* metadata.timestamp, 0 when absent/bad */
	char event_id[OTAS__EVENT_ID_MAX + 1];
	char agent_id[OTAS__AGENT_ID_MAX + 1];
	char agent_session_id[OTAS__AGENT_ID_MAX + 1];
	int agent_verified;
	char *doc;              /* malloc'd JSON stored for the event */
	size_t doc_len;
	int inserted;           /* set by the store: 1 new, 0 duplicate */
} otas__event_t;

typedef struct {
	json_t *root;
	otas__event_t *ev;
	size_t n;
} otas__batch_t;

enum {
	OTAS__INGEST_OK = 0,
	OTAS__INGEST_BAD_GZIP = -1,
	OTAS__INGEST_TOO_LARGE = -2,
	OTAS__INGEST_BAD_JSON = -3,
	OTAS__INGEST_BAD_BATCH = -4,
	OTAS__INGEST_TOO_MANY = -5,
};

/* Inflate gzip (or zlib) data into out, refusing to produce more than limit
 * bytes.  OTAS__INGEST_OK, _BAD_GZIP or _TOO_LARGE. */
int otas__gunzip(const void *in, size_t n, size_t limit, otas__buf_t *out);

/* Decode a batch body.  On OK, b holds n events (each checked: rejected
 * ones carry ->reject); on error b is empty.  OK, _BAD_JSON (not JSON),
 * _BAD_BATCH (not an object with an "events" list), _TOO_MANY. */
int otas__batch_decode(const char *body, size_t n, size_t max_events,
                       otas__batch_t *b);
void otas__batch_free(otas__batch_t *b);

/* Check one event object (a borrowed reference; the event takes its own).
 * With missing != NULL, the names of absent required fields are appended
 * to it (the single endpoint reports them).  Returns 0 when valid, else -1
 * with ev->reject set to "missing_required_fields" or "invalid_field_types"
 * ("invalid_event" for a non-object). */
int otas__event_decode(json_t *obj, otas__event_t *ev, json_t *missing,
                       json_t *invalid);

/* Prepare a valid event for storage (see the note above).  0, -1 on OOM. */
int otas__event_finish(otas__event_t *ev);
void otas__event_clear(otas__event_t *ev);

#endif
