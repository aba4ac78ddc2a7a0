/*
 * ingest.h -- turn request bytes into validated events.
 *
 * This is the collector's only parser of untrusted input, and what the fuzz
 * target drives: gunzip with an output cap (a gzip bomb stops at the cap,
 * never inflated past it), the JSON decode of a single event or of a batch
 * `{"events":[...]}`, and the per-event check of the PROTOCOL.md fields.
 *
 * JSON is read by one pass of a strict RFC 8259 scanner of our own
 * (ingest.c has the design note): it validates the whole body, splits a
 * batch into events and reads only the fields the collector indexes, at
 * about 1 us per 1.2 KB event against 10.5 us for SQLite's json_tree and
 * 18.6 us for jansson parse + re-serialise (collector/README.md has the
 * measurements).  Bodies must be valid UTF-8.
 *
 * Events own copies of the strings they need.  The stored document is the
 * event's own JSON text as sent, without the `agent_session_token` member
 * (a credential: never stored): a copy of its own, or, decoded by
 * otas__batch_decode_lent, the text where it lies in the batch's body.  otas__event_finish() gives a missing
 * event_id a fresh UUIDv7 and wipes the token, on the handler's thread, so
 * the single writer thread only binds and steps.
 */
#ifndef OTAS_COLLECTOR_INGEST_H
#define OTAS_COLLECTOR_INGEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/utf8.h" /* otas__utf8_valid */

#define OTAS__EVENT_ID_MAX 128
#define OTAS__AGENT_ID_MAX 128

typedef struct {
	const char *reject;     /* NULL, or the status_description why not */
	char *path;             /* owned copies */
	char *method;
	char *route;            /* metadata.route, else path */
	char *token;            /* agent_session_token or NULL; not stored */
	long long status;
	double latency_ms;
	int is_error;           /* status >= 500 or a non-empty error */
	int64_t ts_us;          /* metadata.timestamp, 0 when absent/bad */
	char event_id[OTAS__EVENT_ID_MAX + 1];
	char agent_id[OTAS__AGENT_ID_MAX + 1];
	char agent_session_id[OTAS__AGENT_ID_MAX + 1];
	int agent_verified;
	char *doc;              /* JSON text stored for the event: malloc'd,
	                         * or lent (below) */
	size_t doc_len;
	/* doc lies in its batch's body (otas__batch_decode_lent), NUL-
	 * terminated there, and is freed with it, not on its own. */
	unsigned char doc_lent;
	int inserted;           /* set by the store: 1 new, 0 duplicate */
	/* metadata.user_id / company_id when a non-empty string or an
	 * integer (its text), else NULL; owned (the people rollups). */
	char *user_id, *company_id;
	/* metadata.tags (a string or a list; the last "tags" member, as
	 * jansson reads it): its distinct strings of at most
	 * OTAS__TAG_MAX_LEN bytes (each cut at a NUL, as the raw filter
	 * compares them), each NUL-terminated, back to back; n_tags of them.
	 * NULL when none; owned (the tag rollups). */
	char *tags;
	size_t n_tags;
	/* What json_extract(doc, '$.metadata.user_id') (who[0]) and
	 * '$.metadata.company_id' (who[1]) give, as the store binds them
	 * instead of extracting them from the stored text: OTAS__WHO_NULL
	 * (absent or null), _TEXT (user_id / company_id above), _INT (the
	 * integer whose text that is), or _DOC when only the extraction
	 * itself says (another type, an empty string, a key written twice
	 * or with escapes), which the store then runs for that event. */
	unsigned char who[2];
} otas__event_t;

/* Tags longer than this are not in the tag rollups (a filter on one
 * scans the events). */
#define OTAS__TAG_MAX_LEN 200

enum { OTAS__WHO_NULL, OTAS__WHO_TEXT, OTAS__WHO_INT, OTAS__WHO_DOC };

typedef struct {
	otas__event_t *ev;
	size_t n;
	char *body;             /* otas__batch_decode_lent's: owned */
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
/* The same for a zstd body (one or more frames): at most limit decoded
 * bytes.  OTAS__INGEST_OK, _BAD_GZIP (not valid zstd) or _TOO_LARGE. */
int otas__unzstd(const void *in, size_t n, size_t limit, otas__buf_t *out);
/* Bodies decoded per encoding since start (GET /api/v1/collector/stats). */
extern unsigned long otas__ingest_zstd_bodies, otas__ingest_gzip_bodies;

/* Decode a batch body.  On OK, b holds n events (each checked: rejected
 * ones carry ->reject); on error b is empty.  OK, _BAD_JSON (not JSON),
 * _BAD_BATCH (not an object with an "events" list), _TOO_MANY. */
int otas__batch_decode(const char *body, size_t n, size_t max_events,
                       otas__batch_t *b);
/* The same, without a copy of each document: takes body (malloc'd, at
 * least n bytes), which it frees on error and on OK gives to b, whose
 * events' documents then point into it (doc_lent; an event whose token
 * is cut out of its text still gets its own copy).  The ingest path's
 * decode: the copy and its malloc were ~3 % of the collector's CPU
 * under the engine's batches. */
int otas__batch_decode_lent(char *body, size_t n, size_t max_events,
                            otas__batch_t *b);
void otas__batch_free(otas__batch_t *b);

/* Decode a single event body.  OTAS__INGEST_OK when the event is valid,
 * _BAD_JSON when the body is not JSON or not an object, or 1 when it is
 * an object that fails the checks: ev->reject is "missing_required_fields",
 * "invalid_field_types" or "invalid_json_value" (valid JSON that readers
 * refuse: a lone surrogate escape, an integer outside int64, a number
 * that overflows a double, NUL in an object key), and the field names are
 * appended to missing / invalid (either may be NULL).  A batch's events
 * carry the same rejections, one by one. */
int otas__event_parse(const char *body, size_t n, otas__event_t *ev,
                      json_t *missing, json_t *invalid);

/* The searchable text of a stored document as SQLite's view events_text
 * computes it (store_sqlite.c SQ_SEARCH_TEXT): for each of the n names,
 * json_extract(doc, '$.name') of the top-level member, '' when absent or
 * null, cut at 4096 characters, then a newline; appended to out.  0, or
 * 1 when only SQLite's expression can say (a named member that is not a
 * string or null, or written twice; a top-level key with escapes, which
 * json_extract compares as written; a \u escape of a surrogate or of
 * NUL within the characters kept): the caller then runs the expression.
 * A string is read only as far as the characters kept.  The indexer's one parse of
 * the document instead of json_extract's one per field. */
int otas__search_text(const char *doc, size_t n, const char *const *names,
                      size_t n_names, otas__buf_t *out);

/* Prepare a valid event for storage (see the note above).  0, -1 on OOM. */
int otas__event_finish(otas__event_t *ev);
void otas__event_clear(otas__event_t *ev);

#endif
