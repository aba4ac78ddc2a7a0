/*
 * event.h -- one record to the JSON event object of PROTOCOL.md (section 2
 * plus agent_session_token and event_id of section 3).  Runs on the sender
 * thread: here, not at capture, happen header normalisation, redaction,
 * gzip decoding, body caps and escaping.
 *
 * The stage's state is its own context, otas__event_ctx_t: the redaction
 * names and rules, the identity options and the limits, derived once from
 * the configuration by otas__event_ctx_new() (the engine does it at
 * otas_engine_new()) and immutable after, so any thread may serialise with
 * it without a lock.  Nothing here knows the engine: the OTAS_DEBUG line
 * goes to the sink the context was given.
 */
#ifndef OTAS_EVENT_H
#define OTAS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "capture/capture.h"
#include "common/buf.h"
#include "config.h"
#include "event/identity.h"
#include "event/redact_body.h"

/* The object begins with this prefix followed by the project id string,
 * so that events serialised before authentication (project id unknown,
 * written as "") can be patched when sent. */
#define OTAS__EVENT_PREFIX "{\"project_id\":"

/* OTAS_DEBUG: called with one line head and the event as written; token
 * is the agent session token, which the sink must not show. */
typedef void (*otas__event_debug_fn)(void *ud, const char *head,
                                     const char *json, size_t n,
                                     const char *token, size_t token_len);

/* Header names redacted by configuration, normalised once (lower case,
 * '_' as '-', no CGI "http-" prefix): compared by length, then bytes. */
typedef struct {
	const char *s;
	size_t n;
} otas__hdrname_t;

typedef struct otas__event_ctx_s {
	/* OTAS_SENSITIVE_HEADERS (both directions), then
	 * OTAS_REQUEST_HEADER_MASKS / OTAS_RESPONSE_HEADER_MASKS (one). */
	otas__hdrname_t *hdr[3];
	size_t n_hdr[3];
	/* Query, form and JSON names and header names:
	 * OTAS_SENSITIVE_QUERY_PARAMS, OTAS_REDACT_NAMES and the defaults. */
	otas__nameset_t params;
	otas__jsonpath_set_t *req_rules, *resp_rules;
	otas__ident_t *ident;
	char sdk_name[96];
	/* Limits and switches. */
	size_t max_body_bytes;
	int capture_bodies;
	int debug;
	otas__event_debug_fn debug_fn; /* NULL: no debug line */
	void *debug_ud;
	/* Storage behind the fields above. */
	char **names_store;
	char *hdr_store;
	/* Unique per context, never 0: what per-thread memos of answers
	 * derived from this configuration key on (headers.c). */
	uint64_t id;
} otas__event_ctx_t;

/* Build the context from cfg (read only; not kept).  sdk_name is the
 * event's metadata.sdk.  Returns NULL with err set (an invalid JSONPath
 * rule is named with its option) or on out of memory. */
otas__event_ctx_t *otas__event_ctx_new(const otas_config_t *cfg,
                                       const char *sdk_name, char *err,
                                       size_t errlen);
void otas__event_ctx_free(otas__event_ctx_t *ctx);

/* Append the event object for r to out.  *token and *token_len receive the
 * agent session token (pointing into r; NULL/0 when absent).  Returns 0,
 * or -1 when out of memory (out then in an undefined state). */
int otas__event_write(const otas__event_ctx_t *ctx, const char *project_id,
                      const struct otas__record_s *r, otas__buf_t *out,
                      const char **token, size_t *token_len);

/* The serialiser's working buffers, kept by a caller that writes many
 * events (the sender) so they are allocated once, not per event.  Zero
 * (OTAS__BUF_INIT each) to start; otas__event_scratch_free() at the end. */
typedef struct {
	otas__buf_t doc, name, t1, t2, hq, hr;
} otas__event_scratch_t;

/* otas__event_write() with the working buffers of sc. */
int otas__event_write_with(const otas__event_ctx_t *ctx,
                           const char *project_id,
                           const struct otas__record_s *r, otas__buf_t *out,
                           otas__event_scratch_t *sc, const char **token,
                           size_t *token_len);
void otas__event_scratch_free(otas__event_scratch_t *sc);

#endif
